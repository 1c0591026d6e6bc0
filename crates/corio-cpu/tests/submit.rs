//! `CpuPool::submit`: the pool holds the job of a full queue in its line, so the future is woken
//! only for its result; and the batched wake-ups of `run` submitters waiting for room.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use corio_cpu::{CpuPool, Run};
use futures_lite::future::block_on;

mod support;
use support::{gate, wait_until};

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future polled by hand with its own counting waker.
struct Probe<T> {
    run: Run<T>,
    wakes: Arc<Counter>,
}

impl<T> Probe<T> {
    fn new(run: Run<T>) -> Probe<T> {
        Probe {
            run,
            wakes: Arc::default(),
        }
    }

    fn poll(&mut self) -> Poll<T> {
        let waker = Waker::from(self.wakes.clone());
        Pin::new(&mut self.run).poll(&mut Context::from_waker(&waker))
    }

    fn wakes(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }
}

/// A value that records its destruction.
struct Guard(Arc<AtomicBool>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_full_queue_holds_submitted_jobs_in_line_and_wakes_only_for_results() {
    let pool = CpuPool::builder().threads(1).queue_capacity(2).build();
    let (release, blocker) = gate();
    let mut first = Probe::new(pool.submit(blocker));
    assert!(first.poll().is_pending());
    wait_until("the first job runs", || pool.metrics().running == 1);

    let order = Arc::new(Mutex::new(Vec::new()));
    let mut probes: Vec<_> = (0..6u32)
        .map(|i| {
            let order = order.clone();
            Probe::new(pool.submit(move || {
                order.lock().unwrap().push(i);
                i
            }))
        })
        .collect();
    for p in &mut probes {
        assert!(p.poll().is_pending());
    }
    let m = pool.metrics();
    assert_eq!((m.queued, m.waiting_submitters), (2, 4), "{m:?}");

    release.send(()).unwrap();
    // Nobody polls the futures: the pool moves the held jobs into the queue by itself.
    wait_until("every job ran", || order.lock().unwrap().len() == 6);
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 5], "FIFO");
    for (i, p) in probes.iter_mut().enumerate() {
        wait_until("the result is signalled", || p.wakes() == 1);
        assert_eq!(p.poll(), Poll::Ready(i as u32));
        assert_eq!(p.wakes(), 1, "woken once, for the result, never to queue");
    }
    assert!(first.poll().is_ready());
    let m = pool.metrics();
    assert_eq!(
        (
            m.queued,
            m.running,
            m.completed,
            m.cancelled,
            m.waiting_submitters
        ),
        (0, 0, 7, 0, 0)
    );
}

#[test]
fn a_job_dropped_in_line_never_runs_and_the_next_moves_up() {
    let pool = CpuPool::builder().threads(1).queue_capacity(1).build();
    let (release, blocker) = gate();
    let mut first = Probe::new(pool.submit(blocker));
    assert!(first.poll().is_pending());
    wait_until("the first job runs", || pool.metrics().running == 1);
    let mut queued = Probe::new(pool.submit(|| "queued"));
    assert!(queued.poll().is_pending());

    let (ran, dropped) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (r, guard) = (ran.clone(), Guard(dropped.clone()));
    let mut in_line = Probe::new(pool.submit(move || {
        let _guard = guard;
        r.store(true, Ordering::SeqCst);
    }));
    assert!(in_line.poll().is_pending());
    let mut last = Probe::new(pool.submit(|| "last"));
    assert!(last.poll().is_pending());
    assert_eq!(pool.metrics().waiting_submitters, 2);

    drop(in_line);
    assert!(
        dropped.load(Ordering::SeqCst),
        "its closure is dropped at once"
    );
    let m = pool.metrics();
    assert_eq!(
        (m.waiting_submitters, m.cancelled),
        (1, 0),
        "never queued: not cancelled"
    );

    release.send(()).unwrap();
    assert_eq!(block_on(last.run), "last");
    assert_eq!(block_on(queued.run), "queued");
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(pool.metrics().completed, 3);
}

#[test]
fn a_job_moved_from_the_line_into_the_queue_is_cancelled_there() {
    let pool = CpuPool::builder().threads(1).queue_capacity(1).build();
    let (release_a, a) = gate();
    let (release_b, b) = gate();
    let mut a = Probe::new(pool.submit(a));
    assert!(a.poll().is_pending());
    wait_until("A runs", || pool.metrics().running == 1);
    let mut b = Probe::new(pool.submit(b));
    assert!(b.poll().is_pending()); // queued
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let mut c = Probe::new(pool.submit(move || r.store(true, Ordering::SeqCst)));
    assert!(c.poll().is_pending()); // held in line
    assert_eq!(pool.metrics().waiting_submitters, 1);

    // A ends; the thread takes B and moves C from the line into the freed slot.
    release_a.send(()).unwrap();
    wait_until("C is moved into the queue", || {
        let m = pool.metrics();
        m.waiting_submitters == 0 && m.queued == 1 && m.running == 1
    });
    drop(c);
    let m = pool.metrics();
    assert_eq!((m.queued, m.cancelled), (0, 1), "{m:?}");
    release_b.send(()).unwrap();
    block_on(a.run);
    block_on(b.run);
    block_on(pool.submit(|| ())); // FIFO: C has been dequeued and discarded by now
    assert!(!ran.load(Ordering::SeqCst), "a cancelled job ran");
    let m = pool.metrics();
    assert_eq!(
        (m.completed, m.cancelled, m.queued, m.running),
        (3, 1, 0, 0)
    );
}

