//! The single-threaded event loop: `run_local`, `LocalRuntime`, `spawn_local`.
//!
//! The loop's order, one *tick* per task:
//!
//! 1. if the main future (the one passed to `block_on`) was woken, poll it;
//! 2. run ready tasks in FIFO order, up to [`EVENT_INTERVAL`] of them, taking the tasks woken from
//!    other threads (the injector) every [`GLOBAL_INTERVAL`] ticks and whenever the local queue is
//!    empty;
//! 3. every [`EVENT_INTERVAL`] ticks (task polls and main-future polls alike), poll the driver
//!    (I/O, then timers) without blocking; when there is nothing to run, park in it until the
//!    next event or timer.
//!
//! A task that yields goes to the back of the queue, so an always-ready task cannot starve the
//! others, and a loop that is never idle still looks at I/O and timers every
//! [`EVENT_INTERVAL`] ticks.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use async_task::ScheduleInfo;
use concurrent_queue::ConcurrentQueue;

use crate::context::{self, Common, Current};
use crate::handle::{Handle, HandleKind};
use crate::park::{Driver, DriverHandle};
use crate::task::{Header, Task, TaskId, spawn_task};
use crate::tick::{EVENT_INTERVAL, GLOBAL_INTERVAL, bump, release_burst};

thread_local! {
    static MARK: u8 = const { 0 };
}

/// A number that tells the live threads apart: the address of a thread-local. (Cheaper than
/// `thread::current().id()`, which clones an `Arc`.) A loop lives on the thread that made it
/// (`LocalRuntime` is `!Send`), so while that thread lives, `thread_mark() == owner` holds only
/// on it. After it exits, another thread may reuse the address; the worst that can do is
/// miscount a spawn of a loop that is gone (the counters are atomics: no undefined behaviour).
#[inline]
fn thread_mark() -> usize {
    MARK.with(|m| std::ptr::from_ref(m).addr())
}

/// A task's metadata: its runtime (see `multi::Meta`).
pub(crate) type Meta = Arc<Shared>;
pub(crate) type Runnable = async_task::Runnable<Meta>;

