//! Guest-side network helpers for the example and fixture tools, on raw WASI 0.2 bindings
//! (`wasip2`): one blocking HTTP request over `wasi:http/outgoing-handler`, and small
//! `wasi:sockets` probes that report the exact WASI error code they got.
//!
//! Errors are the WASI error's debug name (`HttpRequestDenied`, `AccessDenied`, …) so a tool
//! can report precisely what the host said.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;
use wasip2::sockets::network::{
    IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasip2::sockets::{instance_network, ip_name_lookup, tcp_create_socket, udp_create_socket};

pub use wasip2;

/// An HTTP response, body read up to a cap.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, values lossily decoded.
    pub headers: Vec<(String, String)>,
    /// Body bytes (at most the cap).
    pub body: Vec<u8>,
    /// Whether the body was longer than the cap.
    pub truncated: bool,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `scheme`, `authority` and `path?query` of an `http(s)://` URL.
pub fn split_url(url: &str) -> Result<(Scheme, String, String), String> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        (Scheme::Https, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (Scheme::Http, r)
    } else {
        return Err(format!("`{url}` is not an http:// or https:// URL"));
    };
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok((scheme, authority.to_string(), path))
}

fn method_of(m: &str) -> Method {
    match m.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_string()),
    }
}

/// Send one request and read the response body up to `max_body` bytes. `timeout_ms` sets the
/// connect and first-byte timeouts the tool asks for (the host may clamp them).
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    max_body: usize,
    timeout_ms: Option<u64>,
) -> Result<Response, String> {
    let (scheme, authority, path) = split_url(url)?;
    let mut entries: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    if let Some(b) = body {
        entries.push(("content-length".into(), b.len().to_string().into_bytes()));
    }
    let fields = Fields::from_list(&entries)
        .map_err(|e| format!("header-error:{}", variant(&format!("{e:?}"))))?;
    let req = OutgoingRequest::new(fields);
    req.set_method(&method_of(method))
        .map_err(|()| "invalid method".to_string())?;
    req.set_scheme(Some(&scheme))
        .map_err(|()| "invalid scheme".to_string())?;
    req.set_authority(Some(&authority))
        .map_err(|()| format!("invalid authority `{authority}`"))?;
    req.set_path_with_query(Some(&path))
        .map_err(|()| format!("invalid path `{path}`"))?;
    let out_body = req.body().map_err(|()| "no request body".to_string())?;
    let options = timeout_ms.map(|ms| {
        let o = RequestOptions::new();
        let ns = ms.saturating_mul(1_000_000);
        let _ = o.set_connect_timeout(Some(ns));
        let _ = o.set_first_byte_timeout(Some(ns));
        let _ = o.set_between_bytes_timeout(Some(ns));
        o
    });
    let future = outgoing_handler::handle(req, options).map_err(|e| code(&e))?;
    if let Some(data) = body {
        let stream = out_body
            .write()
            .map_err(|()| "no request body stream".to_string())?;
        for chunk in data.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("request body: {e:?}"))?;
        }
        drop(stream);
    }
    OutgoingBody::finish(out_body, None).map_err(|e| code(&e))?;
    let response = loop {
        match future.get() {
            Some(Ok(Ok(r))) => break r,
            Some(Ok(Err(e))) => return Err(code(&e)),
            Some(Err(())) => return Err("response already taken".into()),
            None => future.subscribe().block(),
        }
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| "body already taken".to_string())?;
    let (body, truncated) = read_body(&incoming, max_body)?;
    drop(IncomingBody::finish(incoming));
    Ok(Response {
        status,
        headers,
        body,
        truncated,
    })
}

fn read_body(incoming: &IncomingBody, max: usize) -> Result<(Vec<u8>, bool), String> {
    let stream = incoming
        .stream()
        .map_err(|()| "body stream already taken".to_string())?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                if body.len() + chunk.len() > max {
                    let room = max - body.len();
                    body.extend_from_slice(&chunk[..room]);
                    return Ok((body, true));
                }
                body.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok((body, false)),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("body: {}", e.to_debug_string()));
            }
        }
    }
}

/// The variant name of a WASI error (`HttpRequestDenied`), without payload or type prefix.
fn code(e: &ErrorCode) -> String {
    variant(&format!("{e:?}"))
}

fn variant(debug: &str) -> String {
    let head = debug.split(['(', ' ', '{']).next().unwrap_or(debug);
    head.rsplit("::").next().unwrap_or(head).to_string()
}

