//! `RuntimeMetrics::sleeping_workers`: how many workers wait for work right now.

mod support;

use std::sync::mpsc;

use support::wait_until;

#[test]
fn a_worker_busy_in_a_task_is_not_counted_as_sleeping() {
    let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
    wait_until("both workers sleep", || rt.metrics().sleeping_workers == 2);

    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let busy = rt.spawn(async move {
        started_tx.send(()).unwrap();
        // Blocks this worker's thread (on purpose) until the test releases it.
        release_rx.recv().unwrap();
    });
    started_rx.recv().unwrap();
    wait_until("only the other worker sleeps", || {
        rt.metrics().sleeping_workers == 1
    });
    assert_eq!(rt.metrics().sleeping_workers, 1);

    release_tx.send(()).unwrap();
    rt.block_on(busy);
    wait_until("both workers sleep again", || {
        rt.metrics().sleeping_workers == 2
    });
}
