//! Damaged shared objects through `DlModule::load`.
//!
//! Each worker compiles a few modules once (both linkers, a hand-written module and a
//! generated one). A case takes one of them and truncates it, flips bits, or writes
//! boundary values, mostly inside the parts the loader reads (ELF and program
//! headers, dynamic section, symbols, relocations, the `lucet_module` descriptor and
//! the metadata), then loads it. Any outcome but a clean load or a clean error is a
//! failure. By default every case runs in a child process ([`crate::isolate`]): files
//! that crash the loader are to be expected until the loader validates what it maps.

use crate::seed::{self, Salt, SplitMix64};
use crate::Verdict;
use lucet_runtime::DlModule;
use std::path::Path;

const BASE_WAT: &str = r#"(module
  (memory (export "memory") 1 4)
  (table 4 funcref)
  (global $g (mut i32) (i32.const 7))
  (global (export "c") i64 (i64.const -1))
  (data (i32.const 16) "lucet")
  (data (i32.const 5000) "\01\02\03")
  (elem (i32.const 0) $a $b)
  (func $a (param i32) (result i32) local.get 0 i32.load offset=4 global.get $g i32.add)
  (func $b (param i32) (result i32) local.get 0 i32.const 1 call_indirect (param i32) (result i32))
  (func (export "v") (param v128) (result v128) local.get 0 local.get 0 i32x4.mul)
  (func (export "f") (param f64) (result f64) local.get 0 f64.sqrt)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"#;

/// Loads the file at the path; `Err` is the loader's error message.
type Loader = fn(&Path) -> Result<(), String>;

/// The ways a file can be loaded. `DlModule::load_verified` (signed modules) belongs
/// here too once it exists, called with a key the file was not signed with and with
/// the right one, so that both the refusal and the accepting path see damaged files.
const LOADERS: &[(&str, Loader)] = &[
    ("load", |p| {
        DlModule::load(p).map(drop).map_err(|e| e.to_string())
    }),
    ("load_unresolved", |p| {
        DlModule::load_unresolved(p)
            .map(drop)
            .map_err(|e| e.to_string())
    }),
];

/// A compiled module, and the `(offset, len)` ranges worth damaging in it.
type Base = (Vec<u8>, Vec<(usize, usize)>);

pub struct Worker {
    dir: tempfile::TempDir,
    bases: Vec<Base>,
    isolation: Isolation,
}

/// Where a case runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// In a forked child: a crash is a counted result.
    Child,
    /// In this process: faster, but the first crash ends the run (what libFuzzer wants).
    InProcess,
}

impl Worker {
    pub fn new() -> Worker {
        Worker::with_isolation(Isolation::Child)
    }

    pub fn with_isolation(isolation: Isolation) -> Worker {
        let dir = tempfile::Builder::new()
            .prefix("lucet-fuzz-load-")
            .tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .expect("creating a scratch directory");
        let generated = crate::diff::generate::module(3).map(|(w, _)| w);
        let mut sources = vec![wat::parse_str(BASE_WAT).expect("the base module parses")];
        sources.extend(generated);
        let mut bases = Vec::new();
        for (i, wasm) in sources.iter().enumerate() {
            for linker in [lucetc::Linker::Builtin, lucetc::Linker::System] {
                let out = dir.path().join(format!("base-{i}-{linker:?}.so"));
                let compiled = lucetc::Lucetc::try_from_bytes(wasm)
                    .and_then(|c| c.with_linker(linker).shared_object_file(&out));
                if compiled.is_err() {
                    // No system linker on this machine: the builtin one still gives a base.
                    continue;
                }
                let bytes = std::fs::read(&out).expect("reading a compiled module");
                let _ = std::fs::remove_file(&out);
                let ranges = interesting_ranges(&bytes);
                bases.push((bytes, ranges));
            }
        }
        assert!(!bases.is_empty(), "no base module compiled");
        Worker {
            dir,
            bases,
            isolation,
        }
    }
}

impl Default for Worker {
    fn default() -> Worker {
        Worker::new()
    }
}

