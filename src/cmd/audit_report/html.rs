//! Text from an audit log, made safe to put in an HTML page.
//!
//! Every string in a log is attacker-controlled: a tool's name, a path it opened, a host it
//! asked for, a refusal's reason quoting either. [`text`] is the only way log text enters the
//! page, and its output is safe both as element content and inside a double- or single-quoted
//! attribute: `&`, `<`, `>`, `"` and `'` become character references, so no log string can close
//! an element or an attribute, or open a tag. Control characters and the Unicode bidirectional
//! overrides are shown as escapes (`\u{1b}`, `\u{202e}`), so a record cannot hide or reorder
//! text on the page; very long strings are cut (with `…`), so one record cannot flood it.

use std::fmt::Write;

/// Most characters of one log string shown.
const MAX_CHARS: usize = 400;

/// `s` escaped for HTML text and quoted attributes, control and bidi characters made visible,
/// cut to [`MAX_CHARS`].
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() || is_bidi_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The characters that reorder the text around them (embeddings, overrides, isolates, marks).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn markup_quotes_controls_and_overrides_from_a_log_are_inert() {
        let got = text("<script>alert('x')</script>\"&\u{1b}[2J\n\u{202e}gpj.exe");
        assert_eq!(
            got,
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;\\u{1b}[2J\\u{a}\\u{202e}gpj.exe"
        );
        for bad in ['<', '>', '"', '\'', '\u{1b}', '\n', '\u{202e}'] {
            assert!(!got.contains(bad), "{bad:?} in {got}");
        }
    }

    #[test]
    fn a_huge_string_is_cut() {
        let got = text(&"a".repeat(10_000));
        assert_eq!(got.chars().count(), super::MAX_CHARS + 1);
        assert!(got.ends_with('…'));
    }
}
