//! `CancelToken`: a cancellation signal for graceful shutdown.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use event_listener::{Event, EventListener};

use crate::lock;

/// A cancellation signal, shared by cloning: [`cancel`](CancelToken::cancel) once, and every
/// [`cancelled`](CancelToken::cancelled) future (now or later) completes.
///
/// [`child`](CancelToken::child) tokens are cancelled with their parent, but cancelling a child
/// leaves the parent alone: a server cancels its root token on shutdown, and each connection's
/// child token stops that connection.
///
/// # Examples
///
/// Graceful shutdown: stop accepting, let the workers notice, and exit.
///
/// ```
/// use corio_scope::CancelToken;
/// use std::time::Duration;
///
/// corio_executor::block_on(async {
///     let shutdown = CancelToken::new();
///     let worker = corio_executor::spawn({
///         let token = shutdown.child();
///         async move {
///             let mut handled = 0;
///             loop {
///                 let tick = corio_scope::race(
///                     async { corio_timer::sleep(Duration::from_millis(1)).await; true },
///                     async { token.cancelled().await; false },
///                 );
///                 if !tick.await {
///                     return handled; // drained: exit cleanly
///                 }
///                 handled += 1;
///             }
///         }
///     });
///     corio_timer::sleep(Duration::from_millis(10)).await;
///     shutdown.cancel();
///     assert!(worker.await > 0);
/// });
/// ```
#[derive(Clone, Default)]
pub struct CancelToken {
    node: Arc<Node>,
}

#[derive(Default)]
struct Node {
    cancelled: AtomicBool,
    event: Event,
    /// Weak: a parent does not keep its children's tokens alive.
    children: Mutex<Vec<Weak<Node>>>,
    /// Strong: a child keeps its ancestors' nodes alive, so a cancel of the root still reaches
    /// it through a middle token that was dropped.
    parent: Option<Arc<Node>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        // Unlinks a long chain of ancestors one by one instead of recursively, so dropping the
        // last of a million nested tokens cannot overflow the stack.
        let mut parent = self.parent.take();
        while let Some(node) = parent {
            parent = match Arc::try_unwrap(node) {
                Ok(mut node) => node.parent.take(),
                Err(_) => None,
            };
        }
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    /// A token that is not cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = corio_scope::CancelToken::new();
    /// assert!(!token.is_cancelled());
    /// ```
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// A token that is cancelled when this one is (and can also be cancelled alone).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::CancelToken;
    ///
    /// let server = CancelToken::new();
    /// let conn_a = server.child();
    /// let conn_b = server.child();
    /// conn_a.cancel(); // one connection stops...
    /// assert!(!server.is_cancelled() && !conn_b.is_cancelled()); // ...the others go on
    /// server.cancel(); // shutdown reaches every child
    /// assert!(conn_b.is_cancelled());
    /// assert!(server.child().is_cancelled()); // a child of a cancelled token starts cancelled
    /// ```
    pub fn child(&self) -> CancelToken {
        let child = CancelToken {
            node: Arc::new(Node {
                cancelled: AtomicBool::new(false),
                event: Event::new(),
                children: Mutex::default(),
                parent: Some(self.node.clone()),
            }),
        };
        let mut children = lock(&self.node.children);
        // Checked under the lock that `cancel` takes: either we see the flag, or `cancel` sees
        // the child.
        if self.node.cancelled.load(Ordering::Acquire) {
            drop(children);
            child.cancel();
            return child;
        }
        // Forget the children that are gone only when the list is full (before it would grow):
        // O(1) amortized per child, where a sweep on every call made N children cost O(N^2),
        // and the list stays within twice the most children alive at once.
        if children.len() == children.capacity() {
            children.retain(|w| w.strong_count() > 0);
        }
        children.push(Arc::downgrade(&child.node));
        child
    }

