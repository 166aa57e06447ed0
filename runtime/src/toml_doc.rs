//! Strict reading of TOML documents (manifests, policies) with errors that name the field and line.
//!
//! The bytes are checked first (size cap, no BOM, UTF-8), then parsed once into a spanned tree
//! (`toml::de::DeTable`) used only to locate errors, then deserialised with serde. An error's
//! byte span is turned into a line number and into the dotted path of the deepest key or array
//! element that contains it, such as `fs[1].guest`.

use std::fmt;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// An error in a TOML document, with the field path and the 1-based line where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError {
    /// Dotted path of the offending field, e.g. `tool.name` or `fs[0].guest`.
    pub field: Option<String>,
    /// 1-based line of the offending text.
    pub line: Option<usize>,
    /// What is wrong, in words.
    pub message: String,
}

impl DocError {
    /// An error not tied to a place in the text.
    pub fn whole(message: impl Into<String>) -> Self {
        Self {
            field: None,
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.field, self.line) {
            (Some(field), Some(line)) => write!(f, "{field} (line {line}): {}", self.message),
            (Some(field), None) => write!(f, "{field}: {}", self.message),
            (None, Some(line)) => write!(f, "line {line}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DocError {}

/// Check the raw bytes of a document: at most `max` bytes, no UTF-8 BOM, valid UTF-8.
pub(crate) fn check_bytes<'a>(
    bytes: &'a [u8],
    max: usize,
    what: &str,
) -> Result<&'a str, DocError> {
    if bytes.len() > max {
        // Callers may read only one byte past the limit, so the size read says nothing more.
        return Err(DocError::whole(format!(
            "{what} is over the limit of {max} bytes"
        )));
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(DocError {
            field: None,
            line: Some(1),
            message: format!(
                "{what} starts with a UTF-8 byte order mark (BOM); save it as UTF-8 without BOM"
            ),
        });
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        DocError {
            field: None,
            line: Some(line_of(bytes, at)),
            message: format!("{what} is not valid UTF-8 (byte offset {at})"),
        }
    })
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A parsed document kept for locating fields in error messages.
pub(crate) struct Located<'a> {
    text: &'a str,
    tree: Option<Spanned<DeTable<'a>>>,
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_owned()));
        }
        for idx in rest.split('[').filter(|x| !x.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                segs.push(Seg::Index(i));
            }
        }
    }
    segs
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end.max(outer.start + 1)
}

/// The deepest path under `value` whose key or value span contains `target`.
fn deepest(value: &DeValue<'_>, target: &Range<usize>, prefix: &mut Vec<Seg>, best: &mut Vec<Seg>) {
    let mut visit = |seg: Seg,
                     key_span: Option<Range<usize>>,
                     v: &Spanned<DeValue<'_>>,
                     prefix: &mut Vec<Seg>| {
        prefix.push(seg);
        let hit = key_span.is_some_and(|k| contains(&k, target)) || contains(&v.span(), target);
        if hit && prefix.len() > best.len() {
            *best = prefix.clone();
        }
        deepest(v.get_ref(), target, prefix, best);
        prefix.pop();
    };
    match value {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                visit(Seg::Key(k.get_ref().to_string()), Some(k.span()), v, prefix);
            }
        }
        DeValue::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                visit(Seg::Index(i), None, v, prefix);
            }
        }
        _ => {}
    }
}

impl<'a> Located<'a> {
    /// Parse `text` into a spanned tree; a syntax error (or duplicate key) is returned located.
    pub(crate) fn parse(text: &'a str) -> Result<Self, DocError> {
        match DeTable::parse(text) {
            Ok(tree) => Ok(Self {
                text,
                tree: Some(tree),
            }),
            Err(e) => Err(Self { text, tree: None }.locate_toml_error(&e)),
        }
    }

