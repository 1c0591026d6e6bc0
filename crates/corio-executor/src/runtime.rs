//! Runtimes, their builder and handles, and the entry points `block_on`, `spawn`, `run_local`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use crate::context::{self, Common, ContextGuard, Current, EnterHook};
use crate::debug::{DEFAULT_SLOW_POLL, DebugState, Dump};
use crate::park::{Driver, DriverHandle, Parker, SharedDriver, ThreadParkDriver, lock};
use crate::report::{PanicPolicy, Report, ReportHook, default_hook};
use crate::task::{Header, Task, spawn_task};
use crate::{local, multi};

type DriverFactory = Box<dyn FnOnce() -> io::Result<Box<dyn Driver>> + Send>;

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
    /// ([`Handle::dump`]). Off by default, where it costs nothing; `CORIO_DEBUG=1` turns it on for
    /// every runtime built after.
    pub fn debug(mut self, on: bool) -> Builder {
        self.debug = on;
        self
    }

    /// The slow-poll threshold of debug mode (default 100 ms, or `CORIO_SLOW_POLL_MS`): a single
    /// poll longer than this is reported as a task blocking its thread.
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.slow_poll = threshold;
        self
    }

    fn debug_state(&self) -> Option<Arc<DebugState>> {
        self.debug
            .then(|| DebugState::new(self.slow_poll, self.report.clone()))
    }

    /// The number of worker threads of a multi-threaded runtime. Defaults to the number of cores.
    /// Zero is refused by [`build`](Builder::build) with an error.
    pub fn worker_threads(mut self, n: usize) -> Builder {
        self.worker_threads = Some(n);
        self
    }

    /// The name prefix of worker threads; worker `i` is named `"{prefix}-{i}"`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.thread_name = prefix.into();
        self
    }

    /// The stack size of worker threads, in bytes.
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// The driver that idle threads park in (timers and I/O). The facade `corio` composes one from
    /// `corio-timer` and `corio-reactor`.
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
    pub fn on_enter(mut self, hook: impl Fn() -> Box<dyn Any> + Send + Sync + 'static) -> Builder {
        self.on_enter = Some(Arc::new(hook));
        self
    }

    /// What to do with a panic that no awaiter will ever see. See [`PanicPolicy`].
    pub fn unobserved_panic(mut self, policy: PanicPolicy) -> Builder {
        self.panic_policy = policy;
        self
    }

    /// Where reports go (by default: one line each on stderr). See [`Report`].
    pub fn report_hook(mut self, hook: impl Fn(&Report) + Send + Sync + 'static) -> Builder {
        self.report = Arc::new(hook);
        self
    }

    /// Deterministic scheduling for a [`LocalRuntime`]: among the ready tasks, the next one is
    /// chosen by a generator seeded with `seed`, so the same seed replays the same interleaving
    /// and different seeds explore different ones. Ignored by the multi-threaded runtime.
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
    pub fn build(mut self) -> io::Result<Runtime> {
        let workers = match self.worker_threads {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "worker_threads must be at least 1",
                ));
            }
            Some(n) => n,
            None => default_workers(),
        };
        let driver = self.make_driver()?;
        let handle = driver.handle();
        let common = Common::new(
            workers,
            self.panic_policy,
            self.report.clone(),
            self.on_enter.clone(),
            Some(handle.clone()),
            self.debug_state(),
        );
        let shared = Arc::new(multi::Shared::new(
            common,
            workers,
            SharedDriver {
                driver: crate::sync::Mutex::new(Some(driver)),
                handle,
            },
        ));
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
        let handle = driver.handle();
        let common = Common::new(
            workers,
            self.panic_policy,
            self.report.clone(),
            None,
            Some(handle.clone()),
            None,
        );
        let shared = Arc::new(multi::Shared::new(
            common,
            workers,
            SharedDriver {
                driver: crate::sync::Mutex::new(Some(driver)),
                handle,
            },
        ));
        Runtime { shared }
    }

    /// Builds a single-threaded runtime that runs on the thread that calls its
    /// [`block_on`](LocalRuntime::block_on).
    ///
    /// # Errors
    ///
    /// Fails if the driver cannot be created.
    pub fn build_local(mut self) -> io::Result<LocalRuntime> {
        let driver = self.make_driver()?;
        let common = self.local_common(Some(driver.handle()));
        Ok(LocalRuntime {
            core: local::Core::new(common, driver, self.seed, false),
        })
    }
}

