//! Differential testing: lucetc + lucet-runtime against the wasmi interpreter.
//!
//! A case is one generated module ([`generate`]) in one memory configuration. Both
//! engines instantiate it, every exported function is called (twice over, with
//! arguments drawn from the seed), and after instantiation and after every call the
//! results or traps, and the state left behind (memories, globals, table sizes), must
//! agree. On one case in four, the lucet instance is then `reset()` and compared with
//! a fresh reference instance, and called once more.
//!
//! The module is compiled once per case, in-process; each worker keeps its regions
//! and the reference engine for all its cases.

pub mod generate;
pub mod host;
pub mod native;
pub mod reference;
pub mod value;

use crate::Verdict;
use native::{Compiled, ExportKindName, Native};
use value::{Outcome, Value};
use wasmi::ValType;

/// How lucetc compiles the module's memory accesses, and the region sized for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MemoryConfig {
    /// 4 GiB reservation and 2 GiB guard: no bounds checks for 32-bit memories.
    Default = 0,
    /// A 64 KiB reservation and no guard: every access is checked.
    BoundsChecked = 1,
    /// A 64 KiB reservation and a 2 GiB guard: checked, with small offsets folded
    /// into the guard.
    BoundsCheckedGuard = 2,
}

impl MemoryConfig {
    pub const ALL: [MemoryConfig; 3] = [
        MemoryConfig::Default,
        MemoryConfig::BoundsChecked,
        MemoryConfig::BoundsCheckedGuard,
    ];

    /// The configuration of `seed` when a run covers all three: they take turns.
    pub fn for_seed(seed: u64) -> MemoryConfig {
        MemoryConfig::ALL[(seed % 3) as usize]
    }
}

/// Most calls made on one instance.
const MAX_CALLS: usize = 16;

pub struct Worker {
    engine: wasmi::Engine,
    linker: wasmi::Linker<()>,
    native: Native,
    /// Where to write each case's module (`<seed>.wasm`), for reproducing a failure
    /// with other tools.
    dump: Option<std::path::PathBuf>,
    /// Print every call and both outcomes to stderr.
    trace: bool,
}

impl Worker {
    pub fn new() -> Worker {
        let engine = reference::engine();
        Worker {
            linker: reference::linker(&engine),
            engine,
            native: Native::new(),
            dump: None,
            trace: false,
        }
    }

    pub fn tracing(mut self) -> Worker {
        self.trace = true;
        self
    }

    pub fn dumping_to(mut self, dir: std::path::PathBuf) -> Worker {
        self.dump = Some(dir);
        self
    }
}

impl Default for Worker {
    fn default() -> Worker {
        Worker::new()
    }
}

/// Bytes libFuzzer hands over become the seed: the module is always generated from a
/// seed, so that a crash found either way is reproduced the same way.
pub fn seed_from_bytes(data: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = data.len().min(8);
    word[..n].copy_from_slice(&data[..n]);
    u64::from_le_bytes(word)
}

fn arg(rng: &mut crate::seed::SplitMix64, ty: &ValType) -> Value {
    match ty {
        ValType::I32 => Value::I32(generate::i32_arg(rng)),
        ValType::I64 => Value::I64(generate::i64_arg(rng)),
        ValType::F32 => Value::f32(generate::f32_bits(rng)),
        ValType::F64 => Value::f64(generate::f64_bits(rng)),
        ValType::V128 => Value::V128(generate::v128_arg(rng)),
        ValType::FuncRef => Value::FuncRef { null: true },
        ValType::ExternRef => Value::ExternRef { null: true },
    }
}

/// One case: the module of `seed`, compiled for `config`.
pub fn run_case(w: &mut Worker, seed: u64, config: MemoryConfig) -> Verdict {
    let Some((wasm, rng)) = generate::module(seed) else {
        return Verdict::Skip("generator gave up");
    };
    if let Some(dir) = &w.dump {
        let _ = std::fs::write(dir.join(format!("{seed}.wasm")), &wasm);
    }
    run_module(w, &wasm, rng, seed, config)
}

/// Runs a given module (a reproduction, or a regression case) the way [`run_case`]
/// runs a generated one, with call arguments drawn from `seed`.
pub fn run_given_module(w: &mut Worker, wasm: &[u8], seed: u64, config: MemoryConfig) -> Verdict {
    let rng = crate::seed::rng(crate::seed::Salt::Diff, seed);
    run_module(w, wasm, rng, seed, config)
}

