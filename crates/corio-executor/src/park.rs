//! Parking: how an idle thread sleeps until there is work, and the driver interface through which
//! the timer and I/O layers plug into the executor without the executor knowing about them.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::loom_shim::lock;
use crate::loom_shim::{AtomicU8, Condvar, Mutex, unpoisoned};
use std::time::{Duration, Instant};

/// What an idle runtime thread blocks in: the timer and I/O layers, composed by the facade.
///
/// The executor calls [`park`](Driver::park) when it has nothing to run. A driver waits for I/O
/// events or the next timer, whichever comes first, wakes the wakers of whatever became ready, and
/// returns. It must return promptly, from any thread's point of view, after
/// [`DriverHandle::unpark`] is called, even if `unpark` was called *before* `park` began (the
/// notification is sticky).
///
/// Only one thread at a time parks in a runtime's driver; the others sleep on a condition variable.
///
/// # Examples
///
/// A driver that only sleeps (the executor's default when it is given none):
///
/// ```
/// use corio_executor::{Driver, DriverHandle, Runtime, ThreadParkDriver};
///
/// let driver = ThreadParkDriver::new();
/// let rt = Runtime::builder()
///     .driver(move || Ok(Box::new(driver) as Box<dyn Driver>))
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
pub trait Driver: Send + 'static {
    /// Blocks until an event, the next timer deadline, an [`unpark`](DriverHandle::unpark), or
    /// `timeout` (`None`: no limit; `Some(Duration::ZERO)`: do not block, only process what is
    /// ready).
    fn park(&mut self, timeout: Option<Duration>);

    /// A handle that other threads use to interrupt [`park`](Driver::park), and that runtime
    /// threads enter so that timers and sockets created on them register with this driver.
    fn handle(&self) -> Arc<dyn DriverHandle>;
}

/// The thread-safe side of a [`Driver`].
pub trait DriverHandle: Send + Sync + 'static {
    /// Makes the current or next [`Driver::park`] return promptly.
    fn unpark(&self);

    /// Makes this driver the current one on this thread, until the returned guard is dropped.
    ///
    /// The facade uses it to make `sleep` and sockets created on a runtime thread register with
    /// that runtime's timer and reactor.
    fn enter(&self) -> Box<dyn Any> {
        Box::new(())
    }

    /// Whether the driver has nothing that could ever wake a parked thread by itself (no timer
    /// pending, no I/O source waiting). Deterministic mode uses this to detect a stuck program.
    fn is_idle(&self) -> bool {
        false
    }

    /// Called by a busy thread of a runtime (a worker, or the thread in `block_on` between its
    /// pinned tasks) that looks for events between its tasks while another thread holds the
    /// driver (parked in it): whatever that thread's wake-up needs from this one. The
    /// facade's io_uring reactor needs it: the kernel defers the completion work of a request to
    /// the thread that submitted it, which may be this one (see
    /// `corio_reactor::Reactor::run_deferred_work`). The default does nothing.
    fn assist(&self) {}

    /// Called by each worker thread of a multi-threaded runtime as the last thing it does
    /// before it exits, once the runtime shuts down (after the tasks it held are dropped):
    /// whatever the driver must do while the thread is still alive. The facade's io_uring
    /// reactor cancels the polls the thread submitted, which the kernel would otherwise end
    /// only a few milliseconds after the thread's exit, holding their sockets open until then
    /// (see `corio_reactor::Reactor::release_thread`). The default does nothing.
    fn worker_exit(&self) {}
}

/// A [`Driver`] with no timers and no I/O: it parks the thread on a condition variable.
///
/// It is the driver of a runtime built without one, and the right choice for pure computation.
///
/// # Examples
///
/// ```
/// use corio_executor::{Driver, DriverHandle, ThreadParkDriver};
/// use std::time::Duration;
///
/// let mut driver = ThreadParkDriver::new();
/// driver.handle().unpark(); // sticky: the next park returns at once
/// driver.park(None);
/// driver.park(Some(Duration::from_millis(1))); // times out
/// ```
#[derive(Debug, Default)]
pub struct ThreadParkDriver {
    inner: Arc<ParkInner>,
}

#[derive(Debug, Default)]
struct ParkInner {
    notified: Mutex<bool>,
    condvar: Condvar,
}

impl ThreadParkDriver {
    /// Creates a driver that parks on a condition variable.
    pub fn new() -> ThreadParkDriver {
        ThreadParkDriver::default()
    }
}

impl Driver for ThreadParkDriver {
    fn park(&mut self, timeout: Option<Duration>) {
        let mut notified = lock(&self.inner.notified);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        while !*notified {
            match (timeout, deadline) {
                (Some(t), _) if t.is_zero() => break,
                (_, Some(deadline)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    notified =
                        unpoisoned(self.inner.condvar.wait_timeout(notified, deadline - now)).0;
                }
                // No timeout, or one so large that the deadline overflows: wait without limit.
                (_, None) => {
                    notified = unpoisoned(self.inner.condvar.wait(notified));
                }
            }
        }
        *notified = false;
    }

