//! The workloads on corio: `LocalRuntime` for one worker, `Runtime` for N.

use std::future::Future;
use std::hint::black_box;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream};
use corio::sync::oneshot;
use corio::{Queue, Semaphore};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::clients::Clients;
use crate::outcome::{Outcome, million_outcome, rss_increase};
use crate::sys;
use crate::workload::{
    BROADCAST_YIELD_EVERY, CPU_SEED, CpuPlan, ECHO_BYTES, FILE_CHUNK, FileChunks, LISTEN_BACKLOG,
    PROCESS_IN_FLIGHT, Sizes, TLS_BYTES, Workload, cpu_job, file_path,
};

/// A corio runtime kept for the whole process (warm-up and measured iterations alike).
#[derive(Debug)]
pub(crate) enum Bench {
    Local(corio::LocalRuntime),
    Multi(corio::Runtime),
}

impl Bench {
    pub(crate) fn start(workers: usize) -> std::io::Result<Bench> {
        if workers == 1 {
            Ok(Bench::Local(corio::LocalRuntime::new()?))
        } else {
            Ok(Bench::Multi(
                corio::Runtime::builder().worker_threads(workers).build()?,
            ))
        }
    }

    /// The reactor backend this runtime waits in (`RuntimeMetrics::io_backend`), and, when the
    /// reactor says why it is not on the ring, that reason (from its `Debug` output, the only
    /// place the runtime gives it).
    pub(crate) fn io_backend(&self) -> (&'static str, Option<String>) {
        let (backend, debug) = match self {
            Bench::Local(rt) => (rt.metrics().io_backend, format!("{rt:?}")),
            Bench::Multi(rt) => (rt.metrics().io_backend, format!("{rt:?}")),
        };
        (backend, fallback_reason(&debug))
    }

    /// Runs one iteration in a root task spawned from inside the runtime.
    pub(crate) fn iteration(&self, workload: Workload, sizes: Sizes) -> Outcome {
        let root = async move { corio::spawn(root(workload, sizes)).await };
        match self {
            Bench::Local(rt) => rt.block_on(root),
            Bench::Multi(rt) => rt.block_on(root),
        }
    }

    /// The helper process's side of `tcp_connections`.
    pub(crate) fn tcp_clients(&self, addr: SocketAddr, n: usize) -> u64 {
        let root = async move { corio::spawn(tcp_clients(addr, n)).await };
        match self {
            Bench::Local(rt) => rt.block_on(root),
            Bench::Multi(rt) => rt.block_on(root),
        }
    }
}

/// The reactor's `fallback: "<why>"` field in a runtime's `Debug` output, unescaped.
fn fallback_reason(debug: &str) -> Option<String> {
    const FIELD: &str = "fallback: \"";
    let rest = &debug[debug.find(FIELD)? + FIELD.len()..];
    let mut why = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(why),
            '\\' => why.extend(chars.next()),
            c => why.push(c),
        }
    }
    None
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
    file_io_with(
        "corio",
        chunks,
        corio::fs::File::create,
        corio::fs::File::open,
    )
    .await
}

/// `file_io` on a futures-io file type (corio's and async-fs's; tokio's has its own traits):
/// write the chunks, flush, read them back and check them. Only the removal is untimed.
pub(crate) async fn file_io_with<F, C, O>(
    runtime: &str,
    chunks: usize,
    create: impl FnOnce(PathBuf) -> C,
    open: impl FnOnce(PathBuf) -> O,
) -> Outcome
where
    F: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
    C: Future<Output = std::io::Result<F>>,
    O: Future<Output = std::io::Result<F>>,
{
    let path = file_path(runtime);
    let chunk = FileChunks::new();
    let mut out = Vec::new();
    let start = Instant::now();
    let mut file = create(path.clone()).await.expect("create");
    for i in 0..chunks {
        file.write_all(chunk.stamp(&mut out, i))
            .await
            .expect("write");
    }
    file.flush().await.expect("flush");
    drop(file);
    let mut file = open(path.clone()).await.expect("open");
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
        handles.push(corio::spawn(async move { black_box(i) }));
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    Outcome::since(start, sum)
}

