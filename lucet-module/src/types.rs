use serde::{Deserialize, Serialize};
use std::fmt;

/// A WebAssembly value type as it crosses the host/guest boundary.
///
/// References are pointer-sized: a `funcref` is a pointer to a [`crate::FuncRef`]
/// (null is 0) and an `externref` is an opaque host word (null is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    FuncRef,
    ExternRef,
    /// A reference to an exception object (see [`crate::ExceptionHeader`]); null is 0.
    ExnRef,
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
            ValType::ExnRef => "exnref",
        })
    }
}

/// The element type of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefType {
    FuncRef,
    ExternRef,
    ExnRef,
}

impl From<RefType> for ValType {
    fn from(r: RefType) -> ValType {
        match r {
            RefType::FuncRef => ValType::FuncRef,
            RefType::ExternRef => ValType::ExternRef,
            RefType::ExnRef => ValType::ExnRef,
        }
    }
}

/// A function signature. Two signatures are the same type exactly when they are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct FuncType {
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[ValType]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
        write!(f, "({}) -> ({})", list(&self.params), list(&self.results))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableType {
    pub elem: RefType,
    pub min: u64,
    pub max: Option<u64>,
    /// Indexed with `i64` (memory64's 64-bit tables) rather than `i32`.
    pub table64: bool,
    /// What typed function references add to the element type.
    pub shape: RefShape,
}

/// Sizes are in wasm pages of 64 KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemoryType {
    pub min_pages: u64,
    pub max_pages: Option<u64>,
    pub memory64: bool,
    pub shared: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GlobalType {
    pub ty: ValType,
    pub mutable: bool,
    /// For a reference type: what typed function references add to it.
    pub shape: RefShape,
}

/// What a reference type says beyond its [`RefType`] (typed function references):
/// whether it admits null, and the function type its functions must have. The default
/// (`funcref`, `externref`, and every non-reference type) is nullable and untyped.
///
/// Linking checks these, because compiled code relies on them: `call_ref` through a
/// `(ref $t)` checks only for null, not the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RefShape {
    pub nullable: bool,
    /// In [`crate::ModuleData`], a type index of the module. In the runtime's types of
    /// live tables and globals (`Table::ty`, `Global::ty`), the process-wide signature id
    /// of that type, so that shapes compare across modules.
    pub func_type: Option<u32>,
}

impl Default for RefShape {
    fn default() -> RefShape {
        RefShape { nullable: true, func_type: None }
    }
}

impl RefShape {
    /// The same shape with its function type index replaced by `f(index)` (`None` for an
    /// index `f` does not know, which then matches no shape with a function type).
    pub fn map_func_type(self, f: impl FnOnce(u32) -> Option<u32>) -> RefShape {
        RefShape { func_type: self.func_type.map(|t| f(t).unwrap_or(u32::MAX)), ..self }
    }

    /// Whether a value of shape `self` is a value of shape `want` (subtyping).
    pub fn matches(self, want: RefShape) -> bool {
        (want.nullable || !self.nullable) && (want.func_type.is_none() || want.func_type == self.func_type)
    }
}
