//! `Unblock<T>`: async reads, writes, seeks and streams over a blocking handle.
//!
//! The handle lives in a `Box` that moves to a pool job for each blocking call and comes back in
//! the job's `Done`, so one operation runs at a time, in the order issued. This file holds the
//! type, its constructors and the job machinery every direction shares; one file per concern
//! holds the rest:
//!
//! - `read.rs`: `AsyncRead`, the read buffer and read-ahead;
//! - `write.rs`: `AsyncWrite` and the queue of buffers that one running write job drains;
//! - `seek.rs`: `AsyncSeek` and the seekable constructors, which keep the handle's position
//!   equal to the logical one;
//! - `stream.rs`: the `Stream` of an iterator, through a channel;
//! - `on_drop.rs`: what runs after an `Unblock` is dropped (buffered bytes still get written).
//!
//! # Invariants
//!
//! - The handle is in `io` or inside the running `job`, never both; it is lost (`io` stays
//!   `None`) only if an operation panicked, and gone for good after `close`.
//! - At most one job runs per `Unblock`. Every operation first collects a finished job
//!   (`poll_job`) and files its outcome before starting another.
//! - Code without the trait bounds of a direction (`Drop`, `with_mut`) reaches the handle's
//!   `Write` and `Seek` methods through the function pointers in `Ops`, captured where the
//!   bounds are known.

use std::any::Any;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use crate::job::Unblocked;
use crate::pool::Sched;

mod on_drop;
mod read;
mod seek;
mod stream;
mod write;

use on_drop::Leftover;
use read::ReadState;
use write::WriteQueue;

/// The default buffer size of an [`Unblock`] over a reader or writer: 1 MiB.
///
/// A read job reads at most this much at once (it starts at 16 KiB, or the caller's buffer size,
/// and doubles while reads keep filling it), and writes are handed to the pool in batches of at
/// most this much.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_blocking::DEFAULT_BUFFER_BYTES, 1 << 20);
/// ```
pub const DEFAULT_BUFFER_BYTES: usize = 1 << 20;

/// The default buffer size of an [`Unblock`] over an iterator: 8192 items.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_blocking::DEFAULT_BUFFER_ITEMS, 8192);
/// ```
pub const DEFAULT_BUFFER_ITEMS: usize = 8192;

