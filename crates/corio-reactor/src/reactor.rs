//! The reactor: a poller, the registered sources, and their readiness.
//!
//! Invariants:
//! - Sources are registered edge-triggered where the platform supports it (epoll, kqueue), so an
//!   event needs no re-arm syscall; elsewhere (IOCP) they are registered oneshot and re-armed when
//!   a task starts waiting.
//! - Each source keeps its readiness in one atomic word: a bit per direction, a sticky
//!   "hung up" bit, and a tick that counts events. An operation that hits `WouldBlock` clears its
//!   direction's bit only if the tick is unchanged, so an event that arrives during the failed
//!   operation is never lost. A stream read that fills only part of its buffer clears the read
//!   bit the same way (`poll_io_until_drained`, Linux only), unless a hang-up was reported: its
//!   end of stream has no later event to announce it.
//! - Each direction has one waker slot for the `poll_*` API, plus a slab of wakers for the
//!   `readable()`/`writable()` futures, which remove their entry when dropped. A `poll_*` caller
//!   that finds another task's waker in the slot moves it to the direction's `displaced` list
//!   (unless an equal waker is there already) instead of dropping it, so two tasks reading (or
//!   writing) one source at once are both woken by the next event: none waits for an event that
//!   already came. The list holds at most one waker per task that polled the direction since its
//!   last event, and every event empties it with the slot.
//! - No lock is held across a syscall except the poller's own.
//! - With the io_uring backend (feature `io-uring`, `uring.rs`), a source also has a receive
//!   state for `Async::poll_recv`, and `waiting()` counts receives in flight, so that the
//!   runtime's busy-loop park still drains their completions. Queuing a receive holds that
//!   state's lock across the ring's queue lock and, at worst, one `io_uring_enter` (a full
//!   queue) or one eventfd write (a parked waiter to wake).

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use polling::{Event, PollMode};

use crate::sys::{Events, Poller};
use slab::Slab;

#[cfg(unix)]
pub(crate) type RawSource = std::os::unix::io::RawFd;
#[cfg(windows)]
pub(crate) type RawSource = std::os::windows::io::RawSocket;

const READABLE: u64 = 1;
const WRITABLE: u64 = 2;
/// Sticky: an event reported a hang-up or an error. Reads must then go on until they see it (an
/// end of stream, an error), so a short read no longer counts as draining the source.
const READ_CLOSED: u64 = 4;
const TICK_ONE: u64 = 8;

/// A direction of readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

impl Dir {
    fn bit(self) -> u64 {
        match self {
            Dir::Read => READABLE,
            Dir::Write => WRITABLE,
        }
    }

    fn index(self) -> usize {
        match self {
            Dir::Read => 0,
            Dir::Write => 1,
        }
    }
}

#[derive(Debug, Default)]
struct Direction {
    /// The waker of the last `poll_read`/`poll_write`-style caller.
    waker: Option<Waker>,
    /// Wakers that other `poll_*` callers pushed out of `waker` since the last event, one per
    /// task (see the module's invariants).
    displaced: Vec<Waker>,
    /// Wakers of `readable()`/`writable()` futures, keyed so they can remove themselves.
    waiters: Slab<Option<Waker>>,
}

impl Direction {
    fn is_waiting(&self) -> bool {
        self.waker.is_some()
            || !self.displaced.is_empty()
            || self.waiters.iter().any(|(_, w)| w.is_some())
    }

    /// Puts `waker` in the `poll_*` slot. A different waker already there is another task
    /// waiting on this direction: it moves to `displaced`, to be woken by the next event too.
    fn park(&mut self, waker: &Waker) {
        match &mut self.waker {
            Some(w) if w.will_wake(waker) => {}
            Some(w) => {
                let old = std::mem::replace(w, waker.clone());
                // The task now in the slot needs no second entry, and one per task is enough.
                self.displaced.retain(|d| !d.will_wake(waker));
                if !self.displaced.iter().any(|d| d.will_wake(&old)) {
                    self.displaced.push(old);
                }
            }
            w => *w = Some(waker.clone()),
        }
    }

    fn drain(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.waker.take());
        out.append(&mut self.displaced);
        out.extend(self.waiters.iter_mut().filter_map(|(_, w)| w.take()));
    }
}

