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
        let capacity = pool.metrics().queue_capacity;
        // Dropped, or cancelled, while queued behind a running job, or while held in the pool's
        // line behind a full queue.
        for (cancel, in_line) in [(false, false), (true, false), (false, true), (true, true)] {
            let before = pool.metrics();
            let latch = Latch::default();
            let l = latch.clone();
            let first = spawn_cpu(move || l.wait());
            until("the first job runs", || rt.metrics().cpu_running == 1).await;
            let fillers: Vec<_> = (0..if in_line { capacity } else { 0 })
                .map(|_| spawn_cpu(|| ()))
                .collect();

            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            let second = spawn_cpu(move || r.store(true, Ordering::SeqCst));
            // Handed over at the call: no poll of anything was needed.
            let m = pool.metrics();
            if in_line {
                assert_eq!((m.queued, m.waiting_submitters), (capacity, 1));
            } else {
                assert_eq!((m.queued, m.waiting_submitters), (1, 0));
            }
            if cancel {
                assert_eq!(second.cancel().await, None);
            } else {
                drop(second);
            }
            // It keeps its place until a thread takes it (and drops it, unrun).
            assert_eq!(pool.metrics().cancelled, before.cancelled);

            latch.open();
            first.await;
            corio::join_all(fillers).await;
            // The queue is FIFO: once a later job has run, the cancelled one was passed over.
            spawn_cpu(|| ()).await;
            assert!(!ran.load(Ordering::SeqCst), "a cancelled closure ran");
            let m = pool.metrics();
            let fillers = if in_line { capacity as u64 } else { 0 };
            assert_eq!(m.cancelled, before.cancelled + 1);
            assert_eq!(m.completed, before.completed + 2 + fillers);
            assert_eq!((m.queued, m.running, m.waiting_submitters), (0, 0, 0));
        }
    });
}

#[test]
fn cancel_and_detach_and_the_handle() {
    let rt = Runtime::builder().cpu_threads(2).build().unwrap();
    rt.block_on(async {
        // `cancel` of a finished job returns its value.
        let task = spawn_cpu(|| 11);
        until("the job finishes", || rt.metrics().cpu_completed == 1).await;
        until("the task is finished", || task.is_finished()).await;
        assert!(format!("{task:?}").contains("finished: true"), "{task:?}");
        assert_eq!(task.cancel().await, Some(11));

        // `cancel` of a running job does not wait for it (documented on `Task::cancel`): it
        // returns `None` while the closure still runs, and the closure then runs to its end.
        let latch = Latch::default();
        let (l, finished) = (latch.clone(), Arc::new(AtomicBool::new(false)));
        let (f, began) = (finished.clone(), Arc::new(AtomicBool::new(false)));
        let b = began.clone();
        let started = rt.metrics().cpu_completed;
        let task = spawn_cpu(move || {
            b.store(true, Ordering::SeqCst);
            l.wait();
            f.store(true, Ordering::SeqCst);
            12
        });
        // The closure itself, not only the pool's job around it (`cpu_running` counts that
        // from when a thread takes it, before the task is polled), has started.
        until("the closure runs", || began.load(Ordering::SeqCst)).await;
        assert_eq!(task.cancel().await, None);
        assert!(
            !finished.load(Ordering::SeqCst),
            "cancel waited for the job"
        );
        latch.open();
        until("the job ends", || rt.metrics().cpu_completed == started + 1).await;
        assert!(finished.load(Ordering::SeqCst));

        // A detached job runs by itself.
        let (tx, rx) = std::sync::mpsc::channel();
        spawn_cpu(move || tx.send(5).unwrap()).detach();
        assert_eq!(corio::to_thread(move || rx.recv().unwrap()).await, 5);

        // The closure runs as the task: its id, and the task-locals in scope at the call.
        let (seen, id) = LABEL
            .scope(3, async {
                let task = spawn_cpu(|| (corio::task::id(), LABEL.with(|l| *l)));
                let id = task.id();
                (task.await, id)
            })
            .await;
        assert_eq!(seen, (Some(id), 3));
        let ids: Vec<_> = corio::join_all((0..3).map(|_| {
            let t = spawn_cpu(corio::task::id);
            let id = t.id();
            async move { (t.await, id) }
        }))
        .await;
        for (seen, id) in ids {
            assert_eq!(seen, Some(id));
        }
    });
}

