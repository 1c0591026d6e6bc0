//! `cargo xtask ci`: the checks CI runs, in the order that fails fastest.

use crate::util::{cargo, run};

pub(crate) fn ci(args: &[String]) -> Result<(), String> {
    if let Some(unknown) = args.first() {
        return Err(format!("ci takes no options (got `{unknown}`)"));
    }
    run("fmt", cargo().args(["fmt", "--all", "--check"]))?;
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
    run(
        "doc",
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    eprintln!("\nxtask ci: all checks passed");
    Ok(())
}