/// The schedule function of every task of a local runtime.
#[inline]
pub(crate) fn schedule(runnable: Runnable, info: ScheduleInfo) {
    enum Next {
        Queued,
        Drop(Runnable),
        Remote(Runnable),
    }
    let next = context::with(move |cur| match cur {
        Some(Current::Local(core)) if Arc::ptr_eq(&core.shared, runnable.metadata()) => {
            if core.shared.shutdown.load(Ordering::Relaxed) {
                if core.shared.drained.load(Ordering::Relaxed) {
                    Next::Drop(runnable)
                } else {
                    // Until the shutdown has dropped every task it could reach, a task woken
                    // meanwhile is dropped by the shutdown, not here: the wake may come from
                    // the driver firing timers inside a destructor's `block_on`, which holds
                    // the driver, and a destructor of this task calling `block_on` then
                    // spun for ever, unable to park (a probe found it).
                    core.graveyard.borrow_mut().push(runnable);
                    Next::Queued
                }
            } else if info.woken_while_running
                && core.shared.running.load(Ordering::Relaxed)
                    == crate::task::task_key(runnable.metadata())
            {
                // It yielded (`yield_now`, a spent budget): it runs again once the queue is
                // empty and the driver had a look at I/O and timers (see `Core::deferred`).
                core.deferred.borrow_mut().push(runnable);
                Next::Queued
            } else {
                core.queue.borrow_mut().push_back(runnable);
                Next::Queued
            }
        }
        _ => Next::Remote(runnable),
    });
    let runnable = match next {
        Next::Queued => None,
        // On the loop's own thread, so even a `!Send` task may be dropped here; outside the
        // context's borrow, since its destructor may enter a runtime (a `block_on` in a `Drop`).
        Next::Drop(runnable) => {
            drop(runnable);
            None
        }
        Next::Remote(runnable) => Some(runnable),
    };
    if let Some(runnable) = runnable {
        // From another thread (or a nested runtime on this one): hand it over.
        let shared = runnable.metadata().clone();
        shared.remote_schedules.fetch_add(1, Ordering::SeqCst);
        let _ = shared.injector.push(runnable);
        shared.wake_loop();
        shared.remote_schedules.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The thread-safe part of a local runtime, reachable from wakers on any thread.
pub(crate) struct Shared {
    pub(crate) common: Common,
    injector: ConcurrentQueue<Runnable>,
    parked: AtomicBool,
    pub(crate) unpark: Arc<dyn DriverHandle>,
    pub(crate) shutdown: AtomicBool,
    /// Set once the shutdown dropped every task it could reach (see [`schedule`]).
    drained: AtomicBool,
    /// Hand-overs from other threads in progress (spawns and wakes): the shutdown waits for
    /// them before each look at the injector, so that a spawn never lands after its last look
    /// (a task spawned through a handle while the runtime was dropped leaked, never dropped: a
    /// probe found it). A wake on another thread whose task async-task marked scheduled before
    /// the shutdown drained the registry, but that calls `schedule` only after the shutdown's
    /// last look, is not counted here: the shutdown waits for such stragglers by the count of
    /// live tasks (`Core::shutdown`).
    remote_schedules: std::sync::atomic::AtomicUsize,
    /// The loop's thread, as [`thread_mark`] sees it.
    owner: usize,
    /// Written only by the loop's thread, like `completed` and `polls`.
    spawned: AtomicU64,
    /// Spawns from other threads (through a [`Handle`](crate::Handle)).
    foreign_spawned: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) polls: AtomicU64,
    forced_yields: AtomicU64,
    pub(crate) foreign_completed: AtomicU64,
    /// The task the loop runs: its key ([`crate::task::task_key`]), 0 between runs
    /// (`rescue.rs`, invariant 3).
    running: std::sync::atomic::AtomicUsize,
}

impl Shared {
    /// Whether the loop runs the task `key` (`rescue.rs`, invariant 3).
    pub(crate) fn runs(&self, key: usize) -> bool {
        self.running.load(Ordering::Acquire) == key
    }

    /// A snapshot of the counters.
    pub(crate) fn metrics(&self) -> crate::handle::ExecutorMetrics {
        // Completions first, then spawns (see `multi::Shared::metrics`).
        let completed =
            self.completed.load(Ordering::Acquire) + self.foreign_completed.load(Ordering::Acquire);
        let spawned =
            self.spawned.load(Ordering::Relaxed) + self.foreign_spawned.load(Ordering::Relaxed);
        crate::handle::ExecutorMetrics {
            workers: 1,
            spawned,
            completed,
            alive: spawned.saturating_sub(completed),
            polls: self.polls.load(Ordering::Relaxed),
            steals: 0,
            injector_depth: self.injector.len(),
            local_queue_depth: 0,
            budget_forced_yields: self.forced_yields.load(Ordering::Relaxed),
            idle_tasks: self.common.registry.len(),
            sleeping_workers: usize::from(self.parked.load(Ordering::SeqCst)),
        }
    }

    /// Makes the loop look at its injector and main future: unparks it if it sleeps.
    fn wake_loop(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            self.unpark.unpark();
        }
    }

    pub(crate) fn spawn<F>(self: &Arc<Shared>, future: F, mut header: Header) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = header.id;
        header.attach_debug(self.common.debug.as_ref());
        let builder = async_task::Builder::new().metadata(self.clone());
        let (runnable, task) = spawn_task!(builder, spawn, future, header, schedule);
        // An uncontended atomic add still costs ~5 ns a spawn (measured with chained_spawn):
        // the loop's own thread, the usual spawner, counts with a plain store instead.
        let own_thread = thread_mark() == self.owner;
        if own_thread {
            bump(&self.spawned);
        } else {
            self.foreign_spawned.fetch_add(1, Ordering::Relaxed);
        }
        // From another thread, counted from before the shutdown check to after the push (see
        // `remote_schedules`). Not on the loop's own thread, which runs the shutdown itself, so
        // cannot race it (two read-modify-writes per spawn cost chained_spawn ~12%).
        if !own_thread {
            self.remote_schedules.fetch_add(1, Ordering::SeqCst);
        }
        if self.shutdown.load(Ordering::SeqCst) {
            // The loop is gone or going (a handle outlived its runtime, or races its drop): no
            // one would ever run the task.
            // Cancel it at once, as a shut-down multi-threaded runtime does; the future is
            // `Send`, so dropping it on this thread is fine.
            // Inside this runtime's context, so that the end is counted here (the shutdown's
            // wait for stragglers reads the count; uncounted, a review saw it wait its whole
            // bound).
            let inside = context::with(
                |cur| matches!(cur, Some(Current::Local(core)) if Arc::ptr_eq(&core.shared, self)),
            );
            if inside {
                drop(runnable);
            } else {
                let handle = Handle(HandleKind::Local(self.clone()));
                let _enter = context::enter(Current::Entered(handle));
                drop(runnable);
            }
            if !own_thread {
                self.remote_schedules.fetch_sub(1, Ordering::SeqCst);
            }
        } else {
            runnable.schedule();
            if !own_thread {
                self.remote_schedules.fetch_sub(1, Ordering::SeqCst);
            }
        }
        Task::from_local(task, id, 0)
    }
}

/// The debug record of a `block_on` future; it leaves the registry when `block_on` returns or
/// unwinds.
pub(crate) struct MainDebug {
    pub(crate) record: Arc<crate::debug::TaskDebug>,
}

impl MainDebug {
    /// In debug mode, registers a `block_on` future called at `location` as a task named
    /// `block_on`, so that the slow-poll detector watches its polls and the dump lists it.
    pub(crate) fn track(
        state: Option<&Arc<crate::debug::DebugState>>,
        location: &'static Location<'static>,
    ) -> Option<MainDebug> {
        state.map(|state| MainDebug {
            record: state.track(TaskId::next(), Some(Arc::from("block_on")), location),
        })
    }

