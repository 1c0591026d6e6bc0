//! `cargo xtask package`: every crate packages as it would publish, and single crates work
//! without the facade (issue 19).
//!
//! - [`package`] first checks that every publishable crate has the metadata crates.io asks for
//!   (description, license, repository, a README that exists, keywords, categories), then runs
//!   `cargo package --workspace --no-verify`: each crate's manifest resolves against a registry
//!   (no path-only dependency, no dev-dependency cycle such as `corio-scope` → `corio` →
//!   `corio-scope`) and its files are all there. The unpublished crates (`publish = false`:
//!   the bench, the stress suite, xtask) are excluded, so that they may keep path-only
//!   dependencies. `--no-verify` skips building the packages, which the tests do anyway;
//!   `--allow-dirty` lets it run on a work tree with uncommitted changes (CI's clean clone needs
//!   no such leave, but it does no harm there).
//! - [`cherry_pick`] builds and runs `xtask/cherry-pick`, a small crate outside the workspace
//!   that uses `corio-sync`, `corio-executor` + `corio-timer`, `corio-blocking` and `corio-scope`
//!   as a user who cherry-picks them would, and first checks with `cargo tree` that the facade is
//!   nowhere in its dependency graph.

use std::path::PathBuf;

use crate::util::{cargo, root, run};

/// `cargo xtask package`: [`package`], then [`cherry_pick`].
pub(crate) fn package_and_cherry_pick(args: &[String]) -> Result<(), String> {
    if let Some(unknown) = args.first() {
        return Err(format!("package takes no options (got `{unknown}`)"));
    }
    package()?;
    cherry_pick()?;
    eprintln!("\nxtask package: every crate packages, and the cherry-picked crates work");
    Ok(())
}

/// The metadata check, then `cargo package --workspace --no-verify` over the publishable crates.
pub(crate) fn package() -> Result<(), String> {
    let members = members()?;
    let mut missing = Vec::new();
    for member in members.iter().filter(|m| m.publish) {
        for field in REQUIRED {
            if !member.fields.iter().any(|f| f == field) {
                missing.push(format!("{}: no `{field}`", member.name));
            }
        }
        if let Some(readme) = &member.readme {
            if !member.dir.join(readme).is_file() {
                missing.push(format!("{}: its readme `{readme}` is missing", member.name));
            }
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "package: metadata crates.io asks for is missing:\n  {}",
            missing.join("\n  ")
        ));
    }
    let mut cmd = cargo();
    cmd.args(["package", "--workspace", "--no-verify", "--allow-dirty"]);
    for member in members.iter().filter(|m| !m.publish) {
        cmd.args(["--exclude", &member.name]);
    }
    run("package", &mut cmd)
}

/// The `[package]` keys every publishable crate must set (directly or through the workspace).
const REQUIRED: [&str; 6] = [
    "description",
    "license",
    "repository",
    "readme",
    "keywords",
    "categories",
];

/// A workspace member, as far as the metadata check needs it.
struct Member {
    name: String,
    dir: PathBuf,
    publish: bool,
    /// The `readme` path, relative to `dir`.
    readme: Option<String>,
    /// The keys set in its `[package]` table (`license.workspace = true` counts as `license`).
    fields: Vec<String>,
}

/// The workspace members (`crates/*` and `xtask`), read from their manifests. A plain text scan
/// of the `[package]` table: xtask has no TOML parser, and these manifests keep one key a line.
fn members() -> Result<Vec<Member>, String> {
    let crates = root().join("crates");
    let entries = std::fs::read_dir(&crates)
        .map_err(|e| format!("package: cannot list {}: {e}", crates.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    dirs.push(root().join("xtask"));
    dirs.sort();
    let mut members = Vec::new();
    for dir in dirs {
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| format!("package: cannot read {}: {e}", manifest.display()))?;
        let mut in_package = false;
        let (mut name, mut publish, mut readme, mut fields) = (None, true, None, Vec::new());
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_package = line == "[package]";
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if !in_package || line.starts_with('#') {
                continue;
            }
            let key = key.trim().trim_end_matches(".workspace").to_owned();
            let value = value.trim();
            match key.as_str() {
                "name" => name = Some(value.trim_matches('"').to_owned()),
                "publish" if value == "false" => publish = false,
                "readme" => readme = Some(value.trim_matches('"').to_owned()),
                _ => {}
            }
            fields.push(key);
        }
        let name = name.ok_or_else(|| format!("package: no name in {}", manifest.display()))?;
        members.push(Member {
            name,
            dir,
            publish,
            readme,
            fields,
        });
    }
    Ok(members)
}

/// The facade, which the cherry-picking crate must not pull in, not even indirectly.
const FACADE: &str = "corio";

/// Builds and runs `xtask/cherry-pick` in its own target directory (`cherry-pick` under ours):
/// it is its own workspace, with its own feature resolution, so it shares no artifacts with ours.
pub(crate) fn cherry_pick() -> Result<(), String> {
    let manifest = cherry_pick_manifest();
    let manifest = manifest
        .to_str()
        .ok_or("cherry-pick: the manifest path is not UTF-8")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("cherry-pick");

    eprintln!("\n==> cherry-pick: no `{FACADE}` in the dependency graph");
    let output = cargo()
        .args([
            "tree",
            "--manifest-path",
            manifest,
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .map_err(|e| format!("cherry-pick: could not run cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cherry-pick: cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    if tree
        .lines()
        .any(|line| line.split_whitespace().next() == Some(FACADE))
    {
        return Err(format!(
            "cherry-pick: the `{FACADE}` facade is in the dependency graph:\n{tree}"
        ));
    }

    run(
        "cherry-pick",
        cargo()
            .args(["run", "--quiet", "--manifest-path", manifest])
            .env("CARGO_TARGET_DIR", &target),
    )
}

fn cherry_pick_manifest() -> PathBuf {
    root().join("xtask").join("cherry-pick").join("Cargo.toml")
}

#[cfg(test)]
mod tests {
    use super::members;

    /// Issue 19's policy: every library crate publishes; only the harnesses do not.
    #[test]
    fn only_the_harnesses_are_unpublished() {
        let members = members().unwrap();
        let mut unpublished: Vec<&str> = members
            .iter()
            .filter(|m| !m.publish)
            .map(|m| m.name.as_str())
            .collect();
        unpublished.sort_unstable();
        assert_eq!(unpublished, ["corio-bench", "corio-stress", "xtask"]);
        let facade = members.iter().find(|m| m.name == "corio").unwrap();
        assert_eq!(facade.readme.as_deref(), Some("../../README.md"));
        assert!(
            facade.fields.iter().any(|f| f == "license"),
            "`license.workspace = true` counts"
        );
    }
}
