//! Values crossing the host/guest boundary.

use lucet_module::ValType;
use std::ffi::c_void;

/// An argument to a guest function.
///
/// The first seven variants are the WebAssembly value types; results and globals are
/// always read back as one of them. The others are the original Lucet's argument
/// variants, kept so that hosts written for it compile and run unchanged: `run` accepts
/// any of them for a parameter of the same class (integer or float) when the value
/// fits the parameter's type, so a pointer the guest returned can be passed back as a
/// `usize`. [`crate::TypedFunc`] stays strict.
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
    /// A guest's exception object, or null (0). The host can only pass null.
    ExnRef(usize),
    /// A host pointer, passed as its address.
    CPtr(*const c_void),
    /// An offset into the guest's memory.
    GuestPtr(u32),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    I8(i8),
    I16(i16),
    USize(usize),
    ISize(isize),
    Bool(bool),
}

// SAFETY: a `CPtr` is only ever read as an integer (its address is handed to the guest
// as a number); the runtime never dereferences it, so sending it to another thread
// cannot create shared access to anything.
unsafe impl Send for Val {}
// SAFETY: as above; `Val` has no interior mutability.
unsafe impl Sync for Val {}

/// Why a [`Val`] cannot be passed for a parameter of some type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValMismatch {
    /// The value is of another class (an integer for a float parameter, say).
    Class,
    /// The value is of the right class but outside the parameter type's range.
    Range,
}

