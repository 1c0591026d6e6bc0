//! The semaphore's lock-free line for one-permit waiters (`Semaphore` only).
//!
//! Under contention from two cores, the locked line cost two lock round trips per acquire (one to
//! join, one in the release that grants), and the cores queued on the lock: `semaphore_contended`
//! at 2 workers spent 30% of its time in `lock_contended` and 1.7x smol's time. Here a waiter
//! for one permit joins with one atomic operation on the permit count and a push onto a
//! concurrent-queue, and a release that owes it a permit pops it and hands the permit over with
//! one compare-and-swap on the waiter's node. The count and the line are the only shared state;
//! nobody waits for anybody holding a lock.
//!
//! # The count
//!
//! The semaphore's state word holds a *signed* count: the permits available when it is positive,
//! and minus the number of *lane units* when it is negative. A waiter that decrements the count
//! to zero or below owns a unit and pushes one node; a release that increments a negative count
//! claims a unit and pops one node. So a node is popped exactly once, by the one thread whose
//! claim it answers.
//!
//! # Invariants
//!
//! 1. **One node per unit, popped once.** Every decrement that leaves the count at or below zero
//!    is followed by one push; every claim (a release's increment of a negative count, or
//!    `close` raising it to zero) is followed by one pop. Pops never outnumber pushes, so a
//!    popper that finds the queue empty waits for the push that must come (the waiter is between
//!    its decrement and its push): it spins, then yields.
//! 2. **Each node's state changes once**, from `WAITING`, by exactly one compare-and-swap: to
//!    `GRANTED` by the release that popped it, to `CLOSED` by the `close` that popped it, or to
//!    `CANCELLED` by its owner. Whoever wins decides; the loser adapts: a cancelled owner that
//!    lost to `GRANTED` releases the permit it was given; a release that pops a `CANCELLED`
//!    node has settled that node's unit and still holds its permit, so it releases it again.
//! 3. **FIFO.** Waiters are served in the order of their pushes. A newcomer takes a permit only
//!    when the count is positive, which means no unit is owed: nobody waits in the lane. Waiters
//!    of the locked line (`acquire_many` of more than one, and everybody while `WAITERS` is set)
//!    come after every lane waiter: a waiter joins the lane only while `WAITERS` is clear, and the
//!    locked line receives permits only from releases that find the count at zero or above.
//! 4. **Nothing left behind.** A cancelled node stays in the queue until a release pops it, but it
//!    gives up its waker at once (which would keep its task alive). The number of cancelled nodes
//!    still queued is counted, and past [`GARBAGE_LIMIT`] new waiters take the locked line
//!    (which removes cancelled waiters at once), so the queue's memory stays within the waiters
//!    present plus that limit.
//! 5. **A woken waiter learns its fate from its node**, never from the line: `GRANTED` (the
//!    permit is its own), `CLOSED` (fail), `WAITING` (update the waker under the node's lock,
//!    then look at the state again, so a grant between the two is seen).

use std::sync::Arc;
use std::task::{Context, Waker};

#[cfg(not(loom))]
use concurrent_queue::ConcurrentQueue;

use crate::loom_shim::{AtomicBool, AtomicUsize, Mutex, Ordering, lock};

const WAITING: usize = 0;
const GRANTED: usize = 1;
const CANCELLED: usize = 2;
const CLOSED: usize = 3;

/// Past this many cancelled nodes still queued, new waiters take the locked line (invariant 4).
pub(crate) const GARBAGE_LIMIT: usize = 64;

/// One lane waiter, shared by its future and the queue.
#[derive(Debug)]
pub(crate) struct Node {
    state: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

/// What a lane waiter's node says when it is polled again.
pub(crate) enum Fate {
    Granted,
    Closed,
    Waiting,
}

/// The lane's FIFO: concurrent-queue's linked blocks.
#[cfg(not(loom))]
#[derive(Debug)]
struct Fifo(ConcurrentQueue<Arc<Node>>);

#[cfg(not(loom))]
impl Fifo {
    fn new() -> Fifo {
        Fifo(ConcurrentQueue::unbounded())
    }

