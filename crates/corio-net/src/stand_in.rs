//! The descriptor of a simulated socket.
//!
//! A socket of the simulated network (`corio::sim`) has no descriptor of its own, but code
//! written for real sockets reaches for one to set options (`socket2::SockRef::from(&stream)
//! .set_keepalive(true)`, say). Such a socket answers `as_fd` with a *stand-in*: an unconnected
//! socket of the same family and type, created the first time it is asked for and closed with
//! the socket. Options set on it are kept (and read back) but change nothing in the simulation;
//! operations on it fail as they fail on an unconnected socket (`ENOTCONN`).
//!
//! Invariants:
//! 1. A simulated socket makes no system call and holds no descriptor unless `as_fd` is called
//!    on it (a simulation of thousands of connections costs no descriptors).
//! 2. Every handle (clone) of one simulated socket sees the same stand-in, for the socket's life.

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::OnceLock;

use socket2::{Domain, Socket, Type};

/// A simulated socket's stand-in descriptor, created on first use (see the module docs).
#[derive(Default)]
pub(crate) struct StandIn(OnceLock<Socket>);

impl StandIn {
    /// The stand-in of a socket whose local address is `local`, of type `ty`.
    ///
    /// # Panics
    ///
    /// If the process cannot create a socket (out of descriptors): `AsFd` has no way to fail.
    pub(crate) fn fd(&self, local: SocketAddr, ty: Type) -> BorrowedFd<'_> {
        self.0
            .get_or_init(|| {
                Socket::new(Domain::for_address(local), ty, None).unwrap_or_else(|e| {
                    panic!(
                        "corio-net: a simulated socket has no descriptor, and its stand-in \
                         (an unconnected socket, for options) could not be created: {e}"
                    )
                })
            })
            .as_fd()
    }
}
