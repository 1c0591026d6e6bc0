//! A thread pool for blocking work, and the bridge from async code to it.
//!
//! An async task must not block: while it sits in `std::fs::read`, a database driver's sync call
//! or `image::open`, its whole event-loop thread is frozen, and every other task, timer and
//! socket on that thread waits. This crate is corio's answer to Python's `asyncio.to_thread` and
//! the default executor behind it:
//!
//! - [`unblock`] (alias [`to_thread`]) runs a closure on a pool thread and returns a future of
//!   its result;
//! - [`Unblock<T>`] turns a blocking [`Read`](std::io::Read), [`Write`](std::io::Write),
//!   [`Seek`](std::io::Seek) or [`Iterator`] into futures-io `AsyncRead`/`AsyncWrite`/`AsyncSeek`
//!   or a [`Stream`](futures_core::Stream); [`stdin`], [`stdout`] and [`stderr`] come this way;
//! - [`Pool`] is the pool itself, if you want your own, with [`PoolMetrics`].
//!
//! The crate depends on no other corio crate and works under any executor (a test drives it from
//! `futures_lite::future::block_on` on plain threads).
//!
//! # Examples
//!
//! ```
//! use corio_blocking::{to_thread, Unblock};
//! use futures_lite::AsyncReadExt;
//!
//! # futures_lite::future::block_on(async {
//! // A blocking computation, off the event loop.
//! let checksum = to_thread(|| (0..1_000_000u64).fold(0, |a, x| a ^ x.wrapping_mul(31))).await;
//! # let _ = checksum;
//!
//! // Several at once: each gets its own thread.
//! let jobs: Vec<_> = (0..4).map(|i| to_thread(move || i * 10)).collect();
//! let mut results = Vec::new();
//! for job in jobs {
//!     results.push(job.await);
//! }
//! assert_eq!(results, [0, 10, 20, 30]);
//!
//! // A blocking reader as an AsyncRead.
//! let mut reader = Unblock::new(std::io::Cursor::new(b"sync bytes".to_vec()));
//! let mut text = String::new();
//! reader.read_to_string(&mut text).await?;
//! assert_eq!(text, "sync bytes");
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! # Invariants
//!
//! **A dropped future does not cancel the job.** A thread running a closure cannot be
//! interrupted, and a job still queued runs anyway, so every submitted closure runs exactly once.
//! Its result is dropped on the pool thread as soon as it returns. Nothing leaks, and dropping
//! never waits.
//!
//! **A panic travels to the awaiter.** If the closure panics, awaiting its [`Unblocked`] future
//! resumes the panic with the original payload. The pool thread survives. If nobody awaits, the
//! panic hook has printed it, as for any thread.
//!
//! **The pool grows on demand and shrinks when idle.** It starts with no threads. A job that
//! finds no idle thread spawns one, up to the limit; beyond that, jobs queue in FIFO order. A
//! thread idle for the keep-alive exits. If spawning a thread fails, the pool carries on with
//! the threads it has; with none at all, the job goes to the global pool (a private pool) or
//! runs on the submitting thread (the global pool), so it never hangs.
//!
//! **Submitting takes no global lock.** Jobs go into a lock-free queue. The mutex is taken only
//! to wake a sleeping thread; a thread awake between jobs picks the job up without being told.
//! (A fence-based handshake between submitters and threads about to sleep or exit makes sure a
//! job is never left queued with every thread asleep.)
//!
//! **Shutdown loses nothing and never hangs.** [`Pool::shutdown`] stops idle threads, lets busy
//! ones finish their job and the queue, and waits for them up to a timeout. Dropping the last
//! [`Pool`] handle does the same with a bound of [`DEFAULT_SHUTDOWN_TIMEOUT`] (1 s,
//! configurable), after which remaining threads are detached and exit as soon as their job
//! returns. Anything submitted after shutdown runs on the global pool.
//!
//! **Buffered writes are not lost on drop.** An [`Unblock`] dropped with unflushed bytes has
//! them written and flushed by a pool job; an error at that point goes to stderr.
//! `flush().await` is the way to be sure.
//!
//! # Defaults and configuration
//!
//! | setting | default | builder | environment |
//! |---|---|---|---|
//! | thread limit | [`DEFAULT_MAX_THREADS`] = 512 | [`PoolBuilder::max_threads`] | [`THREADS_ENV`] |
//! | keep-alive | [`DEFAULT_KEEP_ALIVE`] = 10 s | [`PoolBuilder::keep_alive`] | [`KEEP_ALIVE_ENV`] (ms) |
//! | drop bound | [`DEFAULT_SHUTDOWN_TIMEOUT`] = 1 s | [`PoolBuilder::shutdown_timeout`] | |
//!
//! An explicit builder call wins over the environment, which wins over the default. A bad
//! environment value is ignored with one line on stderr. Why 512 rather than asyncio's
//! `min(32, cpus + 4)` is explained at [`DEFAULT_MAX_THREADS`].
#![forbid(unsafe_code)]

