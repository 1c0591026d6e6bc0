//! `Unblock<T>`: async reads, writes, seeks and streams over a blocking handle.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use concurrent_queue::ConcurrentQueue;
use futures_core::Stream;
use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};
use futures_lite::FutureExt;

use crate::pool::Sched;
use crate::unblocked::Unblocked;

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

const FIRST_READ: usize = 16 * 1024;

/// Writes are handed to the pool in buffers of at most this size (or the capacity, if smaller):
/// big enough for few system calls, small enough that the pool starts writing early.
const WRITE_CHUNK: usize = 256 * 1024;

/// Empty write buffers kept for reuse: enough for a full queue (capacity / chunk) plus the ones
/// being written and filled, so that steady streaming allocates nothing.
const MAX_SPARE_BUFFERS: usize = DEFAULT_BUFFER_BYTES / WRITE_CHUNK + 2;

/// Runs a blocking reader, writer, seeker or iterator on the blocking pool and exposes it as
/// futures-io [`AsyncRead`], [`AsyncWrite`], [`AsyncSeek`] or a [`Stream`].
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
/// [`SeekFrom::Current`] accounts for that, and [`new_seekable`](Unblock::new_seekable) makes
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

struct Leftover<T> {
    sched: Sched,
    io: Option<Box<T>>,
    job: Option<Unblocked<Done<T>>>,
    data: Vec<u8>,
    needs_flush: bool,
    write_err: Option<io::Error>,
    write: Option<WriteFn<T>>,
    realign: Option<RealignFn<T>>,
    realign_back: u64,
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

/// Bytes read from the handle and not yet given to the caller.
struct ReadState {
    /// The buffer being consumed: `buf[pos..end]` is unread.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// A buffer read ahead while `buf` was being consumed, and its length.
    next: Option<(Vec<u8>, usize)>,
    /// A buffer to read into next time.
    spare: Vec<u8>,
    /// How much the next read asks for; doubles while reads come back full.
    next_size: usize,
    /// The last read filled its request, so more data is likely.
    full: bool,
    /// A read returned end-of-file; reported once, after the buffered bytes.
    eof: bool,
    /// A read failed; reported after the buffered bytes.
    err: Option<io::Error>,
}

impl Default for ReadState {
    fn default() -> ReadState {
        ReadState {
            buf: Vec::new(),
            pos: 0,
            end: 0,
            next: None,
            spare: Vec::new(),
            next_size: FIRST_READ,
            full: false,
            eof: false,
            err: None,
        }
    }
}

impl ReadState {
    fn unread(&self) -> usize {
        self.end - self.pos + self.next.as_ref().map_or(0, |(_, n)| *n)
    }

    /// Forgets everything buffered and pending; returns how many bytes were unread.
    fn discard(&mut self) -> usize {
        let unread = self.unread();
        self.pos = 0;
        self.end = 0;
        if let Some((buf, _)) = self.next.take() {
            self.spare = buf;
        }
        self.eof = false;
        self.err = None;
        self.full = false;
        unread
    }

    /// Copies buffered bytes out, moving to the read-ahead buffer when the current one is done.
    fn copy_to(&mut self, out: &mut [u8]) -> Option<usize> {
        if self.pos == self.end {
            let (next, len) = self.next.take()?;
            self.spare = std::mem::replace(&mut self.buf, next);
            self.pos = 0;
            self.end = len;
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Some(n)
    }

    fn may_continue(&self) -> bool {
        self.full && self.next.is_none() && !self.eof && self.err.is_none()
    }

    fn take_spare(&mut self, size: usize) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.spare);
        if buf.len() < size {
            // Zeroed once per growth, then reused.
            buf.resize(size, 0);
        }
        buf
    }

    fn absorb(&mut self, buf: Vec<u8>, asked: usize, result: io::Result<usize>, cap: usize) {
        self.full = false;
        match result {
            Ok(0) => {
                self.eof = true;
                self.spare = buf;
            }
            Ok(n) => {
                if n == asked {
                    self.full = true;
                    self.next_size = (asked * 2).min(cap);
                }
                if self.pos < self.end {
                    self.next = Some((buf, n));
                } else {
                    self.spare = std::mem::replace(&mut self.buf, buf);
                    self.pos = 0;
                    self.end = n;
                }
            }
            Err(err) => {
                self.err = Some(err);
                self.spare = buf;
            }
        }
    }
}

