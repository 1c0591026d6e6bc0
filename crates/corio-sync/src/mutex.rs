//! An async mutex on the FIFO semaphore core.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::TryLockError;
use crate::raw_semaphore::{RawSemaphore, Waiter};

/// An async mutual-exclusion lock: asyncio's `Lock` with the data inside, thread-safe.
///
/// [`lock`](Self::lock) returns the guard directly (a mutex is never closed).
///
/// # Fairness
///
/// Strictly FIFO: the lock is handed to the task that has waited longest, never to a newcomer
/// ([`try_lock`](Self::try_lock) fails while anybody waits). The uncontended lock and unlock are
/// one compare-and-swap each.
///
/// # Cancellation
///
/// Dropping a [`Lock`] future gives up its place in line; if the lock had already been handed to
/// it, the lock goes on to the next waiter.
///
/// # Examples
///
/// ```
/// use corio_sync::Mutex;
///
/// # futures_lite::future::block_on(async {
/// let counter = Mutex::new(0);
/// let add = || async {
///     let mut n = counter.lock().await;
///     *n += 1;
/// };
/// futures_lite::future::zip(add(), add()).await;
/// assert_eq!(*counter.lock().await, 2);
/// # });
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawSemaphore,
    data: UnsafeCell<T>,
}

// SAFETY: the semaphore (one permit) gives at most one guard access to `data` at a time, so
// sharing the mutex only ever moves `&mut T` between threads one at a time: `T: Send` suffices.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = corio_sync::Mutex::new(5);
    /// assert_eq!(m.into_inner(), 5);
    /// ```
    pub fn new(value: T) -> Self {
        Self {
            raw: RawSemaphore::new(1),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the value.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = corio_sync::Mutex::new(String::from("hi"));
    /// assert_eq!(m.into_inner(), "hi");
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock and returns its guard.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let m = corio_sync::Mutex::new(1);
    /// *m.lock().await += 1;
    /// assert_eq!(*m.lock().await, 2);
    /// # });
    /// ```
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            mutex: self,
            waiter: Waiter::new(1),
        }
    }

    /// Waits for the lock; the guard holds the mutex alive (`'static`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures_lite::future::block_on(async {
    /// let m = Arc::new(corio_sync::Mutex::new(1));
    /// let mut guard = m.clone().lock_owned().await;
    /// std::thread::spawn(move || *guard += 1).join().unwrap();
    /// assert_eq!(*m.lock().await, 2);
    /// # });
    /// ```
    pub fn lock_owned(self: Arc<Self>) -> LockOwned<T> {
        LockOwned {
            mutex: self,
            waiter: Waiter::new(1),
        }
    }

    /// Takes the lock if it is free and nobody waits for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = corio_sync::Mutex::new(1);
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_err());
    /// drop(guard);
    /// assert!(m.try_lock().is_ok());
    /// ```
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.raw.try_acquire(1) {
            Ok(()) => Ok(MutexGuard { mutex: self }),
            Err(_) => Err(TryLockError),
        }
    }

    /// Takes the lock if it is free and nobody waits; the guard holds the mutex alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let m = Arc::new(corio_sync::Mutex::new(1));
    /// let guard = m.clone().try_lock_owned().unwrap();
    /// assert!(m.try_lock().is_err());
    /// # drop(guard);
    /// ```
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        match self.raw.try_acquire(1) {
            Ok(()) => Ok(OwnedMutexGuard { mutex: self }),
            Err(_) => Err(TryLockError),
        }
    }

    /// Blocks the current thread until the lock is free (meant for plain threads; see
    /// [blocking calls](crate#guarantees-shared-by-every-primitive)).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = corio_sync::Mutex::new(1);
    /// *m.lock_blocking() += 1;
    /// assert_eq!(*m.lock_blocking(), 2);
    /// ```
    pub fn lock_blocking(&self) -> MutexGuard<'_, T> {
        crate::block_on(self.lock())
    }

    /// Returns a mutable reference to the value; no locking needed, the borrow proves exclusivity.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = corio_sync::Mutex::new(1);
    /// *m.get_mut() = 2;
    /// assert_eq!(m.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The future returned by [`Mutex::lock`].
#[must_use = "futures do nothing unless awaited"]
pub struct Lock<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    waiter: Waiter,
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.mutex.raw.poll_acquire(cx, &mut this.waiter) {
            Poll::Ready(Ok(())) => Poll::Ready(MutexGuard { mutex: this.mutex }),
            // A mutex's semaphore is never closed and one permit is never too many.
            Poll::Ready(Err(_)) | Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ?Sized> Drop for Lock<'_, T> {
    fn drop(&mut self) {
        self.mutex.raw.cancel(&mut self.waiter);
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").finish_non_exhaustive()
    }
}

/// The future returned by [`Mutex::lock_owned`].
#[must_use = "futures do nothing unless awaited"]
pub struct LockOwned<T: ?Sized> {
    mutex: Arc<Mutex<T>>,
    waiter: Waiter,
}

impl<T: ?Sized> Future for LockOwned<T> {
    type Output = OwnedMutexGuard<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.mutex.raw.poll_acquire(cx, &mut this.waiter) {
            Poll::Ready(Ok(())) => Poll::Ready(OwnedMutexGuard {
                mutex: this.mutex.clone(),
            }),
            Poll::Ready(Err(_)) | Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ?Sized> Drop for LockOwned<T> {
    fn drop(&mut self) {
        self.mutex.raw.cancel(&mut self.waiter);
    }
}

impl<T: ?Sized> fmt::Debug for LockOwned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockOwned").finish_non_exhaustive()
    }
}

/// Exclusive access to a [`Mutex`]'s value; dropping it unlocks (handing the lock to the next
/// waiter, if any).
///
/// # Examples
///
/// ```
/// let m = corio_sync::Mutex::new(vec![1]);
/// let mut guard = m.try_lock().unwrap();
/// guard.push(2);
/// assert_eq!(*guard, [1, 2]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

// SAFETY: sharing `&MutexGuard` across threads shares `&T`, which needs `T: Sync`; without this
// impl the guard would be `Sync` whenever `Mutex<T>` is, i.e. for any `T: Send`.
unsafe impl<T: ?Sized + Send + Sync> Sync for MutexGuard<'_, T> {}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit, so no other access to `data` exists
        // until it is dropped.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference made through the guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.raw.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Exclusive access to an `Arc<Mutex<T>>`'s value (`'static`); dropping it unlocks.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let m = Arc::new(corio_sync::Mutex::new(1));
/// let mut guard = m.clone().try_lock_owned().unwrap();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*m.try_lock().unwrap(), 2);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedMutexGuard<T: ?Sized> {
    mutex: Arc<Mutex<T>>,
}

// SAFETY: as for `MutexGuard`: sharing the guard shares `&T`.
unsafe impl<T: ?Sized + Send + Sync> Sync for OwnedMutexGuard<T> {}

impl<T: ?Sized> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let m = Arc::new(corio_sync::Mutex::new(1));
    /// let guard = m.clone().try_lock_owned().unwrap();
    /// assert!(Arc::ptr_eq(guard.mutex(), &m));
    /// ```
    pub fn mutex(&self) -> &Arc<Mutex<T>> {
        &self.mutex
    }
}

impl<T: ?Sized> Deref for OwnedMutexGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit, so no other access to `data` exists
        // until it is dropped.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference made through the guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.mutex.raw.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
