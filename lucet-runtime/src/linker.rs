//! Supplying imports at instantiation: from other instances or from host closures.
//!
//! A module loaded with [`crate::DlModule::load_unresolved`] may import functions,
//! memories, tables and globals that are not hostcalls. A [`Linker`] names them;
//! [`crate::InstanceBuilder::with_linker`] resolves the module's imports against it.
//! Memories, tables and globals are shared by pointer: the importer's vmctx points at
//! the exporter's state, and the importer keeps the exporter alive.

use crate::instance::{InstanceHandle, MemLoc, OwnerRef, TableLoc};
use crate::val::Val;
use crate::TerminationDetails;
use lucet_module::{FuncRef, FuncType, GlobalType, MemoryType, TableType, VALUE_SLOT_SIZE};
use std::collections::HashMap;
use std::sync::Arc;

/// Why a host function failed; the run ends with `Error::RuntimeTerminated`, unless
/// the host function throws a WebAssembly exception ([`Trap::exception`]).
#[derive(Debug, Clone)]
pub struct Trap {
    pub message: String,
    exception: Option<(crate::Tag, Vec<Val>)>,
}

impl Trap {
    pub fn new(message: impl Into<String>) -> Trap {
        Trap { message: message.into(), exception: None }
    }

    /// Throws a WebAssembly exception of `tag` with the payload `values` into the guest
    /// that called the host function. The host function's frames are left normally
    /// (destructors run); the exception is raised again at the boundary, in the guest
    /// frame that made the call. The values must have the tag's parameter types.
    pub fn exception(tag: crate::Tag, values: Vec<Val>) -> Trap {
        Trap { message: "a WebAssembly exception".into(), exception: Some((tag, values)) }
    }
}

impl std::fmt::Display for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Trap {}

pub(crate) type HostFn = dyn Fn(&[Val]) -> Result<Vec<Val>, Trap> + Send + Sync;

/// Something an instance exports or a linker defines.
#[derive(Clone)]
pub enum Extern {
    Func(Func),
    Global(Global),
    Table(Table),
    Memory(Memory),
    /// An exception tag (an instance's export, or `Tag::new`).
    Tag(crate::Tag),
}

/// A function: an instance's (keeps it alive) or a host closure.
#[derive(Clone)]
pub struct Func {
    pub(crate) kind: FuncKind,
}

#[derive(Clone)]
pub(crate) enum FuncKind {
    Instance { owner: OwnerRef, funcref: *mut FuncRef, ty: FuncType },
    Host { ty: FuncType, callback: Arc<HostFn> },
}

impl Func {
    /// A host function with the given signature.
    pub fn new<F>(ty: FuncType, f: F) -> Func
    where
        F: Fn(&[Val]) -> Result<Vec<Val>, Trap> + Send + Sync + 'static,
    {
        Func { kind: FuncKind::Host { ty, callback: Arc::new(f) } }
    }

    pub fn ty(&self) -> &FuncType {
        match &self.kind {
            FuncKind::Instance { ty, .. } | FuncKind::Host { ty, .. } => ty,
        }
    }

    /// A `funcref` value for this function, if it belongs to an instance.
    pub fn as_funcref(&self) -> Option<Val> {
        match &self.kind {
            FuncKind::Instance { funcref, .. } => Some(Val::FuncRef(*funcref as usize)),
            FuncKind::Host { .. } => None,
        }
    }
}

/// A global: an instance's (keeps it alive) or a host-owned one.
#[derive(Clone)]
pub struct Global {
    pub(crate) kind: GlobalKind,
}

#[derive(Clone)]
pub(crate) enum GlobalKind {
    Instance { owner: OwnerRef, ptr: *mut [u8; 16], ty: GlobalType },
    Host { storage: Arc<HostGlobal>, ty: GlobalType },
}

pub(crate) struct HostGlobal(std::cell::UnsafeCell<[u8; 16]>);
// SAFETY: written only by guest code and `Global::set`, which the embedder serialises
// with runs (instances are single-threaded).
unsafe impl Send for HostGlobal {}
// SAFETY: as above.
unsafe impl Sync for HostGlobal {}

impl Global {
    /// A host-owned global holding `val`.
    pub fn new(val: Val, mutable: bool) -> Global {
        let storage = Arc::new(HostGlobal(std::cell::UnsafeCell::new(val.to_slot())));
        Global { kind: GlobalKind::Host { storage, ty: GlobalType { ty: val.ty(), mutable } } }
    }

