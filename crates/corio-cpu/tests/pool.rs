//! The pool on its own, driven by `futures_lite::future::block_on` on plain threads.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::task::Poll;
use std::thread;
use std::time::Duration;

use corio_cpu::{CpuPool, Run};
use futures_lite::future::{block_on, poll_once};

mod support;
use support::{gate, wait_until};

/// Polls `run` once, so that its job is queued (or its submitter joins the line).
fn submit<T>(run: &mut Run<T>) -> Poll<T> {
    match block_on(poll_once(Pin::new(run))) {
        Some(v) => Poll::Ready(v),
        None => Poll::Pending,
    }
}

#[test]
fn results_come_back_and_are_counted() {
    let pool = CpuPool::builder().threads(2).build();
    let runs: Vec<_> = (0..500u64).map(|i| pool.run(move || i * 3)).collect();
    let out: Vec<u64> = runs.into_iter().map(block_on).collect();
    assert_eq!(out, (0..500u64).map(|i| i * 3).collect::<Vec<_>>());
    let m = pool.metrics();
    assert_eq!(
        (m.completed, m.queued, m.running, m.cancelled),
        (500, 0, 0, 0)
    );
    assert!(m.threads_alive <= 2);
}

#[test]
fn threads_run_jobs_in_parallel() {
    // Each job waits for the other at a barrier: both finish only if two threads run them.
    let pool = CpuPool::builder().threads(2).build();
    let barrier = Arc::new(Barrier::new(2));
    let (b1, b2) = (barrier.clone(), barrier);
    let mut a = pool.run(move || b1.wait().is_leader());
    let mut b = pool.run(move || b2.wait().is_leader());
    // Jobs are queued at the first poll: queue both before waiting for either. A cannot finish
    // before B is queued; B may finish before its first poll returns (both met at the barrier).
    assert!(submit(&mut a).is_pending(), "A waits for B at the barrier");
    let b = match submit(&mut b) {
        Poll::Ready(leader) => leader,
        Poll::Pending => block_on(b),
    };
    let leaders = [block_on(a), b];
    assert_eq!(leaders.iter().filter(|l| **l).count(), 1);
}

#[test]
fn a_panic_resumes_in_the_awaiter_and_the_thread_survives() {
    let pool = CpuPool::builder().threads(1).build();
    let name = |p: &CpuPool| block_on(p.run(|| thread::current().id()));
    let before = name(&pool);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(pool.run(|| -> u8 { std::panic::panic_any(42u32) }))
    }));
    assert_eq!(*caught.unwrap_err().downcast::<u32>().unwrap(), 42);
    assert_eq!(name(&pool), before, "the same thread serves the next job");
    let m = pool.metrics();
    assert_eq!((m.panicked, m.completed), (1, 3));
}

