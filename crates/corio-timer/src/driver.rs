//! The runtime's side of a timer ([`TimerDriver`]): how long the driver's thread may sleep, firing
//! what is due, and the global timer's thread.
//!
//! # Not sleeping past a timer
//!
//! `sleeping_until` holds the tick at which the thread parked in the driver wakes by itself.
//! The driver sets it to "never" *before* it reads the shards' next expirations, then lowers it
//! to the earliest one it found. A registration (`Timer::register`) inserts under its shard's
//! lock, then reads `sleeping_until` and interrupts the sleeper if its timer is due earlier.
//! Either the driver read the shard after the insert (and sleeps no later than the new timer),
//! or the insert came after that read, hence after the "never", and the registration interrupts
//! the sleep. The loom models below check it (`cargo xtask loom`).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, OnceLock};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::timer::{Shared, Timer};

/// The runtime side of a timer: owned by the runtime's driver, which asks it how long it may
/// sleep and tells it when to fire.
///
/// Dropping it drops every waker the timer holds (timers of a runtime that shut down never fire).
///
/// # Examples
///
/// A minimal driver loop (the facade's driver also waits for I/O in `park`):
///
/// ```
/// use corio_timer::{Clock, TimerDriver};
/// use std::time::Duration;
///
/// let driver = TimerDriver::new(Clock::new());
/// let timer = driver.timer();
/// let _guard = timer.enter();
/// let sleep = corio_timer::sleep(Duration::from_millis(5));
/// futures_lite::future::block_on(futures_lite::future::or(
///     async { sleep.await; "slept" },
///     async {
///         loop {
///             if let Some(wait) = driver.park_timeout(None) {
///                 std::thread::sleep(wait);
///             }
///             driver.fire_due();
///             futures_lite::future::yield_now().await;
///         }
///     },
/// ));
/// ```
pub struct TimerDriver {
    timer: Timer,
}

impl fmt::Debug for TimerDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerDriver")
            .field("timer", &self.timer)
            .finish()
    }
}

impl TimerDriver {
    /// A timer driven by this driver, reading `clock`, with one wheel.
    pub fn new(clock: Clock) -> TimerDriver {
        TimerDriver::with_shards(clock, 1)
    }

    /// A timer with `shards` wheels (at least 1), for a runtime whose threads register timers at
    /// the same time: give it one per worker thread, plus one. See [`Timer::enter`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_timer::{Clock, TimerDriver};
    /// use std::time::Duration;
    ///
    /// let driver = TimerDriver::with_shards(Clock::new(), 3);
    /// let _guard = driver.timer().enter();
    /// let sleep = corio_timer::sleep(Duration::from_millis(1));
    /// # drop(sleep);
    /// ```
    pub fn with_shards(clock: Clock, shards: usize) -> TimerDriver {
        TimerDriver {
            timer: Timer {
                shared: Arc::new(Shared::new(clock, shards)),
                shard: 0,
            },
        }
    }

    /// The handle that sleeps register with.
    pub fn timer(&self) -> Timer {
        self.timer.clone()
    }

    /// Sets the function that interrupts the thread sleeping in [`park_timeout`]'s wait, called
    /// when a timer due earlier than that wait's end is registered. Only the first call counts.
    ///
    /// [`park_timeout`]: TimerDriver::park_timeout
    pub fn set_unpark(&self, unpark: impl Fn() + Send + Sync + 'static) {
        let _ = self.timer.shared.unpark.set(Arc::new(unpark));
    }

