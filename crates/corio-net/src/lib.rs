//! corio's sockets, on the corio reactor: [`TcpListener`], [`TcpStream`], [`UdpSocket`], and on
//! Unix [`UnixListener`], [`UnixStream`], [`UnixDatagram`].
//!
//! Streams implement futures-io `AsyncRead` and `AsyncWrite`, so the `futures`/`futures-lite`
//! extension traits apply. Connecting to a host name resolves it on the blocking pool, never on
//! the event loop. Sockets created outside of any runtime register with the global reactor, so
//! they work on any executor.
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
#![forbid(unsafe_code)]
// The Unix socket types linked above do not exist elsewhere (Windows).
#![cfg_attr(not(unix), allow(rustdoc::broken_intra_doc_links))]

mod addr;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use addr::{Resolve, ToSocketAddrs};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};
