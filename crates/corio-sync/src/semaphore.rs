//! A fair, strictly FIFO counting semaphore.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::loom_shim::{AtomicUsize, Ordering};
use crate::raw_semaphore::{RawSemaphore, Waiter};
use crate::{AcquireError, TryAcquireError};

/// A counting semaphore with strictly FIFO waiters: asyncio's `Semaphore`, thread-safe.
///
/// # Fairness
///
/// Waiters are served strictly in the order they started waiting. A released permit goes to the
/// longest waiter, never to a newcomer: while anybody waits, [`try_acquire`](Self::try_acquire)
/// fails and new acquirers queue up behind. A large [`acquire_many`](Self::acquire_many) at the
/// head of the line collects released permits until it has them all; smaller requests behind it do
/// not overtake it.
///
/// # Limits
///
/// A semaphore holds at most [`Semaphore::MAX_PERMITS`] permits. Asking for more fails at once with
/// [`AcquireError::TooManyPermits`] (it could never succeed). [`new`](Self::new) and
/// [`add_permits`](Self::add_permits) saturate at the maximum, counting the permits held too.
///
/// # Cancellation
///
/// Dropping an acquire future at any point leaves nothing behind: its place in line is given up
/// (and its waker dropped at once), and permits already set aside for it go on to the next
/// waiters.
///
/// # Closing
///
/// After [`close`](Self::close), every waiting and later acquire fails with
/// [`AcquireError::Closed`]. Permits already granted stay valid, and dropping them still returns
/// their permits (so [`available_permits`](Self::available_permits) stays meaningful).
///
/// # Examples
///
/// The seed's `batch_fetch`: at most 3 fetches run at once.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use corio_sync::Semaphore;
///
/// # futures_lite::future::block_on(async {
/// let sem = Semaphore::new(3);
/// let in_flight = AtomicUsize::new(0);
/// let (sem, in_flight) = (&sem, &in_flight);
/// let fetch = |i: u32| async move {
///     let _permit = sem.acquire().await.unwrap();
///     assert!(in_flight.fetch_add(1, Ordering::SeqCst) < 3);
///     futures_lite::future::yield_now().await; // the request
///     in_flight.fetch_sub(1, Ordering::SeqCst);
///     i * 2
/// };
/// let results = futures_lite::future::zip(
///     futures_lite::future::zip(fetch(1), fetch(2)),
///     futures_lite::future::zip(fetch(3), fetch(4)),
/// )
/// .await;
/// assert_eq!(results, ((2, 4), (6, 8)));
/// assert_eq!(sem.available_permits(), 3);
/// # });
/// ```
pub struct Semaphore {
    raw: RawSemaphore,
    /// The permits that exist: created and added (at most `MAX_PERMITS`), minus forgotten ones,
    /// wherever they are (available, set aside for a waiter, held). `add_permits` saturates it;
    /// saturating the available count alone let permits held plus available exceed the
    /// maximum, and the excess vanished as they were returned (a review).
    total: AtomicUsize,
}

impl Semaphore {
    /// The most permits a semaphore can hold (`usize::MAX >> 3`).
    pub const MAX_PERMITS: usize = crate::raw_semaphore::MAX_PERMITS;

    /// Creates a semaphore with `permits` permits (0 is valid; more than
    /// [`MAX_PERMITS`](Self::MAX_PERMITS) is clamped).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio_sync::Semaphore::new(0);
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn new(permits: usize) -> Self {
        Self {
            raw: RawSemaphore::with_lane(permits),
            total: AtomicUsize::new(permits.min(Self::MAX_PERMITS)),
        }
    }

