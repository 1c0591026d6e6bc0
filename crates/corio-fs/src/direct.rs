//! Reads of cached data on the calling thread, with no trip to the blocking pool.
//!
//! Linux's `preadv2` with `RWF_NOWAIT` reads what the page cache holds and fails with `EAGAIN`
//! instead of waiting for the disk (or, on a pipe, for a writer). A `File` whose reads hit the
//! cache, the common case for files just written or read before, then costs one system call and
//! one copy per read, where the pool costs a copy into its buffer, another out of it, and a
//! thread hop per buffer.
//!
//! # Invariants
//!
//! 1. A direct read never blocks on I/O: it is `RWF_NOWAIT`, and it is never tried on a file
//!    opened with `O_DIRECT` (whose reads would wait for the device whatever the flag says).
//! 2. It runs only while the `File`'s `Unblock` is quiet (`try_get_mut`): no job runs, nothing
//!    is buffered, so the OS position is the logical one and the read is in order with every
//!    operation before and after it. It reads at the current position (offset `-1`) and moves
//!    it, as `read` does.
//! 3. It reads at most [`MAX_DIRECT`] bytes and spends one unit of the task's cooperative budget
//!    per [`BYTES_PER_UNIT`] copied (a read is capped by what is left), so a task reading a large
//!    cached file gives its thread back after at most 8 MiB (128 units), and the worker then
//!    looks at its timers and I/O before it runs the task again (a task that spends its whole
//!    budget makes the worker poll its driver). One unit per whole read let one poll copy 16 MiB
//!    into fresh memory (20-77 ms); one per 16 KiB tripled the polls of a large `read_to_end`,
//!    which costs futures-lite's `read_to_end` a pass over its spare capacity each (conformance
//!    probes of both). With the budget spent, the read
//!    yields; if it finds the budget spent again at its next poll, with no read in between,
//!    whoever polls it does not renew the budget (a foreign `block_on` inside a task), and the read
//!    goes to the pool instead of yielding for ever.
//! 4. Any failure falls back to the pool, which does the ordinary blocking read and reports its
//!    error with the file's name: `EAGAIN` for this read only; "not supported here"
//!    (`EOPNOTSUPP`, `EINVAL`, `ENOSYS`) for the rest of the `File`'s life.
//!
//! Writes stay on the pool: buffered writes with `RWF_NOWAIT` are not supported by ext4 on the
//! kernels we run (`EOPNOTSUPP`).
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// The most a direct read copies in one call: 128 KiB.
pub(crate) const MAX_DIRECT: usize = 128 * 1024;

/// Bytes a direct read may copy per unit of the cooperative budget (invariant 3).
pub(crate) const BYTES_PER_UNIT: usize = 64 * 1024;

/// What a direct read gave.
#[derive(Debug)]
pub(crate) enum Direct {
    /// This many bytes were read (0 at end of file).
    Read(usize),
    /// The data is not cached (or the pipe is empty): read on the pool this time.
    WouldBlock,
    /// Direct reads do not work on this file: stop trying.
    Unsupported,
    /// Some other error: let the pool's read report it, with the file's name.
    Failed,
}

/// Whether direct reads may be tried on `file` at all (invariant 1).
pub(crate) fn allowed(file: &File) -> bool {
    // SAFETY: `fcntl(F_GETFL)` only reads the flags of a descriptor `file` owns and keeps open
    // for the duration of the call; it touches no memory of ours.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    flags >= 0 && flags & libc::O_DIRECT == 0
}

/// Reads into `buf` (at most [`MAX_DIRECT`] bytes) from the current position, if the data is
/// cached.
pub(crate) fn read(file: &File, buf: &mut [u8]) -> Direct {
    let len = buf.len().min(MAX_DIRECT);
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    loop {
        // SAFETY: `iov` describes `len <= buf.len()` bytes of `buf`, which we borrow mutably for
        // the whole call, so the kernel writes only into memory we own and nobody else reads
        // meanwhile. The descriptor is `file`'s and stays open during the call. Offset -1 means
        // "at the current position", as `read` does.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, -1, libc::RWF_NOWAIT) };
        if let Ok(n) = usize::try_from(n) {
            return Direct::Read(n);
        }
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => Direct::WouldBlock,
            Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS) => Direct::Unsupported,
            _ => Direct::Failed,
        };
    }
}
