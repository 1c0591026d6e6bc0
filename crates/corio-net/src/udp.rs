//! UDP: `UdpSocket`.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use corio_reactor::Async;

use crate::addr::{ToSocketAddrs, each_addr};
use crate::sim::{self, udp::SimUdp};

/// A UDP socket. Cheap to clone (clones share the socket).
///
/// # Examples
///
/// ```
/// use corio_net::UdpSocket;
///
/// # futures_lite::future::block_on(async {
/// let a = UdpSocket::bind("127.0.0.1:0").await?;
/// let b = UdpSocket::bind("127.0.0.1:0").await?;
/// a.send_to(b"datagram", b.local_addr()?).await?;
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf).await?;
/// assert_eq!((&buf[..n], from), (&b"datagram"[..], a.local_addr()?));
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct UdpSocket {
    inner: Inner,
}

/// A real socket, or one of the simulated network (`corio::sim`), chosen at creation.
#[derive(Clone)]
enum Inner {
    Real(Arc<Async<std::net::UdpSocket>>),
    Sim(Arc<SimUdp>),
}

/// The error of an operation the simulated network does not model.
fn not_simulated(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not simulated by corio::sim"),
    )
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

impl UdpSocket {
    /// Binds a socket to `addr` (each resolved address is tried in turn).
    ///
    /// # Errors
    ///
    /// Fails if the address does not resolve or cannot be bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let socket = UdpSocket::bind("127.0.0.1:0").await?; // port 0: the OS picks one
    /// assert_ne!(socket.local_addr()?.port(), 0);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| async move {
            if let Some(net) = sim::current() {
                return Ok(UdpSocket {
                    inner: Inner::Sim(Arc::new(SimUdp::bind(&net, addr)?)),
                });
            }
            UdpSocket::from_std(std::net::UdpSocket::bind(addr)?)
        })
        .await
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
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let socket = UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0")?)?;
    /// socket.send_to(b"to myself", socket.local_addr()?).await?;
    /// let mut buf = [0; 16];
    /// let (n, _) = socket.recv_from(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"to myself");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        if sim::active() {
            return Err(sim::unsupported("UdpSocket::from_std"));
        }
        Ok(UdpSocket {
            inner: Inner::Real(Arc::new(Async::new(socket)?)),
        })
    }

    /// Sets the default peer for [`send`](UdpSocket::send) and [`recv`](UdpSocket::recv).
    ///
    /// # Errors
    ///
    /// Fails if the address does not resolve or the OS refuses it.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.connect(b.local_addr()?).await?;
    /// a.send(b"hello").await?; // no address needed any more
    /// let mut buf = [0; 8];
    /// let n = b.recv(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"hello");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let socket = match &self.inner {
            Inner::Real(inner) => inner.get_ref(),
            Inner::Sim(inner) => {
                return each_addr(addr, |addr| async move { inner.connect(addr) }).await;
            }
        };
        each_addr(addr, |addr| async move { socket.connect(addr) }).await
    }

    /// Sends a datagram to `addr`; returns the number of bytes sent.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// let sent = a.send_to(b"datagram", b.local_addr()?).await?;
    /// assert_eq!(sent, 8);
    /// # let mut buf = [0; 8];
    /// # b.recv_from(&mut buf).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addrs = addr.to_socket_addrs().await?;
        let addr = *addrs
            .first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to send to"))?;
        match &self.inner {
            Inner::Real(inner) => inner.write_with(|s| s.send_to(buf, addr)).await,
            Inner::Sim(inner) => inner.send_to(buf, addr),
        }
    }

    /// Receives a datagram and the address it came from.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.send_to(b"datagram", b.local_addr()?).await?;
    /// let mut buf = [0; 16];
    /// let (n, from) = b.recv_from(&mut buf).await?;
    /// assert_eq!((&buf[..n], from), (&b"datagram"[..], a.local_addr()?));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match &self.inner {
            Inner::Real(inner) => inner.read_with(|s| s.recv_from(buf)).await,
            Inner::Sim(inner) => inner.recv_from(buf).await,
        }
    }

    /// Like [`recv_from`](UdpSocket::recv_from), without removing the datagram from the queue.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.send_to(b"twice", b.local_addr()?).await?;
    /// let mut buf = [0; 8];
    /// let (n, from) = b.peek_from(&mut buf).await?;
    /// assert_eq!((&buf[..n], from), (&b"twice"[..], a.local_addr()?));
    /// let (n, _) = b.recv_from(&mut buf).await?; // still queued
    /// assert_eq!(&buf[..n], b"twice");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match &self.inner {
            Inner::Real(inner) => inner.read_with(|s| s.peek_from(buf)).await,
            Inner::Sim(inner) => inner.peek_from(buf).await,
        }
    }

    /// Sends a datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// Fails if the socket is not connected, or with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.connect(b.local_addr()?).await?;
    /// assert_eq!(a.send(b"ping").await?, 4);
    /// # let mut buf = [0; 4];
    /// # b.recv(&mut buf).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.inner {
            Inner::Real(inner) => inner.write_with(|s| s.send(buf)).await,
            Inner::Sim(inner) => inner.send(buf),
        }
    }

    /// Receives a datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// Fails if the socket is not connected, or with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// b.connect(a.local_addr()?).await?; // only datagrams from `a` are received
    /// a.send_to(b"pong", b.local_addr()?).await?;
    /// let mut buf = [0; 8];
    /// let n = b.recv(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"pong");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.inner {
            Inner::Real(inner) => inner.read_with(|s| s.recv(buf)).await,
            Inner::Sim(inner) => inner.recv_from(buf).await.map(|(n, _)| n),
        }
    }

    /// Waits until a datagram can be received (a hint: a following
    /// [`try_recv_from`](UdpSocket::try_recv_from) may still say `WouldBlock`).
    ///
    /// # Errors
    ///
    /// Fails if the runtime that owns the socket has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.send_to(b"ready", b.local_addr()?).await?;
    /// b.readable().await?;
    /// let mut buf = [0; 8];
    /// let (n, _) = b.try_recv_from(&mut buf)?;
    /// assert_eq!(&buf[..n], b"ready");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        match &self.inner {
            Inner::Real(inner) => inner.readable().await,
            Inner::Sim(inner) => inner.readable().await,
        }
    }

    /// Waits until a datagram can be sent (a hint). A simulated socket always can.
    ///
    /// # Errors
    ///
    /// Fails if the runtime that owns the socket has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let socket = UdpSocket::bind("127.0.0.1:0").await?;
    /// socket.writable().await?; // a fresh socket has room
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        match &self.inner {
            Inner::Real(inner) => inner.writable().await,
            Inner::Sim(_) => Ok(()),
        }
    }

    /// Sends a datagram to `target` now, without waiting: an `Err` of kind `WouldBlock` if the
    /// send buffer is full (then [`writable`](UdpSocket::writable) waits for room). As tokio's
    /// `try_send_to`: it registers no waker, so it never disturbs a task that waits on this
    /// socket or a clone of it.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the send buffer is full; otherwise the OS error (a datagram too
    /// large, an unreachable address).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.writable().await?;
    /// assert_eq!(a.try_send_to(b"now", b.local_addr()?)?, 3);
    /// let mut buf = [0; 8];
    /// let (n, _) = b.recv_from(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"now");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        match &self.inner {
            Inner::Real(inner) => inner.try_write_with(|s| s.send_to(buf, target)),
            Inner::Sim(inner) => inner.send_to(buf, target),
        }
    }

    /// Sends a datagram to the connected peer now, without waiting (see
    /// [`try_send_to`](UdpSocket::try_send_to)).
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the send buffer is full; fails if the socket is not connected, or
    /// with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.connect(b.local_addr()?).await?;
    /// assert_eq!(a.try_send(b"ping")?, 4);
    /// # let mut buf = [0; 4];
    /// # b.recv(&mut buf).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.inner {
            Inner::Real(inner) => inner.try_write_with(|s| s.send(buf)),
            Inner::Sim(inner) => inner.send(buf),
        }
    }

    /// Receives a datagram that is already queued, without waiting: an `Err` of kind
    /// `WouldBlock` if none is (then [`readable`](UdpSocket::readable) waits for one). As
    /// tokio's `try_recv_from`: it registers no waker. A datagram longer than `buf` is cut to
    /// it (the rest is lost), as with [`recv_from`](UdpSocket::recv_from).
    ///
    /// # Errors
    ///
    /// `WouldBlock` when no datagram is queued; otherwise the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    /// use std::io::ErrorKind;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// let mut buf = [0; 16];
    /// assert_eq!(b.try_recv_from(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// a.send_to(b"datagram", b.local_addr()?).await?;
    /// let (n, from) = loop {
    ///     b.readable().await?;
    ///     match b.try_recv_from(&mut buf) {
    ///         Err(e) if e.kind() == ErrorKind::WouldBlock => continue, // a false alarm
    ///         other => break other?,
    ///     }
    /// };
    /// assert_eq!((&buf[..n], from), (&b"datagram"[..], a.local_addr()?));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match &self.inner {
            Inner::Real(inner) => inner.try_read_with(|s| s.recv_from(buf)),
            Inner::Sim(inner) => inner.try_recv_from(buf, false),
        }
    }

    /// Receives a datagram from the connected peer that is already queued, without waiting
    /// (see [`try_recv_from`](UdpSocket::try_recv_from)).
    ///
    /// # Errors
    ///
    /// `WouldBlock` when no datagram is queued; otherwise the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// b.connect(a.local_addr()?).await?;
    /// a.send_to(b"pong", b.local_addr()?).await?;
    /// b.readable().await?;
    /// let mut buf = [0; 8];
    /// let n = b.try_recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"pong");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.inner {
            Inner::Real(inner) => inner.try_read_with(|s| s.recv(buf)),
            Inner::Sim(inner) => inner.try_recv_from(buf, false).map(|(n, _)| n),
        }
    }

    /// Like [`try_recv_from`](UdpSocket::try_recv_from), without removing the datagram from the
    /// queue.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when no datagram is queued; otherwise the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.send_to(b"twice", b.local_addr()?).await?;
    /// b.readable().await?;
    /// let mut buf = [0; 8];
    /// let (n, _) = b.try_peek_from(&mut buf)?;
    /// assert_eq!(&buf[..n], b"twice");
    /// let (n, _) = b.try_recv_from(&mut buf)?; // still queued
    /// assert_eq!(&buf[..n], b"twice");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn try_peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match &self.inner {
            Inner::Real(inner) => inner.try_read_with(|s| s.peek_from(buf)),
            Inner::Sim(inner) => inner.try_recv_from(buf, true),
        }
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
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let socket = UdpSocket::bind("127.0.0.1:0").await?;
    /// assert!(socket.local_addr()?.ip().is_loopback());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            Inner::Real(inner) => inner.get_ref().local_addr(),
            Inner::Sim(inner) => Ok(inner.local_addr()),
        }
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// Fails if the socket is not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// # let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// assert!(a.peer_addr().is_err(), "not connected yet");
    /// a.connect(b.local_addr()?).await?;
    /// assert_eq!(a.peer_addr()?, b.local_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            Inner::Real(inner) => inner.get_ref().peer_addr(),
            Inner::Sim(inner) => inner.peer_addr(),
        }
    }

    /// Enables or disables broadcast.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let socket = UdpSocket::bind("127.0.0.1:0").await?;
    /// socket.set_broadcast(true)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        match &self.inner {
            Inner::Real(inner) => inner.get_ref().set_broadcast(on),
            Inner::Sim(_) => Err(not_simulated("broadcast")),
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
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// let socket = UdpSocket::bind("127.0.0.1:0").await?;
    /// socket.set_ttl(8)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        match &self.inner {
            Inner::Real(inner) => inner.get_ref().set_ttl(ttl),
            Inner::Sim(_) => Ok(()),
        }
    }

    /// Joins an IPv4 multicast group.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// use std::net::Ipv4Addr;
    ///
    /// // Needs an interface with multicast enabled, so this example is only compiled.
    /// let socket = UdpSocket::bind("0.0.0.0:5000").await?;
    /// socket.join_multicast_v4(Ipv4Addr::new(239, 255, 0, 1), Ipv4Addr::UNSPECIFIED)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        match &self.inner {
            Inner::Real(inner) => inner.get_ref().join_multicast_v4(&group, &interface),
            Inner::Sim(_) => Err(not_simulated("multicast")),
        }
    }

    /// Joins an IPv6 multicast group.
    ///
    /// # Errors
    ///
    /// Returns the OS error, if any.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corio_net::UdpSocket;
    ///
    /// # futures_lite::future::block_on(async {
    /// use std::net::Ipv6Addr;
    ///
    /// // Needs an interface with multicast enabled, so this example is only compiled.
    /// let socket = UdpSocket::bind("[::]:5000").await?;
    /// socket.join_multicast_v6("ff02::1234".parse::<Ipv6Addr>().unwrap(), 0)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn join_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        match &self.inner {
            Inner::Real(inner) => inner.get_ref().join_multicast_v6(&group, interface),
            Inner::Sim(_) => Err(not_simulated("multicast")),
        }
    }
}

impl_as_fd!(UdpSocket, |socket| match &socket.inner {
    Inner::Real(inner) => std::os::fd::AsFd::as_fd(inner.get_ref()),
    Inner::Sim(inner) => inner.stand_in.fd(inner.local_addr(), socket2::Type::DGRAM),
});
