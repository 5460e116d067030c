//! Compiling modules to shared objects, and rejecting bad input cleanly.

use lucetc::{Error, Lucetc, OptLevel};
use object::{Object, ObjectSection, ObjectSymbol};
use std::path::Path;
use std::process::Command;

const ARITH: &str = r#"(module
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "div") (param i64 i64) (result i64) local.get 0 local.get 1 i64.div_s)
  (func (export "conv") (param f64) (result i32) local.get 0 i32.trunc_f64_s)
  (func (export "sat") (param f32) (result i32) local.get 0 i32.trunc_sat_f32_u)
  (func (export "ext") (param i32) (result i32) local.get 0 i32.extend8_s)
  (func (export "ceil") (param f32) (result f32) local.get 0 f32.ceil))"#;

const MEMORY: &str = r#"(module
  (memory (export "memory") 1 10)
  (data (i32.const 16) "hello")
  (func (export "load") (param i32) (result i32) local.get 0 i32.load offset=4)
  (func (export "store") (param i32 i64) local.get 0 local.get 1 i64.store)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "size") (result i32) memory.size))"#;

const GLOBALS: &str = r#"(module
  (import "env" "base" (global $base i32))
  (global $g (mut i64) (i64.const 7))
  (global $h i32 (global.get $base))
  (global $v (mut v128) (v128.const i32x4 1 2 3 4))
  (func (export "bump") (result i64) global.get $g i64.const 1 i64.add global.set $g global.get $g)
  (func (export "sum") (result i32) global.get $base global.get $h i32.add))"#;

const TABLES: &str = r#"(module
  (type $t (func (param i32) (result i32)))
  (table $tab 4 funcref)
  (table $ext 2 externref)
  (elem (table $tab) (i32.const 0) func $inc $dec)
  (func $inc (type $t) local.get 0 i32.const 1 i32.add)
  (func $dec (type $t) local.get 0 i32.const 1 i32.sub)
  (func (export "call") (param i32 i32) (result i32) local.get 1 local.get 0 call_indirect $tab (type $t))
  (func (export "size") (result i32) table.size $tab)
  (func (export "grow") (param externref) (result i32) local.get 0 i32.const 3 table.grow $ext)
  (func (export "get") (param i32) (result externref) local.get 0 table.get $ext)
  (func (export "set") (param i32 externref) local.get 0 local.get 1 table.set $ext))"#;

const MULTI_VALUE: &str = r#"(module
  (func $swap (param i32 i64) (result i64 i32) local.get 1 local.get 0)
  (func (export "many") (result i32 i64 f32 f64 i32 i64 f32 f64)
    i32.const 1 i64.const 2 f32.const 3 f64.const 4 i32.const 5 i64.const 6 f32.const 7 f64.const 8)
  (func (export "swap") (param i32 i64) (result i64 i32) local.get 0 local.get 1 call $swap))"#;

const SIMD: &str = r#"(module
  (func (export "add") (param v128 v128) (result v128) local.get 0 local.get 1 i32x4.add)
  (func (export "dot") (param v128 v128) (result v128) local.get 0 local.get 1 i32x4.dot_i16x8_s)
  (func (export "shuffle") (param v128 v128) (result v128)
    local.get 0 local.get 1 i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31)
  (func (export "ceil") (param v128) (result v128) local.get 0 f32x4.ceil)
  (func (export "any") (param v128) (result i32) local.get 0 v128.any_true))"#;

const BULK: &str = r#"(module
  (memory 1)
  (data $d "abcdef")
  (table 4 funcref)
  (elem $e func $f $f)
  (func $f)
  (func (export "copy") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy)
  (func (export "fill") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.fill)
  (func (export "init") (param i32) local.get 0 i32.const 0 i32.const 6 memory.init $d data.drop $d)
  (func (export "tinit") i32.const 0 i32.const 0 i32.const 2 table.init $e elem.drop $e
    i32.const 2 i32.const 0 i32.const 2 table.copy))"#;

const REF_TYPES: &str = r#"(module
  (table 2 funcref)
  (elem declare func $f)
  (func $f (result i32) i32.const 42)
  (func (export "is_null") (param externref) (result i32) local.get 0 ref.is_null)
  (func (export "null") (result funcref) ref.null func)
  (func (export "func") (result funcref) ref.func $f)
  (func (export "fill") (param i32) i32.const 0 ref.func $f local.get 0 table.fill 0)
  (func (export "select") (param externref externref i32) (result externref)
    local.get 0 local.get 1 local.get 2 select (result externref)))"#;