/// A pipe of byte buffers from the caller to a running write job.
///
/// While the job writes one buffer, the caller fills the next and pushes it here; the job takes
/// it without a round trip through the caller. The job stops when the queue is empty, and
/// pushes are refused once it has stopped (`active` is false), so no buffer is ever stranded.
#[derive(Default)]
struct WriteQueue {
    state: Mutex<WriteQueueState>,
}

#[derive(Default)]
struct WriteQueueState {
    full: VecDeque<Vec<u8>>,
    queued: usize,
    empty: Vec<Vec<u8>>,
    active: bool,
    /// The blocked writer is woken once `queued` drops to this (half the limit): waking it for
    /// every buffer would cost a futex wake-up per buffer.
    low_water: usize,
    waker: Option<Waker>,
}

impl WriteQueue {
    fn lock(&self) -> MutexGuard<'_, WriteQueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `buf` to the running write job. Refused if no job is draining the queue, or if
    /// `limit` bytes are queued already.
    fn try_push(&self, buf: &mut Vec<u8>, limit: usize) -> bool {
        let mut s = self.lock();
        s.low_water = limit / 2;
        if !s.active || (s.queued > 0 && s.queued + buf.len() > limit) {
            return false;
        }
        s.queued += buf.len();
        let empty = s.empty.pop().unwrap_or_default();
        s.full.push_back(std::mem::replace(buf, empty));
        true
    }

    fn take_empty(&self) -> Vec<u8> {
        self.lock().empty.pop().unwrap_or_default()
    }

    fn recycle(&self, mut buf: Vec<u8>) {
        if buf.capacity() > 0 {
            let mut s = self.lock();
            if s.empty.len() < MAX_SPARE_BUFFERS {
                buf.clear();
                s.empty.push(buf);
            }
        }
    }

    fn register(&self, waker: &Waker) {
        let mut s = self.lock();
        if !s.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            s.waker = Some(waker.clone());
        }
    }

    /// The job's side: gives back a written buffer and takes the next one, or stops. After an
    /// error the queued buffers are dropped (the error is reported to the caller).
    fn next(&self, mut done: Vec<u8>, keep_going: bool) -> Option<Vec<u8>> {
        let mut s = self.lock();
        if s.empty.len() < MAX_SPARE_BUFFERS && done.capacity() > 0 {
            done.clear();
            s.empty.push(done);
        }
        if !keep_going {
            s.full.clear();
            s.queued = 0;
        }
        let next = s.full.pop_front();
        match &next {
            Some(buf) => s.queued -= buf.len(),
            None => s.active = false,
        }
        let waker = if next.is_none() || s.queued <= s.low_water {
            s.waker.take()
        } else {
            None
        };
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
        next
    }
}

struct Chan<I> {
    queue: ConcurrentQueue<I>,
    waker: Mutex<Option<Waker>>,
    done: AtomicBool,
}

