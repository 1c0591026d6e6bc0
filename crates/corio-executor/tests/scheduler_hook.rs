//! `task::Builder::spawn_with_scheduler`: a task whose runnables go to a caller's function (a
//! thread of our own here), with every `Task` method working as for a runtime's task.

mod support;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;

use corio_executor::task::{Builder, Runnable};
use corio_executor::{Report, block_on};
use support::async_oneshot;

/// Runnables handed to us, run only when the test says so.
#[derive(Clone, Default)]
struct Manual(Arc<Mutex<Vec<Runnable>>>);

impl Manual {
    fn scheduler(&self) -> impl Fn(Runnable) + Send + Sync + 'static {
        let queue = self.0.clone();
        move |r| queue.lock().unwrap().push(r)
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Runs every runnable queued now; returns how many.
    fn run_all(&self) -> usize {
        let ready: Vec<_> = std::mem::take(&mut *self.0.lock().unwrap());
        let n = ready.len();
        for r in ready {
            r.run();
        }
        n
    }
}

/// A thread that runs whatever it is given, like a pool of one.
fn worker() -> (mpsc::Sender<Runnable>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Runnable>();
    let join = thread::spawn(move || {
        for r in rx {
            r.run();
        }
    });
    (tx, join)
}

/// Ready on its second poll, waking itself on the first.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.0 {
            return Poll::Ready(2);
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn scheduled_at_spawn_and_at_each_wake() {
    let manual = Manual::default();
    let task = Builder::new().spawn_with_scheduler(YieldOnce(false), manual.scheduler());
    assert_eq!(
        manual.len(),
        1,
        "scheduled once before spawn_with_scheduler returns"
    );
    assert!(!task.is_finished());
    assert_eq!(manual.run_all(), 1); // pending, woken while running: scheduled again
    assert!(!task.is_finished());
    assert_eq!(manual.run_all(), 1);
    assert!(task.is_finished());
    assert_eq!(manual.run_all(), 0);
    assert_eq!(block_on(task), 2);
}

#[test]
fn dropped_or_cancelled_before_it_runs_it_is_never_polled() {
    for cancel in [false, true] {
        let manual = Manual::default();
        let polled = Arc::new(AtomicBool::new(false));
        let p = polled.clone();
        let task = Builder::new().spawn_with_scheduler(
            async move {
                p.store(true, Ordering::SeqCst);
            },
            manual.scheduler(),
        );
        if cancel {
            // Returns at once: it does not wait for the runnable to run.
            assert_eq!(block_on(task.cancel()), None);
        } else {
            drop(task);
        }
        manual.run_all();
        assert!(!polled.load(Ordering::SeqCst));
    }
}

#[test]
fn cancel_after_it_finished_returns_the_output_and_detach_lets_it_run() {
    let manual = Manual::default();
    let task = Builder::new().spawn_with_scheduler(async { 5 }, manual.scheduler());
    manual.run_all();
    assert_eq!(block_on(task.cancel()), Some(5));

    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    Builder::new()
        .spawn_with_scheduler(
            async move { r.store(true, Ordering::SeqCst) },
            manual.scheduler(),
        )
        .detach();
    manual.run_all();
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn a_dropped_runnable_shows_as_shut_down_to_the_awaiter() {
    let manual = Manual::default();
    let task = Builder::new().spawn_with_scheduler(async { 1 }, manual.scheduler());
    drop(std::mem::take(&mut *manual.0.lock().unwrap()));
    assert!(task.is_finished());
    let caught = catch_unwind(AssertUnwindSafe(|| block_on(task))).unwrap_err();
    let msg = caught.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("cancelled"), "{msg}");
}

#[test]
fn runs_on_the_scheduler_thread_with_its_id_and_a_panic_resumes_in_the_awaiter() {
    let (tx, join) = worker();
    let tx = Mutex::new(tx);
    let schedule = Arc::new(move |r| tx.lock().unwrap().send(r).unwrap());
    let s = schedule.clone();
    let task = Builder::new().name("hooked").spawn_with_scheduler(
        async { (thread::current().id(), corio_executor::task::id()) },
        move |r| s(r),
    );
    let id = task.id();
    assert!(format!("{task:?}").contains(&format!("{id:?}")));
    let (thread_id, seen) = block_on(task);
    assert_ne!(thread_id, thread::current().id());
    assert_eq!(seen, Some(id));

    let s = schedule.clone();
    let task = Builder::new()
        .spawn_with_scheduler(async { std::panic::panic_any::<u16>(9) }, move |r| s(r));
    let caught = catch_unwind(AssertUnwindSafe(|| block_on(task))).unwrap_err();
    assert_eq!(*caught.downcast::<u16>().unwrap(), 9);
    drop(schedule);
    join.join().unwrap();
}

