//! `Supervise`: runs one child of a task group to its outcome and reports it to the group.

use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use corio_sync::oneshot;
use pin_project_lite::pin_project;

use super::shared::{Shared, wake};

pin_project! {
    /// Runs a child to its outcome and reports it. The child's future is dropped before `done`
    /// counts it as finished (field order is drop order, and `drop` below empties `child`
    /// first), also when it is cancelled before its first poll. A panic from the child's
    /// destructor (the group cancelled it, or it completed) is the child's panic: it goes to the
    /// group, which resumes it in its caller, as for a local child; not to the executor, which
    /// would report it as a panic nobody awaited.
    pub(super) struct Supervise<F, T, E> {
        #[pin]
        child: Option<F>,
        tx: Option<oneshot::Sender<T>>,
        location: &'static Location<'static>,
        done: Done<E>,
    }

    impl<F, T, E> PinnedDrop for Supervise<F, T, E> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| this.child.as_mut().set(None))) {
                this.done.shared.panicked(payload, this.location);
            }
        }
    }
}

pub(super) fn supervise<T, E, F>(
    shared: Arc<Shared<E>>,
    spawned_key: Option<usize>,
    child: F,
    tx: oneshot::Sender<T>,
    location: &'static Location<'static>,
) -> Supervise<F, T, E> {
    Supervise {
        child: Some(child),
        tx: Some(tx),
        location,
        done: Done {
            shared,
            spawned_key,
        },
    }
}

impl<T, E, F> Future for Supervise<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let Some(child) = this.child.as_pin_mut() else {
            // Only `drop` empties it.
            return Poll::Ready(());
        };
        let outcome = match catch_unwind(AssertUnwindSafe(|| child.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(outcome)) => Ok(outcome),
            Err(payload) => Err(payload),
        };
        let shared = &this.done.shared;
        match outcome {
            Ok(Ok(value)) => {
                if let Some(tx) = this.tx.take() {
                    // Nobody may be waiting for the value: that is fine.
                    let _ = tx.send(value);
                }
            }
            Ok(Err(error)) => shared.fail(error),
            Err(payload) => shared.panicked(payload, this.location),
        }
        Poll::Ready(())
    }
}

/// Counts a child as finished when dropped, after the child's future (declared later) is gone.
struct Done<E> {
    shared: Arc<Shared<E>>,
    spawned_key: Option<usize>,
}

impl<E> Drop for Done<E> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.lock();
            state.running -= 1;
            if let Some(key) = self.spawned_key {
                state.finished.push(key);
            }
            state.waker.clone()
        };
        wake(waker);
    }
}
