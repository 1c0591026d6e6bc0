//! `select!`'s deferred timer registration (corio-timer's `defer` module): a sleep that loses to
//! a ready arm never touches the timer, and a sleep that must fire always registers, however it
//! is reached: directly, through `timeout`, an async block, a nested `select!`, or a future set
//! that polls its children only when their own wakers fire.

use std::future::pending;
use std::time::Duration;

use corio::sync::Queue;
use corio_timer::Timer;

fn timers_pending() -> usize {
    Timer::current().pending()
}

#[test]
fn a_sleep_that_loses_to_a_ready_arm_never_registers() {
    corio::run_seeded(1, async {
        let queue = Queue::unbounded();
        // Both start orders happen over 200 rounds (the start arm is drawn from the seed).
        for i in 0..200u32 {
            queue.try_put(i).unwrap();
            // A fresh cooperative budget: a spent one makes the get arm wait a turn, and then the
            // sleep rightly registers before the task yields.
            corio::yield_now().await;
            // The ready arm reports how many timers are registered while it runs: when the
            // sleep arm was polled first, an eager sleep would be registered by then.
            let got = corio::select! {
                v = async { (queue.get().await.ok(), timers_pending()) } => Some(v),
                () = corio::sleep(Duration::from_secs(10)) => None,
            };
            assert_eq!(got, Some((Some(i), 0)), "round {i}");
            assert_eq!(timers_pending(), 0, "round {i}");
        }
    });
}

#[test]
fn without_the_scope_the_same_poll_registers() {
    // The check above can fail: a sleep polled outside select! registers on its first poll.
    corio::run_seeded(2, async {
        let mut sleep = std::pin::pin!(corio::sleep(Duration::from_secs(10)));
        let polled = futures_lite::future::poll_once(&mut sleep).await;
        assert!(polled.is_none());
        assert_eq!(timers_pending(), 1);
    });
}

#[test]
fn a_sleep_that_must_fire_registers_and_fires_at_its_deadline() {
    corio::run_seeded(3, async {
        let start = corio::time::now();
        let which = corio::select! {
            () = pending::<()>() => "pending",
            () = corio::sleep(Duration::from_secs(5)) => "sleep",
        };
        assert_eq!(which, "sleep");
        assert_eq!(corio::time::now() - start, Duration::from_secs(5));
    });
}

#[test]
fn sleeps_reached_through_other_futures_fire() {
    corio::run_seeded(4, async {
        let start = corio::time::now();
        // Through an async block that awaits the sleep after a ready step.
        let a = corio::select! {
            () = pending::<()>() => 0,
            v = async { corio::sleep(Duration::from_secs(1)).await; 1 } => v,
        };
        // Through a timeout around a future that never completes.
        let b = corio::select! {
            () = pending::<()>() => 0,
            r = corio::timeout(Duration::from_secs(1), pending::<()>()) => {
                assert!(r.is_err());
                2
            }
        };
        // Through a nested select! (its own second pass runs under the outer scope).
        let c = corio::select! {
            () = pending::<()>() => 0,
            v = async {
                corio::select! {
                    () = pending::<()>() => 0,
                    () = corio::sleep(Duration::from_secs(1)) => 3,
                }
            } => v,
        };
        // Through as_completed, which polls a child again only when the child's waker fires.
        let d = corio::select! {
            () = pending::<()>() => 0,
            v = async {
                use futures_lite::StreamExt;
                let mut done = corio::as_completed(vec![
                    Box::pin(async { corio::sleep(Duration::from_secs(1)).await; 4 }),
                ]);
                done.next().await.unwrap()
            } => v,
        };
        assert_eq!((a, b, c, d), (1, 2, 3, 4));
        assert_eq!(corio::time::now() - start, Duration::from_secs(4));
    });
}

#[test]
fn a_due_deadline_is_not_starved_by_an_always_ready_arm() {
    // The loop ends only if the sleep, once due, wins a round against the ready arm.
    corio::run_seeded(5, async {
        let mut deadline = std::pin::pin!(corio::sleep(Duration::from_millis(50)));
        let mut rounds = 0u64;
        loop {
            corio::select! {
                () = std::future::ready(()) => {
                    rounds += 1;
                    corio::sleep(Duration::from_millis(1)).await;
                }
                () = &mut deadline => break,
            }
        }
        assert!((40..=60).contains(&rounds), "{rounds} rounds");
    });
}

#[test]
fn the_scope_is_closed_after_select_and_after_a_panic_in_an_arm() {
    corio::run_seeded(6, async {
        let _ = corio::select! {
            () = std::future::ready(()) => 1,
            () = corio::sleep(Duration::from_secs(10)) => 2,
        };
        // A sleep polled after the select! registers as usual.
        let mut sleep = std::pin::pin!(corio::sleep(Duration::from_secs(10)));
        assert!(futures_lite::future::poll_once(&mut sleep).await.is_none());
        assert_eq!(timers_pending(), 1);
    });
    corio::run_seeded(7, async {
        let caught = futures_lite::future::poll_once(async {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                futures_lite::future::block_on(async {
                    corio::select! {
                        () = async { panic!("arm panics") } => (),
                        () = corio::sleep(Duration::from_secs(10)) => (),
                    }
                })
            }))
        })
        .await;
        assert!(matches!(caught, Some(Err(_))));
        let mut sleep = std::pin::pin!(corio::sleep(Duration::from_secs(10)));
        assert!(futures_lite::future::poll_once(&mut sleep).await.is_none());
        assert_eq!(timers_pending(), 1);
    });
}
