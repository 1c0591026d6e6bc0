//! A job: the future of one closure running on the pool ([`Unblocked`]), returned by
//! [`unblock`](crate::unblock) and [`Pool::unblock`](crate::Pool::unblock).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::FutureExt;

/// What a job that nobody awaits ended with, handed to its report (see
/// [`unblock_reporting`](crate::unblock_reporting)).
#[derive(Debug)]
#[non_exhaustive]
pub enum Unobserved {
    /// The closure panicked: the payload.
    Panicked(Box<dyn Any + Send>),
    /// The closure returned, and dropping its value (which nobody took) panicked: the payload.
    DropPanicked(Box<dyn Any + Send>),
}

/// Where a job reports what nobody will observe.
pub(crate) type Report = Box<dyn FnOnce(Unobserved) + Send>;

/// Reports what nobody will observe on stderr, catching a panic of the payload's destructor.
pub(crate) fn report_unobserved(unobserved: Unobserved) {
    let _ = catch_unwind(AssertUnwindSafe(move || report_on_stderr(unobserved)));
}

/// The default report: one line on stderr, as std prints a panic.
fn report_on_stderr(unobserved: Unobserved) {
    let (what, payload) = match &unobserved {
        Unobserved::Panicked(p) => ("a blocking-pool job panicked and nobody awaited it", p),
        Unobserved::DropPanicked(p) => (
            "dropping the value of a blocking-pool job that nobody awaited panicked",
            p,
        ),
    };
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    eprintln!("corio-blocking: {what}: {message}");
}

/// A job's outcome on its way to its awaiter.
///
/// If nobody takes it (the [`Unblocked`] was dropped), async-task drops it inside its `run`,
/// where a panic aborts the process. So the closure's panic is caught where it happens (instead
/// of async-task's `propagate_panic`), and this destructor drops an untaken value under
/// `catch_unwind`: a panic of the closure or of the value's destructor goes to the job's
/// report, never to an abort.
pub(crate) struct Delivery<T> {
    outcome: Option<std::thread::Result<T>>,
    report: Option<Report>,
}

impl<T> Delivery<T> {
    /// The job: `future`, its panics caught.
    pub(crate) async fn job<F>(future: F, report: Option<Report>) -> Delivery<T>
    where
        F: Future<Output = T>,
    {
        let outcome = AssertUnwindSafe(future).catch_unwind().await;
        Delivery {
            outcome: Some(outcome),
            report,
        }
    }

    fn take(mut self) -> T {
        match self.outcome.take() {
            Some(Ok(value)) => value,
            Some(Err(payload)) => resume_unwind(payload),
            None => unreachable!("a delivery is taken once"),
        }
    }
}

impl<T> Drop for Delivery<T> {
    fn drop(&mut self) {
        let Some(outcome) = self.outcome.take() else {
            return;
        };
        let unobserved = match outcome {
            Err(payload) => Unobserved::Panicked(payload),
            Ok(value) => match catch_unwind(AssertUnwindSafe(move || drop(value))) {
                Ok(()) => return,
                Err(payload) => Unobserved::DropPanicked(payload),
            },
        };
        let report = self.report.take();
        // A report hook that panics is caught as well: we may be inside async-task's `run`.
        let _ = catch_unwind(AssertUnwindSafe(move || match report {
            Some(report) => report(unobserved),
            None => report_on_stderr(unobserved),
        }));
    }
}

/// The result of a job running on the blocking pool; returned by [`unblock`](crate::unblock) and
/// [`Pool::unblock`](crate::Pool::unblock).
///
/// Awaiting it gives the closure's return value. If the closure panicked, the panic resumes in
/// the task that awaits this future, with the original payload.
///
/// Dropping it does **not** stop the job: a thread running a closure cannot be interrupted, and a
/// job still in the queue will run all the same. Its return value is then dropped on the pool
/// thread, right after the closure returns. Nothing leaks and nothing waits for you. A panic
/// nobody will see then (of the closure, or of that value's destructor) is reported, one line on
/// stderr or the report given to [`unblock_reporting`](crate::unblock_reporting); it never aborts
/// the process.
///
/// # Examples
///
/// ```
/// use corio_blocking::unblock;
///
/// # futures_lite::future::block_on(async {
/// let job = unblock(|| std::fs::metadata(std::env::temp_dir()));
/// // ... other work while the pool runs the job ...
/// let meta = job.await?;
/// assert!(meta.is_dir());
///
/// // A panic in the job resumes in the awaiter.
/// let failed = std::panic::AssertUnwindSafe(unblock(|| -> u8 { panic!("no") }));
/// use futures_lite::FutureExt;
/// assert!(failed.catch_unwind().await.is_err());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[must_use = "the job runs anyway, but its result (and any panic) is lost unless you .await it"]
pub struct Unblocked<T> {
    task: Option<async_task::Task<Delivery<T>>>,
}

impl<T> Unblocked<T> {
    pub(crate) fn new(task: async_task::Task<Delivery<T>>) -> Unblocked<T> {
        Unblocked { task: Some(task) }
    }

    /// Runs `f` now, on this thread (see the `inline` module), as a job that has finished.
    pub(crate) fn inline<F>(f: F, report: Option<Report>) -> Unblocked<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Never scheduled again: the future completes in its one poll, here.
        let (runnable, task) = async_task::Builder::new().spawn(
            move |()| Delivery::job(async move { f() }, report),
            |_runnable| {},
        );
        crate::inline::run_inline_job(|| runnable.run());
        Unblocked::new(task)
    }

    /// Whether the job has finished (returned or panicked), so that awaiting would not wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let job = corio_blocking::unblock(|| 2 + 2);
    /// while !job.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(futures_lite::future::block_on(job), 4);
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(async_task::Task::is_finished)
    }
}

impl<T> Future for Unblocked<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.task.as_mut() {
            Some(task) => match Pin::new(task).poll(cx) {
                Poll::Ready(delivery) => {
                    self.task = None;
                    Poll::Ready(delivery.take())
                }
                Poll::Pending => Poll::Pending,
            },
            None => panic!("`Unblocked` polled after it completed"),
        }
    }
}

impl<T> Drop for Unblocked<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Dropping an `async_task::Task` would cancel a job that has not started yet; detach
            // instead, so that every submitted job runs exactly once.
            task.detach();
        }
    }
}

impl<T> fmt::Debug for Unblocked<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unblocked")
            .field("finished", &self.is_finished())
            .finish()
    }
}