/// A registered I/O source.
pub(crate) struct Source {
    pub(crate) raw: RawSource,
    key: usize,
    readiness: AtomicU64,
    directions: Mutex<[Direction; 2]>,
    /// Bytes received on the ring and not read yet, or the receive in flight.
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    recv: crate::uring::RecvSlot,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("raw", &self.raw)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Source {
    fn lock(&self) -> MutexGuard<'_, [Direction; 2]> {
        lock(&self.directions)
    }

    fn is_ready(&self, dir: Dir) -> bool {
        self.readiness.load(Ordering::Acquire) & dir.bit() != 0
    }
}

/// A reactor: waits for I/O readiness and wakes the tasks that wait for it.
///
/// Cheap to clone. Each runtime owns one (through a [`ReactorDriver`]); outside any runtime,
/// sources register with a process-wide reactor driven by a background thread named
/// `corio-reactor`, started on first use.
///
/// # Examples
///
/// ```
/// use corio_reactor::{Async, ReactorDriver};
/// use std::net::UdpSocket;
///
/// // A runtime owns a driver and enters its reactor on its threads:
/// let mut driver = ReactorDriver::new()?;
/// let reactor = driver.reactor();
/// let _guard = reactor.enter();
/// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?; // registers with `reactor`
/// assert_eq!(reactor.sources(), 1);
/// let addr = socket.get_ref().local_addr()?;
/// let received = futures_lite::future::block_on(async {
///     // The driver is parked in by the runtime's idle thread; here, by a plain thread.
///     let timeout = Some(std::time::Duration::from_secs(5));
///     let parker = std::thread::spawn(move || driver.park(timeout));
///     socket.write_with(|s| s.send_to(b"x", addr)).await?;
///     let mut buf = [0; 1];
///     let n = socket.read_with(|s| s.recv_from(&mut buf)).await?.0;
///     parker.join().unwrap()?;
///     std::io::Result::Ok(n)
/// })?;
/// assert_eq!(received, 1);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone)]
pub struct Reactor {
    inner: Arc<Inner>,
}

struct Inner {
    poller: Poller,
    mode: PollMode,
    sources: Mutex<Slab<Arc<Source>>>,
    /// Directions with a task waiting on them, across all sources. On a cache line of its own:
    /// every task that starts waiting and every event that wakes one writes it, from any
    /// thread, and `shut_down`, read on each of those paths, missed the cache beside it (hyper
    /// under wrk, 2 workers: a third of `park_waker`'s time was that load).
    waiting: Padded<AtomicUsize>,
    shut_down: AtomicBool,
    /// Live [`ExternalWork`] guards.
    external: AtomicUsize,
}

/// Keeps a value on a cache line (two, for the adjacent-line prefetcher) of its own.
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Reactor");
        d.field("backend", &self.backend());
        if let Some(why) = crate::sys::fallback_reason(&self.inner.poller) {
            d.field("fallback", &why);
        }
        d.field("mode", &self.inner.mode)
            .field("sources", &self.sources())
            .finish()
    }
}

/// Real work outside this process's tasks that a task awaits, registered with a reactor until
/// dropped ([`Reactor::external_work`]).
#[must_use = "the work counts as awaited only while the guard lives"]
pub struct ExternalWork {
    reactor: Reactor,
}

impl Drop for ExternalWork {
    fn drop(&mut self) {
        self.reactor.inner.external.fetch_sub(1, Ordering::SeqCst);
    }
}

impl fmt::Debug for ExternalWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalWork").finish_non_exhaustive()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Reactor>> = const { RefCell::new(None) };
}

impl Reactor {
    fn new() -> io::Result<Reactor> {
        let poller = Poller::new()?;
        let mode = if poller.supports_edge() {
            PollMode::Edge
        } else {
            PollMode::Oneshot
        };
        Ok(Reactor {
            inner: Arc::new(Inner {
                poller,
                mode,
                sources: Mutex::new(Slab::new()),
                waiting: Padded(AtomicUsize::new(0)),
                shut_down: AtomicBool::new(false),
                external: AtomicUsize::new(0),
            }),
        })
    }

