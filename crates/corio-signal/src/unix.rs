//! Listening for any Unix signal: [`signal`], [`Signal`], [`SignalKind`].
//!
//! # Invariants
//!
//! - A [`Signal`] owns one registered `signal-hook-registry` action and one socket pair. The
//!   action owns the write end; the `Signal` owns the read end (an `Async`). The action is
//!   registered last in [`signal`], after everything that can fail, and unregistered first in
//!   `Drop`, so it never writes to a closed or reused descriptor: `unregister` returns only once
//!   no handler can still run the old action, and the write end closes when the action is
//!   dropped.
//! - The action only calls `send(2)` (through `&UnixStream`'s `Write`, which neither allocates
//!   nor locks), an async-signal-safe call; the registry saves and restores `errno` around it.
//! - A byte in the socket means "at least one delivery not yet returned by `recv`". `recv`
//!   reads the socket before consulting the reactor (whose thread may not have seen the event
//!   yet), and returns `Some` exactly when it drained at least one byte, so a delivery is either still in
//!   the socket or has been returned; a dropped `recv` future takes nothing out of the socket
//!   without returning it.

use std::fmt;
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll};

use corio_reactor::Async;
use signal_hook_registry::SigId;

/// Which signal to listen for: a named constructor ([`terminate`](SignalKind::terminate), ...)
/// or any number through [`from_raw`](SignalKind::from_raw).
///
/// Creating a `SignalKind` never fails; [`signal`] checks it, and refuses forbidden and invalid
/// signals with an error.
///
/// # Examples
///
/// ```
/// use corio_signal::unix::SignalKind;
///
/// assert_eq!(SignalKind::terminate().as_raw_value(), libc::SIGTERM);
/// assert_eq!(SignalKind::from_raw(libc::SIGHUP), SignalKind::hangup());
/// assert_eq!(format!("{:?}", SignalKind::interrupt()), "SignalKind(SIGINT)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// Any signal, by number (for example a real-time signal, `libc::SIGRTMIN() + 1`).
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::from_raw(libc::SIGUSR1), SignalKind::user_defined1());
    /// ```
    pub const fn from_raw(signum: libc::c_int) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal's number.
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::child().as_raw_value(), libc::SIGCHLD);
    /// ```
    pub const fn as_raw_value(&self) -> libc::c_int {
        self.0
    }

    /// SIGINT: the terminal's interrupt key (Ctrl-C). See also [`ctrl_c`](crate::ctrl_c).
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::interrupt().as_raw_value(), libc::SIGINT);
    /// ```
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// SIGTERM: the polite request to stop (what `kill`, systemd and Kubernetes send first).
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::terminate().as_raw_value(), libc::SIGTERM);
    /// ```
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// SIGHUP: the terminal hung up; daemons use it as "reload your configuration".
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::hangup().as_raw_value(), libc::SIGHUP);
    /// ```
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// SIGQUIT: the terminal's quit key (Ctrl-\\).
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::quit().as_raw_value(), libc::SIGQUIT);
    /// ```
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// SIGUSR1, free for the application's own use.
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::user_defined1().as_raw_value(), libc::SIGUSR1);
    /// ```
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// SIGUSR2, free for the application's own use.
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::user_defined2().as_raw_value(), libc::SIGUSR2);
    /// ```
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// SIGCHLD: a child process stopped or exited.
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::child().as_raw_value(), libc::SIGCHLD);
    /// ```
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// SIGALRM: a timer set with `alarm(2)` or `setitimer(2)` expired.
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::alarm().as_raw_value(), libc::SIGALRM);
    /// ```
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    /// SIGPIPE: a write to a pipe or socket with no reader. (Rust programs ignore it by default,
    /// so writes fail with `BrokenPipe` instead; listening for it replaces that disposition.)
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::pipe().as_raw_value(), libc::SIGPIPE);
    /// ```
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// SIGWINCH: the terminal window changed size.
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::window_change().as_raw_value(), libc::SIGWINCH);
    /// ```
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }

    /// The signal's conventional name (`"SIGTERM"`), if it has one.
    ///
    /// ```
    /// use corio_signal::unix::SignalKind;
    /// assert_eq!(SignalKind::terminate().name(), Some("SIGTERM"));
    /// assert_eq!(SignalKind::from_raw(0).name(), None);
    /// ```
    pub fn name(&self) -> Option<&'static str> {
        NAMES
            .iter()
            .find(|&&(n, _)| n == self.0)
            .map(|&(_, name)| name)
    }
}

impl From<libc::c_int> for SignalKind {
    fn from(signum: libc::c_int) -> SignalKind {
        SignalKind(signum)
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "SignalKind({name})"),
            None => write!(f, "SignalKind({})", self.0),
        }
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "signal {}", self.0),
        }
    }
}