    /// Runs one poll of the `block_on` future, timed.
    #[inline]
    pub(crate) fn poll<R>(debug: Option<&MainDebug>, poll: impl FnOnce() -> R) -> R {
        match debug {
            None => poll(),
            Some(d) => crate::debug::as_main(d.record.id, || d.record.instrumented(poll)),
        }
    }
}

impl Drop for MainDebug {
    fn drop(&mut self) {
        self.record.ended();
    }
}

/// The loop's thread-local part.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    queue: RefCell<VecDeque<Runnable>>,
    /// Tasks that yielded (woken by themselves in their own poll: `yield_now`, a spent
    /// budget), in order. They
    /// run again once the queue is empty and the driver has had a look at I/O and timers, as
    /// tokio defers them: at the back of the queue, a timer or socket woken by the driver (every
    /// `EVENT_INTERVAL` ticks) waited behind every yielding task, and a task that spins 5 ms
    /// between yields delayed a 1 ms ticker by 300 ms (a probe; tokio: 4 ms).
    deferred: RefCell<Vec<Runnable>>,
    /// Tasks woken on this thread while the loop shuts down, for the shutdown to drop (see
    /// [`schedule`]).
    graveyard: RefCell<Vec<Runnable>>,
    driver: RefCell<Box<dyn Driver>>,
    tick: Cell<u32>,
    /// The implicit runtime of a thread (driven by a plain `block_on`): `spawn` inside it goes to
    /// the global runtime, as outside any runtime; only `spawn_local` lands here.
    pub(crate) implicit: bool,
    /// An implicit runtime's number, unique in the process (0 for every other loop): its tasks'
    /// handles carry it, so that awaiting one where the loop cannot run fails loudly
    /// ([`stranded_implicit`]).
    implicit_tag: u32,
    /// A pinned loop's multi-threaded runtime (see `pinned.rs`): `spawn` and `Handle::current`
    /// inside its tasks reach that runtime; only `spawn_local` lands here.
    pub(crate) parent: Option<crate::handle::Handle>,
    /// Deterministic mode: the seeded generator that picks the next task.
    rng: Cell<Option<u64>>,
    /// Deterministic mode: a second seeded stream, for [`crate::random_u64`], so that what the
    /// user's code draws never shifts the scheduler's choices.
    user_rng: Cell<Option<u64>>,
    /// The wakers of the `block_on` calls running on this loop, outermost first: a call made
    /// inside a task (a nested `block_on`, a sync primitive's blocking call) runs the loop
    /// nested inside the calls before it, which cannot return before it does.
    calls: RefCell<Vec<Arc<MainWaker>>>,
    /// Whether the loop has said that an outer call is held up by a nested one (once).
    held_up_reported: Cell<bool>,
}

/// How long an outer `block_on` may stay woken, unable to return behind a nested call, before
/// the loop says so.
const HELD_UP_REPORT: Duration = Duration::from_secs(1);

/// Takes a `block_on` call off the loop's stack of calls when it returns or unwinds.
struct CallGuard<'a>(&'a Core);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.0.calls.borrow_mut().pop();
    }
}

impl Core {
    pub(crate) fn new(
        common: Common,
        driver: Box<dyn Driver>,
        seed: Option<u64>,
        implicit: bool,
    ) -> Rc<Core> {
        corio_coop::set_blocker(crate::runtime::block_for_leaf);
        let unpark = driver.handle();
        Rc::new(Core {
            shared: Arc::new(Shared {
                common,
                injector: ConcurrentQueue::unbounded(),
                parked: AtomicBool::new(false),
                unpark,
                shutdown: AtomicBool::new(false),
                drained: AtomicBool::new(false),
                remote_schedules: std::sync::atomic::AtomicUsize::new(0),
                owner: thread_mark(),
                spawned: AtomicU64::new(0),
                foreign_spawned: AtomicU64::new(0),
                completed: AtomicU64::new(0),
                polls: AtomicU64::new(0),
                forced_yields: AtomicU64::new(0),
                foreign_completed: AtomicU64::new(0),
                running: std::sync::atomic::AtomicUsize::new(0),
            }),
            queue: RefCell::new(VecDeque::new()),
            deferred: RefCell::new(Vec::new()),
            graveyard: RefCell::new(Vec::new()),
            driver: RefCell::new(driver),
            tick: Cell::new(0),
            implicit,
            implicit_tag: if implicit {
                // Never 0: drawn from the runtime ids.
                context::next_runtime_id()
            } else {
                0
            },
            parent: None,
            rng: Cell::new(seed.map(|s| s ^ 0x2545_F491_4F6C_DD1D)),
            user_rng: Cell::new(seed.map(|s| s ^ 0x6A09_E667_F3BC_C908)),
            calls: RefCell::new(Vec::new()),
            held_up_reported: Cell::new(false),
        })
    }

    /// A pinned loop of a multi-threaded runtime's thread (see `pinned.rs`).
    pub(crate) fn pinned(
        common: Common,
        driver: Box<dyn Driver>,
        parent: crate::handle::Handle,
    ) -> Rc<Core> {
        let mut core = Core::new(common, driver, None, false);
        Rc::get_mut(&mut core)
            .expect("a new core has one owner")
            .parent = Some(parent);
        core
    }

