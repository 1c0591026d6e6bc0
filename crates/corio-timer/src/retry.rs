//! Retry with exponential backoff: [`Backoff`], [`retry`] and [`retry_if`].
//!
//! # Invariants
//!
//! - **Attempts are counted, first call included.** With `max_attempts(n)` the operation is
//!   called at most `n` times (`n = 0` counts as 1), and there are at most `n - 1` waits.
//! - **The result is the value or the last error.** An error from an attempt is either returned
//!   (no attempt left, or the predicate of [`retry_if`] rejects it) or dropped before the wait
//!   that precedes the next attempt; errors are never accumulated.
//! - **Waits are this crate's [`sleep`]s**, created when the attempt fails, on the current
//!   runtime's clock. So they run on virtual time in deterministic mode, and dropping the
//!   [`Retry`] future (a `timeout`, a cancel scope or a token around it) cancels at once, mid-wait
//!   included: the timer entry is removed and the operation is not called again.
//! - **A zero wait touches neither the timer nor the random source.** When the nominal wait is
//!   zero (a zero base, or a zero `max_delay`), or jitter draws zero, no [`Sleep`] is created and
//!   the next attempt starts in the same poll; a zero nominal wait draws no random number (so it
//!   does not advance a seeded stream either). Not even a zero-length sleep, which would read
//!   the clock and look up the current timer only to find the deadline already due (and, on
//!   some runtimes, tokio's among them, a zero sleep waits for the next timer tick).
//! - **Retries spend no allocation.** The state (the attempt's future, or the wait) lives inline
//!   in the [`Retry`] future; only a non-zero wait registers a timer entry.
//! - **Delays never overflow and never shrink.** The nominal wait before retry `k` (`k = 1` after
//!   the first failure) is `base × factor^(k-1)`, capped at `max_delay`, computed with saturating
//!   arithmetic; a factor below 1 (or NaN) is taken as 1, so the sequence never decreases.
//! - **Full jitter**: with jitter on, each wait is drawn uniformly from `[0, nominal]`; the
//!   nominal sequence itself does not depend on the draws.
//! - **A retry loop yields.** Each new attempt after the first spends one unit of the
//!   cooperative budget (`corio-coop`), the same unit a socket read or a channel receive spends.
//!   This is the fairness of a zero-delay retry: while the task has budget left it retries at once
//!   (no syscall, no timer, no reschedule), and once the budget is spent the retry wakes its task
//!   and returns `Pending`, so the task goes to the back of the run queue like any task that used
//!   up its budget. An always-ready, always-failing operation retried with a zero delay therefore
//!   still lets other tasks, I/O and timers run, and a `timeout` around it can fire. A yield per
//!   attempt would be fairer still but would make every zero-delay retry a trip through the
//!   scheduler; outside a runtime (no budget) nothing yields.
//!
//! # Randomness
//!
//! Jitter needs random numbers, and deterministic tests need them to replay under a seed. The
//! runtime's seeded stream lives in `corio-executor`, which this crate must not depend on, so the
//! source is injected: [`set_random_source`] installs a process-wide `fn() -> u64` (the `corio`
//! facade installs `corio_executor::random_u64` when it builds a runtime, which draws from the
//! seeded runtime's own stream in deterministic mode), and [`Backoff::random_source`] overrides
//! it for one backoff. Without either, a per-thread generator seeded from the OS is used.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::sleep::{Sleep, sleep};

