//! The thread-local context: which scheduler this thread belongs to, and which task is running.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use crate::debug::DebugState;
use crate::handle::{Handle, HandleKind};
use crate::park::DriverHandle;
use crate::registry::{Key, Registry};
use crate::report::{PanicPolicy, ReportHook};
use crate::task::TaskId;
use crate::{local, multi};

/// What is shared by both schedulers: identity, the registry, and the configuration that tasks
/// consult (reports, panic policy, context hooks).
pub(crate) struct Common {
    pub(crate) id: u32,
    pub(crate) registry: Registry,
    pub(crate) panic_policy: PanicPolicy,
    pub(crate) report: ReportHook,
    pub(crate) on_enter: Option<EnterHook>,
    pub(crate) driver: Option<Arc<dyn DriverHandle>>,
    pub(crate) debug: Option<Arc<DebugState>>,
}

impl fmt::Debug for Common {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Common")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A hook that makes the runtime's drivers (timers, reactor, blocking pool) current on a thread.
pub(crate) type EnterHook = Arc<dyn Fn() -> Box<dyn Any> + Send + Sync>;

impl Common {
    pub(crate) fn new(
        shards: usize,
        panic_policy: PanicPolicy,
        report: ReportHook,
        on_enter: Option<EnterHook>,
        driver: Option<Arc<dyn DriverHandle>>,
        debug: Option<Arc<DebugState>>,
    ) -> Common {
        let id = next_runtime_id();
        Common {
            id,
            registry: Registry::new(id, shards),
            panic_policy,
            report,
            on_enter,
            driver,
            debug,
        }
    }

    /// Enters the driver's context (timers, reactor) and then the user's hook; the guards undo
    /// them when dropped.
    pub(crate) fn enter_hook(&self) -> Option<Box<dyn Any>> {
        if self.driver.is_none() && self.on_enter.is_none() {
            return None;
        }
        let driver = self.driver.as_ref().map(|d| d.enter());
        let user = self.on_enter.as_ref().map(|hook| hook());
        // Dropped in reverse order of entry.
        Some(Box::new(Guards {
            user,
            _driver: driver,
        }))
    }
}

struct Guards {
    user: Option<Box<dyn Any>>,
    _driver: Option<Box<dyn Any>>,
}

impl Drop for Guards {
    fn drop(&mut self) {
        drop(self.user.take());
    }
}

/// A new nonzero id, unique unless 2^32 - 1 were drawn (runtimes, implicit loops).
pub(crate) fn next_runtime_id() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    loop {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

/// The scheduler this thread is attached to.
#[derive(Clone)]
pub(crate) enum Current {
    /// A worker thread of a multi-threaded runtime.
    Worker(Rc<multi::Core>),
    /// The thread that drives a local runtime.
    Local(Rc<local::Core>),
    /// A thread that entered a runtime (inside `Runtime::block_on` or `Handle::enter`) without
    /// being one of its schedulers.
    Entered(Handle),
}

impl Current {
    pub(crate) fn common(&self) -> &Common {
        match self {
            Current::Worker(core) => &core.shared.common,
            Current::Local(core) => &core.shared.common,
            Current::Entered(handle) => handle.common(),
        }
    }

    /// The registry shard that tasks polled on this thread use.
    fn shard(&self) -> usize {
        match self {
            Current::Worker(core) => core.index,
            _ => 0,
        }
    }

    pub(crate) fn handle(&self) -> Handle {
        match self {
            Current::Worker(core) => Handle(HandleKind::Multi(core.shared.clone())),
            Current::Local(core) => Handle(HandleKind::Local(core.shared.clone())),
            Current::Entered(handle) => handle.clone(),
        }
    }
}

#[cfg(not(loom))]
thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
    static TASK: Cell<u64> = const { Cell::new(0) };
}

// Loom runs its threads on one OS thread: the context must be loom's thread-local, or the model's
// workers would share one (`cargo xtask loom` drives the real worker loop, see `multi.rs`).
#[cfg(loom)]
loom::thread_local! {
    static CURRENT: RefCell<Option<Current>> = RefCell::new(None);
    static TASK: Cell<u64> = Cell::new(0);
}

/// Runs `f` with this thread's context. Returns `f(None)` during thread-local destruction.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(Option<&Current>) -> R) -> R {
    let mut f = Some(f);
    match CURRENT.try_with(|c| {
        let f = f.take().expect("called once");
        match c.try_borrow() {
            Ok(cur) => f(cur.as_ref()),
            // Only reachable if a context switch is in progress on this very thread; treat the
            // thread as attached to nothing rather than panic.
            Err(_) => f(None),
        }
    }) {
        Ok(r) => r,
        Err(_) => (f.take().expect("not yet called"))(None),
    }
}

