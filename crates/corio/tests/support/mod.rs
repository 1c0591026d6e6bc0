//! Helpers shared by the facade's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// Counts live guards, to prove that futures were dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

pub struct Guard(Arc<AtomicUsize>);

impl DropCounter {
    pub fn new() -> DropCounter {
        DropCounter::default()
    }

    pub fn guard(&self) -> Guard {
        self.0.fetch_add(1, Ordering::SeqCst);
        Guard(self.0.clone())
    }

    pub fn alive(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Polls `cond` (with a generous bound) until it holds.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The names of this process's threads (Linux only; empty elsewhere).
pub fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for entry in dir.flatten() {
            if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) {
                names.push(comm.trim().to_owned());
            }
        }
    }
    names
}

/// Polls a future once with a no-op waker.
pub fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(f).poll(&mut cx)
}

/// Turns an always-ready loop may take before it gives up on its own: far more than fit in the
/// timeouts below (a turn costs tens of nanoseconds at least), so a loop that ends by itself
/// means the timeout around it never fired.
pub const LOOP_CAP: u64 = 20_000_000;

/// A timeout around an always-ready loop fires. Such a loop returns `Pending` only because it
/// spent the cooperative budget; the deadline must be looked at all the same.
pub async fn timeouts_fire_around_always_ready_loops() {
    let queue = corio::Queue::<u64>::unbounded();
    let mut turns = 0u64;
    let looped = corio::timeout(Duration::from_millis(10), async {
        while turns < LOOP_CAP {
            queue.put(turns).await.unwrap();
            queue.get().await.unwrap();
            turns += 1;
        }
    })
    .await;
    assert!(
        looped.is_err(),
        "a timeout around a queue loop never fired ({turns} turns)"
    );

    // A zero-delay retry of an always-failing operation is such a loop too.
    let mut attempts = 0u64;
    let retried = corio::timeout(
        Duration::from_millis(10),
        corio::retry(
            corio::Backoff::exponential(Duration::ZERO).max_attempts(LOOP_CAP as u32),
            || {
                attempts += 1;
                async { Err::<(), ()>(()) }
            },
        ),
    )
    .await;
    assert!(
        retried.is_err(),
        "a timeout around a zero-delay retry never fired ({attempts} attempts)"
    );
    assert!(attempts < u64::from(LOOP_CAP as u32));

    // Operations that fail at once, on closed or finished resources, are as always-ready as
    // successful ones: each such loop must spend the budget and let its timeout fire.
    macro_rules! times_out_around {
        ($what:expr, $op:expr) => {{
            let mut turns = 0u64;
            let looped = corio::timeout(Duration::from_millis(10), async {
                while turns < LOOP_CAP {
                    let _ = $op;
                    turns += 1;
                }
            })
            .await;
            assert!(
                looped.is_err(),
                "a timeout around a loop over {} never fired ({turns} turns)",
                $what
            );
        }};
    }
    let closed = corio::Queue::<u64>::unbounded();
    closed.close();
    times_out_around!("a closed queue's get", closed.get().await);
    times_out_around!("a closed queue's put", closed.put(1).await);
    let semaphore = corio::Semaphore::new(0);
    semaphore.close();
    times_out_around!("a closed semaphore", semaphore.acquire().await);
    let (tx, mut rx) = corio::sync::broadcast::channel::<u64>(4);
    drop(tx);
    times_out_around!("a closed broadcast channel", rx.recv().await);
    let (tx, mut rx) = corio::sync::watch::channel(0u64);
    drop(tx);
    times_out_around!("a closed watch channel", rx.changed().await);
    let (tx, mut rx) = corio::sync::oneshot::channel::<u64>();
    drop(tx);
    times_out_around!("a oneshot without a sender", (&mut rx).await);
    let mut finished = corio::as_completed([async { 1u64 }]);
    times_out_around!(
        "a finished as_completed stream",
        futures_lite::StreamExt::next(&mut finished).await
    );
}

/// Accepts `connections` connections on `listener` and echoes each one until its peer closes.
pub async fn echo_server(
    listener: corio::net::TcpListener,
    connections: usize,
) -> std::io::Result<()> {
    let mut handlers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (mut stream, _) = listener.accept().await?;
        handlers.push(corio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return std::io::Result::Ok(());
                }
                stream.write_all(&buf[..n]).await?;
            }
        }));
    }
    for h in handlers {
        h.await?;
    }
    Ok(())
}
