//! Runtimes with timers, sockets and a blocking pool wired in.

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Duration;

use corio_blocking::Pool;
use corio_cpu::CpuPool;
use corio_executor::{Handle, PanicPolicy, Report, Task};
use corio_reactor::Reactor;
use corio_timer::{Clock, Timer};

use std::sync::{Arc, OnceLock};

use crate::driver::{Stack, StackHandle};

/// Configures a [`Runtime`] (many threads) or a [`LocalRuntime`] (this thread).
///
/// # Examples
///
/// ```
/// let rt = corio::Runtime::builder().worker_threads(2).build()?;
/// let out = rt.block_on(async {
///     corio::sleep(std::time::Duration::from_millis(1)).await;
///     "done"
/// });
/// assert_eq!(out, "done");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Builder {
    exec: corio_executor::Builder,
    pool: corio_blocking::PoolBuilder,
    cpu: corio_cpu::CpuPoolBuilder,
    /// The CPU pool's thread count asked for, so that `build` can refuse zero.
    cpu_threads: Option<usize>,
    clock: Option<Clock>,
    seed: Option<u64>,
    /// The worker count asked for (`None`: one per core), to size the timer's shards.
    workers: Option<usize>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("exec", &self.exec)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: one worker per core, the real clock, a blocking pool configured from the
    /// environment (`CORIO_BLOCKING_THREADS`), unobserved panics reported to stderr.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Builder::new().build_local()?;
    /// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Builder {
        Builder {
            exec: corio_executor::Builder::new(),
            pool: Pool::builder().thread_name("corio-blocking"),
            cpu: CpuPool::builder().thread_name("corio-cpu"),
            cpu_threads: None,
            clock: None,
            seed: None,
            workers: None,
        }
    }

    /// The number of worker threads (multi-threaded runtime). Zero, and more than 4,096, are
    /// refused by `build` with an `InvalidInput` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Builder::new().worker_threads(2).build()?;
    /// assert_eq!(rt.metrics().workers, 2);
    /// assert!(corio::Builder::new().worker_threads(0).build().is_err());
    /// assert!(corio::Builder::new().worker_threads(20_000).build().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn worker_threads(mut self, n: usize) -> Builder {
        self.workers = Some(n);
        self.exec = self.exec.worker_threads(n);
        self
    }

    /// The name prefix of worker threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Builder::new().worker_threads(1).thread_name("web").build()?;
    /// let name = rt.block_on(rt.spawn(async {
    ///     std::thread::current().name().map(str::to_owned)
    /// }));
    /// assert_eq!(name.as_deref(), Some("web-0")); // worker `i` is named "{prefix}-{i}"
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.exec = self.exec.thread_name(prefix);
        self
    }

    /// The stack size of worker threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Builder::new().thread_stack_size(4 << 20).build()?;
    /// assert_eq!(rt.block_on(rt.spawn(async { 7 })), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.exec = self.exec.thread_stack_size(bytes);
        self
    }

    /// The most threads the blocking pool (`to_thread`, files, DNS) may start. Zero is taken
    /// as one (a pool with no thread could never run a job).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Builder::new().blocking_threads(1).build_local()?;
    /// // Called inside the runtime, so the job goes to its pool (called as the argument of
    /// // `block_on`, before the runtime is entered, it would go to the global pool).
    /// let sum = rt.block_on(async { corio::to_thread(|| (1..=10u32).sum::<u32>()).await });
    /// assert_eq!(sum, 55);
    /// assert_eq!(rt.metrics().blocking_threads_alive, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn blocking_threads(mut self, n: usize) -> Builder {
        self.pool = self.pool.max_threads(n);
        self
    }

    /// The number of threads of the CPU pool behind [`spawn_cpu`](crate::spawn_cpu) (default:
    /// one per core, or `CORIO_CPU_THREADS`). Zero is refused by `build` and `build_local`.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Runtime::builder().cpu_threads(1).build()?;
    /// let answer = rt.block_on(async { corio::spawn_cpu(|| 6 * 7).await });
    /// assert_eq!(answer, 42);
    /// assert_eq!(rt.metrics().cpu_completed, 1);
    /// assert!(corio::Runtime::builder().cpu_threads(0).build().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn cpu_threads(mut self, n: usize) -> Builder {
        self.cpu_threads = Some(n);
        self.cpu = self.cpu.threads(n);
        self
    }

    /// How long an idle blocking thread waits for work before it exits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = corio::Builder::new().blocking_keep_alive(Duration::from_millis(1)).build_local()?;
    /// rt.block_on(async { corio::to_thread(|| ()).await }); // on `rt`'s pool
    /// // The idle thread exits about 1 ms after its job.
    /// let deadline = Instant::now() + Duration::from_secs(10);
    /// while rt.metrics().blocking_threads_alive > 0 && Instant::now() < deadline {
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// assert_eq!(rt.metrics().blocking_threads_alive, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.pool = self.pool.keep_alive(keep_alive);
        self
    }

    /// Debug mode: a slow-poll (blocking) detector with a watchdog, and task dumps
    /// ([`crate::dump`]). Also on when `CORIO_DEBUG=1`. Off, it costs nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Builder::new().debug(true).build_local()?;
    /// let dump = rt.block_on(async {
    ///     let _idle = corio::task::Builder::new().name("idler").spawn(std::future::pending::<()>());
    ///     corio::yield_now().await;
    ///     corio::dump()
    /// });
    /// assert!(dump.to_string().contains("idler"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn debug(mut self, on: bool) -> Builder {
        self.exec = self.exec.debug(on);
        self
    }

    /// The slow-poll threshold of debug mode (default 100 ms, or `CORIO_SLOW_POLL_MS`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// let reports = Arc::new(Mutex::new(Vec::new()));
    /// let sink = reports.clone();
    /// let rt = corio::Builder::new()
    ///     .debug(true)
    ///     .slow_poll_threshold(Duration::from_millis(2))
    ///     .report_hook(move |r| sink.lock().unwrap().push(r.to_string()))
    ///     .build_local()?;
    /// rt.block_on(async { std::thread::sleep(Duration::from_millis(10)) }); // blocks the loop
    /// assert!(reports.lock().unwrap().iter().any(|r| r.contains("blocked thread")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.exec = self.exec.slow_poll_threshold(threshold);
        self
    }

    /// What to do with a panic that no awaiter will ever see (default: report and go on).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let reported = Arc::new(AtomicUsize::new(0));
    /// let count = reported.clone();
    /// let rt = corio::Builder::new()
    ///     .unobserved_panic(corio::PanicPolicy::Report) // the default; `Abort` ends the process
    ///     .report_hook(move |_| { count.fetch_add(1, Ordering::SeqCst); })
    ///     .build_local()?;
    /// rt.block_on(async {
    ///     corio::spawn(async { panic!("nobody awaits this task") }).detach();
    ///     corio::yield_now().await;
    /// });
    /// assert_eq!(reported.load(Ordering::SeqCst), 1); // reported, and the runtime went on
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unobserved_panic(mut self, policy: PanicPolicy) -> Builder {
        self.exec = self.exec.unobserved_panic(policy);
        self
    }

    /// Where reports go (default: one line each on stderr).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// let reports = Arc::new(Mutex::new(Vec::new()));
    /// let sink = reports.clone();
    /// let rt = corio::Builder::new()
    ///     .report_hook(move |report: &corio::Report| sink.lock().unwrap().push(report.to_string()))
    ///     .build_local()?;
    /// rt.block_on(async {
    ///     corio::spawn(async { panic!("boom") }).detach();
    ///     corio::yield_now().await;
    /// });
    /// let reports = reports.lock().unwrap();
    /// assert!(reports[0].contains("panicked and nobody awaited it: boom"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn report_hook(mut self, hook: impl Fn(&Report) + Send + Sync + 'static) -> Builder {
        self.exec = self.exec.report_hook(hook);
        self
    }

    /// Starts with a paused, virtual clock: time moves only through
    /// [`time::advance`](crate::time::advance).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = corio::Builder::new().paused_clock().build_local()?;
    /// rt.block_on(async {
    ///     let t0 = corio::time::now();
    ///     let sleeper = corio::spawn(corio::sleep(Duration::from_secs(10)));
    ///     corio::time::advance(Duration::from_secs(10)).await; // no real waiting
    ///     sleeper.await;
    ///     assert_eq!(corio::time::now() - t0, Duration::from_secs(10));
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn paused_clock(mut self) -> Builder {
        self.clock = Some(Clock::new_paused(false));
        self
    }

    /// Deterministic mode (for [`build_local`](Builder::build_local)): virtual time that jumps to
    /// the next timer whenever the loop is idle (or has stayed busy for about 62,000 polls, so
    /// that a timeout around a task that never waits still fires), and a seeded choice among
    /// ready tasks, so the same seed replays the same interleaving. A seed needs one thread:
    /// [`build`](Builder::build) refuses it with an `InvalidInput` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = corio::Builder::new().deterministic(42).build_local()?;
    /// let waited = rt.block_on(async {
    ///     let t0 = corio::time::now();
    ///     corio::sleep(Duration::from_secs(3600)).await; // virtual: the clock jumps when idle
    ///     corio::time::now() - t0
    /// });
    /// assert_eq!(waited, Duration::from_secs(3600));
    /// let refused = corio::Builder::new().deterministic(42).build().unwrap_err();
    /// assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn deterministic(mut self, seed: u64) -> Builder {
        self.clock = Some(Clock::new_paused(true));
        self.seed = Some(seed);
        self.exec = self.exec.seed(seed);
        self
    }

    /// `timer_shards`: how many wheels the timer gets (see `corio_timer::TimerDriver::with_shards`);
    /// `local`: for a local runtime (one thread, which drives everything).
    fn parts(
        self,
        timer_shards: usize,
        local: bool,
    ) -> (
        corio_executor::Builder,
        Pool,
        CpuPool,
        Arc<OnceLock<Arc<StackHandle>>>,
    ) {
        // Retry jitter draws from the runtime's randomness (seeded in deterministic mode).
        corio_timer::set_random_source(corio_executor::random_u64);
        let pool = self.pool.build();
        let cpu = self.cpu.build();
        let driver_cpu = cpu.clone();
        let clock = self.clock.unwrap_or_default();
        let driver_pool = pool.clone();
        let stack = Arc::new(OnceLock::new());
        let slot = stack.clone();
        let seed = self.seed;
        let exec = self.exec.driver(move || {
            let driver = Stack::new(clock, driver_pool, driver_cpu, timer_shards, local, seed)?;
            let _ = slot.set(driver.stack_handle());
            Ok(Box::new(driver) as Box<dyn corio_executor::Driver>)
        });
        (exec, pool, cpu, stack)
    }

    fn check_cpu_threads(&self) -> io::Result<()> {
        if self.cpu_threads == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cpu_threads must be at least 1",
            ));
        }
        Ok(())
    }

    /// Builds a multi-threaded, work-stealing runtime.
    ///
    /// # Errors
    ///
    /// Fails if `worker_threads` or `cpu_threads` is zero, if
    /// [`deterministic`](Builder::deterministic) was asked
    /// for (threads would make the interleaving unrepeatable: use
    /// [`build_local`](Builder::build_local)), or if the OS refuses a thread or a poller.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Builder::new().worker_threads(2).build()?;
    /// let task = rt.spawn(async { std::thread::current().name().map(str::to_owned) });
    /// assert!(rt.block_on(task).is_some_and(|name| name.starts_with("corio-worker")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build(self) -> io::Result<Runtime> {
        self.check_cpu_threads()?;
        if let Some(seed) = self.seed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "deterministic mode (seed {seed}) runs on one thread: use build_local(), \
                     not build()"
                ),
            ));
        }
        // One wheel per worker, plus one for the threads in `block_on`, so that workers do not
        // contend for the timer's lock. Virtual time keeps one wheel: its tests want timers with
        // the same deadline to fire in the order they were registered, whichever thread did.
        let shards = if self.clock.as_ref().is_some_and(Clock::is_paused) {
            1
        } else {
            self.workers
                .unwrap_or_else(corio_executor::available_cores)
                .saturating_add(1)
        };
        let (exec, pool, cpu, stack) = self.parts(shards, false);
        let inner = exec.build()?;
        Ok(Runtime {
            inner: Some(inner),
            pool,
            cpu,
            stack: stack.get().cloned(),
        })
    }

    /// Builds a single-threaded runtime that runs on the thread calling its `block_on`.
    ///
    /// # Errors
    ///
    /// Fails if `cpu_threads` is zero, or if the OS refuses a poller.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Builder::new().build_local()?;
    /// let here = std::thread::current().id();
    /// let task = rt.spawn_local(async move { std::thread::current().id() == here });
    /// assert!(rt.block_on(task), "a local runtime runs its tasks on the thread in `block_on`");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build_local(self) -> io::Result<LocalRuntime> {
        self.check_cpu_threads()?;
        let (exec, pool, cpu, stack) = self.parts(1, true);
        let inner = exec.build_local()?;
        Ok(LocalRuntime {
            inner: Some(inner),
            pool,
            cpu,
            stack: stack.get().cloned(),
        })
    }
}

