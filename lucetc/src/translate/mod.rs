//! WebAssembly to Cranelift IR.
//!
//! - `module`: the module pass. It validates the module's sections and records them in
//!   a `lucet_module::ModuleData` (types, imports, functions, tables, memories, globals,
//!   elements, data, exports, start), and collects the function bodies.
//! - `types`: the type section, recursion groups, and the digests that give function
//!   types their identity across modules.
//! - `info`: what every function's translation knows about the module ([`ModuleInfo`]),
//!   and the signatures wasm functions have in machine code.
//! - `func`: the function translator: the operand stack, control frames, locals, and
//!   unreachable code. It validates each operator as it translates it.
//! - `vmctx`: how code reaches its instance (memories with their bounds checks, tables,
//!   builtins, function references).
//! - `ops`: the operators, one file per family.
//! - `traps`: the trap codes used in the IR and what the runtime reports for them.

pub mod func;
pub mod info;
pub mod module;
pub mod ops;
pub mod traps;
pub mod types;
pub mod vmctx;

pub use info::ModuleInfo;

/// Namespace of `UserExternalName`s that are object-file function ids.
pub const FUNC_NAMESPACE: u32 = 0;