    /// Whether a task is ready to run (queued here or woken from another thread).
    #[inline]
    pub(crate) fn has_work(&self) -> bool {
        !self.queue.borrow().is_empty()
            || !self.shared.injector.is_empty()
            || !self.deferred.borrow().is_empty()
    }

    /// Tells wakers on other threads whether the thread that drives this loop may be asleep.
    #[inline]
    pub(crate) fn set_parked(&self, parked: bool) {
        self.shared.parked.store(parked, Ordering::SeqCst);
    }

    pub(crate) fn spawn_local<F>(self: &Rc<Core>, future: F, mut header: Header) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let id = header.id;
        header.attach_debug(self.shared.common.debug.as_ref());
        let builder = async_task::Builder::new().metadata(self.shared.clone());
        let (runnable, task) = spawn_task!(builder, spawn_local, future, header, schedule);
        bump(&self.shared.spawned);
        if self.shared.shutdown.load(Ordering::Relaxed) {
            // Spawned while the loop shuts down: cancelled at once, here, never buried (a
            // destructor run by the shutdown that spawns a task and waits for it would
            // otherwise wait for the shutdown it runs in). This is the loop's own thread.
            drop(runnable);
        } else {
            runnable.schedule();
        }
        Task::from_local(task, id, self.implicit_tag)
    }

    /// The next value of the seeded user stream, or `None` outside deterministic mode.
    pub(crate) fn next_user_random(&self) -> Option<u64> {
        let state = self.user_rng.get()?;
        let (next, value) = crate::rand::splitmix64(state);
        self.user_rng.set(Some(next));
        Some(value)
    }

    pub(crate) fn next_task(&self) -> Option<Runnable> {
        let tick = self.tick();
        // The deferred list first: usually empty, it ends the check at once on this hot path.
        if !self.deferred.borrow().is_empty()
            && self.queue.borrow().is_empty()
            && self.shared.injector.is_empty()
        {
            // Nothing else to run: I/O and timers get a look, then the yielded tasks run
            // again, behind whatever the driver woke.
            self.park_driver(Some(Duration::ZERO));
            // Drained, not taken: the list keeps its capacity for the next pass.
            self.queue
                .borrow_mut()
                .extend(self.deferred.borrow_mut().drain(..));
        }
        let mut queue = self.queue.borrow_mut();
        if tick % GLOBAL_INTERVAL == 0 || queue.is_empty() {
            // Take what other threads woke, in their order, behind what is already queued.
            let n = self.shared.injector.len();
            for _ in 0..n {
                match self.shared.injector.pop() {
                    Ok(r) => queue.push_back(r),
                    Err(_) => break,
                }
            }
        }
        match self.rng.get() {
            None => queue.pop_front(),
            Some(state) => {
                let len = queue.len();
                if len == 0 {
                    return None;
                }
                let (next, pick) = rand_below(state, len);
                self.rng.set(Some(next));
                queue.swap_remove_back(pick)
            }
        }
    }

    #[inline]
    pub(crate) fn run_task(&self, runnable: Runnable) {
        bump(&self.shared.polls);
        let spent = corio_coop::with_budget(corio_coop::DEFAULT_BUDGET, || {
            crate::task::run_published(&self.shared.running, runnable, 0);
            corio_coop::remaining() == Some(0)
        });
        if spent {
            // The task used its whole budget, so it ran long: timers and I/O get a look now, not
            // after `EVENT_INTERVAL` more such polls.
            self.park_driver(Some(Duration::ZERO));
        }
    }

    fn park_driver(&self, timeout: Option<Duration>) {
        self.shared
            .forced_yields
            .store(corio_coop::forced_yields(), Ordering::Relaxed);
        // A nested `block_on` parks in the same driver; the outer loop never holds it while it runs
        // tasks, so this borrow only fails if a driver re-enters the executor while parking.
        if let Ok(mut driver) = self.driver.try_borrow_mut() {
            driver.park(timeout);
        }
    }

    /// Drives the loop until `future` completes. Re-entrant: a nested call (from inside a task of
    /// this loop) keeps running the loop's other tasks while it waits.
    /// Runs the loop until `future` completes. In debug mode the future itself is watched like a
    /// task (named `block_on`, at `location`): blocking in it freezes the whole loop, so the
    /// slow-poll detector must see it, and the dump lists it.
    pub(crate) fn block_on<F: Future>(
        self: &Rc<Core>,
        future: F,
        location: &'static Location<'static>,
    ) -> F::Output {
        // Called inside another runtime's loop (another local loop, or a worker)? That loop
        // runs nothing else until this returns (`runtime::report_foreign_block_on`).
        let foreign = context::with(|cur| match cur {
            Some(Current::Local(core)) => !Rc::ptr_eq(core, self),
            Some(Current::Worker(_)) => true,
            _ => false,
        });
        // When such a call began; no clock read for the usual call.
        let foreign_since = foreign.then(std::time::Instant::now);
        let _enter = context::enter(Current::Local(self.clone()));
        let _blocking = enter_blocking(self.implicit_tag);
        let debug = MainDebug::track(self.shared.common.debug.as_ref(), location);
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            shared: self.shared.clone(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        // Called with task-local values in scope (a `block_on` nested in a task's or another
        // loop's poll)? The tasks run here must not see them.
        let nested = crate::task_local::any_in_scope();
        self.calls.borrow_mut().push(main.clone());
        let _call = CallGuard(self);
        let mut held_up_since: Option<std::time::Instant> = None;
        loop {
            if main.woken.swap(false, Ordering::AcqRel) {
                self.tick();
                let poll = corio_coop::with_budget(corio_coop::DEFAULT_BUDGET, || {
                    MainDebug::poll(debug.as_ref(), || future.as_mut().poll(&mut cx))
                });
                if let Poll::Ready(output) = poll {
                    return output;
                }
            }
            let mut ran = false;
            // Once the loop shuts down (a destructor that the shutdown runs calls `block_on`),
            // its tasks are the shutdown's to drop, not this call's to run: one run here went
            // idle again after the shutdown had looked, and leaked (a review found pinned tasks
            // never dropped).
            let shutting_down = self.shared.shutdown.load(Ordering::Relaxed);
            for _ in 0..if shutting_down { 0 } else { EVENT_INTERVAL } {
                match self.next_task() {
                    Some(r) => {
                        if nested {
                            // The caller's task-local values go out of sight while the task
                            // runs (`task_local`, invariant 6).
                            let _outer = crate::task_local::suspend();
                            self.run_task(r);
                        } else {
                            self.run_task(r);
                        }
                        ran = true;
                    }
                    None => break,
                }
            }
            if ran || main.woken.load(Ordering::SeqCst) {
                continue;
            }
            // A destructor that this loop's shutdown (or its parent runtime's) runs, waiting: for
            // another task, maybe, which only that shutdown's drop ends.
            if self.help_drain(shutting_down) {
                continue;
            }
            self.shared.parked.store(true, Ordering::SeqCst);
            let idle = (shutting_down
                || self.queue.borrow().is_empty()
                    && self.deferred.borrow().is_empty()
                    && self.shared.injector.is_empty())
                && !main.woken.load(Ordering::SeqCst);
            if idle {
                // Going to sleep with nothing to run: give back what a burst grew the queue to.
                release_burst(&mut self.queue.borrow_mut());
                if let Some(woken) = self.outer_call_woken() {
                    let since = *held_up_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() >= HELD_UP_REPORT {
                        self.report_held_up(woken);
                    }
                    // Look again within the report's delay.
                    self.park_driver(Some(HELD_UP_REPORT));
                } else if let Some(since) =
                    foreign_since.filter(|_| !crate::runtime::foreign_block_on_reported())
                {
                    held_up_since = None;
                    if since.elapsed() >= HELD_UP_REPORT {
                        crate::runtime::report_foreign_block_on();
                    }
                    self.park_driver(Some(HELD_UP_REPORT));
                } else {
                    held_up_since = None;
                    self.park_driver(None);
                }
            }
            self.shared.parked.store(false, Ordering::SeqCst);
        }
    }

    /// While this loop or its parent runtime shuts down, from a `block_on` waiting in a
    /// destructor: one step of the drain, as [`multi::Shared::help_drain`] does (dropping one
    /// task of this loop, else waking its idle tasks, which buries them; else one step of the
    /// parent's); returns whether it found anything. A pinned task's destructor that awaited
    /// another task hung the runtime's drop for ever (a review).
    #[cold]
    fn help_drain(&self, shutting_down: bool) -> bool {
        let parent = match &self.parent {
            Some(crate::handle::Handle(crate::handle::HandleKind::Multi(parent)))
                if parent.shutdown.load(Ordering::SeqCst) =>
            {
                Some(parent)
            }
            _ => None,
        };
        if !shutting_down && parent.is_none() {
            return false;
        }
        let Some(_depth) = crate::multi::Helping::enter() else {
            return false;
        };
        if shutting_down {
            let queued = self.graveyard.borrow_mut().pop();
            let queued = queued
                .or_else(|| self.queue.borrow_mut().pop_front())
                .or_else(|| self.shared.injector.pop().ok());
            if let Some(runnable) = queued {
                drop(runnable);
                return true;
            }
            let wakers = self.shared.common.registry.drain();
            if !wakers.is_empty() {
                wakers.into_iter().for_each(|w| w.wake());
                return true;
            }
        }
        parent.is_some_and(|parent| parent.help_drain_step())
    }

    /// The first `block_on` call that this one runs nested inside and that was woken, if any:
    /// it may be ready to go on, but cannot before this one returns.
    fn outer_call_woken(&self) -> Option<usize> {
        let calls = self.calls.borrow();
        let outer = calls.len().saturating_sub(1);
        calls[..outer]
            .iter()
            .position(|call| call.woken.load(Ordering::SeqCst))
    }

    /// Says once, on stderr, that a call waits behind a nested one (a probe found two tasks'
    /// `lock_blocking` calls deadlocked this way without a word). Call 0 is the loop's own
    /// (`run_local`, `LocalRuntime::block_on`): its main future is held up by a task's blocking
    /// call, which a deadlock or a merely long call may be.
    #[cold]
    fn report_held_up(&self, woken: usize) {
        if self.held_up_reported.replace(true) {
            return;
        }
        let secs = HELD_UP_REPORT.as_secs();
        if woken == 0 {
            eprintln!(
                "corio: this event loop's main future has been woken for {secs} s but cannot be \
                 polled: a blocking call made inside a task (block_on, lock_blocking, \
                 recv_blocking, ...) holds the loop's thread and has not returned. If that call \
                 waits for the main future, it never returns. Use .await in async code"
            );
        } else {
            eprintln!(
                "corio: a blocking call made inside a task on this event loop (block_on, \
                 lock_blocking, recv_blocking, ...) has been woken for {secs} s but cannot \
                 return: another such call, made by a task that ran inside it while it waited, \
                 has not returned, and calls on one thread return innermost first. If that one \
                 waits for the first call's task, neither ever returns. Use .await in async code"
            );
        }
    }

    /// Counts one tick (a task or main-future poll); every [`EVENT_INTERVAL`] ticks, looks at I/O
    /// and timers without blocking, so that a loop that is never idle still serves them.
    #[inline]
    fn tick(&self) -> u32 {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % EVENT_INTERVAL == 0 {
            self.park_driver(Some(Duration::ZERO));
        }
        tick
    }

    /// Drops every task that is left, then waits (bounded) for wakes still in flight on other
    /// threads. Runs on the loop's thread.
    pub(crate) fn shutdown(self: &Rc<Core>) {
        self.drop_all();
        self.wait_for_stragglers();
    }

    /// Drops every task that is left. Runs on the loop's thread.
    fn drop_all(self: &Rc<Core>) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let _enter = context::enter(Current::Local(self.clone()));
        loop {
            // Hand-overs from other threads that began before they could see `shutdown` finish
            // their push first; each takes a few instructions.
            while self.shared.remote_schedules.load(Ordering::SeqCst) != 0 {
                std::thread::yield_now();
            }
            let wakers = self.shared.common.registry.drain();
            let woken = wakers.len();
            // Waking schedules each task on this thread, where `schedule` drops it.
            wakers.into_iter().for_each(|w| w.wake());
            // One at a time, each outside the borrow: a destructor may queue or bury more.
            let mut dropped = drop_each(|| self.queue.borrow_mut().pop_front());
            dropped += drop_each(|| self.shared.injector.pop().ok());
            let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
            dropped += deferred.len();
            drop(deferred);
            dropped += drop_each(|| self.graveyard.borrow_mut().pop());
            if woken == 0 && dropped == 0 {
                // From now on a wake on this thread drops its task itself. One more pass, for a
                // hand-over that saw `shutdown` unset and pushed after this pass's look.
                if self.shared.drained.swap(true, Ordering::SeqCst) {
                    break;
                }
            }
        }
    }

    fn wait_for_stragglers(&self) {
        // A wake on another thread whose task async-task marked scheduled before the registry
        // was drained, but that reaches `schedule` only after the last look, still hands the
        // task over through the injector: it is invisible until then (in no queue, and no
        // longer in the registry). Wait for the count of live tasks to reach zero, dropping
        // what arrives, for a bounded time in case a task was counted elsewhere, as the
        // multi-threaded runtime does (a review saw such a task leak once in hundreds of
        // adversarial rounds).
        // A straggler lands within moments unless its thread was descheduled: spin (yielding)
        // for the first millisecond, then sleep between looks, so that a count kept wrong by a
        // task ended in another runtime's context costs the bound in time, not in CPU.
        let start = std::time::Instant::now();
        while self.shared.metrics().alive > 0 && start.elapsed() < STRAGGLER_WAIT {
            if drop_each(|| self.shared.injector.pop().ok()) == 0 {
                if start.elapsed() < Duration::from_millis(1) {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }
}

/// How long a shutdown waits at most for wakes in flight on other threads (see
/// [`Core::shutdown`]).
const STRAGGLER_WAIT: Duration = Duration::from_millis(250);

/// Drops the tasks `next` hands out until it has none, one at a time (the borrow `next` takes
/// ends before each drop); returns how many.
fn drop_each(mut next: impl FnMut() -> Option<Runnable>) -> usize {
    let mut dropped = 0;
    while let Some(r) = next() {
        drop(r);
        dropped += 1;
    }
    dropped
}

/// SplitMix64 step, then a value below `n` (`n > 0`).
fn rand_below(state: u64, n: usize) -> (u64, usize) {
    let (next, z) = crate::rand::splitmix64(state);
    (next, (z % n as u64) as usize)
}

struct MainWaker {
    woken: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.shared.wake_loop();
    }
}

thread_local! {
    /// The implicit local runtime of this thread: it runs `spawn_local` tasks spawned outside any
    /// `run_local`, whenever this thread calls `block_on`.
    static IMPLICIT: RefCell<Option<Implicit>> = const { RefCell::new(None) };
}

/// Owns a thread's implicit runtime; dropping it (at thread exit) drops every task left in it.
struct Implicit(Rc<Core>);

impl Drop for Implicit {
    fn drop(&mut self) {
        // asyncio's "Task was destroyed but it is pending!": a task spawned here and never
        // finished is dropped now, with its thread; say so rather than lose it silently (a
        // detached `spawn_local` on a thread that never calls `block_on` never runs at all).
        let left = self.0.shared.metrics().alive;
        if left > 0 {
            let thread = std::thread::current();
            eprintln!(
                "corio: thread {:?} exits with {left} unfinished task(s) on its implicit local \
                 runtime (spawn_local outside run_local); they are dropped now. That runtime \
                 runs only while its thread is inside corio::block_on: run such tasks in \
                 run_local, or await them there",
                thread.name().unwrap_or("<unnamed>")
            );
        }
        self.0.shutdown();
    }
}

thread_local! {
    /// The implicit-runtime number of the innermost `block_on` on this thread's stack: the
    /// implicit loop's own number while its `block_on` is the innermost one, else 0.
    static BLOCKING: Cell<u32> = const { Cell::new(0) };
}

/// Marks a `block_on` of the loop numbered `tag` (0: any loop that is not an implicit one) as
/// the innermost on this thread until the guard is dropped.
pub(crate) fn enter_blocking(tag: u32) -> impl Drop {
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = BLOCKING.try_with(|b| b.set(self.0));
        }
    }
    Restore(BLOCKING.try_with(|b| b.replace(tag)).unwrap_or(0))
}

