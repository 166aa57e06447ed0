//! SSHSIG signatures over a manifest's exact bytes, interoperable with `ssh-keygen -Y`.
//!
//! Signing is `ssh-keygen -Y sign -n wasmgov-manifest-v1`: SHA-512, PEM armour. Verification
//! accepts only `ssh-ed25519` and `sk-ssh-ed25519@openssh.com` keys, the wasmgov namespace and
//! SSHSIG version 1. The signed data is rebuilt the way OpenSSH does (namespace, empty reserved
//! field, hash algorithm, hash of the message) and Ed25519 is checked with `verify_strict`.
//! Who may sign is decided by [`crate::trust`], not here.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig, public::KeyData};

/// The SSHSIG namespace of wasmgov manifests.
pub const NAMESPACE: &str = "wasmgov-manifest-v1";
/// The largest signature file accepted, in bytes.
pub const MAX_SIGNATURE_SIZE: usize = 8 * 1024;

/// Why a signature could not be made, read or verified, or a key not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature file is over [`MAX_SIGNATURE_SIZE`].
    #[error("malformed signature: {size} bytes, over the limit of {MAX_SIGNATURE_SIZE} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// Not an SSHSIG PEM signature, or a corrupt one.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// Made with a key type wasmgov does not accept.
    #[error(
        "unsupported key type {algorithm} ({fingerprint}): only ssh-ed25519 and sk-ssh-ed25519@openssh.com keys may sign manifests"
    )]
    UnsupportedKeyType {
        /// The key's algorithm name.
        algorithm: String,
        /// The key's `SHA256:` fingerprint.
        fingerprint: String,
    },
    /// Made for another namespace (e.g. `git`, `file`).
    #[error("the signature is for namespace `{found}`, not `{NAMESPACE}` (key {fingerprint})")]
    NamespaceMismatch {
        /// The namespace inside the signature.
        found: String,
        /// The key's `SHA256:` fingerprint.
        fingerprint: String,
    },
    /// The signature does not match these bytes and this key.
    #[error("bad signature: the signature by {fingerprint} does not match the manifest bytes")]
    Bad {
        /// The key's `SHA256:` fingerprint.
        fingerprint: String,
    },
    /// A key file could not be read, written or used.
    #[error("{}: {message}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

impl SignatureError {
    /// The error kind for `error[KIND]` and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } | Self::Malformed(_) => "malformed-signature",
            Self::UnsupportedKeyType { .. } => "unsupported-key-type",
            Self::NamespaceMismatch { .. } => "namespace-mismatch",
            Self::Bad { .. } => "bad-signature",
            Self::KeyFile { .. } => "key-file",
            Self::Sign(_) => "sign",
        }
    }

    /// What the operator (or publisher) can do next.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::TooLarge { .. } | Self::Malformed(_) => {
                "the .sig must be the `-----BEGIN SSH SIGNATURE-----` file made by `wasmgov sign` or `ssh-keygen -Y sign -n wasmgov-manifest-v1`".into()
            }
            Self::UnsupportedKeyType { .. } => {
                "sign with an Ed25519 key: `wasmgov keygen` or `ssh-keygen -t ed25519`".into()
            }
            Self::NamespaceMismatch { .. } => {
                format!("re-sign with `ssh-keygen -Y sign -n {NAMESPACE}` (or `wasmgov sign`)")
            }
            Self::Bad { .. } => {
                "the manifest changed after it was signed (even a comment, line ending or BOM counts): re-sign it, or restore the signed bytes".into()
            }
            Self::KeyFile { .. } => "check the path and that the key is an unencrypted OpenSSH Ed25519 private key".into(),
            Self::Sign(_) => return None,
        })
    }
}

/// The `SHA256:…` fingerprint of a key, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Whether wasmgov accepts this key algorithm for manifests.
pub fn is_supported(algorithm: &Algorithm) -> bool {
    matches!(algorithm, Algorithm::Ed25519 | Algorithm::SkEd25519)
}

/// The SSHSIG blob inside the PEM armour (OpenSSH wraps it at 70 columns).
fn pem_blob(text: &str) -> Option<Vec<u8>> {
    let mut decoder = ssh_encoding::pem::Decoder::new_wrapped(text.as_bytes(), 70).ok()?;
    if decoder.type_label() != "SSH SIGNATURE" {
        return None;
    }
    let mut data = Vec::new();
    decoder.decode_to_end(&mut data).ok()?;
    Some(data)
}

