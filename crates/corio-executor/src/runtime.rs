//! The two runtimes, [`Runtime`] (work-stealing, many threads) and [`LocalRuntime`] (an event
//! loop on this thread), the global runtime, and the entry points [`block_on`], [`spawn`],
//! [`run_local`] and [`dump`].
//!
//! How a runtime is configured is in `builder.rs`, and [`Handle`] in `handle.rs`.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use std::cell::{Cell, RefCell};

use crate::builder::default_workers;
use crate::context::{self, Current};
use crate::debug::Dump;
use crate::loom_shim::lock;
use crate::park::Parker;
use crate::task::{Header, Task, spawn_task};
use crate::{local, multi};

use crate::builder::Builder;
// `task.rs` still names `Handle` here.
pub(crate) use crate::handle::{Handle, HandleKind};

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
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::new()?;
    /// assert_eq!(rt.block_on(async { 1 }), 1);
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
    /// let rt = corio_executor::Runtime::builder().worker_threads(1).build()?;
    /// assert_eq!(rt.handle().metrics().workers, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` on the current thread until it completes, with this runtime entered: tasks
    /// spawned inside it run on this runtime's workers.
    ///
    /// Called inside another runtime's task (a sync helper that starts a runtime of its own,
    /// called from async code), it holds that runtime's loop or worker until it returns: if
    /// `future` waits for that runtime (one of its tasks, a message from one) it never returns,
    /// and after a second the runtime says so on stderr (tokio panics at such a call). Await the
    /// future there, or use [`block_on`](crate::block_on), which keeps the calling loop running.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::new()?;
    /// let v = rt.block_on(async { corio_executor::spawn(async { 5 }).await });
    /// assert_eq!(v, 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let worker = context::with(|cur| match cur {
            Some(Current::Worker(core)) if Arc::ptr_eq(&core.shared, &self.shared) => {
                Some(core.clone())
            }
            // A task pinned to one of this runtime's workers (`spawn_local`) blocks that worker,
            // as the free `block_on` has it: seen as a foreign thread, the call hung on one
            // worker (nobody else could run what its future waited for) and took 250 ms more
            // than its sleep on two (a review).
            Some(Current::Local(core)) => match &core.parent {
                Some(Handle(HandleKind::Multi(shared))) if Arc::ptr_eq(shared, &self.shared) => {
                    loop_worker_of(shared)
                }
                _ => None,
            },
            _ => None,
        });
        // This worker's thread is about to block: its queued tasks go where the other workers
        // can run them (outside the context's borrow: a shut-down runtime drops them in its
        // own context).
        if let Some(core) = &worker {
            core.evacuate();
        }
        let index = worker
            .as_ref()
            .map(|core| core.index)
            .or_else(|| blocked_worker_of(&self.shared));
        let output = multi_block_on(&self.shared, future, index, Location::caller());
        if let Some(core) = &worker {
            core.note_pinned();
        }
        output
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
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::new()?;
    /// let handle = rt.handle();
    /// let task = std::thread::spawn(move || handle.spawn(async { 2 })).join().unwrap();
    /// assert_eq!(rt.block_on(task), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
    if shared.shutdown.load(std::sync::atomic::Ordering::SeqCst) {
        // Spawned on a runtime that is shut down or shutting down: cancelled at once, here
        // (outside any borrow of the runtime), never buried: a destructor run by the shutdown
        // that spawns a task and waits for it (`block_on(task.cancel())`) would otherwise wait
        // for the shutdown it runs in. (A spawn that saw the flag unset is counted by
        // `schedule_remote`, which the shutdown waits for.)
        shared.drop_spawned(runnable);
        return Task::from_multi(task, id);
    }
    // On one of this runtime's workers a spawn has a path of its own (a fan-out is offered to
    // idle workers); anywhere else it is scheduled as any wake is.
    let runnable = context::with(move |cur| match cur {
        Some(Current::Worker(core)) if Arc::ptr_eq(&core.shared, shared) => {
            core.schedule_spawned(runnable);
            None
        }
        _ => Some(runnable),
    });
    if let Some(runnable) = runnable {
        runnable.schedule();
    }
    Task::from_multi(task, id)
}

