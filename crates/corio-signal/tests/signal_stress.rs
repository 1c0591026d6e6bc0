//! Real-thread stress: signals sent to the process from several threads while other threads
//! create, poll and drop listeners of the same signal. Nothing may crash or hang, every waiting
//! listener must wake, and a delivery made after the storm reaches every survivor.
//!
//! This binary owns SIGIO.
#![cfg(unix)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use corio_signal::unix::{SignalKind, signal};
use futures_lite::future::{block_on, poll_once};

fn kill_self() {
    // SAFETY: `kill` on our own pid with SIGIO, for which `keep` below holds corio's handler
    // installed for the whole test; no memory is involved.
    let rc = unsafe { libc::kill(std::process::id() as libc::pid_t, libc::SIGIO) };
    assert_eq!(rc, 0);
}

#[test]
fn listeners_come_and_go_while_signals_fly() {
    let kind = SignalKind::from_raw(libc::SIGIO);
    let keep = signal(kind).unwrap();
    let stop = Arc::new(AtomicBool::new(false));

    // A waiter that blocks in the reactor: it must keep waking while the storm lasts.
    let mut waiter = signal(kind).unwrap();
    let waiter_stop = stop.clone();
    let waiter = std::thread::spawn(move || {
        let mut wakes = 0u64;
        while !waiter_stop.load(Ordering::Acquire) {
            assert_eq!(block_on(waiter.recv()), Some(()));
            wakes += 1;
        }
        wakes
    });

    let senders: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..300 {
                    kill_self();
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    let churners: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..150 {
                    let mut l = signal(kind).unwrap();
                    let _ = block_on(poll_once(l.recv()));
                    drop(l);
                }
            })
        })
        .collect();
    for t in senders.into_iter().chain(churners) {
        t.join().unwrap();
    }

    // After the storm, a delivery reaches every listener alive.
    let mut survivors: Vec<_> = (0..4).map(|_| signal(kind).unwrap()).collect();
    stop.store(true, Ordering::Release);
    kill_self();
    for s in &mut survivors {
        assert_eq!(block_on(s.recv()), Some(()));
    }
    // The waiter sees that delivery too and stops; give the signal a generous bound to land.
    let wakes = waiter.join().unwrap();
    assert!(wakes >= 1, "the waiter woke {wakes} times");
    drop(keep);
}
