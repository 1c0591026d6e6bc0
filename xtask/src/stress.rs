//! `cargo xtask stress`: corio under load, faults and shutdown (issue 10).
//!
//! The scenarios live in the `corio-stress` crate: each runs in its own child process under a
//! watchdog and prints a figure and PASS or FAIL. This task builds that crate in release mode and
//! runs its suite; `docs/RELIABILITY.md` says what each scenario proves. `CARGO_TARGET_DIR` is
//! honoured, since cargo reads it itself.

use std::process::Command;

use crate::util::{cargo, run};

const HELP: &str = "\
cargo xtask stress [options]

Runs every stress scenario in its own child process under a watchdog (a hang is killed and
reported as FAIL): 1,000,000 parked tasks, 10,000 echoing connections, fd and thread leaks,
queue and semaphore cancel storms, a panic storm, accept under EMFILE, shutdown destructors,
a timer storm, re-entrancy. Each prints its figure and PASS or FAIL; the full run takes well
under 5 minutes on 2 cores.

options:
  --quick             smaller sizes, for CI (under a minute)
  --valgrind          the spawn and echo scenarios (and the other memory and teardown
                      ones: leaks, panic-storm, shutdown, reentrancy), small, under
                      valgrind --leak-check=full --errors-for-leak-kinds=definite
                      --error-exitcode=1 --fair-sched=yes; zero definite leaks required
                      (installs valgrind with apt-get if it is missing and this user may)
  --filter <name>     only the scenarios whose name contains <name> (repeatable)
  --repeat <n>        run each selected scenario n times (a fresh process and seed each)
  --verbose           also print each scenario's progress notes and stderr

CORIO_STRESS_SEED=<n> replays the random choices of a storm (each prints its seed).

one scenario in this process, for perf or a debugger:
  cargo run --release -p corio-stress -- run <scenario> [full|quick|valgrind]
  cargo run --release -p corio-stress -- list
";

pub(crate) fn stress(args: &[String]) -> Result<(), String> {
    let mut suite: Vec<String> = Vec::new();
    let mut valgrind = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" | "--verbose" => suite.push(arg.clone()),
            "--repeat" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("stress: {arg} needs a value"))?;
                suite.extend([arg.clone(), value.clone()]);
            }
            "--valgrind" => {
                valgrind = true;
                suite.push(arg.clone());
            }
            "--filter" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("stress: {arg} needs a value"))?;
                suite.extend([arg.clone(), value.clone()]);
            }
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => return Err(format!("stress: unknown option `{other}`\n\n{HELP}")),
        }
    }
    if valgrind {
        ensure_valgrind()?;
    }
    run(
        "stress",
        cargo()
            .args(["run", "--release", "-p", "corio-stress", "--"])
            .args(&suite),
    )
}

fn has_valgrind() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Installs valgrind through apt-get when it is missing: directly as root, else through
/// `sudo -n` (never prompting).
fn ensure_valgrind() -> Result<(), String> {
    if has_valgrind() {
        return Ok(());
    }
    eprintln!("xtask stress: valgrind is missing; trying apt-get");
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut cmd = if is_root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.args(["-n", "apt-get"]);
            sudo
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run("apt-get update", &mut apt(&["update"]))
        .and_then(|()| run("install valgrind", &mut apt(&["install", "-y", "valgrind"])))
        .map_err(|e| format!("{e}; install valgrind by hand (apt-get install valgrind)"))?;
    if has_valgrind() {
        Ok(())
    } else {
        Err("valgrind is still missing after apt-get install".into())
    }
}
