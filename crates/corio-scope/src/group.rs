//! Task groups: `task_group` (fail fast) and `supervisor` (collect everything).

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::pin::{Pin, pin};

use pin_project_lite::pin_project;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use corio_executor::Task;
use corio_sync::oneshot;

use crate::set::FutureSet;

/// Runs a task group: the body spawns children with [`Group::spawn`] (tasks on the runtime) or
/// [`Group::spawn_local`] (futures that may borrow from the caller, polled by the group itself),
/// and the group returns only when every child is done.
///
/// - **No child outlives the group.** After the body returns, the group waits for its children;
///   every child's destructor has run before the group returns.
/// - **The first failure cancels the rest.** The first child error (or body error, or panic)
///   cancels every sibling and the body; cancellation itself is never counted as an error.
/// - **Every error comes back.** All errors are returned in [`GroupError`], in the order they
///   happened.
/// - **Panics propagate.** A child (or body) panic cancels the siblings, waits for them, then
///   resumes in the caller.
/// - **Dropping the group cancels every child.** Local children are dropped at once; spawned ones
///   at their next scheduling point.
/// - [`Group::cancel`] ends the group early without an error: if the body then returns a value
///   (without awaiting again) the group returns it; otherwise it returns a [`GroupError`] for
///   which [`is_cancelled`](GroupError::is_cancelled) is true and that holds no errors.
///
/// # Examples
///
/// The article's scenario: user 3 does not exist, so the fetches of 1, 2 and 4 are cancelled
/// rather than left running.
///
/// ```
/// use std::time::Duration;
///
/// async fn fetch_user(id: u32) -> Result<String, String> {
///     corio_timer::sleep(Duration::from_millis(if id == 3 { 5 } else { 500 })).await;
///     if id == 3 {
///         return Err(format!("user {id} not found"));
///     }
///     Ok(format!("User_{id}"))
/// }
///
/// let result = corio_executor::block_on(corio_scope::task_group(async |g| {
///     let handles: Vec<_> = (1..=4).map(|id| g.spawn(fetch_user(id))).collect();
///     let mut users = Vec::new();
///     for h in handles {
///         users.push(h.await.map_err(|c| c.to_string())?);
///     }
///     Ok(users)
/// }));
/// let err = result.unwrap_err();
/// assert_eq!(err.errors(), ["user 3 not found"]);
/// ```
pub async fn task_group<'env, E, R, F, Fut>(body: F) -> Result<R, GroupError<E>>
where
    F: FnOnce(Group<'env, E>) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    E: Send + 'static,
{
    run_group(Mode::FailFast, body).await
}

/// Like [`task_group`], but a failure does not cancel the siblings: every child runs to the end
/// and every error is collected (asyncio's `gather(..., return_exceptions=True)`). Panics still
/// cancel the group, since a panic is a bug, not an outcome.
///
/// # Examples
///
/// ```
/// let result = corio_executor::block_on(corio_scope::supervisor(async |g| {
///     for i in 0..4u32 {
///         g.spawn(async move { if i % 2 == 0 { Err(i) } else { Ok(()) } });
///     }
///     Ok(())
/// }));
/// let mut errors = result.unwrap_err().into_errors();
/// errors.sort();
/// assert_eq!(errors, [0, 2]);
/// ```
pub async fn supervisor<'env, E, R, F, Fut>(body: F) -> Result<R, GroupError<E>>
where
    F: FnOnce(Group<'env, E>) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    E: Send + 'static,
{
    run_group(Mode::Supervise, body).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    FailFast,
    Supervise,
}

/// How many rounds of newly spawned local children one poll of the group runs at most.
const LOCAL_ROUNDS: usize = 16;

/// A local child, with the lifetime of what it borrows erased (see `Group::spawn_local`).
type LocalChild = dyn Future<Output = ()> + Send;

/// The handle that a task group's body receives (by value; it is cheap to clone); see
/// [`task_group`].
///
/// `'env` is the lifetime of what local children ([`Group::spawn_local`]) may borrow: data that
/// outlives the whole `task_group` call, such as what the body closure captured. The caller of
/// `task_group` chooses it, and it is invariant, so the body cannot lend its own locals to a child
/// that may still run after the body has returned.
pub struct Group<'env, E> {
    core: Arc<GroupCore<E>>,
    env: PhantomData<&'env mut &'env ()>,
}

/// Dropping a handle does nothing, but the impl matters: without it the compiler would let a
/// handle (and with it the group's core, which may still hold a queued local child that borrows
/// `'env` data) be dropped after `'env` ended. With it, every handle is gone while `'env` is
/// alive. (`run_group` closes the group when it ends; the core may outlive that through a
/// handle, never `'env`.)
impl<E> Drop for Group<'_, E> {
    fn drop(&mut self) {}
}

