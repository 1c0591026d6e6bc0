//! The waiter list every primitive is built on.
//!
//! A `WaitList` is a FIFO of parked futures, stored as a doubly-linked list threaded through a
//! [`Slab`]. It always lives inside its primitive's lock. Each waiting future owns one *node* (its
//! slab key) from its first `Pending` poll until it completes or is dropped; only the owner removes
//! its node, so a key stays valid for exactly that long. (The semaphore keeps its own line of
//! slots instead; see `raw_semaphore.rs`.)
//!
//! A node is either *linked* (waiting in line) or *notified* (taken out of the line by a wake-up,
//! waiting for its owner to poll again). Notifying takes the node's waker out so that the caller
//! can wake it after releasing the lock. A notified node that turns out to have nothing to do can
//! be put back at the *front* of the line, so a woken waiter never loses its place to the wake-up
//! that failed it.
//!
//! The slab keeps its memory between uses, so once the list has grown to the largest number of
//! simultaneous waiters, waiting and waking allocate nothing.

use std::task::Waker;

use slab::Slab;

const NIL: usize = usize::MAX;

/// One parked future.
#[derive(Debug)]
pub(crate) struct Node<P> {
    prev: usize,
    next: usize,
    linked: bool,
    waker: Option<Waker>,
    /// Per-primitive data: permits wanted, an offered item, the way it was notified, ...
    pub(crate) payload: P,
}

impl<P> Node<P> {
    /// Whether a wake-up took this node out of the line.
    #[inline]
    pub(crate) fn is_notified(&self) -> bool {
        !self.linked
    }
}

/// A FIFO of parked futures (see the module docs).
#[derive(Debug)]
pub(crate) struct WaitList<P> {
    nodes: Slab<Node<P>>,
    head: usize,
    tail: usize,
    linked: usize,
}

impl<P> WaitList<P> {
    pub(crate) const fn new() -> Self {
        Self {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            linked: 0,
        }
    }

    /// Whether nobody waits in line.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// How many waiters are in line (not notified).
    #[inline]
    pub(crate) fn linked_len(&self) -> usize {
        self.linked
    }

    /// How many waiters were notified and have not yet polled or been dropped.
    #[inline]
    pub(crate) fn notified_len(&self) -> usize {
        self.nodes.len() - self.linked
    }

    /// Adds a waiter at the back of the line and returns its key.
    pub(crate) fn push_back(&mut self, waker: &Waker, payload: P) -> usize {
        let key = self.nodes.insert(Node {
            prev: NIL,
            next: NIL,
            linked: false,
            waker: Some(waker.clone()),
            payload,
        });
        self.link_back(key);
        key
    }

    /// Puts a notified node back into the line, at the front, with a fresh waker.
    pub(crate) fn relink_front(&mut self, key: usize, waker: &Waker) {
        let node = &mut self.nodes[key];
        debug_assert!(!node.linked, "relinking a node that is in line");
        node.waker = Some(waker.clone());
        node.prev = NIL;
        node.next = self.head;
        node.linked = true;
        match self.head {
            NIL => self.tail = key,
            head => self.nodes[head].prev = key,
        }
        self.head = key;
        self.linked += 1;
    }

    #[inline]
    pub(crate) fn node(&self, key: usize) -> &Node<P> {
        &self.nodes[key]
    }

    #[inline]
    pub(crate) fn node_mut(&mut self, key: usize) -> &mut Node<P> {
        &mut self.nodes[key]
    }

    /// Stores `waker` in a linked node unless it already holds an equivalent one. Returns the
    /// replaced waker, for the caller to drop after releasing the lock (see [`WaitList::remove`]).
    #[inline]
    #[must_use = "drop the stale waker after releasing the lock"]
    pub(crate) fn update_waker(&mut self, key: usize, waker: &Waker) -> Option<Waker> {
        let slot = &mut self.nodes[key].waker;
        match slot {
            Some(old) if old.will_wake(waker) => None,
            _ => slot.replace(waker.clone()),
        }
    }

    /// Removes a node (linked or notified) for good and returns it; the returned node still tells
    /// whether it had been notified.
    ///
    /// A node removed while still linked holds its waker: callers drop the node only after
    /// releasing the lock, because dropping the last reference to a task's waker may drop the task
    /// and with it other futures of the same primitive, whose `Drop` takes this lock again.
    pub(crate) fn remove(&mut self, key: usize) -> Node<P> {
        let was_linked = self.nodes[key].linked;
        if was_linked {
            self.unlink(key);
        }
        let mut node = self.nodes.remove(key);
        node.linked = was_linked;
        node
    }

    /// The key of the first waiter in line.
    #[inline]
    pub(crate) fn head(&self) -> Option<usize> {
        (self.head != NIL).then_some(self.head)
    }

