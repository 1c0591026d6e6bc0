//! Tasks: the `Task<T>` handle, task ids and names, and the wrapper every spawned future runs in.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::panic::{AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

pub use crate::task_local::{
    AccessError, LocalKey, Scope, Uncaptured, WithInherited, inherit, inherit_fn, uncaptured,
};

use crate::context;
use crate::debug::{DebugState, TaskDebug};
use crate::report::{PanicPolicy, Report, ReportHook, TaskSummary, panic_message};
use crate::rescue;
use crate::runtime::Handle;

/// The unique id of a task, for as long as the process lives.
///
/// # Examples
///
/// ```
/// let task = corio_executor::spawn(async { corio_executor::task::id() });
/// let id = task.id();
/// assert_eq!(corio_executor::block_on(task), Some(id));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

impl TaskId {
    /// Allocates a fresh id. Threads take ids in blocks, so spawning does not contend on a shared
    /// counter.
    pub(crate) fn next() -> TaskId {
        const BLOCK: u64 = 1024;
        static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        let take_block = || {
            let start = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
            (start, start + BLOCK)
        };
        let id = RANGE
            .try_with(|r| {
                let (mut next, mut end) = r.get();
                if next == end {
                    (next, end) = take_block();
                }
                r.set((next + 1, end));
                next
            })
            .unwrap_or_else(|_| take_block().0);
        TaskId(NonZeroU64::new(id).expect("task ids start at 1"))
    }

    /// The id as a number.
    ///
    /// # Examples
    ///
    /// ```
    /// let task = corio_executor::spawn(async {});
    /// assert!(task.id().as_u64() > 0);
    /// # corio_executor::block_on(task);
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }

    /// The id whose [`as_u64`](TaskId::as_u64) is `raw`, if `raw` is not 0.
    #[inline]
    pub(crate) fn from_raw(raw: u64) -> Option<TaskId> {
        NonZeroU64::new(raw).map(TaskId)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Returns the id of the task that is running on this thread, or `None` outside of a task.
///
/// # Examples
///
/// ```
/// assert_eq!(corio_executor::task::id(), None);
/// let inside = corio_executor::block_on(corio_executor::spawn(async { corio_executor::task::id() }));
/// assert!(inside.is_some());
/// ```
pub fn id() -> Option<TaskId> {
    context::current_task()
}

/// Reports a panic that can no longer reach anyone who would observe it, through the current
/// runtime's report hook and [`PanicPolicy`] (as for a detached task's panic).
///
/// Libraries that catch panics of futures they own call this when they cannot resume them: for
/// example a task group that caught a child's panic and was then cancelled itself.
///
/// # Examples
///
/// ```
/// use std::panic::Location;
///
/// corio_executor::task::report_unobserved_panic(
///     Box::new("lost in a cancelled group"),
///     Some("demo"),
///     Location::caller(),
/// ); // prints a `corio: ...` line to stderr outside any runtime
/// ```
pub fn report_unobserved_panic(
    payload: Box<dyn Any + Send>,
    name: Option<&str>,
    location: &'static Location<'static>,
) {
    let task = TaskSummary {
        id: context::current_task().unwrap_or_else(TaskId::next),
        name: name.map(Arc::from),
        location,
    };
    // Dropping an untaken `Panicked` reports it.
    drop(Panicked::new(payload, task));
}

/// Captures, now, where a panic of work started here should be reported if it happens later on
/// a thread outside the runtime, once nobody awaits the work (a blocking-pool job whose future
/// was dropped): the current runtime's report hook and [`PanicPolicy`]. The returned closure
/// reports its payload there, as a task named `name`, started at `location`; its `bool` says
/// that the panic came from dropping the work's result rather than from the work.
///
/// # Examples
///
/// ```
/// use std::panic::Location;
///
/// let report = corio_executor::task::unobserved_panic_reporter("to_thread", Location::caller());
/// std::thread::spawn(move || report(Box::new("lost"), false)) // prints a `corio: ...` line
///     .join()
///     .unwrap();
/// ```
pub fn unobserved_panic_reporter(
    name: &'static str,
    location: &'static Location<'static>,
) -> impl FnOnce(Box<dyn Any + Send>, bool) + Send + 'static {
    let reporting = context::panic_reporting();
    move |payload, in_destructor| {
        let task = TaskSummary {
            id: TaskId::next(),
            name: Some(Arc::from(name)),
            location,
        };
        drop(if in_destructor {
            Panicked::in_destructor(payload, task, reporting)
        } else {
            Panicked::with_reporting(payload, task, reporting)
        });
    }
}

/// What a task carries beyond its id and location, allocated only for named tasks and in debug
/// mode, so that a plain task's header stays three words.
#[derive(Default)]
pub(crate) struct Extra {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) debug: Option<Arc<TaskDebug>>,
    /// The task-local values in scope where the task was spawned.
    pub(crate) locals: std::cell::RefCell<Option<crate::task_local::Inherited>>,
    /// Spawned with [`Builder::spawn_with_scheduler`]: its polls are not watched for slowness.
    pub(crate) hooked: bool,
    /// For a hooked task, the reporting of the runtime it was spawned from: its polls run on
    /// threads that belong to no runtime, so the thread cannot tell.
    pub(crate) reporting: Option<(ReportHook, PanicPolicy)>,
}