const IMPORTS: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "env" "mem" (memory 1))
  (import "env" "tab" (table 1 funcref))
  (func (export "_start") i32.const 0 i32.load i32.const 0 call_indirect (param i32) i32.const 1 call $exit)
  (start 1))"#;

const EXTENSIONS: &str = r#"(module
  (memory i64 1)
  (memory $m2 1)
  (global i32 (i32.add (i32.const 1) (i32.const 2)))
  (func $f (param i32) (result i32) local.get 0)
  (func (export "tail") (param i32) (result i32) local.get 0 return_call $f)
  (func (export "load64") (param i64) (result i32) local.get 0 i32.load)
  (func (export "load2") (param i32) (result i32) local.get 0 i32.load $m2)
  (func (export "relaxed") (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))"#;

fn compile_so(name: &str, wat: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(format!("{name}.so"));
    Lucetc::try_from_bytes(wat)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .shared_object_file(&out)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    check_descriptor(&out);
    dir
}

/// The runtime reads magic and version from the file before `dlopen`; so do we.
fn check_descriptor(so: &Path) {
    let bytes = std::fs::read(so).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let sym = file
        .dynamic_symbols()
        .find(|s| s.name() == Ok(lucet_module::MODULE_SYMBOL))
        .expect("lucet_module is exported");
    assert!(sym.is_global());
    let section = file.section_by_index(sym.section_index().unwrap()).unwrap();
    let data = section.data().unwrap();
    let at = (sym.address() - section.address()) as usize;
    assert_eq!(&data[at..at + 8], &lucet_module::MAGIC);
    let version = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap());
    assert_eq!(version, lucet_module::FORMAT_VERSION);
    // Only the descriptor is visible to the dynamic linker.
    let exported: Vec<_> = file.dynamic_symbols().filter(|s| s.is_definition()).map(|s| s.name().unwrap().to_string()).collect();
    assert_eq!(exported, vec![lucet_module::MODULE_SYMBOL.to_string()]);
}

#[test]
fn arith() {
    compile_so("arith", ARITH);
}
#[test]
fn memory() {
    compile_so("memory", MEMORY);
}
#[test]
fn globals() {
    compile_so("globals", GLOBALS);
}
#[test]
fn tables_and_call_indirect() {
    compile_so("tables", TABLES);
}
#[test]
fn multi_value() {
    compile_so("multi_value", MULTI_VALUE);
}
#[test]
fn simd() {
    compile_so("simd", SIMD);
}
#[test]
fn bulk_memory() {
    compile_so("bulk", BULK);
}
#[test]
fn reference_types() {
    compile_so("ref_types", REF_TYPES);
}
#[test]
fn imports_of_every_kind() {
    compile_so("imports", IMPORTS);
}
#[test]
fn post_2_0_proposals() {
    compile_so("extensions", EXTENSIONS);
}

#[test]
fn every_opt_level_and_small_reservations() {
    for opt in [OptLevel::None, OptLevel::Speed, OptLevel::SpeedAndSize] {
        for reserved in [64 << 10, 1 << 20, 8 << 30] {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("m.so");
            Lucetc::try_from_bytes(MEMORY)
                .unwrap()
                .with_opt_level(opt)
                .with_reserved_size(reserved)
                .with_guard_size(0)
                .shared_object_file(&out)
                .unwrap();
            check_descriptor(&out);
        }
    }
}

#[test]
fn object_and_clif_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let c = Lucetc::try_from_bytes(TABLES).unwrap();
    c.object_file(dir.path().join("t.o")).unwrap();
    let obj = std::fs::read(dir.path().join("t.o")).unwrap();
    assert_eq!(object::File::parse(&*obj).unwrap().kind(), object::ObjectKind::Relocatable);
    c.clif_ir(dir.path().join("t.clif")).unwrap();
    let clif = std::fs::read_to_string(dir.path().join("t.clif")).unwrap();
    assert!(clif.contains("call_indirect"), "{clif}");
    assert!(clif.contains("stack_limit"));
}

