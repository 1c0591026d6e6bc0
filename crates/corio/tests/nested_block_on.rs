//! `block_on` nested inside a task on a worker: what a conformance probe found after blocked
//! workers began to run tasks. Each case runs on its own thread with a generous bound, so that a
//! hang fails instead of stalling the suite.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on a new thread; panics if it has not returned within 30 s.
fn bounded(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        panic!("hung: {what}");
    }
}

fn runtime(workers: usize) -> corio::Runtime {
    corio::Runtime::builder()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// A blocked worker runs tasks only when every worker is blocked. Otherwise a task it ran could
/// block on top of it and wait for the outer task, which cannot return before the inner one:
/// A blocks its worker on `rx_a`; B, spawned before, blocks on `rx_b`, which A sends only after
/// its own `block_on` returned. With a free worker, B must run there, not inside A's call.
#[test]
fn a_blocked_worker_leaves_tasks_to_a_free_worker() {
    for workers in [2, 3, 4] {
        for round in 0..4 {
            bounded("two tasks blocked on each other's progress", move || {
                let rt = runtime(workers);
                let done = rt.block_on(rt.spawn(async move {
                    let (tx_a, rx_a) = corio::sync::oneshot::channel::<()>();
                    let (tx_b, rx_b) = corio::sync::oneshot::channel::<()>();
                    let b = corio::spawn(async move {
                        corio::block_on(rx_b).ok();
                    });
                    corio::spawn(async move {
                        corio::sleep(Duration::from_millis(5)).await;
                        tx_a.send(()).ok();
                    })
                    .detach();
                    corio::block_on(rx_a).ok();
                    tx_b.send(()).ok();
                    b.await;
                    true
                }));
                assert!(done, "{workers} workers, round {round}");
            });
        }
    }
}

/// A worker blocked in `block_on` that keeps finding tasks to run still looks at timers and I/O,
/// as a busy worker does: with one worker and a task that yields for ever, a nested
/// `block_on(sleep)` used to never return.
#[test]
fn a_blocked_worker_running_tasks_still_fires_timers() {
    bounded("a nested sleep on one busy worker", || {
        let rt = runtime(1);
        let stop = Arc::new(AtomicBool::new(false));
        let spinner = {
            let stop = stop.clone();
            rt.spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    corio::yield_now().await;
                }
            })
        };
        let slept = rt.spawn(async {
            corio::block_on(corio::sleep(Duration::from_millis(20)));
            true
        });
        assert!(rt.block_on(slept));
        stop.store(true, Ordering::SeqCst);
        rt.block_on(spinner);
    });
}

/// Dropping the runtime while a worker is blocked in a nested `block_on` that will never
/// complete by itself: the worker gives up the task (it is dropped with the rest, its
/// destructors run) and the drop returns, with nothing reported.
#[test]
fn shutdown_ends_a_task_blocked_in_a_nested_block_on() {
    for workers in [1, 2] {
        bounded("dropping the runtime", move || {
            let reports = Arc::new(AtomicUsize::new(0));
            let rt = {
                let reports = reports.clone();
                corio::Runtime::builder()
                    .worker_threads(workers)
                    .report_hook(move |report| {
                        eprintln!("report: {report}");
                        reports.fetch_add(1, Ordering::SeqCst);
                    })
                    .build()
                    .unwrap()
            };
            let dropped = Arc::new(AtomicUsize::new(0));
            struct CountDrop(Arc<AtomicUsize>);
            impl Drop for CountDrop {
                fn drop(&mut self) {
                    self.0.fetch_add(1, Ordering::SeqCst);
                }
            }
            let (blocked, is_blocked) = mpsc::channel();
            let guard = CountDrop(dropped.clone());
            rt.spawn(async move {
                let _guard = guard;
                let forever = corio::spawn(std::future::pending::<()>());
                blocked.send(()).unwrap();
                corio::block_on(forever);
            })
            .detach();
            is_blocked.recv().unwrap();
            drop(rt);
            assert_eq!(
                dropped.load(Ordering::SeqCst),
                1,
                "the blocked task was dropped"
            );
            assert_eq!(reports.load(Ordering::SeqCst), 0, "nothing to report");
        });
    }
}

corio::task_local! {
    static REQUEST: u32;
}

/// A task run by a blocked worker (inside another task's poll) sees its own task-locals and
/// cancel scopes only: not the blocked task's `REQUEST` or deadline, nor does a task it spawns
/// inherit them. With one worker, so the blocked worker is the one that runs it.
#[test]
fn a_task_run_inside_a_blocked_poll_sees_only_its_own_context() {
    bounded("task-locals inside a blocked poll", || {
        let rt = runtime(1);
        let seen = rt.block_on(rt.spawn(async {
            let (tx, rx) = corio::sync::oneshot::channel::<()>();
            let b = corio::spawn(async move {
                let _ = rx.await;
                let child = corio::spawn(async { REQUEST.try_with(|v| *v).ok() });
                (
                    REQUEST.try_with(|v| *v).ok(),
                    corio::current_deadline().is_some(),
                    child.await,
                )
            });
            let outer = REQUEST.scope(
                1,
                corio::fail_after(Duration::from_secs(60), async move {
                    let seen = corio::block_on(async move {
                        tx.send(()).ok();
                        b.await
                    });
                    // And the blocked task's own context is intact afterwards.
                    (
                        seen,
                        REQUEST.with(|v| *v),
                        corio::current_deadline().is_some(),
                    )
                }),
            );
            outer.await.unwrap()
        }));
        assert_eq!(seen, ((None, false, None), 1, true));
    });
    bounded("task-locals inside a blocked local loop", || {
        let seen = corio::run_local(async {
            let (tx, rx) = corio::sync::oneshot::channel::<()>();
            let b = corio::spawn_local(async move {
                let _ = rx.await;
                REQUEST.try_with(|v| *v).ok()
            });
            REQUEST
                .scope(9, async move {
                    corio::block_on(async move {
                        tx.send(()).ok();
                        b.await
                    })
                })
                .await
        });
        assert_eq!(seen, None);
    });
}

