//! Instances: creating, running, resuming, resetting, their memory, and kill switches.

#![allow(non_camel_case_types)]

use crate::error::{guard, lucet_error_t, ApiError, ApiResult};
use crate::handles::{Kind, Table};
use crate::hostfunc::{lucet_linker_t, YieldedU64, LINKERS};
use crate::module::{lucet_module_t, MODULES};
use crate::ptr::{check_out, copy_out, slice_arg, str_arg, write_out};
use crate::region::{lucet_region_t, REGIONS};
use crate::val::*;
use crate::wasi::{lucet_wasi_ctx_t, WASI_CTXS};
use lucet_runtime::{Error, InstanceHandle, KillSwitch, Module, Region, RunResult, Val};
use std::ffi::c_char;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// An instance of a module in a region slot. Opaque: see `handles.rs`.
#[repr(C)]
pub struct lucet_instance_t {
    _opaque: [u8; 0],
}

/// Stops an instance's runs from any thread. Opaque: see `handles.rs`.
#[repr(C)]
pub struct lucet_kill_switch_t {
    _opaque: [u8; 0],
}

struct State {
    handle: InstanceHandle,
    /// How many results the function that yielded returns, for `resume`'s check of
    /// the results array.
    pending_results: usize,
}

pub(crate) struct CInstance {
    state: Mutex<State>,
    /// Outside the lock, so a kill switch can be made while a run holds it.
    kill_switch: KillSwitch,
}

pub(crate) static INSTANCES: Table<CInstance> = Table::new(Kind::Instance);
static KILL_SWITCHES: Table<KillSwitch> = Table::new(Kind::KillSwitch);

fn handle(instance: *const lucet_instance_t) -> u64 {
    instance as usize as u64
}

/// Runs `f` with exclusive use of the instance, or reports that a call that has not
/// returned is using it.
fn with_instance<R>(
    instance: *const lucet_instance_t,
    f: impl FnOnce(&mut State) -> ApiResult<R>,
) -> ApiResult<R> {
    let inst = INSTANCES.get(handle(instance))?;
    let mut state: MutexGuard<'_, State> = match inst.state.try_lock() {
        Ok(g) => g,
        // A panic is caught at the boundary and leaves the instance as usable as any
        // failed run does.
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => {
            return Err(ApiError::new(
                lucet_error_t::LUCET_ERR_BUSY,
                "the instance is in use by a call that has not returned: it is running (inside a host \
                 function, reach its memory through the lucet_vmctx_* functions) or another thread is using it",
            ))
        }
    };
    f(&mut state)
}

/// `memory[offset..offset + len]`, or an out-of-bounds error that says so.
pub(crate) fn guest_range(memory: &[u8], offset: u32, len: usize) -> ApiResult<&[u8]> {
    let start = offset as usize;
    start
        .checked_add(len)
        .filter(|end| *end <= memory.len())
        .map(|end| &memory[start..end])
        .ok_or_else(|| out_of_bounds(memory.len(), offset, len))
}

pub(crate) fn guest_write(memory: &mut [u8], offset: u32, bytes: &[u8]) -> ApiResult {
    let start = offset as usize;
    match start
        .checked_add(bytes.len())
        .filter(|end| *end <= memory.len())
    {
        Some(end) => {
            memory[start..end].copy_from_slice(bytes);
            Ok(())
        }
        None => Err(out_of_bounds(memory.len(), offset, bytes.len())),
    }
}

fn out_of_bounds(size: usize, offset: u32, len: usize) -> ApiError {
    ApiError::new(
        lucet_error_t::LUCET_ERR_OUT_OF_BOUNDS,
        format!("the guest range {offset:#x}+{len} is outside the guest's {size}-byte memory"),
    )
}

/// Makes an instance of `module` in a free slot of `region`. Imports are resolved
/// from `linker` first (may be NULL), then from the registered hostcalls.
///
/// # Safety
/// `out` is NULL or valid for writing a handle.
#[no_mangle]
pub unsafe extern "C" fn lucet_region_new_instance(
    region: *const lucet_region_t,
    module: *const lucet_module_t,
    linker: *const lucet_linker_t,
    out: *mut *mut lucet_instance_t,
) -> lucet_error_t {
    guard("lucet_region_new_instance", || {
        let region = REGIONS.get(crate::region::handle(region))?;
        let module = MODULES.get(crate::module::handle(module))?;
        check_out(out, "out")?;
        let mut builder = region.new_instance_builder(module as Arc<dyn Module>);
        if !linker.is_null() {
            let linker = LINKERS.get(crate::hostfunc::handle(linker))?;
            let linker = linker.lock().unwrap_or_else(|e| e.into_inner()).to_linker();
            builder = builder.with_linker(&linker);
        }
        let instance = builder.build()?;
        let kill_switch = instance.kill_switch();
        let c = CInstance {
            state: Mutex::new(State {
                handle: instance,
                pending_results: 0,
            }),
            kill_switch,
        };
        let h = INSTANCES.insert(Arc::new(c))?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(out, h as usize as *mut lucet_instance_t, "out") }
    })
}

