//! The pool: its handle and builder, the worker threads, and the [`Run`] future.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::config::{
    self, DEFAULT_QUEUE_PER_THREAD, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_THREAD_NAME,
};

/// A fixed-size pool of threads for CPU-bound work, with a bounded queue.
///
/// Cloning gives another handle to the same pool. When the last handle is dropped the pool
/// [shuts down](CpuPool::shutdown) with a bound of [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::DEFAULT_SHUTDOWN_TIMEOUT)
/// (configurable). Threads start on demand, up to the configured count, and then stay until
/// shutdown: CPU work wants warm threads, and there are only as many as cores.
///
/// # Examples
///
/// ```
/// use corio_cpu::CpuPool;
///
/// let pool = CpuPool::builder().threads(2).build();
/// let sum = futures_lite::future::block_on(pool.run(|| (1..=1000u64).sum::<u64>()));
/// assert_eq!(sum, 500_500);
/// ```
#[derive(Clone)]
pub struct CpuPool {
    owner: Arc<Owner>,
}

/// Configures a [`CpuPool`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let pool = corio_cpu::CpuPool::builder()
///     .threads(3)
///     .queue_capacity(16)
///     .thread_name("resize")
///     .shutdown_timeout(Duration::from_millis(100))
///     .build();
/// let m = pool.metrics();
/// assert_eq!((m.threads, m.queue_capacity), (3, 16));
/// ```
#[derive(Debug, Clone, Default)]
pub struct CpuPoolBuilder {
    threads: Option<usize>,
    queue_capacity: Option<usize>,
    thread_name: Option<String>,
    stack_size: Option<usize>,
    shutdown_timeout: Option<Duration>,
}

/// A snapshot of a pool's counters, from [`CpuPool::metrics`].
///
/// The counters are read one by one, so while the pool is busy they may disagree by a job.
///
/// # Examples
///
/// ```
/// let pool = corio_cpu::CpuPool::builder().threads(1).build();
/// futures_lite::future::block_on(pool.run(|| ()));
/// let m = pool.metrics();
/// assert_eq!((m.queued, m.running, m.completed), (0, 0, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CpuMetrics {
    /// The configured thread count.
    pub threads: usize,
    /// Threads started and not yet exited.
    pub threads_alive: usize,
    /// How many jobs the queue holds at most before submitters wait.
    pub queue_capacity: usize,
    /// Jobs in the queue, not started and not cancelled.
    pub queued: usize,
    /// Jobs running now.
    pub running: usize,
    /// Jobs that ran to the end, panicked ones included.
    pub completed: u64,
    /// Jobs that panicked (the panic went to their awaiter).
    pub panicked: u64,
    /// Jobs whose future was dropped while they were queued: they never ran. (An
    /// [`execute`](CpuPool::execute) job whose [`CpuJob`] was dropped uncalled counts here when
    /// a thread takes it and drops it, until then it counts as queued; one dropped unrun at
    /// shutdown counts here too.)
    pub cancelled: u64,
    /// Submitters waiting for room in the full queue: [`run`](CpuPool::run) futures waiting for
    /// their turn, and jobs of [`submit`](CpuPool::submit) futures that the pool holds in line.
    pub waiting_submitters: usize,
    /// Times the OS refused to start a thread.
    pub spawn_failures: u64,
    /// Whether [`CpuPool::shutdown`] has run (or the last handle was dropped).
    pub is_shut_down: bool,
}

/// Makes a pool the [current](CpuPool::current) one on this thread until it is dropped.
///
/// Guards nest: dropping one restores the pool that was current before. The guard cannot leave
/// its thread.
///
/// # Examples
///
/// ```
/// use corio_cpu::CpuPool;
///
/// let pool = CpuPool::builder().threads(3).build();
/// let guard = pool.enter();
/// assert_eq!(CpuPool::current().metrics().threads, 3);
/// drop(guard);
/// ```
#[must_use = "the pool is current only while the guard is alive"]
pub struct EnterGuard {
    previous: Option<CpuPool>,
    // `*const ()` makes the guard `!Send`: it must be dropped on the thread that entered.
    _not_send: std::marker::PhantomData<*const ()>,
}

/// The future of a job submitted with [`CpuPool::run`]: it resolves to the closure's value.
///
/// - The job is queued at the first poll. If the queue is full, the future waits (without
///   blocking its thread) for room, first come first served. (A future from
///   [`CpuPool::submit`] hands its job to the pool instead, which holds it in the same line and
///   queues it itself; the future then only waits for the result.)
/// - Dropping the future before the job has started means the job never runs: it is marked
///   cancelled and discarded when a thread dequeues it (its closure is dropped there).
/// - Dropping it while the job runs lets the job finish (a thread cannot be interrupted); its
///   result is dropped.
/// - If the closure panics, the panic is caught on the pool thread, which survives, and
///   resumed here with the original payload.
///
/// # Examples
///
/// ```
/// let pool = corio_cpu::CpuPool::builder().threads(1).build();
/// let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     futures_lite::future::block_on(pool.run(|| -> u32 { panic!("bad pixel") }))
/// }));
/// assert_eq!(*caught.unwrap_err().downcast::<&str>().unwrap(), "bad pixel");
/// assert_eq!(futures_lite::future::block_on(pool.run(|| 7)), 7); // the thread survived
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Run<T> {
    pool: Arc<Shared>,
    slot: Arc<Slot<T>>,
    /// `Some` until the job has been queued.
    job: Option<Box<dyn Job>>,
    /// Our place in the line of submitters waiting for room; `None` when not in line.
    waiting: Option<u64>,
    /// Made by [`CpuPool::submit`]: a full queue makes the pool hold the job in its line.
    hand_over: bool,
    /// The line entry at `waiting` is our job, held by the pool (not our waker).
    job_in_line: bool,
}

