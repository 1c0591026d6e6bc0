//! Task groups: the article's scenario, failure, panics, cancellation, borrowing children.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corio_scope::{Cancelled, GroupError, supervisor, task_group};
use support::{DropCounter, run};

/// Records, for each user, whether the fetch finished or was dropped before finishing.
#[derive(Default)]
struct Ledger {
    finished: Mutex<Vec<u32>>,
    cancelled: Mutex<Vec<u32>>,
}

struct Watch {
    id: u32,
    done: bool,
    ledger: Arc<Ledger>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let list = if self.done {
            &self.ledger.finished
        } else {
            &self.ledger.cancelled
        };
        list.lock().unwrap().push(self.id);
    }
}

async fn fetch_user(id: u32, ledger: Arc<Ledger>) -> Result<String, String> {
    let mut watch = Watch {
        id,
        done: false,
        ledger,
    };
    if id == 3 {
        corio_timer::sleep(Duration::from_millis(5)).await;
        watch.done = true;
        return Err(format!("User {id} not found"));
    }
    // The others would take far longer than user 3: they can only be cancelled.
    corio_timer::sleep(Duration::from_secs(30)).await;
    watch.done = true;
    Ok(format!("User_{id}"))
}

#[test]
fn the_articles_scenario_cancels_users_1_2_and_4() {
    for run in [
        run::<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
        |f| corio_executor::run_local(f),
    ] {
        let ledger = Arc::new(Ledger::default());
        let l = ledger.clone();
        run(Box::pin(async move {
            let result: Result<Vec<String>, GroupError<String>> = task_group(async |g| {
                let handles: Vec<_> = (1..=4)
                    .map(|id| g.spawn(fetch_user(id, l.clone())))
                    .collect();
                let mut users = Vec::new();
                for h in handles {
                    users.push(h.await.map_err(|c| c.to_string())?);
                }
                Ok(users)
            })
            .await;
            let err = result.unwrap_err();
            assert_eq!(err.errors(), ["User 3 not found"]);
            assert!(!err.is_cancelled());
        }));
        let mut cancelled = ledger.cancelled.lock().unwrap().clone();
        cancelled.sort();
        assert_eq!(
            cancelled,
            [1, 2, 4],
            "the siblings were cancelled, not finished"
        );
        assert_eq!(*ledger.finished.lock().unwrap(), [3]);
    }
}

#[test]
fn every_child_destructor_has_run_when_the_group_returns() {
    let counter = DropCounter::new();
    let c = counter.clone();
    run(async move {
        let r: Result<(), GroupError<&str>> = task_group(async |g| {
            for i in 0..50 {
                let guard = c.guard();
                g.spawn(async move {
                    let _guard = guard;
                    if i == 25 {
                        corio_timer::sleep(Duration::from_millis(2)).await;
                        return Err("fail");
                    }
                    corio_timer::sleep(Duration::from_secs(60)).await;
                    Ok(())
                });
            }
            Ok(())
        })
        .await;
        assert_eq!(r.unwrap_err().errors(), ["fail"]);
        assert_eq!(c.alive(), 0, "no child outlives the group");
    });
}

