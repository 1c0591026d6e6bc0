//! Debug mode: the slow-poll detector and its watchdog, the task dump, the metrics.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corio_executor::{LocalRuntime, Report, Runtime, TaskState, spawn, task, yield_now};
use support::Gate;

type Reports = Arc<Mutex<Vec<(Instant, Report)>>>;

fn collecting() -> (Reports, impl Fn(&Report) + Send + Sync + 'static) {
    let reports: Reports = Arc::default();
    let sink = reports.clone();
    (reports, move |r: &Report| {
        sink.lock().unwrap().push((Instant::now(), r.clone()))
    })
}

#[test]
fn a_blocking_poll_is_reported_once_by_the_watchdog_while_it_runs() {
    let (reports, hook) = collecting();
    let rt = Runtime::builder()
        .worker_threads(1)
        .thread_name("dbg")
        .debug(true)
        .report_hook(hook)
        .build()
        .unwrap();
    let (blocker, line) = spawn_blocker(&rt);
    let poll_ended = rt.block_on(blocker);
    drop(rt);
    let (at, report) = &the_one_slow_poll(&reports);
    match report {
        Report::SlowPoll {
            task,
            elapsed,
            thread,
            still_running,
        } => {
            assert_eq!(task.name.as_deref(), Some("blocker"));
            assert_eq!(task.location.line(), line);
            assert!(task.location.file().ends_with("rt_debug.rs"));
            assert_eq!(thread, "dbg-0", "the report names the stuck worker");
            assert!(*still_running, "the watchdog fired during the poll");
            assert!(*elapsed >= Duration::from_millis(100));
        }
        _ => unreachable!(),
    }
    assert!(
        *at < poll_ended,
        "the report was made before the poll ended"
    );
    let text = report.to_string();
    assert!(text.contains("blocker") && text.contains("dbg-0"), "{text}");
}

/// Blocking in the future given to a loop's `block_on` (the body of `#[corio::main(local)]` or
/// `run_local`) freezes the whole loop: debug mode watches it like a task named `block_on`.
#[test]
fn a_blocking_poll_of_the_loops_main_future_is_reported_once() {
    let (reports, hook) = collecting();
    let rt = corio_executor::Builder::new()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(100))
        .report_hook(hook)
        .build_local()
        .unwrap();
    let line = line!() + 1;
    let poll_ended = rt.block_on(async {
        // A task that is alive meanwhile, so the dump has something beside the main future.
        let other = task::Builder::new()
            .name("other")
            .spawn(std::future::pending::<()>());
        yield_now().await;
        let dump = corio_executor::dump();
        assert!(
            dump.tasks
                .iter()
                .any(|t| t.name.as_deref() == Some("block_on")),
            "the dump lists the main future:\n{dump}"
        );
        std::thread::sleep(Duration::from_millis(300)); // blocks the loop
        drop(other);
        Instant::now()
    });
    let after = rt.handle().dump();
    assert!(
        !after
            .tasks
            .iter()
            .any(|t| t.name.as_deref() == Some("block_on")),
        "the main future leaves the dump when block_on returns:\n{after}"
    );
    drop(rt);
    let (at, report) = &the_one_slow_poll(&reports);
    let Report::SlowPoll { task, elapsed, .. } = report else {
        unreachable!()
    };
    assert_eq!(task.name.as_deref(), Some("block_on"));
    assert_eq!(task.location.line(), line, "the block_on call site");
    assert!(task.location.file().ends_with("rt_debug.rs"));
    assert!(*elapsed >= Duration::from_millis(100));
    assert!(*at < poll_ended, "the watchdog reported it during the poll");
}

/// The only slow-poll report among `reports` (there must be exactly one per slow poll).
fn the_one_slow_poll(reports: &Reports) -> (Instant, Report) {
    let reports = reports.lock().unwrap();
    let slow: Vec<_> = reports
        .iter()
        .filter(|(_, r)| matches!(r, Report::SlowPoll { .. }))
        .collect();
    assert_eq!(
        slow.len(),
        1,
        "exactly one report per slow poll: {reports:?}"
    );
    slow[0].clone()
}