/// When a signature does not decode because its key type is not compiled in (ECDSA, DSA, …),
/// read just the key's algorithm name and fingerprint so the refusal can say what it is.
fn unsupported_key_in(text: &str) -> Option<SignatureError> {
    use sha2::Digest;
    use ssh_encoding::base64::{Base64Unpadded, Encoding};
    use ssh_encoding::{Decode, Reader};
    let data = pem_blob(text)?;
    let mut r: &[u8] = data.strip_prefix(b"SSHSIG")?;
    let _version = u32::decode(&mut r).ok()?;
    let blob = Vec::<u8>::decode(&mut r).ok()?;
    let mut b: &[u8] = &blob;
    let algorithm = String::decode(&mut b).ok()?;
    let _ = r.remaining_len();
    if algorithm == Algorithm::Ed25519.as_str() || algorithm == Algorithm::SkEd25519.as_str() {
        return None;
    }
    let fingerprint = format!(
        "SHA256:{}",
        Base64Unpadded::encode_string(&sha2::Sha256::digest(&blob))
    );
    Some(SignatureError::UnsupportedKeyType {
        algorithm,
        fingerprint,
    })
}

/// A parsed signature whose format, key type and namespace were checked (not yet verified).
#[derive(Debug, Clone)]
pub struct ManifestSignature {
    sig: SshSig,
}

impl ManifestSignature {
    /// Read a `.sig` file's bytes: size cap, UTF-8 PEM, SSHSIG v1, key type, namespace.
    pub fn parse(bytes: &[u8]) -> Result<Self, SignatureError> {
        if bytes.len() > MAX_SIGNATURE_SIZE {
            return Err(SignatureError::TooLarge { size: bytes.len() });
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| SignatureError::Malformed("not UTF-8 text".into()))?;
        // Name the two common accidents plainly instead of passing on the PEM decoder's words.
        if text.trim().is_empty() {
            return Err(SignatureError::Malformed(
                "the signature file is empty".into(),
            ));
        }
        if !text.contains("-----BEGIN SSH SIGNATURE-----") {
            return Err(SignatureError::Malformed(
                "no `-----BEGIN SSH SIGNATURE-----` line: this is not a signature file".into(),
            ));
        }
        // As OpenSSH's sshsig_dearmor: the file starts with exactly this line (no leading
        // whitespace, BOM or CR), so nothing ssh-keygen refuses is accepted here.
        if !text.starts_with("-----BEGIN SSH SIGNATURE-----\n") {
            return Err(SignatureError::Malformed(
                "the file must start with the line `-----BEGIN SSH SIGNATURE-----` (no leading whitespace, byte-order mark or CRLF line ending)".into(),
            ));
        }
        if !text.contains("-----END SSH SIGNATURE-----") {
            return Err(SignatureError::Malformed(
                "truncated: no `-----END SSH SIGNATURE-----` line".into(),
            ));
        }
        let sig = SshSig::from_pem(text).map_err(|e| {
            unsupported_key_in(text)
                .unwrap_or_else(|| SignatureError::Malformed(format!("not an SSH signature: {e}")))
        })?;
        // ssh-key's decoder does not check that a length-prefixed field (the public key, the
        // signature, the key inside them) is consumed exactly, so a blob with an inflated length
        // decodes although OpenSSH refuses it. Accept only the canonical encoding of what was
        // decoded: the bytes verified are then exactly the structure ssh-keygen reads.
        let mut canonical = Vec::new();
        ssh_encoding::Encode::encode(&sig, &mut canonical)
            .map_err(|e| SignatureError::Malformed(format!("not an SSH signature: {e}")))?;
        if pem_blob(text).as_deref() != Some(canonical.as_slice()) {
            return Err(SignatureError::Malformed(
                "not an SSH signature: a field's length does not match its contents".into(),
            ));
        }
        if sig.version() != SshSig::VERSION {
            return Err(SignatureError::Malformed(format!(
                "SSHSIG version {} (only version 1 is supported)",
                sig.version()
            )));
        }
        let fp = fingerprint(sig.public_key());
        let algorithm = sig.public_key().algorithm();
        if !is_supported(&algorithm) || !is_supported(&sig.algorithm()) {
            return Err(SignatureError::UnsupportedKeyType {
                algorithm: algorithm.as_str().to_owned(),
                fingerprint: fp,
            });
        }
        if sig.namespace() != NAMESPACE {
            return Err(SignatureError::NamespaceMismatch {
                found: sig.namespace().to_owned(),
                fingerprint: fp,
            });
        }
        Ok(Self { sig })
    }

