//! The reference: the wasmi interpreter.

use super::value::{Outcome, State, Trap, Value};
use wasmi::{Engine, ExternType, Linker, Module, Ref, Store, Val};
use wasmi::{ValType, F32, F64, V128};

/// A wasmi engine set up for the features the generator uses, with stacks deep
/// enough that the fuel bound, not the interpreter, limits recursion.
pub fn engine() -> Engine {
    let mut config = wasmi::Config::default();
    config
        .wasm_simd(true)
        .wasm_relaxed_simd(false)
        .wasm_tail_call(true)
        .wasm_extended_const(true)
        .wasm_multi_memory(true)
        .wasm_memory64(true)
        .wasm_custom_page_sizes(false)
        .wasm_wide_arithmetic(false)
        .set_max_recursion_depth(1 << 20)
        .set_max_stack_height(256 << 20)
        .compilation_mode(wasmi::CompilationMode::Eager);
    Engine::new(&config)
}

fn val_type(t: super::host::Ty) -> ValType {
    use super::host::Ty;
    match t {
        Ty::I32 => ValType::I32,
        Ty::I64 => ValType::I64,
        Ty::F32 => ValType::F32,
        Ty::F64 => ValType::F64,
        Ty::V128 => ValType::V128,
    }
}

/// A linker that defines the host functions generated modules may import.
pub fn linker(engine: &Engine) -> Linker<()> {
    let mut linker = Linker::<()>::new(engine);
    for &(name, params, results) in super::host::FUNCS {
        let ty = wasmi::FuncType::new(
            params.iter().map(|&t| val_type(t)),
            results.iter().map(|&t| val_type(t)),
        );
        linker
            .func_new(super::host::MODULE, name, ty, move |_caller, args, out| {
                let args: Vec<Value> = args.iter().map(value_of).collect();
                for (slot, v) in out.iter_mut().zip(super::host::call(&args, results)) {
                    *slot = val_of(&v);
                }
                Ok(())
            })
            .expect("each host function is defined once");
    }
    linker
}

/// A compiled module; `None` means wasmi rejects it.
pub fn compile(engine: &Engine, wasm: &[u8]) -> Result<Module, String> {
    Module::new(engine, wasm).map_err(|e| e.to_string())
}

pub struct Reference {
    store: Store<()>,
    instance: wasmi::Instance,
    module: Module,
}

fn trap_of(e: &wasmi::Error) -> Outcome {
    use wasmi::TrapCode as T;
    // wasmi 1.1 leaves `table.copy` out of its trap-code mapping.
    if let wasmi::errors::ErrorKind::Table(wasmi::errors::TableError::CopyOutOfBounds) = e.kind() {
        return Outcome::Trapped(Trap::TableOutOfBounds);
    }
    let Some(code) = e.as_trap_code() else {
        return Outcome::Error(e.to_string());
    };
    Outcome::Trapped(match code {
        T::UnreachableCodeReached => Trap::Unreachable,
        T::MemoryOutOfBounds => Trap::MemoryOutOfBounds,
        T::TableOutOfBounds => Trap::TableOutOfBounds,
        T::IndirectCallToNull => Trap::IndirectCallToNull,
        T::IntegerDivisionByZero => Trap::IntegerDivisionByZero,
        T::IntegerOverflow => Trap::IntegerOverflow,
        T::BadConversionToInteger => Trap::BadConversionToInteger,
        T::StackOverflow => Trap::StackOverflow,
        T::BadSignature => Trap::BadSignature,
        T::OutOfFuel => Trap::Other("out of fuel"),
        T::GrowthOperationLimited => Trap::Other("growth operation limited"),
    })
}

pub fn value_of(v: &Val) -> Value {
    match v {
        Val::I32(x) => Value::I32(*x),
        Val::I64(x) => Value::I64(*x),
        Val::F32(x) => Value::f32(x.to_bits()),
        Val::F64(x) => Value::f64(x.to_bits()),
        Val::V128(x) => Value::V128(x.as_u128()),
        Val::FuncRef(r) => Value::FuncRef { null: r.is_null() },
        Val::ExternRef(r) => Value::ExternRef { null: r.is_null() },
    }
}

/// The wasmi form of an argument (references are always null).
pub fn val_of(v: &Value) -> Val {
    match *v {
        Value::I32(x) => Val::I32(x),
        Value::I64(x) => Val::I64(x),
        Value::F32(b) => Val::F32(F32::from_bits(b)),
        Value::F64(b) => Val::F64(F64::from_bits(b)),
        Value::V128(b) => Val::V128(V128::from(b)),
        Value::FuncRef { .. } => Val::FuncRef(Ref::Null),
        Value::ExternRef { .. } => Val::ExternRef(Ref::Null),
    }
}

/// The type of each exported function's parameters, by export name, in export order.
pub fn exported_funcs(module: &Module) -> Vec<(String, Vec<ValType>, usize)> {
    module
        .exports()
        .filter_map(|e| match e.ty() {
            ExternType::Func(f) => {
                Some((e.name().to_string(), f.params().to_vec(), f.results().len()))
            }
            _ => None,
        })
        .collect()
}

impl Reference {
    /// Instantiates (running the start function); a trap or error is the outcome.
    pub fn instantiate(
        engine: &Engine,
        linker: &Linker<()>,
        module: &Module,
    ) -> Result<Reference, Outcome> {
        let mut store = Store::new(engine, ());
        match linker.instantiate_and_start(&mut store, module) {
            Ok(instance) => Ok(Reference {
                store,
                instance,
                module: module.clone(),
            }),
            // A segment that does not fit is a trap in the spec; wasmi reports it as an
            // instantiation error.
            Err(e) if matches!(e.kind(), wasmi::errors::ErrorKind::Instantiation(_)) => {
                Err(Outcome::Trapped(Trap::Other("a segment does not fit")))
            }
            Err(e) => Err(trap_of(&e)),
        }
    }

    pub fn call(&mut self, name: &str, args: &[Value], n_results: usize) -> Outcome {
        let Some(func) = self.instance.get_func(&self.store, name) else {
            return Outcome::Error(format!("no exported function `{name}`"));
        };
        let inputs: Vec<Val> = args.iter().map(val_of).collect();
        let ty = func.ty(&self.store);
        let mut outputs: Vec<Val> = ty.results().iter().map(|t| Val::default(*t)).collect();
        debug_assert_eq!(outputs.len(), n_results);
        match func.call(&mut self.store, &inputs, &mut outputs) {
            Ok(()) => Outcome::Returned(outputs.iter().map(value_of).collect()),
            Err(e) => trap_of(&e),
        }
    }

    pub fn state(&self) -> State {
        let mut s = State::default();
        for e in self.module.exports() {
            let name = e.name();
            match e.ty() {
                ExternType::Memory(_) => {
                    if let Some(m) = self.instance.get_memory(&self.store, name) {
                        let data = m.data(&self.store);
                        s.memories
                            .push((name.to_string(), data.len() as u64, Some(data.to_vec())));
                    }
                }
                ExternType::Global(_) => {
                    if let Some(g) = self.instance.get_global(&self.store, name) {
                        s.globals
                            .push((name.to_string(), value_of(&g.get(&self.store))));
                    }
                }
                ExternType::Table(_) => {
                    if let Some(t) = self.instance.get_table(&self.store, name) {
                        s.tables.push((name.to_string(), t.size(&self.store)));
                    }
                }
                ExternType::Func(_) => {}
            }
        }
        s
    }
}
