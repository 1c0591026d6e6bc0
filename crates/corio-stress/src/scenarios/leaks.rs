//! No descriptor and no thread left behind by runtimes that are created, used and dropped.
//!
//! Proves: dropping a `Runtime` or a `LocalRuntime` closes every socket its tasks held (also
//! sockets held by tasks still parked at shutdown), releases its poller and timer, and joins its
//! workers and blocking threads. Each cycle builds a runtime, runs a TCP echo, a UDP round
//! trip, a sleep, a fired timeout and `to_thread`, leaves tasks parked on a socket read and on a
//! one-hour sleep plus an unawaited `to_thread` job, and drops the runtime. The counts of
//! `/proc/self/fd` and `/proc/self/task` after many cycles must equal those after the warm-up.
//! The warm-up uses spawn, a sleep and sockets outside any runtime on purpose, and runs one
//! cycle of each runtime: what it adds must be corio's documented lazily started globals (their
//! threads, and the global reactor's poller), and is reported.

use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream, UdpSocket};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::outcome::{Outcome, Size, count, dur};
use crate::sys;

/// Threads that corio starts once per process, on first use, and keeps: the global runtime's
/// workers (`spawn` outside any runtime), the global reactor's thread (sockets outside any
/// runtime) and the global timer's thread (timers outside any runtime).
const GLOBAL_THREADS: [&str; 3] = ["corio-global", "corio-reactor", "corio-timer"];

/// What the global reactor keeps open: its poller and the poller's wake-up descriptor.
const GLOBAL_FDS: [&str; 3] = [
    "anon_inode:[eventpoll]",
    "anon_inode:[eventfd]",
    "anon_inode:[timerfd]",
];

/// How long a count may take to come back after a drop: a joined thread can still be listed in
/// `/proc/self/task` for a moment while the kernel reaps it.
const SETTLE: Duration = Duration::from_secs(2);

pub(crate) fn run(size: Size, out: &mut Outcome) {
    let cycles = size.pick(100, 25, 5);
    let start_fds = sys::fds();
    let start_threads = sys::threads();

    // The warm-up starts corio's globals on purpose (so that what they keep is measured, not
    // assumed) and runs one cycle of each runtime; nothing after it may add anything.
    if let Err(e) = use_globals()
        .and_then(|()| cycle_multi())
        .and_then(|()| cycle_local())
    {
        return out.fail(format!("warm-up: {e}"));
    }
    // The warm-up's own runtimes are gone when their drops return; give the kernel a moment.
    std::thread::sleep(Duration::from_millis(50));
    let (warm_fds, warm_threads) = (sys::fds(), sys::threads());
    let new_threads: Vec<String> = warm_threads
        .iter()
        .filter(|t| !start_threads.iter().any(|s| s.0 == t.0))
        .map(|t| t.1.clone())
        .collect();
    let new_fds: Vec<String> = warm_fds
        .iter()
        .filter(|f| !start_fds.contains(f))
        .map(|f| format!("{} -> {}", f.0, f.1))
        .collect();

    let t = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut late = 0usize;
    let mut worst: Option<String> = None;
    for i in 0..cycles {
        for (kind, cycle) in [
            ("Runtime", cycle_multi as fn() -> io::Result<()>),
            ("LocalRuntime", cycle_local),
        ] {
            if let Err(e) = cycle() {
                return out.fail(format!("cycle {i} ({kind}): {e}"));
            }
            let (fds, threads, waited) = settle(warm_fds.len(), warm_threads.len());
            if waited > Duration::ZERO {
                late += 1;
            }
            slowest = slowest.max(waited);
            if (fds.len(), threads.len()) != (warm_fds.len(), warm_threads.len()) && worst.is_none()
            {
                worst = Some(format!(
                    "after cycle {i} ({kind}), {} fds and {} threads (after the warm-up: {} and \
                     {}); new fds: {:?}; new threads: {:?}",
                    fds.len(),
                    threads.len(),
                    warm_fds.len(),
                    warm_threads.len(),
                    fds.iter()
                        .filter(|f| !warm_fds.contains(f))
                        .collect::<Vec<_>>(),
                    threads
                        .iter()
                        .filter(|t| !warm_threads.iter().any(|w| w.0 == t.0))
                        .map(|t| &t.1)
                        .collect::<Vec<_>>(),
                ));
            }
        }
    }
    let elapsed = t.elapsed();
    let end_fds = sys::fd_count();
    let end_threads = sys::thread_count();

    out.figure(format!(
        "{} runtimes ({cycles} Runtime + {cycles} LocalRuntime, each with TCP, UDP, timers, \
         to_thread and tasks left parked) in {}",
        count(2 * cycles),
        dur(elapsed)
    ));
    out.figure(format!(
        "fds {} -> {} after the warm-up -> {end_fds} at the end; threads {} -> {} -> {end_threads}",
        start_fds.len(),
        warm_fds.len(),
        start_threads.len(),
        warm_threads.len(),
    ));
    out.figure(format!(
        "warm-up added threads {new_threads:?} and fds {new_fds:?}; {late} drop(s) needed time \
         for the counts to come back (longest {})",
        dur(slowest)
    ));
    if let Some(worst) = worst {
        out.fail(format!("leak: {worst}"));
    }
    out.check(end_fds == warm_fds.len(), || {
        format!(
            "{} fds at the end, {} after the warm-up",
            end_fds,
            warm_fds.len()
        )
    });
    out.check(end_threads == warm_threads.len(), || {
        format!(
            "{} threads at the end, {} after the warm-up",
            end_threads,
            warm_threads.len()
        )
    });
    let stray: Vec<&String> = new_threads
        .iter()
        .filter(|name| !GLOBAL_THREADS.iter().any(|g| name.starts_with(g)))
        .collect();
    out.check(stray.is_empty(), || {
        format!("the warm-up left threads that are not corio globals: {stray:?}")
    });
    let stray_fds: Vec<&String> = new_fds
        .iter()
        .filter(|fd| !GLOBAL_FDS.iter().any(|g| fd.ends_with(g)))
        .collect();
    out.check(stray_fds.is_empty(), || {
        format!("the warm-up left fds that are not a global poller's: {stray_fds:?}")
    });
}

