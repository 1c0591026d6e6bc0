//! Subprocesses on the corio reactor (asyncio's `create_subprocess_exec`, tokio's
//! `tokio::process`).
//!
//! [`Command`] is std's builder; its children are [`Child`]ren whose pipes are futures-io
//! streams registered with the corio reactor and whose exit is awaited, never blocked on.
//! Re-exported by the facade as `corio::process`.
//!
//! # Examples
//!
//! Run a command and collect its output (asyncio's `communicate()`):
//!
//! ```
//! use corio_process::Command;
//!
//! # futures_lite::future::block_on(async {
//! let output = Command::new("sh").args(["-c", "echo hello; exit 2"]).output().await?;
//! assert_eq!(output.stdout, b"hello\n");
//! assert_eq!(output.status.code(), Some(2));
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! Talk to a child through its pipes, writing and reading at the same time:
//!
//! ```
//! use corio_process::{Command, Stdio};
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//!
//! # futures_lite::future::block_on(async {
//! let mut child = Command::new("tr")
//!     .args(["a-z", "A-Z"])
//!     .stdin(Stdio::piped())
//!     .stdout(Stdio::piped())
//!     .spawn()?;
//! let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
//! let write = async move {
//!     stdin.write_all(b"shout").await?;
//!     stdin.close().await // end of file for `tr`
//! };
//! let read = async move {
//!     let mut s = String::new();
//!     stdout.read_to_string(&mut s).await?;
//!     Ok(s)
//! };
//! let ((), upper) = futures_lite::future::try_zip(write, read).await?;
//! assert_eq!(upper, "SHOUT");
//! assert!(child.wait().await?.success());
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! Bound a child's run time: `wait` is cancel-safe, so a timeout around it leaves the `Child`
//! usable, here to kill it:
//!
//! ```
//! use corio_process::Command;
//! use futures_lite::FutureExt;
//! use std::time::Duration;
//!
//! # futures_lite::future::block_on(async {
//! let mut child = Command::new("sleep").arg("10").spawn()?;
//! let deadline = async {
//!     futures_lite::future::yield_now().await; // stands in for corio::sleep(..)
//!     Err(std::io::Error::from(std::io::ErrorKind::TimedOut))
//! };
//! let timed_out = child.wait().or(deadline).await.is_err();
//! assert!(timed_out);
//! child.kill().await?; // SIGKILL, then reaped
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! # Guarantees
//!
//! - **No zombies.** `wait`, `kill`, `status`, `output` and `wait_with_output` reap the child.
//!   A [`Child`] dropped before it was reaped is handed to a process-wide *orphan table* and
//!   reaped as soon as it exits (see [Reaping](#reaping)); with
//!   [`kill_on_drop(true)`](Command::kill_on_drop) it is killed first.
//! - **Cancel safety.** Dropping a [`Child::wait`] future changes nothing: the next `wait` (or
//!   `try_wait`) returns the status. Dropping an `output()`/`status()`/`wait_with_output()`
//!   future drops its `Child` (see above).
//! - **No deadlock on large output.** `output` and `wait_with_output` read stdout and stderr
//!   at the same time, and the pipes are non-blocking, so a writer and a reader in the same
//!   task (joined, as above) make progress together.
//! - **Pipelines.** A child's pipe converts back into a blocking [`Stdio`] for another child
//!   (`Stdio::try_from(child.stdout.take().unwrap())?`), so `a | b` needs no copying through
//!   this process.
//! - **Errors name the program.** A spawn error keeps std's [`io::ErrorKind`](std::io::ErrorKind)
//!   (a missing program is `NotFound`) and its message names the program.
//!
//! # Reaping
//!
//! No thread is started, neither per child nor for the crate:
//!
//! - On Linux 5.3+ each child gets a *pidfd* (`pidfd_open`), registered with the corio reactor
//!   on the first `wait`; it becomes readable when the child exits. A `wait` polled where
//!   another reactor is current (another runtime, outside any, or its first runtime lives on
//!   idle or was dropped) registers it with the current one first.
//! - Elsewhere, or where `pidfd_open` is refused (seccomp), `wait` listens for SIGCHLD through
//!   `corio-signal` and checks its child on every SIGCHLD. That costs one socket pair per
//!   waiting child, and every SIGCHLD wakes every waiting child: fine for tens of children at
//!   once, quadratic for thousands.
//! - Orphans (dropped, unreaped children) are reaped from a SIGCHLD action that runs in the
//!   signal handler itself: `waitpid(pid, WNOHANG)` for each orphan, which is async-signal-safe.
//!   It therefore works with no runtime at all, and even after every runtime is gone. The
//!   action is installed (through `signal-hook-registry`, chaining any earlier SIGCHLD handler)
//!   the first time a child is orphaned.
//!
//! A process that sets SIGCHLD to `SIG_IGN` has its children reaped by the kernel; `wait` then
//! reports the OS error `ECHILD`, as std does, and a `Child` dropped unreaped is left to the
//! kernel: no SIGCHLD action is installed, which would end the kernel's reaping for every later
//! child (std's too). (Without pidfds, `wait` itself listens for SIGCHLD, which does install
//! one.)
//!
//! While a `wait` (or `status`, `output`, `wait_with_output`) is pending, the child counts as
//! real work awaited on the waiting runtime's reactor
//! ([`Reactor::external_work`](corio_reactor::Reactor::external_work)): a runtime on virtual
//! time (the facade's deterministic mode) holds its clock until the child exits, as it does for
//! a blocking job, so a virtual timeout around a child does not fire before the child's real
//! run ends; but for at most a second of real time, after which the clock moves again (the
//! child may itself wait for the loop: its stdin written by a task that sleeps). A child nobody
//! waits for holds nothing, nor does the poll form [`Child::poll_wait`].
//!
//! # Platform
//!
//! Unix only: on other targets this crate is empty.
#![deny(unsafe_code)]

#[cfg(unix)]
mod child;
#[cfg(unix)]
mod command;
#[cfg(unix)]
mod reap;
#[cfg(unix)]
mod sys;

#[cfg(unix)]
pub use child::{Child, ChildStderr, ChildStdin, ChildStdout, Wait};
#[cfg(unix)]
pub use command::Command;
/// How a child's stdin, stdout or stderr is set up: std's own type.
pub use std::process::Stdio;
#[cfg(unix)]
pub use std::process::{ExitStatus, Output};

#[cfg(all(test, unix))]
mod tests;
