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
