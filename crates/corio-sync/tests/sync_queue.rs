//! The queue family: semantics, close/close_now/join, rendezvous, cancellation at every state
//! (bpo-23812), proptest models of all three orders, and thread stress.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use corio_sync::{
    GetError, LifoQueue, PriorityQueue, PutError, Queue, TaskDoneError, TryGetError, TryPutError,
};
use futures_lite::future;
use proptest::prelude::*;
use support::{Manual, stress};

// ---------------------------------------------------------------------------------------------
// Semantics.

#[test]
fn fifo_lifo_priority_orders() {
    let fifo = Queue::unbounded();
    let lifo = LifoQueue::unbounded();
    let prio = PriorityQueue::unbounded();
    for x in [3, 1, 2] {
        fifo.try_put(x).unwrap();
        lifo.try_put(x).unwrap();
        prio.try_put(x).unwrap();
    }
    assert_eq!(fifo.close_now(), [3, 1, 2]);
    assert_eq!(lifo.close_now(), [2, 1, 3]);
    assert_eq!(prio.close_now(), [1, 2, 3]);
}

#[test]
fn bounded_backpressure_and_capacity() {
    let q = Queue::bounded(2);
    assert_eq!(q.capacity(), Some(2));
    assert!(!q.is_full());
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    assert!(q.is_full());
    assert!(matches!(q.try_put(3), Err(TryPutError::Full(3))));
    let mut put = Manual::new(q.put(3));
    put.pending();
    assert_eq!(q.try_get(), Ok(1));
    assert!(put.woken());
    assert_eq!(put.ready(), Ok(()));
    assert_eq!(q.close_now(), [2, 3]);
    assert_eq!(Queue::<u8>::unbounded().capacity(), None);
}

#[test]
fn close_drains_then_fails_and_hands_items_back() {
    future::block_on(async {
        let q = Queue::bounded(1);
        q.put(1).await.unwrap();
        let mut waiting_put = Manual::new(q.put(2));
        waiting_put.pending();
        q.close();
        assert!(q.is_closed());
        assert!(waiting_put.woken());
        assert_eq!(waiting_put.ready().unwrap_err().into_inner(), 2);
        assert_eq!(q.put(3).await.unwrap_err().into_inner(), 3);
        assert!(matches!(q.try_put(4), Err(TryPutError::Closed(4))));
        assert_eq!(q.get().await, Ok(1));
        assert_eq!(q.get().await, Err(GetError));
        assert_eq!(q.try_get(), Err(TryGetError::Closed));
    });
}

#[test]
fn close_wakes_getter_waiting_on_empty_queue() {
    let q = Queue::<u8>::unbounded();
    let mut get = Manual::new(q.get());
    get.pending();
    q.close();
    assert!(get.woken());
    assert_eq!(get.ready(), Err(GetError));
}

#[test]
fn close_now_returns_items_in_get_order_and_counts_them_done() {
    let q = PriorityQueue::bounded(4);
    for x in [4, 2, 3] {
        q.try_put(x).unwrap();
    }
    assert_eq!(q.try_get(), Ok(2)); // taken, not done
    let mut join = Manual::new(q.join());
    join.pending();
    let mut put = Manual::new(q.put(1));
    assert_eq!(put.ready(), Ok(())); // space left
    assert_eq!(q.close_now(), [1, 3, 4]);
    assert_eq!(q.unfinished(), 1);
    assert!(!join.woken());
    q.task_done().unwrap(); // the one taken
    assert!(join.woken());
    join.ready();
    assert_eq!(q.task_done(), Err(TaskDoneError));
}

/// On a rendezvous queue, an item a put handed to a waiting get is still in the queue until that
/// get returns it: `close_now` returns it (and counts it done), and the get then fails (found by
/// a conformance probe: `close_now` returned nothing, the dropped get put the item back, `join`
/// waited for ever and a later get returned it).
#[test]
fn close_now_on_a_rendezvous_queue_returns_items_handed_to_gets() {
    macro_rules! check {
        ($q:expr) => {{
            let q = $q;
            let mut waiting = Manual::new(q.get());
            waiting.pending();
            let mut dropped = Manual::new(q.get());
            dropped.pending();
            q.try_put(7).unwrap(); // handed to `waiting`
            q.try_put(8).unwrap(); // handed to `dropped`
            let mut rest = q.close_now();
            rest.sort();
            assert_eq!(rest, [7, 8]);
            assert_eq!(waiting.ready(), Err(GetError));
            drop(dropped);
            assert_eq!(q.len(), 0);
            assert_eq!(q.unfinished(), 0);
            let mut join = Manual::new(q.join());
            join.ready();
            let mut late = Manual::new(q.get());
            assert_eq!(late.ready(), Err(GetError));
        }};
    }
    check!(Queue::<u32>::bounded(0));
    check!(LifoQueue::<u32>::bounded(0));
    check!(PriorityQueue::<u32>::bounded(0));
}

/// After `close`, a rendezvous get does not fail while a handed item may still come back from
/// a dropped get: consumers that stop at their first failure would leave it behind (found by a
/// conformance probe: `select!` over two gets, the losing arm handed an item, and after `close`
/// an acknowledged item stayed in the queue in 6 of 288 runs). It gets the item if it comes
/// back, and fails once it cannot.
#[test]
fn after_close_a_rendezvous_get_waits_for_a_handed_item_that_may_come_back() {
    let q = Queue::<u32>::bounded(0);
    // The holder is dropped: the waiting get receives its item.
    let mut holder = Manual::new(q.get());
    holder.pending();
    let mut other = Manual::new(q.get());
    other.pending();
    q.try_put(7).unwrap(); // handed to `holder`
    q.close();
    other.pending(); // not Err: 7 may come back
    drop(holder);
    assert!(other.woken());
    assert_eq!(other.ready(), Ok(7));
    let mut late = Manual::new(q.get());
    assert_eq!(late.ready(), Err(GetError));

    // The holder returns its item: the waiting get is woken and fails.
    let q = Queue::<u32>::bounded(0);
    let mut holder = Manual::new(q.get());
    holder.pending();
    let mut other = Manual::new(q.get());
    other.pending();
    q.try_put(8).unwrap();
    q.close();
    other.pending();
    assert_eq!(
        q.try_get(),
        Err(TryGetError::Empty),
        "not closed yet for gets"
    );
    assert_eq!(holder.ready(), Ok(8));
    assert!(other.woken());
    assert_eq!(other.ready(), Err(GetError));
    assert_eq!(q.try_get(), Err(TryGetError::Closed));
}

#[test]
fn join_waits_for_taken_but_not_done_after_close() {
    let q = Queue::unbounded();
    q.try_put(1).unwrap();
    q.try_get().unwrap();
    q.close();
    let mut join = Manual::new(q.join());
    join.pending();
    q.task_done().unwrap();
    assert!(join.woken());
    join.ready();
}

