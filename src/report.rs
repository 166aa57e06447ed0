//! How the CLI reports an error: `error[KIND]: message` and a hint on stderr, and the exit code
//! of DESIGN.md's table.

use std::io::Write;

use wasmgov::Error;

/// A mistake in how wasmgov was invoked (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Usage {
    /// What is wrong.
    pub message: String,
    /// What to do instead.
    pub hint: Option<String>,
}

/// Build a usage error.
pub fn usage(message: impl Into<String>, hint: impl Into<Option<String>>) -> anyhow::Error {
    Usage {
        message: message.into(),
        hint: hint.into(),
    }
    .into()
}

/// Print `e` and return its exit code.
pub fn error(e: &anyhow::Error) -> i32 {
    let (kind, code, hint) = if let Some(w) = e.downcast_ref::<Error>() {
        (w.kind(), w.exit_code(), w.hint())
    } else if let Some(u) = e.downcast_ref::<Usage>() {
        ("usage", 2, u.hint.clone())
    } else {
        (
            "internal",
            6,
            Some("please report this with the command that caused it".into()),
        )
    };
    // stderr may be a closed pipe; the exit code still tells what happened.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error[{kind}]: {e:#}");
    if let Some(h) = hint {
        let _ = writeln!(err, "  hint: {h}");
    }
    code
}
