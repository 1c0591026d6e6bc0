//! The reactor's readiness contract on whichever backend this build and kernel give (the ring
//! with `--features io-uring`, epoll without it or under `CORIO_IO=epoll`): TCP, UDP, Unix
//! streams and pipes through `Async`, cross-thread wake-ups (including a source registered while
//! another thread is already parked), park timeouts, many connections, bursts of events, the
//! file being released when a source is dropped, and shutdown with waits in flight.

mod support;

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use corio_reactor::{Async, ReactorDriver};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use support::{Count, Parked, expected_backend, join_all, tcp_pair, wait_for, within};

#[test]
fn the_backend_is_the_ring_with_the_feature_and_epoll_without() {
    let driver = ReactorDriver::new().unwrap();
    let reactor = driver.reactor();
    assert_eq!(reactor.backend(), expected_backend());
    let debug = format!("{reactor:?}");
    assert!(debug.contains(expected_backend()), "{debug}");
    // A fallback names its reason; a ring, or a build without the feature, has none.
    let forced = std::env::var_os("CORIO_IO").is_some_and(|v| v == "epoll");
    assert_eq!(
        debug.contains("fallback"),
        cfg!(feature = "io-uring") && forced,
        "{debug}"
    );
}

#[test]
fn tcp_echo_through_async_read_write_and_the_with_methods() {
    let parked = Parked::new();
    let _entered = parked.reactor.enter();
    let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    within(10, async {
        let mut client = Async::new(TcpStream::connect(addr)?)?;
        let (server, _) = listener.read_with(|l| l.accept()).await?;
        let mut server = Async::new(server)?;
        for i in 0..200u32 {
            let msg = i.to_le_bytes();
            client.write_all(&msg).await?;
            let mut buf = [0; 4];
            server.read_exact(&mut buf).await?;
            assert_eq!(buf, msg);
            // And back, through the closure API this time.
            server.write_with(|s| (&*s).write(&buf)).await?;
            let mut back = [0; 4];
            let n = client.read_with(|s| (&*s).read(&mut back)).await?;
            assert_eq!(&back[..n], &msg[..n]);
            if n < 4 {
                client.read_exact(&mut back[n..]).await?;
            }
        }
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn udp_datagrams_wait_for_readiness() {
    let parked = Parked::new();
    let _entered = parked.reactor.enter();
    let a = Async::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    let b = Async::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    let to = b.get_ref().local_addr().unwrap();
    within(10, async {
        for i in 0..100u8 {
            // The receive starts first, so it has to wait for the datagram's event.
            let mut buf = [0; 1];
            let recv = b.read_with(|s| s.recv_from(&mut buf));
            let send = async {
                a.write_with(|s| s.send_to(&[i], to)).await?;
                io::Result::Ok(())
            };
            let ((n, from), ()) = futures_lite::future::try_zip(recv, send).await?;
            assert_eq!((n, buf[0], from), (1, i, a.get_ref().local_addr()?));
        }
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn unix_streams_and_pipes_carry_every_byte() {
    let parked = Parked::new();
    let _entered = parked.reactor.enter();
    // A Unix stream pair: 1 MiB one way, more than the socket buffers hold, so both sides wait.
    let (a, b) = UnixStream::pair().unwrap();
    let (mut a, mut b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let got = within(20, async {
        let write = async {
            a.write_all(&data).await?;
            a.get_ref().shutdown(Shutdown::Write)?;
            io::Result::Ok(())
        };
        let read = async {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await?;
            io::Result::Ok(got)
        };
        futures_lite::future::try_zip(write, read).await
    })
    .unwrap()
    .1;
    assert!(got == data, "the stream lost or reordered bytes");

    // Real pipes: through `cat`, whose stdin and stdout are pipes.
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = Async::new(child.stdin.take().unwrap()).unwrap();
    let mut stdout = Async::new(child.stdout.take().unwrap()).unwrap();
    let echoed = within(20, async {
        let write = async {
            stdin.write_all(&data).await?;
            drop(stdin);
            io::Result::Ok(())
        };
        let read = async {
            let mut got = Vec::new();
            stdout.read_to_end(&mut got).await?;
            io::Result::Ok(got)
        };
        futures_lite::future::try_zip(write, read).await
    })
    .unwrap()
    .1;
    assert!(echoed == data, "the pipes lost or reordered bytes");
    assert!(child.wait().unwrap().success());
}

#[test]
fn notify_wakes_a_park_on_another_thread() {
    let mut driver = ReactorDriver::new().unwrap();
    let reactor = driver.reactor();
    for _ in 0..20 {
        let parker = std::thread::spawn(move || {
            driver.park(None).unwrap();
            driver
        });
        // Keep notifying until the park returns (it may not have started yet).
        while !parker.is_finished() {
            reactor.notify();
            std::thread::sleep(Duration::from_millis(1));
        }
        driver = parker.join().unwrap();
    }
    // A notification made before the park makes it return at once, and it is consumed.
    reactor.notify();
    reactor.notify();
    let start = Instant::now();
    assert_eq!(driver.park(Some(Duration::from_secs(20))).unwrap(), 0);
    assert!(start.elapsed() < Duration::from_secs(10));
    let start = Instant::now();
    assert_eq!(driver.park(Some(Duration::from_millis(50))).unwrap(), 0);
    assert!(start.elapsed() >= Duration::from_millis(50), "consumed");
}

#[test]
fn a_park_timeout_is_never_early_and_zero_does_not_wait() {
    let mut driver = ReactorDriver::new().unwrap();
    for wait in [
        Duration::from_micros(300),
        Duration::from_millis(2),
        Duration::from_millis(30),
    ] {
        let start = Instant::now();
        assert_eq!(driver.park(Some(wait)).unwrap(), 0);
        let took = start.elapsed();
        assert!(took >= wait, "woke after {took:?}, before {wait:?}");
        assert!(took < wait + Duration::from_secs(5), "{took:?}");
    }
    let start = Instant::now();
    for _ in 0..1000 {
        assert_eq!(driver.park(Some(Duration::ZERO)).unwrap(), 0);
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// A source registered while another thread is already parked with no timeout must still wake
/// it: nothing else will (on the ring, the registering thread wakes the parked one, whose next
/// enter submits the poll). A listener is used because it has no readiness at all until a
/// connection arrives.
#[test]
fn a_source_registered_during_an_endless_park_reaches_the_parked_thread() {
    let mut driver = ReactorDriver::new().unwrap();
    let reactor = driver.reactor();
    let _entered = reactor.enter();
    for _ in 0..10 {
        let count = Arc::new(Count::default());
        let seen = count.clone();
        let parker = std::thread::spawn(move || {
            // Endless parks (no timeout) until the accept below is woken.
            while seen.0.load(Ordering::SeqCst) == 0 {
                driver.park(None).unwrap();
            }
            driver
        });
        std::thread::sleep(Duration::from_millis(20)); // parked by now, in all likelihood
        let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let waker = Waker::from(count.clone());
        let mut accept = listener.read_with(|l| l.accept());
        assert!(accept.poll(&mut Context::from_waker(&waker)).is_pending());
        let _client = TcpStream::connect(listener.get_ref().local_addr().unwrap()).unwrap();
        wait_for("the parked thread wakes the accept", || {
            parker.is_finished()
        });
        driver = parker.join().unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(accept.poll(&mut Context::from_waker(&waker)).is_ready());
    }
}

/// The kernel runs a ring poll's wake-up work on the thread that submitted the poll, and
/// cancels the poll when that thread has exited; the reactor must re-arm it. The driver is
/// parked once by a short-lived thread (whose enter submits the poll), then by this one.
#[test]
fn a_poll_submitted_by_a_thread_that_has_exited_still_gets_events() {
    let mut driver = ReactorDriver::new().unwrap();
    let reactor = driver.reactor();
    let _entered = reactor.enter();
    for _ in 0..20 {
        let (mut client, server) = tcp_pair();
        let server = Async::new(server).unwrap();
        driver = std::thread::spawn(move || {
            driver.park(Some(Duration::ZERO)).unwrap();
            driver
        })
        .join()
        .unwrap();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        // Twice: the second edge needs the poll re-armed, not just the lost edge reported.
        for round in 1..=2 {
            let mut buf = [0; 4];
            let mut read = server.read_with(|s| (&*s).read(&mut buf));
            assert!(read.poll(&mut Context::from_waker(&waker)).is_pending());
            client.write_all(b"late").unwrap();
            let start = Instant::now();
            while count.0.load(Ordering::SeqCst) < round {
                assert!(start.elapsed() < Duration::from_secs(10), "never woken");
                driver.park(Some(Duration::from_millis(50))).unwrap();
            }
            match read.poll(&mut Context::from_waker(&waker)) {
                std::task::Poll::Ready(Ok(4)) => {}
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn many_connections_echo_concurrently() {
    const CONNS: usize = 100;
    const ROUNDS: u32 = 30;
    let parked = Parked::new();
    let _entered = parked.reactor.enter();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut pairs = Vec::new();
    for _ in 0..CONNS {
        let client = Async::new(TcpStream::connect(addr).unwrap()).unwrap();
        let server = Async::new(listener.accept().unwrap().0).unwrap();
        pairs.push((client, server));
    }
    assert_eq!(parked.reactor.sources(), 2 * CONNS);
    let futures: Vec<Pin<Box<dyn Future<Output = io::Result<u32>>>>> = pairs
        .iter_mut()
        .enumerate()
        .map(|(c, (client, server))| {
            Box::pin(async move {
                let mut sum = 0u32;
                for r in 0..ROUNDS {
                    let msg = (c as u32 * 1000 + r).to_le_bytes();
                    client.write_all(&msg).await?;
                    let mut buf = [0; 4];
                    server.read_exact(&mut buf).await?;
                    server.write_all(&buf).await?;
                    client.read_exact(&mut buf).await?;
                    assert_eq!(buf, msg);
                    sum += 1;
                }
                Ok(sum)
            }) as Pin<Box<dyn Future<Output = io::Result<u32>>>>
        })
        .collect();
    let start = Instant::now();
    let results = join_all(futures);
    assert!(start.elapsed() < Duration::from_secs(30));
    for r in results {
        assert_eq!(r.unwrap(), ROUNDS);
    }
    drop(pairs);
    assert_eq!(parked.reactor.sources(), 0);
}

/// More events than the completion queue holds (100 sockets × 50 datagrams, each a wake-up)
/// before anyone parks: every socket is still reported, and edges keep coming afterwards.
#[test]
fn a_burst_of_events_larger_than_the_queue_loses_no_source() {
    const SOCKETS: usize = 100;
    let mut driver = ReactorDriver::new().unwrap();
    let reactor = driver.reactor();
    let _entered = reactor.enter();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sockets: Vec<_> = (0..SOCKETS)
        .map(|_| Async::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap())
        .collect();
    // Registered (submitted by this park), and nothing readable yet: each waits.
    let counts: Vec<Arc<Count>> = (0..SOCKETS).map(|_| Arc::default()).collect();
    let wait_all = |sockets: &[Async<UdpSocket>]| {
        for (s, c) in sockets.iter().zip(&counts) {
            let waker = Waker::from(c.clone());
            let mut buf = [0; 8];
            let mut recv = s.read_with(|s| s.recv_from(&mut buf));
            assert!(recv.poll(&mut Context::from_waker(&waker)).is_pending());
            // Keep the waker registered after the future is gone: poll the `poll_*` API too.
            assert!(
                s.poll_readable(&mut Context::from_waker(&waker))
                    .is_pending()
            );
        }
    };
    wait_all(&sockets);
    driver.park(Some(Duration::ZERO)).unwrap();
    for round in 0..2 {
        for s in &sockets {
            for i in 0..50u8 {
                peer.send_to(&[i], s.get_ref().local_addr().unwrap())
                    .unwrap();
            }
        }
        wait_for("every socket woken", || {
            driver.park(Some(Duration::from_millis(10))).unwrap();
            counts.iter().all(|c| c.0.load(Ordering::SeqCst) > round)
        });
        // Drain, then wait again: the next round's edges must still arrive.
        for s in &sockets {
            let mut buf = [0; 8];
            let mut n = 0;
            while s.get_ref().recv_from(&mut buf).is_ok() {
                n += 1;
            }
            assert_eq!(n, 50, "the datagrams themselves are all there");
        }
        wait_all(&sockets);
    }
}

/// Dropping a source releases its file at once: a poll on the ring holds a reference to the
/// file, so without the removal the peer would never see the end of the stream.
#[test]
fn dropping_a_source_closes_the_socket_for_the_peer() {
    let parked = Parked::new();
    let _entered = parked.reactor.enter();
    for _ in 0..50 {
        let (client, server) = tcp_pair();
        let server = Async::new(server).unwrap();
        // Let a park submit the registration, so the poll is armed in the kernel.
        std::thread::sleep(Duration::from_millis(2));
        drop(server);
        let mut client = client;
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0; 1];
        assert_eq!(client.read(&mut buf).unwrap(), 0, "EOF, not a timeout");
    }
    let (client, server) = tcp_pair();
    let server = Async::new(server).unwrap();
    std::thread::sleep(Duration::from_millis(2));
    let std_server = server.into_inner().unwrap();
    drop(std_server);
    let mut client = client;
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(client.read(&mut [0; 1]).unwrap(), 0);
}

/// Keys are reused as sources come and go; a late completion of an old registration must not
/// confuse the new one (no doubled poll that would keep the file open after the drop).
#[test]
fn churning_registrations_leave_nothing_behind() {
    let parked = Parked::new();
    let _entered = parked.reactor.enter();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    for i in 0..300 {
        let mut client = TcpStream::connect(addr).unwrap();
        let server = Async::new(listener.accept().unwrap().0).unwrap();
        // Events in flight for the key while it is dropped and reused.
        client.write_all(b"x").unwrap();
        if i % 2 == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        drop(server);
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Unread data makes the close a reset; either way the socket is gone, not open.
        match client.read(&mut [0; 1]) {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            other => panic!("the dropped source kept its socket open: {other:?}"),
        }
    }
    assert_eq!(parked.reactor.sources(), 0);
}

/// The driver goes away while tasks wait: they get an error, not a hang, and the sources can
/// still be dropped afterwards (their files are released).
#[test]
fn shutdown_with_waits_in_flight() {
    let parked = Parked::new();
    let reactor = parked.reactor.clone();
    let _entered = reactor.enter();
    let mut peers = Vec::new();
    let mut sources = Vec::new();
    for _ in 0..20 {
        let (client, server) = tcp_pair();
        peers.push(client);
        sources.push(Async::new(server).unwrap());
    }
    let counts: Vec<Arc<Count>> = sources.iter().map(|_| Arc::default()).collect();
    let mut bufs = vec![[0u8; 1]; sources.len()];
    let mut reads: Vec<_> = sources
        .iter()
        .zip(bufs.iter_mut())
        .map(|(s, buf)| Box::pin(s.read_with(move |s| (&*s).read(buf))))
        .collect();
    for (r, c) in reads.iter_mut().zip(&counts) {
        let waker = Waker::from(c.clone());
        assert!(
            r.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
    }
    std::thread::sleep(Duration::from_millis(5));
    drop(parked.stop()); // the driver is dropped: shutdown
    for (r, c) in reads.iter_mut().zip(&counts) {
        assert_eq!(c.0.load(Ordering::SeqCst), 1, "woken by the shutdown");
        let waker = Waker::from(c.clone());
        match r.as_mut().poll(&mut Context::from_waker(&waker)) {
            std::task::Poll::Ready(Err(e)) => assert!(e.to_string().contains("shut down")),
            other => panic!("expected the shutdown error, got {other:?}"),
        }
    }
    drop(reads);
    drop(sources);
    for mut peer in peers {
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(peer.read(&mut [0; 1]).unwrap(), 0);
    }
}

/// A thread that parked in the driver once (a worker that held it, a `ReactorDriver` user's
/// thread) is not interrupted in its own later blocking calls while other threads park and are
/// woken. On the ring, each thread that parks watches an eventfd of its own, and a wake-up
/// writes to the parked thread's: the kernel runs a request's wake-up work on the thread that
/// submitted it, which interrupts that thread's blocking calls (`EINTR`), so no wake-up may
/// touch a request of a thread that is not parked. (When parked threads shared one eventfd,
/// each new parker cancelled the previous one's poll, and that thread's timed `recv_from`
/// failed with `EINTR`: a review, 10 of 10 runs.) On epoll it always held.
#[test]
fn a_thread_that_parked_once_is_not_interrupted_when_others_park() {
    let driver = Arc::new(std::sync::Mutex::new(ReactorDriver::new().unwrap()));
    let reactor = driver.lock().unwrap().reactor();
    driver
        .lock()
        .unwrap()
        .park(Some(Duration::from_millis(5)))
        .unwrap();
    let reading = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reads_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (parked_once, started, done) = (driver.clone(), reading.clone(), reads_done.clone());
    let other = std::thread::spawn(move || {
        parked_once
            .lock()
            .unwrap()
            .park(Some(Duration::from_millis(10)))
            .unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut ends = Vec::new();
        started.store(true, Ordering::SeqCst);
        for _ in 0..6 {
            ends.push(
                socket
                    .recv_from(&mut [0u8; 1])
                    .map(drop)
                    .map_err(|e| e.kind()),
            );
        }
        done.store(true, Ordering::SeqCst);
        ends
    });
    // Once `other` is inside its reads, this thread parks again and again, woken by a third
    // one.
    while !reading.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    let notifier = {
        let (reactor, done) = (reactor.clone(), reads_done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
                reactor.notify();
            }
        })
    };
    while !reads_done.load(Ordering::SeqCst) {
        driver
            .lock()
            .unwrap()
            .park(Some(Duration::from_millis(50)))
            .unwrap();
    }
    notifier.join().unwrap();
    let ends = other.join().unwrap();
    assert!(
        ends.iter()
            .all(|e| matches!(e, Err(io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))),
        "the timed reads of a thread that parked once ended with {ends:?} (backend {})",
        reactor.backend()
    );
}

/// A thread that comes to wait submits its wake-up eventfd's poll itself, even while another
/// thread submits what is queued at the same moment (one that parked once drops sockets, and
/// a removal is submitted at once). If the other thread's submission took the poll, the poll
/// would be that thread's: every wake-up of the waiter would run its completion work there,
/// interrupting that thread's blocking calls with `EINTR` (a review: 7 to 36 of 50 timed reads
/// interrupted, none without the socket churn). On epoll it always held.
#[test]
fn a_new_waiters_wake_up_poll_is_never_submitted_by_another_thread() {
    use std::sync::atomic::AtomicU32;
    const IDLE: u32 = 0;
    const CHURN: u32 = 1;
    const READ: u32 = 2;
    const QUIT: u32 = 3;
    let driver = Arc::new(std::sync::Mutex::new(ReactorDriver::new().unwrap()));
    let reactor = driver.lock().unwrap().reactor();
    let phase = Arc::new(AtomicU32::new(IDLE));
    let interrupted = Arc::new(AtomicU32::new(0));
    let churner = {
        let (driver, reactor, phase, interrupted) = (
            driver.clone(),
            reactor.clone(),
            phase.clone(),
            interrupted.clone(),
        );
        std::thread::spawn(move || {
            // Parked once: its removals are submitted at once, with whatever else is queued.
            driver
                .lock()
                .unwrap()
                .park(Some(Duration::from_micros(100)))
                .unwrap();
            let _entered = reactor.enter();
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(150)))
                .unwrap();
            loop {
                match phase.load(Ordering::SeqCst) {
                    CHURN => drop(Async::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap()),
                    READ => {
                        if let Err(e) = socket.recv_from(&mut [0u8; 1])
                            && e.kind() == io::ErrorKind::Interrupted
                        {
                            interrupted.fetch_add(1, Ordering::SeqCst);
                        }
                        phase.store(IDLE, Ordering::SeqCst);
                    }
                    QUIT => return,
                    _ => std::thread::sleep(Duration::from_micros(100)),
                }
            }
        })
    };
    let rounds = 15;
    for _ in 0..rounds {
        phase.store(CHURN, Ordering::SeqCst);
        std::thread::sleep(Duration::from_micros(300));
        // A new thread's first park, while the other one churns.
        let parks = Arc::new(AtomicU32::new(0));
        let waiter = {
            let (driver, parks) = (driver.clone(), parks.clone());
            std::thread::spawn(move || {
                let mut driver = driver.lock().unwrap();
                driver.park(Some(Duration::from_micros(200))).unwrap();
                for _ in 0..2 {
                    parks.fetch_add(1, Ordering::SeqCst); // odd: parked
                    driver.park(Some(Duration::from_secs(5))).unwrap();
                    parks.fetch_add(1, Ordering::SeqCst); // even: back
                }
            })
        };
        while parks.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_micros(20));
        }
        // The churner now reads (blocking, 150 ms) while the waiter is woken twice.
        phase.store(READ, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        for k in 0..2 {
            while parks.load(Ordering::SeqCst) < 2 * k + 1 {
                std::thread::sleep(Duration::from_micros(20));
            }
            std::thread::sleep(Duration::from_millis(5));
            reactor.notify();
            while parks.load(Ordering::SeqCst) < 2 * k + 2 {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
        waiter.join().unwrap();
        while phase.load(Ordering::SeqCst) != IDLE {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    phase.store(QUIT, Ordering::SeqCst);
    churner.join().unwrap();
    assert_eq!(
        interrupted.load(Ordering::SeqCst),
        0,
        "timed reads of the churning thread interrupted, in {rounds} rounds (backend {})",
        reactor.backend()
    );
}
