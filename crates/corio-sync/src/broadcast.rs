//! A multi-producer, multi-consumer broadcast channel: every receiver sees every value.
//!
//! [`channel`] returns a [`Sender`] and a first [`Receiver`]; [`Sender::subscribe`] makes more.
//! Each value sent is cloned to every receiver that existed when it was sent (the last one to read
//! it gets the value itself, without a clone). The channel holds at most `cap` values: a receiver
//! that falls further behind loses the oldest ones and is told so with
//! [`RecvError::Lagged`], as in tokio. Use it for configuration fan-out or shutdown notices.
//!
//! The ring is shared, not a buffer per receiver: `cap` bounds how far the *slowest* reader may
//! fall behind *everyone's* traffic. In a chat-style server where each connection both sends
//! into one channel and reads every value from it (its own included), a busy talker's own
//! connection falls behind by the talker's traffic; size `cap` for the largest burst a reader
//! must absorb, or give each client a bounded queue of its own (a [`Queue`](crate::Queue) per
//! client, filled by one fan-out task) to decide per client what overflow means.
//!
//! # Invariants
//!
//! - **Positions.** Every value gets the next position (a `u64` that never wraps in practice). The
//!   ring holds the values at positions `head..tail`, at most `cap` of them. A receiver only keeps
//!   its own next position; a new receiver ([`channel`], [`Sender::subscribe`],
//!   [`Receiver::resubscribe`]) starts at `tail`, so it sees only values sent after it was made.
//! - **Claims.** A held value records how many receivers have not read it yet. It starts at the
//!   number of receivers alive at the send (which [`Sender::send`] returns) and goes down by one
//!   when a receiver reads it or is dropped before reading it (a [`Receiver::clone`] adds a claim
//!   on every value its original has not read). A receiver with a claim on a value also has one on
//!   every later value, so the values nobody still wants are always a prefix of the ring: they are
//!   dropped at once, oldest first, and the ring never holds a value that no receiver will read.
//! - **Lag.** A send into a full ring drops the oldest value, claims or not. A receiver whose next
//!   position fell below `head` gets [`RecvError::Lagged(n)`](RecvError::Lagged) once, with `n` the
//!   number of values it missed, and then continues from the oldest value still held.
//! - **Batches.** On a channel with room for at least 256 values, a receiver that reads from the
//!   ring takes up to `cap / 16` values at once (at most 64, the one it returns included) and
//!   returns the rest from its own buffer on the next calls, without the lock. Taken values
//!   count as read: their claims are gone, they cannot be lost to lag, and [`Receiver::len`]
//!   counts them. So on such a channel a receiver can be up to that many values further ahead
//!   than the ring holds, and it loses fewer values than tokio's would; on smaller channels a
//!   receiver takes one value at a time and lag is exactly tokio's.
//! - **Close.** When the last [`Sender`] is dropped, receivers first drain what they have not read
//!   yet, then get [`RecvError::Closed`]. A send with no receiver fails with [`SendError`] and
//!   hands the value back; it is not stored.
//! - **Cancel-safe.** A [`Recv`] future takes a value (and moves its receiver on) only in the poll
//!   that returns it (values taken in a batch live in the [`Receiver`], not in the future).
//!   Dropping it at any point loses nothing: the next `recv` returns the same value. A send
//!   wakes every waiting receiver, so there is no wake-up to pass on.
//! - **Locking.** One lock per channel guards the ring, the counts and the waiting receivers.
//!   Values are cloned under it (keep `Clone` cheap: wrap big values in an `Arc`); values the
//!   channel drops, and wakers, are dropped or woken only after it is released.
//!
//! # Examples
//!
//! ```
//! use corio_sync::broadcast::{self, RecvError};
//!
//! # futures_lite::future::block_on(async {
//! let (tx, mut rx1) = broadcast::channel(16);
//! let mut rx2 = tx.subscribe();
//! assert_eq!(tx.send("reload"), Ok(2)); // two receivers will see it
//! drop(tx);
//! assert_eq!(rx1.recv().await, Ok("reload"));
//! assert_eq!(rx2.recv().await, Ok("reload"));
//! assert_eq!(rx1.recv().await, Err(RecvError::Closed));
//! # });
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::coop;
use crate::loom_shim::{Mutex, lock};
use crate::waitlist::{HasSpare, WaitList, Wakers, return_spare};