#[test]
fn the_group_waits_for_children_after_the_body_returns() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let r: Result<&str, GroupError<()>> = run(task_group(async |g| {
        for _ in 0..10 {
            let f = f.clone();
            g.spawn(async move {
                corio_timer::sleep(Duration::from_millis(5)).await;
                f.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        }
        Ok("body done")
    }));
    assert_eq!(r.unwrap(), "body done");
    assert_eq!(finished.load(Ordering::SeqCst), 10);
}

#[test]
fn all_errors_are_collected_in_completion_order_by_the_supervisor() {
    let r: Result<(), GroupError<u32>> = corio_executor::run_local(supervisor(async |g| {
        for i in [3u32, 1, 2] {
            g.spawn(async move {
                corio_timer::sleep(Duration::from_millis(5 * u64::from(i))).await;
                Err::<(), _>(i)
            });
        }
        Ok(())
    }));
    assert_eq!(r.unwrap_err().errors(), [1, 2, 3]);
}

#[test]
fn a_child_panic_cancels_siblings_then_resumes_in_the_caller() {
    let counter = DropCounter::new();
    let c = counter.clone();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(async move {
            let _: Result<(), GroupError<()>> = task_group(async |g| {
                for _ in 0..5 {
                    let guard = c.guard();
                    g.spawn(async move {
                        let _guard = guard;
                        std::future::pending::<Result<(), ()>>().await
                    });
                }
                g.spawn(async {
                    corio_timer::sleep(Duration::from_millis(2)).await;
                    panic!("child exploded");
                    #[allow(unreachable_code)]
                    Ok::<(), ()>(())
                });
                std::future::pending().await
            })
            .await;
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(*payload.downcast_ref::<&str>().unwrap(), "child exploded");
    assert_eq!(
        counter.alive(),
        0,
        "siblings were drained before the panic resumed"
    );
}

/// A child whose destructor panics while the group cancels it is a child that panicked: the
/// panic resumes in the group's caller, for a spawned child as for a local one (a conformance
/// probe found the spawned one's panic reported as unobserved, and the group returning `Err`).
#[test]
fn a_child_whose_destructor_panics_on_cancel_resumes_the_panic_in_the_caller() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("drop panic");
            }
        }
    }
    for local in [false, true] {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(async move {
                let _: Result<(), GroupError<u8>> = task_group(async move |g| {
                    let victim = async {
                        let _bomb = PanicOnDrop;
                        std::future::pending::<Result<(), u8>>().await
                    };
                    if local {
                        g.spawn_local(victim);
                    } else {
                        g.spawn(victim);
                    }
                    g.spawn(async {
                        corio_timer::sleep(Duration::from_millis(2)).await;
                        Err::<(), u8>(7)
                    });
                    Ok(())
                })
                .await;
            })
        }));
        let payload = caught.expect_err(if local { "spawn_local" } else { "spawn" });
        assert_eq!(*payload.downcast_ref::<&str>().unwrap(), "drop panic");
    }
}

#[test]
fn a_body_panic_also_cancels_the_children() {
    let counter = DropCounter::new();
    let c = counter.clone();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        corio_executor::run_local(async move {
            let _: Result<(), GroupError<()>> = task_group(async |g| {
                let guard = c.guard();
                g.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<Result<(), ()>>().await
                });
                corio_executor::yield_now().await;
                panic!("body exploded")
            })
            .await;
        })
    }));
    assert!(caught.is_err());
    assert_eq!(counter.alive(), 0);
}

#[test]
fn dropping_the_group_future_cancels_every_child() {
    let counter = DropCounter::new();
    let c = counter.clone();
    run(async move {
        let group = task_group::<(), (), _, _>(async |g| {
            for _ in 0..10 {
                let guard = c.guard();
                g.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<Result<(), ()>>().await
                });
                let guard = c.guard();
                g.spawn_local(async move {
                    let _guard = guard;
                    std::future::pending::<Result<(), ()>>().await
                });
            }
            std::future::pending().await
        });
        let r = corio_timer::timeout(Duration::from_millis(10), group).await;
        assert!(r.is_err());
        // Local children went with the group's future; spawned ones at their next scheduling
        // point on the runtime.
        for _ in 0..1000 {
            if c.alive() == 0 {
                break;
            }
            corio_timer::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(c.alive(), 0, "every child's destructor ran");
    });
}

#[test]
fn spawn_after_failure_returns_an_already_cancelled_handle() {
    let counter = DropCounter::new();
    let c = counter.clone();
    let late: Arc<Mutex<Option<Result<(), Cancelled>>>> = Arc::default();
    let l = late.clone();
    // The body runs on the caller's thread; the failing child on a worker thread.
    let rt = corio_executor::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap();
    let r: Result<(), GroupError<&str>> = rt.block_on(task_group(async |g| {
        g.spawn(async { Err::<(), _>("first") });
        // Within one poll of the body (no await), wait until the group has seen the failure.
        while !g.is_cancelled() {
            std::thread::yield_now();
        }
        let guard = c.guard();
        let handle = g.spawn(async move {
            let _guard = guard;
            Ok(())
        });
        // The child was dropped at once and its handle is already resolved.
        let mut handle = Box::pin(handle);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(r) = handle.as_mut().poll(&mut cx) {
            *l.lock().unwrap() = Some(r);
        }
        Ok(())
    }));
    assert_eq!(r.unwrap_err().errors(), ["first"]);
    assert_eq!(*late.lock().unwrap(), Some(Err(Cancelled)));
    assert_eq!(counter.alive(), 0);
}

