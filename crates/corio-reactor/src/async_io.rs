//! `Async<T>`: an I/O handle in non-blocking mode, registered with a reactor.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::reactor::{Dir, Reactor, Source};

#[cfg(unix)]
use std::os::unix::io::{AsFd, AsRawFd};
#[cfg(windows)]
use std::os::windows::io::{AsRawSocket, AsSocket};

/// An I/O handle (socket, pipe, ...) in non-blocking mode, registered with the current runtime's
/// reactor: its operations wait for readiness instead of blocking the thread.
///
/// - [`read_with`](Async::read_with) / [`write_with`](Async::write_with) run a non-blocking
///   operation, waiting for readiness whenever it reports `WouldBlock`. This is the way to build
///   any operation on top of `Async`.
/// - `Async<T>` implements futures-io [`AsyncRead`]/[`AsyncWrite`] where `T` implements
///   [`Read`]/[`Write`], and so does `&Async<T>` where `&T` does.
/// - Dropping it deregisters the handle before closing it. A task waiting on it when its runtime
///   shuts down gets an error instead of waiting forever.
///
/// # Examples
///
/// ```
/// use corio_reactor::Async;
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use std::net::{TcpListener, TcpStream};
///
/// # futures_lite::future::block_on(async {
/// let listener = Async::new(TcpListener::bind("127.0.0.1:0")?)?;
/// let addr = listener.get_ref().local_addr()?;
/// let mut client = Async::new(TcpStream::connect(addr)?)?;
/// let (server, _) = listener.read_with(|l| l.accept()).await?;
/// let mut server = Async::new(server)?;
/// client.write_all(b"ping").await?;
/// let mut buf = [0; 4];
/// server.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"ping");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct Async<T> {
    source: Arc<Source>,
    reactor: Reactor,
    io: Option<T>,
}

impl<T: fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async").field("io", &self.io).finish()
    }
}

#[cfg(unix)]
impl<T: AsFd> Async<T> {
    /// Puts `io` in non-blocking mode and registers it with the current reactor.
    ///
    /// # Errors
    ///
    /// Fails if the mode cannot be set or the registration is refused. Which descriptors are
    /// refused depends on the backend: epoll refuses regular files and directories
    /// (`PermissionDenied`, `EPERM`), while the io_uring backend (feature `io-uring`) accepts them
    /// and reports them always ready, as the kernel's `poll` does. A runtime built with the
    /// feature falls back to epoll where the kernel refuses the ring, so code that must run on
    /// both should not wrap files in `Async`: use `corio-fs` (`corio::fs`) for files.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?; // now non-blocking, registered
    /// let addr = socket.get_ref().local_addr()?;
    /// socket.write_with(|s| s.send_to(b"to myself", addr)).await?;
    /// let mut buf = [0; 16];
    /// let (n, _) = socket.read_with(|s| s.recv_from(&mut buf)).await?;
    /// assert_eq!(&buf[..n], b"to myself");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn new(io: T) -> io::Result<Async<T>> {
        socket2::SockRef::from(&io).set_nonblocking(true)?;
        Async::new_nonblocking(io)
    }

    /// Registers `io`, which the caller has already put in non-blocking mode.
    ///
    /// # Errors
    ///
    /// Fails if the registration is refused.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let std_socket = UdpSocket::bind("127.0.0.1:0")?;
    /// std_socket.set_nonblocking(true)?; // the caller's promise
    /// let socket = Async::new_nonblocking(std_socket)?;
    /// let mut buf = [0; 1];
    /// // Nothing to read: the future would wait; a plain call says so at once.
    /// let err = socket.get_ref().recv_from(&mut buf).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn new_nonblocking(io: T) -> io::Result<Async<T>> {
        crate::refuse::check()?;
        let reactor = Reactor::current()?;
        let source = reactor.register(io.as_fd().as_raw_fd())?;
        Ok(Async {
            source,
            reactor,
            io: Some(io),
        })
    }
}

