//! MCP over stdin/stdout, for clients that start the server as a command (Claude Desktop, VS
//! Code, Cursor, …). Nothing but protocol is ever written to stdout; diagnostics go to stderr.

use rmcp::ServiceExt;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::error::ServeError;
use crate::server::Server;

/// Serve one MCP connection over `read`/`write` (stdio, a pipe, a socket an embedder accepted)
/// until the peer closes it or `shutdown` is cancelled. Lines longer than `max_line` bytes are
/// dropped.
pub async fn serve_stream<R, W>(
    server: Server,
    read: R,
    write: W,
    max_line: usize,
    shutdown: CancellationToken,
) -> Result<(), ServeError>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let transport = AsyncRwTransport::new_server(read, write).with_max_line_length(max_line);
    let running = match server.serve_with_ct(transport, shutdown).await {
        Ok(r) => r,
        // The client went away (or was cancelled) before its first message: nothing to serve.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
        Err(e) => return Err(ServeError::Stdio(e.to_string())),
    };
    running
        .waiting()
        .await
        .map(|_| ())
        .map_err(|e| ServeError::Stdio(e.to_string()))
}

/// Serve MCP on this process's stdin and stdout.
pub async fn serve_stdio(
    server: Server,
    max_line: usize,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let (read, write) = rmcp::transport::stdio_pipes();
    serve_stream(server, read, write, max_line, shutdown).await
}