impl Wake for crate::pinned::BlockOnTarget {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::Relaxed);
        self.parker.unpark(&self.shared.driver);
    }
}

thread_local! {
    /// While this thread is a worker blocked in a nested `block_on` (running the runtime's
    /// tasks): that runtime (its address) and the worker's index. A `block_on` inside one of
    /// those tasks blocks the same worker, so it runs tasks too (see `multi_block_on`).
    static BLOCKED_WORKER: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

thread_local! {
    /// This thread's worker while it is inside its run loop (polling tasks), and not after, when
    /// it drops what is left of its queues. Reachable even where the context is another one (a
    /// task pinned to the worker runs in its pinned loop's context).
    static LOOP_WORKER: RefCell<Option<Rc<multi::Core>>> = const { RefCell::new(None) };
}

/// Marks this thread as `core`'s worker inside its run loop until dropped (see `LOOP_WORKER`).
pub(crate) struct WorkerLoop(());

impl WorkerLoop {
    pub(crate) fn enter(core: &Rc<multi::Core>) -> WorkerLoop {
        LOOP_WORKER.with(|w| *w.borrow_mut() = Some(core.clone()));
        WorkerLoop(())
    }
}

impl Drop for WorkerLoop {
    fn drop(&mut self) {
        let _ = LOOP_WORKER.try_with(|w| w.borrow_mut().take());
    }
}

pub(crate) fn in_worker_loop() -> bool {
    LOOP_WORKER
        .try_with(|w| w.try_borrow().is_ok_and(|w| w.is_some()))
        .unwrap_or(false)
}

/// This thread's worker if it belongs to `shared` and is inside its run loop.
fn loop_worker_of(shared: &Arc<multi::Shared>) -> Option<Rc<multi::Core>> {
    LOOP_WORKER
        .try_with(|w| {
            w.try_borrow()
                .ok()?
                .as_ref()
                .filter(|core| Arc::ptr_eq(&core.shared, shared))
                .cloned()
        })
        .ok()
        .flatten()
}

/// The payload that unwinds a task blocked in a nested `block_on` on a worker out of its poll
/// when the runtime shuts down (once the call has gone on for [`SHUTDOWN_GRACE`] after it saw
/// the shutdown, driving the driver and running nothing else, so that a quick clean-up dropped
/// inside the poll completes): the worker must return to its loop and exit, and the future it
/// waits for may never complete (it may wait on a task that only the shutdown drops). The task's
/// poll catches it and leaves the task to the shutdown, which drops it like any idle task
/// (`task::Spawned::poll`); nothing is reported. Never thrown in a task's destructor (the
/// future dropped, not polled): nothing catches it there but the drop itself, and the clean-up
/// would end half done; a `block_on` there runs to the end, driving the driver if it must.
pub(crate) struct ShutdownUnwind;

/// The worker index of this thread if it is a worker of `shared` blocked in a nested `block_on`.
pub(crate) fn blocked_worker_of(shared: &Arc<multi::Shared>) -> Option<usize> {
    let runtime = Arc::as_ptr(shared) as usize;
    BLOCKED_WORKER
        .try_with(Cell::get)
        .ok()
        .flatten()
        .filter(|(r, _)| *r == runtime)
        .map(|(_, index)| index)
}

/// `worker`: the calling thread is this runtime's worker of that index (a nested call from a
/// task), so it may park in the shared driver: it returns to its worker loop afterwards, and with
/// every other worker busy or blocked it may be the only thread left to poll I/O and timers. Any
/// other thread must not, or the runtime's I/O and timers would go unpolled once it returns while
/// the workers sleep. Such a call also runs the runtime's tasks while its future waits (those of
/// the injector, where it moved its own, and of its stealable queue): with no other worker free
/// (one worker, or every worker blocked the same way) a future waiting on a sibling task would
/// otherwise never complete. Pushes to the injector wake it (`Shared::blocked`).
///
/// Between polls of `future` it runs the thread's pinned tasks (`spawn_local` here); the
/// outermost call off the workers drops those left when it returns.
/// Runs `future` to completion on the calling thread. In debug mode the future is watched like a
/// task (named `block_on`, at `location`), as on the local runtime: blocking in it freezes
/// whatever waits on it, so the slow-poll detector must see it, and the dump lists it.
pub(crate) fn multi_block_on<F: Future>(
    shared: &Arc<multi::Shared>,
    future: F,
    worker: Option<usize>,
    location: &'static Location<'static>,
) -> F::Output {
    let on_worker = worker.is_some();
    // Called inside another runtime's loop (a local loop, or a worker of another runtime)?
    let foreign = context::with(|cur| match cur {
        // A loop pinned to a thread of this very runtime (`spawn_local` on a worker, or in the
        // main future of its `block_on`) is no other runtime's.
        Some(Current::Local(core)) => !matches!(
            &core.parent,
            Some(Handle(HandleKind::Multi(parent))) if Arc::ptr_eq(parent, shared)
        ),
        Some(Current::Worker(core)) => !Arc::ptr_eq(&core.shared, shared),
        _ => false,
    });
    // When such a call began; no clock read for the usual call.
    let foreign_since = foreign.then(std::time::Instant::now);
    let _enter = context::enter(Current::Entered(Handle(HandleKind::Multi(shared.clone()))));
    // A thread's implicit loop does not run below this call (`local::stranded_implicit`).
    let _blocking = crate::local::enter_blocking(0);
    let debug = crate::local::MainDebug::track(shared.common.debug.as_ref(), location);
    let target = Arc::new(crate::pinned::BlockOnTarget {
        parker: Parker::new(),
        shared: shared.clone(),
        woken: std::sync::atomic::AtomicBool::new(false),
    });
    // Dropped after the future (declared before it): pinned tasks go after the main future.
    let _pinned = crate::pinned::enter_block_on(&target, on_worker);
    // Registered before the first look at the queues: a push after it unparks this thread.
    let _blocked = worker.map(|index| shared.block_on_worker(index, &target));
    struct Restore(Option<(usize, usize)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = BLOCKED_WORKER.try_with(|b| b.set(self.0));
        }
    }
    let _restore = worker.map(|index| {
        let runtime = Arc::as_ptr(shared) as usize;
        Restore(BLOCKED_WORKER.with(|b| b.replace(Some((runtime, index)))))
    });
    let waker = Waker::from(target.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let mut ran = 0u32;
    let mut held_up_since: Option<std::time::Instant> = None;
    // The runtime shuts down under a task of this worker: see `ShutdownUnwind`.
    // Not while the thread is already unwinding (a destructor that calls `block_on` during a
    // panic, or during this very unwind): a second unwind there aborts the process. Such a call
    // runs as any other, driving the driver itself if it must. Nor in a task's destructor (the
    // shutdown, or a pinned loop's, dropping a task from inside the worker loop): nothing there
    // leaves the task to the shutdown, the unwind only cut the clean-up short (a probe: 2 of 4
    // destructors that `block_on` a sleep never completed, about once in 5,000 drops).
    let shutting_down = || {
        on_worker
            && shared.shutdown.load(std::sync::atomic::Ordering::SeqCst)
            && in_worker_loop()
            && !std::thread::panicking()
            && !context::in_task_destructor()
    };

    // When the shutdown began, once this call has seen it: it goes on until `SHUTDOWN_GRACE`
    // after that before it unwinds, so that a clean-up that is quick (a destructor dropped
    // inside the task's poll, which `block_on`s a flush or a short sleep) completes rather than
    // being cut short. One deadline for the runtime: per call, the graces of nested calls and
    // of the workers added up (a review: 100 blocked tasks on 4 workers, a 10 s drop).
    let mut shutdown_seen: Option<std::time::Instant> = None;
    loop {
        if shutting_down() {
            let since = *shutdown_seen
                .get_or_insert_with(|| *shared.shutdown_began.get_or_init(std::time::Instant::now));
            if since.elapsed() >= SHUTDOWN_GRACE {
                // Not `panic!`: no panic hook runs, and the task's poll knows the payload.
                std::panic::resume_unwind(Box::new(ShutdownUnwind));
            }
        }
        target
            .woken
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let mut poll_once = || {
            corio_coop::with_budget(corio_coop::DEFAULT_BUDGET, || {
                crate::local::MainDebug::poll(debug.as_ref(), || future.as_mut().poll(&mut cx))
            })
        };
        let poll = if on_worker {
            // What the future waits for may be a task the shutdown dropped meanwhile, whose
            // handle panics when polled: that is the shutdown too, not the task's own panic.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(poll_once)) {
                Ok(poll) => poll,
                Err(payload) if shutting_down() => {
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload)));
                    std::panic::resume_unwind(Box::new(ShutdownUnwind));
                }
                Err(payload) => std::panic::resume_unwind(payload),
            }
        } else {
            poll_once()
        };
        if let Poll::Ready(output) = poll {
            return output;
        }
        // The runtime shuts down: what the future waits for may be a task that only the
        // shutdown's drop ends (a destructor awaiting or cancelling another task); help it.
        if shared.shutdown.load(std::sync::atomic::Ordering::SeqCst) && shared.help_drain() {
            continue;
        }
        if let Some(since) = shutdown_seen {
            // The workers are leaving: no other task runs here any more. Drive the driver (the
            // thread that held it may have left) until woken, or until the grace ends.
            let left = SHUTDOWN_GRACE.saturating_sub(since.elapsed());
            if !left.is_zero() {
                target.parker.park_driving_timeout(&shared.driver, left);
            }
            continue;
        }
        // The tasks run below run inside the poll of the task that called this `block_on`, if
        // one did: they must not see its task-local values (`task_local`, invariant 6).
        let pinned_ran = {
            let _outer = crate::task_local::suspend();
            crate::pinned::run_ready(crate::pinned::BATCH)
        };
        let runnable = if pinned_ran {
            None
        } else {
            worker.and_then(|index| shared.pop_for_blocked_worker(index))
        };
        if pinned_ran || runnable.is_some() {
            if let (Some(runnable), Some(index)) = (runnable, worker) {
                let _outer = crate::task_local::suspend();
                corio_coop::with_budget(corio_coop::DEFAULT_BUDGET, || {
                    let running = &shared.remotes[index].running;
                    let outer = running.load(std::sync::atomic::Ordering::Relaxed);
                    crate::task::run_published(running, runnable, outer);
                });
            }
            // As a busy worker does: with another task (or pinned task) always ready this loop
            // never parks, so it must look at timers and I/O itself (its own future may wait
            // on them).
            ran = ran.wrapping_add(1);
            if ran % crate::tick::EVENT_INTERVAL == 0 {
                shared.poll_driver_now();
            }
            continue;
        }
        if !crate::pinned::prepare_to_park() {
            // A shut-down runtime's workers are gone (a `block_on` in a destructor that its
            // shutdown runs): nobody else polls the driver, so this thread may, or the timers
            // and sockets the future waits on would never fire.
            if shared.shutdown.load(std::sync::atomic::Ordering::SeqCst) {
                // The workers are leaving: wait for the driver rather than for a wake-up that
                // the one holding it may never pass on.
                target.parker.park_driving(&shared.driver);
            } else if crate::pinned::outer_call_woken() {
                // A call this one runs nested inside has been woken and waits for this one to
                // return: say so if that lasts (it never ends if this call waits for the other's
                // task, a lock handed to it: a probe hung silently so).
                let since = *held_up_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= HELD_UP_REPORT {
                    report_held_up(shared);
                }
                target
                    .parker
                    .park_timeout(on_worker.then_some(&shared.driver), HELD_UP_REPORT);
            } else if let Some(since) = foreign_since.filter(|_| !foreign_block_on_reported()) {
                held_up_since = None;
                if since.elapsed() >= HELD_UP_REPORT {
                    report_foreign_block_on();
                }
                target
                    .parker
                    .park_timeout(on_worker.then_some(&shared.driver), HELD_UP_REPORT);
            } else {
                held_up_since = None;
                target.parker.park(on_worker.then_some(&shared.driver));
            }
        }
        crate::pinned::unparked();
    }
}

