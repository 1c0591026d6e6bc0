//! [`Child`] and its pipes.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::{ExitStatus, Output, Stdio};
use std::task::{Context, Poll};

use corio_reactor::{Async, ExternalWork, Reactor};
use corio_signal::unix::{Signal, SignalKind, signal};
use futures_io::{AsyncRead, AsyncWrite};

use crate::reap;

/// A running (or finished) child process, created by [`Command::spawn`](crate::Command::spawn).
///
/// Its pipes are the public fields [`stdin`](Child::stdin), [`stdout`](Child::stdout) and
/// [`stderr`](Child::stderr) (`Some` for each stream configured as [`Stdio::piped`]); take them
/// out with `Option::take` to use them apart from the `Child`.
///
/// - [`wait`](Child::wait) is cancel-safe: a timeout around it leaves the `Child` usable, and
///   the next `wait` picks up where it stopped.
/// - Dropping a `Child` that has not been reaped does not wait: the child keeps running (or is
///   killed, with [`kill_on_drop`](crate::Command::kill_on_drop)) and is reaped in the
///   background when it exits, so it never stays a zombie.
///
/// [`Stdio::piped`]: crate::Stdio::piped
///
/// # Examples
///
/// ```
/// use corio_process::{Command, Stdio};
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
///
/// # futures_lite::future::block_on(async {
/// let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
/// let mut stdin = child.stdin.take().unwrap();
/// stdin.write_all(b"hello").await?;
/// stdin.close().await?; // EOF for cat
/// let mut out = String::new();
/// child.stdout.take().unwrap().read_to_string(&mut out).await?;
/// assert_eq!(out, "hello");
/// assert!(child.wait().await?.success());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct Child {
    /// The child's standard input, if it was configured as piped.
    pub stdin: Option<ChildStdin>,
    /// The child's standard output, if it was configured as piped.
    pub stdout: Option<ChildStdout>,
    /// The child's standard error, if it was configured as piped.
    pub stderr: Option<ChildStderr>,
    inner: std::process::Child,
    /// Set once the child has been reaped.
    status: Option<ExitStatus>,
    exit: Exit,
    kill_on_drop: bool,
}

/// How `wait` learns that the child exited.
enum Exit {
    /// A pidfd, registered with the reactor on the first `wait`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Pidfd(std::os::fd::OwnedFd),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    PidfdRegistered(Async<std::os::fd::OwnedFd>),
    /// No pidfd: a SIGCHLD listener, created on the first `wait`.
    Sigchld(Option<Signal>),
    /// Reaped: nothing to wait for.
    Done,
}