impl Drop for Extra {
    fn drop(&mut self) {
        // The future is being dropped: the task leaves the debug registry.
        if let Some(debug) = &self.debug {
            debug.ended();
        }
    }
}

/// What a spawned future carries about itself.
pub(crate) struct Header {
    pub(crate) id: TaskId,
    pub(crate) location: &'static Location<'static>,
    pub(crate) extra: Option<Box<Extra>>,
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("id", &self.id)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Header {
    pub(crate) fn new(location: &'static Location<'static>, name: Option<Arc<str>>) -> Header {
        let id = TaskId::next();
        #[cfg(feature = "tracing")]
        tracing::trace!(
            target: "corio::task",
            task_id = id.as_u64(),
            task_name = name.as_deref(),
            location = %location,
            "spawn"
        );
        let locals = crate::task_local::capture();
        let extra = if name.is_some() || locals.is_some() {
            Some(Box::new(Extra {
                name,
                debug: None,
                locals: std::cell::RefCell::new(locals),
                hooked: false,
                reporting: None,
            }))
        } else {
            None
        };
        Header {
            id,
            location,
            extra,
        }
    }

    /// In debug mode, creates and registers the task's debug record.
    pub(crate) fn attach_debug(&mut self, state: Option<&Arc<DebugState>>) {
        let Some(state) = state else { return };
        let extra = self.extra.get_or_insert_with(Default::default);
        extra.debug = Some(state.track(self.id, extra.name.clone(), self.location));
    }
}

/// Where a running task keeps its [`Extra`]: nowhere (`()`, the common case, costing no space in
/// the task) or in a box.
pub(crate) trait ExtraSlot: Send + 'static {
    fn extra(&self) -> Option<&Extra>;
}

impl ExtraSlot for () {
    #[inline]
    fn extra(&self) -> Option<&Extra> {
        None
    }
}

impl ExtraSlot for Box<Extra> {
    #[inline]
    fn extra(&self) -> Option<&Extra> {
        Some(self)
    }
}

/// Builds a task from a [`Header`]: a plain task has no extra slot at all; a named or debug task
/// carries it boxed; a debug task's schedule function also marks it scheduled.
macro_rules! spawn_task {
    ($builder:expr, $method:ident, $future:expr, $header:expr, $schedule:path) => {{
        let header: $crate::task::Header = $header;
        let (id, location) = (header.id, header.location);
        match header.extra {
            None => $builder.$method(
                move |_: &_| $crate::task::Spawned::new($future, id, location, ()),
                ::async_task::WithInfo($schedule),
            ),
            Some(extra) => match extra.debug.clone() {
                None => $builder.$method(
                    move |_: &_| $crate::task::Spawned::new($future, id, location, extra),
                    ::async_task::WithInfo($schedule),
                ),
                Some(debug) => $builder.$method(
                    move |_: &_| $crate::task::Spawned::new($future, id, location, extra),
                    ::async_task::WithInfo(move |r, info| {
                        debug.mark_scheduled();
                        $schedule(r, info)
                    }),
                ),
            },
        }
    }};
}
pub(crate) use spawn_task;

/// Counts the task as ended, and removes it from the idle registry, when its future is dropped.
///
/// `0`: not registered (yet); [`UNCOUNTED`]: a hooked task, which no runtime counts and which
/// never registers; anything else: the registry key.
struct Registration(u64);

/// The registration of a task spawned with [`Builder::spawn_with_scheduler`]: it belongs to no
/// runtime, so it never enters an idle registry (no runtime could drain it) and its end is
/// counted by none (none counted its spawn).
const UNCOUNTED: u64 = u64::MAX;

impl Drop for Registration {
    #[inline]
    fn drop(&mut self) {
        if self.0 != UNCOUNTED {
            context::task_ended(self.0);
        }
    }
}

