//! Helpers shared by corio-net's tests: a waker that counts its wakes, a single poll, and a
//! bound that turns a hang into a failure.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// A waker that counts its wakes.
#[derive(Default)]
pub(crate) struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Count {
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Waits (a generous bound; the reactor's thread wakes us) until woken more than `seen` times.
    pub(crate) fn wait_past(&self, seen: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.get() <= seen {
            assert!(Instant::now() < deadline, "never woken: {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A counting waker and its count.
pub(crate) fn counting() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    (count.clone(), Waker::from(count))
}

/// Polls `fut` once with `waker`, then drops it.
pub(crate) fn poll_with<F: Future>(fut: F, waker: &Waker) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(waker))
}

/// `fut`, or a panic naming `what` after a generous bound (so a bug fails instead of hanging).
pub(crate) async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match corio_timer::timeout(Duration::from_secs(10), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not complete"),
    }
}

/// A connected TCP pair on loopback: (client, server side).
pub(crate) async fn pair() -> (corio_net::TcpStream, corio_net::TcpStream) {
    let listener = corio_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = corio_net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, peer) = listener.accept().await.unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    (client, server)
}
