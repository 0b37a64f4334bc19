//! `faulty`: a pdf-processor that misbehaves on request, for the host's tests.
//! The "document" is a command:
//! - `echo`            → page_count = 1, title = "echo"
//! - `loop`            → spins forever (the host must interrupt it)
//! - `panic`           → panics with a known message (a trap)
//! - `alloc:<KiB>`     → allocates and touches that many KiB, keeps it, reports the total held
//! - `error`           → returns a plugin-error (invalid-input)
//! - `count`           → counts calls in this instance (shows instance reuse)
//! - `sleep:<ms>`      → sleeps that long (holds the instance busy)
//! - `free`            → releases what `alloc` held (linear memory never shrinks)
//! - `read:<path>`     → reads a file; title = its text (capability tests)
//! - `write:<path>`    → tries to create a file
//! - `env:<NAME>`      → title = the environment variable's value
//! - `recurse:<depth>` → recurses that deep (a large depth overflows the wasm stack)
//! - `big:<KiB>`       → title is that many KiB of text (output size limit tests)
//! - `table:<n>`       → grows the function table by n entries (table limit tests)
//! A refused capability answers `denied` with the system's reason.
//!
//! Every answer's `author` is the instance's linear memory size in bytes, as
//! the guest itself sees it, so tests can compare it with the host's ledger.

#![feature(asm_experimental_arch)] // `table.grow` has no intrinsic (RUSTC_BOOTSTRAP builds the guests)

use hostel_sdk::pdf::{DocumentInfo, Guest, PageText};
use hostel_sdk::PluginError;
use std::cell::{Cell, RefCell};

thread_local! {
    static HELD: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static CALLS: Cell<u32> = const { Cell::new(0) };
}

struct Faulty;

fn info(title: String, page_count: u32) -> DocumentInfo {
    let memory_bytes = core::arch::wasm32::memory_size(0) * 65536;
    DocumentInfo { page_count, title: Some(title), author: Some(memory_bytes.to_string()), producer: None, version: "0".into() }
}

impl Guest for Faulty {
    fn info(document: Vec<u8>) -> Result<DocumentInfo, PluginError> {
        let command = String::from_utf8_lossy(&document).trim().to_string();
        let calls = CALLS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        match command.as_str() {
            "echo" => Ok(info("echo".into(), 1)),
            "free" => {
                HELD.with(|h| h.borrow_mut().clear());
                Ok(info("freed".into(), 0))
            }
            "count" => Ok(info("count".into(), calls)),
            "error" => Err(PluginError::invalid_input("faulty was asked to fail")),
            "panic" => panic!("faulty was asked to panic"),
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            other => {
                if let Some(ms) = other.strip_prefix("sleep:").and_then(|n| n.parse::<u64>().ok()) {
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                    return Ok(info("slept".into(), 1));
                }
                if let Some(path) = other.strip_prefix("read:") {
                    return std::fs::read_to_string(path)
                        .map(|text| info(text, 1))
                        .map_err(|e| PluginError::denied(format!("read {path}: {e}")));
                }
                if let Some(path) = other.strip_prefix("write:") {
                    return std::fs::write(path, b"x")
                        .map(|_| info("written".into(), 1))
                        .map_err(|e| PluginError::denied(format!("write {path}: {e}")));
                }
                if let Some(depth) = other.strip_prefix("recurse:").and_then(|n| n.parse::<u64>().ok()) {
                    return Ok(info(format!("depth {}", recurse(depth)), 1));
                }
                if let Some(kib) = other.strip_prefix("big:").and_then(|n| n.parse::<usize>().ok()) {
                    return Ok(info("x".repeat(kib * 1024), 1));
                }
                if let Some(n) = other.strip_prefix("table:").and_then(|n| n.parse::<u32>().ok()) {
                    return Ok(info(format!("table grown to {}", table::grow(n)), 1));
                }
                if let Some(name) = other.strip_prefix("env:") {
                    return std::env::var(name)
                        .map(|value| info(value, 1))
                        .map_err(|e| PluginError::denied(format!("env {name}: {e}")));
                }
                if let Some(kib) = other.strip_prefix("alloc:").and_then(|n| n.parse::<usize>().ok()) {
                    let block = vec![1u8; kib * 1024];
                    let held = HELD.with(|h| {
                        h.borrow_mut().push(block);
                        h.borrow().iter().map(|b| b.len()).sum::<usize>()
                    });
                    Ok(info(format!("held {held}"), (held / 1024) as u32))
                } else {
                    Err(PluginError::invalid_input(format!("unknown command {other:?}")))
                }
            }
        }
    }

    fn extract_text(_document: Vec<u8>, _first: u32, _last: Option<u32>) -> Result<Vec<PageText>, PluginError> {
        Ok(vec![])
    }
}

mod table {
    /// Grows the function table by `n` null entries, as a plugin that makes
    /// tables grow would; a refused growth aborts (as an allocator does).
    pub fn grow(n: u32) -> u32 {
        let previous: i32;
        unsafe {
            core::arch::asm!(
                "ref.null_func",
                "local.get {n}",
                "table.grow __indirect_function_table",
                "local.set {previous}",
                n = in(local) n,
                previous = lateout(local) previous,
            );
        }
        if previous < 0 {
            core::arch::wasm32::unreachable()
        }
        previous as u32 + n
    }
}

/// Recursion the optimizer cannot turn into a loop.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    let frame = std::hint::black_box([depth; 16]);
    1 + recurse(std::hint::black_box(depth - 1)) + frame[15] - depth
}

hostel_sdk::export_pdf_processor!(Faulty);
