//! Uses single corio crates the way a user who cherry-picks them would, without the `corio`
//! facade: each function below depends only on the crates its name lists, and checks what it
//! computed. `cargo xtask package` runs this binary; it exits non-zero if a check fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let checks: [(&str, fn()); 5] = [
        ("corio-sync on futures-lite", sync_alone),
        ("corio-executor + corio-timer", executor_and_timer),
        ("corio-blocking on futures-lite", blocking_alone),
        ("corio-scope without the facade", scope_without_facade),
        ("corio-sync + corio-blocking under corio-executor", mixed),
    ];
    for (name, check) in checks {
        let start = Instant::now();
        check();
        println!("ok: {name} ({:.1?})", start.elapsed());
    }
}

/// `corio-sync` needs no runtime: a bounded queue and a semaphore under futures-lite's
/// `block_on`, shared with a plain thread through the `_blocking` methods.
fn sync_alone() {
    use corio_sync::{Queue, Semaphore};
    use futures_lite::future;

    let queue = Arc::new(Queue::bounded(2));
    let producer = {
        let queue = queue.clone();
        std::thread::spawn(move || {
            for i in 1..=10u32 {
                queue.put_blocking(i).unwrap(); // waits while 2 items are queued
            }
            queue.close();
        })
    };
    let limit = Semaphore::new(3);
    let total = future::block_on(async {
        let mut total = 0;
        while let Ok(i) = queue.get().await {
            let _permit = limit.acquire().await.unwrap();
            total += i;
        }
        total
    });
    producer.join().unwrap();
    assert_eq!(total, 55);
    assert_eq!(limit.available_permits(), 3, "every permit came back");
}

/// `corio-executor` + `corio-timer`: tasks, a multi-threaded runtime, and timers (outside a
/// facade runtime, timers run on `corio-timer`'s own thread).
fn executor_and_timer() {
    use corio_executor::{Runtime, run_local, spawn};
    use corio_timer::{sleep, timeout};

    let order = run_local(async {
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                spawn(async move {
                    sleep(Duration::from_millis(ms)).await;
                    order.lock().unwrap().push(ms);
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        let late = timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
        assert!(late.is_err(), "the timeout fired");
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    assert_eq!(order, [10, 20, 30], "the timers fired in deadline order");

    let runtime = Runtime::new().unwrap();
    let sum = runtime.block_on(async {
        let tasks: Vec<_> = (1..=100u64)
            .map(|i| {
                spawn(async move {
                    corio_executor::yield_now().await;
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await;
        }
        sum
    });
    assert_eq!(sum, 5050);
}

/// `corio-blocking` needs no runtime: `to_thread` and `Unblock` under futures-lite.
fn blocking_alone() {
    use corio_blocking::{Unblock, to_thread};
    use futures_lite::{AsyncReadExt, AsyncWriteExt, future};

    future::block_on(async {
        let caller = std::thread::current().id();
        let elsewhere = to_thread(move || std::thread::current().id() != caller).await;
        assert!(elsewhere, "the closure ran on a pool thread");

        let mut writer = Unblock::new(Vec::new());
        writer.write_all(b"through the pool").await.unwrap();
        writer.flush().await.unwrap();
        let written = writer.into_inner().await;
        let mut reader = Unblock::new(std::io::Cursor::new(written));
        let mut text = String::new();
        reader.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "through the pool");
    });
}

/// `corio-scope` on `corio-executor` and `corio-timer`: a failing child cancels its siblings,
/// and a deadline bounds the whole group.
fn scope_without_facade() {
    use corio_scope::{join_all, move_on_after, task_group};

    let cancelled = Arc::new(AtomicUsize::new(0));
    let c = cancelled.clone();
    let result = corio_executor::run_local(async move {
        task_group(async |g| {
            for id in 1..=4u32 {
                let watch = CancelWatch {
                    cancelled: c.clone(),
                    finished: false,
                };
                g.spawn(async move {
                    // Move the whole watch in: naming only `watch.finished` would capture a
                    // copy of that field and leave the watch to drop right here.
                    let mut watch = watch;
                    if id == 3 {
                        watch.finished = true;
                        return Err(format!("user {id} not found"));
                    }
                    corio_timer::sleep(Duration::from_secs(60)).await;
                    watch.finished = true;
                    Ok(())
                });
            }
            Ok(())
        })
        .await
    });
    assert_eq!(result.unwrap_err().errors(), ["user 3 not found"]);
    assert_eq!(
        cancelled.load(Ordering::SeqCst),
        3,
        "the siblings were cancelled, not left running"
    );

    let (gathered, bounded) = corio_executor::run_local(async {
        let gathered = join_all((1..=3u64).map(|i| async move {
            corio_timer::sleep(Duration::from_millis(4 - i)).await;
            i * 10
        }))
        .await;
        let bounded = move_on_after(Duration::from_millis(5), corio_timer::sleep_forever()).await;
        (gathered, bounded)
    });
    assert_eq!(gathered, [10, 20, 30], "results in input order");
    assert!(bounded.is_none(), "the deadline fired");
}

/// Counts the children dropped before they finished: the cancelled ones.
struct CancelWatch {
    cancelled: Arc<AtomicUsize>,
    finished: bool,
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        if !self.finished {
            self.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The article's batch: at most two blocking jobs at once, on a multi-threaded executor, with a
/// semaphore from `corio-sync` and the pool from `corio-blocking`.
fn mixed() {
    use corio_sync::Semaphore;

    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let runtime = corio_executor::Runtime::new().unwrap();
    let results = runtime.block_on(async {
        let limit = Arc::new(Semaphore::new(2));
        let tasks: Vec<_> = (0..8u64)
            .map(|i| {
                let (limit, running, peak) = (limit.clone(), running.clone(), peak.clone());
                corio_executor::spawn(async move {
                    let _permit = limit.acquire().await.unwrap();
                    corio_blocking::unblock(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        running.fetch_sub(1, Ordering::SeqCst);
                        i * i
                    })
                    .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await);
        }
        results
    });
    assert_eq!(results, [0, 1, 4, 9, 16, 25, 36, 49]);
    assert!(peak.load(Ordering::SeqCst) <= 2, "the semaphore held");
}
