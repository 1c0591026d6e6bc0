//! The workloads on tokio: the `current_thread` runtime for one worker, `multi_thread` for N.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

use crate::clients::Clients;
use crate::outcome::{Outcome, million_outcome, rss_increase};
use crate::rt_corio::mpmc_check;
use crate::sys;
use crate::workload::{
    BROADCAST_YIELD_EVERY, CPU_SEED, CpuPlan, ECHO_BYTES, FILE_CHUNK, FileChunks, LISTEN_BACKLOG,
    PROCESS_IN_FLIGHT, Sizes, TLS_BYTES, Workload, cpu_job, file_path,
};

/// A tokio runtime kept for the whole process (warm-up and measured iterations alike).
#[derive(Debug)]
pub(crate) struct Bench(tokio::runtime::Runtime);

impl Bench {
    pub(crate) fn start(workers: usize) -> std::io::Result<Bench> {
        let mut builder = if workers == 1 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(workers);
            b
        };
        Ok(Bench(builder.enable_all().build()?))
    }

    /// Runs one iteration in a root task spawned from inside the runtime.
    pub(crate) fn iteration(&self, workload: Workload, sizes: Sizes) -> Outcome {
        self.0
            .block_on(async move { tokio::spawn(root(workload, sizes)).await })
            .expect("the root task panicked")
    }

    /// The helper process's side of `tcp_connections`.
    pub(crate) fn tcp_clients(&self, addr: SocketAddr, n: usize) -> u64 {
        self.0
            .block_on(async move { tokio::spawn(tcp_clients(addr, n)).await })
            .expect("the client root task panicked")
    }
}

async fn root(workload: Workload, s: Sizes) -> Outcome {
    match workload {
        Workload::SpawnMany => spawn_many(s.spawn_many).await,
        Workload::YieldMany => yield_many(s.yield_tasks, s.yields).await,
        Workload::ChainedSpawn => chained_spawn(s.chain_depth).await,
        Workload::PingPong => ping_pong(s.pp_pairs, s.pp_trips).await,
        Workload::TimeoutChurn => timeout_churn(s.timeout_tasks, s.timeouts_per_task).await,
        Workload::SleepMany => sleep_many(s.sleeps).await,
        Workload::SemaphoreContended => {
            semaphore_contended(s.sem_tasks, s.sem_iters, s.sem_permits).await
        }
        Workload::QueueMpmc => queue_mpmc(s).await,
        Workload::BlockingMany => blocking_many(s.blocking_tasks, s.blocking_per_task).await,
        Workload::TcpEcho => tcp_echo(s.echo_conns, s.echo_trips).await,
        Workload::TcpConnections => tcp_connections(s.conns).await,
        Workload::MemPerTask => mem_per_task(s.idle_tasks, false).await,
        Workload::MemPerTaskChannel => mem_per_task(s.idle_tasks, true).await,
        Workload::MillionTasks => million_tasks(s.million, s.million_deadline).await,
        Workload::FileIo => file_io(s.file_chunks).await,
        Workload::SelectLoop => select_loop(s.selects).await,
        Workload::BroadcastFanout => broadcast_fanout(s.bc_receivers, s.bc_messages).await,
        Workload::ProcessSpawn => process_spawn(s.processes).await,
        Workload::TlsEcho => tls_echo(s.tls_conns, s.tls_trips).await,
        Workload::CpuFanout => cpu_fanout(s).await,
        Workload::RetryStorm => retry_storm(s.retries).await,
        Workload::RequestReply => request_reply(s.rr_clients, s.rr_requests).await,
    }
}

async fn file_io(chunks: usize) -> Outcome {
    let path = file_path("tokio");
    let chunk = FileChunks::new();
    let mut out = Vec::new();
    let start = Instant::now();
    let mut file = tokio::fs::File::create(&path).await.expect("create");
    for i in 0..chunks {
        file.write_all(chunk.stamp(&mut out, i))
            .await
            .expect("write");
    }
    file.flush().await.expect("flush");
    drop(file);
    let mut file = tokio::fs::File::open(&path).await.expect("open");
    let mut buf = vec![0u8; FILE_CHUNK];
    let mut ok = 0;
    for i in 0..chunks {
        file.read_exact(&mut buf).await.expect("read");
        ok += u64::from(chunk.check(black_box(&buf), i));
    }
    let outcome = Outcome::since(start, ok);
    drop(file);
    let _ = std::fs::remove_file(&path);
    outcome
}

