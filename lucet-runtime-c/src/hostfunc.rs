//! Host functions written in C: linkers that define them, and what a callback can do
//! with the calling instance (`lucet_vmctx_*`).

#![allow(non_camel_case_types)]

use crate::error::{guard, lucet_error_t, ApiError, ApiResult};
use crate::handles::{Kind, Table};
use crate::ptr::{check_out, slice_arg, str_arg, write_out};
use crate::val::{lucet_val_t, lucet_val_type_t, type_from_c};
use lucet_runtime::{Func, FuncType, Linker, Trap, Val, Vmctx};
use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex};

/// A set of host functions to link into instances. Opaque: see `handles.rs`.
#[repr(C)]
pub struct lucet_linker_t {
    _opaque: [u8; 0],
}

/// The instance calling a host function; valid only during that call, on that thread.
#[repr(C)]
pub struct lucet_vmctx_t {
    _opaque: [u8; 0],
}

/// A host function: reads `nargs` arguments, writes `nresults` results (their types
/// are preset, only the payload needs writing), and returns 0, or anything else to
/// end the run with `LUCET_ERR_RUNTIME_TERMINATED`.
pub type lucet_host_func_t = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        vmctx: *mut lucet_vmctx_t,
        args: *const lucet_val_t,
        nargs: usize,
        results: *mut lucet_val_t,
        nresults: usize,
    ) -> i32,
>;

/// Called once with the user data when nothing can call the function any more.
pub type lucet_finalizer_t = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// A C callback and what it needs.
struct Callback {
    func: unsafe extern "C" fn(
        *mut c_void,
        *mut lucet_vmctx_t,
        *const lucet_val_t,
        usize,
        *mut lucet_val_t,
        usize,
    ) -> i32,
    user_data: *mut c_void,
    finalizer: lucet_finalizer_t,
    /// `module`.`name`, for messages.
    label: String,
    ty: FuncType,
}

// SAFETY: `user_data` is only handed back to the C functions that came with it. The
// contract of `lucet_linker_define_func` makes the caller responsible for those
// functions being callable from any thread that runs an instance using them.
unsafe impl Send for Callback {}
// SAFETY: as above; `Callback` itself is never mutated after creation.
unsafe impl Sync for Callback {}

impl Drop for Callback {
    fn drop(&mut self) {
        if let Some(fin) = self.finalizer {
            // SAFETY: called once, when the last linker or instance that could call the
            // function is gone, as `lucet_linker_define_func` documents.
            unsafe { fin(self.user_data) }
        }
    }
}

struct Definition {
    module: String,
    name: String,
    callback: Arc<Callback>,
}

/// The host functions of one `lucet_linker_t`.
#[derive(Default)]
pub(crate) struct CLinker {
    defs: Vec<Definition>,
}

pub(crate) static LINKERS: Table<Mutex<CLinker>> = Table::new(Kind::Linker);

pub(crate) fn handle(linker: *const lucet_linker_t) -> u64 {
    linker as usize as u64
}

impl CLinker {
    /// A runtime linker calling these C functions.
    pub(crate) fn to_linker(&self) -> Linker {
        let mut linker = Linker::new();
        for d in &self.defs {
            let cb = d.callback.clone();
            let func =
                Func::new_with_vmctx(cb.ty.clone(), move |vmctx, args| call(&cb, vmctx, args));
            linker.define(&d.module, &d.name, func);
        }
        linker
    }
}

thread_local! {
    /// The vmctx of each C host function running on this thread, innermost last.
    static ACTIVE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

// Kept out of line: a yield may resume the caller on another thread, and a
// thread-local's address must be computed afresh after it.
#[inline(never)]
fn enter(vmctx: usize) {
    ACTIVE.with(|a| a.borrow_mut().push(vmctx));
}

#[inline(never)]
fn leave(vmctx: usize) {
    ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        if let Some(i) = a.iter().rposition(|v| *v == vmctx) {
            a.remove(i);
        }
    });
}