/// A multi-threaded, work-stealing runtime with timers, sockets and a blocking pool.
///
/// `Send + Sync`. Dropping it cancels every task still alive (their destructors run), joins the
/// worker threads, and shuts the CPU and blocking pools down: it waits up to a second for
/// `to_thread` and `spawn_cpu` jobs still running (a job cannot be interrupted), then returns and
/// leaves any job still running to finish on its own thread. Until that job ends, its thread
/// keeps what it holds alive, the runtime's reactor included (its epoll or ring and eventfd: two
/// or three descriptors).
///
/// # Examples
///
/// ```
/// let rt = corio::Runtime::new()?;
/// let task = rt.spawn(async { 21 * 2 });
/// assert_eq!(rt.block_on(task), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Runtime {
    inner: Option<corio_executor::Runtime>,
    pool: Pool,
    cpu: CpuPool,
    stack: Option<Arc<StackHandle>>,
}

/// How long dropping a runtime waits for blocking and CPU jobs that are still running, both
/// pools together.
const BLOCKING_SHUTDOWN: Duration = Duration::from_secs(1);

/// Shuts both pools down within about one [`BLOCKING_SHUTDOWN`]: the blocking pool gets what is
/// left of it after the CPU pool's wait (its jobs ran meanwhile), and at least
/// [`EXIT_GRACE`], for its idle threads to exit. A job still running then is left to finish on
/// its detached thread; the pools' own drops do not wait again.
fn shut_pools_down(cpu: &CpuPool, pool: &Pool) {
    let deadline = std::time::Instant::now() + BLOCKING_SHUTDOWN;
    cpu.shutdown(BLOCKING_SHUTDOWN);
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    pool.shutdown(left.max(EXIT_GRACE));
}

