//! `hostile-fs-res`: makes the host hold, open, block on or write as much as it can through its
//! directory binds (review 2026-12, findings 5, 8, 9, 10), and reports how far it got.
//!
//! Input `{"mode", "dir": "/w", "path": "f", "n": N, "target": "…"}`; `dir` is the guest path
//! of a bind, `path` is relative to it. Modes:
//!
//! * `open-many`: open `path` `n` times and keep every handle; `open-streams`: open, make a read
//!   stream, drop the descriptor and keep the stream, `n` times.
//! * `read`: open `path` and read it (a FIFO, a device, or the file behind a swapped bind).
//! * `race-open`: open and close `path` `n` times, ignoring errors (the test swaps it between a
//!   file and a FIFO meanwhile).
//! * `swap`: rename `path` to `path.old` and put a symlink to `target` in its place.
//! * `stream`, `append`: write `n` bytes through `write-via-stream` / `append-via-stream` in 4 KiB
//!   `blocking-write-and-flush` calls; `check-write`: the same with `check-write` + `write`;
//!   `pwrite`: `n` bytes through `descriptor.write` in 64 KiB pieces; `set-size`: grow to `n`.
//! * `create`, `mkdir`, `symlink`, `link`: make `n` new files, directories, symlinks or hard
//!   links (of `path`) named `x<i>` in the bind.
//! * `list`: `read-directory` of the bind `n` times, keeping every stream.
//!
//! Output (also printed on stderr, so a call that ends in a limit still shows it):
//! `{"done": count, "error": "first error code or null", "detail": "…"}`.

use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags};
use wasip2::io::streams::{OutputStream, StreamError};
use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// What to do.
#[derive(Deserialize, JsonSchema)]
struct Input {
    mode: String,
    #[serde(default = "dir")]
    dir: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    n: u64,
    #[serde(default)]
    target: String,
}

fn dir() -> String {
    "/w".into()
}

/// How far it got.
#[derive(Serialize, JsonSchema)]
struct Output {
    done: u64,
    error: Option<String>,
    detail: String,
}

fn code(e: ErrorCode) -> String {
    e.name().to_string()
}

fn stream_code(e: StreamError) -> String {
    match e {
        StreamError::LastOperationFailed(err) => {
            match wasip2::filesystem::types::filesystem_error_code(&err) {
                Some(c) => code(c),
                None => format!("stream error: {}", err.to_debug_string()),
            }
        }
        StreamError::Closed => "closed".into(),
    }
}

fn open(d: &Descriptor, path: &str, create: bool, write: bool) -> Result<Descriptor, ErrorCode> {
    let of = if create {
        OpenFlags::CREATE
    } else {
        OpenFlags::empty()
    };
    let fl = if write {
        DescriptorFlags::WRITE
    } else {
        DescriptorFlags::READ
    };
    d.open_at(PathFlags::SYMLINK_FOLLOW, path, of, fl)
}

/// Write `n` bytes to `s` in 4 KiB blocking writes (or check-write + write).
fn flood(s: &OutputStream, n: u64, checked: bool) -> (u64, Option<String>) {
    let chunk = vec![b'x'; 4096];
    let mut done = 0u64;
    while done < n {
        let want = (n - done).min(chunk.len() as u64) as usize;
        let r = if checked {
            match s.check_write() {
                Ok(0) => {
                    s.subscribe().block();
                    continue;
                }
                Ok(k) => {
                    let k = want.min(k as usize);
                    s.write(&chunk[..k]).map(|()| k)
                }
                Err(e) => Err(e),
            }
        } else {
            s.blocking_write_and_flush(&chunk[..want]).map(|()| want)
        };
        match r {
            Ok(k) => done += k as u64,
            Err(e) => return (done, Some(stream_code(e))),
        }
    }
    match s.blocking_flush() {
        Ok(()) => (done, None),
        Err(e) => (done, Some(stream_code(e))),
    }
}