/// Whether [`report_foreign_block_on`] has spoken (once per process).
static FOREIGN_BLOCK_ON_REPORTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

pub(crate) fn foreign_block_on_reported() -> bool {
    FOREIGN_BLOCK_ON_REPORTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Says once per process, on stderr, that a runtime's `block_on` called inside another
/// runtime's loop (a task's poll there, or its main future's) has waited for
/// [`HELD_UP_REPORT`]: that loop runs nothing else meanwhile, so a future that waits for it
/// never completes (tokio panics at such a call, asyncio raises; a review found it hanging
/// silently). A long wait that is not such a deadlock gets the report too, which says so.
#[cold]
pub(crate) fn report_foreign_block_on() {
    if FOREIGN_BLOCK_ON_REPORTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let thread = thread::current();
    eprintln!(
        "corio: a runtime's block_on (corio::run, Runtime::block_on, LocalRuntime::block_on) \
         called on thread `{}` inside another runtime's event loop or worker has waited for {} \
         s: that loop or worker runs nothing else until the call returns. If the call's future \
         waits for that runtime (one of its tasks, a message from one), it never returns. Await \
         the future instead, or call corio::block_on, which keeps the calling loop running",
        thread.name().unwrap_or("<unnamed>"),
        HELD_UP_REPORT.as_secs()
    );
}

/// How long a nested `block_on` on a worker goes on once it has seen its runtime shut down,
/// before it unwinds out of its task's poll (`ShutdownUnwind`): a quick clean-up completes, a
/// wait that would never end holds the runtime's drop this long.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a woken `block_on` call may be held up by one nested in it before that is reported.
const HELD_UP_REPORT: std::time::Duration = std::time::Duration::from_secs(1);

/// Says once per runtime, on stderr, that a woken `block_on` call on this thread is held up by
/// one nested in it (see `multi_block_on`), as the local loop does (`local::Core::block_on`).
fn report_held_up(shared: &multi::Shared) {
    if shared
        .held_up_reported
        .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return;
    }
    let thread = thread::current();
    eprintln!(
        "corio: a block_on call on thread `{}` has been woken for {} s but cannot return: \
         another block_on, made by a task that ran inside the first while it waited, has not \
         returned, and calls on one thread return innermost first. If that one waits for the \
         first call's task (a lock handed to it, a message it would send), neither ever \
         returns. Use .await in async code",
        thread.name().unwrap_or("<unnamed>"),
        HELD_UP_REPORT.as_secs()
    );
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
    pub(crate) core: Rc<local::Core>,
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
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::LocalRuntime::new()?;
    /// assert_eq!(rt.block_on(async { 1 }), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<LocalRuntime> {
        Builder::new().build_local()
    }

    /// Runs the loop until `future` completes.
    ///
    /// Called inside another runtime's task (a sync helper that starts a runtime of its own,
    /// called from async code), it holds that runtime's loop or worker until it returns: if
    /// `future` waits for that runtime (one of its tasks, a message from one) it never returns,
    /// and after a second the runtime says so on stderr (tokio panics at such a call). Await the
    /// future there, or use [`block_on`](crate::block_on), which keeps the calling loop running.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::LocalRuntime::new()?;
    /// let task = rt.spawn(async { 20 });
    /// assert_eq!(rt.block_on(async { task.await + 1 }), 21);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future, Location::caller())
    }

    /// Spawns a task that need not be `Send` on this loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// let rt = corio_executor::LocalRuntime::new()?;
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let task = rt.spawn_local({
    ///     let log = log.clone();
    ///     async move { log.borrow_mut().push("ran") }
    /// });
    /// rt.block_on(task);
    /// assert_eq!(*log.borrow(), ["ran"]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::LocalRuntime::new()?;
    /// let task = rt.spawn(async { std::thread::current().id() });
    /// assert_eq!(rt.block_on(task), std::thread::current().id()); // on this thread
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::LocalRuntime::new()?;
    /// let handle = rt.handle();
    /// let task = std::thread::spawn(move || handle.spawn(async { 3 })).join().unwrap();
    /// assert_eq!(rt.block_on(task), 3); // it ran here, once the loop ran
    /// # Ok::<(), std::io::Error>(())
    /// ```
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

/// The global runtime: started on first use by `spawn` outside of any runtime.
pub(crate) fn global() -> &'static Runtime {
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
///   task: prefer `.await`); the other workers keep running. Once *every* worker is blocked
///   this way (always, with one worker), the blocked workers run the runtime's queued tasks while
///   their futures wait, so `block_on(spawn(..))` inside a task completes even then (in tokio it
///   panics); while a worker is free, the tasks are left to it, since a task run inside a
///   blocked call that blocks in turn would have to return before the outer call can. A worker
///   in a long poll, or blocked in *another* executor's `block_on` (which corio cannot see),
///   counts as free: tasks wait for it. A blocked
///   worker still looks at timers and I/O while it runs tasks. The task that called it stays
///   stuck in that poll until its future is done, or until the runtime shuts down: then the
///   call unwinds out of the task's poll (no panic hook runs, nothing is reported), the worker
///   exits, and the task is dropped with the others.
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
        Entered(Arc<multi::Shared>),
        Worker(Rc<multi::Core>),
        Park,
    }
    let via = context::with(|cur| match cur {
        // A task pinned to a worker (`spawn_local` inside a multi-threaded runtime) blocks that
        // worker: as from any of its tasks, it must run the runtime's tasks while every worker
        // is blocked, not only the pinned loop's, or `block_on(spawn(..))` never returns on one
        // worker.
        Some(Current::Local(core)) => match &core.parent {
            Some(Handle(HandleKind::Multi(shared))) => match loop_worker_of(shared) {
                Some(worker) => Via::Worker(worker),
                None => Via::Local(core.clone()),
            },
            _ => Via::Local(core.clone()),
        },
        Some(Current::Worker(core)) => Via::Worker(core.clone()),
        Some(Current::Entered(Handle(HandleKind::Multi(shared)))) => Via::Entered(shared.clone()),
        Some(Current::Entered(Handle(HandleKind::Local(_)))) => Via::Park,
        None => match local::implicit() {
            Some(core) => Via::Local(core),
            None => Via::Park,
        },
    });
    match via {
        Via::Local(core) => core.block_on(future, Location::caller()),
        Via::Worker(core) => {
            // This worker's thread is about to block: its queued tasks go where the other
            // workers can run them (outside the context's borrow: a shut-down runtime drops
            // them in its own context).
            core.evacuate();
            let output = multi_block_on(&core.shared, future, Some(core.index), Location::caller());
            core.note_pinned();
            output
        }
        Via::Entered(shared) => {
            // A task run by a worker blocked in a nested `block_on` blocks that worker again.
            let index = blocked_worker_of(&shared);
            multi_block_on(&shared, future, index, Location::caller())
        }
        Via::Park => park_block_on(future),
    }
}