/// The least time the blocking pool's shutdown waits, even after a CPU job used up
/// [`BLOCKING_SHUTDOWN`]: enough for idle threads, told to exit, to do so (with none, they were
/// detached instead, and still running when `run` returned; review).
const EXIT_GRACE: Duration = Duration::from_millis(100);

impl Drop for Runtime {
    fn drop(&mut self) {
        // Tasks first (their destructors may still use the pool), then the pool's threads.
        drop(self.inner.take());
        shut_pools_down(&self.cpu, &self.pool);
    }
}

impl Runtime {
    /// A runtime with the default configuration.
    ///
    /// # Errors
    ///
    /// Fails if the OS refuses a thread or a poller.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Runtime::new()?;
    /// assert_eq!(rt.block_on(async { "ran" }), "ran");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Runtime::builder().worker_threads(1).build()?;
    /// assert_eq!(rt.metrics().workers, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` on this thread until it completes, with the runtime entered: `spawn`,
    /// `sleep` and sockets inside it use this runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = corio::Runtime::builder().worker_threads(2).build()?;
    /// let out = rt.block_on(async {
    ///     // Inside, `spawn` and `sleep` use this runtime.
    ///     let task = corio::spawn(async { 40 });
    ///     corio::sleep(Duration::from_millis(1)).await;
    ///     task.await + 2
    /// });
    /// assert_eq!(out, 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.exec().block_on(future)
    }

    fn exec(&self) -> &corio_executor::Runtime {
        self.inner
            .as_ref()
            .expect("the runtime is alive until dropped")
    }

    /// Spawns a task on this runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Runtime::new()?;
    /// let tasks: Vec<_> = (0..4u64).map(|i| rt.spawn(async move { i * i })).collect();
    /// let sum = rt.block_on(async {
    ///     let mut sum = 0;
    ///     for task in tasks {
    ///         sum += task.await;
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 14);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        corio_executor::task::Builder::new().spawn_on(future, &self.exec().handle())
    }

    /// A handle to this runtime, for spawning from other threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Runtime::builder().worker_threads(1).build()?;
    /// let handle = rt.handle();
    /// // From a thread that is not the runtime's:
    /// let task = std::thread::spawn(move || handle.spawn(async { 5 })).join().unwrap();
    /// assert_eq!(rt.block_on(task), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle(&self) -> Handle {
        self.exec().handle()
    }

    /// A snapshot of the runtime's counters: executor, timers, I/O and blocking pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Runtime::builder().worker_threads(2).build()?;
    /// rt.block_on(async { corio::spawn(async {}).await });
    /// let m = rt.metrics();
    /// assert_eq!(m.workers, 2);
    /// assert_eq!(m.spawned, 1);
    /// assert_eq!(m.spawned, m.completed + m.alive_tasks);
    /// // "epoll" on Linux, or "io_uring" with the `io-uring` feature where the kernel allows it.
    /// assert!(["io_uring", "epoll", "kqueue", "iocp", "poll"].contains(&m.io_backend));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::gather(&self.handle(), &self.pool, &self.cpu, self.stack.as_deref())
    }

    /// A snapshot of every live task (debug mode only; see [`crate::dump`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Runtime::builder().worker_threads(1).debug(true).build()?;
    /// let _idle = rt.block_on(async {
    ///     corio::task::Builder::new().name("idler").spawn(std::future::pending::<()>())
    /// });
    /// assert!(rt.dump().to_string().contains("idler"));
    /// // With debug mode off a dump is empty.
    /// assert!(corio::Runtime::builder().build()?.dump().tasks.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dump(&self) -> corio_executor::Dump {
        self.handle().dump()
    }
}

