//! `TaskSet`: a dynamic, unscoped set of spawned tasks, joined in completion order.
//!
//! # Design
//!
//! Each task is a runtime task (spawned with [`corio_executor::spawn`]) running a [`Runner`],
//! which does not own the user's future directly: the future lives in a [`Cell`] shared with the
//! set. The runner takes the future out of the cell to poll it and puts it back afterwards. That
//! is what lets the set drop a cancelled task's future *itself*, on the thread that cancels,
//! instead of waiting for the executor to get round to it: `cancel_all` and `drop` are
//! synchronous and need no runtime to make progress (a single-threaded loop cannot run while its
//! only thread waits in a `drop`).
//!
//! # Invariants
//!
//! 1. A cell's stage is `Idle(future)`, `Busy(thread)` (a runner or a canceller took the future
//!    out and will put it back or drop it), `Done(outcome)` (the future completed or panicked,
//!    and has been dropped) or `Gone` (the future has been dropped and nothing is left to
//!    deliver). Every transition happens under the cell's lock; user code (poll, drop) runs
//!    outside it.
//! 2. Cancelling a cell marks it cancelled, then: `Idle` → the canceller drops the future now;
//!    `Busy` on another thread → the canceller may wait on the cell's condition variable until
//!    that thread has dropped the future (the runner drops it instead of putting it back once it
//!    sees the mark); `Busy` on the cancelling thread → a poll of this very task is on the stack
//!    (the set is dropped from inside one of its own tasks), so waiting would deadlock: the
//!    future is dropped when that poll returns; `Done` → the outcome is dropped (a panic in it is
//!    reported, never lost).
//! 3. When a cell leaves `Busy` for good (`Done` or `Gone`), it appends its task's key to the
//!    set's completion queue and wakes the set's one waker: the queue holds the tasks in
//!    completion order, and `join_next` pops from its front, so each completion costs O(1).
//! 4. An output leaves the set only in the poll of `join_next` that returns it (cancel-safe):
//!    that poll takes `Done` out of the cell and hands it to its caller. A key whose task was
//!    already reaped (cancelled, then its slot reused) is recognised by its id and skipped.
//! 5. `len()` counts the tasks added and not yet reaped by `join_next`; a cancelled task is
//!    reaped (without an output) once its future has been dropped.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};

use corio_executor::Task;

/// A set of spawned tasks that can be joined one at a time, in completion order: tokio's
/// `JoinSet`, and the unscoped counterpart of [`task_group`](crate::task_group).
///
/// - [`spawn`](Self::spawn) starts a task on the current runtime (as
///   [`corio_executor::spawn`] does); there is no handle to keep.
/// - [`join_next`](Self::join_next) waits for the next task to finish and returns its output,
///   or `None` once the set is empty. A task's panic resumes in the caller of `join_next`.
///   `join_next` is cancel-safe: a dropped `join_next` future loses no output.
/// - [`cancel_all`](Self::cancel_all) cancels every task; `join_next` then returns `None` as soon
///   as the cancelled tasks' futures have been dropped.
/// - **Dropping the set cancels every task, and their futures have been dropped (their
///   destructors have run) when the drop returns**, as for a dropped runtime or a `task_group`.
///   The set drops the futures itself, on the dropping thread. A task being polled on another
///   thread at that moment is waited for until that poll returns. One exception: a set dropped
///   from inside one of its own tasks cannot wait for that task's own poll (it is on the stack);
///   that one future is dropped as soon as its poll returns. Because the drop waits for polls in
///   progress, do not drop a set while holding a blocking lock (a `std::sync::Mutex`) that its
///   tasks take inside a poll: the drop would wait for a poll that waits for the lock. Take the
///   set out of the lock first (`let set = guard.take(); drop(guard); drop(set);`), or call
///   [`cancel_all`](Self::cancel_all), which does not wait.
///
/// Outputs of tasks that finished but were not joined are dropped with the set (or by
/// `cancel_all`); a panic among them is reported through the runtime's report hook, never lost.
///
/// # Examples
///
/// A server that reaps its connection handlers as they finish:
///
/// ```
/// use std::time::Duration;
///
/// corio_executor::block_on(async {
///     let mut handlers = corio_scope::TaskSet::new();
///     for conn in [30u64, 10, 20] {
///         handlers.spawn(async move {
///             corio_timer::sleep(Duration::from_millis(conn)).await;
///             conn
///         });
///     }
///     assert_eq!(handlers.len(), 3);
///     let mut finished = Vec::new();
///     while let Some(conn) = handlers.join_next().await {
///         finished.push(conn);
///     }
///     assert_eq!(finished, [10, 20, 30]);
///     assert!(handlers.is_empty());
/// });
/// ```
pub struct TaskSet<T> {
    /// The tasks not yet reaped, by key.
    tasks: slab::Slab<Handle<T>>,
    completions: Arc<Completions>,
    /// Gives each task a distinct id, so that a stale key in the completion queue is recognised.
    next_id: u64,
}

