//! asyncio's `Event`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::coop;
use crate::loom_shim::{AtomicBool, Mutex, Ordering, lock};
use crate::waitlist::{HasSpare, WaitList, Wakers, return_spare};

/// A flag that tasks can wait for: asyncio's `Event`, thread-safe.
///
/// # Semantics
///
/// [`wait`](Self::wait) completes at once while the flag is set. Otherwise it waits for the next
/// [`set`](Self::set). A `set` releases every waiter registered at that moment, even if
/// [`clear`](Self::clear) runs before they wake up (as in asyncio). A waiter registers on its first
/// poll.
///
/// # Cancellation
///
/// Dropping a [`EventWait`] removes its registration; it affects nobody else.
///
/// # Examples
///
/// ```
/// use corio_sync::Event;
///
/// # futures_lite::future::block_on(async {
/// let ready = Event::new();
/// let waiter = async {
///     ready.wait().await;
///     "go"
/// };
/// let setter = async { ready.set() };
/// let (msg, ()) = futures_lite::future::zip(waiter, setter).await;
/// assert_eq!(msg, "go");
/// assert!(ready.is_set());
/// # });
/// ```
pub struct Event {
    flag: AtomicBool,
    state: Mutex<EventState>,
}

#[derive(Debug)]
struct EventState {
    waiters: WaitList<()>,
    spare: Vec<Waker>,
}

impl HasSpare for EventState {
    fn spare(&mut self) -> &mut Vec<Waker> {
        &mut self.spare
    }
}

impl Event {
    /// Creates an event that is not set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!corio_sync::Event::new().is_set());
    /// ```
    pub fn new() -> Self {
        Self {
            flag: AtomicBool::new(false),
            state: Mutex::new(EventState {
                waiters: WaitList::new(),
                spare: Vec::new(),
            }),
        }
    }

    /// Sets the flag and releases every waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = corio_sync::Event::new();
    /// ev.set();
    /// assert!(ev.is_set());
    /// ```
    pub fn set(&self) {
        if self.flag.load(Ordering::Acquire) {
            // Already set: every registered waiter was released by the `set` that set it.
            return;
        }
        let mut st = lock(&self.state);
        self.flag.store(true, Ordering::Release);
        let mut wakers = Wakers::with_spare(&mut st.spare);
        st.waiters.notify_all(&mut wakers, |()| {});
        drop(st);
        return_spare(&self.state, wakers.wake());
    }

    /// Clears the flag; later waits block until the next [`set`](Self::set).
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = corio_sync::Event::new();
    /// ev.set();
    /// ev.clear();
    /// assert!(!ev.is_set());
    /// ```
    pub fn clear(&self) {
        // Under the lock, so that a concurrent `set` either released a waiter or left the flag
        // set for it to see.
        let _st = lock(&self.state);
        self.flag.store(false, Ordering::Release);
    }

    /// Whether the flag is set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!corio_sync::Event::new().is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Waits until the flag is set (completes at once if it is).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let ev = corio_sync::Event::new();
    /// ev.set();
    /// ev.wait().await;
    /// # });
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

/// The future returned by [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<usize>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if coop::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        if this.key.is_none() && this.event.flag.load(Ordering::Acquire) {
            coop::spend(cx);
            return Poll::Ready(());
        }
        let mut st = lock(&this.event.state);
        match this.key {
            Some(key) if st.waiters.node(key).is_notified() => {
                st.waiters.remove(key);
                this.key = None;
            }
            Some(key) => {
                let stale = st.waiters.update_waker(key, cx.waker());
                drop(st);
                drop(stale);
                return Poll::Pending;
            }
            None if this.event.flag.load(Ordering::Acquire) => {}
            None => {
                this.key = Some(st.waiters.push_back(cx.waker(), ()));
                return Poll::Pending;
            }
        }
        drop(st);
        coop::spend(cx);
        Poll::Ready(())
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // Bound to a local so that its waker is dropped after the lock is released.
            let node = lock(&self.event.state).waiters.remove(key);
            drop(node);
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