/// Counters of a runtime: its executor, timers, reactor, blocking pool and CPU pool; see
/// [`Runtime::metrics`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let rt = corio::LocalRuntime::new()?;
/// let m: corio::RuntimeMetrics = rt.block_on(async {
///     let _sleeper = corio::spawn(corio::sleep(Duration::from_secs(60)));
///     // Runs after the sleeper (FIFO), which has registered its timer by then.
///     corio::spawn(async {}).await;
///     rt.metrics()
/// });
/// assert_eq!((m.workers, m.spawned, m.completed, m.alive_tasks), (1, 2, 1, 1));
/// assert_eq!(m.pending_timers, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// Worker threads (1 for a local runtime).
    pub workers: usize,
    /// Tasks alive now (`spawned - completed`).
    pub alive_tasks: u64,
    /// Tasks spawned so far.
    pub spawned: u64,
    /// Tasks whose future has been dropped (completed or cancelled). The count can trail the
    /// drops themselves: after a burst of cancellations from outside the runtime's threads a
    /// probe saw `alive_tasks` catch up within about 50 ms. Read it as a gauge, not as proof
    /// that a given future is gone (`Task::cancel().await` is that proof).
    pub completed: u64,
    /// Task polls.
    pub polls: u64,
    /// Successful steals between workers.
    pub steals: u64,
    /// Worker threads asleep now, waiting for work (for a local runtime: 1 while its loop
    /// waits).
    pub sleeping_workers: usize,
    /// Tasks waiting in the injector queue.
    pub injector_depth: usize,
    /// Times a resource yielded because a task's cooperative budget was spent.
    pub budget_forced_yields: u64,
    /// Blocking-pool threads alive.
    pub blocking_threads_alive: usize,
    /// Blocking-pool threads idle.
    pub blocking_threads_idle: usize,
    /// Blocking jobs queued, not started.
    pub blocking_queued: usize,
    /// I/O sources registered with the reactor.
    pub io_sources: usize,
    /// The OS interface the reactor waits in: `"io_uring"` (Linux, feature `io-uring`, when the
    /// kernel allows it), `"epoll"`, `"kqueue"`, `"iocp"` or `"poll"`. With the feature on, a
    /// runtime whose kernel refused the ring says `"epoll"` here, and its reactor's `Debug`
    /// output says why.
    pub io_backend: &'static str,
    /// Timers waiting to fire.
    pub pending_timers: usize,
    /// CPU-pool threads alive (they start on demand, up to `cpu_threads`, and stay until the
    /// runtime is dropped: unlike the blocking pool's, they do not exit when idle).
    pub cpu_threads_alive: usize,
    /// CPU jobs ([`spawn_cpu`](crate::spawn_cpu)) waiting to start: in the pool's queue, or in
    /// its line while the queue is full.
    pub cpu_queued: usize,
    /// CPU jobs running now.
    pub cpu_running: usize,
    /// CPU jobs run to the end (panicked ones included).
    pub cpu_completed: u64,
}

