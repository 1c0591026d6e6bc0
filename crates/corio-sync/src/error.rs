//! The crate's error types: small, typed, and giving the value back where one was given.

use std::fmt;

/// Why [`Semaphore::acquire`](crate::Semaphore::acquire) (or an acquire of a lock) failed.
///
/// # Examples
///
/// ```
/// use corio_sync::{AcquireError, Semaphore};
///
/// # futures_lite::future::block_on(async {
/// let sem = Semaphore::new(1);
/// sem.close();
/// assert_eq!(sem.acquire().await.unwrap_err(), AcquireError::Closed);
/// assert_eq!(
///     sem.acquire_many(usize::MAX).await.unwrap_err(),
///     AcquireError::TooManyPermits,
/// );
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AcquireError {
    /// The semaphore was closed, before or while the caller waited.
    Closed,
    /// More than [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS) permits were asked for:
    /// they could never be granted, so the call fails instead of waiting forever.
    TooManyPermits,
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "semaphore closed",
            Self::TooManyPermits => "more permits requested than a semaphore can ever hold",
        })
    }
}

impl std::error::Error for AcquireError {}

/// Why [`Semaphore::try_acquire`](crate::Semaphore::try_acquire) failed.
///
/// # Examples
///
/// ```
/// use corio_sync::{Semaphore, TryAcquireError};
///
/// let sem = Semaphore::new(0);
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
/// sem.close();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryAcquireError {
    /// Not enough permits are available now, or somebody is already waiting for them.
    NoPermits,
    /// The semaphore is closed.
    Closed,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoPermits => "no permits available",
            Self::Closed => "semaphore closed",
        })
    }
}

impl std::error::Error for TryAcquireError {}

/// [`Mutex::try_lock`](crate::Mutex::try_lock) or an `RwLock` `try_` method found the lock busy.
///
/// # Examples
///
/// ```
/// use corio_sync::{Mutex, TryLockError};
///
/// let m = Mutex::new(1);
/// let _guard = m.try_lock().unwrap();
/// assert_eq!(m.try_lock().unwrap_err(), TryLockError);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TryLockError;

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("lock is busy")
    }
}

impl std::error::Error for TryLockError {}

/// A `put` into a closed queue; the item is handed back.
///
/// `Debug` does not require `T: Debug`.
///
/// # Examples
///
/// ```
/// use corio_sync::Queue;
///
/// # futures_lite::future::block_on(async {
/// let q = Queue::unbounded();
/// q.close();
/// let err = q.put("job").await.unwrap_err();
/// assert_eq!(err.into_inner(), "job");
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PutError<T>(pub T);

impl<T> PutError<T> {
    /// Returns the item that could not be put.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio_sync::PutError(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PutError(..)")
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("put into a closed queue")
    }
}

impl<T> std::error::Error for PutError<T> {}

/// A `get` from a queue that is closed and has no items left.
///
/// # Examples
///
/// ```
/// use corio_sync::{GetError, Queue};
///
/// # futures_lite::future::block_on(async {
/// let q = Queue::<u8>::unbounded();
/// q.close();
/// assert_eq!(q.get().await, Err(GetError));
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GetError;

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("get from a closed and empty queue")
    }
}

impl std::error::Error for GetError {}

/// Why `try_put` failed; the item is handed back either way.
///
/// `Debug` does not require `T: Debug`.
///
/// # Examples
///
/// ```
/// use corio_sync::{Queue, TryPutError};
///
/// let q = Queue::bounded(1);
/// q.try_put(1).unwrap();
/// assert!(matches!(q.try_put(2), Err(TryPutError::Full(2))));
/// q.close();
/// assert!(matches!(q.try_put(3), Err(TryPutError::Closed(3))));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryPutError<T> {
    /// The queue is full. On a rendezvous queue (`bounded(0)`) that means no get is waiting to
    /// take the item.
    Full(T),
    /// The queue is closed.
    Closed(T),
}

impl<T> TryPutError<T> {
    /// Returns the item that could not be put.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio_sync::TryPutError::Full(1).into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Closed(item) => item,
        }
    }

    /// Whether the queue was full.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio_sync::TryPutError::Full(1).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the queue was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio_sync::TryPutError::Closed(1).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "Full(..)",
            Self::Closed(_) => "Closed(..)",
        })
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "queue is full",
            Self::Closed(_) => "put into a closed queue",
        })
    }
}

impl<T> std::error::Error for TryPutError<T> {}

impl<T> From<PutError<T>> for TryPutError<T> {
    fn from(err: PutError<T>) -> Self {
        Self::Closed(err.0)
    }
}

/// Why `try_get` failed.
///
/// # Examples
///
/// ```
/// use corio_sync::{Queue, TryGetError};
///
/// let q = Queue::<u8>::unbounded();
/// assert_eq!(q.try_get(), Err(TryGetError::Empty));
/// q.close();
/// assert_eq!(q.try_get(), Err(TryGetError::Closed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryGetError {
    /// The queue is empty (but open).
    Empty,
    /// The queue is closed and empty.
    Closed,
}

impl TryGetError {
    /// Whether the queue was empty but open.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio_sync::TryGetError::Empty.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    /// Whether the queue was closed and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio_sync::TryGetError::Closed.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "queue is empty",
            Self::Closed => "get from a closed and empty queue",
        })
    }
}

impl std::error::Error for TryGetError {}

impl From<GetError> for TryGetError {
    fn from(_: GetError) -> Self {
        Self::Closed
    }
}

/// `task_done` was called more times than items were put.
///
/// # Examples
///
/// ```
/// use corio_sync::{Queue, TaskDoneError};
///
/// let q = Queue::<u8>::unbounded();
/// assert_eq!(q.task_done(), Err(TaskDoneError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done called more times than items were put")
    }
}

impl std::error::Error for TaskDoneError {}