/// Creates a broadcast channel that holds at most `cap` values.
///
/// Memory for the ring is allocated as values arrive, so a large `cap` costs nothing up front.
///
/// A `cap` of `0` is taken as `1` (tokio panics instead): a ring of size zero could never hold a
/// value for any receiver, the returned pair has no room for an error, and no call of corio's
/// panics on bad input. With room for one value, a receiver sees the latest value sent, or
/// [`Lagged`](RecvError::Lagged) first if it missed some.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let (tx, mut rx) = corio_sync::broadcast::channel(2);
/// tx.send(1).unwrap();
/// assert_eq!(rx.recv().await, Ok(1));
/// # });
/// ```
///
/// ```
/// # futures_lite::future::block_on(async {
/// let (tx, mut rx) = corio_sync::broadcast::channel(0); // room for one value
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// assert_eq!(rx.recv().await, Err(corio_sync::broadcast::RecvError::Lagged(1)));
/// assert_eq!(rx.recv().await, Ok(2));
/// # });
/// ```
pub fn channel<T: Clone>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let cap = cap.max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            ring: VecDeque::new(),
            head: 0,
            cap,
            senders: 1,
            receivers: 1,
            waiters: WaitList::new(),
            spare: Vec::new(),
        }),
    });
    let rx = Receiver {
        shared: shared.clone(),
        next: 0,
        taken: VecDeque::new(),
    };
    (Sender { shared }, rx)
}

/// [`Sender::send`] found no receiver; the value is handed back.
///
/// # Examples
///
/// ```
/// use corio_sync::broadcast::{self, SendError};
///
/// let (tx, rx) = broadcast::channel(1);
/// drop(rx);
/// let err = tx.send(7).unwrap_err();
/// assert_eq!(err, SendError(7));
/// assert_eq!(err.to_string(), "broadcast channel has no receivers");
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
        f.write_str("broadcast channel has no receivers")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Receiver::recv`] returned no value.
///
/// # Examples
///
/// ```
/// use corio_sync::broadcast::{self, RecvError};
///
/// # futures_lite::future::block_on(async {
/// let (tx, mut rx) = broadcast::channel(2);
/// for i in 0..5 {
///     tx.send(i).unwrap();
/// }
/// assert_eq!(rx.recv().await, Err(RecvError::Lagged(3))); // 0, 1 and 2 were overwritten
/// assert_eq!(rx.recv().await, Ok(3));
/// assert_eq!(rx.recv().await, Ok(4));
/// drop(tx);
/// assert_eq!(rx.recv().await, Err(RecvError::Closed));
/// assert_eq!(RecvError::Lagged(3).to_string(), "receiver lagged behind and missed 3 values");
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvError {
    /// Every sender is gone and this receiver has read every value it could.
    Closed,
    /// The receiver fell more than the capacity behind: this many values were overwritten before
    /// it read them. The next `recv` returns the oldest value still held.
    Lagged(u64),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("broadcast channel closed"),
            Self::Lagged(n) => write!(f, "receiver lagged behind and missed {n} values"),
        }
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] returned no value.
///
/// # Examples
///
/// ```
/// use corio_sync::broadcast::{self, TryRecvError};
///
/// let (tx, mut rx) = broadcast::channel::<u8>(1);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(1)));
/// assert_eq!(rx.try_recv(), Ok(2));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryRecvError {
    /// No unread value now; a sender is still alive.
    Empty,
    /// Every sender is gone and this receiver has read every value it could.
    Closed,
    /// This many values were overwritten before the receiver read them (see
    /// [`RecvError::Lagged`]).
    Lagged(u64),
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("broadcast channel has no unread value"),
            Self::Closed => f.write_str("broadcast channel closed"),
            Self::Lagged(n) => write!(f, "receiver lagged behind and missed {n} values"),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// The sending half of a [`broadcast`](self) channel. Cloning it adds a sender; the channel