/// Frees an instance and returns its slot to the region. Freeing an instance that
/// another thread is running takes effect when that run returns.
/// A stale, NULL or foreign handle is reported as `LUCET_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn lucet_instance_free(instance: *mut lucet_instance_t) -> lucet_error_t {
    guard("lucet_instance_free", || {
        INSTANCES.remove(handle(instance)).map(drop)
    })
}

/// Writes the outcome of a run into the results and the run result.
///
/// # Safety
/// `results` is NULL or valid for writing `results_len` values; `out` is NULL or
/// valid for writing a `lucet_run_result_t`.
unsafe fn report(
    state: &mut State,
    expected_results: usize,
    outcome: Result<RunResult, Error>,
    results: *mut lucet_val_t,
    results_len: usize,
    out: *mut lucet_run_result_t,
) -> ApiResult {
    let mut r = lucet_run_result_t::not_started();
    let status = match outcome {
        Ok(RunResult::Returned(v)) => {
            let values: Vec<lucet_val_t> = v.values().iter().map(lucet_val_t::from_val).collect();
            if values.len() > results_len {
                Err(ApiError::new(
                    lucet_error_t::LUCET_ERR_BUFFER_TOO_SMALL,
                    format!(
                        "the function returned {} values but results has room for {results_len}",
                        values.len()
                    ),
                ))
            } else {
                // SAFETY: the caller promises `results_len` writable values.
                unsafe { copy_out(results, results_len, &values, "results") }?;
                r.state = LUCET_RUN_RETURNED;
                r.nresults = values.len();
                Ok(())
            }
        }
        Ok(RunResult::Yielded(y)) => {
            state.pending_results = expected_results;
            r.state = LUCET_RUN_YIELDED;
            r.yielded_value =
                y.0.and_then(|b| b.downcast::<YieldedU64>().ok())
                    .map(|b| b.0)
                    .unwrap_or(0);
            Ok(())
        }
        Err(e) => {
            if let Some(code) = lucet_wasi::exit_code(&e) {
                r.state = LUCET_RUN_EXITED;
                r.exit_code = code;
                Ok(())
            } else {
                match &e {
                    Error::RuntimeFault(d) => {
                        r.state = LUCET_RUN_FAULTED;
                        r.trap_code = trap_to_c(d.trap_code);
                    }
                    Error::RuntimeTerminated(_) => r.state = LUCET_RUN_TERMINATED,
                    _ => {}
                }
                Err(ApiError::from(e))
            }
        }
    };
    if !out.is_null() {
        // SAFETY: non-NULL; the caller promises it is writable.
        unsafe { write_out(out, r, "out") }?;
    }
    status
}

/// Runs the exported function `entrypoint` with `nargs` arguments and stores its
/// results in `results` (room for `results_len`; the function's result count is
/// checked before it runs). `out` (may be NULL) tells how the run ended. An argument
/// may be of any integer type for an integer parameter, or either float type for a
/// float parameter, when its value fits.
///
/// A guest that calls WASI `proc_exit` is not an error: the call returns `LUCET_OK`
/// with state `LUCET_RUN_EXITED`. A trap returns `LUCET_ERR_RUNTIME_FAULT` and leaves
/// the instance usable; a termination (`LUCET_ERR_RUNTIME_TERMINATED`) or an exit
/// needs `lucet_instance_reset` before the next run.
///
/// # Safety
/// `entrypoint` is NULL or NUL-terminated; `args` is NULL or holds `nargs` values;
/// `results` is NULL or has room for `results_len` values; `out` is NULL or valid for
/// writing a `lucet_run_result_t`.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_run(
    instance: *mut lucet_instance_t,
    entrypoint: *const c_char,
    args: *const lucet_val_t,
    nargs: usize,
    results: *mut lucet_val_t,
    results_len: usize,
    out: *mut lucet_run_result_t,
) -> lucet_error_t {
    guard("lucet_instance_run", || {
        if !out.is_null() {
            // SAFETY: non-NULL; the caller promises it is writable. Written first so
            // that every early error leaves a defined state behind.
            unsafe { write_out(out, lucet_run_result_t::not_started(), "out") }?;
        }
        // SAFETY: the caller passes a NUL-terminated string and `nargs` values.
        let (name, args) = unsafe {
            (
                str_arg(entrypoint, "entrypoint")?,
                slice_arg(args, nargs, "args")?,
            )
        };
        let args: Vec<Val> = args
            .iter()
            .enumerate()
            .map(|(i, a)| a.to_val(&|| format!("argument {i}")))
            .collect::<ApiResult<_>>()?;
        with_instance(instance, |state| {
            let expected = match state.handle.export_func_type(name) {
                Some(ty) => ty.results.len(),
                None => 0,
            };
            if expected > results_len {
                return Err(ApiError::new(
                    lucet_error_t::LUCET_ERR_BUFFER_TOO_SMALL,
                    format!(
                        "`{name}` returns {expected} values but results has room for {results_len}; pass an array \
                         of at least {expected} lucet_val_t"
                    ),
                ));
            }
            let outcome = state.handle.run(name, &args);
            // SAFETY: forwarded from this function's contract.
            unsafe { report(state, expected, outcome, results, results_len, out) }
        })
    })
}

