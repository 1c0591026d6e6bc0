//! Destructors that panic on every path where corio drops a user's future (issue 15): task
//! groups, join/race losers, timeouts and cancel scopes, the blocking pool, runtime shutdown with
//! timers and sockets registered. Each program must survive (no abort), run every other
//! destructor, keep serving, and surface each panic once: in the awaiter where there is one,
//! through the report hook where there is none.

use std::future::pending;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::FutureExt;

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

#[derive(Clone, Default)]
struct Drops(Arc<AtomicUsize>);

impl Drops {
    fn guard(&self, bomb: bool) -> Guard {
        Guard {
            drops: self.0.clone(),
            bomb,
        }
    }
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Parks forever holding `g`.
async fn parked<T>(g: Guard) -> T {
    let _g = g;
    pending().await
}

type Reports = Arc<Mutex<Vec<String>>>;
type BoxedTry =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<u8, &'static str>> + Send>>;
type Boxed<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

fn runtime(workers: usize) -> (corio::Runtime, Reports) {
    let reports: Reports = Arc::default();
    let sink = reports.clone();
    let rt = corio::Runtime::builder()
        .worker_threads(workers)
        .report_hook(move |r| sink.lock().unwrap().push(r.to_string()))
        .build()
        .unwrap();
    (rt, reports)
}

/// Waits (bounded) until `n` bomb reports arrived: a report is made after the destructor's
/// panic is caught, which on a worker may come a moment after the group returned.
fn wait_bombs(reports: &Reports, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while bombs(reports) < n && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn bombs(reports: &Reports) -> usize {
    reports
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains("destructor bomb"))
        .count()
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn a_task_group_cancelling_a_child_whose_destructor_panics() {
    for workers in [1, 2] {
        let (rt, reports) = runtime(workers);
        let drops = Drops::default();
        let d = drops.clone();
        let out = std::panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(corio::task_group(async move |g| {
                for i in 0..6 {
                    let guard = d.guard(i == 2);
                    g.spawn(async move { parked::<Result<(), &str>>(guard).await });
                }
                let guard = d.guard(true);
                g.spawn_local(async move { parked::<Result<(), &str>>(guard).await });
                g.spawn(async {
                    corio::sleep(Duration::from_millis(5)).await;
                    Err::<(), _>("sibling failed")
                });
                Ok::<_, &str>(())
            }))
        }));
        // A destructor's panic, local or spawned child alike, counts as that child's panic: one
        // resumes in the caller, after every child is gone, and the other is reported (only one
        // panic can resume).
        let payload = out.expect_err("a child's destructor panic resumes here");
        assert_eq!(panic_text(payload), "destructor bomb");
        assert_eq!(
            drops.count(),
            7,
            "every child was dropped before the group returned"
        );
        wait_bombs(&reports, 1);
        assert_eq!(bombs(&reports), 1, "the other child's bomb, reported once");
        assert_eq!(rt.block_on(rt.spawn(async { 5 })), 5, "still serving");
    }
}

#[test]
fn join_all_try_join_all_and_race_losers_with_panicking_destructors() {
    let (rt, _reports) = runtime(2);
    let drops = Drops::default();

    // try_join_all: the first error drops the rest; one of them bombs.
    let d = drops.clone();
    let task = rt.spawn(async move {
        let futs: Vec<BoxedTry> = vec![
            Box::pin(parked(d.guard(false))),
            Box::pin(parked(d.guard(true))),
            Box::pin(async { Err("no") }),
            Box::pin(parked(d.guard(false))),
        ];
        corio::try_join_all(futs).await
    });
    let caught = rt.block_on(AssertUnwindSafe(task).catch_unwind());
    assert_eq!(panic_text(caught.unwrap_err()), "destructor bomb");
    assert_eq!(drops.count(), 3, "every loser was dropped");

    // race: the loser bombs when dropped.
    let d = drops.clone();
    let task = rt.spawn(async move { corio::race(parked(d.guard(true)), async { 1u8 }).await });
    let caught = rt.block_on(AssertUnwindSafe(task).catch_unwind());
    assert_eq!(panic_text(caught.unwrap_err()), "destructor bomb");
    assert_eq!(drops.count(), 4);

    // join_all of futures, one of which is cancelled with the task.
    let d = drops.clone();
    let task = rt.spawn(async move {
        corio::join_all(vec![
            parked::<u8>(d.guard(false)),
            parked::<u8>(d.guard(true)),
        ])
        .await
    });
    rt.block_on(corio::sleep(Duration::from_millis(1)));
    drop(task);
    let d = drops.clone();
    rt.block_on(async move {
        while d.count() < 6 {
            corio::sleep(Duration::from_millis(1)).await;
        }
    });
    assert_eq!(rt.block_on(rt.spawn(async { 1 })), 1);
}

