//! What a component needs before it runs, read from its bytes without
//! compiling: the initial size of every linear memory of every core module.
//! An upload whose initial memory is already over its limit can never be
//! instantiated, so it is refused with the size it would need.

use wasmparser::{Parser, Payload};

/// Bytes of linear memory all core modules of `bytes` start with, summed
/// (an instance holds all of them at once).
pub fn initial_memory(bytes: &[u8]) -> Result<u64, String> {
    let mut total: u64 = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("not a valid WebAssembly component: {e}"))?;
        if let Payload::MemorySection(reader) = payload {
            for memory in reader {
                let memory = memory.map_err(|e| format!("bad memory section: {e}"))?;
                let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                total = total.saturating_add(memory.initial.saturating_mul(page));
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_initial_pages_of_a_module() {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[5, 3, 1, 0, 3]); // memory section: one memory, 3 pages minimum
        assert_eq!(super::initial_memory(&m).unwrap(), 3 << 16);
        assert!(super::initial_memory(b"not wasm").is_err());
    }
}

/// What a compile's memory depends on: the bytes of all function bodies,
/// and the largest bodies (Cranelift holds one function's IR per thread at a
/// time, and its memory grows with the function).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodeProfile {
    pub code_bytes: u64,
    /// Sum of the `threads` largest function bodies.
    pub largest_bytes: u64,
    pub functions: u64,
}

/// The code profile of a component, for `threads` parallel compile threads.
pub fn code_profile(bytes: &[u8], threads: usize) -> CodeProfile {
    let mut sizes: Vec<u64> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes).flatten() {
        if let Payload::CodeSectionEntry(body) = payload {
            sizes.push(body.range().len() as u64);
        }
    }
    let code_bytes = sizes.iter().sum();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let largest_bytes = sizes.iter().take(threads.max(1)).sum();
    CodeProfile { code_bytes, largest_bytes, functions: sizes.len() as u64 }
}
