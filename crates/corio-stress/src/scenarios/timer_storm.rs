//! The timer storm: 200,000 timeouts, most of them cancelled because their future wins, and
//! 20,000 sleeps of 0-1,000 ms, all at once on a 2-worker runtime.
//!
//! Proves: no sleep wakes early (`Instant::now() >= deadline` when it returns, for
//! `sleep_until` and for `sleep`), no timeout fires early (a timeout around a future that never
//! completes returns `Elapsed` no sooner than its duration), a timeout whose future wins never
//! reports `Elapsed` for a future that completed, every cancelled timeout leaves the timing wheel
//! (`Timer::pending()` is back to zero at the end), and no timer is lost (every sleep returns).
//! Lateness (how long after its deadline a sleep returned) is reported as p50/p99/max, and
//! bounded: the scenario fails if the p99 lateness of the sleeps or of the fired timeouts exceeds
//! [`P99_LATENESS`], or the worst one [`MAX_LATENESS`]. The bounds are generous: the p99 measured
//! about 1 ms on 2 otherwise idle cores, and 6.53 ms (max 10.86 ms) while other builds loaded
//! them; they catch a timer that is starved, not a machine that is busy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::runtime;
use crate::outcome::{Outcome, Size, count, dur, quantile};

/// Timeouts per task, run one after the other.
const PER_TASK: usize = 100;

/// The p99 lateness allowed, for sleeps and for fired timeouts: about four times the p99
/// measured on a loaded machine.
const P99_LATENESS: Duration = Duration::from_millis(25);

/// The worst lateness allowed for any one sleep or fired timeout: a timer starved for half a
/// second is a bug, not scheduling noise.
const MAX_LATENESS: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct Counters {
    cancelled: AtomicUsize,
    fired: AtomicUsize,
    must_fire: AtomicUsize,
    early: AtomicUsize,
    slow_winner: AtomicUsize,
}

/// What one sleep saw: how late it woke, or how early.
type Wake = Result<Duration, Duration>;

async fn one_sleep(seed: u64) -> Wake {
    let mut rng = fastrand::Rng::with_seed(seed);
    let d = if rng.u8(0..10) == 0 {
        Duration::from_micros(rng.u64(0..1_000))
    } else {
        Duration::from_millis(rng.u64(1..=1_000))
    };
    let deadline = Instant::now() + d;
    if rng.bool() {
        corio::sleep_until(deadline).await;
    } else {
        corio::sleep(d).await;
    }
    let now = Instant::now();
    if now >= deadline {
        Ok(now - deadline)
    } else {
        Err(deadline - now)
    }
}

