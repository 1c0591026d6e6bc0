//! The primitives need no corio runtime: they run on a hand-written thread-pool executor and on
//! `futures_lite::future::block_on` across plain threads. (This crate has no corio runtime in its
//! dependencies at all; that is the point.)

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use corio_sync::{Barrier, Event, Mutex, Notify, Queue, Semaphore, oneshot};
use futures_lite::future;
use support::MiniExecutor;

/// The benchmark shape: many tasks contending for 10 permits, on a foreign executor.
#[test]
fn thousand_tasks_ten_permits_on_a_foreign_executor() {
    let exec = MiniExecutor::new(2);
    let sem = Arc::new(Semaphore::new(10));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..1_000 {
        let (sem, in_flight, done) = (sem.clone(), in_flight.clone(), done.clone());
        exec.spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            assert!(in_flight.fetch_add(1, Ordering::SeqCst) < 10);
            future::yield_now().await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            done.fetch_add(1, Ordering::SeqCst);
        });
    }
    exec.join();
    assert_eq!(done.load(Ordering::SeqCst), 1_000);
    assert_eq!(sem.available_permits(), 10);
}

#[test]
fn pipeline_on_a_foreign_executor() {
    let exec = MiniExecutor::new(2);
    let queue = Queue::bounded(4);
    let handled = Arc::new(Mutex::new(Vec::new()));
    let mut producers_done = Vec::new();
    for p in 0..3 {
        let queue = queue.clone();
        let (tx, rx) = oneshot::channel();
        producers_done.push(rx);
        exec.spawn(async move {
            for i in 0..100 {
                queue.put(p * 1000 + i).await.unwrap();
            }
            tx.send(()).unwrap();
        });
    }
    for _ in 0..2 {
        let (queue, handled) = (queue.clone(), handled.clone());
        exec.spawn(async move {
            while let Ok(x) = queue.get().await {
                handled.lock().await.push(x);
                queue.task_done().unwrap();
            }
        });
    }
    let (all_done, all_done_rx) = oneshot::channel();
    {
        let queue = queue.clone();
        exec.spawn(async move {
            for done in producers_done {
                done.await.unwrap();
            }
            queue.join().await; // every item handled
            queue.close(); // consumers stop
            all_done.send(()).unwrap();
        });
    }
    future::block_on(all_done_rx).unwrap();
    exec.join();
    let mut handled = handled.lock_blocking().clone();
    handled.sort_unstable();
    let expected: Vec<usize> = (0..3)
        .flat_map(|p| (0..100).map(move |i| p * 1000 + i))
        .collect();
    assert_eq!(handled, expected);
}

#[test]
fn events_barriers_and_notify_with_block_on_threads() {
    let barrier = Arc::new(Barrier::new(4));
    let event = Arc::new(Event::new());
    let notify = Arc::new(Notify::new());
    let leaders = Arc::new(AtomicUsize::new(0));
    let released = Arc::new(AtomicUsize::new(0));
    let (b, e, n, l, r) = (
        barrier.clone(),
        event.clone(),
        notify.clone(),
        leaders.clone(),
        released.clone(),
    );
    support::block_on_threads(4, move |i| {
        let (barrier, event, notify, leaders, released) =
            (b.clone(), e.clone(), n.clone(), l.clone(), r.clone());
        async move {
            if barrier.wait().await.is_leader() {
                leaders.fetch_add(1, Ordering::SeqCst);
                event.set();
            }
            event.wait().await;
            if i == 0 {
                // `notify_one` stores at most one permit, so keep notifying until all three
                // waiters got through.
                while released.load(Ordering::SeqCst) < 3 {
                    notify.notify_one();
                    future::yield_now().await;
                }
            } else {
                notify.notified().await;
                released.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    assert_eq!(leaders.load(Ordering::SeqCst), 1);
    assert_eq!(released.load(Ordering::SeqCst), 3);
}
