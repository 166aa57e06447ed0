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
    } else if let Some(crate::cmd::serve::Failed(f)) = e.downcast_ref() {
        let code = match f {
            wasmgov_serve::ServeError::Bind(..) | wasmgov_serve::ServeError::Stdio(_) => 6,
            _ => 2,
        };
        (f.kind(), code, f.hint())
    } else {
        (
            "internal",
            6,
            Some("please report this with the command that caused it".into()),
        )
    };
    // stderr may be a closed pipe; the exit code still tells what happened.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error[{kind}]: {}", message(e));
    if let Some(h) = hint {
        let _ = writeln!(err, "  hint: {h}");
    }
    code
}

/// `e` and its causes joined by `: `, leaving out a cause whose text is already in the message
/// (library errors usually include their source in their own text).
fn message(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}
