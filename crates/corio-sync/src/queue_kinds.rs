//! The public queue types, `Queue` (FIFO), `LifoQueue` and `PriorityQueue`: one core
//! (`queue_core.rs`), three orders.

use std::fmt;
use std::sync::Arc;

use crate::buffer::Buffer;
use crate::queue_core::{Get, Join, Put, Shared};
use crate::queue_stream::QueueStream;
use crate::{GetError, PutError, TaskDoneError, TryGetError, TryPutError};

/// Generates the API the three queue kinds share. Constructors are written per kind.
macro_rules! queue_api {
    ($name:ident) => {
        impl<T> $name<T> {
            /// Waits for space, then puts `item` at its place in the queue.
            ///
            /// Fails, handing the item back, if the queue is or gets closed before the item is
            /// accepted. On a rendezvous queue (`bounded(0)`) it completes once a getter took the
            /// item.
            ///
            /// # Examples
            ///
            /// ```
            /// # futures_lite::future::block_on(async {
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::bounded(1);")]
            /// q.put(1).await.unwrap();
            /// assert_eq!(q.len(), 1);
            /// # });
            /// ```
            pub fn put(&self, item: T) -> Put<'_, T> {
                self.shared.put(item)
            }

            /// Waits for an item and takes it.
            ///
            /// Fails with [`GetError`] once the queue is closed and has no items left.
            ///
            /// # Examples
            ///
            /// ```
            /// # futures_lite::future::block_on(async {
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::unbounded();")]
            /// q.put(7).await.unwrap();
            /// assert_eq!(q.get().await, Ok(7));
            /// # });
            /// ```
            pub fn get(&self) -> Get<'_, T> {
                self.shared.get()
            }

            /// Puts `item` if there is space now, without waiting.
            ///
            /// On a rendezvous queue (`bounded(0)`) it succeeds only when a `get` is waiting (and
            /// no waiting `put` was already chosen for it): the item is handed to that get.
            /// Otherwise it fails with [`TryPutError::Full`]; use [`put`](Self::put) to wait.
            ///
            /// # Examples
            ///
            /// ```
            /// use corio_sync::TryPutError;
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::bounded(1);")]
            /// assert!(q.try_put(1).is_ok());
            /// assert!(matches!(q.try_put(2), Err(TryPutError::Full(2))));
            /// ```
            pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
                self.shared.try_put(item)
            }

            /// Takes an item if one is there now, without waiting.
            ///
            /// On a rendezvous queue (`bounded(0)`) it never takes the item of a waiting `put`
            /// (that put could then be cancelled after it had delivered): it returns
            /// `Err(TryGetError::Empty)`, and the item goes to a `get` that waits for it.
            ///
            /// # Examples
            ///
            /// ```
            /// use corio_sync::TryGetError;
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::unbounded();")]
            /// assert_eq!(q.try_get(), Err(TryGetError::Empty));
            /// q.try_put(3).unwrap();
            /// assert_eq!(q.try_get(), Ok(3));
            /// ```
            pub fn try_get(&self) -> Result<T, TryGetError> {
                self.shared.try_get()
            }

            /// Blocks the current thread until `item` is put (meant for plain threads; see
            /// [blocking calls](crate#guarantees-shared-by-every-primitive)).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::bounded(4);")]
            /// let producer = {
            ///     let q = q.clone();
            ///     std::thread::spawn(move || {
            ///         for i in 0..10 {
            ///             q.put_blocking(i).unwrap();
            ///         }
            ///         q.close();
            ///     })
            /// };
            /// let mut sum = 0;
            /// while let Ok(i) = q.get_blocking() {
            ///     sum += i;
            /// }
            /// producer.join().unwrap();
            /// assert_eq!(sum, 45);
            /// ```
            pub fn put_blocking(&self, item: T) -> Result<(), PutError<T>> {
                crate::block_on(self.put(item))
            }

            /// Blocks the current thread until an item can be taken (meant for plain threads;
            /// see [blocking calls](crate#guarantees-shared-by-every-primitive)).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::unbounded();")]
            /// q.try_put(1).unwrap();
            /// assert_eq!(q.get_blocking(), Ok(1));
            /// ```
            pub fn get_blocking(&self) -> Result<T, GetError> {
                crate::block_on(self.get())
            }

            /// Marks one item taken from the queue as processed (asyncio's `task_done`).
            ///
            /// Calling it more often than items were put is an error, not a panic.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::unbounded();")]
            /// q.try_put(1).unwrap();
            /// q.try_get().unwrap();
            /// assert!(q.task_done().is_ok());
            /// assert!(q.task_done().is_err());
            /// ```
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.shared.task_done()
            }

            /// Waits until every item put has been marked done with
            /// [`task_done`](Self::task_done) (or removed by [`close_now`](Self::close_now)).
            ///
            /// # Examples
            ///
            /// ```
            /// # futures_lite::future::block_on(async {
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::unbounded();")]
            /// q.put(1).await.unwrap();
            /// let worker = async {
            ///     q.get().await.unwrap();
            ///     q.task_done().unwrap();
            /// };
            /// futures_lite::future::zip(q.join(), worker).await;
            /// assert_eq!(q.unfinished(), 0);
            /// # });
            /// ```
            pub fn join(&self) -> Join<'_, T> {
                self.shared.join()
            }

            /// The getting side as a [`Stream`](futures_core::Stream): each item once, in the
            /// queue's order, until the queue is closed and empty. See [`QueueStream`].
            ///
            /// The stream owns a handle to the queue (it is `'static`). Cancel-safe: a dropped
            /// `next()` or stream never loses an item.
            ///
            /// # Examples
            ///
            /// ```
            /// use futures_lite::StreamExt;
            ///
            /// # futures_lite::future::block_on(async {
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::unbounded();")]
            /// q.try_put(1).unwrap();
            /// q.try_put(2).unwrap();
            /// q.close();
            /// let sum = q.stream().fold(0, |acc, x| acc + x).await;
            /// assert_eq!(sum, 3);
            /// # });
            /// ```
            pub fn stream(&self) -> QueueStream<T> {
                QueueStream::new(self.shared.clone())
            }

            /// How many items were put and not yet marked done.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::unbounded();")]
            /// q.try_put(1).unwrap();
            /// q.try_get().unwrap();
            /// assert_eq!(q.unfinished(), 1);
            /// ```
            pub fn unfinished(&self) -> usize {
                self.shared.unfinished()
            }

            /// How many items are in the queue now.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::unbounded();")]
            /// q.try_put(1).unwrap();
            /// assert_eq!(q.len(), 1);
            /// ```
            pub fn len(&self) -> usize {
                self.shared.len()
            }

            /// Whether the queue holds no items now.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::<u8>::unbounded();")]
            /// assert!(q.is_empty());
            /// ```
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Whether the buffer is at capacity (always true for a rendezvous queue, which holds
            /// no items; a put there still completes at once if a get is waiting).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::bounded(1);")]
            /// q.try_put(1).unwrap();
            /// assert!(q.is_full());
            /// ```
            pub fn is_full(&self) -> bool {
                self.shared.is_full()
            }

            /// The capacity, or `None` for an unbounded queue.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert_eq!(corio_sync::", stringify!($name), "::<u8>::bounded(3).capacity(), Some(3));")]
            #[doc = concat!("assert_eq!(corio_sync::", stringify!($name), "::<u8>::unbounded().capacity(), None);")]
            /// ```
            pub fn capacity(&self) -> Option<usize> {
                self.shared.capacity()
            }

            /// Closes the queue gracefully.
            ///
            /// Waiting and later puts fail and hand their item back. Items already queued are still
            /// delivered; after that, gets fail. `join` still waits for items taken but not done.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::unbounded();")]
            /// q.try_put(1).unwrap();
            /// q.close();
            /// assert!(q.try_put(2).is_err());
            /// assert_eq!(q.try_get(), Ok(1));
            /// assert!(q.try_get().unwrap_err().is_closed());
            /// ```
            pub fn close(&self) {
                self.shared.close();
            }

            /// Closes the queue at once and returns the items left, in the order gets would have
            /// returned them (CPython's `shutdown(immediate=True)`).
            ///
            /// Everybody waiting is woken and fails. The removed items count as done for
            /// [`join`](Self::join).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::unbounded();")]
            /// q.try_put(1).unwrap();
            /// assert_eq!(q.close_now(), [1]);
            /// assert_eq!(q.unfinished(), 0);
            /// assert!(q.try_get().is_err());
            /// ```
            pub fn close_now(&self) -> Vec<T> {
                self.shared.close_now()
            }

            /// Whether the queue was closed.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = corio_sync::", stringify!($name), "::<u8>::unbounded();")]
            /// q.close();
            /// assert!(q.is_closed());
            /// ```
            pub fn is_closed(&self) -> bool {
                self.shared.is_closed()
            }
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                Self {
                    shared: self.shared.clone(),
                }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("len", &self.len())
                    .field("capacity", &self.capacity())
                    .field("closed", &self.is_closed())
                    .finish()
            }
        }
    };
}

