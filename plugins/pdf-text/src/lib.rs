//! `pdf-text`: a PDF processor plugin. Parses PDFs in pure Rust with lopdf:
//! document info (page count, title, author, producer) and page text.
//! Broken input is reported as `invalid-input`, never a trap.

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
        let last = last.unwrap_or(count);
        if first == 0 || first > last || last > count {
            return Err(PluginError::invalid_input(format!(
                "page range {first}..={last} is outside the document's pages 1..={count}"
            )));
        }
        log::debug(&format!("extracting pages {first}..={last} of {count}"));
        for page in first..=last {
            mark_line_breaks(&mut doc, pages[&page])?;
        }
        (first..=last)
            .map(|page| {
                let text = doc
                    .extract_text_with_limit(&[page], MAX_PAGE_CONTENT)
                    .map_err(|e| PluginError::invalid_input(format!("page {page}: {e}")))?;
                Ok(PageText { page, text: text.trim_end().to_string() })
            })
            .collect()
    }
}

hostel_sdk::export_pdf_processor!(PdfText);
