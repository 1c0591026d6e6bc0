//! `timeout`, `timeout_at` and the `Elapsed` error.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use crate::sleep::{Sleep, deadline_after};

/// The error of a [`timeout`] whose deadline passed first.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let result = futures_lite::future::block_on(corio_timer::timeout(
///     Duration::from_millis(1),
///     std::future::pending::<()>(),
/// ));
/// let err = result.unwrap_err();
/// assert_eq!(err.to_string(), "deadline has elapsed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    deadline: Option<Instant>,
}

impl Elapsed {
    /// An `Elapsed` for a deadline (used by cancel scopes that report which deadline fired).
    pub fn new(deadline: Option<Instant>) -> Elapsed {
        Elapsed { deadline }
    }

    /// The deadline that passed, if known.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future`, but gives up with [`Elapsed`] once `duration` has passed.
///
/// The future is polled first, so a future that is already ready wins even with a zero duration,
/// and costs no timer registration. When the deadline wins, the future is dropped (cancelled) as
/// soon as the `Timeout` is. `Duration::MAX` means no deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let fast = futures_lite::future::block_on(corio_timer::timeout(Duration::from_secs(5), async { 1 }));
/// assert_eq!(fast, Ok(1));
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: Sleep::new(deadline_after(duration)),
    }
}

/// Like [`timeout`], with an absolute deadline. Build it from [`now`](crate::now)
/// (`corio::time::now()`), the current runtime's clock, which under virtual time is not
/// `Instant::now()` (see [`sleep_until`](crate::sleep_until)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let deadline = corio_timer::now() + Duration::from_millis(1);
/// let slow = futures_lite::future::block_on(corio_timer::timeout_at(deadline, std::future::pending::<()>()));
/// assert!(slow.is_err());
/// ```
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: Sleep::new(Some(deadline)),
    }
}

pin_project! {
    /// The future returned by [`timeout`] and [`timeout_at`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The inner future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The deadline, or `None` if there is none.
    pub fn deadline(&self) -> Option<Instant> {
        self.sleep.deadline()
    }

    /// Gives back the inner future.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let had_budget = corio_coop::remaining() != Some(0);
        if let Poll::Ready(output) = this.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        // If the inner future spent the last of the cooperative budget (an always-ready loop
        // inside: a queue loop, a zero-delay retry), the deadline is looked at outside the budget:
        // such a future returns `Pending` only because of the budget, and a deadline that also
        // asked for budget would never be seen. Otherwise the deadline spends budget like any
        // resource, so that a loop of timeouts that are already due (`timeout(ZERO, ..)`) yields.
        let mut poll_deadline = || this.sleep.poll_elapsed(cx);
        let elapsed = if had_budget && corio_coop::remaining() == Some(0) {
            corio_coop::unconstrained(poll_deadline)
        } else {
            poll_deadline()
        };
        if elapsed.is_pending() {
            return Poll::Pending;
        }
        // Due by this thread's latest reading of the clock. A timer inside the future that is due
        // by that same reading completes when polled now, though its wheel may not have fired it
        // yet (wheels fire at tick boundaries): one more poll, so that a future ready exactly at
        // the deadline wins, as the docs promise.
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Poll::Ready(Err(Elapsed::new(this.sleep.deadline())))
    }
}
