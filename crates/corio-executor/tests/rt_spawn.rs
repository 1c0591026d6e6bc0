//! Spawning: from inside and outside a runtime, from foreign threads; awaiting; ids and names.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use corio_executor::{LocalRuntime, Runtime, block_on, run_local, spawn, spawn_local, task};

/// Two tasks that can only finish if both run at the same time: each waits for the other's flag.
async fn rendezvous(mine: Arc<AtomicBool>, theirs: Arc<AtomicBool>) {
    mine.store(true, Ordering::SeqCst);
    while !theirs.load(Ordering::SeqCst) {
        corio_executor::yield_now().await;
    }
}

#[test]
fn tasks_run_concurrently_on_a_local_loop() {
    run_local(async {
        let a = Arc::new(AtomicBool::new(false));
        let b = Arc::new(AtomicBool::new(false));
        let t1 = spawn(rendezvous(a.clone(), b.clone()));
        let t2 = spawn(rendezvous(b, a));
        t1.await;
        t2.await;
    });
}

#[test]
fn tasks_run_in_parallel_on_the_pool() {
    // Two threads blocked in std (not async) on each other: only two workers running at once can
    // finish this.
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            rt.spawn(async move {
                barrier.wait();
            })
        })
        .collect();
    rt.block_on(async {
        for t in tasks {
            t.await;
        }
    });
}

#[test]
fn spawn_outside_any_runtime_uses_the_global_runtime() {
    let task = spawn(async { 40 + 2 });
    assert_eq!(block_on(task), 42);
    // And from a plain thread, awaited with a foreign block_on.
    let out = std::thread::spawn(|| futures_lite::future::block_on(spawn(async { 7 })))
        .join()
        .unwrap();
    assert_eq!(out, 7);
}

#[test]
fn spawn_from_a_foreign_thread_through_a_handle() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let handle = rt.handle();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let handle = handle.clone();
            std::thread::spawn(move || handle.spawn(async move { i * 2 }))
                .join()
                .unwrap()
        })
        .collect();
    let sum = rt.block_on(async {
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    });
    assert_eq!(sum, (0..8).map(|i| i * 2).sum());
}

#[test]
fn spawn_inside_block_on_goes_to_that_runtime() {
    let rt = Runtime::builder()
        .worker_threads(1)
        .thread_name("mine")
        .build()
        .unwrap();
    let name = rt.block_on(async {
        spawn(async { std::thread::current().name().map(str::to_owned) }).await
    });
    assert_eq!(name.as_deref(), Some("mine-0"));
}

#[test]
fn many_tasks_spawned_from_tasks_all_complete() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    rt.block_on(async move {
        let outer = spawn(async move {
            let mut inner = Vec::new();
            for _ in 0..10_000 {
                let d = d.clone();
                inner.push(spawn(async move {
                    d.fetch_add(1, Ordering::Relaxed);
                }));
            }
            for t in inner {
                t.await;
            }
        });
        outer.await;
    });
    assert_eq!(done.load(Ordering::Relaxed), 10_000);
}

#[test]
fn chained_spawns_complete() {
    fn chain(n: u32) -> corio_executor::Task<u32> {
        spawn(async move { if n == 0 { 0 } else { chain(n - 1).await + 1 } })
    }
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    assert_eq!(rt.block_on(async { chain(1000).await }), 1000);
    assert_eq!(run_local(async { chain(1000).await }), 1000);
}

#[test]
fn spawn_local_accepts_non_send_futures() {
    let rt = LocalRuntime::new().unwrap();
    let shared = std::rc::Rc::new(std::cell::Cell::new(0));
    let s = shared.clone();
    rt.block_on(async move {
        let t = spawn_local(async move { s.set(s.get() + 1) });
        t.await;
    });
    assert_eq!(shared.get(), 1);
}

#[test]
fn spawn_local_outside_run_local_runs_in_block_on() {
    // No runtime here: the task goes to this thread's implicit loop, which block_on drives.
    let value = std::rc::Rc::new(5);
    let task = spawn_local(async move { *value * 2 });
    assert_eq!(block_on(task), 10);
}

#[test]
fn task_ids_and_names() {
    let rt = Runtime::new().unwrap();
    let t = task::Builder::new()
        .name("worker")
        .spawn_on(async { task::id() }, &rt.handle());
    let id = t.id();
    assert_eq!(rt.block_on(t), Some(id));
    assert_eq!(task::id(), None);
    let a = spawn(async {});
    let b = spawn(async {});
    assert_ne!(a.id(), b.id());
    block_on(async {
        a.await;
        b.await;
    });
}

#[test]
fn nested_block_on_inside_a_local_task_keeps_the_loop_running() {
    run_local(async {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let setter = spawn(async move { f.store(true, Ordering::SeqCst) });
        // A nested block_on waits for a condition only another task of this loop can meet.
        let seen = block_on(async {
            while !flag.load(Ordering::SeqCst) {
                corio_executor::yield_now().await;
            }
            true
        });
        assert!(seen);
        setter.await;
    });
}

#[test]
fn handle_current_and_enter() {
    assert!(corio_executor::Handle::try_current().is_none());
    let rt = Runtime::builder()
        .worker_threads(1)
        .thread_name("entered")
        .build()
        .unwrap();
    let guard = rt.handle().enter();
    assert!(corio_executor::Handle::try_current().is_some());
    let t = spawn(async { std::thread::current().name().map(str::to_owned) });
    drop(guard);
    assert_eq!(rt.block_on(t).as_deref(), Some("entered-0"));
}

#[test]
fn zero_worker_threads_is_an_error_not_a_panic() {
    let err = Runtime::builder().worker_threads(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("worker_threads"));
}

#[test]
fn a_thread_name_with_a_nul_byte_is_an_error_not_a_panic() {
    // std panics when it names a thread with a NUL byte (found by a conformance probe).
    let err = Runtime::builder()
        .worker_threads(1)
        .thread_name("web\0api")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("NUL"), "{err}");
}

#[test]
fn enter_guards_dropped_out_of_order_panic_instead_of_leaving_the_wrong_runtime() {
    // Found by a conformance probe: the thread stayed in the first runtime for good.
    let a = Runtime::builder().worker_threads(1).build().unwrap();
    let b = Runtime::builder().worker_threads(1).build().unwrap();
    {
        let _ga = a.handle().enter();
        let _gb = b.handle().enter();
    } // reverse order: fine
    assert!(corio_executor::Handle::try_current().is_none());
    let ga = a.handle().enter();
    let gb = b.handle().enter();
    let out_of_order = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(ga)));
    let message = corio_executor::panic_message(&*out_of_order.unwrap_err());
    assert!(message.contains("out of order"), "{message}");
    drop(gb);
}
