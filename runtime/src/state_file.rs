//! Small JSON state files in the state directory (the ratchet, quarantine, detection
//! baselines): read with a size cap, written atomically (a temporary file, fsync, rename, fsync
//! of the directory) under an exclusive lock file, so concurrent processes never see half a file
//! and never lose each other's update.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

/// An exclusive lock on `dir/name`, held until dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
}

/// Take the exclusive lock `dir/name` (created if missing), waiting for other holders.
pub(crate) fn lock(dir: &Path, name: &str) -> io::Result<Lock> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(name))?;
    file.lock()?;
    Ok(Lock { _file: file })
}

/// The bytes of `path`, `None` if it does not exist, an error if it holds more than `max`.
pub(crate) fn read_capped(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
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
