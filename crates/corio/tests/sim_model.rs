//! `corio::sim` TCP against a model (a byte pipe: what was written arrives, whole and in order)
//! under random latency, write sizes and partitions; and cancellation at every await point.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream, UdpSocket};
use corio::sim::Builder;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the latency draws, write sizes and partitions, the reader gets exactly the
    /// bytes written, in order, and a partition only delays them.
    #[test]
    fn tcp_is_a_reliable_ordered_pipe(
        seed in any::<u64>(),
        max_latency_ms in 0u64..50,
        writes in prop::collection::vec((1usize..3000, any::<bool>(), 0u64..20), 1..40),
    ) {
        let sent: Vec<u8> = writes
            .iter()
            .enumerate()
            .flat_map(|(i, (len, _, _))| (0..*len).map(move |j| (i * 7 + j) as u8))
            .collect();
        let expected = sent.clone();
        let received = Rc::new(RefCell::new(Vec::new()));
        let out = received.clone();
        let sim = Builder::new()
            .seed(seed)
            .latency_range(Duration::ZERO, Duration::from_millis(max_latency_ms))
            .build();
        sim.host("reader", move || {
            let out = out.clone();
            async move {
                let listener = TcpListener::bind("0.0.0.0:1").await?;
                let (mut stream, _) = listener.accept().await?;
                let mut all = Vec::new();
                stream.read_to_end(&mut all).await?;
                *out.borrow_mut() = all;
                Ok(())
            }
        });
        sim.client("writer", async move {
            // Hosts and clients start together at time zero in a seeded order: with zero latency
            // the connect could reach the reader before it listens (and be refused, as on a real
            // network). One millisecond lets it bind first.
            corio::sleep(Duration::from_millis(1)).await;
            let mut stream = TcpStream::connect("reader:1").await?;
            let mut at = 0;
            for (len, cut, pause) in writes {
                if cut {
                    corio::sim::partition("writer", "reader");
                    corio::spawn(async move {
                        corio::sleep(Duration::from_millis(pause * 10)).await;
                        corio::sim::repair("writer", "reader");
                    })
                    .detach();
                }
                stream.write_all(&sent[at..at + len]).await?;
                at += len;
                corio::sleep(Duration::from_millis(pause)).await;
            }
            stream.close().await?;
            // Wait for the reader to have it all.
            corio::sleep(Duration::from_secs(5)).await;
            Ok(())
        });
        sim.run().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&*received.borrow(), &expected);
    }
}

#[test]
fn dropping_operations_at_their_await_points_loses_nothing() {
    let sim = Builder::new()
        .seed(1)
        .latency(Duration::from_millis(10))
        .build();
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:1").await?;
        // accept, cancelled while waiting, then again: the connection is still there.
        let early = corio::timeout(Duration::from_millis(1), listener.accept()).await;
        assert!(early.is_err());
        let (mut stream, _) = listener.accept().await?;
        // read, cancelled while waiting: nothing is consumed.
        let mut buf = [0; 5];
        let waited = corio::timeout(Duration::from_millis(5), stream.read(&mut buf)).await;
        assert!(waited.is_err());
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"hello");
        stream.write_all(b"bye").await?;
        // A connect given up mid-way: the listener may still accept it, and then reads EOF or
        // a reset from it, never data.
        let (mut half, _) = listener.accept().await?;
        let mut rest = Vec::new();
        match half.read_to_end(&mut rest).await {
            Ok(_) => assert!(rest.is_empty()),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        }
        Ok(())
    });
    sim.client("client", async {
        let mut stream = TcpStream::connect("server:1").await?;
        corio::sleep(Duration::from_millis(30)).await;
        stream.write_all(b"hello").await?;
        let mut buf = [0; 3];
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"bye");
        // Give up a connect after one latency: its SYN reached the listener, its SYN-ACK not.
        let gave_up =
            corio::timeout(Duration::from_millis(15), TcpStream::connect("server:1")).await;
        assert!(gave_up.is_err());
        // recv_from, cancelled, then again: the datagram is still there.
        let socket = UdpSocket::bind("0.0.0.0:9").await?;
        let waited = corio::timeout(Duration::from_millis(1), socket.recv_from(&mut buf)).await;
        assert!(waited.is_err());
        socket.send_to(b"dgm", "127.0.0.1:9").await?;
        let (n, _) = socket.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"dgm");
        corio::sleep(Duration::from_millis(100)).await;
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_connection_accepted_and_dropped_at_once_reads_eof() {
    let sim = Builder::new()
        .seed(2)
        .latency_range(Duration::from_millis(1), Duration::from_millis(30))
        .build();
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:1").await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            stream.write_all(b"hi").await?; // written before the client heard the SYN-ACK
            drop(stream); // closed at once: a FIN behind the data
        }
    });
    sim.client("client", async {
        for _ in 0..20 {
            let mut stream = TcpStream::connect("server:1").await?;
            let mut all = Vec::new();
            stream.read_to_end(&mut all).await?;
            assert_eq!(all, b"hi");
        }
        Ok(())
    });
    sim.run().unwrap();
}
