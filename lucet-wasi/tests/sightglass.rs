//! Runs the sightglass benchmark programs (../shared/corpora/sightglass) and checks
//! that each prints its expected stdout and stderr.
//!
//! Each program runs with its folder's input files (copied to a fresh temporary
//! directory) preopened as `.`, no arguments and an empty environment. The
//! `bench.start`/`bench.end` imports are host functions registered here; the time
//! between them is printed per benchmark with `--times`.
//!
//! Compiling all 121 programs takes several minutes on a small machine, so a plain
//! `cargo test` skips this unless `LUCET_SIGHTGLASS=1`:
//! `LUCET_SIGHTGLASS=1 cargo test -p lucet-wasi --test sightglass -- [--times] [FILTER...]`.
//! Compiled modules are cached under `target/sightglass-cache`; `SIGHTGLASS_DIR`
//! points at another copy of the corpus.

use lucet_runtime::{register_hostcalls, DlModule, HostcallDef, Limits, MmapRegion, Region, Vmctx};
use lucet_wasi::{OutputCapture, WasiCtxBuilder};
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

thread_local! {
    static STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
    static MEASURED: Cell<Option<Duration>> = const { Cell::new(None) };
}

unsafe extern "C" fn bench_start(_vmctx: &Vmctx) {
    STARTED.with(|s| s.set(Some(Instant::now())));
}

unsafe extern "C" fn bench_end(_vmctx: &Vmctx) {
    let elapsed = STARTED.with(|s| s.get()).map(|t| t.elapsed());
    MEASURED.with(|m| m.set(elapsed));
}

static BENCH_HOOKS: &[HostcallDef] = &[
    HostcallDef {
        module: "bench",
        name: "start",
        params: &[],
        results: &[],
        func: bench_start as *const u8,
    },
    HostcallDef {
        module: "bench",
        name: "end",
        params: &[],
        results: &[],
        func: bench_end as *const u8,
    },
];

/// Benchmarks that cannot run from the corpus as stored, with the reason.
const SKIPPED: &[(&str, &str)] = &[(
    "pulldown-cmark/benchmark.wasm",
    "its input default.input.md is not in the corpus snapshot",
)];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate lives in the workspace")
        .to_owned()
}