/// A value that records its destruction.
struct Guard(Arc<AtomicBool>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn dropped_before_start_never_runs() {
    let pool = CpuPool::builder().threads(1).build();
    let (release, blocker) = gate();
    let mut first = pool.run(blocker);
    assert!(submit(&mut first).is_pending());
    wait_until("the first job runs", || pool.metrics().running == 1);

    let ran = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let (r, guard) = (ran.clone(), Guard(dropped.clone()));
    let mut second = pool.run(move || {
        let _guard = guard;
        r.store(true, Ordering::SeqCst);
    });
    assert!(submit(&mut second).is_pending());
    assert_eq!(pool.metrics().queued, 1);
    drop(second);
    let m = pool.metrics();
    assert_eq!((m.queued, m.cancelled), (0, 1));

    release.send(()).unwrap();
    block_on(first);
    // FIFO: once a later job has run, the cancelled one has been dequeued and discarded.
    block_on(pool.run(|| ()));
    assert!(!ran.load(Ordering::SeqCst), "a cancelled job ran");
    assert!(
        dropped.load(Ordering::SeqCst),
        "its closure was dropped on dequeue"
    );
    assert_eq!(pool.metrics().completed, 2);
}

#[test]
fn never_polled_never_runs() {
    let pool = CpuPool::builder().threads(1).build();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    drop(pool.run(move || r.store(true, Ordering::SeqCst)));
    block_on(pool.run(|| ()));
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(pool.metrics().cancelled, 0, "it was never queued");
}

#[test]
fn dropped_while_running_finishes_and_drops_its_result() {
    let pool = CpuPool::builder().threads(1).build();
    let (release, rx) = mpsc::channel::<()>();
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let mut run = pool.run(move || {
        let _ = rx.recv();
        Guard(d)
    });
    assert!(submit(&mut run).is_pending());
    wait_until("the job runs", || pool.metrics().running == 1);
    drop(run);
    assert_eq!(pool.metrics().cancelled, 0, "too late to cancel");
    release.send(()).unwrap();
    wait_until("the result is dropped", || dropped.load(Ordering::SeqCst));
    assert_eq!(pool.metrics().completed, 1);
}

#[test]
fn a_full_queue_makes_submitters_wait_in_line() {
    let pool = CpuPool::builder().threads(1).queue_capacity(2).build();
    let order = Arc::new(Mutex::new(Vec::new()));
    let (release, blocker) = gate();
    let mut first = pool.run(blocker);
    assert!(submit(&mut first).is_pending());
    wait_until("the first job runs", || pool.metrics().running == 1);

    let job = |i: u32| {
        let order = order.clone();
        pool.run(move || {
            order.lock().unwrap().push(i);
            i
        })
    };
    let mut runs: Vec<_> = (1..=5).map(job).collect();
    for run in &mut runs {
        assert!(submit(run).is_pending());
    }
    let m = pool.metrics();
    assert_eq!((m.queued, m.waiting_submitters), (2, 3));

    // Waiters are woken as room appears; awaiting them in order also re-polls them.
    release.send(()).unwrap();
    block_on(first);
    let out: Vec<u32> = runs.into_iter().map(block_on).collect();
    assert_eq!(out, [1, 2, 3, 4, 5]);
    assert_eq!(*order.lock().unwrap(), [1, 2, 3, 4, 5]);
    assert_eq!(pool.metrics().waiting_submitters, 0);
}

#[test]
fn a_waiter_that_leaves_with_a_reserved_slot_passes_it_on() {
    let pool = CpuPool::builder().threads(1).queue_capacity(1).build();
    let (release_a, a) = gate();
    let (release_b, b) = gate();
    let mut a = pool.run(a);
    assert!(submit(&mut a).is_pending());
    wait_until("A runs", || pool.metrics().running == 1);
    let mut b = pool.run(b);
    assert!(submit(&mut b).is_pending()); // queued: the queue is now full
    let ran_c = Arc::new(AtomicBool::new(false));
    let rc = ran_c.clone();
    let mut c = pool.run(move || rc.store(true, Ordering::SeqCst));
    let mut d = pool.run(|| "d");
    assert!(submit(&mut c).is_pending());
    assert!(submit(&mut d).is_pending());
    assert_eq!(pool.metrics().waiting_submitters, 2);

    // A ends; the thread takes B and reserves the freed slot for C, the head of the line.
    release_a.send(()).unwrap();
    block_on(a);
    wait_until("C is granted the slot", || {
        let m = pool.metrics();
        m.running == 1 && m.waiting_submitters == 1
    });
    // C leaves without using it: D must get it, or it would wait forever.
    drop(c);
    assert_eq!(pool.metrics().waiting_submitters, 0);
    assert!(submit(&mut d).is_pending());
    assert_eq!(pool.metrics().queued, 1);
    release_b.send(()).unwrap();
    block_on(b);
    assert_eq!(block_on(d), "d");
    assert!(!ran_c.load(Ordering::SeqCst));
}

#[test]
fn zero_is_taken_as_one() {
    let pool = CpuPool::builder().threads(0).queue_capacity(0).build();
    let m = pool.metrics();
    assert_eq!((m.threads, m.queue_capacity), (1, 1));
    let runs: Vec<_> = (0..10).map(|i| pool.run(move || i)).collect();
    assert_eq!(runs.into_iter().map(block_on).sum::<i32>(), 45);
}

#[cfg(target_os = "linux")]
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with(prefix))
        .count()
}

#[test]
fn shutdown_finishes_the_queue_and_leaves_no_thread() {
    let pool = CpuPool::builder().threads(2).thread_name("cpushut").build();
    let done = Arc::new(AtomicUsize::new(0));
    let (release, blocker) = gate();
    let mut first = pool.run(blocker);
    assert!(submit(&mut first).is_pending());
    let mut queued: Vec<_> = (0..6)
        .map(|_| {
            let done = done.clone();
            pool.run(move || done.fetch_add(1, Ordering::SeqCst))
        })
        .collect();
    for run in &mut queued {
        let _ = submit(run);
    }
    #[cfg(target_os = "linux")]
    wait_until("both threads run", || threads_named("cpushut-") == 2);

    let shutter = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown(Duration::from_secs(20)))
    };
    wait_until("shutdown begins", || pool.metrics().is_shut_down);
    release.send(()).unwrap();
    shutter.join().unwrap();
    assert_eq!(
        done.load(Ordering::SeqCst),
        6,
        "queued jobs ran before the threads left"
    );
    assert_eq!(pool.metrics().threads_alive, 0);
    // Joined threads stay listed in /proc until the kernel reaps them, a moment after the join.
    #[cfg(target_os = "linux")]
    wait_until("no pool thread is left behind", || {
        threads_named("cpushut-") == 0
    });
    drop(queued);
    block_on(first);

    // After shutdown, jobs still run: on the global pool.
    let name = block_on(pool.run(|| thread::current().name().map(str::to_owned)));
    assert!(name.unwrap().starts_with("corio-cpu-"));
}