impl Child {
    /// Wraps a just-spawned child. If its pipes cannot be registered with the reactor, the
    /// error is returned and the `Child` dropped: killed if `kill_on_drop`, reaped either way.
    pub(crate) fn new(
        mut inner: std::process::Child,
        use_pidfd: bool,
        kill_on_drop: bool,
    ) -> io::Result<Child> {
        let (stdin, stdout, stderr) =
            (inner.stdin.take(), inner.stdout.take(), inner.stderr.take());
        let exit = if use_pidfd {
            open_pidfd(inner.id())
        } else {
            Exit::Sigchld(None)
        };
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            inner,
            status: None,
            exit,
            kill_on_drop,
        };
        child.stdin = stdin.map(ChildStdin::new).transpose()?;
        child.stdout = stdout.map(ChildStdout::new).transpose()?;
        child.stderr = stderr.map(ChildStderr::new).transpose()?;
        Ok(child)
    }

    /// The OS process id, or `None` once the child has been reaped (its pid may then belong to
    /// another process).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_process::Command;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut child = Command::new("true").spawn()?;
    /// assert!(child.id().is_some());
    /// child.wait().await?;
    /// assert_eq!(child.id(), None);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn id(&self) -> Option<u32> {
        match self.status {
            Some(_) => None,
            None => Some(self.inner.id()),
        }
    }

    /// Waits for the child to exit and reaps it; returns its exit status.
    ///
    /// As with std and tokio, the child's stdin, if still held in [`stdin`](Child::stdin), is
    /// closed (dropped) first, so a child that reads its input to the end cannot wait for us
    /// while we wait for it. Take it out of the field first to keep writing while waiting.
    ///
    /// Cancel-safe: dropping the future (say, in a timeout) leaves the `Child` as it was (apart
    /// from that closed stdin), and a later `wait` returns the status. Once reaped, `wait` returns the same status again at
    /// once.
    ///
    /// # Errors
    ///
    /// An OS error from `waitpid`, or an error if the reactor the child's exit is watched with
    /// shut down, or if there is no way to watch it: no pidfd (the kernel refused one at the
    /// spawn, for example with no descriptor left) and no SIGCHLD listener either (the error
    /// says which; a later `wait` tries again).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_process::Command;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn()?;
    /// assert_eq!(child.wait().await?.code(), Some(3));
    /// assert_eq!(child.wait().await?.code(), Some(3)); // the same status again
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn wait(&mut self) -> Wait<'_> {
        Wait {
            child: self,
            awaited: None,
        }
    }

    /// The poll form of [`wait`](Child::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_process::Command;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut child = Command::new("true").spawn()?;
    /// let status = futures_lite::future::poll_fn(|cx| child.poll_wait(cx)).await?;
    /// assert!(status.success());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        drop(self.stdin.take());
        // Whether a source was moved off a reactor that shut down, in this poll (at most once).
        let mut reregistered = false;
        let result = loop {
            match &mut self.exit {
                #[cfg(any(target_os = "linux", target_os = "android"))]
                Exit::Pidfd(_) => {
                    let Exit::Pidfd(fd) = std::mem::replace(&mut self.exit, Exit::Done) else {
                        unreachable!()
                    };
                    match Async::new_nonblocking(fd) {
                        Ok(fd) => self.exit = Exit::PidfdRegistered(fd),
                        // No reactor to watch it with: fall back to SIGCHLD.
                        Err(_) => self.exit = Exit::Sigchld(None),
                    }
                }
                #[cfg(any(target_os = "linux", target_os = "android"))]
                Exit::PidfdRegistered(fd) if !fd.reactor().is_current() => {
                    // Polled where another reactor is current (another runtime, or the loop of
                    // this one no longer runs): watch the pidfd from the current one, which is
                    // driven while this task waits (a review: a child first waited in an idle
                    // local runtime's `block_on` was never seen to exit under `corio::run`).
                    let Exit::PidfdRegistered(fd) = std::mem::replace(&mut self.exit, Exit::Done)
                    else {
                        unreachable!()
                    };
                    self.exit = match fd.into_inner() {
                        Ok(fd) => Exit::Pidfd(fd),
                        Err(_) => Exit::Sigchld(None),
                    };
                }
                #[cfg(any(target_os = "linux", target_os = "android"))]
                Exit::PidfdRegistered(fd) => {
                    let inner = &mut self.inner;
                    let mut wait_failed = false;
                    // `try_wait` is the pidfd's "read": `None` means not yet, which clears the
                    // readiness and waits for the next edge.
                    let polled = fd.poll_read_with(cx, |_| match inner.try_wait() {
                        Ok(Some(status)) => Ok(status),
                        Ok(None) => Err(io::ErrorKind::WouldBlock.into()),
                        Err(e) => {
                            wait_failed = true;
                            Err(e)
                        }
                    });
                    match polled {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(_)) if !wait_failed && !reregistered => {
                            // The reactor it was registered with shut down (its runtime is
                            // gone): watch the pidfd from the current reactor instead.
                            reregistered = true;
                            let Exit::PidfdRegistered(fd) =
                                std::mem::replace(&mut self.exit, Exit::Done)
                            else {
                                unreachable!()
                            };
                            self.exit = match fd.into_inner() {
                                Ok(fd) => Exit::Pidfd(fd),
                                Err(_) => Exit::Sigchld(None),
                            };
                        }
                        Poll::Ready(result) => break result,
                    }
                }
                Exit::Sigchld(listener) => {
                    if listener.is_none() {
                        // Listening before the first `try_wait`, so an exit after it is seen.
                        match signal(SignalKind::child()) {
                            Ok(l) => *listener = Some(l),
                            Err(e) => {
                                break Err(io::Error::new(
                                    e.kind(),
                                    format!(
                                        "cannot wait for child {}: its exit cannot be watched \
                                         (it has no pidfd, and listening for SIGCHLD failed: {e})",
                                        self.inner.id()
                                    ),
                                ));
                            }
                        }
                    }
                    match self.inner.try_wait() {
                        Ok(Some(status)) => break Ok(status),
                        Ok(None) => {}
                        Err(e) => break Err(e),
                    }
                    let polled = listener.as_mut().expect("created above").poll_recv(cx);
                    match polled {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Some(())) => {}
                        Poll::Ready(None) if !reregistered => {
                            // The listener's reactor shut down (its runtime is gone): listen
                            // again from the current one.
                            reregistered = true;
                            *listener = None;
                        }
                        Poll::Ready(None) => {
                            break Err(io::Error::other(
                                "cannot wait for the child: the reactor watching SIGCHLD shut down",
                            ));
                        }
                    }
                }
                Exit::Done => match self.inner.try_wait() {
                    Ok(Some(status)) => break Ok(status),
                    Ok(None) => self.exit = Exit::Sigchld(None),
                    Err(e) => break Err(e),
                },
            }
        };
        if let Ok(status) = result {
            self.status = Some(status);
            self.exit = Exit::Done;
        }
        Poll::Ready(result)
    }

    /// Reaps the child if it has exited, without waiting.
    ///
    /// Returns `Ok(None)` while it runs, and its status once it has exited (then and on every
    /// later call).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_process::Command;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut child = Command::new("sleep").arg("10").spawn()?;
    /// assert_eq!(child.try_wait()?, None);
    /// child.kill().await?;
    /// assert!(child.try_wait()?.is_some());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// An OS error from `waitpid`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let status = self.inner.try_wait()?;
        if let Some(status) = status {
            self.status = Some(status);
            self.exit = Exit::Done;
        }
        Ok(status)
    }

    /// Sends SIGKILL to the child, without waiting for it to exit.
    ///
    /// Does nothing if the child has already been reaped. Follow it with
    /// [`wait`](Child::wait) (or use [`kill`](Child::kill)) to reap the child.
    ///
    /// # Errors
    ///
    /// An OS error from `kill`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_process::Command;
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut child = Command::new("sleep").arg("10").spawn()?;
    /// child.start_kill()?;
    /// assert_eq!(child.wait().await?.signal(), Some(libc::SIGKILL));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        // std sends SIGKILL only to a child it has not reaped, so the pid cannot be reused.
        self.inner.kill()
    }

    /// Sends SIGKILL to the child and waits until it has been reaped.
    ///
    /// Cancel-safe in the way [`wait`](Child::wait) is: if the future is dropped after the
    /// signal was sent, the child is killed but may not be reaped yet; `wait` (or dropping the
    /// `Child`) finishes the job.
    ///
    /// # Errors
    ///
    /// An OS error from `kill` or `waitpid`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_process::Command;
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut child = Command::new("sleep").arg("10").spawn()?;
    /// child.kill().await?;
    /// assert_eq!(child.id(), None); // reaped
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await?;
        Ok(())
    }

    /// Closes stdin, reads stdout and stderr to the end (at the same time, so a child that
    /// fills one pipe while the other is being read never deadlocks) and reaps the child.
    ///
    /// Streams that were not piped, or were taken out of the `Child`, come back empty.
    ///
    /// # Errors
    ///
    /// An I/O error from a pipe, or the error of [`wait`](Child::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_process::{Command, Stdio};
    ///
    /// # futures_lite::future::block_on(async {
    /// let child = Command::new("sh")
    ///     .args(["-c", "echo out; echo err >&2"])
    ///     .stdout(Stdio::piped())
    ///     .stderr(Stdio::piped())
    ///     .spawn()?;
    /// let output = child.wait_with_output().await?;
    /// assert_eq!(output.stdout, b"out\n");
    /// assert_eq!(output.stderr, b"err\n");
    /// assert!(output.status.success());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let stdout = read_all(self.stdout.take());
        let stderr = read_all(self.stderr.take());
        let ((stdout, stderr), status) = futures_lite::future::try_zip(
            futures_lite::future::try_zip(stdout, stderr),
            self.wait(),
        )
        .await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// Reads a pipe to its end. (Not `read_to_end`, which zero-fills the vector's spare capacity
