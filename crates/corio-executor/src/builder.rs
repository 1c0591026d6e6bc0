//! [`Builder`]: how a runtime is configured, and the environment variables that set defaults.
//!
//! A builder call wins over the environment, which wins over the built-in default.

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::context::{Common, EnterHook};
use crate::debug::{DEFAULT_SLOW_POLL, DebugState};
use crate::loom_shim::lock;
use crate::park::{Driver, DriverHandle, SharedDriver, ThreadParkDriver};
use crate::report::{PanicPolicy, Report, ReportHook, default_hook};
use crate::runtime::{LocalRuntime, Runtime};
use crate::{local, multi};

type DriverFactory = Box<dyn FnOnce() -> io::Result<Box<dyn Driver>> + Send>;

/// The most worker threads a multi-threaded runtime accepts (see [`Builder::worker_threads`]):
/// far more than the cores of any machine, and far fewer than the threads that exhaust memory.
///
/// # Examples
///
/// ```
/// let too_many = corio_executor::MAX_WORKER_THREADS + 1;
/// assert!(corio_executor::Builder::new().worker_threads(too_many).build().is_err());
/// ```
pub const MAX_WORKER_THREADS: usize = 4096;

/// Configures and builds a [`Runtime`] (many threads) or a [`LocalRuntime`] (this thread).
///
/// # Examples
///
/// ```
/// use corio_executor::Runtime;
///
/// let rt = Runtime::builder().worker_threads(2).thread_name("app").build()?;
/// assert_eq!(rt.block_on(rt.spawn(async { "hi" })), "hi");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Builder {
    worker_threads: Option<usize>,
    thread_name: String,
    stack_size: Option<usize>,
    driver: Option<DriverFactory>,
    on_enter: Option<EnterHook>,
    panic_policy: PanicPolicy,
    report: ReportHook,
    seed: Option<u64>,
    debug: bool,
    slow_poll: Duration,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("worker_threads", &self.worker_threads)
            .field("thread_name", &self.thread_name)
            .field("panic_policy", &self.panic_policy)
            .field("seed", &self.seed)
            .field("debug", &self.debug)
            .field("slow_poll", &self.slow_poll)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// A builder with the defaults: one worker per core, no driver (threads park on a condition
    /// variable), unobserved panics reported to stderr.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Builder::new().build_local()?;
    /// assert_eq!(rt.block_on(async { 1 }), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Builder {
        Builder {
            worker_threads: None,
            thread_name: "corio-worker".to_owned(),
            stack_size: None,
            driver: None,
            on_enter: None,
            panic_policy: PanicPolicy::default(),
            report: default_hook(),
            seed: None,
            debug: env_flag(DEBUG_ENV),
            slow_poll: env_millis(SLOW_POLL_ENV).unwrap_or(DEFAULT_SLOW_POLL),
        }
    }

    /// Debug mode: the slow-poll (blocking) detector with its watchdog, and the task dump
    /// ([`Handle::dump`](crate::Handle::dump)). Off by default, where it costs nothing;
    /// `CORIO_DEBUG=1` turns it on for every runtime built after.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Builder::new().debug(true).build_local()?;
    /// assert!(rt.handle().is_debug());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn debug(mut self, on: bool) -> Builder {
        self.debug = on;
        self
    }

    /// The slow-poll threshold of debug mode (default 100 ms, or `CORIO_SLOW_POLL_MS`): a single
    /// poll longer than this is reported as a task blocking its thread. Zero is taken as 1 ms
    /// (a threshold of zero would report every poll).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// let reports = Arc::new(Mutex::new(Vec::new()));
    /// let sink = reports.clone();
    /// let rt = corio_executor::Builder::new()
    ///     .debug(true)
    ///     .slow_poll_threshold(Duration::from_millis(10))
    ///     .report_hook(move |r| sink.lock().unwrap().push(r.to_string()))
    ///     .build_local()?;
    /// rt.block_on(async { std::thread::sleep(Duration::from_millis(30)) }); // blocks the loop
    /// assert!(reports.lock().unwrap().iter().any(|r| r.contains("blocked thread")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.slow_poll = if threshold.is_zero() {
            Duration::from_millis(1)
        } else {
            threshold
        };
        self
    }

    fn debug_state(&self) -> Option<Arc<DebugState>> {
        self.debug
            .then(|| DebugState::new(self.slow_poll, self.report.clone()))
    }

    /// The number of worker threads of a multi-threaded runtime. Defaults to the number of cores.
    /// Zero, and more than [`MAX_WORKER_THREADS`], are refused by [`build`](Builder::build) with
    /// an error (tens of thousands of threads exhaust memory for their stacks, and std aborts the
    /// process when it cannot set one up).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Builder::new().worker_threads(2).build()?;
    /// assert_eq!(rt.handle().metrics().workers, 2);
    /// assert!(corio_executor::Builder::new().worker_threads(0).build().is_err());
    /// assert!(corio_executor::Builder::new().worker_threads(1_000_000).build().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn worker_threads(mut self, n: usize) -> Builder {
        self.worker_threads = Some(n);
        self
    }

    /// The name prefix of worker threads; worker `i` is named `"{prefix}-{i}"`.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Builder::new().worker_threads(1).thread_name("app").build()?;
    /// let name = rt.block_on(rt.spawn(async { std::thread::current().name().map(str::to_owned) }));
    /// assert_eq!(name.as_deref(), Some("app-0"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.thread_name = prefix.into();
        self
    }

    /// The stack size of worker threads, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Builder::new().thread_stack_size(32 << 20).build()?;
    /// let len = rt.block_on(rt.spawn(async {
    ///     let big = [1u8; 4 << 20]; // more than the default 2 MiB stack holds
    ///     big.iter().map(|&b| b as usize).sum::<usize>()
    /// }));
    /// assert_eq!(len, 4 << 20);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// The driver that idle threads park in (timers and I/O). The facade `corio` composes one from
    /// `corio-timer` and `corio-reactor`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_executor::{Builder, ThreadParkDriver};
    ///
    /// // What the default does; the facade passes its timer-and-reactor driver here.
    /// let rt = Builder::new()
    ///     .driver(|| Ok(Box::new(ThreadParkDriver::new())))
    ///     .build_local()?;
    /// assert_eq!(rt.block_on(async { 3 }), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn driver(
        mut self,
        make: impl FnOnce() -> io::Result<Box<dyn Driver>> + Send + 'static,
    ) -> Builder {
        self.driver = Some(Box::new(make));
        self
    }

    /// A hook run on every thread that enters the runtime (its workers, and threads inside
    /// [`Runtime::block_on`]); the returned guard is dropped when the thread leaves. The facade uses
    /// it to make the runtime's timer, reactor and blocking pool current there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// thread_local!(static INSIDE: Cell<bool> = const { Cell::new(false) });
    /// struct Leave;
    /// impl Drop for Leave {
    ///     fn drop(&mut self) {
    ///         INSIDE.with(|i| i.set(false));
    ///     }
    /// }
    ///
    /// let rt = corio_executor::Builder::new()
    ///     .on_enter(|| {
    ///         INSIDE.with(|i| i.set(true));
    ///         Box::new(Leave)
    ///     })
    ///     .build()?;
    /// assert!(rt.block_on(async { INSIDE.with(|i| i.get()) }));
    /// assert!(!INSIDE.with(|i| i.get())); // the guard went when `block_on` returned
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn on_enter(mut self, hook: impl Fn() -> Box<dyn Any> + Send + Sync + 'static) -> Builder {
        self.on_enter = Some(Arc::new(hook));
        self
    }

    /// What to do with a panic that no awaiter will ever see. See [`PanicPolicy`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_executor::{Builder, PanicPolicy};
    ///
    /// // The default; `PanicPolicy::Abort` ends the process instead, as a panic on a thread would.
    /// let rt = Builder::new().unobserved_panic(PanicPolicy::Report).build_local()?;
    /// # drop(rt);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unobserved_panic(mut self, policy: PanicPolicy) -> Builder {
        self.panic_policy = policy;
        self
    }

    /// Where reports go (by default: one line each on stderr). See [`Report`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// let reports = Arc::new(Mutex::new(Vec::new()));
    /// let sink = reports.clone();
    /// let rt = corio_executor::Builder::new()
    ///     .report_hook(move |r| sink.lock().unwrap().push(r.to_string()))
    ///     .build_local()?;
    /// rt.block_on(async {
    ///     let task = corio_executor::spawn(async { panic!("nobody awaits this") });
    ///     while !task.is_finished() {
    ///         corio_executor::yield_now().await;
    ///     }
    ///     drop(task); // the panic can no longer reach anyone: it is reported
    /// });
    /// assert!(reports.lock().unwrap()[0].contains("nobody awaits this"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn report_hook(mut self, hook: impl Fn(&Report) + Send + Sync + 'static) -> Builder {
        self.report = Arc::new(hook);
        self
    }

    /// Deterministic scheduling for a [`LocalRuntime`]: among the ready tasks, the next one is
    /// chosen by a generator seeded with `seed`, so the same seed replays the same interleaving
    /// and different seeds explore different ones. Ignored by the multi-threaded runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// fn order(seed: u64) -> Vec<u32> {
    ///     let rt = corio_executor::Builder::new().seed(seed).build_local().unwrap();
    ///     let log = Arc::new(Mutex::new(Vec::new()));
    ///     rt.block_on(async {
    ///         let tasks: Vec<_> = (0..8)
    ///             .map(|i| {
    ///                 let log = log.clone();
    ///                 corio_executor::spawn(async move { log.lock().unwrap().push(i) })
    ///             })
    ///             .collect();
    ///         for task in tasks {
    ///             task.await;
    ///         }
    ///     });
    ///     log.lock().unwrap().clone()
    /// }
    /// assert_eq!(order(7), order(7)); // the same seed replays the same interleaving
    /// ```
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = Some(seed);
        self
    }

    pub(crate) fn local_common(&self, driver: Option<Arc<dyn DriverHandle>>) -> Common {
        Common::new(
            1,
            self.panic_policy,
            self.report.clone(),
            self.on_enter.clone(),
            driver,
            self.debug_state(),
        )
    }

    fn make_driver(&mut self) -> io::Result<Box<dyn Driver>> {
        match self.driver.take() {
            Some(make) => make(),
            None => Ok(Box::new(ThreadParkDriver::new())),
        }
    }

    /// Builds a multi-threaded, work-stealing runtime and starts its worker threads.
    ///
    /// # Errors
    ///
    /// Fails if `worker_threads` is zero, if the driver cannot be created, or if the operating
    /// system refuses to start a thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Builder::new().worker_threads(2).build()?;
    /// assert_eq!(rt.block_on(rt.spawn(async { 1 })), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build(mut self) -> io::Result<Runtime> {
        let workers = match self.worker_threads {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "worker_threads must be at least 1",
                ));
            }
            Some(n) if n > MAX_WORKER_THREADS => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "worker_threads({n}) is more than the {MAX_WORKER_THREADS} a runtime \
                         supports"
                    ),
                ));
            }
            Some(n) => n,
            None => default_workers(),
        };
        if self.thread_name.contains('\0') {
            // std would panic when naming the thread.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "thread_name({:?}) contains a NUL byte, which a thread name cannot hold",
                    self.thread_name
                ),
            ));
        }
        let driver = self.make_driver()?;
        let shared = self.multi_shared(workers, driver, self.on_enter.clone(), self.debug_state());
        let runtime = Runtime {
            shared: shared.clone(),
        };
        for index in 0..workers {
            let mut builder = thread::Builder::new().name(format!("{}-{index}", self.thread_name));
            if let Some(size) = self.stack_size {
                builder = builder.stack_size(size);
            }
            let worker_shared = shared.clone();
            // On error, dropping `runtime` shuts down the workers already started.
            let join = builder.spawn(move || multi::worker_main(worker_shared, index))?;
            lock(&shared.threads).push((join.thread().id(), join));
        }
        Ok(runtime)
    }

    /// The shared state of a multi-threaded runtime of `workers` workers, with no thread
    /// started: the loom models run `multi::worker_main` on loom's threads themselves.
    #[cfg(all(test, loom))]
    pub(crate) fn loom_runtime(self, workers: usize) -> Runtime {
        let driver: Box<dyn Driver> = Box::new(ThreadParkDriver::new());
        Runtime {
            shared: self.multi_shared(workers, driver, None, None),
        }
    }

    /// The shared state of a multi-threaded runtime around `driver`, with no thread started.
    fn multi_shared(
        &self,
        workers: usize,
        driver: Box<dyn Driver>,
        on_enter: Option<EnterHook>,
        debug: Option<Arc<DebugState>>,
    ) -> Arc<multi::Shared> {
        let handle = driver.handle();
        let common = Common::new(
            workers,
            self.panic_policy,
            self.report.clone(),
            on_enter,
            Some(handle.clone()),
            debug,
        );
        Arc::new(multi::Shared::new(
            common,
            workers,
            SharedDriver {
                driver: crate::loom_shim::Mutex::new(Some(driver)),
                handle,
            },
        ))
    }

    /// Builds a single-threaded runtime that runs on the thread that calls its
    /// [`block_on`](LocalRuntime::block_on).
    ///
    /// # Errors
    ///
    /// Fails if the driver cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let rt = corio_executor::Builder::new().build_local()?;
    /// let not_send = Rc::new(5);
    /// assert_eq!(rt.block_on(rt.spawn_local(async move { *not_send })), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build_local(mut self) -> io::Result<LocalRuntime> {
        let driver = self.make_driver()?;
        let common = self.local_common(Some(driver.handle()));
        Ok(LocalRuntime {
            core: local::Core::new(common, driver, self.seed, false),
        })
    }
}

