//! What the two schedulers count the same way: the tick intervals at which a busy loop looks at the
//! driver and at the tasks woken from other threads, and the per-thread counters behind
//! `metrics()`. The single-threaded loop (`local.rs`) and the work-stealing pool (`multi.rs`) both
//! use them, so neither borrows from the other.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// How often, in ticks, a busy loop polls the driver (timers and I/O) without blocking. A tick is
/// one task poll (or, on a single-threaded loop, one poll of its main future); a single-threaded
/// loop also runs at most this many ready tasks between two looks at the driver.
pub(crate) const EVENT_INTERVAL: u32 = 61;

/// How often, in ticks, a busy loop takes the tasks woken from other threads (its injector) before
/// its own queue.
pub(crate) const GLOBAL_INTERVAL: u32 = 31;

/// A run queue that a burst of spawns grew beyond this many slots (128 KiB) is shrunk when its
/// loop goes to sleep with nothing to run: 200,000 tasks spawned at once left 2 MiB of queue
/// behind for good, 10 bytes for every task that then waits. Not as soon as it drains: a loop
/// that spawns a burst again and again then grew it again each time (`spawn_many`, 11
/// iterations: 5,802 page faults against 3,946), and below the threshold a queue keeps its
/// memory anyway.
const SHRINK_ABOVE: usize = 16 * 1024;

/// What an empty queue that is shrunk keeps (8 KiB).
const KEEP_AFTER_SHRINK: usize = 1024;

/// Call when the loop owning `queue` goes to sleep: gives back what a burst grew it to, if it is
/// empty.
#[inline]
pub(crate) fn release_burst<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > SHRINK_ABOVE {
        queue.shrink_to(KEEP_AFTER_SHRINK);
    }
}

/// Adds one to a counter that only the calling thread writes: a plain load and store, no atomic
/// read-modify-write. The counters are summed on read.
#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// [`bump`] for a count of completed tasks: stored with `Release`, so that a reader that loads
/// it with `Acquire` and then reads the spawn counts sees the spawn of every task it counted
/// as completed (the metrics' `spawned >= completed`; free on x86).
#[inline]
pub(crate) fn bump_completed(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Release);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_a_queue_grown_past_the_threshold_is_shrunk() {
        let mut burst: VecDeque<u32> = (0..100_000).collect();
        burst.clear();
        release_burst(&mut burst);
        assert!(
            burst.capacity() <= KEEP_AFTER_SHRINK * 2,
            "{}",
            burst.capacity()
        );

        let mut steady: VecDeque<u32> = (0..8_000).collect();
        steady.clear();
        let before = steady.capacity();
        release_burst(&mut steady);
        assert_eq!(
            steady.capacity(),
            before,
            "a queue below the threshold keeps its memory"
        );
    }
}
