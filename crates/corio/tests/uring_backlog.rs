//! On the io_uring reactor, registering a socket queues a request and dropping it queues
//! another, to be submitted by a thread of the runtime. A loop that made and dropped sockets
//! without ever waiting (no park, no task waiting on I/O) had nobody submit them: the queue grew
//! by 128 bytes a socket for as long as the loop ran (a probe: 100 MB after 400,000 pairs on
//! `run_local`, the same on a one-worker runtime), and each dropped socket stayed open until the
//! thread first parked. The check between tasks now submits them on a local runtime's thread and
//! on workers. Memory is measured (VmRSS), never time. Alone in its binary, so that no other test
//! allocates meanwhile; on epoll (without the feature, or under `CORIO_IO=epoll`) the same loops
//! must stay flat too.
#![cfg(target_os = "linux")]

use corio::net::UnixStream;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

const PAIRS: u64 = 100_000;

/// Makes and drops `PAIRS` socket pairs, yielding between them but never waiting; returns the
/// growth of the resident set over the second half (the first warms the allocator up).
async fn churn() -> u64 {
    let mut half = 0;
    for i in 0..PAIRS {
        if i == PAIRS / 2 {
            half = rss_kib();
        }
        let (a, b) = UnixStream::pair().unwrap();
        drop(a);
        drop(b);
        corio::yield_now().await;
    }
    rss_kib().saturating_sub(half)
}

#[test]
fn making_and_dropping_sockets_without_waiting_stays_flat() {
    // 50,000 pairs grew the queue by 6.4 MB before the fix.
    let limit_kib = 2 * 1024;
    let local = corio::run_local(churn());
    assert!(local < limit_kib, "run_local: {local} KiB for 50,000 pairs");
    let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
    let worker = rt.block_on(rt.spawn(churn()));
    assert!(
        worker < limit_kib,
        "a worker: {worker} KiB for 50,000 pairs"
    );
}
