//! Pressure levels: how full the ledger is against the budget.
//! low < medium ≤ … < high ≤ … < critical, by default at 60 / 75 / 85 % (the
//! TradSys seeds' levels); configurable.

use serde::{Deserialize, Serialize};

/// How close the ledger is to the budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

/// Where each level starts, as a fraction of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    pub medium: f64,
    pub high: f64,
    pub critical: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { medium: 0.60, high: 0.75, critical: 0.85 }
    }
}

impl Thresholds {
    /// Checks 0 < medium < high < critical ≤ 1.
    pub fn validate(&self) -> Result<(), String> {
        let ok = 0.0 < self.medium && self.medium < self.high && self.high < self.critical && self.critical <= 1.0;
        if ok {
            Ok(())
        } else {
            Err(format!(
                "memory levels must satisfy 0 < medium < high < critical <= 1, got {} / {} / {}",
                self.medium, self.high, self.critical
            ))
        }
    }

    pub fn level(&self, used: u64, budget: u64) -> Level {
        let f = if budget == 0 { 1.0 } else { used as f64 / budget as f64 };
        if f >= self.critical {
            Level::Critical
        } else if f >= self.high {
            Level::High
        } else if f >= self.medium {
            Level::Medium
        } else {
            Level::Low
        }
    }

    /// Where pressure relief stops: 5 % of the budget below `high`, never
    /// below `medium`. Evicting all the way to `medium` (as Hostel first did)
    /// threw away a fifth of the budget's warm instances at every crossing,
    /// each one a cold start later; the 5 % keeps the next crossing a few
    /// loads away rather than the very next one.
    pub fn relief_bytes(&self, budget: u64) -> u64 {
        let f = (self.high - 0.05).max(self.medium);
        (budget as f64 * f) as u64
    }

    /// Bytes at which `level` starts.
    pub fn bytes_at(&self, level: Level, budget: u64) -> u64 {
        let f = match level {
            Level::Low => 0.0,
            Level::Medium => self.medium,
            Level::High => self.high,
            Level::Critical => self.critical,
        };
        (budget as f64 * f) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relief_stops_below_high_but_never_below_medium() {
        let t = Thresholds::default();
        assert_eq!(t.relief_bytes(1000), 700);
        assert!(t.level(t.relief_bytes(1000) - 1, 1000) == Level::Medium);
        let close = Thresholds { medium: 0.70, high: 0.72, critical: 0.9 };
        assert_eq!(close.relief_bytes(1000), 700);
    }
}