/// How [`retry`] and [`retry_if`] space their attempts: exponential backoff with a cap, a limit
/// on attempts, and optional full jitter.
///
/// # Defaults
///
/// | setting | default | meaning |
/// |---|---|---|
/// | [`factor`](Backoff::factor) | [`2.0`](Backoff::DEFAULT_FACTOR) | each nominal wait is the previous one times this |
/// | [`max_delay`](Backoff::max_delay) | [`30 s`](Backoff::DEFAULT_MAX_DELAY) | the cap on a nominal wait |
/// | [`max_attempts`](Backoff::max_attempts) | [`5`](Backoff::DEFAULT_MAX_ATTEMPTS) | calls in all, the first included |
/// | [`jitter`](Backoff::jitter) | [`true`](Backoff::DEFAULT_JITTER) | each wait drawn uniformly from `[0, nominal]` |
///
/// Jitter is on by default because the usual reason to retry is an overloaded or flapping
/// service, and clients that back off in lockstep hit it again in lockstep ("full jitter", as
/// Python's `backoff` does by default). Turn it off for exact, predictable waits.
///
/// So `Backoff::exponential(Duration::from_millis(100))` makes up to 5 calls, with nominal waits
/// of 100, 200, 400 and 800 ms between them (each jittered down to a random fraction).
///
/// # Bad input
///
/// - `max_attempts(0)` means one attempt (no retry), the same as `max_attempts(1)`.
/// - A `factor` below `1.0`, or NaN, is taken as `1.0` (constant waits); `f64::INFINITY` jumps
///   to `max_delay` after the first wait.
/// - Huge durations (`Duration::MAX` as base or cap) saturate; nothing overflows or panics. A
///   wait too long for the clock to represent never ends (like [`sleep`]`(Duration::MAX)`), so
///   bound such a retry with a timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_timer::Backoff;
///
/// let backoff = Backoff::exponential(Duration::from_millis(10))
///     .factor(3.0)
///     .max_delay(Duration::from_millis(50))
///     .max_attempts(4)
///     .jitter(false);
/// assert_eq!(
///     backoff.nominal_delays().collect::<Vec<_>>(),
///     [10, 30, 50].map(Duration::from_millis),
/// );
/// ```
#[derive(Clone, Copy)]
pub struct Backoff {
    base: Duration,
    factor: f64,
    max_delay: Duration,
    max_attempts: u32,
    jitter: bool,
    random: Option<fn() -> u64>,
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("base", &self.base)
            .field("factor", &self.factor)
            .field("max_delay", &self.max_delay)
            .field("max_attempts", &self.max_attempts)
            .field("jitter", &self.jitter)
            .finish_non_exhaustive()
    }
}

impl Backoff {
    /// The default [`factor`](Backoff::factor): 2.0.
    pub const DEFAULT_FACTOR: f64 = 2.0;
    /// The default [`max_delay`](Backoff::max_delay): 30 seconds.
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
    /// The default [`max_attempts`](Backoff::max_attempts): 5 calls in all.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
    /// The default of [`jitter`](Backoff::jitter): on.
    pub const DEFAULT_JITTER: bool = true;

    /// Exponential backoff whose first wait is `base`, with the [defaults](Backoff#defaults) for
    /// everything else.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let b = corio_timer::Backoff::exponential(Duration::from_millis(100)).jitter(false);
    /// let waits: Vec<_> = b.nominal_delays().collect();
    /// assert_eq!(waits, [100, 200, 400, 800].map(Duration::from_millis));
    /// ```
    #[inline]
    pub fn exponential(base: Duration) -> Backoff {
        Backoff {
            base,
            factor: Backoff::DEFAULT_FACTOR,
            max_delay: Backoff::DEFAULT_MAX_DELAY,
            max_attempts: Backoff::DEFAULT_MAX_ATTEMPTS,
            jitter: Backoff::DEFAULT_JITTER,
            random: None,
        }
    }

    /// Each nominal wait is the previous one times `factor` (default 2.0). Below 1.0, or NaN, it
    /// is taken as 1.0.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let b = corio_timer::Backoff::exponential(Duration::from_secs(1)).factor(0.5).max_attempts(3);
    /// let waits: Vec<_> = b.nominal_delays().collect();
    /// assert_eq!(waits, [Duration::from_secs(1); 2]); // clamped to 1.0: constant waits
    /// ```
    #[inline]
    pub fn factor(mut self, factor: f64) -> Backoff {
        // `max` returns the other operand when one is NaN.
        self.factor = factor.max(1.0);
        self
    }

