//! A single-value channel that keeps only the latest value, for state that many tasks watch.
//!
//! [`channel`] returns a [`Sender`] and a first [`Receiver`]. The sender replaces the value;
//! receivers [`borrow`](Receiver::borrow) it whenever they like and wait with
//! [`changed`](Receiver::changed) for a newer one. Intermediate values a receiver was too slow to
//! see are simply skipped: a receiver always catches up with the latest value, never with a
//! backlog. Use it for configuration, health status or a shutdown flag.
//!
//! # Invariants
//!
//! - **Versions.** The value carries a version, bumped by every [`send`](Sender::send),
//!   [`send_replace`](Sender::send_replace) and [`send_modify`](Sender::send_modify) under the
//!   value's lock. A receiver remembers the version it *saw*: the one current when it was made (the
//!   value given to [`channel`] counts as seen; a [`subscribe`](Sender::subscribe)d receiver has
//!   seen the value current at that time; a clone has seen what its original had seen).
//!   [`changed`](Receiver::changed) and [`borrow_and_update`](Receiver::borrow_and_update) mark
//!   the newest version seen; [`borrow`](Receiver::borrow) does not.
//! - **Changed.** `changed()` completes with `Ok` as soon as the current version differs from the
//!   seen one, and with [`RecvError`] only once the sender is dropped *and* nothing unseen is left,
//!   so the last value sent before the sender goes away is never missed. It never waits when a
//!   newer value exists.
//! - **No lost wake-up.** A send bumps the version before it wakes the waiting receivers, and a
//!   waiting receiver re-reads the version under the waiters' lock before it parks, so a send that
//!   races with `changed()` is either seen by the check or wakes the waiter.
//! - **Cancel-safe.** A [`Changed`] future marks the version seen only in the poll that returns
//!   `Ok`; dropping it at any point changes nothing, so the next `changed()` still reports the
//!   change. Every send wakes every waiting receiver, so there is no wake-up to pass on.
//! - **Locking.** The value sits behind its own read-write lock, which a [`Ref`] holds (for
//!   reading) while it lives: keep a `Ref` short, never hold one across an `.await`, and never
//!   send on the same thread while holding one (the send would wait for the `Ref` forever).
//!   Several `Ref`s may be alive at once, on one thread or many; but a second `borrow` on a thread
//!   that already holds a `Ref` waits if a send on another thread is waiting for the lock meanwhile
//!   (the lock lets a waiting writer in before new readers), so do not nest them where sends can
//!   race. Waiting receivers sit behind a second lock, so borrowing never blocks a `changed()`.
//! - **Send fails when nobody listens.** [`Sender::send`] hands the value back in [`SendError`]
//!   when every receiver is gone (as tokio does); `send_replace` and `send_modify` store it anyway.
//!
//! # Examples
//!
//! ```
//! use corio_sync::watch;
//!
//! # futures_lite::future::block_on(async {
//! let (tx, mut rx) = watch::channel("starting");
//! let watcher = std::thread::spawn(move || {
//!     futures_lite::future::block_on(async move {
//!         let mut seen = vec![*rx.borrow()];
//!         while rx.changed().await.is_ok() {
//!             seen.push(*rx.borrow_and_update());
//!         }
//!         seen // ends with "stopped", whatever it skipped in between
//!     })
//! });
//! tx.send("running").unwrap();
//! tx.send("stopped").unwrap();
//! drop(tx);
//! assert_eq!(watcher.join().unwrap().last(), Some(&"stopped"));
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::coop;
use crate::loom_shim::{
    AtomicU64, AtomicUsize, Mutex, Ordering, RwLock, RwLockReadGuard, lock, read, write,
};
use crate::waitlist::{HasSpare, WaitList, Wakers, return_spare};

/// Creates a watch channel holding `init`, which every first receiver counts as seen.
///
/// # Examples
///
/// ```
/// let (tx, rx) = corio_sync::watch::channel(1);
/// assert_eq!(*rx.borrow(), 1);
/// assert_eq!(rx.has_changed(), Ok(false)); // the initial value counts as seen
/// tx.send(2).unwrap();
/// assert_eq!(rx.has_changed(), Ok(true));
/// ```
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(Versioned {
            value: init,
            version: 0,
        }),
        version: AtomicU64::new(0),
        receivers: AtomicUsize::new(1),
        state: Mutex::new(State {
            closed: false,
            waiters: WaitList::new(),
            spare: Vec::new(),
        }),
    });
    let rx = Receiver {
        shared: shared.clone(),
        seen: 0,
    };
    (Sender { shared }, rx)
}

