//! Fair, cancel-safe async synchronization primitives that work on any executor.
//!
//! This crate holds corio's versions of asyncio's `Semaphore`, `Queue` (with `LifoQueue` and
//! `PriorityQueue`), `Lock`, `Event`, `Barrier` and `Future.set_result`, plus an `RwLock`, a
//! tokio-style `Notify`, and `broadcast` and `watch` channels. Unlike asyncio's, they are
//! thread-safe: tasks on different threads, and plain threads through the `*_blocking` methods,
//! can share them.
//!
//! They do not depend on any corio runtime. They work under tokio, smol, `futures-lite`'s
//! `block_on` or a hand-written executor. The facade re-exports them as `corio::Semaphore`,
//! `corio::Queue`, `corio::sync::Mutex` and so on.
//!
//! # Examples
//!
//! Limit concurrency with a [`Semaphore`], and pass work through a bounded [`Queue`]:
//!
//! ```
//! use corio_sync::{Queue, Semaphore};
//! use futures_lite::future;
//!
//! # future::block_on(async {
//! let limit = Semaphore::new(2);
//! let queue = Queue::bounded(4);
//!
//! let producer = async {
//!     for url in ["a", "b", "c", "d", "e"] {
//!         queue.put(url).await.unwrap(); // waits while 4 items are queued
//!     }
//!     queue.close(); // consumers drain what is left, then stop
//! };
//! let consumer = async {
//!     let mut fetched = Vec::new();
//!     while let Ok(url) = queue.get().await {
//!         let _permit = limit.acquire().await.unwrap(); // at most 2 fetches at once
//!         fetched.push(url);
//!     }
//!     fetched
//! };
//! let ((), fetched) = future::zip(producer, consumer).await;
//! assert_eq!(fetched, ["a", "b", "c", "d", "e"]);
//! # });
//! ```
//!
//! # Guarantees shared by every primitive
//!
//! - **Cancel-safe.** Every future is `#[must_use]`, and dropping it at any point (before its first
//!   poll, while it waits, or after it was woken but before it ran again) leaves no item, permit,
//!   slot or registration behind. A wake-up that a dropped waiter received goes on to the next
//!   waiter wherever that wake-up carried something (an item, a slot, permits, the lock, a
//!   `notify_one`).
//! - **Fair.** Waiters queue in arrival order. A woken waiter that found nothing to do keeps its
//!   place at the front of the line.
//! - **No allocation and no global lock on the wake path.** Each primitive has its own small lock
//!   (or, for the semaphore's uncontended path, a single atomic; a bounded FIFO [`Queue`] with room
//!   for two or more items puts and gets without its lock while nobody waits). Waiters live in a slab that keeps
//!   its memory, and wakers are woken, and stale wakers dropped, only after the lock is released
//!   (dropping a task's last waker may run arbitrary destructors).
//! - **`Send` when the data is.** Futures and handles are `Send` (and `Sync`) whenever `T` allows.
//! - **Cooperative budget.** With the `coop` feature, an operation about to complete (a get
//!   returning an item, a put storing one, an acquire granting permits, a lock granted, a wait
//!   released) first checks corio's per-task budget. If the budget is spent, it returns `Pending`
//!   after waking the task, having done nothing. Outside a corio runtime the budget is unlimited
//!   and the check is a thread-local read. The feature is off by default, so that the crate
//!   depends on no other corio crate; the `corio` facade turns it on (and with it the dependency
//!   on `corio-coop`, the only corio crate this one may use).
//! - **No panics on bad input.** Zero capacities, zero permits, too many permits, closed queues and
//!   extra `task_done` calls all have a documented result or error.
//!   [`broadcast::channel(0)`](broadcast::channel) makes a channel with room for one value (tokio's
//!   panics): a ring of size zero could hold nothing, and the returned pair has no room for an
//!   error.
//! - **Blocking calls inside a task do what they can.** The `*_blocking` methods
//!   ([`Queue::get_blocking`], [`oneshot::Receiver::recv_blocking`], ...) are meant for plain
//!   threads. Called inside a corio task (with the `coop` feature; the hook is
//!   `corio_coop::Blocker`), they return at once when they can; otherwise, on a local loop, they
//!   keep running the loop's other tasks while they wait, so a sender queued behind the caller
//!   on the same thread still runs; on a worker of a multi-threaded runtime, they hand the
//!   worker's queued tasks to the other workers and park. A call that waits for a task while
//!   every worker is parked this way (always, on one worker) cannot return, nor one that waits
//!   for a timer or I/O while every worker is in such a call (nothing drives them): the runtime
//!   says so on stderr after a second. On a local loop a second task's call runs nested inside
//!   the first one's and must return first: two such calls that wait for each other never
//!   return, and the loop says so on stderr once the outer one has waited a second. The calling
//!   task's thread is blocked either way: prefer `.await` in async code.
//!
//! # Semaphore
//!
//! - *Holds:* permits are conserved: available + set aside for waiters + held by permits equals
//!   what was created and added (at most [`Semaphore::MAX_PERMITS`]), minus permits forgotten.
//! - *Fairness:* strictly FIFO. A released permit goes to the longest waiter, never to a newcomer;
//!   `try_acquire` fails while anybody waits; a big `acquire_many` at the head collects permits as
//!   they are released and is not overtaken by smaller requests behind it.
//! - *Limits:* asking for more than [`Semaphore::MAX_PERMITS`] fails at once with
//!   [`AcquireError::TooManyPermits`] rather than hanging. `acquire_many(0)` succeeds at once.
//! - *Cancellation:* a dropped acquire leaves the line; permits already set aside for it go on to
//!   the next waiters.
//! - *Close:* waiting and later acquires fail with [`AcquireError::Closed`]; granted permits stay
//!   valid.
//!
//! # Queue, LifoQueue, PriorityQueue
//!
//! - *Holds:* nothing is lost or duplicated. An item enters the queue only in the poll of the put
//!   that returns `Ok`, and leaves only in the poll of the get that returns it. Items come out in
//!   FIFO order ([`Queue`]), newest first ([`LifoQueue`]), or smallest first ([`PriorityQueue`]).
//!   [`join`](Queue::join) completes once the unfinished count (puts minus
//!   [`task_done`](Queue::task_done)s) reaches zero.
//! - *Fairness:* waiting getters and putters are woken in arrival order, at least one per item or
//!   slot.
//!   An operation that finds an item or a slot free takes it at once, even if a woken waiter has
//!   not run yet; that waiter then goes back to the front of the line. This keeps busy consumers
//!   busy, as async-channel does.
//! - *Capacity:* `bounded(n)` holds at most `n` items. **`bounded(0)` is a rendezvous queue**: a
//!   put completes only by handing its item to a get that is waiting for it. `try_put` succeeds
//!   there only when a get waits, and `try_get` never takes an item out of a waiting put (the put
//!   could then be cancelled after it had delivered). Waiting gets pick the waiting puts in the
//!   queue's order. `unbounded()` never makes a put wait.
//! - *Cancellation:* a get that was woken and then dropped passes the wake-up on to the next getter
//!   (asyncio's bpo-23812 fix), and a dropped get never loses an item: in a rendezvous queue, an
//!   item already handed to it goes to the next waiting get, or stays in the queue for the next
//!   one. A dropped put holds no slot, passes its wake-up on, and never delivered its item, so a
//!   `put` cancelled by a timeout can safely be retried. A get that is *kept* but not polled is
//!   still in line: woken, it holds the item it was woken for until it is polled or dropped. The
//!   same goes for a [`QueueStream`] that returned `Pending`: it stays in line between polls (a
//!   dropped `next()` future leaves it there), so drop a stream you stop polling, and in a
//!   `select!` loop prefer `q.get()` as the arm (its future leaves the line when the arm loses).
//! - *Close:* [`close`](Queue::close) makes waiting and later puts fail (handing the item back) and
//!   lets gets drain the items left before they fail; `join` still waits for items taken but not
//!   done. [`close_now`](Queue::close_now) returns the items left in get order, wakes everyone, and
//!   counts the removed items as done.
//!
//! # Mutex and RwLock
//!
//! Both sit on the semaphore core, so they inherit its strict FIFO fairness. A [`Mutex`] is a
//! one-permit semaphore: uncontended lock and unlock are one compare-and-swap each. An [`RwLock`]
//! gives a reader one permit and a writer all of them: readers at the head of the line share the
//! lock, a waiting writer holds back every reader that arrived after it (writers never starve), and
//! `try_read` fails while a writer waits. Dropping a lock future gives up its place and passes on
//! anything set aside for it.
//!
//! # Event
//!
//! asyncio semantics: [`Event::set`] releases every waiter registered at that moment, even if
//! [`Event::clear`] runs before they wake. A wait registers on its first poll; dropping it removes
//! the registration.
//!
//! # Barrier
//!
//! Reusable: the `n`-th arrival of a round is its leader and releases the others; the next round
//! starts empty. A wait arrives on its first poll. A wait dropped before its round completes no
//! longer counts toward it. `Barrier::new(0)` behaves like `Barrier::new(1)`.
//!
//! # Notify
//!
//! [`Notify::notify_one`] wakes the longest waiter, or stores one permit if nobody waits (as tokio
//! does). [`Notify::notify_all`] wakes every [`Notified`] created before it and stores nothing. A
//! `notify_one` that reached a `Notified` which is then dropped goes on to the next waiter.
//!
//! # oneshot
//!
//! [`oneshot::channel`] is asyncio's `Future` completed by hand: `send` is `set_result` (send a
//! `Result` for `set_exception`), and a dropped sender makes the receiver fail with
//! [`oneshot::RecvError`] instead of hanging.
//!
//! # broadcast and watch
//!
//! [`broadcast::channel`] is a bounded ring that every receiver reads in full: a receiver that
//! falls more than the capacity behind gets [`broadcast::RecvError::Lagged`] once and continues
//! from the oldest value still held, and receivers get [`broadcast::RecvError::Closed`] after the
//! last sender is gone and they have read everything. [`watch::channel`] keeps only the latest
//! value: [`watch::Receiver::changed`] waits for a send the receiver has not seen yet (the initial
//! value counts as seen). Both are cancel-safe: a dropped `recv()` or `changed()` loses nothing.
//! Their invariants are in the module docs.
//!
//! # Feature flags
//!
//! - `coop` (off by default; on through the `corio` facade): spend corio's cooperative budget
//!   (see above).
#![deny(unsafe_code)]

