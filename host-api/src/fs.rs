//! Filesystem capability: only bound directories exist for a tool.
//!
//! Each bind maps a guest path to a host directory at read or read-write. wasmtime-wasi resolves
//! every path beneath the bind's handle, so `..`, absolute paths and symlinks (pre-existing or
//! created by the tool) cannot leave it; a read bind refuses every mutation (`FsPerms::ReadOnly`).
//!
//! A bind is **opened once**, when the grant is made ([`Bind::open`]), walking the host path one
//! component at a time without following any symlink, and every call is served from that held
//! handle (see [`crate::fs_gov`]). Re-opening the path per call would follow whatever the path
//! names *now*: a read-write tool that swaps a directory for a symlink (finding 5 of the 2026-12
//! review: `/docs` redirected to `/etc`) would redirect a later call. Before each call
//! [`Bind::verify`] walks the path again and refuses the call when it no longer names the
//! directory held (another device/inode, or a symlink on the way), so the change is seen and
//! audited rather than silently served from a directory the operator no longer names.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime_wasi::filesystem::Dir;
use wasmtime_wasi::{FsPerms, OpenMode};

/// One directory bound into the guest, held open from the moment the grant was made.
#[derive(Clone)]
pub struct Bind {
    /// Host directory (the canonical path the grant checked).
    pub host: PathBuf,
    /// Absolute guest path.
    pub guest: String,
    /// Whether the tool may only read.
    pub read_only: bool,
    /// The operator marked it sensitive: every file opened under it is named in the audit
    /// record of the `open-at` (as `sensitive`, the full guest path) for the detection rules.
    pub sensitive: bool,
    held: Arc<Held>,
}

/// The handle of a bind and the identity it had when it was checked.
struct Held {
    dir: Dir,
    id: DirId,
}

/// Device and inode of a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DirId {
    dev: u64,
    ino: u64,
}

impl fmt::Debug for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bind")
            .field("host", &self.host)
            .field("guest", &self.guest)
            .field("read_only", &self.read_only)
            .field("dev", &self.held.id.dev)
            .field("ino", &self.held.id.ino)
            .finish()
    }
}

/// Why a bind could not be opened, or may no longer be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindFailure {
    /// The host directory could not be opened (missing, not a directory, no permission).
    Open(String),
    /// A component of the host path is a symlink: the path was resolved by the grant, so a
    /// symlink on it now means it was replaced.
    Symlink,
    /// The path names another directory than the one opened at load (moved or replaced).
    Replaced,
}

impl fmt::Display for BindFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open(e) => write!(f, "{e}"),
            Self::Symlink => write!(
                f,
                "the host path now passes through a symlink (it was replaced after the grant was made)"
            ),
            Self::Replaced => write!(
                f,
                "the host path no longer names the directory opened when the grant was made (it was moved or replaced)"
            ),
        }
    }
}

/// A bind whose host directory could not be opened, or no longer names what was opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {guest} to {host}: {reason}")]
pub struct BindError {
    /// Guest path.
    pub guest: String,
    /// Host path.
    pub host: String,
    /// Why.
    pub reason: BindFailure,
}

impl BindError {
    /// What the operator can do about it.
    pub fn hint(&self) -> &'static str {
        match self.reason {
            BindFailure::Open(_) => "check that the host directory exists and is readable",
            BindFailure::Symlink | BindFailure::Replaced => {
                "something changed the bound directory after the tool was loaded; check who can write to its parent, then load the tool again"
            }
        }
    }
}

impl Bind {
    /// Open `host` (absolute, as the grant resolved it) for `guest`, following no symlink on the
    /// way, and hold it for every call of the tool.
    pub fn open(host: &Path, guest: &str, read_only: bool) -> Result<Self, BindError> {
        let err = |reason| BindError {
            guest: guest.to_string(),
            host: host.display().to_string(),
            reason,
        };
        let (file, id) = open_no_symlinks(host).map_err(err)?;
        let perms = if read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        let mode = if read_only {
            OpenMode::READ
        } else {
            OpenMode::READ | OpenMode::WRITE
        };
        // `false`: fs work goes to the blocking pool, so the call's deadline can always fire
        // while a host call is blocked (see the sandbox's `allow_blocking_current_thread`).
        let dir = Dir::new(file, perms, mode, false);
        Ok(Self {
            host: host.to_path_buf(),
            guest: guest.to_string(),
            read_only,
            sensitive: false,
            held: Arc::new(Held { dir, id }),
        })
    }

    /// Refuse the bind if its host path no longer names the directory held since
    /// [`Bind::open`].
    pub fn verify(&self) -> Result<(), BindError> {
        let err = |reason| BindError {
            guest: self.guest.clone(),
            host: self.host.display().to_string(),
            reason,
        };
        let (_, now) = open_no_symlinks(&self.host).map_err(|r| match r {
            // Gone (moved or deleted) is a replacement; anything else (a permission changed)
            // is said as it is.
            BindFailure::Open(_) if std::fs::symlink_metadata(&self.host).is_err() => {
                err(BindFailure::Replaced)
            }
            other => err(other),
        })?;
        if now != self.held.id {
            return Err(err(BindFailure::Replaced));
        }
        Ok(())
    }