/// A task run by a blocked worker spawns a pinned task (`spawn_local`): the worker runs it once
/// its `block_on` returns. It used to be made on a loop the worker never looked at.
#[test]
fn a_task_pinned_from_inside_a_blocked_worker_runs() {
    for workers in [1, 2] {
        bounded(
            "a pinned task spawned inside a nested block_on",
            move || {
                let rt = runtime(workers);
                let ran = rt.block_on(rt.spawn(async {
                    let (tx, rx) = corio::sync::oneshot::channel::<u32>();
                    let _spawner = corio::spawn(async move {
                        corio::block_on(corio::spawn(async move {
                            corio::spawn_local(async move {
                                tx.send(7).ok();
                            })
                            .detach();
                        }));
                    });
                    rx.await
                }));
                assert_eq!(ran, Ok(7), "{workers} workers");
            },
        );
    }
}

/// `block_on(spawn(..))` inside a task pinned to the only worker: the blocked worker runs the
/// runtime's tasks, as from any other task, not only the pinned loop's.
#[test]
fn block_on_inside_a_pinned_task_runs_the_runtimes_tasks() {
    bounded("block_on(spawn(..)) in a pinned task on one worker", || {
        let rt = runtime(1);
        let out = rt.block_on(rt.spawn(async {
            corio::spawn_local(async { corio::block_on(corio::spawn(async { 5 })) }).await
        }));
        assert_eq!(out, 5);
    });
}

/// Destructors that call `block_on` while the thread unwinds (from a panic, or from the
/// shutdown's own unwinding of a blocked task) run as usual: a second unwind there would abort
/// the process.
#[test]
fn block_on_in_destructors_during_shutdown_does_not_abort() {
    struct BlockOnDrop(Duration);
    impl Drop for BlockOnDrop {
        fn drop(&mut self) {
            corio::block_on(corio::sleep(self.0));
        }
    }
    for workers in [1, 2] {
        bounded(
            "a blocked task's local calls block_on as it unwinds",
            move || {
                let rt = runtime(workers);
                let (blocked, is_blocked) = mpsc::channel();
                rt.spawn(async move {
                    let _flush = BlockOnDrop(Duration::ZERO);
                    blocked.send(()).unwrap();
                    corio::block_on(corio::sleep(Duration::from_secs(3600)));
                })
                .detach();
                is_blocked.recv().unwrap();
                drop(rt);
            },
        );
        bounded(
            "a panicking task's local calls block_on at shutdown",
            move || {
                let rt = runtime(workers);
                let (unwinding, is_unwinding) = mpsc::channel();
                struct Signal(mpsc::Sender<()>);
                impl Drop for Signal {
                    fn drop(&mut self) {
                        self.0.send(()).ok();
                    }
                }
                rt.spawn(async move {
                    let _slow = BlockOnDrop(Duration::from_millis(100));
                    let _signal = Signal(unwinding); // dropped first: the unwind has begun
                    panic!("boom");
                })
                .detach();
                is_unwinding.recv().unwrap();
                drop(rt);
            },
        );
    }
}

/// A worker blocked in `block_on` beside a pinned task that is always ready still fires its
/// timers.
#[test]
fn a_blocked_worker_running_pinned_tasks_still_fires_timers() {
    bounded("a nested sleep beside a busy pinned task", || {
        let rt = runtime(1);
        let done = rt.block_on(rt.spawn(async {
            let stop = Arc::new(AtomicBool::new(false));
            let spinning = stop.clone();
            corio::spawn_local(async move {
                while !spinning.load(Ordering::SeqCst) {
                    corio::yield_now().await;
                }
            })
            .detach();
            corio::block_on(corio::sleep(Duration::from_millis(10)));
            stop.store(true, Ordering::SeqCst);
            true
        }));
        assert!(done);
    });
}

/// `Runtime::block_on` called by a task pinned to one of that runtime's workers (`spawn_local`
/// there) blocks that worker, as the free `block_on` does: on one worker it runs what its future
/// waits for. It took the call for a foreign thread's: on one worker it hung (4 of 4 runs, with a
/// report calling it another runtime's loop), and on two it took 250 ms more than its sleep (a
/// review).
#[test]
fn runtime_block_on_from_a_task_pinned_to_its_worker_runs_what_it_waits_for() {
    for workers in [1, 2] {
        bounded("Runtime::block_on in a pinned task", move || {
            let rt = Arc::new(runtime(workers));
            let inner = rt.clone();
            let v = rt.block_on(async move {
                corio::spawn(async move {
                    corio::spawn_local(async move {
                        inner.block_on(async {
                            corio::sleep(Duration::from_millis(5)).await;
                            corio::spawn(async { 5 }).await
                        })
                    })
                    .await
                })
                .await
            });
            assert_eq!(v, 5);
        });
    }
}