#[cfg(windows)]
impl<T: AsSocket> Async<T> {
    /// Puts `io` in non-blocking mode and registers it with the current reactor.
    ///
    /// # Errors
    ///
    /// Fails if the mode cannot be set or the registration is refused.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?; // now non-blocking, registered
    /// let addr = socket.get_ref().local_addr()?;
    /// socket.write_with(|s| s.send_to(b"to myself", addr)).await?;
    /// let mut buf = [0; 16];
    /// let (n, _) = socket.read_with(|s| s.recv_from(&mut buf)).await?;
    /// assert_eq!(&buf[..n], b"to myself");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn new(io: T) -> io::Result<Async<T>> {
        socket2::SockRef::from(&io).set_nonblocking(true)?;
        Async::new_nonblocking(io)
    }

    /// Registers `io`, which the caller has already put in non-blocking mode.
    ///
    /// # Errors
    ///
    /// Fails if the registration is refused.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let std_socket = UdpSocket::bind("127.0.0.1:0")?;
    /// std_socket.set_nonblocking(true)?; // the caller's promise
    /// let socket = Async::new_nonblocking(std_socket)?;
    /// let mut buf = [0; 1];
    /// // Nothing to read: the future would wait; a plain call says so at once.
    /// let err = socket.get_ref().recv_from(&mut buf).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn new_nonblocking(io: T) -> io::Result<Async<T>> {
        crate::refuse::check()?;
        let reactor = Reactor::current()?;
        let source = reactor.register(io.as_socket().as_raw_socket())?;
        Ok(Async {
            source,
            reactor,
            io: Some(io),
        })
    }
}

