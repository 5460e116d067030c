//! Arbitrary input through lucetc: an error or a module, never a panic.
//!
//! A case is one of: random bytes after a valid header; random text; a generated
//! module with everything lucetc accepts turned on (relaxed SIMD included), compiled
//! as it is; or such a module with a few bytes damaged. lucetc turns a panic in the
//! code generator into `Error::Internal`, so that error counts as a failure too.

use crate::seed::{self, Salt, SplitMix64};
use crate::Verdict;
use arbitrary::Unstructured;

pub struct Worker {
    dir: tempfile::TempDir,
}

impl Worker {
    pub fn new() -> Worker {
        let dir = tempfile::Builder::new()
            .prefix("lucet-fuzz-compile-")
            .tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .expect("creating a scratch directory");
        Worker { dir }
    }
}

impl Default for Worker {
    fn default() -> Worker {
        Worker::new()
    }
}

/// A generator configuration as wide as lucetc's feature set.
fn wide_config(rng: &mut SplitMix64) -> wasm_smith::Config {
    // The draws keep this order: it is part of what a seed means.
    let memory64_enabled = rng.below(3) == 0;
    let max_memories = 1 + rng.below(3) as usize;
    let max_tables = 1 + rng.below(3) as usize;
    wasm_smith::Config {
        relaxed_simd_enabled: true,
        simd_enabled: true,
        tail_call_enabled: true,
        extended_const_enabled: true,
        memory64_enabled,
        max_memories,
        max_tables,
        gc_enabled: false,
        exceptions_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        wide_arithmetic_enabled: false,
        custom_page_sizes_enabled: false,
        custom_descriptors_enabled: false,
        max_funcs: 12,
        max_instructions: 150,
        max_imports: 6,
        compact_imports_enabled: false,
        max_memory32_bytes: 1 << 32,
        max_memory64_bytes: 1 << 40,
        ..wasm_smith::Config::default()
    }
}

fn generated(rng: &mut SplitMix64) -> Option<Vec<u8>> {
    let config = wide_config(rng);
    let mut data = vec![0u8; 8 << 10];
    rng.fill(&mut data);
    let m = wasm_smith::Module::new(config, &mut Unstructured::new(&data)).ok()?;
    Some(m.to_bytes())
}

const TEXT_PIECES: &[&str] = &[
    "(module",
    ")",
    "(func",
    "(param i32)",
    "(result i64)",
    "i32.const 0",
    "i32.load offset=4294967295",
    "memory.grow",
    "(memory 1)",
    "(memory i64 1)",
    "(table 1 funcref)",
    "call 0",
    "br 0",
    "(block",
    "(loop",
    "v128.const i32x4 0 0 0 0",
    "i8x16.swizzle",
    "return_call 0",
    "(export \"a\" (func 0))",
    "(data (i32.const 0) \"x\")",
    "unreachable",
    "local.get 0",
    "(global i32 (i32.const 1))",
    "\"\\ff\"",
    ";;",
    "(;",
    "nan:0x1",
    "0x1p+1024",
];

/// The bytes of one case, and what kind of case it is.
fn input(seed: u64) -> (Vec<u8>, &'static str) {
    let mut rng = seed::rng(Salt::Compile, seed);
    match rng.below(10) {
        0 | 1 => {
            let mut b = b"\0asm\x01\0\0\0".to_vec();
            let n = rng.below(512) as usize;
            let start = b.len();
            b.resize(start + n, 0);
            rng.fill(&mut b[start..]);
            // Section ids and small lengths, so that the parser gets past the first byte.
            let mut at = start;
            while at + 2 < b.len() {
                b[at] = rng.below(14) as u8;
                b[at + 1] = rng.below(32) as u8;
                at += 2 + b[at + 1] as usize;
            }
            (b, "random sections")
        }
        2 => {
            let mut t = String::new();
            for _ in 0..rng.below(40) {
                t.push_str(TEXT_PIECES[rng.below(TEXT_PIECES.len() as u64) as usize]);
                t.push(' ');
            }
            (t.into_bytes(), "random text")
        }
        3..=5 => match generated(&mut rng) {
            Some(m) => (m, "generated module"),
            None => (Vec::new(), "generator gave up"),
        },
        _ => match generated(&mut rng) {
            Some(mut m) => {
                for _ in 0..1 + rng.below(4) {
                    let at = 8 + rng.below((m.len() - 8).max(1) as u64) as usize;
                    if at < m.len() {
                        m[at] = match rng.below(3) {
                            0 => m[at] ^ (1 << rng.below(8)),
                            1 => {
                                [0, 0x7f, 0x80, 0xff, 0x40, 0x41, 0xfd, 0xfc][rng.below(8) as usize]
                            }
                            _ => rng.next_u64() as u8,
                        };
                    }
                }
                (m, "damaged module")
            }
            None => (Vec::new(), "generator gave up"),
        },
    }
}

/// How far a case takes the compiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Compile to a relocatable object.
    Object,
    /// Compile and link into a shared object.
    SharedObject,
}

/// Compiles `bytes` into `output` in `dir`; `label` names the kind of input.
pub fn check_bytes(
    dir: &std::path::Path,
    bytes: &[u8],
    output: Output,
    label: &'static str,
) -> Verdict {
    let out = dir.join(match output {
        Output::Object => "out.o",
        Output::SharedObject => "out.so",
    });
    let result = crate::catch_panic("lucetc", || {
        lucetc::Lucetc::try_from_bytes(bytes).and_then(|c| match output {
            Output::Object => c.object_file(&out),
            Output::SharedObject => c.shared_object_file(&out),
        })
    });
    let _ = std::fs::remove_file(&out);
    match result {
        Ok(Ok(())) => Verdict::Pass(label),
        Ok(Err(lucetc::Error::Internal(e))) => {
            Verdict::Fail(format!("{label}: internal error: {e}"))
        }
        Ok(Err(_)) => Verdict::Pass("rejected"),
        Err(panic) => Verdict::Fail(format!("{label}: {panic}")),
    }
}

pub fn run_case(w: &mut Worker, seed: u64) -> Verdict {
    let (bytes, label) = input(seed);
    if label == "generator gave up" {
        return Verdict::Skip(label);
    }
    let output = if seed.is_multiple_of(8) {
        Output::SharedObject
    } else {
        Output::Object
    };
    check_bytes(w.dir.path(), &bytes, output, label)
}
