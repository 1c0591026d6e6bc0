//! Destructors that panic while the executor drops a task's future or output (issue 15).
//!
//! async-task aborts the process when a future's destructor panics inside it. corio drops the
//! future itself, under `catch_unwind`, so each of these programs used to abort and must now:
//! survive, run every other destructor, keep serving, and report each panic exactly once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use corio_executor::{LocalRuntime, Runtime, block_on, yield_now};

/// Counts its drops; panics in `drop` when `bomb` is set.
struct Guard {
    drops: Arc<AtomicUsize>,
    bomb: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.bomb {
            panic!("destructor bomb");
        }
    }
}

fn guard(drops: &Arc<AtomicUsize>, bomb: bool) -> Guard {
    Guard {
        drops: drops.clone(),
        bomb,
    }
}

/// A future that never finishes and holds a guard.
async fn parked(g: Guard) {
    let _g = g;
    std::future::pending::<()>().await;
}

type Reports = Arc<Mutex<Vec<String>>>;

fn reporting_runtime(workers: usize) -> (Runtime, Reports) {
    let reports: Reports = Arc::default();
    let sink = reports.clone();
    let rt = Runtime::builder()
        .worker_threads(workers)
        .report_hook(move |r| sink.lock().unwrap().push(r.to_string()))
        .build()
        .unwrap();
    (rt, reports)
}

fn reporting_local() -> (LocalRuntime, Reports) {
    let reports: Reports = Arc::default();
    let sink = reports.clone();
    let rt = Runtime::builder()
        .report_hook(move |r| sink.lock().unwrap().push(r.to_string()))
        .build_local()
        .unwrap();
    (rt, reports)
}

/// Waits (bounded) until `n` bomb reports arrived: a report is made after the destructor's
/// panic is caught, which on a worker may come a moment after the drop counter moved.
fn wait_reports(reports: &Reports, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while bomb_reports(reports) < n && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn bomb_reports(reports: &Reports) -> usize {
    reports
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains("destructor bomb"))
        .count()
}

/// Waits (yielding, and sleeping a little between looks) until `cond` holds, with a generous
/// bound: the tasks are dropped by the workers, which a loaded machine may delay.
async fn until(cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not reached in 30 s"
        );
        yield_now().await;
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

#[test]
fn dropping_a_task_whose_destructor_panics_is_reported_not_aborted() {
    for workers in [1, 2] {
        let (rt, reports) = reporting_runtime(workers);
        let drops = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..20 {
            tasks.push(rt.spawn(parked(guard(&drops, i % 5 == 0))));
        }
        // Let every task reach its await, then cancel them all.
        rt.block_on(async {
            for _ in 0..10 {
                yield_now().await;
            }
        });
        drop(tasks);
        let seen = drops.clone();
        rt.block_on(until(move || seen.load(Ordering::SeqCst) == 20));
        wait_reports(&reports, 4);
        assert_eq!(bomb_reports(&reports), 4, "each bomb reported once");
        // The runtime still serves.
        assert_eq!(rt.block_on(rt.spawn(async { 7 })), 7);
        drop(rt);
        assert_eq!(drops.load(Ordering::SeqCst), 20);
        assert_eq!(bomb_reports(&reports), 4);
    }
}

#[test]
fn cancel_await_survives_a_panicking_destructor() {
    let (rt, reports) = reporting_runtime(2);
    let drops = Arc::new(AtomicUsize::new(0));
    let task = rt.spawn(parked(guard(&drops, true)));
    let out = rt.block_on(async {
        yield_now().await;
        task.cancel().await
    });
    assert_eq!(out, None);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the future was dropped");
    assert_eq!(bomb_reports(&reports), 1);
    assert_eq!(rt.block_on(rt.spawn(async { 1 })), 1);
}

#[test]
fn runtime_shutdown_drops_every_task_even_when_some_destructors_panic() {
    for workers in [1, 2] {
        let (rt, reports) = reporting_runtime(workers);
        let drops = Arc::new(AtomicUsize::new(0));
        for i in 0..50 {
            rt.spawn(parked(guard(&drops, i % 10 == 3))).detach();
        }
        // Some idle, some never polled: both kinds are dropped at shutdown.
        rt.block_on(yield_now());
        for i in 0..10 {
            rt.spawn(parked(guard(&drops, i == 0))).detach();
        }
        drop(rt);
        assert_eq!(drops.load(Ordering::SeqCst), 60, "every destructor ran");
        assert_eq!(bomb_reports(&reports), 6, "each bomb reported once");
    }
}

