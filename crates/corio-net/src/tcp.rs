//! TCP: `TcpListener` and `TcpStream`.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use corio_reactor::Async;
use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};
use socket2::{Domain, Protocol, Socket, Type};

use crate::addr::{ToSocketAddrs, each_addr};
use crate::sim::{self, tcp::SimListener, tcp::SimStream};

/// The listen backlog: large enough that a burst of thousands of connections is not refused
/// (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 4096;

/// A TCP server socket.
///
/// # Examples
///
/// ```
/// use corio_net::{TcpListener, TcpStream};
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
///
/// # futures_lite::future::block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let client = async {
///     let mut stream = TcpStream::connect(addr).await?;
///     stream.write_all(b"hello").await?;
///     std::io::Result::Ok(())
/// };
/// let server = async {
///     let (mut stream, _peer) = listener.accept().await?;
///     let mut buf = String::new();
///     stream.read_to_string(&mut buf).await?;
///     std::io::Result::Ok(buf)
/// };
/// let (sent, got) = futures_lite::future::zip(client, server).await;
/// sent?;
/// assert_eq!(got?, "hello");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct TcpListener {
    inner: ListenerInner,
}

/// A real socket, or one of the simulated network (`corio::sim`), chosen at creation.
#[derive(Clone)]
enum ListenerInner {
    Real(Arc<Async<std::net::TcpListener>>),
    Sim(Arc<SimListener>),
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

impl TcpListener {
    /// Binds to `addr` (tried in turn if it resolves to several) and starts listening.
    ///
    /// # Errors
    ///
    /// Fails if the address does not resolve or no address can be bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?; // port 0: the OS picks one
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # let _ = TcpStream::connect(listener.local_addr()?).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |addr| async move { TcpListener::bind_one(addr) }).await
    }

    fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
        if let Some(net) = sim::current() {
            return Ok(TcpListener {
                inner: ListenerInner::Sim(Arc::new(SimListener::bind(&net, addr)?)),
            });
        }
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        #[cfg(unix)]
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        let listener: std::net::TcpListener = socket.into();
        TcpListener::from_nonblocking(listener)
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
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let listener = TcpListener::from_std(std_listener)?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// let (_stream, peer) = listener.accept().await?;
    /// assert_eq!(peer, client.local_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        if sim::active() {
            return Err(sim::unsupported("TcpListener::from_std"));
        }
        listener.set_nonblocking(true)?;
        TcpListener::from_nonblocking(listener)
    }

    fn from_nonblocking(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: ListenerInner::Real(Arc::new(Async::new_nonblocking(listener)?)),
        })
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// Errors such as `EMFILE` (out of file descriptors) are returned as they come, and the
    /// listener stays usable: a server loop should log them and go on.
    ///
    /// # Errors
    ///
    /// Returns the OS error of `accept`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// let (stream, peer) = listener.accept().await?;
    /// assert_eq!(peer, client.local_addr()?);
    /// assert_eq!(stream.local_addr()?, listener.local_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        match &self.inner {
            ListenerInner::Real(inner) => {
                let (stream, peer) = inner.read_with(accept_nonblocking).await?;
                Ok((TcpStream::from_accepted(stream)?, peer))
            }
            ListenerInner::Sim(inner) => {
                let (stream, peer) = inner.accept().await?;
                Ok((TcpStream::from_sim(stream), peer))
            }
        }
    }

    /// Polls for a connection (the poll form of [`accept`](TcpListener::accept)).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// use std::future::poll_fn;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// let (_stream, peer) = poll_fn(|cx| listener.poll_accept(cx)).await?;
    /// assert_eq!(peer, client.local_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let inner = match &self.inner {
            ListenerInner::Real(inner) => inner,
            ListenerInner::Sim(inner) => {
                return inner
                    .poll_accept(cx)
                    .map_ok(|(stream, peer)| (TcpStream::from_sim(stream), peer));
            }
        };
        match inner.poll_read_with(cx, accept_nonblocking) {
            Poll::Ready(Ok((stream, peer))) => {
                Poll::Ready(TcpStream::from_accepted(stream).map(|s| (s, peer)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A stream of incoming connections.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::StreamExt;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// let _client = TcpStream::connect(addr).await?;
    /// let mut incoming = listener.incoming();
    /// let stream = incoming.next().await.unwrap()?; // `incoming` never ends by itself
    /// assert_eq!(stream.local_addr()?, addr);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
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
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// assert!(addr.ip().is_loopback());
    /// assert_ne!(addr.port(), 0);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            ListenerInner::Real(inner) => inner.get_ref().local_addr(),
            ListenerInner::Sim(inner) => Ok(inner.local_addr()),
        }
    }

    /// Sets the IP time-to-live of accepted sockets.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// listener.set_ttl(64)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        match &self.inner {
            ListenerInner::Real(inner) => inner.get_ref().set_ttl(ttl),
            ListenerInner::Sim(_) => Ok(()),
        }
    }
}

