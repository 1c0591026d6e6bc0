//! The strictly FIFO semaphore core shared by `Semaphore`, `Mutex` and `RwLock`.
//!
//! # State
//!
//! One atomic word holds `permits << 2 | WAITERS | CLOSED`. The waiter line is a [`VecDeque`] of
//! slots in ticket order, behind a per-semaphore lock.
//!
//! # Invariants
//!
//! 1. `WAITERS` is set exactly when some slot is `Waiting` (`Line::waiting > 0`), and it changes
//!    only under the lock.
//! 2. While `WAITERS` is set, the atomic permit count is zero: every released permit goes to the
//!    head of the line (partially, if the head wants more than is released). This is what makes the
//!    semaphore strictly FIFO: a newcomer's lock-free fast path sees `WAITERS` and queues up, and a
//!    large request at the head is never overtaken by smaller ones.
//! 3. Permits are conserved: available + assigned to waiters + granted-but-unpolled + held by
//!    permits always equals the permits ever added (saturating at [`MAX_PERMITS`]) minus the
//!    forgotten ones.
//! 4. Each waiter draws a *ticket* when it joins the line, from a counter under the lock, so
//!    tickets grow front to back: the slots are sorted by ticket, and a waiter finds its slot by
//!    its ticket (at `ticket - front ticket` unless the line was compacted, else by binary
//!    search). `granted` holds the ticket of the last waiter that was given all it asked for; it
//!    changes only under the lock and only grows, because waiters are served strictly from the
//!    head. A waiter with ticket `t` has been granted exactly when `granted >= t` (waiters ahead
//!    of it were granted or left the line).
//! 5. Granting a waiter pops its slot from the front (the releaser does it, under the lock), so a
//!    granted waiter never looks for its slot again: it checks `granted` first, and under the lock
//!    when it needs the slot. A slot is marked `Closed` only by `close`, which strips it of its
//!    permits; it stays in the line until its owner comes for it.
//! 6. A waiter that leaves (cancelled, or collecting its `Closed` slot) pops its slot if it is at
//!    the front, else marks it `Left` and takes its waker out; `Left` slots are popped as soon as
//!    they reach the front, and the line is compacted when more than half of it has left. So the
//!    front slot is never `Left`, and while anyone waits it is `Waiting` (after `close` nobody
//!    joins), and the line's memory stays within twice the number of waiters present (plus a
//!    constant).
//!
//! # Why a ring of slots rather than a linked list
//!
//! Under contention from several threads, every lock hand-over moves the lock's cache line and
//! whatever the critical section touches between cores, and the other cores wait for it. Joining
//! writes the slot after the last one and granting reads the front one, both in one contiguous
//! buffer; a linked list also touched the neighbour node and the slab's free list, each a
//! cache-line transfer inside the lock.
//!
//! # Fast paths
//!
//! Acquiring with nobody waiting is one compare-and-swap; releasing with nobody waiting is one
//! compare-and-swap. The lock is taken only when someone waits. A waiter woken by a grant learns
//! it from `granted` without the lock (invariants 4 and 5): under contention each acquire takes
//! the lock twice (to queue, and in its releaser) instead of three times.
//!
//! # The lane
//!
//! `Semaphore` (not `Mutex` or `RwLock`) puts one-permit waiters on a lock-free line in front of
//! this one while waiters come from several threads (`lane.rs`). Then the count in `state` is
//! signed: negative, it is minus the lane's waiters owed a permit, and invariant 2 reads "while
//! `WAITERS` is set, the count is zero or below". The locked line is served only once the lane
//! owes nothing; a release that found the count at zero and then, under the lock, finds it
//! negative (the locked line emptied and a lane waiter joined meanwhile) hands its permits back
//! to [`RawSemaphore::release`], which gives them to the lane.
//!
//! # Cancellation
//!
//! A waiter's slot records the permits assigned to it so far. Dropping a waiter (before or after
//! it was granted) releases those permits through the ordinary release path, so they go on to the
//! next waiters in line. Nothing is left behind.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::lane::{Fate, Lane, Node};

