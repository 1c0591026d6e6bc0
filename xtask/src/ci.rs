//! `cargo xtask ci`: the checks CI runs, in the order that fails fastest.

use crate::util::{cargo, run};

pub(crate) fn ci(args: &[String]) -> Result<(), String> {
    if let Some(unknown) = args.first() {
        return Err(format!("ci takes no options (got `{unknown}`)"));
    }
    run("fmt", cargo().args(["fmt", "--all", "--check"]))?;
    independence()?;
    run(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(
        "test",
        cargo().args(["test", "--workspace", "--all-targets"]),
    )?;
    run("doctest", cargo().args(["test", "--workspace", "--doc"]))?;
    // The optional `tracing` feature is off in the workspace build: lint it and run its test.
    run(
        "clippy (tracing)",
        cargo().args([
            "clippy",
            "-p",
            "corio-executor",
            "--all-targets",
            "--features",
            "tracing",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(
        "test (tracing)",
        cargo().args([
            "test",
            "-p",
            "corio-executor",
            "--features",
            "tracing",
            "--test",
            "rt_tracing",
        ]),
    )?;
    run(
        "doc",
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    eprintln!("\nxtask ci: all checks passed");
    Ok(())
}

/// Crates that must depend on no other corio crate (issues 3 and 5), so that users can take one
/// alone and run it on any executor.
const INDEPENDENT: [&str; 3] = ["corio-sync", "corio-blocking", "corio-coop"];

/// Checks the dependency edges of [`INDEPENDENT`] with `cargo tree` (default features, normal
/// dependencies), then that corio-sync and its tests build without its optional `coop` feature
/// (the workspace build turns it on through the facade).
fn independence() -> Result<(), String> {
    eprintln!("\n==> independence: {}", INDEPENDENT.join(", "));
    for krate in INDEPENDENT {
        let output = cargo()
            .args(["tree", "-p", krate, "-e", "normal", "--prefix", "none"])
            .output()
            .map_err(|e| format!("independence: could not run cargo tree: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "independence: cargo tree -p {krate} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        let mut corio_deps: Vec<&str> = tree
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| name.starts_with("corio") && *name != krate)
            .collect();
        corio_deps.sort_unstable();
        corio_deps.dedup();
        if !corio_deps.is_empty() {
            return Err(format!(
                "independence: {krate} must depend on no other corio crate, but depends on {}",
                corio_deps.join(", ")
            ));
        }
    }
    run(
        "corio-sync without coop",
        cargo().args(["check", "-p", "corio-sync", "--all-targets"]),
    )
}