    /// The reactor of the current thread's runtime, or the global reactor.
    ///
    /// # Errors
    ///
    /// Fails only if the global reactor is needed and the OS refuses to create a poller.
    ///
    /// # Examples
    ///
    /// ```
    /// let reactor = corio_reactor::Reactor::current()?;
    /// assert_eq!(reactor.sources(), reactor.sources());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn current() -> io::Result<Reactor> {
        if let Some(r) = CURRENT.try_with(|c| c.borrow().clone()).ok().flatten() {
            return Ok(r);
        }
        global()
    }

    /// Whether this is the reactor that [`current`](Reactor::current) returns on this thread now
    /// (the current runtime's, or outside of any runtime the global one). Never starts the
    /// global reactor.
    ///
    /// A source waits on the reactor it registered with, and only a thread that drives that
    /// reactor sees its events: something awaited under another runtime (or after its own
    /// runtime went idle) can check this and register again where it is polled.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::{Reactor, ReactorDriver};
    ///
    /// let driver = ReactorDriver::new()?;
    /// let reactor = driver.reactor();
    /// assert!(!reactor.is_current());
    /// {
    ///     let _guard = reactor.enter();
    ///     assert!(reactor.is_current());
    /// }
    /// assert!(Reactor::current()?.is_current()); // the global reactor, outside any runtime
    /// # std::io::Result::Ok(())
    /// ```
    pub fn is_current(&self) -> bool {
        let entered = CURRENT.try_with(|c| {
            c.borrow()
                .as_ref()
                .map(|r| Arc::ptr_eq(&r.inner, &self.inner))
        });
        match entered {
            Ok(Some(same)) => same,
            // No reactor entered here: `current` is the global one, if it was ever started.
            _ => GLOBAL
                .get()
                .and_then(|g| g.as_ref().ok())
                .is_some_and(|g| Arc::ptr_eq(&g.inner, &self.inner)),
        }
    }

    /// Makes this reactor the current one on this thread until the guard is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::{Async, ReactorDriver};
    /// use std::net::UdpSocket;
    ///
    /// let driver = ReactorDriver::new()?;
    /// let reactor = driver.reactor();
    /// {
    ///     let _guard = reactor.enter();
    ///     let _socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    ///     assert_eq!(reactor.sources(), 1, "registered with the entered reactor");
    /// }
    /// // The guard is gone: new sources go to the previous reactor (here, the global one).
    /// let _other = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// assert_eq!(reactor.sources(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn enter(&self) -> ReactorGuard {
        let prev = CURRENT
            .try_with(|c| c.replace(Some(self.clone())))
            .ok()
            .flatten();
        ReactorGuard {
            prev: Some(prev),
            _not_send: std::marker::PhantomData,
        }
    }

    /// The OS interface this reactor waits in: `"io_uring"`, `"epoll"`, `"kqueue"`, `"iocp"` or
    /// `"poll"`.
    ///
    /// On Linux it is `"epoll"` unless the `io-uring` feature is on, in which case it is
    /// `"io_uring"` when the kernel allowed the ring to be set up (and `CORIO_IO=epoll` is not
    /// set), and `"epoll"` otherwise; the reactor's `Debug` output then says why.
    ///
    /// # Examples
    ///
    /// ```
    /// let driver = corio_reactor::ReactorDriver::new()?;
    /// let backend = driver.reactor().backend();
    /// assert!(["io_uring", "epoll", "kqueue", "iocp", "poll"].contains(&backend));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn backend(&self) -> &'static str {
        crate::sys::backend(&self.inner.poller)
    }

    /// The number of registered sources.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::{Async, ReactorDriver};
    /// use std::net::UdpSocket;
    ///
    /// let driver = ReactorDriver::new()?;
    /// let _guard = driver.reactor().enter();
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// assert_eq!(driver.reactor().sources(), 1);
    /// drop(socket); // deregistered
    /// assert_eq!(driver.reactor().sources(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn sources(&self) -> usize {
        lock(&self.inner.sources).len()
    }

    /// Marks real work outside this process's tasks as awaited (a task waits for a child
    /// process to exit) until the returned guard is dropped. A runtime on virtual time holds its
    /// clock while such work is awaited on its reactor, as it does while a blocking job runs
    /// (the work normally finishes by itself, in real time, and a virtual timeout around it
    /// must not fire first), but for a bounded real time (the facade's driver holds it for up to
    /// a second), since the work may in turn wait for the loop. [`waiting`](Self::waiting)
    /// sources get only a short grace.
    ///
    /// # Examples
    ///
    /// ```
    /// let reactor = corio_reactor::ReactorDriver::new()?.reactor();
    /// let child_running = reactor.external_work();
    /// assert_eq!(reactor.external_in_flight(), 1);
    /// drop(child_running);
    /// assert_eq!(reactor.external_in_flight(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn external_work(&self) -> ExternalWork {
        self.inner.external.fetch_add(1, Ordering::SeqCst);
        ExternalWork {
            reactor: self.clone(),
        }
    }

    /// How many [`external_work`](Self::external_work) guards are alive.
    pub fn external_in_flight(&self) -> usize {
        self.inner.external.load(Ordering::SeqCst)
    }

    /// The number of (source, direction) pairs a task is waiting on.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::{Async, ReactorDriver};
    /// use std::net::UdpSocket;
    ///
    /// use std::task::{Context, Waker};
    /// use futures_lite::FutureExt;
    ///
    /// let driver = ReactorDriver::new()?;
    /// let reactor = driver.reactor();
    /// let _guard = reactor.enter();
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// let mut buf = [0; 1];
    /// let mut recv = socket.read_with(|s| s.recv_from(&mut buf)); // nothing will arrive
    /// assert!(recv.poll(&mut Context::from_waker(Waker::noop())).is_pending());
    /// assert_eq!(reactor.waiting(), 1);
    /// drop(recv);
    /// assert_eq!(reactor.waiting(), 0, "a dropped future leaves nothing behind");
    /// # std::io::Result::Ok(())
    /// ```
    pub fn waiting(&self) -> usize {
        let waiting = self.inner.waiting.load(Ordering::Acquire);
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        let waiting = waiting + self.inner.poller.ops_in_flight();
        waiting
    }

    /// Operations in flight on the ring (receives started by `Async::poll_recv`); always 0
    /// on readiness backends. Each holds a buffer until its completion arrives, also after its
    /// source is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let driver = corio_reactor::ReactorDriver::new()?;
    /// assert_eq!(driver.reactor().ops_in_flight(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn ops_in_flight(&self) -> usize {
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        return self.inner.poller.ops_in_flight();
        #[cfg(not(all(target_os = "linux", feature = "io-uring")))]
        0
    }

    /// Requests queued for the io_uring and not yet submitted: registrations and removals of
    /// sources (a dropped socket stays open until its removal is submitted); always 0 on
    /// readiness backends. A runtime's check between tasks parks with a zero timeout while this
    /// is not 0, which submits them, even when no task waits on I/O: a loop that made and
    /// dropped sockets without ever waiting grew its queue by 128 bytes a socket, for as long as
    /// it ran (a probe).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::ReactorDriver;
    ///
    /// let mut driver = ReactorDriver::new()?;
    /// driver.park(Some(std::time::Duration::ZERO))?;
    /// assert_eq!(driver.reactor().queued_submissions(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn queued_submissions(&self) -> usize {
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        return self.inner.poller.queued();
        #[cfg(not(all(target_os = "linux", feature = "io-uring")))]
        0
    }

    /// Lets the kernel deliver what it holds for this thread: on the io_uring backend, the
    /// completion work of requests this thread submitted, which the kernel defers to the
    /// thread's next system call rather than interrupt it, runs now if the ring flags any as
    /// pending (one `io_uring_enter` that submits nothing). A no-op on readiness backends.
    ///
    /// An executor's busy thread calls this between tasks while another thread waits on the
    /// reactor: that thread's wake-up may depend on it.
    ///
    /// # Examples
    ///
    /// ```
    /// let driver = corio_reactor::ReactorDriver::new()?;
    /// driver.reactor().run_deferred_work(); // nothing pending: no system call
    /// # std::io::Result::Ok(())
    /// ```
    pub fn run_deferred_work(&self) {
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        self.inner.poller.run_deferred_work();
    }

    /// Lets go, now, of what the kernel holds on behalf of the calling thread, which is about
    /// to exit: on the io_uring backend, the polls it submitted (it cancels every registered
    /// source's poll in one submission of its own). A no-op on readiness backends.
    ///
    /// An executor's worker thread that has waited on this reactor calls this as the last
    /// thing it does when its runtime shuts down. The kernel completes the polls of a thread
    /// that has exited only in deferred work, one or two timer ticks later, and a poll holds
    /// its socket open: without this, the sockets dropped with the runtime's tasks closed
    /// (sent their FIN, freed their port) 5-9 ms after the runtime's drop returned. A source
    /// that stays registered gets a new poll from the next thread that waits on the reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// let driver = corio_reactor::ReactorDriver::new()?;
    /// driver.reactor().release_thread(); // nothing registered: nothing to do
    /// # std::io::Result::Ok(())
    /// ```
    pub fn release_thread(&self) {
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        self.inner.poller.release_thread();
    }

    /// Receives into `out` on the ring; `None` where the backend is readiness-based.
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    pub(crate) fn poll_recv(
        &self,
        source: &Source,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Option<Poll<io::Result<usize>>> {
        if corio_coop::poll_proceed(cx).is_pending() {
            return Some(Poll::Pending);
        }
        let shut_down = self.inner.shut_down.load(Ordering::Acquire);
        self.inner
            .poller
            .poll_recv(source.raw, &source.recv, cx, out, shut_down)
    }

    /// Interrupts the thread blocked in this reactor's [`ReactorDriver::park`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::{Async, ReactorDriver};
    /// use std::net::UdpSocket;
    ///
    /// let mut driver = ReactorDriver::new()?;
    /// let reactor = driver.reactor();
    /// let notifier = std::thread::spawn(move || reactor.notify());
    /// driver.park(None)?; // no timeout: returns because of the notification
    /// notifier.join().unwrap();
    /// # std::io::Result::Ok(())
    /// ```
    pub fn notify(&self) {
        let _ = self.inner.poller.notify();
    }

    pub(crate) fn register(&self, raw: RawSource) -> io::Result<Arc<Source>> {
        let inner = &*self.inner;
        if inner.shut_down.load(Ordering::Acquire) {
            return Err(shut_down_error());
        }
        let source = {
            let mut sources = lock(&inner.sources);
            let entry = sources.vacant_entry();
            let source = Arc::new(Source {
                raw,
                key: entry.key(),
                // Unknown readiness counts as ready: the first operation tries the syscall.
                readiness: AtomicU64::new(READABLE | WRITABLE),
                directions: Mutex::new(Default::default()),
                #[cfg(all(target_os = "linux", feature = "io-uring"))]
                recv: Default::default(),
            });
            entry.insert(source.clone());
            source
        };
        let interest = match inner.mode {
            PollMode::Edge => Event::all(source.key),
            // Oneshot sources are armed when a task starts waiting.
            _ => Event::none(source.key),
        };
        // SAFETY: `Async` (the only caller) deletes the source from the poller, through
        // `deregister`, before the I/O handle that owns `raw` is dropped or given back.
        #[allow(unsafe_code)]
        let added = unsafe { inner.poller.add_with_mode(raw, interest, inner.mode) };
        if let Err(e) = added {
            lock(&inner.sources).remove(source.key);
            return Err(e);
        }
        Ok(source)
    }

    /// Removes `source` from the poller and wakes nobody. Must be called while the I/O handle
    /// that owns `source.raw` is still open.
    pub(crate) fn deregister(&self, source: &Source) {
        let inner = &*self.inner;
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        inner.poller.cancel_recv(&source.recv);
        #[cfg(target_os = "linux")]
        let _ = with_borrowed(source.raw, |handle| inner.poller.delete(handle, source.key));
        #[cfg(not(target_os = "linux"))]
        let _ = with_borrowed(source.raw, |handle| inner.poller.delete(handle));
        let taken = {
            let mut dirs = source.lock();
            let mut out = Vec::new();
            for dir in dirs.iter_mut() {
                if dir.is_waiting() && !inner.shut_down.load(Ordering::Acquire) {
                    inner.waiting.fetch_sub(1, Ordering::AcqRel);
                }
                dir.drain(&mut out);
            }
            out
        };
        drop(taken);
        let mut sources = lock(&inner.sources);
        if sources
            .get(source.key)
            .is_some_and(|s| std::ptr::eq(&**s, source))
        {
            sources.remove(source.key);
        }
    }

    /// Polls `op` while `dir` is ready; returns `Pending` (with the waker registered) once it
    /// would block. `waiter` selects where the waker goes: `None` for the shared `poll_*` slot,
    /// or the key slot of a future that removes its entry when dropped.
    pub(crate) fn poll_io<R>(
        &self,
        source: &Source,
        dir: Dir,
        cx: &mut Context<'_>,
        waiter: Option<&mut Option<usize>>,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_until_drained(source, dir, cx, waiter, op, |_| false)
    }

    /// [`poll_io`](Reactor::poll_io), where `drained(&result)` says that a successful operation
    /// emptied the source (a read that filled only part of its buffer): the direction's bit is
    /// then cleared like after `WouldBlock` (unless an event arrived meanwhile), so the next
    /// operation waits for the next event instead of making a syscall that fails with `EAGAIN`.
    pub(crate) fn poll_io_until_drained<R>(
        &self,
        source: &Source,
        dir: Dir,
        cx: &mut Context<'_>,
        mut waiter: Option<&mut Option<usize>>,
        mut op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        if corio_coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        loop {
            let state = source.readiness.load(Ordering::Acquire);
            if state & dir.bit() != 0 {
                let clear = || {
                    // Clear the bit unless an event arrived during the operation (the tick
                    // moved): that event may be for data the operation did not see.
                    let _ = source.readiness.compare_exchange(
                        state,
                        state & !dir.bit(),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                };
                match op() {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Not ready after all.
                        clear();
                        continue;
                    }
                    Ok(value) => {
                        // Not after a hang-up: the end of stream (or the error) that came with
                        // the last bytes has no event of its own left to announce it.
                        if state & READ_CLOSED == 0 && drained(&value) {
                            clear();
                        }
                        return Poll::Ready(Ok(value));
                    }
                    result => return Poll::Ready(result),
                }
            }
            let registered = match waiter.as_deref_mut() {
                None => self.park_waker(source, dir, cx.waker()),
                Some(key) => self.add_waiter(source, dir, key, cx.waker()),
            };
            if let Err(e) = registered {
                // This reactor shut down (its runtime is gone): nothing will report readiness
                // again, but data or room may be there now, and an operation that can complete
                // at once still does (a review: a socket read dry, then sent 5 bytes after its
                // runtime was dropped, failed to read them). Only one that would wait fails.
                return Poll::Ready(match op() {
                    Err(w) if w.kind() == io::ErrorKind::WouldBlock => Err(e),
                    result => result,
                });
            }
            if !source.is_ready(dir) {
                return Poll::Pending;
            }
        }
    }

    /// Runs `op` once, now, without waiting or registering a waker: a `WouldBlock` clears
    /// `dir`'s readiness (unless an event arrived during the operation), so that the next
    /// wait for readiness waits for a new event.
    pub(crate) fn try_io<R>(
        &self,
        source: &Source,
        dir: Dir,
        op: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        let state = source.readiness.load(Ordering::Acquire);
        let result = op();
        if matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            let _ = source.readiness.compare_exchange(
                state,
                state & !dir.bit(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        result
    }

    /// Whether `dir` of `source` is marked ready (a hint: the next operation may still block).
    pub(crate) fn poll_ready_hint(&self, source: &Source, dir: Dir) -> bool {
        source.is_ready(dir)
    }

    /// Resolves once `dir` is ready (or when this reactor shut down).
    pub(crate) fn poll_ready(
        &self,
        source: &Source,
        dir: Dir,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if source.is_ready(dir) {
            return Poll::Ready(Ok(()));
        }
        if let Err(e) = self.park_waker(source, dir, cx.waker()) {
            return Poll::Ready(Err(e));
        }
        if source.is_ready(dir) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Stores `waker` in `dir`'s slot of `source`, arming interest where the platform needs it.
    fn park_waker(&self, source: &Source, dir: Dir, waker: &Waker) -> io::Result<()> {
        let inner = &*self.inner;
        if inner.shut_down.load(Ordering::Acquire) {
            return Err(shut_down_error());
        }
        let mut dirs = source.lock();
        let slot = &mut dirs[dir.index()];
        let was_waiting = slot.is_waiting();
        slot.park(waker);
        if !was_waiting {
            inner.waiting.fetch_add(1, Ordering::AcqRel);
        }
        self.rearm(source, &dirs)
    }

    /// Registers a waiter for a `readable()`/`writable()` future; returns its key.
    pub(crate) fn add_waiter(
        &self,
        source: &Source,
        dir: Dir,
        key: &mut Option<usize>,
        waker: &Waker,
    ) -> io::Result<()> {
        let inner = &*self.inner;
        if inner.shut_down.load(Ordering::Acquire) {
            return Err(shut_down_error());
        }
        let mut dirs = source.lock();
        let slot = &mut dirs[dir.index()];
        let was_waiting = slot.is_waiting();
        match key.and_then(|k| slot.waiters.get_mut(k)) {
            Some(Some(w)) if w.will_wake(waker) => {}
            Some(w) => *w = Some(waker.clone()),
            None => *key = Some(slot.waiters.insert(Some(waker.clone()))),
        }
        if !was_waiting {
            inner.waiting.fetch_add(1, Ordering::AcqRel);
        }
        self.rearm(source, &dirs)
    }

    pub(crate) fn remove_waiter(&self, source: &Source, dir: Dir, key: usize) {
        let inner = &*self.inner;
        let waker = {
            let mut dirs = source.lock();
            let slot = &mut dirs[dir.index()];
            let was_waiting = slot.is_waiting();
            let waker = slot.waiters.try_remove(key).flatten();
            if was_waiting && !slot.is_waiting() {
                inner.waiting.fetch_sub(1, Ordering::AcqRel);
            }
            waker
        };
        drop(waker);
    }

    fn rearm(&self, source: &Source, dirs: &[Direction; 2]) -> io::Result<()> {
        let inner = &*self.inner;
        if inner.mode == PollMode::Edge {
            return Ok(());
        }
        let event = Event::new(source.key, dirs[0].is_waiting(), dirs[1].is_waiting());
        with_borrowed(source.raw, |handle| inner.poller.modify(handle, event))
    }

    fn dispatch(&self, events: &Events) {
        let inner = &*self.inner;
        let mut ready = Vec::with_capacity(events.len());
        {
            let sources = lock(&inner.sources);
            for ev in events.iter() {
                if let Some(source) = sources.get(ev.key) {
                    ready.push((source.clone(), ev.readable, ev.writable, ev.is_interrupt()));
                }
            }
        }
        let mut wakers = Vec::new();
        for (source, readable, writable, closed) in ready {
            let bits = (if readable { READABLE } else { 0 })
                | (if writable { WRITABLE } else { 0 })
                | (if closed { READ_CLOSED } else { 0 });
            let _ = source
                .readiness
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                    Some((s | bits).wrapping_add(TICK_ONE))
                });
            let mut dirs = source.lock();
            for (dir, hit) in [(Dir::Read, readable), (Dir::Write, writable)] {
                let slot = &mut dirs[dir.index()];
                if hit && slot.is_waiting() {
                    slot.drain(&mut wakers);
                    inner.waiting.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
        for waker in wakers {
            waker.wake();
        }
    }
}

/// Restores the previous current reactor when dropped; see [`Reactor::enter`].
///
/// # Examples
///
/// ```
/// use corio_reactor::{Async, ReactorDriver};
/// use std::net::UdpSocket;
///
/// let (outer, inner) = (ReactorDriver::new()?, ReactorDriver::new()?);
/// let _outer_guard = outer.reactor().enter();
/// {
///     let _inner_guard = inner.reactor().enter(); // guards nest
///     let _socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
///     assert_eq!(inner.reactor().sources(), 1);
/// }
/// let _socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?; // the outer one is current again
/// assert_eq!(outer.reactor().sources(), 1);
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "the reactor stays current only while the guard is alive"]
pub struct ReactorGuard {
    prev: Option<Option<Reactor>>,
    /// `!Send`: the guard restores *this* thread's current reactor, so it must be dropped on
    /// the thread that made it (a task holding it across an await could move to another worker).
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ReactorGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            let replaced = CURRENT.try_with(|c| c.replace(prev)).ok().flatten();
            drop(replaced);
        }
    }
}

/// The runtime side of a reactor: the thread that parks in it waits for I/O events.
///
/// Dropping it shuts the reactor down: every waiting task is woken, and from then on operations
/// on its sources that would wait fail with an error saying so, instead of hanging.
///
/// # Examples
///
/// ```
/// use corio_reactor::ReactorDriver;
/// use std::time::Duration;
///
/// let mut driver = ReactorDriver::new()?;
/// driver.reactor().notify();
/// driver.park(Some(Duration::from_secs(5)))?; // returns at once: notified
/// # std::io::Result::Ok(())
/// ```
pub struct ReactorDriver {
    reactor: Reactor,
    events: Events,
}

impl fmt::Debug for ReactorDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReactorDriver")
            .field("reactor", &self.reactor)
            .finish_non_exhaustive()
    }
}