/// The environment variable that turns debug mode on (`1`, `true`, `yes`, `on`).
pub const DEBUG_ENV: &str = "CORIO_DEBUG";
/// The environment variable that sets the slow-poll threshold, in milliseconds.
pub const SLOW_POLL_ENV: &str = "CORIO_SLOW_POLL_MS";

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

fn env_millis(name: &str) -> Option<Duration> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse::<u64>() {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) => {
            eprintln!("corio: ignoring {name}={v:?}: not a whole number of milliseconds");
            None
        }
    }
}

fn default_workers() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// A multi-threaded, work-stealing runtime.
///
/// `Runtime` is `Send + Sync`: tasks may be spawned on it from any thread, also while another
/// thread is inside [`block_on`](Runtime::block_on). Dropping it shuts it down: every task still
/// alive is dropped (its destructors run) and every worker thread has exited before `drop` returns.
///
/// # Examples
///
/// ```
/// let rt = corio_executor::Runtime::new()?;
/// let tasks: Vec<_> = (0..4).map(|i| rt.spawn(async move { i * 10 })).collect();
/// let sum = rt.block_on(async {
///     let mut sum = 0;
///     for t in tasks {
///         sum += t.await;
///     }
///     sum
/// });
/// assert_eq!(sum, 60);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    pub(crate) shared: Arc<multi::Shared>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("id", &self.shared.common.id)
            .field("workers", &self.shared.remotes.len())
            .finish()
    }
}

