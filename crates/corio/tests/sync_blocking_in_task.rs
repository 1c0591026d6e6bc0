//! The sync primitives' `*_blocking` calls made from inside a task: they block the way
//! `corio::block_on` does (a loop keeps running the thread's other tasks, a blocked worker leaves
//! its queue to the others), so a call whose counterpart is a task on the same thread completes
//! instead of hanging. Each case runs on its own thread with a generous bound, so that a hang
//! fails instead of stalling the suite.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on a new thread; panics if it has not returned within 30 s.
fn bounded(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = thread.join();
            panic!("failed: {what}");
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: {what}"),
    }
}

/// Every `*_blocking` call, each waiting for a task spawned just before it on the same loop.
async fn every_blocking_call() {
    use corio::sync::{Mutex, RwLock, Semaphore, broadcast, oneshot, watch};

    let (tx, rx) = oneshot::channel();
    corio::spawn(async move { tx.send(1).unwrap() }).detach();
    assert_eq!(rx.recv_blocking(), Ok(1));

    let q = Arc::new(corio::Queue::bounded(1));
    q.try_put(0).unwrap();
    corio::spawn({
        let q = q.clone();
        async move { assert_eq!(q.get().await, Ok(0)) }
    })
    .detach();
    q.put_blocking(2).unwrap();
    corio::spawn({
        let q = q.clone();
        async move { q.put(3).await.unwrap() }
    })
    .detach();
    assert_eq!(q.get_blocking(), Ok(2));
    assert_eq!(q.get_blocking(), Ok(3));

    let (btx, mut brx) = broadcast::channel(4);
    corio::spawn(async move { btx.send(4).unwrap() }).detach();
    assert_eq!(brx.recv_blocking(), Ok(4));

    let (wtx, mut wrx) = watch::channel(0);
    corio::spawn(async move { wtx.send(5).unwrap() }).detach();
    wrx.changed_blocking().unwrap();
    assert_eq!(*wrx.borrow(), 5);

    let sem = Arc::new(Semaphore::new(1));
    let permit = sem.clone().try_acquire_owned().unwrap();
    corio::spawn(async move { drop(permit) }).detach();
    drop(sem.acquire_blocking().unwrap());

    let mutex = Arc::new(Mutex::new(6));
    let guard = mutex.clone().try_lock_owned().unwrap();
    corio::spawn(async move { drop(guard) }).detach();
    assert_eq!(*mutex.lock_blocking(), 6);

    // RwLock has no owned guards: a task takes the lock, says so, and lets go when a second
    // task, spawned once the lock is held, tells it to; each blocking call below must run both.
    let rw = Arc::new(RwLock::new(7));
    for write in [false, true] {
        let (held, is_held) = oneshot::channel();
        let (release, released) = oneshot::channel::<()>();
        corio::spawn({
            let rw = rw.clone();
            async move {
                let guard = rw.write().await;
                held.send(()).unwrap();
                released.await.unwrap();
                drop(guard);
            }
        })
        .detach();
        is_held.recv_blocking().unwrap();
        assert!(rw.try_read().is_err());
        corio::spawn(async move { release.send(()).unwrap() }).detach();
        if write {
            assert_eq!(*rw.write_blocking(), 7);
        } else {
            assert_eq!(*rw.read_blocking(), 7);
        }
    }
}

#[test]
fn blocking_calls_inside_run_local_run_the_loop() {
    bounded("*_blocking inside run_local", || {
        corio::run_local(every_blocking_call())
    });
}

#[test]
fn blocking_calls_inside_a_task_on_one_worker() {
    bounded("*_blocking inside a task on one worker", || {
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        rt.block_on(rt.spawn(every_blocking_call()));
    });
}

#[test]
fn blocking_calls_inside_a_task_on_two_workers() {
    bounded("*_blocking inside a task on two workers", || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        for _ in 0..20 {
            rt.block_on(rt.spawn(every_blocking_call()));
        }
    });
}

#[test]
fn blocking_calls_inside_the_block_on_future() {
    bounded("*_blocking inside Runtime::block_on's future", || {
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        rt.block_on(every_blocking_call());
    });
}

/// On a plain thread the runtime's hook declines, and the call parks the thread as before,
/// even while runtimes exist in the process.
#[test]
fn blocking_calls_on_a_plain_thread_beside_a_runtime() {
    bounded("*_blocking on a plain thread", || {
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        let (tx, rx) = corio::sync::oneshot::channel();
        let q = Arc::new(corio::Queue::bounded(1));
        let task = rt.spawn({
            let q = q.clone();
            async move {
                corio::sleep(Duration::from_millis(5)).await;
                tx.send(8).unwrap();
                q.put(9).await.unwrap();
            }
        });
        assert_eq!(rx.recv_blocking(), Ok(8));
        assert_eq!(q.get_blocking(), Ok(9));
        rt.block_on(task);
    });
}
