//! The engine under test: lucetc compiling in-process, lucet-runtime running.

use super::host::{self, Ty};
use super::value::{Outcome, State, Trap, Value};
use super::MemoryConfig;
use lucet_module::{ExportKind, TrapCode};
use lucet_runtime::{
    DlModule, Error, FuncType, InstanceHandle, Limits, Linker, MmapRegion, Region, RunResult, Val,
    ValType,
};
use std::path::PathBuf;
use std::sync::Arc;

/// Most bytes of linear memory an instance may have (per memory). Generated memories
/// declare a maximum of at most 4 pages, so this is never what stops `memory.grow`.
const HEAP_LIMIT: usize = 1 << 20;

/// A call that runs this long is a miscompiled loop: the fuel bound keeps every
/// generated function far below it.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

impl MemoryConfig {
    /// `(reserved size, guard size)` passed to lucetc.
    pub fn compile_sizes(self) -> (u64, u64) {
        match self {
            MemoryConfig::Default => (lucetc::DEFAULT_RESERVED_SIZE, lucetc::DEFAULT_GUARD_SIZE),
            MemoryConfig::BoundsChecked => (64 << 10, 0),
            MemoryConfig::BoundsCheckedGuard => (64 << 10, 2 << 30),
        }
    }

    /// The smallest limits the runtime accepts for code compiled this way: a host
    /// sizing its slots tightly is what should be tested. Bounds-checked code relies on
    /// the guard following the memory at its largest, which may be past the reservation.
    pub fn limits(self) -> Limits {
        let (reserved, guard) = self.compile_sizes();
        let space = (reserved.max(HEAP_LIMIT as u64) + guard) as usize;
        Limits::default()
            .with_heap_memory_size(HEAP_LIMIT)
            .with_heap_address_space_size(space)
            .with_stack_size(4 << 20)
    }
}

/// What a worker keeps between cases: a scratch directory for the shared objects, and
/// one single-slot region per memory configuration.
pub struct Native {
    dir: tempfile::TempDir,
    regions: [Option<Arc<MmapRegion>>; 3],
    linker: Linker,
}

fn val_type(t: Ty) -> ValType {
    match t {
        Ty::I32 => ValType::I32,
        Ty::I64 => ValType::I64,
        Ty::F32 => ValType::F32,
        Ty::F64 => ValType::F64,
        Ty::V128 => ValType::V128,
    }
}

/// A linker that defines the host functions generated modules may import.
fn linker() -> Linker {
    let mut linker = Linker::new();
    for &(name, params, results) in host::FUNCS {
        let ty = FuncType {
            params: params.iter().map(|&t| val_type(t)).collect(),
            results: results.iter().map(|&t| val_type(t)).collect(),
        };
        linker.func_new(host::MODULE, name, ty, move |args| {
            let args: Vec<Value> = args.iter().map(value_of).collect();
            Ok(host::call(&args, results).iter().map(val_of).collect())
        });
    }
    linker
}

impl Native {
    pub fn new() -> Native {
        // A memory-backed directory when there is one: every case writes a `.so`.
        let dir = tempfile::Builder::new()
            .prefix("lucet-fuzz-")
            .tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .expect("creating a scratch directory");
        Native {
            dir,
            regions: [None, None, None],
            linker: linker(),
        }
    }

    fn region(&mut self, config: MemoryConfig) -> Result<Arc<MmapRegion>, String> {
        let slot = &mut self.regions[config as usize];
        if slot.is_none() {
            *slot = Some(
                MmapRegion::create(1, &config.limits())
                    .map_err(|e| format!("creating the region: {e}"))?,
            );
        }
        Ok(slot.clone().expect("just set"))
    }

    /// Compiles with lucetc (in-process) and loads the result.
    pub fn compile(
        &mut self,
        wasm: &[u8],
        config: MemoryConfig,
        seed: u64,
    ) -> Result<Arc<DlModule>, Compiled> {
        let (reserved, guard) = config.compile_sizes();
        let compiler = match lucetc::Lucetc::try_from_bytes(wasm) {
            Ok(c) => c.with_reserved_size(reserved).with_guard_size(guard),
            Err(e) => return Err(Compiled::Rejected(e)),
        };
        // A fresh name for every module: dlopen hands back an already loaded object
        // for a path it has seen.
        let path: PathBuf = self
            .dir
            .path()
            .join(format!("{seed}-{}.so", config as usize));
        if let Err(e) = compiler.shared_object_file(&path) {
            return Err(Compiled::Rejected(e));
        }
        let loaded = crate::catch_panic("DlModule::load", || DlModule::load_unresolved(&path));
        let _ = std::fs::remove_file(&path);
        match loaded {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(e)) => Err(Compiled::LoadFailed(e.to_string())),
            Err(panic) => Err(Compiled::LoadFailed(panic)),
        }
    }

    pub fn instantiate(
        &mut self,
        module: &Arc<DlModule>,
        config: MemoryConfig,
    ) -> Result<InstanceHandle, Outcome> {
        let region = self.region(config).map_err(Outcome::Error)?;
        match region
            .new_instance_builder(module.clone())
            .with_linker(&self.linker)
            .build()
        {
            Ok(i) => Ok(i),
            Err(Error::InstantiationTrap(d)) => Err(Outcome::Trapped(trap_of(d.trap_code))),
            Err(e) => Err(Outcome::Error(e.to_string())),
        }
    }
}