pin_project! {
    /// The future that every spawned task runs: the user's future, plus the task's id and spawn
    /// location, panic capture, and its entry in the idle registry.
    ///
    /// The user's future is dropped *here*, in `PinnedDrop`, under `catch_unwind`, before
    /// async-task's own drop (which aborts the process when a destructor panics) could see it: a
    /// destructor that panics when its task is cancelled, shuts down, completes or panicked is
    /// reported like an unobserved panic, and everything else carries on. It is a `ManuallyDrop`
    /// rather than an `Option` because a coroutine has no niche: `Option<F>` cost 8 more bytes per
    /// task (measured: 144.5 -> 163.8 B of RSS per parked task, 2 workers).
    pub(crate) struct Spawned<F, X: ExtraSlot> {
        #[pin]
        future: ManuallyDrop<F>,
        id: TaskId,
        location: &'static Location<'static>,
        extra: X,
        registration: Registration,
    }

    impl<F, X: ExtraSlot> PinnedDrop for Spawned<F, X> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let future = this.future;
            // A destructor, not a poll: a `block_on` in it runs to the end even when the runtime
            // shuts down (see `runtime::ShutdownUnwind`).
            let _task = context::set_task_dropping(*this.id);
            // The task-local values it inherited are set while its future is dropped, as around
            // its polls (see `task_local`, invariant 5).
            let extra = this.extra.extra();
            let mut locals = extra.and_then(|e| e.locals.try_borrow_mut().ok());
            let locals_guard = locals
                .as_mut()
                .and_then(|l| l.as_mut())
                .map(|l| l.enter_for_drop());
            // SAFETY: the reference is used only to drop the future in place, just below, which
            // keeps the pinning promise (drop before the memory is reused).
            #[allow(unsafe_code)]
            let future = unsafe { future.get_unchecked_mut() };
            let dropped = std::panic::catch_unwind(AssertUnwindSafe(move || {
                // SAFETY: this is the destructor of `Spawned`, so the future is never polled,
                // moved or dropped again after this line. If its destructor unwinds, it counts as
                // dropped all the same.
                #[allow(unsafe_code)]
                unsafe {
                    ManuallyDrop::drop(future)
                }
            }));
            drop(locals_guard);
            drop(locals);
            if let Err(payload) = dropped {
                drop(Panicked::in_destructor(payload, TaskSummary {
                    id: *this.id,
                    name: extra.and_then(|e| e.name.clone()),
                    location: this.location,
                }, reporting_of(extra)));
            }
        }
    }
}

/// Where a panic caught in a task is reported if nobody takes it: a hooked task carries its
/// runtime's reporting; any other task uses that of the thread it is polled on (its runtime's).
#[cold]
fn reporting_of(extra: Option<&Extra>) -> Option<(ReportHook, PanicPolicy)> {
    match extra {
        Some(e) if e.hooked => e.reporting.clone().or_else(context::panic_reporting),
        _ => context::panic_reporting(),
    }
}

impl<F, X: ExtraSlot> Spawned<F, X> {
    pub(crate) fn new(
        future: F,
        id: TaskId,
        location: &'static Location<'static>,
        extra: X,
    ) -> Spawned<F, X> {
        Spawned {
            future: ManuallyDrop::new(future),
            id,
            location,
            extra,
            registration: Registration(0),
        }
    }
}

fn summary(id: TaskId, location: &'static Location<'static>, extra: Option<&Extra>) -> TaskSummary {
    TaskSummary {
        id,
        name: extra.and_then(|e| e.name.clone()),
        location,
    }
}

impl<F: Future, X: ExtraSlot> Future for Spawned<F, X> {
    type Output = Result<Output<F::Output>, Panicked>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _task = context::set_task(*this.id);
        let extra = this.extra.extra();
        // SAFETY: `ManuallyDrop<F>` is a transparent wrapper, so this is a plain structural pin
        // projection; the future is never moved out of it.
        #[allow(unsafe_code)]
        let future = unsafe { this.future.map_unchecked_mut(|f| &mut **f) };
        #[cfg(feature = "tracing")]
        let _span = tracing::trace_span!(
            target: "corio::task",
            "poll",
            task_id = this.id.as_u64(),
            task_name = extra.and_then(|e| e.name.as_deref()),
        )
        .entered();
        // The task-local values the task inherited, in scope for this poll.
        let mut locals = extra.and_then(|e| e.locals.try_borrow_mut().ok());
        let _locals = locals.as_mut().and_then(|l| l.as_mut()).map(|l| l.enter());
        let task_cx = &mut *cx;
        let poll = move || std::panic::catch_unwind(AssertUnwindSafe(move || future.poll(task_cx)));
        // A hooked task's poll is its scheduler's business (a CPU job is one long poll by
        // design): it is not watched for slow polls.
        let polled = match extra.and_then(|e| e.debug.as_ref().filter(|_| !e.hooked)) {
            None => poll(),
            Some(debug) => debug.instrumented(poll),
        };
        match polled {
            Ok(Poll::Ready(output)) => {
                #[cfg(feature = "tracing")]
                tracing::trace!(target: "corio::task", task_id = this.id.as_u64(), "complete");
                Poll::Ready(Ok(Output::new(output, *this.id, this.location, extra)))
            }
            Ok(Poll::Pending) => {
                if this.registration.0 == 0 {
                    this.registration.0 = context::register_idle(cx.waker());
                }
                Poll::Pending
            }
            Err(payload) if payload.is::<crate::runtime::ShutdownUnwind>() => {
                // Unwound out of a nested `block_on` by the runtime's shutdown: the task is the
                // shutdown's to drop, through the idle registry, as every task left waiting.
                if this.registration.0 == 0 {
                    this.registration.0 = context::register_idle(cx.waker());
                }
                Poll::Pending
            }
            Err(payload) => Poll::Ready(Err(Panicked::with_reporting(
                payload,
                summary(*this.id, this.location, extra),
                reporting_of(extra),
            ))),
        }
    }
}