#[test]
fn borrowing_children_read_the_callers_stack() {
    let words = ["alpha".to_string(), "beta".to_string(), "gamma".to_string()];
    let mut lengths = vec![0usize; words.len()];
    corio_executor::run_local(async {
        let r: Result<(), GroupError<()>> = task_group(async |g| {
            let handles: Vec<_> = words
                .iter()
                .map(|w| {
                    g.spawn_local(async move {
                        corio_timer::sleep(Duration::from_millis(1)).await;
                        Ok(w.len())
                    })
                })
                .collect();
            for (slot, h) in lengths.iter_mut().zip(handles) {
                *slot = h.await.unwrap();
            }
            Ok(())
        })
        .await;
        r.unwrap();
    });
    assert_eq!(lengths, [5, 4, 5]);
}

#[test]
fn borrowing_children_run_concurrently_with_the_body() {
    // Causality: the body waits for a flag only a local child sets, and vice versa.
    let a = std::sync::atomic::AtomicBool::new(false);
    let b = std::sync::atomic::AtomicBool::new(false);
    let r: Result<(), GroupError<()>> = corio_executor::run_local(task_group(async |g| {
        let _child = g.spawn_local(async {
            a.store(true, Ordering::SeqCst);
            while !b.load(Ordering::SeqCst) {
                corio_executor::yield_now().await;
            }
            Ok(())
        });
        b.store(true, Ordering::SeqCst);
        while !a.load(Ordering::SeqCst) {
            corio_executor::yield_now().await;
        }
        Ok(())
    }));
    r.unwrap();
}

#[test]
fn cancel_ends_the_group_early_without_an_error() {
    let counter = DropCounter::new();
    let c = counter.clone();
    let r: Result<&str, GroupError<()>> = run(task_group(async |g| {
        for _ in 0..3 {
            let guard = c.guard();
            g.spawn(async move {
                let _guard = guard;
                std::future::pending::<Result<(), ()>>().await
            });
        }
        corio_timer::sleep(Duration::from_millis(2)).await;
        g.cancel();
        Ok("stopped the background work")
    }));
    assert_eq!(r.unwrap(), "stopped the background work");
    assert_eq!(counter.alive(), 0);
}

#[test]
fn a_cancelled_body_yields_a_cancelled_group_error() {
    let r: Result<(), GroupError<&str>> = corio_executor::run_local(async {
        let gate = std::sync::atomic::AtomicBool::new(false);
        let gate = &gate;
        task_group(async |g| {
            // A child needs its own handle: `g` is the body's, and the body may end first.
            let handle = g.clone();
            g.spawn_local(async move {
                corio_executor::yield_now().await;
                gate.store(true, Ordering::SeqCst);
                handle.cancel();
                Ok(())
            });
            std::future::pending::<()>().await;
            Ok(())
        })
        .await
    });
    let err = r.unwrap_err();
    assert!(err.is_cancelled());
    assert!(err.errors().is_empty());
    assert_eq!(err.to_string(), "the task group was cancelled");
}

/// A group's error message counts errors, not tasks: the body's own error is one of them (a
/// probe read "1 task failed: body failed" for a body that failed with no child failing).
#[test]
fn a_group_error_message_counts_errors_whoever_failed() {
    let body_only: Result<(), _> = corio_executor::run_local(task_group(async |_g| Err("body")));
    assert_eq!(
        body_only.unwrap_err().to_string(),
        "the task group failed: body"
    );
    let supervised: Result<(), _> = corio_executor::run_local(corio_scope::supervisor(async |g| {
        g.spawn(async { Err::<(), _>("first") });
        g.spawn(async { Err::<(), _>("second") });
        Ok(())
    }));
    let err = supervised.unwrap_err();
    assert_eq!(err.errors().len(), 2);
    assert_eq!(
        err.to_string(),
        format!(
            "the task group failed with 2 errors; the first: {}",
            err.errors()[0]
        )
    );
}