/// The counters of the current runtime, as [`Runtime::metrics`] gives them, from inside it: in
/// a task, in `run`, `run_local` or `#[corio::main]`, in `block_on` on a runtime. Outside any
/// runtime, the global runtime's (started on first use, as by `spawn`) with the process-wide
/// pools, timer and reactor. `Handle::current().metrics()` gives the executor's counters only.
///
/// # Examples
///
/// ```
/// let m = corio::run(async {
///     corio::spawn(async {}).await;
///     corio::metrics()
/// });
/// assert_eq!(m.spawned, 1);
/// assert!(["io_uring", "epoll", "kqueue", "iocp", "poll"].contains(&m.io_backend));
/// ```
pub fn metrics() -> RuntimeMetrics {
    let reactor = Reactor::current().ok();
    RuntimeMetrics::gather_parts(
        &Handle::current(),
        &Pool::current(),
        &CpuPool::current(),
        Some(&Timer::current()),
        reactor.as_ref(),
    )
}

impl RuntimeMetrics {
    fn gather(
        handle: &Handle,
        pool: &Pool,
        cpu: &CpuPool,
        stack: Option<&StackHandle>,
    ) -> RuntimeMetrics {
        RuntimeMetrics::gather_parts(
            handle,
            pool,
            cpu,
            stack.map(|s| &s.timer),
            stack.map(|s| &s.reactor),
        )
    }

