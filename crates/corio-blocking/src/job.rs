//! A job: the future of one closure running on the pool ([`Unblocked`]), returned by
//! [`unblock`](crate::unblock) and [`Pool::unblock`](crate::Pool::unblock).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The result of a job running on the blocking pool; returned by [`unblock`](crate::unblock) and
/// [`Pool::unblock`](crate::Pool::unblock).
///
/// Awaiting it gives the closure's return value. If the closure panicked, the panic resumes in
/// the task that awaits this future, with the original payload.
///
/// Dropping it does **not** stop the job: a thread running a closure cannot be interrupted, and a
/// job still in the queue will run all the same. Its return value is then dropped on the pool
/// thread, right after the closure returns. Nothing leaks and nothing waits for you.
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
    task: Option<async_task::Task<T>>,
}

impl<T> Unblocked<T> {
    pub(crate) fn new(task: async_task::Task<T>) -> Unblocked<T> {
        Unblocked { task: Some(task) }
    }

    /// Runs `f` now, on this thread (see the `inline` module), as a job that has finished.
    pub(crate) fn inline<F>(f: F) -> Unblocked<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Never scheduled again: the future completes in its one poll, here.
        let (runnable, task) = async_task::Builder::new()
            .propagate_panic(true)
            .spawn(move |()| async move { f() }, |_runnable| {});
        runnable.run();
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
            Some(task) => Pin::new(task).poll(cx),
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