/// A stream of connections; see [`TcpListener::incoming`].
///
/// # Examples
///
/// ```
/// use corio_net::{TcpListener, TcpStream};
///
/// # futures_lite::future::block_on(async {
/// use futures_lite::StreamExt;
///
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let _client = TcpStream::connect(listener.local_addr()?).await?;
/// let mut served = 0;
/// let mut incoming = listener.incoming();
/// while let Some(stream) = incoming.next().await {
///     let _stream = stream?; // an error (EMFILE, say) leaves the listener usable
///     served += 1;
///     break;
/// }
/// assert_eq!(served, 1);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.listener
            .poll_accept(cx)
            .map(|r| Some(r.map(|(stream, _)| stream)))
    }
}

/// A TCP connection.
///
/// It implements futures-io `AsyncRead` and `AsyncWrite` (also through `&TcpStream`), and is
/// cheap to clone: a clone is another handle to the same connection, so one task can read while
/// another writes. `close()` (from `AsyncWriteExt`) shuts down the write half.
///
/// Two tasks may read (or write) the same connection at once: each arrival wakes every task
/// waiting in that direction, and which of them gets the bytes is up to the race. To split a
/// stream between tasks, read from one and write from the other.
///
/// # Examples
///
/// ```
/// use corio_net::{TcpListener, TcpStream};
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
///
/// # futures_lite::future::block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let mut client = TcpStream::connect(listener.local_addr()?).await?;
/// client.set_nodelay(true)?;
/// let (mut server, _) = listener.accept().await?;
/// client.write_all(b"ping").await?;
/// let mut buf = [0; 4];
/// server.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"ping");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct TcpStream {
    inner: StreamInner,
}