/// A thread-safe multi-producer, multi-consumer FIFO queue: asyncio's `Queue`, made thread-safe.
///
/// Handles are cheap to clone and all refer to the same queue. Dropping handles does not close the
/// queue; call [`close`](Self::close) (graceful) or [`close_now`](Self::close_now).
///
/// # Capacity
///
/// - [`unbounded`](Self::unbounded): puts never wait.
/// - [`bounded(n)`](Self::bounded): puts wait while `n` items are queued (backpressure).
/// - `bounded(0)` is a *rendezvous* queue: a put waits until a get takes its item directly, so the
///   queue never holds items. `try_put` succeeds on it only when a get is waiting (it hands the
///   item over), and reports `Full` otherwise. (asyncio differs: there `maxsize=0` means
///   unbounded; use [`unbounded`](Self::unbounded) for that.)
///
/// # Guarantees
///
/// - Nothing is lost: an item leaves the queue only in the poll of the `get` that returns it, and a
///   get that is woken and then dropped passes its wake-up on (asyncio's bpo-23812 fix). A
///   dropped `put` holds no slot and passes its wake-up on too.
/// - Items come out in FIFO order. Waiters are served first come, first served, and a woken waiter
///   that finds nothing keeps its place at the front. A `get` that finds an item takes it even if
///   a woken getter has not run yet, which keeps busy consumers busy. A `put` does not take a slot
///   that a woken putter was woken for: while putters wait, a new `put` (or the next one of a
///   producer that keeps putting) stores its item only in a slot beyond those claimed, and
///   otherwise waits in line behind them, so no producer starves (as in tokio's bounded channel,
///   a producer that runs may still fill the slots nobody claims). `try_put` takes any free slot.
///   So a woken `put` future that is kept but not polled (the losing arm of a `select` held
///   pinned, say) holds its slot until it is polled or dropped: drop such a future, or a later
///   `put` may wait for it, as with tokio's reserved permits.
///   One exception, on a rendezvous queue only: a `get` that a `put` handed its item to, and that
///   is dropped before it returns the item, passes the item on to the next get; items put after
///   it may have come out already (the put completed at the hand-over, so the item cannot go
///   back to it). After [`close`](Self::close), gets fail only once no such handed item can
///   come back (a get waits meanwhile), and [`close_now`](Self::close_now) returns handed items
///   with the rest.
/// - [`task_done`](Self::task_done) and [`join`](Self::join) count unfinished work as asyncio does.
///
/// # Examples
///
/// The seed's producer/consumer pipeline, shut down with [`close`](Self::close):
///
/// ```
/// use corio_sync::Queue;
/// use futures_lite::future;
///
/// # future::block_on(async {
/// let queue = Queue::bounded(10);
/// let producer = |id: u32| {
///     let queue = queue.clone();
///     async move {
///         for i in 0..5 {
///             queue.put(format!("task-{id}-{i}")).await.unwrap();
///         }
///     }
/// };
/// let consumer = || {
///     let queue = queue.clone();
///     async move {
///         let mut handled = 0;
///         while let Ok(_item) = queue.get().await {
///             handled += 1;
///             queue.task_done().unwrap();
///         }
///         handled
///     }
/// };
/// let producers = future::zip(producer(0), future::zip(producer(1), producer(2)));
/// let consumers = future::zip(consumer(), consumer());
/// let work = async {
///     producers.await;
///     queue.join().await; // every item handled
///     queue.close(); // consumers drain and stop
/// };
/// let ((), (a, b)) = future::zip(work, consumers).await;
/// assert_eq!(a + b, 15);
/// # });
/// ```
pub struct Queue<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Queue<T> {
    /// Creates a queue that holds at most `capacity` items; `bounded(0)` is a rendezvous queue.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let q = corio_sync::Queue::bounded(0);
    /// let (put, got) = futures_lite::future::zip(q.put("hi"), q.get()).await;
    /// assert_eq!((put, got), (Ok(()), Ok("hi")));
    /// assert!(q.is_empty());
    /// # });
    /// ```
    pub fn bounded(capacity: usize) -> Self {
        // A capacity of two or more keeps the items in a lock-free ring (`queue_core.rs`); the
        // buffer holds at most one item, or a rendezvous queue's items given back by dropped gets.
        Self {
            shared: Arc::new(Shared::new(Buffer::fifo(0), Some(capacity))),
        }
    }

