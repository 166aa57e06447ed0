//! `hostile-fs`: tries every way out of, or into, its directory binds that the threat catalog
//! lists (F01–F05) through raw `wasi:filesystem` calls, and reports what it observed.
//!
//! Input `{"ro": "/ro", "rw": "/rw", "outside": "sentinel.txt", "inside": "inside.txt"}`: the
//! guest paths of a read bind and a read-write bind, the name of a sentinel file the test put in
//! the *parent* of each bind's host directory, and the name of a file inside the read bind. A
//! pre-existing symlink `escape` in the read bind (pointing out of it) is tried if present.
//!
//! Output: `{"attempts": [{"name", "escaped", "detail"}]}`. `escaped` is true only when the
//! attack achieved its aim (bytes from outside read, or the read bind changed). Entries whose
//! name starts with `control:` are legitimate operations that must succeed, to show the tool
//! is not just broken.

use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{
    Descriptor, DescriptorFlags, ErrorCode, NewTimestamp, OpenFlags, PathFlags,
};
use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// Where the binds are.
#[derive(Deserialize, JsonSchema)]
struct Input {
    /// Guest path of the read bind.
    #[serde(default = "ro")]
    ro: String,
    /// Guest path of the read-write bind.
    #[serde(default = "rw")]
    rw: String,
    /// Name of the sentinel in the parent of each bind's host directory.
    #[serde(default = "outside")]
    outside: String,
    /// Name of a file inside the read bind.
    #[serde(default = "inside")]
    inside: String,
}

fn ro() -> String {
    "/ro".into()
}
fn rw() -> String {
    "/rw".into()
}
fn outside() -> String {
    "sentinel.txt".into()
}
fn inside() -> String {
    "inside.txt".into()
}

/// One attempt.
#[derive(Serialize, JsonSchema)]
struct Attempt {
    name: String,
    escaped: bool,
    detail: String,
}

/// Everything tried.
#[derive(Serialize, JsonSchema)]
struct Output {
    attempts: Vec<Attempt>,
    preopens: Vec<String>,
}

struct Report(Vec<Attempt>);

impl Report {
    fn add(&mut self, name: &str, escaped: bool, detail: String) {
        self.0.push(Attempt {
            name: name.into(),
            escaped,
            detail,
        });
    }

    /// An attack whose success is `Ok`: escaped when it succeeded.
    fn attack<T>(&mut self, name: &str, r: Result<T, ErrorCode>, show: impl Fn(&T) -> String) {
        match r {
            Ok(v) => {
                let d = show(&v);
                self.add(name, true, format!("succeeded: {d}"));
            }
            Err(e) => self.add(name, false, format!("{e:?}")),
        }
    }
}

fn read_all(d: &Descriptor) -> Result<Vec<u8>, ErrorCode> {
    let (bytes, _) = d.read(1 << 20, 0)?;
    Ok(bytes)
}

fn open_read(dir: &Descriptor, path: &str) -> Result<Vec<u8>, ErrorCode> {
    let f = dir.open_at(
        PathFlags::SYMLINK_FOLLOW,
        path,
        OpenFlags::empty(),
        DescriptorFlags::READ,
    )?;
    read_all(&f)
}

fn show_bytes(b: &Vec<u8>) -> String {
    String::from_utf8_lossy(&b[..b.len().min(64)]).into_owned()
}

