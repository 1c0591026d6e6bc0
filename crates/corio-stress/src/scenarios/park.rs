//! 1,000,000 concurrent tasks parked on one `Event`, then released.
//!
//! Proves: a million tasks can be alive and parked at once on two workers, one `set` releases
//! every one of them exactly once, and a parked task costs few bytes. The memory figure is the
//! growth of the peak RSS (`VmHWM`) over the empty runtime, divided by the task count: it
//! includes the task allocation (header, future, output slot), the idle-registry entry and the
//! event's waiter node, so it is the whole price of a parked task, not only the runtime's
//! overhead.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio::sync::Event;

use super::{runtime, wait_until};
use crate::outcome::{Outcome, Size, count, dur, mib};
use crate::sys;

/// A parked task costs more than this only after a regression worth failing on (the mission's
/// target for the runtime's own overhead is 128 B; this bound is for the whole task).
const MAX_BYTES_PER_TASK: u64 = 1024;

struct Shared {
    event: Event,
    parked: AtomicUsize,
    released: AtomicUsize,
}

pub(crate) fn run(size: Size, out: &mut Outcome) {
    let n = size.pick(1_000_000, 200_000, 100_000);
    let rt = runtime(2);
    // Warm the runtime (its driver, timer and first allocations) before the baseline.
    rt.block_on(async { corio::sleep(Duration::from_millis(1)).await });
    let base_rss = sys::rss();
    let shared = Arc::new(Shared {
        event: Event::new(),
        parked: AtomicUsize::new(0),
        released: AtomicUsize::new(0),
    });
    let limit = Duration::from_secs(size.pick(60, 20, 200));

    let s = shared.clone();
    let (spawned, parked, release) = rt.block_on(async move {
        let start = Instant::now();
        for _ in 0..n {
            let s = s.clone();
            corio::spawn(async move {
                s.parked.fetch_add(1, Ordering::Relaxed);
                s.event.wait().await;
                s.released.fetch_add(1, Ordering::Relaxed);
            })
            .detach();
        }
        let spawned = start.elapsed();
        let all_parked = wait_until(limit, || s.parked.load(Ordering::Relaxed) == n).await;
        let parked = start.elapsed();
        // Give a released-too-early task the chance to show itself.
        corio::sleep(Duration::from_millis(20)).await;
        let early = s.released.load(Ordering::Relaxed);
        let parked_peak = sys::peak_rss();
        let t = Instant::now();
        s.event.set();
        let all_released = wait_until(limit, || s.released.load(Ordering::Relaxed) == n).await;
        let release = t.elapsed();
        (
            spawned,
            (all_parked, parked, early, parked_peak),
            (all_released, release),
        )
    });
    let (all_parked, parked_at, early, parked_peak) = parked;
    let (all_released, release) = release;

    let t = Instant::now();
    drop(rt);
    let shutdown = t.elapsed();

    let growth = parked_peak.saturating_sub(base_rss);
    let per_task = growth / n as u64;
    out.figure(format!(
        "{} tasks: spawned in {}, all parked after {}, released by one set() in {}; \
         runtime dropped in {}",
        count(n),
        dur(spawned),
        dur(parked_at),
        dur(release),
        dur(shutdown)
    ));
    out.figure(format!(
        "peak RSS {} while parked (+{} over the empty runtime): {per_task} bytes per parked task",
        mib(parked_peak),
        mib(growth),
    ));
    out.check(all_parked, || {
        format!(
            "only {} of {} tasks parked within {}",
            shared.parked.load(Ordering::Relaxed),
            n,
            dur(limit)
        )
    });
    out.check(early == 0, || {
        format!("{early} tasks passed the event before it was set")
    });
    out.check(all_released, || {
        format!(
            "only {} of {} tasks released within {} of set()",
            shared.released.load(Ordering::Relaxed),
            n,
            dur(limit)
        )
    });
    out.check(shared.released.load(Ordering::Relaxed) == n, || {
        format!(
            "{} releases counted for {n} tasks",
            shared.released.load(Ordering::Relaxed)
        )
    });
    out.check(Arc::strong_count(&shared) == 1, || {
        format!(
            "{} task(s) still hold the shared state after the runtime was dropped",
            Arc::strong_count(&shared) - 1
        )
    });
    if size != Size::Valgrind {
        out.check(per_task <= MAX_BYTES_PER_TASK, || {
            format!("{per_task} bytes per parked task (bound: {MAX_BYTES_PER_TASK})")
        });
    }
}
