//! `select!`: wait for the first of several futures of different types, run that arm's body.
//!
//! # Invariants
//!
//! 1. Every arm's future expression is evaluated exactly once, in declared order, after every
//!    `if` precondition, before anything is polled. The futures are pinned on the stack of the
//!    awaiting future: a `select!` allocates nothing.
//! 2. A future is polled only while its arm is enabled. An arm is disabled by a false
//!    precondition, or once its future has completed (whether or not its output matched the
//!    arm's pattern). A completed future is never polled again.
//! 3. One poll of the `select!` polls each enabled arm at most once, starting at a random arm
//!    (a per-thread generator; seeded in deterministic mode) unless `biased;` asks for declared
//!    order. The first completed output that matches its arm's pattern wins.
//! 4. Every future, the winner's and the losers', is dropped before the winning body runs. A
//!    `select!` dropped while waiting drops its futures and loses nothing beyond what those
//!    futures themselves lose when dropped. Each sits in a `DropCatching`, as does the winner's
//!    output until its body runs: the first destructor's panic unwinds into the caller as a lone
//!    one would, and what that unwinding drops is dropped under `catch_unwind` and its panic
//!    reported, so two never make a panic during a panic.
//! 5. With every arm disabled, the `else` body runs; without an `else` arm, `select!` panics
//!    with a message that says so (as tokio's does).
//! 6. The bodies run in the caller's context, not in a closure: `return`, `?`, `break`,
//!    `continue` and `.await` in a body behave as they would right where `select!` is written.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The start arm of one poll: random in `0..n` (or 0 when `biased`).
#[doc(hidden)]
#[inline]
pub fn start(n: u32, biased: bool) -> u32 {
    if biased || n <= 1 {
        return 0;
    }
    // Multiply-shift: an unbiased-enough index without a division.
    (((corio_executor::random_u64() >> 32) * u64::from(n)) >> 32) as u32
}

/// How many times, on this thread, a resource held back its completion because the task's
/// cooperative budget was spent (`corio_coop::forced_yields`): a biased `select!` reads it
/// around each arm's poll, to know which arms were ready but refused.
#[doc(hidden)]
#[inline]
pub fn refusals() -> u64 {
    corio_coop::forced_yields()
}

/// The start arm of a biased `select!`'s poll after its previous poll ended with arms ready
/// but refused by the spent budget (`refused`, one bit per arm): one of the refused arms after
/// the first (in declared order), in turn (by the thread's refusal count), or arm 0 if only
/// one arm was refused. In declared order the first refused arm, always ready, would win again
/// on the fresh budget, and a deadline or a cancellation behind it (a new future each round of
/// a loop) was never seen (a review).
#[doc(hidden)]
#[inline]
pub fn restart(refused: u64) -> u32 {
    // Drop the lowest set bit: the arm that declared order favours.
    let later = refused & refused.wrapping_sub(1);
    let count = later.count_ones();
    if count == 0 {
        return 0;
    }
    let mut k = (corio_coop::forced_yields() % u64::from(count)) as u32;
    let mut bits = later;
    while k > 0 {
        bits &= bits - 1;
        k -= 1;
    }
    bits.trailing_zeros()
}

/// The panic of a `select!` whose arms are all disabled and that has no `else` arm.
#[doc(hidden)]
#[cold]
#[track_caller]
pub fn all_disabled() -> ! {
    panic!(
        "corio::select!: every arm is disabled (each future completed without matching its \
         pattern, or its `if` precondition was false) and there is no `else` arm"
    )
}