    /// The value at `path` (e.g. `schema`), if present.
    pub(crate) fn value(&self, path: &str) -> Option<&Spanned<DeValue<'a>>> {
        let tree = self.tree.as_ref()?;
        let mut cur: Option<&Spanned<DeValue<'a>>> = None;
        for seg in parse_path(path) {
            let next = match (cur.map(|c| c.get_ref()), &seg) {
                (None, Seg::Key(k)) => tree.get_ref().get(k.as_str()),
                (Some(DeValue::Table(t)), Seg::Key(k)) => t.get(k.as_str()),
                (Some(DeValue::Array(a)), Seg::Index(i)) => a.get(*i),
                _ => None,
            };
            cur = Some(next?);
        }
        cur
    }

    /// The 1-based line of the value at `path`, if present.
    pub(crate) fn line_of_path(&self, path: &str) -> Option<usize> {
        self.value(path)
            .map(|v| line_of(self.text.as_bytes(), v.span().start))
    }

    /// An error about the field at `path` (a dotted path such as `fs[1].guest`).
    pub(crate) fn error_at(&self, path: &str, message: impl Into<String>) -> DocError {
        DocError {
            field: Some(path.to_owned()),
            line: self.line_of_path(path),
            message: message.into(),
        }
    }

    /// Turn a `toml` error into a located one.
    pub(crate) fn locate_toml_error(&self, e: &toml::de::Error) -> DocError {
        let Some(span) = e.span() else {
            return DocError::whole(e.message().trim());
        };
        let line = line_of(self.text.as_bytes(), span.start);
        let field = self.tree.as_ref().and_then(|tree| {
            let mut best = Vec::new();
            deepest(
                &DeValue::Table(tree.get_ref().clone()),
                &span,
                &mut Vec::new(),
                &mut best,
            );
            (!best.is_empty()).then(|| render(&best))
        });
        let mut message = e.message().trim().to_owned();
        // toml says only "duplicate key"; the span holds which one.
        if message == "duplicate key"
            && let Some(key) = self.text.get(span).map(str::trim)
            && !key.is_empty()
            && !key.contains('\n')
        {
            message = format!("duplicate key `{key}`");
        }
        DocError {
            field,
            line: Some(line),
            message,
        }
    }

    /// Deserialise the document with serde, locating any error.
    pub(crate) fn deserialize<T: DeserializeOwned>(&self) -> Result<T, DocError> {
        toml::from_str(self.text).map_err(|e| self.locate_toml_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        a: Inner,
        #[serde(default)]
        items: Vec<Item>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: crate::names::ToolName,
    }

    fn err(text: &str) -> DocError {
        let loc = Located::parse(text);
        match loc {
            Err(e) => e,
            Ok(l) => l.deserialize::<Doc>().unwrap_err(),
        }
    }

    #[test]
    fn errors_name_field_and_line() {
        let e = err("[a]\nn = 1\n\n[[items]]\nname = \"ok\"\n\n[[items]]\nname = \"Bad\"\n");
        assert_eq!(e.field.as_deref(), Some("items[1].name"), "{e}");
        assert_eq!(e.line, Some(8), "{e}");
        assert!(e.message.contains("invalid tool name"), "{e}");

        let e = err("[a]\nn = 1\nnetwrok = 2\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("netwrok"), "{e}");

        let e = err("[a]\nn = 1\nn = 2\n");
        assert_eq!(e.line, Some(3), "{e}");

        let e = err("[a]\nn = \"x\"\n");
        assert_eq!(e.field.as_deref(), Some("a.n"), "{e}");
    }

    #[test]
    fn bytes_are_checked() {
        assert!(check_bytes(b"\xEF\xBB\xBFa = 1", 100, "x").is_err());
        assert!(check_bytes(b"a = \"\xff\"", 100, "x").is_err());
        assert!(check_bytes(&[b' '; 101], 100, "x").is_err());
        assert!(check_bytes(b"a = 1", 100, "x").is_ok());
    }

    #[test]
    fn paths_round_trip() {
        assert_eq!(render(&parse_path("fs[1].guest")), "fs[1].guest");
        assert_eq!(render(&parse_path("tool.name")), "tool.name");
    }
}
