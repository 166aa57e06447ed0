//! Bearer tokens: a file of hashed tokens, each with the subject it authenticates.
//!
//! The file holds one token per line, `SUBJECT sha256:HEX`, where HEX is the SHA-256 of the
//! token's text; `#` starts a comment. Tokens themselves are never stored: a leaked file does not
//! let anyone call. A presented token is hashed and compared with every entry in constant time.
//! The file may be readable by its group (a Kubernetes Secret under `fsGroup` is 0440), never by
//! others, and writable only by its owner: whoever can write it can let themselves in.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use wasmgov_runtime::policy::Subject;

/// Most bytes of a token file that are read.
const MAX_TOKENS_FILE: u64 = 1024 * 1024;

/// Bytes of randomness in a token made by [`new_token`].
const TOKEN_BYTES: usize = 32;

/// The prefix of every token made by [`new_token`] (so secret scanners can find leaked ones).
pub const TOKEN_PREFIX: &str = "wgv_";

/// A token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `SUBJECT sha256:HEX`.
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `*` (the policy's "any subject") was asked for as a token's subject.
    #[error("`*` is not a subject a token can have")]
    WildcardSubject,
    /// Others may read the file, or others than its owner write it.
    #[error(
        "{} is readable by others or writable by others than its owner (mode {mode:o})",
        path.display()
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// No randomness for a new token.
    #[error("no randomness for a new token: {0}")]
    Random(String),
}

impl TokenError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            Self::Io { .. } => "check the path and its permissions".into(),
            Self::Malformed { .. } => {
                "each line is `SUBJECT sha256:HEX`; make entries with `wasmgov token add SUBJECT --tokens FILE`"
                    .into()
            }
            Self::Exposed { path, .. } => format!("chmod 600 {}", path.display()),
            Self::Random(_) => "the kernel's random source failed; retry".into(),
            Self::WildcardSubject => {
                "name the caller (`agent-7`); `*` in [[callers]] already means every token".into()
            }
        }
    }
}

/// The authenticated caller of an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's subject.
    pub subject: Subject,
}

/// The hashed tokens of a server.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<(Subject, [u8; 32])>,
}

impl Tokens {
    /// Read a token file. It must not be readable or writable by others.
    pub fn load(path: &Path) -> Result<Self, TokenError> {
        let io = |source| TokenError::Io {
            path: path.to_path_buf(),
            source,
        };
        let f = std::fs::File::open(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = f.metadata().map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o026 != 0 {
                return Err(TokenError::Exposed {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let mut text = String::new();
        use std::io::Read;
        f.take(MAX_TOKENS_FILE)
            .read_to_string(&mut text)
            .map_err(io)?;
        Self::parse(&text).map_err(|(line, message)| TokenError::Malformed {
            path: path.to_path_buf(),
            line,
            message,
        })
    }

    /// Parse the text of a token file; an error is (line, message).
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(subject), Some(hash), None) = (parts.next(), parts.next(), parts.next())
            else {
                return Err((i + 1, "expected `SUBJECT sha256:HEX`".into()));
            };
            let subject: Subject = subject.parse().map_err(|e| (i + 1, e))?;
            if subject.as_str() == "*" {
                return Err((i + 1, "`*` is not a subject a token can have".into()));
            }
            let digest = hash
                .strip_prefix("sha256:")
                .and_then(|h| hex::decode(h).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| (i + 1, format!("`{hash}` is not sha256: and 64 hex digits")))?;
            if entries.iter().any(|(_, d)| *d == digest) {
                return Err((i + 1, "this token hash is listed twice".into()));
            }
            entries.push((subject, digest));
        }
        Ok(Self { entries })
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller a presented token authenticates, if any. Every entry is compared (in constant
    /// time), whichever matches.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (subject, d) in &self.entries {
            if bool::from(d.ct_eq(&digest)) {
                found = Some(subject.clone());
            }
        }
        found.map(|subject| Caller { subject })
    }
}

/// A new random token and the line for its token file.
pub fn new_token(subject: &Subject) -> Result<(String, String), TokenError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let line = format!(
        "{subject} sha256:{}",
        hex::encode(Sha256::digest(token.as_bytes()))
    );
    Ok((token, line))
}

/// Append the line of a new token for `subject` to `path` (created with mode 0600) and return
/// the token.
pub fn add_token(path: &Path, subject: &Subject) -> Result<String, TokenError> {
    // A file holding it would be refused at load.
    if subject.as_str() == "*" {
        return Err(TokenError::WildcardSubject);
    }
    if path.exists() {
        // Refuse to append to a file that would then be refused (or is not a token file).
        Tokens::load(path)?;
    }
    let (token, line) = new_token(subject)?;
    let io = |source| TokenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    use std::io::Write;
    writeln!(f, "{line}").map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_authenticates_its_subject_and_nothing_else() {
        let alice: Subject = "alice".parse().unwrap();
        let (token, line) = new_token(&alice).unwrap();
        let (other, other_line) = new_token(&"bob".parse().unwrap()).unwrap();
        let t = Tokens::parse(&format!("# tokens\n{line}\n\n{other_line}  # bob\n")).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.authenticate(&token).unwrap().subject, alice);
        assert_eq!(t.authenticate(&other).unwrap().subject.as_str(), "bob");
        assert!(t.authenticate("").is_none());
        assert!(t.authenticate(&token[..token.len() - 1]).is_none());
        assert!(t.authenticate(line.split(' ').nth(1).unwrap()).is_none());
    }

    #[test]
    fn malformed_lines_are_refused_with_their_number() {
        for (text, line) in [
            ("alice\n", 1),
            ("ok sha256:00\n", 1),
            ("a b c\n", 1),
            (
                "\n* sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
                2,
            ),
            ("bad subject!\n", 1),
        ] {
            assert_eq!(Tokens::parse(text).unwrap_err().0, line, "{text}");
        }
        let h = "sha256:".to_string() + &"ab".repeat(32);
        assert!(Tokens::parse(&format!("a {h}\nb {h}\n")).is_err());
    }
}
