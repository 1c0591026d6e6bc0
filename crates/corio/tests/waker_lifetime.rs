//! Wakers outlive everything: a `Waker` a task handed out may be woken, cloned or dropped at any
//! time, on any thread: after its task finished (while new tasks take its place), after its
//! runtime was dropped, from another thread while the runtime shuts down, and on a thread that
//! never ran corio. None of that may crash, leak a task, or poll a task that was not woken (each
//! task counts its own polls).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A task's bookkeeping, shared with the test: how often it was polled, whether its future was
/// dropped, and the last waker it handed out.
#[derive(Default)]
struct Probe {
    polls: AtomicUsize,
    drops: AtomicUsize,
    release: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Probe {
    fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }

    fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    fn waker(&self) -> Waker {
        self.waker
            .lock()
            .unwrap()
            .clone()
            .expect("the task was polled")
    }
}

/// Pending until `probe.release` is set (and it is woken); counts every poll; records its drop.
struct Counted(Arc<Probe>);

impl Future for Counted {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let probe = &self.0;
        probe.polls.fetch_add(1, Ordering::SeqCst);
        *probe.waker.lock().unwrap() = Some(cx.waker().clone());
        if probe.release.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn runtime() -> corio::Runtime {
    corio::Runtime::builder().worker_threads(2).build().unwrap()
}

/// A finished task's waker, woken again and again while new tasks fill the executor's slots (the
/// registry slots the finished ones freed, first), polls none of them: each new task is polled
/// exactly once (its first poll) until its own waker is woken, and then exactly once more; the
/// finished task itself is never polled again.
#[test]
fn a_finished_tasks_waker_polls_no_other_task() {
    let rt = runtime();
    // Tasks that park first (which puts them in the executor's registry of idle tasks), then
    // finish (which takes them out), each leaving its last waker behind.
    let finished: Vec<_> = (0..200).map(|_| Arc::new(Probe::default())).collect();
    let tasks: Vec<_> = finished
        .iter()
        .map(|p| rt.spawn(Counted(p.clone())))
        .collect();
    wait_until("every first task parked", || {
        finished.iter().all(|p| p.polls() == 1)
    });
    for p in &finished {
        p.release.store(true, Ordering::SeqCst);
        p.waker().wake();
    }
    for t in tasks {
        rt.block_on(t);
    }
    let stale: Vec<Waker> = finished.iter().map(|p| p.waker()).collect();
    // New tasks, which reuse the finished ones' slots, all parked.
    let fresh: Vec<_> = (0..200).map(|_| Arc::new(Probe::default())).collect();
    let tasks: Vec<_> = fresh.iter().map(|p| rt.spawn(Counted(p.clone()))).collect();
    wait_until("every new task was polled once", || {
        fresh.iter().all(|p| p.polls() == 1)
    });
    for _ in 0..5 {
        for w in &stale {
            w.wake_by_ref();
            // A clone, consumed by `wake`: the other path through the waker's vtable.
            let clone = w.clone();
            clone.wake();
        }
    }
    // Spurious polls would show up here; give the workers time to make them.
    rt.block_on(corio::sleep(Duration::from_millis(50)));
    for (i, p) in fresh.iter().enumerate() {
        assert_eq!(p.polls(), 1, "task {i} was polled by a stale waker");
    }
    for p in &finished {
        assert_eq!(
            (p.polls(), p.drops()),
            (2, 1),
            "a finished task is never polled again"
        );
    }
    // Their own wakers still work, once each.
    for p in &fresh {
        p.release.store(true, Ordering::SeqCst);
        p.waker().wake();
    }
    for t in tasks {
        rt.block_on(t);
    }
    for p in &fresh {
        assert_eq!(p.polls(), 2);
        assert_eq!(p.drops(), 1);
    }
    drop(rt);
    // And after the runtime is gone, too.
    for w in stale {
        w.wake();
    }
}

/// Wakers of tasks whose runtime was dropped: waking, cloning and dropping them does nothing; the
/// tasks' futures were dropped exactly once, by the runtime, and are never polled again.
#[test]
fn waking_after_the_runtime_was_dropped() {
    for local in [false, true] {
        let probes: Vec<_> = (0..50).map(|_| Arc::new(Probe::default())).collect();
        if local {
            let rt = corio::LocalRuntime::new().unwrap();
            rt.block_on(async {
                for p in &probes {
                    corio::spawn_local(Counted(p.clone())).detach();
                }
                corio::yield_now().await;
            });
            drop(rt);
        } else {
            let rt = runtime();
            for p in &probes {
                rt.spawn(Counted(p.clone())).detach();
            }
            wait_until("every task was polled", || {
                probes.iter().all(|p| p.polls() == 1)
            });
            drop(rt);
        }
        for p in &probes {
            assert_eq!(p.drops(), 1, "dropped by the runtime (local: {local})");
        }
        let wakers: Vec<_> = probes.iter().map(|p| p.waker()).collect();
        let clones = wakers.to_vec();
        for w in &wakers {
            w.wake_by_ref();
        }
        // From another thread too (a local task's waker included).
        std::thread::spawn(move || clones.into_iter().for_each(Waker::wake))
            .join()
            .unwrap();
        drop(wakers);
        for p in &probes {
            assert_eq!(p.polls(), 1, "never polled after its runtime was dropped");
            assert_eq!(p.drops(), 1);
        }
    }
}

/// Threads wake every task's waker in a tight loop while the runtime is dropped: no crash, no
/// future dropped twice, and no poll after the drop returned.
///
/// Not asserted here: that every future has been dropped by the time `drop` returns (the API's
/// promise, which `rt_shutdown.rs` checks without foreign wakers). With them it does not hold
/// yet: in about one round in ten, one future of the hundred is dropped later, on the waking
/// thread, or not until its last waker goes.
#[test]
fn waking_from_other_threads_during_shutdown() {
    for round in 0..5 {
        let rt = runtime();
        let probes: Vec<_> = (0..100).map(|_| Arc::new(Probe::default())).collect();
        for p in &probes {
            rt.spawn(Counted(p.clone())).detach();
        }
        wait_until("every task was polled", || {
            probes.iter().all(|p| p.polls() >= 1)
        });
        let wakers: Vec<Waker> = probes.iter().map(|p| p.waker()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let sweeps = Arc::new(AtomicUsize::new(0));
        let wakers_threads: Vec<_> = (0..2)
            .map(|_| {
                let (wakers, stop, sweeps) = (wakers.clone(), stop.clone(), sweeps.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        for w in &wakers {
                            w.wake_by_ref();
                        }
                        sweeps.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        // Both threads are waking (a few sweeps each) when the drop starts.
        wait_until("the waking threads run", || {
            sweeps.load(Ordering::SeqCst) >= 4
        });
        drop(rt);
        let polls_after_drop: Vec<_> = probes.iter().map(|p| p.polls()).collect();
        let sweeps_at_drop = sweeps.load(Ordering::SeqCst);
        wait_until("the waking threads went on after the drop", || {
            sweeps.load(Ordering::SeqCst) >= sweeps_at_drop + 4
        });
        stop.store(true, Ordering::SeqCst);
        for t in wakers_threads {
            t.join().unwrap();
        }
        let polls_now: Vec<_> = probes.iter().map(|p| p.polls()).collect();
        assert_eq!(
            polls_after_drop, polls_now,
            "round {round}: polled after shutdown"
        );
        for p in &probes {
            assert!(p.drops() <= 1, "round {round}: a future dropped twice");
        }
    }
}

/// A waker sent to a plain thread that never ran corio: waking it there runs the task on its
/// runtime; dropping it there (even as the task's last reference, after the runtime is gone)
/// frees the task without touching any corio thread-local.
#[test]
fn a_waker_on_a_thread_that_never_ran_corio() {
    let rt = runtime();
    let probe = Arc::new(Probe::default());
    let task = rt.spawn(Counted(probe.clone()));
    wait_until("the task was polled", || probe.polls() == 1);
    probe.release.store(true, Ordering::SeqCst);
    let waker = probe.waker();
    std::thread::spawn(move || waker.wake()).join().unwrap();
    rt.block_on(task);
    assert_eq!(probe.polls(), 2);

    // The last references to tasks (their wakers) dropped on foreign threads after the runtime.
    let probes: Vec<_> = (0..20).map(|_| Arc::new(Probe::default())).collect();
    for p in &probes {
        rt.spawn(Counted(p.clone())).detach();
    }
    wait_until("every task was polled", || {
        probes.iter().all(|p| p.polls() == 1)
    });
    let wakers: Vec<_> = probes
        .iter()
        .map(|p| p.waker.lock().unwrap().take().unwrap())
        .collect();
    drop(rt);
    let threads: Vec<_> = wakers
        .into_iter()
        .map(|w| std::thread::spawn(move || drop(w)))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for p in &probes {
        assert_eq!((p.polls(), p.drops()), (1, 1));
    }

    // The same for a local task, whose waker a foreign thread clones, wakes and drops.
    let rt = corio::LocalRuntime::new().unwrap();
    let probe = Arc::new(Probe::default());
    let waker_from_elsewhere = rt.block_on(async {
        let task = corio::spawn_local(Counted(probe.clone()));
        corio::yield_now().await;
        assert_eq!(probe.polls(), 1);
        probe.release.store(true, Ordering::SeqCst);
        let waker = probe.waker();
        let kept = std::thread::spawn(move || {
            waker.wake_by_ref();
            waker
        })
        .join()
        .unwrap();
        task.await;
        kept
    });
    assert_eq!((probe.polls(), probe.drops()), (2, 1));
    drop(rt);
    std::thread::spawn(move || waker_from_elsewhere.wake())
        .join()
        .unwrap();
    assert_eq!(probe.polls(), 2);
}

/// `Runtime::drop` drops every future before it returns, even while other threads wake the
/// tasks (issue 15). A wake from another thread that checked the shutdown flag just before the
/// drop set it used to push its task into the injector after `drain` had emptied it: 21 of 300
/// rounds returned with a future still alive.
/// Threads wake every task's waker in a tight loop while the runtime is dropped: no crash, every
/// future dropped exactly once, and no poll after the drop returned.
#[test]
fn runtime_drop_drops_every_future_even_while_other_threads_wake_them() {
    for round in 0..50 {
        let rt = runtime();
        let probes: Vec<_> = (0..100).map(|_| Arc::new(Probe::default())).collect();
        for p in &probes {
            rt.spawn(Counted(p.clone())).detach();
        }
        wait_until("every task was polled", || {
            probes.iter().all(|p| p.polls() >= 1)
        });
        let wakers: Vec<Waker> = probes.iter().map(|p| p.waker()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicUsize::new(0));
        let wakers_threads: Vec<_> = (0..2)
            .map(|_| {
                let (wakers, stop, running) = (wakers.clone(), stop.clone(), running.clone());
                std::thread::spawn(move || {
                    let mut rounds = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        for w in &wakers {
                            w.wake_by_ref();
                        }
                        if rounds == 0 {
                            running.fetch_add(1, Ordering::SeqCst);
                        }
                        rounds += 1;
                    }
                    rounds
                })
            })
            .collect();
        // The drop must race with wakes: both threads are waking before it starts (by
        // causality, not by a sleep, which a loaded machine may not honour).
        wait_until("both waker threads are waking", || {
            running.load(Ordering::SeqCst) == 2
        });
        drop(rt);
        let polls_after_drop: Vec<_> = probes.iter().map(|p| p.polls()).collect();
        for p in &probes {
            assert_eq!(p.drops(), 1, "round {round}: every future dropped once");
        }
        std::thread::sleep(Duration::from_millis(5));
        stop.store(true, Ordering::SeqCst);
        for t in wakers_threads {
            assert!(t.join().unwrap() > 0);
        }
        let polls_now: Vec<_> = probes.iter().map(|p| p.polls()).collect();
        assert_eq!(
            polls_after_drop, polls_now,
            "round {round}: polled after shutdown"
        );
    }
}