impl<T> Async<T> {
    /// The inner handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// // Any `&self` method of the handle:
    /// assert!(socket.get_ref().local_addr()?.ip().is_loopback());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn get_ref(&self) -> &T {
        self.io
            .as_ref()
            .expect("Async holds its handle until it is dropped")
    }

    /// The reactor this handle is registered with: the one current where it was made.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::{Async, ReactorDriver};
    /// use std::net::UdpSocket;
    ///
    /// let driver = ReactorDriver::new()?;
    /// let socket = {
    ///     let _guard = driver.reactor().enter();
    ///     Async::new(UdpSocket::bind("127.0.0.1:0")?)?
    /// };
    /// assert!(!socket.reactor().is_current(), "made under the driver's reactor, not here");
    /// # std::io::Result::Ok(())
    /// ```
    pub fn reactor(&self) -> &Reactor {
        &self.reactor
    }

    /// Deregisters the handle and gives it back (still in non-blocking mode).
    ///
    /// # Errors
    ///
    /// Never fails today; returns `io::Result` so that a platform that can fail may say so.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// let std_socket = socket.into_inner()?; // deregistered, still non-blocking
    /// let mut buf = [0; 1];
    /// let err = std_socket.recv_from(&mut buf).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn into_inner(mut self) -> io::Result<T> {
        self.reactor.deregister(&self.source);
        Ok(self
            .io
            .take()
            .expect("Async holds its handle until it is dropped"))
    }

    /// Waits until the handle is readable.
    ///
    /// It may complete spuriously (the readiness is a hint): prefer [`read_with`](Async::read_with),
    /// which also handles `WouldBlock`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// # let addr = socket.get_ref().local_addr()?;
    /// socket.get_ref().send_to(b"x", addr)?;
    /// socket.readable().await?; // a hint: a read may still find nothing in general
    /// let mut buf = [0; 1];
    /// let (n, _) = socket.read_with(|s| s.recv_from(&mut buf)).await?;
    /// assert_eq!(n, 1);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn readable(&self) -> Ready<'_, T> {
        Ready {
            io: self,
            dir: Dir::Read,
            key: None,
        }
    }

    /// Waits until the handle is writable. See [`readable`](Async::readable).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// # let addr = socket.get_ref().local_addr()?;
    /// socket.writable().await?; // room in the send buffer
    /// socket.get_ref().send_to(b"x", addr)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn writable(&self) -> Ready<'_, T> {
        Ready {
            io: self,
            dir: Dir::Write,
            key: None,
        }
    }

    /// Polls for readability, registering `cx`'s waker (one slot, shared by all `poll_*` callers).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// use std::future::poll_fn;
    ///
    /// # let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// # let addr = socket.get_ref().local_addr()?;
    /// socket.get_ref().send_to(b"x", addr)?;
    /// poll_fn(|cx| socket.poll_readable(cx)).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reactor.poll_ready(&self.source, Dir::Read, cx)
    }

    /// Polls for writability. See [`poll_readable`](Async::poll_readable).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// use std::future::poll_fn;
    ///
    /// # let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// # let addr = socket.get_ref().local_addr()?;
    /// poll_fn(|cx| socket.poll_writable(cx)).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reactor.poll_ready(&self.source, Dir::Write, cx)
    }

    /// Runs a non-blocking read-side operation until it does not report `WouldBlock`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let a = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// let b = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// let to = b.get_ref().local_addr()?;
    /// a.write_with(|s| s.send_to(b"hi", to)).await?;
    /// let mut buf = [0; 2];
    /// let (n, _) = b.read_with(|s| s.recv_from(&mut buf)).await?;
    /// assert_eq!(&buf[..n], b"hi");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    ///
    /// Dropping the future before it completes removes its waker from the reactor.
    pub fn read_with<R, F>(&self, op: F) -> IoWith<'_, T, F>
    where
        F: FnMut(&T) -> io::Result<R>,
    {
        IoWith {
            io: self,
            dir: Dir::Read,
            key: None,
            op,
        }
    }

    /// Runs a non-blocking write-side operation until it does not report `WouldBlock`.
    ///
    /// Dropping the future before it completes removes its waker from the reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// # let addr = socket.get_ref().local_addr()?;
    /// let sent = socket.write_with(|s| s.send_to(b"ping", addr)).await?;
    /// assert_eq!(sent, 4);
    /// # let mut buf = [0; 4];
    /// # socket.read_with(|s| s.recv_from(&mut buf)).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn write_with<R, F>(&self, op: F) -> IoWith<'_, T, F>
    where
        F: FnMut(&T) -> io::Result<R>,
    {
        IoWith {
            io: self,
            dir: Dir::Write,
            key: None,
            op,
        }
    }

    /// Polls a non-blocking read-side operation once (registering `cx` if it would block).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// use std::future::poll_fn;
    ///
    /// # let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// # let addr = socket.get_ref().local_addr()?;
    /// socket.get_ref().send_to(b"hi", addr)?;
    /// let mut buf = [0; 2];
    /// let (n, from) = poll_fn(|cx| socket.poll_read_with(cx, |s| s.recv_from(&mut buf))).await?;
    /// assert_eq!((&buf[..n], from), (&b"hi"[..], addr));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.get_ref();
        self.reactor
            .poll_io(&self.source, Dir::Read, cx, None, || op(io))
    }

    /// Reads from a byte stream (a TCP or Unix stream socket, a pipe) into `buf`, like
    /// `poll_read_with(cx, |io| io.read(buf))`, except that a read that fills only part of
    /// `buf` counts as having drained the stream: the next read waits for the next readiness
    /// event rather than trying a `read` that would fail with `EAGAIN` (tokio does the same).
    ///
    /// Only for streams whose `read` returns everything available up to `buf.len()` (the
    /// kernel's stream sockets and pipes do): bytes left behind by a short read would not be
    /// announced again. An event that arrives during the read keeps the stream ready, and once
    /// the poller has reported a hang-up or an error, short reads no longer count (the end of
    /// stream that came with the last bytes must still be read). Linux only, where the poller
    /// reports hang-ups; elsewhere this is exactly `poll_read_with(cx, |io| io.read(buf))`. An
    /// empty `buf` gives `Ok(0)` at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::io::Write;
    /// use std::net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// use std::future::poll_fn;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = TcpStream::connect(listener.local_addr()?)?;
    /// let server = Async::new(listener.accept()?.0)?;
    /// client.write_all(b"hi")?;
    /// let mut buf = [0; 16];
    /// let n = poll_fn(|cx| server.poll_read_stream(cx, &mut buf)).await?;
    /// assert_eq!(&buf[..n], b"hi");
    /// client.write_all(b"!")?; // a new event: the next read sees it
    /// let n = poll_fn(|cx| server.poll_read_stream(cx, &mut buf)).await?;
    /// assert_eq!(&buf[..n], b"!");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_read_stream(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>
    where
        for<'a> &'a T: Read,
    {
        if buf.is_empty() {
            // Nothing to read into: `Ok(0)` at once, as std's blocking read gives, rather than a
            // wait for data that would then be left in the socket.
            return Poll::Ready(Ok(0));
        }
        let mut io = self.get_ref();
        let len = buf.len();
        let short_drains = cfg!(target_os = "linux");
        self.reactor.poll_io_until_drained(
            &self.source,
            Dir::Read,
            cx,
            None,
            || io.read(buf),
            |&n| short_drains && n > 0 && n < len,
        )
    }

    /// Polls a non-blocking write-side operation once (registering `cx` if it would block).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// use std::future::poll_fn;
    ///
    /// # let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// # let addr = socket.get_ref().local_addr()?;
    /// let sent = poll_fn(|cx| socket.poll_write_with(cx, |s| s.send_to(b"hi", addr))).await?;
    /// assert_eq!(sent, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.get_ref();
        self.reactor
            .poll_io(&self.source, Dir::Write, cx, None, || op(io))
    }

    /// Runs a non-blocking read-side operation once, now: no waiting and no waker registered,
    /// so it never disturbs a task that waits on the source. An `Err` of kind `WouldBlock`
    /// means not ready; it also clears the source's read readiness, so that a following
    /// [`readable`](Async::readable) waits for a new event (as tokio's `try_io` does).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::io::{ErrorKind, Read, Write};
    /// use std::net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = TcpStream::connect(listener.local_addr()?)?;
    /// let server = Async::new(listener.accept()?.0)?;
    /// let mut buf = [0; 8];
    /// let nothing = server.try_read_with(|s| (&*s).read(&mut buf));
    /// assert_eq!(nothing.unwrap_err().kind(), ErrorKind::WouldBlock);
    /// client.write_all(b"hi")?;
    /// server.readable().await?;
    /// assert_eq!(server.try_read_with(|s| (&*s).read(&mut buf))?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_read_with<R>(&self, op: impl FnOnce(&T) -> io::Result<R>) -> io::Result<R> {
        let io = self.get_ref();
        self.reactor.try_io(&self.source, Dir::Read, || op(io))
    }

    /// The write-side form of [`try_read_with`](Async::try_read_with).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// let addr = socket.get_ref().local_addr()?;
    /// socket.writable().await?;
    /// assert_eq!(socket.try_write_with(|s| s.send_to(b"hi", addr))?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_write_with<R>(&self, op: impl FnOnce(&T) -> io::Result<R>) -> io::Result<R> {
        let io = self.get_ref();
        self.reactor.try_io(&self.source, Dir::Write, || op(io))
    }

    /// Reads from a stream socket into `buf`, like `poll_read_with(cx, |io| io.read(buf))`, but
    /// completion-based where the reactor runs on io_uring.
    ///
    /// On the ring (Linux, feature `io-uring`, see [`Reactor::backend`]) the socket receives into
    /// a buffer of its own (16 KiB, allocated on the first call): a call that finds no bytes
    /// there starts an `IORING_OP_RECV` and returns `Pending`, with no `recv` that fails with
    /// `EAGAIN` first, and the receive is submitted with the next batch. The receive stays in
    /// flight if the caller gives up (a dropped read future), and the bytes it gets wait for the
    /// next call: nothing is lost. When the `Async` is dropped, a receive in flight is cancelled
    /// and its buffer freed only once its completion arrives.
    /// Elsewhere it is exactly `poll_read_with(cx, |io| io.read(buf))`.
    ///
    /// Because bytes may wait in that buffer, do not mix it with other reads of the same socket
    /// ([`read_with`](Async::read_with), `peek`, [`AsyncRead`]): they would see the bytes after
    /// the buffered ones; and [`into_inner`](Async::into_inner) drops buffered bytes. Sockets
    /// only: it uses `recv(2)` on the ring.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::net::{TcpListener, TcpStream};
    /// use std::io::Write;
    ///
    /// # futures_lite::future::block_on(async {
    /// use std::future::poll_fn;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = TcpStream::connect(listener.local_addr()?)?;
    /// let server = Async::new(listener.accept()?.0)?;
    /// client.write_all(b"hello")?;
    /// let mut buf = [0; 3];
    /// let n = poll_fn(|cx| server.poll_recv(cx, &mut buf)).await?;
    /// assert_eq!(&buf[..n], &b"hello"[..n]);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>
    where
        for<'a> &'a T: Read,
    {
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        if let Some(poll) = self.reactor.poll_recv(&self.source, cx, buf) {
            return poll;
        }
        self.poll_read_with(cx, |mut io| io.read(buf))
    }

    /// The vectored form of [`poll_recv`](Async::poll_recv): on the ring it fills the first
    /// non-empty buffer (the bytes come from the socket's own buffer); elsewhere it is exactly
    /// `poll_read_with(cx, |io| io.read_vectored(bufs))`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_reactor::Async;
    /// use std::io::{IoSliceMut, Write};
    /// use std::net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// use std::future::poll_fn;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = TcpStream::connect(listener.local_addr()?)?;
    /// let server = Async::new(listener.accept()?.0)?;
    /// client.write_all(b"hello")?;
    /// let (mut a, mut b) = ([0; 0], [0; 8]);
    /// let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
    /// let n = poll_fn(|cx| server.poll_recv_vectored(cx, &mut bufs)).await?;
    /// assert_eq!(&b[..n], &b"hello"[..n]);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_recv_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>>
    where
        for<'a> &'a T: Read,
    {
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        {
            let first = bufs.iter_mut().find(|b| !b.is_empty());
            let mut empty = [0u8; 0];
            let buf: &mut [u8] = match first {
                Some(b) => b,
                None => &mut empty,
            };
            if let Some(poll) = self.reactor.poll_recv(&self.source, cx, buf) {
                return poll;
            }
        }
        self.poll_read_with(cx, |mut io| io.read_vectored(bufs))
    }

    fn poll_read_mut<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let Async {
            source,
            reactor,
            io,
        } = self;
        let io = io
            .as_mut()
            .expect("Async holds its handle until it is dropped");
        reactor.poll_io(source, Dir::Read, cx, None, || op(io))
    }

    fn poll_write_mut<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let Async {
            source,
            reactor,
            io,
        } = self;
        let io = io
            .as_mut()
            .expect("Async holds its handle until it is dropped");
        reactor.poll_io(source, Dir::Write, cx, None, || op(io))
    }
}