/// Whether a task of the implicit runtime numbered `tag` can never finish from here: that
/// runtime is this thread's, and the innermost `block_on` on this thread is not its own (another
/// runtime's, or none: a foreign executor). The implicit loop runs only inside a plain `block_on`
/// on its thread; below another `block_on` it is stuck until that call returns, and that call
/// waits for the task, so the wait would never end. (A `SubLoop` driven by the implicit loop is
/// no `block_on`: the implicit loop runs on between its polls.)
pub(crate) fn stranded_implicit(tag: u32) -> bool {
    let ours = IMPLICIT
        .try_with(|slot| {
            slot.try_borrow()
                .is_ok_and(|slot| slot.as_ref().is_some_and(|i| i.0.implicit_tag == tag))
        })
        .unwrap_or(false);
    ours && BLOCKING
        .try_with(Cell::get)
        .is_ok_and(|innermost| innermost != tag)
}

/// This thread's implicit local runtime, created on first use.
pub(crate) fn implicit() -> Option<Rc<Core>> {
    IMPLICIT
        .try_with(|slot| {
            let mut slot = slot.try_borrow_mut().ok()?;
            let implicit = slot.get_or_insert_with(|| {
                let common = crate::builder::Builder::new().local_common(None);
                let driver = Box::new(crate::park::ThreadParkDriver::new());
                Implicit(Core::new(common, driver, None, true))
            });
            Some(implicit.0.clone())
        })
        .ok()
        .flatten()
}