/// closes when the last one is dropped.
///
/// # Examples
///
/// ```
/// let (tx, rx) = corio_sync::broadcast::channel(4);
/// let tx2 = tx.clone();
/// assert_eq!(tx2.send("a"), Ok(1));
/// assert_eq!(tx.len(), 1);
/// # drop(rx);
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving half of a [`broadcast`](self) channel: it reads every value sent after it was
/// made, in order. Cloning it makes a receiver at the same position.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let (tx, mut rx) = corio_sync::broadcast::channel(4);
/// tx.send(1).unwrap();
/// let mut copy = rx.clone(); // also has 1 to read
/// assert_eq!(rx.recv().await, Ok(1));
/// assert_eq!(copy.recv().await, Ok(1));
/// # });
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The position of the next value to take from the ring (after those in `taken`).
    next: u64,
    /// Values already taken from the ring but not yet returned (see "Batches" in the module
    /// docs); empty on channels smaller than [`BATCH_MIN_CAP`].
    taken: VecDeque<T>,
}

/// Channels with room for at least this many values let a receiver take several at once.
const BATCH_MIN_CAP: usize = 256;

/// The most values a receiver takes from the ring in one visit (the one it returns included).
fn batch_len(cap: usize) -> usize {
    if cap < BATCH_MIN_CAP {
        1
    } else {
        (cap / 16).min(64)
    }
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

struct Slot<T> {
    value: T,
    /// Receivers that have not read the value yet (see "Claims" in the module docs).
    claims: usize,
}

struct State<T> {
    /// The held values, at positions `head..head + ring.len()`.
    ring: VecDeque<Slot<T>>,
    head: u64,
    cap: usize,
    senders: usize,
    receivers: usize,
    /// Receivers waiting in `recv`; every send or close wakes them all.
    waiters: WaitList<()>,
    spare: Vec<Waker>,
}

impl<T> HasSpare for State<T> {
    fn spare(&mut self) -> &mut Vec<Waker> {
        &mut self.spare
    }
}

impl<T> State<T> {
    /// The position the next value will get.
    #[inline]
    fn tail(&self) -> u64 {
        self.head + self.ring.len() as u64
    }

    /// Pops the values nobody will read any more (a prefix of the ring) into `dropped`.
    fn pop_unclaimed(&mut self, dropped: &mut Vec<T>) {
        while self.ring.front().is_some_and(|slot| slot.claims == 0) {
            let slot = self.ring.pop_front().expect("front checked above");
            self.head += 1;
            dropped.push(slot.value);
        }
    }

    /// Wakes every waiting receiver: moves their wakers into a batch to wake after unlocking.
    fn notify_all(&mut self) -> Option<Wakers> {
        if self.waiters.is_empty() {
            return None;
        }
        let mut wakers = Wakers::with_spare(&mut self.spare);
        self.waiters.notify_all(&mut wakers, |()| {});
        Some(wakers)
    }
}

impl<T: Clone> State<T> {
    /// Reads the value at `*next` for one receiver, moving it on.
    fn recv_at(&mut self, next: &mut u64) -> Result<T, TryRecvError> {
        if *next < self.head {
            let missed = self.head - *next;
            *next = self.head;
            return Err(TryRecvError::Lagged(missed));
        }
        let index = (*next - self.head) as usize;
        let Some(slot) = self.ring.get_mut(index) else {
            return Err(if self.senders == 0 {
                TryRecvError::Closed
            } else {
                TryRecvError::Empty
            });
        };
        if slot.claims > 1 {
            // Cloned before anything changes, so a panicking `Clone` leaves the value unread.
            let value = slot.value.clone();
            slot.claims -= 1;
            *next += 1;
            return Ok(value);
        }
        // The last reader: by the claims invariant this is the oldest value, and it can be moved
        // out rather than cloned.
        debug_assert_eq!(index, 0, "claims must only fall to zero at the front");
        let slot = self.ring.pop_front().expect("the slot exists");
        self.head += 1;
        *next += 1;
        Ok(slot.value)
    }

    /// Takes the next value and, on a large channel, up to [`batch_len`] − 1 more into `taken`
    /// (which the caller has emptied first). Every value taken goes into `taken` before the
    /// next clone, so a panicking `Clone` loses none of them: they stay with the receiver.
    fn recv_batch(&mut self, next: &mut u64, taken: &mut VecDeque<T>) -> Result<T, TryRecvError> {
        debug_assert!(taken.is_empty());
        let first = self.recv_at(next)?;
        let batch = batch_len(self.cap);
        if batch > 1 && self.head + (self.ring.len() as u64) > *next {
            taken.push_back(first);
            while taken.len() < batch {
                // After a value was taken, `next >= head`: no lag, so an error means empty.
                let Ok(value) = self.recv_at(next) else { break };
                taken.push_back(value);
            }
            return Ok(taken.pop_front().expect("the first value was pushed"));
        }
        Ok(first)
    }
}

/// Wakes a batch collected under the lock, then hands its buffer back.
fn wake<T>(shared: &Shared<T>, wakers: Option<Wakers>) {
    if let Some(wakers) = wakers {
        return_spare(&shared.state, wakers.wake());
    }
}

impl<T: Clone> Sender<T> {
    /// Sends `value` to every current receiver and returns how many will see it.
    ///
    /// If the ring is full, the oldest value is dropped (receivers that had not read it get
    /// [`RecvError::Lagged`]). With no receiver the value is not stored and comes back in
    /// [`SendError`]; a later [`subscribe`](Self::subscribe) would not see it anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::broadcast::channel(8);
    /// let rx2 = tx.subscribe();
    /// assert_eq!(tx.send(1), Ok(2));
    /// drop((rx, rx2));
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// ```
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut st = lock(&self.shared.state);
        if st.receivers == 0 {
            return Err(SendError(value));
        }
        let overwritten = if st.ring.len() == st.cap {
            st.head += 1;
            st.ring.pop_front()
        } else {
            None
        };
        let receivers = st.receivers;
        st.ring.push_back(Slot {
            value,
            claims: receivers,
        });
        let wakers = st.notify_all();
        drop(st);
        drop(overwritten);
        wake(&self.shared, wakers);
        Ok(receivers)
    }

    /// Creates a receiver that will see every value sent from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let (tx, _rx) = corio_sync::broadcast::channel(8);
    /// tx.send("before").unwrap();
    /// let mut late = tx.subscribe();
    /// tx.send("after").unwrap();
    /// assert_eq!(late.recv().await, Ok("after"));
    /// # });
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        let mut st = lock(&self.shared.state);
        st.receivers += 1;
        let next = st.tail();
        drop(st);
        Receiver {
            shared: self.shared.clone(),
            next,
            taken: VecDeque::new(),
        }
    }
}

