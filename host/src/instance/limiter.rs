//! Per-instance memory accounting and enforcement. The limit covers all of an
//! instance's linear memories together (a component has several core
//! instances), not each memory on its own. Tables are bounded by element count.

use wasmtime::ResourceLimiter;

/// Most table elements one instance may hold.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Tracks the bytes of every linear memory of one instance.
pub struct MemoryLimiter {
    limit: u64,
    used: u64,
    peak: u64,
    /// Set when a growth was refused, so the failure is reported as a limit hit.
    pub hit_limit: bool,
}

impl MemoryLimiter {
    pub fn new(limit: u64) -> Self {
        MemoryLimiter { limit, used: 0, peak: 0, hit_limit: false }
    }
    /// Bytes of linear memory the instance holds now.
    pub fn used(&self) -> u64 {
        self.used
    }
    /// Most bytes it ever held.
    pub fn peak(&self) -> u64 {
        self.peak
    }
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let grow = (desired - current) as u64;
        if self.used + grow > self.limit || maximum.is_some_and(|m| desired > m) {
            self.hit_limit = true;
            return Ok(false);
        }
        self.used += grow;
        self.peak = self.peak.max(self.used);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.hit_limit = true;
            return Ok(false);
        }
        Ok(true)
    }
}
