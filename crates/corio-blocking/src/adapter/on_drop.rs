//! The drop path: what runs after an `Unblock` is gone.
//!
//! `Drop` has no trait bounds, so it hands what is left ([`Leftover`]) to [`finish`], captured
//! in `Ops` by the constructor where `T: Send + 'static` is known. If bytes are still buffered
//! (or a flush is owed), a pool job waits for the running operation, seeks back over stale
//! read-ahead, and writes and flushes them; errors go to stderr, since nobody is left to tell.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;

use futures_lite::FutureExt;

use super::{Done, Outcome, RealignFn, Unblock, WriteFn};
use crate::job::Unblocked;
use crate::pool::Sched;

pub(super) struct Leftover<T> {
    sched: Sched,
    io: Option<Box<T>>,
    job: Option<Unblocked<Done<T>>>,
    data: Vec<u8>,
    needs_flush: bool,
    write_err: Option<io::Error>,
    write: Option<WriteFn<T>>,
    realign: Option<RealignFn<T>>,
    realign_back: u64,
}

/// Runs after the `Unblock` is gone: writes what is still buffered, reports what failed.
pub(super) fn finish<T: Send + 'static>(left: Leftover<T>) {
    let Leftover {
        sched,
        io,
        job,
        data,
        needs_flush,
        write_err,
        write,
        realign,
        mut realign_back,
    } = left;
    if let Some(err) = write_err {
        eprintln!("corio-blocking: a write made before its handle was dropped failed: {err}");
    }
    let must_write = write.is_some() && (!data.is_empty() || needs_flush);
    if !must_write {
        // A running job (a read, say) finishes on its own and drops the handle on the pool.
        drop(job);
        drop(io);
        return;
    }
    // Waits for the running job: counted, so that a shutdown that begins meanwhile waits for
    // the bytes (see `Sched::spawn_waited`).
    let background = sched.spawn_waited(async move {
        let io = match job {
            None => io,
            Some(job) => match AssertUnwindSafe(job).catch_unwind().await {
                Ok(done) => {
                    if let Outcome::Read { result: Ok(n), .. } = &done.outcome {
                        // Read ahead before the buffered write was made: stale, give it back.
                        realign_back += *n as u64;
                    }
                    if let Outcome::Write {
                        result: Err(err), ..
                    }
                    | Outcome::Op { prep: Err(err), .. }
                    | Outcome::Seek {
                        result: Err(err), ..
                    } = &done.outcome
                    {
                        eprintln!("corio-blocking: a write buffered before its handle was dropped failed: {err}");
                    }
                    Some(done.io)
                }
                // The panic was already printed by the panic hook; the handle is gone.
                Err(_) => None,
            },
        };
        match (io, write) {
            (Some(mut io), Some(write)) => {
                let realigned = match (realign, realign_back) {
                    (Some(realign), back) if back > 0 => realign(&mut io, back),
                    _ => Ok(()),
                };
                if let Err(err) = realigned.and_then(|()| write(&mut io, &data, true)) {
                    eprintln!(
                        "corio-blocking: writing the {} byte(s) buffered before their handle was \
                         dropped failed: {err}",
                        data.len()
                    );
                }
            }
            _ if !data.is_empty() => eprintln!(
                "corio-blocking: {} byte(s) buffered before their handle was dropped were lost: \
                 the handle was lost to a panic",
                data.len()
            ),
            _ => {}
        }
    });
    drop(background); // detaches: the job runs to the end
}

impl<T> Drop for Unblock<T> {
    fn drop(&mut self) {
        if let Some((_, stop)) = &self.stream {
            stop.store(true, Ordering::Relaxed);
        }
        let left = Leftover {
            sched: self.sched.clone(),
            io: self.io.take(),
            job: self.job.take(),
            data: std::mem::take(&mut self.wbuf),
            needs_flush: self.needs_flush,
            write_err: self.write_err.take(),
            write: self.ops.write,
            realign: self.ops.realign,
            realign_back: self.realign_back,
        };
        (self.ops.finish)(left);
    }
}
