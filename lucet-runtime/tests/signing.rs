//! Signed modules: `DlModule::load_verified` loads what the trusted key signed, and
//! refuses everything else; the stock `minisign` tool and lucet accept each other's
//! signatures.

mod common;
use common::*;
use lucet_runtime::{signature_path, DlModule, Error, PublicKey, Region};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A key pair written the way `minisign -G` writes one.
struct Keys {
    secret: PathBuf,
    public: PathBuf,
    pair: minisign::KeyPair,
}

impl Keys {
    fn new(dir: &Path, name: &str) -> Keys {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let secret = dir.join(format!("{name}.key"));
        let public = dir.join(format!("{name}.pub"));
        std::fs::write(&secret, pair.sk.to_box(None).unwrap().to_string()).unwrap();
        std::fs::write(&public, pair.pk.to_box().unwrap().to_string()).unwrap();
        Keys { secret, public, pair }
    }

    fn public_key(&self) -> PublicKey {
        PublicKey::from_file(&self.public).unwrap()
    }

    fn signing_key(&self) -> lucetc::SigningKey {
        lucetc::SigningKey::from_file(&self.secret).unwrap()
    }

    /// Signs `file` into `file.minisig` without lucetc.
    fn sign(&self, file: &Path) {
        let bytes = std::fs::read(file).unwrap();
        let sig = minisign::sign(None, &self.pair.sk, &bytes[..], None, None).unwrap();
        std::fs::write(signature_path(file), sig.to_string()).unwrap();
    }
}

