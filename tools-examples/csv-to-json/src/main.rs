//! `csv-to-json`: a command (`wasi:cli/run`, no SDK) that reads CSV with a header row from stdin
//! and prints a JSON array of objects, one per row, keyed by the header's column names. Values
//! stay strings; column order is kept.
//!
//! CSV: fields separated by `,`, rows by `\n` or `\r\n`; a field may be quoted with `"` (and then
//! contain `,`, line breaks and `""` for a quote). Blank lines are skipped. Malformed input (an
//! unterminated quote, text after a closing quote, a quote inside an unquoted field, a row with
//! the wrong number of fields, a duplicate column name, non-UTF-8 bytes) prints a message on
//! stderr and exits with code 1.

use std::io::{Read, Write};

/// One row and the line it starts on.
type Row = (usize, Vec<String>);

fn parse(input: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false; // the current field was quoted
    let mut line = 1;
    let mut row_line = 1;
    let mut chars = input.chars().peekable();
    loop {
        let c = chars.next();
        match c {
            Some('"') if field.is_empty() && !quoted => {
                let start = line;
                loop {
                    match chars.next() {
                        None => return Err(format!("line {start}: unterminated quoted field")),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            line += usize::from(c == '\n');
                            field.push(c);
                        }
                    }
                }
                quoted = true;
                match chars.peek() {
                    None | Some(',' | '\n' | '\r') => {}
                    Some(c) => return Err(format!("line {line}: `{c}` after a closing quote")),
                }
            }
            Some('"') => return Err(format!("line {line}: quote inside an unquoted field")),
            Some(',') => {
                row.push(std::mem::take(&mut field));
                quoted = false;
            }
            Some('\r') if chars.peek() == Some(&'\n') => {}
            None | Some('\n') => {
                let blank = row.is_empty() && field.is_empty() && !quoted;
                if !blank {
                    row.push(std::mem::take(&mut field));
                    rows.push((row_line, std::mem::take(&mut row)));
                }
                quoted = false;
                if c.is_none() {
                    return Ok(rows);
                }
                line += 1;
                row_line = line;
            }
            Some(c) if quoted => {
                return Err(format!("line {line}: `{c}` after a closing quote"));
            }
            Some(c) => field.push(c),
        }
    }
}

fn to_json(rows: &[Row]) -> Result<String, String> {
    let Some(((_, header), body)) = rows.split_first() else {
        return Ok("[]".to_string());
    };
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            return Err(format!("line 1: duplicate column name {name:?}"));
        }
    }
    let keys: Vec<String> = header.iter().map(|h| json_string(h)).collect();
    let mut out = String::from("[");
    for (n, (line, row)) in body.iter().enumerate() {
        if row.len() != header.len() {
            return Err(format!(
                "line {line}: expected {} fields as in the header, found {}",
                header.len(),
                row.len()
            ));
        }
        out.push_str(if n == 0 { "{" } else { ",{" });
        for (i, (key, value)) in keys.iter().zip(row).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push(':');
            out.push_str(&json_string(value));
        }
        out.push('}');
    }
    out.push(']');
    Ok(out)
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

fn run() -> Result<String, String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| format!("input is not UTF-8: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    to_json(&parse(text)?)
}

fn main() {
    match run() {
        Ok(json) => {
            let mut stdout = std::io::stdout().lock();
            if writeln!(stdout, "{json}")
                .and_then(|()| stdout.flush())
                .is_err()
            {
                std::process::exit(1);
            }
        }
        Err(message) => {
            eprintln!("csv-to-json: {message}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(csv: &str) -> Result<String, String> {
        to_json(&parse(csv)?)
    }

    #[test]
    fn converts() {
        assert_eq!(
            convert("b,a\r\n1,\"x, \"\"y\"\"\nz\"\n\n3,\n").unwrap(),
            r#"[{"b":"1","a":"x, \"y\"\nz"},{"b":"3","a":""}]"#
        );
        assert_eq!(convert("").unwrap(), "[]");
        assert_eq!(convert("a,b").unwrap(), "[]");
        assert_eq!(convert("a\n\"\"").unwrap(), r#"[{"a":""}]"#);
    }

    #[test]
    fn rejects_malformed() {
        assert!(
            convert("a,b\n1,\"2\n")
                .unwrap_err()
                .contains("line 2: unterminated")
        );
        assert!(
            convert("a,b\n1,2\n3\n")
                .unwrap_err()
                .contains("line 3: expected 2")
        );
        assert!(convert("a\n\"x\"y\n").is_err());
        assert!(convert("a\nx\"y\n").is_err());
        assert!(convert("a,a\n1,2\n").is_err());
    }
}
