//! The clock seam: where the timer gets "now" from.
//!
//! The real clock reads [`Instant::now`]. A *paused* clock reads a virtual instant that only moves
//! when told to ([`Clock::advance`]), or, in auto-advance mode, when the runtime has nothing to do
//! but wait for the next timer: it then jumps straight to it. Tests of a ten-minute timeout run in
//! microseconds, and run the same way every time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A clock: real by default, switchable to virtual time.
///
/// Cloning shares the clock. Reading the real clock costs one relaxed load more than
/// `Instant::now()`.
///
/// # Examples
///
/// ```
/// use corio_timer::Clock;
/// use std::time::Duration;
///
/// let clock = Clock::new_paused(true);
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!(clock.now() - t0, Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    paused: AtomicBool,
    auto_advance: AtomicBool,
    /// Virtual time = `origin + offset` while paused.
    origin: Mutex<Instant>,
    offset_nanos: AtomicU64,
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

impl Clock {
    /// The real clock.
    pub fn new() -> Clock {
        Clock {
            inner: Arc::new(Inner {
                paused: AtomicBool::new(false),
                auto_advance: AtomicBool::new(false),
                origin: Mutex::new(Instant::now()),
                offset_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// A virtual clock, paused from the start. With `auto_advance`, a runtime whose tasks are all
    /// waiting on timers jumps straight to the next deadline.
    pub fn new_paused(auto_advance: bool) -> Clock {
        let clock = Clock::new();
        clock.pause(auto_advance);
        clock
    }

    /// The current instant: real, or virtual if paused.
    #[inline]
    pub fn now(&self) -> Instant {
        if !self.inner.paused.load(Ordering::Acquire) {
            return Instant::now();
        }
        self.virtual_now()
    }

    fn virtual_now(&self) -> Instant {
        let origin = *self.inner.origin.lock().unwrap_or_else(|e| e.into_inner());
        origin + Duration::from_nanos(self.inner.offset_nanos.load(Ordering::Acquire))
    }

    /// Stops time: from now on, [`now`](Clock::now) only moves through
    /// [`advance`](Clock::advance) (or auto-advance, if enabled). Pausing a paused clock only
    /// updates the auto-advance setting.
    pub fn pause(&self, auto_advance: bool) {
        self.pause_at(Instant::now(), auto_advance);
    }

    /// Like [`pause`](Clock::pause), with virtual time starting at `origin`.
    pub(crate) fn pause_at(&self, origin: Instant, auto_advance: bool) {
        let inner = &self.inner;
        inner.auto_advance.store(auto_advance, Ordering::Release);
        if inner.paused.load(Ordering::Acquire) {
            return;
        }
        *inner.origin.lock().unwrap_or_else(|e| e.into_inner()) = origin;
        inner.offset_nanos.store(0, Ordering::Release);
        inner.paused.store(true, Ordering::Release);
    }

    /// Whether the clock is paused.
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::Acquire)
    }

    /// Whether a paused clock may jump to the next timer when the runtime is otherwise idle.
    pub fn auto_advance(&self) -> bool {
        self.is_paused() && self.inner.auto_advance.load(Ordering::Acquire)
    }

    /// Moves virtual time forward by `by`. Does nothing to a real clock. Saturates instead of
    /// overflowing.
    ///
    /// Timers do not fire by themselves when the clock moves: the runtime's timer fires them on
    /// its next turn (the facade's `corio::time::advance` does both).
    pub fn advance(&self, by: Duration) {
        if !self.is_paused() {
            return;
        }
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .inner
            .offset_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |off| {
                Some(off.saturating_add(by))
            });
    }

    /// Moves virtual time forward to `instant`, if it is later than now.
    pub fn advance_to(&self, instant: Instant) {
        let now = self.now();
        if instant > now {
            self.advance(instant - now);
        }
    }

    /// Whether two handles share one clock.
    pub fn ptr_eq(&self, other: &Clock) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