/// A real socket, or one of the simulated network (`corio::sim`), chosen at creation.
#[derive(Clone)]
enum StreamInner {
    Real(Arc<Async<std::net::TcpStream>>),
    Sim(Arc<SimStream>),
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn. Name resolution runs on
    /// the blocking pool, so it never blocks the event loop.
    ///
    /// # Errors
    ///
    /// Fails if the address does not resolve, or with the last connection error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let stream = TcpStream::connect(listener.local_addr()?).await?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// // Also from a `(host, port)` pair or a "host:port" string.
    /// let port = listener.local_addr()?.port();
    /// let again = TcpStream::connect(("127.0.0.1", port)).await?;
    /// assert_eq!(again.peer_addr()?.port(), port);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, TcpStream::connect_one).await
    }

    /// Like [`connect`](TcpStream::connect), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Fails with `TimedOut` if the deadline passes first.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// use std::time::Duration;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// let stream = TcpStream::connect_timeout(addr, Duration::from_secs(5)).await?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn connect_timeout(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        match corio_timer::timeout(timeout, TcpStream::connect_one(addr)).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {addr} timed out after {timeout:?}"),
            )),
        }
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        if let Some(net) = sim::current() {
            return SimStream::connect(&net, addr)
                .await
                .map(TcpStream::from_sim);
        }
        let socket = TcpStream::start_connect(addr)?;
        TcpStream::finish_connect(socket).await
    }

    fn start_connect(addr: SocketAddr) -> io::Result<Async<std::net::TcpStream>> {
        let socket = new_nonblocking_socket(Domain::for_address(addr))?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Async::new_nonblocking(std::net::TcpStream::from(socket))
    }

    async fn finish_connect(stream: Async<std::net::TcpStream>) -> io::Result<TcpStream> {
        // The connection is established (or has failed) once the socket is writable. A peer
        // address proves it established, in one system call; without one, the socket's pending
        // error says why it failed, and no error means the readiness came early (the reactor
        // may report a source ready that is not), so the wait goes on.
        stream
            .write_with(|s| match s.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => match s.take_error()? {
                    Some(e) => Err(e),
                    None => Err(io::ErrorKind::WouldBlock.into()),
                },
                Err(e) => Err(e),
            })
            .await?;
        Ok(TcpStream {
            inner: StreamInner::Real(Arc::new(stream)),
        })
    }

    /// Wraps a stream from [`accept_nonblocking`], already in non-blocking mode.
    fn from_accepted(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: StreamInner::Real(Arc::new(Async::new_nonblocking(stream)?)),
        })
    }

    fn from_sim(stream: SimStream) -> TcpStream {
        TcpStream {
            inner: StreamInner::Sim(Arc::new(stream)),
        }
    }

    /// Wraps a connected std stream (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// Fails if the stream cannot be registered with the reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let std_stream = std::net::TcpStream::connect(listener.local_addr()?)?; // loopback: no wait
    /// let stream = TcpStream::from_std(std_stream)?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        if sim::active() {
            return Err(sim::unsupported("TcpStream::from_std"));
        }
        Ok(TcpStream {
            inner: StreamInner::Real(Arc::new(Async::new(stream)?)),
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
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// assert_eq!(client.local_addr()?, server.peer_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            StreamInner::Real(inner) => inner.get_ref().local_addr(),
            StreamInner::Sim(inner) => Ok(inner.local_addr()),
        }
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// assert_eq!(client.peer_addr()?, listener.local_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            StreamInner::Real(inner) => inner.get_ref().peer_addr(),
            StreamInner::Sim(inner) => Ok(inner.peer_addr()),
        }
    }

    /// Enables or disables Nagle's algorithm (`TCP_NODELAY`).
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// client.set_nodelay(true)?; // small writes go out at once
    /// assert!(client.nodelay()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        match &self.inner {
            StreamInner::Real(inner) => inner.get_ref().set_nodelay(nodelay),
            StreamInner::Sim(inner) => {
                inner.set_nodelay(nodelay);
                Ok(())
            }
        }
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// client.set_nodelay(false)?;
    /// assert!(!client.nodelay()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        match &self.inner {
            StreamInner::Real(inner) => inner.get_ref().nodelay(),
            StreamInner::Sim(inner) => Ok(inner.nodelay()),
        }
    }

    /// Sets the IP time-to-live.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// client.set_ttl(64)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        match &self.inner {
            StreamInner::Real(inner) => inner.get_ref().set_ttl(ttl),
            StreamInner::Sim(_) => Ok(()),
        }
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
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::AsyncReadExt;
    /// use std::net::Shutdown;
    ///
    /// # let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (mut server, _) = listener.accept().await?;
    /// client.shutdown(Shutdown::Write)?; // the server reads end-of-file
    /// let mut rest = Vec::new();
    /// server.read_to_end(&mut rest).await?;
    /// assert!(rest.is_empty());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match &self.inner {
            StreamInner::Real(inner) => inner.get_ref().shutdown(how),
            StreamInner::Sim(inner) => inner.shutdown(how),
        }
    }

    /// Receives data without removing it from the queue. An empty `buf` gives `Ok(0)` at once,
    /// as an empty read does (it used to wait for data: a probe found it).
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let mut client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (mut server, _) = listener.accept().await?;
    /// client.write_all(b"hi").await?;
    /// let mut peeked = [0; 2];
    /// let n = server.peek(&mut peeked).await?;
    /// let mut read = [0; 2];
    /// server.read_exact(&mut read).await?; // the peeked bytes are still there
    /// assert_eq!(&read[..n], &peeked[..n]);
    /// assert_eq!(&read, b"hi");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &self.inner {
            StreamInner::Real(inner) => inner.read_with(|s| s.peek(buf)).await,
            StreamInner::Sim(inner) => inner.peek(buf).await,
        }
    }

    /// Waits until the stream is readable (a hint; see `corio_reactor::Async::readable`).
    ///
    /// # Errors
    ///
    /// Fails if the runtime that owns the socket has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let mut client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (mut server, _) = listener.accept().await?;
    /// client.write_all(b"x").await?;
    /// server.readable().await?; // a hint: the read below may still find nothing in general
    /// let mut byte = [0; 1];
    /// server.read_exact(&mut byte).await?;
    /// assert_eq!(&byte, b"x");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        match &self.inner {
            StreamInner::Real(inner) => inner.readable().await,
            StreamInner::Sim(inner) => inner.readable().await,
        }
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
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// client.writable().await?; // a fresh connection has room in its send buffer
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        match &self.inner {
            StreamInner::Real(inner) => inner.writable().await,
            StreamInner::Sim(inner) => inner.writable().await,
        }
    }

    /// Reads what is available now into `buf`, without waiting: an `Err` of kind `WouldBlock`
    /// if nothing is (then [`readable`](TcpStream::readable) waits for the next data). `Ok(0)`
    /// is the end of the stream (or an empty `buf`). As tokio's `try_read`: it registers no
    /// waker, so it never disturbs a task that waits on this stream or a clone of it.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when no data is available; otherwise the socket's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    /// use std::io::ErrorKind;
    ///
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let mut client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// let mut buf = [0; 16];
    /// assert_eq!(server.try_read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// client.write_all(b"hi").await?;
    /// let n = loop {
    ///     server.readable().await?;
    ///     match server.try_read(&mut buf) {
    ///         Err(e) if e.kind() == ErrorKind::WouldBlock => continue, // a false alarm
    ///         other => break other?,
    ///     }
    /// };
    /// assert_eq!(&buf[..n], b"hi");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            // As the stream's reads: `Ok(0)` at once (the kernel's `recv` would say `EAGAIN`).
            return Ok(0);
        }
        match &self.inner {
            StreamInner::Real(inner) => inner.try_read_with(|mut s| s.read(buf)),
            StreamInner::Sim(inner) => inner.try_read(buf),
        }
    }

    /// Writes what fits now from `buf`, without waiting: an `Err` of kind `WouldBlock` if
    /// nothing fits (then [`writable`](TcpStream::writable) waits for room). As tokio's
    /// `try_write`: it registers no waker.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the send buffer is full; otherwise the socket's error (`BrokenPipe`
    /// after `shutdown(Write)`, a reset).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// # futures_lite::future::block_on(async {
    /// use futures_lite::AsyncReadExt;
    ///
    /// # let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (mut server, _) = listener.accept().await?;
    /// client.writable().await?;
    /// let n = client.try_write(b"hello")?; // a fresh connection has room
    /// let mut buf = [0; 5];
    /// server.read_exact(&mut buf[..n]).await?;
    /// assert_eq!(&buf[..n], &b"hello"[..n]);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.inner {
            StreamInner::Real(inner) => inner.try_write_with(|mut s| s.write(buf)),
            StreamInner::Sim(inner) => inner.try_write(buf),
        }
    }
}