    /// Called before the driver's thread blocks: returns how long it may sleep, at most
    /// `requested` (`None`: unbounded) and at most until the next timer. Records the wake-up tick,
    /// so that registering an earlier timer interrupts the sleep.
    ///
    /// With a paused clock the timeout is computed in virtual time; a runtime in auto-advance mode
    /// calls [`auto_advance`](TimerDriver::auto_advance) instead of sleeping.
    pub fn park_timeout(&self, requested: Option<Duration>) -> Option<Duration> {
        let shared = &*self.timer.shared;
        let sleeps = requested != Some(Duration::ZERO);
        if sleeps {
            // "Never", before reading the shards (see the module docs).
            shared.sleeping_until.store(u64::MAX, Ordering::SeqCst);
        }
        let next = shared.next_expiration();
        if sleeps {
            // Lowered, not stored: a registration since the "never" may have lowered it already.
            shared
                .sleeping_until
                .fetch_min(next.unwrap_or(u64::MAX), Ordering::SeqCst);
        }
        let until_timer = next.map(|tick| match shared.tick_instant(tick) {
            Some(at) => at.saturating_duration_since(shared.clock.now()),
            None => Duration::MAX,
        });
        match (requested, until_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires every timer that is due, and marks the driver as awake.
    pub fn fire_due(&self) {
        let shared = &*self.timer.shared;
        // A load first: a busy runtime calls this every few dozen polls, and an unconditional
        // store would take the line that every registration reads away from all the workers.
        if shared.sleeping_until.load(Ordering::Relaxed) != 0 {
            shared.sleeping_until.store(0, Ordering::Release);
        }
        shared.fire_due();
    }

    /// With a paused, auto-advancing clock: jumps virtual time to the next timer and fires it.
    /// Returns `false` (and does nothing) if the clock is not auto-advancing or no timer waits.
    pub fn auto_advance(&self) -> bool {
        let shared = &*self.timer.shared;
        if !shared.clock.auto_advance() {
            return false;
        }
        let next = shared.next_expiration();
        let Some(at) = next.and_then(|tick| shared.tick_instant(tick)) else {
            return false;
        };
        shared.clock.advance_to(at);
        self.fire_due();
        true
    }

    /// The earliest instant at which a timer will fire, if any is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        let shared = &*self.timer.shared;
        let next = shared.next_expiration()?;
        shared.tick_instant(next)
    }
}

impl Drop for TimerDriver {
    /// Nothing will fire this timer again: its sleeps are woken, and each moves to the timer
    /// current where it is next polled (the process-wide one outside any runtime), keeping its
    /// deadline, instead of waiting for ever.
    fn drop(&mut self) {
        for shard in &*self.timer.shared.shards {
            let wakers = shard.close();
            wakers.into_iter().for_each(std::task::Waker::wake);
        }
    }
}

/// The process-wide timer used outside of any runtime (see [`global`]).
static GLOBAL: OnceLock<Timer> = OnceLock::new();

/// The process-wide timer, if [`global`] has started it.
pub(crate) fn global_if_started() -> Option<&'static Timer> {
    GLOBAL.get()
}

/// The process-wide timer used outside of any runtime, driven by the `corio-timer` thread.
pub(crate) fn global() -> &'static Timer {
    GLOBAL.get_or_init(|| {
        let driver = TimerDriver::new(Clock::new());
        let timer = driver.timer();
        let signal = Arc::new((std::sync::Mutex::new(false), Condvar::new()));
        let wake = signal.clone();
        driver.set_unpark(move || {
            *wake.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            wake.1.notify_one();
        });
        let spawned = std::thread::Builder::new()
            .name("corio-timer".into())
            .spawn(move || {
                loop {
                    let timeout = driver.park_timeout(None);
                    let (lock, condvar) = &*signal;
                    let mut notified = lock.lock().unwrap_or_else(|e| e.into_inner());
                    if !*notified {
                        notified = match timeout {
                            Some(t) => {
                                condvar
                                    .wait_timeout(notified, t)
                                    .unwrap_or_else(|e| e.into_inner())
                                    .0
                            }
                            None => condvar.wait(notified).unwrap_or_else(|e| e.into_inner()),
                        };
                    }
                    *notified = false;
                    drop(notified);
                    driver.fire_due();
                }
            });
        if let Err(e) = spawned {
            // Without the thread the timers outside runtimes never fire; say so loudly.
            eprintln!("corio: cannot start the global timer thread: {e}");
        }
        timer
    })
}

