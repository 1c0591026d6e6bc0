//! `spawn_local` on the work-stealing runtime: `!Send` tasks pinned to the thread that spawned
//! them, as glommio and monoio pin tasks.
//!
//! A thread of a multi-threaded runtime that calls `spawn_local` gets a *pinned loop*: a
//! `local::Core` of its own, kept in a thread-local, that is never stolen from. Its tasks run
//! only on that thread:
//!
//! - on a worker, the worker loop runs one pinned task every other tick while it has other work,
//!   and all of them before it searches or parks;
//! - on the thread inside `Runtime::block_on` (`corio::run`, `#[corio::main]`), the `block_on` loop
//!   runs them between polls of its main future.
//!
//! # Invariants
//!
//! 1. A pinned task is polled and dropped only on its thread (async-task checks this too: a local
//!    task touched elsewhere aborts), with `Current::Local(pinned)` as the context, so its idle
//!    registration, completion count and `spawn_local` calls land on the pinned loop, while
//!    `spawn` and `Handle::current` reach the parent runtime (the loop's `parent`).
//! 2. No wake is lost. A wake from another thread pushes to the loop's injector, then (after a
//!    SeqCst fence) reads the loop's `parked` flag; whoever drives the loop sets `parked` (SeqCst)
//!    *before* its last look at the queues and clears it after waking. If the waker saw `parked`,
//!    [`PinnedUnpark`] wakes every way this thread can be sleeping: the worker's parker, each
//!    `block_on` parker registered on the thread, and `thread::unpark` (for a nested `block_on`
//!    inside a pinned task).
//! 3. Nothing outlives its driver. A worker shuts its pinned loop down (dropping every task left,
//!    idle ones included) on its own thread before it exits; the outermost `Runtime::block_on` on
//!    a thread does the same when it returns. A wake that arrives later finds the loop shut down,
//!    and the task is dropped by whoever holds it last (as with a dropped `LocalRuntime`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread::Thread;
use std::time::Duration;

use crate::context::{self, Current};
use crate::handle::{Handle, HandleKind};
use crate::local;
use crate::loom_shim::{Mutex, lock};
use crate::multi;
use crate::park::{Driver, DriverHandle, Parker};

/// How many ready pinned tasks a `block_on` loop runs between two polls of its main future.
pub(crate) const BATCH: usize = 61;

thread_local! {
    /// This thread's pinned loop (and its wake-up handle), created by its first `spawn_local`
    /// inside a multi-threaded runtime.
    static PINNED: RefCell<Option<(Rc<local::Core>, Arc<PinnedUnpark>)>> = const { RefCell::new(None) };
    /// Whether `PINNED` holds a loop: a plain flag, so that the worker loop's checks cost one
    /// thread-local load on threads without pinned tasks.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// The wake-up target of the `Runtime::block_on` calls running on this thread, innermost
    /// last; also the count of those calls.
    static BLOCK_ON: RefCell<Vec<Arc<BlockOnTarget>>> = const { RefCell::new(Vec::new()) };
}

/// Where a `spawn_local` lands when this thread belongs to a multi-threaded runtime: its pinned
/// loop, created on first use. `None` if no loop can drive one here (a thread that merely entered
/// the runtime with `Handle::enter`, outside any `block_on`).
pub(crate) fn core_for_spawn(cur: &Current) -> Option<Rc<local::Core>> {
    if let Some(core) = current() {
        return Some(core);
    }
    let (parent, worker) = match cur {
        Current::Worker(core) => {
            core.has_pinned.set(true);
            (core.shared.clone(), Some(core.index))
        }
        Current::Entered(Handle(HandleKind::Multi(shared)))
            if BLOCK_ON.with(|b| !b.borrow().is_empty()) =>
        {
            // A worker blocked in a nested `block_on` (running a task that spawns here) goes
            // back to its loop afterwards, which must then run and be woken for the loop
            // (`multi::Core::note_pinned`).
            (shared.clone(), crate::runtime::blocked_worker_of(shared))
        }
        _ => return None,
    };
    let unpark = Arc::new(PinnedUnpark {
        thread: std::thread::current(),
        worker: worker.map(|index| (Arc::downgrade(&parent), index)),
        block_ons: Mutex::new(BLOCK_ON.with(|b| b.borrow().clone())),
    });
    let driver = Box::new(PinnedDriver {
        unpark: unpark.clone(),
    });
    let common = crate::context::Common::new(
        1,
        parent.common.panic_policy,
        parent.common.report.clone(),
        None,
        None,
        parent.common.debug.clone(),
    );
    let core = local::Core::pinned(common, driver, Handle(HandleKind::Multi(parent.clone())));
    // The parent's metrics count the loop's tasks.
    lock(&parent.pinned_loops).push(core.shared.clone());
    PINNED.with(|p| *p.borrow_mut() = Some((core.clone(), unpark)));
    ACTIVE.with(|a| a.set(true));
    Some(core)
}

