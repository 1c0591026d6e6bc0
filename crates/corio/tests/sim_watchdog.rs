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
