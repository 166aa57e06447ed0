//! Secrets: credentials the host adds to a tool's outgoing requests, which the tool never sees.
//!
//! The operator provides each value (a file or an env var of the host, read by the runtime at
//! load). What this module guards against:
//!
//! - **The tool reading a secret** (E01, E02): values live only here, outside the guest's
//!   reach — not in its env, files, arguments or any import's result.
//! - **Exfiltration to another host** (E02): a secret is added only to requests whose
//!   `scheme://host:port` matches the secret's own rule (after the request passed the network
//!   checks); a request anywhere else carries nothing. There is no placeholder syntax a tool
//!   could smuggle into a URL or body.
//! - **Header games** (E02, M02): once a secret is bound, the tool may not set that header (nor
//!   `authorization`) itself, so it can neither override the injected value nor learn by echo
//!   which one wins; the host removes such headers again before injecting.
//! - **Leaks through logs and errors**: `Debug` of a binding redacts the value, errors name the
//!   secret, never its value, and injected header values are marked sensitive.
//! - **Leaks through the server** (E02): a response to a request that carried a secret has
//!   every echo of the value masked before the guest reads it ([`crate::redact`]). So that
//!   masking cannot corrupt ordinary bodies, a value must be at least
//!   [`MIN_SECRET_LEN`](crate::redact::MIN_SECRET_LEN) bytes (and at most
//!   [`MAX_SECRET_LEN`](crate::redact::MAX_SECRET_LEN) formatted, which bounds what masking
//!   holds back); others are refused at load.

use std::fmt;
use std::sync::Arc;

use http::{HeaderName, HeaderValue, Request};

use crate::net::{Host, NetRule, Scheme};
use crate::redact::{EchoForms, MAX_SECRET_LEN, MIN_SECRET_LEN};

/// A secret bound to one destination: header `header: value` on requests matching `rule`.
#[derive(Clone)]
pub struct SecretBinding {
    name: String,
    rule: NetRule,
    header: HeaderName,
    value: HeaderValue,
    /// The forms of the value masked where a server echoes them (the raw value among them).
    echo: Arc<EchoForms>,
}

/// A secret that cannot be bound. Never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The header name is not a valid HTTP header name.
    #[error("secret {name}: `{header}` is not a valid header name")]
    BadHeader {
        /// Secret name.
        name: String,
        /// The header as written.
        header: String,
    },
    /// The header is one the host sets itself (`host`, `connection`, …).
    #[error("secret {name}: the header `{header}` cannot carry a secret")]
    ReservedHeader {
        /// Secret name.
        name: String,
        /// The header.
        header: String,
    },
    /// The formatted value is not a valid header value (e.g. it holds a newline).
    #[error(
        "secret {name}: the value (formatted) is not a valid header value (control characters or newlines?)"
    )]
    BadValue {
        /// Secret name.
        name: String,
    },
    /// The value is too short to be masked where a server echoes it (see [`crate::redact`]).
    #[error(
        "secret {name}: the value is shorter than {min} bytes; so short a value cannot be told \
         apart from ordinary response bytes (to mask echoes of it) and is guessable: use a longer \
         credential"
    )]
    TooShort {
        /// Secret name.
        name: String,
        /// The shortest value accepted, bytes.
        min: usize,
    },
    /// The formatted value is longer than a header a server would accept.
    #[error("secret {name}: the value (formatted) is longer than {max} bytes")]
    TooLong {
        /// Secret name.
        name: String,
        /// The longest formatted value accepted, bytes.
        max: usize,
    },
    /// The value could not be read from its source.
    #[error("secret {name}: cannot read its value from {source_desc}: {reason}")]
    Unreadable {
        /// Secret name.
        name: String,
        /// Where it was to come from (`env:VAR`, `file:/path`).
        source_desc: String,
        /// Why (never the value).
        reason: String,
    },
}

impl SecretBinding {
    /// Bind secret `name` for requests matching `rule`: header `header` gets `format` with `{}`
    /// replaced by `value`. Refused if `value` is shorter than
    /// [`MIN_SECRET_LEN`](crate::redact::MIN_SECRET_LEN) bytes, or the formatted value longer
    /// than [`MAX_SECRET_LEN`](crate::redact::MAX_SECRET_LEN).
    pub fn new(
        name: &str,
        rule: NetRule,
        header: &str,
        format: &str,
        value: &str,
    ) -> Result<Self, SecretError> {
        let header_name = HeaderName::try_from(header.to_ascii_lowercase()).map_err(|_| {
            SecretError::BadHeader {
                name: name.into(),
                header: header.into(),
            }
        })?;
        if wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(&header_name)
            || header_name == http::header::CONTENT_LENGTH
        {
            return Err(SecretError::ReservedHeader {
                name: name.into(),
                header: header.into(),
            });
        }
        if value.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort {
                name: name.into(),
                min: MIN_SECRET_LEN,
            });
        }
        let formatted = format.replace("{}", value);
        if formatted.len() > MAX_SECRET_LEN {
            return Err(SecretError::TooLong {
                name: name.into(),
                max: MAX_SECRET_LEN,
            });
        }
        let mut header_value = HeaderValue::try_from(formatted)
            .map_err(|_| SecretError::BadValue { name: name.into() })?;
        header_value.set_sensitive(true);
        let echo = Arc::new(EchoForms::new(value, header_value.as_bytes()));
        Ok(Self {
            name: name.into(),
            rule,
            header: header_name,
            value: header_value,
            echo,
        })
    }

    /// The secret's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The destination whose requests carry it.
    pub fn rule(&self) -> &NetRule {
        &self.rule
    }

    /// The header that carries it.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// What is masked where a server echoes the value.
    pub(crate) fn echo_forms(&self) -> &Arc<EchoForms> {
        &self.echo
    }
}

