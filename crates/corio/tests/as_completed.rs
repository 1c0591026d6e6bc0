//! `corio::as_completed`: outputs in completion order, O(1) polls per wake, cancel safety, and a
//! proptest of the order on virtual time.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use corio::stream::{Stream, StreamExt};
use proptest::prelude::*;
use support::DropCounter;

/// Counts the polls of the future it wraps.
struct CountPolls<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn outputs_come_in_completion_order() {
    let order = corio::run_seeded(1, async {
        let delays = [50u64, 10, 40, 20, 30];
        corio::as_completed(delays.map(|ms| async move {
            corio::sleep(Duration::from_millis(ms)).await;
            ms
        }))
        .collect::<Vec<_>>()
        .await
    });
    assert_eq!(order, [10, 20, 30, 40, 50]);

    // Spawned tasks on the multi-threaded runtime, finishing in an order the test forces: each
    // is released only after the previous output came out of the stream.
    let release = [2usize, 0, 3, 1];
    let order = corio::run(async move {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..4)
            .map(|_| corio::sync::oneshot::channel::<()>())
            .unzip();
        let tasks = receivers.into_iter().enumerate().map(|(i, rx)| {
            corio::spawn(async move {
                rx.await.unwrap();
                i
            })
        });
        let mut done = corio::as_completed(tasks);
        let mut senders: Vec<_> = senders.into_iter().map(Some).collect();
        let mut order = Vec::new();
        for &i in &release {
            senders[i].take().unwrap().send(()).unwrap();
            order.push(done.next().await.unwrap());
        }
        assert_eq!(done.next().await, None);
        order
    });
    assert_eq!(order, release);
}

#[test]
fn every_future_starts_at_once_even_if_one_is_ready_at_the_first_poll() {
    let order = corio::run_seeded(6, async {
        let start = corio::time::now();
        let mut s = corio::as_completed([30u64, 0, 15].map(|ms| async move {
            if ms > 0 {
                corio::sleep(Duration::from_millis(ms)).await;
            }
            (ms, corio::time::now() - start)
        }));
        let first = s.next().await;
        // Busy elsewhere for a while, without polling the stream.
        corio::sleep(Duration::from_millis(20)).await;
        let rest: Vec<_> = s.collect().await;
        (first, rest)
    });
    let ms = Duration::from_millis;
    assert_eq!(order.0, Some((0, ms(0))));
    // The 15 ms sleep started at the first poll, with the others, not after the first output
    // (then it would have ended at 35 ms, after the 30 ms one). It is seen at 20 ms, when the
    // stream is polled again.
    assert_eq!(order.1, [(15, ms(20)), (30, ms(30))]);
}

#[test]
fn empty_input_is_an_empty_stream() {
    let mut s = corio::as_completed(Vec::<std::future::Ready<u8>>::new());
    assert_eq!(s.size_hint(), (0, Some(0)));
    assert_eq!(corio::block_on(s.next()), None);
    assert_eq!(corio::block_on(s.next()), None, "it stays ended");
}

#[test]
fn each_future_is_polled_once_per_wake_not_rescanned() {
    // 2,000 futures, each woken once (by its timer): 2 polls each, however many are waiting.
    let n = 2000;
    let polls = Arc::new(AtomicUsize::new(0));
    let total = corio::run_seeded(5, {
        let polls = polls.clone();
        async move {
            let futures = (0..n as u64).map(|i| CountPolls {
                inner: Box::pin(async move {
                    corio::sleep(Duration::from_millis(1 + i % 97)).await;
                    i
                }),
                polls: polls.clone(),
            });
            corio::as_completed(futures)
                .fold(0u64, |acc, i| acc + i)
                .await
        }
    });
    assert_eq!(total, (0..n as u64).sum::<u64>());
    assert_eq!(polls.load(Ordering::Relaxed), 2 * n);
}

#[test]
fn a_dropped_next_loses_no_output_and_dropping_the_stream_cancels_the_rest() {
    corio::run_seeded(9, async {
        let n = 30u64;
        let mut s = corio::as_completed((0..n).map(|i| async move {
            // Even milliseconds only: the 1 ms timeouts below fire alone on odd ones, and together
            // with completions on even ones.
            corio::sleep(Duration::from_millis(2 * (1 + (i * 7) % 15))).await;
            i
        }));
        let mut got = Vec::new();
        let mut abandoned = 0;
        while got.len() < n as usize {
            // Cancel `next` at random-ish points: outputs must not vanish.
            match corio::timeout(Duration::from_millis(1), s.next()).await {
                Ok(Some(i)) => got.push(i),
                Ok(None) => break,
                Err(_) => abandoned += 1,
            }
        }
        assert!(
            abandoned > 0,
            "the test must actually drop some `next` futures"
        );
        got.sort_unstable();
        assert_eq!(got, (0..n).collect::<Vec<_>>());
        assert_eq!(s.next().await, None);
    });

    let counter = DropCounter::new();
    let s = corio::as_completed((0..5).map(|_| {
        let guard = counter.guard();
        async move {
            let _guard = guard;
            std::future::pending::<()>().await
        }
    }));
    assert_eq!(counter.alive(), 5);
    drop(s);
    assert_eq!(counter.alive(), 0);
}

#[test]
fn the_stream_is_send_and_unpin_for_send_futures() {
    fn assert_send_unpin<S: Stream + Send + Unpin>(s: S) -> S {
        s
    }
    let s = assert_send_unpin(corio::as_completed((0..3).map(|i| async move {
        corio::sleep(Duration::from_millis(3 - i)).await;
        i
    })));
    // Move it to a task on another worker and finish it there.
    let mut out = corio::run(corio::spawn(s.collect::<Vec<_>>()));
    out.sort_unstable();
    assert_eq!(out, [0, 1, 2]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Futures finishing at random distinct virtual times come out in completion order, whatever
    /// their input order and the scheduler's seed.
    #[test]
    fn order_is_completion_order(
        mut delays in proptest::collection::hash_set(0u64..5_000, 0..40)
            .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
        extra_yields in proptest::collection::vec(0usize..3, 40),
        seed in any::<u64>(),
    ) {
        let input = delays.clone();
        let out = corio::run_seeded(seed, async move {
            let futures = input.iter().zip(&extra_yields).map(|(&ms, &yields)| async move {
                for _ in 0..yields {
                    corio::yield_now().await;
                }
                corio::sleep(Duration::from_millis(ms)).await;
                for _ in 0..yields {
                    corio::yield_now().await;
                }
                (ms, corio::time::now())
            });
            corio::as_completed(futures).collect::<Vec<_>>().await
        });
        delays.sort_unstable();
        let got: Vec<u64> = out.iter().map(|&(ms, _)| ms).collect();
        prop_assert_eq!(&got, &delays);
        // And the clock confirms it: each output was produced no earlier than the previous one.
        prop_assert!(out.windows(2).all(|w| w[0].1 <= w[1].1));
    }
}
