//! Address resolution that never blocks the event loop.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Something that resolves to one or more socket addresses: a `SocketAddr`, an `(ip, port)`
/// pair, or a `"host:port"` string.
///
/// Literal addresses resolve at once; host names are looked up on the blocking pool
/// (`corio-blocking`), so a slow DNS server never freezes the event loop.
///
/// # Examples
///
/// ```
/// use corio_net::ToSocketAddrs;
///
/// # futures_lite::future::block_on(async {
/// let addrs = "127.0.0.1:80".to_socket_addrs().await?;
/// assert_eq!(addrs, vec!["127.0.0.1:80".parse().unwrap()]);
/// let local = ("localhost", 80).to_socket_addrs().await?;
/// assert!(!local.is_empty());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub trait ToSocketAddrs: sealed::Sealed {
    /// Resolves to a list of addresses.
    fn to_socket_addrs(self) -> Resolve;
}

mod sealed {
    pub trait Sealed {}
}

/// Resolves `host` (a `"host:port"` string, an `(host, port)` pair or a literal address) to its
/// socket addresses, as tokio's `lookup_host`: host names are looked up on the blocking pool, so
/// a slow DNS server never freezes the event loop; inside a network simulation (`corio::sim`)
/// a host's name resolves to its simulated address.
///
/// # Errors
///
/// Fails if the name cannot be resolved (the error names it), or resolves to no address.
///
/// # Examples
///
/// ```
/// use corio_net::lookup_host;
///
/// # futures_lite::future::block_on(async {
/// let addrs: Vec<_> = lookup_host("localhost:8080").await?.collect();
/// assert!(!addrs.is_empty());
/// assert!(addrs.iter().all(|a| a.port() == 8080 && a.ip().is_loopback()));
/// assert!(lookup_host("no-such-host.invalid:80").await.is_err());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<impl Iterator<Item = SocketAddr>> {
    Ok(host.to_socket_addrs().await?.into_iter())
}

/// The future returned by [`ToSocketAddrs::to_socket_addrs`].
///
/// # Examples
///
/// ```
/// use corio_net::{Resolve, ToSocketAddrs};
///
/// # futures_lite::future::block_on(async {
/// let literal: Resolve = ("127.0.0.1", 8080).to_socket_addrs(); // ready at once: no lookup
/// assert_eq!(literal.await?, ["127.0.0.1:8080".parse().unwrap()]);
/// let named = ("localhost", 8080).to_socket_addrs(); // looked up on the blocking pool
/// assert!(named.await?.iter().all(|a| a.port() == 8080));
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Resolve(State);

#[derive(Debug)]
enum State {
    Ready(Option<io::Result<Vec<SocketAddr>>>),
    Lookup(corio_blocking::Unblocked<io::Result<Vec<SocketAddr>>>),
}

impl Resolve {
    fn ready(addrs: Vec<SocketAddr>) -> Resolve {
        Resolve(State::Ready(Some(Ok(addrs))))
    }

    fn lookup(host: String, port: Option<u16>) -> Resolve {
        // Inside a network simulation, names are the simulated hosts', resolved at once.
        if let Some(resolved) = crate::sim::resolve(&host, port) {
            return Resolve(State::Ready(Some(resolved)));
        }
        Resolve(State::Lookup(corio_blocking::unblock(move || {
            let found = match port {
                Some(port) => std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)),
                None => std::net::ToSocketAddrs::to_socket_addrs(host.as_str()),
            };
            // std's message ("failed to lookup address information: ...") does not say which
            // name: this one does, and keeps the kind.
            let addrs: Vec<SocketAddr> = found
                .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve `{host}`: {e}")))?
                .collect();
            if addrs.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("`{host}` resolved to no addresses"),
                ));
            }
            Ok(addrs)
        })))
    }

    fn parse_or_lookup(s: &str) -> Resolve {
        match s.parse::<SocketAddr>() {
            Ok(addr) => Resolve::ready(vec![addr]),
            Err(_) => Resolve::lookup(s.to_owned(), None),
        }
    }

    fn host_port(host: &str, port: u16) -> Resolve {
        match host.parse::<IpAddr>() {
            Ok(ip) => Resolve::ready(vec![SocketAddr::new(ip, port)]),
            Err(_) => Resolve::lookup(host.to_owned(), Some(port)),
        }
    }
}

impl Future for Resolve {
    type Output = io::Result<Vec<SocketAddr>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            State::Ready(result) => Poll::Ready(
                result
                    .take()
                    .unwrap_or_else(|| Err(io::Error::other("Resolve polled after completion"))),
            ),
            State::Lookup(task) => Pin::new(task).poll(cx),
        }
    }
}

macro_rules! literal {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl ToSocketAddrs for $t {
            fn to_socket_addrs(self) -> Resolve {
                let $v = self;
                Resolve::ready($e)
            }
        }
    )*};
}

literal! {
    SocketAddr => |a| vec![a],
    SocketAddrV4 => |a| vec![SocketAddr::V4(a)],
    SocketAddrV6 => |a| vec![SocketAddr::V6(a)],
    (IpAddr, u16) => |a| vec![SocketAddr::new(a.0, a.1)],
    (Ipv4Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V4(a.0), a.1)],
    (Ipv6Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V6(a.0), a.1)],
    &[SocketAddr] => |a| a.to_vec(),
    Vec<SocketAddr> => |a| a,
}

impl sealed::Sealed for &SocketAddr {}
impl ToSocketAddrs for &SocketAddr {
    fn to_socket_addrs(self) -> Resolve {
        Resolve::ready(vec![*self])
    }
}

impl sealed::Sealed for &str {}
impl ToSocketAddrs for &str {
    fn to_socket_addrs(self) -> Resolve {
        Resolve::parse_or_lookup(self)
    }
}

impl sealed::Sealed for String {}
impl ToSocketAddrs for String {
    fn to_socket_addrs(self) -> Resolve {
        Resolve::parse_or_lookup(&self)
    }
}

impl sealed::Sealed for &String {}
impl ToSocketAddrs for &String {
    fn to_socket_addrs(self) -> Resolve {
        Resolve::parse_or_lookup(self)
    }
}

impl sealed::Sealed for (&str, u16) {}
impl ToSocketAddrs for (&str, u16) {
    fn to_socket_addrs(self) -> Resolve {
        Resolve::host_port(self.0, self.1)
    }
}

impl sealed::Sealed for (String, u16) {}
impl ToSocketAddrs for (String, u16) {
    fn to_socket_addrs(self) -> Resolve {
        Resolve::host_port(&self.0, self.1)
    }
}

/// Tries `f` on each address in turn; returns the first success or the last error.
pub(crate) async fn each_addr<A, T, F, Fut>(addr: A, mut f: F) -> io::Result<T>
where
    A: ToSocketAddrs,
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let addrs = addr.to_socket_addrs().await?;
    let mut last = None;
    for addr in addrs {
        match f(addr).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "no addresses to connect to")
    }))
}