impl ReactorDriver {
    /// A new reactor and its driver.
    ///
    /// # Errors
    ///
    /// Fails if the OS refuses to create a poller (for example, out of file descriptors).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::{Async, ReactorDriver};
    /// use std::net::UdpSocket;
    ///
    /// let driver = ReactorDriver::new()?;
    /// assert_eq!(driver.reactor().sources(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new() -> io::Result<ReactorDriver> {
        Ok(ReactorDriver {
            reactor: Reactor::new()?,
            events: Events::new(),
        })
    }

    /// The reactor that sources register with.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::{Async, ReactorDriver};
    /// use std::net::UdpSocket;
    ///
    /// let driver = ReactorDriver::new()?;
    /// let reactor = driver.reactor(); // a cheap handle: clones share the reactor
    /// let _guard = reactor.enter();
    /// let _socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// assert_eq!(driver.reactor().sources(), 1);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn reactor(&self) -> Reactor {
        self.reactor.clone()
    }

    /// Waits up to `timeout` (`None`: until an event or [`Reactor::notify`]) and wakes the tasks
    /// whose sources became ready. Returns the number of events.
    ///
    /// # Errors
    ///
    /// Returns the poller's error (`EINTR` is retried inside).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::{Async, ReactorDriver};
    /// use std::net::UdpSocket;
    ///
    /// use std::task::{Context, Waker};
    /// use std::time::Duration;
    /// use futures_lite::FutureExt;
    ///
    /// let mut driver = ReactorDriver::new()?;
    /// let _guard = driver.reactor().enter();
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// let mut buf = [0; 1];
    /// let mut recv = socket.read_with(|s| s.recv_from(&mut buf));
    /// assert!(recv.poll(&mut Context::from_waker(Waker::noop())).is_pending()); // a task waits
    /// socket.get_ref().send_to(b"x", socket.get_ref().local_addr()?)?;
    /// let events = driver.park(Some(Duration::from_secs(5)))?; // the datagram's event wakes it
    /// assert!(events >= 1);
    /// assert!(recv.poll(&mut Context::from_waker(Waker::noop())).is_ready());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn park(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        self.events.clear();
        let n = self.reactor.inner.poller.wait(&mut self.events, timeout)?;
        if n > 0 {
            self.reactor.dispatch(&self.events);
        }
        Ok(n)
    }
}

