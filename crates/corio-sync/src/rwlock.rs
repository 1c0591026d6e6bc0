//! An async readers-writer lock on the FIFO semaphore core.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::TryLockError;
use crate::raw_semaphore::{MAX_PERMITS, RawSemaphore, Waiter};

/// A reader holds one permit; a writer holds all of them.
const MAX_READERS: usize = MAX_PERMITS;

/// An async readers-writer lock, thread-safe.
///
/// [`read`](Self::read) and [`write`](Self::write) return their guards directly.
///
/// # Fairness
///
/// Strictly FIFO, phase-fair: requests are served in arrival order. Readers at the head of the
/// line are admitted together; a waiting writer stops every reader that arrives after it (so
/// writers are never starved), and it gets the lock as soon as the readers ahead of it are done.
/// At most [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS) readers share the lock at once.
///
/// # Cancellation
///
/// Dropping a [`Read`] or [`Write`] future gives up its place in line and passes on anything set
/// aside for it, like a semaphore acquire.
///
/// # Examples
///
/// ```
/// use corio_sync::RwLock;
///
/// # futures_lite::future::block_on(async {
/// let config = RwLock::new(String::from("v1"));
/// {
///     let a = config.read().await;
///     let b = config.read().await; // readers share
///     assert_eq!(*a, *b);
/// }
/// config.write().await.push_str("-patched");
/// assert_eq!(*config.read().await, "v1-patched");
/// # });
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawSemaphore,
    data: UnsafeCell<T>,
}

// SAFETY: readers share `&T` across threads (`T: Sync`), and a writer may receive `&mut T` on any
// thread (`T: Send`); the semaphore excludes writers from each other and from readers.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// Creates an unlocked lock holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = corio_sync::RwLock::new(1);
    /// assert_eq!(lock.into_inner(), 1);
    /// ```
    pub fn new(value: T) -> Self {
        Self {
            raw: RawSemaphore::new(MAX_READERS),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio_sync::RwLock::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared read access.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let lock = corio_sync::RwLock::new(1);
    /// assert_eq!(*lock.read().await, 1);
    /// # });
    /// ```
    pub fn read(&self) -> Read<'_, T> {
        Read {
            lock: self,
            waiter: Waiter::new(1),
        }
    }

    /// Waits for exclusive write access.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let lock = corio_sync::RwLock::new(1);
    /// *lock.write().await = 2;
    /// assert_eq!(*lock.read().await, 2);
    /// # });
    /// ```
    pub fn write(&self) -> Write<'_, T> {
        Write {
            lock: self,
            waiter: Waiter::new(MAX_READERS),
        }
    }

    /// Takes read access if no writer holds or waits for the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = corio_sync::RwLock::new(1);
    /// let r = lock.try_read().unwrap();
    /// assert!(lock.try_read().is_ok());
    /// assert!(lock.try_write().is_err());
    /// # drop(r);
    /// ```
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        match self.raw.try_acquire(1) {
            Ok(()) => Ok(RwLockReadGuard { lock: self }),
            Err(_) => Err(TryLockError),
        }
    }

    /// Takes write access if nobody holds or waits for the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = corio_sync::RwLock::new(1);
    /// let w = lock.try_write().unwrap();
    /// assert!(lock.try_read().is_err());
    /// # drop(w);
    /// ```
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        match self.raw.try_acquire(MAX_READERS) {
            Ok(()) => Ok(RwLockWriteGuard { lock: self }),
            Err(_) => Err(TryLockError),
        }
    }

    /// Blocks the current thread until read access is granted (meant for plain threads; see
    /// [blocking calls](crate#guarantees-shared-by-every-primitive)).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = corio_sync::RwLock::new(1);
    /// assert_eq!(*lock.read_blocking(), 1);
    /// ```
    pub fn read_blocking(&self) -> RwLockReadGuard<'_, T> {
        crate::block_on(self.read())
    }

    /// Blocks the current thread until write access is granted (meant for plain threads; see
    /// [blocking calls](crate#guarantees-shared-by-every-primitive)).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = corio_sync::RwLock::new(1);
    /// *lock.write_blocking() = 5;
    /// assert_eq!(*lock.read_blocking(), 5);
    /// ```
    pub fn write_blocking(&self) -> RwLockWriteGuard<'_, T> {
        crate::block_on(self.write())
    }

    /// Returns a mutable reference to the value; the borrow proves exclusivity.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = corio_sync::RwLock::new(1);
    /// *lock.get_mut() = 4;
    /// assert_eq!(lock.into_inner(), 4);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The future returned by [`RwLock::read`].
#[must_use = "futures do nothing unless awaited"]
pub struct Read<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    waiter: Waiter,
}

impl<'a, T: ?Sized> Future for Read<'a, T> {
    type Output = RwLockReadGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.lock.raw.poll_acquire(cx, &mut this.waiter) {
            Poll::Ready(Ok(())) => Poll::Ready(RwLockReadGuard { lock: this.lock }),
            // The lock's semaphore is never closed and never asked for too many permits.
            Poll::Ready(Err(_)) | Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ?Sized> Drop for Read<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.cancel(&mut self.waiter);
    }
}

impl<T: ?Sized> fmt::Debug for Read<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Read").finish_non_exhaustive()
    }
}

/// The future returned by [`RwLock::write`].
#[must_use = "futures do nothing unless awaited"]
pub struct Write<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    waiter: Waiter,
}

impl<'a, T: ?Sized> Future for Write<'a, T> {
    type Output = RwLockWriteGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.lock.raw.poll_acquire(cx, &mut this.waiter) {
            Poll::Ready(Ok(())) => Poll::Ready(RwLockWriteGuard { lock: this.lock }),
            Poll::Ready(Err(_)) | Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ?Sized> Drop for Write<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.cancel(&mut self.waiter);
    }
}

impl<T: ?Sized> fmt::Debug for Write<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Write").finish_non_exhaustive()
    }
}

/// Shared read access to an [`RwLock`]'s value.
///
/// # Examples
///
/// ```
/// let lock = corio_sync::RwLock::new(7);
/// let guard = lock.try_read().unwrap();
/// assert_eq!(*guard, 7);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<T: ?Sized> std::ops::Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a read guard holds one permit, so no writer (which needs all of them) can exist
        // until it is dropped; other readers only make shared references too.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive write access to an [`RwLock`]'s value.
///
/// # Examples
///
/// ```
/// let lock = corio_sync::RwLock::new(7);
/// let mut guard = lock.try_write().unwrap();
/// *guard += 1;
/// assert_eq!(*guard, 8);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns write access into read access without letting any writer in between.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = corio_sync::RwLock::new(1);
    /// let mut w = lock.try_write().unwrap();
    /// *w = 2;
    /// let r = w.downgrade();
    /// assert_eq!(*r, 2);
    /// assert!(lock.try_read().is_ok());
    /// ```
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let lock = self.lock;
        std::mem::forget(self);
        lock.raw.release(MAX_READERS - 1);
        RwLockReadGuard { lock }
    }
}

impl<T: ?Sized> std::ops::Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a write guard holds every permit, so it is the only guard in existence.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> std::ops::DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference made through the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.release(MAX_READERS);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
