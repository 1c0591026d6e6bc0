//! The pool grows to its limit, shrinks after the keep-alive, survives spawn failures, and shuts
//! down without losing or hanging on work.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corio_blocking::Pool;
use futures_lite::future::block_on;
use support::{DropCounter, DropToken, Gate, Rendezvous, eventually};

#[test]
fn grows_to_the_limit_and_never_past_it() {
    let pool = Pool::builder()
        .max_threads(4)
        .keep_alive(Duration::from_secs(60))
        .build();
    let ids = Arc::new(Mutex::new(HashSet::new()));
    let running = Arc::new(AtomicUsize::new(0));
    let max_running = Arc::new(AtomicUsize::new(0));
    let four_met = Rendezvous::default();

    let jobs: Vec<_> = (0..16)
        .map(|_| {
            let (ids, running, max_running, four_met) = (
                ids.clone(),
                running.clone(),
                max_running.clone(),
                four_met.clone(),
            );
            pool.unblock(move || {
                ids.lock().unwrap().insert(std::thread::current().id());
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                max_running.fetch_max(now, Ordering::SeqCst);
                // Only possible if the pool reached 4 threads; later jobs pass straight through.
                let met = four_met.arrive_and_wait(4);
                std::thread::sleep(Duration::from_millis(10));
                running.fetch_sub(1, Ordering::SeqCst);
                met
            })
        })
        .collect();
    for job in jobs {
        assert!(block_on(job), "the pool never ran 4 jobs at once");
    }
    assert_eq!(ids.lock().unwrap().len(), 4, "distinct pool threads");
    assert_eq!(max_running.load(Ordering::SeqCst), 4);
    let m = pool.metrics();
    assert_eq!(m.threads_spawned, 4);
    assert_eq!(m.threads_alive, 4);
    assert_eq!(m.queued, 0);
}

#[test]
fn shrinks_after_the_keep_alive_and_grows_again() {
    let pool = Pool::builder()
        .max_threads(4)
        .keep_alive(Duration::from_millis(50))
        .build();
    let run_four = || {
        let met = Rendezvous::default();
        let jobs: Vec<_> = (0..4)
            .map(|_| {
                let met = met.clone();
                pool.unblock(move || met.arrive_and_wait(4))
            })
            .collect();
        jobs.into_iter().all(block_on)
    };
    assert!(run_four());
    assert!(pool.metrics().threads_spawned >= 4);
    assert!(
        eventually(|| pool.metrics().threads_alive == 0),
        "idle threads did not exit: {:?}",
        pool.metrics()
    );
    assert_eq!(pool.metrics().threads_idle, 0);

    // And it comes back.
    assert!(run_four());
    assert!(pool.metrics().threads_spawned >= 8);
}

#[test]
fn metrics_count_queued_idle_and_alive() {
    let pool = Pool::builder()
        .max_threads(1)
        .keep_alive(Duration::from_secs(60))
        .build();
    let (started, release) = (Gate::default(), Gate::default());
    let blocker = {
        let (started, release) = (started.clone(), release.clone());
        pool.unblock(move || {
            started.open();
            release.wait()
        })
    };
    assert!(started.wait());
    let queued: Vec<_> = (0..3).map(|i| pool.unblock(move || i)).collect();
    let m = pool.metrics();
    assert_eq!((m.threads_alive, m.threads_idle, m.queued), (1, 0, 3));
    release.open();
    assert!(block_on(blocker));
    let results: Vec<_> = queued.into_iter().map(block_on).collect();
    assert_eq!(results, [0, 1, 2], "FIFO order on one thread");
    assert!(eventually(|| pool.metrics().threads_idle == 1));
    assert!(eventually(|| pool.metrics().jobs_run == 4));
}

/// A stack too big to map makes every `std::thread::Builder::spawn` fail. The pool reports it in
/// its metrics and the job still runs (on the global pool), rather than hanging.
#[test]
fn a_pool_that_cannot_spawn_threads_still_runs_jobs() {
    let pool = Pool::builder()
        .stack_size(1 << 60)
        .thread_name("unspawnable")
        .build();
    let name = block_on(pool.unblock(|| std::thread::current().name().map(str::to_owned)));
    assert!(!name.unwrap_or_default().starts_with("unspawnable"));
    let m = pool.metrics();
    assert!(m.spawn_failures >= 1, "{m:?}");
    assert_eq!(m.threads_alive, 0);
    assert_eq!(m.threads_idle, 0);
    assert_eq!(block_on(pool.unblock(|| 5)), 5);
}

#[test]
fn shutdown_runs_queued_jobs_then_joins_and_later_jobs_go_elsewhere() {
    let pool = Pool::builder()
        .max_threads(1)
        .keep_alive(Duration::from_secs(60))
        .thread_name("closing")
        .build();
    let (started, release) = (Gate::default(), Gate::default());
    let ran = Arc::new(AtomicUsize::new(0));
    let blocker = {
        let (started, release, ran) = (started.clone(), release.clone(), ran.clone());
        pool.unblock(move || {
            started.open();
            release.wait();
            ran.fetch_add(1, Ordering::SeqCst);
        })
    };
    assert!(started.wait());
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let ran = ran.clone();
            pool.unblock(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();

    let opener = {
        let release = release.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            release.open();
        })
    };
    assert!(
        pool.shutdown(Duration::from_secs(10)),
        "threads did not exit"
    );
    opener.join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 4, "queued jobs were lost");
    let m = pool.metrics();
    assert!(m.is_shut_down);
    assert_eq!((m.threads_alive, m.queued), (0, 0));
    block_on(blocker);
    queued.into_iter().for_each(block_on);

    // After shutdown: served, but not by this pool's threads.
    let name = block_on(pool.unblock(|| std::thread::current().name().map(str::to_owned)));
    assert!(!name.unwrap_or_default().starts_with("closing"));
    assert_eq!(pool.metrics().threads_spawned, 1);
    assert!(
        pool.shutdown(Duration::ZERO),
        "a second shutdown finds no threads"
    );
}

