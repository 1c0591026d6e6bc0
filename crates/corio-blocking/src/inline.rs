//! Inline mode: on a thread that asked for it, [`unblock`](crate::unblock) runs its closure at
//! the call instead of on a pool thread.
//!
//! A deterministic simulation (`corio::sim`) turns it on for the thread it runs on, so that a
//! `to_thread` call happens at a point of the schedule that the seed decides, not whenever a
//! pool thread gets to it. The closure still runs exactly once and its panic still resumes in
//! the awaiter; only the thread and the moment change. The I/O adapters ([`Unblock`](crate::Unblock),
//! and so `corio::fs::File`) run their reads, writes and seeks inline too (each one blocking
//! call); a handle dropped with bytes still buffered is flushed on the pool, as elsewhere.

use std::cell::Cell;

thread_local! {
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// Whether [`unblock`](crate::unblock) runs closures inline on this thread.
pub(crate) fn active() -> bool {
    INLINE.try_with(Cell::get).unwrap_or(false)
}

/// How long a job run inline may run before the watcher says it may never return.
const INLINE_REPORT: std::time::Duration = std::time::Duration::from_secs(1);

/// A thread's inline job in progress, as the watcher sees it.
struct Running {
    /// When the outermost job started (`None`: no job runs), whether it was reported, and how
    /// many jobs run nested (an inline job may start another: the outer one stays watched).
    state: std::sync::Mutex<(Option<std::time::Instant>, bool, usize)>,
    thread: String,
}

/// Runs `f`, a job run inline on this thread (a blocking-pool or CPU job inside a simulation),
/// under watch: a job that has run for a second gets one line on stderr, since a job that waits
/// for the simulation's tasks (a channel a task sends on) can never return, the tasks being
/// unable to run on the thread it holds. (A probe found such a simulation hanging silently.)
///
/// # Examples
///
/// ```
/// assert_eq!(corio_blocking::run_inline_job(|| 2 + 2), 4);
/// ```
pub fn run_inline_job<R>(f: impl FnOnce() -> R) -> R {
    use std::sync::{Arc, Mutex, OnceLock, Weak};
    static WATCHED: OnceLock<Mutex<Vec<Weak<Running>>>> = OnceLock::new();
    thread_local! {
        static RUNNING: std::cell::OnceCell<Arc<Running>> = const { std::cell::OnceCell::new() };
    }
    let running = RUNNING.try_with(|r| {
        r.get_or_init(|| {
            let running = Arc::new(Running {
                state: Mutex::new((None, false, 0)),
                thread: std::thread::current()
                    .name()
                    .unwrap_or("<unnamed>")
                    .to_owned(),
            });
            let watched = WATCHED.get_or_init(|| {
                // One watcher thread for the process, started with the first inline job.
                let _ = std::thread::Builder::new()
                    .name("corio-inline-watch".into())
                    .spawn(watch);
                Mutex::new(Vec::new())
            });
            crate::pool::lock(watched).push(Arc::downgrade(&running));
            running
        })
        .clone()
    });
    fn watch() {
        loop {
            std::thread::sleep(INLINE_REPORT / 4);
            let Some(watched) = WATCHED.get() else {
                continue;
            };
            let mut watched = crate::pool::lock(watched);
            watched.retain(|w| w.strong_count() > 0);
            for running in watched.iter().filter_map(Weak::upgrade) {
                let mut state = crate::pool::lock(&running.state);
                if let (Some(started), false, _) = *state
                    && started.elapsed() >= INLINE_REPORT
                {
                    state.1 = true;
                    eprintln!(
                        "corio: a blocking or CPU job (to_thread, unblock, spawn_cpu) has run \
                         for {} s on thread `{}`, inline, as a simulation runs them (so that \
                         its seed decides when they complete): if it waits for the simulation's \
                         tasks (a channel one of them sends on), it never returns, since they \
                         cannot run on the thread it holds. Give the job what it needs before \
                         it starts, or await the tasks instead",
                        INLINE_REPORT.as_secs(),
                        running.thread
                    );
                }
            }
        }
    }
    let Ok(running) = running else {
        // Thread teardown: run it unwatched.
        return f();
    };
    struct Done(Arc<Running>);
    impl Drop for Done {
        fn drop(&mut self) {
            let mut state = crate::pool::lock(&self.0.state);
            state.2 -= 1;
            if state.2 == 0 {
                state.0 = None;
            }
        }
    }
    {
        let mut state = crate::pool::lock(&running.state);
        if state.2 == 0 {
            *state = (Some(std::time::Instant::now()), false, 0);
        }
        state.2 += 1;
    }
    let _done = Done(running);
    f()
}

/// Whether this thread is in inline mode (see [`run_inline_on_this_thread`]): other pools (the
/// facade's `spawn_cpu`) follow it, so that a simulation decides when their jobs run too.
///
/// # Examples
///
/// ```
/// assert!(!corio_blocking::runs_inline_on_this_thread());
/// let _inline = corio_blocking::run_inline_on_this_thread();
/// assert!(corio_blocking::runs_inline_on_this_thread());
/// ```
pub fn runs_inline_on_this_thread() -> bool {
    active()
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
