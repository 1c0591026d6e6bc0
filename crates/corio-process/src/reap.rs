//! Reaping: waiting for one child (pidfd or SIGCHLD), and the orphan table.
//!
//! # Waiting for a child ([`Exit`])
//!
//! On Linux 5.3+ a child gets a pidfd at spawn: it becomes readable once the child exits, and
//! readability is level-triggered, so registering it late loses nothing. `poll_exit` runs
//! `try_wait` as the pidfd's read operation; a `None` clears the readiness and waits again.
//! Elsewhere (or when `pidfd_open` fails, for example under a seccomp filter) a SIGCHLD listener
//! from `corio-signal` is created *before* the first `try_wait`, so an exit after that check
//! still wakes the waiter; every SIGCHLD (from any child) triggers one more `try_wait`.
//!
//! # Orphans
//!
//! A `Child` dropped before it was reaped gives its pid to the orphan table, so that it never
//! stays a zombie. The table is reaped from a SIGCHLD action, inside the signal handler, so it
//! needs no thread, no runtime and no task: `waitpid` is async-signal-safe.
//!
//! Invariants:
//! - The table is a linked list of fixed chunks of `AtomicI32` slots. Chunks are allocated only
//!   outside the handler (in `adopt`) and never freed, so the handler walks it with atomic loads
//!   (`OnceLock::get`) alone.
//! - A slot is `FREE` (0), holds an orphan's pid (> 0), or is `CLAIMED` (-1) by exactly one
//!   reaper (the handler on some thread, or `adopt`). Only the claimer calls `waitpid` for that
//!   pid, so a pid is never waited for twice, and it cannot be reused before the slot is freed
//!   (an unreaped child keeps its pid).
//! - The SIGCHLD action bumps `GENERATION` before it scans. A claimer that found its child still
//!   running puts the pid back and scans again if the generation moved meanwhile: a SIGCHLD that
//!   skipped a claimed slot is never lost.
//! - `adopt` installs the action before inserting the pid, and scans once after: a child that
//!   exited before the insert is reaped by that scan, one that exits after it raises SIGCHLD.

use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use crate::sys::{self, WaitNoHang};

const FREE: i32 = 0;
const CLAIMED: i32 = -1;
const CHUNK: usize = 64;

struct Chunk {
    slots: [AtomicI32; CHUNK],
    next: OnceLock<Box<Chunk>>,
}

impl Chunk {
    const fn new() -> Chunk {
        Chunk {
            slots: [const { AtomicI32::new(FREE) }; CHUNK],
            next: OnceLock::new(),
        }
    }
}

static ORPHANS: Chunk = Chunk::new();
static GENERATION: AtomicU64 = AtomicU64::new(0);
static HANDLER: OnceLock<Result<(), String>> = OnceLock::new();

/// Takes over an unreaped child: it is reaped now if it has exited, or later on SIGCHLD.
pub(crate) fn adopt(pid: u32) -> io::Result<()> {
    let Ok(pid) = i32::try_from(pid) else {
        return Ok(());
    };
    if pid <= 0 {
        return Ok(());
    }
    if HANDLER.get().is_none() && sys::sigchld_ignored() {
        // The process ignores SIGCHLD, so the kernel reaps every child as it exits: nothing to
        // adopt. Installing the action would end that for every later child of the process,
        // std's included (a review saw a dropped std child stay a zombie). If the process stops
        // ignoring SIGCHLD before this child exits, the child stays a zombie, as std's would.
        return Ok(());
    }
    let installed =
        HANDLER.get_or_init(|| sys::on_sigchld(reap_orphans).map_err(|e| e.to_string()));
    if let Err(e) = installed {
        return Err(io::Error::other(format!(
            "cannot install the SIGCHLD handler that reaps orphaned children: {e}"
        )));
    }
    let mut chunk = &ORPHANS;
    'insert: loop {
        for slot in &chunk.slots {
            if slot
                .compare_exchange(FREE, pid, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                break 'insert;
            }
        }
        chunk = chunk.next.get_or_init(|| Box::new(Chunk::new()));
    }
    reap_orphans();
    Ok(())
}

/// The number of orphans not yet reaped.
#[cfg(test)]
pub(crate) fn orphans() -> usize {
    let mut n = 0;
    let mut chunk = Some(&ORPHANS);
    while let Some(c) = chunk {
        n += c
            .slots
            .iter()
            .filter(|s| s.load(Ordering::Acquire) != FREE)
            .count();
        chunk = c.next.get().map(|b| &**b);
    }
    n
}

/// Reaps every orphan that has exited. Async-signal-safe: atomics, `OnceLock::get` and
/// `waitpid` only; it never allocates, locks or panics.
fn reap_orphans() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    let mut chunk = Some(&ORPHANS);
    while let Some(c) = chunk {
        for slot in &c.slots {
            reap_slot(slot);
        }
        chunk = c.next.get().map(|b| &**b);
    }
}

fn reap_slot(slot: &AtomicI32) {
    loop {
        let pid = slot.load(Ordering::Acquire);
        if pid <= 0 {
            return;
        }
        let generation = GENERATION.load(Ordering::Acquire);
        if slot
            .compare_exchange(pid, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return; // someone else claimed it
        }
        match sys::waitpid_nohang(pid) {
            WaitNoHang::Gone => {
                slot.store(FREE, Ordering::Release);
                return;
            }
            WaitNoHang::Running | WaitNoHang::Retry => {
                slot.store(pid, Ordering::Release);
                // A SIGCHLD handled while we held the claim skipped this slot: look again.
                if GENERATION.load(Ordering::Acquire) == generation {
                    return;
                }
            }
        }
    }
}