use crate::loom_shim::{AtomicU64, AtomicUsize, Mutex, Ordering, lock};
use crate::waitlist::{HasSpare, Wakers, return_spare};
use crate::{AcquireError, TryAcquireError};

const CLOSED: usize = 0b01;
const WAITERS: usize = 0b10;
const SHIFT: usize = 2;

/// The largest number of permits a semaphore can hold: `usize::MAX >> 3`.
///
/// Requests for more than this can never be satisfied and fail at once with
/// [`AcquireError::TooManyPermits`] instead of waiting forever.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 3;

/// The signed count of a state word: the permits available, or minus the lane units owed
/// (`lane.rs`). Without a lane it is never negative.
#[inline]
fn count(state: usize) -> isize {
    (state as isize) >> SHIFT
}

/// The available permits of a state word.
#[inline]
fn permits(state: usize) -> usize {
    count(state).max(0).unsigned_abs()
}

/// `state` with its count raised by `n` available permits, saturating at [`MAX_PERMITS`]. The
/// count must not be negative (lane units are settled by `release`, not here).
#[inline]
fn add_permits(state: usize, n: usize) -> usize {
    debug_assert!(
        count(state) >= 0 || n == 0,
        "permits added past owed lane units"
    );
    if count(state) < 0 {
        return state;
    }
    (state & (CLOSED | WAITERS)) | (permits(state).saturating_add(n).min(MAX_PERMITS) << SHIFT)
}

#[derive(Debug)]
pub(crate) struct RawSemaphore {
    state: AtomicUsize,
    /// The ticket of the last waiter granted all it asked for (invariant 4). 64 bits, so that
    /// tickets never wrap; the crate therefore needs a target with 64-bit atomics.
    granted: AtomicU64,
    waiters: Mutex<Line>,
    /// The lock-free line for one-permit waiters (`lane.rs`); `Semaphore` has one, `Mutex` and
    /// `RwLock` do not.
    lane: Option<Box<Lane>>,
}

#[derive(Debug)]
struct Line {
    /// The waiters, front to back, in ticket order (invariants 4 and 6).
    slots: VecDeque<Slot>,
    /// How many slots are `Waiting` (invariant 1).
    waiting: usize,
    /// How many slots are `Left`.
    left: usize,
    /// The last ticket drawn.
    tickets: u64,
    spare: Vec<Waker>,
}

/// One waiter's place in the line: what it asked for and what it was given so far.
#[derive(Debug)]
struct Slot {
    ticket: u64,
    needed: usize,
    assigned: usize,
    waker: Option<Waker>,
    mark: Mark,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    /// In line.
    Waiting,
    /// Failed by `close`, stripped of its permits; its owner has not come for it yet.
    Closed,
    /// Its owner left; popped when it reaches the front.
    Left,
}

impl HasSpare for Line {
    fn spare(&mut self) -> &mut Vec<Waker> {
        &mut self.spare
    }
}

/// Compact the line when more than this many slots, and more than half of it, have left.
const COMPACT_AFTER: usize = 32;

impl Line {
    /// Puts `waiter` at the back of the line with `assigned` permits so far, drawing its ticket.
    fn join(&mut self, cx: &Context<'_>, waiter: &mut Waiter, assigned: usize) {
        self.tickets += 1;
        waiter.ticket = self.tickets;
        waiter.queued = true;
        self.slots.push_back(Slot {
            ticket: self.tickets,
            needed: waiter.needed,
            assigned,
            waker: Some(cx.waker().clone()),
            mark: Mark::Waiting,
        });
        self.waiting += 1;
    }

    /// The index of the slot with `ticket`, which must be in the line (invariant 4).
    fn find(&self, ticket: u64) -> usize {
        let front = self
            .slots
            .front()
            .expect("a waiter's slot is in the line")
            .ticket;
        let guess = usize::try_from(ticket - front).unwrap_or(usize::MAX);
        if self
            .slots
            .get(guess)
            .is_some_and(|slot| slot.ticket == ticket)
        {
            return guess;
        }
        self.slots
            .binary_search_by_key(&ticket, |slot| slot.ticket)
            .expect("a waiter's slot is in the line")
    }