impl Drop for ReactorDriver {
    fn drop(&mut self) {
        let inner = &*self.reactor.inner;
        inner.shut_down.store(true, Ordering::Release);
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        inner.poller.driver_gone();
        let sources: Vec<Arc<Source>> = lock(&inner.sources)
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        let mut wakers = Vec::new();
        for source in sources {
            let mut dirs = source.lock();
            for dir in dirs.iter_mut() {
                dir.drain(&mut wakers);
            }
            #[cfg(all(target_os = "linux", feature = "io-uring"))]
            wakers.extend(crate::uring::take_waker(&source.recv));
        }
        inner.waiting.store(0, Ordering::Release);
        // Woken so that tasks still alive see the shutdown error instead of waiting forever.
        for waker in wakers {
            waker.wake();
        }
    }
}

/// Runs `f` with a borrowed handle for `raw`.
fn with_borrowed<R>(raw: RawSource, f: impl FnOnce(Borrowed<'_>) -> R) -> R {
    // SAFETY: every caller passes the raw handle of a registered source, and a source is
    // registered only while the `Async` that owns the handle is alive (`Async` deregisters before
    // it drops or gives back its handle), so `raw` is open for the duration of `f`.
    #[allow(unsafe_code)]
    let handle = unsafe { Borrowed::borrow_raw(raw) };
    f(handle)
}

#[cfg(unix)]
type Borrowed<'a> = std::os::unix::io::BorrowedFd<'a>;
#[cfg(windows)]
type Borrowed<'a> = std::os::windows::io::BorrowedSocket<'a>;

fn shut_down_error() -> io::Error {
    io::Error::other("the runtime that owns this I/O source has shut down")
}

/// Locks `m`, ignoring poison: nothing panics while holding the reactor's locks (this module's
/// and the io_uring poller's), and what they guard (wakers, registrations, operations) stays
/// valid if something did.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process-wide reactor, once started (see [`global`]).
static GLOBAL: OnceLock<Result<Reactor, String>> = OnceLock::new();

/// The process-wide reactor used outside of any runtime.
fn global() -> io::Result<Reactor> {
    let global = GLOBAL.get_or_init(|| {
        let mut driver = ReactorDriver::new().map_err(|e| e.to_string())?;
        let reactor = driver.reactor();
        std::thread::Builder::new()
            .name("corio-reactor".into())
            .spawn(move || {
                loop {
                    if let Err(e) = driver.park(None) {
                        eprintln!("corio: the global reactor failed to wait for events: {e}");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(reactor)
    });
    global
        .clone()
        .map_err(|e| io::Error::other(format!("cannot start the global reactor: {e}")))
}