    /// Waits for one permit.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let sem = corio_sync::Semaphore::new(1);
    /// let permit = sem.acquire().await.unwrap();
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits, taken all together.
    ///
    /// `n == 0` succeeds at once (unless the semaphore is closed). `n` above
    /// [`MAX_PERMITS`](Self::MAX_PERMITS) fails with [`AcquireError::TooManyPermits`].
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let sem = corio_sync::Semaphore::new(5);
    /// let permit = sem.acquire_many(3).await.unwrap();
    /// assert_eq!(permit.num_permits(), 3);
    /// assert_eq!(sem.available_permits(), 2);
    /// # });
    /// ```
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            waiter: Waiter::new(n),
        }
    }

    /// Takes one permit if one is available and nobody is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio_sync::Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_err());
    /// drop(permit);
    /// assert!(sem.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are available and nobody is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio_sync::Semaphore::new(2);
    /// assert!(sem.try_acquire_many(3).is_err());
    /// assert_eq!(sem.try_acquire_many(2).unwrap().num_permits(), 2);
    /// ```
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.raw.try_acquire(n)?;
        Ok(SemaphorePermit { sem: self, n })
    }

    /// Waits for one permit that holds the semaphore alive (`'static`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures_lite::future::block_on(async {
    /// let sem = Arc::new(corio_sync::Semaphore::new(1));
    /// let permit = sem.clone().acquire_owned().await.unwrap();
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        self.acquire_many_owned(1)
    }

    /// Waits for `n` permits that hold the semaphore alive (`'static`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures_lite::future::block_on(async {
    /// let sem = Arc::new(corio_sync::Semaphore::new(4));
    /// let permit = sem.clone().acquire_many_owned(4).await.unwrap();
    /// assert_eq!(permit.num_permits(), 4);
    /// # });
    /// ```
    pub fn acquire_many_owned(self: Arc<Self>, n: usize) -> AcquireOwned {
        AcquireOwned {
            sem: self,
            waiter: Waiter::new(n),
        }
    }

    /// Takes one owned permit if one is available and nobody is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(corio_sync::Semaphore::new(1));
    /// let permit = sem.clone().try_acquire_owned().unwrap();
    /// assert!(sem.clone().try_acquire_owned().is_err());
    /// drop(permit);
    /// ```
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// Takes `n` owned permits if they are available and nobody is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(corio_sync::Semaphore::new(3));
    /// assert_eq!(sem.clone().try_acquire_many_owned(3).unwrap().num_permits(), 3);
    /// ```
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: usize,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.raw.try_acquire(n)?;
        Ok(OwnedSemaphorePermit { sem: self, n })
    }

    /// Blocks the current thread until one permit is available (meant for plain threads; see
    /// [blocking calls](crate#guarantees-shared-by-every-primitive)).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio_sync::Semaphore::new(1);
    /// let permit = sem.acquire_blocking().unwrap();
    /// assert_eq!(permit.num_permits(), 1);
    /// ```
    pub fn acquire_blocking(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        crate::block_on(self.acquire())
    }

    /// Adds `n` permits; they go to the waiters in line first. It saturates: the permits that
    /// exist (available, set aside for waiters, and held) never exceed
    /// [`MAX_PERMITS`](Self::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_sync::Semaphore;
    ///
    /// let sem = Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    ///
    /// let full = Semaphore::new(Semaphore::MAX_PERMITS);
    /// let held = full.try_acquire_many(Semaphore::MAX_PERMITS).unwrap();
    /// full.add_permits(5); // all the permits there can be exist already (held)
    /// assert_eq!(full.available_permits(), 0);
    /// drop(held);
    /// assert_eq!(full.available_permits(), Semaphore::MAX_PERMITS);
    /// ```
    pub fn add_permits(&self, n: usize) {
        let mut total = self.total.load(Ordering::Relaxed);
        loop {
            let added = n.min(Self::MAX_PERMITS - total);
            if added == 0 {
                return;
            }
            match self.total.compare_exchange_weak(
                total,
                total + added,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.raw.release(added);
                    return;
                }
                Err(actual) => total = actual,
            }
        }
    }

    /// `n` permits no longer exist (forgotten).
    fn forgotten(&self, n: usize) {
        if n > 0 {
            self.total.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Removes up to `n` available permits without waiting; returns how many were removed.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio_sync::Semaphore::new(3);
    /// assert_eq!(sem.forget_permits(5), 3);
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        let taken = self.raw.forget_permits(n);
        self.forgotten(taken);
        taken
    }

    /// Returns the number of permits available now (0 while anyone waits).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio_sync::Semaphore::new(4).available_permits(), 4);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.raw.available_permits()
    }

    /// Closes the semaphore: waiting and later acquires fail with [`AcquireError::Closed`].
    /// Permits already granted stay valid.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let sem = corio_sync::Semaphore::new(1);
    /// let held = sem.acquire().await.unwrap();
    /// sem.close();
    /// assert!(sem.is_closed());
    /// assert!(sem.acquire().await.is_err());
    /// drop(held); // still fine
    /// # });
    /// ```
    pub fn close(&self) {
        self.raw.close();
    }

    /// Whether [`close`](Self::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio_sync::Semaphore::new(1);
    /// assert!(!sem.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Default for Semaphore {
    /// A semaphore with no permits.
    fn default() -> Self {
        Self::new(0)
    }
}