struct Handle<T> {
    id: u64,
    cell: Arc<dyn TaskCell<T>>,
    /// Dropping it cancels the runtime task (the executor then drops the runner, which by then
    /// holds no user future).
    _task: Task<()>,
}

/// A task's key: its slot in the set and its id.
type Key = (usize, u64);

/// The tasks that finished (or are gone), in that order, and the waker of `join_next`.
#[derive(Default)]
struct Completions {
    inner: Mutex<CompletionQueue>,
}

#[derive(Default)]
struct CompletionQueue {
    keys: VecDeque<Key>,
    waker: Option<Waker>,
}

impl Completions {
    fn lock(&self) -> MutexGuard<'_, CompletionQueue> {
        crate::lock(&self.inner)
    }

    fn push(&self, key: Key) {
        let waker = {
            let mut inner = self.lock();
            inner.keys.push_back(key);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

enum Outcome<T> {
    Value(T),
    Panic(Box<dyn Any + Send>),
}

impl<T: Send + 'static> TaskSet<T> {
    /// Creates an empty set.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = corio_scope::TaskSet::<u32>::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> TaskSet<T> {
        TaskSet {
            tasks: slab::Slab::new(),
            completions: Arc::new(Completions::default()),
            next_id: 0,
        }
    }

    /// Spawns `future` as a task on the current runtime (or corio's global one outside any
    /// runtime), and adds it to the set.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = corio_scope::TaskSet::new();
    /// set.spawn(async { 1 + 1 });
    /// assert_eq!(corio_executor::block_on(set.join_next()), Some(2));
    /// ```
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let key = self.tasks.vacant_key();
        let id = self.next_id;
        self.next_id += 1;
        let cell = Arc::new(Cell {
            state: Mutex::new(State {
                // With the task-local values in scope here, so that a member cancelled before
                // or between its polls is dropped with its own values set, wherever the set
                // drops it (`cancel_all`, the set's drop), as a task's future is.
                stage: Stage::Idle(Box::pin(corio_executor::task::inherit(future))),
                cancelled: false,
                waiting: false,
            }),
            gone: Condvar::new(),
            location: Location::caller(),
            completions: self.completions.clone(),
            key: (key, id),
        });
        // The member's future carries its values (above): its runner task takes none again.
        let runner = Runner { cell: cell.clone() };
        // Called here, not in a closure, so that the task records the caller's location.
        let uncaptured = corio_executor::task::uncaptured();
        let task = corio_executor::spawn(runner);
        drop(uncaptured);
        self.tasks.insert(Handle {
            id,
            cell,
            _task: task,
        });
    }

    /// Waits for the next task to finish and returns its output; `None` when the set is empty
    /// (at once for an empty set).
    ///
    /// Outputs come in completion order. If the task panicked, the panic resumes here. Tasks
    /// cancelled by [`cancel_all`](Self::cancel_all) (or by their runtime shutting down) are
    /// reaped without an output.
    ///
    /// Cancel-safe: if the returned future is dropped before it completes, no output is lost;
    /// the next `join_next` gets it.
    ///
    /// Like a queue or a socket, it spends the task's cooperative budget: once the budget is
    /// spent it yields before taking anything, so a loop over `join_next` lets other tasks and
    /// deadlines run.
    ///
    /// # Examples
    ///
    /// ```
    /// corio_executor::block_on(async {
    ///     let mut set = corio_scope::TaskSet::<()>::new();
    ///     assert_eq!(set.join_next().await, None);
    /// });
    /// ```
    pub async fn join_next(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for the next finished task; the poll form of [`join_next`](Self::join_next).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = corio_scope::TaskSet::<u8>::new();
    /// let out = corio_executor::block_on(std::future::poll_fn(|cx| set.poll_join_next(cx)));
    /// assert_eq!(out, None);
    /// ```
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // A completion like any resource's: with the task's cooperative budget spent, it returns
        // `Pending` (having woken the task) before it takes anything, so a loop over
        // `join_next` (even on an empty set) still lets a deadline fire.
        if corio_coop::remaining() == Some(0) {
            // Wakes the task.
            let _ = corio_coop::poll_proceed(cx);
            return Poll::Pending;
        }
        let polled = self.next_outcome(Some(cx.waker()));
        if polled.is_ready() {
            // A unit was left (checked above): this spends it.
            let _ = corio_coop::poll_proceed(cx);
        }
        polled
    }

    /// Returns a task that finished, if any, else `Pending`, having left `waker` (if given) to
    /// be woken by the next one that finishes.
    fn next_outcome(&mut self, waker: Option<&Waker>) -> Poll<Option<T>> {
        loop {
            if self.tasks.is_empty() {
                return Poll::Ready(None);
            }
            let next = {
                let mut inner = self.completions.lock();
                let next = inner.keys.pop_front();
                if let (None, Some(waker)) = (next, waker) {
                    match &inner.waker {
                        Some(w) if w.will_wake(waker) => {}
                        _ => inner.waker = Some(waker.clone()),
                    }
                }
                next
            };
            let Some((key, id)) = next else {
                return Poll::Pending;
            };
            match self.tasks.get(key) {
                Some(handle) if handle.id == id => {}
                // Reaped already (cancelled); the slot may hold a newer task.
                _ => continue,
            }
            let outcome = self.tasks[key].cell.take();
            self.tasks.remove(key);
            match outcome {
                Some(Outcome::Value(value)) => return Poll::Ready(Some(value)),
                Some(Outcome::Panic(payload)) => resume_unwind(payload),
                // Cancelled: reaped, no output.
                None => {}
            }
        }
    }

    /// Returns the output of a task that has finished, without waiting: `None` if none has (or
    /// the set is empty). As [`join_next`](Self::join_next) otherwise: completion order, a
    /// panic resumes here, cancelled tasks are reaped without an output. It spends no
    /// cooperative budget (it never waits, so a loop over it is the caller's to bound).
    ///
    /// For an accept loop that reaps finished connections as it goes.
    ///
    /// # Examples
    ///
    /// ```
    /// corio_executor::block_on(async {
    ///     let mut set = corio_scope::TaskSet::new();
    ///     assert_eq!(set.try_join_next(), None);
    ///     set.spawn(async { 7 });
    ///     set.spawn(std::future::pending());
    ///     while set.try_join_next().is_none() {
    ///         corio_executor::yield_now().await;
    ///     }
    ///     assert_eq!(set.len(), 1); // the pending one
    ///     assert_eq!(set.try_join_next(), None);
    /// });
    /// ```
    pub fn try_join_next(&mut self) -> Option<T> {
        match self.next_outcome(None) {
            Poll::Ready(out) => out,
            Poll::Pending => None,
        }
    }

    /// The number of tasks in the set: spawned and not yet returned by `join_next`, as in tokio's
    /// `JoinSet`.
    ///
    /// [`cancel_all`](Self::cancel_all) removes at once the tasks whose futures it dropped. A
    /// task it found running on another thread still counts until [`join_next`](Self::join_next)
    /// (or another `cancel_all`) reaps it, which it does once that poll has returned and the
    /// future is gone: to wait for that, loop on `join_next` until `None`, not on `is_empty`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = corio_scope::TaskSet::new();
    /// set.spawn(std::future::pending::<()>());
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether [`len`](Self::len) is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio_scope::TaskSet::<()>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Cancels every task in the set, without waiting.
    ///
    /// The futures of tasks that are not being polled right now are dropped before this returns;
    /// a task being polled on another thread drops its future as soon as that poll returns.
    /// Outputs not yet joined are dropped too. Afterwards, [`join_next`](Self::join_next) returns
    /// `None` as soon as every cancelled future is gone, and tasks spawned later are not affected.
    ///
    /// # Examples
    ///
    /// ```
    /// corio_executor::block_on(async {
    ///     let mut set = corio_scope::TaskSet::new();
    ///     for _ in 0..3 {
    ///         set.spawn(std::future::pending::<()>());
    ///     }
    ///     set.cancel_all();
    ///     assert_eq!(set.join_next().await, None);
    ///     assert!(set.is_empty());
    /// });
    /// ```
    pub fn cancel_all(&mut self) {
        self.cancel_each(false);
    }
}