#[test]
fn dropped_while_running_the_job_finishes_alone_and_counts_once() {
    let pool = CpuPool::builder().threads(1).build();
    let (release, rx) = mpsc::channel::<()>();
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let mut run = Probe::new(pool.submit(move || {
        let _ = rx.recv();
        Guard(d)
    }));
    assert!(run.poll().is_pending());
    wait_until("the job runs", || pool.metrics().running == 1);
    drop(run);
    release.send(()).unwrap();
    wait_until("the result is dropped", || dropped.load(Ordering::SeqCst));
    wait_until("the job is counted", || pool.metrics().completed == 1);
    let m = pool.metrics();
    assert_eq!((m.queued, m.running, m.cancelled), (0, 0, 0));
}

#[test]
fn a_panic_in_a_submitted_job_resumes_in_the_awaiter() {
    let pool = CpuPool::builder().threads(1).queue_capacity(1).build();
    let (release, blocker) = gate();
    let mut first = Probe::new(pool.submit(blocker));
    assert!(first.poll().is_pending());
    // Held in line first, then queued by the pool, then run: the panic still reaches us.
    let mut second = Probe::new(pool.submit(|| ()));
    let mut bad = Probe::new(pool.submit(|| -> u8 { std::panic::panic_any("bad pixel") }));
    assert!(second.poll().is_pending() && bad.poll().is_pending());
    release.send(()).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block_on(bad.run)));
    assert_eq!(
        *caught.unwrap_err().downcast::<&str>().unwrap(),
        "bad pixel"
    );
    block_on(second.run);
    let m = pool.metrics();
    assert_eq!((m.panicked, m.completed), (1, 3));
}

#[test]
fn run_and_submit_share_one_fifo_line() {
    let pool = CpuPool::builder().threads(1).queue_capacity(1).build();
    let order = Arc::new(Mutex::new(Vec::new()));
    let (release, blocker) = gate();
    let mut first = Probe::new(pool.run(blocker));
    assert!(first.poll().is_pending());
    wait_until("the first job runs", || pool.metrics().running == 1);
    let job = |i: u32| {
        let order = order.clone();
        move || order.lock().unwrap().push(i)
    };
    // Alternate the two kinds; the queue (one slot) takes the first, the rest wait in line.
    let mut probes: Vec<_> = (0..8u32)
        .map(|i| {
            Probe::new(if i % 2 == 0 {
                pool.submit(job(i))
            } else {
                pool.run(job(i))
            })
        })
        .collect();
    for p in &mut probes {
        assert!(p.poll().is_pending());
    }
    assert_eq!(pool.metrics().waiting_submitters, 7);
    release.send(()).unwrap();
    // Drive everyone, as their executors would when woken.
    let out = thread::spawn(move || {
        for p in probes {
            block_on(p.run);
        }
    });
    out.join().unwrap();
    assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
    assert_eq!(pool.metrics().waiting_submitters, 0);
}

#[test]
fn waiting_run_submitters_are_woken_in_batches_at_half_capacity() {
    let pool = CpuPool::builder().threads(1).queue_capacity(4).build();
    let (release_first, first) = gate();
    let mut first = Probe::new(pool.run(first));
    assert!(first.poll().is_pending());
    wait_until("the first job runs", || pool.metrics().running == 1);
    // Fill the queue with four gated jobs.
    let (gates, queued): (Vec<_>, Vec<_>) = (0..4).map(|_| gate()).unzip();
    let mut queued: Vec<_> = queued
        .into_iter()
        .map(|g| Probe::new(pool.run(g)))
        .collect();
    for p in &mut queued {
        assert!(p.poll().is_pending());
    }
    let mut line: Vec<_> = (0..6u32).map(|i| Probe::new(pool.run(move || i))).collect();
    for p in &mut line {
        assert!(p.poll().is_pending());
    }
    let woken = |line: &[Probe<u32>]| line.iter().filter(|p| p.wakes() > 0).count();
    assert_eq!(pool.metrics().waiting_submitters, 6);

    // One dequeue: three left of four, above half: nobody is woken yet.
    release_first.send(()).unwrap();
    wait_until("the thread takes the next job", || {
        let m = pool.metrics();
        m.queued == 3 && m.running == 1
    });
    assert_eq!(woken(&line), 0);
    assert_eq!(pool.metrics().waiting_submitters, 6);

    // Second dequeue: two left, half: both free slots go to the head of the line at once.
    let mut gates = gates.into_iter();
    gates.next().unwrap().send(()).unwrap();
    wait_until("two submitters are woken", || woken(&line) == 2);
    assert!(
        line[0].wakes() == 1 && line[1].wakes() == 1,
        "the head of the line first"
    );
    assert_eq!(pool.metrics().waiting_submitters, 4);
    for p in &mut line[..2] {
        assert!(p.poll().is_pending()); // queued in their reserved slots
    }
    assert_eq!(pool.metrics().queued, 4);
    drop(gates); // let everything run
    for (i, p) in line.into_iter().enumerate() {
        assert_eq!(block_on(p.run), i as u32);
    }
    for p in queued {
        block_on(p.run);
    }
    let m = pool.metrics();
    assert_eq!((m.waiting_submitters, m.queued, m.completed), (0, 0, 11));
}

