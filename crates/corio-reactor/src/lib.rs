//! corio's I/O reactor.
//!
//! [`Async<T>`] wraps a socket or pipe in non-blocking mode and registers it with the current
//! runtime's [`Reactor`]; its operations wait for readiness instead of blocking the thread. The
//! reactor is built on `polling` (epoll, kqueue, event ports, IOCP) in edge-triggered mode where
//! the platform has it, so delivering an event needs no re-arm syscall.
//!
//! Each runtime owns a [`ReactorDriver`] and parks in it when idle; its threads
//! [enter](Reactor::enter) the reactor so that sources created there register with it. Outside of
//! any runtime, sources register with a process-wide reactor driven by a background thread, so
//! `Async` works on any executor.
//!
//! # Examples
//!
//! ```
//! use corio_reactor::Async;
//! use std::net::UdpSocket;
//!
//! # futures_lite::future::block_on(async {
//! let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
//! let addr = socket.get_ref().local_addr()?;
//! socket.write_with(|s| s.send_to(b"echo", addr)).await?;
//! let mut buf = [0; 4];
//! let (n, from) = socket.read_with(|s| s.recv_from(&mut buf)).await?;
//! assert_eq!((&buf[..n], from), (&b"echo"[..], addr));
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! # Unsafe code
//!
//! `polling` requires that a registered handle is deregistered before it is closed, which it
//! cannot check; the reactor holds the two `unsafe` blocks that rely on this, and `Async` keeps
//! the promise by deregistering in `Drop` and `into_inner` before the handle goes.
#![deny(unsafe_code)]

mod async_io;
mod reactor;
mod sys;

pub use async_io::{Async, IoWith, Ready};
pub use reactor::{Reactor, ReactorDriver, ReactorGuard};