fn run(input: &Input, d: &Descriptor) -> Output {
    let (n, path) = (input.n, input.path.as_str());
    let mut out = Output {
        done: 0,
        error: None,
        detail: String::new(),
    };
    let fail = |out: &mut Output, e: String| {
        if out.error.is_none() {
            out.error = Some(e);
        }
    };
    match input.mode.as_str() {
        "open-many" => {
            let mut keep = Vec::new();
            for _ in 0..n {
                match open(d, path, false, false) {
                    Ok(f) => keep.push(f),
                    Err(e) => {
                        fail(&mut out, code(e));
                        break;
                    }
                }
            }
            out.done = keep.len() as u64;
            std::mem::forget(keep);
        }
        "open-streams" => {
            let mut keep = Vec::new();
            for _ in 0..n {
                match open(d, path, false, false).and_then(|f| f.read_via_stream(0)) {
                    Ok(s) => keep.push(s),
                    Err(e) => {
                        fail(&mut out, code(e));
                        break;
                    }
                }
            }
            out.done = keep.len() as u64;
            std::mem::forget(keep);
        }
        "read" => match open(d, path, false, false).and_then(|f| f.read(1 << 16, 0)) {
            Ok((bytes, _)) => {
                out.done = bytes.len() as u64;
                out.detail = String::from_utf8_lossy(&bytes).into_owned();
            }
            Err(e) => fail(&mut out, code(e)),
        },
        "race-open" => {
            for _ in 0..n {
                match open(d, path, false, false) {
                    Ok(_) => out.done += 1,
                    Err(e) => out.detail = code(e),
                }
            }
        }
        "swap" => {
            let old = format!("{path}.old");
            let r = d
                .rename_at(path, d, &old)
                .and_then(|()| d.symlink_at(&input.target, path));
            match r {
                Ok(()) => out.done = 1,
                Err(e) => fail(&mut out, code(e)),
            }
        }
        "stream" | "append" | "check-write" => {
            let s = open(d, path, true, true).and_then(|f| {
                if input.mode == "append" {
                    f.append_via_stream()
                } else {
                    f.write_via_stream(0)
                }
            });
            match s {
                Ok(s) => {
                    let (done, e) = flood(&s, n, input.mode == "check-write");
                    out.done = done;
                    if let Some(e) = e {
                        fail(&mut out, e);
                    }
                }
                Err(e) => fail(&mut out, code(e)),
            }
        }
        "pwrite" => match open(d, path, true, true) {
            Ok(f) => {
                let chunk = vec![b'p'; 64 * 1024];
                while out.done < n {
                    let k = (n - out.done).min(chunk.len() as u64) as usize;
                    match f.write(&chunk[..k], out.done) {
                        Ok(w) => out.done += w,
                        Err(e) => {
                            fail(&mut out, code(e));
                            break;
                        }
                    }
                }
            }
            Err(e) => fail(&mut out, code(e)),
        },
        "set-size" => match open(d, path, true, true).and_then(|f| f.set_size(n)) {
            Ok(()) => out.done = n,
            Err(e) => fail(&mut out, code(e)),
        },
        "create" | "mkdir" | "symlink" | "link" => {
            for i in 0..n {
                let name = format!("x{i}");
                let r = match input.mode.as_str() {
                    "create" => open(d, &name, true, true).map(drop),
                    "mkdir" => d.create_directory_at(&name),
                    "symlink" => d.symlink_at(path, &name),
                    _ => d.link_at(PathFlags::empty(), path, d, &name),
                };
                match r {
                    Ok(()) => out.done += 1,
                    Err(e) => {
                        fail(&mut out, code(e));
                        break;
                    }
                }
            }
        }
        "list" => {
            let mut keep = Vec::new();
            for _ in 0..n {
                match d.read_directory() {
                    Ok(s) => keep.push(s),
                    Err(e) => {
                        fail(&mut out, code(e));
                        break;
                    }
                }
            }
            out.done = keep.len() as u64;
            std::mem::forget(keep);
        }
        other => out.detail = format!("unknown mode {other}"),
    }
    out
}

fn hostile_fs_res(input: Input) -> Result<Output, ToolError> {
    let dirs = get_directories();
    let Some((d, _)) = dirs.iter().find(|(_, g)| *g == input.dir) else {
        let names: Vec<&String> = dirs.iter().map(|(_, g)| g).collect();
        return Err(ToolError::failed(format!(
            "no bind {} among {names:?}",
            input.dir
        )));
    };
    let out = run(&input, d);
    eprintln!(
        "hostile-fs-res {}: done {} error {:?} {}",
        input.mode, out.done, out.error, out.detail
    );
    Ok(out)
}

wasmgov_sdk::export_tool!(hostile_fs_res);