impl<T> Sender<T> {
    /// The number of values held: sent, not yet read by every receiver alive at the send, and not
    /// overwritten.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = corio_sync::broadcast::channel(8);
    /// tx.send(1).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// rx.try_recv().unwrap();
    /// assert_eq!(tx.len(), 0); // every receiver has seen it: dropped from the ring
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.shared.state).ring.len()
    }

    /// Whether no value is held (see [`len`](Self::len)).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = corio_sync::broadcast::channel::<u8>(8);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of live receivers.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::broadcast::channel::<u8>(8);
    /// let rx2 = tx.subscribe();
    /// assert_eq!(tx.receiver_count(), 2);
    /// drop((rx, rx2));
    /// assert_eq!(tx.receiver_count(), 0);
    /// ```
    pub fn receiver_count(&self) -> usize {
        lock(&self.shared.state).receivers
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.shared.state).senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        st.senders -= 1;
        let wakers = if st.senders == 0 {
            st.notify_all()
        } else {
            None
        };
        drop(st);
        wake(&self.shared, wakers);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.shared.state);
        f.debug_struct("Sender")
            .field("len", &st.ring.len())
            .field("capacity", &st.cap)
            .field("receivers", &st.receivers)
            .finish()
    }
}

impl<T: Clone> Receiver<T> {
    /// Waits for the next value.
    ///
    /// Returns [`RecvError::Lagged`] once if values were overwritten before this receiver read
    /// them, and [`RecvError::Closed`] when every sender is gone and nothing is left to read.
    /// Cancel-safe: dropping the future loses no value.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let (tx, mut rx) = corio_sync::broadcast::channel(8);
    /// std::thread::spawn(move || tx.send(5).unwrap());
    /// assert_eq!(rx.recv().await, Ok(5));
    /// # });
    /// ```
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv {
            receiver: self,
            key: None,
        }
    }

    /// Takes the next value if there is one, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_sync::broadcast::{self, TryRecvError};
    ///
    /// let (tx, mut rx) = broadcast::channel(8);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send('x').unwrap();
    /// assert_eq!(rx.try_recv(), Ok('x'));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        if let Some(value) = self.taken.pop_front() {
            return Ok(value);
        }
        lock(&self.shared.state).recv_batch(&mut self.next, &mut self.taken)
    }

    /// Blocks the current thread until the next value (meant for plain threads; see
    /// [blocking calls](crate#guarantees-shared-by-every-primitive)).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = corio_sync::broadcast::channel(8);
    /// std::thread::spawn(move || tx.send(1).unwrap());
    /// assert_eq!(rx.recv_blocking(), Ok(1));
    /// ```
    pub fn recv_blocking(&mut self) -> Result<T, RecvError> {
        crate::block_on(self.recv())
    }
}

