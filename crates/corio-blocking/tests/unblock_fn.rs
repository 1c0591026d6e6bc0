//! `unblock` / `to_thread`: concurrency, panics, cancellation, foreign executors.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use corio_blocking::{Pool, to_thread, unblock};
use futures_lite::future::{self, block_on};
use support::{DropCounter, Gate, Rendezvous, eventually};

/// The seed's point: while 8 blocking calls sleep on the pool, the caller's thread keeps running
/// other futures. Each job reads a tick counter that only the caller's thread advances, before
/// and after its sleep; the counter moved in between, for every job.
#[test]
fn caller_keeps_running_while_eight_jobs_sleep() {
    let pool = Pool::builder().max_threads(16).build();
    let ticks = Arc::new(AtomicU64::new(0));
    let all_met = Rendezvous::default();

    let jobs: Vec<_> = (0..8)
        .map(|_| {
            let (ticks, all_met) = (ticks.clone(), all_met.clone());
            pool.unblock(move || {
                let met = all_met.arrive_and_wait(8); // all 8 run at once
                let before = ticks.load(Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(200));
                let after = ticks.load(Ordering::SeqCst);
                (met, before, after)
            })
        })
        .collect();

    let ticker = async {
        loop {
            ticks.fetch_add(1, Ordering::SeqCst);
            future::yield_now().await;
        }
    };
    let results = block_on(future::or(
        async {
            let mut out = Vec::new();
            for job in jobs {
                out.push(job.await);
            }
            out
        },
        ticker,
    ));

    for (met, before, after) in results {
        assert!(met, "the 8 jobs did not all run at the same time");
        assert!(
            after > before,
            "the caller's thread was frozen during a job"
        );
    }
}

#[test]
fn a_panic_resumes_in_the_awaiter_and_the_pool_survives() {
    let pool = Pool::builder().max_threads(1).build();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        block_on(pool.unblock(|| -> u32 { panic!("boom from the pool") }))
    }));
    let payload = caught.expect_err("the panic did not reach the awaiter");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom from the pool"));

    // The same (single) thread still serves jobs.
    assert_eq!(block_on(pool.unblock(|| 41 + 1)), 42);
    assert_eq!(pool.metrics().threads_spawned, 1);
}

/// A job nobody awaits any more: its closure's panic, and the panic of the destructor of the
/// value it returns, go to its report (`unblock_reporting`), or to stderr (`unblock`), never to
/// an abort (async-task drops an untaken value under an abort-on-panic guard, so the job must
/// catch it itself).
#[test]
fn an_abandoned_jobs_panics_are_reported_and_never_abort() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("bomb");
        }
    }
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let (release_value, value_waits) = std::sync::mpsc::channel::<()>();
    let (release_panic, panic_waits) = std::sync::mpsc::channel::<()>();
    let report = |tx: std::sync::mpsc::Sender<String>| {
        move |unobserved: corio_blocking::Unobserved| {
            let _ = tx.send(format!("{unobserved:?}"));
        }
    };
    let returns_a_bomb = corio_blocking::unblock_reporting(
        move || {
            value_waits.recv().unwrap();
            Bomb
        },
        report(tx.clone()),
    );
    let panics = corio_blocking::unblock_reporting(
        move || -> u8 {
            panic_waits.recv().unwrap();
            panic!("from the closure")
        },
        report(tx),
    );
    drop((returns_a_bomb, panics));
    release_value.send(()).unwrap();
    release_panic.send(()).unwrap();
    let mut got: Vec<String> = rx.iter().take(2).collect();
    got.sort();
    assert!(got[0].starts_with("DropPanicked"), "{got:?}");
    assert!(got[1].starts_with("Panicked"), "{got:?}");
    // Without a report: stderr, and the pool keeps serving.
    let (release, waits) = std::sync::mpsc::channel::<()>();
    drop(unblock(move || {
        waits.recv().unwrap();
        Bomb
    }));
    release.send(()).unwrap();
    assert_eq!(block_on(unblock(|| 41 + 1)), 42);
}

/// Dropping the future of a running job: the job finishes, its result is dropped, once.
#[test]
fn dropping_the_future_of_a_running_job_drops_its_result() {
    let pool = Pool::builder().max_threads(2).build();
    let drops = DropCounter::default();
    let (started, release) = (Gate::default(), Gate::default());
    let finished = Arc::new(AtomicBool::new(false));

    let job = {
        let (token, started, release, finished) = (
            drops.token(),
            started.clone(),
            release.clone(),
            finished.clone(),
        );
        pool.unblock(move || {
            started.open();
            assert!(release.wait());
            finished.store(true, Ordering::SeqCst);
            token
        })
    };
    assert!(started.wait());
    drop(job);
    assert_eq!(drops.count(), 0, "the result cannot exist yet");
    release.open();
    assert!(
        eventually(|| drops.count() == 1),
        "the result was not dropped"
    );
    assert!(finished.load(Ordering::SeqCst));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(drops.count(), 1);
}

