//! Validated names shared by the manifest and the policy: tool names, env var names, guest paths,
//! SHA-256 digests and file access modes. Each type checks its text when it is parsed, so a value
//! that exists is a valid one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Defines a string newtype that validates on parse and (de)serialises as a string.
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $check:path, $schema_desc:literal, $schema_pattern:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $check(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_parsed(d, $schema_desc)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "description": $schema_desc,
                    "pattern": $schema_pattern
                })
            }
        }
    };
}

/// Deserialise a string and parse it with `FromStr` *inside* the deserializer, so that a parse
/// error carries the value's own location (e.g. an array element's) rather than its parent's.
pub(crate) fn deserialize_parsed<'de, D, T>(d: D, expecting: &'static str) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    struct V<T>(&'static str, std::marker::PhantomData<T>);
    impl<T: std::str::FromStr> serde::de::Visitor<'_> for V<T>
    where
        T::Err: fmt::Display,
    {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a string: {}", self.0)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(E::custom)
        }
    }
    d.deserialize_str(V(expecting, std::marker::PhantomData))
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// The longest tool name.
pub const MAX_TOOL_NAME: usize = 64;

fn check_tool_name(s: &str) -> Result<String, NameError> {
    let ok = !s.is_empty()
        && s.len() <= MAX_TOOL_NAME
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(NameError(format!(
            "invalid tool name `{s}`: expected 1-{MAX_TOOL_NAME} characters of a-z, 0-9 and `-`, not starting with `-`"
        )))
    }
}

validated_string!(
    /// A tool name: `[a-z0-9][a-z0-9-]*`, at most 64 characters.
    ToolName,
    check_tool_name,
    "tool name",
    "^[a-z0-9][a-z0-9-]{0,63}$"
);

fn check_env_name(s: &str) -> Result<String, NameError> {
    let mut bytes = s.bytes();
    let ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s.len() <= 128;
    if ok {
        Ok(s.to_owned())
    } else {
        Err(NameError(format!(
            "invalid variable name `{s}`: expected [A-Za-z_][A-Za-z0-9_]*, at most 128 characters"
        )))
    }
}

validated_string!(
    /// An environment variable or secret name: `[A-Za-z_][A-Za-z0-9_]*`.
    EnvVarName,
    check_env_name,
    "environment variable name",
    "^[A-Za-z_][A-Za-z0-9_]*$"
);

fn check_guest_path(s: &str) -> Result<String, NameError> {
    let bad = |why: &str| {
        Err(NameError(format!(
            "invalid guest path `{s}`: {why}; expected an absolute, normalised path like `/data`"
        )))
    };
    if !s.starts_with('/') {
        return bad("not absolute");
    }
    if s.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if s.chars().any(|c| c.is_control() || c == '\\') {
        return bad("contains a control character or `\\`");
    }
    if s == "/" {
        return Ok(s.to_owned());
    }
    if s.ends_with('/') {
        return bad("trailing `/`");
    }
    for part in s[1..].split('/') {
        match part {
            "" => return bad("empty component (`//`)"),
            "." | ".." => return bad("`.` or `..` component"),
            _ => {}
        }
    }
    Ok(s.to_owned())
}

validated_string!(
    /// A path inside the sandbox: absolute, no `.`/`..`/empty components, no trailing `/`.
    GuestPath,
    check_guest_path,
    "absolute guest path without `.` or `..` components",
    "^/([^/\\\\]+(/[^/\\\\]+)*)?$"
);

impl GuestPath {
    /// Whether `self` is `other` or a directory above it (so binding both would overlap).
    pub fn overlaps(&self, other: &GuestPath) -> bool {
        let contains = |a: &str, b: &str| {
            a == b || a == "/" || b.strip_prefix(a).is_some_and(|rest| rest.starts_with('/'))
        };
        contains(&self.0, &other.0) || contains(&other.0, &self.0)
    }
}

fn check_sha256(s: &str) -> Result<String, NameError> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(s.to_owned())
    } else {
        Err(NameError(format!(
            "invalid sha256 `{s}`: expected 64 lowercase hex digits (run `wasmgov pin` to fill it in)"
        )))
    }
}

validated_string!(
    /// A SHA-256 digest as 64 lowercase hex digits.
    Sha256Digest,
    check_sha256,
    "SHA-256 as 64 lowercase hex digits",
    "^[0-9a-f]{64}$"
);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self(hex::encode(sha2::Sha256::digest(bytes)))
    }
}

/// How a directory may be used.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Read files and list directories.
    Read,
    /// Read, create, write, rename and delete.
    ReadWrite,
}

impl Access {
    /// The word used in manifests, policies and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ReadWrite => "read-write",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names() {
        assert!("fetch-weather".parse::<ToolName>().is_ok());
        assert!("0day".parse::<ToolName>().is_ok());
        assert!("a".repeat(64).parse::<ToolName>().is_ok());
        for bad in ["", "-x", "Fetch", "a_b", "a.b", "é", &"a".repeat(65)] {
            assert!(bad.parse::<ToolName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn env_names() {
        assert!("LANG".parse::<EnvVarName>().is_ok());
        assert!("_x9".parse::<EnvVarName>().is_ok());
        for bad in ["", "9A", "A-B", "A B", "A=B"] {
            assert!(bad.parse::<EnvVarName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn guest_paths() {
        for ok in ["/", "/data", "/a/b c/d"] {
            assert!(ok.parse::<GuestPath>().is_ok(), "{ok}");
        }
        for bad in [
            "data", "/data/", "/a//b", "/a/../b", "/./a", "/a/..", "/a\\b", "/a\0",
        ] {
            assert!(bad.parse::<GuestPath>().is_err(), "{bad}");
        }
        let g = |s: &str| s.parse::<GuestPath>().unwrap();
        assert!(g("/data").overlaps(&g("/data/x")));
        assert!(g("/").overlaps(&g("/data")));
        assert!(!g("/data").overlaps(&g("/database")));
    }

    #[test]
    fn digests() {
        let d = Sha256Digest::of(b"abc");
        assert_eq!(
            d.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(d.as_str().to_uppercase().parse::<Sha256Digest>().is_err());
        assert!("abc".parse::<Sha256Digest>().is_err());
    }
}