/// A value pinned on an awaiting future's stack by `select!` (each arm's future) or
/// `join!`/`try_join!` (each future, then its output), or held by value (the output of a
/// `select!` or a `race` while the futures are dropped), dropped in place, and under
/// `catch_unwind` while the thread unwinds, so that two whose destructors panic are not a panic
/// during a panic (an abort: a probe found one, with two losers of a `select!` dropped
/// together). The first such panic unwinds into the caller, as a lone one does; one caught
/// while the thread already unwinds (from an earlier one, or from the body of the task) is
/// reported through the runtime's hook, with the location of the macro's call.
///
/// The value is a `ManuallyDrop` reached through `unsafe` pinning projections, not an `Option`
/// emptied by a safe `Pin::set`, and `catch_unwind` runs only while the thread unwinds:
/// `select_loop` (1 worker, quick scale, callgrind) ran 57.3 M instructions with bare futures,
/// 62.7 M with an `Option` and a `catch_unwind` around every drop, and 60.1 M in this form
/// (about 25 instructions per `select!` of two arms: the unwinding check, and an arm's drop no
/// longer inlined).
#[doc(hidden)]
#[derive(Debug)]
pub struct DropCatching<F> {
    value: std::mem::ManuallyDrop<F>,
    location: &'static std::panic::Location<'static>,
}

impl<F> DropCatching<F> {
    #[doc(hidden)]
    #[inline]
    #[track_caller]
    pub fn new(value: F) -> DropCatching<F> {
        DropCatching {
            value: std::mem::ManuallyDrop::new(value),
            location: std::panic::Location::caller(),
        }
    }

    /// [`new`](Self::new) with the location its reports name.
    pub(crate) fn at(
        value: F,
        location: &'static std::panic::Location<'static>,
    ) -> DropCatching<F> {
        DropCatching {
            value: std::mem::ManuallyDrop::new(value),
            location,
        }
    }

    /// The value, moved out, with no drop of its own: a `DropCatching` held by value was never
    /// pinned (a pinned one is only reachable through its `Pin`).
    #[doc(hidden)]
    #[inline]
    pub fn into_inner(self) -> F {
        let mut this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so `value` is taken exactly once, here, and never
        // used again; taking `self` by value proves it is not pinned, so moving it is allowed.
        #[allow(unsafe_code)]
        unsafe {
            std::mem::ManuallyDrop::take(&mut this.value)
        }
    }

    /// The value, pinned.
    #[doc(hidden)]
    #[inline]
    pub fn pinned(self: Pin<&mut Self>) -> Pin<&mut F> {
        // SAFETY: structural pinning of `value`: it is never moved out of `self` (only dropped
        // in place, by `drop` below), `DropCatching` is `Unpin` only if `F` is (the auto
        // trait, through `ManuallyDrop<F>`), and `drop` does not move it either.
        #[allow(unsafe_code)]
        unsafe {
            self.map_unchecked_mut(|s| &mut *s.value)
        }
    }
}

impl<F> Drop for DropCatching<F> {
    #[inline(always)]
    fn drop(&mut self) {
        if !std::thread::panicking() {
            // The common case, and the first panic: it unwinds from here as a lone one does,
            // and the values dropped by that unwinding take the path below.
            // SAFETY: `value` is dropped exactly once, here, in place (it may be pinned), and
            // never used again: `self` is being dropped. A panic out of its destructor leaves
            // it partly dropped, and `ManuallyDrop` keeps it from being dropped again.
            #[allow(unsafe_code)]
            unsafe {
                std::mem::ManuallyDrop::drop(&mut self.value)
            };
            return;
        }
        self.drop_catching();
    }
}

impl<F> DropCatching<F> {
    /// The rare path of `drop`: the thread already unwinds.
    #[cold]
    #[inline(never)]
    fn drop_catching(&mut self) {
        let value = &mut self.value;
        // SAFETY: as in `drop`.
        #[allow(unsafe_code)]
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
            std::mem::ManuallyDrop::drop(value)
        }));
        if let Err(payload) = dropped {
            corio_executor::task::report_unobserved_panic(
                payload,
                Some("a value dropped by select!, join!, try_join! or race"),
                self.location,
            );
        }
    }
}

impl<F: Future> Future for DropCatching<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.pinned().poll(cx)
    }
}