    /// Creates a queue without a capacity limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = corio_sync::Queue::unbounded();
    /// for i in 0..1000 {
    ///     q.try_put(i).unwrap();
    /// }
    /// assert_eq!(q.len(), 1000);
    /// ```
    pub fn unbounded() -> Self {
        Self {
            shared: Arc::new(Shared::new(Buffer::fifo(0), None)),
        }
    }
}

queue_api!(Queue);

/// A thread-safe last-in, first-out queue: asyncio's `LifoQueue`, made thread-safe.
///
/// It has the same API and guarantees as [`Queue`]; only the order differs: the newest item comes
/// out first. `bounded(0)` is a rendezvous queue whose gets take the newest offer.
///
/// # Examples
///
/// ```
/// let stack = corio_sync::LifoQueue::unbounded();
/// for i in 0..3 {
///     stack.try_put(i).unwrap();
/// }
/// assert_eq!(stack.try_get(), Ok(2));
/// assert_eq!(stack.close_now(), [1, 0]);
/// ```
pub struct LifoQueue<T> {
    shared: Arc<Shared<T>>,
}

impl<T> LifoQueue<T> {
    /// Creates a LIFO queue that holds at most `capacity` items; `bounded(0)` is a rendezvous
    /// queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = corio_sync::LifoQueue::bounded(2);
    /// q.try_put(1).unwrap();
    /// q.try_put(2).unwrap();
    /// assert!(q.try_put(3).is_err());
    /// ```
    pub fn bounded(capacity: usize) -> Self {
        Self {
            shared: Arc::new(Shared::new(Buffer::lifo(capacity), Some(capacity))),
        }
    }

