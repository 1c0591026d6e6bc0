//! corio's [`AsyncReadExt`] and [`AsyncBufReadExt`]: futures-lite's methods, with
//! `read_to_string` and `read_line` that append to the string they are given, as std's and
//! tokio's do.
//!
//! futures-lite 2.6's two methods assert (in debug builds) that the string is empty, and
//! otherwise replace what it held (smol-rs/futures-lite#124 and #143), so
//! `while reader.read_line(&mut all).await? > 0 {}` panicked or lost all but the last line.
//! Every other method returns futures-lite's own future.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncBufRead, AsyncRead};
use futures_lite::io as lite;

/// Extension methods for [`AsyncRead`]: futures-lite's, with a `read_to_string` that appends.
pub trait AsyncReadExt: AsyncRead {
    /// Reads some bytes into `buf`; returns how many (0 at the end of the stream).
    fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> lite::ReadFuture<'a, Self>
    where
        Self: Unpin,
    {
        lite::AsyncReadExt::read(self, buf)
    }

    /// Reads some bytes into `bufs`, in order; returns how many.
    fn read_vectored<'a>(
        &'a mut self,
        bufs: &'a mut [IoSliceMut<'a>],
    ) -> lite::ReadVectoredFuture<'a, Self>
    where
        Self: Unpin,
    {
        lite::AsyncReadExt::read_vectored(self, bufs)
    }

    /// Reads to the end of the stream, appending to `buf`; returns how many bytes it appended.
    /// Cancel-safe: the bytes read before a cancellation stay in `buf`.
    fn read_to_end<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> lite::ReadToEndFuture<'a, Self>
    where
        Self: Unpin,
    {
        lite::AsyncReadExt::read_to_end(self, buf)
    }

    /// Reads to the end of the stream and appends it to `buf` (what `buf` held stays in front);
    /// returns how many bytes it appended.
    ///
    /// # Errors
    ///
    /// `InvalidData` if what was read is not UTF-8; `buf` is then unchanged. Any error of the
    /// reader: `buf` then holds what was read before it, if that is UTF-8 (as with std).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: the bytes are kept in the future until the end, to be checked as a
    /// whole, so a cancelled call loses what it read. To read with a timeout, use
    /// [`read_to_end`](Self::read_to_end) and convert afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::io::{AsyncReadExt, Cursor};
    ///
    /// let mut text = String::from("hello ");
    /// let n = corio::block_on(Cursor::new(b"world").read_to_string(&mut text))?;
    /// assert_eq!((n, text.as_str()), (5, "hello world"));
    /// # std::io::Result::Ok(())
    /// ```
    fn read_to_string<'a>(&'a mut self, buf: &'a mut String) -> ReadToStringFuture<'a, Self>
    where
        Self: Unpin,
    {
        ReadToStringFuture {
            reader: self,
            buf,
            bytes: Vec::new(),
            filled: 0,
        }
    }

    /// Fills `buf` exactly; `UnexpectedEof` if the stream ends first.
    fn read_exact<'a>(&'a mut self, buf: &'a mut [u8]) -> lite::ReadExactFuture<'a, Self>
    where
        Self: Unpin,
    {
        lite::AsyncReadExt::read_exact(self, buf)
    }

    /// A reader of at most `limit` bytes of this one.
    fn take(self, limit: u64) -> lite::Take<Self>
    where
        Self: Sized,
    {
        lite::AsyncReadExt::take(self, limit)
    }

    /// A stream of this reader's bytes.
    fn bytes(self) -> lite::Bytes<Self>
    where
        Self: Sized,
    {
        lite::AsyncReadExt::bytes(self)
    }

    /// A reader of this one's bytes, then `next`'s.
    fn chain<R: AsyncRead>(self, next: R) -> lite::Chain<Self, R>
    where
        Self: Sized,
    {
        lite::AsyncReadExt::chain(self, next)
    }

    /// This reader, boxed.
    fn boxed_reader<'a>(self) -> Pin<Box<dyn AsyncRead + Send + 'a>>
    where
        Self: Sized + Send + 'a,
    {
        Box::pin(self)
    }
}

impl<R: AsyncRead + ?Sized> AsyncReadExt for R {}

/// Extension methods for [`AsyncBufRead`]: futures-lite's, with a `read_line` that appends.
pub trait AsyncBufReadExt: AsyncBufRead {
    /// The reader's buffered bytes, filling the buffer first if it is empty.
    fn fill_buf(&mut self) -> lite::FillBuf<'_, Self>
    where
        Self: Unpin,
    {
        lite::AsyncBufReadExt::fill_buf(self)
    }

    /// Marks `amt` buffered bytes as read.
    fn consume(&mut self, amt: usize)
    where
        Self: Unpin,
    {
        AsyncBufRead::consume(Pin::new(self), amt);
    }

