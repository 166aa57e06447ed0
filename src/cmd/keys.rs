//! `wasmgov keygen` and `wasmgov sign`: SSHSIG, interoperable with `ssh-keygen -Y`.

use std::io::Write;

use wasmgov::signature;

use crate::flags::{KeygenArgs, SignArgs};

pub fn keygen(a: KeygenArgs) -> anyhow::Result<i32> {
    let (key, public) = signature::keygen(&a.comment).map_err(super::trust::refused)?;
    let pub_path = signature::write_keypair(&key, &a.file).map_err(super::trust::refused)?;
    let fp = signature::fingerprint(public.key_data());
    let line = public.to_openssh()?;
    println!("private key: {}", a.file.display());
    println!("public key:  {}", pub_path.display());
    println!("fingerprint: {fp}");
    println!();
    println!("allowed_signers line for operators who trust this key:");
    println!(
        "{} namespaces=\"{}\" {line}",
        a.comment,
        signature::NAMESPACE
    );
    Ok(0)
}

pub fn sign(a: SignArgs) -> anyhow::Result<i32> {
    let key = signature::load_private_key(&a.key).map_err(super::trust::refused)?;
    let manifest = super::read_file(&a.manifest, "manifest")?;
    // Refuse to sign what no verifier would accept: a malformed manifest is caught here.
    wasmgov::manifest::Manifest::parse(&manifest).map_err(super::trust::refused)?;
    let pem = signature::sign(&key, &manifest).map_err(super::trust::refused)?;
    let sig_path = wasmgov::signature_path(&a.manifest);
    let mut f = std::fs::File::create(&sig_path).map_err(|e| {
        crate::report::usage(format!("cannot write {}: {e}", sig_path.display()), None)
    })?;
    f.write_all(pem.as_bytes())?;
    f.sync_all()?;
    eprintln!(
        "signed {} with {} -> {}",
        a.manifest.display(),
        signature::fingerprint(key.public_key().key_data()),
        sig_path.display()
    );
    Ok(0)
}
