//! Pushing: a plugin as a Wasm OCI artifact (component layer + config, plus
//! the Hostel manifest layer), and blobs of our own (the catalogue).

use super::{classify, Oci, OciError, MANIFEST_LAYER, WASM_CONFIG, WASM_LAYER};
use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::Reference;
use std::collections::BTreeMap;

impl Oci {
    /// Publishes a plugin; returns the `sha256:…` digest of the pushed manifest.
    pub async fn push_plugin(&self, reference: &Reference, manifest: &crate::plugin::Manifest, manifest_text: &str, component: Vec<u8>) -> Result<String, OciError> {
        let component_digest = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&component)));
        let title = |t: &str| Some(BTreeMap::from([("org.opencontainers.image.title".to_string(), t.to_string())]));
        let layers = vec![
            ImageLayer::new(component, WASM_LAYER.to_string(), title(&format!("{}.wasm", manifest.name))),
            ImageLayer::new(manifest_text.as_bytes().to_vec(), MANIFEST_LAYER.to_string(), title("hostel.toml")),
        ];
        // The config the Wasm OCI artifact convention describes.
        let config = serde_json::json!({
            "created": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [component_digest],
        });
        let config = Config::new(serde_json::to_vec(&config).expect("JSON"), WASM_CONFIG.to_string(), None);
        let annotations = BTreeMap::from([
            ("org.opencontainers.image.title".to_string(), manifest.name.clone()),
            ("org.opencontainers.image.version".to_string(), manifest.version.clone()),
            ("org.opencontainers.image.description".to_string(), manifest.description.clone()),
            ("dev.hostel.kind".to_string(), manifest.kind.as_str().to_string()),
        ]);
        let image = OciImageManifest::build(&layers, &config, Some(annotations));
        self.push_image(reference, &layers, config, image).await
    }

    /// Pushes layers, config and manifest; returns the manifest's digest.
    pub(crate) async fn push_image(&self, reference: &Reference, layers: &[ImageLayer], config: Config, image: OciImageManifest) -> Result<String, OciError> {
        let client = self.client(reference.registry());
        let auth = self.auth(reference.registry());
        client.push(reference, layers, config, &auth, Some(image)).await.map_err(|e| classify(reference, e))?;
        let digest = client.fetch_manifest_digest(reference, &auth).await.map_err(|e| classify(reference, e))?;
        let shown = super::display(reference);
        tracing::info!(reference = %shown, %digest, "pushed");
        Ok(digest)
    }
}
