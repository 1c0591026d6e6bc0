//! # corio: asyncio's model, done right, in Rust
//!
//! corio is an async runtime with the clarity of Python's asyncio (an event loop, tasks, task
//! groups, semaphores, queues, timeouts and `to_thread`) where every asyncio pitfall becomes a
//! compile-time warning, a typed error, or a loud report at runtime.
//!
//! This crate is a thin facade: each name is re-exported from the micro-crate that owns it
//! (`corio-executor`, `corio-timer`, `corio-reactor`, `corio-net`, `corio-sync`,
//! `corio-scope`, `corio-blocking`, `corio-cpu`, `corio-fs`, `corio-signal`, `corio-process`,
//! and the macros of `corio-macros`), and the runtimes here only wire timers, sockets and the
//! blocking and CPU pools into the executor.
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
//! | `asyncio.gather(*aws)` | [`join_all`] (every output, in input order; nothing is cancelled), [`try_join_all`] (the first error cancels the rest), [`join!`]/[`try_join!`] for futures of different types |
//! | `async with asyncio.TaskGroup() as tg` | [`task_group`] (the first failure cancels the siblings; every error in a [`GroupError`]; no child outlives it), [`supervisor`] (collects every error, cancels nothing) |
//! | `contextvars.ContextVar` | [`task_local!`] (inherited by the tasks spawned in its scope, as `create_task` copies the context) |
//! | `await asyncio.sleep(s)` | [`sleep`] |
//! | `asyncio.wait_for` / `asyncio.timeout` | [`timeout`], [`timeout_at`] |
//! | `asyncio.Semaphore` | [`Semaphore`] (strict FIFO, RAII permits) |
//! | `asyncio.Queue` | [`Queue`], [`PriorityQueue`], [`LifoQueue`] (thread-safe) |
//! | `asyncio.Lock`, `Event`, `Barrier` | [`sync::Mutex`], [`sync::Event`], [`sync::Barrier`] |
//! | `Future.set_result` | [`sync::oneshot`] |
//! | `asyncio.to_thread` | [`to_thread`] (alias [`unblock`]) |
//! | `loop.run_in_executor(ProcessPoolExecutor(), f)` (CPU-bound work) | [`spawn_cpu`] (one thread per core, bounded queue) |
//! | `tenacity` / `backoff` (retry with exponential backoff) | [`retry`], [`retry_if`] with [`Backoff`] |
//! | `asyncio.wait(.., FIRST_COMPLETED)`, tokio's `select!` | [`select!`] (the losers are dropped) |
//! | `asyncio.as_completed` | [`as_completed`] (a [`Stream`](stream::Stream)) |
//! | a set of tasks reaped as they finish (tokio's `JoinSet`) | [`TaskSet`] |
//! | aiofiles | [`fs`] |
//! | a distributed test under partitions, latency and crashes (FoundationDB-style simulation; turmoil, madsim) | [`sim`]: hosts and clients on a simulated network behind the same [`net`] types, on virtual time, replayable by seed |
//!
//! ## Runtimes and where tasks run
//!
//! - [`run`] / [`Runtime`]: a multi-threaded, work-stealing runtime (one worker per core).
//! - [`run_local`] / [`LocalRuntime`]: a single-threaded event loop on the calling thread.
//! - [`spawn_local`] works in both: inside [`run`] its `!Send` task is pinned to the thread that
//!   spawned it (a worker, or the thread in `block_on`), never stolen.
//! - Outside of any runtime, [`spawn`], [`sleep`] and sockets still work: they use a global
//!   runtime, timer and reactor started on first use. There is no "no reactor running" panic.
//!
//! Dropping a runtime (or returning from `run`) cancels every task still alive and runs its
//! destructors before it returns; no worker thread is left behind. A [`to_thread`] or
//! [`spawn_cpu`] job still running cannot be interrupted: the drop waits for such jobs up to a
//! second in all, then returns and leaves any still running to finish on its pool thread, which
//! exits when it does.
//!
//! **The global runtime at exit.** The global runtime, the one [`spawn`] uses outside of any
//! runtime, is never dropped. When `main` returns, the process exits with its worker threads
//! still running: the tasks still alive on it are neither cancelled nor polled again, and **their
//! destructors never run**. Nothing of theirs is cleaned up beyond what the operating system does
//! for a process that exits: a `Drop` that flushes, commits, deletes a temporary file or sends a
//! goodbye does not happen, and bytes a detached task still had to write are lost. If a task's
//! cleanup matters, await (or [`cancel`](Task::cancel)) its [`Task`] before `main` returns, or
//! run the program inside [`run`] or `#[corio::main]`, whose runtime drops every task left
//! before it returns.
//!
//! ## `Send`, `!Send`, and what the compiler checks
//!
//! [`spawn`] runs its task on any worker, so the future and its output must be `Send`;
//! [`spawn_local`] keeps its task on the loop's thread and takes `!Send` futures. The contracts
//! (tested in `tests/type_contracts.rs`):
//!
//! - [`Runtime`] and [`Handle`] are `Send + Sync`; [`LocalRuntime`] is neither.
//! - [`Task<T>`](Task) is `Send` iff `T` is: a local task's handle with a `!Send` output stays
//!   on its thread.
//! - corio's lock guards ([`sync::MutexGuard`], the `RwLock` guards, [`sync::SemaphorePermit`])
//!   are `Send`: holding one across an `.await` is what an async lock is for. std's guards are
//!   not, and neither is [`EnterGuard`], which restores its thread's context when dropped.
//!
//! A future that holds an `Rc` across an `.await` cannot be spawned on the multi-threaded
//! runtime, only with [`spawn_local`]:
//!
//! ```
//! corio::run_local(async {
//!     let shared = std::rc::Rc::new(5);
//!     let task = corio::spawn_local(async move {
//!         corio::yield_now().await;
//!         *shared + 1
//!     });
//!     assert_eq!(task.await, 6);
//! });
//! ```
//!
//! ```compile_fail
//! corio::run(async {
//!     let shared = std::rc::Rc::new(5);
//!     let task = corio::spawn(async move {
//!         corio::yield_now().await;
//!         *shared + 1 // error: `Rc<i32>` cannot be sent between threads safely
//!     });
//!     assert_eq!(task.await, 6);
//! });
//! ```
//!
//! A local runtime cannot move to another thread, and neither can a task handle whose output is
//! `!Send`:
//!
//! ```compile_fail
//! let rt = corio::LocalRuntime::new()?;
//! std::thread::spawn(move || rt.block_on(async {})); // error: `LocalRuntime` is not `Send`
//! # std::io::Result::Ok(())
//! ```
//!
//! ```compile_fail
//! corio::run_local(async {
//!     let task = corio::spawn_local(async { std::rc::Rc::new(1) });
//!     std::thread::spawn(move || drop(task)); // error: `Task<Rc<i32>>` is not `Send`
//! });
//! ```
//!
//! A corio `Mutex` guard may be held across an `.await` in a spawned task; a std one may not:
//!
//! ```
//! use std::sync::Arc;
//!
//! corio::run(async {
//!     let counter = Arc::new(corio::sync::Mutex::new(0));
//!     let c = counter.clone();
//!     corio::spawn(async move {
//!         let mut n = c.lock().await;
//!         corio::yield_now().await; // the guard is held across this await
//!         *n += 1;
//!     })
//!     .await;
//!     assert_eq!(*counter.lock().await, 1);
//! });
//! ```
//!
//! ```compile_fail
//! use std::sync::Arc;
//!
//! corio::run(async {
//!     let counter = Arc::new(std::sync::Mutex::new(0));
//!     let c = counter.clone();
//!     corio::spawn(async move {
//!         let mut n = c.lock().unwrap();
//!         corio::yield_now().await; // error: std's `MutexGuard` is not `Send`
//!         *n += 1;
//!     })
//!     .await;
//! });
//! ```
//!
//! The guard of an entered runtime restores its thread's context when dropped, so it cannot be
//! held across an `.await` in a spawned task (the task may resume on another worker):
//!
//! ```compile_fail
//! let rt = corio::Runtime::new()?;
//! let handle = rt.handle();
//! corio::run(async move {
//!     corio::spawn(async move {
//!         let _entered = handle.enter();
//!         corio::yield_now().await; // error: `EnterGuard` is not `Send`
//!     })
//!     .await;
//! });
//! # std::io::Result::Ok(())
//! ```
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
mod io_ext;
mod runtime;
pub mod sim;
pub mod time;