fn run_module(
    w: &mut Worker,
    wasm: &[u8],
    mut rng: crate::seed::SplitMix64,
    seed: u64,
    config: MemoryConfig,
) -> Verdict {
    let ref_module = match reference::compile(&w.engine, wasm) {
        Ok(m) => m,
        Err(_) => return Verdict::Skip("reference rejects module"),
    };
    let module = match w.native.compile(wasm, config, seed) {
        Ok(m) => m,
        Err(Compiled::Rejected(lucetc::Error::Unsupported(_))) => {
            return Verdict::Skip("lucetc: unsupported")
        }
        Err(Compiled::Rejected(e)) => {
            return Verdict::Fail(format!("lucetc rejects a module wasmi accepts: {e}"))
        }
        Err(Compiled::LoadFailed(e)) => {
            return Verdict::Fail(format!("loading the compiled module failed: {e}"))
        }
    };

    let mut exports = Vec::new();
    for e in ref_module.exports() {
        let kind = match e.ty() {
            wasmi::ExternType::Memory(_) => ExportKindName::Memory,
            wasmi::ExternType::Global(_) => ExportKindName::Global,
            wasmi::ExternType::Table(_) => ExportKindName::Table,
            wasmi::ExternType::Func(_) => continue,
        };
        exports.push((e.name().to_string(), kind));
    }
    let funcs = reference::exported_funcs(&ref_module);

    let reference = reference::Reference::instantiate(&w.engine, &w.linker, &ref_module);
    let native = w.native.instantiate(&module, config);
    let (mut reference, mut instance) = match (reference, native) {
        (Ok(r), Ok(n)) => (r, n),
        (Err(r), Err(n)) => {
            return if r == n
                || (matches!(r, Outcome::Trapped(_)) && matches!(n, Outcome::Trapped(_)))
            {
                Verdict::Pass("instantiation trapped in both")
            } else {
                Verdict::Fail(format!("instantiation: lucet {n}, reference {r}"))
            };
        }
        (Err(r), Ok(_)) => {
            if r.is_stack_overflow() {
                return Verdict::Skip("stack overflow in one engine");
            }
            return Verdict::Fail(format!("instantiation: lucet succeeded, reference {r}"));
        }
        (Ok(_), Err(n)) => {
            if n.is_stack_overflow() {
                return Verdict::Skip("stack overflow in one engine");
            }
            return Verdict::Fail(format!("instantiation: lucet {n}, reference succeeded"));
        }
    };
    if let Some(d) = native::state(&instance, &exports).difference(&reference.state()) {
        return Verdict::Fail(format!("after instantiation: {d}"));
    }

    let mut calls = 0;
    let mut returned = 0;
    'rounds: for _round in 0..2 {
        for (name, params, n_results) in &funcs {
            if calls == MAX_CALLS {
                break 'rounds;
            }
            calls += 1;
            let args: Vec<Value> = params.iter().map(|t| arg(&mut rng, t)).collect();
            let expected = reference.call(name, &args, *n_results);
            let got = native::call(&mut instance, name, &args);
            if w.trace {
                eprintln!(
                    "seed {seed} {config:?}: `{name}`{args:?}: lucet {got}, reference {expected}"
                );
            }
            if let Some(v) = compare_call(name, &args, &got, &expected) {
                return v;
            }
            returned += matches!(got, Outcome::Returned(_)) as usize;
            if let Some(d) = native::state(&instance, &exports).difference(&reference.state()) {
                return Verdict::Fail(format!("after `{name}`{args:?} ({got}): {d}"));
            }
        }
    }

    if seed.is_multiple_of(4) {
        if let Err(e) = instance.reset() {
            return Verdict::Fail(format!("reset failed: {e}"));
        }
        let fresh = match reference::Reference::instantiate(&w.engine, &w.linker, &ref_module) {
            Ok(r) => r,
            Err(r) => return Verdict::Fail(format!("the reference no longer instantiates: {r}")),
        };
        reference = fresh;
        if let Some(d) = native::state(&instance, &exports).difference(&reference.state()) {
            return Verdict::Fail(format!("after reset: {d}"));
        }
        if let Some((name, params, n_results)) = funcs.first() {
            let args: Vec<Value> = params.iter().map(|t| arg(&mut rng, t)).collect();
            let expected = reference.call(name, &args, *n_results);
            let got = native::call(&mut instance, name, &args);
            if let Some(v) = compare_call(name, &args, &got, &expected) {
                return v;
            }
            if let Some(d) = native::state(&instance, &exports).difference(&reference.state()) {
                return Verdict::Fail(format!("after reset and `{name}`{args:?} ({got}): {d}"));
            }
        }
        return Verdict::Pass("agreed, with reset");
    }
    if funcs.is_empty() {
        Verdict::Pass("agreed, no functions")
    } else if returned == 0 {
        Verdict::Pass("agreed, every call trapped")
    } else {
        Verdict::Pass("agreed")
    }
}

/// `None` when the two outcomes agree and the case goes on; otherwise how it ends.
fn compare_call(name: &str, args: &[Value], got: &Outcome, expected: &Outcome) -> Option<Verdict> {
    match (got.is_stack_overflow(), expected.is_stack_overflow()) {
        (true, true) => return Some(Verdict::Pass("stack overflow in both")),
        (true, false) | (false, true) => {
            return Some(Verdict::Skip("stack overflow in one engine"))
        }
        (false, false) => {}
    }
    if got == expected {
        return None;
    }
    Some(Verdict::Fail(format!(
        "`{name}`{args:?}: lucet {got}, reference {expected}"
    )))
}