fn returns(n: i32) -> String {
    format!(r#"(module (func (export "f") (result i32) i32.const {n}))"#)
}

/// Compiles `wat` into `dir/name`, signed with `keys`.
fn compile_signed(dir: &Path, name: &str, wat: &str, keys: &Keys) -> PathBuf {
    let out = dir.join(name);
    lucetc::Lucetc::try_from_bytes(wat.as_bytes())
        .unwrap()
        .with_signing_key(keys.signing_key())
        .shared_object_file(&out)
        .unwrap();
    out
}

fn call_f(module: Arc<DlModule>) -> i32 {
    let mut inst = region(1).new_instance(module).unwrap();
    inst.run("f", &[]).unwrap().unwrap_returned().into()
}

fn rejected(e: Error) -> String {
    match e {
        Error::SignatureRejected { reason, .. } => reason,
        other => panic!("expected SignatureRejected, got {other:?}"),
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("lucet-signing-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

#[test]
fn correctly_signed_module_loads_and_runs() {
    let dir = tempdir();
    let keys = Keys::new(dir.path(), "k");
    let so = compile_signed(dir.path(), "m.so", &returns(42), &keys);
    assert!(signature_path(&so).exists());
    let module = DlModule::load_verified(&so, &keys.public_key()).unwrap();
    assert_eq!(module.path(), so.display().to_string());
    assert_eq!(call_f(module), 42);
}

#[test]
fn tampered_module_is_refused() {
    let dir = tempdir();
    let keys = Keys::new(dir.path(), "k");
    let so = compile_signed(dir.path(), "m.so", &returns(1), &keys);
    let good = std::fs::read(&so).unwrap();
    // One byte changed anywhere: the ELF header, the middle, the last byte.
    for at in [5, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        std::fs::write(&so, &bad).unwrap();
        let r = rejected(DlModule::load_verified(&so, &keys.public_key()).unwrap_err());
        assert!(r.contains("changed after it was signed"), "byte {at}: {r}");
    }
    // One byte more, one byte less.
    for bad in [[&good[..], b"\0"].concat(), good[..good.len() - 1].to_vec()] {
        std::fs::write(&so, &bad).unwrap();
        let r = rejected(DlModule::load_verified(&so, &keys.public_key()).unwrap_err());
        assert!(r.contains("changed after it was signed"), "{r}");
    }
    std::fs::write(&so, &good).unwrap();
    DlModule::load_verified(&so, &keys.public_key()).unwrap();
}

#[test]
fn unsigned_module_is_refused() {
    let dir = tempdir();
    let so = dir.path().join("m.so");
    std::fs::copy(compile_wat(&returns(2)), &so).unwrap();
    let keys = Keys::new(dir.path(), "k");
    let e = DlModule::load_verified(&so, &keys.public_key()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("m.so") && msg.contains("not signed") && msg.contains("--sign-key"), "{msg}");
    // The ordinary load is unaffected.
    assert_eq!(call_f(DlModule::load(&so).unwrap()), 2);
}

#[test]
fn wrongly_signed_module_is_refused() {
    let dir = tempdir();
    let ours = Keys::new(dir.path(), "ours");
    let theirs = Keys::new(dir.path(), "theirs");
    let so = compile_signed(dir.path(), "m.so", &returns(3), &theirs);
    let r = rejected(DlModule::load_verified(&so, &ours.public_key()).unwrap_err());
    assert!(r.contains("different key") && r.contains("ours.pub"), "{r}");
}

#[test]
fn module_changed_and_signed_again_by_another_key_is_refused() {
    let dir = tempdir();
    let ours = Keys::new(dir.path(), "ours");
    let theirs = Keys::new(dir.path(), "theirs");
    let so = compile_signed(dir.path(), "m.so", &returns(4), &ours);
    DlModule::load_verified(&so, &ours.public_key()).unwrap();

    // Replaced by another module, signed by another key.
    std::fs::copy(compile_wat(&returns(666)), &so).unwrap();
    theirs.sign(&so);
    let r = rejected(DlModule::load_verified(&so, &ours.public_key()).unwrap_err());
    assert!(r.contains("different key"), "{r}");

    // The same, with the signature's key id forged to ours: the key id is only a hint,
    // the Ed25519 check still fails.
    let sig = std::fs::read_to_string(signature_path(&so)).unwrap();
    let mut lines: Vec<String> = sig.lines().map(String::from).collect();
    let ours_id = key_id(std::fs::read_to_string(&ours.public).unwrap().lines().nth(1).unwrap());
    lines[1] = replace_key_id(&lines[1], &ours_id);
    std::fs::write(signature_path(&so), lines.join("\n") + "\n").unwrap();
    let r = rejected(DlModule::load_verified(&so, &ours.public_key()).unwrap_err());
    assert!(r.contains("changed after it was signed"), "{r}");
}

/// The 8-byte key id inside a base64 public key (bytes 2..10).
fn key_id(public_b64: &str) -> Vec<u8> {
    b64_decode(public_b64)[2..10].to_vec()
}

/// Puts `id` into a base64 signature line (bytes 2..10).
fn replace_key_id(sig_b64: &str, id: &[u8]) -> String {
    let mut raw = b64_decode(sig_b64);
    raw[2..10].copy_from_slice(id);
    b64_encode(&raw)
}

fn b64_decode(s: &str) -> Vec<u8> {
    <ct_codecs::Base64 as ct_codecs::Decoder>::decode_to_vec(s.trim(), None).unwrap()
}

fn b64_encode(bytes: &[u8]) -> String {
    <ct_codecs::Base64 as ct_codecs::Encoder>::encode_to_string(bytes).unwrap()
}

#[test]
fn malformed_signature_is_refused() {
    let dir = tempdir();
    let keys = Keys::new(dir.path(), "k");
    let so = compile_signed(dir.path(), "m.so", &returns(5), &keys);
    let good = std::fs::read_to_string(signature_path(&so)).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    let truncated_base64 = format!("{}\n{}\n{}\n{}\n", lines[0], &lines[1][..40], lines[2], lines[3]);
    let no_trusted_prefix = format!("{}\n{}\ncomment: x\n{}\n", lines[0], lines[1], lines[3]);
    let cases: [(&str, &[u8]); 6] = [
        ("empty", b""),
        ("one line", lines[0].as_bytes()),
        ("garbage", b"untrusted comment: x\n!!!!\ntrusted comment: y\n????\n"),
        ("truncated base64", truncated_base64.as_bytes()),
        ("no trusted comment prefix", no_trusted_prefix.as_bytes()),
        ("binary", &[0xff, 0xfe, 0x00, 0x80]),
    ];
    for (what, text) in cases {
        std::fs::write(signature_path(&so), text).unwrap();
        let r = rejected(DlModule::load_verified(&so, &keys.public_key()).unwrap_err());
        assert!(r.contains("m.so.minisig"), "{what}: {r}");
        assert!(r.contains("malformed") || r.contains("not text"), "{what}: {r}");
    }
    // A huge file is not read whole.
    std::fs::write(signature_path(&so), vec![b'A'; 1 << 20]).unwrap();
    let r = rejected(DlModule::load_verified(&so, &keys.public_key()).unwrap_err());
    assert!(r.contains("too large"), "{r}");
    // The trusted comment is signed as well.
    let forged = good.replace("trusted comment: timestamp:", "trusted comment: timestamp:1");
    std::fs::write(signature_path(&so), forged).unwrap();
    let r = rejected(DlModule::load_verified(&so, &keys.public_key()).unwrap_err());
    assert!(r.contains("signature was changed"), "{r}");
}

#[test]
fn bad_public_keys_are_clear_errors() {
    let dir = tempdir();
    let keys = Keys::new(dir.path(), "k");
    let e = PublicKey::from_file(dir.path().join("missing.pub")).unwrap_err().to_string();
    assert!(e.contains("missing.pub") && e.contains("cannot read"), "{e}");
    let e = PublicKey::from_file(&keys.secret).unwrap_err().to_string();
    assert!(e.contains("secret key"), "{e}");
    let e = PublicKey::from_base64("RWQ not a key").unwrap_err().to_string();
    assert!(e.contains("not a minisign public key"), "{e}");
    let line = std::fs::read_to_string(&keys.public).unwrap().lines().nth(1).unwrap().to_string();
    PublicKey::from_base64(&line).unwrap();
}

#[test]
fn files_that_are_not_modules_are_refused_before_anything_runs() {
    let dir = tempdir();
    let keys = Keys::new(dir.path(), "k");
    // A signature holds, but the file is not a Lucet module: the usual load checks apply.
    let libz = ["/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/libz.so.1"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("libz is installed");
    let so = dir.path().join("libz.so");
    std::fs::copy(libz, &so).unwrap();
    keys.sign(&so);
    match DlModule::load_verified(&so, &keys.public_key()).unwrap_err() {
        Error::InvalidModule { reason, .. } => assert!(reason.contains("not a Lucet module"), "{reason}"),
        other => panic!("expected InvalidModule, got {other:?}"),
    }
    // Not a regular file.
    let e = DlModule::load_verified(dir.path(), &keys.public_key());
    assert!(e.is_err());
    let fifo = dir.path().join("fifo.so");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    keys.sign(&so);
    std::fs::copy(signature_path(&so), signature_path(&fifo)).unwrap();
    match DlModule::load_verified(&fifo, &keys.public_key()).unwrap_err() {
        Error::InvalidModule { reason, .. } => assert!(reason.contains("not a regular file"), "{reason}"),
        other => panic!("expected InvalidModule, got {other:?}"),
    }
}

/// Nothing of the file at the path is mapped: the code runs from the sealed copy.
#[test]
fn the_file_at_the_path_is_never_mapped() {
    let dir = tempdir();
    let keys = Keys::new(dir.path(), "k");
    let so = compile_signed(dir.path(), "never-mapped.so", &returns(6), &keys);
    let module = DlModule::load_verified(&so, &keys.public_key()).unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(!maps.lines().any(|l| l.ends_with(so.to_str().unwrap())), "{maps}");
    assert!(maps.lines().any(|l| l.contains("/memfd:lucet-verified:never-mapped.so") && l.contains("r-x")), "{maps}");
    // Rewriting the file afterwards changes nothing that is loaded.
    std::fs::copy(compile_wat(&returns(666)), &so).unwrap();
    assert_eq!(call_f(module), 6);
}

/// Each verified module is loaded through `/proc/self/fd/N`, and the dynamic linker
/// hands back an already loaded object of the same name: a module loaded earlier
/// through the same descriptor number must not be returned for a later one.
#[test]
fn every_verified_load_gets_its_own_module() {
    let dir = tempdir();
    let keys = Keys::new(dir.path(), "k");
    let files: Vec<PathBuf> =
        (0..6).map(|i| compile_signed(dir.path(), &format!("m{i}.so"), &returns(100 + i), &keys)).collect();
    // Each load closes its descriptor, so the next one usually gets the same number,
    // while the earlier modules stay loaded.
    let modules: Vec<Arc<DlModule>> =
        files.iter().map(|f| DlModule::load_verified(f, &keys.public_key()).unwrap()).collect();
    for (i, m) in modules.into_iter().enumerate() {
        assert_eq!(call_f(m), 100 + i as i32);
    }
    // And from several threads at once.
    let threads: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (f, key) = (f.clone(), keys.public_key());
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let m = DlModule::load_verified(&f, &key).unwrap();
                    assert_eq!(call_f(m), 100 + i as i32);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn unresolved_imports_are_left_to_a_linker() {
    let dir = tempdir();
    let keys = Keys::new(dir.path(), "k");
    let wat = r#"(module (import "host" "seven" (func $s (result i32)))
                          (func (export "f") (result i32) call $s))"#;
    let so = compile_signed(dir.path(), "imports.so", wat, &keys);
    let e = DlModule::load_verified(&so, &keys.public_key()).unwrap_err();
    assert!(matches!(e, Error::UnresolvedImport(_)), "{e}");
    let module = DlModule::load_verified_unresolved(&so, &keys.public_key()).unwrap();
    let mut linker = lucet_runtime::Linker::new();
    linker.func_wrap("host", "seven", || 7i32);
    let mut inst = region(1).new_instance_builder(module).with_linker(&linker).build().unwrap();
    assert_eq!(i32::from(inst.run("f", &[]).unwrap().unwrap_returned()), 7);
}

fn stock_minisign() -> bool {
    let found = Command::new("minisign").arg("-v").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "note: the `minisign` tool is not installed (apt-get install minisign); skipping the check against it"
        );
    }
    found
}

#[test]
fn stock_minisign_accepts_lucetc_signatures() {
    if !stock_minisign() {
        return;
    }
    let dir = tempdir();
    let keys = Keys::new(dir.path(), "k");
    let so = compile_signed(dir.path(), "m.so", &returns(7), &keys);
    let out = Command::new("minisign").arg("-Vm").arg(&so).arg("-p").arg(&keys.public).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("file:m.so") && text.contains("lucetc:"), "{text}");
    // And refuses a changed one, as lucet does.
    let mut bytes = std::fs::read(&so).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&so, bytes).unwrap();
    let out = Command::new("minisign").arg("-Vm").arg(&so).arg("-p").arg(&keys.public).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn lucet_accepts_stock_minisign_signatures() {
    if !stock_minisign() {
        return;
    }
    let dir = tempdir();
    let (public, secret) = (dir.path().join("stock.pub"), dir.path().join("stock.key"));
    let gen = Command::new("minisign").arg("-G").arg("-W").arg("-p").arg(&public).arg("-s").arg(&secret).output();
    assert!(gen.unwrap().status.success());
    let so = dir.path().join("m.so");
    std::fs::copy(compile_wat(&returns(8)), &so).unwrap();
    let sign = Command::new("minisign").arg("-S").arg("-s").arg(&secret).arg("-m").arg(&so).output().unwrap();
    assert!(sign.status.success(), "{}", String::from_utf8_lossy(&sign.stderr));
    let key = PublicKey::from_file(&public).unwrap();
    assert_eq!(call_f(DlModule::load_verified(&so, &key).unwrap()), 8);

    // lucetc signs with a key the stock tool made, too.
    let so2 = dir.path().join("m2.so");
    lucetc::Lucetc::try_from_bytes(returns(9).as_bytes())
        .unwrap()
        .with_signing_key(lucetc::SigningKey::from_file(&secret).unwrap())
        .shared_object_file(&so2)
        .unwrap();
    assert_eq!(call_f(DlModule::load_verified(&so2, &key).unwrap()), 9);

    // Minisign's legacy mode signs the file itself rather than its hash; not accepted.
    let legacy = Command::new("minisign").arg("-S").arg("-l").arg("-s").arg(&secret).arg("-m").arg(&so).output();
    assert!(legacy.unwrap().status.success());
    let r = rejected(DlModule::load_verified(&so, &key).unwrap_err());
    assert!(r.contains("legacy"), "{r}");
}
