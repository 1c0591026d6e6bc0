//! `SubLoop`: a set of tasks with its own run queue, driven by a future of the enclosing loop.
//!
//! The network simulation (`corio::sim`) gives each simulated host one, so that `crash` can drop
//! every task of the host and nothing else.
//!
//! # Invariants
//!
//! 1. While [`SubLoop::run_ready`] runs the loop's tasks, the loop is this thread's current loop:
//!    `spawn`, `spawn_local`, task groups and `Handle::current()` called by those tasks put the new
//!    tasks on this loop, so a task's descendants stay on it.
//! 2. Outside `run_ready` the loop counts as parked: a wake of one of its tasks (from any thread
//!    or loop) goes to its injector and wakes the waker of the last `run_ready` call, so the
//!    driving future is polled again. No wake is lost: `run_ready` looks at the queues after it
//!    stored the waker.
//! 3. [`SubLoop::shutdown`] (and dropping the `SubLoop`) drops every task of the loop, their
//!    destructors running on this thread with the loop current, and later wakes or spawns are
//!    dropped as they come (a spawn onto a loop that is shut down is cancelled).
//! 4. Nothing here is polled by the enclosing runtime itself: only the future calling `run_ready`
//!    runs these tasks, so a loop nobody drives makes no progress (and wastes nothing).

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::Duration;

use crate::context::{self, Common, Current};
use crate::local::Core;
use crate::loom_shim::lock_std;
use crate::park::{Driver, DriverHandle};
use crate::task::{Header, Task};

/// A set of tasks with its own run queue, run by whoever calls [`run_ready`](SubLoop::run_ready)
/// (typically a future of the enclosing loop), and dropped all at once by
/// [`shutdown`](SubLoop::shutdown).
///
/// Tasks spawned by its tasks (`spawn`, `spawn_local`, task groups) belong to it too. It runs
/// on the thread that created it and is not `Send`.
///
/// # Examples
///
/// ```
/// use std::future::poll_fn;
/// use std::task::Poll;
/// use corio_executor::SubLoop;
///
/// corio_executor::run_local(async {
///     let sub = SubLoop::new(None);
///     let child = sub.spawn(async {
///         // Spawned from inside: a task of the same sub-loop.
///         corio_executor::spawn(async { 20 }).await + 22
///     });
///     // Drive the sub-loop until the child is done.
///     let mut child = std::pin::pin!(child);
///     let answer = poll_fn(|cx| {
///         sub.run_ready(cx, 64);
///         child.as_mut().poll(cx)
///     })
///     .await;
///     assert_eq!(answer, 42);
///
///     let forever = sub.spawn(std::future::pending::<()>());
///     poll_fn(|cx| { sub.run_ready(cx, 64); Poll::Ready(()) }).await;
///     assert_eq!(sub.tasks(), 1);
///     sub.shutdown(); // the pending task is dropped, its destructors run
///     assert_eq!(sub.tasks(), 0);
///     drop(forever);
/// });
/// ```
pub struct SubLoop {
    core: Rc<Core>,
    handle: Arc<SubHandle>,
    /// Set by [`stop`](SubLoop::stop): `run_ready` runs no task any more.
    stopped: std::cell::Cell<bool>,
}

impl fmt::Debug for SubLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubLoop")
            .field("tasks", &self.tasks())
            .finish_non_exhaustive()
    }
}

impl SubLoop {
    /// A new, empty sub-loop. With a seed, the choice among its ready tasks and the values of
    /// `random_u64` inside its tasks are seeded (deterministic mode); without one, ready tasks
    /// run in FIFO order. Unobserved panics go to the report hook of the runtime current here.
    ///
    /// # Examples
    ///
    /// ```
    /// let sub = corio_executor::SubLoop::new(Some(7));
    /// assert_eq!(sub.tasks(), 0);
    /// ```
    pub fn new(seed: Option<u64>) -> SubLoop {
        let (report, policy) = context::panic_reporting()
            .unwrap_or_else(|| (crate::report::default_hook(), Default::default()));
        let common = Common::new(1, policy, report, None, None, None);
        let handle = Arc::new(SubHandle {
            waker: Mutex::new(None),
        });
        let driver = Box::new(SubDriver {
            handle: handle.clone(),
        });
        let core = Core::new(common, driver, seed, false);
        core.set_parked(true);
        SubLoop {
            core,
            handle,
            stopped: std::cell::Cell::new(false),
        }
    }

    /// Stops the loop: from now on [`run_ready`](SubLoop::run_ready) runs none of its tasks, not
    /// even the rest of a batch it is running (a task may call this from inside its own poll:
    /// that poll ends normally, and its task is not polled again). The tasks stay until
    /// [`shutdown`](SubLoop::shutdown) drops them.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::Context;
    ///
    /// let sub = corio_executor::SubLoop::new(None);
    /// let _t = sub.spawn(async {});
    /// sub.stop();
    /// let mut cx = Context::from_waker(std::task::Waker::noop());
    /// assert_eq!(sub.run_ready(&mut cx, 16), 0);
    /// assert_eq!(sub.tasks(), 1);
    /// sub.shutdown();
    /// assert_eq!(sub.tasks(), 0);
    /// ```
    pub fn stop(&self) {
        self.stopped.set(true);
    }

