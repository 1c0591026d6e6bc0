//! Accept under `EMFILE`: the descriptor table is filled while clients wait in the listen
//! backlog, so that `accept` fails with `EMFILE`; then descriptors are freed.
//!
//! Proves: `TcpListener::accept` returns `EMFILE` as an error (it does not panic, hang or spin
//! the runtime), the listener stays usable, and the same accept loop serves every waiting client
//! once descriptors free up, with no new connection needed to wake it (the clients were already
//! in the backlog: a readiness edge consumed during the exhaustion must not be lost). Repeated
//! for several cycles with the same loop.
//!
//! To get there, `RLIMIT_NOFILE` is lowered to a little above what the process uses, the client
//! sockets are created first, the rest of the table is filled with `/dev/null`, and only then do
//! the (blocking, std) clients connect and send, from a plain thread.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use socket2::{Domain, Protocol, Socket, Type};

use super::runtime;
use crate::outcome::{Outcome, Size, count, dur};
use crate::sys;

const MSG: usize = 16;

#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicUsize,
    emfile: AtomicUsize,
    other_errors: AtomicUsize,
    first_other: Mutex<Option<String>>,
    open: AtomicUsize,
    echoed: AtomicUsize,
}

/// A server loop as the docs of `accept` recommend: count the error, back off briefly, go on.
async fn accept_loop(listener: TcpListener, stats: Arc<Stats>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                stats.accepted.fetch_add(1, Ordering::SeqCst);
                corio::spawn(echo_once(stream, stats.clone())).detach();
            }
            Err(e) => {
                if e.raw_os_error() == Some(libc::EMFILE) {
                    stats.emfile.fetch_add(1, Ordering::SeqCst);
                } else {
                    stats.other_errors.fetch_add(1, Ordering::SeqCst);
                    stats
                        .first_other
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(e.to_string());
                }
                corio::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

async fn echo_once(stream: TcpStream, stats: Arc<Stats>) {
    stats.open.fetch_add(1, Ordering::SeqCst);
    let mut buf = [0u8; MSG];
    if (&stream).read_exact(&mut buf).await.is_ok() && (&stream).write_all(&buf).await.is_ok() {
        stats.echoed.fetch_add(1, Ordering::SeqCst);
        let mut rest = Vec::new();
        let _ = (&stream).read_to_end(&mut rest).await; // until the client closes
    }
    stats.open.fetch_sub(1, Ordering::SeqCst);
}

/// The clients of one cycle: connect the pre-made sockets, send, and read the echoes back.
fn clients(sockets: Vec<Socket>, addr: SocketAddr, cycle: usize) -> io::Result<Duration> {
    let mut streams = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        socket.connect(&addr.into())?;
        let mut stream: std::net::TcpStream = socket.into();
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut msg = [0u8; MSG];
        msg[..8].copy_from_slice(&(cycle as u64).to_le_bytes());
        msg[8..].copy_from_slice(&(i as u64).to_le_bytes());
        stream.write_all(&msg)?;
        streams.push((stream, msg));
    }
    let start = Instant::now();
    for (stream, msg) in &mut streams {
        let mut back = [0u8; MSG];
        stream.read_exact(&mut back)?;
        if back != *msg {
            return Err(io::Error::other("an echo came back changed"));
        }
    }
    Ok(start.elapsed())
}