async fn spawn_many(n: usize) -> Outcome {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n as u64 {
        handles.push(tokio::spawn(async move { black_box(i) }));
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.expect("task panicked");
    }
    Outcome::since(start, sum)
}

async fn yield_many(tasks: usize, yields: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                yields as u64
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        done += handle.await.expect("task panicked");
    }
    Outcome::since(start, done)
}

fn chain(left: usize, reached: u64, done: oneshot::Sender<u64>) {
    if left == 0 {
        let _ = done.send(reached);
    } else {
        drop(tokio::spawn(
            async move { chain(left - 1, reached + 1, done) },
        ));
    }
}

async fn chained_spawn(depth: usize) -> Outcome {
    let start = Instant::now();
    let (tx, rx) = oneshot::channel();
    chain(depth, 0, tx);
    let reached = rx.await.unwrap_or(0);
    Outcome::since(start, reached)
}

async fn ping_pong(pairs: usize, trips: usize) -> Outcome {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(pairs * 2);
    for _ in 0..pairs {
        let (ping_tx, mut ping_rx) = mpsc::channel(1);
        let (pong_tx, mut pong_rx) = mpsc::channel(1);
        handles.push(tokio::spawn(async move {
            let mut ok = 0;
            for i in 0..trips as u64 {
                ping_tx.send(i).await.expect("ping closed");
                ok += u64::from(pong_rx.recv().await.expect("pong closed") == i);
            }
            ok
        }));
        handles.push(tokio::spawn(async move {
            for _ in 0..trips {
                let v: u64 = ping_rx.recv().await.expect("ping closed");
                pong_tx.send(v).await.expect("pong closed");
            }
            0
        }));
    }
    let mut ok = 0;
    for handle in handles {
        ok += handle.await.expect("task panicked");
    }
    Outcome::since(start, ok)
}

async fn timeout_churn(tasks: usize, per_task: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            tokio::spawn(async move {
                let mut ok = 0;
                for i in 0..per_task as u64 {
                    let f = async move {
                        tokio::task::yield_now().await;
                        i
                    };
                    if let Ok(v) = tokio::time::timeout(Duration::from_secs(10), f).await {
                        ok += u64::from(v == i);
                    }
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for handle in handles {
        ok += handle.await.expect("task panicked");
    }
    Outcome::since(start, ok)
}

async fn sleep_many(n: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..n as u64)
        .map(|i| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros(i % 1001)).await;
                1
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        done += handle.await.expect("task panicked");
    }
    Outcome::since(start, done)
}

async fn semaphore_contended(tasks: usize, iters: usize, permits: usize) -> Outcome {
    let start = Instant::now();
    let sem = Arc::new(Semaphore::new(permits));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let sem = sem.clone();
            tokio::spawn(async move {
                for _ in 0..iters {
                    let permit = sem.acquire().await.expect("semaphore closed");
                    tokio::task::yield_now().await;
                    drop(permit);
                }
                iters as u64
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        done += handle.await.expect("task panicked");
    }
    let out = Outcome::since(start, done);
    let held: Vec<_> = (0..permits)
        .filter_map(|_| sem.try_acquire().ok())
        .collect();
    let intact = held.len() == permits && sem.try_acquire().is_err();
    Outcome {
        check: if intact { out.check } else { 0 },
        ..out
    }
}

async fn queue_mpmc(s: Sizes) -> Outcome {
    let start = Instant::now();
    let (tx, rx) = mpsc::channel(s.mpmc_capacity);
    // tokio has no MPMC queue: the consumers share the one receiver behind an async mutex.
    let rx = Arc::new(Mutex::new(rx));
    let per = s.mpmc_items_per_producer as u64;
    let producers: Vec<_> = (0..s.mpmc_producers as u64)
        .map(|p| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in p * per..(p + 1) * per {
                    tx.send(i).await.expect("queue closed early");
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..s.mpmc_consumers)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                let (mut count, mut sum) = (0u64, 0u64);
                while let Some(v) = rx.lock().await.recv().await {
                    count += 1;
                    sum = sum.wrapping_add(v);
                }
                (count, sum)
            })
        })
        .collect();
    for producer in producers {
        producer.await.expect("task panicked");
    }
    let (mut count, mut sum) = (0u64, 0u64);
    for consumer in consumers {
        let (c, s) = consumer.await.expect("task panicked");
        count += c;
        sum = sum.wrapping_add(s);
    }
    Outcome::since(start, mpmc_check(count, sum))
}