#[test]
fn join_woken_at_zero_completes_even_if_new_items_arrive() {
    let q = Queue::unbounded();
    q.try_put(1).unwrap();
    let mut join = Manual::new(q.join());
    join.pending();
    q.try_get().unwrap();
    q.task_done().unwrap();
    q.try_put(2).unwrap(); // before the joiner runs
    assert!(join.woken());
    join.ready();
    let mut later = Manual::new(q.join());
    later.pending();
}

#[test]
fn task_done_too_often_is_an_error() {
    let q = LifoQueue::unbounded();
    assert_eq!(q.task_done(), Err(TaskDoneError));
    q.try_put(()).unwrap();
    q.task_done().unwrap();
    assert_eq!(q.task_done(), Err(TaskDoneError));
}

#[test]
fn rendezvous_put_completes_only_by_handing_to_a_getter() {
    let q = Queue::bounded(0);
    assert_eq!(q.capacity(), Some(0));
    assert!(q.is_full());
    assert!(matches!(q.try_put(1), Err(TryPutError::Full(1))));
    let mut put = Manual::new(q.put(1));
    put.pending();
    // A waiting offer cannot be taken without a waiting get: the put must see its own hand-over.
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    assert!(!put.woken());
    let mut get = Manual::new(q.get());
    get.pending();
    assert!(put.woken(), "a new getter chooses the offer");
    assert!(!get.woken());
    assert_eq!(put.ready(), Ok(()));
    assert!(get.woken());
    assert_eq!(q.unfinished(), 1);
    assert_eq!(get.ready(), Ok(1));
}

#[test]
fn rendezvous_put_beside_a_waiting_getter_hands_over_at_once() {
    let q = LifoQueue::bounded(0);
    let mut get = Manual::new(q.get());
    get.pending();
    let mut put = Manual::new(q.put("x"));
    assert_eq!(put.ready(), Ok(()));
    assert!(get.woken());
    assert_eq!(get.ready(), Ok("x"));
    // `try_put` hands over too, but only to a getter that waits.
    assert!(matches!(q.try_put("y"), Err(TryPutError::Full("y"))));
    let mut get = Manual::new(q.get());
    get.pending();
    q.try_put("y").unwrap();
    assert_eq!(get.ready(), Ok("y"));
}

#[test]
fn rendezvous_dropped_put_withdraws_its_offer() {
    let q = Queue::bounded(0);
    let mut put = Manual::new(q.put(1));
    put.pending();
    drop(put);
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    assert_eq!(q.unfinished(), 0);
}

/// The stress suite's find: a put whose offer a getter took, dropped before it saw so, made the
/// caller retry and the item arrive twice. Now a put that is dropped never delivered its item.
#[test]
fn rendezvous_put_dropped_after_being_chosen_delivers_nothing() {
    let q = Queue::bounded(0);
    let mut put = Manual::new(q.put(7));
    put.pending();
    let mut get = Manual::new(q.get());
    get.pending();
    assert!(put.woken());
    drop(put); // e.g. a timeout fired: the caller learns the item was not sent
    assert_eq!(q.unfinished(), 0);
    assert!(!get.woken());
    // The caller retries; the item arrives exactly once.
    let mut retry = Manual::new(q.put(7));
    assert_eq!(retry.ready(), Ok(()));
    assert_eq!(get.ready(), Ok(7));
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    assert_eq!(q.unfinished(), 1);
}

#[test]
fn rendezvous_chosen_put_dropped_lets_the_next_offer_be_chosen() {
    let q = Queue::bounded(0);
    let mut a = Manual::new(q.put('a'));
    let mut b = Manual::new(q.put('b'));
    a.pending();
    b.pending();
    let mut get = Manual::new(q.get());
    get.pending();
    assert!(a.woken() && !b.woken());
    drop(a);
    assert!(
        b.woken(),
        "the getter still waits: the next offer is chosen"
    );
    assert_eq!(b.ready(), Ok(()));
    assert_eq!(get.ready(), Ok('b'));
}

#[test]
fn rendezvous_get_dropped_with_a_handed_item_passes_it_on() {
    let q = Queue::bounded(0);
    let mut first = Manual::new(q.get());
    let mut second = Manual::new(q.get());
    first.pending();
    second.pending();
    q.try_put(1).unwrap();
    assert!(first.woken() && !second.woken());
    drop(first); // cancelled after the hand-over: the item goes to the next getter
    assert!(second.woken());
    assert_eq!(second.ready(), Ok(1));

    // With nobody else waiting, the item stays in the queue for the next get.
    let mut only = Manual::new(q.get());
    only.pending();
    q.try_put(2).unwrap();
    drop(only);
    assert_eq!(q.len(), 1);
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.unfinished(), 2);
}

#[test]
fn rendezvous_chosen_put_that_finds_no_getter_keeps_its_place() {
    let q = Queue::bounded(0);
    let mut a = Manual::new(q.put('a'));
    let mut b = Manual::new(q.put('b'));
    a.pending();
    b.pending();
    let mut get = Manual::new(q.get());
    get.pending();
    assert!(a.woken());
    drop(get);
    a.pending(); // nobody to hand to: back to the front of the line
    let mut get = Manual::new(q.get());
    get.pending();
    assert!(a.woken() && !b.woken());
    assert_eq!(a.ready(), Ok(()));
    assert_eq!(get.ready(), Ok('a'));
}

#[test]
fn rendezvous_close_now_hands_offers_back_and_takes_handed_items() {
    let q = PriorityQueue::bounded(0);
    let mut handed = Manual::new(q.get());
    handed.pending();
    let mut put = Manual::new(q.put(0));
    assert_eq!(put.ready(), Ok(()), "a getter waited");
    let mut a = Manual::new(q.put(2));
    let mut b = Manual::new(q.put(1));
    a.pending();
    b.pending();
    // The handed item is still in the queue until its get returns it (invariant 1), so
    // close_now returns it and that get fails; the waiting offers go back to their puts.
    assert_eq!(q.close_now(), [0]);
    assert_eq!(a.ready(), Err(PutError(2)));
    assert_eq!(b.ready(), Err(PutError(1)));
    assert_eq!(handed.ready(), Err(GetError));
}

