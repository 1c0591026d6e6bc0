//! What the scenarios need from the OS: the descriptor limit, the descriptor and thread tables,
//! memory readings, and killing a process group. The only unsafe code of the crate is here.

use std::fs;
use std::io;

/// The soft and hard `RLIMIT_NOFILE`.
#[allow(unsafe_code)]
pub(crate) fn nofile() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` through the pointer, which points to a live,
    // aligned local of exactly that type, and keeps no copy of the pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// Sets the soft `RLIMIT_NOFILE`, keeping the hard one.
#[allow(unsafe_code)]
pub(crate) fn set_nofile_soft(soft: u64) -> io::Result<()> {
    let (_, hard) = nofile()?;
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `setrlimit` only reads the `rlimit` behind the pointer, a live local of exactly that
    // type, and keeps no copy of the pointer. Changing a limit of this process is not unsafe in
    // Rust's sense; the call is unsafe only because it is foreign.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard one and returns it.
pub(crate) fn raise_nofile() -> io::Result<u64> {
    let (soft, hard) = nofile()?;
    if soft < hard {
        set_nofile_soft(hard)?;
    }
    Ok(hard)
}

/// Sends SIGKILL to every process of the group `pgid` (a scenario and its helpers).
#[allow(unsafe_code)]
pub(crate) fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return; // never the "every process" forms of kill(2)
    }
    // SAFETY: `kill` takes plain integers and touches no memory of ours. A negative pid names a
    // process group; this one was created for the scenario (`process_group(0)`), so nothing else
    // is in it. ESRCH (the group is gone) is harmless, so the result is ignored.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// The open descriptors of this process: `(fd, what it points to)`, without the descriptor used
/// to list them.
pub(crate) fn fds() -> Vec<(u32, String)> {
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let mut out: Vec<(u32, String)> = dir
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let fd = entry.file_name().to_str()?.parse().ok()?;
            let target = fs::read_link(entry.path()).ok()?; // the listing's own fd is gone by now
            Some((fd, target.display().to_string()))
        })
        .collect();
    out.sort();
    out
}

/// How many descriptors are open.
pub(crate) fn fd_count() -> usize {
    fds().len()
}

/// The threads of this process: `(tid, name)`.
pub(crate) fn threads() -> Vec<(u32, String)> {
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out: Vec<(u32, String)> = dir
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let tid = entry.file_name().to_str()?.parse().ok()?;
            let name = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            Some((tid, name.trim_end().to_owned()))
        })
        .collect();
    out.sort();
    out
}

/// How many threads this process has.
pub(crate) fn thread_count() -> usize {
    threads().len()
}

/// The resident set size now, in bytes (`VmRSS`).
pub(crate) fn rss() -> u64 {
    status_kib("VmRSS:") * 1024
}

/// The peak resident set size so far, in bytes (`VmHWM`, the high-water mark).
pub(crate) fn peak_rss() -> u64 {
    status_kib("VmHWM:") * 1024
}

fn status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_readings_see_this_process() {
        assert!(fd_count() >= 3, "stdin, stdout, stderr at least");
        assert!(thread_count() >= 1);
        assert!(rss() > 0);
        assert!(peak_rss() >= rss());
        let (soft, hard) = nofile().unwrap();
        assert!(soft <= hard);
    }

    #[test]
    fn a_new_file_shows_in_the_fd_table() {
        use std::os::fd::AsRawFd;
        let file = fs::File::open("/proc/self/status").unwrap();
        let fd = u32::try_from(file.as_raw_fd()).unwrap();
        let table = fds();
        let entry = table
            .iter()
            .find(|(n, _)| *n == fd)
            .expect("the new fd is listed");
        assert!(entry.1.ends_with("/status"), "{entry:?}");
    }
}
