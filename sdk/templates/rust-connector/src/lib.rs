//! `{{name}}`: a Hostel connector. A connector talks to an outside system and
//! offers named operations; `args` and results are JSON text.
//!
//! - `greet` — `{"name": "you"}` (optional) → `{"message": "<greeting>, you!", "count": n}`:
//!   the greeting comes from `[config] greeting` in hostel.toml, `count` from the
//!   host's cache (shared by all instances of this plugin).
//! - `echo` — returns its arguments.
//!
//! Outbound HTTP: `hostel_sdk::http::get(url)`, for the hosts listed in
//! `[capabilities] allowed_hosts` of hostel.toml.

use hostel_sdk::connector::{ConnectorInfo, Guest};
use hostel_sdk::{cache, config, log, Metadata, PluginError};
use serde_json::{json, Value};

struct Plugin;

impl Guest for Plugin {
    fn describe() -> ConnectorInfo {
        ConnectorInfo {
            metadata: Metadata {
                name: "{{name}}".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                description: "Greets and echoes (a connector template)".into(),
            },
            system: "none (replace with the system you connect to)".into(),
            operations: vec!["greet".into(), "echo".into()],
        }
    }

    fn connect() -> Result<(), PluginError> {
        Ok(())
    }

    fn call(operation: String, args: String) -> Result<String, PluginError> {
        let args: Value = if args.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&args).map_err(|e| PluginError::invalid_input(format!("args are not JSON: {e}")))?
        };
        match operation.as_str() {
            "greet" => {
                let name = match args.get("name") {
                    None | Some(Value::Null) => "world",
                    Some(Value::String(name)) => name.as_str(),
                    Some(_) => return Err(PluginError::invalid_input("\"name\" must be a string")),
                };
                let greeting = config::get_or("greeting", "Hello");
                let count = cache::get_string("greetings").and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) + 1;
                cache::set("greetings", count.to_string().as_bytes(), None);
                log::info(&format!("greeting number {count}"));
                Ok(json!({ "message": format!("{greeting}, {name}!"), "count": count }).to_string())
            }
            "echo" => Ok(args.to_string()),
            other => Err(PluginError::not_found(format!("unknown operation {other:?} (operations: greet, echo)"))),
        }
    }

    fn close() {}
}

hostel_sdk::export_connector!(Plugin);
