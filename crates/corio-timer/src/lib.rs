//! corio's timers: [`sleep`], [`sleep_until`], [`interval`], [`timeout`] and [`timeout_at`].
//!
//! Timers live in a hierarchical timing wheel (six levels of 64 one-millisecond slots, with an
//! overflow list beyond about a year): inserting and cancelling a timer is O(1), and a timer is
//! registered only when its future is first polled, so a `timeout` around a future that is already
//! ready costs nothing. Timers never fire early; they fire at most one tick (1 ms) late plus
//! scheduling delay. Timers due at the same tick fire in the order they were registered (first in,
//! first out, as in asyncio), among those registered from one thread: a multi-threaded runtime
//! shares its threads out among several wheels (shards), which fire one after another.
//!
//! Each runtime owns a [`TimerDriver`]; its threads [enter](Timer::enter) the timer so that sleeps
//! created there register with it. Outside of any runtime, timers use a process-wide timer driven
//! by a background thread, started on first use, so `sleep` works on any executor.
//!
//! Time comes from a [`Clock`]: the real one, or a paused, virtual one for deterministic tests.
//!
//! [`retry`] and [`retry_if`] call an operation again after a [`Backoff`] (exponential, capped,
//! with full jitter) on these timers, so their waits are virtual in deterministic tests and a
//! timeout around them cancels them mid-wait.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! futures_lite::future::block_on(async {
//!     corio_timer::sleep(Duration::from_millis(1)).await;
//!     let slow = corio_timer::timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
//!     assert!(slow.is_err());
//! });
//! ```
//!
//! # Edge cases
//!
//! - `sleep(Duration::ZERO)` completes at its first poll; `sleep(Duration::MAX)` never completes
//!   and registers nothing; neither panics nor overflows.
//! - `timeout(Duration::MAX, f)` is `f` with no deadline.
//! - `interval(Duration::ZERO)` ticks every millisecond (the resolution) instead of panicking.
#![forbid(unsafe_code)]

mod clock;
mod defer;
mod driver;
mod interval;
mod loom_shim;
mod retry;
mod shard;
mod sleep;
mod timeout;
mod timer;
mod wheel;

pub use clock::Clock;
#[doc(hidden)]
pub use defer::DeferScope;
pub use driver::TimerDriver;
pub use interval::{Interval, MissedTickBehavior, Tick, interval, interval_at};
pub use retry::{Backoff, Retry, retry, retry_if, set_random_source};
pub use sleep::{RealSleep, Sleep, sleep, sleep_real, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout, timeout_at};
pub use timer::{Timer, TimerGuard};

/// The current instant of the current runtime's clock (virtual in deterministic mode).
///
/// # Examples
///
/// ```
/// let a = corio_timer::now();
/// let b = corio_timer::now();
/// assert!(b >= a);
/// ```
pub fn now() -> std::time::Instant {
    Timer::current_now()
}

/// A sleep that never completes (useful as a disabled deadline).
///
/// # Examples
///
/// ```
/// assert!(corio_timer::sleep_forever().deadline().is_none());
/// ```
pub fn sleep_forever() -> Sleep {
    Sleep::never()
}