/// corio-coop's [`Blocker`](corio_coop::Blocker), installed by every runtime: how a leaf crate's
/// blocking call (`recv_blocking`, `lock_blocking`) made inside a task blocks its thread.
///
/// - On a local loop (`run_local`, a `LocalRuntime`, a thread's implicit loop while it runs):
///   as [`block_on`] does there, running the loop's other tasks while the call waits, so that a
///   counterpart queued behind the caller on the same thread still runs (it used to hang).
/// - On a worker of a multi-threaded runtime: the worker hands its queued tasks (LIFO slot,
///   private deque, stealable queue) to the injector, where the other workers find them, and
///   parks; it runs nothing meanwhile. Running tasks there, nested inside the blocked call as a
///   nested `block_on` does once every worker is blocked, deadlocked: a nested task blocking on
///   the same lock waited for the outer waiter, which had been handed the lock but could not
///   run before the nested call returned (a review found it hanging, or overflowing the stack,
///   with tasks contending for one mutex on 2 workers). With every worker parked this way while
///   tasks wait, a call that waits for one of them cannot return (always, on one worker); with
///   every worker in such a call, nothing drives timers and I/O either: in both cases the
///   runtime says so on stderr, once, after a second. On a local loop, a call made by a task
///   that runs inside another call returns first; an outer call woken but held up so for a
///   second is reported too (`local::Core::block_on`).
/// - Anywhere else (a plain thread, a thread inside a multi-threaded runtime's `block_on`): it
///   declines without polling, and the caller parks the thread by itself, as before.
pub(crate) fn block_for_leaf(future: Pin<&mut dyn Future<Output = ()>>) -> bool {
    enum Via {
        Local(Rc<local::Core>),
        Worker(Rc<multi::Core>),
    }
    let via = context::with(|cur| match cur {
        Some(Current::Local(core)) => match &core.parent {
            // A loop pinned to a worker: the worker blocks.
            Some(Handle(HandleKind::Multi(shared))) => loop_worker_of(shared).map(Via::Worker),
            _ => Some(Via::Local(core.clone())),
        },
        Some(Current::Worker(core)) => Some(Via::Worker(core.clone())),
        Some(Current::Entered(_)) | None => None,
    });
    match via {
        None => false,
        Some(Via::Local(core)) => {
            core.block_on(future, Location::caller());
            true
        }
        Some(Via::Worker(core)) => {
            core.evacuate();
            leaf_park(&core.shared, future);
            core.note_pinned();
            true
        }
    }
}