impl fmt::Debug for SecretBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBinding")
            .field("name", &self.name)
            .field("rule", &self.rule.to_string())
            .field("header", &self.header)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// Headers a tool may not set once `secrets` are bound: every secret's header, and
/// `authorization`.
pub(crate) fn guest_forbidden_headers(secrets: &[SecretBinding]) -> Vec<HeaderName> {
    if secrets.is_empty() {
        return Vec::new();
    }
    let mut names = vec![http::header::AUTHORIZATION];
    for s in secrets {
        if !names.contains(&s.header) {
            names.push(s.header.clone());
        }
    }
    names
}

/// Add the secrets bound to `scheme://host:port` to `req`; returns the indices (in `secrets`)
/// of those added. Headers that carry a secret are removed from every request first, whoever
/// set them.
pub(crate) fn inject<B>(
    secrets: &[SecretBinding],
    scheme: Scheme,
    host: &Host,
    port: u16,
    req: &mut Request<B>,
) -> Vec<usize> {
    let headers = req.headers_mut();
    for h in guest_forbidden_headers(secrets) {
        headers.remove(h);
    }
    let mut added = Vec::new();
    for (i, s) in secrets
        .iter()
        .enumerate()
        .filter(|(_, s)| s.rule.matches(scheme, host, port))
    {
        headers.insert(s.header.clone(), s.value.clone());
        added.push(i);
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::HostMatch;

    fn rule() -> NetRule {
        NetRule {
            scheme: Scheme::Https,
            host: HostMatch::Name("api.example.com".into()),
            port: 443,
        }
    }

    #[test]
    fn value_is_redacted_and_only_bound_host_gets_it() {
        let s = SecretBinding::new(
            "TOKEN",
            rule(),
            "Authorization",
            "Bearer {}",
            "s3cr3t-value",
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("s3cr3t"));
        let mut req = Request::new(());
        req.headers_mut()
            .insert("authorization", HeaderValue::from_static("guest"));
        let other = Host::parse("evil.example.com").unwrap();
        assert!(
            inject(
                std::slice::from_ref(&s),
                Scheme::Https,
                &other,
                443,
                &mut req
            )
            .is_empty()
        );
        assert!(req.headers().get("authorization").is_none());
        let bound = Host::parse("api.example.com").unwrap();
        assert_eq!(inject(&[s], Scheme::Https, &bound, 443, &mut req), vec![0]);
        assert_eq!(req.headers()["authorization"], "Bearer s3cr3t-value");
    }

    #[test]
    fn bad_values_and_headers_are_refused_without_the_value() {
        let e = SecretBinding::new("T", rule(), "X-Key", "{}", "a\r\nInjected: 1").unwrap_err();
        assert!(!e.to_string().contains("Injected"));
        assert!(SecretBinding::new("T", rule(), "Host", "{}", "long-enough").is_err());
        assert!(SecretBinding::new("T", rule(), "bad header", "{}", "long-enough").is_err());
    }

    #[test]
    fn values_too_short_to_mask_or_too_long_are_refused() {
        let e = SecretBinding::new("T", rule(), "X-Key", "{}", "1234567").unwrap_err();
        assert_eq!(
            e,
            SecretError::TooShort {
                name: "T".into(),
                min: MIN_SECRET_LEN
            }
        );
        assert!(!e.to_string().contains("1234567"), "{e}");
        assert!(SecretBinding::new("T", rule(), "X-Key", "{}", "12345678").is_ok());
        // The format does not count: the raw value is what a server echoes on its own.
        assert!(SecretBinding::new("T", rule(), "X-Key", "Bearer {}", "1234567").is_err());
        let long = "k".repeat(MAX_SECRET_LEN);
        assert!(SecretBinding::new("T", rule(), "X-Key", "{}", &long).is_ok());
        assert!(matches!(
            SecretBinding::new("T", rule(), "X-Key", "Bearer {}", &long),
            Err(SecretError::TooLong { .. })
        ));
    }
}
