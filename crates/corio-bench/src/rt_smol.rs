//! The workloads on smol: a `LocalExecutor` for one worker, an `Executor` run on N threads for
//! N, each driven by `smol::block_on` (async-io's, which also drives the reactor and timers).
//!
//! smol has no ambient "current executor": idiomatic smol code passes the executor around. The
//! workloads take a [`Spawner`], a `Copy` handle, so that passing it costs what passing
//! `&'static Executor` costs.

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use smol::channel;
use smol::future::{self, FutureExt as _};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::lock::Semaphore;
use smol::net::{TcpListener, TcpStream};
use smol::{Executor, LocalExecutor, Task, Timer};

use crate::clients::Clients;
use crate::outcome::{Outcome, million_outcome, rss_increase};
use crate::rt_corio::{file_io_with, mpmc_check};
use crate::sys;
use crate::workload::{
    BROADCAST_YIELD_EVERY, CPU_SEED, CpuPlan, ECHO_BYTES, LISTEN_BACKLOG, PROCESS_IN_FLIGHT, Sizes,
    TLS_BYTES, Workload, cpu_job,
};

/// Spawns onto the executor of the run: the one-thread `LocalExecutor` or the shared
/// `Executor`.
pub(crate) trait Spawner: Copy + Send + Sync + 'static {
    fn spawn<F>(self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
}

thread_local! {
    static LOCAL: Cell<Option<&'static LocalExecutor<'static>>> = const { Cell::new(None) };
}

/// The `LocalExecutor` of this thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Local;

impl Spawner for Local {
    fn spawn<F>(self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        LOCAL.with(|local| {
            local
                .get()
                .expect("smol::Local used off its thread")
                .spawn(future)
        })
    }
}

/// The multi-threaded `Executor`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Multi(&'static Executor<'static>);

impl Spawner for Multi {
    fn spawn<F>(self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.spawn(future)
    }
}

/// A smol executor kept for the whole process (warm-up and measured iterations alike). Its
/// executor is leaked: the process is one benchmark case and exits right after.
#[derive(Debug)]
pub(crate) enum Bench {
    Local(&'static LocalExecutor<'static>),
    Multi {
        ex: &'static Executor<'static>,
        stop: Option<channel::Sender<()>>,
        threads: Vec<JoinHandle<()>>,
    },
}

