//! The network allow-list, differentially: a pattern from the operator's policy and a request
//! from the tool, decided by wasmgov (`NetPattern` → host-api `NetRule`, the request's URI built
//! the way wasi:http builds it → `Destination::of_uri` → `allowed_by`) and by an obviously
//! correct oracle over the `url` crate's (WHATWG) parse of the same request.
//!
//! - Safety: whenever wasmgov allows, the oracle allows the same scheme, host and port. wasmgov
//!   may be stricter (it refuses percent-escapes, IDNA, shorthand IPv4 that the URL standard
//!   rewrites), never wider.
//! - Precision: a request built canonically from the same labels a pattern names is decided the
//!   same way by both, so wasmgov's strictness never turns into refusing what was granted.
#![no_main]

use std::net::IpAddr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wasmgov_host_api::http::Destination;
use wasmgov_runtime::net_pattern::{HostPattern, NetPattern, Scheme};

/// What the oracle reads of `scheme://authority/path` with the `url` crate: None when it is not
/// an http(s) URL with a host and no user info.
fn oracle_dest(url: &str) -> Option<(Scheme, url::Host<String>, u16)> {
    let u = url::Url::parse(url).ok()?;
    let scheme = match u.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return None,
    };
    if !u.username().is_empty() || u.password().is_some() {
        return None;
    }
    Some((scheme, u.host()?.to_owned(), u.port_or_known_default()?))
}

/// The oracle's decision: labels compared one by one.
fn oracle_allows(p: &NetPattern, url: &str) -> bool {
    let Some((scheme, host, port)) = oracle_dest(url) else {
        return false;
    };
    if scheme != p.scheme || port != p.port {
        return false;
    }
    match (&p.host, host) {
        (HostPattern::Ipv4(a), url::Host::Ipv4(b)) => *a == b,
        (HostPattern::Ipv6(a), url::Host::Ipv6(b)) => *a == b,
        (HostPattern::Name(n), url::Host::Domain(d)) => {
            let d = d.strip_suffix('.').unwrap_or(&d);
            let want: Vec<&str> = n.split('.').collect();
            let got: Vec<&str> = d.split('.').collect();
            want == got
        }
        (HostPattern::Wildcard(s), url::Host::Domain(d)) => {
            let d = d.strip_suffix('.').unwrap_or(&d);
            let suffix: Vec<&str> = s.split('.').collect();
            let got: Vec<&str> = d.split('.').collect();
            got.len() > suffix.len()
                && got[got.len() - suffix.len()..] == suffix[..]
                && got[..got.len() - suffix.len()]
                    .iter()
                    .all(|l| !l.is_empty())
        }
        _ => false,
    }
}

/// wasmgov's decision for a request with this scheme, authority and path, built as wasi:http
/// builds it (`set-authority` refuses what `Authority` does not parse).
fn wasmgov_allows(p: &NetPattern, scheme: &str, authority: &str, path: &str) -> bool {
    if authority.parse::<http::uri::Authority>().is_err() {
        return false;
    }
    let mut b = http::Uri::builder().scheme(scheme).authority(authority);
    if !path.is_empty() {
        b = b.path_and_query(path);
    }
    let Ok(uri) = b.build() else {
        return false;
    };
    match Destination::of_uri(&uri) {
        Ok(d) => d.allowed_by(&p.rule()),
        Err(_) => false,
    }
}

#[derive(Debug, Arbitrary)]
struct Raw {
    pattern: String,
    https: bool,
    authority: String,
    path: String,
}

#[derive(Debug, Arbitrary)]
struct Canonical {
    https: bool,
    /// Labels, by index into a small vocabulary, so names repeat and collide.
    pattern_labels: Vec<u8>,
    wildcard: bool,
    host_labels: Vec<u8>,
    upper: bool,
    trailing_dot: bool,
    pattern_port: Option<u16>,
    port: Option<u16>,
}

const LABELS: [&str; 8] = [
    "a",
    "api",
    "example",
    "com",
    "xn--bcher-kva",
    "b-c",
    "x1",
    "org",
];

fn labels(ix: &[u8]) -> Vec<&'static str> {
    ix.iter()
        .take(5)
        .map(|i| LABELS[usize::from(*i) % LABELS.len()])
        .collect()
}

#[derive(Debug, Arbitrary)]
enum Case {
    Raw(Raw),
    Canonical(Canonical),
}

fuzz_target!(|case: Case| {
    match case {
        Case::Raw(r) => {
            let Ok(p) = r.pattern.parse::<NetPattern>() else {
                return;
            };
            let scheme = if r.https { "https" } else { "http" };
            let path = if r.path.starts_with('/') {
                r.path.as_str()
            } else {
                ""
            };
            if wasmgov_allows(&p, scheme, &r.authority, path) {
                let url = format!("{scheme}://{}{path}", r.authority);
                assert!(
                    oracle_allows(&p, &url),
                    "wasmgov allowed {url} under {p}; the URL standard reads it as {:?}",
                    oracle_dest(&url)
                );
            }
        }
        Case::Canonical(c) => {
            let pl = labels(&c.pattern_labels);
            let hl = labels(&c.host_labels);
            if pl.is_empty() || hl.is_empty() {
                return;
            }
            let scheme = if c.https { "https" } else { "http" };
            let port = |p: Option<u16>| {
                p.filter(|p| *p != 0)
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default()
            };
            let pattern = format!(
                "{scheme}://{}{}{}",
                if c.wildcard { "*." } else { "" },
                pl.join("."),
                port(c.pattern_port)
            );
            let Ok(p) = pattern.parse::<NetPattern>() else {
                // Every label is valid, so only an all-digit last label could be refused; the
                // vocabulary has none.
                panic!("a canonical pattern was refused: {pattern}");
            };
            let mut host = hl.join(".");
            if c.upper {
                host = host.to_ascii_uppercase();
            }
            if c.trailing_dot {
                host.push('.');
            }
            let authority = format!("{host}{}", port(c.port));
            let url = format!("{scheme}://{authority}/");
            let ours = wasmgov_allows(&p, scheme, &authority, "/");
            let theirs = oracle_allows(&p, &url);
            assert_eq!(
                ours, theirs,
                "{url} under {pattern}: wasmgov {ours}, oracle {theirs}"
            );
            if let Some((_, url::Host::Domain(d), _)) = oracle_dest(&url) {
                // IP hosts never come from this vocabulary.
                assert!(d.parse::<IpAddr>().is_err());
            }
        }
    }
});
