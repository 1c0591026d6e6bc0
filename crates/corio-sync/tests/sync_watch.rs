//! watch: contract, versions, close, cancellation, a proptest model, and real-thread stress.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use corio_sync::watch::{self, RecvError, SendError};
use futures_lite::future;
use proptest::prelude::*;
use support::{Manual, MiniExecutor, cases, stress};

#[test]
fn the_initial_value_counts_as_seen() {
    let (tx, mut rx) = watch::channel(0);
    assert_eq!(*rx.borrow(), 0);
    assert_eq!(rx.has_changed(), Ok(false));
    let mut changed = Manual::new(rx.changed());
    changed.pending();
    tx.send(1).unwrap();
    assert!(changed.woken());
    assert_eq!(changed.ready(), Ok(()));
    drop(changed);
    assert_eq!(*rx.borrow(), 1);
    assert_eq!(rx.has_changed(), Ok(false), "changed() marked it seen");
}

#[test]
fn changed_returns_at_once_for_an_unseen_value_and_skips_to_the_latest() {
    let (tx, mut rx) = watch::channel("a");
    tx.send("b").unwrap();
    tx.send("c").unwrap();
    future::block_on(async {
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), "c");
        // Nothing new: waits.
        let mut changed = Manual::new(rx.changed());
        changed.pending();
    });
}

#[test]
fn borrow_does_not_mark_seen_but_borrow_and_update_does() {
    let (tx, mut rx) = watch::channel(1);
    tx.send(2).unwrap();
    assert_eq!(*rx.borrow(), 2);
    assert_eq!(rx.has_changed(), Ok(true));
    assert_eq!(*rx.borrow_and_update(), 2);
    assert_eq!(rx.has_changed(), Ok(false));
    assert_eq!(*tx.borrow(), 2);
}

/// Several `Ref`s alive at once on one thread (two receivers, the sender and a receiver) do
/// not wait for each other: they hold the value's lock for reading. Each check runs on its own
/// thread so that a regression fails here instead of hanging the suite.
#[test]
fn borrows_alive_at_once_on_one_thread_do_not_wait_for_each_other() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (tx, rx) = watch::channel(5);
        let rx2 = rx.clone();
        let both = *rx.borrow() + *rx2.borrow();
        let (a, b) = (tx.borrow(), rx.borrow());
        let _ = done_tx.send((both, *a, *b));
    });
    let got = done_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("a second borrow on the same thread waited for the first");
    assert_eq!(got, (10, 5, 5));
}

#[test]
fn subscribe_and_clone_start_from_the_right_version() {
    let (tx, rx) = watch::channel(0);
    tx.send(1).unwrap();
    let sub = tx.subscribe();
    assert_eq!(sub.has_changed(), Ok(false));
    let clone = rx.clone();
    assert_eq!(
        clone.has_changed(),
        Ok(true),
        "the clone has seen what rx had seen"
    );
    assert_eq!(tx.receiver_count(), 3);
}

#[test]
fn send_fails_only_when_every_receiver_is_gone() {
    let (tx, rx) = watch::channel(String::new());
    let rx2 = rx.clone();
    drop(rx);
    assert_eq!(tx.send("one".into()), Ok(()));
    assert!(!tx.is_closed());
    drop(rx2);
    assert!(tx.is_closed());
    assert_eq!(tx.send("two".into()), Err(SendError("two".into())));
    assert_eq!(*tx.borrow(), "one", "a failed send stores nothing");
    // send_replace and send_modify store anyway.
    assert_eq!(tx.send_replace("three".into()), "one");
    tx.send_modify(|s| s.push('!'));
    assert_eq!(*tx.borrow(), "three!");
    // A new subscriber revives sending.
    let rx3 = tx.subscribe();
    assert_eq!(tx.send("four".into()), Ok(()));
    assert_eq!(*rx3.borrow(), "four");
}

#[test]
fn dropped_sender_fails_changed_only_after_the_last_value_was_seen() {
    let (tx, mut rx) = watch::channel(0);
    tx.send(1).unwrap();
    drop(tx);
    assert_eq!(rx.has_changed(), Ok(true));
    future::block_on(async {
        assert_eq!(rx.changed().await, Ok(()));
        assert_eq!(*rx.borrow(), 1);
        assert_eq!(rx.changed().await, Err(RecvError));
        assert_eq!(rx.changed().await, Err(RecvError));
    });
    assert_eq!(rx.has_changed(), Err(RecvError));
}

#[test]
fn dropping_the_sender_wakes_waiting_receivers() {
    let (tx, mut a) = watch::channel(());
    let mut b = a.clone();
    let mut ca = Manual::new(a.changed());
    let mut cb = Manual::new(b.changed());
    ca.pending();
    cb.pending();
    drop(tx);
    assert!(ca.woken() && cb.woken());
    assert_eq!(ca.ready(), Err(RecvError));
    assert_eq!(cb.ready(), Err(RecvError));
}