fn socket_addr(addr: std::net::SocketAddr) -> IpSocketAddress {
    match addr {
        std::net::SocketAddr::V4(a) => {
            let o = a.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: a.port(),
                address: (o[0], o[1], o[2], o[3]),
            })
        }
        std::net::SocketAddr::V6(a) => {
            let s = a.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: a.port(),
                flow_info: 0,
                address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                scope_id: 0,
            })
        }
    }
}

fn family(addr: &std::net::SocketAddr) -> IpAddressFamily {
    if addr.is_ipv4() {
        IpAddressFamily::Ipv4
    } else {
        IpAddressFamily::Ipv6
    }
}

/// Finish a non-blocking socket operation: retry `finish` after waiting on `wait` while it
/// answers `would-block`; any other error is returned by name.
fn settle<T>(
    mut finish: impl FnMut() -> Result<T, wasip2::sockets::network::ErrorCode>,
    wait: impl Fn(),
) -> Result<T, String> {
    loop {
        match finish() {
            Err(wasip2::sockets::network::ErrorCode::WouldBlock) => wait(),
            other => return other.map_err(|e| e.name().to_string()),
        }
    }
}

/// Open a TCP connection to `addr` (`ip:port`), write `payload`, close. `Ok` means connected.
pub fn tcp_connect(addr: &str, payload: &[u8]) -> Result<(), String> {
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| format!("bad address: {e}"))?;
    let net = instance_network::instance_network();
    let sock =
        tcp_create_socket::create_tcp_socket(family(&addr)).map_err(|e| e.name().to_string())?;
    sock.start_connect(&net, socket_addr(addr))
        .map_err(|e| e.name().to_string())?;
    let (input, output) = settle(|| sock.finish_connect(), || sock.subscribe().block())?;
    if !payload.is_empty() {
        output
            .blocking_write_and_flush(payload)
            .map_err(|e| format!("write: {e:?}"))?;
    }
    drop(input);
    drop(output);
    Ok(())
}

/// Bind a TCP socket to `addr` and listen. `Ok` means it listens.
pub fn tcp_listen(addr: &str) -> Result<(), String> {
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| format!("bad address: {e}"))?;
    let net = instance_network::instance_network();
    let sock =
        tcp_create_socket::create_tcp_socket(family(&addr)).map_err(|e| e.name().to_string())?;
    sock.start_bind(&net, socket_addr(addr))
        .map_err(|e| e.name().to_string())?;
    settle(|| sock.finish_bind(), || sock.subscribe().block())?;
    sock.start_listen().map_err(|e| e.name().to_string())?;
    settle(|| sock.finish_listen(), || sock.subscribe().block())
}

/// Send one UDP datagram to `addr`. `Ok` means it was sent.
pub fn udp_send(addr: &str, payload: &[u8]) -> Result<(), String> {
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| format!("bad address: {e}"))?;
    let net = instance_network::instance_network();
    let sock =
        udp_create_socket::create_udp_socket(family(&addr)).map_err(|e| e.name().to_string())?;
    let local = match addr {
        std::net::SocketAddr::V4(_) => "0.0.0.0:0",
        std::net::SocketAddr::V6(_) => "[::]:0",
    };
    let local: std::net::SocketAddr = local.parse().map_err(|e| format!("{e}"))?;
    sock.start_bind(&net, socket_addr(local))
        .map_err(|e| e.name().to_string())?;
    settle(|| sock.finish_bind(), || sock.subscribe().block())?;
    let (_incoming, outgoing) = sock
        .stream(Some(socket_addr(addr)))
        .map_err(|e| e.name().to_string())?;
    outgoing.subscribe().block();
    outgoing
        .send(&[wasip2::sockets::udp::OutgoingDatagram {
            data: payload.to_vec(),
            remote_address: None,
        }])
        .map(|_| ())
        .map_err(|e| e.name().to_string())
}

/// Resolve `name` with `wasi:sockets/ip-name-lookup`; the addresses as text.
pub fn resolve(name: &str) -> Result<Vec<String>, String> {
    let net = instance_network::instance_network();
    let stream = ip_name_lookup::resolve_addresses(&net, name).map_err(|e| e.name().to_string())?;
    let mut out = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(IpAddress::Ipv4((a, b, c, d)))) => out.push(format!("{a}.{b}.{c}.{d}")),
            Ok(Some(IpAddress::Ipv6(s))) => out.push(format!("{s:?}")),
            Ok(None) => return Ok(out),
            Err(wasip2::sockets::network::ErrorCode::WouldBlock) => stream.subscribe().block(),
            Err(e) => return Err(e.name().to_string()),
        }
    }
}
