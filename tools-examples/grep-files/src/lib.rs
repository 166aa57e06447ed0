//! `grep-files`: searches the files under a directory (its read bind, `/data` by default) for a
//! text and returns the matching lines with file and line number.
//!
//! The search is a plain substring match (optionally case-insensitive). Files that are not
//! UTF-8 are skipped; so is anything the sandbox refuses (the tool sees only its bind).

use std::path::{Path, PathBuf};

use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// What to search for, and where.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The text to find.
    pattern: String,
    /// Directory to search (default `/data`).
    #[serde(default)]
    root: Option<String>,
    /// Ignore case (ASCII letters).
    #[serde(default)]
    ignore_case: bool,
    /// Most matches to return (default 100).
    #[serde(default)]
    max_matches: Option<usize>,
}

/// One matching line.
#[derive(Serialize, JsonSchema)]
struct Match {
    /// File path (inside the sandbox).
    file: String,
    /// 1-based line number.
    line: usize,
    /// The line (cut at 500 bytes).
    text: String,
}

/// The matches.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// Matching lines, in path order.
    matches: Vec<Match>,
    /// Files searched.
    files_searched: usize,
    /// Whether `max_matches` cut the list.
    truncated: bool,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 16 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            walk(&e.path(), out, depth + 1);
        } else if t.is_file() {
            out.push(e.path());
        }
    }
}

fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn grep_files(input: Input) -> Result<Output, ToolError> {
    if input.pattern.is_empty() {
        return Err(ToolError::invalid_input("`pattern` is empty"));
    }
    let root = PathBuf::from(input.root.as_deref().unwrap_or("/data"));
    if !root.is_dir() {
        return Err(ToolError::failed(format!(
            "{} is not a directory this tool can read",
            root.display()
        )));
    }
    let max = input.max_matches.unwrap_or(100);
    let needle = if input.ignore_case {
        input.pattern.to_ascii_lowercase()
    } else {
        input.pattern.clone()
    };
    let mut files = Vec::new();
    walk(&root, &mut files, 0);
    let mut matches = Vec::new();
    let mut truncated = false;
    let mut searched = 0;
    'files: for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        searched += 1;
        for (i, line) in text.lines().enumerate() {
            let hay = if input.ignore_case {
                line.to_ascii_lowercase()
            } else {
                line.to_string()
            };
            if hay.contains(&needle) {
                if matches.len() == max {
                    truncated = true;
                    break 'files;
                }
                matches.push(Match {
                    file: f.display().to_string(),
                    line: i + 1,
                    text: cut(line, 500),
                });
            }
        }
    }
    Ok(Output {
        matches,
        files_searched: searched,
        truncated,
    })
}

wasmgov_sdk::export_tool!(grep_files);
