//! Shutdown: leftover tasks are dropped (destructors run), no worker thread remains.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use corio_executor::{LocalRuntime, Runtime, spawn};
use support::{DropCounter, wait_until};

#[test]
fn dropping_a_runtime_drops_every_pending_task_and_joins_workers() {
    let counter = DropCounter::new();
    let entered = Arc::new(AtomicUsize::new(0));
    let e = entered.clone();
    let rt = Runtime::builder()
        .worker_threads(3)
        .thread_name("shutdown-test")
        .on_enter(move || {
            struct Leave(Arc<AtomicUsize>);
            impl Drop for Leave {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, Ordering::SeqCst);
                }
            }
            e.fetch_add(1, Ordering::SeqCst);
            Box::new(Leave(e.clone()))
        })
        .build()
        .unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    for i in 0..100 {
        let guard = counter.guard();
        let started = started.clone();
        let task = rt.spawn(async move {
            let _guard = guard;
            started.fetch_add(1, Ordering::SeqCst);
            // Pending forever, with no waker stored anywhere but the runtime's registry.
            std::future::pending::<()>().await;
        });
        if i % 2 == 0 {
            task.detach();
        } else {
            std::mem::forget(task); // a handle that is never dropped cannot keep the task alive
        }
    }
    // Some guards belong to tasks that never ran (still queued); both kinds must be dropped.
    wait_until("some tasks started", || started.load(Ordering::SeqCst) > 0);
    assert_eq!(counter.alive(), 100);
    wait_until("workers entered", || entered.load(Ordering::SeqCst) == 3);
    drop(rt);
    assert_eq!(
        counter.alive(),
        0,
        "every task's destructor ran before drop returned"
    );
    assert_eq!(
        entered.load(Ordering::SeqCst),
        0,
        "every worker left the runtime"
    );
    if cfg!(target_os = "linux") {
        // The workers were joined, but the kernel lists a joined thread in /proc a little longer:
        // `pthread_join` wakes when the thread drops its memory map, before the thread is reaped
        // (seen in CI). A worker that was never joined and still runs would stay listed.
        wait_until("the joined workers are gone from /proc", || {
            !support::thread_names()
                .iter()
                .any(|n| n.starts_with("shutdown-test"))
        });
    }
}

#[test]
fn dropping_a_local_runtime_drops_its_tasks() {
    let counter = DropCounter::new();
    let rt = LocalRuntime::new().unwrap();
    for _ in 0..10 {
        let guard = counter.guard();
        rt.spawn_local(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        })
        .detach();
    }
    // Let them run once, so they are idle (registered), then add some that never ran.
    rt.block_on(corio_executor::yield_now());
    for _ in 0..10 {
        let guard = counter.guard();
        rt.spawn_local(async move {
            let _guard = guard;
        })
        .detach();
    }
    assert_eq!(counter.alive(), 20);
    drop(rt);
    assert_eq!(counter.alive(), 0);
}

#[test]
fn run_local_returning_drops_leftover_tasks() {
    let counter = DropCounter::new();
    let c = counter.clone();
    corio_executor::run_local(async move {
        let guard = c.guard();
        spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        })
        .detach();
        corio_executor::yield_now().await;
    });
    assert_eq!(counter.alive(), 0);
}

#[test]
fn a_runtime_dropped_from_inside_its_own_task_does_not_deadlock() {
    let rt = Arc::new(std::sync::Mutex::new(Some(
        Runtime::builder().worker_threads(2).build().unwrap(),
    )));
    let (tx, rx) = std::sync::mpsc::channel();
    let slot = rt.clone();
    let handle = rt.lock().unwrap().as_ref().unwrap().handle();
    handle
        .spawn(async move {
            let rt = slot.lock().unwrap().take();
            drop(rt); // joins the other worker, not this one
            tx.send(()).unwrap();
        })
        .detach();
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("dropping the runtime from its own task returned");
    assert!(handle.is_shut_down());
}

#[test]
fn spawning_on_a_shut_down_runtime_cancels_the_task() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let handle = rt.handle();
    drop(rt);
    let counter = DropCounter::new();
    let guard = counter.guard();
    let task = handle.spawn(async move {
        let _guard = guard;
        1
    });
    assert_eq!(counter.alive(), 0, "the future was dropped at once");
    assert_eq!(futures_lite::future::block_on(task.cancel()), None);
}

#[test]
fn awaiting_a_task_cancelled_by_shutdown_panics_with_a_clear_message() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let task = rt.spawn(std::future::pending::<()>());
    drop(rt);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures_lite::future::block_on(task)
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("cancelled") && msg.contains("shut down"),
        "{msg}"
    );
}

/// Tasks still in a worker's own queue when the runtime shuts down are dropped inside the
/// runtime's context, so their destructors can use it (report through its hook, spawn, ...).
#[test]
fn tasks_left_in_a_workers_queue_are_dropped_inside_the_runtime() {
    struct SeesRuntime {
        dropped: Arc<AtomicUsize>,
        outside: Arc<AtomicUsize>,
    }
    impl Drop for SeesRuntime {
        fn drop(&mut self) {
            self.dropped.fetch_add(1, Ordering::SeqCst);
            if corio_executor::Handle::try_current().is_none() {
                self.outside.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let outside = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    {
        let (dropped, outside, started) = (dropped.clone(), outside.clone(), started.clone());
        rt.spawn(async move {
            // Spawned from the worker: these land in its own queue, behind this task.
            for _ in 0..100 {
                let guard = SeesRuntime {
                    dropped: dropped.clone(),
                    outside: outside.clone(),
                };
                spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                })
                .detach();
            }
            started.store(1, Ordering::SeqCst);
            // Keep the worker busy while the runtime is dropped, so the 100 are never polled.
            std::thread::sleep(std::time::Duration::from_millis(200));
        })
        .detach();
    }
    wait_until("the spawner ran", || started.load(Ordering::SeqCst) == 1);
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 100);
    assert_eq!(
        outside.load(Ordering::SeqCst),
        0,
        "a task was dropped outside the runtime's context"
    );
}

/// A task spawned through the handle of a dropped local runtime is cancelled at once (its
/// future dropped), as on a dropped multi-threaded runtime; awaiting it reports the cancellation
/// instead of hanging (found by a conformance probe).
#[test]
fn spawning_on_a_dropped_local_runtime_cancels_at_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = corio_executor::LocalRuntime::new().unwrap();
    let handle = rt.handle();
    drop(rt);
    assert!(handle.is_shut_down());
    let counted = Counted(drops.clone());
    let task = handle.spawn(async move {
        let _counted = counted;
        5
    });
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the future was dropped at the spawn"
    );
    assert!(task.is_finished());
    let awaited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        corio_executor::block_on(task)
    }));
    let message = corio_executor::panic_message(&*awaited.unwrap_err());
    assert!(message.contains("cancelled"), "{message}");
}
