//! corio's sockets, on the corio reactor: [`TcpListener`], [`TcpStream`], [`UdpSocket`], and on
//! Unix [`UnixListener`], [`UnixStream`], [`UnixDatagram`].
//!
//! Streams implement futures-io `AsyncRead` and `AsyncWrite`, so the `futures`/`futures-lite`
//! extension traits apply. Connecting to a host name resolves it on the blocking pool, never on
//! the event loop. Sockets created outside of any runtime register with the global reactor, so
//! they work on any executor.
//!
//! Inside a network simulation (`corio::sim`; the network itself is the [`sim`] module), the
//! same types are sockets of the simulated network, chosen when each socket is created; host
//! names resolve to the simulated hosts, and sockets made from real file descriptors (`from_std`,
//! the Unix sockets) are an `Unsupported` error. Elsewhere the only cost is one thread-local
//! read when a socket is created.
//!
//! # Examples
//!
//! An echo server and a client:
//!
//! ```
//! use corio_net::{TcpListener, TcpStream};
//! use futures_lite::{AsyncReadExt, AsyncWriteExt, io};
//!
//! # futures_lite::future::block_on(async {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let server = async {
//!     let (stream, _) = listener.accept().await?;
//!     io::copy(&stream, &mut &stream).await
//! };
//! let client = async {
//!     let mut stream = TcpStream::connect(addr).await?;
//!     stream.write_all(b"echo me").await?;
//!     stream.close().await?; // shuts down the write half
//!     let mut back = Vec::new();
//!     stream.read_to_end(&mut back).await?;
//!     std::io::Result::Ok(back)
//! };
//! let (copied, back) = futures_lite::future::zip(server, client).await;
//! assert_eq!(copied?, 7);
//! assert_eq!(back?, b"echo me");
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! # Cancel safety
//!
//! What is lost when an operation's future is dropped before it completes: by a `select!`, a
//! `timeout`, a `race` or a cancelled task. "Yes" means nothing is lost: the operation can be
//! started again, and it takes up exactly where the dropped one would have. This table is a
//! contract: any other I/O backend (io_uring included) must keep it. The rows about reading,
//! writing, accepting, connecting and datagrams are tested at the data level in this crate's
//! `tests/` (`tcp.rs`, `udp.rs`, `unix.rs`).
//!
//! | Operation | Cancel-safe | If dropped before it completes |
//! |---|---|---|
//! | `read` (`AsyncReadExt::read`, `poll_read`, vectored) on [`TcpStream`], [`UnixStream`] | yes | nothing: bytes leave the socket only in the poll that returns them, so no byte is lost or read twice |
//! | `read_exact` (`AsyncReadExt`) | **no** | the bytes already read are in the caller's buffer and gone from the socket, but how many is lost |
//! | `read_to_end` (`AsyncReadExt`) | yes | nothing: the bytes already read stay in the `Vec` |
//! | `read_to_string` (`AsyncReadExt`) | **no** | the bytes already read (kept in the future, to be checked as UTF-8 at the end) are lost; use `read_to_end` and convert |
//! | `read_line` (`AsyncBufReadExt`, through a `BufReader`) | **no** | the part of the line already read (kept in the future) is lost |
//! | `read_until` (`AsyncBufReadExt`) | yes | nothing: the bytes already read stay in the `Vec` |
//! | `lines()`, `split()` streams (`AsyncBufReadExt`): a dropped `next()` | yes | nothing: the partial line stays in the stream |
//! | [`TcpStream::peek`], [`UdpSocket::peek_from`] | yes | nothing (a peek consumes nothing) |
//! | `write` (`AsyncWriteExt::write`, `poll_write`, vectored) | yes | nothing was written: a write that waited for room took no byte |
//! | `write_all` (`AsyncWriteExt`) | **no** | a prefix of the data was sent (no gap, no duplicate); its length is lost |
//! | `flush`, `close` (`AsyncWriteExt`) | yes | they complete at their first poll (`close` shuts the write half down) |
//! | [`TcpListener::accept`], [`UnixListener::accept`], `incoming()` | yes | nothing: a connection is taken from the backlog only by the poll that returns it |
//! | [`TcpStream::connect`], [`TcpStream::connect_timeout`], [`UnixStream::connect`] | no, but harmless | the half-made socket is closed; the listener may still accept it, and then reads EOF (or a reset) from it, never data |
//! | [`UdpSocket::recv_from`], [`UdpSocket::recv`], [`UnixDatagram::recv_from`], [`UnixDatagram::recv`] | yes | nothing: a datagram is taken only by the poll that returns it |
//! | [`UdpSocket::send_to`], [`UdpSocket::send`], [`UnixDatagram::send_to`], [`UnixDatagram::send`] | yes | nothing was sent; a datagram goes whole or not at all |
//! | [`TcpListener::bind`], [`UdpSocket::bind`], [`UdpSocket::connect`] | yes | nothing but the name resolution, if one was running on the blocking pool |
//! | `readable()`, `writable()` | yes | nothing |
//!
//! [`TcpStream::try_read`], [`TcpStream::try_write`], [`UnixStream::try_read`] and
//! [`UnixStream::try_write`] are not futures: they act now or fail with `WouldBlock`, and
//! register no waker (tokio's pattern: `readable().await`, then `try_read`, again on
//! `WouldBlock`).
//!
//! **Handles and waiting readers.** Every socket type is a cheap `Clone` of one shared socket,
//! closed when its last handle is dropped. Dropping one handle while a task reads through
//! another changes nothing: the reader keeps waiting, harmlessly, and gets the data when it
//! comes. To release a reader that waits in another task, shut the read half down
//! ([`TcpStream::shutdown`]`(Shutdown::Read)`; the reader wakes and reads EOF on Linux), or let
//! the peer close (EOF) or reset (an error of kind `ConnectionReset`). When the runtime whose
//! reactor a socket registered with shuts down, operations still waiting on it wake and fail with
//! an error ("the runtime that owns this I/O source has shut down") instead of waiting forever.
//! The socket stays registered with that reactor for its whole life: used afterwards (from
//! another runtime, or a plain thread's `block_on`), an operation that finds data or room at once
//! still succeeds, but one that would have to wait fails with that same error, so whether it
//! works depends on timing. A connection that must outlive its runtime is opened again from the
//! next one (there is no way to move a socket between reactors); a child process's pipes are
//! bound the same way (signals and `Child::wait` are not: they move to the reactor current
//! where they are polled). While the socket's runtime lives but nobody runs its loop (a local
//! runtime between two `block_on` calls), an operation that has to wait, polled from elsewhere,
//! waits until that loop runs again.
//!
//! **Descriptors and options.** Every socket type implements `AsFd` and `AsRawFd` (Unix), so an
//! option the types do not wrap is set as with std's or tokio's sockets, through
//! `socket2::SockRef`: `SockRef::from(&stream).set_keepalive(true)?`. Do not close the
//! descriptor or make it blocking; the socket owns it. Inside a simulation a socket has no
//! descriptor and lends a *stand-in* instead: an unconnected socket of the same family and type,
//! created the first time it is asked for (a simulation that never asks holds none), one per
//! socket and its clones; options set on it are kept and read back but change nothing in the
//! simulation, and `as_fd` panics only if the process is out of descriptors.
//!
//! ```
//! use corio_net::{TcpListener, TcpStream};
//! use socket2::SockRef;
//!
//! # futures_lite::future::block_on(async {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let _client = TcpStream::connect(listener.local_addr()?).await?;
//! let (conn, _) = listener.accept().await?;
//! SockRef::from(&conn).set_keepalive(true)?;
//! assert!(SockRef::from(&conn).keepalive()?);
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
#![forbid(unsafe_code)]
// The Unix socket types linked above do not exist elsewhere (Windows).
#![cfg_attr(not(unix), allow(rustdoc::broken_intra_doc_links))]

/// `AsFd` and `AsRawFd` (Unix) for a socket type, given how to reach its descriptor: the real
/// socket's own, or a simulated socket's stand-in (see `stand_in`).
macro_rules! impl_as_fd {
    ($ty:ty, |$socket:ident| $fd:expr) => {
        #[cfg(unix)]
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                let $socket = self;
                $fd
            }
        }

        #[cfg(unix)]
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(self))
            }
        }
    };
}

mod addr;
pub mod sim;
#[cfg(unix)]
mod stand_in;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use addr::{Resolve, ToSocketAddrs, lookup_host};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};