async fn blocking_many(tasks: usize, per_task: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            tokio::spawn(async move {
                let mut ok = 0;
                for i in 0..per_task as u64 {
                    let v = tokio::task::spawn_blocking(move || black_box(i))
                        .await
                        .expect("blocking call panicked");
                    ok += u64::from(v == i);
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for handle in handles {
        ok += handle.await.expect("task panicked");
    }
    Outcome::since(start, ok)
}

async fn tcp_echo(conns: usize, trips: usize) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let start = Instant::now();
    let server = tokio::spawn(async move {
        let mut handlers = Vec::with_capacity(conns);
        for _ in 0..conns {
            let (mut stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            handlers.push(tokio::spawn(async move {
                let mut buf = [0u8; ECHO_BYTES];
                let mut served = 0u64;
                while stream.read_exact(&mut buf).await.is_ok() {
                    stream.write_all(&buf).await.expect("echo write");
                    served += 1;
                }
                served
            }));
        }
        let mut served = 0;
        for handler in handlers {
            served += handler.await.expect("task panicked");
        }
        served
    });
    let clients: Vec<_> = (0..conns)
        .map(|c| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let msg = [c as u8; ECHO_BYTES];
                let mut buf = [0u8; ECHO_BYTES];
                let mut ok = 0u64;
                for _ in 0..trips {
                    stream.write_all(&msg).await.expect("write");
                    stream.read_exact(&mut buf).await.expect("read");
                    ok += u64::from(buf == msg);
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for client in clients {
        ok += client.await.expect("task panicked");
    }
    ok += server.await.expect("task panicked");
    Outcome::since(start, ok)
}

async fn tcp_connections(n: usize) -> Outcome {
    sys::raise_fd_limit(n as u64 + 512).expect("RLIMIT_NOFILE");
    let (std_listener, addr) = sys::loopback_listener(LISTEN_BACKLOG).expect("listener");
    let listener = TcpListener::from_std(std_listener).expect("from_std");
    let mut clients = Clients::start(addr, n);
    let start = Instant::now();
    clients.go();
    let mut handlers = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut stream, _) = listener.accept().await.expect("accept");
        handlers.push(tokio::spawn(async move {
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await.expect("request");
            stream.write_all(&byte).await.expect("response");
            // Served; now hold the connection open until the client closes it.
            let eof = stream.read(&mut byte).await.expect("wait for close");
            u64::from(eof == 0)
        }));
    }
    let mut served = 0;
    for handler in handlers {
        served += handler.await.expect("task panicked");
    }
    let out = Outcome::since(start, served);
    Outcome {
        check: out.check + clients.finish(),
        ..out
    }
}

/// The client side of `tcp_connections`, run in the helper process: every client keeps its
/// stream until all have their answer, so all connections are open together.
pub(crate) async fn tcp_clients(addr: SocketAddr, n: usize) -> u64 {
    let clients: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                let mut byte = [7u8; 1];
                stream.write_all(&byte).await.expect("request");
                stream.read_exact(&mut byte).await.expect("response");
                (stream, u64::from(byte[0] == 7))
            })
        })
        .collect();
    let mut open = Vec::with_capacity(n);
    let mut ok = 0;
    for client in clients {
        let (stream, good) = client.await.expect("task panicked");
        open.push(stream);
        ok += good;
    }
    drop(open);
    ok
}

