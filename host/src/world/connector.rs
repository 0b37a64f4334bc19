//! The `connector` kind: `hostel:plugin/connector-plugin@0.1.0`, and its typed calls.

use super::Typed;
use crate::bindings::connector::exports::hostel::plugin::connector::ConnectorInfo;
use crate::bindings::connector::{ConnectorPlugin, ConnectorPluginIndices};
use crate::error::Result;
use crate::host::Host;

pub const KIND: &str = "connector";

pub(super) fn world() -> Typed {
    Typed::new(KIND).version(
        "hostel:plugin/connector-plugin@0.1.0",
        |pre| ConnectorPluginIndices::new(pre),
        |indices, store, instance| indices.load(store, instance),
    )
}

impl Host {
    /// What the connector says it is and which operations it offers.
    pub async fn connector_describe(&self, plugin: &str) -> Result<ConnectorInfo> {
        let mut lease = self.acquire(plugin, Some(KIND), "describe").await?;
        let outcome = match lease.typed::<ConnectorPlugin>() {
            Ok((exports, store)) => exports.hostel_plugin_connector().call_describe(store).await,
            Err(e) => return Err(e),
        };
        self.finish_infallible(lease, outcome)
    }

    /// Runs `operation` with JSON `args`; returns the connector's JSON result text.
    pub async fn connector_call(&self, plugin: &str, operation: &str, args: &str) -> Result<String> {
        let mut lease = self.acquire(plugin, Some(KIND), "call").await?;
        let outcome = match lease.typed::<ConnectorPlugin>() {
            Ok((exports, store)) => exports.hostel_plugin_connector().call_call(store, operation, args).await,
            Err(e) => return Err(e),
        };
        self.finish(lease, outcome)
    }
}