#[test]
fn start_waits_for_the_child_to_be_ready() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let r: Result<(), GroupError<()>> = run(task_group(async |g| {
        let o2 = o.clone();
        let port = g
            .start(move |started| async move {
                corio_timer::sleep(Duration::from_millis(5)).await;
                o2.lock().unwrap().push("listening");
                started.started(8080u16);
                Ok(())
            })
            .await
            .unwrap();
        o.lock().unwrap().push("body resumed");
        assert_eq!(port, 8080);
        Ok(())
    }));
    r.unwrap();
    assert_eq!(*order.lock().unwrap(), ["listening", "body resumed"]);

    // A child that fails before it is ready: start reports Cancelled, the group the error.
    let r: Result<(), GroupError<&str>> = run(task_group(async |g| {
        let started: Result<u16, Cancelled> =
            g.start(|_started| async { Err("bind failed") }).await;
        assert_eq!(started, Err(Cancelled));
        Ok(())
    }));
    assert_eq!(r.unwrap_err().errors(), ["bind failed"]);
}

#[test]
fn groups_nest() {
    let r: Result<u32, GroupError<String>> = run(task_group(async |outer| {
        let inner = outer.spawn(async {
            task_group(async |g| {
                let a = g.spawn(async { Ok::<_, String>(1) });
                let b = g.spawn(async { Ok(2) });
                Ok(a.await.unwrap() + b.await.unwrap())
            })
            .await
            .map_err(|e| e.to_string())
        });
        Ok(inner.await.unwrap() * 10)
    }));
    assert_eq!(r.unwrap(), 30);
}

#[test]
fn a_group_inside_a_spawned_task_is_send() {
    let t = corio_executor::spawn(async {
        task_group(async |g| {
            let h = g.spawn(async { Ok::<_, ()>(5) });
            corio_timer::sleep(Duration::from_millis(1)).await;
            Ok(h.await.unwrap())
        })
        .await
    });
    assert_eq!(corio_executor::block_on(t).unwrap(), 5);
}

/// A spawned child may still be inside a poll, on another worker, when its group is dropped; if
/// that poll then panics, the panic is reported, not lost. (The dropped group had already looked
/// for a caught panic to report and found none.)
#[test]
fn a_panic_that_lands_after_its_group_was_dropped_is_reported() {
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Waker};
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let rt = corio_executor::Builder::new()
        .worker_threads(2)
        .report_hook(move |r| sink.lock().unwrap().push(r.to_string()))
        .build()
        .unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let _enter = rt.handle().enter();
    let mut group = Box::pin(task_group(async |g| {
        let (started, dropped) = (started.clone(), dropped.clone());
        g.spawn(async move {
            started.store(true, Ordering::SeqCst);
            // Stay inside this poll (blocking the worker) until the group is gone.
            while !dropped.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            panic!("late panic");
            #[allow(unreachable_code)]
            Ok::<(), ()>(())
        });
        std::future::pending::<Result<(), ()>>().await
    }));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(group.as_mut().poll(&mut cx).is_pending());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !started.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "the child never started"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(group); // the child is mid-poll on a worker
    dropped.store(true, Ordering::SeqCst);
    drop(_enter);
    drop(rt); // joins the workers: the late panic has happened by now
    let reports = reports.lock().unwrap();
    assert!(
        reports.iter().any(|r| r.contains("late panic")),
        "the late panic was lost: {reports:?}"
    );
}

