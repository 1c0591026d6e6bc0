//! The multi-threaded, work-stealing scheduler.
//!
//! Each worker owns a bounded local run queue and a LIFO slot; a shared injector queue takes the
//! tasks scheduled from outside the workers. The loop of a worker, one *tick* per task:
//!
//! 1. every [`EVENT_INTERVAL`] ticks, poll the driver (timers and I/O) without blocking, if no other
//!    thread is parked in it, so that a busy worker still notices them;
//! 2. every [`GLOBAL_INTERVAL`] ticks, take a task from the injector first, so that tasks woken from
//!    other threads are not starved by a busy local queue;
//! 3. the LIFO slot (the task most recently woken by this worker), at most [`MAX_LIFO_POLLS`] times
//!    in a row; then the local queue; then a batch from the injector;
//! 4. otherwise, if tasks of this worker yielded: poll the driver without blocking, then queue
//!    them again behind what it woke (`Core::undefer`);
//! 5. otherwise *search*: steal half of another worker's queue (at most half the workers search at
//!    once), or a batch of the injector; a searcher that finds nothing while another worker runs
//!    looks at the driver (without blocking) and keeps searching for up to [`SEARCH_SPIN`]
//!    (`Core::search_a_while`) before it parks;
//! 6. otherwise park: in the driver if no other thread is in it, else on a condition variable.
//!
//! A wake from a worker thread goes to that worker's LIFO slot (or, for a task that yielded, to
//! its `deferred` list, see step 4), except a wake by the driver (I/O readiness, a timer) on two or more
//! workers, which goes to the stealable part of its local queue (see `Core::schedule_local`); a
//! wake from any other thread goes to the injector and unparks an idle worker if none is
//! searching. A spawn on a worker goes to the LIFO slot too, but
//! the task it displaces there goes to the stealable queue when some worker is asleep or searching,
//! so that a fan-out spreads; and a worker whose thread blocks in a nested `block_on` first hands
//! its queued tasks to the injector. Spawning and waking take no global lock: they push to a queue
//! and read the idle state, one atomic word. Two small locks can be met on the spawn, wake and
//! complete paths: the idle list's mutex, when a wake must actually unpark a sleeping worker
//! ([`Idle::worker_to_notify`]; a busy runtime, with no worker asleep, never takes it), and the
//! lock of one shard of the idle registry, when a task first goes idle (the shard of the worker
//! that polled it) or completes after going idle (the shard it registered in). Otherwise the idle
//! list's mutex is taken only to park or unpark a worker.
//!
//! Each worker's local queue has two parts: a private deque that only its owner touches (no atomics
//! on push or pop), and a bounded concurrent queue that other workers steal from. Tasks woken by
//! the driver go to the stealable part (so that a worker the OS deschedules, or a task blocks,
//! strands none of a batch of I/O wakes). On a runtime of several workers, tasks spawned or woken
//! on a worker that the LIFO slot displaces go to the stealable part, as do batches taken from
//! the injector or stolen: in the private part they waited for the end of the running poll,
//! however long, while other workers slept. A task that the LIFO streak's end pushes out goes to
//! the private part while it is empty (it runs next), else to the stealable part. With one
//! worker everything is private. When the private
//! part holds more than one task and a load of the idle state says some worker is asleep or
//! searching, the owner moves the older half of
//! its private deque to the stealable part and wakes one if none searches (not while it is parked in the driver
//! itself, counted as asleep: it wakes one once, when it returns, if its driver woke more than one
//! task). It also does so every [`EVENT_INTERVAL`] ticks if others are idle, and takes from
//! its own stealable part every [`GLOBAL_INTERVAL`] ticks, so shared-out tasks never wait behind a
//! private deque that keeps refilling. A batch of driver wakes larger than the stealable part
//! overflows into the private deque; the owner then runs the stealable part's older tasks first
//! (`older_stealable`), so the batch runs in the order of its wakes.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::loom_shim::{AtomicUsize, Mutex, fence, lock};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use async_task::ScheduleInfo;
use concurrent_queue::ConcurrentQueue;

use crate::context::{self, Common, Current};
use crate::park::{Parker, SharedDriver};
use crate::registry::Key;
use crate::tick::bump;
use crate::tick::{EVENT_INTERVAL, GLOBAL_INTERVAL, release_burst};

/// How many times in a row the LIFO slot may be preferred over the local queue.
pub(crate) const MAX_LIFO_POLLS: u32 = 3;
/// The capacity of each worker's local queue.
const LOCAL_QUEUE_CAPACITY: usize = 256;

/// How long a searching worker that found nothing keeps looking while others run (see
/// `Core::search_a_while`).
const SEARCH_SPIN: Duration = Duration::from_micros(SEARCH_SPIN_US);
const SEARCH_SPIN_US: u64 = 10;
/// Spin-loop hints between two looks of a spinning searcher.
const SPIN_PAUSES: u32 = 16;
/// After this many searches in a row whose spin found nothing, a worker spins only on every
/// [`SPIN_PROBE_EVERY`]-th search (see `Core::search_a_while`).
const SPIN_GIVE_UP: u32 = 4;
const SPIN_PROBE_EVERY: u32 = 16;

/// A task's metadata: its runtime. The schedule function captures nothing (so async-task needs
/// no temporary waker around it) and finds the runtime here.
pub(crate) type Meta = Arc<Shared>;
pub(crate) type Runnable = async_task::Runnable<Meta>;

/// The schedule function of every task of a multi-threaded runtime.
#[inline]
pub(crate) fn schedule(runnable: Runnable, info: ScheduleInfo) {
    if runnable.metadata().shutdown.load(Ordering::Relaxed) {
        // Shut down: the task is dropped, never inside the context's borrow below (a destructor
        // that calls `block_on` enters a context: it panicked with "already borrowed", and the
        // runtime's drop then waited for ever; a probe found it). See `Shared::bury`.
        let shared = runnable.metadata().clone();
        shared.schedule_remote(runnable);
        return;
    }
    let runnable = context::with(move |cur| match cur {
        Some(Current::Worker(core)) if Arc::ptr_eq(&core.shared, runnable.metadata()) => {
            core.schedule_local(runnable, info.woken_while_running);
            None
        }
        _ => Some(runnable),
    });
    if let Some(runnable) = runnable {
        // Off the workers: keep the runtime alive while we hand the task over.
        let shared = runnable.metadata().clone();
        shared.schedule_remote(runnable);
    }
}

/// State shared by all the threads of one runtime.
pub(crate) struct Shared {
    pub(crate) common: Common,
    pub(crate) injector: ConcurrentQueue<Runnable>,
    /// Tasks scheduled after the shutdown began and before `drain` finished: `drain` drops
    /// them (see [`bury`](Shared::bury)).
    graveyard: ConcurrentQueue<Runnable>,
    /// Set by `drain` when it has dropped every task it could reach; later schedules drop
    /// their task on the spot.
    drained: AtomicBool,
    pub(crate) remotes: Box<[Remote]>,
    // The fields written while the runtime runs are each on cache lines of their own, so that
    // their writes never invalidate the read-mostly fields (`remotes`, `shutdown`, `common`)
    // that every worker reads on every tick.
    idle: Padded<Idle>,
    pub(crate) driver: Padded<SharedDriver>,
    pub(crate) shutdown: AtomicBool,
    /// When the shutdown began: the one deadline of every nested `block_on`'s grace
    /// (`runtime::SHUTDOWN_GRACE`), so that the graces of parallel and nested calls overlap.
    pub(crate) shutdown_began: std::sync::OnceLock<std::time::Instant>,
    pub(crate) threads: Mutex<Vec<(ThreadId, JoinHandle<()>)>>,
    /// Spawns and completions that happened off the workers (a `block_on` thread, another
    /// runtime, the blocking and CPU pools' completions, shutdown).
    pub(crate) foreign_spawned: Padded<AtomicU64>,
    pub(crate) foreign_completed: Padded<AtomicU64>,
    /// The loops of tasks pinned to this runtime's threads (`spawn_local`, see `pinned.rs`), whose
    /// counters the metrics add in; a loop that shuts down leaves its final counts in the
    /// `foreign_*` counters, so the totals never go back.
    pub(crate) pinned_loops: Mutex<Vec<Arc<crate::local::Shared>>>,
    /// Workers blocked in a nested `block_on`, which run the injector's tasks while they wait
    /// (see `runtime::multi_block_on`): a push to the injector unparks them. `blocked_count` is
    /// the list's length, read without the lock on every push.
    blocked: Mutex<Vec<(usize, Arc<crate::pinned::BlockOnTarget>)>>,
    blocked_count: std::sync::atomic::AtomicUsize,
    /// How many distinct workers are blocked in a nested `block_on` (one worker may be blocked
    /// several calls deep). Blocked workers run tasks only while this is every worker: as long
    /// as one is free, the tasks are its to run, since a task run inside a blocked poll that
    /// blocks in turn stacks on top of it, and the outer call cannot return before the inner
    /// one (a conformance probe hung 1 run in 3 that way with 3 and 4 workers).
    blocked_workers: std::sync::atomic::AtomicUsize,
    /// Workers parked in a sync primitive's blocking call made inside a task
    /// (`runtime::block_for_leaf`), which run nothing meanwhile; and whether the report that
    /// every worker is blocked while tasks wait was printed (once per runtime).
    pub(crate) leaf_blocked: std::sync::atomic::AtomicUsize,
    pub(crate) leaf_reported: AtomicBool,
    /// Whether a nested `block_on` on a worker held up a woken outer one for a second, and
    /// that was reported (once per runtime; see `runtime::multi_block_on`).
    pub(crate) held_up_reported: AtomicBool,
    /// `schedule_remote` calls in progress (see `drain`).
    remote_schedules: Padded<std::sync::atomic::AtomicUsize>,
}

