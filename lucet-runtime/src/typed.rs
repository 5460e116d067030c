//! Calls and host functions with Rust types instead of `Val` lists.
//!
//! [`Instance::typed_func`] looks an export up once and checks its signature against the
//! Rust types the caller names, so each [`TypedFunc::call`] needs no per-call
//! bookkeeping from the caller and cannot pass arguments of the wrong type.
//! [`Linker::func_wrap`] is the converse: it turns a Rust closure into a host function
//! whose wasm signature is derived from the closure's parameter and return types.
//!
//! Rust types map to wasm types as `i32`/`u32` → `i32`, `i64`/`u64` → `i64`, `f32`,
//! `f64`, and `u128` → `v128`. Several results are written as a tuple; no result as `()`.

use crate::error::Error;
use crate::exec::Left;
use crate::instance::{CallSig, Func, Instance, Trap};
use crate::linker::Linker;
use crate::val::Val;
use crate::vmctx::Vmctx;
use lucet_module::{FuncType, ValType, VALUE_SLOT_SIZE};
use std::marker::PhantomData;

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that stands for one wasm value type.
pub trait WasmTy: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The wasm type.
    const VAL_TYPE: ValType;
    #[doc(hidden)]
    fn into_val(self) -> Val;
    #[doc(hidden)]
    fn from_val(v: &Val) -> Self;
}

macro_rules! wasm_ty {
    ($($t:ty => $vt:ident, $variant:ident, $as:ty);* $(;)?) => {$(
        impl sealed::Sealed for $t {}
        impl WasmTy for $t {
            const VAL_TYPE: ValType = ValType::$vt;
            #[inline]
            fn into_val(self) -> Val {
                Val::$variant(self as $as)
            }
            #[inline]
            fn from_val(v: &Val) -> Self {
                match *v {
                    Val::$variant(x) => x as $t,
                    // The signature was checked when the function was looked up.
                    _ => unreachable!("a {} value where the signature says {}", v.ty(), ValType::$vt),
                }
            }
        }
    )*};
}
wasm_ty!(i32 => I32, I32, i32; u32 => I32, I32, i32; i64 => I64, I64, i64; u64 => I64, I64, i64;
         f32 => F32, F32, f32; f64 => F64, F64, f64; u128 => V128, V128, u128);

/// The parameters of a typed call: `()`, one [`WasmTy`], or a tuple of them.
pub trait WasmParams: Send + 'static {
    #[doc(hidden)]
    fn types() -> Vec<ValType>;
    #[doc(hidden)]
    fn into_vals(self) -> Vec<Val>;
    #[doc(hidden)]
    fn from_vals(vals: &[Val]) -> Self;
    #[doc(hidden)]
    fn write_slots(self, slots: &mut [[u8; VALUE_SLOT_SIZE]])
    where
        Self: Sized,
    {
        for (s, v) in slots.iter_mut().zip(self.into_vals()) {
            *s = v.to_slot();
        }
    }
}

/// The results of a typed call: `()`, one [`WasmTy`], or a tuple of them.
pub trait WasmResults: Send + 'static {
    #[doc(hidden)]
    fn types() -> Vec<ValType>;
    #[doc(hidden)]
    fn from_vals(vals: &[Val]) -> Self;
    #[doc(hidden)]
    fn into_vals(self) -> Vec<Val>;
    #[doc(hidden)]
    fn read_slots(slots: &[[u8; VALUE_SLOT_SIZE]]) -> Self
    where
        Self: Sized,
    {
        let vals: Vec<Val> = Self::types().iter().zip(slots).map(|(t, s)| Val::from_slot(*t, s)).collect();
        Self::from_vals(&vals)
    }
}

impl<T: WasmTy> WasmParams for T {
    fn types() -> Vec<ValType> {
        vec![T::VAL_TYPE]
    }
    fn into_vals(self) -> Vec<Val> {
        vec![self.into_val()]
    }
    fn from_vals(vals: &[Val]) -> Self {
        T::from_val(&vals[0])
    }
    fn write_slots(self, slots: &mut [[u8; VALUE_SLOT_SIZE]]) {
        slots[0] = self.into_val().to_slot();
    }
}

