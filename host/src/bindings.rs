//! Host-side bindings of the `hostel:plugin@0.1.0` contract: one module per
//! world, all sharing the host-services imports generated once in `services`.
//! A future contract version gets its own modules beside these (one adapter per
//! WIT version, as Zed does), so plugins built against 0.1 keep working.

/// Imports every world gets: types, log, config, cache.
pub mod services {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "hostel:plugin/host-services",
        additional_derives: [serde::Serialize],
    });
}

/// The `connector-plugin` world.
pub mod connector {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "hostel:plugin/connector-plugin",
        with: {
            "hostel:plugin/types": super::services::hostel::plugin::types,
            "hostel:plugin/log": super::services::hostel::plugin::log,
            "hostel:plugin/config": super::services::hostel::plugin::config,
            "hostel:plugin/cache": super::services::hostel::plugin::cache,
        },
        exports: { default: async },
        additional_derives: [serde::Serialize],
    });
}

/// The `pdf-processor` world.
pub mod pdf {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "hostel:plugin/pdf-processor",
        with: {
            "hostel:plugin/types": super::services::hostel::plugin::types,
            "hostel:plugin/log": super::services::hostel::plugin::log,
            "hostel:plugin/config": super::services::hostel::plugin::config,
            "hostel:plugin/cache": super::services::hostel::plugin::cache,
        },
        exports: { default: async },
        additional_derives: [serde::Serialize],
    });
}

/// The `caption-model` world.
pub mod caption {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "hostel:plugin/caption-model",
        with: {
            "hostel:plugin/types": super::services::hostel::plugin::types,
            "hostel:plugin/log": super::services::hostel::plugin::log,
            "hostel:plugin/config": super::services::hostel::plugin::config,
            "hostel:plugin/cache": super::services::hostel::plugin::cache,
        },
        exports: { default: async },
        additional_derives: [serde::Serialize],
    });
}

pub use services::hostel::plugin::types::{ErrorCode, Metadata, PluginError};

impl From<ErrorCode> for crate::error::PluginErrorCode {
    fn from(code: ErrorCode) -> Self {
        use crate::error::PluginErrorCode as C;
        match code {
            ErrorCode::InvalidInput => C::InvalidInput,
            ErrorCode::NotFound => C::NotFound,
            ErrorCode::Unavailable => C::Unavailable,
            ErrorCode::Denied => C::Denied,
            ErrorCode::Internal => C::Internal,
        }
    }
}