/// A value alone on its cache line(s) (128 bytes: adjacent-line prefetch pairs them on x86).
#[repr(align(128))]
pub(crate) struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The part of a worker that other threads can reach.
#[repr(align(128))]
pub(crate) struct Remote {
    pub(crate) queue: ConcurrentQueue<Runnable>,
    parker: Parker,
    // Counters written only by the owning worker (a load and a store, no read-modify-write),
    // summed by `metrics`.
    pub(crate) polls: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) spawned: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) forced_yields: AtomicU64,
    /// The task this worker is running: its key ([`crate::task::task_key`]), 0 between runs. A
    /// `Task::cancel` that finds the task closed waits while it is here: the run may still drop
    /// an output it must rescue (`rescue.rs`, invariant 3).
    pub(crate) running: std::sync::atomic::AtomicUsize,
}

impl Shared {
    /// Whether a worker runs the task `key` (`rescue.rs`, invariant 3).
    pub(crate) fn runs(&self, key: usize) -> bool {
        self.remotes
            .iter()
            .any(|r| r.running.load(Ordering::Acquire) == key)
    }

    pub(crate) fn new(common: Common, workers: usize, driver: SharedDriver) -> Shared {
        corio_coop::set_blocker(crate::runtime::block_for_leaf);
        Shared {
            common,
            injector: ConcurrentQueue::unbounded(),
            graveyard: ConcurrentQueue::unbounded(),
            drained: AtomicBool::new(false),
            remotes: (0..workers)
                .map(|_| Remote {
                    queue: ConcurrentQueue::bounded(LOCAL_QUEUE_CAPACITY),
                    parker: Parker::new(),
                    polls: AtomicU64::new(0),
                    steals: AtomicU64::new(0),
                    spawned: AtomicU64::new(0),
                    completed: AtomicU64::new(0),
                    forced_yields: AtomicU64::new(0),
                    running: std::sync::atomic::AtomicUsize::new(0),
                })
                .collect(),
            idle: Padded(Idle::new(workers)),
            driver: Padded(driver),
            shutdown: AtomicBool::new(false),
            shutdown_began: std::sync::OnceLock::new(),
            threads: Mutex::new(Vec::new()),
            foreign_spawned: Padded(AtomicU64::new(0)),
            foreign_completed: Padded(AtomicU64::new(0)),
            pinned_loops: Mutex::new(Vec::new()),
            blocked: Mutex::new(Vec::new()),
            blocked_count: std::sync::atomic::AtomicUsize::new(0),
            blocked_workers: std::sync::atomic::AtomicUsize::new(0),
            leaf_blocked: std::sync::atomic::AtomicUsize::new(0),
            leaf_reported: AtomicBool::new(false),
            held_up_reported: AtomicBool::new(false),
            remote_schedules: Padded(std::sync::atomic::AtomicUsize::new(0)),
        }
    }

