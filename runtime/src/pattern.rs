//! OpenSSH-style wildcard patterns, as `allowed_signers` principals and namespaces use them.
//!
//! A pattern matches a whole string; `*` matches any run of characters (also none) and `?` matches
//! exactly one. A pattern list is comma-separated; a `!` in front of a pattern negates it, and a
//! negated match wins over every positive match (OpenSSH's `match_pattern_list`). Matching is
//! case-sensitive and byte-wise, as `ssh-keygen -Y verify` matches principals and namespaces: `?`
//! is one byte, so it does not match a multi-byte UTF-8 character. A pattern of
//! [`MAX_PATTERN_LEN`] bytes or more is refused: OpenSSH never matches a line that has one.

use std::fmt;

/// The longest pattern (without its `!`) OpenSSH's `match_pattern_list` can match is one byte
/// shorter than this; for a longer one it returns "no match" for the whole list.
pub const MAX_PATTERN_LEN: usize = 1023;

/// Whether `text` matches the wildcard `pattern` (`*` and `?`, each over bytes), over whole strings.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0usize, 0usize);
    // Position of the last `*` seen and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A comma-separated list of wildcard patterns, each optionally negated with a leading `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternList {
    patterns: Vec<String>,
}

/// Why a pattern list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternListError(String);

impl PatternList {
    /// Parse `a,b*,!c`. Empty elements (`a,,b`, a trailing comma) are refused.
    pub fn parse(list: &str) -> Result<Self, PatternListError> {
        if list.is_empty() {
            return Err(PatternListError("empty pattern list".into()));
        }
        let mut patterns = Vec::new();
        for part in list.split(',') {
            let bare = part.strip_prefix('!').unwrap_or(part);
            if bare.is_empty() {
                return Err(PatternListError(format!("empty pattern in list `{list}`")));
            }
            if bare.len() >= MAX_PATTERN_LEN {
                return Err(PatternListError(format!(
                    "pattern `{}…` is {} bytes; OpenSSH matches nothing against a pattern of {MAX_PATTERN_LEN} bytes or more",
                    bare.chars().take(16).collect::<String>(),
                    bare.len()
                )));
            }
            if part.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(PatternListError(format!(
                    "pattern `{part}` contains whitespace or a control character"
                )));
            }
            patterns.push(part.to_owned());
        }
        Ok(Self { patterns })
    }

    /// Whether `text` matches: some positive pattern matches and no negated one does.
    pub fn matches(&self, text: &str) -> bool {
        let mut positive = false;
        for p in &self.patterns {
            if let Some(neg) = p.strip_prefix('!') {
                if wildcard_match(neg, text) {
                    return false;
                }
            } else if wildcard_match(p, text) {
                positive = true;
            }
        }
        positive
    }

    /// The patterns as written, negations included.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

impl fmt::Display for PatternList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.patterns.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_whole_strings() {
        assert!(wildcard_match("alice@example.com", "alice@example.com"));
        assert!(!wildcard_match("alice@example.com", "alice@example.co"));
        assert!(wildcard_match("*@example.com", "bob@example.com"));
        assert!(!wildcard_match("*@example.com", "bob@example.com.evil"));
        assert!(wildcard_match("search-*", "search-"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(!wildcard_match("", "a"));
    }

    #[test]
    fn negation_beats_positive_matches() {
        let l = PatternList::parse("*@example.com,!mallory@example.com").unwrap();
        assert!(l.matches("alice@example.com"));
        assert!(!l.matches("mallory@example.com"));
        assert!(!l.matches("alice@other.org"));
        let only_neg = PatternList::parse("!x").unwrap();
        assert!(!only_neg.matches("y"));
    }

    /// As OpenSSH's match_pattern: `?` is one byte (a regression found by the differential test).
    #[test]
    fn question_mark_is_one_byte() {
        assert!(!wildcard_match("?ser@example.com", "üser@example.com"));
        assert!(wildcard_match("??ser@example.com", "üser@example.com"));
        assert!(wildcard_match("*ser@example.com", "üser@example.com"));
        assert!(wildcard_match("üser@example.co?", "üser@example.com"));
    }

    /// OpenSSH never matches a list with a pattern of 1023+ bytes, so wasmgov refuses it.
    #[test]
    fn overlong_patterns_are_refused() {
        let long = "a".repeat(MAX_PATTERN_LEN);
        assert!(PatternList::parse(&format!("{long},alice@example.com")).is_err());
        assert!(PatternList::parse(&format!("alice@example.com,!{long}")).is_err());
        assert!(PatternList::parse(&"a".repeat(MAX_PATTERN_LEN - 1)).is_ok());
    }

    #[test]
    fn empty_elements_are_refused() {
        assert!(PatternList::parse("").is_err());
        assert!(PatternList::parse("a,,b").is_err());
        assert!(PatternList::parse("a,").is_err());
        assert!(PatternList::parse("!").is_err());
    }
}
