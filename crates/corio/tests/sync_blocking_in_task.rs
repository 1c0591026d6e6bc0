//! The sync primitives' `*_blocking` calls made from inside a task: on a local loop they keep
//! running the loop's other tasks while they wait, and on a worker of a multi-threaded runtime
//! they hand the worker's queued tasks to the other workers and park, so a call whose
//! counterpart is a task queued behind it completes instead of hanging; where no worker is left
//! to run that task (one worker), the runtime says so. Each case runs on its own thread with a
//! generous bound, so that a hang fails instead of stalling the suite.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on a new thread; panics if it has not returned within 30 s.
fn bounded(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = thread.join();
            panic!("failed: {what}");
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: {what}"),
    }
}

/// Every `*_blocking` call, each waiting for a task spawned just before it on the same loop.
async fn every_blocking_call() {
    use corio::sync::{Mutex, RwLock, Semaphore, broadcast, oneshot, watch};

    let (tx, rx) = oneshot::channel();
    corio::spawn(async move { tx.send(1).unwrap() }).detach();
    assert_eq!(rx.recv_blocking(), Ok(1));

    let q = Arc::new(corio::Queue::bounded(1));
    q.try_put(0).unwrap();
    corio::spawn({
        let q = q.clone();
        async move { assert_eq!(q.get().await, Ok(0)) }
    })
    .detach();
    q.put_blocking(2).unwrap();
    corio::spawn({
        let q = q.clone();
        async move { q.put(3).await.unwrap() }
    })
    .detach();
    assert_eq!(q.get_blocking(), Ok(2));
    assert_eq!(q.get_blocking(), Ok(3));

    let (btx, mut brx) = broadcast::channel(4);
    corio::spawn(async move { btx.send(4).unwrap() }).detach();
    assert_eq!(brx.recv_blocking(), Ok(4));

    let (wtx, mut wrx) = watch::channel(0);
    corio::spawn(async move { wtx.send(5).unwrap() }).detach();
    wrx.changed_blocking().unwrap();
    assert_eq!(*wrx.borrow(), 5);

    let sem = Arc::new(Semaphore::new(1));
    let permit = sem.clone().try_acquire_owned().unwrap();
    corio::spawn(async move { drop(permit) }).detach();
    drop(sem.acquire_blocking().unwrap());

    let mutex = Arc::new(Mutex::new(6));
    let guard = mutex.clone().try_lock_owned().unwrap();
    corio::spawn(async move { drop(guard) }).detach();
    assert_eq!(*mutex.lock_blocking(), 6);

    // RwLock has no owned guards: a task takes the lock, says so, and lets go when a second
    // task, spawned once the lock is held, tells it to; each blocking call below must run both.
    let rw = Arc::new(RwLock::new(7));
    for write in [false, true] {
        let (held, is_held) = oneshot::channel();
        let (release, released) = oneshot::channel::<()>();
        corio::spawn({
            let rw = rw.clone();
            async move {
                let guard = rw.write().await;
                held.send(()).unwrap();
                released.await.unwrap();
                drop(guard);
            }
        })
        .detach();
        is_held.recv_blocking().unwrap();
        assert!(rw.try_read().is_err());
        corio::spawn(async move { release.send(()).unwrap() }).detach();
        if write {
            assert_eq!(*rw.write_blocking(), 7);
        } else {
            assert_eq!(*rw.read_blocking(), 7);
        }
    }
}

#[test]
fn blocking_calls_inside_run_local_run_the_loop() {
    bounded("*_blocking inside run_local", || {
        corio::run_local(every_blocking_call())
    });
}

#[test]
fn blocking_calls_inside_a_task_on_two_workers() {
    bounded("*_blocking inside a task on two workers", || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        for _ in 0..20 {
            rt.block_on(rt.spawn(every_blocking_call()));
        }
    });
}

#[test]
fn blocking_calls_inside_the_block_on_future() {
    bounded("*_blocking inside Runtime::block_on's future", || {
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        rt.block_on(every_blocking_call());
    });
}

