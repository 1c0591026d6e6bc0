//! The reactor on its own, driven by hand: a `ReactorDriver` entered on the test thread, parked
//! by the test, with wakers that count. Registration and deregistration (the source count),
//! waiter bookkeeping (the waiting count) when futures are dropped, readiness after `EAGAIN` in
//! edge mode, and what waiting futures see when the driver goes away.

use std::future::Future;
use std::io;
use std::net::UdpSocket;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use corio_reactor::{Async, Reactor, ReactorDriver};

#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    (count.clone(), Waker::from(count))
}

impl Count {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Parks the driver until it has dispatched at least one event (a generous bound).
fn park_until_event(driver: &mut ReactorDriver) {
    for _ in 0..100 {
        if driver.park(Some(Duration::from_millis(100))).unwrap() > 0 {
            return;
        }
    }
    panic!("no event in 10 s");
}

fn udp() -> (UdpSocket, std::net::SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    (s, addr)
}

/// A UDP socket registered with the current reactor, its address, and a plain peer socket to
/// send to it from.
fn socket_and_peer() -> (Async<UdpSocket>, std::net::SocketAddr, UdpSocket) {
    let (std_socket, addr) = udp();
    (Async::new(std_socket).unwrap(), addr, udp().0)
}

#[test]
fn sources_register_on_creation_and_deregister_on_drop_and_into_inner() {
    let driver = ReactorDriver::new().unwrap();
    let reactor = driver.reactor();
    let _entered = reactor.enter();
    assert_eq!(reactor.sources(), 0);
    let a = Async::new(udp().0).unwrap();
    let b = Async::new(udp().0).unwrap();
    assert_eq!(
        reactor.sources(),
        2,
        "both registered with the entered reactor"
    );
    drop(a);
    assert_eq!(reactor.sources(), 1);
    let inner = b.into_inner().unwrap();
    assert_eq!(reactor.sources(), 0);
    // The handle given back is intact (and still non-blocking, as `Async::new` left it).
    let (peer, _) = udp();
    peer.send_to(b"x", inner.local_addr().unwrap()).unwrap();
    // Slots are reused: a thousand registrations leave nothing behind.
    for _ in 0..1000 {
        let s = Async::new(udp().0).unwrap();
        assert_eq!(reactor.sources(), 1);
        drop(s);
    }
    assert_eq!(reactor.sources(), 0);
}

#[test]
fn reactor_current_is_the_entered_one_and_the_guard_restores_the_previous() {
    let outer = ReactorDriver::new().unwrap();
    let inner = ReactorDriver::new().unwrap();
    let _o = outer.reactor().enter();
    {
        let _i = inner.reactor().enter();
        let s = Async::new(udp().0).unwrap();
        assert_eq!(
            (inner.reactor().sources(), outer.reactor().sources()),
            (1, 0)
        );
        drop(s);
    }
    let s = Async::new(udp().0).unwrap();
    assert_eq!(
        (inner.reactor().sources(), outer.reactor().sources()),
        (0, 1)
    );
    drop(s);
    let _: Reactor = Reactor::current().unwrap();
}

/// A waiting future counts once in `waiting()`; dropping it (cancel) or its completion takes it
/// out, so a cancelled wait leaves nothing behind.
#[test]
fn waiting_futures_are_counted_and_a_dropped_one_leaves_nothing() {
    let mut driver = ReactorDriver::new().unwrap();
    let reactor = driver.reactor();
    let _entered = reactor.enter();
    let (std_socket, addr) = udp();
    let socket = Async::new(std_socket).unwrap();
    let mut buf = [0; 8];
    {
        let fut = pin!(socket.read_with(|s| s.recv(&mut buf)));
        let mut fut = fut;
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        assert_eq!(reactor.waiting(), 1);
    }
    assert_eq!(reactor.waiting(), 0, "the dropped read took its waker away");
    {
        let mut r = pin!(socket.readable());
        assert!(
            r.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        let mut r2 = pin!(socket.readable());
        assert!(
            r2.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        assert_eq!(
            reactor.waiting(),
            1,
            "one per source and direction, however many futures"
        );
    }
    assert_eq!(reactor.waiting(), 0);
    // A completed wait is no longer counted either.
    let (count, waker) = counting();
    {
        let mut fut = pin!(socket.read_with(|s| s.recv(&mut buf)));
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        udp().0.send_to(b"ping", addr).unwrap();
        park_until_event(&mut driver);
        assert_eq!(count.get(), 1);
        assert_eq!(reactor.waiting(), 0, "dispatch took the waker");
        assert!(matches!(
            fut.as_mut().poll(&mut Context::from_waker(&waker)),
            Poll::Ready(Ok(4))
        ));
    }
    assert_eq!(&buf[..4], b"ping");
    assert_eq!(reactor.waiting(), 0);
}

/// Edge mode: after an operation hit `EAGAIN`, the next datagram produces a new event, which
/// wakes the waiter; a burst of datagrams is one edge but every datagram is still read, because
/// readiness stays set until an operation fails again.
#[test]
fn readiness_after_eagain_in_edge_mode() {
    let mut driver = ReactorDriver::new().unwrap();
    let reactor = driver.reactor();
    let _entered = reactor.enter();
    let (socket, addr, peer) = socket_and_peer();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0; 8];
    for round in 0..100u32 {
        let woken = count.get();
        // Several datagrams per round, sent together: maybe one edge for all of them.
        let burst = round % 4 + 1;
        let mut got = Vec::new();
        {
            let mut fut = pin!(socket.read_with(|s| s.recv(&mut buf)));
            assert!(
                fut.as_mut().poll(&mut cx).is_pending(),
                "round {round}: EAGAIN"
            );
            for i in 0..burst {
                peer.send_to(&(round * 10 + i).to_le_bytes(), addr).unwrap();
            }
            park_until_event(&mut driver);
            assert!(count.get() > woken, "round {round}: woken by the edge");
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(4)) => {}
                other => panic!("round {round}: {other:?}"),
            }
        }
        got.push(u32::from_le_bytes(buf[..4].try_into().unwrap()));
        // The rest of the burst: readiness is still set, so no wait is needed.
        while got.len() < burst as usize {
            let n = {
                let mut fut = pin!(socket.read_with(|s| s.recv(&mut buf)));
                let mut polls = 0;
                loop {
                    match fut.as_mut().poll(&mut cx) {
                        Poll::Ready(r) => break r.unwrap(),
                        // The datagram may still be on its way through loopback: one more event.
                        Poll::Pending => park_until_event(&mut driver),
                    }
                    polls += 1;
                    assert!(polls < 10);
                }
            };
            assert_eq!(n, 4);
            got.push(u32::from_le_bytes(buf[..4].try_into().unwrap()));
        }
        assert_eq!(got, (0..burst).map(|i| round * 10 + i).collect::<Vec<_>>());
    }
}