/// The environment variable that turns debug mode on (`1`, `true`, `yes`, `on`).
///
/// # Examples
///
/// ```
/// // `CORIO_DEBUG=1 cargo run` turns debug mode on; a builder call still wins.
/// let rt = corio_executor::Builder::new().debug(false).build_local()?;
/// assert!(!rt.handle().is_debug());
/// assert_eq!(corio_executor::DEBUG_ENV, "CORIO_DEBUG");
/// # Ok::<(), std::io::Error>(())
/// ```
pub const DEBUG_ENV: &str = "CORIO_DEBUG";
/// The environment variable that sets the slow-poll threshold, in milliseconds.
///
/// # Examples
///
/// ```
/// // `CORIO_DEBUG=1 CORIO_SLOW_POLL_MS=20 cargo run` reports polls longer than 20 ms.
/// assert_eq!(corio_executor::SLOW_POLL_ENV, "CORIO_SLOW_POLL_MS");
/// ```
pub const SLOW_POLL_ENV: &str = "CORIO_SLOW_POLL_MS";

/// A boolean environment variable: unset is off; a value neither on nor off is off, and said so on
/// stderr at each runtime built (as a bad value of the other variables is).
fn env_flag(name: &str) -> bool {
    let Ok(v) = std::env::var(name) else {
        return false;
    };
    parse_flag(&v).unwrap_or_else(|| {
        eprintln!(
            "corio: ignoring {name}={v:?}: expected 1, true, yes or on (or 0, false, no, off)"
        );
        false
    })
}

