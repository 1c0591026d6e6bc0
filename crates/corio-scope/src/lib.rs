//! Structured concurrency for corio: task groups, gathering, cancel scopes and cancel tokens.
//!
//! - [`task_group`]: asyncio's `TaskGroup` and Trio's nursery. Children are spawned from the
//!   body; none outlives the group; the first failure cancels the rest; every error comes back
//!   in a [`GroupError`]; panics propagate; children may borrow from the caller
//!   ([`Group::spawn_local`]). [`supervisor`] collects errors without cancelling.
//! - [`join_all`] (asyncio's `gather`: every result, in input order), [`try_join_all`] (fail
//!   fast), [`race`], and [`join!`]/[`try_join!`] for futures of different types.
//! - Cancel scopes: [`move_on_after`], [`fail_after`], [`CancelScope`] (reschedulable, like
//!   asyncio's `Timeout.reschedule`), [`shield`], and [`current_deadline`].
//! - [`CancelToken`]: a cancellation signal with children, for graceful shutdown.
//! - Choosing and reaping: [`select!`] (the first of several futures of different types; the
//!   losers are dropped before its body runs), [`as_completed`] (a `Stream` of outputs in
//!   completion order), and [`TaskSet`] (an unscoped, dynamic set of spawned tasks joined as
//!   they finish; dropping it cancels them all).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! corio_executor::block_on(async {
//!     // Gather three lookups; give the whole thing 1 s.
//!     let results = corio_scope::fail_after(Duration::from_secs(1), corio_scope::task_group(async |g| {
//!         let a = g.spawn(async { Ok::<_, std::io::Error>("user") });
//!         let b = g.spawn(async { Ok("orders") });
//!         let c = g.spawn(async { Ok("notifications") });
//!         Ok((a.await?, b.await?, c.await?))
//!     }))
//!     .await;
//!     let (user, orders, notes) = results.unwrap().unwrap();
//!     assert_eq!((user, orders, notes), ("user", "orders", "notifications"));
//! });
//! ```
//!
//! # Compared with asyncio and Trio
//!
//! | | asyncio `TaskGroup` | Trio nursery | corio `task_group` |
//! |---|---|---|---|
//! | children outlive the block | no | no | no; every child's destructor has run when it returns (a group *dropped* unfinished, by a timeout around it, cancels its spawned children, which are dropped just after: see [`task_group`]) |
//! | first failure | cancels the rest | cancels the rest | cancels the rest (the body too) |
//! | errors | `ExceptionGroup` | `ExceptionGroup` | [`GroupError`]: all of them, in order |
//! | cancellation counted as an error | no | no | no |
//! | cancellation can be swallowed | yes (`except CancelledError`) | no | no: a cancelled future is dropped |
//! | children borrowing the caller's data | n/a | n/a | yes, [`Group::spawn_local`] |
//! | "ready" handshake | no | `nursery.start` | [`Group::start`] |
//! | keep going after failures | `gather(return_exceptions=True)` | no | [`supervisor`] |
//! | nested deadlines | `asyncio.timeout` (reschedulable) | cancel scopes | cancel scopes, [`current_deadline`], [`shield`] |
//!
//! # Unsafe code
//!
//! One block, in [`Group::spawn_local`]: it erases the lifetime `'env` of a borrowing child so the
//! group's internals can hold it. The comment there argues why no child outlives what it borrows:
//! `'env` is chosen by the caller of `task_group`, outlives the call, and is invariant in
//! [`Group`], so a body cannot lend its own locals to a child; a group refuses children once it
//! has ended, and its handles cannot outlive `'env` (two `compile_fail` examples show both).
//! The body is an `FnOnce(Group<'env, E>)` returning a future, not an `AsyncFnOnce(&Group)`:
//! with the latter, the compiler cannot prove a `task_group` future `Send` once `'env` is in the
//! signature (a known limitation of higher-ranked lifetimes in auto-trait checks). Async
//! closures (`async |g| ..`) are such functions.
//!
//! Cancellation in corio is dropping: a cancelled child's future is dropped at its next
//! scheduling point, which runs its destructors and cannot be caught. Cancel scopes are
//! level-triggered: once expired, every later poll of the scope cancels.
#![deny(unsafe_code)]

mod as_completed;
mod group;
mod join;
mod scope;
mod select;
mod set;
mod task_set;
mod token;

pub use group::{Cancelled, ChildHandle, Group, GroupError, Started, supervisor, task_group};
pub use join::{JoinAll, Race, TryJoinAll, join_all, race, try_join_all};
pub use scope::{
    CancelScope, Scoped, Shielded, current_deadline, fail_after, fail_at, move_on_after,
    move_on_at, shield,
};
pub use token::{CancelToken, WhenCancelled, WhenCancelledOwned};

pub use as_completed::{AsCompleted, as_completed};
pub use task_set::TaskSet;

/// Locks `mutex`, ignoring poison. User code (polling or dropping a future, waking a waker) runs
/// after this crate's guards are released, so a panic cannot leave the state behind one of its
/// locks half-updated; ignoring the poison keeps one panic from becoming another in every later
/// user of the group, set, scope or token.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[doc(hidden)]
pub mod __private {
    pub use crate::join::MaybeDone;
    pub use crate::select::{
        DropCatching, all_disabled as select_all_disabled, refusals as select_refusals,
        restart as select_restart, start as select_start,
    };
    pub use corio_timer::DeferScope;
}
