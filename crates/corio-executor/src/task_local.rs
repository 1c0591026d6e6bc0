//! Task-local values, inherited by spawned tasks as asyncio's `create_task` copies the context.
//!
//! # Invariants
//!
//! 1. A key's value lives in the future of its [`scope`](LocalKey::scope) while that future is not
//!    being polled, and in the key's thread-local slot while it is: each poll swaps it in, and
//!    swaps it back out when the poll ends, also when the poll panics (a guard does it).
//! 2. While a scope is being polled its key is on this thread's list of keys in scope, so
//!    [`capture`] sees exactly the keys whose values [`LocalKey::with`] would see.
//! 3. A task spawned while keys are in scope starts with a clone of each of their values
//!    (captured once, at the spawn call), installed around every poll of the task as in 1 and 2.
//!    Nothing is captured, cloned or allocated when no key is in scope, which is the common case:
//!    spawning then costs one thread-local read.
//! 4. Scopes nest: an inner scope of the same key shadows the outer one until its future ends.
//! 5. A scope's or a task's future is also dropped with its values in place (as tokio does, and
//!    as a cancelled asyncio coroutine's `finally:` still sees its context), so a destructor that
//!    runs on cancellation can read them. Entering for a drop never panics: where the values
//!    cannot be installed (the thread is being torn down, or a `with` closure of the key is
//!    running around the drop) the future is dropped without them.
//! 6. A task sees only its own values: a worker or loop blocked in a nested `block_on`, which
//!    runs other tasks inside the poll of the task that called it, first takes the values in
//!    scope out of their slots and the list of keys in scope aside ([`suspend`]), and puts them
//!    back after. A conformance probe saw such a task read the blocked task's values.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// Declares task-local keys: values visible to a future and to the tasks it spawns.
///
/// Each `static NAME: T;` becomes a [`LocalKey<T>`]. Set a value for the duration of a future
/// with [`scope`](LocalKey::scope), read it with [`with`](LocalKey::with) or
/// [`try_with`](LocalKey::try_with). `T` must be `Clone + Send + 'static`: a task spawned inside a
/// scope starts with a clone of the value, as asyncio's `create_task` copies `contextvars`.
///
/// # Examples
///
/// ```
/// corio_executor::task_local! {
///     static REQUEST_ID: u64;
/// }
///
/// let seen = corio_executor::block_on(REQUEST_ID.scope(7, async {
///     // A task spawned inside the scope inherits a copy of the value.
///     let child = corio_executor::spawn(async { REQUEST_ID.with(|id| *id) });
///     (REQUEST_ID.with(|id| *id), child.await)
/// }));
/// assert_eq!(seen, (7, 7));
/// assert!(REQUEST_ID.try_with(|_| ()).is_err()); // out of scope
/// ```
#[macro_export]
macro_rules! task_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty; $($rest:tt)*) => {
        $crate::__task_local_inner!($(#[$attr])* $vis $name, $t);
        $crate::task_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty) => {
        $crate::__task_local_inner!($(#[$attr])* $vis $name, $t);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __task_local_inner {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty) => {
        $(#[$attr])*
        $vis static $name: $crate::task::LocalKey<$t> = {
            ::std::thread_local! {
                static __CORIO_TASK_LOCAL: ::std::cell::RefCell<::std::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::task::LocalKey::__new(&__CORIO_TASK_LOCAL, ::std::stringify!($name))
        };
    };
}

/// A task-local key, declared with [`task_local!`](crate::task_local).
pub struct LocalKey<T: 'static> {
    slot: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    name: &'static str,
}

/// The error of [`LocalKey::try_with`]: the key has no value here (no enclosing
/// [`scope`](LocalKey::scope), or the thread is being torn down).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccessError {
    name: &'static str,
}

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessError")
            .field("key", &self.name)
            .finish()
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task-local `{}` is not set: no enclosing `{}.scope(..)`",
            self.name, self.name
        )
    }
}

