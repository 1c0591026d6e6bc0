//! hyper on corio: a server and a client on loopback, the semaphore limit as the server sees it,
//! `header_read_timeout` on corio's timers, and proof that no tokio runtime is involved.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corio::net::{TcpListener, TcpStream};
use corio::{CancelToken, Semaphore, Task};
use corio_compat::{CorioExecutor, CorioSleep, CorioTimer, HyperIo};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::rt::{Executor, Timer};
use hyper::{Method, Request, Response, StatusCode};

/// Generous bound for anything that should take milliseconds: only a hang trips it.
const SANITY: Duration = Duration::from_secs(20);

/// Fails the test if this code runs inside a tokio runtime: everything here must be corio's.
#[track_caller]
fn assert_no_tokio() {
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "a tokio runtime context exists: the code under test is not running on corio alone"
    );
}

/// Requests in flight on the server, and the most seen at once.
#[derive(Default)]
struct Stats {
    now: AtomicUsize,
    peak: AtomicUsize,
    handled: AtomicUsize,
}

struct Counted<'a>(&'a Stats);

impl Stats {
    fn enter(&self) -> Counted<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Counted(self)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
        self.0.handled.fetch_add(1, Ordering::SeqCst);
    }
}

/// A running test server; `stop` ends it once its connections are gone.
struct Server {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: CancelToken,
    task: Task<()>,
}

impl Server {
    async fn start(header_read_timeout: Duration) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let stop = CancelToken::new();
        let task = corio::spawn({
            let (stats, stop) = (stats.clone(), stop.clone());
            async move {
                let served = corio::task_group(async |g| {
                    while let Some(accepted) = stop.run_until_cancelled(listener.accept()).await {
                        let (stream, _) = accepted.expect("accept");
                        let stats = stats.clone();
                        g.spawn(async move {
                            let service = hyper::service::service_fn(move |request| {
                                route(request, stats.clone())
                            });
                            // Errors (a timed-out or cut connection) end this connection only.
                            let _ = hyper::server::conn::http1::Builder::new()
                                .timer(CorioTimer)
                                .header_read_timeout(header_read_timeout)
                                .serve_connection(HyperIo::vectored(stream), service)
                                .await;
                            Ok::<(), Infallible>(())
                        });
                    }
                    Ok(())
                })
                .await;
                assert!(served.is_ok());
            }
        });
        Server {
            addr,
            stats,
            stop,
            task,
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        corio::timeout(SANITY, self.task)
            .await
            .expect("the server did not stop");
    }
}

