//! The article's five asyncio pitfalls, and what corio does about each.
//!
//! ```text
//! cargo run --release -p corio --example pitfalls
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corio::Report;
use corio::task::panic_message;

fn heading(title: &str) {
    println!("\n== {title}");
}

/// Collects the runtime's reports so we can show them (by default they go to stderr).
fn reporting_runtime(debug: bool) -> (corio::Runtime, Arc<Mutex<Vec<String>>>) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let rt = corio::Runtime::builder()
        .worker_threads(2)
        .debug(debug)
        .report_hook(move |r: &Report| sink.lock().unwrap().push(r.to_string()))
        .build()
        .expect("runtime");
    (rt, reports)
}

fn main() {
    // One line per panic instead of the default hook's backtraces (RUST_BACKTRACE may be set).
    std::panic::set_hook(Box::new(|info| {
        let msg = panic_message(info.payload());
        eprintln!("  [panic hook] a task panicked: {msg}");
    }));
    pitfall_1_never_awaited();
    pitfall_2_blocking();
    pitfall_3_swallowed_errors();
    pitfall_4_pool_not_closed();
    pitfall_5_no_timeout();
}

fn pitfall_1_never_awaited() {
    heading("pitfall 1: a coroutine that is never awaited");
    println!("asyncio prints `RuntimeWarning: coroutine was never awaited` at run time, maybe.");
    println!("In corio every future and every Task is #[must_use], so the compiler says it first.");
    println!(
        "This is rustc's output for `fetch_data(url);` and `corio::spawn(fetch_data(url));`:\n"
    );
    println!(
        r#"warning: unused implementer of `Future` that must be used
 --> src/main.rs:4:9
  |
4 |         fetch_data("https://example.com");
  |         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  |
  = note: futures do nothing unless you `.await` or poll them

warning: unused `Task` that must be used
 --> src/main.rs:5:9
  |
5 |         corio::spawn(fetch_data("https://example.com"));
  |         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  |
  = note: dropping a Task cancels it; call .detach() to let it run in the background"#
    );
    println!("\nTip: `#![deny(unused_must_use)]` turns these into errors.");
}

fn pitfall_2_blocking() {
    heading("pitfall 2: a sync call inside async code freezes the loop");
    let (rt, reports) = reporting_runtime(true);
    let start = Instant::now();
    rt.block_on(corio::task::Builder::new().name("bad_fetch").spawn_on(
        async {
            std::thread::sleep(Duration::from_millis(300)); // requests.get(...) in disguise
        },
        &rt.handle(),
    ));
    println!(
        "a task blocked its worker for {:.0?}; debug mode's detector said:",
        start.elapsed()
    );
    for r in reports.lock().unwrap().drain(..) {
        println!("  corio: {r}");
    }
    let start = Instant::now();
    rt.block_on(corio::task::Builder::new().name("good_fetch").spawn_on(
        async {
            corio::to_thread(|| std::thread::sleep(Duration::from_millis(300))).await;
        },
        &rt.handle(),
    ));
    let after = reports.lock().unwrap().len();
    println!(
        "the same call through corio::to_thread took {:.0?} and produced {after} report(s): the loop stayed free",
        start.elapsed()
    );
}

async fn might_fail() -> u32 {
    corio::sleep(Duration::from_millis(10)).await;
    panic!("the payment service returned 500");
}

fn pitfall_3_swallowed_errors() {
    heading("pitfall 3: a fire-and-forget task that fails is not silently lost");
    let (rt, reports) = reporting_runtime(false);
    rt.block_on(async {
        corio::task::Builder::new()
            .name("charge_card")
            .spawn(might_fail())
            .detach(); // asyncio.create_task(might_fail()) with the reference dropped
        corio::sleep(Duration::from_millis(50)).await;
    });
    println!("a detached task panicked; nobody awaited it; the runtime reported:");
    for r in reports.lock().unwrap().iter() {
        println!("  corio: {r}");
    }
    let caught = rt.block_on(async {
        let task = corio::spawn(might_fail());
        std::panic::AssertUnwindSafe(task)
            .catch_unwind_or_err()
            .await
    });
    println!("awaited instead, the panic reaches the awaiter: {caught:?}");
    let grouped: Result<(), corio::GroupError<String>> =
        rt.block_on(corio::task_group(async |g| {
            g.spawn(async { Err::<(), _>("user 3 not found".to_string()) });
            Ok(())
        }));
    println!(
        "in a task group, errors come back as a value: {:?}",
        grouped.unwrap_err().errors()
    );
}

/// A stand-in for an asyncpg pool: it says when it is closed.
struct Pool {
    name: &'static str,
}

impl Drop for Pool {
    fn drop(&mut self) {
        println!("  {} closed (its destructor ran)", self.name);
    }
}

fn pitfall_4_pool_not_closed() {
    heading("pitfall 4: a pool that is never closed");
    println!("RAII: a pool closes when it is dropped, however the code leaves its scope.");
    corio::run(async {
        let pool = Pool {
            name: "pool A (held by main)",
        };
        let _ = &pool;
        // A background task holding another pool, still running when the program ends.
        let pool_b = Pool {
            name: "pool B (held by a task still running at shutdown)",
        };
        corio::spawn(async move {
            let _pool = pool_b;
            corio::sleep(Duration::from_secs(3600)).await;
        })
        .detach();
        corio::sleep(Duration::from_millis(5)).await;
        println!("  main returns; the runtime shuts down:");
    });
    println!("corio::run returned: every task was cancelled and every destructor ran");
}

async fn slow_api_call() -> &'static str {
    corio::sleep(Duration::from_secs(60)).await;
    "result"
}

fn pitfall_5_no_timeout() {
    heading("pitfall 5: no timeout means a possible hang");
    corio::run(async {
        let start = Instant::now();
        match corio::timeout(Duration::from_millis(200), slow_api_call()).await {
            Ok(r) => println!("  got {r}"),
            Err(e) => println!(
                "  timeout(200 ms): {e} after {:.0?}; use the fallback",
                start.elapsed()
            ),
        }
        let start = Instant::now();
        let nested = corio::fail_after(Duration::from_millis(100), async {
            // An inner, longer deadline cannot extend the outer one.
            corio::fail_after(Duration::from_secs(10), slow_api_call()).await
        })
        .await;
        let outcome = match nested {
            Ok(_) => "finished".to_string(),
            Err(e) => format!("the outer scope fired: {e}"),
        };
        println!(
            "  fail_after(100 ms) around fail_after(10 s): {outcome}, after {:.0?}",
            start.elapsed()
        );
    });
}

/// `catch_unwind` for a future, for the demonstration above.
trait CatchUnwindOrErr: std::future::Future + Sized {
    async fn catch_unwind_or_err(self) -> Result<Self::Output, String> {
        let mut fut = std::pin::pin!(self);
        std::future::poll_fn(|cx| {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
                Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
                Err(p) => std::task::Poll::Ready(Err(format!("panicked: {}", panic_message(&*p)))),
            }
        })
        .await
    }
}

impl<F: std::future::Future> CatchUnwindOrErr for F {}