#[test]
fn one_send_wakes_every_waiting_receiver() {
    let (tx, rx) = watch::channel(0);
    let mut receivers: Vec<_> = (0..5).map(|_| rx.clone()).collect();
    let mut waits: Vec<_> = receivers
        .iter_mut()
        .map(|r| Manual::new(r.changed()))
        .collect();
    for w in &mut waits {
        w.pending();
    }
    tx.send_modify(|v| *v += 1);
    for w in &mut waits {
        assert!(w.woken());
        assert_eq!(w.ready(), Ok(()));
    }
}

#[test]
fn errors_display_lowercase_without_period_and_are_errors() {
    fn is_error<E: std::error::Error>(_: &E) {}
    struct NotDebug;
    assert_eq!(SendError(1).to_string(), "watch channel has no receivers");
    assert_eq!(RecvError.to_string(), "watch sender dropped");
    assert_eq!(format!("{:?}", SendError(NotDebug)), "SendError { .. }");
    is_error(&SendError(NotDebug));
    is_error(&RecvError);
}

#[test]
fn borrow_guard_derefs_and_debugs() {
    let (tx, rx) = watch::channel(vec![1, 2]);
    assert_eq!(rx.borrow().len(), 2);
    assert_eq!(format!("{:?}", rx.borrow()), "[1, 2]");
    assert_eq!(format!("{:?}", tx.borrow()), "[1, 2]");
}

// Cancellation: a dropped `changed` loses nothing, whatever state it was in.

#[test]
fn dropped_changed_before_its_first_poll_marks_nothing_seen() {
    let (tx, mut rx) = watch::channel(0);
    tx.send(1).unwrap();
    drop(rx.changed());
    assert_eq!(rx.has_changed(), Ok(true));
}

#[test]
fn dropped_waiting_or_woken_changed_loses_nothing() {
    let (tx, mut rx) = watch::channel(0);
    let mut dropped = Vec::new();
    for _ in 0..100 {
        let mut changed = Manual::new(rx.changed());
        changed.pending(); // registered, then dropped
        dropped.push(changed.counter.clone());
    }
    let mut changed = Manual::new(rx.changed());
    changed.pending();
    tx.send(1).unwrap();
    assert!(changed.woken());
    // A registration left behind would have been woken by the send.
    assert!(dropped.iter().all(|c| c.count() == 0));
    drop(changed); // woken but never ran again
    assert_eq!(rx.has_changed(), Ok(true));
    future::block_on(rx.changed()).unwrap();
    assert_eq!(*rx.borrow(), 1);
}

#[test]
fn changed_in_a_race_loop_never_misses_the_last_value() {
    let (tx, mut rx) = watch::channel(0u32);
    let mut last = 0;
    future::block_on(async {
        for round in 1..=200u32 {
            if round % 7 == 0 {
                tx.send(round).unwrap();
            }
            let changed = async { Some(rx.changed().await) };
            let other = async {
                future::yield_now().await;
                None
            };
            if let Some(res) = future::or(changed, other).await {
                res.unwrap();
                last = *rx.borrow_and_update();
            }
        }
        drop(tx);
        while rx.changed().await.is_ok() {
            last = *rx.borrow_and_update();
        }
    });
    assert_eq!(last, 196);
}

#[test]
fn a_repolled_changed_with_nothing_new_waits_again() {
    let (tx, mut rx) = watch::channel(0);
    let mut changed = Manual::new(rx.changed());
    changed.pending();
    changed.pending();
    assert!(matches!(changed.poll(), Poll::Pending));
    tx.send(1).unwrap();
    assert!(changed.woken());
    assert_eq!(changed.ready(), Ok(()));
}

// Real threads.

#[test]
fn stress_receivers_see_increasing_values_and_never_miss_the_last() {
    let last = u64::try_from(stress(20_000)).unwrap();
    let (tx, rx) = watch::channel(0u64);
    let watchers: Vec<_> = (0..4)
        .map(|_| {
            let mut rx = rx.clone();
            std::thread::spawn(move || {
                let mut seen = 0u64;
                let mut wakes = 0u64;
                while rx.changed_blocking().is_ok() {
                    let v = *rx.borrow_and_update();
                    assert!(v > seen, "values went backwards: {v} after {seen}");
                    seen = v;
                    wakes += 1;
                }
                (seen, wakes)
            })
        })
        .collect();
    drop(rx);
    let senders = std::thread::spawn(move || {
        for i in 1..=last {
            tx.send(i).unwrap();
        }
    });
    senders.join().unwrap();
    for w in watchers {
        let (seen, wakes) = w.join().unwrap();
        assert_eq!(seen, last);
        assert!(wakes >= 1 && wakes <= last);
    }
}