    fn push(&self, node: Arc<Node>) {
        if self.0.push(node).is_err() {
            unreachable!("the lane's queue is unbounded and never closed");
        }
    }

    fn pop(&self) -> Option<Arc<Node>> {
        self.0.pop().ok()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Under loom the lane's FIFO is a locked `VecDeque`: concurrent-queue is a linearizable FIFO
/// with loom models of its own, and its many atomics made the semaphore's models run for
/// minutes; what these models check is the protocol around the queue.
#[cfg(loom)]
#[derive(Debug)]
struct Fifo(Mutex<std::collections::VecDeque<Arc<Node>>>);

#[cfg(loom)]
impl Fifo {
    fn new() -> Fifo {
        Fifo(Mutex::new(std::collections::VecDeque::new()))
    }

    fn push(&self, node: Arc<Node>) {
        lock(&self.0).push_back(node);
    }

    fn pop(&self) -> Option<Arc<Node>> {
        lock(&self.0).pop_front()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.0).len()
    }
}

#[derive(Debug)]
pub(crate) struct Lane {
    queue: Fifo,
    /// Cancelled nodes still in `queue` (invariant 4).
    garbage: AtomicUsize,
    /// Whether a second thread has waited on this semaphore (see [`Lane::is_open`]).
    shared: AtomicBool,
    /// The thread that waited first (the address of a thread-local), until `shared`.
    first: AtomicUsize,
    /// How many waits `first` made alone.
    solo: AtomicUsize,
    /// `solo` reached [`SOLO_LIMIT`] before a second thread waited.
    alone: AtomicBool,
}

/// After this many waits, all on one thread, new waiters take the locked line (see
/// [`Lane::is_open`]).
pub(crate) const SOLO_LIMIT: usize = 4096;

thread_local! {
    /// Its address tells this thread apart from the others alive.
    static WHO: u8 = const { 0 };
}

impl Lane {
    pub(crate) fn new() -> Lane {
        Lane {
            queue: Fifo::new(),
            garbage: AtomicUsize::new(0),
            shared: AtomicBool::new(false),
            first: AtomicUsize::new(0),
            solo: AtomicUsize::new(0),
            alone: AtomicBool::new(false),
        }
    }

    /// Whether a new one-permit waiter should take the lane rather than the locked line.
    ///
    /// The lane is for waiters on several threads. On one thread (a local runtime) nobody
    /// contends for the locked line's lock, and the locked line costs fewer instructions than
    /// the lane's allocation and queue (measured, `semaphore_contended` at 1 worker: 182 ns per
    /// acquire on the locked line, 264 on the lane). So the lane is open until [`SOLO_LIMIT`]
    /// waits were all made on one thread, and for good once a second thread waits. The limit is
    /// high because a burst of waiters often starts on one worker before the others steal any
    /// (with 64, `semaphore_contended`'s 1,000 tasks closed the lane in some runs at 2 workers).
    ///
    /// Why in this direction: a waiter may leave the lane for the locked line at any time (the
    /// locked line comes after the lane, invariant 3), but not the other way round while the
    /// locked line holds anyone, and under steady contention it always does. Starting on the
    /// locked line and opening the lane on contention never opened it (measured).
    ///
    /// Not while too many cancelled nodes are queued either (invariant 4).
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        if self.garbage.load(Ordering::Relaxed) >= GARBAGE_LIMIT {
            return false;
        }
        if cfg!(loom) {
            // The choice is a cost heuristic that either answer keeps correct (invariant 3),
            // so the models leave its atomics out; the unit tests in `raw_semaphore.rs` take
            // both lines by closing and reopening the lane.
            return !self.alone.load(Ordering::Relaxed);
        }
        if self.shared.load(Ordering::Relaxed) {
            return true;
        }
        if self.alone.load(Ordering::Relaxed) {
            return false;
        }
        self.note_waiter()
    }

    /// Closes the lane to new waiters, as [`SOLO_LIMIT`] waits on one thread do (tests).
    #[cfg(test)]
    pub(crate) fn close_to_newcomers(&self) {
        self.alone.store(true, Ordering::Relaxed);
    }

