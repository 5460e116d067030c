//! `lucetc --sign-key` and `Lucetc::with_signing_key`: the signature written beside the
//! shared object, and clear errors for keys that cannot be used.

use lucet_runtime::{signature_path, DlModule, PublicKey};
use lucetc::{Linker, Lucetc, SigningKey};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const WAT: &str = r#"(module (func (export "f") (result i32) i32.const 11))"#;

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("lucetc-signing-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// Writes an unencrypted key pair as `minisign -G -W` would; returns (secret, public).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    write_pair(dir, name, &pair)
}

fn write_pair(dir: &Path, name: &str, pair: &minisign::KeyPair) -> (PathBuf, PathBuf) {
    let (secret, public) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")));
    std::fs::write(&secret, pair.sk.to_box(None).unwrap().to_string()).unwrap();
    std::fs::write(&public, pair.pk.to_box().unwrap().to_string()).unwrap();
    (secret, public)
}

fn lucetc(dir: &Path, args: &[&str]) -> Output {
    let input = dir.join("m.wat");
    std::fs::write(&input, WAT).unwrap();
    Command::new(env!("CARGO_BIN_EXE_lucetc"))
        .current_dir(dir)
        .arg(&input)
        .args(args)
        .env_remove("LUCETC_SIGN_KEY_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn call_f(so: &Path, key: &Path) -> i32 {
    let module = DlModule::load_verified(so, &PublicKey::from_file(key).unwrap()).unwrap();
    let region = lucet_runtime::MmapRegion::create(1, &lucet_runtime::Limits::default()).unwrap();
    let mut inst = lucet_runtime::Region::new_instance(&*region, module).unwrap();
    inst.run("f", &[]).unwrap().unwrap_returned().into()
}

#[test]
fn sign_key_writes_a_signature_beside_the_output() {
    let dir = tempdir();
    let (secret, public) = key_pair(dir.path(), "k");
    let o = lucetc(dir.path(), &["-o", "out.so", "--sign-key", secret.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let so = dir.path().join("out.so");
    let sig = std::fs::read_to_string(signature_path(&so)).unwrap();
    let lines: Vec<&str> = sig.lines().collect();
    assert_eq!(lines.len(), 4, "{sig}");
    assert!(
        lines[2].starts_with("trusted comment: timestamp:") && lines[2].contains("\tfile:out.so\tlucetc:"),
        "{sig}"
    );
    assert_eq!(call_f(&so, &public), 11);
    // No temporary file is left behind.
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");

    // A trusted comment of one's own; the system linker's output is signed as well.
    let o = lucetc(
        dir.path(),
        &["-o", "sys.so", "--linker", "system", "--sign-key", secret.to_str().unwrap(), "--trusted-comment", "build 7"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let so = dir.path().join("sys.so");
    assert!(std::fs::read_to_string(signature_path(&so)).unwrap().contains("trusted comment: build 7\n"));
    assert_eq!(call_f(&so, &public), 11);
}

#[test]
fn unusable_keys_and_options_are_clear_errors() {
    let dir = tempdir();
    let (secret, public) = key_pair(dir.path(), "k");
    let cases: [(&[&str], &str); 5] = [
        (&["--sign-key", "missing.key"], "cannot use the secret key missing.key: cannot read it"),
        (&["--sign-key", public.to_str().unwrap()], "this is a public key"),
        (&["--sign-key", "m.wat"], "not a minisign secret key"),
        (&["--emit", "obj", "--sign-key", secret.to_str().unwrap()], "cannot be combined with --emit obj"),
        (&["--sign-key", secret.to_str().unwrap(), "--trusted-comment", "two\nlines"], "single line"),
    ];
    for (args, expected) in cases {
        let o = lucetc(dir.path(), args);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
        assert!(!dir.path().join("m.so").exists() && !dir.path().join("m.so.minisig").exists(), "{args:?}");
    }
    let o = lucetc(dir.path(), &["--trusted-comment", "x"]);
    assert!(!o.status.success() && stderr(&o).contains("--sign-key"), "{}", stderr(&o));

    // A damaged key: caught by its checksum, or, where the checksum is zero (as
    // `minisign -G -W` 0.11 writes it), by the trial signature.
    let text = std::fs::read_to_string(&secret).unwrap();
    let b64 = text.lines().nth(1).unwrap().to_string();
    let raw = <ct_codecs::Base64 as ct_codecs::Decoder>::decode_to_vec(&b64, None).unwrap();
    let mut flipped = raw.clone();
    flipped[70] ^= 1; // in the secret seed
    let mut unchecked = flipped.clone();
    unchecked[126..].fill(0);
    for (bytes, expected) in [(flipped, "Corrupted"), (unchecked, "secret and public halves do not match")] {
        let damaged = dir.path().join("damaged.key");
        let b = <ct_codecs::Base64 as ct_codecs::Encoder>::encode_to_string(&bytes).unwrap();
        std::fs::write(&damaged, text.replace(&b64, &b)).unwrap();
        let e = SigningKey::from_file(&damaged).unwrap_err().to_string();
        assert!(e.contains("damaged.key") && e.contains(expected), "{e}");
    }
    // The same key with its checksum zeroed but otherwise intact is usable.
    let mut zeroed = raw;
    zeroed[126..].fill(0);
    let b = <ct_codecs::Base64 as ct_codecs::Encoder>::encode_to_string(&zeroed).unwrap();
    std::fs::write(dir.path().join("zeroed.key"), text.replace(&b64, &b)).unwrap();
    SigningKey::from_file(dir.path().join("zeroed.key")).unwrap();
}

#[test]
fn encrypted_keys_take_a_password() {
    let dir = tempdir();
    let pair = minisign::KeyPair::generate_encrypted_keypair(Some("open sesame".into())).unwrap();
    let (secret, public) = write_pair(dir.path(), "enc", &pair);

    let e = SigningKey::from_file(&secret).unwrap_err().to_string();
    assert!(e.contains("encrypted"), "{e}");
    let e = SigningKey::from_file_with_password(&secret, || Ok("wrong".into())).unwrap_err().to_string();
    assert!(e.contains("wrong password"), "{e}");

    let o = Command::new(env!("CARGO_BIN_EXE_lucetc"))
        .arg({
            std::fs::write(dir.path().join("m.wat"), WAT).unwrap();
            dir.path().join("m.wat")
        })
        .arg("--sign-key")
        .arg(&secret)
        .env("LUCETC_SIGN_KEY_PASSWORD", "open sesame")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(call_f(&dir.path().join("m.so"), &public), 11);
}

#[test]
fn the_library_signs_what_it_writes() {
    let dir = tempdir();
    let (secret, public) = key_pair(dir.path(), "k");
    let key = SigningKey::from_file(&secret).unwrap();
    assert!(!format!("{key:?}").contains(&std::fs::read_to_string(&secret).unwrap().lines().nth(1).unwrap()[..20]));
    let pub_line = std::fs::read_to_string(&public).unwrap().lines().nth(1).unwrap().to_string();
    assert_eq!(key.public_key_base64(), pub_line);
    let so = dir.path().join("lib.so");
    Lucetc::try_from_bytes(WAT)
        .unwrap()
        .with_linker(Linker::Builtin)
        .with_signing_key(key)
        .with_trusted_comment("from the library")
        .shared_object_file(&so)
        .unwrap();
    assert_eq!(call_f(&so, &public), 11);
    // Objects and IR text are not signed.
    let unsigned = dir.path().join("lib.o");
    Lucetc::try_from_bytes(WAT)
        .unwrap()
        .with_signing_key(SigningKey::from_file(&secret).unwrap())
        .object_file(&unsigned)
        .unwrap();
    assert!(!signature_path(&unsigned).exists());
}
