//! The simulation's watchdog and virtual time next to busy tasks: a timer due at the same
//! instant as the watchdog is no deadlock, a task that never stops is reported (not a real
//! hang), and a timeout around an always-ready loop fires on virtual time too.

mod support;

use std::time::Duration;

use corio::net::TcpStream;
use corio::sim::{Builder, SimErrorKind};

/// Sleeps whose end falls on the watchdog's own period (every 10 s of virtual time) finish.
#[test]
fn timers_due_with_the_watchdog_are_no_deadlock() {
    for seed in 0..5 {
        for secs in [10, 20, 30, 60, 3600] {
            let sim = Builder::new().seed(seed).build();
            sim.client("c", async move {
                let start = corio::time::now();
                corio::sleep(Duration::from_secs(secs)).await;
                assert_eq!(corio::time::now() - start, Duration::from_secs(secs));
                Ok(())
            });
            sim.run()
                .unwrap_or_else(|e| panic!("sleep({secs} s), seed {seed}: {e}"));
        }
        let sim = Builder::new().seed(seed).build();
        sim.client("ticks", async {
            let mut ticks = corio::interval(Duration::from_secs(20));
            for _ in 0..4 {
                ticks.tick().await;
            }
            Ok(())
        });
        sim.run()
            .unwrap_or_else(|e| panic!("interval, seed {seed}: {e}"));
    }
}

/// A ten-second timeout across a partition ends on the watchdog's tick, and is no deadlock.
#[test]
fn a_ten_second_timeout_across_a_partition_fires() {
    let sim = Builder::new().seed(3).build();
    sim.host("server", || async {
        let listener = corio::net::TcpListener::bind("0.0.0.0:1").await?;
        loop {
            let _ = listener.accept().await?;
        }
    });
    sim.client("c", async {
        corio::sim::partition("c", "server");
        let start = corio::time::now();
        let connect = corio::timeout(Duration::from_secs(10), TcpStream::connect("server:1")).await;
        assert!(
            connect.is_err(),
            "a connect across a partition went through"
        );
        assert_eq!(corio::time::now() - start, Duration::from_secs(10));
        Ok(())
    });
    sim.run().unwrap();
}

/// A host that spins forever does not stop a client that waits on a timer.
#[test]
fn a_busy_host_does_not_freeze_virtual_time() {
    let sim = Builder::new().seed(5).build();
    sim.host("busy", || async {
        loop {
            corio::yield_now().await;
        }
    });
    sim.client("c", async {
        corio::sleep(Duration::from_millis(10)).await;
        Ok(())
    });
    sim.run().unwrap();
}

/// A client that spins forever, waiting for something its spin prevents, is an error that names
/// the seed, not a real hang.
#[test]
fn a_spinning_client_is_a_livelock_error() {
    let sim = Builder::new().seed(8).build();
    sim.client("spinner", async {
        loop {
            corio::yield_now().await;
        }
    });
    let err = sim.run().unwrap_err();
    match err.kind() {
        SimErrorKind::Livelock { waiting, .. } => assert_eq!(waiting, &["spinner".to_owned()]),
        other => panic!("expected a livelock, got {other:?}"),
    }
    assert!(err.to_string().contains("seed 8"), "{err}");
}

/// A client that waits for ever is still a deadlock, found at the watchdog's first tick.
#[test]
fn a_client_waiting_forever_is_still_a_deadlock() {
    let sim = Builder::new().seed(2).build();
    sim.client("stuck", async {
        std::future::pending::<()>().await;
        Ok(())
    });
    let err = sim.run().unwrap_err();
    match err.kind() {
        SimErrorKind::Deadlock { at, waiting } => {
            assert_eq!(waiting, &["stuck".to_owned()]);
            assert_eq!(*at, Duration::from_secs(10));
        }
        other => panic!("expected a deadlock, got {other:?}"),
    }
}

/// On virtual time, a timeout around an always-ready loop fires too (once the loop has been
/// busy long enough for time to jump to the deadline).
#[test]
fn a_timeout_around_an_always_ready_loop_fires_on_virtual_time() {
    corio::run_seeded(4, support::timeouts_fire_around_always_ready_loops());
}

