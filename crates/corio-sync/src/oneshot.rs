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
use crate::loom_shim::{AtomicUsize, Ordering, UnsafeCell};

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
    let shared = Arc::new(Shared {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
        tx_waker: UnsafeCell::new(None),
    });
    (
        Sender {
            shared: Some(shared.clone()),
        },
        Receiver {
            shared,
            received: false,
        },
    )
}

// The channel's state: one atomic word of four bits, and three cells that the bits hand back and
// forth (no lock: probe S measured the four lock round trips of the old `Mutex<Inner>` as 40% of
// a request/reply loop of a Queue and a oneshot per request, 1.3-1.7x tokio's).
//
// # Invariants
//
// 1. `COMPLETE` is set once, by the sender: by `send` after it wrote `value`, or by its drop
//    without a value. Before it, only the sender touches `value`; after it, only the receiver
//    (or, if `CLOSED` was set first, the sender again: see 3).
// 2. `CLOSED` is set once, by the receiver's drop.
// 3. `send` writes `value` only while `CLOSED` is clear, then sets `COMPLETE`; if `CLOSED` was
//    set in between (the receiver left meanwhile), the swap tells the sender, which takes the
//    value back (the receiver's drop saw no `COMPLETE`, so it did not touch `value`). The
//    receiver's drop, seeing `COMPLETE`, drops the value. So exactly one side owns it.
// 4. `rx_waker` is written only by the receiver, and only while `RX_TASK_SET` is clear: to
//    change it, the receiver clears the bit and, if `COMPLETE` was already set (the sender may
//    be waking it now), leaves the waker alone and takes the value instead. The sender, when it
//    sets `COMPLETE` and finds `RX_TASK_SET`, wakes the stored waker by reference: it never
//    writes it. The same holds for `tx_waker`, `TX_TASK_SET`, `CLOSED` and the sender.
// 5. Every read-modify-write of `state` is `AcqRel`, and every load that decides to read a
//    cell is `Acquire`, so a cell's write happens before the read that the bit allowed.

/// The sender finished: it sent `value` or was dropped without sending.
const COMPLETE: usize = 0b0001;
/// The receiver was dropped.
const CLOSED: usize = 0b0010;
/// `rx_waker` holds the receiver's waker, for the sender to wake.
const RX_TASK_SET: usize = 0b0100;
/// `tx_waker` holds the sender's waker (`closed()`), for the receiver's drop to wake.
const TX_TASK_SET: usize = 0b1000;

