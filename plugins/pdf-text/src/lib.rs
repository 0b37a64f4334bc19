//! `pdf-text`: a PDF processor plugin. Parses PDFs in pure Rust with lopdf:
//! document info (page count, title, author, producer) and page text.
//! Broken input is reported as `invalid-input`, never a trap.

use hostel_sdk::pdf::{DocumentInfo, Guest, PageText};
use hostel_sdk::{log, PluginError};
use lopdf::{Document, Object};

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
        let doc = load(&document)?;
        let count = doc.get_pages().len() as u32;
        let last = last.unwrap_or(count);
        if first == 0 || first > last || last > count {
            return Err(PluginError::invalid_input(format!(
                "page range {first}..={last} is outside the document's pages 1..={count}"
            )));
        }
        log::debug(&format!("extracting pages {first}..={last} of {count}"));
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
