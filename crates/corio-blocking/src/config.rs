//! How a pool is configured: [`PoolBuilder`], the defaults, and the environment variables that
//! override them. An explicit builder call wins over the environment, which wins over the
//! default.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::pool::Pool;

/// The environment variable that sets the default thread limit: a whole number from 1 to
/// [`MAX_THREADS_CEILING`].
///
/// It applies to the global pool and to every [`PoolBuilder`](crate::PoolBuilder) that does not
/// call [`max_threads`](crate::PoolBuilder::max_threads). A value that does not parse, or is out
/// of range, is ignored with one line on stderr.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_blocking::THREADS_ENV, "CORIO_BLOCKING_THREADS");
/// ```
pub const THREADS_ENV: &str = "CORIO_BLOCKING_THREADS";

/// The environment variable that sets the default keep-alive, in milliseconds (a whole number;
/// `0` is allowed).
///
/// It applies like [`THREADS_ENV`]: to the global pool and to builders that do not call
/// [`keep_alive`](crate::PoolBuilder::keep_alive). A bad value is ignored with one line on
/// stderr.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_blocking::KEEP_ALIVE_ENV, "CORIO_BLOCKING_KEEP_ALIVE_MS");
/// ```
pub const KEEP_ALIVE_ENV: &str = "CORIO_BLOCKING_KEEP_ALIVE_MS";

/// The default thread limit: 512.
///
/// The pool exists for work that *waits* (files, DNS, a sync database driver, a child process),
/// not for work that computes. Waiting threads cost memory, not CPU, and a low limit turns one
/// slow call into a queue behind it: with asyncio's `min(32, cpus + 4)`, six hung DNS lookups
/// stall every file read of a two-core server, and a job that waits for another job can
/// deadlock. So the limit is a guard against runaway growth, like tokio's 512 and smol's 500, and
/// idle threads go away after the keep-alive. To bound CPU-heavy work, build a small dedicated
/// [`Pool`](crate::Pool) or put a semaphore in front of it.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_blocking::DEFAULT_MAX_THREADS, 512);
/// ```
pub const DEFAULT_MAX_THREADS: usize = 512;

/// The largest thread limit [`THREADS_ENV`] accepts: 10 000. (The builder accepts any value.)
///
/// # Examples
///
/// ```
/// assert!(corio_blocking::DEFAULT_MAX_THREADS <= corio_blocking::MAX_THREADS_CEILING);
/// ```
pub const MAX_THREADS_CEILING: usize = 10_000;

/// The default keep-alive: 10 seconds, as in tokio.
///
/// Long enough that a bursty program (a batch of file reads every few seconds) reuses its threads
/// instead of spawning new ones each time; short enough that a one-off burst does not leave
/// hundreds of idle threads behind for long. smol's 500 ms makes threads churn under such loads.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_blocking::DEFAULT_KEEP_ALIVE, std::time::Duration::from_secs(10));
/// ```
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How long dropping the last [`Pool`](crate::Pool) handle waits for its threads: 1 second.
///
/// See [`PoolBuilder::shutdown_timeout`](crate::PoolBuilder::shutdown_timeout).
///
/// # Examples
///
/// ```
/// assert_eq!(corio_blocking::DEFAULT_SHUTDOWN_TIMEOUT, std::time::Duration::from_secs(1));
/// ```
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// Builds a [`Pool`] with a thread limit, keep-alive, thread names and shutdown bound.
///
/// Settings left unset come from the environment ([`THREADS_ENV`](crate::THREADS_ENV),
/// [`KEEP_ALIVE_ENV`](crate::KEEP_ALIVE_ENV)) and then from the defaults
/// ([`DEFAULT_MAX_THREADS`](crate::DEFAULT_MAX_THREADS),
/// [`DEFAULT_KEEP_ALIVE`](crate::DEFAULT_KEEP_ALIVE)). An explicit builder call always wins over
/// the environment.
///
/// # Examples
///
/// ```
/// use corio_blocking::PoolBuilder;
/// use std::time::Duration;
///
/// let pool = PoolBuilder::new().max_threads(2).keep_alive(Duration::from_millis(100)).build();
/// assert_eq!(pool.metrics().max_threads, 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct PoolBuilder {
    max_threads: Option<usize>,
    keep_alive: Option<Duration>,
    thread_name: Option<String>,
    stack_size: Option<usize>,
    shutdown_timeout: Option<Duration>,
}

