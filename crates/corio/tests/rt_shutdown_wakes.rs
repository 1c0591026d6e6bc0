//! `Runtime::drop` drops every future before it returns, even while other threads wake the tasks
//! (issue 15). A wake from another thread that checked the shutdown flag just before the drop set
//! it used to push its task into the injector after `drain` had emptied it: 21 of 300 rounds
//! returned with a future still alive, dropped later (or never) by whoever held it last.

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
        let wakers_threads: Vec<_> = (0..2)
            .map(|_| {
                let (wakers, stop) = (wakers.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut rounds = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        for w in &wakers {
                            w.wake_by_ref();
                        }
                        rounds += 1;
                    }
                    rounds
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(5));
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
