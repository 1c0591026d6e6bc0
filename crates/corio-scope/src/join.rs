//! Gathering futures: `join_all`, `try_join_all`, `race`, and the `join!`/`try_join!` macros.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::set::FutureSet;

/// Waits for every future and returns their outputs **in input order** (asyncio's `gather`).
///
/// The futures run concurrently inside the returned future (on the task that awaits it); only
/// the futures that were woken are polled again. An empty input gives an empty `Vec` at once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let out = corio_executor::run_local(corio_scope::join_all((1..=3u64).map(|i| async move {
///     corio_timer::sleep(Duration::from_millis(10 * (4 - i))).await; // the last finishes first
///     i
/// })));
/// assert_eq!(out, [1, 2, 3]);
/// ```
#[track_caller]
pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let mut set = FutureSet::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let outputs = (0..set.len()).map(|_| None).collect();
    JoinAll {
        set,
        outputs,
        location: Location::caller(),
    }
}

/// The future returned by [`join_all`].
///
/// # Examples
///
/// ```
/// use corio_scope::JoinAll;
/// use std::future::Ready;
///
/// let all: JoinAll<Ready<u8>> = corio_scope::join_all([1, 2].map(std::future::ready));
/// assert_eq!(corio_executor::run_local(all), [1, 2]);
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct JoinAll<F: Future> {
    set: FutureSet<F>,
    outputs: Vec<Option<F::Output>>,
    /// Where `join_all` was called: the location of a report of a panic while dropping.
    location: &'static Location<'static>,
}

impl<F: Future> fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinAll")
            .field("pending", &self.set.len())
            .finish()
    }
}

// The futures are boxed inside the set; nothing here is structurally pinned.
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        while let Poll::Ready(Some((index, output))) = this.set.poll_next(cx) {
            this.outputs[index] = Some(output);
        }
        if !this.set.is_empty() {
            return Poll::Pending;
        }
        let outputs = std::mem::take(&mut this.outputs);
        Poll::Ready(
            outputs
                .into_iter()
                .map(|o| o.expect("every future completed"))
                .collect(),
        )
    }
}

impl<F: Future> Drop for JoinAll<F> {
    fn drop(&mut self) {
        // Dropped before every future completed: the outputs gathered so far go, each under
        // `catch_unwind` (two that panic in their destructors aborted the process: a probe found
        // it). Nobody can observe those panics any more, so they are reported.
        for payload in drop_each_catching(self.outputs.drain(..)) {
            corio_executor::task::report_unobserved_panic(payload, None, self.location);
        }
    }
}

/// Drops every value, in order, each under `catch_unwind`, so that a second destructor that
/// panics is not a panic during a panic (an abort); returns the panics caught.
pub(crate) fn drop_each_catching<T>(
    values: impl IntoIterator<Item = T>,
) -> Vec<Box<dyn std::any::Any + Send>> {
    values
        .into_iter()
        .filter_map(|value| catch_unwind(AssertUnwindSafe(move || drop(value))).err())
        .collect()
}

/// Waits for every future, or for the first error: then the other futures are dropped
/// (cancelled) before the error is returned. On success, the outputs come in input order.
///
/// # Examples
///
/// ```
/// let ok: Result<Vec<u32>, String> =
///     corio_executor::run_local(corio_scope::try_join_all((1..=3).map(|i| async move { Ok(i) })));
/// assert_eq!(ok, Ok(vec![1, 2, 3]));
///
/// let err: Result<Vec<u32>, String> = corio_executor::run_local(corio_scope::try_join_all(vec![
///     Box::pin(async { Ok(1u32) }) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
///     Box::pin(async { Err("user 3 not found".to_string()) }),
///     Box::pin(std::future::pending()), // cancelled when the error arrives
/// ]));
/// assert_eq!(err, Err("user 3 not found".to_string()));
/// ```
#[track_caller]
pub fn try_join_all<I, T, E>(futures: I) -> TryJoinAll<I::Item, T>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    let mut set = FutureSet::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let outputs = (0..set.len()).map(|_| None).collect();
    TryJoinAll {
        set,
        outputs,
        location: Location::caller(),
    }
}

