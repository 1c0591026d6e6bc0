//! The queue core shared by `Queue`, `LifoQueue` and `PriorityQueue`.
//!
//! # State
//!
//! One lock per queue guards the items, the counters and three waiter lines: getters (waiting for
//! an item), putters (waiting for space, or, in a rendezvous queue, offering their item) and
//! joiners (waiting for the unfinished count to reach zero).
//!
//! # Invariants
//!
//! 1. An item enters the queue only in the poll of the `put` that returns `Ready(Ok)`, and leaves
//!    it only in the poll of the `get` that returns it (or through `try_get`/`close_now`). A
//!    future that is dropped never holds a slot and never takes an item with it.
//! 2. Each item added wakes one waiting getter, and each slot freed wakes one waiting putter. A
//!    woken waiter that finds nothing (somebody else was faster) goes back to the *front* of its
//!    line. A woken waiter that is dropped before it looks passes its wake-up on to the next one in
//!    line when there is something to take (asyncio's bpo-23812 fix). So no waiter sleeps while
//!    what it waits for is there for it, unless another woken waiter is about to take it.
//! 3. `unfinished` counts items put and not yet marked done; `join` completes when it reaches zero.
//!    A joiner woken at zero completes even if new items arrive before it runs (asyncio's `join`).
//!
//! # Rendezvous (`bounded(0)`)
//!
//! A rendezvous queue has no buffer slots: a put completes only by handing its item to a waiting
//! get. The hand-over happens in the *putter's* poll, the one that returns `Ready(Ok)`: it moves
//! the item into the node of the first getter in line and wakes it. That is the only way to keep
//! cancellation exact on both sides. If a get could take an offer out of a waiting put, a put
//! dropped after that (by a timeout, say) would have delivered its item without its caller ever
//! learning so, and a caller that retries would deliver it twice.
//!
//! 4. A waiting put holds its item in its node as an *offer*, so that getters can pick the offer
//!    that comes first in the queue's order. A get that starts waiting *chooses* one offer (the
//!    first for FIFO, the last for LIFO, the smallest for a priority queue) by waking its putter,
//!    as long as there are more getters in line than chosen putters. A chosen putter hands its
//!    item to the first getter in line; if none is left it goes back to the front of its line. A
//!    new put hands over at once only if there are more getters in line than chosen putters, so
//!    it never overtakes an offer that was chosen before it.
//! 5. A dropped put never delivered its item: the offer is dropped with it. A chosen put that is
//!    dropped lets the next offer be chosen.
//! 6. A get that is dropped after an item was handed to it passes the item to the next getter in
//!    line or, when there is none, puts it in the buffer, where the next get finds it. So a
//!    handed item is never lost, and a rendezvous queue's `len` may briefly be 1. `close_now`
//!    takes handed items out of the gets' nodes too; after `close`, see invariant 7. It is the one
//!    exception to FIFO order: puts that came after may already have handed their items to other
//!    gets, which may have returned them, so the passed-on item can come out after items put
//!    later (even to the same consumer). Keeping it in order would need the put to complete in
//!    the get's poll, which makes a dropped put's outcome unknowable (see above), or one
//!    hand-over at a time; exact cancellation is the guarantee kept.
//! 7. `handed` counts the gets holding a handed item. After `close`, a get finds the queue
//!    closed (and fails) only when the buffer is empty *and* `handed` is 0: a handed item can
//!    still come back from a dropped get, and it must find a get waiting for it, not consumers
//!    that already stopped at their first failure. When the last handed item is returned after
//!    `close`, the gets waiting for it are woken, and fail.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::buffer::{Buffer, Order};
use crate::coop;
use crate::loom_shim::{Mutex, lock};
use crate::waitlist::{HasSpare, WaitList, Wakers, return_spare};
use crate::{GetError, PutError, TaskDoneError, TryGetError, TryPutError};