async fn yield_many(tasks: usize, yields: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            corio::spawn(async move {
                for _ in 0..yields {
                    corio::yield_now().await;
                }
                yields as u64
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        done += handle.await;
    }
    Outcome::since(start, done)
}

fn chain(left: usize, reached: u64, done: oneshot::Sender<u64>) {
    if left == 0 {
        let _ = done.send(reached);
    } else {
        corio::spawn(async move { chain(left - 1, reached + 1, done) }).detach();
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
        let (ping, pong) = (Queue::bounded(1), Queue::bounded(1));
        let (ping2, pong2) = (ping.clone(), pong.clone());
        handles.push(corio::spawn(async move {
            let mut ok = 0;
            for i in 0..trips as u64 {
                ping.put(i).await.expect("ping closed");
                ok += u64::from(pong.get().await.expect("pong closed") == i);
            }
            ok
        }));
        handles.push(corio::spawn(async move {
            for _ in 0..trips {
                let v: u64 = ping2.get().await.expect("ping closed");
                pong2.put(v).await.expect("pong closed");
            }
            0
        }));
    }
    let mut ok = 0;
    for handle in handles {
        ok += handle.await;
    }
    Outcome::since(start, ok)
}

async fn timeout_churn(tasks: usize, per_task: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            corio::spawn(async move {
                let mut ok = 0;
                for i in 0..per_task as u64 {
                    let f = async move {
                        corio::yield_now().await;
                        i
                    };
                    if let Ok(v) = corio::timeout(Duration::from_secs(10), f).await {
                        ok += u64::from(v == i);
                    }
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for handle in handles {
        ok += handle.await;
    }
    Outcome::since(start, ok)
}

async fn sleep_many(n: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..n as u64)
        .map(|i| {
            corio::spawn(async move {
                corio::sleep(Duration::from_micros(i % 1001)).await;
                1
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        done += handle.await;
    }
    Outcome::since(start, done)
}

async fn semaphore_contended(tasks: usize, iters: usize, permits: usize) -> Outcome {
    let start = Instant::now();
    let sem = Arc::new(Semaphore::new(permits));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let sem = sem.clone();
            corio::spawn(async move {
                for _ in 0..iters {
                    let permit = sem.acquire().await.expect("semaphore closed");
                    corio::yield_now().await;
                    drop(permit);
                }
                iters as u64
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        done += handle.await;
    }
    let out = Outcome::since(start, done);
    // Every permit must be back: take them all, and then one more must fail.
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
    let queue = Queue::bounded(s.mpmc_capacity);
    let per = s.mpmc_items_per_producer as u64;
    let producers: Vec<_> = (0..s.mpmc_producers as u64)
        .map(|p| {
            let queue = queue.clone();
            corio::spawn(async move {
                for i in p * per..(p + 1) * per {
                    queue.put(i).await.expect("queue closed early");
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..s.mpmc_consumers)
        .map(|_| {
            let queue = queue.clone();
            corio::spawn(async move {
                let (mut count, mut sum) = (0u64, 0u64);
                while let Ok(v) = queue.get().await {
                    count += 1;
                    sum = sum.wrapping_add(v);
                }
                (count, sum)
            })
        })
        .collect();
    for producer in producers {
        producer.await;
    }
    queue.close();
    let (mut count, mut sum) = (0u64, 0u64);
    for consumer in consumers {
        let (c, s) = consumer.await;
        count += c;
        sum = sum.wrapping_add(s);
    }
    Outcome::since(start, mpmc_check(count, sum))
}

/// The item count if the items' sum is right too (every item exactly once), else 0.
pub(crate) fn mpmc_check(count: u64, sum: u64) -> u64 {
    let expected_sum = count * count.saturating_sub(1) / 2;
    if sum == expected_sum { count } else { 0 }
}

async fn blocking_many(tasks: usize, per_task: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            corio::spawn(async move {
                let mut ok = 0;
                for i in 0..per_task as u64 {
                    let v = corio::to_thread(move || black_box(i)).await;
                    ok += u64::from(v == i);
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for handle in handles {
        ok += handle.await;
    }
    Outcome::since(start, ok)
}

async fn tcp_echo(conns: usize, trips: usize) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let start = Instant::now();
    let server = corio::spawn(async move {
        let mut handlers = Vec::with_capacity(conns);
        for _ in 0..conns {
            let (mut stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            handlers.push(corio::spawn(async move {
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
            served += handler.await;
        }
        served
    });
    let clients: Vec<_> = (0..conns)
        .map(|c| {
            corio::spawn(async move {
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
        ok += client.await;
    }
    ok += server.await;
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
        handlers.push(corio::spawn(async move {
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
        served += handler.await;
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
            corio::spawn(async move {
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
        let (stream, good) = client.await;
        open.push(stream);
        ok += good;
    }
    drop(open);
    ok
}

/// `parked_on_channel`: each task awaits a channel's `recv` (a resource that keeps its waker)
/// instead of `pending()` (see `Workload::MemPerTaskChannel`).
async fn mem_per_task(n: usize, parked_on_channel: bool) -> Outcome {
    for _ in 0..1_000 {
        corio::spawn(async {}).await;
    }
    let (tx, rx) = smol::channel::unbounded::<()>();
    let started = Arc::new(AtomicUsize::new(0));
    let before = sys::rss_bytes();
    for _ in 0..n {
        let started = started.clone();
        let rx = rx.clone();
        corio::spawn(async move {
            started.fetch_add(1, Ordering::Relaxed);
            if parked_on_channel {
                let _ = rx.recv().await;
            } else {
                std::future::pending::<()>().await;
            }
        })
        .detach();
    }
    // The process exits after the measurement: no wake-up of every task on the way out.
    std::mem::forget(tx);
    while started.load(Ordering::Relaxed) < n {
        corio::sleep(Duration::from_millis(1)).await;
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
            corio::spawn(async move {
                polled.fetch_add(1, Ordering::Relaxed);
                corio::sleep_until(deadline).await;
                1u64
            })
        })
        .collect();
    while polled.load(Ordering::Relaxed) < n {
        corio::sleep(Duration::from_millis(1)).await;
    }
    let all_polled = Instant::now();
    let mut done = 0;
    for handle in handles {
        done += handle.await;
    }
    million_outcome(start, all_polled, deadline, Instant::now(), done)
}

async fn select_loop(n: usize) -> Outcome {
    let queue = Queue::unbounded();
    let start = Instant::now();
    let mut ok = 0u64;
    for i in 0..n as u64 {
        queue.try_put(i).expect("unbounded put");
        ok += corio::select! {
            got = queue.get() => u64::from(got == Ok(i)),
            () = corio::sleep(Duration::from_secs(10)) => 0,
        };
    }
    Outcome::since(start, ok)
}

async fn broadcast_fanout(receivers: usize, messages: usize) -> Outcome {
    use corio::sync::broadcast;
    // The capacity holds every message: corio's sender never waits, so only this makes the
    // run lag-free on any schedule (see `Workload::describe`).
    let (tx, rx) = broadcast::channel::<u64>(messages);
    let rxs: Vec<_> = (0..receivers).map(|_| tx.subscribe()).collect();
    drop(rx);
    let start = Instant::now();
    let handles: Vec<_> = rxs
        .into_iter()
        .map(|mut rx| {
            corio::spawn(async move {
                let mut ok = 0u64;
                let mut next = 0u64;
                loop {
                    match rx.recv().await {
                        Ok(v) => {
                            ok += u64::from(v == next);
                            next += 1;
                        }
                        Err(broadcast::RecvError::Closed) => break ok,
                        // A lag loses deliveries: the check fails.
                        Err(broadcast::RecvError::Lagged(_)) => break 0,
                    }
                }
            })
        })
        .collect();
    for i in 0..messages as u64 {
        tx.send(i).expect("receivers alive");
        if (i as usize + 1) % BROADCAST_YIELD_EVERY == 0 {
            corio::yield_now().await;
        }
    }
    drop(tx);
    let mut ok = 0;
    for handle in handles {
        ok += handle.await;
    }
    Outcome::since(start, ok)
}

async fn process_spawn(n: usize) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let runners: Vec<_> = (0..PROCESS_IN_FLIGHT.min(n))
        .map(|_| {
            let next = next.clone();
            corio::spawn(async move {
                let mut ok = 0u64;
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let status = corio::process::Command::new("true")
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
        ok += runner.await;
    }
    Outcome::since(start, ok)
}

async fn tls_echo(conns: usize, trips: usize) -> Outcome {
    use corio_compat::tls::{Acceptor, Connector};
    let configs = crate::tls::configs();
    let acceptor = Acceptor::new(configs.server.clone());
    let connector = Connector::new(configs.client.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let start = Instant::now();
    let server = corio::spawn(async move {
        let mut handlers = Vec::with_capacity(conns);
        for _ in 0..conns {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            let acceptor = acceptor.clone();
            handlers.push(corio::spawn(async move {
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
            served += handler.await;
        }
        served
    });
    let clients: Vec<_> = (0..conns)
        .map(|c| {
            let connector = connector.clone();
            corio::spawn(async move {
                let stream = TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let mut stream = connector
                    .connect(crate::tls::SERVER_NAME, stream)
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
                stream.close().await.expect("close_notify");
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for client in clients {
        ok += client.await;
    }
    ok += server.await;
    Outcome::since(start, ok)
}

async fn cpu_fanout(s: Sizes) -> Outcome {
    let plan = CpuPlan::new(&s);
    let start = Instant::now();
    let jobs: Vec<_> = plan
        .jobs()
        .map(|(steps, want)| (corio::spawn_cpu(move || cpu_job(steps, CPU_SEED)), want))
        .collect();
    let mut ok = 0;
    for (job, want) in jobs {
        ok += u64::from(job.await == want);
    }
    Outcome::since(start, ok)
}

async fn request_reply(clients: usize, requests: usize) -> Outcome {
    let start = Instant::now();
    let queue: Queue<(u64, oneshot::Sender<u64>)> = Queue::unbounded();
    let inbox = queue.clone();
    let server = corio::spawn(async move {
        let mut handled = 0u64;
        while let Ok((x, reply)) = inbox.get().await {
            handled += 1;
            let _ = reply.send(x + 1);
        }
        handled
    });
    let per = requests as u64;
    let handles: Vec<_> = (0..clients as u64)
        .map(|c| {
            let queue = queue.clone();
            corio::spawn(async move {
                let mut verified = 0u64;
                for x in c * per..(c + 1) * per {
                    let (tx, rx) = oneshot::channel();
                    queue.put((x, tx)).await.expect("server gone");
                    verified += u64::from(rx.await == Ok(x + 1));
                }
                verified
            })
        })
        .collect();
    let mut verified = 0;
    for handle in handles {
        verified += handle.await;
    }
    queue.close();
    let handled = server.await;
    request_reply_outcome(start, verified, handled)
}

/// The outcome of `request_reply`: the verified replies, if the server handled exactly those.
pub(crate) fn request_reply_outcome(start: Instant, verified: u64, handled: u64) -> Outcome {
    let out = Outcome::since(start, verified);
    Outcome {
        check: if handled == verified { out.check } else { 0 },
        ..out
    }
}

async fn retry_storm(n: usize) -> Outcome {
    let start = Instant::now();
    let mut ok = 0u64;
    for _ in 0..n {
        let backoff = corio::Backoff::exponential(Duration::ZERO)
            .max_attempts(5)
            .jitter(false);
        let mut calls = 0u32;
        let result: Result<u32, u32> = corio::retry(backoff, move || {
            calls += 1;
            let call = calls;
            async move { if call < 3 { Err(call) } else { Ok(call) } }
        })
        .await;
        ok += u64::from(result == Ok(3));
    }
    Outcome::since(start, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_reason_is_read_from_the_reactors_debug_output() {
        let debug = r#"Runtime { stack: StackHandle { reactor: Reactor { backend: "epoll", fallback: "io_uring unavailable: Operation not permitted (os error 1)", mode: Edge, sources: 0 } } }"#;
        assert_eq!(
            fallback_reason(debug).as_deref(),
            Some("io_uring unavailable: Operation not permitted (os error 1)")
        );
        let quoted = r#"Reactor { fallback: "say \"no\" \\ twice", mode: Edge }"#;
        assert_eq!(
            fallback_reason(quoted).as_deref(),
            Some(r#"say "no" \ twice"#)
        );
        assert_eq!(
            fallback_reason(r#"Reactor { backend: "io_uring", mode: Edge }"#),
            None
        );
        assert_eq!(fallback_reason(r#"Reactor { fallback: "cut"#), None);
    }

    #[test]
    fn a_started_runtime_names_its_backend() {
        let rt = Bench::start(1).unwrap();
        let (backend, why) = rt.io_backend();
        assert!(["io_uring", "epoll", "kqueue", "iocp", "poll"].contains(&backend));
        if backend == "io_uring" {
            assert_eq!(why, None);
        }
    }
}
