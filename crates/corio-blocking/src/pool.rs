//! The thread pool: submission, worker threads, shutdown. (How a pool is configured and built
//! is in `config.rs`.)
//!
//! # How a job reaches a thread
//!
//! Jobs are [`async_task::Runnable`]s in one lock-free [`ConcurrentQueue`]. Three counters tell a
//! submitter what to do after its push:
//!
//! - `sleeping`: threads waiting on the condition variable. Only if this is non-zero does the
//!   submitter take the mutex, to wake exactly one of them.
//! - `idle`: threads not running a job (starting, searching the queue, or sleeping). If no thread
//!   is idle and the limit allows, the submitter spawns one.
//! - otherwise a thread is awake between two jobs, and it looks at the queue again before it
//!   sleeps, so the submitter does nothing: push, one fence, two loads.
//!
//! Before sleeping, one idle thread at a time spins on the queue for a few microseconds, so a
//! caller that awaits jobs one after another usually finds a thread awake.
//!
//! The "looks again before it sleeps" step is a Dekker handshake: a worker raises `sleeping` and
//! then checks the queue; a submitter pushes and then checks `sleeping`, with a `SeqCst` fence on
//! both sides. At least one of them sees the other, so no job is left in the queue while every
//! thread sleeps. The same handshake guards a thread's exit after its keep-alive, and the
//! `closed` flag at shutdown.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use async_task::Runnable;
use concurrent_queue::ConcurrentQueue;

use crate::config::{self, Config, PoolBuilder};
use crate::job::{Delivery, Report, Unblocked};

/// A pool of threads for blocking work.
///
/// The pool starts with no threads. Each job that finds no idle thread spawns one, up to
/// [`max_threads`](PoolBuilder::max_threads); a thread that stays idle for the
/// [`keep_alive`](PoolBuilder::keep_alive) exits. Jobs beyond the limit wait in a queue and run in
/// submission order as threads free up.
///
/// `Pool` is a cheap handle (an [`Arc`]): clones share one pool. When the last handle is dropped,
/// the pool [shuts down](Pool::shutdown) with the builder's
/// [`shutdown_timeout`](PoolBuilder::shutdown_timeout) (one second by default).
///
/// Most code never names a pool: [`unblock`](crate::unblock) uses [`Pool::current`], which is the
/// pool [entered](Pool::enter) on this thread, or else a global pool created on first use.
///
/// # Examples
///
/// ```
/// use corio_blocking::Pool;
/// use std::time::Duration;
///
/// let pool = Pool::builder()
///     .max_threads(4)
///     .keep_alive(Duration::from_secs(1))
///     .thread_name("image-worker")
///     .build();
///
/// let sum = futures_lite::future::block_on(pool.unblock(|| (1..=10).sum::<u32>()));
/// assert_eq!(sum, 55);
/// ```
#[derive(Clone)]
pub struct Pool {
    handle: Arc<Handle>,
}

/// A snapshot of a pool's counters, from [`Pool::metrics`].
///
/// Each field is read with one atomic load, so the snapshot is cheap but not taken at a single
/// instant: fields may disagree by a job or two while the pool is busy.
///
/// # Examples
///
/// ```
/// use corio_blocking::Pool;
///
/// let pool = Pool::builder().max_threads(3).build();
/// futures_lite::future::block_on(pool.unblock(|| ()));
/// let m = pool.metrics();
/// assert_eq!(m.max_threads, 3);
/// assert!(m.threads_alive <= 3);
/// assert_eq!(m.threads_spawned, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolMetrics {
    /// Threads that exist now, busy or idle.
    pub threads_alive: usize,
    /// Threads that exist and are not running a job.
    pub threads_idle: usize,
    /// Jobs submitted and not yet started.
    pub queued: usize,
    /// Threads spawned since the pool was created.
    pub threads_spawned: u64,
    /// Jobs run so far, including those that panicked. (A job that waits inside, such as the
    /// background write of a dropped [`Unblock`](crate::Unblock), counts once per run.)
    pub jobs_run: u64,
    /// Times `std::thread::Builder::spawn` failed.
    pub spawn_failures: u64,
    /// The thread limit.
    pub max_threads: usize,
    /// How long an idle thread waits for work before it exits.
    pub keep_alive: Duration,
    /// Whether [`Pool::shutdown`] has run (or the last handle was dropped).
    pub is_shut_down: bool,
}