impl<I> Chan<I> {
    fn wake(&self) {
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

fn write_all_then_flush<T: Write>(io: &mut T, data: &[u8], flush: bool) -> io::Result<()> {
    if !data.is_empty() {
        io.write_all(data)?;
    }
    if flush {
        io.flush()?;
    }
    Ok(())
}

fn seek_back<T: Seek>(io: &mut T, back: u64) -> io::Result<()> {
    let back = i64::try_from(back).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    io.seek(SeekFrom::Current(-back)).map(drop)
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

/// Runs after the `Unblock` is gone: writes what is still buffered, reports what failed.
fn finish<T: Send + 'static>(left: Leftover<T>) {
    let Leftover {
        sched,
        io,
        job,
        data,
        needs_flush,
        write_err,
        write,
        realign,
        mut realign_back,
    } = left;
    if let Some(err) = write_err {
        eprintln!("corio-blocking: a write made before its handle was dropped failed: {err}");
    }
    let must_write = write.is_some() && (!data.is_empty() || needs_flush);
    if !must_write {
        // A running job (a read, say) finishes on its own and drops the handle on the pool.
        drop(job);
        drop(io);
        return;
    }
    let background = sched.spawn(async move {
        let io = match job {
            None => io,
            Some(job) => match AssertUnwindSafe(job).catch_unwind().await {
                Ok(done) => {
                    if let Outcome::Read { result: Ok(n), .. } = &done.outcome {
                        // Read ahead before the buffered write was made: stale, give it back.
                        realign_back += *n as u64;
                    }
                    if let Outcome::Write {
                        result: Err(err), ..
                    }
                    | Outcome::Op { prep: Err(err), .. }
                    | Outcome::Seek {
                        result: Err(err), ..
                    } = &done.outcome
                    {
                        eprintln!("corio-blocking: a write buffered before its handle was dropped failed: {err}");
                    }
                    Some(done.io)
                }
                // The panic was already printed by the panic hook; the handle is gone.
                Err(_) => None,
            },
        };
        match (io, write) {
            (Some(mut io), Some(write)) => {
                let realigned = match (realign, realign_back) {
                    (Some(realign), back) if back > 0 => realign(&mut io, back),
                    _ => Ok(()),
                };
                if let Err(err) = realigned.and_then(|()| write(&mut io, &data, true)) {
                    eprintln!(
                        "corio-blocking: writing the {} byte(s) buffered before their handle was \
                         dropped failed: {err}",
                        data.len()
                    );
                }
            }
            _ if !data.is_empty() => eprintln!(
                "corio-blocking: {} byte(s) buffered before their handle was dropped were lost: \
                 the handle was lost to a panic",
                data.len()
            ),
            _ => {}
        }
    });
    drop(background); // detaches: the job runs to the end
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
            ops: Ops {
                write: None,
                realign: None,
                finish: finish::<T>,
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

    /// Runs a blocking closure on the handle, on the pool, and returns its result.
    ///
    /// Before the closure runs, the running operation finishes, buffered bytes are written (not
    /// flushed) and, on a [`new_seekable`](Unblock::new_seekable) handle, unconsumed read-ahead
    /// is given back, all in the same job. An error from that preparation is kept and returned
    /// by the next write or flush; the closure runs regardless.
    ///
    /// If the future is dropped, the closure still runs and the handle still comes back to this
    /// `Unblock`; the closure's result is dropped.
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
        self.job = Some(self.sched.spawn(async move {
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
        let value = poll_fn(|cx| self.poll_job(cx)).await;
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

impl<T: Seek + Send + 'static> Unblock<T> {
    /// Wraps a handle whose reads and writes share one position, such as a file.
    ///
    /// It behaves like [`new`](Unblock::new), and keeps the handle's position equal to the
    /// logical one: before a write, [`with_mut`](Unblock::with_mut),
    /// [`get_mut`](Unblock::get_mut) or [`into_inner`](Unblock::into_inner), bytes that were read
    /// ahead but not consumed are given back by seeking the handle backwards. So a write after a
    /// read lands right after the bytes you actually read.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Unblock;
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut c = Unblock::new_seekable(std::io::Cursor::new(b"abcdef".to_vec()));
    /// let mut two = [0; 2];
    /// c.read_exact(&mut two).await?; // reads ahead past "ab"
    /// c.write_all(b"XY").await?;      // but writes right after "ab"
    /// assert_eq!(c.into_inner().await.into_inner(), b"abXYef");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn new_seekable(io: T) -> Unblock<T> {
        let mut unblock = Unblock::new(io);
        unblock.ops.realign = Some(seek_back::<T>);
        unblock
    }

    /// [`new_seekable`](Unblock::new_seekable) with a buffer of `cap` bytes, as in
    /// [`with_capacity`](Unblock::with_capacity).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Unblock;
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut c = Unblock::with_capacity_seekable(4, std::io::Cursor::new(b"abcdef".to_vec()));
    /// let mut one = [0; 1];
    /// c.read_exact(&mut one).await?;
    /// c.write_all(b"B").await?;
    /// assert_eq!(c.into_inner().await.into_inner(), b"aBcdef");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn with_capacity_seekable(cap: usize, io: T) -> Unblock<T> {
        let mut unblock = Unblock::with_capacity(cap, io);
        unblock.ops.realign = Some(seek_back::<T>);
        unblock
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
        // If the job panicked, the panic resumes here; `job` is dropped while unwinding and the
        // handle is lost.
        let done = match Pin::new(&mut job).poll(cx) {
            Poll::Pending => {
                self.job = Some(job);
                return Poll::Pending;
            }
            Poll::Ready(done) => done,
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

    fn keep_write_error(&mut self, err: io::Error) {
        match &self.write_err {
            None => self.write_err = Some(err),
            // Report the first; later ones are usually consequences, but do not hide them.
            Some(_) => eprintln!("corio-blocking: another background write failed: {err}"),
        }
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

    /// Starts a job writing the buffered bytes, then whatever is pushed to the write queue while
    /// it runs, then flushing if asked.
    fn start_write(&mut self, flush: bool) -> io::Result<()> {
        let io = self.take_io()?;
        let first = std::mem::take(&mut self.wbuf);
        let back = self.discard_read_ahead();
        if !first.is_empty() {
            self.needs_flush = true;
        }
        let (write, realign) = (self.ops.write, self.ops.realign);
        let wq = self.wq.clone();
        wq.lock().active = true;
        self.job = Some(self.sched.spawn(async move {
            let mut io = io;
            let mut result = Ok(());
            if let (true, Some(realign)) = (back > 0, realign) {
                result = realign(&mut io, back);
            }
            let mut next = Some(first);
            while let Some(buf) = next {
                if let (Ok(()), false, Some(write)) = (&result, buf.is_empty(), write) {
                    result = write(&mut io, &buf, false);
                }
                next = wq.next(buf, result.is_ok());
            }
            if let (Ok(()), true, Some(write)) = (&result, flush, write) {
                result = write(&mut io, &[], true);
            }
            Done {
                io,
                outcome: Outcome::Write {
                    buf: Vec::new(),
                    flushed: flush,
                    result,
                },
            }
        }));
        Ok(())
    }

    fn write_chunk(&self) -> usize {
        self.byte_cap().min(WRITE_CHUNK)
    }

    fn check_open(&self) -> io::Result<()> {
        if self.closed {
            Err(closed_error())
        } else {
            Ok(())
        }
    }
}

impl<T: Read + Send + 'static> AsyncRead for Unblock<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.seek_done = None;
        this.check_open()?;
        loop {
            if let Some(n) = this.read.copy_to(buf) {
                this.prefetch();
                return Poll::Ready(Ok(n));
            }
            if let Some(err) = this.read.err.take() {
                return Poll::Ready(Err(err));
            }
            if this.read.eof {
                this.read.eof = false;
                return Poll::Ready(Ok(0));
            }
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if this.job.is_some() {
                std::task::ready!(this.poll_idle(cx));
                continue;
            }
            if !this.wbuf.is_empty() {
                // Reads after writes: the writes go first.
                this.start_write(false)?;
                continue;
            }
            this.start_read(buf.len())?;
        }
    }
}

impl<T: Read + Send + 'static> Unblock<T> {
    fn start_read(&mut self, hint: usize) -> io::Result<()> {
        let io = self.take_io()?;
        let asked = hint.max(self.read.next_size).min(self.byte_cap()).max(1);
        let mut buf = self.read.take_spare(asked);
        self.job = Some(self.sched.spawn(async move {
            let mut io = io;
            let result = loop {
                match io.read(&mut buf[..asked]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            Done {
                io,
                outcome: Outcome::Read { buf, asked, result },
            }
        }));
        Ok(())
    }

    /// On a seekable handle (a file), reads the next buffer while the caller consumes this one.
    /// Not on other handles: an unrequested read of stdin or a pipe could block indefinitely and
    /// hold up every later operation.
    fn prefetch(&mut self) {
        let worth_it = self.ops.realign.is_some()
            && self.job.is_none()
            && self.io.is_some()
            && self.wbuf.is_empty()
            && self.read.may_continue();
        if worth_it {
            let _ = self.start_read(0);
        }
    }
}

impl<T: Write + Send + 'static> AsyncWrite for Unblock<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.seek_done = None;
        this.check_open()?;
        this.ops.write = Some(write_all_then_flush::<T>);
        loop {
            if let Some(err) = this.write_err.take() {
                return Poll::Ready(Err(err));
            }
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if this.job.is_none() && this.io.is_none() {
                return Poll::Ready(Err(this.gone_error()));
            }
            if this.job.as_ref().is_some_and(Unblocked::is_finished) {
                // Collect a finished job without waiting, so the next batch can start.
                std::task::ready!(this.poll_idle(cx));
                continue;
            }
            let chunk = this.write_chunk();
            if this.wbuf.len() < chunk {
                if this.wbuf.capacity() == 0 {
                    this.wbuf = this.wq.take_empty();
                }
                let n = buf.len().min(chunk - this.wbuf.len());
                if this.ops.realign.is_some() {
                    // On a shared cursor a write ends the validity of what was read ahead.
                    this.realign_back += this.read.discard() as u64;
                }
                this.wbuf.extend_from_slice(&buf[..n]);
                if this.job.is_none() {
                    // Start at once; what is written while this runs follows through the queue.
                    this.start_write(false)?;
                } else if this.wbuf.len() >= chunk {
                    let limit = this.byte_cap();
                    if this.wq.try_push(&mut this.wbuf, limit) {
                        this.needs_flush = true;
                    }
                }
                return Poll::Ready(Ok(n));
            }
            // A full buffer: hand it to the running job, or wait for room or for the job's end.
            if this.job.is_none() {
                this.start_write(false)?;
                continue;
            }
            this.wq.register(cx.waker());
            let limit = this.byte_cap();
            if this.wq.try_push(&mut this.wbuf, limit) {
                this.needs_flush = true;
                continue;
            }
            std::task::ready!(this.poll_idle(cx));
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.seek_done = None;
        loop {
            let pending = !this.wbuf.is_empty() || this.needs_flush || this.write_err.is_some();
            if !pending || this.closed {
                return Poll::Ready(Ok(()));
            }
            if this.job.is_some() {
                std::task::ready!(this.poll_idle(cx));
                continue;
            }
            if let Some(err) = this.write_err.take() {
                return Poll::Ready(Err(err));
            }
            this.start_write(true)?;
        }
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.as_mut().poll_flush(cx))?;
        let this = self.get_mut();
        std::task::ready!(this.poll_idle(cx));
        this.io = None;
        this.closed = true;
        Poll::Ready(Ok(()))
    }
}

impl<T: Seek + Send + 'static> AsyncSeek for Unblock<T> {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        this.check_open()?;
        loop {
            if let Some((asked, result)) = this.seek_done.take() {
                if asked == pos {
                    return Poll::Ready(result);
                }
            }
            if this.job.is_some() {
                std::task::ready!(this.poll_idle(cx));
                continue;
            }
            if let Some(err) = this.write_err.take() {
                return Poll::Ready(Err(err));
            }
            // The handle is ahead of the caller by the unread buffered bytes: seek back
            // first, then write what is buffered, then seek, so that a relative seek and a
            // failed seek both start from the logical position.
            let io = this.take_io()?;
            let back = std::mem::take(&mut this.realign_back) + this.read.discard() as u64;
            this.read.next_size = FIRST_READ;
            let data = std::mem::take(&mut this.wbuf);
            if !data.is_empty() {
                this.needs_flush = true;
            }
            let write = this.ops.write;
            this.job = Some(this.sched.spawn(async move {
                let mut io = io;
                let mut buf = data;
                let mut prep = Ok(());
                if back > 0 {
                    prep = seek_back(&mut *io, back);
                }
                if let (Ok(()), false, Some(write)) = (&prep, buf.is_empty(), write) {
                    prep = write(&mut io, &buf, false);
                }
                let result = prep.and_then(|()| io.seek(pos));
                buf.clear();
                Done {
                    io,
                    outcome: Outcome::Seek { buf, pos, result },
                }
            }));
        }
    }
}

impl<T> Stream for Unblock<T>
where
    T: Iterator + Send + 'static,
    T::Item: Send + 'static,
{
    type Item = T::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        let this = self.get_mut();
        this.seek_done = None;
        if this.closed {
            return Poll::Ready(None);
        }
        let cap = this.cap.unwrap_or(DEFAULT_BUFFER_ITEMS);
        loop {
            let Some((chan, stop)) = &this.stream else {
                if this.job.is_some() {
                    std::task::ready!(this.poll_idle(cx));
                    continue;
                }
                let chan: Arc<Chan<T::Item>> = Arc::new(Chan {
                    queue: ConcurrentQueue::unbounded(),
                    waker: Mutex::new(None),
                    done: AtomicBool::new(false),
                });
                this.stream = Some((Box::new(chan), Arc::new(AtomicBool::new(false))));
                continue;
            };
            let Some(chan) = chan.downcast_ref::<Arc<Chan<T::Item>>>() else {
                unreachable!("the stream channel always holds T::Item");
            };
            let (chan, stop) = (chan.clone(), stop.clone());
            if let Ok(item) = chan.queue.pop() {
                if this.job.is_none()
                    && !chan.done.load(Ordering::Acquire)
                    && chan.queue.len() < cap / 2
                {
                    this.start_stream(chan, stop, cap);
                }
                return Poll::Ready(Some(item));
            }
            if this.job.is_some() {
                *chan.waker.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(cx.waker().clone());
                if let Ok(item) = chan.queue.pop() {
                    return Poll::Ready(Some(item));
                }
                let _ = std::task::ready!(this.poll_job(cx));
                continue;
            }
            if chan.done.load(Ordering::Acquire) || this.io.is_none() {
                this.stream = None;
                return Poll::Ready(None);
            }
            this.start_stream(chan, stop, cap);
        }
    }
}

impl<T> Unblock<T>
where
    T: Iterator + Send + 'static,
    T::Item: Send + 'static,
{
    fn start_stream(&mut self, chan: Arc<Chan<T::Item>>, stop: Arc<AtomicBool>, cap: usize) {
        let Some(io) = self.io.take() else { return };
        stop.store(false, Ordering::Relaxed);
        self.job = Some(self.sched.spawn(async move {
            let mut io = io;
            while !stop.load(Ordering::Relaxed) && chan.queue.len() < cap {
                match io.next() {
                    Some(item) => {
                        let _ = chan.queue.push(item);
                        chan.wake();
                    }
                    None => {
                        chan.done.store(true, Ordering::Release);
                        break;
                    }
                }
            }
            Done {
                io,
                outcome: Outcome::Stream,
            }
        }));
    }
}

impl<T> Drop for Unblock<T> {
    fn drop(&mut self) {
        if let Some((_, stop)) = &self.stream {
            stop.store(true, Ordering::Relaxed);
        }
        let left = Leftover {
            sched: self.sched.clone(),
            io: self.io.take(),
            job: self.job.take(),
            data: std::mem::take(&mut self.wbuf),
            needs_flush: self.needs_flush,
            write_err: self.write_err.take(),
            write: self.ops.write,
            realign: self.ops.realign,
            realign_back: self.realign_back,
        };
        (self.ops.finish)(left);
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

/// An async handle to the process's standard input.
///
/// Reads run on the blocking pool. Use one such handle for the whole program: a read that is
/// blocked on the pool when a handle is dropped keeps waiting there, and the line it then gets is
/// lost to the next handle.
///
/// # Examples
///
/// ```no_run
/// use futures_lite::{AsyncBufReadExt, io::BufReader};
///
/// # futures_lite::future::block_on(async {
/// let mut lines = BufReader::new(corio_blocking::stdin()).lines();
/// # use futures_lite::StreamExt;
/// while let Some(line) = lines.next().await {
///     println!("you said {}", line?);
/// }
/// # std::io::Result::Ok(()) });
/// ```
pub fn stdin() -> Unblock<io::Stdin> {
    Unblock::new(io::stdin())
}

/// An async handle to the process's standard output.
///
/// Output appears once written by the pool; [`flush().await`](futures_lite::AsyncWriteExt::flush)
/// guarantees it. See [`Unblock`] for what dropping it does.
///
/// # Examples
///
/// ```
/// use futures_lite::AsyncWriteExt;
///
/// # futures_lite::future::block_on(async {
/// let mut out = corio_blocking::stdout();
/// out.write_all(b"hello from the pool\n").await?;
/// out.flush().await?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn stdout() -> Unblock<io::Stdout> {
    Unblock::new(io::stdout())
}

/// An async handle to the process's standard error.
///
/// # Examples
///
/// ```
/// use futures_lite::AsyncWriteExt;
///
/// # futures_lite::future::block_on(async {
/// let mut err = corio_blocking::stderr();
/// err.write_all(b"a warning\n").await?;
/// err.flush().await?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn stderr() -> Unblock<io::Stderr> {
    Unblock::new(io::stderr())
}
