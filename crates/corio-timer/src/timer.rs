//! The handle that futures register with ([`Timer`]), the timer's shared state, and which timer
//! is current on a thread ([`Timer::enter`], [`TimerGuard`]).
//!
//! A registration inserts into the handle's shard (see `shard.rs`), then checks whether the
//! thread parked in the driver would sleep past it; that protocol is in `driver.rs`'s module
//! docs. Outside any runtime the current timer is the global one (`driver::global`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::driver::global;
use crate::loom_shim::AtomicU64;
use crate::shard::{Entry, Shard};

/// One tick of the wheel.
pub(crate) const TICK: Duration = Duration::from_millis(1);
const TICK_NANOS: u64 = TICK.as_nanos() as u64;

type Unpark = Arc<dyn Fn() + Send + Sync>;

/// The state every handle of one timer shares.
pub(crate) struct Shared {
    pub(crate) clock: Clock,
    /// Tick 0 of the wheels.
    pub(crate) start: Instant,
    pub(crate) shards: Box<[Arc<Shard>]>,
    /// The shard the next thread to enter gets (modulo the shard count).
    pub(crate) next_shard: AtomicUsize,
    /// The tick at which the thread parked in this timer's driver will wake by itself; an
    /// insert due earlier must unpark it. 0 while nobody sleeps on it (whoever parks next looks
    /// at the wheels first), `u64::MAX` while a thread sleeps with no timer to wake it.
    pub(crate) sleeping_until: AtomicU64,
    pub(crate) unpark: OnceLock<Unpark>,
    /// Unique per timer for this process (never reused, unlike an address): the owner of a
    /// thread's recent clock reading (see `RECENT`).
    id: u64,
}

/// A handle to a timer: the thing `sleep` and `timeout` register with.
///
/// Cheap to clone. The timer of the current runtime is found with [`Timer::current`]; outside any
/// runtime that is a process-wide timer driven by a background thread named `corio-timer`,
/// started on first use.
///
/// # Examples
///
/// ```
/// use corio_timer::Timer;
///
/// let timer = Timer::current();
/// let before = timer.now();
/// assert!(timer.now() >= before);
/// ```
#[derive(Clone)]
pub struct Timer {
    pub(crate) shared: Arc<Shared>,
    /// The shard this handle registers in.
    pub(crate) shard: usize,
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("paused", &self.shared.clock.is_paused())
            .field("pending", &self.pending())
            .finish()
    }
}

/// What registering a deadline gave.
pub(crate) enum Registration {
    Registered(Entry),
    AlreadyDue,
    /// Not registered: a chooser's first pass will poll again before waiting (see `defer`).
    Deferred,
}

impl Timer {
    /// The timer of the current thread's runtime, or the global timer.
    ///
    /// # Examples
    ///
    /// ```
    /// let _timer = corio_timer::Timer::current();
    /// ```
    pub fn current() -> Timer {
        CURRENT
            .try_with(|c| c.borrow().clone())
            .ok()
            .flatten()
            .unwrap_or_else(|| global().clone())
    }

    /// Runs `f` with the current timer (or the global one), without cloning it.
    #[inline]
    pub(crate) fn with_current<R>(f: impl FnOnce(&Timer) -> R) -> R {
        Timer::with_current_or(f, || Some(global())).expect("the global timer is always there")
    }

    /// The current timer's notion of now. Outside of any timer this is the real clock (the global
    /// timer's clock), read without starting the global timer's thread.
    pub(crate) fn current_now() -> Instant {
        Timer::with_started(Timer::now).unwrap_or_else(Instant::now)
    }

    /// Runs `f` with the current timer, or outside any runtime with the process-wide timer if it
    /// has been started (never starting it): `None` if there is neither.
    pub(crate) fn with_started<R>(f: impl FnOnce(&Timer) -> R) -> Option<R> {
        Timer::with_current_or(f, crate::driver::global_if_started)
    }

    /// Runs `f` with the current timer, or else with the timer `fallback` gives, if any.
    #[inline]
    fn with_current_or<R>(
        f: impl FnOnce(&Timer) -> R,
        fallback: impl FnOnce() -> Option<&'static Timer>,
    ) -> Option<R> {
        let mut f = Some(f);
        let done = CURRENT.try_with(|c| {
            c.borrow()
                .as_ref()
                .map(|t| (f.take().expect("called once"))(t))
        });
        match done {
            Ok(Some(r)) => Some(r),
            _ => fallback().map(f.take().expect("called once")),
        }
    }

