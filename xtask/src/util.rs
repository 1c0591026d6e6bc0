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