corio::task_local! {
    static LABEL: u32;
}

/// A runtime with one CPU thread, and the reports its hook receives.
fn one_cpu_thread_reporting() -> (Runtime, Arc<Mutex<Vec<String>>>) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    let rt = Runtime::builder()
        .cpu_threads(1)
        .report_hook(move |report| r.lock().unwrap().push(report.to_string()))
        .build()
        .unwrap();
    (rt, reports)
}

#[test]
fn a_panic_nobody_awaits_goes_to_the_runtime_report_hook() {
    let (rt, reports) = one_cpu_thread_reporting();
    rt.block_on(async {
        spawn_cpu(|| -> u8 { panic!("lost pixel") }).detach();
        until("the report arrives", || !reports.lock().unwrap().is_empty()).await;
    });
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("lost pixel"), "{reports:?}");
    assert!(reports[0].contains("spawn_cpu"), "{reports:?}");
    assert_eq!(rt.metrics().cpu_completed, 1);
}

/// A job's value whose destructor panics, dropped on the CPU thread because the job's `Task`
/// was dropped first: the panic goes to the runtime's report hook, named after the job, not to
/// stderr (the CPU thread is outside the runtime).
#[test]
fn a_panic_dropping_an_untaken_value_goes_to_the_runtime_report_hook() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("output destructor");
        }
    }
    let (rt, reports) = one_cpu_thread_reporting();
    rt.block_on(async {
        let latch = Latch::default();
        let l = latch.clone();
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let job = spawn_cpu(move || {
            s.store(true, Ordering::SeqCst);
            l.wait();
            Bomb
        });
        // Dropped once running: a job dropped before it starts never runs.
        until("the job runs", || started.load(Ordering::SeqCst)).await;
        drop(job);
        latch.open();
        until("the report arrives", || !reports.lock().unwrap().is_empty()).await;
    });
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("output destructor"), "{reports:?}");
    assert!(reports[0].contains("spawn_cpu"), "{reports:?}");
    assert!(reports[0].contains("output"), "{reports:?}");
}

#[test]
fn debug_mode_dumps_the_job_by_name_until_it_ends() {
    let rt = Runtime::builder()
        .cpu_threads(1)
        .debug(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let latch = Latch::default();
        let l = latch.clone();
        let job = spawn_cpu(move || l.wait());
        let id = job.id();
        let listed = |dump: corio::Dump| dump.tasks.iter().any(|t| t.id == id);
        let dump = corio::dump();
        let snapshot = dump
            .tasks
            .iter()
            .find(|t| t.id == id)
            .expect("the job is in the dump");
        assert_eq!(snapshot.name.as_deref(), Some("spawn_cpu"));
        assert!(
            snapshot.location.file().ends_with("spawn_cpu.rs"),
            "{:?}",
            snapshot.location
        );
        until("the job runs", || rt.metrics().cpu_running == 1).await;
        assert!(listed(corio::dump()));
        latch.open();
        job.await;
        until("the job leaves the dump", || !listed(corio::dump())).await;
    });
}