impl PoolBuilder {
    /// A builder with nothing set: the environment and the defaults apply.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_blocking::PoolBuilder::new().build();
    /// assert!(pool.metrics().max_threads >= 1);
    /// ```
    pub fn new() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// Sets the most threads the pool may run at once. `0` is treated as `1`.
    ///
    /// The default is [`DEFAULT_MAX_THREADS`](crate::DEFAULT_MAX_THREADS), or the value of
    /// [`THREADS_ENV`](crate::THREADS_ENV) when that is set and valid.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_blocking::Pool::builder().max_threads(0).build();
    /// assert_eq!(pool.metrics().max_threads, 1);
    /// ```
    pub fn max_threads(mut self, n: usize) -> PoolBuilder {
        self.max_threads = Some(n.max(1));
        self
    }

    /// Sets how long an idle thread waits for a job before it exits.
    ///
    /// `Duration::ZERO` makes threads exit as soon as the queue is empty; `Duration::MAX` keeps
    /// them forever. The default is [`DEFAULT_KEEP_ALIVE`](crate::DEFAULT_KEEP_ALIVE), or the
    /// value of [`KEEP_ALIVE_ENV`](crate::KEEP_ALIVE_ENV) when that is set and valid.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = corio_blocking::Pool::builder().keep_alive(Duration::from_millis(50)).build();
    /// assert_eq!(pool.metrics().keep_alive, Duration::from_millis(50));
    /// ```
    pub fn keep_alive(mut self, keep_alive: Duration) -> PoolBuilder {
        self.keep_alive = Some(keep_alive);
        self
    }

    /// Sets the prefix of the threads' names: threads are called `{prefix}-{n}`.
    ///
    /// The default prefix is `corio-blocking`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_blocking::Pool::builder().thread_name("db").build();
    /// let name = futures_lite::future::block_on(pool.unblock(|| {
    ///     std::thread::current().name().unwrap().to_owned()
    /// }));
    /// assert!(name.starts_with("db-"));
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> PoolBuilder {
        self.thread_name = Some(prefix.into());
        self
    }

    /// Sets the stack size of the pool's threads, in bytes.
    ///
    /// The default is the standard library's (2 MiB, or `RUST_MIN_STACK`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_blocking::Pool::builder().stack_size(4 << 20).build();
    /// assert_eq!(futures_lite::future::block_on(pool.unblock(|| 1 + 1)), 2);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> PoolBuilder {
        self.stack_size = Some(bytes);
        self
    }

    /// Sets how long dropping the last [`Pool`] handle waits for the threads to exit.
    ///
    /// Dropping the last handle calls [`Pool::shutdown`] with this bound. The default,
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::DEFAULT_SHUTDOWN_TIMEOUT), is long enough for queued
    /// file writes to land and short enough that a job stuck in, say, a read of stdin cannot hang
    /// the program's exit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = corio_blocking::Pool::builder().shutdown_timeout(Duration::ZERO).build();
    /// drop(pool); // signals the threads and returns at once
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> PoolBuilder {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Creates the pool. No thread starts until the first job arrives.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_blocking::PoolBuilder::new().build();
    /// assert_eq!(pool.metrics().threads_alive, 0);
    /// ```
    pub fn build(self) -> Pool {
        let env = from_env();
        let config = Config {
            max_threads: self.max_threads.unwrap_or(env.max_threads),
            keep_alive: self.keep_alive.unwrap_or(env.keep_alive),
            thread_name: self
                .thread_name
                .unwrap_or_else(|| DEFAULT_THREAD_NAME.to_owned()),
            stack_size: self.stack_size,
            shutdown_timeout: self.shutdown_timeout.unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
        };
        Pool::with_config(config, false)
    }
}

pub(crate) const DEFAULT_THREAD_NAME: &str = "corio-blocking";

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) thread_name: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) shutdown_timeout: Duration,
}

