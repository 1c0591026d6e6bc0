//! Helpers shared by the pool's test files.
#![allow(dead_code)] // each test file uses its own subset

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Waits (generously bounded) until `cond` holds; the conditions are reached by causality, the
/// bound only turns a bug into a failure instead of a hang.
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// A job that blocks until the returned sender sends (or is dropped).
pub(crate) fn gate() -> (mpsc::Sender<()>, impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel::<()>();
    (tx, move || {
        let _ = rx.recv();
    })
}