    /// Reads up to and including `byte` (or to the end), appending to `buf`; returns how many
    /// bytes it appended. Cancel-safe: the bytes read before a cancellation stay in `buf`.
    fn read_until<'a>(
        &'a mut self,
        byte: u8,
        buf: &'a mut Vec<u8>,
    ) -> lite::ReadUntilFuture<'a, Self>
    where
        Self: Unpin,
    {
        lite::AsyncBufReadExt::read_until(self, byte, buf)
    }

    /// Reads a line, up to and including its `\n` (or to the end of the stream), and appends it
    /// to `buf` (what `buf` held stays in front); returns how many bytes it appended, 0 at the
    /// end of the stream.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the line is not UTF-8; `buf` is then unchanged. Any error of the reader:
    /// `buf` then holds the part of the line read before it, if that is UTF-8 (as with std).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: the part of a line read so far is kept in the future, so a cancelled
    /// call loses it. In a `select!` or timeout loop read through [`lines`](Self::lines), whose
    /// partial line lives in the stream, or through [`read_until`](Self::read_until).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::io::{AsyncBufReadExt, BufReader, Cursor};
    ///
    /// corio::block_on(async {
    ///     let mut reader = BufReader::new(Cursor::new(b"one\ntwo\n"));
    ///     let mut all = String::new();
    ///     while reader.read_line(&mut all).await? > 0 {}
    ///     assert_eq!(all, "one\ntwo\n");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    fn read_line<'a>(&'a mut self, buf: &'a mut String) -> ReadLineFuture<'a, Self>
    where
        Self: Unpin,
    {
        ReadLineFuture {
            reader: self,
            buf,
            bytes: Vec::new(),
        }
    }

    /// A stream of the reader's lines, without their `\n` (or `\r\n`). Cancel-safe: a dropped
    /// `next()` leaves the partial line in the stream.
    fn lines(self) -> lite::Lines<Self>
    where
        Self: Sized,
    {
        lite::AsyncBufReadExt::lines(self)
    }

    /// A stream of the reader's segments between `byte`s.
    fn split(self, byte: u8) -> lite::Split<Self>
    where
        Self: Sized,
    {
        lite::AsyncBufReadExt::split(self, byte)
    }
}

impl<R: AsyncBufRead + ?Sized> AsyncBufReadExt for R {}

/// Appends `bytes` to `buf` if they are UTF-8; returns how many, or `InvalidData`.
fn append_utf8(buf: &mut String, bytes: Vec<u8>, what: &str) -> io::Result<usize> {
    match String::from_utf8(bytes) {
        Ok(text) => {
            buf.push_str(&text);
            Ok(text.len())
        }
        Err(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} is not valid UTF-8"),
        )),
    }
}

/// On a reader's error, keeps what was read if it is UTF-8, as std does ("`buf` may contain some
/// bytes already read in the event that all data read so far was valid UTF-8").
fn keep_valid(buf: &mut String, bytes: Vec<u8>) {
    if let Ok(text) = String::from_utf8(bytes) {
        buf.push_str(&text);
    }
}

/// The future of [`AsyncReadExt::read_to_string`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadToStringFuture<'a, R: Unpin + ?Sized> {
    reader: &'a mut R,
    buf: &'a mut String,
    /// What was read so far (`..filled`), checked as a whole at the end, then zeroed room.
    bytes: Vec<u8>,
    filled: usize,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadToStringFuture<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if this.filled == this.bytes.len() {
                // Zeroed room to read into, once per byte: doubling, at most 64 KiB at a time.
                let room = this.filled.clamp(32, 64 * 1024);
                this.bytes.resize(this.filled + room, 0);
            }
            let read = Pin::new(&mut *this.reader).poll_read(cx, &mut this.bytes[this.filled..]);
            match read {
                Poll::Ready(Ok(0)) => {
                    this.bytes.truncate(this.filled);
                    let bytes = std::mem::take(&mut this.bytes);
                    return Poll::Ready(append_utf8(this.buf, bytes, "the stream"));
                }
                Poll::Ready(Ok(n)) => this.filled += n,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    this.bytes.truncate(this.filled);
                    keep_valid(this.buf, std::mem::take(&mut this.bytes));
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The future of [`AsyncBufReadExt::read_line`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadLineFuture<'a, R: Unpin + ?Sized> {
    reader: &'a mut R,
    buf: &'a mut String,
    /// The line read so far, checked as a whole at its end.
    bytes: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadLineFuture<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let available = match ready!(Pin::new(&mut *this.reader).poll_fill_buf(cx)) {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    keep_valid(this.buf, std::mem::take(&mut this.bytes));
                    return Poll::Ready(Err(e));
                }
            };
            let (used, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), available.is_empty()),
            };
            this.bytes.extend_from_slice(&available[..used]);
            Pin::new(&mut *this.reader).consume(used);
            if done {
                let bytes = std::mem::take(&mut this.bytes);
                return Poll::Ready(append_utf8(this.buf, bytes, "the line"));
            }
        }
    }
}