/// Runs a blocking reader, writer, seeker or iterator on the blocking pool and exposes it as
/// futures-io [`AsyncRead`](futures_io::AsyncRead), [`AsyncWrite`](futures_io::AsyncWrite),
/// [`AsyncSeek`](futures_io::AsyncSeek) or a [`Stream`](futures_core::Stream).
///
/// The handle moves to a pool thread for each blocking call and comes back when the call is
/// done, so one operation runs at a time, in the order you issue them. Data goes through
/// internal buffers of at most [`DEFAULT_BUFFER_BYTES`] (or [`DEFAULT_BUFFER_ITEMS`] for an
/// iterator); [`with_capacity`](Unblock::with_capacity) changes that.
///
/// The jobs run on the pool that was [current](crate::Pool::current) when the `Unblock` was
/// created. If that pool has since been shut down they run on the global pool.
///
/// # Writing
///
/// A write returns as soon as its bytes are in the buffer, and the pool writes them in the
/// background: one pool job keeps writing 256 KiB buffers while you fill the next ones, with up
/// to the capacity in flight, and a write waits only when that much is queued. **Bytes are only guaranteed to have reached
/// the handle after [`flush().await`](futures_lite::AsyncWriteExt::flush) returns `Ok`**, and
/// only `flush` (or `close`) reports a write error that happened in the background (the next
/// `write` reports it too).
///
/// Dropping an `Unblock` with unflushed bytes does not lose them: a job on the pool writes and
/// flushes them after the drop. An error at that point has nowhere to go but stderr, so flush if
/// you need to know. Bytes still buffered when the *process* exits are lost, as with any buffered
/// writer.
///
/// # Reading
///
/// A read fetches up to a buffer's worth in one blocking `read` call and serves later reads from
/// it. On a [`new_seekable`](Unblock::new_seekable) handle the next buffer is read while you
/// consume this one; other handles never read ahead of a request, since an unrequested read of
/// stdin or a pipe could block for good. So the handle itself may be ahead of what you have read: seeking with
/// [`SeekFrom::Current`](std::io::SeekFrom::Current) accounts for that, and [`new_seekable`](Unblock::new_seekable) makes
/// writes and [`with_mut`](Unblock::with_mut) account for it too (it seeks the handle back
/// first). A read blocked in the pool (stdin waiting for a line) keeps the handle until it
/// returns; operations issued meanwhile wait for it.
///
/// # Closing
///
/// [`close`](futures_lite::AsyncWriteExt::close) flushes and then drops the handle (closing a
/// pipe, for example). After that, reads and writes fail with an error, and
/// [`get_mut`](Unblock::get_mut), [`with_mut`](Unblock::with_mut) and
/// [`into_inner`](Unblock::into_inner) panic.
///
/// # Examples
///
/// ```
/// use corio_blocking::Unblock;
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
///
/// # futures_lite::future::block_on(async {
/// let mut reader = Unblock::new(std::io::Cursor::new(b"hello".to_vec()));
/// let mut text = String::new();
/// reader.read_to_string(&mut text).await?;
/// assert_eq!(text, "hello");
///
/// let mut writer = Unblock::new(Vec::new());
/// writer.write_all(b"bytes").await?;
/// writer.flush().await?;
/// assert_eq!(writer.into_inner().await, b"bytes");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct Unblock<T> {
    sched: Sched,
    io: Option<Box<T>>,
    job: Option<Unblocked<Done<T>>>,
    closed: bool,
    cap: Option<usize>,

    read: ReadState,
    /// Seekable handles only: bytes the handle is ahead of the logical position because
    /// read-ahead was invalidated by a write (given back by the next job that touches it).
    realign_back: u64,

    wbuf: Vec<u8>,
    /// Full buffers handed to the running write job, and empty ones coming back.
    wq: Arc<WriteQueue>,
    needs_flush: bool,
    write_err: Option<io::Error>,

    seek_done: Option<(SeekFrom, io::Result<u64>)>,

    /// The channel of a streaming iterator (an `Arc<Chan<T::Item>>`) and its stop flag.
    stream: Option<(Box<dyn Any + Send + Sync>, Arc<AtomicBool>)>,

    /// A `with_mut` started the running job and has not collected it yet: if its future was
    /// dropped, nobody else may receive the closure's panic.
    op_pending: bool,
    /// The `with_mut` that started the running job is the one collecting it right now.
    op_collecting: bool,

    ops: Ops<T>,
}

/// Writes all of a buffer, then flushes if asked: `Write::write_all` + `Write::flush`.
type WriteFn<T> = fn(&mut T, &[u8], bool) -> io::Result<()>;

/// Seeks back by this many bytes.
type RealignFn<T> = fn(&mut T, u64) -> io::Result<()>;

/// Operations captured where their trait bounds are known, so that code without those bounds
/// (`Drop`, `with_mut`) can still run them.
struct Ops<T> {
    write: Option<WriteFn<T>>,
    realign: Option<RealignFn<T>>,
    finish: fn(Leftover<T>),
}

struct Done<T> {
    io: Box<T>,
    outcome: Outcome,
}

enum Outcome {
    Read {
        buf: Vec<u8>,
        asked: usize,
        result: io::Result<usize>,
    },
    Write {
        buf: Vec<u8>,
        flushed: bool,
        result: io::Result<()>,
    },
    Seek {
        buf: Vec<u8>,
        pos: SeekFrom,
        result: io::Result<u64>,
    },
    Op {
        buf: Vec<u8>,
        prep: io::Result<()>,
        value: Box<dyn Any + Send>,
    },
    Stream,
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the handle inside this Unblock was closed",
    )
}

fn lost_error() -> io::Error {
    io::Error::other("the handle inside this Unblock was lost: an operation on it panicked")
}