impl CpuPool {
    /// Starts configuring a pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_cpu::CpuPool::builder().threads(2).build();
    /// assert_eq!(pool.metrics().threads, 2);
    /// ```
    pub fn builder() -> CpuPoolBuilder {
        CpuPoolBuilder::default()
    }

    /// Returns the pool that code on this thread should use: the one most recently
    /// [entered](CpuPool::enter) here (a corio runtime enters its own on its threads), otherwise
    /// the global pool, created on first use from [`THREADS_ENV`](crate::THREADS_ENV) and the
    /// defaults, which lives as long as the process.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_cpu::CpuPool;
    ///
    /// assert!(CpuPool::current().metrics().threads >= 1);
    /// ```
    pub fn current() -> CpuPool {
        // `try_with`: during thread teardown the thread-locals may be gone; use the global pool.
        if let Ok(Some(pool)) = CURRENT.try_with(|c| c.borrow().clone()) {
            return pool;
        }
        global().clone()
    }

    /// Makes this pool the [current](CpuPool::current) one on this thread while the guard lives.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_cpu::CpuPool::builder().threads(1).build();
    /// let _guard = pool.enter();
    /// assert_eq!(corio_cpu::CpuPool::current().metrics().threads, 1);
    /// ```
    pub fn enter(&self) -> EnterGuard {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        EnterGuard {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Runs `f` on one of the pool's threads; the returned future resolves to its value.
    ///
    /// Nothing happens until the future is first polled, when the job is queued; see [`Run`] for
    /// what a full queue, a dropped future and a panic do. On a pool that has been shut down the
    /// job runs on the global pool instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_cpu::CpuPool::builder().threads(2).build();
    /// let jobs: Vec<_> = (0..4u64).map(|i| pool.run(move || i * i)).collect();
    /// let squares: Vec<u64> = jobs.into_iter().map(futures_lite::future::block_on).collect();
    /// assert_eq!(squares, [0, 1, 4, 9]);
    /// ```
    pub fn run<T, F>(&self, f: F) -> Run<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.make_run(f, false)
    }

    /// Like [`run`](CpuPool::run), except where the job waits when the queue is full: the pool
    /// holds it in its line instead of the future, and moves it into the queue as room appears.
    ///
    /// With [`run`](CpuPool::run), a future that finds the queue full keeps its job, waits in
    /// line, and is woken to queue it when its turn comes; that wake-up is a round trip through
    /// the awaiting task's executor for every job. With `submit` nobody is woken until the
    /// result is ready. Everything else is the same: the job is handed over at the first poll,
    /// the line is one FIFO line for both kinds of submitters, dropping the future before the
    /// job starts means it never runs (a job still in line is taken out and dropped), and a
    /// panic resumes in the awaiter. While in line the job counts in
    /// [`waiting_submitters`](CpuMetrics::waiting_submitters), not in `queued`. Jobs held in line
    /// when the pool shuts down are finished by its threads, like the queued ones.
    ///
    /// Use it when the future is the whole body of a task: the wake-up saved is a cross-thread
    /// one. (`corio::spawn_cpu` goes one step further with [`execute`](CpuPool::execute): its
    /// task is the job itself.)
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future::block_on;
    ///
    /// // One slot: the second and third jobs wait in the pool's line, and still run in order.
    /// let pool = corio_cpu::CpuPool::builder().threads(1).queue_capacity(1).build();
    /// let runs: Vec<_> = (0..3u32).map(|i| pool.submit(move || i * 10)).collect();
    /// assert_eq!(runs.into_iter().map(block_on).collect::<Vec<_>>(), [0, 10, 20]);
    /// ```
    pub fn submit<T, F>(&self, f: F) -> Run<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.make_run(f, true)
    }

