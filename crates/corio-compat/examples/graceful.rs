//! Graceful shutdown: a hyper HTTP server on corio that, on SIGINT (Ctrl-C) or SIGTERM, stops
//! accepting, lets the requests in flight finish within a deadline, then cancels what is left
//! and exits 0.
//!
//! ```text
//! cargo run --release -p corio-compat --example graceful [-- --port 8000 --deadline-ms 5000]
//! curl 'http://127.0.0.1:8000/slow?ms=3000' &   # then press Ctrl-C, or: kill -TERM <pid>
//! ```
//!
//! - `GET /slow?ms=N` sleeps N milliseconds (at most 60 s), then answers `200`.
//! - `GET /inflight` answers how many requests are being handled (itself not counted), so a
//!   test can wait for its requests to be in flight before it sends the signal.
//! - `GET /hello` answers at once.
//!
//! The story, as asyncio would tell it with `loop.add_signal_handler`:
//!
//! 1. Both signals are listened for *before* the server says it is listening
//!    (`corio::signal::ctrl_c()` and `corio::signal::unix::signal(SignalKind::terminate())`
//!    register on the call), so a signal sent the moment the address is printed is not lost,
//!    and never kills the process with the default action.
//! 2. The first signal cancels a `CancelToken`: the accept loop ends and the listener is closed
//!    (new connections are refused), and every connection gets hyper's `graceful_shutdown`: it
//!    finishes the request it is serving, then closes; idle keep-alive connections close now.
//! 3. A task group holds the connections; the program waits for it, but no longer than the
//!    deadline. When the deadline passes (or a second signal comes), the group is dropped, which
//!    cancels every connection still open: their handlers are dropped mid-sleep.
//! 4. `main` returns, and the process exits 0.

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corio::CancelToken;
use corio::net::{TcpListener, TcpStream};
use corio::signal::unix::{SignalKind, signal};
use corio_compat::{CorioTimer, HyperIo};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};

const USAGE: &str = "\
usage: graceful [--port N] [--deadline-ms MS]

  --port N          listen on 127.0.0.1:N (default 8000; 0 picks a free port)
  --deadline-ms MS  after SIGINT/SIGTERM, how long requests in flight may take to finish
                    before they are cancelled (default 5000)
";

/// The longest `/slow` request; longer asks are clamped to it.
const MAX_SLOW: Duration = Duration::from_secs(60);