impl<T: Send + 'static> Unblock<T> {
    /// Wraps a blocking handle. Jobs run on the [current](crate::Pool::current) pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Unblock;
    /// use futures_lite::StreamExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut numbers = Unblock::new(1..=3);
    /// assert_eq!(numbers.next().await, Some(1));
    /// # });
    /// ```
    pub fn new(io: T) -> Unblock<T> {
        Unblock {
            sched: Sched::current(),
            io: Some(Box::new(io)),
            job: None,
            closed: false,
            cap: None,
            read: ReadState::default(),
            realign_back: 0,
            wbuf: Vec::new(),
            wq: Arc::new(WriteQueue::default()),
            needs_flush: false,
            write_err: None,
            seek_done: None,
            stream: None,
            op_pending: false,
            op_collecting: false,
            ops: Ops {
                write: None,
                realign: None,
                finish: on_drop::finish::<T>,
            },
        }
    }

    /// Wraps a blocking handle with a buffer of `cap` bytes (for a reader or writer) or `cap`
    /// items (for an iterator). `0` is treated as `1`.
    ///
    /// A bigger buffer means fewer trips to the pool and more memory per handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Unblock;
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut out = Unblock::with_capacity(64 * 1024, Vec::new());
    /// out.write_all(&[7; 100_000]).await?;
    /// out.flush().await?;
    /// assert_eq!(out.into_inner().await.len(), 100_000);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn with_capacity(cap: usize, io: T) -> Unblock<T> {
        let mut unblock = Unblock::new(io);
        unblock.cap = Some(cap.max(1));
        unblock
    }

    /// Gets a mutable reference to the handle, after waiting for the running operation and
    /// writing (not flushing) buffered bytes.
    ///
    /// On a [`new_seekable`](Unblock::new_seekable) handle, bytes read ahead and not consumed
    /// are given back first (the handle is seeked back), so the handle's position is the logical
    /// one. Otherwise they stay buffered and later reads still return them.
    ///
    /// An error from writing the buffered bytes is kept and returned by the next write or flush.
    ///
    /// # Panics
    ///
    /// If the handle was closed with `close`, or lost because an operation on it panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Unblock;
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut out = Unblock::new(Vec::new());
    /// out.write_all(b"abc").await?;
    /// assert_eq!(out.get_mut().await.as_slice(), b"abc");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn get_mut(&mut self) -> &mut T {
        self.settle().await;
        if self.io.is_none() {
            panic!("{}", self.gone_error());
        }
        match self.io.as_deref_mut() {
            Some(io) => io,
            None => unreachable!(),
        }
    }

    /// Gets a mutable reference to the handle without waiting, if it is quiet: no operation is
    /// running or uncollected, no bytes are buffered in either direction (no read-ahead, no
    /// unread bytes, no queued writes), and no end-of-file or error waits to be reported.
    /// Returns `None` otherwise, and after `close`.
    ///
    /// While this returns `Some`, the handle's own state (a file's position, say) is the logical
    /// one, so the caller may use it directly, for a call that cannot block (a read of cached
    /// data with `RWF_NOWAIT`) and the async methods stay in order with it. Like any operation,
    /// it ends the memory of a finished [`poll_seek`](futures_io::AsyncSeek::poll_seek).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Unblock;
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut out = Unblock::new(Vec::new());
    /// assert!(out.try_get_mut().is_some());
    /// out.write_all(b"abc").await?; // buffered, not yet written
    /// assert!(out.try_get_mut().is_none());
    /// out.flush().await?;
    /// assert_eq!(out.try_get_mut().map(|v| v.len()), Some(3));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_get_mut(&mut self) -> Option<&mut T> {
        let quiet = !self.closed
            && self.job.is_none()
            && self.wbuf.is_empty()
            && self.realign_back == 0
            && self.read.is_quiet()
            && self.stream.is_none();
        if !quiet {
            return None;
        }
        self.seek_done = None;
        self.io.as_deref_mut()
    }

    /// Runs a blocking closure on the handle, on the pool, and returns its result.
    ///
    /// Before the closure runs, the running operation finishes, buffered bytes are written (not
    /// flushed) and, on a [`new_seekable`](Unblock::new_seekable) handle, unconsumed read-ahead
    /// is given back, all in the same job. An error from that preparation is kept and returned
    /// by the next write or flush; the closure runs regardless.
    ///
    /// If the future is dropped, the closure still runs and the handle still comes back to this
    /// `Unblock`; the closure's result is dropped. If the closure then panics, nobody awaits it:
    /// the panic is reported on stderr, the handle is lost, and later operations fail with an
    /// error (the panic never resumes in an unrelated operation).
    ///
    /// # Panics
    ///
    /// If the closure panics, the panic resumes here, and the handle is lost. Also panics if the
    /// handle was closed with `close` or lost to an earlier panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Unblock;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut cursor = Unblock::new(std::io::Cursor::new(vec![1, 2, 3]));
    /// let len = cursor.with_mut(|c| c.get_ref().len()).await;
    /// assert_eq!(len, 3);
    /// # });
    /// ```
    pub async fn with_mut<R, F>(&mut self, op: F) -> R
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        poll_fn(|cx| self.poll_idle(cx)).await;
        self.seek_done = None;
        let Some(io) = self.io.take() else {
            panic!("{}", self.gone_error());
        };
        let data = std::mem::take(&mut self.wbuf);
        let back = self.discard_read_ahead();
        if !data.is_empty() {
            self.needs_flush = true;
        }
        let (write, realign) = (self.ops.write, self.ops.realign);
        self.job = Some(self.sched.spawn_job(move || {
            let mut io = io;
            let mut prep = Ok(());
            if let (true, Some(realign)) = (back > 0, realign) {
                prep = realign(&mut io, back);
            }
            if let (true, true, Some(write)) = (prep.is_ok(), !data.is_empty(), write) {
                prep = write(&mut io, &data, false);
            }
            let value: Box<dyn Any + Send> = Box::new(op(&mut io));
            let mut buf = data;
            buf.clear();
            Done {
                io,
                outcome: Outcome::Op { buf, prep, value },
            }
        }));
        self.op_pending = true;
        let value = poll_fn(|cx| {
            self.op_collecting = true;
            let polled = self.poll_job(cx);
            self.op_collecting = false;
            polled
        })
        .await;
        self.op_pending = false;
        match value.map(|v| v.downcast::<R>()) {
            Some(Ok(value)) => *value,
            // The job just spawned is the only one that can finish here.
            _ => unreachable!("with_mut: the job returned no value"),
        }
    }

    /// Waits for the running operation, writes and flushes buffered bytes, and returns the
    /// handle.
    ///
    /// Read-ahead that was not consumed is given back on a
    /// [`new_seekable`](Unblock::new_seekable) handle (the handle is seeked back), and lost
    /// otherwise. An error while writing or flushing, or one kept from earlier, is printed to
    /// stderr: call [`flush`](futures_lite::AsyncWriteExt::flush) first to handle it yourself.
    ///
    /// # Panics
    ///
    /// If the handle was closed with `close`, or lost because an operation on it panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Unblock;
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut out = Unblock::new(Vec::new());
    /// out.write_all(b"done").await?;
    /// let vec = out.into_inner().await; // flushed for you
    /// assert_eq!(vec, b"done");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn into_inner(self) -> T {
        let mut this = self;
        let flush = this
            .ops
            .write
            .filter(|_| this.needs_flush || !this.wbuf.is_empty());
        let flushed = this
            .with_mut(move |io| flush.map_or(Ok(()), |f| f(io, &[], true)))
            .await;
        if let Some(err) = this.write_err.take() {
            eprintln!("corio-blocking: a write to an Unblock failed before into_inner: {err}");
        }
        if let Err(err) = flushed {
            eprintln!("corio-blocking: flushing an Unblock in into_inner failed: {err}");
        }
        this.needs_flush = false;
        match this.io.take() {
            Some(io) => *io,
            None => unreachable!("with_mut returned the handle"),
        }
    }

    /// Waits for the running operation; then, if bytes are buffered or read-ahead must be given
    /// back, runs an empty `with_mut` to write them.
    async fn settle(&mut self) {
        poll_fn(|cx| self.poll_idle(cx)).await;
        let unread =
            self.ops.realign.is_some() && (self.read.unread() > 0 || self.realign_back > 0);
        if self.io.is_some() && (!self.wbuf.is_empty() || unread) {
            self.with_mut(|_| ()).await;
        }
    }
}