/// `parked_on_channel`: see `Workload::MemPerTaskChannel`.
async fn mem_per_task(n: usize, parked_on_channel: bool) -> Outcome {
    for _ in 0..1_000 {
        tokio::spawn(async {}).await.expect("task panicked");
    }
    let (tx, rx) = smol::channel::unbounded::<()>();
    let started = Arc::new(AtomicUsize::new(0));
    let before = sys::rss_bytes();
    for _ in 0..n {
        let started = started.clone();
        let rx = rx.clone();
        // Dropping a JoinHandle detaches the task.
        drop(tokio::spawn(async move {
            started.fetch_add(1, Ordering::Relaxed);
            if parked_on_channel {
                let _ = rx.recv().await;
            } else {
                std::future::pending::<()>().await;
            }
        }));
    }
    std::mem::forget(tx);
    while started.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let after = sys::rss_bytes();
    rss_increase(before, after, started.load(Ordering::Relaxed) as u64)
}

async fn million_tasks(n: usize, wait: Duration) -> Outcome {
    let start = Instant::now();
    let deadline = start + wait;
    let polled = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let polled = polled.clone();
            tokio::spawn(async move {
                polled.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep_until(deadline.into()).await;
                1u64
            })
        })
        .collect();
    while polled.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let all_polled = Instant::now();
    let mut done = 0;
    for handle in handles {
        done += handle.await.expect("task panicked");
    }
    million_outcome(start, all_polled, deadline, Instant::now(), done)
}

async fn select_loop(n: usize) -> Outcome {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    let mut ok = 0u64;
    for i in 0..n as u64 {
        tx.send(i).expect("receiver alive");
        ok += tokio::select! {
            got = rx.recv() => u64::from(got == Some(i)),
            () = tokio::time::sleep(Duration::from_secs(10)) => 0,
        };
    }
    Outcome::since(start, ok)
}

async fn broadcast_fanout(receivers: usize, messages: usize) -> Outcome {
    use tokio::sync::broadcast;
    // tokio's sender never waits: the capacity holds every message (see `Workload::describe`).
    let (tx, rx) = broadcast::channel::<u64>(messages);
    let rxs: Vec<_> = (0..receivers).map(|_| tx.subscribe()).collect();
    drop(rx);
    let start = Instant::now();
    let handles: Vec<_> = rxs
        .into_iter()
        .map(|mut rx| {
            tokio::spawn(async move {
                let mut ok = 0u64;
                let mut next = 0u64;
                loop {
                    match rx.recv().await {
                        Ok(v) => {
                            ok += u64::from(v == next);
                            next += 1;
                        }
                        Err(broadcast::error::RecvError::Closed) => break ok,
                        Err(broadcast::error::RecvError::Lagged(_)) => break 0,
                    }
                }
            })
        })
        .collect();
    for i in 0..messages as u64 {
        tx.send(i).expect("receivers alive");
        if (i as usize + 1) % BROADCAST_YIELD_EVERY == 0 {
            tokio::task::yield_now().await;
        }
    }
    drop(tx);
    let mut ok = 0;
    for handle in handles {
        ok += handle.await.expect("receiver panicked");
    }
    Outcome::since(start, ok)
}