    /// Spawns `future` as a task of this loop. It first runs at the next
    /// [`run_ready`](SubLoop::run_ready).
    ///
    /// # Examples
    ///
    /// ```
    /// let sub = corio_executor::SubLoop::new(None);
    /// let task = sub.spawn(async { 1 });
    /// assert_eq!(sub.tasks(), 1);
    /// drop(task); // cancelled
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = self
            .core
            .spawn_local(future, Header::new(Location::caller(), None));
        if self.is_shut_down() {
            // Queued on a loop that will never run it: drop it now.
            self.core.shutdown();
        }
        task
    }

    fn is_shut_down(&self) -> bool {
        self.core
            .shared
            .shutdown
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs up to `max` ready tasks with this loop current, and remembers `cx`'s waker, which is
    /// woken when one of the loop's tasks is woken from outside. If tasks are still ready
    /// afterwards, the waker is woken at once (the caller should yield and come back).
    ///
    /// Returns the number of task polls it ran.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::Context;
    ///
    /// let sub = corio_executor::SubLoop::new(None);
    /// let _t = sub.spawn(async {});
    /// let mut cx = Context::from_waker(std::task::Waker::noop());
    /// assert_eq!(sub.run_ready(&mut cx, 16), 1);
    /// assert_eq!(sub.tasks(), 0);
    /// ```
    pub fn run_ready(&self, cx: &mut Context<'_>, max: usize) -> usize {
        {
            let mut slot = lock_std(&self.handle.waker);
            match &mut *slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                other => *other = Some(cx.waker().clone()),
            }
        }
        let _enter = context::enter(Current::Local(self.core.clone()));
        let mut ran = 0;
        while ran < max && !self.stopped.get() {
            match self.core.next_task() {
                Some(r) => {
                    self.core.run_task(r);
                    ran += 1;
                }
                None => break,
            }
        }
        if self.core.has_work() && !self.stopped.get() {
            cx.waker().wake_by_ref();
        }
        ran
    }

    /// The number of tasks of this loop that are alive (spawned and not yet dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let sub = corio_executor::SubLoop::new(None);
    /// let t = sub.spawn(std::future::pending::<()>());
    /// assert_eq!(sub.tasks(), 1);
    /// sub.shutdown();
    /// assert_eq!(sub.tasks(), 0);
    /// # drop(t);
    /// ```
    pub fn tasks(&self) -> usize {
        usize::try_from(self.core.shared.metrics().alive).unwrap_or(usize::MAX)
    }

    /// Drops every task of this loop, on this thread, with the loop current (so destructors that
    /// spawn or use sockets see it). Awaiting one of its tasks afterwards reports a cancelled
    /// task. Tasks spawned onto the loop later are dropped at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// struct Flag(Arc<AtomicBool>);
    /// impl Drop for Flag {
    ///     fn drop(&mut self) { self.0.store(true, Ordering::SeqCst); }
    /// }
    ///
    /// let dropped = Arc::new(AtomicBool::new(false));
    /// let sub = corio_executor::SubLoop::new(None);
    /// let flag = Flag(dropped.clone());
    /// sub.spawn(async move { let _f = flag; std::future::pending::<()>().await }).detach();
    /// sub.shutdown();
    /// assert!(dropped.load(Ordering::SeqCst));
    /// ```
    pub fn shutdown(&self) {
        self.core.shutdown();
    }
}

impl Drop for SubLoop {
    fn drop(&mut self) {
        // A loop already shut down has nothing left unless something was woken or spawned onto
        // it since; skipping the second shutdown keeps a drop from re-entering the scheduler.
        if !self.is_shut_down() || self.core.has_work() {
            self.core.shutdown();
        }
    }
}

/// Wakes the future that drives the sub-loop.
struct SubHandle {
    waker: Mutex<Option<Waker>>,
}

impl DriverHandle for SubHandle {
    fn unpark(&self) {
        let waker = lock_std(&self.waker).clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The sub-loop never parks: its driver is the enclosing loop's.
struct SubDriver {
    handle: Arc<SubHandle>,
}

impl Driver for SubDriver {
    fn park(&mut self, timeout: Option<Duration>) {
        if timeout == Some(Duration::ZERO) {
            // A check between tasks: the enclosing loop looks at timers and I/O itself.
            return;
        }
        // Only a `block_on` (or a blocking call of a primitive) nested in one of this loop's
        // tasks parks here: the loop found nothing to run and would wait. Nothing can come:
        // timers, I/O and the other tasks move only when the task that drives this loop returns
        // to the enclosing loop, which is blocked in this very call. It spun for ever, silently
        // (a probe: `corio::block_on(sleep(..))` in a simulation's client). Only a thread outside
        // the simulation could end such a wait (it spun until then), which the simulation does
        // not model: that now fails too.
        panic!(
            "corio: block_on (or a blocking call such as lock_blocking) cannot wait inside a \
             task of a sub-loop (a host of corio::sim): the simulation's time and its other \
             tasks move only once this task returns to the simulation's loop, so nothing in the \
             simulation can wake it (a thread outside the simulation could, but the simulation \
             does not model those); .await the future instead"
        );
    }

    fn handle(&self) -> Arc<dyn DriverHandle> {
        self.handle.clone()
    }
}
