//! `corio::sim`: the simulated network's contract (latency, ordering, partitions, crashes,
//! refusals, port tables, UDP), and bad input.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream, UdpSocket};
use corio::sim::{Builder, SimErrorKind};

/// An echo server on port 9000 of its host, one task per connection.
async fn echo_server() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("0.0.0.0:9000").await?;
    loop {
        let (stream, _) = listener.accept().await?;
        corio::spawn(async move {
            let _ = corio::io::copy(&stream, &mut &stream).await;
        })
        .detach();
    }
}

#[test]
fn fixed_latency_echo_round_trip_is_two_latencies() {
    let sim = Builder::new()
        .seed(1)
        .latency(Duration::from_millis(20))
        .build();
    sim.host("server", echo_server);
    let rtts = Rc::new(Cell::new((Duration::ZERO, Duration::ZERO)));
    let out = rtts.clone();
    sim.client("client", async move {
        let t0 = corio::time::now();
        let mut stream = TcpStream::connect("server:9000").await?;
        let connect = corio::time::now() - t0;
        let t1 = corio::time::now();
        stream.write_all(b"ping").await?;
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");
        out.set((connect, corio::time::now() - t1));
        Ok(())
    });
    sim.run().unwrap();
    let (connect, echo) = rtts.get();
    assert_eq!(
        connect,
        Duration::from_millis(40),
        "a connect is a round trip"
    );
    assert_eq!(echo, Duration::from_millis(40), "an echo is a round trip");
}

#[test]
fn ten_thousand_writes_under_random_latency_arrive_complete_and_in_order() {
    const WRITES: u32 = 10_000;
    let sim = Builder::new()
        .seed(2)
        .latency_range(Duration::from_micros(100), Duration::from_millis(30))
        .build();
    sim.host("sink", || async {
        let listener = TcpListener::bind("0.0.0.0:7000").await?;
        let (mut stream, _) = listener.accept().await?;
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await?;
        let expected: Vec<u8> = (0..WRITES).flat_map(u32::to_le_bytes).collect();
        assert_eq!(all.len(), expected.len(), "every byte arrives");
        assert!(all == expected, "in order");
        stream.write_all(b"ok").await?;
        Ok(())
    });
    sim.client("source", async {
        let mut stream = TcpStream::connect("sink:7000").await?;
        for i in 0..WRITES {
            stream.write_all(&i.to_le_bytes()).await?;
        }
        stream.close().await?;
        let mut ack = Vec::new();
        stream.read_to_end(&mut ack).await?;
        assert_eq!(ack, b"ok");
        Ok(())
    });
    sim.run().unwrap();
    let sends = sim
        .trace()
        .iter()
        .filter(|e| e.what.contains("send 4"))
        .count();
    assert_eq!(
        sends, WRITES as usize,
        "one chunk per write, each with its own latency"
    );
}