    /// Takes the slot at `index` out of the line for good (its owner leaves), returning its
    /// waker, for the caller to drop after releasing the lock (dropping the last reference to a
    /// task's waker may drop the task, and with it another future of this semaphore, whose `Drop`
    /// takes the lock).
    fn leave(&mut self, index: usize) -> Option<Waker> {
        let slot = &mut self.slots[index];
        debug_assert_ne!(slot.mark, Mark::Left, "a slot left twice");
        if slot.mark == Mark::Waiting {
            self.waiting -= 1;
        }
        slot.mark = Mark::Left;
        let waker = slot.waker.take();
        self.left += 1;
        self.trim();
        if self.left > COMPACT_AFTER && self.left * 2 > self.slots.len() {
            self.slots.retain(|slot| slot.mark != Mark::Left);
            self.left = 0;
        }
        waker
    }

    /// Pops the `Left` slots at the front (invariant 6).
    fn trim(&mut self) {
        if self.left == 0 {
            // Nothing to pop, and no need to look at the next slot (another cache line, maybe).
            return;
        }
        while self
            .slots
            .front()
            .is_some_and(|slot| slot.mark == Mark::Left)
        {
            self.slots.pop_front();
            self.left -= 1;
        }
    }
}

/// The per-future acquire state: the request and the node it owns while it waits.
#[derive(Debug)]
pub(crate) struct Waiter {
    needed: usize,
    /// Whether it has a slot in the line (until it was granted or left).
    queued: bool,
    ticket: u64,
    /// Its node in the lane, while it waits there.
    node: Option<Arc<Node>>,
}

impl Waiter {
    #[inline]
    pub(crate) const fn new(needed: usize) -> Self {
        Self {
            needed,
            queued: false,
            ticket: 0,
            node: None,
        }
    }

    #[inline]
    pub(crate) fn needed(&self) -> usize {
        self.needed
    }
}

impl RawSemaphore {
    /// A semaphore whose one-permit waiters take the lock-free lane (`lane.rs`).
    pub(crate) fn with_lane(permits: usize) -> Self {
        Self {
            lane: Some(Box::new(Lane::new())),
            ..Self::new(permits)
        }
    }

    pub(crate) fn new(permits: usize) -> Self {
        Self {
            lane: None,
            state: AtomicUsize::new(permits.min(MAX_PERMITS) << SHIFT),
            granted: AtomicU64::new(0),
            waiters: Mutex::new(Line {
                slots: VecDeque::new(),
                waiting: 0,
                left: 0,
                tickets: 0,
                spare: Vec::new(),
            }),
        }
    }

