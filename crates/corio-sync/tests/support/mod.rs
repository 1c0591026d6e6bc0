//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

/// A waker that counts how often it was woken.
#[derive(Debug, Default)]
pub struct WakeCounter(AtomicUsize);

impl WakeCounter {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future under manual control: poll it with its own counting waker, see whether it was woken.
pub struct Manual<F: Future> {
    pub fut: Pin<Box<F>>,
    pub counter: Arc<WakeCounter>,
    waker: Waker,
    /// The wake count at the last poll.
    seen: usize,
}

impl<F: Future> Manual<F> {
    pub fn new(fut: F) -> Self {
        let counter = Arc::new(WakeCounter::default());
        let waker = Waker::from(counter.clone());
        Self {
            fut: Box::pin(fut),
            counter,
            waker,
            seen: 0,
        }
    }

    pub fn poll(&mut self) -> Poll<F::Output> {
        self.seen = self.counter.count();
        let mut cx = Context::from_waker(&self.waker);
        self.fut.as_mut().poll(&mut cx)
    }

    /// Whether it was woken since its last poll.
    pub fn woken(&self) -> bool {
        self.counter.count() > self.seen
    }

    /// Polls it and expects `Pending`.
    #[track_caller]
    pub fn pending(&mut self) {
        assert!(self.poll().is_pending(), "expected Pending");
    }

    /// Polls it and expects `Ready`, returning the output.
    #[track_caller]
    pub fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("expected Ready"),
        }
    }
}

/// Polls a future once with a no-op waker.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// Scales a default count up when `CORIO_STRESS` is set (e.g. `CORIO_STRESS=10`).
pub fn stress(default: usize) -> usize {
    let factor = std::env::var("CORIO_STRESS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    default * factor
}

/// The number of proptest cases, scaled by `CORIO_STRESS`.
pub fn cases(default: u32) -> u32 {
    u32::try_from(stress(default as usize)).unwrap_or(u32::MAX)
}

type BoxTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A deliberately tiny multi-threaded executor that is not corio: a shared run queue and N worker
/// threads. It exists to prove that the primitives need nothing from corio's runtime.
pub struct MiniExecutor {
    sender: Option<mpsc::Sender<Arc<MiniTask>>>,
    workers: Vec<thread::JoinHandle<()>>,
    live: Arc<AtomicUsize>,
}

struct MiniTask {
    future: Mutex<Option<BoxTask>>,
    queue: mpsc::Sender<Arc<MiniTask>>,
    scheduled: AtomicUsize,
    live: Arc<AtomicUsize>,
}

impl Wake for MiniTask {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(1, Ordering::AcqRel) == 0 {
            let _ = self.queue.send(self.clone());
        }
    }
}

impl MiniExecutor {
    pub fn new(threads: usize) -> Self {
        let (sender, receiver) = mpsc::channel::<Arc<MiniTask>>();
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..threads)
            .map(|_| {
                let receiver = receiver.clone();
                thread::spawn(move || {
                    loop {
                        let task = match receiver.lock().unwrap().recv() {
                            Ok(task) => task,
                            Err(_) => return,
                        };
                        task.scheduled.store(0, Ordering::Release);
                        let waker = Waker::from(task.clone());
                        let mut slot = task.future.lock().unwrap();
                        if let Some(fut) = slot.as_mut() {
                            if fut
                                .as_mut()
                                .poll(&mut Context::from_waker(&waker))
                                .is_ready()
                            {
                                *slot = None;
                                task.live.fetch_sub(1, Ordering::AcqRel);
                            }
                        }
                    }
                })
            })
            .collect();
        Self {
            sender: Some(sender),
            workers,
            live: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.live.fetch_add(1, Ordering::AcqRel);
        let task = Arc::new(MiniTask {
            future: Mutex::new(Some(Box::pin(fut))),
            queue: self.sender.clone().unwrap(),
            scheduled: AtomicUsize::new(0),
            live: self.live.clone(),
        });
        task.wake_by_ref();
    }

    /// Waits (by polling a completion counter) until every spawned task finished, then stops.
    pub fn join(mut self) {
        let start = std::time::Instant::now();
        while self.live.load(Ordering::Acquire) > 0 {
            // A generous sanity bound: a hang is a bug, not a slow machine.
            assert!(start.elapsed().as_secs() < 120, "mini executor tasks hung");
            thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(self.sender.take());
        for worker in self.workers.drain(..) {
            worker.join().unwrap();
        }
    }
}

/// Spawns `n` std threads each running `f(i)` under `futures_lite::future::block_on`.
pub fn block_on_threads<F, Fut>(n: usize, f: F) -> Vec<Fut::Output>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future,
    Fut::Output: Send + 'static,
{
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let f = f.clone();
            thread::spawn(move || futures_lite::future::block_on(f(i)))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}
