//! Fairness without a driver: a task that is always ready cannot starve other tasks, tasks woken
//! from other threads, or the main future.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use corio_executor::{Runtime, run_local, spawn, yield_now};

/// A task that never waits on anything: it only yields, forever (until told to stop).
async fn hog(stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        yield_now().await;
    }
}

/// Two tasks that only yield take turns: FIFO order means neither gets more than a turn ahead.
#[test]
fn yielding_tasks_take_turns_on_the_local_loop() {
    use std::sync::atomic::AtomicI64;
    run_local(async {
        let balance = Arc::new(AtomicI64::new(0));
        let worst = Arc::new(AtomicI64::new(0));
        let turn = |delta: i64| {
            let balance = balance.clone();
            let worst = worst.clone();
            spawn(async move {
                for _ in 0..1000 {
                    let now = balance.fetch_add(delta, Ordering::SeqCst) + delta;
                    worst.fetch_max(now.abs(), Ordering::SeqCst);
                    yield_now().await;
                }
            })
        };
        let a = turn(1);
        let b = turn(-1);
        a.await;
        b.await;
        assert!(
            worst.load(Ordering::SeqCst) <= 2,
            "one yielding task ran {} turns ahead of the other",
            worst.load(Ordering::SeqCst)
        );
    });
}

#[test]
fn a_yielding_hog_does_not_starve_other_tasks_on_the_local_loop() {
    run_local(async {
        let stop = Arc::new(AtomicBool::new(false));
        let h = spawn(hog(stop.clone()));
        // Another task must get to run, and a task woken from another thread too.
        let other = spawn(async { 1 });
        assert_eq!(other.await, 1);
        let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
        let woken = Arc::new(AtomicBool::new(false));
        let w = woken.clone();
        std::thread::spawn(move || {
            let waker = rx.recv().unwrap();
            w.store(true, Ordering::SeqCst);
            waker.wake();
        });
        let mut tx = Some(tx);
        std::future::poll_fn(|cx| {
            if woken.load(Ordering::SeqCst) {
                return std::task::Poll::Ready(());
            }
            if let Some(tx) = tx.take() {
                tx.send(cx.waker().clone()).unwrap();
            }
            std::task::Poll::Pending
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        h.await;
    });
}

#[test]
fn a_yielding_hog_per_worker_does_not_starve_the_pool() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let hogs: Vec<_> = (0..4).map(|_| rt.spawn(hog(stop.clone()))).collect();
    let others: Vec<_> = (0..100).map(|i| rt.spawn(async move { i })).collect();
    let sum = rt.block_on(async {
        let mut sum = 0;
        for t in others {
            sum += t.await;
        }
        sum
    });
    assert_eq!(sum, (0..100).sum());
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for h in hogs {
            h.await;
        }
    });
}