const NAMES: &[(libc::c_int, &str)] = &[
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGTRAP, "SIGTRAP"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGCHLD, "SIGCHLD"),
    (libc::SIGCONT, "SIGCONT"),
    (libc::SIGSTOP, "SIGSTOP"),
    (libc::SIGTSTP, "SIGTSTP"),
    (libc::SIGTTIN, "SIGTTIN"),
    (libc::SIGTTOU, "SIGTTOU"),
    (libc::SIGURG, "SIGURG"),
    (libc::SIGXCPU, "SIGXCPU"),
    (libc::SIGXFSZ, "SIGXFSZ"),
    (libc::SIGVTALRM, "SIGVTALRM"),
    (libc::SIGPROF, "SIGPROF"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGIO, "SIGIO"),
    (libc::SIGSYS, "SIGSYS"),
];

/// Signals that are never handled: the registry's `FORBIDDEN` list (SIGKILL and SIGSTOP cannot
/// be caught; SIGSEGV, SIGILL and SIGFPE are faults that a handler returning normally would
/// re-trigger forever), plus SIGBUS, a fault of the same kind.
fn forbidden(signum: libc::c_int) -> bool {
    signal_hook_registry::FORBIDDEN.contains(&signum) || signum == libc::SIGBUS
}

/// Starts listening for `kind`, from this call on.
///
/// The handler is installed and the listener registered before this returns, so a signal
/// raised right after the call is seen by the first [`recv`](Signal::recv), however late that
/// is. The listener uses the corio reactor current on this thread (the runtime's, or the
/// global one outside any runtime).
///
/// # Errors
///
/// An error of kind `InvalidInput` naming the signal for a forbidden signal (SIGKILL, SIGSTOP,
/// SIGSEGV, SIGILL, SIGFPE, SIGBUS) or a number that is no signal; an OS error (out of file
/// descriptors) otherwise. It never panics.
///
/// # Examples
///
/// ```
/// use corio_signal::unix::{signal, SignalKind};
///
/// # futures_lite::future::block_on(async {
/// let mut usr2 = signal(SignalKind::user_defined2())?;
/// // SAFETY: SIGUSR2 has a handler now; raising it only runs that handler.
/// unsafe { libc::raise(libc::SIGUSR2) };
/// assert_eq!(usr2.recv().await, Some(()));
///
/// let err = signal(SignalKind::from_raw(libc::SIGKILL)).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// assert!(err.to_string().contains("SIGKILL"));
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let signum = kind.0;
    if signum <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot listen for signal {signum}: not a signal number"),
        ));
    }
    if forbidden(signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot listen for {kind}: this signal cannot or must not be handled"),
        ));
    }
    let (rx, tx) = UnixStream::pair()?;
    tx.set_nonblocking(true)?;
    let rx = Async::new(rx)?;
    let action = move || {
        // A full buffer (EAGAIN) means a wake-up is already pending: dropping the byte is the
        // documented coalescing. No other error can be acted upon inside a handler.
        let _ = (&tx).write(&[1]);
    };
    // SAFETY: `action` is async-signal-safe: it calls only `send(2)` on a descriptor it owns
    // (std's `Write for &UnixStream` neither allocates nor locks), touches no other state, and
    // cannot panic. `signum` is not in `FORBIDDEN` (checked above), so `register` does not
    // panic.
    #[allow(unsafe_code)]
    let registered = unsafe { signal_hook_registry::register(signum, action) };
    let id = registered.map_err(|e| {
        let kind_of = match e.raw_os_error() {
            Some(libc::EINVAL) => io::ErrorKind::InvalidInput,
            _ => e.kind(),
        };
        io::Error::new(kind_of, format!("cannot listen for {kind}: {e}"))
    })?;
    Ok(Signal {
        kind,
        id: Some(id),
        rx,
    })
}

/// A listener for one signal, created by [`signal`].
///
/// [`recv`](Signal::recv) yields `Some(())` once for every delivery made since the listener was
/// created (deliveries between two polls coalesce into one). Any number of `Signal`s may listen
/// to the same signal; each sees every delivery. Dropping it unregisters the listener; the
/// process-wide handler stays installed (see the [crate docs](crate#guarantees)).
///
/// It also implements futures-core `Stream<Item = ()>`.
///
/// # Examples
///
/// ```
/// use corio_signal::unix::{signal, SignalKind};
///
/// # futures_lite::future::block_on(async {
/// let mut hup = signal(SignalKind::hangup())?;
/// assert_eq!(hup.kind(), SignalKind::hangup());
/// // SAFETY: SIGHUP has a handler now; raising it only runs that handler.
/// unsafe { libc::raise(libc::SIGHUP) };
/// hup.recv().await.expect("the reactor is alive");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct Signal {
    kind: SignalKind,
    id: Option<SigId>,
    rx: Async<UnixStream>,
}