/// The write direction: a socket is writable at once (unknown readiness counts as ready), and a
/// `writable()` future completes without waiting.
#[test]
fn a_fresh_source_is_writable_without_an_event() {
    let driver = ReactorDriver::new().unwrap();
    let _entered = driver.reactor().enter();
    let (std_socket, _) = udp();
    let socket = Async::new(std_socket).unwrap();
    let mut w = pin!(socket.writable());
    assert!(
        w.as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    );
    let (_, to) = udp();
    let mut send = pin!(socket.write_with(|s| s.send_to(b"hi", to)));
    assert!(matches!(
        send.as_mut().poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(Ok(2))
    ));
}

/// When the driver goes away (its runtime shut down), waiting futures are woken and fail with an
/// error instead of waiting forever; new registrations fail; dropping the sources afterwards is
/// harmless.
#[test]
fn a_dropped_driver_wakes_its_waiters_with_an_error() {
    let driver = ReactorDriver::new().unwrap();
    let reactor = driver.reactor();
    let entered = reactor.enter();
    let (std_socket, _) = udp();
    let socket = Async::new(std_socket).unwrap();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0; 8];
    {
        let mut read = pin!(socket.read_with(|s| s.recv(&mut buf)));
        assert!(read.as_mut().poll(&mut cx).is_pending());
        let mut readable = pin!(socket.readable());
        assert!(readable.as_mut().poll(&mut cx).is_pending());
        drop(driver);
        assert_eq!(count.get(), 2, "both waiters woken");
        match read.as_mut().poll(&mut cx) {
            Poll::Ready(Err(e)) => assert!(e.to_string().contains("shut down"), "{e}"),
            other => panic!("{other:?}"),
        }
        match readable.as_mut().poll(&mut cx) {
            Poll::Ready(Err(e)) => assert!(e.to_string().contains("shut down"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
    let late = Async::new(udp().0);
    assert!(late.is_err(), "no registration after shutdown");
    drop(entered);
    drop(socket);
    assert_eq!(reactor.sources(), 0);
}

/// Outside any runtime, sources use the global reactor, driven by its own thread.
#[test]
fn the_global_reactor_serves_sources_created_outside_a_runtime() {
    futures_lite::future::block_on(async {
        let (a, a_addr) = udp();
        let b = Async::new(udp().0).unwrap();
        let b_addr = b.get_ref().local_addr().unwrap();
        let a = Async::new(a).unwrap();
        let receive = async {
            let mut buf = [0; 16];
            let (n, from) = b.read_with(|s| s.recv_from(&mut buf)).await?;
            io::Result::Ok((buf[..n].to_vec(), from))
        };
        let send = async {
            corio_timer_free_pause().await;
            a.write_with(|s| s.send_to(b"global", b_addr)).await
        };
        let (got, sent) = futures_lite::future::zip(receive, send).await;
        assert_eq!(sent.unwrap(), 6);
        assert_eq!(got.unwrap(), (b"global".to_vec(), a_addr));
    });
}

/// Lets the receiver start waiting first (a few yields; no timer crate here).
async fn corio_timer_free_pause() {
    for _ in 0..10 {
        futures_lite::future::yield_now().await;
    }
}

/// Two tasks reading one source through the poll API (two clones of a stream, one reader each):
/// the second registration must not make the first reader miss the next event. Each event wakes
/// both; the one that finds no data registers again and is woken by the event after.
#[test]
fn two_readers_through_the_poll_api_are_both_woken() {
    let mut driver = ReactorDriver::new().unwrap();
    let reactor = driver.reactor();
    let _entered = reactor.enter();
    let (socket, addr, peer) = socket_and_peer();
    let (count_a, waker_a) = counting();
    let (count_b, waker_b) = counting();
    let mut buf = [0; 8];
    let read = |waker: &Waker, buf: &mut [u8]| {
        socket.poll_read_with(&mut Context::from_waker(waker), |s| s.recv(buf))
    };
    assert!(read(&waker_a, &mut buf).is_pending());
    assert!(read(&waker_b, &mut buf).is_pending());
    // A polls again (say, a select loop): still one entry per task.
    assert!(read(&waker_a, &mut buf).is_pending());
    assert_eq!(reactor.waiting(), 1);
    peer.send_to(b"one", addr).unwrap();
    park_until_event(&mut driver);
    assert_eq!((count_a.get(), count_b.get()), (1, 1), "both readers woken");
    assert_eq!(reactor.waiting(), 0, "the event took every waker");
    // B takes the datagram; A finds nothing and waits again, alone.
    assert!(matches!(read(&waker_b, &mut buf), Poll::Ready(Ok(3))));
    assert!(read(&waker_a, &mut buf).is_pending());
    peer.send_to(b"two", addr).unwrap();
    park_until_event(&mut driver);
    assert_eq!(
        (count_a.get(), count_b.get()),
        (2, 1),
        "A woken by the next event"
    );
    assert!(matches!(read(&waker_a, &mut buf), Poll::Ready(Ok(3))));
    assert_eq!(&buf[..3], b"two");
    // A registration left behind by a reader that went away is dropped by the next event too.
    assert!(read(&waker_a, &mut buf).is_pending());
    assert!(read(&waker_b, &mut buf).is_pending());
    peer.send_to(b"three", addr).unwrap();
    park_until_event(&mut driver);
    assert_eq!((count_a.get(), count_b.get()), (3, 2));
    assert_eq!(reactor.waiting(), 0);
}
