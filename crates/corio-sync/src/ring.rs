//! The lock-free item store of a FIFO [`Queue`](crate::Queue) with room for at least one item.
//!
//! A get or put on such a queue touches this store without the queue's lock (see `queue_core.rs`,
//! "The lock-free path"). A rendezvous queue, a `LifoQueue` and a `PriorityQueue` keep their
//! items under the lock instead: the first has no slots to store into, the other two need an
//! order that `concurrent-queue` does not keep.

use concurrent_queue::{ConcurrentQueue, PopError, PushError};

use crate::loom_shim::{AtomicUsize, Ordering};

/// Capacities up to this many items get a ring with every slot allocated up front (as the
/// locked buffer preallocates up to the same number); larger ones grow a block at a time.
const RING_MAX: usize = 1024;

/// Where a FIFO queue keeps its items, outside the lock.
#[derive(Debug)]
pub(crate) enum Ring<T> {
    /// A bounded queue of at most [`RING_MAX`] items: `concurrent-queue`'s array ring, which
    /// enforces the capacity itself.
    Array(ConcurrentQueue<T>),
    /// An unbounded queue, or a bounded one too large to allocate up front: `concurrent-queue`'s
    /// linked blocks. A bounded one reserves a slot in `reserved` before it pushes and gives it
    /// back after a pop, so the count never exceeds the capacity.
    Blocks {
        items: ConcurrentQueue<T>,
        limit: Option<Limit>,
    },
}

/// The capacity of a [`Ring::Blocks`] queue and its slots in use.
#[derive(Debug)]
pub(crate) struct Limit {
    cap: usize,
    reserved: AtomicUsize,
}

impl<T> Ring<T> {
    /// A store for `capacity` items (`None`: unbounded). `capacity` must not be 0.
    pub(crate) fn new(capacity: Option<usize>) -> Self {
        match capacity {
            Some(cap) if cap <= RING_MAX => {
                debug_assert!(cap > 0, "a rendezvous queue has no ring");
                Self::Array(ConcurrentQueue::bounded(cap))
            }
            Some(cap) => Self::Blocks {
                items: ConcurrentQueue::unbounded(),
                limit: Some(Limit {
                    cap,
                    reserved: AtomicUsize::new(0),
                }),
            },
            None => Self::Blocks {
                items: ConcurrentQueue::unbounded(),
                limit: None,
            },
        }
    }

    /// Whether a put can ever find this store full.
    #[inline]
    pub(crate) fn is_bounded(&self) -> bool {
        !matches!(self, Self::Blocks { limit: None, .. })
    }

    #[inline]
    pub(crate) fn push(&self, item: T) -> Result<(), PushError<T>> {
        match self {
            Self::Array(items) => items.push(item),
            Self::Blocks { items, limit: None } => items.push(item),
            Self::Blocks {
                items,
                limit: Some(limit),
            } => {
                // Closed wins over full, as in the array ring.
                if items.is_closed() {
                    return Err(PushError::Closed(item));
                }
                let mut used = limit.reserved.load(Ordering::Relaxed);
                loop {
                    if used >= limit.cap {
                        return Err(PushError::Full(item));
                    }
                    match limit.reserved.compare_exchange_weak(
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
                    limit.reserved.fetch_sub(1, Ordering::Relaxed);
                })
            }
        }
    }

    #[inline]
    pub(crate) fn pop(&self) -> Result<T, PopError> {
        match self {
            Self::Array(items) | Self::Blocks { items, limit: None } => items.pop(),
            Self::Blocks {
                items,
                limit: Some(limit),
            } => {
                let item = items.pop()?;
                limit.reserved.fetch_sub(1, Ordering::Relaxed);
                Ok(item)
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Array(items) | Self::Blocks { items, .. } => items.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Self::Array(items) | Self::Blocks { items, .. } => items.is_empty(),
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        match self {
            Self::Array(items) => items.is_full(),
            Self::Blocks { limit: None, .. } => false,
            Self::Blocks {
                limit: Some(limit), ..
            } => limit.reserved.load(Ordering::Relaxed) >= limit.cap,
        }
    }

    /// Makes every later push fail; pops still take what is left.
    pub(crate) fn close(&self) {
        match self {
            Self::Array(items) | Self::Blocks { items, .. } => {
                items.close();
            }
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Self::Array(items) | Self::Blocks { items, .. } => items.is_closed(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_large_bounded_ring_enforces_its_capacity_and_frees_slots() {
        let ring = Ring::new(Some(RING_MAX + 1));
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
        let ring = Ring::new(Some(RING_MAX + 1));
        ring.close();
        assert!(matches!(ring.push(1), Err(PushError::Closed(1))));
        assert!(!ring.is_full());
        assert_eq!(ring.pop(), Err(PopError::Closed));
    }
}
