//! Helpers shared by the scope tests.
//!
//! The tests use `corio-scope` as a user who cherry-picks would: with `corio-executor` and
//! `corio-timer`, not the `corio` facade (which depends on this crate, so a dev-dependency on it
//! would be a cycle no registry can resolve). Tests that need the whole runtime (virtual time,
//! deterministic schedules) live in the facade's `tests/scope_*.rs`.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live guards: proof that futures were dropped.
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

/// `corio::run` without the facade: runs `future` on a new multi-threaded executor runtime (one
/// worker per core), which is dropped (every task left cancelled) before this returns.
pub fn run<F: Future>(future: F) -> F::Output {
    corio_executor::Runtime::new()
        .expect("cannot start the runtime")
        .block_on(future)
}
