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

/// Writes a bench's summary to `bench-results/<file>` at the repository root (pretty JSON).
/// Best effort: a bench's numbers are also printed, so a read-only tree loses nothing.
pub fn write_result(file: &str, summary: &serde_json::Value) {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench-results");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join(file), format!("{summary:#}\n"));
}

/// The shipped default appraisal policy's text with one comment more: the same rules, but not
/// the shipped text byte for byte, so the verifier evaluates it in regorus rather than natively
/// (the "before" of a native-policy measurement, in the same run).
pub fn default_policy_for_regorus(default_policy: &str) -> String {
    format!("{default_policy}\n# evaluated by regorus (benchmark)\n")
}
