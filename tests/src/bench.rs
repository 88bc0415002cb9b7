//! Small helpers shared by the benchmark binaries (`src/bin/bench_*.rs`).

use std::time::Duration;

/// The `q`-quantile (0..=1) of latencies, sorting them first; zero for none.
pub fn percentile(lat: &mut [Duration], q: f64) -> Duration {
    lat.sort_unstable();
    match lat.len() {
        0 => Duration::ZERO,
        n => lat[((q * n as f64) as usize).min(n - 1)],
    }
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The value of `--name N` among the command-line `args`, or `default`.
pub fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}