    fn gather_parts(
        handle: &Handle,
        pool: &Pool,
        cpu: &CpuPool,
        timer: Option<&Timer>,
        reactor: Option<&Reactor>,
    ) -> RuntimeMetrics {
        let e = handle.metrics();
        let p = pool.metrics();
        let c = cpu.metrics();
        RuntimeMetrics {
            workers: e.workers,
            alive_tasks: e.alive,
            spawned: e.spawned,
            completed: e.completed,
            polls: e.polls,
            steals: e.steals,
            sleeping_workers: e.sleeping_workers,
            injector_depth: e.injector_depth,
            budget_forced_yields: e.budget_forced_yields,
            blocking_threads_alive: p.threads_alive,
            blocking_threads_idle: p.threads_idle,
            blocking_queued: p.queued,
            io_sources: reactor.map_or(0, Reactor::sources),
            io_backend: reactor.map_or("", Reactor::backend),
            pending_timers: timer.map_or(0, Timer::pending),
            cpu_threads_alive: c.threads_alive,
            cpu_queued: c.queued + c.waiting_submitters,
            cpu_running: c.running,
            cpu_completed: c.completed,
        }
    }
}

/// A single-threaded runtime with timers, sockets and a blocking pool; it accepts `!Send` tasks.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let rt = corio::LocalRuntime::new()?;
/// let not_send = Rc::new(1);
/// let out = rt.block_on(async move {
///     corio::spawn_local(async move { *not_send + 1 }).await
/// });
/// assert_eq!(out, 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct LocalRuntime {
    inner: Option<corio_executor::LocalRuntime>,
    pool: Pool,
    cpu: CpuPool,
    stack: Option<Arc<StackHandle>>,
}

