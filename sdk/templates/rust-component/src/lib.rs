//! `{{name}}`: a component of its own world (`wit/world.wit`, world `plugin`),
//! bound with wit-bindgen directly. Hostel calls its exports through the
//! generic route: `POST /v1/plugins/{{name}}/invoke/greet` with `{"name": "you"}`,
//! `POST /v1/plugins/{{name}}/invoke/tally%23summarize` with `{"items": [...]}`.

// generate_all: bindings for the imports too (hostel:plugin/config).
wit_bindgen::generate!({ path: "wit", world: "plugin", generate_all });

use exports::local::plugin::tally::{self, Item, Summary};
use hostel::plugin::config;

struct Plugin;

impl Guest for Plugin {
    fn greet(name: String) -> String {
        let greeting = config::get("greeting").unwrap_or_else(|| "Hello".to_string());
        format!("{greeting}, {name}!")
    }
}

impl tally::Guest for Plugin {
    fn summarize(items: Vec<Item>) -> Summary {
        Summary {
            count: items.len() as u32,
            total: items.iter().map(|i| u64::from(i.quantity)).sum(),
            largest: items.iter().max_by_key(|i| i.quantity).map(|i| i.name.clone()),
            names: items.into_iter().map(|i| i.name).collect(),
        }
    }
}

export!(Plugin);