mod barrier;
pub mod broadcast;
mod buffer;
mod coop;
mod error;
mod event;
mod lane;
mod loom_shim;
// The guards hand out references into an `UnsafeCell`; each block carries a `SAFETY:` comment.
#[allow(unsafe_code)]
mod mutex;
mod notify;
// Its channel state is one atomic word and three cells; each block carries a `SAFETY:` comment.
#[allow(unsafe_code)]
pub mod oneshot;
mod queue_core;
mod queue_kinds;
mod queue_stream;
mod raw_semaphore;
mod ring;
#[allow(unsafe_code)]
mod rwlock;
mod semaphore;
mod waitlist;
pub mod watch;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult};
pub use error::{
    AcquireError, GetError, PutError, TaskDoneError, TryAcquireError, TryGetError, TryLockError,
    TryPutError,
};
pub use event::{Event, EventWait};
pub use mutex::{Lock, LockOwned, Mutex, MutexGuard, OwnedMutexGuard};
pub use notify::{Notified, Notify};
pub use queue_core::{Get, Join, Put};
pub use queue_kinds::{LifoQueue, PriorityQueue, Queue};
pub use queue_stream::QueueStream;
pub use rwlock::{Read, RwLock, RwLockReadGuard, RwLockWriteGuard, Write};
pub use semaphore::{Acquire, AcquireOwned, OwnedSemaphorePermit, Semaphore, SemaphorePermit};

/// Blocks the thread on `future`: on a thread that runs corio tasks, the way the runtime's own
/// `block_on` does (a local loop keeps running its other tasks, so a counterpart queued behind
/// the caller on the same thread still runs); elsewhere by parking the thread, with an unlimited
/// cooperative budget.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    // Ready at once (an uncontended lock, an item waiting): no blocking machinery at all.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if let std::task::Poll::Ready(output) = coop::unconstrained(|| future.as_mut().poll(&mut cx)) {
        return output;
    }
    if let Some(output) = coop::block_through_runtime(future.as_mut()) {
        return output;
    }
    coop::unconstrained(|| futures_lite::future::block_on(future))
}