    /// Cancels this token and all its descendants. Idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::CancelToken;
    ///
    /// let root = CancelToken::new();
    /// let child = root.child();
    /// let grandchild = child.child();
    /// root.cancel();
    /// root.cancel(); // a second call does nothing
    /// assert!(child.is_cancelled() && grandchild.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        cancel_node(&self.node);
    }

    /// Whether the token has been cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = corio_scope::CancelToken::new();
    /// let clone = token.clone(); // the same token
    /// assert!(!clone.is_cancelled());
    /// token.cancel();
    /// assert!(clone.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.node.cancelled.load(Ordering::Acquire)
    }

    /// A future that completes once the token is cancelled (at once if it already is).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::CancelToken;
    ///
    /// corio_executor::block_on(async {
    ///     let token = CancelToken::new();
    ///     let worker = corio_executor::spawn({
    ///         let token = token.clone();
    ///         async move {
    ///             token.cancelled().await;
    ///             "stopped"
    ///         }
    ///     });
    ///     token.cancel();
    ///     assert_eq!(worker.await, "stopped");
    ///     token.cancelled().await; // already cancelled: completes at once
    /// });
    /// ```
    pub fn cancelled(&self) -> WhenCancelled<'_> {
        WhenCancelled {
            token: self,
            waiting: Waiting::default(),
        }
    }

    /// [`cancelled`](Self::cancelled) for a future that must own its token (`'static`, to be
    /// spawned or stored): it takes the token, a clone if need be.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::CancelToken;
    ///
    /// corio_executor::block_on(async {
    ///     let token = CancelToken::new();
    ///     let stopped = corio_executor::spawn(token.clone().cancelled_owned());
    ///     token.cancel();
    ///     stopped.await;
    /// });
    /// ```
    pub fn cancelled_owned(self) -> WhenCancelledOwned {
        WhenCancelledOwned {
            token: self,
            waiting: Waiting::default(),
        }
    }

    /// Runs `future` until it completes (`Some(output)`) or the token is cancelled (`None`; the
    /// future is dropped). Cancellation wins a tie: on a cancelled token the future is never
    /// polled.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::CancelToken;
    ///
    /// corio_executor::block_on(async {
    ///     let token = CancelToken::new();
    ///     assert_eq!(token.run_until_cancelled(async { 1 }).await, Some(1));
    ///     token.cancel();
    ///     assert_eq!(token.run_until_cancelled(async { 2 }).await, None);
    /// });
    /// ```
    pub async fn run_until_cancelled<F: Future>(&self, future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        let mut waiting = Waiting::default();
        std::future::poll_fn(move |cx| {
            if waiting.poll(self, cx).is_ready() {
                return Poll::Ready(None);
            }
            if self.is_cancelled() {
                // Cancelled, with the task's budget spent (it has been woken to go on later):
                // cancellation still wins the tie.
                return Poll::Pending;
            }
            future.as_mut().poll(cx).map(Some)
        })
        .await
    }
}

fn cancel_node(node: &Arc<Node>) {
    // Depth-first with an explicit stack: a chain of a million nested tokens is fine.
    let mut stack = vec![node.clone()];
    while let Some(node) = stack.pop() {
        if node.cancelled.swap(true, Ordering::AcqRel) {
            continue;
        }
        node.event.notify(usize::MAX);
        let children = std::mem::take(&mut *lock(&node.children));
        stack.extend(children.iter().filter_map(Weak::upgrade));
    }
}

/// The future returned by [`CancelToken::cancelled`]. Dropping it removes its listener.
///
/// # Examples
///
/// ```
/// use corio_scope::{CancelToken, WhenCancelled};
///
/// let token = CancelToken::new();
/// let when: WhenCancelled<'_> = token.cancelled();
/// token.cancel();
/// corio_executor::block_on(when);
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WhenCancelled<'a> {
    token: &'a CancelToken,
    waiting: Waiting,
}

/// The future returned by [`CancelToken::cancelled_owned`]: [`WhenCancelled`] holding its
/// token. Dropping it removes its listener.
///
/// # Examples
///
/// ```
/// use corio_scope::{CancelToken, WhenCancelledOwned};
///
/// let token = CancelToken::new();
/// let when: WhenCancelledOwned = token.clone().cancelled_owned();
/// token.cancel();
/// corio_executor::block_on(when);
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WhenCancelledOwned {
    token: CancelToken,
    waiting: Waiting,
}

/// What a waiting `cancelled` future keeps between polls.
#[derive(Default)]
struct Waiting {
    listener: Option<EventListener>,
    /// The waker the listener holds (the one it was last polled with).
    ///
    /// While the token is not cancelled, a poll with a waker that wakes the same task returns
    /// `Pending` without polling the listener: that poll takes the event's lock, shared by every
    /// waiter of the token, and a server whose connections each `run_until_cancelled` one
    /// shutdown token polled it on every wake of every connection (hyper under wrk, 2 workers:
    /// 1.4% of the server's CPU time, in that lock and in a cache miss on the flag beside it).
    /// The event is notified only after the flag is set, so the flag is all there is to check.
    registered: Option<Waker>,
}

impl Waiting {
    fn poll(&mut self, token: &CancelToken, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if token.is_cancelled() {
                // Like a queue or a socket, a completion spends the task's cooperative budget:
                // a loop that awaits a cancelled token without ever waiting (a worker's `select!`
                // over it) must still let deadlines and other tasks run. It never did, and a
                // `timeout` around such a loop never fired (a probe found it).
                std::task::ready!(corio_coop::poll_proceed(cx));
                self.listener = None;
                self.registered = None;
                return Poll::Ready(());
            }
            match self.listener.as_mut() {
                None => {
                    // Listen, then re-check the flag (a cancel in between is seen above).
                    self.listener = Some(token.node.event.listen());
                }
                Some(listener) => {
                    if self
                        .registered
                        .as_ref()
                        .is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        // Not cancelled, and a cancel will wake this very task.
                        return Poll::Pending;
                    }
                    match Pin::new(listener).poll(cx) {
                        Poll::Ready(()) => {
                            self.listener = None;
                            self.registered = None;
                        }
                        Poll::Pending => {
                            self.registered = Some(cx.waker().clone());
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
    }
}

impl fmt::Debug for WhenCancelled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhenCancelled")
            .field("token", self.token)
            .finish()
    }
}

impl fmt::Debug for WhenCancelledOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhenCancelledOwned")
            .field("token", &self.token)
            .finish()
    }
}

impl Future for WhenCancelled<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.waiting.poll(this.token, cx)
    }
}

impl Future for WhenCancelledOwned {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.waiting.poll(&this.token, cx)
    }
}
