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
    c.hit("wasmgov:tool/host", "log");
    wasmgov_sdk::log::info("census done");
    Ok(Output { calls: c.0 })
}

fn clocks(c: &mut Census) {
    c.hit("wasi:clocks/monotonic-clock", "now");
    let now = monotonic_clock::now();
    c.hit("wasi:clocks/monotonic-clock", "resolution");
    let _ = monotonic_clock::resolution();
    c.hit("wasi:clocks/monotonic-clock", "subscribe-duration");
    let soon = monotonic_clock::subscribe_duration(1_000_000);
    c.hit("wasi:clocks/monotonic-clock", "subscribe-instant");
    let past = monotonic_clock::subscribe_instant(now);
    c.hit(POLL, "[method]pollable.ready");
    let _ = past.ready();
    c.hit(POLL, "poll");
    let _ = poll::poll(&[&soon, &past]);
    c.hit(POLL, "[method]pollable.block");
    soon.block();
    c.hit("wasi:clocks/wall-clock", "now");
    let _ = wall_clock::now();
    c.hit("wasi:clocks/wall-clock", "resolution");
    let _ = wall_clock::resolution();
}

fn randomness(c: &mut Census) {
    c.hit("wasi:random/random", "get-random-bytes");
    let _ = random::get_random_bytes(8);
    c.hit("wasi:random/random", "get-random-u64");
    let _ = random::get_random_u64();
    c.hit("wasi:random/insecure", "get-insecure-random-bytes");
    let _ = insecure::get_insecure_random_bytes(8);
    c.hit("wasi:random/insecure", "get-insecure-random-u64");
    let _ = insecure::get_insecure_random_u64();
    c.hit("wasi:random/insecure-seed", "insecure-seed");
    let _ = insecure_seed::insecure_seed();
}

fn cli(c: &mut Census) {
    c.hit("wasi:cli/environment", "get-environment");
    let _ = environment::get_environment();
    c.hit("wasi:cli/environment", "get-arguments");
    let _ = environment::get_arguments();
    c.hit("wasi:cli/environment", "initial-cwd");
    let _ = environment::initial_cwd();
    c.hit("wasi:cli/terminal-stdin", "get-terminal-stdin");
    let _ = terminal_stdin::get_terminal_stdin();
    c.hit("wasi:cli/terminal-stdout", "get-terminal-stdout");
    let _ = terminal_stdout::get_terminal_stdout();
    c.hit("wasi:cli/terminal-stderr", "get-terminal-stderr");
    let _ = terminal_stderr::get_terminal_stderr();

    c.hit("wasi:cli/stdin", "get-stdin");
    let input = stdin::get_stdin();
    c.hit(STREAMS, "[method]input-stream.read");
    let _ = input.read(4);
    c.hit(STREAMS, "[method]input-stream.blocking-read");
    let _ = input.blocking_read(4);
    c.hit(STREAMS, "[method]input-stream.skip");
    let _ = input.skip(4);
    c.hit(STREAMS, "[method]input-stream.blocking-skip");
    let _ = input.blocking_skip(4);
    c.hit(STREAMS, "[method]input-stream.subscribe");
    drop(input.subscribe());

    c.hit("wasi:cli/stdout", "get-stdout");
    let out = stdout::get_stdout();
    c.hit(STREAMS, "[method]output-stream.check-write");
    let _ = out.check_write();
    c.hit(STREAMS, "[method]output-stream.write");
    let _ = out.write(b"census\n");
    c.hit(STREAMS, "[method]output-stream.flush");
    let _ = out.flush();
    c.hit(STREAMS, "[method]output-stream.blocking-flush");
    let _ = out.blocking_flush();
    c.hit(STREAMS, "[method]output-stream.blocking-write-and-flush");
    let _ = out.blocking_write_and_flush(b"census\n");
    c.hit(STREAMS, "[method]output-stream.write-zeroes");
    let _ = out.write_zeroes(1);
    c.hit(
        STREAMS,
        "[method]output-stream.blocking-write-zeroes-and-flush",
    );
    let _ = out.blocking_write_zeroes_and_flush(1);
    c.hit(STREAMS, "[method]output-stream.subscribe");
    drop(out.subscribe());
    c.hit(STREAMS, "[method]output-stream.splice");
    let _ = out.splice(&input, 1);
    c.hit(STREAMS, "[method]output-stream.blocking-splice");
    let _ = out.blocking_splice(&input, 1);
    c.hit("wasi:cli/stderr", "get-stderr");
    drop(stderr::get_stderr());
}

