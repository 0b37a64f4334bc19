//! `pdf-text`: a PDF processor plugin. Parses PDFs in pure Rust with lopdf:
//! document info (page count, title, author, producer) and page text.
//! Broken input is reported as `invalid-input`, never a trap.
//!
//! With the feature `contract-0-2` (on by default) it implements contract
//! 0.2.0 and also exports `extract-pages`: the document is parsed once and the
//! pages are extracted one per `next` call. `tests/plugins/pdf-text-v1` builds
//! this same file without the feature, as a contract 0.1.0 component.

use hostel_sdk::pdf::{DocumentInfo, Guest, PageText};
use hostel_sdk::{log, PluginError};
use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, ObjectId};

struct PdfText;

/// Largest decompressed content per page we accept, so a zip-bomb page fails cleanly.
const MAX_PAGE_CONTENT: usize = 64 * 1024 * 1024;

fn load(document: &[u8]) -> Result<Document, PluginError> {
    if document.is_empty() {
        return Err(PluginError::invalid_input("the document is empty (0 bytes)"));
    }
    if !document.starts_with(b"%PDF-") {
        return Err(PluginError::invalid_input("not a PDF: the data does not start with %PDF-"));
    }
    let doc = Document::load_mem(document)
        .map_err(|e| PluginError::invalid_input(format!("broken PDF: {e}")))?;
    if doc.is_encrypted() {
        return Err(PluginError::invalid_input("encrypted PDFs are not supported"));
    }
    Ok(doc)
}

