//! A complete Hostel plugin: a connector with two operations.
//! `echo` returns its arguments; `greet` uses a config value and the shared cache.

use hostel_sdk::connector::{ConnectorInfo, Guest};
use hostel_sdk::{cache, config, log, Metadata, PluginError};

struct Hello;

impl Guest for Hello {
    fn describe() -> ConnectorInfo {
        ConnectorInfo {
            metadata: Metadata { name: "hello-connector".into(), version: "0.1.0".into(), description: "Says hello".into() },
            system: "none".into(),
            operations: vec!["echo".into(), "greet".into()],
        }
    }

    fn connect() -> Result<(), PluginError> {
        Ok(())
    }

    fn call(operation: String, args: String) -> Result<String, PluginError> {
        match operation.as_str() {
            "echo" => Ok(args),
            "greet" => {
                let greeting = config::get_or("greeting", "Hello");
                let n = cache::get_string("greetings").and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) + 1;
                cache::set("greetings", n.to_string().as_bytes(), None);
                log::info(&format!("greeting number {n}"));
                Ok(format!("{{\"message\":\"{greeting}, world\",\"count\":{n}}}"))
            }
            other => Err(PluginError::not_found(format!("no operation {other:?}"))),
        }
    }

    fn close() {}
}

hostel_sdk::export_connector!(Hello);
