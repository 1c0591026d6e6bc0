//! `CpuPool::execute` (fire and forget: what `corio::spawn_cpu` hands a task's runnable to) and
//! `CpuJob`, which tells the counters whether the closure inside a job ran, panicked, or was
//! dropped unrun.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use corio_cpu::{CpuJob, CpuPool};

mod support;
use support::{gate, wait_until};

/// A pool of one thread with a queue of `queue_capacity`, its thread held by a job that runs
/// until the returned sender sends (or is dropped).
fn held_pool(queue_capacity: usize) -> (CpuPool, mpsc::Sender<()>) {
    let pool = CpuPool::builder()
        .threads(1)
        .queue_capacity(queue_capacity)
        .build();
    let (release, job) = gate();
    pool.execute(job);
    wait_until("the first job runs", || pool.metrics().running == 1);
    (pool, release)
}

/// Counts its drops: tells whether a job's closure was dropped.
struct DropFlag(Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_full_queue_holds_execute_jobs_in_line_without_blocking_and_runs_them_in_order() {
    let (pool, release) = held_pool(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    // The first job is held, so every `execute` below returns while the pool is saturated: none
    // of them waits for room.
    for i in 0..6 {
        let order = order.clone();
        pool.execute(move || order.lock().unwrap().push(i));
    }
    let m = pool.metrics();
    assert_eq!((m.running, m.queued, m.waiting_submitters), (1, 1, 5));
    release.send(()).unwrap();
    wait_until("every job ran", || pool.metrics().completed == 7);
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 5]);
    let m = pool.metrics();
    assert_eq!(
        (m.queued, m.running, m.waiting_submitters, m.cancelled),
        (0, 0, 0, 0)
    );
}