impl Default for Native {
    fn default() -> Native {
        Native::new()
    }
}

/// Why there is no module to run.
pub enum Compiled {
    /// lucetc returned an error.
    Rejected(lucetc::Error),
    /// The `.so` did not load (or loading panicked).
    LoadFailed(String),
}

fn trap_of(code: TrapCode) -> Trap {
    match code {
        TrapCode::HeapOutOfBounds => Trap::MemoryOutOfBounds,
        TrapCode::StackOverflow => Trap::StackOverflow,
        TrapCode::IntegerDivByZero => Trap::IntegerDivisionByZero,
        TrapCode::IntegerOverflow => Trap::IntegerOverflow,
        TrapCode::BadConversionToInteger => Trap::BadConversionToInteger,
        TrapCode::Unreachable => Trap::Unreachable,
        TrapCode::IndirectCallToNull => Trap::IndirectCallToNull,
        TrapCode::BadSignature => Trap::BadSignature,
        TrapCode::TableOutOfBounds => Trap::TableOutOfBounds,
        TrapCode::NullReference => Trap::NullReference,
        TrapCode::HeapMisaligned => Trap::Other("misaligned atomic access"),
        TrapCode::Unknown => Trap::Other("a fault at no recorded trap site"),
        #[allow(unreachable_patterns)]
        _ => Trap::Other("a trap code this harness does not know"),
    }
}

fn val_of(v: &Value) -> Val {
    match *v {
        Value::I32(x) => Val::I32(x),
        Value::I64(x) => Val::I64(x),
        Value::F32(b) => Val::F32(f32::from_bits(b)),
        Value::F64(b) => Val::F64(f64::from_bits(b)),
        Value::V128(b) => Val::V128(b),
        Value::FuncRef { .. } => Val::FuncRef(0),
        Value::ExternRef { .. } => Val::ExternRef(0),
    }
}

fn value_of(v: &Val) -> Value {
    match *v {
        Val::I32(x) => Value::I32(x),
        Val::I64(x) => Value::I64(x),
        Val::F32(x) => Value::f32(x.to_bits()),
        Val::F64(x) => Value::f64(x.to_bits()),
        Val::V128(x) => Value::V128(x),
        Val::FuncRef(p) => Value::FuncRef { null: p == 0 },
        Val::ExternRef(p) => Value::ExternRef { null: p == 0 },
        // The original Lucet's argument variants: the harness never makes them, and
        // every one of them has a wasm type it converts to.
        other => match other.coerce(other.ty()) {
            Ok(wasm) => value_of(&wasm),
            Err(_) => Value::I32(0),
        },
    }
}

pub fn call(instance: &mut InstanceHandle, name: &str, args: &[Value]) -> Outcome {
    let args: Vec<Val> = args.iter().map(val_of).collect();
    match instance.run_with_timeout(name, &args, CALL_TIMEOUT) {
        Ok(RunResult::Returned(v)) => Outcome::Returned(v.values().iter().map(value_of).collect()),
        Ok(RunResult::Yielded(_)) => Outcome::Error("the guest yielded".into()),
        Err(Error::RuntimeFault(d)) => Outcome::Trapped(trap_of(d.trap_code)),
        Err(e) => Outcome::Error(e.to_string()),
    }
}

/// The observable state, export by export, in the order of `exports` (the
/// reference's list, so both states line up).
pub fn state(instance: &InstanceHandle, exports: &[(String, ExportKindName)]) -> State {
    let mut s = State::default();
    let data = instance.module().module_data();
    for (name, kind) in exports {
        match (kind, data.export(name), instance.get_export(name)) {
            (
                ExportKindName::Memory,
                Some(ExportKind::Memory(i)),
                Some(lucet_runtime::Extern::Memory(m)),
            ) => {
                // Only memory 0 can be read from outside the guest.
                let contents = (i == 0).then(|| instance.heap().to_vec());
                s.memories.push((name.clone(), m.data_size(), contents));
            }
            (ExportKindName::Global, _, Some(lucet_runtime::Extern::Global(g))) => {
                s.globals.push((name.clone(), value_of(&g.get())));
            }
            (ExportKindName::Table, _, Some(lucet_runtime::Extern::Table(t))) => {
                s.tables.push((name.clone(), t.size() as u64));
            }
            _ => {}
        }
    }
    s
}

/// The kinds of export whose state is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKindName {
    Memory,
    Global,
    Table,
}
