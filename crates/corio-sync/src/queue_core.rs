//! The queue core shared by `Queue`, `LifoQueue` and `PriorityQueue`.
//!
//! # State
//!
//! One lock per queue guards three waiter lines: getters (waiting for an item), putters (waiting
//! for space, or, in a rendezvous queue, offering their item) and joiners (waiting for the
//! unfinished count to reach zero). It also guards the items, except in a bounded FIFO queue with
//! room for two or more items, which keeps them outside the lock (see "The lock-free path").
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
//!    what it waits for is there for it, unless another woken waiter holds it: one about to take
//!    it, or one kept without being polled (a pinned `Get` or `Put`, a `QueueStream` between
//!    polls), which holds it until it is polled or dropped.
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
//!
//! # The lock-free path
//!
//! A bounded FIFO [`Queue`](crate::Queue) with room for two or more items (`bounded(n)` with
//! `n >= 2`) keeps its items in a [`Ring`] (`concurrent-queue`) outside the lock; `ring.rs` says
//! why the other queues do not. Every kind keeps its unfinished count in an atomic. A put that finds a slot, or a get that finds an item, pushes or
//! pops without taking the lock. The waiter lines stay under the lock, with two atomics that say
//! how many getters and putters wait in line (written under the lock whenever a line changes).
//!
//! 8. *No lost wake-up.* A waiter joins its line, publishes the line's length, issues a `SeqCst`
//!    fence, and then looks at the ring once more before it sleeps. A put (get) pushes (pops),
//!    issues a `SeqCst` fence, and then reads the number of waiting getters (putters): if it is
//!    not zero, it takes the lock and wakes the first in line. Between the two fences one side
//!    sees the other: either the waiter's second look finds the item (slot), or the put (get)
//!    sees the waiter and wakes it.
//! 9. A woken waiter may take a different item (slot) from the one it was woken for: one that
//!    came while nobody waited. So a waiter that leaves its line woken, by completing or by being
//!    dropped, wakes the next in line whenever the ring still has an item (a slot) for it.
//!    Invariant 2 holds as before; a waiter may be woken for nothing, and then goes back to the
//!    front of its line.
//! 10. `unfinished` is counted before the push (and given back if the push fails), so a
//!     `task_done` for an item can never come before the item's count. A step of the count to
//!     zero is taken under the lock, where joiners register, so a joiner in line is woken by
//!     every step to zero (invariant 3); steps that stay above zero need no lock. In a queue
//!     without a ring every change of the count is made under the lock.
//!
//! # Fairness among putters (every bounded queue but the rendezvous)
//!
//! 11. A slot freed while putters wait is claimed by the putter it wakes. A put that is not in
//!     line (a new one, or one from a task that just put and loops) stores its item only if the
//!     queue has more free slots than woken putters; otherwise it joins the back of the line.
//!     Without this, a producer that keeps running took every freed slot before the putters
//!     woken for them ran, and those went back to the front of the line to be overtaken again:
//!     on one thread, producers starved for good. On the lock-free path the number of woken
//!     putters is published with the lines (`putters_woken`), and a new put looks at it before
//!     its push and again in its second look (invariant 8), where it may sleep with a free slot
//!     in view: each of those woken putters, when it leaves the line (invariant 9), or when it
//!     finds the ring full and looks again, hands the slot on. A race between the snapshot and a
//!     get can still let a new put take a claimed slot first; the woken putter then goes back to
//!     the front (invariant 2), as before. `try_put` takes any free slot.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::buffer::{Buffer, Order};
use crate::coop;
use concurrent_queue::{PopError, PushError};

use crate::loom_shim::{AtomicUsize, Mutex, Ordering, fence, lock};
use crate::ring::Ring;
use crate::waitlist::{HasSpare, WaitList, Wakers, return_spare};
use crate::{GetError, PutError, TaskDoneError, TryGetError, TryPutError};

