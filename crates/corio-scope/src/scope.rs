//! Cancel scopes with nested deadlines: `move_on_after`, `fail_after`, `CancelScope`, `shield`,
//! `current_deadline`.
//!
//! A scope wraps a future. When the scope's deadline passes (or it is cancelled), the scope drops
//! the future at its next poll and completes: with `None` (`move_on_*`) or `Err(Elapsed)`
//! (`fail_*`). Cancellation is *level-triggered*: once a scope has expired, every later poll of it
//! cancels, so nothing inside can swallow the cancellation and carry on.
//!
//! Scopes nest. Each scope enforces its own deadline; [`current_deadline`] reports the earliest
//! deadline of all the scopes around the code that calls it, so an inner scope can never extend an
//! outer one. A [`shield`]ed future is protected from the cancellation of the scopes around it:
//! an expired scope waits for its shielded parts to finish before it cancels. A future is polled
//! as a whole, so while the scope waits, the unshielded code beside a shield (a `join!` sibling)
//! is polled too; whatever the future returns meanwhile is dropped, and the scope cancels.
//!
//! Primitives started inside an expired scope are never polled: the scope cancels before it polls
//! its future again (unless shielded work is still running, see above). The exception is the one
//! future of a deadline helper ([`fail_after`], [`fail_at`], [`move_on_after`], [`move_on_at`]):
//! like `timeout`, it is polled before the deadline is checked, so a future that is ready wins;
//! once one poll past the deadline has found it pending, it is dropped.
//!
//! A task *spawned* from inside a scope is not governed by it (use a task group for that); its
//! own code can still read [`current_deadline`] only if it runs inside a scope.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use corio_executor::task::TaskId;
use corio_timer::{Elapsed, Sleep};
use pin_project_lite::pin_project;

use crate::lock;

thread_local! {
    /// The scopes around the future being polled on this thread, innermost last, each with the
    /// task that polls it (`None` outside tasks). A task polled inside another task's poll (a
    /// worker blocked in a nested `block_on` runs other tasks) must not see the other task's
    /// scopes, so readers take only the entries of the current task.
    static STACK: RefCell<Vec<(Option<TaskId>, Arc<State>)>> = const { RefCell::new(Vec::new()) };
}

/// The scopes around the current task's poll, innermost last.
fn current_scopes(stack: &[(Option<TaskId>, Arc<State>)]) -> impl Iterator<Item = &Arc<State>> {
    let task = corio_executor::task::id();
    stack
        .iter()
        .filter(move |(owner, _)| *owner == task)
        .map(|(_, state)| state)
}

struct State {
    deadline: Mutex<Option<Instant>>,
    cancelled: AtomicBool,
    shields: AtomicUsize,
    /// The waker of each `Scoped` running in this scope (one per `run`, keyed by its id): a
    /// scope shared by several tasks must wake them all when it is cancelled or rescheduled.
    wakers: Mutex<Vec<(u64, Waker)>>,
    /// Set when the deadline moves, so the scope re-arms its timer.
    rescheduled: AtomicBool,
}

impl State {
    fn deadline(&self) -> Option<Instant> {
        *lock(&self.deadline)
    }

    fn wake(&self) {
        let wakers: Vec<Waker> = lock(&self.wakers).iter().map(|(_, w)| w.clone()).collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Registers the waker of the `Scoped` with `id`.
    fn register(&self, id: u64, waker: &Waker) {
        let mut wakers = lock(&self.wakers);
        match wakers.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) if w.will_wake(waker) => {}
            Some((_, w)) => {
                let old = std::mem::replace(w, waker.clone());
                drop(wakers);
                drop(old);
            }
            None => wakers.push((id, waker.clone())),
        }
    }

    /// Forgets the waker of the `Scoped` with `id` (it was dropped).
    fn unregister(&self, id: u64) {
        let old = {
            let mut wakers = lock(&self.wakers);
            let at = wakers.iter().position(|(i, _)| *i == id);
            at.map(|at| wakers.swap_remove(at))
        };
        drop(old);
    }
}

