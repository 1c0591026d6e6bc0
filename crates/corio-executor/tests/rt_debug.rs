//! Debug mode: the slow-poll detector and its watchdog, the task dump, the metrics.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corio_executor::{LocalRuntime, Report, Runtime, TaskState, spawn, task, yield_now};

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

#[test]
fn a_well_behaved_workload_produces_no_report() {
    let (reports, hook) = collecting();
    let rt = Runtime::builder()
        .worker_threads(2)
        .debug(true)
        .report_hook(hook)
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                spawn(async move {
                    for _ in 0..10 {
                        yield_now().await;
                    }
                    i
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
    drop(rt);
    assert!(
        reports.lock().unwrap().is_empty(),
        "{:?}",
        reports.lock().unwrap()
    );
}

#[test]
fn the_threshold_is_configurable() {
    let (reports, hook) = collecting();
    let rt = corio_executor::Builder::new()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(20))
        .report_hook(hook)
        .build_local()
        .unwrap();
    rt.block_on(async { spawn(async { std::thread::sleep(Duration::from_millis(40)) }).await });
    drop(rt);
    assert_eq!(reports.lock().unwrap().len(), 1);
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
    let find = |name: &str| {
        dump.tasks
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from\n{dump}"))
    };
    let parent = find("parent");
    let child = find("child");
    let grandchild = find("grandchild");
    assert_eq!(child.parent, Some(parent.id));
    assert_eq!(grandchild.parent, Some(child.id));
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