impl<E> Clone for Group<'_, E> {
    fn clone(&self) -> Self {
        Group {
            core: self.core.clone(),
            env: PhantomData,
        }
    }
}

/// What the group handles share, and `run_group` drives.
struct GroupCore<E> {
    shared: Arc<Shared<E>>,
    /// Handles of spawned children, so that cancelling the group can cancel them.
    spawned: Mutex<slab::Slab<Task<()>>>,
    /// Local children spawned since the group last polled them.
    incoming: Mutex<Vec<Pin<Box<LocalChild>>>>,
}

impl<E> fmt::Debug for Group<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.core.shared.lock();
        f.debug_struct("Group")
            .field("running", &state.running)
            .field("errors", &state.errors.len())
            .field("cancelling", &state.cancelling)
            .finish()
    }
}

struct Shared<E> {
    state: Mutex<State<E>>,
}

struct State<E> {
    mode: Mode,
    errors: Vec<E>,
    panic: Option<(Box<dyn Any + Send>, &'static Location<'static>)>,
    /// The group was dropped: nobody will take `panic` any more, so a child that panics from now
    /// on (a spawned child still running on another thread) reports its panic itself.
    closed: bool,
    cancelling: bool,
    running: usize,
    finished: Vec<usize>,
    waker: Option<Waker>,
}

impl<E> Shared<E> {
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a child's (or the body's) failure.
    fn fail(&self, error: E) {
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

    fn panicked(&self, payload: Box<dyn Any + Send>, location: &'static Location<'static>) {
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

    fn cancel(&self) {
        let waker = {
            let mut state = self.lock();
            state.cancelling = true;
            state.waker.clone()
        };
        wake(waker);
    }

    fn is_cancelling(&self) -> bool {
        self.lock().cancelling
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

/// Counts a child as finished when dropped, after the child's future (declared later) is gone.
struct Done<E> {
    shared: Arc<Shared<E>>,
    spawned_key: Option<usize>,
}

impl<E> Drop for Done<E> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.lock();
            state.running -= 1;
            if let Some(key) = self.spawned_key {
                state.finished.push(key);
            }
            state.waker.clone()
        };
        wake(waker);
    }
}

pin_project! {
    /// Runs a child to its outcome and reports it. Field order is drop order: the child's future
    /// is dropped before `done` counts it as finished, also when it is cancelled before its first
    /// poll.
    struct Supervise<F, T, E> {
        #[pin]
        child: F,
        tx: Option<oneshot::Sender<T>>,
        location: &'static Location<'static>,
        done: Done<E>,
    }
}

fn supervise<T, E, F>(
    shared: Arc<Shared<E>>,
    spawned_key: Option<usize>,
    child: F,
    tx: oneshot::Sender<T>,
    location: &'static Location<'static>,
) -> Supervise<F, T, E> {
    Supervise {
        child,
        tx: Some(tx),
        location,
        done: Done {
            shared,
            spawned_key,
        },
    }
}

impl<T, E, F> Future for Supervise<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let child = this.child;
        let outcome = match catch_unwind(AssertUnwindSafe(|| child.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(outcome)) => Ok(outcome),
            Err(payload) => Err(payload),
        };
        let shared = &this.done.shared;
        match outcome {
            Ok(Ok(value)) => {
                if let Some(tx) = this.tx.take() {
                    // Nobody may be waiting for the value: that is fine.
                    let _ = tx.send(value);
                }
            }
            Ok(Err(error)) => shared.fail(error),
            Err(payload) => shared.panicked(payload, this.location),
        }
        Poll::Ready(())
    }
}

