//! The contract of `ctrl_c` and `unix::signal`, with signals raised in this process.
//!
//! Signal dispositions are process-wide and the test harness runs tests on parallel threads, so
//! every test here owns a different signal and no two tests raise the same one.
#![cfg(unix)]

use std::io;
use std::time::Duration;

use corio_signal::unix::{Signal, SignalKind, signal};
use futures_lite::StreamExt;
use futures_lite::future::{self, block_on, poll_once};

/// Raises `signum` on this thread: the handler has run when this returns.
fn raise(signum: libc::c_int) {
    // SAFETY: every caller has a corio listener for `signum`, so the handler installed by
    // corio-signal runs (it writes one byte to a socket); no default action is triggered.
    let rc = unsafe { libc::raise(signum) };
    assert_eq!(rc, 0, "raise({signum}) failed");
}

/// Sends `signum` to the whole process (any thread may run the handler).
fn kill_self(signum: libc::c_int) {
    // SAFETY: `kill` with our own pid and a signal that has corio's handler installed; no
    // memory is involved.
    let rc = unsafe { libc::kill(std::process::id() as libc::pid_t, signum) };
    assert_eq!(rc, 0, "kill(getpid(), {signum}) failed");
}

/// Whether a `recv` completes right now (without waiting).
fn ready_now(sig: &mut Signal) -> Option<Option<()>> {
    block_on(poll_once(sig.recv()))
}

#[test]
fn every_listener_gets_every_delivery() -> io::Result<()> {
    let kind = SignalKind::user_defined1();
    let mut listeners: Vec<Signal> = (0..5).map(|_| signal(kind)).collect::<io::Result<_>>()?;
    for round in 0..3 {
        for l in &listeners {
            assert_eq!(l.kind(), kind);
        }
        for l in &mut listeners {
            assert_eq!(ready_now(l), None, "round {round}: nothing delivered yet");
        }
        raise(libc::SIGUSR1);
        for l in &mut listeners {
            assert_eq!(
                ready_now(l),
                Some(Some(())),
                "round {round}: delivery missed"
            );
        }
    }
    Ok(())
}

#[test]
fn a_signal_raised_right_after_the_call_is_not_lost() -> io::Result<()> {
    let mut sig = signal(SignalKind::user_defined2())?;
    raise(libc::SIGUSR2);
    // Polled only later, and from another thread.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(block_on(sig.recv()), Some(()));
    })
    .join()
    .unwrap();
    Ok(())
}

#[test]
fn ctrl_c_registers_on_the_call() {
    let ctrl_c = corio_signal::ctrl_c();
    raise(libc::SIGINT);
    block_on(ctrl_c).expect("the SIGINT raised before the first poll is seen");

    // A second ctrl_c waits for a *new* SIGINT: the first one was consumed.
    let mut again = corio_signal::ctrl_c();
    assert!(block_on(poll_once(&mut again)).is_none());
    raise(libc::SIGINT);
    block_on(again).unwrap();
}

#[test]
fn repeated_deliveries_between_polls_coalesce() -> io::Result<()> {
    let mut sig = signal(SignalKind::hangup())?;
    for _ in 0..10 {
        raise(libc::SIGHUP);
    }
    assert_eq!(ready_now(&mut sig), Some(Some(())));
    assert_eq!(
        ready_now(&mut sig),
        None,
        "ten deliveries coalesce into one"
    );
    raise(libc::SIGHUP);
    assert_eq!(ready_now(&mut sig), Some(Some(())));
    Ok(())
}

#[test]
fn dropping_the_last_listener_does_not_restore_the_default_action() -> io::Result<()> {
    // SIGTERM's default action kills the process: surviving the raise below is the test.
    let sig = signal(SignalKind::terminate())?;
    drop(sig);
    raise(libc::SIGTERM);
    raise(libc::SIGTERM);
    // Re-registering works, and sees only deliveries made after it.
    let mut sig = signal(SignalKind::terminate())?;
    assert_eq!(ready_now(&mut sig), None);
    raise(libc::SIGTERM);
    assert_eq!(ready_now(&mut sig), Some(Some(())));
    Ok(())
}

