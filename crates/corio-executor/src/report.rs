//! Runtime reports: the one place through which the runtime tells a person that something went
//! wrong without an awaiter to return it to.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::task::TaskId;

/// What to do when a task panics and nobody will ever observe it (the task was detached, or its
/// [`Task`](crate::Task) handle was dropped without being awaited).
///
/// A panic whose `Task` is awaited always resumes in the awaiter instead; this policy is only about
/// the panics that would otherwise be lost (the "swallowed exception" pitfall of asyncio).
///
/// # Examples
///
/// ```
/// use corio_executor::{PanicPolicy, Runtime};
///
/// let rt = Runtime::builder().unobserved_panic(PanicPolicy::Report).build().unwrap();
/// # drop(rt);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PanicPolicy {
    /// Send a [`Report::UnobservedPanic`] to the report hook (by default: print it to stderr) and
    /// keep running. This is the default.
    #[default]
    Report,
    /// Send the report, then abort the process.
    Abort,
}

/// A short description of a task, carried by reports.
#[derive(Debug, Clone)]
pub struct TaskSummary {
    /// The task's id.
    pub id: TaskId,
    /// The name given with [`task::Builder::name`](crate::task::Builder::name), if any.
    pub name: Option<Arc<str>>,
    /// Where the task was spawned.
    pub location: &'static Location<'static>,
}

impl fmt::Display for TaskSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "task {} `{}`", self.id, name)?,
            None => write!(f, "task {}", self.id)?,
        }
        write!(f, " spawned at {}", self.location)
    }
}

/// Something the runtime has to tell a person about.
///
/// Reports go through one hook, set with [`Builder::report_hook`](crate::Builder::report_hook).
/// The default hook prints each report to stderr on one line, prefixed with `corio:`.
///
/// # Examples
///
/// ```
/// use corio_executor::{Report, Runtime};
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let rt = Runtime::builder()
///     .report_hook(move |report: &Report| sink.lock().unwrap().push(report.to_string()))
///     .build()
///     .unwrap();
/// let task = rt.spawn(async { panic!("nobody is listening") });
/// while !task.is_finished() {
///     std::thread::yield_now();
/// }
/// drop(task); // dropped without being awaited: the panic can never be observed, so it is reported
/// assert!(seen.lock().unwrap()[0].contains("nobody is listening"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Report {
    /// A task panicked and its panic can never reach an awaiter.
    UnobservedPanic {
        /// The task that panicked.
        task: TaskSummary,
        /// The panic message, if the payload was a string.
        message: String,
    },
    /// A single poll of a task ran longer than the debug-mode threshold: the task blocked its thread.
    SlowPoll {
        /// The task whose poll was slow.
        task: TaskSummary,
        /// How long the poll took (or, if `still_running`, how long it has run so far).
        elapsed: Duration,
        /// The worker thread the poll ran on.
        thread: String,
        /// `true` if a watchdog saw the poll still running; `false` if the poll has finished.
        still_running: bool,
    },
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::UnobservedPanic { task, message } => {
                write!(f, "{task} panicked and nobody awaited it: {message}")
            }
            Report::SlowPoll {
                task,
                elapsed,
                thread,
                still_running: true,
            } => write!(
                f,
                "{task} has blocked thread `{thread}` for {elapsed:.1?} in a single poll (still running); \
                 move blocking work to corio::to_thread"
            ),
            Report::SlowPoll {
                task,
                elapsed,
                thread,
                still_running: false,
            } => write!(
                f,
                "{task} blocked thread `{thread}` for {elapsed:.1?} in a single poll; \
                 move blocking work to corio::to_thread"
            ),
        }
    }
}

/// The function that receives every [`Report`].
pub(crate) type ReportHook = Arc<dyn Fn(&Report) + Send + Sync>;

pub(crate) fn default_hook() -> ReportHook {
    Arc::new(|report: &Report| eprintln!("corio: {report}"))
}

/// The message of a panic, from its payload: the `&str` or `String` that `panic!` carries, or a
/// placeholder for any other payload. This is the message of a [`Report::UnobservedPanic`]; use
/// it on the payload of a task's panic caught with `catch_unwind`, or in a panic hook.
///
/// # Examples
///
/// ```
/// use corio_executor::panic_message;
///
/// let caught = std::panic::catch_unwind(|| panic!("disk {} is full", 3)).unwrap_err();
/// assert_eq!(panic_message(&*caught), "disk 3 is full");
/// let caught = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
/// assert_eq!(panic_message(&*caught), "plain");
/// let caught = std::panic::catch_unwind(|| std::panic::panic_any(7)).unwrap_err();
/// assert_eq!(panic_message(&*caught), "Box<dyn Any> (a non-string panic payload)");
/// ```
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a non-string panic payload)".to_owned()
    }
}