    /// The key of the last waiter in line.
    #[inline]
    pub(crate) fn tail(&self) -> Option<usize> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Every waiter's payload, in line or already notified, in no particular order.
    pub(crate) fn payloads_mut(&mut self) -> impl Iterator<Item = &mut P> + '_ {
        self.nodes.iter_mut().map(|(_, node)| &mut node.payload)
    }

    /// The keys of the waiters in line, front to back.
    pub(crate) fn keys(&self) -> impl Iterator<Item = usize> + '_ {
        let mut cursor = self.head;
        std::iter::from_fn(move || {
            let key = cursor;
            if key == NIL {
                return None;
            }
            cursor = self.nodes[key].next;
            Some(key)
        })
    }

    /// Takes the node out of the line and returns its waker, for the caller to wake after
    /// releasing the lock.
    pub(crate) fn notify(&mut self, key: usize) -> Option<Waker> {
        self.unlink(key);
        self.nodes[key].waker.take()
    }

    /// Notifies the first waiter in line, if any.
    #[inline]
    pub(crate) fn notify_head(&mut self) -> Option<Waker> {
        let head = self.head()?;
        self.notify(head)
    }

    /// Notifies every waiter in line, applying `mark` to each payload, and collects the wakers.
    pub(crate) fn notify_all(&mut self, wakers: &mut Wakers, mut mark: impl FnMut(&mut P)) {
        while let Some(head) = self.head() {
            mark(&mut self.nodes[head].payload);
            if let Some(waker) = self.notify(head) {
                wakers.push(waker);
            }
        }
    }

    fn link_back(&mut self, key: usize) {
        let node = &mut self.nodes[key];
        node.prev = self.tail;
        node.next = NIL;
        node.linked = true;
        match self.tail {
            NIL => self.head = key,
            tail => self.nodes[tail].next = key,
        }
        self.tail = key;
        self.linked += 1;
    }

    fn unlink(&mut self, key: usize) {
        let node = &mut self.nodes[key];
        debug_assert!(node.linked, "unlinking a node that is not in line");
        let (prev, next) = (node.prev, node.next);
        node.linked = false;
        node.prev = NIL;
        node.next = NIL;
        match prev {
            NIL => self.head = next,
            prev => self.nodes[prev].next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.nodes[next].prev = prev,
        }
        self.linked -= 1;
    }
}

/// Wakers collected under a lock, to be woken after it is released.
///
/// The first waker is held inline, so the common single wake-up allocates nothing. More go into a
/// vector borrowed from the primitive (`spare`), which is handed back after waking, so broadcasts
/// (`close`, `notify_all`, a barrier opening) do not allocate in steady state either.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    one: Option<Waker>,
    more: Vec<Waker>,
}

impl Wakers {
    /// An empty set with no buffer: for a caller that wakes at most one waiter (a second
    /// would allocate).
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            one: None,
            more: Vec::new(),
        }
    }

    /// An empty set that will put extra wakers in `spare`'s buffer.
    #[inline]
    pub(crate) fn with_spare(spare: &mut Vec<Waker>) -> Self {
        Self {
            one: None,
            more: std::mem::take(spare),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, waker: Waker) {
        if self.one.is_none() {
            self.one = Some(waker);
        } else {
            self.more.push(waker);
        }
    }

    #[inline]
    pub(crate) fn push_opt(&mut self, waker: Option<Waker>) {
        if let Some(waker) = waker {
            self.push(waker);
        }
    }

    /// Wakes everything (call it with no lock held) and returns the emptied buffer for reuse.
    #[inline]
    pub(crate) fn wake(mut self) -> Vec<Waker> {
        if let Some(waker) = self.one.take() {
            waker.wake();
        }
        if !self.more.is_empty() {
            for waker in self.more.drain(..) {
                waker.wake();
            }
        }
        std::mem::take(&mut self.more)
    }
}

/// Gives a woken-out buffer back to its primitive if nobody else holds the lock right now.
#[inline]
pub(crate) fn return_spare(lock: &crate::loom_shim::Mutex<impl HasSpare>, buffer: Vec<Waker>) {
    if buffer.capacity() == 0 {
        return;
    }
    if let Ok(mut state) = lock.try_lock() {
        let spare = state.spare();
        if spare.capacity() < buffer.capacity() {
            *spare = buffer;
        }
    }
}

/// A primitive state that keeps a spare waker buffer.
pub(crate) trait HasSpare {
    fn spare(&mut self) -> &mut Vec<Waker>;
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_notify_relink_and_remove() {
        let waker = Waker::noop();
        let mut list = WaitList::new();
        let a = list.push_back(waker, 'a');
        let b = list.push_back(waker, 'b');
        let c = list.push_back(waker, 'c');
        assert_eq!(list.keys().collect::<Vec<_>>(), [a, b, c]);
        assert!(list.notify_head().is_some());
        assert!(list.node(a).is_notified());
        assert_eq!(list.keys().count(), 2);
        list.relink_front(a, waker);
        assert_eq!(list.keys().collect::<Vec<_>>(), [a, b, c]);
        let removed = list.remove(b);
        assert_eq!(removed.payload, 'b');
        assert!(!removed.is_notified(), "removed while waiting");
        assert_eq!(list.keys().collect::<Vec<_>>(), [a, c]);
        assert_eq!(list.tail(), Some(c));
        assert_eq!(list.remove(c).payload, 'c');
        assert_eq!(list.tail(), Some(a));
        assert_eq!(list.remove(a).payload, 'a');
        assert!(list.is_empty());
        assert_eq!(list.head(), None);
    }

    #[test]
    fn wakers_reuse_the_spare_buffer() {
        let mut spare = Vec::with_capacity(8);
        let mut wakers = Wakers::with_spare(&mut spare);
        for _ in 0..3 {
            wakers.push(Waker::noop().clone());
        }
        let back = wakers.wake();
        assert!(back.is_empty());
        assert!(back.capacity() >= 8);
    }
}
