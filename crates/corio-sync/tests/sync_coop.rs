//! The cooperative budget (feature `coop`, which the facade and `cargo xtask ci`'s workspace build
//! turn on; the crate alone builds without it): a spent budget makes a completing
//! operation return `Pending` having done nothing, and outside a runtime nothing changes.
#![cfg(feature = "coop")]

mod support;

use std::task::Poll;

use corio_sync::{Mutex, Queue, Semaphore};
use support::Manual;

#[test]
fn spent_budget_yields_without_taking_the_item() {
    let q = Queue::unbounded();
    for i in 0..3 {
        q.try_put(i).unwrap();
    }
    corio_coop::with_budget(2, || {
        assert_eq!(Manual::new(q.get()).ready(), Ok(0));
        assert_eq!(Manual::new(q.get()).ready(), Ok(1));
        let mut third = Manual::new(q.get());
        assert!(third.poll().is_pending());
        assert!(third.woken(), "a budget yield must wake the task");
        assert_eq!(q.len(), 1, "nothing taken");
    });
    assert_eq!(q.try_get(), Ok(2));
}

#[test]
fn spent_budget_yields_put_acquire_and_lock() {
    let q = Queue::unbounded();
    let sem = Semaphore::new(1);
    let m = Mutex::new(());
    corio_coop::with_budget(0, || {
        let mut put = Manual::new(q.put(1));
        assert!(put.poll().is_pending() && put.woken());
        let mut acquire = Manual::new(sem.acquire());
        assert!(acquire.poll().is_pending() && acquire.woken());
        let mut lock = Manual::new(m.lock());
        assert!(lock.poll().is_pending() && lock.woken());
    });
    assert!(q.is_empty());
    assert_eq!(sem.available_permits(), 1);
    assert!(m.try_lock().is_ok());
}

#[test]
fn blocking_calls_ignore_a_spent_budget() {
    let q = Queue::unbounded();
    q.try_put(1).unwrap();
    let got = corio_coop::with_budget(0, || q.get_blocking());
    assert_eq!(got, Ok(1));
}

#[test]
fn woken_waiter_keeps_its_grant_across_a_budget_yield() {
    let sem = Semaphore::new(0);
    let mut a = Manual::new(sem.acquire());
    a.pending();
    sem.add_permits(1);
    corio_coop::with_budget(0, || assert!(matches!(a.poll(), Poll::Pending)));
    assert_eq!(a.ready().unwrap().num_permits(), 1);
}

/// Polls a fresh `$make` future until the budget of 3 is spent: three polls complete, and the
/// fourth returns `Pending` and wakes the task. An operation that fails at once (on a closed
/// channel, say) is as ready on every poll as a successful one, so it must spend the budget too:
/// otherwise a loop over it, such as a `biased` select with a deadline behind it, never yields.
macro_rules! spends_while_always_ready {
    ($what:expr, $make:expr) => {
        corio_coop::with_budget(3, || {
            for i in 0..3 {
                let mut f = Manual::new($make);
                assert!(f.poll().is_ready(), "{}: poll {i} completes", $what);
            }
            let mut f = Manual::new($make);
            assert!(f.poll().is_pending(), "{}: the spent budget is seen", $what);
            assert!(f.woken(), "{}: a budget yield must wake the task", $what);
        })
    };
}

#[test]
fn failed_operations_spend_the_budget_too() {
    let q = Queue::<u8>::unbounded();
    q.close();
    spends_while_always_ready!("get on a closed queue", q.get());
    spends_while_always_ready!("put on a closed queue", q.put(1));
    spends_while_always_ready!("join with nothing unfinished", q.join());
    let ring = Queue::<u8>::bounded(4);
    ring.close();
    spends_while_always_ready!("get on a closed bounded queue", ring.get());
    spends_while_always_ready!("put on a closed bounded queue", ring.put(1));

    let sem = Semaphore::new(0);
    sem.close();
    spends_while_always_ready!("acquire on a closed semaphore", sem.acquire());

    let (tx, mut rx) = corio_sync::broadcast::channel::<u8>(4);
    drop(tx);
    spends_while_always_ready!("broadcast recv after the senders left", rx.recv());

    let (tx, mut rx) = corio_sync::watch::channel(0u8);
    drop(tx);
    spends_while_always_ready!("watch changed after the sender left", rx.changed());

    let (mut tx, rx) = corio_sync::oneshot::channel::<u8>();
    drop(rx);
    spends_while_always_ready!("oneshot closed after the receiver left", tx.closed());
    let (tx, mut rx) = corio_sync::oneshot::channel::<u8>();
    drop(tx);
    spends_while_always_ready!("oneshot receive after the sender left", &mut rx);
}