    /// Counts a spawn: on the spawning worker's counter, or the shared one off the workers.
    #[inline]
    pub(crate) fn note_spawn(self: &Arc<Shared>) {
        let counted = context::with(|cur| match cur {
            Some(Current::Worker(core)) if Arc::ptr_eq(&core.shared, self) => {
                bump(&core.remote().spawned);
                true
            }
            _ => false,
        });
        if !counted {
            self.foreign_spawned.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a task whose future was dropped (completed or cancelled), on `thread_worker`'s
    /// counter if the calling thread is one of ours.
    pub(crate) fn note_completion(&self, worker: Option<usize>) {
        match worker {
            Some(index) => crate::tick::bump_completed(&self.remotes[index].completed),
            None => {
                self.foreign_completed.fetch_add(1, Ordering::Release);
            }
        }
    }

    /// A snapshot of the counters.
    pub(crate) fn metrics(&self) -> crate::handle::ExecutorMetrics {
        let sum = |f: fn(&Remote) -> &AtomicU64| -> u64 {
            self.remotes
                .iter()
                .map(|r| f(r).load(Ordering::Relaxed))
                .sum()
        };
        let (mut spawned, mut completed, mut pinned_idle) = (0, 0, 0);
        {
            // Under the lock, so that a loop that shuts down meanwhile counts once.
            let pinned = lock(&self.pinned_loops);
            for l in pinned.iter() {
                let m = l.metrics();
                spawned += m.spawned;
                completed += m.completed;
                pinned_idle += m.idle_tasks;
            }
            // Completions first (`Acquire`, pairing with `bump_completed`), then spawns: every
            // task counted as completed is then counted as spawned, so `alive` never reads low
            // (a review read 0 with 100 tasks alive, and `completed > spawned`, when spawns were
            // read first); spawns made meanwhile can only make it read high.
            completed += self
                .remotes
                .iter()
                .map(|r| r.completed.load(Ordering::Acquire))
                .sum::<u64>()
                + self.foreign_completed.load(Ordering::Acquire);
            spawned += sum(|r| &r.spawned) + self.foreign_spawned.load(Ordering::Relaxed);
        }
        crate::handle::ExecutorMetrics {
            workers: self.remotes.len(),
            spawned,
            completed,
            alive: spawned.saturating_sub(completed),
            polls: sum(|r| &r.polls),
            steals: sum(|r| &r.steals),
            injector_depth: self.injector.len(),
            local_queue_depth: self.remotes.iter().map(|r| r.queue.len()).sum(),
            budget_forced_yields: sum(|r| &r.forced_yields),
            idle_tasks: self.common.registry.len() + pinned_idle,
            sleeping_workers: self.idle.sleeping(),
        }
    }

    fn schedule_remote(self: &Arc<Shared>, runnable: Runnable) {
        // Announced before the shutdown check, withdrawn after the push (or the drop): `drain`
        // waits until no schedule is in flight, so a task pushed after `drain` emptied the
        // injector (or dropped here) cannot outlive `Runtime::drop`. SeqCst orders the increment
        // and the flag's load against `drain`'s store of the flag and load of the counter.
        self.remote_schedules.fetch_add(1, Ordering::SeqCst);
        if self.shutdown.load(Ordering::SeqCst) {
            self.bury(runnable);
        } else {
            // An unbounded queue only refuses a push once closed, and we never close it.
            let _ = self.injector.push(runnable);
            self.notify_parked();
            // After the fence in `notify_parked`: pairs with the registration in
            // `block_on_worker`, made before the blocked worker's first look at the injector.
            if self.blocked_count.load(Ordering::SeqCst) > 0 {
                for (_, target) in lock(&self.blocked).iter() {
                    target.parker.unpark(&self.driver);
                }
            }
        }
        self.remote_schedules.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes an idle worker if there is one and none is already searching for work.
    fn notify_parked(&self) {
        fence(Ordering::SeqCst);
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].parker.unpark(&self.driver);
        }
    }

    /// Whether every worker is blocked: in a nested `block_on` or in a leaf's blocking call.
    pub(crate) fn every_worker_blocked(&self) -> bool {
        self.blocked_workers.load(Ordering::SeqCst) + self.leaf_blocked.load(Ordering::SeqCst)
            >= self.remotes.len()
    }

    /// Registers worker `index` as blocked in a nested `block_on` (see `blocked`), until the
    /// guard drops.
    pub(crate) fn block_on_worker(
        self: &Arc<Shared>,
        index: usize,
        target: &Arc<crate::pinned::BlockOnTarget>,
    ) -> BlockedWorker {
        let mut blocked = lock(&self.blocked);
        if !blocked.iter().any(|(i, _)| *i == index) {
            let now = self.blocked_workers.fetch_add(1, Ordering::SeqCst) + 1;
            if now == self.remotes.len() {
                // Every worker is blocked now: the others may be parked, waiting for a task they
                // were not allowed to run until this moment.
                for (_, other) in blocked.iter() {
                    other.parker.unpark(&self.driver);
                }
            }
        }
        blocked.push((index, target.clone()));
        self.blocked_count.fetch_add(1, Ordering::SeqCst);
        BlockedWorker {
            shared: self.clone(),
            index,
            target: target.clone(),
        }
    }

    /// A task for worker `index` to run while it is blocked in a nested `block_on`, if every
    /// worker is (see `blocked_workers`): from the injector (where it moved its own queue), else
    /// from its stealable queue, which only it would otherwise run.
    pub(crate) fn pop_for_blocked_worker(&self, index: usize) -> Option<Runnable> {
        if self.shutdown.load(Ordering::Relaxed)
            || self.blocked_workers.load(Ordering::SeqCst) < self.remotes.len()
        {
            return None;
        }
        self.injector
            .pop()
            .or_else(|_| self.remotes[index].queue.pop())
            .ok()
    }

    /// Polls the driver (I/O and timers) without blocking, if no thread is parked in it: what a
    /// busy worker does every `EVENT_INTERVAL` ticks. If one is, this thread gives the driver
    /// what that thread's wake-up may need from it ([`crate::DriverHandle::assist`]).
    pub(crate) fn poll_driver_now(&self) {
        match self.driver.driver.try_lock() {
            Ok(mut driver) => {
                if let Some(driver) = driver.as_mut() {
                    driver.park(Some(Duration::ZERO));
                }
            }
            Err(_) => self.driver.handle.assist(),
        }
    }

    /// A pinned loop of this runtime shut down: its final counts move into the `foreign_*`
    /// counters (see `pinned_loops`).
    pub(crate) fn pinned_loop_ended(&self, ended: &Arc<crate::local::Shared>) {
        let mut pinned = lock(&self.pinned_loops);
        if let Some(i) = pinned.iter().position(|l| Arc::ptr_eq(l, ended)) {
            pinned.swap_remove(i);
            let m = ended.metrics();
            self.foreign_spawned.fetch_add(m.spawned, Ordering::Relaxed);
            self.foreign_completed
                .fetch_add(m.completed, Ordering::Relaxed);
        }
    }

    /// Wakes worker `index` for its pinned tasks (see `pinned.rs`).
    pub(crate) fn unpark_worker(&self, index: usize) {
        self.remotes[index].parker.unpark(&self.driver);
    }

    /// Parks worker `index` on its own thread, from a `block_on` nested in one of its pinned
    /// tasks: in the driver if it is free, as the worker itself would.
    pub(crate) fn park_worker(&self, index: usize) {
        self.remotes[index].parker.park(Some(&self.driver));
    }

    /// As [`park_worker`](Shared::park_worker), once the runtime shuts down: waits for the
    /// driver if another thread holds it, and parks in it.
    pub(crate) fn park_worker_driving(&self, index: usize) {
        self.remotes[index].parker.park_driving(&self.driver);
    }

    /// Asks every worker to stop, and wakes them all.
    pub(crate) fn signal_shutdown(&self) {
        self.shutdown_began.get_or_init(std::time::Instant::now);
        self.shutdown.store(true, Ordering::SeqCst);
        for remote in self.remotes.iter() {
            remote.parker.unpark(&self.driver);
        }
        // Workers blocked in a nested `block_on` sleep on their own parkers: they must see the
        // shutdown too (`runtime::ShutdownUnwind`).
        for (_, target) in lock(&self.blocked).iter() {
            target.parker.unpark(&self.driver);
        }
        self.driver.handle.unpark();
    }

    /// A task scheduled once the runtime shut down, with `remote_schedules` counting the call.
    /// On a thread inside this runtime (its context entered: a worker, or the thread running
    /// `drain`), until `drain` has finished, it goes to the graveyard, which `drain` empties,
    /// rather than being dropped where it was woken: such a wake can come from deep inside the
    /// runtime, the driver firing timers inside a destructor's `block_on` (which holds the
    /// driver), and a task dropped there whose destructor called `block_on` in turn deadlocked
    /// on the driver's lock (a probe found it). Anywhere else (another thread spawning through
    /// a handle, or waking), and after `drain`, the task is dropped right here, inside the
    /// runtime's context, so that its end is counted and a destructor's report reaches the
    /// runtime's hook. (Burying those too, `drain` kept dropping what threads that kept
    /// spawning kept burying, and never returned.)
    fn bury(self: &Arc<Shared>, runnable: Runnable) {
        let inside = context::with(|cur| match cur {
            Some(Current::Worker(core)) => Arc::ptr_eq(&core.shared, self),
            Some(Current::Entered(crate::handle::Handle(crate::handle::HandleKind::Multi(s)))) => {
                Arc::ptr_eq(s, self)
            }
            _ => false,
        });
        if !inside || self.drained.load(Ordering::SeqCst) {
            self.drop_spawned(runnable);
        } else {
            // Unbounded and never closed: the push cannot fail.
            let _ = self.graveyard.push(runnable);
        }
    }

    /// During the shutdown, from a `block_on` waiting inside a destructor that the shutdown runs
    /// (`runtime::multi_block_on`): does one step of what the drain would do, dropping one task
    /// left in the graveyard, the injector or a stealable queue, or else waking the idle tasks
    /// (which buries them); returns whether it found anything. A destructor that waits for
    /// another task of the runtime (its handle, or `cancel()`) waits for that task's drop,
    /// which the drain would make only after the destructor returned: dropping the runtime
    /// hung for ever (a review, 9-10 runs of 10 on 1, 2 and 4 workers; tokio returns, the
    /// awaited task cancelled). Only a few calls deep (`HELPING_DEPTH`): each dropped task's
    /// destructor runs nested in the caller's, and a thousand tasks whose destructors all wait
    /// would nest a thousand deep.
    #[cold]
    pub(crate) fn help_drain(self: &Arc<Shared>) -> bool {
        let Some(_depth) = Helping::enter() else {
            return false;
        };
        self.help_drain_step()
    }

    /// One step of [`help_drain`](Shared::help_drain), for a caller that holds its [`Helping`].
    pub(crate) fn help_drain_step(self: &Arc<Shared>) -> bool {
        let queued = self
            .graveyard
            .pop()
            .or_else(|_| self.injector.pop())
            .ok()
            .or_else(|| self.remotes.iter().find_map(|r| r.queue.pop().ok()));
        if let Some(runnable) = queued {
            self.drop_spawned(runnable);
            return true;
        }
        let wakers = self.common.registry.drain();
        let woken = !wakers.is_empty();
        wakers.into_iter().for_each(|w| w.wake());
        woken
    }

    /// Drops a task spawned after the shutdown began, inside the runtime's context, so that its
    /// end is counted and a destructor's report reaches the runtime's hook.
    pub(crate) fn drop_spawned(self: &Arc<Shared>, runnable: Runnable) {
        let handle = crate::handle::Handle(crate::handle::HandleKind::Multi(self.clone()));
        let _enter = context::enter(Current::Entered(handle));
        drop(runnable);
    }

    /// Drops every task that is left: queued ones, buried ones, and idle ones reached through
    /// the registry. `wait_for_stragglers`: end by waiting (bounded) until no task of the
    /// runtime is alive.
    pub(crate) fn drain(&self, wait_for_stragglers: bool) {
        loop {
            // Schedules from other threads that started before they could see `shutdown` finish
            // their push (or their drop) first; each takes a few instructions.
            while self.remote_schedules.load(Ordering::SeqCst) != 0 {
                std::thread::yield_now();
            }
            let wakers = self.common.registry.drain();
            let woken = wakers.len();
            // Each wake schedules the task on a runtime that is shut down, which drops it.
            wakers.into_iter().for_each(|w| w.wake());
            let mut dropped = 0;
            while let Ok(r) = self.injector.pop() {
                drop(r);
                dropped += 1;
            }
            for remote in self.remotes.iter() {
                while let Ok(r) = remote.queue.pop() {
                    drop(r);
                    dropped += 1;
                }
            }
            // One at a time: a destructor may bury more.
            while let Ok(r) = self.graveyard.pop() {
                drop(r);
                dropped += 1;
            }
            if woken == 0 && dropped == 0 {
                // From now on a schedule drops its task itself. One more pass: a schedule that
                // saw `drained` unset has buried its task before the pass's wait ends (both
                // sides are SeqCst: the counter's increment before the flag's load there, the
                // flag's store before the counter's load here).
                if self.drained.swap(true, Ordering::SeqCst) {
                    break;
                }
            }
        }
        // A wake on another thread that marked its task scheduled inside async-task just before
        // the drain looked, but has not called our schedule function yet, is invisible to it: the
        // task is in no queue and no longer in the registry. That thread drops it moments later
        // (it will see `shutdown`), so wait for the count of live tasks to reach zero, for a
        // bounded time in case a task was counted elsewhere (a cross-runtime edge case).
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(250);
        while wait_for_stragglers
            && self.metrics().alive > 0
            && std::time::Instant::now() < deadline
        {
            std::thread::yield_now();
        }
    }
}

/// How deep the `block_on` calls that help a shutdown's drain are nested on this thread (see
/// [`Shared::help_drain`]): each task they drop runs its destructor inside theirs.
pub(crate) struct Helping(u32);

/// The most [`Helping`] calls nested on one thread: a chain of destructors that each wait for
/// the next task's, in the order the drain reaches them, nests one level per link (past it, the
/// chain hangs; a review: 6 links hung at a cap of 4). A chain of 17 dropped from a task, on a
/// worker's default 2 MiB stack, hung at the cap without overflowing it. A chain can still hang
/// below the cap: a helper may drop a task whose destructor waits for one whose drop is in
/// progress higher on the same stack (its handle resolves only once that drop ends).
const HELPING_DEPTH: u32 = 16;

thread_local! {
    static HELPING: Cell<u32> = const { Cell::new(0) };
}

impl Helping {
    /// One level more, unless the thread is already [`HELPING_DEPTH`] deep.
    pub(crate) fn enter() -> Option<Helping> {
        let depth = HELPING.try_with(Cell::get).ok()?;
        if depth >= HELPING_DEPTH {
            return None;
        }
        HELPING.with(|h| h.set(depth + 1));
        Some(Helping(depth))
    }
}

impl Drop for Helping {
    fn drop(&mut self) {
        let _ = HELPING.try_with(|h| h.set(self.0));
    }
}

/// A worker's thread-local state.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    pub(crate) index: usize,
    lifo: Cell<Option<Runnable>>,
    /// The owner-only part of the local queue.
    private: RefCell<VecDeque<Runnable>>,
    /// How many tasks at the head of the stealable queue are older than the private deque's
    /// tail: set when a batch of driver wakes overflows the stealable queue into the private
    /// deque, so that the owner runs the batch's older part first (see
    /// [`schedule_local`](Core::schedule_local)).
    older_stealable: Cell<usize>,
    /// Tasks that yielded (`yield_now`, a spent budget: woken by themselves in their own poll
    /// here), in order: they run again only after the worker has run out of other work and
    /// polled the driver (I/O and timers), as tokio defers them. Queued at the back of the
    /// private deque instead, a task that yields after a long CPU burst ran before the driver's
    /// wakes in the stealable queue at every tick but every `GLOBAL_INTERVAL`-th, and a timer or
    /// a socket waited 61 such bursts for the driver: a probe saw a 1 ms ticker fire 300 ms late
    /// behind two tasks that spin 5 ms and yield, and 83 of 100 echo connections served nothing
    /// in 2 s.
    deferred: RefCell<Vec<Runnable>>,
    /// Whether the private deque holds the overflow of a batch of driver wakes: until it has
    /// drained, later driver wakes join it there, in order, rather than the stealable queue.
    overflowed: Cell<bool>,
    lifo_streak: Cell<u32>,
    searching: Cell<bool>,
    /// Inside [`park`](Core::park): the idle state counts this worker as asleep while its driver
    /// wakes tasks onto its queue, so those pushes must not share them out and "wake" it (an
    /// eventfd write to itself, and one more trip through the poller). It shares once on return.
    parked: Cell<bool>,
    /// Inside a poll of the driver: where the tasks it wakes go (see
    /// [`schedule_local`](Core::schedule_local)).
    driving: Cell<Driving>,
    tick: Cell<u32>,
    rng: Cell<u32>,
    /// Whether [`search_a_while`](Core::search_a_while) spins this time.
    spin: SpinPolicy,
    /// Whether a task was ever pinned to this worker (`spawn_local`, see `pinned.rs`): a plain
    /// field, so that a worker with none pays one load per tick for the feature.
    pub(crate) has_pinned: Cell<bool>,
    /// Registry keys of tasks that ended on this worker, whose slots are freed a batch at a time
    /// (see `registry.rs`): before the worker sleeps, when [`ENDED_BATCH`] have gathered, and
    /// when it exits.
    ended: RefCell<Vec<Key>>,
}