#[test]
fn rendezvous_getters_choose_in_queue_order() {
    fn order<Q>(
        put: impl Fn(&Q, i32) -> Manual<BoxFut<'_, Result<(), PutError<i32>>>>,
        get: impl Fn(&Q) -> Manual<BoxFut<'_, Result<i32, GetError>>>,
        q: &Q,
    ) -> Vec<i32> {
        let mut offers: Vec<_> = [5, 1, 3].into_iter().map(|x| put(q, x)).collect();
        offers.iter_mut().for_each(Manual::pending);
        let mut got = Vec::new();
        for _ in 0..3 {
            let mut g = get(q);
            g.pending();
            let chosen = offers
                .iter()
                .position(Manual::woken)
                .expect("a getter chooses an offer");
            assert_eq!(offers.iter().filter(|o| o.woken()).count(), 1);
            offers.remove(chosen).ready().unwrap();
            got.push(g.ready().unwrap());
        }
        got
    }
    let prio = PriorityQueue::bounded(0);
    assert_eq!(
        order(
            |q, x| Manual::new(Box::pin(q.put(x))),
            |q| Manual::new(Box::pin(q.get())),
            &prio
        ),
        [1, 3, 5]
    );
    let lifo = LifoQueue::bounded(0);
    assert_eq!(
        order(
            |q, x| Manual::new(Box::pin(q.put(x))),
            |q| Manual::new(Box::pin(q.get())),
            &lifo
        ),
        [3, 1, 5]
    );
    let fifo = Queue::bounded(0);
    assert_eq!(
        order(
            |q, x| Manual::new(Box::pin(q.put(x))),
            |q| Manual::new(Box::pin(q.get())),
            &fifo
        ),
        [5, 1, 3]
    );
}

// ---------------------------------------------------------------------------------------------
// Cancellation at every state.

#[test]
fn bpo_23812_woken_getter_dropped_passes_item_to_next_getter() {
    let q = Queue::unbounded();
    let mut first = Manual::new(q.get());
    let mut second = Manual::new(q.get());
    first.pending();
    second.pending();
    q.try_put("item").unwrap();
    assert!(first.woken());
    assert!(!second.woken());
    drop(first); // woken, cancelled before it re-polled
    assert!(second.woken(), "the wake-up must be passed on");
    assert_eq!(second.ready(), Ok("item"));
}

#[test]
fn get_dropped_before_first_poll_or_while_waiting_takes_nothing() {
    let q = Queue::unbounded();
    drop(q.get());
    let mut waiting = Manual::new(q.get());
    waiting.pending();
    drop(waiting);
    q.try_put(1).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q.try_get(), Ok(1));
}

#[test]
fn woken_getter_that_finds_nothing_keeps_its_place() {
    let q = Queue::unbounded();
    let mut first = Manual::new(q.get());
    let mut second = Manual::new(q.get());
    first.pending();
    second.pending();
    q.try_put(1).unwrap();
    assert_eq!(q.try_get(), Ok(1)); // a newcomer took it first
    first.pending(); // back to the front of the line
    q.try_put(2).unwrap();
    assert!(first.woken() && !second.woken());
    assert_eq!(first.ready(), Ok(2));
}

#[test]
fn put_dropped_at_every_state_holds_no_slot() {
    let q = Queue::bounded(1);
    drop(q.put(0)); // before first poll
    q.try_put(1).unwrap();
    let mut waiting = Manual::new(q.put(2));
    waiting.pending();
    drop(waiting); // while waiting
    assert_eq!(q.len(), 1);

    let mut a = Manual::new(q.put(3));
    let mut b = Manual::new(q.put(4));
    a.pending();
    b.pending();
    assert_eq!(q.try_get(), Ok(1));
    assert!(a.woken() && !b.woken());
    drop(a); // woken but cancelled: the slot goes to `b`
    assert!(b.woken());
    assert_eq!(b.ready(), Ok(()));
    assert_eq!(q.close_now(), [4]);
}

#[test]
fn join_dropped_while_waiting_leaves_nothing() {
    let q = Queue::unbounded();
    q.try_put(1).unwrap();
    let mut join = Manual::new(q.join());
    join.pending();
    drop(join);
    q.try_get().unwrap();
    q.task_done().unwrap();
    future::block_on(q.join());
}

#[test]
fn futures_are_send_when_items_are() {
    fn is_send<T: Send>(_: &T) {}
    let q = Queue::<String>::bounded(1);
    is_send(&q);
    is_send(&q.put(String::new()));
    is_send(&q.get());
    is_send(&q.join());
    let p = PriorityQueue::<u8>::unbounded();
    is_send(&p.get());
}

#[test]
fn debug_does_not_need_item_debug() {
    struct Opaque;
    let q = Queue::bounded(1);
    q.try_put(Opaque).unwrap();
    let err = q.try_put(Opaque).unwrap_err();
    assert_eq!(format!("{err:?}"), "Full(..)");
    assert_eq!(err.to_string(), "queue is full");
    assert!(format!("{q:?}").contains("len: 1"));
}

#[test]
fn seed_pipeline_with_sentinels() {
    // asyncio's sentinel style: once the producers are done, one `None` per consumer tells each
    // consumer to stop. (Stopping at a producer's own sentinel, as the article's first draft
    // does, would strand the other producers' items.)
    future::block_on(async {
        const CONSUMERS: usize = 2;
        let queue: Queue<Option<String>> = Queue::bounded(10);
        let producer = |id: u32| {
            let queue = queue.clone();
            async move {
                for i in 0..5 {
                    queue.put(Some(format!("task-{id}-{i}"))).await.unwrap();
                }
            }
        };
        let consumer = || {
            let queue = queue.clone();
            async move {
                let mut handled = Vec::new();
                while let Some(item) = queue.get().await.unwrap() {
                    handled.push(item);
                    queue.task_done().unwrap();
                }
                queue.task_done().unwrap(); // the sentinel
                handled
            }
        };
        let main = async {
            future::zip(producer(0), future::zip(producer(1), producer(2))).await;
            for _ in 0..CONSUMERS {
                queue.put(None).await.unwrap();
            }
            queue.join().await;
        };
        let ((), (a, b)) = future::zip(main, future::zip(consumer(), consumer())).await;
        let mut all: Vec<_> = a.into_iter().chain(b).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 15);
        assert!(queue.is_empty());
    });
}

// ---------------------------------------------------------------------------------------------
// proptest state machine against a sequential model, for each order.

type Item = (u8, u32); // (priority, unique id)

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Fifo,
    Lifo,
    Priority,
}

/// The three queue types behind one interface, for the model test.
enum AnyQueue {
    Fifo(Queue<Item>),
    Lifo(LifoQueue<Item>),
    Priority(PriorityQueue<Item>),
}

type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>;

macro_rules! each {
    ($q:expr, $x:ident => $body:expr) => {
        match $q {
            AnyQueue::Fifo($x) => $body,
            AnyQueue::Lifo($x) => $body,
            AnyQueue::Priority($x) => $body,
        }
    };
}