fn compile_cached(wasm: &Path, cache: &Path) -> Result<PathBuf, String> {
    let bytes = std::fs::read(wasm).map_err(|e| format!("cannot read: {e}"))?;
    let mut h = Sha256::new();
    h.update(lucet_module::COMPILER_VERSION.as_bytes());
    h.update(lucet_module::FORMAT_VERSION.to_le_bytes());
    h.update(&bytes);
    let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let out = cache.join(format!("{key}.so"));
    if !out.exists() {
        std::fs::create_dir_all(cache).map_err(|e| e.to_string())?;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tmp = cache.join(format!("{key}.{}.{n}.tmp.so", std::process::id()));
        lucetc::Lucetc::try_from_bytes(&bytes)
            .and_then(|c| c.shared_object_file(&tmp))
            .map_err(|e| format!("compile: {e}"))?;
        std::fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn expected(dir: &Path, stem: &str, stream: &str) -> Option<String> {
    let own = dir.join(format!("{stem}.{stream}.expected"));
    let fallback = dir.join(format!("default.{stream}.expected"));
    std::fs::read_to_string(own)
        .or_else(|_| std::fs::read_to_string(fallback))
        .ok()
}

/// Runs one benchmark; returns the measured time between `bench.start` and `bench.end`.
fn run(wasm: &Path, cache: &Path) -> Result<Option<Duration>, String> {
    let dir = wasm.parent().expect("benchmark folder");
    let stem = wasm
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let so = compile_cached(wasm, cache)?;
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let p = entry.path();
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false)
            && p.extension().is_none_or(|x| x != "wasm")
        {
            let dest = scratch.path().join(entry.file_name());
            std::fs::copy(&p, &dest).map_err(|e| e.to_string())?;
            let mut perm = std::fs::metadata(&dest)
                .map_err(|e| e.to_string())?
                .permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o644);
            std::fs::set_permissions(&dest, perm).map_err(|e| e.to_string())?;
        }
    }
    let module = DlModule::load(&so).map_err(|e| e.to_string())?;
    let region = MmapRegion::create(1, &Limits::default()).map_err(|e| e.to_string())?;
    let mut inst = region.new_instance(module).map_err(|e| e.to_string())?;
    let out = OutputCapture::new();
    let err = OutputCapture::new();
    let ctx = WasiCtxBuilder::new()
        .arg(
            wasm.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("benchmark.wasm"),
        )
        .stdout(out.clone())
        .stderr(err.clone())
        .preopened_dir(scratch.path(), ".")
        .build()
        .map_err(|e| e.to_string())?;
    inst.insert_embed_ctx(ctx);
    MEASURED.with(|m| m.set(None));
    match inst.run("_start", &[]) {
        Ok(_) => {}
        Err(e) => match lucet_wasi::exit_code(&e) {
            Some(0) => {}
            Some(code) => {
                return Err(format!(
                    "exit code {code}; stderr: {}",
                    String::from_utf8_lossy(&err.contents())
                ))
            }
            None => {
                let stderr = String::from_utf8_lossy(&err.contents()).into_owned();
                let tail: String = stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
                return Err(format!(
                    "{e}; stderr: {}",
                    tail.chars().take(400).collect::<String>()
                ));
            }
        },
    }
    let mut problems = Vec::new();
    for (stream, got) in [("stdout", out.contents()), ("stderr", err.contents())] {
        let got = String::from_utf8_lossy(&got).into_owned();
        if let Some(want) = expected(dir, stem, stream) {
            // Some expected files lack the final newline the program prints, so
            // trailing whitespace is not significant (as in sightglass itself).
            if got.trim_end() != want.trim_end() {
                let show = |s: &str| s.chars().take(200).collect::<String>();
                problems.push(format!(
                    "{stream} {:?}, expected {:?}",
                    show(&got),
                    show(&want)
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(MEASURED.with(|m| m.get()))
    } else {
        Err(problems.join("; "))
    }
}

fn main() {
    if !std::env::var("LUCET_SIGHTGLASS").is_ok_and(|v| v == "1") {
        println!("sightglass: skipped; set LUCET_SIGHTGLASS=1 to run the benchmark programs (takes minutes)");
        return;
    }
    register_hostcalls(BENCH_HOOKS);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let times = args.iter().any(|a| a == "--times");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let root = match std::env::var_os("SIGHTGLASS_DIR") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("../shared/corpora/sightglass"),
    };
    let mut wasms = Vec::new();
    let Ok(benches) = std::fs::read_dir(root.join("benchmarks")) else {
        eprintln!(
            "error: the sightglass corpus is not at {} (set SIGHTGLASS_DIR)",
            root.display()
        );
        std::process::exit(1);
    };
    for b in benches.flatten() {
        if let Ok(files) = std::fs::read_dir(b.path()) {
            wasms.extend(
                files
                    .flatten()
                    .map(|f| f.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "wasm")),
            );
        }
    }
    wasms.sort();
    wasms.retain(|w| {
        filters.is_empty()
            || filters
                .iter()
                .any(|f| w.to_string_lossy().contains(f.as_str()))
    });

    let cache = workspace_root().join("target/sightglass-cache");
    let next = AtomicUsize::new(0);
    let skipped = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(2);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(w) = wasms.get(i) else { break };
                let name = w
                    .strip_prefix(root.join("benchmarks"))
                    .unwrap_or(w)
                    .display()
                    .to_string();
                if let Some((_, why)) = SKIPPED.iter().find(|(n, _)| *n == name) {
                    println!("skip {name}: {why}");
                    skipped.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                match run(w, &cache) {
                    Ok(t) if times => println!(
                        "ok {name}: {}",
                        t.map(|d| format!("{d:?}")).unwrap_or("no bench.end".into())
                    ),
                    Ok(_) => {}
                    Err(why) => {
                        println!("FAIL {name}: {why}");
                        failed.lock().unwrap_or_else(|e| e.into_inner()).push(name);
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap_or_else(|e| e.into_inner()).len();
    let skipped = skipped.into_inner();
    println!(
        "{} passed, {failed} failed, {skipped} skipped",
        wasms.len() - failed - skipped
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
