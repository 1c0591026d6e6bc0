//! `corio::spawn_cpu` and the runtime's CPU pool, through the facade's names only.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use corio::cpu::CpuPool;
use corio::{Runtime, spawn_cpu};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A gate that CPU jobs block on until it is opened.
#[derive(Clone, Default)]
struct Latch(Arc<(Mutex<bool>, Condvar)>);

impl Latch {
    fn wait(&self) {
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
    }

    fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
}

/// Waits on the runtime's clock until `cond` holds (bounded, so that a bug fails instead of
/// hanging). The conditions are reached by causality; the bound is not a timing assertion.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if cond() {
            return;
        }
        corio::sleep(ms(1)).await;
    }
    panic!("timed out waiting until {what}");
}

#[test]
fn returns_the_closure_value_from_a_cpu_thread() {
    corio::run(async {
        assert_eq!(spawn_cpu(|| 6 * 7).await, 42);
        let name = spawn_cpu(|| std::thread::current().name().map(str::to_owned)).await;
        assert!(name.unwrap().starts_with("corio-cpu-"));
        let squares = corio::join_all((0..100u64).map(|i| spawn_cpu(move || i * i))).await;
        assert_eq!(squares, (0..100u64).map(|i| i * i).collect::<Vec<_>>());
    });
}

#[test]
fn works_on_a_local_runtime_and_outside_any_runtime() {
    assert_eq!(corio::run_local(async { spawn_cpu(|| 3).await }), 3);
    assert_eq!(corio::block_on(spawn_cpu(|| 5)), 5);
}

#[test]
fn a_panic_resumes_in_the_awaiter() {
    let rt = Runtime::builder().cpu_threads(1).build().unwrap();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async { spawn_cpu(|| -> u8 { std::panic::panic_any(7u32) }).await })
    }));
    assert_eq!(*caught.unwrap_err().downcast::<u32>().unwrap(), 7);
    // The pool thread survived, and the runtime goes on.
    // (Inside `block_on`: called outside, `spawn_cpu` would use the global runtime and pool.)
    assert_eq!(rt.block_on(async { spawn_cpu(|| 1).await }), 1);
    assert_eq!(rt.metrics().cpu_completed, 2);
}

#[test]
fn a_task_dropped_before_its_closure_starts_never_runs_it() {
    let rt = Runtime::builder().cpu_threads(1).build().unwrap();
    rt.block_on(async {
        let pool = CpuPool::current();
        for cancel in [false, true] {
            let latch = Latch::default();
            let l = latch.clone();
            let first = spawn_cpu(move || l.wait());
            until("the first job runs", || rt.metrics().cpu_running == 1).await;

            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            let second = spawn_cpu(move || r.store(true, Ordering::SeqCst));
            until("the second job is queued", || rt.metrics().cpu_queued == 1).await;
            let cancelled_before = pool.metrics().cancelled;
            if cancel {
                assert_eq!(second.cancel().await, None);
            } else {
                drop(second);
                until("the drop reaches the pool", || {
                    pool.metrics().cancelled > cancelled_before
                })
                .await;
            }
            assert_eq!(pool.metrics().cancelled, cancelled_before + 1);
            assert_eq!(rt.metrics().cpu_queued, 0);

            latch.open();
            first.await;
            // The queue is FIFO: once a later job has run, the cancelled one was passed over.
            spawn_cpu(|| ()).await;
            assert!(!ran.load(Ordering::SeqCst), "a cancelled closure ran");
        }
    });
}

#[test]
fn a_saturated_pool_starves_neither_to_thread_nor_the_loop() {
    let rt = Runtime::builder()
        .worker_threads(2)
        .cpu_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let latch = Latch::default();
        let capacity = CpuPool::current().metrics().queue_capacity;
        let n = 2 + capacity + 50;
        let jobs: Vec<_> = (0..n)
            .map(|_| {
                let l = latch.clone();
                spawn_cpu(move || l.wait())
            })
            .collect();
        let pool = CpuPool::current();
        until(
            "both CPU threads are busy, the queue full, 50 tasks waiting",
            || {
                let m = pool.metrics();
                m.running == 2 && m.queued == capacity && m.waiting_submitters == 50
            },
        )
        .await;

        // Nothing on the CPU pool can finish before the latch opens, so what completes now
        // completes while the pool is saturated.
        assert_eq!(corio::to_thread(|| 5).await, 5);
        let ticker = corio::spawn(async {
            let mut interval = corio::interval(ms(1));
            for _ in 0..5 {
                interval.tick().await;
            }
        });
        ticker.await;
        let m = rt.metrics();
        assert_eq!((m.cpu_running, m.cpu_completed), (2, 0));

        latch.open();
        corio::join_all(jobs).await;
        let m = rt.metrics();
        assert_eq!(
            (m.cpu_completed, m.cpu_queued, m.cpu_running),
            (n as u64, 0, 0)
        );
    });
}