/// Continues a yielded run; the yielding host function's `lucet_vmctx_yield` returns
/// `value`. Results and `out` are as for `lucet_instance_run`.
///
/// # Safety
/// As for `lucet_instance_run`.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_resume(
    instance: *mut lucet_instance_t,
    value: u64,
    results: *mut lucet_val_t,
    results_len: usize,
    out: *mut lucet_run_result_t,
) -> lucet_error_t {
    guard("lucet_instance_resume", || {
        if !out.is_null() {
            // SAFETY: non-NULL; the caller promises it is writable.
            unsafe { write_out(out, lucet_run_result_t::not_started(), "out") }?;
        }
        with_instance(instance, |state| {
            let expected = state.pending_results;
            if state.handle.is_yielded() && expected > results_len {
                return Err(ApiError::new(
                    lucet_error_t::LUCET_ERR_BUFFER_TOO_SMALL,
                    format!("the yielded function returns {expected} values but results has room for {results_len}"),
                ));
            }
            let outcome = state.handle.resume_with_val(value);
            // SAFETY: forwarded from this function's contract.
            unsafe { report(state, expected, outcome, results, results_len, out) }
        })
    })
}

/// Returns the instance to its freshly made state: memory, globals and tables as
/// after instantiation, the start function run again. A yielded run is abandoned. The
/// WASI context stays; set a new one for a fresh set of descriptors.
#[no_mangle]
pub extern "C" fn lucet_instance_reset(instance: *mut lucet_instance_t) -> lucet_error_t {
    guard("lucet_instance_reset", || {
        with_instance(instance, |s| Ok(s.handle.reset()?))
    })
}

/// The instance's linear memory: its address and current size. The address stays the
/// same for the instance's life; the size may grow when the guest runs. Between
/// runs, reading or writing `[base, base + len)` is allowed; during a run of the
/// instance (from another thread), it is a data race.
///
/// # Safety
/// `base` and `len` are NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_heap(
    instance: *mut lucet_instance_t,
    base: *mut *mut u8,
    len: *mut usize,
) -> lucet_error_t {
    guard("lucet_instance_heap", || {
        check_out(base, "base")?;
        check_out(len, "len")?;
        with_instance(instance, |s| {
            let heap = s.handle.heap_mut();
            // SAFETY: both checked non-NULL; the caller promises they are writable.
            unsafe {
                write_out(base, heap.as_mut_ptr(), "base")?;
                write_out(len, heap.len(), "len")
            }
        })
    })
}

/// Copies `len` bytes at guest address `offset` into `buf`.
///
/// # Safety
/// `buf` is NULL (with `len` 0) or valid for writing `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_read_memory(
    instance: *mut lucet_instance_t,
    offset: u32,
    buf: *mut u8,
    len: usize,
) -> lucet_error_t {
    guard("lucet_instance_read_memory", || {
        with_instance(instance, |s| {
            let src = guest_range(s.handle.heap(), offset, len)?;
            // SAFETY: the caller promises `buf` takes `len` bytes.
            unsafe { copy_out(buf, len, src, "buf") }
        })
    })
}

/// Copies `len` bytes from `buf` to guest address `offset`.
///
/// # Safety
/// `buf` is NULL (with `len` 0) or valid for reading `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_write_memory(
    instance: *mut lucet_instance_t,
    offset: u32,
    buf: *const u8,
    len: usize,
) -> lucet_error_t {
    guard("lucet_instance_write_memory", || {
        // SAFETY: the caller promises `buf` holds `len` bytes.
        let bytes = unsafe { slice_arg(buf, len, "buf") }?;
        with_instance(instance, |s| {
            guest_write(s.handle.heap_mut(), offset, bytes)
        })
    })
}

