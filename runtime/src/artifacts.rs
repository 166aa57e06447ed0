//! wasmgov's store of compiled components: what makes a second load of the same tool cheap.
//!
//! A compiled artifact is native code that wasmtime maps and runs without checking it, so a
//! wrong byte in one is at best a crash and at worst code execution. The store guards against
//! that in three ways:
//!
//! - **Where**: artifacts live only in a directory that this user (or root) owns and no one else
//!   can write, it and every ancestor ([`crate::private_dir`]); files are created 0600. Only a
//!   party that could already run code as this user can place a file there.
//! - **What**: an artifact is named by the component's SHA-256 and a digest of everything that
//!   makes compiled code incompatible (`Engine::precompile_compatibility_hash`: target, ISA
//!   flags, compiler and wasmtime settings, wasmtime version). An artifact of another engine has
//!   another name; one that still reaches wasmtime is refused by its own check, and recompiled.
//! - **Integrity**: next to each artifact is the SHA-256 of its bytes and the file name it was
//!   written under, checked before the file is mapped. A flipped bit, a truncated or empty file,
//!   a half-written file after a crash, another component's artifact copied over it (with or
//!   without its digest file): each is a miss, compiled again and replaced, never loaded.
//!
//! A plain digest rather than a MAC: the key of a MAC would have to live in the same private
//! directory as the artifacts, so whoever could forge an artifact could read the key. The
//! directory check is what authenticates; the digest detects corruption.
//!
//! Artifacts are stored uncompressed and loaded with `Component::deserialize_file`, which maps
//! the file instead of reading, decompressing and copying it (wasmtime's own cache does that,
//! with a worker thread per process); a one-shot `wasmgov run` pays for the pages it touches.
//! Files are only ever replaced by rename, never written in place, so a mapped artifact never
//! changes under a running tool.

use std::fs::{File, OpenOptions};
use std::hash::Hasher;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::Error;

/// Bump when the layout of the store changes; part of every file name.
const FORMAT: &str = "v1";
/// A digest file is 64 hex digits, a newline, the artifact's file name (about 140 bytes) and a
/// newline; anything longer is corrupt.
const MAX_DIGEST_FILE: u64 = 512;

/// Compiled components on disk, keyed by component digest and engine compatibility.
pub(crate) struct ArtifactStore {
    dir: PathBuf,
    /// Lowercase hex SHA-256 over the engine's `precompile_compatibility_hash`.
    engine: String,
    hits: AtomicUsize,
    misses: AtomicUsize,
}

/// Why an artifact on disk was not used (kept for the debug log and for tests).
#[derive(Debug, PartialEq, Eq)]
enum Miss {
    Absent,
    NoDigest,
    DigestMismatch,
    OtherName(String),
    Replaced,
    Rejected(String),
}

impl ArtifactStore {
    /// Open (creating 0700 if missing) the store in `dir` for artifacts of `engine`.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<Self, Error> {
        crate::private_dir::ensure(dir)?;
        let mut h = Sha256Hasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
        Ok(Self {
            dir: dir.to_path_buf(),
            engine: hex::encode(h.0.finalize()),
            hits: AtomicUsize::new(0),
            misses: AtomicUsize::new(0),
        })
    }

    /// Loads from the store so far, and compilations (a missing, corrupt or foreign artifact).
    pub(crate) fn stats(&self) -> (usize, usize) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// The path of the artifact of the component whose SHA-256 is `sha256` (lowercase hex).
    fn artifact_path(&self, sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{FORMAT}-{sha256}-{}.cwasm", self.engine))
    }

    /// The component `bytes` (whose SHA-256 is `sha256`, lowercase hex) compiled for `engine`:
    /// mapped from the store when a sound artifact is there, else compiled and stored.
    /// Only compilation can fail; a store that cannot be read or written only costs time.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let path = self.artifact_path(sha256);
        match self.try_load(engine, &path) {
            Ok(c) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(c);
            }
            Err(Miss::Absent) => {}
            Err(why) => tracing::debug!(path = %path.display(), ?why, "artifact not used"),
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let artifact = engine.precompile_component(bytes)?;
        // SAFETY: `artifact` is the unmodified output of `precompile_component` of this very
        // engine, just now, in this process: what `deserialize` requires.
        let component = unsafe { Component::deserialize(engine, &artifact)? };
        if let Err(e) = self.store(&path, &artifact) {
            tracing::debug!(path = %path.display(), error = %e, "cannot store artifact");
        }
        Ok(component)
    }

    fn try_load(&self, engine: &Engine, path: &Path) -> Result<Component, Miss> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Miss::Absent),
            Err(e) => return Err(Miss::Rejected(e.to_string())),
        };
        let expected = read_digest(&digest_path(path)).ok_or(Miss::NoDigest)?;
        if Some(expected.1.as_str()) != path.file_name().and_then(|n| n.to_str()) {
            // Another artifact's pair of files, copied or renamed: its digest matches its own
            // bytes, but it is not this component's code.
            return Err(Miss::OtherName(expected.1));
        }
        let expected = expected.0;
        let before = file.metadata().map_err(|e| Miss::Rejected(e.to_string()))?;
        if digest_of(&mut file).map_err(|e| Miss::Rejected(e.to_string()))? != expected {
            return Err(Miss::DigestMismatch);
        }
        // SAFETY: `deserialize_file` maps the file and runs its code, so it must hold the
        // unmodified output of `precompile_component`. It does:
        // - the file is in a directory that only this user (or root) can write, checked with
        //   every ancestor when the store was opened, so nobody else can have put it there;
        // - the bytes of the open file match the digest stored beside them when they were
        //   written by `store` from `precompile_component`'s output (checked just above), so
        //   a corrupt, truncated or half-written file has been refused;
        // - files here are never written in place, only replaced by rename; the file we
        //   checked is kept open, so its inode cannot be reused, and the path still names that
        //   inode after the mapping (checked below), so wasmtime mapped the file we checked;
        // - an artifact of another engine or wasmtime version that got this far is refused
        //   by wasmtime's own compatibility check, which is safe for `precompile_*` output.
        let component = unsafe { Component::deserialize_file(engine, path) }
            .map_err(|e| Miss::Rejected(format!("{e:#}")))?;
        let after = std::fs::metadata(path).map_err(|e| Miss::Rejected(e.to_string()))?;
        if (after.dev(), after.ino()) != (before.dev(), before.ino()) {
            return Err(Miss::Replaced);
        }
        drop(file);
        Ok(component)
    }

    /// Write `artifact` and then its digest, each to a temporary file renamed into place. Not
    /// fsync'd: after a crash a lost or torn file fails its digest and is compiled again.
    fn store(&self, path: &Path, artifact: &[u8]) -> io::Result<()> {
        write_replace(path, artifact)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let digest = format!("{}\n{name}\n", hex::encode(Sha256::digest(artifact)));
        write_replace(&digest_path(path), digest.as_bytes())
    }
}