/// A cancel scope: a deadline (optional, reschedulable) and a cancel switch around a future.
///
/// Cloning shares the scope, so the code inside (or any other task) can reschedule or cancel it.
///
/// # Examples
///
/// asyncio's `Timeout.reschedule`: extend a deadline while progress is being made.
///
/// ```
/// use corio_scope::CancelScope;
/// use std::time::{Duration, Instant};
///
/// corio_executor::run_local(async {
///     let scope = CancelScope::after(Duration::from_millis(20));
///     let inner = scope.clone();
///     let done = scope
///         .run(async move {
///             for _ in 0..3 {
///                 corio_timer::sleep(Duration::from_millis(10)).await;
///                 // Progress: push the deadline out again.
///                 inner.reschedule(Some(corio_timer::now() + Duration::from_millis(20)));
///             }
///             "finished"
///         })
///         .await;
///     assert_eq!(done, Ok("finished"));
/// });
/// ```
#[derive(Clone)]
pub struct CancelScope {
    state: Arc<State>,
}

impl fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelScope")
            .field("deadline", &self.deadline())
            .field("cancelled", &self.state.cancelled.load(Ordering::Acquire))
            .finish()
    }
}

impl Default for CancelScope {
    fn default() -> CancelScope {
        CancelScope::new()
    }
}

impl CancelScope {
    /// A scope with no deadline (it ends only through [`cancel`](CancelScope::cancel)).
    ///
    /// # Examples
    ///
    /// A "stop" switch that the code inside (or any other task) can pull:
    ///
    /// ```
    /// use corio_scope::CancelScope;
    ///
    /// corio_executor::run_local(async {
    ///     let scope = CancelScope::new();
    ///     assert_eq!(scope.deadline(), None);
    ///     let stop = scope.clone();
    ///     let r = scope
    ///         .run(async move {
    ///             stop.cancel();
    ///             corio_executor::yield_now().await; // dropped here
    ///             "not reached"
    ///         })
    ///         .await;
    ///     assert!(r.is_err());
    /// });
    /// ```
    pub fn new() -> CancelScope {
        CancelScope::with_deadline(None)
    }

    /// A scope that expires at `deadline` (`None`: never).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::CancelScope;
    /// use std::time::Duration;
    ///
    /// corio_executor::run_local(async {
    ///     let deadline = corio_timer::now() + Duration::from_millis(5);
    ///     let scope = CancelScope::with_deadline(Some(deadline));
    ///     let r = scope.run(corio_timer::sleep(Duration::from_secs(60))).await;
    ///     assert_eq!(r.unwrap_err().deadline(), Some(deadline));
    /// });
    /// ```
    pub fn with_deadline(deadline: Option<Instant>) -> CancelScope {
        CancelScope {
            state: Arc::new(State {
                deadline: Mutex::new(deadline),
                cancelled: AtomicBool::new(false),
                shields: AtomicUsize::new(0),
                wakers: Mutex::new(Vec::new()),
                rescheduled: AtomicBool::new(false),
            }),
        }
    }

    /// A scope that expires `duration` from now (by the current runtime's clock). A duration too
    /// large to represent means no deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::CancelScope;
    /// use std::time::Duration;
    ///
    /// corio_executor::run_local(async {
    ///     let scope = CancelScope::after(Duration::from_secs(60));
    ///     assert!(scope.deadline().is_some());
    ///     assert_eq!(scope.run(async { 1 }).await, Ok(1));
    ///     assert_eq!(CancelScope::after(Duration::MAX).deadline(), None);
    /// });
    /// ```
    pub fn after(duration: Duration) -> CancelScope {
        CancelScope::with_deadline(corio_timer::now().checked_add(duration))
    }

