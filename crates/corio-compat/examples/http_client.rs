//! The article's section 2.2 over real HTTP: `batch_fetch` sends 100 requests through a
//! `corio::Semaphore` that lets at most N run at once, for N = 1, 10, 50 and unlimited, and
//! gathers every result, failures included (`gather(..., return_exceptions=True)`).
//!
//! ```text
//! cargo run --release -p corio-compat --example http_client [-- --requests 100]
//! ```
//!
//! It starts its own server on loopback (hyper on corio): each request takes 20 ms, every 25th
//! fails with a 503, and the server counts the requests in flight. The table shows the time per
//! limit and the peak in flight as the *server* saw it. Client and server are hyper on corio;
//! the client keeps its connections alive and reuses them, like `aiohttp.ClientSession`.

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corio::Semaphore;
use corio::net::{TcpListener, TcpStream};
use corio_compat::{CorioTimer, HyperIo};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};

type BoxError = Box<dyn Error + Send + Sync>;

fn main() -> ExitCode {
    let mut requests = 100;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().map(|v| v.parse::<usize>())) {
            ("--requests", Some(Ok(n))) => requests = n,
            _ => {
                eprintln!("usage: http_client [--requests N]");
                return ExitCode::from(2);
            }
        }
    }
    match corio::run(tour(requests)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn tour(requests: usize) -> Result<(), BoxError> {
    let stats = Arc::new(InFlight::default());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = corio::CancelToken::new();
    let server = corio::spawn(serve(listener, stats.clone(), stop.clone()));
    println!(
        "server on http://{addr}: each request takes 20 ms, every 25th fails (503)\n\
         {requests} requests per limit; the peak in flight is counted by the server\n"
    );

    let session = Session::new(addr);
    let urls: Vec<String> = (0..requests).map(|i| format!("/item/{i}")).collect();
    println!(
        "{:>12} | {:>9} | {:>14} | {:>4} | {:>6}",
        "concurrency", "time", "peak in flight", "ok", "failed"
    );
    for limit in [Some(1), Some(10), Some(50), None] {
        stats.reset();
        let start = Instant::now();
        let (ok, failed) = batch_fetch(&session, &urls, limit).await;
        let elapsed = start.elapsed();
        let peak = stats.peak();
        let label = limit.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
        println!("{label:>12} | {elapsed:>9.2?} | {peak:>14} | {ok:>4} | {failed:>6}");
        if let Some(n) = limit {
            if peak > n {
                return Err(
                    format!("the semaphore let {peak} requests through a limit of {n}").into(),
                );
            }
        }
    }
    println!(
        "\nthe client opened {} connections in all (kept alive and reused between rounds)",
        session.connections.load(Ordering::SeqCst)
    );
    drop(session); // closes the client's connections, so the server's end too
    stop.cancel();
    server.await;
    Ok(())
}

/// `fetch_with_semaphore`: `async with semaphore:` is a permit held until the end of the scope.
async fn fetch_with_semaphore(
    session: &Session,
    url: &str,
    semaphore: Option<&Semaphore>,
) -> Result<Bytes, BoxError> {
    let _permit = match semaphore {
        Some(semaphore) => Some(semaphore.acquire().await?),
        None => None,
    };
    let (status, body) = session.get(url).await?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status}").into());
    }
    Ok(body)
}

/// `batch_fetch`: every request at once, at most `max_concurrency` in flight; every result
/// comes back (errors too), in order, like `gather(..., return_exceptions=True)`.
async fn batch_fetch(
    session: &Session,
    urls: &[String],
    max_concurrency: Option<usize>,
) -> (usize, usize) {
    let semaphore = max_concurrency.map(Semaphore::new);
    let results = corio::join_all(
        urls.iter()
            .map(|url| fetch_with_semaphore(session, url, semaphore.as_ref())),
    )
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    (ok, results.len() - ok)
}

/// A tiny `ClientSession`: HTTP/1 connections kept alive and reused.
struct Session {
    addr: SocketAddr,
    idle: Mutex<Vec<SendRequest<Empty<Bytes>>>>,
    connections: AtomicUsize,
}

impl Session {
    fn new(addr: SocketAddr) -> Session {
        Session {
            addr,
            idle: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
        }
    }

    async fn get(&self, path: &str) -> Result<(StatusCode, Bytes), BoxError> {
        let mut sender = match self.take_idle() {
            // A kept-alive connection is ready for the next request only once it has finished
            // the last one; if the server closed it meanwhile, open another.
            Some(mut sender) => match sender.ready().await {
                Ok(()) => sender,
                Err(_) => self.connect().await?,
            },
            None => self.connect().await?,
        };
        let request = Request::get(path)
            .header("host", self.addr.to_string())
            .body(Empty::new())?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sender);
        Ok((status, body))
    }

    fn take_idle(&self) -> Option<SendRequest<Empty<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, BoxError> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(HyperIo::new(stream)).await?;
        // The connection's I/O runs as its own task; it ends when `sender` is dropped.
        corio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("client connection error: {e}");
            }
        })
        .detach();
        self.connections.fetch_add(1, Ordering::SeqCst);
        Ok(sender)
    }
}

/// Requests in flight on the server, and the most seen at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl InFlight {
    /// Counts a request in until the guard drops (even if the request is cancelled).
    fn enter(&self) -> Leave<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Leave(self)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    fn reset(&self) {
        self.peak.store(0, Ordering::SeqCst);
    }
}

struct Leave<'a>(&'a InFlight);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The server: hyper on corio, one task per connection. After `stop`, it accepts no more and
/// returns once every connection has ended.
async fn serve(listener: TcpListener, stats: Arc<InFlight>, stop: corio::CancelToken) {
    let connections = corio::task_group(async |g| {
        while let Some(accepted) = stop.run_until_cancelled(listener.accept()).await {
            let (stream, _) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    corio::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let stats = stats.clone();
            g.spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| item(request, stats.clone()));
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(CorioTimer)
                    .serve_connection(HyperIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    eprintln!("server connection error: {e}");
                }
                Ok::<(), Infallible>(())
            });
        }
        Ok(())
    });
    let _ = connections.await;
}

/// `GET /item/{n}`: 20 ms of "work"; every 25th item fails.
async fn item(
    request: Request<Incoming>,
    stats: Arc<InFlight>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    {
        let _counted = stats.enter();
        corio::sleep(Duration::from_millis(20)).await;
    }
    let n: Option<usize> = request
        .uri()
        .path()
        .strip_prefix("/item/")
        .and_then(|n| n.parse().ok());
    let (status, body) = match n {
        Some(n) if n % 25 == 24 => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("item {n}: try later"),
        ),
        Some(n) => (StatusCode::OK, format!("item {n}")),
        None => (StatusCode::NOT_FOUND, "no such item".to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}