    pub fn ty(&self) -> GlobalType {
        match &self.kind {
            GlobalKind::Instance { ty, .. } | GlobalKind::Host { ty, .. } => *ty,
        }
    }

    pub(crate) fn storage(&self) -> *mut [u8; 16] {
        match &self.kind {
            GlobalKind::Instance { ptr, .. } => *ptr,
            GlobalKind::Host { storage, .. } => storage.0.get(),
        }
    }

    /// The current value.
    pub fn get(&self) -> Val {
        // SAFETY: the storage is kept alive by this handle.
        Val::from_slot(self.ty().ty, unsafe { &*self.storage() })
    }
}

/// A table exported by an instance.
#[derive(Clone)]
pub struct Table {
    pub(crate) owner: OwnerRef,
    /// Index in the owner's table index space.
    pub(crate) index: u32,
    /// Reads race with the owner's runs on other threads, so handles stay on one thread.
    pub(crate) _not_send: std::marker::PhantomData<*const ()>,
}

impl Table {
    pub(crate) fn loc(&self) -> TableLoc {
        // SAFETY: the owner is alive (held by `self`) and on this thread (export handles
        // are not `Send`, and its instance is bound to the thread they were made on);
        // `current()` is the pointer valid now, even inside one of its hostcalls. Only
        // the location list is read.
        unsafe { (&(*self.owner.current()).tables)[self.index as usize] }
    }

    pub fn ty(&self) -> TableType {
        self.loc().ty
    }

    /// Current number of elements.
    pub fn size(&self) -> u32 {
        // SAFETY: the TableDef lives as long as its owner, which `self` keeps alive.
        unsafe { (*self.loc().def).current_elements }
    }
}

/// A memory exported by an instance.
#[derive(Clone)]
pub struct Memory {
    pub(crate) owner: OwnerRef,
    pub(crate) index: u32,
    /// As for `Table`.
    pub(crate) _not_send: std::marker::PhantomData<*const ()>,
}

impl Memory {
    pub(crate) fn loc(&self) -> MemLoc {
        // SAFETY: the owner is alive (held by `self`) and on this thread (export handles
        // are not `Send`, and its instance is bound to the thread they were made on);
        // `current()` is the pointer valid now, even inside one of its hostcalls. Only
        // the location list is read.
        unsafe { (&(*self.owner.current()).memories)[self.index as usize] }
    }

    pub fn ty(&self) -> MemoryType {
        self.loc().ty
    }

    /// Current size in bytes.
    pub fn data_size(&self) -> u64 {
        // SAFETY: the MemoryDef lives as long as its owner, which `self` keeps alive.
        unsafe { (*self.loc().def).current_length }
    }
}

/// Named definitions that instances can import.
#[derive(Clone, Default)]
pub struct Linker {
    items: HashMap<(String, String), Extern>,
}

impl Linker {
    pub fn new() -> Linker {
        Linker::default()
    }

    /// Defines `module`.`name`; a later definition of the same name replaces it.
    pub fn define(&mut self, module: &str, name: &str, item: impl Into<Extern>) -> &mut Self {
        self.items.insert((module.to_string(), name.to_string()), item.into());
        self
    }

    /// Defines every export of `instance` under the module name `name`.
    pub fn instance(&mut self, name: &str, instance: &InstanceHandle) -> Result<&mut Self, crate::Error> {
        let names: Vec<String> = instance.exports().map(|s| s.to_string()).collect();
        for n in names {
            if let Some(e) = instance.get_export(&n) {
                self.define(name, &n, e);
            }
        }
        Ok(self)
    }

    /// Defines `module`.`name` as a host closure with signature `ty`.
    pub fn func_new<F>(&mut self, module: &str, name: &str, ty: FuncType, f: F) -> &mut Self
    where
        F: Fn(&[Val]) -> Result<Vec<Val>, Trap> + Send + Sync + 'static,
    {
        self.define(module, name, Func::new(ty, f))
    }

    pub fn get(&self, module: &str, name: &str) -> Option<&Extern> {
        self.items.get(&(module.to_string(), name.to_string()))
    }

    pub(crate) fn items(&self) -> impl Iterator<Item = (&(String, String), &Extern)> {
        self.items.iter()
    }
}

impl From<Func> for Extern {
    fn from(f: Func) -> Extern {
        Extern::Func(f)
    }
}
impl From<Global> for Extern {
    fn from(g: Global) -> Extern {
        Extern::Global(g)
    }
}
impl From<Table> for Extern {
    fn from(t: Table) -> Extern {
        Extern::Table(t)
    }
}
impl From<crate::Tag> for Extern {
    fn from(t: crate::Tag) -> Extern {
        Extern::Tag(t)
    }
}