/// When a searching worker spins (see [`Core::search_a_while`]).
///
/// Invariants: the first [`SPIN_GIVE_UP`] searches after a spin that found work (and the first
/// ones of a worker) spin; once that many spins in a row found nothing, a search spins only if
/// it is a multiple of [`SPIN_PROBE_EVERY`] searches after that last spin that found work (a
/// probe), and a spin that finds work restores the first state.
#[derive(Default)]
struct SpinPolicy {
    /// Searches since the last spin that found work: the fruitless spins, then the skipped
    /// searches and the probes.
    since_found: Cell<u32>,
}

impl SpinPolicy {
    /// Whether this search spins; counts it.
    fn should_spin(&self) -> bool {
        let n = self.since_found.get();
        if n < SPIN_GIVE_UP {
            return true;
        }
        // Wrapping: after 2^32 searches it starts over, spinning eagerly again.
        self.since_found.set(n.wrapping_add(1));
        n % SPIN_PROBE_EVERY == 0
    }

    /// What the spin that `should_spin` allowed came to.
    fn found(&self, work: bool) {
        let n = self.since_found.get();
        if work {
            self.since_found.set(0);
        } else if n < SPIN_GIVE_UP {
            self.since_found.set(n + 1);
        }
    }
}

/// Whether a worker is polling its driver, and why.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Driving {
    No,
    /// Parked in it, or the busy loop's check: the woken tasks go to the stealable queue.
    Batch,
    /// Right after a task spent its budget: the last task woken goes to the LIFO slot, to run
    /// next, and the others to the stealable queue.
    AfterBudget,
}

/// How many ended tasks' registry slots a worker frees at once.
const ENDED_BATCH: usize = 64;

/// A worker's registration as blocked in a nested `block_on` (see `Shared::blocked`).
pub(crate) struct BlockedWorker {
    shared: Arc<Shared>,
    index: usize,
    target: Arc<crate::pinned::BlockOnTarget>,
}

