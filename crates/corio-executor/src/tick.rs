//! What the two schedulers count the same way: the tick intervals at which a busy loop looks at the
//! driver and at the tasks woken from other threads, and the per-thread counters behind
//! `metrics()`. The single-threaded loop (`local.rs`) and the work-stealing pool (`multi.rs`) both
//! use them, so neither borrows from the other.

use std::sync::atomic::{AtomicU64, Ordering};

/// How often, in ticks, a busy loop polls the driver (timers and I/O) without blocking. A tick is
/// one task poll (or, on a single-threaded loop, one poll of its main future); a single-threaded
/// loop also runs at most this many ready tasks between two looks at the driver.
pub(crate) const EVENT_INTERVAL: u32 = 61;

/// How often, in ticks, a busy loop takes the tasks woken from other threads (its injector) before
/// its own queue.
pub(crate) const GLOBAL_INTERVAL: u32 = 31;

/// Adds one to a counter that only the calling thread writes: a plain load and store, no atomic
/// read-modify-write. The counters are summed on read.
#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}
