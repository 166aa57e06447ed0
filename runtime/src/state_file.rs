//! Small JSON state files in the state directory (the ratchet, quarantine, detection
//! baselines): read with a size cap, written atomically (a temporary file, fsync, rename, fsync
//! of the directory) under an exclusive lock file, so concurrent processes never see half a file
//! and never lose each other's update.
//!
//! A state file (and a lock file) is opened without following a symlink; a state file is used
//! only if it is a regular file owned by this user or root that no one else can write: the directory
//! check ([`crate::private_dir`]) vouches for the directory, this for what is in it. A state file
//! that fails is an error (fail closed), never read as empty.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

/// An exclusive lock on `dir/name`, held until dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
}

/// Take the exclusive lock `dir/name` (created 0600 if missing), waiting for other holders.
pub(crate) fn lock(dir: &Path, name: &str) -> io::Result<Lock> {
    let path = dir.join(name);
    let mut o = OpenOptions::new();
    o.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = o.open(&path).map_err(not_followed)?;
    // Only its inode matters, not its bytes or mode (older versions created it 0666 & ~umask).
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "refused: not a regular file",
        ));
    }
    file.lock()?;
    Ok(Lock { _file: file })
}

/// The bytes of `path`, `None` if it does not exist, an error if it holds more than `max` or
/// is not a file this user can trust.
pub(crate) fn read_capped(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut o, libc::O_NOFOLLOW);
    let f = match o.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(not_followed(e)),
    };
    check_owned(&f)?;
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("corrupt: larger than {max} bytes"),
        ));
    }
    Ok(Some(buf))
}

/// `open(2)` with `O_NOFOLLOW` fails with `ELOOP` on a symlink: say so.
fn not_followed(e: io::Error) -> io::Error {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::new(
            io::ErrorKind::PermissionDenied,
            "refused: a symbolic link (state files are never followed)",
        );
    }
    e
}

/// Refuse an open state file that is not a regular file, is owned by someone other than this
/// user or root, or that group or others may write.
fn check_owned(f: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = f.metadata()?;
        let refuse = |why: String| {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("refused: {why}"),
            ))
        };
        if !m.is_file() {
            return refuse("not a regular file".into());
        }
        let me = crate::private_dir::current_euid();
        if m.uid() != me && m.uid() != 0 {
            return refuse(format!(
                "owned by uid {}, not by this user (uid {me}) or root",
                m.uid()
            ));
        }
        let mode = m.permissions().mode();
        if mode & 0o022 != 0 {
            return refuse(format!(
                "writable by group or others (mode {:o})",
                mode & 0o7777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = f;
    Ok(())
}

/// Replace `dir/name` with `bytes` atomically and durably; temporaries start with `tmp_prefix`.
pub(crate) fn write_atomic(
    dir: &Path,
    name: &str,
    tmp_prefix: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tmp = dir.join(format!("{tmp_prefix}{}.{nanos}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        File::open(dir)?.sync_all()
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}
