//! `wasmgov-serve`: governed tools for every MCP client.
//!
//! A [`Server`] serves a [`Catalog`] — the signed tool packages of a directory, verified and
//! loaded by a [`wasmgov_runtime::Runtime`] — as an MCP server (rmcp's [`rmcp::ServerHandler`]).
//! Each `tools/call` is one governed call in a fresh sandbox, audited with where it came from;
//! tool errors, denials and limit hits are tool results with `isError`. The transports are
//! [`stdio`] and [`http`] (streamable HTTP with Host/Origin checks, bearer tokens and limits);
//! an agent server can run the same [`Server`] over any transport rmcp accepts.
//!
//! ```no_run
//! # async fn f(rt: wasmgov_runtime::Runtime) -> Result<(), Box<dyn std::error::Error>> {
//! use wasmgov_serve::{Catalog, Server, ServerOptions};
//! let catalog = Catalog::scan_async(&rt, std::path::Path::new("tools"), None).await?;
//! let server = Server::new(rt, catalog, ServerOptions::default());
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! wasmgov_serve::stdio::serve_stdio(server, 4 << 20, shutdown).await?;
//! # Ok(()) }
//! ```

pub mod auth;
mod call;
pub mod catalog;
pub mod error;
pub mod http;
pub mod listing;
pub mod reload;
pub mod server;
pub mod stdio;

pub use auth::{Caller, Tokens};
pub use call::error_result;
pub use catalog::{Catalog, Refused, Served};
pub use error::ServeError;
pub use http::{HttpListener, HttpOptions};
pub use server::{Server, ServerOptions};
