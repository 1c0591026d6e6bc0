//! Cancellation of tasks: drop, cancel().await, detach.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// Busy for `d` without an await: a poll that takes that long.
fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// A cancel that lands while the task's last poll is running, on another worker, returns the
/// output that poll produced: the task finished, so its output is neither dropped nor lost
/// (tokio's `JoinHandle` does the same when the task finishes before its abort takes effect).
/// Each task takes a token and returns it; the token comes back from `cancel` exactly when the
/// task got as far as returning it.
#[test]
fn a_cancel_racing_the_last_poll_returns_its_output() {
    use std::sync::atomic::AtomicUsize;

    /// An output whose drop is counted: a lost output is a dropped token.
    struct Token(Arc<AtomicUsize>);
    impl Drop for Token {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let (mut returned, mut lost, mut cancelled) = (0, 0, 0);
    for i in 0..2_000u64 {
        let finished = Arc::new(AtomicBool::new(false));
        let (f, d) = (finished.clone(), dropped.clone());
        let t = rt.spawn(async move {
            // A little synchronous work in the last poll, so that the cancel lands inside it.
            spin(Duration::from_micros(20 + i % 40));
            f.store(true, Ordering::SeqCst);
            Token(d)
        });
        let before = dropped.load(Ordering::SeqCst);
        let got = rt.block_on(async {
            spin(Duration::from_micros(i % 50));
            t.cancel().await
        });
        match got {
            Some(token) => {
                assert!(
                    finished.load(Ordering::SeqCst),
                    "an output from an unfinished task"
                );
                std::mem::forget(token);
                returned += 1;
            }
            None if finished.load(Ordering::SeqCst) => lost += 1,
            None => cancelled += 1,
        }
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            before,
            "round {i}: the task's output was dropped"
        );
    }
    assert_eq!(
        lost, 0,
        "{lost} outputs lost ({returned} returned, {cancelled} cancelled before finishing)"
    );
}

/// The same race with a last poll that panics: the panic comes out of `cancel` (the task
/// finished by panicking), and none is reported as unobserved.
#[test]
fn a_cancel_racing_a_panicking_last_poll_resumes_the_panic() {
    use std::sync::Mutex;

    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    let rt = Runtime::builder()
        .worker_threads(2)
        .report_hook(move |report| r.lock().unwrap().push(report.to_string()))
        .build()
        .unwrap();
    let (mut resumed, mut cancelled) = (0, 0);
    for i in 0..1_000u64 {
        let reached = Arc::new(AtomicBool::new(false));
        let reached2 = reached.clone();
        let t = rt.spawn(async move {
            spin(Duration::from_micros(20 + i % 40));
            reached2.store(true, Ordering::SeqCst);
            std::panic::panic_any(i);
        });
        let got = rt.block_on(async {
            spin(Duration::from_micros(i % 50));
            futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(t.cancel())).await
        });
        match got {
            Err(payload) => {
                assert_eq!(payload.downcast_ref::<u64>(), Some(&i));
                resumed += 1;
            }
            Ok(None) => {
                assert!(
                    !reached.load(Ordering::SeqCst),
                    "round {i}: the task panicked, and cancel returned None"
                );
                cancelled += 1;
            }
            Ok(Some(())) => unreachable!("the task never returns"),
        }
    }
    let reports = reports.lock().unwrap();
    assert!(
        reports.is_empty(),
        "{} panics reported as unobserved ({resumed} resumed, {cancelled} cancelled): {:?}",
        reports.len(),
        reports.first()
    );
}

/// A task that awaits its own handle would wait for ever: it panics at once instead, saying
/// so, and the panic is reported (found by a conformance probe; asyncio raises "Task cannot await
/// on itself").
#[test]
fn a_task_awaiting_its_own_handle_panics_instead_of_hanging() {
    use std::sync::mpsc;
    let (report_tx, reports) = mpsc::channel::<String>();
    let report_tx = std::sync::Mutex::new(report_tx);
    let rt = Runtime::builder()
        .worker_threads(2)
        .report_hook(move |report| {
            let _ = report_tx.lock().unwrap().send(report.to_string());
        })
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel::<corio_executor::task::Task<u32>>();
    let t = rt.spawn(async move {
        let me = rx.recv().unwrap();
        me.await + 1
    });
    let id = t.id();
    tx.send(t).unwrap();
    // A generous bound: without the check the task waits for ever and nothing is reported.
    let report = reports
        .recv_timeout(Duration::from_secs(20))
        .expect("no report: the task still waits for itself");
    assert!(
        report.contains("awaits its own handle") && report.contains(&id.to_string()),
        "{report}"
    );
}

/// Awaiting a handle again after it returned the output is a bug in the caller: the panic says
/// so, rather than claiming that the task was cancelled (found by a conformance probe). The
/// handle still answers `is_finished` and `cancel` sensibly.
#[test]
fn a_handle_polled_after_it_returned_says_so() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};
    run_local(async {
        let mut t = spawn(async { 7u32 });
        assert_eq!((&mut t).await, 7);
        assert!(t.is_finished());
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut cx = Context::from_waker(Waker::noop());
            Pin::new(&mut t).poll(&mut cx)
        }));
        let message = match again {
            Ok(Poll::Ready(v)) => panic!("a second poll returned {v}"),
            Ok(Poll::Pending) => panic!("a second poll was pending"),
            Err(payload) => payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default(),
        };
        assert!(
            message.contains("polled after it had returned") && !message.contains("cancelled"),
            "{message}"
        );
        assert_eq!(t.cancel().await, None);
    });
}
