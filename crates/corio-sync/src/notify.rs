//! A tokio-style `Notify`: wake one or all waiting tasks.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::coop;
use crate::loom_shim::{AtomicUsize, Mutex, Ordering, lock};
use crate::waitlist::{HasSpare, WaitList, Wakers, return_spare};

/// Wakes waiting tasks without carrying data, like tokio's `Notify` (asyncio's `Condition`
/// without the lock).
///
/// # Semantics
///
/// - [`notify_one`](Self::notify_one) wakes the longest-waiting [`Notified`] future. If nobody
///   waits, it stores a single permit (as tokio does) that the next `notified().await` consumes
///   at once; several calls with nobody waiting still store just one permit. A waiter it woke
///   uses it up, even if a `notify_all` follows before that waiter runs.
/// - [`notify_all`](Self::notify_all) wakes every `Notified` future created before the call,
///   whether or not it was polled yet, and stores no permit.
///
/// # Cancellation
///
/// Dropping a `Notified` that was woken by `notify_one` but has not completed passes the wake-up on
/// to the next waiter (or back into the permit), so a `notify_one` is never lost.
///
/// # Examples
///
/// ```
/// use corio_sync::Notify;
///
/// # futures_lite::future::block_on(async {
/// let notify = Notify::new();
/// notify.notify_one(); // stored as a permit: nobody waits yet
/// notify.notified().await; // consumes it at once
/// # });
/// ```
pub struct Notify {
    /// Bumped by every `notify_all` (under the lock); a `Notified` remembers it at creation.
    generation: AtomicUsize,
    state: Mutex<NotifyState>,
}

#[derive(Debug)]
struct NotifyState {
    /// The payload is `true` for a node woken by `notify_one` (which must be passed on if dropped).
    waiters: WaitList<bool>,
    permit: bool,
    spare: Vec<Waker>,
}

impl HasSpare for NotifyState {
    fn spare(&mut self) -> &mut Vec<Waker> {
        &mut self.spare
    }
}

impl NotifyState {
    /// Wakes the first waiter or stores the permit; returns the waker to wake.
    fn notify_one(&mut self) -> Option<Waker> {
        match self.waiters.head() {
            Some(head) => {
                self.waiters.node_mut(head).payload = true;
                self.waiters.notify(head)
            }
            None => {
                self.permit = true;
                None
            }
        }
    }
}

impl Notify {
    /// Creates a `Notify` with no stored permit.
    ///
    /// # Examples
    ///
    /// ```
    /// let notify = corio_sync::Notify::new();
    /// # drop(notify);
    /// ```
    pub fn new() -> Self {
        Self {
            generation: AtomicUsize::new(0),
            state: Mutex::new(NotifyState {
                waiters: WaitList::new(),
                permit: false,
                spare: Vec::new(),
            }),
        }
    }

    /// Wakes the longest waiter, or stores a permit if nobody waits.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let notify = corio_sync::Notify::new();
    /// let (_, ()) = futures_lite::future::zip(notify.notified(), async { notify.notify_one() }).await;
    /// # });
    /// ```
    pub fn notify_one(&self) {
        let waker = lock(&self.state).notify_one();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Wakes every [`Notified`] future created before this call; stores no permit.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let notify = corio_sync::Notify::new();
    /// let a = notify.notified();
    /// let b = notify.notified();
    /// notify.notify_all();
    /// a.await;
    /// b.await;
    /// # });
    /// ```
    pub fn notify_all(&self) {
        let mut st = lock(&self.state);
        self.generation.fetch_add(1, Ordering::AcqRel);
        let mut wakers = Wakers::with_spare(&mut st.spare);
        st.waiters.notify_all(&mut wakers, |by_one| *by_one = false);
        drop(st);
        return_spare(&self.state, wakers.wake());
    }

    /// Returns a future that completes at the next notification.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let notify = corio_sync::Notify::new();
    /// let wait = notify.notified();
    /// notify.notify_all();
    /// wait.await;
    /// # });
    /// ```
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            generation: self.generation.load(Ordering::Acquire),
            key: None,
        }
    }
}

impl Default for Notify {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify").finish_non_exhaustive()
    }
}

/// The future returned by [`Notify::notified`].
#[must_use = "futures do nothing unless awaited"]
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: usize,
    key: Option<usize>,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if coop::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let mut st = lock(&this.notify.state);
        let notified_all = this.notify.generation.load(Ordering::Acquire) != this.generation;
        match this.key {
            Some(key) if st.waiters.node(key).is_notified() || notified_all => {
                // Whatever woke this waiter is used up by it: a `notify_one` that reached it is
                // not passed on even if a `notify_all` came after (as in tokio). Passing it on
                // would store a permit for a `notify_one` that found a waiter.
                let node = st.waiters.remove(key);
                this.key = None;
                drop(st);
                drop(node);
            }
            Some(key) => {
                let stale = st.waiters.update_waker(key, cx.waker());
                drop(st);
                drop(stale);
                return Poll::Pending;
            }
            None if notified_all => {}
            None if st.permit => st.permit = false,
            None => {
                this.key = Some(st.waiters.push_back(cx.waker(), false));
                return Poll::Pending;
            }
        }
        coop::spend(cx);
        Poll::Ready(())
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut st = lock(&self.notify.state);
        let node = st.waiters.remove(key);
        let next = if node.is_notified() && node.payload {
            // A `notify_one` reached us but we never used it: pass it on.
            st.notify_one()
        } else {
            None
        };
        drop(st);
        drop(node);
        if let Some(next) = next {
            next.wake();
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
