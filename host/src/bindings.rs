//! Host-side bindings of the `hostel:plugin` contract, one set per released
//! version (`wit/0.1.0`, `wit/0.2.0`): one module per world, all sharing the
//! host-services imports generated once per version. The worlds that call
//! them (`crate::world`) carry one adapter per version, as Zed's extension
//! host does, so a plugin built against 0.1.0 keeps working.

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

/// Contract 0.2.0: the same host services (a version of their own: 0.x
/// versions do not match each other), and the PDF world with its page stream.
pub mod v0_2 {
    /// Imports every 0.2.0 world gets.
    pub mod services {
        wasmtime::component::bindgen!({
            path: "../wit/0.2.0",
            world: "hostel:plugin/host-services",
            additional_derives: [serde::Serialize],
        });
    }

    /// The `pdf-processor` world of 0.2.0.
    pub mod pdf {
        wasmtime::component::bindgen!({
            path: "../wit/0.2.0",
            world: "hostel:plugin/pdf-processor",
            with: {
                "hostel:plugin/types": crate::bindings::v0_2::services::hostel::plugin::types,
                "hostel:plugin/log": crate::bindings::v0_2::services::hostel::plugin::log,
                "hostel:plugin/config": crate::bindings::v0_2::services::hostel::plugin::config,
                "hostel:plugin/cache": crate::bindings::v0_2::services::hostel::plugin::cache,
            },
            exports: { default: async },
            additional_derives: [serde::Serialize],
        });
    }

    impl From<services::hostel::plugin::types::PluginError> for super::PluginError {
        fn from(e: services::hostel::plugin::types::PluginError) -> Self {
            use services::hostel::plugin::types::ErrorCode as V2;
            use super::ErrorCode as V1;
            let code = match e.code {
                V2::InvalidInput => V1::InvalidInput,
                V2::NotFound => V1::NotFound,
                V2::Unavailable => V1::Unavailable,
                V2::Denied => V1::Denied,
                V2::Internal => V1::Internal,
            };
            super::PluginError { code, message: e.message }
        }
    }
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
