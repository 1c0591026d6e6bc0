//! The floor: the least a single-threaded executor can do. A thread-local `VecDeque` of
//! async-task runnables, run in FIFO order until the root task is done. No timers, no I/O, no
//! cross-thread wakes (a wake from another thread would land on that thread's queue), no
//! panic handling: it only runs `spawn_many` and `yield_many`, as the lower bound to compare
//! corio's single-threaded loop against.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::hint::black_box;
use std::time::Instant;

use async_task::{Runnable, Task};

use crate::outcome::Outcome;
use crate::workload::{Sizes, Workload};

thread_local! {
    static QUEUE: RefCell<VecDeque<Runnable>> = const { RefCell::new(VecDeque::new()) };
}

fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let schedule = |runnable| QUEUE.with(|q| q.borrow_mut().push_back(runnable));
    let (runnable, task) = async_task::spawn(future, schedule);
    runnable.schedule();
    task
}

fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let root = spawn(future);
    while let Some(runnable) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        runnable.run();
    }
    assert!(
        root.is_finished(),
        "the floor ran dry before its root task finished"
    );
    futures_lite::future::block_on(root)
}

/// The floor "runtime": stateless, one thread.
#[derive(Debug)]
pub(crate) struct Bench;

impl Bench {
    /// Runs one iteration in a root task, like the real runtimes.
    pub(crate) fn iteration(&self, workload: Workload, s: Sizes) -> Outcome {
        match workload {
            Workload::SpawnMany => block_on(spawn_many(s.spawn_many)),
            Workload::YieldMany => block_on(yield_many(s.yield_tasks, s.yields)),
            other => panic!("the floor does not run {other}"),
        }
    }
}

async fn spawn_many(n: usize) -> Outcome {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n as u64 {
        handles.push(spawn(async move { black_box(i) }));
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    Outcome::since(start, sum)
}

async fn yield_many(tasks: usize, yields: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            spawn(async move {
                for _ in 0..yields {
                    futures_lite::future::yield_now().await;
                }
                yields as u64
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        done += handle.await;
    }
    Outcome::since(start, done)
}
