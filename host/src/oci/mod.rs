//! Plugins from OCI registries, in the Wasm OCI artifact layout that `wkg`
//! (wasm-pkg-tools) reads: config media type `application/vnd.wasm.config.v0+json`
//! and one `application/wasm` layer holding the component. Hostel adds its
//! manifest as a second layer, so a pushed plugin carries its limits with it.
//!
//! References are written `oci://REGISTRY/REPOSITORY:TAG` or
//! `oci://REGISTRY/REPOSITORY@sha256:DIGEST`; the registry is always named
//! (no implicit docker.io). Loopback registries and the ones listed in
//! `[oci] insecure` are spoken to over plain HTTP, every other over HTTPS.
//! Credentials come from `[oci]`/flags, then `HOSTEL_REGISTRY_USERNAME` and
//! `HOSTEL_REGISTRY_PASSWORD`, then the docker config (`~/.docker/config.json`
//! or `$DOCKER_CONFIG`, credential helpers included); they are never logged.

pub mod catalogue;
mod pull;
mod push;

pub use catalogue::{Catalogue, CatalogueConfig, Entry};
pub use pull::Pulled;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Media type of the component layer (the Wasm OCI artifact convention).
pub const WASM_LAYER: &str = "application/wasm";
/// The older wasm-to-oci layer type, accepted when pulling.
pub const WASM_LAYER_V1: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// Media type of the config blob (the Wasm OCI artifact convention).
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the layer holding the plugin's `hostel.toml`.
pub const MANIFEST_LAYER: &str = "application/vnd.hostel.manifest.v1+toml";

/// `[oci]` in the config file.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OciConfig {
    /// Registries (`host:port`) spoken to over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// Credentials (else `HOSTEL_REGISTRY_USERNAME`/`_PASSWORD`), sent only to the
    /// registries in `credentials_for` — never to a registry a manifest happens to name.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Registries (`host:port`) the credentials above are for; the catalogue's is added.
    pub credentials_for: Vec<String>,
    /// Longest wait for a connection to a registry.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest silence while reading a registry's answer.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Largest component a pull accepts.
    pub max_component: bytesize::ByteSize,
}

impl Default for OciConfig {
    fn default() -> Self {
        OciConfig {
            insecure: Vec::new(),
            username: None,
            password: None,
            credentials_for: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            max_component: bytesize::ByteSize::mib(512),
        }
    }
}

impl std::fmt::Debug for OciConfig {
    // The password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciConfig")
            .field("insecure", &self.insecure)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

/// What can go wrong talking to a registry.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OciError {
    #[error("{0:?} is not an OCI reference: {1}")]
    BadReference(String, String),
    /// Not reachable, timed out, or answered with a server error.
    #[error("registry {registry} is unavailable: {message}")]
    Unavailable { registry: String, message: String },
    #[error("{0} is not in its registry")]
    NotFound(String),
    #[error("registry {0} refused the credentials (set them in [oci], HOSTEL_REGISTRY_USERNAME/PASSWORD or docker login)")]
    Denied(String),
    /// The bytes the registry sent do not hash to the digest that names them.
    #[error("{reference}: the registry sent content whose digest is {actual}, not {expected}; refused")]
    Digest { reference: String, expected: String, actual: String },
    #[error("{reference} is not a Hostel plugin: {message}")]
    NotAPlugin { reference: String, message: String },
    #[error("{0}")]
    Io(String),
}

impl OciError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, OciError::Unavailable { .. })
    }
}

/// Parses `oci://REGISTRY/REPOSITORY(:TAG|@sha256:DIGEST)`.
pub fn parse_reference(text: &str) -> Result<Reference, OciError> {
    let bad = |why: &str| OciError::BadReference(text.to_string(), why.to_string());
    let rest = text.strip_prefix("oci://").ok_or_else(|| bad("it must start with oci://"))?;
    let registry = rest.split('/').next().unwrap_or_default();
    if !rest.contains('/') || !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
        return Err(bad("name the registry, as in oci://registry.example:5000/plugins/name:1.0"));
    }
    let reference: Reference = rest.parse().map_err(|e: oci_client::ParseError| bad(&e.to_string()))?;
    if let Some(digest) = reference.digest() {
        let hex = digest.strip_prefix("sha256:").ok_or_else(|| bad("only sha256 digests are supported"))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("a sha256 digest is 64 hex digits"));
        }
    }
    Ok(reference)
}

/// How a reference is written back: `oci://…`.
pub fn display(reference: &Reference) -> String {
    format!("oci://{}", reference.whole())
}

/// A reference pinned to `digest` (same registry and repository).
pub fn pinned(reference: &Reference, digest: &str) -> Reference {
    Reference::with_digest(reference.registry().to_string(), reference.repository().to_string(), digest.to_string())
}

/// Registry clients (one per registry, reused for their connections and
/// tokens) and the settings they are made with.
pub struct Oci {
    config: OciConfig,
    clients: Mutex<HashMap<String, Client>>,
}

impl Oci {
    pub fn new(config: OciConfig) -> Oci {
        Oci { config, clients: Mutex::new(HashMap::new()) }
    }

