//! Time: sleeping, intervals, timeouts, and control of the clock in tests.
//!
//! Everything here reads the current runtime's clock: the real one, or a virtual one in
//! deterministic mode (see [`crate::run_seeded`]) or after [`pause`].

use std::time::{Duration, Instant};

pub use corio_timer::{
    Clock, Elapsed, Interval, MissedTickBehavior, Sleep, Tick, Timeout, Timer, interval,
    interval_at, sleep, sleep_forever, sleep_until, timeout, timeout_at,
};

/// The current runtime's notion of now (virtual when the clock is paused).
///
/// # Examples
///
/// ```
/// assert!(corio::time::now() <= std::time::Instant::now());
/// ```
pub fn now() -> Instant {
    corio_timer::now()
}

/// Pauses the current runtime's clock: from now on it moves only through [`advance`], for tests.
///
/// Unlike tokio's `time::pause`, a clock paused this way never moves by itself: a task that
/// sleeps while nothing calls `advance` waits for ever ([`Builder::paused_clock`] starts a
/// runtime this way). A loop that has sat idle for a second of real time on a paused clock, with
/// timers pending, says so once on stderr, so that a test ported from tokio does not hang
/// silently. For a clock that jumps to the next timer whenever the loop is idle, use
/// deterministic mode: [`Builder::deterministic`], [`run_seeded`](crate::run_seeded), or
/// `#[corio::test(seed = ..)]`. Virtual time counts nanoseconds in 64 bits: it covers about 584
/// years, and a timer set beyond that never fires (like a `sleep(Duration::MAX)`).
///
/// [`Builder::paused_clock`]: crate::Builder::paused_clock
/// [`Builder::deterministic`]: crate::Builder::deterministic
///
/// # Panics
///
/// Outside any runtime (a plain thread, or a plain [`block_on`](crate::block_on) there), where
/// the only timer is the process-wide one that every thread's sleeps use: pausing it would
/// freeze them all. Inside a deterministic runtime or a simulation ([`crate::sim`]), whose
/// virtual clock moves by itself when the loop is idle: pausing it there hung for ever (a probe).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// corio::run_local(async {
///     corio::time::pause();
///     let t0 = corio::time::now();
///     corio::time::advance(Duration::from_secs(60)).await;
///     assert_eq!(corio::time::now() - t0, Duration::from_secs(60));
/// });
/// ```
pub fn pause() {
    match corio_timer::Timer::try_current() {
        Some(timer) if timer.clock().auto_advance() => panic!(
            "corio::time::pause inside a deterministic runtime or a simulation: its clock is \
             virtual already and jumps to the next timer whenever the loop is idle; pausing it \
             would stop it for good (everything sleeping would wait for ever). Leave the pause \
             out, or move time with corio::time::advance"
        ),
        Some(timer) => timer.pause(false),
        None => panic!(
            "corio::time::pause called outside a runtime: it would pause the process-wide timer \
             that the sleeps of every thread use; call it inside run_local, a runtime's \
             block_on, or a #[corio::test]"
        ),
    }
}

/// Moves a paused clock forward by `by` (rounded up to whole milliseconds, the timers'
/// resolution), fires the timers that became due, and yields so that the tasks they woke can
/// run. Does nothing to a running (real) clock but yield.
///
/// A sleep's deadline is fixed when the sleep is created. The example below creates it before
/// spawning; written as `spawn(async { sleep(d).await })` instead, the task has not run yet when
/// `advance` moves the clock, so its sleep starts counting only after the advance (and, with
/// nothing advancing the clock again, never fires). Let such a task start first, with
/// [`yield_now`](crate::yield_now), before advancing.
///
/// # Examples
///
/// A test of a 30 s timer that takes no time at all:
///
/// ```
/// use std::time::Duration;
///
/// corio::run_local(async {
///     corio::time::pause();
///     let sleeper = corio::spawn(corio::time::sleep(Duration::from_secs(30)));
///     corio::time::advance(Duration::from_secs(29)).await;
///     assert!(!sleeper.is_finished()); // not due yet
///     corio::time::advance(Duration::from_secs(1)).await;
///     sleeper.await; // fired at 30 virtual seconds
/// });
/// ```
pub async fn advance(by: Duration) {
    corio_timer::Timer::current().advance(by);
    corio_executor::yield_now().await;
}