#[test]
fn timeouts_and_cancel_scopes_dropping_a_panicking_future() {
    let (rt, _reports) = runtime(1);
    let drops = Drops::default();
    for kind in 0..3 {
        let d = drops.clone();
        let task = rt.spawn(async move {
            let fut = parked::<()>(d.guard(true));
            match kind {
                0 => {
                    let _ = corio::timeout(Duration::from_millis(2), fut).await;
                }
                1 => {
                    let _ = corio::move_on_after(Duration::from_millis(2), fut).await;
                }
                _ => {
                    let _ = corio::fail_after(Duration::from_millis(2), fut).await;
                }
            }
        });
        let caught = rt.block_on(AssertUnwindSafe(task).catch_unwind());
        assert_eq!(
            panic_text(caught.unwrap_err()),
            "destructor bomb",
            "kind {kind}"
        );
        assert_eq!(drops.count(), kind + 1);
    }
    assert_eq!(rt.block_on(rt.spawn(async { 2 })), 2);
}

#[test]
fn a_blocking_closure_whose_captured_state_panics_on_drop() {
    let drops = Drops::default();
    let (rt, reports) = {
        let reports: Reports = Arc::default();
        let sink = reports.clone();
        let rt = corio::Runtime::builder()
            .worker_threads(1)
            .blocking_threads(1)
            .report_hook(move |r| sink.lock().unwrap().push(r.to_string()))
            .build()
            .unwrap();
        (rt, reports)
    };
    // Run to completion: the closure's captures are dropped on the pool thread after it runs.
    let g = drops.guard(true);
    let ran = rt.block_on(async move {
        AssertUnwindSafe(corio::to_thread(move || {
            let _keep = &g;
            7
        }))
        .catch_unwind()
        .await
    });
    // The captures are dropped inside the job, so the awaiter sees the panic.
    assert_eq!(panic_text(ran.unwrap_err()), "destructor bomb");
    assert_eq!(drops.count(), 1);
    // Queued behind a busy thread, then abandoned.
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let busy = rt.spawn(corio::to_thread(move || release_rx.recv().ok()));
    let g = drops.guard(true);
    let queued = rt.spawn(corio::to_thread(move || drop(g)));
    rt.block_on(corio::sleep(Duration::from_millis(5)));
    drop(queued);
    release_tx.send(()).unwrap();
    rt.block_on(busy);
    drop(rt);
    assert_eq!(
        drops.count(),
        2,
        "the abandoned closure's captures were dropped"
    );
    // Whether the abandoned job ran (its panic then has no awaiter) or was dropped unrun, its
    // destructor's panic surfaces at most once, and never as an abort.
    assert!(bombs(&reports) <= 1, "{:?}", reports.lock().unwrap());
}

