//! The shim's run path, end to end but without containerd: the same `run` the
//! container's init process calls, with captured streams and a temporary root.

use super::*;
use crate::settings::Settings;
use std::time::Duration;

fn guest(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    match name {
        "cli.wat" => dir.join("../lucet-wasi/tests/guests/cli.wat"),
        _ => dir.join("guests").join(name),
    }
}

struct Ran {
    outcome: Outcome,
    stdout: String,
}

fn plan(source: Source, func: &str, args: &[&str], env: &[&str], root: &Path) -> Plan {
    Plan {
        source,
        func: func.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        settings: Settings::from_env(env).unwrap(),
        memory_limit: None,
        root: root.to_owned(),
        stdio: Stdio::Capture {
            stdout: OutputCapture::new(),
            stderr: OutputCapture::new(),
        },
    }
}

fn go(p: Plan) -> Ran {
    let out = match &p.stdio {
        Stdio::Capture { stdout, .. } => stdout.clone(),
        Stdio::Inherit => unreachable!(),
    };
    let outcome = run(p);
    Ran {
        outcome,
        stdout: String::from_utf8(out.contents()).unwrap(),
    }
}

fn file(name: &str) -> Source {
    Source::File(guest(name))
}

#[test]
fn hello_world() {
    let root = tempfile::tempdir().unwrap();
    let r = go(plan(
        file("cli.wat"),
        "_start",
        &["/app.wasm"],
        &[],
        root.path(),
    ));
    assert_eq!(
        r.outcome,
        Outcome {
            code: 0,
            message: None
        }
    );
    assert_eq!(r.stdout, "hello\n");
}

#[test]
fn args_and_env_reach_the_guest_without_the_settings() {
    let root = tempfile::tempdir().unwrap();
    let r = go(plan(
        file("echo.wat"),
        "_start",
        &["/app.wasm", "one", "two words"],
        &["PATH=/bin", "LUCET_DEADLINE=30s", "GREETING=hi"],
        root.path(),
    ));
    assert_eq!(r.outcome.code, 0, "{:?}", r.outcome);
    assert_eq!(
        r.stdout,
        "/app.wasm\none\ntwo words\nPATH=/bin\nGREETING=hi\n"
    );
}

#[test]
fn the_root_is_preopened_as_slash() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("data.txt"), "shipped in the image\n").unwrap();
    let r = go(plan(
        file("cli.wat"),
        "read_file",
        &["/app.wasm"],
        &[],
        root.path(),
    ));
    assert_eq!(r.outcome.code, 0, "{:?}", r.outcome);
    assert_eq!(r.stdout, "/\nshipped in the image\n");
}

#[test]
fn proc_exit_is_the_exit_code() {
    let root = tempfile::tempdir().unwrap();
    let r = go(plan(
        file("cli.wat"),
        "exit_args_count",
        &["/app.wasm", "a", "b", "c", "d", "e", "f"],
        &[],
        root.path(),
    ));
    assert_eq!(
        r.outcome,
        Outcome {
            code: 7,
            message: None
        }
    );
}

#[test]
fn a_trap_names_itself_and_its_function() {
    let root = tempfile::tempdir().unwrap();
    let r = go(plan(
        file("cli.wat"),
        "trap",
        &["/app.wasm"],
        &[],
        root.path(),
    ));
    assert_eq!(r.outcome.code, EXIT_TRAP);
    let msg = r.outcome.message.unwrap();
    assert!(
        msg.contains("trapped") && msg.contains("unreachable") && msg.contains("in function `"),
        "{msg}"
    );
}

#[test]
fn the_deadline_stops_a_spinning_guest() {
    let root = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let r = go(plan(
        file("cli.wat"),
        "spin",
        &["/app.wasm"],
        &["LUCET_DEADLINE=200ms"],
        root.path(),
    ));
    assert_eq!(r.outcome.code, EXIT_DEADLINE, "{:?}", r.outcome);
    assert!(r.outcome.message.unwrap().contains("LUCET_DEADLINE"));
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_missing_export_lists_the_exports() {
    let root = tempfile::tempdir().unwrap();
    let r = go(plan(
        file("cli.wat"),
        "nope",
        &["/app.wasm"],
        &[],
        root.path(),
    ));
    assert_eq!(r.outcome.code, EXIT_BAD_MODULE);
    let msg = r.outcome.message.unwrap();
    assert!(msg.contains("`nope`") && msg.contains("read_file"), "{msg}");
}

#[test]
fn bad_modules_are_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let text = root.path().join("notes.txt");
    std::fs::write(&text, "just some notes\n").unwrap();
    let r = go(plan(
        Source::File(text),
        "_start",
        &["/notes.txt"],
        &[],
        root.path(),
    ));
    assert_eq!(r.outcome.code, EXIT_BAD_MODULE);
    assert!(r
        .outcome
        .message
        .unwrap()
        .contains("neither a WebAssembly module"));

    let broken = root.path().join("broken.wasm");
    std::fs::write(&broken, b"\0asm\x01\0\0\0\x01\xff").unwrap();
    let r = go(plan(
        Source::File(broken),
        "_start",
        &["/broken.wasm"],
        &[],
        root.path(),
    ));
    assert_eq!(r.outcome.code, EXIT_BAD_MODULE);
    assert!(r.outcome.message.unwrap().contains("cannot compile"));
}