impl<T> TaskSet<T> {
    fn cancel_each(&mut self, wait: bool) {
        // Reap every task whose future is gone now; keep those still being dropped on another
        // thread: `join_next` reaps them once they are gone.
        self.tasks.retain(|_, handle| !handle.cell.cancel(wait));
        // Forget the queued keys of reaped tasks, so that a set that is cancelled again and
        // again without being joined does not accumulate them.
        let tasks = &self.tasks;
        self.completions
            .lock()
            .keys
            .retain(|&(key, id)| tasks.get(key).is_some_and(|h| h.id == id));
    }
}

impl<T: Send + 'static> Default for TaskSet<T> {
    fn default() -> Self {
        TaskSet::new()
    }
}

impl<T> fmt::Debug for TaskSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSet")
            .field("len", &self.tasks.len())
            .finish()
    }
}

impl<T> Drop for TaskSet<T> {
    fn drop(&mut self) {
        self.cancel_each(true);
    }
}

/// What a set shares with one of its tasks. See the module docs for the protocol.
struct Cell<F: Future> {
    state: Mutex<State<F>>,
    /// Signalled when the stage leaves `Busy` for good (the future has been dropped).
    gone: Condvar,
    location: &'static Location<'static>,
    completions: Arc<Completions>,
    key: Key,
}

