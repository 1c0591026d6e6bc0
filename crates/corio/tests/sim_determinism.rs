//! `corio::sim` determinism: the same seed gives a byte-identical trace in two fresh processes,
//! another seed a different one; `check_determinism` finds the first event that differs; one
//! client function runs unchanged on real loopback and in the simulation.

use std::io;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream, UdpSocket};
use corio::sim::{Builder, Sim, SimErrorKind};

const SEED_VAR: &str = "CORIO_SIM_TRACE_SEED";

/// Serves upper-casing over TCP, one task per connection, until the listener fails.
async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        corio::spawn(async move {
            let mut request = Vec::new();
            if stream.read_to_end(&mut request).await.is_ok() {
                let _ = stream.write_all(&request.to_ascii_uppercase()).await;
            }
        })
        .detach();
    }
}

/// The client under test: it knows nothing of simulations.
async fn shout(addr: &str, words: &str) -> io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(words.as_bytes()).await?;
    stream.close().await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    Ok(reply)
}

/// A busy scenario: random latency, UDP loss, several clients, a partition, a crash and a
/// restart.
fn scenario(seed: u64) -> Sim {
    let sim = Builder::new()
        .seed(seed)
        .latency_range(Duration::from_millis(1), Duration::from_millis(25))
        .udp_loss(0.2)
        .build();
    sim.host("server", || async {
        serve(TcpListener::bind("0.0.0.0:80").await?).await?;
        Ok(())
    });
    sim.host("gossip", || async {
        let socket = UdpSocket::bind("0.0.0.0:7").await?;
        let mut buf = [0; 64];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await?;
            socket.send_to(&buf[..n], from).await?;
        }
    });
    for c in 0..3 {
        sim.client(&format!("client{c}"), async move {
            let udp = UdpSocket::bind("0.0.0.0:0").await?;
            for i in 0..20 {
                let words = format!("client {c} request {i}");
                match shout("server:80", &words).await {
                    Ok(reply) => assert_eq!(reply, words.to_uppercase()),
                    Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
                }
                udp.send_to(words.as_bytes(), "gossip:7").await?;
                let mut buf = [0; 64];
                let _ = corio::timeout(Duration::from_millis(30), udp.recv_from(&mut buf)).await;
            }
            Ok(())
        });
    }
    sim.client("chaos", async {
        corio::sleep(Duration::from_millis(40)).await;
        corio::sim::partition("client0", "server");
        corio::sleep(Duration::from_millis(40)).await;
        corio::sim::repair("client0", "server");
        corio::sim::restart("server");
        Ok(())
    });
    sim
}

/// Run in a child process by the test below; it also checks the scenario on its own.
#[test]
fn child_prints_the_trace_hash() {
    let seed = std::env::var(SEED_VAR).map_or(21, |s| s.parse().unwrap());
    let sim = scenario(seed);
    sim.run().unwrap();
    assert!(sim.trace().len() > 200, "{} events", sim.trace().len());
    assert!(sim.trace().iter().any(|e| e.what == "restart"));
    println!("TRACE_HASH={}", sim.trace_hash());
}

/// Run in a child process with `CORIO_SEED` set by the test below.
#[test]
fn child_prints_the_default_seed() {
    let sim = Builder::new().build();
    sim.client("c", async { Ok(()) });
    sim.run().unwrap();
    println!("SEED={}", sim.seed());
}

#[test]
fn corio_seed_chooses_the_seed_of_a_simulation_built_without_one() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child_prints_the_default_seed", "--exact", "--nocapture"])
        .env("CORIO_SEED", "77")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("SEED=77"));
    // An explicit seed wins over the environment.
    assert_eq!(Builder::new().seed(5).build().seed(), 5);
}