#[test]
fn shutdown_finishes_the_jobs_held_in_line() {
    let pool = CpuPool::builder()
        .threads(1)
        .queue_capacity(1)
        .thread_name("cpuline")
        .build();
    let (release, blocker) = gate();
    let mut first = Probe::new(pool.submit(blocker));
    assert!(first.poll().is_pending());
    wait_until("the first job runs", || pool.metrics().running == 1);
    let mut held: Vec<_> = (0..3)
        .map(|_| Probe::new(pool.submit(|| thread::current().name().map(str::to_owned))))
        .collect();
    for p in &mut held {
        assert!(p.poll().is_pending());
    }
    assert_eq!(pool.metrics().waiting_submitters, 2);
    let shutter = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown(Duration::from_secs(20)))
    };
    wait_until("shutdown begins", || pool.metrics().is_shut_down);
    let m = pool.metrics();
    assert_eq!(
        (m.waiting_submitters, m.queued),
        (0, 3),
        "the line joined the queue"
    );
    release.send(()).unwrap();
    shutter.join().unwrap();
    for p in held {
        let name = block_on(p.run).unwrap();
        assert!(name.starts_with("cpuline-"), "{name}");
    }
    assert_eq!(pool.metrics().completed, 4);
}

#[test]
fn stress_many_submitters_both_kinds_with_drops() {
    // Four submitting threads, two pool threads, a queue of 3: the line is busy, jobs move up
    // from it while futures are dropped at every stage. Every awaited job returns its value,
    // no dropped-before-queued job runs, and the counters add up once the pool is quiet.
    let pool = CpuPool::builder().threads(2).queue_capacity(3).build();
    let executed = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (0..4u64)
        .map(|t| {
            let pool = pool.clone();
            let executed = executed.clone();
            thread::spawn(move || {
                let mut awaited = 0u64;
                for i in 0..400u64 {
                    let executed = executed.clone();
                    let f = move || {
                        executed.fetch_add(1, Ordering::SeqCst);
                        // A little work, so that the queue fills.
                        std::hint::black_box((0..200u64).sum::<u64>());
                        t * 10_000 + i
                    };
                    let run = if (t + i) % 2 == 0 {
                        pool.submit(f)
                    } else {
                        pool.run(f)
                    };
                    let mut p = Probe::new(run);
                    match (t * 7 + i) % 5 {
                        0 => drop(p),
                        1 | 2 => {
                            if let Poll::Ready(v) = p.poll() {
                                assert_eq!(v, t * 10_000 + i);
                            }
                            drop(p);
                        }
                        _ => {
                            assert_eq!(block_on(p.run), t * 10_000 + i);
                            awaited += 1;
                        }
                    }
                }
                awaited
            })
        })
        .collect();
    let awaited: u64 = submitters.into_iter().map(|h| h.join().unwrap()).sum();
    block_on(pool.submit(|| ()));
    wait_until("the pool is quiet", || {
        let m = pool.metrics();
        m.queued == 0 && m.running == 0 && m.waiting_submitters == 0
    });
    let m = pool.metrics();
    assert_eq!(m.completed as usize, executed.load(Ordering::SeqCst) + 1);
    assert!(m.completed > awaited);
    assert_eq!(m.panicked, 0);
}

#[test]
fn stress_idle_transitions_lose_no_wake_up() {
    // One tiny job at a time from each of four threads, on two pool threads: the threads go
    // idle and are woken over and over, and every awaiter must be woken for its result (a lost
    // wake-up would hang, which the watchdog turns into a failure). A queue of 2 also sends some
    // of the jobs through the line.
    let pool = CpuPool::builder().threads(2).queue_capacity(2).build();
    let (done_tx, done_rx) = mpsc::channel();
    for t in 0..4u64 {
        let pool = pool.clone();
        let done_tx = done_tx.clone();
        thread::spawn(move || {
            for i in 0..500u64 {
                let v = if i % 2 == 0 {
                    block_on(pool.submit(move || t ^ i))
                } else {
                    block_on(pool.run(move || t ^ i))
                };
                assert_eq!(v, t ^ i);
            }
            done_tx.send(()).unwrap();
        });
    }
    for _ in 0..4 {
        done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a submitter never got its result");
    }
    wait_until("the pool is quiet", || {
        let m = pool.metrics();
        m.queued == 0 && m.running == 0
    });
    let m = pool.metrics();
    assert_eq!(
        (m.completed, m.cancelled, m.waiting_submitters),
        (2000, 0, 0)
    );
}