/// Dropping the future of a job that is still queued: it runs anyway (submitted work is never
/// silently skipped), and its result is dropped.
#[test]
fn dropping_the_future_of_a_queued_job_still_runs_it() {
    let pool = Pool::builder().max_threads(1).build();
    let (started, release) = (Gate::default(), Gate::default());
    let blocker = {
        let (started, release) = (started.clone(), release.clone());
        pool.unblock(move || {
            started.open();
            release.wait()
        })
    };
    assert!(started.wait());

    let drops = DropCounter::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let queued = {
        let (token, ran) = (drops.token(), ran.clone());
        pool.unblock(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            token
        })
    };
    assert_eq!(pool.metrics().queued, 1);
    drop(queued);
    release.open();
    assert!(block_on(blocker));
    assert!(eventually(|| drops.count() == 1));
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

/// The crate needs no corio runtime: plain threads, each with futures-lite's `block_on`, share
/// one pool and get correct results.
#[test]
fn serves_a_foreign_executor_on_several_threads() {
    let pool = Pool::builder().max_threads(4).build();
    let both_ran = Rendezvous::default();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (pool, both_ran) = (pool.clone(), both_ran.clone());
            std::thread::spawn(move || {
                block_on(async move {
                    // Causality: two of these jobs can only finish if they run at the same time.
                    let met = if t < 2 {
                        pool.unblock(move || both_ran.arrive_and_wait(2)).await
                    } else {
                        true
                    };
                    let mut sum = 0;
                    for i in 0..200u64 {
                        sum += pool.unblock(move || i * t).await;
                    }
                    (met, sum)
                })
            })
        })
        .collect();
    for (t, thread) in threads.into_iter().enumerate() {
        let (met, sum) = thread.join().unwrap();
        assert!(met);
        assert_eq!(sum, (0..200).sum::<u64>() * t as u64);
    }
}

#[test]
fn to_thread_and_unblock_use_the_entered_pool() {
    let pool = Pool::builder().thread_name("entered-pool").build();
    let name = || std::thread::current().name().unwrap_or("").to_owned();
    {
        let _guard = pool.enter();
        assert!(block_on(to_thread(name)).starts_with("entered-pool-"));
        assert!(block_on(unblock(name)).starts_with("entered-pool-"));
        // Inside a job, the job's pool is current.
        let nested = block_on(unblock(move || block_on(unblock(name))));
        assert!(nested.starts_with("entered-pool-"));
    }
    assert!(!block_on(unblock(name)).starts_with("entered-pool-"));
}

#[test]
fn enter_guards_nest_and_restore() {
    let outer = Pool::builder().max_threads(3).build();
    let inner = Pool::builder().max_threads(5).build();
    let g1 = outer.enter();
    assert_eq!(Pool::current().metrics().max_threads, 3);
    {
        let _g2 = inner.enter();
        assert_eq!(Pool::current().metrics().max_threads, 5);
    }
    assert_eq!(Pool::current().metrics().max_threads, 3);
    drop(g1);
}

#[test]
fn many_concurrent_jobs_all_complete_with_their_own_results() {
    let pool = Pool::builder().max_threads(8).build();
    let results = block_on(async {
        let jobs: Vec<_> = (0..5_000u32).map(|i| pool.unblock(move || i * 2)).collect();
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            out.push(job.await);
        }
        out
    });
    assert!(results.iter().enumerate().all(|(i, &r)| r == i as u32 * 2));
    assert!(pool.metrics().threads_alive <= 8);
}

/// Compile-time: the handles and futures can cross threads, so a multi-threaded executor can
/// run them.
#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Pool>();
    send_sync::<corio_blocking::PoolBuilder>();
    send_sync::<corio_blocking::PoolMetrics>();
    send_sync::<corio_blocking::Unblocked<u32>>();
    send_sync::<corio_blocking::Unblock<std::fs::File>>();
    send_sync::<corio_blocking::Unblock<std::io::Stdin>>();
    send_sync::<corio_blocking::Unblock<std::vec::IntoIter<String>>>();

    let mut u = corio_blocking::Unblock::new(Vec::<u8>::new());
    send(&u.with_mut(|v| v.len()));
    send(&u.get_mut());
    send(&u.into_inner());
    send(&unblock(|| 1));
}
