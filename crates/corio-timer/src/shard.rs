//! One wheel of a timer behind its lock, and the registrations made in it.
//!
//! A timer has one or more *shards*, each a wheel behind its own lock on a cache line of its
//! own. A thread registers in the shard it was given when it entered the timer
//! ([`Timer::enter`](crate::Timer::enter) hands shards out in turn), so the workers of a
//! multi-threaded runtime do not contend for one lock, or even one cache line, on every
//! `timeout`. A registration ([`Entry`]) keeps a reference to its shard, so it can be polled and
//! cancelled from any thread. The driver fires every shard.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Waker;

use crate::loom_shim::{AtomicU64, Mutex, MutexGuard};
use crate::wheel::{EntryPoll, Wheel};

/// One wheel of a timer (see the module docs), aligned so that shards share no cache line.
#[repr(align(128))]
pub(crate) struct Shard {
    wheel: Mutex<Wheel>,
    /// The wheel's next expiration (the earliest tick at which advancing it does anything;
    /// `u64::MAX`: never), kept under the wheel lock. It may be early (a cancelled timer) but
    /// never late, so [`Shared::fire_due`](crate::timer::Shared::fire_due) can skip the lock,
    /// and even the clock read, when nothing can be due: a busy runtime checks timers every few
    /// dozen task polls.
    pub(crate) next_due: AtomicU64,
    /// Set (under the wheel lock) when the timer's driver is dropped with its runtime: nothing
    /// will fire this wheel again. Its sleeps are woken and move to the current timer (see
    /// `Sleep::poll_elapsed`), and registrations go to the process-wide timer.
    closed: std::sync::atomic::AtomicBool,
    /// The id of the timer this wheel belongs to (see `Timer::owns`).
    pub(crate) timer: u64,
}

impl Shard {
    pub(crate) fn new(timer: u64) -> Shard {
        Shard {
            wheel: Mutex::new(Wheel::new()),
            next_due: AtomicU64::new(u64::MAX),
            closed: std::sync::atomic::AtomicBool::new(false),
            timer,
        }
    }

    /// Whether the driver of this shard's timer is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the shard closed and returns the wakers of its registrations, to be woken.
    pub(crate) fn close(&self) -> Vec<Waker> {
        let mut wheel = self.lock();
        self.closed.store(true, Ordering::Release);
        wheel.clear_wakers()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Wheel> {
        self.wheel.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes the wheel's next expiration; call with the lock held.
    pub(crate) fn publish(&self, wheel: &Wheel) {
        let next = wheel.next_expiration().unwrap_or(u64::MAX);
        if self.next_due.load(Ordering::Relaxed) != next {
            self.next_due.store(next, Ordering::Release);
        }
    }
}

/// A registered timer: its shard and its key there. Polled and cancelled from any thread.
pub(crate) struct Entry {
    pub(crate) shard: Arc<Shard>,
    pub(crate) key: usize,
}

impl Entry {
    /// Returns `true` if the entry fired (and frees it); otherwise updates its waker.
    pub(crate) fn poll(&self, waker: &Waker) -> bool {
        self.shard.lock().poll(self.key, waker) == EntryPoll::Fired
    }

    pub(crate) fn cancel(self) {
        let waker = self.shard.lock().remove(self.key);
        drop(waker);
    }
}
