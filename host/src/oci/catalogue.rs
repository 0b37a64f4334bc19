//! The catalogue: one OCI artifact (a tag) listing the plugins a group of
//! nodes serves, each pinned by digest with its manifest. Nodes poll its tag;
//! `hostel plugin push … --catalogue REF` updates it.
//!
//! Layout: config `application/vnd.hostel.catalogue.config.v1+json` (`{}`),
//! one layer `application/vnd.hostel.catalogue.v1+json`:
//! `{"plugins":[{"name","version","source":"oci://…@sha256:…","manifest":"<toml>"}]}`.

use super::{classify, display, Oci, OciError};
use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::Reference;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const CATALOGUE_LAYER: &str = "application/vnd.hostel.catalogue.v1+json";
pub const CATALOGUE_CONFIG: &str = "application/vnd.hostel.catalogue.config.v1+json";
/// Largest catalogue a node reads.
const MAX_CATALOGUE: usize = 16 << 20;

/// `[catalogue]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogueConfig {
    /// The catalogue's tag, `oci://REGISTRY/REPOSITORY:TAG` (none: no catalogue).
    pub reference: Option<String>,
    /// How often its tag is checked; a change reaches this node within it.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for CatalogueConfig {
    fn default() -> Self {
        CatalogueConfig { reference: None, poll_interval: Duration::from_secs(10) }
    }
}

/// What the catalogue lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub plugins: Vec<Entry>,
}

/// One plugin in the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub version: String,
    /// Pinned by digest, so every node runs the same bytes.
    pub source: String,
    /// The plugin's `hostel.toml`, as pushed.
    pub manifest: String,
}

impl Catalogue {
    /// Adds `entry`, replacing one of the same name.
    pub fn upsert(&mut self, entry: Entry) {
        self.plugins.retain(|e| e.name != entry.name);
        self.plugins.push(entry);
        self.plugins.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

impl Oci {
    /// The digest the catalogue's tag points at now (one HEAD request).
    pub async fn head(&self, reference: &Reference) -> Result<String, OciError> {
        let client = self.client(reference.registry());
        let auth = self.auth(reference.registry());
        client.fetch_manifest_digest(reference, &auth).await.map_err(|e| classify(reference, e))
    }

    /// The catalogue and its digest; `None` when the tag does not exist yet.
    pub async fn pull_catalogue(&self, reference: &Reference) -> Result<Option<(Catalogue, String)>, OciError> {
        let (manifest, digest) = match self.manifest(reference).await {
            Ok(m) => m,
            Err(OciError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let not_one = |message: String| OciError::NotAPlugin { reference: display(reference), message };
        let layer = manifest
            .layers
            .iter()
            .find(|l| l.media_type == CATALOGUE_LAYER)
            .ok_or_else(|| not_one(format!("it is not a Hostel catalogue (no {CATALOGUE_LAYER} layer)")))?;
        let bytes = self.small_blob(reference, layer, MAX_CATALOGUE).await?;
        let catalogue = serde_json::from_slice(&bytes).map_err(|e| not_one(format!("its catalogue is not valid: {e}")))?;
        Ok(Some((catalogue, digest)))
    }

    /// Publishes `catalogue` at its tag; returns the new digest.
    pub async fn push_catalogue(&self, reference: &Reference, catalogue: &Catalogue) -> Result<String, OciError> {
        let layers = vec![ImageLayer::new(serde_json::to_vec_pretty(catalogue).expect("JSON"), CATALOGUE_LAYER.to_string(), None)];
        let config = Config::new(b"{}".to_vec(), CATALOGUE_CONFIG.to_string(), None);
        let image = OciImageManifest::build(&layers, &config, None);
        self.push_image(reference, &layers, config, image).await
    }
}
