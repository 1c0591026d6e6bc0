//! `corio::TaskSet`: join_next in completion order, panics, cancel_all, drop (destructors have run
//! when it returns, also with tasks running on other threads), cancel safety of join_next.

mod support;

use std::future::{Future, pending};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use support::DropCounter;

/// Polls a future once with a no-op waker.
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn join_next_returns_outputs_in_completion_order_then_none() {
    let got = corio::run_seeded(2, async {
        let mut set = corio::TaskSet::new();
        for ms in [40u64, 10, 30, 20] {
            set.spawn(async move {
                corio::sleep(Duration::from_millis(ms)).await;
                ms
            });
        }
        assert_eq!(set.len(), 4);
        let mut got = Vec::new();
        while let Some(ms) = set.join_next().await {
            got.push(ms);
            assert_eq!(
                set.len(),
                4 - got.len(),
                "len counts the tasks not yet joined"
            );
        }
        assert!(set.is_empty());
        got
    });
    assert_eq!(got, [10, 20, 30, 40]);

    // On the multi-threaded runtime, with many tasks.
    let sum = corio::run(async {
        let mut set = corio::TaskSet::default();
        for i in 0..1000u64 {
            set.spawn(async move {
                corio::yield_now().await;
                i
            });
        }
        let mut sum = 0;
        while let Some(i) = set.join_next().await {
            sum += i;
        }
        sum
    });
    assert_eq!(sum, (0..1000).sum::<u64>());
}

#[test]
fn join_next_on_an_empty_set_is_none_at_once() {
    let mut set = corio::TaskSet::<u32>::new();
    assert!(matches!(poll_once(set.join_next()), Poll::Ready(None)));
    assert!(set.is_empty());
    assert_eq!(format!("{set:?}"), "TaskSet { len: 0 }");
}

/// `join_next` spends the cooperative budget like any resource: a loop over it (here on an empty
/// set, which is ready at once) yields, so another task on the same thread runs and a deadline
/// fires. It used to spin until killed.
#[test]
fn a_join_next_loop_yields_to_other_tasks_and_to_a_deadline() {
    corio::run_local(async {
        let mut set = corio::TaskSet::<()>::new();
        let ran = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = ran.clone();
        let _other = corio::spawn_local(async move { flag.set(true) });
        let mut polls = 0u32;
        while !ran.get() {
            assert_eq!(set.join_next().await, None);
            polls += 1;
            assert!(polls < 1_000_000, "join_next never yielded");
        }
        let spun = corio::timeout(Duration::from_millis(20), async {
            loop {
                let _ = set.join_next().await;
            }
        })
        .await;
        assert!(spun.is_err());
    });
}

#[test]
fn a_panic_in_a_task_resumes_in_join_next() {
    let caught = catch_unwind(AssertUnwindSafe(|| {
        corio::run(async {
            let mut set = corio::TaskSet::new();
            set.spawn(pending::<u32>());
            set.spawn(async { panic!("handler 2 failed") });
            // The panicking task is the only one that finishes.
            set.join_next().await
        })
    }));
    let payload = caught.expect_err("the task's panic must resume in join_next's caller");
    assert_eq!(panic_message(&*payload), "handler 2 failed");

    // The other tasks stay joinable after a panic was caught by the caller.
    let mut set = corio::TaskSet::new();
    let (tx, rx) = corio::sync::oneshot::channel::<()>();
    set.spawn(async { panic!("boom") });
    set.spawn(async move {
        let _ = rx.await; // finishes only after the panic was seen
        "ok"
    });
    let first = catch_unwind(AssertUnwindSafe(|| corio::block_on(set.join_next())));
    assert_eq!(panic_message(&*first.unwrap_err()), "boom");
    assert_eq!(set.len(), 1);
    tx.send(()).unwrap();
    assert_eq!(corio::block_on(set.join_next()), Some("ok"));
}

#[test]
fn cancel_all_drops_the_futures_and_join_next_then_returns_none() {
    corio::run_local(async {
        let counter = DropCounter::new();
        let mut set = corio::TaskSet::new();
        for _ in 0..10 {
            let guard = counter.guard();
            set.spawn(async move {
                let _guard = guard;
                pending::<u32>().await
            });
        }
        set.spawn(async { 7 }); // finished but not joined: dropped too
        corio::yield_now().await; // let them start
        set.cancel_all();
        assert_eq!(
            counter.alive(),
            0,
            "cancelled futures are dropped by cancel_all"
        );
        assert!(set.is_empty());
        assert_eq!(set.join_next().await, None);

        // The set keeps working afterwards.
        set.spawn(async { 8 });
        assert_eq!(set.join_next().await, Some(8));
    });
}

/// A future that spends `busy` of real time in each poll, then yields: on the multi-threaded
/// runtime it is often inside a poll on another thread.
fn busy_task(
    counter: &DropCounter,
    busy: Duration,
    started: Arc<AtomicUsize>,
) -> impl Future<Output = u32> + Send + 'static {
    let guard = counter.guard();
    async move {
        let _guard = guard;
        started.fetch_add(1, Ordering::SeqCst);
        loop {
            std::thread::sleep(busy);
            corio::yield_now().await;
        }
    }
}

