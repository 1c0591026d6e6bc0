//! corio's [`AsyncReadExt`] and [`AsyncBufReadExt`]: futures-lite's methods, with
//! `read_to_string` and `read_line` that append to the string they are given, as std's and
//! tokio's do.
//!
//! futures-lite 2.6's two methods assert (in debug builds) that the string is empty, and
//! otherwise replace what it held (smol-rs/futures-lite#124 and #143), so
//! `while reader.read_line(&mut all).await? > 0 {}` panicked or lost all but the last line.
//! Every other method returns futures-lite's own future.
//!
//! Both traits, and corio's [`AsyncWriteExt`], also read and write integers and floats in big-
//! and little-endian order, with tokio's names (`read_u32`, `write_u64_le`, ...), which
//! futures-lite does not have.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use std::io::IoSlice;

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
use futures_lite::io as lite;

/// Declares the number-reading methods of [`AsyncReadExt`]: `$name` reads `$t` in `$order`.
macro_rules! read_numbers {
    ($($name:ident: $t:ty, $from:ident, $order:literal;)*) => {$(
        #[doc = concat!("Reads a `", stringify!($t), "` in ", $order, " byte order, as tokio's `",
            stringify!($name), "`.")]
        ///
        /// # Errors
        ///
        /// `UnexpectedEof` if the stream ends first; any error of the reader.
        ///
        /// # Cancel safety
        ///
        /// Not cancel-safe: the bytes of a number read before a cancellation are lost.
        fn $name(&mut self) -> ReadNumber<'_, Self, { size_of::<$t>() }, $t>
        where
            Self: Unpin,
        {
            ReadNumber::new(self, <$t>::$from)
        }
    )*};
}

/// Declares the number-writing methods of [`AsyncWriteExt`].
macro_rules! write_numbers {
    ($($name:ident: $t:ty, $to:ident, $order:literal;)*) => {$(
        #[doc = concat!("Writes a `", stringify!($t), "` in ", $order, " byte order, as tokio's `",
            stringify!($name), "`.")]
        ///
        /// # Errors
        ///
        /// `WriteZero` if the writer takes no more bytes; any error of the writer.
        ///
        /// # Cancel safety
        ///
        /// Not cancel-safe: a cancelled call may have written part of the number.
        fn $name(&mut self, n: $t) -> WriteNumber<'_, Self, { size_of::<$t>() }>
        where
            Self: Unpin,
        {
            WriteNumber::new(self, n.$to())
        }
    )*};
}

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

    read_numbers! {
        read_u8: u8, from_be_bytes, "big-endian";
        read_i8: i8, from_be_bytes, "big-endian";
        read_u16: u16, from_be_bytes, "big-endian";
        read_i16: i16, from_be_bytes, "big-endian";
        read_u32: u32, from_be_bytes, "big-endian";
        read_i32: i32, from_be_bytes, "big-endian";
        read_u64: u64, from_be_bytes, "big-endian";
        read_i64: i64, from_be_bytes, "big-endian";
        read_u128: u128, from_be_bytes, "big-endian";
        read_i128: i128, from_be_bytes, "big-endian";
        read_f32: f32, from_be_bytes, "big-endian";
        read_f64: f64, from_be_bytes, "big-endian";
        read_u16_le: u16, from_le_bytes, "little-endian";
        read_i16_le: i16, from_le_bytes, "little-endian";
        read_u32_le: u32, from_le_bytes, "little-endian";
        read_i32_le: i32, from_le_bytes, "little-endian";
        read_u64_le: u64, from_le_bytes, "little-endian";
        read_i64_le: i64, from_le_bytes, "little-endian";
        read_u128_le: u128, from_le_bytes, "little-endian";
        read_i128_le: i128, from_le_bytes, "little-endian";
        read_f32_le: f32, from_le_bytes, "little-endian";
        read_f64_le: f64, from_le_bytes, "little-endian";
    }
}

impl<R: AsyncRead + ?Sized> AsyncReadExt for R {}

