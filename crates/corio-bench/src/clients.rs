//! The client side of `tcp_connections`, in a helper process.
//!
//! 10,000 connections with both ends in one process need 20,000 descriptors, and a container
//! may cap RLIMIT_NOFILE below that with no way to raise it. So the benchmark process keeps
//! the server side (accept and serve: what is measured) and a helper process, running the
//! same runtime with the same worker count, opens the client connections.
//!
//! Protocol on the helper's stdio: it prints `ready` once its runtime is up, waits for a line
//! on stdin, runs the clients, prints `@ok <served>` and exits.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

use crate::workload::Runtime;

static CASE: OnceLock<(Runtime, usize)> = OnceLock::new();

/// Records the runtime and worker count of this process, for the helper to match.
pub(crate) fn set_case(runtime: Runtime, workers: usize) {
    let _ = CASE.set((runtime, workers));
}

/// A running helper process.
#[derive(Debug)]
pub(crate) struct Clients {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Clients {
    /// Starts the helper and waits until its runtime is up (this blocks: it is setup, before
    /// the timer starts).
    pub(crate) fn start(addr: SocketAddr, n: usize) -> Clients {
        let (runtime, workers) = *CASE.get().expect("clients::set_case was not called");
        let exe = crate::suite::this_binary().expect("this binary");
        let mut child = Command::new(exe)
            .args([
                "tcp-clients",
                runtime.name(),
                &workers.to_string(),
                &addr.to_string(),
                &n.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start the client process");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("client process: ready");
        assert_eq!(line.trim(), "ready", "client process did not start");
        Clients {
            child,
            stdin,
            stdout,
        }
    }

    /// Lets the clients connect.
    pub(crate) fn go(&mut self) {
        writeln!(self.stdin, "go")
            .and_then(|()| self.stdin.flush())
            .expect("client process: go");
    }

    /// Waits for the helper to finish and returns how many clients got their answer.
    pub(crate) fn finish(mut self) -> u64 {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("client process: result");
        let status = self.child.wait().expect("client process: wait");
        assert!(status.success(), "client process failed: {status}");
        line.trim()
            .strip_prefix("@ok ")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// The helper's side: `corio-bench tcp-clients <runtime> <workers> <addr> <n>`.
pub(crate) fn serve_as_helper(args: &[String]) -> Result<(), String> {
    let [runtime, workers, addr, n] = args else {
        return Err("tcp-clients <runtime> <workers> <addr> <n>".into());
    };
    let runtime: Runtime = runtime.parse()?;
    let workers: usize = workers.parse().map_err(|e| format!("workers: {e}"))?;
    let addr: SocketAddr = addr.parse().map_err(|e| format!("addr: {e}"))?;
    let n: usize = n.parse().map_err(|e| format!("n: {e}"))?;
    crate::sys::raise_fd_limit(n as u64 + 256)?;
    crate::case::run_clients(runtime, workers, addr, n)
}

/// Waits for the server's go-ahead on stdin.
pub(crate) fn wait_for_go() -> Result<(), String> {
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(())
}
