//! Runs modules compiled by `lucetc`.
//!
//! A [`DlModule`] is a compiled shared object, loaded with `dlopen` after the file
//! has been checked to hold a descriptor of this runtime's format and nothing that would
//! run or write outside the object while it loads. A [`Region`] (in practice an
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
//! A running guest can be stopped from any thread with a [`KillSwitch`]
//! ([`Instance::kill_switch`]) or a deadline ([`Instance::run_with_timeout`]), without
//! any instrumentation in the compiled code. Hosts define their own imports with the
//! [`lucet_hostcall`] attribute or [`Linker::func_wrap`], call exports with Rust types
//! through [`Instance::typed_func`], and can drive guests from async code
//! ([`Instance::run_async`], with hostcalls awaiting futures through [`Vmctx::block_on`]).
//!
//! [`DlModule::load_verified`] loads a module only if a trusted [`PublicKey`] signed it
//! (minisign's format, as `lucetc --sign-key` writes it), and `dlopen`s exactly the bytes
//! whose signature it checked.
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

mod async_run;
mod error;
mod exec;
mod guest_mem;
mod hostcall;
mod instance;
mod limits;
mod linker;
mod module;
mod region;
mod signature;
mod typed;
mod val;
mod vmctx;

pub use error::{panic_message, Error, FaultDetails, TerminationDetails};
pub use exec::kill_state::{KillError, KillSuccess};
pub use exec::kill_switch::KillSwitch;
pub use hostcall::{
    has_hostcall_module, lookup_hostcall, lucet_internal_ensure_linked, register_hostcalls, HostcallDef,
};
pub use instance::{Extern, Func, Global, Instance, InstanceBuilder, InstanceHandle, Memory, Region, Table, Tag, Trap};
pub use limits::{Limits, WASM_PAGE_SIZE};
pub use linker::Linker;
pub use lucet_module::signature_path;
pub use lucet_module::{FuncType, GlobalType, ModuleData};
pub use lucet_module::{TrapCode, ValType};
pub use module::{load_phases, DlModule, FunctionInfo, LoadPhase, Module, ModuleInfo, SignatureStatus};
pub use region::MmapRegion;
pub use signature::PublicKey;
pub use val::{RunResult, UntypedRetVal, Val, YieldedVal};
pub use vmctx::Vmctx;

pub use async_run::RunAsync;
pub use guest_mem::GuestMemoryError;
pub use typed::{HostReturn, IntoHostFunc, TypedFunc, WasmParams, WasmResults, WasmTy, WithVmctx};

/// Turns `fn name(vmctx: &Vmctx, params...) -> result` into a hostcall that modules can
/// import, registered before `main` runs: no linker flags, no registration call.
///
/// ```ignore
/// use lucet_runtime::{lucet_hostcall, Vmctx};
///
/// #[lucet_hostcall(module = "env")] // the default; `name = "..."` renames the import
/// pub unsafe extern "C" fn add_one(vmctx: &Vmctx, x: i32) -> i32 {
///     x + 1
/// }
/// ```
///
/// The function keeps its name and becomes `extern "C"`. Its parameters after the
/// vmctx and its result must be wasm-representable ([`WasmTy`]: `i32`, `u32`, `i64`,
/// `u64`, `f32`, `f64`) or `()`. A panic in the body ends the run with
/// `TerminationDetails::HostcallPanic` (it never unwinds through guest frames), and a
/// kill switch or timeout that fired during the hostcall stops the guest as soon as the
/// body returns. `Vmctx::yield_val`, `yield_expecting_val` and `terminate` work as in
/// any hostcall.
///
/// Registration uses a constructor in `.init_array`. In a library crate whose other
/// items the program never uses, the linker may leave the whole object file out; use
/// (e.g. take the address of) one hostcall of the library from the program to keep it.
pub use lucet_runtime_macros::lucet_hostcall;

/// Items the `#[lucet_hostcall]` expansion refers to; not a stable interface.
#[doc(hidden)]
pub mod __hostcall_support {
    pub use crate::typed::{HostcallResult, WasmTy};

    /// Runs a hostcall body: a panic ends the run, and so does a kill requested while
    /// the body ran.
    ///
    /// # Safety
    /// Only from a hostcall called by guest code (on the guest stack, inside a run).
    pub unsafe fn run_hostcall<R>(body: impl FnOnce() -> R) -> R {
        // SAFETY: forwarded to the caller.
        let result = unsafe { crate::exec::terminate_on_panic(body) };
        // SAFETY: as above; `result` is a plain wasm value, so abandoning it leaks nothing.
        unsafe { crate::exec::terminate_if_killed() };
        result
    }

    /// Called from the generated constructor: it must not unwind out of it.
    pub fn register_at_load(defs: &'static [crate::HostcallDef]) {
        let _ = std::panic::catch_unwind(|| crate::register_hostcalls(defs));
    }
}
