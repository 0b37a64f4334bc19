//! A circuit breaker per plugin: after `failures` consecutive failed calls
//! (traps, timeouts, limit hits) calls fail fast with `circuit_open` for
//! `cooldown`; then one probe call is let through (half-open): success closes
//! the circuit, failure opens it again.

use serde::Serialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

pub struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

/// The breaker as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerReport {
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    pub consecutive_failures: u32,
    /// While open: milliseconds until a probe is let through.
    pub retry_in_ms: Option<u64>,
}

impl Breaker {
    /// `threshold` 0 disables the breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker { state: Mutex::new(State::Closed { failures: 0 }), threshold, cooldown }
    }

    /// Ok to call, or the time until the circuit half-opens.
    pub fn check(&self) -> Result<(), Duration> {
        let mut s = self.state.lock().unwrap();
        match *s {
            State::Closed { .. } => Ok(()),
            State::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *s = State::HalfOpen { probing: true };
                    Ok(())
                } else {
                    Err(until - now)
                }
            }
            State::HalfOpen { probing: true } => Err(Duration::from_secs(1)),
            State::HalfOpen { probing: false } => {
                *s = State::HalfOpen { probing: true };
                Ok(())
            }
        }
    }

    pub fn success(&self) {
        *self.state.lock().unwrap() = State::Closed { failures: 0 };
    }

    /// Records a failure; returns true if this opened the circuit.
    pub fn failure(&self) -> bool {
        if self.threshold == 0 {
            return false;
        }
        let mut s = self.state.lock().unwrap();
        let open = match *s {
            State::Closed { failures } => failures + 1 >= self.threshold,
            State::HalfOpen { .. } => true,
            State::Open { .. } => false,
        };
        *s = match *s {
            _ if open => State::Open { until: crate::invoke::deadline(self.cooldown) },
            State::Closed { failures } => State::Closed { failures: failures + 1 },
            other => other,
        };
        open
    }

    pub fn report(&self) -> BreakerReport {
        let s = *self.state.lock().unwrap();
        match s {
            State::Closed { failures } => BreakerReport { state: "closed", consecutive_failures: failures, retry_in_ms: None },
            State::Open { until } => BreakerReport {
                state: "open",
                consecutive_failures: self.threshold,
                retry_in_ms: Some(until.saturating_duration_since(Instant::now()).as_millis() as u64),
            },
            State::HalfOpen { .. } => BreakerReport { state: "half_open", consecutive_failures: self.threshold, retry_in_ms: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_fails_fast_half_opens_and_closes() {
        let b = Breaker::new(3, Duration::from_millis(30));
        assert!(!b.failure() && !b.failure());
        assert!(b.check().is_ok());
        assert!(b.failure(), "third failure opens");
        assert!(b.check().is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.check().is_ok(), "probe allowed after cooldown");
        assert!(b.check().is_err(), "only one probe at a time");
        assert!(b.failure(), "failed probe opens again");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.check().is_ok());
        b.success();
        assert_eq!(b.report().state, "closed");
        assert!(b.check().is_ok());
    }

    #[test]
    fn disabled_with_zero() {
        let b = Breaker::new(0, Duration::from_secs(1));
        for _ in 0..10 {
            assert!(!b.failure());
        }
        assert!(b.check().is_ok());
    }
}