impl std::error::Error for AccessError {}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn __new(
        slot: &'static std::thread::LocalKey<RefCell<Option<T>>>,
        name: &'static str,
    ) -> LocalKey<T> {
        LocalKey { slot, name }
    }

    /// Calls `f` with a reference to the value in scope.
    ///
    /// # Panics
    ///
    /// If no [`scope`](LocalKey::scope) of this key encloses the call; [`try_with`](Self::try_with)
    /// returns an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// corio_executor::task_local! { static USER: String; }
    ///
    /// let len = corio_executor::block_on(USER.scope("ada".to_string(), async {
    ///     USER.with(|u| u.len())
    /// }));
    /// assert_eq!(len, 3);
    /// ```
    #[track_caller]
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        match self.try_with(f) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// Calls `f` with a reference to the value in scope, or returns [`AccessError`] if there is
    /// none.
    ///
    /// # Examples
    ///
    /// ```
    /// corio_executor::task_local! { static DEPTH: u32; }
    ///
    /// assert!(DEPTH.try_with(|d| *d).is_err());
    /// let d = corio_executor::block_on(DEPTH.scope(1, async { DEPTH.try_with(|d| *d) }));
    /// assert_eq!(d, Ok(1));
    /// ```
    pub fn try_with<R>(&'static self, f: impl FnOnce(&T) -> R) -> Result<R, AccessError> {
        let error = AccessError { name: self.name };
        self.slot
            .try_with(|slot| {
                let value = slot.try_borrow().map_err(|_| error)?;
                match value.as_ref() {
                    Some(v) => Ok(f(v)),
                    None => Err(error),
                }
            })
            .unwrap_or(Err(error))
    }

    /// Swaps `value` with the thread's slot, for a drop: returns `false`, and swaps nothing,
    /// during thread teardown or while a `with` closure of this key runs (invariant 5).
    fn swap_quiet(&'static self, value: &mut Option<T>) -> bool {
        self.slot
            .try_with(|slot| match slot.try_borrow_mut() {
                Ok(mut slot) => {
                    std::mem::swap(&mut *slot, value);
                    true
                }
                Err(_) => false,
            })
            .unwrap_or(false)
    }

    /// Swaps `value` with the thread's slot. Returns `false` during thread teardown.
    ///
    /// # Panics
    ///
    /// If a `with` closure of this key is running on this thread: the value cannot change
    /// under it, and going on with the old value would silently give the wrong one to the
    /// scope (or task) being entered. Only a `block_on` called inside that closure gets here.
    /// Leaving a scope never panics: it swaps back in the frame that entered it.
    fn swap(&'static self, value: &mut Option<T>) -> bool {
        let swapped = self.slot.try_with(|slot| match slot.try_borrow_mut() {
            Ok(mut slot) => {
                std::mem::swap(&mut *slot, value);
                true
            }
            Err(_) => false,
        });
        match swapped {
            Ok(true) => true,
            Ok(false) => panic!(
                "task-local `{}`: a scope or task that sets it was entered inside `{}.with(..)` \
                 (through a `block_on` in the closure); take what you need out of the closure \
                 first",
                self.name, self.name
            ),
            // Thread teardown: the slot is gone.
            Err(_) => false,
        }
    }
}

impl<T: Clone + Send + 'static> LocalKey<T> {
    /// Runs `future` with `value` set for this key: `with` inside it sees `value`, and tasks it
    /// spawns start with a clone of `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// corio_executor::task_local! { static TRACE: &'static str; }
    ///
    /// let out = corio_executor::block_on(TRACE.scope("outer", async {
    ///     let inner = TRACE.scope("inner", async { TRACE.with(|t| *t) }).await;
    ///     (inner, TRACE.with(|t| *t))
    /// }));
    /// assert_eq!(out, ("inner", "outer"));
    /// ```
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> Scope<T, F> {
        Scope {
            key: self,
            inherit: self,
            value: Some(value),
            future: ManuallyDrop::new(future),
        }
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`LocalKey::scope`].
    ///
    /// Dropping it drops the inner future with the value set (invariant 5), so a destructor that
    /// runs when the scope is cancelled still sees it.
    #[must_use = "futures do nothing unless awaited"]
    pub struct Scope<T: 'static, F> {
        key: &'static LocalKey<T>,
        // The same key, as a key in scope (invariant 2), for the drop: `T: Clone + Send` holds
        // where the scope is made, not in `Drop`.
        inherit: &'static dyn Inherit,
        value: Option<T>,
        // Dropped by hand in `PinnedDrop`, inside the scope.
        #[pin]
        future: ManuallyDrop<F>,
    }

    impl<T: 'static, F> PinnedDrop for Scope<T, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let key: &'static LocalKey<T> = this.key;
            let entered = key.swap_quiet(this.value);
            if entered {
                // In scope for the drop too (invariant 2): a task that a destructor spawns
                // inherits the value that destructor reads (a review found it without).
                push_active(*this.inherit);
            }
            // Swaps back even if the future's destructor panics.
            let _back = SwapBack { key, value: this.value, entered };
            // SAFETY: the reference is used only to drop the future in place, just below,
            // which keeps the pinning promise (drop before the memory is reused).
            #[allow(unsafe_code)]
            let future = unsafe { this.future.get_unchecked_mut() };
            // SAFETY: this is the destructor of `Scope`, so the future is never polled, moved or
            // dropped again after this line.
            #[allow(unsafe_code)]
            unsafe {
                ManuallyDrop::drop(future)
            }
        }
    }
}

