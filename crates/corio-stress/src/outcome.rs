//! What a scenario tells the driver, and the small statistics it needs.
//!
//! A scenario writes tagged lines on stdout as it goes (so a scenario killed by the watchdog
//! still shows how far it got):
//!
//! - `@figure <text>`: a measured figure, printed in the suite's output;
//! - `@note <text>`: progress, printed with `--verbose` or when the scenario fails;
//! - `@fail <text>`: a broken invariant;
//! - `@verdict PASS` or `@verdict FAIL`, last.

use std::io::Write;
use std::time::Duration;

/// How big a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Size {
    /// The sizes of issue 10 (the full suite, under 5 minutes on 2 cores).
    Full,
    /// Small enough for CI.
    Quick,
    /// Small enough for valgrind (about 50 times slower).
    Valgrind,
}

impl Size {
    /// The value for this size.
    pub(crate) fn pick<T>(self, full: T, quick: T, valgrind: T) -> T {
        match self {
            Size::Full => full,
            Size::Quick => quick,
            Size::Valgrind => valgrind,
        }
    }

    /// The name used on the command line.
    pub(crate) fn as_str(self) -> &'static str {
        self.pick("full", "quick", "valgrind")
    }
}

/// The running verdict of one scenario.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    failures: usize,
}

impl Outcome {
    pub(crate) fn new() -> Outcome {
        Outcome::default()
    }

    /// Reports a figure.
    pub(crate) fn figure(&mut self, text: impl AsRef<str>) {
        emit("@figure", text.as_ref());
    }

    /// Reports progress.
    pub(crate) fn note(&mut self, text: impl AsRef<str>) {
        emit("@note", text.as_ref());
    }

    /// Records a broken invariant.
    pub(crate) fn fail(&mut self, text: impl AsRef<str>) {
        self.failures += 1;
        emit("@fail", text.as_ref());
    }

    /// Records a broken invariant unless `ok`.
    pub(crate) fn check(&mut self, ok: bool, text: impl FnOnce() -> String) {
        if !ok {
            self.fail(text());
        }
    }

    /// Whether an invariant has broken so far.
    pub(crate) fn failed(&self) -> bool {
        self.failures > 0
    }

    /// Prints the verdict; `Err` (a non-zero exit status) on FAIL.
    pub(crate) fn finish(self) -> Result<(), String> {
        if self.failures == 0 {
            emit("@verdict", "PASS");
            Ok(())
        } else {
            emit("@verdict", "FAIL");
            Err(format!("{} invariant(s) broken", self.failures))
        }
    }
}

fn emit(tag: &str, text: &str) {
    let mut out = std::io::stdout().lock();
    for line in text.lines() {
        let _ = writeln!(out, "{tag} {line}");
    }
    let _ = out.flush();
}

/// The `q`-quantile (0.0..=1.0) of sorted samples, by the nearest-rank method.
pub(crate) fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `1234567` as `1,234,567`.
pub(crate) fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as MiB with one decimal.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A duration in the unit that reads best.
pub(crate) fn dur(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        format!("{micros} µs")
    } else if micros < 1_000_000 {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&samples, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&samples, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&samples, 0.0), Duration::from_millis(1));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_000_000), "1,000,000");
    }

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(dur(Duration::from_micros(12)), "12 µs");
        assert_eq!(dur(Duration::from_micros(1500)), "1.50 ms");
        assert_eq!(dur(Duration::from_millis(2500)), "2.50 s");
    }
}