/// [`Sender::send`] found no receiver; the value is handed back and was not stored.
///
/// # Examples
///
/// ```
/// use corio_sync::watch::{self, SendError};
///
/// let (tx, rx) = watch::channel(0);
/// drop(rx);
/// assert_eq!(tx.send(1), Err(SendError(1)));
/// assert_eq!(SendError(1).to_string(), "watch channel has no receivers");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("watch channel has no receivers")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// The sender was dropped and the receiver has seen the last value it sent.
///
/// # Examples
///
/// ```
/// use corio_sync::watch::{self, RecvError};
///
/// # futures_lite::future::block_on(async {
/// let (tx, mut rx) = watch::channel(0);
/// tx.send(1).unwrap();
/// drop(tx);
/// assert_eq!(rx.changed().await, Ok(())); // the last value is not missed
/// assert_eq!(rx.changed().await, Err(RecvError));
/// assert_eq!(RecvError.to_string(), "watch sender dropped");
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("watch sender dropped")
    }
}

impl std::error::Error for RecvError {}

struct Shared<T> {
    value: RwLock<Versioned<T>>,
    /// A copy of `value.version`, written under the value's lock, so that `changed` and
    /// `has_changed` can compare versions without taking it.
    version: AtomicU64,
    receivers: AtomicUsize,
    state: Mutex<State>,
}

struct Versioned<T> {
    value: T,
    version: u64,
}

struct State {
    closed: bool,
    /// Receivers waiting in `changed`; every send and the sender's drop wake them all.
    waiters: WaitList<()>,
    spare: Vec<Waker>,
}

impl HasSpare for State {
    fn spare(&mut self) -> &mut Vec<Waker> {
        &mut self.spare
    }
}

impl<T> Shared<T> {
    /// Wakes every waiting receiver (after a version bump or the close).
    fn notify_all(&self, close: bool) {
        let mut st = lock(&self.state);
        st.closed |= close;
        if st.waiters.is_empty() {
            return;
        }
        let mut wakers = Wakers::with_spare(&mut st.spare);
        st.waiters.notify_all(&mut wakers, |()| {});
        drop(st);
        return_spare(&self.state, wakers.wake());
    }

    /// Runs `f` on the value under its lock and bumps the version.
    fn modify<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut out = None;
        self.modify_if(|value| {
            out = Some(f(value));
            true
        });
        out.expect("`modify_if` runs its closure")
    }

    /// Runs `f` on the value under its lock; if it says it modified the value, bumps the
    /// version and wakes the waiting receivers.
    fn modify_if(&self, f: impl FnOnce(&mut T) -> bool) -> bool {
        let mut guard = write(&self.value);
        if !f(&mut guard.value) {
            return false;
        }
        guard.version += 1;
        self.version.store(guard.version, Ordering::Release);
        drop(guard);
        self.notify_all(false);
        true
    }
}

/// The sending half of a [`watch`](self) channel. Dropping it closes the channel.
///
/// # Examples
///
/// ```
/// let (tx, rx) = corio_sync::watch::channel(0);
/// tx.send(1).unwrap();
/// assert_eq!(*tx.borrow(), 1);
/// # drop(rx);
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Replaces the value and wakes every waiting receiver; fails, handing the value back without
    /// storing it, if every receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::watch::channel("a");
    /// assert_eq!(tx.send("b"), Ok(()));
    /// assert_eq!(*rx.borrow(), "b");
    /// drop(rx);
    /// assert_eq!(tx.send("c").unwrap_err().0, "c");
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.receivers.load(Ordering::Acquire) == 0 {
            return Err(SendError(value));
        }
        drop(self.send_replace(value));
        Ok(())
    }

    /// Replaces the value even if no receiver is left, and returns the old one.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::watch::channel(1);
    /// drop(rx);
    /// assert_eq!(tx.send_replace(2), 1);
    /// assert_eq!(*tx.borrow(), 2);
    /// ```
    pub fn send_replace(&self, value: T) -> T {
        self.shared
            .modify(move |slot| std::mem::replace(slot, value))
    }

    /// Modifies the value in place (under its lock) and notifies receivers, even if none is
    /// left. If `modify` panics, the version is not bumped and nobody is notified.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::watch::channel(vec![1]);
    /// tx.send_modify(|v| v.push(2));
    /// assert_eq!(*rx.borrow(), [1, 2]);
    /// assert_eq!(rx.has_changed(), Ok(true));
    /// ```
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.shared.modify(modify);
    }

    /// Modifies the value in place (under its lock) and, if `modify` returns `true`, notifies
    /// receivers as a send does; if it returns `false`, nobody hears of it (receivers see the
    /// value as it is now, but `changed()` does not complete for it). Returns what `modify`
    /// returned. Works even if no receiver is left. If `modify` panics, nobody is notified (the
    /// value keeps whatever it did before the panic).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = corio_sync::watch::channel(5);
    /// // Only a real change is announced.
    /// let set = |new: i32| tx.send_if_modified(|v| std::mem::replace(v, new) != new);
    /// assert!(!set(5));
    /// assert_eq!(rx.has_changed(), Ok(false));
    /// assert!(set(6));
    /// assert_eq!(rx.has_changed(), Ok(true));
    /// assert_eq!(*rx.borrow_and_update(), 6);
    /// ```
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        self.shared.modify_if(modify)
    }

    /// Borrows the current value. The [`Ref`] holds the value's lock: keep it short.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = corio_sync::watch::channel(String::from("hi"));
    /// assert_eq!(tx.borrow().len(), 2);
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: read(&self.shared.value),
        }
    }

    /// Creates a receiver that has seen the current value, so its `changed()` waits for the next
    /// send.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = corio_sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// let rx2 = tx.subscribe();
    /// assert_eq!(rx2.has_changed(), Ok(false));
    /// assert_eq!(*rx2.borrow(), 1);
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        let guard = read(&self.shared.value);
        self.shared.receivers.fetch_add(1, Ordering::AcqRel);
        let seen = guard.version;
        drop(guard);
        Receiver {
            shared: self.shared.clone(),
            seen,
        }
    }

    /// The number of live receivers.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::watch::channel(0);
    /// let rx2 = rx.clone();
    /// assert_eq!(tx.receiver_count(), 2);
    /// drop((rx, rx2));
    /// assert_eq!(tx.receiver_count(), 0);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Ordering::Acquire)
    }

    /// Whether every receiver is gone (a [`send`](Self::send) would fail).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::watch::channel(0);
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.notify_all(true);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("version", &self.shared.version.load(Ordering::Acquire))
            .field("receivers", &self.receiver_count())
            .finish_non_exhaustive()
    }
}

