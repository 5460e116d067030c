//! The shared objects lucetc writes itself (the default, `Linker::Builtin`): their
//! structure as the loader and the tools see it, and that they run exactly as the
//! system linker's output does.

use lucet_runtime::{DlModule, Limits, Linker as HostLinker, MmapRegion, Region, TrapCode, Val};
use lucetc::{Linker, Lucetc};
use object::elf;
use object::read::elf::{Dyn as _, ElfFile64, ProgramHeader as _};
use object::{Endianness, Object, ObjectSection, ObjectSymbol, SymbolKind};
use std::path::{Path, PathBuf};

fn sightglass(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/sightglass/benchmarks").join(rel)
}

/// The sightglass programs that are present. Without the corpus this test still runs
/// on the repository's own examples, with a note; under CI a missing corpus fails.
fn present(programs: Vec<PathBuf>) -> Vec<PathBuf> {
    use std::io::Write;
    let (found, missing): (Vec<_>, Vec<_>) = programs.into_iter().partition(|p| p.exists());
    if let Some(first) = missing.first() {
        let what = format!("sightglass programs: the corpus is not at {} (put ../shared beside the workspace)", first.display());
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"));
        assert!(!ci, "{what}; CI is set, so a missing corpus is a failure");
        // Straight to stderr: the test harness captures `eprintln!`.
        let _ = writeln!(std::io::stderr(), "note: {what}; {} of them skipped", missing.len());
    }
    found
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Uses relaxed SIMD multiply-add, which the baseline CPU (no FMA) compiles into
/// calls to libm's `fmaf` and `fma`: undefined symbols reached through the GOT.
const LIBCALLS: &str = r#"(module
  (memory 1)
  (data (i32.const 8) "\07\00\00\00")
  (global $g (mut i32) (i32.const 5))
  (table 2 funcref)
  (elem (i32.const 0) $twice $thrice)
  (type $t (func (param i32) (result i32)))
  (func $twice (type $t) local.get 0 i32.const 2 i32.mul)
  (func $thrice (type $t) local.get 0 i32.const 3 i32.mul)
  (func (export "madd32") (param f32 f32 f32) (result f32)
    local.get 0 f32x4.splat local.get 1 f32x4.splat local.get 2 f32x4.splat
    f32x4.relaxed_madd f32x4.extract_lane 2)
  (func (export "madd64") (param f64 f64 f64) (result f64)
    local.get 0 f64x2.splat local.get 1 f64x2.splat local.get 2 f64x2.splat
    f64x2.relaxed_madd f64x2.extract_lane 1)
  (func (export "pick") (param i32 i32) (result i32) local.get 1 local.get 0 call_indirect (type $t))
  (func (export "mem") (result i32) i32.const 8 i32.load global.get $g i32.add)
  (func (export "trap") (param i32) (result i32) local.get 0 i32.load)
)"#;

fn compile(compiler: Lucetc, linker: Linker, dir: &Path, name: &str) -> PathBuf {
    let so = dir.join(name);
    compiler.with_linker(linker).shared_object_file(&so).unwrap_or_else(|e| panic!("{name}: {e}"));
    so
}

