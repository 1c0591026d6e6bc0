//! The item storage of the three queue kinds.

use std::collections::VecDeque;

/// Where a queue keeps its items, and in what order they come out.
#[derive(Debug)]
pub(crate) enum Buffer<T> {
    /// First in, first out.
    Fifo(VecDeque<T>),
    /// Last in, first out.
    Lifo(Vec<T>),
    /// Smallest first: a binary min-heap ordered by `less`, captured from `T: Ord` when the queue
    /// was made, so the rest of the code needs no `Ord` bound.
    Heap {
        items: Vec<T>,
        less: fn(&T, &T) -> bool,
    },
}

/// Which way a queue orders its items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    Fifo,
    Lifo,
    Priority,
}

/// Storage preallocated up to this many items; bigger queues grow on demand.
const PREALLOCATE: usize = 1024;

fn less<T: Ord>(a: &T, b: &T) -> bool {
    a < b
}

impl<T> Buffer<T> {
    /// A FIFO buffer with room for `capacity` items preallocated (up to a limit). A bounded
    /// queue of two or more slots keeps its items in a ring (`ring.rs`) and passes 0.
    pub(crate) fn fifo(capacity: usize) -> Self {
        Self::Fifo(VecDeque::with_capacity(capacity.min(PREALLOCATE)))
    }

    pub(crate) fn lifo(capacity: usize) -> Self {
        Self::Lifo(Vec::with_capacity(capacity.min(PREALLOCATE)))
    }

    pub(crate) fn heap(capacity: usize) -> Self
    where
        T: Ord,
    {
        Self::Heap {
            items: Vec::with_capacity(capacity.min(PREALLOCATE)),
            less: less::<T>,
        }
    }

    pub(crate) fn order(&self) -> Order {
        match self {
            Self::Fifo(_) => Order::Fifo,
            Self::Lifo(_) => Order::Lifo,
            Self::Heap { .. } => Order::Priority,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Fifo(items) => items.len(),
            Self::Lifo(items) | Self::Heap { items, .. } => items.len(),
        }
    }

    // `inline(always)` with the heap's work out of line: the FIFO case is a few instructions on
    // every put and get, and the compiler stopped inlining the whole match when the queue's
    // futures moved to `queue_core.rs` (a call per item, measured with callgrind).
    #[inline(always)]
    pub(crate) fn push(&mut self, item: T) {
        match self {
            Self::Fifo(items) => items.push_back(item),
            Self::Lifo(items) => items.push(item),
            Self::Heap { items, less } => heap_push(items, *less, item),
        }
    }

    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<T> {
        match self {
            Self::Fifo(items) => items.pop_front(),
            Self::Lifo(items) => items.pop(),
            Self::Heap { items, less } => heap_pop(items, *less),
        }
    }

    /// Removes every item, in the order `pop` would return them.
    pub(crate) fn drain_in_order(&mut self) -> Vec<T> {
        match self {
            Self::Fifo(items) => items.drain(..).collect(),
            Self::Lifo(items) => items.drain(..).rev().collect(),
            Self::Heap { .. } => std::iter::from_fn(|| self.pop()).collect(),
        }
    }

    /// For a priority queue, whether `a` comes out before `b`.
    pub(crate) fn before(&self, a: &T, b: &T) -> bool {
        match self {
            Self::Heap { less, .. } => less(a, b),
            Self::Fifo(_) | Self::Lifo(_) => false,
        }
    }
}

fn heap_push<T>(items: &mut Vec<T>, less: fn(&T, &T) -> bool, item: T) {
    let last = items.len();
    items.push(item);
    sift_up(items, less, last);
}

fn heap_pop<T>(items: &mut Vec<T>, less: fn(&T, &T) -> bool) -> Option<T> {
    let last = items.len().checked_sub(1)?;
    items.swap(0, last);
    let top = items.pop();
    sift_down(items, less, 0);
    top
}

fn sift_up<T>(items: &mut [T], less: fn(&T, &T) -> bool, mut i: usize) {
    while i > 0 {
        let parent = (i - 1) / 2;
        if !less(&items[i], &items[parent]) {
            break;
        }
        items.swap(i, parent);
        i = parent;
    }
}

fn sift_down<T>(items: &mut [T], less: fn(&T, &T) -> bool, mut i: usize) {
    loop {
        let left = 2 * i + 1;
        if left >= items.len() {
            break;
        }
        let right = left + 1;
        let child = if right < items.len() && less(&items[right], &items[left]) {
            right
        } else {
            left
        };
        if !less(&items[child], &items[i]) {
            break;
        }
        items.swap(i, child);
        i = child;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn heap_pops_smallest_first() {
        let mut heap = Buffer::heap(4);
        for x in [5, 1, 4, 1, 9, 2, 6] {
            heap.push(x);
        }
        assert_eq!(heap.pop(), Some(1));
        assert_eq!(heap.drain_in_order(), [1, 2, 4, 5, 6, 9]);
        assert_eq!(heap.pop(), None);
    }

    #[test]
    fn lifo_drains_newest_first() {
        let mut lifo = Buffer::lifo(4);
        for x in 0..4 {
            lifo.push(x);
        }
        assert_eq!(lifo.drain_in_order(), [3, 2, 1, 0]);
    }
}
