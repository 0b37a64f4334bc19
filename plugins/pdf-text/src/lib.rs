//! `pdf-text`: a PDF processor plugin. Parses PDFs in pure Rust (objects read
//! on demand, `extract::doc`; lopdf for filters and encrypted or broken files):
//! document info (page count, title, author, producer) and page text, laid
//! out the way poppler's pdftotext lays it out (`extract`, docs/pdf.md).
//! Broken input is reported as `invalid-input`, never a trap.
//!
//! With the feature `contract-0-2` (on by default) it implements contract
//! 0.2.0 and also exports `extract-pages`: the document is opened once and the
//! pages are extracted one per `next` call, each reading only what it needs. `tests/plugins/pdf-text-v1` builds
//! this same file without the feature, as a contract 0.1.0 component.

use hostel_sdk::pdf::{DocumentInfo, Guest, PageText};
use hostel_sdk::{log, PluginError};
use extract::Doc;
use lopdf::{Object, ObjectId};

struct PdfText;

mod extract;

fn load(document: Vec<u8>) -> Result<Doc, PluginError> {
    if document.is_empty() {
        return Err(PluginError::invalid_input("the document is empty (0 bytes)"));
    }
    if !document.starts_with(b"%PDF-") {
        return Err(PluginError::invalid_input("not a PDF: the data does not start with %PDF-"));
    }
    Doc::open(document).map_err(|e| PluginError::invalid_input(e.to_string()))
}

/// Reads a text entry of the /Info dictionary, if present and decodable.
fn info_entry(doc: &Doc, key: &[u8]) -> Option<String> {
    let info = doc.deref(doc.trailer.get(b"Info").ok()?)?.as_dict().ok()?;
    let value: &Object = doc.deref(info.get(key).ok()?)?;
    let text = lopdf::decode_text_string(value).ok()?;
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
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

/// The text of one page, laid out (see `extract`).
fn page_text(doc: &Doc, page: u32, id: ObjectId, fonts: &mut extract::Fonts) -> Result<PageText, PluginError> {
    let text = extract::page_text(doc, id, fonts).map_err(|e| PluginError::invalid_input(format!("page {page}: {e}")))?;
    Ok(PageText { page, text: text.trim_end().to_string() })
}

impl Guest for PdfText {
    fn info(document: Vec<u8>) -> Result<DocumentInfo, PluginError> {
        let doc = load(document)?;
        Ok(DocumentInfo {
            page_count: doc.page_count(),
            title: info_entry(&doc, b"Title"),
            author: info_entry(&doc, b"Author"),
            producer: info_entry(&doc, b"Producer"),
            version: doc.version.clone(),
        })
    }

    fn extract_text(document: Vec<u8>, first: u32, last: Option<u32>) -> Result<Vec<PageText>, PluginError> {
        let doc = load(document)?;
        let count = doc.page_count();
        let last = page_range(first, last, count)?;
        let how = if doc.on_demand() { "objects on demand" } else { "loaded in full by lopdf" };
        log::debug(&format!("extracting pages {first}..={last} of {count} ({how})"));
        let mut fonts = extract::Fonts::default();
        // A page tree with fewer pages than its /Count ends at its last page.
        let ids = (first..=last).map_while(|page| Some((page, doc.page(page as usize - 1)?)));
        let pages: Vec<PageText> = ids.map(|(page, id)| page_text(&doc, page, id, &mut fonts)).collect::<Result<_, _>>()?;
        if pages.is_empty() {
            return Err(PluginError::invalid_input(format!("page {first} is not in the document's page tree")));
        }
        Ok(pages)
    }

    #[cfg(feature = "contract-0-2")]
    type PageStream = Pages;

    #[cfg(feature = "contract-0-2")]
    fn extract_pages(document: Vec<u8>, first: u32, last: Option<u32>) -> Result<PageStream, PluginError> {
        // The document's bytes move into `Doc`: objects are parsed from them on demand.
        let doc = load(document)?;
        let count = doc.page_count();
        let last = page_range(first, last, count)?;
        log::debug(&format!("streaming pages {first}..={last} of {count}"));
        Ok(PageStream::new(Pages { open: RefCell::new(Some(Open { doc, fonts: extract::Fonts::default(), next: first, last })) }))
    }
}

#[cfg(feature = "contract-0-2")]
use hostel_sdk::pdf::{GuestPageStream, PageStream};
#[cfg(feature = "contract-0-2")]
use std::cell::RefCell;

/// The page stream of `extract-pages`: the open document, and the pages
/// still to hand out. Dropped (document and all) after the last page.
#[cfg(feature = "contract-0-2")]
struct Pages {
    open: RefCell<Option<Open>>,
}

#[cfg(feature = "contract-0-2")]
struct Open {
    doc: Doc,
    fonts: extract::Fonts,
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
        let Some(page_id) = state.doc.page(page as usize - 1) else {
            *open = None; // the page tree ends before its /Count
            return Ok(None);
        };
        page_text(&state.doc, page, page_id, &mut state.fonts).map(Some)
    }
}

hostel_sdk::export_pdf_processor!(PdfText);
