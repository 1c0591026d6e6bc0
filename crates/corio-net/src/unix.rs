//! Unix domain sockets: `UnixListener`, `UnixStream`, `UnixDatagram`.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use corio_reactor::Async;
use std::time::Duration;

/// The first pause before `UnixStream::connect` tries again on a full backlog.
const CONNECT_RETRY_FIRST: Duration = Duration::from_millis(1);
/// The longest pause between two tries.
const CONNECT_RETRY_MAX: Duration = Duration::from_millis(16);
use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};

/// A Unix domain socket server.
///
/// [`bind`](UnixListener::bind) is synchronous, as in tokio and async-net: binding a path never
/// waits on the network.
///
/// # Examples
///
/// ```
/// use corio_net::{UnixListener, UnixStream};
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
///
/// # futures_lite::future::block_on(async {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("sock");
/// let listener = UnixListener::bind(&path)?;
/// let mut client = UnixStream::connect(&path).await?;
/// let (mut server, _) = listener.accept().await?;
/// client.write_all(b"hi").await?;
/// let mut buf = [0; 2];
/// server.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hi");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct UnixListener {
    inner: Arc<Async<net::UnixListener>>,
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

impl UnixListener {
    /// Binds to `path` and starts listening.
    ///
    /// The socket file stays when the listener is dropped (as with std and tokio; asyncio's
    /// `create_unix_server` removes a stale one before binding): remove it yourself, before a
    /// new bind to the same path or after the last use.
    ///
    /// # Errors
    ///
    /// Fails if the path is taken (`AddrInUse`, also by the file a dropped listener left) or
    /// cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("app.sock");
    /// let listener = UnixListener::bind(&path)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// assert!(UnixListener::bind(&path).is_err(), "the path is taken");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        if crate::sim::active() {
            return Err(crate::sim::unsupported(
                "UnixListener::bind (a real Unix socket)",
            ));
        }
        let path = path.as_ref();
        let listener = net::UnixListener::bind(path).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot bind `{}`: {e}", path.display()))
        })?;
        UnixListener::from_std(listener)
    }

    /// Wraps a std listener (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// Fails if the listener cannot be registered with the reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sock");
    /// let listener = UnixListener::from_std(std::os::unix::net::UnixListener::bind(&path)?)?;
    /// let _client = UnixStream::connect(&path).await?;
    /// let (_stream, _peer) = listener.accept().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(listener: net::UnixListener) -> io::Result<UnixListener> {
        if crate::sim::active() {
            return Err(crate::sim::unsupported(
                "UnixListener::from_std (a real Unix socket)",
            ));
        }
        Ok(UnixListener {
            inner: Arc::new(Async::new(listener)?),
        })
    }

    /// Waits for a connection.
    ///
    /// # Errors
    ///
    /// Returns the OS error of `accept`; the listener stays usable.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let listener = UnixListener::bind(dir.path().join("sock"))?;
    /// let client = UnixStream::connect(dir.path().join("sock")).await?;
    /// let (stream, _peer) = listener.accept().await?; // the client is unnamed: no path
    /// assert_eq!(stream.local_addr()?.as_pathname(), Some(dir.path().join("sock").as_path()));
    /// # drop(client);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.inner.read_with(|l| l.accept()).await?;
        Ok((UnixStream::from_std(stream)?, addr))
    }

    /// A stream of incoming connections.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// use futures_lite::StreamExt;
    ///
    /// let listener = UnixListener::bind(dir.path().join("sock"))?;
    /// let _client = UnixStream::connect(dir.path().join("sock")).await?;
    /// let mut incoming = listener.incoming();
    /// let stream = incoming.next().await.unwrap()?; // `incoming` never ends by itself
    /// assert!(stream.peer_addr()?.is_unnamed());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sock");
    /// let listener = UnixListener::bind(&path)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

