//! Streaming: the `Stream` of an `Unblock` over an iterator.
//!
//! A job runs the iterator on the pool and pushes items into a [`Chan`] until it holds the
//! capacity, or the iterator ends, or the `Unblock` asks it to stop (another operation needs the
//! handle, or the `Unblock` was dropped). The caller pops items and starts a new job when the
//! channel runs below half the capacity.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use concurrent_queue::ConcurrentQueue;
use futures_core::Stream;

use super::{DEFAULT_BUFFER_ITEMS, Done, Outcome, Unblock};
use crate::pool::lock;

struct Chan<I> {
    queue: ConcurrentQueue<I>,
    waker: Mutex<Option<Waker>>,
    done: AtomicBool,
}

impl<I> Chan<I> {
    fn wake(&self) {
        let waker = lock(&self.waker).take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Stream for Unblock<T>
where
    T: Iterator + Send + 'static,
    T::Item: Send + 'static,
{
    type Item = T::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        let this = self.get_mut();
        this.seek_done = None;
        if this.closed {
            return Poll::Ready(None);
        }
        let cap = this.cap.unwrap_or(DEFAULT_BUFFER_ITEMS);
        loop {
            let Some((chan, stop)) = &this.stream else {
                if this.job.is_some() {
                    std::task::ready!(this.poll_idle(cx));
                    continue;
                }
                let chan: Arc<Chan<T::Item>> = Arc::new(Chan {
                    queue: ConcurrentQueue::unbounded(),
                    waker: Mutex::new(None),
                    done: AtomicBool::new(false),
                });
                this.stream = Some((Box::new(chan), Arc::new(AtomicBool::new(false))));
                continue;
            };
            let Some(chan) = chan.downcast_ref::<Arc<Chan<T::Item>>>() else {
                unreachable!("the stream channel always holds T::Item");
            };
            let (chan, stop) = (chan.clone(), stop.clone());
            if let Ok(item) = chan.queue.pop() {
                if this.job.is_none()
                    && !chan.done.load(Ordering::Acquire)
                    && chan.queue.len() < cap / 2
                {
                    this.start_stream(chan, stop, cap);
                }
                return Poll::Ready(Some(item));
            }
            if this.job.is_some() {
                *lock(&chan.waker) = Some(cx.waker().clone());
                if let Ok(item) = chan.queue.pop() {
                    return Poll::Ready(Some(item));
                }
                let _ = std::task::ready!(this.poll_job(cx));
                continue;
            }
            if chan.done.load(Ordering::Acquire) || this.io.is_none() {
                this.stream = None;
                return Poll::Ready(None);
            }
            this.start_stream(chan, stop, cap);
        }
    }
}

impl<T> Unblock<T>
where
    T: Iterator + Send + 'static,
    T::Item: Send + 'static,
{
    fn start_stream(&mut self, chan: Arc<Chan<T::Item>>, stop: Arc<AtomicBool>, cap: usize) {
        let Some(io) = self.io.take() else { return };
        stop.store(false, Ordering::Relaxed);
        self.job = Some(self.sched.spawn_job(move || {
            let mut io = io;
            while !stop.load(Ordering::Relaxed) && chan.queue.len() < cap {
                match io.next() {
                    Some(item) => {
                        let _ = chan.queue.push(item);
                        chan.wake();
                    }
                    None => {
                        chan.done.store(true, Ordering::Release);
                        break;
                    }
                }
            }
            Done {
                io,
                outcome: Outcome::Stream,
            }
        }));
    }
}