/// Makes a pool the [current](Pool::current) one on this thread until it is dropped.
///
/// Returned by [`Pool::enter`]. Guards nest: dropping one restores the pool that was current
/// before it. The guard cannot leave its thread.
///
/// # Examples
///
/// ```
/// use corio_blocking::Pool;
///
/// let pool = Pool::builder().thread_name("mine").build();
/// {
///     let _guard = pool.enter();
///     let name = futures_lite::future::block_on(corio_blocking::unblock(|| {
///         std::thread::current().name().map(str::to_owned)
///     }));
///     assert!(name.unwrap().starts_with("mine-"));
/// }
/// ```
#[must_use = "the pool is current only while the guard is alive"]
pub struct EnterGuard {
    previous: Option<Pool>,
    // `*const ()` makes the guard `!Send`: it must be dropped on the thread that entered.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Pool {
    /// Starts building a pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_blocking::Pool::builder().max_threads(8).build();
    /// assert_eq!(pool.metrics().max_threads, 8);
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    /// Returns the pool that [`unblock`](crate::unblock) uses on this thread.
    ///
    /// That is the pool most recently [entered](Pool::enter) on this thread; on one of a pool's
    /// own threads, that pool; and otherwise the global pool, which is created on first use from
    /// the environment and the defaults and lives as long as the process.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Pool;
    ///
    /// let pool = Pool::builder().max_threads(2).build();
    /// assert_ne!(Pool::current().metrics().max_threads, 0);
    /// let _guard = pool.enter();
    /// assert_eq!(Pool::current().metrics().max_threads, 2);
    /// ```
    pub fn current() -> Pool {
        // `try_with`: during thread teardown the thread-locals may be gone; use the global pool.
        if let Ok(Some(pool)) = CURRENT.try_with(|c| c.borrow().clone()) {
            return pool;
        }
        let worker = WORKER.try_with(|w| w.borrow().as_ref().and_then(|w| w.handle.upgrade()));
        if let Ok(Some(handle)) = worker {
            return Pool { handle };
        }
        global().clone()
    }