impl<E: Send + 'static> GroupCore<E> {
    fn new(mode: Mode) -> GroupCore<E> {
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
    fn housekeeping(&self, cx: &mut Context<'_>) {
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
    fn poll_locals(&self, set: &mut FutureSet<LocalChild>, cx: &mut Context<'_>) {
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
    /// looks at them.
    /// Cancels every child. A local child whose destructor panics counts as a child that
    /// panicked (the panic resumes in the group's caller once all children are gone), and the
    /// other children are still dropped.
    fn cancel_children(
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

impl<'env, E: Send + 'static> Group<'env, E> {
    /// Spawns a child task on the runtime: it runs in parallel with the body and the other
    /// children. Returns a handle to await its value; dropping the handle does not cancel it.
    ///
    /// If the group is already cancelling, the child is dropped at once and the handle reports
    /// [`Cancelled`].
    #[track_caller]
    pub fn spawn<T, F>(&self, child: F) -> ChildHandle<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let mut spawned = lock(&self.core.spawned);
        {
            let mut state = self.core.shared.lock();
            if state.cancelling {
                // Unlock before dropping the child: its destructor may use the group.
                drop(state);
                drop(spawned);
                drop(child);
                return ChildHandle { rx };
            }
            state.running += 1;
        }
        let entry = spawned.vacant_entry();
        let key = entry.key();
        // `spawn` is `#[track_caller]`, as is this method: the task records the user's call site.
        let task = corio_executor::spawn(supervise(
            self.core.shared.clone(),
            Some(key),
            child,
            tx,
            Location::caller(),
        ));
        entry.insert(task);
        ChildHandle { rx }
    }

    /// Adds a child that is polled by the group itself, on the group's task: it runs
    /// concurrently (not in parallel) with the body, and may borrow from the caller's stack:
    /// anything that outlives the `task_group` call (`'env`), such as what the body captured.
    ///
    /// This is sound because the group's future owns the child: however the group ends (returns,
    /// is dropped, or is leaked), the child is never polled after the borrowed data is gone.
    /// The body's own locals cannot be lent: the body may return while its children still run.
    /// Move them into the child, or declare them before `task_group`.
    ///
    /// ```compile_fail,E0373
    /// corio_executor::run_local(corio_scope::task_group(async |g| {
    ///     let local = vec![1, 2, 3]; // dies when the body returns...
    ///     g.spawn_local(async {
    ///         corio_executor::yield_now().await;
    ///         Ok::<_, ()>(local.len()) // ...while this child may still run: rejected
    ///     });
    ///     Ok(())
    /// }));
    /// ```
    ///
    /// Nor can a handle that escaped the group be kept past the data its children borrow (after
    /// the group has ended it refuses new children, and its handles must go while `'env` lives):
    ///
    /// ```compile_fail,E0597
    /// struct Loud<'a>(&'a String);
    /// impl Drop for Loud<'_> {
    ///     fn drop(&mut self) {
    ///         println!("{}", self.0); // would read freed memory
    ///     }
    /// }
    /// corio_executor::run_local(async {
    ///     let keep;
    ///     let data = String::from("borrowed");
    ///     let g = corio_scope::task_group(async |g| Ok::<_, ()>(g)).await.unwrap();
    ///     let loud = Loud(&data);
    ///     g.spawn_local(async move { let _l = loud; Ok::<(), ()>(()) });
    ///     keep = g; // `data` is dropped before `keep`: rejected
    /// });
    /// ```
    ///
    /// # Examples
    ///
    /// ```
    /// let names = vec!["a".to_string(), "b".to_string()];
    /// let total = corio_executor::run_local(corio_scope::task_group(async |g| {
    ///     let lens: Vec<_> = names
    ///         .iter()
    ///         .map(|n| g.spawn_local(async move { Ok::<_, ()>(n.len()) })) // borrows `names`
    ///         .collect();
    ///     let mut total = 0;
    ///     for l in lens {
    ///         total += l.await.unwrap();
    ///     }
    ///     Ok(total)
    /// }));
    /// assert_eq!(total.unwrap(), 2);
    /// ```
    #[track_caller]
    pub fn spawn_local<T, F>(&self, child: F) -> ChildHandle<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'env,
        T: Send + 'env,
    {
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.core.shared.lock();
            if state.cancelling {
                drop(state);
                drop(child);
                return ChildHandle { rx };
            }
            state.running += 1;
        }
        // Polled by the group's future, outside any task-local scope the body is in: it takes
        // the values in scope here along, as a spawned child would.
        let boxed: Pin<Box<dyn Future<Output = ()> + Send + 'env>> =
            Box::pin(corio_executor::task::inherit(supervise(
                self.core.shared.clone(),
                None,
                child,
                tx,
                Location::caller(),
            )));
        // SAFETY: this only erases the lifetime `'env` of the trait object; the layout is the
        // same. Erasing it is sound because the child is never polled or dropped after `'env`
        // ends:
        // - `'env` is a lifetime parameter of `task_group`, chosen by its caller: it outlives the
        //   call, and the `task_group` future's type contains it. In the body it is a lifetime
        //   from outside, longer than the body, and `Group` is invariant in it (and `&self`
        //   reborrows cannot change it), so a child that satisfies `'env` can only borrow what
        //   outlives the whole call (what the body closure captured, or `'static` data), never
        //   the body's own locals, which die when the body returns while children may still
        //   run. The `compile_fail` example on this method is that program.
        // - The boxed child lives only in this group (`incoming`) and in `run_group`'s set, which
        //   polls and drops it; both are owned by the `task_group` future. The child is dropped
        //   when that future finishes or is dropped. If that future is leaked instead, the child
        //   is leaked with it and never touched again.
        // - A handle may escape the body (returned as its value, or cloned), and with it the
        //   group's core. But `run_group` closes the group when it ends, after which this method
        //   refuses new children, and a child queued by a racing call lives only in the core,
        //   which goes with the last handle; `Group` has a `Drop` impl, so the compiler makes
        //   every handle go while `'env` is alive. The second `compile_fail` example is the
        //   program that needed it.
        #[allow(unsafe_code)]
        let boxed: Pin<Box<LocalChild>> = unsafe {
            std::mem::transmute::<
                Pin<Box<dyn Future<Output = ()> + Send + 'env>>,
                Pin<Box<dyn Future<Output = ()> + Send + 'static>>,
            >(boxed)
        };
        lock(&self.core.incoming).push(boxed);
        // The group's future picks it up on its next poll; make sure there is one.
        // Take the waker out first: waking under the state lock would deadlock a waker that
        // looks at the group.
        let waker = self.core.shared.lock().waker.clone();
        wake(waker);
        ChildHandle { rx }
    }

    /// Trio's `start`: spawns a child that signals readiness through [`Started`], and waits until
    /// it does. Returns the value passed to [`Started::started`], or [`Cancelled`] if the child
    /// ended (or was cancelled) before signalling.
    ///
    /// # Examples
    ///
    /// A server that must be listening before the body connects to it:
    ///
    /// ```
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// corio_executor::block_on(async {
    ///     let result: Result<(), corio_scope::GroupError<std::io::Error>> = corio_scope::task_group(async |g| {
    ///         let addr = g
    ///             .start(|started| async move {
    ///                 let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///                 started.started(listener.local_addr()?);
    ///                 let _ = listener.accept().await?;
    ///                 Ok(())
    ///             })
    ///             .await
    ///             .map_err(std::io::Error::other)?;
    ///         TcpStream::connect(addr).await?; // the server is already listening
    ///         Ok(())
    ///     })
    ///     .await;
    ///     result.unwrap();
    /// });
    /// ```
    pub async fn start<T, F, Fut>(&self, child: F) -> Result<T, Cancelled>
    where
        F: FnOnce(Started<T>) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let _child = self.spawn(child(Started { tx }));
        rx.await.map_err(|_| Cancelled)
    }

    /// Cancels the group: every child, and the body at its next `await`. Not an error.
    pub fn cancel(&self) {
        self.core.shared.cancel();
    }

    /// Whether the group is cancelling (after an error, a panic, or [`cancel`](Group::cancel)).
    pub fn is_cancelled(&self) -> bool {
        self.core.shared.is_cancelling()
    }

    /// Children that have not finished yet.
    pub fn running(&self) -> usize {
        self.core.shared.lock().running
    }
}

