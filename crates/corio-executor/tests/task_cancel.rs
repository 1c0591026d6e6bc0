//! Cancellation of tasks: drop, cancel().await, detach.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use corio_executor::{Runtime, run_local, spawn, yield_now};
use support::{DropCounter, wait_until};

#[test]
fn dropping_a_task_cancels_it_and_drops_its_future() {
    let counter = DropCounter::new();
    let c = counter.clone();
    run_local(async move {
        let guard = c.guard();
        let t = spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        yield_now().await; // let it start and go idle
        drop(t);
        // The cancelled task is dropped at its next scheduling point on this loop.
        yield_now().await;
        assert_eq!(c.alive(), 0);
    });
    assert_eq!(counter.alive(), 0);
}

#[test]
fn cancel_returns_after_the_future_was_dropped() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let counter = DropCounter::new();
    let guard = counter.guard();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let t = rt.spawn(async move {
        let _guard = guard;
        s.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
    });
    wait_until("the task started", || started.load(Ordering::SeqCst));
    let out = rt.block_on(t.cancel());
    assert_eq!(out, None);
    assert_eq!(
        counter.alive(),
        0,
        "cancel().await returned only after the drop"
    );
}

#[test]
fn cancel_of_a_finished_task_returns_its_output() {
    run_local(async {
        let t = spawn(async { 5 });
        while !t.is_finished() {
            yield_now().await;
        }
        assert_eq!(t.cancel().await, Some(5));
    });
}

#[test]
fn a_detached_task_runs_to_completion() {
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    rt.spawn(async move {
        yield_now().await;
        tx.send("done").unwrap();
    })
    .detach();
    assert_eq!(
        rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap(),
        "done"
    );
}
