//! Typed calls into `pdf-processor` plugins.

use super::Lease;
use crate::bindings::pdf::exports::hostel::plugin::pdf::{DocumentInfo, PageText};
use crate::error::Result;
use crate::host::Host;
use crate::instance::Exports;
use crate::plugin::Kind;

impl Host {
    /// Document-level facts of a PDF.
    pub async fn pdf_info(&self, plugin: &str, document: &[u8]) -> Result<DocumentInfo> {
        self.memo(plugin, "info", &[document], self.pdf_info_call(plugin, document)).await
    }

    async fn pdf_info_call(&self, plugin: &str, document: &[u8]) -> Result<DocumentInfo> {
        let mut lease = self.acquire(plugin, Kind::PdfProcessor, "info").await?;
        let outcome = {
            let Lease { instance, .. } = &mut lease;
            let Exports::Pdf(exports) = &instance.exports else { unreachable!("kind checked in acquire") };
            exports.hostel_plugin_pdf().call_info(&mut instance.store, document).await
        };
        self.finish(lease, outcome)
    }

    /// Text of pages `first..=last` (1-based; `last` defaults to the final page).
    pub async fn pdf_text(&self, plugin: &str, document: &[u8], first: u32, last: Option<u32>) -> Result<Vec<PageText>> {
        let range = [first.to_le_bytes(), last.map_or(u32::MAX, |l| l).to_le_bytes()].concat();
        self.memo(plugin, "extract-text", &[document, &range], self.pdf_text_call(plugin, document, first, last)).await
    }

    async fn pdf_text_call(&self, plugin: &str, document: &[u8], first: u32, last: Option<u32>) -> Result<Vec<PageText>> {
        let mut lease = self.acquire(plugin, Kind::PdfProcessor, "extract-text").await?;
        let outcome = {
            let Lease { instance, .. } = &mut lease;
            let Exports::Pdf(exports) = &instance.exports else { unreachable!("kind checked in acquire") };
            exports.hostel_plugin_pdf().call_extract_text(&mut instance.store, document, first, last).await
        };
        self.finish(lease, outcome)
    }
}
