//! Small helpers shared by the tasks.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The workspace root (the parent of `xtask/`).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The `cargo` that runs us, so that toolchain overrides are honoured.
pub(crate) fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root());
    cmd
}

/// Runs a command to completion, echoing it first and timing it.
pub(crate) fn run(step: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("\n==> {step}: {cmd:?}");
    let start = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: could not start {cmd:?}: {e}"))?;
    eprintln!("<== {step}: {status} in {:.1?}", start.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// Whether this process runs as root (which `apt-get install` needs).
pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The path of `program` on the PATH; when it is missing, installs Debian's `package` with
/// apt-get first (root only), so that a fresh machine needs no manual step.
pub(crate) fn ensure_debian_tool(program: &str, package: &str) -> Result<PathBuf, String> {
    let find = || {
        std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|dir| dir.join(program))
            .find(|exe| exe.is_file())
    };
    if let Some(exe) = find() {
        return Ok(exe);
    }
    if !is_root() {
        return Err(format!(
            "{program} is not installed, and only root can install it: apt-get install {package}"
        ));
    }
    run("apt-get update", Command::new("apt-get").arg("update"))?;
    run(
        &format!("apt-get install {package}"),
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    find().ok_or_else(|| format!("installed {package}, but {program} is not on the PATH"))
}

/// Replaces the part of `docs/BENCHMARKS.md` between the markers `begin` and `end` (markers
/// included) with `section`, or appends `section` if the markers are missing.
pub(crate) fn record_section(begin: &str, end: &str, section: &str) -> Result<(), String> {
    let path = root().join("docs/BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, replace_section(&old, begin, end, section))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote a section of {}", path.display());
    Ok(())
}

fn replace_section(old: &str, begin: &str, end: &str, section: &str) -> String {
    match (old.find(begin), old.find(end)) {
        (Some(start), Some(stop)) if stop > start => {
            let mut stop = stop + end.len();
            if old[stop..].starts_with('\n') {
                stop += 1;
            }
            format!("{}{section}{}", &old[..start], &old[stop..])
        }
        _ => format!("{old}\n{section}"),
    }
}

/// The target directory cargo builds into: `CARGO_TARGET_DIR` (relative to the workspace root,
/// where cargo runs; an absolute one replaces it), else `<root>/target`.
pub(crate) fn target_dir() -> PathBuf {
    target_dir_from(std::env::var_os("CARGO_TARGET_DIR").as_deref(), &root())
}

fn target_dir_from(env: Option<&std::ffi::OsStr>, root: &Path) -> PathBuf {
    match env.filter(|v| !v.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

#[cfg(test)]
mod target_dir_tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_between_its_markers_or_appended() {
        let old = "head\n<!-- a -->\nold\n<!-- /a -->\ntail\n";
        assert_eq!(
            replace_section(
                old,
                "<!-- a -->",
                "<!-- /a -->",
                "<!-- a -->\nnew\n<!-- /a -->\n"
            ),
            "head\n<!-- a -->\nnew\n<!-- /a -->\ntail\n"
        );
        assert_eq!(
            replace_section("head\n", "<!-- a -->", "<!-- /a -->", "S\n"),
            "head\n\nS\n"
        );
    }

    #[test]
    fn the_target_dir_follows_cargo_target_dir() {
        let root = Path::new("/w");
        assert_eq!(target_dir_from(None, root), PathBuf::from("/w/target"));
        assert_eq!(
            target_dir_from(Some("".as_ref()), root),
            PathBuf::from("/w/target")
        );
        assert_eq!(
            target_dir_from(Some("/tmp/t".as_ref()), root),
            PathBuf::from("/tmp/t")
        );
        assert_eq!(
            target_dir_from(Some("t2".as_ref()), root),
            PathBuf::from("/w/t2")
        );
    }
}