/// The parts of an ELF file the loader reads, as `(offset, len)`.
fn interesting_ranges(bytes: &[u8]) -> Vec<(usize, usize)> {
    use object::read::elf::{ElfFile64, FileHeader};
    use object::{Object, ObjectSection, ObjectSymbol};
    let mut ranges = vec![(0, 64)];
    if let Ok(file) = ElfFile64::<object::LittleEndian>::parse(bytes) {
        let header = file.elf_header();
        let e = object::LittleEndian;
        let phoff = header.e_phoff(e) as usize;
        let phnum = header.e_phnum(e) as usize;
        ranges.push((phoff, phnum * 56));
        let shoff = header.e_shoff(e) as usize;
        let shnum = header.e_shnum(e) as usize;
        ranges.push((shoff, shnum * 64));
        for s in file.sections() {
            let name = s.name().unwrap_or("");
            if let Some((off, len)) = s.file_range() {
                let reads_it = [
                    ".dynamic",
                    ".dynsym",
                    ".dynstr",
                    ".rela.dyn",
                    ".hash",
                    ".gnu.hash",
                    ".data.rel.ro",
                    ".rodata",
                    ".data",
                ]
                .iter()
                .any(|n| name.starts_with(n));
                if reads_it && len > 0 {
                    ranges.push((off as usize, len as usize));
                }
            }
        }
        for sym in file.dynamic_symbols().chain(file.symbols()) {
            let name = sym.name().unwrap_or("");
            if name == lucet_module::MODULE_SYMBOL || name.contains("metadata") {
                if let Some(section) = sym
                    .section_index()
                    .and_then(|i| file.section_by_index(i).ok())
                {
                    if let Some((off, _)) = section.file_range() {
                        let at = off + sym.address().saturating_sub(section.address());
                        ranges.push((at as usize, (sym.size() as usize).max(8)));
                    }
                }
            }
        }
    }
    ranges.retain(|&(off, len)| len > 0 && off < bytes.len());
    ranges
}

const BOUNDARY: &[u64] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    u64::MAX,
    1 << 40,
];

/// Damages `bytes` in place (or shortens them) as the seed says.
fn mutate(rng: &mut SplitMix64, bytes: &mut Vec<u8>, ranges: &[(usize, usize)]) -> &'static str {
    let pick = |rng: &mut SplitMix64, len: usize| -> usize {
        if rng.below(10) < 8 && !ranges.is_empty() {
            let (off, n) = ranges[rng.below(ranges.len() as u64) as usize];
            (off + rng.below(n as u64) as usize).min(len - 1)
        } else {
            rng.below(len as u64) as usize
        }
    };
    match rng.below(10) {
        0 | 1 => {
            let keep = rng.below(bytes.len() as u64) as usize;
            bytes.truncate(keep);
            "truncated"
        }
        2..=5 => {
            for _ in 0..1 + rng.below(4) {
                let at = pick(rng, bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            "bit flips"
        }
        6..=8 => {
            for _ in 0..1 + rng.below(3) {
                let at = pick(rng, bytes.len()) & !7;
                let width = [1usize, 2, 4, 8][rng.below(4) as usize];
                let v = BOUNDARY[rng.below(BOUNDARY.len() as u64) as usize]
                    .wrapping_add(rng.below(3))
                    .wrapping_sub(1);
                let end = (at + width).min(bytes.len());
                bytes[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
            }
            "boundary values"
        }
        _ => {
            let at = pick(rng, bytes.len());
            let n = (1 + rng.below(64) as usize).min(bytes.len() - at);
            rng.fill(&mut bytes[at..at + n]);
            "random run"
        }
    }
}

pub fn run_case(w: &mut Worker, seed: u64) -> Verdict {
    let mut rng = seed::rng(Salt::Load, seed);
    let (base, ranges) = &w.bases[rng.below(w.bases.len() as u64) as usize];
    let mut bytes = base.clone();
    let how = mutate(&mut rng, &mut bytes, ranges);
    let (loader_name, loader) = LOADERS[rng.below(LOADERS.len() as u64) as usize];
    let path = w.dir.path().join(format!("{seed}.so"));
    if let Err(e) = std::fs::write(&path, &bytes) {
        return Verdict::Fail(format!("writing the damaged file: {e}"));
    }
    let case = || match crate::catch_panic(loader_name, || loader(&path)) {
        Ok(Ok(())) => Verdict::Pass("loaded"),
        Ok(Err(_)) => Verdict::Pass("refused"),
        Err(panic) => Verdict::Fail(format!("{how}: {panic}")),
    };
    let verdict = if w.isolation == Isolation::Child {
        crate::isolate::in_child(case)
    } else {
        case()
    };
    let _ = std::fs::remove_file(&path);
    match verdict {
        Verdict::Fail(m) => Verdict::Fail(format!("{loader_name} of a file with {how}: {m}")),
        v => v,
    }
}
