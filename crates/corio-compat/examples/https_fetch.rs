//! The article's section 2.2 over HTTPS: `batch_fetch` sends N requests to `https://` URLs
//! through a `corio::Semaphore` that lets at most K run at once, each under its own timeout, and
//! gathers every result, failures included (`gather(..., return_exceptions=True)`).
//!
//! ```text
//! cargo run --release -p corio-compat --example https_fetch [-- --requests 100 --limit 10 --timeout-ms 500]
//! ```
//!
//! It starts its own HTTPS server on loopback, with a certificate made at start-up by `rcgen`
//! for `localhost`: hyper on corio behind `corio_compat::tls::Acceptor`. The client is hyper on
//! corio over `corio_compat::tls::Connector`, trusting only that certificate, and keeps its TLS
//! connections alive for reuse, like `aiohttp.ClientSession`. Each request takes 20 ms; every
//! 25th fails with a 503, and every 40th hangs for far longer than the timeout, which cuts it
//! off. The program checks every result against what the server meant to answer, checks that
//! no tokio runtime exists in any handler or request, and exits 0 only if all of that holds.

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corio::Semaphore;
use corio::net::{TcpListener, TcpStream};
use corio_compat::tls::rustls::pki_types::PrivateKeyDer;
use corio_compat::tls::{Acceptor, Connector};
use corio_compat::{CorioTimer, HyperIo};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};

type BoxError = Box<dyn Error + Send + Sync>;

const USAGE: &str = "\
usage: https_fetch [--requests N] [--limit K] [--timeout-ms T]

  --requests N     how many URLs to fetch (default 100)
  --limit K        at most K requests in flight (default 10; 0 means unlimited)
  --timeout-ms T   each request's timeout in milliseconds (default 500)
";

