//! [`Command`]: std's builder, spawning a [`Child`] on the corio reactor.

use std::ffi::OsStr;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use crate::child::Child;

/// A process builder, as [`std::process::Command`], whose children are waited for
/// asynchronously.
///
/// The builder methods take and return `&mut Command`, as std's do, so calls chain and a
/// `Command` can spawn several children. Anything std's builder can do that this one does not
/// name (`uid`, `process_group`, `pre_exec`, ...) is reached through
/// [`as_std_mut`](Command::as_std_mut).
///
/// # Examples
///
/// ```
/// use corio_process::Command;
///
/// # futures_lite::future::block_on(async {
/// let output = Command::new("echo").arg("hello").output().await?;
/// assert_eq!(output.stdout, b"hello\n");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    // Which streams the caller set, so that `output` can default the others as std does.
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
    use_pidfd: bool,
}

impl Command {
    /// A command that runs `program`, looked up in `PATH` if it has no `/`, with no arguments,
    /// the parent's environment and working directory, and (for [`spawn`](Command::spawn) and
    /// [`status`](Command::status)) the parent's stdin, stdout and stderr.
    ///
    /// ```
    /// use corio_process::Command;
    /// let cmd = Command::new("ls");
    /// assert_eq!(cmd.as_std().get_program(), "ls");
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    ///
    /// ```
    /// use corio_process::Command;
    /// # futures_lite::future::block_on(async {
    /// let out = Command::new("echo").arg("-n").arg("hi").output().await?;
    /// assert_eq!(out.stdout, b"hi");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds several arguments.
    ///
    /// ```
    /// use corio_process::Command;
    /// # futures_lite::future::block_on(async {
    /// let out = Command::new("echo").args(["a", "b"]).output().await?;
    /// assert_eq!(out.stdout, b"a b\n");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// ```
    /// use corio_process::Command;
    /// # futures_lite::future::block_on(async {
    /// let out = Command::new("sh").args(["-c", "echo $GREETING"]).env("GREETING", "hi").output().await?;
    /// assert_eq!(out.stdout, b"hi\n");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets several environment variables for the child.
    ///
    /// ```
    /// use corio_process::Command;
    /// # futures_lite::future::block_on(async {
    /// let out = Command::new("sh")
    ///     .args(["-c", "echo $A$B"])
    ///     .envs([("A", "1"), ("B", "2")])
    ///     .output()
    ///     .await?;
    /// assert_eq!(out.stdout, b"12\n");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// ```
    /// use corio_process::Command;
    /// # futures_lite::future::block_on(async {
    /// let out = Command::new("sh")
    ///     .args(["-c", "echo ${A-unset}"])
    ///     .env("A", "1")
    ///     .env_remove("A")
    ///     .output()
    ///     .await?;
    /// assert_eq!(out.stdout, b"unset\n");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Clears the child's environment (variables set after this call are still passed).
    ///
    /// ```
    /// use corio_process::Command;
    /// # futures_lite::future::block_on(async {
    /// let out = Command::new("/bin/sh")
    ///     .args(["-c", "echo ${HOME-none}"])
    ///     .env_clear()
    ///     .output()
    ///     .await?;
    /// assert_eq!(out.stdout, b"none\n");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    ///
    /// ```
    /// use corio_process::Command;
    /// # futures_lite::future::block_on(async {
    /// let out = Command::new("pwd").current_dir("/").output().await?;
    /// assert_eq!(out.stdout, b"/\n");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// Sets the child's stdin: [`Stdio::piped`] gives [`Child::stdin`], [`Stdio::null`] an
    /// empty input, [`Stdio::inherit`] the parent's (the default, except for
    /// [`output`](Command::output), which defaults to null).
    ///
    /// ```
    /// use corio_process::{Command, Stdio};
    /// # futures_lite::future::block_on(async {
    /// let mut child = Command::new("cat").stdin(Stdio::piped()).spawn()?;
    /// assert!(child.stdin.is_some());
    /// drop(child.stdin.take()); // EOF: cat exits
    /// child.wait().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Sets the child's stdout (default: inherited; for [`output`](Command::output), piped).
    ///
    /// ```
    /// use corio_process::{Command, Stdio};
    /// # futures_lite::future::block_on(async {
    /// // Discard stdout even in `output`.
    /// let out = Command::new("echo").arg("hi").stdout(Stdio::null()).output().await?;
    /// assert!(out.stdout.is_empty());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Sets the child's stderr (default: inherited; for [`output`](Command::output), piped).
    ///
    /// ```
    /// use corio_process::{Command, Stdio};
    /// # futures_lite::future::block_on(async {
    /// let out = Command::new("sh").args(["-c", "echo oops >&2"]).stderr(Stdio::null()).output().await?;
    /// assert!(out.stderr.is_empty());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Whether a [`Child`] dropped before it was reaped is killed (SIGKILL). Default: `false`.
    ///
    /// Either way a dropped child is reaped in the background once it exits, so it never stays
    /// a zombie; with `kill_on_drop(true)` it also does not outlive its `Child`. This applies
    /// to the futures of [`output`](Command::output) and [`status`](Command::status) too:
    /// dropping one (say, in a timeout) drops its child.
    ///
    /// ```
    /// use corio_process::Command;
    /// # futures_lite::future::block_on(async {
    /// let child = Command::new("sleep").arg("100").kill_on_drop(true).spawn()?;
    /// drop(child); // killed now, reaped in the background
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// Starts the child.
    ///
    /// Its exit is watched through a pidfd on Linux 5.3+ (registered with the corio reactor on
    /// the first [`wait`](Child::wait)), otherwise through SIGCHLD; see the
    /// [crate docs](crate#reaping).
    ///
    /// # Errors
    ///
    /// The OS error of the spawn, with a message that names the program: a missing program is
    /// an error of kind [`NotFound`](io::ErrorKind::NotFound). The error keeps std's
    /// [`ErrorKind`](io::ErrorKind); std's own error, with its
    /// [`raw_os_error`](io::Error::raw_os_error), is its [`source`](std::error::Error::source).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_process::Command;
    /// # futures_lite::future::block_on(async {
    /// let mut child = Command::new("true").spawn()?;
    /// assert!(child.wait().await?.success());
    ///
    /// let err = Command::new("no-such-program-here").spawn().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// assert!(err.to_string().contains("no-such-program-here"));
    /// let os = std::error::Error::source(err.get_ref().unwrap()).unwrap();
    /// let os = os.downcast_ref::<std::io::Error>().unwrap();
    /// assert_eq!(os.raw_os_error(), Some(libc::ENOENT));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        let child = self.std.spawn().map_err(|source| {
            io::Error::new(
                source.kind(),
                SpawnError {
                    program: self.std.get_program().to_owned(),
                    // std reports a bad working directory as the program's `ENOENT` or
                    // `ENOTDIR`.
                    bad_dir: self.std.get_current_dir().and_then(|dir| {
                        let problem = if source.kind() == io::ErrorKind::NotFound && !dir.exists() {
                            "does not exist"
                        } else if source.raw_os_error() == Some(libc::ENOTDIR) && !dir.is_dir() {
                            "is not a directory"
                        } else {
                            return None;
                        };
                        Some((dir.to_path_buf(), problem))
                    }),
                    source,
                },
            )
        })?;
        Child::new(child, self.use_pidfd, self.kill_on_drop)
    }

    /// Runs the command to completion and returns its exit status.
    ///
    /// The child is spawned when this is called (a spawn error comes out of the future);
    /// stdin, stdout and stderr are inherited unless set, and pipes configured with
    /// [`Stdio::piped`] are closed at once.
    ///
    /// # Errors
    ///
    /// The error of [`spawn`](Command::spawn) or [`Child::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_process::Command;
    /// # futures_lite::future::block_on(async {
    /// let status = Command::new("sh").args(["-c", "exit 7"]).status().await?;
    /// assert_eq!(status.code(), Some(7));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + Send + use<> {
        let child = self.spawn();
        async move {
            let mut child = child?;
            drop(child.stdin.take());
            drop(child.stdout.take());
            drop(child.stderr.take());
            child.wait().await
        }
    }

    /// Runs the command to completion and collects its output.
    ///
    /// As std's `output`: stdout and stderr are piped and captured unless set otherwise, and
    /// stdin is empty ([`Stdio::null`]) unless set. Both pipes are read at the same time, so a
    /// child that writes a lot to either never deadlocks. The child is spawned when this is
    /// called.
    ///
    /// "Set" means set through this builder's [`stdin`](Command::stdin),
    /// [`stdout`](Command::stdout) and [`stderr`](Command::stderr). A stream set another way
    /// (through [`as_std_mut`](Command::as_std_mut), or in the std builder this one was made
    /// from) counts as unset: `output` replaces it with its default for this run, and with the
    /// parent's stream (`inherit`, the default of `spawn` and `status`) afterwards, since a std
    /// builder's streams cannot be read back and restored. Set streams that later runs need
    /// through this builder's methods.
    ///
    /// # Errors
    ///
    /// The error of [`spawn`](Command::spawn), of reading a pipe, or of [`Child::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_process::Command;
    /// # futures_lite::future::block_on(async {
    /// let out = Command::new("sh").args(["-c", "echo out; echo err >&2; exit 1"]).output().await?;
    /// assert_eq!(out.stdout, b"out\n");
    /// assert_eq!(out.stderr, b"err\n");
    /// assert_eq!(out.status.code(), Some(1));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> + Send + use<> {
        if !self.stdin_set {
            self.std.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::piped());
        }
        let child = self.spawn();
        // Streams the caller did not set go back to the default of `spawn` and `status`.
        if !self.stdin_set {
            self.std.stdin(Stdio::inherit());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::inherit());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::inherit());
        }
        async move { child?.wait_with_output().await }
    }

    /// The std builder inside.
    ///
    /// ```
    /// use corio_process::Command;
    /// let mut cmd = Command::new("echo");
    /// cmd.arg("x");
    /// assert_eq!(cmd.as_std().get_args().collect::<Vec<_>>(), ["x"]);
    /// ```
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The std builder inside, to reach what this one does not name (`uid`, `process_group`,
    /// `arg0`, `pre_exec` through `std::os::unix::process::CommandExt`).
    ///
    /// Setting stdin, stdout or stderr through it is seen by [`spawn`](Command::spawn) and
    /// [`status`](Command::status), but [`output`](Command::output) replaces such a setting, for
    /// good (see there); use this builder's methods for those.
    ///
    /// ```
    /// use corio_process::Command;
    /// use std::os::unix::process::CommandExt;
    /// # futures_lite::future::block_on(async {
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "echo $0"]);
    /// cmd.as_std_mut().arg0("renamed");
    /// assert_eq!(cmd.output().await?.stdout, b"renamed\n");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Whether children are watched with SIGCHLD instead of a pidfd (tests of the fallback).
    #[cfg(test)]
    pub(crate) fn force_sigchld(&mut self) -> &mut Command {
        self.use_pidfd = false;
        self
    }
}

/// The error of a failed spawn: std's error, with the program's name, and the working
/// directory when that is what was wrong (missing, or not a directory).
#[derive(Debug)]
struct SpawnError {
    program: std::ffi::OsString,
    bad_dir: Option<(std::path::PathBuf, &'static str)>,
    source: io::Error,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.bad_dir {
            Some((dir, problem)) => write!(
                f,
                "cannot run {:?}: its working directory {:?} {problem} ({})",
                self.program, dir, self.source
            ),
            None => write!(f, "cannot run {:?}: {}", self.program, self.source),
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a std builder. Streams it already configured count as unset for
    /// [`output`](Command::output), which replaces them for good (see there).
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
            use_pidfd: true,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("std", &self.std)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}
