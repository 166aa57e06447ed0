//! Why a server could not start or keep serving.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A server failure (not a tool's: those are tool results).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listening address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// A non-loopback address without authentication.
    #[error("refusing to listen on {0} without authentication")]
    Unauthenticated(SocketAddr),
    /// The policy names callers but nothing authenticates them.
    #[error("the policy's [[callers]] name subjects, but no bearer tokens authenticate callers")]
    CallersWithoutTokens,
    /// The tools directory could not be read or watched.
    #[error("{}: {source}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The token file could not be used.
    #[error(transparent)]
    Tokens(#[from] crate::auth::TokenError),
    /// The stdio transport failed.
    #[error("stdio transport: {0}")]
    Stdio(String),
}

impl ServeError {
    /// `error[KIND]` of this failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bind(..) => "listen",
            Self::Unauthenticated(_) | Self::CallersWithoutTokens => "unauthenticated",
            Self::Dir { .. } => "io",
            Self::Tokens(_) => "tokens",
            Self::Stdio(_) => "stdio",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Bind(..) => Some("pick another --http address or port".into()),
            Self::Unauthenticated(_) => Some(
                "give --tokens FILE (make one with `wasmgov token add SUBJECT --tokens FILE`), \
                 or listen on 127.0.0.1"
                    .into(),
            ),
            Self::CallersWithoutTokens => Some(
                "serve over HTTP with --tokens FILE, or remove [[callers]] from the policy".into(),
            ),
            Self::Dir { .. } => Some("check the --tools directory and its permissions".into()),
            Self::Tokens(t) => Some(t.hint()),
            Self::Stdio(_) => None,
        }
    }
}
