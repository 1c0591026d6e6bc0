//! The tour of corio: the source article's asyncio walk-through, section by section, run on
//! corio, printing what it measures at each step.
//!
//! ```text
//! cargo run --release -p corio --example tour
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let start = Instant::now();
    println!("corio tour: asyncio's model, on corio\n");
    section_1_1_event_loop();
    section_1_2_tasks();
    section_1_3_blocking_vs_yielding();
    section_pitfall_5_timeouts();
    section_tcp_echo();
    println!("\ntour finished in {:.2?}", start.elapsed());
}

fn heading(title: &str) {
    println!("== {title}");
}

/// 1.1: the loop runs ready tasks in order, and switches only at `.await` points.
fn section_1_1_event_loop() {
    heading("1.1 the event loop: one thread, switching only at await points");
    let trace = corio::run_local(async {
        let trace = Arc::new(std::sync::Mutex::new(Vec::new()));
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
    println!(
        "   (ready tasks run in FIFO order; I/O and timers are polled at least every 61 tasks)\n"
    );
}

async fn fetch_data(url: &str) -> String {
    corio::sleep(Duration::from_secs(1)).await; // stands for network I/O
    format!("Data from {url}")
}

/// 1.2: two 1-second fetches, as tasks, take about one second.
fn section_1_2_tasks() {
    heading("1.2 tasks: create_task -> corio::spawn");
    corio::run(async {
        let start = Instant::now();
        let task1 = corio::spawn(fetch_data("https://api1.example.com"));
        let task2 = corio::spawn(fetch_data("https://api2.example.com"));
        let (r1, r2) = (task1.await, task2.await);
        let concurrent = start.elapsed();
        println!("   {r1} | {r2}");
        println!(
            "   two 1 s fetches as tasks: {concurrent:.2?} (awaited one after the other they would take 2 s)"
        );
    });
    println!();
}

/// 1.3: `std::thread::sleep` freezes the loop; `corio::sleep` yields it.
fn section_1_3_blocking_vs_yielding() {
    heading("1.3 await yields: blocking sleep vs corio::sleep (on one thread)");
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
        "   2 x 300 ms with std::thread::sleep: {bad:.2?}, a 10 ms ticker ticked {bad_ticks} times"
    );
    println!(
        "   2 x 300 ms with corio::sleep:       {good:.2?}, a 10 ms ticker ticked {good_ticks} times\n"
    );
}

async fn slow_api_call() -> &'static str {
    corio::sleep(Duration::from_secs(60)).await;
    "result"
}

/// Pitfall 5: no timeout means a hang; `timeout` bounds the wait.
fn section_pitfall_5_timeouts() {
    heading("pitfall 5: always bound the wait (asyncio.wait_for -> corio::timeout)");
    corio::run(async {
        let start = Instant::now();
        match corio::timeout(Duration::from_millis(200), slow_api_call()).await {
            Ok(r) => println!("   got {r}"),
            Err(e) => println!(
                "   a 60 s call under a 200 ms timeout: {e} after {:.2?}; the call was cancelled",
                start.elapsed()
            ),
        }
        let fast = corio::timeout(Duration::from_millis(200), async { "cached" }).await;
        println!(
            "   a ready call under the same timeout: {fast:?} (no timer was even registered)\n"
        );
    });
}

/// A TCP echo over loopback: many connections, one runtime.
fn section_tcp_echo() {
    const CONNECTIONS: usize = 100;
    const ROUNDS: usize = 200;
    heading("sockets: a TCP echo over loopback");
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let served = Arc::new(AtomicUsize::new(0));
        let s = served.clone();
        let server = corio::spawn(async move {
            for _ in 0..CONNECTIONS {
                let (mut stream, _) = listener.accept().await.expect("accept");
                let s = s.clone();
                corio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        s.fetch_add(1, Ordering::Relaxed);
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
            "   {CONNECTIONS} connections x {ROUNDS} round trips of 64 B: {elapsed:.2?}, {:.0} round trips/s, {} echoes served",
            trips as f64 / elapsed.as_secs_f64(),
            served.load(Ordering::Relaxed)
        );
    });
}