/// Parks a worker in a leaf's blocking call until `future` completes (see [`block_for_leaf`]).
fn leaf_park(shared: &Arc<multi::Shared>, mut future: Pin<&mut dyn Future<Output = ()>>) {
    use std::sync::atomic::Ordering;
    struct Blocked<'a>(&'a multi::Shared);
    impl Drop for Blocked<'_> {
        fn drop(&mut self) {
            self.0.leaf_blocked.fetch_sub(1, Ordering::SeqCst);
        }
    }
    shared.leaf_blocked.fetch_add(1, Ordering::SeqCst);
    let _blocked = Blocked(shared);
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let report_after = std::time::Duration::from_secs(1);
    let mut stuck_since: Option<std::time::Instant> = None;
    loop {
        if corio_coop::unconstrained(|| future.as_mut().poll(&mut cx)).is_ready() {
            return;
        }
        thread::park_timeout(report_after);
        if shared.leaf_reported.load(Ordering::Relaxed) {
            continue;
        }
        // Stuck: every worker is blocked and tasks wait to run, or every worker is in such a
        // call while other tasks wait for something, which nothing can then bring: no timer
        // fires and no I/O is served (a task holding the lock while it awaits a timer hung
        // silently: a probe found it). "Others wait": the idle registry holds a task that went
        // idle and has not ended (it may be one of those in the calls, if it awaited something
        // before: then the report is a warning about a runtime that runs nothing for a second);
        // calls waiting for a plain thread, with no task ever idle, are no report's business (a
        // review found that reported).
        let leaf_blocked = shared.leaf_blocked.load(Ordering::SeqCst);
        let all_in_leaf_calls =
            leaf_blocked >= shared.remotes.len() && shared.common.registry.len() > 0;
        if all_in_leaf_calls || (shared.every_worker_blocked() && !shared.injector.is_empty()) {
            let since = *stuck_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() >= report_after && !shared.leaf_reported.swap(true, Ordering::SeqCst)
            {
                eprintln!(
                    "corio: every worker of this runtime is blocked, {leaf_blocked} of them in a \
                     blocking call of a sync primitive (lock_blocking, recv_blocking, ...) made \
                     inside a task, while {} task(s) wait to run{}: a call that waits for a task, \
                     a timer or I/O never returns (on a one-worker runtime it cannot). Use .await \
                     in async code",
                    shared.injector.len(),
                    if all_in_leaf_calls {
                        ", others wait for something, and no timer fires and no I/O is served"
                    } else {
                        ""
                    }
                );
            }
        } else {
            stuck_since = None;
        }
    }
}

/// Wakes a thread parked with `thread::park` (`park_block_on`, `leaf_park`).
struct Unparker(thread::Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// The plainest `block_on`: poll, then park the thread until woken.
fn park_block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let _blocking = crate::local::enter_blocking(0);
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
