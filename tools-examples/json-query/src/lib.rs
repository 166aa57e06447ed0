//! `json-query`: extracts a value from JSON data with a small path language.
//!
//! Input `{"data": <any JSON>, "path": "a.b[0].c"}`; output `{"found": bool, "value": <JSON>}`
//! (`value` is `null` when nothing is found). Path syntax:
//! - `key` or `.key` — an object member (any characters except `.`, `[`, `]`);
//! - `["key"]` — an object member whose name needs quoting (JSON string syntax);
//! - `[N]` — an array element; negative `N` counts from the end (`[-1]` is the last);
//! - `[*]` — every element of an array (or every member value of an object); the rest of the
//!   path is applied to each and the matches are collected into an array.
//!
//! The empty path selects `data` itself. A malformed path is `invalid-input`.

use wasmgov_sdk::serde_json::{self, Value};
use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// The data and the path to look up.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Any JSON value.
    data: Value,
    /// Path such as `a.b[0].c`, `items[*].id`, `["key.with.dots"]`, `list[-1]`.
    path: String,
}

/// The result of the lookup.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// Whether the path matched.
    found: bool,
    /// The matched value (`null` when not found; an array for `[*]`).
    value: Value,
}

#[derive(Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(i64),
    All,
}

fn parse(path: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut rest = path;
    let mut first = true;
    while !rest.is_empty() {
        let at = path.len() - rest.len();
        if let Some(after) = rest.strip_prefix('[') {
            let (segment, after) = parse_bracket(after, at)?;
            segments.push(segment);
            rest = after;
        } else {
            let after = match rest.strip_prefix('.') {
                Some(after) => after,
                None if first => rest,
                None => return Err(format!("expected `.` or `[` at offset {at}")),
            };
            let end = after.find(['.', '[', ']']).unwrap_or(after.len());
            if after[end..].starts_with(']') {
                return Err(format!(
                    "unexpected `]` at offset {}",
                    path.len() - after.len() + end
                ));
            }
            if end == 0 {
                return Err(format!("empty key at offset {at}"));
            }
            segments.push(Segment::Key(after[..end].to_string()));
            rest = &after[end..];
        }
        first = false;
    }
    Ok(segments)
}

/// Parses what follows a `[` that starts at offset `at`; returns the segment and the rest.
fn parse_bracket(s: &str, at: usize) -> Result<(Segment, &str), String> {
    if let Some(quoted) = s.strip_prefix('"') {
        // A JSON string: find the closing quote, skipping escaped characters.
        let mut escaped = false;
        let close = quoted
            .char_indices()
            .find(|&(_, c)| {
                let end = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                end
            })
            .map(|(i, _)| i + 2)
            .ok_or_else(|| format!("unterminated quoted key at offset {at}"))?;
        let key: String = serde_json::from_str(&s[..close])
            .map_err(|e| format!("bad quoted key at offset {at}: {e}"))?;
        let rest = s[close..]
            .strip_prefix(']')
            .ok_or_else(|| format!("expected `]` after the quoted key at offset {at}"))?;
        return Ok((Segment::Key(key), rest));
    }
    let close = s
        .find(']')
        .ok_or_else(|| format!("unclosed `[` at offset {at}"))?;
    let inner = s[..close].trim();
    let segment = if inner == "*" {
        Segment::All
    } else {
        let valid = !inner.is_empty()
            && inner
                .strip_prefix('-')
                .unwrap_or(inner)
                .bytes()
                .all(|b| b.is_ascii_digit());
        match inner.parse::<i64>() {
            Ok(n) if valid => Segment::Index(n),
            _ => {
                return Err(format!(
                    "`[{inner}]` at offset {at} is not an index, `*` or a quoted key"
                ));
            }
        }
    };
    Ok((segment, &s[close + 1..]))
}

fn lookup(value: &Value, path: &[Segment]) -> Option<Value> {
    let Some((segment, rest)) = path.split_first() else {
        return Some(value.clone());
    };
    match segment {
        Segment::Key(key) => lookup(value.as_object()?.get(key)?, rest),
        Segment::Index(i) => {
            let items = value.as_array()?;
            let index = if *i < 0 {
                items.len().checked_sub(i.unsigned_abs() as usize)?
            } else {
                *i as usize
            };
            lookup(items.get(index)?, rest)
        }
        Segment::All => {
            let items: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                Value::Object(members) => members.values().collect(),
                _ => return None,
            };
            Some(Value::Array(
                items.into_iter().filter_map(|v| lookup(v, rest)).collect(),
            ))
        }
    }
}

fn json_query(input: Input) -> Result<Output, ToolError> {
    let path = parse(&input.path)
        .map_err(|e| ToolError::invalid_input(format!("malformed path `{}`: {e}", input.path)))?;
    Ok(match lookup(&input.data, &path) {
        Some(value) => Output { found: true, value },
        None => Output {
            found: false,
            value: Value::Null,
        },
    })
}

wasmgov_sdk::export_tool!(json_query);

#[cfg(test)]
mod tests {
    use super::*;
    use wasmgov_sdk::serde_json::json;

    fn query(data: Value, path: &str) -> Result<Value, ToolError> {
        let input = json!({ "data": data, "path": path }).to_string();
        wasmgov_sdk::invoke(json_query, &input).map(|s| serde_json::from_str(&s).unwrap())
    }

    #[test]
    fn paths() {
        let data = json!({"a": {"b": [{"c": 1}, {"c": 2}, {"d": 3}]}, "x.y": true});
        assert_eq!(
            query(data.clone(), "a.b[0].c").unwrap(),
            json!({"found": true, "value": 1})
        );
        assert_eq!(query(data.clone(), "a.b[-1].d").unwrap()["value"], 3);
        assert_eq!(
            query(data.clone(), "a.b[*].c").unwrap()["value"],
            json!([1, 2])
        );
        assert_eq!(query(data.clone(), r#"["x.y"]"#).unwrap()["value"], true);
        assert_eq!(query(data.clone(), "").unwrap()["value"], data);
        assert_eq!(
            query(data.clone(), "a.z").unwrap(),
            json!({"found": false, "value": null})
        );
        assert_eq!(query(data, "a.b[9]").unwrap()["found"], false);
    }

    #[test]
    fn malformed_paths() {
        for path in [
            "a..b", "a.", ".", "a[", "a[x]", "a[1", "a]b", "a[\"k]", "a[0]b", "[]",
        ] {
            assert!(
                matches!(query(json!({}), path), Err(ToolError::InvalidInput(_))),
                "{path}"
            );
        }
    }
}