    fn handle(&self) -> Arc<dyn DriverHandle> {
        self.inner.clone()
    }
}

impl DriverHandle for ParkInner {
    fn unpark(&self) {
        *lock(&self.notified) = true;
        self.condvar.notify_one();
    }
}

const EMPTY: u8 = 0;
const PARKED_CONDVAR: u8 = 1;
const PARKED_DRIVER: u8 = 2;
const NOTIFIED: u8 = 3;

/// The per-thread parker of the multi-threaded runtime: parks in the shared driver if it is free,
/// otherwise on its own condition variable, and is woken by [`Parker::unpark`] in either case.
pub(crate) struct Parker {
    state: AtomicU8,
    mutex: Mutex<()>,
    condvar: Condvar,
}

/// The driver of a multi-threaded runtime, shared by its threads: whoever parks first takes it.
pub(crate) struct SharedDriver {
    pub(crate) driver: Mutex<Option<Box<dyn Driver>>>,
    pub(crate) handle: Arc<dyn DriverHandle>,
}

impl fmt::Debug for SharedDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedDriver").finish_non_exhaustive()
    }
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            state: AtomicU8::new(EMPTY),
            mutex: Mutex::new(()),
            condvar: Condvar::new(),
        }
    }

    /// Parks until [`unpark`](Parker::unpark) (which may already have happened), or until the
    /// driver returns by itself (an event or a timer).
    ///
    /// With `Some(driver)`, the thread parks *in* the driver when nobody else does, and so polls
    /// I/O and timers for the whole runtime. Only threads that come back to park again may do
    /// that: a thread that leaves for good (a `Runtime::block_on` that returns) while the
    /// workers sleep on their condition variables would leave nobody polling the driver. Those
    /// threads pass `None`.
    pub(crate) fn park(&self, driver: Option<&SharedDriver>) {
        self.park_with(driver, false, None);
    }

    /// As [`park`](Parker::park), but returns after `timeout` at the latest (later if the
    /// driver it parks in is slow to return), unparked or not.
    pub(crate) fn park_timeout(&self, driver: Option<&SharedDriver>, timeout: Duration) {
        self.park_with(driver, false, Some(timeout));
    }

    /// As [`park`](Parker::park) with a driver, but waits for the driver if another thread holds
    /// it, instead of sleeping on the condition variable: for a thread that must poll the
    /// driver itself, because the thread holding it may be leaving for good (a runtime shutting
    /// down, whose workers exit, while a `block_on` on this thread waits for a timer).
    pub(crate) fn park_driving(&self, driver: &SharedDriver) {
        self.park_with(Some(driver), true, None);
    }

    /// As [`park_driving`](Parker::park_driving), but returns after `timeout` at the latest
    /// (later if the driver is slow to return).
    pub(crate) fn park_driving_timeout(&self, driver: &SharedDriver, timeout: Duration) {
        self.park_with(Some(driver), true, Some(timeout));
    }

    fn park_with(
        &self,
        driver: Option<&SharedDriver>,
        wait_for_driver: bool,
        timeout: Option<Duration>,
    ) {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
        // Taken now: a wait for the driver's lock counts against the timeout (several threads
        // that waited for the driver in turn, each then parking its whole timeout in it, made a
        // shutdown's grace add up per worker: a review).
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let taken = driver.and_then(|driver| {
            if wait_for_driver {
                Some(lock(&driver.driver))
            } else {
                driver.driver.try_lock().ok()
            }
        });
        if let Some(mut d) = taken.filter(|d| d.is_some()) {
            if self
                .state
                .compare_exchange(EMPTY, PARKED_DRIVER, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                // Notified in between.
                self.state.store(EMPTY, Ordering::SeqCst);
                return;
            }
            if let Some(d) = d.as_mut() {
                d.park(deadline.map(|deadline| deadline.saturating_duration_since(Instant::now())));
            }
            self.state.store(EMPTY, Ordering::SeqCst);
            return;
        }
        let mut guard = lock(&self.mutex);
        if self
            .state
            .compare_exchange(EMPTY, PARKED_CONDVAR, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            self.state.store(EMPTY, Ordering::SeqCst);
            return;
        }
        loop {
            guard = match deadline {
                None => unpoisoned(self.condvar.wait(guard)),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        // Timed out: leave, unless notified meanwhile (then the notification
                        // is consumed by leaving too).
                        self.state.store(EMPTY, Ordering::SeqCst);
                        return;
                    }
                    unpoisoned(self.condvar.wait_timeout(guard, left)).0
                }
            };
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return;
            }
            // Spurious wake-up (or the time is up, seen above): keep waiting.
        }
    }

    /// Wakes the thread from [`park`](Parker::park), or makes its next park return at once.
    pub(crate) fn unpark(&self, driver: &SharedDriver) {
        match self.state.swap(NOTIFIED, Ordering::SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR => {
                // Taking the lock orders this notify after the parker's wait began.
                drop(lock(&self.mutex));
                self.condvar.notify_one();
            }
            PARKED_DRIVER => driver.handle.unpark(),
            _ => unreachable!("invalid parker state"),
        }
    }
}
