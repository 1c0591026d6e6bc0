//! The crate's only unsafe code: thin wrappers over `pidfd_open(2)`, `waitpid(2)`, a look at
//! SIGCHLD's disposition (`sigaction(2)`) and the registration of the orphan reaper's SIGCHLD
//! action.

use std::io;

/// What a non-blocking `waitpid` said about one child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitNoHang {
    /// Reaped now (or it was never ours to reap: `ECHILD`). Either way, not a zombie of ours.
    Gone,
    /// Still running.
    Running,
    /// Interrupted or failed; try again later.
    Retry,
}

/// `waitpid(pid, WNOHANG)`, discarding the status. Async-signal-safe: one syscall, no
/// allocation (`last_os_error` only reads `errno`).
pub(crate) fn waitpid_nohang(pid: libc::pid_t) -> WaitNoHang {
    let mut status: libc::c_int = 0;
    // SAFETY: `waitpid` writes only to `status`, a live local; any `pid` value is valid input.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    match rc {
        0 => WaitNoHang::Running,
        rc if rc == pid => WaitNoHang::Gone,
        _ => match io::Error::last_os_error().raw_os_error() {
            Some(libc::ECHILD) => WaitNoHang::Gone,
            _ => WaitNoHang::Retry,
        },
    }
}

/// Registers `action` to run on every SIGCHLD.
///
/// # Safety contract (upheld by the only caller)
///
/// `action` must be async-signal-safe: `reap::reap_orphans` uses only atomics,
/// `OnceLock::get` (an atomic load) and [`waitpid_nohang`].
pub(crate) fn on_sigchld(action: fn()) -> io::Result<()> {
    // SAFETY: the caller passes `reap::reap_orphans`, which is async-signal-safe (see above) and
    // cannot panic; SIGCHLD is not a forbidden signal, so `register` does not panic.
    #[allow(unsafe_code)]
    let id = unsafe { signal_hook_registry::register(libc::SIGCHLD, action) };
    id.map(drop)
}

/// Whether SIGCHLD's disposition is `SIG_IGN`: the kernel then reaps every child as it exits.
pub(crate) fn sigchld_ignored() -> bool {
    // SAFETY: `sigaction` is a plain C struct, for which all zeroes is a valid value.
    #[allow(unsafe_code)]
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: with a null new action, `sigaction` only reads the current one into `old`, a live
    // local of the right type.
    #[allow(unsafe_code)]
    let read = unsafe { libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old) };
    read == 0 && old.sa_sigaction == libc::SIG_IGN
}

/// `pidfd_open(pid, 0)`: a descriptor that becomes readable when the process exits (Linux 5.3+).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn pidfd_open(pid: u32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;

    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: `pidfd_open` takes a pid and flags by value and touches no memory of ours.
    #[allow(unsafe_code)]
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(fd)
        .map_err(|_| io::Error::other("pidfd_open returned an out-of-range descriptor"))?;
    // SAFETY: the kernel just returned `fd` as a new descriptor that nothing else owns; it is
    // created close-on-exec (pidfds always are).
    #[allow(unsafe_code)]
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    Ok(owned)
}