    /// The scope's own deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::CancelScope;
    /// use std::time::Duration;
    ///
    /// let scope = CancelScope::new();
    /// assert_eq!(scope.deadline(), None);
    /// let at = corio_timer::now() + Duration::from_secs(1);
    /// scope.reschedule(Some(at));
    /// assert_eq!(scope.deadline(), Some(at));
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.state.deadline()
    }

    /// Moves the deadline (`None`: remove it). Takes effect at once, also while the scope runs.
    /// An enclosing scope's deadline still applies: this cannot extend it.
    ///
    /// # Examples
    ///
    /// The code inside sets its own deadline once it knows how long it may take:
    ///
    /// ```
    /// use corio_scope::CancelScope;
    /// use std::time::Duration;
    ///
    /// corio_executor::run_local(async {
    ///     let scope = CancelScope::new(); // no deadline yet
    ///     let inner = scope.clone();
    ///     let r = scope
    ///         .run(async move {
    ///             inner.reschedule(Some(corio_timer::now() + Duration::from_millis(5)));
    ///             corio_timer::sleep(Duration::from_secs(60)).await; // cancelled after 5 ms
    ///         })
    ///         .await;
    ///     assert!(r.is_err());
    /// });
    /// ```
    pub fn reschedule(&self, deadline: Option<Instant>) {
        *lock(&self.state.deadline) = deadline;
        self.state.rescheduled.store(true, Ordering::Release);
        self.state.wake();
    }

    /// Cancels the scope: its future is dropped at the scope's next poll.
    ///
    /// # Examples
    ///
    /// Cancelled from another task:
    ///
    /// ```
    /// use corio_scope::CancelScope;
    /// use std::time::Duration;
    ///
    /// corio_executor::run_local(async {
    ///     let scope = CancelScope::new();
    ///     let remote = scope.clone();
    ///     let canceller = corio_executor::spawn(async move {
    ///         corio_timer::sleep(Duration::from_millis(1)).await;
    ///         remote.cancel();
    ///     });
    ///     let r = scope.run(corio_timer::sleep(Duration::from_secs(60))).await;
    ///     assert!(r.is_err());
    ///     canceller.await;
    /// });
    /// ```
    pub fn cancel(&self) {
        self.state.cancelled.store(true, Ordering::Release);
        self.state.wake();
    }

    /// Whether the scope has been cancelled or its deadline has passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::CancelScope;
    /// use std::time::Duration;
    ///
    /// let scope = CancelScope::new();
    /// assert!(!scope.is_cancelled());
    /// scope.cancel();
    /// assert!(scope.is_cancelled());
    ///
    /// assert!(CancelScope::after(Duration::ZERO).is_cancelled()); // the deadline has passed
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::Acquire)
            || self
                .state
                .deadline()
                .is_some_and(|d| corio_timer::now() >= d)
    }

    /// Runs `future` inside this scope: `Ok(output)`, or `Err(Elapsed)` if the scope expired or
    /// was cancelled first (the future is then dropped).
    ///
    /// A scope can run several futures in turn. It is level-triggered: once it has expired or
    /// been cancelled, every later `run` ends at its first poll, without polling its future.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::CancelScope;
    ///
    /// corio_executor::run_local(async {
    ///     let scope = CancelScope::new();
    ///     assert_eq!(scope.run(async { 1 }).await, Ok(1));
    ///     assert_eq!(scope.run(async { 2 }).await, Ok(2));
    ///     scope.cancel();
    ///     assert!(scope.run(async { 3 }).await.is_err());
    /// });
    /// ```
    pub fn run<F: Future>(&self, future: F) -> Scoped<F> {
        static IDS: AtomicU64 = AtomicU64::new(0);
        Scoped {
            future: Some(future),
            state: self.state.clone(),
            sleep: None,
            poll_first: false,
            draining: false,
            ending: false,
            id: IDS.fetch_add(1, Ordering::Relaxed),
        }
    }
}

pin_project! {
    /// The future returned by [`CancelScope::run`] (which [`fail_after`] and friends await).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::{CancelScope, Scoped};
    /// use std::future::Ready;
    ///
    /// let scope = CancelScope::new();
    /// let scoped: Scoped<Ready<u32>> = scope.run(std::future::ready(7));
    /// assert_eq!(corio_executor::run_local(scoped), Ok(7));
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Scoped<F> {
        #[pin]
        future: Option<F>,
        state: Arc<State>,
        sleep: Option<Sleep>,
        // `fail_after` and friends: the future is polled before the deadline is checked, as
        // `timeout` does, so a future that is ready wins (see `deadline_scope`).
        poll_first: bool,
        // The scope expired while shielded work ran: the future is polled only to drive the
        // shields, and its output, if it completes meanwhile, is discarded (the scope cancels).
        draining: bool,
        // The scope expired with the task's cooperative budget spent, so ending (which spends
        // a unit) waited for the next poll, after the task yielded. That poll still polls the
        // future first (a future ready by then wins, as the docs promise), but ends without
        // asking for budget again: a future that spends the whole budget in every poll (an
        // always-ready loop) would otherwise keep the scope from ever ending (a review found
        // `move_on_after` around one never firing).
        ending: bool,
        // This `run`'s key in the scope's wakers.
        id: u64,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.state.unregister(*this.id);
        }
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("deadline", &self.state.deadline())
            .finish_non_exhaustive()
    }
}