impl<T> Receiver<T> {
    /// The number of values this receiver has not read yet: at most the capacity, plus, on a
    /// channel with room for 256 values or more, the values it took ahead with its last read
    /// (at most `cap / 16 - 1`, and never more than 63; see "Batches" in the module docs).
    /// Those were taken from the ring, so lag can no longer take them.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_sync::broadcast;
    ///
    /// let (tx, rx) = broadcast::channel(2);
    /// for i in 0..5 {
    ///     tx.send(i).unwrap();
    /// }
    /// assert_eq!(rx.len(), 2);
    ///
    /// // On a channel of 256, one read took 15 more values ahead of the ring.
    /// let (tx, mut rx) = broadcast::channel(256);
    /// for i in 0..256 {
    ///     tx.send(i).unwrap();
    /// }
    /// assert_eq!(rx.try_recv(), Ok(0));
    /// for i in 256..400 {
    ///     tx.send(i).unwrap();
    /// }
    /// assert_eq!(rx.len(), 256 + 15);
    /// ```
    pub fn len(&self) -> usize {
        let st = lock(&self.shared.state);
        self.taken.len() + (st.tail() - self.next.max(st.head)) as usize
    }

    /// Whether this receiver has nothing to read now (see [`len`](Self::len)).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::broadcast::channel::<u8>(2);
    /// assert!(rx.is_empty());
    /// # drop(tx);
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of live receivers, this one included.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = corio_sync::broadcast::channel::<u8>(2);
    /// let _rx2 = tx.subscribe();
    /// assert_eq!(rx.receiver_count(), 2);
    /// ```
    pub fn receiver_count(&self) -> usize {
        lock(&self.shared.state).receivers
    }