#[test]
fn many_submitters_on_threads_and_tasks_lose_no_wakeup() {
    let rt = Runtime::builder()
        .worker_threads(2)
        .cpu_threads(2)
        .build()
        .unwrap();
    let handle = rt.handle();
    // More jobs in flight than the queue holds (512), from tasks on the workers and from plain
    // threads (which use the global pool), some dropped at once.
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            std::thread::spawn(move || {
                corio::block_on(async move {
                    let jobs = (0..400u64).map(|i| spawn_cpu(move || t * 1000 + i));
                    let got = corio::join_all(jobs).await;
                    assert_eq!(got, (0..400).map(|i| t * 1000 + i).collect::<Vec<_>>());
                });
            })
        })
        .collect();
    let tasks: Vec<_> = (0..8u64)
        .map(|t| {
            handle.spawn(async move {
                let mut sum = 0;
                for round in 0..5u64 {
                    let jobs: Vec<_> = (0..60u64)
                        .map(|i| spawn_cpu(move || t + round + i))
                        .collect();
                    // Drop every third one: it may be queued, running or done.
                    let mut kept = Vec::new();
                    for (i, job) in jobs.into_iter().enumerate() {
                        if i % 3 == 0 {
                            drop(job)
                        } else {
                            kept.push(job)
                        }
                    }
                    for job in kept {
                        sum += job.await;
                    }
                }
                sum
            })
        })
        .collect();
    let sums = rt.block_on(corio::join_all(tasks));
    for (t, sum) in sums.into_iter().enumerate() {
        let t = t as u64;
        let want: u64 = (0..5u64)
            .flat_map(|round| {
                (0..60u64)
                    .filter(|i| i % 3 != 0)
                    .map(move |i| t + round + i)
            })
            .sum();
        assert_eq!(sum, want);
    }
    for thread in threads {
        thread.join().unwrap();
    }
    // Every job of the runtime's pool is accounted for: ran or cancelled, exactly once.
    let pool = rt.block_on(async { CpuPool::current() });
    rt.block_on(async {
        until("the pool is drained", || {
            let m = pool.metrics();
            m.queued == 0 && m.running == 0 && m.waiting_submitters == 0
        })
        .await;
    });
    let m = pool.metrics();
    assert_eq!(m.completed + m.cancelled, 8 * 5 * 60);
    assert!(m.completed >= 8 * 5 * 40);
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
fn virtual_time_waits_for_queued_cpu_jobs_too() {
    // More jobs than CPU threads: some wait in the queue while the loop is idle with a timer
    // pending; virtual time must not jump to it until the last one is done.
    let threads = corio::run_seeded(2, async { CpuPool::current().metrics().threads });
    let (results, elapsed) = corio::run_seeded(2, async move {
        let start = corio::time::now();
        let jobs = (0..threads as u64 * 3).map(|i| {
            spawn_cpu(move || {
                std::thread::sleep(ms(5));
                i
            })
        });
        let r = corio::timeout(Duration::from_secs(5), corio::join_all(jobs)).await;
        (r, corio::time::now() - start)
    });
    assert_eq!(results, Ok((0..threads as u64 * 3).collect::<Vec<_>>()));
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

#[test]
fn cpu_queued_counts_the_jobs_in_line_behind_a_full_queue() {
    // Probe R: with one thread busy and 1,000 jobs submitted, `cpu_queued` read 256 (the
    // queue's capacity); the other jobs, in the pool's line, were counted nowhere in
    // `RuntimeMetrics`.
    let rt = Runtime::builder().cpu_threads(1).build().unwrap();
    let latch = Latch::default();
    let (started_tx, started) = std::sync::mpsc::channel();
    let tasks = rt.block_on(async {
        let gate = latch.clone();
        let first = spawn_cpu(move || {
            started_tx.send(()).unwrap();
            gate.wait();
        });
        let rest: Vec<_> = (0..1000).map(|i| spawn_cpu(move || i)).collect();
        (first, rest)
    });
    started.recv().unwrap();
    assert_eq!(rt.metrics().cpu_queued, 1000);
    latch.open();
    let (first, rest) = tasks;
    rt.block_on(async move {
        first.await;
        for (i, task) in rest.into_iter().enumerate() {
            assert_eq!(task.await, i);
        }
    });
    assert_eq!(rt.metrics().cpu_queued, 0);
}