    #[inline]
    pub(crate) fn available_permits(&self) -> usize {
        permits(self.state.load(Ordering::Acquire))
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Takes `n` permits if nobody waits and enough are available.
    #[inline]
    pub(crate) fn try_acquire(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut state = self.state.load(Ordering::Acquire);
        if n == 0 {
            // Taking nothing cannot overtake anyone.
            return if state & CLOSED != 0 {
                Err(TryAcquireError::Closed)
            } else {
                Ok(())
            };
        }
        loop {
            if state & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            // `permits` is 0 while lane units are owed (a negative count).
            if state & WAITERS != 0 || permits(state) < n {
                return Err(TryAcquireError::NoPermits);
            }
            match self.state.compare_exchange_weak(
                state,
                state - (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => state = actual,
            }
        }
    }

    /// Polls an acquire. On `Ready(Ok)`, the permits belong to the caller.
    pub(crate) fn poll_acquire(
        &self,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> Poll<Result<(), AcquireError>> {
        if waiter.needed > MAX_PERMITS {
            return Poll::Ready(Err(AcquireError::TooManyPermits));
        }
        if crate::coop::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let result = if let Some(node) = &waiter.node {
            match node.poll(cx) {
                Fate::Granted => {
                    waiter.node = None;
                    Poll::Ready(Ok(()))
                }
                Fate::Closed => {
                    waiter.node = None;
                    Poll::Ready(Err(AcquireError::Closed))
                }
                Fate::Waiting => Poll::Pending,
            }
        } else if waiter.queued {
            self.poll_again(cx, waiter)
        } else {
            self.poll_first(cx, waiter)
        };
        // Errors too: a closed semaphore is always ready, and a loop over it must still yield.
        if result.is_ready() {
            crate::coop::spend(cx);
        }
        result
    }

    fn poll_first(
        &self,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> Poll<Result<(), AcquireError>> {
        let n = waiter.needed;
        match self.try_acquire(n) {
            Ok(()) => return Poll::Ready(Ok(())),
            Err(TryAcquireError::Closed) => return Poll::Ready(Err(AcquireError::Closed)),
            Err(TryAcquireError::NoPermits) => {}
        }
        if let Some(lane) = self.lane.as_deref()
            && n == 1
            && lane.is_open()
        {
            // The lane (`lane.rs`): take a unit, and a permit if the count was positive.
            let node = Lane::node(cx);
            let mut state = self.state.load(Ordering::Acquire);
            loop {
                if state & CLOSED != 0 {
                    return Poll::Ready(Err(AcquireError::Closed));
                }
                if state & WAITERS != 0 {
                    // The locked line is not empty: queue behind it (lane.rs invariant 3).
                    break;
                }
                match self.state.compare_exchange_weak(
                    state,
                    state.wrapping_sub(1 << SHIFT),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) if count(state) > 0 => return Poll::Ready(Ok(())),
                    Ok(_) => {
                        lane.join(&node);
                        waiter.node = Some(node);
                        return Poll::Pending;
                    }
                    Err(actual) => state = actual,
                }
            }
        }
        let mut line = lock(&self.waiters);
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return Poll::Ready(Err(AcquireError::Closed));
            }
            if state & WAITERS != 0 {
                // Invariant 2: nothing is available while others wait. Queue up behind them.
                line.join(cx, waiter, 0);
                return Poll::Pending;
            }
            let (next, assigned) = if permits(state) >= n {
                (state - (n << SHIFT), n)
            } else {
                // First in line: take what there is now, wait for the rest. Lane units (a
                // negative count) stay owed ahead of it.
                let avail = permits(state);
                ((state - (avail << SHIFT)) | WAITERS, avail)
            };
            match self
                .state
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if assigned == n => return Poll::Ready(Ok(())),
                Ok(_) => {
                    line.join(cx, waiter, assigned);
                    return Poll::Pending;
                }
                Err(actual) => state = actual,
            }
        }
    }

