//! Compiles the `.wat` guests beside the tests and instantiates them with a WASI context.
#![allow(dead_code)]

use lucet_runtime::{DlModule, InstanceHandle, Limits, MmapRegion, Region, Val};
use lucet_wasi::WasiCtx;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

pub fn guest_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guests")
        .join(name)
}

/// Compiles a guest to a `.so` under the target directory, keyed by its text and
/// the test binary's build time so a rebuilt compiler never serves stale code.
pub fn compile(name: &str) -> PathBuf {
    let wat = std::fs::read_to_string(guest_path(name)).expect("read guest");
    let mut h = std::collections::hash_map::DefaultHasher::new();
    wat.hash(&mut h);
    let exe = std::env::current_exe().expect("test binary path");
    std::fs::metadata(&exe)
        .and_then(|m| m.modified())
        .ok()
        .hash(&mut h);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lucet-wasi-guests");
    std::fs::create_dir_all(&dir).expect("create the guest cache dir");
    let out = dir.join(format!("{:016x}.so", h.finish()));
    if !out.exists() {
        // Tests run on several threads of one process: the temporary name must be
        // unique per call, not just per process.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tmp = dir.join(format!(
            "{:016x}.{}.{n}.tmp.so",
            h.finish(),
            std::process::id()
        ));
        lucetc::Lucetc::try_from_bytes(wat.as_bytes())
            .and_then(|c| c.shared_object_file(&tmp))
            .unwrap_or_else(|e| panic!("lucetc failed on {name}: {e}"));
        std::fs::rename(&tmp, &out).expect("store compiled guest");
    }
    out
}

pub fn instance(name: &str, ctx: WasiCtx) -> InstanceHandle {
    let module = DlModule::load(compile(name)).unwrap_or_else(|e| panic!("load {name}: {e}"));
    let region = MmapRegion::create(1, &Limits::default()).expect("create region");
    let mut inst = region
        .new_instance(module)
        .unwrap_or_else(|e| panic!("instantiate {name}: {e}"));
    inst.insert_embed_ctx(ctx);
    inst
}

/// Where tests put strings for the guest to use.
pub const SCRATCH: u32 = 1024;

/// Copies `s` into guest memory at `at` and returns `(ptr, len)` as call arguments.
pub fn put(inst: &mut InstanceHandle, at: u32, s: &str) -> (Val, Val) {
    let start = at as usize;
    inst.heap_mut()[start..start + s.len()].copy_from_slice(s.as_bytes());
    (Val::I32(at as i32), Val::I32(s.len() as i32))
}

/// Calls an export that returns one i32.
pub fn call(inst: &mut InstanceHandle, name: &str, args: &[Val]) -> i32 {
    match inst.run(name, args) {
        Ok(r) => r.unwrap_returned().as_i32(),
        Err(e) => panic!("{name} failed: {e}"),
    }
}
