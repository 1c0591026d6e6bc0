//! Task groups: `task_group` (fail fast) and `supervisor` (collect everything).
//!
//! The group's future (`run_group`) polls the body, then drains the children; it returns only
//! when every child has been dropped. The pieces, one file each:
//!
//! - here: the public face ([`task_group`], [`supervisor`], the [`Group`] handle, [`ChildHandle`],
//!   [`Started`]) and `run_group`, the future that drives a group;
//! - `shared.rs`: `GroupCore`, what the handles share (the state under one lock, the spawned
//!   children's task handles, the local children not yet polled), and how the group polls,
//!   cancels and closes its children;
//! - `supervise.rs`: `Supervise`, the wrapper that runs one child to its outcome, reports it
//!   to the group, and counts the child as finished only once its future is gone;
//! - `error.rs`: [`GroupError`] and [`Cancelled`].
//!
//! Invariants:
//!
//! - `State::running` counts the children whose future has not been dropped yet; the group
//!   returns once it is zero, so no child outlives the group.
//! - Once the group is cancelling it admits no new child (a child spawned then is dropped at
//!   once), and once closed (when `run_group` ends, however it ends) it never will again.
//! - No waker is woken, and no child is dropped, while the state lock is held: a child's
//!   destructor or a waker may use the group.
//! - The only unsafe code, the erasure of `'env` in [`Group::spawn_local`], relies on the
//!   group's future owning every local child; the comment there gives the argument.

use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use corio_sync::oneshot;

use crate::lock;
use crate::set::FutureSet;

mod error;
mod shared;
mod supervise;

pub use error::{Cancelled, GroupError};
use shared::{GroupCore, LocalChild, Mode, wake};
use supervise::supervise;

/// Runs a task group: the body spawns children with [`Group::spawn`] (tasks on the runtime) or
/// [`Group::spawn_local`] (futures that may borrow from the caller, polled by the group itself),
/// and the group returns only when every child is done.
///
/// - **No child outlives the group.** After the body returns, the group waits for its children;
///   every child's destructor has run before the group returns.
/// - **The first failure cancels the rest.** The first child error (or body error, or panic)
///   cancels every sibling and the body; cancellation itself is never counted as an error. An
///   error the body returns once a child's failure has begun cancelling it (a child failing on
///   another worker while the body awaits its handle) counts as that cancellation, as in
///   asyncio, where the cancellation reaches the body first.
/// - **Every error comes back.** All errors are returned in [`GroupError`], in the order they
///   happened.
/// - **Panics propagate.** A child (or body) panic cancels the siblings, waits for them, then
///   resumes in the caller.
/// - **Dropping the group cancels every child.** Local children are dropped at once; spawned ones
///   at their next scheduling point, on their runtime, so *after* the drop returns: a group
///   dropped unfinished (its `timeout` fired, an outer group or cancel scope cancelled it) does
///   not wait for its spawned children's destructors, since a Rust `drop` cannot await. To
///   bound a group in time and still have every child's destructor run before it returns, put
///   the deadline inside the group: a local child ([`Group::spawn_local`]) holding a clone of
///   the group that sleeps until the deadline and calls [`Group::cancel`]
///   (`tests/scope_group.rs` has one).
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

/// The handle that a task group's body receives (by value; it is cheap to clone); see
/// [`task_group`].
///
/// `'env` is the lifetime of what local children ([`Group::spawn_local`]) may borrow: data that
/// outlives the whole `task_group` call, such as what the body closure captured. The caller of
/// `task_group` chooses it, and it is invariant, so the body cannot lend its own locals to a child
/// that may still run after the body has returned.
///
/// # Examples
///
/// Helpers take the handle by reference and spawn into the caller's group:
///
/// ```
/// use corio_scope::Group;
///
/// fn fetch_all(g: &Group<'_, String>, ids: &[u32]) {
///     for &id in ids {
///         g.spawn(async move { if id < 100 { Ok(()) } else { Err(format!("no user {id}")) } });
///     }
/// }
///
/// let r = corio_executor::run_local(corio_scope::task_group(async |g| {
///     fetch_all(&g, &[1, 2, 300]);
///     Ok(g.running()) // the children run once the body awaits or returns
/// }));
/// assert_eq!(r.unwrap_err().errors(), ["no user 300"]);
/// ```
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

