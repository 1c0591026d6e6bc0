//! Debug mode: the slow-poll (blocking) detector, its watchdog, and the task tree dump.
//!
//! Everything here exists only when a runtime is built with debug mode on; when it is off, a
//! task's header carries no debug record and the poll path takes one untaken branch.
//!
//! - Every task gets a [`TaskDebug`] record: parent, state, age, poll count, busy time. Records
//!   live in a registry (one mutex per runtime: debug mode trades speed for insight) so that
//!   [`Dump`] can list every live task.
//! - Each thread that polls tasks publishes "what am I polling, since when" in a [`PollSlot`].
//!   A watchdog thread looks at the slots a few times per threshold and reports a poll that is
//!   *still* running past the threshold (a task stuck in `std::thread::sleep` would otherwise
//!   never be reported). A poll that ends past the threshold and was not reported by the
//!   watchdog is reported when it ends. Either way: one report per slow poll.

use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::loom_shim::lock_std;
use crate::report::{Report, ReportHook, TaskSummary};
use crate::task::TaskId;

/// The default slow-poll threshold, as asyncio's debug mode.
pub const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);

/// The state of a task, as shown by a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting for a wake-up.
    Idle,
    /// Woken, waiting in a run queue.
    Scheduled,
    /// Being polled right now.
    Running,
}

const IDLE: u8 = 0;
const SCHEDULED: u8 = 1;
const RUNNING: u8 = 2;

/// What debug mode knows about one task.
pub(crate) struct TaskDebug {
    pub(crate) id: TaskId,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) location: &'static Location<'static>,
    parent: Option<TaskId>,
    created: Instant,
    state: AtomicU8,
    polls: AtomicU64,
    busy_nanos: AtomicU64,
    key: AtomicU64,
    runtime: Weak<DebugState>,
}

impl TaskDebug {
    pub(crate) fn mark_scheduled(&self) {
        self.state.store(SCHEDULED, Ordering::Relaxed);
    }

    fn summary(&self) -> TaskSummary {
        TaskSummary {
            id: self.id,
            name: self.name.clone(),
            location: self.location,
        }
    }

    /// Polls through `poll`, with the bookkeeping and the slow-poll check around it.
    pub(crate) fn instrumented<R>(self: &Arc<Self>, poll: impl FnOnce() -> R) -> R {
        let Some(state) = self.runtime.upgrade() else {
            return poll();
        };
        self.state.store(RUNNING, Ordering::Relaxed);
        let slot = state.slot();
        let started = Instant::now();
        slot.begin(self.clone(), started);
        // Ends the poll even if it panics (the panic is caught a level up).
        struct End<'a> {
            task: &'a Arc<TaskDebug>,
            slot: &'a PollSlot,
            state: &'a DebugState,
            started: Instant,
        }
        impl Drop for End<'_> {
            fn drop(&mut self) {
                let elapsed = self.started.elapsed();
                let watchdog_reported = self.slot.end();
                let task = self.task;
                task.polls.fetch_add(1, Ordering::Relaxed);
                task.busy_nanos.fetch_add(
                    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                // A wake during the poll already set SCHEDULED; otherwise the task goes idle.
                let _ = task.state.compare_exchange(
                    RUNNING,
                    IDLE,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                if elapsed >= self.state.threshold && !watchdog_reported {
                    self.state.report(&Report::SlowPoll {
                        task: task.summary(),
                        elapsed,
                        thread: self.slot.thread.clone(),
                        still_running: false,
                    });
                }
            }
        }
        let _end = End {
            task: self,
            slot: &slot,
            state: &state,
            started,
        };
        poll()
    }

    /// The task's future was dropped: it leaves the registry.
    pub(crate) fn ended(&self) {
        if let Some(state) = self.runtime.upgrade() {
            let key = self.key.load(Ordering::Relaxed);
            lock_std(&state.tasks).try_remove(key as usize);
        }
    }
}

/// What one thread is polling: a stack, because a poll can nest another (a `block_on` called
/// inside a task polls its own future on the same thread). The watchdog looks at the outermost
/// poll, the one that keeps the thread from its other tasks.
pub(crate) struct PollSlot {
    thread: String,
    current: Mutex<Vec<Polling>>,
}

struct Polling {
    task: Arc<TaskDebug>,
    started: Instant,
    reported: bool,
}

impl PollSlot {
    fn begin(&self, task: Arc<TaskDebug>, started: Instant) {
        lock_std(&self.current).push(Polling {
            task,
            started,
            reported: false,
        });
    }

    /// Returns whether the watchdog reported this poll (the innermost one in progress).
    fn end(&self) -> bool {
        lock_std(&self.current).pop().is_some_and(|p| p.reported)
    }
}

