//! The article's TaskGroup scenario (section 2.1): fetching users 1 to 4, where user 3 does not
//! exist. With a task group, the failure cancels the other fetches; with `join_all` (asyncio's
//! `gather`) they all run to the end.
//!
//! ```text
//! cargo run --release -p corio --example task_group
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Ledger {
    fetched: Mutex<Vec<u32>>,
    cancelled: Mutex<Vec<u32>>,
}

/// Notes whether a fetch finished or was cancelled (dropped) before it could.
struct Watch {
    id: u32,
    finished: bool,
    ledger: Arc<Ledger>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let list = if self.finished {
            &self.ledger.fetched
        } else {
            &self.ledger.cancelled
        };
        list.lock().unwrap().push(self.id);
    }
}

async fn fetch_user(id: u32, ledger: Arc<Ledger>) -> Result<String, String> {
    let mut watch = Watch {
        id,
        finished: false,
        ledger,
    };
    corio::sleep(Duration::from_millis(if id == 3 { 100 } else { 500 })).await;
    watch.finished = true;
    if id == 3 {
        return Err(format!("User {id} not found"));
    }
    Ok(format!("User_{id}"))
}

fn main() {
    corio::run(async {
        println!("with a task group:");
        let ledger = Arc::new(Ledger::default());
        let start = Instant::now();
        let result = corio::task_group(async |g| {
            let handles: Vec<_> = (1..=4)
                .map(|id| g.spawn(fetch_user(id, ledger.clone())))
                .collect();
            let mut users = Vec::new();
            for h in handles {
                users.push(h.await.map_err(|c| c.to_string())?);
            }
            Ok(users)
        })
        .await;
        let elapsed = start.elapsed();
        match result {
            Ok(users) => println!("  users: {users:?}"),
            Err(e) => println!(
                "  error after {elapsed:.2?}: {e} (all errors: {:?})",
                e.errors()
            ),
        }
        println!(
            "  ran to the end: {:?}  <- user 3, which failed",
            ledger.fetched.lock().unwrap()
        );
        let mut cancelled = ledger.cancelled.lock().unwrap().clone();
        cancelled.sort();
        println!("  cancelled:      {cancelled:?}  <- no wasted work\n");

        println!("with join_all (asyncio.gather):");
        let ledger = Arc::new(Ledger::default());
        let start = Instant::now();
        let results = corio::join_all((1..=4).map(|id| fetch_user(id, ledger.clone()))).await;
        println!("  results after {:.2?}: {results:?}", start.elapsed());
        let mut fetched = ledger.fetched.lock().unwrap().clone();
        fetched.sort();
        println!("  ran to the end: {fetched:?}  <- users 1, 2 and 4 too, for nothing");
    });
}