/// Swaps a scope's value back out of the slot when its future's drop ends.
struct SwapBack<'a, T: 'static> {
    key: &'static LocalKey<T>,
    value: &'a mut Option<T>,
    entered: bool,
}

impl<T: 'static> Drop for SwapBack<'_, T> {
    fn drop(&mut self) {
        if self.entered {
            pop_active();
            self.key.swap_quiet(self.value);
        }
    }
}

impl<T: Clone + Send + 'static, F: Future> Future for Scope<T, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = Entered::enter(*this.key, this.value);
        // SAFETY: `ManuallyDrop<F>` is a transparent wrapper, so this is a plain structural pin
        // projection; the future is never moved out of it.
        #[allow(unsafe_code)]
        let future = unsafe { this.future.map_unchecked_mut(|f| &mut **f) };
        future.poll(cx)
    }
}

impl<T: 'static, F> fmt::Debug for Scope<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("key", &self.key.name)
            .finish_non_exhaustive()
    }
}

/// A key whose value can be cloned into a new task.
trait Inherit: Sync {
    fn capture(&'static self) -> Option<Box<dyn Captured>>;
    /// An empty value for this key: swapped into the slot, it takes the value there out (see
    /// [`suspend`]).
    fn blank(&'static self) -> Box<dyn Captured>;
    fn id(&'static self) -> *const ();
}

impl<T: Clone + Send + 'static> Inherit for LocalKey<T> {
    fn capture(&'static self) -> Option<Box<dyn Captured>> {
        let value = self.try_with(T::clone).ok()?;
        Some(Box::new(CapturedValue {
            key: self,
            value: Some(value),
        }))
    }

    fn blank(&'static self) -> Box<dyn Captured> {
        Box::new(CapturedValue {
            key: self,
            value: None,
        })
    }

    fn id(&'static self) -> *const () {
        (self as *const LocalKey<T>).cast()
    }
}

/// One inherited value, owned by a task: swapped into its key's slot around each poll.
trait Captured: Send {
    fn enter(&mut self) -> bool;
    /// As `enter`, for a drop: never panics (invariant 5).
    fn enter_quiet(&mut self) -> bool;
    fn exit(&mut self);
    /// Swaps this value with the key's slot, leaving the list of keys in scope alone; never
    /// panics.
    fn swap_slot(&mut self) -> bool;
}

struct CapturedValue<T: 'static> {
    key: &'static LocalKey<T>,
    value: Option<T>,
}

impl<T: Clone + Send + 'static> Captured for CapturedValue<T> {
    fn enter(&mut self) -> bool {
        if !self.key.swap(&mut self.value) {
            return false;
        }
        push_active(self.key);
        true
    }

    fn enter_quiet(&mut self) -> bool {
        if !self.key.swap_quiet(&mut self.value) {
            return false;
        }
        push_active(self.key);
        true
    }

    fn exit(&mut self) {
        pop_active();
        self.key.swap(&mut self.value);
    }

    fn swap_slot(&mut self) -> bool {
        self.key.swap_quiet(&mut self.value)
    }
}

thread_local! {
    /// The keys in scope on this thread, innermost last.
    static ACTIVE: RefCell<Vec<&'static dyn Inherit>> = const { RefCell::new(Vec::new()) };
    /// How many keys `ACTIVE` holds: a plain counter with no destructor, so that `capture` on
    /// the spawn path costs one thread-local load when no key is in scope.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Set while an [`uncaptured`] guard lives: `capture` then takes nothing.
    static UNCAPTURED: Cell<bool> = const { Cell::new(false) };
}

fn push_active(key: &'static dyn Inherit) {
    if ACTIVE.try_with(|a| a.borrow_mut().push(key)).is_ok() {
        DEPTH.with(|d| d.set(d.get() + 1));
    }
}

fn pop_active() {
    if let Ok(Some(_)) = ACTIVE.try_with(|a| a.borrow_mut().pop()) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// A scope's value, swapped in for the duration of one poll.
struct Entered<'a, T: Clone + Send + 'static> {
    key: &'static LocalKey<T>,
    value: &'a mut Option<T>,
    entered: bool,
}

impl<'a, T: Clone + Send + 'static> Entered<'a, T> {
    fn enter(key: &'static LocalKey<T>, value: &'a mut Option<T>) -> Entered<'a, T> {
        let entered = key.swap(value);
        if entered {
            push_active(key);
        }
        Entered {
            key,
            value,
            entered,
        }
    }
}