/// Reads a text entry of the /Info dictionary, if present and decodable.
fn info_entry(doc: &Document, key: &[u8]) -> Option<String> {
    let info = match doc.trailer.get(b"Info").ok()? {
        Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        Object::Dictionary(d) => d,
        _ => return None,
    };
    let value = match info.get(key).ok()? {
        Object::Reference(id) => doc.get_object(*id).ok()?,
        other => other,
    };
    let text = lopdf::decode_text_string(value).ok()?;
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn number(o: Option<&Object>) -> Option<f32> {
    match o? {
        Object::Integer(i) => Some(*i as f32),
        Object::Real(r) => Some(*r),
        _ => None,
    }
}

/// lopdf's extractor breaks lines only at `T*`, `'`, `"` and `ET`; most
/// producers move to the next line with `Td`/`TD`/`Tm` instead, which would glue
/// the last word of a line to the first of the next. Insert a `T*` before
/// every vertical move so lines stay apart.
fn mark_line_breaks(doc: &mut Document, page_id: ObjectId) -> Result<(), PluginError> {
    let bytes = doc
        .get_page_content_with_limit(page_id, MAX_PAGE_CONTENT)
        .map_err(|e| PluginError::invalid_input(format!("page content: {e}")))?;
    let content = Content::decode(&bytes).map_err(|e| PluginError::invalid_input(format!("page content: {e}")))?;
    let mut operations = Vec::with_capacity(content.operations.len() + 16);
    let mut line_y: Option<f32> = None;
    for op in content.operations {
        let moves_down = match op.operator.as_str() {
            "Td" | "TD" => number(op.operands.get(1)).is_some_and(|ty| ty.abs() > 0.01),
            "Tm" => {
                let y = number(op.operands.get(5));
                let moved = matches!((line_y, y), (Some(a), Some(b)) if (a - b).abs() > 0.01);
                line_y = y;
                moved
            }
            _ => false,
        };
        if moves_down {
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(op);
    }
    let encoded = Content { operations }.encode().map_err(|e| PluginError::internal(format!("re-encode: {e}")))?;
    doc.change_page_content(page_id, encoded).map_err(|e| PluginError::internal(format!("page content: {e}")))
}

/// Checks `first..=last` (`last` defaulting to the final page) against a
/// document of `count` pages and returns the last page.
fn page_range(first: u32, last: Option<u32>, count: u32) -> Result<u32, PluginError> {
    let last = last.unwrap_or(count);
    if first == 0 || first > last || last > count {
        return Err(PluginError::invalid_input(format!(
            "page range {first}..={last} is outside the document's pages 1..={count}"
        )));
    }
    Ok(last)
}

/// The text of one page whose line breaks are already marked.
fn page_text(doc: &Document, page: u32) -> Result<PageText, PluginError> {
    let text = doc
        .extract_text_with_limit(&[page], MAX_PAGE_CONTENT)
        .map_err(|e| PluginError::invalid_input(format!("page {page}: {e}")))?;
    Ok(PageText { page, text: text.trim_end().to_string() })
}

impl Guest for PdfText {
    fn info(document: Vec<u8>) -> Result<DocumentInfo, PluginError> {
        let doc = load(&document)?;
        Ok(DocumentInfo {
            page_count: doc.get_pages().len() as u32,
            title: info_entry(&doc, b"Title"),
            author: info_entry(&doc, b"Author"),
            producer: info_entry(&doc, b"Producer"),
            version: doc.version.clone(),
        })
    }

    fn extract_text(document: Vec<u8>, first: u32, last: Option<u32>) -> Result<Vec<PageText>, PluginError> {
        let mut doc = load(&document)?;
        let pages = doc.get_pages();
        let count = pages.len() as u32;
        let last = page_range(first, last, count)?;
        log::debug(&format!("extracting pages {first}..={last} of {count}"));
        for page in first..=last {
            mark_line_breaks(&mut doc, pages[&page])?;
        }
        (first..=last).map(|page| page_text(&doc, page)).collect()
    }

    #[cfg(feature = "contract-0-2")]
    type PageStream = Pages;

    #[cfg(feature = "contract-0-2")]
    fn extract_pages(document: Vec<u8>, first: u32, last: Option<u32>) -> Result<PageStream, PluginError> {
        let doc = load(&document)?;
        drop(document); // from here on: the parsed document and one page at a time
        let pages = doc.get_pages();
        let count = pages.len() as u32;
        let last = page_range(first, last, count)?;
        log::debug(&format!("streaming pages {first}..={last} of {count}"));
        Ok(PageStream::new(Pages { open: RefCell::new(Some(Open { doc, pages, next: first, last })) }))
    }
}

#[cfg(feature = "contract-0-2")]
use hostel_sdk::pdf::{GuestPageStream, PageStream};
#[cfg(feature = "contract-0-2")]
use std::{cell::RefCell, collections::BTreeMap};

/// The page stream of `extract-pages`: the parsed document, and the pages
/// still to hand out. Dropped (document and all) after the last page.
#[cfg(feature = "contract-0-2")]
struct Pages {
    open: RefCell<Option<Open>>,
}

#[cfg(feature = "contract-0-2")]
struct Open {
    doc: Document,
    pages: BTreeMap<u32, ObjectId>,
    next: u32,
    last: u32,
}

#[cfg(feature = "contract-0-2")]
impl GuestPageStream for Pages {
    /// Extracts the next page. A page that fails gives its error and the
    /// stream moves on, so a later `next` reads the page after it.
    fn next(&self) -> Result<Option<PageText>, PluginError> {
        let mut open = self.open.borrow_mut();
        let Some(state) = open.as_mut() else { return Ok(None) };
        if state.next > state.last {
            *open = None;
            return Ok(None);
        }
        let page = state.next;
        state.next += 1;
        let page_id = state.pages[&page];
        // Mark this page's line breaks as extract-text does, then put its
        // original content back, so the document does not grow page by page.
        let saved = SavedContent::take(&state.doc, page_id);
        let text = mark_line_breaks(&mut state.doc, page_id).and_then(|()| page_text(&state.doc, page));
        saved.restore(&mut state.doc, page_id);
        text.map(Some)
    }
}

/// A page's content as loaded: its `/Contents` entry and content streams.
#[cfg(feature = "contract-0-2")]
struct SavedContent {
    contents: Option<Object>,
    streams: Vec<(ObjectId, Object)>,
    max_id: u32,
}

#[cfg(feature = "contract-0-2")]
impl SavedContent {
    fn take(doc: &Document, page_id: ObjectId) -> Self {
        let contents = doc.get_dictionary(page_id).ok().and_then(|page| page.get(b"Contents").ok()).cloned();
        let streams = doc
            .get_page_contents(page_id)
            .into_iter()
            .filter_map(|id| doc.objects.get(&id).map(|o| (id, o.clone())))
            .collect();
        SavedContent { contents, streams, max_id: doc.max_id }
    }

    fn restore(self, doc: &mut Document, page_id: ObjectId) {
        // change_page_content replaces a page's streams in place or, for a page
        // of several streams, adds one new stream and points /Contents at it.
        for added in self.max_id + 1..=doc.max_id {
            doc.objects.remove(&(added, 0));
        }
        doc.max_id = self.max_id;
        for (id, object) in self.streams {
            doc.objects.insert(id, object);
        }
        if let Ok(Object::Dictionary(page)) = doc.get_object_mut(page_id) {
            match self.contents {
                Some(contents) => page.set("Contents", contents),
                None => {
                    page.remove(b"Contents");
                }
            }
        }
    }
}

hostel_sdk::export_pdf_processor!(PdfText);
