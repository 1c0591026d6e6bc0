//! Panics: isolation, propagation to the awaiter, reports for unobserved panics.

mod support;

use std::sync::{Arc, Mutex};

use corio_executor::{Report, Runtime, run_local, spawn, task};
use support::wait_until;

#[test]
fn a_panic_resumes_in_the_awaiter_and_the_runtime_keeps_running() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let bad = rt.spawn(async { panic!("boom") });
    let err = rt
        .block_on(async {
            std::panic::AssertUnwindSafe(bad)
                .catch_unwind_compat()
                .await
        })
        .unwrap_err();
    assert_eq!(*err.downcast_ref::<&str>().unwrap(), "boom");
    // Other tasks are unaffected.
    let good = rt.spawn(async { 1 });
    assert_eq!(rt.block_on(good), 1);
}

#[test]
fn a_panic_on_the_local_loop_is_isolated_too() {
    run_local(async {
        let bad = spawn(async { panic!("local boom") });
        let good = spawn(async { 2 });
        let caught = std::panic::AssertUnwindSafe(bad)
            .catch_unwind_compat()
            .await;
        assert!(caught.is_err());
        assert_eq!(good.await, 2);
    });
}

#[test]
fn an_unobserved_panic_is_reported_with_name_and_location() {
    let reports = Arc::new(Mutex::new(Vec::<Report>::new()));
    let sink = reports.clone();
    let rt = Runtime::builder()
        .worker_threads(1)
        .report_hook(move |r| sink.lock().unwrap().push(r.clone()))
        .build()
        .unwrap();
    let line = line!() + 3;
    task::Builder::new()
        .name("fire-and-forget")
        .spawn_on(async { panic!("swallowed?") }, &rt.handle())
        .detach();
    wait_until("the panic is reported", || {
        !reports.lock().unwrap().is_empty()
    });
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    match &reports[0] {
        Report::UnobservedPanic { task, message } => {
            assert_eq!(message, "swallowed?");
            assert_eq!(task.name.as_deref(), Some("fire-and-forget"));
            assert!(task.location.file().ends_with("rt_panic.rs"));
            assert_eq!(task.location.line(), line);
        }
        other => panic!("unexpected report {other:?}"),
    }
    let text = reports[0].to_string();
    assert!(
        text.contains("fire-and-forget") && text.contains("swallowed?"),
        "{text}"
    );
}

#[test]
fn an_awaited_panic_is_not_reported() {
    let reports = Arc::new(Mutex::new(Vec::<Report>::new()));
    let sink = reports.clone();
    let rt = Runtime::builder()
        .worker_threads(1)
        .report_hook(move |r| sink.lock().unwrap().push(r.clone()))
        .build()
        .unwrap();
    let t = rt.spawn(async { panic!("observed") });
    let caught = rt.block_on(std::panic::AssertUnwindSafe(t).catch_unwind_compat());
    assert!(caught.is_err());
    drop(rt);
    assert!(reports.lock().unwrap().is_empty());
}

#[test]
fn a_panic_storm_of_detached_tasks_is_fully_reported() {
    let reports = Arc::new(Mutex::new(0usize));
    let sink = reports.clone();
    let rt = Runtime::builder()
        .worker_threads(2)
        .report_hook(move |_| *sink.lock().unwrap() += 1)
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..1000 {
        let tx = tx.clone();
        rt.spawn(async move {
            if i % 10 == 0 {
                panic!("storm {i}");
            }
            tx.send(i).unwrap();
        })
        .detach();
    }
    drop(tx);
    let served = rx.iter().count();
    assert_eq!(served, 900);
    wait_until("every panic is reported", || {
        *reports.lock().unwrap() == 100
    });
}

/// `catch_unwind` for futures, without a dependency on `futures`.
trait CatchUnwindCompat: std::future::Future + Sized {
    fn catch_unwind_compat(self) -> CatchUnwind<Self> {
        CatchUnwind(Box::pin(self))
    }
}
impl<F: std::future::Future + std::panic::UnwindSafe> CatchUnwindCompat for F {}

struct CatchUnwind<F>(std::pin::Pin<Box<F>>);

impl<F: std::future::Future> std::future::Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }
}
