//! Helpers shared by the reactor's test files: a driver parked by a thread of its own, a
//! minimal `join_all`, the backend a test should expect, a counting waker, a TCP pair.
#![allow(dead_code)]

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use corio_reactor::{Reactor, ReactorDriver};

/// The backend a reactor made now should report: the ring with the feature on (unless
/// `CORIO_IO=epoll`), epoll otherwise.
pub(crate) fn expected_backend() -> &'static str {
    let forced_epoll = std::env::var_os("CORIO_IO").is_some_and(|v| v == "epoll");
    if cfg!(feature = "io-uring") && !forced_epoll {
        "io_uring"
    } else {
        "epoll"
    }
}

/// A driver parked in a loop by a thread of its own, as a runtime's idle thread would.
pub(crate) struct Parked {
    pub(crate) reactor: Reactor,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<ReactorDriver>>,
}

impl Parked {
    pub(crate) fn new() -> Parked {
        let mut driver = ReactorDriver::new().unwrap();
        let reactor = driver.reactor();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                driver.park(Some(Duration::from_millis(200))).unwrap();
            }
            driver
        });
        Parked {
            reactor,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the parking thread and gives the driver back (still alive: its sources work until
    /// it is dropped).
    pub(crate) fn stop(mut self) -> ReactorDriver {
        self.stop.store(true, Ordering::SeqCst);
        self.reactor.notify();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            self.reactor.notify();
            drop(thread.join());
        }
    }
}

/// Runs every future to completion on this thread (each wake polls them all: fine for tests).
pub(crate) fn join_all<T>(futures: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
    let mut slots: Vec<_> = futures.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = slots.iter().map(|_| None).collect();
    futures_lite::future::block_on(std::future::poll_fn(|cx: &mut Context<'_>| {
        let mut pending = false;
        for (slot, result) in slots.iter_mut().zip(out.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }));
    out.into_iter().map(Option::unwrap).collect()
}

/// Runs `fut` with a generous bound, panicking instead of hanging.
pub(crate) fn within<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    futures_lite::future::block_on(futures_lite::future::or(
        async move { Some(fut.await) },
        async move {
            blocking_sleep(Duration::from_secs(secs)).await;
            None
        },
    ))
    .unwrap_or_else(|| panic!("did not finish within {secs} s"))
}

/// A sleep that needs no timer crate: a thread wakes the task after `d`.
async fn blocking_sleep(d: Duration) {
    let done = Arc::new(AtomicBool::new(false));
    let mut started = false;
    std::future::poll_fn(|cx| {
        if done.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        if !started {
            started = true;
            let (done, waker) = (done.clone(), cx.waker().clone());
            std::thread::spawn(move || {
                std::thread::sleep(d);
                done.store(true, Ordering::SeqCst);
                waker.wake();
            });
        }
        Poll::Pending
    })
    .await
}

/// A waker that counts its wake-ups.
#[derive(Default)]
pub(crate) struct Count(pub(crate) AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits (bounded) until `cond` holds, by polling it every millisecond.
pub(crate) fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: not within 10 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A connected pair of blocking TCP streams on loopback: (client, server).
pub(crate) fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}