    /// The longest nominal wait (default 30 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let b = corio_timer::Backoff::exponential(Duration::from_secs(1))
    ///     .max_delay(Duration::from_secs(3))
    ///     .max_attempts(5);
    /// let waits: Vec<_> = b.nominal_delays().map(|d| d.as_secs()).collect();
    /// assert_eq!(waits, [1, 2, 3, 3]);
    /// ```
    #[inline]
    pub fn max_delay(mut self, max_delay: Duration) -> Backoff {
        self.max_delay = max_delay;
        self
    }

    /// How many times the operation may be called in all, the first call included (default 5).
    /// Zero means one call.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let b = corio_timer::Backoff::exponential(Duration::ZERO);
    /// assert_eq!(b.max_attempts(3).nominal_delays().count(), 2);
    /// assert_eq!(b.max_attempts(0).nominal_delays().count(), 0); // one attempt, no wait
    /// ```
    #[inline]
    pub fn max_attempts(mut self, max_attempts: u32) -> Backoff {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Full jitter (default on): each wait is drawn uniformly from `[0, nominal]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let exact = corio_timer::Backoff::exponential(Duration::from_millis(5)).jitter(false);
    /// # let _ = exact;
    /// ```
    #[inline]
    pub fn jitter(mut self, jitter: bool) -> Backoff {
        self.jitter = jitter;
        self
    }

    /// Draws this backoff's jitter from `source` instead of the process-wide one (see
    /// [`set_random_source`]). Each call must return a uniformly distributed `u64`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // A source that always returns the top of the range: jittered waits equal nominal ones.
    /// let b = corio_timer::Backoff::exponential(Duration::from_millis(5)).random_source(|| u64::MAX);
    /// # let _ = b;
    /// ```
    #[inline]
    pub fn random_source(mut self, source: fn() -> u64) -> Backoff {
        self.random = Some(source);
        self
    }

    /// The nominal waits between attempts, before jitter: `max_attempts - 1` of them.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let b = corio_timer::Backoff::exponential(Duration::MAX).max_delay(Duration::MAX).max_attempts(3);
    /// assert!(b.nominal_delays().all(|d| d == Duration::MAX)); // saturates, never overflows
    /// ```
    pub fn nominal_delays(&self) -> impl Iterator<Item = Duration> + use<> {
        let backoff = *self;
        let mut next = self.first_delay();
        (1..self.max_attempts).map(move |_| {
            let d = next;
            next = backoff.grow(next);
            d
        })
    }

    #[inline]
    fn first_delay(&self) -> Duration {
        self.base.min(self.max_delay)
    }

    /// The nominal wait after `previous`.
    fn grow(&self, previous: Duration) -> Duration {
        if previous.is_zero() || self.factor == 1.0 {
            return previous.min(self.max_delay);
        }
        let next = if self.factor.fract() == 0.0 && self.factor <= f64::from(u32::MAX) {
            // Integral factors (the common 2.0) stay exact, to the nanosecond.
            previous.saturating_mul(self.factor as u32)
        } else {
            Duration::try_from_secs_f64(previous.as_secs_f64() * self.factor)
                .unwrap_or(Duration::MAX)
        };
        next.min(self.max_delay)
    }

    /// The actual wait for a nominal one: itself, or a uniform draw from `[0, nominal]`.
    fn draw(&self, nominal: Duration) -> Duration {
        if !self.jitter || nominal.is_zero() {
            return nominal;
        }
        let r = self.random.map_or_else(random_u64, |f| f());
        let nanos = nominal.as_nanos();
        if nanos < u128::from(u64::MAX) {
            // Multiply-shift: uniform over 0..=nanos without division or bias worth mentioning.
            let drawn = (u128::from(r) * (nanos + 1)) >> 64;
            Duration::from_nanos(drawn as u64)
        } else {
            // Past 584 years of nanoseconds: floating point, which may round up past `nominal`
            // (or past what a `Duration` holds), hence the clamp.
            let fraction = r as f64 / (u64::MAX as f64 + 1.0);
            Duration::try_from_secs_f64(nominal.as_secs_f64() * fraction)
                .map_or(nominal, |d| d.min(nominal))
        }
    }
}

/// Installs the process-wide source of random numbers for jitter. The first call wins; later
/// calls return `false` and change nothing.
///
/// `corio` installs its runtime's generator (`corio_executor::random_u64`: seeded in
/// deterministic mode, so a seed replays the same waits) whenever it builds a runtime; call this
/// only when you use this crate without the facade. [`Backoff::random_source`] overrides it per
/// backoff.
///
/// # Examples
///
/// ```
/// fn my_random() -> u64 { 4 } // chosen by fair dice roll
/// let installed = corio_timer::set_random_source(my_random);
/// # let _ = installed;
/// ```
pub fn set_random_source(source: fn() -> u64) -> bool {
    RANDOM_SOURCE.set(source).is_ok()
}

static RANDOM_SOURCE: OnceLock<fn() -> u64> = OnceLock::new();

fn random_u64() -> u64 {
    match RANDOM_SOURCE.get() {
        Some(source) => source(),
        None => thread_random(),
    }
}

/// SplitMix64 on a per-thread state seeded from the OS (through `RandomState`) and the thread.
fn thread_random() -> u64 {
    fn seed() -> u64 {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(std::thread::current().id())
    }
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    let step = |state: u64| {
        let next = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (next, z ^ (z >> 31))
    };
    STATE
        .try_with(|s| {
            let (next, value) = step(s.get());
            s.set(next);
            value
        })
        .unwrap_or_else(|_| step(seed()).1)
}

/// Calls `op` until its future returns `Ok`, waiting between attempts as `backoff` says; returns
/// the value, or the last error once `max_attempts` calls have failed.
///
/// `op` makes a fresh future per attempt. The waits are [`sleep`]s on the current runtime's
/// clock, so a timeout or cancel scope around the retry cancels it at once, even mid-wait.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_timer::{Backoff, retry};
///
/// # futures_lite::future::block_on(async {
/// let mut calls = 0;
/// let result: Result<u32, &str> = retry(
///     Backoff::exponential(Duration::from_millis(1)).max_attempts(4),
///     || {
///         calls += 1;
///         let n = calls;
///         async move { if n < 3 { Err("flaky") } else { Ok(n) } }
///     },
/// )
/// .await;
/// assert_eq!(result, Ok(3));
///
/// let always: Result<(), String> =
///     retry(Backoff::exponential(Duration::ZERO).max_attempts(3), || async { Err("no".to_owned()) }).await;
/// assert_eq!(always.unwrap_err(), "no");
/// # });
/// ```
pub fn retry<T, E, F, Fut>(backoff: Backoff, op: F) -> Retry<F, Fut, fn(&E) -> bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let always: fn(&E) -> bool = |_| true;
    retry_if(backoff, op, always)
}