/// A task's output on its way to the awaiter. If nobody takes it (the task was detached, or its
/// handle dropped after it finished), async-task drops it, and aborts the process if that drop
/// panics; this wrapper catches such a panic and reports it instead.
pub(crate) struct Output<T> {
    /// Dropped by `Output::drop` (under `catch_unwind`), or moved out by `take`, never both.
    value: ManuallyDrop<T>,
    id: TaskId,
    location: &'static Location<'static>,
    /// A hooked task's name and report path (a CPU job's): its output is dropped on a thread of
    /// its scheduler, outside the runtime whose hook must hear of a panic there. `None` for
    /// other tasks (their outputs are dropped on the runtime's threads) and for outputs without
    /// a destructor.
    report: Option<Box<OutputReport>>,
}

struct OutputReport {
    name: Option<Arc<str>>,
    reporting: Option<(ReportHook, PanicPolicy)>,
}

impl<T> Output<T> {
    #[inline]
    fn new(
        value: T,
        id: TaskId,
        location: &'static Location<'static>,
        extra: Option<&Extra>,
    ) -> Output<T> {
        let report = match extra {
            Some(e) if e.hooked && std::mem::needs_drop::<T>() => Some(Box::new(OutputReport {
                name: e.name.clone(),
                reporting: reporting_of(Some(e)),
            })),
            _ => None,
        };
        Output {
            value: ManuallyDrop::new(value),
            id,
            location,
            report,
        }
    }

    /// An output taken back by a `cancel` (`rescue`), on its way to that canceller, which takes
    /// the value at once (the location, used only to report a panicking drop, is this one).
    pub(crate) fn plain(value: T, id: TaskId) -> Output<T> {
        Output {
            value: ManuallyDrop::new(value),
            id,
            location: Location::caller(),
            report: None,
        }
    }

    #[inline]
    fn take(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped (it is a `ManuallyDrop`) nor used again, so the value
        // is moved out exactly once and `Output::drop` never sees it.
        #[allow(unsafe_code)]
        unsafe {
            ManuallyDrop::take(&mut this.value)
        }
    }
}

impl<T> Drop for Output<T> {
    #[inline]
    fn drop(&mut self) {
        // Nobody took the output: a `cancel` that landed during the task's last poll may want
        // it (`rescue`), whether or not it has a destructor.
        if rescue::PENDING.load(Ordering::Acquire) > 0
            && rescue::offer_value(self.id, &mut self.value)
        {
            return;
        }
        if !std::mem::needs_drop::<T>() {
            return;
        }
        let value = &mut self.value;
        // SAFETY: this is `Output`'s destructor and `take` forgets the `Output` it takes from,
        // so the value is still there and is dropped exactly once, here.
        #[allow(unsafe_code)]
        let dropped = std::panic::catch_unwind(AssertUnwindSafe(move || unsafe {
            ManuallyDrop::drop(value)
        }));
        if let Err(payload) = dropped {
            let (name, reporting) = match self.report.take() {
                Some(report) => (report.name, report.reporting),
                None => (None, context::panic_reporting()),
            };
            let task = TaskSummary {
                id: self.id,
                name,
                location: self.location,
            };
            let mut panicked = Panicked::with_reporting(payload, task, reporting);
            panicked.0.output_drop = true;
            drop(panicked);
        }
    }
}

/// A caught panic, on its way to the task's awaiter. If nobody takes it, dropping it reports it.
///
/// Boxed, so that a task's output slot (shared with its future) stays the size of the output.
pub(crate) struct Panicked(Box<PanickedInner>);

struct PanickedInner {
    payload: Option<Box<dyn Any + Send>>,
    task: TaskSummary,
    reporting: Option<(ReportHook, PanicPolicy)>,
    /// The panic came from the future's destructor (the task was cancelled, shut down, or its
    /// future dropped after completing), not from a poll: the report says so.
    in_destructor: bool,
    /// The panic came from dropping the task's output, which nobody took.
    output_drop: bool,
}

impl Panicked {
    #[cold]
    fn new(payload: Box<dyn Any + Send>, task: TaskSummary) -> Panicked {
        Panicked::with_reporting(payload, task, context::panic_reporting())
    }

    #[cold]
    fn with_reporting(
        payload: Box<dyn Any + Send>,
        task: TaskSummary,
        reporting: Option<(ReportHook, PanicPolicy)>,
    ) -> Panicked {
        Panicked(Box::new(PanickedInner {
            payload: Some(payload),
            task,
            reporting,
            in_destructor: false,
            output_drop: false,
        }))
    }

