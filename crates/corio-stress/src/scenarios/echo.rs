//! 10,000 concurrent loopback connections, echoing.
//!
//! Proves: the reactor carries 10,000 sockets at once on two workers; every connection is
//! accepted, every byte comes back unchanged, and the server really had all of them open at the
//! same time (its peak of open connections equals the connection count, because every client
//! holds its connection until all have finished echoing).
//!
//! `RLIMIT_NOFILE` is raised to the hard limit. When that limit cannot hold both ends of every
//! connection in one process, the server runs in a second process (`corio-stress echo-server`,
//! in the scenario's process group, so the watchdog kills it too) and reports its counters when
//! its stdin closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corio::Semaphore;
use corio::net::{TcpListener, TcpStream};
use corio::sync::Event;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::{runtime, wait_until};
use crate::outcome::{Outcome, Size, count, dur, mib};
use crate::sys;

/// Bytes per message.
const MSG: usize = 64;
/// Descriptors a process needs beyond its sockets (stdio, pollers, pipes, libraries).
const SPARE_FDS: u64 = 200;
/// Connects in flight at once: enough to be fast, few enough not to overflow the listen backlog
/// (an overflowed SYN is retried after a second, which would only measure the kernel).
const CONNECTS_IN_FLIGHT: usize = 256;

/// The server's counters.
#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicUsize,
    open: AtomicUsize,
    peak_open: AtomicUsize,
    accept_errors: AtomicUsize,
    conn_errors: AtomicUsize,
    bytes: AtomicU64,
}

impl Stats {
    fn line(&self) -> String {
        format!(
            "accepted={} peak={} accept_errors={} conn_errors={} bytes={}",
            self.accepted.load(Ordering::SeqCst),
            self.peak_open.load(Ordering::SeqCst),
            self.accept_errors.load(Ordering::SeqCst),
            self.conn_errors.load(Ordering::SeqCst),
            self.bytes.load(Ordering::SeqCst),
        )
    }
}

/// The accept loop: one task per connection; errors are counted and the loop goes on.
async fn serve(listener: TcpListener, stats: Arc<Stats>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                stats.accepted.fetch_add(1, Ordering::SeqCst);
                corio::spawn(echo_conn(stream, stats.clone())).detach();
            }
            Err(_) => {
                stats.accept_errors.fetch_add(1, Ordering::SeqCst);
                corio::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

async fn echo_conn(stream: TcpStream, stats: Arc<Stats>) {
    let open = stats.open.fetch_add(1, Ordering::SeqCst) + 1;
    stats.peak_open.fetch_max(open, Ordering::SeqCst);
    let mut buf = [0u8; 256];
    loop {
        match (&stream).read(&mut buf).await {
            Ok(0) => break,
            Ok(k) => {
                if (&stream).write_all(&buf[..k]).await.is_err() {
                    stats.conn_errors.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                stats.bytes.fetch_add(k as u64, Ordering::Relaxed);
            }
            Err(_) => {
                stats.conn_errors.fetch_add(1, Ordering::SeqCst);
                break;
            }
        }
    }
    stats.open.fetch_sub(1, Ordering::SeqCst);
}

/// `corio-stress echo-server`: serves on a fresh loopback port, prints `port <n>`, and when its
/// stdin closes prints `stats ...` and exits.
pub(crate) fn server_main() -> Result<(), String> {
    sys::raise_nofile().map_err(|e| format!("echo-server: raising RLIMIT_NOFILE: {e}"))?;
    let rt = runtime(2);
    let listener = rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| format!("echo-server: bind: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("echo-server: {e}"))?
        .port();
    let stats = Arc::new(Stats::default());
    rt.spawn(serve(listener, stats.clone())).detach();
    println!("port {port}");
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    println!("stats {}", stats.line());
    let _ = std::io::stdout().flush();
    drop(rt);
    Ok(())
}

/// The server end: in this process, or in a child.
enum Server {
    Here(Arc<Stats>),
    Child {
        child: Child,
        stdout: BufReader<std::process::ChildStdout>,
    },
}

impl Server {
    /// Stops the server and returns its counters as `key=value` text.
    fn finish(self) -> Result<String, String> {
        match self {
            Server::Here(stats) => Ok(stats.line()),
            Server::Child {
                mut child,
                mut stdout,
            } => {
                drop(child.stdin.take()); // EOF: the server prints its counters and exits
                let mut line = String::new();
                let read = stdout.read_line(&mut line);
                let status = child.wait();
                read.map_err(|e| format!("reading the server's counters: {e}"))?;
                let status = status.map_err(|e| format!("waiting for the server: {e}"))?;
                match line.trim().strip_prefix("stats ") {
                    Some(stats) if status.success() => Ok(stats.to_owned()),
                    _ => Err(format!("the server process ended with {status} ({line:?})")),
                }
            }
        }
    }
}

fn stat(line: &str, key: &str) -> usize {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX)
}

fn start_server_child() -> Result<(Server, SocketAddr), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let mut child = Command::new(exe)
        .arg("echo-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the server process: {e}"))?;
    let mut stdout = BufReader::new(child.stdout.take().ok_or("no server stdout")?);
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .map_err(|e| format!("reading the server's port: {e}"))?;
    let port: u16 = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("the server process said {line:?}, not its port"))?;
    Ok((
        Server::Child { child, stdout },
        SocketAddr::from(([127, 0, 0, 1], port)),
    ))
}

