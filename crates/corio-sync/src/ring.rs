//! The lock-free item store of a bounded FIFO [`Queue`](crate::Queue) with room for two or more
//! items.
//!
//! A get or put on such a queue touches this store without the queue's lock (see `queue_core.rs`,
//! "The lock-free path"). The other queues keep their items under the lock:
//!
//! - a rendezvous queue has no slots to store into;
//! - a one-slot queue is a hand-off: nearly every operation waits or wakes a waiter, which one
//!   critical section serves more cheaply than the fences and second look of the lock-free path
//!   (`ping_pong`, two one-slot queues per pair: 409 ns per round trip on the locked path, 440 on
//!   this one);
//! - an unbounded queue would need concurrent-queue's linked blocks, which allocate and free a
//!   block every 31 items: a task that puts and then gets (`select_loop`) paid 146 ns per item
//!   against 106 on the locked path;
//! - a `LifoQueue` or `PriorityQueue` needs an order that concurrent-queue does not keep.

use concurrent_queue::{ConcurrentQueue, PopError, PushError};

use crate::loom_shim::{AtomicUsize, Ordering};

/// Capacities up to this many items get a ring with every slot allocated up front (the buffer of
/// a `LifoQueue` or `PriorityQueue` preallocates up to the same number); larger ones grow a block
/// of 31 items at a time.
const RING_MAX: usize = 1024;

/// Where a bounded FIFO queue keeps its items, outside the lock.
#[derive(Debug)]
pub(crate) enum Ring<T> {
    /// At most [`RING_MAX`] items: `concurrent-queue`'s array ring, which enforces the capacity
    /// itself.
    Array(ConcurrentQueue<T>),
    /// A capacity too large to allocate up front: `concurrent-queue`'s linked blocks. A put
    /// reserves a slot in `reserved` before it pushes, and a get gives it back after it pops, so
    /// the count never exceeds the capacity.
    Blocks {
        items: ConcurrentQueue<T>,
        cap: usize,
        reserved: AtomicUsize,
    },
}

impl<T> Ring<T> {
    /// A store for `cap` items; `cap` must be at least 2.
    pub(crate) fn new(cap: usize) -> Self {
        debug_assert!(cap >= 2, "a queue of {cap} slots has no ring");
        if cap <= RING_MAX {
            Self::Array(ConcurrentQueue::bounded(cap))
        } else {
            Self::Blocks {
                items: ConcurrentQueue::unbounded(),
                cap,
                reserved: AtomicUsize::new(0),
            }
        }
    }

    #[inline]
    pub(crate) fn push(&self, item: T) -> Result<(), PushError<T>> {
        match self {
            Self::Array(items) => items.push(item),
            Self::Blocks {
                items,
                cap,
                reserved,
            } => {
                // Closed wins over full, as in the array ring.
                if items.is_closed() {
                    return Err(PushError::Closed(item));
                }
                let mut used = reserved.load(Ordering::Relaxed);
                loop {
                    if used >= *cap {
                        return Err(PushError::Full(item));
                    }
                    match reserved.compare_exchange_weak(
                        used,
                        used + 1,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(now) => used = now,
                    }
                }
                items.push(item).inspect_err(|_| {
                    reserved.fetch_sub(1, Ordering::Relaxed);
                })
            }
        }
    }

    #[inline]
    pub(crate) fn pop(&self) -> Result<T, PopError> {
        match self {
            Self::Array(items) => items.pop(),
            Self::Blocks {
                items, reserved, ..
            } => {
                let item = items.pop()?;
                reserved.fetch_sub(1, Ordering::Relaxed);
                Ok(item)
            }
        }
    }

    fn items(&self) -> &ConcurrentQueue<T> {
        match self {
            Self::Array(items) | Self::Blocks { items, .. } => items,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items().is_empty()
    }

    /// How many more items fit now (a snapshot).
    pub(crate) fn free(&self) -> usize {
        match self {
            Self::Array(items) => items
                .capacity()
                .unwrap_or(usize::MAX)
                .saturating_sub(items.len()),
            Self::Blocks { cap, reserved, .. } => {
                cap.saturating_sub(reserved.load(Ordering::Relaxed))
            }
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        match self {
            Self::Array(items) => items.is_full(),
            Self::Blocks { cap, reserved, .. } => reserved.load(Ordering::Relaxed) >= *cap,
        }
    }

    /// Makes every later push fail; pops still take what is left.
    pub(crate) fn close(&self) {
        self.items().close();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.items().is_closed()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_large_bounded_ring_enforces_its_capacity_and_frees_slots() {
        let ring = Ring::new(RING_MAX + 1);
        assert!(matches!(ring, Ring::Blocks { .. }));
        for i in 0..=RING_MAX {
            ring.push(i).unwrap();
        }
        assert!(ring.is_full());
        assert!(matches!(ring.push(7), Err(PushError::Full(7))));
        assert_eq!(ring.pop(), Ok(0));
        assert!(!ring.is_full());
        ring.push(7).unwrap();
        ring.close();
        assert!(matches!(ring.push(8), Err(PushError::Closed(8))));
        assert_eq!(ring.len(), RING_MAX + 1);
        assert_eq!(ring.pop(), Ok(1));
    }

    #[test]
    fn a_closed_full_ring_reports_closed_and_keeps_its_reservations() {
        let ring = Ring::new(RING_MAX + 1);
        ring.close();
        assert!(matches!(ring.push(1), Err(PushError::Closed(1))));
        assert!(!ring.is_full());
        assert_eq!(ring.pop(), Err(PopError::Closed));
    }
}
