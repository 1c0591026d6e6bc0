//! A reusable barrier, like asyncio's `Barrier`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::coop;
use crate::loom_shim::{Mutex, lock};
use crate::waitlist::{HasSpare, WaitList, Wakers, return_spare};

/// Makes `n` tasks wait for each other, then lets them all go; reusable for round after round.
///
/// # Semantics
///
/// A task *arrives* when its [`wait`](Self::wait) future is first polled. When the `n`-th task of a
/// round arrives, the round completes: that task is the round's leader
/// ([`BarrierWaitResult::is_leader`]) and every other arrived task is released. The next round
/// starts empty.
///
/// `Barrier::new(0)` behaves like `Barrier::new(1)`: every wait completes at once as its own
/// leader (asyncio rejects 0; tokio treats it as 1, and so do we, so that no call panics).
///
/// # Cancellation
///
/// A wait future dropped before its round completes no longer counts toward it: the round then
/// needs another arrival. Dropping it after the round completed changes nothing.
///
/// # Examples
///
/// ```
/// use corio_sync::Barrier;
///
/// # futures_lite::future::block_on(async {
/// let barrier = Barrier::new(2);
/// let (a, b) = futures_lite::future::zip(barrier.wait(), barrier.wait()).await;
/// assert!(a.is_leader() != b.is_leader()); // exactly one leader per round
/// # });
/// ```
pub struct Barrier {
    parties: usize,
    state: Mutex<BarrierState>,
}

#[derive(Debug)]
struct BarrierState {
    arrived: usize,
    waiters: WaitList<()>,
    spare: Vec<Waker>,
}

impl HasSpare for BarrierState {
    fn spare(&mut self) -> &mut Vec<Waker> {
        &mut self.spare
    }
}

impl Barrier {
    /// Creates a barrier for `parties` tasks (0 behaves like 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio_sync::Barrier::new(3).parties(), 3);
    /// assert_eq!(corio_sync::Barrier::new(0).parties(), 1);
    /// ```
    pub fn new(parties: usize) -> Self {
        Self {
            parties: parties.max(1),
            state: Mutex::new(BarrierState {
                arrived: 0,
                waiters: WaitList::new(),
                spare: Vec::new(),
            }),
        }
    }

    /// How many tasks a round needs.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio_sync::Barrier::new(4).parties(), 4);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many tasks have arrived in the current round.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio_sync::Barrier::new(4).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        lock(&self.state).arrived
    }

    /// Arrives at the barrier and waits until the round is complete.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let barrier = corio_sync::Barrier::new(1);
    /// assert!(barrier.wait().await.is_leader());
    /// assert!(barrier.wait().await.is_leader()); // reusable
    /// # });
    /// ```
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .finish()
    }
}

/// What [`Barrier::wait`] returns: whether this task completed the round.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let result = corio_sync::Barrier::new(1).wait().await;
/// assert!(result.is_leader());
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this task's arrival completed the round (exactly one per round).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// assert!(corio_sync::Barrier::new(0).wait().await.is_leader());
    /// # });
    /// ```
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

/// The future returned by [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    key: Option<usize>,
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let this = self.get_mut();
        if coop::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let mut st = lock(&this.barrier.state);
        if let Some(key) = this.key {
            if !st.waiters.node(key).is_notified() {
                let stale = st.waiters.update_waker(key, cx.waker());
                drop(st);
                drop(stale);
                return Poll::Pending;
            }
            st.waiters.remove(key);
            this.key = None;
            drop(st);
            coop::spend(cx);
            return Poll::Ready(BarrierWaitResult { leader: false });
        }
        st.arrived += 1;
        if st.arrived < this.barrier.parties {
            this.key = Some(st.waiters.push_back(cx.waker(), ()));
            return Poll::Pending;
        }
        st.arrived = 0;
        let mut wakers = Wakers::with_spare(&mut st.spare);
        st.waiters.notify_all(&mut wakers, |()| {});
        drop(st);
        return_spare(&this.barrier.state, wakers.wake());
        coop::spend(cx);
        Poll::Ready(BarrierWaitResult { leader: true })
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut st = lock(&self.barrier.state);
        let node = st.waiters.remove(key);
        if !node.is_notified() {
            // Still waiting in this round: withdraw the arrival.
            st.arrived -= 1;
        }
        // The node's waker is dropped after the lock is released (see `WaitList::remove`).
        drop(st);
        drop(node);
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