/// The receiving half of a [`watch`](self) channel. Cloning it makes a receiver that has seen
/// what this one has seen.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let (tx, mut rx) = corio_sync::watch::channel(0);
/// tx.send(1).unwrap();
/// let mut rx2 = rx.clone();
/// rx.changed().await.unwrap();
/// rx2.changed().await.unwrap();
/// assert_eq!(*rx2.borrow(), 1);
/// # });
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The version this receiver has seen.
    seen: u64,
}

impl<T> Receiver<T> {
    /// Borrows the current value without marking it seen. The [`Ref`] holds the value's lock:
    /// keep it short and never hold it across an `.await`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::watch::channel(1);
    /// tx.send(2).unwrap();
    /// assert_eq!(*rx.borrow(), 2);
    /// assert_eq!(rx.has_changed(), Ok(true)); // still unseen
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: read(&self.shared.value),
        }
    }

    /// Borrows the current value and marks it seen.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = corio_sync::watch::channel(1);
    /// tx.send(2).unwrap();
    /// assert_eq!(*rx.borrow_and_update(), 2);
    /// assert_eq!(rx.has_changed(), Ok(false));
    /// ```
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = read(&self.shared.value);
        self.seen = guard.version;
        Ref { guard }
    }

    /// Whether a value this receiver has not seen is there (`Ok(true)`), or not (`Ok(false)`),
    /// or the sender is gone and nothing unseen is left (`Err`): the answer `changed()` would
    /// give right now, without marking anything seen. (tokio's version fails as soon as the
    /// sender is gone, even with an unseen value left; this one agrees with `changed()`.)
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_sync::watch::{self, RecvError};
    ///
    /// let (tx, mut rx) = watch::channel(0);
    /// assert_eq!(rx.has_changed(), Ok(false));
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.has_changed(), Ok(true));
    /// rx.borrow_and_update();
    /// assert_eq!(rx.has_changed(), Err(RecvError));
    /// ```
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        if self.shared.version.load(Ordering::Acquire) != self.seen {
            return Ok(true);
        }
        let st = lock(&self.shared.state);
        // Re-read under the lock: a send just before the sender's drop must not be missed.
        if self.shared.version.load(Ordering::Acquire) != self.seen {
            Ok(true)
        } else if st.closed {
            Err(RecvError)
        } else {
            Ok(false)
        }
    }

    /// Waits for a value this receiver has not seen, and marks it seen.
    ///
    /// Returns at once if one is already there. Fails with [`RecvError`] once the sender is
    /// dropped and nothing unseen is left. Cancel-safe: a dropped `Changed` marks nothing seen.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let (tx, mut rx) = corio_sync::watch::channel(0);
    /// std::thread::spawn(move || tx.send(1).unwrap());
    /// rx.changed().await.unwrap();
    /// assert_eq!(*rx.borrow(), 1);
    /// # });
    /// ```
    pub fn changed(&mut self) -> Changed<'_, T> {
        Changed {
            shared: &self.shared,
            seen: &mut self.seen,
            key: None,
        }
    }

    /// Waits until the value satisfies `f`, and returns it borrowed (a [`Ref`]: drop it before
    /// the next `.await`). The current value is checked first, then every new one this receiver
    /// sees; each value checked is marked seen. Intermediate values it was too slow to see are
    /// skipped, as with [`changed`](Self::changed). Fails with [`RecvError`] once the sender is
    /// dropped and no value left satisfies `f`.
    ///
    /// Cancel-safe in the sense of `changed()`: a dropped `wait_for` takes nothing, though the
    /// values it checked stay marked seen.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let (tx, mut rx) = corio_sync::watch::channel(0);
    /// std::thread::spawn(move || {
    ///     for i in 1..=10 {
    ///         tx.send(i).unwrap();
    ///     }
    /// });
    /// let v = rx.wait_for(|v| *v >= 10).await.unwrap();
    /// assert_eq!(*v, 10);
    /// # });
    /// ```
    pub async fn wait_for(
        &mut self,
        mut f: impl FnMut(&T) -> bool,
    ) -> Result<Ref<'_, T>, RecvError> {
        loop {
            // A value that satisfies `f` at once makes this always ready: in a loop it must
            // still run the task's budget down (and yield), as `changed()` does.
            std::future::poll_fn(|cx| {
                if coop::poll_budget(cx).is_pending() {
                    return Poll::Pending;
                }
                coop::spend(cx);
                Poll::Ready(())
            })
            .await;
            {
                let guard = read(&self.shared.value);
                self.seen = guard.version;
                if f(&guard.value) {
                    return Ok(Ref { guard });
                }
            }
            // Borrows the fields apart, so that the `Ref` returned above (a shared borrow of
            // `shared`) does not conflict with this wait.
            Changed {
                shared: &self.shared,
                seen: &mut self.seen,
                key: None,
            }
            .await?;
        }
    }

    /// Blocks the current thread until [`changed`](Self::changed) completes (meant for plain
    /// threads; see [blocking calls](crate#guarantees-shared-by-every-primitive)).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = corio_sync::watch::channel(0);
    /// std::thread::spawn(move || tx.send(1).unwrap());
    /// rx.changed_blocking().unwrap();
    /// assert_eq!(*rx.borrow(), 1);
    /// ```
    pub fn changed_blocking(&mut self) -> Result<(), RecvError> {
        crate::block_on(self.changed())
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Ordering::AcqRel);
        Self {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.receivers.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// A borrow of a watch channel's value, from [`Receiver::borrow`] or [`Sender::borrow`]. It holds
/// the value's lock: sends wait until it is dropped.
///
/// # Examples
///
/// ```
/// let (_tx, rx) = corio_sync::watch::channel((1, 2));
/// let pair: corio_sync::watch::Ref<'_, (i32, i32)> = rx.borrow();
/// assert_eq!(pair.0 + pair.1, 3);
/// ```
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, Versioned<T>>,
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The future returned by [`Receiver::changed`].
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let (tx, mut rx) = corio_sync::watch::channel(0);
/// let changed: corio_sync::watch::Changed<'_, i32> = rx.changed();
/// tx.send(1).unwrap();
/// assert_eq!(changed.await, Ok(()));
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Changed<'a, T> {
    shared: &'a Shared<T>,
    /// The receiver's seen version.
    seen: &'a mut u64,
    /// Our node in the waiting list, from the first `Pending` until completion or drop.
    key: Option<usize>,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if coop::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let shared = this.shared;
        let mut st = lock(&shared.state);
        // Read under the waiters' lock: a send bumps the version before it takes this lock to
        // wake the waiters, so either we see its version here or it finds us in the list.
        let version = shared.version.load(Ordering::Acquire);
        let result = if version != *this.seen {
            *this.seen = version;
            Ok(())
        } else if st.closed {
            Err(RecvError)
        } else {
            let stale = match this.key {
                None => {
                    this.key = Some(st.waiters.push_back(cx.waker(), ()));
                    None
                }
                Some(key) if st.waiters.node(key).is_notified() => {
                    // A spurious poll after a wake-up we already consumed: wait again.
                    st.waiters.relink_front(key, cx.waker());
                    None
                }
                Some(key) => st.waiters.update_waker(key, cx.waker()),
            };
            drop(st);
            drop(stale);
            return Poll::Pending;
        };
        let node = this.key.take().map(|key| st.waiters.remove(key));
        drop(st);
        drop(node);
        // Errors too: a closed channel is always ready, and a loop over it must still yield.
        coop::spend(cx);
        Poll::Ready(result)
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut st = lock(&self.shared.state);
        let node = st.waiters.remove(key);
        drop(st);
        drop(node);
    }
}

impl<T> fmt::Debug for Changed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changed")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
