//! `spawn_local` on the work-stealing runtime: `!Send` tasks pinned to the thread that spawned
//! them (issue 14). It used to queue them on a loop nothing drove, so their awaiters hung.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

mod support;

use corio_executor::{Handle, Runtime, block_on, spawn, spawn_local, yield_now};
use support::Gate;

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

/// Runs `f` on a helper thread and fails the test instead of hanging if it takes too long.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("hung: a pinned task was never driven")
}

#[test]
fn on_the_block_on_thread_with_non_send_data() {
    bounded(|| {
        for workers in [1, 2] {
            let rt = runtime(workers);
            let out = rt.block_on(async {
                let shared = Rc::new(Cell::new(1));
                let s = shared.clone();
                let task = spawn_local(async move {
                    yield_now().await;
                    s.set(s.get() + 41);
                    thread::current().id()
                });
                let ran_on = task.await;
                (shared.get(), ran_on == thread::current().id())
            });
            assert_eq!(out, (42, true), "{workers} workers");
        }
    });
}

#[test]
fn on_a_worker_the_task_stays_on_that_worker() {
    bounded(|| {
        for workers in [1, 2] {
            let rt = runtime(workers);
            let ok = rt.block_on(spawn(async {
                let me = thread::current().id();
                let pinned = spawn_local(async move {
                    let mut same = true;
                    for _ in 0..200 {
                        yield_now().await;
                        same &= thread::current().id() == me;
                    }
                    same
                });
                pinned.await
            }));
            assert!(ok, "a pinned task ran off its worker ({workers} workers)");
        }
    });
}

#[test]
fn a_wake_from_another_thread_reaches_a_parked_worker() {
    bounded(|| {
        let rt = runtime(2);
        let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
        let flag = Arc::new(AtomicUsize::new(0));
        let f = flag.clone();
        let waiter = rt.spawn(async move {
            spawn_local(std::future::poll_fn(move |cx| {
                if f.load(Ordering::SeqCst) == 1 {
                    std::task::Poll::Ready(7)
                } else {
                    tx.send(cx.waker().clone()).unwrap();
                    std::task::Poll::Pending
                }
            }))
            .await
        });
        // Let every worker go idle, then wake the pinned task from this thread.
        let waker = rx.recv().unwrap();
        thread::sleep(Duration::from_millis(20));
        flag.store(1, Ordering::SeqCst);
        waker.wake();
        assert_eq!(rt.block_on(waiter), 7);
    });
}

#[test]
fn pinned_and_stealable_tasks_both_progress_on_one_worker() {
    // Each side waits for the other: this finishes only if the worker interleaves them.
    bounded(|| {
        let rt = runtime(1);
        rt.block_on(spawn(async {
            let a = Arc::new(AtomicUsize::new(0));
            let b = Arc::new(AtomicUsize::new(0));
            let (a2, b2) = (a.clone(), b.clone());
            let pinned = spawn_local(async move {
                for i in 1..=100 {
                    a2.store(i, Ordering::SeqCst);
                    while b2.load(Ordering::SeqCst) < i {
                        yield_now().await;
                    }
                }
            });
            let (a3, b3) = (a.clone(), b.clone());
            let other = spawn(async move {
                for i in 1..=100 {
                    while a3.load(Ordering::SeqCst) < i {
                        yield_now().await;
                    }
                    b3.store(i, Ordering::SeqCst);
                }
            });
            pinned.await;
            other.await;
        }));
    });
}

#[test]
fn spawn_inside_a_pinned_task_reaches_the_runtime() {
    bounded(|| {
        let rt = runtime(2);
        let handle = rt.handle();
        let ok = rt.block_on(async move {
            spawn_local(async move {
                let inner = Handle::current();
                let t = spawn(async { thread::current().id() });
                let _ = t.await;
                format!("{inner:?}") == format!("{handle:?}")
            })
            .await
        });
        assert!(ok, "Handle::current inside a pinned task is the runtime's");
    });
}