impl<T: Send + 'static> Unblock<T> {
    fn byte_cap(&self) -> usize {
        self.cap.unwrap_or(DEFAULT_BUFFER_BYTES)
    }

    fn gone_error(&self) -> io::Error {
        if self.closed {
            closed_error()
        } else {
            lost_error()
        }
    }

    fn take_io(&mut self) -> io::Result<Box<T>> {
        self.io.take().ok_or_else(|| self.gone_error())
    }

    /// Forgets read-ahead on a seekable handle and returns how far to seek back.
    fn discard_read_ahead(&mut self) -> u64 {
        if self.ops.realign.is_none() {
            return 0;
        }
        std::mem::take(&mut self.realign_back) + self.read.discard() as u64
    }

    /// Polls the running job; on completion takes the handle back and files the outcome.
    /// Returns the value of a `with_mut` closure, if that is what finished.
    fn poll_job(&mut self, cx: &mut Context<'_>) -> Poll<Option<Box<dyn Any + Send>>> {
        let Some(mut job) = self.job.take() else {
            return Poll::Ready(None);
        };
        // If the job panicked, the handle is lost and the panic resumes here, in the operation
        // that was waiting for the job; `job` is dropped while unwinding. If that operation was a
        // `with_mut` whose future is gone, the panic is reported instead, and this operation
        // (another one) fails as any operation on a lost handle does.
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Pin::new(&mut job).poll(cx)));
        let done = match polled {
            Ok(Poll::Pending) => {
                self.job = Some(job);
                return Poll::Pending;
            }
            Ok(Poll::Ready(done)) => {
                self.op_pending = false;
                done
            }
            Err(payload) if self.op_pending && !self.op_collecting => {
                self.op_pending = false;
                drop(job);
                crate::job::report_unobserved(crate::job::Unobserved::Panicked(payload));
                return Poll::Ready(None);
            }
            Err(payload) => {
                drop(job);
                std::panic::resume_unwind(payload)
            }
        };
        self.io = Some(done.io);
        let mut value = None;
        let recycled = match done.outcome {
            Outcome::Read { buf, asked, result } => {
                if self.ops.realign.is_some() && !self.wbuf.is_empty() {
                    // A write was issued after this read started: on a shared cursor the data
                    // is stale. Give it back later, with the rest.
                    if let Ok(n) = result {
                        self.realign_back += n as u64;
                    }
                    self.read.spare = buf;
                } else {
                    let cap = self.byte_cap();
                    self.read.absorb(buf, asked, result, cap);
                }
                None
            }
            Outcome::Write {
                buf,
                flushed,
                result,
            } => {
                match result {
                    Ok(()) if flushed => self.needs_flush = false,
                    Ok(()) => {}
                    Err(err) => self.keep_write_error(err),
                }
                Some(buf)
            }
            Outcome::Seek { buf, pos, result } => {
                self.seek_done = Some((pos, result));
                Some(buf)
            }
            Outcome::Op {
                buf,
                prep,
                value: v,
            } => {
                if let Err(err) = prep {
                    self.keep_write_error(err);
                }
                value = Some(v);
                Some(buf)
            }
            Outcome::Stream => None,
        };
        if let Some(buf) = recycled {
            self.wq.recycle(buf);
        }
        Poll::Ready(value)
    }

    /// Stops a streaming iterator and waits until no job is running.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while self.job.is_some() {
            if let Some((_, stop)) = &self.stream {
                stop.store(true, Ordering::Relaxed);
            }
            let _ = std::task::ready!(self.poll_job(cx));
        }
        Poll::Ready(())
    }

    fn check_open(&self) -> io::Result<()> {
        if self.closed {
            Err(closed_error())
        } else {
            Ok(())
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Unblock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Busy(&'static str);
        impl fmt::Debug for Busy {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        let mut d = f.debug_struct("Unblock");
        match (&self.io, self.closed) {
            (Some(io), _) => d.field("io", io),
            (None, true) => d.field("io", &Busy("<closed>")),
            (None, false) if self.job.is_some() => d.field("io", &Busy("<in use on the pool>")),
            (None, false) => d.field("io", &Busy("<lost>")),
        };
        d.field("buffered_read", &self.read.unread())
            .field("buffered_write", &self.wbuf.len())
            .finish()
    }
}
