//! Errors that name their paths.

use std::io;
use std::path::Path;

/// Wraps an OS error: same `kind()`, and a message that says what failed on which path, e.g.
/// "failed to open `/x/y`: No such file or directory (os error 2)".
pub(crate) fn at(err: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("failed to {what} `{}`: {err}", path.display()),
    )
}

/// The same for operations on two paths: "failed to rename `a` to `b`: ...".
pub(crate) fn between(err: io::Error, what: &str, from: &Path, to: &Path) -> io::Error {
    io::Error::new(
        err.kind(),
        format!(
            "failed to {what} `{}` to `{}`: {err}",
            from.display(),
            to.display()
        ),
    )
}

/// For a file opened without a known path (`File::from_std`).
pub(crate) fn at_opt(err: io::Error, what: &str, path: Option<&Path>) -> io::Error {
    match path {
        Some(path) => at(err, what, path),
        None => io::Error::new(err.kind(), format!("failed to {what} a file: {err}")),
    }
}
