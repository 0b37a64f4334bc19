//! # hostel-sdk — write Hostel plugins in Rust
//!
//! A Hostel plugin is a WebAssembly component (wasm32-wasip2) implementing one
//! world of the `hostel:plugin` contract. Enable the cargo feature of your world
//! (`connector`, `pdf-processor` or `caption-model`), implement its `Guest` trait
//! and call the matching export macro:
//!
//! ```ignore
//! use hostel_sdk::pdf::{Guest, DocumentInfo, PageText};
//! use hostel_sdk::PluginError;
//! struct MyPdf;
//! impl Guest for MyPdf { /* info, extract_text */ }
//! hostel_sdk::export_pdf_processor!(MyPdf);
//! ```
//!
//! Every world also gets the host services in [`log`], [`config`] and [`cache`].
//! See `sdk/README.md` for the guide and a template. Feature `contract-0-2` binds contract 0.2.0.

/// Bindings for the host services and shared types every world imports.
#[doc(hidden)] #[cfg(not(feature = "contract-0-2"))]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/0.1.0",
        world: "hostel:plugin/host-services",
        generate_all,
    });
}

pub use bindings::hostel::plugin::types::{ErrorCode, Metadata, PluginError};

/// Bindings of one world whose imports are the shared host services above.
#[allow(unused_macros)] #[cfg(not(feature = "contract-0-2"))]
macro_rules! world {
    ($world:literal, $export:literal, $module:literal) => {
        wit_bindgen::generate!({
            path: "wit/0.1.0",
            world: $world,
            with: {
                "hostel:plugin/types@0.1.0": crate::bindings::hostel::plugin::types,
                "hostel:plugin/log@0.1.0": crate::bindings::hostel::plugin::log,
                "hostel:plugin/config@0.1.0": crate::bindings::hostel::plugin::config,
                "hostel:plugin/cache@0.1.0": crate::bindings::hostel::plugin::cache,
            },
            pub_export_macro: true,
            export_macro_name: $export,
            default_bindings_module: $module,
        });
    };
}
#[allow(unused_imports)] #[cfg(not(feature = "contract-0-2"))]
pub(crate) use world;

impl PluginError {
    /// A failure of class `code` with a message naming the problem.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        PluginError { code, message: message.into() }
    }
    /// The caller's input is malformed or out of range.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }
    /// The thing asked for does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    /// An outside system failed or is unreachable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
    /// The host refused a capability.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Denied, message)
    }
    /// A bug or unexpected state in the plugin.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

/// Logging into the host's log, tagged with this plugin's name.
pub mod log {
    pub use crate::bindings::hostel::plugin::log::Level;
    use crate::bindings::hostel::plugin::log::log;

    /// Logs at debug level.
    pub fn debug(message: &str) {
        log(Level::Debug, message)
    }
    /// Logs at info level.
    pub fn info(message: &str) {
        log(Level::Info, message)
    }
    /// Logs at warn level.
    pub fn warn(message: &str) {
        log(Level::Warn, message)
    }
    /// Logs at error level.
    pub fn error(message: &str) {
        log(Level::Error, message)
    }
    /// Logs at any level.
    pub fn at(level: Level, message: &str) {
        log(level, message)
    }
}

/// The `[config]` values of this plugin's manifest.
pub mod config {
    use crate::bindings::hostel::plugin::config as host;

    /// The value for `key`, if configured.
    pub fn get(key: &str) -> Option<String> {
        host::get(key)
    }
    /// The value for `key`, or `default` when not configured.
    pub fn get_or(key: &str, default: &str) -> String {
        host::get(key).unwrap_or_else(|| default.to_string())
    }
    /// Every configured key.
    pub fn keys() -> Vec<String> {
        host::keys()
    }
}

/// The host's per-plugin cache, shared by all instances of this plugin.
pub mod cache {
    use crate::bindings::hostel::plugin::cache as host;

    /// The bytes under `key`, unless absent or expired.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        host::get(key)
    }
    /// The UTF-8 text under `key`, unless absent, expired or not text.
    pub fn get_string(key: &str) -> Option<String> {
        host::get(key).and_then(|b| String::from_utf8(b).ok())
    }
    /// Stores `value` under `key`, expiring after `ttl_ms` when given.
    pub fn set(key: &str, value: &[u8], ttl_ms: Option<u64>) {
        host::set(key, value, ttl_ms)
    }
    /// Removes `key`; returns whether it was there.
    pub fn delete(key: &str) -> bool {
        host::delete(key)
    }
}

/// The `connector` world: talk to an outside system.
#[cfg(feature = "connector")]
pub mod connector {
    #[doc(hidden)]
    pub mod bindings {
        crate::world!("hostel:plugin/connector-plugin", "export_connector", "hostel_sdk::connector::bindings");
    }
    pub use bindings::exports::hostel::plugin::connector::{ConnectorInfo, Guest};
}
/// Exports a type implementing [`connector::Guest`] as this component's connector.
#[cfg(feature = "connector")]
pub use connector::bindings::export_connector;

/// Outbound HTTP for connectors, over the standard `wasi:http` interfaces.
/// The host only lets requests reach the hosts the manifest allows.
#[cfg(feature = "connector")]
pub mod http;

