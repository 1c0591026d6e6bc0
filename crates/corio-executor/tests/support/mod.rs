//! Helpers shared by the executor's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts how many values are alive: clone a `DropCounter::guard()` into a future, and check
/// `alive()` after the future should have been dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

pub struct Guard(Arc<AtomicUsize>);

impl DropCounter {
    pub fn new() -> DropCounter {
        DropCounter::default()
    }

    pub fn guard(&self) -> Guard {
        self.0.fetch_add(1, Ordering::SeqCst);
        Guard(self.0.clone())
    }

    pub fn alive(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Spins (with a generous bound) until `cond` holds; panics with `what` if it never does.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The names of this process's threads (Linux only; empty elsewhere).
pub fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for entry in dir.flatten() {
            if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) {
                names.push(comm.trim().to_owned());
            }
        }
    }
    names
}

/// Open, and the wakers of the futures waiting.
type GateState = (bool, Vec<std::task::Waker>);

/// A one-time gate that a plain thread (or a task) opens: the futures waiting on it stay parked
/// until then.
#[derive(Clone, Default)]
pub struct Gate(Arc<std::sync::Mutex<GateState>>);

impl Gate {
    pub fn open(&self) {
        let wakers = {
            let mut state = self.0.lock().unwrap();
            state.0 = true;
            std::mem::take(&mut state.1)
        };
        wakers.into_iter().for_each(std::task::Waker::wake);
    }

    pub async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut state = self.0.lock().unwrap();
            if state.0 {
                std::task::Poll::Ready(())
            } else {
                state.1.push(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await
    }
}

/// The value and the waker of its receiver.
type OneshotSlot = Arc<std::sync::Mutex<(Option<u64>, Option<std::task::Waker>)>>;

/// The sending half of [`async_oneshot`].
#[derive(Clone)]
pub struct OneshotTx(OneshotSlot);

impl OneshotTx {
    pub fn send(&self, v: u64) {
        let waker = {
            let mut slot = self.0.lock().unwrap();
            slot.0 = Some(v);
            slot.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A minimal one-shot channel (the executor crate has no sync primitives of its own).
pub fn async_oneshot() -> (
    OneshotTx,
    impl std::future::Future<Output = u64> + Send + 'static,
) {
    let slot: OneshotSlot = Arc::default();
    let tx = OneshotTx(slot.clone());
    let rx = std::future::poll_fn(move |cx| {
        let mut g = slot.lock().unwrap();
        match g.0.take() {
            Some(v) => std::task::Poll::Ready(v),
            None => {
                g.1 = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    });
    (tx, rx)
}