/// again on every poll that waits: quadratic on a large output arriving in pipe-sized pieces.)
async fn read_all<R: AsyncRead + Unpin>(reader: Option<R>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let Some(mut reader) = reader else {
        return Ok(out);
    };
    // A pipe holds 64 KiB by default; on the heap, so the future stays small.
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match futures_lite::AsyncReadExt::read(&mut reader, &mut buf).await {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn open_pidfd(pid: u32) -> Exit {
    use std::sync::atomic::{AtomicBool, Ordering};
    // Once `pidfd_open` is refused (old kernel, seccomp), stop asking.
    static UNSUPPORTED: AtomicBool = AtomicBool::new(false);
    if UNSUPPORTED.load(Ordering::Relaxed) {
        return Exit::Sigchld(None);
    }
    match crate::sys::pidfd_open(pid) {
        Ok(fd) => Exit::Pidfd(fd),
        Err(e) => {
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOSYS | libc::EPERM | libc::EACCES)
            ) {
                UNSUPPORTED.store(true, Ordering::Relaxed);
            }
            Exit::Sigchld(None)
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn open_pidfd(_pid: u32) -> Exit {
    Exit::Sigchld(None)
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        match self.inner.try_wait() {
            Ok(Some(_)) => return,
            // Not our child any more: someone else reaped it (a `waitpid(-1)` elsewhere, or
            // SIGCHLD set to `SIG_IGN`). Its pid may already belong to another process, which
            // must be neither killed nor reaped.
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return,
            _ => {}
        }
        if self.kill_on_drop {
            let _ = self.inner.kill();
        }
        // Not reaped yet: the orphan table reaps it when it exits. If even that is impossible
        // (no SIGCHLD handler), the child is left to be reaped when this process exits.
        let _ = reap::adopt(self.inner.id());
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.inner.id())
            .field("status", &self.status)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}

/// The future returned by [`Child::wait`]. Dropping it leaves the `Child` usable.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Wait<'a> {
    child: &'a mut Child,
    /// While this wait is pending: the child counts as real work awaited on the waiting
    /// runtime's reactor, so that a runtime on virtual time holds its clock (for a while) until
    /// the child exits, as it does for a blocking job (a probe saw a virtual 5 s timeout fire
    /// around a child that takes 0.3 s of real time). Released when the wait completes or is
    /// dropped; the poll form, [`Child::poll_wait`], holds nothing.
    awaited: Option<ExternalWork>,
}

impl Future for Wait<'_> {
    type Output = io::Result<ExitStatus>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        let this = self.get_mut();
        let poll = this.child.poll_wait(cx);
        if poll.is_pending() {
            if this.awaited.is_none() {
                this.awaited = Reactor::current().ok().map(|r| r.external_work());
            }
        } else {
            this.awaited = None;
        }
        poll
    }
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").field("child", &self.child).finish()
    }
}