/// The debug-mode state of one runtime.
pub(crate) struct DebugState {
    threshold: Duration,
    report: ReportHook,
    tasks: Mutex<slab::Slab<Arc<TaskDebug>>>,
    slots: Mutex<Vec<Arc<PollSlot>>>,
    /// Set when the runtime shuts down; the watchdog waits on it between looks, so that a
    /// shutdown never waits out a period (a quarter of the threshold, which may be long).
    stop: Arc<(Mutex<bool>, std::sync::Condvar)>,
    /// Set once the watchdog thread has started (it starts lazily, with the first task).
    watchdog: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl fmt::Debug for DebugState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DebugState")
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// This thread's poll slot, per debug runtime (a thread can poll for several runtimes over
    /// its life, and nested runtimes).
    static SLOTS: RefCell<Vec<(Weak<DebugState>, Arc<PollSlot>)>> = const { RefCell::new(Vec::new()) };
    /// The debug id of the `block_on` future this thread is polling, if any: the parent of the
    /// tasks it spawns (it is no task, so `context::current_task` does not name it).
    static MAIN: std::cell::Cell<Option<TaskId>> = const { std::cell::Cell::new(None) };
}

/// Runs `poll` with `id` (a `block_on` future's debug id) as the parent of the tasks spawned
/// during it, restoring the previous one after (a nested `block_on`), also on unwind.
pub(crate) fn as_main<R>(id: TaskId, poll: impl FnOnce() -> R) -> R {
    struct Restore(Option<TaskId>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = MAIN.try_with(|m| m.set(self.0));
        }
    }
    let _restore = Restore(MAIN.try_with(|m| m.replace(Some(id))).ok().flatten());
    poll()
}

impl DebugState {
    pub(crate) fn new(threshold: Duration, report: ReportHook) -> Arc<DebugState> {
        Arc::new(DebugState {
            threshold,
            report,
            tasks: Mutex::new(slab::Slab::new()),
            slots: Mutex::new(Vec::new()),
            stop: Arc::default(),
            watchdog: Mutex::new(None),
        })
    }

    fn report(&self, report: &Report) {
        let hook = &self.report;
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(report)));
    }

    /// Creates the debug record of a new task and registers it.
    pub(crate) fn track(
        self: &Arc<Self>,
        id: TaskId,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) -> Arc<TaskDebug> {
        self.start_watchdog();
        let task = Arc::new(TaskDebug {
            id,
            name,
            location,
            parent: crate::context::current_task()
                .or_else(|| MAIN.try_with(std::cell::Cell::get).ok().flatten()),
            created: Instant::now(),
            state: AtomicU8::new(SCHEDULED),
            polls: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
            key: AtomicU64::new(0),
            runtime: Arc::downgrade(self),
        });
        let key = lock_std(&self.tasks).insert(task.clone());
        task.key.store(key as u64, Ordering::Relaxed);
        task
    }

    fn slot(self: &Arc<Self>) -> Arc<PollSlot> {
        SLOTS.with(|slots| {
            let mut slots = slots.borrow_mut();
            slots.retain(|(rt, _)| rt.strong_count() > 0);
            if let Some((_, slot)) = slots
                .iter()
                .find(|(rt, _)| std::ptr::eq(rt.as_ptr(), Arc::as_ptr(self)))
            {
                return slot.clone();
            }
            let thread = std::thread::current();
            let slot = Arc::new(PollSlot {
                thread: thread
                    .name()
                    .map_or_else(|| format!("{:?}", thread.id()), str::to_owned),
                current: Mutex::new(Vec::new()),
            });
            lock_std(&self.slots).push(slot.clone());
            slots.push((Arc::downgrade(self), slot.clone()));
            slot
        })
    }

    fn start_watchdog(self: &Arc<Self>) {
        let mut watchdog = lock_std(&self.watchdog);
        if watchdog.is_some() {
            return;
        }
        let weak = Arc::downgrade(self);
        let stop = self.stop.clone();
        let period = (self.threshold / 4).max(Duration::from_millis(1));
        let spawned = std::thread::Builder::new()
            .name("corio-watchdog".into())
            .spawn(move || {
                loop {
                    let (stopped, wake) = &*stop;
                    let guard = lock_std(stopped);
                    let (guard, _) = wake
                        .wait_timeout_while(guard, period, |stopped| !*stopped)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if *guard {
                        return;
                    }
                    drop(guard);
                    let Some(state) = weak.upgrade() else { return };
                    state.watch();
                }
            });
        match spawned {
            Ok(handle) => *watchdog = Some(handle),
            // Without a watchdog, slow polls are still reported when they end.
            Err(e) => eprintln!("corio: debug mode could not start its watchdog thread: {e}"),
        }
    }

    /// One look at every poll slot.
    fn watch(&self) {
        let slots: Vec<Arc<PollSlot>> = lock_std(&self.slots).clone();
        for slot in slots {
            let report = {
                let mut current = lock_std(&slot.current);
                match current.first_mut() {
                    Some(p) if !p.reported && p.started.elapsed() >= self.threshold => {
                        p.reported = true;
                        Some(Report::SlowPoll {
                            task: p.task.summary(),
                            elapsed: p.started.elapsed(),
                            thread: slot.thread.clone(),
                            still_running: true,
                        })
                    }
                    _ => None,
                }
            };
            if let Some(r) = report {
                self.report(&r);
            }
        }
    }

    /// Stops the watchdog (called when the runtime shuts down).
    pub(crate) fn shutdown(&self) {
        *lock_std(&self.stop.0) = true;
        self.stop.1.notify_all();
        let handle = lock_std(&self.watchdog).take();
        if let Some(handle) = handle {
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }

    pub(crate) fn dump(&self) -> Dump {
        let now = Instant::now();
        let mut tasks: Vec<TaskSnapshot> = lock_std(&self.tasks)
            .iter()
            .map(|(_, t)| TaskSnapshot {
                id: t.id,
                name: t.name.clone(),
                parent: t.parent,
                state: match t.state.load(Ordering::Relaxed) {
                    RUNNING => TaskState::Running,
                    SCHEDULED => TaskState::Scheduled,
                    _ => TaskState::Idle,
                },
                age: now.saturating_duration_since(t.created),
                polls: t.polls.load(Ordering::Relaxed),
                busy: Duration::from_nanos(t.busy_nanos.load(Ordering::Relaxed)),
                location: t.location,
            })
            .collect();
        tasks.sort_by_key(|t| t.id);
        Dump { tasks, debug: true }
    }
}