impl<T: Clone + Send + 'static> Drop for Entered<'_, T> {
    fn drop(&mut self) {
        if self.entered {
            pop_active();
            self.key.swap(self.value);
        }
    }
}

/// The task-local values a task inherited at its spawn.
pub(crate) struct Inherited(Vec<Box<dyn Captured>>);

impl Inherited {
    /// Installs the values for one poll; the guard takes them out again.
    #[inline]
    pub(crate) fn enter(&mut self) -> InheritedGuard<'_> {
        self.enter_with(|value| value.enter())
    }

    /// Installs the values around the drop of the task's future; never panics (invariant 5).
    pub(crate) fn enter_for_drop(&mut self) -> InheritedGuard<'_> {
        self.enter_with(|value| value.enter_quiet())
    }

    #[inline]
    fn enter_with(&mut self, enter: impl Fn(&mut Box<dyn Captured>) -> bool) -> InheritedGuard<'_> {
        let mut entered = 0;
        for value in &mut self.0 {
            if !enter(value) {
                break;
            }
            entered += 1;
        }
        InheritedGuard {
            values: &mut self.0,
            entered,
        }
    }
}

pub(crate) struct InheritedGuard<'a> {
    values: &'a mut Vec<Box<dyn Captured>>,
    entered: usize,
}

impl Drop for InheritedGuard<'_> {
    fn drop(&mut self) {
        for value in self.values[..self.entered].iter_mut().rev() {
            value.exit();
        }
    }
}

/// Each key in scope once, innermost first (the one whose value is in the slot).
fn innermost_first<'a>(
    active: &'a [&'static dyn Inherit],
) -> impl Iterator<Item = &'static dyn Inherit> + 'a {
    let mut seen: Vec<*const ()> = Vec::with_capacity(active.len());
    active.iter().rev().copied().filter(move |key| {
        let id = key.id();
        let first = !seen.contains(&id);
        if first {
            seen.push(id);
        }
        first
    })
}

/// The values of the keys in scope on this thread, taken out of their slots while a task runs
/// nested inside another task's poll (invariant 6); put back on drop.
pub(crate) struct Suspended {
    active: Vec<&'static dyn Inherit>,
    values: Vec<Box<dyn Captured>>,
}

/// Whether any task-local value is in scope on this thread.
#[inline]
pub(crate) fn any_in_scope() -> bool {
    DEPTH.try_with(Cell::get).unwrap_or(0) > 0
}

/// Takes every task-local value in scope on this thread out of sight, until the guard drops:
/// called by a nested `block_on` around the tasks it runs inside the poll of the task that
/// called it. `None`, at the cost of one thread-local read, when no key is in scope.
#[inline]
pub(crate) fn suspend() -> Option<Suspended> {
    if !any_in_scope() {
        return None;
    }
    suspend_slow()
}

#[cold]
fn suspend_slow() -> Option<Suspended> {
    let active = ACTIVE
        .try_with(|a| a.try_borrow_mut().ok().map(|mut a| std::mem::take(&mut *a)))
        .ok()
        .flatten()?;
    DEPTH.with(|d| d.set(0));
    let mut values = Vec::with_capacity(active.len());
    // A shadowed outer scope is skipped: the slot holds only the innermost value.
    for key in innermost_first(&active) {
        let mut blank = key.blank();
        // A slot borrowed by a `with` closure around this call stays as it is.
        if blank.swap_slot() {
            values.push(blank);
        }
    }
    Some(Suspended { active, values })
}

impl Drop for Suspended {
    fn drop(&mut self) {
        for value in self.values.iter_mut().rev() {
            value.swap_slot();
        }
        let active = std::mem::take(&mut self.active);
        let depth = active.len();
        let restored = ACTIVE
            .try_with(|a| match a.try_borrow_mut() {
                Ok(mut a) => {
                    *a = active;
                    true
                }
                Err(_) => false,
            })
            .unwrap_or(false);
        if restored {
            let _ = DEPTH.try_with(|d| d.set(depth));
        }
    }
}

/// Clones the value of every key in scope on this thread, for a task being spawned; `None` (and
/// no allocation) when no key is in scope.
#[inline]
pub(crate) fn capture() -> Option<Inherited> {
    if DEPTH.with(Cell::get) == 0 {
        return None;
    }
    // Consumed by the one spawn it was set for: a task spawned later inside the same call (by
    // a destructor that runs in it) captures as usual.
    if UNCAPTURED.with(|u| u.replace(false)) {
        return None;
    }
    ACTIVE
        .try_with(|active| {
            let active = active.try_borrow().ok()?;
            if active.is_empty() {
                return None;
            }
            let mut values: Vec<Box<dyn Captured>> = Vec::with_capacity(active.len());
            // Innermost first, so a shadowed outer scope of the same key is skipped.
            for key in innermost_first(&active) {
                if let Some(value) = key.capture() {
                    values.push(value);
                }
            }
            values.reverse();
            Some(Inherited(values))
        })
        .ok()
        .flatten()
}

