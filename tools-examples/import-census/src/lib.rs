//! `import-census`: calls functions of every WASI interface wasmgov links — clocks, random,
//! cli, filesystem, io, sockets, http — plus `wasmgov:tool/host.log`, through the raw `wasip2`
//! bindings, and returns the list of `interface function` it called, in order.
//!
//! Use: the audit completeness test runs it and checks that every call it reports is a
//! `host-call` record in the log, in the same order. The guest's own list is the ground truth,
//! independent of the tracing the audit reads. Results do not matter (many calls are denied
//! or fail); a call that traps would end the census, so none is made on purpose.
//!
//! Input: `{"dir": "/work"}`, a guest directory bound read-write (the census creates and
//! removes `census.d` in it).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use wasmgov_sdk::ToolError;

use wasip2::cli::terminal_stdout;
use wasip2::cli::{environment, stderr, stdin, stdout, terminal_stderr, terminal_stdin};
use wasip2::clocks::{monotonic_clock, wall_clock};
use wasip2::filesystem::preopens;
use wasip2::filesystem::types::{
    Advice, Descriptor, DescriptorFlags, NewTimestamp, OpenFlags, PathFlags,
};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingRequest, Scheme};
use wasip2::io::poll;
use wasip2::random::{insecure, insecure_seed, random};
use wasip2::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use wasip2::sockets::{instance_network, ip_name_lookup, tcp_create_socket, udp_create_socket};

/// Where to work.
#[derive(Deserialize, JsonSchema)]
struct Input {
    /// A guest directory bound read-write.
    dir: String,
}

/// What was called.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// `interface function` of every host call made, in order.
    calls: Vec<String>,
}

/// The calls made so far.
struct Census(Vec<String>);

impl Census {
    /// Note the call about to be made.
    fn hit(&mut self, iface: &str, func: &str) {
        self.0.push(format!("{iface} {func}"));
    }
}

/// Note the call `$func` of `$iface` in the census `$c`, then make it: the name is recorded
/// right before the host call it names.
macro_rules! call {
    ($c:ident, $iface:expr, $func:literal => $call:expr) => {{
        $c.hit($iface, $func);
        $call
    }};
}

const MONOTONIC: &str = "wasi:clocks/monotonic-clock";
const WALL_CLOCK: &str = "wasi:clocks/wall-clock";
const RANDOM: &str = "wasi:random/random";
const INSECURE: &str = "wasi:random/insecure";
const ENVIRONMENT: &str = "wasi:cli/environment";
const TCP: &str = "wasi:sockets/tcp";
const FS: &str = "wasi:filesystem/types";
const STREAMS: &str = "wasi:io/streams";
const POLL: &str = "wasi:io/poll";
const HTTP: &str = "wasi:http/types";

fn import_census(input: Input) -> Result<Output, ToolError> {
    let mut c = Census(Vec::new());
    clocks(&mut c);
    randomness(&mut c);
    cli(&mut c);
    filesystem(&mut c, &input.dir)?;
    sockets(&mut c);
    http(&mut c);
    call!(c, "wasmgov:tool/host", "log" => wasmgov_sdk::log::info("census done"));
    Ok(Output { calls: c.0 })
}

fn clocks(c: &mut Census) {
    let now = call!(c, MONOTONIC, "now" => monotonic_clock::now());
    let _ = call!(c, MONOTONIC, "resolution" => monotonic_clock::resolution());
    let soon = call!(c, MONOTONIC, "subscribe-duration" =>
        monotonic_clock::subscribe_duration(1_000_000));
    let past = call!(c, MONOTONIC, "subscribe-instant" => monotonic_clock::subscribe_instant(now));
    let _ = call!(c, POLL, "[method]pollable.ready" => past.ready());
    let _ = call!(c, POLL, "poll" => poll::poll(&[&soon, &past]));
    call!(c, POLL, "[method]pollable.block" => soon.block());
    let _ = call!(c, WALL_CLOCK, "now" => wall_clock::now());
    let _ = call!(c, WALL_CLOCK, "resolution" => wall_clock::resolution());
}

fn randomness(c: &mut Census) {
    let _ = call!(c, RANDOM, "get-random-bytes" => random::get_random_bytes(8));
    let _ = call!(c, RANDOM, "get-random-u64" => random::get_random_u64());
    let _ = call!(c, INSECURE, "get-insecure-random-bytes" =>
        insecure::get_insecure_random_bytes(8));
    let _ = call!(c, INSECURE, "get-insecure-random-u64" => insecure::get_insecure_random_u64());
    let _ = call!(c, "wasi:random/insecure-seed", "insecure-seed" =>
        insecure_seed::insecure_seed());
}

