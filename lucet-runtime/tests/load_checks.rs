//! `DlModule::load` checks a file before `dlopen` sees it: crafted descriptors, constructors, foreign
//! shared objects and damaged files each get a clear error, never a crash, and none of their code runs.

use lucet_runtime::{DlModule, Error, Limits, MmapRegion, Region};
use object::elf;
use object::read::elf::{FileHeader as _, ProgramHeader as _};
use object::LittleEndian as LE;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const GUEST: &str = r#"(module
  (memory 1)
  (data (i32.const 16) "lucet")
  (table 2 funcref)
  (elem (i32.const 0) $add $sub)
  (type $bin (func (param i32 i32) (result i32)))
  (func $add (export "add") (type $bin) local.get 0 local.get 1 i32.add)
  (func $sub (type $bin) local.get 0 local.get 1 i32.sub)
  (func (export "pick") (param i32 i32 i32) (result i32)
    local.get 1 local.get 2 local.get 0 call_indirect (type $bin))
  (func (export "peek") (result i32) i32.const 16 i32.load8_u))"#;

/// Relaxed multiply-add compiles into calls to libm's `fmaf` on the baseline CPU, so the
/// output carries `DT_NEEDED` entries and symbolic relocations.
const LIBCALL_GUEST: &str = r#"(module
  (func (export "madd") (param f32 f32 f32) (result f32)
    local.get 0 f32x4.splat local.get 1 f32x4.splat local.get 2 f32x4.splat
    f32x4.relaxed_madd f32x4.extract_lane 0))"#;

fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lucet-load-checks").join(test);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles `wat` with the given linker; `None` when the system linker is not installed.
fn compile(wat: &str, linker: lucetc::Linker, out: &Path) -> Option<Vec<u8>> {
    match lucetc::Lucetc::try_from_bytes(wat).unwrap().with_linker(linker).shared_object_file(out) {
        Ok(()) => Some(std::fs::read(out).unwrap()),
        Err(lucetc::Error::NoLinker) => {
            eprintln!("note: no system linker installed, skipping the --linker system files");
            None
        }
        Err(e) => panic!("lucetc: {e}"),
    }
}

/// The guest built by each available linker, with a name for messages.
fn guests(test: &str, wat: &str) -> Vec<(&'static str, Vec<u8>)> {
    let dir = scratch(test);
    let mut out = Vec::new();
    for (name, linker) in [("builtin", lucetc::Linker::Builtin), ("system", lucetc::Linker::System)] {
        if let Some(bytes) = compile(wat, linker, &dir.join(format!("{name}.so"))) {
            out.push((name, bytes));
        }
    }
    out
}

static NEXT_FILE: AtomicUsize = AtomicUsize::new(0);

