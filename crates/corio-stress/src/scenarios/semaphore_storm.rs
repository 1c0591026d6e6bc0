//! The semaphore cancel storm: many tasks take 1-3 permits of an 8-permit `Semaphore` at once,
//! with acquires cancelled at random points and tasks cancelled from outside while they wait or
//! hold, on a 4-worker runtime.
//!
//! Proves: the permit limit is never exceeded (an atomic counts the permits held, raised after
//! each acquire and lowered before each release, and is checked against the limit on every
//! acquire), a cancelled acquire leaves no permit behind (partial grants included: a cancelled
//! `acquire_many(3)` may have been handed 1 or 2 permits already), and at the end every permit is
//! back: `available_permits()` equals the limit and one `try_acquire_many(limit)` succeeds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio::Semaphore;

use super::{maybe_cancel, runtime};
use crate::outcome::{Outcome, Size, count, dur};

const LIMIT: usize = 8;

#[derive(Debug, Default)]
struct Counters {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    violations: AtomicUsize,
    acquired: AtomicUsize,
    cancelled: AtomicUsize,
    closed: AtomicUsize,
}

/// Lowers the in-flight count when a holder is done, or dropped by a cancellation.
struct Held<'a> {
    weight: usize,
    counters: &'a Counters,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.counters
            .in_flight
            .fetch_sub(self.weight, Ordering::SeqCst);
    }
}

async fn worker(sem: Arc<Semaphore>, c: Arc<Counters>, rounds: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..rounds {
        let weight = rng.usize(1..=3);
        match maybe_cancel(&mut rng, sem.acquire_many(weight)).await {
            Ok(Ok(permit)) => {
                let now = c.in_flight.fetch_add(weight, Ordering::SeqCst) + weight;
                let held = Held {
                    weight,
                    counters: &c,
                };
                c.acquired.fetch_add(1, Ordering::Relaxed);
                c.max_in_flight.fetch_max(now, Ordering::SeqCst);
                if now > LIMIT {
                    c.violations.fetch_add(1, Ordering::SeqCst);
                }
                match rng.u8(0..3) {
                    0 => {}
                    1 => corio::yield_now().await,
                    _ => corio::sleep(Duration::from_micros(rng.u64(0..500))).await,
                }
                // The count goes down before the permits go back.
                drop(held);
                drop(permit);
            }
            Ok(Err(_)) => {
                c.closed.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => {
                c.cancelled.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

pub(crate) fn run(size: Size, out: &mut Outcome) {
    let tasks = size.pick(2_000, 400, 50);
    let rounds = size.pick(50, 25, 5);
    let seed = super::seed(out);
    let sem = Arc::new(Semaphore::new(LIMIT));
    let c = Arc::new(Counters::default());
    let rt = runtime(4);
    let start = Instant::now();
    let (s, cc) = (sem.clone(), c.clone());
    let killed = rt.block_on(async move {
        let mut rng = fastrand::Rng::with_seed(!seed);
        let mut handles: Vec<Option<_>> = (0..tasks)
            .map(|i| {
                Some(corio::spawn(worker(
                    s.clone(),
                    cc.clone(),
                    rounds,
                    seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                )))
            })
            .collect();
        // Cancel a tenth of the tasks from outside, at random moments, whatever they are doing.
        let mut killed = 0;
        for _ in 0..tasks / 10 {
            corio::sleep(Duration::from_micros(rng.u64(0..2_000))).await;
            let i = rng.usize(0..tasks);
            if let Some(task) = handles[i].take() {
                let _ = task.cancel().await;
                killed += 1;
            }
        }
        for task in handles.into_iter().flatten() {
            task.await;
        }
        killed
    });
    let elapsed = start.elapsed();
    drop(rt);

    let available = sem.available_permits();
    let all_back = sem.try_acquire_many(LIMIT).is_ok();
    let get = |a: &AtomicUsize| a.load(Ordering::SeqCst);
    out.figure(format!(
        "{} tasks x {rounds} acquires of 1-3 of {LIMIT} permits on 4 workers in {}: {} acquired, \
         {} acquires cancelled, {killed} tasks cancelled from outside",
        count(tasks),
        dur(elapsed),
        count(get(&c.acquired)),
        count(get(&c.cancelled)),
    ));
    out.figure(format!(
        "most permits held at once {} (limit {LIMIT}); {} over the limit; {available} of {LIMIT} \
         available at the end",
        get(&c.max_in_flight),
        get(&c.violations),
    ));
    out.check(get(&c.violations) == 0, || {
        format!(
            "the limit was exceeded {} times (up to {} permits held; seed {seed})",
            get(&c.violations),
            get(&c.max_in_flight)
        )
    });
    out.check(available == LIMIT, || {
        format!("{available} of {LIMIT} permits available at the end (seed {seed})")
    });
    out.check(all_back, || {
        format!("try_acquire_many({LIMIT}) failed at the end (seed {seed})")
    });
    out.check(get(&c.in_flight) == 0, || {
        format!("{} permits counted as still held", get(&c.in_flight))
    });
    out.check(get(&c.closed) == 0, || {
        format!(
            "{} acquires failed as if the semaphore were closed",
            get(&c.closed)
        )
    });
    out.check(get(&c.cancelled) > 0 && killed > 0, || {
        "nothing was cancelled: the storm did not storm".to_owned()
    });
}
