//! Network allow-list patterns: `scheme://host[:port]`.
//!
//! The scheme is `http`, `https` or `tcp`. The host is a DNS name, an IPv4 address or a bracketed
//! IPv6 address; a DNS name may start with one wildcard label `*.`, which matches one or more
//! labels (`*.example.com` matches `api.example.com` and `a.b.example.com`, not `example.com`).
//! The port defaults to 80 for `http` and 443 for `https`; `tcp` needs one. No path, query,
//! fragment or user info. Names are compared in lower case; a pattern is stored normalised, so
//! `Display` prints it with its port, e.g. `https://api.weather.gov:443`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use wasmgov_host_api::net;

/// A URL scheme a tool may connect with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
    /// A raw TCP stream.
    Tcp,
}

impl Scheme {
    /// The scheme as written in a pattern.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Tcp => "tcp",
        }
    }

    /// The port used when a pattern names none (`None` for `tcp`).
    pub fn default_port(self) -> Option<u16> {
        match self {
            Self::Http => Some(80),
            Self::Https => Some(443),
            Self::Tcp => None,
        }
    }
}

impl FromStr for Scheme {
    type Err = NetPatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Ok(Self::Http),
            "https" => Ok(Self::Https),
            "tcp" => Ok(Self::Tcp),
            _ => Err(NetPatternError(format!(
                "unsupported scheme `{s}`: expected http, https or tcp"
            ))),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostPattern {
    /// One DNS name (lower case, no trailing dot).
    Name(String),
    /// `*.suffix`: any name with one or more labels in front of `suffix`.
    Wildcard(String),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written in brackets).
    Ipv6(Ipv6Addr),
}

impl HostPattern {
    /// Whether `host` (a name or an address literal, IPv6 with or without brackets) matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self {
            Self::Name(n) => *n == host,
            Self::Wildcard(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|front| front.strip_suffix('.'))
                .is_some_and(|front| !front.is_empty()),
            Self::Ipv4(a) => host.parse::<Ipv4Addr>().is_ok_and(|h| h == *a),
            Self::Ipv6(a) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<Ipv6Addr>()
                .is_ok_and(|h| h == *a),
        }
    }

    /// Whether every host matched by `other` is matched by `self`.
    pub fn covers(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (Self::Wildcard(s), Self::Name(n)) => Self::Wildcard(s.clone()).matches(n),
            (Self::Wildcard(s), Self::Wildcard(o)) => {
                o == s || o.strip_suffix(s.as_str()).is_some_and(|f| f.ends_with('.'))
            }
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::Wildcard(s) => write!(f, "*.{s}"),
            Self::Ipv4(a) => write!(f, "{a}"),
            Self::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// One allow-list entry: `scheme://host:port`, host possibly `*.`-wildcarded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetPattern {
    /// The scheme.
    pub scheme: Scheme,
    /// The host or host pattern.
    pub host: HostPattern,
    /// The port (defaulted from the scheme when the pattern names none).
    pub port: u16,
}

/// Why a network pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NetPatternError(String);

impl NetPattern {
    /// Whether a connection to `scheme://host:port` is allowed by this pattern.
    pub fn matches(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        self.scheme == scheme && self.port == port && self.host.matches(host)
    }

    /// Whether everything `other` allows is also allowed by `self`.
    pub fn covers(&self, other: &NetPattern) -> bool {
        self.scheme == other.scheme && self.port == other.port && self.host.covers(&other.host)
    }

    /// Whether the host is a `*.` wildcard.
    pub fn is_wildcard(&self) -> bool {
        matches!(self.host, HostPattern::Wildcard(_))
    }

    /// The host-api rule that enforces this pattern in a sandbox.
    pub fn rule(&self) -> net::NetRule {
        net::NetRule {
            scheme: match self.scheme {
                Scheme::Http => net::Scheme::Http,
                Scheme::Https => net::Scheme::Https,
                Scheme::Tcp => net::Scheme::Tcp,
            },
            host: match &self.host {
                HostPattern::Name(n) => net::HostMatch::Name(n.clone()),
                HostPattern::Wildcard(s) => net::HostMatch::Wildcard(s.clone()),
                HostPattern::Ipv4(a) => net::HostMatch::Ip((*a).into()),
                HostPattern::Ipv6(a) => net::HostMatch::Ip((*a).into()),
            },
            port: self.port,
        }
    }
}

impl fmt::Display for NetPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

fn err<T>(s: &str, why: impl fmt::Display) -> Result<T, NetPatternError> {
    Err(NetPatternError(format!(
        "invalid network pattern `{s}`: {why}; expected scheme://host[:port], like `https://api.example.com` or `https://*.example.com:8443`"
    )))
}

fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

fn parse_name(s: &str, name: &str) -> Result<String, NetPatternError> {
    if !name.is_ascii() {
        return err(
            s,
            "the host is not ASCII (write internationalised names in punycode, `xn--…`)",
        );
    }
    let name = name.to_ascii_lowercase();
    if name.len() > 253 {
        return err(s, "the host name is longer than 253 characters");
    }
    if !name.split('.').all(valid_label) {
        return err(
            s,
            "the host must be dot-separated labels of letters, digits and `-` (a wildcard only as one leading `*.` label)",
        );
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return err(s, "the host looks like an IPv4 address but is not one");
    }
    Ok(name)
}