/// Whether this thread has a pinned loop.
pub(crate) fn is_active() -> bool {
    ACTIVE.try_with(Cell::get).unwrap_or(false)
}

/// The pinned loop of this thread, if it has one.
#[inline]
fn current() -> Option<Rc<local::Core>> {
    if !ACTIVE.try_with(Cell::get).unwrap_or(false) {
        return None;
    }
    PINNED
        .try_with(|p| p.borrow().as_ref().map(|(core, _)| core.clone()))
        .ok()
        .flatten()
}

fn current_unpark() -> Option<Arc<PinnedUnpark>> {
    PINNED
        .try_with(|p| p.borrow().as_ref().map(|(_, unpark)| unpark.clone()))
        .ok()
        .flatten()
}

/// Runs up to `max` ready pinned tasks of this thread; returns whether it ran any.
#[inline(always)]
pub(crate) fn run_ready(max: usize) -> bool {
    // The common case, a thread with no pinned task, is one thread-local load.
    if !ACTIVE.with(Cell::get) {
        return false;
    }
    match current() {
        Some(core) => run_on(&core, max),
        None => false,
    }
}

fn run_on(core: &Rc<local::Core>, max: usize) -> bool {
    if !core.has_work() {
        return false;
    }
    let _enter = context::enter(Current::Local(core.clone()));
    let mut ran = false;
    for _ in 0..max {
        match core.next_task() {
            Some(r) => {
                core.run_task(r);
                ran = true;
            }
            None => break,
        }
    }
    ran
}

/// Before the thread sleeps: announces it (so that wakes from other threads unpark it) and says
/// whether a pinned task is ready after all, in which case the thread must not sleep.
#[inline]
pub(crate) fn prepare_to_park() -> bool {
    match current() {
        Some(core) => {
            core.set_parked(true);
            std::sync::atomic::fence(Ordering::SeqCst);
            core.has_work()
        }
        None => false,
    }
}

/// After the thread woke up (or decided not to sleep).
#[inline]
pub(crate) fn unparked() {
    if let Some(core) = current() {
        core.set_parked(false);
    }
}

/// Shuts this thread's pinned loop down, dropping every task left in it, on this thread.
pub(crate) fn shutdown() {
    let _ = ACTIVE.try_with(|a| a.set(false));
    let core = PINNED.try_with(|p| p.borrow_mut().take()).ok().flatten();
    if let Some((core, _)) = core {
        core.shutdown();
        if let Some(Handle(HandleKind::Multi(parent))) = &core.parent {
            parent.pinned_loop_ended(&core.shared);
        }
    }
}

/// A `Runtime::block_on` running on this thread, as a wake-up target: pinned wakes must reach
/// its parker as well as its main future's.
pub(crate) struct BlockOnTarget {
    pub(crate) parker: Parker,
    pub(crate) shared: Arc<multi::Shared>,
    /// Set by a wake of the call's main future, cleared before each poll of it: a call below
    /// the innermost one on this thread whose flag stays set is held up by a call nested in it
    /// (see [`outer_call_woken`]).
    pub(crate) woken: std::sync::atomic::AtomicBool,
}

