//! Directories whose contents the host trusts: the compile cache and the state directory.
//!
//! The compile cache holds native code wasmtime maps and runs (checked only against a digest
//! stored beside it, [`crate::artifacts`]); the state directory holds
//! the rollback ratchet and, by default, the audit log. Whoever can write either can run code in
//! wasmgov, roll a tool back, or rewrite the log. So, as OpenSSH's `StrictModes` does for
//! `~/.ssh`, a directory is trusted only if it and every ancestor are owned by the current user
//! or root and no one else can write them.
//!
//! One refinement over StrictModes: an ancestor that others may write is accepted when it has
//! the sticky bit (`/tmp`, `/var/tmp`). There, no other user can rename, replace or delete an
//! entry they do not own, and the entry below it must itself pass the owner check, so an
//! attacker's pre-created directory is refused. Without it, every `--state` under `$TMPDIR`
//! (and every test) would be refused for no gain.
//!
//! The directory itself must also be readable, writable and searchable by its owner: a mode
//! that denies the owner (`chmod 0`) is refused even for root, whom the kernel's permission
//! checks would let through.
//!
//! The files in the state directory are checked when read ([`crate::state_file`]): each must be
//! a regular file (not a symlink), owned by this user or root, that no one else can write.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

const STICKY: u32 = 0o1000;
const GROUP_OTHER_WRITE: u32 = 0o022;
const OWNER_RWX: u32 = 0o700;

/// Create `dir` (mode 0700) if it is missing, then check that it and every ancestor are safe to
/// trust with code and state.
pub(crate) fn ensure(dir: &Path) -> Result<(), Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))?;
    check(dir, current_euid())
}

/// Check `dir` and its ancestors for the user `euid`.
pub(crate) fn check(dir: &Path, euid: u32) -> Result<(), Error> {
    let real = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    let refuse = |at: &Path, why: String| {
        let whose = if at == real {
            String::new()
        } else {
            format!(" (an ancestor of {})", dir.display())
        };
        Error::io(
            at,
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{why}{whose}; refusing to trust it with compiled code or state"),
            ),
        )
    };
    let mut at: Option<PathBuf> = Some(real.clone());
    let mut leaf = true;
    while let Some(p) = at {
        // `symlink_metadata` of a canonical path: each component is a real directory.
        let m = std::fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?;
        if !m.is_dir() {
            return Err(refuse(&p, "not a directory".into()));
        }
        if m.uid() != euid && m.uid() != 0 {
            return Err(refuse(
                &p,
                format!(
                    "owned by uid {}, not by this user (uid {euid}) or root",
                    m.uid()
                ),
            ));
        }
        let mode = m.permissions().mode();
        if mode & GROUP_OTHER_WRITE != 0 && (leaf || mode & STICKY == 0) {
            return Err(refuse(
                &p,
                format!(
                    "writable by group or others (mode {:o}{})",
                    mode & 0o7777,
                    if leaf { "" } else { ", no sticky bit" }
                ),
            ));
        }
        // Root reads and writes whatever the mode says, so a mode that shuts the owner out
        // (`chmod 0` to take a directory out of service, a botched `chmod`) would not stop it:
        // look at the mode, not at whether an open fails.
        if leaf && mode & OWNER_RWX != OWNER_RWX {
            return Err(refuse(
                &p,
                format!(
                    "not readable, writable and searchable by its owner (mode {:o})",
                    mode & 0o7777
                ),
            ));
        }
        leaf = false;
        at = p.parent().map(Path::to_path_buf);
    }
    Ok(())
}

/// The effective uid of this process.
#[cfg(target_os = "linux")]
pub(crate) fn current_euid() -> u32 {
    // SAFETY: geteuid has no preconditions, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// The effective uid of this process.
#[cfg(not(target_os = "linux"))]
pub(crate) fn current_euid() -> u32 {
    // The owner of this process's /proc-less fallback: a file it creates is owned by its euid.
    let probe = std::env::temp_dir().join(format!("wasmgov-euid-{}", std::process::id()));
    let uid = std::fs::File::create(&probe)
        .and_then(|f| f.metadata())
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    let _ = std::fs::remove_file(&probe);
    uid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_directory_under_a_private_parent_is_trusted() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        ensure(&state).unwrap();
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn a_group_or_world_writable_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = ensure(&state).unwrap_err().to_string();
        assert!(e.contains("writable by group or others"), "{e}");
        // Sticky does not make the trusted directory itself acceptable.
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(ensure(&state).is_err());
    }

    #[test]
    fn a_directory_its_owner_may_not_use_is_refused_even_for_root() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        ensure(&state).unwrap();
        for mode in [0o000, 0o300, 0o500, 0o600] {
            std::fs::set_permissions(&state, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = ensure(&state).unwrap_err().to_string();
            assert!(e.contains(&format!("(mode {mode:o})")), "{e}");
            assert!(e.contains("not readable, writable and searchable"), "{e}");
        }
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
        ensure(&state).unwrap();
    }

    #[test]
    fn a_writable_ancestor_without_the_sticky_bit_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let shared = d.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = ensure(&shared.join("state")).unwrap_err().to_string();
        assert!(e.contains("no sticky bit"), "{e}");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        ensure(&shared.join("state2")).expect("a sticky shared parent, like /tmp, is fine");
    }

    #[test]
    fn a_directory_owned_by_another_user_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        ensure(&state).unwrap();
        let me = current_euid();
        if me == 0 {
            // As root, hand the directory to `nobody`, as the review's reproduction did.
            std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
            let e = ensure(&state).unwrap_err().to_string();
            assert!(e.contains("owned by uid 65534"), "{e}");
        } else {
            // Judged as another uid, the directories this user made are "another user's".
            let e = check(&state, me + 1).unwrap_err().to_string();
            assert!(e.contains(&format!("owned by uid {me}")), "{e}");
        }
    }

    #[test]
    fn a_symlink_to_a_foreign_directory_is_judged_by_its_target() {
        let d = tempfile::tempdir().unwrap();
        let shared = d.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&shared, &link).unwrap();
        assert!(ensure(&link).is_err());
    }
}
