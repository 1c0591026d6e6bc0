//! The article's producer/consumer pipeline (section 2.3): 3 producers, 2 consumers, a bounded
//! queue of 10 for backpressure, shut down twice: first with `close()`, then asyncio-style with
//! sentinels.
//!
//! ```text
//! cargo run --release -p corio --example queue_pipeline
//! ```

use std::time::{Duration, Instant};

use corio::Queue;

/// A cheap deterministic jitter, so the run is reproducible without a random-number crate.
fn jitter(seed: u64, lo_ms: u64, hi_ms: u64) -> Duration {
    let x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    Duration::from_millis(lo_ms + x % (hi_ms - lo_ms))
}

async fn producer(queue: Queue<String>, id: u64) {
    for i in 0..5 {
        let item = format!("task-{id}-{i}");
        corio::sleep(jitter(id * 10 + i, 10, 50)).await; // producing takes time
        queue
            .put(item.clone())
            .await
            .expect("the queue is open while producers run");
        println!("  producer {id} produced {item}");
    }
}

async fn consumer(queue: Queue<String>, id: u64) -> usize {
    let mut handled = 0;
    // `get` fails once the queue is closed *and* drained: no sentinel needed.
    while let Ok(item) = queue.get().await {
        corio::sleep(jitter(id * 100 + handled as u64, 20, 80)).await;
        println!("  consumer {id} handled {item}");
        handled += 1;
        queue.task_done().expect("one task_done per get");
    }
    handled
}

async fn consumer_with_sentinel(queue: Queue<Option<String>>, id: u64) -> usize {
    let mut handled = 0;
    loop {
        let item = queue.get().await.expect("nobody closes this queue");
        let Some(item) = item else {
            // Pass the sentinel on to the other consumers, as the article does.
            queue.put(None).await.expect("open");
            queue.task_done().expect("one task_done per get");
            return handled;
        };
        corio::sleep(jitter(id * 100 + handled as u64, 20, 80)).await;
        println!("  consumer {id} handled {item}");
        handled += 1;
        queue.task_done().expect("one task_done per get");
    }
}

fn main() {
    corio::run(async {
        println!("pipeline 1: shut down with close()");
        let start = Instant::now();
        let queue = Queue::bounded(10); // backpressure: producers wait when 10 items are queued
        let producers: Vec<_> = (0..3)
            .map(|i| corio::spawn(producer(queue.clone(), i)))
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|i| corio::spawn(consumer(queue.clone(), i)))
            .collect();
        for p in producers {
            p.await;
        }
        queue.join().await; // asyncio's queue.join(): every item put has been marked done
        println!("  join(): all {} items processed", 15);
        queue.close(); // no more puts; consumers drain what is left, then their get fails
        let mut handled = 0;
        for c in consumers {
            handled += c.await;
        }
        println!(
            "  {handled} items handled in {:.2?}; none lost\n",
            start.elapsed()
        );
        assert_eq!(handled, 15);

        println!("pipeline 2: shut down with sentinels (asyncio style)");
        let start = Instant::now();
        let queue: Queue<Option<String>> = Queue::bounded(10);
        let producers: Vec<_> = (0..3)
            .map(|id| {
                let queue = queue.clone();
                corio::spawn(async move {
                    for i in 0..5 {
                        corio::sleep(jitter(id * 10 + i, 10, 50)).await;
                        queue
                            .put(Some(format!("task-{id}-{i}")))
                            .await
                            .expect("open");
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|i| corio::spawn(consumer_with_sentinel(queue.clone(), i)))
            .collect();
        for p in producers {
            p.await;
        }
        queue.put(None).await.expect("open");
        let mut handled = 0;
        for c in consumers {
            handled += c.await;
        }
        // (No join() here: the sentinel the last consumer passed on is never taken.)
        println!("  {handled} items handled in {:.2?}", start.elapsed());
        assert_eq!(handled, 15);
    });
}
