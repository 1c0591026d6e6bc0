//! Tasks queued on a worker are not stranded behind that worker's long poll or its nested
//! `block_on` while another worker is idle (found by a conformance probe: 8 tasks of 50 ms
//! spawned from a task ran one after another on 2 workers, and `block_on(spawn(..))` inside a
//! task hung for ever while the other worker slept).

mod support;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use corio_executor::Runtime;
use support::wait_until;

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
