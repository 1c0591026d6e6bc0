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