    /// Creates a receiver that starts at the newest position, seeing only values sent from now
    /// on (like [`Sender::subscribe`]; [`clone`](Clone::clone) keeps this receiver's position).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_sync::broadcast::{self, TryRecvError};
    ///
    /// let (tx, rx) = broadcast::channel(8);
    /// tx.send(1).unwrap();
    /// let mut fresh = rx.resubscribe();
    /// assert_eq!(fresh.try_recv(), Err(TryRecvError::Empty));
    /// ```
    pub fn resubscribe(&self) -> Self {
        let mut st = lock(&self.shared.state);
        st.receivers += 1;
        let next = st.tail();
        drop(st);
        Self {
            shared: self.shared.clone(),
            next,
            taken: VecDeque::new(),
        }
    }
}

impl<T: Clone> Clone for Receiver<T> {
    /// A receiver at the same position: it will read (or be told it lagged behind) exactly what
    /// this one has left to read. It costs one step per value left to read (at most the
    /// capacity), to add the new receiver's claims.
    fn clone(&self) -> Self {
        // Cloned before the channel counts the new receiver: a panicking `Clone` changes nothing.
        let taken = self.taken.clone();
        let mut st = lock(&self.shared.state);
        st.receivers += 1;
        let from = self.next.saturating_sub(st.head) as usize;
        for slot in st.ring.iter_mut().skip(from) {
            slot.claims += 1;
        }
        drop(st);
        Self {
            shared: self.shared.clone(),
            next: self.next,
            taken,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        st.receivers -= 1;
        let from = self.next.saturating_sub(st.head) as usize;
        for slot in st.ring.iter_mut().skip(from) {
            slot.claims -= 1;
        }
        // Dropped after unlocking: a value's destructor may use this channel.
        let mut dropped = Vec::new();
        st.pop_unclaimed(&mut dropped);
        drop(st);
        drop(dropped);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// The future returned by [`Receiver::recv`].
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let (tx, mut rx) = corio_sync::broadcast::channel(1);
/// let recv: corio_sync::broadcast::Recv<'_, u8> = rx.recv();
/// tx.send(1).unwrap();
/// assert_eq!(recv.await, Ok(1));
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    receiver: &'a mut Receiver<T>,
    /// Our node in the waiting list, from the first `Pending` until completion or drop.
    key: Option<usize>,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if coop::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let Receiver {
            shared,
            next,
            taken,
        } = &mut *this.receiver;
        // A value taken earlier: `taken` only fills in a poll that returns, so this future has
        // no registration to remove.
        if this.key.is_none()
            && let Some(value) = taken.pop_front()
        {
            coop::spend(cx);
            return Poll::Ready(Ok(value));
        }
        let mut st = lock(&shared.state);
        let result = match st.recv_batch(next, taken) {
            Ok(value) => Ok(value),
            Err(TryRecvError::Lagged(missed)) => Err(RecvError::Lagged(missed)),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
            Err(TryRecvError::Empty) => {
                let stale = match this.key {
                    None => {
                        this.key = Some(st.waiters.push_back(cx.waker(), ()));
                        None
                    }
                    Some(key) if st.waiters.node(key).is_notified() => {
                        // A spurious poll after a wake-up we already consumed: wait again
                        // (the order among waiting receivers does not matter).
                        st.waiters.relink_front(key, cx.waker());
                        None
                    }
                    Some(key) => st.waiters.update_waker(key, cx.waker()),
                };
                drop(st);
                drop(stale);
                return Poll::Pending;
            }
        };
        let node = this.key.take().map(|key| st.waiters.remove(key));
        drop(st);
        drop(node);
        // Errors too: a closed channel is always ready, and a loop over it must still yield.
        coop::spend(cx);
        Poll::Ready(result)
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut st = lock(&self.receiver.shared.state);
        let node = st.waiters.remove(key);
        drop(st);
        drop(node);
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