// The trait impls of `TcpStream` and `&TcpStream` share these bodies: the real socket's, or the
// simulated network's.
impl TcpStream {
    fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match &self.inner {
            // A short read drains the socket: the next read waits for an event (no EAGAIN).
            StreamInner::Real(inner) => inner.poll_read_stream(cx, buf),
            StreamInner::Sim(inner) => inner.poll_read(cx, buf),
        }
    }

    fn poll_read_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        match &self.inner {
            StreamInner::Real(_) if bufs.iter().all(|b| b.is_empty()) => Poll::Ready(Ok(0)),
            StreamInner::Real(inner) => inner.poll_read_with(cx, |mut s| s.read_vectored(bufs)),
            StreamInner::Sim(inner) => match bufs.iter_mut().find(|b| !b.is_empty()) {
                Some(buf) => inner.poll_read(cx, buf),
                None => Poll::Ready(Ok(0)),
            },
        }
    }

    fn poll_write_priv(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &self.inner {
            StreamInner::Real(inner) => inner.poll_write_with(cx, |mut s| s.write(buf)),
            StreamInner::Sim(inner) => inner.poll_write(cx, buf),
        }
    }

    fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &self.inner {
            StreamInner::Real(inner) => inner.poll_write_with(cx, |mut s| s.write_vectored(bufs)),
            StreamInner::Sim(inner) => match bufs.iter().find(|b| !b.is_empty()) {
                Some(buf) => inner.poll_write(cx, buf),
                None => Poll::Ready(Ok(0)),
            },
        }
    }

    fn poll_close_priv(&self) -> Poll<io::Result<()>> {
        match &self.inner {
            StreamInner::Real(inner) => Poll::Ready(shutdown_write(inner.get_ref())),
            StreamInner::Sim(inner) => Poll::Ready(inner.close()),
        }
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_priv(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_vectored_priv(cx, bufs)
    }
}