    /// Makes this pool the [current](Pool::current) one on this thread while the guard lives.
    ///
    /// A runtime enters its pool on each of its threads, so that `unblock`, `Unblock::new` and the
    /// `corio-fs` functions called from its tasks use it.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Pool;
    ///
    /// let pool = Pool::builder().max_threads(1).build();
    /// let guard = pool.enter();
    /// assert_eq!(Pool::current().metrics().max_threads, 1);
    /// drop(guard);
    /// ```
    pub fn enter(&self) -> EnterGuard {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        EnterGuard {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Runs `f` on one of this pool's threads and returns a future of its result.
    ///
    /// The job is queued at once, whether or not the future is polled. See
    /// [`unblock`](crate::unblock) for what a panic in `f` and a dropped future do.
    ///
    /// If the pool has been [shut down](Pool::shutdown), the job runs on the global pool instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_blocking::Pool::builder().build();
    /// let len = futures_lite::future::block_on(pool.unblock(|| "hello".len()));
    /// assert_eq!(len, 5);
    /// ```
    pub fn unblock<T, F>(&self, f: F) -> Unblocked<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.sched().spawn(async move { f() })
    }

    /// Returns a snapshot of the pool's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio_blocking::Pool::builder().build();
    /// let m = pool.metrics();
    /// assert_eq!(m.threads_alive, 0); // threads start on demand
    /// assert_eq!(m.queued, 0);
    /// ```
    pub fn metrics(&self) -> PoolMetrics {
        self.handle.shared.metrics()
    }

    /// Stops the pool's threads and waits up to `timeout` for them to exit.
    ///
    /// What happens, in order:
    ///
    /// 1. The pool is marked shut down. Jobs submitted from now on run on the global pool, so a
    ///    late submission is still served: nothing hangs, nothing panics.
    /// 2. Idle threads wake up and exit. Busy threads finish their current job, then run whatever
    ///    is still queued (nothing submitted earlier is lost), then exit.
    /// 3. This call waits until every thread has exited, or `timeout` has passed, and joins the
    ///    threads that exited. A job that waits for another (a dropped `Unblock` writing its
    ///    buffered bytes after the write in flight) is resumed on the global pool once that one
    ///    is done, and is waited for too.
    ///
    /// Returns `true` if every thread exited, and every such job finished, in time. On `false`,
    /// the remaining threads are detached: each exits right after its current job and the queue
    /// are done. A job that never returns keeps its thread; nothing can interrupt a running
    /// closure.
    ///
    /// Called on one of the pool's own threads, it does not wait for that thread. Calling it again
    /// is harmless. The global pool cannot be shut down: for it this returns `false` at once and
    /// changes nothing, and its idle threads exit after the keep-alive as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Pool;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::builder().build();
    /// futures_lite::future::block_on(pool.unblock(|| ()));
    /// assert!(pool.shutdown(Duration::from_secs(5)));
    /// assert_eq!(pool.metrics().threads_alive, 0);
    ///
    /// // Still usable: the job runs on the global pool.
    /// assert_eq!(futures_lite::future::block_on(pool.unblock(|| 7)), 7);
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.handle.shared.shutdown(timeout)
    }

    pub(crate) fn sched(&self) -> Sched {
        if self.handle.shared.global {
            Sched::Global
        } else {
            Sched::Pool(self.handle.shared.clone())
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.handle.shared;
        f.debug_struct("Pool")
            .field("name", &s.config.thread_name)
            .field("global", &s.global)
            .field("metrics", &s.metrics())
            .finish()
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // Drop the replaced pool after the borrow ends: dropping a last handle runs shutdown.
        let replaced = CURRENT.try_with(|c| std::mem::replace(&mut *c.borrow_mut(), previous));
        drop(replaced);
    }
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// Internals.

thread_local! {
    /// The pool entered on this thread, if any.
    static CURRENT: RefCell<Option<Pool>> = const { RefCell::new(None) };
    /// Set on a pool's own threads.
    static WORKER: RefCell<Option<WorkerId>> = const { RefCell::new(None) };
}

struct WorkerId {
    pool: usize,
    handle: Weak<Handle>,
    shared: Arc<Shared>,
}

/// The owning handle: when the last `Pool` clone goes, the pool shuts down.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // After an explicit `shutdown`, which already waited its time, the last handle only
        // joins the threads that are done: it does not wait a second time.
        let timeout = if self.shared.closed.load(Ordering::SeqCst) {
            Duration::ZERO
        } else {
            self.shared.config.shutdown_timeout
        };
        self.shared.shutdown(timeout);
    }
}

/// Where a job is scheduled: the global pool, or a specific pool's shared state.
///
/// Holding `Arc<Shared>` (not the owning `Handle`) means jobs and `Unblock` values never keep a
/// pool from shutting down; after shutdown their work moves to the global pool.
#[derive(Clone)]
pub(crate) enum Sched {
    Global,
    Pool(Arc<Shared>),
}

impl Sched {
    /// The scheduler of the [current](Pool::current) pool, without cloning a `Pool`.
    pub(crate) fn current() -> Sched {
        if let Ok(Some(s)) = CURRENT.try_with(|c| c.borrow().as_ref().map(Pool::sched)) {
            return s;
        }
        if let Ok(Some(s)) = WORKER.try_with(|w| {
            w.borrow().as_ref().map(|w| match w.shared.global {
                true => Sched::Global,
                false => Sched::Pool(w.shared.clone()),
            })
        }) {
            return s;
        }
        Sched::Global
    }