    /// A panic of the future's destructor, which no awaiter can ever observe.
    #[cold]
    fn in_destructor(
        payload: Box<dyn Any + Send>,
        task: TaskSummary,
        reporting: Option<(ReportHook, PanicPolicy)>,
    ) -> Panicked {
        let mut panicked = Panicked::with_reporting(payload, task, reporting);
        panicked.0.in_destructor = true;
        panicked
    }

    pub(crate) fn task_id(&self) -> TaskId {
        self.0.task.id
    }

    /// Moves this panic out (for a `cancel` that takes it, `rescue`), leaving one that reports
    /// nothing when dropped.
    pub(crate) fn take_for_rescue(&mut self) -> Panicked {
        Panicked(Box::new(PanickedInner {
            payload: self.0.payload.take(),
            task: self.0.task.clone(),
            reporting: self.0.reporting.take(),
            in_destructor: false,
            output_drop: false,
        }))
    }

    fn resume(mut self) -> ! {
        let payload = self.0.payload.take().expect("payload is taken once");
        std::panic::resume_unwind(payload)
    }
}

impl Drop for Panicked {
    fn drop(&mut self) {
        if !self.0.in_destructor
            && !self.0.output_drop
            && self.0.payload.is_some()
            && rescue::PENDING.load(Ordering::Acquire) > 0
            && rescue::offer_panic(self)
        {
            return;
        }
        let this = &mut *self.0;
        let Some(payload) = this.payload.take() else {
            return;
        };
        if payload.is::<crate::runtime::ShutdownUnwind>() {
            // A nested `block_on` given up at shutdown, caught somewhere other than the task's
            // poll: the shutdown, not a panic. (A task's destructor no longer gets this payload,
            // see `runtime::ShutdownUnwind`; kept in case another path does.)
            return;
        }
        let mut message = panic_message(&*payload);
        if this.in_destructor {
            message.push_str(" (in the future's destructor, while the task was dropped)");
        }
        if this.output_drop {
            message.push_str(" (dropping the task's output, which nobody took)");
        }
        let report = Report::UnobservedPanic {
            task: this.task.clone(),
            message,
        };
        let policy = match &this.reporting {
            Some((hook, policy)) => {
                // A panicking hook must not turn a report into a double panic.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| hook(&report)));
                *policy
            }
            None => {
                eprintln!("corio: {report}");
                PanicPolicy::Report
            }
        };
        // The payload's own destructor may panic; keep that from escaping a drop.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
        if policy == PanicPolicy::Abort {
            eprintln!("corio: aborting: the runtime's panic policy is PanicPolicy::Abort");
            std::process::abort();
        }
    }
}

/// What identifies a task both to its runnable and to its handle: the address of its metadata,
/// inside the task's allocation (stable, and unique among live tasks). A loop publishes the key
/// of the task it runs (`running`), for `cancel`'s rescue (`rescue.rs`, invariant 3).
#[inline]
pub(crate) fn task_key<M>(meta: &M) -> usize {
    std::ptr::from_ref(meta) as usize
}

/// Runs `runnable` with its key published in `running` (see [`task_key`]), then puts `outer`
/// back there: 0 from a loop, the task around it for a run nested in another (a blocked
/// worker's `block_on`).
#[inline]
pub(crate) fn run_published<M>(
    running: &std::sync::atomic::AtomicUsize,
    runnable: async_task::Runnable<M>,
    outer: usize,
) {
    // Release, both: a canceller that reads a later value (with Acquire) sees everything this
    // run did, the output it rescued included.
    running.store(task_key(runnable.metadata()), Ordering::Release);
    runnable.run();
    running.store(outer, Ordering::Release);
}

/// The handle of a task of either runtime (their tasks carry different metadata), or of a task
/// scheduled by a caller's function ([`Builder::spawn_with_scheduler`]), which carries none.
enum Inner<T> {
    /// The `usize`, here and in `Local`: the task's key ([`task_key`]), for `cancel`'s rescue.
    Multi(
        async_task::FallibleTask<Result<Output<T>, Panicked>, crate::multi::Meta>,
        usize,
    ),
    /// The `u32`: the number of the thread's implicit runtime the task runs on, or 0
    /// (`local::stranded_implicit`). It fits beside the variant's tag.
    Local(
        async_task::FallibleTask<Result<Output<T>, Panicked>, crate::local::Meta>,
        u32,
        usize,
    ),
    Hooked(async_task::FallibleTask<Result<Output<T>, Panicked>, ()>),
    /// The handle's poll returned the output (or resumed the task's panic): awaiting it again
    /// is a bug that deserves its own message, not the one for a cancelled task.
    Returned,
}