    fn poll_again(
        &self,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> Poll<Result<(), AcquireError>> {
        // Invariant 5: a granted waiter's slot is gone; it must not look for it.
        if self.granted.load(Ordering::Acquire) >= waiter.ticket {
            waiter.queued = false;
            return Poll::Ready(Ok(()));
        }
        let mut line = lock(&self.waiters);
        if self.granted.load(Ordering::Acquire) >= waiter.ticket {
            // Granted between the check and the lock.
            drop(line);
            waiter.queued = false;
            return Poll::Ready(Ok(()));
        }
        let index = line.find(waiter.ticket);
        let slot = &mut line.slots[index];
        if slot.mark == Mark::Waiting {
            let stale = match &slot.waker {
                Some(old) if old.will_wake(cx.waker()) => None,
                _ => slot.waker.replace(cx.waker().clone()),
            };
            drop(line);
            drop(stale);
            return Poll::Pending;
        }
        // Only `close` marks a slot (invariant 5), and it strips it to zero.
        let complete = slot.assigned == slot.needed;
        let stale = line.leave(index);
        waiter.queued = false;
        drop(line);
        drop(stale);
        if complete {
            Poll::Ready(Ok(()))
        } else {
            Poll::Ready(Err(AcquireError::Closed))
        }
    }

    /// Cancels a waiter (call from the future's `Drop`): whatever it was given goes to the next
    /// waiters.
    #[inline]
    pub(crate) fn cancel(&self, waiter: &mut Waiter) {
        // Every acquire future's drop comes here; most were granted or never queued.
        if std::mem::replace(&mut waiter.queued, false) {
            self.cancel_queued(waiter);
        }
        if let Some(node) = waiter.node.take() {
            let lane = self
                .lane
                .as_deref()
                .expect("a lane waiter's semaphore has a lane");
            if lane.cancel(&node) {
                // Granted but never polled: the permit is ours to pass on.
                self.release(1);
            }
        }
    }

    #[cold]
    fn cancel_queued(&self, waiter: &mut Waiter) {
        let mut line = lock(&self.waiters);
        if self.granted.load(Ordering::Acquire) >= waiter.ticket {
            // Granted but never polled: the slot is gone (invariant 5) and the permits are ours
            // to pass on.
            drop(line);
            self.release(waiter.needed);
            return;
        }
        let index = line.find(waiter.ticket);
        let slot = &line.slots[index];
        let was_waiting = slot.mark == Mark::Waiting;
        let give_back = slot.assigned;
        let stale = line.leave(index);
        if give_back == 0 && !(was_waiting && line.waiting == 0) {
            drop(line);
            drop(stale);
            return;
        }
        let mut wakers = Wakers::with_spare(&mut line.spare);
        let left = self.release_locked(give_back, &mut line, &mut wakers);
        drop(line);
        drop(stale);
        return_spare(&self.waiters, wakers.wake());
        self.release(left);
    }

    /// Returns `n` permits: to the waiters in line first, in order, and the rest to the pool.
    #[inline]
    pub(crate) fn release(&self, mut n: usize) {
        let mut state = self.state.load(Ordering::Acquire);
        while n > 0 {
            let owed = count(state);
            if owed < 0 {
                self.release_to_lane(&mut n, &mut state);
                continue;
            }
            if state & WAITERS != 0 {
                n = self.release_slow(n);
                state = self.state.load(Ordering::Acquire);
                continue;
            }
            match self.state.compare_exchange_weak(
                state,
                add_permits(state, n),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }

    /// Lane units are owed (a negative count): claims up to `n` of them and hands a permit to
    /// each (`lane.rs` invariants 1 and 2). A claimed node that was cancelled gives its permit
    /// back to `n`.
    #[cold]
    fn release_to_lane(&self, n: &mut usize, state: &mut usize) {
        let claim = (*n).min(count(*state).unsigned_abs());
        match self.state.compare_exchange_weak(
            *state,
            state.wrapping_add(claim << SHIFT),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                *n -= claim;
                let lane = self.lane.as_deref().expect("a negative count needs a lane");
                for _ in 0..claim {
                    if !lane.grant_one() {
                        *n += 1;
                    }
                }
                *state = self.state.load(Ordering::Acquire);
            }
            Err(actual) => *state = actual,
        }
    }

    /// Releases `n` permits through the locked line; returns those owed to the lane instead.
    #[cold]
    fn release_slow(&self, n: usize) -> usize {
        let mut line = lock(&self.waiters);
        if n == 1 {
            // One permit completes at most one waiter: its waker fits in `Wakers`' own slot, so
            // the spare buffer is neither taken nor given back.
            let mut wakers = Wakers::new();
            let left = self.release_locked(n, &mut line, &mut wakers);
            drop(line);
            let unused = wakers.wake();
            debug_assert_eq!(unused.capacity(), 0);
            return left;
        }
        let mut wakers = Wakers::with_spare(&mut line.spare);
        let left = self.release_locked(n, &mut line, &mut wakers);
        drop(line);
        return_spare(&self.waiters, wakers.wake());
        left
    }

    /// The release path under the lock. Also restores invariant 1 when the line has emptied.
    ///
    /// Returns the permits it did not place because lane units are owed (a negative count,
    /// `lane.rs`): the lane's waiters come first (its invariant 3), so the caller releases those
    /// again once it has dropped the lock. That happens when the locked line emptied, and a lane
    /// waiter joined, between a release's look at the state and its lock.
    #[must_use]
    fn release_locked(&self, mut rem: usize, line: &mut Line, wakers: &mut Wakers) -> usize {
        if rem > 0 && count(self.state.load(Ordering::Acquire)) < 0 {
            // While the locked line holds anyone, `WAITERS` keeps the count from falling, so the
            // lane is owed only what it was owed now.
            return rem;
        }
        while rem > 0 && line.waiting > 0 {
            // Invariant 6: the front slot is the head of the line.
            let head = line.slots.front_mut().expect("a waiter is in line");
            debug_assert_eq!(head.mark, Mark::Waiting);
            let give = rem.min(head.needed - head.assigned);
            head.assigned += give;
            rem -= give;
            if head.assigned == head.needed {
                // Invariants 4 and 5: the grant pops the slot and publishes the ticket.
                let ticket = head.ticket;
                let waker = head.waker.take();
                line.slots.pop_front();
                line.waiting -= 1;
                line.trim();
                self.granted.store(ticket, Ordering::Release);
                wakers.push_opt(waker);
            }
        }
        if line.waiting > 0 {
            // Invariant 2 holds: `rem` is 0 and the atomic count stays 0.
            return 0;
        }
        // The line is empty: clear `WAITERS` (if set) and put the rest back into the pool. Other
        // threads may only flip `CLOSED` or, when `WAITERS` is clear, move permits meanwhile.
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if rem == 0 && state & WAITERS == 0 {
                return 0;
            }
            // With the locked line empty a lane waiter may join meanwhile: the permits left
            // then go to it.
            let (next, left) = if count(state) < 0 {
                (state & !WAITERS, rem)
            } else {
                (add_permits(state, rem) & !WAITERS, 0)
            };
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return left,
                Err(actual) => state = actual,
            }
        }
    }

