//! The same hyper server as `http_server`, on tokio instead of corio: the baseline for load
//! tests. Same routes (`GET /hello`, `GET /dashboard/{user_id}` with three concurrent 100, 200
//! and 150 ms "queries"), same hyper settings; tokio's multi-threaded runtime, `TcpListener`,
//! and hyper-util's `TokioIo` and `TokioTimer`. tokio is a dev-dependency used only here.
//!
//! ```text
//! cargo run --release -p corio-compat --example http_server_tokio -- --port 8001
//! wrk -t2 -c50 -d10s http://127.0.0.1:8001/hello
//! ```

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

fn main() -> ExitCode {
    let mut port = 8001u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().map(|v| v.parse::<u16>())) {
            ("--port", Some(Ok(p))) => port = p,
            _ => {
                eprintln!("usage: http_server_tokio [--port N]");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("http_server_tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_server_tokio: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{} (tokio)", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service_fn(route))
                .await;
            if let Err(e) = served {
                if !e.is_incomplete_message() {
                    eprintln!("connection error: {e}");
                }
            }
        });
    }
}

async fn route(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    if request.method() != Method::GET {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "only GET here\n"));
    }
    if path == "/hello" {
        return Ok(text(StatusCode::OK, "Hello, world!\n"));
    }
    let Some(Ok(user_id)) = path.strip_prefix("/dashboard/").map(str::parse::<u64>) else {
        return Ok(text(StatusCode::NOT_FOUND, "not found\n"));
    };
    let (user, orders, notifications) = tokio::join!(
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            format!(r#"{{"id": {user_id}, "name": "Alice"}}"#)
        },
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            r#"[{"id": 1, "amount": 99.9}]"#
        },
        async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            r#"[{"msg": "新订单已发货"}]"#
        },
    );
    let body = format!(
        r#"{{"user": {user}, "recent_orders": {orders}, "notifications": {notifications}}}"#
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
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