thread_local! {
    /// Set while a blocking- or CPU-pool job runs on this thread (see [`pool_job`]): no local
    /// loop will ever run here, so `spawn_local` must not fall back to the implicit loop.
    static POOL_JOB: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` as a pool job: a `spawn_local` inside it, outside any loop (a `block_on` inside
/// `f` runs one), panics at the call with a message naming `run_local` instead of handing the
/// task to this thread's implicit loop, which nothing would ever drive (the pool thread goes on
/// to other jobs). The facade wraps `to_thread`, `unblock` and `spawn_cpu` jobs in it.
///
/// # Examples
///
/// ```
/// let spawned = std::panic::catch_unwind(|| {
///     corio_executor::pool_job(|| corio_executor::spawn_local(async {}))
/// });
/// assert!(spawned.is_err());
/// ```
pub fn pool_job<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = POOL_JOB.try_with(|flag| flag.set(self.0));
        }
    }
    let _reset = Reset(
        POOL_JOB
            .try_with(|flag| flag.replace(true))
            .unwrap_or(false),
    );
    f()
}

/// Spawns a `!Send` future on the local runtime driving this thread, or on the thread's implicit
/// local runtime.
pub(crate) fn spawn_local_with<F>(future: F, header: Header) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let core = context::with(|cur| match cur {
        Some(Current::Local(core)) => Ok(Some(core.clone())),
        // A thread of a multi-threaded runtime: the task is pinned to it (`pinned.rs`).
        Some(cur @ (Current::Worker(_) | Current::Entered(_))) if cur.handle().is_multi() => {
            crate::pinned::core_for_spawn(cur).map(Some).ok_or(())
        }
        _ => Ok(None),
    });
    let core = match core {
        Ok(core) => core,
        Err(()) => panic!(
            "corio: spawn_local called on a thread that entered a multi-threaded runtime \
             (Handle::enter) but runs no loop there: the !Send task would never run. Spawn it \
             inside the runtime's block_on or one of its tasks, or under corio::run_local"
        ),
    };
    if core.is_none() && POOL_JOB.try_with(Cell::get).unwrap_or(false) {
        panic!(
            "corio: spawn_local called in a blocking- or CPU-pool job (to_thread, unblock, \
             spawn_cpu), where no loop runs: the !Send task would never run. Spawn it from the \
             runtime's block_on or one of its tasks, under corio::run_local, or run a loop in \
             the job with corio::block_on"
        );
    }
    match core.or_else(implicit) {
        Some(core) => core.spawn_local(future, header),
        None => {
            // Thread-local storage is being torn down: no loop will ever run this task. Spawn it
            // on a throwaway loop and shut that down, so the task is dropped at once and awaiting
            // it reports the cancellation.
            let common = crate::builder::Builder::new().local_common(None);
            let core = Core::new(
                common,
                Box::new(crate::park::ThreadParkDriver::new()),
                None,
                true,
            );
            let task = core.spawn_local(future, header);
            // No wait for stragglers: the task never ran, so no other thread can be waking it,
            // and without thread-locals its end cannot be counted (waiting cost the thread's
            // exit 250 ms per such spawn: a review found it).
            core.drop_all();
            task
        }
    }
}