/// `(fd or tid, what it is)`, as `sys::fds` and `sys::threads` list them.
type Table = Vec<(u32, String)>;

/// Waits up to [`SETTLE`] for the counts to be `fds` and `threads`; returns the tables and how
/// long it waited (zero if they were right at once).
fn settle(fds: usize, threads: usize) -> (Table, Table, Duration) {
    let start = Instant::now();
    let mut waited = Duration::ZERO;
    loop {
        let (now_fds, now_threads) = (sys::fds(), sys::threads());
        if (now_fds.len() == fds && now_threads.len() == threads) || waited >= SETTLE {
            return (now_fds, now_threads, waited);
        }
        std::thread::sleep(Duration::from_millis(1));
        waited = start.elapsed();
    }
}

/// Spawn, a sleep and a TCP echo outside any runtime: they start the global runtime, timer and
/// reactor.
fn use_globals() -> io::Result<()> {
    corio::block_on(async {
        let task = corio::spawn(async { 1 });
        corio::sleep(Duration::from_millis(1)).await;
        let (server, client, listener) = tcp_pair().await?;
        drop((server, client, listener));
        if task.await == 1 {
            Ok(())
        } else {
            Err(io::Error::other(
                "the global runtime returned the wrong value",
            ))
        }
    })
}

/// A TCP echo through a listener, returning both ends and the listener.
async fn tcp_pair() -> io::Result<(TcpStream, TcpStream, TcpListener)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (server, client) = futures_lite::future::zip(listener.accept(), async {
        let mut c = TcpStream::connect(addr).await?;
        c.write_all(b"hello").await?;
        Ok::<_, io::Error>(c)
    })
    .await;
    let (server, _) = server?;
    let mut client = client?;
    let mut buf = [0u8; 5];
    (&server).read_exact(&mut buf).await?;
    (&server).write_all(&buf).await?;
    client.read_exact(&mut buf).await?;
    if &buf != b"hello" {
        return Err(io::Error::other("the echo came back changed"));
    }
    Ok((server, client, listener))
}

async fn udp_round_trip() -> io::Result<UdpSocket> {
    let a = UdpSocket::bind("127.0.0.1:0").await?;
    let b = UdpSocket::bind("127.0.0.1:0").await?;
    a.send_to(b"ping", b.local_addr()?).await?;
    let mut buf = [0u8; 4];
    let (n, from) = b.recv_from(&mut buf).await?;
    if (n, from) != (4, a.local_addr()?) {
        return Err(io::Error::other("the datagram came back wrong"));
    }
    Ok(b)
}

async fn timers() -> io::Result<()> {
    corio::sleep(Duration::from_millis(1)).await;
    match corio::timeout(Duration::from_millis(1), std::future::pending::<()>()).await {
        Err(_) => Ok(()),
        Ok(()) => Err(io::Error::other("a pending future beat its timeout")),
    }
}

async fn blocking() -> io::Result<()> {
    let v = corio::to_thread(|| 6 * 7).await;
    // Queued and never awaited: the job still runs, and the runtime's drop waits for it.
    drop(corio::to_thread(|| {
        std::thread::sleep(Duration::from_millis(2))
    }));
    if v == 42 {
        Ok(())
    } else {
        Err(io::Error::other("to_thread returned the wrong value"))
    }
}

fn cycle_multi() -> io::Result<()> {
    let rt = corio::Runtime::builder()
        .worker_threads(2)
        .blocking_threads(2)
        .build()?;
    rt.block_on(async {
        let (server, client, listener) = tcp_pair().await?;
        let udp = udp_round_trip().await?;
        timers().await?;
        blocking().await?;
        // Left parked: shutdown must drop them, and with them their sockets.
        corio::spawn(async move {
            let mut b = [0u8; 1];
            let _ = (&server).read(&mut b).await;
            drop((listener, udp));
        })
        .detach();
        corio::spawn(async move {
            corio::sleep(Duration::from_secs(3600)).await;
            drop(client);
        })
        .detach();
        Ok::<(), io::Error>(())
    })?;
    drop(rt);
    Ok(())
}

fn cycle_local() -> io::Result<()> {
    let rt = corio::LocalRuntime::new()?;
    rt.block_on(async {
        let (server, client, listener) = tcp_pair().await?;
        let udp = udp_round_trip().await?;
        timers().await?;
        blocking().await?;
        let not_send = Rc::new((server, listener, udp));
        corio::spawn_local(async move {
            let mut b = [0u8; 1];
            let _ = (&not_send.0).read(&mut b).await;
        })
        .detach();
        corio::spawn(async move {
            corio::sleep(Duration::from_secs(3600)).await;
            drop(client);
        })
        .detach();
        Ok::<(), io::Error>(())
    })?;
    drop(rt);
    Ok(())
}