#[test]
fn zero_cpu_threads_is_refused() {
    for result in [
        Runtime::builder().cpu_threads(0).build().map(drop),
        Runtime::builder().cpu_threads(0).build_local().map(drop),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("cpu_threads"), "{err}");
    }
}

#[test]
fn the_builder_sizes_the_pool() {
    let rt = Runtime::builder().cpu_threads(3).build().unwrap();
    let threads = rt.block_on(async { CpuPool::current().metrics().threads });
    assert_eq!(threads, 3);
}

#[test]
fn dropping_the_runtime_cancels_queued_jobs_and_stops_the_pool() {
    let rt = Runtime::builder().cpu_threads(1).build().unwrap();
    let latch = Latch::default();
    let (finished, ran) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let pool = rt.block_on(async {
        let (l, f) = (latch.clone(), finished.clone());
        spawn_cpu(move || {
            l.wait();
            f.store(true, Ordering::SeqCst);
        })
        .detach();
        until("the first job runs", || rt.metrics().cpu_running == 1).await;
        let r = ran.clone();
        spawn_cpu(move || r.store(true, Ordering::SeqCst)).detach();
        until("the second job is queued", || rt.metrics().cpu_queued == 1).await;
        CpuPool::current()
    });
    let opener = std::thread::spawn(move || {
        std::thread::sleep(ms(30));
        latch.open();
    });
    drop(rt);
    opener.join().unwrap();
    let m = pool.metrics();
    assert!(m.is_shut_down);
    assert_eq!(m.threads_alive, 0, "a CPU thread outlived its runtime");
    assert!(
        finished.load(Ordering::SeqCst),
        "the running job was let finish"
    );
    assert!(
        !ran.load(Ordering::SeqCst),
        "a queued job of a dropped task ran"
    );
    assert_eq!((m.completed, m.cancelled), (1, 1));
}

#[test]
fn virtual_time_waits_for_a_running_cpu_job() {
    // The loop is idle while the job computes, with a timer pending: virtual time must not
    // jump to the timeout meanwhile.
    let (result, elapsed) = corio::run_seeded(1, async {
        let start = corio::time::now();
        let r = corio::timeout(
            Duration::from_secs(5),
            spawn_cpu(|| {
                std::thread::sleep(ms(30));
                9
            }),
        )
        .await;
        (r, corio::time::now() - start)
    });
    assert_eq!(result, Ok(9));
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn a_timeout_mid_job_returns_at_once_and_the_job_finishes_alone() {
    let rt = Runtime::builder().cpu_threads(1).build().unwrap();
    rt.block_on(async {
        let latch = Latch::default();
        let finished = Arc::new(AtomicBool::new(false));
        let (l, f) = (latch.clone(), finished.clone());
        let job = spawn_cpu(move || {
            l.wait();
            f.store(true, Ordering::SeqCst);
        });
        until("the job runs", || rt.metrics().cpu_running == 1).await;
        // The job cannot finish before the latch opens, so the timeout wins, mid-job.
        let result = corio::timeout(ms(20), job).await;
        assert!(result.is_err());
        assert!(!finished.load(Ordering::SeqCst));
        assert_eq!(
            rt.metrics().cpu_running,
            1,
            "a started closure cannot be interrupted"
        );
        latch.open();
        until("the job finishes on its own", || {
            rt.metrics().cpu_completed == 1
        })
        .await;
        assert!(finished.load(Ordering::SeqCst));
        assert_eq!(CpuPool::current().metrics().cancelled, 0);
    });
}
