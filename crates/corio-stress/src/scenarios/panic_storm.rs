//! The panic storm: 10% of 10,000 detached tasks panic (half at their first poll, half after
//! yielding), on a 2-worker runtime with a report hook.
//!
//! Proves asyncio's pitfall 3 cannot happen in corio: every panic of a detached task reaches the
//! report hook exactly once, as `Report::UnobservedPanic` with the panic's own message (checked
//! task by task), the other 90% complete, no worker thread dies, and the runtime goes on serving
//! (spawn, timers, `to_thread` and a socket all work afterwards).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corio::Report;
use corio::net::{TcpListener, TcpStream};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::wait_until;
use crate::outcome::{Outcome, Size, count, dur};
use crate::sys;

pub(crate) fn run(size: Size, out: &mut Outcome) {
    let n = size.pick(10_000, 10_000, 1_000);
    let panics = n / 10;
    let reported = Arc::new(Mutex::new(Vec::<String>::new()));
    let other_reports = Arc::new(AtomicUsize::new(0));
    let hooked = Arc::new(AtomicUsize::new(0));
    let completed = Arc::new(AtomicUsize::new(0));

    // The std panic hook would print 1,000 backtraces; count the panics instead.
    let h = hooked.clone();
    std::panic::set_hook(Box::new(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
    }));
    let (sink, other) = (reported.clone(), other_reports.clone());
    let rt = corio::Runtime::builder()
        .worker_threads(2)
        .report_hook(move |report: &Report| match report {
            Report::UnobservedPanic { message, .. } => sink
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(message.clone()),
            _ => {
                other.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap_or_else(|e| panic!("cannot build a runtime: {e}"));
    // A worker shows under its name once it has started running (later under valgrind).
    let t = Instant::now();
    while workers() < 2 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let threads_before = workers();

    let done = completed.clone();
    let reports = reported.clone();
    let start = Instant::now();
    let (all_in, served) = rt.block_on(async move {
        for i in 0..n {
            let done = done.clone();
            corio::spawn(async move {
                // Half the tasks, and so half the panicking ones (i % 20 == 10), yield first.
                if i % 20 >= 10 {
                    corio::yield_now().await;
                }
                if i % 10 == 0 {
                    panic!("storm {i}");
                }
                done.fetch_add(1, Ordering::SeqCst);
            })
            .detach();
        }
        let all_in = wait_until(Duration::from_secs(20), || {
            done.load(Ordering::SeqCst) == n - panics
                && reports.lock().unwrap_or_else(|e| e.into_inner()).len() >= panics
        })
        .await;
        // Late duplicates would show up now.
        corio::sleep(Duration::from_millis(50)).await;
        (all_in, still_serving().await)
    });
    let elapsed = start.elapsed();
    let threads_after = workers();
    drop(rt);
    let _ = std::panic::take_hook();

    let reported = std::mem::take(&mut *reported.lock().unwrap_or_else(|e| e.into_inner()));
    let expected: HashSet<String> = (0..n).step_by(10).map(|i| format!("storm {i}")).collect();
    let distinct: HashSet<&String> = reported.iter().collect();
    let unexpected = reported.iter().filter(|m| !expected.contains(*m)).count();
    let completed = completed.load(Ordering::SeqCst);
    out.figure(format!(
        "{} detached tasks, {} panicked: {} reports ({} distinct) in {}; {} completed; worker \
         threads {threads_before} -> {threads_after}",
        count(n),
        count(panics),
        count(reported.len()),
        count(distinct.len()),
        dur(elapsed),
        count(completed),
    ));
    match &served {
        Ok(what) => out.figure(format!("afterwards the runtime still served: {what}")),
        Err(e) => out.fail(format!("the runtime stopped serving after the storm: {e}")),
    }
    out.check(all_in, || {
        format!(
            "within 20 s: {completed} of {} tasks completed, {} of {panics} panics reported",
            n - panics,
            reported.len()
        )
    });
    out.check(
        reported.len() == panics && distinct.len() == panics && unexpected == 0,
        || {
            format!(
                "{} reports, {} distinct, {unexpected} not from a storm task, for {panics} panics",
                reported.len(),
                distinct.len()
            )
        },
    );
    out.check(hooked.load(Ordering::SeqCst) == panics, || {
        format!(
            "std's panic hook ran {} times for {panics} panics",
            hooked.load(Ordering::SeqCst)
        )
    });
    out.check(threads_before == 2 && threads_after == 2, || {
        format!("worker threads went from {threads_before} to {threads_after}")
    });
    out.check(other_reports.load(Ordering::SeqCst) == 0, || {
        format!(
            "{} unexpected reports",
            other_reports.load(Ordering::SeqCst)
        )
    });
}

/// Spawn, a timer, `to_thread` and a socket round trip, after the storm.
async fn still_serving() -> Result<String, String> {
    let t = Instant::now();
    let v = corio::spawn(async { 20 + 1 }).await;
    corio::sleep(Duration::from_millis(2)).await;
    let w = corio::to_thread(|| 2).await;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = corio::spawn(async move {
        let (s, _) = listener.accept().await?;
        let mut b = [0u8; 4];
        (&s).read_exact(&mut b).await?;
        (&s).write_all(&b).await?;
        std::io::Result::Ok(())
    });
    let mut c = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    c.write_all(b"ping").await.map_err(|e| e.to_string())?;
    let mut b = [0u8; 4];
    c.read_exact(&mut b).await.map_err(|e| e.to_string())?;
    server.await.map_err(|e| e.to_string())?;
    if v * w != 42 || &b != b"ping" {
        return Err("wrong results".to_owned());
    }
    Ok(format!(
        "spawn, sleep, to_thread and a TCP echo in {}",
        dur(t.elapsed())
    ))
}

/// The runtime's worker threads alive now.
fn workers() -> usize {
    sys::threads()
        .iter()
        .filter(|(_, name)| name.starts_with("corio-worker"))
        .count()
}
