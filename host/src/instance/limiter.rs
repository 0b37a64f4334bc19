//! Per-instance memory enforcement that reports to the ledger. The limit
//! covers all of an instance's linear memories and tables together (a
//! component has several core instances), not each memory on its own. Table
//! elements are charged at 8 bytes each.

use crate::memory::{InstanceId, Ledger};
use std::sync::Arc;
use wasmtime::ResourceLimiter;

/// Bytes charged per table element.
const TABLE_ELEMENT_BYTES: u64 = 8;

/// Tracks and bounds the memory of one instance.
pub struct MemoryLimiter {
    limit: u64,
    memory: u64,
    table: u64,
    /// Set when a growth passed the plugin's limit.
    pub hit_limit: bool,
    /// Set when a growth would have passed the host's budget.
    pub hit_budget: bool,
    /// Bytes of the growth the budget refused.
    pub refused: u64,
    /// Set to a table's maximum (its own, or the pool's) when a growth passed it.
    pub table_max: Option<usize>,
    ledger: Option<(Arc<Ledger>, InstanceId)>,
}

impl MemoryLimiter {
    /// A limiter for one instance; `ledger` is where its bytes are charged.
    pub fn new(limit: u64, ledger: Option<(Arc<Ledger>, InstanceId)>) -> Self {
        MemoryLimiter { limit, memory: 0, table: 0, hit_limit: false, hit_budget: false, refused: 0, table_max: None, ledger }
    }
    /// Forgets the refusals of earlier calls: a guest may have handled a
    /// refused growth and gone on, and its next failure is its own.
    pub fn new_call(&mut self) {
        self.hit_limit = false;
        self.hit_budget = false;
        self.refused = 0;
        self.table_max = None;
    }
    /// Bytes of memories and tables the instance holds now.
    pub fn used(&self) -> u64 {
        self.memory + self.table
    }
    pub fn limit(&self) -> u64 {
        self.limit
    }
    pub fn ledger(&self) -> Option<&Arc<Ledger>> {
        self.ledger.as_ref().map(|(l, _)| l)
    }

    fn charge(&mut self, delta: u64, table: bool) -> bool {
        if self.used() + delta > self.limit {
            self.hit_limit = true;
            return false;
        }
        if let Some((ledger, id)) = &self.ledger {
            if !ledger.grow(*id, delta, table) {
                self.hit_budget = true;
                self.refused = delta;
                return false;
            }
        }
        if table {
            self.table += delta;
        } else {
            self.memory += delta;
        }
        true
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        Ok(self.charge(desired.saturating_sub(current) as u64, false))
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if let Some(m) = maximum.filter(|&m| desired > m) {
            self.table_max = Some(m);
            return Ok(false);
        }
        Ok(self.charge(desired.saturating_sub(current) as u64 * TABLE_ELEMENT_BYTES, true))
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        if let Some((ledger, id)) = &self.ledger {
            ledger.release(*id);
        }
    }
}
