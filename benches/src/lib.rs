//! Shared pieces of the benchmark binaries: timing, statistics, key sets.

use std::time::Instant;

/// Nanosecond latencies of one kind of operation.
#[derive(Default, Clone)]
pub struct Samples(pub Vec<u64>);

impl Samples {
    /// Runs `f` once and records how long it took.
    pub fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.0
            .push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
        out
    }

    /// The `q` quantile (0.0–1.0) in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut v = self.0.clone();
        v.sort_unstable();
        let idx = ((v.len() - 1) as f64 * q).round() as usize;
        v[idx] as f64 / 1000.0
    }

    /// Median, p90, p99 in microseconds.
    pub fn summary(&self) -> (f64, f64, f64) {
        (
            self.quantile_us(0.5),
            self.quantile_us(0.9),
            self.quantile_us(0.99),
        )
    }
}

/// A small deterministic generator (xorshift64*), so every system sees the
/// same sequence.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The byte key number `i`, as the workload uses (short, like python-diskcache's).
pub fn key(i: u64) -> Vec<u8> {
    format!("key-{i:08}").into_bytes()
}

/// A short byte value for key `i`.
pub fn value(i: u64) -> Vec<u8> {
    format!("value-{i:016}-{:032}", i * 7).into_bytes()
}