/// The future returned by [`try_join_all`]: `T` is the futures' success type.
///
/// # Examples
///
/// ```
/// use corio_scope::TryJoinAll;
/// use std::future::Ready;
///
/// let all: TryJoinAll<Ready<Result<u8, String>>, u8> =
///     corio_scope::try_join_all([Ok(1), Ok(2)].map(std::future::ready));
/// assert_eq!(corio_executor::run_local(all), Ok(vec![1, 2]));
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct TryJoinAll<F: Future, T> {
    set: FutureSet<F>,
    outputs: Vec<Option<T>>,
    /// Where `try_join_all` was called (see `JoinAll::location`).
    location: &'static Location<'static>,
}

impl<F: Future, T> fmt::Debug for TryJoinAll<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryJoinAll")
            .field("pending", &self.set.len())
            .finish()
    }
}

impl<F: Future, T> Unpin for TryJoinAll<F, T> {}

impl<F: Future, T> Drop for TryJoinAll<F, T> {
    fn drop(&mut self) {
        // As `JoinAll`'s drop.
        for payload in drop_each_catching(self.outputs.drain(..)) {
            corio_executor::task::report_unobserved_panic(payload, None, self.location);
        }
    }
}

impl<F, T, E> Future for TryJoinAll<F, T>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        while let Poll::Ready(Some((index, output))) = this.set.poll_next(cx) {
            match output {
                Ok(v) => this.outputs[index] = Some(v),
                Err(e) => {
                    // Fail fast: cancel everything still running before reporting.
                    this.set.clear();
                    // The outputs gathered so far, each under `catch_unwind`: the first panic
                    // of their destructors resumes here, the others are reported.
                    let mut panics = drop_each_catching(this.outputs.drain(..)).into_iter();
                    if let Some(first) = panics.next() {
                        for payload in panics {
                            corio_executor::task::report_unobserved_panic(
                                payload,
                                None,
                                this.location,
                            );
                        }
                        std::panic::resume_unwind(first);
                    }
                    return Poll::Ready(Err(e));
                }
            }
        }
        if !this.set.is_empty() {
            return Poll::Pending;
        }
        let outputs = std::mem::take(&mut this.outputs);
        Poll::Ready(Ok(outputs
            .into_iter()
            .map(|o| o.expect("every future completed"))
            .collect()))
    }
}

/// Runs two futures at once and returns the output of whichever finishes first. The loser is
/// dropped (cancelled) before `race` returns. `a` is polled first, so if both are ready, `a`
/// wins.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let winner = corio_executor::run_local(corio_scope::race(
///     async { corio_timer::sleep(Duration::from_millis(50)).await; "slow" },
///     async { corio_timer::sleep(Duration::from_millis(1)).await; "fast" },
/// ));
/// assert_eq!(winner, "fast");
/// ```
#[track_caller]
pub fn race<A, B>(a: A, b: B) -> Race<A, B>
where
    A: Future,
    B: Future<Output = A::Output>,
{
    Race {
        a: Some(a),
        b: Some(b),
        location: Location::caller(),
    }
}

pin_project! {
    /// The future returned by [`race`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_scope::Race;
    /// use std::future::{Pending, Ready};
    ///
    /// let r: Race<Ready<&str>, Pending<&str>> =
    ///     corio_scope::race(std::future::ready("first"), std::future::pending());
    /// assert_eq!(corio_executor::run_local(r), "first");
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct Race<A, B> {
        #[pin]
        a: Option<A>,
        #[pin]
        b: Option<B>,
        // Where `race` was called: the location of a report of a destructor's panic.
        location: &'static Location<'static>,
    }

    impl<A, B> PinnedDrop for Race<A, B> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped with a future left (cancelled, or a destructor panicked on the win path):
            // each goes under `catch_unwind`, or two that panic in their destructors aborted the
            // process (a review found it). Nobody awaits a dropped race: every panic is reported.
            let this = this.project();
            if this.a.is_none() && this.b.is_none() {
                return;
            }
            for payload in drop_both(this.a, this.b) {
                corio_executor::task::report_unobserved_panic(payload, None, this.location);
            }
        }
    }
}