struct State<F: Future> {
    stage: Stage<F>,
    cancelled: bool,
    /// A canceller waits on `gone` (set and cleared under the lock around its wait), so `finish`
    /// signals the condition variable only then: signalling costs a system call even when
    /// nobody waits, on every task's end (probe S: 15% of a one-worker run in futex calls).
    waiting: bool,
}

enum Stage<F: Future> {
    Idle(Pin<Box<F>>),
    Busy(ThreadId),
    Done(Outcome<F::Output>),
    Gone,
}

impl<F: Future> Cell<F> {
    fn lock(&self) -> MutexGuard<'_, State<F>> {
        crate::lock(&self.state)
    }

    /// Ends a `Busy` stage: records what is left (an outcome, or nothing), wakes the joiner and
    /// whoever waits for the future to be gone. The future has been dropped.
    fn finish(&self, outcome: Option<Outcome<F::Output>>) {
        let (discarded, waiting) = {
            let mut state = self.lock();
            let (stage, discarded) = match outcome {
                Some(outcome) if !state.cancelled => (Stage::Done(outcome), None),
                other => (Stage::Gone, other),
            };
            state.stage = stage;
            (discarded, state.waiting)
        };
        if waiting {
            self.gone.notify_all();
        }
        self.completions.push(self.key);
        self.discard(discarded);
    }

    /// Drops an outcome nobody will join; a panic in it, or in the output's destructor, is
    /// reported. The output is dropped under `catch_unwind`: inside the set's drop or
    /// `cancel_all`, a destructor's panic escaped into the caller, and a second one aborted the
    /// process (a probe found both).
    fn discard(&self, outcome: Option<Outcome<F::Output>>) {
        let payload = match outcome {
            Some(Outcome::Panic(payload)) => payload,
            Some(Outcome::Value(value)) => {
                match catch_unwind(AssertUnwindSafe(move || drop(value))) {
                    Ok(()) => return,
                    Err(payload) => payload,
                }
            }
            None => return,
        };
        corio_executor::task::report_unobserved_panic(payload, Some("TaskSet task"), self.location);
    }
}

/// Marks a `Busy` stage finished (future gone, no outcome) if the code that holds the future
/// unwinds, so that nobody waits for it forever.
struct FinishOnUnwind<'a, F: Future> {
    cell: &'a Cell<F>,
    armed: bool,
}

impl<F: Future> Drop for FinishOnUnwind<'_, F> {
    fn drop(&mut self) {
        if self.armed {
            self.cell.finish(None);
        }
    }
}

/// The set's view of a task's cell, with the future's type erased.
trait TaskCell<T>: Send + Sync {
    /// Cancels the task; see the module docs. Returns whether the future is gone (not being
    /// dropped on another thread, or waited for when `wait` is set).
    fn cancel(&self, wait: bool) -> bool;