impl AnyQueue {
    fn new(kind: Kind, cap: Option<usize>) -> Self {
        match (kind, cap) {
            (Kind::Fifo, Some(n)) => Self::Fifo(Queue::bounded(n)),
            (Kind::Fifo, None) => Self::Fifo(Queue::unbounded()),
            (Kind::Lifo, Some(n)) => Self::Lifo(LifoQueue::bounded(n)),
            (Kind::Lifo, None) => Self::Lifo(LifoQueue::unbounded()),
            (Kind::Priority, Some(n)) => Self::Priority(PriorityQueue::bounded(n)),
            (Kind::Priority, None) => Self::Priority(PriorityQueue::unbounded()),
        }
    }
    fn put(&self, x: Item) -> BoxFut<'_, Result<(), PutError<Item>>> {
        each!(self, q => Box::pin(q.put(x)))
    }
    fn get(&self) -> BoxFut<'_, Result<Item, GetError>> {
        each!(self, q => Box::pin(q.get()))
    }
    fn join(&self) -> BoxFut<'_, ()> {
        each!(self, q => Box::pin(q.join()))
    }
    fn try_put(&self, x: Item) -> Result<(), TryPutError<Item>> {
        each!(self, q => q.try_put(x))
    }
    fn try_get(&self) -> Result<Item, TryGetError> {
        each!(self, q => q.try_get())
    }
    fn task_done(&self) -> Result<(), TaskDoneError> {
        each!(self, q => q.task_done())
    }
    fn close(&self) {
        each!(self, q => q.close())
    }
    fn close_now(&self) -> Vec<Item> {
        each!(self, q => q.close_now())
    }
    fn len(&self) -> usize {
        each!(self, q => q.len())
    }
    fn unfinished(&self) -> usize {
        each!(self, q => q.unfinished())
    }
}

#[derive(Clone, Debug)]
enum QOp {
    TryPut(u8),
    TryGet,
    StartPut(u8),
    StartGet,
    StartJoin,
    PollPut(usize),
    PollGet(usize),
    PollJoin(usize),
    DropPut(usize),
    DropGet(usize),
    DropJoin(usize),
    TaskDone,
    Drive,
    Close,
    CloseNow,
}

fn qop() -> impl Strategy<Value = QOp> {
    prop_oneof![
        4 => (0u8..4).prop_map(QOp::TryPut),
        3 => Just(QOp::TryGet),
        5 => (0u8..4).prop_map(QOp::StartPut),
        5 => Just(QOp::StartGet),
        1 => Just(QOp::StartJoin),
        3 => any::<usize>().prop_map(QOp::PollPut),
        3 => any::<usize>().prop_map(QOp::PollGet),
        1 => any::<usize>().prop_map(QOp::PollJoin),
        2 => any::<usize>().prop_map(QOp::DropPut),
        2 => any::<usize>().prop_map(QOp::DropGet),
        1 => any::<usize>().prop_map(QOp::DropJoin),
        3 => Just(QOp::TaskDone),
        4 => Just(QOp::Drive),
        1 => Just(QOp::Close),
        1 => Just(QOp::CloseNow),
    ]
}

struct QModel {
    kind: Kind,
    cap: Option<usize>,
    items: Vec<Item>,
    closed: bool,
    unfinished: usize,
}

impl QModel {
    fn has_space(&self) -> bool {
        self.cap.is_none_or(|c| self.items.len() < c)
    }
    fn free(&self) -> usize {
        self.cap
            .map_or(usize::MAX, |c| c.saturating_sub(self.items.len()))
    }
    /// Index of the item a get takes next from `items`.
    fn pick(kind: Kind, items: &[Item]) -> Option<usize> {
        if items.is_empty() {
            return None;
        }
        Some(match kind {
            Kind::Fifo => 0,
            Kind::Lifo => items.len() - 1,
            Kind::Priority => (0..items.len()).min_by_key(|&i| items[i]).unwrap(),
        })
    }
}

struct PendingPut<'a> {
    item: Item,
    fut: Manual<BoxFut<'a, Result<(), PutError<Item>>>>,
}

struct PendingJoin<'a> {
    fut: Manual<BoxFut<'a, ()>>,
    saw_zero: bool,
}

