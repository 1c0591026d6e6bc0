//! loom models of the semaphore's and the FIFO queue's lock-free paths and of the waiter hand-off
//! shared by every primitive. Under `--cfg loom` the crate's own locks and atomics are loom's (see
//! `src/loom_shim.rs`), so these models check the real code in every interleaving (preemptions capped, as tokio does).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p corio-sync --release --test loom_sync
//! ```
//!
//! Preemptions are capped at 3 unless `LOOM_MAX_PREEMPTIONS` says otherwise (tokio uses 2).
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use corio_sync::{Mutex, Notify, Queue, Semaphore};
use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        // `LOOM_MAX_PREEMPTIONS` overrides this. These models are small: 3 takes about a second
        // in release mode, 4 about five.
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// Polls `fut` once with the current (loom-aware) waker.
struct PollOnce<'a, F>(&'a mut F);

impl<F: Future + Unpin> Future for PollOnce<'_, F> {
    type Output = Poll<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Pin::new(&mut *self.0).poll(cx))
    }
}

#[test]
fn semaphore_never_exceeds_its_permits() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (sem, inside) = (sem.clone(), inside.clone());
                thread::spawn(move || {
                    block_on(async {
                        let permit = sem.acquire().await.unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn semaphore_cancelled_waiter_passes_permits_on() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        // Registers (maybe gets the permit), then cancels.
        let canceller = thread::spawn(move || {
            block_on(async {
                let mut acquire = s.acquire();
                if let Poll::Ready(Ok(permit)) = PollOnce(&mut acquire).await {
                    drop(permit);
                }
            })
        });
        let s = sem.clone();
        let releaser = thread::spawn(move || s.add_permits(1));
        // Must get the permit whatever the interleaving: a lost hand-off deadlocks the model.
        let permit = block_on(sem.acquire()).unwrap();
        drop(permit);
        canceller.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn semaphore_close_races_with_acquire() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        let closer = thread::spawn(move || s.close());
        // Either closed before or while waiting: never hangs.
        assert!(block_on(sem.acquire()).is_err());
        closer.join().unwrap();
    });
}

#[test]
fn mutex_hand_off_is_exclusive() {
    model(|| {
        let m = Arc::new(Mutex::new(0));
        let m2 = m.clone();
        let t = thread::spawn(move || {
            block_on(async {
                *m2.lock().await += 1;
            })
        });
        block_on(async {
            *m.lock().await += 1;
        });
        t.join().unwrap();
        assert_eq!(*m.try_lock().unwrap(), 2);
    });
}

#[test]
fn queue_bounded_put_get_in_order() {
    model(|| {
        let q = Queue::bounded(1);
        let q2 = q.clone();
        let producer = thread::spawn(move || {
            block_on(async {
                q2.put(1).await.unwrap();
                q2.put(2).await.unwrap();
            })
        });
        block_on(async {
            assert_eq!(q.get().await, Ok(1));
            assert_eq!(q.get().await, Ok(2));
        });
        producer.join().unwrap();
    });
}

#[test]
fn queue_cancelled_getter_passes_the_item_on() {
    cancelled_getter_passes_the_item_on(Queue::unbounded);
}

#[test]
fn queue_cancelled_getter_passes_the_item_on_lock_free() {
    cancelled_getter_passes_the_item_on(|| Queue::bounded(2));
}

fn cancelled_getter_passes_the_item_on(new: fn() -> Queue<i32>) {
    // bpo-23812 under every interleaving: a getter that is first in line is cancelled on another
    // thread, maybe after it was woken; the item must still reach the other getter.
    model(move || {
        // Leaked so that the registered future can move to another thread (`'static`).
        let q: &'static Queue<i32> = Box::leak(Box::new(new()));
        let mut first = q.get();
        assert!(block_on(PollOnce(&mut first)).is_pending()); // registered, head of the line
        let canceller = thread::spawn(move || drop(first));
        let producer = thread::spawn(move || q.try_put(7).unwrap());
        assert_eq!(block_on(q.get()), Ok(7));
        canceller.join().unwrap();
        producer.join().unwrap();
    });
}

#[test]
fn semaphore_cancelled_head_waiter_passes_permit_on() {
    model(|| {
        let sem: &'static Semaphore = Box::leak(Box::new(Semaphore::new(0)));
        let mut first = sem.acquire();
        assert!(block_on(PollOnce(&mut first)).is_pending());
        let canceller = thread::spawn(move || drop(first));
        let releaser = thread::spawn(move || sem.add_permits(1));
        drop(block_on(sem.acquire()).unwrap());
        canceller.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn semaphore_grant_races_with_close_and_the_waiters_repoll() {
    // A grant removes the waiter's node and publishes its ticket; the waiter re-polls without the
    // lock. Racing a grant against `close` and the waiter's own poll must give Ok (and the permit)
    // or Closed (and the permit back in the pool), never a hang or a lost permit.
    model(|| {
        let sem: &'static Semaphore = Box::leak(Box::new(Semaphore::new(0)));
        let mut waiter = sem.acquire();
        assert!(block_on(PollOnce(&mut waiter)).is_pending());
        let releaser = thread::spawn(move || sem.add_permits(1));
        let closer = thread::spawn(move || sem.close());
        match block_on(waiter) {
            Ok(permit) => assert_eq!(permit.num_permits(), 1),
            Err(e) => assert_eq!(e, corio_sync::AcquireError::Closed),
        }
        releaser.join().unwrap();
        closer.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn queue_close_wakes_waiting_getter() {
    model(|| {
        let q = Queue::<u8>::bounded(1);
        let q2 = q.clone();
        let closer = thread::spawn(move || q2.close());
        assert!(block_on(q.get()).is_err());
        closer.join().unwrap();
    });
}

#[test]
fn queue_putter_waiting_for_a_slot_is_woken() {
    // The lock-free path's putter side (invariant 8 of `queue_core.rs`): a putter waits for a
    // slot of a full queue (two slots, the smallest on that path) while a get frees one.
    model(|| {
        let q = Queue::bounded(2);
        q.try_put(0).unwrap();
        q.try_put(1).unwrap();
        let putter = {
            let q = q.clone();
            thread::spawn(move || block_on(q.put(2)).unwrap())
        };
        assert_eq!(block_on(q.get()), Ok(0));
        putter.join().unwrap();
        assert_eq!((q.try_get(), q.try_get()), (Ok(1), Ok(2)));
    });
}

/// A full two-slot queue with a putter that was woken for the slot a get just freed: its `put`
/// future, polled once while the queue was full, then woken by `try_get` (which returned 0).
fn full_queue_with_a_woken_putter() -> (Queue<i32>, corio_sync::Put<'static, i32>) {
    let q: &'static Queue<i32> = Box::leak(Box::new(Queue::bounded(2)));
    q.try_put(0).unwrap();
    q.try_put(1).unwrap();
    let mut woken = q.put(2);
    assert!(block_on(PollOnce(&mut woken)).is_pending());
    assert_eq!(q.try_get(), Ok(0));
    (q.clone(), woken)
}

#[test]
fn queue_new_putter_behind_a_dropped_woken_one_is_not_forgotten() {
    // Invariant 11 of `queue_core.rs`: a new put that finds the one free slot claimed by a woken
    // putter joins the line, and may sleep with that slot in view. When the woken putter is
    // dropped, its claim must pass to the new put, with no further get.
    model(|| {
        let (q, woken) = full_queue_with_a_woken_putter();
        let newcomer = {
            let q = q.clone();
            thread::spawn(move || block_on(q.put(3)).unwrap())
        };
        drop(woken);
        newcomer.join().unwrap();
        assert_eq!((q.try_get(), q.try_get()), (Ok(1), Ok(3)));
    });
}

#[test]
fn queue_new_putter_behind_a_woken_one_is_woken_by_later_gets() {
    // Invariant 11 with the woken putter taking its slot while the new put looks, and gets
    // racing with both: every item comes out, and the new put never overtakes the woken one.
    model(|| {
        let (q, mut woken) = full_queue_with_a_woken_putter();
        let newcomer = {
            let q = q.clone();
            thread::spawn(move || block_on(q.put(3)).unwrap())
        };
        block_on(&mut woken).unwrap();
        let got: Vec<i32> = (0..3).map(|_| block_on(q.get()).unwrap()).collect();
        newcomer.join().unwrap();
        assert_eq!(got, [1, 2, 3]);
    });
}

#[test]
fn queue_two_getters_each_get_one_of_two_racing_puts() {
    // The lock-free path's getter side (invariant 8 of `queue_core.rs`): a getter waits on
    // another thread while two puts and a second get race in on this one.
    model(|| {
        let q = Queue::bounded(2);
        let getter = {
            let q = q.clone();
            thread::spawn(move || block_on(q.get()).unwrap())
        };
        q.try_put(1).unwrap();
        q.try_put(2).unwrap();
        let mine = block_on(q.get()).unwrap();
        let mut got = [mine, getter.join().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

#[test]
fn queue_join_is_woken_by_the_last_task_done() {
    // The unfinished count is an atomic; its step to zero, under the lock, must wake a joiner
    // registering at the same time (invariant 10).
    model(|| {
        let q = Queue::bounded(2);
        q.try_put(1).unwrap();
        let joiner = {
            let q = q.clone();
            thread::spawn(move || block_on(q.join()))
        };
        let worker = {
            let q = q.clone();
            thread::spawn(move || {
                assert_eq!(q.try_get(), Ok(1));
                q.task_done().unwrap();
            })
        };
        worker.join().unwrap();
        joiner.join().unwrap();
        assert_eq!(q.unfinished(), 0);
        assert!(q.task_done().is_err());
    });
}

#[test]
fn queue_task_done_never_runs_ahead_of_its_put() {
    // A consumer on another thread marks the item done as soon as it has it: the put's count
    // must already be there (invariant 10), or `task_done` would fail and `join` never end.
    model(|| {
        let q = Queue::bounded(2);
        let consumer = {
            let q = q.clone();
            thread::spawn(move || {
                assert_eq!(block_on(q.get()), Ok(5));
                q.task_done().unwrap();
            })
        };
        q.try_put(5).unwrap();
        consumer.join().unwrap();
        block_on(q.join());
    });
}

#[test]
fn rendezvous_hand_off() {
    model(|| {
        let q = Queue::bounded(0);
        let q2 = q.clone();
        let putter = thread::spawn(move || block_on(q2.put(5)).unwrap());
        assert_eq!(block_on(q.get()), Ok(5));
        putter.join().unwrap();
    });
}

#[test]
fn notify_one_is_never_lost() {
    model(|| {
        let n = Arc::new(Notify::new());
        let n2 = n.clone();
        let t = thread::spawn(move || n2.notify_one());
        block_on(n.notified());
        t.join().unwrap();
    });
}

// broadcast and watch: the cores behind `corio::sync::broadcast` and `corio::sync::watch`. In
// every model the main thread keeps a sender alive until it has received what it waits for, so a
// lost wake-up hangs the model instead of being rescued by the close.

#[test]
fn broadcast_receiver_sees_everything_then_closed() {
    use corio_sync::broadcast::{self, RecvError};
    model(|| {
        let (tx, mut rx) = broadcast::channel(2);
        let tx2 = tx.clone();
        let sender = thread::spawn(move || {
            tx2.send(1).unwrap();
            tx2.send(2).unwrap();
        });
        block_on(async {
            assert_eq!(rx.recv().await, Ok(1));
            assert_eq!(rx.recv().await, Ok(2));
        });
        drop(tx);
        assert_eq!(block_on(rx.recv()), Err(RecvError::Closed));
        sender.join().unwrap();
    });
}

#[test]
fn broadcast_batches_keep_order_and_lose_nothing() {
    // A ring large enough that receivers take values in batches (see "Batches" in the module
    // docs), a second receiver cloned while the first may hold a batch, and three racing sends.
    use corio_sync::broadcast::{self, RecvError};
    model(|| {
        let (tx, mut rx) = broadcast::channel(256);
        let tx2 = tx.clone();
        let sender = thread::spawn(move || {
            for v in 1..=3 {
                tx2.send(v).unwrap();
            }
        });
        let mut copy = None;
        block_on(async {
            assert_eq!(rx.recv().await, Ok(1));
            copy = Some(rx.clone());
            assert_eq!(rx.recv().await, Ok(2));
            assert_eq!(rx.recv().await, Ok(3));
        });
        sender.join().unwrap();
        drop(tx);
        let mut copy = copy.unwrap();
        assert_eq!(block_on(copy.recv()), Ok(2));
        assert_eq!(block_on(copy.recv()), Ok(3));
        assert_eq!(block_on(copy.recv()), Err(RecvError::Closed));
        assert_eq!(block_on(rx.recv()), Err(RecvError::Closed));
    });
}

#[test]
fn broadcast_lag_is_reported_exactly() {
    // A ring of one and two sends: the receiver reads both, or is told it missed exactly one
    // and then reads the second. Never a hang, never a wrong count.
    use corio_sync::broadcast::{self, RecvError};
    model(|| {
        let (tx, mut rx) = broadcast::channel(1);
        let tx2 = tx.clone();
        let sender = thread::spawn(move || {
            tx2.send(1).unwrap();
            tx2.send(2).unwrap();
        });
        let mut seen = Vec::new();
        block_on(async {
            while seen.last() != Some(&Ok(2)) {
                seen.push(rx.recv().await);
            }
        });
        sender.join().unwrap();
        drop(tx);
        assert!(
            seen == [Ok(1), Ok(2)] || seen == [Err(RecvError::Lagged(1)), Ok(2)],
            "{seen:?}"
        );
        assert_eq!(block_on(rx.recv()), Err(RecvError::Closed));
    });
}

#[test]
fn broadcast_cancelled_recv_loses_nothing() {
    use corio_sync::broadcast;
    model(|| {
        let (tx, mut rx) = broadcast::channel(1);
        let tx2 = tx.clone();
        let sender = thread::spawn(move || tx2.send(7).unwrap());
        let first = {
            let mut recv = rx.recv();
            block_on(PollOnce(&mut recv))
            // dropped here, racing with the send
        };
        match first {
            Poll::Ready(got) => assert_eq!(got, Ok(7)),
            Poll::Pending => assert_eq!(block_on(rx.recv()), Ok(7)),
        }
        sender.join().unwrap();
        drop(tx);
    });
}

#[test]
fn broadcast_dropped_receiver_releases_its_claims() {
    use corio_sync::broadcast;
    model(|| {
        let marker = std::sync::Arc::new(());
        let (tx, mut rx) = broadcast::channel(2);
        let other = tx.subscribe();
        let dropper = thread::spawn(move || drop(other));
        let sent = tx.send(marker.clone()).unwrap();
        assert!(sent == 1 || sent == 2);
        drop(block_on(rx.recv()).unwrap());
        dropper.join().unwrap();
        // Read by one receiver, released by the other: the channel holds nothing.
        assert_eq!(tx.len(), 0);
        assert_eq!(std::sync::Arc::strong_count(&marker), 1);
    });
}

#[test]
fn watch_never_misses_the_last_value() {
    use corio_sync::watch;
    model(|| {
        let (tx, mut rx) = watch::channel(0);
        let tx = Arc::new(tx);
        let tx2 = tx.clone();
        let sender = thread::spawn(move || {
            tx2.send(1).unwrap();
            tx2.send(2).unwrap();
        });
        let mut last = 0;
        block_on(async {
            while last != 2 {
                rx.changed().await.unwrap();
                let v = *rx.borrow_and_update();
                assert!(v > last);
                last = v;
            }
        });
        sender.join().unwrap();
        drop(tx);
        assert_eq!(block_on(rx.changed()), Err(watch::RecvError));
    });
}

#[test]
fn watch_cancelled_changed_loses_nothing() {
    use corio_sync::watch;
    model(|| {
        let (tx, mut rx) = watch::channel(0);
        let tx = Arc::new(tx);
        let tx2 = tx.clone();
        let sender = thread::spawn(move || tx2.send(1).unwrap());
        let first = {
            let mut changed = rx.changed();
            block_on(PollOnce(&mut changed))
            // dropped here, racing with the send
        };
        if first.is_pending() {
            assert_eq!(block_on(rx.changed()), Ok(()));
        }
        assert_eq!(*rx.borrow(), 1);
        sender.join().unwrap();
        drop(tx);
    });
}

#[test]
fn watch_close_races_with_changed() {
    use corio_sync::watch;
    model(|| {
        let (tx, mut rx) = watch::channel(0);
        let closer = thread::spawn(move || drop(tx));
        assert_eq!(block_on(rx.changed()), Err(watch::RecvError));
        closer.join().unwrap();
    });
}

/// A value that counts its drops, to check that a oneshot drops a value exactly once.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn oneshot_send_races_the_receivers_poll() {
    // The lock-free oneshot (`oneshot.rs`, invariants 1 and 4): the receiver registers its
    // waker while the sender sends on another thread; the value arrives.
    model(|| {
        let (tx, rx) = corio_sync::oneshot::channel();
        let sender = thread::spawn(move || tx.send(7).unwrap());
        assert_eq!(block_on(rx), Ok(7));
        sender.join().unwrap();
    });
}

#[test]
fn oneshot_receiver_changes_its_waker_while_the_value_comes() {
    // Invariant 4: a second poll with another waker replaces the stored one while the sender
    // may be waking it.
    model(|| {
        let (tx, mut rx) = corio_sync::oneshot::channel();
        let first = block_on(PollOnce(&mut rx));
        let sender = thread::spawn(move || tx.send(3).unwrap());
        let got = match first {
            Poll::Ready(got) => got,
            Poll::Pending => block_on(&mut rx),
        };
        assert_eq!(got, Ok(3));
        sender.join().unwrap();
    });
}

#[test]
fn oneshot_send_races_the_receivers_drop_and_the_value_is_dropped_once() {
    // Invariant 3: exactly one side drops the value (the receiver's drop, or the sender gets it
    // back and drops it here).
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = corio_sync::oneshot::channel();
        let receiver = thread::spawn(move || drop(rx));
        let sent = tx.send(Counted(drops.clone()));
        receiver.join().unwrap();
        drop(sent);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn oneshot_sender_drop_fails_a_waiting_receiver() {
    model(|| {
        let (tx, rx) = corio_sync::oneshot::channel::<u8>();
        let sender = thread::spawn(move || drop(tx));
        assert_eq!(block_on(rx), Err(corio_sync::oneshot::RecvError));
        sender.join().unwrap();
    });
}

#[test]
fn oneshot_closed_wakes_when_the_receiver_leaves() {
    model(|| {
        let (mut tx, rx) = corio_sync::oneshot::channel::<u8>();
        let receiver = thread::spawn(move || drop(rx));
        block_on(tx.closed());
        assert!(tx.is_closed());
        receiver.join().unwrap();
    });
}