    /// Creates a LIFO queue without a capacity limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = corio_sync::LifoQueue::unbounded();
    /// q.try_put('a').unwrap();
    /// q.try_put('b').unwrap();
    /// assert_eq!(q.try_get(), Ok('b'));
    /// ```
    pub fn unbounded() -> Self {
        Self {
            shared: Arc::new(Shared::new(Buffer::lifo(0), None)),
        }
    }
}

queue_api!(LifoQueue);

/// A thread-safe priority queue, smallest item first: asyncio's `PriorityQueue`, made thread-safe.
///
/// It has the same API and guarantees as [`Queue`]; only the order differs: a get returns the
/// smallest item (by `Ord`). Items that compare equal come out in no particular order; as with
/// asyncio, put `(priority, sequence, item)` tuples if ties must be FIFO. `bounded(0)` is a
/// rendezvous queue whose gets take the smallest offer.
///
/// # Examples
///
/// ```
/// let jobs = corio_sync::PriorityQueue::unbounded();
/// jobs.try_put((2, "later")).unwrap();
/// jobs.try_put((0, "urgent")).unwrap();
/// jobs.try_put((1, "soon")).unwrap();
/// assert_eq!(jobs.try_get(), Ok((0, "urgent")));
/// assert_eq!(jobs.close_now(), [(1, "soon"), (2, "later")]);
/// ```
pub struct PriorityQueue<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Ord> PriorityQueue<T> {
    /// Creates a priority queue that holds at most `capacity` items; `bounded(0)` is a rendezvous
    /// queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = corio_sync::PriorityQueue::bounded(2);
    /// q.try_put(5).unwrap();
    /// q.try_put(1).unwrap();
    /// assert!(q.is_full());
    /// assert_eq!(q.try_get(), Ok(1));
    /// ```
    pub fn bounded(capacity: usize) -> Self {
        Self {
            shared: Arc::new(Shared::new(Buffer::heap(capacity), Some(capacity))),
        }
    }

    /// Creates a priority queue without a capacity limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = corio_sync::PriorityQueue::unbounded();
    /// q.try_put(3).unwrap();
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.try_get(), Ok(1));
    /// ```
    pub fn unbounded() -> Self {
        Self {
            shared: Arc::new(Shared::new(Buffer::heap(0), None)),
        }
    }
}

queue_api!(PriorityQueue);