/// A stream of connections; see [`UnixListener::incoming`].
///
/// # Examples
///
/// ```
/// use corio_net::{UnixDatagram, UnixListener, UnixStream};
///
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// use futures_lite::StreamExt;
///
/// let listener = UnixListener::bind(dir.path().join("sock"))?;
/// let _client = UnixStream::connect(dir.path().join("sock")).await?;
/// let mut incoming = listener.incoming();
/// while let Some(stream) = incoming.next().await {
///     let _stream = stream?;
///     break; // a server would serve it and go on
/// }
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Stream for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.listener.inner.poll_read_with(cx, |l| l.accept()) {
            Poll::Ready(Ok((stream, _))) => Poll::Ready(Some(UnixStream::from_std(stream))),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A Unix domain stream connection. Cheap to clone; see [`TcpStream`](crate::TcpStream) for the
/// sharing rules.
///
/// # Examples
///
/// ```
/// use corio_net::{UnixDatagram, UnixListener, UnixStream};
///
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
///
/// let (mut a, mut b) = UnixStream::pair()?;
/// a.write_all(b"over a socketpair").await?;
/// a.close().await?; // shuts down the write half
/// let mut text = String::new();
/// b.read_to_string(&mut text).await?;
/// assert_eq!(text, "over a socketpair");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct UnixStream {
    inner: Arc<Async<net::UnixStream>>,
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// If the listener's backlog is full (it accepts too slowly), the connect waits for room
    /// without blocking the thread, trying again after pauses of 1 ms doubling to 16 ms, as a
    /// blocking connect would wait; put a `timeout` around it to bound the wait. Dropping it
    /// while it waits closes the socket it made.
    ///
    /// # Errors
    ///
    /// Fails if nothing listens there.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sock");
    /// assert!(UnixStream::connect(&path).await.is_err(), "nothing listens yet");
    /// let _listener = UnixListener::bind(&path)?;
    /// let stream = UnixStream::connect(&path).await?;
    /// assert_eq!(stream.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        if crate::sim::active() {
            return Err(crate::sim::unsupported(
                "UnixStream::connect (a real Unix socket)",
            ));
        }
        let path = path.as_ref();
        let named = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("cannot connect to `{}`: {e}", path.display()),
            )
        };
        let addr = socket2::SockAddr::unix(path).map_err(named)?;
        let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        // A Unix connect completes (or fails) at once, except when the listener's backlog is
        // full: then a blocking connect sleeps in the kernel until there is room, and no
        // timeout could stop it (a probe found `UnixStream::connect` hanging its thread, and a
        // `run_local` server that would have made room never ran again). Non-blocking, Linux
        // says `EAGAIN` instead, and nothing signals when to try again: the connect is retried
        // after a short pause, doubling up to `CONNECT_RETRY_MAX`, cancellable as any await.
        // The pause is real time (`sleep_real`, on the process-wide timer), not a `sleep` on
        // the runtime's clock: under virtual time that clock jumps (a deterministic runtime's
        // timeout fired at once, and its retries spun) or stands still (a paused clock never
        // retried), while the listener makes room in real time (a review found all three).
        // (Slept on the blocking pool instead, each waiting connect held a pool thread.)
        // While it waits, the wait counts as real work in flight (`Reactor::external_work`,
        // as a child process a task awaits does): under virtual time the clock holds for it,
        // for up to a second of real time.
        let mut pause = CONNECT_RETRY_FIRST;
        let mut waiting = None;
        let connected = loop {
            match socket.connect(&addr) {
                Ok(()) => break true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if waiting.is_none() {
                        waiting = Some(corio_reactor::Reactor::current()?.external_work());
                    }
                    corio_timer::sleep_real(pause).await;
                    pause = (pause * 2).min(CONNECT_RETRY_MAX);
                }
                // Elsewhere a non-blocking connect may be in progress: it ends when the socket
                // is writable.
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => break false,
                Err(e) => return Err(named(e)),
            }
        };
        let stream = UnixStream::from_std(net::UnixStream::from(socket))?;
        if !connected {
            stream
                .inner
                .write_with(|s| match s.take_error()? {
                    Some(e) => Err(e),
                    None if s.peer_addr().is_ok() => Ok(()),
                    None => Err(io::ErrorKind::WouldBlock.into()),
                })
                .await
                .map_err(named)?;
        }
        Ok(stream)
    }

    /// A connected pair of streams.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    ///
    /// let (mut a, mut b) = UnixStream::pair()?;
    /// a.write_all(b"ping").await?;
    /// let mut buf = [0; 4];
    /// b.read_exact(&mut buf).await?;
    /// assert_eq!(&buf, b"ping");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        if crate::sim::active() {
            return Err(crate::sim::unsupported(
                "UnixStream::pair (a real Unix socket)",
            ));
        }
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a std stream (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// Fails if the stream cannot be registered with the reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let (a, b) = (UnixStream::from_std(a)?, UnixStream::from_std(b)?);
    /// assert!(a.peer_addr()?.is_unnamed() && b.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(stream: net::UnixStream) -> io::Result<UnixStream> {
        if crate::sim::active() {
            return Err(crate::sim::unsupported(
                "UnixStream::from_std (a real Unix socket)",
            ));
        }
        Ok(UnixStream {
            inner: Arc::new(Async::new(stream)?),
        })
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let listener = UnixListener::bind(dir.path().join("sock"))?;
    /// # let client = UnixStream::connect(dir.path().join("sock")).await?;
    /// # let (server, _) = listener.accept().await?;
    /// assert_eq!(server.local_addr()?.as_pathname(), Some(dir.path().join("sock").as_path()));
    /// assert!(client.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let listener = UnixListener::bind(dir.path().join("sock"))?;
    /// # let client = UnixStream::connect(dir.path().join("sock")).await?;
    /// # let (server, _) = listener.accept().await?;
    /// assert_eq!(client.peer_addr()?.as_pathname(), Some(dir.path().join("sock").as_path()));
    /// assert!(server.peer_addr()?.is_unnamed());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half, or both.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// use futures_lite::AsyncReadExt;
    /// use std::net::Shutdown;
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// a.shutdown(Shutdown::Write)?;
    /// let mut rest = Vec::new();
    /// b.read_to_end(&mut rest).await?; // end-of-file at once
    /// assert!(rest.is_empty());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Waits until the stream is readable (a hint: a read may still find nothing).
    ///
    /// # Errors
    ///
    /// Fails if the runtime that owns the socket has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UnixStream;
    ///
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    ///
    /// let (mut a, mut b) = UnixStream::pair()?;
    /// a.write_all(b"x").await?;
    /// b.readable().await?;
    /// let mut byte = [0; 1];
    /// b.read_exact(&mut byte).await?;
    /// assert_eq!(&byte, b"x");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        self.inner.readable().await
    }

    /// Waits until the stream is writable (a hint).
    ///
    /// # Errors
    ///
    /// Fails if the runtime that owns the socket has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UnixStream;
    ///
    /// # futures_lite::future::block_on(async {
    /// let (a, _b) = UnixStream::pair()?;
    /// a.writable().await?; // a fresh pair has room
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        self.inner.writable().await
    }

    /// Reads what is available now into `buf`, without waiting: an `Err` of kind `WouldBlock`
    /// if nothing is (then [`readable`](UnixStream::readable) waits for the next data). `Ok(0)`
    /// is the end of the stream (or an empty `buf`). It registers no waker, so it never
    /// disturbs a task that waits on this stream or a clone of it.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when no data is available; otherwise the socket's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UnixStream;
    /// use std::io::ErrorKind;
    ///
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::AsyncWriteExt;
    ///
    /// let (mut a, b) = UnixStream::pair()?;
    /// let mut buf = [0; 16];
    /// assert_eq!(b.try_read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// a.write_all(b"hi").await?;
    /// b.readable().await?;
    /// assert_eq!(b.try_read(&mut buf)?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            // As the stream's reads: `Ok(0)` at once (the kernel's `recv` would say `EAGAIN`).
            return Ok(0);
        }
        self.inner.try_read_with(|mut s| s.read(buf))
    }

    /// Writes what fits now from `buf`, without waiting: an `Err` of kind `WouldBlock` if
    /// nothing fits (then [`writable`](UnixStream::writable) waits for room). It registers no
    /// waker.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the send buffer is full; otherwise the socket's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UnixStream;
    ///
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::AsyncReadExt;
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// assert_eq!(a.try_write(b"hi")?, 2);
    /// let mut buf = [0; 2];
    /// b.read_exact(&mut buf).await?;
    /// assert_eq!(&buf, b"hi");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.try_write_with(|mut s| s.write(buf))
    }
}

