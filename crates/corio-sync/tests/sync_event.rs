//! Event, Barrier and Notify: semantics and cancellation at every state.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use corio_sync::{Barrier, Event, Notify};
use futures_lite::future;
use support::{Manual, stress};

// ---------------------------------------------------------------------------------------------
// Event

#[test]
fn set_releases_registered_waiters_even_if_cleared_before_they_run() {
    let ev = Event::new();
    let mut a = Manual::new(ev.wait());
    let mut b = Manual::new(ev.wait());
    a.pending();
    b.pending();
    ev.set();
    ev.clear();
    assert!(a.woken() && b.woken());
    a.ready();
    b.ready();
    // A waiter that registers after the clear waits for the next set.
    let mut c = Manual::new(ev.wait());
    c.pending();
    assert!(!c.woken());
    ev.set();
    c.ready();
}

#[test]
fn wait_on_set_event_is_immediate_and_set_is_idempotent() {
    let ev = Event::new();
    ev.set();
    ev.set();
    assert!(ev.is_set());
    Manual::new(ev.wait()).ready();
    ev.clear();
    assert!(!ev.is_set());
    Manual::new(ev.wait()).pending();
}

#[test]
fn event_wait_cancelled_at_every_state() {
    let ev = Event::new();
    drop(ev.wait());
    let mut waiting = Manual::new(ev.wait());
    waiting.pending();
    drop(waiting);
    let mut woken = Manual::new(ev.wait());
    woken.pending();
    let mut other = Manual::new(ev.wait());
    other.pending();
    ev.set();
    drop(woken); // woken, never re-polled: affects nobody
    other.ready();
}

#[test]
fn event_across_threads() {
    let ev = Arc::new(Event::new());
    let released = Arc::new(AtomicUsize::new(0));
    let (e, r) = (ev.clone(), released.clone());
    let waiters = std::thread::spawn(move || {
        support::block_on_threads(4, move |_| {
            let (ev, released) = (e.clone(), r.clone());
            async move {
                ev.wait().await;
                released.fetch_add(1, Ordering::SeqCst);
            }
        })
    });
    ev.set();
    waiters.join().unwrap();
    assert_eq!(released.load(Ordering::SeqCst), 4);
}

// ---------------------------------------------------------------------------------------------
// Barrier

#[test]
fn barrier_releases_round_and_has_one_leader() {
    let b = Barrier::new(3);
    let mut w1 = Manual::new(b.wait());
    let mut w2 = Manual::new(b.wait());
    w1.pending();
    w2.pending();
    assert_eq!(b.n_waiting(), 2);
    let mut w3 = Manual::new(b.wait());
    assert!(w3.ready().is_leader());
    assert!(w1.woken() && w2.woken());
    assert!(!w1.ready().is_leader());
    assert!(!w2.ready().is_leader());
    assert_eq!(b.n_waiting(), 0);
}

#[test]
fn barrier_is_reusable_and_zero_means_one() {
    future::block_on(async {
        let b = Barrier::new(2);
        for _ in 0..3 {
            let (x, y) = future::zip(b.wait(), b.wait()).await;
            assert!(x.is_leader() ^ y.is_leader());
        }
        let zero = Barrier::new(0);
        assert!(zero.wait().await.is_leader());
        assert!(zero.wait().await.is_leader());
    });
}

#[test]
fn cancelled_barrier_waiter_no_longer_counts() {
    let b = Barrier::new(2);
    drop(b.wait()); // never arrived
    let mut w1 = Manual::new(b.wait());
    w1.pending();
    drop(w1); // arrived, then left
    assert_eq!(b.n_waiting(), 0);
    let mut w2 = Manual::new(b.wait());
    w2.pending(); // alone: must still wait
    assert!(!w2.woken());
    let mut w3 = Manual::new(b.wait());
    assert!(w3.ready().is_leader());
    // Dropped after its round completed (woken, not re-polled): changes nothing.
    assert!(w2.woken());
    drop(w2);
    assert_eq!(b.n_waiting(), 0);
    let mut w4 = Manual::new(b.wait());
    w4.pending();
    assert_eq!(b.n_waiting(), 1);
}