impl Runtime {
    /// A runtime with the default configuration (one worker per core, no driver).
    ///
    /// # Errors
    ///
    /// Fails if a worker thread cannot be started.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`].
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` on the current thread until it completes, with this runtime entered: tasks
    /// spawned inside it run on this runtime's workers.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::new()?;
    /// let v = rt.block_on(async { corio_executor::spawn(async { 5 }).await });
    /// assert_eq!(v, 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let on_worker = context::with(|cur| match cur {
            Some(Current::Worker(core)) => Arc::ptr_eq(&core.shared, &self.shared),
            _ => false,
        });
        multi_block_on(&self.shared, future, on_worker)
    }

    /// Spawns a task on this runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::new()?;
    /// let task = rt.spawn(async { 1 });
    /// assert_eq!(rt.block_on(task), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        multi_spawn(&self.shared, future, Header::new(Location::caller(), None))
    }

    /// A handle to this runtime.
    pub fn handle(&self) -> Handle {
        Handle(HandleKind::Multi(self.shared.clone()))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.signal_shutdown();
        let threads = std::mem::take(&mut *lock(&shared.threads));
        let me = thread::current().id();
        let mut on_own_worker = false;
        for (id, join) in threads {
            // A runtime dropped from one of its own tasks cannot join the thread it runs on; that
            // worker exits after the current poll.
            if id != me {
                let _ = join.join();
            } else {
                on_own_worker = true;
            }
        }
        {
            let _enter = context::enter(Current::Entered(self.handle()));
            // From one of its own tasks, that task (and what its worker still holds) is alive
            // until the drop returns: there is nothing to wait for.
            shared.drain(!on_own_worker);
        }
        // Dropping the driver drops the wakers it holds (timers, sockets), which breaks the
        // reference cycles between the runtime and its idle tasks.
        let driver = lock(&shared.driver.driver).take();
        drop(driver);
        if let Some(debug) = &shared.common.debug {
            debug.shutdown();
        }
    }
}

pub(crate) fn multi_spawn<F>(
    shared: &Arc<multi::Shared>,
    future: F,
    mut header: Header,
) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let id = header.id;
    header.attach_debug(shared.common.debug.as_ref());
    let builder = async_task::Builder::new().metadata(shared.clone());
    let (runnable, task) = spawn_task!(builder, spawn, future, header, multi::schedule);
    shared.note_spawn();
    runnable.schedule();
    Task::from_multi(task, id)
}

impl Wake for crate::pinned::BlockOnTarget {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.parker.unpark(&self.shared.driver);
    }
}

/// `on_worker`: the calling thread is one of this runtime's workers (a nested call from a task),
/// so it may park in the shared driver: it returns to its worker loop afterwards, and with every
/// other worker busy or blocked it may be the only thread left to poll I/O and timers. Any other
/// thread must not, or the runtime's I/O and timers would go unpolled once it returns while the
/// workers sleep.
///
/// Between polls of `future` it runs the thread's pinned tasks (`spawn_local` here); the
/// outermost call off the workers drops those left when it returns.
pub(crate) fn multi_block_on<F: Future>(
    shared: &Arc<multi::Shared>,
    future: F,
    on_worker: bool,
) -> F::Output {
    let _enter = context::enter(Current::Entered(Handle(HandleKind::Multi(shared.clone()))));
    let target = Arc::new(crate::pinned::BlockOnTarget {
        parker: Parker::new(),
        shared: shared.clone(),
    });
    // Dropped after the future (declared before it): pinned tasks go after the main future.
    let _pinned = crate::pinned::enter_block_on(&target, on_worker);
    let waker = Waker::from(target.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        let poll =
            corio_coop::with_budget(corio_coop::DEFAULT_BUDGET, || future.as_mut().poll(&mut cx));
        if let Poll::Ready(output) = poll {
            return output;
        }
        if crate::pinned::run_ready(crate::pinned::BATCH) {
            continue;
        }
        if !crate::pinned::prepare_to_park() {
            target.parker.park(on_worker.then_some(&shared.driver));
        }
        crate::pinned::unparked();
    }
}

/// A single-threaded runtime: an event loop that runs on the thread that calls
/// [`block_on`](LocalRuntime::block_on), and that accepts `!Send` tasks.
///
/// Dropping it drops every task still alive in it.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let rt = corio_executor::LocalRuntime::new()?;
/// let shared = Rc::new(3);
/// let task = rt.spawn_local({
///     let shared = shared.clone();
///     async move { *shared * 2 }
/// });
/// assert_eq!(rt.block_on(task), 6);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct LocalRuntime {
    core: Rc<local::Core>,
}

impl fmt::Debug for LocalRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRuntime")
            .field("id", &self.core.shared.common.id)
            .finish()
    }
}

impl LocalRuntime {
    /// A local runtime with the default configuration (no driver).
    ///
    /// # Errors
    ///
    /// Never fails today; returns `io::Result` for symmetry with drivers that can.
    pub fn new() -> io::Result<LocalRuntime> {
        Builder::new().build_local()
    }

    /// Runs the loop until `future` completes.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future, Location::caller())
    }

    /// Spawns a task that need not be `Send` on this loop.
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core
            .spawn_local(future, Header::new(Location::caller(), None))
    }

    /// Spawns a `Send` task on this loop.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.core
            .shared
            .spawn(future, Header::new(Location::caller(), None))
    }

    /// A handle to this loop. It is `Send`: other threads may spawn `Send` tasks through it.
    pub fn handle(&self) -> Handle {
        Handle(HandleKind::Local(self.core.shared.clone()))
    }
}

impl Drop for LocalRuntime {
    fn drop(&mut self) {
        self.core.shutdown();
        if let Some(debug) = &self.core.shared.common.debug {
            debug.shutdown();
        }
    }
}

/// A cheap, cloneable, `Send + Sync` handle to a runtime, for spawning onto it from anywhere.
///
/// # Examples
///
/// ```
/// let rt = corio_executor::Runtime::new()?;
/// let handle = rt.handle();
/// let from_thread = std::thread::spawn(move || handle.spawn(async { 7 })).join().unwrap();
/// assert_eq!(rt.block_on(from_thread), 7);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle(pub(crate) HandleKind);

#[derive(Clone)]
pub(crate) enum HandleKind {
    Multi(Arc<multi::Shared>),
    Local(Arc<local::Shared>),
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("runtime", &self.common().id)
            .finish()
    }
}