    fn make_run<T, F>(&self, f: F, hand_over: bool) -> Run<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slot = Arc::new(Slot::new());
        Run {
            pool: self.owner.shared.clone(),
            job: Some(Box::new(Work {
                slot: slot.clone(),
                f,
            })),
            slot,
            waiting: None,
            hand_over,
            job_in_line: false,
        }
    }

    /// Hands `job` to the pool, to run once on one of its threads: fire and forget, nothing to
    /// await. The advanced entry point for a job that delivers its result itself, such as a task
    /// whose runnable the pool polls (what `corio::spawn_cpu` gives it, so that the finished job
    /// wakes its awaiter directly).
    ///
    /// - The job is handed over *now*, and this never blocks: it joins the queue, or, if the
    ///   queue is full (or others wait), the pool holds it in its FIFO line, like a
    ///   [`submit`](CpuPool::submit) job, and queues it when its turn comes. It is never dropped
    ///   for lack of room.
    /// - It counts as queued in the queue (as a waiting submitter in the line), running while its
    ///   thread runs it, then completed. A [`CpuJob`] called inside it refines that: a panic of
    ///   its closure counts as panicked, and a `CpuJob` dropped uncalled (its task was cancelled)
    ///   makes the job count as cancelled, not completed.
    /// - A panic that escapes the job is caught on the thread, which survives; it counts as
    ///   panicked and its payload is dropped (the panic hook has printed it).
    /// - At [shutdown](CpuPool::shutdown), `execute` jobs that have not started are dropped
    ///   unrun, after the pool's lock is released, and count as cancelled: unlike a
    ///   [`Run`] future, nobody is known to wait for them. (A task's runnable dropped so makes its
    ///   awaiter see the task as shut down.) After shutdown, `execute` hands the job to the global
    ///   pool, which never shuts down.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = corio_cpu::CpuPool::builder().threads(2).build();
    /// let (tx, rx) = mpsc::channel();
    /// for i in 0..4u64 {
    ///     let tx = tx.clone();
    ///     pool.execute(move || tx.send(i * i).unwrap());
    /// }
    /// let mut squares: Vec<u64> = rx.iter().take(4).collect();
    /// squares.sort();
    /// assert_eq!(squares, [0, 1, 4, 9]);
    /// ```
    pub fn execute<J>(&self, job: J)
    where
        J: FnOnce() + Send + 'static,
    {
        self.owner.shared.execute(Box::new(Exec(job)));
    }

    /// A snapshot of the pool's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_cpu::CpuPool::builder().threads(4).build();
    /// let m = pool.metrics();
    /// assert_eq!(m.threads, 4);
    /// assert_eq!(m.threads_alive, 0); // threads start on demand
    /// ```
    pub fn metrics(&self) -> CpuMetrics {
        self.owner.shared.metrics()
    }

    /// Whether no job is queued, running, waiting in line, or finished but still delivering
    /// its result. A deterministic runtime holds virtual time still until this is true (the
    /// counters of [`metrics`](CpuPool::metrics) drop a job from `running` just before its
    /// result reaches the awaiter, so that the awaiter sees them exact).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_cpu::CpuPool::builder().threads(1).build();
    /// assert!(pool.is_settled());
    /// assert_eq!(futures_lite::future::block_on(pool.run(|| 2 + 2)), 4);
    /// while !pool.is_settled() {
    ///     std::thread::yield_now(); // the thread finishes handing the result over
    /// }
    /// ```
    pub fn is_settled(&self) -> bool {
        let shared = &*self.owner.shared;
        let m = shared.metrics();
        m.queued == 0
            && m.running == 0
            && m.waiting_submitters == 0
            && shared.settling.load(Ordering::SeqCst) == 0
    }

    /// Shuts the pool down: new jobs go to the global pool, submitters waiting for room move
    /// there too, and the threads finish the jobs already queued, then exit. Waits up to
    /// `timeout` for them (not at all when called from one of the pool's own threads); a thread
    /// still busy after that is left to finish its job and exit on its own.
    ///
    /// Idempotent. Dropping the last handle calls it with the builder's
    /// [`shutdown_timeout`](CpuPoolBuilder::shutdown_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = corio_cpu::CpuPool::builder().threads(2).build();
    /// futures_lite::future::block_on(pool.run(|| ()));
    /// pool.shutdown(Duration::from_secs(1));
    /// let m = pool.metrics();
    /// assert!(m.is_shut_down);
    /// assert_eq!(m.threads_alive, 0);
    /// ```
    pub fn shutdown(&self, timeout: Duration) {
        self.owner.shared.shutdown(timeout);
    }
}

