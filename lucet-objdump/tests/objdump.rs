//! `lucet-objdump` on the example modules, on signed modules, and on files that are
//! not lucet modules.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("lucet-objdump-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn objdump(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucet-objdump")).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn compile(wasm: &Path, out: &Path, configure: impl FnOnce(lucetc::Lucetc) -> lucetc::Lucetc) {
    let c = lucetc::Lucetc::try_from_bytes(std::fs::read(wasm).unwrap()).unwrap();
    configure(c).shared_object_file(out).unwrap();
}

const EXAMPLES: &[&str] = &["examples/hello-c/hello-c.wasm", "examples/hello-rust/hello-rust.wasm", "examples/c-host/guest.wasm"];

#[test]
fn every_example_module_is_described() {
    let dir = tempdir();
    for example in EXAMPLES {
        let so = dir.path().join(Path::new(example).with_extension("so").file_name().unwrap());
        compile(&repo(example), &so, |c| c);
        let out = objdump(&[so.as_os_str()]);
        let text = stdout(&out);
        assert!(out.status.success(), "{example}: {}", stderr(&out));
        for expected in [
            "format version:  ",
            "opt level:       speed",
            "Spectre guards:  on",
            "signature:       none",
            "reservation 4 GiB, guard 2 GiB; bounds checks: guard pages",
            "data segments: ",
            "imports: ",
            "exports: ",
            "functions: ",
            "CPU features:    ",
        ] {
            assert!(text.contains(expected), "{example}: no `{expected}` in\n{text}");
        }

        let out = objdump(&[so.as_os_str(), "--json".as_ref()]);
        assert!(out.status.success(), "{example}: {}", stderr(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["codegen"]["spectre_guards"], true);
        assert_eq!(json["memories"][0]["bounds_checks"], "guard pages");
        assert!(json["functions"].as_array().unwrap().iter().all(|f| f["code_size"].as_u64().unwrap() > 0));
        assert!(json["exports"].as_array().unwrap().iter().any(|e| e["kind"] == "func" && e["ty"].is_string()));
    }
}

#[test]
fn settings_and_shapes_follow_the_compiler_options() {
    let dir = tempdir();
    let wat = dir.path().join("m.wat");
    std::fs::write(
        &wat,
        r#"(module
             (import "env" "g" (global $g i64))
             (memory (export "mem") 1 3)
             (table 2 funcref)
             (global (mut i32) (i32.const 7))
             (data (i32.const 8) "abcd")
             (data "passive!")
             (func $add (export "add") (param i32 i32) (result i32)
               local.get 0 local.get 1 i32.add)
             (func (export "load") (param i32) (result i32) local.get 0 i32.load))"#,
    )
    .unwrap();
    let so = dir.path().join("m.so");
    compile(&wat, &so, |c| {
        c.with_opt_level(lucetc::OptLevel::None)
            .with_spectre(lucetc::Spectre::Off)
            .with_reserved_size(64 * 1024)
            .with_guard_size(0)
    });
    let out = objdump(&[so.as_os_str()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    for expected in [
        "opt level:       none",
        "Spectre guards:  off",
        "0: 1 pages, max 3, 32-bit; reservation 64 KiB, guard 0 bytes; bounds checks: explicit",
        "0: funcref, 2 elements, max none",
        "0 (imported): i64",
        "1: mut i32 = i32.const 7",
        "data segments: 2 (1 active, 1 passive), 12 bytes",
        "env.g: global i64",
        "add: func 0 (i32, i32) -> (i32)",
        "mem: memory 0",
        "functions: 2 defined",
    ] {
        assert!(text.contains(expected), "no `{expected}` in\n{text}");
    }
}

#[test]
fn a_signature_is_reported_and_checked_with_a_key() {
    let dir = tempdir();
    let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let (secret, public) = (dir.path().join("k.key"), dir.path().join("k.pub"));
    std::fs::write(&secret, pair.sk.to_box(None).unwrap().to_string()).unwrap();
    std::fs::write(&public, pair.pk.to_box().unwrap().to_string()).unwrap();
    let so = dir.path().join("hello.so");
    compile(&repo(EXAMPLES[0]), &so, |c| c.with_signing_key(lucetc::SigningKey::from_file(&secret).unwrap()));

    let out = objdump(&[so.as_os_str()]);
    assert!(stdout(&out).contains("signature:       present, not verified"), "{}", stdout(&out));
    let out = objdump(&[so.as_os_str(), "--verify-key".as_ref(), public.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("signature:       verified"), "{}", stdout(&out));

    // A file changed after signing is refused.
    let mut bytes = std::fs::read(&so).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&so, bytes).unwrap();
    let out = objdump(&[so.as_os_str(), "--verify-key".as_ref(), public.as_os_str()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("signature"), "{}", stderr(&out));
}

#[test]
fn foreign_truncated_and_missing_files_get_clear_errors() {
    let dir = tempdir();
    let cases: Vec<(PathBuf, &str)> = {
        let so = dir.path().join("hello.so");
        compile(&repo(EXAMPLES[0]), &so, |c| c);
        let bytes = std::fs::read(&so).unwrap();
        let truncated = dir.path().join("truncated.so");
        std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
        let wasm = repo(EXAMPLES[0]);
        let mut cases = vec![
            (truncated, "malformed or truncated"),
            (wasm, "WebAssembly binary, not a compiled module"),
            (dir.path().join("absent.so"), "cannot open the file"),
        ];
        for foreign in ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libz.so.1"] {
            if Path::new(foreign).exists() {
                cases.push((PathBuf::from(foreign), "not a Lucet module"));
            }
        }
        cases
    };
    for (file, expected) in cases {
        let out = objdump(&[file.as_os_str()]);
        assert_eq!(out.status.code(), Some(1), "{}", file.display());
        let err = stderr(&out);
        assert!(err.starts_with("error: ") && err.contains(expected), "{}: {err}", file.display());
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty());
    }

    // A wrong argument is a usage error naming the option.
    let out = objdump(&["--jsn".as_ref(), "x.so".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--jsn"), "{}", stderr(&out));
}

#[test]
fn help_lists_every_option_with_its_default() {
    let out = objdump(&["--help".as_ref()]);
    let help = stdout(&out);
    for option in ["--json", "--verify-key"] {
        let line = help.lines().skip_while(|l| !l.contains(option)).take(4).collect::<String>();
        assert!(line.contains("[default:"), "{option} has no default in\n{help}");
    }
}
