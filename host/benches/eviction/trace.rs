//! The eviction benchmark's traces and its offline reference: pure, no host.
//!
//! A trace is `n` calls drawn from a Zipf distribution over the plugins (the
//! plugin at each popularity rank shuffled by the seed), each with a short
//! pause before it; the same seed gives the same trace on every machine
//! (splitmix64, no floating-point libm calls in the draw except `powf` on
//! constants).
#![allow(dead_code)]

/// splitmix64: tiny, seedable, the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One call of a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Index into the plugin list.
    pub plugin: usize,
    /// Pause before the call, in milliseconds.
    pub gap_ms: u32,
}

/// `n` Zipf(`s`) calls over `plugins` plugins; returns the trace and which
/// plugin holds each rank (rank 0 = most popular).
pub fn generate(seed: u64, n: usize, plugins: usize, s: f64, mean_gap_ms: f64) -> (Vec<Step>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let mut by_rank: Vec<usize> = (0..plugins).collect();
    for i in (1..plugins).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        by_rank.swap(i, j);
    }
    let weights: Vec<f64> = (1..=plugins).map(|k| 1.0 / (k as f64).powf(s)).collect();
    let total: f64 = weights.iter().sum();
    let steps = (0..n)
        .map(|_| {
            let mut x = rng.unit() * total;
            let mut rank = plugins - 1;
            for (k, w) in weights.iter().enumerate() {
                if x < *w {
                    rank = k;
                    break;
                }
                x -= w;
            }
            // Exponential pauses, capped so a run stays short.
            let gap = (-(1.0 - rng.unit()).ln() * mean_gap_ms).min(mean_gap_ms * 8.0);
            Step { plugin: by_rank[rank], gap_ms: gap as u32 }
        })
        .collect();
    (steps, by_rank)
}

/// What a cache simulation counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub cold_starts: usize,
    pub cold_secs: f64,
    /// Cold seconds after each plugin's first call.
    pub steady_secs: f64,
    pub evictions: usize,
}

/// Which victim a simulation picks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Knows the future: evicts the instance whose next use is farthest per
    /// second of cold cost and byte freed (never used again: first).
    Reference,
    Lru,
    /// GreedyDual-Size-Frequency: frequency × cost / size, as the host scores
    /// it (counts undecayed: a trace lasts seconds, the half-life is ten
    /// minutes); `inflation` adds the classic clock (it rises to each victim's
    /// score, given as credit on use), which the host dropped.
    Gdsf { inflation: bool },
}

/// Replays `trace` on a cache of `capacity` bytes holding one instance per
/// plugin (`sizes`, `costs` in seconds): a miss costs its plugin's cold
/// cost; room is made by evicting with `rule` only when needed. An instance
/// bigger than the capacity is never kept.
pub fn simulate(trace: &[Step], sizes: &[u64], costs: &[f64], capacity: u64, rule: Rule) -> Outcome {
    let mut out = Outcome::default();
    let mut cached: Vec<bool> = vec![false; sizes.len()];
    let mut last_used: Vec<usize> = vec![0; sizes.len()];
    let mut used = 0u64;
    let (mut clock, mut credit, mut count) = (0.0f64, vec![0.0f64; sizes.len()], vec![0usize; sizes.len()]);
    let mib = |q: usize| (sizes[q] as f64 / (1u64 << 20) as f64).max(1.0 / 16.0);
    // next[i][t]: next index ≥ t where plugin i is called (for the reference).
    let next_use = |plugin: usize, after: usize| -> usize {
        trace[after + 1..].iter().position(|s| s.plugin == plugin).map_or(usize::MAX, |d| after + 1 + d)
    };
    for (t, step) in trace.iter().enumerate() {
        let p = step.plugin;
        last_used[p] = t;
        count[p] += 1;
        credit[p] = clock;
        if cached[p] {
            continue;
        }
        out.cold_starts += 1;
        out.cold_secs += costs[p];
        if count[p] > 1 {
            out.steady_secs += costs[p];
        }
        if sizes[p] > capacity {
            continue;
        }
        while used + sizes[p] > capacity {
            let victim = (0..sizes.len())
                .filter(|&q| cached[q] && q != p)
                .max_by(|&a, &b| {
                    let key = |q: usize| -> f64 {
                        match rule {
                            Rule::Lru => -(last_used[q] as f64),
                            Rule::Gdsf { .. } => -(credit[q] + count[q] as f64 * costs[q] / mib(q)),
                            Rule::Reference => {
                                let distance = next_use(q, t);
                                if distance == usize::MAX {
                                    f64::INFINITY
                                } else {
                                    (distance - t) as f64 * sizes[q] as f64 / costs[q].max(1e-4)
                                }
                            }
                        }
                    };
                    key(a).total_cmp(&key(b)).then(sizes[a].cmp(&sizes[b]))
                })
                .expect("something to evict while over capacity");
            if let Rule::Gdsf { inflation: true } = rule {
                clock = clock.max(credit[victim] + count[victim] as f64 * costs[victim] / mib(victim));
            }
            cached[victim] = false;
            used -= sizes[victim];
            out.evictions += 1;
        }
        cached[p] = true;
        used += sizes[p];
    }
    out
}

/// The generator's and the simulation's own checks, run by the bench before
/// it starts (a bench without the test harness runs no `#[test]`).
pub fn self_check() {
    the_same_seed_gives_the_same_trace_and_zipf_favours_rank_zero();
    the_reference_keeps_the_expensive_instance_lru_does_not();
}

fn the_same_seed_gives_the_same_trace_and_zipf_favours_rank_zero() {
    let (a, ranks) = generate(7, 2000, 10, 1.0, 10.0);
    assert_eq!(a, generate(7, 2000, 10, 1.0, 10.0).0);
    assert_ne!(a, generate(8, 2000, 10, 1.0, 10.0).0);
    let top = a.iter().filter(|s| s.plugin == ranks[0]).count();
    let last = a.iter().filter(|s| s.plugin == ranks[9]).count();
    assert!(top > 4 * last, "{top} vs {last}");
}

fn the_reference_keeps_the_expensive_instance_lru_does_not() {
    // Capacity for two; 0 is expensive and comes back after 1 and 2.
    let trace: Vec<Step> = [0, 1, 2, 0, 1, 2, 0].iter().map(|&p| Step { plugin: p, gap_ms: 0 }).collect();
    let (sizes, costs) = (vec![10, 10, 10], vec![5.0, 0.01, 0.01]);
    let r = simulate(&trace, &sizes, &costs, 20, Rule::Reference);
    let l = simulate(&trace, &sizes, &costs, 20, Rule::Lru);
    assert_eq!(r.cold_starts, 5, "{r:?}");
    assert!((r.cold_secs - 5.04).abs() < 1e-9, "{r:?}");
    assert_eq!(l.cold_starts, 7);
    assert!(l.cold_secs > 15.0);
}