impl fmt::Debug for CpuPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuPool")
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl CpuPoolBuilder {
    /// A builder with the defaults: [`THREADS_ENV`](crate::THREADS_ENV) or one thread per core,
    /// [`DEFAULT_QUEUE_PER_THREAD`](crate::DEFAULT_QUEUE_PER_THREAD) queue slots per thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_cpu::CpuPoolBuilder::new().build();
    /// assert!(pool.metrics().threads >= 1);
    /// ```
    pub fn new() -> CpuPoolBuilder {
        CpuPoolBuilder::default()
    }

    /// The number of threads. Zero is taken as one (a pool without threads would never run a
    /// job). An explicit value wins over [`THREADS_ENV`](crate::THREADS_ENV).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_cpu::CpuPool::builder().threads(0).build();
    /// assert_eq!(pool.metrics().threads, 1);
    /// ```
    pub fn threads(mut self, n: usize) -> CpuPoolBuilder {
        self.threads = Some(n.max(1));
        self
    }

    /// How many queued jobs the pool holds before submitters wait (default: 256 per thread).
    /// Zero is taken as one.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_cpu::CpuPool::builder().queue_capacity(0).build();
    /// assert_eq!(pool.metrics().queue_capacity, 1);
    /// ```
    pub fn queue_capacity(mut self, n: usize) -> CpuPoolBuilder {
        self.queue_capacity = Some(n.max(1));
        self
    }

    /// The threads' name prefix (default `corio-cpu`); threads are named `prefix-0`, `prefix-1`…
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_cpu::CpuPool::builder().thread_name("hash").build();
    /// let name = futures_lite::future::block_on(pool.run(|| std::thread::current().name().map(str::to_owned)));
    /// assert!(name.unwrap().starts_with("hash-"));
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> CpuPoolBuilder {
        self.thread_name = Some(prefix.into());
        self
    }

    /// The threads' stack size (default: std's).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_cpu::CpuPool::builder().stack_size(4 << 20).build();
    /// assert_eq!(futures_lite::future::block_on(pool.run(|| 1)), 1);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> CpuPoolBuilder {
        self.stack_size = Some(bytes);
        self
    }

    /// How long dropping the last handle waits for the threads (default 1 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = corio_cpu::CpuPool::builder().shutdown_timeout(Duration::ZERO).build();
    /// drop(pool); // does not wait
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> CpuPoolBuilder {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Builds the pool. No thread starts until the first job.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_cpu::CpuPool::builder().build();
    /// assert_eq!(pool.metrics().threads_alive, 0);
    /// ```
    pub fn build(self) -> CpuPool {
        self.build_inner(false)
    }

    fn build_inner(self, global: bool) -> CpuPool {
        let threads = self.threads.unwrap_or_else(config::default_threads);
        let config = Config {
            threads,
            queue_capacity: self
                .queue_capacity
                .unwrap_or(threads.saturating_mul(DEFAULT_QUEUE_PER_THREAD)),
            thread_name: self
                .thread_name
                .unwrap_or_else(|| DEFAULT_THREAD_NAME.to_owned()),
            stack_size: self.stack_size,
            shutdown_timeout: self.shutdown_timeout.unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
        };
        CpuPool {
            owner: Arc::new(Owner {
                shared: Arc::new(Shared::new(config, global)),
            }),
        }
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

impl<T> Future for Run<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        if this.job.is_some() && this.poll_submit(cx).is_pending() {
            return Poll::Pending;
        }
        match this.slot.poll(cx) {
            Poll::Ready(Ok(value)) => Poll::Ready(value),
            Poll::Ready(Err(payload)) => panic::resume_unwind(payload),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Run<T> {
    fn drop(&mut self) {
        if self.job.is_some() {
            // Never queued: the closure is dropped with `self`. Give up our place in line.
            if self.waiting.is_some() {
                let mut granted = Vec::new();
                let mut state = self.pool.lock();
                leave_line(&self.pool, &mut self.waiting, &mut state, &mut granted);
                drop(state);
                wake_all(granted);
            }
            return;
        }
        if self.job_in_line {
            let id = self.waiting.take().expect("a job in line has a place");
            let entry = self.pool.lock().waiters.remove(&id);
            if entry.is_some() {
                // Still in line: it never runs. Its closure is dropped here, after unlocking.
                drop(entry);
                return;
            }
            // The pool moved it into the queue: cancel it there, as below.
        }
        if self.slot.cancel() {
            self.pool.queued.fetch_sub(1, Ordering::SeqCst);
            self.pool.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl<T> fmt::Debug for Run<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("queued", &(self.job.is_none() && !self.job_in_line))
            .field("waiting_for_room", &self.waiting.is_some())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// Internals.

thread_local! {
    /// The pool entered on this thread, if any.
    static CURRENT: RefCell<Option<CpuPool>> = const { RefCell::new(None) };
    /// On a pool's own threads, that pool's id (0 elsewhere).
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
    /// The `execute` job running on this thread (see [`CpuJob`]).
    static EXEC: RefCell<ExecScope> = const {
        RefCell::new(ExecScope { pool: None, outcome: Outcome::Plain })
    };
}

fn global() -> &'static CpuPool {
    static GLOBAL: OnceLock<CpuPool> = OnceLock::new();
    GLOBAL.get_or_init(|| CpuPoolBuilder::new().build_inner(true))
}

#[derive(Debug)]
struct Config {
    threads: usize,
    queue_capacity: usize,
    thread_name: String,
    stack_size: Option<usize>,
    shutdown_timeout: Duration,
}

/// The owning handle: when the last [`CpuPool`] clone goes, the pool shuts down. Jobs and [`Run`]
/// futures hold only [`Shared`], so they never keep a pool alive.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        // After an explicit `shutdown`, which already waited its time, the last owner does not
        // wait a second time.
        let timeout = if self.shared.lock().shutdown {
            Duration::ZERO
        } else {
            self.shared.config.shutdown_timeout
        };
        self.shared.shutdown(timeout);
    }
}

struct Shared {
    /// Nonzero, unique per pool: lets a pool thread recognise its own pool.
    id: usize,
    config: Config,
    global: bool,
    state: Mutex<State>,
    /// Idle threads wait here for jobs (and shutdown).
    work: Condvar,
    /// `shutdown` waits here for threads to exit.
    exited: Condvar,
    queued: AtomicUsize,
    running: AtomicUsize,
    /// Jobs that no longer count as running but have not delivered their result yet (stored
    /// it and woken the awaiter): from acceptance until delivery a job is always in `queued`,
    /// `running` or here, so a deterministic runtime never moves virtual time while a CPU
    /// result is on its way (see [`CpuPool::is_settled`]).
    settling: AtomicUsize,
    completed: AtomicU64,
    panicked: AtomicU64,
    cancelled: AtomicU64,
    spawn_failures: AtomicU64,
}

/// Everything under the pool's one lock. No user code runs while it is held: jobs, wakers and
/// closure destructors all run after it is released.
///
/// Invariant: `jobs.len() + reserved <= queue_capacity` (until shutdown). `reserved` counts the
/// submitters taken out of `waiters` and woken, each owed one slot; a newcomer queues only if
/// nobody waits and a slot is free, so the line is FIFO. A job held in line (`Waiter::Job`)
/// moves into the queue as soon as it reaches the head and a slot is free, with no
/// reservation and no wake-up.
struct State {
    jobs: VecDeque<Box<dyn Job>>,
    waiters: BTreeMap<u64, Waiter>,
    next_waiter: u64,
    reserved: usize,
    alive: usize,
    idle: usize,
    next_thread: usize,
    shutdown: bool,
    threads: Vec<JoinHandle<()>>,
}

impl Shared {
    fn new(config: Config, global: bool) -> Shared {
        static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
        Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            config,
            global,
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                waiters: BTreeMap::new(),
                next_waiter: 0,
                reserved: 0,
                alive: 0,
                idle: 0,
                next_thread: 0,
                shutdown: false,
                threads: Vec::new(),
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            queued: AtomicUsize::new(0),
            settling: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            completed: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            spawn_failures: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under the lock, so a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn metrics(&self) -> CpuMetrics {
        let state = self.lock();
        CpuMetrics {
            threads: self.config.threads,
            threads_alive: state.alive,
            queue_capacity: self.config.queue_capacity,
            queued: self.queued.load(Ordering::SeqCst),
            running: self.running.load(Ordering::SeqCst),
            completed: self.completed.load(Ordering::SeqCst),
            panicked: self.panicked.load(Ordering::SeqCst),
            cancelled: self.cancelled.load(Ordering::SeqCst),
            waiting_submitters: state.waiters.len(),
            spawn_failures: self.spawn_failures.load(Ordering::SeqCst),
            is_shut_down: state.shutdown,
        }
    }

    /// [`CpuPool::execute`]: queue the job, or hold it in line; never blocks, never drops it.
    fn execute(self: &Arc<Shared>, job: Box<dyn Job>) {
        let mut state = self.lock();
        if state.shutdown {
            drop(state);
            // The global pool never shuts down, so this does not recurse further.
            global().owner.shared.execute(job);
            return;
        }
        if !state.waiters.is_empty()
            || state.jobs.len() + state.reserved >= self.config.queue_capacity
        {
            let id = state.next_waiter;
            state.next_waiter += 1;
            state.waiters.insert(id, Waiter::Job(job));
            return;
        }
        state.jobs.push_back(job);
        self.queued.fetch_add(1, Ordering::SeqCst);
        if let Some(job) = self.dispatch(state) {
            // No thread could be started at all: run it here rather than never.
            job.run(self);
        }
    }

    /// Lets the line into the free slots of the queue, first come first served. A job held in
    /// line moves into the queue (no wake-up needed), once no submitter ahead of it still holds
    /// a reservation. A waiting submitter gets a reserved slot and is put in `granted`, for the
    /// caller to wake after unlocking, but only if `submitters` allows it: otherwise the line
    /// stops at it (FIFO). Returns how many jobs moved into the queue, already counted as
    /// queued; the caller makes sure a thread sees them.
    fn admit(&self, state: &mut State, granted: &mut Vec<Waker>, submitters: bool) -> usize {
        let capacity = self.config.queue_capacity;
        let mut moved = 0;
        while !state.shutdown && state.jobs.len() + state.reserved < capacity {
            let Some(head) = state.waiters.first_entry() else {
                break;
            };
            let stop = match head.get() {
                Waiter::Submitter(_) => !submitters,
                // Not past a submitter that was let in but has not queued its job yet: jobs
                // enter the queue in the order of the line.
                Waiter::Job(_) => state.reserved > 0,
            };
            if stop {
                break;
            }
            match head.remove() {
                Waiter::Job(job) => {
                    state.jobs.push_back(job);
                    moved += 1;
                }
                Waiter::Submitter(waker) => {
                    state.reserved += 1;
                    granted.push(waker);
                }
            }
        }
        if moved > 0 {
            self.queued.fetch_add(moved, Ordering::SeqCst);
        }
        moved
    }

    /// After a dequeue: admits the line. Jobs held in line move up at once; waiting submitters
    /// are woken only once the queue has drained to its low-water mark (half the capacity),
    /// and then all the free slots go to them at once.
    ///
    /// Granting one slot per dequeue would wake a waiting submitter (usually a task on another
    /// thread: a cross-thread wake-up, often a syscall) for every job; granting a half-queue at
    /// a time costs one wake-up of the submitters' executor per batch, while the other half of
    /// the queue keeps the threads busy.
    fn admit_after_dequeue(&self, state: &mut State, granted: &mut Vec<Waker>) {
        if state.waiters.is_empty() {
            return;
        }
        let low = state.jobs.len() + state.reserved <= self.config.queue_capacity / 2;
        if self.admit(state, granted, low) > 1 && state.idle > 0 {
            // This thread takes one of them; let the idle ones share the rest.
            self.work.notify_all();
        }
    }

    /// After a job was pushed: wakes an idle thread, or starts one. Returns the job back if no
    /// thread exists to run it (the OS refused every thread), for the caller to run itself.
    fn dispatch(self: &Arc<Shared>, mut state: MutexGuard<'_, State>) -> Option<Box<dyn Job>> {
        if state.idle > 0 {
            self.work.notify_one();
            // Idle threads count themselves back as busy only once they run, so several pushes
            // may see the same idle thread: start more threads when jobs outnumber idle ones.
            if state.jobs.len() <= state.idle {
                return None;
            }
        }
        if state.alive >= self.config.threads {
            return None;
        }
        let n = state.next_thread;
        state.next_thread += 1;
        let mut builder = thread::Builder::new().name(format!("{}-{n}", self.config.thread_name));
        if let Some(bytes) = self.config.stack_size {
            builder = builder.stack_size(bytes);
        }
        let shared = self.clone();
        match builder.spawn(move || shared.work_loop()) {
            Ok(handle) => {
                state.alive += 1;
                state.threads.push(handle);
                None
            }
            Err(_) => {
                self.spawn_failures.fetch_add(1, Ordering::SeqCst);
                if state.alive == 0 {
                    state.jobs.pop_back()
                } else {
                    None
                }
            }
        }
    }

    fn work_loop(self: Arc<Shared>) {
        WORKER_OF.with(|w| w.set(self.id));
        let mut granted = Vec::new();
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                self.admit_after_dequeue(&mut state, &mut granted);
                drop(state);
                for waker in granted.drain(..) {
                    waker.wake();
                }
                job.run(&self);
                state = self.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            state = self
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.idle -= 1;
        }
        state.alive -= 1;
        drop(state);
        self.exited.notify_all();
    }

    fn shutdown(&self, timeout: Duration) {
        if self.global {
            return;
        }
        let mut state = self.lock();
        if !state.shutdown {
            state.shutdown = true;
            // Waiting submitters leave with a reservation, and move to the global pool. Jobs
            // held in line join the queue, which the threads finish before they exit.
            // `execute` jobs not started are dropped unrun (after unlocking): nobody is known
            // to wait for them.
            let mut woken = Vec::new();
            let mut moved = 0;
            let mut unrun = Vec::new();
            let queue = std::mem::take(&mut state.jobs);
            let mut dequeued = 0;
            for job in queue {
                if job.is_execute() {
                    dequeued += 1;
                    unrun.push(job);
                } else {
                    state.jobs.push_back(job);
                }
            }
            for waiter in std::mem::take(&mut state.waiters).into_values() {
                match waiter {
                    Waiter::Submitter(waker) => {
                        state.reserved += 1;
                        woken.push(waker);
                    }
                    Waiter::Job(job) if job.is_execute() => unrun.push(job),
                    Waiter::Job(job) => {
                        state.jobs.push_back(job);
                        moved += 1;
                    }
                }
            }
            self.queued.fetch_add(moved, Ordering::SeqCst);
            self.work.notify_all();
            drop(state);
            wake_all(woken);
            // Counted as cancelled before they stop counting as queued (a reader never sees a
            // job in neither). Dropped one by one, under `catch_unwind`, with the job outcome of
            // this thread set aside (this may run inside a job: a `CpuJob` dropped here must not
            // mark that one).
            self.cancelled
                .fetch_add(unrun.len() as u64, Ordering::SeqCst);
            self.queued.fetch_sub(dequeued, Ordering::SeqCst);
            let outer = enter_exec(None);
            for job in unrun {
                let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(job)));
            }
            enter_exec_scope(outer);
            state = self.lock();
        }
        if WORKER_OF.try_with(Cell::get).unwrap_or(0) == self.id {
            // Waiting for ourselves would only burn the timeout.
            return;
        }
        let deadline = Instant::now().checked_add(timeout);
        while state.alive > 0 {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                break;
            }
            state = self
                .exited
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let all_exited = state.alive == 0;
        let handles = std::mem::take(&mut state.threads);
        drop(state);
        for handle in handles {
            if all_exited || handle.is_finished() {
                // The thread has left its loop; joining only waits for its thread-locals.
                let _ = handle.join();
            }
            // Otherwise it is detached: it exits on its own once its job returns.
        }
    }
}

impl<T> Run<T> {
    fn poll_submit(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut state = self.pool.lock();
            if state.shutdown {
                // Shutdown takes everyone out of line (no admission after it), so there is
                // nothing to pass on.
                let mut none = Vec::new();
                leave_line(&self.pool, &mut self.waiting, &mut state, &mut none);
                drop(state);
                self.pool = global().owner.shared.clone();
                continue;
            }
            if let Some(id) = self.waiting {
                if let Some(Waiter::Submitter(waker)) = state.waiters.get_mut(&id) {
                    if !waker.will_wake(cx.waker()) {
                        *waker = cx.waker().clone();
                    }
                    return Poll::Pending;
                }
                // Taken out of line: a slot is reserved for us.
                state.reserved -= 1;
                self.waiting = None;
                let job = self.job.take().expect("an unqueued job is present");
                state.jobs.push_back(job);
                self.pool.queued.fetch_add(1, Ordering::SeqCst);
                // Jobs held in line behind us may have waited for this push to keep the order.
                let mut none = Vec::new();
                self.pool.admit(&mut state, &mut none, false);
                if let Some(job) = self.pool.dispatch(state) {
                    job.run(&self.pool);
                }
                return Poll::Ready(());
            } else if !state.waiters.is_empty()
                || state.jobs.len() + state.reserved >= self.pool.config.queue_capacity
            {
                let id = state.next_waiter;
                state.next_waiter += 1;
                self.waiting = Some(id);
                if self.hand_over {
                    let job = self.job.take().expect("an unqueued job is present");
                    state.waiters.insert(id, Waiter::Job(job));
                    self.job_in_line = true;
                    return Poll::Ready(());
                }
                state
                    .waiters
                    .insert(id, Waiter::Submitter(cx.waker().clone()));
                return Poll::Pending;
            }
            let job = self.job.take().expect("an unqueued job is present");
            state.jobs.push_back(job);
            self.pool.queued.fetch_add(1, Ordering::SeqCst);
            if let Some(job) = self.pool.dispatch(state) {
                // No thread could be started at all: run it here rather than never.
                job.run(&self.pool);
            }
            return Poll::Ready(());
        }
    }
}