fn parse_flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

fn env_millis(name: &str) -> Option<Duration> {
    let v = std::env::var(name).ok()?;
    let parsed = parse_threshold_ms(&v);
    if let Err(why) = &parsed {
        eprintln!("corio: ignoring {name}={v:?}: {why}");
    }
    parsed.ok()
}

/// A slow-poll threshold in whole milliseconds, at least 1 (0 would report every poll).
fn parse_threshold_ms(v: &str) -> Result<Duration, &'static str> {
    match v.trim().parse::<u64>() {
        Ok(0) => Err("a threshold of 0 would report every poll; the least is 1"),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => Err("not a whole number of milliseconds"),
    }
}

pub(crate) fn default_workers() -> usize {
    available_cores()
}

/// The number of cores this process may use, as `std::thread::available_parallelism` reports
/// (1 if it cannot tell), read once per process: on Linux each call reads the cgroup files
/// again, which made building a runtime several times slower than running a task on it.
///
/// # Examples
///
/// ```
/// assert!(corio_executor::available_cores() >= 1);
/// ```
pub fn available_cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn flags_are_on_off_or_rejected() {
        // Probe R: `CORIO_DEBUG=2` or `=enable` left debug mode off without a word.
        for on in ["1", "true", "YES", " on "] {
            assert_eq!(parse_flag(on), Some(true), "{on:?}");
        }
        for off in ["0", "false", "No", "off", ""] {
            assert_eq!(parse_flag(off), Some(false), "{off:?}");
        }
        for bad in ["2", "enable", "y"] {
            assert_eq!(parse_flag(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_zero_slow_poll_threshold_is_refused() {
        // Probe R: `CORIO_SLOW_POLL_MS=0` reported every poll as blocking its thread.
        assert!(parse_threshold_ms("0").is_err());
        assert!(parse_threshold_ms("x").is_err());
        assert_eq!(parse_threshold_ms(" 20 "), Ok(Duration::from_millis(20)));
        let b = Builder::new().slow_poll_threshold(Duration::ZERO);
        assert_eq!(b.slow_poll, Duration::from_millis(1));
    }
}
