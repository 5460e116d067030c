//! `lucet-wasi --verify-key`: runs a compiled module only if its signature holds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn guest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests/cli.wat")
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("lucet-wasi-verify-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// Writes a key pair as `minisign -G -W` does; returns (secret, public).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let (secret, public) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")));
    std::fs::write(&secret, pair.sk.to_box(None).unwrap().to_string()).unwrap();
    std::fs::write(&public, pair.pk.to_box().unwrap().to_string()).unwrap();
    (secret, public)
}

fn compile_signed(out: &Path, secret: &Path) {
    lucetc::Lucetc::new(guest())
        .unwrap()
        .with_signing_key(lucetc::SigningKey::from_file(secret).unwrap())
        .shared_object_file(out)
        .unwrap();
}

fn lucet_wasi(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucet-wasi")).args(args).stdin(Stdio::null()).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn runs_only_modules_the_key_signed() {
    let dir = tempdir();
    let (secret, public) = key_pair(dir.path(), "ours");
    let (other_secret, other_public) = key_pair(dir.path(), "theirs");
    let so = dir.path().join("m.so");
    compile_signed(&so, &secret);

    let run = |key: &std::ffi::OsStr, module: &Path| lucet_wasi(&["--verify-key".as_ref(), key, module.as_os_str()]);

    // The key file, or the key line itself.
    let o = run(public.as_os_str(), &so);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello\n");
    let line = std::fs::read_to_string(&public).unwrap().lines().nth(1).unwrap().to_string();
    assert!(run(line.as_ref(), &so).status.success());

    // Another key.
    let o = run(other_public.as_os_str(), &so);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("different key"), "{}", stderr(&o));

    // Changed after signing, then signed again by another key.
    let mut bytes = std::fs::read(&so).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x40;
    std::fs::write(&so, &bytes).unwrap();
    let o = run(public.as_os_str(), &so);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("changed after it was signed"), "{}", stderr(&o));
    compile_signed(&so, &other_secret);
    let o = run(public.as_os_str(), &so);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // Unsigned, and a malformed signature.
    std::fs::remove_file(lucet_runtime::signature_path(&so)).unwrap();
    let o = run(public.as_os_str(), &so);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not signed") && stderr(&o).contains("m.so.minisig"), "{}", stderr(&o));
    std::fs::write(lucet_runtime::signature_path(&so), "untrusted comment: nothing\n").unwrap();
    let o = run(public.as_os_str(), &so);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("malformed"), "{}", stderr(&o));

    // Without --verify-key the same file runs, as before.
    assert!(lucet_wasi(&[so.as_os_str()]).status.success());
}

#[test]
fn bad_keys_and_wasm_input_are_clear_errors() {
    let dir = tempdir();
    let (_, public) = key_pair(dir.path(), "k");
    let o = lucet_wasi(&["--verify-key".as_ref(), "nope".as_ref(), guest().as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--verify-key nope: no such file"), "{}", stderr(&o));
    let o = lucet_wasi(&["--verify-key".as_ref(), guest().as_os_str(), guest().as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a minisign public key"), "{}", stderr(&o));
    // Verification applies to compiled modules; a .wasm/.wat would be compiled unsigned.
    let o = lucet_wasi(&["--verify-key".as_ref(), public.as_os_str(), guest().as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--verify-key checks compiled modules") && stderr(&o).contains("--sign-key"),
        "{}",
        stderr(&o)
    );
}