#[test]
fn metadata_describes_the_module() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.so");
    Lucetc::try_from_bytes(MEMORY).unwrap().shared_object_file(&out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let meta = file.symbols().find(|s| s.name() == Ok("lucet_metadata")).unwrap();
    let section = file.section_by_index(meta.section_index().unwrap()).unwrap();
    let at = (meta.address() - section.address()) as usize;
    let data = lucet_module::ModuleData::deserialize(&section.data().unwrap()[at..]).unwrap();
    assert_eq!(data.functions.len(), 4);
    assert_eq!(data.memory_plans[0].reserved_size, 4 << 30);
    assert_eq!(data.data_segments.len(), 1);
    assert!(data.target.cpu_features.iter().any(|f| f == "sse4.1"));
    // The load has an explicit trap site tied to its wasm offset.
    let load = data.functions[0].code.as_ref().unwrap();
    assert!(load.traps.iter().any(|t| t.code == lucet_module::TrapCode::HeapOutOfBounds && t.wasm_offset.is_some()));
}

fn expect_invalid(bytes: &[u8]) -> Error {
    match Lucetc::try_from_bytes(bytes) {
        Err(e) => e,
        Ok(_) => panic!("accepted bad input {bytes:?}"),
    }
}

#[test]
fn truncated_wasm_names_the_offset() {
    let wasm = wat::parse_str(MEMORY).unwrap();
    for cut in [4, 9, 20, wasm.len() - 1] {
        let e = expect_invalid(&wasm[..cut]);
        assert!(matches!(e, Error::InvalidWasm { .. }), "{e}");
        assert!(e.to_string().contains("byte offset 0x"), "{e}");
    }
}

#[test]
fn random_bytes_are_rejected() {
    let mut x: u32 = 0x1234_5678;
    for len in [1usize, 7, 64, 1000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        expect_invalid(&bytes);
        let mut with_magic = b"\0asm\x01\0\0\0".to_vec();
        with_magic.extend_from_slice(&bytes);
        let e = expect_invalid(&with_magic);
        assert!(e.to_string().contains("byte offset"), "{e}");
    }
    expect_invalid(b"");
}

#[test]
fn invalid_module_is_rejected_with_offset() {
    // Well-formed but ill-typed: adds an i64 to an i32.
    let wasm = wat::parse_str(r#"(module (func (result i32) i32.const 1 i64.const 2 i32.add))"#).unwrap();
    let e = expect_invalid(&wasm);
    let msg = e.to_string();
    assert!(msg.contains("byte offset") && msg.contains("type mismatch"), "{msg}");
}

fn lucetc_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lucetc")
}

