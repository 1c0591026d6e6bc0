//! Reading: the read buffer, read-ahead on seekable handles, and `AsyncRead`.
//!
//! A read job reads at most one buffer (it starts at [`FIRST_READ`] and doubles while reads
//! come back full, up to the capacity) and later reads are served from it. Only a seekable
//! handle reads ahead of a request: an unrequested read of stdin or a pipe could block for good.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::AsyncRead;

use super::{Done, Outcome, Unblock};

pub(super) const FIRST_READ: usize = 16 * 1024;

/// Bytes read from the handle and not yet given to the caller.
pub(super) struct ReadState {
    /// The buffer being consumed: `buf[pos..end]` is unread.
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
    pub(super) end: usize,
    /// A buffer read ahead while `buf` was being consumed, and its length.
    pub(super) next: Option<(Vec<u8>, usize)>,
    /// A buffer to read into next time.
    pub(super) spare: Vec<u8>,
    /// How much the next read asks for; doubles while reads come back full.
    pub(super) next_size: usize,
    /// The last read filled its request, so more data is likely.
    pub(super) full: bool,
    /// A read returned end-of-file; reported once, after the buffered bytes.
    pub(super) eof: bool,
    /// A read failed; reported after the buffered bytes.
    pub(super) err: Option<io::Error>,
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
    pub(super) fn unread(&self) -> usize {
        self.end - self.pos + self.next.as_ref().map_or(0, |(_, n)| *n)
    }

    /// Nothing is buffered and nothing waits to be reported.
    pub(super) fn is_quiet(&self) -> bool {
        self.unread() == 0 && !self.eof && self.err.is_none()
    }

    /// Forgets everything buffered and pending; returns how many bytes were unread.
    pub(super) fn discard(&mut self) -> usize {
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

    pub(super) fn absorb(
        &mut self,
        buf: Vec<u8>,
        asked: usize,
        result: io::Result<usize>,
        cap: usize,
    ) {
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
        self.job = Some(self.sched.spawn_job(move || {
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