fn run_queue_model(kind: Kind, cap: Option<usize>, ops: Vec<QOp>) {
    let q = AnyQueue::new(kind, cap);
    let mut m = QModel {
        kind,
        cap,
        items: Vec::new(),
        closed: false,
        unfinished: 0,
    };
    let mut puts: Vec<PendingPut<'_>> = Vec::new();
    let mut gets: Vec<Manual<BoxFut<'_, Result<Item, GetError>>>> = Vec::new();
    let mut joins: Vec<PendingJoin<'_>> = Vec::new();
    let mut next_id = 0u32;
    // Every item that entered the queue, and every item that left.
    let mut entered: HashSet<u32> = HashSet::new();
    let mut left: HashSet<u32> = HashSet::new();

    // The item a get must return now, if any.
    let expect_get = |m: &mut QModel, _puts: &mut Vec<PendingPut<'_>>| -> Option<Item> {
        QModel::pick(m.kind, &m.items).map(|i| m.items.remove(i))
    };

    let mut check_get = |m: &mut QModel,
                         puts: &mut Vec<PendingPut<'_>>,
                         left: &mut HashSet<u32>,
                         got: Result<Item, TryGetError>,
                         may_be_empty: bool| {
        match got {
            Ok(item) => {
                let expected = expect_get(m, puts);
                assert_eq!(Some(item), expected, "{kind:?} get order");
                assert!(left.insert(item.1), "item {item:?} delivered twice");
            }
            Err(TryGetError::Closed) => {
                assert!(
                    m.closed && expect_get(m, puts).is_none(),
                    "get failed early"
                );
            }
            Err(TryGetError::Empty) => {
                if !may_be_empty {
                    assert!(expect_get(m, puts).is_none(), "try_get missed an item");
                }
            }
        }
    };

    for op in ops {
        match op {
            QOp::TryPut(prio) => {
                let item = (prio, next_id);
                next_id += 1;
                match q.try_put(item) {
                    Ok(()) => {
                        assert!(!m.closed && m.has_space());
                        m.items.push(item);
                        m.unfinished += 1;
                        entered.insert(item.1);
                    }
                    Err(TryPutError::Full(x)) => {
                        assert_eq!(x, item);
                        assert!(!m.closed && !m.has_space());
                    }
                    Err(TryPutError::Closed(x)) => {
                        assert_eq!(x, item);
                        assert!(m.closed);
                    }
                }
            }
            QOp::TryGet => {
                let got = q.try_get();
                check_get(&mut m, &mut puts, &mut left, got, false);
            }
            QOp::StartPut(prio) => {
                let item = (prio, next_id);
                next_id += 1;
                // A new put takes only a slot that no woken putter claims (invariant 11 of
                // `queue_core.rs`); otherwise it waits in line behind them.
                let claimed = puts.iter().filter(|p| p.fut.woken()).count();
                let unclaimed = m.free() > claimed;
                let mut fut = Manual::new(q.put(item));
                match fut.poll() {
                    Poll::Ready(Ok(())) => {
                        assert!(!m.closed && unclaimed, "a new put took a claimed slot");
                        m.items.push(item);
                        m.unfinished += 1;
                        entered.insert(item.1);
                    }
                    Poll::Ready(Err(PutError(x))) => {
                        assert_eq!(x, item);
                        assert!(m.closed);
                    }
                    Poll::Pending => {
                        assert!(!m.closed);
                        assert!(!unclaimed, "a new put waited with a slot nobody claims");
                        puts.push(PendingPut { item, fut });
                    }
                }
            }
            QOp::StartGet => {
                let mut fut = Manual::new(q.get());
                match fut.poll() {
                    Poll::Ready(got) => {
                        let got = got.map_err(|GetError| TryGetError::Closed);
                        check_get(&mut m, &mut puts, &mut left, got, false);
                    }
                    Poll::Pending => {
                        let got = Err(TryGetError::Empty);
                        check_get(&mut m, &mut puts, &mut left, got, false);
                        assert!(!m.closed);
                        gets.push(fut);
                    }
                }
            }
            QOp::StartJoin => {
                let mut fut = Manual::new(q.join());
                match fut.poll() {
                    Poll::Ready(()) => assert_eq!(m.unfinished, 0),
                    Poll::Pending => {
                        assert!(m.unfinished > 0);
                        joins.push(PendingJoin {
                            fut,
                            saw_zero: false,
                        });
                    }
                }
            }
            QOp::PollPut(i) if !puts.is_empty() => {
                let i = i % puts.len();
                poll_put(&mut m, &mut puts, &mut entered, i);
            }
            QOp::PollGet(i) if !gets.is_empty() => {
                let i = i % gets.len();
                if let Poll::Ready(got) = gets[i].poll() {
                    gets.swap_remove(i);
                    let got = got.map_err(|GetError| TryGetError::Closed);
                    check_get(&mut m, &mut puts, &mut left, got, false);
                }
            }
            QOp::PollJoin(i) if !joins.is_empty() => {
                let i = i % joins.len();
                if joins[i].fut.poll().is_ready() {
                    let j = joins.swap_remove(i);
                    assert!(
                        j.saw_zero,
                        "join completed but the count never reached zero"
                    );
                }
            }
            QOp::DropPut(i) if !puts.is_empty() => {
                puts.remove(i % puts.len());
            }
            QOp::DropGet(i) if !gets.is_empty() => {
                gets.swap_remove(i % gets.len());
            }
            QOp::DropJoin(i) if !joins.is_empty() => {
                joins.swap_remove(i % joins.len());
            }
            QOp::TaskDone => {
                let r = q.task_done();
                if m.unfinished == 0 {
                    assert_eq!(r, Err(TaskDoneError));
                } else {
                    r.unwrap();
                    m.unfinished -= 1;
                }
            }
            QOp::Drive => {
                drive(
                    &mut m,
                    &mut puts,
                    &mut gets,
                    &mut joins,
                    &mut entered,
                    &mut left,
                    &mut check_get,
                );
                // Liveness: nothing waits while what it waits for is there.
                if !gets.is_empty() {
                    assert!(!m.closed, "getter still waiting on a closed queue");
                    assert!(m.items.is_empty(), "getter asleep while items wait");
                }
                if !puts.is_empty() {
                    assert!(!m.closed, "putter still waiting on a closed queue");
                    assert!(!m.has_space(), "putter asleep beside free space");
                }
                if !joins.is_empty() {
                    assert!(m.unfinished > 0, "joiner asleep at zero");
                }
            }
            QOp::Close => {
                q.close();
                m.closed = true;
            }
            QOp::CloseNow => {
                let drained = q.close_now();
                let mut expected = Vec::new();
                while let Some(i) = QModel::pick(kind, &m.items) {
                    expected.push(m.items.remove(i));
                }
                assert_eq!(drained, expected, "close_now order");
                for x in &drained {
                    assert!(left.insert(x.1));
                }
                m.closed = true;
                m.unfinished = m.unfinished.saturating_sub(drained.len());
            }
            QOp::PollPut(_)
            | QOp::PollGet(_)
            | QOp::PollJoin(_)
            | QOp::DropPut(_)
            | QOp::DropGet(_)
            | QOp::DropJoin(_) => {}
        }

        assert_eq!(q.len(), m.items.len(), "len");
        assert_eq!(q.unfinished(), m.unfinished, "unfinished");
        check_wakeups(&m, &puts, &gets, &joins);
        if m.unfinished == 0 {
            for j in &mut joins {
                j.saw_zero = true;
            }
        }
    }

    // Wind down: close, run everything to completion, then account for every item.
    let rest = q.close_now();
    for x in &rest {
        assert!(left.insert(x.1));
    }
    m.items.clear();
    m.unfinished = m.unfinished.saturating_sub(rest.len());
    if m.unfinished == 0 {
        for j in &mut joins {
            j.saw_zero = true;
        }
    }
    m.closed = true;
    drive(
        &mut m,
        &mut puts,
        &mut gets,
        &mut joins,
        &mut entered,
        &mut left,
        &mut check_get,
    );
    puts.clear();
    assert!(gets.is_empty(), "gets left waiting on a closed queue");
    assert_eq!(entered, left, "items lost or invented");
}