impl From<Memory> for Extern {
    fn from(m: Memory) -> Extern {
        Extern::Memory(m)
    }
}

/// The host context an adapter receives as its vmctx (see `lucet_module`'s
/// descriptor docs): the callback must be the first field.
#[repr(C)]
pub(crate) struct HostFuncCtx {
    /// The entry stub in `exec/unwind.rs`, which calls [`host_func_trampoline`].
    pub callback: unsafe extern "C" fn(),
    pub ty: FuncType,
    pub f: Arc<HostFn>,
}

/// Called (through the entry stub) by an adapter on the guest stack: runs the closure on
/// the spilled values. `regs` and `adapter_fp` are the guest's callee-saved registers
/// and the adapter's frame pointer, for an exception the closure throws.
pub(crate) unsafe extern "C" fn host_func_trampoline(
    ctx: *mut u8,
    values: *mut [u8; VALUE_SLOT_SIZE],
    regs: *const crate::exec::unwind::Registers,
    adapter_fp: usize,
) {
    // SAFETY: adapters pass the HostFuncCtx the runtime stored in the FuncRef. It is
    // boxed in the importing instance, which outlives the call, and never written after
    // linking: other references to it (nested calls of the same import) are shared too.
    // It is not part of any `Instance`, so builtins' `&mut Instance` does not cover it.
    let ctx = unsafe { &*(ctx as *const HostFuncCtx) };
    let n = ctx.ty.params.len().max(ctx.ty.results.len());
    // SAFETY: the adapter's value array has a slot for every param and result.
    let slots = unsafe { std::slice::from_raw_parts_mut(values, n) };
    let mut thrown = None;
    let failure = {
        // Arguments live on the stack for the usual handful of parameters: this runs on
        // every call from the guest.
        const INLINE: usize = 8;
        let mut inline: [Val; INLINE];
        let heap: Vec<Val>;
        let n_params = ctx.ty.params.len();
        let args: &[Val] = if n_params == 0 {
            &[]
        } else if n_params <= INLINE {
            inline = [Val::I32(0); INLINE];
            for ((a, t), s) in inline.iter_mut().zip(&ctx.ty.params).zip(slots.iter()) {
                *a = Val::from_slot(*t, s);
            }
            &inline[..n_params]
        } else {
            heap = ctx.ty.params.iter().zip(slots.iter()).map(|(t, s)| Val::from_slot(*t, s)).collect();
            &heap
        };
        // The context, and so the closure, lives as long as the instance that calls it.
        let f = &ctx.f;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(args))) {
            Ok(Ok(res)) => {
                if res.len() == ctx.ty.results.len() && res.iter().zip(&ctx.ty.results).all(|(v, t)| v.ty() == *t) {
                    for (s, v) in slots.iter_mut().zip(&res) {
                        *s = v.to_slot();
                    }
                    None
                } else {
                    let types: Vec<_> = res.iter().map(|v| v.ty()).collect();
                    Some(TerminationDetails::Other(format!(
                        "a host function of signature {} returned values of types {types:?}",
                        ctx.ty
                    )))
                }
            }
            Ok(Err(Trap { exception: Some((tag, values)), .. })) => {
                if values.iter().map(|v| v.ty()).eq(tag.ty().params.iter().copied()) {
                    let payload = values.iter().map(|v| v.to_slot()).collect();
                    thrown = Some(crate::instance::exceptions::InFlight::new(tag, payload));
                    None
                } else {
                    Some(TerminationDetails::Other(format!(
                        "a host function threw an exception of type {} with values {values:?}",
                        tag.ty()
                    )))
                }
            }
            Ok(Err(trap)) => Some(TerminationDetails::Other(format!("host function trapped: {trap}"))),
            Err(p) => Some(TerminationDetails::HostcallPanic(panic_message(&p))),
        }
    };
    if let Some(details) = failure {
        // SAFETY: we are on the guest stack inside a run; every local with a
        // destructor has been dropped above.
        unsafe { crate::exec::terminate_current(details) }
    }
    if let Some(exn) = thrown {
        // SAFETY: called by an adapter in a run on this thread, through the entry stub,
        // which passed the adapter's frame pointer and the guest's registers; the
        // closure's frames are gone and this one owns only `exn`, which moves.
        unsafe { crate::instance::exceptions::raise_from_adapter(exn, adapter_fp, *regs) }
    }
}

pub(crate) fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}