/// The limit and keep-alive that apply when the builder does not set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EnvDefaults {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
}

pub(crate) fn from_env() -> Config {
    let d = env_defaults(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()));
    Config {
        max_threads: d.max_threads,
        keep_alive: d.keep_alive,
        thread_name: DEFAULT_THREAD_NAME.to_owned(),
        stack_size: None,
        shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
    }
}

static THREADS_WARNED: AtomicBool = AtomicBool::new(false);
static KEEP_ALIVE_WARNED: AtomicBool = AtomicBool::new(false);

pub(crate) fn env_defaults(lookup: impl Fn(&str) -> Option<String>) -> EnvDefaults {
    let mut out = EnvDefaults {
        max_threads: DEFAULT_MAX_THREADS,
        keep_alive: DEFAULT_KEEP_ALIVE,
    };
    if let Some(raw) = lookup(THREADS_ENV) {
        match parse_threads(&raw) {
            Ok(n) => out.max_threads = n,
            Err(why) => warn_once(
                &THREADS_WARNED,
                format_args!(
                    "corio-blocking: ignoring {THREADS_ENV}={raw:?}: {why}; \
                     using {DEFAULT_MAX_THREADS}"
                ),
            ),
        }
    }
    if let Some(raw) = lookup(KEEP_ALIVE_ENV) {
        match parse_keep_alive(&raw) {
            Ok(d) => out.keep_alive = d,
            Err(why) => warn_once(
                &KEEP_ALIVE_WARNED,
                format_args!(
                    "corio-blocking: ignoring {KEEP_ALIVE_ENV}={raw:?}: {why}; using {} ms",
                    DEFAULT_KEEP_ALIVE.as_millis()
                ),
            ),
        }
    }
    out
}

pub(crate) fn parse_threads(raw: &str) -> Result<usize, String> {
    let expected = format!("expected a whole number from 1 to {MAX_THREADS_CEILING}");
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS_CEILING).contains(&n) => Ok(n),
        _ => Err(expected),
    }
}

pub(crate) fn parse_keep_alive(raw: &str) -> Result<Duration, String> {
    raw.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| "expected a whole number of milliseconds".to_owned())
}

/// Prints `msg` to stderr the first time `flag` is seen unset.
pub(crate) fn warn_once(flag: &AtomicBool, msg: fmt::Arguments<'_>) {
    if !flag.swap(true, Ordering::Relaxed) {
        eprintln!("{msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_limit_parses_and_rejects() {
        assert_eq!(parse_threads("4"), Ok(4));
        assert_eq!(parse_threads(" 10000 "), Ok(10_000));
        assert!(parse_threads("0").is_err());
        assert!(parse_threads("10001").is_err());
        assert!(parse_threads("-3").is_err());
        assert!(parse_threads("many").is_err());
        assert!(parse_threads("").is_err());
    }

    #[test]
    fn keep_alive_parses_and_rejects() {
        assert_eq!(parse_keep_alive("0"), Ok(Duration::ZERO));
        assert_eq!(parse_keep_alive("250"), Ok(Duration::from_millis(250)));
        assert!(parse_keep_alive("1.5").is_err());
        assert!(parse_keep_alive("soon").is_err());
    }

    #[test]
    fn env_values_override_defaults_and_bad_ones_are_ignored() {
        let env = |threads: &'static str, keep: &'static str| {
            move |name: &str| match name {
                THREADS_ENV => Some(threads.to_owned()),
                KEEP_ALIVE_ENV => Some(keep.to_owned()),
                _ => None,
            }
        };
        assert_eq!(
            env_defaults(env("7", "30")),
            EnvDefaults {
                max_threads: 7,
                keep_alive: Duration::from_millis(30)
            }
        );
        assert_eq!(
            env_defaults(env("lots", "x")),
            EnvDefaults {
                max_threads: DEFAULT_MAX_THREADS,
                keep_alive: DEFAULT_KEEP_ALIVE
            }
        );
        assert_eq!(
            env_defaults(|_| None),
            EnvDefaults {
                max_threads: DEFAULT_MAX_THREADS,
                keep_alive: DEFAULT_KEEP_ALIVE
            }
        );
    }
}
