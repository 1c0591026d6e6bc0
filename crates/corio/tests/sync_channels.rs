//! `corio::sync::broadcast` and `corio::sync::watch` through the facade only, on corio's own
//! runtimes, written as a new user would write them.

use std::time::Duration;

use corio::sync::{broadcast, watch};

#[test]
fn broadcast_fan_out_across_spawned_tasks() {
    let sums = corio::run(async {
        let (tx, rx) = broadcast::channel::<u64>(1024);
        let tasks: Vec<corio::Task<Result<u64, broadcast::RecvError>>> = (0..4)
            .map(|_| {
                let mut rx = rx.resubscribe();
                corio::spawn(async move {
                    let mut sum = 0;
                    loop {
                        match rx.recv().await {
                            Ok(v) => sum += v,
                            Err(broadcast::RecvError::Closed) => return Ok(sum),
                            Err(e @ broadcast::RecvError::Lagged(_)) => return Err(e),
                        }
                    }
                })
            })
            .collect();
        drop(rx);
        for i in 1..=1000 {
            assert_eq!(tx.send(i), Ok(4));
            if i % 100 == 0 {
                corio::yield_now().await;
            }
        }
        drop(tx);
        corio::join_all(tasks).await
    });
    for sum in sums {
        assert_eq!(sum, Ok(1000 * 1001 / 2));
    }
}

#[test]
fn broadcast_lag_close_and_errors_through_the_facade() {
    corio::block_on(async {
        let (tx, mut rx) = broadcast::channel(2);
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.recv().await, Err(broadcast::RecvError::Lagged(3)));
        assert_eq!(rx.recv().await, Ok(3));
        assert_eq!(rx.try_recv(), Ok(4));
        assert_eq!(rx.try_recv(), Err(broadcast::TryRecvError::Empty));
        drop(tx);
        let err: Box<dyn std::error::Error> = Box::new(rx.recv().await.unwrap_err());
        assert_eq!(err.to_string(), "broadcast channel closed");
    });
    // API.md: no panic on a zero capacity; it is room for one value.
    corio::run(async {
        let (tx, mut rx) = broadcast::channel::<u8>(0);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(rx.recv().await, Err(broadcast::RecvError::Lagged(1)));
        assert_eq!(rx.recv().await, Ok(2));
    });
}

#[test]
fn broadcast_recv_cancelled_by_a_timeout_loses_nothing() {
    corio::run(async {
        let (tx, mut rx) = broadcast::channel(4);
        let waited = corio::timeout(Duration::from_millis(10), rx.recv()).await;
        assert!(waited.is_err(), "nothing was sent yet");
        tx.send("kept").unwrap();
        assert_eq!(rx.recv().await, Ok("kept"));
    });
}

#[test]
fn watch_config_reload_across_tasks() {
    let seen = corio::run(async {
        let (tx, mut rx) = watch::channel(String::from("v0"));
        let watcher = corio::spawn(async move {
            let mut seen = vec![rx.borrow_and_update().clone()];
            while rx.changed().await.is_ok() {
                seen.push(rx.borrow_and_update().clone());
            }
            seen
        });
        for i in 1..=3 {
            tx.send(format!("v{i}")).unwrap();
            corio::sleep(Duration::from_millis(1)).await;
        }
        tx.send_modify(|s| s.push('!'));
        drop(tx);
        watcher.await
    });
    // The watcher may start late and skip values, but sees them in order and never misses the
    // last one.
    let all = ["v0", "v1", "v2", "v3", "v3!"];
    let mut rest = all.iter();
    for s in &seen {
        assert!(rest.any(|a| a == s), "{seen:?} is not in order");
    }
    assert_eq!(seen.last().map(String::as_str), Some("v3!"));
}

#[test]
fn watch_changed_cancelled_by_a_timeout_loses_nothing() {
    corio::run(async {
        let (tx, mut rx) = watch::channel(0);
        assert_eq!(rx.has_changed(), Ok(false));
        let waited = corio::timeout(Duration::from_millis(10), rx.changed()).await;
        assert!(waited.is_err());
        tx.send(1).unwrap();
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 1);
        drop(tx);
        assert_eq!(rx.changed().await, Err(watch::RecvError));
        let sub_err = {
            let (tx, rx) = watch::channel(0);
            drop(rx);
            tx.send(5).unwrap_err()
        };
        assert_eq!(sub_err, watch::SendError(5));
        assert_eq!(sub_err.to_string(), "watch channel has no receivers");
    });
}
