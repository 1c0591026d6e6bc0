//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A generous bound for anything that should happen "soon" on a loaded 2-core CI machine.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `cond` until it holds or `PATIENCE` runs out; returns whether it held.
pub fn eventually(cond: impl FnMut() -> bool) -> bool {
    eventually_within(PATIENCE, cond)
}

/// Polls `cond` until it holds or `patience` runs out; returns whether it held.
pub fn eventually_within(patience: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Counts how many values were dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Increments its counter when dropped.
pub struct DropToken(Arc<AtomicUsize>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A barrier with a timeout: `arrive_and_wait(n)` returns true once `n` parties have arrived,
/// false if that did not happen within `PATIENCE`. Proves that `n` jobs ran at the same time.
#[derive(Clone, Default)]
pub struct Rendezvous(Arc<(Mutex<usize>, Condvar)>);

impl Rendezvous {
    pub fn arrive_and_wait(&self, n: usize) -> bool {
        let (lock, cv) = &*self.0;
        let mut arrived = lock.lock().unwrap();
        *arrived += 1;
        cv.notify_all();
        let deadline = Instant::now() + PATIENCE;
        while *arrived < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            arrived = cv.wait_timeout(arrived, deadline - now).unwrap().0;
        }
        true
    }
}

/// A one-shot gate: jobs `wait()` until the test `open()`s it (or `PATIENCE` passes).
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn open(&self) {
        let (lock, cv) = &*self.0;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
    /// Returns whether the gate was opened in time.
    pub fn wait(&self) -> bool {
        let (lock, cv) = &*self.0;
        let guard = lock.lock().unwrap();
        let (guard, _) = cv
            .wait_timeout_while(guard, PATIENCE, |open| !*open)
            .unwrap();
        *guard
    }
}