impl<E> GroupCore<E> {
    /// Ends the group for good: refuses new children, drops the local children still queued,
    /// cancels the spawned ones, and reports a caught panic that nobody will resume. Idempotent.
    ///
    /// `run_group` calls it when it ends, however it ends (returns, unwinds, or its future is
    /// dropped), so handles that escaped the body (clones kept elsewhere, or returned as the
    /// body's value) cannot keep children alive or spawn new ones afterwards.
    fn close(&self) {
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

/// Closes the group when `run_group` ends; see [`GroupCore::close`].
struct CloseOnExit<'a, E>(&'a GroupCore<E>);

impl<E> Drop for CloseOnExit<'_, E> {
    fn drop(&mut self) {
        self.0.close();
    }
}

async fn run_group<'env, E, R, F, Fut>(mode: Mode, body: F) -> Result<R, GroupError<E>>
where
    F: FnOnce(Group<'env, E>) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    E: Send + 'static,
{
    let core = Arc::new(GroupCore::new(mode));
    let group = &*core;
    // Declared after `core` and before the children's set: dropped after the local children and
    // before the core, on every exit path.
    let _close = CloseOnExit(group);
    let body_location: &'static Location<'static> = Location::caller();
    let mut locals: FutureSet<LocalChild> = FutureSet::new();
    let outcome = {
        let mut body = pin!(body(Group {
            core: core.clone(),
            env: PhantomData,
        }));
        poll_fn(|cx| {
            group.housekeeping(cx);
            group.poll_locals(&mut locals, cx);
            if group.shared.is_cancelling() {
                return Poll::Ready(None);
            }
            match catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(cx))) {
                Ok(Poll::Ready(result)) => return Poll::Ready(Some(result)),
                Ok(Poll::Pending) => {}
                Err(payload) => {
                    group.shared.panicked(payload, body_location);
                    return Poll::Ready(None);
                }
            }
            // The body may have spawned local children: give them their first poll.
            group.poll_locals(&mut locals, cx);
            if group.shared.is_cancelling() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
        // The body future is dropped here, before the children are drained.
    };
    let value = match outcome {
        Some(Ok(value)) => Some(value),
        Some(Err(error)) => {
            group.shared.fail(error);
            None
        }
        None => None,
    };
    let mut children_cancelled = false;
    poll_fn(|cx| {
        group.housekeeping(cx);
        if group.shared.is_cancelling() {
            if !children_cancelled {
                children_cancelled = true;
                group.cancel_children(&mut locals, body_location);
            }
        } else {
            group.poll_locals(&mut locals, cx);
            if group.shared.is_cancelling() {
                children_cancelled = true;
                group.cancel_children(&mut locals, body_location);
            }
        }
        if group.shared.lock().running == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    let (errors, panic, cancelling) = {
        let mut state = group.shared.lock();
        (
            std::mem::take(&mut state.errors),
            state.panic.take(),
            state.cancelling,
        )
    };
    if let Some((payload, _)) = panic {
        resume_unwind(payload);
    }
    if !errors.is_empty() {
        return Err(GroupError {
            errors,
            cancelled: false,
        });
    }
    match value {
        Some(value) => Ok(value),
        None => {
            debug_assert!(cancelling);
            Err(GroupError {
                errors,
                cancelled: true,
            })
        }
    }
}

/// A handle to a child of a task group: await it for the child's value.
///
/// Dropping the handle does not cancel the child. If the child fails or is cancelled, the
/// handle reports [`Cancelled`] (the failure itself is reported by the group).
///
/// Unlike every other corio future, this one is deliberately not `#[must_use]`: a child runs
/// whether or not its handle is awaited, and its failure reaches the group either way, so
/// ignoring the handle (`g.spawn(job);`) loses nothing; it is the common case.
pub struct ChildHandle<T> {
    rx: oneshot::Receiver<T>,
}

impl<T> fmt::Debug for ChildHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildHandle").finish_non_exhaustive()
    }
}

impl<T> Future for ChildHandle<T> {
    type Output = Result<T, Cancelled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.map_err(|_| Cancelled))
    }
}