pub use corio_macros::{main, test};

pub use deterministic::{FailingSeed, SEED_ENV, explore, run_seeded};
pub use runtime::{Builder, LocalRuntime, Runtime, RuntimeMetrics, metrics, run, run_local};

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
        AccessError, Builder, LocalKey, Scope, WithInherited, id, inherit, inherit_fn,
    };
    pub use corio_executor::{
        Task, TaskId, YieldNow, panic_message, spawn, spawn_local, yield_now,
    };
}

// Structured concurrency.
pub use corio_scope::{
    CancelScope, CancelToken, ChildHandle, Group, GroupError, current_deadline, fail_after, join,
    join_all, move_on_after, race, shield, supervisor, task_group, try_join, try_join_all,
};

// Choosing among futures, and a dynamic set of tasks.
pub use corio_scope::{AsCompleted, TaskSet, as_completed, select};

/// Structured concurrency: task groups, gathering, cancel scopes and tokens.
pub mod scope {
    pub use corio_scope::*;
}

// Time.
pub use corio_timer::{Elapsed, Interval, interval, sleep, sleep_until, timeout, timeout_at};

// I/O.
pub use corio_reactor::Async;

/// I/O: the futures-io traits and futures-lite's toolkit (buffering, lines, `copy`, `split`),
/// so that socket and file code needs no other crate; plus [`Async`] and the reactor it
/// registers with.
///
/// The traits are futures-io's (`AsyncRead`, `AsyncWrite`, ...), which corio's sockets, files and
/// pipes implement; [`BufReader`](io::BufReader), [`copy`](io::copy), [`split`](io::split) and
/// friends are futures-lite's. [`AsyncReadExt`](io::AsyncReadExt),
/// [`AsyncBufReadExt`](io::AsyncBufReadExt) and [`AsyncWriteExt`](io::AsyncWriteExt) are corio's:
/// futures-lite's methods, except that `read_to_string` and `read_line` append to the string as
/// std's and tokio's do (futures-lite 2.6's panic in debug builds on a non-empty string and
/// replace its contents otherwise), plus tokio's number reads and writes (`read_u32`,
/// `write_u64_le`, ...: big-endian, or little-endian with `_le`). Import them from here, not
/// from futures-lite too, or method calls become ambiguous.
///
/// **Cancel safety.** corio's own operations (a socket's or a file's `read`, `write`, `accept`,
/// `recv_from`...) lose nothing when their future is dropped, as the cancel-safety tables of
/// [`net`] and [`fs`] say. The toolkit's composite futures keep their progress inside the future
/// instead: a dropped `read_line` or `read_to_string` loses the bytes it had already read
/// (neither the `String` nor the next read gets them), a dropped `read_exact` leaves its prefix
/// in the buffer without saying how long it is, and a dropped `read_u32` (or any number read or
/// write) loses the bytes of the number it had read (wrote part of it). In a `select!` or `timeout` loop, read
/// lines through the `lines()` stream, whose partial line lives in the stream (a dropped `next()`
/// loses nothing), or create the future once and poll `&mut fut` in the loop.
///
/// ```
/// use corio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Cursor};
/// use corio::stream::StreamExt;
///
/// corio::block_on(async {
///     let mut lines = BufReader::new(Cursor::new(b"one\ntwo\n".to_vec())).lines();
///     let mut out = Vec::new();
///     while let Some(line) = lines.next().await {
///         out.write_all(line?.to_uppercase().as_bytes()).await?;
///     }
///     assert_eq!(out, b"ONETWO");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub mod io {
    pub use crate::io_ext::{
        AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, ReadLineFuture, ReadNumber,
        ReadToStringFuture, WriteNumber,
    };
    pub use corio_reactor::{Async, IoWith, Reactor, Ready};
    pub use futures_io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite};
    pub use futures_lite::io::{
        AsyncSeekExt, BufReader, BufWriter, Cursor, Empty, ReadHalf, Repeat, Sink, WriteHalf, copy,
        empty, repeat, sink, split,
    };
}