#[derive(Debug)]
pub(crate) struct Shared<T> {
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    buf: Buffer<T>,
    /// The capacity of a bounded queue; 0 makes it a rendezvous queue.
    cap: usize,
    bounded: bool,
    closed: bool,
    unfinished: usize,
    /// Waiting getters. In a rendezvous queue the payload is the item a putter handed over.
    getters: WaitList<Option<T>>,
    /// Waiting putters. In a rendezvous queue the payload is the offered item while the put waits.
    putters: WaitList<Option<T>>,
    joiners: WaitList<()>,
    /// Rendezvous: gets holding an item a put handed them, not yet returned (invariant 7).
    handed: usize,
    spare: Vec<Waker>,
}

impl<T> HasSpare for State<T> {
    fn spare(&mut self) -> &mut Vec<Waker> {
        &mut self.spare
    }
}

impl<T> State<T> {
    #[inline]
    fn is_rendezvous(&self) -> bool {
        self.bounded && self.cap == 0
    }

    #[inline]
    fn has_space(&self) -> bool {
        !self.bounded || self.buf.len() < self.cap
    }

    /// Whether a get could take an item now.
    #[inline]
    fn has_item(&self) -> bool {
        self.buf.len() > 0
    }

    /// Rendezvous: whether a putter may hand over now without overtaking a chosen putter (more
    /// getters wait in line than putters were chosen for them).
    #[inline]
    fn getter_unclaimed(&self) -> bool {
        self.getters.linked_len() > self.putters.notified_len()
    }

    /// Rendezvous: hands `item` to the first getter in line; returns the getter to wake, or the
    /// item back when nobody waits.
    fn hand_over(&mut self, item: T) -> Result<Option<Waker>, T> {
        let Some(head) = self.getters.head() else {
            return Err(item);
        };
        self.getters.node_mut(head).payload = Some(item);
        self.handed += 1;
        self.unfinished = self.unfinished.saturating_add(1);
        Ok(self.getters.notify(head))
    }

    /// Rendezvous: when more getters wait than putters were chosen, chooses the next offer and
    /// returns its putter to wake.
    fn choose_offer(&mut self) -> Option<Waker> {
        if !self.is_rendezvous() || self.closed || !self.getter_unclaimed() {
            return None;
        }
        let key = self.next_offer()?;
        self.putters.notify(key)
    }

    /// The offer a getter chooses next, in the queue's order (among putters still in line).
    fn next_offer(&self) -> Option<usize> {
        match self.buf.order() {
            Order::Fifo => self.putters.head(),
            Order::Lifo => self.putters.tail(),
            Order::Priority => self.putters.keys().reduce(|best, key| {
                match (
                    &self.putters.node(key).payload,
                    &self.putters.node(best).payload,
                ) {
                    (Some(candidate), Some(current)) if self.buf.before(candidate, current) => key,
                    _ => best,
                }
            }),
        }
    }

    /// Stores an item; returns the getter to wake.
    #[inline(always)]
    fn push(&mut self, item: T) -> Option<Waker> {
        self.buf.push(item);
        self.unfinished = self.unfinished.saturating_add(1);
        self.getters.notify_head()
    }

    /// Takes the next item; returns it and the putter to wake.
    #[inline(always)]
    fn take(&mut self) -> Result<(T, Option<Waker>), TryGetError> {
        if let Some(item) = self.buf.pop() {
            // In a rendezvous queue the buffer only holds items that dropped getters gave back;
            // taking one frees no slot.
            let putter = if self.bounded && !self.is_rendezvous() {
                self.putters.notify_head()
            } else {
                None
            };
            return Ok((item, putter));
        }
        // Invariant 7: after close, a handed item may still come back from a dropped get.
        if self.closed && self.handed == 0 {
            Err(TryGetError::Closed)
        } else {
            Err(TryGetError::Empty)
        }
    }

    /// Marks the queue closed and wakes every getter and putter.
    fn close(&mut self, wakers: &mut Wakers) {
        self.closed = true;
        // Items handed to getters stay in their nodes: each getter still returns its item.
        self.getters.notify_all(wakers, |_| {});
        // Rendezvous offers stay in their nodes: each putter takes its item back as an error.
        self.putters.notify_all(wakers, |_| {});
    }