/// The vmctx a `lucet_vmctx_*` function was given, if it is that of the host function
/// running on this thread.
fn current(vmctx: *mut lucet_vmctx_t) -> ApiResult<&'static Vmctx> {
    let innermost = ACTIVE.with(|a| a.borrow().last().copied());
    match innermost {
        Some(v) if v == vmctx as usize && !vmctx.is_null() => {
            // SAFETY: this is the vmctx the runtime passed to the host function that
            // is running on this thread right now; its instance outlives the call.
            Ok(unsafe { &*(vmctx as *const Vmctx) })
        }
        _ if vmctx.is_null() => Err(ApiError::new(
            lucet_error_t::LUCET_ERR_INVALID_HANDLE,
            "the vmctx is NULL; pass the vmctx your host function received",
        )),
        _ => Err(ApiError::new(
            lucet_error_t::LUCET_ERR_INVALID_HANDLE,
            "the vmctx is not that of the host function running on this thread; a vmctx is valid only \
             during the call it was passed to (use lucet_instance_* functions between runs)",
        )),
    }
}

/// Runs a C host function for the guest.
fn call(cb: &Callback, vmctx: &Vmctx, args: &[Val]) -> Result<Vec<Val>, Trap> {
    let c_args: Vec<lucet_val_t> = args.iter().map(lucet_val_t::from_val).collect();
    let mut results: Vec<lucet_val_t> = cb
        .ty
        .results
        .iter()
        .map(|t| lucet_val_t::zero(*t))
        .collect();
    let vm = vmctx as *const Vmctx as *mut lucet_vmctx_t;
    enter(vm as usize);
    // SAFETY: the function and user data were given together to
    // `lucet_linker_define_func`, whose caller promised the function follows the
    // `lucet_host_func_t` contract; the arrays have exactly the lengths passed.
    let rc = unsafe {
        (cb.func)(
            cb.user_data,
            vm,
            c_args.as_ptr(),
            c_args.len(),
            results.as_mut_ptr(),
            results.len(),
        )
    };
    leave(vm as usize);
    if rc != 0 {
        return Err(Trap::new(format!(
            "the host function {} failed: it returned {rc}",
            cb.label
        )));
    }
    results
        .iter()
        .zip(&cb.ty.results)
        .enumerate()
        .map(|(i, (r, ty))| {
            let what = || format!("result {i} of the host function {}", cb.label);
            let v = r.to_val(&what).map_err(|e| Trap::new(e.message))?;
            v.coerce(*ty).map_err(|_| {
                Trap::new(format!(
                    "{} is a {} where the signature says {ty}; keep the preset type",
                    what(),
                    v.ty()
                ))
            })
        })
        .collect()
}

/// Makes an empty linker.
///
/// # Safety
/// `out` is NULL or valid for writing a handle.
#[no_mangle]
pub unsafe extern "C" fn lucet_linker_create(out: *mut *mut lucet_linker_t) -> lucet_error_t {
    guard("lucet_linker_create", || {
        check_out(out, "out")?;
        let h = LINKERS.insert(Arc::new(Mutex::new(CLinker::default())))?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(out, h as usize as *mut lucet_linker_t, "out") }
    })
}

/// Defines the import `module`.`name` as `callback` with the given signature.
/// Defining the same name again replaces the earlier function for instances made
/// afterwards. `finalizer` (may be NULL) is called with `user_data` once the linker
/// and every instance made with it are freed.
///
/// # Safety
/// The strings are NULL or NUL-terminated; `params` and `results` are NULL or hold
/// `nparams` and `nresults` elements. `callback` must follow the `lucet_host_func_t`
/// contract, must not unwind (C++ exceptions, `longjmp`) out of the call, and, with
/// `user_data`, must be safe to call from every thread that runs instances using it.
#[no_mangle]
pub unsafe extern "C" fn lucet_linker_define_func(
    linker: *mut lucet_linker_t,
    module: *const c_char,
    name: *const c_char,
    params: *const lucet_val_type_t,
    nparams: usize,
    results: *const lucet_val_type_t,
    nresults: usize,
    callback: lucet_host_func_t,
    user_data: *mut c_void,
    finalizer: lucet_finalizer_t,
) -> lucet_error_t {
    guard("lucet_linker_define_func", || {
        let l = LINKERS.get(handle(linker))?;
        // SAFETY: the caller passes NULL or NUL-terminated strings, and arrays of the
        // given lengths.
        let (module, name, params, results) = unsafe {
            (
                str_arg(module, "module")?,
                str_arg(name, "name")?,
                slice_arg(params, nparams, "params")?,
                slice_arg(results, nresults, "results")?,
            )
        };
        let func = callback
            .ok_or_else(|| ApiError::invalid_argument("callback is NULL; pass a function"))?;
        let types = |list: &[lucet_val_type_t], what: &str| -> ApiResult<Vec<_>> {
            list.iter()
                .enumerate()
                .map(|(i, t)| type_from_c(*t, &|| format!("{what}[{i}]")))
                .collect()
        };
        let ty = FuncType {
            params: types(params, "params")?,
            results: types(results, "results")?,
        };
        let label = format!("`{module}`.`{name}`");
        let callback = Arc::new(Callback {
            func,
            user_data,
            finalizer,
            label,
            ty,
        });
        let mut l = l.lock().unwrap_or_else(|e| e.into_inner());
        l.defs.retain(|d| d.module != module || d.name != name);
        l.defs.push(Definition {
            module: module.to_string(),
            name: name.to_string(),
            callback,
        });
        Ok(())
    })
}

