//! `as_completed`: the outputs of many futures, in the order they complete.
//!
//! # Invariants
//!
//! 1. Every future given is polled inside the stream's `poll_next` (on the task that polls the
//!    stream), and only after it was woken: the work per wake is O(1), not a rescan (the futures
//!    live in [`FutureSet`], each with its own waker feeding a ready list).
//! 2. Each `poll_next` polls every future woken since the last one, not just up to the first
//!    that completes, so that all of them make progress (and start) at once, as asyncio's
//!    `as_completed` schedules them all; outputs that completed in the same `poll_next` wait in
//!    a queue inside the stream, in the order they completed.
//! 3. An output leaves the stream only in the `poll_next` that returns it: dropping a `next()`
//!    future loses nothing. A completed future is dropped before its output is queued.
//! 4. The stream ends (`None`) once every future has completed; an empty input ends at once.
//!    Dropping the stream drops the futures still running.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

use crate::set::FutureSet;

/// Runs every future concurrently and yields their outputs **in completion order**: asyncio's
/// `as_completed`, and `wait(return_when=FIRST_COMPLETED)` in a loop.
///
/// The futures run inside the stream, on the task that polls it (spawn them first, as
/// [`spawn`](corio_executor::spawn)ed tasks, to run them on other threads). Only the futures
/// that were woken are polled again, so each wake costs O(1) whatever the number of futures.
/// An empty input gives an empty stream. Dropping the stream cancels the futures still running.
///
/// The stream is `Unpin` and is `Send` when the futures (and their outputs) are.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_lite::StreamExt;
///
/// corio_executor::block_on(async {
///     let delays = [30u64, 10, 20];
///     let mut done = corio_scope::as_completed(delays.map(|ms| async move {
///         corio_timer::sleep(Duration::from_millis(ms)).await;
///         ms
///     }));
///     let mut order = Vec::new();
///     while let Some(ms) = done.next().await {
///         order.push(ms);
///     }
///     assert_eq!(order, [10, 20, 30]);
/// });
/// ```
#[track_caller]
pub fn as_completed<I>(futures: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let mut set = FutureSet::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    AsCompleted {
        set,
        done: VecDeque::new(),
    }
}

/// The stream returned by [`as_completed`].
///
/// # Examples
///
/// ```
/// use corio_scope::AsCompleted;
/// use futures_lite::StreamExt;
/// use std::future::Ready;
///
/// let mut outputs: AsCompleted<Ready<u8>> = corio_scope::as_completed([1].map(std::future::ready));
/// assert_eq!(corio_executor::run_local(outputs.next()), Some(1));
/// assert_eq!(corio_executor::run_local(outputs.next()), None);
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F: Future> {
    set: FutureSet<F>,
    /// Outputs completed and not yet returned, in completion order.
    done: VecDeque<F::Output>,
}

impl<F: Future> AsCompleted<F> {
    /// The number of outputs still to come.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio_scope::as_completed((1..=2).map(|i| async move { i }));
    /// assert_eq!(s.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.set.len() + self.done.len()
    }

    /// Whether every output has been returned (or there were no futures).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio_scope::as_completed(Vec::<std::future::Ready<()>>::new());
    /// assert!(s.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// The futures are boxed inside the set; nothing here is structurally pinned.
impl<F: Future> Unpin for AsCompleted<F> {}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = &mut *self;
        if this.done.is_empty() && this.set.is_empty() {
            // Finished: ready on every poll, so, like a queue or a socket, it spends the task's
            // cooperative budget, and a loop over it still lets a deadline behind it fire.
            return corio_coop::poll_proceed(cx).map(|()| None);
        }
        // Poll every woken future. A first `Pending` from the set may only mean that it finished
        // the batch of wakes it had taken; the second call takes the wakes queued since (some of
        // which may have gone to an earlier caller's waker), so none waits unseen.
        let mut pending = 0;
        while pending < 2 {
            match this.set.poll_next(cx) {
                Poll::Ready(Some((_, output))) => this.done.push_back(output),
                Poll::Ready(None) => break,
                Poll::Pending => pending += 1,
            }
        }
        match this.done.pop_front() {
            Some(output) => Poll::Ready(Some(output)),
            None if this.set.is_empty() => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<F: Future> FusedStream for AsCompleted<F> {
    fn is_terminated(&self) -> bool {
        self.is_empty()
    }
}

impl<F: Future> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("running", &self.set.len())
            .field("completed", &self.done.len())
            .finish()
    }
}