struct Client {
    connected: AtomicUsize,
    echoed: AtomicUsize,
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
    gate: Semaphore,
    go: Event,
    close: Event,
}

impl Client {
    fn error(&self, e: String) {
        self.failed.fetch_add(1, Ordering::SeqCst);
        self.first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(e);
    }
}

/// One client: connect, wait for everyone, echo `rounds` messages, wait for everyone, close.
async fn client(id: usize, addr: SocketAddr, rounds: usize, c: Arc<Client>) {
    let permit = c.gate.acquire().await;
    let mut stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return c.error(format!("connection {id}: connect: {e}")),
    };
    drop(permit);
    c.connected.fetch_add(1, Ordering::SeqCst);
    c.go.wait().await;
    let mut msg = [0u8; MSG];
    let mut back = [0u8; MSG];
    for round in 0..rounds {
        msg[..8].copy_from_slice(&(id as u64).to_le_bytes());
        msg[8..16].copy_from_slice(&(round as u64).to_le_bytes());
        for (i, b) in msg[16..].iter_mut().enumerate() {
            *b = (id + round + i) as u8;
        }
        if let Err(e) = stream.write_all(&msg).await {
            return c.error(format!("connection {id}: write: {e}"));
        }
        if let Err(e) = stream.read_exact(&mut back).await {
            return c.error(format!("connection {id}: read: {e}"));
        }
        if back != msg {
            return c.error(format!("connection {id}: round {round} came back changed"));
        }
    }
    c.echoed.fetch_add(1, Ordering::SeqCst);
    c.close.wait().await;
    drop(stream);
}