/// Whether a `Runtime::block_on` call on this thread, below the innermost one, has been woken
/// and not polled since: it is ready to go on, but cannot before the calls nested in it return.
pub(crate) fn outer_call_woken() -> bool {
    BLOCK_ON
        .try_with(|b| {
            let b = b.borrow();
            let outer = b.len().saturating_sub(1);
            b[..outer].iter().any(|t| t.woken.load(Ordering::Relaxed))
        })
        .unwrap_or(false)
}

/// Registers a `block_on` call; the guard unregisters it, and the outermost one shuts the
/// thread's pinned loop down (unless the thread is a worker, whose loop outlives the call).
pub(crate) fn enter_block_on(target: &Arc<BlockOnTarget>, on_worker: bool) -> BlockOnGuard {
    BLOCK_ON.with(|b| b.borrow_mut().push(target.clone()));
    if let Some(unpark) = current_unpark() {
        lock(&unpark.block_ons).push(target.clone());
    }
    BlockOnGuard {
        target: target.clone(),
        on_worker,
    }
}

pub(crate) struct BlockOnGuard {
    target: Arc<BlockOnTarget>,
    on_worker: bool,
}

impl Drop for BlockOnGuard {
    fn drop(&mut self) {
        if let Some(unpark) = current_unpark() {
            lock(&unpark.block_ons).retain(|t| !Arc::ptr_eq(t, &self.target));
        }
        let outermost = BLOCK_ON
            .try_with(|b| {
                let mut b = b.borrow_mut();
                b.pop();
                b.is_empty()
            })
            .unwrap_or(true);
        // A worker's thread inside its run loop (a call from a destructor that the runtime's
        // drop, from one of its tasks, runs; or another runtime's `block_on` in a task) keeps
        // its pinned loop: the worker shuts it down as it exits. Shut down here, under the task
        // that dropped the runtime, its tasks' destructors ran nested in this call's (a probe
        // saw their clean-ups cut short).
        if outermost && !self.on_worker && !crate::runtime::in_worker_loop() {
            shutdown();
        }
    }
}

/// Wakes a thread that drives a pinned loop, whichever way it sleeps.
struct PinnedUnpark {
    thread: Thread,
    worker: Option<(Weak<multi::Shared>, usize)>,
    /// The `Runtime::block_on` calls running on that thread.
    block_ons: Mutex<Vec<Arc<BlockOnTarget>>>,
}

impl DriverHandle for PinnedUnpark {
    fn unpark(&self) {
        if let Some((shared, index)) = &self.worker {
            if let Some(shared) = shared.upgrade() {
                shared.unpark_worker(*index);
            }
        }
        for t in lock(&self.block_ons).iter() {
            t.parker.unpark(&t.shared.driver);
        }
        // A `block_on` nested inside a pinned task sleeps in `thread::park`.
        self.thread.unpark();
    }
}

/// The driver of a pinned loop, used only by a `block_on` nested inside one of its tasks: it
/// sleeps the way the thread normally does, and leaves I/O and timers to the parent runtime.
struct PinnedDriver {
    unpark: Arc<PinnedUnpark>,
}

impl Driver for PinnedDriver {
    fn park(&mut self, timeout: Option<Duration>) {
        if timeout == Some(Duration::ZERO) {
            return;
        }
        match &self.unpark.worker {
            // A worker may be the only thread left to poll the runtime's I/O and timers.
            Some((shared, index)) => match shared.upgrade() {
                // The runtime shuts down (a pinned task's destructor, run by the worker's last
                // step, calls `block_on`): the other workers are leaving, and one that held the
                // driver may have left without passing a wake on, so this worker waits for the
                // driver and drives it itself, as `multi_block_on` does then (it used to sleep
                // on its parker for ever, and the runtime's drop never returned).
                Some(shared) if shared.shutdown.load(Ordering::SeqCst) => {
                    shared.park_worker_driving(*index)
                }
                Some(shared) => shared.park_worker(*index),
                None => std::thread::park_timeout(timeout.unwrap_or(Duration::from_millis(10))),
            },
            None => match timeout {
                Some(t) => std::thread::park_timeout(t),
                None => std::thread::park(),
            },
        }
    }

    fn handle(&self) -> Arc<dyn DriverHandle> {
        self.unpark.clone()
    }
}
