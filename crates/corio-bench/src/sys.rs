//! What the workloads need from the OS: memory readings, the fd limit, a listener.
//!
//! The memory readings come from Linux's `/proc/self/status`; elsewhere they read 0. Windows has
//! no descriptor limit to raise.

use std::io;
use std::net::{SocketAddr, TcpListener};

#[cfg(unix)]
use rlimit::Resource;
use socket2::{Domain, Socket, Type};

/// The resident set size now, in bytes (`VmRSS` in `/proc/self/status`).
pub(crate) fn rss_bytes() -> u64 {
    status_kib("VmRSS:") * 1024
}

/// The peak resident set size of this process so far, in KiB (`VmHWM`, the high-water mark).
pub(crate) fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// Raises RLIMIT_NOFILE to at least `needed` descriptors: the hard limit too where the process
/// may (root, or CAP_SYS_RESOURCE), else the soft limit up to the hard one.
#[cfg(unix)]
pub(crate) fn raise_fd_limit(needed: u64) -> Result<u64, String> {
    let (soft, hard) = Resource::NOFILE
        .get()
        .map_err(|e| format!("getrlimit: {e}"))?;
    if soft >= needed {
        return Ok(soft);
    }
    if hard < needed && Resource::NOFILE.set(needed, needed).is_ok() {
        return Ok(needed);
    }
    let raised = hard.min(needed);
    Resource::NOFILE
        .set(raised, hard)
        .map_err(|e| format!("setrlimit: {e}"))?;
    if raised < needed {
        return Err(format!(
            "needs {needed} file descriptors but the hard limit is {hard} and cannot be raised \
             (run as root or raise `ulimit -Hn`)"
        ));
    }
    Ok(raised)
}

/// Windows has no RLIMIT_NOFILE: sockets are not counted against a per-process limit to raise.
#[cfg(not(unix))]
pub(crate) fn raise_fd_limit(needed: u64) -> Result<u64, String> {
    Ok(needed)
}

/// A non-blocking loopback listener on a fresh port with the given listen backlog, for the
/// workload that must not depend on each runtime's own choice of backlog.
pub(crate) fn loopback_listener(backlog: i32) -> io::Result<(TcpListener, SocketAddr)> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    socket.bind(&loopback.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    let listener: TcpListener = socket.into();
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