    fn finish(&mut self, done: usize, wakers: &mut Wakers) {
        self.unfinished = self.unfinished.saturating_sub(done);
        if self.unfinished == 0 {
            self.joiners.notify_all(wakers, |()| {});
        }
    }
}

impl<T> Shared<T> {
    pub(crate) fn new(buf: Buffer<T>, capacity: Option<usize>) -> Self {
        Self {
            state: Mutex::new(State {
                buf,
                cap: capacity.unwrap_or(usize::MAX),
                bounded: capacity.is_some(),
                closed: false,
                unfinished: 0,
                getters: WaitList::new(),
                putters: WaitList::new(),
                joiners: WaitList::new(),
                handed: 0,
                spare: Vec::new(),
            }),
        }
    }

    pub(crate) fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut st = lock(&self.state);
        if st.closed {
            return Err(TryPutError::Closed(item));
        }
        if st.is_rendezvous() {
            if !st.getter_unclaimed() {
                return Err(TryPutError::Full(item));
            }
            let getter = st.hand_over(item).map_err(TryPutError::Full)?;
            drop(st);
            wake(getter);
            return Ok(());
        }
        if !st.has_space() {
            return Err(TryPutError::Full(item));
        }
        let getter = st.push(item);
        drop(st);
        wake(getter);
        Ok(())
    }

    pub(crate) fn try_get(&self) -> Result<T, TryGetError> {
        let mut st = lock(&self.state);
        let (item, putter) = st.take()?;
        drop(st);
        wake(putter);
        Ok(item)
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.state).buf.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        !lock(&self.state).has_space()
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        let st = lock(&self.state);
        st.bounded.then_some(st.cap)
    }

    pub(crate) fn unfinished(&self) -> usize {
        lock(&self.state).unfinished
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut st = lock(&self.state);
        if st.unfinished == 0 {
            return Err(TaskDoneError);
        }
        if st.unfinished > 1 {
            st.unfinished -= 1;
            return Ok(());
        }
        let mut wakers = Wakers::with_spare(&mut st.spare);
        st.finish(1, &mut wakers);
        drop(st);
        return_spare(&self.state, wakers.wake());
        Ok(())
    }

    pub(crate) fn close(&self) {
        let mut st = lock(&self.state);
        let mut wakers = Wakers::with_spare(&mut st.spare);
        st.close(&mut wakers);
        drop(st);
        return_spare(&self.state, wakers.wake());
    }

    pub(crate) fn close_now(&self) -> Vec<T> {
        let mut st = lock(&self.state);
        let mut wakers = Wakers::with_spare(&mut st.spare);
        st.close(&mut wakers);
        // Rendezvous: items handed to gets that have not returned them yet are still in the
        // queue (invariant 1); they come out with the rest, and those gets then fail.
        if st.is_rendezvous() {
            let State { getters, buf, .. } = &mut *st;
            for payload in getters.payloads_mut() {
                if let Some(item) = payload.take() {
                    buf.push(item);
                }
            }
            st.handed = 0;
        }
        let items = st.buf.drain_in_order();
        st.finish(items.len(), &mut wakers);
        drop(st);
        return_spare(&self.state, wakers.wake());
        items
    }

    pub(crate) fn put(&self, item: T) -> Put<'_, T> {
        Put {
            shared: self,
            item: Some(item),
            key: None,
        }
    }

    pub(crate) fn get(&self) -> Get<'_, T> {
        Get {
            shared: self,
            key: None,
        }
    }

    pub(crate) fn join(&self) -> Join<'_, T> {
        Join {
            shared: self,
            key: None,
        }
    }

    /// A `get` whose waiter key lives outside the future (for the owned `QueueStream`): polls
    /// exactly as [`Get`] does, with the same key.
    pub(crate) fn poll_get_keyed(
        &self,
        key: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, GetError>> {
        let mut get = Get {
            shared: self,
            key: key.take(),
        };
        let polled = Pin::new(&mut get).poll(cx);
        *key = get.key.take();
        polled
    }

    /// Drops a keyed `get` exactly as dropping [`Get`] does.
    pub(crate) fn drop_get_keyed(&self, key: Option<usize>) {
        drop(Get { shared: self, key });
    }
}