fn fail(what: &str, e: impl std::fmt::Debug) -> ToolError {
    ToolError::Failed(format!("{what}: {e:?}"))
}

fn filesystem(c: &mut Census, dir: &str) -> Result<(), ToolError> {
    c.hit("wasi:filesystem/preopens", "get-directories");
    let dirs = preopens::get_directories();
    let Some((root, _)) = dirs.into_iter().find(|(_, p)| p == dir) else {
        return Err(ToolError::InvalidInput(format!(
            "{dir} is not a preopened directory"
        )));
    };
    c.hit(FS, "[method]descriptor.get-type");
    let _ = root.get_type();
    c.hit(FS, "[method]descriptor.get-flags");
    let _ = root.get_flags();
    c.hit(FS, "[method]descriptor.stat");
    let _ = root.stat();
    c.hit(FS, "[method]descriptor.metadata-hash");
    let _ = root.metadata_hash();
    c.hit(FS, "[method]descriptor.create-directory-at");
    root.create_directory_at("census.d")
        .map_err(|e| fail("create-directory-at", e))?;
    c.hit(FS, "[method]descriptor.open-at");
    let sub = root
        .open_at(
            PathFlags::empty(),
            "census.d",
            OpenFlags::DIRECTORY,
            DescriptorFlags::READ | DescriptorFlags::MUTATE_DIRECTORY,
        )
        .map_err(|e| fail("open-at census.d", e))?;
    c.hit(FS, "[method]descriptor.open-at");
    let file = sub
        .open_at(
            PathFlags::empty(),
            "a.txt",
            OpenFlags::CREATE,
            DescriptorFlags::READ | DescriptorFlags::WRITE,
        )
        .map_err(|e| fail("open-at a.txt", e))?;
    file_calls(c, &file);
    path_calls(c, &sub);
    c.hit(FS, "[method]descriptor.is-same-object");
    let _ = sub.is_same_object(&file);
    c.hit(FS, "[method]descriptor.read-directory");
    if let Ok(entries) = sub.read_directory() {
        c.hit(FS, "[method]directory-entry-stream.read-directory-entry");
        let _ = entries.read_directory_entry();
    }
    drop(file);
    for name in ["b.txt", "c.txt", "link.txt"] {
        c.hit(FS, "[method]descriptor.unlink-file-at");
        let _ = sub.unlink_file_at(name);
    }
    drop(sub);
    c.hit(FS, "[method]descriptor.remove-directory-at");
    let _ = root.remove_directory_at("census.d");
    Ok(())
}

fn file_calls(c: &mut Census, file: &Descriptor) {
    c.hit(FS, "[method]descriptor.write");
    let _ = file.write(b"census", 0);
    c.hit(FS, "[method]descriptor.read");
    let _ = file.read(6, 0);
    c.hit(FS, "[method]descriptor.write-via-stream");
    if let Ok(s) = file.write_via_stream(6) {
        c.hit(STREAMS, "[method]output-stream.blocking-write-and-flush");
        let _ = s.blocking_write_and_flush(b"!");
    }
    c.hit(FS, "[method]descriptor.append-via-stream");
    drop(file.append_via_stream());
    c.hit(FS, "[method]descriptor.read-via-stream");
    if let Ok(s) = file.read_via_stream(0) {
        c.hit(STREAMS, "[method]input-stream.blocking-read");
        let _ = s.blocking_read(16);
    }
    c.hit(FS, "[method]descriptor.advise");
    let _ = file.advise(0, 6, Advice::Sequential);
    c.hit(FS, "[method]descriptor.sync-data");
    let _ = file.sync_data();
    c.hit(FS, "[method]descriptor.sync");
    let _ = file.sync();
    c.hit(FS, "[method]descriptor.set-size");
    let _ = file.set_size(3);
    c.hit(FS, "[method]descriptor.set-times");
    let _ = file.set_times(NewTimestamp::NoChange, NewTimestamp::Now);
}