    /// Opens the lane again, which only a test may do (see [`Lane::is_open`]).
    #[cfg(test)]
    pub(crate) fn reopen(&self) {
        self.alone.store(false, Ordering::Relaxed);
    }

    /// How many nodes are queued (tests).
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Counts a wait toward [`SOLO_LIMIT`], or marks the lane shared; returns whether it is open.
    #[cold]
    fn note_waiter(&self) -> bool {
        let me = WHO.with(|who| std::ptr::from_ref(who) as usize);
        let first = match self
            .first
            .compare_exchange(0, me, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => me,
            Err(first) => first,
        };
        if first != me {
            self.shared.store(true, Ordering::Relaxed);
            return true;
        }
        if self.solo.fetch_add(1, Ordering::Relaxed) < SOLO_LIMIT {
            return true;
        }
        self.alone.store(true, Ordering::Relaxed);
        false
    }

    /// A node for a waiter about to take a unit. It is made first, so that nothing that can
    /// panic (a waker's `clone` is user code) runs between taking the unit and the push that
    /// a release claiming that unit waits for (invariant 1).
    pub(crate) fn node(cx: &Context<'_>) -> Arc<Node> {
        Arc::new(Node {
            state: AtomicUsize::new(WAITING),
            waker: Mutex::new(Some(cx.waker().clone())),
        })
    }

    /// Pushes the node of a waiter that owns a unit (invariant 1).
    pub(crate) fn join(&self, node: &Arc<Node>) {
        self.queue.push(node.clone());
    }

    /// Pops the node of a claimed unit, waiting for its push if it has not landed yet.
    fn pop(&self) -> Arc<Node> {
        let mut spins = 0u32;
        loop {
            if let Some(node) = self.queue.pop() {
                return node;
            }
            // The owner of the unit is between its decrement and its push (invariant 1).
            spins += 1;
            if spins < 64 && cfg!(not(loom)) {
                std::hint::spin_loop();
            } else {
                crate::loom_shim::yield_now();
            }
        }
    }

    /// Settles one claimed unit: grants its node a permit and wakes it, or finds it cancelled.
    /// Returns whether the permit was handed over (if not, the caller still holds it).
    pub(crate) fn grant_one(&self) -> bool {
        self.settle_one(GRANTED)
    }

    /// Settles one unit claimed by `close`: the node fails, or was cancelled already.
    pub(crate) fn close_one(&self) {
        self.settle_one(CLOSED);
    }

    /// Pops the node of a claimed unit and moves it from `WAITING` to `to`, waking its owner;
    /// returns `false` if its owner had cancelled it (invariant 2).
    fn settle_one(&self, to: usize) -> bool {
        let node = self.pop();
        if node
            .state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let waker = lock(&node.waker).take();
            if let Some(waker) = waker {
                waker.wake();
            }
            true
        } else {
            // Only its owner changes a node nobody popped (invariant 2).
            self.garbage.fetch_sub(1, Ordering::Relaxed);
            false
        }
    }

    /// Cancels the waiter of `node`. Returns `true` if it had been granted a permit, which the
    /// caller must release.
    pub(crate) fn cancel(&self, node: &Node) -> bool {
        match node
            .state
            .compare_exchange(WAITING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                self.garbage.fetch_add(1, Ordering::Relaxed);
                // The node may stay queued for a while; its waker must not keep the task alive.
                let waker = lock(&node.waker).take();
                drop(waker);
                false
            }
            Err(state) => state == GRANTED,
        }
    }
}

impl Node {
    /// Polls the node of a waiting lane waiter (invariant 5).
    pub(crate) fn poll(&self, cx: &Context<'_>) -> Fate {
        match self.state.load(Ordering::Acquire) {
            GRANTED => return Fate::Granted,
            CLOSED => return Fate::Closed,
            _ => {}
        }
        let stale = {
            let mut slot = lock(&self.waker);
            match &*slot {
                Some(old) if old.will_wake(cx.waker()) => None,
                _ => slot.replace(cx.waker().clone()),
            }
        };
        drop(stale);
        match self.state.load(Ordering::Acquire) {
            GRANTED => Fate::Granted,
            CLOSED => Fate::Closed,
            _ => Fate::Waiting,
        }
    }
}
