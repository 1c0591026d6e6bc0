//! A proptest model of listeners: any sequence of creating listeners, dropping them, raising
//! the signal and polling them behaves as "each listener has a pending flag; a delivery sets
//! every flag; a poll returns `Some` and clears its flag exactly when it was set".
//!
//! This binary owns SIGXCPU (no other test in it raises a signal).
#![cfg(unix)]

use corio_signal::unix::{Signal, SignalKind, signal};
use futures_lite::future::{block_on, poll_once};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    New,
    Drop(usize),
    Raise,
    Poll(usize),
    /// Poll once and drop the future while it waits (a cancelled `recv`).
    Abandon(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::New),
        1 => any::<usize>().prop_map(Op::Drop),
        2 => Just(Op::Raise),
        3 => any::<usize>().prop_map(Op::Poll),
        1 => any::<usize>().prop_map(Op::Abandon),
    ]
}

fn raise() {
    // SAFETY: a listener for SIGXCPU exists for the whole test (`keep`), so corio's handler
    // runs instead of the default action.
    let rc = unsafe { libc::raise(libc::SIGXCPU) };
    assert_eq!(rc, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn listeners_follow_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let kind = SignalKind::from_raw(libc::SIGXCPU);
        let keep = signal(kind).unwrap();
        let mut real: Vec<Signal> = Vec::new();
        let mut model: Vec<bool> = Vec::new();
        for op in ops {
            match op {
                Op::New => {
                    real.push(signal(kind).unwrap());
                    model.push(false);
                }
                Op::Drop(i) if !real.is_empty() => {
                    let i = i % real.len();
                    drop(real.remove(i));
                    model.remove(i);
                }
                Op::Raise => {
                    raise();
                    model.iter_mut().for_each(|p| *p = true);
                }
                Op::Poll(i) if !real.is_empty() => {
                    let i = i % real.len();
                    let got = block_on(poll_once(real[i].recv()));
                    let want = if model[i] { Some(Some(())) } else { None };
                    prop_assert_eq!(got, want, "listener {}", i);
                    model[i] = false;
                }
                Op::Abandon(i) if !real.is_empty() => {
                    let i = i % real.len();
                    if !model[i] {
                        let mut recv = real[i].recv();
                        prop_assert!(block_on(poll_once(&mut recv)).is_none());
                    }
                }
                _ => {}
            }
        }
        drop(keep);
    }
}
