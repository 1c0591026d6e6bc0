//! oneshot: values, errors as values, dropped halves, cancellation, threads.

mod support;

use corio_sync::oneshot::{self, RecvError, TryRecvError};
use futures_lite::future;
use support::Manual;

#[test]
fn send_then_receive_and_error_values() {
    future::block_on(async {
        let (tx, rx) = oneshot::channel();
        tx.send(1).unwrap();
        assert_eq!(rx.await, Ok(1));

        // asyncio's set_exception: the value is a Result.
        let (tx, rx) = oneshot::channel::<Result<u8, &str>>();
        tx.send(Err("boom")).unwrap();
        assert_eq!(rx.await, Ok(Err("boom")));
    });
}

#[test]
fn receiver_waits_and_is_woken_by_send() {
    let (tx, rx) = oneshot::channel();
    let mut rx = Manual::new(rx);
    rx.pending();
    tx.send("v").unwrap();
    assert!(rx.woken());
    assert_eq!(rx.ready(), Ok("v"));
    // Polled again after completion: an error, not a panic.
    assert_eq!(rx.ready(), Err(RecvError));
}

#[test]
fn dropped_sender_fails_the_receiver() {
    let (tx, rx) = oneshot::channel::<u8>();
    let mut rx = Manual::new(rx);
    rx.pending();
    drop(tx);
    assert!(rx.woken());
    assert_eq!(rx.ready(), Err(RecvError));
    assert_eq!(
        RecvError.to_string(),
        "sender dropped without sending a value"
    );
}

#[test]
fn dropped_receiver_hands_value_back_and_wakes_closed() {
    let (mut tx, rx) = oneshot::channel::<String>();
    assert!(!tx.is_closed());
    let mut closed = Manual::new(tx.closed());
    closed.pending();
    drop(rx);
    assert!(closed.woken());
    closed.ready();
    drop(closed);
    assert!(tx.is_closed());
    assert_eq!(tx.send("x".into()), Err("x".into()));
}

#[test]
fn try_recv_states() {
    let (tx, mut rx) = oneshot::channel();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send(9).unwrap();
    assert_eq!(rx.try_recv(), Ok(9));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn value_sent_to_a_receiver_that_is_then_dropped_is_dropped_once() {
    use std::sync::Arc;
    let token = Arc::new(());
    let (tx, rx) = oneshot::channel();
    tx.send(token.clone()).unwrap();
    drop(rx);
    assert_eq!(Arc::strong_count(&token), 1);
}

#[test]
fn oneshot_across_threads() {
    for i in 0..support::stress(200) {
        let (tx, rx) = oneshot::channel();
        let t = std::thread::spawn(move || tx.send(i).unwrap());
        assert_eq!(rx.recv_blocking(), Ok(i));
        t.join().unwrap();
    }
}

#[test]
fn halves_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let (tx, rx) = oneshot::channel::<String>();
    is_send(&tx);
    is_send(&rx);
}