async fn route(
    request: Request<Incoming>,
    stats: Arc<Stats>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    assert_no_tokio();
    let _counted = stats.enter();
    let path = request.uri().path().to_string();
    let (status, body) = if let Some(id) = path.strip_prefix("/dashboard/") {
        match id.parse::<u64>() {
            Ok(id) => (StatusCode::OK, dashboard(id).await),
            Err(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad user id".to_string()),
        }
    } else if path.starts_with("/item/") {
        corio::sleep(Duration::from_millis(20)).await;
        (StatusCode::OK, path.clone())
    } else if path == "/echo" && request.method() == Method::POST {
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
        (StatusCode::OK, format!("{} bytes, sum {sum}", body.len()))
    } else if path == "/hello" {
        (StatusCode::OK, "Hello, world!".to_string())
    } else {
        (StatusCode::NOT_FOUND, "not found".to_string())
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}

/// The article's handler, with shorter queries: three at once through `try_join!`.
async fn dashboard(user_id: u64) -> String {
    async fn query(ms: u64, answer: String) -> Result<String, String> {
        assert_no_tokio();
        corio::sleep(Duration::from_millis(ms)).await;
        Ok(answer)
    }
    let (user, orders, notifications) = corio::try_join!(
        query(10, format!(r#"{{"id": {user_id}, "name": "Alice"}}"#)),
        query(20, r#"[{"id": 1, "amount": 99.9}]"#.to_string()),
        query(15, r#"[{"msg": "shipped"}]"#.to_string()),
    )
    .unwrap();
    format!(r#"{{"user": {user}, "recent_orders": {orders}, "notifications": {notifications}}}"#)
}

/// One request on its own connection; the connection is closed before this returns.
async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Bytes,
) -> (StatusCode, String) {
    assert_no_tokio();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
        .await
        .unwrap();
    let connection = corio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .body(Full::new(body))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    drop(sender);
    connection.await.unwrap();
    assert_no_tokio();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn get(addr: SocketAddr, path: &str) -> (StatusCode, String) {
    request(addr, Method::GET, path, Bytes::new()).await
}

#[corio::test(multi)]
async fn server_and_client_on_loopback() {
    assert_no_tokio();
    let server = Server::start(Duration::from_secs(10)).await;
    let addr = server.addr;

    let start = Instant::now();
    let (status, body) = get(addr, "/dashboard/7").await;
    let took = start.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"user": {"id": 7, "name": "Alice"}, "recent_orders": [{"id": 1, "amount": 99.9}], "notifications": [{"msg": "shipped"}]}"#
    );
    // The three queries (10, 20, 15 ms) ran at once: never less than the longest one.
    assert!(took >= Duration::from_millis(20), "{took:?}");
    assert!(took < SANITY, "{took:?}");

    assert_eq!(
        get(addr, "/hello").await,
        (StatusCode::OK, "Hello, world!".into())
    );
    assert_eq!(
        get(addr, "/dashboard/x").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(get(addr, "/nowhere").await.0, StatusCode::NOT_FOUND);
    assert_eq!(server.stats.handled.load(Ordering::SeqCst), 4);
    server.stop().await;
}

#[corio::test(multi)]
async fn large_bodies_cross_hyper_io_intact() {
    // 1 MiB, more than HyperIo's 64 KiB read slice: the body arrives over many reads.
    let server = Server::start(Duration::from_secs(10)).await;
    let body: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    let (status, text) = request(server.addr, Method::POST, "/echo", Bytes::from(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, format!("1048576 bytes, sum {sum}"));
    server.stop().await;
}

/// The article's `fetch_with_semaphore`, against the test server.
async fn batch_fetch(addr: SocketAddr, requests: usize, limit: Option<usize>) -> usize {
    let semaphore = limit.map(Semaphore::new);
    let results = corio::join_all((0..requests).map(|i| {
        let semaphore = semaphore.as_ref();
        async move {
            let _permit = match semaphore {
                Some(s) => Some(s.acquire().await.unwrap()),
                None => None,
            };
            get(addr, &format!("/item/{i}")).await
        }
    }))
    .await;
    for (i, (status, body)) in results.iter().enumerate() {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(*body, format!("/item/{i}"));
    }
    results.len()
}

#[corio::test(multi)]
async fn semaphore_limit_holds_as_the_server_sees_it() {
    let server = Server::start(Duration::from_secs(10)).await;
    for limit in [1, 4] {
        server.stats.peak.store(0, Ordering::SeqCst);
        assert_eq!(batch_fetch(server.addr, 24, Some(limit)).await, 24);
        let peak = server.stats.peak.load(Ordering::SeqCst);
        assert!(
            peak <= limit,
            "limit {limit}, but {peak} requests were in flight at once"
        );
        assert!(peak >= 1);
    }
    // Without a limit the same requests do overlap: the server's count is not stuck at 1.
    server.stats.peak.store(0, Ordering::SeqCst);
    assert_eq!(batch_fetch(server.addr, 24, None).await, 24);
    let unlimited = server.stats.peak.load(Ordering::SeqCst);
    assert!(
        unlimited > 1,
        "24 concurrent 20 ms requests never overlapped"
    );
    server.stop().await;
}

/// Connects, sends `prefix` (maybe nothing), then waits for the server to hang up.
async fn time_until_hung_up(addr: SocketAddr, prefix: &[u8]) -> Duration {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(prefix).await.unwrap();
    let mut rest = Vec::new();
    // The server closes the connection (EOF, or a reset): either ends the read.
    let _ = corio::timeout(SANITY, stream.read_to_end(&mut rest))
        .await
        .expect("the server never closed the silent connection");
    start.elapsed()
}

#[corio::test(multi)]
async fn header_read_timeout_runs_on_corio_timers() {
    let timeout = Duration::from_millis(200);
    let server = Server::start(timeout).await;

    // A client that connects and says nothing is cut off after the timeout, not before.
    let silent = time_until_hung_up(server.addr, b"").await;
    assert!(
        silent >= timeout,
        "closed after {silent:?}, before the timeout"
    );

    // So is one that starts a request and never finishes its headers.
    let partial = time_until_hung_up(server.addr, b"GET /hello HTTP/1.1\r\nhost: x\r\n").await;
    assert!(
        partial >= timeout,
        "closed after {partial:?}, before the timeout"
    );

    // A client that does send its request in time is served.
    assert_eq!(get(server.addr, "/hello").await.0, StatusCode::OK);
    assert_eq!(server.stats.handled.load(Ordering::SeqCst), 1);
    server.stop().await;
}

#[corio::test]
async fn timer_resets_in_place_and_reads_corio_clock() {
    let timer = CorioTimer;
    let mut sleep = timer.sleep(Duration::from_secs(3600));
    let start = Instant::now();
    timer.reset(&mut sleep, Instant::now() + Duration::from_millis(10));
    // Still our own sleep, moved rather than replaced.
    assert!(sleep.as_mut().downcast_mut_pin::<CorioSleep>().is_some());
    corio::timeout(SANITY, sleep.as_mut()).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(10));

    // A paused corio clock drives hyper's notion of now.
    corio::time::pause();
    let before = timer.now();
    corio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(timer.now() - before, Duration::from_secs(60));
}

#[corio::test]
async fn executor_spawns_on_corio() {
    let (tx, rx) = corio::sync::oneshot::channel();
    CorioExecutor.execute(async move {
        assert_no_tokio();
        tx.send(corio::task::id()).unwrap();
    });
    let inner = rx.await.unwrap();
    assert!(inner.is_some(), "the future did not run as a corio task");
    assert_ne!(
        inner,
        corio::task::id(),
        "the future ran inline, not as its own task"
    );
}