#[test]
fn runtime_shutdown_with_timers_and_sockets_registered_and_panicking_destructors() {
    for workers in [1, 2] {
        let (rt, reports) = runtime(workers);
        let drops = Drops::default();
        let listener = rt
            .block_on(corio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let listener = Arc::new(listener);
        for i in 0..8 {
            let g = drops.guard(i % 2 == 0);
            let l = listener.clone();
            rt.spawn(async move {
                let _g = g;
                if i % 4 < 2 {
                    corio::sleep(Duration::from_secs(3600)).await;
                } else {
                    let _ = l.accept().await;
                }
            })
            .detach();
        }
        rt.block_on(corio::sleep(Duration::from_millis(5)));
        drop(rt);
        assert_eq!(drops.count(), 8, "every task was dropped at shutdown");
        assert_eq!(bombs(&reports), 4, "each bomb reported once");
    }
}

#[test]
fn run_local_and_run_survive_a_panicking_task_destructor() {
    let drops = Drops::default();
    let d = drops.clone();
    let out = corio::run_local(async move {
        let t = corio::spawn_local(parked::<()>(d.guard(true)));
        corio::yield_now().await;
        drop(t);
        corio::yield_now().await;
        3
    });
    assert_eq!(out, 3);
    let d = drops.clone();
    let out = corio::run(async move {
        corio::spawn(parked::<()>(d.guard(true))).detach();
        corio::yield_now().await;
        4
    });
    assert_eq!(out, 4);
    assert_eq!(drops.count(), 2);
}

#[test]
fn a_task_set_cancelling_tasks_whose_destructors_panic() {
    for workers in [1, 2] {
        let (rt, reports) = runtime(workers);
        let drops = Drops::default();
        let d = drops.clone();
        rt.block_on(async move {
            // cancel_all, then drop: each path meets two bombs among five tasks.
            let mut set = corio::TaskSet::new();
            for i in 0..5 {
                set.spawn(parked::<()>(d.guard(i % 2 == 1)));
            }
            corio::sleep(Duration::from_millis(2)).await;
            set.cancel_all();
            assert!(set.join_next().await.is_none());
            let mut set = corio::TaskSet::new();
            for i in 0..5 {
                set.spawn(parked::<()>(d.guard(i % 2 == 1)));
            }
            corio::sleep(Duration::from_millis(2)).await;
            drop(set);
        });
        assert_eq!(drops.count(), 10, "every task's future was dropped");
        assert_eq!(bombs(&reports), 4, "each bomb reported once");
        assert_eq!(rt.block_on(rt.spawn(async { 6 })), 6, "still serving");
    }
}

/// Outputs of finished `TaskSet` members that nobody joined, whose destructors panic, dropped by
/// `cancel_all`, by the set's drop, and by the shutdown of a runtime whose task holds the set:
/// each panic is reported once, every output is dropped, and nothing escapes or aborts (probe X:
/// the first panic escaped `drop(set)` and `cancel_all` into the caller, the second aborted).
#[test]
fn a_task_sets_unjoined_outputs_whose_destructors_panic() {
    /// A set of `n` members that finish at once, each with a guard as its output (the odd ones
    /// bomb); returns once all have finished.
    async fn finished_set(d: &Drops, n: usize) -> corio::TaskSet<Guard> {
        let finished = Arc::new(AtomicUsize::new(0));
        let mut set = corio::TaskSet::new();
        for i in 0..n {
            let (guard, finished) = (d.guard(i % 2 == 1), finished.clone());
            set.spawn(async move {
                finished.fetch_add(1, Ordering::SeqCst);
                guard
            });
        }
        while finished.load(Ordering::SeqCst) < n {
            corio::sleep(Duration::from_millis(1)).await;
        }
        set
    }
    for workers in [1, 2] {
        let (rt, reports) = runtime(workers);
        let drops = Drops::default();
        let d = drops.clone();
        rt.block_on(async move {
            let mut set = finished_set(&d, 5).await;
            set.cancel_all();
            assert!(set.join_next().await.is_none());
            drop(finished_set(&d, 5).await);
        });
        assert_eq!(drops.count(), 10, "every output was dropped");
        assert_eq!(bombs(&reports), 4, "each bomb reported once");
        // Held by a task that the runtime's shutdown drops.
        let d = drops.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let _set = finished_set(&d, 4).await;
            tx.send(()).unwrap();
            pending::<()>().await
        })
        .detach();
        rx.recv().unwrap();
        assert_eq!(rt.block_on(rt.spawn(async { 7 })), 7, "still serving");
        drop(rt);
        assert_eq!(drops.count(), 14, "the shutdown dropped the set's outputs");
        assert_eq!(bombs(&reports), 6, "each bomb reported once");
    }
}