pub(crate) fn run(size: Size, out: &mut Outcome) {
    let mut n = size.pick(10_000, 2_000, 500);
    let rounds = size.pick(5, 5, 2);
    let limit = Duration::from_secs(size.pick(60, 20, 200));
    let hard = match sys::raise_nofile() {
        Ok(hard) => hard,
        Err(e) => return out.fail(format!("raising RLIMIT_NOFILE: {e}")),
    };
    // The small sizes fit themselves to a small limit (some CI containers allow 1,024 fds); the
    // full size is issue 10's figure and fails instead.
    let fits = usize::try_from(hard.saturating_sub(SPARE_FDS)).unwrap_or(usize::MAX);
    if size != Size::Full && fits < n {
        out.figure(format!(
            "only {fits} connections: the hard RLIMIT_NOFILE is {hard}"
        ));
        n = fits.max(1);
    }
    let both = 2 * n as u64 + SPARE_FDS;
    let split = hard < both;
    if split && hard < n as u64 + SPARE_FDS {
        return out.fail(format!(
            "the hard RLIMIT_NOFILE ({hard}) cannot hold even one end of {n} connections"
        ));
    }
    let rt = runtime(2);
    let (server, addr) = if split {
        match start_server_child() {
            Ok(s) => s,
            Err(e) => return out.fail(e),
        }
    } else {
        let listener = match rt.block_on(TcpListener::bind("127.0.0.1:0")) {
            Ok(l) => l,
            Err(e) => return out.fail(format!("bind: {e}")),
        };
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let stats = Arc::new(Stats::default());
        rt.spawn(serve(listener, stats.clone())).detach();
        (Server::Here(stats), addr)
    };
    let layout = if split {
        format!(
            "server in a second process, as the hard RLIMIT_NOFILE {hard} < {both} needed for both ends"
        )
    } else {
        format!("client and server in one process, the hard RLIMIT_NOFILE being {hard}")
    };
    out.note(&layout);

    let c = Arc::new(Client {
        connected: AtomicUsize::new(0),
        echoed: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        first_error: Mutex::new(None),
        gate: Semaphore::new(CONNECTS_IN_FLIGHT),
        go: Event::new(),
        close: Event::new(),
    });
    let fds_before = sys::fd_count();
    let cc = c.clone();
    let figures = rt.block_on(async move {
        let c = cc;
        let start = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|id| corio::spawn(client(id, addr, rounds, c.clone())))
            .collect();
        let settled = |c: &Client, field: &AtomicUsize| {
            field.load(Ordering::SeqCst) + c.failed.load(Ordering::SeqCst) >= n
        };
        let all_connected = wait_until(limit, || settled(&c, &c.connected)).await;
        let connect_time = start.elapsed();
        let t = Instant::now();
        c.go.set();
        let all_echoed = wait_until(limit, || settled(&c, &c.echoed)).await;
        let echo_time = t.elapsed();
        // Every connection is open now, and (having echoed) accepted.
        let fds_open = sys::fd_count();
        let rss = sys::rss();
        let t = Instant::now();
        c.close.set();
        for task in tasks {
            task.await;
        }
        let close_time = t.elapsed();
        (
            all_connected,
            all_echoed,
            connect_time,
            echo_time,
            close_time,
            fds_open,
            rss,
        )
    });
    let (all_connected, all_echoed, connect_time, echo_time, close_time, fds_open, rss) = figures;
    if let Server::Here(stats) = &server {
        // Let the server's handlers see the closes before reading its counters.
        let stats = stats.clone();
        rt.block_on(wait_until(limit, || stats.open.load(Ordering::SeqCst) == 0));
    }
    let server_stats = server.finish();
    drop(rt);

    let connected = c.connected.load(Ordering::SeqCst);
    let echoed = c.echoed.load(Ordering::SeqCst);
    let trips = echoed * rounds;
    out.figure(format!(
        "{} connections open at once; {layout}",
        count(connected)
    ));
    out.figure(format!(
        "connected in {}; {} round trips of {MSG} B in {} ({:.0} round trips/s); closed in {}",
        dur(connect_time),
        count(trips),
        dur(echo_time),
        trips as f64 / echo_time.as_secs_f64().max(1e-9),
        dur(close_time),
    ));
    out.figure(format!(
        "{}: {} fds open with every connection up (+{}), RSS {}",
        if split {
            "client process"
        } else {
            "the process"
        },
        count(fds_open),
        count(fds_open.saturating_sub(fds_before)),
        mib(rss)
    ));
    if let Some(e) = c
        .first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        out.fail(format!(
            "{} connection(s) failed; the first: {e}",
            c.failed.load(Ordering::SeqCst)
        ));
    }
    out.check(all_connected && connected == n, || {
        format!(
            "{connected} of {n} connections established within {}",
            dur(limit)
        )
    });
    out.check(all_echoed && echoed == n, || {
        format!("{echoed} of {n} connections echoed every round")
    });
    match server_stats {
        Ok(line) => {
            out.figure(format!("server: {line}"));
            out.check(stat(&line, "accepted") == n, || {
                format!(
                    "the server accepted {} connections, not {n}",
                    stat(&line, "accepted")
                )
            });
            out.check(stat(&line, "peak") == n, || {
                format!(
                    "the server had at most {} connections open at once, not {n}",
                    stat(&line, "peak")
                )
            });
            out.check(stat(&line, "conn_errors") == 0, || {
                format!("{} server connections failed", stat(&line, "conn_errors"))
            });
            out.check(stat(&line, "bytes") == trips * MSG, || {
                format!(
                    "the server echoed {} bytes, not {}",
                    stat(&line, "bytes"),
                    trips * MSG
                )
            });
        }
        Err(e) => out.fail(e),
    }
}
