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
//! # Backends
//!
//! [`Reactor::backend`] says which one a reactor uses.
//!
//! - **Linux**: corio's own edge-triggered epoll (`"epoll"`), one `epoll_wait` per park.
//! - **Linux with the `io-uring` feature**: an io_uring per reactor (`"io_uring"`). The reactor
//!   probes the kernel when it starts (ring setup, then the features and opcodes it needs) and
//!   falls back to epoll on any failure (`ENOSYS` on old kernels, `EPERM` under
//!   `kernel.io_uring_disabled` or a seccomp filter, `EINVAL`), silently; `backend()` then says
//!   `"epoll"` and the reactor's `Debug` output gives the reason. `CORIO_IO=epoll` in the
//!   environment forces epoll. On the ring, readiness is a multishot `IORING_OP_POLL_ADD` per
//!   source, so every `Async` operation works unchanged, and [`Async::poll_recv`] is
//!   completion-based (an `IORING_OP_RECV` into a 16 KiB buffer the source owns). A thread
//!   that waits on the ring (a runtime worker, the thread of a local runtime) submits its
//!   requests, and the kernel runs their wake-ups on it: a blocking call with a timeout made on
//!   such a thread (inside a task, which should not block anyway) can fail with `EINTR` when a
//!   socket of the runtime becomes ready; retry it, or move it to `to_thread`. The ring is
//!   opt-in: it does not beat epoll on corio's socket benchmarks yet (issue 17 has the
//!   figures).
//! - **Elsewhere**: `polling` (kqueue, event ports, IOCP, poll).
//!
//! # Unsafe code
//!
//! `polling` requires that a registered handle is deregistered before it is closed, which it
//! cannot check; the reactor holds the two `unsafe` blocks that rely on this, and `Async` keeps
//! the promise by deregistering in `Drop` and `into_inner` before the handle goes. The epoll
//! backend (`sys.rs`) wraps its system calls in `unsafe` blocks, each with its `SAFETY:` comment.
//! The io_uring backend (`uring.rs`) has three more kinds: the shared submission and completion
//! queue handles (each used only under its own lock), and pushing a receive, whose buffer is
//! owned by the operation until its completion is drained; a ring dropped with operations still
//! in flight cancels them and waits up to a second for their completions, and leaks (never
//! frees) the buffers of any that did not complete.
#![deny(unsafe_code)]

mod async_io;
mod reactor;
mod refuse;
mod sys;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
mod uring;

pub use async_io::{Async, IoWith, Ready};
pub use reactor::{ExternalWork, Reactor, ReactorDriver, ReactorGuard};
pub use refuse::{RefuseGuard, refuse_new_sources};

/// Makes every io_uring set up from now on in this process fail with `errno` (`None`: stop), so
/// that tests can check the fallback to epoll. Not part of the API: it exists for corio's own
/// tests.
#[cfg(all(target_os = "linux", feature = "io-uring"))]
#[doc(hidden)]
pub fn fail_io_uring_setup(errno: Option<i32>) {
    uring::force_setup_error(errno);
}

/// Makes every io_uring set up from now on in this process (until called with `false`) behave
/// as on a kernel before 5.19, which refuses `IORING_SETUP_COOP_TASKRUN`: the ring is then set
/// up without it. Not part of the API: it exists for corio's own tests.
#[cfg(all(target_os = "linux", feature = "io-uring"))]
#[doc(hidden)]
pub fn refuse_io_uring_coop_taskrun(on: bool) {
    uring::force_no_coop(on);
}

/// How many operation buffers dropped rings have leaked in this process (operations that did
/// not complete within a second of the ring's drop; their memory is never freed, since the
/// kernel might still write to it). Not part of the API: it exists for corio's own tests.
#[cfg(all(target_os = "linux", feature = "io-uring"))]
#[doc(hidden)]
pub fn io_uring_leaked_buffers() -> usize {
    uring::leaked_op_buffers()
}
