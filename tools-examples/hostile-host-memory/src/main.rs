//! `hostile-host-memory`: a command that tries to make the host hold far more memory than its
//! own, through objects the host keeps for it (review finding 2). It needs no grant: every
//! `wasi:http/types` object can be built without one.
//!
//! stdin: `MODE N [ARG]`, one of
//! - `bodies N`: N outgoing requests, each with its body buffer filled, all kept;
//! - `fields N`: N `fields`, each holding a 60 KiB value, all kept;
//! - `authority N [SIZE]`: N requests with a SIZE-byte authority (default 8 MiB), all kept;
//! - `paths N [SIZE]`: N requests with a SIZE-byte path (default 60 KiB), all kept;
//! - `requests N [AUTHORITY]`: N requests sent to AUTHORITY (default `127.0.0.1:9`), the
//!   futures kept;
//! - `handles N`: N empty `fields` (the cheapest handle), all kept;
//! - `stderr N`: N KiB written to stderr.
//!
//! It prints `MODE ok=A refused=B` when it gets that far; a host that bounds what it holds stops
//! it first.

use std::io::{Read, Write};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingRequest, Scheme};

fn main() {
    let mut s = String::new();
    let _ = std::io::stdin().read_to_string(&mut s);
    let mut it = s.split_whitespace();
    let mode = it.next().unwrap_or("").to_string();
    let n: usize = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let arg = it.next().map(str::to_string);
    let (ok, refused) = match mode.as_str() {
        "bodies" => bodies(n),
        "fields" => fields(n),
        "authority" => authority(n, arg.and_then(|a| a.parse().ok()).unwrap_or(8 << 20)),
        "paths" => paths(n, arg.and_then(|a| a.parse().ok()).unwrap_or(60 * 1024)),
        "requests" => requests(n, arg.as_deref().unwrap_or("127.0.0.1:9")),
        "handles" => handles(n),
        "stderr" => stderr(n),
        _ => {
            println!("unknown mode {mode:?}");
            return;
        }
    };
    println!("{mode} ok={ok} refused={refused}");
}

fn bodies(n: usize) -> (usize, usize) {
    let chunk = vec![0x41u8; 1 << 20];
    let (mut keep, mut ok, mut refused) = (Vec::new(), 0, 0);
    for _ in 0..n {
        let req = OutgoingRequest::new(Fields::new());
        let Ok(body) = req.body() else {
            refused += 1;
            keep.push((req, None));
            continue;
        };
        let Ok(out) = body.write() else {
            refused += 1;
            continue;
        };
        // Fill what the host buffers: every slot of the body's channel.
        let mut wrote = 0;
        for _ in 0..4 {
            match out.check_write() {
                Ok(m) if m > 0 => {
                    let m = (m as usize).min(chunk.len());
                    if out.write(&chunk[..m]).is_ok() {
                        wrote += m;
                    }
                }
                _ => break,
            }
        }
        if wrote > 0 {
            ok += 1;
        }
        keep.push((req, Some((body, out))));
    }
    std::mem::forget(keep);
    (ok, refused)
}

fn fields(n: usize) -> (usize, usize) {
    let v = vec![b'a'; 60 * 1024];
    let (mut keep, mut ok, mut refused) = (Vec::new(), 0, 0);
    for _ in 0..n {
        let f = Fields::new();
        match f.append("x-a", &v) {
            Ok(()) => ok += 1,
            Err(_) => refused += 1,
        }
        keep.push(f);
    }
    std::mem::forget(keep);
    (ok, refused)
}

fn authority(n: usize, size: usize) -> (usize, usize) {
    let a = "a".repeat(size);
    let (mut keep, mut ok, mut refused) = (Vec::new(), 0, 0);
    for _ in 0..n {
        let req = OutgoingRequest::new(Fields::new());
        match req.set_authority(Some(&a)) {
            Ok(()) => ok += 1,
            Err(()) => refused += 1,
        }
        keep.push(req);
    }
    std::mem::forget(keep);
    (ok, refused)
}

fn paths(n: usize, size: usize) -> (usize, usize) {
    let p = format!("/{}", "p".repeat(size.saturating_sub(1)));
    let (mut keep, mut ok, mut refused) = (Vec::new(), 0, 0);
    for _ in 0..n {
        let req = OutgoingRequest::new(Fields::new());
        match req.set_path_with_query(Some(&p)) {
            Ok(()) => ok += 1,
            Err(()) => refused += 1,
        }
        keep.push(req);
    }
    std::mem::forget(keep);
    (ok, refused)
}

fn requests(n: usize, authority: &str) -> (usize, usize) {
    let (mut keep, mut ok, mut refused) = (Vec::new(), 0, 0);
    for _ in 0..n {
        let req = OutgoingRequest::new(Fields::new());
        let _ = req.set_scheme(Some(&Scheme::Http));
        let _ = req.set_authority(Some(authority));
        let _ = req.set_path_with_query(Some("/slow"));
        let _ = req.set_method(&Method::Get);
        match outgoing_handler::handle(req, None) {
            Ok(f) => {
                ok += 1;
                keep.push(f);
            }
            Err(_) => refused += 1,
        }
    }
    std::mem::forget(keep);
    (ok, refused)
}

fn handles(n: usize) -> (usize, usize) {
    let keep: Vec<Fields> = (0..n).map(|_| Fields::new()).collect();
    let ok = keep.len();
    std::mem::forget(keep);
    (ok, 0)
}

fn stderr(n: usize) -> (usize, usize) {
    let chunk = vec![b'e'; 1024];
    let mut err = std::io::stderr();
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..n {
        match err.write_all(&chunk) {
            Ok(()) => ok += 1,
            Err(_) => refused += 1,
        }
    }
    (ok, refused)
}