impl Bench {
    pub(crate) fn start(workers: usize) -> std::io::Result<Bench> {
        if workers == 1 {
            let local: &'static LocalExecutor<'static> = Box::leak(Box::new(LocalExecutor::new()));
            LOCAL.with(|cell| cell.set(Some(local)));
            return Ok(Bench::Local(local));
        }
        // smol's documented pattern: N threads each run the executor until a shutdown signal.
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        let (stop, shutdown) = channel::unbounded::<()>();
        let threads = (0..workers)
            .map(|i| {
                let shutdown = shutdown.clone();
                std::thread::Builder::new()
                    .name(format!("smol-{i}"))
                    .spawn(move || {
                        let _ = smol::block_on(ex.run(shutdown.recv()));
                    })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Bench::Multi {
            ex,
            stop: Some(stop),
            threads,
        })
    }

    /// Runs one iteration in a root task spawned from inside the executor.
    pub(crate) fn iteration(&self, workload: Workload, sizes: Sizes) -> Outcome {
        match self {
            Bench::Local(local) => {
                smol::block_on(local.run(Local.spawn(root(Local, workload, sizes))))
            }
            // The main thread only waits: futures-lite's block_on, not async-io's, so that it
            // does not become an extra reactor thread that the other runtimes do not get.
            Bench::Multi { ex, .. } => {
                future::block_on(Multi(ex).spawn(root(Multi(ex), workload, sizes)))
            }
        }
    }

    /// The helper process's side of `tcp_connections`.
    pub(crate) fn tcp_clients(&self, addr: SocketAddr, n: usize) -> u64 {
        match self {
            Bench::Local(local) => {
                smol::block_on(local.run(Local.spawn(tcp_clients(Local, addr, n))))
            }
            Bench::Multi { ex, .. } => {
                future::block_on(Multi(ex).spawn(tcp_clients(Multi(ex), addr, n)))
            }
        }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Bench::Multi { stop, threads, .. } = self {
            drop(stop.take());
            for thread in threads.drain(..) {
                let _ = thread.join();
            }
        }
    }
}

async fn root<S: Spawner>(sp: S, workload: Workload, s: Sizes) -> Outcome {
    match workload {
        Workload::SpawnMany => spawn_many(sp, s.spawn_many).await,
        Workload::YieldMany => yield_many(sp, s.yield_tasks, s.yields).await,
        Workload::ChainedSpawn => chained_spawn(sp, s.chain_depth).await,
        Workload::PingPong => ping_pong(sp, s.pp_pairs, s.pp_trips).await,
        Workload::TimeoutChurn => timeout_churn(sp, s.timeout_tasks, s.timeouts_per_task).await,
        Workload::SleepMany => sleep_many(sp, s.sleeps).await,
        Workload::SemaphoreContended => {
            semaphore_contended(sp, s.sem_tasks, s.sem_iters, s.sem_permits).await
        }
        Workload::QueueMpmc => queue_mpmc(sp, s).await,
        Workload::BlockingMany => blocking_many(sp, s.blocking_tasks, s.blocking_per_task).await,
        Workload::TcpEcho => tcp_echo(sp, s.echo_conns, s.echo_trips).await,
        Workload::TcpConnections => tcp_connections(sp, s.conns).await,
        Workload::MemPerTask => mem_per_task(sp, s.idle_tasks, false).await,
        Workload::MemPerTaskChannel => mem_per_task(sp, s.idle_tasks, true).await,
        Workload::MillionTasks => million_tasks(sp, s.million, s.million_deadline).await,
        Workload::FileIo => file_io(s.file_chunks).await,
        Workload::SelectLoop => select_loop(s.selects).await,
        Workload::BroadcastFanout => broadcast_fanout(sp, s.bc_receivers, s.bc_messages).await,
        Workload::ProcessSpawn => process_spawn(sp, s.processes).await,
        Workload::TlsEcho => tls_echo(sp, s.tls_conns, s.tls_trips).await,
        Workload::CpuFanout => cpu_fanout(s).await,
        Workload::RetryStorm => retry_storm(s.retries).await,
        Workload::RequestReply => request_reply(sp, s.rr_clients, s.rr_requests).await,
    }
}

async fn file_io(chunks: usize) -> Outcome {
    file_io_with("smol", chunks, smol::fs::File::create, smol::fs::File::open).await
}

async fn spawn_many<S: Spawner>(sp: S, n: usize) -> Outcome {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n as u64 {
        handles.push(sp.spawn(async move { black_box(i) }));
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    Outcome::since(start, sum)
}

async fn yield_many<S: Spawner>(sp: S, tasks: usize, yields: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            sp.spawn(async move {
                for _ in 0..yields {
                    smol::future::yield_now().await;
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

fn chain<S: Spawner>(sp: S, left: usize, reached: u64, done: channel::Sender<u64>) {
    if left == 0 {
        let _ = done.try_send(reached);
    } else {
        sp.spawn(async move { chain(sp, left - 1, reached + 1, done) })
            .detach();
    }
}

async fn chained_spawn<S: Spawner>(sp: S, depth: usize) -> Outcome {
    let start = Instant::now();
    // smol has no oneshot; a bounded(1) channel is its stand-in.
    let (tx, rx) = channel::bounded(1);
    chain(sp, depth, 0, tx);
    let reached = rx.recv().await.unwrap_or(0);
    Outcome::since(start, reached)
}

async fn ping_pong<S: Spawner>(sp: S, pairs: usize, trips: usize) -> Outcome {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(pairs * 2);
    for _ in 0..pairs {
        let (ping_tx, ping_rx) = channel::bounded(1);
        let (pong_tx, pong_rx) = channel::bounded(1);
        handles.push(sp.spawn(async move {
            let mut ok = 0;
            for i in 0..trips as u64 {
                ping_tx.send(i).await.expect("ping closed");
                ok += u64::from(pong_rx.recv().await.expect("pong closed") == i);
            }
            ok
        }));
        handles.push(sp.spawn(async move {
            for _ in 0..trips {
                let v: u64 = ping_rx.recv().await.expect("ping closed");
                pong_tx.send(v).await.expect("pong closed");
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

async fn timeout_churn<S: Spawner>(sp: S, tasks: usize, per_task: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            sp.spawn(async move {
                let mut ok = 0;
                for i in 0..per_task as u64 {
                    let f = async move {
                        smol::future::yield_now().await;
                        Some(i)
                    };
                    let timed_out = async {
                        Timer::after(Duration::from_secs(10)).await;
                        None
                    };
                    if let Some(v) = f.or(timed_out).await {
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

async fn sleep_many<S: Spawner>(sp: S, n: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..n as u64)
        .map(|i| {
            sp.spawn(async move {
                Timer::after(Duration::from_micros(i % 1001)).await;
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

async fn semaphore_contended<S: Spawner>(
    sp: S,
    tasks: usize,
    iters: usize,
    permits: usize,
) -> Outcome {
    let start = Instant::now();
    let sem = Arc::new(Semaphore::new(permits));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let sem = sem.clone();
            sp.spawn(async move {
                for _ in 0..iters {
                    let permit = sem.acquire().await;
                    smol::future::yield_now().await;
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
    let held: Vec<_> = (0..permits).filter_map(|_| sem.try_acquire()).collect();
    let intact = held.len() == permits && sem.try_acquire().is_none();
    Outcome {
        check: if intact { out.check } else { 0 },
        ..out
    }
}

async fn queue_mpmc<S: Spawner>(sp: S, s: Sizes) -> Outcome {
    let start = Instant::now();
    let (tx, rx) = channel::bounded(s.mpmc_capacity);
    let per = s.mpmc_items_per_producer as u64;
    let producers: Vec<_> = (0..s.mpmc_producers as u64)
        .map(|p| {
            let tx = tx.clone();
            sp.spawn(async move {
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
            sp.spawn(async move {
                let (mut count, mut sum) = (0u64, 0u64);
                while let Ok(v) = rx.recv().await {
                    count += 1;
                    sum = sum.wrapping_add(v);
                }
                (count, sum)
            })
        })
        .collect();
    drop(rx);
    for producer in producers {
        producer.await;
    }
    let (mut count, mut sum) = (0u64, 0u64);
    for consumer in consumers {
        let (c, s) = consumer.await;
        count += c;
        sum = sum.wrapping_add(s);
    }
    Outcome::since(start, mpmc_check(count, sum))
}

async fn blocking_many<S: Spawner>(sp: S, tasks: usize, per_task: usize) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            sp.spawn(async move {
                let mut ok = 0;
                for i in 0..per_task as u64 {
                    let v = smol::unblock(move || black_box(i)).await;
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

async fn tcp_echo<S: Spawner>(sp: S, conns: usize, trips: usize) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let start = Instant::now();
    let server = sp.spawn(async move {
        let mut handlers = Vec::with_capacity(conns);
        for _ in 0..conns {
            let (mut stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            handlers.push(sp.spawn(async move {
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
            sp.spawn(async move {
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

async fn tcp_connections<S: Spawner>(sp: S, n: usize) -> Outcome {
    sys::raise_fd_limit(n as u64 + 512).expect("RLIMIT_NOFILE");
    let (std_listener, addr) = sys::loopback_listener(LISTEN_BACKLOG).expect("listener");
    let listener = TcpListener::try_from(std_listener).expect("from_std");
    let mut clients = Clients::start(addr, n);
    let start = Instant::now();
    clients.go();
    let mut handlers = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut stream, _) = listener.accept().await.expect("accept");
        handlers.push(sp.spawn(async move {
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
pub(crate) async fn tcp_clients<S: Spawner>(sp: S, addr: SocketAddr, n: usize) -> u64 {
    let clients: Vec<_> = (0..n)
        .map(|_| {
            sp.spawn(async move {
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

/// `parked_on_channel`: see `Workload::MemPerTaskChannel`.
async fn mem_per_task<S: Spawner>(sp: S, n: usize, parked_on_channel: bool) -> Outcome {
    for _ in 0..1_000 {
        sp.spawn(async {}).await;
    }
    let (tx, rx) = smol::channel::unbounded::<()>();
    let started = Arc::new(AtomicUsize::new(0));
    let before = sys::rss_bytes();
    for _ in 0..n {
        let started = started.clone();
        let rx = rx.clone();
        sp.spawn(async move {
            started.fetch_add(1, Ordering::Relaxed);
            if parked_on_channel {
                let _ = rx.recv().await;
            } else {
                std::future::pending::<()>().await;
            }
        })
        .detach();
    }
    std::mem::forget(tx);
    while started.load(Ordering::Relaxed) < n {
        Timer::after(Duration::from_millis(1)).await;
    }
    let after = sys::rss_bytes();
    rss_increase(before, after, started.load(Ordering::Relaxed) as u64)
}

async fn million_tasks<S: Spawner>(sp: S, n: usize, wait: Duration) -> Outcome {
    let start = Instant::now();
    let deadline = start + wait;
    let polled = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let polled = polled.clone();
            sp.spawn(async move {
                polled.fetch_add(1, Ordering::Relaxed);
                Timer::at(deadline).await;
                1u64
            })
        })
        .collect();
    while polled.load(Ordering::Relaxed) < n {
        Timer::after(Duration::from_millis(1)).await;
    }
    let all_polled = Instant::now();
    let mut done = 0;
    for handle in handles {
        done += handle.await;
    }
    million_outcome(start, all_polled, deadline, Instant::now(), done)
}

async fn select_loop(n: usize) -> Outcome {
    let (tx, rx) = channel::unbounded();
    let start = Instant::now();
    let mut ok = 0u64;
    for i in 0..n as u64 {
        tx.try_send(i).expect("unbounded send");
        // futures-lite's `or`: the first future to finish wins, polled first (biased).
        let got = async { rx.recv().await.ok() }
            .or(async {
                Timer::after(Duration::from_secs(10)).await;
                None
            })
            .await;
        ok += u64::from(got == Some(i));
    }
    Outcome::since(start, ok)
}

async fn broadcast_fanout<S: Spawner>(sp: S, receivers: usize, messages: usize) -> Outcome {
    // The same capacity as corio's and tokio's, which never make their sender wait: every
    // message fits, so async-broadcast's `broadcast` never waits either.
    let (tx, rx) = async_broadcast::broadcast::<u64>(messages);
    let rxs: Vec<_> = (0..receivers).map(|_| rx.clone()).collect();
    drop(rx);
    let start = Instant::now();
    let handles: Vec<_> = rxs
        .into_iter()
        .map(|mut rx| {
            sp.spawn(async move {
                let mut ok = 0u64;
                let mut next = 0u64;
                loop {
                    match rx.recv().await {
                        Ok(v) => {
                            ok += u64::from(v == next);
                            next += 1;
                        }
                        Err(async_broadcast::RecvError::Closed) => break ok,
                        Err(async_broadcast::RecvError::Overflowed(_)) => break 0,
                    }
                }
            })
        })
        .collect();
    for i in 0..messages as u64 {
        tx.broadcast(i).await.expect("receivers alive");
        if (i as usize + 1) % BROADCAST_YIELD_EVERY == 0 {
            future::yield_now().await;
        }
    }
    drop(tx);
    let mut ok = 0;
    for handle in handles {
        ok += handle.await;
    }
    Outcome::since(start, ok)
}

async fn process_spawn<S: Spawner>(sp: S, n: usize) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let runners: Vec<_> = (0..PROCESS_IN_FLIGHT.min(n))
        .map(|_| {
            let next = next.clone();
            sp.spawn(async move {
                let mut ok = 0u64;
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let status = smol::process::Command::new("true")
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

async fn tls_echo<S: Spawner>(sp: S, conns: usize, trips: usize) -> Outcome {
    use futures_rustls::rustls::pki_types::ServerName;
    use futures_rustls::{TlsAcceptor, TlsConnector};
    let configs = crate::tls::configs();
    let acceptor = TlsAcceptor::from(configs.server.clone());
    let connector = TlsConnector::from(configs.client.clone());
    let name = ServerName::try_from(crate::tls::SERVER_NAME).expect("server name");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let start = Instant::now();
    let server = sp.spawn(async move {
        let mut handlers = Vec::with_capacity(conns);
        for _ in 0..conns {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            let acceptor = acceptor.clone();
            handlers.push(sp.spawn(async move {
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
            let name = name.clone();
            sp.spawn(async move {
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

/// The smol column of `cpu_fanout` is rayon: `rayon::spawn` plus a oneshot, awaited here.
async fn cpu_fanout(s: Sizes) -> Outcome {
    let plan = CpuPlan::new(&s);
    let start = Instant::now();
    let jobs: Vec<_> = plan
        .jobs()
        .map(|(steps, want)| {
            let (tx, rx) = futures_channel::oneshot::channel();
            rayon::spawn(move || {
                let _ = tx.send(cpu_job(steps, CPU_SEED));
            });
            (rx, want)
        })
        .collect();
    let mut ok = 0;
    for (job, want) in jobs {
        ok += u64::from(job.await.expect("rayon job lost") == want);
    }
    Outcome::since(start, ok)
}

/// backon's sleeper on smol: async-io's timer, skipped for a zero delay (as on tokio, and as
/// corio's retry skips it).
async fn timer_sleep(delay: Duration) {
    if !delay.is_zero() {
        Timer::after(delay).await;
    }
}

async fn request_reply<S: Spawner>(sp: S, clients: usize, requests: usize) -> Outcome {
    let start = Instant::now();
    let (queue, inbox) = channel::unbounded::<(u64, futures_channel::oneshot::Sender<u64>)>();
    let server = sp.spawn(async move {
        let mut handled = 0u64;
        while let Ok((x, reply)) = inbox.recv().await {
            handled += 1;
            let _ = reply.send(x + 1);
        }
        handled
    });
    let per = requests as u64;
    let handles: Vec<_> = (0..clients as u64)
        .map(|c| {
            let queue = queue.clone();
            sp.spawn(async move {
                let mut verified = 0u64;
                for x in c * per..(c + 1) * per {
                    let (tx, rx) = futures_channel::oneshot::channel();
                    queue.send((x, tx)).await.expect("server gone");
                    verified += u64::from(rx.await == Ok(x + 1));
                }
                verified
            })
        })
        .collect();
    drop(queue);
    let mut verified = 0;
    for handle in handles {
        verified += handle.await;
    }
    let handled = server.await;
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
        .sleep(timer_sleep)
        .await;
        ok += u64::from(result == Ok(3));
    }
    Outcome::since(start, ok)
}
