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

/// A deterministic pseudo-random generator (xorshift64*), so benches need no RNG dependency and
/// every run writes the same data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Roughly normal (sum of uniforms), mean 0, variance 1.
    pub fn normal(&mut self) -> f32 {
        let s: f64 = (0..12).map(|_| (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64).sum();
        (s - 6.0) as f32
    }
}

const WORDS: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "meeting",
    "project",
    "deadline",
    "coffee",
    "travel",
    "flight",
    "hotel",
    "berlin",
    "tokyo",
    "budget",
    "report",
    "dinner",
    "birthday",
    "gift",
    "doctor",
    "appointment",
    "running",
    "marathon",
    "guitar",
    "lesson",
    "garden",
    "tomato",
    "recipe",
    "pasta",
    "allergy",
    "peanut",
    "dog",
    "walk",
    "park",
    "book",
    "novel",
    "movie",
    "concert",
    "ticket",
    "weekend",
    "beach",
    "mountain",
    "hiking",
    "camera",
    "photo",
    "painting",
    "museum",
    "client",
    "contract",
    "invoice",
    "server",
    "database",
    "deploy",
    "release",
    "bug",
    "feature",
    "review",
    "prefers",
    "likes",
    "dislikes",
    "remembers",
    "planned",
    "visited",
    "bought",
    "sold",
    "morning",
    "evening",
    "monday",
    "friday",
    "summer",
    "winter",
    "family",
    "sister",
    "brother",
    "friend",
    "colleague",
    "team",
];

/// A sentence of `min..=max` words drawn from a fixed vocabulary.
pub fn sentence(rng: &mut Rng, min: usize, max: usize) -> String {
    let n = min + rng.below(max - min + 1);
    (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect::<Vec<_>>().join(" ")
}

/// CPU time (user + system) that the processes `pids` have used so far, from `/proc`. Benches
/// report CPU per operation beside throughput: on a shared 2-core machine the throughput of
/// back-to-back runs swings by a third, the CPU one write costs much less.
pub fn cpu_time(pids: &[u32]) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let total: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the parenthesised command name (which may hold spaces): state is
            // field 3, utime and stime are fields 14 and 15.
            let rest = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    Duration::from_secs_f64(total as f64 / ticks)
}

/// Resident memory of process `pid` (VmRSS, from `/proc`), in bytes.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse::<u64>().ok()?;
    Some(kb * 1024)
}