impl<T: WasmTy> WasmResults for T {
    fn types() -> Vec<ValType> {
        vec![T::VAL_TYPE]
    }
    fn from_vals(vals: &[Val]) -> Self {
        T::from_val(&vals[0])
    }
    fn into_vals(self) -> Vec<Val> {
        vec![self.into_val()]
    }
    fn read_slots(slots: &[[u8; VALUE_SLOT_SIZE]]) -> Self {
        T::from_val(&Val::from_slot(T::VAL_TYPE, &slots[0]))
    }
}

macro_rules! tuples {
    ($(($($t:ident $i:tt),*)),* $(,)?) => {$(
        impl<$($t: WasmTy),*> WasmParams for ($($t,)*) {
            fn types() -> Vec<ValType> {
                vec![$($t::VAL_TYPE),*]
            }
            #[allow(clippy::unused_unit)]
            fn into_vals(self) -> Vec<Val> {
                vec![$(self.$i.into_val()),*]
            }
            #[allow(unused_variables, clippy::unused_unit)]
            fn from_vals(vals: &[Val]) -> Self {
                ($($t::from_val(&vals[$i]),)*)
            }
            #[allow(unused_variables)]
            fn write_slots(self, slots: &mut [[u8; VALUE_SLOT_SIZE]]) {
                $(slots[$i] = self.$i.into_val().to_slot();)*
            }
        }
        impl<$($t: WasmTy),*> WasmResults for ($($t,)*) {
            fn types() -> Vec<ValType> {
                vec![$($t::VAL_TYPE),*]
            }
            #[allow(unused_variables, clippy::unused_unit)]
            fn from_vals(vals: &[Val]) -> Self {
                ($($t::from_val(&vals[$i]),)*)
            }
            #[allow(clippy::unused_unit)]
            fn into_vals(self) -> Vec<Val> {
                vec![$(self.$i.into_val()),*]
            }
            #[allow(unused_variables, clippy::unused_unit)]
            fn read_slots(slots: &[[u8; VALUE_SLOT_SIZE]]) -> Self {
                ($($t::from_val(&Val::from_slot($t::VAL_TYPE, &slots[$i])),)*)
            }
        }
    )*};
}
tuples!(
    (),
    (A 0),
    (A 0, B 1),
    (A 0, B 1, C 2),
    (A 0, B 1, C 2, D 3),
    (A 0, B 1, C 2, D 3, E 4),
    (A 0, B 1, C 2, D 3, E 4, F 5),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7),
);

/// What a hostcall declared with `#[lucet_hostcall]` may return: `()` or one
/// [`WasmTy`]. Used by the macro to describe the hostcall's signature.
pub trait HostcallResult {
    const RESULTS: &'static [ValType];
}

impl HostcallResult for () {
    const RESULTS: &'static [ValType] = &[];
}

impl<T: WasmTy> HostcallResult for T {
    const RESULTS: &'static [ValType] = &[T::VAL_TYPE];
}

fn describe(types: &[ValType]) -> String {
    types.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
}

/// An exported function whose signature was checked against `Params -> Results`.
/// Obtained with [`Instance::typed_func`]; it can call that instance, or any other
/// instance whose module exports a function of that name and signature (checked again,
/// by name, when the module differs from the one it was looked up on).
pub struct TypedFunc<Params, Results> {
    index: u32,
    name: String,
    /// Identity of the module the signature was checked against.
    module: *const (),
    /// The function's signature in that module, looked up once.
    sig: CallSig,
    _types: PhantomData<fn(Params) -> Results>,
}

// SAFETY: `module` is only compared, never dereferenced; `sig` holds the address of a
// trampoline in that module's code, which is only called on an instance of that same
// module (which keeps the code loaded), never dereferenced as data.
unsafe impl<P, R> Send for TypedFunc<P, R> {}
// SAFETY: as above.
unsafe impl<P, R> Sync for TypedFunc<P, R> {}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        TypedFunc {
            index: self.index,
            name: self.name.clone(),
            module: self.module,
            sig: self.sig,
            _types: PhantomData,
        }
    }
}

