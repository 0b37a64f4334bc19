//! `{{name}}`: a Hostel PDF processor. Parses PDFs in pure Rust with lopdf:
//! document info (page count, title, author, producer, version) and the text
//! of a page range. A broken PDF is `invalid-input`, never a trap.

use hostel_sdk::pdf::{DocumentInfo, Guest, PageText};
use hostel_sdk::{config, log, PluginError};
use lopdf::{Document, Object};

struct Plugin;

/// Largest decompressed content of one page, so a zip-bomb page fails cleanly.
const MAX_PAGE_CONTENT: usize = 64 * 1024 * 1024;

fn load(document: &[u8]) -> Result<Document, PluginError> {
    if !document.starts_with(b"%PDF-") {
        return Err(PluginError::invalid_input("not a PDF: the data does not start with %PDF-"));
    }
    let doc = Document::load_mem(document).map_err(|e| PluginError::invalid_input(format!("broken PDF: {e}")))?;
    if doc.is_encrypted() {
        return Err(PluginError::invalid_input("encrypted PDFs are not supported"));
    }
    Ok(doc)
}

/// A text entry of the document information dictionary (`/Title`, `/Author`, ...).
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
    let text = lopdf::decode_text_string(value).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

impl Guest for Plugin {
    fn info(document: Vec<u8>) -> Result<DocumentInfo, PluginError> {
        let doc = load(&document)?;
        // `[config] untitled` of hostel.toml: the title of a PDF that has none.
        let title = info_entry(&doc, b"Title").or_else(|| config::get("untitled"));
        Ok(DocumentInfo {
            page_count: doc.get_pages().len() as u32,
            title,
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

hostel_sdk::export_pdf_processor!(Plugin);
