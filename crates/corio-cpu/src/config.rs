//! Defaults and the environment variable that overrides the thread count.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The environment variable that sets the default thread count: a whole number from 1 to
/// [`MAX_THREADS_CEILING`].
///
/// It applies to the global pool and to every [`CpuPoolBuilder`](crate::CpuPoolBuilder) that does
/// not call [`threads`](crate::CpuPoolBuilder::threads). A value that does not parse, or is out
/// of range (`0` included), is ignored with one line on stderr, and the default (one thread per
/// core) applies.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_cpu::THREADS_ENV, "CORIO_CPU_THREADS");
/// ```
pub const THREADS_ENV: &str = "CORIO_CPU_THREADS";

/// The largest thread count [`THREADS_ENV`] accepts: 4096. (The builder accepts any value.)
///
/// # Examples
///
/// ```
/// assert_eq!(corio_cpu::MAX_THREADS_CEILING, 4096);
/// ```
pub const MAX_THREADS_CEILING: usize = 4096;

/// Queue slots per thread when the builder does not set
/// [`queue_capacity`](crate::CpuPoolBuilder::queue_capacity): 256.
///
/// Enough that a burst of small jobs keeps every thread busy without its submitters waiting,
/// small enough that a runaway producer is held back long before memory is at risk.
///
/// # Examples
///
/// ```
/// let pool = corio_cpu::CpuPool::builder().threads(2).build();
/// assert_eq!(pool.metrics().queue_capacity, 2 * corio_cpu::DEFAULT_QUEUE_PER_THREAD);
/// ```
pub const DEFAULT_QUEUE_PER_THREAD: usize = 256;

/// How long dropping the last [`CpuPool`](crate::CpuPool) handle waits for running jobs: 1 second.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_cpu::DEFAULT_SHUTDOWN_TIMEOUT, std::time::Duration::from_secs(1));
/// ```
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) const DEFAULT_THREAD_NAME: &str = "corio-cpu";

/// One thread per core, as `std::thread::available_parallelism` reports (1 if it cannot tell),
/// read once per process (on Linux each call reads the cgroup files again).
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The thread count when the builder does not set one: [`THREADS_ENV`], else one per core.
pub(crate) fn default_threads() -> usize {
    threads_from(std::env::var(THREADS_ENV).ok().as_deref(), cores)
}

static WARNED: AtomicBool = AtomicBool::new(false);

pub(crate) fn threads_from(raw: Option<&str>, cores: impl Fn() -> usize) -> usize {
    let Some(raw) = raw else { return cores() };
    match parse_threads(raw) {
        Ok(n) => n,
        Err(why) => {
            let n = cores();
            if !WARNED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "corio-cpu: ignoring {THREADS_ENV}={raw:?}: {why}; using {n} (one per core)"
                );
            }
            n
        }
    }
}

pub(crate) fn parse_threads(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS_CEILING).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from 1 to {MAX_THREADS_CEILING}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_count_parses_and_rejects() {
        assert_eq!(parse_threads("3"), Ok(3));
        assert_eq!(parse_threads(" 4096 "), Ok(4096));
        for bad in ["0", "4097", "-1", "two", ""] {
            assert!(parse_threads(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn env_value_or_one_per_core() {
        assert_eq!(threads_from(None, || 6), 6);
        assert_eq!(threads_from(Some("2"), || 6), 2);
        assert_eq!(threads_from(Some("0"), || 6), 6);
        assert_eq!(threads_from(Some("lots"), || 6), 6);
    }
}