    /// Whether `shard` is one of this timer's wheels.
    pub(crate) fn owns(&self, shard: &Shard) -> bool {
        shard.timer == self.shared.id
    }

    /// Makes this timer the current one on this thread until the guard is dropped.
    ///
    /// Each entry is given the timer's next shard in turn, so that the threads of a runtime
    /// (which enter once each when they start) register their timers in different wheels.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_timer::{Clock, TimerDriver, Timer};
    ///
    /// let driver = TimerDriver::new(Clock::new_paused(false));
    /// let _guard = driver.timer().enter();
    /// assert!(Timer::current().clock().is_paused());
    /// ```
    pub fn enter(&self) -> TimerGuard {
        let shards = self.shared.shards.len();
        let shard = if shards == 1 {
            0
        } else {
            self.shared.next_shard.fetch_add(1, Ordering::Relaxed) % shards
        };
        let entered = Timer {
            shared: self.shared.clone(),
            shard,
        };
        let prev = CURRENT
            .try_with(|c| c.replace(Some(entered)))
            .ok()
            .flatten();
        TimerGuard {
            prev: Some(prev),
            _not_send: std::marker::PhantomData,
        }
    }

    /// The timer's clock.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The timer's notion of now (virtual if its clock is paused).
    pub fn now(&self) -> Instant {
        let now = self.shared.clock.now();
        self.remember(now);
        now
    }

    /// Records `now` as this thread's latest reading of this timer's clock (see [`RECENT`]).
    #[inline]
    fn remember(&self, now: Instant) {
        let id = self.shared.id;
        let _ = RECENT.try_with(|r| r.set((id, Some(now), 0)));
    }

    /// A recent reading of this timer's clock taken on this thread: a lower bound of now, for
    /// checks that may be late but never early ("is this deadline already due?"). `None` when
    /// there is none, when it belongs to another timer, or after [`RECENT_USES`] answers: then
    /// the caller reads the clock, which refreshes it. So an answer is at most that many
    /// answers old.
    #[inline]
    pub(crate) fn recent_now(&self) -> Option<Instant> {
        let id = self.shared.id;
        RECENT
            .try_with(|r| {
                let (owner, now, uses) = r.get();
                if owner != id || uses >= RECENT_USES {
                    return None;
                }
                r.set((owner, now, uses + 1));
                now
            })
            .ok()
            .flatten()
    }

    /// Whether `deadline` has passed, from [`recent_now`](Timer::recent_now) when it can say so
    /// and from the clock otherwise. `false` may be stale: a deadline reached since the recent
    /// reading is seen at the latest when the reading expires, or by the wheel when the
    /// timer registers it. `true` is always right.
    #[inline]
    pub(crate) fn reached(&self, deadline: Instant) -> bool {
        // A paused (virtual) clock is cheap to read and moves in jumps that a test expects to
        // see at once: always read it.
        if self.shared.clock.is_paused() {
            return self.now() >= deadline;
        }
        match self.recent_now() {
            Some(now) if deadline <= now => true,
            // Not reached by the recent reading: trust it only to say "not yet" cheaply.
            Some(_) => false,
            None => self.now() >= deadline,
        }
    }

    /// How many timers are waiting to fire.
    pub fn pending(&self) -> usize {
        self.shared
            .shards
            .iter()
            .map(|shard| shard.lock().pending())
            .sum()
    }

    /// The timer entered on this thread (a runtime's), or `None` outside any runtime, where
    /// [`current`](Timer::current) gives the process-wide timer.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio_timer::Timer::try_current().is_none());
    /// ```
    pub fn try_current() -> Option<Timer> {
        CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
    }

    /// Whether two handles refer to the same timer.
    pub fn ptr_eq(&self, other: &Timer) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Fires every timer that is due by this timer's clock. Runtimes do this on every turn; call
    /// it after moving a paused clock by hand.
    pub fn fire_due(&self) {
        self.shared.fire_due();
    }

