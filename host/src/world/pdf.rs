//! The `pdf-processor` kind, with one adapter per contract version:
//! `hostel:plugin/pdf-processor@0.2.0` (page stream) and `@0.1.0`. The typed
//! API is the same for both: a 0.1.0 component's page stream is made by the
//! host, one `extract-text` of one page per `next`.

use super::Typed;
use crate::bindings::pdf::exports::hostel::plugin::pdf::{DocumentInfo, PageText};
use crate::bindings::pdf::{PdfProcessor, PdfProcessorIndices};
use crate::bindings::v0_2::pdf as v2;
use crate::bindings::PluginError;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::invoke::Lease;
use wasmtime::component::ResourceAny;

pub const KIND: &str = "pdf-processor";

/// A PDF instance's exports, by the contract version it was built against.
pub(crate) enum PdfExports {
    V0_2(v2::PdfProcessor),
    V0_1(PdfProcessor),
}

pub(super) fn world() -> Typed {
    Typed::new(KIND)
        .version(
            "hostel:plugin/pdf-processor@0.2.0",
            |pre| v2::PdfProcessorIndices::new(pre),
            |indices, store, instance| indices.load(store, instance).map(PdfExports::V0_2),
        )
        .version(
            "hostel:plugin/pdf-processor@0.1.0",
            |pre| PdfProcessorIndices::new(pre),
            |indices, store, instance| indices.load(store, instance).map(PdfExports::V0_1),
        )
}

type V2Page = v2::exports::hostel::plugin::pdf::PageText;

fn page(p: V2Page) -> PageText {
    PageText { page: p.page, text: p.text }
}

fn error(e: crate::bindings::v0_2::services::hostel::plugin::types::PluginError) -> PluginError {
    e.into()
}

impl Host {
    /// Document-level facts of a PDF.
    pub async fn pdf_info(&self, plugin: &str, document: &[u8]) -> Result<DocumentInfo> {
        self.memo(plugin, "info", &[document], self.pdf_info_call(plugin, document)).await
    }

    async fn pdf_info_call(&self, plugin: &str, document: &[u8]) -> Result<DocumentInfo> {
        let mut lease = self.acquire(plugin, Some(KIND), "info").await?;
        let outcome = match lease.typed::<PdfExports>()? {
            (PdfExports::V0_1(e), store) => e.hostel_plugin_pdf().call_info(store, document).await,
            (PdfExports::V0_2(e), store) => e.hostel_plugin_pdf().call_info(store, document).await.map(|r| {
                r.map(|i| DocumentInfo { page_count: i.page_count, title: i.title, author: i.author, producer: i.producer, version: i.version })
                    .map_err(error)
            }),
        };
        self.finish(lease, outcome)
    }

    /// Text of pages `first..=last` (1-based; `last` defaults to the final page).
    pub async fn pdf_text(&self, plugin: &str, document: &[u8], first: u32, last: Option<u32>) -> Result<Vec<PageText>> {
        let range = [first.to_le_bytes(), last.map_or(u32::MAX, |l| l).to_le_bytes()].concat();
        self.memo(plugin, "extract-text", &[document, &range], self.pdf_text_call(plugin, document, first, last)).await
    }

    async fn pdf_text_call(&self, plugin: &str, document: &[u8], first: u32, last: Option<u32>) -> Result<Vec<PageText>> {
        let mut lease = self.acquire(plugin, Some(KIND), "extract-text").await?;
        let outcome = match lease.typed::<PdfExports>()? {
            (PdfExports::V0_1(e), store) => e.hostel_plugin_pdf().call_extract_text(store, document, first, last).await,
            (PdfExports::V0_2(e), store) => e
                .hostel_plugin_pdf()
                .call_extract_text(store, document, first, last)
                .await
                .map(|r| r.map(|pages| pages.into_iter().map(page).collect()).map_err(error)),
        };
        self.finish(lease, outcome)
    }