/// The `pdf-processor` world: read PDF documents.
#[cfg(all(feature = "pdf-processor", not(feature = "contract-0-2")))]
pub mod pdf {
    #[doc(hidden)]
    pub mod bindings {
        crate::world!("hostel:plugin/pdf-processor", "export_pdf_processor", "hostel_sdk::pdf::bindings");
    }
    pub use bindings::exports::hostel::plugin::pdf::{DocumentInfo, Guest, PageText};
}
/// Exports a type implementing [`pdf::Guest`] as this component's PDF processor.
#[cfg(feature = "pdf-processor")]
pub use pdf::bindings::export_pdf_processor;

/// Exports a type implementing [`caption::Guest`] as this component's caption model.
#[cfg(feature = "caption-model")]
pub use caption::bindings::export_caption_model;

/// The `caption-model` world: captions and hashtags from a description.
#[cfg(feature = "caption-model")]
pub mod caption {
    #[doc(hidden)]
    pub mod bindings {
        #[cfg(not(feature = "embedder"))]
        crate::world!("hostel:plugin/caption-model", "export_caption_model", "hostel_sdk::caption::bindings");
        // The same captioner plus `embedder`: one world, so both share the export macro.
        #[cfg(feature = "embedder")]
        crate::world!("hostel:plugin/caption-embedder", "export_caption_model", "hostel_sdk::caption::bindings");
    }
    /// The `embedder` export (feature `embedder`): implement it beside [`Guest`].
    #[cfg(feature = "embedder")]
    pub use bindings::exports::hostel::plugin::embedder::Guest as EmbedderGuest;
    pub use bindings::exports::hostel::plugin::captioner::{
        Caption, CaptionRequest, CaptionResult, CaptionStream, Guest, GuestCaptionStream, Style,
    };

    impl Style {
        /// The style's name as written in requests ("inspirational", ...).
        pub fn name(&self) -> &'static str {
            match self {
                Style::Inspirational => "inspirational",
                Style::Funny => "funny",
                Style::Professional => "professional",
                Style::Casual => "casual",
            }
        }
    }

    /// Captions computed up front and handed out one at a time: the stream
    /// most caption models need (`type CaptionStream = CaptionList;`).
    pub struct CaptionList {
        captions: Vec<Caption>,
        next: core::cell::Cell<usize>,
    }

    impl CaptionList {
        /// A stream of `captions`, in order.
        pub fn new(captions: Vec<Caption>) -> Self {
            CaptionList { captions, next: core::cell::Cell::new(0) }
        }
    }

    impl GuestCaptionStream for CaptionList {
        fn next(&self) -> Option<Caption> {
            let i = self.next.get();
            let caption = self.captions.get(i).cloned();
            if caption.is_some() {
                self.next.set(i + 1);
            }
            caption
        }
    }

    /// Checks the limits every caption model shares (non-empty description,
    /// 0..=30 hashtags, 1..=20 captions), so plugins reject bad input alike.
    pub fn validate(request: &CaptionRequest) -> Result<(), crate::PluginError> {
        if request.description.trim().is_empty() {
            return Err(crate::PluginError::invalid_input("description is empty"));
        }
        if request.hashtag_count > 30 {
            return Err(crate::PluginError::invalid_input(format!(
                "hashtag_count {} is out of range 0..=30",
                request.hashtag_count
            )));
        }
        if request.max_captions == 0 || request.max_captions > 20 {
            return Err(crate::PluginError::invalid_input(format!(
                "max_captions {} is out of range 1..=20",
                request.max_captions
            )));
        }
        Ok(())
    }
}

// Contract 0.2.0 (feature `contract-0-2`): the same SDK bound to `wit/0.2.0`.
// These items replace the 0.1.0 `bindings`, `world!` and `pdf` above, which the
// feature switches off. Those keep every line and column as they were, so a
// default build stays byte-for-byte the same (panic locations carry them):
// add 0.2.0-only code here, below everything the 0.1.0 build compiles.

/// Bindings for the host services and shared types every world imports (contract 0.2.0).
#[doc(hidden)]
#[cfg(feature = "contract-0-2")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/0.2.0",
        world: "hostel:plugin/host-services",
        generate_all,
    });
}

/// Bindings of one world of contract 0.2.0 whose imports are the host services above.
#[cfg(feature = "contract-0-2")]
#[allow(unused_macros)]
macro_rules! world {
    ($world:literal, $export:literal, $module:literal) => {
        wit_bindgen::generate!({
            path: "wit/0.2.0",
            world: $world,
            with: {
                "hostel:plugin/types@0.2.0": crate::bindings::hostel::plugin::types,
                "hostel:plugin/log@0.2.0": crate::bindings::hostel::plugin::log,
                "hostel:plugin/config@0.2.0": crate::bindings::hostel::plugin::config,
                "hostel:plugin/cache@0.2.0": crate::bindings::hostel::plugin::cache,
            },
            pub_export_macro: true,
            export_macro_name: $export,
            default_bindings_module: $module,
        });
    };
}
#[cfg(feature = "contract-0-2")]
#[allow(unused_imports)]
pub(crate) use world;

/// The `pdf-processor` world (contract 0.2.0): read PDF documents, whole or one
/// page at a time. `Guest::extract_pages` returns `PageStream::new(x)` for an
/// `x` implementing [`pdf::GuestPageStream`].
#[cfg(all(feature = "pdf-processor", feature = "contract-0-2"))]
pub mod pdf {
    #[doc(hidden)]
    pub mod bindings {
        crate::world!("hostel:plugin/pdf-processor", "export_pdf_processor", "hostel_sdk::pdf::bindings");
    }
    pub use bindings::exports::hostel::plugin::pdf::{DocumentInfo, Guest, GuestPageStream, PageStream, PageText};
}