/// What the loader and the tools rely on, checked on the file.
fn check_structure(so: &Path) {
    let bytes = std::fs::read(so).unwrap();
    let file = ElfFile64::<Endianness>::parse(&*bytes).unwrap();
    let endian = file.endian();
    assert_eq!(file.kind(), object::ObjectKind::Dynamic);

    let descriptor = file.dynamic_symbols().find(|s| s.name() == Ok("lucet_module")).expect("lucet_module in .dynsym");
    assert!(!descriptor.is_undefined() && descriptor.is_global());
    assert_eq!(descriptor.size() as usize, std::mem::size_of::<lucet_module::ModuleDescriptor>());
    // Nothing else is exported.
    let exported: Vec<_> = file.dynamic_symbols().filter(|s| !s.is_undefined()).map(|s| s.name().unwrap()).collect();
    assert_eq!(exported, ["lucet_module"]);

    let segments = file.elf_program_headers();
    let mut stack = None;
    for ph in segments {
        let flags = ph.p_flags(endian);
        match ph.p_type(endian) {
            elf::PT_LOAD => {
                assert!(
                    flags & (elf::PF_W | elf::PF_X) != elf::PF_W | elf::PF_X,
                    "{}: a writable and executable segment",
                    so.display()
                );
                assert_eq!(ph.p_offset(endian) % 0x1000, ph.p_vaddr(endian) % 0x1000);
            }
            elf::PT_GNU_STACK => stack = Some(flags),
            _ => {}
        }
    }
    assert_eq!(stack, Some(elf::PF_R | elf::PF_W), "{}: PT_GNU_STACK must be RW", so.display());

    let (dynamic, _) = file.elf_section_table().dynamic(endian, &*bytes).unwrap().expect("PT_DYNAMIC");
    for d in dynamic {
        let tag = d.d_tag(endian);
        assert_ne!(tag, elf::DT_TEXTREL, "{}: text relocations", so.display());
        if tag == elf::DT_FLAGS {
            assert_eq!(d.d_val(endian) & u64::from(elf::DF_TEXTREL), 0);
        }
    }

    // Profilers and debuggers name guest code from local function symbols.
    let text = file.section_by_name(".text").expect(".text");
    let text_bytes = text.data().unwrap();
    let funcs: Vec<_> = file
        .symbols()
        .filter(|s| s.is_local() && s.kind() == SymbolKind::Text && s.name().unwrap().starts_with("guest_func_"))
        .collect();
    assert!(!funcs.is_empty(), "{}: no guest_func_* symbols in .symtab", so.display());
    for f in &funcs {
        assert!(f.size() > 0 && f.section_index() == Some(text.index()), "{:?}", f.name());
        assert!(f.address() >= text.address() && f.address() + f.size() <= text.address() + text.size());
        // A function without a loop starts a cache line, so that where its code falls
        // within a line does not depend on the code before it; one with a loop is placed
        // by the loop (see `a_loop_header_starts_a_cache_line`).
        let at = (f.address() - text.address()) as usize;
        if backward_branches(&text_bytes[at..at + f.size() as usize], f.address()).is_empty() {
            assert_eq!(f.address() % 64, 0, "{}: {:?} has no loop and does not start a line", so.display(), f.name());
        }
    }
    assert!(file.dynamic_symbols().all(|s| !s.name().unwrap().starts_with("guest_func_")));
}

/// The targets (as addresses) of what look like backward `jcc rel32` and `jmp rel32`
/// within `code`, found by scanning every byte: a loop's back edge is always among
/// them, and a lookalike only adds a target.
fn backward_branches(code: &[u8], address: u64) -> Vec<u64> {
    (0..code.len())
        .filter_map(|i| {
            let len = match code[i..] {
                [0x0f, b, ..] if b & 0xf0 == 0x80 => 6,
                [0xe9, ..] => 5,
                _ => return None,
            };
            let disp = i32::from_le_bytes(code.get(i + len - 4..i + len)?.try_into().ok()?);
            let to = (i + len) as i64 + i64::from(disp);
            (0..i as i64).contains(&to).then(|| address + to as u64)
        })
        .collect()
}

fn needed(so: &Path) -> Vec<String> {
    let bytes = std::fs::read(so).unwrap();
    let file = ElfFile64::<Endianness>::parse(&*bytes).unwrap();
    let endian = file.endian();
    let (dynamic, strings) = file.elf_section_table().dynamic(endian, &*bytes).unwrap().unwrap();
    let strings = file.elf_section_table().strings(endian, &*bytes, strings).unwrap();
    dynamic
        .iter()
        .filter(|d| d.d_tag(endian) == elf::DT_NEEDED)
        .map(|d| String::from_utf8(d.string(endian, strings).unwrap().to_vec()).unwrap())
        .collect()
}

fn run_libcalls(so: &Path) -> Vec<Vec<Val>> {
    let module = DlModule::load(so).unwrap_or_else(|e| panic!("load {}: {e}", so.display()));
    let region = MmapRegion::create(1, &Limits::default()).unwrap();
    let mut inst = region.new_instance_builder(module).with_linker(&HostLinker::new()).build().unwrap();
    let mut results = Vec::new();
    let calls: [(&str, Vec<Val>); 5] = [
        ("madd32", vec![Val::F32(2.0), Val::F32(3.0), Val::F32(4.0)]),
        ("madd64", vec![Val::F64(2.5), Val::F64(2.0), Val::F64(1.0)]),
        ("pick", vec![Val::I32(0), Val::I32(21)]),
        ("pick", vec![Val::I32(1), Val::I32(21)]),
        ("mem", vec![]),
    ];
    for (f, args) in calls {
        results.push(inst.run(f, &args).unwrap().unwrap_returned().values().to_vec());
    }
    // A trap: the runtime maps the faulting address back to the function through the
    // code pointers the dynamic linker relocated.
    match inst.run("trap", &[Val::I32(-1)]) {
        Err(lucet_runtime::Error::RuntimeFault(d)) => assert_eq!(d.trap_code, TrapCode::HeapOutOfBounds),
        other => panic!("expected a trap, got {other:?}"),
    }
    results
}