#[test]
fn a_writer_blocks_while_its_peer_does_not_read() {
    let sim = Builder::new().seed(3).build();
    sim.host("slow", || async {
        let listener = TcpListener::bind("0.0.0.0:1").await?;
        let (mut stream, _) = listener.accept().await?;
        corio::sleep(Duration::from_secs(10)).await; // not reading
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await?;
        assert_eq!(all.len(), 64 * 1024, "exactly what fit in the buffer");
        stream.write_all(b"done").await?;
        Ok(())
    });
    sim.client("fast", async {
        let mut stream = TcpStream::connect("slow:1").await?;
        let start = corio::time::now();
        let chunk = vec![7u8; 1 << 20];
        // 1 MiB cannot fit the 64 KiB buffer: the write waits for the reader.
        let quick = corio::timeout(Duration::from_secs(5), stream.write_all(&chunk)).await;
        assert!(
            quick.is_err(),
            "the writer blocks while the peer does not read"
        );
        assert_eq!(corio::time::now() - start, Duration::from_secs(5));
        stream.close().await?;
        let mut done = Vec::new();
        stream.read_to_end(&mut done).await?;
        assert_eq!(done, b"done");
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn partition_times_out_connect_at_exactly_two_seconds_and_repair_heals() {
    let sim = Builder::new()
        .seed(4)
        .latency(Duration::from_millis(5))
        .build();
    sim.host("server", echo_server);
    sim.client("client", async {
        corio::sim::partition("client", "server");
        let start = corio::time::now();
        let attempt =
            corio::timeout(Duration::from_secs(2), TcpStream::connect("server:9000")).await;
        assert!(
            attempt.is_err(),
            "connect across a partition is not refused: it waits"
        );
        assert_eq!(corio::time::now() - start, Duration::from_secs(2));
        corio::sim::repair("client", "server");
        let mut stream = TcpStream::connect("server:9000").await?;
        stream.write_all(b"healed").await?;
        let mut buf = [0; 6];
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"healed");
        // Data of an open connection waits for the repair, it is never dropped.
        corio::sim::partition("server", "client");
        stream.write_all(b"later").await?;
        corio::spawn(async {
            corio::sleep(Duration::from_secs(30)).await;
            corio::sim::repair("client", "server");
        })
        .detach();
        let t = corio::time::now();
        let mut buf = [0; 5];
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"later");
        assert!(corio::time::now() - t >= Duration::from_secs(30));
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn crash_resets_the_peer_and_drops_the_hosts_tasks_and_restart_reruns_it() {
    let starts = Rc::new(Cell::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let sim = Builder::new().seed(5).build();
    let (s, d) = (starts.clone(), dropped.clone());
    sim.host("server", move || {
        s.set(s.get() + 1);
        let d = d.clone();
        async move {
            let listener = TcpListener::bind("0.0.0.0:9000").await?;
            loop {
                let (stream, _) = listener.accept().await?;
                let guard = Guard(d.clone());
                corio::spawn(async move {
                    let _guard = guard;
                    let _ = corio::io::copy(&stream, &mut &stream).await;
                })
                .detach();
            }
        }
    });
    let d = dropped.clone();
    sim.client("client", async move {
        let mut stream = TcpStream::connect("server:9000").await?;
        stream.write_all(b"x").await?;
        let mut one = [0; 1];
        stream.read_exact(&mut one).await?;
        corio::sim::crash("server");
        let err = stream.read(&mut one).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        let err = stream.write_all(b"y").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        corio::yield_now().await;
        assert_eq!(d.load(Ordering::SeqCst), 1, "the handler task was dropped");
        // Down: its packets are lost, so a connect waits for its timeout.
        let lost = corio::timeout(Duration::from_secs(1), TcpStream::connect("server:9000")).await;
        assert!(lost.is_err());
        corio::sim::restart("server");
        let mut again = TcpStream::connect("server:9000").await?;
        again.write_all(b"z").await?;
        again.read_exact(&mut one).await?;
        assert_eq!(&one, b"z");
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(starts.get(), 2, "restart re-ran the host's closure");
    assert!(sim.trace().iter().any(|e| e.what == "crash"));
}

#[test]
fn connect_to_a_closed_port_is_refused_after_a_round_trip() {
    let sim = Builder::new()
        .seed(6)
        .latency(Duration::from_millis(10))
        .build();
    sim.host("server", || async {
        corio::sleep(Duration::from_secs(1)).await;
        Ok(())
    });
    sim.client("client", async {
        let start = corio::time::now();
        let err = TcpStream::connect("server:9999").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(corio::time::now() - start, Duration::from_millis(20));
        let err = TcpStream::connect("nowhere:1").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn each_host_has_its_own_port_table() {
    let sim = Builder::new().seed(7).build();
    sim.host("a", || async {
        let first = TcpListener::bind("0.0.0.0:9000").await?;
        let err = TcpListener::bind("0.0.0.0:9000").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        let udp = UdpSocket::bind("0.0.0.0:9000").await?; // UDP has its own table
        let any = TcpListener::bind("0.0.0.0:0").await?;
        assert_eq!(any.local_addr()?.port(), 49152, "port 0 is deterministic");
        drop((first, udp));
        TcpListener::bind("0.0.0.0:9000").await?; // free again
        let err = TcpListener::bind("10.0.0.2:1").await.unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::AddrNotAvailable,
            "not a's address"
        );
        Ok(())
    });
    sim.client("b", async {
        let listener = TcpListener::bind("0.0.0.0:9000").await?; // the same port, another host
        let stream = TcpStream::connect("a:9000").await;
        assert!(
            stream.is_err(),
            "a's listener was dropped when its closure returned"
        );
        assert_eq!(listener.local_addr()?.port(), 9000);
        let mut own = TcpStream::connect("127.0.0.1:9000").await?; // loopback: b itself
        let (mut accepted, peer) = listener.accept().await?;
        assert_eq!(peer, own.local_addr()?);
        own.write_all(b"me").await?;
        let mut buf = [0; 2];
        accepted.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"me");
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn udp_loss_duplicates_and_reordering() {
    let run = |loss: f64, dup: f64| {
        let got = Rc::new(Cell::new(0usize));
        let reordered = Rc::new(Cell::new(false));
        let sim = Builder::new()
            .seed(8)
            .latency_range(Duration::from_millis(1), Duration::from_millis(50))
            .udp_loss(loss)
            .udp_duplicate(dup)
            .build();
        let (g, r) = (got.clone(), reordered.clone());
        sim.client("receiver", async move {
            let socket = UdpSocket::bind("0.0.0.0:5000").await?;
            let mut last = None;
            let mut buf = [0; 8];
            loop {
                match corio::timeout(Duration::from_secs(1), socket.recv_from(&mut buf)).await {
                    Ok(got) => {
                        let (n, from) = got?;
                        assert_eq!(n, 4);
                        assert_eq!(from.ip().to_string(), "10.0.0.2");
                        let i = u32::from_le_bytes(buf[..4].try_into().unwrap());
                        if last.is_some_and(|l| i < l) {
                            r.set(true);
                        }
                        last = Some(i);
                        g.set(g.get() + 1);
                    }
                    Err(_) => return Ok(()),
                }
            }
        });
        sim.client("sender", async {
            let socket = UdpSocket::bind("0.0.0.0:0").await?;
            for i in 0u32..100 {
                socket.send_to(&i.to_le_bytes(), "receiver:5000").await?;
                corio::sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        });
        sim.run().unwrap();
        (got.get(), reordered.get())
    };
    let (all, reordered) = run(0.0, 0.0);
    assert_eq!(all, 100);
    assert!(reordered, "latency drawn per datagram reorders them");
    assert_eq!(run(1.0, 0.0).0, 0, "p = 1 loses everything");
    let (some, _) = run(0.5, 0.0);
    assert!((20..80).contains(&some), "p = 0.5 loses about half: {some}");
    assert_eq!(run(0.0, 1.0).0, 200, "p = 1 duplicates everything");
}

#[test]
fn a_bounded_udp_receive_queue_drops_the_excess() {
    let sim = Builder::new().seed(9).build();
    sim.client("flooded", async {
        let socket = UdpSocket::bind("0.0.0.0:5000").await?;
        corio::sleep(Duration::from_secs(1)).await; // not reading
        let mut n = 0;
        let mut buf = [0; 4];
        while corio::timeout(Duration::from_millis(1), socket.recv_from(&mut buf))
            .await
            .is_ok()
        {
            n += 1;
        }
        assert_eq!(n, 128);
        Ok(())
    });
    sim.client("flooder", async {
        let socket = UdpSocket::bind("0.0.0.0:0").await?;
        for _ in 0..1000 {
            socket.send_to(b"spam", "flooded:5000").await?;
        }
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn an_hour_of_traffic_runs_in_seconds() {
    let wall = Instant::now();
    let sim = Builder::new()
        .seed(10)
        .latency_range(Duration::from_millis(1), Duration::from_millis(20))
        .build();
    sim.host("server", echo_server);
    let requests = Rc::new(Cell::new(0u32));
    let r = requests.clone();
    sim.client("client", async move {
        let start = corio::time::now();
        let mut stream = TcpStream::connect("server:9000").await?;
        let mut buf = [0; 16];
        while corio::time::now() - start < Duration::from_secs(3600) {
            stream.write_all(b"heartbeat").await?;
            stream.read_exact(&mut buf[..9]).await?;
            r.set(r.get() + 1);
            corio::sleep(Duration::from_secs(1)).await;
        }
        Ok(())
    });
    sim.run().unwrap();
    assert!(requests.get() > 3000, "{} requests", requests.get());
    let took = wall.elapsed();
    eprintln!(
        "an hour of simulated traffic ({} round trips, {} trace events) took {took:?} of wall time",
        requests.get(),
        sim.trace().len()
    );
    assert!(
        took < Duration::from_secs(60),
        "sanity bound only: {took:?}"
    );
}

#[test]
fn a_deadlock_is_an_error_not_a_hang() {
    let sim = Builder::new().seed(11).build();
    sim.host("server", || async {
        let _listener = TcpListener::bind("0.0.0.0:1").await?;
        std::future::pending::<()>().await;
        Ok(())
    });
    sim.client("client", async {
        let stream = TcpStream::connect("server:1").await?;
        let mut buf = [0; 1];
        (&stream).read(&mut buf).await?; // the server never writes
        Ok(())
    });
    let err = sim.run().unwrap_err();
    match err.kind() {
        SimErrorKind::Deadlock { waiting, .. } => assert_eq!(waiting, &["client".to_owned()]),
        other => panic!("expected a deadlock, got {other:?}"),
    }
    assert!(err.to_string().contains("seed 11"), "{err}");
}

#[test]
fn real_file_descriptors_inside_a_simulation_are_unsupported() {
    let sim = Builder::new().seed(12).build();
    sim.client("client", async {
        #[cfg(unix)]
        {
            let err = corio::net::UnixStream::pair().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
            let dir = std::env::temp_dir().join("corio-sim-never-created.sock");
            let err = corio::net::UnixListener::bind(&dir).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
            assert!(!dir.exists(), "no real syscall");
            let err = corio::net::UnixDatagram::unbound().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        }
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let err = TcpListener::from_std(std_listener).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        let std_udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let err = UdpSocket::from_std(std_udp).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        // Any other real descriptor registered with the reactor (a pipe, a signal's socket, a
        // subprocess's stdout) is refused too, with a message that says why.
        let std_udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let err = corio_reactor::Async::new(std_udp).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(err.to_string().contains("corio::sim"), "{err}");
        Ok(())
    });
    sim.run().unwrap();
    // Outside the simulation the same call works again.
    let std_udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(corio_reactor::Async::new(std_udp).is_ok());
}

#[test]
fn to_thread_and_fs_run_inline_at_a_deterministic_point() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, b"on disk").unwrap();
    let sim = Builder::new().seed(13).build();
    sim.client("client", async move {
        let sim_thread = std::thread::current().id();
        let ran_on = corio::to_thread(move || std::thread::current().id()).await;
        assert_eq!(ran_on, sim_thread, "to_thread ran on a pool thread");
        assert_eq!(corio::fs::read(&path).await?, b"on disk");
        // A panic in the closure still reaches the awaiter.
        let caught = futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
            corio::to_thread(|| panic!("boom")),
        ))
        .await;
        assert!(caught.is_err());
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn bad_input_gives_clear_errors() {
    let p = std::panic::catch_unwind(|| Builder::new().udp_loss(1.5)).unwrap_err();
    let msg = p.downcast_ref::<String>().unwrap();
    assert!(msg.contains("udp_loss") && msg.contains("1.5"), "{msg}");
    assert!(std::panic::catch_unwind(|| Builder::new().udp_loss(f64::NAN)).is_err());
    assert!(std::panic::catch_unwind(|| Builder::new().udp_loss(-0.1)).is_err());
    let p = std::panic::catch_unwind(|| {
        Builder::new().latency_range(Duration::from_millis(2), Duration::from_millis(1))
    })
    .unwrap_err();
    assert!(
        p.downcast_ref::<String>()
            .unwrap()
            .contains("latency_range")
    );

    for fault in ["partition", "crash", "restart"] {
        let sim = Builder::new().seed(13).build();
        sim.client("client", async move {
            match fault {
                "partition" => corio::sim::partition("client", "ghost"),
                "crash" => corio::sim::crash("ghost"),
                _ => corio::sim::restart("ghost"),
            }
            Ok(())
        });
        let err = sim.run().unwrap_err();
        match err.kind() {
            SimErrorKind::Panicked { host, message } => {
                assert_eq!(host, "client");
                assert!(message.contains("no host named `ghost`"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    let p = std::panic::catch_unwind(|| corio::sim::crash("x")).unwrap_err();
    assert!(
        p.downcast_ref::<String>()
            .unwrap()
            .contains("outside of a running simulation")
    );
    let p = std::panic::catch_unwind(|| {
        let sim = Builder::new().build();
        sim.client("twice", async { Ok(()) });
        sim.client("twice", async { Ok(()) });
    })
    .unwrap_err();
    assert!(p.downcast_ref::<String>().unwrap().contains("already"));
}

#[test]
fn client_errors_and_panics_name_the_seed() {
    let sim = Builder::new().seed(14).build();
    sim.client("c", async { Err(io::Error::other("broken").into()) });
    let err = sim.run().unwrap_err();
    assert_eq!(err.seed(), 14);
    let text = err.to_string();
    assert!(
        text.contains("seed 14") && text.contains("Builder::seed(14)") && text.contains("broken")
    );
    assert!(format!("{err:?}").contains("14"));

    let sim = Builder::new().seed(15).build();
    sim.client("c", async {
        corio::spawn(async { panic!("detached boom") }).detach();
        corio::sleep(Duration::from_secs(1)).await;
        Ok(())
    });
    let err = sim.run().unwrap_err();
    assert!(err.to_string().contains("detached boom"), "{err}");
    assert!(
        matches!(err.kind(), SimErrorKind::Panicked { host, .. } if host == "c"),
        "the panic is the host's: {err}"
    );
}

/// A socket that outlives its simulation fails at once, on every operation, instead of taking
/// writes nobody will receive and waiting for ever on reads (found by a conformance probe).
#[test]
fn sockets_that_outlive_their_simulation_fail_instead_of_hanging() {
    use std::cell::RefCell;
    let stream: Rc<RefCell<Option<TcpStream>>> = Rc::new(RefCell::new(None));
    let udp: Rc<RefCell<Option<UdpSocket>>> = Rc::new(RefCell::new(None));
    let sim = Builder::new().seed(3).build();
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:80").await?;
        let mut kept = Vec::new();
        loop {
            kept.push(listener.accept().await?.0);
        }
    });
    let (s, u) = (stream.clone(), udp.clone());
    sim.client("client", async move {
        *s.borrow_mut() = Some(TcpStream::connect("server:80").await?);
        *u.borrow_mut() = Some(UdpSocket::bind("0.0.0.0:5000").await?);
        Ok(())
    });
    sim.run().unwrap();
    let mut stream = stream.borrow_mut().take().unwrap();
    let udp = udp.borrow_mut().take().unwrap();
    corio::run(async move {
        let limit = Duration::from_secs(10);
        let wrote = corio::timeout(limit, stream.write_all(b"x"))
            .await
            .expect("write hung");
        assert_eq!(wrote.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        let read = corio::timeout(limit, stream.read(&mut [0; 1]))
            .await
            .expect("read hung");
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        let received = corio::timeout(limit, udp.recv_from(&mut [0; 8]))
            .await
            .expect("recv hung");
        assert!(received.is_err(), "{received:?}");
    });
}

/// The time limit is how much virtual time a run may take: a run that ends exactly at it (a
/// limit of 0 included) passes, one that goes past it fails.
#[test]
fn a_run_that_ends_at_its_time_limit_passes() {
    for limit_ms in [0u64, 1, 250] {
        let limit = Duration::from_millis(limit_ms);
        let sim = Builder::new().seed(5).time_limit(limit).build();
        sim.client("c", async move {
            corio::sleep(limit).await;
            Ok(())
        });
        sim.run()
            .unwrap_or_else(|e| panic!("limit {limit:?}, a run of exactly that: {e}"));
        let sim = Builder::new().seed(5).time_limit(limit).build();
        sim.client("c", async move {
            corio::sleep(limit + Duration::from_millis(1)).await;
            Ok(())
        });
        let err = sim.run().unwrap_err();
        assert!(
            matches!(err.kind(), SimErrorKind::TimeLimit { .. }),
            "limit {limit:?}: {err}"
        );
    }
}

/// A listener on port 80 of its host that counts its starts and accepts for ever.
type HostFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>>>;

fn counting_server(starts: &Rc<Cell<u32>>) -> impl Fn() -> HostFuture + 'static {
    let starts = starts.clone();
    move || {
        let starts = starts.clone();
        Box::pin(async move {
            starts.set(starts.get() + 1);
            let listener = TcpListener::bind("0.0.0.0:80").await?;
            let mut open = Vec::new();
            loop {
                open.push(listener.accept().await?.0);
            }
        })
    }
}

#[test]
fn a_crash_right_after_a_restart_leaves_the_host_down() {
    // Probe P: `restart` queued the start, and the `crash` after it (same instant) found the host
    // already down and did nothing, so the queued start brought it back.
    let starts = Rc::new(Cell::new(0));
    let sim = Builder::new().seed(1).build();
    sim.host("server", counting_server(&starts));
    let seen = starts.clone();
    sim.client("chaos", async move {
        corio::sleep(Duration::from_millis(10)).await;
        corio::sim::restart("server");
        corio::sim::crash("server");
        corio::sleep(Duration::from_millis(10)).await;
        let connect = corio::timeout(Duration::from_secs(1), TcpStream::connect("server:80")).await;
        assert!(connect.is_err(), "the crashed host answered a connect");
        assert_eq!(seen.get(), 1, "the host was started again");
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_connect_waiting_on_a_crashed_host_is_answered_after_it_restarts() {
    // Probe P: the SYN to a host that was down was dropped for good, so a connect made during
    // the outage waited until its own timeout, though the host listened again long before.
    let starts = Rc::new(Cell::new(0));
    let sim = Builder::new()
        .seed(1)
        .latency(Duration::from_millis(1))
        .build();
    sim.host("server", counting_server(&starts));
    sim.client("chaos", async {
        corio::sim::crash("server");
        corio::sleep(Duration::from_millis(500)).await;
        corio::sim::restart("server");
        Ok(())
    });
    sim.client("client", async {
        corio::sleep(Duration::from_millis(1)).await;
        let t0 = corio::time::now();
        let connect =
            corio::timeout(Duration::from_secs(60), TcpStream::connect("server:80")).await;
        assert!(
            connect.is_ok_and(|c| c.is_ok()),
            "not answered after the restart"
        );
        let waited = corio::time::now() - t0;
        assert!(
            waited >= Duration::from_millis(499) && waited <= Duration::from_millis(510),
            "answered after {waited:?}: the restart came at 500 ms"
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn check_determinism_sees_different_bytes_of_the_same_size() {
    // Probe P: the trace recorded only sizes, so a leak that changed what was sent (here a
    // counter that outlives the run) passed as deterministic.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let make = || {
        let sim = Builder::new().seed(3).build();
        sim.host("server", echo_server);
        sim.client("client", async {
            let byte = RUNS.fetch_add(1, Ordering::Relaxed) as u8;
            let mut stream = TcpStream::connect("server:9000").await?;
            stream.write_all(&[byte]).await?;
            let mut back = [0u8];
            stream.read_exact(&mut back).await?;
            Ok(())
        });
        sim
    };
    let err = corio::sim::check_determinism(make).unwrap_err();
    assert!(matches!(err.kind(), SimErrorKind::Diverged { .. }), "{err}");
}

#[test]
fn a_simulation_run_inside_another_leaves_the_outer_ones_faults_working() {
    // Probe P: the inner run cleared the thread's world on its way out, so the outer
    // simulation's `partition` then panicked as if called outside any simulation.
    let sim = Builder::new().seed(1).build();
    sim.host("other", || async { Ok(()) });
    sim.client("c", async {
        let inner = Builder::new().seed(2).build();
        inner.client("x", async { Ok(()) });
        inner.run()?;
        corio::sim::partition("c", "other");
        corio::sim::repair("c", "other");
        Ok(())
    });
    sim.run().unwrap();
}

/// A simulated socket has no descriptor; it lends a stand-in (an unconnected socket of its
/// family and type) so that option-setting code written for real sockets runs unchanged. Options
/// set there are kept and read back, and change nothing in the simulation.
#[cfg(unix)]
#[test]
fn simulated_sockets_lend_a_stand_in_descriptor_for_options() {
    use std::os::fd::AsRawFd;

    use socket2::{SockRef, Type};

    let sim = Builder::new()
        .seed(7)
        .latency(Duration::from_millis(5))
        .build();
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:9000").await?;
        assert_eq!(SockRef::from(&listener).r#type()?, Type::STREAM);
        let (mut stream, _) = listener.accept().await?;
        SockRef::from(&stream).set_keepalive(true)?;
        assert!(SockRef::from(&stream.clone()).keepalive()?);
        assert_ne!(stream.as_raw_fd(), listener.as_raw_fd());
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await?;
        stream.write_all(&buf).await?;
        Ok(())
    });
    sim.client("client", async {
        let mut stream = TcpStream::connect("server:9000").await?;
        let sock = SockRef::from(&stream);
        assert_eq!(sock.r#type()?, Type::STREAM);
        assert!(!sock.keepalive()?, "each socket has a stand-in of its own");
        sock.set_tcp_nodelay(true)?;
        let clone = stream.clone();
        assert_eq!(
            clone.as_raw_fd(),
            stream.as_raw_fd(),
            "one stand-in per socket"
        );
        assert!(SockRef::from(&clone).tcp_nodelay()?);
        assert!(
            sock.peer_addr().is_err(),
            "the stand-in is connected to nothing"
        );
        // The simulated connection is untouched.
        stream.write_all(b"ping").await?;
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");

        let udp = UdpSocket::bind("0.0.0.0:7000").await?;
        assert_eq!(SockRef::from(&udp).r#type()?, Type::DGRAM);
        Ok(())
    });
    sim.run().unwrap();
}

/// A host that crashes (or restarts) itself runs none of its tasks again once its current poll
/// ends, and a client that crashes itself counts as finished whatever it returns. A probe saw a
/// self-crashed host keep writing to its "disk", a restarted one run beside its new
/// incarnation, and a self-crashed client's error fail the run.
#[test]
fn a_host_that_crashes_itself_stops_at_its_next_wait() {
    use std::cell::RefCell;

    let disk: Rc<RefCell<Vec<String>>> = Rc::default();
    let log = disk.clone();
    let sim = Builder::new().seed(1).build();
    sim.host("db", move || {
        let log = log.clone();
        async move {
            log.borrow_mut().push("boot".into());
            corio::sleep(Duration::from_millis(5)).await;
            corio::sim::crash("db");
            for i in 0..5 {
                corio::yield_now().await;
                log.borrow_mut().push(format!("write {i} after the crash"));
            }
            Ok(())
        }
    });
    sim.client("c", async {
        corio::sleep(Duration::from_millis(50)).await;
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(*disk.borrow(), ["boot"]);

    let disk: Rc<RefCell<Vec<String>>> = Rc::default();
    let log = disk.clone();
    let incarnations = Rc::new(Cell::new(0));
    let sim = Builder::new().seed(1).build();
    sim.host("db", move || {
        let log = log.clone();
        let incarnations = incarnations.clone();
        async move {
            incarnations.set(incarnations.get() + 1);
            let me = incarnations.get();
            log.borrow_mut().push(format!("{me} boot"));
            if me == 1 {
                corio::sleep(Duration::from_millis(5)).await;
                corio::sim::restart("db");
                for i in 0..3 {
                    corio::yield_now().await;
                    log.borrow_mut().push(format!("{me} still writing {i}"));
                }
            }
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    sim.client("c", async {
        corio::sleep(Duration::from_millis(50)).await;
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(*disk.borrow(), ["1 boot", "2 boot"]);

    let sim = Builder::new().seed(1).build();
    sim.client("c", async {
        corio::sleep(Duration::from_millis(5)).await;
        corio::sim::crash("c");
        Err("returned by a crashed client".into())
    });
    sim.run().unwrap();
}

/// `try_read`/`try_write` on a simulated stream: `WouldBlock` when a read or write would wait,
/// and no waker stored, so a task that waits on a clone of the stream is still woken (the
/// simulated socket keeps one reader and one writer waker: a try that stored its own would
/// have taken that task's place, and the run would end in a deadlock).
#[test]
fn try_read_and_try_write_in_a_simulation_leave_a_waiting_task_its_wake_up() {
    let sim = Builder::new().seed(11).build();
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:7").await?;
        let (mut stream, _) = listener.accept().await?;
        corio::sleep(Duration::from_secs(1)).await;
        stream.write_all(b"hello").await?;
        // Drain what the client's writes filled, after a while.
        corio::sleep(Duration::from_secs(1)).await;
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await?;
        assert!(all.len() > 64 * 1024, "{} bytes", all.len());
        Ok(())
    });
    sim.client("client", async {
        let stream = TcpStream::connect("server:7").await?;
        let mut buf = [0; 8];
        assert_eq!(
            stream.try_read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let mut waiting = stream.clone();
        let reader = corio::spawn(async move {
            let mut got = [0u8; 5];
            waiting.read_exact(&mut got).await?;
            io::Result::Ok(got)
        });
        corio::sleep(Duration::from_millis(500)).await; // the reader waits by now
        for _ in 0..10 {
            assert_eq!(
                stream.try_read(&mut buf).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
        }
        assert_eq!(&reader.await?, b"hello");

        // Fill the send buffer without waiting, then wait to write more on a clone.
        let chunk = [3u8; 4096];
        let mut sent = 0;
        loop {
            match stream.try_write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        assert!(sent >= 64 * 1024, "{sent} bytes before the buffer was full");
        let mut writer = stream.clone();
        let blocked = corio::spawn(async move { writer.write_all(&chunk).await });
        corio::sleep(Duration::from_millis(100)).await; // the writer waits by now
        for _ in 0..10 {
            assert_eq!(
                stream.try_write(b"x").unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
        }
        blocked.await?;
        stream.shutdown(std::net::Shutdown::Write)?;
        Ok(())
    });
    sim.run().unwrap();
}

/// The datagram try operations on a simulated UDP socket: `WouldBlock` when nothing is queued,
/// no waker stored (a task that waits on a clone is still woken: the socket keeps one waker, so
/// a try that stored its own would take that task's place and the run would end in a deadlock),
/// `readable` waits for a datagram, peek leaves it queued, and `try_send_to` sends.
#[test]
fn udp_try_operations_in_a_simulation_leave_a_waiting_task_its_wake_up() {
    let sim = Builder::new().seed(12).build();
    sim.host("server", || async {
        let socket = UdpSocket::bind("0.0.0.0:53").await?;
        let mut buf = [0; 16];
        let (n, from) = socket.recv_from(&mut buf).await?;
        corio::sleep(Duration::from_secs(1)).await;
        socket.try_send_to(&buf[..n], from)?;
        corio::sleep(Duration::from_secs(1)).await;
        socket.try_send_to(b"second", from)?;
        Ok(())
    });
    sim.client("client", async {
        let socket = UdpSocket::bind("0.0.0.0:0").await?;
        let mut buf = [0; 16];
        let would_block = |r: io::Result<(usize, std::net::SocketAddr)>| {
            matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
        };
        assert!(would_block(socket.try_recv_from(&mut buf)));
        socket.writable().await?;
        socket.send_to(b"first", "server:53").await?;
        let waiting = socket.clone();
        let reader = corio::spawn(async move {
            let mut got = [0u8; 16];
            let (n, _) = waiting.recv_from(&mut got).await?;
            io::Result::Ok(got[..n].to_vec())
        });
        corio::sleep(Duration::from_millis(500)).await; // the reader waits by now
        for _ in 0..10 {
            assert!(would_block(socket.try_recv_from(&mut buf)));
            assert!(would_block(socket.try_peek_from(&mut buf)));
        }
        assert_eq!(reader.await?, b"first");
        socket.readable().await?;
        let (n, from) = socket.try_peek_from(&mut buf)?;
        assert_eq!((&buf[..n], from.port()), (&b"second"[..], 53));
        let (n, _) = socket.try_recv_from(&mut buf)?;
        assert_eq!(&buf[..n], b"second");
        assert!(would_block(socket.try_recv_from(&mut buf)));
        Ok(())
    });
    sim.run().unwrap();
}

/// `corio::net::lookup_host` (tokio's name) resolves a simulated host's name to its simulated
/// address, as `connect` does, and fails for a name no host has.
#[test]
fn lookup_host_resolves_simulated_names() {
    let sim = Builder::new().seed(13).build();
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:7").await?;
        let _ = listener.accept().await?;
        Ok(())
    });
    sim.client("client", async {
        let found: Vec<_> = corio::net::lookup_host("server:7").await?.collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].port(), 7);
        let stream = TcpStream::connect(found[0]).await?;
        assert_eq!(stream.peer_addr()?, found[0]);
        assert!(corio::net::lookup_host("nobody:7").await.is_err());
        Ok(())
    });
    sim.run().unwrap();
}

/// Several tasks waiting on one simulated socket through clones are each woken: a receive beside
/// a `readable` (the receive gets the datagram), two `readable`s (both see it), two receives
/// (each gets one of two datagrams), and on TCP a read beside a `readable`. The simulated socket
/// kept one waker per side, and each new waiter took the previous one's place: a review found
/// the receive asleep with a datagram queued, for every seed.
#[test]
fn every_task_waiting_on_a_simulated_socket_through_clones_is_woken() {
    for seed in 0..5 {
        let sim = Builder::new().seed(seed).build();
        sim.host("server", || async {
            let socket = UdpSocket::bind("0.0.0.0:53").await?;
            let mut buf = [0; 16];
            for round in 0..3u8 {
                let (_, from) = socket.recv_from(&mut buf).await?;
                corio::sleep(Duration::from_secs(1)).await;
                socket.send_to(&[round], from).await?;
                if round == 2 {
                    socket.send_to(&[round], from).await?;
                }
            }
            let listener = TcpListener::bind("0.0.0.0:7").await?;
            let (mut stream, _) = listener.accept().await?;
            corio::sleep(Duration::from_secs(1)).await;
            stream.write_all(b"x").await?;
            corio::sleep(Duration::from_secs(1)).await;
            Ok(())
        });
        sim.client("client", async {
            let socket = UdpSocket::bind("0.0.0.0:0").await?;
            let bounded =
                |what: &'static str| move |_| io::Error::other(format!("{what} was never woken"));
            // A receive, then a `readable` on a clone: the receive must get the datagram (the
            // `readable` may then wait on: the datagram is gone).
            socket.send_to(b"go", "server:53").await?;
            let (a, b) = (socket.clone(), socket.clone());
            let reader = corio::spawn(async move {
                let mut got = [0u8; 4];
                let (n, _) = a.recv_from(&mut got).await?;
                io::Result::Ok(got[..n].to_vec())
            });
            corio::sleep(Duration::from_millis(100)).await;
            let watcher = corio::spawn(async move { b.readable().await });
            let got = corio::timeout(Duration::from_secs(5), reader)
                .await
                .map_err(bounded("the receive beside a readable"))??;
            assert_eq!(got, [0]);
            drop(watcher);
            // Two `readable`s: one datagram, which neither takes, wakes both.
            socket.send_to(b"go", "server:53").await?;
            let (a, b) = (socket.clone(), socket.clone());
            let first = corio::spawn(async move { a.readable().await });
            corio::sleep(Duration::from_millis(100)).await;
            let second = corio::spawn(async move { b.readable().await });
            corio::timeout(Duration::from_secs(5), second)
                .await
                .map_err(bounded("the second readable"))??;
            corio::timeout(Duration::from_secs(5), first)
                .await
                .map_err(bounded("the first readable"))??;
            let mut buf = [0u8; 4];
            assert_eq!(socket.try_recv_from(&mut buf)?.0, 1);
            // Two receives, two datagrams: one each.
            socket.send_to(b"go", "server:53").await?;
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let s = socket.clone();
                    corio::spawn(async move {
                        let mut got = [0u8; 4];
                        let (n, _) = s.recv_from(&mut got).await?;
                        io::Result::Ok(n)
                    })
                })
                .collect();
            for r in receivers {
                let n = corio::timeout(Duration::from_secs(5), r)
                    .await
                    .map_err(bounded("one of two receives"))??;
                assert_eq!(n, 1);
            }
            // TCP: a read, then a `readable` on a clone.
            let stream = TcpStream::connect("server:7").await?;
            let mut reading = stream.clone();
            let reader = corio::spawn(async move {
                let mut got = [0u8; 1];
                reading.read_exact(&mut got).await?;
                io::Result::Ok(got)
            });
            corio::sleep(Duration::from_millis(100)).await;
            let watching = stream.clone();
            let watcher = corio::spawn(async move { watching.readable().await });
            let got = corio::timeout(Duration::from_secs(5), reader)
                .await
                .map_err(bounded("the TCP read beside a readable"))??;
            assert_eq!(&got, b"x");
            drop(watcher);
            Ok(())
        });
        sim.run().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

/// Many tasks waiting on one simulated socket side through clones (more than a waiter list
/// first holds) wait quietly, each polled a few times, and are all served; tasks waiting in
/// `accept` on clones of one listener are each woken too. (A fixed limit of 64 waiters made 65
/// wake each other in a storm, 368,869 polls and a false livelock error, a review found; and a
/// listener kept one waker, so a first `accept` slept on with a connection queued.)
#[test]
fn many_waiters_on_clones_of_a_simulated_socket_wait_quietly_and_are_all_served() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Counts the polls of the future it wraps.
    struct Counted<F>(Pin<Box<F>>, Arc<AtomicUsize>);
    impl<F: Future> Future for Counted<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.as_mut().poll(cx)
        }
    }

    const WAITERS: usize = 150;
    let polls = Arc::new(AtomicUsize::new(0));
    let sim = Builder::new().seed(14).build();
    sim.host("server", || async {
        let socket = UdpSocket::bind("0.0.0.0:53").await?;
        let listener = TcpListener::bind("0.0.0.0:7").await?;
        // Both accepts wait from the start, on clones of the listener.
        let accepters: Vec<_> = (0..2)
            .map(|_| {
                let l = listener.clone();
                corio::spawn(async move { l.accept().await.map(|(s, _)| s) })
            })
            .collect();
        let mut buf = [0; 16];
        let (_, from) = socket.recv_from(&mut buf).await?;
        // The receivers wait this long before anything comes.
        corio::sleep(Duration::from_secs(60)).await;
        for i in 0..WAITERS {
            socket.send_to(&(i as u32).to_le_bytes(), from).await?;
            // Spaced out, so that the receive queue (bounded) never drops one.
            corio::sleep(Duration::from_millis(50)).await;
        }
        for a in accepters {
            let mut stream = corio::timeout(Duration::from_secs(30), a)
                .await
                .map_err(|_| io::Error::other("an accept on a clone was never woken"))??;
            stream.write_all(b"!").await?;
        }
        Ok(())
    });
    let counter = polls.clone();
    sim.client("client", async move {
        let socket = UdpSocket::bind("0.0.0.0:0").await?;
        socket.send_to(b"go", "server:53").await?;
        let receivers: Vec<_> = (0..WAITERS)
            .map(|_| {
                let s = socket.clone();
                let count = counter.clone();
                corio::spawn(Counted(
                    Box::pin(async move {
                        let mut got = [0u8; 4];
                        let (n, _) = s.recv_from(&mut got).await?;
                        io::Result::Ok(u32::from_le_bytes(got[..n].try_into().unwrap()))
                    }),
                    count,
                ))
            })
            .collect();
        let mut got = Vec::new();
        for r in receivers {
            got.push(r.await?);
        }
        got.sort_unstable();
        assert_eq!(got, (0..WAITERS as u32).collect::<Vec<_>>());
        // Two connections, one second apart, for the two accepts on clones; each is answered.
        let mut streams = Vec::new();
        for _ in 0..2 {
            streams.push(TcpStream::connect("server:7").await?);
            corio::sleep(Duration::from_secs(1)).await;
        }
        for mut stream in streams {
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await?;
        }
        Ok(())
    });
    sim.run().unwrap();
    // Each datagram wakes every receiver still waiting (one takes it, the others wait on):
    // about WAITERS^2 / 2 polls in all, and no more.
    let polls = polls.load(Ordering::Relaxed);
    assert!(
        polls < WAITERS * WAITERS,
        "{polls} polls of {WAITERS} receivers that each got one datagram"
    );
}