#[test]
fn cli_reports_bad_input_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.wasm");
    std::fs::write(&input, b"\0asm\x01\0\0\0\x01\xff").unwrap();
    let out = dir.path().join("bad.so");
    let o = Command::new(lucetc_bin()).arg(&input).arg("-o").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!out.exists());
    // Nothing else (such as a temporary file) is left behind either.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn cli_compiles_with_flags() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("m.wat");
    std::fs::write(&input, MEMORY).unwrap();
    let o = Command::new(lucetc_bin())
        .arg(&input)
        .args(["--opt-level", "2", "--reserved-size", "64MiB", "--guard-size", "0x10000"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_descriptor(&dir.path().join("m.so"));
    let o = Command::new(lucetc_bin()).arg(&input).args(["--emit", "clif", "-o"]).arg(dir.path().join("x.clif")).output().unwrap();
    assert!(o.status.success());
    let v = Command::new(lucetc_bin()).arg("--version").output().unwrap();
    let v = String::from_utf8(v.stdout).unwrap();
    assert!(v.contains(&format!("format version {}", lucet_module::FORMAT_VERSION)), "{v}");
    let o = Command::new(env!("CARGO_BIN_EXE_lucetc-wasi")).arg(&input).args(["--reserved-size", "3 parsecs"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn output_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let c = Lucetc::try_from_bytes(SIMD).unwrap();
    c.shared_object_file(dir.path().join("a.so")).unwrap();
    c.shared_object_file(dir.path().join("b.so")).unwrap();
    assert_eq!(std::fs::read(dir.path().join("a.so")).unwrap(), std::fs::read(dir.path().join("b.so")).unwrap());
}

#[test]
fn clashing_function_names_stay_distinct() {
    let dir = tempfile::tempdir().unwrap();
    let wat = r#"(module
      (func $0 (export "a") (result i32) i32.const 1)
      (func $a (export "b") (result i32) i32.const 2)
      (func (export "c") (result i32) i32.const 3))"#;
    let mut wasm = wat::parse_str(wat).unwrap();
    // Append a name section naming functions 0, 1 and 2 "x", "x" and "x_1": the second
    // "x" becomes `guest_func_x_1`, which the third then clashes with.
    let names: &[(u32, &str)] = &[(0, "x"), (1, "x"), (2, "x_1")];
    let mut map = vec![names.len() as u8];
    for (i, n) in names {
        map.push(*i as u8);
        map.push(n.len() as u8);
        map.extend_from_slice(n.as_bytes());
    }
    let mut sub = vec![1u8, map.len() as u8];
    sub.extend(map);
    let mut section = vec![4u8];
    section.extend_from_slice(b"name");
    section.extend(sub);
    wasm.push(0);
    wasm.push(section.len() as u8);
    wasm.extend(section);
    let out = dir.path().join("n.so");
    Lucetc::try_from_bytes(&wasm).unwrap().shared_object_file(&out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let mut names: Vec<_> = file
        .symbols()
        .filter_map(|s| s.name().ok().filter(|n| n.starts_with("guest_func_")).map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, ["guest_func_x", "guest_func_x_1", "guest_func_x_1_2"]);
}

/// The metadata of a compiled module.
fn metadata(so: &Path) -> lucet_module::ModuleData {
    let bytes = std::fs::read(so).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let meta = file.symbols().find(|s| s.name() == Ok("lucet_metadata")).unwrap();
    let section = file.section_by_index(meta.section_index().unwrap()).unwrap();
    let at = (meta.address() - section.address()) as usize;
    lucet_module::ModuleData::deserialize(&section.data().unwrap()[at..]).unwrap()
}

#[test]
fn spectre_guards_are_on_by_default_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let clif = |c: Lucetc, name: &str| {
        let path = dir.path().join(name);
        c.clif_ir(&path).unwrap();
        std::fs::read_to_string(path).unwrap()
    };
    // A bounds-checked memory and a table: both checks are guarded by default.
    let small = || Lucetc::try_from_bytes(MEMORY).unwrap().with_reserved_size(64 << 10);
    let guarded = clif(small(), "g.clif");
    assert!(guarded.contains("select_spectre_guard"), "{guarded}");
    let plain = clif(small().with_spectre(lucetc::Spectre::Off), "p.clif");
    assert!(!plain.contains("select_spectre_guard"), "{plain}");
    let tables = clif(Lucetc::try_from_bytes(TABLES).unwrap(), "t.clif");
    assert!(tables.contains("select_spectre_guard"), "{tables}");
    // A 32-bit memory covered by guard pages has no check to guard.
    let unchecked = clif(Lucetc::try_from_bytes(MEMORY).unwrap(), "u.clif");
    assert!(!unchecked.contains("select_spectre_guard"), "{unchecked}");

    let on = dir.path().join("on.so");
    Lucetc::try_from_bytes(MEMORY).unwrap().shared_object_file(&on).unwrap();
    assert!(metadata(&on).codegen.spectre_guards);
    let off = dir.path().join("off.so");
    let o = Command::new(lucetc_bin()).arg("--spectre").arg("off").arg("-o").arg(&off).arg(write_wat(&dir, MEMORY)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!metadata(&off).codegen.spectre_guards);
}

fn write_wat(dir: &tempfile::TempDir, wat: &str) -> std::path::PathBuf {
    let path = dir.path().join("input.wat");
    std::fs::write(&path, wat).unwrap();
    path
}

#[test]
fn proposals_not_supported_yet_are_named() {
    // Exception handling used to be named here; it is compiled now.
    Lucetc::try_from_bytes(r#"(module (tag $e) (func (try_table (catch_all 0) (throw $e))))"#.as_bytes())
        .expect("exception handling compiles");
    for (wat, proposal) in [
        (r#"(module (type $s (struct (field i32))) (func (result anyref) (struct.new $s (i32.const 1))))"#, "garbage collection"),
        (r#"(module (memory 1 1 shared) (func (result i32) (i32.atomic.load (i32.const 0))))"#, "threads"),
    ] {
        let msg = expect_invalid(wat.as_bytes()).to_string();
        assert!(msg.contains(&format!("not supported yet: {proposal}")), "{msg}");
        assert!(msg.contains("byte offset 0x"), "{msg}");
    }
}

#[test]
fn components_are_named_as_unsupported() {
    for input in [&b"(component)"[..], b"  ;; a comment\n(component (core module))", b"\0asm\x0d\0\x01\0"] {
        let e = expect_invalid(input);
        let msg = e.to_string();
        assert!(matches!(e, Error::Unsupported(_)) && msg.contains("component model"), "{msg}");
    }
}