/// Pops the scope stack even if the inner poll panics.
struct PopOnDrop;

impl Drop for PopOnDrop {
    fn drop(&mut self) {
        let _ = STACK.try_with(|s| s.borrow_mut().pop());
    }
}

/// Polls a scope's future with the scope on the thread's scope stack.
fn poll_in_scope<F: Future>(
    future: Pin<&mut F>,
    state: &Arc<State>,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    STACK.with(|s| {
        s.borrow_mut()
            .push((corio_executor::task::id(), state.clone()))
    });
    let _pop = PopOnDrop;
    future.poll(cx)
}

impl<F: Future> Future for Scoped<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let state = this.state.clone();
        state.register(*this.id, cx.waker());
        loop {
            // A `poll_first` scope reads the clock once per round, before it polls the future,
            // and that reading decides its deadline: a timer inside that is due by it sees the
            // same reading (the timer's latest on this thread), so it completes in this poll and
            // wins, as the docs promise for a future ready exactly at the deadline.
            let now = (*this.poll_first).then(corio_timer::now);
            // Whether the future was polled first in this round.
            let mut polled = false;
            if *this.poll_first && !*this.draining {
                polled = true;
                if let Some(future) = this.future.as_mut().as_pin_mut()
                    && let Poll::Ready(output) = poll_in_scope(future, &state, cx)
                {
                    this.future.set(None);
                    *this.sleep = None;
                    return Poll::Ready(Ok(output));
                }
            }
            let deadline = state.deadline();
            let expired = state.cancelled.load(Ordering::Acquire)
                || deadline.is_some_and(|d| now.unwrap_or_else(corio_timer::now) >= d);
            if expired && state.shields.load(Ordering::Acquire) == 0 {
                // Ending is a completion like any resource's: it spends a unit of the cooperative
                // budget, so that a loop of scopes that are already expired (`move_on_after(ZERO,
                // ..)`) yields to the rest of the thread. With none left, the task yields and the
                // next poll ends here.
                if !*this.ending && corio_coop::poll_proceed(cx).is_pending() {
                    *this.ending = true;
                    return Poll::Pending;
                }
                // Level-triggered: drop the future now, and every later poll ends here too.
                this.future.set(None);
                *this.sleep = None;
                return Poll::Ready(Err(Elapsed::new(deadline)));
            }
            let Some(future) = this.future.as_mut().as_pin_mut() else {
                return Poll::Ready(Err(Elapsed::new(deadline)));
            };
            if !polled && let Poll::Ready(output) = poll_in_scope(future, &state, cx) {
                this.future.set(None);
                *this.sleep = None;
                if expired || *this.draining {
                    // It completed while the scope, expired, only waited for shielded work:
                    // the scope cancels all the same, and the output is dropped.
                    drop(output);
                    return Poll::Ready(Err(Elapsed::new(deadline)));
                }
                return Poll::Ready(Ok(output));
            }
            if expired {
                // Shielded work is still running: wait for it (the shield wakes us when done).
                *this.draining = true;
                return Poll::Pending;
            }
            // Arm (or re-arm) the timer for our own deadline.
            let Some(deadline) = deadline else {
                *this.sleep = None;
                return Poll::Pending;
            };
            let rescheduled = state.rescheduled.swap(false, Ordering::AcqRel);
            let stale = rescheduled
                || this
                    .sleep
                    .as_ref()
                    .is_none_or(|s| s.deadline() != Some(deadline));
            if stale {
                *this.sleep = Some(corio_timer::sleep_until(deadline));
            }
            let sleep = this.sleep.as_mut().expect("armed above");
            if Pin::new(sleep).poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The deadline passed while we polled: loop to cancel (a `poll_first` scope polls
            // the future once more first, against a fresh reading).
        }
    }
}

