//! The floor: the least a single-threaded executor can do. A thread-local `VecDeque` of
//! async-task runnables, run in FIFO order until the root task is done. No timers, no I/O, no
//! cross-thread wakes (a wake from another thread would land on that thread's queue), no
//! panic handling: it only runs `spawn_many` and `yield_many`, as the lower bound to compare
//! corio's single-threaded loop against.
//!
//! For `file_io` the floor is no executor at all: the same file written and read back with
//! std's blocking `write_all` and `read_exact` in a plain loop on the calling thread, with the
//! same chunks, the same check and the same untimed removal as the runtimes' version
//! ([`file_io_with`](crate::rt_corio::file_io_with)). What is left is the system calls and the
//! page-cache copies, the physical floor of any runtime's file path (issue 17).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Instant;

use async_task::{Runnable, Task};

use crate::outcome::Outcome;
use crate::workload::{FILE_CHUNK, FileChunks, Sizes, Workload, file_path};

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
            Workload::FileIo => file_io(s.file_chunks),
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

/// `file_io` without a runtime: `rt_corio::file_io_with`'s steps, in the same order, on std's
/// blocking file.
fn file_io(chunks: usize) -> Outcome {
    let path = file_path("floor");
    let chunk = FileChunks::new();
    let mut out = Vec::new();
    let start = Instant::now();
    let mut file = std::fs::File::create(&path).expect("create");
    for i in 0..chunks {
        file.write_all(chunk.stamp(&mut out, i)).expect("write");
    }
    file.flush().expect("flush");
    drop(file);
    let mut file = std::fs::File::open(&path).expect("open");
    let mut buf = vec![0u8; FILE_CHUNK];
    let mut ok = 0;
    for i in 0..chunks {
        file.read_exact(&mut buf).expect("read");
        ok += u64::from(chunk.check(black_box(&buf), i));
    }
    let outcome = Outcome::since(start, ok);
    drop(file);
    let _ = std::fs::remove_file(&path);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Scale;

    #[test]
    fn the_file_io_floor_checks_every_chunk_and_cleans_up() {
        let sizes = Sizes::new(Scale::Tiny);
        let outcome = Bench.iteration(Workload::FileIo, sizes);
        assert_eq!(outcome.check, Workload::FileIo.expected(&sizes));
        assert!(outcome.check > 0);
        assert!(
            !file_path("floor").exists(),
            "the floor left its file behind"
        );
    }

    #[test]
    fn the_floor_runs_file_io_at_every_worker_count_and_the_executor_rows_on_one() {
        use crate::workload::Runtime;
        for workers in [1, 2, 8] {
            assert!(Runtime::Floor.supports(Workload::FileIo, workers));
            assert_eq!(
                Runtime::Floor.supports(Workload::SpawnMany, workers),
                workers == 1
            );
        }
        assert!(!Runtime::Floor.supports(Workload::TcpEcho, 1));
    }
}