fn cli(c: &mut Census) {
    let _ = call!(c, ENVIRONMENT, "get-environment" => environment::get_environment());
    let _ = call!(c, ENVIRONMENT, "get-arguments" => environment::get_arguments());
    let _ = call!(c, ENVIRONMENT, "initial-cwd" => environment::initial_cwd());
    let _ = call!(c, "wasi:cli/terminal-stdin", "get-terminal-stdin" =>
        terminal_stdin::get_terminal_stdin());
    let _ = call!(c, "wasi:cli/terminal-stdout", "get-terminal-stdout" =>
        terminal_stdout::get_terminal_stdout());
    let _ = call!(c, "wasi:cli/terminal-stderr", "get-terminal-stderr" =>
        terminal_stderr::get_terminal_stderr());

    let input = call!(c, "wasi:cli/stdin", "get-stdin" => stdin::get_stdin());
    let _ = call!(c, STREAMS, "[method]input-stream.read" => input.read(4));
    let _ = call!(c, STREAMS, "[method]input-stream.blocking-read" => input.blocking_read(4));
    let _ = call!(c, STREAMS, "[method]input-stream.skip" => input.skip(4));
    let _ = call!(c, STREAMS, "[method]input-stream.blocking-skip" => input.blocking_skip(4));
    drop(call!(c, STREAMS, "[method]input-stream.subscribe" => input.subscribe()));

    let out = call!(c, "wasi:cli/stdout", "get-stdout" => stdout::get_stdout());
    let _ = call!(c, STREAMS, "[method]output-stream.check-write" => out.check_write());
    let _ = call!(c, STREAMS, "[method]output-stream.write" => out.write(b"census\n"));
    let _ = call!(c, STREAMS, "[method]output-stream.flush" => out.flush());
    let _ = call!(c, STREAMS, "[method]output-stream.blocking-flush" => out.blocking_flush());
    let _ = call!(c, STREAMS, "[method]output-stream.blocking-write-and-flush" =>
        out.blocking_write_and_flush(b"census\n"));
    let _ = call!(c, STREAMS, "[method]output-stream.write-zeroes" => out.write_zeroes(1));
    let _ = call!(c, STREAMS, "[method]output-stream.blocking-write-zeroes-and-flush" =>
        out.blocking_write_zeroes_and_flush(1));
    drop(call!(c, STREAMS, "[method]output-stream.subscribe" => out.subscribe()));
    let _ = call!(c, STREAMS, "[method]output-stream.splice" => out.splice(&input, 1));
    let _ = call!(c, STREAMS, "[method]output-stream.blocking-splice" =>
        out.blocking_splice(&input, 1));
    drop(call!(c, "wasi:cli/stderr", "get-stderr" => stderr::get_stderr()));
}

fn fail(what: &str, e: impl std::fmt::Debug) -> ToolError {
    ToolError::Failed(format!("{what}: {e:?}"))
}

fn filesystem(c: &mut Census, dir: &str) -> Result<(), ToolError> {
    let dirs = call!(c, "wasi:filesystem/preopens", "get-directories" =>
        preopens::get_directories());
    let Some((root, _)) = dirs.into_iter().find(|(_, p)| p == dir) else {
        return Err(ToolError::InvalidInput(format!(
            "{dir} is not a preopened directory"
        )));
    };
    let _ = call!(c, FS, "[method]descriptor.get-type" => root.get_type());
    let _ = call!(c, FS, "[method]descriptor.get-flags" => root.get_flags());
    let _ = call!(c, FS, "[method]descriptor.stat" => root.stat());
    let _ = call!(c, FS, "[method]descriptor.metadata-hash" => root.metadata_hash());
    call!(c, FS, "[method]descriptor.create-directory-at" => root.create_directory_at("census.d"))
        .map_err(|e| fail("create-directory-at", e))?;
    let dir_flags = DescriptorFlags::READ | DescriptorFlags::MUTATE_DIRECTORY;
    let sub = call!(c, FS, "[method]descriptor.open-at" =>
        root.open_at(PathFlags::empty(), "census.d", OpenFlags::DIRECTORY, dir_flags))
    .map_err(|e| fail("open-at census.d", e))?;
    let file_flags = DescriptorFlags::READ | DescriptorFlags::WRITE;
    let file = call!(c, FS, "[method]descriptor.open-at" =>
        sub.open_at(PathFlags::empty(), "a.txt", OpenFlags::CREATE, file_flags))
    .map_err(|e| fail("open-at a.txt", e))?;
    file_calls(c, &file);
    path_calls(c, &sub);
    let _ = call!(c, FS, "[method]descriptor.is-same-object" => sub.is_same_object(&file));
    if let Ok(entries) = call!(c, FS, "[method]descriptor.read-directory" => sub.read_directory()) {
        let _ = call!(c, FS, "[method]directory-entry-stream.read-directory-entry" =>
            entries.read_directory_entry());
    }
    drop(file);
    for name in ["b.txt", "c.txt", "link.txt"] {
        let _ = call!(c, FS, "[method]descriptor.unlink-file-at" => sub.unlink_file_at(name));
    }
    drop(sub);
    let _ = call!(c, FS, "[method]descriptor.remove-directory-at" =>
        root.remove_directory_at("census.d"));
    Ok(())
}