impl AsyncRead for UnixStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_read_stream(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        self.inner.poll_read_with(cx, |mut s| s.read_vectored(bufs))
    }
}

impl AsyncRead for &UnixStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_read_stream(cx, buf)
    }
}

impl AsyncWrite for UnixStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write_with(cx, |mut s| s.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner
            .poll_write_with(cx, |mut s| s.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(shutdown_write(self.inner.get_ref()))
    }
}

impl AsyncWrite for &UnixStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write_with(cx, |mut s| s.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(shutdown_write(self.inner.get_ref()))
    }
}

fn shutdown_write(stream: &net::UnixStream) -> io::Result<()> {
    match stream.shutdown(Shutdown::Write) {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}

/// A Unix domain datagram socket. Cheap to clone.
///
/// Unlike UDP, a send to a receiver whose queue is full does not drop the datagram: it waits
/// (`send`, `send_to`) or fails with `WouldBlock` (`try_send`, `try_send_to`). Beware that on
/// Linux a send that waits so keeps a core about two-thirds busy until room appears: each
/// failed attempt frees its buffer, which the kernel reports as the sender becoming writable,
/// so the send retries at once (measured: 190-230 ms of CPU per 300 ms of waiting, connected
/// or not, on epoll and on io_uring). Put a `timeout` on sends to a receiver that may stall.
///
/// # Examples
///
/// ```
/// use corio_net::UnixDatagram;
///
/// # futures_lite::future::block_on(async {
/// let (a, b) = UnixDatagram::pair()?;
/// a.send(b"one").await?;
/// let mut buf = [0; 8];
/// let n = b.recv(&mut buf).await?;
/// assert_eq!(&buf[..n], b"one");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct UnixDatagram {
    inner: Arc<Async<net::UnixDatagram>>,
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

impl UnixDatagram {
    /// Binds a datagram socket to `path`.
    ///
    /// # Errors
    ///
    /// Fails if the path is taken or cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("dgram");
    /// let socket = UnixDatagram::bind(&path)?;
    /// assert_eq!(socket.local_addr()?.as_pathname(), Some(path.as_path()));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        if crate::sim::active() {
            return Err(crate::sim::unsupported(
                "UnixDatagram::bind (a real Unix socket)",
            ));
        }
        let path = path.as_ref();
        let socket = net::UnixDatagram::bind(path).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot bind `{}`: {e}", path.display()))
        })?;
        UnixDatagram::from_std(socket)
    }

    /// A socket bound to no address.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let server = UnixDatagram::bind(dir.path().join("dgram"))?;
    /// let client = UnixDatagram::unbound()?;
    /// client.send_to(b"anonymous", dir.path().join("dgram")).await?;
    /// let mut buf = [0; 16];
    /// let (n, from) = server.recv_from(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"anonymous");
    /// assert!(from.is_unnamed());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        if crate::sim::active() {
            return Err(crate::sim::unsupported(
                "UnixDatagram::unbound (a real Unix socket)",
            ));
        }
        UnixDatagram::from_std(net::UnixDatagram::unbound()?)
    }

    /// A connected pair of sockets.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let (a, b) = UnixDatagram::pair()?;
    /// a.send(b"one").await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).await?, 3);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        if crate::sim::active() {
            return Err(crate::sim::unsupported(
                "UnixDatagram::pair (a real Unix socket)",
            ));
        }
        let (a, b) = net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Wraps a std socket (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// Fails if the socket cannot be registered with the reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
    /// let (a, b) = (UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?);
    /// a.send(b"x").await?;
    /// let mut buf = [0; 1];
    /// assert_eq!(b.recv(&mut buf).await?, 1);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(socket: net::UnixDatagram) -> io::Result<UnixDatagram> {
        if crate::sim::active() {
            return Err(crate::sim::unsupported(
                "UnixDatagram::from_std (a real Unix socket)",
            ));
        }
        Ok(UnixDatagram {
            inner: Arc::new(Async::new(socket)?),
        })
    }

    /// Sets the default peer.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let server = UnixDatagram::bind(dir.path().join("dgram"))?;
    /// let client = UnixDatagram::unbound()?;
    /// client.connect(dir.path().join("dgram"))?;
    /// client.send(b"no address needed").await?;
    /// let mut buf = [0; 32];
    /// let n = server.recv(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"no address needed");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = path.as_ref();
        self.inner
            .get_ref()
            .connect(path)
            .map_err(|e| naming(e, "cannot connect to", path))
    }

    /// Sends a datagram to `path`.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let server = UnixDatagram::bind(dir.path().join("dgram"))?;
    /// let client = UnixDatagram::unbound()?;
    /// assert_eq!(client.send_to(b"hello", dir.path().join("dgram")).await?, 5);
    /// # let mut buf = [0; 8];
    /// # server.recv(&mut buf).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner
            .write_with(|s| s.send_to(buf, path))
            .await
            .map_err(|e| naming(e, "cannot send to", path))
    }

    /// Receives a datagram and its sender's address.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let server = UnixDatagram::bind(dir.path().join("server"))?;
    /// let client = UnixDatagram::bind(dir.path().join("client"))?;
    /// client.send_to(b"hello", dir.path().join("server")).await?;
    /// let mut buf = [0; 8];
    /// let (n, from) = server.recv_from(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"hello");
    /// assert_eq!(from.as_pathname(), Some(dir.path().join("client").as_path()));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|s| s.recv_from(buf)).await
    }

    /// Sends a datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let (a, b) = UnixDatagram::pair()?;
    /// assert_eq!(a.send(b"datagram").await?, 8);
    /// # let mut buf = [0; 8];
    /// # b.recv(&mut buf).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_with(|s| s.send(buf)).await
    }

    /// Receives a datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let (a, b) = UnixDatagram::pair()?;
    /// a.send(b"first").await?;
    /// a.send(b"second").await?;
    /// let mut buf = [0; 16];
    /// let n = b.recv(&mut buf).await?; // one datagram at a time, in order
    /// assert_eq!(&buf[..n], b"first");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|s| s.recv(buf)).await
    }

    /// Waits until a datagram can be received (a hint: a following
    /// [`try_recv_from`](UnixDatagram::try_recv_from) may still say `WouldBlock`).
    ///
    /// # Errors
    ///
    /// Fails if the runtime that owns the socket has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UnixDatagram;
    ///
    /// # futures_lite::future::block_on(async {
    /// let (a, b) = UnixDatagram::pair()?;
    /// a.send(b"ready").await?;
    /// b.readable().await?;
    /// let mut buf = [0; 8];
    /// let n = b.try_recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"ready");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        self.inner.readable().await
    }

    /// Waits until a datagram can be sent (a hint).
    ///
    /// # Errors
    ///
    /// Fails if the runtime that owns the socket has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UnixDatagram;
    ///
    /// # futures_lite::future::block_on(async {
    /// let (a, _b) = UnixDatagram::pair()?;
    /// a.writable().await?; // a fresh pair has room
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        self.inner.writable().await
    }

    /// Sends a datagram to the socket at `path` now, without waiting: an `Err` of kind
    /// `WouldBlock` if the receiver's queue is full (then [`writable`](UnixDatagram::writable)
    /// waits for room). It registers no waker, so it never disturbs a task that waits on this
    /// socket or a clone of it.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the datagram does not fit now; otherwise the OS error (no socket at
    /// `path`, a datagram too large).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UnixDatagram;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let server = UnixDatagram::bind(dir.path().join("server"))?;
    /// let client = UnixDatagram::unbound()?;
    /// assert_eq!(client.try_send_to(b"hello", dir.path().join("server"))?, 5);
    /// let mut buf = [0; 8];
    /// let n = server.recv(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"hello");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner.try_write_with(|s| s.send_to(buf, path))
    }

    /// Sends a datagram to the connected peer now, without waiting (see
    /// [`try_send_to`](UnixDatagram::try_send_to)).
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the datagram does not fit now; fails if the socket is not connected,
    /// or with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UnixDatagram;
    ///
    /// # futures_lite::future::block_on(async {
    /// let (a, b) = UnixDatagram::pair()?;
    /// assert_eq!(a.try_send(b"now")?, 3);
    /// let mut buf = [0; 8];
    /// let n = b.recv(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"now");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.try_write_with(|s| s.send(buf))
    }

    /// Receives a datagram that is already queued, and its sender's address, without waiting:
    /// an `Err` of kind `WouldBlock` if none is (then [`readable`](UnixDatagram::readable)
    /// waits for one). It registers no waker. A datagram longer than `buf` is cut to it.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when no datagram is queued; otherwise the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UnixDatagram;
    /// use std::io::ErrorKind;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let server = UnixDatagram::bind(dir.path().join("server"))?;
    /// let client = UnixDatagram::bind(dir.path().join("client"))?;
    /// let mut buf = [0; 8];
    /// assert_eq!(server.try_recv_from(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// client.send_to(b"hello", dir.path().join("server")).await?;
    /// server.readable().await?;
    /// let (n, from) = server.try_recv_from(&mut buf)?;
    /// assert_eq!(&buf[..n], b"hello");
    /// assert_eq!(from.as_pathname(), Some(dir.path().join("client").as_path()));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.try_read_with(|s| s.recv_from(buf))
    }

    /// Receives a datagram that is already queued, without waiting (see
    /// [`try_recv_from`](UnixDatagram::try_recv_from)).
    ///
    /// # Errors
    ///
    /// `WouldBlock` when no datagram is queued; otherwise the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UnixDatagram;
    /// use std::io::ErrorKind;
    ///
    /// # futures_lite::future::block_on(async {
    /// let (a, b) = UnixDatagram::pair()?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.try_recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// a.send(b"one").await?;
    /// assert_eq!(b.try_recv(&mut buf)?, 3); // a Unix pair delivers at once
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.try_read_with(|s| s.recv(buf))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let socket = UnixDatagram::bind(dir.path().join("dgram"))?;
    /// assert_eq!(socket.local_addr()?.as_pathname(), Some(dir.path().join("dgram").as_path()));
    /// assert!(UnixDatagram::unbound()?.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Shuts down the read half, the write half, or both.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{UnixDatagram, UnixListener, UnixStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// use std::net::Shutdown;
    ///
    /// let (a, _b) = UnixDatagram::pair()?;
    /// a.shutdown(Shutdown::Write)?;
    /// assert!(a.send(b"too late").await.is_err());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }
}

/// `e` with a message that names the socket path it concerns (the OS error alone does not), of
/// the same kind.
fn naming(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} `{}`: {e}", path.display()))
}

impl_as_fd!(UnixListener, |listener| std::os::fd::AsFd::as_fd(
    listener.inner.get_ref()
));
impl_as_fd!(UnixStream, |stream| std::os::fd::AsFd::as_fd(
    stream.inner.get_ref()
));
impl_as_fd!(UnixDatagram, |socket| std::os::fd::AsFd::as_fd(
    socket.inner.get_ref()
));
