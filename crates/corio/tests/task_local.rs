//! Task-locals (asyncio's contextvars) and `spawn_local` where no local loop runs (issue 14),
//! written as a new user would, with `corio::` names only.

use std::time::Duration;

corio::task_local! {
    static REQUEST_ID: u64;
    static USER: String;
}

fn id() -> u64 {
    REQUEST_ID.with(|id| *id)
}

#[test]
fn scope_with_and_try_with() {
    assert!(REQUEST_ID.try_with(|_| ()).is_err());
    let err = REQUEST_ID.try_with(|_| ()).unwrap_err();
    assert!(err.to_string().contains("REQUEST_ID"), "{err}");
    let out = corio::block_on(REQUEST_ID.scope(1, async {
        let before = id();
        corio::yield_now().await;
        let nested = REQUEST_ID.scope(2, async { id() }).await;
        (before, nested, id())
    }));
    assert_eq!(out, (1, 2, 1));
    assert!(REQUEST_ID.try_with(|_| ()).is_err(), "gone after the scope");
}

#[test]
fn with_outside_a_scope_panics_naming_the_key() {
    let err = std::panic::catch_unwind(|| REQUEST_ID.with(|id| *id)).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("REQUEST_ID"), "{msg}");
}

/// A scope of a key entered inside a `with` closure of the same key (through `block_on`) is a
/// clear panic, not a silent use of the outer value.
#[test]
fn a_scope_entered_inside_with_of_the_same_key_panics_clearly() {
    let out = std::panic::catch_unwind(|| {
        corio::block_on(REQUEST_ID.scope(1, async {
            REQUEST_ID.with(|_| corio::block_on(REQUEST_ID.scope(2, async { id() })))
        }))
    });
    let err = out.expect_err("the inner scope silently saw the outer value");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("REQUEST_ID") && msg.contains("with"), "{msg}");
    // Another key's scope inside the closure is fine.
    let user = corio::block_on(REQUEST_ID.scope(1, async {
        REQUEST_ID
            .with(|_| corio::block_on(USER.scope("ada".into(), async { USER.with(|u| u.clone()) })))
    }));
    assert_eq!(user, "ada");
    assert!(
        REQUEST_ID.try_with(|_| ()).is_err(),
        "the panic left no value behind"
    );
}

#[test]
fn spawned_tasks_inherit_a_clone_on_every_runtime() {
    // Multi-threaded: the child may run on another worker.
    let out = corio::run(REQUEST_ID.scope(7, async {
        let child = corio::spawn(async {
            corio::sleep(Duration::from_millis(1)).await;
            let grandchild = corio::spawn(async { id() });
            (id(), grandchild.await)
        });
        child.await
    }));
    assert_eq!(out, (7, 7));
    // Single-threaded, with spawn_local too.
    let out = corio::run_local(REQUEST_ID.scope(8, async {
        let a = corio::spawn(async { id() });
        let b = corio::spawn_local(async { id() });
        (a.await, b.await)
    }));
    assert_eq!(out, (8, 8));
}

#[test]
fn a_childs_value_is_a_copy_taken_at_spawn() {
    corio::run(USER.scope("ada".to_string(), async {
        let (tx, rx) = corio::sync::oneshot::channel::<()>();
        let child = corio::spawn(async move {
            rx.await.unwrap();
            USER.with(|u| u.clone())
        });
        // The parent enters a new scope after the spawn: the child keeps what it was given.
        USER.scope("grace".to_string(), async move {
            tx.send(()).unwrap();
            assert_eq!(child.await, "ada");
        })
        .await;
    }));
}

#[test]
fn tasks_spawned_outside_any_scope_see_nothing() {
    corio::run(async {
        let t = corio::spawn(async { REQUEST_ID.try_with(|_| ()).is_err() });
        assert!(t.await);
    });
}

#[test]
fn task_group_children_inherit_spawned_and_local() {
    let out = corio::run(REQUEST_ID.scope(3, async {
        corio::task_group(async |g| {
            let a = g.spawn(async { Ok::<_, ()>(id()) });
            let b = g.spawn_local(async { Ok::<_, ()>(id()) });
            // A scope inside the body reaches the children spawned in it.
            let (c, d) = REQUEST_ID
                .scope(4, async {
                    (
                        g.spawn(async { Ok::<_, ()>(id()) }),
                        g.spawn_local(async { Ok::<_, ()>(id()) }),
                    )
                })
                .await;
            let get = |r: Result<u64, _>| r.map_err(|_| ());
            Ok((get(a.await)?, get(b.await)?, get(c.await)?, get(d.await)?))
        })
        .await
    }));
    assert_eq!(out.unwrap(), (3, 3, 4, 4));
}

