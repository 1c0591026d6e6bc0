//! corio's executor: the event loop and the work-stealing thread pool.
//!
//! This crate runs futures. It knows nothing of timers or sockets: an idle thread parks through
//! the [`Driver`] interface, which the facade crate `corio` implements by composing `corio-timer`
//! and `corio-reactor`. Used on its own, a runtime parks on a condition variable.
//!
//! - [`run_local`] / [`LocalRuntime`]: a single-threaded event loop that accepts `!Send` tasks
//!   ([`spawn_local`]), in the manner of asyncio's loop.
//! - [`Runtime`]: a multi-threaded, work-stealing runtime (one worker per core by default).
//! - [`spawn`] returns a [`Task`]: await it for the output, drop it to cancel, or
//!   [`detach`](Task::detach) it. A panic in a task resumes in its awaiter; a panic nobody can
//!   observe is [reported](Report), never lost.
//! - [`block_on`] drives one future on the current thread, [`yield_now`] gives the thread away once.
//! - Outside of any runtime, [`spawn`] uses a global runtime started on first use: there is no
//!   "no runtime running" panic.
//!
//! # Examples
//!
//! ```
//! use corio_executor::{run_local, spawn, yield_now};
//!
//! let total = run_local(async {
//!     let tasks: Vec<_> = (1..=3)
//!         .map(|i| spawn(async move {
//!             yield_now().await;
//!             i * 10
//!         }))
//!         .collect();
//!     let mut total = 0;
//!     for task in tasks {
//!         total += task.await;
//!     }
//!     total
//! });
//! assert_eq!(total, 60);
//! ```
//!
//! # Scheduling order and fairness
//!
//! The single-threaded loop runs, in order: the main future if it was woken; up to 61 ready tasks
//! in FIFO order; then a non-blocking look at I/O and timers (or a blocking park in them if nothing
//! was ready). Tasks woken from other threads join the queue at least every 31 tasks. The
//! multi-threaded workers follow the same intervals, plus a LIFO slot for the most recently woken
//! task (at most 3 LIFO polls in a row) and work stealing. Every poll gets a cooperative budget of
//! 128 units (see `corio-coop`) that runtime resources spend, so a task looping over an
//! always-ready resource still yields.
#![deny(unsafe_code)]

// In reading order, from the bottom up (alphabetical within a group).
// Tasks: what a spawned future becomes, and what it carries along.
mod rand;
pub mod task;
mod task_local;
mod yield_now;
// The thread's context (which runtime, which task), how idle threads park, and what both
// schedulers count (their tick intervals and per-thread counters).
mod context;
mod loom_shim;
mod park;
mod tick;
// The single-threaded loop, and the loops that borrow it.
mod local;
mod pinned;
mod sub_loop;
// The work-stealing pool, and its registry of idle tasks for shutdown.
mod multi;
mod registry;
mod rescue;
// The runtimes on top: their builder, their handle, the runtimes and the entry points.
mod builder;
mod handle;
mod runtime;
// What a runtime tells its user: reports, and debug mode.
mod debug;
mod report;

pub use builder::{Builder, DEBUG_ENV, MAX_WORKER_THREADS, SLOW_POLL_ENV, available_cores};
#[doc(hidden)]
pub use context::is_worker_thread;
pub use debug::{DEFAULT_SLOW_POLL, Dump, TaskSnapshot, TaskState};
pub use handle::{EnterGuard, ExecutorMetrics, Handle};
pub use local::{pool_job, spawn_local};
pub use park::{Driver, DriverHandle, ThreadParkDriver};
pub use rand::random_u64;
pub use report::{PanicPolicy, Report, TaskSummary, panic_message};
pub use runtime::{LocalRuntime, Runtime, block_on, dump, run_local, spawn};
pub use sub_loop::SubLoop;
pub use task::{Task, TaskId};
pub use yield_now::{YieldNow, yield_now};
