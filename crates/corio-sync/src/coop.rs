//! The cooperative budget, when the `coop` feature is on.
//!
//! An operation that is about to complete first checks the budget with [`poll_budget`]; if the
//! budget is spent it returns `Pending` (the task was woken) having done nothing. After completing
//! it spends one unit with [`spend`]. Outside a corio runtime the budget is unlimited and both are a
//! thread-local read.

use std::task::{Context, Poll};

/// Returns `Pending` (after waking the task) if the current budget is spent.
#[inline]
pub(crate) fn poll_budget(cx: &mut Context<'_>) -> Poll<()> {
    #[cfg(all(feature = "coop", not(loom)))]
    if corio_coop::remaining() == Some(0) {
        return corio_coop::poll_proceed(cx);
    }
    let _ = cx;
    Poll::Ready(())
}

/// Spends one unit of the budget for an operation that just completed.
#[inline]
pub(crate) fn spend(cx: &mut Context<'_>) {
    #[cfg(all(feature = "coop", not(loom)))]
    {
        // `poll_budget` ran earlier in this poll and saw a unit left, so this is `Ready`.
        let _ = corio_coop::poll_proceed(cx);
    }
    let _ = cx;
}

/// Spends one unit for an operation that failed (a closed channel, say): its successes spend
/// their own. An error that is always ready must run the budget down too, or a loop that polls it
/// (a `biased` select with a deadline behind it) would never yield.
#[inline]
pub(crate) fn spend_on_error<T, E>(out: &Poll<Result<T, E>>, cx: &mut Context<'_>) {
    if let Poll::Ready(Err(_)) = out {
        spend(cx);
    }
}

/// Runs `f` (which blocks the thread on a future) with an unlimited budget.
///
/// A blocking call polls its future in a loop on this thread; with a spent budget every poll would
/// return `Pending` and the loop would spin forever.
#[inline]
pub(crate) fn unconstrained<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(all(feature = "coop", not(loom)))]
    {
        corio_coop::unconstrained(f)
    }
    #[cfg(not(all(feature = "coop", not(loom))))]
    {
        f()
    }
}

/// Blocks the thread on `future` through the runtime's [`corio_coop::Blocker`] when this thread
/// runs corio tasks, and returns its output; `None` (the future not polled) everywhere else.
#[cfg(all(feature = "coop", not(loom)))]
pub(crate) fn block_through_runtime<F: std::future::Future + Unpin>(
    mut future: F,
) -> Option<F::Output> {
    let blocker = corio_coop::blocker()?;
    let mut output = None;
    let ran = {
        let mut adapter = std::pin::pin!(std::future::poll_fn(|cx| {
            std::pin::Pin::new(&mut future)
                .poll(cx)
                .map(|value| output = Some(value))
        }));
        blocker(adapter.as_mut())
    };
    if ran {
        Some(output.expect("a runtime's blocker returned before its future completed"))
    } else {
        None
    }
}

/// Without the `coop` feature there is no runtime hook: the caller blocks by itself.
#[cfg(not(all(feature = "coop", not(loom))))]
pub(crate) fn block_through_runtime<F: std::future::Future + Unpin>(
    _future: F,
) -> Option<F::Output> {
    None
}
