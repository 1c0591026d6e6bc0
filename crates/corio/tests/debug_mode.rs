//! Debug mode through the facade: task groups in the dump, metrics of the whole runtime.

use std::time::Duration;

use corio::TaskState;

#[test]
fn the_dump_shows_nested_task_groups_as_subtrees() {
    let rt = corio::Runtime::builder()
        .worker_threads(2)
        .debug(true)
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let outer = corio::task::Builder::new().name("outer group").spawn_on(
        async move {
            let _: Result<(), corio::GroupError<()>> = corio::task_group(async |g| {
                g.spawn(async {
                    // A child that runs a group of its own.
                    corio::task_group(async |inner| {
                        inner.spawn(std::future::pending::<Result<(), ()>>());
                        inner.spawn(std::future::pending::<Result<(), ()>>());
                        std::future::pending::<Result<(), ()>>().await
                    })
                    .await
                    .map_err(|_| ())
                });
                g.spawn(std::future::pending::<Result<(), ()>>());
                let _ = tx.send(());
                std::future::pending().await
            })
            .await;
        },
        &rt.handle(),
    );
    rx.recv().unwrap();
    // Let every child start and go idle.
    let mut dump = rt.dump();
    for _ in 0..200 {
        if dump.tasks.len() >= 5
            && dump
                .tasks
                .iter()
                .all(|t| t.polls > 0 && t.state == TaskState::Idle)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
        dump = rt.dump();
    }
    let outer_snap = dump
        .tasks
        .iter()
        .find(|t| t.name.as_deref() == Some("outer group"))
        .expect("the outer task is listed");
    let children: Vec<_> = dump.children(Some(outer_snap.id)).collect();
    assert_eq!(
        children.len(),
        2,
        "the group's two children sit under it:\n{dump}"
    );
    let grandchildren: usize = children
        .iter()
        .map(|c| dump.children(Some(c.id)).count())
        .sum();
    assert_eq!(
        grandchildren, 2,
        "the nested group's children sit under its child:\n{dump}"
    );
    assert!(
        dump.tasks.iter().all(|t| t.state == TaskState::Idle),
        "everything is waiting:\n{dump}"
    );
    let text = dump.to_string();
    assert!(text.starts_with("5 live task(s)"), "{text}");
    drop(outer);
}

#[test]
fn runtime_metrics_cover_timers_io_and_the_blocking_pool() {
    let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
    let m = rt.block_on(async {
        let _listener = corio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sleeper = corio::spawn(corio::sleep(Duration::from_secs(60)));
        corio::to_thread(|| ()).await;
        corio::sleep(Duration::from_millis(5)).await;
        let m = corio::Handle::current().metrics();
        drop(sleeper);
        m
    });
    assert_eq!(m.spawned, m.completed + m.alive);
    let full = rt.metrics();
    assert_eq!(full.workers, 2);
    assert!(full.blocking_threads_alive >= 1, "{full:?}");
    assert!(full.spawned >= 1);
}

type Reports = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A builder in debug mode with a 30 ms slow-poll threshold, whose reports land in the vector.
fn debug_builder() -> (corio::Builder, Reports) {
    let reports = Reports::default();
    let sink = reports.clone();
    let builder = corio::Builder::new()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(30))
        .report_hook(move |r| sink.lock().unwrap().push(r.to_string()));
    (builder, reports)
}

#[test]
fn debug_mode_reports_a_blocking_task_through_the_facade() {
    let (builder, reports) = debug_builder();
    let rt = builder.build_local().unwrap();
    rt.block_on(async {
        corio::task::Builder::new()
            .name("blocker")
            .spawn(async { std::thread::sleep(Duration::from_millis(60)) })
            .await;
        // The fix: the same work through to_thread is not reported.
        corio::to_thread(|| std::thread::sleep(Duration::from_millis(60))).await;
    });
    drop(rt);
    let reports = reports.lock().unwrap();
    // Exactly one report for the blocking task, none for the to_thread job. (The main future is
    // watched too; on a loaded machine a preempted poll of it may be reported as well, so other
    // reports are only checked for not blaming the job.)
    let blocker: Vec<_> = reports.iter().filter(|r| r.contains("blocker")).collect();
    assert_eq!(blocker.len(), 1, "{reports:?}");
    assert!(
        reports
            .iter()
            .all(|r| r.contains("blocker") || r.contains("`block_on`")),
        "only the blocker (or a preempted main future) may be reported: {reports:?}"
    );
}