/// Runs `future` for at most `duration`: `Some(output)`, or `None` once the deadline passes (the
/// future is then dropped). Trio's `move_on_after`.
///
/// The deadline counts from this call, and the future is polled before the deadline is checked,
/// as with `timeout`: a future that is ready wins, even with a zero `duration` or when it becomes
/// ready exactly at the deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// corio_executor::run_local(async {
///     let r = corio_scope::move_on_after(Duration::from_millis(5), corio_timer::sleep(Duration::from_secs(60))).await;
///     assert_eq!(r, None);
///     let r = corio_scope::move_on_after(Duration::from_secs(60), async { 1 }).await;
///     assert_eq!(r, Some(1));
/// });
/// ```
pub fn move_on_after<F: Future>(
    duration: Duration,
    future: F,
) -> impl Future<Output = Option<F::Output>> {
    let scoped = deadline_scope(CancelScope::after(duration), future);
    async move { scoped.await.ok() }
}

/// Like [`move_on_after`] with an absolute deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// corio_executor::run_local(async {
///     let deadline = corio_timer::now() + Duration::from_millis(5);
///     let slow = corio_timer::sleep(Duration::from_secs(60));
///     assert_eq!(corio_scope::move_on_at(deadline, slow).await, None);
///     let later = corio_timer::now() + Duration::from_secs(60);
///     assert_eq!(corio_scope::move_on_at(later, async { 1 }).await, Some(1));
/// });
/// ```
pub fn move_on_at<F: Future>(
    deadline: Instant,
    future: F,
) -> impl Future<Output = Option<F::Output>> {
    let scoped = deadline_scope(CancelScope::with_deadline(Some(deadline)), future);
    async move { scoped.await.ok() }
}

/// Runs `future` for at most `duration`: `Ok(output)`, or `Err(Elapsed)` once the deadline
/// passes (the future is then dropped). Trio's `fail_after`. The error's
/// [`deadline`](Elapsed::deadline) says which scope fired.
///
/// The deadline counts from this call, and the future is polled before the deadline is checked,
/// as with `timeout`: a future that is ready wins, even with a zero `duration` or when it becomes
/// ready exactly at the deadline.
///
/// # Examples
///
/// An inner 10 s limit inside an outer 20 ms one ends at the outer deadline:
///
/// ```
/// use std::time::Duration;
///
/// corio_executor::run_local(async {
///     let outer = corio_timer::now() + Duration::from_millis(20);
///     let r = corio_scope::fail_at(outer, async {
///         corio_scope::fail_after(Duration::from_secs(10), corio_timer::sleep(Duration::from_secs(60))).await
///     })
///     .await;
///     assert_eq!(r.unwrap_err().deadline(), Some(outer));
/// });
/// ```
pub fn fail_after<F: Future>(duration: Duration, future: F) -> Scoped<F> {
    deadline_scope(CancelScope::after(duration), future)
}

/// Like [`fail_after`] with an absolute deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// corio_executor::run_local(async {
///     let deadline = corio_timer::now() + Duration::from_millis(5);
///     let r = corio_scope::fail_at(deadline, corio_timer::sleep(Duration::from_secs(60))).await;
///     assert_eq!(r.unwrap_err().deadline(), Some(deadline));
/// });
/// ```
pub fn fail_at<F: Future>(deadline: Instant, future: F) -> Scoped<F> {
    deadline_scope(CancelScope::with_deadline(Some(deadline)), future)
}

/// The scope of [`fail_after`] and friends, made when they are called: the deadline counts from
/// the call, as `timeout`'s does, and the future is polled before the deadline is checked, so a
/// future that is ready (already, or exactly when the deadline passes) wins, as with `timeout`.
fn deadline_scope<F: Future>(scope: CancelScope, future: F) -> Scoped<F> {
    let mut scoped = scope.run(future);
    scoped.poll_first = true;
    scoped
}