#[test]
fn inside_a_runtime_it_takes_its_report_hook_and_shows_in_its_dump() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    let rt = corio_executor::Runtime::builder()
        .worker_threads(1)
        .debug(true)
        .report_hook(move |report: &Report| r.lock().unwrap().push(report.to_string()))
        .build()
        .unwrap();
    let manual = Manual::default();
    let (task, id) = rt.block_on(async {
        let task = Builder::new()
            .name("hooked")
            .spawn_with_scheduler(async { 1 }, manual.scheduler());
        let id = task.id();
        let dump = corio_executor::dump();
        let snapshot = dump.tasks.iter().find(|t| t.id == id).expect("in the dump");
        assert_eq!(snapshot.name.as_deref(), Some("hooked"));
        let lost = Builder::new()
            .name("lost")
            .spawn_with_scheduler(async { panic!("nobody awaits me") }, manual.scheduler());
        lost.detach();
        (task, id)
    });
    // Run on this thread, which is in no runtime: the report still goes to the runtime's hook.
    assert_eq!(manual.run_all(), 2);
    assert_eq!(block_on(task), 1);
    assert!(
        !rt.handle().dump().tasks.iter().any(|t| t.id == id),
        "left the dump"
    );
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].contains("nobody awaits me") && reports[0].contains("lost"),
        "{reports:?}"
    );
    // It was never the runtime's task: the runtime counts none of it.
    drop(reports);
    // Polled (and pending once) on a thread inside the runtime, it still belongs to none: it
    // does not enter the runtime's idle registry, nor its counts.
    let two = rt.block_on(async {
        let task = Builder::new().spawn_with_scheduler(YieldOnce(false), manual.scheduler());
        assert_eq!(manual.run_all(), 1);
        assert_eq!(rt.handle().metrics().idle_tasks, 0);
        assert_eq!(manual.run_all(), 1);
        task.await
    });
    assert_eq!(two, 2);
    // `block_on`'s future is no task: nothing was spawned on the runtime, nothing ended there.
    let m = rt.handle().metrics();
    assert_eq!(
        (m.spawned, m.completed, m.alive, m.idle_tasks),
        (0, 0, 0, 0)
    );
}

#[test]
fn many_threads_waking_many_hooked_tasks_lose_no_wakeup() {
    // Futures that wait for a value sent from another thread, scheduled onto two threads of
    // our own, awaited from a multi-threaded runtime.
    let (tx1, join1) = worker();
    let (tx2, join2) = worker();
    let txs = Arc::new(Mutex::new(vec![tx1, tx2]));
    let next = Arc::new(AtomicUsize::new(0));
    let rt = corio_executor::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let total: u64 = rt.block_on(async {
        let mut tasks = Vec::new();
        let mut senders = Vec::new();
        for i in 0..2_000u64 {
            let (send, recv) = async_oneshot();
            senders.push((send, i));
            let txs = txs.clone();
            let next = next.clone();
            tasks.push(Builder::new().spawn_with_scheduler(recv, move |r| {
                let k = next.fetch_add(1, Ordering::Relaxed) % 2;
                txs.lock().unwrap()[k].send(r).unwrap();
            }));
        }
        let feeders: Vec<_> = senders
            .chunks(500)
            .map(|chunk| {
                let chunk: Vec<_> = chunk.iter().map(|(s, i)| (s.clone(), *i)).collect();
                thread::spawn(move || {
                    for (s, i) in chunk {
                        s.send(i);
                    }
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await;
        }
        for f in feeders {
            f.join().unwrap();
        }
        total
    });
    assert_eq!(total, (0..2_000u64).sum());
    txs.lock().unwrap().clear();
    join1.join().unwrap();
    join2.join().unwrap();
}
