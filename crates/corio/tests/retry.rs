//! `corio::retry`, `corio::retry_if` and `corio::Backoff`, through the facade's names only.
//!
//! Delays are checked on virtual time (`corio::run_seeded`): the clock moves only to the next
//! timer, so the elapsed time is exactly the sum of the waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use corio::{Backoff, retry, retry_if};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs a retry of an always-failing operation on virtual time; returns the instants of the
/// calls, relative to the start, and the final error (the call number).
fn call_times(seed: u64, backoff: Backoff) -> (Vec<Duration>, u32) {
    corio::run_seeded(seed, async move {
        let start = corio::time::now();
        let mut times = Vec::new();
        let mut n = 0;
        let result: Result<(), u32> = retry(backoff, || {
            times.push(corio::time::now() - start);
            n += 1;
            let call = n;
            async move { Err(call) }
        })
        .await;
        (times, result.unwrap_err())
    })
}

#[test]
fn returns_the_value_once_an_attempt_succeeds() {
    let out = corio::run(async {
        let mut calls = 0;
        let out: Result<&str, String> = retry(Backoff::exponential(ms(1)), || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(format!("attempt {n} failed"))
                } else {
                    Ok("done")
                }
            }
        })
        .await;
        (out, calls)
    });
    assert_eq!(out, (Ok("done"), 3));
}

#[test]
fn counts_every_call_and_returns_the_last_error() {
    for attempts in [1, 2, 3, 7] {
        let (times, last) = call_times(1, Backoff::exponential(ms(10)).max_attempts(attempts));
        assert_eq!(times.len() as u32, attempts);
        assert_eq!(last, attempts, "the error of the last call");
    }
}

#[test]
fn the_default_is_five_attempts() {
    let (times, last) = call_times(3, Backoff::exponential(ms(10)));
    assert_eq!((times.len(), last), (5, 5));
}

#[test]
fn retry_if_stops_at_once_on_a_rejected_error() {
    #[derive(Debug, PartialEq)]
    enum E {
        Transient(u32),
        Fatal(u32),
    }
    let (result, calls, elapsed) = corio::run_seeded(5, async {
        let start = corio::time::now();
        let calls = AtomicU32::new(0);
        let result: Result<(), E> = retry_if(
            Backoff::exponential(ms(100)).jitter(false).max_attempts(10),
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if n < 3 {
                        Err(E::Transient(n))
                    } else {
                        Err(E::Fatal(n))
                    }
                }
            },
            |e: &E| matches!(e, E::Transient(_)),
        )
        .await;
        (
            result,
            calls.load(Ordering::SeqCst),
            corio::time::now() - start,
        )
    });
    assert_eq!(result, Err(E::Fatal(3)));
    assert_eq!(calls, 3);
    assert_eq!(elapsed, ms(100 + 200), "no wait after the rejected error");
}

#[test]
fn waits_follow_the_exponential_on_virtual_time() {
    let (times, _) = call_times(7, Backoff::exponential(ms(100)).jitter(false));
    assert_eq!(times, [0, 100, 300, 700, 1500].map(ms));

    let capped = Backoff::exponential(ms(100))
        .factor(3.0)
        .max_delay(ms(500))
        .max_attempts(6)
        .jitter(false);
    let (times, _) = call_times(7, capped);
    // Waits 100, 300, 500, 500, 500.
    assert_eq!(times, [0, 100, 400, 900, 1400, 1900].map(ms));
}

#[test]
fn waits_are_never_early_on_the_real_clock() {
    let elapsed = corio::run(async {
        let start = Instant::now();
        let _: Result<(), ()> = retry(
            Backoff::exponential(ms(5)).jitter(false).max_attempts(3),
            || async { Err(()) },
        )
        .await;
        start.elapsed()
    });
    assert!(elapsed >= ms(5 + 10), "{elapsed:?}");
}

#[test]
fn seeded_jitter_replays_and_differs_across_seeds() {
    let backoff = Backoff::exponential(Duration::from_secs(1)).max_attempts(8);
    let run = |seed| call_times(seed, backoff).0;
    let a = run(11);
    assert_eq!(a, run(11), "the same seed replays the same waits");
    let b = run(12);
    let c = run(13);
    assert!(a != b || a != c, "different seeds draw different waits");
    // Full jitter: each wait is within [0, nominal] (plus the timer's 1 ms resolution).
    for times in [&a, &b, &c] {
        let waits: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let nominal = [1, 2, 4, 8, 16, 30, 30].map(Duration::from_secs);
        for (wait, max) in waits.iter().zip(nominal) {
            assert!(*wait <= max + ms(1), "{wait:?} > {max:?}");
        }
        assert_ne!(waits, nominal, "the waits are jittered");
    }
}

#[test]
fn jitter_does_not_disturb_the_schedule() {
    // The jitter draws come from a stream apart from the scheduler's: under the same seed, the
    // other tasks interleave the same way whether or not the retry draws jitter.
    fn order(seed: u64, jitter: bool) -> Vec<u32> {
        corio::run_seeded(seed, async move {
            let log = Arc::new(std::sync::Mutex::new(Vec::new()));
            let retrying = corio::spawn(retry(
                Backoff::exponential(ms(10)).max_attempts(20).jitter(jitter),
                || async { Err::<(), ()>(()) },
            ));
            let tasks: Vec<_> = (0..8u32)
                .map(|i| {
                    let log = log.clone();
                    corio::spawn(async move {
                        for step in 0..3 {
                            corio::yield_now().await;
                            log.lock().unwrap().push(i * 10 + step);
                        }
                    })
                })
                .collect();
            corio::join_all(tasks).await;
            drop(retrying);
            log.lock().unwrap().clone()
        })
    }
    let mut orders = Vec::new();
    for seed in [1, 2, 3] {
        let plain = order(seed, false);
        assert_eq!(plain, order(seed, true), "seed {seed}");
        orders.push(plain);
    }
    assert!(
        orders[0] != orders[1] || orders[0] != orders[2],
        "seeds shuffle the schedule"
    );
}

