//! `cargo xtask loom`: the loom models of the lock-free and cross-thread parts.
//!
//! - corio-executor: the wake path (a task pushed from outside reaches a sleeping worker; the
//!   idle accounting and the parker, on loom's primitives);
//! - corio-timer: a timer registered while the driver computes its sleep is never missed;
//! - corio-sync: the semaphore fast path, its lock-free lane meeting the locked line, and the
//!   waiter hand-off of every primitive.
//!
//! Preemptions are capped (2 or 3 per model, as tokio does) so the run fits in CI; set
//! `LOOM_MAX_PREEMPTIONS` to explore more.

use crate::util::{cargo, root, run};

pub(crate) fn loom(args: &[String]) -> Result<(), String> {
    if let Some(unknown) = args.first() {
        return Err(format!("loom takes no options (got `{unknown}`)"));
    }
    // A target directory of its own: `--cfg loom` rebuilds everything.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("loom");
    let models: [(&str, &[&str]); 4] = [
        ("corio-executor", &["--lib", "loom_"]),
        ("corio-timer", &["--lib", "loom_"]),
        ("corio-sync", &["--lib", "loom_"]),
        ("corio-sync", &["--test", "loom_sync"]),
    ];
    for (krate, filter) in models {
        let mut cmd = cargo();
        cmd.args(["test", "--release", "-p", krate])
            .args(filter)
            .env("RUSTFLAGS", "--cfg loom")
            .env("CARGO_TARGET_DIR", &target);
        run(&format!("loom {krate}"), &mut cmd)?;
    }
    eprintln!("\nxtask loom: every model passed");
    Ok(())
}