/// Streams: futures-core's [`Stream`](stream::Stream) (what [`as_completed`], [`Interval`],
/// queue streams and directory listings implement) and futures-lite's
/// [`StreamExt`](stream::StreamExt) (`next`, `map`, `filter`, `collect`, ...).
///
/// ```
/// use corio::stream::StreamExt;
///
/// let done = corio::as_completed((1..=3).map(|i| async move { i * 10 }));
/// let mut outputs = corio::block_on(done.collect::<Vec<_>>());
/// outputs.sort();
/// assert_eq!(outputs, [10, 20, 30]);
/// ```
pub mod stream {
    pub use futures_core::Stream;
    pub use futures_lite::StreamExt;
}

/// Future combinators: futures-lite's [`FutureExt`](future::FutureExt) (`or`, `race`, `boxed`,
/// `catch_unwind`, ...).
///
/// `catch_unwind` is how one task keeps a panic of its own work to itself, where tokio's
/// `JoinHandle` gives a `JoinError` with `is_panic()`: a `task_group` cancels every child when
/// one panics (a panic is a bug, not an error), so a server whose connections are a group's
/// children catches each connection's panic in the child and turns it into a value (a log
/// line, an error reply):
///
/// ```
/// use std::panic::AssertUnwindSafe;
/// use corio::future::FutureExt;
///
/// let served = corio::run(async {
///     corio::task_group(async |g| {
///         let connections: Vec<_> = (0..3)
///             .map(|i| {
///                 g.spawn(async move {
///                     let connection = async move {
///                         assert_ne!(i, 1, "a bug in connection {i}");
///                         i
///                     };
///                     // This connection's panic stays here; its siblings keep running.
///                     Ok::<_, ()>(AssertUnwindSafe(connection).catch_unwind().await.ok())
///                 })
///             })
///             .collect();
///         let mut served = Vec::new();
///         for c in connections {
///             served.push(c.await.map_err(|_| ())?);
///         }
///         Ok(served)
///     })
///     .await
/// });
/// assert_eq!(served.unwrap(), [Some(0), None, Some(2)]);
/// ```
///
/// Awaiting a `Task` inside `catch_unwind` catches the task's panic the same way.
pub mod future {
    pub use futures_lite::FutureExt;
    pub use std::future::Future;
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

/// Unix signals as futures (asyncio's `loop.add_signal_handler`): [`ctrl_c`](signal::ctrl_c)
/// and [`unix::signal`](signal::unix::signal).
///
/// ```
/// use corio::signal::unix::{SignalKind, signal};
/// use std::time::Duration;
///
/// corio::run(async {
///     let mut term = signal(SignalKind::terminate())?; // listening from here on
///     // Serve until SIGTERM; here, for at most 10 ms.
///     let stopped = corio::timeout(Duration::from_millis(10), term.recv()).await;
///     assert!(stopped.is_err(), "nobody sent SIGTERM");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[cfg(unix)]
pub mod signal {
    pub use corio_signal::*;
}

/// Subprocesses (asyncio's `create_subprocess_exec`): [`Command`](process::Command) spawns a
/// [`Child`](process::Child) with futures-io pipes, waited for on the reactor; no zombie is
/// left behind.
///
/// ```
/// corio::run(async {
///     let out = corio::process::Command::new("echo").arg("hi").output().await?;
///     assert_eq!(out.stdout, b"hi\n");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[cfg(unix)]
pub mod process {
    pub use corio_process::*;
}

pub use corio_blocking::Unblock;

/// Runs blocking code on the blocking pool and awaits its result: Python's `asyncio.to_thread`.
///
/// The closure sees the [task-local](task_local) values in scope at this call, as `to_thread`
/// propagates the `contextvars` context (a clone of each, made at the call). No loop runs on
/// the pool thread: [`spawn_local`] inside the closure panics, naming `run_local`, instead of
/// leaving a task that would never run. Nor is the caller's runtime entered there (as
/// `asyncio.to_thread` runs its function outside the event loop): [`spawn`], [`sleep`] and
/// sockets inside the closure use the process-wide runtime, timer and reactor, which outlive
/// the caller's runtime. To start a task on the caller's runtime from the closure, take its
/// [`Handle`] before: `let rt = corio::Handle::current();`, then `rt.spawn(..)` inside. Everything else
/// is [`corio_blocking::unblock`]'s: the job is queued at once, even before the future is
/// polled, on the pool of the runtime this is *called* on (outside any runtime, a global pool:
/// `rt.block_on(corio::to_thread(f))` calls it before `block_on` enters `rt`, so write
/// `rt.block_on(async { corio::to_thread(f).await })` to use `rt`'s pool and its limits); if
/// the future is dropped, the closure still runs (a thread cannot be interrupted)
/// and its result is dropped on the pool thread (a runtime dropped meanwhile waits for it up to
/// a second, then leaves it running on its thread); a panic in it resumes in whoever awaits. A
/// panic nobody can see any more (the future was dropped), of the closure or of the destructor
/// of the value it returns, goes to the report hook of the runtime this was called on, named
/// `to_thread` with this call's location, as a detached task's panic does; it never aborts.
/// [`spawn_cpu`] is the pool for CPU-bound work. Under virtual time ([`run_seeded`]) the clock
/// holds while the job runs, for up to a second of real time without a job finishing; inside
/// [`sim`] the closure runs inline, at the call.
///
/// # Examples
///
/// ```
/// corio::task_local! { static REQUEST_ID: u64; }
///
/// corio::run(REQUEST_ID.scope(7, async {
///     let (sum, id) = corio::to_thread(|| ((1..=100u64).sum::<u64>(), REQUEST_ID.with(|id| *id))).await;
///     assert_eq!((sum, id), (5050, 7));
/// }));
/// ```
#[track_caller]
pub fn to_thread<T, F>(f: F) -> corio_blocking::Unblocked<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let f = task::inherit_fn(f);
    // A panic nobody will see (the future was dropped before the job ended) goes to the
    // caller's runtime's report hook, named and located like a detached task's.
    let report = corio_executor::task::unobserved_panic_reporter(
        "to_thread",
        std::panic::Location::caller(),
    );
    corio_blocking::unblock_reporting(
        move || corio_executor::pool_job(f),
        move |unobserved| match unobserved {
            corio_blocking::Unobserved::Panicked(payload) => report(payload, false),
            corio_blocking::Unobserved::DropPanicked(payload) => report(payload, true),
            _ => {}
        },
    )
}

