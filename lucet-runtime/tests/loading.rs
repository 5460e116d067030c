//! Loading bad input: each a clear `Error`, never a crash.

mod common;
use common::*;
use lucet_runtime::{DlModule, Error, Limits, MmapRegion, Region};
use std::path::PathBuf;

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lucet-runtime-bad-input");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn invalid_reason(e: Error) -> String {
    match e {
        Error::InvalidModule { reason, .. } => reason,
        other => panic!("expected InvalidModule, got {other:?}"),
    }
}

#[test]
fn random_file() {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let r = invalid_reason(DlModule::load(tmp("random.so", &bytes)).unwrap_err());
    assert!(r.contains("not an ELF shared object"), "{r}");
    let r = invalid_reason(DlModule::load(tmp("empty.so", &[])).unwrap_err());
    assert!(r.contains("not an ELF"), "{r}");
    let r = invalid_reason(DlModule::load(tmp("x.wasm", b"\0asm\x01\0\0\0")).unwrap_err());
    assert!(r.contains("compile it with lucetc"), "{r}");
}

#[test]
fn missing_file() {
    let e = DlModule::load("/nonexistent/module.so").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/module.so"), "{e}");
}

#[test]
fn shared_library_that_is_not_a_lucet_module() {
    let libz = ["/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/libz.so.1"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("libz is installed");
    let r = invalid_reason(DlModule::load(libz).unwrap_err());
    assert_eq!(r, "not a Lucet module (compile it with lucetc)");
}

#[test]
fn truncated_module() {
    let bytes = std::fs::read(compile("add.wat")).unwrap();
    for len in [bytes.len() / 2, bytes.len() - 1, 64, 10] {
        let e = DlModule::load(tmp(&format!("truncated{len}.so"), &bytes[..len])).unwrap_err();
        assert!(matches!(e, Error::InvalidModule { .. }), "{len}: {e:?}");
    }
}

/// File offset of the descriptor (`lucet_module`) in a shared object.
fn descriptor_offset(bytes: &[u8]) -> usize {
    use object::{Object, ObjectSection, ObjectSymbol};
    let f = object::File::parse(bytes).unwrap();
    let sym = f.dynamic_symbols().find(|s| s.name() == Ok("lucet_module")).unwrap();
    let sec = f.section_by_index(sym.section_index().unwrap()).unwrap();
    (sec.file_range().unwrap().0 + sym.address() - sec.address()) as usize
}

#[test]
fn bumped_format_version() {
    let mut bytes = std::fs::read(compile("add.wat")).unwrap();
    let off = descriptor_offset(&bytes);
    assert_eq!(&bytes[off..off + 8], b"LUCETMOD");
    let v = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap());
    bytes[off + 8..off + 12].copy_from_slice(&(v + 1).to_le_bytes());
    let e = DlModule::load(tmp("bumped.so", &bytes)).unwrap_err();
    match &e {
        Error::VersionMismatch { found, expected, .. } => {
            assert_eq!(*found, v + 1);
            assert_eq!(*expected, v);
        }
        other => panic!("expected VersionMismatch, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains(&format!("format version {}", v + 1)) && msg.contains("recompile it with lucetc"), "{msg}");

    // A wrong magic is "not a Lucet module".
    let mut bytes = std::fs::read(compile("add.wat")).unwrap();
    bytes[off] = b'X';
    let r = invalid_reason(DlModule::load(tmp("badmagic.so", &bytes)).unwrap_err());
    assert!(r.contains("not a Lucet module"), "{r}");
}

#[test]
fn unresolved_imports_are_named() {
    let so =
        compile_wat(r#"(module (import "env" "missing" (func (param i32 i64) (result f32))) (func (export "f")))"#);
    let e = DlModule::load(&so).unwrap_err();
    assert!(matches!(e, Error::UnresolvedImport(_)));
    let msg = e.to_string();
    assert!(msg.contains("`env`.`missing`") && msg.contains("(i32, i64) -> (f32)"), "{msg}");
    assert!(msg.contains("register_hostcalls"), "{msg}");

    let so =
        compile_wat(r#"(module (import "wasi_snapshot_preview1" "fd_close_xyz" (func (param i32) (result i32))))"#);
    let msg = DlModule::load(&so).unwrap_err().to_string();
    assert!(msg.contains("lucet-wasi") && msg.contains("WasiCtx"), "{msg}");

    // Deferred to instantiation with load_unresolved; instantiating without a
    // linker names the import again.
    let m = DlModule::load_unresolved(&so).unwrap();
    let e = region(1).new_instance(m).unwrap_err();
    assert!(matches!(e, Error::UnresolvedImport(_)), "{e}");
}

#[test]
fn limits_are_checked_at_instantiation() {
    let so = compile_wat(r#"(module (memory 20))"#);
    let m = DlModule::load(&so).unwrap();
    let small = Limits { heap_memory_size: 19 * 64 * 1024, ..Limits::default() };
    let r = MmapRegion::create(1, &small).unwrap();
    let e = r.new_instance(m.clone()).unwrap_err();
    assert!(matches!(e, Error::LimitsExceeded(_)) && e.to_string().contains("heap_memory_size"), "{e}");
    assert_eq!(r.free_slots(), 1, "a failed instantiation gives its slot back");

    // A table is never made smaller than its declared minimum.
    let big_table = DlModule::load(&compile_wat(r#"(module (table 10000001 funcref))"#)).unwrap();
    let e = region(1).new_instance(big_table).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::LimitsExceeded(_)) && msg.contains("10000001"), "{msg}");
    let at_limit = DlModule::load(&compile_wat(r#"(module (table 10000000 funcref))"#)).unwrap();
    assert!(region(1).new_instance(at_limit).is_ok());

    // The code assumes a 4 GiB reservation + guard; a smaller address space cannot hold it.
    let tiny = Limits::default().with_heap_address_space_size(1 << 30).with_heap_memory_size(1 << 20);
    let r = MmapRegion::create(1, &tiny).unwrap();
    let e = r.new_instance(m).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::LimitsExceeded(_)) && msg.contains("--reserved-size"), "{msg}");
}

#[test]
fn odd_limits_are_rounded_not_rejected() {
    let l = Limits::default().with_heap_memory_size(100 * 16 * 64 * 1024 + 3).with_stack_size(1_000_001);
    let r = MmapRegion::create(1, &l).unwrap();
    let mut i = r.new_instance(load("add.wat")).unwrap();
    assert_eq!(i.run("add", &[1i32.into(), 1i32.into()]).unwrap().unwrap_returned().as_i32(), 2);
}

#[test]
fn out_of_bounds_segment_is_an_instantiation_trap() {
    let so = compile_wat(r#"(module (memory 1) (data (i32.const 65530) "0123456789"))"#);
    let e = region(1).new_instance(DlModule::load(&so).unwrap()).unwrap_err();
    match e {
        Error::InstantiationTrap(d) => assert_eq!(d.trap_code, lucet_runtime::TrapCode::HeapOutOfBounds),
        other => panic!("{other:?}"),
    }
    let so = compile_wat(r#"(module (table 1 funcref) (func $f) (elem (i32.const 1) $f))"#);
    let e = region(1).new_instance(DlModule::load(&so).unwrap()).unwrap_err();
    assert!(matches!(e, Error::InstantiationTrap(ref d) if d.trap_code == lucet_runtime::TrapCode::TableOutOfBounds));
}

#[test]
fn error_types_are_thread_safe_std_errors() {
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<lucet_runtime::Error>();
    assert_error::<lucet_runtime::Trap>();
    assert_error::<lucet_module::Error>();
}