#[test]
fn a_new_listener_sees_only_later_deliveries() -> io::Result<()> {
    let mut old = signal(SignalKind::from_raw(libc::SIGURG))?;
    raise(libc::SIGURG);
    let mut new = signal(SignalKind::from_raw(libc::SIGURG))?;
    assert_eq!(ready_now(&mut new), None);
    assert_eq!(ready_now(&mut old), Some(Some(())));
    raise(libc::SIGURG);
    assert_eq!(ready_now(&mut new), Some(Some(())));
    assert_eq!(ready_now(&mut old), Some(Some(())));
    Ok(())
}

#[test]
fn a_dropped_recv_loses_nothing() -> io::Result<()> {
    let mut sig = signal(SignalKind::alarm())?;
    // A recv that waited, then was dropped (as by a timeout), before the delivery.
    {
        let mut recv = sig.recv();
        assert!(block_on(poll_once(&mut recv)).is_none());
    }
    raise(libc::SIGALRM);
    // A recv created after the delivery but dropped before it was ever polled.
    drop(sig.recv());
    assert_eq!(
        ready_now(&mut sig),
        Some(Some(())),
        "the delivery is still there"
    );
    // A recv that lost a race (as in `select!`) while waiting; the delivery comes after.
    let lost = block_on(future::or(
        async { sig.recv().await.map(|()| "recv") },
        async { Some("other") },
    ));
    assert_eq!(lost, Some("other"));
    raise(libc::SIGALRM);
    assert_eq!(ready_now(&mut sig), Some(Some(())));
    Ok(())
}

#[test]
fn a_delivery_on_another_thread_wakes_the_waiting_task() -> io::Result<()> {
    let mut sig = signal(SignalKind::from_raw(libc::SIGVTALRM))?;
    for _ in 0..3 {
        let sender = std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            kill_self(libc::SIGVTALRM);
        });
        // Blocks in the (global) reactor until the signal arrives: no polling loop.
        assert_eq!(block_on(sig.recv()), Some(()));
        sender.join().unwrap();
    }
    Ok(())
}

#[test]
fn signal_is_a_stream() -> io::Result<()> {
    let mut sig = signal(SignalKind::from_raw(libc::SIGXFSZ))?;
    raise(libc::SIGXFSZ);
    assert_eq!(block_on(sig.next()), Some(()));
    Ok(())
}

#[test]
fn forbidden_signals_are_errors_that_name_them() {
    for (signum, name) in [
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGSTOP, "SIGSTOP"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGBUS, "SIGBUS"),
    ] {
        let err = signal(SignalKind::from_raw(signum)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name}");
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
}

#[test]
fn invalid_numbers_are_errors_that_name_them() {
    for signum in [0, -1, i32::MIN, 1_000, i32::MAX] {
        let err = signal(SignalKind::from_raw(signum)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{signum}: {err}");
        assert!(
            err.to_string().contains(&signum.to_string()),
            "{signum}: {err}"
        );
    }
}

#[test]
fn a_listener_outlives_the_reactor_it_was_created_with() -> io::Result<()> {
    // Created inside a "runtime" (an entered reactor) that is then dropped: the listener moves
    // to the reactor current where it is polled (here the global one), and a delivery made
    // while nothing polled it, before and after the move, is not lost.
    let driver = corio_reactor::ReactorDriver::new()?;
    let mut sig = {
        let _enter = driver.reactor().enter();
        signal(SignalKind::from_raw(libc::SIGPROF))?
    };
    assert_eq!(ready_now(&mut sig), None);
    drop(driver);
    raise(libc::SIGPROF);
    assert_eq!(ready_now(&mut sig), Some(Some(())), "seen after the move");
    // Waiting (not just draining) works on the new reactor: the delivery comes from another
    // thread while this one is parked.
    let sender = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(20));
        kill_self(libc::SIGPROF);
    });
    assert_eq!(block_on(sig.recv()), Some(()));
    sender.join().unwrap();

    // Polled from inside the dead runtime itself, no reactor can watch it: `None`, no hang.
    let driver = corio_reactor::ReactorDriver::new()?;
    let reactor = driver.reactor();
    let _enter = reactor.enter();
    let mut sig = signal(SignalKind::from_raw(libc::SIGPROF))?;
    drop(driver);
    assert_eq!(block_on(sig.recv()), None);
    Ok(())
}

#[test]
fn listeners_and_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Signal>();
    send_sync::<corio_signal::CtrlC>();
    send_sync::<corio_signal::unix::Recv<'static>>();
    send_sync::<SignalKind>();
}