pub(crate) fn run(size: Size, out: &mut Outcome) {
    let cycles = size.pick(3, 2, 1);
    let k = size.pick(32, 16, 8);
    let rt = runtime(2);
    let stats = Arc::new(Stats::default());
    let listener = match rt.block_on(TcpListener::bind("127.0.0.1:0")) {
        Ok(l) => l,
        Err(e) => return out.fail(format!("bind: {e}")),
    };
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let server = rt.spawn(accept_loop(listener, stats.clone()));
    // Let the loop park in accept, and every worker settle, before the table is measured. (Not
    // with `rt.block_on(sleep)`: that can leave the runtime's driver unattended when it returns,
    // which `driver-handoff` reports; this scenario is about EMFILE.)
    thread::sleep(Duration::from_millis(10));

    let highest = sys::fds().iter().map(|f| f.0).max().unwrap_or(2);
    let soft = u64::from(highest) + 1 + 64 + 2 * k as u64;
    if let Err(e) = sys::set_nofile_soft(soft) {
        return out.fail(format!("lowering RLIMIT_NOFILE to {soft}: {e}"));
    }
    out.note(format!(
        "RLIMIT_NOFILE lowered to {soft} (highest fd in use: {highest})"
    ));

    for cycle in 0..cycles {
        let sockets: io::Result<Vec<Socket>> = (0..k)
            .map(|_| Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)))
            .collect();
        let sockets = match sockets {
            Ok(s) => s,
            Err(e) => return out.fail(format!("cycle {cycle}: client sockets: {e}")),
        };
        // Fill the table.
        let mut hogs = Vec::new();
        let fill = loop {
            match File::open("/dev/null") {
                Ok(f) => hogs.push(f),
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if let Err(e) = fill {
            return out.fail(format!("cycle {cycle}: filling the fd table: {e}"));
        }
        let accepted_before = stats.accepted.load(Ordering::SeqCst);
        let emfile_before = stats.emfile.load(Ordering::SeqCst);
        let echoed_before = stats.echoed.load(Ordering::SeqCst);
        let client = thread::spawn(move || clients(sockets, addr, cycle));

        // Exhaustion: accept must fail with EMFILE, repeatedly, and accept nothing.
        let t = Instant::now();
        while stats.emfile.load(Ordering::SeqCst) < emfile_before + 20
            && t.elapsed() < Duration::from_secs(5)
        {
            thread::sleep(Duration::from_millis(1));
        }
        let starved_for = t.elapsed();
        let emfile = stats.emfile.load(Ordering::SeqCst) - emfile_before;
        let accepted_while_full = stats.accepted.load(Ordering::SeqCst) - accepted_before;

        // Free the table: the same loop must now serve every waiting client.
        let freed_fds = hogs.len();
        drop(hogs);
        let t = Instant::now();
        while stats.echoed.load(Ordering::SeqCst) < echoed_before + k
            && t.elapsed() < Duration::from_secs(20)
        {
            thread::sleep(Duration::from_millis(1));
        }
        let recovery = t.elapsed();
        let served = stats.echoed.load(Ordering::SeqCst) - echoed_before;
        let client_result = client
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the client thread panicked")));
        // The handlers see the clients close.
        let t = Instant::now();
        while stats.open.load(Ordering::SeqCst) > 0 && t.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(1));
        }

        out.figure(format!(
            "cycle {cycle}: table full ({} fds of /dev/null); {} clients waited in the backlog \
             while accept failed with EMFILE {} times in {} (accepted meanwhile: \
             {accepted_while_full}); fds freed -> all {served} served in {}",
            count(freed_fds),
            k,
            count(emfile),
            dur(starved_for),
            dur(recovery),
        ));
        out.check(emfile > 0, || {
            format!("cycle {cycle}: accept never failed with EMFILE while the table was full")
        });
        out.check(accepted_while_full == 0, || {
            format!("cycle {cycle}: {accepted_while_full} accepts succeeded with a full table")
        });
        out.check(served == k, || {
            format!(
                "cycle {cycle}: after fds were freed only {served} of {k} waiting clients were \
                 served within 20 s (the accept loop {})",
                if server.is_finished() {
                    "has ended"
                } else {
                    "is still alive"
                }
            )
        });
        if let Err(e) = client_result {
            out.fail(format!("cycle {cycle}: a client failed: {e}"));
        }
        if out.failed() {
            break;
        }
    }
    out.check(!server.is_finished(), || "the accept loop ended".to_owned());
    let other = stats.other_errors.load(Ordering::SeqCst);
    out.check(other == 0, || {
        format!(
            "{other} accept errors other than EMFILE; the first: {:?}",
            stats.first_other.lock().unwrap_or_else(|e| e.into_inner())
        )
    });
    out.figure(format!(
        "one accept loop, {cycles} exhaustion cycles: {} EMFILE errors survived, {} \
         connections accepted and echoed",
        count(stats.emfile.load(Ordering::SeqCst)),
        count(stats.accepted.load(Ordering::SeqCst)),
    ));
    drop(server);
    drop(rt);
}
