//! Inline mode: on a thread that asked for it, [`unblock`](crate::unblock) runs its closure at
//! the call instead of on a pool thread.
//!
//! A deterministic simulation (`corio::sim`) turns it on for the thread it runs on, so that a
//! `to_thread` call happens at a point of the schedule that the seed decides, not whenever a
//! pool thread gets to it. The closure still runs exactly once and its panic still resumes in
//! the awaiter; only the thread and the moment change. The I/O adapters ([`Unblock`](crate::Unblock))
//! are not affected.

use std::cell::Cell;

thread_local! {
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// Whether [`unblock`](crate::unblock) runs closures inline on this thread.
pub(crate) fn active() -> bool {
    INLINE.try_with(Cell::get).unwrap_or(false)
}

/// Makes [`unblock`](crate::unblock) (and so `to_thread`) run its closure at the call, on this
/// thread, until the guard is dropped. Meant for deterministic simulations.
///
/// # Examples
///
/// ```
/// let caller = std::thread::current().id();
/// let _inline = corio_blocking::run_inline_on_this_thread();
/// let job = corio_blocking::unblock(move || std::thread::current().id() == caller);
/// assert!(job.is_finished()); // it ran at the call
/// assert!(futures_lite::future::block_on(job));
/// ```
pub fn run_inline_on_this_thread() -> InlineGuard {
    let prev = INLINE.try_with(|c| c.replace(true)).unwrap_or(false);
    InlineGuard {
        prev,
        _not_send: std::marker::PhantomData,
    }
}

/// Restores the previous mode of this thread when dropped; see [`run_inline_on_this_thread`].
///
/// # Examples
///
/// ```
/// {
///     let _inline = corio_blocking::run_inline_on_this_thread();
/// }
/// let job = corio_blocking::unblock(|| std::thread::current().name().map(str::to_owned));
/// // Back on the pool: the closure ran on one of its threads.
/// assert_ne!(futures_lite::future::block_on(job), std::thread::current().name().map(str::to_owned));
/// ```
#[derive(Debug)]
#[must_use = "inline mode ends when the guard is dropped"]
pub struct InlineGuard {
    prev: bool,
    /// `!Send`: the guard restores *this* thread's mode.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for InlineGuard {
    fn drop(&mut self) {
        let _ = INLINE.try_with(|c| c.set(self.prev));
    }
}