#[test]
fn barrier_rounds_across_threads() {
    let rounds = stress(200);
    let b = Arc::new(Barrier::new(4));
    let leaders = Arc::new(AtomicUsize::new(0));
    let (b2, l2) = (b.clone(), leaders.clone());
    support::block_on_threads(4, move |_| {
        let (b, leaders) = (b2.clone(), l2.clone());
        async move {
            for _ in 0..rounds {
                if b.wait().await.is_leader() {
                    leaders.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    });
    assert_eq!(leaders.load(Ordering::SeqCst), rounds);
}

// ---------------------------------------------------------------------------------------------
// Notify

#[test]
fn notify_one_stores_a_single_permit() {
    let n = Notify::new();
    n.notify_one();
    n.notify_one();
    Manual::new(n.notified()).ready();
    Manual::new(n.notified()).pending();
}

#[test]
fn notify_one_wakes_longest_waiter() {
    let n = Notify::new();
    let mut a = Manual::new(n.notified());
    let mut b = Manual::new(n.notified());
    a.pending();
    b.pending();
    n.notify_one();
    assert!(a.woken() && !b.woken());
    a.ready();
    b.pending();
}

#[test]
fn notify_all_wakes_created_futures_and_stores_nothing() {
    let n = Notify::new();
    let mut polled = Manual::new(n.notified());
    polled.pending();
    let mut unpolled = Manual::new(n.notified());
    n.notify_all();
    assert!(polled.woken());
    polled.ready();
    unpolled.ready(); // created before notify_all
    Manual::new(n.notified()).pending(); // no permit stored
}

#[test]
fn a_notify_one_that_found_a_waiter_stores_no_permit_even_after_a_notify_all() {
    // The waiter uses the wake-up of the `notify_one` that reached it; the `notify_all` after it
    // stores nothing either, so a new `notified()` waits (as in tokio).
    let n = Notify::new();
    let mut waiter = Manual::new(n.notified());
    waiter.pending();
    n.notify_one();
    n.notify_all();
    assert!(waiter.woken());
    waiter.ready();
    Manual::new(n.notified()).pending();

    // Two waiters: the first gets the `notify_one`, the second the `notify_all`; none is left.
    let mut a = Manual::new(n.notified());
    let mut b = Manual::new(n.notified());
    a.pending();
    b.pending();
    n.notify_one();
    n.notify_all();
    a.ready();
    b.ready();
    Manual::new(n.notified()).pending();
}

#[test]
fn dropped_notified_passes_notify_one_on() {
    let n = Notify::new();
    let mut a = Manual::new(n.notified());
    let mut b = Manual::new(n.notified());
    a.pending();
    b.pending();
    n.notify_one();
    drop(a); // woken, never re-polled
    assert!(b.woken());
    b.ready();

    // With nobody else waiting, it goes back into the permit.
    let mut c = Manual::new(n.notified());
    c.pending();
    n.notify_one();
    drop(c);
    Manual::new(n.notified()).ready();
}

#[test]
fn notified_cancelled_before_poll_or_while_waiting_leaves_nothing() {
    let n = Notify::new();
    drop(n.notified());
    let mut w = Manual::new(n.notified());
    w.pending();
    drop(w);
    n.notify_one(); // nobody waits: stored
    Manual::new(n.notified()).ready();
}

#[test]
fn notify_ping_pong_across_threads() {
    let rounds = stress(2_000);
    let ping = Arc::new(Notify::new());
    let pong = Arc::new(Notify::new());
    let (pi, po) = (ping.clone(), pong.clone());
    let t = std::thread::spawn(move || {
        future::block_on(async {
            for _ in 0..rounds {
                pi.notified().await;
                po.notify_one();
            }
        });
    });
    future::block_on(async {
        for _ in 0..rounds {
            ping.notify_one();
            pong.notified().await;
        }
    });
    t.join().unwrap();
}