/// On a plain thread the runtime's hook declines, and the call parks the thread as before,
/// even while runtimes exist in the process.
#[test]
fn blocking_calls_on_a_plain_thread_beside_a_runtime() {
    bounded("*_blocking on a plain thread", || {
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        let (tx, rx) = corio::sync::oneshot::channel();
        let q = Arc::new(corio::Queue::bounded(1));
        let task = rt.spawn({
            let q = q.clone();
            async move {
                corio::sleep(Duration::from_millis(5)).await;
                tx.send(8).unwrap();
                q.put(9).await.unwrap();
            }
        });
        assert_eq!(rx.recv_blocking(), Ok(8));
        assert_eq!(q.get_blocking(), Ok(9));
        rt.block_on(task);
    });
}

/// Tasks on 2 workers contending for one mutex through `lock_blocking`: every call completes.
/// Workers that ran other tasks nested inside a blocked call (as a nested `block_on` does once
/// every worker is blocked) deadlocked here, or overflowed the stack with 20,000 tasks: the
/// nested task waited for the lock that the outer waiter had been handed but could not use
/// before the nested call returned (a review found it).
#[test]
fn contended_lock_blocking_on_two_workers_completes() {
    for (tasks, rounds) in [(200, 100), (20_000, 1)] {
        bounded("contended lock_blocking on two workers", move || {
            let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
            let m = Arc::new(corio::sync::Mutex::new(0u64));
            let total = rt.block_on(async move {
                let handles: Vec<_> = (0..tasks)
                    .map(|_| {
                        let m = m.clone();
                        corio::spawn(async move {
                            for _ in 0..rounds {
                                *m.lock_blocking() += 1;
                                corio::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for handle in handles {
                    handle.await;
                }
                *m.lock().await
            });
            assert_eq!(total, (tasks * rounds) as u64);
        });
    }
}

/// Set in the child process of the tests below that expect the runtime's report.
const CHILD_ENV: &str = "CORIO_TEST_LEAF_REPORT_CHILD";

/// Runs `stuck` in a child process of this test binary (test `name`), ended by a watchdog after
/// 5 s, and checks that the child printed the runtime's report, `report`, once.
fn reports_stuck(name: &str, report: &str, stuck: impl FnOnce()) {
    if std::env::var_os(CHILD_ENV).is_some() {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(5));
            std::process::exit(0);
        });
        stuck();
        unreachable!("the stuck call returned");
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches(report).count(),
        1,
        "not one report: {stderr}"
    );
}

/// A mutex taken by a task that `spawn` starts, which then awaits a timer for `hold` before it
/// lets go; returns once the lock is held, with the mutex and that task.
async fn lock_held_for(
    hold: Duration,
    spawn: impl FnOnce(Pin<Box<dyn Future<Output = ()> + Send>>) -> corio::Task<()>,
) -> (Arc<corio::sync::Mutex<u32>>, corio::Task<()>) {
    let m = Arc::new(corio::sync::Mutex::new(0u32));
    let (held_tx, held_rx) = corio::sync::oneshot::channel();
    let holder = spawn(Box::pin({
        let m = m.clone();
        async move {
            let _guard = m.lock().await;
            held_tx.send(()).unwrap();
            corio::sleep(hold).await;
        }
    }));
    held_rx.await.unwrap();
    (m, holder)
}

const EVERY_WORKER_BLOCKED: &str = "every worker of this runtime is blocked";

/// On one worker, a blocking call inside a task that waits for a task queued behind it cannot
/// return: the only worker is parked in the call. It hung silently; the runtime now says so on
/// stderr.
#[test]
fn a_blocking_call_waiting_for_a_task_on_one_worker_says_so() {
    reports_stuck(
        "a_blocking_call_waiting_for_a_task_on_one_worker_says_so",
        EVERY_WORKER_BLOCKED,
        || {
            let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
            rt.block_on(rt.spawn(async {
                let (tx, rx) = corio::sync::oneshot::channel();
                corio::spawn(async move { tx.send(1).unwrap() }).detach();
                let _ = rx.recv_blocking();
            }));
        },
    );
}

/// Both workers blocked in `lock_blocking` while the lock's holder awaits a timer: nothing
/// drives the timers, so the holder never runs again. No task waits in a queue, and this hung
/// without a word (a probe found it); the runtime now says so.
#[test]
fn blocking_calls_on_every_worker_while_the_holder_awaits_a_timer_say_so() {
    reports_stuck(
        "blocking_calls_on_every_worker_while_the_holder_awaits_a_timer_say_so",
        EVERY_WORKER_BLOCKED,
        || {
            let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
            rt.block_on(async {
                let (m, holder) =
                    lock_held_for(Duration::from_millis(300), |f| corio::spawn(f)).await;
                let blocked: Vec<_> = (0..2)
                    .map(|_| {
                        let m = m.clone();
                        corio::spawn(async move { *m.lock_blocking() += 1 })
                    })
                    .collect();
                holder.await;
                for b in blocked {
                    b.await;
                }
            });
        },
    );
}

/// On a local loop a blocking call runs the loop's other tasks while it waits, so a second
/// task's blocking call runs nested inside the first, which cannot return before it. Here the
/// first is handed the lock while the second waits for that lock: neither can ever return. It
/// hung without a word (a probe found it); the loop now says so.
#[test]
fn nested_blocking_calls_on_a_local_loop_that_wait_for_each_other_say_so() {
    reports_stuck(
        "nested_blocking_calls_on_a_local_loop_that_wait_for_each_other_say_so",
        "has been woken for 1 s but cannot return",
        || {
            corio::run_local(async {
                let (m, holder) =
                    lock_held_for(Duration::from_millis(50), |f| corio::spawn_local(f)).await;
                let first = corio::spawn_local({
                    let m = m.clone();
                    async move { *m.lock_blocking() += 1 }
                });
                let second = corio::spawn_local({
                    let m = m.clone();
                    async move { *m.lock_blocking() += 1 }
                });
                first.await;
                second.await;
                holder.await;
            });
        },
    );
}

/// On a multi-threaded runtime whose every worker is blocked in a `block_on` made inside a task,
/// the worker runs tasks nested inside that call, and a second task's `block_on` nested there
/// must return first. Here the first is handed the lock while the second waits for that lock:
/// neither can ever return. It hung without a word (probe U's p20); the runtime now says so.
#[test]
fn nested_block_on_calls_on_a_worker_that_wait_for_each_other_say_so() {
    reports_stuck(
        "nested_block_on_calls_on_a_worker_that_wait_for_each_other_say_so",
        "has been woken for 1 s but cannot return",
        || {
            let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
            rt.block_on(async {
                let (m, holder) =
                    lock_held_for(Duration::from_millis(50), |f| corio::spawn(f)).await;
                let first = corio::spawn({
                    let m = m.clone();
                    async move { *corio::block_on(m.lock()) += 1 }
                });
                let second = corio::spawn({
                    let m = m.clone();
                    async move { *corio::block_on(m.lock()) += 1 }
                });
                first.await;
                second.await;
                holder.await;
            });
        },
    );
}

/// A simulation whose client's `to_thread` closure waits for one of the simulation's tasks
/// (first running a nested inline `spawn_cpu` job if `nested`): it can never return.
fn simulation_with_an_inline_job_waiting_for_its_task(nested: bool) {
    let sim = corio::sim::Builder::new().seed(1).build();
    sim.client("c", async move {
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        let producer = corio::spawn(async move {
            corio::yield_now().await;
            tx.send(7).unwrap();
        });
        let _ = corio::to_thread(move || {
            if nested {
                drop(corio::spawn_cpu(|| 1));
            }
            rx.recv().unwrap()
        })
        .await;
        producer.await;
        Ok(())
    });
    let _ = sim.run();
}

/// In a simulation, `to_thread` runs its closure inline on the simulation's only thread; a
/// closure that waits for one of the simulation's tasks can never return. It hung without a
/// word (probe Z); a watcher now says so once the job has run for a second.
#[test]
fn a_simulations_inline_job_waiting_for_its_tasks_says_so() {
    reports_stuck(
        "a_simulations_inline_job_waiting_for_its_tasks_says_so",
        "inline, as a simulation runs them",
        || simulation_with_an_inline_job_waiting_for_its_task(false),
    );
}

/// The same with an inline job nested in the waiting one (a `spawn_cpu` it ran first): the
/// nested job's end left the outer one unwatched, and it hung silently (a review found it).
#[test]
fn a_simulations_inline_job_waiting_after_a_nested_job_says_so() {
    reports_stuck(
        "a_simulations_inline_job_waiting_after_a_nested_job_says_so",
        "inline, as a simulation runs them",
        || simulation_with_an_inline_job_waiting_for_its_task(true),
    );
}

/// The loop's main future, woken, held up for a second by a task's blocking call that waits
/// for it (for the lock it holds): the loop says so, naming the main future.
#[test]
fn a_main_future_held_up_by_a_tasks_blocking_call_says_so() {
    reports_stuck(
        "a_main_future_held_up_by_a_tasks_blocking_call_says_so",
        "main future has been woken for 1 s but cannot be polled",
        || {
            corio::run_local(async {
                let m = Arc::new(corio::sync::Mutex::new(0u32));
                let guard = m.lock().await;
                let blocked = corio::spawn_local({
                    let m = m.clone();
                    async move { *m.lock_blocking() += 1 }
                });
                corio::sleep(Duration::from_millis(50)).await;
                drop(guard);
                blocked.await;
            });
        },
    );
}

const FOREIGN_BLOCK_ON: &str = "called on thread";

/// A fresh runtime's `block_on` (here `corio::run`, as a sync helper would start one) inside a
/// local loop's main future, waiting for a task of that loop: the loop cannot run it while the
/// call blocks its thread. It hung silently (tokio panics there); the runtime now says so.
#[test]
fn a_runtime_started_inside_a_local_loop_that_waits_for_that_loop_says_so() {
    reports_stuck(
        "a_runtime_started_inside_a_local_loop_that_waits_for_that_loop_says_so",
        FOREIGN_BLOCK_ON,
        || {
            corio::run_local(async {
                let (tx, rx) = corio::sync::oneshot::channel();
                corio::spawn(async move { tx.send(1).unwrap() }).detach();
                corio::run(async { rx.await.unwrap() })
            });
        },
    );
}

/// The same with a local runtime's `block_on` inside a task of a one-worker runtime.
#[test]
fn a_local_runtime_blocking_a_worker_that_its_future_waits_for_says_so() {
    reports_stuck(
        "a_local_runtime_blocking_a_worker_that_its_future_waits_for_says_so",
        FOREIGN_BLOCK_ON,
        || {
            let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
            rt.block_on(async {
                let (tx, rx) = corio::sync::oneshot::channel::<u32>();
                let waiter = corio::spawn(async move {
                    let local = corio::LocalRuntime::new().unwrap();
                    local.block_on(async { rx.await.unwrap() })
                });
                // Queued behind the waiter on the only worker, which the waiter blocks.
                corio::spawn(async move { tx.send(1).unwrap() }).detach();
                waiter.await
            });
        },
    );
}

/// Two tasks of a deterministic runtime take two locks in opposite orders: neither can go on,
/// and virtual time has no timer to jump to. It hung silently (so `explore` could not name the
/// seed); the runtime now says so, with the seed.
#[test]
fn a_deterministic_runtime_whose_tasks_deadlock_says_so_with_its_seed() {
    reports_stuck(
        "a_deterministic_runtime_whose_tasks_deadlock_says_so_with_its_seed",
        "this virtual-time runtime (seed 7; replay it with CORIO_SEED=7)",
        || {
            corio::run_seeded(7, async {
                let a = Arc::new(corio::sync::Mutex::new(0));
                let b = Arc::new(corio::sync::Mutex::new(0));
                let (a1, b1, a2, b2) = (a.clone(), b.clone(), a, b);
                let t1 = corio::spawn(async move {
                    let _a = a1.lock().await;
                    corio::yield_now().await;
                    let _b = b1.lock().await;
                });
                let t2 = corio::spawn(async move {
                    let _b = b2.lock().await;
                    corio::yield_now().await;
                    let _a = a2.lock().await;
                });
                t1.await;
                t2.await;
            });
        },
    );
}