/// Two or more values whose destructors panic, dropped together by one combinator: the losers
/// of a `select!` (when it completes, and when it is itself dropped while waiting), and the
/// outputs a `join_all`, `try_join_all` or `try_join!` had gathered when it was dropped or failed. One panic
/// resumes in the awaiter where there is one; the others are reported; nothing aborts (probe X:
/// the `select!` and the dropped `join_all` aborted the process).
#[test]
fn combinators_dropping_several_values_whose_destructors_panic() {
    for workers in [1, 2] {
        let (rt, reports) = runtime(workers);
        let drops = Drops::default();
        // select!: two losers bomb when the third arm wins.
        let d = drops.clone();
        let task = rt.spawn(async move {
            corio::select! {
                _ = parked::<()>(d.guard(true)) => {},
                _ = parked::<()>(d.guard(true)) => {},
                _ = corio::sleep(Duration::from_millis(1)) => {},
            }
        });
        let caught = rt.block_on(AssertUnwindSafe(task).catch_unwind());
        assert_eq!(panic_text(caught.unwrap_err()), "destructor bomb");
        assert_eq!(drops.count(), 2);
        wait_bombs(&reports, 1);
        // The same select!, dropped while it waits (a timeout around it).
        let d = drops.clone();
        let task = rt.spawn(async move {
            corio::timeout(Duration::from_millis(1), async {
                corio::select! {
                    _ = parked::<()>(d.guard(true)) => {},
                    _ = parked::<()>(d.guard(true)) => {},
                }
            })
            .await
        });
        let caught = rt.block_on(AssertUnwindSafe(task).catch_unwind());
        assert_eq!(panic_text(caught.unwrap_err()), "destructor bomb");
        assert_eq!(drops.count(), 4);
        wait_bombs(&reports, 2);
        // join_all dropped by a timeout while holding two finished outputs that bomb.
        let d = drops.clone();
        let task = rt.spawn(async move {
            let futures: Vec<Boxed<Guard>> = vec![
                Box::pin(std::future::ready(d.guard(true))),
                Box::pin(std::future::ready(d.guard(true))),
                Box::pin(parked(d.guard(false))),
            ];
            corio::timeout(Duration::from_millis(1), corio::join_all(futures))
                .await
                .is_err()
        });
        assert!(rt.block_on(task), "the join_all timed out");
        assert_eq!(drops.count(), 7);
        wait_bombs(&reports, 4);
        // try_join_all failing while holding two finished outputs that bomb.
        let d = drops.clone();
        let task = rt.spawn(async move {
            let futures: Vec<Boxed<Result<Guard, &str>>> = vec![
                Box::pin(std::future::ready(Ok(d.guard(true)))),
                Box::pin(std::future::ready(Ok(d.guard(true)))),
                Box::pin(async {
                    corio::sleep(Duration::from_millis(1)).await;
                    Err("failed")
                }),
            ];
            corio::try_join_all(futures).await.map(|_| ())
        });
        let caught = rt.block_on(AssertUnwindSafe(task).catch_unwind());
        assert_eq!(panic_text(caught.unwrap_err()), "destructor bomb");
        assert_eq!(drops.count(), 9);
        wait_bombs(&reports, 5);
        // try_join! failing while holding two finished outputs that bomb.
        let d = drops.clone();
        let task = rt.spawn(async move {
            let (a, b) = (d.guard(true), d.guard(true));
            corio::try_join!(
                async move { Ok::<_, &str>(a) },
                async move { Ok(b) },
                async {
                    corio::sleep(Duration::from_millis(1)).await;
                    Err::<(), _>("failed")
                },
            )
            .map(|_| ())
        });
        let caught = rt.block_on(AssertUnwindSafe(task).catch_unwind());
        assert_eq!(panic_text(caught.unwrap_err()), "destructor bomb");
        assert_eq!(drops.count(), 11);
        wait_bombs(&reports, 6);
        // join_all dropped by a timeout while two pending futures bomb.
        let d = drops.clone();
        let task = rt.spawn(async move {
            let futures: Vec<Boxed<Guard>> = vec![
                Box::pin(parked(d.guard(true))),
                Box::pin(parked(d.guard(true))),
            ];
            corio::timeout(Duration::from_millis(1), corio::join_all(futures))
                .await
                .is_err()
        });
        assert!(rt.block_on(task), "the join_all timed out");
        assert_eq!(drops.count(), 13);
        wait_bombs(&reports, 8);
        assert_eq!(bombs(&reports), 8, "each bomb nobody awaited reported once");
        for report in reports.lock().unwrap().iter() {
            // Located at the combinator's call, here, not inside corio.
            assert!(report.contains(file!()), "{report}");
        }
        assert_eq!(rt.block_on(rt.spawn(async { 8 })), 8, "still serving");
    }
}