/// Extension methods for [`AsyncWrite`]: futures-lite's, and numbers in big- and little-endian
/// order with tokio's names.
///
/// # Examples
///
/// ```
/// use corio::io::{AsyncReadExt, AsyncWriteExt, Cursor};
///
/// corio::block_on(async {
///     let mut frame = Vec::new();
///     frame.write_u32(5).await?; // a length prefix, big-endian
///     frame.write_all(b"hello").await?;
///     frame.write_u16_le(0xBEEF).await?;
///     assert_eq!(&frame[..4], &[0, 0, 0, 5]);
///
///     let mut reader = Cursor::new(frame);
///     let len = reader.read_u32().await? as usize;
///     let mut body = vec![0; len];
///     reader.read_exact(&mut body).await?;
///     assert_eq!((body.as_slice(), reader.read_u16_le().await?), (&b"hello"[..], 0xBEEF));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub trait AsyncWriteExt: AsyncWrite {
    /// Writes some bytes of `buf`; returns how many.
    fn write<'a>(&'a mut self, buf: &'a [u8]) -> lite::WriteFuture<'a, Self>
    where
        Self: Unpin,
    {
        lite::AsyncWriteExt::write(self, buf)
    }

    /// Writes some bytes of `bufs`, in order; returns how many.
    fn write_vectored<'a>(
        &'a mut self,
        bufs: &'a [IoSlice<'a>],
    ) -> lite::WriteVectoredFuture<'a, Self>
    where
        Self: Unpin,
    {
        lite::AsyncWriteExt::write_vectored(self, bufs)
    }

    /// Writes all of `buf`; `WriteZero` if the writer takes no more bytes.
    fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> lite::WriteAllFuture<'a, Self>
    where
        Self: Unpin,
    {
        lite::AsyncWriteExt::write_all(self, buf)
    }

    /// Flushes what the writer buffers.
    fn flush(&mut self) -> lite::FlushFuture<'_, Self>
    where
        Self: Unpin,
    {
        lite::AsyncWriteExt::flush(self)
    }

    /// Closes the writer (for a socket: shuts its write half down).
    fn close(&mut self) -> lite::CloseFuture<'_, Self>
    where
        Self: Unpin,
    {
        lite::AsyncWriteExt::close(self)
    }

    /// This writer, boxed.
    fn boxed_writer<'a>(self) -> Pin<Box<dyn AsyncWrite + Send + 'a>>
    where
        Self: Sized + Send + 'a,
    {
        Box::pin(self)
    }

    write_numbers! {
        write_u8: u8, to_be_bytes, "big-endian";
        write_i8: i8, to_be_bytes, "big-endian";
        write_u16: u16, to_be_bytes, "big-endian";
        write_i16: i16, to_be_bytes, "big-endian";
        write_u32: u32, to_be_bytes, "big-endian";
        write_i32: i32, to_be_bytes, "big-endian";
        write_u64: u64, to_be_bytes, "big-endian";
        write_i64: i64, to_be_bytes, "big-endian";
        write_u128: u128, to_be_bytes, "big-endian";
        write_i128: i128, to_be_bytes, "big-endian";
        write_f32: f32, to_be_bytes, "big-endian";
        write_f64: f64, to_be_bytes, "big-endian";
        write_u16_le: u16, to_le_bytes, "little-endian";
        write_i16_le: i16, to_le_bytes, "little-endian";
        write_u32_le: u32, to_le_bytes, "little-endian";
        write_i32_le: i32, to_le_bytes, "little-endian";
        write_u64_le: u64, to_le_bytes, "little-endian";
        write_i64_le: i64, to_le_bytes, "little-endian";
        write_u128_le: u128, to_le_bytes, "little-endian";
        write_i128_le: i128, to_le_bytes, "little-endian";
        write_f32_le: f32, to_le_bytes, "little-endian";
        write_f64_le: f64, to_le_bytes, "little-endian";
    }
}

impl<W: AsyncWrite + ?Sized> AsyncWriteExt for W {}

/// The future of [`AsyncReadExt::read_u32`] and the other number reads: `N` bytes, then the
/// number.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadNumber<'a, R: ?Sized, const N: usize, T> {
    reader: &'a mut R,
    buf: [u8; N],
    filled: usize,
    from: fn([u8; N]) -> T,
}

impl<'a, R: ?Sized, const N: usize, T> ReadNumber<'a, R, N, T> {
    fn new(reader: &'a mut R, from: fn([u8; N]) -> T) -> Self {
        ReadNumber {
            reader,
            buf: [0; N],
            filled: 0,
            from,
        }
    }
}

impl<R: ?Sized, const N: usize, T> std::fmt::Debug for ReadNumber<'_, R, N, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadNumber")
            .field("filled", &self.filled)
            .field("of", &N)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin + ?Sized, const N: usize, T> Future for ReadNumber<'_, R, N, T> {
    type Output = io::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while this.filled < N {
            let n =
                ready!(Pin::new(&mut *this.reader).poll_read(cx, &mut this.buf[this.filled..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the stream ended {} bytes into a {N}-byte number",
                        this.filled
                    ),
                )));
            }
            this.filled += n;
        }
        Poll::Ready(Ok((this.from)(this.buf)))
    }
}

/// The future of [`AsyncWriteExt::write_u32`] and the other number writes.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WriteNumber<'a, W: ?Sized, const N: usize> {
    writer: &'a mut W,
    buf: [u8; N],
    written: usize,
}

impl<'a, W: ?Sized, const N: usize> WriteNumber<'a, W, N> {
    fn new(writer: &'a mut W, buf: [u8; N]) -> Self {
        WriteNumber {
            writer,
            buf,
            written: 0,
        }
    }
}

impl<W: ?Sized, const N: usize> std::fmt::Debug for WriteNumber<'_, W, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteNumber")
            .field("written", &self.written)
            .field("of", &N)
            .finish_non_exhaustive()
    }
}

impl<W: AsyncWrite + Unpin + ?Sized, const N: usize> Future for WriteNumber<'_, W, N> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while this.written < N {
            let n = ready!(Pin::new(&mut *this.writer).poll_write(cx, &this.buf[this.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.written += n;
        }
        Poll::Ready(Ok(()))
    }
}

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
