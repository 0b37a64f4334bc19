//! The JSON↔WIT mapping behind generic invoke: arbitrary JSON against the
//! exports of real plugins (records, variants, enums, options, results,
//! lists, bytes as base64). Whatever the JSON, the host answers with a result
//! or a typed error naming the problem; it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const EXPORTS: &[(&str, &str)] = &[
    ("pdf-text", "info"),
    ("pdf-text", "extract-text"),
    ("caption-keywords", "generate"),
    ("caption-keywords", "describe"),
    ("hello-connector", "call"),
    ("hello-connector", "describe"),
];

struct Fixture {
    runtime: tokio::runtime::Runtime,
    host: hostel::Host,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let plugins = tempfile::tempdir().unwrap().keep();
    for (name, dir) in [("pdf-text", "plugins/pdf-text"), ("caption-keywords", "plugins/caption-keywords"), ("hello-connector", "sdk/template")] {
        let dst = plugins.join(name);
        std::fs::create_dir_all(&dst).unwrap();
        let src = repo.join(dir);
        std::fs::copy(src.join("hostel.toml"), dst.join("hostel.toml")).unwrap();
        let wasm = format!("{name}.wasm");
        std::fs::copy(src.join(&wasm), dst.join(&wasm)).unwrap_or_else(|e| panic!("{wasm}: {e} (run scripts/build-plugins.sh)"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let host = runtime.block_on(async { hostel::Host::builder().plugins_dir(&plugins).build().unwrap() });
    // Compiled before the first input, so no input is charged for it.
    for (plugin, _) in EXPORTS {
        runtime.block_on(host.load(plugin)).unwrap();
    }
    Fixture { runtime, host }
});

fuzz_target!(init: { LazyLock::force(&FIXTURE); }, |data: &[u8]| {
    let f = &*FIXTURE;
    let Some((&pick, json)) = data.split_first() else { return };
    let Ok(args) = serde_json::from_slice::<serde_json::Value>(json) else { return };
    let (plugin, export) = EXPORTS[pick as usize % EXPORTS.len()];
    let outcome = f.runtime.block_on(f.host.invoke_json(plugin, export, &args));
    if let Err(e) = outcome {
        assert!(!e.to_string().is_empty());
        assert!(!matches!(e, hostel::Error::Internal(_)), "{plugin}#{export} {args}: internal error {e}");
    }
});