impl Handle {
    /// The runtime of the current thread, if it is inside one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio_executor::Handle::try_current().is_none());
    /// let rt = corio_executor::Runtime::new()?;
    /// assert!(rt.block_on(async { corio_executor::Handle::try_current().is_some() }));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_current() -> Option<Handle> {
        context::with(|cur| match cur {
            Some(Current::Local(core)) if core.implicit => None,
            Some(Current::Local(core)) if core.parent.is_some() => core.parent.clone(),
            Some(cur) => Some(cur.handle()),
            None => None,
        })
    }

    /// The runtime of the current thread, or the global runtime (started on first use) outside of
    /// any runtime. Never panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = corio_executor::Handle::current(); // the global runtime here
    /// let task = handle.spawn(async { 2 });
    /// assert_eq!(corio_executor::block_on(task), 2);
    /// ```
    pub fn current() -> Handle {
        Handle::current_or_global()
    }

    pub(crate) fn current_or_global() -> Handle {
        Handle::try_current().unwrap_or_else(|| global().handle())
    }

    pub(crate) fn common(&self) -> &Common {
        match &self.0 {
            HandleKind::Multi(shared) => &shared.common,
            HandleKind::Local(shared) => &shared.common,
        }
    }

    /// Spawns a task on this handle's runtime.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(future, Header::new(Location::caller(), None))
    }

    /// Whether this is the handle of a multi-threaded runtime.
    pub(crate) fn is_multi(&self) -> bool {
        matches!(self.0, HandleKind::Multi(_))
    }

    pub(crate) fn spawn_with<F>(&self, future: F, header: Header) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.0 {
            HandleKind::Multi(shared) => multi_spawn(shared, future, header),
            HandleKind::Local(shared) => shared.spawn(future, header),
        }
    }

    /// Makes this runtime current on this thread until the guard is dropped, so that `spawn` (and,
    /// through the facade, timers and sockets) use it from synchronous code.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::new()?;
    /// let _guard = rt.handle().enter();
    /// let task = corio_executor::spawn(async { 3 }); // on `rt`
    /// # drop(_guard);
    /// assert_eq!(rt.block_on(task), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn enter(&self) -> EnterGuard {
        EnterGuard {
            _guard: context::enter(Current::Entered(self.clone())),
        }
    }

    /// The number of tasks of this runtime that have been idle at least once and are still alive.
    pub fn idle_tasks(&self) -> usize {
        self.common().registry.len()
    }

    /// A snapshot of the runtime's counters. Cheap: each worker keeps its own counters, summed
    /// here; nothing shared is written on the hot path.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::builder().worker_threads(2).build()?;
    /// rt.block_on(async {
    ///     for _ in 0..10 {
    ///         corio_executor::spawn(async {}).await;
    ///     }
    /// });
    /// let m = rt.handle().metrics();
    /// assert_eq!(m.workers, 2);
    /// assert_eq!(m.spawned, 10);
    /// assert_eq!(m.spawned, m.completed + m.alive);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metrics(&self) -> ExecutorMetrics {
        match &self.0 {
            HandleKind::Multi(shared) => shared.metrics(),
            HandleKind::Local(shared) => shared.metrics(),
        }
    }

    /// A snapshot of every live task, printable as a tree. Only debug mode tracks tasks: with it
    /// off, the dump is empty and says how to turn it on.
    pub fn dump(&self) -> Dump {
        match &self.common().debug {
            Some(debug) => debug.dump(),
            None => Dump::disabled(),
        }
    }

    /// Whether this runtime runs in debug mode.
    pub fn is_debug(&self) -> bool {
        self.common().debug.is_some()
    }

    pub(crate) fn note_foreign_completion(&self) {
        match &self.0 {
            HandleKind::Multi(shared) => shared.note_completion(None),
            HandleKind::Local(shared) => {
                shared.foreign_completed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Whether this runtime has been shut down.
    pub fn is_shut_down(&self) -> bool {
        match &self.0 {
            HandleKind::Multi(shared) => shared.shutdown.load(Ordering::Acquire),
            HandleKind::Local(shared) => shared.shutdown.load(Ordering::Acquire),
        }
    }
}

/// Counters of a runtime's executor; see [`Handle::metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ExecutorMetrics {
    /// Worker threads (1 for a local runtime).
    pub workers: usize,
    /// Tasks spawned so far.
    pub spawned: u64,
    /// Tasks whose future has been dropped (completed or cancelled).
    pub completed: u64,
    /// `spawned - completed`: tasks alive now.
    pub alive: u64,
    /// Task polls so far.
    pub polls: u64,
    /// Successful steals from another worker's queue.
    pub steals: u64,
    /// Tasks waiting in the injector (woken from outside the workers).
    pub injector_depth: usize,
    /// Tasks waiting in the workers' local queues.
    pub local_queue_depth: usize,
    /// Times a resource returned `Pending` because a task's cooperative budget was spent.
    pub budget_forced_yields: u64,
    /// Alive tasks that have returned `Pending` at least once (those shutdown must reach).
    pub idle_tasks: usize,
}

/// A snapshot of every live task of the current runtime (empty unless it runs in debug mode);
/// outside any runtime, of the global runtime.
///
/// # Examples
///
/// ```
/// let rt = corio_executor::Runtime::builder().debug(true).build()?;
/// let text = rt.block_on(async { corio_executor::dump().to_string() });
/// assert!(text.contains("live task"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn dump() -> Dump {
    Handle::current_or_global().dump()
}

