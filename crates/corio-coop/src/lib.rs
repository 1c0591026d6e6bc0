//! A per-thread cooperative scheduling budget, and the hook through which a runtime blocks its
//! threads ([`Blocker`]).
//!
//! An async task only gives its thread back when it returns `Pending`. A task that loops over a
//! resource which is always ready (a queue that is never empty, a socket that always has bytes)
//! would never return `Pending`, and would starve every other task, timer and socket that shares
//! its thread. The cure, learned from tokio, is a *budget*: the executor grants each poll a number
//! of units, every runtime resource spends one unit each time it is about to complete, and when the
//! budget is spent the resource returns `Pending` (after waking the task) instead of completing.
//! The task yields, the loop runs its neighbours, and the task continues on its next poll with a
//! fresh budget.
//!
//! This crate holds only that counter. It contains no executor, so resources built on it still work
//! on any executor: where no executor has granted a budget, the budget is unlimited and
//! [`poll_proceed`] always returns `Ready`.
//!
//! # Examples
//!
//! A resource spends a unit right before it completes:
//!
//! ```
//! use std::future::poll_fn;
//! use std::task::Poll;
//!
//! # futures_lite::future::block_on(async {
//! // An "always ready" resource: without the budget this loop would never yield.
//! let mut completed = 0;
//! let yielded = corio_coop::with_budget(4, || {
//!     let waker = std::task::Waker::noop();
//!     let mut cx = std::task::Context::from_waker(&waker);
//!     loop {
//!         match corio_coop::poll_proceed(&mut cx) {
//!             Poll::Ready(()) => completed += 1,
//!             Poll::Pending => break true,
//!         }
//!     }
//! });
//! assert!(yielded);
//! assert_eq!(completed, 4);
//! # });
//! ```
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

/// The budget tokio found to be a good compromise between throughput and fairness.
pub const DEFAULT_BUDGET: u16 = 128;

thread_local! {
    /// `None` means "no executor granted a budget here": unlimited.
    static BUDGET: Cell<Option<u16>> = const { Cell::new(None) };
    /// How often a resource returned `Pending` because the budget ran out, on this thread.
    static FORCED_YIELDS: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` with a fresh budget of `units`, then restores the budget that was in force before.
///
/// Executors call this around each poll of a task. Nesting (a `block_on` inside a task) is fine:
/// the inner call gets its own budget and the outer one is put back afterwards.
///
/// # Examples
///
/// ```
/// let units_left = corio_coop::with_budget(2, || corio_coop::remaining());
/// assert_eq!(units_left, Some(2));
/// assert_eq!(corio_coop::remaining(), None);
/// ```
#[inline]
pub fn with_budget<R>(units: u16, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u16>);
    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            BUDGET.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(BUDGET.with(|b| b.replace(Some(units))));
    f()
}

/// Runs `f` with an unlimited budget, then restores the budget in force before.
///
/// Use it for work that must not be interrupted by the budget, such as draining a queue during
/// shutdown.
///
/// # Examples
///
/// ```
/// corio_coop::with_budget(1, || {
///     corio_coop::unconstrained(|| assert_eq!(corio_coop::remaining(), None));
///     assert_eq!(corio_coop::remaining(), Some(1));
/// });
/// ```
#[inline]
pub fn unconstrained<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u16>);
    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            BUDGET.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(BUDGET.with(|b| b.replace(None)));
    f()
}

/// Spends one unit of the current budget.
///
/// Returns `Ready` if the caller may complete its operation now. Returns `Pending` after waking
/// `cx`'s waker if the budget is spent: the caller must then return `Pending` *without* having
/// performed its operation, so nothing is taken or lost.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Poll, Waker};
///
/// let mut cx = Context::from_waker(Waker::noop());
/// // Outside any executor the budget is unlimited.
/// assert_eq!(corio_coop::poll_proceed(&mut cx), Poll::Ready(()));
/// ```
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    BUDGET.with(|b| match b.get() {
        None => Poll::Ready(()),
        Some(0) => {
            FORCED_YIELDS.with(|f| f.set(f.get() + 1));
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            b.set(Some(n - 1));
            Poll::Ready(())
        }
    })
}

/// Returns the units left in the current budget, or `None` if it is unlimited.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_coop::remaining(), None);
/// ```
#[inline]
pub fn remaining() -> Option<u16> {
    BUDGET.with(Cell::get)
}

/// Returns how many times, on this thread, a resource yielded because the budget was spent.
///
/// Executors read it to report "budget-forced yields" in their metrics.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Waker};
///
/// let before = corio_coop::forced_yields();
/// corio_coop::with_budget(0, || {
///     let _ = corio_coop::poll_proceed(&mut Context::from_waker(Waker::noop()));
/// });
/// assert_eq!(corio_coop::forced_yields(), before + 1);
/// ```
#[inline]
pub fn forced_yields() -> u64 {
    FORCED_YIELDS.with(Cell::get)
}

/// How a runtime blocks one of its threads on a future: a leaf crate's blocking call (a channel's
/// `recv_blocking`) made on that thread goes through it.
///
/// The function polls the future to completion the way the runtime's own `block_on` would (a
/// local loop keeps running its other tasks meanwhile, a blocked worker leaves its queue to the
/// others) and returns `true`; on a thread that runs no task of the runtime it returns `false`
/// at once, without polling, and the caller blocks the thread itself. Without it, a blocking
/// call inside a task waits for a task queued behind it on the same thread: a silent hang.
pub type Blocker = fn(Pin<&mut dyn Future<Output = ()>>) -> bool;

static BLOCKER: OnceLock<Blocker> = OnceLock::new();

/// Installs the runtime's [`Blocker`] for the whole process. The first call wins: a process runs
/// one executor crate, whose blocker itself finds which of its runtimes drives the thread.
pub fn set_blocker(blocker: Blocker) {
    let _ = BLOCKER.set(blocker);
}

/// Returns the installed [`Blocker`], if a runtime installed one.
///
/// # Examples
///
/// ```
/// use std::pin::Pin;
///
/// fn never_here(_: Pin<&mut dyn Future<Output = ()>>) -> bool {
///     false
/// }
/// corio_coop::set_blocker(never_here);
/// let blocker = corio_coop::blocker().unwrap();
/// // This blocker runs nothing on this thread: the caller blocks by itself.
/// assert!(!blocker(std::pin::pin!(async {})));
/// ```
#[inline]
pub fn blocker() -> Option<Blocker> {
    BLOCKER.get().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    struct CountingWaker(AtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn spent_budget_wakes_and_pends() {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        with_budget(3, || {
            for _ in 0..3 {
                assert_eq!(poll_proceed(&mut cx), Poll::Ready(()));
            }
            assert_eq!(poll_proceed(&mut cx), Poll::Pending);
            assert_eq!(poll_proceed(&mut cx), Poll::Pending);
        });
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            2,
            "each Pending must wake the task"
        );
    }

    #[test]
    fn nesting_restores_outer_budget() {
        let mut cx = Context::from_waker(Waker::noop());
        with_budget(5, || {
            assert!(poll_proceed(&mut cx).is_ready());
            with_budget(1, || {
                assert!(poll_proceed(&mut cx).is_ready());
                assert!(poll_proceed(&mut cx).is_pending());
            });
            assert_eq!(remaining(), Some(4));
        });
        assert_eq!(remaining(), None);
    }

    #[test]
    fn restores_after_panic() {
        let result = std::panic::catch_unwind(|| with_budget(7, || panic!("boom")));
        assert!(result.is_err());
        assert_eq!(remaining(), None);
    }
}