#[test]
fn cancel_all_with_tasks_running_on_other_threads() {
    let rt = corio::Runtime::builder().worker_threads(4).build().unwrap();
    rt.block_on(async {
        for _ in 0..5 {
            let counter = DropCounter::new();
            let started = Arc::new(AtomicUsize::new(0));
            let mut set = corio::TaskSet::new();
            for _ in 0..6 {
                set.spawn(busy_task(
                    &counter,
                    Duration::from_micros(300),
                    started.clone(),
                ));
            }
            while started.load(Ordering::SeqCst) < 6 {
                corio::sleep(Duration::from_millis(1)).await;
            }
            set.cancel_all();
            assert_eq!(set.join_next().await, None);
            assert_eq!(
                counter.alive(),
                0,
                "join_next returned None before every future was gone"
            );
            assert!(set.is_empty());
        }
    });
}

#[test]
fn dropping_the_set_runs_every_destructor_before_drop_returns() {
    let rt = corio::Runtime::builder().worker_threads(4).build().unwrap();
    rt.block_on(async {
        for round in 0..5 {
            let counter = DropCounter::new();
            let started = Arc::new(AtomicUsize::new(0));
            let mut set = corio::TaskSet::new();
            for _ in 0..6 {
                set.spawn(busy_task(
                    &counter,
                    Duration::from_micros(300),
                    started.clone(),
                ));
            }
            for _ in 0..20 {
                set.spawn({
                    let guard = counter.guard();
                    async move {
                        let _guard = guard;
                        pending::<u32>().await
                    }
                });
            }
            while started.load(Ordering::SeqCst) < 6 {
                corio::sleep(Duration::from_millis(1)).await;
            }
            drop(set);
            assert_eq!(
                counter.alive(),
                0,
                "round {round}: a destructor had not run"
            );
        }
    });

    // Outside any runtime, with tasks on the global runtime, and on a single-threaded loop.
    let counter = DropCounter::new();
    let mut set = corio::TaskSet::new();
    for _ in 0..3 {
        let guard = counter.guard();
        set.spawn(async move {
            let _guard = guard;
            corio::sleep(Duration::from_secs(3600)).await;
        });
    }
    drop(set);
    assert_eq!(counter.alive(), 0);
    corio::run_local(async {
        let counter = DropCounter::new();
        let mut set = corio::TaskSet::new();
        for _ in 0..3 {
            set.spawn(pending_with(counter.guard()));
        }
        corio::yield_now().await;
        drop(set);
        assert_eq!(counter.alive(), 0);
    });
}

async fn pending_with(guard: support::Guard) {
    let _guard = guard;
    pending::<()>().await
}

#[test]
fn a_set_dropped_from_inside_its_own_task_does_not_deadlock() {
    corio::run(async {
        let counter = DropCounter::new();
        let shared: Arc<Mutex<Option<corio::TaskSet<()>>>> = Arc::new(Mutex::new(None));
        let dropped = Arc::new(AtomicBool::new(false));
        let mut set = corio::TaskSet::new();
        let (tx, rx) = corio::sync::oneshot::channel::<()>();
        {
            let shared = shared.clone();
            let dropped = dropped.clone();
            let guard = counter.guard();
            set.spawn(async move {
                let _guard = guard;
                let _ = rx.await;
                // Drop the set that holds this very task, from inside its poll.
                let set = shared.lock().unwrap().take();
                drop(set);
                dropped.store(true, Ordering::SeqCst);
                pending::<()>().await;
            });
        }
        set.spawn(pending_with(counter.guard()));
        *shared.lock().unwrap() = Some(set);
        tx.send(()).unwrap();
        while !dropped.load(Ordering::SeqCst) {
            corio::sleep(Duration::from_millis(1)).await;
        }
        // The other task was dropped by the drop; this one right after its poll returned.
        let mut waited = 0;
        while counter.alive() > 0 {
            assert!(waited < 5000, "the task's own future was never dropped");
            corio::sleep(Duration::from_millis(1)).await;
            waited += 1;
        }
    });
}

#[test]
fn a_dropped_join_next_loses_no_output() {
    corio::run_seeded(17, async {
        let mut set = corio::TaskSet::new();
        for i in 0..40u64 {
            set.spawn(async move {
                corio::sleep(Duration::from_millis(2 * (1 + (i * 7) % 15))).await;
                i
            });
        }
        let mut got = Vec::new();
        let mut abandoned = 0;
        while !set.is_empty() {
            match corio::timeout(Duration::from_millis(1), set.join_next()).await {
                Ok(Some(i)) => got.push(i),
                Ok(None) => unreachable!("the set is not empty"),
                Err(_) => abandoned += 1,
            }
        }
        assert!(abandoned > 0);
        got.sort_unstable();
        assert_eq!(got, (0..40).collect::<Vec<_>>());
    });
}

