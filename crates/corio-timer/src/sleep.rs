//! `sleep`, `sleep_until` and the `Sleep` future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::shard::Entry;
use crate::timer::{Registration, Timer};

/// Waits until `duration` has passed.
///
/// The deadline is taken when `sleep` is called, from the current runtime's clock (virtual in
/// deterministic mode). A zero duration completes at once, without registering a timer.
/// `Duration::MAX`, or any duration whose deadline cannot be represented, sleeps forever (and still
/// registers nothing). Timers have a resolution of one millisecond and never fire early.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// futures_lite::future::block_on(corio_timer::sleep(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let deadline = Timer::current_now().checked_add(duration);
    Sleep::new(deadline)
}

/// Waits until `deadline`.
///
/// A deadline in the past completes at once. Build deadlines from [`now`](crate::now) (the
/// facade's `corio::time::now()`), the current runtime's clock: under virtual time (a
/// deterministic runtime, the simulator) that clock is not `Instant::now()`, and a deadline built
/// from the wall clock is already past once virtual time has run ahead of it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let deadline = corio_timer::now() + Duration::from_millis(5);
/// futures_lite::future::block_on(corio_timer::sleep_until(deadline));
/// assert!(corio_timer::now() >= deadline);
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(Some(deadline))
}

/// Waits for `duration` of real time, on the process-wide timer, whatever the clock of the
/// current runtime: for a pause that real work waits out (retrying a system call that offers no
/// readiness to wait for), which a virtual clock would skip (a deterministic runtime jumps to the
/// deadline at once) or never reach (a paused one). Cancel-safe as [`sleep`] is: dropping it
/// removes its timer entry. It holds nothing by itself: a deterministic runtime whose tasks all
/// wait moves its virtual clock on regardless (hold `Reactor::external_work` meanwhile to make
/// it wait, as corio-net's Unix connect does), and inside a simulation nothing brings its wake
/// (the simulation reports a deadlock).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// futures_lite::future::block_on(corio_timer::sleep_real(Duration::from_millis(2)));
/// assert!(start.elapsed() >= Duration::from_millis(2));
/// ```
pub fn sleep_real(duration: Duration) -> RealSleep {
    RealSleep {
        sleep: Sleep::new(Instant::now().checked_add(duration)),
    }
}

/// The future returned by [`sleep_real`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct RealSleep {
    sleep: Sleep,
}

impl Future for RealSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Registered with (and checked against) the process-wide timer, on the real clock.
        let _global = crate::driver::global().enter();
        Pin::new(&mut self.sleep).poll(cx)
    }
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It registers with a timer only when first polled (most timeouts are cancelled before that
/// matters), and dropping it removes the registration.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    /// `None`: never.
    deadline: Option<Instant>,
    state: State,
}

enum State {
    Unregistered,
    Registered(Entry),
    /// Found due on its first poll when the task had no cooperative budget left: the task
    /// yielded once, and the next poll completes whatever the budget.
    Due,
    Done,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field(
                "registered",
                &matches!(self.state, State::Registered { .. }),
            )
            .field("done", &matches!(self.state, State::Done))
            .finish()
    }
}

impl Sleep {
    pub(crate) fn new(deadline: Option<Instant>) -> Sleep {
        Sleep {
            deadline,
            state: State::Unregistered,
        }
    }

    /// A sleep that never completes.
    pub(crate) fn never() -> Sleep {
        Sleep::new(None)
    }

    /// The deadline, or `None` if this sleep never ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// assert!(corio_timer::sleep(Duration::MAX).deadline().is_none());
    /// assert!(corio_timer::sleep(Duration::from_secs(1)).deadline().is_some());
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the deadline has been reached (as observed by the last poll).
    pub fn is_elapsed(&self) -> bool {
        matches!(self.state, State::Due | State::Done)
    }

    /// Moves the deadline (an instant of the runtime's clock, [`now`](crate::now)). The sleep
    /// becomes pending again even if it had completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut sleep = Box::pin(corio_timer::sleep(Duration::from_secs(3600)));
    /// sleep.as_mut().reset(corio_timer::now() + Duration::from_millis(1));
    /// futures_lite::future::block_on(sleep);
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.reset_to(Some(deadline));
    }

    pub(crate) fn reset_to(self: Pin<&mut Self>, deadline: Option<Instant>) {
        let this = self.get_mut();
        this.unregister();
        this.deadline = deadline;
        this.state = State::Unregistered;
    }

    fn unregister(&mut self) {
        if let State::Registered(entry) = std::mem::replace(&mut self.state, State::Done) {
            entry.cancel();
        }
    }

    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        match &self.state {
            State::Done => Poll::Ready(()),
            State::Due => {
                self.state = State::Done;
                Poll::Ready(())
            }
            State::Unregistered => {
                // Borrowed, not cloned: no reference count to bump on a shared cache line.
                let registration = Timer::with_current(|timer| {
                    // Usually from the clock reading that made the deadline (no second read);
                    // a "not yet" that is stale is caught by the wheel when it registers.
                    if timer.reached(deadline) {
                        Registration::AlreadyDue
                    } else if crate::defer::is_open_for(cx.waker()) {
                        // A chooser's first pass (see `defer`): it polls again before waiting.
                        crate::defer::mark_deferred();
                        Registration::Deferred
                    } else {
                        timer.register(deadline, cx.waker())
                    }
                });
                match registration {
                    Registration::Registered(entry) => {
                        self.state = State::Registered(entry);
                        Poll::Pending
                    }
                    Registration::AlreadyDue => self.complete(cx),
                    Registration::Deferred => Poll::Pending,
                }
            }
            State::Registered(entry) if entry.shard.is_closed() => {
                // The timer's runtime was dropped: register again with the timer current here
                // (the process-wide one outside any runtime), same deadline.
                self.unregister();
                self.state = State::Unregistered;
                self.poll_elapsed(cx)
            }
            State::Registered(entry) => {
                if entry.poll(cx.waker()) {
                    // The entry was freed by `poll_entry`. A timer that fired completes without
                    // asking for budget: the task already waited for it, and a deadline next to
                    // an always-ready future (in `race`, a biased `select!`, `try_join!`) must not
                    // wait for that future to run out of work.
                    self.state = State::Done;
                    Poll::Ready(())
                } else if Timer::with_started(|t| t.owns(&entry.shard) && t.reached(deadline))
                    .unwrap_or(false)
                {
                    // Due by this thread's latest reading of the clock, though the wheel has not
                    // fired it yet (wheels fire at tick boundaries, up to a tick late): complete
                    // now, as a deadline checked against that same reading would (a cancel
                    // scope's, which reads the clock just before it polls its future), so that a
                    // sleep due no later than a deadline is never beaten by it.
                    self.unregister();
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        }
    }

    /// A sleep found due on its first poll. It spends budget like any always-ready resource, so a
    /// loop of zero-length sleeps yields; with none left the task yields once, and the next poll
    /// completes (`State::Due`) whatever the budget, so a deadline polled after an always-ready
    /// future is not held back for ever either.
    fn complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.unregister();
        if corio_coop::poll_proceed(cx).is_pending() {
            self.state = State::Due;
            return Poll::Pending;
        }
        self.state = State::Done;
        Poll::Ready(())
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_elapsed(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// Converts a duration to a deadline from the current clock; `None` if it overflows.
pub(crate) fn deadline_after(duration: Duration) -> Option<Instant> {
    Timer::current_now().checked_add(duration)
}
