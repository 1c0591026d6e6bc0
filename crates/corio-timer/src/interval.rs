//! `interval`: a periodic tick.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::{FusedStream, Stream};

use crate::sleep::Sleep;
use crate::timer::{TICK, Timer};

/// How late a tick may be taken before [`MissedTickBehavior::Delay`] counts it as missed.
const LATE: Duration = Duration::from_millis(5);

/// What an [`Interval`] does when ticks were missed (the task was busy past one or more of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up, keeping the original schedule.
    #[default]
    Burst,
    /// Fire once now, and schedule the next tick one period after *now*. A tick counts as
    /// missed when it is taken more than 5 ms after its scheduled instant (as tokio counts it);
    /// one taken on time, or a little late as timers are, keeps the schedule, so the interval
    /// does not drift.
    Delay,
    /// Fire once now, and skip to the next tick of the original schedule.
    Skip,
}

/// A stream of ticks every `period`, the first one immediately.
///
/// A period below the timer resolution (1 ms), including zero, is raised to 1 ms. Missed ticks are
/// handled per [`MissedTickBehavior`] (default: [`Burst`](MissedTickBehavior::Burst), as tokio).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// futures_lite::future::block_on(async {
///     let mut every = corio_timer::interval(Duration::from_millis(2));
///     let first = every.tick().await;
///     let second = every.tick().await;
///     assert!(second - first >= Duration::from_millis(2));
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    let start = Timer::current_now();
    interval_at(start, period)
}

/// Like [`interval`], with the first tick at `start`: an instant of the current runtime's
/// clock, [`now`](crate::now) (see [`sleep_until`](crate::sleep_until)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let start = corio_timer::now() + Duration::from_millis(3);
/// let mut ticks = corio_timer::interval_at(start, Duration::from_secs(1));
/// let first = futures_lite::future::block_on(ticks.tick());
/// assert_eq!(first, start);
/// ```
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    Interval {
        period: period.max(TICK),
        next: start,
        sleep: Sleep::new(Some(start)),
        missed: MissedTickBehavior::default(),
    }
}

/// Periodic ticks; see [`interval`].
///
/// Besides [`tick`](Interval::tick), an `Interval` is a [`Stream`] of the scheduled instant of
/// each tick, which never ends. A dropped `tick()` or `next()` loses no tick: the schedule lives
/// in the `Interval`, and the tick is consumed only by the poll that returns it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_lite::StreamExt;
///
/// futures_lite::future::block_on(async {
///     let ticks: Vec<_> = corio_timer::interval(Duration::from_millis(1)).take(3).collect().await;
///     assert!(ticks[0] < ticks[1] && ticks[1] < ticks[2]);
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    next: Instant,
    sleep: Sleep,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub fn tick(&mut self) -> Tick<'_> {
        Tick { interval: self }
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.sleep.poll_elapsed(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.next;
        let now = Timer::current_now();
        let next = match self.missed {
            MissedTickBehavior::Burst => scheduled.checked_add(self.period),
            // Only a tick that was missed moves the schedule: one taken on time, or late by
            // no more than a timer's usual lateness, keeps it (no drift).
            MissedTickBehavior::Delay if scheduled.checked_add(LATE).is_some_and(|l| now > l) => {
                now.checked_add(self.period)
            }
            MissedTickBehavior::Delay => scheduled.checked_add(self.period),
            MissedTickBehavior::Skip => {
                let mut next = scheduled.checked_add(self.period);
                if let Some(n) = next {
                    if n <= now {
                        let behind = now.duration_since(n).as_nanos();
                        let periods = behind / self.period.as_nanos() + 1;
                        let skip = self.period.as_nanos().saturating_mul(periods);
                        // In seconds and nanoseconds: a schedule that started more than
                        // `u64::MAX` ns (584 years) back skips more than a u64 of nanoseconds,
                        // and stopped ticking for good when the skip went through one.
                        next = u64::try_from(skip / 1_000_000_000).ok().and_then(|secs| {
                            let nanos = (skip % 1_000_000_000) as u32;
                            n.checked_add(Duration::new(secs, nanos))
                        });
                    }
                }
                next
            }
        };
        match next {
            Some(next) => self.next = next,
            // Beyond the representable future: no more ticks.
            None => self.next = scheduled,
        }
        Pin::new(&mut self.sleep).reset_to(next);
        Poll::Ready(scheduled)
    }

    /// Sets what happens to missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The missed-tick behaviour in force.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.reset_after(self.period);
    }

    /// Restarts the schedule with the next tick `after` from now, and the later ones a period
    /// apart from it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// futures_lite::future::block_on(async {
    ///     let mut ticks = corio_timer::interval(Duration::from_secs(3600));
    ///     ticks.tick().await; // the first tick is immediate
    ///     let start = corio_timer::now();
    ///     ticks.reset_after(Duration::from_millis(5));
    ///     let at = ticks.tick().await;
    ///     assert!(at >= start + Duration::from_millis(5));
    ///     assert!(at < start + Duration::from_secs(3600));
    /// });
    /// ```
    pub fn reset_after(&mut self, after: Duration) {
        let now = Timer::current_now();
        let next = now.checked_add(after);
        self.next = next.unwrap_or(now);
        Pin::new(&mut self.sleep).reset_to(next);
    }

    /// Restarts the schedule with the next tick at `deadline` (at once if it has passed), and
    /// the later ones a period apart from it. Build the deadline from
    /// [`now`](crate::now), the runtime's clock (virtual under a deterministic runtime).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// futures_lite::future::block_on(async {
    ///     let mut ticks = corio_timer::interval(Duration::from_secs(3600));
    ///     ticks.tick().await;
    ///     let deadline = corio_timer::now() + Duration::from_millis(5);
    ///     ticks.reset_at(deadline);
    ///     assert_eq!(ticks.tick().await, deadline);
    /// });
    /// ```
    pub fn reset_at(&mut self, deadline: Instant) {
        self.next = deadline;
        Pin::new(&mut self.sleep).reset_to(Some(deadline));
    }

    /// Restarts the schedule with a tick due at once, and the later ones a period apart from it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// futures_lite::future::block_on(async {
    ///     let mut ticks = corio_timer::interval(Duration::from_secs(3600));
    ///     ticks.tick().await;
    ///     ticks.reset_immediately();
    ///     ticks.tick().await; // does not wait an hour
    /// });
    /// ```
    pub fn reset_immediately(&mut self) {
        self.reset_at(Timer::current_now());
    }
}

/// The future returned by [`Interval::tick`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Tick<'a> {
    interval: &'a mut Interval,
}

impl Future for Tick<'_> {
    type Output = Instant;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        self.interval.poll_tick(cx)
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl FusedStream for Interval {
    fn is_terminated(&self) -> bool {
        false
    }
}
