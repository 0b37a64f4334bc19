//! Pulling: a plugin's OCI manifest, its component into a content-addressed
//! store (named by the layer's sha256, checked while it streams in), and the
//! Hostel manifest layer.

use super::{classify, display, Oci, OciError, MANIFEST_LAYER, WASM_LAYER, WASM_LAYER_V1};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::Reference;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;

/// A component in the local store.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub path: PathBuf,
    /// sha256 (hex) of the component bytes: the layer's digest.
    pub sha256: String,
    /// `sha256:…` of the OCI manifest the reference resolved to.
    pub manifest_digest: String,
    /// Whether it was already in the store (nothing was downloaded).
    pub cached: bool,
}

impl Oci {
    /// The image manifest `reference` names, and its digest (checked against
    /// a pinned reference's).
    pub async fn manifest(&self, reference: &Reference) -> Result<(OciImageManifest, String), OciError> {
        let client = self.client(reference.registry());
        let auth = self.auth(reference.registry());
        let (manifest, digest) = client.pull_image_manifest(reference, &auth).await.map_err(|e| classify(reference, e))?;
        if let Some(pin) = reference.digest() {
            if pin != digest {
                return Err(OciError::Digest { reference: display(reference), expected: pin.into(), actual: digest });
            }
        }
        Ok((manifest, digest))
    }

    /// Pulls the component of `reference` into `store` (`store/<sha256>.wasm`),
    /// unless it is there already. A reference pinned by digest that was
    /// pulled before needs no registry at all: `store/manifests/` remembers
    /// which layer each pulled manifest names (the loader hashes the file).
    pub async fn pull_component(&self, reference: &Reference, store: &Path) -> Result<Pulled, OciError> {
        let index = reference.digest().map(|d| store.join("manifests").join(d.trim_start_matches("sha256:")));
        if let Some(known) = index.as_deref().and_then(|i| std::fs::read_to_string(i).ok()) {
            let path = store.join(format!("{}.wasm", known.trim()));
            if path.is_file() {
                let manifest_digest = reference.digest().unwrap_or_default().to_string();
                return Ok(Pulled { path, sha256: known.trim().to_string(), manifest_digest, cached: true });
            }
        }
        let (manifest, manifest_digest) = self.manifest(reference).await?;
        let layer = component_layer(reference, &manifest)?;
        let sha256 = layer.digest.strip_prefix("sha256:").unwrap_or_default().to_string();
        let path = store.join(format!("{sha256}.wasm"));
        let cached = std::fs::metadata(&path).is_ok_and(|m| m.len() == layer.size as u64);
        if !cached {
            self.download(reference, &layer, store, &path).await?;
        }
        if let Some(index) = index {
            let remembered = std::fs::create_dir_all(store.join("manifests")).and_then(|_| std::fs::write(&index, &sha256));
            if let Err(e) = remembered {
                tracing::warn!(path = %index.display(), "cannot remember the pulled manifest: {e}");
            }
        }
        Ok(Pulled { path, sha256, manifest_digest, cached })
    }

    /// Streams the layer into a temporary file and renames it to `path`.
    async fn download(&self, reference: &Reference, layer: &OciDescriptor, store: &Path, path: &Path) -> Result<(), OciError> {
        let max = self.config.max_component.as_u64();
        if layer.size < 0 || layer.size as u64 > max {
            return Err(OciError::NotAPlugin {
                reference: display(reference),
                message: format!("its component is {} bytes, above the largest a pull accepts ({})", layer.size, crate::error::size(max)),
            });
        }
        // Messages name files, not the data dir: they can reach callers.
        let io = |what: &str, e: std::io::Error| OciError::Io(format!("cannot {what} the pulled component: {e}"));
        tokio::fs::create_dir_all(store).await.map_err(|e| io("store", e))?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = store.join(format!(".pull.{}.{n}.tmp", std::process::id()));
        let file = tokio::fs::File::create(&tmp).await.map_err(|e| io("write", e))?;
        let mut out = Capped { file, left: layer.size as u64 };
        let client = self.client(reference.registry());
        // The client hashes the stream and refuses it unless it matches the layer's digest.
        let pulled = client.pull_blob(reference, layer, &mut out).await;
        let stored = match pulled {
            Err(e) => Err(classify(reference, e)),
            Ok(()) => match out.file.sync_all().await {
                Ok(()) => tokio::fs::rename(&tmp, path).await.map_err(|e| io("store", e)),
                Err(e) => Err(io("write", e)),
            },
        };
        if stored.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        stored
    }

    /// The `hostel.toml` pushed with the plugin `reference` names, and the
    /// manifest digest it resolved to.
    pub async fn plugin_manifest(&self, reference: &Reference) -> Result<(String, String), OciError> {
        let (manifest, digest) = self.manifest(reference).await?;
        let layer = manifest.layers.iter().find(|l| l.media_type == MANIFEST_LAYER).ok_or_else(|| OciError::NotAPlugin {
            reference: display(reference),
            message: format!("it has no {MANIFEST_LAYER} layer (push it with `hostel plugin push`)"),
        })?;
        let text = self.small_blob(reference, layer, crate::plugin::manifest::MAX_MANIFEST).await?;
        let text = String::from_utf8(text).map_err(|_| OciError::NotAPlugin { reference: display(reference), message: "its manifest is not UTF-8".into() })?;
        Ok((text, digest))
    }

    /// A blob of at most `max` bytes, in memory (digest checked).
    pub(crate) async fn small_blob(&self, reference: &Reference, layer: &OciDescriptor, max: usize) -> Result<Vec<u8>, OciError> {
        if layer.size < 0 || layer.size as usize > max {
            return Err(OciError::NotAPlugin {
                reference: display(reference),
                message: format!("its {} layer is {} bytes, above the limit of {max}", layer.media_type, layer.size),
            });
        }
        let mut out = Vec::with_capacity(layer.size as usize);
        let client = self.client(reference.registry());
        client.pull_blob(reference, layer, &mut out).await.map_err(|e| classify(reference, e))?;
        Ok(out)
    }
}

/// The layer holding the component.
fn component_layer(reference: &Reference, manifest: &OciImageManifest) -> Result<OciDescriptor, OciError> {
    let layer = manifest.layers.iter().find(|l| l.media_type == WASM_LAYER || l.media_type == WASM_LAYER_V1).ok_or_else(|| {
        OciError::NotAPlugin { reference: display(reference), message: format!("it has no {WASM_LAYER} layer") }
    })?;
    let hex = layer.digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OciError::NotAPlugin { reference: display(reference), message: format!("its layer digest {:?} is not sha256", layer.digest) });
    }
    Ok(layer.clone())
}

/// A file that refuses more bytes than the manifest declared, so a registry
/// cannot fill the disk with a blob that never ends.
struct Capped {
    file: tokio::fs::File,
    left: u64,
}

impl AsyncWrite for Capped {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if buf.len() as u64 > self.left {
            return Poll::Ready(Err(std::io::Error::other("the registry sent more bytes than the manifest declares")));
        }
        let this = &mut *self;
        match Pin::new(&mut this.file).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.left -= n as u64;
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.file).poll_shutdown(cx)
    }
}
