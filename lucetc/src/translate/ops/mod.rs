//! The operators, one file per family. Each family's `translate` returns `Ok(false)` for
//! an operator that is not its own, so the translator offers every operator to the
//! families in turn (most frequent first).
//!
//! - `control`: blocks, loops, `if`, branches, `return`, `unreachable`, `drop`, `select`
//! - `locals`: locals and globals
//! - `memory`: scalar loads and stores, and the `memory.*` instructions
//! - `numeric`: constants, integer and float arithmetic and comparisons
//! - `convert`: conversions between value types
//! - `table`: tables and references
//! - `call`: direct, indirect and tail calls
//! - `simd`: 128-bit vectors, including relaxed SIMD

pub mod call;
pub mod control;
pub mod convert;
pub mod locals;
pub mod memory;
pub mod numeric;
pub mod simd;
pub mod table;
pub mod exceptions;

use crate::error::Error;
use lucet_module::ValType;
use wasmparser::Operator;

/// A value type as lucetc represents it.
pub fn val_type(t: wasmparser::ValType, offset: usize) -> Result<ValType, Error> {
    super::module::val_type(t, offset)
}

macro_rules! define_proposal_of {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
        /// The name of the WebAssembly proposal that introduced `op`.
        fn proposal_of(op: &Operator<'_>) -> &'static str {
            match op {
                $( Operator::$op { .. } => stringify!($proposal), )*
                _ => "unknown",
            }
        }
    };
}
wasmparser::for_each_operator!(define_proposal_of);

/// Whether `op` belongs to the GC proposal.
pub fn is_gc(op: &Operator<'_>) -> bool {
    proposal_of(op) == "gc"
}

/// The error for a valid operator lucetc does not compile, naming its proposal.
pub fn not_supported(offset: usize, op: &Operator<'_>) -> Error {
    let proposal = match proposal_of(op) {
        "gc" => "garbage collection",
        "exceptions" | "legacy_exceptions" => "exception handling",
        "threads" | "shared_everything_threads" => "threads",
        "stack_switching" => "stack switching",
        "wide_arithmetic" => "wide arithmetic",
        "custom_descriptors" => "custom descriptors",
        other => other,
    };
    Error::Unsupported(format!("not supported yet: {proposal} (`{op:?}` at byte offset {offset:#x})"))
}