/// The handle's descriptor, for options and calls the type does not wrap (`socket2::SockRef`,
/// say). Reading or writing through it behind the `Async`'s back is allowed but skips the
/// reactor; do not close it or make it blocking.
#[cfg(unix)]
impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

#[cfg(unix)]
impl<T: AsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.get_ref().as_fd().as_raw_fd()
    }
}

impl<T> Drop for Async<T> {
    fn drop(&mut self) {
        if self.io.is_some() {
            // Deregistered while the handle is still open, then the handle closes.
            self.reactor.deregister(&self.source);
            self.io = None;
        }
    }
}

/// The future returned by [`Async::readable`] and [`Async::writable`]. Dropping it removes its
/// waker from the reactor.
///
/// # Examples
///
/// ```
/// use corio_reactor::Async;
/// use std::net::UdpSocket;
///
/// # futures_lite::future::block_on(async {
/// # let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
/// # let addr = socket.get_ref().local_addr()?;
/// let wait = socket.readable(); // a `Ready`; readiness is a hint, so loop on `WouldBlock`
/// socket.get_ref().send_to(b"x", addr)?;
/// wait.await?;
/// let mut buf = [0; 1];
/// let n = loop {
///     match socket.get_ref().recv_from(&mut buf) {
///         Ok((n, _)) => break n,
///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => socket.readable().await?,
///         Err(e) => return Err(e),
///     }
/// };
/// assert_eq!(n, 1);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Ready<'a, T> {
    io: &'a Async<T>,
    dir: Dir,
    key: Option<usize>,
}

