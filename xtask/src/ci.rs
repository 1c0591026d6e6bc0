//! `cargo xtask ci`: the checks CI runs, in the order that fails fastest.
//!
//! No test can hang CI. The tests run under cargo-nextest, whose `.config/nextest.toml` gives each
//! test a time limit (`slow-timeout` with `terminate-after`): a deadlocked test is killed and
//! fails with its name. Doctests, which nextest cannot run, run under a watchdog of our own that
//! kills `cargo test --doc` and every process below it after [`DOCTEST_LIMIT`]; libtest names
//! any doctest still running after 60 s in its output, so the hung one is named too.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{cargo, run};

/// Edition 2024 merges each crate's doctests into one binary, so the step is mostly compiling:
/// the facade's 22 doctests took 7.5 s on 2 busy cores. Ten minutes is far beyond any honest
/// run of the whole workspace's.
const DOCTEST_LIMIT: Duration = Duration::from_secs(10 * 60);

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
    ensure_nextest()?;
    run(
        "test",
        cargo().args([
            "nextest",
            "run",
            "--workspace",
            "--all-targets",
            "--profile",
            "ci",
        ]),
    )?;
    run_with_limit(
        "doctest",
        cargo().args(["test", "--workspace", "--doc"]),
        DOCTEST_LIMIT,
    )?;
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
            "nextest",
            "run",
            "--profile",
            "ci",
            "-p",
            "corio-executor",
            "--features",
            "tracing",
            "--test",
            "rt_tracing",
        ]),
    )?;
    // The optional `io-uring` feature (issue 17): lint it, and run the reactor's, the sockets',
    // the files' and the facade's tests on the ring (where this kernel allows one), then the
    // same test binaries again under `CORIO_IO=epoll`: the fallback with the feature compiled
    // in, for every suite (no rebuild, about 10 s). The featureless `test` step above is the
    // plain epoll build; `uring_fallback.rs` and the facade's `io_backend.rs` also force a
    // refused ring setup (ENOSYS, EPERM, EINVAL) and check that the fallback serves sockets
    // and files.
    run(
        "clippy (io-uring)",
        cargo().args([
            "clippy",
            "-p",
            "corio-reactor",
            "-p",
            "corio",
            "--all-targets",
            "--features",
            "io-uring",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    const URING_TESTS: [&str; 13] = [
        "nextest",
        "run",
        "--profile",
        "ci",
        "-p",
        "corio-reactor",
        "-p",
        "corio-net",
        "-p",
        "corio-fs",
        "-p",
        "corio",
        "--features=corio/io-uring",
    ];
    run(
        "test (io-uring)",
        cargo().args(URING_TESTS).env_remove("CORIO_IO"),
    )?;
    run(
        "test (io-uring, CORIO_IO=epoll)",
        cargo().args(URING_TESTS).env("CORIO_IO", "epoll"),
    )?;
    run(
        "doc",
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    run(
        "doc (io-uring)",
        cargo()
            .args([
                "doc",
                "-p",
                "corio-reactor",
                "--no-deps",
                "--features",
                "io-uring",
            ])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    // Issue 19: every publishable crate packages as it would publish (metadata checked), and
    // single crates work without the facade (xtask/cherry-pick, a workspace of its own).
    crate::package::package()?;
    crate::package::cherry_pick()?;
    eprintln!("\nxtask ci: all checks passed");
    Ok(())
}

/// Crates that must depend on no other corio crate (issues 3 and 5), so that users can take one
/// alone and run it on any executor.
const INDEPENDENT: [&str; 4] = ["corio-sync", "corio-blocking", "corio-coop", "corio-cpu"];

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

/// Makes sure `cargo nextest` runs: it is on the machine image, and elsewhere it is installed
/// from crates.io (slow, once per machine) rather than running the tests without a time limit.
fn ensure_nextest() -> Result<(), String> {
    if has_nextest() {
        return Ok(());
    }
    eprintln!(
        "\nxtask ci: cargo-nextest is missing; the tests run under it for their per-test time \
         limit (.config/nextest.toml), so installing it with `cargo install cargo-nextest --locked` \
         (a few minutes, once per machine)"
    );
    let installed = run(
        "install cargo-nextest",
        cargo().args(["install", "cargo-nextest", "--locked"]),
    );
    match installed {
        Ok(()) if has_nextest() => Ok(()),
        Ok(()) => Err(
            "cargo-nextest was installed but `cargo nextest --version` still fails: \
             is cargo's bin directory (~/.cargo/bin) on PATH?"
                .into(),
        ),
        Err(e) => Err(format!(
            "{e}: cargo-nextest is needed to run the tests under a time limit; install it \
             (https://nexte.st/docs/installation/) and run `cargo xtask ci` again"
        )),
    }
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// [`run`], but the command and everything it started are killed if it takes longer than
/// `limit`, and the step fails saying so.
fn run_with_limit(step: &str, cmd: &mut Command, limit: Duration) -> Result<(), String> {
    eprintln!("\n==> {step} (limit {limit:?}): {cmd:?}");
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{step}: could not start {cmd:?}: {e}"))?;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                eprintln!("<== {step}: {status} in {:.1?}", start.elapsed());
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("{step} failed ({status})"))
                };
            }
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                kill_tree(&mut child);
                return Err(format!(
                    "{step} was still running after {limit:?} and was killed: a test hangs \
                     (libtest names the tests that ran for over 60 s in the output above)"
                ));
            }
            Err(e) => {
                kill_tree(&mut child);
                return Err(format!("{step}: could not wait for {cmd:?}: {e}"));
            }
        }
    }
}

/// Kills `child` and every process it started (rustdoc and the doctest binaries), parents
/// first, so that none starts another meanwhile. The command stays in our process group, so
/// that Ctrl-C still reaches all of it.
fn kill_tree(child: &mut std::process::Child) {
    let below = descendants(child.id());
    let _ = child.kill();
    for pid in below {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.wait();
}

/// The processes below `pid`, parents before children (`pgrep -P`, on Linux and macOS; none
/// where it is missing, and then only the direct child is killed).
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut next = 0;
    let mut parents = vec![pid];
    while let Some(&parent) = parents.get(next) {
        next += 1;
        let Ok(out) = Command::new("pgrep")
            .args(["-P", &parent.to_string()])
            .output()
        else {
            break;
        };
        for child in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            found.push(child);
            parents.push(child);
        }
    }
    found
}