/// A handle to a spawned task: await it for the task's output.
///
/// - Awaiting a `Task` returns the task's output. If the task panicked, the panic resumes in the
///   awaiter. The output is handed over once: polling the handle again afterwards (a `&mut task`
///   awaited twice) panics, saying so. A task that can no longer finish because its runtime (or
///   the pool that ran it, or the `block_on` call a [`spawn_local`](crate::spawn_local) task was
///   pinned to) ended first also makes the awaiter panic, with a message that says so;
///   [`cancel`](Task::cancel) returns `None` for it instead.
/// - **Dropping a `Task` cancels the task**: its future is dropped at its next scheduling point.
///   Call [`detach`](Task::detach) to let it run on by itself, or [`cancel`](Task::cancel) to
///   cancel it and wait until its future has been dropped.
/// - A task whose panic can never be observed (detached, or dropped after it panicked) is
///   reported through the runtime's report hook with its name and spawn location; see
///   [`PanicPolicy`].
///
/// # Examples
///
/// ```
/// let task = corio_executor::spawn(async { 6 * 7 });
/// assert_eq!(corio_executor::block_on(task), 42);
/// ```
#[must_use = "dropping a Task cancels it; call .detach() to let it run in the background"]
pub struct Task<T> {
    inner: Inner<T>,
    id: TaskId,
}

impl<T> Task<T> {
    pub(crate) fn from_multi(
        inner: async_task::Task<Result<Output<T>, Panicked>, crate::multi::Meta>,
        id: TaskId,
    ) -> Task<T> {
        let key = task_key(inner.metadata());
        Task {
            inner: Inner::Multi(inner.fallible(), key),
            id,
        }
    }

    pub(crate) fn from_local(
        inner: async_task::Task<Result<Output<T>, Panicked>, crate::local::Meta>,
        id: TaskId,
        implicit_tag: u32,
    ) -> Task<T> {
        let key = task_key(inner.metadata());
        Task {
            inner: Inner::Local(inner.fallible(), implicit_tag, key),
            id,
        }
    }

    fn from_hooked(
        inner: async_task::Task<Result<Output<T>, Panicked>, ()>,
        id: TaskId,
    ) -> Task<T> {
        Task {
            inner: Inner::Hooked(inner.fallible()),
            id,
        }
    }

    /// Lets the task run to completion in the background, without a handle.
    ///
    /// If it panics, the panic is reported (see [`PanicPolicy`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// corio_executor::spawn(async move { tx.send(1).unwrap() }).detach();
    /// assert_eq!(rx.recv().unwrap(), 1);
    /// ```
    pub fn detach(self) {
        match self.inner {
            Inner::Multi(t, _) => t.detach(),
            Inner::Local(t, ..) => t.detach(),
            Inner::Hooked(t) => t.detach(),
            Inner::Returned => {}
        }
    }

    /// Cancels the task and waits until its future has been dropped.
    ///
    /// Returns the output if the task had already finished, `None` otherwise. If the task had
    /// finished by panicking, the panic resumes here. A task that finishes while the cancel
    /// lands (its last poll was running on another worker) has finished: its output is returned,
    /// never dropped, as tokio's `JoinHandle` does when a task completes before its abort.
    ///
    /// The exception is a task run by its own scheduler (a `spawn_cpu` job, a task built with
    /// [`Builder::spawn_with_scheduler`]): unless it has finished, `cancel` returns `None` at
    /// once, without waiting for that scheduler. A CPU job that has not started is dropped unrun
    /// when the pool reaches it; one that has started runs to its end on its pool thread (a thread
    /// cannot be interrupted) and its result is dropped. Its closure, and what it captured, may
    /// therefore still be alive when `cancel` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let task = corio_executor::spawn(std::future::pending::<()>());
    /// assert_eq!(corio_executor::block_on(task.cancel()), None);
    /// ```
    pub async fn cancel(self) -> Option<T> {
        let outcome = match self.inner {
            Inner::Multi(t, key) => {
                // SAFETY: `key` is the address of the task's metadata (an `Arc`) inside the
                // task's allocation, which `t` keeps alive until it is consumed below.
                #[allow(unsafe_code)]
                let shared = unsafe { &*(key as *const crate::multi::Meta) }.clone();
                rescue::cancel(t.cancel(), self.id, move || shared.runs(key)).await
            }
            Inner::Local(t, _, key) => {
                // SAFETY: as above.
                #[allow(unsafe_code)]
                let shared = unsafe { &*(key as *const crate::local::Meta) }.clone();
                rescue::cancel(t.cancel(), self.id, move || shared.runs(key)).await
            }
            // Its future is dropped only when its scheduler runs (or drops) its runnable, which
            // may be long after (a CPU pool busy with other jobs): do not wait for that. A task
            // that finished has its output (or panic) here at once.
            Inner::Hooked(t) if t.is_finished() => t.cancel().await,
            Inner::Hooked(t) => {
                drop(t);
                None
            }
            // The output was returned by the handle's poll already.
            Inner::Returned => None,
        };
        match outcome {
            Some(Ok(output)) => Some(output.take()),
            Some(Err(panicked)) => panicked.resume(),
            None => None,
        }
    }