/// Drops both of a race's futures in place, each under `catch_unwind`; returns the panics.
fn drop_both<A, B>(
    mut a: Pin<&mut Option<A>>,
    mut b: Pin<&mut Option<B>>,
) -> Vec<Box<dyn std::any::Any + Send>> {
    let first = catch_unwind(AssertUnwindSafe(|| a.set(None))).err();
    let second = catch_unwind(AssertUnwindSafe(|| b.set(None))).err();
    first.into_iter().chain(second).collect()
}

impl<A, B> Future for Race<A, B>
where
    A: Future,
    B: Future<Output = A::Output>,
{
    type Output = A::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<A::Output> {
        let mut this = self.project();
        let won = match this.a.as_mut().as_pin_mut().map(|a| a.poll(cx)) {
            Some(Poll::Ready(v)) => Some(v),
            _ => match this.b.as_mut().as_pin_mut().map(|b| b.poll(cx)) {
                Some(Poll::Ready(v)) => Some(v),
                _ => None,
            },
        };
        match won {
            Some(v) => {
                // Drop both in place now: the loser is cancelled before we return. A destructor's
                // panic unwinds from here as a lone one does (no `catch_unwind` on this path: two
                // per race cost it ~13 ns, a review measured); the output is then dropped by the
                // unwinding under `catch_unwind` (`DropCatching`), and a future still left goes
                // in the race's own drop, under `catch_unwind` too.
                let v = crate::select::DropCatching::at(v, this.location);
                this.a.set(None);
                this.b.set(None);
                Poll::Ready(v.into_inner())
            }
            None => Poll::Pending,
        }
    }
}