    /// Pages `first..=last` one at a time: each [`PageStream::next`] is
    /// bounded by the plugin's call timeout, so a document of any length can
    /// be read. The instance stays checked out until the stream ends or is
    /// dropped. A broken document or a bad range fails here.
    pub async fn pdf_pages(&self, plugin: &str, document: Vec<u8>, first: u32, last: Option<u32>) -> Result<PageStream> {
        let mut lease = self.acquire(plugin, Some(KIND), "extract-pages").await?;
        let (outcome, state) = match lease.typed::<PdfExports>()? {
            (PdfExports::V0_2(e), store) => {
                let opened = e.hostel_plugin_pdf().call_extract_pages(store, &document, first, last).await;
                match opened {
                    Ok(Ok(resource)) => (Ok(Ok(())), Some(Pages::Native(resource))),
                    Ok(Err(e)) => (Ok(Err(error(e))), None),
                    Err(e) => (Err(e), None),
                }
            }
            // 0.1.0 has no stream: the page count bounds one-page extracts.
            (PdfExports::V0_1(e), store) => match e.hostel_plugin_pdf().call_info(&mut *store, &document).await {
                Ok(Ok(info)) => {
                    let end = last.unwrap_or(info.page_count);
                    if first == 0 || first > end || end > info.page_count {
                        let message = format!("pages {first}..={end} are outside the document's 1..={}", info.page_count);
                        (Ok(Err(PluginError { code: crate::bindings::ErrorCode::InvalidInput, message })), None)
                    } else {
                        (Ok(Ok(())), Some(Pages::Emulated { document, next: first, end }))
                    }
                }
                Ok(Err(e)) => (Ok(Err(e)), None),
                Err(e) => (Err(e), None),
            },
        };
        match state {
            Some(state) => {
                // The stream's lease lives on; the opening call counts as done.
                self.inner.ledger.true_up(lease.instance.id);
                Ok(PageStream { host: self.clone(), lease: Some(lease), state })
            }
            None => Err(self.finish(lease, outcome).err().unwrap_or_else(|| Error::Internal("page stream".into()))),
        }
    }
}

enum Pages {
    /// A 0.2.0 `page-stream` resource.
    Native(ResourceAny),
    /// A 0.1.0 plugin: one `extract-text` per page.
    Emulated { document: Vec<u8>, next: u32, end: u32 },
}

/// Pages of a PDF, produced one at a time.
pub struct PageStream {
    host: Host,
    lease: Option<Lease>,
    state: Pages,
}

impl PageStream {
    /// The next page, or `None` after the last one.
    pub async fn next(&mut self) -> Result<Option<PageText>> {
        let Some(mut lease) = self.lease.take() else { return Ok(None) };
        crate::instance::arm(&mut lease.instance.store, crate::invoke::deadline(lease.plugin.manifest.limits.call_timeout));
        let outcome: wasmtime::Result<std::result::Result<Option<PageText>, PluginError>> = match (lease.typed::<PdfExports>()?, &mut self.state) {
            ((PdfExports::V0_2(e), store), Pages::Native(resource)) => {
                e.hostel_plugin_pdf().page_stream().call_next(store, *resource).await.map(|r| r.map(|p| p.map(page)).map_err(error))
            }
            ((PdfExports::V0_1(e), store), Pages::Emulated { document, next, end }) => {
                if *next > *end {
                    Ok(Ok(None))
                } else {
                    let n = *next;
                    *next += 1;
                    e.hostel_plugin_pdf().call_extract_text(store, document, n, Some(n)).await.map(|r| {
                        r.and_then(|mut pages| match pages.pop() {
                            Some(p) => Ok(Some(p)),
                            None => Err(PluginError { code: crate::bindings::ErrorCode::Internal, message: format!("extract-text gave no text for page {n}") }),
                        })
                    })
                }
            }
            _ => return Err(Error::Internal("page stream of another version".into())),
        };
        let limit = lease.plugin.manifest.limits.max_output.as_u64();
        match outcome {
            Ok(Ok(Some(p))) if !crate::invoke::fits(&p, limit) => {
                Err(self.host.finish_infallible(lease, Err::<(), _>(wasmtime::Error::new(crate::invoke::OutputLimit))).unwrap_err())
            }
            Ok(Ok(Some(p))) => {
                self.host.inner.ledger.true_up(lease.instance.id);
                self.lease = Some(lease);
                Ok(Some(p))
            }
            Ok(Ok(None)) => {
                let dropped = match self.state {
                    Pages::Native(resource) => resource.resource_drop_async(&mut lease.instance.store).await,
                    Pages::Emulated { .. } => Ok(()),
                };
                self.host.finish_infallible(lease, dropped)?;
                Ok(None)
            }
            Ok(Err(e)) => {
                // The stream ends here: its resource (the parsed document) goes with it.
                if let Pages::Native(resource) = self.state {
                    let _ = resource.resource_drop_async(&mut lease.instance.store).await;
                }
                Err(self.host.finish(lease, Ok(Err::<(), _>(e))).unwrap_err())
            }
            Err(e) => Err(self.host.finish_infallible(lease, Err::<(), _>(e)).unwrap_err()),
        }
    }
}
