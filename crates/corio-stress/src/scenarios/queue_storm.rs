//! The queue cancel storm: 8 producers and 8 consumers on one `Queue`, with puts and gets
//! cancelled at random points, on a 4-worker runtime: `bounded(1)`, `bounded(4)` and an
//! unbounded queue in turn (`queue-storm`), and the rendezvous queue `bounded(0)`
//! (`rendezvous-storm`).
//!
//! Proves the queue's cancel-safety contract (asyncio's bpo-23812): a `put` that is cancelled
//! did not enqueue its item (the producer retries it, so an enqueued-and-cancelled put shows up
//! as a duplicate), and a `get` that is cancelled did not take one (a taken-and-cancelled get
//! shows up as a missing item). Every item must arrive exactly once. And as a consequence of
//! FIFO order, each consumer must see each producer's items in increasing order (buffered queues
//! only: in a rendezvous queue an item handed to a get that is then cancelled goes on to the
//! next get, possibly after a later item).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio::Queue;

use super::{maybe_cancel, runtime};
use crate::outcome::{Outcome, Size, count, dur};

const PRODUCERS: u64 = 8;
const CONSUMERS: usize = 8;

/// The queues of `queue-storm`: tiny and small buffers, and an unbounded queue (where only the
/// cooperative budget makes a put wait).
const BUFFERED: [Option<usize>; 3] = [Some(1), Some(4), None];

/// The queue of `rendezvous-storm`: every put waits for a get to take its item.
const RENDEZVOUS: [Option<usize>; 1] = [Some(0)];

/// What one storm measured.
struct Storm {
    name: String,
    total: usize,
    elapsed: Duration,
    cancelled_puts: usize,
    cancelled_gets: usize,
    delivered: usize,
    missing: usize,
    duplicated: usize,
    out_of_range: usize,
    order_breaks: usize,
    left: usize,
    errors: Vec<String>,
}

pub(crate) fn run(size: Size, out: &mut Outcome) {
    storms(&BUFFERED, size.pick(80_000, 2_000, 200), out);
}

pub(crate) fn run_rendezvous(size: Size, out: &mut Outcome) {
    storms(&RENDEZVOUS, size.pick(80_000, 2_000, 200), out);
}

fn storms(capacities: &[Option<usize>], per_producer: u64, out: &mut Outcome) {
    let seed = super::seed(out);
    let rt = runtime(4);
    let (mut puts, mut gets) = (0, 0);
    for (i, &capacity) in capacities.iter().enumerate() {
        let s = storm(&rt, capacity, per_producer, seed.wrapping_add(i as u64));
        out.figure(format!(
            "{}: {} items in {} ({:.0} items/s); {} puts and {} gets cancelled; missing {}, \
             duplicated {}, out of FIFO order {}",
            s.name,
            count(s.total),
            dur(s.elapsed),
            s.total as f64 / s.elapsed.as_secs_f64().max(1e-9),
            count(s.cancelled_puts),
            count(s.cancelled_gets),
            s.missing,
            s.duplicated,
            s.order_breaks,
        ));
        for e in s.errors.iter().take(3) {
            out.fail(format!("{}: a producer failed: {e}", s.name));
        }
        out.check(s.missing == 0 && s.duplicated == 0 && s.out_of_range == 0, || {
            format!(
                "{}: items lost or doubled: {} missing, {} duplicated, {} unknown (seed {seed})",
                s.name, s.missing, s.duplicated, s.out_of_range
            )
        });
        out.check(s.delivered == s.total, || {
            format!(
                "{}: {} items delivered for {} put (seed {seed})",
                s.name, s.delivered, s.total
            )
        });
        // A rendezvous put completes by handing its item to a waiting get. When that get is
        // cancelled before it returns, the item goes on to the next waiting get, which may run
        // after a later item of the same producer was handed elsewhere: per-producer order holds
        // for buffered queues only (documented in corio-sync's queue docs).
        let ordered = capacity != Some(0);
        out.check(!ordered || s.order_breaks == 0, || {
            format!(
                "{}: {} items seen out of their producer's order (seed {seed})",
                s.name, s.order_breaks
            )
        });
        out.check(s.left == 0, || {
            format!("{}: {} items left in the closed queue", s.name, s.left)
        });
        puts += s.cancelled_puts;
        gets += s.cancelled_gets;
    }
    drop(rt);
    out.figure(format!(
        "{PRODUCERS} producers and {CONSUMERS} consumers per queue, on 4 workers; {} puts and {} \
         gets cancelled in all",
        count(puts),
        count(gets)
    ));
    out.check(puts > 0 && gets > 0, || {
        "no put or no get was cancelled: the storm did not storm".to_owned()
    });
}

