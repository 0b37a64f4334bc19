//! Upload handling: a manifest and a component as `POST /v1/plugins` hands
//! them to the library (split at the first NUL byte). Whatever the bytes, the
//! host answers with a typed error or registers a plugin that then works;
//! it never panics, and a refused upload leaves nothing registered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    host: hostel::Host,
    _data: tempfile::TempDir,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let data = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let host = runtime.block_on(async { hostel::Host::builder().data_dir(data.path()).build().unwrap() });
    Fixture { runtime, host, _data: data }
});

fuzz_target!(init: { LazyLock::force(&FIXTURE); }, |data: &[u8]| {
    let f = &*FIXTURE;
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let manifest = String::from_utf8_lossy(&data[..split]);
    let component = data.get(split + 1..).unwrap_or_default().to_vec();
    let before = f.host.plugins().len();
    f.runtime.block_on(async {
        match f.host.register(&manifest, component, None).await {
            Ok(registered) => {
                // A registered upload is whole: it is listed and can be removed again.
                let name = registered.plugin.name.clone();
                assert!(f.host.plugin_info(&name).is_ok());
                f.host.delete(&name).await.unwrap();
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                assert!(!matches!(e, hostel::Error::Internal(_)), "an upload was refused as an internal error: {e}");
                assert_eq!(f.host.plugins().len(), before, "a refused upload was registered");
            }
        }
    });
});