/// Makes `current` this thread's context until the guard is dropped.
pub(crate) fn enter(current: Current) -> ContextGuard {
    let hook = current.common().enter_hook();
    let prev = CURRENT
        .try_with(|c| c.replace(Some(current)))
        .ok()
        .flatten();
    ContextGuard {
        prev: Some(prev),
        _hook: hook,
    }
}

/// Restores the previous context when dropped.
pub(crate) struct ContextGuard {
    prev: Option<Option<Current>>,
    // Dropped after the context is restored (fields drop after `drop` runs), which undoes the
    // drivers' own thread-local contexts in reverse order of entry.
    _hook: Option<Box<dyn Any>>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            // The value we replace is dropped after the borrow ends: dropping an `Rc<Core>` can
            // run arbitrary destructors.
            let replaced = CURRENT.try_with(|c| c.replace(prev)).ok().flatten();
            drop(replaced);
        }
    }
}

impl fmt::Debug for ContextGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextGuard").finish_non_exhaustive()
    }
}

/// Registers the task being polled (whose waker is `waker`) as idle; returns the raw key or 0.
#[inline]
pub(crate) fn register_idle(waker: &Waker) -> u64 {
    with(|cur| match cur {
        Some(cur) => cur
            .common()
            .registry
            .insert(cur.shard(), waker)
            .map_or(0, Key::to_raw),
        None => 0,
    })
}

/// A task's future is being dropped (it completed or was cancelled): counts it, and removes the
/// registration made by [`register_idle`] if this thread's runtime made it.
#[inline]
pub(crate) fn task_ended(raw: u64) {
    with(|cur| {
        let Some(cur) = cur else { return };
        match cur {
            Current::Worker(core) => core.shared.note_completion(Some(core.index)),
            Current::Local(core) => crate::tick::bump_completed(&core.shared.completed),
            Current::Entered(handle) => handle.note_foreign_completion(),
        }
        if let Some(key) = Key::from_raw(raw) {
            let common = cur.common();
            if common.id == key.runtime() {
                match cur {
                    // A worker frees the slots of the tasks that end on it in batches (see
                    // `registry.rs`).
                    Current::Worker(core) => {
                        common.registry.end(key);
                        core.slot_ended(key);
                    }
                    Current::Local(_) | Current::Entered(_) => common.registry.remove(key),
                }
            }
        }
    });
}

/// The reporting configuration of this thread's runtime, for a panic caught in a task.
pub(crate) fn panic_reporting() -> Option<(ReportHook, PanicPolicy)> {
    with(|cur| cur.map(|c| (c.common().report.clone(), c.common().panic_policy)))
}

/// Whether this thread is a worker of a multi-threaded runtime (not the thread in its
/// `block_on`, nor a local loop's). For a driver that must tell its workers, which take on the
/// I/O backend's work by design, from the user's thread (see the facade's `driver.rs`).
#[doc(hidden)]
pub fn is_worker_thread() -> bool {
    with(|cur| matches!(cur, Some(Current::Worker(_))))
}

/// `TASK` holds the id of the task running on this thread (polled, or its future being
/// dropped), 0 for none, with this bit set while its future is being dropped: one word, as the
/// plain id was (a pair cost `yield_many` 2% more instructions; ids never reach this bit).
const DROPPING: u64 = 1 << 63;

/// The id of the task running on this thread (polled, or its future being dropped).
#[inline]
pub(crate) fn current_task() -> Option<TaskId> {
    TASK.try_with(Cell::get)
        .ok()
        .and_then(|raw| TaskId::from_raw(raw & !DROPPING))
}

/// Whether the innermost task on this thread is having its future dropped (by its runtime's
/// shutdown, a cancel, a last waker gone), rather than polled: what runs then is a destructor,
/// which nothing catches on the way out the way a poll is caught.
#[inline]
pub(crate) fn in_task_destructor() -> bool {
    TASK.try_with(Cell::get)
        .is_ok_and(|raw| raw & DROPPING != 0)
}

/// Marks `id` as the running task, polled, until the guard is dropped.
#[inline]
pub(crate) fn set_task(id: TaskId) -> TaskGuard {
    TaskGuard(TASK.try_with(|t| t.replace(id.as_u64())).unwrap_or(0))
}

/// Marks `id` as the task whose future is being dropped, until the guard is dropped.
#[inline]
pub(crate) fn set_task_dropping(id: TaskId) -> TaskGuard {
    TaskGuard(
        TASK.try_with(|t| t.replace(id.as_u64() | DROPPING))
            .unwrap_or(0),
    )
}

pub(crate) struct TaskGuard(u64);

impl Drop for TaskGuard {
    #[inline]
    fn drop(&mut self) {
        let _ = TASK.try_with(|t| t.set(self.0));
    }
}