/// Waits on several futures at once and runs the arm of the first that completes: tokio's
/// `select!`, asyncio's `wait(return_when=FIRST_COMPLETED)` with the rest cancelled.
///
/// ```text
/// select! {
///     [biased;]
///     <pattern> = <future> [, if <precondition>] => <body>,
///     ...
///     [else => <body>]
/// }
/// ```
///
/// - The arms' futures may have different output types; the bodies share one type, which is
///   the value of the whole `select!`. Futures may be anything that is `IntoFuture`.
/// - **Losers are cancelled first.** Every arm's future (the winner's too) has been dropped when
///   the chosen body starts, so a body may reuse what the futures borrowed.
/// - **Fair by default.** Each poll starts at a random arm, so an always-ready arm cannot starve
///   the others. The choice comes from `corio_executor::random_u64`: a cheap per-thread
///   generator, seeded in deterministic mode so that a seed replays the same choices. Write
///   `biased;` first to poll in declared order (cheaper, and predictable).
/// - **Patterns may be refutable.** If an arm's future completes with a value its pattern does
///   not match (`Some(x) = rx.recv()` getting `None`), that value is dropped, the arm is disabled
///   and the others go on.
/// - `, if <precondition>` disables an arm before anything runs; its future expression is still
///   evaluated but never polled.
/// - **`else`** runs when every arm is disabled. Without `else`, that situation panics, as
///   tokio's `select!` does.
/// - Bodies run where `select!` is written: `return`, `?`, `break` and `continue` work there.
/// - Nothing is allocated: the futures are pinned on the awaiting future's stack.
/// - **A losing sleep costs no timer work.** A `corio::sleep` (or `timeout`'s deadline) polled
///   by an arm, with the task's own waker, registers with the timer only if no arm is ready:
///   `select!` then polls those arms a second time before it waits. A due sleep is never held
///   back, so a deadline still wins its turn against an always-ready arm. With `biased;`, an
///   earlier arm that is always ready wins every time, unless it is a corio resource (a queue,
///   a channel, a socket...): those return `Pending` once the task's cooperative budget is spent,
///   and the deadline behind them is then seen: the next poll, on a fresh budget, starts at a
///   later arm that the budget held back too (a due sleep, a cancelled token, a set event; in
///   turn, if there are several), even when the loop makes its futures anew each round.
/// - Up to 32 arms (the arms are parsed by recursion; a very long pattern may need a higher
///   `#![recursion_limit]`).
///
/// Cancel safety is the futures' own: a `select!` in a loop re-creates its futures each time,
/// so a loser that had made progress (a half-read line) loses it. corio's queues, semaphores,
/// channels and timers lose nothing when dropped; for other futures, create them outside the
/// loop and select on `&mut fut`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// corio_executor::block_on(async {
///     let queue = corio_sync::Queue::unbounded();
///     queue.try_put("job").unwrap();
///     let picked = corio_scope::select! {
///         item = queue.get() => format!("got {}", item.unwrap()),
///         () = corio_timer::sleep(Duration::from_secs(5)) => "timed out".to_string(),
///     };
///     assert_eq!(picked, "got job");
/// });
/// ```
///
/// Refutable patterns, preconditions, `biased;` order and an `else` arm:
///
/// ```
/// corio_executor::block_on(async {
///     let mut seen = Vec::new();
///     for round in 0..3 {
///         let v = corio_scope::select! {
///             biased;
///             Ok(v) = async { Err::<u32, ()>(()) }, if round > 0 => v,
///             Some(v) = async { if round == 2 { Some(7) } else { None } } => v,
///             else => 0,
///         };
///         seen.push(v);
///     }
///     assert_eq!(seen, [0, 0, 7]);
/// });
/// ```
#[macro_export]
macro_rules! select {
    () => {
        ::core::compile_error!("corio::select! needs at least one arm: `pattern = future => body`")
    };
    (biased; $($rest:tt)*) => {
        $crate::__select_parse!(@start true $($rest)*)
    };
    ($($rest:tt)*) => {
        $crate::__select_parse!(@start false $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // The names of arm `i`: its index, the local holding its pinned future, and the variant and
    // type parameter of the output enum. The list bounds the number of arms.
    (@start $b:tt $($rest:tt)*) => {
        $crate::__select_parse!(@arms_n $b [] [] [(0 __corio_f0 V0 T0) (1 __corio_f1 V1 T1)
        (2 __corio_f2 V2 T2) (3 __corio_f3 V3 T3) (4 __corio_f4 V4 T4) (5 __corio_f5 V5 T5)
        (6 __corio_f6 V6 T6) (7 __corio_f7 V7 T7) (8 __corio_f8 V8 T8) (9 __corio_f9 V9 T9)
        (10 __corio_f10 V10 T10) (11 __corio_f11 V11 T11) (12 __corio_f12 V12 T12)
        (13 __corio_f13 V13 T13) (14 __corio_f14 V14 T14) (15 __corio_f15 V15 T15)
        (16 __corio_f16 V16 T16) (17 __corio_f17 V17 T17) (18 __corio_f18 V18 T18)
        (19 __corio_f19 V19 T19) (20 __corio_f20 V20 T20) (21 __corio_f21 V21 T21)
        (22 __corio_f22 V22 T22) (23 __corio_f23 V23 T23) (24 __corio_f24 V24 T24)
        (25 __corio_f25 V25 T25) (26 __corio_f26 V26 T26) (27 __corio_f27 V27 T27)
        (28 __corio_f28 V28 T28) (29 __corio_f29 V29 T29) (30 __corio_f30 V30 T30)
        (31 __corio_f31 V31 T31)] $($rest)*)
    };


    // ---- arms: `@arms_n biased [parsed arms] [else body] [unused names] tokens...`
    // All parsed.
    (@arms_n $b:tt [$($arms:tt)*] [$($else:tt)*] [$($names:tt)*]) => {
        $crate::__select_gen!($b [$($arms)*] [$($else)*])
    };
    // A second `else`.
    (@arms_n $b:tt $arms:tt [$($else:tt)+] $names:tt else => $($rest:tt)*) => {
        ::core::compile_error!("corio::select! has more than one `else` arm")
    };
    (@arms_n $b:tt $arms:tt [] $names:tt else => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@arms_n $b $arms [($body)] $names $($rest)*)
    };
    (@arms_n $b:tt $arms:tt [] $names:tt else => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@arms_n $b $arms [($body)] $names $($rest)*)
    };
    (@arms_n $b:tt $arms:tt [] $names:tt else => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@arms_n $b $arms [($body)] $names $($rest)*)
    };
    (@arms_n $b:tt $arms:tt [] $names:tt else => $body:expr) => {
        $crate::__select_parse!(@arms_n $b $arms [($body)] $names)
    };
    // No names left.
    (@arms_n $b:tt $arms:tt $else:tt [] $($rest:tt)+) => {
        ::core::compile_error!("corio::select! supports at most 32 arms")
    };
    // An arm: collect its pattern up to the `=` (patterns of up to three token trees in one step).
    (@arms_n $b:tt $arms:tt $else:tt $names:tt $p1:tt = $($rest:tt)*) => {
        $crate::__select_parse!(@fut $b $arms $else $names [$p1] $($rest)*)
    };
    (@arms_n $b:tt $arms:tt $else:tt $names:tt $p1:tt $p2:tt = $($rest:tt)*) => {
        $crate::__select_parse!(@fut $b $arms $else $names [$p1 $p2] $($rest)*)
    };
    (@arms_n $b:tt $arms:tt $else:tt $names:tt $p1:tt $p2:tt $p3:tt = $($rest:tt)*) => {
        $crate::__select_parse!(@fut $b $arms $else $names [$p1 $p2 $p3] $($rest)*)
    };
    (@arms_n $b:tt $arms:tt $else:tt $names:tt $($rest:tt)+) => {
        $crate::__select_parse!(@pat $b $arms $else $names [] $($rest)+)
    };
    (@pat $b:tt $arms:tt $else:tt $names:tt [$($p:tt)*] = $($rest:tt)*) => {
        $crate::__select_parse!(@fut $b $arms $else $names [$($p)*] $($rest)*)
    };
    (@pat $b:tt $arms:tt $else:tt $names:tt [$($p:tt)*] $t:tt $($rest:tt)*) => {
        $crate::__select_parse!(@pat $b $arms $else $names [$($p)* $t] $($rest)*)
    };
    (@pat $b:tt $arms:tt $else:tt $names:tt [$($p:tt)*]) => {
        ::core::compile_error!(
            "corio::select!: expected arms of the form `pattern = future => body` or `else => body`"
        )
    };
    // The future, an optional precondition, the body.
    (@fut $b:tt [$($arms:tt)*] $else:tt [$name:tt $($names:tt)*] [$($p:tt)*]
        $fut:expr, if $cond:expr => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@arms_n $b [$($arms)* ($name [$($p)*] ($fut) ($cond) ($body))]
            $else [$($names)*] $($rest)*)
    };
    (@fut $b:tt [$($arms:tt)*] $else:tt [$name:tt $($names:tt)*] [$($p:tt)*]
        $fut:expr, if $cond:expr => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@arms_n $b [$($arms)* ($name [$($p)*] ($fut) ($cond) ($body))]
            $else [$($names)*] $($rest)*)
    };
    (@fut $b:tt [$($arms:tt)*] $else:tt [$name:tt $($names:tt)*] [$($p:tt)*]
        $fut:expr, if $cond:expr => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@arms_n $b [$($arms)* ($name [$($p)*] ($fut) ($cond) ($body))]
            $else [$($names)*] $($rest)*)
    };
    (@fut $b:tt [$($arms:tt)*] $else:tt [$name:tt $($names:tt)*] [$($p:tt)*]
        $fut:expr, if $cond:expr => $body:expr) => {
        $crate::__select_parse!(@arms_n $b [$($arms)* ($name [$($p)*] ($fut) ($cond) ($body))]
            $else [$($names)*])
    };
    (@fut $b:tt [$($arms:tt)*] $else:tt [$name:tt $($names:tt)*] [$($p:tt)*]
        $fut:expr => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@arms_n $b [$($arms)* ($name [$($p)*] ($fut) (true) ($body))]
            $else [$($names)*] $($rest)*)
    };
    (@fut $b:tt [$($arms:tt)*] $else:tt [$name:tt $($names:tt)*] [$($p:tt)*]
        $fut:expr => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@arms_n $b [$($arms)* ($name [$($p)*] ($fut) (true) ($body))]
            $else [$($names)*] $($rest)*)
    };
    (@fut $b:tt [$($arms:tt)*] $else:tt [$name:tt $($names:tt)*] [$($p:tt)*]
        $fut:expr => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@arms_n $b [$($arms)* ($name [$($p)*] ($fut) (true) ($body))]
            $else [$($names)*] $($rest)*)
    };
    (@fut $b:tt [$($arms:tt)*] $else:tt [$name:tt $($names:tt)*] [$($p:tt)*]
        $fut:expr => $body:expr) => {
        $crate::__select_parse!(@arms_n $b [$($arms)* ($name [$($p)*] ($fut) (true) ($body))]
            $else [$($names)*])
    };
    (@fut $($rest:tt)*) => {
        ::core::compile_error!(
            "corio::select!: expected `pattern = future => body` or \
             `pattern = future, if condition => body`"
        )
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_gen {
    // Only `else`.
    ($b:tt [] [$else:tt]) => {
        $else
    };
    ($b:tt [] []) => {
        ::core::compile_error!("corio::select! needs at least one arm: `pattern = future => body`")
    };
    ($b:tt [$(( ($i:tt $f:ident $V:ident $T:ident) [$($p:tt)*] $fut:tt $cond:tt $body:tt ))+]
        [$($else:tt)?]) => {{
        enum __CorioSelectOut<$($T,)+> {
            $($V($T),)+
            Disabled,
        }
        const __CORIO_ARMS: u32 = 0 $(+ { let _ = $i; 1 })+;
        let mut __corio_disabled: u64 = 0;
        $(
            if !$cond {
                __corio_disabled |= 1u64 << $i;
            }
        )+
        // Declared outside the block that holds the futures, and assigned in it: if a loser's
        // destructor panics as the block ends, the winner's output is dropped by the unwinding
        // like any initialized local (as the block's value it leaked: a review found it), and
        // in a `DropCatching`, so that a panic of its own destructor then is reported, not a
        // second panic during a panic (an abort: the next review found that).
        let __corio_out;
        {
            $(
                let mut $f = ::core::pin::pin!($crate::__private::DropCatching::new(
                    ::core::future::IntoFuture::into_future($fut),
                ));
            )+
            // Biased only: the arms whose completion the spent budget held back in the previous
            // poll (see `restart`).
            let mut __corio_refused: u64 = 0;
            __corio_out = $crate::__private::DropCatching::new(::core::future::poll_fn(|__corio_cx| {
                let __corio_start = if $b && __corio_refused != 0 {
                    $crate::__private::select_restart(__corio_refused)
                } else {
                    $crate::__private::select_start(__CORIO_ARMS, $b)
                };
                __corio_refused = 0;
                // The first pass runs in a deferral scope: a sleep polled directly by an arm
                // registers with the timer only if no arm is ready, in a second pass over the
                // arms whose sleeps deferred (corio-timer's `defer` module has the invariants).
                let mut __corio_defer = ::core::option::Option::Some(
                    $crate::__private::DeferScope::open(__corio_cx.waker()),
                );
                let mut __corio_retry: u64 = 0;
                loop {
                for __corio_i in 0..__CORIO_ARMS {
                    let mut __corio_arm = __corio_start + __corio_i;
                    if __corio_arm >= __CORIO_ARMS {
                        __corio_arm -= __CORIO_ARMS;
                    }
                    match __corio_arm {
                        $(
                            $i => {
                                if __corio_disabled & (1u64 << $i) != 0 {
                                    continue;
                                }
                                if __corio_defer.is_none() && __corio_retry & (1u64 << $i) == 0 {
                                    continue;
                                }
                                let __corio_refusals =
                                    if $b { $crate::__private::select_refusals() } else { 0 };
                                let __corio_value = match ::core::future::Future::poll(
                                    $f.as_mut(),
                                    __corio_cx,
                                ) {
                                    ::core::task::Poll::Ready(v) => v,
                                    ::core::task::Poll::Pending => {
                                        if $b
                                            && $crate::__private::select_refusals()
                                                != __corio_refusals
                                        {
                                            __corio_refused |= 1u64 << $i;
                                        }
                                        if let ::core::option::Option::Some(d) = &__corio_defer
                                            && d.take_deferred()
                                        {
                                            __corio_retry |= 1u64 << $i;
                                        }
                                        continue;
                                    }
                                };
                                __corio_disabled |= 1u64 << $i;
                                match &__corio_value {
                                    #[allow(unused_variables)]
                                    $crate::__select_clean!($($p)*) => {}
                                    #[allow(unreachable_patterns)]
                                    _ => continue,
                                }
                                return ::core::task::Poll::Ready(__CorioSelectOut::$V(__corio_value));
                            }
                        )+
                        _ => ::core::unreachable!(),
                    }
                }
                // Closing the scope (after the first pass) restores the enclosing one.
                if __corio_defer.take().is_none() || __corio_retry == 0 {
                    break;
                }
                }
                // No arm was ready: every arm still enabled is pending, with its wakers set.
                let __corio_all: u64 = (1u64 << __CORIO_ARMS) - 1;
                if __corio_disabled & __corio_all != __corio_all {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(__CorioSelectOut::Disabled)
                }
            })
            .await);
            // Every future, the winner's and the losers', is dropped here, before any body runs.
        }
        match __corio_out.into_inner() {
            $( __CorioSelectOut::$V($($p)*) => $body, )+
            __CorioSelectOut::Disabled => $crate::__select_else!($($else)?),
            #[allow(unreachable_patterns)]
            _ => ::core::unreachable!("corio::select!: an output matched its pattern only once"),
        }
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_else {
    () => {
        $crate::__private::select_all_disabled()
    };
    ($else:tt) => {
        $else
    };
}

/// Strips `mut`, `ref`, `ref mut` and reference patterns (`&`, `&mut`) from a pattern, so that
/// it can be matched against a
/// reference to the value (to test a refutable pattern without moving the value): in Rust 2024,
/// binding modifiers are an error where the default binding mode is by reference.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_clean {
    // Done.
    (@ [$($acc:tt)*] [] []) => {
        ($($acc)*)
    };
    (@ [$($acc:tt)*] [mut $($rest:tt)*] $stack:tt) => {
        $crate::__select_clean!(@ [$($acc)*] [$($rest)*] $stack)
    };
    (@ [$($acc:tt)*] [ref $($rest:tt)*] $stack:tt) => {
        $crate::__select_clean!(@ [$($acc)*] [$($rest)*] $stack)
    };
    // Reference patterns (`&x`, `&mut x`, `&&x`) go too: under a by-reference default binding
    // mode Rust 2024 refuses them, and the auto-deref of the default binding mode matches the
    // same values without them.
    (@ [$($acc:tt)*] [& $($rest:tt)*] $stack:tt) => {
        $crate::__select_clean!(@ [$($acc)*] [$($rest)*] $stack)
    };
    (@ [$($acc:tt)*] [&& $($rest:tt)*] $stack:tt) => {
        $crate::__select_clean!(@ [$($acc)*] [$($rest)*] $stack)
    };
    // Into a group: push what surrounds it.
    (@ [$($acc:tt)*] [( $($inner:tt)* ) $($rest:tt)*] [$($stack:tt)*]) => {
        $crate::__select_clean!(@ [] [$($inner)*] [(paren [$($acc)*] [$($rest)*]) $($stack)*])
    };
    (@ [$($acc:tt)*] [[ $($inner:tt)* ] $($rest:tt)*] [$($stack:tt)*]) => {
        $crate::__select_clean!(@ [] [$($inner)*] [(bracket [$($acc)*] [$($rest)*]) $($stack)*])
    };
    (@ [$($acc:tt)*] [{ $($inner:tt)* } $($rest:tt)*] [$($stack:tt)*]) => {
        $crate::__select_clean!(@ [] [$($inner)*] [(brace [$($acc)*] [$($rest)*]) $($stack)*])
    };
    (@ [$($acc:tt)*] [$t:tt $($rest:tt)*] $stack:tt) => {
        $crate::__select_clean!(@ [$($acc)* $t] [$($rest)*] $stack)
    };
    // Out of a group: pop.
    (@ [$($acc:tt)*] [] [(paren [$($outer:tt)*] [$($rest:tt)*]) $($stack:tt)*]) => {
        $crate::__select_clean!(@ [$($outer)* ($($acc)*)] [$($rest)*] [$($stack)*])
    };
    (@ [$($acc:tt)*] [] [(bracket [$($outer:tt)*] [$($rest:tt)*]) $($stack:tt)*]) => {
        $crate::__select_clean!(@ [$($outer)* [$($acc)*]] [$($rest)*] [$($stack)*])
    };
    (@ [$($acc:tt)*] [] [(brace [$($outer:tt)*] [$($rest:tt)*]) $($stack:tt)*]) => {
        $crate::__select_clean!(@ [$($outer)* {$($acc)*}] [$($rest)*] [$($stack)*])
    };
    // Entry.
    ($($p:tt)*) => {
        $crate::__select_clean!(@ [] [$($p)*] [])
    };
}
