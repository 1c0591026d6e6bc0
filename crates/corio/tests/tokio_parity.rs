//! Calls a tokio user reaches for, beside API.md's names: `watch`'s `wait_for` and
//! `send_if_modified`, `TaskSet::try_join_next`, and `Interval`'s `reset_at`, `reset_after` and
//! `reset_immediately`. Each with its edges: closed channels, panics, cancelled members, the
//! cooperative budget, and virtual time for exact instants.

mod support;

use std::time::Duration;

use corio::sync::watch;
use support::LOOP_CAP;

#[test]
fn wait_for_checks_the_current_value_then_each_new_one() {
    corio::run(async {
        let (tx, mut rx) = watch::channel(0u32);
        // Satisfied at once: no wait, and the value is marked seen.
        assert_eq!(*rx.wait_for(|v| *v == 0).await.unwrap(), 0);
        assert_eq!(rx.has_changed(), Ok(false));

        let sender = corio::spawn(async move {
            for i in 1..=100 {
                tx.send(i).unwrap();
                corio::yield_now().await;
            }
            tx
        });
        let seen = *rx.wait_for(|v| *v >= 50).await.unwrap();
        assert!(seen >= 50, "{seen}");
        let tx = sender.await;
        // The sender is gone: the last value satisfies, so it is still found...
        drop(tx);
        assert_eq!(*rx.wait_for(|v| *v == 100).await.unwrap(), 100);
        // ...and one that nothing left satisfies fails instead of waiting for ever.
        assert_eq!(
            rx.wait_for(|v| *v == 7).await.map(|r| *r),
            Err(watch::RecvError)
        );
    });
}

#[test]
fn wait_for_wakes_on_a_send_from_another_thread_and_its_cancellation_takes_nothing() {
    corio::run_local(async {
        let (tx, mut rx) = watch::channel(String::from("starting"));
        // Cancelled while it waits: nothing taken, the channel as before.
        let waited = corio::timeout(
            Duration::from_millis(5),
            rx.wait_for(|s| s.as_str() == "ready"),
        )
        .await
        .is_err();
        assert!(waited);
        let sender = std::thread::spawn(move || {
            tx.send(String::from("loading")).unwrap();
            tx.send(String::from("ready")).unwrap();
            tx
        });
        let ready = rx.wait_for(|s| s.as_str() == "ready").await.unwrap();
        assert_eq!(ready.as_str(), "ready");
        drop(ready);
        drop(sender.join().unwrap());
    });
}

/// A loop over a `wait_for` that is always satisfied is always ready: it must run the task's
/// budget down, so that a deadline around it fires (without it, the loop ran to its cap).
async fn always_satisfied_wait_for_loops_see_a_deadline() {
    let (_tx, mut rx) = watch::channel(1u8);
    let spin = async {
        for _ in 0..LOOP_CAP {
            drop(rx.wait_for(|_| true).await.unwrap());
        }
        panic!("the deadline never fired");
    };
    assert!(
        corio::timeout(Duration::from_millis(5), spin)
            .await
            .is_err()
    );
}

#[test]
fn always_satisfied_wait_for_loops_see_a_deadline_on_run_local() {
    corio::run_local(always_satisfied_wait_for_loops_see_a_deadline());
}

#[test]
fn always_satisfied_wait_for_loops_see_a_deadline_on_run() {
    corio::run(async { corio::spawn(always_satisfied_wait_for_loops_see_a_deadline()).await });
}

#[test]
fn send_if_modified_announces_only_what_it_says_it_changed() {
    corio::run(async {
        let (tx, mut rx) = watch::channel(vec![1]);
        let waiter = corio::spawn(async move {
            rx.changed().await.unwrap();
            rx.borrow_and_update().clone()
        });
        corio::yield_now().await;
        // Modified in place but not announced: the waiter keeps waiting.
        assert!(!tx.send_if_modified(|v| {
            v.push(2);
            false
        }));
        corio::sleep(Duration::from_millis(5)).await;
        assert!(!waiter.is_finished());
        assert!(tx.send_if_modified(|v| {
            v.push(3);
            true
        }));
        assert_eq!(waiter.await, [1, 2, 3]);
        // Works with no receiver left, as send_modify does.
        assert!(tx.send_if_modified(|v| {
            v.clear();
            true
        }));
        assert!(tx.borrow().is_empty());
    });
}

#[test]
fn try_join_next_takes_finished_outputs_without_waiting() {
    corio::run(async {
        let mut set = corio::TaskSet::new();
        assert_eq!(set.try_join_next(), None, "empty");
        let (tx, rx) = corio::sync::oneshot::channel::<()>();
        set.spawn(async move {
            rx.await.unwrap();
            1
        });
        set.spawn(async { 2 });
        // The ready one, once it has run (on a worker: `run`'s root runs on this thread); the
        // waiting one never.
        let mut got = None;
        for _ in 0..10_000 {
            got = set.try_join_next();
            if got.is_some() {
                break;
            }
            corio::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(got, Some(2));
        assert_eq!(set.len(), 1);
        assert_eq!(set.try_join_next(), None);
        tx.send(()).unwrap();
        assert_eq!(set.join_next().await, Some(1));
        assert!(set.is_empty());

        // Cancelled members are reaped without an output.
        set.spawn(std::future::pending());
        set.cancel_all();
        assert_eq!(set.try_join_next(), None);
        assert!(set.is_empty());
    });
}

#[test]
fn try_join_next_resumes_a_members_panic() {
    let caught = std::panic::catch_unwind(|| {
        corio::run(async {
            let mut set = corio::TaskSet::<u8>::new();
            set.spawn(async { panic!("member failed") });
            loop {
                if let Some(v) = set.try_join_next() {
                    return v;
                }
                corio::sleep(Duration::from_millis(1)).await;
            }
        })
    });
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"member failed"));
}

#[test]
fn interval_resets_move_the_schedule_exactly_under_virtual_time() {
    corio::run_seeded(3, async {
        let period = Duration::from_secs(60);
        let mut ticks = corio::time::interval(period);
        let t0 = ticks.tick().await;

        ticks.reset_after(Duration::from_secs(5));
        assert_eq!(ticks.tick().await, t0 + Duration::from_secs(5));
        assert_eq!(ticks.tick().await, t0 + Duration::from_secs(65));

        let deadline = corio::time::now() + Duration::from_secs(7);
        ticks.reset_at(deadline);
        assert_eq!(ticks.tick().await, deadline);
        assert_eq!(ticks.tick().await, deadline + period);

        let now = corio::time::now();
        ticks.reset_immediately();
        assert_eq!(ticks.tick().await, now, "due at once");
        assert_eq!(corio::time::now(), now, "no time passed");
        assert_eq!(ticks.tick().await, now + period);

        // A deadline in the past ticks at once.
        let past = corio::time::now() - Duration::from_secs(1);
        ticks.reset_at(past);
        assert_eq!(ticks.tick().await, past);

        ticks.reset();
        assert_eq!(ticks.tick().await, corio::time::now());
        assert_eq!(corio::time::now(), past + Duration::from_secs(1) + period);
    });
}