impl<T> fmt::Debug for Ready<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready").field("dir", &self.dir).finish()
    }
}

impl<T> Future for Ready<'_, T> {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let (reactor, source) = (&this.io.reactor, &this.io.source);
        if reactor.poll_ready_hint(source, this.dir) {
            return Poll::Ready(Ok(()));
        }
        reactor.add_waiter(source, this.dir, &mut this.key, cx.waker())?;
        if reactor.poll_ready_hint(source, this.dir) {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }
}

impl<T> Drop for Ready<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.io
                .reactor
                .remove_waiter(&self.io.source, self.dir, key);
        }
    }
}

/// The future returned by [`Async::read_with`] and [`Async::write_with`].
///
/// # Examples
///
/// ```
/// use corio_reactor::Async;
/// use std::net::UdpSocket;
///
/// # futures_lite::future::block_on(async {
/// use std::task::{Context, Waker};
/// use futures_lite::FutureExt;
///
/// # let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
/// # let addr = socket.get_ref().local_addr()?;
/// let mut buf = [0; 8];
/// let mut recv = socket.read_with(|s| s.recv_from(&mut buf));
/// // Nothing to receive: the operation reported `WouldBlock`, so the future waits.
/// assert!(recv.poll(&mut Context::from_waker(Waker::noop())).is_pending());
/// drop(recv); // cancelled: its waker leaves the reactor, and no datagram was taken
/// socket.get_ref().send_to(b"later", addr)?;
/// let (n, _) = socket.read_with(|s| s.recv_from(&mut buf)).await?;
/// assert_eq!(&buf[..n], b"later");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct IoWith<'a, T, F> {
    io: &'a Async<T>,
    dir: Dir,
    key: Option<usize>,
    op: F,
}