impl<P, R> std::fmt::Debug for TypedFunc<P, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedFunc").field("name", &self.name).field("index", &self.index).finish()
    }
}

#[inline]
fn module_identity(instance: &Instance) -> *const () {
    std::sync::Arc::as_ptr(instance.module()) as *const ()
}

impl<P: WasmParams, R: WasmResults> TypedFunc<P, R> {
    /// Calls the function on `instance`. A guest that yields is reported as
    /// `Error::InstanceNotReturned` (the instance stays yielded: resume or reset it).
    #[inline]
    pub fn call(&self, instance: &mut Instance, params: P) -> Result<R, Error> {
        if module_identity(instance) != self.module {
            return self.call_other_module(instance, params);
        }
        // No `Val`s on this path: the parameters go straight into the value slots and
        // the results come straight out of them; the types were checked by `typed_func`.
        instance.check_runnable()?;
        let left = instance.call_resolved(self.index, self.sig, |slots| params.write_slots(slots))?;
        if left == Left::Returned {
            return Ok(R::read_slots(instance.returned_slots(self.sig.n_slots)));
        }
        Err(instance.not_returned(left, &self.sig))
    }

    /// `call` on an instance of another module than the one the function was looked
    /// up on: looked up again, by name.
    #[cold]
    fn call_other_module(&self, instance: &mut Instance, params: P) -> Result<R, Error> {
        let f = instance.typed_func::<P, R>(&self.name).map_err(|e| {
            Error::InvalidArgument(format!(
                "the typed function `{}` was looked up on an instance of another module, and this instance's \
                 module does not match it: {e}",
                self.name
            ))
        })?;
        f.call(instance, params)
    }
}

impl Instance {
    /// Looks up the exported function `name` and checks that its signature is
    /// `Params -> Results`:
    ///
    /// ```no_run
    /// # fn f(mut instance: lucet_runtime::InstanceHandle) -> Result<(), lucet_runtime::Error> {
    /// let add = instance.typed_func::<(i32, i32), i32>("add")?;
    /// assert_eq!(add.call(&mut instance, (5, 3))?, 8);
    /// # Ok(()) }
    /// ```
    pub fn typed_func<Params: WasmParams, Results: WasmResults>(
        &self,
        name: &str,
    ) -> Result<TypedFunc<Params, Results>, Error> {
        let index = self.export_func_index(name)?;
        let data = self.module().module_data();
        let actual = data
            .func_type(index)
            .ok_or_else(|| Error::Internal(format!("export `{name}` names function {index}, which has no type")))?;
        let (params, results) = (Params::types(), Results::types());
        if actual.params != params || actual.results != results {
            return Err(Error::InvalidArgument(format!(
                "function `{name}` has signature {actual}, but typed_func asked for ({}) -> ({}); change the type \
                 parameters to match the export",
                describe(&params),
                describe(&results)
            )));
        }
        let sig = CallSig::of(&**self.module(), index);
        Ok(TypedFunc { index, name: name.to_string(), module: module_identity(self), sig, _types: PhantomData })
    }
}

/// What a closure given to [`Linker::func_wrap`] may return: `()`, a [`WasmTy`], a
/// tuple of them, or a `Result` of one of those with a [`Trap`] (which ends the run).
pub trait HostReturn: 'static {
    #[doc(hidden)]
    fn types() -> Vec<ValType>;
    #[doc(hidden)]
    fn into_result(self) -> Result<Vec<Val>, Trap>;
}

impl<T: WasmResults> HostReturn for T {
    fn types() -> Vec<ValType> {
        T::types()
    }
    fn into_result(self) -> Result<Vec<Val>, Trap> {
        Ok(self.into_vals())
    }
}

impl<T: WasmResults> HostReturn for Result<T, Trap> {
    fn types() -> Vec<ValType> {
        T::types()
    }
    fn into_result(self) -> Result<Vec<Val>, Trap> {
        self.map(|v| v.into_vals())
    }
}

