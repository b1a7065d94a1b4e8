//! What a case prints and measures: the process's memory, durations, the
//! ROW line.

use std::collections::BTreeMap;
use std::time::Duration;

use super::MAX_GROWTH_KIB;

/// The process's resident memory, in KiB (VmRSS of `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A duration in milliseconds, one decimal under 10 ms.
pub fn ms(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// KiB as MiB, one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Memory growth since `before`, checked against [`MAX_GROWTH_KIB`], as the
/// ROW's last column.
pub fn memory(before: u64) -> String {
    let now = rss_kib();
    let growth = now.saturating_sub(before);
    assert!(
        growth < MAX_GROWTH_KIB,
        "memory grew by {} during the case",
        mib(growth)
    );
    format!("RSS +{} (now {})", mib(growth), mib(now))
}

/// Memory growth since `before`, reported but not bounded (for a case whose
/// own data is large).
pub fn memory_unchecked(before: u64) -> String {
    let now = rss_kib();
    format!(
        "RSS +{} (now {})",
        mib(now.saturating_sub(before)),
        mib(now)
    )
}

/// Prints the case's line: `ROW | case | expected | observed | memory |`.
pub fn row(case: &str, expected: &str, observed: &str, memory: &str) {
    let cell = |s: &str| s.replace('|', "\\|");
    println!(
        "ROW | {} | {} | {} | {} |",
        cell(case),
        cell(expected),
        cell(observed),
        cell(memory)
    );
}

/// A short form of a value's `Debug`, for the table.
pub fn short(v: &impl std::fmt::Debug) -> String {
    let s = format!("{v:?}");
    if s.chars().count() > 140 {
        format!("{}…", s.chars().take(140).collect::<String>())
    } else {
        s
    }
}

/// Tallies values by their `Debug` form: "A ×3, B ×1".
#[derive(Default)]
pub struct Tally(BTreeMap<String, usize>);

impl Tally {
    /// Counts one more `v`.
    pub fn add(&mut self, v: &impl std::fmt::Debug) {
        *self.0.entry(short(v)).or_default() += 1;
    }

    /// The tally as text.
    pub fn text(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        parts.join(", ")
    }
}

/// A number from the environment, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The soft limit on open files.
pub fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}
