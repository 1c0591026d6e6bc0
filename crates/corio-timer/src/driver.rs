//! The timer: wheels behind mutexes, a clock, and the hooks a runtime's driver uses.
//!
//! # Shards
//!
//! A timer has one or more *shards*, each a wheel behind its own lock on a cache line of its
//! own. A thread registers in the shard it was given when it entered the timer ([`Timer::enter`]
//! hands shards out in turn), so the workers of a multi-threaded runtime do not contend for one
//! lock, or even one cache line, on every `timeout`. A registration keeps a reference to its
//! shard, so it can be polled and cancelled from any thread. The driver fires every shard.
//!
//! # Not sleeping past a timer
//!
//! `sleeping_until` holds the tick at which the thread parked in the driver wakes by itself.
//! The driver sets it to "never" *before* it reads the shards' next expirations, then lowers it
//! to the earliest one it found. A registration inserts under its shard's lock, then reads
//! `sleeping_until` and interrupts the sleeper if its timer is due earlier. Either the driver
//! read the shard after the insert (and sleeps no later than the new timer), or the insert came
//! after that read, hence after the "never", and the registration interrupts the sleep.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, OnceLock};

use crate::sync::{AtomicU64, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::wheel::{EntryPoll, Wheel};

/// One tick of the wheel.
pub(crate) const TICK: Duration = Duration::from_millis(1);
const TICK_NANOS: u64 = TICK.as_nanos() as u64;

/// How many wakers are woken per batch, so the wheel lock is never held while waking.
const WAKE_BATCH: usize = 64;

type Unpark = Arc<dyn Fn() + Send + Sync>;

pub(crate) struct Shared {
    clock: Clock,
    /// Tick 0 of the wheels.
    start: Instant,
    shards: Box<[Arc<Shard>]>,
    /// The shard the next thread to enter gets (modulo the shard count).
    next_shard: AtomicUsize,
    /// The tick at which the thread parked in this timer's driver will wake by itself; an
    /// insert due earlier must unpark it. 0 while nobody sleeps on it (whoever parks next looks
    /// at the wheels first), `u64::MAX` while a thread sleeps with no timer to wake it.
    sleeping_until: AtomicU64,
    unpark: OnceLock<Unpark>,
}

/// One wheel of a timer (see the module docs), aligned so that shards share no cache line.
#[repr(align(128))]
pub(crate) struct Shard {
    wheel: Mutex<Wheel>,
    /// The wheel's next expiration (the earliest tick at which advancing it does anything;
    /// `u64::MAX`: never), kept under the wheel lock. It may be early (a cancelled timer) but
    /// never late, so [`Shared::fire_due`] can skip the lock, and even the clock read, when
    /// nothing can be due: a busy runtime checks timers every few dozen task polls.
    next_due: AtomicU64,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            wheel: Mutex::new(Wheel::new()),
            next_due: AtomicU64::new(u64::MAX),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Wheel> {
        self.wheel.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes the wheel's next expiration; call with the lock held.
    fn publish(&self, wheel: &Wheel) {
        let next = wheel.next_expiration().unwrap_or(u64::MAX);
        if self.next_due.load(Ordering::Relaxed) != next {
            self.next_due.store(next, Ordering::Release);
        }
    }
}

/// A registered timer: its shard and its key there. Polled and cancelled from any thread.
pub(crate) struct Entry {
    shard: Arc<Shard>,
    key: usize,
}

impl Entry {
    /// Returns `true` if the entry fired (and frees it); otherwise updates its waker.
    pub(crate) fn poll(&self, waker: &Waker) -> bool {
        self.shard.lock().poll(self.key, waker) == EntryPoll::Fired
    }

    pub(crate) fn cancel(self) {
        let waker = self.shard.lock().remove(self.key);
        drop(waker);
    }
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
    shared: Arc<Shared>,
    /// The shard this handle registers in.
    shard: usize,
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
        let mut f = Some(f);
        let done = CURRENT.try_with(|c| {
            c.borrow()
                .as_ref()
                .map(|t| (f.take().expect("called once"))(t))
        });
        match done {
            Ok(Some(r)) => r,
            _ => (f.take().expect("called once"))(global()),
        }
    }

    /// The current timer's notion of now. Outside of any timer this is the real clock (the global
    /// timer's clock), read without starting the global timer's thread.
    pub(crate) fn current_now() -> Instant {
        CURRENT
            .try_with(|c| c.borrow().as_ref().map(Timer::now))
            .ok()
            .flatten()
            .unwrap_or_else(Instant::now)
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
        self.shared.clock.now()
    }

    /// How many timers are waiting to fire.
    pub fn pending(&self) -> usize {
        self.shared
            .shards
            .iter()
            .map(|shard| shard.lock().pending())
            .sum()
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
        // After the insert (see the module docs). A plain load first: this line is written only
        // when the driver parks, so reading it costs no cache-line transfer on the hot path.
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
}

impl Shared {
    /// The earliest next expiration among the shards.
    fn next_expiration(&self) -> Option<u64> {
        self.shards
            .iter()
            .filter_map(|shard| shard.lock().next_expiration())
            .min()
    }

    /// The first tick at or after `deadline` (so that nothing fires early).
    fn deadline_tick(&self, deadline: Instant) -> u64 {
        let since = deadline.saturating_duration_since(self.start);
        // In u64 nanoseconds (584 years) rather than u128: this runs on every registration.
        since
            .as_secs()
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(u64::from(since.subsec_nanos())))
            .map_or(u64::MAX - 1, |nanos| nanos.div_ceil(TICK_NANOS))
    }

    /// The last tick that has fully passed at `now`.
    fn now_tick(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.start);
        u64::try_from(since.as_nanos() / TICK.as_nanos()).unwrap_or(u64::MAX - 1)
    }

    fn tick_instant(&self, tick: u64) -> Option<Instant> {
        let nanos = u128::from(tick) * TICK.as_nanos();
        let nanos = u64::try_from(nanos).ok()?;
        self.start.checked_add(Duration::from_nanos(nanos))
    }

    fn fire_due(&self) {
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
        // Woken outside the lock: a waker may do anything, including registering a timer.
        while !fired.is_empty() {
            let at = fired.len().saturating_sub(WAKE_BATCH);
            for waker in fired.drain(at..) {
                waker.wake();
            }
        }
    }
}

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
        let start = clock.now();
        TimerDriver {
            timer: Timer {
                shared: Arc::new(Shared {
                    clock,
                    start,
                    shards: (0..shards.max(1)).map(|_| Arc::new(Shard::new())).collect(),
                    next_shard: AtomicUsize::new(0),
                    sleeping_until: AtomicU64::new(0),
                    unpark: OnceLock::new(),
                }),
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
    fn drop(&mut self) {
        for shard in &*self.timer.shared.shards {
            let wakers = shard.lock().clear_wakers();
            drop(wakers);
        }
    }
}

/// The process-wide timer used outside of any runtime, driven by the `corio-timer` thread.
fn global() -> &'static Timer {
    static GLOBAL: OnceLock<Timer> = OnceLock::new();
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