fn hostile_fs(input: Input) -> Result<Output, ToolError> {
    let dirs = get_directories();
    let preopens: Vec<String> = dirs.iter().map(|(_, p)| p.clone()).collect();
    let find = |p: &str| dirs.iter().find(|(_, g)| g == p).map(|(d, _)| d);
    let (Some(ro), Some(rw)) = (find(&input.ro), find(&input.rw)) else {
        return Err(ToolError::failed(format!(
            "binds {} and {} not found among preopens {preopens:?}",
            input.ro, input.rw
        )));
    };
    let out = &input.outside;
    let mut r = Report(Vec::new());

    // Controls: what the grant allows must work.
    r.add(
        "control:read-inside-ro",
        false,
        match open_read(ro, &input.inside) {
            Ok(b) => format!("ok {} bytes", b.len()),
            Err(e) => format!("FAILED {e:?}"),
        },
    );
    let w = rw
        .open_at(
            PathFlags::empty(),
            "control.txt",
            OpenFlags::CREATE,
            DescriptorFlags::WRITE,
        )
        .and_then(|f| f.write(b"ok", 0));
    r.add(
        "control:write-inside-rw",
        false,
        match w {
            Ok(n) => format!("ok {n} bytes"),
            Err(e) => format!("FAILED {e:?}"),
        },
    );

    // F01: traversal, absolute paths, odd paths.
    for (name, p) in [
        ("F01:dotdot", format!("../{out}")),
        (
            "F01:dotdot-deep",
            "../../../../../../etc/passwd".to_string(),
        ),
        ("F01:absolute", "/etc/passwd".to_string()),
        ("F01:sub-dotdot", format!("sub/../../{out}")),
        ("F01:dot-dotdot", format!("./../{out}")),
        ("F01:nul", format!("{}\0../{out}", input.inside)),
    ] {
        r.attack(name, open_read(ro, &p), show_bytes);
    }
    let long = "a/".repeat(32 * 1024);
    r.attack("F01:64k-path", open_read(ro, &long), show_bytes);
    // The same through the libc path layer (what most tools would do).
    for (name, p) in [
        ("F01:std-dotdot", format!("{}/../{out}", input.ro)),
        ("F01:std-absolute", "/etc/passwd".to_string()),
        ("F01:std-proc-environ", "/proc/self/environ".to_string()),
    ] {
        match std::fs::read(&p) {
            Ok(b) => r.add(name, true, format!("read {} bytes", b.len())),
            Err(e) => r.add(name, false, e.to_string()),
        }
    }

    // F02: symlinks the tool creates.
    r.attack(
        "F02:symlink-absolute-create",
        rw.symlink_at("/etc/passwd", "abs-link"),
        |_| "created".into(),
    );
    let rel = rw.symlink_at(&format!("../{out}"), "rel-link");
    r.add(
        "F02:symlink-relative-create",
        false,
        format!("{rel:?} (creating may succeed; following must not)"),
    );
    r.attack("F02:follow-relative", open_read(rw, "rel-link"), show_bytes);
    r.attack(
        "F02:write-through-relative",
        rw.open_at(
            PathFlags::SYMLINK_FOLLOW,
            "rel-link",
            OpenFlags::TRUNCATE,
            DescriptorFlags::WRITE,
        )
        .and_then(|f| f.write(b"pwned", 0)),
        |n| format!("{n} bytes"),
    );
    r.attack("F02:follow-absolute", open_read(rw, "abs-link"), show_bytes);

    // F03: a symlink that already exists in the read bind, pointing out of it.
    r.attack(
        "F03:preexisting-escape",
        open_read(ro, &format!("escape/{out}")),
        show_bytes,
    );
    r.attack(
        "F03:preexisting-escape-file",
        open_read(ro, "escape-file"),
        show_bytes,
    );
    r.attack(
        "F03:proc-link",
        open_read(ro, "proc/self/environ"),
        show_bytes,
    );

    // F04: hard link from the read bind into the read-write bind, then write through it.
    r.attack(
        "F04:link-ro-to-rw",
        ro.link_at(PathFlags::empty(), &input.inside, rw, "alias"),
        |_| "linked".into(),
    );
    r.attack(
        "F04:write-through-alias",
        rw.open_at(
            PathFlags::empty(),
            "alias",
            OpenFlags::TRUNCATE,
            DescriptorFlags::WRITE,
        )
        .and_then(|f| f.write(b"pwned", 0)),
        |n| format!("{n} bytes"),
    );
    r.attack(
        "F04:link-outside-into-rw",
        rw.link_at(PathFlags::empty(), &format!("../{out}"), rw, "alias2"),
        |_| "linked".into(),
    );

    // F05: every mutation on the read bind.
    let inside_f = &input.inside;
    r.attack(
        "F05:open-write",
        ro.open_at(
            PathFlags::empty(),
            inside_f,
            OpenFlags::empty(),
            DescriptorFlags::WRITE,
        )
        .and_then(|f| f.write(b"pwned", 0)),
        |n| format!("{n} bytes"),
    );
    r.attack(
        "F05:open-truncate",
        ro.open_at(
            PathFlags::empty(),
            inside_f,
            OpenFlags::TRUNCATE,
            DescriptorFlags::READ,
        ),
        |_| "truncated".into(),
    );
    r.attack(
        "F05:create",
        ro.open_at(
            PathFlags::empty(),
            "new.txt",
            OpenFlags::CREATE,
            DescriptorFlags::READ,
        ),
        |_| "created".into(),
    );
    r.attack("F05:unlink", ro.unlink_file_at(inside_f), |_| {
        "unlinked".into()
    });
    r.attack(
        "F05:rename",
        ro.rename_at(inside_f, ro, "renamed.txt"),
        |_| "renamed".into(),
    );
    r.attack("F05:mkdir", ro.create_directory_at("newdir"), |_| {
        "created".into()
    });
    r.attack("F05:rmdir", ro.remove_directory_at("sub"), |_| {
        "removed".into()
    });
    r.attack("F05:symlink", ro.symlink_at(inside_f, "link"), |_| {
        "created".into()
    });
    r.attack(
        "F05:set-times-at",
        ro.set_times_at(
            PathFlags::empty(),
            inside_f,
            NewTimestamp::Now,
            NewTimestamp::Now,
        ),
        |_| "changed".into(),
    );
    let opened = ro.open_at(
        PathFlags::empty(),
        inside_f,
        OpenFlags::empty(),
        DescriptorFlags::READ,
    );
    match opened {
        Ok(f) => {
            r.attack("F05:set-size", f.set_size(0), |_| "truncated".into());
            r.attack(
                "F05:set-times",
                f.set_times(NewTimestamp::Now, NewTimestamp::Now),
                |_| "changed".into(),
            );
            r.attack("F05:write-on-read-handle", f.write(b"pwned", 0), |n| {
                format!("{n} bytes")
            });
            r.attack("F05:write-via-stream", f.write_via_stream(0), |_| {
                "stream opened".into()
            });
            r.attack("F05:append-via-stream", f.append_via_stream(), |_| {
                "stream opened".into()
            });
        }
        Err(e) => r.add("F05:open-read", false, format!("could not open: {e:?}")),
    }
    r.attack(
        "F05:move-into-ro",
        rw.rename_at("control.txt", ro, "moved.txt"),
        |_| "moved".into(),
    );
    Ok(Output {
        attempts: r.0,
        preopens,
    })
}

wasmgov_sdk::export_tool!(hostile_fs);
