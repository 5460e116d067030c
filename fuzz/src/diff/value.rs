//! What both engines report, in one vocabulary, and how it is compared.

use std::fmt;

/// A wasm value as either engine returns it. Floats are kept as bits with every NaN
/// made canonical (the spec leaves NaN payloads open); references are compared only
/// for being null, since their bits are engine-internal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    FuncRef { null: bool },
    ExternRef { null: bool },
}

impl Value {
    pub fn f32(bits: u32) -> Value {
        Value::F32(if f32::from_bits(bits).is_nan() {
            0x7fc0_0000
        } else {
            bits
        })
    }
    pub fn f64(bits: u64) -> Value {
        Value::F64(if f64::from_bits(bits).is_nan() {
            0x7ff8_0000_0000_0000
        } else {
            bits
        })
    }
}

/// The trap kinds both engines distinguish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    Unreachable,
    MemoryOutOfBounds,
    TableOutOfBounds,
    IndirectCallToNull,
    BadSignature,
    IntegerDivisionByZero,
    IntegerOverflow,
    BadConversionToInteger,
    NullReference,
    StackOverflow,
    /// A trap code with no counterpart in the other engine (named).
    Other(&'static str),
}

/// How a call (or an instantiation) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Returned(Vec<Value>),
    Trapped(Trap),
    /// Anything that is neither a result nor a trap: an engine error.
    Error(String),
}

impl Outcome {
    pub fn is_stack_overflow(&self) -> bool {
        matches!(self, Outcome::Trapped(Trap::StackOverflow))
    }
}

/// What can be observed of an instance between calls, for every export: memories
/// (size, and the contents where the engine lets the harness read them), globals and
/// table sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Export name, size in bytes, contents (`None` where not readable).
    pub memories: Vec<(String, u64, Option<Vec<u8>>)>,
    pub globals: Vec<(String, Value)>,
    pub tables: Vec<(String, u64)>,
}

impl State {
    /// The first difference from `other` (the reference), described.
    pub fn difference(&self, reference: &State) -> Option<String> {
        for (a, b) in self.memories.iter().zip(&reference.memories) {
            if a.0 != b.0 {
                return Some(format!("memory exports differ: {} vs {}", a.0, b.0));
            }
            if a.1 != b.1 {
                return Some(format!(
                    "memory `{}`: {} bytes, the reference has {}",
                    a.0, a.1, b.1
                ));
            }
            if let (Some(x), Some(y)) = (&a.2, &b.2) {
                if let Some(at) = x.iter().zip(y.iter()).position(|(p, q)| p != q) {
                    return Some(format!(
                        "memory `{}` differs at byte {at:#x}: {:#04x}, the reference has {:#04x}",
                        a.0, x[at], y[at]
                    ));
                }
            }
        }
        if self.memories.len() != reference.memories.len() {
            return Some(format!(
                "{} memories, the reference has {}",
                self.memories.len(),
                reference.memories.len()
            ));
        }
        if self.globals != reference.globals {
            for (a, b) in self.globals.iter().zip(&reference.globals) {
                if a != b {
                    return Some(format!(
                        "global `{}` is {:?}, the reference has {:?}",
                        a.0, a.1, b.1
                    ));
                }
            }
            return Some(format!(
                "{} globals, the reference has {}",
                self.globals.len(),
                reference.globals.len()
            ));
        }
        if self.tables != reference.tables {
            return Some(format!(
                "table sizes {:?}, the reference has {:?}",
                self.tables, reference.tables
            ));
        }
        None
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Returned(v) => write!(f, "returned {v:?}"),
            Outcome::Trapped(t) => write!(f, "trapped ({t:?})"),
            Outcome::Error(e) => write!(f, "error: {e}"),
        }
    }
}
