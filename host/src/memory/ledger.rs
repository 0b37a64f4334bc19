//! The ledger: exact bytes per instance, per plugin and in total, fed by every
//! instance's limiter on each memory/table growth and released when the
//! instance is dropped; plus compiled-code bytes per loaded component.
//!
//! An instance is charged `max(reserved, used)`: admission reserves the
//! plugin's estimate before instantiating, and the reservation is trued up to
//! the measured bytes once the instance is back from its first call. A compile
//! reserves its estimated peak before it starts and gives it back when it ends.
//! Compiled code is charged once per component (sha256), however many plugin
//! names share it. Each open outbound HTTP connection of a plugin is charged a
//! fixed amount (its buffers; see `[outbound] connection_charge`) while it is
//! open. The total never passes the budget: a reservation, growth or
//! connection that would is refused.
//!
//! Besides what it charges, the ledger holds the *unexplained rest*: process
//! RSS (compile workers included) above the host's baseline that no charge
//! explains, measured by the monitor. Pressure levels use charges plus that
//! rest, so the evictor reacts to real memory; admission uses charges only, so
//! a measurement that lags never locks callers out.

use super::pressure::{Level, Thresholds};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Identifies one instance in the ledger.
pub type InstanceId = u64;

#[derive(Debug, Clone)]
struct Entry {
    plugin: Arc<str>,
    memory: u64,
    table: u64,
    peak: u64,
    reserved: u64,
}

impl Entry {
    fn charge(&self) -> u64 {
        (self.memory + self.table).max(self.reserved)
    }
}

#[derive(Default)]
struct Inner {
    next_id: InstanceId,
    instances: HashMap<InstanceId, Entry>,
    /// Compiled code by component key (sha256).
    compiled: HashMap<Arc<str>, u64>,
    /// Compiles in flight: id → (plugin, reserved bytes).
    compiles: HashMap<u64, (Arc<str>, u64)>,
    /// Open outbound connections' charges by plugin.
    outbound: HashMap<Arc<str>, u64>,
    total: u64,
    /// Measured memory above the baseline that no charge explains.
    unexplained: u64,
    level: Level,
}

/// A level change, reported to whoever watches the ledger (history, alerts).
#[derive(Debug, Clone, Copy)]
pub struct LevelChange {
    pub from: Level,
    pub to: Level,
    pub used: u64,
    pub budget: u64,
}

/// One instance as the ledger sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstanceUsage {
    pub id: InstanceId,
    pub plugin: String,
    pub memory_bytes: u64,
    pub table_bytes: u64,
    pub peak_bytes: u64,
    pub reserved_bytes: u64,
    pub charged_bytes: u64,
}

/// A consistent copy of the ledger.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub budget: u64,
    pub used: u64,
    pub level: Level,
    pub instances: Vec<InstanceUsage>,
    /// Compiled code by component key (sha256).
    pub compiled: BTreeMap<String, u64>,
    /// Compiles in flight: (plugin, reserved bytes).
    pub compiles: Vec<(String, u64)>,
    /// Open outbound connections' charges by plugin.
    pub outbound: BTreeMap<String, u64>,
    /// Measured memory no charge explains (see the module docs).
    pub unexplained: u64,
}

type Watcher = Box<dyn Fn(LevelChange) + Send + Sync>;

/// Host-wide memory accounting against a budget.
pub struct Ledger {
    budget: u64,
    thresholds: Thresholds,
    inner: Mutex<Inner>,
    released: tokio::sync::Notify,
    watcher: Mutex<Option<Watcher>>,
}