#[test]
fn execute_jobs_and_run_futures_share_one_fifo_line() {
    let (pool, release) = held_pool(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    pool.execute(move || o.lock().unwrap().push("queued"));
    let o = order.clone();
    let submitted = pool.submit(move || o.lock().unwrap().push("submit"));
    // Handed over at its first poll: poll it once, by hand, and keep it.
    let mut submitted = Box::pin(submitted);
    let waker = std::task::Waker::noop();
    assert!(
        submitted
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
            .is_pending()
    );
    let o = order.clone();
    pool.execute(move || o.lock().unwrap().push("execute"));
    assert_eq!(pool.metrics().waiting_submitters, 2);
    release.send(()).unwrap();
    futures_lite::future::block_on(submitted);
    wait_until("every job ran", || pool.metrics().completed == 4);
    assert_eq!(*order.lock().unwrap(), ["queued", "submit", "execute"]);
}

#[test]
fn cpu_job_counts_ran_panicked_and_cancelled() {
    let pool = CpuPool::builder().threads(1).build();
    let (tx, rx) = mpsc::channel();

    // Ran: counted completed, and no longer running, before the job goes on to report it.
    let job = CpuJob::new(|| 1);
    let p = pool.clone();
    let t = tx.clone();
    pool.execute(move || {
        let value = job.call();
        let m = p.metrics();
        t.send((value, m.completed, m.running)).unwrap();
    });
    assert_eq!(rx.recv().unwrap(), (1, 1, 0));

    // Panicked: the panic unwinds out of `call` (here caught by the job itself).
    let job = CpuJob::new(|| -> i32 { std::panic::panic_any(7u8) });
    let t = tx.clone();
    pool.execute(move || {
        let caught = catch_unwind(AssertUnwindSafe(|| job.call()));
        t.send((
            i32::from(*caught.unwrap_err().downcast::<u8>().unwrap()),
            0,
            0,
        ))
        .unwrap();
    });
    assert_eq!(rx.recv().unwrap().0, 7);

    // Cancelled: dropped uncalled; its closure is dropped, never run.
    let dropped = Arc::new(AtomicUsize::new(0));
    let flag = DropFlag(dropped.clone());
    let job = CpuJob::new(move || -> i32 {
        let _flag = &flag;
        unreachable!("a dropped CpuJob's closure never runs")
    });
    let t = tx.clone();
    pool.execute(move || {
        drop(job);
        t.send((0, 0, 0)).unwrap();
    });
    rx.recv().unwrap();

    wait_until("the jobs are counted", || pool.metrics().running == 0);
    let m = pool.metrics();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!((m.completed, m.panicked, m.cancelled), (2, 1, 1));
    assert_eq!(m.queued, 0);
}

#[test]
fn a_plain_job_that_panics_is_counted_and_the_thread_survives() {
    let pool = CpuPool::builder().threads(1).build();
    pool.execute(|| panic!("fire and forget"));
    let (tx, rx) = mpsc::channel();
    pool.execute(move || {
        tx.send(thread::current().name().map(str::to_owned))
            .unwrap()
    });
    let name = rx.recv().unwrap().unwrap();
    assert_eq!(name, "corio-cpu-0", "the same thread ran both");
    wait_until("both are counted", || pool.metrics().completed == 2);
    let m = pool.metrics();
    assert_eq!((m.panicked, m.threads_alive, m.cancelled), (1, 1, 0));
}

#[test]
fn a_cpu_job_outside_any_execute_job_counts_nothing() {
    let pool = CpuPool::builder().threads(1).build();
    assert_eq!(CpuJob::new(|| 3).call(), 3);
    drop(CpuJob::new(|| 4));
    // A `run` job is not an `execute` job either.
    let v = futures_lite::future::block_on(pool.run(|| CpuJob::new(|| 5).call()));
    assert_eq!(v, 5);
    let m = pool.metrics();
    assert_eq!((m.completed, m.cancelled, m.panicked), (1, 0, 0));
}

#[test]
fn shutdown_drops_execute_jobs_not_started_and_counts_them_cancelled() {
    let (pool, release) = held_pool(2);
    let dropped = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    // Two queued, three in line; a `run` job queued among them still runs.
    let mut run_future = None;
    for i in 0..5 {
        if i == 1 {
            let mut r = Box::pin(pool.run(|| 9));
            let waker = std::task::Waker::noop();
            assert!(
                r.as_mut()
                    .poll(&mut std::task::Context::from_waker(waker))
                    .is_pending()
            );
            run_future = Some(r);
        }
        let flag = DropFlag(dropped.clone());
        let ran = ran.clone();
        pool.execute(move || {
            let _flag = flag;
            ran.fetch_add(1, Ordering::SeqCst);
        });
    }
    let m = pool.metrics();
    assert_eq!((m.queued, m.waiting_submitters), (2, 4));
    let opener = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        let _ = release.send(());
    });
    pool.shutdown(Duration::from_secs(10));
    opener.join().unwrap();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "an execute job ran after shutdown"
    );
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        5,
        "each closure is dropped once"
    );
    assert_eq!(
        futures_lite::future::block_on(run_future.unwrap()),
        9,
        "a `run` job held in line is still finished"
    );
    let m = pool.metrics();
    assert_eq!(
        (m.completed, m.cancelled, m.queued, m.running),
        (2, 5, 0, 0)
    );
    // After shutdown, `execute` hands the job to the global pool.
    let (tx, rx) = mpsc::channel();
    pool.execute(move || tx.send(42).unwrap());
    assert_eq!(rx.recv().unwrap(), 42);
}

#[test]
fn execute_from_many_threads_loses_nothing() {
    const THREADS: usize = 4;
    const JOBS: usize = 2_000;
    let pool = CpuPool::builder().threads(2).queue_capacity(8).build();
    let (tx, rx) = mpsc::channel();
    let submitters: Vec<_> = (0..THREADS)
        .map(|t| {
            let pool = pool.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..JOBS {
                    let tx = tx.clone();
                    // Every other job goes through a `CpuJob`, every fourth is cancelled.
                    match i % 4 {
                        0 => pool.execute(move || tx.send(t * JOBS + i).unwrap()),
                        1 => {
                            let job = CpuJob::new(move || tx.send(t * JOBS + i).unwrap());
                            pool.execute(move || job.call());
                        }
                        2 => pool.execute(move || tx.send(t * JOBS + i).unwrap()),
                        _ => {
                            let job = CpuJob::new(move || tx.send(usize::MAX).unwrap());
                            pool.execute(move || drop(job));
                        }
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for s in submitters {
        s.join().unwrap();
    }
    let mut got: Vec<usize> = rx.iter().collect();
    got.sort_unstable();
    let want: Vec<usize> = (0..THREADS * JOBS).filter(|n| n % JOBS % 4 != 3).collect();
    assert_eq!(got, want);
    wait_until("the pool is idle", || pool.metrics().running == 0);
    let m = pool.metrics();
    let cancelled = (THREADS * JOBS / 4) as u64;
    assert_eq!(
        (m.completed, m.cancelled, m.queued, m.waiting_submitters),
        ((THREADS * JOBS) as u64 - cancelled, cancelled, 0, 0)
    );
}
