//! Tasks queued on a worker are not stranded behind that worker's long poll or its nested
//! `block_on` while another worker is idle (found by a conformance probe: 8 tasks of 50 ms
//! spawned from a task ran one after another on 2 workers, and `block_on(spawn(..))` inside a
//! task hung for ever while the other worker slept).

mod support;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use corio_executor::Runtime;
use support::{async_oneshot, wait_until};

/// Two parties that each block their thread until both have arrived: they finish only if they
/// run at the same time, on two workers. Panics after 30 s instead of hanging.
#[derive(Clone, Default)]
struct Rendezvous(Arc<(Mutex<usize>, Condvar)>);

impl Rendezvous {
    fn arrive_and_wait(&self) {
        let (count, cond) = &*self.0;
        let mut count = count.lock().unwrap();
        *count += 1;
        cond.notify_all();
        let deadline = Instant::now() + Duration::from_secs(30);
        while *count < 2 {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the other task never ran alongside");
            count = cond.wait_timeout(count, left).unwrap().0;
        }
    }
}

fn two_workers_asleep() -> Runtime {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    wait_until("both workers sleep", || {
        rt.handle().metrics().sleeping_workers == 2
    });
    rt
}

/// A task spawns two children and awaits them. The second lands in the LIFO slot and runs
/// first on the spawner's worker, blocking it; the first waits in the private queue behind it.
/// It must go to the idle worker before that long poll starts.
#[test]
fn a_task_queued_behind_a_long_poll_goes_to_an_idle_worker() {
    let rt = two_workers_asleep();
    let meet = Rendezvous::default();
    let out = rt.block_on(rt.spawn(async move {
        let a = corio_executor::spawn({
            let meet = meet.clone();
            async move { meet.arrive_and_wait() }
        });
        let b = corio_executor::spawn(async move { meet.arrive_and_wait() });
        a.await;
        b.await;
        7
    }));
    assert_eq!(out, 7);
}

/// `block_on` inside a task blocks its worker; the task it waits for was spawned just before,
/// onto that worker's LIFO slot. It must run on the other worker.
#[test]
fn a_block_on_in_a_task_does_not_strand_the_tasks_queued_on_its_worker() {
    let rt = two_workers_asleep();
    let out = rt.block_on(rt.spawn(async {
        let child = corio_executor::spawn(async { 41 });
        let other = corio_executor::spawn(async { 1 });
        corio_executor::block_on(async { child.await + other.await })
    }));
    assert_eq!(out, 42);
}

/// `block_on` of a sibling task, nested in a task, completes with one worker, and with two
/// workers both blocked that way at once: a blocked worker runs the runtime's queued tasks while
/// its future waits (a probe found both hanging for ever, as on a 1-CPU container under
/// `corio::run`). Also through a `Queue`-like hand-off, where the putter is a sibling task.
#[test]
fn a_block_on_nested_in_a_task_runs_the_tasks_it_waits_for() {
    use std::sync::mpsc;

    let bounded = |what: &'static str, f: Box<dyn FnOnce() + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("hung: {what}"));
    };
    bounded(
        "block_on(spawn(..)) on one worker",
        Box::new(|| {
            let out = in_a_task_on_one_worker(async {
                corio_executor::block_on(corio_executor::spawn(async { 7 }))
            });
            assert_eq!(out, 7);
        }),
    );
    bounded(
        "two workers, each blocked on a sibling at once",
        Box::new(|| {
            let rt = Runtime::builder().worker_threads(2).build().unwrap();
            // Each parent blocks its worker until the other parent has blocked too, so both
            // workers are blocked when the children must run.
            let both = Rendezvous::default();
            let parents: Vec<_> = (0..2u32)
                .map(|i| {
                    let both = both.clone();
                    rt.spawn(async move {
                        let child = corio_executor::spawn(async move { i * 10 });
                        both.arrive_and_wait();
                        corio_executor::block_on(child)
                    })
                })
                .collect();
            let got: Vec<u32> = parents.into_iter().map(|p| rt.block_on(p)).collect();
            assert_eq!(got, [0, 10]);
        }),
    );
    bounded(
        "block_on two deep, on one worker",
        Box::new(|| {
            // The outer block_on runs the middle task, whose own block_on runs the inner one.
            let out = in_a_task_on_one_worker(async {
                corio_executor::block_on(corio_executor::spawn(async {
                    corio_executor::block_on(corio_executor::spawn(async { 3 })) + 1
                }))
            });
            assert_eq!(out, 4);
        }),
    );
    bounded(
        "a hand-off from a sibling task, on one worker",
        Box::new(|| {
            let out = in_a_task_on_one_worker(async {
                let (tx, rx) = async_oneshot();
                let _putter = corio_executor::spawn(async move {
                    corio_executor::yield_now().await;
                    tx.send(5);
                });
                corio_executor::block_on(rx)
            });
            assert_eq!(out, 5);
        }),
    );
}

/// Runs `future` inside a task of a new one-worker runtime, and returns its output.
fn in_a_task_on_one_worker<T: Send + 'static>(
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    rt.block_on(async { corio_executor::spawn(future).await })
}