#[test]
fn a_memory_limit_below_the_modules_minimum_is_named() {
    let root = tempfile::tempdir().unwrap();
    let wat = root.path().join("big.wat");
    std::fs::write(&wat, "(module (memory 16) (func (export \"_start\")))").unwrap();
    let mut p = plan(
        Source::File(wat.clone()),
        "_start",
        &["/big.wat"],
        &[],
        root.path(),
    );
    p.memory_limit = Some(4 * WASM_PAGE_SIZE as u64 + 100);
    let r = go(p);
    assert_eq!(r.outcome.code, EXIT_BAD_MODULE, "{:?}", r.outcome);
    let msg = r.outcome.message.unwrap();
    assert!(
        msg.contains("memory limit") && msg.contains("262144"),
        "{msg}"
    );

    let mut p = plan(Source::File(wat), "_start", &["/big.wat"], &[], root.path());
    p.memory_limit = Some(64 << 20);
    assert_eq!(go(p).outcome.code, 0);
}

#[test]
fn memory_limits_cap_the_heap() {
    assert_eq!(
        limits_for(None).heap_memory_size,
        Limits::default().heap_memory_size
    );
    assert_eq!(limits_for(Some((1 << 20) + 5)).heap_memory_size, 1 << 20);
    assert_eq!(
        limits_for(Some(1 << 40)).heap_memory_size,
        Limits::default().heap_memory_size
    );
}

#[test]
fn image_layers_run_from_memory_compiled_or_precompiled() {
    let root = tempfile::tempdir().unwrap();
    let wasm = wat::parse_file(guest("cli.wat")).unwrap();
    let r = go(plan(
        Source::Bytes(wasm.clone()),
        "_start",
        &["/app.wasm"],
        &[],
        root.path(),
    ));
    assert_eq!((r.outcome.code, r.stdout.as_str()), (0, "hello\n"));

    // What the shim's compiler hands containerd, and containerd hands back.
    let so = precompile(&wasm).unwrap().unwrap();
    assert!(crate::entry::is_elf(&so));
    assert!(precompile(&so).unwrap().is_none());
    let r = go(plan(
        Source::Bytes(so),
        "_start",
        &["/app.wasm"],
        &[],
        root.path(),
    ));
    assert_eq!((r.outcome.code, r.stdout.as_str()), (0, "hello\n"));
}

#[test]
fn the_compile_cache_is_lucet_wasis() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let env = format!("LUCET_CACHE_DIR={}", cache.display());
    for _ in 0..2 {
        let r = go(plan(
            file("cli.wat"),
            "_start",
            &["/app.wasm"],
            &[&env],
            root.path(),
        ));
        assert_eq!((r.outcome.code, r.stdout.as_str()), (0, "hello\n"));
    }
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn precompiled_modules_load_directly_and_verify_when_asked() {
    let root = tempfile::tempdir().unwrap();
    let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let secret = root.path().join("k.key");
    std::fs::write(&secret, pair.sk.to_box(None).unwrap().to_string()).unwrap();
    let public = pair.pk.to_base64();
    let signed = root.path().join("app.so");
    lucetc::Lucetc::new(guest("cli.wat"))
        .unwrap()
        .with_signing_key(lucetc::SigningKey::from_file(&secret).unwrap())
        .shared_object_file(&signed)
        .unwrap();
    let unsigned = root.path().join("plain.so");
    CompileOptions::default()
        .compile(&wat::parse_file(guest("cli.wat")).unwrap(), &unsigned)
        .unwrap();
    assert_eq!(
        crate::entry::classify(&unsigned).unwrap(),
        ModuleKind::SharedObject
    );

    let key_env = format!("LUCET_VERIFY_KEY={public}");
    let r = go(plan(
        Source::File(unsigned.clone()),
        "_start",
        &["/plain.so"],
        &[],
        root.path(),
    ));
    assert_eq!((r.outcome.code, r.stdout.as_str()), (0, "hello\n"));
    let r = go(plan(
        Source::File(signed),
        "_start",
        &["/app.so"],
        &[&key_env],
        root.path(),
    ));
    assert_eq!(
        (r.outcome.code, r.stdout.as_str()),
        (0, "hello\n"),
        "{:?}",
        r.outcome
    );
    let r = go(plan(
        Source::File(unsigned),
        "_start",
        &["/plain.so"],
        &[&key_env],
        root.path(),
    ));
    assert_eq!(r.outcome.code, EXIT_BAD_MODULE);
    let msg = r.outcome.message.unwrap();
    assert!(msg.contains("minisig"), "{msg}");
    let r = go(plan(
        file("cli.wat"),
        "_start",
        &["/app.wasm"],
        &[&key_env],
        root.path(),
    ));
    assert_eq!(r.outcome.code, EXIT_BAD_MODULE);
    assert!(r
        .outcome
        .message
        .unwrap()
        .contains("lucetc-wasi --sign-key"));
    let r = go(plan(
        file("cli.wat"),
        "_start",
        &["/app.wasm"],
        &["LUCET_VERIFY_KEY=nonsense"],
        root.path(),
    ));
    assert!(r.outcome.message.unwrap().contains("minisign public key"));
}