    /// Pauses this timer's clock (see [`Clock::pause`]), with virtual time starting on the
    /// timer's millisecond grid (at most 1 ms ahead of real time), so that later
    /// [`advance`](Timer::advance)s land exactly on timer deadlines.
    pub fn pause(&self, auto_advance: bool) {
        let shared = &*self.shared;
        let now = Instant::now();
        let origin = shared
            .tick_instant(shared.deadline_tick(now))
            .unwrap_or(now);
        shared.clock.pause_at(origin, auto_advance);
    }

    /// Moves a paused clock forward by `by`, rounded up to whole milliseconds (the timer's
    /// resolution), and fires the timers that became due. Does nothing to a real clock.
    pub fn advance(&self, by: Duration) {
        let rounded = by.as_nanos().div_ceil(TICK.as_nanos()) * TICK.as_nanos();
        let by = u64::try_from(rounded).map_or(Duration::MAX, Duration::from_nanos);
        self.shared.clock.advance(by);
        self.shared.fire_due();
    }

    pub(crate) fn register(&self, deadline: Instant, waker: &Waker) -> Registration {
        let shared = &*self.shared;
        let when = shared.deadline_tick(deadline);
        let shard = &shared.shards[self.shard];
        let mut wheel = shard.lock();
        if shard.is_closed() {
            // This timer's runtime is gone (a handle entered after its drop): the process-wide
            // timer serves the deadline instead.
            drop(wheel);
            return global().register(deadline, waker);
        }
        let key = match wheel.insert(when, waker.clone()) {
            Ok(key) => key,
            Err(_waker) => {
                drop(wheel);
                return Registration::AlreadyDue;
            }
        };
        // The entry's slot start, not `when`: a far timer is first due for cascading at the
        // start of its (coarser) slot. An insert can only bring the next expiration forward, so
        // the published value is lowered to it if need be, without scanning the wheel (a value
        // left early by a cancel only makes the driver look once for nothing).
        let due = wheel.due_of(key);
        if due < shard.next_due.load(Ordering::Relaxed) {
            shard.next_due.store(due, Ordering::Release);
        }
        drop(wheel);
        // After the insert (see `driver.rs`'s module docs). A plain load first: this line is
        // written only when the driver parks, so reading it costs no cache-line transfer on the
        // hot path.
        if when < shared.sleeping_until.load(Ordering::SeqCst)
            && when < shared.sleeping_until.fetch_min(when, Ordering::SeqCst)
        {
            // Only the insert that lowered it interrupts the sleeper.
            if let Some(unpark) = shared.unpark.get() {
                unpark();
            }
        }
        Registration::Registered(Entry {
            shard: shard.clone(),
            key,
        })
    }
}

/// Restores the previous current timer when dropped; see [`Timer::enter`].
#[derive(Debug)]
#[must_use = "the timer stays current only while the guard is alive"]
pub struct TimerGuard {
    prev: Option<Option<Timer>>,
    /// `!Send`: the guard restores *this* thread's current timer, so it must be dropped on
    /// the thread that made it (a task holding it across an await could move to another worker).
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            let replaced = CURRENT.try_with(|c| c.replace(prev)).ok().flatten();
            drop(replaced);
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Timer>> = const { RefCell::new(None) };
    /// This thread's latest reading of a timer's clock: (the timer's identity, the reading,
    /// answers given from it). On a VM a clock read costs tens of nanoseconds, as much as the
    /// rest of a sleep's first poll; `sleep` has just read the clock to compute its deadline,
    /// so that reading answers "is it due?" instead of a second read.
    static RECENT: Cell<(u64, Option<Instant>, u32)> = const { Cell::new((0, None, 0)) };
}

/// How many answers one clock reading gives before the clock is read again.
const RECENT_USES: u32 = 32;

impl Shared {
    /// A timer's state with `shards` wheels (at least 1), reading `clock`; tick 0 is now.
    pub(crate) fn new(clock: Clock, shards: usize) -> Shared {
        let start = clock.now();
        let id = {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        };
        Shared {
            clock,
            start,
            shards: (0..shards.max(1))
                .map(|_| Arc::new(Shard::new(id)))
                .collect(),
            next_shard: AtomicUsize::new(0),
            sleeping_until: AtomicU64::new(0),
            unpark: OnceLock::new(),
            id,
        }
    }