#[test]
fn shutdown_gives_up_on_a_stuck_job_after_the_timeout() {
    let pool = Pool::builder().max_threads(1).build();
    let (started, release) = (Gate::default(), Gate::default());
    let job = {
        let (started, release) = (started.clone(), release.clone());
        pool.unblock(move || {
            started.open();
            release.wait()
        })
    };
    assert!(started.wait());
    let t0 = Instant::now();
    assert!(!pool.shutdown(Duration::from_millis(50)));
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(pool.metrics().threads_alive, 1);
    release.open();
    assert!(block_on(job));
    assert!(eventually(|| pool.metrics().threads_alive == 0));
}

thread_local! {
    static ON_THREAD_EXIT: std::cell::RefCell<Option<DropToken>> = const { std::cell::RefCell::new(None) };
}

/// Dropping the last handle shuts the pool down and joins its threads: by the time `drop`
/// returns, each thread has run its thread-local destructors.
#[test]
fn dropping_the_last_handle_joins_the_threads() {
    let pool = Pool::builder()
        .max_threads(3)
        .keep_alive(Duration::from_secs(60))
        .build();
    let exits = DropCounter::default();
    let met = Rendezvous::default();
    let jobs: Vec<_> = (0..3)
        .map(|_| {
            let (token, met) = (exits.token(), met.clone());
            pool.unblock(move || {
                ON_THREAD_EXIT.with(|slot| *slot.borrow_mut() = Some(token));
                met.arrive_and_wait(3)
            })
        })
        .collect();
    assert!(jobs.into_iter().all(block_on));
    let clone = pool.clone();
    drop(pool);
    assert_eq!(exits.count(), 0, "a clone is still alive");
    drop(clone);
    assert_eq!(exits.count(), 3, "threads outlived the pool");
}

/// The last handle may be dropped by a job on the pool itself; that must not deadlock.
#[test]
fn dropping_the_last_handle_inside_its_own_job_does_not_deadlock() {
    let pool = Pool::builder().max_threads(2).build();
    let gate = Gate::default();
    let job = {
        let (inner, gate) = (pool.clone(), gate.clone());
        pool.unblock(move || {
            gate.wait();
            drop(inner); // the last handle, dropped on a pool thread
            "done"
        })
    };
    drop(pool);
    gate.open();
    let t0 = Instant::now();
    assert_eq!(block_on(job), "done");
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn zero_keep_alive_and_limits_are_sane() {
    let pool = Pool::builder()
        .max_threads(0)
        .keep_alive(Duration::ZERO)
        .build();
    assert_eq!(pool.metrics().max_threads, 1);
    for i in 0..20 {
        assert_eq!(block_on(pool.unblock(move || i)), i);
    }
    assert!(eventually(|| pool.metrics().threads_alive == 0));
}

/// Runs `f` on a thread and fails (instead of hanging the test run) if it takes too long.
fn within_patience<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(support::PATIENCE * 3)
        .expect("jobs were stranded: the pool stopped making progress")
}

/// Threads exit the moment they are idle (keep-alive zero) while four threads submit: the
/// submit/exit handshake must never leave a job in the queue with nobody to run it.
#[test]
fn no_job_is_stranded_while_threads_come_and_go() {
    let pool = Pool::builder()
        .max_threads(3)
        .keep_alive(Duration::ZERO)
        .build();
    let total = within_patience(move || {
        let submitters: Vec<_> = (0..4u64)
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut sum = 0;
                    for i in 0..1500u64 {
                        if i % 100 == 0 {
                            std::thread::sleep(Duration::from_micros(300)); // let threads exit
                        }
                        sum += block_on(pool.unblock(move || i + t));
                    }
                    sum
                })
            })
            .collect();
        submitters
            .into_iter()
            .map(|s| s.join().unwrap())
            .sum::<u64>()
    });
    let per_thread: u64 = (0..1500).sum();
    assert_eq!(total, 4 * per_thread + 1500 * (1 + 2 + 3));
}

/// Jobs submitted from several threads while the pool shuts down all run: on the pool before
/// it closes, on the global pool after.
#[test]
fn submissions_racing_shutdown_all_complete() {
    for _ in 0..20 {
        let pool = Pool::builder().max_threads(2).build();
        let ran = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..3)
            .map(|_| {
                let (pool, ran) = (pool.clone(), ran.clone());
                std::thread::spawn(move || {
                    let jobs: Vec<_> = (0..50)
                        .map(|_| {
                            let ran = ran.clone();
                            pool.unblock(move || {
                                ran.fetch_add(1, Ordering::SeqCst);
                            })
                        })
                        .collect();
                    jobs
                })
            })
            .collect();
        assert!(pool.shutdown(support::PATIENCE));
        let jobs: Vec<_> = submitters
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect();
        within_patience(move || jobs.into_iter().for_each(block_on));
        assert_eq!(ran.load(Ordering::SeqCst), 150);
        assert_eq!(pool.metrics().threads_alive, 0);
    }
}