pin_project! {
    /// A future, then its output: the building block of [`join!`](crate::join).
    #[doc(hidden)]
    #[project = MaybeDoneProj]
    #[project_replace = MaybeDoneReplace]
    pub enum MaybeDone<F: Future> {
        Future { #[pin] future: F },
        Done { output: F::Output },
        Gone,
    }
}

#[doc(hidden)]
impl<F: Future> MaybeDone<F> {
    pub fn new(future: F) -> MaybeDone<F> {
        MaybeDone::Future { future }
    }

    /// Polls the future if it is still running; returns whether the output is there.
    pub fn poll_done(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let output = match self.as_mut().project() {
            MaybeDoneProj::Future { future } => match future.poll(cx) {
                Poll::Ready(output) => output,
                Poll::Pending => return false,
            },
            MaybeDoneProj::Done { .. } => return true,
            MaybeDoneProj::Gone => return true,
        };
        self.project_replace(MaybeDone::Done { output });
        true
    }

    /// Takes the output out. Panics if there is none (a bug in the macro).
    pub fn take_output(self: Pin<&mut Self>) -> F::Output {
        match self.project_replace(MaybeDone::Gone) {
            MaybeDoneReplace::Done { output } => output,
            _ => panic!("join!: output taken twice or before completion"),
        }
    }
}

#[doc(hidden)]
impl<T, E, F: Future<Output = Result<T, E>>> MaybeDone<F> {
    /// Polls; returns `Err` at once if the future failed, `Ok(done)` otherwise.
    pub fn poll_try(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Result<bool, E> {
        if !self.as_mut().poll_done(cx) {
            return Ok(false);
        }
        if let MaybeDoneProj::Done { output: Err(_) } = self.as_mut().project() {
            if let MaybeDoneReplace::Done { output: Err(e) } = self.project_replace(MaybeDone::Gone)
            {
                return Err(e);
            }
        }
        Ok(true)
    }

    /// Takes the success value out.
    pub fn take_ok(self: Pin<&mut Self>) -> T {
        match self.take_output() {
            Ok(v) => v,
            Err(_) => panic!("try_join!: an error was not returned"),
        }
    }
}

/// Waits for several futures of different types at once and returns their outputs as a tuple.
/// Must be used inside an `async` context (it awaits). From 1 to 16 futures; more, or none, is
/// a compile error that says so (an `async` block that joins more counts as one).
///
/// # Examples
///
/// ```
/// corio_executor::run_local(async {
///     let (a, b, c) = corio_scope::join!(async { 1 }, async { "two" }, async { 3.0 });
///     assert_eq!((a, b, c), (1, "two", 3.0));
/// });
/// ```
///
/// ```compile_fail
/// corio_executor::run_local(async {
///     let _ = corio_scope::join!();
/// });
/// ```
///
/// ```compile_fail
/// corio_executor::run_local(async {
///     let _ = corio_scope::join!(
///         async { 1 }, async { 2 }, async { 3 }, async { 4 }, async { 5 }, async { 6 },
///         async { 7 }, async { 8 }, async { 9 }, async { 10 }, async { 11 }, async { 12 },
///         async { 13 }, async { 14 }, async { 15 }, async { 16 }, async { 17 },
///     );
/// });
/// ```
#[macro_export]
macro_rules! join {
    () => {
        ::core::compile_error!("corio::join! needs at least one future")
    };
    ($($fut:expr),+ $(,)?) => {
        $crate::__join_impl!(@zip join [] [$($fut,)+]
            [__corio_a __corio_b __corio_c __corio_d __corio_e __corio_f __corio_g __corio_h
             __corio_i __corio_j __corio_k __corio_l __corio_m __corio_n __corio_o __corio_p])
    };
}

/// Like [`join!`](crate::join) for futures that return `Result<_, E>` (the same `E`): returns
/// `Ok` of the tuple of values, or the first error, after dropping the other futures.
///
/// # Examples
///
/// ```
/// corio_executor::run_local(async {
///     let ok: Result<(u8, &str), String> = corio_scope::try_join!(async { Ok(1) }, async { Ok("x") });
///     assert_eq!(ok, Ok((1, "x")));
///     let err: Result<(u8, ()), String> =
///         corio_scope::try_join!(async { Ok(1) }, async { Err("nope".to_string()) });
///     assert_eq!(err, Err("nope".to_string()));
/// });
/// ```
#[macro_export]
macro_rules! try_join {
    () => {
        ::core::compile_error!("corio::try_join! needs at least one future")
    };
    ($($fut:expr),+ $(,)?) => {
        $crate::__join_impl!(@zip try_join [] [$($fut,)+]
            [__corio_a __corio_b __corio_c __corio_d __corio_e __corio_f __corio_g __corio_h
             __corio_i __corio_j __corio_k __corio_l __corio_m __corio_n __corio_o __corio_p])
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __join_impl {
    (@zip $kind:ident [$($done:tt)*] [] [$($unused:ident)*]) => {
        $crate::__join_impl!(@$kind $($done)*)
    };
    (@zip $kind:ident [$($done:tt)*] [$fut:expr, $($futs:expr,)*] [$name:ident $($names:ident)*]) => {
        $crate::__join_impl!(@zip $kind [$($done)* ($name $fut)] [$($futs,)*] [$($names)*])
    };
    (@zip $kind:ident [$($done:tt)*] [$fut:expr, $($futs:expr,)*] []) => {
        ::core::compile_error!(::core::concat!(
            "corio::", ::core::stringify!($kind), "! takes at most 16 futures; an `async` block that joins more counts as one"
        ))
    };
    (@join $(($name:ident $fut:expr))*) => {{
        $(
            let mut $name = ::core::pin::pin!($crate::__private::DropCatching::new(
                $crate::__private::MaybeDone::new($fut),
            ));
        )*
        ::core::future::poll_fn(|cx| {
            let mut all_done = true;
            $( all_done &= $name.as_mut().pinned().poll_done(cx); )*
            if all_done {
                ::core::task::Poll::Ready(( $( $name.as_mut().pinned().take_output(), )* ))
            } else {
                ::core::task::Poll::Pending
            }
        })
        .await
    }};
    (@try_join $(($name:ident $fut:expr))*) => {{
        $(
            let mut $name = ::core::pin::pin!($crate::__private::DropCatching::new(
                $crate::__private::MaybeDone::new($fut),
            ));
        )*
        ::core::future::poll_fn(|cx| {
            let mut all_done = true;
            $(
                match $name.as_mut().pinned().poll_try(cx) {
                    ::core::result::Result::Ok(done) => all_done &= done,
                    ::core::result::Result::Err(e) => {
                        return ::core::task::Poll::Ready(::core::result::Result::Err(e));
                    }
                }
            )*
            if all_done {
                ::core::task::Poll::Ready(::core::result::Result::Ok(( $( $name.as_mut().pinned().take_ok(), )* )))
            } else {
                ::core::task::Poll::Pending
            }
        })
        .await
    }};
}
