//! The names of API.md's "next shapes" (issues 13-20), called exactly as that page writes them,
//! as a new user would: if a shape drifts, this file stops compiling or a check fails.

use std::time::Duration;

use corio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use corio::stream::StreamExt;

corio::task_local! {
    static REQUEST: u32;
}

#[test]
fn choosing_among_futures() {
    corio::run(async {
        let q = corio::Queue::<u8>::unbounded();
        q.try_put(1).unwrap();
        // Arms of different types; the chosen arm's expression is the value.
        let v: String = corio::select! {
            item = q.get() => format!("item {}", item.unwrap()),
            _ = corio::sleep(Duration::from_secs(5)) => "timeout".to_string(),
        };
        assert_eq!(v, "item 1");
        let v = corio::select! {
            biased;
            a = async { 1u8 } => a as u32,
            b = async { 2u32 } => b,
        };
        assert_eq!(v, 1);
        let mut out: Vec<u32> = corio::as_completed(vec![
            Box::pin(async {
                corio::sleep(Duration::from_millis(20)).await;
                2u32
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>>,
            Box::pin(async { 1u32 }),
        ])
        .collect()
        .await;
        assert_eq!(out.len(), 2);
        out.sort_unstable();
        assert_eq!(out, [1, 2]);
    });
}

#[test]
fn task_set_and_task_locals() {
    corio::run(REQUEST.scope(5, async {
        let mut set = corio::TaskSet::new();
        for i in 0..3u32 {
            set.spawn(async move { i + REQUEST.with(|r| *r) });
        }
        assert_eq!(set.len(), 3);
        assert!(!set.is_empty());
        let mut got = Vec::new();
        while let Some(v) = set.join_next().await {
            got.push(v);
        }
        got.sort_unstable();
        assert_eq!(got, [5, 6, 7]);
        set.spawn(std::future::pending());
        set.cancel_all();
        assert!(set.join_next().await.is_none());
        assert!(REQUEST.try_with(|r| *r).is_ok());
    }));
    assert!(REQUEST.try_with(|r| *r).is_err());
}

#[test]
fn broadcast_and_watch() {
    corio::run(async {
        let (tx, mut rx) = corio::sync::broadcast::channel::<u32>(4);
        let mut rx2 = tx.subscribe();
        assert_eq!(tx.send(7).unwrap(), 2);
        assert_eq!(rx.recv().await.unwrap(), 7);
        assert_eq!(rx2.recv().await.unwrap(), 7);
        for i in 0..6 {
            tx.send(i).unwrap();
        }
        assert!(matches!(
            rx.recv().await,
            Err(corio::sync::broadcast::RecvError::Lagged(2))
        ));
        drop(tx);
        // rx2 lagged too: it hears of it once, reads what is left, then learns of the close.
        let mut seen = 0;
        loop {
            match rx2.recv().await {
                Ok(_) => seen += 1,
                Err(corio::sync::broadcast::RecvError::Lagged(n)) => assert_eq!(n, 2),
                Err(corio::sync::broadcast::RecvError::Closed) => break,
            }
        }
        assert_eq!(seen, 4);

        let (tx, mut rx) = corio::sync::watch::channel(0u32);
        tx.send(1).unwrap();
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 1);
        assert_eq!(*rx.borrow_and_update(), 1);
        drop(tx);
        assert!(rx.changed().await.is_err());
    });
}

#[test]
fn the_io_toolkit() {
    corio::run(async {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (r, w) = corio::io::split(stream);
            let mut w = BufWriter::new(w);
            let mut lines = BufReader::new(r).lines();
            while let Some(line) = lines.next().await {
                w.write_all(line.unwrap().to_uppercase().as_bytes())
                    .await
                    .unwrap();
                w.write_all(b"\n").await.unwrap();
                w.flush().await.unwrap();
            }
        });
        let mut client = corio::net::TcpStream::connect(addr).await.unwrap();
        client.write_all(b"hello\n").await.unwrap();
        let mut buf = [0u8; 6];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HELLO\n");
        client.close().await.unwrap();
        server.await;
        let mut sink = Vec::new();
        let n = corio::io::copy(&mut &b"abc"[..], &mut sink).await.unwrap();
        assert_eq!((n, sink.as_slice()), (3, &b"abc"[..]));
    });
}

#[test]
fn retry_and_spawn_cpu() {
    corio::run(async {
        let backoff = corio::Backoff::exponential(Duration::from_millis(1))
            .factor(2.0)
            .max_delay(Duration::from_millis(4))
            .max_attempts(3)
            .jitter(true);
        let mut calls = 0;
        let r: Result<u32, &str> = corio::retry(backoff, || {
            calls += 1;
            let c = calls;
            async move { if c < 3 { Err("not yet") } else { Ok(c) } }
        })
        .await;
        assert_eq!(r, Ok(3));
        let mut calls = 0;
        let r: Result<u32, &str> = corio::retry_if(
            corio::Backoff::exponential(Duration::ZERO),
            || {
                calls += 1;
                async { Err("fatal") }
            },
            |e: &&str| *e != "fatal",
        )
        .await;
        assert_eq!((r, calls), (Err("fatal"), 1));
        let task: corio::Task<u64> = corio::spawn_cpu(|| (1..=10u64).product());
        assert_eq!(task.await, 3_628_800);
    });
}

#[test]
fn spawn_local_inside_run() {
    let v = corio::run(async {
        let rc = std::rc::Rc::new(3);
        corio::spawn_local(async move { *rc }).await
    });
    assert_eq!(v, 3);
}

#[test]
fn simulation_as_api_md_writes_it() {
    use corio::net::{TcpListener, TcpStream};
    let sim = corio::sim::Builder::new()
        .seed(7)
        .latency(Duration::from_millis(20))
        .udp_loss(0.0)
        .build();
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:9000").await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            corio::spawn(async move {
                let mut buf = [0u8; 5];
                if stream.read_exact(&mut buf).await.is_ok() {
                    let _ = stream.write_all(&buf).await;
                }
            })
            .detach();
        }
    });
    sim.client("client", async {
        let start = corio::time::now();
        let mut stream = TcpStream::connect("server:9000").await?;
        stream.write_all(b"hello").await?;
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"hello");
        // connect (one round trip) and the echo (another): 4 latencies of 20 ms.
        assert_eq!(corio::time::now() - start, Duration::from_millis(80));
        corio::sim::partition("client", "server");
        let cut = corio::timeout(Duration::from_secs(2), TcpStream::connect("server:9000")).await;
        assert!(
            cut.is_err(),
            "a connect across a partition waits for its own timeout"
        );
        corio::sim::repair("client", "server");
        TcpStream::connect("server:9000").await?;
        Ok(())
    });
    sim.run().unwrap();

    let failing = corio::sim::Builder::new().seed(99).build();
    failing.client("client", async {
        TcpStream::connect("nobody:1").await?;
        Ok(())
    });
    let err = failing.run().unwrap_err();
    assert!(err.to_string().contains("99"), "{err}");
    assert!(format!("{err:?}").contains("99"), "{err:?}");
}