#[test]
fn tasks_whose_runtime_shut_down_are_reaped_without_an_output() {
    let counter = DropCounter::new();
    let mut set = corio::TaskSet::new();
    {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        rt.block_on(async {
            for _ in 0..3 {
                set.spawn(pending_with(counter.guard()));
            }
            let finished = Arc::new(AtomicBool::new(false));
            let flag = finished.clone();
            set.spawn(async move { flag.store(true, Ordering::SeqCst) });
            while !finished.load(Ordering::SeqCst) {
                corio::sleep(Duration::from_millis(1)).await;
            }
        });
    }
    // The runtime dropped every task it had; the finished one still has its output.
    assert_eq!(counter.alive(), 0);
    assert_eq!(set.len(), 4);
    assert_eq!(corio::block_on(set.join_next()), Some(()));
    assert_eq!(corio::block_on(set.join_next()), None);
}

#[test]
fn join_next_in_a_select_loop() {
    corio::run_seeded(4, async {
        let mut set = corio::TaskSet::new();
        let mut tick = corio::interval(Duration::from_millis(10));
        let mut spawned = 0u32;
        let mut joined = Vec::new();
        while joined.len() < 10 {
            corio::select! {
                _ = tick.tick(), if spawned < 10 => {
                    let n = spawned;
                    set.spawn(async move {
                        corio::sleep(Duration::from_millis(25)).await;
                        n
                    });
                    spawned += 1;
                }
                Some(n) = set.join_next() => joined.push(n),
            }
        }
        assert_eq!(joined, (0..10).collect::<Vec<_>>());
    });
}

#[test]
fn the_set_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let set = corio::TaskSet::<String>::new();
    assert_send_sync(&set);
}

mod model {
    //! A proptest model of `TaskSet` on virtual time: spawns with random durations, `join_next`
    //! cut short by random timeouts (cancel safety), `cancel_all`, sleeps, then drop. The
    //! reference is a map from task id to its finishing time.

    use std::collections::BTreeMap;
    use std::time::Duration;

    use proptest::prelude::*;

    use super::support::DropCounter;

    #[derive(Debug, Clone)]
    enum Op {
        Spawn(u64),
        Join(u64),
        CancelAll,
        Sleep(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1u64..40).prop_map(Op::Spawn),
            4 => (0u64..30).prop_map(Op::Join),
            1 => Just(Op::CancelAll),
            1 => (0u64..20).prop_map(Op::Sleep),
        ]
    }

    /// Tolerance for tick rounding: a deadline fires within one 1 ms tick after it is due.
    const TICK: Duration = Duration::from_millis(1);

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn task_set_matches_the_model(ops in proptest::collection::vec(op(), 1..40), seed in any::<u64>()) {
            corio::run_seeded(seed, async move {
                let start = corio::time::now();
                let now = || corio::time::now() - start;
                let counter = DropCounter::new();
                let mut set = corio::TaskSet::new();
                // id -> when it finishes, relative to `start`.
                let mut model: BTreeMap<u32, Duration> = BTreeMap::new();
                let mut next_id = 0u32;
                for op in ops {
                    match op {
                        Op::Spawn(ms) => {
                            let id = next_id;
                            next_id += 1;
                            let guard = counter.guard();
                            set.spawn(async move {
                                let _guard = guard;
                                corio::sleep(Duration::from_millis(ms)).await;
                                id
                            });
                            model.insert(id, now() + Duration::from_millis(ms));
                        }
                        Op::Join(ms) => {
                            let deadline = now() + Duration::from_millis(ms);
                            let first = model.values().min().copied();
                            let got = corio::timeout(Duration::from_millis(ms), set.join_next()).await;
                            match (got, first) {
                                (Ok(None), None) => {}
                                (Ok(None), Some(_)) => panic!("join_next returned None with tasks left"),
                                (Ok(Some(id)), Some(first)) => {
                                    let finish = model.remove(&id).expect("an output of a task not in the set");
                                    assert!(finish <= first + TICK, "out of completion order: {id} at {finish:?}, first {first:?}");
                                    assert!(first <= deadline + TICK, "an output before its task finished");
                                }
                                (Ok(Some(id)), None) => panic!("output {id} from an empty set"),
                                (Err(_), None) => panic!("join_next on an empty set waited"),
                                (Err(_), Some(first)) => {
                                    assert!(first + TICK >= deadline, "timed out although a task had finished");
                                }
                            }
                        }
                        Op::CancelAll => {
                            set.cancel_all();
                            model.clear();
                            assert_eq!(counter.alive(), 0, "cancel_all left a future alive");
                            assert_eq!(set.join_next().await, None);
                        }
                        Op::Sleep(ms) => corio::sleep(Duration::from_millis(ms)).await,
                    }
                    assert_eq!(set.len(), model.len());
                    assert_eq!(set.is_empty(), model.is_empty());
                }
                drop(set);
                assert_eq!(counter.alive(), 0, "a future outlived the set's drop");
            });
        }
    }
}
