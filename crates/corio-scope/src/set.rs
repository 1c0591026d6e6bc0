//! A set of futures polled by one parent future, each woken individually: only the children
//! that were woken are polled again (the parent's poll is O(woken), not O(children)).

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::lock;

pub(crate) struct FutureSet<F: ?Sized> {
    /// Where the set was made: the location of a report of a panic while dropping it.
    location: &'static Location<'static>,
    slots: Vec<Option<Slot<F>>>,
    /// The woken futures this call of `poll_next` still has to poll. A future that wakes itself
    /// while being polled goes to the next call, so a child that keeps yielding cannot keep the
    /// parent from returning.
    batch: Vec<usize>,
    free: Vec<usize>,
    ready: Arc<ReadyList>,
    len: usize,
}

struct Slot<F: ?Sized> {
    future: Pin<Box<F>>,
    waker: Arc<SlotWaker>,
}

#[derive(Default)]
struct ReadyList {
    inner: Mutex<(Vec<usize>, Option<Waker>)>,
}

struct SlotWaker {
    index: usize,
    queued: AtomicBool,
    list: Arc<ReadyList>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            let parent = {
                let mut inner = lock(&self.list.inner);
                inner.0.push(self.index);
                inner.1.clone()
            };
            if let Some(parent) = parent {
                parent.wake();
            }
        }
    }
}

impl<F: Future + ?Sized> FutureSet<F> {
    /// A set whose drop reports a destructor's panic at the caller's location (the
    /// combinator's call site, through its own `#[track_caller]`).
    #[track_caller]
    pub(crate) fn new() -> FutureSet<F> {
        FutureSet {
            location: Location::caller(),
            slots: Vec::new(),
            batch: Vec::new(),
            free: Vec::new(),
            ready: Arc::new(ReadyList::default()),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a future; returns its index (stable until it completes or is removed). The parent
    /// must poll the set afterwards (it is queued as woken, but nobody is woken).
    pub(crate) fn push(&mut self, future: Pin<Box<F>>) -> usize {
        let index = self.free.pop().unwrap_or(self.slots.len());
        let waker = Arc::new(SlotWaker {
            index,
            queued: AtomicBool::new(true),
            list: self.ready.clone(),
        });
        let slot = Slot { future, waker };
        if index == self.slots.len() {
            self.slots.push(Some(slot));
        } else {
            self.slots[index] = Some(slot);
        }
        self.len += 1;
        lock(&self.ready.inner).0.push(index);
        index
    }

    /// Polls the woken futures until one completes: `Ready(Some((index, output)))`. Returns
    /// `Ready(None)` when the set is empty.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, F::Output)>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        {
            let mut inner = lock(&self.ready.inner);
            match &inner.1 {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => inner.1 = Some(cx.waker().clone()),
            }
            if self.batch.is_empty() {
                // Oldest wake first.
                std::mem::swap(&mut self.batch, &mut inner.0);
                self.batch.reverse();
            }
        }
        while let Some(index) = self.batch.pop() {
            let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
                continue; // removed after it was woken
            };
            slot.waker.queued.store(false, Ordering::Release);
            let waker = Waker::from(slot.waker.clone());
            let mut child_cx = Context::from_waker(&waker);
            if let Poll::Ready(output) = slot.future.as_mut().poll(&mut child_cx) {
                self.remove(index);
                return Poll::Ready(Some((index, output)));
            }
        }
        // Anything woken during this call is queued for the next one, and the wake has already
        // woken the parent. But entries queued before this call (pushed, or woken while an
        // earlier call still had a batch to finish) had their wake consumed by an earlier poll:
        // ask for another poll, or they would wait for a wake that never comes.
        let queued = !lock(&self.ready.inner).0.is_empty();
        if queued {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Drops the future at `index`, if it is still there.
    pub(crate) fn remove(&mut self, index: usize) {
        if let Some(slot) = self.slots.get_mut(index).and_then(Option::take) {
            drop(slot);
            self.free.push(index);
            self.len -= 1;
        }
    }

    /// Drops every future, in insertion order.
    pub(crate) fn clear(&mut self) {
        for index in 0..self.slots.len() {
            self.remove(index);
        }
    }
}

impl<F: ?Sized> FutureSet<F> {
    /// Drops every future, in insertion order, each under `catch_unwind`: a destructor that
    /// panics neither keeps the others from being dropped nor becomes a double panic (an abort).
    /// Returns the panics caught.
    pub(crate) fn clear_catching(&mut self) -> Vec<Box<dyn Any + Send>> {
        let mut panics = Vec::new();
        for index in 0..self.slots.len() {
            let Some(slot) = self.slots[index].take() else {
                continue;
            };
            self.free.push(index);
            self.len -= 1;
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(slot))) {
                panics.push(payload);
            }
        }
        panics
    }
}

impl<F: ?Sized> Drop for FutureSet<F> {
    fn drop(&mut self) {
        // Reached with futures left only when the parent is dropped mid-way; nobody can observe
        // a destructor's panic any more, so it is reported.
        for payload in self.clear_catching() {
            corio_executor::task::report_unobserved_panic(payload, None, self.location);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    type Boxed = dyn Future<Output = u32> + Send;

    #[test]
    fn a_future_pushed_while_a_batch_is_unfinished_is_not_stranded() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut set: FutureSet<Boxed> = FutureSet::new();
        set.push(Box::pin(async { 1 }));
        set.push(Box::pin(async { 2 }));
        set.push(Box::pin(std::future::pending()));
        // The first call returns the first output with two entries left in its batch.
        assert!(matches!(set.poll_next(&mut cx), Poll::Ready(Some((_, 1)))));
        set.push(Box::pin(async { 4 }));
        assert!(matches!(set.poll_next(&mut cx), Poll::Ready(Some((_, 2)))));
        let before = count.0.load(Ordering::SeqCst);
        // The batch ends with the pending future; the pushed one is still queued, so the set
        // must ask to be polled again rather than wait for a wake that never comes.
        assert!(set.poll_next(&mut cx).is_pending());
        assert!(
            count.0.load(Ordering::SeqCst) > before,
            "the parent was not woken"
        );
        assert!(matches!(set.poll_next(&mut cx), Poll::Ready(Some((_, 4)))));
    }
}