/// Wraps `future` so that it runs with the task-local values in scope at this call, for futures
/// that are polled outside the scope they were created in (a task group's local children).
///
/// # Examples
///
/// ```
/// corio_executor::task_local! { static ID: u32; }
///
/// let child = corio_executor::block_on(ID.scope(5, async {
///     corio_executor::task::inherit(async { ID.with(|id| *id) })
/// }));
/// // Polled outside the scope, it still sees the value it was created under.
/// assert_eq!(corio_executor::block_on(child), 5);
/// ```
pub fn inherit<F: Future>(future: F) -> WithInherited<F> {
    WithInherited {
        inherited: capture(),
        future: ManuallyDrop::new(future),
    }
}

/// Makes the next spawn on this thread, made while the guard lives, capture no task-local
/// values: for a task whose future carries its values already, in an [`inherit`] wrapper (a
/// `TaskSet` member's runner), which would otherwise clone every value twice. Only the first
/// capture is skipped. A guard rather than a closure around the spawn: a spawn called directly
/// by a `#[track_caller]` function records its caller's location, which a spawn inside a
/// closure cannot (a `TaskSet` member's spawn site named `task_set.rs`: a probe found it in a
/// dump).
#[doc(hidden)]
pub fn uncaptured() -> Uncaptured {
    Uncaptured(UNCAPTURED.with(|u| u.replace(true)))
}

/// Restores the flag [`uncaptured`] set.
#[doc(hidden)]
#[derive(Debug)]
pub struct Uncaptured(bool);

impl Drop for Uncaptured {
    fn drop(&mut self) {
        let _ = UNCAPTURED.try_with(|u| u.set(self.0));
    }
}

/// Wraps `f` so that it runs with the task-local values in scope at this call, for closures
/// that run on another thread (the facade's `to_thread` uses it, as Python's `asyncio.to_thread`
/// propagates the `contextvars` context to its worker thread).
///
/// Nothing is cloned when no key is in scope. The values are set around `f` only, and dropped
/// with the returned closure (on the thread that runs or drops it).
///
/// # Examples
///
/// ```
/// corio_executor::task_local! { static ID: u32; }
///
/// let job = corio_executor::block_on(ID.scope(5, async { corio_executor::task::inherit_fn(|| ID.with(|id| *id)) }));
/// // Run on another thread, it still sees the value it was created under.
/// assert_eq!(std::thread::spawn(job).join().unwrap(), 5);
/// ```
pub fn inherit_fn<R, F: FnOnce() -> R>(f: F) -> impl FnOnce() -> R {
    let mut inherited = capture();
    move || {
        let _guard = inherited.as_mut().map(Inherited::enter);
        f()
    }
}

pin_project! {
    /// The future of [`inherit`]. Dropping it drops the inner future with the values set.
    #[must_use = "futures do nothing unless awaited"]
    pub struct WithInherited<F> {
        inherited: Option<Inherited>,
        // Dropped by hand in `PinnedDrop`, with the values set.
        #[pin]
        future: ManuallyDrop<F>,
    }

    impl<F> PinnedDrop for WithInherited<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let _guard = this.inherited.as_mut().map(Inherited::enter_for_drop);
            // SAFETY: the reference is used only to drop the future in place, just below,
            // which keeps the pinning promise (drop before the memory is reused).
            #[allow(unsafe_code)]
            let future = unsafe { this.future.get_unchecked_mut() };
            // SAFETY: this is the destructor of `WithInherited`, so the future is never polled, moved or
            // dropped again after this line.
            #[allow(unsafe_code)]
            unsafe {
                ManuallyDrop::drop(future)
            }
        }
    }
}

impl<F: Future> Future for WithInherited<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _guard = this.inherited.as_mut().map(Inherited::enter);
        // SAFETY: `ManuallyDrop<F>` is a transparent wrapper, so this is a plain structural pin
        // projection; the future is never moved out of it.
        #[allow(unsafe_code)]
        let future = unsafe { this.future.map_unchecked_mut(|f| &mut **f) };
        future.poll(cx)
    }
}

impl<F> fmt::Debug for WithInherited<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithInherited")
            .field("values", &self.inherited.as_ref().map_or(0, |i| i.0.len()))
            .finish_non_exhaustive()
    }
}