/// A latency too long for the clock (`Duration::MAX`) is capped, not an overflow panic: a
/// connect through it just never arrives within the client's timeout.
#[test]
fn an_endless_latency_is_capped_not_an_overflow() {
    let sim = Builder::new().seed(1).latency(Duration::MAX).build();
    sim.host("server", || async {
        let listener = corio::net::TcpListener::bind("0.0.0.0:1").await?;
        loop {
            let _ = listener.accept().await?;
        }
    });
    sim.client("c", async {
        let connect = corio::timeout(Duration::from_secs(5), TcpStream::connect("server:1")).await;
        assert!(
            connect.is_err(),
            "a connect arrived through an endless latency"
        );
        Ok(())
    });
    sim.run().unwrap();
}

/// Activity every millisecond going past the watchdog's period: at the watchdog's tick a task's
/// timer of the same tick has fired and the task is not polled yet, so no timer is pending; the
/// second look must come once that task has run, not after one more tick (whose timers fire as
/// well). A probe saw 1 ms traffic reported as a deadlock at 10 s in 50 of 50 runs.
#[test]
fn millisecond_activity_past_the_watchdog_is_no_deadlock() {
    for seed in 0..3 {
        let sim = Builder::new().seed(seed).build();
        sim.client("poller", async {
            let start = corio::time::now();
            while corio::time::now() - start < Duration::from_secs(25) {
                corio::sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        });
        sim.run().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

/// Finite busy work with no timer pending (yields, and tasks spawned and joined) is no livelock,
/// though virtual time jumps to the watchdog while the loop stays busy: a livelock needs the
/// loop busy for seconds of real time too. A probe saw 200,000 yields reported as one.
#[test]
fn finite_busy_work_is_no_livelock() {
    let sim = Builder::new().seed(1).build();
    sim.client("busy", async {
        for _ in 0..300_000 {
            corio::yield_now().await;
        }
        let tasks: Vec<_> = (0..100_000u64)
            .map(|i| corio::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        assert_eq!(sum, 100_000 * 99_999 / 2);
        Ok(())
    });
    sim.run().unwrap();
}

/// `corio::block_on` nested in a simulation's task cannot wait (time and the other tasks move
/// only once that task returns to the simulation's loop): the run fails with a panic that says
/// so, naming the seed, where it spun for ever. One that need not wait still works.
#[test]
fn block_on_inside_a_simulation_task_fails_instead_of_spinning() {
    let sim = Builder::new().seed(3).build();
    sim.client("c", async {
        let ready = corio::block_on(async {
            corio::yield_now().await;
            5
        });
        assert_eq!(ready, 5);
        corio::block_on(corio::sleep(Duration::from_millis(200)));
        Ok(())
    });
    let err = sim.run().unwrap_err();
    assert_eq!(err.seed(), 3);
    match err.kind() {
        SimErrorKind::Panicked { host, message } => {
            assert_eq!(host, "c");
            assert!(message.contains(".await the future instead"), "{message}");
        }
        other => panic!("expected the nested block_on's panic, got {other:?}"),
    }
}

/// `corio::time::pause` inside a simulation (or any deterministic runtime) stopped its virtual
/// clock for good, and the run hung with no error; it now fails, saying why.
#[test]
fn pausing_the_clock_of_a_simulation_is_an_error_not_a_hang() {
    let sim = Builder::new().seed(4).build();
    sim.client("c", async {
        corio::time::pause();
        corio::sleep(Duration::from_millis(10)).await;
        Ok(())
    });
    let err = sim.run().unwrap_err();
    match err.kind() {
        SimErrorKind::Panicked { message, .. } => {
            assert!(message.contains("virtual already"), "{message}");
        }
        other => panic!("expected pause's panic, got {other:?}"),
    }
    let seeded = std::panic::catch_unwind(|| corio::run_seeded(4, async { corio::time::pause() }));
    assert!(seeded.is_err());
}

/// A runtime nested on the simulation's thread (here `run_seeded` inside a client) parks idle on
/// its own: that must not end the simulation's wait for its own loop to go idle. It did (the
/// wait was one slot per thread), and busy work past the watchdog became a false deadlock (a
/// review, 6/6).
#[test]
fn a_nested_runtime_does_not_end_the_watchdogs_wait() {
    let sim = Builder::new().seed(2).build();
    sim.client("c", async {
        for i in 0..300_000u32 {
            if i == 230_000 {
                corio::run_seeded(7, corio::sleep(Duration::from_millis(5)));
            }
            corio::yield_now().await;
        }
        Ok(())
    });
    sim.run().unwrap();
}
