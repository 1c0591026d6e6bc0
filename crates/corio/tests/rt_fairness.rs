//! A task that is always ready cannot starve timers, I/O, or other tasks: on `run` and on
//! `run_local`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use corio::net::{TcpListener, TcpStream};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// Loops on an always-ready future until told to stop; counts its turns.
async fn hog(stop: Arc<AtomicBool>, turns: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        turns.fetch_add(1, Ordering::Relaxed);
        corio::yield_now().await;
    }
}

async fn starved_work() {
    let stop = Arc::new(AtomicBool::new(false));
    let turns = Arc::new(AtomicU64::new(0));
    let hogs: Vec<_> = (0..2)
        .map(|_| corio::spawn(hog(stop.clone(), turns.clone())))
        .collect();
    // Make sure the hogs are spinning before we ask for anything.
    while turns.load(Ordering::Relaxed) < 100 {
        corio::yield_now().await;
    }

    // A timer fires.
    corio::sleep(Duration::from_millis(5)).await;
    // Other tasks run.
    assert_eq!(corio::spawn(async { 7 }).await, 7);
    // I/O is served.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = corio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    server.await;

    assert!(
        turns.load(Ordering::Relaxed) > 100,
        "the hogs kept running meanwhile"
    );
    stop.store(true, Ordering::Relaxed);
    for h in hogs {
        h.await;
    }
}

/// Runs `f` on its own thread; starvation shows up as a failure with a message, not a hang.
fn within_a_minute(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("starved: timers, I/O or tasks made no progress next to always-ready tasks");
}

#[test]
fn hogs_do_not_starve_timers_io_or_tasks_on_run_local() {
    within_a_minute(|| corio::run_local(starved_work()));
}

#[test]
fn hogs_do_not_starve_timers_io_or_tasks_on_a_one_worker_runtime() {
    within_a_minute(|| {
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        // The whole scenario runs inside a task, so it competes with the hogs for the one worker.
        rt.block_on(rt.spawn(starved_work()));
    });
}

#[test]
fn hogs_do_not_starve_timers_io_or_tasks_on_run() {
    within_a_minute(|| corio::run(async { corio::spawn(starved_work()).await }));
}

use support::{LOOP_CAP, timeouts_fire_around_always_ready_loops};

#[test]
fn timeouts_fire_around_always_ready_loops_on_run_local() {
    within_a_minute(|| corio::run_local(timeouts_fire_around_always_ready_loops()));
}

#[test]
fn timeouts_fire_around_always_ready_loops_on_run() {
    within_a_minute(|| {
        corio::run(async { corio::spawn(timeouts_fire_around_always_ready_loops()).await })
    });
}

/// An always-ready loop of queue operations; returns if it reaches [`LOOP_CAP`].
async fn busy_loop() -> &'static str {
    let queue = corio::Queue::<u64>::bounded(4);
    for turn in 0..LOOP_CAP {
        queue.put(turn).await.unwrap();
        queue.get().await.unwrap();
    }
    "the loop ran to its end"
}

async fn deadline_after(ms: u64) -> &'static str {
    corio::sleep(Duration::from_millis(ms)).await;
    "deadline"
}

/// A due sleep polled *after* an always-ready future in the same task (which has spent the
/// cooperative budget by then) still completes: in `race`, in a biased `select!`, in
/// `try_join!`, and when the deadline has already passed at its first poll.
async fn deadlines_polled_after_busy_futures_complete() {
    assert_eq!(
        corio::race(busy_loop(), deadline_after(10)).await,
        "deadline"
    );
    let chosen = corio::select! {
        biased;
        r = busy_loop() => r,
        r = deadline_after(10) => r,
    };
    assert_eq!(chosen, "deadline");
    let joined = corio::try_join!(async { Ok::<_, &str>(busy_loop().await) }, async {
        Err::<(), _>(deadline_after(10).await)
    },);
    assert_eq!(joined.unwrap_err(), "deadline");
    let past = std::time::Instant::now();
    let already_due = async {
        corio::sleep_until(past).await;
        "deadline"
    };
    assert_eq!(corio::race(busy_loop(), already_due).await, "deadline");
}

#[test]
fn deadlines_polled_after_busy_futures_complete_on_run_local() {
    within_a_minute(|| corio::run_local(deadlines_polled_after_busy_futures_complete()));
}

#[test]
fn deadlines_polled_after_busy_futures_complete_on_run() {
    within_a_minute(|| {
        corio::run(async { corio::spawn(deadlines_polled_after_busy_futures_complete()).await })
    });
}

/// A biased `select!` in a loop, with an always-ready queue arm first and a deadline behind it:
/// the queue spends the cooperative budget, and the deadline is seen when it runs out.
async fn a_biased_select_loop_sees_a_deadline_behind_a_ready_queue() {
    let queue = corio::Queue::<u64>::unbounded();
    for item in 0..LOOP_CAP / 4 {
        queue.try_put(item).unwrap();
    }
    let deadline = corio::sleep(Duration::from_millis(10));
    let mut deadline = std::pin::pin!(deadline);
    loop {
        let hit_deadline = corio::select! {
            biased;
            _ = queue.get() => false,
            _ = &mut deadline => true,
        };
        if hit_deadline {
            break;
        }
        assert!(!queue.is_empty(), "the deadline never won");
    }
}

#[test]
fn a_biased_select_loop_sees_a_deadline_behind_a_ready_queue_on_run_local() {
    within_a_minute(|| {
        corio::run_local(a_biased_select_loop_sees_a_deadline_behind_a_ready_queue())
    });
}

/// A loop of deadlines that are already due (`timeout(ZERO, ..)`, an expired `move_on_after` or
/// `fail_after`) yields to the rest of the thread: each completion spends cooperative budget.
async fn loops_of_expired_deadlines_yield() {
    for kind in 0..4 {
        let stop = Arc::new(AtomicBool::new(false));
        let spinning = stop.clone();
        let spinner = corio::spawn_local(async move {
            while !spinning.load(Ordering::Relaxed) {
                match kind {
                    0 => {
                        let _ = corio::timeout(Duration::ZERO, std::future::pending::<()>()).await;
                    }
                    1 => {
                        let sleep = corio::sleep(Duration::from_secs(1));
                        let _ = corio::timeout(Duration::ZERO, sleep).await;
                    }
                    2 => {
                        let pending = std::future::pending::<()>();
                        let _ = corio::scope::move_on_after(Duration::ZERO, pending).await;
                    }
                    _ => {
                        let pending = std::future::pending::<()>();
                        let _ = corio::scope::fail_after(Duration::ZERO, pending).await;
                    }
                }
            }
        });
        // The spinner runs first; this task gets the thread back only if it yields.
        corio::yield_now().await;
        stop.store(true, Ordering::Relaxed);
        spinner.await;
    }
}

#[test]
fn loops_of_expired_deadlines_yield_on_run_local() {
    within_a_minute(|| corio::run_local(loops_of_expired_deadlines_yield()));
}