/// The same as [`to_thread`] (smol's name).
///
/// # Examples
///
/// ```
/// let n = corio::run(async { corio::unblock(|| 6 * 7).await });
/// assert_eq!(n, 42);
/// ```
#[track_caller]
pub fn unblock<T, F>(f: F) -> corio_blocking::Unblocked<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    to_thread(f)
}

// Retry with backoff (the waits are corio's sleeps, so timeouts and cancel scopes stop them).
pub use corio_timer::{Backoff, Retry, retry, retry_if};

/// The pool for CPU-bound work behind [`spawn_cpu`]: [`CpuPool`](cpu::CpuPool), its builder and
/// [`CpuMetrics`](cpu::CpuMetrics), and [`THREADS_ENV`](cpu::THREADS_ENV)
/// (`CORIO_CPU_THREADS`).
pub mod cpu {
    pub use corio_cpu::*;
}

/// Runs a CPU-bound closure on the current runtime's CPU pool and returns its [`Task`].
///
/// The CPU pool is apart from the blocking-I/O pool of [`to_thread`]: it has one thread per core
/// by default ([`Builder::cpu_threads`], or `CORIO_CPU_THREADS`) and a bounded queue. A full
/// queue makes the job wait for room, without blocking any thread. A pool busy with long
/// computations therefore never delays `to_thread` calls, and never blocks the event loop.
///
/// - The job is handed to the pool by this call (not when the task is first polled): it joins
///   the queue or, if the queue is full, the pool's line (first come, first served), and the
///   pool moves it into the queue as room appears. The `Task` *is* the job: no runtime task
///   waits for it, and the finished job wakes whoever awaits the `Task`, directly.
/// - Dropping (or [cancelling](Task::cancel)) the `Task` before the closure has started means
///   the closure never runs (the pool drops it when its turn comes, and counts it cancelled).
/// - Once started, the closure runs to the end (a thread cannot be interrupted); a dropped
///   `Task` just discards the result. [Detached](Task::detach), it runs on by itself.
///   [`Task::cancel`] does not wait for the pool: it returns `None` at once unless the job has
///   finished, so the closure (and what it captured) may still be alive, running, after it
///   returns.
/// - A panic in the closure is caught on the pool thread and resumes in whoever awaits the
///   `Task` (if nobody does, it is reported through the runtime's report hook).
/// - Dropping the runtime drops the jobs of its pool that have not started (an awaiter sees
///   them as shut down) and lets the running ones finish.
/// - Outside any runtime, the job goes to a global CPU pool, so it works from any thread. The
///   pool is the one of the runtime this is *called* on: `rt.block_on(corio::spawn_cpu(f))`
///   calls it before `block_on` enters `rt`, so the job runs on the global pool; write
///   `rt.block_on(async { corio::spawn_cpu(f).await })` to use `rt`'s.
///
/// The pool's counters are in [`RuntimeMetrics`] (`cpu_queued`, `cpu_running`,
/// `cpu_completed`); in debug mode the job shows up in [`dump`] as a task named `spawn_cpu` until
/// it ends (always as scheduled; a CPU job's run is not a poll that could block the loop, so it
/// is not watched for slowness). In deterministic mode, virtual time holds still while a job is
/// queued or running, for up to a second of real time without a job finishing (the job may wait
/// for the loop); its completion is not replayed by the seed. In a simulation (`corio::sim`) it
/// runs at the call, on the simulation's thread, as `to_thread` does there, so that the seed
/// decides when.
///
/// # Examples
///
/// ```
/// corio::run(async {
///     // asyncio: `await loop.run_in_executor(process_pool, checksum, data)`
///     let data: Vec<u8> = (0..=255).collect();
///     let checksum = corio::spawn_cpu(move || data.iter().map(|&b| u64::from(b)).sum::<u64>());
///     assert_eq!(checksum.await, 32_640);
/// });
/// ```
#[track_caller]
pub fn spawn_cpu<T, F>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // The task's runnable is the pool's job: the pool polls the task once, which runs `f`, and
    // the completion wakes the awaiter (a bridging task awaiting a `submit` future cost a
    // wake-up of the runtime per job, issue 20). The `CpuJob` tells the pool's counters whether
    // `f` ran, panicked, or was dropped unrun (the task was cancelled first).
    let job = corio_cpu::CpuJob::new(f);
    corio_executor::task::Builder::new()
        .name("spawn_cpu")
        .spawn_with_scheduler(
            async move { corio_executor::pool_job(|| job.call()) },
            |runnable| {
                // Called once, by `spawn_with_scheduler`, on this thread: `current` is the pool of
                // the caller's runtime. (The future never waits, so it is never woken again.)
                if corio_blocking::runs_inline_on_this_thread() {
                    // A simulation: the job runs here, now, as `to_thread` does there, so that
                    // the seed decides when it completes (on a pool thread, replay by seed
                    // diverged in a few runs in 50: a probe found it).
                    corio_blocking::run_inline_job(|| runnable.run());
                    return;
                }
                corio_cpu::CpuPool::current().execute(move || {
                    runnable.run();
                });
            },
        )
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

#[doc(hidden)]
pub mod __private {
    pub use crate::runtime::{MacroConfig, run_main, run_test};
}