fn path_calls(c: &mut Census, dir: &Descriptor) {
    c.hit(FS, "[method]descriptor.stat-at");
    let _ = dir.stat_at(PathFlags::empty(), "a.txt");
    c.hit(FS, "[method]descriptor.metadata-hash-at");
    let _ = dir.metadata_hash_at(PathFlags::empty(), "a.txt");
    c.hit(FS, "[method]descriptor.set-times-at");
    let _ = dir.set_times_at(
        PathFlags::empty(),
        "a.txt",
        NewTimestamp::Now,
        NewTimestamp::NoChange,
    );
    c.hit(FS, "[method]descriptor.link-at");
    let _ = dir.link_at(PathFlags::empty(), "a.txt", dir, "b.txt");
    c.hit(FS, "[method]descriptor.rename-at");
    let _ = dir.rename_at("a.txt", dir, "c.txt");
    c.hit(FS, "[method]descriptor.symlink-at");
    let _ = dir.symlink_at("c.txt", "link.txt");
    c.hit(FS, "[method]descriptor.readlink-at");
    let _ = dir.readlink_at("link.txt");
}

fn sockets(c: &mut Census) {
    c.hit("wasi:sockets/instance-network", "instance-network");
    let net = instance_network::instance_network();
    c.hit("wasi:sockets/tcp-create-socket", "create-tcp-socket");
    if let Ok(sock) = tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
        c.hit("wasi:sockets/tcp", "[method]tcp-socket.address-family");
        let _ = sock.address_family();
        c.hit("wasi:sockets/tcp", "[method]tcp-socket.start-connect");
        let started = sock.start_connect(
            &net,
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: 9,
                address: (127, 0, 0, 1),
            }),
        );
        if started.is_ok() {
            c.hit("wasi:sockets/tcp", "[method]tcp-socket.subscribe");
            let ready = sock.subscribe();
            c.hit(POLL, "[method]pollable.block");
            ready.block();
            c.hit("wasi:sockets/tcp", "[method]tcp-socket.finish-connect");
            let _ = sock.finish_connect();
        }
    }
    c.hit("wasi:sockets/udp-create-socket", "create-udp-socket");
    let _ = udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4);
    c.hit("wasi:sockets/ip-name-lookup", "resolve-addresses");
    let _ = ip_name_lookup::resolve_addresses(&net, "localhost");
}

fn http(c: &mut Census) {
    c.hit(HTTP, "[constructor]fields");
    let headers = Fields::new();
    c.hit(HTTP, "[method]fields.append");
    let _ = headers.append("x-census", b"1");
    c.hit(HTTP, "[method]fields.has");
    let _ = headers.has("x-census");
    c.hit(HTTP, "[method]fields.get");
    let _ = headers.get("x-census");
    c.hit(HTTP, "[constructor]outgoing-request");
    let req = OutgoingRequest::new(headers);
    c.hit(HTTP, "[method]outgoing-request.set-method");
    let _ = req.set_method(&Method::Get);
    c.hit(HTTP, "[method]outgoing-request.set-scheme");
    let _ = req.set_scheme(Some(&Scheme::Http));
    c.hit(HTTP, "[method]outgoing-request.set-authority");
    let _ = req.set_authority(Some("127.0.0.1:9"));
    c.hit(HTTP, "[method]outgoing-request.set-path-with-query");
    let _ = req.set_path_with_query(Some("/census"));
    c.hit("wasi:http/outgoing-handler", "handle");
    let _ = outgoing_handler::handle(req, None);
}

wasmgov_sdk::export_tool!(import_census);