/// Feeds `Hash` impls into SHA-256, to turn wasmtime's `impl Hash` into a stable file name.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let d = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        u64::from_le_bytes(first)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn digest_path(artifact: &Path) -> PathBuf {
    artifact.with_extension("sha256")
}

/// The digest stored beside an artifact and the file name it was written for, `None` if it is
/// missing or malformed.
fn read_digest(path: &Path) -> Option<([u8; 32], String)> {
    let mut text = String::new();
    File::open(path)
        .ok()?
        .take(MAX_DIGEST_FILE + 1)
        .read_to_string(&mut text)
        .ok()?;
    if text.len() as u64 > MAX_DIGEST_FILE {
        return None;
    }
    let mut lines = text.strip_suffix('\n')?.split('\n');
    let (hex, name) = (lines.next()?, lines.next()?);
    if lines.next().is_some() {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex, &mut out).ok()?;
    Some((out, name.to_owned()))
}

fn digest_of(file: &mut File) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    // Small enough to stay in the heap and the cache: a large buffer is a fresh mapping whose
    // first touch page-faults, which cost more than the hashing (measured with perf).
    let mut buf = vec![0u8; 32 << 10];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(h.finalize().into())
}

/// Replace `path` with `bytes`: a new 0600 file beside it, renamed over it.
fn write_replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp.{}.{nanos}", std::process::id()));
    let tmp = PathBuf::from(name);
    let write = || -> io::Result<()> {
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(&tmp)?.write_all(bytes)?;
        std::fs::rename(&tmp, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_part_of_the_key_follows_the_engine_settings() {
        let d = tempfile::tempdir().unwrap();
        let a = Engine::new(wasmtime::Config::new().consume_fuel(true)).unwrap();
        let b = Engine::new(wasmtime::Config::new().consume_fuel(false)).unwrap();
        let sa = ArtifactStore::open(d.path(), &a).unwrap();
        let sa2 = ArtifactStore::open(d.path(), &a.clone()).unwrap();
        let sb = ArtifactStore::open(d.path(), &b).unwrap();
        assert_eq!(sa.engine, sa2.engine);
        assert_ne!(sa.engine, sb.engine);
        assert_eq!(sa.engine.len(), 64);
    }

    #[test]
    fn a_malformed_digest_file_is_no_digest() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.sha256");
        std::fs::write(&p, "zz\nx.cwasm\n").unwrap();
        assert_eq!(read_digest(&p), None);
        let good = format!("{}\nx.cwasm\n", "ab".repeat(32));
        std::fs::write(&p, &good).unwrap();
        assert_eq!(read_digest(&p), Some(([0xab; 32], "x.cwasm".into())));
        // The digest alone (the format before the name was bound), or more lines: malformed.
        std::fs::write(&p, format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(read_digest(&p), None);
        std::fs::write(&p, format!("{good}y\n")).unwrap();
        assert_eq!(read_digest(&p), None);
        std::fs::write(&p, format!("{}\n{}\n", "ab".repeat(32), "n".repeat(600))).unwrap();
        assert_eq!(read_digest(&p), None);
    }
}