/// Writes `bytes` to a fresh file (a new inode each time), loads it, and removes the file.
fn load_bytes(test: &str, bytes: &[u8]) -> Result<std::sync::Arc<DlModule>, Error> {
    let path = scratch(test).join(format!("v{}.so", NEXT_FILE.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, bytes).unwrap();
    let r = DlModule::load(&path);
    std::fs::remove_file(&path).unwrap();
    r
}

fn reason(r: Result<std::sync::Arc<DlModule>, Error>) -> String {
    match r {
        Err(Error::InvalidModule { reason, .. }) => reason,
        Err(other) => panic!("expected InvalidModule, got {other}"),
        Ok(_) => panic!("expected the file to be refused, but it loaded"),
    }
}

/// The parts of a lucetc output that the tests patch, found through the program headers as
/// the dynamic linker finds them.
struct Layout {
    /// (p_offset, p_vaddr, p_filesz) of each PT_LOAD.
    loads: Vec<(u64, u64, u64)>,
    phdrs: std::ops::Range<usize>,
    /// File offset of each `.dynamic` entry, with its tag and value.
    dynamic: Vec<(usize, i64, u64)>,
    /// File offset of each RELA entry, with r_offset, r_type, r_sym and r_addend.
    relocs: Vec<(usize, u64, u32, u32, i64)>,
    descriptor_vaddr: u64,
    /// File offset of the descriptor's entry in the dynamic symbol table.
    descriptor_symbol: usize,
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

impl Layout {
    fn of(bytes: &[u8]) -> Layout {
        use object::read::elf::Dyn as _;
        let header = elf::FileHeader64::<LE>::parse(bytes).unwrap();
        let phdrs = header.program_headers(LE, bytes).unwrap();
        let phoff = header.e_phoff.get(LE) as usize;
        let mut loads = Vec::new();
        let mut dynamic_off = 0;
        for ph in phdrs {
            match ph.p_type(LE) {
                elf::PT_LOAD => loads.push((ph.p_offset(LE), ph.p_vaddr(LE), ph.p_filesz(LE))),
                elf::PT_DYNAMIC => dynamic_off = ph.p_offset(LE) as usize,
                _ => {}
            }
        }
        let mut layout = Layout {
            loads,
            phdrs: phoff..phoff + phdrs.len() * 56,
            dynamic: Vec::new(),
            relocs: Vec::new(),
            descriptor_vaddr: 0,
            descriptor_symbol: 0,
        };
        let mut off = dynamic_off;
        loop {
            let d: &elf::Dyn64<LE> = object::pod::from_bytes(&bytes[off..off + 16]).unwrap().0;
            let tag = d.d_tag(LE) as i64;
            layout.dynamic.push((off, tag, d.d_val(LE)));
            off += 16;
            if tag == elf::DT_NULL as i64 {
                break;
            }
        }
        let value = |tag: i64| layout.dynamic.iter().find(|d| d.1 == tag).map(|d| d.2);
        let (rela, relasz) = (value(elf::DT_RELA).unwrap_or(0), value(elf::DT_RELASZ).unwrap_or(0));
        let rela_off = layout.file_offset(rela);
        for i in 0..(relasz / 24) as usize {
            let e = rela_off + i * 24;
            let info = u64_at(bytes, e + 8);
            layout.relocs.push((e, u64_at(bytes, e), info as u32, (info >> 32) as u32, u64_at(bytes, e + 16) as i64));
        }
        // The descriptor is the only defined dynamic symbol.
        let (symtab, strtab) = (value(elf::DT_SYMTAB).unwrap(), value(elf::DT_STRTAB).unwrap());
        let (symtab, strtab) = (layout.file_offset(symtab), layout.file_offset(strtab));
        for i in 1.. {
            let s = symtab + i * 24;
            let name = u32::from_le_bytes(bytes[s..s + 4].try_into().unwrap()) as usize;
            let shndx = u16::from_le_bytes(bytes[s + 6..s + 8].try_into().unwrap());
            if shndx != 0 {
                assert!(bytes[strtab + name..].starts_with(b"lucet_module\0"));
                layout.descriptor_vaddr = u64_at(bytes, s + 8);
                layout.descriptor_symbol = s;
                break;
            }
        }
        layout
    }

    fn file_offset(&self, vaddr: u64) -> usize {
        let (off, va, _) = self.loads.iter().find(|l| l.1 <= vaddr && vaddr < l.1 + l.2).unwrap();
        (vaddr - va + off) as usize
    }

    /// The RELA entry that fills the descriptor field at `field` bytes into it.
    fn descriptor_reloc(&self, field: u64) -> usize {
        self.relocs.iter().find(|r| r.1 == self.descriptor_vaddr + field).unwrap().0
    }
}

/// Offsets of the descriptor's pointer fields.
const METADATA_PTR: u64 = 16;
const METADATA_LEN: u64 = 24;
const FUNCTIONS_PTR: u64 = 32;
const TRAMPOLINES_PTR: u64 = 48;
const ADAPTERS_PTR: u64 = 64;

fn set_u64(bytes: &mut [u8], off: usize, v: u64) {
    bytes[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// Finding 4: a descriptor whose pointers lead outside the object used to make the host read
/// whatever lay there (a segfault, for an unmapped address) inside `DlModule::load`.
#[test]
fn descriptor_pointing_outside_the_object_is_refused() {
    for (linker, bytes) in guests("outside", GUEST) {
        let layout = Layout::of(&bytes);
        for (field, name) in [
            (METADATA_PTR, "metadata"),
            (FUNCTIONS_PTR, "functions"),
            (TRAMPOLINES_PTR, "trampolines"),
            (ADAPTERS_PTR, "adapters"),
        ] {
            for target in [0x4000_0000_0000u64, 0x10_0000, u64::MAX - 7] {
                let mut bad = bytes.clone();
                // Both the relocation's addend (what the dynamic linker writes) and the file's copy.
                set_u64(&mut bad, layout.descriptor_reloc(field) + 16, target);
                set_u64(&mut bad, layout.file_offset(layout.descriptor_vaddr + field), target);
                let r = reason(load_bytes("outside", &bad));
                assert!(r.contains(name) && r.contains("outside"), "{linker} {name} {target:#x}: {r}");
            }
        }
        // A metadata length that runs past the end of its segment.
        let mut bad = bytes.clone();
        set_u64(&mut bad, layout.file_offset(layout.descriptor_vaddr + METADATA_LEN), 1 << 40);
        let r = reason(load_bytes("outside", &bad));
        assert!(r.contains("metadata") && r.contains("outside"), "{linker}: {r}");
    }
}

/// A descriptor array's length is checked entry by entry against the relocations that
/// fill it. Before, the check first reserved room for every entry the file claimed,
/// bounded only by the size of the writable segment, which the file also states: with a
/// 2 GiB `p_memsz` and a matching `functions_len` the host reserved 2 GiB before refusing
/// the file, and a host without overcommit aborted there.
#[test]
fn array_length_does_not_size_an_allocation() {
    const FUNCTIONS_LEN: u64 = 40;
    for (linker, bytes) in guests("huge-array", GUEST) {
        let layout = Layout::of(&bytes);
        let mut bad = bytes.clone();
        let writable = layout
            .phdrs
            .clone()
            .step_by(56)
            .find(|&ph| u32::from_le_bytes(bad[ph..ph + 4].try_into().unwrap()) == elf::PT_LOAD
                && u32::from_le_bytes(bad[ph + 4..ph + 8].try_into().unwrap()) & elf::PF_W != 0)
            .expect("a writable segment");
        // p_memsz: the segment now claims 2 GiB of zero-filled memory after its file
        // bytes (the segments' span is limited to 4 GiB), and the functions array fills it.
        set_u64(&mut bad, writable + 40, 1 << 31);
        set_u64(&mut bad, layout.file_offset(layout.descriptor_vaddr + FUNCTIONS_LEN), (1 << 28) - 1024);
        let r = reason(load_bytes("huge-array", &bad));
        assert!(r.contains("of the descriptor's functions array is not filled"), "{linker}: {r}");
    }
}

/// A shared object with a constructor that creates `marker`, and a descriptor that passes a
/// check of the magic and format version alone. `None` when there is no C compiler.
fn constructor_file(dir: &Path, kind: &str, marker: &Path) -> Option<Vec<u8>> {
    let src = dir.join(format!("{kind}.c"));
    let out = dir.join(format!("{kind}.so"));
    std::fs::write(
        &src,
        format!(
            r#"#include <fcntl.h>
#include <unistd.h>
struct descriptor {{ char magic[8]; unsigned int version, reserved; const void *fields[8]; }};
const struct descriptor lucet_module = {{ "LUCETMOD", {version}, 0, {{ 0 }} }};
void mark(void) {{ int fd = open("{marker}", O_CREAT | O_WRONLY, 0600); if (fd >= 0) close(fd); }}
{ctor}
"#,
            version = lucet_module::FORMAT_VERSION,
            marker = marker.display(),
            ctor = if kind == "init_array" {
                "__attribute__((constructor)) static void ctor(void) { mark(); }"
            } else {
                ""
            },
        ),
    )
    .unwrap();
    let mut cc = std::process::Command::new("cc");
    cc.args(["-shared", "-fPIC", "-nostartfiles", "-o"]).arg(&out).arg(&src);
    if kind == "init" {
        cc.arg("-Wl,-init,mark");
    }
    match cc.output() {
        Ok(o) if o.status.success() => Some(std::fs::read(&out).unwrap()),
        Ok(o) => panic!("cc failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => {
            eprintln!("note: no C compiler installed, skipping the constructor files");
            None
        }
    }
}

/// Finding 6: `dlopen` runs `DT_INIT` and `DT_INIT_ARRAY` before lucet reads the metadata, so
/// these must be refused before `dlopen` sees the file.
#[test]
fn constructors_never_run() {
    let dir = scratch("constructors");
    for (kind, tag) in [("init_array", "DT_INIT_ARRAY"), ("init", "DT_INIT")] {
        let marker = dir.join(format!("{kind}.marker"));
        let _ = std::fs::remove_file(&marker);
        let Some(bytes) = constructor_file(&dir, kind, &marker) else { return };
        let r = reason(load_bytes("constructors", &bytes));
        assert!(!marker.exists(), "{kind}: the constructor ran");
        assert!(r.contains(tag), "{kind}: {r}");
    }
}

/// Each check names what it found. The files are lucetc outputs with one thing changed.
#[test]
fn each_check_names_what_it_refuses() {
    for (linker, bytes) in guests("named", GUEST) {
        let layout = Layout::of(&bytes);
        let check = |bad: Vec<u8>, want: &str| {
            let r = reason(load_bytes("named", &bad));
            assert!(r.contains(want), "{linker}, expected `{want}`: {r}");
        };
        // Turn the (optional) DT_RELACOUNT entry into other tags.
        let relacount = layout.dynamic.iter().find(|d| d.1 == elf::DT_RELACOUNT as i64).unwrap().0;
        let code = layout.loads[1].1;
        for (tag, value, want) in [
            (elf::DT_INIT, code, "DT_INIT"),
            (elf::DT_INIT_ARRAY, layout.descriptor_vaddr, "DT_INIT_ARRAY"),
            (elf::DT_PREINIT_ARRAY, layout.descriptor_vaddr, "DT_PREINIT_ARRAY"),
            (elf::DT_FINI, code, "DT_FINI"),
            (elf::DT_FINI_ARRAY, layout.descriptor_vaddr, "DT_FINI_ARRAY"),
            (elf::DT_TEXTREL, 0, "DT_TEXTREL"),
            (elf::DT_FLAGS, elf::DF_TEXTREL as u64, "DF_TEXTREL"),
            (elf::DT_NEEDED, 1, "DT_NEEDED"),
            (elf::DT_RUNPATH, 1, "DT_RUNPATH"),
            (elf::DT_AUDIT, 1, "DT_AUDIT"),
        ] {
            let mut bad = bytes.clone();
            set_u64(&mut bad, relacount, tag as u64);
            set_u64(&mut bad, relacount + 8, value);
            check(bad, want);
        }
        // An executable stack.
        let mut bad = bytes.clone();
        let stack = layout
            .phdrs
            .clone()
            .step_by(56)
            .find(|&p| u32::from_le_bytes(bad[p..p + 4].try_into().unwrap()) == elf::PT_GNU_STACK)
            .unwrap();
        bad[stack + 4] |= elf::PF_X as u8;
        check(bad, "executable stack");
        // An IFUNC resolver run by the dynamic linker, and a relocation type lucetc never emits.
        for (r_type, want) in [(elf::R_X86_64_IRELATIVE, "R_X86_64_IRELATIVE"), (elf::R_X86_64_TPOFF64, "type 18")] {
            let mut bad = bytes.clone();
            let entry = layout.relocs[0].0;
            bad[entry + 8..entry + 12].copy_from_slice(&r_type.to_le_bytes());
            check(bad, want);
        }
    }
}

#[test]
fn libcalls_are_the_only_dependencies_allowed() {
    for (linker, bytes) in guests("libcalls", LIBCALL_GUEST) {
        // The real file loads and runs.
        let m = load_bytes("libcalls", &bytes).unwrap_or_else(|e| panic!("{linker}: {e}"));
        let region = MmapRegion::create(1, &Limits::default()).unwrap();
        let mut inst = region.new_instance(m).unwrap();
        let args = [2.0f32.into(), 3.0f32.into(), 4.0f32.into()];
        assert_eq!(inst.run("madd", &args).unwrap().unwrap_returned().as_f32(), 10.0);
        drop(inst);

        // A dependency other than libm and libc would run that library's constructors.
        let layout = Layout::of(&bytes);
        let value = |tag: i64| layout.dynamic.iter().find(|d| d.1 == tag).unwrap().2;
        let strtab = layout.file_offset(value(elf::DT_STRTAB));
        let needed = layout.dynamic.iter().find(|d| d.1 == elf::DT_NEEDED as i64).unwrap().2 as usize;
        let mut bad = bytes.clone();
        assert_eq!(&bad[strtab + needed..strtab + needed + 10], b"libm.so.6\0");
        bad[strtab + needed..strtab + needed + 10].copy_from_slice(b"libz.so.1\0");
        let r = reason(load_bytes("libcalls", &bad));
        assert!(r.contains("libz.so.1"), "{linker}: {r}");

        // An undefined symbol outside the libcalls lucetc emits.
        let mut bad = bytes.clone();
        let pos = bad.windows(5).position(|w| w == b"fmaf\0").unwrap();
        bad[pos..pos + 5].copy_from_slice(b"exit\0");
        let r = reason(load_bytes("libcalls", &bad));
        assert!(r.contains("exit"), "{linker}: {r}");

        // A defined symbol besides the descriptor: `fmaf` defined here would interpose on
        // libm's if the file were ever loaded into the global scope.
        let mut bad = bytes.clone();
        let (symtab, strtab) = (layout.file_offset(value(elf::DT_SYMTAB)), layout.file_offset(value(elf::DT_STRTAB)));
        let count = layout.relocs.len() + 4;
        let sym = |i: usize| symtab + i * 24;
        let name_of = |b: &[u8], i: usize| {
            let n = u32::from_le_bytes(b[sym(i)..sym(i) + 4].try_into().unwrap()) as usize;
            let end = b[strtab + n..].iter().position(|&c| c == 0).unwrap();
            b[strtab + n..strtab + n + end].to_vec()
        };
        let fmaf = (1..count).find(|&i| name_of(&bad, i) == b"fmaf").unwrap();
        let desc = (1..count).find(|&i| name_of(&bad, i) == b"lucet_module").unwrap();
        let (shndx, value_off) = (sym(desc) + 6, sym(desc) + 8);
        let shndx = bad[shndx..shndx + 2].to_vec();
        let addr = bad[value_off..value_off + 8].to_vec();
        bad[sym(fmaf) + 4] = (elf::STB_GLOBAL << 4) | elf::STT_FUNC;
        bad[sym(fmaf) + 6..sym(fmaf) + 8].copy_from_slice(&shndx);
        bad[sym(fmaf) + 8..sym(fmaf) + 16].copy_from_slice(&addr);
        let r = reason(load_bytes("libcalls", &bad));
        assert!(r.contains("fmaf") && r.contains("lucet_module"), "{linker}: {r}");
    }
}

/// `perf` and other profilers name code by the file the kernel mapped, which must be the
/// module's own path even though the file is loaded through its descriptor.
#[test]
fn loaded_code_is_mapped_under_its_real_path() {
    let dir = scratch("maps");
    let so = dir.join("named.so");
    compile(GUEST, lucetc::Linker::Builtin, &so).unwrap();
    let m = DlModule::load(&so).unwrap();
    let real = std::fs::canonicalize(&so).unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let exec = maps.lines().filter(|l| l.ends_with(real.to_str().unwrap())).find(|l| l.contains(" r-xp "));
    assert!(exec.is_some(), "no executable mapping of {} in\n{maps}", real.display());
    assert_eq!(m.path(), so.display().to_string());

    // Debuggers open the files the dynamic linker lists; the module's entry must name
    // the module file, also from another process (so not through `/proc/self`).
    let names = loaded_object_names();
    let fd_names: Vec<&String> = names.iter().filter(|n| n.contains("/fd/")).collect();
    assert!(!fd_names.iter().any(|n| n.starts_with("/proc/self/")), "{fd_names:?}");
    let named = fd_names.iter().any(|n| std::fs::canonicalize(n).ok().as_ref() == Some(&real));
    assert!(named, "no loaded object's name leads to {}: {fd_names:?}", real.display());
}

/// The names of the loaded objects, as the dynamic linker lists them.
fn loaded_object_names() -> Vec<String> {
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _: usize, data: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `data` is the vector below, used by nothing else during the call, and
        // `info` is valid for the duration of the call.
        let (names, info) = unsafe { (&mut *data.cast::<Vec<String>>(), &*info) };
        if !info.dlpi_name.is_null() {
            // SAFETY: a NUL-terminated string owned by the dynamic linker.
            names.push(unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }.to_string_lossy().into_owned());
        }
        0
    }
    let mut names: Vec<String> = Vec::new();
    // SAFETY: `visit` only reads what it is given and writes to `names`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut names as *mut Vec<String>).cast()) };
    names
}

/// The dynamic linker returns an already loaded object for a name it has seen, without
/// opening the file: the second file, opened under the descriptor number the first one had,
/// must not be mistaken for the first.
#[test]
fn a_second_file_is_not_mistaken_for_the_first() {
    let dir = scratch("second");
    let (a, b) = (dir.join("a.so"), dir.join("b.so"));
    compile(GUEST, lucetc::Linker::Builtin, &a).unwrap();
    compile(LIBCALL_GUEST, lucetc::Linker::Builtin, &b).unwrap();
    let first = DlModule::load(&a).unwrap();
    let again = DlModule::load(&a).unwrap();
    let second = DlModule::load(&b).unwrap();
    drop(again);
    let third = DlModule::load(&b).unwrap();
    let exports = |m: &DlModule| m.module_data().exports.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
    assert!(exports(&first).contains(&"add".to_string()));
    assert_eq!(exports(&second), ["madd"]);
    assert_eq!(exports(&third), ["madd"]);
}

/// Loading the same file many times at once, and other files meanwhile, gives each load the
/// module it asked for.
#[test]
fn repeated_and_concurrent_loads_get_their_own_file() {
    let dir = scratch("repeated");
    let a = dir.join("a.so");
    let b = dir.join("b.so");
    compile(GUEST, lucetc::Linker::Builtin, &a).unwrap();
    compile(LIBCALL_GUEST, lucetc::Linker::Builtin, &b).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for i in 0..40 {
                    let (path, export) = if (i + t) % 3 == 0 { (&b, "madd") } else { (&a, "add") };
                    let m = DlModule::load(path).unwrap();
                    assert!(m.module_data().exports.iter().any(|e| e.name == export), "{}", path.display());
                    // Keep some alive so that names and files overlap in time.
                    if i % 4 == 0 {
                        held.push(m);
                    }
                    if held.len() > 3 {
                        held.remove(0);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Runs a module that was accepted, checking it behaves as the original.
fn check_runs(region: &MmapRegion, m: std::sync::Arc<DlModule>, what: &str) {
    let mut inst = region.new_instance(m).unwrap_or_else(|e| panic!("{what}: {e}"));
    let add = inst.run("add", &[2i32.into(), 3i32.into()]).unwrap().unwrap_returned().as_i32();
    let pick = inst.run("pick", &[1i32.into(), 9i32.into(), 4i32.into()]).unwrap().unwrap_returned().as_i32();
    let peek = inst.run("peek", &[]).unwrap().unwrap_returned().as_i32();
    assert_eq!((add, pick, peek), (5, 5, i32::from(b'l')), "{what}");
}

/// The acceptance corpus: every file is refused with a clear error or, when a change leaves
/// the file valid, loads and runs correctly. None crashes the host.
#[test]
fn bad_file_corpus() {
    let region = MmapRegion::create(1, &Limits::default()).unwrap();
    let mut counts = (0usize, 0usize);
    let verbose = std::env::var_os("LOAD_CHECKS_VERBOSE").is_some();
    let mut outcome = |bytes: &[u8], what: &str| {
        if verbose {
            eprintln!("{what}");
        }
        match load_bytes("corpus", bytes) {
            Ok(m) => {
                check_runs(&region, m, what);
                counts.1 += 1;
            }
            Err(Error::InvalidModule { reason, .. }) => {
                assert!(!reason.is_empty(), "{what}");
                counts.0 += 1;
            }
            Err(Error::VersionMismatch { .. }) => counts.0 += 1,
            Err(e) => panic!("{what}: unexpected error kind {e:?}"),
        }
    };
    for (linker, bytes) in guests("corpus", GUEST) {
        let layout = Layout::of(&bytes);
        check_runs(&region, load_bytes("corpus", &bytes).unwrap(), linker);

        // Truncated at every 64th of its length.
        for k in 0..64 {
            let len = bytes.len() * k / 64;
            match load_bytes("corpus", &bytes[..len]) {
                Err(Error::InvalidModule { .. }) => {}
                other => panic!("{linker} truncated to {len} bytes: {other:?}"),
            }
        }

        // Every bit of the ELF header, the program headers, the dynamic section, the
        // descriptor, its symbol, the hash table's header and the relocations that fill the
        // descriptor's pointers.
        let (dyn_start, dyn_end) = (layout.dynamic[0].0, layout.dynamic.last().unwrap().0 + 16);
        let desc = layout.file_offset(layout.descriptor_vaddr);
        let mut ranges = vec![("ELF header", 0..64), ("program headers", layout.phdrs.clone())];
        ranges.push(("dynamic section", dyn_start..dyn_end));
        ranges.push(("descriptor", desc..desc + 80));
        ranges.push(("descriptor symbol", layout.descriptor_symbol..layout.descriptor_symbol + 24));
        // The header of the hash table the dynamic linker looks the descriptor up with.
        for (tag, len) in [(elf::DT_HASH, 8), (elf::DT_GNU_HASH, 16)] {
            if let Some(d) = layout.dynamic.iter().find(|d| d.1 == i64::from(tag)) {
                let at = layout.file_offset(d.2);
                ranges.push(("hash table header", at..at + len));
            }
        }
        for field in [METADATA_PTR, FUNCTIONS_PTR, TRAMPOLINES_PTR, ADAPTERS_PTR] {
            let r = layout.descriptor_reloc(field);
            ranges.push(("descriptor relocation", r..r + 24));
        }
        for (part, range) in ranges {
            for byte in range {
                for bit in 0..8 {
                    let mut bad = bytes.clone();
                    bad[byte] ^= 1 << bit;
                    outcome(&bad, &format!("{linker}: {part}, byte {byte:#x} bit {bit}"));
                }
            }
        }
    }

    // Shared objects that are not Lucet modules at all.
    let mut foreign = Vec::new();
    if let Ok(out) = std::process::Command::new("ldconfig").arg("-p").output() {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        for lib in ["libz.so.1", "libc.so.6", "libm.so.6"] {
            let found = text
                .lines()
                .filter(|l| l.trim_start().starts_with(&format!("{lib} ")) && l.contains("x86-64"))
                .filter_map(|l| l.split("=> ").nth(1))
                .next();
            match found {
                Some(path) => foreign.push(PathBuf::from(path.trim())),
                None => eprintln!("note: {lib} not found by ldconfig, skipped"),
            }
        }
    }
    for lib in foreign {
        let r = reason(DlModule::load(&lib));
        assert_eq!(r, "not a Lucet module (compile it with lucetc)", "{}", lib.display());
    }

    // A constructor that would leave a marker behind.
    let dir = scratch("corpus-ctor");
    let marker = dir.join("marker");
    let _ = std::fs::remove_file(&marker);
    if let Some(bytes) = constructor_file(&dir, "init_array", &marker) {
        reason(load_bytes("corpus", &bytes));
        assert!(!marker.exists(), "the constructor ran");
    }
    eprintln!("corpus: {} refused, {} loaded and ran correctly", counts.0, counts.1);
}