#[test]
fn shutdown_flag_on_a_foreign_executor() {
    let exec = MiniExecutor::new(2);
    let (tx, rx) = watch::channel(false);
    let stopped = Arc::new(AtomicBool::new(false));
    for _ in 0..16 {
        let mut rx = rx.clone();
        let stopped = stopped.clone();
        exec.spawn(async move {
            while !*rx.borrow_and_update() {
                rx.changed().await.unwrap();
            }
            stopped.store(true, Ordering::SeqCst);
        });
    }
    tx.send(true).unwrap();
    exec.join();
    assert!(stopped.load(Ordering::SeqCst));
    drop(rx);
}

// proptest: the channel against a model (a value, a version, and the version each receiver saw).

#[derive(Clone, Debug)]
enum Op {
    Send(u32),
    SendReplace(u32),
    SendModify,
    Borrow(usize),
    BorrowAndUpdate(usize),
    HasChanged(usize),
    /// Polls a fresh `changed` once and drops it.
    PollChanged(usize),
    Subscribe,
    Clone(usize),
    DropRx(usize),
    DropSender,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u32>().prop_map(Op::Send),
        1 => any::<u32>().prop_map(Op::SendReplace),
        1 => Just(Op::SendModify),
        2 => (0usize..5).prop_map(Op::Borrow),
        2 => (0usize..5).prop_map(Op::BorrowAndUpdate),
        2 => (0usize..5).prop_map(Op::HasChanged),
        3 => (0usize..5).prop_map(Op::PollChanged),
        1 => Just(Op::Subscribe),
        1 => (0usize..5).prop_map(Op::Clone),
        1 => (0usize..5).prop_map(Op::DropRx),
        1 => Just(Op::DropSender),
    ]
}

struct Model {
    value: u32,
    version: u64,
    closed: bool,
    seen: Vec<u64>,
}

impl Model {
    fn changed(&self, i: usize) -> Result<bool, RecvError> {
        if self.seen[i] != self.version {
            Ok(true)
        } else if self.closed {
            Err(RecvError)
        } else {
            Ok(false)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn matches_a_version_model(ops in proptest::collection::vec(op(), 1..80)) {
        let (tx, rx) = watch::channel(0u32);
        let mut tx = Some(tx);
        let mut rxs = vec![rx];
        let mut m = Model { value: 0, version: 0, closed: false, seen: vec![0] };
        for op in ops {
            match op {
                Op::Send(v) => {
                    let Some(tx) = &tx else { continue };
                    let got = tx.send(v);
                    if m.seen.is_empty() {
                        prop_assert_eq!(got, Err(SendError(v)));
                    } else {
                        prop_assert_eq!(got, Ok(()));
                        m.value = v;
                        m.version += 1;
                    }
                }
                Op::SendReplace(v) => {
                    let Some(tx) = &tx else { continue };
                    prop_assert_eq!(tx.send_replace(v), m.value);
                    m.value = v;
                    m.version += 1;
                }
                Op::SendModify => {
                    let Some(tx) = &tx else { continue };
                    tx.send_modify(|v| *v = v.wrapping_add(1));
                    m.value = m.value.wrapping_add(1);
                    m.version += 1;
                }
                Op::Borrow(i) if i < rxs.len() => prop_assert_eq!(*rxs[i].borrow(), m.value),
                Op::BorrowAndUpdate(i) if i < rxs.len() => {
                    prop_assert_eq!(*rxs[i].borrow_and_update(), m.value);
                    m.seen[i] = m.version;
                }
                Op::HasChanged(i) if i < rxs.len() => {
                    prop_assert_eq!(rxs[i].has_changed(), m.changed(i));
                }
                Op::PollChanged(i) if i < rxs.len() => {
                    let want = m.changed(i);
                    let got = {
                        let mut changed = std::pin::pin!(rxs[i].changed());
                        support::poll_once(&mut changed)
                    };
                    match want {
                        Ok(true) => {
                            prop_assert_eq!(got, Poll::Ready(Ok(())));
                            m.seen[i] = m.version;
                        }
                        Ok(false) => prop_assert_eq!(got, Poll::Pending),
                        Err(e) => prop_assert_eq!(got, Poll::Ready(Err(e))),
                    }
                }
                Op::Subscribe => {
                    let Some(tx) = &tx else { continue };
                    rxs.push(tx.subscribe());
                    m.seen.push(m.version);
                }
                Op::Clone(i) if i < rxs.len() => {
                    rxs.push(rxs[i].clone());
                    m.seen.push(m.seen[i]);
                }
                Op::DropRx(i) if i < rxs.len() => {
                    drop(rxs.swap_remove(i));
                    m.seen.swap_remove(i);
                }
                Op::DropSender => {
                    drop(tx.take());
                    m.closed = true;
                }
                _ => {}
            }
            if let Some(tx) = &tx {
                prop_assert_eq!(tx.receiver_count(), m.seen.len());
                prop_assert_eq!(*tx.borrow(), m.value);
            }
        }
    }
}

#[test]
fn handles_and_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<watch::Sender<String>>();
    send_sync::<watch::Receiver<String>>();
    send_sync::<watch::Changed<'static, String>>();
    send_sync::<SendError<String>>();
}