struct Shared<T> {
    state: AtomicUsize,
    value: UnsafeCell<Option<T>>,
    rx_waker: UnsafeCell<Option<Waker>>,
    tx_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cells are reached only as the bits of `state` allow (the invariants above), so
// each is used by one thread at a time, with the atomic ordering that publishes its contents;
// a `T` crosses from the sender's thread to the receiver's, hence `T: Send`.
#[allow(unsafe_code)]
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above: no cell is accessed from two threads at once.
#[allow(unsafe_code)]
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Takes the value. Only the receiver calls it, once it saw `COMPLETE` (or the sender, in
    /// `send`, once it saw `CLOSED` before its `COMPLETE`): see invariants 1 and 3.
    #[allow(unsafe_code)]
    fn take_value(&self) -> Option<T> {
        // SAFETY: the caller owns `value` by invariants 1 and 3; nobody else touches it now.
        self.value.with_mut(|value| unsafe { (*value).take() })
    }

    /// Wakes the waker in `cell` by reference; the caller saw its `*_TASK_SET` bit set when it
    /// set `COMPLETE` or `CLOSED`, so its owner no longer writes it (invariant 4).
    #[allow(unsafe_code)]
    fn wake_stored(&self, cell: &UnsafeCell<Option<Waker>>) {
        cell.with(|waker| {
            // SAFETY: invariant 4: the owner writes the cell only while the bit is clear, and
            // after our `COMPLETE`/`CLOSED` it leaves it alone; concurrent reads (`will_wake`)
            // are fine.
            if let Some(waker) = unsafe { &*waker } {
                waker.wake_by_ref();
            }
        });
    }

    /// The owner's side of invariant 4: registers `cx`'s waker in `cell` under `bit`, unless
    /// `done` (COMPLETE for the receiver, CLOSED for the sender) is set, or gets set meanwhile:
    /// then returns `true` and leaves the cell alone.
    #[allow(unsafe_code)]
    fn register(
        &self,
        cell: &UnsafeCell<Option<Waker>>,
        bit: usize,
        done: usize,
        cx: &Context<'_>,
    ) -> bool {
        let state = self.state.load(Ordering::Acquire);
        if state & done != 0 {
            return true;
        }
        if state & bit != 0 {
            let same = cell.with(|stored| {
                // SAFETY: a shared read; the other side only reads the cell too (invariant 4).
                unsafe { &*stored }
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
            });
            if same {
                return false;
            }
            let prev = self.state.fetch_and(!bit, Ordering::AcqRel);
            if prev & done != 0 {
                // The other side may be waking the stored waker: put the bit back and leave it.
                self.state.fetch_or(bit, Ordering::AcqRel);
                return true;
            }
        }
        cell.with_mut(|stored| {
            // SAFETY: the bit is clear, so the other side does not read the cell (invariant 4),
            // and only this side writes it.
            unsafe { *stored = Some(cx.waker().clone()) }
        });
        let prev = self.state.fetch_or(bit, Ordering::AcqRel);
        prev & done != 0
    }
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
    /// `None` once `send` used it (its drop then has nothing left to do).
    shared: Option<Arc<Shared<T>>>,
}

impl<T> Sender<T> {
    fn shared(&self) -> &Shared<T> {
        self.shared
            .as_deref()
            .expect("a sender is used only before send consumes it")
    }

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
    #[allow(unsafe_code)]
    pub fn send(mut self, value: T) -> Result<(), T> {
        let shared = self.shared.take().expect("send consumes the sender");
        if shared.state.load(Ordering::Acquire) & CLOSED != 0 {
            return Err(value);
        }
        shared.value.with_mut(|slot| {
            // SAFETY: `COMPLETE` is not set yet, so the sender alone owns `value` (invariant 1).
            unsafe { *slot = Some(value) }
        });
        let prev = shared.state.fetch_or(COMPLETE, Ordering::AcqRel);
        if prev & CLOSED != 0 {
            // The receiver left meanwhile and did not touch the value (invariant 3).
            return Err(shared.take_value().expect("the value was just stored"));
        }
        if prev & RX_TASK_SET != 0 {
            shared.wake_stored(&shared.rx_waker);
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
        self.shared().state.load(Ordering::Acquire) & CLOSED != 0
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
        let Some(shared) = self.shared.take() else {
            return; // `send` completed the channel
        };
        let prev = shared.state.fetch_or(COMPLETE, Ordering::AcqRel);
        if prev & (RX_TASK_SET | CLOSED) == RX_TASK_SET {
            shared.wake_stored(&shared.rx_waker);
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
        let shared = self.sender.shared();
        if shared.register(&shared.tx_waker, TX_TASK_SET, CLOSED, cx) {
            coop::spend(cx);
            return Poll::Ready(());
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
    shared: Arc<Shared<T>>,
    /// The value was taken (by a poll or `try_recv`): from now on the receiver is closed.
    received: bool,
}

impl<T> Receiver<T> {
    /// Takes the value if the sender has finished: `Some(result)`, or `None` while it has not.
    fn take_if_complete(&mut self, state: usize) -> Option<Result<T, RecvError>> {
        if self.received {
            return Some(Err(RecvError));
        }
        if state & COMPLETE == 0 {
            return None;
        }
        self.received = true;
        Some(self.shared.take_value().ok_or(RecvError))
    }

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
        let state = self.shared.state.load(Ordering::Acquire);
        match self.take_if_complete(state) {
            Some(Ok(value)) => Ok(value),
            Some(Err(RecvError)) => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
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
        let this = self.get_mut();
        if !this.received {
            let shared = &*this.shared;
            if !shared.register(&shared.rx_waker, RX_TASK_SET, COMPLETE, cx) {
                return Poll::Pending;
            }
        }
        let state = this.shared.state.load(Ordering::Acquire);
        let out = this
            .take_if_complete(state)
            .expect("registration found the sender finished");
        // Errors too: always ready from now on, a loop over it must still run the budget down.
        coop::spend(cx);
        Poll::Ready(out)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let prev = self.shared.state.fetch_or(CLOSED, Ordering::AcqRel);
        if prev & COMPLETE != 0 {
            // A value sent but never received is dropped here (invariant 3).
            if !self.received {
                drop(self.shared.take_value());
            }
        } else if prev & TX_TASK_SET != 0 {
            self.shared.wake_stored(&self.shared.tx_waker);
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
