//! What the handles of a task group share, and how the group polls, cancels and closes its
//! children.

use std::any::Any;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use corio_executor::Task;

use crate::lock;
use crate::set::FutureSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    FailFast,
    Supervise,
}

/// How many rounds of newly spawned local children one poll of the group runs at most.
const LOCAL_ROUNDS: usize = 16;

/// A local child, with the lifetime of what it borrows erased (see `Group::spawn_local`).
pub(super) type LocalChild = dyn Future<Output = ()> + Send;

/// What the group handles share, and `run_group` drives.
pub(super) struct GroupCore<E> {
    pub(super) shared: Arc<Shared<E>>,
    /// Handles of spawned children, so that cancelling the group can cancel them.
    pub(super) spawned: Mutex<slab::Slab<Task<()>>>,
    /// Local children spawned since the group last polled them.
    pub(super) incoming: Mutex<Vec<Pin<Box<LocalChild>>>>,
}

pub(super) struct Shared<E> {
    state: Mutex<State<E>>,
}

pub(super) struct State<E> {
    mode: Mode,
    pub(super) errors: Vec<E>,
    pub(super) panic: Option<(Box<dyn Any + Send>, &'static Location<'static>)>,
    /// The group was dropped: nobody will take `panic` any more, so a child that panics from now
    /// on (a spawned child still running on another thread) reports its panic itself.
    closed: bool,
    pub(super) cancelling: bool,
    pub(super) running: usize,
    pub(super) finished: Vec<usize>,
    pub(super) waker: Option<Waker>,
}

impl<E> Shared<E> {
    pub(super) fn lock(&self) -> MutexGuard<'_, State<E>> {
        lock(&self.state)
    }

    /// Records a child's (or the body's) failure.
    pub(super) fn fail(&self, error: E) {
        let waker = {
            let mut state = self.lock();
            state.errors.push(error);
            if state.mode == Mode::FailFast {
                state.cancelling = true;
            }
            state.waker.clone()
        };
        wake(waker);
    }

    pub(super) fn panicked(
        &self,
        payload: Box<dyn Any + Send>,
        location: &'static Location<'static>,
    ) {
        let (waker, extra) = {
            let mut state = self.lock();
            let extra = match state.panic {
                _ if state.closed => Some(payload),
                None => {
                    state.panic = Some((payload, location));
                    None
                }
                // Only one panic can resume in the caller; the others are reported.
                Some(_) => Some(payload),
            };
            state.cancelling = true;
            (state.waker.clone(), extra)
        };
        if let Some(payload) = extra {
            corio_executor::task::report_unobserved_panic(
                payload,
                Some("task group child"),
                location,
            );
        }
        wake(waker);
    }

    pub(super) fn cancel(&self) {
        let waker = {
            let mut state = self.lock();
            state.cancelling = true;
            state.waker.clone()
        };
        wake(waker);
    }

    pub(super) fn is_cancelling(&self) -> bool {
        self.lock().cancelling
    }

    /// Whether the group is cancelling because something failed (an error or a panic), not
    /// because of [`Group::cancel`](super::Group::cancel).
    pub(super) fn is_failing(&self) -> bool {
        let state = self.lock();
        state.cancelling && (!state.errors.is_empty() || state.panic.is_some())
    }
}

pub(super) fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

