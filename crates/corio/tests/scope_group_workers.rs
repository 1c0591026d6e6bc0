//! `task_group` on a multi-threaded runtime reports the same errors on every run: a child that
//! fails on another worker while the body awaits its handle cancels the body, and the body's
//! resulting error (its handle's `Cancelled`) is not counted as an error of its own.

use std::time::Duration;

async fn fetch_user(id: u32) -> Result<String, String> {
    if id == 3 {
        return Err(format!("user {id} not found"));
    }
    corio::sleep(Duration::from_millis(500)).await;
    Ok(format!("User_{id}"))
}

#[test]
fn the_first_failure_is_the_only_error_whatever_the_workers_interleaving() {
    let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
    for round in 0..200 {
        // The doc's example, with the failing user first: the body awaits its handle while it
        // fails on the other worker.
        let result = rt.block_on(corio::task_group(async |g| {
            let handles: Vec<_> = [3, 1, 2, 4]
                .into_iter()
                .map(|id| g.spawn(fetch_user(id)))
                .collect();
            let mut users = Vec::new();
            for h in handles {
                users.push(h.await.map_err(|c| c.to_string())?);
            }
            Ok(users)
        }));
        let err = result.unwrap_err();
        assert_eq!(err.errors(), ["user 3 not found"], "round {round}");
    }
}
