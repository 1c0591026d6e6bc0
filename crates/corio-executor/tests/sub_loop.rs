//! `SubLoop`: tasks spawned inside stay inside, wakes from other threads reach the driving
//! future, `shutdown` drops every task with its destructors, and the seeded order replays.

use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Poll, Waker};
use std::time::Duration;

use corio_executor::SubLoop;

struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn descendants_stay_in_the_sub_loop_and_shutdown_drops_them_all() {
    corio_executor::run_local(async {
        let dropped = Arc::new(AtomicUsize::new(0));
        let sub = SubLoop::new(None);
        let d = dropped.clone();
        sub.spawn(async move {
            for _ in 0..3 {
                let guard = CountDrop(d.clone());
                corio_executor::spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                })
                .detach();
            }
            let guard = CountDrop(d.clone());
            corio_executor::spawn_local(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            })
            .detach();
            std::future::pending::<()>().await;
        })
        .detach();
        let outer = corio_executor::spawn(async { 1 });
        poll_fn(|cx| {
            sub.run_ready(cx, 1000);
            Poll::Ready(())
        })
        .await;
        assert_eq!(sub.tasks(), 5, "the root and its four children");
        assert_eq!(outer.await, 1, "the enclosing loop is untouched");
        sub.shutdown();
        assert_eq!(dropped.load(Ordering::SeqCst), 4);
        assert_eq!(sub.tasks(), 0);
        // Spawning onto a loop that is shut down drops the task.
        let guard = CountDrop(dropped.clone());
        drop(sub.spawn(async move {
            let _guard = guard;
        }));
        assert_eq!(dropped.load(Ordering::SeqCst), 5);
    });
}

#[test]
fn a_wake_from_another_thread_reaches_the_driving_future() {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        corio_executor::run_local(async {
            let sub = SubLoop::new(None);
            let slot: Arc<Mutex<(bool, Option<Waker>)>> = Arc::default();
            let s = slot.clone();
            let task = sub.spawn(poll_fn(move |cx| {
                let mut slot = s.lock().unwrap();
                if slot.0 {
                    return Poll::Ready(42);
                }
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }));
            let waker_thread = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let mut guard = slot.lock().unwrap();
                guard.0 = true;
                let waker = guard.1.take();
                drop(guard);
                waker.expect("the task waits").wake();
            });
            let mut task = std::pin::pin!(task);
            let out = poll_fn(|cx| {
                sub.run_ready(cx, 64);
                task.as_mut().poll(cx)
            })
            .await;
            waker_thread.join().unwrap();
            done_tx.send(out).unwrap();
        });
    });
    let out = done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the sub-loop's task was never run after its wake");
    assert_eq!(out, 42);
}

fn order(seed: Option<u64>) -> Vec<u32> {
    corio_executor::run_local(async move {
        let sub = SubLoop::new(seed);
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 0..20 {
            let seen = seen.clone();
            sub.spawn(async move { seen.lock().unwrap().push(i) })
                .detach();
        }
        poll_fn(|cx| {
            sub.run_ready(cx, 1000);
            Poll::Ready(())
        })
        .await;
        std::mem::take(&mut *seen.lock().unwrap())
    })
}

#[test]
fn a_seed_replays_the_order_and_no_seed_is_fifo() {
    assert_eq!(order(None), (0..20).collect::<Vec<_>>());
    assert_eq!(order(Some(3)), order(Some(3)));
    assert_ne!(order(Some(3)), order(Some(4)));
}

#[test]
fn run_ready_runs_at_most_max_polls_and_asks_to_be_polled_again() {
    corio_executor::run_local(async {
        let sub = SubLoop::new(None);
        for _ in 0..10 {
            sub.spawn(async {}).detach();
        }
        let mut rounds = 0;
        poll_fn(|cx| {
            rounds += 1;
            assert!(sub.run_ready(cx, 3) <= 3);
            if sub.tasks() == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending // woken by run_ready, since tasks are still ready
            }
        })
        .await;
        assert_eq!(rounds, 4);
    });
}