#[test]
fn the_local_loop_survives_panicking_destructors_on_cancel_and_shutdown() {
    let (rt, reports) = reporting_local();
    let drops = Arc::new(AtomicUsize::new(0));
    let cancelled = rt.spawn_local(parked(guard(&drops, true)));
    for i in 0..10 {
        rt.spawn_local(parked(guard(&drops, i == 4))).detach();
    }
    rt.block_on(async {
        yield_now().await;
        drop(cancelled);
        yield_now().await;
        yield_now().await;
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(bomb_reports(&reports), 1);
    assert_eq!(rt.block_on(async { 3 }), 3, "the loop still runs");
    drop(rt);
    assert_eq!(drops.load(Ordering::SeqCst), 11);
    assert_eq!(bomb_reports(&reports), 2);
}

/// Finishes at once; its destructor (run after `Ready`) panics.
struct ReadyThenBomb {
    _guard: Guard,
}

impl Future for ReadyThenBomb {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        Poll::Ready(5)
    }
}

#[test]
fn a_destructor_that_panics_after_completion_is_reported_and_the_output_delivered() {
    let (rt, reports) = reporting_runtime(1);
    let drops = Arc::new(AtomicUsize::new(0));
    let task = rt.spawn(ReadyThenBomb {
        _guard: guard(&drops, true),
    });
    assert_eq!(rt.block_on(task), 5, "the output is whole");
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(
        bomb_reports(&reports),
        1,
        "the destructor's panic is reported once"
    );
}

#[test]
fn an_output_whose_destructor_panics_is_reported_when_nobody_takes_it() {
    let (rt, reports) = reporting_runtime(2);
    let drops = Arc::new(AtomicUsize::new(0));
    // Detached: async-task drops the output itself. Detached inside the runtime: a task that
    // finished before `detach` gives its output back to the caller of `detach`, and outside any
    // runtime a report has no hook to go to but stderr.
    let d = drops.clone();
    rt.block_on(async move { corio_executor::spawn(async move { guard(&d, true) }).detach() });
    // A handle dropped after the task finished: the output goes with it.
    let d = drops.clone();
    let finished = rt.spawn(async move { guard(&d, true) });
    let seen = drops.clone();
    rt.block_on(async {
        until(|| finished.is_finished()).await;
        drop(finished);
        until(move || seen.load(Ordering::SeqCst) == 2).await;
    });
    wait_reports(&reports, 2);
    assert_eq!(bomb_reports(&reports), 2);
    assert_eq!(rt.block_on(rt.spawn(async { 9 })), 9);
}

#[test]
fn the_global_runtime_survives_a_panicking_destructor() {
    let drops = Arc::new(AtomicUsize::new(0));
    let task = corio_executor::spawn(parked(guard(&drops, true)));
    block_on(async {
        yield_now().await;
        assert_eq!(task.cancel().await, None);
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(block_on(corio_executor::spawn(async { 4 })), 4);
}

#[test]
fn a_panic_mid_poll_whose_unwinding_destructor_also_panics_is_not_an_abort() {
    // The future panics in poll while holding a guard whose destructor also panics: Rust aborts on
    // a panic during unwinding, so the guard here is only dropped later, by the task, after the
    // poll's panic was caught. The awaiter sees the poll's panic; the destructor's is reported.
    struct PanicsThenBombs {
        _guard: Guard,
    }
    impl Future for PanicsThenBombs {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            panic!("poll panic")
        }
    }
    let (rt, reports) = reporting_runtime(1);
    let drops = Arc::new(AtomicUsize::new(0));
    let task = rt.spawn(PanicsThenBombs {
        _guard: guard(&drops, true),
    });
    let caught = rt.block_on(async {
        futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(task)).await
    });
    let payload = caught.expect_err("the poll's panic reaches the awaiter");
    assert_eq!(*payload.downcast_ref::<&str>().unwrap(), "poll panic");
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(bomb_reports(&reports), 1);
}