impl Val {
    /// The WebAssembly type of the value: for the original Lucet's integer variants, the
    /// narrowest of `i32` and `i64` that holds every value of the Rust type.
    #[inline]
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) | Val::U8(_) | Val::U16(_) | Val::U32(_) | Val::I8(_) | Val::I16(_) => ValType::I32,
            Val::GuestPtr(_) | Val::Bool(_) => ValType::I32,
            Val::I64(_) | Val::U64(_) | Val::USize(_) | Val::ISize(_) | Val::CPtr(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
            Val::ExnRef(_) => ValType::ExnRef,
        }
    }

    /// The Rust-side name of the variant, for messages (`usize`, `u8`, `i32`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::I32(_) => "i32",
            Val::I64(_) => "i64",
            Val::F32(_) => "f32",
            Val::F64(_) => "f64",
            Val::V128(_) => "v128",
            Val::FuncRef(_) => "funcref",
            Val::ExternRef(_) => "externref",
            Val::ExnRef(_) => "exnref",
            Val::CPtr(_) => "CPtr",
            Val::GuestPtr(_) => "GuestPtr",
            Val::U8(_) => "u8",
            Val::U16(_) => "u16",
            Val::U32(_) => "u32",
            Val::U64(_) => "u64",
            Val::I8(_) => "i8",
            Val::I16(_) => "i16",
            Val::USize(_) => "usize",
            Val::ISize(_) => "isize",
            Val::Bool(_) => "bool",
        }
    }

    /// An integer variant's value, extended as its Rust type says; `None` for the others.
    #[inline]
    fn integer(&self) -> Option<i128> {
        Some(match *self {
            Val::I32(v) => v.into(),
            Val::I64(v) => v.into(),
            Val::I8(v) => v.into(),
            Val::I16(v) => v.into(),
            Val::ISize(v) => v as i128,
            Val::U8(v) => v.into(),
            Val::U16(v) => v.into(),
            Val::U32(v) => v.into(),
            Val::U64(v) => v.into(),
            Val::USize(v) => v as i128,
            Val::GuestPtr(v) => v.into(),
            Val::CPtr(p) => p as usize as i128,
            Val::Bool(b) => b.into(),
            _ => return None,
        })
    }

    /// The same value as the WebAssembly variant for type `ty`.
    ///
    /// Integers of any variant fit `i32` when they lie in `i32::MIN..=u32::MAX` (a `u32`
    /// is passed by its bits, as in the original Lucet) and `i64` when they lie in
    /// `i64::MIN..=u64::MAX`. An `f32` widens to `f64`; an `f64` narrows to `f32` only
    /// when no precision is lost (NaN included). Vectors and references convert only to
    /// their own type.
    pub fn coerce(&self, ty: ValType) -> Result<Val, ValMismatch> {
        if self.ty() == ty && matches!(self, Val::I32(_) | Val::I64(_) | Val::F32(_) | Val::F64(_)) {
            return Ok(*self);
        }
        match ty {
            ValType::I32 | ValType::I64 => {
                let v = self.integer().ok_or(ValMismatch::Class)?;
                if ty == ValType::I32 {
                    if (i128::from(i32::MIN)..=i128::from(u32::MAX)).contains(&v) {
                        Ok(Val::I32(v as u32 as i32))
                    } else {
                        Err(ValMismatch::Range)
                    }
                } else if (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&v) {
                    Ok(Val::I64(v as u64 as i64))
                } else {
                    Err(ValMismatch::Range)
                }
            }
            ValType::F32 => match *self {
                Val::F32(v) => Ok(Val::F32(v)),
                Val::F64(v) if v.is_nan() || (v as f32) as f64 == v => Ok(Val::F32(v as f32)),
                Val::F64(_) => Err(ValMismatch::Range),
                _ => Err(ValMismatch::Class),
            },
            ValType::F64 => match *self {
                Val::F32(v) => Ok(Val::F64(v.into())),
                Val::F64(v) => Ok(Val::F64(v)),
                _ => Err(ValMismatch::Class),
            },
            // Only the guest makes exception objects: a host can pass null only.
            ValType::ExnRef => match *self {
                Val::ExnRef(0) => Ok(*self),
                _ => Err(ValMismatch::Class),
            },
            ValType::V128 | ValType::FuncRef | ValType::ExternRef => {
                if self.ty() == ty {
                    Ok(*self)
                } else {
                    Err(ValMismatch::Class)
                }
            }
        }
    }

    /// The value as the low bytes of a 16-byte slot (the trampoline ABI), in the
    /// representation of its own type ([`Val::ty`]).
    #[inline]
    pub fn to_slot(&self) -> [u8; 16] {
        let bits: u128 = match *self {
            Val::F32(v) => v.to_bits() as u128,
            Val::F64(v) => v.to_bits() as u128,
            Val::V128(v) => v,
            Val::FuncRef(v) | Val::ExternRef(v) | Val::ExnRef(v) => v as u128,
            _ => {
                let v = self.integer().unwrap_or_default();
                if self.ty() == ValType::I32 {
                    v as u32 as u128
                } else {
                    v as u64 as u128
                }
            }
        };
        bits.to_le_bytes()
    }

    /// Reads a value of type `ty` from a 16-byte slot.
    #[inline]
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
            ValType::ExnRef => Val::ExnRef(bits as u64 as usize),
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
// The same variants the original Lucet's conversions chose, so `ptr.into()` for a
// `ptr: usize` is a `USize` that `run` accepts for an `i32` parameter when it fits.
val_from!(i32 => I32 as i32, i64 => I64 as i64, f32 => F32 as f32, f64 => F64 as f64, u128 => V128 as u128,
          u8 => U8 as u8, u16 => U16 as u16, u32 => U32 as u32, u64 => U64 as u64,
          i8 => I8 as i8, i16 => I16 as i16, usize => USize as usize, isize => ISize as isize);

impl From<bool> for Val {
    fn from(b: bool) -> Val {
        Val::Bool(b)
    }
}

impl<T> From<*const T> for Val {
    fn from(p: *const T) -> Val {
        Val::CPtr(p as *const c_void)
    }
}

impl<T> From<*mut T> for Val {
    fn from(p: *mut T) -> Val {
        Val::CPtr(p as *const c_void)
    }
}

impl std::fmt::Display for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Val::F32(v) => write!(f, "{v}"),
            Val::F64(v) => write!(f, "{v}"),
            Val::V128(v) => write!(f, "{v:#034x}"),
            Val::FuncRef(v) | Val::ExternRef(v) | Val::ExnRef(v) => write!(f, "{v:#x}"),
            Val::CPtr(p) => write!(f, "{p:p}"),
            _ => write!(f, "{}", self.integer().unwrap_or_default()),
        }
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

    pub fn returned(self) -> Result<UntypedRetVal, crate::error::Error> {
        match self {
            RunResult::Returned(v) => Ok(v),
            RunResult::Yielded(_) => Err(crate::error::Error::InstanceNotReturned),
        }
    }

    pub fn is_returned(&self) -> bool {
        matches!(self, RunResult::Returned(_))
    }
}