#[inline]
fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The future returned by a queue's `put`.
///
/// It holds the item until the queue accepts it. Dropping it drops the item (if not yet accepted)
/// and leaves no slot taken; a wake-up it received goes on to the next waiting putter.
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T> {
    shared: &'a Shared<T>,
    item: Option<T>,
    key: Option<usize>,
}

// The item is never pinned: it is moved in and out by value.
impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), PutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if coop::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let mut st = lock(&this.shared.state);
        if st.is_rendezvous() {
            return this.poll_offer(st, cx);
        }
        if let Some(key) = this.key {
            if !st.putters.node(key).is_notified() {
                let stale = st.putters.update_waker(key, cx.waker());
                drop(st);
                drop(stale);
                return Poll::Pending;
            }
        }
        let Some(item) = this.item.take() else {
            // Polled after completion.
            return Poll::Ready(Ok(()));
        };
        if st.closed {
            if let Some(key) = this.key.take() {
                st.putters.remove(key);
            }
            return Poll::Ready(Err(PutError(item)));
        }
        if !st.has_space() {
            this.item = Some(item);
            match this.key {
                Some(key) => st.putters.relink_front(key, cx.waker()),
                None => this.key = Some(st.putters.push_back(cx.waker(), None)),
            }
            return Poll::Pending;
        }
        if let Some(key) = this.key.take() {
            st.putters.remove(key);
        }
        let getter = st.push(item);
        drop(st);
        wake(getter);
        coop::spend(cx);
        Poll::Ready(Ok(()))
    }
}