/// The child's standard input: a non-blocking pipe on the corio reactor, with futures-io
/// [`AsyncWrite`].
///
/// [`close`](futures_lite::AsyncWriteExt::close) closes the pipe, so the child reads end of
/// file; later writes fail with `BrokenPipe`. Dropping it closes the pipe too.
///
/// A write after the child closed its end (it exited, or stopped reading) fails with
/// `BrokenPipe`: Rust programs ignore SIGPIPE, and nothing in corio changes that. (A host
/// program that restored SIGPIPE's default action, such as a C program embedding Rust code,
/// would be killed by such a write instead, as with std's pipes.)
///
/// # Examples
///
/// ```
/// use corio_process::{Command, Stdio};
/// use futures_lite::AsyncWriteExt;
///
/// # futures_lite::future::block_on(async {
/// let mut child = Command::new("sh")
///     .args(["-c", "read line; test \"$line\" = ping"])
///     .stdin(Stdio::piped())
///     .spawn()?;
/// let mut stdin = child.stdin.take().unwrap();
/// stdin.write_all(b"ping\n").await?;
/// stdin.close().await?;
/// assert!(child.wait().await?.success());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct ChildStdin {
    pipe: Option<Async<std::process::ChildStdin>>,
}

impl ChildStdin {
    fn new(pipe: std::process::ChildStdin) -> io::Result<ChildStdin> {
        Ok(ChildStdin {
            pipe: Some(Async::new(pipe)?),
        })
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the child's stdin was closed")
}

impl AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().pipe {
            Some(pipe) => Pin::new(pipe).poll_write(cx, buf),
            None => Poll::Ready(Err(closed())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().pipe {
            Some(pipe) => Pin::new(pipe).poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A pipe has no buffer of ours to flush.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().pipe = None;
        Poll::Ready(Ok(()))
    }
}

impl TryFrom<ChildStdin> for Stdio {
    type Error = io::Error;