impl<'env, E: Send + 'static> Group<'env, E> {
    /// Spawns a child task on the runtime: it runs in parallel with the body and the other
    /// children. Returns a handle to await its value; dropping the handle does not cancel it.
    ///
    /// If the group is already cancelling, the child is dropped at once and the handle reports
    /// [`Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let total = corio_executor::block_on(corio_scope::task_group(async |g| {
    ///     let a = g.spawn(async {
    ///         corio_timer::sleep(Duration::from_millis(5)).await;
    ///         Ok::<_, String>(1)
    ///     });
    ///     let b = g.spawn(async { Ok(2) }); // runs while `a` sleeps
    ///     let a = a.await.map_err(|c| c.to_string())?;
    ///     let b = b.await.map_err(|c| c.to_string())?;
    ///     Ok(a + b)
    /// }));
    /// assert_eq!(total.unwrap(), 3);
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let r = corio_executor::block_on(corio_scope::task_group(async |g| {
    ///     g.spawn(async {
    ///         corio_timer::sleep(Duration::from_secs(60)).await; // cancelled
    ///         Ok::<(), ()>(())
    ///     });
    ///     g.cancel();
    ///     corio_timer::sleep(Duration::from_secs(60)).await; // the body is cancelled here
    ///     Ok(())
    /// }));
    /// let err = r.unwrap_err();
    /// assert!(err.is_cancelled());
    /// assert!(err.errors().is_empty()); // cancelling is not a failure
    /// ```
    pub fn cancel(&self) {
        self.core.shared.cancel();
    }

    /// Whether the group is cancelling (after an error, a panic, or [`cancel`](Group::cancel)).
    ///
    /// # Examples
    ///
    /// A body that returns without awaiting again after a cancel still returns its value:
    ///
    /// ```
    /// let r = corio_executor::run_local(corio_scope::task_group(async |g| {
    ///     assert!(!g.is_cancelled());
    ///     g.cancel();
    ///     assert!(g.is_cancelled());
    ///     Ok::<_, ()>("done early")
    /// }));
    /// assert_eq!(r.unwrap(), "done early");
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.core.shared.is_cancelling()
    }

    /// Children that have not finished yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = corio_executor::run_local(corio_scope::task_group(async |g| {
    ///     assert_eq!(g.running(), 0);
    ///     let child = g.spawn(async { Ok::<_, ()>(7) });
    ///     assert_eq!(g.running(), 1);
    ///     child.await.map_err(|_| ())
    /// }));
    /// assert_eq!(r.unwrap(), 7);
    /// ```
    pub fn running(&self) -> usize {
        self.core.shared.lock().running
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
///
/// # Examples
///
/// ```
/// use corio_scope::Cancelled;
///
/// let r = corio_executor::run_local(corio_scope::supervisor(async |g| {
///     let ok = g.spawn(async { Ok(1) });
///     let failed = g.spawn(async { Err::<u32, _>("boom") });
///     g.spawn(async { Ok(3) }); // handle ignored: the child still runs
///     assert_eq!(ok.await, Ok(1));
///     assert_eq!(failed.await, Err(Cancelled)); // its error goes to the group
///     Ok(())
/// }));
/// assert_eq!(r.unwrap_err().errors(), ["boom"]);
/// ```
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
///
/// # Examples
///
/// A child that ends without signalling makes [`start`](Group::start) return [`Cancelled`]:
///
/// ```
/// use corio_scope::{Cancelled, Started};
///
/// let r = corio_executor::block_on(corio_scope::task_group(async |g| {
///     let ready = g.start(|_started: Started<()>| async { Ok::<_, ()>(()) }).await;
///     assert_eq!(ready, Err(Cancelled));
///     Ok(())
/// }));
/// r.unwrap();
/// ```
#[derive(Debug)]
pub struct Started<T> {
    tx: oneshot::Sender<T>,
}

impl<T> Started<T> {
    /// Tells the waiting body that this child is ready, handing it `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = corio_executor::block_on(corio_scope::task_group(async |g| {
    ///     let port = g
    ///         .start(|started| async move {
    ///             started.started(8080u16); // `start` returns this value
    ///             Ok::<_, ()>(()) // ...while the child may go on running
    ///         })
    ///         .await;
    ///     assert_eq!(port, Ok(8080));
    ///     Ok(())
    /// }));
    /// r.unwrap();
    /// ```
    pub fn started(self, value: T) {
        let _ = self.tx.send(value);
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
                // A child failed on another worker during this poll, and the group is
                // cancelling the body: an error the body returns now is that cancellation seen
                // early (it awaited the failed child's handle: `Cancelled`), not an error of its
                // own. asyncio's TaskGroup delivers the cancellation first, and so does a local
                // runtime; counted, it made the errors differ from run to run (a review: an
                // extra "cancelled" error in 25-55% of 200 runs of the doc's example on 2
                // workers).
                Ok(Poll::Ready(Err(_))) if group.shared.is_failing() => {
                    return Poll::Ready(None);
                }
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