impl Ledger {
    pub fn new(budget: u64, thresholds: Thresholds) -> Ledger {
        Ledger {
            budget,
            thresholds,
            inner: Mutex::new(Inner::default()),
            released: tokio::sync::Notify::new(),
            watcher: Mutex::new(None),
        }
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// Called on every level change (after the ledger's lock is released).
    pub fn on_level_change(&self, f: impl Fn(LevelChange) + Send + Sync + 'static) {
        *self.watcher.lock().unwrap() = Some(Box::new(f));
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.inner.lock().unwrap().total
    }

    pub fn level(&self) -> Level {
        self.inner.lock().unwrap().level
    }

    /// Admits a new instance of `plugin` with `reserved` bytes, if they fit.
    pub fn admit(&self, plugin: &Arc<str>, reserved: u64) -> Option<InstanceId> {
        self.change(|inner, budget| {
            if inner.total + reserved > budget {
                return None;
            }
            inner.next_id += 1;
            let id = inner.next_id;
            inner.instances.insert(id, Entry { plugin: plugin.clone(), memory: 0, table: 0, peak: 0, reserved });
            inner.total += reserved;
            Some(id)
        })
    }

    /// Records a growth of `delta` bytes; false (nothing recorded) if it would
    /// pass the budget.
    pub fn grow(&self, id: InstanceId, delta: u64, table: bool) -> bool {
        self.change(|inner, budget| {
            let Some(entry) = inner.instances.get_mut(&id) else { return true };
            let before = entry.charge();
            let mut after = entry.clone();
            if table {
                after.table += delta;
            } else {
                after.memory += delta;
            }
            let extra = after.charge() - before;
            if inner.total + extra > budget {
                return false;
            }
            after.peak = after.peak.max(after.memory + after.table);
            *entry = after;
            inner.total += extra;
            true
        })
    }

    /// Drops the reservation: the instance is charged what it really uses.
    pub fn true_up(&self, id: InstanceId) {
        let freed = self.change(|inner, _| {
            let Some(entry) = inner.instances.get_mut(&id) else { return 0 };
            let before = entry.charge();
            entry.reserved = 0;
            let freed = before - entry.charge();
            inner.total -= freed;
            freed
        });
        if freed > 0 {
            self.released.notify_waiters();
        }
    }

    /// Forgets an instance (it was dropped).
    pub fn release(&self, id: InstanceId) {
        self.change(|inner, _| {
            if let Some(entry) = inner.instances.remove(&id) {
                inner.total -= entry.charge();
            }
        });
        self.released.notify_waiters();
    }

    /// Counts the compiled code of a loaded component (keyed by its sha256).
    /// Compiled code is not refused (the compile's reservation paid for it)
    /// but it counts toward pressure.
    pub fn add_compiled(&self, component: &Arc<str>, bytes: u64) {
        self.change(|inner, _| {
            *inner.compiled.entry(component.clone()).or_default() += bytes;
            inner.total += bytes;
        });
    }

    pub fn remove_compiled(&self, component: &Arc<str>, bytes: u64) {
        self.change(|inner, _| {
            if let Some(c) = inner.compiled.get_mut(component) {
                let b = bytes.min(*c);
                *c -= b;
                inner.total -= b;
                if *c == 0 {
                    inner.compiled.remove(component);
                }
            }
        });
        self.released.notify_waiters();
    }

    /// Reserves `bytes` for a compile of `plugin`, if they fit with
    /// `keep_free` bytes still free afterwards.
    pub fn reserve_compile(&self, plugin: &Arc<str>, bytes: u64, keep_free: u64) -> Option<u64> {
        self.change(|inner, budget| {
            if inner.total + bytes + keep_free > budget {
                return None;
            }
            inner.next_id += 1;
            let id = inner.next_id;
            inner.compiles.insert(id, (plugin.clone(), bytes));
            inner.total += bytes;
            Some(id)
        })
    }

    /// Ends a compile's reservation (its transient memory is gone).
    pub fn release_compile(&self, id: u64) {
        self.change(|inner, _| {
            if let Some((_, bytes)) = inner.compiles.remove(&id) {
                inner.total -= bytes;
            }
        });
        self.released.notify_waiters();
    }

    /// Charges `bytes` to `plugin` for an outbound connection it opens, if they fit.
    pub fn charge_outbound(&self, plugin: &Arc<str>, bytes: u64) -> bool {
        self.change(|inner, budget| {
            if inner.total + bytes > budget {
                return false;
            }
            *inner.outbound.entry(plugin.clone()).or_default() += bytes;
            inner.total += bytes;
            true
        })
    }

    /// Gives back what [`Ledger::charge_outbound`] charged (the connection closed).
    pub fn release_outbound(&self, plugin: &Arc<str>, bytes: u64) {
        self.change(|inner, _| {
            if let Some(c) = inner.outbound.get_mut(plugin) {
                let b = bytes.min(*c);
                *c -= b;
                inner.total -= b;
                if *c == 0 {
                    inner.outbound.remove(plugin);
                }
            }
        });
        self.released.notify_waiters();
    }

    /// Sets the measured memory above the baseline; the part no charge
    /// explains joins the pressure level.
    pub fn observe_measured(&self, measured: u64) {
        self.change(|inner, _| inner.unexplained = measured.saturating_sub(inner.total));
    }

    /// Charges plus the unexplained rest: what pressure levels are computed on.
    pub fn effective(&self) -> u64 {
        let inner = self.inner.lock().unwrap();
        inner.total + inner.unexplained
    }

    /// Waits until some memory is released (or `timeout` passes).
    pub async fn wait_release(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.released.notified()).await;
    }

    /// Bytes charged to one instance now (0 if unknown).
    pub fn charged(&self, id: InstanceId) -> u64 {
        self.inner.lock().unwrap().instances.get(&id).map(Entry::charge).unwrap_or(0)
    }