async fn process_spawn(n: usize) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let runners: Vec<_> = (0..PROCESS_IN_FLIGHT.min(n))
        .map(|_| {
            let next = next.clone();
            tokio::spawn(async move {
                let mut ok = 0u64;
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let status = tokio::process::Command::new("true")
                        .status()
                        .await
                        .expect("spawn true");
                    ok += u64::from(status.success());
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for runner in runners {
        ok += runner.await.expect("runner panicked");
    }
    Outcome::since(start, ok)
}

async fn tls_echo(conns: usize, trips: usize) -> Outcome {
    use tokio_rustls::rustls::pki_types::ServerName;
    use tokio_rustls::{TlsAcceptor, TlsConnector};
    let configs = crate::tls::configs();
    let acceptor = TlsAcceptor::from(configs.server.clone());
    let connector = TlsConnector::from(configs.client.clone());
    let name = ServerName::try_from(crate::tls::SERVER_NAME).expect("server name");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let start = Instant::now();
    let server = tokio::spawn(async move {
        let mut handlers = Vec::with_capacity(conns);
        for _ in 0..conns {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            let acceptor = acceptor.clone();
            handlers.push(tokio::spawn(async move {
                let mut stream = acceptor.accept(stream).await.expect("server handshake");
                let mut buf = [0u8; TLS_BYTES];
                let mut served = 0u64;
                while stream.read_exact(&mut buf).await.is_ok() {
                    stream.write_all(&buf).await.expect("echo write");
                    stream.flush().await.expect("echo flush");
                    served += 1;
                }
                served
            }));
        }
        let mut served = 0;
        for handler in handlers {
            served += handler.await.expect("handler panicked");
        }
        served
    });
    let clients: Vec<_> = (0..conns)
        .map(|c| {
            let connector = connector.clone();
            let name = name.clone();
            tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let mut stream = connector
                    .connect(name, stream)
                    .await
                    .expect("client handshake");
                let msg = crate::tls::message(c);
                let mut buf = [0u8; TLS_BYTES];
                let mut ok = 0u64;
                for _ in 0..trips {
                    stream.write_all(&msg).await.expect("write");
                    stream.flush().await.expect("flush");
                    stream.read_exact(&mut buf).await.expect("read");
                    ok += u64::from(buf == msg);
                }
                stream.shutdown().await.expect("close_notify");
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for client in clients {
        ok += client.await.expect("client panicked");
    }
    ok += server.await.expect("server panicked");
    Outcome::since(start, ok)
}

async fn cpu_fanout(s: Sizes) -> Outcome {
    let plan = CpuPlan::new(&s);
    let start = Instant::now();
    let jobs: Vec<_> = plan
        .jobs()
        .map(|(steps, want)| {
            (
                tokio::task::spawn_blocking(move || cpu_job(steps, CPU_SEED)),
                want,
            )
        })
        .collect();
    let mut ok = 0;
    for (job, want) in jobs {
        ok += u64::from(job.await.expect("job panicked") == want);
    }
    Outcome::since(start, ok)
}

/// backon's sleeper: tokio's sleep, skipped for a zero delay (as corio's retry skips it).
/// `tokio::time::sleep(Duration::ZERO)` waits for the timer's next 1 ms tick: with it, the row
/// would measure tokio's timer granularity (about 2.4 ms per operation), not retrying.
async fn skip_zero_sleep(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

async fn request_reply(clients: usize, requests: usize) -> Outcome {
    let start = Instant::now();
    let (queue, mut inbox) = mpsc::unbounded_channel::<(u64, oneshot::Sender<u64>)>();
    let server = tokio::spawn(async move {
        let mut handled = 0u64;
        while let Some((x, reply)) = inbox.recv().await {
            handled += 1;
            let _ = reply.send(x + 1);
        }
        handled
    });
    let per = requests as u64;
    let handles: Vec<_> = (0..clients as u64)
        .map(|c| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut verified = 0u64;
                for x in c * per..(c + 1) * per {
                    let (tx, rx) = oneshot::channel();
                    queue.send((x, tx)).expect("server gone");
                    verified += u64::from(rx.await == Ok(x + 1));
                }
                verified
            })
        })
        .collect();
    drop(queue);
    let mut verified = 0;
    for handle in handles {
        verified += handle.await.expect("client panicked");
    }
    let handled = server.await.expect("server panicked");
    crate::rt_corio::request_reply_outcome(start, verified, handled)
}

async fn retry_storm(n: usize) -> Outcome {
    use backon::{ExponentialBuilder, Retryable};
    let start = Instant::now();
    let mut ok = 0u64;
    for _ in 0..n {
        // Up to 5 attempts: the first call and 4 retries.
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::ZERO)
            .with_max_times(4);
        let mut calls = 0u32;
        let result: Result<u32, u32> = (move || {
            calls += 1;
            let call = calls;
            async move { if call < 3 { Err(call) } else { Ok(call) } }
        })
        .retry(backoff)
        .sleep(skip_zero_sleep)
        .await;
        ok += u64::from(result == Ok(3));
    }
    Outcome::since(start, ok)
}