    /// Turns the pipe back into a blocking handle to give to another child as its stdout or
    /// stderr (a pipeline). Fails if the pipe was closed.
    fn try_from(stdin: ChildStdin) -> io::Result<Stdio> {
        let pipe = stdin.pipe.ok_or_else(closed)?;
        Ok(Stdio::from(blocking(pipe)?))
    }
}

/// Deregisters `pipe` from the reactor and clears `O_NONBLOCK`, which is shared with any process
/// the descriptor is passed to.
fn blocking<T: std::os::fd::AsFd>(pipe: Async<T>) -> io::Result<T> {
    let pipe = pipe.into_inner()?;
    socket2::SockRef::from(&pipe).set_nonblocking(false)?;
    Ok(pipe)
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("open", &self.pipe.is_some())
            .finish()
    }
}

macro_rules! reader {
    ($name:ident, $std:ty, $what:literal) => {
        #[doc = concat!("The child's standard ", $what, ": a non-blocking pipe on the corio reactor, with futures-io [`AsyncRead`].")]
        ///
        /// # Examples
        ///
        /// ```
        /// use corio_process::{Command, Stdio};
        /// use futures_lite::AsyncReadExt;
        ///
        /// # futures_lite::future::block_on(async {
        /// let mut child = Command::new("sh")
        ///     .args(["-c", "echo hi; echo hi >&2"])
        ///     .stdout(Stdio::piped())
        ///     .stderr(Stdio::piped())
        ///     .spawn()?;
        /// let mut out = String::new();
        /// child.stdout.take().unwrap().read_to_string(&mut out).await?;
        /// let mut err = String::new();
        /// child.stderr.take().unwrap().read_to_string(&mut err).await?;
        /// assert_eq!((out.as_str(), err.as_str()), ("hi\n", "hi\n"));
        /// child.wait().await?;
        /// # std::io::Result::Ok(()) }).unwrap();
        /// ```
        pub struct $name {
            pipe: Async<$std>,
        }

        impl $name {
            fn new(pipe: $std) -> io::Result<$name> {
                Ok($name {
                    pipe: Async::new(pipe)?,
                })
            }
        }

        impl AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().pipe).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [io::IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().pipe).poll_read_vectored(cx, bufs)
            }
        }

        impl TryFrom<$name> for Stdio {
            type Error = io::Error;

            /// Turns the pipe back into a blocking handle to give to another child as its
            /// stdin (a pipeline).
            ///
            /// # Examples
            ///
            /// ```
            /// use corio_process::{Command, Stdio};
            ///
            /// # futures_lite::future::block_on(async {
            /// let mut echo = Command::new("echo").arg("piped along").stdout(Stdio::piped()).spawn()?;
            /// let stdout = echo.stdout.take().unwrap();
            /// let out = Command::new("tr").args(["a-z", "A-Z"]).stdin(Stdio::try_from(stdout)?).output().await?;
            /// assert_eq!(out.stdout, b"PIPED ALONG\n");
            /// echo.wait().await?;
            /// # std::io::Result::Ok(()) }).unwrap();
            /// ```
            fn try_from(pipe: $name) -> io::Result<Stdio> {
                Ok(Stdio::from(blocking(pipe.pipe)?))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

reader!(ChildStdout, std::process::ChildStdout, "output");
reader!(ChildStderr, std::process::ChildStderr, "error");