async fn timeouts(seed: u64, c: Arc<Counters>) -> Vec<Duration> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut fired_late = Vec::new();
    for _ in 0..PER_TASK {
        let d = Duration::from_millis(rng.u64(1..=200));
        if rng.u8(0..20) == 0 {
            // Must fire: the future never completes.
            c.must_fire.fetch_add(1, Ordering::Relaxed);
            let start = Instant::now();
            let r = corio::timeout(d, std::future::pending::<()>()).await;
            let elapsed = start.elapsed();
            if r.is_ok() || elapsed < d {
                c.early.fetch_add(1, Ordering::SeqCst);
            } else {
                c.fired.fetch_add(1, Ordering::Relaxed);
                fired_late.push(elapsed - d);
            }
        } else {
            // Mostly cancelled: the future wins after a few yields, and the timer is dropped.
            let yields = rng.u32(1..=3);
            let start = Instant::now();
            let r = corio::timeout(d, async {
                for _ in 0..yields {
                    corio::yield_now().await;
                }
            })
            .await;
            match r {
                Ok(()) => {
                    c.cancelled.fetch_add(1, Ordering::Relaxed);
                }
                // Legitimate only if the few yields really took longer than `d`.
                Err(_) if start.elapsed() >= d => {
                    c.slow_winner.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    c.early.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }
    fired_late
}

pub(crate) fn run(size: Size, out: &mut Outcome) {
    let n_timeouts = size.pick(200_000, 40_000, 2_000);
    let n_sleeps = size.pick(20_000, 5_000, 200);
    let seed = super::seed(out);
    let c = Arc::new(Counters::default());
    let rt = runtime(2);
    let cc = c.clone();
    let start = Instant::now();
    let (wakes, fired_late, peak_pending, pending_after) = rt.block_on(async move {
        let sleeps: Vec<_> = (0..n_sleeps)
            .map(|i| corio::spawn(one_sleep(seed ^ i as u64)))
            .collect();
        let storms: Vec<_> = (0..n_timeouts / PER_TASK)
            .map(|i| corio::spawn(timeouts(seed.rotate_left(29) ^ i as u64, cc.clone())))
            .collect();
        let timer = corio::time::Timer::current();
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = corio::spawn({
            let (timer, stop) = (timer.clone(), stop.clone());
            async move {
                let mut peak = 0;
                while !stop.load(Ordering::SeqCst) {
                    peak = timer.pending().max(peak);
                    corio::sleep(Duration::from_millis(5)).await;
                }
                peak
            }
        });
        let mut wakes = Vec::with_capacity(n_sleeps);
        for s in sleeps {
            wakes.push(s.await);
        }
        let mut fired_late = Vec::new();
        for s in storms {
            fired_late.extend(s.await);
        }
        stop.store(true, Ordering::SeqCst);
        let peak = sampler.await;
        (wakes, fired_late, peak, timer.pending())
    });
    let elapsed = start.elapsed();
    drop(rt);

    let mut late: Vec<Duration> = wakes.iter().filter_map(|w| w.ok()).collect();
    let early: Vec<Duration> = wakes.iter().filter_map(|w| w.err()).collect();
    late.sort();
    let mut fired_late = fired_late;
    fired_late.sort();
    let get = |a: &AtomicUsize| a.load(Ordering::SeqCst);
    out.figure(format!(
        "{} timeouts ({} cancelled by their future, {} fired as required, {} winners slower \
         than their timeout) and {} sleeps of 0-1000 ms on 2 workers in {}",
        count(n_timeouts),
        count(get(&c.cancelled)),
        count(get(&c.fired)),
        count(get(&c.slow_winner)),
        count(n_sleeps),
        dur(elapsed),
    ));
    out.figure(format!(
        "sleep lateness p50 {} / p99 {} / max {}; early wake-ups: {}",
        dur(quantile(&late, 0.5)),
        dur(quantile(&late, 0.99)),
        dur(quantile(&late, 1.0)),
        early.len()
    ));
    out.figure(format!(
        "fired-timeout lateness p50 {} / p99 {} / max {}; early timeouts: {}",
        dur(quantile(&fired_late, 0.5)),
        dur(quantile(&fired_late, 0.99)),
        dur(quantile(&fired_late, 1.0)),
        get(&c.early)
    ));
    out.figure(format!(
        "timers in the wheel: at most {} (sampled every 5 ms), {pending_after} at the end",
        count(peak_pending)
    ));
    out.check(early.is_empty(), || {
        format!(
            "{} sleeps woke early, by up to {} (seed {seed})",
            early.len(),
            dur(early.iter().max().copied().unwrap_or_default())
        )
    });
    out.check(get(&c.early) == 0, || {
        format!("{} timeouts fired early (seed {seed})", get(&c.early))
    });
    out.check(get(&c.fired) == get(&c.must_fire), || {
        format!(
            "{} of {} timeouts around a never-ready future fired",
            get(&c.fired),
            get(&c.must_fire)
        )
    });
    out.check(
        get(&c.cancelled) + get(&c.fired) + get(&c.slow_winner) == n_timeouts,
        || "timeouts unaccounted for".to_owned(),
    );
    for (what, sorted) in [("sleep", &late), ("fired-timeout", &fired_late)] {
        let (p99, max) = (quantile(sorted, 0.99), quantile(sorted, 1.0));
        out.check(p99 <= P99_LATENESS, || {
            format!(
                "{what} lateness p99 {} is over the bound of {} (seed {seed})",
                dur(p99),
                dur(P99_LATENESS)
            )
        });
        out.check(max <= MAX_LATENESS, || {
            format!(
                "a {what} was {} late, over the bound of {} (seed {seed})",
                dur(max),
                dur(MAX_LATENESS)
            )
        });
    }
    out.check(pending_after == 0, || {
        format!("{pending_after} timers still in the wheel after every timeout and sleep ended")
    });
}