/// Leaves the line of submitters; if we held a reservation, passes it on to the head of the line
/// (a waker to wake after unlocking goes to `granted`; a job held in line moves into the queue,
/// and an idle thread is told).
fn leave_line(
    pool: &Shared,
    waiting: &mut Option<u64>,
    state: &mut State,
    granted: &mut Vec<Waker>,
) {
    let Some(id) = waiting.take() else { return };
    if state.waiters.remove(&id).is_some() {
        return;
    }
    state.reserved -= 1;
    if pool.admit(state, granted, true) > 0 && state.idle > 0 {
        pool.work.notify_all();
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

/// An entry of the line of submitters waiting for room.
enum Waiter {
    /// A [`CpuPool::run`] future, woken with a reserved slot when its turn comes.
    Submitter(Waker),
    /// The job of a [`CpuPool::submit`] future, which the pool moves into the queue itself.
    Job(Box<dyn Job>),
}

/// A queued job, type-erased.
trait Job: Send {
    fn run(self: Box<Self>, pool: &Arc<Shared>);

    /// A job of [`CpuPool::execute`] (dropped unrun at shutdown), not of a [`Run`].
    fn is_execute(&self) -> bool {
        false
    }
}

/// A job of [`CpuPool::execute`].
struct Exec<J>(J);

impl<J: FnOnce() + Send> Job for Exec<J> {
    fn run(self: Box<Self>, pool: &Arc<Shared>) {
        // As in `Work::run`: running before not queued, completed (or cancelled) before not
        // running.
        pool.running.fetch_add(1, Ordering::SeqCst);
        pool.queued.fetch_sub(1, Ordering::SeqCst);
        let outer = enter_exec(Some(pool.clone()));
        let result = panic::catch_unwind(AssertUnwindSafe(self.0));
        let scope = enter_exec_scope(outer);
        let panicked = match result {
            Ok(()) => false,
            Err(payload) => {
                // Its destructor may panic too; the thread must survive it.
                let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
                true
            }
        };
        match scope.outcome {
            // A `CpuJob` counted the job when its closure returned (see `CpuJob::call`), and
            // left it settling until the rest of the job (delivering the result) was done.
            Outcome::Counted => {
                pool.settling.fetch_sub(1, Ordering::SeqCst);
            }
            Outcome::Cancelled => {
                pool.cancelled.fetch_add(1, Ordering::SeqCst);
                pool.running.fetch_sub(1, Ordering::SeqCst);
            }
            Outcome::Plain | Outcome::Ran => {
                if panicked {
                    pool.panicked.fetch_add(1, Ordering::SeqCst);
                }
                pool.completed.fetch_add(1, Ordering::SeqCst);
                pool.running.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    fn is_execute(&self) -> bool {
        true
    }
}

/// The `execute` job running on this thread, as its [`CpuJob`]s see it.
struct ExecScope {
    /// The pool that counts it; `None` outside any `execute` job.
    pool: Option<Arc<Shared>>,
    outcome: Outcome,
}

/// What the [`CpuJob`]s of an `execute` job said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Nothing: a plain job (so far).
    Plain,
    /// A `CpuJob`'s closure is being called.
    Ran,
    /// A `CpuJob`'s closure returned or panicked, and the `CpuJob` counted the job as completed
    /// (and panicked) and no longer running.
    Counted,
    /// A `CpuJob` was dropped uncalled, and none had run.
    Cancelled,
}

/// Makes a fresh scope for an `execute` job of `pool` (or none) current; returns the previous.
fn enter_exec(pool: Option<Arc<Shared>>) -> ExecScope {
    enter_exec_scope(ExecScope {
        pool,
        outcome: Outcome::Plain,
    })
}

/// Makes `scope` current; returns the previous one.
fn enter_exec_scope(scope: ExecScope) -> ExecScope {
    EXEC.try_with(|e| std::mem::replace(&mut *e.borrow_mut(), scope))
        .unwrap_or(ExecScope {
            pool: None,
            outcome: Outcome::Plain,
        })
}

/// A closure that tells the pool whether it ran: what a job given to
/// [`CpuPool::execute`] wraps the user's closure in, when the job may be cancelled before it
/// calls it (a task's future, dropped unpolled when its task was cancelled), or when the job
/// has more to do after the closure returns (a task wakes its awaiter).
///
/// Inside an `execute` job, on the thread that runs it: [`call`](CpuJob::call) counts the job as
/// completed (and panicked, if the closure panics; the panic goes on unwinding) and no longer
/// running *as soon as the closure returns*, so whoever the job then tells of the result sees
/// the counters up to date. A `CpuJob` dropped uncalled counts the job as cancelled instead of
/// completed. Only the first `CpuJob` of a job counts. Outside an `execute` job it is a plain
/// closure.
///
/// # Examples
///
/// ```
/// use corio_cpu::{CpuJob, CpuPool};
///
/// let pool = CpuPool::builder().threads(1).build();
/// let (tx, rx) = std::sync::mpsc::channel();
/// let job = CpuJob::new(|| 6 * 7);
/// pool.execute(move || tx.send(job.call()).unwrap());
/// assert_eq!(rx.recv().unwrap(), 42);
/// assert_eq!(pool.metrics().completed, 1); // counted before the result was sent
///
/// let dropped = CpuJob::new(|| unreachable!("never called"));
/// let (tx, rx) = std::sync::mpsc::channel();
/// pool.execute(move || {
///     drop(dropped); // as a task cancelled before it ran would
///     tx.send(()).unwrap();
/// });
/// rx.recv().unwrap();
/// while pool.metrics().running > 0 {
///     std::thread::yield_now();
/// }
/// let m = pool.metrics();
/// assert_eq!((m.completed, m.cancelled), (1, 1));
/// ```
pub struct CpuJob<F> {
    f: Option<F>,
}

impl<F> CpuJob<F> {
    /// Wraps `f`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio_cpu::CpuJob::new(|| 1).call(), 1);
    /// ```
    pub fn new(f: F) -> CpuJob<F> {
        CpuJob { f: Some(f) }
    }
}

impl<T, F: FnOnce() -> T> CpuJob<F> {
    /// Calls the closure; inside an `execute` job, counts the job as completed when it returns
    /// (and as panicked if it panics: the panic goes on unwinding).
    ///
    /// # Examples
    ///
    /// ```
    /// let caught = std::panic::catch_unwind(|| corio_cpu::CpuJob::new(|| panic!("boom")).call());
    /// assert!(caught.is_err()); // the panic goes on unwinding
    /// ```
    pub fn call(mut self) -> T {
        /// Counts the job when the closure returns or unwinds.
        struct Finish {
            panicked: bool,
        }
        impl Drop for Finish {
            fn drop(&mut self) {
                let _ = EXEC.try_with(|e| {
                    let mut e = e.borrow_mut();
                    if e.outcome != Outcome::Ran {
                        return;
                    }
                    if let Some(pool) = &e.pool {
                        if self.panicked {
                            pool.panicked.fetch_add(1, Ordering::SeqCst);
                        }
                        pool.completed.fetch_add(1, Ordering::SeqCst);
                        // Settling until the `execute` job returns (see `Exec::run`).
                        pool.settling.fetch_add(1, Ordering::SeqCst);
                        pool.running.fetch_sub(1, Ordering::SeqCst);
                        e.outcome = Outcome::Counted;
                    }
                });
            }
        }
        let f = self
            .f
            .take()
            .expect("a CpuJob holds its closure until called");
        let _ = EXEC.try_with(|e| {
            let mut e = e.borrow_mut();
            if e.outcome == Outcome::Plain && e.pool.is_some() {
                e.outcome = Outcome::Ran;
            }
        });
        let mut finish = Finish { panicked: true };
        let value = f();
        finish.panicked = false;
        drop(finish);
        value
    }
}

impl<F> Drop for CpuJob<F> {
    fn drop(&mut self) {
        if self.f.is_some() {
            let _ = EXEC.try_with(|e| {
                let mut e = e.borrow_mut();
                if e.outcome == Outcome::Plain && e.pool.is_some() {
                    e.outcome = Outcome::Cancelled;
                }
            });
        }
    }
}

impl<F> fmt::Debug for CpuJob<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuJob")
            .field("called", &self.f.is_none())
            .finish_non_exhaustive()
    }
}

struct Work<T, F> {
    slot: Arc<Slot<T>>,
    f: F,
}

impl<T, F> Job for Work<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(self: Box<Self>, pool: &Arc<Shared>) {
        let Work { slot, f } = *self;
        if !slot.start() {
            // Cancelled while queued (and counted then): it never runs.
            drop(f);
            return;
        }
        // Counted as running before it stops counting as queued, and as completed before it
        // stops counting as running, so a reader never sees a job in none of the three.
        pool.running.fetch_add(1, Ordering::SeqCst);
        pool.queued.fetch_sub(1, Ordering::SeqCst);
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        if result.is_err() {
            pool.panicked.fetch_add(1, Ordering::SeqCst);
        }
        pool.completed.fetch_add(1, Ordering::SeqCst);
        // Settling before it stops running, until the result has reached the awaiter.
        pool.settling.fetch_add(1, Ordering::SeqCst);
        pool.running.fetch_sub(1, Ordering::SeqCst);
        slot.finish(result);
        pool.settling.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where a job's result meets its awaiter.
struct Slot<T> {
    inner: Mutex<SlotInner<T>>,
}

struct SlotInner<T> {
    phase: Phase<T>,
    waker: Option<Waker>,
}

enum Phase<T> {
    Queued,
    Running,
    Cancelled,
    Done(thread::Result<T>),
    Taken,
}

impl<T> Slot<T> {
    fn new() -> Slot<T> {
        Slot {
            inner: Mutex::new(SlotInner {
                phase: Phase::Queued,
                waker: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotInner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queued → Running; `false` if the job was cancelled.
    fn start(&self) -> bool {
        let mut inner = self.lock();
        match inner.phase {
            Phase::Queued => {
                inner.phase = Phase::Running;
                true
            }
            _ => false,
        }
    }

    /// Queued → Cancelled; `false` if the job had started (or finished).
    fn cancel(&self) -> bool {
        let mut inner = self.lock();
        match inner.phase {
            Phase::Queued => {
                inner.phase = Phase::Cancelled;
                true
            }
            _ => false,
        }
    }

    fn finish(&self, result: thread::Result<T>) {
        let mut inner = self.lock();
        inner.phase = Phase::Done(result);
        let waker = inner.waker.take();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<T, Box<dyn Any + Send>>> {
        let mut inner = self.lock();
        match std::mem::replace(&mut inner.phase, Phase::Taken) {
            Phase::Done(result) => Poll::Ready(result),
            Phase::Taken => panic!("`Run` polled after it completed"),
            other => {
                inner.phase = other;
                match &mut inner.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}
