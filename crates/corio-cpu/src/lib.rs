//! A pool for CPU-bound work, awaited from async code: the engine of `corio::spawn_cpu`.
//!
//! Computation (image resizing, hashing, compression, parsing a large document) must not run
//! on the event loop, where it freezes every other task, and it does not belong on the
//! blocking-I/O pool either: that pool grows to hundreds of threads because its threads mostly
//! *wait*, while computing threads compete for cores. Python's answer is a process pool for CPU
//! work beside the thread pool for I/O; this crate is corio's:
//!
//! - [`CpuPool`] has a fixed number of threads, one per core by default, started on demand;
//! - its queue is bounded, and a submitter that finds it full *waits asynchronously* for room
//!   (backpressure without blocking a thread);
//! - [`CpuPool::run`] and [`CpuPool::submit`] return a [`Run`] future of the closure's value
//!   (they differ only in who holds the job while the queue is full);
//! - [`CpuPool::execute`] hands over a job to run with nothing to await (fire and forget), for
//!   a job that delivers its result itself: `corio::spawn_cpu` gives it a task's runnable, so the
//!   task *is* the job and its completion wakes the awaiter directly; [`CpuJob`] lets such a job
//!   tell the counters that it was cancelled or panicked;
//! - [`CpuMetrics`] counts jobs queued, running, completed, panicked and cancelled.
//!
//! The crate depends on no other crate (not even a corio one) and works under any executor.
//!
//! # Examples
//!
//! ```
//! use corio_cpu::CpuPool;
//!
//! let pool = CpuPool::builder().threads(2).build();
//! # futures_lite::future::block_on(async {
//! let a = pool.run(|| (0..1_000_000u64).fold(0, |h, x| h ^ x.wrapping_mul(0x9E37)));
//! let b = pool.run(|| "corio".bytes().map(u64::from).sum::<u64>());
//! let (a, b) = (a.await, b.await);
//! # let _ = a;
//! assert_eq!(b, 540);
//! # });
//! ```
//!
//! # Invariants
//!
//! **A job dropped before it starts never runs.** Each job has a small state machine (queued,
//! running, cancelled, done) behind its own lock. Dropping the [`Run`] future moves a queued
//! job to cancelled; a thread that dequeues it moves it to running only from queued, so exactly
//! one of the two wins. A cancelled job's closure is dropped, unrun, by the thread that
//! dequeues it. A job the pool still holds in its line (see [`CpuPool::submit`]) is taken out of
//! the line under the pool's lock, so the pool cannot move it into the queue meanwhile, and
//! dropped unrun. A job that has started runs to the end (a thread cannot be interrupted) and its
//! result is dropped.
//!
//! An [`execute`](CpuPool::execute) job has no future: it is cancelled by whoever it serves
//! (a task dropped before it ran drops its future unpolled when the job runs; the [`CpuJob`]
//! inside, dropped uncalled, makes the job count as cancelled). It stays queued, and holds its
//! slot, until a thread takes it. Not yet started at shutdown, it is dropped unrun.
//!
//! **A panic travels to the awaiter.** The closure runs under `catch_unwind`; awaiting its
//! [`Run`] resumes the panic with the original payload. The thread survives.
//!
//! **The queue is bounded and its line is fair.** At most
//! [`queue_capacity`](CpuPoolBuilder::queue_capacity) jobs wait in the queue (cancelled ones
//! still hold their slot until dequeued). A submitter that finds the queue full, or others
//! already waiting, joins a FIFO line, and a newcomer never overtakes it. Two kinds of
//! submitters share that line: a [`Run`] from [`CpuPool::run`] keeps its job and waits to be
//! woken with a reserved slot; a [`Run`] from [`CpuPool::submit`] hands its job to the pool,
//! which holds it in line and moves it into the queue itself when it reaches the head and a slot
//! is free (nobody is woken for that). Waiting `run` submitters are woken in batches: once the
//! queue has drained to half its capacity, every free slot goes to the head of the line at once,
//! so a long line costs one wake-up of the submitters' executor per half-queue, not one per job.
//! A submitter that leaves the line holding a reservation passes it on at once; a job that
//! leaves the line (its future dropped) never runs. An [`execute`](CpuPool::execute) job joins
//! the same line as a `submit` job does.
//!
//! **No user code runs under the pool's lock.** Closures, their destructors and wakers all run
//! after it is released, so a job or a waker may submit more jobs.
//!
//! **Shutdown loses nothing and never hangs.** [`CpuPool::shutdown`] lets the threads finish the
//! queue (jobs held in line included; `execute` jobs not started are dropped unrun, and count as
//! cancelled) and waits for them up to a timeout; dropping the last
//! handle does the same with
//! [`DEFAULT_SHUTDOWN_TIMEOUT`] (configurable). Jobs submitted after shutdown, and submitters
//! waiting for room then, run on the global pool, which never shuts down. If the OS refuses to
//! start any thread at all, a job runs on the thread that polls its [`Run`] rather than never.
//!
//! # Defaults and configuration
//!
//! | setting | default | builder | environment |
//! |---|---|---|---|
//! | threads | one per core (`available_parallelism`) | [`CpuPoolBuilder::threads`] | [`THREADS_ENV`] |
//! | queue capacity | [`DEFAULT_QUEUE_PER_THREAD`] × threads | [`CpuPoolBuilder::queue_capacity`] | |
//! | drop bound | [`DEFAULT_SHUTDOWN_TIMEOUT`] = 1 s | [`CpuPoolBuilder::shutdown_timeout`] | |
//!
//! An explicit builder call wins over the environment, which wins over the default. A bad
//! environment value (`0` included) is ignored with one line on stderr; `threads(0)` and
//! `queue_capacity(0)` are taken as 1.
#![forbid(unsafe_code)]

mod config;
mod pool;

pub use config::{
    DEFAULT_QUEUE_PER_THREAD, DEFAULT_SHUTDOWN_TIMEOUT, MAX_THREADS_CEILING, THREADS_ENV,
};
pub use pool::{CpuJob, CpuMetrics, CpuPool, CpuPoolBuilder, EnterGuard, Run};
