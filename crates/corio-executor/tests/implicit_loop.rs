//! A task that `spawn_local` put on a thread's implicit loop (spawned outside any runtime) runs
//! only inside the free `block_on` on that thread. Awaiting it where that loop cannot run (in
//! `run_local`, a `LocalRuntime`'s or a `Runtime`'s `block_on`, or another executor) used to
//! hang for ever (found by a conformance probe); now the await panics and says why. Where the
//! loop does run, or once the task has finished, the await works as before.

use std::future::poll_fn;
use std::sync::mpsc;
use std::time::Duration;

use corio_executor::{LocalRuntime, Runtime, SubLoop};

/// Runs `f` on a fresh thread (a fresh implicit loop) and returns its panic message, or `None`
/// if it returned. A hang fails the test after 30 s instead of hanging it.
fn panic_message_of(f: impl FnOnce() + Send + 'static) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let message = outcome.err().map(|payload| {
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        });
        tx.send(message).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the await hung instead of failing")
}

fn assert_refused(message: Option<String>) {
    let message = message.expect("awaiting the implicit loop's task returned");
    assert!(
        message.contains("implicit loop") && message.contains("corio::block_on"),
        "{message}"
    );
}

#[test]
fn awaiting_it_in_run_local_fails_loudly() {
    assert_refused(panic_message_of(|| {
        let task = corio_executor::spawn_local(async { 5 });
        corio_executor::run_local(task);
    }));
}

#[test]
fn awaiting_it_in_a_local_runtime_fails_loudly() {
    assert_refused(panic_message_of(|| {
        let task = corio_executor::spawn_local(async { 5 });
        LocalRuntime::new().unwrap().block_on(task);
    }));
}

#[test]
fn awaiting_it_in_a_multi_threaded_runtime_fails_loudly() {
    assert_refused(panic_message_of(|| {
        let task = corio_executor::spawn_local(async { 5 });
        let rt = Runtime::builder().worker_threads(1).build().unwrap();
        rt.block_on(task);
    }));
}

#[test]
fn awaiting_it_in_another_executor_fails_loudly() {
    assert_refused(panic_message_of(|| {
        let task = corio_executor::spawn_local(async { 5 });
        futures_lite::future::block_on(task);
    }));
}

#[test]
fn awaiting_it_in_a_local_runtime_nested_in_the_implicit_loop_fails_loudly() {
    // The implicit loop is on the stack, but stuck below the nested call that waits.
    assert_refused(panic_message_of(|| {
        corio_executor::block_on(async {
            let task = corio_executor::spawn_local(async { 5 });
            LocalRuntime::new().unwrap().block_on(task);
        });
    }));
}

#[test]
fn where_the_implicit_loop_runs_the_await_works() {
    let message = panic_message_of(|| {
        // Under the free block_on.
        let task = corio_executor::spawn_local(async { 5 });
        assert_eq!(corio_executor::block_on(task), 5);
        // From a SubLoop task that the implicit loop drives: the implicit loop runs between the
        // sub-loop's polls, so the task finishes.
        let value = corio_executor::block_on(async {
            let inner = corio_executor::spawn_local(async {
                corio_executor::yield_now().await;
                6
            });
            let sub = SubLoop::new(None);
            let child = sub.spawn(async move { inner.await + 1 });
            let mut child = std::pin::pin!(child);
            poll_fn(|cx| {
                sub.run_ready(cx, 64);
                child.as_mut().poll(cx)
            })
            .await
        });
        assert_eq!(value, 7);
        // A task that already finished is fine anywhere.
        let done = corio_executor::spawn_local(async { 8 });
        corio_executor::block_on(corio_executor::yield_now());
        assert!(done.is_finished());
        assert_eq!(corio_executor::run_local(done), 8);
    });
    assert_eq!(message, None);
}

#[test]
fn the_mark_costs_a_handle_no_memory() {
    // The implicit loop's number sits beside the handle's variant tag: a `Task` is a task
    // pointer, that tag, the task's key (the address `cancel` uses to wait out a run that may
    // still drop the output it must return) and the task id (million_tasks keeps one handle per
    // task).
    assert_eq!(
        std::mem::size_of::<corio_executor::task::Task<u64>>(),
        4 * std::mem::size_of::<usize>()
    );
}

/// Set in the child process of `a_thread_leaving_unfinished_implicit_tasks_says_so`.
const LEFT_CHILD_ENV: &str = "CORIO_TEST_IMPLICIT_LEFT_CHILD";

/// A detached `spawn_local` on a plain thread that never calls `block_on` never runs; when the
/// thread exits, its implicit loop drops the task. That used to be silent (a probe: a
/// fire-and-forget that never happened); like asyncio's "Task was destroyed but it is
/// pending!", it is now reported on stderr, naming the thread. A thread whose tasks all
/// finished reports nothing.
#[test]
fn a_thread_leaving_unfinished_implicit_tasks_says_so() {
    if std::env::var_os(LEFT_CHILD_ENV).is_some() {
        std::thread::Builder::new()
            .name("leaves-two".into())
            .spawn(|| {
                corio_executor::spawn_local(async {}).detach();
                corio_executor::spawn_local(std::future::pending::<()>()).detach();
            })
            .unwrap()
            .join()
            .unwrap();
        std::thread::Builder::new()
            .name("finishes-its-task".into())
            .spawn(|| {
                let task = corio_executor::spawn_local(async { 1 });
                assert_eq!(corio_executor::block_on(task), 1);
            })
            .unwrap()
            .join()
            .unwrap();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_thread_leaving_unfinished_implicit_tasks_says_so",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LEFT_CHILD_ENV, "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("thread \"leaves-two\" exits with 2 unfinished task(s)"),
        "{stderr}"
    );
    assert!(!stderr.contains("finishes-its-task"), "{stderr}");
}