#[test]
fn dropping_the_last_handle_shuts_down() {
    let pool = CpuPool::builder().threads(3).thread_name("cpudrop").build();
    let runs: Vec<_> = (0..3).map(|i| pool.run(move || i)).collect();
    assert_eq!(runs.into_iter().map(block_on).sum::<i32>(), 3);
    drop(pool);
    #[cfg(target_os = "linux")]
    wait_until("no pool thread is left behind", || {
        threads_named("cpudrop-") == 0
    });
}

#[test]
fn a_submitter_waiting_at_shutdown_moves_to_the_global_pool() {
    let pool = CpuPool::builder()
        .threads(1)
        .queue_capacity(1)
        .shutdown_timeout(Duration::ZERO)
        .build();
    let (release, blocker) = gate();
    let mut first = pool.run(blocker);
    assert!(submit(&mut first).is_pending());
    wait_until("the first job runs", || pool.metrics().running == 1);
    let mut second = pool.run(|| 2);
    assert!(submit(&mut second).is_pending());
    let mut third = pool.run(|| thread::current().name().map(str::to_owned));
    assert!(submit(&mut third).is_pending());
    assert_eq!(pool.metrics().waiting_submitters, 1);
    pool.shutdown(Duration::ZERO);
    let name = block_on(third).unwrap();
    assert!(name.starts_with("corio-cpu-"), "{name}");
    release.send(()).unwrap();
    block_on(first);
    assert_eq!(block_on(second), 2);
}

#[test]
fn enter_makes_a_pool_current_and_guards_nest() {
    let outer = CpuPool::builder().threads(2).build();
    let inner = CpuPool::builder().threads(3).build();
    let g1 = outer.enter();
    assert_eq!(CpuPool::current().metrics().threads, 2);
    let g2 = inner.enter();
    assert_eq!(CpuPool::current().metrics().threads, 3);
    drop(g2);
    assert_eq!(CpuPool::current().metrics().threads, 2);
    drop(g1);
}

#[test]
fn stress_submit_and_cancel_from_many_threads() {
    let pool = CpuPool::builder().threads(2).queue_capacity(4).build();
    let executed = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (0..4u64)
        .map(|t| {
            let pool = pool.clone();
            let executed = executed.clone();
            thread::spawn(move || {
                let mut awaited = 0;
                for i in 0..300u64 {
                    let executed = executed.clone();
                    let mut run = pool.run(move || {
                        executed.fetch_add(1, Ordering::SeqCst);
                        t * 1000 + i
                    });
                    match (t + i) % 3 {
                        // Dropped unpolled, or after one poll (queued or waiting in line).
                        0 => drop(run),
                        1 => {
                            if let Poll::Ready(v) = submit(&mut run) {
                                assert_eq!(v, t * 1000 + i);
                            }
                            drop(run);
                        }
                        _ => {
                            assert_eq!(block_on(&mut run), t * 1000 + i);
                            awaited += 1;
                        }
                    }
                }
                awaited
            })
        })
        .collect();
    let awaited: u64 = submitters.into_iter().map(|h| h.join().unwrap()).sum();
    // Let the threads drain what was queued.
    block_on(pool.run(|| ()));
    wait_until("the queue drains", || {
        let m = pool.metrics();
        m.queued == 0 && m.running == 0
    });
    let m = pool.metrics();
    assert_eq!(m.completed as usize, executed.load(Ordering::SeqCst) + 1);
    assert!(m.completed > awaited);
    assert_eq!(m.waiting_submitters, 0);
    assert_eq!(m.panicked, 0);
}

#[test]
fn the_future_is_send_and_its_output_any_send_type() {
    fn assert_send<F: Future + Send>(_: &F) {}
    let pool = CpuPool::builder().threads(1).build();
    let run = pool.run(|| vec![String::from("resized")]);
    assert_send(&run);
    assert_eq!(block_on(run), ["resized"]);
}