    /// Returns `true` if the task has finished (completed, panicked, or been cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// let task = corio_executor::spawn(async {});
    /// let task = corio_executor::block_on(async move {
    ///     while !task.is_finished() {
    ///         corio_executor::yield_now().await;
    ///     }
    ///     task
    /// });
    /// assert!(task.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        match &self.inner {
            Inner::Multi(t, _) => t.is_finished(),
            Inner::Local(t, ..) => t.is_finished(),
            Inner::Hooked(t) => t.is_finished(),
            Inner::Returned => true,
        }
    }

    /// The task's id.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = corio_executor::spawn(async {});
    /// let b = corio_executor::spawn(async {});
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> TaskId {
        self.id
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let id = self.id;
        let polled = match &mut self.inner {
            Inner::Multi(t, _) => Pin::new(t).poll(cx),
            Inner::Local(t, tag, _) => {
                let polled = Pin::new(t).poll(cx);
                if polled.is_pending() && *tag != 0 && crate::local::stranded_implicit(*tag) {
                    panic!(
                        "corio: task {id} was spawned by spawn_local outside any runtime, so it \
                         runs on this thread's implicit loop, which runs only inside the free \
                         function corio::block_on on this thread; awaiting it here (in run_local, \
                         a LocalRuntime's or a Runtime's block_on, or another executor) could \
                         never finish. Spawn it inside the runtime that awaits it, or await it \
                         under corio::block_on"
                    );
                }
                polled
            }
            Inner::Hooked(t) => Pin::new(t).poll(cx),
            Inner::Returned => panic!(
                "corio: task {id}'s handle was polled after it had returned the task's output \
                 (a Task is a future: await it once)"
            ),
        };
        match polled {
            Poll::Pending => {
                if context::current_task() == Some(id) {
                    // It would wait for itself for ever (asyncio: "Task cannot await on itself").
                    panic!(
                        "corio: task {id} awaits its own handle, which can only finish once the \
                         task does: it would wait for ever"
                    );
                }
                Poll::Pending
            }
            Poll::Ready(Some(Ok(output))) => {
                self.inner = Inner::Returned;
                Poll::Ready(output.take())
            }
            Poll::Ready(Some(Err(panicked))) => {
                self.inner = Inner::Returned;
                panicked.resume()
            }
            Poll::Ready(None) => panic!(
                "corio: task {id} was cancelled before it finished: its runtime, or the pool \
                 that ran it, shut down, or it was a spawn_local task pinned to a block_on call \
                 that has returned; use Task::cancel to observe cancellation without a panic"
            ),
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Configures a task before spawning it: its name, and where it runs.
///
/// # Examples
///
/// ```
/// use corio_executor::task::Builder;
///
/// let task = Builder::new().name("fetch").spawn(async { "data" });
/// assert_eq!(corio_executor::block_on(task), "data");
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<Arc<str>>,
}

impl Builder {
    /// A builder for an unnamed task.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task. The name appears in reports (an unobserved panic, a slow poll) and dumps.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(Arc::from(name.into()));
        self
    }

    /// Spawns a `Send` future on the current runtime (or the global one outside any runtime).
    ///
    /// # Examples
    ///
    /// ```
    /// let task = corio_executor::task::Builder::new().name("answer").spawn(async { 42 });
    /// assert_eq!(corio_executor::block_on(task), 42);
    /// ```
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let header = Header::new(Location::caller(), self.name);
        Handle::current_or_global().spawn_with(future, header)
    }

    /// Spawns a `Send` future on the runtime of `handle`.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_executor::Runtime::new().unwrap();
    /// let task = corio_executor::task::Builder::new().name("on rt").spawn_on(async { 1 }, &rt.handle());
    /// assert_eq!(rt.block_on(task), 1);
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let header = Header::new(Location::caller(), self.name);
        handle.spawn_with(future, header)
    }

    /// Spawns a future that need not be `Send` on this thread's local runtime.
    ///
    /// See [`spawn_local`](crate::spawn_local) for where it runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// corio_executor::run_local(async {
    ///     let shared = Rc::new(5);
    ///     let task = corio_executor::task::Builder::new()
    ///         .name("local")
    ///         .spawn_local(async move { *shared + 1 });
    ///     assert_eq!(task.await, 6);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let header = Header::new(Location::caller(), self.name);
        crate::local::spawn_local_with(future, header)
    }

    /// Spawns a `Send` future that no runtime runs: each time it is ready to be polled, its
    /// [`Runnable`] goes to `schedule`, whose caller-chosen thread polls it with
    /// [`Runnable::run`]. An advanced hook, for pools that are not runtimes: `corio::spawn_cpu`
    /// uses it to make a CPU-pool job the task itself, so that the finished job wakes its
    /// awaiter directly.
    ///
    /// `schedule` is called once before this returns (the task is ready at once), then once per
    /// wake-up; it must eventually run or drop each runnable. The returned [`Task`] is an
    /// ordinary one: awaiting, [`cancel`](Task::cancel), [`detach`](Task::detach), dropping to
    /// cancel, the id and a panic resuming in the awaiter all work as for
    /// [`spawn`](Builder::spawn), except that `cancel` does not wait for the future to be
    /// dropped: it returns at once (the output if the task had finished, `None` otherwise), and
    /// the future is dropped when the scheduler runs or drops its runnable. A task dropped or
    /// cancelled before its runnable runs is never polled: running (or dropping) that runnable
    /// only drops the future. Dropping a runnable without running it cancels the task, and its
    /// awaiter sees it as shut down.
    ///
    /// What the task takes from where it was spawned: its task-local values (as every task), and,
    /// if that is inside a runtime, that runtime's report hook and [`PanicPolicy`] for a panic
    /// nobody observes and, in debug mode, a record in its [`dump`](crate::dump) (always shown as
    /// scheduled; its polls are not watched for slowness, a scheduler's job being long by design).
    ///
    /// # What a poll touches on the thread that runs it
    ///
    /// The runnables usually run on threads that belong to no runtime (a CPU pool's). A poll sets
    /// the thread's current task id ([`id`] inside the future) and the inherited task-local
    /// values for its duration, and restores them after; it catches a panic. It does *not*
    /// register the task in any runtime's idle registry (it belongs to none, so no runtime's
    /// shutdown reaches it: its scheduler's does, by dropping its runnables), and the task's end
    /// is counted by no runtime's metrics, as its spawn was not. No cooperative budget is set: on
    /// a thread outside any runtime, corio's resources never force a yield. Run on a runtime's own
    /// thread, a poll behaves the same (it neither registers nor counts there).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// // A "pool" of one thread that runs whatever it is given.
    /// let (tx, rx) = mpsc::channel::<corio_executor::task::Runnable>();
    /// let pool = std::thread::spawn(move || {
    ///     for runnable in rx {
    ///         runnable.run();
    ///     }
    /// });
    /// let task = corio_executor::task::Builder::new()
    ///     .name("on my thread")
    ///     .spawn_with_scheduler(async { std::thread::current().name().map(str::to_owned) }, move |r| {
    ///         let _ = tx.send(r);
    ///     });
    /// assert_eq!(corio_executor::block_on(task), None); // a thread with no name: not a runtime's
    /// pool.join().unwrap(); // the task is freed, so `tx` too, which ends the loop
    /// ```
    #[track_caller]
    pub fn spawn_with_scheduler<F, S>(self, future: F, schedule: S) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Fn(Runnable) + Send + Sync + 'static,
    {
        let mut header = Header::new(Location::caller(), self.name);
        let (id, location) = (header.id, header.location);
        // The reporting and debug state of this thread's runtime (as a panic caught here would
        // use), taken without cloning a handle: a busy runtime's handle is a hot cache line.
        let (reporting, debug) = context::with(|cur| match cur {
            Some(cur) => {
                let common = cur.common();
                (
                    Some((common.report.clone(), common.panic_policy)),
                    common.debug.clone(),
                )
            }
            None => (None, None),
        });
        let extra = header.extra.get_or_insert_with(Default::default);
        extra.hooked = true;
        extra.reporting = reporting;
        header.attach_debug(debug.as_ref());
        let extra = header.extra.expect("set above");
        let debug = extra.debug.clone();
        let mut spawned = Spawned::new(future, id, location, extra);
        spawned.registration.0 = UNCOUNTED;
        let (runnable, task) = async_task::spawn(spawned, move |runnable| {
            if let Some(debug) = &debug {
                debug.mark_scheduled();
            }
            schedule(Runnable(runnable));
        });
        runnable.schedule();
        Task::from_hooked(task, id)
    }
}

