//! broadcast: contract, lag, close, value lifetimes, cancellation, a proptest model against one
//! `VecDeque` per receiver, and real-thread stress with several senders and receivers.

mod support;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::Poll;

use corio_sync::broadcast::{self, RecvError, SendError, TryRecvError};
use futures_lite::future;
use proptest::prelude::*;
use support::{Manual, MiniExecutor, cases, stress};

#[test]
fn every_receiver_sees_every_value_in_order() {
    let (tx, mut a) = broadcast::channel(8);
    let mut b = tx.subscribe();
    assert_eq!(tx.receiver_count(), 2);
    for i in 0..5 {
        assert_eq!(tx.send(i), Ok(2));
    }
    future::block_on(async {
        for i in 0..5 {
            assert_eq!(a.recv().await, Ok(i));
        }
        for i in 0..5 {
            assert_eq!(b.recv().await, Ok(i));
        }
    });
    assert_eq!(a.try_recv(), Err(TryRecvError::Empty));
    assert!(tx.is_empty());
}

#[test]
fn subscribe_sees_only_later_values_and_send_counts_receivers() {
    let (tx, mut a) = broadcast::channel(4);
    assert_eq!(tx.send("early"), Ok(1));
    let mut late = tx.subscribe();
    assert_eq!(late.len(), 0);
    assert_eq!(tx.send("late"), Ok(2));
    assert_eq!(late.try_recv(), Ok("late"));
    assert_eq!(a.try_recv(), Ok("early"));
    assert_eq!(a.try_recv(), Ok("late"));
    drop(late);
    assert_eq!(tx.send("x"), Ok(1));
    let resub = a.resubscribe();
    assert_eq!(resub.len(), 0);
    assert_eq!(a.len(), 1);
    assert_eq!(a.receiver_count(), 2);
}