#[test]
fn builtin_output_runs_like_the_system_linkers() {
    let dir = tempfile::tempdir().unwrap();
    let compiler = Lucetc::try_from_bytes(LIBCALLS).unwrap();
    let builtin = compile(compiler.clone(), Linker::Builtin, dir.path(), "builtin.so");
    let system = compile(compiler, Linker::System, dir.path(), "system.so");
    check_structure(&builtin);
    assert_eq!(needed(&builtin), ["libm.so.6", "libc.so.6"]);
    let results = run_libcalls(&builtin);
    assert_eq!(
        results,
        vec![vec![Val::F32(10.0)], vec![Val::F64(6.0)], vec![Val::I32(42)], vec![Val::I32(63)], vec![Val::I32(12)]]
    );
    assert_eq!(results, run_libcalls(&system));
}

#[test]
fn builtin_output_of_real_programs_loads() {
    let dir = tempfile::tempdir().unwrap();
    let programs = present(vec![
        sightglass("shootout/shootout-gimli.wasm"),
        sightglass("noop/benchmark.wasm"),
        sightglass("shootout/shootout-ackermann.wasm"),
        repo("examples/hello-c/hello-c.wasm"),
        repo("examples/hello-rust/hello-rust.wasm"),
    ]);
    for (i, wasm) in programs.iter().enumerate() {
        let compiler = Lucetc::new(wasm).unwrap();
        let so = compile(compiler, Linker::Builtin, dir.path(), &format!("{i}.so"));
        check_structure(&so);
        // No libcalls, so no libraries.
        assert!(needed(&so).is_empty(), "{}", wasm.display());
        let module = DlModule::load_unresolved(&so).unwrap_or_else(|e| panic!("load {}: {e}", wasm.display()));
        assert!(module.module_data().functions.iter().any(|f| f.code.is_some()));
    }
}

/// A function whose only loop makes no call starts where that loop's header begins a
/// cache line (the loop is found as a backward `jcc rel32` or `jmp rel32`).
#[test]
fn a_loop_header_starts_a_cache_line() {
    const LOOP: &str = r#"(module
      (memory 1)
      (func (export "first") (result i32) i32.const 1)
      (func (export "clear") (param i32 i32)
        (block (loop
          local.get 0 local.get 1 i32.ge_u br_if 1
          local.get 0 i32.const 0 i32.store8
          local.get 0 i32.const 3 i32.add local.set 0
          br 0))))"#;
    let dir = tempfile::tempdir().unwrap();
    for linker in [Linker::Builtin, Linker::System] {
        let builtin = matches!(linker, Linker::Builtin);
        let so = compile(Lucetc::try_from_bytes(LOOP).unwrap(), linker, dir.path(), "loop.so");
        if builtin {
            check_structure(&so);
        }
        let bytes = std::fs::read(&so).unwrap();
        let file = ElfFile64::<Endianness>::parse(&*bytes).unwrap();
        let text = file.section_by_name(".text").unwrap();
        let data = text.data().unwrap();
        let f = file.symbols().find(|s| s.name() == Ok("guest_func_1")).expect("guest_func_1");
        let code = &data[(f.address() - text.address()) as usize..][..f.size() as usize];
        let backward = backward_branches(code, f.address());
        assert!(!backward.is_empty(), "no backward branch in the loop's function");
        assert!(backward.iter().any(|a| a % 64 == 0), "no backward branch to a line start: {backward:x?}");
    }
}

#[test]
fn builtin_output_symbols_match_the_system_linkers() {
    let dir = tempfile::tempdir().unwrap();
    let compiler = Lucetc::new(repo("examples/hello-rust/hello-rust.wasm")).unwrap();
    let builtin = compile(compiler.clone(), Linker::Builtin, dir.path(), "builtin.so");
    let system = compile(compiler, Linker::System, dir.path(), "system.so");
    let funcs = |so: &Path| {
        let bytes = std::fs::read(so).unwrap();
        let file = object::File::parse(&*bytes).unwrap();
        let mut v: Vec<(String, u64)> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.name().unwrap().starts_with("lucet_"))
            .chain(file.symbols().filter(|s| s.name().unwrap().starts_with("guest_func_")))
            .map(|s| (s.name().unwrap().to_string(), s.size()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(funcs(&builtin), funcs(&system));
}
