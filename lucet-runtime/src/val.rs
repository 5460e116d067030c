//! Values crossing the host/guest boundary.

use lucet_module::ValType;

/// An argument to a guest function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    V128(u128),
    /// A function reference: a pointer to a `FuncRef`, or null.
    FuncRef(usize),
    /// An opaque host word; 0 is null.
    ExternRef(usize),
}

impl Val {
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// The value as the low bytes of a 16-byte slot (the trampoline ABI).
    pub fn to_slot(&self) -> [u8; 16] {
        let bits: u128 = match *self {
            Val::I32(v) => v as u32 as u128,
            Val::I64(v) => v as u64 as u128,
            Val::F32(v) => v.to_bits() as u128,
            Val::F64(v) => v.to_bits() as u128,
            Val::V128(v) => v,
            Val::FuncRef(v) | Val::ExternRef(v) => v as u128,
        };
        bits.to_le_bytes()
    }

    /// Reads a value of type `ty` from a 16-byte slot.
    pub fn from_slot(ty: ValType, slot: &[u8; 16]) -> Val {
        let bits = u128::from_le_bytes(*slot);
        match ty {
            ValType::I32 => Val::I32(bits as u32 as i32),
            ValType::I64 => Val::I64(bits as u64 as i64),
            ValType::F32 => Val::F32(f32::from_bits(bits as u32)),
            ValType::F64 => Val::F64(f64::from_bits(bits as u64)),
            ValType::V128 => Val::V128(bits),
            ValType::FuncRef => Val::FuncRef(bits as u64 as usize),
            ValType::ExternRef => Val::ExternRef(bits as u64 as usize),
        }
    }
}

macro_rules! val_from {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {
        $(impl From<$t> for Val {
            fn from(v: $t) -> Val { Val::$variant(v as $as) }
        })*
    };
}
val_from!(i32 => I32 as i32, u32 => I32 as i32, i64 => I64 as i64, u64 => I64 as i64,
          f32 => F32 as f32, f64 => F64 as f64, usize => I64 as i64, u128 => V128 as u128);

impl From<bool> for Val {
    fn from(b: bool) -> Val {
        Val::I32(b as i32)
    }
}

/// What a guest function returned, before the host says which type it expects.
///
/// Like the original Lucet, the value is kept as raw bits: convert it with `into()`
/// or the `as_*` methods. A function with several results returns them all through
/// [`UntypedRetVal::values`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UntypedRetVal {
    values: Vec<Val>,
}

impl UntypedRetVal {
    pub fn new(values: Vec<Val>) -> UntypedRetVal {
        UntypedRetVal { values }
    }

    /// Every result, in order.
    pub fn values(&self) -> &[Val] {
        &self.values
    }

    fn bits(&self) -> u128 {
        self.values.first().map(|v| u128::from_le_bytes(v.to_slot())).unwrap_or(0)
    }

    pub fn as_u32(&self) -> u32 {
        self.bits() as u32
    }
    pub fn as_i32(&self) -> i32 {
        self.bits() as u32 as i32
    }
    pub fn as_u64(&self) -> u64 {
        self.bits() as u64
    }
    pub fn as_i64(&self) -> i64 {
        self.bits() as u64 as i64
    }
    pub fn as_f32(&self) -> f32 {
        f32::from_bits(self.bits() as u32)
    }
    pub fn as_f64(&self) -> f64 {
        f64::from_bits(self.bits() as u64)
    }
    pub fn as_bool(&self) -> bool {
        self.as_u32() != 0
    }
}

macro_rules! retval_into {
    ($($t:ty => $m:ident),* $(,)?) => {
        $(impl From<UntypedRetVal> for $t {
            fn from(r: UntypedRetVal) -> $t { r.$m() }
        })*
    };
}
retval_into!(u32 => as_u32, i32 => as_i32, u64 => as_u64, i64 => as_i64, f32 => as_f32, f64 => as_f64, bool => as_bool);

/// How a run ended when it did not fail.
#[derive(Debug)]
pub enum RunResult {
    /// The function returned.
    Returned(UntypedRetVal),
    /// A hostcall yielded; resume the instance to continue.
    Yielded(YieldedVal),
}

/// A value passed to the host by a yielding hostcall.
#[derive(Debug)]
pub struct YieldedVal(pub Option<Box<dyn std::any::Any + Send>>);

impl RunResult {
    /// The returned value; panics if the guest yielded.
    pub fn unwrap_returned(self) -> UntypedRetVal {
        match self {
            RunResult::Returned(v) => v,
            RunResult::Yielded(_) => panic!("called `unwrap_returned` on a run that yielded; call `resume()` first"),
        }
    }

    pub fn returned(self) -> Result<UntypedRetVal, crate::Error> {
        match self {
            RunResult::Returned(v) => Ok(v),
            RunResult::Yielded(_) => Err(crate::Error::InstanceNotReturned),
        }
    }

    pub fn is_returned(&self) -> bool {
        matches!(self, RunResult::Returned(_))
    }
}
