//! [`ctrl_c()`]: wait for SIGINT.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::unix::{Signal, SignalKind, signal};

/// Waits for Ctrl-C (SIGINT), listening from the moment of the call.
///
/// `ctrl_c()` registers the listener before it returns, so a SIGINT raised right after the
/// call, before the future is first polled, is not lost. The future resolves to `Ok(())` on the
/// first SIGINT delivered after the call.
///
/// Once the future is dropped the process keeps ignoring SIGINT instead of dying on it (see the
/// [crate docs](crate#guarantees)); call `ctrl_c()` again to wait for the next one.
///
/// # Errors
///
/// The error of [`signal`] if the listener could not be created (out of file descriptors), or
/// an error if no reactor can watch it any more (it is polled in the context of a runtime that
/// has shut down; see [`Signal::recv`](crate::unix::Signal::recv)).
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let ctrl_c = corio_signal::ctrl_c(); // listening from here on
/// // SAFETY: SIGINT has corio's handler now; raising it only runs that handler.
/// unsafe { libc::raise(libc::SIGINT) };
/// ctrl_c.await?; // resolves at once: the SIGINT above was not lost
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn ctrl_c() -> CtrlC {
    CtrlC {
        state: match signal(SignalKind::interrupt()) {
            Ok(signal) => State::Listening(signal),
            Err(e) => State::Failed(Some(e)),
        },
    }
}

/// The future returned by [`ctrl_c()`]. Dropping it stops listening.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct CtrlC {
    state: State,
}

enum State {
    Listening(Signal),
    /// Registration failed; the error is handed out by the first poll.
    Failed(Option<io::Error>),
}

impl Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Listening(signal) => signal.poll_recv(cx).map(|got| {
                got.ok_or_else(|| {
                    io::Error::other(
                        "ctrl_c: no reactor can watch for SIGINT (polled inside a runtime that shut down)",
                    )
                })
            }),
            State::Failed(e) => Poll::Ready(Err(e.take().unwrap_or_else(|| {
                io::Error::other("ctrl_c: the future was polled after it completed")
            }))),
        }
    }
}

impl fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let listening = matches!(self.state, State::Listening(_));
        f.debug_struct("CtrlC")
            .field("listening", &listening)
            .finish()
    }
}
