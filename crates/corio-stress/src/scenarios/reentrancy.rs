//! Re-entrancy: a runtime dropped from inside one of its own tasks, and `block_on` nested in
//! `block_on`.
//!
//! Proves the documented behaviour of issue 10's two "bad input" cases that can hang:
//!
//! - a task that holds the last `Arc<Runtime>` and drops it: the drop returns (it does not join
//!   the thread it runs on), every other task's destructor runs, and the worker threads are gone
//!   shortly after;
//! - `corio::block_on` inside `Runtime::block_on`, inside a task on a 2-worker runtime, inside a
//!   `LocalRuntime` (where it keeps running the loop's other tasks), inside itself outside any
//!   runtime, and `Runtime::block_on` inside itself: each returns the right value.
//!
//! Each check runs on its own thread with a 10 s limit, so one that hangs is reported by name
//! and the others still run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::runtime;
use crate::outcome::{Outcome, Size, dur};
use crate::sys;

const LIMIT: Duration = Duration::from_secs(10);

/// One check: a figure, or what went wrong.
type Check = Box<dyn FnOnce() -> Result<String, String> + Send>;

struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The runtime's last `Arc` is dropped by one of its tasks.
fn drop_from_own_task(parked: usize) -> Result<String, String> {
    let threads_before = sys::thread_count();
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = Arc::new(runtime(2));
    for _ in 0..parked {
        let g = Guard(dropped.clone());
        rt.spawn(async move {
            let _g = g;
            corio::sleep(Duration::from_secs(3600)).await;
        })
        .detach();
    }
    let (tx, rx) = mpsc::channel();
    let last = rt.clone();
    rt.spawn(async move {
        while Arc::strong_count(&last) > 1 {
            corio::sleep(Duration::from_millis(1)).await;
        }
        let t = Instant::now();
        drop(last);
        let _ = tx.send(t.elapsed());
    })
    .detach();
    drop(rt);
    let took = rx
        .recv_timeout(LIMIT)
        .map_err(|_| "the drop did not return within 10 s".to_owned())?;
    let t = Instant::now();
    while (dropped.load(Ordering::SeqCst) < parked || sys::thread_count() > threads_before)
        && t.elapsed() < LIMIT
    {
        thread::sleep(Duration::from_millis(1));
    }
    let (d, w) = (dropped.load(Ordering::SeqCst), sys::thread_count());
    if d != parked {
        return Err(format!("{d} of {parked} parked tasks were dropped"));
    }
    if w > threads_before {
        return Err(format!(
            "{} thread(s) of the runtime still alive 10 s later",
            w - threads_before
        ));
    }
    Ok(format!(
        "drop returned in {}; {parked} parked tasks dropped; workers gone {} later",
        dur(took),
        dur(t.elapsed())
    ))
}

fn nested_in_runtime_block_on() -> Result<String, String> {
    let rt = runtime(2);
    let v = rt.block_on(async {
        corio::block_on(async {
            corio::sleep(Duration::from_millis(1)).await;
            corio::spawn(async { 20 }).await + 1
        })
    });
    (v == 21)
        .then(|| "corio::block_on inside Runtime::block_on returned".to_owned())
        .ok_or(format!("got {v}"))
}

fn nested_in_worker_task() -> Result<String, String> {
    let rt = runtime(2);
    let task = rt.spawn(async {
        corio::block_on(async {
            corio::sleep(Duration::from_millis(1)).await;
            corio::spawn(async { 41 }).await + 1
        })
    });
    let v = rt.block_on(task);
    (v == 42)
        .then(|| "corio::block_on inside a task of a 2-worker runtime returned".to_owned())
        .ok_or(format!("got {v}"))
}

fn nested_in_local() -> Result<String, String> {
    let rt = corio::LocalRuntime::new().map_err(|e| e.to_string())?;
    let v = rt.block_on(async {
        let sibling = corio::spawn_local(async {
            corio::yield_now().await;
            corio::sleep(Duration::from_millis(1)).await;
            3
        });
        // The nested call must keep running the loop's other tasks, or this never returns.
        corio::block_on(sibling)
    });
    (v == 3)
        .then(|| {
            "corio::block_on inside LocalRuntime::block_on ran the loop's other tasks".to_owned()
        })
        .ok_or(format!("got {v}"))
}

fn nested_outside() -> Result<String, String> {
    let v = corio::block_on(async {
        corio::block_on(async {
            corio::sleep(Duration::from_millis(1)).await;
            4
        })
    });
    (v == 4)
        .then(|| "corio::block_on inside corio::block_on outside any runtime returned".to_owned())
        .ok_or(format!("got {v}"))
}

fn nested_same_runtime() -> Result<String, String> {
    let rt = runtime(2);
    let v = rt.block_on(async {
        rt.block_on(async {
            corio::sleep(Duration::from_millis(1)).await;
            corio::spawn(async { 5 }).await
        })
    });
    (v == 5)
        .then(|| "Runtime::block_on inside the same Runtime::block_on returned".to_owned())
        .ok_or(format!("got {v}"))
}

pub(crate) fn run(size: Size, out: &mut Outcome) {
    let parked = size.pick(1_000, 200, 20);
    let checks: Vec<(&str, Check)> = vec![
        (
            "drop from own task",
            Box::new(move || drop_from_own_task(parked)),
        ),
        (
            "block_on in Runtime::block_on",
            Box::new(nested_in_runtime_block_on),
        ),
        ("block_on in a worker task", Box::new(nested_in_worker_task)),
        ("block_on in LocalRuntime", Box::new(nested_in_local)),
        ("block_on in block_on", Box::new(nested_outside)),
        ("Runtime::block_on in itself", Box::new(nested_same_runtime)),
    ];
    let mut hung = false;
    for (name, check) in checks {
        let (tx, rx) = mpsc::channel();
        let spawned = thread::Builder::new()
            .name(format!("check {name}"))
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check))
                    .unwrap_or_else(|p| {
                        Err(format!("panicked: {}", corio::task::panic_message(&*p)))
                    });
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            out.fail(format!("{name}: cannot start a thread: {e}"));
            continue;
        }
        let t = Instant::now();
        match rx.recv_timeout(LIMIT + Duration::from_secs(5)) {
            Ok(Ok(figure)) => out.figure(format!("{name}: {figure} ({})", dur(t.elapsed()))),
            Ok(Err(e)) => out.fail(format!("{name}: {e}")),
            Err(_) => {
                out.fail(format!(
                    "{name}: hung (no answer within {})",
                    dur(t.elapsed())
                ));
                hung = true;
            }
        }
    }
    if hung {
        // A hung check's threads cannot be stopped; end the process with the verdict.
        let failed = std::mem::take(out);
        let _ = failed.finish();
        std::process::exit(1);
    }
}