    /// The held handle, as wasmtime-wasi serves it (shares the one fd).
    pub(crate) fn dir(&self) -> Dir {
        self.held.dir.clone()
    }
}

#[cfg(unix)]
fn open_no_symlinks(path: &Path) -> Result<(std::fs::File, DirId), BindFailure> {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Component;

    // `O_PATH` (Linux): a handle for lookups only, so an ancestor needs search permission but
    // not read permission, exactly as a path lookup would. Elsewhere a read-only open.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const LOOKUP: libc::c_int = libc::O_PATH;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const LOOKUP: libc::c_int = libc::O_RDONLY;
    let flags = LOOKUP | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;

    let open_err = |what: &Path, e: std::io::Error| {
        BindFailure::Open(format!("cannot open {}: {e}", what.display()))
    };
    let mut fd: Option<OwnedFd> = None;
    let mut so_far = PathBuf::new();
    for c in path.components() {
        let name: &std::ffi::OsStr = match c {
            Component::RootDir => std::ffi::OsStr::new("/"),
            Component::CurDir => continue,
            Component::Normal(n) => n,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(BindFailure::Open(format!(
                    "{} is not a resolved path",
                    path.display()
                )));
            }
        };
        so_far.push(name);
        let cname = CString::new(name.as_bytes())
            .map_err(|_| BindFailure::Open(format!("{} holds a NUL byte", path.display())))?;
        let base = fd.as_ref().map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
        // SAFETY: `base` is AT_FDCWD or a descriptor owned by `fd` and alive for this call;
        // `cname` is a NUL-terminated string that outlives the call.
        let raw = unsafe { libc::openat(base, cname.as_ptr(), flags) };
        if raw < 0 {
            let e = std::io::Error::last_os_error();
            // O_NOFOLLOW on a symlink: ELOOP (read open) or ENOTDIR (O_PATH|O_DIRECTORY).
            let is_link = std::fs::symlink_metadata(&so_far)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            return Err(if is_link {
                BindFailure::Symlink
            } else {
                open_err(&so_far, e)
            });
        }
        // SAFETY: `raw` was just returned by openat and is owned by nobody else.
        fd = Some(unsafe { OwnedFd::from_raw_fd(raw) });
    }
    let fd = fd.ok_or_else(|| BindFailure::Open("empty host path".into()))?;
    let file = std::fs::File::from(fd);
    let id = fstat_id(&file).map_err(|e| open_err(path, e))?;
    Ok((file, id))
}

#[cfg(unix)]
fn fstat_id(f: &std::fs::File) -> std::io::Result<DirId> {
    use std::os::fd::AsRawFd;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `f` is an open descriptor and `st` points to writable memory of the right size;
    // fstat initialises it on success, checked before `assume_init`.
    let r = unsafe { libc::fstat(f.as_raw_fd(), st.as_mut_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fstat returned 0, so `st` is initialised.
    let st = unsafe { st.assume_init() };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(std::io::Error::from(std::io::ErrorKind::NotADirectory));
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between unix targets
    Ok(DirId {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
    })
}

#[cfg(not(unix))]
fn open_no_symlinks(path: &Path) -> Result<(std::fs::File, DirId), BindFailure> {
    // No no-follow walk off unix: the canonical path is opened as is and its identity is not
    // compared (see docs/filesystem.md).
    let f = std::fs::File::open(path)
        .map_err(|e| BindFailure::Open(format!("cannot open {}: {e}", path.display())))?;
    Ok((f, DirId { dev: 0, ino: 0 }))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_bind_is_refused_once_its_path_names_another_directory() {
        let t = tempfile::tempdir().expect("tempdir");
        let base = std::fs::canonicalize(t.path()).expect("canonical");
        let docs = base.join("docs");
        std::fs::create_dir(&docs).expect("mkdir");
        std::fs::create_dir(base.join("evil")).expect("mkdir");
        let b = Bind::open(&docs, "/docs", true).expect("open");
        b.verify().expect("unchanged");
        // Swapped for a symlink to another directory.
        std::fs::rename(&docs, base.join("docs.old")).expect("rename");
        std::os::unix::fs::symlink(base.join("evil"), &docs).expect("symlink");
        assert_eq!(b.verify().map_err(|e| e.reason), Err(BindFailure::Symlink));
        // Swapped for another real directory.
        std::fs::remove_file(&docs).expect("unlink");
        std::fs::create_dir(&docs).expect("mkdir");
        assert_eq!(b.verify().map_err(|e| e.reason), Err(BindFailure::Replaced));
        // Gone.
        std::fs::remove_dir(&docs).expect("rmdir");
        assert_eq!(b.verify().map_err(|e| e.reason), Err(BindFailure::Replaced));
        // A symlink on an ancestor is refused at open, too.
        std::os::unix::fs::symlink(base.join("docs.old"), base.join("link")).expect("symlink");
        let e = Bind::open(&base.join("link"), "/docs", true).expect_err("symlink refused");
        assert_eq!(e.reason, BindFailure::Symlink);
        let e = Bind::open(&base.join("link/."), "/docs", true).expect_err("symlink refused");
        assert_eq!(e.reason, BindFailure::Symlink);
    }
}