/// After every step: whatever is available for waiters has woken enough of them. This is the
/// "no lost wake-up" invariant, checked continuously rather than only after driving.
fn check_wakeups(
    m: &QModel,
    puts: &[PendingPut<'_>],
    gets: &[Manual<BoxFut<'_, Result<Item, GetError>>>],
    joins: &[PendingJoin<'_>],
) {
    let woken_gets = gets.iter().filter(|g| g.woken()).count();
    let takeable = m.items.len();
    assert!(
        woken_gets >= takeable.min(gets.len()),
        "{woken_gets} getters woken for {takeable} items and {} getters",
        gets.len()
    );
    let free = m.free();
    let woken_puts = puts.iter().filter(|p| p.fut.woken()).count();
    assert!(
        m.closed || woken_puts >= free.min(puts.len()),
        "{woken_puts} putters woken for {free} free slots and {} putters",
        puts.len()
    );
    for p in puts {
        assert!(!m.closed || p.fut.woken(), "put not woken by close");
    }
    for g in gets {
        assert!(!m.closed || g.woken(), "get not woken by close");
    }
    for j in joins {
        assert!(m.unfinished > 0 || j.fut.woken(), "join not woken at zero");
    }
}

fn poll_put(m: &mut QModel, puts: &mut Vec<PendingPut<'_>>, entered: &mut HashSet<u32>, i: usize) {
    let item = puts[i].item;
    match puts[i].fut.poll() {
        Poll::Pending => {}
        Poll::Ready(Ok(())) => {
            puts.remove(i);
            assert!(!m.closed && m.has_space());
            m.items.push(item);
            m.unfinished += 1;
            entered.insert(item.1);
        }
        Poll::Ready(Err(PutError(x))) => {
            assert_eq!(x, item);
            assert!(m.closed);
            puts.remove(i);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn drive<'a>(
    m: &mut QModel,
    puts: &mut Vec<PendingPut<'a>>,
    gets: &mut Vec<Manual<BoxFut<'a, Result<Item, GetError>>>>,
    joins: &mut Vec<PendingJoin<'a>>,
    entered: &mut HashSet<u32>,
    left: &mut HashSet<u32>,
    check_get: &mut impl FnMut(
        &mut QModel,
        &mut Vec<PendingPut<'a>>,
        &mut HashSet<u32>,
        Result<Item, TryGetError>,
        bool,
    ),
) {
    loop {
        let mut progressed = false;
        if let Some(i) = puts.iter().position(|p| p.fut.woken()) {
            poll_put(m, puts, entered, i);
            progressed = true;
        } else if let Some(i) = gets.iter().position(|g| g.woken()) {
            if let Poll::Ready(got) = gets[i].poll() {
                gets.swap_remove(i);
                let got = got.map_err(|GetError| TryGetError::Closed);
                check_get(m, puts, left, got, false);
            }
            progressed = true;
        } else if let Some(i) = joins.iter().position(|j| j.fut.woken()) {
            if joins[i].fut.poll().is_ready() {
                let j = joins.swap_remove(i);
                assert!(j.saw_zero || m.unfinished == 0);
            }
            progressed = true;
        }
        if m.unfinished == 0 {
            for j in joins.iter_mut() {
                j.saw_zero = true;
            }
        }
        if !progressed {
            return;
        }
    }
}

/// Buffered capacities; the rendezvous queue has a model of its own below.
fn capacity() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![
        1 => Just(None),
        3 => (1usize..=3).prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(support::cases(200)))]

    #[test]
    fn fifo_queue_matches_model(cap in capacity(), ops in prop::collection::vec(qop(), 1..100)) {
        run_queue_model(Kind::Fifo, cap, ops);
    }

    #[test]
    fn lifo_queue_matches_model(cap in capacity(), ops in prop::collection::vec(qop(), 1..100)) {
        run_queue_model(Kind::Lifo, cap, ops);
    }

    #[test]
    fn priority_queue_matches_model(cap in capacity(), ops in prop::collection::vec(qop(), 1..100)) {
        run_queue_model(Kind::Priority, cap, ops);
    }
}

// ---------------------------------------------------------------------------------------------
// The rendezvous model.
//
// Which waiting getter receives which item depends on who polls first, so this model checks the
// rendezvous invariants rather than an exact trace:
// - an item is delivered only if its put completed, and at most once (a dropped or failed put
//   never delivered its item: the stress suite's duplicate);
// - a completed put handed its item to a waiting getter: the items completed and not yet
//   delivered are held by pending gets (one each at most) or buffered after a get was dropped;
// - nothing sleeps beside its counterpart: after driving every woken future, getters and putters
//   do not both wait, and a buffered item has no getter waiting beside it;
// - after close, everything finishes and every completed item was delivered exactly once.

fn rop() -> impl Strategy<Value = QOp> {
    prop_oneof![
        2 => (0u8..4).prop_map(QOp::TryPut),
        2 => Just(QOp::TryGet),
        5 => (0u8..4).prop_map(QOp::StartPut),
        5 => Just(QOp::StartGet),
        4 => any::<usize>().prop_map(QOp::PollPut),
        4 => any::<usize>().prop_map(QOp::PollGet),
        2 => any::<usize>().prop_map(QOp::DropPut),
        2 => any::<usize>().prop_map(QOp::DropGet),
        2 => Just(QOp::TaskDone),
        4 => Just(QOp::Drive),
        1 => Just(QOp::Close),
        1 => Just(QOp::CloseNow),
    ]
}

struct Rendezvous<'a> {
    q: &'a AnyQueue,
    puts: Vec<PendingPut<'a>>,
    gets: Vec<Manual<BoxFut<'a, Result<Item, GetError>>>>,
    completed: HashSet<u32>,
    delivered: HashSet<u32>,
    unfinished: usize,
    closed: bool,
}

impl Rendezvous<'_> {
    fn deliver(&mut self, item: Item) {
        assert!(
            self.completed.contains(&item.1),
            "item {item:?} delivered but its put never completed"
        );
        assert!(
            self.delivered.insert(item.1),
            "item {item:?} delivered twice"
        );
    }

    fn complete(&mut self, item: Item) {
        assert!(!self.closed, "a put completed on a closed queue");
        assert!(self.completed.insert(item.1));
        self.unfinished += 1;
    }

    /// Items completed, not delivered, and not in the buffer: they must sit in pending gets.
    fn in_flight(&self) -> usize {
        let undelivered = self.completed.len() - self.delivered.len();
        undelivered
            .checked_sub(self.q.len())
            .expect("the buffer holds items no put completed")
    }

    fn poll_put(&mut self, i: usize) {
        let item = self.puts[i].item;
        match self.puts[i].fut.poll() {
            Poll::Pending => assert!(!self.closed, "put pending on a closed queue"),
            Poll::Ready(Ok(())) => {
                self.puts.remove(i);
                self.complete(item);
            }
            Poll::Ready(Err(PutError(x))) => {
                assert_eq!(x, item);
                assert!(self.closed, "put failed on an open queue");
                self.puts.remove(i);
            }
        }
    }

    fn poll_get(&mut self, i: usize) {
        match self.gets[i].poll() {
            Poll::Pending => assert!(!self.closed || self.in_flight() > 0 || self.q.len() > 0),
            Poll::Ready(Ok(item)) => {
                self.gets.swap_remove(i);
                self.deliver(item);
            }
            Poll::Ready(Err(GetError)) => {
                self.gets.swap_remove(i);
                assert!(self.closed, "get failed on an open queue");
            }
        }
    }

    fn drive(&mut self) {
        loop {
            if let Some(i) = self.puts.iter().position(|p| p.fut.woken()) {
                self.poll_put(i);
            } else if let Some(i) = self.gets.iter().position(Manual::woken) {
                self.poll_get(i);
            } else {
                return;
            }
        }
    }

    fn check(&self) {
        let in_flight = self.in_flight();
        assert!(
            in_flight <= self.gets.len(),
            "{in_flight} handed items but only {} gets",
            self.gets.len()
        );
        assert_eq!(self.q.unfinished(), self.unfinished, "unfinished");
        // Continuous liveness: an offer beside a waiting getter means somebody was woken.
        if !self.closed && !self.puts.is_empty() && !self.gets.is_empty() {
            assert!(
                self.puts.iter().any(|p| p.fut.woken()) || self.gets.iter().any(Manual::woken),
                "a getter and a putter both sleep"
            );
        }
        if self.closed {
            assert!(
                self.puts.iter().all(|p| p.fut.woken()),
                "put not woken by close"
            );
            // Invariant 7: while a handed item is in flight it may still come back (its get
            // dropped), so the other gets wait for it; once none is, every get is woken.
            assert!(
                in_flight > 0 || self.gets.iter().all(Manual::woken),
                "get not woken by close"
            );
        }
    }
}

fn run_rendezvous_model(kind: Kind, ops: Vec<QOp>) {
    let q = AnyQueue::new(kind, Some(0));
    let mut m = Rendezvous {
        q: &q,
        puts: Vec::new(),
        gets: Vec::new(),
        completed: HashSet::new(),
        delivered: HashSet::new(),
        unfinished: 0,
        closed: false,
    };
    let mut next_id = 0u32;
    for op in ops {
        match op {
            QOp::TryPut(prio) => {
                let item = (prio, next_id);
                next_id += 1;
                let waiting = m.gets.len();
                match q.try_put(item) {
                    Ok(()) => {
                        assert!(waiting > m.in_flight(), "try_put handed over to nobody");
                        m.complete(item);
                    }
                    Err(TryPutError::Full(x)) => assert!(x == item && !m.closed),
                    Err(TryPutError::Closed(x)) => assert!(x == item && m.closed),
                }
            }
            QOp::TryGet => {
                let buffered = q.len();
                match q.try_get() {
                    Ok(item) => {
                        assert!(buffered > 0, "try_get took an offer");
                        m.deliver(item);
                    }
                    Err(TryGetError::Empty) => assert_eq!(buffered, 0),
                    Err(TryGetError::Closed) => assert!(m.closed && buffered == 0),
                }
            }
            QOp::StartPut(prio) => {
                let item = (prio, next_id);
                next_id += 1;
                m.puts.push(PendingPut {
                    item,
                    fut: Manual::new(q.put(item)),
                });
                let i = m.puts.len() - 1;
                m.poll_put(i);
            }
            QOp::StartGet => {
                m.gets.push(Manual::new(q.get()));
                let i = m.gets.len() - 1;
                m.poll_get(i);
            }
            QOp::PollPut(i) if !m.puts.is_empty() => m.poll_put(i % m.puts.len()),
            QOp::PollGet(i) if !m.gets.is_empty() => m.poll_get(i % m.gets.len()),
            QOp::DropPut(i) if !m.puts.is_empty() => {
                let i = i % m.puts.len();
                m.puts.remove(i);
            }
            QOp::DropGet(i) if !m.gets.is_empty() => {
                let i = i % m.gets.len();
                m.gets.swap_remove(i);
            }
            QOp::TaskDone => match q.task_done() {
                Ok(()) => m.unfinished -= 1,
                Err(TaskDoneError) => assert_eq!(m.unfinished, 0),
            },
            QOp::Drive => {
                m.drive();
                assert_eq!(m.in_flight(), 0, "a handed item was not received");
                if !m.closed {
                    assert!(
                        m.puts.is_empty() || m.gets.is_empty(),
                        "{} putters and {} getters wait side by side",
                        m.puts.len(),
                        m.gets.len()
                    );
                    assert!(
                        q.len() == 0 || m.gets.is_empty(),
                        "a getter sleeps beside an item"
                    );
                } else {
                    assert!(
                        m.puts.is_empty() && m.gets.is_empty(),
                        "waiters left after close"
                    );
                }
            }
            QOp::Close => {
                q.close();
                m.closed = true;
            }
            QOp::CloseNow => {
                let drained = q.close_now();
                m.closed = true;
                m.unfinished = m.unfinished.saturating_sub(drained.len());
                for item in drained {
                    m.deliver(item);
                }
            }
            _ => {}
        }
        m.check();
    }
    // Wind down: close, finish everything, account for every completed item.
    q.close();
    m.closed = true;
    m.drive();
    assert!(
        m.puts.is_empty() && m.gets.is_empty(),
        "waiters left after close"
    );
    for item in q.close_now() {
        m.deliver(item);
    }
    assert_eq!(m.completed, m.delivered, "items lost");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(support::cases(300)))]

    #[test]
    fn rendezvous_fifo_keeps_its_invariants(ops in prop::collection::vec(rop(), 1..120)) {
        run_rendezvous_model(Kind::Fifo, ops);
    }

    #[test]
    fn rendezvous_lifo_keeps_its_invariants(ops in prop::collection::vec(rop(), 1..120)) {
        run_rendezvous_model(Kind::Lifo, ops);
    }

    #[test]
    fn rendezvous_priority_keeps_its_invariants(ops in prop::collection::vec(rop(), 1..120)) {
        run_rendezvous_model(Kind::Priority, ops);
    }
}

