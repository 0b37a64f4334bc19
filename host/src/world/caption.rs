//! The `caption-model` kind: `hostel:plugin/caption-model@0.1.0`, and its
//! typed calls, including the streaming variant.

use super::Typed;
use crate::bindings::caption::exports::hostel::plugin::captioner::{Caption, CaptionRequest, CaptionResult};
pub use crate::bindings::caption::exports::hostel::plugin::captioner::Style;
use crate::bindings::caption::{CaptionModel, CaptionModelIndices};
use crate::error::{Error, Result};
use crate::host::Host;
use crate::invoke::Lease;
use wasmtime::component::ResourceAny;

pub const KIND: &str = "caption-model";

pub(super) fn world() -> Typed {
    Typed::new(KIND).version(
        "hostel:plugin/caption-model@0.1.0",
        |pre| CaptionModelIndices::new(pre),
        |indices, store, instance| indices.load(store, instance),
    )
}

impl Host {
    /// Ranked captions and exactly `hashtag_count` hashtags.
    pub async fn caption(&self, plugin: &str, request: &CaptionRequest) -> Result<CaptionResult> {
        let key = serde_json::to_vec(request).unwrap_or_default();
        self.memo(plugin, "generate", &[&key], self.caption_call(plugin, request)).await
    }

    async fn caption_call(&self, plugin: &str, request: &CaptionRequest) -> Result<CaptionResult> {
        let mut lease = self.acquire(plugin, Some(KIND), "generate").await?;
        let outcome = match lease.typed::<CaptionModel>() {
            Ok((exports, store)) => exports.hostel_plugin_captioner().call_generate(store, request).await,
            Err(e) => return Err(e),
        };
        self.finish(lease, outcome)
    }

    /// Starts a caption stream; captions then come one at a time from
    /// [`CaptionStream::next`]. The instance stays checked out until the
    /// stream ends or is dropped.
    pub async fn caption_stream(&self, plugin: &str, request: &CaptionRequest) -> Result<CaptionStream> {
        let mut lease = self.acquire(plugin, Some(KIND), "generate-stream").await?;
        let outcome = match lease.typed::<CaptionModel>() {
            Ok((exports, store)) => exports.hostel_plugin_captioner().call_generate_stream(store, request).await,
            Err(e) => return Err(e),
        };
        match outcome {
            Ok(Ok(resource)) => Ok(CaptionStream { host: self.clone(), lease: Some(lease), resource: Some(resource) }),
            other => Err(self.finish(lease, other.map(|r| r.map(|_| ()))).err().unwrap_or_else(|| Error::Internal("stream".into()))),
        }
    }
}

/// Captions produced one at a time by a caption model.
pub struct CaptionStream {
    host: Host,
    lease: Option<Lease>,
    resource: Option<ResourceAny>,
}

impl CaptionStream {
    /// The next caption, or `None` when the stream is finished.
    pub async fn next(&mut self) -> Result<Option<Caption>> {
        let (Some(mut lease), Some(resource)) = (self.lease.take(), self.resource) else {
            return Ok(None);
        };
        crate::instance::arm(&mut lease.instance.store, crate::invoke::deadline(lease.plugin.manifest.limits.call_timeout));
        let outcome = match lease.typed::<CaptionModel>() {
            Ok((exports, store)) => exports.hostel_plugin_captioner().caption_stream().call_next(store, resource).await,
            Err(e) => return Err(e),
        };
        match outcome {
            Ok(Some(caption)) if !crate::invoke::fits(&caption, lease.plugin.manifest.limits.max_output.as_u64()) => {
                self.resource = None;
                Err(self.host.finish_infallible(lease, Err::<(), _>(wasmtime::Error::new(crate::invoke::OutputLimit))).unwrap_err())
            }
            Ok(Some(caption)) => {
                self.lease = Some(lease);
                Ok(Some(caption))
            }
            Ok(None) => {
                self.resource = None;
                let dropped = resource.resource_drop_async(&mut lease.instance.store).await;
                self.host.finish_infallible(lease, dropped)?;
                Ok(None)
            }
            Err(e) => {
                self.resource = None;
                Err(self.host.finish_infallible(lease, Err::<(), _>(e)).unwrap_err())
            }
        }
    }
}