/// Spawns a future that need not be `Send` onto the local runtime of this thread.
///
/// Inside [`run_local`](crate::run_local) (or [`LocalRuntime::block_on`](crate::LocalRuntime::block_on)) the task runs on that
/// loop. Outside of one, it goes to this thread's *implicit* local runtime, which runs whenever
/// this thread is inside [`block_on`](crate::block_on); a task spawned there and never driven to
/// its end is dropped when the thread exits, and the thread says so on stderr (as asyncio reports
/// a pending task destroyed).
///
/// Inside a multi-threaded [`Runtime`](crate::Runtime) (on a worker, or in its `block_on`, as
/// in `corio::run` and the default `#[corio::main]`), the task is *pinned* to the calling thread:
/// it is never stolen, and that thread runs it between its other work (a worker gives a ready
/// pinned task every other tick; a `block_on` runs them between polls of its main future).
/// Pinned to a `block_on` call, a task runs only while that call runs: the ones still alive
/// when it returns are dropped then (as `run_local` drops its leftover tasks), and awaiting one
/// afterwards panics, saying so.
///
/// # Panics
///
/// On a thread that only entered a multi-threaded runtime ([`Handle::enter`](crate::Handle::enter))
/// and drives no loop: the task would never run, so the call refuses loudly instead.
///
/// Awaiting a task of the implicit loop where that loop cannot run panics too, naming the task,
/// instead of waiting for ever: on its thread, inside [`run_local`](crate::run_local), a
/// [`LocalRuntime`](crate::LocalRuntime)'s or a [`Runtime`](crate::Runtime)'s `block_on`, or
/// another executor's `block_on` (the implicit loop is not running there, or is stuck below that
/// call). A task that already finished can be awaited anywhere.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let out = corio_executor::run_local(async {
///     let not_send = Rc::new(20);
///     let task = corio_executor::spawn_local(async move { *not_send + 1 });
///     task.await * 2
/// });
/// assert_eq!(out, 42);
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_local_with(future, Header::new(Location::caller(), None))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::future::pending;
    use std::sync::atomic::Ordering;

    use crate::LocalRuntime;

    /// A burst of spawns grows the run queue; once the burst has drained and the loop goes idle,
    /// the queue gives its memory back (`tick::release_burst`), even though every task is still
    /// alive, parked.
    #[test]
    fn the_run_queue_shrinks_once_a_burst_has_drained() {
        let rt = LocalRuntime::new().unwrap();
        let core = rt.core.clone();
        let shared = rt.core.shared.clone();
        let peak = rt.block_on(rt.spawn_local(async move {
            for _ in 0..100_000 {
                crate::spawn(pending::<()>()).detach();
            }
            let peak = core.queue.borrow().capacity();
            // Every task runs once and parks, and so does this one: the loop goes to sleep.
            // Another thread wakes this one once the loop has slept for a while.
            let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
            let mut sent = false;
            std::thread::spawn(move || {
                let Ok(waker) = rx.recv() else { return };
                let mut asleep_since = None;
                loop {
                    if shared.parked.load(Ordering::SeqCst) {
                        let since = *asleep_since.get_or_insert_with(std::time::Instant::now);
                        if since.elapsed() > std::time::Duration::from_millis(20) {
                            break;
                        }
                    } else {
                        asleep_since = None;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                waker.wake();
            });
            std::future::poll_fn(move |cx| {
                if sent {
                    return std::task::Poll::Ready(());
                }
                sent = true;
                tx.send(cx.waker().clone()).unwrap();
                std::task::Poll::Pending
            })
            .await;
            peak
        }));
        assert!(peak >= 100_000, "the burst grew the queue to {peak}");
        let kept = rt.core.queue.borrow().capacity();
        assert!(kept <= 1024, "{kept} slots kept after the queue drained");
    }
}
