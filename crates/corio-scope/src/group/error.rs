//! The errors of a task group: [`GroupError`] (what the group returns) and [`Cancelled`] (what
//! a child's handle returns when the child produced no value).

use std::error::Error;
use std::fmt;

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
/// // The body's own error counts with the children's.
/// assert_eq!(err.to_string(), "the task group failed: the body failed too");
/// ```
pub struct GroupError<E> {
    pub(super) errors: Vec<E>,
    pub(super) cancelled: bool,
}

impl<E> GroupError<E> {
    /// Every error, in the order they happened.
    ///
    /// # Examples
    ///
    /// ```
    /// let r: Result<(), _> = corio_executor::run_local(corio_scope::supervisor(async |g| {
    ///     for name in ["a", "b"] {
    ///         g.spawn(async move { Err::<(), _>(format!("{name} failed")) });
    ///     }
    ///     Ok(())
    /// }));
    /// let err = r.unwrap_err();
    /// assert_eq!(err.errors().len(), 2);
    /// assert!(err.errors().contains(&"b failed".to_string()));
    /// ```
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// Every error, by value.
    ///
    /// # Examples
    ///
    /// ```
    /// let r: Result<(), _> = corio_executor::run_local(corio_scope::supervisor(async |g| {
    ///     for i in 0..3u32 {
    ///         g.spawn(async move { Err::<(), _>(i) });
    ///     }
    ///     Ok(())
    /// }));
    /// let mut errors: Vec<u32> = r.unwrap_err().into_errors();
    /// errors.sort();
    /// assert_eq!(errors, [0, 1, 2]);
    /// ```
    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }

    /// The first error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let r: Result<(), _> = corio_executor::run_local(corio_scope::task_group(async |g| {
    ///     g.spawn(async { Err::<(), _>("disk full") });
    ///     Ok(())
    /// }));
    /// assert_eq!(r.unwrap_err().first(), Some(&"disk full"));
    /// ```
    pub fn first(&self) -> Option<&E> {
        self.errors.first()
    }

    /// Whether the group ended because [`Group::cancel`](crate::Group::cancel) was called before the body returned
    /// (then there are no errors).
    ///
    /// # Examples
    ///
    /// ```
    /// let cancelled: Result<(), corio_scope::GroupError<()>> =
    ///     corio_executor::run_local(corio_scope::task_group(async |g| {
    ///         g.cancel();
    ///         corio_executor::yield_now().await; // the body is cancelled here
    ///         Ok(())
    ///     }));
    /// assert!(cancelled.unwrap_err().is_cancelled());
    ///
    /// let failed: Result<(), _> =
    ///     corio_executor::run_local(corio_scope::task_group(async |_g| Err("failed")));
    /// assert!(!failed.unwrap_err().is_cancelled());
    /// ```
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
            // The body's own error may be among them: the group failed, not necessarily a task.
            [only] => write!(f, "the task group failed: {only}"),
            [first, rest @ ..] => write!(
                f,
                "the task group failed with {} errors; the first: {first}",
                rest.len() + 1
            ),
        }
    }
}

impl<E: Error + 'static> Error for GroupError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.errors.first().map(|e| e as &(dyn Error + 'static))
    }
}
