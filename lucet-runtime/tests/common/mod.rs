//! Compiles the `.wat` guests beside the tests into shared objects, cached by content.
#![allow(dead_code)]

use lucet_runtime::{DlModule, InstanceHandle, Limits, MmapRegion, Region};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn guest_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests").join(name)
}

/// Compiles `wat` text to a `.so` under the target directory. The cache key includes
/// the test binary's modification time, so a rebuilt compiler never serves stale code.
pub fn compile_wat(wat: &str) -> PathBuf {
    compile_wat_with(wat, None)
}

/// Like `compile_wat`, for code compiled for a heap reservation and guard of
/// `(reserved_size, guard_size)` bytes (`lucetc --reserved-size/--guard-size`).
pub fn compile_wat_with_heap(wat: &str, reserved_size: u64, guard_size: u64) -> PathBuf {
    compile_wat_with(wat, Some((reserved_size, guard_size)))
}

fn compile_wat_with(wat: &str, heap: Option<(u64, u64)>) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    wat.hash(&mut h);
    heap.hash(&mut h);
    let exe = std::env::current_exe().expect("test binary path");
    std::fs::metadata(&exe).and_then(|m| m.modified()).ok().hash(&mut h);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lucet-runtime-guests");
    std::fs::create_dir_all(&dir).expect("create the guest cache dir");
    let out = dir.join(format!("{:016x}.so", h.finish()));
    if !out.exists() {
        lucetc::Lucetc::try_from_bytes(wat.as_bytes())
            .map(|c| match heap {
                Some((reserved, guard)) => c.with_reserved_size(reserved).with_guard_size(guard),
                None => c,
            })
            .and_then(|c| c.shared_object_file(&out))
            .unwrap_or_else(|e| panic!("lucetc failed: {e}"));
    }
    out
}

pub fn compile(name: &str) -> PathBuf {
    let text = std::fs::read_to_string(guest_path(name)).expect("read guest");
    compile_wat(&text)
}

pub fn load(name: &str) -> Arc<DlModule> {
    DlModule::load(compile(name)).unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// Small limits so many regions fit comfortably in the address space.
pub fn region(slots: usize) -> Arc<MmapRegion> {
    MmapRegion::create(slots, &Limits::default()).expect("create region")
}

pub fn instance(name: &str) -> InstanceHandle {
    region(1).new_instance(load(name)).unwrap_or_else(|e| panic!("instantiate {name}: {e}"))
}
