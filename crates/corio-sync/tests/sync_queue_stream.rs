//! `Queue::stream` (and the LIFO and priority queues'): the getting side as a `Stream`, ending at
//! close-and-empty, never losing an item to a dropped `next()` or stream.

use std::pin::pin;
use std::task::{Context, Poll, Waker};

use corio_sync::{LifoQueue, PriorityQueue, Queue};
use futures_lite::{StreamExt, future};

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

#[test]
fn yields_in_queue_order_until_closed_and_empty() {
    future::block_on(async {
        let q = Queue::unbounded();
        let mut s = q.stream();
        q.put(1).await.unwrap();
        q.put(2).await.unwrap();
        assert_eq!(s.next().await, Some(1));
        q.close();
        assert_eq!(
            s.next().await,
            Some(2),
            "items left at close are still delivered"
        );
        assert_eq!(s.next().await, None);
        assert_eq!(s.next().await, None, "it stays ended");

        let lifo = LifoQueue::unbounded();
        let prio = PriorityQueue::unbounded();
        for i in [2, 3, 1] {
            lifo.try_put(i).unwrap();
            prio.try_put(i).unwrap();
        }
        lifo.close();
        prio.close();
        assert_eq!(lifo.stream().collect::<Vec<_>>().await, [1, 3, 2]);
        assert_eq!(prio.stream().collect::<Vec<_>>().await, [1, 2, 3]);
    });
}

#[test]
fn a_pending_stream_is_woken_by_a_put_and_is_static() {
    let q = Queue::bounded(1);
    let consumer = std::thread::spawn({
        let s = q.stream(); // owned: moves to another thread without the queue handle
        move || future::block_on(s.collect::<Vec<u32>>())
    });
    for i in 0..100 {
        q.put_blocking(i).unwrap();
    }
    q.close();
    assert_eq!(consumer.join().unwrap(), (0..100).collect::<Vec<_>>());
}

#[test]
fn a_dropped_next_keeps_the_stream_in_line_and_loses_nothing() {
    // Rendezvous: a put hands its item straight to the waiting stream.
    let q = Queue::bounded(0);
    let mut s = q.stream();
    {
        let next = pin!(s.next());
        let mut next = next;
        assert!(next.as_mut().poll(&mut noop_cx()).is_pending());
    } // the `next()` future is dropped; the stream keeps its place
    assert_eq!(
        q.try_put(5),
        Ok(()),
        "the stream still waits, so the hand-over succeeds"
    );
    assert_eq!(future::block_on(s.next()), Some(5));
}

#[test]
fn a_dropped_stream_passes_a_handed_item_on() {
    let q = Queue::bounded(0);
    let mut s = q.stream();
    assert!(pin!(s.next()).poll(&mut noop_cx()).is_pending());
    q.try_put("handed").unwrap(); // handed to the stream's waiting get
    drop(s);
    assert_eq!(q.try_get(), Ok("handed"), "the item went back to the queue");

    // With another getter waiting behind it, the item goes to that getter.
    let mut s = q.stream();
    let mut get = pin!(q.get());
    assert!(pin!(s.next()).poll(&mut noop_cx()).is_pending());
    assert!(get.as_mut().poll(&mut noop_cx()).is_pending());
    q.try_put("second").unwrap();
    drop(s);
    assert_eq!(get.as_mut().poll(&mut noop_cx()), Poll::Ready(Ok("second")));
}

#[test]
fn many_streams_share_the_items_each_once() {
    let q = Queue::bounded(4);
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let s = q.stream();
            std::thread::spawn(move || future::block_on(s.collect::<Vec<u32>>()))
        })
        .collect();
    for i in 0..2000 {
        q.put_blocking(i).unwrap();
    }
    q.close();
    let mut all: Vec<u32> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..2000).collect::<Vec<_>>());
}

#[test]
fn try_put_into_a_rendezvous_queue_succeeds_only_when_a_get_waits() {
    let q = Queue::bounded(0);
    assert!(matches!(
        q.try_put(1),
        Err(corio_sync::TryPutError::Full(1))
    ));
    let mut get = pin!(q.get());
    assert!(get.as_mut().poll(&mut noop_cx()).is_pending());
    assert_eq!(q.try_put(2), Ok(()), "a waiting get takes the item");
    assert!(
        matches!(q.try_put(3), Err(corio_sync::TryPutError::Full(3))),
        "only one get waited"
    );
    assert_eq!(get.as_mut().poll(&mut noop_cx()), Poll::Ready(Ok(2)));
    assert!(q.is_empty());
}