    /// Spawns a future as a job; the future runs on a pool thread, and may yield (the thread is
    /// then free until the future is woken and rescheduled).
    pub(crate) fn spawn<F>(&self, future: F) -> Unblocked<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_reporting(future, None)
    }

    /// A job that is one blocking call, such as an [`Unblock`](crate::Unblock) adapter's read or
    /// write: on a thread in inline mode (a simulation's: see `inline`) it runs at the call, so
    /// that its moment is the schedule's, not a pool thread's (a probe found `corio::fs::File`
    /// breaking replay by seed); elsewhere on the pool.
    pub(crate) fn spawn_job<T, F>(&self, f: F) -> Unblocked<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if crate::inline::active() {
            return Unblocked::inline(f, None);
        }
        self.spawn(async move { f() })
    }

    /// [`spawn`](Sched::spawn) for a job that waits for another job: the pool's shutdown waits
    /// for it too, even once it has been resumed on the global pool (see `Shared::outstanding`).
    pub(crate) fn spawn_waited<F>(&self, future: F) -> Unblocked<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let outstanding = match self {
            Sched::Pool(shared) => Some(Outstanding::new(shared.clone())),
            Sched::Global => None,
        };
        self.spawn(async move {
            // Counted until the job finishes or is dropped.
            let _outstanding = outstanding;
            future.await
        })
    }

    /// [`spawn`](Sched::spawn), with where to report what nobody will observe (`None`: stderr).
    pub(crate) fn spawn_reporting<F>(
        &self,
        future: F,
        report: Option<Report>,
    ) -> Unblocked<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let sched = self.clone();
        let (runnable, task) = async_task::Builder::new().spawn(
            move |()| Delivery::job(future, report),
            move |r| sched.schedule(r),
        );
        self.schedule(runnable);
        Unblocked::new(task)
    }

    fn schedule(&self, runnable: Runnable) {
        match self {
            Sched::Global => global_shared().schedule(runnable),
            Sched::Pool(shared) => shared.schedule(runnable),
        }
    }
}

/// One job of a pool not finished yet (see `Shared::outstanding`).
struct Outstanding(Arc<Shared>);

impl Outstanding {
    fn new(shared: Arc<Shared>) -> Outstanding {
        shared.outstanding.fetch_add(1, Ordering::SeqCst);
        Outstanding(shared)
    }
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        if self.0.outstanding.fetch_sub(1, Ordering::SeqCst) == 1
            && self.0.closed.load(Ordering::SeqCst)
        {
            // A shutdown may wait for this: under its lock, so that the wake-up is not missed.
            let _s = lock(&self.0.sleep);
            self.0.exited.notify_all();
        }
    }
}

struct SleepState {
    /// Wake-ups issued with `notify_one` and not yet taken by a sleeping thread.
    notified: usize,
}

pub(crate) struct Shared {
    id: usize,
    global: bool,
    config: Config,
    queue: ConcurrentQueue<Runnable>,
    /// Threads not running a job (starting, searching, sleeping).
    idle: AtomicUsize,
    /// Threads that exist.
    alive: AtomicUsize,
    /// Threads waiting on `wake`, mirrored here so that submitters can skip the mutex.
    sleeping: AtomicUsize,
    /// Set by shutdown; never cleared.
    closed: AtomicBool,
    /// One thread at a time may spin briefly before sleeping (see `park`).
    spinning: AtomicBool,
    sleep: Mutex<SleepState>,
    wake: Condvar,
    exited: Condvar,
    /// Jobs spawned on this pool that wait for another job ([`Sched::spawn_waited`]: a dropped
    /// `Unblock`'s write of its buffered bytes) and have not finished: resumed after shutdown
    /// began, such a job runs on the global pool, and shutdown waits for it as for the pool's
    /// own threads. (Other jobs are covered by the threads and the queue, without a count.)
    outstanding: AtomicUsize,
    threads: Mutex<Vec<(usize, JoinHandle<()>)>>,
    handle: Weak<Handle>,
    next_thread: AtomicUsize,
    threads_spawned: AtomicU64,
    jobs_run: AtomicU64,
    spawn_failures: AtomicU64,
}