/// The earliest deadline of the cancel scopes around the calling code, or `None` if there is
/// none. Pass it on to APIs that take a deadline (a database driver, a socket timeout).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// corio_executor::run_local(async {
///     assert_eq!(corio_scope::current_deadline(), None);
///     let outer = corio_timer::now() + Duration::from_secs(1);
///     corio_scope::move_on_at(outer, async {
///         // A longer inner scope cannot extend the outer one.
///         corio_scope::move_on_after(Duration::from_secs(60), async {
///             assert_eq!(corio_scope::current_deadline(), Some(outer));
///         })
///         .await;
///     })
///     .await;
/// });
/// ```
pub fn current_deadline() -> Option<Instant> {
    STACK.with(|s| {
        current_scopes(&s.borrow())
            .filter_map(|st| {
                if st.cancelled.load(Ordering::Acquire) {
                    // A cancelled scope is as good as expired.
                    Some(Instant::now().min(corio_timer::now()))
                } else {
                    st.deadline()
                }
            })
            .min()
    })
}

/// Protects `future` from the cancel scopes around it: an expired scope waits for the shielded
/// future to finish before it cancels. Use it for cleanup that must complete (flushing,
/// releasing a lease). Inside, [`current_deadline`] sees no enclosing deadline.
///
/// A shield does not stop a plain drop (a cancelled task, a `timeout` that fired): it protects
/// from cancel scopes only.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
///
/// let flushed = AtomicBool::new(false);
/// corio_executor::run_local(async {
///     let r = corio_scope::move_on_after(Duration::from_millis(5), async {
///         corio_scope::shield(async {
///             corio_timer::sleep(Duration::from_millis(20)).await; // past the 5 ms deadline
///             flushed.store(true, Ordering::SeqCst);
///         })
///         .await;
///         corio_timer::sleep(Duration::from_secs(60)).await; // cancelled here
///     })
///     .await;
///     assert_eq!(r, None);
/// });
/// assert!(flushed.load(Ordering::SeqCst));
/// ```
pub fn shield<F: Future>(future: F) -> Shielded<F> {
    Shielded {
        future,
        enclosing: None,
    }
}

pin_project! {
    /// The future returned by [`shield`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::Shielded;
    /// use std::future::Ready;
    ///
    /// let flush: Shielded<Ready<&str>> = corio_scope::shield(std::future::ready("flushed"));
    /// assert_eq!(corio_executor::run_local(flush), "flushed");
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Shielded<F> {
        #[pin]
        future: F,
        enclosing: Option<Vec<Arc<State>>>,
    }

    impl<F> PinnedDrop for Shielded<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            release(this.enclosing);
        }
    }
}

impl<F> fmt::Debug for Shielded<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shielded").finish_non_exhaustive()
    }
}

fn release(enclosing: &mut Option<Vec<Arc<State>>>) {
    if let Some(scopes) = enclosing.take() {
        for scope in scopes {
            scope.shields.fetch_sub(1, Ordering::AcqRel);
            scope.wake();
        }
    }
}

impl<F: Future> Future for Shielded<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if this.enclosing.is_none() {
            let scopes: Vec<Arc<State>> =
                STACK.with(|s| current_scopes(&s.borrow()).cloned().collect());
            for scope in &scopes {
                scope.shields.fetch_add(1, Ordering::AcqRel);
            }
            *this.enclosing = Some(scopes);
        }
        // Inside the shield, the enclosing scopes do not apply.
        let saved = STACK.with(|s| std::mem::take(&mut *s.borrow_mut()));
        struct Restore(Option<Vec<(Option<TaskId>, Arc<State>)>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                if let Some(saved) = self.0.take() {
                    let _ = STACK.try_with(|s| {
                        let mut stack = s.borrow_mut();
                        let inner = std::mem::replace(&mut *stack, saved);
                        stack.extend(inner);
                    });
                }
            }
        }
        let restore = Restore(Some(saved));
        let polled = this.future.poll(cx);
        drop(restore);
        if polled.is_ready() {
            release(this.enclosing);
        }
        polled
    }
}