/// Frees a linker. Instances made with it keep its functions.
/// A stale, NULL or foreign handle is reported as `LUCET_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn lucet_linker_free(linker: *mut lucet_linker_t) -> lucet_error_t {
    guard("lucet_linker_free", || {
        LINKERS.remove(handle(linker)).map(drop)
    })
}

/// The calling instance's linear memory: its address and its current size. The
/// memory does not move, but it may grow, so the size holds only during this call.
///
/// # Safety
/// `base` and `len` are NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_heap(
    vmctx: *mut lucet_vmctx_t,
    base: *mut *mut u8,
    len: *mut usize,
) -> lucet_error_t {
    guard("lucet_vmctx_heap", || {
        let vm = current(vmctx)?;
        check_out(base, "base")?;
        check_out(len, "len")?;
        let mut heap = vm.heap_mut();
        // SAFETY: both checked non-NULL; the caller promises they are writable.
        unsafe {
            write_out(base, heap.as_mut_ptr(), "base")?;
            write_out(len, heap.len(), "len")
        }
    })
}

/// Copies `len` bytes at guest address `offset` of the calling instance's memory into
/// `buf`; `LUCET_ERR_OUT_OF_BOUNDS` if the range leaves the memory.
///
/// # Safety
/// `buf` is NULL (with `len` 0) or valid for writing `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_read_memory(
    vmctx: *mut lucet_vmctx_t,
    offset: u32,
    buf: *mut u8,
    len: usize,
) -> lucet_error_t {
    guard("lucet_vmctx_read_memory", || {
        let vm = current(vmctx)?;
        let heap = vm.heap();
        let src = crate::instance::guest_range(&heap, offset, len)?;
        // SAFETY: the caller promises `buf` takes `len` bytes.
        unsafe { crate::ptr::copy_out(buf, len, src, "buf") }
    })
}

/// Copies `len` bytes from `buf` to guest address `offset` of the calling instance's
/// memory; `LUCET_ERR_OUT_OF_BOUNDS` if the range leaves the memory.
///
/// # Safety
/// `buf` is NULL (with `len` 0) or valid for reading `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_write_memory(
    vmctx: *mut lucet_vmctx_t,
    offset: u32,
    buf: *const u8,
    len: usize,
) -> lucet_error_t {
    guard("lucet_vmctx_write_memory", || {
        let vm = current(vmctx)?;
        // SAFETY: the caller promises `buf` holds `len` bytes.
        let bytes = unsafe { slice_arg(buf, len, "buf") }?;
        let mut heap = vm.heap_mut();
        crate::instance::guest_write(&mut heap, offset, bytes)
    })
}

/// What a C host function yields.
pub(crate) struct YieldedU64(pub u64);

/// Suspends the run: `lucet_instance_run` (or `_resume`) returns with state
/// `LUCET_RUN_YIELDED` and `yielded_value` = `value`. When the host calls
/// `lucet_instance_resume(instance, v, ...)`, this returns with `*resumed_with` = `v`,
/// possibly on another thread. If the instance is reset or freed instead, this never
/// returns: the host function's frames are abandoned without running destructors, so
/// hold no resources across the yield that only its return would release.
///
/// # Safety
/// `resumed_with` is NULL or valid for writing a `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_yield(
    vmctx: *mut lucet_vmctx_t,
    value: u64,
    resumed_with: *mut u64,
) -> lucet_error_t {
    guard("lucet_vmctx_yield", || {
        let vm = current(vmctx)?;
        leave(vmctx as usize);
        let resumed = vm.yield_val_expecting_val::<YieldedU64, u64>(YieldedU64(value));
        enter(vmctx as usize);
        if resumed_with.is_null() {
            return Ok(());
        }
        // SAFETY: non-NULL; the caller promises it is writable.
        unsafe { write_out(resumed_with, resumed, "resumed_with") }
    })
}