struct Args {
    requests: usize,
    limit: Option<usize>,
    timeout: Duration,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        requests: 100,
        limit: Some(10),
        timeout: Duration::from_millis(500),
    };
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Err("https_fetch: the article's batch fetch over HTTPS".into());
        }
        if !["--requests", "--limit", "--timeout-ms"].contains(&arg.as_str()) {
            return Err(format!("unknown argument `{arg}`"));
        }
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let number: u64 = value
            .parse()
            .map_err(|_| format!("{arg}: `{value}` is not a number"))?;
        let number_usize = usize::try_from(number).map_err(|_| format!("{arg}: too large"))?;
        match arg.as_str() {
            "--requests" => parsed.requests = number_usize,
            "--limit" => parsed.limit = (number_usize > 0).then_some(number_usize),
            "--timeout-ms" if number > 0 => parsed.timeout = Duration::from_millis(number),
            "--timeout-ms" => return Err("--timeout-ms must be at least 1".into()),
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
    match corio::run(fetch_all(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("https_fetch: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Checks made, and tokio runtime contexts found, by [`check_no_tokio`].
static TOKIO_CHECKS: AtomicUsize = AtomicUsize::new(0);
static TOKIO_FOUND: AtomicUsize = AtomicUsize::new(0);

/// Records whether this code runs inside a tokio runtime: everything here must be corio's,
/// and the program fails at the end if any check found one. The example's proof only: it needs
/// the `tokio` crate (feature `rt`, a dev-dependency here); leave it out of your own code.
fn check_no_tokio(where_: &str) {
    TOKIO_CHECKS.fetch_add(1, Ordering::SeqCst);
    if tokio::runtime::Handle::try_current().is_ok() {
        TOKIO_FOUND.fetch_add(1, Ordering::SeqCst);
        eprintln!(
            "a tokio runtime context exists in {where_}: this program must run on corio alone"
        );
    }
}

/// What the server means to answer for item `n` (see [`item`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Ok,
    Unavailable,
    TimedOut,
}

fn expected(n: usize) -> Expected {
    if n % 40 == 39 {
        Expected::TimedOut
    } else if n % 25 == 24 {
        Expected::Unavailable
    } else {
        Expected::Ok
    }
}

async fn fetch_all(args: Args) -> Result<(), BoxError> {
    check_no_tokio("main");
    // A certificate for this run only; the client trusts it and nothing else.
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der())?;
    let acceptor = Acceptor::with_single_cert(vec![certified.cert.der().clone()], key)?;
    let connector = Connector::trusting([certified.cert.der().clone()])?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let slow = args.timeout * 10;
    // Dropping this task cancels the server and every connection it has.
    let server = corio::spawn(serve(listener, acceptor, slow));
    let limit = args
        .limit
        .map_or_else(|| "unlimited".to_string(), |k| k.to_string());
    println!(
        "HTTPS server on https://localhost:{} (self-signed certificate, made at start-up)\n\
         each request takes 20 ms; every 25th fails (503); every 40th takes {slow:?}\n\
         fetching {} URLs, at most {limit} in flight, each with a {:?} timeout\n",
        addr.port(),
        args.requests,
        args.timeout
    );

    let session = Session::new(addr, connector);
    let urls: Vec<String> = (0..args.requests)
        .map(|i| format!("https://localhost:{}/item/{i}", addr.port()))
        .collect();
    let in_flight = InFlight::default();
    let start = Instant::now();
    let results = batch_fetch(&session, &urls, args.limit, args.timeout, &in_flight).await;
    let elapsed = start.elapsed();

    let (mut ok, mut unavailable, mut timed_out, mut wrong) = (0, 0, 0, Vec::new());
    // Requests the server would have answered in time but that timed out anyway: the client
    // was too slow (too many TLS handshakes at once for the cores, or a loaded machine). The
    // timeout did its job, so they are reported, not counted as wrong.
    let mut late = 0;
    for (n, (url, result)) in urls.iter().zip(&results).enumerate() {
        let got = match result {
            Ok(body) if *body == format!("item {n}") => Expected::Ok,
            Err(Failure::Status(StatusCode::SERVICE_UNAVAILABLE)) => Expected::Unavailable,
            Err(Failure::TimedOut) => Expected::TimedOut,
            other => {
                wrong.push(format!("{url}: {other:?}"));
                continue;
            }
        };
        match got {
            Expected::Ok => ok += 1,
            Expected::Unavailable => unavailable += 1,
            Expected::TimedOut => timed_out += 1,
        }
        if got == Expected::TimedOut && expected(n) != Expected::TimedOut {
            late += 1;
        } else if got != expected(n) {
            wrong.push(format!(
                "{url}: {got:?}, but the server meant {:?}",
                expected(n)
            ));
        }
        if n < 3 || got != Expected::Ok {
            println!("  {url:<36} {}", describe(result));
        }
    }
    let peak = in_flight.peak.load(Ordering::SeqCst);
    println!(
        "\n{} results in {elapsed:.2?}: {ok} ok, {unavailable} failed (503), {timed_out} timed out",
        results.len()
    );
    println!(
        "{} TLS connections opened for {} requests (kept alive and reused)",
        session.connections.load(Ordering::SeqCst),
        results.len()
    );
    if late > 0 {
        println!(
            "{late} of the timeouts hit requests the server would have answered in time: the \
             client could not keep up (try a lower --limit, or a longer --timeout-ms)"
        );
    }
    drop(session);
    server.cancel().await;

    let (checks, found) = (
        TOKIO_CHECKS.load(Ordering::SeqCst),
        TOKIO_FOUND.load(Ordering::SeqCst),
    );
    if found > 0 {
        return Err(format!("{found} of {checks} checks found a tokio runtime").into());
    }
    println!("no tokio runtime: {checks} checks, in main, every request and every handler");
    if !wrong.is_empty() {
        return Err(format!("unexpected results:\n  {}", wrong.join("\n  ")).into());
    }
    if let Some(k) = args.limit {
        if peak > k {
            return Err(
                format!("{peak} requests were in flight at once, over the limit {k}").into(),
            );
        }
    }
    println!("https_fetch: done; at most {peak} requests were in flight at once (limit {limit})");
    Ok(())
}

#[derive(Debug)]
enum Failure {
    Status(StatusCode),
    TimedOut,
    Other(BoxError),
}

fn describe(result: &Result<Bytes, Failure>) -> String {
    match result {
        Ok(body) => format!("200 OK, {:?}", String::from_utf8_lossy(body)),
        Err(Failure::Status(status)) => format!("failed: {status}"),
        Err(Failure::TimedOut) => "failed: timed out".to_string(),
        Err(Failure::Other(e)) => format!("failed: {e}"),
    }
}

/// `fetch_with_semaphore`: `async with semaphore:` is a permit held to the end of the scope,
/// and `aiohttp.ClientTimeout(total=...)` is a `corio::timeout` around the whole request.
async fn fetch_with_semaphore(
    session: &Session,
    url: &str,
    semaphore: Option<&Semaphore>,
    timeout: Duration,
    in_flight: &InFlight,
) -> Result<Bytes, Failure> {
    let _permit = match semaphore {
        Some(semaphore) => Some(
            semaphore
                .acquire()
                .await
                .map_err(|e| Failure::Other(e.into()))?,
        ),
        None => None,
    };
    let _counted = in_flight.enter();
    let (status, body) = corio::timeout(timeout, session.get(url))
        .await
        .map_err(|_| Failure::TimedOut)?
        .map_err(Failure::Other)?;
    if !status.is_success() {
        return Err(Failure::Status(status));
    }
    Ok(body)
}

/// `batch_fetch`: every request at once, at most `max_concurrency` in flight; every result
/// comes back (errors too), in order, like `gather(..., return_exceptions=True)`.
async fn batch_fetch(
    session: &Session,
    urls: &[String],
    max_concurrency: Option<usize>,
    timeout: Duration,
    in_flight: &InFlight,
) -> Vec<Result<Bytes, Failure>> {
    let semaphore = max_concurrency.map(Semaphore::new);
    corio::join_all(
        urls.iter()
            .map(|url| fetch_with_semaphore(session, url, semaphore.as_ref(), timeout, in_flight)),
    )
    .await
}

/// A tiny HTTPS `ClientSession`: TLS connections kept alive and reused. A request that times
/// out drops its connection (it may still carry half an answer), so it is never reused.
struct Session {
    addr: SocketAddr,
    connector: Connector,
    idle: Mutex<Vec<SendRequest<Empty<Bytes>>>>,
    connections: AtomicUsize,
}

impl Session {
    fn new(addr: SocketAddr, connector: Connector) -> Session {
        Session {
            addr,
            connector,
            idle: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
        }
    }

    async fn get(&self, url: &str) -> Result<(StatusCode, Bytes), BoxError> {
        check_no_tokio("a request");
        let uri: hyper::Uri = url.parse()?;
        let host = uri.host().ok_or("a URL without a host")?.to_string();
        let mut sender = match self.take_idle() {
            Some(mut sender) => match sender.ready().await {
                Ok(()) => sender,
                Err(_) => self.connect(&host).await?,
            },
            None => self.connect(&host).await?,
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let request = Request::get(path)
            .header("host", format!("{host}:{}", self.addr.port()))
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

    /// A new TLS connection to the server, checked against the name in the URL.
    async fn connect(&self, host: &str) -> Result<SendRequest<Empty<Bytes>>, BoxError> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let tls = self.connector.connect(host, tcp).await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(HyperIo::new(tls)).await?;
        // The connection's I/O runs as its own task; it ends when `sender` is dropped.
        corio::spawn(async move {
            let _ = connection.await;
        })
        .detach();
        self.connections.fetch_add(1, Ordering::SeqCst);
        Ok(sender)
    }
}

/// Requests in flight, counted while the permit is held, and the most seen at once.
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
}

struct Leave<'a>(&'a InFlight);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The HTTPS server: a TLS handshake, then hyper, one task per connection. It runs until its
/// task is dropped, which cancels every connection with it.
async fn serve(listener: TcpListener, acceptor: Acceptor, slow: Duration) {
    let _: Result<(), corio::GroupError<Infallible>> = corio::task_group(async |g| {
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    corio::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            g.spawn(async move {
                // A client that never finishes its handshake must not hold a task forever.
                let tls = match corio::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                {
                    Ok(Ok(tls)) => tls,
                    // A client that gave up (its timeout) mid-handshake is no news.
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        return Ok::<(), Infallible>(());
                    }
                    Ok(Err(e)) => {
                        eprintln!("{e}");
                        return Ok::<(), Infallible>(());
                    }
                    Err(_) => return Ok(()),
                };
                let service = hyper::service::service_fn(move |request| item(request, slow));
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(CorioTimer)
                    .serve_connection(HyperIo::new(tls), service)
                    .await;
                Ok(())
            });
        }
    })
    .await;
}

/// `GET /item/{n}`: 20 ms of "work"; every 25th item fails; every 40th is very slow.
async fn item(
    request: Request<Incoming>,
    slow: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    check_no_tokio("a handler");
    let n: Option<usize> = request
        .uri()
        .path()
        .strip_prefix("/item/")
        .and_then(|n| n.parse().ok());
    let (status, body) = match n.map(|n| (n, expected(n))) {
        Some((n, Expected::TimedOut)) => {
            corio::sleep(slow).await;
            (StatusCode::OK, format!("item {n}, late"))
        }
        Some((n, Expected::Unavailable)) => {
            corio::sleep(Duration::from_millis(20)).await;
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("item {n}: try later"),
            )
        }
        Some((n, Expected::Ok)) => {
            corio::sleep(Duration::from_millis(20)).await;
            (StatusCode::OK, format!("item {n}"))
        }
        None => (StatusCode::NOT_FOUND, "no such item".to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}
