//! What the host gives plugins: logging, per-plugin config values and a shared
//! cache (the `host-services` imports), plus the outbound HTTP policy and the
//! plugins' pooled HTTP clients.

mod cache;
mod http;
pub mod outbound;

pub use cache::SharedCache;
pub use http::HttpPolicy;
pub use outbound::{Outbound, OutboundConfig, OutboundHost, OutboundReport};

use crate::bindings::services::hostel::plugin::{cache as cache_api, config, log, types};
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Per-instance view of the host services, bound to one plugin.
pub struct PluginServices {
    plugin: Arc<str>,
    config: Arc<BTreeMap<String, String>>,
    cache: SharedCache,
}

impl PluginServices {
    pub fn new(plugin: Arc<str>, config: Arc<BTreeMap<String, String>>, cache: SharedCache) -> Self {
        PluginServices { plugin, config, cache }
    }
}

impl types::Host for PluginServices {}

impl log::Host for PluginServices {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.plugin;
        match level {
            log::Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            log::Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            log::Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            log::Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            log::Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }
}

impl config::Host for PluginServices {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
    fn keys(&mut self) -> Vec<String> {
        self.config.keys().cloned().collect()
    }
}

impl cache_api::Host for PluginServices {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.cache.get(&self.plugin, &key)
    }
    fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) {
        self.cache.set(&self.plugin, key, value, ttl_ms)
    }
    fn delete(&mut self, key: String) -> bool {
        self.cache.delete(&self.plugin, &key)
    }
}

struct Services;
impl HasData for Services {
    type Data<'a> = &'a mut PluginServices;
}

/// Adds the host-services imports of every contract version to a linker
/// whose store data holds `PluginServices`.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut PluginServices,
) -> wasmtime::Result<()> {
    crate::bindings::services::HostServices::add_to_linker::<T, Services>(linker, get)?;
    crate::bindings::v0_2::services::HostServices::add_to_linker::<T, Services>(linker, get)
}

/// Contract 0.2.0's host services: the same services as 0.1.0.
mod v0_2 {
    use super::PluginServices;
    use crate::bindings::v0_2::services::hostel::plugin::{cache, config, log, types};

    impl types::Host for PluginServices {}

    impl log::Host for PluginServices {
        fn log(&mut self, level: log::Level, message: String) {
            use super::log::Level as V1;
            let level = match level {
                log::Level::Trace => V1::Trace,
                log::Level::Debug => V1::Debug,
                log::Level::Info => V1::Info,
                log::Level::Warn => V1::Warn,
                log::Level::Error => V1::Error,
            };
            super::log::Host::log(self, level, message)
        }
    }

    impl config::Host for PluginServices {
        fn get(&mut self, key: String) -> Option<String> {
            super::config::Host::get(self, key)
        }
        fn keys(&mut self) -> Vec<String> {
            super::config::Host::keys(self)
        }
    }

    impl cache::Host for PluginServices {
        fn get(&mut self, key: String) -> Option<Vec<u8>> {
            super::cache_api::Host::get(self, key)
        }
        fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) {
            super::cache_api::Host::set(self, key, value, ttl_ms)
        }
        fn delete(&mut self, key: String) -> bool {
            super::cache_api::Host::delete(self, key)
        }
    }
}
