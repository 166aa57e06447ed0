//! A progress bar on stderr for long reads of big logs (`audit verify`, `show`, `report`): shown only
//! when stderr is a terminal and the file is big enough to take a while, so a pipe or a log file
//! never gets anything extra.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

/// Files smaller than this are read without a bar (they take well under a second).
const MIN_BYTES: u64 = 16 * 1024 * 1024;

/// A bar over the bytes of `path`, labelled `what`; hidden unless stderr is a terminal and the
/// file is big.
pub fn for_file(path: &Path, what: &str) -> ProgressBar {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if len < MIN_BYTES || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{msg} [{bar:32}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    ProgressBar::new(len)
        .with_style(style)
        .with_message(what.to_owned())
}
