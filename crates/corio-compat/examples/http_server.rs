//! The article's section 3.2: a FastAPI-style `GET /dashboard/{user_id}` handler that runs its
//! three "database queries" concurrently, served by hyper on corio (no tokio runtime).
//!
//! ```text
//! cargo run --release -p corio-compat --example http_server                 # port 8000
//! cargo run --release -p corio-compat --example http_server -- --port 0 --requests 3
//! curl http://127.0.0.1:8000/dashboard/1
//! ```
//!
//! The queries take 100, 200 and 150 ms; `corio::try_join!` runs them at once, so a dashboard
//! takes about 200 ms, not 450. `GET /hello` answers at once (for load tests: it measures the
//! runtime, not the sleeps). With `--requests N` the server stops after N responses, finishing
//! the requests in flight first.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corio::CancelToken;
use corio::net::{TcpListener, TcpStream};
use corio_compat::{CorioTimer, HyperIo};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};

const USAGE: &str = "\
usage: http_server [--port N] [--requests N]

  --port N       listen on 127.0.0.1:N (default 8000; 0 picks a free port)
  --requests N   stop after N responses (default: serve until killed)
";

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match corio::run(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_server: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    port: u16,
    requests: Option<usize>,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut parsed = Args {
            port: 8000,
            requests: None,
        };
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--port" => {
                    let v = value("--port")?;
                    parsed.port = v.parse().map_err(|_| format!("bad port `{v}`"))?;
                }
                "--requests" => {
                    let v = value("--requests")?;
                    parsed.requests =
                        Some(v.parse().map_err(|_| format!("bad request count `{v}`"))?);
                }
                "-h" | "--help" => return Err("http_server: the dashboard of section 3.2".into()),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(parsed)
    }
}

/// What every connection shares: the response count and the shutdown signal.
struct Server {
    served: AtomicUsize,
    limit: Option<usize>,
    shutdown: CancelToken,
}

async fn serve(args: Args) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    println!("try: curl http://{addr}/dashboard/1");
    let server = Arc::new(Server {
        served: AtomicUsize::new(0),
        limit: args.requests,
        shutdown: CancelToken::new(),
    });
    if server.limit == Some(0) {
        server.shutdown.cancel();
    }

    // No connection outlives the server: the group waits for every one of them.
    let served = corio::task_group(async |g| {
        while let Some(accepted) = server.shutdown.run_until_cancelled(listener.accept()).await {
            match accepted {
                Ok((stream, _)) => {
                    g.spawn(connection(stream, server.clone()));
                }
                Err(e) => {
                    // Out of file descriptors, most likely: give connections a moment to end.
                    eprintln!("accept failed: {e}");
                    corio::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        Ok::<_, Infallible>(server.served.load(Ordering::SeqCst))
    })
    .await;
    if let Ok(count) = served {
        println!("served {count} requests; bye");
    }
    Ok(())
}

/// Serves one connection until the client leaves or the server stops (then it finishes the
/// request in flight and closes). Never fails: one bad connection must not stop the others.
async fn connection(stream: TcpStream, server: Arc<Server>) -> Result<(), Infallible> {
    // Small request/response exchanges: do not let Nagle's algorithm delay them. (Failing
    // means the peer is already gone, which hyper will notice.)
    let _ = stream.set_nodelay(true);
    let service = {
        let server = server.clone();
        service_fn(move |request| handle(request, server.clone()))
    };
    let conn = http1::Builder::new()
        .timer(CorioTimer)
        .header_read_timeout(Duration::from_secs(10))
        // Small responses: one joined buffer per write costs less than a writev of two.
        .serve_connection(HyperIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let result = match server.shutdown.run_until_cancelled(conn.as_mut()).await {
        Some(result) => result,
        None => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        if !e.is_incomplete_message() {
            eprintln!("connection error: {e}");
        }
    }
    Ok(())
}

async fn handle(
    request: Request<Incoming>,
    server: Arc<Server>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = route(&request).await;
    // Counted only under `--requests`: without a limit nobody reads the count, and a counter
    // that every request on every worker writes moves its cache line between cores each time.
    if let Some(limit) = server.limit {
        let count = server.served.fetch_add(1, Ordering::SeqCst) + 1;
        if count == limit {
            server.shutdown.cancel();
        }
    }
    Ok(response)
}

async fn route(request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET here\n");
    }
    if path == "/hello" {
        return text(StatusCode::OK, "Hello, world!\n");
    }
    let Some(id) = path.strip_prefix("/dashboard/") else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let Ok(user_id) = id.parse::<u64>() else {
        // FastAPI answers a path parameter of the wrong type with 422.
        return json(
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"detail": "user_id must be an integer"}"#.to_string(),
        );
    };
    let start = Instant::now();
    match get_dashboard(user_id).await {
        Ok(body) => {
            let took = start.elapsed();
            println!("GET {path} -> 200 in {took:.0?} (queries of 100, 200 and 150 ms, at once)");
            let mut response = json(StatusCode::OK, body);
            if let Ok(timing) =
                HeaderValue::from_str(&format!("queries;dur={:.1}", took.as_secs_f64() * 1000.0))
            {
                response.headers_mut().insert("server-timing", timing);
            }
            response
        }
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(r#"{{"detail": {}}}"#, json_string(&e.0)),
        ),
    }
}

/// A failed "database query".
#[derive(Debug)]
struct QueryError(String);

struct User {
    id: u64,
    name: &'static str,
}

struct Order {
    id: u64,
    amount: f64,
}

async fn get_user(user_id: u64) -> Result<User, QueryError> {
    corio::sleep(Duration::from_millis(100)).await; // stands for a DB query
    Ok(User {
        id: user_id,
        name: "Alice",
    })
}

async fn get_orders(_user_id: u64) -> Result<Vec<Order>, QueryError> {
    corio::sleep(Duration::from_millis(200)).await;
    Ok(vec![Order {
        id: 1,
        amount: 99.9,
    }])
}

async fn get_notifications(_user_id: u64) -> Result<Vec<&'static str>, QueryError> {
    corio::sleep(Duration::from_millis(150)).await;
    Ok(vec!["新订单已发货"]) // "your new order has shipped", as in the article
}

/// The handler of the article: three queries at once, about max(100, 200, 150) = 200 ms in all
/// (one after another would take 450 ms). The first failure cancels the other two.
async fn get_dashboard(user_id: u64) -> Result<String, QueryError> {
    let (user, orders, notifications) = corio::try_join!(
        get_user(user_id),
        get_orders(user_id),
        get_notifications(user_id),
    )?;
    let mut body = format!(
        r#"{{"user": {{"id": {}, "name": {}}}, "recent_orders": ["#,
        user.id,
        json_string(user.name)
    );
    for (i, order) in orders.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(
            body,
            r#"{sep}{{"id": {}, "amount": {}}}"#,
            order.id, order.amount
        );
    }
    body.push_str(r#"], "notifications": ["#);
    for (i, msg) in notifications.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(body, r#"{sep}{{"msg": {}}}"#, json_string(msg));
    }
    body.push_str("]}");
    Ok(body)
}

/// A JSON string literal (the few escapes JSON requires; everything else passes as UTF-8).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