    /// The public key that claims to have signed.
    pub fn public_key(&self) -> &KeyData {
        self.sig.public_key()
    }

    /// The signing key's `SHA256:` fingerprint.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.sig.public_key())
    }

    /// Check the signature over `message` (the exact manifest bytes) with its embedded key.
    pub fn verify(&self, message: &[u8]) -> Result<(), SignatureError> {
        let bad = || SignatureError::Bad {
            fingerprint: self.fingerprint(),
        };
        // OpenSSH signs and verifies with an empty reserved field, whatever the signature says.
        let signed =
            SshSig::signed_data(NAMESPACE, self.sig.hash_alg(), message).map_err(|_| bad())?;
        match self.sig.public_key() {
            KeyData::Ed25519(pk) => {
                let key = ed25519_dalek::VerifyingKey::from_bytes(&pk.0).map_err(|_| bad())?;
                let sig = ed25519_dalek::Signature::from_slice(self.sig.signature_bytes())
                    .map_err(|_| bad())?;
                key.verify_strict(&signed, &sig).map_err(|_| bad())
            }
            KeyData::SkEd25519(_) => {
                use ::signature::Verifier;
                self.sig
                    .public_key()
                    .verify(&signed, self.sig.signature())
                    .map_err(|_| bad())
            }
            _ => Err(SignatureError::UnsupportedKeyType {
                algorithm: self.sig.public_key().algorithm().as_str().to_owned(),
                fingerprint: self.fingerprint(),
            }),
        }
    }
}

/// Sign `message` (the exact manifest bytes) with an Ed25519 key: PEM SSHSIG, SHA-512, LF endings.
pub fn sign(key: &PrivateKey, message: &[u8]) -> Result<String, SignatureError> {
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(SignatureError::UnsupportedKeyType {
            algorithm: key.algorithm().as_str().to_owned(),
            fingerprint: fingerprint(key.public_key().key_data()),
        });
    }
    if key.is_encrypted() {
        return Err(SignatureError::Sign(
            "the private key is encrypted; decrypt it or sign with `ssh-keygen -Y sign`".into(),
        ));
    }
    let sig = key
        .sign(NAMESPACE, HashAlg::Sha512, message)
        .map_err(|e| SignatureError::Sign(e.to_string()))?;
    sig.to_pem(LineEnding::LF)
        .map_err(|e| SignatureError::Sign(e.to_string()))
}

/// A new random Ed25519 key pair with `comment`.
pub fn keygen(comment: &str) -> Result<(PrivateKey, PublicKey), SignatureError> {
    let mut key = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519)
        .map_err(|e| SignatureError::Sign(format!("key generation failed: {e}")))?;
    key.set_comment(comment);
    let public = key.public_key().clone();
    Ok((key, public))
}

fn key_file_error(path: &Path, message: impl ToString) -> SignatureError {
    SignatureError::KeyFile {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// Write `key` to `path` (OpenSSH format, mode 0600) and its public half to `path.pub`.
/// Refuses to overwrite either file.
pub fn write_keypair(key: &PrivateKey, path: &Path) -> Result<PathBuf, SignatureError> {
    let pub_path = PathBuf::from(format!("{}.pub", path.display()));
    if pub_path.exists() {
        return Err(key_file_error(
            &pub_path,
            "already exists; not overwriting it",
        ));
    }
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| key_file_error(path, e))?;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(path).map_err(|e| key_file_error(path, e))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| key_file_error(path, e))?;
    let mut public = key
        .public_key()
        .to_openssh()
        .map_err(|e| key_file_error(&pub_path, e))?;
    public.push('\n');
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&pub_path)
        .and_then(|mut f| f.write_all(public.as_bytes()))
        .map_err(|e| key_file_error(&pub_path, e))?;
    Ok(pub_path)
}

/// Read an OpenSSH private key file (unencrypted).
pub fn load_private_key(path: &Path) -> Result<PrivateKey, SignatureError> {
    let text = fs::read_to_string(path).map_err(|e| key_file_error(path, e))?;
    let key = PrivateKey::from_openssh(&text)
        .map_err(|e| key_file_error(path, format!("not an OpenSSH private key: {e}")))?;
    if key.is_encrypted() {
        return Err(key_file_error(
            path,
            "the key is passphrase-protected; use `ssh-keygen -Y sign -n wasmgov-manifest-v1` with it instead",
        ));
    }
    Ok(key)
}