impl AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_priv(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_vectored_priv(cx, bufs)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_priv(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_priv(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_close_priv()
    }
}

impl AsyncWrite for &TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_priv(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_priv(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_close_priv()
    }
}

/// Shuts down the write half; a peer that already went away is not an error for `close`.
fn shutdown_write(stream: &std::net::TcpStream) -> io::Result<()> {
    match stream.shutdown(Shutdown::Write) {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}

/// A TCP socket for `domain`, in non-blocking mode. On Linux the mode is part of the `socket`
/// call (`SOCK_NONBLOCK`), which saves the two `fcntl` calls of setting it afterwards: a
/// connection-heavy server makes one socket per connection.
fn new_nonblocking_socket(domain: Domain) -> io::Result<Socket> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    }
}

/// Accepts a connection whose socket is already in non-blocking mode. On Linux that is one
/// `accept4` with `SOCK_NONBLOCK` (std's `accept` sets only `SOCK_CLOEXEC`, and switching the
/// mode afterwards costs two `fcntl` calls per connection).
fn accept_nonblocking(
    listener: &std::net::TcpListener,
) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let (socket, peer) =
            socket2::SockRef::from(listener).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)?;
        let peer = peer.as_socket().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "accept returned a peer address that is not an IP address",
            )
        })?;
        Ok((socket.into(), peer))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let (stream, peer) = listener.accept()?;
        stream.set_nonblocking(true)?;
        Ok((stream, peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    fn std_stream(stream: &TcpStream) -> &std::net::TcpStream {
        match &stream.inner {
            StreamInner::Real(inner) => inner.get_ref(),
            StreamInner::Sim(_) => unreachable!("no simulation here"),
        }
    }

    /// Both ends skip the mode switch after the fact, so each must come out non-blocking by
    /// itself (a blocking socket on the reactor would block the thread on its first read).
    #[test]
    fn connected_and_accepted_streams_are_non_blocking() -> io::Result<()> {
        block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let client = TcpStream::connect(listener.local_addr()?).await?;
            let (server, peer) = listener.accept().await?;
            assert_eq!(peer, client.local_addr()?);
            for stream in [&client, &server] {
                assert!(socket2::SockRef::from(std_stream(stream)).nonblocking()?);
            }
            // A std stream handed in is switched to non-blocking mode.
            let std_client = std::net::TcpStream::connect(listener.local_addr()?)?;
            assert!(!socket2::SockRef::from(&std_client).nonblocking()?);
            let wrapped = TcpStream::from_std(std_client)?;
            assert!(socket2::SockRef::from(std_stream(&wrapped)).nonblocking()?);
            Ok(())
        })
    }

    /// Connecting finds out from the peer address alone that it succeeded, and from the
    /// socket's error that it failed.
    #[test]
    fn a_refused_connect_reports_the_socket_error() -> io::Result<()> {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let err = block_on(TcpStream::connect(("127.0.0.1", port))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        Ok(())
    }
}

impl_as_fd!(TcpListener, |listener| match &listener.inner {
    ListenerInner::Real(inner) => std::os::fd::AsFd::as_fd(inner.get_ref()),
    ListenerInner::Sim(inner) => inner.stand_in.fd(inner.local_addr(), Type::STREAM),
});

impl_as_fd!(TcpStream, |stream| match &stream.inner {
    StreamInner::Real(inner) => std::os::fd::AsFd::as_fd(inner.get_ref()),
    StreamInner::Sim(inner) => inner.stand_in.fd(inner.local_addr(), Type::STREAM),
});