/// A task of [`Builder::spawn_with_scheduler`], ready to be polled once: its scheduler's thread
/// calls [`run`](Runnable::run).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let ready = Arc::new(Mutex::new(Vec::new()));
/// let queue = ready.clone();
/// let task = corio_executor::task::Builder::new()
///     .spawn_with_scheduler(async { 7 }, move |r| queue.lock().unwrap().push(r));
/// let runnable = ready.lock().unwrap().pop().unwrap(); // scheduled once, at the spawn
/// assert!(!runnable.run()); // polled to completion, not woken again
/// assert_eq!(corio_executor::block_on(task), 7);
/// ```
pub struct Runnable(async_task::Runnable<()>);

impl Runnable {
    /// Polls the task once, on this thread. If its [`Task`] was dropped or cancelled, drops the
    /// future instead, unpolled.
    ///
    /// Returns `true` if the task was woken while it ran: it has then been handed to its
    /// scheduler again already.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// let ready = Arc::new(Mutex::new(Vec::new()));
    /// let queue = ready.clone();
    /// let task = corio_executor::task::Builder::new()
    ///     .spawn_with_scheduler(async { unreachable!("never polled") }, move |r| queue.lock().unwrap().push(r));
    /// drop(task); // cancelled before it ran
    /// let runnable = ready.lock().unwrap().pop().unwrap();
    /// runnable.run(); // drops the future without polling it
    /// ```
    pub fn run(self) -> bool {
        self.0.run()
    }
}

impl fmt::Debug for Runnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runnable").finish_non_exhaustive()
    }
}
