//! Typed calls into `connector` plugins.

use super::Lease;
use crate::bindings::connector::exports::hostel::plugin::connector::ConnectorInfo;
use crate::error::Result;
use crate::host::Host;
use crate::instance::Exports;
use crate::plugin::Kind;

impl Host {
    /// What the connector says it is and which operations it offers.
    pub async fn connector_describe(&self, plugin: &str) -> Result<ConnectorInfo> {
        let mut lease = self.acquire(plugin, Kind::Connector, "describe").await?;
        let outcome = {
            let Lease { instance, .. } = &mut lease;
            let Exports::Connector(exports) = &instance.exports else { unreachable!("kind checked in acquire") };
            exports.hostel_plugin_connector().call_describe(&mut instance.store).await
        };
        self.finish_infallible(lease, outcome)
    }

    /// Runs `operation` with JSON `args`; returns the connector's JSON result text.
    pub async fn connector_call(&self, plugin: &str, operation: &str, args: &str) -> Result<String> {
        let mut lease = self.acquire(plugin, Kind::Connector, "call").await?;
        let outcome = {
            let Lease { instance, .. } = &mut lease;
            let Exports::Connector(exports) = &instance.exports else { unreachable!("kind checked in acquire") };
            exports.hostel_plugin_connector().call_call(&mut instance.store, operation, args).await
        };
        self.finish(lease, outcome)
    }
}
