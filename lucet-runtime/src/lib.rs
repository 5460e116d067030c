//! Runs modules compiled by `lucetc`.
//!
//! A [`DlModule`] is a compiled shared object, loaded with `dlopen` after its
//! descriptor and format version have been checked. A [`Region`] (in practice an
//! [`MmapRegion`]) reserves address space for a fixed number of instance slots up
//! front, each laid out as heap reservation + guard, stack guard + stack; creating an
//! instance takes a free slot and does no `mmap` of its own. An [`InstanceHandle`] runs
//! exported functions on the slot's own stack; faults inside guest code are caught by
//! signal handlers and come back as [`Error::RuntimeFault`] with a [`TrapCode`], after
//! which the instance can be `reset()` and reused. Hostcalls see the calling instance
//! through [`Vmctx`]. Native hostcalls are registered in-process
//! ([`register_hostcalls`]), so host programs need no special linker flags. Modules
//! loaded with [`DlModule::load_unresolved`] can also import functions, memories,
//! tables and globals from other instances or from Rust closures through a [`Linker`].
//!
//! ```no_run
//! use lucet_runtime::{DlModule, Limits, MmapRegion, Region};
//!
//! let module = DlModule::load("add.so")?;
//! let region = MmapRegion::create(1, &Limits::default())?;
//! let mut instance = region.new_instance(module)?;
//! let sum: i32 = instance.run("add", &[5i32.into(), 3i32.into()])?.unwrap_returned().into();
//! assert_eq!(sum, 8);
//! # Ok::<(), lucet_runtime::Error>(())
//! ```
//!
//! `docs/architecture.md` at the repository root describes the memory layout and the
//! safety argument.

mod builtins;
mod error;
mod exec;
mod hostcall;
mod instance;
mod limits;
mod linker;
mod module;
mod region;
mod val;
mod vmctx;

pub use error::{Error, FaultDetails, TerminationDetails};
pub use hostcall::{
    has_hostcall_module, lookup_hostcall, lucet_internal_ensure_linked, register_hostcalls, HostcallDef,
};
pub use instance::{Instance, InstanceBuilder, InstanceHandle};
pub use limits::{Limits, WASM_PAGE_SIZE};
pub use linker::{Extern, Func, Global, Linker, Memory, Table, Trap};
pub use lucet_module::{FuncType, GlobalType, ModuleData};
pub use lucet_module::{TrapCode, ValType};
pub use module::{DlModule, Module};
pub use region::{MmapRegion, Region};
pub use val::{RunResult, UntypedRetVal, Val, YieldedVal};
pub use vmctx::Vmctx;
