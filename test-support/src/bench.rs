//! Shared by the benches that report rates beside criterion's timings.

use std::time::{Duration, Instant};

/// Calls per second of `f`, run back to back for three seconds.
pub fn rate(f: &dyn Fn()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(3) {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Rounded to three decimals, for ratios in the result files.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
