//! Refusing real file descriptors on a thread: inside a deterministic simulation
//! (`corio::sim`), a socket or pipe registered with the reactor would make a real system call
//! that the simulation cannot replay, so [`Async::new`](crate::Async::new) fails there instead.

use std::cell::Cell;
use std::io;

thread_local! {
    static REFUSING: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Fails if this thread refuses new sources.
pub(crate) fn check() -> io::Result<()> {
    match REFUSING.try_with(Cell::get).ok().flatten() {
        None => Ok(()),
        Some(why) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("a real file descriptor cannot be registered {why}"),
        )),
    }
}

/// Makes [`Async::new`](crate::Async::new) and
/// [`Async::new_nonblocking`](crate::Async::new_nonblocking) fail on this thread with
/// `ErrorKind::Unsupported` (the message ends with `why`) until the guard is dropped. Sources
/// that exist already keep working. Meant for deterministic simulations.
///
/// # Examples
///
/// ```
/// use corio_reactor::Async;
///
/// let guard = corio_reactor::refuse_new_sources("inside this test");
/// let err = Async::new(std::net::UdpSocket::bind("127.0.0.1:0")?).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
/// assert!(err.to_string().ends_with("inside this test"));
/// drop(guard);
/// assert!(Async::new(std::net::UdpSocket::bind("127.0.0.1:0")?).is_ok());
/// # std::io::Result::Ok(())
/// ```
pub fn refuse_new_sources(why: &'static str) -> RefuseGuard {
    let prev = REFUSING.try_with(|c| c.replace(Some(why))).ok().flatten();
    RefuseGuard {
        prev,
        _not_send: std::marker::PhantomData,
    }
}

/// Restores the previous setting of this thread when dropped; see [`refuse_new_sources`].
///
/// # Examples
///
/// ```
/// let _refusing = corio_reactor::refuse_new_sources("here");
/// ```
#[derive(Debug)]
#[must_use = "the thread refuses new sources only while the guard is alive"]
pub struct RefuseGuard {
    prev: Option<&'static str>,
    /// `!Send`: the guard restores *this* thread's setting.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for RefuseGuard {
    fn drop(&mut self) {
        let _ = REFUSING.try_with(|c| c.set(self.prev));
    }
}