/// Copies the NUL-terminated string at guest address `offset` into `buf`, NUL
/// included, and stores its length (without the NUL) in `len` (may be NULL). If `buf`
/// is too small (`cap` bytes), nothing is copied, `len` still tells the length, and
/// the call returns `LUCET_ERR_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `buf` is NULL (with `cap` 0) or valid for writing `cap` bytes; `len` is NULL or
/// valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_read_string(
    instance: *mut lucet_instance_t,
    offset: u32,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> lucet_error_t {
    guard("lucet_instance_read_string", || {
        with_instance(instance, |s| {
            let bytes = s.handle.read_guest_cstring(offset)?.into_bytes_with_nul();
            if !len.is_null() {
                // SAFETY: non-NULL; the caller promises it is writable.
                unsafe { write_out(len, bytes.len() - 1, "len") }?;
            }
            if bytes.len() > cap {
                return Err(ApiError::new(
                    lucet_error_t::LUCET_ERR_BUFFER_TOO_SMALL,
                    format!(
                        "the string is {} bytes with its NUL but buf has room for {cap}",
                        bytes.len()
                    ),
                ));
            }
            // SAFETY: the caller promises `cap >= bytes.len()` writable bytes.
            unsafe { copy_out(buf.cast::<u8>(), cap, &bytes, "buf") }
        })
    })
}

/// Grows linear memory by `pages` WebAssembly pages (64 KiB each) and stores the
/// previous size in pages in `previous_pages` (may be NULL).
///
/// # Safety
/// `previous_pages` is NULL or valid for writing a `uint32_t`.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_grow_memory(
    instance: *mut lucet_instance_t,
    pages: u32,
    previous_pages: *mut u32,
) -> lucet_error_t {
    guard("lucet_instance_grow_memory", || {
        let old = with_instance(instance, |s| Ok(s.handle.grow_memory(pages)?))?;
        if !previous_pages.is_null() {
            // SAFETY: non-NULL; the caller promises it is writable.
            unsafe { write_out(previous_pages, old, "previous_pages") }?;
        }
        Ok(())
    })
}

/// Gives the instance a WASI context made from `wasi` (arguments, environment,
/// preopened directories, standard streams), replacing any earlier one. `wasi` can
/// be used for other instances too, and freed afterwards.
#[no_mangle]
pub extern "C" fn lucet_instance_set_wasi_ctx(
    instance: *mut lucet_instance_t,
    wasi: *const lucet_wasi_ctx_t,
) -> lucet_error_t {
    guard("lucet_instance_set_wasi_ctx", || {
        let config = WASI_CTXS.get(crate::wasi::handle(wasi))?;
        let ctx = config.lock().unwrap_or_else(|e| e.into_inner()).build()?;
        with_instance(instance, |s| {
            s.handle.insert_embed_ctx(ctx);
            Ok(())
        })
    })
}

/// A kill switch for the instance: `lucet_kill_switch_terminate` on it, from any
/// thread, stops the instance's current run. Can be made while the instance runs.
///
/// # Safety
/// `out` is NULL or valid for writing a handle.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_kill_switch(
    instance: *mut lucet_instance_t,
    out: *mut *mut lucet_kill_switch_t,
) -> lucet_error_t {
    guard("lucet_instance_kill_switch", || {
        check_out(out, "out")?;
        let inst = INSTANCES.get(handle(instance))?;
        let h = KILL_SWITCHES.insert(Arc::new(inst.kill_switch.clone()))?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(out, h as usize as *mut lucet_kill_switch_t, "out") }
    })
}

/// Stops the instance's current run, which then returns
/// `LUCET_ERR_RUNTIME_TERMINATED`. Returns `LUCET_ERR_NOT_RUNNING`, and changes
/// nothing, when no run is in progress (a yielded instance is not running).
/// Any thread may call it; a stale, NULL or foreign handle is reported as
/// `LUCET_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn lucet_kill_switch_terminate(
    kill_switch: *const lucet_kill_switch_t,
) -> lucet_error_t {
    guard("lucet_kill_switch_terminate", || {
        let ks = KILL_SWITCHES.get(kill_switch as usize as u64)?;
        match ks.terminate() {
            Ok(_) => Ok(()),
            Err(e) => Err(ApiError::new(
                lucet_error_t::LUCET_ERR_NOT_RUNNING,
                e.to_string(),
            )),
        }
    })
}

/// Frees a kill switch. It does not keep its instance alive, nor does the instance
/// keep it. A stale, NULL or foreign handle is reported as `LUCET_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn lucet_kill_switch_free(kill_switch: *mut lucet_kill_switch_t) -> lucet_error_t {
    guard("lucet_kill_switch_free", || {
        KILL_SWITCHES.remove(kill_switch as usize as u64).map(drop)
    })
}