fn global() -> &'static Pool {
    static GLOBAL: OnceLock<Pool> = OnceLock::new();
    GLOBAL.get_or_init(|| Pool::with_config(config::from_env(), true))
}

fn global_shared() -> &'static Arc<Shared> {
    &global().handle.shared
}

/// Locks `m`, ignoring poison. Nothing in this crate panics while holding one of its locks; if
/// something did, the state behind the lock is still valid (counters, queues of buffers, wakers).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many rounds an idle thread spins on the queue before it sleeps. A job submitted in that
/// window is taken without a futex wake-up, which is what a caller awaiting jobs one after
/// another hits every time.
const SPIN_ROUNDS: u32 = 64;

impl Pool {
    pub(crate) fn with_config(config: Config, global: bool) -> Pool {
        static NEXT_POOL: AtomicUsize = AtomicUsize::new(1);
        let handle = Arc::new_cyclic(|weak| Handle {
            shared: Arc::new(Shared {
                id: NEXT_POOL.fetch_add(1, Ordering::Relaxed),
                global,
                config,
                queue: ConcurrentQueue::unbounded(),
                idle: AtomicUsize::new(0),
                alive: AtomicUsize::new(0),
                sleeping: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                spinning: AtomicBool::new(false),
                sleep: Mutex::new(SleepState { notified: 0 }),
                wake: Condvar::new(),
                exited: Condvar::new(),
                outstanding: AtomicUsize::new(0),
                threads: Mutex::new(Vec::new()),
                handle: weak.clone(),
                next_thread: AtomicUsize::new(1),
                threads_spawned: AtomicU64::new(0),
                jobs_run: AtomicU64::new(0),
                spawn_failures: AtomicU64::new(0),
            }),
        });
        Pool { handle }
    }
}

impl Shared {
    fn metrics(&self) -> PoolMetrics {
        PoolMetrics {
            threads_alive: self.alive.load(Ordering::Relaxed),
            threads_idle: self.idle.load(Ordering::Relaxed),
            queued: self.queue.len(),
            threads_spawned: self.threads_spawned.load(Ordering::Relaxed),
            jobs_run: self.jobs_run.load(Ordering::Relaxed),
            spawn_failures: self.spawn_failures.load(Ordering::Relaxed),
            max_threads: self.config.max_threads,
            keep_alive: self.config.keep_alive,
            is_shut_down: self.closed.load(Ordering::Relaxed),
        }
    }

    fn schedule(self: &Arc<Self>, runnable: Runnable) {
        if self.closed.load(Ordering::Acquire) {
            return global_shared().schedule(runnable);
        }
        // The queue is unbounded and never closed, so `push` cannot fail.
        let _ = self.queue.push(runnable);
        fence(Ordering::SeqCst);
        if self.closed.load(Ordering::Relaxed) {
            // Shutdown raced with us and its threads may already be gone: move the queue.
            self.drain_to_global();
            return;
        }
        if self.sleeping.load(Ordering::Relaxed) > 0 {
            self.wake_one();
        } else if self.idle.load(Ordering::Relaxed) == 0 {
            self.grow();
        }
        // Otherwise a thread is awake between jobs and checks the queue before it sleeps.
    }

    /// Called when a job is waiting: wake a sleeper, or spawn if nobody could take the job.
    fn wake_one(self: &Arc<Self>) {
        let mut s = lock(&self.sleep);
        if self.sleeping.load(Ordering::Relaxed) > s.notified {
            s.notified += 1;
            drop(s);
            self.wake.notify_one();
            return;
        }
        // Exits happen under this lock, so `idle` is exact with respect to them here.
        let nobody = self.idle.load(Ordering::SeqCst) == 0;
        drop(s);
        if nobody {
            self.grow();
        }
    }

