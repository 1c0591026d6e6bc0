//! hyper's runtime traits on corio: [`CorioExecutor`], [`CorioTimer`] and [`CorioSleep`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use corio::time::Sleep;

/// hyper's [`Executor`](hyper::rt::Executor) on corio: every future hyper hands over (an
/// HTTP/2 stream, a client connection's background work) becomes a detached corio task.
///
/// It spawns with [`corio::spawn`], so on the runtime the caller is running on, or on corio's
/// global runtime outside any. A panic in such a task is reported by corio, not lost; the
/// report's spawn location is this adapter's `execute` (hyper spawned the task, from inside
/// hyper), and the task has no name (a name would cost every task an allocation).
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor;
///
/// corio::run(async {
///     let (tx, rx) = corio::sync::oneshot::channel();
///     corio_compat::CorioExecutor.execute(async move {
///         tx.send("ran on corio").unwrap();
///     });
///     assert_eq!(rx.await.unwrap(), "ran on corio");
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CorioExecutor;

impl<F> hyper::rt::Executor<F> for CorioExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        corio::spawn(future).detach();
    }
}

/// hyper's [`Timer`](hyper::rt::Timer) on corio's timers: give it to a connection builder
/// (`.timer(CorioTimer)`) and hyper's timeouts, such as the HTTP/1 server's
/// `header_read_timeout`, run on corio's timing wheel.
///
/// Deadlines and [`now`](hyper::rt::Timer::now) come from the current runtime's clock, so a
/// paused or virtual clock (deterministic tests) drives hyper's timeouts too. A reset moves the
/// existing timer instead of allocating a new one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hyper::rt::Timer;
///
/// corio::run(async {
///     let start = std::time::Instant::now();
///     corio_compat::CorioTimer.sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CorioTimer;

impl hyper::rt::Timer for CorioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CorioSleep::new(corio::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CorioSleep::new(corio::sleep_until(deadline)))
    }

    fn now(&self) -> Instant {
        corio::time::now()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<CorioSleep>() {
            Some(ours) => ours.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A corio [`Sleep`] as a [`hyper::rt::Sleep`]: what [`CorioTimer`] hands to hyper.
///
/// # Examples
///
/// ```
/// use std::pin::pin;
/// use std::time::{Duration, Instant};
/// use corio_compat::CorioSleep;
///
/// corio::run(async {
///     let mut sleep = pin!(CorioSleep::new(corio::sleep(Duration::from_secs(3600))));
///     sleep.as_mut().reset(Instant::now() + Duration::from_millis(5));
///     sleep.as_mut().await; // done in 5 ms, not an hour
///     assert!(sleep.is_elapsed());
/// });
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct CorioSleep {
    inner: Sleep,
}

impl CorioSleep {
    /// Wraps a corio sleep (from [`corio::sleep`] or [`corio::sleep_until`]).
    pub fn new(inner: Sleep) -> CorioSleep {
        CorioSleep { inner }
    }

    /// Moves the deadline; the sleep is pending again even if it had completed.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        Pin::new(&mut self.get_mut().inner).reset(deadline);
    }

    /// The deadline, or `None` for a sleep that never ends.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline()
    }

    /// Whether the deadline was reached (as seen by the last poll).
    pub fn is_elapsed(&self) -> bool {
        self.inner.is_elapsed()
    }

    /// Unwraps the corio sleep.
    pub fn into_inner(self) -> Sleep {
        self.inner
    }
}

impl Future for CorioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().inner).poll(cx)
    }
}

impl hyper::rt::Sleep for CorioSleep {}