#[test]
fn every_key_in_scope_is_inherited() {
    let out = corio::run(REQUEST_ID.scope(
        5,
        USER.scope("lin".into(), async {
            corio::spawn(async { (id(), USER.with(|u| u.clone())) }).await
        }),
    ));
    assert_eq!(out, (5, "lin".to_string()));
}

#[test]
fn spawn_local_inside_run_works_on_the_main_future() {
    let out = corio::run(async {
        corio::timeout(Duration::from_secs(30), async {
            let not_send = std::rc::Rc::new(7);
            corio::spawn_local(async move { *not_send }).await
        })
        .await
        .expect("spawn_local must not hang")
    });
    assert_eq!(out, 7);
}

#[test]
// The block_on hands the pinned task's handle out on purpose.
#[allow(clippy::async_yields_async)]
fn a_task_pinned_to_a_block_on_that_returned_is_dropped_and_awaiting_it_says_why() {
    let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
    let counter = std::sync::Arc::new(());
    let held = counter.clone();
    let task = rt.block_on(async move {
        corio::spawn_local(async move {
            let _held = held;
            corio::sleep(Duration::from_secs(60)).await;
        })
    });
    assert_eq!(
        std::sync::Arc::strong_count(&counter),
        1,
        "dropped when its block_on returned"
    );
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(task)))
        .expect_err("awaiting it panics");
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert!(
        message.contains("pinned to a block_on call that has returned"),
        "{message}"
    );
}

#[test]
fn spawn_local_inside_run_works_inside_a_spawned_task() {
    let out = corio::run(async {
        let task = corio::spawn(async {
            let not_send = std::rc::Rc::new(8);
            corio::spawn_local(async move {
                corio::sleep(Duration::from_millis(1)).await;
                *not_send
            })
            .await
        });
        corio::timeout(Duration::from_secs(30), task)
            .await
            .expect("spawn_local must not hang")
    });
    assert_eq!(out, 8);
}

#[test]
fn pinned_tasks_inherit_task_locals_too() {
    let out = corio::run(REQUEST_ID.scope(11, async { corio::spawn_local(async { id() }).await }));
    assert_eq!(out, 11);
}

#[test]
fn spawn_local_still_works_where_a_local_loop_runs() {
    assert_eq!(
        corio::run_local(async { corio::spawn_local(async { 7 }).await }),
        7
    );
    assert_eq!(
        corio::block_on(async { corio::spawn_local(async { 8 }).await }),
        8
    );
    let rt = corio::LocalRuntime::new().unwrap();
    assert_eq!(
        rt.block_on(async { corio::spawn_local(async { 9 }).await }),
        9
    );
}

/// Records the `REQUEST_ID` its destructor sees (`None`: not set), as a request-scoped guard
/// that logs on cleanup would.
struct SeesIdOnDrop(std::sync::Arc<std::sync::Mutex<Vec<Option<u64>>>>);

impl Drop for SeesIdOnDrop {
    fn drop(&mut self) {
        let seen = REQUEST_ID.try_with(|id| *id).ok();
        self.0.lock().unwrap().push(seen);
    }
}

fn log() -> std::sync::Arc<std::sync::Mutex<Vec<Option<u64>>>> {
    std::sync::Arc::new(std::sync::Mutex::new(Vec::new()))
}

#[test]
fn a_cancelled_scope_drops_its_future_with_the_value_set() {
    let seen = log();
    corio::run({
        let seen = seen.clone();
        async move {
            // A scoped task, cancelled.
            let guard = SeesIdOnDrop(seen.clone());
            let task = corio::spawn(REQUEST_ID.scope(42, async move {
                let _guard = guard;
                corio::sleep(Duration::from_secs(60)).await;
            }));
            corio::sleep(Duration::from_millis(5)).await;
            task.cancel().await;

            // A timeout inside a scope: the timed-out future is dropped inside it.
            let guard = SeesIdOnDrop(seen.clone());
            let _ = REQUEST_ID
                .scope(
                    43,
                    corio::timeout(Duration::from_millis(5), async move {
                        let _guard = guard;
                        corio::sleep(Duration::from_secs(60)).await;
                    }),
                )
                .await;

            // A scope future dropped after one poll, outside any other scope.
            let guard = SeesIdOnDrop(seen.clone());
            let mut scoped = Box::pin(REQUEST_ID.scope(44, async move {
                let _guard = guard;
                corio::sleep(Duration::from_secs(60)).await;
            }));
            assert!(
                futures_lite::future::poll_once(scoped.as_mut())
                    .await
                    .is_none()
            );
            drop(scoped);
            assert!(
                REQUEST_ID.try_with(|_| ()).is_err(),
                "the value left with the drop"
            );
        }
    });
    assert_eq!(*seen.lock().unwrap(), [Some(42), Some(43), Some(44)]);
}

