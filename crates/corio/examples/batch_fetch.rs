//! The article's semaphore-limited batch fetch (section 2.2): 100 "requests", at most N in
//! flight, for N = 1, 10, 50 and unlimited. The in-flight count is measured, not assumed.
//!
//! ```text
//! cargo run --release -p corio --example batch_fetch
//! ```
//!
//! (The `http_client` example does the same over real HTTP against a local server.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio::Semaphore;

/// Tracks how many fetches run at once, and the most ever seen.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

async fn fetch(url: usize, in_flight: &InFlight) -> Result<usize, String> {
    let now = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
    in_flight.peak.fetch_max(now, Ordering::SeqCst);
    corio::sleep(Duration::from_millis(20)).await; // the "request"
    in_flight.now.fetch_sub(1, Ordering::SeqCst);
    if url % 25 == 24 {
        Err(format!("request {url} failed"))
    } else {
        Ok(url)
    }
}

async fn batch_fetch(
    urls: usize,
    max_concurrency: Option<usize>,
) -> (usize, usize, usize, Duration) {
    let semaphore = max_concurrency.map(|n| Arc::new(Semaphore::new(n)));
    let in_flight = Arc::new(InFlight::default());
    let start = Instant::now();
    let tasks: Vec<_> = (0..urls)
        .map(|url| {
            let semaphore = semaphore.clone();
            let in_flight = in_flight.clone();
            corio::spawn(async move {
                // `async with semaphore:` — the permit is released when dropped.
                let _permit = match &semaphore {
                    Some(s) => Some(s.acquire().await.expect("never closed")),
                    None => None,
                };
                fetch(url, &in_flight).await
            })
        })
        .collect();
    // gather(..., return_exceptions=True): every result, errors included.
    let results = corio::join_all(tasks).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let failed = results.len() - ok;
    (
        ok,
        failed,
        in_flight.peak.load(Ordering::SeqCst),
        start.elapsed(),
    )
}

fn main() {
    corio::run(async {
        println!(
            "{:>12} | {:>8} | {:>10} | {:>6} | {:>6}",
            "concurrency", "time", "peak", "ok", "failed"
        );
        for limit in [Some(1), Some(10), Some(50), None] {
            let (ok, failed, peak, elapsed) = batch_fetch(100, limit).await;
            let label = limit.map_or("unlimited".to_string(), |n| n.to_string());
            println!(
                "{label:>12} | {:>8.2?} | {peak:>10} | {ok:>6} | {failed:>6}",
                elapsed
            );
            if let Some(n) = limit {
                assert!(peak <= n, "the semaphore let {peak} through a limit of {n}");
            }
        }
    });
}