/// A loom model of cross-thread registration: a timer registered from another thread while the
/// driver's thread computes how long it may sleep is never missed: either the driver's timeout
/// covers it, or the registration interrupts the sleep. Run with `cargo xtask loom`.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::atomic::AtomicBool;

    #[test]
    fn loom_a_timer_registered_during_park_is_never_missed() {
        registered_during_park(1, 0);
    }

    /// The same with two shards, the timer going into the shard the driver reads second.
    #[test]
    fn loom_a_timer_registered_in_another_shard_during_park_is_never_missed() {
        registered_during_park(2, 1);
    }

    /// Two registrations in different shards while the driver parks: both are covered.
    #[test]
    fn loom_two_shards_two_registrations() {
        loom::model(|| {
            let driver = TimerDriver::with_shards(Clock::new(), 2);
            let unparked = Arc::new(AtomicBool::new(false));
            let flag = unparked.clone();
            driver.set_unpark(move || flag.store(true, Ordering::SeqCst));
            let registrars: Vec<_> = (0..2)
                .map(|shard| {
                    let timer = Timer {
                        shared: driver.timer().shared,
                        shard,
                    };
                    loom::thread::spawn(move || {
                        let deadline = Instant::now() + Duration::from_secs(5);
                        let _ = timer.register(deadline, std::task::Waker::noop());
                    })
                })
                .collect();
            let timeout = driver.park_timeout(None);
            for r in registrars {
                r.join().unwrap();
            }
            assert!(
                timeout.is_some() || unparked.load(Ordering::SeqCst),
                "the driver would sleep forever past a registered timer"
            );
        });
    }

    fn registered_during_park(shards: usize, shard: usize) {
        loom::model(move || {
            let driver = TimerDriver::with_shards(Clock::new(), shards);
            let unparked = Arc::new(AtomicBool::new(false));
            let flag = unparked.clone();
            driver.set_unpark(move || flag.store(true, Ordering::SeqCst));
            let timer = Timer {
                shared: driver.timer().shared,
                shard,
            };
            let registrar = loom::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(5);
                let _ = timer.register(deadline, std::task::Waker::noop());
            });
            // The driver's side: how long may it sleep?
            let timeout = driver.park_timeout(None);
            registrar.join().unwrap();
            assert!(
                timeout.is_some() || unparked.load(Ordering::SeqCst),
                "the driver would sleep forever past a registered timer"
            );
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::timer::Registration;
    use std::sync::atomic::AtomicUsize;
    use std::task::Waker;

    #[test]
    fn a_registration_interrupts_a_driver_that_sleeps_past_it() {
        let driver = TimerDriver::with_shards(Clock::new(), 2);
        let unparked = Arc::new(AtomicUsize::new(0));
        let flag = unparked.clone();
        driver.set_unpark(move || {
            flag.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(
            driver.park_timeout(None),
            None,
            "no timer: sleep without limit"
        );
        let timer = Timer {
            shared: driver.timer().shared,
            shard: 1,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let Registration::Registered(entry) = timer.register(deadline, Waker::noop()) else {
            panic!("a deadline 5 s away is not due");
        };
        assert_eq!(unparked.load(Ordering::SeqCst), 1);
        // A later timer does not interrupt again: the driver wakes for the earlier one anyway.
        let later = timer.register(deadline + Duration::from_secs(1), Waker::noop());
        assert_eq!(unparked.load(Ordering::SeqCst), 1);
        // Once awake, the driver's next park covers the timer.
        driver.fire_due();
        let wait = driver.park_timeout(None).expect("a timer is pending");
        assert!(wait <= Duration::from_secs(5));
        entry.cancel();
        if let Registration::Registered(entry) = later {
            entry.cancel();
        }
    }
}
