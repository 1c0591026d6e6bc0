//! Unix signals as futures on the corio reactor (asyncio's `loop.add_signal_handler`, tokio's
//! `tokio::signal`).
//!
//! - [`ctrl_c()`] waits for SIGINT: `ctrl_c().await` returns `Ok(())` once Ctrl-C is pressed.
//! - [`unix::signal`] gives a [`unix::Signal`] for any [`unix::SignalKind`];
//!   [`recv().await`](unix::Signal::recv) yields `Some(())` once per delivery.
//!
//! Re-exported by the facade as `corio::signal`.
//!
//! # Examples
//!
//! Stop a server on Ctrl-C or SIGTERM, whichever comes first:
//!
//! ```no_run
//! use corio_signal::unix::{signal, SignalKind};
//!
//! # futures_lite::future::block_on(async {
//! let ctrl_c = corio_signal::ctrl_c(); // listening from here on
//! let mut term = signal(SignalKind::terminate())?;
//! futures_lite::future::or(async { ctrl_c.await }, async {
//!     term.recv().await;
//!     Ok(())
//! })
//! .await?;
//! println!("shutting down");
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! A signal raised in the process (here with `libc::raise`) is seen by every listener created
//! before it:
//!
//! ```
//! use corio_signal::unix::{signal, SignalKind};
//!
//! # futures_lite::future::block_on(async {
//! let mut a = signal(SignalKind::user_defined1())?;
//! let mut b = signal(SignalKind::user_defined1())?;
//! // SAFETY: raising SIGUSR1, which has a handler now, only runs that handler.
//! unsafe { libc::raise(libc::SIGUSR1) };
//! assert_eq!(a.recv().await, Some(()));
//! assert_eq!(b.recv().await, Some(()));
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! # Guarantees
//!
//! - **Registration happens on the call.** [`ctrl_c()`] and [`unix::signal`] install the
//!   handler and the listener before they return, so a signal raised right after the call is
//!   never lost, even if the future is first polled much later.
//! - **Every listener sees every delivery** made after it was created, however many listen to
//!   the same signal. Deliveries made between two polls of one listener *coalesce*: a listener
//!   that was not waiting when a signal arrived three times sees one `Some(())`, as with
//!   asyncio's handlers and tokio's streams (the kernel itself merges pending standard signals).
//! - **Cancel safety.** Dropping a [`recv`](unix::Signal::recv) future (say, in a timeout) loses
//!   nothing: a delivery it did not return is returned by the next `recv`.
//! - **Bad input is an error, never a panic.** A signal that cannot or must not be handled
//!   (SIGKILL, SIGSTOP, SIGSEGV, SIGILL, SIGFPE, SIGBUS: `signal-hook-registry`'s `FORBIDDEN`
//!   list plus SIGBUS, another fault signal) or an invalid number is an
//!   [`io::Error`](std::io::Error) of kind `InvalidInput` whose message names the signal.
//! - **Dropping the last listener does not restore the default action.** The process-wide
//!   handler stays installed, and deliveries with no listener are ignored. This is deliberate: a
//!   service that stops listening for SIGINT/SIGTERM while it shuts down must not be killed
//!   mid-shutdown by a second Ctrl-C. A program that wants the second Ctrl-C to end it at once
//!   keeps listening and calls `std::process::exit` itself. A handler installed by someone else
//!   before corio's is chained: it still runs on every delivery.
//! - **No thread, any executor.** A listener is a socket pair: the signal handler writes a byte
//!   to its write end, and the read end is an `Async` registered with the corio reactor that is
//!   current when the listener is created (the runtime's, or outside any runtime the global one).
//!   A [`recv`](unix::Signal::recv) polled where another reactor is current (another runtime,
//!   outside any, or that reactor shut down with its runtime) first moves the socket to the
//!   current one, so a listener made in one runtime keeps working in the next one, or outside
//!   any, even while the first runtime lives on idle (a local runtime whose loop no longer
//!   runs); no delivery is lost in the move, since the bytes stay in the socket.
//!
//! # How it works
//!
//! Each listener registers its own action with `signal-hook-registry`, which installs one
//! `sigaction` handler per signal and calls every registered action from it,
//! async-signal-safely. The action does one thing: a non-blocking `send` of one byte on the
//! listener's socket pair (a full buffer means a wake-up is already pending, so the byte can be
//! dropped). `recv` drains the read end; if it read at least one byte there was a delivery,
//! otherwise it waits for readability on the reactor. Dropping a listener unregisters its action
//! (the registry waits until no handler still runs it) and then closes both ends.
//!
//! # Platform
//!
//! Unix only: on other targets this crate is empty.
#![deny(unsafe_code)]

#[cfg(unix)]
mod ctrl_c;
#[cfg(unix)]
pub mod unix;

#[cfg(unix)]
pub use ctrl_c::{CtrlC, ctrl_c};