/// Spawns, from its destructor, a task that records the `REQUEST_ID` it starts with (as a guard
/// that logs a cancellation in the background would).
struct SpawnsOnDrop(std::sync::Arc<std::sync::Mutex<Vec<Option<u64>>>>);

impl Drop for SpawnsOnDrop {
    fn drop(&mut self) {
        let seen = self.0.clone();
        corio::spawn(async move {
            seen.lock()
                .unwrap()
                .push(REQUEST_ID.try_with(|id| *id).ok());
        })
        .detach();
    }
}

#[test]
fn a_task_spawned_while_a_dropped_scope_is_torn_down_inherits_its_value() {
    let seen = log();
    corio::run({
        let seen = seen.clone();
        async move {
            // A scope future cancelled by a timeout, and one that loses a `select!`: their
            // futures are dropped inside the scope, where `with` sees the value, so a task
            // spawned there starts with it too.
            let guard = SpawnsOnDrop(seen.clone());
            let _ = corio::timeout(
                Duration::from_millis(5),
                REQUEST_ID.scope(45, async move {
                    let _guard = guard;
                    corio::sleep(Duration::from_secs(60)).await;
                }),
            )
            .await;
            let guard = SpawnsOnDrop(seen.clone());
            corio::select! {
                biased;
                () = corio::sleep(Duration::from_millis(5)) => {}
                () = REQUEST_ID.scope(46, async move {
                    let _guard = guard;
                    corio::sleep(Duration::from_secs(60)).await;
                }) => {}
            }
            // The spawned tasks run.
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while seen.lock().unwrap().len() < 2 {
                assert!(std::time::Instant::now() < deadline, "the tasks never ran");
                corio::sleep(Duration::from_millis(1)).await;
            }
            assert!(
                REQUEST_ID.try_with(|_| ()).is_err(),
                "nothing left in scope"
            );
        }
    });
    assert_eq!(*seen.lock().unwrap(), [Some(45), Some(46)]);
}

#[test]
fn a_cancelled_child_drops_its_future_with_the_inherited_value_set() {
    let seen = log();
    for local in [false, true] {
        let seen = seen.clone();
        let body = async move {
            REQUEST_ID
                .scope(7, async move {
                    // Inherited by a spawned task, which is then cancelled.
                    let guard = SeesIdOnDrop(seen.clone());
                    let task = corio::spawn(async move {
                        let _guard = guard;
                        corio::sleep(Duration::from_secs(60)).await;
                    });
                    corio::sleep(Duration::from_millis(5)).await;
                    task.cancel().await;
                    // And by a TaskSet's task, cancelled with the set.
                    let guard = SeesIdOnDrop(seen.clone());
                    let mut set = corio::TaskSet::new();
                    set.spawn(async move {
                        let _guard = guard;
                        corio::sleep(Duration::from_secs(60)).await;
                    });
                    corio::sleep(Duration::from_millis(5)).await;
                    set.cancel_all();
                    while set.join_next().await.is_some() {}
                })
                .await
        };
        if local {
            corio::run_local(body);
        } else {
            corio::run(body);
        }
    }
    assert_eq!(*seen.lock().unwrap(), [Some(7); 4]);
}