impl<T> Put<'_, T> {
    /// A rendezvous put: hand the item to a waiting getter, or offer it and wait to be chosen.
    fn poll_offer(
        &mut self,
        mut st: crate::loom_shim::MutexGuard<'_, State<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), PutError<T>>> {
        let (item, chosen) = match self.key {
            None => {
                let Some(item) = self.item.take() else {
                    // Polled after completion.
                    return Poll::Ready(Ok(()));
                };
                (item, false)
            }
            Some(key) => {
                if !st.putters.node(key).is_notified() {
                    let stale = st.putters.update_waker(key, cx.waker());
                    drop(st);
                    drop(stale);
                    return Poll::Pending;
                }
                let Some(item) = st.putters.node_mut(key).payload.take() else {
                    unreachable!("a waiting rendezvous put holds its offer");
                };
                (item, true)
            }
        };
        if st.closed {
            if let Some(key) = self.key.take() {
                st.putters.remove(key);
            }
            return Poll::Ready(Err(PutError(item)));
        }
        // A chosen putter hands over to whoever waits; a new one must not overtake chosen ones.
        let may_hand = if chosen {
            !st.getters.is_empty()
        } else {
            st.getter_unclaimed()
        };
        let item = if may_hand {
            match st.hand_over(item) {
                Ok(getter) => {
                    if let Some(key) = self.key.take() {
                        st.putters.remove(key);
                    }
                    drop(st);
                    wake(getter);
                    coop::spend(cx);
                    return Poll::Ready(Ok(()));
                }
                Err(item) => item,
            }
        } else {
            item
        };
        match self.key {
            Some(key) => {
                st.putters.node_mut(key).payload = Some(item);
                st.putters.relink_front(key, cx.waker());
            }
            None => self.key = Some(st.putters.push_back(cx.waker(), Some(item))),
        }
        Poll::Pending
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut st = lock(&self.shared.state);
        let node = st.putters.remove(key);
        let next = if !node.is_notified() || st.closed {
            None
        } else if st.is_rendezvous() {
            // A chosen putter left: choose the next offer if a getter still waits for one.
            st.choose_offer()
        } else if st.has_space() {
            // The wake-up was meant for a putter: pass it on.
            st.putters.notify_head()
        } else {
            None
        };
        drop(st);
        wake(next);
        // A withdrawn rendezvous offer (`node.payload`) is dropped here, outside the lock.
        drop(node);
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The future returned by a queue's `get`.
///
/// The item leaves the queue only in the poll that returns it, so dropping this future never loses
/// an item; a wake-up it received goes on to the next waiting getter.
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T> {
    shared: &'a Shared<T>,
    key: Option<usize>,
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, GetError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if coop::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let mut st = lock(&this.shared.state);
        if let Some(key) = this.key {
            if !st.getters.node(key).is_notified() {
                let stale = st.getters.update_waker(key, cx.waker());
                drop(st);
                drop(stale);
                return Poll::Pending;
            }
            if let Some(item) = st.getters.node_mut(key).payload.take() {
                // Rendezvous: a putter handed this item over.
                this.key = None;
                st.getters.remove(key);
                st.handed -= 1;
                if st.closed && st.handed == 0 {
                    // Invariant 7: the last handed item after close is out; those waiting fail.
                    let mut wakers = Wakers::with_spare(&mut st.spare);
                    st.getters.notify_all(&mut wakers, |_| {});
                    drop(st);
                    return_spare(&this.shared.state, wakers.wake());
                } else {
                    drop(st);
                }
                coop::spend(cx);
                return Poll::Ready(Ok(item));
            }
        }
        match st.take() {
            Ok((item, putter)) => {
                if let Some(key) = this.key.take() {
                    st.getters.remove(key);
                }
                drop(st);
                wake(putter);
                coop::spend(cx);
                Poll::Ready(Ok(item))
            }
            Err(TryGetError::Closed) => {
                if let Some(key) = this.key.take() {
                    st.getters.remove(key);
                }
                Poll::Ready(Err(GetError))
            }
            Err(TryGetError::Empty) => {
                match this.key {
                    Some(key) => st.getters.relink_front(key, cx.waker()),
                    None => this.key = Some(st.getters.push_back(cx.waker(), None)),
                }
                let putter = st.choose_offer();
                drop(st);
                wake(putter);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut st = lock(&self.shared.state);
        let mut node = st.getters.remove(key);
        let next = if let Some(item) = node.payload.take() {
            // Rendezvous: an item was handed to this getter. Pass it to the next getter in line,
            // or keep it in the buffer for the next get.
            match st.getters.head() {
                Some(head) => {
                    st.getters.node_mut(head).payload = Some(item);
                    st.getters.notify(head)
                }
                None => {
                    st.buf.push(item);
                    st.handed -= 1;
                    None
                }
            }
        } else if node.is_notified() && st.has_item() {
            // bpo-23812: the wake-up was meant for a getter; pass it on.
            st.getters.notify_head()
        } else {
            None
        };
        drop(st);
        wake(next);
        drop(node);
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The future returned by a queue's `join`: completes when every item put has been marked done.
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T> {
    shared: &'a Shared<T>,
    key: Option<usize>,
}

impl<T> Future for Join<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut st = lock(&this.shared.state);
        if let Some(key) = this.key {
            if st.joiners.node(key).is_notified() {
                st.joiners.remove(key);
                this.key = None;
                return Poll::Ready(());
            }
            let stale = st.joiners.update_waker(key, cx.waker());
            drop(st);
            drop(stale);
            return Poll::Pending;
        }
        if st.unfinished == 0 {
            return Poll::Ready(());
        }
        this.key = Some(st.joiners.push_back(cx.waker(), ()));
        Poll::Pending
    }
}

impl<T> Drop for Join<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // Bound to a local so that its waker is dropped after the lock is released.
            let node = lock(&self.shared.state).joiners.remove(key);
            drop(node);
        }
    }
}

impl<T> fmt::Debug for Join<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