    pub fn snapshot(&self) -> Snapshot {
        let inner = self.inner.lock().unwrap();
        let mut instances: Vec<InstanceUsage> = inner
            .instances
            .iter()
            .map(|(id, e)| InstanceUsage {
                id: *id,
                plugin: e.plugin.to_string(),
                memory_bytes: e.memory,
                table_bytes: e.table,
                peak_bytes: e.peak,
                reserved_bytes: e.reserved,
                charged_bytes: e.charge(),
            })
            .collect();
        instances.sort_by_key(|i| i.id);
        Snapshot {
            budget: self.budget,
            used: inner.total,
            level: inner.level,
            instances,
            compiled: inner.compiled.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            compiles: inner.compiles.values().map(|(p, b)| (p.to_string(), *b)).collect(),
            outbound: inner.outbound.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            unexplained: inner.unexplained,
        }
    }

    /// Applies a change and recomputes the level; tells the watcher if it moved.
    fn change<R>(&self, f: impl FnOnce(&mut Inner, u64) -> R) -> R {
        let (result, change) = {
            let mut inner = self.inner.lock().unwrap();
            let result = f(&mut inner, self.budget);
            let effective = inner.total + inner.unexplained;
            let level = self.thresholds.level(effective, self.budget);
            let change = (level != inner.level)
                .then(|| LevelChange { from: inner.level, to: level, used: effective, budget: self.budget });
            inner.level = level;
            (result, change)
        };
        if let Some(change) = change {
            if let Some(w) = self.watcher.lock().unwrap().as_ref() {
                w(change);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(budget: u64) -> Ledger {
        Ledger::new(budget, Thresholds::default())
    }

    #[test]
    fn reservation_then_true_up() {
        let l = ledger(1000);
        let p: Arc<str> = "p".into();
        let id = l.admit(&p, 300).unwrap();
        assert_eq!(l.used(), 300);
        assert!(l.grow(id, 100, false));
        assert_eq!(l.used(), 300, "growth inside the reservation costs nothing more");
        assert!(l.grow(id, 250, false));
        assert_eq!(l.used(), 350);
        l.true_up(id);
        assert_eq!(l.used(), 350);
        l.release(id);
        assert_eq!(l.used(), 0);
    }

    #[test]
    fn never_passes_the_budget() {
        let l = ledger(1000);
        let p: Arc<str> = "p".into();
        let a = l.admit(&p, 600).unwrap();
        assert!(l.admit(&p, 500).is_none());
        assert!(l.grow(a, 600, false));
        assert!(!l.grow(a, 401, false));
        assert_eq!(l.used(), 600);
        assert!(l.grow(a, 400, false));
        assert_eq!(l.used(), 1000);
    }

    #[test]
    fn compile_reservations_count_and_the_unexplained_rest_raises_the_level() {
        let l = ledger(100);
        let p: Arc<str> = "p".into();
        let c = l.reserve_compile(&p, 70, 0).unwrap();
        assert!(l.reserve_compile(&p, 31, 0).is_none(), "a second compile does not fit");
        assert!(l.reserve_compile(&p, 10, 21).is_none(), "nor one that leaves too little free");
        assert!(l.admit(&p, 31).is_none(), "nor does an instance");
        assert_eq!(l.snapshot().compiles, vec![("p".to_string(), 70)]);
        l.release_compile(c);
        assert_eq!(l.used(), 0);
        let sha: Arc<str> = "sha".into();
        l.add_compiled(&sha, 10);
        l.add_compiled(&sha, 10);
        assert_eq!(l.used(), 20);
        l.observe_measured(90);
        assert_eq!((l.used(), l.effective(), l.level()), (20, 90, Level::Critical));
        assert!(l.admit(&p, 50).is_some(), "admission counts charges only");
        l.observe_measured(0);
        assert_eq!(l.effective(), 70);
    }

    #[test]
    fn outbound_connections_are_charged_within_the_budget() {
        let l = ledger(100);
        let p: Arc<str> = "p".into();
        assert!(l.charge_outbound(&p, 40));
        assert!(l.charge_outbound(&p, 40));
        assert!(!l.charge_outbound(&p, 40), "a third connection does not fit");
        assert_eq!((l.used(), l.snapshot().outbound.get("p").copied()), (80, Some(80)));
        l.release_outbound(&p, 40);
        l.release_outbound(&p, 40);
        assert_eq!(l.used(), 0);
        assert!(l.snapshot().outbound.is_empty());
    }

    #[test]
    fn level_changes_are_reported() {
        let l = ledger(100);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        l.on_level_change(move |c| s.lock().unwrap().push((c.from, c.to)));
        let p: Arc<str> = "p".into();
        let id = l.admit(&p, 0).unwrap();
        l.grow(id, 70, false);
        l.grow(id, 20, false);
        l.release(id);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![(Level::Low, Level::Medium), (Level::Medium, Level::Critical), (Level::Critical, Level::Low)]
        );
    }
}