// One file per concept: `pool` the threads and the queue; `config` how a pool is built
// (`PoolBuilder`, defaults, environment); `job` the future of one closure on the pool
// (`Unblocked`); `adapter` the `Unblock<T>` I/O adapter, one file per direction below it;
// `stdio` the standard streams through that adapter.
mod adapter;
mod config;
mod inline;
mod job;
mod pool;
mod stdio;

pub use adapter::{DEFAULT_BUFFER_BYTES, DEFAULT_BUFFER_ITEMS, Unblock};
pub use config::{
    DEFAULT_KEEP_ALIVE, DEFAULT_MAX_THREADS, DEFAULT_SHUTDOWN_TIMEOUT, KEEP_ALIVE_ENV,
    MAX_THREADS_CEILING, PoolBuilder, THREADS_ENV,
};
pub use inline::{
    InlineGuard, run_inline_job, run_inline_on_this_thread, runs_inline_on_this_thread,
};
pub use job::{Unblocked, Unobserved};
pub use pool::{EnterGuard, Pool, PoolMetrics};
pub use stdio::{stderr, stdin, stdout};

/// Runs a blocking closure on the [current](Pool::current) pool and returns a future of its
/// result.
///
/// This is the way to call sync code (file and database APIs, compression, image decoding) from
/// async code without freezing the event loop. The job is queued right away, even before the
/// future is polled.
///
/// - If `f` panics, awaiting the future resumes the panic.
/// - If the future is dropped, `f` still runs (a thread cannot be interrupted) and its result is
///   dropped on the pool thread. Nothing leaks.
///
/// # Examples
///
/// ```
/// use corio_blocking::unblock;
///
/// # futures_lite::future::block_on(async {
/// # let tmp = tempfile::tempdir()?;
/// # std::fs::write(tmp.path().join("a"), "")?;
/// # let dir = tmp.path().to_owned();
/// // `std::fs` blocks, so it runs on the pool; the caller's thread stays free meanwhile.
/// let entries = unblock(move || std::fs::read_dir(dir).map(|d| d.count())).await?;
/// assert_eq!(entries, 1);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn unblock<T, F>(f: F) -> Unblocked<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if inline::active() {
        return Unblocked::inline(f, None);
    }
    pool::Sched::current().spawn(async move { f() })
}

/// [`unblock`], with where to report what nobody will observe: if the returned future is dropped
/// before the job ends, a panic of the closure, or of the destructor of the value it returns, is
/// handed to `report` (on the pool thread) instead of being printed on stderr. A runtime uses it
/// to send such panics to its own report hook.
///
/// # Examples
///
/// ```
/// use corio_blocking::{Unobserved, unblock_reporting};
/// use std::sync::mpsc;
///
/// let (tx, rx) = mpsc::channel();
/// let job = unblock_reporting(
///     || -> u8 { panic!("nobody will see this") },
///     move |unobserved| {
///         let _ = tx.send(matches!(unobserved, Unobserved::Panicked(_)));
///     },
/// );
/// drop(job); // the job still runs; its panic goes to the report
/// assert!(rx.recv().unwrap());
/// ```
pub fn unblock_reporting<T, F, R>(f: F, report: R) -> Unblocked<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
    R: FnOnce(Unobserved) + Send + 'static,
{
    let report: job::Report = Box::new(report);
    if inline::active() {
        return Unblocked::inline(f, Some(report));
    }
    pool::Sched::current().spawn_reporting(async move { f() }, Some(report))
}

/// Python's `asyncio.to_thread`: the same as [`unblock`].
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let hash = corio_blocking::to_thread(|| {
///     // Pretend this is expensive and blocking.
///     "resize me".bytes().map(u64::from).sum::<u64>()
/// })
/// .await;
/// assert_eq!(hash, 900);
/// # });
/// ```
pub fn to_thread<T, F>(f: F) -> Unblocked<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    unblock(f)
}
