//! An embedder's own world, outside `host/`: the `example:tokenizer` WIT
//! world (in `wit/`), host-side typed bindings generated here, registered
//! with [`hostel::HostBuilder::world`] and called with
//! [`hostel::Host::call_world`]. Its plugins get what every plugin gets:
//! lazy loads, warm pools, memory limits, the ledger, eviction, the breaker
//! and call history. The guest is `guest/` (built by scripts/build-plugins.sh).
//!
//! ```ignore
//! let host = hostel::Host::builder().world(hostel_example_custom_world::world()).plugins_dir("plugins").build()?;
//! let words = hostel_example_custom_world::count_words(&host, "words", "three little words").await?;
//! ```

use ::hostel::{Host, Typed};

wasmtime::component::bindgen!({
    path: "wit",
    world: "example:tokenizer/tokenizer",
    // The world imports Hostel's log: the host's linker already provides it.
    with: { "hostel:plugin/log": ::hostel::bindings::services::hostel::plugin::log },
    exports: { default: async },
    additional_derives: [serde::Serialize],
});

pub use exports::example::tokenizer::tokenize::Token;

/// The kind its manifests name: `kind = "tokenizer"`.
pub const KIND: &str = "tokenizer";

/// The world to register: components of `example:tokenizer/tokenizer@0.1.0`.
pub fn world() -> Typed {
    Typed::new(KIND).version(
        "example:tokenizer/tokenizer@0.1.0",
        |pre| TokenizerIndices::new(pre),
        |indices, store, instance| indices.load(store, instance),
    )
}

/// The words of `text` with their byte offsets.
pub async fn split(host: &Host, plugin: &str, text: &str) -> ::hostel::Result<Vec<Token>> {
    let text = text.to_string();
    host.call_world::<Tokenizer, _, _>(plugin, KIND, "split", move |t, store| {
        Box::pin(async move { t.example_tokenizer_tokenize().call_split(store, &text).await.map(Ok) })
    })
    .await
}

/// How many words `text` has.
pub async fn count_words(host: &Host, plugin: &str, text: &str) -> ::hostel::Result<u32> {
    let text = text.to_string();
    host.call_world::<Tokenizer, _, _>(plugin, KIND, "count-words", move |t, store| {
        Box::pin(async move { t.example_tokenizer_tokenize().call_count_words(store, &text).await.map(Ok) })
    })
    .await
}
