//! The tour of corio: the source article's asyncio walk-through, section by section, run on
//! corio, printing what it measures at each step.
//!
//! ```text
//! cargo run --release -p corio --example tour
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream};
use corio_compat::{CorioTimer, HyperIo};
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response, StatusCode};
use indicatif::{ProgressBar, ProgressStyle};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    let start = Instant::now();
    println!("corio tour: the asyncio article, section by section, on corio\n");
    section_1_1_event_loop();
    section_1_2_tasks();
    section_1_3_blocking_vs_yielding();
    section_2_1_task_group();
    let server = HttpServer::start();
    section_2_2_semaphore(&server);
    section_2_3_pipeline();
    section_3_2_dashboard(&server);
    server.stop();
    section_3_3_to_thread();
    section_pitfalls();
    section_sockets();
    section_subprocess_and_ctrl_c();
    println!("\ntour finished in {:.2?}", start.elapsed());
}

fn heading(title: &str) {
    println!("== {title}");
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("   {spinner} {msg} [{bar:30}] {pos}/{len}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

// ---------------------------------------------------------------------------------------------
// 1.1 The event loop

fn section_1_1_event_loop() {
    heading("1.1 the event loop: one thread, switching only at await points");
    let trace = corio::run_local(async {
        let trace = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = ["A", "B", "C"]
            .into_iter()
            .map(|name| {
                let trace = trace.clone();
                corio::spawn(async move {
                    for step in 1..=2 {
                        trace.lock().unwrap().push(format!("{name}{step}"));
                        corio::yield_now().await; // give the loop to the next ready task
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        trace.lock().unwrap().join(" ")
    });
    println!("   three tasks, each yielding once per step: {trace}");
    println!("   the loop's order: ready tasks (FIFO), then I/O, then timers; I/O and timers are");
    println!("   checked at least every 61 tasks, so an always-ready task cannot starve them\n");
}

// ---------------------------------------------------------------------------------------------
// 1.2 Tasks

async fn fetch_data(url: &str) -> String {
    corio::sleep(Duration::from_secs(1)).await; // stands for network I/O
    format!("Data from {url}")
}

fn section_1_2_tasks() {
    heading("1.2 tasks: asyncio.create_task -> corio::spawn");
    corio::run(async {
        let start = Instant::now();
        let task1 = corio::spawn(fetch_data("https://api1.example.com"));
        let task2 = corio::spawn(fetch_data("https://api2.example.com"));
        let (r1, r2) = (task1.await, task2.await);
        let concurrent = start.elapsed();
        println!("   {r1} | {r2}");
        println!(
            "   two 1 s fetches as tasks: {concurrent:.2?} (awaited one after the other: 2 s)"
        );
        // asyncio's Future.set_result: a oneshot completed by hand.
        let (tx, rx) = corio::sync::oneshot::channel();
        corio::spawn(async move {
            corio::sleep(Duration::from_millis(5)).await;
            let _ = tx.send("set by hand");
        })
        .detach();
        println!("   a future completed by hand (oneshot): {:?}\n", rx.await);
    });
}

// ---------------------------------------------------------------------------------------------
// 1.3 await yields

fn section_1_3_blocking_vs_yielding() {
    heading("1.3 await yields: time.sleep vs asyncio.sleep, on one thread");
    let run = |blocking: bool| {
        corio::run_local(async move {
            let ticks = Arc::new(AtomicU64::new(0));
            let t = ticks.clone();
            let ticker = corio::spawn(async move {
                loop {
                    corio::sleep(Duration::from_millis(10)).await;
                    t.fetch_add(1, Ordering::Relaxed);
                }
            });
            let start = Instant::now();
            let downloads: Vec<_> = (0..2)
                .map(|_| {
                    corio::spawn(async move {
                        if blocking {
                            std::thread::sleep(Duration::from_millis(300)); // freezes the loop
                        } else {
                            corio::sleep(Duration::from_millis(300)).await;
                        }
                    })
                })
                .collect();
            for d in downloads {
                d.await;
            }
            let elapsed = start.elapsed();
            drop(ticker);
            (elapsed, ticks.load(Ordering::Relaxed))
        })
    };
    let (bad, bad_ticks) = run(true);
    let (good, good_ticks) = run(false);
    println!(
        "   2 x 300 ms with std::thread::sleep: {bad:.2?}; a 10 ms ticker ticked {bad_ticks} times"
    );
    println!(
        "   2 x 300 ms with corio::sleep:       {good:.2?}; a 10 ms ticker ticked {good_ticks} times\n"
    );
}

// ---------------------------------------------------------------------------------------------
// 2.1 TaskGroup against gather

#[derive(Default)]
struct Ledger {
    finished: Mutex<Vec<u32>>,
    cancelled: Mutex<Vec<u32>>,
}

/// Records whether a fetch finished or was cancelled (dropped) first.
struct Watch {
    id: u32,
    finished: bool,
    ledger: Arc<Ledger>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let list = if self.finished {
            &self.ledger.finished
        } else {
            &self.ledger.cancelled
        };
        list.lock().unwrap().push(self.id);
    }
}

async fn fetch_user(id: u32, ledger: Arc<Ledger>) -> Result<String, String> {
    let mut watch = Watch {
        id,
        finished: false,
        ledger,
    };
    corio::sleep(Duration::from_millis(if id == 3 { 100 } else { 500 })).await;
    watch.finished = true;
    if id == 3 {
        return Err(format!("User {id} not found"));
    }
    Ok(format!("User_{id}"))
}

fn sorted(list: &Mutex<Vec<u32>>) -> Vec<u32> {
    let mut v = list.lock().unwrap().clone();
    v.sort();
    v
}

fn section_2_1_task_group() {
    heading("2.1 structured concurrency: TaskGroup vs gather");
    corio::run(async {
        let ledger = Arc::new(Ledger::default());
        let start = Instant::now();
        let result = corio::task_group(async |g| {
            let handles: Vec<_> = (1..=4)
                .map(|id| g.spawn(fetch_user(id, ledger.clone())))
                .collect();
            let mut users = Vec::new();
            for h in handles {
                users.push(h.await.map_err(|c| c.to_string())?);
            }
            Ok(users)
        })
        .await;
        let err = result.expect_err("user 3 does not exist");
        println!(
            "   task_group: {err} after {:.2?}; finished {:?}, cancelled {:?}",
            start.elapsed(),
            sorted(&ledger.finished),
            sorted(&ledger.cancelled)
        );
        let ledger = Arc::new(Ledger::default());
        let start = Instant::now();
        let results = corio::join_all((1..=4).map(|id| fetch_user(id, ledger.clone()))).await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        println!(
            "   join_all:   {failed} error after {:.2?}; finished {:?}: the others ran to the end anyway\n",
            start.elapsed(),
            sorted(&ledger.finished)
        );
    });
}

// ---------------------------------------------------------------------------------------------
// A small HTTP server (hyper on corio) for 2.2 and 3.2

struct HttpServer {
    addr: SocketAddr,
    in_flight: Arc<InFlight>,
    stop: corio::CancelToken,
    thread: std::thread::JoinHandle<()>,
}

#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl HttpServer {
    /// Serves on a runtime of its own, on another thread, like a real server would be.
    fn start() -> HttpServer {
        let in_flight = Arc::new(InFlight::default());
        let stop = corio::CancelToken::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let (flight, token) = (in_flight.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            corio::run(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                while let Some(Ok((stream, _))) = token.run_until_cancelled(listener.accept()).await
                {
                    let flight = flight.clone();
                    corio::spawn(async move {
                        let _ = stream.set_nodelay(true);
                        let service =
                            hyper::service::service_fn(move |req| handle(req, flight.clone()));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(CorioTimer)
                            .serve_connection(HyperIo::new(stream), service)
                            .await;
                    })
                    .detach();
                }
            });
        });
        HttpServer {
            addr: rx.recv().expect("the server starts"),
            in_flight,
            stop,
            thread,
        }
    }

    fn stop(self) {
        self.stop.cancel();
        let _ = self.thread.join();
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    flight: Arc<InFlight>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if let Some(id) = path.strip_prefix("/item/") {
        let now = flight.now.fetch_add(1, Ordering::SeqCst) + 1;
        flight.peak.fetch_max(now, Ordering::SeqCst);
        corio::sleep(Duration::from_millis(20)).await;
        flight.now.fetch_sub(1, Ordering::SeqCst);
        return Ok(Response::new(Full::new(Bytes::from(format!("item {id}")))));
    }
    if let Some(id) = path.strip_prefix("/dashboard/") {
        return Ok(dashboard(id).await);
    }
    let mut not_found = Response::new(Full::new(Bytes::from_static(b"not found")));
    *not_found.status_mut() = StatusCode::NOT_FOUND;
    Ok(not_found)
}

/// The article's FastAPI handler: three "queries" at once with try_join!.
async fn dashboard(user_id: &str) -> Response<Full<Bytes>> {
    async fn query(ms: u64, json: String) -> Result<String, String> {
        corio::sleep(Duration::from_millis(ms)).await; // a DB query
        Ok(json)
    }
    let result = corio::try_join!(
        query(100, format!(r#"{{"id": {user_id}, "name": "Alice"}}"#)),
        query(200, r#"[{"id": 1, "amount": 99.9}]"#.to_string()),
        query(150, r#"[{"msg": "新订单已发货"}]"#.to_string()),
    );
    let body = match result {
        Ok((user, orders, notifications)) => format!(
            r#"{{"user": {user}, "recent_orders": {orders}, "notifications": {notifications}}}"#
        ),
        Err(e) => format!(r#"{{"error": "{e}"}}"#),
    };
    Response::new(Full::new(Bytes::from(body)))
}

/// GET over a fresh HTTP/1 connection (hyper client on corio).
async fn http_get(addr: SocketAddr, path: &str) -> Result<(StatusCode, Bytes), BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(HyperIo::new(stream)).await?;
    corio::spawn(async move {
        let _ = connection.await;
    })
    .detach();
    let request = Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

// ---------------------------------------------------------------------------------------------
// 2.2 Semaphore

fn section_2_2_semaphore(server: &HttpServer) {
    heading("2.2 Semaphore: a batch of 100 HTTP requests, at most N in flight");
    let addr = server.addr;
    let flight = server.in_flight.clone();
    corio::run(async move {
        let mut rows = Vec::new();
        let bar = progress(4, "limits 1, 10, 50, unlimited");
        for limit in [Some(1), Some(10), Some(50), None] {
            flight.peak.store(0, Ordering::SeqCst);
            let semaphore = limit.map(|n| Arc::new(corio::Semaphore::new(n)));
            let start = Instant::now();
            let fetches = (0..100).map(|i| {
                let semaphore = semaphore.clone();
                async move {
                    // `async with semaphore:` - the permit is released when dropped.
                    let _permit = match &semaphore {
                        Some(s) => Some(s.acquire().await.expect("never closed")),
                        None => None,
                    };
                    http_get(addr, &format!("/item/{i}")).await
                }
            });
            // gather(..., return_exceptions=True): every result, errors included.
            let results = corio::join_all(fetches).await;
            let ok = results
                .iter()
                .filter(|r| matches!(r, Ok((s, _)) if s.is_success()))
                .count();
            rows.push((
                limit,
                start.elapsed(),
                flight.peak.load(Ordering::SeqCst),
                ok,
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        println!(
            "   {:>11} | {:>9} | {:>14} | {:>3}",
            "concurrency", "time", "peak in flight", "ok"
        );
        for (limit, elapsed, peak, ok) in rows {
            let label = limit.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
            println!("   {label:>11} | {elapsed:>9.2?} | {peak:>14} | {ok:>3}");
            if let Some(n) = limit {
                assert!(peak <= n, "the semaphore let {peak} through a limit of {n}");
            }
        }
        println!("   (the peak is measured by the server: the limit holds)\n");
    });
}

// ---------------------------------------------------------------------------------------------
// 2.3 Producer / consumer

fn section_2_3_pipeline() {
    heading("2.3 producer/consumer: 3 producers, 2 consumers, a bounded queue of 10");
    corio::run(async {
        let start = Instant::now();
        let queue: corio::Queue<String> = corio::Queue::bounded(10);
        let max_len = Arc::new(AtomicUsize::new(0));
        let producers: Vec<_> = (0..3u64)
            .map(|id| {
                let (queue, max_len) = (queue.clone(), max_len.clone());
                corio::spawn(async move {
                    for i in 0..5u64 {
                        corio::sleep(Duration::from_millis(10 + (id * 7 + i * 13) % 40)).await;
                        queue.put(format!("task-{id}-{i}")).await.expect("open");
                        max_len.fetch_max(queue.len(), Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2u64)
            .map(|id| {
                let queue = queue.clone();
                corio::spawn(async move {
                    let mut handled = 0;
                    // get() fails once the queue is closed and drained: no sentinel needed.
                    while let Ok(_item) = queue.get().await {
                        corio::sleep(Duration::from_millis(20 + (id * 11 + handled) % 60)).await;
                        handled += 1;
                        queue.task_done().expect("one per get");
                    }
                    handled
                })
            })
            .collect();
        for p in producers {
            p.await;
        }
        queue.join().await; // every item processed
        queue.close();
        let mut handled = 0;
        for c in consumers {
            handled += c.await;
        }
        println!(
            "   {handled} items handled in {:.2?}; the queue never held more than {} (backpressure); none lost\n",
            start.elapsed(),
            max_len.load(Ordering::Relaxed)
        );
    });
}

// ---------------------------------------------------------------------------------------------
// 3.2 The dashboard handler

fn section_3_2_dashboard(server: &HttpServer) {
    heading("3.2 a web handler that fans out three queries at once (hyper on corio)");
    let addr = server.addr;
    corio::run(async move {
        let start = Instant::now();
        let (status, body) = http_get(addr, "/dashboard/1")
            .await
            .expect("the server answers");
        println!(
            "   GET /dashboard/1 -> {status} in {:.0?} (queries of 100, 200 and 150 ms: max, not sum)",
            start.elapsed()
        );
        println!("   {}\n", String::from_utf8_lossy(&body));
    });
}

// ---------------------------------------------------------------------------------------------
// 3.3 to_thread, and the article's batch_resize: CPU-bound work goes to spawn_cpu

fn section_3_3_to_thread() {
    use image::imageops::{FilterType, resize};
    use image::{Rgb, RgbImage};
    heading(
        "3.3 batch_resize: CPU-bound work -> corio::spawn_cpu (one thread per core, apart from to_thread's I/O pool)",
    );
    let images: Arc<Vec<RgbImage>> = Arc::new(
        (0..4u32)
            .map(|seed| {
                RgbImage::from_fn(1600, 1200, |x, y| {
                    Rgb([
                        (x % 256) as u8,
                        (y % 256) as u8,
                        ((x ^ y ^ seed) % 256) as u8,
                    ])
                })
            })
            .collect(),
    );
    let resize_one = |img: &RgbImage| resize(img, 800, 600, FilterType::Triangle);
    let run = |mode: u8| {
        let images = images.clone();
        corio::run_local(async move {
            let ticks = Arc::new(AtomicU64::new(0));
            let t = ticks.clone();
            let ticker = corio::spawn(async move {
                loop {
                    corio::sleep(Duration::from_millis(5)).await;
                    t.fetch_add(1, Ordering::Relaxed);
                }
            });
            let start = Instant::now();
            match mode {
                0 => {
                    for img in images.iter() {
                        std::hint::black_box(resize_one(img)); // blocks the loop
                    }
                }
                _ => {
                    // asyncio: `loop.run_in_executor(ProcessPoolExecutor(), resize, img)`.
                    let jobs = (0..images.len()).map(|i| {
                        let images = images.clone();
                        corio::spawn_cpu(move || resize_one(&images[i]))
                    });
                    let out = corio::join_all(jobs).await;
                    assert!(out.iter().all(|i| i.dimensions() == (800, 600)));
                }
            }
            let elapsed = start.elapsed();
            drop(ticker);
            (elapsed, ticks.load(Ordering::Relaxed))
        })
    };
    let (blocking, blocking_ticks) = run(0);
    let (threaded, threaded_ticks) = run(1);
    println!(
        "   4 resizes in the task:         {blocking:>8.2?}; a 5 ms ticker ticked {blocking_ticks:>3} times (loop frozen)"
    );
    println!(
        "   4 resizes through spawn_cpu:   {threaded:>8.2?}; a 5 ms ticker ticked {threaded_ticks:>3} times\n"
    );
}

// ---------------------------------------------------------------------------------------------
// The pitfalls

fn section_pitfalls() {
    heading("the five pitfalls");
    println!("   1. never awaited: every future and Task is #[must_use]: the compiler warns");
    println!("      (see `cargo run --example pitfalls` for the exact warnings)");

    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let rt = corio::Runtime::builder()
        .worker_threads(2)
        .debug(true)
        .report_hook(move |r: &corio::Report| sink.lock().unwrap().push(r.to_string()))
        .build()
        .expect("runtime");
    rt.block_on(corio::task::Builder::new().name("sync_call").spawn_on(
        async { std::thread::sleep(Duration::from_millis(150)) },
        &rt.handle(),
    ));
    let report = reports.lock().unwrap().drain(..).next().unwrap_or_default();
    println!("   2. a sync call in async code: debug mode reports it:\n      corio: {report}");

    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // keep the tour's output tidy
    rt.block_on(async {
        corio::task::Builder::new()
            .name("fire_and_forget")
            .spawn(async { panic!("payment service returned 500") })
            .detach();
        corio::sleep(Duration::from_millis(20)).await;
    });
    std::panic::set_hook(previous);
    let report = reports.lock().unwrap().drain(..).next().unwrap_or_default();
    println!(
        "   3. a fire-and-forget task that fails is reported, not swallowed:\n      corio: {report}"
    );

    struct Pool;
    impl Drop for Pool {
        fn drop(&mut self) {
            println!("      pool closed by its destructor");
        }
    }
    println!("   4. a pool that is never closed: RAII; shutdown drops every task:");
    rt.block_on(async {
        let pool = Pool; // opened by the program, held by a task still running at shutdown
        corio::spawn(async move {
            let _pool = pool;
            corio::sleep(Duration::from_secs(3600)).await;
        })
        .detach();
        corio::sleep(Duration::from_millis(5)).await;
    });
    drop(rt); // shutdown: the task is cancelled, its destructors run

    corio::run(async {
        let start = Instant::now();
        let slow = corio::timeout(
            Duration::from_millis(100),
            corio::sleep(Duration::from_secs(60)),
        )
        .await;
        let nested = corio::fail_after(Duration::from_millis(100), async {
            corio::fail_after(
                Duration::from_secs(10),
                corio::sleep(Duration::from_secs(60)),
            )
            .await
        })
        .await;
        println!(
            "   5. no timeout: corio::timeout -> {}; an inner 10 s fail_after inside a 100 ms one -> {} ({:.0?} in all)\n",
            slow.map_or_else(|e| e.to_string(), |_| "done".into()),
            nested.map_or_else(|e| format!("the outer scope fired: {e}"), |_| "done".into()),
            start.elapsed()
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Sockets

fn section_sockets() {
    const CONNECTIONS: usize = 100;
    const ROUNDS: usize = 200;
    heading("sockets: a TCP echo over loopback");
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = corio::spawn(async move {
            for _ in 0..CONNECTIONS {
                let (mut stream, _) = listener.accept().await.expect("accept");
                corio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                })
                .detach();
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                corio::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await.expect("connect");
                    stream.set_nodelay(true).expect("nodelay");
                    let mut buf = [0u8; 64];
                    for _ in 0..ROUNDS {
                        stream.write_all(&[7u8; 64]).await.expect("write");
                        stream.read_exact(&mut buf).await.expect("read");
                    }
                })
            })
            .collect();
        for c in clients {
            c.await;
        }
        let elapsed = start.elapsed();
        server.await;
        let trips = CONNECTIONS * ROUNDS;
        println!(
            "   {CONNECTIONS} connections x {ROUNDS} round trips of 64 B: {elapsed:.2?}, {:.0} round trips/s",
            trips as f64 / elapsed.as_secs_f64()
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Subprocesses and Ctrl-C (asyncio's create_subprocess_exec and loop.add_signal_handler)

fn section_subprocess_and_ctrl_c() {
    use corio::process::Command;

    heading("subprocesses and Ctrl-C: create_subprocess_exec, add_signal_handler");
    corio::run(async {
        // proc = await asyncio.create_subprocess_exec("echo", ..., stdout=PIPE)
        // out, _ = await proc.communicate()
        let start = Instant::now();
        let output = Command::new("echo")
            .args(["hello", "from", "a", "child"])
            .output()
            .await
            .expect("echo runs");
        println!(
            "   `echo hello from a child` said {:?} and exited with {} ({:.2?})",
            String::from_utf8_lossy(&output.stdout).trim_end(),
            output.status,
            start.elapsed()
        );

        // await asyncio.wait_for(proc.wait(), 0.1), then proc.kill(): `wait` is cancel-safe, so
        // the timeout leaves the child usable, and `kill` reaps it (no zombie).
        let mut child = Command::new("sleep")
            .arg("10")
            .kill_on_drop(true)
            .spawn()
            .expect("sleep runs");
        let waited = corio::timeout(Duration::from_millis(100), child.wait()).await;
        child.kill().await.expect("kill");
        println!(
            "   `sleep 10` under a 100 ms timeout: {}; killed and reaped: {:?}",
            if waited.is_err() {
                "timed out"
            } else {
                "finished?!"
            },
            child
                .try_wait()
                .expect("try_wait")
                .map(|status| status.to_string())
        );

        // A missing program is an io::Error of kind NotFound that names it.
        let missing = Command::new("no-such-program-in-the-tour").output().await;
        if let Err(e) = missing {
            println!("   a missing program: {e} ({:?})", e.kind());
        }

        // The Ctrl-C story. `ctrl_c()` listens from the moment it is called: from here on a
        // Ctrl-C no longer kills the process but completes this future (and is not lost if it
        // comes before the first poll). Race it against the work: whichever ends first wins and
        // the other is dropped (cancelled).
        let ctrl_c = corio::signal::ctrl_c();
        let outcome = corio::race(
            async {
                corio::sleep(Duration::from_millis(300)).await; // the "work"
                "the work finished first"
            },
            async {
                match ctrl_c.await {
                    Ok(()) => "Ctrl-C came first: stopping cleanly",
                    Err(_) => "signals are unavailable here",
                }
            },
        )
        .await;
        println!("   300 ms of work raced against Ctrl-C: {outcome}");
        println!(
            "   (a Ctrl-C during that race ends the race, not the process; a server does the \
             same to drain on shutdown, with a CancelToken, a deadline, and \
             `signal(SignalKind::terminate())` for SIGTERM: see corio-compat's `graceful` example)"
        );
    });
}