fn hash_in_fresh_process(seed: u64) -> u64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child_prints_the_trace_hash", "--exact", "--nocapture"])
        .env(SEED_VAR, seed.to_string())
        .env_remove("CORIO_SEED")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("TRACE_HASH="))
        .unwrap_or_else(|| panic!("no hash in {stdout}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_same_seed_gives_the_same_trace_in_two_fresh_processes() {
    let first = hash_in_fresh_process(21);
    let second = hash_in_fresh_process(21);
    assert_eq!(first, second);
    let other = hash_in_fresh_process(22);
    assert_ne!(first, other, "another seed, another trace");
    // And in this process, the same again.
    let sim = scenario(21);
    sim.run().unwrap();
    assert_eq!(sim.trace_hash(), first);
}

#[test]
fn check_determinism_reports_the_first_differing_event() {
    let hash = corio::sim::check_determinism(|| scenario(5)).unwrap();
    let sim = scenario(5);
    sim.run().unwrap();
    assert_eq!(hash, sim.trace_hash());

    // State that leaks from one run into the next (as real time or HashMap order would).
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let leaky = || {
        let sim = Builder::new().seed(3).build();
        sim.host("server", || async {
            serve(TcpListener::bind("0.0.0.0:80").await?).await?;
            Ok(())
        });
        sim.client("client", async {
            let run = RUNS.fetch_add(1, Ordering::SeqCst);
            shout("server:80", "same").await?;
            corio::sleep(Duration::from_millis(10 + run)).await;
            shout("server:80", "later").await?;
            Ok(())
        });
        sim
    };
    let err = corio::sim::check_determinism(leaky).unwrap_err();
    match err.kind() {
        SimErrorKind::Diverged {
            first: Some(first),
            second: Some(second),
            ..
        } => {
            assert!(first.contains("connect to server"), "{first}");
            assert!(second.contains("connect to server"), "{second}");
            assert_ne!(first, second);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("seed 3"), "{err}");
}

#[test]
fn one_client_function_runs_on_real_loopback_and_in_the_simulation() {
    let real = corio::run_local(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let server = corio::spawn(serve(listener));
        let reply = shout(&addr, "over loopback").await;
        drop(server);
        reply
    })
    .unwrap();
    assert_eq!(real, "OVER LOOPBACK");

    let sim = Builder::new()
        .seed(9)
        .latency(Duration::from_millis(10))
        .build();
    sim.host("server", || async {
        serve(TcpListener::bind("0.0.0.0:80").await?).await?;
        Ok(())
    });
    sim.client("client", async {
        let start = corio::time::now();
        assert_eq!(shout("server:80", "in simulation").await?, "IN SIMULATION");
        // connect (2 latencies) + request (1) + FIN (arrives with it) + reply (1) + FIN.
        assert_eq!(corio::time::now() - start, Duration::from_millis(40));
        Ok(())
    });
    sim.run().unwrap();
}

/// `spawn_cpu` inside a simulation runs at the call, as `to_thread` does there, so its
/// completions are replayed by the seed (probe Z: on the CPU pool's threads, `check_determinism`
/// diverged in 3 to 6 of 50 calls).
#[test]
fn spawn_cpu_in_a_simulation_replays_by_seed() {
    fn scenario() -> Sim {
        let sim = corio::sim::Builder::new().seed(7).build();
        sim.host("rx", || async {
            let s = corio::net::UdpSocket::bind("0.0.0.0:9").await?;
            let mut b = [0u8; 8];
            loop {
                s.recv_from(&mut b).await?;
            }
        });
        sim.client("c", async {
            let s = std::rc::Rc::new(corio::net::UdpSocket::bind("0.0.0.0:0").await?);
            let tasks: Vec<_> = (0..4u64)
                .map(|j| {
                    let s = s.clone();
                    corio::spawn_local(async move {
                        let v = corio::spawn_cpu(move || j).await;
                        s.send_to(&v.to_le_bytes(), "rx:9").await.unwrap();
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
            Ok(())
        });
        sim
    }
    for _ in 0..100 {
        corio::sim::check_determinism(scenario).unwrap();
    }
}

/// `corio::fs::File` inside a simulation: its reads, writes and flushes (the blocking adapter's
/// jobs) run at the call, as `to_thread` does there, so the interleaving of clients that write
/// files is replayed by the seed (a probe: on pool threads, `check_determinism` diverged 20 of
/// 20 times).
#[test]
fn file_io_in_a_simulation_replays_by_seed() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let scenario = move || {
        let sim = corio::sim::Builder::new().seed(7).build();
        sim.host("sink", || async {
            let socket = UdpSocket::bind("0.0.0.0:1").await?;
            let mut buf = [0u8; 2];
            loop {
                socket.recv_from(&mut buf).await?;
            }
        });
        for c in 0..3u8 {
            let path = dir.path().join(format!("file{c}"));
            sim.client(&format!("c{c}"), async move {
                let socket = UdpSocket::bind("0.0.0.0:0").await?;
                let mut file = corio::fs::File::create(&path).await?;
                for i in 0..30u8 {
                    file.write_all(&[c, i]).await?;
                    file.flush().await?;
                    // Makes the interleaving visible in the trace.
                    socket.send_to(&[c, i], "sink:1").await?;
                }
                drop(file);
                let mut back = Vec::new();
                corio::fs::File::open(&path)
                    .await?
                    .read_to_end(&mut back)
                    .await?;
                assert_eq!(back.len(), 60);
                Ok(())
            });
        }
        sim
    };
    for _ in 0..5 {
        corio::sim::check_determinism(&scenario).unwrap();
    }
}