fn storm(rt: &corio::Runtime, capacity: Option<usize>, per_producer: u64, seed: u64) -> Storm {
    let total = (PRODUCERS * per_producer) as usize;
    let name = match capacity {
        Some(n) => format!("Queue::bounded({n})"),
        None => "Queue::unbounded()".to_owned(),
    };
    let cancelled_puts = Arc::new(AtomicUsize::new(0));
    let cancelled_gets = Arc::new(AtomicUsize::new(0));
    let (cp, cg) = (cancelled_puts.clone(), cancelled_gets.clone());
    let start = Instant::now();
    let result = rt.block_on(async move {
        let queue: Queue<u64> = match capacity {
            Some(n) => Queue::bounded(n),
            None => Queue::unbounded(),
        };
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (queue, cp) = (queue.clone(), cp.clone());
                let mut rng = fastrand::Rng::with_seed(seed ^ p);
                corio::spawn(async move {
                    for i in 0..per_producer {
                        let item = p * per_producer + i;
                        loop {
                            match maybe_cancel(&mut rng, queue.put(item)).await {
                                Ok(Ok(())) => break,
                                Ok(Err(e)) => return Err(format!("put {item}: {e:?}")),
                                Err(_) => {
                                    cp.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|c| {
                let (queue, cg) = (queue.clone(), cg.clone());
                let mut rng = fastrand::Rng::with_seed(seed.rotate_left(17) ^ c as u64);
                corio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        match maybe_cancel(&mut rng, queue.get()).await {
                            Ok(Ok(item)) => got.push(item),
                            Ok(Err(_closed)) => return got,
                            Err(_) => {
                                cg.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        let mut errors = Vec::new();
        for p in producers {
            if let Err(e) = p.await {
                errors.push(e);
            }
        }
        // Every put has returned Ok: close, and the consumers drain what is left.
        queue.close();
        let mut received = Vec::new();
        for c in consumers {
            received.push(c.await);
        }
        (errors, received, queue.len())
    });
    let elapsed = start.elapsed();
    let (errors, received, left) = result;

    let mut seen = vec![0u32; total];
    let mut out_of_range = 0usize;
    let mut order_breaks = 0usize;
    for got in &received {
        let mut last = vec![None::<u64>; PRODUCERS as usize];
        for &item in got {
            match seen.get_mut(item as usize) {
                Some(n) => *n += 1,
                None => out_of_range += 1,
            }
            let p = (item / per_producer) as usize;
            if let Some(last) = last.get_mut(p) {
                if last.is_some_and(|l| l >= item) {
                    order_breaks += 1;
                }
                *last = Some(item);
            }
        }
    }
    Storm {
        name,
        total,
        elapsed,
        cancelled_puts: cancelled_puts.load(Ordering::Relaxed),
        cancelled_gets: cancelled_gets.load(Ordering::Relaxed),
        delivered: received.iter().map(Vec::len).sum(),
        missing: seen.iter().filter(|&&n| n == 0).count(),
        duplicated: seen.iter().filter(|&&n| n > 1).count(),
        out_of_range,
        order_breaks,
        left,
        errors,
    }
}