// The operation is only ever called through `&mut`, never pinned.
impl<T, F> Unpin for IoWith<'_, T, F> {}

impl<T, F> fmt::Debug for IoWith<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoWith").field("dir", &self.dir).finish()
    }
}

impl<T, F, R> Future for IoWith<'_, T, F>
where
    F: FnMut(&T) -> io::Result<R>,
{
    type Output = io::Result<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let this = self.get_mut();
        let io = this.io.get_ref();
        let op = &mut this.op;
        let result =
            this.io
                .reactor
                .poll_io(&this.io.source, this.dir, cx, Some(&mut this.key), || {
                    op(io)
                });
        if result.is_ready() {
            if let Some(key) = this.key.take() {
                this.io
                    .reactor
                    .remove_waiter(&this.io.source, this.dir, key);
            }
        }
        result
    }
}

impl<T, F> Drop for IoWith<'_, T, F> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.io
                .reactor
                .remove_waiter(&self.io.source, self.dir, key);
        }
    }
}

impl<T: Read + Unpin> AsyncRead for Async<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_mut(cx, |io| io.read(buf))
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_read_mut(cx, |io| io.read_vectored(bufs))
    }
}

impl<T> AsyncRead for &Async<T>
where
    for<'a> &'a T: Read,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_with(cx, |mut io| io.read(buf))
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_with(cx, |mut io| io.read_vectored(bufs))
    }
}

impl<T: Write + Unpin> AsyncWrite for Async<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_mut(cx, |io| io.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_mut(cx, |io| io.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_write_mut(cx, |io| io.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl<T> AsyncWrite for &Async<T>
where
    for<'a> &'a T: Write,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut io| io.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut io| io.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_with(cx, |mut io| io.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}
