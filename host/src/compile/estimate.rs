//! How much memory a compile will take, before it starts.
//!
//! Measured on this machine (docs/compile.md): a worker's peak RSS is a
//! fixed part (the process and its engine, ~20 MiB) plus ~37 bytes per byte
//! of function bodies plus ~300 bytes per byte of the largest bodies being
//! compiled at once (one per thread: Cranelift's memory grows with the
//! function; pdf-text has one 533 KB function and peaks at 212 MiB, where
//! caption-minilm with 3.6 MB of code in smaller functions peaks at 154 MiB).
//! Each measured compile corrects the model: a factor that rises at once to
//! any underestimate and falls slowly, so the next reservation is closer.
//! In-process compiles are not measured (their memory mixes with the
//! host's); they use the model with a smaller fixed part.

use super::inspect::CodeProfile;
use super::Mode;
use std::sync::Mutex;

/// Head-room on top of the model.
const MARGIN: f64 = 1.10;
const PER_CODE_BYTE: f64 = 37.0;
const PER_LARGEST_BYTE: f64 = 300.0;

pub(crate) struct Estimates {
    base: u64,
    inner: Mutex<Inner>,
}

struct Inner {
    /// Measured peak / modelled peak, smoothed (rises at once, falls slowly).
    factor: f64,
    samples: u64,
    last_error: f64,
}

/// The estimator's state, for the memory report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EstimateReport {
    pub base_bytes: u64,
    pub bytes_per_code_byte: f64,
    pub bytes_per_largest_function_byte: f64,
    /// Correction learnt from measured compiles (1.0: the model as is).
    pub factor: f64,
    pub measured_compiles: u64,
    /// Last measured peak / its estimate.
    pub last_measured_over_estimated: f64,
}

impl Estimates {
    pub fn new(mode: Mode) -> Estimates {
        let base = match mode {
            Mode::Process => 20 << 20,
            Mode::InProcess => 4 << 20,
        };
        Estimates { base, inner: Mutex::new(Inner { factor: 1.0, samples: 0, last_error: 0.0 }) }
    }

    fn model(&self, p: &CodeProfile) -> f64 {
        self.base as f64 + PER_CODE_BYTE * p.code_bytes as f64 + PER_LARGEST_BYTE * p.largest_bytes as f64
    }

    /// Bytes to reserve for compiling a component with this profile.
    pub fn estimate(&self, p: &CodeProfile) -> u64 {
        let factor = self.inner.lock().unwrap().factor;
        (self.model(p) * factor * MARGIN) as u64
    }

    /// The estimate without head-room: what the compile is expected to take.
    pub fn expected(&self, p: &CodeProfile) -> u64 {
        let factor = self.inner.lock().unwrap().factor;
        (self.model(p) * factor) as u64
    }

    /// Learns from a measured worker peak.
    pub fn calibrate(&self, p: &CodeProfile, peak: u64) {
        if peak == 0 {
            return;
        }
        let error = peak as f64 / self.model(p);
        let mut inner = self.inner.lock().unwrap();
        inner.samples += 1;
        inner.last_error = peak as f64 / (self.model(p) * inner.factor * MARGIN);
        inner.factor = if error > inner.factor { error } else { 0.8 * inner.factor + 0.2 * error }.clamp(0.5, 4.0);
    }

    pub fn report(&self) -> EstimateReport {
        let inner = self.inner.lock().unwrap();
        EstimateReport {
            base_bytes: self.base,
            bytes_per_code_byte: PER_CODE_BYTE,
            bytes_per_largest_function_byte: PER_LARGEST_BYTE,
            factor: inner.factor,
            measured_compiles: inner.samples,
            last_measured_over_estimated: inner.last_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underestimates_raise_the_factor_at_once_overestimates_lower_it_slowly() {
        let e = Estimates::new(Mode::Process);
        let p = CodeProfile { code_bytes: 1 << 20, largest_bytes: 64 << 10, functions: 100 };
        let model = e.model(&p);
        assert_eq!(e.estimate(&p), (model * MARGIN) as u64);
        e.calibrate(&p, (model * 1.5) as u64);
        assert!((e.report().factor - 1.5).abs() < 1e-9);
        e.calibrate(&p, (model * 1.0) as u64);
        let f = e.report().factor;
        assert!(f < 1.5 && f > 1.3, "{f}");
        assert_eq!(e.report().measured_compiles, 2);
    }
}