    /// The earliest next expiration among the shards.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.shards
            .iter()
            .filter_map(|shard| shard.lock().next_expiration())
            .min()
    }

    /// The first tick at or after `deadline` (so that nothing fires early).
    pub(crate) fn deadline_tick(&self, deadline: Instant) -> u64 {
        let since = deadline.saturating_duration_since(self.start);
        // In u64 nanoseconds (584 years) rather than u128: this runs on every registration.
        since
            .as_secs()
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(u64::from(since.subsec_nanos())))
            .map_or(u64::MAX - 1, |nanos| nanos.div_ceil(TICK_NANOS))
    }

    /// The last tick that has fully passed at `now`.
    pub(crate) fn now_tick(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.start);
        u64::try_from(since.as_nanos() / TICK.as_nanos()).unwrap_or(u64::MAX - 1)
    }

    pub(crate) fn tick_instant(&self, tick: u64) -> Option<Instant> {
        let nanos = u128::from(tick) * TICK.as_nanos();
        let nanos = u64::try_from(nanos).ok()?;
        self.start.checked_add(Duration::from_nanos(nanos))
    }

    pub(crate) fn fire_due(&self) {
        let mut now = None;
        let mut fired = Vec::new();
        for shard in &*self.shards {
            let next = shard.next_due.load(Ordering::Acquire);
            if next == u64::MAX {
                continue;
            }
            // The clock is read once, and only if some shard may have something due.
            let now = *now.get_or_insert_with(|| self.now_tick(self.clock.now()));
            if now < next {
                continue;
            }
            let mut wheel = shard.lock();
            wheel.advance(now, &mut fired);
            shard.publish(&wheel);
        }
        // Woken outside the lock: a waker may do anything, including registering a timer. In
        // firing order, so that timers due at the same tick wake their tasks first in, first out.
        for waker in fired {
            waker.wake();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{Clock, TimerDriver};
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll, Wake};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn per_shard(timer: &Timer) -> Vec<usize> {
        timer
            .shared
            .shards
            .iter()
            .map(|s| s.lock().pending())
            .collect()
    }

    #[test]
    fn threads_that_enter_register_in_their_own_shard_and_everything_fires() {
        let driver = TimerDriver::with_shards(Clock::new_paused(false), 3);
        let timer = driver.timer();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let sleeps: Vec<_> = (0..3)
            .map(|_| {
                let (timer, waker) = (timer.clone(), waker.clone());
                std::thread::spawn(move || {
                    let _guard = timer.enter();
                    let mut sleep = Box::pin(crate::sleep(Duration::from_millis(5)));
                    let pending = sleep.as_mut().poll(&mut Context::from_waker(&waker));
                    assert!(pending.is_pending());
                    sleep
                })
                .join()
                .unwrap()
            })
            .collect();
        assert_eq!(per_shard(&timer), [1, 1, 1], "one timer in each shard");
        assert_eq!(timer.pending(), 3);
        assert!(driver.next_deadline().is_some());
        timer.advance(Duration::from_millis(4));
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "nothing fires early");
        timer.advance(Duration::from_millis(1));
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
        for mut sleep in sleeps {
            let ready = sleep.as_mut().poll(&mut Context::from_waker(&waker));
            assert_eq!(ready, Poll::Ready(()));
        }
        assert_eq!(timer.pending(), 0);
    }

    #[test]
    fn a_timer_registered_on_one_thread_is_cancelled_from_another() {
        let driver = TimerDriver::with_shards(Clock::new(), 2);
        let timer = driver.timer();
        let sleep = {
            let timer = timer.clone();
            std::thread::spawn(move || {
                let _first = timer.enter(); // shard 0
                let _second = timer.enter(); // shard 1
                let mut sleep = Box::pin(crate::sleep(Duration::from_secs(60)));
                let pending = sleep.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                assert!(pending.is_pending());
                sleep
            })
            .join()
            .unwrap()
        };
        assert_eq!(per_shard(&timer), [0, 1]);
        drop(sleep);
        assert_eq!(per_shard(&timer), [0, 0]);
    }
}