    pub fn config(&self) -> &OciConfig {
        &self.config
    }

    fn client(&self, registry: &str) -> Client {
        let mut clients = self.clients.lock().unwrap();
        if let Some(c) = clients.get(registry) {
            return c.clone();
        }
        crate::install_crypto_provider();
        let plain = is_loopback(registry) || self.config.insecure.iter().any(|r| r == registry);
        let config = ClientConfig {
            protocol: if plain { ClientProtocol::Http } else { ClientProtocol::Https },
            connect_timeout: Some(self.config.connect_timeout),
            read_timeout: Some(self.config.read_timeout),
            user_agent: concat!("hostel/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = Client::new(config);
        clients.insert(registry.to_string(), client.clone());
        client
    }

    /// The credentials for `registry`: settings or environment (only for the
    /// registries they are for), docker config, else anonymous.
    fn auth(&self, registry: &str) -> RegistryAuth {
        if self.config.credentials_for.iter().any(|r| r == registry) {
            if let (Some(u), Some(p)) = (&self.config.username, &self.config.password) {
                return RegistryAuth::Basic(u.clone(), p.clone());
            }
            if let (Ok(u), Ok(p)) = (std::env::var("HOSTEL_REGISTRY_USERNAME"), std::env::var("HOSTEL_REGISTRY_PASSWORD")) {
                return RegistryAuth::Basic(u, p);
            }
        }
        match docker_credential::get_credential(registry) {
            Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) => RegistryAuth::Basic(u, p),
            Ok(docker_credential::DockerCredential::IdentityToken(t)) => RegistryAuth::Bearer(t),
            Err(_) => RegistryAuth::Anonymous,
        }
    }
}

/// Registries on this machine, where TLS would only get in the way.
fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Sorts a client error into what the host tells its callers.
fn classify(reference: &Reference, e: OciDistributionError) -> OciError {
    let registry = reference.registry().to_string();
    let whole = display(reference);
    match e {
        OciDistributionError::DigestError(oci_client::errors::DigestError::VerificationError { expected, actual }) => {
            OciError::Digest { reference: whole, expected, actual }
        }
        OciDistributionError::ImageManifestNotFoundError(_) => OciError::NotFound(whole),
        OciDistributionError::AuthenticationFailure(_) | OciDistributionError::UnauthorizedError { .. } => OciError::Denied(registry),
        OciDistributionError::ServerError { code: 404, .. } => OciError::NotFound(whole),
        OciDistributionError::ServerError { code: 401 | 403, .. } => OciError::Denied(registry),
        OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    oci_client::errors::OciErrorCode::ManifestUnknown
                        | oci_client::errors::OciErrorCode::NameUnknown
                        | oci_client::errors::OciErrorCode::BlobUnknown
                        | oci_client::errors::OciErrorCode::NotFound
                )
            }) =>
        {
            OciError::NotFound(whole)
        }
        OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(e.code, oci_client::errors::OciErrorCode::Denied | oci_client::errors::OciErrorCode::Unauthorized)
            }) =>
        {
            OciError::Denied(registry)
        }
        // What the registry holds is not a plugin artifact: asking again will not help.
        e @ (OciDistributionError::ManifestParsingError(_)
        | OciDistributionError::VersionedParsingError(_)
        | OciDistributionError::UnsupportedMediaTypeError(_)
        | OciDistributionError::UnsupportedSchemaVersionError(_)
        | OciDistributionError::IncompatibleLayerMediaTypeError(_)
        | OciDistributionError::ImageIndexParsingNoPlatformResolverError
        | OciDistributionError::PullNoLayersError
        | OciDistributionError::JsonError(_)) => OciError::NotAPlugin { reference: whole, message: e.to_string() },
        OciDistributionError::IoError(e) => OciError::Io(e.to_string()),
        OciDistributionError::RequestError(e) => OciError::Unavailable { registry, message: request_error(&e) },
        other => OciError::Unavailable { registry, message: other.to_string() },
    }
}

/// A reqwest error in a few words (its Display repeats the URL and nests causes).
fn request_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "it did not answer in time".into();
    }
    if e.is_connect() {
        let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
        let mut last = String::from("the connection failed");
        while let Some(c) = cause {
            last = c.to_string();
            cause = c.source();
        }
        return format!("cannot connect ({last})");
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_their_registry_and_pin_sha256_only() {
        let r = parse_reference("oci://127.0.0.1:5000/plugins/hello:1.0").unwrap();
        assert_eq!((r.registry(), r.repository(), r.tag()), ("127.0.0.1:5000", "plugins/hello", Some("1.0")));
        let d = format!("oci://ghcr.io/acme/pdf@sha256:{}", "a".repeat(64));
        assert_eq!(parse_reference(&d).unwrap().digest().map(str::len), Some(71));
        for bad in ["127.0.0.1:5000/p/h:1", "oci://plugins/hello:1", "oci://hello", "oci://r.io/p@sha256:abc", "oci://r.io/P:1"] {
            assert!(matches!(parse_reference(bad), Err(OciError::BadReference(..))), "{bad}");
        }
        assert!(is_loopback("127.0.0.1:5000") && is_loopback("localhost:1") && is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example:5000"));
    }
}
