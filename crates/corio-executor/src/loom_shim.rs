//! The synchronization primitives of the parking and idle protocol, switchable to loom's
//! model-checked versions under `--cfg loom` (`cargo xtask loom`), so the models check the real
//! code.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicUsize, fence};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicUsize, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

use std::sync::{LockResult, PoisonError};

/// The guard in a lock's (or a condition variable wait's) result, poisoned or not: no user code
/// runs under the executor's own locks, so a panic cannot leave their state half-updated, and
/// poisoning would only turn one panic into many. Every lock of the crate goes through here.
pub(crate) fn unpoisoned<G>(result: LockResult<G>) -> G {
    result.unwrap_or_else(PoisonError::into_inner)
}

/// Locks a mutex of the parking protocol (loom's under `--cfg loom`), ignoring poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    unpoisoned(m.lock())
}

/// Locks one of `std`'s mutexes, ignoring poisoning: the locks that stay `std`'s under loom
/// because no model checks them (debug mode, sub-loops). The same function as [`lock`] without
/// `--cfg loom`.
pub(crate) fn lock_std<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    unpoisoned(m.lock())
}
