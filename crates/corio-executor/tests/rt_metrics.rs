//! The task counts of a runtime's metrics, read from outside while tasks come and go on its
//! workers: `completed` never exceeds `spawned`, and `alive` never reads below the tasks that
//! are certainly alive.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use corio_executor::Runtime;

#[test]
fn alive_never_reads_below_the_tasks_held_while_others_churn() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let held: Vec<_> = (0..100)
        .map(|_| rt.spawn(std::future::pending::<()>()))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = rt.spawn({
        let stop = stop.clone();
        async move {
            while !stop.load(Ordering::Relaxed) {
                let tasks: Vec<_> = (0..64)
                    .map(|_| corio_executor::spawn(corio_executor::yield_now()))
                    .collect();
                for task in tasks {
                    task.await;
                }
            }
        }
    });
    // Read for a while (a review saw a few dozen bad readings in 700,000 over 3 s).
    let started = Instant::now();
    let mut reads = 0u64;
    while started.elapsed() < Duration::from_millis(1500) {
        let m = rt.handle().metrics();
        reads += 1;
        assert!(
            m.spawned >= m.completed && m.alive >= 101,
            "read {reads}: alive {} (spawned {}, completed {}) with 101 tasks alive",
            m.alive,
            m.spawned,
            m.completed
        );
    }
    stop.store(true, Ordering::Relaxed);
    rt.block_on(churn);
    drop(held);
}