impl Signal {
    /// Waits for the next delivery.
    ///
    /// Returns `Some(())` for one or more deliveries made since the previous `recv` returned (or
    /// since the listener was created). Polled where another reactor is current than the one it
    /// waits on (another runtime, outside any, or its runtime was dropped), the listener moves
    /// to the current one, so it keeps working in another runtime or outside any. `None` means
    /// no reactor can watch it any more: it is polled in the context of a runtime that has
    /// itself shut down, or the global reactor cannot start.
    ///
    /// Cancel-safe: dropping the future before it completes loses no delivery.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_signal::unix::{signal, SignalKind};
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut winch = signal(SignalKind::window_change())?;
    /// for _ in 0..3 {
    ///     // SAFETY: SIGWINCH has a handler now; raising it only runs that handler.
    ///     unsafe { libc::raise(libc::SIGWINCH) };
    /// }
    /// // Three deliveries before anyone looked: one wake-up.
    /// assert_eq!(winch.recv().await, Some(()));
    /// assert!(futures_lite::future::poll_once(winch.recv()).await.is_none());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn recv(&mut self) -> Recv<'_> {
        Recv { signal: self }
    }

    /// Polls for the next delivery; the poll form of [`recv`](Signal::recv).
    ///
    /// Only the waker of the most recent call is woken.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_signal::unix::{signal, SignalKind};
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut urg = signal(SignalKind::from_raw(libc::SIGURG))?;
    /// // SAFETY: SIGURG has a handler now; raising it only runs that handler.
    /// unsafe { libc::raise(libc::SIGURG) };
    /// let got = futures_lite::future::poll_fn(|cx| urg.poll_recv(cx)).await;
    /// assert_eq!(got, Some(()));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        // Look at the socket itself first: the handler may have written a moment ago, before
        // the reactor's thread saw the event, and a delivery already made must be returned now.
        match drain(self.rx.get_ref()) {
            Ok(()) => return Poll::Ready(Some(())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Poll::Ready(None),
        }
        if !self.rx.reactor().is_current() {
            // Polled where another reactor is current (another runtime, or this one's loop no
            // longer runs): only the current one is sure to be driven while this task waits (a
            // review: a listener made in an idle local runtime's `block_on` never woke in
            // `corio::run`). If the move fails, the old registration is kept.
            let _ = self.move_to_current_reactor();
        }
        match self.rx.poll_read_with(cx, drain) {
            Poll::Ready(Ok(())) => Poll::Ready(Some(())),
            Poll::Pending => Poll::Pending,
            // The only error left is the shutdown of the reactor the socket is registered with
            // (its runtime was dropped): the socket itself is fine, so watch it from the
            // reactor current now, once per poll.
            Poll::Ready(Err(_)) => match self.move_to_current_reactor() {
                Ok(()) => self.rx.poll_read_with(cx, drain).map(|r| r.ok()),
                Err(_) => Poll::Ready(None),
            },
        }
    }

    /// Registers the read end with the current reactor instead of the one it was created with.
    /// The descriptor is duplicated, so the write end (and the action) never see a change.
    fn move_to_current_reactor(&mut self) -> io::Result<()> {
        let fd = self.rx.get_ref().try_clone()?;
        // Dropping the old `Async` deregisters the old descriptor from the old reactor and
        // closes it; the duplicate keeps the socket open.
        self.rx = Async::new(fd)?;
        Ok(())
    }

    /// The signal this listener waits for.
    ///
    /// ```
    /// use corio_signal::unix::{signal, SignalKind};
    /// # fn main() -> std::io::Result<()> {
    /// let sig = signal(SignalKind::window_change())?;
    /// assert_eq!(sig.kind(), SignalKind::window_change());
    /// # Ok(()) }
    /// ```
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

/// Reads every pending byte; `Ok` if there was at least one, `WouldBlock` if there was none.
fn drain(mut rx: &UnixStream) -> io::Result<()> {
    let mut buf = [0u8; 64];
    let mut got = false;
    loop {
        match rx.read(&mut buf) {
            // The write end lives as long as the registration, which outlives every read.
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the signal pipe closed",
                ));
            }
            Ok(_) => got = true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return if got { Ok(()) } else { Err(e) };
            }
            Err(e) => return Err(e),
        }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            // Returns once no handler can run the action any more; the action, and with it the
            // write end, is dropped here. The read end closes after, when `rx` drops.
            signal_hook_registry::unregister(id);
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

impl futures_core::Stream for Signal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx)
    }
}

/// The future returned by [`Signal::recv`]. Dropping it loses no delivery.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Recv<'a> {
    signal: &'a mut Signal,
}

impl Future for Recv<'_> {
    type Output = Option<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().signal.poll_recv(cx)
    }
}

impl fmt::Debug for Recv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("kind", &self.signal.kind)
            .finish()
    }
}