#[test]
fn a_timeout_cancels_mid_wait_and_the_operation_is_not_called_again() {
    let (result, calls_at_timeout, elapsed, calls_later) = corio::run_seeded(9, async {
        let start = corio::time::now();
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let backoff = Backoff::exponential(ms(100)).jitter(false).max_attempts(10);
        // Calls at 0 and 100 ms; the next would be at 300 ms, but the timeout fires at 250 ms,
        // in the middle of the 200 ms wait.
        let result = corio::timeout(
            ms(250),
            retry(backoff, move || {
                c.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), ()>(()) }
            }),
        )
        .await;
        let elapsed = corio::time::now() - start;
        let at_timeout = calls.load(Ordering::SeqCst);
        corio::sleep(Duration::from_secs(60)).await;
        (result, at_timeout, elapsed, calls.load(Ordering::SeqCst))
    });
    assert!(result.is_err(), "the timeout won");
    assert_eq!(elapsed, ms(250), "it ended exactly at the timeout");
    assert_eq!((calls_at_timeout, calls_later), (2, 2));
}

#[test]
fn fail_after_and_a_cancel_token_cancel_it_too() {
    corio::run_seeded(4, async {
        let start = corio::time::now();
        let backoff = Backoff::exponential(Duration::from_secs(10)).jitter(false);
        let r = corio::fail_after(
            Duration::from_secs(15),
            retry(backoff, || async { Err::<(), ()>(()) }),
        )
        .await;
        assert!(r.is_err());
        assert_eq!(corio::time::now() - start, Duration::from_secs(15));

        let token = corio::CancelToken::new();
        let canceller = {
            let token = token.clone();
            corio::spawn(async move {
                corio::sleep(Duration::from_secs(4)).await;
                token.cancel();
            })
        };
        let start = corio::time::now();
        let r = token
            .run_until_cancelled(retry(backoff, || async { Err::<(), ()>(()) }))
            .await;
        assert!(r.is_none());
        assert_eq!(corio::time::now() - start, Duration::from_secs(4));
        canceller.await;
        // No timer of the retry is left behind.
        corio::sleep(ms(1)).await;
    });
}

#[test]
fn a_timeout_mid_attempt_drops_the_attempt() {
    struct Guard(Arc<AtomicU32>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicU32::new(0));
    let d = dropped.clone();
    let result = corio::run_seeded(2, async move {
        corio::timeout(
            ms(50),
            retry(Backoff::exponential(ms(1)), move || {
                let guard = Guard(d.clone());
                async move {
                    let _guard = guard;
                    corio::sleep(Duration::from_secs(1)).await;
                    Err::<(), ()>(())
                }
            }),
        )
        .await
    });
    assert!(result.is_err());
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[test]
fn max_attempts_zero_means_one_attempt() {
    let (times, last) = call_times(1, Backoff::exponential(ms(10)).max_attempts(0));
    assert_eq!((times.len(), last), (1, 1));
}

#[test]
fn a_factor_below_one_or_nan_gives_constant_waits() {
    for factor in [0.5, 0.0, -1.0, f64::NAN] {
        let b = Backoff::exponential(ms(40))
            .factor(factor)
            .max_attempts(4)
            .jitter(false);
        let (times, _) = call_times(1, b);
        assert_eq!(times, [0, 40, 80, 120].map(ms), "factor {factor}");
    }
}

#[test]
fn an_infinite_factor_jumps_to_the_cap() {
    let b = Backoff::exponential(ms(40))
        .factor(f64::INFINITY)
        .max_delay(Duration::from_secs(2))
        .max_attempts(4)
        .jitter(false);
    let (times, _) = call_times(1, b);
    assert_eq!(times, [0, 40, 2040, 4040].map(ms));
}

#[test]
fn huge_delays_saturate_instead_of_overflowing() {
    // A `Duration::MAX` base is capped by the default max_delay (30 s).
    let (times, _) = call_times(
        1,
        Backoff::exponential(Duration::MAX)
            .max_attempts(3)
            .jitter(false),
    );
    assert_eq!(times, [0, 30_000, 60_000].map(ms));

    // Uncapped, a wait too long for the clock never ends: a timeout bounds it, no panic.
    for jitter in [false, true] {
        let r = corio::run_seeded(1, async move {
            let b = Backoff::exponential(Duration::MAX)
                .max_delay(Duration::MAX)
                .factor(f64::INFINITY)
                .max_attempts(u32::MAX)
                .jitter(jitter);
            corio::timeout(
                Duration::from_secs(3600),
                retry(b, || async { Err::<(), ()>(()) }),
            )
            .await
        });
        assert!(r.is_err());
    }
}

#[test]
fn the_future_is_send_and_works_on_any_worker() {
    let out = corio::run(async {
        let task = corio::spawn(retry(Backoff::exponential(ms(1)), || async {
            Ok::<u32, ()>(7)
        }));
        task.await
    });
    assert_eq!(out, Ok(7));
}

#[test]
fn works_outside_any_runtime() {
    let mut calls = 0;
    let out: Result<(), u8> =
        corio::block_on(retry(Backoff::exponential(ms(1)).max_attempts(2), || {
            calls += 1;
            async { Err(1) }
        }));
    assert_eq!((out, calls), (Err(1), 2));
}
