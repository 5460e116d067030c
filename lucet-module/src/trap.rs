use serde::{Deserialize, Serialize};
use std::fmt;

/// Why guest code stopped abnormally.
///
/// Each faulting instruction in compiled code is recorded as a [`TrapSite`]; the
/// runtime's signal handler maps the faulting program counter back to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrapCode {
    /// A load or store outside the accessible part of linear memory.
    HeapOutOfBounds,
    /// The guest used up its stack.
    StackOverflow,
    IntegerDivByZero,
    IntegerOverflow,
    /// A float-to-int conversion of NaN or of a value out of the target's range.
    BadConversionToInteger,
    /// The `unreachable` instruction.
    Unreachable,
    /// `call_indirect` on a null table entry (or a null function reference).
    IndirectCallToNull,
    /// `call_indirect` whose table entry has a different signature.
    BadSignature,
    /// A table index (including `call_indirect`'s) past the table's end.
    TableOutOfBounds,
    /// A null reference where a non-null one was required.
    NullReference,
    /// A misaligned atomic access.
    HeapMisaligned,
    /// A fault at a site the compiler did not record; the runtime reports it with
    /// the faulting address.
    Unknown,
}

impl TrapCode {
    /// Every code, in the order of [`TrapCode::as_u32`].
    pub const ALL: [TrapCode; 12] = [
        TrapCode::HeapOutOfBounds,
        TrapCode::StackOverflow,
        TrapCode::IntegerDivByZero,
        TrapCode::IntegerOverflow,
        TrapCode::BadConversionToInteger,
        TrapCode::Unreachable,
        TrapCode::IndirectCallToNull,
        TrapCode::BadSignature,
        TrapCode::TableOutOfBounds,
        TrapCode::NullReference,
        TrapCode::HeapMisaligned,
        TrapCode::Unknown,
    ];

    /// The code's number in the trap tables of a `.so`.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    pub fn from_u32(code: u32) -> Option<TrapCode> {
        TrapCode::ALL.get(code as usize).copied()
    }

    /// A short human description, as the spec test suite words it where it can.
    pub fn description(self) -> &'static str {
        match self {
            TrapCode::HeapOutOfBounds => "out of bounds memory access",
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::IntegerDivByZero => "integer divide by zero",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::Unreachable => "unreachable executed",
            TrapCode::IndirectCallToNull => "uninitialized element (indirect call to null)",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::TableOutOfBounds => "undefined element (table index out of bounds)",
            TrapCode::NullReference => "null reference",
            TrapCode::HeapMisaligned => "unaligned atomic",
            TrapCode::Unknown => "unknown fault",
        }
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self)
    }
}

/// A faulting instruction of one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrapSite {
    /// Byte offset of the instruction from the start of its function's code.
    pub offset: u32,
    pub code: TrapCode,
    /// Byte offset of the originating instruction in the wasm binary, when known.
    pub wasm_offset: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_code_numbers_round_trip() {
        for (i, code) in TrapCode::ALL.iter().enumerate() {
            assert_eq!(code.as_u32(), i as u32);
            assert_eq!(TrapCode::from_u32(i as u32), Some(*code));
        }
        assert_eq!(TrapCode::from_u32(TrapCode::ALL.len() as u32), None);
    }
}
