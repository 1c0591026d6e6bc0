//! Cancel scopes on the whole runtime: deadlines in deterministic virtual time. (The rest of the
//! scope tests live in `corio-scope`, which runs them on `corio-executor` and `corio-timer`.)

use std::time::Duration;

use corio::fail_after;

#[test]
fn scopes_work_in_virtual_time() {
    // Ten minutes of deadline, in a deterministic runtime: microseconds of real time.
    let real = std::time::Instant::now();
    let now = corio::run_seeded(1, async {
        let start = corio::time::now();
        let r = fail_after(
            Duration::from_secs(600),
            corio::sleep(Duration::from_secs(3600)),
        )
        .await;
        assert!(r.is_err());
        corio::time::now() - start
    });
    // Deadlines round up to the next 1 ms tick; virtual time jumps straight to it.
    assert!(
        now >= Duration::from_secs(600) && now < Duration::from_secs(601),
        "the 600 s deadline fired at {now:?} of virtual time"
    );
    assert!(real.elapsed() < Duration::from_secs(5));
}

/// The deadline helpers behave as `timeout` does (a conformance probe found three differences):
/// the deadline counts from the call, not from the first poll; a future that is ready wins even
/// with a zero duration; and one that becomes ready exactly at the deadline wins too.
#[test]
fn deadline_helpers_count_from_the_call_and_a_ready_future_wins_as_with_timeout() {
    use corio::{move_on_after, timeout};
    corio::run_seeded(1, async {
        // Made now, awaited 80 ms later: 100 ms from the call have passed at 100 ms, not 180.
        let start = corio::time::now();
        let t = timeout(
            Duration::from_millis(100),
            corio::sleep(Duration::from_millis(150)),
        );
        let f = fail_after(
            Duration::from_millis(100),
            corio::sleep(Duration::from_millis(150)),
        );
        let m = move_on_after(
            Duration::from_millis(100),
            corio::sleep(Duration::from_millis(150)),
        );
        corio::sleep(Duration::from_millis(80)).await;
        let (t, (f, m)) = futures_lite::future::zip(t, futures_lite::future::zip(f, m)).await;
        assert!(t.is_err() && f.is_err() && m.is_none(), "{t:?} {f:?} {m:?}");
        let waited = corio::time::now() - start;
        assert!(
            waited < Duration::from_millis(110),
            "the deadlines counted from the first poll: {waited:?}"
        );

        // Ready at once, with no time at all.
        assert_eq!(timeout(Duration::ZERO, async { 1 }).await.ok(), Some(1));
        assert_eq!(fail_after(Duration::ZERO, async { 1 }).await.ok(), Some(1));
        assert_eq!(move_on_after(Duration::ZERO, async { 1 }).await, Some(1));

        // Ready exactly at the deadline (virtual time: the sleep and the deadline fall on the
        // same tick).
        let d = Duration::from_millis(10);
        assert!(timeout(d, corio::sleep(d)).await.is_ok());
        assert!(fail_after(d, corio::sleep(d)).await.is_ok());
        assert!(move_on_after(d, corio::sleep(d)).await.is_some());

        // Still pending one poll past the deadline: dropped, as before.
        assert!(fail_after(d, corio::sleep(2 * d)).await.is_err());
    });
}
