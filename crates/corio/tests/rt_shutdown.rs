//! Shutdown of full runtimes: sleeping tasks, socket tasks and blocking jobs are all cleaned up.

mod support;

use std::time::Duration;

use support::{DropCounter, thread_names, wait_until};

#[test]
fn run_returns_after_dropping_sleeping_and_io_tasks_and_stopping_threads() {
    let counter = DropCounter::new();
    let c = counter.clone();
    corio::run(async move {
        for _ in 0..50 {
            let guard = c.guard();
            corio::spawn(async move {
                let _guard = guard;
                corio::sleep(Duration::from_secs(3600)).await;
            })
            .detach();
        }
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let guard = c.guard();
        corio::spawn(async move {
            let _guard = guard;
            let _ = listener.accept().await;
        })
        .detach();
        let guard = c.guard();
        corio::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        })
        .detach();
        corio::sleep(Duration::from_millis(5)).await;
        assert_eq!(c.alive(), 52);
    });
    assert_eq!(counter.alive(), 0, "run() dropped every leftover task");
    if cfg!(target_os = "linux") {
        wait_until("no corio-worker thread is left", || {
            !thread_names().iter().any(|n| n.starts_with("corio-worker"))
        });
    }
}

#[test]
fn a_runtime_dropped_while_a_task_waits_on_a_socket_does_not_hang_that_socket() {
    // A socket created on a runtime that then shuts down reports an error instead of hanging.
    let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
    let listener = rt
        .block_on(corio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    drop(rt);
    let result =
        futures_lite::future::block_on(corio::timeout(Duration::from_secs(10), listener.accept()));
    let err = result.expect("accept did not hang").unwrap_err();
    assert!(err.to_string().contains("shut down"), "{err}");
}
