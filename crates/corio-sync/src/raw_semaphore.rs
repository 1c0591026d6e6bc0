//! The strictly FIFO semaphore core shared by `Semaphore`, `Mutex` and `RwLock`.
//!
//! # State
//!
//! One atomic word holds `permits << 2 | WAITERS | CLOSED`. The waiter line lives in a
//! [`WaitList`] behind a per-semaphore lock.
//!
//! # Invariants
//!
//! 1. `WAITERS` is set exactly when the line is non-empty, and it changes only under the lock.
//! 2. While `WAITERS` is set, the atomic permit count is zero: every released permit goes to the
//!    head of the line (partially, if the head wants more than is released). This is what makes the
//!    semaphore strictly FIFO: a newcomer's lock-free fast path sees `WAITERS` and queues up, and a
//!    large request at the head is never overtaken by smaller ones.
//! 3. Permits are conserved: available + assigned to waiters + granted-but-unpolled + held by
//!    permits always equals the permits ever added (saturating at [`MAX_PERMITS`]) minus the
//!    forgotten ones.
//! 4. Each waiter draws a *ticket* when it joins the line, from a counter under the lock, so
//!    tickets grow front to back. `granted` holds the ticket of the last waiter that was given
//!    all it asked for; it changes only under the lock and only grows, because waiters are served
//!    strictly from the head. A waiter with ticket `t` has been granted exactly when
//!    `granted >= t` (waiters ahead of it were granted or left the line).
//! 5. Granting a waiter removes its node from the list (the releaser does it, under the lock), so
//!    a granted waiter never touches its key again: it checks `granted` first, and under the lock
//!    when it needs the node. A node is notified only by `close`, and stays in the list, stripped
//!    of its permits, until its owner removes it.
//!
//! # Fast paths
//!
//! Acquiring with nobody waiting is one compare-and-swap; releasing with nobody waiting is one
//! compare-and-swap. The lock is taken only when someone waits. A waiter woken by a grant learns
//! it from `granted` without the lock (invariants 4 and 5): under contention each acquire takes
//! the lock twice (to queue, and in its releaser) instead of three times.
//!
//! # Cancellation
//!
//! A waiter's node records the permits assigned to it so far. Dropping a waiter (before or after
//! it was granted) releases those permits through the ordinary release path, so they go on to the
//! next waiters in line. Nothing is left behind.

use std::task::{Context, Poll, Waker};

use crate::loom_shim::{AtomicU64, AtomicUsize, Mutex, Ordering, lock};
use crate::waitlist::{HasSpare, WaitList, Wakers, return_spare};
use crate::{AcquireError, TryAcquireError};

const CLOSED: usize = 0b01;
const WAITERS: usize = 0b10;
const SHIFT: usize = 2;

/// The largest number of permits a semaphore can hold: `usize::MAX >> 3`.
///
/// Requests for more than this can never be satisfied and fail at once with
/// [`AcquireError::TooManyPermits`] instead of waiting forever.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 3;

#[inline]
fn permits(state: usize) -> usize {
    state >> SHIFT
}

#[derive(Debug)]
pub(crate) struct RawSemaphore {
    state: AtomicUsize,
    /// The ticket of the last waiter granted all it asked for (invariant 4). 64 bits, so that
    /// tickets never wrap; the crate therefore needs a target with 64-bit atomics.
    granted: AtomicU64,
    waiters: Mutex<Line>,
}

#[derive(Debug)]
struct Line {
    list: WaitList<Want>,
    spare: Vec<Waker>,
    /// The last ticket drawn.
    tickets: u64,
}

impl Line {
    /// Puts `waiter` at the back of the line with `assigned` permits so far, drawing its ticket.
    fn join(&mut self, cx: &Context<'_>, waiter: &mut Waiter, assigned: usize) {
        self.tickets += 1;
        waiter.ticket = self.tickets;
        waiter.key = Some(self.list.push_back(
            cx.waker(),
            Want {
                needed: waiter.needed,
                assigned,
                ticket: self.tickets,
            },
        ));
    }
}

impl HasSpare for Line {
    fn spare(&mut self) -> &mut Vec<Waker> {
        &mut self.spare
    }
}

/// What a waiting acquirer asked for and what it was given so far.
#[derive(Debug)]
struct Want {
    needed: usize,
    assigned: usize,
    ticket: u64,
}

/// The per-future acquire state: the request and the node it owns while it waits.
#[derive(Debug)]
pub(crate) struct Waiter {
    needed: usize,
    key: Option<usize>,
    ticket: u64,
}

impl Waiter {
    #[inline]
    pub(crate) const fn new(needed: usize) -> Self {
        Self {
            needed,
            key: None,
            ticket: 0,
        }
    }

    #[inline]
    pub(crate) fn needed(&self) -> usize {
        self.needed
    }
}

