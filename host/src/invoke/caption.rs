//! Typed calls into `caption-model` plugins, including the streaming variant.

use super::Lease;
use crate::bindings::caption::exports::hostel::plugin::captioner::{Caption, CaptionRequest, CaptionResult};
pub use crate::bindings::caption::exports::hostel::plugin::captioner::Style;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::instance::Exports;
use crate::plugin::Kind;
use wasmtime::component::ResourceAny;

impl Host {
    /// Ranked captions and exactly `hashtag_count` hashtags.
    pub async fn caption(&self, plugin: &str, request: &CaptionRequest) -> Result<CaptionResult> {
        let key = serde_json::to_vec(request).unwrap_or_default();
        self.memo(plugin, "generate", &[&key], self.caption_call(plugin, request)).await
    }

    async fn caption_call(&self, plugin: &str, request: &CaptionRequest) -> Result<CaptionResult> {
        let mut lease = self.acquire(plugin, Kind::CaptionModel, "generate").await?;
        let outcome = {
            let Lease { instance, .. } = &mut lease;
            let Exports::Caption(exports) = &instance.exports else { unreachable!("kind checked in acquire") };
            exports.hostel_plugin_captioner().call_generate(&mut instance.store, request).await
        };
        self.finish(lease, outcome)
    }

    /// Starts a caption stream; captions then come one at a time from
    /// [`CaptionStream::next`]. The instance stays checked out until the
    /// stream ends or is dropped.
    pub async fn caption_stream(&self, plugin: &str, request: &CaptionRequest) -> Result<CaptionStream> {
        let mut lease = self.acquire(plugin, Kind::CaptionModel, "generate-stream").await?;
        let outcome = {
            let Lease { instance, .. } = &mut lease;
            let Exports::Caption(exports) = &instance.exports else { unreachable!("kind checked in acquire") };
            exports.hostel_plugin_captioner().call_generate_stream(&mut instance.store, request).await
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
        lease.instance.store.data_mut().deadline = Some(super::deadline(lease.plugin.manifest.limits.call_timeout));
        let outcome = {
            let Lease { instance, .. } = &mut lease;
            let Exports::Caption(exports) = &instance.exports else { unreachable!("kind checked in acquire") };
            exports.hostel_plugin_captioner().caption_stream().call_next(&mut instance.store, resource).await
        };
        match outcome {
            Ok(Some(caption)) if !super::fits(&caption, lease.plugin.manifest.limits.max_output.as_u64()) => {
                self.resource = None;
                Err(self.host.finish_infallible(lease, Err::<(), _>(wasmtime::Error::new(super::OutputLimit))).unwrap_err())
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