impl<E: Send + 'static> GroupCore<E> {
    pub(super) fn new(mode: Mode) -> GroupCore<E> {
        GroupCore {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    mode,
                    errors: Vec::new(),
                    panic: None,
                    closed: false,
                    cancelling: false,
                    running: 0,
                    finished: Vec::new(),
                    waker: None,
                }),
            }),
            spawned: Mutex::new(slab::Slab::new()),
            incoming: Mutex::new(Vec::new()),
        }
    }

    /// Registers the group future's waker and frees the handles of finished spawned children.
    pub(super) fn housekeeping(&self, cx: &mut Context<'_>) {
        // The replaced waker is dropped after the lock is released: dropping a task's last
        // waker may drop the task, and with it code that uses the group.
        let (finished, _replaced) = {
            let mut state = self.shared.lock();
            let replaced = match &state.waker {
                Some(w) if w.will_wake(cx.waker()) => None,
                _ => state.waker.replace(cx.waker().clone()),
            };
            (std::mem::take(&mut state.finished), replaced)
        };
        if !finished.is_empty() {
            let mut spawned = lock(&self.spawned);
            let tasks: Vec<_> = finished
                .into_iter()
                .filter_map(|k| spawned.try_remove(k))
                .collect();
            drop(spawned);
            // Finished tasks: dropping their handles cancels nothing.
            drop(tasks);
        }
    }

    /// Polls the local children that were woken (and those just spawned).
    ///
    /// Children spawned meanwhile are polled too, but for at most [`LOCAL_ROUNDS`] rounds: a
    /// chain of children that each spawn the next must not keep the group's task (and the
    /// deadlines around it) from ever returning. The task then wakes itself and goes on later.
    pub(super) fn poll_locals(&self, set: &mut FutureSet<LocalChild>, cx: &mut Context<'_>) {
        for _ in 0..LOCAL_ROUNDS {
            let incoming = std::mem::take(&mut *lock(&self.incoming));
            for child in incoming {
                set.push(child);
            }
            while let Poll::Ready(Some(_)) = set.poll_next(cx) {}
            if lock(&self.incoming).is_empty() {
                return;
            }
        }
        cx.waker().wake_by_ref();
    }

    /// Cancels every child: local ones are dropped now, spawned ones when the executor next
    /// looks at them. A local child whose destructor panics counts as a child that panicked (the
    /// panic resumes in the group's caller once all children are gone), and the other children
    /// are still dropped.
    pub(super) fn cancel_children(
        &self,
        set: &mut FutureSet<LocalChild>,
        location: &'static Location<'static>,
    ) {
        let spawned = std::mem::take(&mut *lock(&self.spawned));
        drop(spawned);
        let incoming = std::mem::take(&mut *lock(&self.incoming));
        for child in incoming {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(child))) {
                self.shared.panicked(payload, location);
            }
        }
        for payload in set.clear_catching() {
            self.shared.panicked(payload, location);
        }
    }
}

impl<E> GroupCore<E> {
    /// Ends the group for good: refuses new children, drops the local children still queued,
    /// cancels the spawned ones, and reports a caught panic that nobody will resume. Idempotent.
    ///
    /// `run_group` calls it when it ends, however it ends (returns, unwinds, or its future is
    /// dropped), so handles that escaped the body (clones kept elsewhere, or returned as the
    /// body's value) cannot keep children alive or spawn new ones afterwards.
    pub(super) fn close(&self) {
        // Closing and taking the panic under one lock: a spawned child that panics after this
        // point reports its own panic (see `Shared::panicked`).
        let lost = {
            let mut state = self.shared.lock();
            state.cancelling = true;
            state.closed = true;
            state.panic.take()
        };
        // Drop the queued local children while every field is alive (their destructors may use
        // the group); a racing `spawn_local` may add one more, hence the loop.
        loop {
            let incoming = std::mem::take(&mut *lock(&self.incoming));
            if incoming.is_empty() {
                break;
            }
            for child in incoming {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(child))) {
                    corio_executor::task::report_unobserved_panic(
                        payload,
                        Some("task group child"),
                        Location::caller(),
                    );
                }
            }
        }
        let spawned = std::mem::take(&mut *lock(&self.spawned));
        drop(spawned);
        if let Some((payload, location)) = lost {
            corio_executor::task::report_unobserved_panic(
                payload,
                Some("task group child"),
                location,
            );
        }
    }
}

impl<E> Drop for GroupCore<E> {
    fn drop(&mut self) {
        // Normally `run_group` closed the group already; this catches a child queued by a racing
        // `spawn_local` after that.
        self.close();
    }
}