impl RawSemaphore {
    pub(crate) fn new(permits: usize) -> Self {
        Self {
            state: AtomicUsize::new(permits.min(MAX_PERMITS) << SHIFT),
            granted: AtomicU64::new(0),
            waiters: Mutex::new(Line {
                list: WaitList::new(),
                spare: Vec::new(),
                tickets: 0,
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
        let result = match waiter.key {
            None => self.poll_first(cx, waiter),
            Some(key) => self.poll_again(cx, waiter, key),
        };
        if let Poll::Ready(Ok(())) = result {
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
                // First in line: take what there is now, wait for the rest.
                ((state & CLOSED) | WAITERS, permits(state))
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
        key: usize,
    ) -> Poll<Result<(), AcquireError>> {
        // Invariant 5: a granted waiter's node is gone; it must not look at its key.
        if self.granted.load(Ordering::Acquire) >= waiter.ticket {
            waiter.key = None;
            return Poll::Ready(Ok(()));
        }
        let mut line = lock(&self.waiters);
        if self.granted.load(Ordering::Acquire) >= waiter.ticket {
            // Granted between the check and the lock.
            drop(line);
            waiter.key = None;
            return Poll::Ready(Ok(()));
        }
        if !line.list.node(key).is_notified() {
            let stale = line.list.update_waker(key, cx.waker());
            drop(line);
            drop(stale);
            return Poll::Pending;
        }
        let node = line.list.remove(key);
        waiter.key = None;
        drop(line);
        // Only `close` notifies a node (invariant 5), and it strips it to zero.
        if node.payload.assigned == node.payload.needed {
            Poll::Ready(Ok(()))
        } else {
            Poll::Ready(Err(AcquireError::Closed))
        }
    }

    /// Cancels a waiter (call from the future's `Drop`): whatever it was given goes to the next
    /// waiters.
    pub(crate) fn cancel(&self, waiter: &mut Waiter) {
        let Some(key) = waiter.key.take() else { return };
        let mut line = lock(&self.waiters);
        if self.granted.load(Ordering::Acquire) >= waiter.ticket {
            // Granted but never polled: the node is gone (invariant 5) and the permits are ours
            // to pass on.
            drop(line);
            self.release(waiter.needed);
            return;
        }
        let was_waiting = !line.list.node(key).is_notified();
        let node = line.list.remove(key);
        let give_back = node.payload.assigned;
        if give_back == 0 && !(was_waiting && line.list.is_empty()) {
            drop(line);
            drop(node);
            return;
        }
        let mut wakers = Wakers::with_spare(&mut line.spare);
        self.release_locked(give_back, &mut line, &mut wakers);
        drop(line);
        drop(node);
        return_spare(&self.waiters, wakers.wake());
    }

    /// Returns `n` permits: to the waiters in line first, in order, and the rest to the pool.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut state = self.state.load(Ordering::Acquire);
        while state & WAITERS == 0 {
            let next = (state & (CLOSED | WAITERS))
                | (permits(state).saturating_add(n).min(MAX_PERMITS) << SHIFT);
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        self.release_slow(n);
    }

    #[cold]
    fn release_slow(&self, n: usize) {
        let mut line = lock(&self.waiters);
        let mut wakers = Wakers::with_spare(&mut line.spare);
        self.release_locked(n, &mut line, &mut wakers);
        drop(line);
        return_spare(&self.waiters, wakers.wake());
    }

    /// The release path under the lock. Also restores invariant 1 when the line has emptied.
    fn release_locked(&self, mut rem: usize, line: &mut Line, wakers: &mut Wakers) {
        while rem > 0 {
            let Some(head) = line.list.head() else { break };
            let want = &mut line.list.node_mut(head).payload;
            let give = rem.min(want.needed - want.assigned);
            want.assigned += give;
            rem -= give;
            if want.assigned == want.needed {
                // Invariants 4 and 5: the grant removes the node and publishes the ticket.
                let ticket = want.ticket;
                let mut node = line.list.remove(head);
                self.granted.store(ticket, Ordering::Release);
                wakers.push_opt(node.take_waker());
            }
        }
        if !line.list.is_empty() {
            // Invariant 2 holds: `rem` is 0 and the atomic count stays 0.
            return;
        }
        // The line is empty: clear `WAITERS` (if set) and put the rest back into the pool. Other
        // threads may only flip `CLOSED` or, when `WAITERS` is clear, move permits meanwhile.
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if rem == 0 && state & WAITERS == 0 {
                return;
            }
            let next =
                (state & CLOSED) | (permits(state).saturating_add(rem).min(MAX_PERMITS) << SHIFT);
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }

    /// Closes the semaphore: every waiter in line fails, and so does every later acquire.
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        let mut line = lock(&self.waiters);
        let mut wakers = Wakers::with_spare(&mut line.spare);
        let mut reclaimed = 0usize;
        line.list.notify_all(&mut wakers, |want| {
            reclaimed += want.assigned;
            want.assigned = 0;
        });
        // The line is empty now: hand the reclaimed permits to the pool, clearing `WAITERS`.
        self.release_locked(reclaimed, &mut line, &mut wakers);
        drop(line);
        return_spare(&self.waiters, wakers.wake());
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