/// A `race` cancelled while both its futures' destructors panic (both reported, no abort), and
/// a `select!` whose loser's destructor panics after the winner's output exists (the output is
/// dropped, not leaked). A review found the first aborting and the second leaking.
#[test]
fn race_and_select_losers_panicking_neither_abort_nor_leak() {
    for workers in [1, 2] {
        let (rt, reports) = runtime(workers);
        let drops = Drops::default();
        let d = drops.clone();
        let task = rt.spawn(async move {
            corio::timeout(
                Duration::from_millis(1),
                corio::race(parked::<()>(d.guard(true)), parked::<()>(d.guard(true))),
            )
            .await
            .is_err()
        });
        assert!(rt.block_on(task), "the race timed out");
        assert_eq!(drops.count(), 2);
        wait_bombs(&reports, 2);
        assert_eq!(bombs(&reports), 2, "both reported once");
        let output = Arc::new(());
        let (d, o) = (drops.clone(), output.clone());
        let task = rt.spawn(async move {
            corio::select! {
                biased;
                kept = std::future::ready(o) => drop(kept),
                _ = parked::<()>(d.guard(true)) => {},
            }
        });
        let caught = rt.block_on(AssertUnwindSafe(task).catch_unwind());
        assert_eq!(panic_text(caught.unwrap_err()), "destructor bomb");
        assert_eq!(drops.count(), 3);
        assert_eq!(
            Arc::strong_count(&output),
            1,
            "the winner's output was dropped"
        );
        // The same where the winner's output panics in its destructor too (the output is
        // dropped by the loser's unwinding: reported, not a second panic during a panic, which
        // aborted), in a `select!` and in a `race`.
        let d = drops.clone();
        let task = rt.spawn(async move {
            corio::select! {
                biased;
                kept = std::future::ready(d.guard(true)) => drop(kept),
                _ = parked::<()>(d.guard(true)) => {},
            }
        });
        let caught = rt.block_on(AssertUnwindSafe(task).catch_unwind());
        assert_eq!(panic_text(caught.unwrap_err()), "destructor bomb");
        assert_eq!(drops.count(), 5);
        let d = drops.clone();
        let task = rt.spawn(async move {
            drop(corio::race(std::future::ready(d.guard(true)), parked(d.guard(true))).await);
        });
        let caught = rt.block_on(AssertUnwindSafe(task).catch_unwind());
        assert_eq!(panic_text(caught.unwrap_err()), "destructor bomb");
        assert_eq!(drops.count(), 7);
        wait_bombs(&reports, 4);
        assert_eq!(rt.block_on(rt.spawn(async { 9 })), 9, "still serving");
    }
}

/// The report of a destructor that panicked while its task was cancelled names the task and
/// says the panic came from the destructor (nobody could have awaited it).
#[test]
fn a_cancelled_named_tasks_destructor_panic_is_reported_with_its_name() {
    let (rt, reports) = runtime(1);
    let drops = Drops::default();
    let polled = Arc::new(AtomicUsize::new(0));
    let (g, p) = (drops.guard(true), polled.clone());
    rt.block_on(async move {
        let task = corio::task::Builder::new()
            .name("bomb-carrier")
            .spawn(async move {
                p.fetch_add(1, Ordering::SeqCst);
                parked::<()>(g).await
            });
        while polled.load(Ordering::SeqCst) == 0 {
            corio::yield_now().await;
        }
        drop(task);
    });
    wait_bombs(&reports, 1);
    assert_eq!(drops.count(), 1);
    let reports = reports.lock().unwrap();
    let report = reports
        .iter()
        .find(|r| r.contains("destructor bomb"))
        .expect("the destructor's panic was reported");
    assert!(report.contains("bomb-carrier"), "{report}");
    assert!(report.contains("in the future's destructor"), "{report}");
}

/// A `to_thread` job whose future was dropped (a timeout, a cancelled task) still runs; what it
/// returns is then dropped on the pool thread, and its panic has nobody to reach. Either panic,
/// of the closure or of the returned value's destructor, goes to the report hook of the runtime
/// the call was made on, with the call site, instead of aborting the process (a conformance
/// probe found the abort: async-task dropped the untaken value under its abort-on-panic guard).
#[test]
fn an_abandoned_to_thread_jobs_panics_are_reported_not_aborting() {
    let drops = Drops::default();
    let (rt, reports) = runtime(1);
    let (value_go, value_wait) = std::sync::mpsc::channel::<()>();
    let (closure_go, closure_wait) = std::sync::mpsc::channel::<()>();
    let g = drops.guard(true);
    rt.block_on(async move {
        let returns_a_bomb = corio::to_thread(move || {
            value_wait.recv().unwrap();
            g
        });
        let panics = corio::to_thread(move || -> u8 {
            closure_wait.recv().unwrap();
            panic!("destructor bomb, from the closure")
        });
        // Dropped before either job ends: nobody will take the value or see the panic.
        drop((returns_a_bomb, panics));
    });
    value_go.send(()).unwrap();
    closure_go.send(()).unwrap();
    wait_bombs(&reports, 2);
    assert_eq!(drops.count(), 1, "the value was dropped");
    assert_eq!(bombs(&reports), 2, "{:?}", reports.lock().unwrap());
    {
        let reports = reports.lock().unwrap();
        for report in reports.iter().filter(|r| r.contains("destructor bomb")) {
            assert!(
                report.contains("to_thread") && report.contains("drop_panic.rs"),
                "{report}"
            );
        }
    }
    // The pool and the runtime keep serving.
    assert_eq!(rt.block_on(corio::to_thread(|| 6 * 7)), 42);
}
