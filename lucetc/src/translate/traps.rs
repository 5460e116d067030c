//! Cranelift trap codes for the traps Cranelift has no name for, and the mapping of every
//! trap code to the `lucet_module::TrapCode` recorded in the metadata.

use cranelift_codegen::ir::TrapCode as ClifTrap;
use lucet_module::TrapCode;

pub const TABLE_OUT_OF_BOUNDS: ClifTrap = ClifTrap::unwrap_user(1);
pub const INDIRECT_CALL_TO_NULL: ClifTrap = ClifTrap::unwrap_user(2);
pub const BAD_SIGNATURE: ClifTrap = ClifTrap::unwrap_user(3);
pub const UNREACHABLE: ClifTrap = ClifTrap::unwrap_user(4);
pub const NULL_REFERENCE: ClifTrap = ClifTrap::unwrap_user(5);
pub const HEAP_MISALIGNED: ClifTrap = ClifTrap::unwrap_user(6);

/// What the runtime reports for a trap site with Cranelift code `code`.
pub fn lucet_trap_code(code: ClifTrap) -> TrapCode {
    match code {
        ClifTrap::STACK_OVERFLOW => TrapCode::StackOverflow,
        ClifTrap::HEAP_OUT_OF_BOUNDS => TrapCode::HeapOutOfBounds,
        ClifTrap::INTEGER_OVERFLOW => TrapCode::IntegerOverflow,
        ClifTrap::INTEGER_DIVISION_BY_ZERO => TrapCode::IntegerDivByZero,
        ClifTrap::BAD_CONVERSION_TO_INTEGER => TrapCode::BadConversionToInteger,
        TABLE_OUT_OF_BOUNDS => TrapCode::TableOutOfBounds,
        INDIRECT_CALL_TO_NULL => TrapCode::IndirectCallToNull,
        BAD_SIGNATURE => TrapCode::BadSignature,
        UNREACHABLE => TrapCode::Unreachable,
        NULL_REFERENCE => TrapCode::NullReference,
        HEAP_MISALIGNED => TrapCode::HeapMisaligned,
        _ => TrapCode::Unknown,
    }
}
