//! [`Handle`]: a cheap, `Send + Sync` reference to a runtime of either kind, for spawning onto it
//! from anywhere, entering it, and reading its metrics and task dump.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::context::{self, Common, ContextGuard, Current};
use crate::debug::Dump;
use crate::runtime::{global, multi_spawn};
use crate::task::{Header, Task};
use crate::{local, multi};

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
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::new()?;
    /// let handle = rt.handle();
    /// let task = handle.spawn(async { 1 });
    /// assert_eq!(rt.block_on(task), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
    /// A [`LocalRuntime`](crate::LocalRuntime)'s timers and I/O are driven by its own thread,
    /// only while that thread runs the loop (inside its `block_on`): another thread that enters
    /// it and waits on a timer (`block_on(sleep(..))`) waits until the loop runs again, as with
    /// tokio's current-thread runtime.
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
        let depth = ENTERED.try_with(|e| e.replace(e.get() + 1)).unwrap_or(0);
        EnterGuard {
            depth,
            _guard: context::enter(Current::Entered(self.clone())),
        }
    }

    /// The number of tasks of this runtime that have been idle at least once and are still alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::new()?;
    /// let waiting = rt.spawn(std::future::pending::<()>()); // idle after its first poll
    /// rt.block_on(async {
    ///     while rt.handle().idle_tasks() == 0 {
    ///         corio_executor::yield_now().await;
    ///     }
    /// });
    /// assert_eq!(rt.handle().idle_tasks(), 1);
    /// drop(waiting); // cancels it
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::builder().debug(true).build()?;
    /// let _waiting = rt.spawn(std::future::pending::<()>());
    /// println!("{}", rt.handle().dump()); // "1 live task(s)" and a tree of them
    ///
    /// let quiet = corio_executor::Runtime::new()?;
    /// assert!(quiet.handle().dump().to_string().contains("debug mode is off"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dump(&self) -> Dump {
        match &self.common().debug {
            Some(debug) => debug.dump(),
            None => Dump::disabled(),
        }
    }

    /// Whether this runtime runs in debug mode.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::builder().debug(true).build()?;
    /// assert!(rt.handle().is_debug());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_debug(&self) -> bool {
        self.common().debug.is_some()
    }

    pub(crate) fn note_foreign_completion(&self) {
        match &self.0 {
            HandleKind::Multi(shared) => shared.note_completion(None),
            HandleKind::Local(shared) => {
                shared.foreign_completed.fetch_add(1, Ordering::Release);
            }
        }
    }

    /// Whether this runtime has been shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::new()?;
    /// let handle = rt.handle();
    /// assert!(!handle.is_shut_down());
    /// drop(rt);
    /// assert!(handle.is_shut_down());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_shut_down(&self) -> bool {
        match &self.0 {
            HandleKind::Multi(shared) => shared.shutdown.load(Ordering::Acquire),
            HandleKind::Local(shared) => shared.shutdown.load(Ordering::Acquire),
        }
    }
}

/// Counters of a runtime's executor; see [`Handle::metrics`].
///
/// # Examples
///
/// ```
/// let rt = corio_executor::LocalRuntime::new()?;
/// rt.block_on(rt.spawn(async {}));
/// let m = rt.handle().metrics();
/// assert_eq!((m.workers, m.spawned), (1, 1));
/// assert_eq!(m.spawned, m.completed + m.alive);
/// # Ok::<(), std::io::Error>(())
/// ```
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
    /// Worker threads asleep now, waiting for work (parked in the driver or on their own
    /// condition variable), as the scheduler counts them: a worker counts from the moment it
    /// announces that it sleeps until it is woken. For a local runtime, 1 while its loop waits.
    pub sleeping_workers: usize,
}

/// Keeps a runtime entered on this thread; see [`Handle::enter`].
///
/// # Examples
///
/// ```
/// use corio_executor::Handle;
///
/// let rt = corio_executor::Runtime::new()?;
/// {
///     let _guard = rt.handle().enter();
///     assert!(Handle::try_current().is_some());
/// }
/// assert!(Handle::try_current().is_none()); // left with the guard
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Guards must be dropped in the reverse order of their `enter` calls, as scopes nest: dropping
/// one while a later one is alive panics (unless the thread is already panicking), because the
/// thread would otherwise be left in the wrong runtime.
#[derive(Debug)]
#[must_use = "the runtime stays entered only while the guard is alive"]
pub struct EnterGuard {
    /// How many guards this thread held when this one was made (see `ENTERED`).
    depth: usize,
    _guard: ContextGuard,
}

thread_local! {
    /// The `EnterGuard`s alive on this thread.
    static ENTERED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let alive = ENTERED
            .try_with(|e| e.replace(e.get().min(self.depth)))
            .unwrap_or(self.depth + 1);
        // More alive than this guard and those before it: some entered later are still alive.
        // (Fewer: an earlier guard was already dropped out of order, and reported.)
        if alive > self.depth + 1 && !std::thread::panicking() {
            panic!(
                "corio: EnterGuards dropped out of order: a guard of Handle::enter was dropped \
                 while {} guard(s) entered after it are alive; drop them in the reverse order \
                 of the enter calls",
                alive.saturating_sub(self.depth + 1)
            );
        }
    }
}