// ---------------------------------------------------------------------------------------------
// Real threads.

/// How the threads of `mpmc_exactly_once` put and get.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `put_blocking` and `get_blocking`.
    Blocking,
    /// `put` and `get` under `future::block_on`.
    Async,
    /// As `Async`, but every 13th get races a short yield, so that some gets are woken (or
    /// handed an item) and then dropped.
    AsyncRacing,
}

/// 8 producers and 8 consumers; every item arrives exactly once, and, when `ordered`, each
/// consumer sees each producer's items in order (FIFO).
fn mpmc_exactly_once(q: Queue<(usize, usize)>, total: usize, mode: Mode, ordered: bool) {
    let blocking = mode == Mode::Blocking;
    const PRODUCERS: usize = 8;
    const CONSUMERS: usize = 8;
    let per_producer = total / PRODUCERS;
    let seen: Arc<Vec<AtomicUsize>> = Arc::new(
        (0..PRODUCERS * per_producer)
            .map(|_| AtomicUsize::new(0))
            .collect(),
    );
    let done = Arc::new(AtomicUsize::new(0));

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                if blocking {
                    for i in 0..per_producer {
                        q.put_blocking((p, i)).unwrap();
                    }
                } else {
                    future::block_on(async {
                        for i in 0..per_producer {
                            q.put((p, i)).await.unwrap();
                        }
                    });
                }
                if done.fetch_add(1, Ordering::AcqRel) + 1 == PRODUCERS {
                    q.close();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let q = q.clone();
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut last = [None::<usize>; PRODUCERS];
                let mut check = |(p, i): (usize, usize)| {
                    if ordered {
                        assert!(last[p].is_none_or(|l| l < i), "producer {p}'s order broken");
                    }
                    last[p] = Some(i);
                    assert_eq!(seen[p * per_producer + i].fetch_add(1, Ordering::AcqRel), 0);
                };
                if blocking {
                    while let Ok(item) = q.get_blocking() {
                        check(item);
                    }
                } else {
                    future::block_on(async {
                        let mut n = 0usize;
                        loop {
                            n += 1;
                            if mode == Mode::AsyncRacing && (n + c) % 13 == 0 {
                                // Race a get against a short yield: sometimes the get is woken and
                                // then dropped. Nothing may be lost.
                                let raced = future::or(async { Some(q.get().await) }, async {
                                    future::yield_now().await;
                                    None
                                })
                                .await;
                                match raced {
                                    Some(Ok(item)) => check(item),
                                    Some(Err(GetError)) => return,
                                    None => {}
                                }
                                continue;
                            }
                            match q.get().await {
                                Ok(item) => check(item),
                                Err(GetError) => return,
                            }
                        }
                    });
                }
            })
        })
        .collect();
    for t in producers.into_iter().chain(consumers) {
        t.join().unwrap();
    }
    assert!(
        seen.iter().all(|n| n.load(Ordering::Acquire) == 1),
        "an item was lost"
    );
    assert!(q.is_empty());
}