impl FromStr for NetPattern {
    type Err = NetPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return err(s, "missing `scheme://`");
        };
        let scheme: Scheme = scheme.parse().or_else(|e: NetPatternError| err(s, e.0))?;
        if let Some(c) = rest
            .chars()
            .find(|c| matches!(c, '/' | '?' | '#' | '@' | '\\'))
        {
            return err(
                s,
                format!("`{c}` is not allowed: no path, query, fragment or user info"),
            );
        }
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return err(s, "whitespace or a control character");
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let Some((addr, after)) = v6.split_once(']') else {
                return err(s, "unclosed `[`");
            };
            let addr: Ipv6Addr = match addr.parse() {
                Ok(a) => a,
                Err(_) => return err(s, format!("`{addr}` is not an IPv6 address")),
            };
            let port = match after {
                "" => None,
                p => match p.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return err(s, "unexpected text after `]`"),
                },
            };
            (HostPattern::Ipv6(addr), port)
        } else {
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            };
            if host.is_empty() {
                return err(s, "empty host");
            }
            let host = if let Some(suffix) = host.strip_prefix("*.") {
                HostPattern::Wildcard(parse_name(s, suffix)?)
            } else if host.contains('*') {
                return err(s, "a wildcard is only allowed as one leading `*.` label");
            } else if let Ok(a) = host.parse::<Ipv4Addr>() {
                HostPattern::Ipv4(a)
            } else {
                HostPattern::Name(parse_name(s, host)?)
            };
            (host, port)
        };
        let port = match port {
            Some(p) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 5 {
                    return err(s, format!("`{p}` is not a port number"));
                }
                match p.parse::<u16>() {
                    Ok(0) | Err(_) => return err(s, format!("port `{p}` is out of range 1-65535")),
                    Ok(n) => n,
                }
            }
            None => match scheme.default_port() {
                Some(p) => p,
                None => return err(s, "a tcp pattern needs a port"),
            },
        };
        Ok(Self { scheme, host, port })
    }
}

impl TryFrom<String> for NetPattern {
    type Error = NetPatternError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl Serialize for NetPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NetPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::names::deserialize_parsed(d, "scheme://host[:port]")
    }
}

impl schemars::JsonSchema for NetPattern {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NetPattern".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "scheme://host[:port]; scheme http, https or tcp; host may start with one `*.` label",
            "pattern": "^(http|https|tcp)://(\\*\\.)?[^/?#@\\s]+$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> NetPattern {
        s.parse().unwrap()
    }

    #[test]
    fn ports_default_by_scheme() {
        assert_eq!(
            p("https://api.weather.gov").to_string(),
            "https://api.weather.gov:443"
        );
        assert_eq!(p("http://Example.COM").to_string(), "http://example.com:80");
        assert_eq!(p("https://*.example.com:8443").port, 8443);
        assert_eq!(p("tcp://db.internal:5432").port, 5432);
        assert_eq!(p("https://[::1]:8443").to_string(), "https://[::1]:8443");
        assert_eq!(
            p("http://10.1.2.3").host,
            HostPattern::Ipv4(Ipv4Addr::new(10, 1, 2, 3))
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "api.example.com",
            "ftp://example.com",
            "tcp://db.internal",
            "https://example.com/path",
            "https://example.com/",
            "https://user@example.com",
            "https://example.com?q",
            "https://*",
            "https://a.*.com",
            "https://*example.com",
            "https://*.*.example.com",
            "https://example.com:0",
            "https://example.com:70000",
            "https://example.com:",
            "https://exa mple.com",
            "https://-bad.com",
            "https://1.2.3",
            "https://ünï.com",
            "https://[::1",
            "https://",
        ] {
            assert!(
                bad.parse::<NetPattern>().is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn wildcards_match_one_or_more_labels() {
        let w = p("https://*.example.com");
        assert!(w.matches(Scheme::Https, "api.example.com", 443));
        assert!(w.matches(Scheme::Https, "a.b.example.com", 443));
        assert!(w.matches(Scheme::Https, "API.Example.com.", 443));
        assert!(!w.matches(Scheme::Https, "example.com", 443));
        assert!(!w.matches(Scheme::Https, "evilexample.com", 443));
        assert!(!w.matches(Scheme::Http, "api.example.com", 443));
        assert!(!w.matches(Scheme::Https, "api.example.com", 8443));
    }

    #[test]
    fn coverage_is_subset() {
        let w = p("https://*.example.com");
        assert!(w.covers(&p("https://api.example.com")));
        assert!(w.covers(&p("https://*.example.com")));
        assert!(w.covers(&p("https://*.eu.example.com")));
        assert!(!w.covers(&p("https://example.com")));
        assert!(!w.covers(&p("https://api.example.com:8443")));
        assert!(!p("https://api.example.com").covers(&w));
        assert!(!w.covers(&p("https://*.badexample.com")));
    }
}
