//! A one-shot channel: a future completed by hand, like asyncio's `Future.set_result`.
//!
//! [`channel`] returns a [`Sender`] and a [`Receiver`]. [`Sender::send`] completes the receiver
//! (asyncio's `set_result`); to complete it with an error (`set_exception`), make the value a
//! `Result`. If the sender is dropped without sending, the receiver fails with [`RecvError`]
//! instead of waiting forever.
//!
//! # Examples
//!
//! ```
//! use corio_sync::oneshot;
//!
//! # futures_lite::future::block_on(async {
//! let (tx, rx) = oneshot::channel::<Result<u32, String>>();
//! std::thread::spawn(move || tx.send(Ok(42)).unwrap());
//! assert_eq!(rx.await, Ok(Ok(42)));
//!
//! let (tx, rx) = oneshot::channel::<u32>();
//! drop(tx);
//! assert_eq!(rx.await, Err(oneshot::RecvError));
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::coop;
use crate::loom_shim::{Mutex, lock};

/// Creates a one-shot channel.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let (tx, rx) = corio_sync::oneshot::channel();
/// tx.send("done").unwrap();
/// assert_eq!(rx.await, Ok("done"));
/// # });
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Mutex::new(Inner {
        value: None,
        sender_alive: true,
        receiver_alive: true,
        received: false,
        rx_waker: None,
        tx_waker: None,
    }));
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner },
    )
}

#[derive(Debug)]
struct Inner<T> {
    value: Option<T>,
    sender_alive: bool,
    receiver_alive: bool,
    received: bool,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

/// The receiver was polled (or `try_recv` called) after the sender was dropped without sending, or
/// after the value was already received.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let (tx, rx) = corio_sync::oneshot::channel::<()>();
/// drop(tx);
/// assert_eq!(rx.await.unwrap_err().to_string(), "sender dropped without sending a value");
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sender dropped without sending a value")
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] returned no value.
///
/// # Examples
///
/// ```
/// use corio_sync::oneshot::{self, TryRecvError};
///
/// let (tx, mut rx) = oneshot::channel::<u8>();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryRecvError {
    /// No value yet; the sender is still alive.
    Empty,
    /// The sender was dropped without sending, or the value was already received.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "no value sent yet",
            Self::Closed => "sender dropped without sending a value",
        })
    }
}

impl std::error::Error for TryRecvError {}

/// The sending half: completes the [`Receiver`] once.
///
/// # Examples
///
/// ```
/// let (tx, rx) = corio_sync::oneshot::channel::<u8>();
/// assert!(!tx.is_closed());
/// drop(rx);
/// assert!(tx.is_closed());
/// ```
pub struct Sender<T> {
    inner: Arc<Mutex<Inner<T>>>,
}

impl<T> Sender<T> {
    /// Sends the value, completing the receiver. If the receiver is gone, the value comes back in
    /// `Err`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(5), Err(5));
    /// ```
    pub fn send(self, value: T) -> Result<(), T> {
        let mut inner = lock(&self.inner);
        if !inner.receiver_alive {
            return Err(value);
        }
        inner.value = Some(value);
        let waker = inner.rx_waker.take();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver was dropped (a value sent now would come back).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::oneshot::channel::<()>();
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        !lock(&self.inner).receiver_alive
    }

    /// Waits until the receiver is dropped (for example, to stop work nobody wants any more).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let (mut tx, rx) = corio_sync::oneshot::channel::<()>();
    /// std::thread::spawn(move || drop(rx));
    /// tx.closed().await;
    /// assert!(tx.is_closed());
    /// # });
    /// ```
    pub fn closed(&mut self) -> Closed<'_, T> {
        Closed { sender: self }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut inner = lock(&self.inner);
        inner.sender_alive = false;
        let waker = inner.rx_waker.take();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The future returned by [`Sender::closed`].
#[must_use = "futures do nothing unless awaited"]
pub struct Closed<'a, T> {
    sender: &'a mut Sender<T>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if coop::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let mut inner = lock(&self.sender.inner);
        if !inner.receiver_alive {
            drop(inner);
            coop::spend(cx);
            return Poll::Ready(());
        }
        match &mut inner.tx_waker {
            Some(old) if old.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closed").finish_non_exhaustive()
    }
}

/// The receiving half: a future that yields the sent value, or [`RecvError`] if the sender was
/// dropped without sending.
///
/// Dropping it makes later sends hand their value back. Polling it again after it completed
/// returns `Err(RecvError)`.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let (tx, rx) = corio_sync::oneshot::channel();
/// let answer = async { rx.await.unwrap() };
/// let (got, sent) = futures_lite::future::zip(answer, async { tx.send(1) }).await;
/// assert_eq!((got, sent), (1, Ok(())));
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Receiver<T> {
    inner: Arc<Mutex<Inner<T>>>,
}

impl<T> Receiver<T> {
    /// Takes the value if it was sent, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = corio_sync::oneshot::channel();
    /// tx.send(3).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(3));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut inner = lock(&self.inner);
        if let Some(value) = inner.value.take() {
            inner.received = true;
            return Ok(value);
        }
        if inner.sender_alive && !inner.received {
            Err(TryRecvError::Empty)
        } else {
            Err(TryRecvError::Closed)
        }
    }

    /// Blocks the current thread until the value arrives (meant for plain threads; see
    /// [blocking calls](crate#guarantees-shared-by-every-primitive)).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::oneshot::channel();
    /// std::thread::spawn(move || tx.send("hi").unwrap());
    /// assert_eq!(rx.recv_blocking(), Ok("hi"));
    /// ```
    pub fn recv_blocking(self) -> Result<T, RecvError> {
        crate::block_on(self)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if coop::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let mut inner = lock(&self.inner);
        if let Some(value) = inner.value.take() {
            inner.received = true;
            drop(inner);
            coop::spend(cx);
            return Poll::Ready(Ok(value));
        }
        if !inner.sender_alive || inner.received {
            drop(inner);
            // Always ready from now on: a loop over it must still run the budget down.
            coop::spend(cx);
            return Poll::Ready(Err(RecvError));
        }
        match &mut inner.rx_waker {
            Some(old) if old.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut inner = lock(&self.inner);
        inner.receiver_alive = false;
        let waker = inner.tx_waker.take();
        // A value sent but never received is dropped with the channel, outside this lock.
        let value = inner.value.take();
        drop(inner);
        drop(value);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