/// Keeps a runtime entered on this thread; see [`Handle::enter`].
#[derive(Debug)]
#[must_use = "the runtime stays entered only while the guard is alive"]
pub struct EnterGuard {
    _guard: ContextGuard,
}

/// The global runtime: started on first use by `spawn` outside of any runtime.
fn global() -> &'static Runtime {
    static GLOBAL: OnceLock<Runtime> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let threads = std::env::var("CORIO_GLOBAL_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(default_workers);
        Builder::new()
            .worker_threads(threads)
            .thread_name("corio-global")
            .build()
            .or_else(|_| {
                Builder::new()
                    .worker_threads(1)
                    .thread_name("corio-global")
                    .build()
            })
            .expect("corio: cannot start even one thread for the global runtime")
    })
}

/// Spawns a task on the current runtime, or on the global runtime outside of any runtime.
///
/// The task starts running at once, in the background. Awaiting the returned [`Task`] gives its
/// output; dropping the `Task` cancels it (see [`Task::detach`]).
///
/// # Examples
///
/// ```
/// let task = corio_executor::spawn(async { 1 + 2 });
/// assert_eq!(corio_executor::block_on(task), 3);
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Handle::current_or_global().spawn_with(future, Header::new(Location::caller(), None))
}

/// Runs `future` to completion on the current thread.
///
/// - Outside of any runtime, it also runs the `spawn_local` tasks of this thread while it waits,
///   and `spawn` inside it goes to the global runtime.
/// - Inside a [`LocalRuntime`] (a nested call from one of its tasks), it keeps running that loop's
///   other tasks while it waits.
/// - Inside a multi-threaded runtime it blocks the calling thread (a worker, if called from a
///   task: prefer `.await`); the other workers keep running.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_executor::block_on(async { 40 + 2 }), 42);
/// ```
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    enum Via {
        Local(Rc<local::Core>),
        Multi(Arc<multi::Shared>, bool),
        Park,
    }
    let via = context::with(|cur| match cur {
        Some(Current::Local(core)) => Via::Local(core.clone()),
        Some(Current::Worker(core)) => Via::Multi(core.shared.clone(), true),
        Some(Current::Entered(Handle(HandleKind::Multi(shared)))) => {
            Via::Multi(shared.clone(), false)
        }
        Some(Current::Entered(Handle(HandleKind::Local(_)))) => Via::Park,
        None => match local::implicit() {
            Some(core) => Via::Local(core),
            None => Via::Park,
        },
    });
    match via {
        Via::Local(core) => core.block_on(future, Location::caller()),
        Via::Multi(shared, on_worker) => multi_block_on(&shared, future, on_worker),
        Via::Park => park_block_on(future),
    }
}

/// The plainest `block_on`: poll, then park the thread until woken.
fn park_block_on<F: Future>(future: F) -> F::Output {
    struct Unparker(thread::Thread);
    impl Wake for Unparker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

/// Runs `future` on a new single-threaded event loop on this thread, and returns its output once
/// it completes. Every task left on the loop is then dropped.
///
/// Inside it, [`spawn_local`](crate::spawn_local) accepts `!Send` futures and [`spawn`] runs tasks
/// on the same thread.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// corio_executor::run_local({
///     let log = log.clone();
///     async move {
///         let a = corio_executor::spawn_local({
///             let log = log.clone();
///             async move { log.borrow_mut().push("a") }
///         });
///         a.await;
///         log.borrow_mut().push("main");
///     }
/// });
/// assert_eq!(*log.borrow(), ["a", "main"]);
/// ```
pub fn run_local<F: Future>(future: F) -> F::Output {
    let rt = LocalRuntime::new().expect("a local runtime without a driver cannot fail to build");
    rt.block_on(future)
}