/// The signal a child started with [`Group::start`] sends once it is ready.
#[derive(Debug)]
pub struct Started<T> {
    tx: oneshot::Sender<T>,
}

impl<T> Started<T> {
    /// Tells the waiting body that this child is ready, handing it `value`.
    pub fn started(self, value: T) {
        let _ = self.tx.send(value);
    }
}

/// A child of a task group did not produce a value: it failed, or it was cancelled.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_scope::Cancelled.to_string(), "the task was cancelled or failed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task was cancelled or failed")
    }
}

impl Error for Cancelled {}

impl From<Cancelled> for std::io::Error {
    fn from(c: Cancelled) -> std::io::Error {
        std::io::Error::other(c)
    }
}

/// The errors of a task group, in the order they happened (asyncio's `ExceptionGroup`).
///
/// # Examples
///
/// ```
/// let r: Result<(), _> = corio_executor::run_local(corio_scope::task_group(async |g| {
///     g.spawn(async { Err::<(), _>("a failed") });
///     Err("the body failed too")
/// }));
/// let err = r.unwrap_err();
/// assert_eq!(err.first(), Some(&"the body failed too"));
/// assert_eq!(err.to_string(), "1 task failed: the body failed too");
/// ```
pub struct GroupError<E> {
    errors: Vec<E>,
    cancelled: bool,
}

impl<E> GroupError<E> {
    /// Every error, in the order they happened.
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// Every error, by value.
    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }

    /// The first error, if any.
    pub fn first(&self) -> Option<&E> {
        self.errors.first()
    }

    /// Whether the group ended because [`Group::cancel`] was called before the body returned
    /// (then there are no errors).
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }
}

impl<E: fmt::Debug> fmt::Debug for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupError")
            .field("errors", &self.errors)
            .field("cancelled", &self.cancelled)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.as_slice() {
            [] => f.write_str("the task group was cancelled"),
            [only] => write!(f, "1 task failed: {only}"),
            [first, rest @ ..] => write!(f, "{} tasks failed; the first: {first}", rest.len() + 1),
        }
    }
}

impl<E: Error + 'static> Error for GroupError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.errors.first().map(|e| e as &(dyn Error + 'static))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
