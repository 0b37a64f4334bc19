//! Host-side bindings of the `hostel:plugin@0.1.0` contract: one module per
//! world, all sharing the host-services imports generated once in `services`.
//! A future contract version gets its own modules beside these (one adapter per
//! WIT version, as Zed does), so plugins built against 0.1 keep working.

/// Imports every world gets: types, log, config, cache.
pub mod services {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "hostel:plugin/host-services",
        additional_derives: [serde::Serialize],
    });
}

/// Bindings of one world whose imports are the shared host services.
macro_rules! world {
    ($world:literal) => {
        wasmtime::component::bindgen!({
            path: "../wit/0.1.0",
            world: $world,
            with: {
                "hostel:plugin/types": crate::bindings::services::hostel::plugin::types,
                "hostel:plugin/log": crate::bindings::services::hostel::plugin::log,
                "hostel:plugin/config": crate::bindings::services::hostel::plugin::config,
                "hostel:plugin/cache": crate::bindings::services::hostel::plugin::cache,
            },
            exports: { default: async },
            additional_derives: [serde::Serialize],
        });
    };
}

/// The `connector-plugin` world.
pub mod connector {
    world!("hostel:plugin/connector-plugin");
}

/// The `pdf-processor` world.
pub mod pdf {
    world!("hostel:plugin/pdf-processor");
}

/// The `caption-model` world.
pub mod caption {
    world!("hostel:plugin/caption-model");
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