/// The root future of the multi-threaded runtime's `block_on` is watched too: blocking in it
/// is reported, under the name `block_on` and the caller's location.
#[test]
fn debug_mode_reports_a_blocking_root_future_on_the_multi_threaded_runtime() {
    let (builder, reports) = debug_builder();
    let rt = builder.build().unwrap();
    rt.block_on(async {
        std::thread::sleep(Duration::from_millis(60));
        corio::yield_now().await;
    });
    drop(rt);
    let reports = reports.lock().unwrap();
    assert!(
        reports
            .iter()
            .any(|r| r.contains("`block_on`") && r.contains("debug_mode.rs")),
        "{reports:?}"
    );
}

#[corio::test(debug)]
async fn the_test_attribute_accepts_debug() {
    assert!(corio::Handle::current().is_debug());
}

#[corio::test(seed = 9, debug)]
async fn the_test_attribute_keeps_debug_in_deterministic_mode() {
    assert!(corio::Handle::current().is_debug());
    // Still deterministic: virtual time.
    let t0 = corio::time::now();
    corio::sleep(std::time::Duration::from_secs(60)).await;
    assert_eq!(corio::time::now() - t0, std::time::Duration::from_secs(60));
}

/// A `TaskSet` member's spawn site in the dump is the caller's `spawn` call, as for a task or a
/// group's child (a probe found every member named `corio-scope/src/task_set.rs`).
#[test]
fn the_dump_names_the_line_that_spawned_a_task_set_member() {
    let rt = corio::Runtime::builder()
        .worker_threads(1)
        .debug(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut set = corio::TaskSet::new();
        let line = line!() + 1;
        set.spawn(std::future::pending::<()>());
        corio::yield_now().await;
        let dump = corio::dump();
        let here = dump
            .tasks
            .iter()
            .filter(|t| t.location.file() == file!() && t.name.as_deref() != Some("block_on"))
            .map(|t| t.location.line())
            .collect::<Vec<_>>();
        assert_eq!(here, [line], "tasks spawned from this file:\n{dump}");
    });
}

/// `corio::metrics()` from inside a runtime (its `block_on`, one of its tasks) gives that
/// runtime's whole counters, timers and sockets included, as `Runtime::metrics` does (a probe
/// found only the executor's counters reachable from `run` or `#[corio::main]`).
#[test]
fn the_current_runtimes_whole_metrics_are_reachable_from_inside_it() {
    let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
    let (from_block_on, from_task) = rt.block_on(async {
        let _listener = corio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _sleeper = corio::spawn(corio::sleep(Duration::from_secs(3600)));
        let _timeout = corio::timeout(Duration::from_secs(3600), std::future::pending::<()>());
        let mut timeout = std::pin::pin!(_timeout);
        // Registers the deadline's timer.
        assert!(
            futures_lite::future::poll_once(timeout.as_mut())
                .await
                .is_none()
        );
        let from_task = corio::spawn(async { corio::metrics() }).await;
        (corio::metrics(), from_task)
    });
    let direct = rt.metrics();
    for (what, m) in [("block_on", from_block_on), ("a task", from_task)] {
        assert_eq!(m.workers, 2, "{what}: {m:?}");
        assert!(m.io_sources >= 1, "{what}: the listener: {m:?}");
        assert!(m.pending_timers >= 1, "{what}: the deadline: {m:?}");
        assert_eq!(m.io_backend, direct.io_backend, "{what}");
        assert!(m.spawned >= 1, "{what}: {m:?}");
    }
    let local = corio::run_local(async { corio::metrics() });
    assert_eq!(local.workers, 1);
}