/// A handle that escaped its group (here, as the body's value) can spawn nothing once the group
/// has ended: the child is dropped at once and its handle reports `Cancelled`.
#[test]
fn a_handle_that_escaped_spawns_nothing_after_the_group_ended() {
    let counter = DropCounter::new();
    corio_executor::run_local(async {
        let g = task_group(async |g| Ok::<_, ()>(g)).await.unwrap();
        let guard = counter.guard();
        let spawned = g.spawn(async move {
            let _guard = guard;
            Ok(())
        });
        let guard = counter.guard();
        let local = g.spawn_local(async move {
            let _guard = guard;
            Ok(())
        });
        assert_eq!(counter.alive(), 0, "both children were dropped at once");
        assert_eq!(spawned.await, Err(Cancelled));
        assert_eq!(local.await, Err(Cancelled));
    });
}

/// Dropping the group's future cancels every child, also one that holds a clone of the group's
/// handle (which keeps the group's internals alive).
#[test]
fn dropping_the_group_cancels_a_child_that_holds_a_clone() {
    let counter = DropCounter::new();
    let c = counter.clone();
    run(async move {
        let group = task_group::<(), (), _, _>(async |g| {
            let guard = c.guard();
            let handle = g.clone();
            g.spawn(async move {
                let _guard = guard;
                let _handle = handle;
                std::future::pending::<Result<(), ()>>().await
            });
            std::future::pending().await
        });
        assert!(
            corio_timer::timeout(Duration::from_millis(10), group)
                .await
                .is_err()
        );
        // Spawned children are cancelled at their next scheduling point.
        for _ in 0..5000 {
            if c.alive() == 0 {
                break;
            }
            corio_timer::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(c.alive(), 0, "the child holding a handle was cancelled");
    });
}

/// Runs `f` on its own thread and fails (instead of hanging) if it does not finish in 30 s.
fn within_30s(name: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(30)).is_ok(),
        "{name} did not finish: a hang"
    );
}

/// A chain of local children that each spawn the next never ends by itself; the deadline around
/// the group must still fire, so the group's task must return between rounds.
#[test]
fn an_endless_chain_of_local_children_does_not_starve_a_deadline() {
    fn next(g: corio_scope::Group<'static, ()>) {
        let handle = g.clone();
        g.spawn_local(async move {
            next(handle);
            Ok(())
        });
    }
    within_30s("the deadline", || {
        let r = corio_executor::run_local(corio_scope::move_on_after(
            Duration::from_millis(50),
            task_group(async |g| {
                next(g);
                std::future::pending::<Result<(), ()>>().await
            }),
        ));
        assert!(r.is_none(), "the deadline fired");
    });
}

/// A child refused by a cancelling group is dropped after the group's locks are released: its
/// destructor may use the group (here, spawn again).
#[test]
fn a_refused_childs_destructor_may_use_the_group() {
    struct SpawnOnDrop(Option<corio_scope::Group<'static, ()>>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            if let Some(g) = self.0.take() {
                g.spawn(async { Ok(()) });
            }
        }
    }
    within_30s("the refused spawn", || {
        let r = corio_executor::run_local(task_group(async |g| {
            g.cancel();
            let guard = SpawnOnDrop(Some(g.clone()));
            let handle = g.spawn(async move {
                let _guard = guard;
                Ok(())
            });
            assert_eq!(handle.await, Err(Cancelled));
            Ok::<_, ()>(())
        }));
        // Cancelled while the body was running, and it returned a value: the group returns it.
        assert!(r.is_ok() || r.unwrap_err().is_cancelled());
    });
}

/// The documented way to bound a group in time and still have every child's destructor run
/// before it returns: the deadline inside the group, as a local child that cancels it. (A
/// timeout *around* the group drops it, and its spawned children are dropped just after.)
#[test]
fn a_deadline_inside_the_group_waits_for_every_childs_destructor() {
    struct SlowDrop(Arc<AtomicUsize>);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_millis(50));
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let r: Result<(), GroupError<()>> = run(task_group(async move |g| {
        for _ in 0..2 {
            let slow = SlowDrop(d.clone());
            g.spawn(async move {
                let _slow = slow;
                std::future::pending::<Result<(), ()>>().await
            });
        }
        let deadline = g.clone();
        g.spawn_local(async move {
            corio_timer::sleep(Duration::from_millis(20)).await;
            deadline.cancel();
            Ok(())
        });
        std::future::pending::<()>().await;
        Ok(())
    }));
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        2,
        "every child's destructor ran"
    );
}
