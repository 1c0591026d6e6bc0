//! The output of a task that finished while a [`Task::cancel`](crate::Task::cancel) landed.
//!
//! async-task closes a task on `cancel`; if the task's poll was running on another worker and
//! returns `Ready`, async-task marks it done and then *drops* that output (the task was closed
//! while running). The task did finish, and its output may be an item it took from a queue: a
//! `cancel` returning `None` there loses it. So `Task::cancel` registers here before it closes
//! the task (tasks of both runtimes; a local task's handle can cancel from another thread), and
//! the output's drop ([`crate::task`]'s `Output`, and a poll's `Panicked`) offers itself here
//! first.
//!
//! # Invariants
//!
//! 1. **Registered before the close.** A canceller adds its cell (`SLOTS`, under its lock) and
//!    counts itself in `PENDING` before it closes the task, so a drop that follows the run's
//!    close (async-task drops the output only after seeing `CLOSED`) sees `PENDING` above 0
//!    and finds the cell. A drop with no cell for its task drops as before.
//! 2. **Written under the lock, freed after leaving.** An offer writes into a cell only under
//!    `SLOTS`' lock, and a canceller removes its entry under that lock before its cell is freed
//!    ([`Rescue`]'s drop), so no offer ever writes to freed memory. Task ids are unique for the
//!    life of the process, so an entry's cell has the task's own output type.
//! 3. **Waits for the run's tail.** async-task clears `RUNNING` before it drops the output, so a
//!    canceller can see the task closed and idle while the worker has yet to drop it. Each
//!    worker, and each local loop, publishes the task it runs (`running`, stored with `Release`
//!    before and after the run: `task::run_published`), and the canceller waits until no loop
//!    of the task's runtime runs it ([`wait_for_the_run`]), then takes its cell. Its task's allocation (whose address is the
//!    key) is freed only after that run dropped the output, so a later task at the same address
//!    can only make the canceller wait for that task's poll, never miss an output.
//! 4. **Send.** An output crosses threads here only if its handle did, which needs it to be
//!    `Send` (a handle is `Send` only for `Send` outputs); a `Panicked` is `Send`.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::task::{Output, Panicked, TaskId};

/// How many cancellers are registered; while 0, a dropped output is not offered.
pub(crate) static PENDING: AtomicUsize = AtomicUsize::new(0);

/// The registered cancellers: by task id, the address of their [`Cell`] (of the task's output
/// type). Only cancels in progress (`None` until the first).
static SLOTS: std::sync::Mutex<Option<HashMap<TaskId, usize>>> = std::sync::Mutex::new(None);

fn slots() -> std::sync::MutexGuard<'static, Option<HashMap<TaskId, usize>>> {
    SLOTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The address of the cell registered for task `id`, if any.
fn registered(slots: &Option<HashMap<TaskId, usize>>, id: TaskId) -> Option<usize> {
    slots.as_ref()?.get(&id).copied()
}

/// Where an offered output or panic goes. `repr(C)` with `panic` first, so that an offer of a
/// panic, which does not know the output type, finds that field at the cell's address.
#[repr(C)]
struct Cell<T> {
    panic: Option<Panicked>,
    value: Option<T>,
}

/// A canceller's registration (invariant 1); dropping it leaves (invariant 2).
pub(crate) struct Rescue<T> {
    id: TaskId,
    /// A `Box<Cell<T>>` made by `register`, freed by `drop`; every access goes through this
    /// pointer (offers write through a copy of it).
    cell: NonNull<Cell<T>>,
    _owns: PhantomData<Box<Cell<T>>>,
}

// SAFETY: a `Rescue` owns its cell as a `Box` would (the offers that write into it do so only
// under `SLOTS`' lock, and only while it is registered), so it may move to another thread
// whenever the cell's contents may: `T: Send` (a `Panicked` is `Send`).
#[allow(unsafe_code)]
unsafe impl<T: Send> Send for Rescue<T> {}

/// The `Send` claim above relies on this.
const _: () = {
    const fn is_send<S: Send>() {}
    is_send::<Panicked>();
};

impl<T> Rescue<T> {
    pub(crate) fn register(id: TaskId) -> Rescue<T> {
        let cell = NonNull::from(Box::leak(Box::new(Cell {
            panic: None,
            value: None,
        })));
        slots()
            .get_or_insert_with(HashMap::new)
            .insert(id, cell.as_ptr() as usize);
        PENDING.fetch_add(1, Ordering::SeqCst);
        Rescue {
            id,
            cell,
            _owns: PhantomData,
        }
    }

