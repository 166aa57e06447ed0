//! SSHSIG parsing and verification, structure-aware: a real signature over a real manifest is
//! decoded into its fields, the fuzzer rewrites fields (version, key, namespace, reserved,
//! hash algorithm, signature algorithm and bytes), the message and the PEM armour, and the
//! result goes through `ManifestSignature::parse` and `verify`.
//!
//! The oracle: a signature that verifies must be over the original message, with the original
//! key, in wasmgov's namespace, with an untouched signature. Anything else that verifies is a
//! forgery. The untouched signature must verify, so the harness cannot pass vacuously.
#![no_main]

mod harness_key;

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use base64ct::{Base64, Encoding};
use libfuzzer_sys::fuzz_target;
use wasmgov_runtime::signature::{self, ManifestSignature, NAMESPACE};

const MESSAGE: &[u8] = include_bytes!("../../tests/ui/manifest.toml");

/// The decoded fields of an SSHSIG blob.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    version: u32,
    key: Vec<u8>,
    namespace: Vec<u8>,
    reserved: Vec<u8>,
    hash: Vec<u8>,
    sig_alg: Vec<u8>,
    sig: Vec<u8>,
}

fn take<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = b.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    let (s, rest) = (rest.get(..len)?, rest.get(len..)?);
    *b = rest;
    Some(s)
}

fn put(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

impl Fields {
    fn decode(mut b: &[u8]) -> Option<Self> {
        b = b.strip_prefix(b"SSHSIG")?;
        let (v, rest) = b.split_first_chunk::<4>()?;
        b = rest;
        let key = take(&mut b)?.to_vec();
        let namespace = take(&mut b)?.to_vec();
        let reserved = take(&mut b)?.to_vec();
        let hash = take(&mut b)?.to_vec();
        let mut sig = take(&mut b)?;
        let sig_alg = take(&mut sig)?.to_vec();
        let sig = take(&mut sig)?.to_vec();
        Some(Self {
            version: u32::from_be_bytes(*v),
            key,
            namespace,
            reserved,
            hash,
            sig_alg,
            sig,
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = b"SSHSIG".to_vec();
        out.extend_from_slice(&self.version.to_be_bytes());
        put(&mut out, &self.key);
        put(&mut out, &self.namespace);
        put(&mut out, &self.reserved);
        put(&mut out, &self.hash);
        let mut inner = Vec::new();
        put(&mut inner, &self.sig_alg);
        put(&mut inner, &self.sig);
        put(&mut out, &inner);
        out
    }
}

fn armour(blob: &[u8], width: usize, crlf: bool) -> Vec<u8> {
    let b64 = Base64::encode_string(blob);
    let nl = if crlf { "\r\n" } else { "\n" };
    let mut s = format!("-----BEGIN SSH SIGNATURE-----{nl}");
    for chunk in b64.as_bytes().chunks(width.max(1)) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        s.push_str(nl);
    }
    s.push_str("-----END SSH SIGNATURE-----");
    s.push_str(nl);
    s.into_bytes()
}

fn original() -> &'static Fields {
    static F: OnceLock<Fields> = OnceLock::new();
    F.get_or_init(|| {
        let pem = signature::sign(&harness_key::get().private, MESSAGE).expect("signing works");
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let blob = Base64::decode_vec(&b64).expect("ssh-key writes base64");
        let f = Fields::decode(&blob).expect("ssh-key writes SSHSIG");
        // The untouched signature, re-armoured by this harness, verifies: the oracle is live.
        let sig = ManifestSignature::parse(&armour(&f.encode(), 70, false)).expect("parses");
        sig.verify(MESSAGE)
            .expect("the untouched signature verifies");
        f
    })
}

/// One change to a field.
#[derive(Debug, Arbitrary)]
enum Edit {
    Flip { at: u16, bit: u8 },
    Set { at: u16, byte: u8 },
    Truncate(u16),
    Append(Vec<u8>),
    Replace(Vec<u8>),
}

fn apply(v: &mut Vec<u8>, e: &Edit) {
    match e {
        Edit::Flip { at, bit } if !v.is_empty() => {
            let i = usize::from(*at) % v.len();
            v[i] ^= 1 << (bit % 8);
        }
        Edit::Set { at, byte } if !v.is_empty() => {
            let i = usize::from(*at) % v.len();
            v[i] = *byte;
        }
        Edit::Truncate(n) => v.truncate(usize::from(*n) % (v.len() + 1)),
        Edit::Append(b) => v.extend_from_slice(b),
        Edit::Replace(b) => *v = b.clone(),
        _ => {}
    }
}

#[derive(Debug, Arbitrary)]
enum Target {
    Version(u32),
    Key(Edit),
    Namespace(Edit),
    Reserved(Edit),
    Hash(Edit),
    HashName(bool),
    SigAlg(Edit),
    Sig(Edit),
    Message(Edit),
    Blob(Edit),
}

#[derive(Debug, Arbitrary)]
struct Case {
    edits: Vec<Target>,
    width: u8,
    crlf: bool,
    /// Bytes put before the armour (a file with something in front of the PEM block).
    junk_before: Vec<u8>,
}

fuzz_target!(|case: Case| {
    let orig = original();
    let mut f = orig.clone();
    let mut message = MESSAGE.to_vec();
    let mut blob_edits = Vec::new();
    for t in case.edits.iter().take(8) {
        match t {
            Target::Version(v) => f.version = *v,
            Target::Key(e) => apply(&mut f.key, e),
            Target::Namespace(e) => apply(&mut f.namespace, e),
            Target::Reserved(e) => apply(&mut f.reserved, e),
            Target::Hash(e) => apply(&mut f.hash, e),
            Target::HashName(sha256) => {
                f.hash = if *sha256 {
                    b"sha256".to_vec()
                } else {
                    b"sha512".to_vec()
                }
            }
            Target::SigAlg(e) => apply(&mut f.sig_alg, e),
            Target::Sig(e) => apply(&mut f.sig, e),
            Target::Message(e) => apply(&mut message, e),
            Target::Blob(e) => blob_edits.push(e),
        }
    }
    let mut blob = f.encode();
    for e in &blob_edits {
        apply(&mut blob, e);
    }
    let mut file = case.junk_before.clone();
    file.extend(armour(&blob, usize::from(case.width % 100) + 1, case.crlf));
    let Ok(sig) = ManifestSignature::parse(&file) else {
        return;
    };
    if sig.verify(&message).is_err() {
        return;
    }
    // It verified: it must be the original signature over the original message. (A verified
    // blob that differs from the original only in the reserved field is allowed: OpenSSH ignores
    // it when it verifies, and so does wasmgov, so it is not covered by the signature.)
    let decoded = Fields::decode(&blob).expect("a blob that verified decodes");
    assert_eq!(
        message, MESSAGE,
        "a signature verified over another message"
    );
    assert_eq!(
        decoded.key, orig.key,
        "a signature verified under another key"
    );
    assert_eq!(
        decoded.namespace,
        NAMESPACE.as_bytes(),
        "verified in another namespace"
    );
    assert_eq!(
        decoded.sig, orig.sig,
        "a changed signature verified (malleability)"
    );
    assert_eq!(decoded.sig_alg, orig.sig_alg);
    assert_eq!(decoded.version, 1);
    assert_eq!(
        decoded.hash, orig.hash,
        "verified under another hash algorithm"
    );
});
