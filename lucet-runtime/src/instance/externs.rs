//! Extern handles: functions, globals, tables and memories that an instance exports or
//! a linker defines. Handles of an instance's exports keep it alive.

use super::core::{MemLoc, TableLoc};
use super::handle::OwnerRef;
use super::host::{HostFn, HostGlobal, Trap};
use super::tags::Tag;
use crate::val::Val;
use lucet_module::{FuncRef, FuncType, GlobalType, MemoryType, TableType};
use std::sync::Arc;

/// Something an instance exports or a linker defines.
#[derive(Clone)]
pub enum Extern {
    Func(Func),
    Global(Global),
    Table(Table),
    Memory(Memory),
    /// An exception tag (an instance's export, or `Tag::new`).
    Tag(Tag),
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

impl Global {
    /// A host-owned global holding `val`.
    pub fn new(val: Val, mutable: bool) -> Global {
        let storage = Arc::new(HostGlobal(std::cell::UnsafeCell::new(val.to_slot())));
        Global { kind: GlobalKind::Host { storage, ty: GlobalType { ty: val.ty(), mutable, shape: Default::default() } } }
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
impl From<Tag> for Extern {
    fn from(t: Tag) -> Extern {
        Extern::Tag(t)
    }
}
impl From<Memory> for Extern {
    fn from(m: Memory) -> Extern {
        Extern::Memory(m)
    }
}