#[test]
fn dropping_a_scope_inside_with_of_its_key_drops_it_without_the_value() {
    let seen = log();
    let guard = SeesIdOnDrop(seen.clone());
    let scoped = REQUEST_ID.scope(9, async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    corio::block_on(REQUEST_ID.scope(1, async move {
        // The slot is borrowed by this closure: the drop cannot set 9, and must not panic.
        REQUEST_ID.with(|_| drop(scoped));
    }));
    // The drop could not install 9 (the slot is borrowed by `with`), so the destructor sees
    // the value of the scope around it.
    assert_eq!(*seen.lock().unwrap(), [Some(1)]);
}

#[test]
fn to_thread_and_unblock_see_the_values_in_scope_at_the_call() {
    // asyncio.to_thread propagates the contextvars context to its worker thread.
    for local in [false, true] {
        let body = REQUEST_ID.scope(11, async {
            let on_pool = corio::to_thread(|| (id(), std::thread::current().id())).await;
            assert_ne!(
                on_pool.1,
                std::thread::current().id(),
                "ran on a pool thread"
            );
            let via_unblock = corio::unblock(id).await;
            let nested = REQUEST_ID
                .scope(12, async { corio::to_thread(id).await })
                .await;
            (on_pool.0, via_unblock, nested)
        });
        let seen = if local {
            corio::run_local(body)
        } else {
            corio::run(body)
        };
        assert_eq!(seen, (11, 11, 12));
        let outside = corio::run(corio::to_thread(|| REQUEST_ID.try_with(|_| ()).is_err()));
        assert!(outside, "a closure queued outside any scope sees no value");
    }
}

#[test]
fn spawn_local_in_a_pool_job_panics_naming_run_local_instead_of_hanging() {
    // API.md: spawn_local where no local loop runs either runs pinned or panics at the call,
    // naming run_local; it never hangs (found by a conformance probe: it hung in to_thread for
    // the pool's keep-alive, and for ever in spawn_cpu).
    fn message(payload: Box<dyn std::any::Any + Send>) -> String {
        corio::task::panic_message(&*payload)
    }
    corio::run(async {
        let in_to_thread = corio::to_thread(|| {
            std::panic::catch_unwind(|| drop(corio::spawn_local(async {})))
                .map_err(message)
                .unwrap_err()
        })
        .await;
        let in_unblock = corio::unblock(|| {
            std::panic::catch_unwind(|| drop(corio::spawn_local(async {})))
                .map_err(message)
                .unwrap_err()
        })
        .await;
        let in_cpu = corio::spawn_cpu(|| {
            std::panic::catch_unwind(|| drop(corio::spawn_local(async {})))
                .map_err(message)
                .unwrap_err()
        })
        .await;
        for msg in [in_to_thread, in_unblock, in_cpu] {
            assert!(msg.contains("run_local"), "{msg}");
        }
        // A loop run inside the job is a loop: spawn_local there works.
        let inside_a_loop =
            corio::to_thread(|| corio::block_on(async { corio::spawn_local(async { 5 }).await }))
                .await;
        assert_eq!(inside_a_loop, 5);
    });
}

/// A `TaskSet` member that the set cancels (`cancel_all`, or the set's drop) is dropped by the
/// set on the cancelling task's thread; its destructor still sees its own values, as a cancelled
/// task's does, not the canceller's and not none (found by a conformance probe: the member saw
/// the canceller's value 2, and nothing when the set was dropped outside any scope).
#[test]
fn a_cancelled_task_set_members_destructor_sees_its_own_values() {
    use std::sync::{Arc, Mutex};

    struct Seen(Arc<Mutex<Vec<Option<u64>>>>);
    impl Drop for Seen {
        fn drop(&mut self) {
            self.0
                .lock()
                .unwrap()
                .push(REQUEST_ID.try_with(|v| *v).ok());
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    corio::run(async move {
        // Polled, then cancelled by cancel_all inside another value's scope.
        let mut set = corio::TaskSet::new();
        REQUEST_ID
            .scope(1, async {
                for _ in 0..2 {
                    let guard = Seen(log.clone());
                    set.spawn(async move {
                        let _guard = guard;
                        std::future::pending::<()>().await
                    });
                }
            })
            .await;
        corio::sleep(Duration::from_millis(10)).await;
        REQUEST_ID.scope(2, async { set.cancel_all() }).await;
        // Dropped outside any scope, before its first poll.
        let mut set = corio::TaskSet::new();
        REQUEST_ID
            .scope(3, async {
                let guard = Seen(log.clone());
                set.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                });
            })
            .await;
        drop(set);
    });
    assert_eq!(*seen.lock().unwrap(), [Some(1), Some(1), Some(3)]);
}

/// Counts its clones, to check how often spawning copies a value.
struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Counted(self.0.clone())
    }
}

corio::task_local! {
    static COUNTED: Counted;
}

/// A spawned task and a TaskSet member each start with exactly one clone of
/// the value in scope: captured once, at the spawn call.
#[test]
fn every_spawn_clones_a_value_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let clones = Arc::new(AtomicUsize::new(0));
    corio::run(COUNTED.scope(Counted(clones.clone()), {
        let clones = clones.clone();
        async move {
            corio::spawn(async {}).await;
            assert_eq!(clones.load(Ordering::SeqCst), 1, "corio::spawn");
            let mut set = corio::TaskSet::new();
            set.spawn(async { COUNTED.with(|_| ()) });
            set.join_next().await.unwrap();
            assert_eq!(clones.load(Ordering::SeqCst), 2, "TaskSet::spawn");
        }
    }));
}
