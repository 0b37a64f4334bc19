//! The eviction policy: which idle instance goes first. Pure (no clocks, no
//! locks): the evictor hands it what it knows and applies the order.
//!
//! Priority always dominates: a lower manifest `priority` goes before any
//! higher one, whatever the policy. Within a priority:
//! - `lru`: least recently used first.
//! - `cost` (default): Greedy-Dual-Size-Frequency without the clock. An
//!   instance's score is `frequency × cold_secs / MiB`: the cold seconds its
//!   plugin's callers are expected to wait through per MiB freed, per unit of
//!   time (frequency is a call count decayed in real time, so it is a rate).
//!   Age enters through that decay (minutes), not through GDSF's clock `L`
//!   (which rises to each victim's score and is given to instances as
//!   credit): with decay the clock counts recency twice, and on the eviction
//!   bench's traces (stationary Zipf over a few seconds, where decay does
//!   nothing) it lost 1.07–1.2× more cold seconds, offline and in the host.
//!   A frequency below one call counts as one.
//!   Lowest score goes first; equal scores go least recently used first.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Which order idle instances are evicted in (`[memory] eviction`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Expected cold-start seconds lost per byte freed (GreedyDual-Size-Frequency).
    #[default]
    Cost,
    /// Least recently used.
    Lru,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Cost => "cost",
            Policy::Lru => "lru",
        }
    }
}

/// Calls to a plugin lose half their weight in this many seconds, so
/// frequency follows what callers do now, not what they did an hour ago.
pub const FREQUENCY_HALF_LIFE_SECS: f64 = 600.0;

/// Weight of a new sample in the cold-cost and warm-call moving averages.
const AVERAGE_WEIGHT: f64 = 0.3;

/// What one plugin's history says about losing an instance of it.
///
/// Invariants: `cold_secs`, `warm_secs`, `frequency` ≥ 0; `cold_secs` is 0
/// until the first sample (`cold_samples` = 0); `frequency` was decayed to
/// `seen_at` (seconds on the host's clock, never decreasing).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Moving average of instantiate-to-ready plus the first call's extra
    /// time over a warm call.
    pub cold_secs: f64,
    pub cold_samples: u64,
    /// Moving average of warm calls (what a cold first call is compared with).
    pub warm_secs: f64,
    pub warm_samples: u64,
    /// Calls, decayed with [`FREQUENCY_HALF_LIFE_SECS`].
    pub frequency: f64,
    /// Bytes an instance held after its last call (what prefetch expects).
    pub instance_bytes: u64,
    #[serde(skip)]
    pub seen_at: f64,
}

impl Usage {
    /// Counts one call at `now` (seconds).
    pub fn call(&mut self, now: f64) {
        self.frequency = self.frequency_at(now) + 1.0;
        self.seen_at = self.seen_at.max(now);
    }

    /// The decayed call count at `now`.
    pub fn frequency_at(&self, now: f64) -> f64 {
        let age = (now - self.seen_at).max(0.0);
        self.frequency * (-age * std::f64::consts::LN_2 / FREQUENCY_HALF_LIFE_SECS).exp()
    }

    /// A warm call took `secs`.
    pub fn warm(&mut self, secs: f64) {
        self.warm_secs = average(self.warm_secs, self.warm_samples, secs);
        self.warm_samples += 1;
    }

    /// An instance took `instantiate` seconds to make and its first call
    /// `first_call`; the cold cost is both, less what a warm call takes.
    pub fn cold(&mut self, instantiate: f64, first_call: f64) {
        let extra = (first_call - if self.warm_samples > 0 { self.warm_secs } else { 0.0 }).max(0.0);
        self.cold_secs = average(self.cold_secs, self.cold_samples, instantiate + extra);
        self.cold_samples += 1;
    }
}

fn average(current: f64, samples: u64, sample: f64) -> f64 {
    if samples == 0 {
        sample
    } else {
        current + AVERAGE_WEIGHT * (sample - current)
    }
}

/// One idle instance as the policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: u64,
    pub priority: i32,
    /// Bytes freed by dropping it.
    pub bytes: u64,
    /// When it was last used (seconds on the host's clock).
    pub last_used: f64,
    /// Its plugin's cold cost in seconds.
    pub cold_secs: f64,
    /// Its plugin's decayed call count now.
    pub frequency: f64,
}

/// The score: expected cold seconds lost per MiB freed, per unit of time.
/// Higher means more worth keeping.
pub fn score(c: &Candidate) -> f64 {
    let mib = (c.bytes as f64 / (1u64 << 20) as f64).max(1.0 / 16.0);
    c.frequency.max(1.0) * c.cold_secs / mib
}

