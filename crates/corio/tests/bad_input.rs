//! Bad input gets a clear error or documented behaviour: never a hang, a panic deep inside, or
//! lost data.

use std::time::{Duration, Instant};

#[test]
fn zero_capacities_and_counts() {
    // A runtime with zero workers: an error, not a panic.
    let err = corio::Runtime::builder()
        .worker_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    corio::run_local(async {
        // A zero-capacity queue is a rendezvous queue: a put completes when a get takes it.
        let q = corio::Queue::bounded(0);
        let getter = corio::spawn({
            let q = q.clone();
            async move { q.get().await }
        });
        q.put(7).await.unwrap();
        assert_eq!(getter.await.unwrap(), 7);
        assert!(matches!(q.try_put(1), Err(corio::TryPutError::Full(1))));
        // A semaphore with no permits: valid; try_acquire fails, acquire waits.
        let s = corio::Semaphore::new(0);
        assert!(s.try_acquire().is_err());
        assert!(
            corio::timeout(Duration::from_millis(5), s.acquire())
                .await
                .is_err()
        );
        s.add_permits(1);
        assert!(s.acquire().await.is_ok());
        // More permits than can ever exist: an error at once, never a silent hang.
        let err = s.acquire_many(usize::MAX).await.unwrap_err();
        assert!(!err.to_string().is_empty());
        // A barrier of zero parties behaves as one of one.
        corio::sync::Barrier::new(0).wait().await;
        // Zero-period interval: clamped to the 1 ms resolution.
        let mut i = corio::interval(Duration::ZERO);
        i.tick().await;
        i.tick().await;
    });
}

#[test]
fn a_seed_on_a_multi_threaded_runtime_is_an_error() {
    let err = corio::Runtime::builder()
        .deterministic(3)
        .build()
        .expect_err("threads would make the seed meaningless");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("build_local"), "{err}");
    // The same builder settings on one thread are fine.
    let rt = corio::Runtime::builder()
        .deterministic(3)
        .build_local()
        .unwrap();
    assert_eq!(rt.block_on(async { 5 }), 5);
}

#[test]
fn extreme_durations_and_instants() {
    corio::run_local(async {
        corio::sleep(Duration::ZERO).await;
        assert_eq!(corio::timeout(Duration::MAX, async { 1 }).await, Ok(1));
        assert_eq!(corio::timeout(Duration::ZERO, async { 2 }).await, Ok(2));
        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        let r = corio::timeout_at(far, async { 3 }).await;
        assert_eq!(r, Ok(3));
        // A sleep a century away registers (in the overflow list) and is cancellable.
        let mut far_sleep = Box::pin(corio::sleep_until(far));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(far_sleep.as_mut().poll(&mut cx).is_pending());
        drop(far_sleep);
        assert_eq!(
            corio::move_on_after(Duration::MAX, async { 4 }).await,
            Some(4)
        );
        assert_eq!(corio::fail_after(Duration::MAX, async { 5 }).await, Ok(5));
        let past = Instant::now()
            .checked_sub(Duration::from_millis(1))
            .unwrap_or_else(Instant::now);
        corio::sleep_until(past).await;
    });
}

#[test]
fn closed_queues_and_semaphores() {
    corio::run_local(async {
        let q = corio::Queue::bounded(2);
        q.put(1).await.unwrap();
        q.close();
        // Puts fail and hand the item back; gets drain, then fail.
        let err = q.put(2).await.unwrap_err();
        assert_eq!(err.into_inner(), 2);
        assert!(matches!(q.try_put(3), Err(corio::TryPutError::Closed(3))));
        assert_eq!(q.get().await.unwrap(), 1);
        assert!(q.get().await.is_err());
        assert!(matches!(q.try_get(), Err(corio::TryGetError::Closed)));
        // task_done too often: an error, not a panic.
        q.task_done().unwrap();
        assert!(q.task_done().is_err());

        let s = corio::Semaphore::new(1);
        let held = s.acquire().await.unwrap();
        s.close();
        assert!(s.acquire().await.is_err());
        drop(held); // an existing permit stays valid and returns harmlessly
    });
}

#[test]
fn calls_outside_any_runtime_work() {
    // No runtime anywhere on this thread: spawn, sleep, timeout, sockets, to_thread all work.
    let t = corio::spawn(async { 1 });
    assert_eq!(corio::block_on(t), 1);
    corio::block_on(corio::sleep(Duration::from_millis(1)));
    assert_eq!(corio::block_on(corio::to_thread(|| 2)), 2);
    let local = corio::spawn_local(async { 3 });
    assert_eq!(corio::block_on(local), 3);
    assert!(corio::Handle::try_current().is_none());
    let _ = corio::dump(); // the global runtime's (debug off: says so)
}

#[test]
fn block_on_nested_in_block_on() {
    // Inside a local loop: the nested call keeps the loop running.
    let v = corio::run_local(async {
        let t = corio::spawn(async { 5 });
        corio::block_on(async {
            corio::sleep(Duration::from_millis(1)).await;
            t.await
        })
    });
    assert_eq!(v, 5);
    // Inside a multi-threaded runtime's block_on: the nested call parks this thread while the
    // workers run the task it waits for.
    let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
    let v = rt.block_on(async {
        let t = corio::spawn(async {
            corio::sleep(Duration::from_millis(1)).await;
            6
        });
        corio::block_on(t)
    });
    assert_eq!(v, 6);
    // On a worker thread (from inside a task): blocks that worker; with one worker, the nested
    // call drives the timer itself, so a sleep still ends.
    let v = rt.block_on(rt.spawn(async {
        corio::block_on(async {
            corio::sleep(Duration::from_millis(2)).await;
            7
        })
    }));
    assert_eq!(v, 7);
}

#[test]
fn a_runtime_dropped_from_inside_its_own_task() {
    let rt = std::sync::Arc::new(std::sync::Mutex::new(Some(
        corio::Runtime::builder().worker_threads(2).build().unwrap(),
    )));
    let handle = rt.lock().unwrap().as_ref().unwrap().handle();
    let (tx, rx) = std::sync::mpsc::channel();
    let slot = rt.clone();
    handle
        .spawn(async move {
            drop(slot.lock().unwrap().take());
            tx.send(()).unwrap();
        })
        .detach();
    rx.recv_timeout(Duration::from_secs(20))
        .expect("no deadlock");
    assert!(handle.is_shut_down());
    // Spawning on a shut-down runtime cancels at once, it does not hang or panic.
    let t = handle.spawn(async { 1 });
    assert_eq!(corio::block_on(t.cancel()), None);
}

#[test]
fn bad_addresses_are_errors() {
    corio::run_local(async {
        assert!(
            corio::net::TcpListener::bind("definitely not an address")
                .await
                .is_err()
        );
        assert!(
            corio::net::TcpStream::connect("256.1.1.1:80")
                .await
                .is_err()
        );
        #[cfg(unix)]
        assert!(corio::net::UnixListener::bind("/nonexistent/dir/sock").is_err());
        let err = corio::fs::read("/nonexistent/file").await.unwrap_err();
        assert!(err.to_string().contains("/nonexistent/file"), "{err}");
    });
}
