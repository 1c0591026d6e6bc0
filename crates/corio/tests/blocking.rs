//! `to_thread` on corio's own loops: blocking work runs beside the loop, never on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Waits (on a pool thread) until `n` jobs have arrived; false if they never all do, so a broken
/// pool fails the test instead of hanging it.
fn arrive_and_wait(arrived: &AtomicUsize, n: usize) -> bool {
    arrived.fetch_add(1, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrived.load(Ordering::SeqCst) < n {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// The seed's `to_thread` point, on the event loop itself: while 8 `to_thread` calls sleep 200 ms
/// each, a task on the loop keeps ticking. Each job reads the tick counter before and after its
/// sleep; the counter moved in between, for every job, and all 8 were running at once.
async fn eight_sleeping_jobs_and_a_ticker() {
    let ticks = Arc::new(AtomicU64::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = corio::spawn({
        let (ticks, stop) = (ticks.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::SeqCst) {
                ticks.fetch_add(1, Ordering::SeqCst);
                corio::yield_now().await;
            }
        }
    });
    let jobs: Vec<_> = (0..8)
        .map(|_| {
            let (ticks, arrived) = (ticks.clone(), arrived.clone());
            corio::to_thread(move || {
                let all_met = arrive_and_wait(&arrived, 8);
                let before = ticks.load(Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(200));
                (all_met, before, ticks.load(Ordering::SeqCst))
            })
        })
        .collect();
    for job in jobs {
        let (all_met, before, after) = job.await;
        assert!(all_met, "the 8 jobs did not all run at the same time");
        assert!(after > before, "the loop was frozen during a job");
    }
    stop.store(true, Ordering::SeqCst);
    ticker.await;
}

#[test]
fn the_loop_keeps_ticking_while_to_thread_jobs_block() {
    corio::run_local(eight_sleeping_jobs_and_a_ticker());
}

#[test]
fn a_one_worker_runtime_keeps_ticking_while_to_thread_jobs_block() {
    let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
    rt.block_on(eight_sleeping_jobs_and_a_ticker());
}
