//! `write-note`: appends a timestamped-free note (one line or more) to a file in its
//! read-write bind (`/notes`), creating the file if needed.
//!
//! The file name is a plain name (`[A-Za-z0-9._-]`, no `/`, not starting with `.`), so a note
//! cannot be aimed at another directory; the sandbox would refuse that anyway.

use std::io::Write;

use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// The note.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// File name inside `/notes`, e.g. `todo.md`.
    file: String,
    /// Text to append; a line break is added if it does not end with one.
    text: String,
}

/// What was written.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// The file (inside the sandbox).
    path: String,
    /// Bytes appended.
    bytes_written: usize,
    /// File size after the append.
    size: u64,
}

const DIR: &str = "/notes";

fn write_note(input: Input) -> Result<Output, ToolError> {
    let name_ok = !input.file.is_empty()
        && input.file.len() <= 128
        && !input.file.starts_with('.')
        && input
            .file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !name_ok {
        return Err(ToolError::invalid_input(
            "`file` must be a plain file name of letters, digits, `.`, `_` and `-`",
        ));
    }
    let mut text = input.text;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let path = format!("{DIR}/{}", input.file);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| ToolError::failed(format!("cannot open {path}: {e}")))?;
    f.write_all(text.as_bytes())
        .map_err(|e| ToolError::failed(format!("cannot write {path}: {e}")))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(Output {
        path,
        bytes_written: text.len(),
        size,
    })
}

wasmgov_sdk::export_tool!(write_note);
