//! Writing: `AsyncWrite`, and the queue of buffers that one running write job drains.
//!
//! A write returns once its bytes are in the `Unblock`'s buffer. The first full buffer starts a
//! write job; buffers filled while it runs go to the job through the [`WriteQueue`] without a
//! round trip, up to the capacity in flight. Only `flush` (or `close`) waits for the bytes to
//! reach the handle, and a background write error is kept for the next write or flush.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_io::AsyncWrite;

use super::{DEFAULT_BUFFER_BYTES, Done, Outcome, Unblock};
use crate::job::Unblocked;

/// Writes are handed to the pool in buffers of at most this size (or the capacity, if smaller):
/// big enough for few system calls, small enough that the pool starts writing early.
const WRITE_CHUNK: usize = 256 * 1024;

/// Empty write buffers kept for reuse: enough for a full queue (capacity / chunk) plus the ones
/// being written and filled, so that steady streaming allocates nothing.
const MAX_SPARE_BUFFERS: usize = DEFAULT_BUFFER_BYTES / WRITE_CHUNK + 2;

/// A pipe of byte buffers from the caller to a running write job.
///
/// While the job writes one buffer, the caller fills the next and pushes it here; the job takes
/// it without a round trip through the caller. The job stops when the queue is empty, and
/// pushes are refused once it has stopped (`active` is false), so no buffer is ever stranded.
#[derive(Default)]
pub(super) struct WriteQueue {
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
        crate::pool::lock(&self.state)
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

    pub(super) fn recycle(&self, mut buf: Vec<u8>) {
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

fn write_all_then_flush<T: Write>(io: &mut T, data: &[u8], flush: bool) -> io::Result<()> {
    if !data.is_empty() {
        io.write_all(data)?;
    }
    if flush {
        io.flush()?;
    }
    Ok(())
}

impl<T: Send + 'static> Unblock<T> {
    pub(super) fn keep_write_error(&mut self, err: io::Error) {
        match &self.write_err {
            None => self.write_err = Some(err),
            // Report the first; later ones are usually consequences, but do not hide them.
            Some(_) => eprintln!("corio-blocking: another background write failed: {err}"),
        }
    }

    /// Starts a job writing the buffered bytes, then whatever is pushed to the write queue while
    /// it runs, then flushing if asked.
    pub(super) fn start_write(&mut self, flush: bool) -> io::Result<()> {
        let io = self.take_io()?;
        let first = std::mem::take(&mut self.wbuf);
        let back = self.discard_read_ahead();
        if !first.is_empty() {
            self.needs_flush = true;
        }
        let (write, realign) = (self.ops.write, self.ops.realign);
        let wq = self.wq.clone();
        wq.lock().active = true;
        self.job = Some(self.sched.spawn_job(move || {
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