#[test]
fn block_on_nested_in_a_pinned_task_completes() {
    bounded(|| {
        let rt = runtime(1);
        let out = rt.block_on(spawn(async {
            spawn_local(async {
                // A nested block_on inside a pinned task, waiting on another pinned task.
                block_on(async {
                    let inner = spawn_local(async {
                        yield_now().await;
                        5
                    });
                    inner.await
                })
            })
            .await
        }));
        assert_eq!(out, 5);
    });
}

/// Counts its drops; `!Send` on purpose (the `PhantomData<Rc<()>>`).
struct Guard(Arc<AtomicUsize>, std::marker::PhantomData<Rc<()>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn shutdown_drops_pinned_tasks_on_their_threads() {
    bounded(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let rt = runtime(2);
        let d = drops.clone();
        rt.block_on(async move {
            // Pinned to the block_on thread: dropped when block_on returns.
            let g = Guard(d.clone(), std::marker::PhantomData);
            spawn_local(async move {
                let _g = g;
                std::future::pending::<()>().await;
            })
            .detach();
            // Pinned to a worker: dropped when the runtime shuts down.
            let d2 = d.clone();
            spawn(async move {
                let g = Guard(d2, std::marker::PhantomData);
                spawn_local(async move {
                    let _g = g;
                    std::future::pending::<()>().await;
                })
                .detach();
            })
            .await;
            yield_now().await;
        });
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "block_on's pinned task dropped at return"
        );
        drop(rt);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            2,
            "the worker's dropped at shutdown"
        );
    });
}

#[test]
fn a_thread_that_only_entered_the_runtime_refuses_loudly() {
    let rt = runtime(1);
    let _guard = rt.handle().enter();
    let err = std::panic::catch_unwind(|| spawn_local(async {}).detach()).unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("run_local"), "{msg}");
}

/// The runtime's metrics count pinned tasks (a leak monitor built on `alive` must see them; a
/// probe found them missing), on the `block_on` thread and on a worker, and a loop that shuts
/// down leaves its counts behind instead of taking them away.
#[test]
fn the_runtimes_metrics_count_pinned_tasks() {
    bounded(|| {
        let rt = runtime(2);
        let release_tx = Gate::default();
        let release_rx = release_tx.clone();
        let before = rt.handle().metrics();
        rt.block_on(async {
            // 5 on this (the block_on) thread, 5 on a worker, all waiting.
            let started = Arc::new(AtomicUsize::new(0));
            let mut held = Vec::new();
            for _ in 0..5 {
                let (rx, started) = (release_rx.clone(), started.clone());
                held.push(spawn_local(async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    rx.wait().await
                }));
            }
            let (rx, on_worker_started) = (release_rx.clone(), started.clone());
            let on_worker = spawn(async move {
                let tasks: Vec<_> = (0..5)
                    .map(|_| {
                        let (rx, started) = (rx.clone(), on_worker_started.clone());
                        spawn_local(async move {
                            started.fetch_add(1, Ordering::SeqCst);
                            rx.wait().await
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await;
                }
            });
            while started.load(Ordering::SeqCst) < 10 {
                yield_now().await;
            }
            let m = Handle::current().metrics();
            // The ten pinned tasks and the one that spawned five of them.
            assert!(m.alive >= 11, "{m:?}");
            assert!(m.idle_tasks >= 10, "{m:?}");
            assert_eq!(m.spawned, m.completed + m.alive, "{m:?}");
            release_tx.open();
            for t in held {
                t.await;
            }
            on_worker.await;
        });
        // The block_on thread's loop shut down when `block_on` returned: its counts stay.
        let after = rt.handle().metrics();
        assert!(
            after.spawned >= before.spawned + 11,
            "{before:?} -> {after:?}"
        );
        assert_eq!(after.spawned, after.completed + after.alive, "{after:?}");
        assert_eq!(after.alive, 0, "{after:?}");
    });
}