impl Drop for BlockedWorker {
    fn drop(&mut self) {
        let mut blocked = lock(&self.shared.blocked);
        if let Some(i) = blocked
            .iter()
            .position(|(_, t)| Arc::ptr_eq(t, &self.target))
        {
            blocked.swap_remove(i);
            self.shared.blocked_count.fetch_sub(1, Ordering::SeqCst);
            if !blocked.iter().any(|(i, _)| *i == self.index) {
                self.shared.blocked_workers.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

impl Core {
    /// Notes that a task registered under `key` ended on this worker (already counted out by
    /// `Registry::end`); its slot is freed with the next batch.
    pub(crate) fn slot_ended(&self, key: Key) {
        let full = {
            let mut ended = self.ended.borrow_mut();
            ended.push(key);
            ended.len() >= ENDED_BATCH
        };
        if full {
            self.free_ended();
        }
    }

    /// Frees the registry slots of the tasks that ended here. No borrow is held while the
    /// registry drops their wakers, which may end more tasks (they start a new batch).
    fn free_ended(&self) {
        // Checked first: taking an empty buffer would free its memory at every park.
        if self.ended.borrow().is_empty() {
            return;
        }
        let mut keys = std::mem::take(&mut *self.ended.borrow_mut());
        self.shared.common.registry.remove_slots(&mut keys);
        keys.clear();
        let mut ended = self.ended.borrow_mut();
        if ended.is_empty() {
            // Keep the buffer's memory for the next batch.
            *ended = keys;
        }
    }

    /// After a nested `block_on` on this worker: a task it ran may have made this thread's
    /// pinned loop (`spawn_local`), which the worker loop must now run too.
    pub(crate) fn note_pinned(&self) {
        if !self.has_pinned.get() && crate::pinned::is_active() {
            self.has_pinned.set(true);
        }
    }

    pub(crate) fn remote(&self) -> &Remote {
        &self.shared.remotes[self.index]
    }

    /// Schedules a task spawned on this worker's own thread. It goes to the LIFO slot, as a
    /// wake does (a task that spawns one child and awaits it runs the child next, here). When
    /// a second spawn displaces the first from the slot (a fan-out), the displaced task goes to
    /// the stealable queue ([`push_displaced`](Self::push_displaced)): in the private deque it
    /// would wait behind every poll this worker makes (a probe measured 8 tasks of 50 ms
    /// spawned from a task: 350-400 ms on 2 workers, the other one asleep).
    #[inline]
    pub(crate) fn schedule_spawned(&self, runnable: Runnable) {
        if self.shared.shutdown.load(Ordering::Relaxed) {
            // Inside the context's borrow: never dropped here (see `schedule`).
            let _ = self.shared.graveyard.push(runnable);
            return;
        }
        if let Some(prev) = self.lifo.replace(Some(runnable)) {
            self.push_displaced(prev);
        }
    }

    /// Queues a task that a newer one displaced from the LIFO slot (a spawn or a wake on this
    /// thread): on a runtime of several workers, into the stealable queue, waking a worker
    /// that sleeps or searches, as tokio's displaced task is stealable too. In the private
    /// deque, when no worker was idle at that moment, it waited for the end of this worker's
    /// running poll however long, though another worker became free meanwhile (a review: a
    /// task that woke two tasks, or spawned two while the other worker was busy for 30 ms, then
    /// computed for 500 ms: the first started after 500 ms, 10 of 10 runs; tokio's after 0 and
    /// 30 ms). A task pushed out of the slot by its streak's end keeps `push_back`'s rule (it
    /// runs next, here: a chain of spawns stays on its core).
    #[inline]
    fn push_displaced(&self, prev: Runnable) {
        self.push_stealable_if(self.shared.remotes.len() > 1, prev);
    }

    /// Queues a task in the stealable queue if `stealable` and there is room, waking a worker
    /// that sleeps or searches; otherwise at the back of the private deque.
    #[inline]
    fn push_stealable_if(&self, stealable: bool, runnable: Runnable) {
        let runnable = if stealable {
            match self.remote().queue.push(runnable) {
                Ok(()) => {
                    // A sleeping worker is woken; a searching one finds it, or sees it when it
                    // re-checks the stealable queues before it sleeps (not while we are parked
                    // ourselves: `park` wakes one when it returns, if need be).
                    if !self.parked.get() && self.shared.idle.may_help() {
                        self.shared.notify_parked();
                    }
                    return;
                }
                Err(full) => full.into_inner(),
            }
        } else {
            runnable
        };
        self.push_private(runnable);
    }

    /// Schedules a task woken on this worker's own thread: to the LIFO slot, and the task it
    /// displaces to the stealable queue ([`push_displaced`](Self::push_displaced)).
    ///
    /// Except while the driver wakes tasks (its socket became ready, its timer fired) on a
    /// runtime of two or more workers: they then go to the stealable queue, in the order of the
    /// wakes. The driver wakes a batch at once, and in the private deque or the LIFO slot the
    /// batch would wait for this worker alone: if the OS takes the CPU away from this thread
    /// (another process, a CPU quota) or a task blocks it, another worker now steals them.
    /// Under `wrk` on the same two cores, hyper's p99 latency at 100 connections went from 5.0
    /// to 4.3 ms (medians of 4 interleaved runs), tokio's being 4.3; with the last task of each
    /// batch in the LIFO slot it stayed at 4.3 to 6.6 ms. After a task spent its budget,
    /// though, the last task woken still goes to the LIFO slot, so that I/O gets in at once
    /// (`rt_fairness.rs`).
    #[inline]
    fn schedule_local(&self, runnable: Runnable, yielded: bool) {
        if self.shared.shutdown.load(Ordering::Relaxed) {
            // Inside the context's borrow: never dropped here (see `schedule`).
            let _ = self.shared.graveyard.push(runnable);
            return;
        }
        if yielded {
            // Woken by itself, in its own poll on this worker (`yield_now`, a spent budget): it
            // waits for the driver. Woken while it runs on another worker (its I/O became ready
            // meanwhile), it is no yield: the back of the private deque, as before (deferred, a
            // busy worker that never runs dry kept such a task waiting: hyper's p99 rose).
            if self.remote().running.load(Ordering::Relaxed)
                == crate::task::task_key(runnable.metadata())
            {
                self.deferred.borrow_mut().push(runnable);
            } else {
                self.push_back(runnable);
            }
            return;
        }
        let driving = self.driving.get();
        // (With one worker nobody could steal them: the plain path.)
        if driving != Driving::No && self.shared.remotes.len() > 1 {
            let runnable = if driving == Driving::AfterBudget {
                let Some(prev) = self.lifo.replace(Some(runnable)) else {
                    return;
                };
                prev
            } else {
                runnable
            };
            if self.overflowed.get() {
                // An earlier batch's overflow still waits in the private deque: later wakes
                // go behind it, not into the stealable queue ahead of it.
                if !self.private.borrow().is_empty() {
                    self.push_private(runnable);
                    return;
                }
                self.overflowed.set(false);
            }
            if let Err(full) = self.remote().queue.push(runnable) {
                // A batch larger than the queue: the rest goes to the private deque, behind
                // the batch's older part, which this worker now runs first (unless others steal
                // it). Run private-first, the queue's old wakes waited while every later batch
                // overflowed into the private deque ahead of them, taking one task per
                // `GLOBAL_INTERVAL` ticks: hyper's p99 latency under wrk at 1,000 connections
                // was 1.4x tokio's. (Through the injector instead, a million timers firing at
                // once took 15% longer to run on 2 workers: `million_tasks`' wake phase.)
                if self.older_stealable.get() == 0 {
                    self.older_stealable.set(self.remote().queue.len());
                }
                self.overflowed.set(true);
                self.private.borrow_mut().push_back(full.into_inner());
            }
            return;
        }
        if let Some(prev) = self.lifo.replace(Some(runnable)) {
            self.push_displaced(prev);
        }
    }

    /// Queues a task behind this worker's others: on a runtime of two or more workers, the first
    /// into the private deque (it runs next, here), the others into the stealable queue (the
    /// private deque once that is full), so that a worker that becomes free while this one is
    /// inside a long poll can take them. In the private deque they waited
    /// for the end of that poll, however long, while the other workers went to sleep: a task
    /// that spawned 8 children and then computed for 500 ms kept all 8 from starting for
    /// 500 ms while the other worker was idle after 20 ms (a review; tokio ran 7 of them after
    /// 20 ms). With one worker, the private deque (no atomics).
    #[inline]
    fn push_back(&self, runnable: Runnable) {
        // The first task behind the running one stays private: it runs next, here (a chain of
        // tasks that each spawn the next, past the LIFO slot's streak, stays on this core).
        let stealable = self.shared.remotes.len() > 1 && !self.private.borrow().is_empty();
        self.push_stealable_if(stealable, runnable);
    }

    /// Queues a task at the back of the private deque, and shares half of it if some worker
    /// could help.
    #[inline]
    fn push_private(&self, runnable: Runnable) {
        let len = {
            let mut private = self.private.borrow_mut();
            private.push_back(runnable);
            private.len()
        };
        // Others can help only with more than the one task we will run next, and only if one
        // sleeps or searches (a load; a wake is properly fenced, and a searcher finds the shared
        // tasks while it spins, see `search_a_while`). Not while we are parked ourselves: `park`
        // shares what its driver woke when it returns.
        if len > 1 && !self.parked.get() && self.shared.idle.may_help() {
            self.share();
        }
    }

    /// Queues a task taken in a batch (from the injector, or stolen): as [`push_back`](Self::push_back)
    /// does, stealable while there is room on a runtime of several workers, but waking nobody
    /// (the batch is this worker's share).
    fn push_aside(&self, runnable: Runnable) {
        let runnable = if self.shared.remotes.len() > 1 {
            match self.remote().queue.push(runnable) {
                Ok(()) => return,
                Err(full) => full.into_inner(),
            }
        } else {
            runnable
        };
        self.private.borrow_mut().push_back(runnable);
    }

    /// Hands every task queued on this worker (the LIFO slot, the private deque and the
    /// stealable queue) to the injector, where any worker finds them: called before this worker's thread blocks in a
    /// nested `block_on`, which would otherwise strand them (a task spawned just before
    /// `block_on(task)` sat in the LIFO slot, and the call waited for ever).
    pub(crate) fn evacuate(&self) {
        let lifo = self.lifo.take();
        let mut private: Vec<Runnable> = self.private.borrow_mut().drain(..).collect();
        private.append(&mut self.deferred.borrow_mut());
        // The stealable queue too: while a worker is free, a blocked one runs nothing, and a
        // push to the injector wakes a sleeping worker where tasks left in the stealable queue
        // would wait for one that happens to search.
        let queue = &self.remote().queue;
        let stealable = std::iter::from_fn(|| queue.pop().ok());
        for runnable in lifo.into_iter().chain(private).chain(stealable) {
            self.shared.schedule_remote(runnable);
        }
    }

    /// Moves the older half of the private deque to the stealable queue, and wakes a worker.
    #[cold]
    fn share(&self) {
        let queue = &self.remote().queue;
        {
            let mut private = self.private.borrow_mut();
            let n = private.len().div_ceil(2);
            for _ in 0..n {
                let Some(r) = private.pop_front() else { break };
                if let Err(e) = queue.push(r) {
                    // Full (or closed): keep it ourselves, at the front where it was.
                    private.push_front(e.into_inner());
                    break;
                }
            }
        }
        self.shared.notify_parked();
    }

    #[inline(always)]
    fn next_task(&self, tick: u32) -> Option<Runnable> {
        let shared = &self.shared;
        if tick % GLOBAL_INTERVAL == 0 {
            if let Ok(r) = shared.injector.pop() {
                return Some(r);
            }
            // Tasks we shared out but nobody stole: they are older than our private ones.
            if let Ok(r) = self.remote().queue.pop() {
                let older = self.older_stealable.get();
                self.older_stealable.set(older.saturating_sub(1));
                return Some(r);
            }
        }
        let streak = self.lifo_streak.get();
        if let Some(r) = self.lifo.take() {
            if streak < MAX_LIFO_POLLS {
                self.lifo_streak.set(streak + 1);
                return Some(r);
            }
            self.push_back(r);
        }
        self.lifo_streak.set(0);
        let older = self.older_stealable.get();
        if older > 0 {
            if let Ok(r) = self.remote().queue.pop() {
                self.older_stealable.set(older - 1);
                return Some(r);
            }
            // Stolen by others meanwhile.
            self.older_stealable.set(0);
        }
        if let Some(r) = self.private.borrow_mut().pop_front() {
            return Some(r);
        }
        if let Ok(r) = self.remote().queue.pop() {
            return Some(r);
        }
        self.pop_injector_batch()
    }

    /// Takes one task from the injector, plus a fair share of the rest into the local queue.
    fn pop_injector_batch(&self) -> Option<Runnable> {
        let shared = &self.shared;
        let first = shared.injector.pop().ok()?;
        let share = shared.injector.len() / shared.remotes.len();
        let batch = share.min(LOCAL_QUEUE_CAPACITY / 2);
        for _ in 0..batch {
            let Ok(r) = shared.injector.pop() else { break };
            self.push_aside(r);
        }
        Some(first)
    }

    fn search(&self) -> Option<Runnable> {
        if !self.searching.get() {
            if !self.shared.idle.transition_to_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let remotes = &self.shared.remotes;
        let n = remotes.len();
        let start = self.next_rand() as usize % n;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            if let Some(r) = self.steal_from(&remotes[victim].queue) {
                return Some(r);
            }
        }
        self.pop_injector_batch()
    }

    /// Searches; a searcher that finds nothing keeps looking for up to [`SEARCH_SPIN`] while
    /// another worker runs, before it parks. The tasks a busy worker queues stay in its private
    /// deque, out of a searcher's sight, until it shares them, which it does on its next push
    /// while someone searches (`push_back`). Without the spin the searcher parked at once, and
    /// every imbalance cost a park, an eventfd write and a wake-up: with 100 clients calling
    /// one server task over a queue on 2 workers, a run made ~800 parks where tokio's workers
    /// (whose whole run queue is stealable) made almost none, and took 1.3-1.5x tokio's time.
    ///
    /// The spin pays off where tasks wake each other across workers (an actor and its
    /// clients); where work comes from I/O, the busy worker seldom shares in time and the spin
    /// burns the CPU that the other threads of the machine could use: a hyper server under
    /// `wrk -c2` on the same two cores spent 5.3-5.9 us of user CPU per request against
    /// 3.1-3.4 without the spin, at the same request rate. So after [`SPIN_GIVE_UP`] searches in
    /// a row whose spin found nothing, a worker spins only on about one search in
    /// [`SPIN_PROBE_EVERY`], and spins each time again once one finds work ([`SpinPolicy`]).
    fn search_a_while(&self) -> Option<Runnable> {
        if let Some(r) = self.search() {
            return Some(r);
        }
        // Not under loom (a spin is a loop of atomic operations it would explore without
        // end), nor with tasks pinned to this worker (one woken from another thread must not
        // wait for the spin).
        if cfg!(loom)
            || !self.searching.get()
            || self.has_pinned.get()
            || !self.shared.idle.others_run()
        {
            return None;
        }
        // I/O and timers do not wait for the spin: a look at them first, as a parking worker's
        // would be (without it, tcp_echo on 2 workers looked ~5% slower in one A/B, within
        // this host's noise).
        self.poll_driver(Driving::Batch);
        if let Some(r) = self.next_task(1) {
            return Some(r);
        }
        if !self.spin.should_spin() {
            return None;
        }
        let start = std::time::Instant::now();
        loop {
            // Nobody else runs, so nobody will share: park (its driver wait serves I/O and
            // timers).
            if !self.shared.idle.others_run() {
                return None;
            }
            for _ in 0..SPIN_PAUSES {
                std::hint::spin_loop();
            }
            if let Some(r) = self.search() {
                self.spin.found(true);
                return Some(r);
            }
            if start.elapsed() >= SEARCH_SPIN {
                self.spin.found(false);
                return None;
            }
        }
    }

    /// Steals half of `victim`'s queue into our own; returns one of the stolen tasks.
    fn steal_from(&self, victim: &ConcurrentQueue<Runnable>) -> Option<Runnable> {
        let count = victim.len().div_ceil(2);
        if count == 0 {
            return None;
        }
        let first = victim.pop().ok()?;
        for _ in 1..count {
            let Ok(r) = victim.pop() else { break };
            self.push_aside(r);
        }
        bump(&self.remote().steals);
        Some(first)
    }

    fn next_rand(&self) -> u32 {
        // xorshift32: victim selection needs spread, not quality.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }

    #[inline]
    fn run_task(&self, runnable: Runnable) {
        if self.searching.replace(false) && self.shared.idle.transition_from_searching() {
            // We were the last searcher and found work: there may be more, so make sure someone
            // keeps looking.
            self.shared.notify_parked();
        }
        bump(&self.remote().polls);
        let spent = corio_coop::with_budget(corio_coop::DEFAULT_BUDGET, || {
            crate::task::run_published(&self.remote().running, runnable, 0);
            corio_coop::remaining() == Some(0)
        });
        if spent {
            // The task used its whole budget, so it ran long: timers and I/O get a look now,
            // not after `EVENT_INTERVAL` more such polls (tokio likewise polls its driver before
            // it runs a task that yielded to the budget again).
            self.poll_driver(Driving::AfterBudget);
        }
    }

    /// Polls the driver without blocking, if no other thread is parked in it. If it woke more
    /// than this worker runs next while another sleeps, that one is woken to steal.
    fn poll_driver(&self, driving: Driving) {
        self.driving.set(driving);
        self.shared.poll_driver_now();
        self.driving.set(Driving::No);
        if self.remote().queue.len() > 1 && self.shared.idle.wants_work() {
            self.shared.notify_parked();
        }
    }

    /// Polls the driver without blocking, if no other thread is parked in it, and shares work
    /// with idle workers.
    fn maintenance(&self) {
        if self.private.borrow().len() > 1 && self.shared.idle.wants_work() {
            self.share();
        }
        self.poll_driver(Driving::Batch);
        self.publish();
    }

    /// Publishes the thread-local counters that are kept outside of `Remote`.
    fn publish(&self) {
        self.remote()
            .forced_yields
            .store(corio_coop::forced_yields(), Ordering::Relaxed);
    }

    fn park(&self) {
        let shared = &self.shared;
        let was_searching = self.searching.replace(false);
        let last_searcher = shared.idle.transition_to_parked(self.index, was_searching);
        fence(Ordering::SeqCst);
        // Re-check after announcing that we sleep. Work in the injector could otherwise be missed
        // by everyone: a producer either saw us parked and wakes us, or pushed before this check.
        // Work in other workers' queues is their owners' to run; only the last searcher must look
        // at it (a producer that saw a searcher did not wake anyone), and it then searches again
        // rather than sleeping. Everyone else sleeps, instead of spinning on work it may not steal.
        let must_stay = shared.shutdown.load(Ordering::SeqCst)
            || !shared.injector.is_empty()
            || (last_searcher && shared.remotes.iter().any(|r| !r.queue.is_empty()))
            || (self.has_pinned.get() && crate::pinned::prepare_to_park());
        if must_stay {
            if self.has_pinned.get() {
                crate::pinned::unparked();
            }
            if !shared.idle.unpark_self(self.index) {
                // Someone already counted us as woken (and searching).
                self.searching.set(true);
            }
            return;
        }
        self.publish();
        // A sleeping worker keeps no ended task's allocation alive, nor the memory a burst grew
        // its queue to.
        self.free_ended();
        release_burst(&mut self.private.borrow_mut());
        self.parked.set(true);
        self.driving.set(Driving::Batch);
        self.remote().parker.park(Some(&shared.driver));
        self.driving.set(Driving::No);
        self.parked.set(false);
        if self.has_pinned.get() {
            crate::pinned::unparked();
        }
        if !shared.idle.unpark_self(self.index) {
            self.searching.set(true);
        }
        // The tasks our driver woke while we counted as asleep are in the stealable queue (and
        // past its capacity, in the private deque): if there are more than we will run next and
        // another worker sleeps, wake it now, once (tokio does the same after its driver
        // returns), sharing half of the private ones too.
        if self.private.borrow().len() > 1 && shared.idle.wants_work() {
            self.share();
        } else if self.remote().queue.len() > 1 && shared.idle.wants_work() {
            shared.notify_parked();
        }
    }

    fn run(&self) {
        let shared = &self.shared;
        while !shared.shutdown.load(Ordering::Acquire) {
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            if tick % EVENT_INTERVAL == 0 {
                self.maintenance();
            }
            // Tasks pinned to this worker (`spawn_local`) get every other tick while they are
            // ready, and every tick when nothing else is.
            let pinned = self.has_pinned.get();
            if pinned && tick % 2 == 0 && crate::pinned::run_ready(1) {
                continue;
            }
            if let Some(r) = self.next_task(tick) {
                self.run_task(r);
                continue;
            }
            if pinned && crate::pinned::run_ready(1) {
                // A pinned task that keeps yielding would otherwise keep the worker from ever
                // reaching the yielded tasks below (a pinned and a stealable task waiting for
                // each other livelocked).
                if !self.deferred.borrow().is_empty() {
                    self.undefer();
                }
                continue;
            }
            if !self.deferred.borrow().is_empty() {
                // Its own yielded tasks are work enough: no search (which takes the shared
                // idle state's atomic, for every pass through them).
                self.undefer();
                continue;
            }
            if let Some(r) = self.search_a_while() {
                self.run_task(r);
                continue;
            }
            self.park();
        }
    }

    /// Out of other work with yielded tasks waiting: looks at I/O and timers (without
    /// blocking), then queues the yielded tasks again at the back of the private deque, in the
    /// order they yielded, behind whatever the driver woke (which it first takes back from the
    /// stealable queue, where the driver puts its wakes on two or more workers: the private
    /// deque runs first). With others idle, half is shared out as usual.
    #[cold]
    fn undefer(&self) {
        self.poll_driver(Driving::Batch);
        let queue = &self.remote().queue;
        let mut private = self.private.borrow_mut();
        while let Ok(woken) = queue.pop() {
            private.push_back(woken);
        }
        self.older_stealable.set(0);
        // Drained, not taken: the list keeps its capacity for the next pass (taking it left an
        // empty Vec that grew again, a reallocation every few yields).
        private.extend(self.deferred.borrow_mut().drain(..));
        let len = private.len();
        drop(private);
        if len > 1 && self.shared.idle.wants_work() {
            self.share();
        }
    }
}

/// The body of worker thread `index`.
pub(crate) fn worker_main(shared: Arc<Shared>, index: usize) {
    let core = Rc::new(Core {
        shared: shared.clone(),
        index,
        lifo: Cell::new(None),
        private: RefCell::new(VecDeque::new()),
        deferred: RefCell::new(Vec::new()),
        older_stealable: Cell::new(0),
        overflowed: Cell::new(false),
        lifo_streak: Cell::new(0),
        searching: Cell::new(false),
        parked: Cell::new(false),
        driving: Cell::new(Driving::No),
        tick: Cell::new(0),
        rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
        spin: SpinPolicy::default(),
        has_pinned: Cell::new(false),
        ended: RefCell::new(Vec::new()),
    });
    {
        let _enter = context::enter(Current::Worker(core.clone()));
        {
            let _running = crate::runtime::WorkerLoop::enter(&core);
            core.run();
        }
        core.free_ended();
        // Whatever this worker still holds goes with it, inside the runtime's context (a task's
        // destructor may report through the runtime's hook, or use the runtime); the runtime's
        // drop drains the rest.
        drop(core.lifo.take());
        drop(core.private.take());
        drop(core.deferred.take());
        // Tasks pinned to this thread can only be dropped here.
        crate::pinned::shutdown();
    }
    drop(core);
    // Last: what the driver holds for this thread (the ring's polls) goes while it is alive.
    shared.driver.handle.worker_exit();
}

/// Idle-worker accounting: how many workers are unparked and how many are searching, packed in
/// one atomic so that the wake path reads a single word; the list of parked workers behind a
/// mutex taken only to park or unpark.
pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    workers: usize,
}

const SEARCH_MASK: usize = (1 << 16) - 1;
const UNPARK_ONE: usize = 1 << 16;

impl Idle {
    pub(crate) fn new(workers: usize) -> Idle {
        Idle {
            state: AtomicUsize::new(workers * UNPARK_ONE),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            workers,
        }
    }

    fn searching(state: usize) -> usize {
        state & SEARCH_MASK
    }

    fn unparked(state: usize) -> usize {
        state >> 16
    }

    /// Workers that announced they sleep and were not woken since.
    pub(crate) fn sleeping(&self) -> usize {
        self.workers
            .saturating_sub(Self::unparked(self.state.load(Ordering::SeqCst)))
    }

    fn should_wake(&self) -> bool {
        let state = self.state.load(Ordering::SeqCst);
        Self::searching(state) == 0 && Self::unparked(state) < self.workers
    }

    /// A cheap hint (a plain load) that a worker sleeps and none searches, so that sharing work
    /// would help. Acting on it goes through [`worker_to_notify`](Idle::worker_to_notify), which
    /// is properly fenced.
    #[inline]
    fn wants_work(&self) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        Self::searching(state) == 0 && Self::unparked(state) < self.workers
    }

    /// Whether a worker other than the caller (who is unparked) is unparked, running or
    /// searching.
    #[inline]
    fn others_run(&self) -> bool {
        Self::unparked(self.state.load(Ordering::Relaxed)) > 1
    }

    /// Whether some worker is asleep or searching, and so could take shared work. A SeqCst load
    /// (a plain load on x86): it orders against a searcher's announcement (see
    /// `Core::schedule_spawned`).
    #[inline]
    fn may_help(&self) -> bool {
        let state = self.state.load(Ordering::SeqCst);
        Self::searching(state) > 0 || Self::unparked(state) < self.workers
    }

    /// Picks a parked worker to wake (counting it as unparked and searching), if one should be.
    /// Takes the sleepers lock only when the state says a worker sleeps and none searches.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_wake() {
            return None;
        }
        let mut sleepers = lock(&self.sleepers);
        if !self.should_wake() {
            return None;
        }
        let index = sleepers.pop()?;
        self.state.fetch_add(UNPARK_ONE | 1, Ordering::SeqCst);
        Some(index)
    }

    /// At most half of the workers search at once, so that stealing does not thrash.
    fn transition_to_searching(&self) -> bool {
        let state = self.state.load(Ordering::SeqCst);
        if 2 * Self::searching(state) >= self.workers {
            return false;
        }
        self.state.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Returns `true` if this was the last searching worker.
    pub(crate) fn transition_from_searching(&self) -> bool {
        Self::searching(self.state.fetch_sub(1, Ordering::SeqCst)) == 1
    }

    /// Returns `true` if the worker was the last one searching.
    pub(crate) fn transition_to_parked(&self, index: usize, searching: bool) -> bool {
        let mut sleepers = lock(&self.sleepers);
        let dec = UNPARK_ONE + usize::from(searching);
        let prev = self.state.fetch_sub(dec, Ordering::SeqCst);
        sleepers.push(index);
        searching && Self::searching(prev) == 1
    }

    /// A worker woke up. Returns `true` if it was still listed as parked (it woke by itself, for
    /// an event or a timer); `false` if a notifier had already unlisted it.
    pub(crate) fn unpark_self(&self, index: usize) -> bool {
        let mut sleepers = lock(&self.sleepers);
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_add(UNPARK_ONE, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}

/// loom models of the wake path: a task pushed from outside the workers is never left in the
/// injector while every worker sleeps. They run the real `Idle` and `Parker` (their atomics and
/// locks are loom's under `--cfg loom`). Run with `cargo xtask loom`.
#[cfg(all(test, not(loom)))]
mod spin_policy_tests {
    use proptest::prelude::*;

    use super::{SPIN_GIVE_UP, SPIN_PROBE_EVERY, SpinPolicy};

    proptest! {
        /// Drives the policy with searches whose spins find work or not (`outcomes`, one per
        /// spin) and checks its invariants against the history.
        #[test]
        fn spins_until_fruitless_then_probes(outcomes in proptest::collection::vec(any::<bool>(), 1..200)) {
            let policy = SpinPolicy::default();
            let mut outcomes = outcomes.into_iter();
            // Spins that found nothing since the last that found work, and searches since then.
            let mut fruitless = 0u32;
            let mut skipped_in_a_row = 0u32;
            for _ in 0..2_000 {
                let spins = policy.should_spin();
                if fruitless < SPIN_GIVE_UP {
                    prop_assert!(spins, "gave up after {} fruitless spins", fruitless);
                }
                if !spins {
                    skipped_in_a_row += 1;
                    prop_assert!(skipped_in_a_row < SPIN_PROBE_EVERY, "no probe in {} searches", skipped_in_a_row);
                    continue;
                }
                if fruitless >= SPIN_GIVE_UP {
                    // A probe comes only after the searches it skips: the count runs from the
                    // last spin that found work, so the first window also holds the fruitless
                    // spins.
                    prop_assert!(
                        skipped_in_a_row >= SPIN_PROBE_EVERY - SPIN_GIVE_UP,
                        "a probe after {} skipped searches", skipped_in_a_row
                    );
                }
                skipped_in_a_row = 0;
                let Some(work) = outcomes.next() else { break };
                policy.found(work);
                fruitless = if work { 0 } else { fruitless + 1 };
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use crate::loom_shim::Mutex;
    use crate::park::{Driver, Parker, SharedDriver, ThreadParkDriver};
    use loom::sync::Arc;

    struct World {
        parkers: Vec<Parker>,
        driver: SharedDriver,
    }

    fn world(workers: usize) -> Arc<World> {
        let driver = ThreadParkDriver::new();
        let handle = driver.handle();
        Arc::new(World {
            parkers: (0..workers).map(|_| Parker::new()).collect(),
            driver: SharedDriver {
                driver: Mutex::new(Some(Box::new(driver) as Box<dyn Driver>)),
                handle,
            },
        })
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(2);
        }
        builder.check(f);
    }

    /// The thread of `Runtime::block_on` parks off the driver (on its condition variable); an
    /// unpark from another thread, before or during the park, always ends it.
    #[test]
    fn loom_a_block_on_thread_parked_off_the_driver_is_woken() {
        model(|| {
            let w = world(1);
            let w2 = w.clone();
            let waker = loom::thread::spawn(move || w2.parkers[0].unpark(&w2.driver));
            w.parkers[0].park(None);
            waker.join().unwrap();
        });
    }

    // The real worker loop: `worker_main` (its `Core::run`: the LIFO slot, the private and
    // stealable queues, `share`, stealing, the injector, parking through `Idle` and `Parker`) on
    // loom's threads, with real async-task tasks spawned through `runtime::multi_spawn` and
    // awaited by other tasks.

    use crate::builder::Builder;
    use crate::runtime::multi_spawn;
    use crate::task::Header;
    use std::panic::Location;

    fn spawn_workers(
        shared: &std::sync::Arc<super::Shared>,
        n: usize,
    ) -> Vec<loom::thread::JoinHandle<()>> {
        (0..n)
            .map(|index| {
                let shared = shared.clone();
                loom::thread::spawn(move || super::worker_main(shared, index))
            })
            .collect()
    }

    fn shut_down(rt: crate::Runtime, workers: Vec<loom::thread::JoinHandle<()>>) {
        rt.shared.signal_shutdown();
        for w in workers {
            w.join().unwrap();
        }
        drop(rt); // drains what is left and drops the driver
    }

    /// Runs `f` as a task and waits for its output on this (the model's main) thread. The wait
    /// is a loom mutex and condition variable, not `multi_block_on`: its parker would be created
    /// here and reached by the worker only through async-task's own atomics, which loom cannot
    /// see, so loom would report the hand-over as a causality violation.
    fn run<F>(shared: &std::sync::Arc<super::Shared>, f: F) -> F::Output
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let slot = Arc::new((Mutex::new(None), loom::sync::Condvar::new()));
        let done = slot.clone();
        spawn(shared, async move {
            let out = f.await;
            *done.0.lock().unwrap() = Some(out);
            done.1.notify_one();
        })
        .detach();
        let mut out = slot.0.lock().unwrap();
        loop {
            if let Some(out) = out.take() {
                return out;
            }
            out = slot.1.wait(out).unwrap();
        }
    }

    fn spawn<F>(shared: &std::sync::Arc<super::Shared>, f: F) -> crate::Task<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        multi_spawn(shared, f, Header::new(Location::caller(), None))
    }

    #[test]
    fn loom_real_loop_a_task_from_outside_reaches_a_sleeping_worker() {
        model(|| {
            let rt = Builder::new().loom_runtime(1);
            let workers = spawn_workers(&rt.shared, 1);
            assert_eq!(run(&rt.shared, async { 7 }), 7);
            shut_down(rt, workers);
        });
    }

    /// A task on a worker spawns two children: they go to that worker's LIFO slot and private
    /// queue, and to the stealable queue through `share` when the other worker sleeps; either
    /// worker may run them. Every child runs exactly once and the parent sees both.
    #[test]
    fn loom_real_loop_children_are_shared_or_stolen_and_run_once() {
        model(|| {
            let rt = Builder::new().loom_runtime(2);
            let workers = spawn_workers(&rt.shared, 2);
            let shared = rt.shared.clone();
            let parent = async move {
                let a = spawn(&shared, async { 1 });
                let b = spawn(&shared, async { 2 });
                a.await + b.await
            };
            assert_eq!(run(&rt.shared, parent), 3);
            shut_down(rt, workers);
        });
    }

    /// A task that yields goes to the back of its worker's queue (async-task's
    /// `woken_while_running`), not to the LIFO slot, and still completes.
    #[test]
    fn loom_real_loop_a_yielding_task_completes() {
        model(|| {
            let rt = Builder::new().loom_runtime(1);
            let workers = spawn_workers(&rt.shared, 1);
            let task = async {
                crate::yield_now().await;
                5
            };
            assert_eq!(run(&rt.shared, task), 5);
            shut_down(rt, workers);
        });
    }
}