    /// Spawns one thread if the limit allows.
    fn grow(self: &Arc<Self>) {
        if self.closed.load(Ordering::Relaxed) || !self.reserve_thread() {
            return;
        }
        self.idle.fetch_add(1, Ordering::SeqCst);
        match self.spawn_thread() {
            Ok(()) => {
                self.threads_spawned.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                self.idle.fetch_sub(1, Ordering::SeqCst);
                let left = self.alive.fetch_sub(1, Ordering::SeqCst) - 1;
                self.spawn_failures.fetch_add(1, Ordering::Relaxed);
                config::warn_once(
                    &SPAWN_WARNED,
                    format_args!(
                        "corio-blocking: could not spawn a pool thread ({err}); \
                         continuing with {left} thread(s)"
                    ),
                );
                if left == 0 {
                    self.no_threads_fallback();
                }
            }
        }
    }

    /// With no thread at all and none spawnable, queued jobs must still run: a private pool hands
    /// them to the global pool; the global pool runs them on the submitting thread.
    fn no_threads_fallback(&self) {
        if self.global {
            while let Ok(runnable) = self.queue.pop() {
                run_job(runnable);
                self.jobs_run.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            self.drain_to_global();
        }
    }

    fn drain_to_global(&self) {
        while let Ok(runnable) = self.queue.pop() {
            global_shared().schedule(runnable);
        }
    }

    /// Counts one more thread if that stays within the limit.
    fn reserve_thread(&self) -> bool {
        let mut alive = self.alive.load(Ordering::Relaxed);
        loop {
            if alive >= self.config.max_threads {
                return false;
            }
            match self.alive.compare_exchange_weak(
                alive,
                alive + 1,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => alive = now,
            }
        }
    }

    fn spawn_thread(self: &Arc<Self>) -> std::io::Result<()> {
        let shared = self.clone();
        let index = self.next_thread.fetch_add(1, Ordering::Relaxed);
        let mut builder =
            thread::Builder::new().name(format!("{}-{index}", self.config.thread_name));
        if let Some(size) = self.config.stack_size {
            builder = builder.stack_size(size);
        }
        // Hold the list while spawning so a thread that exits at once finds its own entry.
        let mut threads = lock(&self.threads);
        let join = builder.spawn(move || worker_main(shared, index))?;
        threads.push((index, join));
        Ok(())
    }

    fn shutdown(&self, timeout: Duration) -> bool {
        if self.global {
            return false;
        }
        self.closed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        {
            let _s = lock(&self.sleep);
            self.wake.notify_all();
        }
        let own = WORKER
            .try_with(|w| w.borrow().as_ref().map(|w| w.pool))
            .ok()
            .flatten()
            == Some(self.id);
        let allowance = usize::from(own);
        let deadline = Instant::now().checked_add(timeout);
        let mut s = lock(&self.sleep);
        while self.alive.load(Ordering::SeqCst) > allowance
            || self.outstanding.load(Ordering::SeqCst) > 0
        {
            let remaining = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if remaining.is_zero() {
                break;
            }
            s = self
                .exited
                .wait_timeout(s, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(s);
        let all_exited = self.alive.load(Ordering::SeqCst) <= allowance
            && self.outstanding.load(Ordering::SeqCst) == 0;
        let me = thread::current().id();
        let threads = std::mem::take(&mut *lock(&self.threads));
        for (index, join) in threads {
            if join.thread().id() == me {
                continue; // cannot join ourselves; dropping the handle detaches it
            }
            if all_exited || join.is_finished() {
                let _ = join.join();
            } else {
                // Still running a job: detach. It exits once its job and the queue are done.
                lock(&self.threads).push((index, join));
            }
        }
        if self.alive.load(Ordering::SeqCst) == 0 {
            self.drain_to_global();
        }
        all_exited
    }
}

static SPAWN_WARNED: AtomicBool = AtomicBool::new(false);

fn run_job(runnable: Runnable) {
    // A job catches its own panics (`Delivery`), and so does the drop of a value nobody took;
    // keep the thread alive regardless.
    let _ = catch_unwind(AssertUnwindSafe(|| runnable.run()));
}

fn worker_main(shared: Arc<Shared>, index: usize) {
    WORKER.with(|w| {
        *w.borrow_mut() = Some(WorkerId {
            pool: shared.id,
            handle: shared.handle.clone(),
            shared: shared.clone(),
        });
    });
    loop {
        if let Ok(runnable) = shared.queue.pop() {
            shared.idle.fetch_sub(1, Ordering::SeqCst);
            if !shared.queue.is_empty() {
                // More work is waiting: make sure someone else is on it while we are busy.
                if shared.sleeping.load(Ordering::Relaxed) > 0 {
                    shared.wake_one();
                } else if shared.idle.load(Ordering::Relaxed) == 0 {
                    shared.grow();
                }
            }
            run_job(runnable);
            shared.jobs_run.fetch_add(1, Ordering::Relaxed);
            shared.idle.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        if !park(&shared, index) {
            break;
        }
    }
    WORKER.with(|w| w.borrow_mut().take());
}

/// Waits for work. Returns `false` when the thread should exit.
fn park(shared: &Arc<Shared>, index: usize) -> bool {
    if !shared.closed.load(Ordering::Relaxed) && !shared.spinning.swap(true, Ordering::Acquire) {
        let mut found = false;
        for round in 0..SPIN_ROUNDS {
            if !shared.queue.is_empty() {
                found = true;
                break;
            }
            if round % 8 == 7 {
                thread::yield_now();
            } else {
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
            }
        }
        shared.spinning.store(false, Ordering::Release);
        if found {
            return true;
        }
    }

    let mut s = lock(&shared.sleep);
    shared.sleeping.fetch_add(1, Ordering::SeqCst);
    fence(Ordering::SeqCst);
    if !shared.queue.is_empty() {
        shared.sleeping.fetch_sub(1, Ordering::SeqCst);
        return true;
    }
    let deadline = Instant::now().checked_add(shared.config.keep_alive);
    loop {
        if shared.closed.load(Ordering::SeqCst) {
            break;
        }
        let now = Instant::now();
        let remaining = match deadline {
            Some(d) if d <= now => break,
            Some(d) => d - now,
            None => Duration::from_secs(3600),
        };
        s = shared
            .wake
            .wait_timeout(s, remaining)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        if s.notified > 0 {
            s.notified -= 1;
            shared.sleeping.fetch_sub(1, Ordering::SeqCst);
            return true;
        }
    }
    // Keep-alive over, or shutdown: leave, unless a job slipped in (the handshake again).
    shared.sleeping.fetch_sub(1, Ordering::SeqCst);
    shared.idle.fetch_sub(1, Ordering::SeqCst);
    shared.alive.fetch_sub(1, Ordering::SeqCst);
    fence(Ordering::SeqCst);
    if !shared.queue.is_empty() && shared.reserve_thread() {
        shared.idle.fetch_add(1, Ordering::SeqCst);
        return true;
    }
    // A wake-up meant for a sleeper may have been issued to us; pass it on.
    if s.notified > shared.sleeping.load(Ordering::SeqCst) {
        s.notified = shared.sleeping.load(Ordering::SeqCst);
    }
    let closed = shared.closed.load(Ordering::SeqCst);
    drop(s);
    shared.exited.notify_all();
    if !closed {
        // Leaving because of the keep-alive: nobody will join us.
        let mut threads = lock(&shared.threads);
        if let Some(pos) = threads.iter().position(|(i, _)| *i == index) {
            drop(threads.swap_remove(pos));
        }
    }
    false
}