#[test]
fn stress_mpmc_bounded_async() {
    // Issue 3: 8 producers of 100,000 items each.
    mpmc_exactly_once(Queue::bounded(16), stress(800_000), Mode::AsyncRacing, true);
}

#[test]
fn stress_mpmc_bounded_blocking() {
    mpmc_exactly_once(Queue::bounded(4), stress(40_000), Mode::Blocking, true);
}

#[test]
fn stress_mpmc_unbounded_async() {
    mpmc_exactly_once(Queue::unbounded(), stress(40_000), Mode::AsyncRacing, true);
}

/// A capacity too large to allocate up front keeps its items in linked blocks and counts its
/// slots separately (`ring.rs`): the count must never let the queue overfill, nor leak a slot
/// (the producers would then hang).
#[test]
fn stress_mpmc_bounded_past_the_preallocated_ring() {
    const CAP: usize = 1025;
    let q = Queue::bounded(CAP);
    let watcher = {
        let q = q.clone();
        std::thread::spawn(move || {
            while !q.is_closed() {
                assert!(q.len() <= CAP, "{} items in a queue of {CAP}", q.len());
                std::thread::yield_now();
            }
        })
    };
    mpmc_exactly_once(q.clone(), stress(400_000), Mode::AsyncRacing, true);
    watcher.join().unwrap();
}

#[test]
fn stress_mpmc_rendezvous() {
    mpmc_exactly_once(Queue::bounded(0), stress(8_000), Mode::Async, true);
}

/// A rendezvous get that is dropped after a put handed it an item passes the item on (queue_core
/// invariant 6), by then possibly behind items handed to other gets since, which their consumers
/// may already have returned: FIFO order cannot hold for that item (the queue's docs say so), but
/// nothing may be lost or delivered twice. A run once broke "producer 2's order" here.
#[test]
fn stress_mpmc_rendezvous_cancelled_gets() {
    mpmc_exactly_once(Queue::bounded(0), stress(8_000), Mode::AsyncRacing, false);
}

#[test]
fn stress_priority_and_lifo_exactly_once() {
    let total = stress(16_000);
    for lifo in [false, true] {
        let prio = PriorityQueue::bounded(8);
        let stack = LifoQueue::bounded(8);
        let counts: Arc<HashMap<usize, AtomicUsize>> =
            Arc::new((0..total).map(|i| (i, AtomicUsize::new(0))).collect());
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let (prio, stack) = (prio.clone(), stack.clone());
                std::thread::spawn(move || {
                    for i in (p..total).step_by(4) {
                        if lifo {
                            stack.put_blocking(i).unwrap();
                        } else {
                            prio.put_blocking(i).unwrap();
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let (prio, stack, counts) = (prio.clone(), stack.clone(), counts.clone());
                std::thread::spawn(move || {
                    loop {
                        let got = if lifo {
                            stack.get_blocking()
                        } else {
                            prio.get_blocking()
                        };
                        match got {
                            Ok(i) => {
                                counts[&i].fetch_add(1, Ordering::AcqRel);
                            }
                            Err(GetError) => return,
                        }
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        prio.close();
        stack.close();
        for c in consumers {
            c.join().unwrap();
        }
        assert!(counts.values().all(|n| n.load(Ordering::Acquire) == 1));
    }
}

#[test]
fn stress_join_with_task_done() {
    let q = Queue::bounded(8);
    let total = stress(20_000);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let q = q.clone();
            std::thread::spawn(move || {
                while let Ok(_item) = q.get_blocking() {
                    q.task_done().unwrap();
                }
            })
        })
        .collect();
    future::block_on(async {
        for i in 0..total {
            q.put(i).await.unwrap();
        }
        q.join().await;
        assert_eq!(q.unfinished(), 0);
    });
    q.close();
    for w in workers {
        w.join().unwrap();
    }
}

/// A waker whose last reference owns another future of the same queue: dropping that waker runs
/// the other future's `Drop`, which takes the queue's lock. The queue must never drop a waker
/// while holding its lock, or this deadlocks.
#[test]
fn dropping_the_last_waker_may_reenter_the_queue() {
    use std::sync::Mutex as StdMutex;
    use std::task::{Context, Wake, Waker};

    /// Owns a future only so that dropping the waker drops it.
    struct OwnsFuture {
        _owned: StdMutex<Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>>,
    }
    impl Wake for OwnsFuture {
        fn wake(self: Arc<Self>) {}
    }

    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let q: &'static Queue<u8> = Box::leak(Box::new(Queue::unbounded()));
        for _ in 0..2 {
            // `inner` is registered, then owned by the waker of `outer`.
            let mut inner = Box::pin(async {
                let _ = q.get().await;
            });
            assert!(
                inner
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                    .is_pending()
            );
            let waker = Waker::from(Arc::new(OwnsFuture {
                _owned: StdMutex::new(Some(inner)),
            }));
            let mut outer = Box::pin(q.get());
            assert!(
                outer
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            drop(waker); // the queue now holds the last reference
            drop(outer); // removes its node: the waker, then `inner`, are dropped
        }
        assert_eq!(q.len(), 0);
        done_tx.send(()).unwrap();
    });
    // A generous bound: this takes microseconds unless it deadlocked.
    done_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("dropping a waker under the queue's lock deadlocked");
}