/// Read an OpenSSH public key file (`ssh-ed25519 AAAA… comment`).
pub fn load_public_key(path: &Path) -> Result<PublicKey, SignatureError> {
    let text = fs::read_to_string(path).map_err(|e| key_file_error(path, e))?;
    PublicKey::from_openssh(text.trim())
        .map_err(|e| key_file_error(path, format!("not an OpenSSH public key: {e}")))
}

/// Verify `sig_bytes` over `message` and require that `expected` made it (no trust store).
pub fn verify_with_key(
    sig_bytes: &[u8],
    message: &[u8],
    expected: &PublicKey,
) -> Result<(), SignatureError> {
    let sig = ManifestSignature::parse(sig_bytes)?;
    sig.verify(message)?;
    if sig.public_key() != expected.key_data() {
        return Err(SignatureError::Bad {
            fingerprint: sig.fingerprint(),
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// Run ssh-keygen; panics with its stderr when it is missing or fails unexpectedly.
    pub(crate) fn ssh_keygen(args: &[&str], stdin: Option<&[u8]>) -> (bool, String) {
        let mut child = Command::new("ssh-keygen")
            .args(args)
            .env("TZ", "UTC")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh-keygen is installed");
        if let Some(input) = stdin {
            // ssh-keygen may exit before reading its input (e.g. no matching principal).
            let _ = child.stdin.take().unwrap().write_all(input);
        }
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Make an ssh-keygen key of `kind` in `dir`; returns the private key path.
    pub(crate) fn make_key(dir: &Path, name: &str, kind: &str) -> PathBuf {
        let path = dir.join(name);
        let (ok, text) = ssh_keygen(
            &[
                "-q",
                "-t",
                kind,
                "-N",
                "",
                "-C",
                name,
                "-f",
                path.to_str().unwrap(),
            ],
            None,
        );
        assert!(ok, "{text}");
        path
    }

    /// Sign `message` with ssh-keygen in `namespace`; returns the signature bytes.
    pub(crate) fn ssh_sign(dir: &Path, key: &Path, namespace: &str, message: &[u8]) -> Vec<u8> {
        let file = dir.join(format!("msg-{}", std::process::id()));
        fs::write(&file, message).unwrap();
        let sig = PathBuf::from(format!("{}.sig", file.display()));
        let _ = fs::remove_file(&sig);
        let (ok, text) = ssh_keygen(
            &[
                "-Y",
                "sign",
                "-q",
                "-n",
                namespace,
                "-f",
                key.to_str().unwrap(),
                file.to_str().unwrap(),
            ],
            None,
        );
        assert!(ok, "{text}");
        fs::read(&sig).unwrap()
    }

    #[test]
    fn ssh_keygen_signatures_verify_here() {
        let dir = tempfile::tempdir().unwrap();
        let key = make_key(dir.path(), "k", "ed25519");
        let msg = b"schema = 1\n";
        let sig = ssh_sign(dir.path(), &key, NAMESPACE, msg);
        let parsed = ManifestSignature::parse(&sig).unwrap();
        parsed.verify(msg).unwrap();
        let public = load_public_key(&PathBuf::from(format!("{}.pub", key.display()))).unwrap();
        verify_with_key(&sig, msg, &public).unwrap();
        let (_, printed) = ssh_keygen(&["-l", "-f", key.to_str().unwrap()], None);
        assert!(
            printed.contains(&parsed.fingerprint()),
            "{printed} vs {}",
            parsed.fingerprint()
        );

        let e = parsed.verify(b"schema = 2\n").unwrap_err();
        assert_eq!(e.kind(), "bad-signature");
        assert!(e.to_string().contains(&parsed.fingerprint()));
    }

    #[test]
    fn our_signatures_verify_with_ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keygen("alice@example.com").unwrap();
        let key_path = dir.path().join("id");
        write_keypair(&key, &key_path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(write_keypair(&key, &key_path).is_err(), "no overwrite");
        let loaded = load_private_key(&key_path).unwrap();
        assert_eq!(loaded.public_key().key_data(), public.key_data());

        let msg = b"schema = 1\n[tool]\n";
        let sig = sign(&loaded, msg).unwrap();
        assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"));
        let allowed = dir.path().join("allowed");
        fs::write(
            &allowed,
            format!(
                "alice@example.com namespaces=\"{NAMESPACE}\" {}\n",
                public.to_openssh().unwrap()
            ),
        )
        .unwrap();
        let sig_path = dir.path().join("m.sig");
        fs::write(&sig_path, &sig).unwrap();
        let verify = |m: &[u8]| {
            ssh_keygen(
                &[
                    "-Y",
                    "verify",
                    "-f",
                    allowed.to_str().unwrap(),
                    "-I",
                    "alice@example.com",
                    "-n",
                    NAMESPACE,
                    "-s",
                    sig_path.to_str().unwrap(),
                ],
                Some(m),
            )
        };
        let (ok, text) = verify(msg);
        assert!(ok, "{text}");
        assert!(text.contains(&fingerprint(public.key_data())), "{text}");
        assert!(!verify(b"schema = 1\n[tool]\n ").0);
        // ssh-keygen's own private key loads and signs here too.
        let theirs = make_key(dir.path(), "theirs", "ed25519");
        let k = load_private_key(&theirs).unwrap();
        let s = sign(&k, msg).unwrap();
        ManifestSignature::parse(s.as_bytes())
            .unwrap()
            .verify(msg)
            .unwrap();
    }

    #[test]
    fn other_namespaces_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = make_key(dir.path(), "k", "ed25519");
        for ns in ["git", "file", "wasmgov-manifest-v2"] {
            let sig = ssh_sign(dir.path(), &key, ns, b"m");
            let e = ManifestSignature::parse(&sig).unwrap_err();
            assert_eq!(e.kind(), "namespace-mismatch", "{e}");
            assert!(e.to_string().contains(ns));
        }
    }

    #[test]
    fn rsa_and_ecdsa_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for kind in ["rsa", "ecdsa"] {
            let key = make_key(dir.path(), kind, kind);
            let sig = ssh_sign(dir.path(), &key, NAMESPACE, b"m");
            let e = ManifestSignature::parse(&sig).unwrap_err();
            assert_eq!(e.kind(), "unsupported-key-type", "{kind}: {e}");
            assert!(e.to_string().contains("SHA256:"), "{e}");
        }
    }

    /// PEM armour as ssh-keygen writes it: 70-column base64 between the two lines.
    fn armor(blob: &[u8]) -> String {
        use ssh_encoding::base64::{Base64, Encoding};
        let body = Base64::encode_string(blob);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(70)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        format!(
            "-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn malformed_signatures_are_refused_without_panic() {
        let dir = tempfile::tempdir().unwrap();
        let key = make_key(dir.path(), "k", "ed25519");
        let good = ssh_sign(dir.path(), &key, NAMESPACE, b"m");
        let text = String::from_utf8(good.clone()).unwrap();
        let truncated = &good[..good.len() / 2];
        let garbage = text.replace(&text[40..60], "!!!!!!!!!!!!!!!!!!!!");
        let mut big = good.clone();
        big.resize(MAX_SIGNATURE_SIZE + 1, b'\n');
        // Armour ssh-keygen refuses ("missing header"): a regression found by the differential test.
        let leading_newline = format!("\n{text}");
        let leading_space = format!(" {text}");
        let crlf = text.replace('\n', "\r\n");
        let bom = format!("\u{feff}{text}");
        for bad in [
            leading_newline.as_bytes(),
            leading_space.as_bytes(),
            crlf.as_bytes(),
            bom.as_bytes(),
            truncated,
            garbage.as_bytes(),
            b"",
            b"\xff\xfe",
            &big[..],
            b"-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n",
        ] {
            let e = ManifestSignature::parse(bad).unwrap_err();
            assert_eq!(e.kind(), "malformed-signature", "{e}");
        }
        // An inflated length prefix on the public key (0x33 -> 0x8033) or the key bytes inside
        // it (0x20 -> 0x80020): OpenSSH refuses both ("incomplete message"); a regression found
        // by the differential test, as ssh-key's decoder ignores the surplus.
        let blob = pem_blob(&text).unwrap();
        for (at, bit) in [(12, 0x80), (30, 0x08)] {
            let mut b = blob.clone();
            b[at] ^= bit;
            let pem = armor(&b);
            let e = ManifestSignature::parse(pem.as_bytes()).unwrap_err();
            assert_eq!(e.kind(), "malformed-signature", "{e}");
        }
        // A flipped byte inside the signature blob: either unparseable or a bad signature.
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mid = lines.len() - 2;
        let flipped: String = lines[mid].chars().rev().collect();
        lines[mid] = flipped;
        let tampered = lines.join("\n");
        match ManifestSignature::parse(tampered.as_bytes()) {
            Err(e) => assert_eq!(e.kind(), "malformed-signature"),
            Ok(s) => assert_eq!(s.verify(b"m").unwrap_err().kind(), "bad-signature"),
        }
    }
}
