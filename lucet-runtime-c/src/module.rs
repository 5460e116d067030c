//! Loading modules.

use crate::error::{guard, lucet_error_t};
use crate::handles::{Kind, Table};
use crate::ptr::{check_out, str_arg, write_out};
use lucet_runtime::{DlModule, PublicKey};
use std::ffi::c_char;

/// A module lucetc compiled, loaded into the process. Opaque: see `handles.rs`.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct lucet_module_t {
    _opaque: [u8; 0],
}

pub(crate) static MODULES: Table<DlModule> = Table::new(Kind::Module);

pub(crate) fn handle(module: *const lucet_module_t) -> u64 {
    module as usize as u64
}

/// Where a module's imports must come from when it is loaded.
#[derive(Clone, Copy)]
enum Imports {
    /// Every import is a registered hostcall (WASI, for instance).
    Registered,
    /// Imports that are not registered hostcalls are left to a linker.
    LeaveToLinker,
}

/// # Safety
/// As for the exported functions that call it. `public_key_path` is `None` for a load
/// without a signature check.
unsafe fn load(
    function: &str,
    path: *const c_char,
    public_key_path: Option<*const c_char>,
    out: *mut *mut lucet_module_t,
    imports: Imports,
) -> lucet_error_t {
    guard(function, || {
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let path = unsafe { str_arg(path, "path") }?;
        let key = match public_key_path {
            None => None,
            Some(p) => {
                // SAFETY: the caller passes NULL or a NUL-terminated string.
                let key_path = unsafe { str_arg(p, "public_key_path") }?;
                Some(PublicKey::from_file(key_path)?)
            }
        };
        check_out(out, "out")?;
        // A static library only links the objects a program refers to, so the WASI
        // hostcalls' registration at start-up may be missing: register them here.
        lucet_wasi::export_wasi_funcs();
        let module = match (imports, &key) {
            (Imports::Registered, None) => DlModule::load(path),
            (Imports::LeaveToLinker, None) => DlModule::load_unresolved(path),
            (Imports::Registered, Some(key)) => DlModule::load_verified(path, key),
            (Imports::LeaveToLinker, Some(key)) => DlModule::load_verified_unresolved(path, key),
        }
        .map_err(|e| {
            let mut e = crate::error::ApiError::from(e);
            if e.code == lucet_error_t::LUCET_ERR_UNRESOLVED_IMPORT {
                e.message.push_str(
                    " (to provide it from C, load the module with lucet_module_load_unresolved and define the \
                     import with lucet_linker_define_func)",
                );
            }
            e
        })?;
        let h = MODULES.insert(module)?;
        // SAFETY: checked non-NULL above; the caller promises it is writable.
        unsafe { write_out(out, h as usize as *mut lucet_module_t, "out") }
    })
}

/// Loads the module compiled by lucetc at `path`. Every function it imports must be a
/// registered hostcall (the WASI functions are); a module that imports functions the
/// host defines with a linker is loaded with `lucet_module_load_unresolved`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` is NULL or valid for writing a
/// handle. The file is checked before it is loaded, and one with initialisers or
/// anything else lucetc never writes is refused, so none of its code runs here; the
/// module's code then runs with the host's privileges, inside the sandbox lucetc
/// compiled it for. To know who made the file, load it with `lucet_module_load_verified`.
#[no_mangle]
pub unsafe extern "C" fn lucet_module_load(
    path: *const c_char,
    out: *mut *mut lucet_module_t,
) -> lucet_error_t {
    // SAFETY: forwarded from this function's contract.
    unsafe { load("lucet_module_load", path, None, out, Imports::Registered) }
}

/// Like `lucet_module_load`, but function imports that are not registered hostcalls
/// are left unresolved, to be provided by the linker given to
/// `lucet_region_new_instance`.
///
/// # Safety
/// As for `lucet_module_load`.
#[no_mangle]
pub unsafe extern "C" fn lucet_module_load_unresolved(
    path: *const c_char,
    out: *mut *mut lucet_module_t,
) -> lucet_error_t {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        load(
            "lucet_module_load_unresolved",
            path,
            None,
            out,
            Imports::LeaveToLinker,
        )
    }
}

/// Like `lucet_module_load`, but only if `PATH.minisig` is a valid minisign signature of
/// the file by the public key in the file `public_key_path` (as `minisign -G` writes
/// it). A missing, malformed or foreign signature, a file changed after signing, or an
/// unreadable key is `LUCET_ERR_SIGNATURE`, and nothing from the file is mapped
/// executable.
///
/// # Safety
/// `path` and `public_key_path` are NULL or NUL-terminated strings; `out` is NULL or
/// valid for writing a handle.
#[no_mangle]
pub unsafe extern "C" fn lucet_module_load_verified(
    path: *const c_char,
    public_key_path: *const c_char,
    out: *mut *mut lucet_module_t,
) -> lucet_error_t {
    // SAFETY: forwarded from this function's contract.
    unsafe { load("lucet_module_load_verified", path, Some(public_key_path), out, Imports::Registered) }
}

/// `lucet_module_load_verified` with the imports of `lucet_module_load_unresolved`.
///
/// # Safety
/// As for `lucet_module_load_verified`.
#[no_mangle]
pub unsafe extern "C" fn lucet_module_load_verified_unresolved(
    path: *const c_char,
    public_key_path: *const c_char,
    out: *mut *mut lucet_module_t,
) -> lucet_error_t {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        load(
            "lucet_module_load_verified_unresolved",
            path,
            Some(public_key_path),
            out,
            Imports::LeaveToLinker,
        )
    }
}

/// Frees a module handle. Instances made from it keep the module loaded until they
/// are freed too.
/// A stale, NULL or foreign handle is reported as `LUCET_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn lucet_module_free(module: *mut lucet_module_t) -> lucet_error_t {
    guard("lucet_module_free", || {
        MODULES.remove(handle(module)).map(drop)
    })
}