/// Spawns the blocking task; its spawn location is this function's caller's line.
#[track_caller]
fn spawn_blocker(rt: &Runtime) -> (corio_executor::Task<Instant>, u32) {
    let line = std::panic::Location::caller().line();
    let task = task::Builder::new().name("blocker").spawn_on(
        async {
            std::thread::sleep(Duration::from_millis(300)); // blocks its worker
            Instant::now()
        },
        &rt.handle(),
    );
    (task, line)
}

/// No false positive: 200 tasks that live longer than the threshold, with 4,000 short polls, and
/// both workers parked for longer than the threshold in the middle, produce no report at all. A
/// detector that timed a task's life instead of one poll, added polls up, or counted a parked
/// worker's idle time as a poll would report here.
///
/// The threshold is 1 s, far above any descheduling of a loaded 2-core machine (the default
/// 100 ms is not: one preemption of a worker in the middle of a poll is a real slow poll), and the
/// idle gap is longer than it.
#[test]
fn a_well_behaved_workload_produces_no_report() {
    let threshold = Duration::from_secs(1);
    let (reports, hook) = collecting();
    let rt = Runtime::builder()
        .worker_threads(2)
        .debug(true)
        .slow_poll_threshold(threshold)
        .report_hook(hook)
        .build()
        .unwrap();
    let gate = Gate::default();
    let started = Instant::now();
    let opener = std::thread::spawn({
        let gate = gate.clone();
        move || {
            std::thread::sleep(threshold + Duration::from_millis(200));
            gate.open();
        }
    });
    rt.block_on(async {
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let gate = gate.clone();
                spawn(async move {
                    for _ in 0..10 {
                        yield_now().await;
                    }
                    gate.wait().await; // every worker parks, for longer than the threshold
                    for _ in 0..10 {
                        yield_now().await;
                    }
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        assert_eq!(sum, (0..200).sum::<i32>());
    });
    opener.join().unwrap();
    assert!(
        started.elapsed() > threshold,
        "the tasks lived longer than the threshold"
    );
    drop(rt);
    assert!(
        reports.lock().unwrap().is_empty(),
        "{:?}",
        reports.lock().unwrap()
    );
}

/// The threshold is the builder's, in both directions: a 60 ms poll is reported at a 20 ms
/// threshold (the default is 100 ms), exactly once, and not at all at a 1 s threshold.
///
/// Only the reports about the slow task count: on a loaded machine a preempted worker can make
/// another poll (the loop's main future) slow too, and such a report is true, not a false positive.
#[test]
fn the_threshold_is_configurable() {
    // A sleep never ends early, so the poll is over 20 ms however the machine schedules us.
    let slow_poll = Duration::from_millis(60);
    let reports_about_the_slow_task = |threshold: Duration| {
        let (reports, hook) = collecting();
        let rt = corio_executor::Builder::new()
            .debug(true)
            .slow_poll_threshold(threshold)
            .report_hook(hook)
            .build_local()
            .unwrap();
        rt.block_on(async {
            task::Builder::new()
                .name("slow")
                .spawn(async move { std::thread::sleep(slow_poll) })
                .await
        });
        drop(rt);
        let reports = reports.lock().unwrap();
        reports
            .iter()
            .filter_map(|(_, r)| match r {
                Report::SlowPoll { task, elapsed, .. } if task.name.as_deref() == Some("slow") => {
                    Some(*elapsed)
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let low = Duration::from_millis(20);
    let reported = reports_about_the_slow_task(low);
    assert_eq!(
        reported.len(),
        1,
        "one report for the one slow poll: {reported:?}"
    );
    assert!(reported[0] >= low, "{reported:?}");
    let reported = reports_about_the_slow_task(Duration::from_secs(1));
    assert!(reported.is_empty(), "under the threshold: {reported:?}");
}

/// The task of `dump` named `name`.
fn named<'a>(dump: &'a corio_executor::Dump, name: &str) -> &'a corio_executor::TaskSnapshot {
    dump.tasks
        .iter()
        .find(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{name} missing from\n{dump}"))
}

#[test]
fn the_dump_shows_the_tree_and_the_states() {
    let rt = corio_executor::Builder::new()
        .debug(true)
        .build_local()
        .unwrap();
    let dump = rt.block_on(async {
        let parent = task::Builder::new().name("parent").spawn(async {
            let child = task::Builder::new().name("child").spawn(async {
                let grandchild = task::Builder::new()
                    .name("grandchild")
                    .spawn(std::future::pending::<()>());
                grandchild.await
            });
            child.await
        });
        // Let the tree build itself and go idle.
        for _ in 0..5 {
            yield_now().await;
        }
        let runner = task::Builder::new().name("runner").spawn(async {
            // A task spawned and not yet polled is "scheduled"; `runner` itself is "running".
            let waiting = task::Builder::new().name("waiting").spawn(async {});
            let dump = corio_executor::dump();
            waiting.await;
            dump
        });
        let dump = runner.await;
        drop(parent);
        dump
    });
    let find = |name: &str| named(&dump, name);
    let parent = find("parent");
    let child = find("child");
    let grandchild = find("grandchild");
    assert_eq!(child.parent, Some(parent.id));
    assert_eq!(grandchild.parent, Some(child.id));
    // Tasks spawned by the `block_on` future hang under it (a probe found them at the top).
    let root = find("block_on");
    assert_eq!(parent.parent, Some(root.id));
    assert_eq!(find("runner").parent, Some(root.id));
    assert_eq!(parent.state, TaskState::Idle);
    assert_eq!(grandchild.state, TaskState::Idle);
    assert!(grandchild.polls >= 1);
    assert_eq!(find("waiting").state, TaskState::Scheduled);
    assert_eq!(find("waiting").polls, 0);
    assert_eq!(find("runner").state, TaskState::Running);
    let text = dump.to_string();
    // Children are indented under their parent.
    let p = text.find("`parent`").unwrap();
    let c = text.find("`child`").unwrap();
    let g = text.find("`grandchild`").unwrap();
    assert!(p < c && c < g, "{text}");
    assert!(text.contains("  - "), "{text}");
}

#[test]
fn on_a_multi_threaded_runtime_the_block_on_future_is_its_spawns_parent() {
    let rt = corio_executor::Builder::new()
        .worker_threads(2)
        .debug(true)
        .build()
        .unwrap();
    let dump = rt.block_on(async {
        let child = task::Builder::new()
            .name("child-of-root")
            .spawn(std::future::pending::<()>());
        yield_now().await;
        let dump = corio_executor::dump();
        drop(child);
        dump
    });
    let find = |name: &str| named(&dump, name);
    assert_eq!(
        find("child-of-root").parent,
        Some(find("block_on").id),
        "{dump}"
    );
    let text = dump.to_string();
    let (root, child) = (
        text.find("`block_on`").unwrap(),
        text.find("`child-of-root`").unwrap(),
    );
    assert!(root < child, "{text}");
}

#[test]
fn without_debug_mode_the_dump_says_how_to_get_one() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let dump = rt.handle().dump();
    assert!(dump.tasks.is_empty());
    assert!(dump.to_string().contains("debug mode is off"));
}

#[test]
fn metrics_add_up() {
    for workers in [None, Some(2)] {
        let check = |m: corio_executor::ExecutorMetrics| {
            assert_eq!(m.spawned, m.completed + m.alive);
            m
        };
        match workers {
            None => {
                let rt = LocalRuntime::new().unwrap();
                let m = rt.block_on(known_workload());
                let m = check(m);
                assert_eq!(m.workers, 1);
            }
            Some(n) => {
                let rt = Runtime::builder().worker_threads(n).build().unwrap();
                let m = rt.block_on(rt.spawn(known_workload()));
                let m = check(m);
                assert_eq!(m.workers, n);
            }
        }
    }
}

/// 100 tasks that finish, 50 that stay pending: then alive must be 50 (plus the caller).
async fn known_workload() -> corio_executor::ExecutorMetrics {
    let before = corio_executor::Handle::current().metrics();
    let done: Vec<_> = (0..100).map(|_| spawn(async {})).collect();
    for t in done {
        t.await;
    }
    let pending: Vec<_> = (0..50)
        .map(|_| spawn(std::future::pending::<()>()))
        .collect();
    // Wait until every pending task has been polled once and parked. On a
    // multi-threaded runtime another worker may still be busy with them, so
    // keep yielding rather than assume a fixed number of yields suffices; the
    // bound only turns a real bug into a failure instead of a hang.
    let mut m = corio_executor::Handle::current().metrics();
    let mut spins = 0u32;
    while m.idle_tasks < 50 {
        spins += 1;
        assert!(spins < 1_000_000, "pending tasks never became idle: {m:?}");
        yield_now().await;
        m = corio_executor::Handle::current().metrics();
    }
    assert_eq!(m.spawned - before.spawned, 150);
    assert_eq!(m.completed - before.completed, 100);
    assert_eq!(m.alive - before.alive, 50);
    assert!(m.idle_tasks >= 50);
    assert!(m.polls >= 150);
    for p in pending {
        p.detach();
    }
    m
}

/// A local loop counts its own spawns on a thread-only counter and other threads' spawns (through
/// a handle) on a shared one: the sum must be exact, even with both at once.
#[test]
fn a_local_loop_counts_spawns_from_its_own_thread_and_from_others() {
    let rt = LocalRuntime::new().unwrap();
    let handle = rt.handle();
    let before = handle.metrics().spawned;
    let m = rt.block_on(async {
        let remote = std::thread::spawn({
            let handle = handle.clone();
            move || {
                (0..1000)
                    .map(|i| handle.spawn(async move { i }))
                    .collect::<Vec<_>>()
            }
        });
        let mut sum = 0;
        for i in 0..1000 {
            sum += spawn(async move { i }).await;
            if i % 100 == 0 {
                yield_now().await;
            }
        }
        // The other thread only spawns; it never waits for this loop, so joining it here is safe.
        for t in remote.join().unwrap() {
            sum += t.await;
        }
        assert_eq!(sum, 2 * (0..1000).sum::<i32>());
        corio_executor::Handle::current().metrics()
    });
    assert_eq!(m.spawned - before, 2000);
    assert_eq!(m.spawned, m.completed + m.alive);
}

/// A `block_on` nested in a task blocks the task's worker as a `std::thread::sleep` would, and
/// can deadlock it (on one worker, `block_on(spawn(..))` waits for a task that only that worker
/// could run). The watchdog reports the task's poll while it is stuck, naming the task, even
/// though the nested `block_on` polls futures of its own on that thread meanwhile.
#[test]
fn a_block_on_nested_in_a_task_is_reported_while_it_blocks_the_worker() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Poll, Waker};

    let (tx, rx) = std::sync::mpsc::channel::<Report>();
    let rt = Runtime::builder()
        .worker_threads(1)
        .thread_name("nest")
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(50))
        .report_hook(move |r| {
            let _ = tx.send(r.clone());
        })
        .build()
        .unwrap();
    // The nested block_on's future: pending until the test releases it.
    let released = Arc::new(AtomicBool::new(false));
    let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let inner = {
        let (released, waker) = (released.clone(), waker.clone());
        std::future::poll_fn(move |cx| {
            *waker.lock().unwrap() = Some(cx.waker().clone());
            if released.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    };
    let outer = task::Builder::new()
        .name("outer")
        .spawn_on(async move { corio_executor::block_on(inner) }, &rt.handle());
    let report = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("no report while the nested block_on blocked the worker");
    match &report {
        Report::SlowPoll {
            task,
            thread,
            still_running,
            ..
        } => {
            assert_eq!(task.name.as_deref(), Some("outer"), "{report}");
            assert_eq!(thread, "nest-0");
            assert!(*still_running, "reported while stuck: {report}");
        }
        other => panic!("unexpected report {other}"),
    }
    released.store(true, Ordering::SeqCst);
    if let Some(w) = waker.lock().unwrap().take() {
        w.wake();
    }
    rt.block_on(outer);
}

/// The watchdog looks at the polls every quarter of the threshold; dropping a runtime must not
/// wait out that period (with a threshold of `Duration::MAX` the drop hung).
#[test]
fn a_debug_runtime_with_a_huge_threshold_drops_at_once() {
    for threshold in [Duration::from_secs(3600), Duration::MAX] {
        let rt = Runtime::builder()
            .worker_threads(1)
            .debug(true)
            .slow_poll_threshold(threshold)
            .build()
            .unwrap();
        // A task starts the watchdog.
        assert_eq!(rt.block_on(rt.spawn(async { 3 })), 3);
        let local = Runtime::builder()
            .debug(true)
            .slow_poll_threshold(threshold)
            .build_local()
            .unwrap();
        assert_eq!(local.block_on(local.spawn(async { 4 })), 4);
        // Generous: the old code waited a quarter of an hour here, or for ever.
        let started = Instant::now();
        drop(rt);
        drop(local);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "dropping took {:?}",
            started.elapsed()
        );
    }
}