impl Drop for LocalRuntime {
    fn drop(&mut self) {
        drop(self.inner.take());
        shut_pools_down(&self.cpu, &self.pool);
    }
}

impl LocalRuntime {
    /// A local runtime with the default configuration.
    ///
    /// # Errors
    ///
    /// Fails if the OS refuses a poller.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::LocalRuntime::new()?;
    /// assert_eq!(rt.block_on(async { "ran" }), "ran");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<LocalRuntime> {
        Builder::new().build_local()
    }

    /// Runs the loop until `future` completes. In debug mode the future is watched like a task
    /// named `block_on`: a slow poll of it (which freezes the loop) is reported.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = corio::LocalRuntime::new()?;
    /// let out = rt.block_on(async {
    ///     // Inside, `spawn`, `spawn_local` and `sleep` use this loop.
    ///     let task = corio::spawn_local(async { 40 });
    ///     corio::sleep(Duration::from_millis(1)).await;
    ///     task.await + 2
    /// });
    /// assert_eq!(out, 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.exec().block_on(future)
    }

    fn exec(&self) -> &corio_executor::LocalRuntime {
        self.inner
            .as_ref()
            .expect("the runtime is alive until dropped")
    }

    /// Spawns a `!Send` task on this loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let rt = corio::LocalRuntime::new()?;
    /// let count = Rc::new(Cell::new(0)); // `!Send`: fine on a local runtime
    /// let counter = count.clone();
    /// let task = rt.spawn_local(async move { counter.set(counter.get() + 1) });
    /// rt.block_on(task);
    /// assert_eq!(count.get(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.exec().spawn_local(future)
    }

    /// A `Send` handle to this loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::LocalRuntime::new()?;
    /// let handle = rt.handle();
    /// // From another thread; the task runs on the loop's thread, in `block_on`.
    /// let task = std::thread::spawn(move || handle.spawn(async { 2 + 2 })).join().unwrap();
    /// assert_eq!(rt.block_on(task), 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle(&self) -> Handle {
        self.exec().handle()
    }

    /// A snapshot of the runtime's counters; see [`Runtime::metrics`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::LocalRuntime::new()?;
    /// rt.block_on(async { corio::spawn(async {}).await });
    /// let m = rt.metrics();
    /// assert_eq!((m.workers, m.spawned, m.completed), (1, 1, 1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::gather(&self.handle(), &self.pool, &self.cpu, self.stack.as_deref())
    }

    /// A snapshot of every live task (debug mode only; see [`crate::dump`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio::Builder::new().debug(true).build_local()?;
    /// let _idle = rt.spawn_local(std::future::pending::<()>());
    /// rt.block_on(corio::yield_now());
    /// assert_eq!(rt.dump().tasks.len(), 1);
    /// // With debug mode off a dump is empty.
    /// assert!(corio::LocalRuntime::new()?.dump().tasks.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dump(&self) -> corio_executor::Dump {
        self.handle().dump()
    }
}

/// Runs `future` on a new multi-threaded runtime (one worker per core) and returns its output,
/// like `asyncio.run`. When it returns, every task left has been cancelled and dropped, and every
/// thread has stopped, except that of a blocking or CPU job still running after a wait of about
/// 1 s (both pools together): that thread is detached and ends when its job does.
///
/// Called inside a task of another runtime (a sync helper that runs its own event loop, called
/// from async code), it holds that runtime's loop or worker until it returns: if `future` waits
/// for that runtime it never returns, and after a second corio says so on stderr (tokio panics,
/// asyncio raises). Await the future there instead, or use [`block_on`](crate::block_on).
///
/// # Panics
///
/// Panics if the OS refuses to start the runtime's threads or poller (there is no runtime to
/// report to); use [`Runtime::builder`] to handle that error.
///
/// # Examples
///
/// ```
/// let answer = corio::run(async {
///     let a = corio::spawn(async { 20 });
///     let b = corio::spawn(async { 22 });
///     a.await + b.await
/// });
/// assert_eq!(answer, 42);
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    let rt = Runtime::new().unwrap_or_else(|e| panic!("corio::run: cannot start the runtime: {e}"));
    rt.block_on(future)
}