/// Sorts `candidates` into eviction order (first = evicted first).
pub fn order(policy: Policy, candidates: &mut [Candidate]) {
    candidates.sort_by(|a, b| {
        let by_recency = a.last_used.total_cmp(&b.last_used).then(a.id.cmp(&b.id));
        a.priority.cmp(&b.priority).then_with(|| match policy {
            Policy::Lru => by_recency,
            Policy::Cost => score(a).total_cmp(&score(b)).then(by_recency),
        })
    });
}

/// Why `a` before `b` (for tests and messages): the first field that decides.
pub fn decided_by(policy: Policy, a: &Candidate, b: &Candidate) -> &'static str {
    if a.priority != b.priority {
        return "priority";
    }
    match (policy, score(a).total_cmp(&score(b))) {
        (Policy::Cost, Ordering::Less | Ordering::Greater) => "score",
        _ => "recency",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn c(id: u64, priority: i32, mib: u64, last_used: f64, cold_secs: f64, frequency: f64) -> Candidate {
        Candidate { id, priority, bytes: mib * MIB, last_used, cold_secs, frequency }
    }

    fn ids(policy: Policy, mut v: Vec<Candidate>) -> Vec<u64> {
        order(policy, &mut v);
        v.iter().map(|c| c.id).collect()
    }

    #[test]
    fn cost_keeps_the_expensive_instance_of_the_same_size() {
        // 1 is older but costs 2 s to recreate; 2 costs 5 ms.
        let v = vec![c(1, 0, 16, 1.0, 2.0, 1.0), c(2, 0, 16, 5.0, 0.005, 1.0)];
        assert_eq!(ids(Policy::Cost, v.clone()), [2, 1]);
        assert_eq!(ids(Policy::Lru, v.clone()), [1, 2]);
        assert_eq!(decided_by(Policy::Cost, &v[1], &v[0]), "score");
    }

    #[test]
    fn cost_frees_the_big_cheap_instance_before_the_small_one() {
        // Same cold cost and frequency: per byte freed the 180 MiB one costs least.
        let v = vec![c(1, 0, 16, 9.0, 0.3, 4.0), c(2, 0, 180, 9.0, 0.3, 4.0)];
        assert_eq!(ids(Policy::Cost, v), [2, 1]);
    }

    #[test]
    fn frequent_calls_raise_the_score() {
        let v = vec![c(1, 0, 16, 1.0, 0.3, 20.0), c(2, 0, 16, 5.0, 0.3, 1.0)];
        assert_eq!(ids(Policy::Cost, v), [2, 1]);
    }

    #[test]
    fn priority_dominates_every_policy() {
        // 1: high priority, cheap, least recently used; 2: low priority, very expensive.
        let v = vec![c(1, 10, 64, 0.0, 0.001, 1.0), c(2, 0, 1, 9.0, 100.0, 100.0)];
        for policy in [Policy::Cost, Policy::Lru] {
            assert_eq!(ids(policy, v.clone()), [2, 1], "{policy:?}");
        }
        assert_eq!(decided_by(Policy::Cost, &v[1], &v[0]), "priority");
    }

    #[test]
    fn equal_scores_go_least_recently_used_first() {
        let v = vec![c(1, 0, 8, 3.0, 0.1, 1.0), c(2, 0, 8, 2.0, 0.1, 1.0), c(3, 0, 8, 1.0, 0.1, 1.0)];
        assert_eq!(ids(Policy::Cost, v), [3, 2, 1]);
    }

    #[test]
    fn a_plugin_busy_long_ago_loses_to_one_called_now() {
        // 1 was called 64 times an hour ago (decayed to 1); 2 twice just now.
        let mut old = Usage::default();
        for _ in 0..64 {
            old.call(0.0);
        }
        let mut now = Usage::default();
        now.call(3600.0);
        now.call(3600.0);
        let v = vec![
            c(1, 0, 8, 0.0, 0.5, old.frequency_at(3600.0)),
            c(2, 0, 8, 3600.0, 0.5, now.frequency_at(3600.0)),
        ];
        assert!((v[0].frequency - 1.0).abs() < 1e-9, "{}", v[0].frequency);
        assert_eq!(ids(Policy::Cost, v), [1, 2]);
    }

    #[test]
    fn usage_averages_cold_costs_less_warm_calls_and_decays_frequency() {
        let mut u = Usage::default();
        u.cold(0.1, 0.9); // no warm call seen yet: all of the first call counts
        assert!((u.cold_secs - 1.0).abs() < 1e-9);
        u.warm(0.4);
        u.cold(0.1, 0.4 + 2.0);
        assert!((u.cold_secs - (1.0 + 0.3 * (2.1 - 1.0))).abs() < 1e-9, "{}", u.cold_secs);
        u.call(0.0);
        u.call(0.0);
        assert!((u.frequency_at(FREQUENCY_HALF_LIFE_SECS) - 1.0).abs() < 1e-9);
        u.call(FREQUENCY_HALF_LIFE_SECS);
        assert!((u.frequency - 2.0).abs() < 1e-9);
    }
}