/// A closure [`Linker::func_wrap`] accepts. `Params` is a marker: the tuple of the
/// closure's wasm parameter types, preceded by [`WithVmctx`] if the closure takes the
/// calling instance's `&Vmctx` first.
pub trait IntoHostFunc<Params, Results>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_func(self) -> Func;
}

/// Marks closures whose first parameter is `&Vmctx` (see [`IntoHostFunc`]).
pub struct WithVmctx;

/// The vmctx of the instance whose run is calling a host function. Host functions
/// run on the guest's stack inside that run.
fn calling_vmctx() -> Result<&'static Vmctx, Trap> {
    match crate::exec::current_vmctx() {
        // SAFETY: the vmctx of the run in progress on this thread; the closure only
        // gets it for the duration of the call.
        Some(p) if !p.is_null() => Ok(unsafe { &*(p as *const Vmctx) }),
        _ => Err(Trap::new("a host function that takes &Vmctx was called outside a guest run")),
    }
}

impl Func {
    /// A host function with the given signature that also receives the calling
    /// instance's `&Vmctx` (as [`Linker::func_wrap`] closures can): for hosts that
    /// learn signatures at run time, such as the C API, and need the caller's memory or
    /// want to yield.
    pub fn new_with_vmctx<F>(ty: FuncType, f: F) -> Func
    where
        F: Fn(&Vmctx, &[Val]) -> Result<Vec<Val>, Trap> + Send + Sync + 'static,
    {
        Func::new(ty, move |args: &[Val]| f(calling_vmctx()?, args))
    }
}

macro_rules! into_host_func {
    ($(($($t:ident $i:tt),*)),* $(,)?) => {$(
        impl<Func_, R, $($t: WasmTy),*> IntoHostFunc<($($t,)*), R> for Func_
        where
            Func_: Fn($($t),*) -> R + Send + Sync + 'static,
            R: HostReturn,
        {
            #[allow(unused_variables)]
            fn into_func(self) -> Func {
                let ty = FuncType { params: vec![$($t::VAL_TYPE),*], results: R::types() };
                Func::new(ty, move |args: &[Val]| (self)($($t::from_val(&args[$i])),*).into_result())
            }
        }
        impl<Func_, R, $($t: WasmTy),*> IntoHostFunc<(WithVmctx, $($t,)*), R> for Func_
        where
            Func_: Fn(&Vmctx, $($t),*) -> R + Send + Sync + 'static,
            R: HostReturn,
        {
            #[allow(unused_variables)]
            fn into_func(self) -> Func {
                let ty = FuncType { params: vec![$($t::VAL_TYPE),*], results: R::types() };
                Func::new(ty, move |args: &[Val]| {
                    let vmctx = calling_vmctx()?;
                    (self)(vmctx, $($t::from_val(&args[$i])),*).into_result()
                })
            }
        }
    )*};
}
into_host_func!(
    (),
    (A 0),
    (A 0, B 1),
    (A 0, B 1, C 2),
    (A 0, B 1, C 2, D 3),
    (A 0, B 1, C 2, D 3, E 4),
    (A 0, B 1, C 2, D 3, E 4, P5 5),
    (A 0, B 1, C 2, D 3, E 4, P5 5, G 6),
);

impl Linker {
    /// Defines `module`.`name` as a Rust closure; the wasm signature follows from the
    /// closure's types. The closure may take the calling instance's `&Vmctx` first
    /// (the instance whose run is in progress: with linked instances, the one `run` was
    /// called on) and may return `Result<_, Trap>` to end the run.
    ///
    /// ```no_run
    /// # use lucet_runtime::{Linker, Vmctx};
    /// let mut linker = Linker::new();
    /// linker.func_wrap("env", "add", |a: i32, b: i32| a.wrapping_add(b));
    /// linker.func_wrap("env", "heap_size", |vmctx: &Vmctx| vmctx.heap().len() as u32);
    /// ```
    pub fn func_wrap<Params, Results>(
        &mut self,
        module: &str,
        name: &str,
        f: impl IntoHostFunc<Params, Results>,
    ) -> &mut Self {
        self.define(module, name, f.into_func())
    }
}