    /// Closes the semaphore: every waiter in line fails, and so does every later acquire.
    pub(crate) fn close(&self) {
        // Close, and claim every lane unit still owed: those waiters fail (`lane.rs`).
        let mut state = self.state.load(Ordering::Acquire);
        let claimed = loop {
            let owed = count(state).min(0).unsigned_abs();
            let next = (state.wrapping_add(owed << SHIFT)) | CLOSED;
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break owed,
                Err(actual) => state = actual,
            }
        };
        if claimed > 0 {
            let lane = self.lane.as_deref().expect("a negative count needs a lane");
            for _ in 0..claimed {
                lane.close_one();
            }
        }
        let mut line = lock(&self.waiters);
        let mut wakers = Wakers::with_spare(&mut line.spare);
        let mut reclaimed = 0usize;
        for slot in line.slots.iter_mut() {
            if slot.mark == Mark::Waiting {
                slot.mark = Mark::Closed;
                reclaimed += std::mem::take(&mut slot.assigned);
                wakers.push_opt(slot.waker.take());
            }
        }
        line.waiting = 0;
        // The line is empty now: hand the reclaimed permits to the pool, clearing `WAITERS`.
        let left = self.release_locked(reclaimed, &mut line, &mut wakers);
        drop(line);
        return_spare(&self.waiters, wakers.wake());
        // Nobody joins the lane once `CLOSED` is set, and `close` claimed its units above.
        debug_assert_eq!(left, 0);
        self.release(left);
    }

    /// Removes up to `n` available permits from the pool without waiting, returning how many.
    pub(crate) fn forget_permits(&self, n: usize) -> usize {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let taken = permits(state).min(n);
            if taken == 0 {
                return 0;
            }
            match self.state.compare_exchange_weak(
                state,
                state - (taken << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return taken,
                Err(actual) => state = actual,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    /// Invariant 6: a head that never gets its permits and a stream of waiters that give up
    /// behind it (a `timeout` around `lock()` in a loop) keep the line's memory bounded.
    #[test]
    fn waiters_leaving_behind_a_stuck_head_do_not_grow_the_line() {
        let sem = RawSemaphore::new(0);
        let mut cx = Context::from_waker(Waker::noop());
        let mut head = Waiter::new(1);
        assert!(sem.poll_acquire(&mut cx, &mut head).is_pending());
        let mut stayers = Vec::new();
        for i in 0..10_000 {
            let mut waiter = Waiter::new(1);
            assert!(sem.poll_acquire(&mut cx, &mut waiter).is_pending());
            if i % 100 == 0 {
                // A few stay, so the line is not just the head.
                stayers.push(waiter);
            } else {
                sem.cancel(&mut waiter);
            }
            let line = lock(&sem.waiters);
            assert!(
                line.slots.len() <= 2 * line.waiting + COMPACT_AFTER + 1,
                "{} slots for {} waiters",
                line.slots.len(),
                line.waiting
            );
        }
        // The ones that stayed are served in order, found after the compactions.
        sem.release(1 + stayers.len());
        assert!(sem.poll_acquire(&mut cx, &mut head).is_ready());
        for waiter in &mut stayers {
            assert!(matches!(
                sem.poll_acquire(&mut cx, waiter),
                Poll::Ready(Ok(()))
            ));
        }
        let line = lock(&sem.waiters);
        assert_eq!((line.slots.len(), line.waiting, line.left), (0, 0, 0));
    }

    fn poll(sem: &RawSemaphore, waiter: &mut Waiter) -> Poll<Result<(), AcquireError>> {
        sem.poll_acquire(&mut Context::from_waker(Waker::noop()), waiter)
    }

    /// lane.rs invariant 3: waiters who joined the lane are served before those who came later
    /// to the locked line (once the lane closed to newcomers), permit by permit, and a release
    /// that finds lane units owed never feeds the locked line first.
    #[test]
    fn the_lane_is_served_before_the_locked_line_behind_it() {
        let sem = RawSemaphore::with_lane(0);
        let lane = sem.lane.as_deref().unwrap();
        let mut first: Vec<Waiter> = (0..3).map(|_| Waiter::new(1)).collect();
        for waiter in &mut first {
            assert!(poll(&sem, waiter).is_pending());
            assert!(waiter.node.is_some(), "a one-permit waiter joins the lane");
        }
        lane.close_to_newcomers();
        let mut later: Vec<Waiter> = (0..2).map(|_| Waiter::new(1)).collect();
        for waiter in &mut later {
            assert!(poll(&sem, waiter).is_pending());
            assert!(
                waiter.queued && waiter.node.is_none(),
                "then the locked line"
            );
        }
        let mut many = Waiter::new(2);
        assert!(poll(&sem, &mut many).is_pending());
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.try_acquire(1).is_err(), "nobody overtakes the line");
        for (i, waiter) in first.iter_mut().chain(later.iter_mut()).enumerate() {
            sem.release(1);
            assert!(
                matches!(poll(&sem, waiter), Poll::Ready(Ok(()))),
                "waiter {i}"
            );
        }
        sem.release(1);
        assert!(poll(&sem, &mut many).is_pending(), "one of two permits");
        sem.release(2);
        assert!(matches!(poll(&sem, &mut many), Poll::Ready(Ok(()))));
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(lane.queued(), 0);
    }

    /// A release that saw the locked line's `WAITERS`, and takes the lock only after the line
    /// emptied and a lane waiter joined, hands its permit to the lane (the interleaving, step by
    /// step: `release_slow` is what such a release runs once it has seen `WAITERS`).
    #[test]
    fn a_release_late_to_the_locked_line_feeds_the_lane() {
        let sem = RawSemaphore::with_lane(0);
        let lane = sem.lane.as_deref().unwrap();
        lane.close_to_newcomers();
        let mut first = Waiter::new(1);
        assert!(poll(&sem, &mut first).is_pending());
        assert!(first.queued);
        lane.reopen();
        // The late release looked now: `WAITERS` is set. Another release serves `first`.
        assert_ne!(sem.state.load(Ordering::Acquire) & WAITERS, 0);
        sem.release(1);
        assert!(matches!(poll(&sem, &mut first), Poll::Ready(Ok(()))));
        let mut second = Waiter::new(1);
        assert!(poll(&sem, &mut second).is_pending());
        assert!(second.node.is_some(), "the locked line is empty: the lane");
        // The late release takes the lock.
        let left = sem.release_slow(1);
        assert_eq!(left, 1, "the permit is owed to the lane, not to the pool");
        sem.release(left);
        assert!(matches!(poll(&sem, &mut second), Poll::Ready(Ok(()))));
        assert_eq!(sem.available_permits(), 0);
    }

    /// lane.rs invariants 2 and 4: cancelled lane waiters give up their place (a release skips
    /// them and still grants the next), and past the garbage limit newcomers take the locked
    /// line, which removes cancelled waiters at once, so the lane stops growing.
    #[test]
    fn cancelled_lane_waiters_are_skipped_and_bounded() {
        let sem = RawSemaphore::with_lane(0);
        let lane = sem.lane.as_deref().unwrap();
        let mut head = Waiter::new(1);
        assert!(poll(&sem, &mut head).is_pending());
        let mut stayer = None;
        for i in 0..10_000 {
            let mut waiter = Waiter::new(1);
            assert!(poll(&sem, &mut waiter).is_pending());
            if i == 5 {
                stayer = Some(waiter);
            } else {
                sem.cancel(&mut waiter);
            }
            assert!(
                lane.queued() <= crate::lane::GARBAGE_LIMIT + 2,
                "{} queued",
                lane.queued()
            );
        }
        let mut stayer = stayer.unwrap();
        sem.release(1);
        assert!(matches!(poll(&sem, &mut head), Poll::Ready(Ok(()))));
        assert!(poll(&sem, &mut stayer).is_pending());
        // One release skips every cancelled node between the head and the stayer.
        sem.release(1);
        assert!(matches!(poll(&sem, &mut stayer), Poll::Ready(Ok(()))));
        sem.release(2);
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(lane.queued(), 0);
    }

    /// A granted lane waiter that is dropped before it sees the grant passes the permit on, and
    /// `close` fails the lane's waiters and leaves the count at the permits really free.
    #[test]
    fn lane_cancel_after_grant_and_close() {
        let sem = RawSemaphore::with_lane(0);
        let (mut a, mut b, mut c) = (Waiter::new(1), Waiter::new(1), Waiter::new(1));
        for waiter in [&mut a, &mut b, &mut c] {
            assert!(poll(&sem, waiter).is_pending());
        }
        sem.release(1);
        sem.cancel(&mut a);
        assert!(
            matches!(poll(&sem, &mut b), Poll::Ready(Ok(()))),
            "a's permit went to b"
        );
        sem.close();
        assert!(matches!(
            poll(&sem, &mut c),
            Poll::Ready(Err(AcquireError::Closed))
        ));
        sem.release(1);
        assert_eq!(sem.available_permits(), 1);
        assert!(matches!(sem.try_acquire(1), Err(TryAcquireError::Closed)));
    }
}

/// loom models of the lane (`cargo xtask loom` runs the `loom_` tests of this crate's library
/// too). The late release of `tests::a_release_late_to_the_locked_line_feeds_the_lane` is a
/// test of its own, step by step: a loom model of it (two releases and a lane waiter) did not
/// find that interleaving with the hand-back disabled.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;
    use std::future::poll_fn;

    /// `LOOM_MAX_PREEMPTIONS` overrides the bound.
    fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(preemptions);
        }
        builder.check(f);
    }

    /// A lane waiter cancels while a release claims its unit: either it was granted and passes
    /// the permit on, or the release skips it; the other lane waiter gets the permit.
    #[test]
    fn loom_a_cancel_racing_a_grant_loses_no_permit() {
        // Two preemptions: with three it runs for twelve minutes.
        model(2, || {
            let sem = Arc::new(RawSemaphore::with_lane(0));
            let mut cx = Context::from_waker(Waker::noop());
            let mut leaver = Waiter::new(1);
            assert!(sem.poll_acquire(&mut cx, &mut leaver).is_pending());
            assert!(leaver.node.is_some());
            let releaser = {
                let sem = sem.clone();
                thread::spawn(move || sem.release(1))
            };
            let canceller = {
                let sem = sem.clone();
                thread::spawn(move || {
                    let mut leaver = leaver;
                    sem.cancel(&mut leaver);
                })
            };
            let mut stayer = Waiter::new(1);
            let got = loom::future::block_on(poll_fn(|cx| sem.poll_acquire(cx, &mut stayer)));
            assert!(got.is_ok());
            releaser.join().unwrap();
            canceller.join().unwrap();
            assert_eq!(sem.available_permits(), 0);
            sem.release(1);
            assert_eq!(sem.available_permits(), 1);
        });
    }
}