struct Args {
    port: u16,
    deadline: Duration,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        port: 8000,
        deadline: Duration::from_secs(5),
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                parsed.port = v.parse().map_err(|_| format!("bad port `{v}`"))?;
            }
            "--deadline-ms" => {
                let v = value("--deadline-ms")?;
                let ms: u64 = v.parse().map_err(|_| format!("bad deadline `{v}`"))?;
                parsed.deadline = Duration::from_millis(ms);
            }
            "-h" | "--help" => return Err("graceful: an HTTP server that drains on SIGTERM".into()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match corio::run(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("graceful: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What every connection shares.
struct Server {
    /// Cancelled by the first signal: stop accepting, finish what is in flight.
    shutdown: CancelToken,
    in_flight: AtomicUsize,
    served: AtomicUsize,
    /// Handlers that found a tokio runtime context (there must be none: this is corio alone).
    tokio_seen: AtomicUsize,
}

async fn serve(args: Args) -> std::io::Result<()> {
    // 1. Listen for the signals first: from here on, SIGINT and SIGTERM are ours.
    let ctrl_c = corio::signal::ctrl_c();
    let mut terminate = signal(SignalKind::terminate())?;

    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    println!(
        "try: curl 'http://{addr}/slow?ms=3000', then Ctrl-C or `kill -TERM {}`",
        std::process::id()
    );
    let server = Arc::new(Server {
        shutdown: CancelToken::new(),
        in_flight: AtomicUsize::new(0),
        served: AtomicUsize::new(0),
        tokio_seen: AtomicUsize::new(0),
    });

    // The connections live in a task group: none outlives it, and dropping it cancels them all.
    let connections = corio::task_group({
        let server = server.clone();
        move |g| async move {
            while let Some(accepted) = server.shutdown.run_until_cancelled(listener.accept()).await
            {
                match accepted {
                    Ok((stream, _)) => {
                        g.spawn(connection(stream, server.clone()));
                    }
                    Err(e) => {
                        eprintln!("accept failed: {e}");
                        corio::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            // 2. Stopped accepting: close the listening socket, so new clients are refused
            // rather than left waiting in the backlog.
            drop(listener);
            println!("stopped accepting: the listening socket is closed");
            Ok::<(), Infallible>(())
        }
    });
    // Boxed, so that dropping it (below) really drops the group, not a reference to it.
    let mut connections = Box::pin(connections);

    // Serve until the first signal. (Polling the group runs the accept loop; the group cannot
    // end before the shutdown token is cancelled, below.) If signals cannot be received, say so
    // and stop, rather than serve on with no way to stop cleanly.
    let first: std::io::Result<&str> = corio::race(
        async {
            let _ = connections.as_mut().await;
            Ok("the server stopped by itself")
        },
        corio::race(async { ctrl_c.await.map(|()| "SIGINT") }, async {
            match terminate.recv().await {
                Some(()) => Ok("SIGTERM"),
                None => Err(std::io::Error::other("SIGTERM can no longer be received")),
            }
        }),
    )
    .await;
    let name = first?;
    let signalled = Instant::now();
    server.shutdown.cancel();
    println!(
        "{name}: shutting down; {} requests in flight, waiting up to {:?} for them",
        server.in_flight.load(Ordering::SeqCst),
        args.deadline
    );

    // 3. Drain, within the deadline; a second signal (listened for from now on) cuts it short.
    let mut interrupt_again = signal(SignalKind::interrupt())?;
    let mut terminate_again = signal(SignalKind::terminate())?;
    let drained = corio::race(
        async {
            let _ = connections.as_mut().await;
            Ok(())
        },
        async {
            let why = corio::race(
                async {
                    corio::sleep(args.deadline).await;
                    "the deadline passed"
                },
                corio::race(
                    async {
                        interrupt_again.recv().await;
                        "a second SIGINT came"
                    },
                    async {
                        terminate_again.recv().await;
                        "a second SIGTERM came"
                    },
                ),
            )
            .await;
            Err(why)
        },
    )
    .await;
    match drained {
        Ok(()) => println!(
            "drained: every request finished within {:.2?} of {name}",
            signalled.elapsed()
        ),
        Err(why) => {
            let left = server.in_flight.load(Ordering::SeqCst);
            // Dropping the group cancels every connection still open.
            drop(connections);
            println!(
                "{why} after {:.2?}: cancelled the {left} requests still in flight",
                signalled.elapsed()
            );
        }
    }
    let tokio_seen = server.tokio_seen.load(Ordering::SeqCst);
    if tokio_seen > 0 {
        return Err(std::io::Error::other(format!(
            "{tokio_seen} handlers ran inside a tokio runtime"
        )));
    }
    // 4. Exit 0.
    println!(
        "served {} requests (no tokio runtime in any handler); bye",
        server.served.load(Ordering::SeqCst)
    );
    Ok(())
}

/// One connection: served until the client leaves, or until shutdown, when hyper finishes the
/// request in flight and closes.
async fn connection(stream: TcpStream, server: Arc<Server>) -> Result<(), Infallible> {
    let _ = stream.set_nodelay(true);
    let service = {
        let server = server.clone();
        service_fn(move |request| route(request, server.clone()))
    };
    let conn = http1::Builder::new()
        .timer(CorioTimer)
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(HyperIo::vectored(stream), service);
    let mut conn = std::pin::pin!(conn);
    let ended = corio::race(async { Some(conn.as_mut().await) }, async {
        server.shutdown.cancelled().await;
        None
    })
    .await;
    if ended.is_none() {
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
    Ok(())
}

/// Counts a request as in flight until it is answered or cancelled.
struct InFlight<'a>(&'a Server);

impl<'a> InFlight<'a> {
    fn enter(server: &'a Server) -> InFlight<'a> {
        server.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(server)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn route(
    request: Request<Incoming>,
    server: Arc<Server>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // The example's proof that no tokio runtime is involved; it needs the `tokio` crate (feature
    // `rt`, a dev-dependency here): leave it out of your own server.
    if tokio::runtime::Handle::try_current().is_ok() {
        server.tokio_seen.fetch_add(1, Ordering::SeqCst);
    }
    let response = match request.uri().path() {
        "/slow" => {
            let ms = request
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("ms="))
                .map(str::parse::<u64>);
            match ms {
                Some(Ok(ms)) => {
                    let _counted = InFlight::enter(&server);
                    let nap = Duration::from_millis(ms).min(MAX_SLOW);
                    corio::sleep(nap).await;
                    text(StatusCode::OK, format!("slept {} ms\n", nap.as_millis()))
                }
                _ => text(
                    StatusCode::BAD_REQUEST,
                    "usage: /slow?ms=MILLISECONDS\n".into(),
                ),
            }
        }
        "/inflight" => text(
            StatusCode::OK,
            format!("{}\n", server.in_flight.load(Ordering::SeqCst)),
        ),
        "/hello" => text(StatusCode::OK, "Hello, world!\n".into()),
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    };
    server.served.fetch_add(1, Ordering::SeqCst);
    Ok(response)
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
