//! `slow-start`: a pdf-processor whose instances are expensive to make ready,
//! as a model that loads weights on its first call is. The first call of each
//! instance waits `INIT_MS` milliseconds (a sleep, so it costs wall time, not
//! the CPU other calls need) and allocates and touches `INIT_KIB` KiB, which it
//! keeps; later calls answer at once. Both come from the environment (the
//! manifest's `[capabilities.env]`), so one component serves many costs.
//!
//! `info` answers title `cold` on the call that did the warm-up, `warm`
//! otherwise; `author` is the instance's linear memory in bytes.

use hostel_sdk::pdf::{DocumentInfo, Guest, PageText};
use hostel_sdk::PluginError;
use std::cell::RefCell;

thread_local! {
    static HELD: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

fn env_u64(name: &str) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Warms the instance up once; true if this call did it.
fn warm_up() -> bool {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        if held.is_some() {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(env_u64("INIT_MS")));
        let kib = env_u64("INIT_KIB") as usize;
        let mut block = vec![0u8; kib * 1024];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        *held = Some(std::hint::black_box(block));
        true
    })
}

struct SlowStart;

impl Guest for SlowStart {
    fn info(_document: Vec<u8>) -> Result<DocumentInfo, PluginError> {
        let title = if warm_up() { "cold" } else { "warm" };
        let memory_bytes = core::arch::wasm32::memory_size(0) * 65536;
        Ok(DocumentInfo { page_count: 1, title: Some(title.into()), author: Some(memory_bytes.to_string()), producer: None, version: "0".into() })
    }

    fn extract_text(_document: Vec<u8>, _first: u32, _last: Option<u32>) -> Result<Vec<PageText>, PluginError> {
        warm_up();
        Ok(vec![])
    }
}

hostel_sdk::export_pdf_processor!(SlowStart);