/// Like [`retry`], but stops at once, returning the error, when `should_retry` rejects it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_timer::{Backoff, retry_if};
///
/// #[derive(Debug, PartialEq)]
/// enum Error { Busy, NotFound }
///
/// # futures_lite::future::block_on(async {
/// let mut calls = 0;
/// let result: Result<(), Error> = retry_if(
///     Backoff::exponential(Duration::from_millis(1)),
///     || {
///         calls += 1;
///         let n = calls;
///         async move { if n == 1 { Err(Error::Busy) } else { Err(Error::NotFound) } }
///     },
///     |e: &Error| *e == Error::Busy,
/// )
/// .await;
/// assert_eq!(result, Err(Error::NotFound));
/// assert_eq!(calls, 2); // NotFound is not worth retrying
/// # });
/// ```
pub fn retry_if<T, E, F, Fut, P>(backoff: Backoff, op: F, should_retry: P) -> Retry<F, Fut, P>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: FnMut(&E) -> bool,
{
    Retry {
        op,
        should_retry,
        backoff,
        attempts: 0,
        next_delay: backoff.first_delay(),
        state: State::Start,
    }
}

pin_project! {
    /// The future returned by [`retry`] and [`retry_if`].
    ///
    /// Dropping it cancels the retry: the attempt in flight is dropped, or the wait's timer entry
    /// is removed, and the operation is not called again.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Retry<F, Fut, P> {
        op: F,
        should_retry: P,
        backoff: Backoff,
        // Calls made so far.
        attempts: u32,
        // The nominal wait after the next failure.
        next_delay: Duration,
        #[pin]
        state: State<Fut>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Fut> {
        Start,
        Attempt { #[pin] fut: Fut },
        Wait { sleep: Sleep },
        Done,
    }
}

impl<F, Fut, P> fmt::Debug for Retry<F, Fut, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("backoff", &self.backoff)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl<T, E, F, Fut, P> Future for Retry<F, Fut, P>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: FnMut(&E) -> bool,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Start => {
                    if *this.attempts > 0 {
                        ready!(corio_coop::poll_proceed(cx));
                    }
                    *this.attempts += 1;
                    let fut = (this.op)();
                    this.state.set(State::Attempt { fut });
                }
                StateProj::Attempt { fut } => {
                    let error = match ready!(fut.poll(cx)) {
                        Ok(value) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(value));
                        }
                        Err(error) => error,
                    };
                    if *this.attempts >= this.backoff.max_attempts || !(this.should_retry)(&error) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(error));
                    }
                    drop(error);
                    let nominal = *this.next_delay;
                    // A zero nominal wait stays zero (`grow` keeps it, `draw` returns it), so the
                    // common "retry at once" case skips both, and never draws a random number.
                    if !nominal.is_zero() {
                        *this.next_delay = this.backoff.grow(nominal);
                        let wait = this.backoff.draw(nominal);
                        if !wait.is_zero() {
                            this.state.set(State::Wait { sleep: sleep(wait) });
                            continue;
                        }
                    }
                    // No wait: no timer entry at all. The next attempt spends a unit of the
                    // cooperative budget instead (in `Start`), which is what keeps a zero-delay
                    // retry loop fair.
                    this.state.set(State::Start);
                }
                StateProj::Wait { sleep } => {
                    ready!(Pin::new(sleep).poll(cx));
                    this.state.set(State::Start);
                }
                StateProj::Done => panic!("`Retry` polled after it completed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nominal_delays_grow_and_cap() {
        let b = Backoff::exponential(ms(100)).jitter(false);
        assert_eq!(
            b.nominal_delays().collect::<Vec<_>>(),
            [100, 200, 400, 800].map(ms)
        );
        let b = b.max_attempts(8).max_delay(ms(500));
        assert_eq!(
            b.nominal_delays().collect::<Vec<_>>(),
            [100, 200, 400, 500, 500, 500, 500].map(ms)
        );
        // A base above the cap starts at the cap.
        let b = Backoff::exponential(ms(900))
            .max_delay(ms(500))
            .max_attempts(3);
        assert_eq!(b.nominal_delays().collect::<Vec<_>>(), [500, 500].map(ms));
        // Non-integral factors.
        let b = Backoff::exponential(ms(100)).factor(1.5).max_attempts(4);
        assert_eq!(
            b.nominal_delays().collect::<Vec<_>>(),
            [100, 150, 225].map(ms)
        );
    }

    #[test]
    fn defaults_are_as_documented() {
        let b = Backoff::exponential(Duration::from_secs(1));
        assert_eq!(b.factor, 2.0);
        assert_eq!(b.max_delay, Duration::from_secs(30));
        assert_eq!(b.max_attempts, 5);
        assert!(b.jitter);
        assert_eq!(
            b.nominal_delays().collect::<Vec<_>>(),
            [1, 2, 4, 8].map(Duration::from_secs)
        );
    }

    #[test]
    fn bad_input_is_clamped_or_saturates() {
        let zero = Backoff::exponential(ms(1)).max_attempts(0);
        assert_eq!(zero.max_attempts, 1);
        assert_eq!(zero.nominal_delays().count(), 0);
        for f in [0.5, 0.0, -3.0, f64::NAN, f64::NEG_INFINITY] {
            let b = Backoff::exponential(ms(7)).factor(f).max_attempts(4);
            assert_eq!(b.factor, 1.0, "factor {f}");
            assert_eq!(b.nominal_delays().collect::<Vec<_>>(), [ms(7); 3]);
        }
        let inf = Backoff::exponential(ms(7))
            .factor(f64::INFINITY)
            .max_attempts(4);
        assert_eq!(
            inf.nominal_delays().collect::<Vec<_>>(),
            [
                ms(7),
                Backoff::DEFAULT_MAX_DELAY,
                Backoff::DEFAULT_MAX_DELAY
            ]
        );
        // Zero base stays zero whatever the factor (0 × ∞ must not become the cap).
        let z = Backoff::exponential(Duration::ZERO)
            .factor(f64::INFINITY)
            .max_attempts(3);
        assert!(z.nominal_delays().all(|d| d.is_zero()));
        let huge = Backoff::exponential(Duration::MAX)
            .max_delay(Duration::MAX)
            .factor(3.7)
            .max_attempts(40);
        assert!(huge.nominal_delays().all(|d| d == Duration::MAX));
        let grow = Backoff::exponential(Duration::from_secs(u64::MAX / 2))
            .max_delay(Duration::MAX)
            .max_attempts(5);
        assert_eq!(grow.nominal_delays().last(), Some(Duration::MAX));
        // u32::MAX attempts: the iterator is lazy, and capped waits stay capped.
        let many = Backoff::exponential(ms(1))
            .max_attempts(u32::MAX)
            .max_delay(ms(8));
        assert_eq!(many.nominal_delays().nth(1000), Some(ms(8)));
    }

    #[test]
    fn jitter_stays_in_range_and_uses_the_source() {
        let b = Backoff::exponential(ms(100)).random_source(|| u64::MAX);
        assert_eq!(b.draw(ms(100)), ms(100));
        let b = b.random_source(|| 0);
        assert_eq!(b.draw(ms(100)), Duration::ZERO);
        let b = b.random_source(|| 1 << 63);
        assert_eq!(b.draw(ms(100)), ms(50));
        let b = Backoff::exponential(ms(100));
        for _ in 0..1000 {
            assert!(b.draw(ms(100)) <= ms(100));
        }
        // Huge waits take the floating-point path and stay in range.
        assert!(b.draw(Duration::MAX) <= Duration::MAX);
        let top = b.random_source(|| u64::MAX).draw(Duration::MAX);
        assert!(top > Duration::MAX / 2);
        assert_eq!(b.jitter(false).draw(ms(3)), ms(3));
    }

    #[test]
    fn thread_random_values_differ() {
        let a: Vec<u64> = (0..8).map(|_| thread_random()).collect();
        let mut sorted = a.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), a.len());
    }

    #[test]
    fn counts_attempts_and_returns_the_last_error() {
        let calls = AtomicU32::new(0);
        let out: Result<(), u32> = futures_lite::future::block_on(retry(
            Backoff::exponential(Duration::ZERO).max_attempts(4),
            || {
                let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
                async move { Err(n) }
            },
        ));
        assert_eq!(out, Err(4));
        assert_eq!(calls.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn predicate_stops_at_once() {
        let calls = AtomicU32::new(0);
        let mut seen = Vec::new();
        let out: Result<(), u32> = futures_lite::future::block_on(retry_if(
            Backoff::exponential(Duration::ZERO).max_attempts(10),
            || {
                let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
                async move { Err(n) }
            },
            |e: &u32| {
                seen.push(*e);
                *e < 3
            },
        ));
        assert_eq!(out, Err(3));
        assert_eq!(seen, [1, 2, 3]);
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }

    /// An attempt's future that returns `Pending` once before `result`, so that the timer can be
    /// inspected between polls.
    fn pending_once_then(result: Result<u32, u32>) -> impl Future<Output = Result<u32, u32>> {
        let mut polled = false;
        std::future::poll_fn(move |cx| {
            if polled {
                Poll::Ready(result)
            } else {
                polled = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }

    #[test]
    fn a_zero_wait_registers_no_timer_and_draws_no_random_number() {
        static DRAWS: AtomicU32 = AtomicU32::new(0);
        fn counting() -> u64 {
            DRAWS.fetch_add(1, Ordering::Relaxed);
            u64::MAX
        }
        let driver = crate::TimerDriver::new(crate::Clock::new_paused(false));
        let timer = driver.timer();
        let _guard = timer.enter();
        // Jitter on (the default), but the nominal waits are all zero: a zero base, and a
        // non-zero base capped at zero.
        for backoff in [
            Backoff::exponential(Duration::ZERO),
            Backoff::exponential(ms(5)).max_delay(Duration::ZERO),
        ] {
            let mut calls = 0;
            let mut fut = Box::pin(retry(
                backoff.max_attempts(4).random_source(counting),
                || {
                    calls += 1;
                    pending_once_then(if calls < 4 { Err(calls) } else { Ok(calls) })
                },
            ));
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let mut polls = 0;
            let out = loop {
                if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                    break out;
                }
                polls += 1;
                assert_eq!(timer.pending(), 0, "a zero wait registered a timer");
                assert!(polls < 100);
            };
            assert_eq!(out, Ok(4));
            assert_eq!(polls, 4, "one Pending per attempt, none for the waits");
        }
        assert_eq!(
            DRAWS.load(Ordering::Relaxed),
            0,
            "a zero wait drew a random number"
        );
    }

    #[test]
    fn a_non_zero_wait_registers_a_timer_and_draws() {
        static DRAWS: AtomicU32 = AtomicU32::new(0);
        fn counting() -> u64 {
            DRAWS.fetch_add(1, Ordering::Relaxed);
            u64::MAX // the top of the range: the full nominal wait
        }
        let driver = crate::TimerDriver::new(crate::Clock::new_paused(false));
        let timer = driver.timer();
        let _guard = timer.enter();
        let mut fut = Box::pin(retry(
            Backoff::exponential(ms(5))
                .max_attempts(2)
                .random_source(counting),
            || async { Err::<(), ()>(()) },
        ));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(timer.pending(), 1, "the wait is a timer entry");
        assert_eq!(DRAWS.load(Ordering::Relaxed), 1);
        drop(fut);
        assert_eq!(
            timer.pending(),
            0,
            "dropping the retry mid-wait removes its entry"
        );
    }

    #[test]
    fn zero_delay_retries_yield_to_the_budget() {
        // A budget of 2 lets two new attempts start; the third must wait for the next poll.
        let mut fut = Box::pin(retry(
            Backoff::exponential(Duration::ZERO).max_attempts(100),
            || async { Err::<(), ()>(()) },
        ));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let first = corio_coop::with_budget(2, || fut.as_mut().poll(&mut cx));
        assert!(first.is_pending());
        assert_eq!(fut.attempts, 3);
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Err(())));
        assert_eq!(fut.attempts, 100);
    }
}