fn file_calls(c: &mut Census, file: &Descriptor) {
    let _ = call!(c, FS, "[method]descriptor.write" => file.write(b"census", 0));
    let _ = call!(c, FS, "[method]descriptor.read" => file.read(6, 0));
    if let Ok(s) = call!(c, FS, "[method]descriptor.write-via-stream" => file.write_via_stream(6)) {
        let _ = call!(c, STREAMS, "[method]output-stream.blocking-write-and-flush" =>
            s.blocking_write_and_flush(b"!"));
    }
    drop(call!(c, FS, "[method]descriptor.append-via-stream" => file.append_via_stream()));
    if let Ok(s) = call!(c, FS, "[method]descriptor.read-via-stream" => file.read_via_stream(0)) {
        let _ = call!(c, STREAMS, "[method]input-stream.blocking-read" => s.blocking_read(16));
    }
    let _ = call!(c, FS, "[method]descriptor.advise" => file.advise(0, 6, Advice::Sequential));
    let _ = call!(c, FS, "[method]descriptor.sync-data" => file.sync_data());
    let _ = call!(c, FS, "[method]descriptor.sync" => file.sync());
    let _ = call!(c, FS, "[method]descriptor.set-size" => file.set_size(3));
    let _ = call!(c, FS, "[method]descriptor.set-times" =>
        file.set_times(NewTimestamp::NoChange, NewTimestamp::Now));
}

fn path_calls(c: &mut Census, dir: &Descriptor) {
    let _ = call!(c, FS, "[method]descriptor.stat-at" => dir.stat_at(PathFlags::empty(), "a.txt"));
    let _ = call!(c, FS, "[method]descriptor.metadata-hash-at" =>
        dir.metadata_hash_at(PathFlags::empty(), "a.txt"));
    let (now, keep) = (NewTimestamp::Now, NewTimestamp::NoChange);
    let _ = call!(c, FS, "[method]descriptor.set-times-at" =>
        dir.set_times_at(PathFlags::empty(), "a.txt", now, keep));
    let _ = call!(c, FS, "[method]descriptor.link-at" =>
        dir.link_at(PathFlags::empty(), "a.txt", dir, "b.txt"));
    let _ = call!(c, FS, "[method]descriptor.rename-at" => dir.rename_at("a.txt", dir, "c.txt"));
    let _ = call!(c, FS, "[method]descriptor.symlink-at" => dir.symlink_at("c.txt", "link.txt"));
    let _ = call!(c, FS, "[method]descriptor.readlink-at" => dir.readlink_at("link.txt"));
}

fn sockets(c: &mut Census) {
    let net = call!(c, "wasi:sockets/instance-network", "instance-network" =>
        instance_network::instance_network());
    if let Ok(sock) = call!(c, "wasi:sockets/tcp-create-socket", "create-tcp-socket" =>
        tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4))
    {
        let _ = call!(c, TCP, "[method]tcp-socket.address-family" => sock.address_family());
        let discard = IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port: 9,
            address: (127, 0, 0, 1),
        });
        let started = call!(c, TCP, "[method]tcp-socket.start-connect" =>
            sock.start_connect(&net, discard));
        if started.is_ok() {
            let ready = call!(c, TCP, "[method]tcp-socket.subscribe" => sock.subscribe());
            call!(c, POLL, "[method]pollable.block" => ready.block());
            let _ = call!(c, TCP, "[method]tcp-socket.finish-connect" => sock.finish_connect());
        }
    }
    let _ = call!(c, "wasi:sockets/udp-create-socket", "create-udp-socket" =>
        udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4));
    let _ = call!(c, "wasi:sockets/ip-name-lookup", "resolve-addresses" =>
        ip_name_lookup::resolve_addresses(&net, "localhost"));
}

fn http(c: &mut Census) {
    let headers = call!(c, HTTP, "[constructor]fields" => Fields::new());
    let _ = call!(c, HTTP, "[method]fields.append" => headers.append("x-census", b"1"));
    let _ = call!(c, HTTP, "[method]fields.has" => headers.has("x-census"));
    let _ = call!(c, HTTP, "[method]fields.get" => headers.get("x-census"));
    let req = call!(c, HTTP, "[constructor]outgoing-request" => OutgoingRequest::new(headers));
    let _ = call!(c, HTTP, "[method]outgoing-request.set-method" => req.set_method(&Method::Get));
    let _ = call!(c, HTTP, "[method]outgoing-request.set-scheme" =>
        req.set_scheme(Some(&Scheme::Http)));
    let _ = call!(c, HTTP, "[method]outgoing-request.set-authority" =>
        req.set_authority(Some("127.0.0.1:9")));
    let _ = call!(c, HTTP, "[method]outgoing-request.set-path-with-query" =>
        req.set_path_with_query(Some("/census")));
    let _ = call!(c, "wasi:http/outgoing-handler", "handle" => outgoing_handler::handle(req, None));
}

wasmgov_sdk::export_tool!(import_census);
