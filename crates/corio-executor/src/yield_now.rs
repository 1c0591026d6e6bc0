//! `yield_now`: give the thread to the other tasks once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once to the scheduler: every other ready task runs before it continues, and the
/// runtime looks at I/O and timers first (the yielded task waits aside until its worker, or
/// loop, has nothing else to run and has polled its driver, as in tokio), so a task that
/// computes for a long time and yields now and then cannot delay timers and sockets by more
/// than one stretch of its computation.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// corio_executor::run_local(async {
///     let flag = Arc::new(AtomicBool::new(false));
///     let f = flag.clone();
///     let other = corio_executor::spawn(async move { f.store(true, Ordering::SeqCst) });
///     corio_executor::yield_now().await; // `other` runs here
///     assert!(flag.load(Ordering::SeqCst));
///     other.await;
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
