//! The getting side of a queue as a `Stream`.
//!
//! # Invariants
//!
//! 1. A `QueueStream` is an owned `get` that stays registered between polls: it keeps the waiter
//!    node of the `get` it is waiting in (the same node a [`Get`](crate::Get) future holds), so
//!    it keeps its place in the getters' line across polls and wakes.
//! 2. An item leaves the queue only in the `poll_next` that returns it (invariant 1 of the
//!    queue core). Dropping a `next()` future loses nothing: the stream keeps its node. Dropping
//!    the stream drops the node exactly as a dropped `get` does: a wake-up (or, in a rendezvous
//!    queue, an item handed to it) passes on to the next getter.
//! 3. The stream ends (`None`) when a `get` would fail: the queue is closed and has no items
//!    left. It stays ended.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

use crate::queue_core::Shared;

/// The items of a queue as a [`Stream`], from [`Queue::stream`](crate::Queue::stream) (and the
/// same method of [`LifoQueue`](crate::LifoQueue) and [`PriorityQueue`](crate::PriorityQueue)).
///
/// Each `poll_next` is a `get`: it yields items in the queue's order and ends once the queue is
/// closed and empty. Several streams (and plain `get`s) on one queue share the items, each item
/// going to exactly one of them. Cancel-safe: a dropped `next()` or stream never loses an item.
///
/// A stream that returned `Pending` keeps its place in the getters' line until it is polled
/// again or dropped, also when the `next()` future that polled it is dropped (the losing arm of
/// a `select!`): the next item put is kept for it, and every other getter, a `get` of the same
/// task included, waits behind it. Drop a stream you stop polling; in a `select!` loop whose
/// other arms may win, `q.get()` as the arm leaves the line when the arm loses.
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
///
/// # futures_lite::future::block_on(async {
/// let q = corio_sync::Queue::unbounded();
/// for job in ["a", "b", "c"] {
///     q.try_put(job).unwrap();
/// }
/// q.close();
/// let jobs: Vec<_> = q.stream().collect().await;
/// assert_eq!(jobs, ["a", "b", "c"]);
/// # });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct QueueStream<T> {
    shared: Arc<Shared<T>>,
    /// The waiter node of the `get` in progress.
    key: Option<usize>,
    done: bool,
}

impl<T> QueueStream<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>) -> QueueStream<T> {
        QueueStream {
            shared,
            key: None,
            done: false,
        }
    }
}

// Nothing is pinned: the item moves by value, the node lives in the queue.
impl<T> Unpin for QueueStream<T> {}

impl<T> Stream for QueueStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.shared.poll_get_keyed(&mut this.key, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(item)) => Poll::Ready(Some(item)),
            Poll::Ready(Err(_closed)) => {
                this.done = true;
                Poll::Ready(None)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done { (0, Some(0)) } else { (0, None) }
    }
}

impl<T> FusedStream for QueueStream<T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for QueueStream<T> {
    fn drop(&mut self) {
        self.shared.drop_get_keyed(self.key.take());
    }
}

impl<T> fmt::Debug for QueueStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueStream")
            .field("waiting", &self.key.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
