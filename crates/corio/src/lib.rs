//! # corio: asyncio's model, done right, in Rust
//!
//! corio is an async runtime with the clarity of Python's asyncio (an event loop, tasks, task
//! groups, semaphores, queues, timeouts and `to_thread`) where every asyncio pitfall becomes a
//! compile-time warning, a typed error, or a loud report at runtime.
//!
//! This crate is a thin facade: each name is re-exported from the micro-crate that owns it
//! (`corio-executor`, `corio-timer`, `corio-reactor`, `corio-net`, `corio-sync`,
//! `corio-blocking`, `corio-fs`), and the runtimes here only wire timers, sockets and the
//! blocking pool into the executor.
//!
//! ## A tour
//!
//! ```
//! use std::time::Duration;
//!
//! async fn fetch(url: &str) -> String {
//!     corio::sleep(Duration::from_millis(10)).await; // pretend I/O
//!     format!("data from {url}")
//! }
//!
//! corio::run(async {
//!     // create_task: both fetches run at once.
//!     let a = corio::spawn(fetch("https://api1.example.com"));
//!     let b = corio::spawn(fetch("https://api2.example.com"));
//!     assert_eq!(a.await, "data from https://api1.example.com");
//!     assert_eq!(b.await, "data from https://api2.example.com");
//!
//!     // Pitfall 5: always bound the wait.
//!     let slow = corio::timeout(Duration::from_millis(5), corio::sleep(Duration::from_secs(60))).await;
//!     assert!(slow.is_err());
//!
//!     // Pitfall 2: blocking work goes to a thread, never onto the loop.
//!     let sum = corio::to_thread(|| (1..=100u64).sum::<u64>()).await;
//!     assert_eq!(sum, 5050);
//! });
//! ```
//!
//! ## asyncio → corio
//!
//! | asyncio | corio |
//! |---|---|
//! | `asyncio.run(main())` | [`run`] (threads) or [`run_local`] (one thread, `!Send` tasks allowed), `#[corio::main]` |
//! | `asyncio.create_task(c)` | [`spawn`] → [`Task`] (await it; dropping it cancels; `.detach()`) |
//! | `await asyncio.sleep(s)` | [`sleep`] |
//! | `asyncio.wait_for` / `asyncio.timeout` | [`timeout`], [`timeout_at`] |
//! | `asyncio.Semaphore` | [`Semaphore`] (strict FIFO, RAII permits) |
//! | `asyncio.Queue` | [`Queue`], [`PriorityQueue`], [`LifoQueue`] (thread-safe) |
//! | `asyncio.Lock`, `Event`, `Barrier` | [`sync::Mutex`], [`sync::Event`], [`sync::Barrier`] |
//! | `Future.set_result` | [`sync::oneshot`] |
//! | `asyncio.to_thread` | [`to_thread`] (alias [`unblock`]) |
//! | aiofiles | [`fs`] |
//!
//! ## Runtimes and where tasks run
//!
//! - [`run`] / [`Runtime`]: a multi-threaded, work-stealing runtime (one worker per core).
//! - [`run_local`] / [`LocalRuntime`]: a single-threaded event loop on the calling thread.
//! - Outside of any runtime, [`spawn`], [`sleep`] and sockets still work: they use a global
//!   runtime, timer and reactor started on first use. There is no "no reactor running" panic.
//!
//! Dropping a runtime (or returning from `run`) cancels every task still alive and runs its
//! destructors before it returns; no worker thread is left behind.
//!
//! ## Debugging and testing
//!
//! A panic in a task resumes in whoever awaits its [`Task`]; a panic nobody can observe (a
//! detached task) is reported with the task's name and spawn location, never swallowed. Tests
//! can run in deterministic mode ([`run_seeded`], `#[corio::test(seed = 42)]`): virtual time
//! (an hour's sleep takes microseconds) and seeded scheduling (a failing seed replays).
#![forbid(unsafe_code)]

mod deterministic;
mod driver;
mod runtime;
pub mod time;

pub use corio_macros::{main, test};

pub use deterministic::{FailingSeed, SEED_ENV, explore, run_seeded};
pub use runtime::{Builder, LocalRuntime, Runtime, RuntimeMetrics, run, run_local};

// Event loop and tasks.
pub use corio_executor::{
    Dump, EnterGuard, ExecutorMetrics, Handle, PanicPolicy, Report, Task, TaskId, TaskSnapshot,
    TaskState, TaskSummary, block_on, dump, spawn, spawn_local, yield_now,
};

/// Task-local values (asyncio's `contextvars`), inherited by the tasks spawned in their scope.
pub use corio_executor::task_local;

/// Tasks: spawning with a name, ids, yielding, task-locals.
pub mod task {
    pub use corio_executor::task::{
        AccessError, Builder, LocalKey, Scope, WithInherited, id, inherit,
    };
    pub use corio_executor::{Task, TaskId, YieldNow, spawn, spawn_local, yield_now};
}

// Structured concurrency.
pub use corio_scope::{
    CancelScope, CancelToken, ChildHandle, Group, GroupError, current_deadline, fail_after, join,
    join_all, move_on_after, race, shield, supervisor, task_group, try_join, try_join_all,
};

/// Structured concurrency: task groups, gathering, cancel scopes and tokens.
pub mod scope {
    pub use corio_scope::*;
}

// Time.
pub use corio_timer::{Elapsed, Interval, interval, sleep, sleep_until, timeout, timeout_at};

// I/O.
pub use corio_reactor::Async;

/// Low-level I/O: [`Async`] and the reactor it registers with.
pub mod io {
    pub use corio_reactor::{Async, IoWith, Reactor, Ready};
}

/// Sockets: TCP, UDP and Unix domain sockets with futures-io `AsyncRead`/`AsyncWrite`.
pub mod net {
    pub use corio_net::*;
}

/// Async files, run on the blocking pool (the aiofiles of corio).
pub mod fs {
    pub use corio_fs::*;
}

/// Synchronisation primitives: they work on any executor and across threads.
pub mod sync {
    pub use corio_sync::*;
}

pub use corio_sync::{
    AcquireError, LifoQueue, PriorityQueue, Queue, Semaphore, TryGetError, TryPutError,
};

/// The blocking pool behind [`to_thread`].
pub mod blocking {
    pub use corio_blocking::*;
}

pub use corio_blocking::{Unblock, to_thread, unblock};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

#[doc(hidden)]
pub mod __private {
    pub use crate::runtime::{MacroConfig, run_main, run_test};
}