#[derive(Debug)]
pub(crate) struct Shared<T> {
    /// A bounded FIFO queue with room for two or more items: its items, outside the lock. `None`
    /// for the other queues, whose items are in `State::buf`.
    ring: Option<Ring<T>>,
    /// Lock-free path: how many getters and putters wait in line, not yet woken (invariant 8).
    /// Written under the lock each time a line changes.
    lines: Lines,
    /// Items put and not yet marked done (invariants 3 and 10). On a cache line of its own: every
    /// put writes it.
    unfinished: Padded<AtomicUsize>,
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct Lines {
    getters: AtomicUsize,
    putters: AtomicUsize,
    /// Putters woken for a slot and not yet back (invariant 11): the slots they claim.
    putters_woken: AtomicUsize,
}

/// Keeps a value on a cache line (two, for the adjacent-line prefetcher) of its own.
#[derive(Debug)]
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Debug)]
struct State<T> {
    buf: Buffer<T>,
    /// The capacity of a bounded queue; 0 makes it a rendezvous queue.
    cap: usize,
    bounded: bool,
    closed: bool,
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

    /// Whether a put that is not in line may store an item: only into a slot that no woken putter
    /// claims (invariant 11).
    #[inline]
    fn has_space_for_newcomer(&self) -> bool {
        !self.bounded || self.cap.saturating_sub(self.buf.len()) > self.putters.notified_len()
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
    fn hand_over(&mut self, item: T, unfinished: &AtomicUsize) -> Result<Option<Waker>, T> {
        let Some(head) = self.getters.head() else {
            return Err(item);
        };
        self.getters.node_mut(head).payload = Some(item);
        self.handed += 1;
        count_locked(unfinished);
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
    fn push(&mut self, item: T, unfinished: &AtomicUsize) -> Option<Waker> {
        self.buf.push(item);
        count_locked(unfinished);
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
}

impl<T> Shared<T> {
    pub(crate) fn new(buf: Buffer<T>, capacity: Option<usize>) -> Self {
        // A bounded FIFO queue with room for two or more items keeps them in the ring (`ring.rs`
        // says why only those); its `buf` stays empty.
        let ring = match capacity {
            Some(cap) if cap >= 2 && buf.order() == Order::Fifo => Some(Ring::new(cap)),
            _ => None,
        };
        Self {
            ring,
            lines: Lines {
                getters: AtomicUsize::new(0),
                putters: AtomicUsize::new(0),
                putters_woken: AtomicUsize::new(0),
            },
            unfinished: Padded(AtomicUsize::new(0)),
            state: Mutex::new(State {
                buf,
                cap: capacity.unwrap_or(usize::MAX),
                bounded: capacity.is_some(),
                closed: false,
                getters: WaitList::new(),
                putters: WaitList::new(),
                joiners: WaitList::new(),
                handed: 0,
                spare: Vec::new(),
            }),
        }
    }

    pub(crate) fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        if let Some(ring) = &self.ring {
            return match self.ring_push(ring, item) {
                Ok(()) => Ok(()),
                Err(PushError::Full(item)) => Err(TryPutError::Full(item)),
                Err(PushError::Closed(item)) => Err(TryPutError::Closed(item)),
            };
        }
        let mut st = lock(&self.state);
        if st.closed {
            return Err(TryPutError::Closed(item));
        }
        if st.is_rendezvous() {
            if !st.getter_unclaimed() {
                return Err(TryPutError::Full(item));
            }
            let getter = st
                .hand_over(item, &self.unfinished)
                .map_err(TryPutError::Full)?;
            drop(st);
            wake(getter);
            return Ok(());
        }
        if !st.has_space() {
            return Err(TryPutError::Full(item));
        }
        let getter = st.push(item, &self.unfinished);
        drop(st);
        wake(getter);
        Ok(())
    }

    pub(crate) fn try_get(&self) -> Result<T, TryGetError> {
        if let Some(ring) = &self.ring {
            return self.ring_pop(ring).map_err(|err| match err {
                PopError::Empty => TryGetError::Empty,
                PopError::Closed => TryGetError::Closed,
            });
        }
        let mut st = lock(&self.state);
        let (item, putter) = st.take()?;
        drop(st);
        wake(putter);
        Ok(item)
    }

    pub(crate) fn len(&self) -> usize {
        match &self.ring {
            Some(ring) => ring.len(),
            None => lock(&self.state).buf.len(),
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        match &self.ring {
            Some(ring) => ring.is_full(),
            None => !lock(&self.state).has_space(),
        }
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        let st = lock(&self.state);
        st.bounded.then_some(st.cap)
    }

    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished.load(Ordering::Relaxed)
    }

    pub(crate) fn is_closed(&self) -> bool {
        match &self.ring {
            Some(ring) => ring.is_closed(),
            None => lock(&self.state).closed,
        }
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        self.finish(1, true)
    }

    /// Counts `n` items done (invariant 10): without the lock while the count stays above zero,
    /// under it (waking the joiners) for a step to zero. With `strict`, a count already at zero
    /// is an error rather than left alone.
    fn finish(&self, n: usize, strict: bool) -> Result<(), TaskDoneError> {
        let mut now = self.unfinished.load(Ordering::Relaxed);
        // Without a ring every change of the count is made under the lock.
        while now > n && self.ring.is_some() {
            match self.unfinished.compare_exchange_weak(
                now,
                now - n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => now = actual,
            }
        }
        if strict && now == 0 {
            return Err(TaskDoneError);
        }
        let mut st = lock(&self.state);
        let mut wakers = Wakers::with_spare(&mut st.spare);
        let done = self.finish_locked(&mut st, n, strict, &mut wakers);
        drop(st);
        return_spare(&self.state, wakers.wake());
        done
    }

    /// [`finish`](Self::finish) with the lock held.
    fn finish_locked(
        &self,
        st: &mut State<T>,
        n: usize,
        strict: bool,
        wakers: &mut Wakers,
    ) -> Result<(), TaskDoneError> {
        let mut now = self.unfinished.load(Ordering::Relaxed);
        loop {
            if strict && now == 0 {
                return Err(TaskDoneError);
            }
            let left = now.saturating_sub(n);
            if self.ring.is_none() {
                // Every change of the count is made under the lock: no other can come between.
                self.unfinished.store(left, Ordering::Relaxed);
                if left == 0 {
                    st.joiners.notify_all(wakers, |()| {});
                }
                return Ok(());
            }
            match self.unfinished.compare_exchange_weak(
                now,
                left,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if left == 0 {
                        st.joiners.notify_all(wakers, |()| {});
                    }
                    return Ok(());
                }
                Err(actual) => now = actual,
            }
        }
    }

    pub(crate) fn close(&self) {
        let mut st = lock(&self.state);
        let wakers = self.close_locked(&mut st);
        drop(st);
        return_spare(&self.state, wakers.wake());
    }

    /// Closes the queue with the lock held; returns the wakers of every getter and putter.
    fn close_locked(&self, st: &mut State<T>) -> Wakers {
        if let Some(ring) = &self.ring {
            ring.close();
        }
        let mut wakers = Wakers::with_spare(&mut st.spare);
        st.close(&mut wakers);
        self.publish(st);
        wakers
    }

    pub(crate) fn close_now(&self) -> Vec<T> {
        let mut st = lock(&self.state);
        let mut wakers = self.close_locked(&mut st);
        let items = if let Some(ring) = &self.ring {
            std::iter::from_fn(|| ring.pop().ok()).collect()
        } else {
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
            st.buf.drain_in_order()
        };
        // Not strict: never fails.
        let _ = self.finish_locked(&mut st, items.len(), false, &mut wakers);
        drop(st);
        return_spare(&self.state, wakers.wake());
        items
    }

    /// Lock-free path: publishes the lengths of the lines (invariant 8). Called with the lock
    /// held, after the lines changed.
    #[inline]
    fn publish(&self, st: &State<T>) {
        self.lines
            .getters
            .store(st.getters.linked_len(), Ordering::Relaxed);
        self.lines
            .putters
            .store(st.putters.linked_len(), Ordering::Relaxed);
        self.lines
            .putters_woken
            .store(st.putters.notified_len(), Ordering::Relaxed);
    }

    /// Lock-free path: whether a put that is not in line may take a slot now, or must leave the
    /// free slots to the putters woken for them and join the line (invariant 11). A snapshot: a
    /// race can still let it take a slot first, which the woken putter then handles as before.
    #[inline(always)]
    fn newcomer_may_push(&self, ring: &Ring<T>) -> bool {
        let woken = self.lines.putters_woken.load(Ordering::Relaxed);
        woken == 0 || ring.free() > woken
    }

    /// Lock-free path: a put. Counts the item unfinished first (invariant 10) and wakes a
    /// waiting getter after (invariant 8).
    #[inline(always)]
    fn ring_push(&self, ring: &Ring<T>, item: T) -> Result<(), PushError<T>> {
        self.unfinished.fetch_add(1, Ordering::Relaxed);
        match ring.push(item) {
            Ok(()) => {
                fence(Ordering::SeqCst);
                if self.lines.getters.load(Ordering::Relaxed) > 0 {
                    self.wake_first(|st| &mut st.getters);
                }
                Ok(())
            }
            Err(err) => {
                let _ = self.finish(1, false);
                Err(err)
            }
        }
    }

    /// Lock-free path: a get, which wakes a waiting putter after (invariant 8).
    #[inline(always)]
    fn ring_pop(&self, ring: &Ring<T>) -> Result<T, PopError> {
        let item = ring.pop()?;
        fence(Ordering::SeqCst);
        if self.lines.putters.load(Ordering::Relaxed) > 0 {
            self.wake_first(|st| &mut st.putters);
        }
        Ok(item)
    }

    /// Wakes the first waiter of a line, if any.
    #[cold]
    fn wake_first(&self, line: impl FnOnce(&mut State<T>) -> &mut WaitList<Option<T>>) {
        let mut st = lock(&self.state);
        let waker = line(&mut st).notify_head();
        self.publish(&st);
        drop(st);
        wake(waker);
    }

    /// Lock-free path: a waiter leaves its line for good (it completed, or was dropped). If it
    /// had been woken, the next in line is woken when `more`, given how many others in the line
    /// are woken, says the ring still has what they wait for (invariants 9 and 11).
    fn ring_leave(
        &self,
        key: usize,
        line: impl FnOnce(&mut State<T>) -> &mut WaitList<Option<T>>,
        more: impl FnOnce(usize) -> bool,
    ) {
        let mut st = lock(&self.state);
        let line = line(&mut st);
        let node = line.remove(key);
        let next = if node.is_notified() && more(line.notified_len()) {
            line.notify_head()
        } else {
            None
        };
        self.publish(&st);
        drop(st);
        wake(next);
        // A waker removed from the line is dropped here, outside the lock.
        drop(node);
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

/// Counts an item put into a queue without a ring, under its lock: there every change of the count
/// is made under the lock, so a load and a store do (a read-modify-write costs a locked
/// instruction on every put).
#[inline(always)]
fn count_locked(unfinished: &AtomicUsize) {
    unfinished.store(
        unfinished.load(Ordering::Relaxed).saturating_add(1),
        Ordering::Relaxed,
    );
}

#[inline]
fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Lock-free path: a new waiter joins the back of its line and publishes the line (invariant
/// 8); the caller then looks again. (A woken waiter goes back to the front in `retry_woken`.)
fn ring_wait<T>(
    shared: &Shared<T>,
    line: impl FnOnce(&mut State<T>) -> &mut WaitList<Option<T>>,
    cx: &Context<'_>,
) -> usize {
    let mut st = lock(&shared.state);
    let key = line(&mut st).push_back(cx.waker(), None);
    shared.publish(&st);
    drop(st);
    fence(Ordering::SeqCst);
    key
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
        let out = this.poll_within_budget(cx);
        coop::spend_on_error(&out, cx);
        out
    }
}

impl<T> Put<'_, T> {
    /// The poll after the budget check. Its successes spend a unit of the budget themselves;
    /// [`Future::poll`] spends one for its errors, so that a closed queue polled in a loop still
    /// runs the budget down (and the task yields).
    fn poll_within_budget(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PutError<T>>> {
        let this = self;
        if let Some(ring) = &this.shared.ring {
            return this.poll_ring(ring, cx);
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
        // A woken putter takes the slot it was woken for; a new one only a slot nobody claims.
        let space = match this.key {
            Some(_) => st.has_space(),
            None => st.has_space_for_newcomer(),
        };
        if !space {
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
        let getter = st.push(item, &this.shared.unfinished);
        drop(st);
        wake(getter);
        coop::spend(cx);
        Poll::Ready(Ok(()))
    }
}

impl<T> Put<'_, T> {
    /// A put on the lock-free path: push; when full, wait in line and look once more.
    fn poll_ring(&mut self, ring: &Ring<T>, cx: &mut Context<'_>) -> Poll<Result<(), PutError<T>>> {
        let shared = self.shared;
        let Some(item) = self.item.take() else {
            // Polled after completion.
            return Poll::Ready(Ok(()));
        };
        let item = match self.key {
            // Waiting in line: only a woken put tries again, under the lock it takes anyway.
            Some(key) => match self.retry_woken(ring, key, item, cx) {
                Ok(done) => return done,
                Err(item) => item,
            },
            None => {
                let item = if shared.newcomer_may_push(ring) {
                    match shared.ring_push(ring, item) {
                        Ok(()) => {
                            coop::spend(cx);
                            return Poll::Ready(Ok(()));
                        }
                        Err(PushError::Closed(item)) => return Poll::Ready(Err(PutError(item))),
                        Err(PushError::Full(item)) => item,
                    }
                } else {
                    item
                };
                self.key = Some(ring_wait(shared, |st| &mut st.putters, cx));
                // In line: look once more (invariant 8), leaving the slots that woken putters
                // claim to them (invariant 11). A closed ring fails the push.
                if !ring.is_closed() && !shared.newcomer_may_push(ring) {
                    self.item = Some(item);
                    return Poll::Pending;
                }
                item
            }
        };
        // In line: look once more (invariant 8).
        match shared.ring_push(ring, item) {
            Ok(()) => {
                self.leave(ring);
                coop::spend(cx);
                Poll::Ready(Ok(()))
            }
            Err(PushError::Closed(item)) => {
                self.leave(ring);
                Poll::Ready(Err(PutError(item)))
            }
            Err(PushError::Full(item)) => {
                self.item = Some(item);
                Poll::Pending
            }
        }
    }

    /// A put in line, polled: unless woken, it refreshes its waker and stays. A woken one pushes
    /// with the lock held, so that it leaves the line, and wakes a getter (and, by invariant 9,
    /// the next putter), in the same critical section. Returns the item when the ring was full:
    /// the put is then back at the front of its line, and looks once more.
    fn retry_woken(
        &mut self,
        ring: &Ring<T>,
        key: usize,
        item: T,
        cx: &mut Context<'_>,
    ) -> Result<Poll<Result<(), PutError<T>>>, T> {
        let shared = self.shared;
        let mut st = lock(&shared.state);
        if !st.putters.node(key).is_notified() {
            let stale = st.putters.update_waker(key, cx.waker());
            drop(st);
            drop(stale);
            self.item = Some(item);
            return Ok(Poll::Pending);
        }
        shared.unfinished.fetch_add(1, Ordering::Relaxed);
        let pushed = ring.push(item);
        let (mut getter, mut putter) = (None, None);
        let mut wakers = Wakers::new();
        let done = match pushed {
            Err(PushError::Full(item)) => {
                let _ = shared.finish_locked(&mut st, 1, false, &mut wakers);
                st.putters.relink_front(key, cx.waker());
                shared.publish(&st);
                drop(st);
                wakers.wake();
                fence(Ordering::SeqCst);
                return Err(item);
            }
            Err(PushError::Closed(item)) => {
                let _ = shared.finish_locked(&mut st, 1, false, &mut wakers);
                Poll::Ready(Err(PutError(item)))
            }
            Ok(()) => {
                // Under the lock, the lines are exact: no fence is needed to find a getter.
                getter = st.getters.notify_head();
                // A slot left over after those the other woken putters claim (this one is
                // still counted among the woken) is the next one's (invariants 9 and 11).
                if ring.free() + 1 > st.putters.notified_len() {
                    putter = st.putters.notify_head();
                }
                coop::spend(cx);
                Poll::Ready(Ok(()))
            }
        };
        self.key = None;
        let node = st.putters.remove(key);
        shared.publish(&st);
        drop(st);
        wakers.wake();
        wake(getter);
        wake(putter);
        drop(node);
        Ok(done)
    }

    /// Lock-free path: leaves the putters' line, if in it (invariant 9).
    fn leave(&mut self, ring: &Ring<T>) {
        if let Some(key) = self.key.take() {
            self.shared.ring_leave(
                key,
                |st| &mut st.putters,
                // Each other woken putter claims a free slot (invariant 11).
                |woken| !ring.is_closed() && ring.free() > woken,
            );
        }
    }

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
            match st.hand_over(item, &self.shared.unfinished) {
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
        if self.key.is_none() {
            return;
        }
        if let Some(ring) = &self.shared.ring {
            self.leave(ring);
            return;
        }
        let Some(key) = self.key.take() else { return };
        let mut st = lock(&self.shared.state);
        let node = st.putters.remove(key);
        let next = if !node.is_notified() || st.closed {
            None
        } else if st.is_rendezvous() {
            // A chosen putter left: choose the next offer if a getter still waits for one.
            st.choose_offer()
        } else if st.has_space_for_newcomer() {
            // The wake-up was meant for a putter: pass it on, unless the free slots are all
            // claimed by the other woken putters (invariant 11).
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
        let out = this.poll_within_budget(cx);
        coop::spend_on_error(&out, cx);
        out
    }
}

impl<T> Get<'_, T> {
    /// The poll after the budget check. Its successes spend a unit of the budget themselves;
    /// [`Future::poll`] spends one for its errors, so that a closed queue polled in a loop still
    /// runs the budget down (and the task yields).
    fn poll_within_budget(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, GetError>> {
        let this = self;
        if let Some(ring) = &this.shared.ring {
            return this.poll_ring(ring, cx);
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

impl<T> Get<'_, T> {
    /// A get on the lock-free path: pop; when empty, wait in line and look once more.
    fn poll_ring(&mut self, ring: &Ring<T>, cx: &mut Context<'_>) -> Poll<Result<T, GetError>> {
        let shared = self.shared;
        match self.key {
            // Waiting in line: only a woken get tries again, under the lock it takes anyway.
            Some(key) => {
                if let Some(done) = self.retry_woken(ring, key, cx) {
                    return done;
                }
            }
            None => match shared.ring_pop(ring) {
                Ok(item) => {
                    coop::spend(cx);
                    return Poll::Ready(Ok(item));
                }
                Err(PopError::Closed) => return Poll::Ready(Err(GetError)),
                Err(PopError::Empty) => {
                    self.key = Some(ring_wait(shared, |st| &mut st.getters, cx));
                }
            },
        }
        // In line: look once more (invariant 8).
        match shared.ring_pop(ring) {
            Ok(item) => {
                self.leave(ring);
                coop::spend(cx);
                Poll::Ready(Ok(item))
            }
            Err(PopError::Closed) => {
                self.leave(ring);
                Poll::Ready(Err(GetError))
            }
            Err(PopError::Empty) => Poll::Pending,
        }
    }

    /// A get in line, polled: unless woken, it refreshes its waker and stays. A woken one pops
    /// with the lock held, so that it leaves the line, and wakes a putter (and, by invariant 9,
    /// the next getter), in the same critical section. Returns `None` when the ring was empty:
    /// the get is then back at the front of its line, and looks once more.
    fn retry_woken(
        &mut self,
        ring: &Ring<T>,
        key: usize,
        cx: &mut Context<'_>,
    ) -> Option<Poll<Result<T, GetError>>> {
        let shared = self.shared;
        let mut st = lock(&shared.state);
        if !st.getters.node(key).is_notified() {
            let stale = st.getters.update_waker(key, cx.waker());
            drop(st);
            drop(stale);
            return Some(Poll::Pending);
        }
        let (mut putter, mut getter) = (None, None);
        let done = match ring.pop() {
            Err(PopError::Empty) => {
                st.getters.relink_front(key, cx.waker());
                shared.publish(&st);
                drop(st);
                fence(Ordering::SeqCst);
                return None;
            }
            Err(PopError::Closed) => Poll::Ready(Err(GetError)),
            Ok(item) => {
                // Under the lock, the lines are exact: no fence is needed to find a putter.
                putter = st.putters.notify_head();
                if !ring.is_empty() {
                    getter = st.getters.notify_head();
                }
                coop::spend(cx);
                Poll::Ready(Ok(item))
            }
        };
        self.key = None;
        let node = st.getters.remove(key);
        shared.publish(&st);
        drop(st);
        wake(putter);
        wake(getter);
        drop(node);
        Some(done)
    }

    /// Lock-free path: leaves the getters' line, if in it (invariant 9).
    fn leave(&mut self, ring: &Ring<T>) {
        if let Some(key) = self.key.take() {
            self.shared
                .ring_leave(key, |st| &mut st.getters, |_| !ring.is_empty());
        }
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        if self.key.is_none() {
            return;
        }
        if let Some(ring) = &self.shared.ring {
            self.leave(ring);
            return;
        }
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
        // A join of a queue with nothing unfinished is always ready: in a loop it must still run
        // the budget down.
        if coop::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let mut st = lock(&this.shared.state);
        if let Some(key) = this.key {
            if st.joiners.node(key).is_notified() {
                st.joiners.remove(key);
                this.key = None;
                drop(st);
                coop::spend(cx);
                return Poll::Ready(());
            }
            let stale = st.joiners.update_waker(key, cx.waker());
            drop(st);
            drop(stale);
            return Poll::Pending;
        }
        // Under the lock, where every step of the count to zero is taken (invariant 10).
        if this.shared.unfinished.load(Ordering::Relaxed) == 0 {
            drop(st);
            coop::spend(cx);
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