    /// What was offered: the output, or the panic of the task's last poll; `None` if nothing
    /// was (the task was closed before it finished).
    pub(crate) fn take(mut self) -> Option<Result<Output<T>, Panicked>> {
        self.leave();
        // SAFETY: the cell is live (freed only by `drop`), and with the entry gone no offer
        // writes to it any more.
        #[allow(unsafe_code)]
        let cell = unsafe { self.cell.as_mut() };
        if let Some(panic) = cell.panic.take() {
            return Some(Err(panic));
        }
        cell.value
            .take()
            .map(|value| Ok(Output::plain(value, self.id)))
    }

    fn leave(&mut self) {
        let mut slots = slots();
        if slots.as_mut().and_then(|s| s.remove(&self.id)).is_some() {
            PENDING.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn offered(&self) -> bool {
        let _slots = slots();
        // SAFETY: the cell is live, and offers write to it only under the lock we hold.
        #[allow(unsafe_code)]
        let cell = unsafe { self.cell.as_ref() };
        cell.value.is_some() || cell.panic.is_some()
    }
}

impl<T> Drop for Rescue<T> {
    fn drop(&mut self) {
        self.leave();
        // SAFETY: made by `Box::leak` in `register` and freed only here; with the entry gone,
        // no offer can reach it any more (invariant 2).
        #[allow(unsafe_code)]
        drop(unsafe { Box::from_raw(self.cell.as_ptr()) });
    }
}

/// Offers a task's output, which nobody took, to its canceller; `true` if taken (the value is
/// then moved out of `value`, which the caller must not drop).
pub(crate) fn offer_value<T>(id: TaskId, value: &mut ManuallyDrop<T>) -> bool {
    let slots = slots();
    let Some(address) = registered(&slots, id) else {
        return false;
    };
    // SAFETY: `value` is moved out exactly once: the caller returns without dropping it.
    #[allow(unsafe_code)]
    let value = unsafe { ManuallyDrop::take(value) };
    // SAFETY: the entry's cell is alive while the entry is in `SLOTS`, whose lock we hold, and
    // only under that lock is it written (invariant 2); it was made for this task, so its type
    // is `Cell<T>` (task ids are unique).
    #[allow(unsafe_code)]
    let cell = unsafe { &mut *(address as *mut Cell<T>) };
    cell.value = Some(value);
    true
}

/// Offers the panic of a task's poll, which nobody took, to its canceller; `true` if taken (its
/// payload is moved into the canceller's cell).
pub(crate) fn offer_panic(panicked: &mut Panicked) -> bool {
    let slots = slots();
    let Some(address) = registered(&slots, panicked.task_id()) else {
        return false;
    };
    // SAFETY: the cell is alive and exclusively ours under the lock, as in `offer_value`; it
    // is a `repr(C)` `Cell<T>` whose first field is the `Option<Panicked>`, at its address
    // whatever `T` is.
    #[allow(unsafe_code)]
    unsafe {
        *(address as *mut Option<Panicked>) = Some(panicked.take_for_rescue());
    }
    true
}

/// Cancels with `cancel` (async-task's), taking back the output or panic of a last poll that
/// ran as the cancel landed (invariants 1-3); `runs` says whether the task's loop runs it now.
pub(crate) async fn cancel<T>(
    cancel: impl Future<Output = Option<Result<Output<T>, Panicked>>>,
    id: TaskId,
    runs: impl Fn() -> bool,
) -> Option<Result<Output<T>, Panicked>> {
    // Before the close, which happens in `cancel`'s first poll.
    let rescue = Rescue::<T>::register(id);
    match cancel.await {
        None => {
            // Closed and not running, as async-task sees it; but the run that saw the cancel may
            // still be between its last poll's end and dropping that poll's output.
            wait_for_the_run(&rescue, runs);
            rescue.take()
        }
        done => done,
    }
}

/// Waits until the task's loop no longer runs it (invariant 3), unless its output or panic was
/// already offered.
fn wait_for_the_run<T>(rescue: &Rescue<T>, runs: impl Fn() -> bool) {
    let mut round = 0u32;
    while !rescue.offered() && runs() {
        // The rest of a run: a few instructions after its last poll, unless the address now
        // belongs to another task, whose poll this waits out.
        if round < 64 {
            std::hint::spin_loop();
        } else if round < 1_000 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        round = round.saturating_add(1);
    }
}
