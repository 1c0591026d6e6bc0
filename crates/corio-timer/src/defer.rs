//! Deferred registration: a [`Sleep`](crate::Sleep) polled by a chooser (such as
//! `corio::select!`) that may not wait at all registers with the timer only if it does.
//!
//! Registering a timer and cancelling it costs a lock and two wheel operations. In a loop that
//! selects between a ready queue and a long sleep, the sleep loses every time, so that work is
//! wasted whenever the sleep happens to be polled first. A chooser opens a [`DeferScope`] for its
//! first pass over its arms; a `Sleep` that is not due, polled there with the chooser's own
//! waker, returns `Pending` without registering and marks the scope. If an arm is ready, the
//! chooser drops the losers and nothing was ever registered. If none is, the chooser closes the
//! scope and polls the marked arms again, and the sleep registers then, before the task waits.
//!
//! # Invariants
//!
//! - **Only the chooser's own waker.** A sleep defers only when polled with exactly the waker the
//!   scope was opened with (compared as raw parts, like [`Waker::will_wake`]). Combinators that
//!   poll a child again only after the child's own waker fires (future sets, `as_completed`)
//!   give their children other wakers, so sleeps under them register at once: deferral never
//!   relies on a wake-up that cannot come.
//! - **A marked arm is polled again before the chooser returns `Pending`.** That poll runs with
//!   the scope closed, so the sleep registers. Combinators that pass the waker through unchanged
//!   (async blocks, `timeout`, `join!`) poll a pending child again when polled, so the sleep is
//!   reached.
//! - **A due sleep is not starved.** Whether the deadline has passed is answered from this
//!   thread's recent reading of the clock (usually the one `sleep` took to compute the
//!   deadline), and the clock is read again after 32 answers, so a deadline that passed defers
//!   at most that many first passes and then wins its turn: deferral cannot starve a timer
//!   behind an always-ready arm. A paused (virtual) clock is always read.
//! - **Scopes nest.** Opening a scope saves the enclosing one and closing restores it (also on
//!   unwind), so an inner chooser's second pass runs under the outer scope and marks it in turn.

use std::cell::Cell;
use std::task::{RawWakerVTable, Waker};

#[derive(Clone, Copy)]
struct Scope {
    /// The chooser's waker, as raw parts; `None` when no scope is open.
    waker: Option<(*const (), *const RawWakerVTable)>,
    /// Whether a sleep deferred its registration since the flag was last taken.
    deferred: bool,
}

thread_local! {
    static SCOPE: Cell<Scope> = const {
        Cell::new(Scope {
            waker: None,
            deferred: false,
        })
    };
}

fn raw_parts(waker: &Waker) -> (*const (), *const RawWakerVTable) {
    (waker.data(), std::ptr::from_ref(waker.vtable()))
}

/// An open deferral scope on this thread (see the module docs). Not part of the public API:
/// `corio::select!` uses it.
#[doc(hidden)]
#[derive(Debug)]
#[must_use = "the scope closes when dropped"]
pub struct DeferScope {
    prev: Option<Scope>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("open", &self.waker.is_some())
            .field("deferred", &self.deferred)
            .finish()
    }
}

impl DeferScope {
    /// Opens a scope for a chooser polled with `waker`.
    #[inline]
    pub fn open(waker: &Waker) -> DeferScope {
        let scope = Scope {
            waker: Some(raw_parts(waker)),
            deferred: false,
        };
        DeferScope {
            prev: SCOPE.try_with(|s| s.replace(scope)).ok(),
        }
    }

    /// Whether a sleep deferred its registration since the last call (or the opening); clears
    /// the mark.
    #[inline]
    pub fn take_deferred(&self) -> bool {
        SCOPE
            .try_with(|s| {
                let mut scope = s.get();
                let deferred = std::mem::replace(&mut scope.deferred, false);
                s.set(scope);
                deferred
            })
            .unwrap_or(false)
    }
}

impl Drop for DeferScope {
    #[inline]
    fn drop(&mut self) {
        if let Some(prev) = self.prev {
            let _ = SCOPE.try_with(|s| s.set(prev));
        }
    }
}

/// Whether a scope is open for `waker` (a sleep polled with it may defer its registration).
#[inline]
pub(crate) fn is_open_for(waker: &Waker) -> bool {
    SCOPE
        .try_with(|s| s.get().waker == Some(raw_parts(waker)))
        .unwrap_or(false)
}

/// Marks the open scope: a sleep returned `Pending` without registering.
#[inline]
pub(crate) fn mark_deferred() {
    let _ = SCOPE.try_with(|s| {
        let mut scope = s.get();
        scope.deferred = true;
        s.set(scope);
    });
}