/// Runs `future` on a new single-threaded event loop on this thread (asyncio's model): tasks may
/// be `!Send` ([`spawn_local`](crate::spawn_local)), and every task left is dropped when it
/// returns.
///
/// # Panics
///
/// Panics if the OS refuses to create a poller; use [`Builder::build_local`] to handle that.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let elapsed = corio::run_local(async {
///     let start = std::time::Instant::now();
///     // Two 20 ms "fetches" run concurrently: about 20 ms in all, not 40.
///     let a = corio::spawn(corio::sleep(Duration::from_millis(20)));
///     let b = corio::spawn(corio::sleep(Duration::from_millis(20)));
///     a.await;
///     b.await;
///     start.elapsed()
/// });
/// assert!(elapsed >= Duration::from_millis(20));
/// ```
#[track_caller]
pub fn run_local<F: Future>(future: F) -> F::Output {
    let rt = LocalRuntime::new()
        .unwrap_or_else(|e| panic!("corio::run_local: cannot start the runtime: {e}"));
    rt.block_on(future)
}

/// The configuration written by `#[corio::main]` and `#[corio::test]`.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct MacroConfig {
    local: bool,
    debug: bool,
    worker_threads: Option<usize>,
    deterministic: bool,
    seed: Option<u64>,
}

#[doc(hidden)]
impl MacroConfig {
    pub fn new() -> MacroConfig {
        MacroConfig::default()
    }
    pub fn local(mut self, local: bool) -> MacroConfig {
        self.local = local;
        self
    }
    pub fn debug(mut self, debug: bool) -> MacroConfig {
        self.debug = debug;
        self
    }
    pub fn worker_threads(mut self, n: usize) -> MacroConfig {
        self.worker_threads = Some(n);
        self
    }
    pub fn deterministic(mut self) -> MacroConfig {
        self.deterministic = true;
        self
    }
    pub fn seed(mut self, seed: u64) -> MacroConfig {
        self.seed = Some(seed);
        self.deterministic = true;
        self
    }

    fn builder(&self) -> Builder {
        let mut b = Builder::new();
        if let Some(n) = self.worker_threads {
            b = b.worker_threads(n);
        }
        if self.debug {
            b = b.debug(true);
        }
        b
    }
}

/// The body of `#[corio::main]`.
#[doc(hidden)]
#[track_caller]
pub fn run_main<F: Future>(config: MacroConfig, future: F) -> F::Output {
    let builder = config.builder();
    if config.local {
        let rt = builder
            .build_local()
            .unwrap_or_else(|e| panic!("#[corio::main]: cannot start the runtime: {e}"));
        rt.block_on(future)
    } else {
        let rt = builder
            .build()
            .unwrap_or_else(|e| panic!("#[corio::main]: cannot start the runtime: {e}"));
        rt.block_on(future)
    }
}

/// The body of `#[corio::test]`.
#[doc(hidden)]
#[track_caller]
pub fn run_test<F: Future>(config: MacroConfig, future: F) -> F::Output {
    if config.deterministic {
        let seed = config
            .seed
            .unwrap_or_else(crate::deterministic::seed_from_env_or_random);
        // Said before the run, so that a test failing either way shows it: the test harness
        // shows a failed test's output, whether it panicked or returned an `Err`.
        eprintln!(
            "corio: deterministic test with seed {seed}; replay it with {}={seed}",
            crate::SEED_ENV
        );
        // Worker threads make no sense here (one thread); debug mode does.
        let mut builder = Builder::new();
        if config.debug {
            builder = builder.debug(true);
        }
        return crate::deterministic::run_seeded_on(builder, seed, future);
    }
    run_main(config, future)
}