    /// Takes the outcome of a finished task; `None` if it is gone without one.
    fn take(&self) -> Option<Outcome<T>>;
}

impl<F> TaskCell<F::Output> for Cell<F>
where
    F: Future + Send,
    F::Output: Send,
{
    fn take(&self) -> Option<Outcome<F::Output>> {
        let mut state = self.lock();
        match std::mem::replace(&mut state.stage, Stage::Gone) {
            Stage::Done(outcome) => Some(outcome),
            Stage::Gone => None,
            other => {
                // Not finished: only a finished task's key is queued.
                state.stage = other;
                unreachable!("TaskSet: a task was reaped before it finished")
            }
        }
    }

    fn cancel(&self, wait: bool) -> bool {
        let mut state = self.lock();
        state.cancelled = true;
        match std::mem::replace(&mut state.stage, Stage::Gone) {
            Stage::Idle(future) => {
                state.stage = Stage::Busy(this_thread());
                drop(state);
                let mut guard = FinishOnUnwind {
                    cell: self,
                    armed: true,
                };
                // A destructor that panics must neither keep the set from cancelling the other
                // tasks nor, inside the set's own drop, turn into a second panic (an abort):
                // nobody awaits a cancelled task, so its panic is reported.
                let dropped = catch_unwind(AssertUnwindSafe(move || drop(future)));
                guard.armed = false;
                self.finish(None);
                if let Err(payload) = dropped {
                    corio_executor::task::report_unobserved_panic(
                        payload,
                        Some("TaskSet task"),
                        self.location,
                    );
                }
                true
            }
            Stage::Busy(thread) => {
                state.stage = Stage::Busy(thread);
                if !wait || thread == this_thread() {
                    return false;
                }
                while matches!(state.stage, Stage::Busy(_)) {
                    state.waiting = true;
                    state = self.gone.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                state.waiting = false;
                true
            }
            Stage::Done(outcome) => {
                drop(state);
                self.discard(Some(outcome));
                true
            }
            Stage::Gone => true,
        }
    }
}

/// This thread's id, kept in a thread-local: `thread::current()` clones an `Arc` on every call,
/// and a task's poll asks for it each time.
fn this_thread() -> ThreadId {
    thread_local! {
        static ID: ThreadId = thread::current().id();
    }
    ID.try_with(|id| *id)
        .unwrap_or_else(|_| thread::current().id())
}

/// The runtime task's future: polls the user's future, which it borrows from the cell.
struct Runner<F: Future> {
    cell: Arc<Cell<F>>,
}

impl<F: Future> Future for Runner<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let cell = &*self.cell;
        let mut future = {
            let mut state = cell.lock();
            if state.cancelled {
                return Poll::Ready(());
            }
            match std::mem::replace(&mut state.stage, Stage::Busy(this_thread())) {
                Stage::Idle(future) => future,
                other => {
                    state.stage = other;
                    return Poll::Ready(());
                }
            }
        };
        let mut guard = FinishOnUnwind { cell, armed: true };
        let outcome = match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => {
                let mut state = cell.lock();
                if !state.cancelled {
                    state.stage = Stage::Idle(future);
                    guard.armed = false;
                    return Poll::Pending;
                }
                drop(state);
                // Cancelled while it ran: drop it here, then report it gone (the guard does).
                drop(future);
                return Poll::Ready(());
            }
            Ok(Poll::Ready(value)) => Outcome::Value(value),
            Err(payload) => Outcome::Panic(payload),
        };
        // The future is dropped before its output is delivered, as a finished task's is.
        drop(future);
        guard.armed = false;
        cell.finish(Some(outcome));
        Poll::Ready(())
    }
}

impl<F: Future> Drop for Runner<F> {
    fn drop(&mut self) {
        // The executor dropped the task before it finished (its runtime shut down, or the set
        // cancelled it): drop the future if it is still here, so the set does not wait for it.
        let cell = &*self.cell;
        let future = {
            let mut state = cell.lock();
            match std::mem::replace(&mut state.stage, Stage::Busy(this_thread())) {
                Stage::Idle(future) => future,
                other => {
                    state.stage = other;
                    return;
                }
            }
        };
        let guard = FinishOnUnwind { cell, armed: true };
        drop(future);
        drop(guard);
    }
}