/// One live task in a [`Dump`].
#[derive(Debug, Clone)]
pub struct TaskSnapshot {
    /// The task's id.
    pub id: TaskId,
    /// Its name, if it has one.
    pub name: Option<Arc<str>>,
    /// The task that spawned it (a task group's children have the group's task as parent).
    pub parent: Option<TaskId>,
    /// Idle, scheduled or running.
    pub state: TaskState,
    /// Time since it was spawned.
    pub age: Duration,
    /// How many times it has been polled.
    pub polls: u64,
    /// Total time spent in its polls.
    pub busy: Duration,
    /// Where it was spawned.
    pub location: &'static Location<'static>,
}

/// A snapshot of every live task of a runtime, printable as a tree (children under the task that
/// spawned them).
///
/// Only debug mode tracks tasks; with debug mode off, a dump is empty and says so.
///
/// # Examples
///
/// ```
/// use corio_executor::{Runtime, task};
///
/// let rt = Runtime::builder().debug(true).build().unwrap();
/// let dump = rt.block_on(async {
///     let _idle = task::Builder::new().name("idler").spawn(std::future::pending::<()>());
///     corio_executor::yield_now().await;
///     corio_executor::Handle::current().dump()
/// });
/// assert!(dump.to_string().contains("idler"));
/// ```
#[derive(Debug, Clone)]
pub struct Dump {
    /// Every live task, by id.
    pub tasks: Vec<TaskSnapshot>,
    debug: bool,
}

impl Dump {
    pub(crate) fn disabled() -> Dump {
        Dump {
            tasks: Vec::new(),
            debug: false,
        }
    }

    /// The children of `parent` (`None`: the roots, whose parent is not a live task).
    pub fn children(&self, parent: Option<TaskId>) -> impl Iterator<Item = &TaskSnapshot> {
        let live: std::collections::HashSet<TaskId> = self.tasks.iter().map(|t| t.id).collect();
        self.tasks.iter().filter(move |t| match parent {
            Some(p) => t.parent == Some(p),
            None => t.parent.is_none_or(|p| !live.contains(&p)),
        })
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.debug {
            return writeln!(
                f,
                "(task dump unavailable: debug mode is off; build the runtime with .debug(true) or set CORIO_DEBUG=1)"
            );
        }
        writeln!(f, "{} live task(s)", self.tasks.len())?;
        fn walk(
            dump: &Dump,
            f: &mut fmt::Formatter<'_>,
            parent: Option<TaskId>,
            depth: usize,
        ) -> fmt::Result {
            for t in dump.children(parent) {
                write!(f, "{:indent$}- {}", "", t.id, indent = depth * 2)?;
                if let Some(name) = &t.name {
                    write!(f, " `{name}`")?;
                }
                writeln!(
                    f,
                    " [{:?}] age {:.1?}, {} polls, busy {:.1?}, spawned at {}",
                    t.state, t.age, t.polls, t.busy, t.location
                )?;
                walk(dump, f, Some(t.id), depth + 1)?;
            }
            Ok(())
        }
        walk(self, f, None, 0)
    }
}