/// The future returned by [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
///
/// Dropping it gives up its place in line and passes on any permits set aside for it.
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    waiter: Waiter,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let n = this.waiter.needed();
        this.sem
            .raw
            .poll_acquire(cx, &mut this.waiter)
            .map_ok(|()| SemaphorePermit { sem: this.sem, n })
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        self.sem.raw.cancel(&mut self.waiter);
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("permits", &self.waiter.needed())
            .finish_non_exhaustive()
    }
}

/// The future returned by [`Semaphore::acquire_owned`] and [`Semaphore::acquire_many_owned`].
///
/// Dropping it gives up its place in line and passes on any permits set aside for it.
#[must_use = "futures do nothing unless awaited"]
pub struct AcquireOwned {
    sem: Arc<Semaphore>,
    waiter: Waiter,
}

impl Future for AcquireOwned {
    type Output = Result<OwnedSemaphorePermit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let n = this.waiter.needed();
        this.sem
            .raw
            .poll_acquire(cx, &mut this.waiter)
            .map_ok(|()| OwnedSemaphorePermit {
                sem: this.sem.clone(),
                n,
            })
    }
}

impl Drop for AcquireOwned {
    fn drop(&mut self) {
        self.sem.raw.cancel(&mut self.waiter);
    }
}

impl fmt::Debug for AcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwned")
            .field("permits", &self.waiter.needed())
            .finish_non_exhaustive()
    }
}

/// Permits borrowed from a [`Semaphore`]; dropping it gives them back.
///
/// # Examples
///
/// ```
/// let sem = corio_sync::Semaphore::new(2);
/// let permit = sem.try_acquire_many(2).unwrap();
/// assert_eq!(permit.num_permits(), 2);
/// drop(permit);
/// assert_eq!(sem.available_permits(), 2);
/// ```
#[must_use = "the permits are released as soon as the permit is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits out of the semaphore for good (they are not returned on drop).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio_sync::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        self.sem.forgotten(std::mem::take(&mut self.n));
    }

    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio_sync::Semaphore::new(3);
    /// assert_eq!(sem.try_acquire_many(3).unwrap().num_permits(), 3);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// Moves `other`'s permits into this one.
    ///
    /// Permits of a different semaphore are not merged: they are handed back in `Err`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio_sync::Semaphore::new(3);
    /// let mut a = sem.try_acquire().unwrap();
    /// let b = sem.try_acquire_many(2).unwrap();
    /// assert!(a.merge(b).is_ok());
    /// assert_eq!(a.num_permits(), 3);
    /// ```
    pub fn merge<'b>(&mut self, mut other: SemaphorePermit<'b>) -> Result<(), SemaphorePermit<'b>> {
        if !std::ptr::eq(self.sem, other.sem) {
            return Err(other);
        }
        self.n += std::mem::take(&mut other.n);
        Ok(())
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.raw.release(self.n);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}

/// Permits of an `Arc<Semaphore>`; `'static`, and dropping it gives them back.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(corio_sync::Semaphore::new(1));
/// let permit = sem.clone().try_acquire_owned().unwrap();
/// assert!(Arc::ptr_eq(permit.semaphore(), &sem));
/// ```
#[must_use = "the permits are released as soon as the permit is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    n: usize,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good (they are not returned on drop).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(corio_sync::Semaphore::new(1));
    /// sem.clone().try_acquire_owned().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        self.sem.forgotten(std::mem::take(&mut self.n));
    }

    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(corio_sync::Semaphore::new(2));
    /// assert_eq!(sem.try_acquire_many_owned(2).unwrap().num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// The semaphore the permits belong to.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(corio_sync::Semaphore::new(1));
    /// let permit = sem.clone().try_acquire_owned().unwrap();
    /// assert_eq!(permit.semaphore().available_permits(), 0);
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Moves `other`'s permits into this one.
    ///
    /// Permits of a different semaphore are not merged: they are handed back in `Err`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(corio_sync::Semaphore::new(2));
    /// let mut a = sem.clone().try_acquire_owned().unwrap();
    /// let b = sem.clone().try_acquire_owned().unwrap();
    /// assert!(a.merge(b).is_ok());
    /// assert_eq!(a.num_permits(), 2);
    /// ```
    pub fn merge(&mut self, mut other: OwnedSemaphorePermit) -> Result<(), OwnedSemaphorePermit> {
        if !Arc::ptr_eq(&self.sem, &other.sem) {
            return Err(other);
        }
        self.n += std::mem::take(&mut other.n);
        Ok(())
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.raw.release(self.n);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}