#[test]
fn send_without_receivers_hands_the_value_back() {
    let (tx, rx) = broadcast::channel(4);
    drop(rx);
    assert_eq!(
        tx.send(String::from("v")),
        Err(SendError(String::from("v")))
    );
    assert!(tx.is_empty());
    // A later subscriber does not see it.
    let mut rx = tx.subscribe();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn lagging_receiver_gets_lagged_once_then_the_oldest_value_held() {
    let (tx, mut slow) = broadcast::channel(3);
    let mut fast = tx.subscribe();
    for i in 0..10u64 {
        tx.send(i).unwrap();
        assert_eq!(fast.try_recv(), Ok(i));
    }
    assert_eq!(slow.len(), 3);
    assert_eq!(tx.len(), 3);
    future::block_on(async {
        assert_eq!(slow.recv().await, Err(RecvError::Lagged(7)));
        assert_eq!(slow.recv().await, Ok(7));
        assert_eq!(slow.recv().await, Ok(8));
        assert_eq!(slow.recv().await, Ok(9));
    });
    assert_eq!(slow.try_recv(), Err(TryRecvError::Empty));
    assert!(tx.is_empty());
}

#[test]
fn closed_only_after_every_sender_is_gone_and_everything_was_read() {
    let (tx, mut rx) = broadcast::channel(2);
    let tx2 = tx.clone();
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    drop(tx);
    tx2.send(3).unwrap();
    drop(tx2);
    future::block_on(async {
        assert_eq!(rx.recv().await, Err(RecvError::Lagged(2)));
        assert_eq!(rx.recv().await, Ok(2));
        assert_eq!(rx.recv().await, Ok(3));
        assert_eq!(rx.recv().await, Err(RecvError::Closed));
        assert_eq!(rx.recv().await, Err(RecvError::Closed));
    });
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn close_wakes_a_waiting_receiver() {
    let (tx, mut rx) = broadcast::channel::<u8>(2);
    let mut recv = Manual::new(rx.recv());
    recv.pending();
    let tx2 = tx.clone();
    drop(tx);
    assert!(!recv.woken(), "one sender is still alive");
    drop(tx2);
    assert!(recv.woken());
    assert_eq!(recv.ready(), Err(RecvError::Closed));
}

/// API.md: no call panics on bad input such as a zero capacity. A broadcast channel of zero
/// capacity has room for one value (a ring of none could hold nothing for anyone).
#[test]
fn zero_capacity_means_room_for_one_value() {
    futures_lite::future::block_on(async {
        let (tx, mut rx) = broadcast::channel::<u8>(0);
        assert_eq!(tx.send(1), Ok(1));
        assert_eq!(rx.recv().await, Ok(1));
        for v in 2..=4 {
            tx.send(v).unwrap();
        }
        assert_eq!(rx.recv().await, Err(RecvError::Lagged(2)));
        assert_eq!(rx.recv().await, Ok(4));
    });
}

#[test]
fn huge_capacity_allocates_lazily() {
    let (tx, mut rx) = broadcast::channel(usize::MAX);
    tx.send(1u8).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn errors_display_lowercase_without_period_and_are_errors() {
    fn is_error<E: std::error::Error>(_: &E) {}
    let cases: [(&dyn std::fmt::Display, &str); 6] = [
        (&SendError(1), "broadcast channel has no receivers"),
        (&RecvError::Closed, "broadcast channel closed"),
        (
            &RecvError::Lagged(4),
            "receiver lagged behind and missed 4 values",
        ),
        (
            &TryRecvError::Empty,
            "broadcast channel has no unread value",
        ),
        (&TryRecvError::Closed, "broadcast channel closed"),
        (
            &TryRecvError::Lagged(2),
            "receiver lagged behind and missed 2 values",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
    }
    is_error(&SendError(NotDebug));
    is_error(&RecvError::Closed);
    is_error(&TryRecvError::Empty);
    assert_eq!(format!("{:?}", SendError(NotDebug)), "SendError { .. }");
    assert_eq!(format!("{:?}", RecvError::Lagged(1)), "Lagged(1)");
}

struct NotDebug;

/// A value that counts its live instances (clones included).
#[derive(Debug)]
struct Tracked {
    id: u32,
    live: Arc<AtomicIsize>,
}

impl Tracked {
    fn new(id: u32, live: &Arc<AtomicIsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Self {
            id,
            live: live.clone(),
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Self::new(self.id, &self.live)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn values_are_dropped_once_every_receiver_saw_them_or_left() {
    let live = Arc::new(AtomicIsize::new(0));
    let (tx, mut a) = broadcast::channel(8);
    let mut b = tx.subscribe();
    for i in 0..4 {
        tx.send(Tracked::new(i, &live)).unwrap();
    }
    assert_eq!(live.load(Ordering::SeqCst), 4);
    drop(a.try_recv().unwrap());
    drop(a.try_recv().unwrap());
    assert_eq!(live.load(Ordering::SeqCst), 4, "b has not read them yet");
    drop(b.try_recv().unwrap());
    assert_eq!(live.load(Ordering::SeqCst), 3);
    assert_eq!(tx.len(), 3);
    // Dropping b releases its claims: values a has read go away.
    drop(b);
    assert_eq!(live.load(Ordering::SeqCst), 2);
    assert_eq!(tx.len(), 2);
    // A clone at a's position claims what a has left.
    let mut c = a.clone();
    drop(a);
    assert_eq!(live.load(Ordering::SeqCst), 2);
    assert_eq!(c.try_recv().unwrap().id, 2);
    assert_eq!(c.try_recv().unwrap().id, 3);
    assert_eq!(live.load(Ordering::SeqCst), 0);
    // Overwritten values are dropped too.
    for i in 0..20 {
        tx.send(Tracked::new(i, &live)).unwrap();
    }
    assert_eq!(live.load(Ordering::SeqCst), 8);
    drop(c);
    assert_eq!(live.load(Ordering::SeqCst), 0);
    drop(tx);
}

#[test]
fn the_last_reader_gets_the_value_without_a_clone() {
    #[derive(Debug)]
    struct CountClones(Arc<AtomicIsize>);
    impl Clone for CountClones {
        fn clone(&self) -> Self {
            self.0.fetch_add(1, Ordering::SeqCst);
            Self(self.0.clone())
        }
    }
    let clones = Arc::new(AtomicIsize::new(0));
    let (tx, mut a) = broadcast::channel(2);
    let mut b = tx.subscribe();
    tx.send(CountClones(clones.clone())).unwrap();
    a.try_recv().unwrap();
    b.try_recv().unwrap();
    assert_eq!(clones.load(Ordering::SeqCst), 1);
}

#[test]
fn a_value_dropped_by_the_channel_may_use_the_channel() {
    // The channel drops values outside its lock: a value holding a receiver of the same channel
    // can be dropped (through overwrite or a receiver's drop) without a deadlock.
    #[derive(Clone)]
    struct Holds(#[allow(dead_code)] Option<Arc<std::sync::Mutex<broadcast::Receiver<Holds>>>>);
    let (tx, rx) = broadcast::channel::<Holds>(1);
    let inner = Arc::new(std::sync::Mutex::new(tx.subscribe()));
    tx.send(Holds(Some(inner))).unwrap();
    tx.send(Holds(None)).unwrap(); // overwrites the value holding the receiver
    drop(rx);
}

// Cancellation: a dropped `recv` loses nothing, whatever state it was in.

#[test]
fn dropped_recv_before_its_first_poll_loses_nothing() {
    let (tx, mut rx) = broadcast::channel(2);
    tx.send(1).unwrap();
    drop(rx.recv());
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn dropped_waiting_recv_loses_nothing_and_leaves_no_registration() {
    let (tx, mut rx) = broadcast::channel(2);
    let mut dropped = Vec::new();
    for _ in 0..100 {
        let mut recv = Manual::new(rx.recv());
        recv.pending();
        dropped.push(recv.counter.clone());
    }
    let mut recv = Manual::new(rx.recv());
    recv.pending();
    tx.send(7).unwrap();
    assert!(recv.woken());
    // A registration left behind would have been woken by the send.
    assert!(dropped.iter().all(|c| c.count() == 0));
    drop(recv); // woken but never ran again
    assert_eq!(rx.try_recv(), Ok(7));
    assert_eq!(tx.len(), 0);
}

#[test]
fn recv_in_a_race_loop_loses_nothing() {
    // The shape of a `select!` loop: each round creates a recv and drops it if the other side
    // wins. Every value sent must still come out exactly once, in order.
    let (tx, mut rx) = broadcast::channel(64);
    let mut got = Vec::new();
    future::block_on(async {
        for round in 0..200u32 {
            if round % 3 == 0 {
                tx.send(round).unwrap();
            }
            let recv = async { Some(rx.recv().await) };
            let other = async {
                future::yield_now().await;
                None
            };
            if let Some(v) = future::or(recv, other).await {
                got.push(v.unwrap());
            }
        }
        drop(tx);
        while let Ok(v) = rx.recv().await {
            got.push(v);
        }
    });
    let want: Vec<u32> = (0..200).filter(|r| r % 3 == 0).collect();
    assert_eq!(got, want);
}

#[test]
fn every_waiting_receiver_is_woken_by_one_send() {
    let (tx, rx) = broadcast::channel(2);
    let mut receivers: Vec<_> = (0..5).map(|_| rx.resubscribe()).collect();
    let mut recvs: Vec<_> = receivers
        .iter_mut()
        .map(|r| Manual::new(r.recv()))
        .collect();
    for r in &mut recvs {
        r.pending();
    }
    assert_eq!(tx.send('z'), Ok(6));
    for r in &mut recvs {
        assert!(r.woken());
        assert_eq!(r.ready(), Ok('z'));
    }
}

#[test]
fn a_repolled_recv_with_nothing_new_waits_again() {
    let (tx, mut rx) = broadcast::channel(2);
    let mut recv = Manual::new(rx.recv());
    recv.pending();
    recv.pending();
    assert!(matches!(recv.poll(), Poll::Pending));
    tx.send(1).unwrap();
    assert!(recv.woken());
    assert_eq!(recv.ready(), Ok(1));
}

#[test]
fn fan_out_on_a_foreign_executor() {
    let exec = MiniExecutor::new(2);
    let (tx, rx) = broadcast::channel(16);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for _ in 0..8 {
        let mut rx = rx.resubscribe();
        let done_tx = done_tx.clone();
        exec.spawn(async move {
            let mut sum = 0u64;
            let mut lagged = 0u64;
            loop {
                match rx.recv().await {
                    Ok(v) => sum += v,
                    Err(RecvError::Lagged(n)) => lagged += n,
                    Err(RecvError::Closed) => break,
                }
            }
            done_tx.send((sum, lagged)).unwrap();
        });
    }
    drop(rx);
    let sender = std::thread::spawn(move || {
        for i in 1..=500u64 {
            while tx.len() >= 16 {
                std::thread::yield_now(); // pace the sender so that nobody lags
            }
            tx.send(i).unwrap();
        }
    });
    sender.join().unwrap();
    exec.join();
    drop(done_tx);
    let results: Vec<_> = done_rx.iter().collect();
    assert_eq!(results.len(), 8);
    for (sum, lagged) in results {
        assert_eq!((sum, lagged), (500 * 501 / 2, 0));
    }
}

// Real-thread stress: several senders and receivers on threads.

/// What one receiver saw: values and lag reports, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Value(u32, u32),
    Lagged(u64),
}

fn run_stress(cap: usize, senders: u32, receivers: usize, per_sender: u32) -> Vec<Vec<Seen>> {
    let (tx, rx) = broadcast::channel::<(u32, u32)>(cap);
    let rxs: Vec<_> = (0..receivers).map(|_| rx.resubscribe()).collect();
    drop(rx);
    let recv_threads: Vec<_> = rxs
        .into_iter()
        .map(|mut rx| {
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                loop {
                    match rx.recv_blocking() {
                        Ok((s, i)) => seen.push(Seen::Value(s, i)),
                        Err(RecvError::Lagged(n)) => seen.push(Seen::Lagged(n)),
                        Err(RecvError::Closed) => return seen,
                    }
                }
            })
        })
        .collect();
    let send_threads: Vec<_> = (0..senders)
        .map(|s| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..per_sender {
                    assert_eq!(tx.send((s, i)), Ok(receivers));
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for t in send_threads {
        t.join().unwrap();
    }
    recv_threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect()
}

/// Checks the receivers' views against each other: each one accounts for every value sent
/// (received or reported lagged), sees each sender's values in order, and agrees with every other
/// receiver on the value at each position. (Two lag reports in a row are possible: the ring can
/// wrap again between a `Lagged` and the next `recv`.)
fn check_views(views: &[Vec<Seen>], senders: u32, per_sender: u32) {
    let total = u64::from(senders) * u64::from(per_sender);
    let mut by_position: Vec<Option<(u32, u32)>> = vec![None; total as usize];
    for view in views {
        let mut position = 0u64;
        let mut last_of: Vec<Option<u32>> = vec![None; senders as usize];
        for seen in view {
            match *seen {
                Seen::Lagged(n) => {
                    assert!(n > 0, "an empty lag report at position {position}");
                    position += n;
                }
                Seen::Value(s, i) => {
                    if let Some(last) = last_of[s as usize] {
                        assert!(i > last, "sender {s}'s values out of order");
                    }
                    last_of[s as usize] = Some(i);
                    let slot = &mut by_position[position as usize];
                    match slot {
                        Some(other) => assert_eq!(*other, (s, i), "receivers disagree"),
                        None => *slot = Some((s, i)),
                    }
                    position += 1;
                }
            }
        }
        assert_eq!(position, total, "a receiver lost track of some values");
    }
}

#[test]
fn stress_without_lag_every_receiver_sees_everything_in_the_same_order() {
    let per_sender = u32::try_from(stress(2_000)).unwrap();
    let senders = 3;
    // The ring holds everything, so nobody can lag.
    let views = run_stress((senders * per_sender) as usize, senders, 3, per_sender);
    for view in &views {
        assert_eq!(view.len(), (senders * per_sender) as usize);
        assert!(view.iter().all(|s| matches!(s, Seen::Value(..))));
        assert_eq!(view, &views[0]);
    }
    check_views(&views, senders, per_sender);
}

#[test]
fn stress_with_a_small_ring_accounts_for_every_value_with_lag_counts() {
    let per_sender = u32::try_from(stress(5_000)).unwrap();
    let senders = 3;
    let views = run_stress(4, senders, 4, per_sender);
    check_views(&views, senders, per_sender);
}

// proptest: the channel against a reference model with one VecDeque per receiver.

#[derive(Clone, Debug)]
enum Op {
    Send(u32),
    TryRecv(usize),
    /// Polls a fresh `recv` once and drops it (Ready or not).
    PollRecv(usize),
    Subscribe,
    Clone(usize),
    Resubscribe(usize),
    DropRx(usize),
    DropSender,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<u32>().prop_map(Op::Send),
        4 => (0usize..6).prop_map(Op::TryRecv),
        3 => (0usize..6).prop_map(Op::PollRecv),
        1 => Just(Op::Subscribe),
        1 => (0usize..6).prop_map(Op::Clone),
        1 => (0usize..6).prop_map(Op::Resubscribe),
        1 => (0usize..6).prop_map(Op::DropRx),
        1 => Just(Op::DropSender),
    ]
}

/// One receiver of the model: the values it took in a batch, the values it will read from the
/// ring, and how many it lost since it last read.
#[derive(Clone, Debug, Default)]
struct ModelRx {
    taken: VecDeque<u32>,
    queue: VecDeque<u32>,
    lost: u64,
}

impl ModelRx {
    /// `batch`: how many values one visit to the ring takes (the module docs' "Batches").
    fn recv(&mut self, closed: bool, batch: usize) -> Result<u32, TryRecvError> {
        if let Some(v) = self.taken.pop_front() {
            return Ok(v);
        }
        if self.lost > 0 {
            return Err(TryRecvError::Lagged(std::mem::take(&mut self.lost)));
        }
        match self.queue.pop_front() {
            Some(v) => {
                while self.taken.len() + 1 < batch {
                    let Some(more) = self.queue.pop_front() else {
                        break;
                    };
                    self.taken.push_back(more);
                }
                Ok(v)
            }
            None if closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    fn len(&self) -> usize {
        self.taken.len() + self.queue.len()
    }
}

/// The batch size the module docs promise for a channel of capacity `cap`.
fn batch_for(cap: usize) -> usize {
    if cap < 256 { 1 } else { (cap / 16).min(64) }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn matches_a_queue_per_receiver_model(
        cap in 1usize..5,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        check_model(cap, 1, ops)?;
    }

    /// Large channels, where receivers take values in batches: sends come in bursts so that
    /// batches, lag across a batch and clones of a receiver with taken values all happen.
    #[test]
    fn matches_the_model_with_batches(
        cap in prop_oneof![Just(256usize), Just(300), Just(1024)],
        ops in proptest::collection::vec(op(), 1..120),
        burst in 1usize..40,
    ) {
        let ops = ops.into_iter().flat_map(|op| {
            let n = if matches!(op, Op::Send(_)) { burst } else { 1 };
            std::iter::repeat_n(op, n)
        });
        check_model(cap, batch_for(cap), ops.collect())?;
    }
}

fn check_model(cap: usize, batch: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    {
        let live = Arc::new(AtomicIsize::new(0));
        let (tx, rx) = broadcast::channel::<Tracked>(cap);
        let mut tx = Some(tx);
        let mut rxs = vec![rx];
        let mut model = vec![ModelRx::default()];
        for op in ops {
            let closed = tx.is_none();
            match op {
                Op::Send(v) => {
                    let Some(tx) = &tx else { continue };
                    let got = tx.send(Tracked::new(v, &live)).map_err(|e| e.0.id);
                    if model.is_empty() {
                        prop_assert_eq!(got, Err(v));
                    } else {
                        prop_assert_eq!(got, Ok(model.len()));
                        for m in &mut model {
                            m.queue.push_back(v);
                            if m.queue.len() > cap {
                                m.queue.pop_front();
                                m.lost += 1;
                            }
                        }
                    }
                }
                Op::TryRecv(i) | Op::PollRecv(i) if i < rxs.len() => {
                    let want = model[i].recv(closed, batch);
                    let got = if matches!(op, Op::TryRecv(_)) {
                        rxs[i].try_recv().map(|t| t.id)
                    } else {
                        let mut recv = std::pin::pin!(rxs[i].recv());
                        match support::poll_once(&mut recv) {
                            Poll::Ready(Ok(t)) => Ok(t.id),
                            Poll::Ready(Err(RecvError::Lagged(n))) => Err(TryRecvError::Lagged(n)),
                            Poll::Ready(Err(RecvError::Closed)) => Err(TryRecvError::Closed),
                            Poll::Pending => Err(TryRecvError::Empty),
                        }
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Subscribe => {
                    let Some(tx) = &tx else { continue };
                    rxs.push(tx.subscribe());
                    model.push(ModelRx::default());
                }
                Op::Clone(i) if i < rxs.len() => {
                    rxs.push(rxs[i].clone());
                    model.push(model[i].clone());
                }
                Op::Resubscribe(i) if i < rxs.len() => {
                    rxs.push(rxs[i].resubscribe());
                    model.push(ModelRx::default());
                }
                Op::DropRx(i) if i < rxs.len() => {
                    drop(rxs.swap_remove(i));
                    model.swap_remove(i);
                }
                Op::DropSender => drop(tx.take()),
                _ => {}
            }
            // The ring holds exactly the values some receiver will still read, one instance each;
            // every value taken in a batch is one more instance, held by its receiver.
            let held = model.iter().map(|m| m.queue.len()).max().unwrap_or(0);
            let taken: usize = model.iter().map(|m| m.taken.len()).sum();
            prop_assert_eq!(live.load(Ordering::SeqCst), (held + taken) as isize);
            if let Some(tx) = &tx {
                prop_assert_eq!(tx.len(), held);
                prop_assert_eq!(tx.receiver_count(), model.len());
            }
            for (rx, m) in rxs.iter().zip(&model) {
                prop_assert_eq!(rx.len(), m.len());
            }
        }
        drop(rxs);
        prop_assert_eq!(live.load(Ordering::SeqCst), 0);
    }
    Ok(())
}

#[test]
fn handles_and_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<broadcast::Sender<String>>();
    send_sync::<broadcast::Receiver<String>>();
    send_sync::<broadcast::Recv<'static, String>>();
    send_sync::<SendError<String>>();
}

#[test]
fn a_panicking_clone_leaves_the_value_unread() {
    use std::sync::atomic::AtomicBool;
    static FAIL: AtomicBool = AtomicBool::new(true);
    #[derive(Debug, PartialEq)]
    struct Flaky(u8);
    impl Clone for Flaky {
        fn clone(&self) -> Self {
            assert!(!FAIL.swap(false, Ordering::SeqCst), "clone failed");
            Self(self.0)
        }
    }
    let (tx, mut a) = broadcast::channel(2);
    let mut b = tx.subscribe();
    tx.send(Flaky(1)).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.try_recv()));
    assert!(panicked.is_err());
    // The channel is still usable and nothing was lost.
    assert_eq!(a.try_recv(), Ok(Flaky(1)));
    assert_eq!(b.try_recv(), Ok(Flaky(1)));
    assert!(tx.is_empty());
}
