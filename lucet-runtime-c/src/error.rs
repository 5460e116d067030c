//! Error codes, the per-thread error message, and the wrapper every exported function
//! runs its body in.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a call returns: `LUCET_OK`, or the kind of failure. The message that goes with
/// a failure is read with [`lucet_error_message`].
///
/// Only ever returned to C, never read from it, so a C value outside the enum can
/// never reach Rust as this type (functions that take a code take an `int32_t`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lucet_error_t {
    LUCET_OK = 0,
    /// A NULL pointer, a string that is not UTF-8, a value of the wrong type, or
    /// another argument the function cannot use.
    LUCET_ERR_INVALID_ARGUMENT = 1,
    /// A handle that is NULL, was already freed, or is of another kind.
    LUCET_ERR_INVALID_HANDLE = 2,
    /// The handle is in use by a call that has not returned (a run of the same
    /// instance, on this thread from a host function or on another thread).
    LUCET_ERR_BUSY = 3,
    /// The file is not a module lucetc compiled, or it cannot be read or loaded.
    LUCET_ERR_INVALID_MODULE = 4,
    /// The module was compiled for another format version or for CPU features this
    /// machine lacks.
    LUCET_ERR_INCOMPATIBLE_MODULE = 5,
    /// The module's signature is missing or does not match the public key.
    LUCET_ERR_SIGNATURE = 6,
    /// An import the module needs is provided by nothing.
    LUCET_ERR_UNRESOLVED_IMPORT = 7,
    /// The module has no export of that name (or it is not a function).
    LUCET_ERR_SYMBOL_NOT_FOUND = 8,
    /// The region could not be created, or it has no free slot.
    LUCET_ERR_REGION = 9,
    /// The module or the request does not fit the region's limits.
    LUCET_ERR_LIMITS_EXCEEDED = 10,
    /// The guest trapped; `lucet_run_result_t.trap_code` says why.
    LUCET_ERR_RUNTIME_FAULT = 11,
    /// The run was stopped: by a kill switch, or by a host function that failed.
    LUCET_ERR_RUNTIME_TERMINATED = 12,
    /// Instantiation trapped (a segment out of bounds, a trap in the start function).
    LUCET_ERR_INSTANTIATION_TRAP = 13,
    /// The instance yielded: resume it or reset it before running it again.
    LUCET_ERR_INSTANCE_NOT_RETURNED = 14,
    /// `lucet_instance_resume` on an instance that is not yielded.
    LUCET_ERR_INSTANCE_NOT_YIELDED = 15,
    /// The instance was terminated earlier and must be reset before it runs again.
    LUCET_ERR_INSTANCE_NEEDS_RESET = 16,
    /// A kill switch found no run to stop.
    LUCET_ERR_NOT_RUNNING = 17,
    /// A guest memory range outside the guest's memory.
    LUCET_ERR_OUT_OF_BOUNDS = 18,
    /// A buffer given by the caller is too small for the result.
    LUCET_ERR_BUFFER_TOO_SMALL = 19,
    /// A WASI context setting that cannot be used (see the message).
    LUCET_ERR_WASI = 20,
    /// A system call failed.
    LUCET_ERR_IO = 21,
    /// A bug in the runtime: please report it with the message.
    LUCET_ERR_INTERNAL = 22,
}

use lucet_error_t::*;

impl lucet_error_t {
    /// Every code, in order of value.
    pub const ALL: [lucet_error_t; 23] = [
        LUCET_OK,
        LUCET_ERR_INVALID_ARGUMENT,
        LUCET_ERR_INVALID_HANDLE,
        LUCET_ERR_BUSY,
        LUCET_ERR_INVALID_MODULE,
        LUCET_ERR_INCOMPATIBLE_MODULE,
        LUCET_ERR_SIGNATURE,
        LUCET_ERR_UNRESOLVED_IMPORT,
        LUCET_ERR_SYMBOL_NOT_FOUND,
        LUCET_ERR_REGION,
        LUCET_ERR_LIMITS_EXCEEDED,
        LUCET_ERR_RUNTIME_FAULT,
        LUCET_ERR_RUNTIME_TERMINATED,
        LUCET_ERR_INSTANTIATION_TRAP,
        LUCET_ERR_INSTANCE_NOT_RETURNED,
        LUCET_ERR_INSTANCE_NOT_YIELDED,
        LUCET_ERR_INSTANCE_NEEDS_RESET,
        LUCET_ERR_NOT_RUNNING,
        LUCET_ERR_OUT_OF_BOUNDS,
        LUCET_ERR_BUFFER_TOO_SMALL,
        LUCET_ERR_WASI,
        LUCET_ERR_IO,
        LUCET_ERR_INTERNAL,
    ];

    /// The code's name, as spelled in `lucet.h`, NUL-terminated.
    fn name(self) -> &'static str {
        match self {
            LUCET_OK => "LUCET_OK\0",
            LUCET_ERR_INVALID_ARGUMENT => "LUCET_ERR_INVALID_ARGUMENT\0",
            LUCET_ERR_INVALID_HANDLE => "LUCET_ERR_INVALID_HANDLE\0",
            LUCET_ERR_BUSY => "LUCET_ERR_BUSY\0",
            LUCET_ERR_INVALID_MODULE => "LUCET_ERR_INVALID_MODULE\0",
            LUCET_ERR_INCOMPATIBLE_MODULE => "LUCET_ERR_INCOMPATIBLE_MODULE\0",
            LUCET_ERR_SIGNATURE => "LUCET_ERR_SIGNATURE\0",
            LUCET_ERR_UNRESOLVED_IMPORT => "LUCET_ERR_UNRESOLVED_IMPORT\0",
            LUCET_ERR_SYMBOL_NOT_FOUND => "LUCET_ERR_SYMBOL_NOT_FOUND\0",
            LUCET_ERR_REGION => "LUCET_ERR_REGION\0",
            LUCET_ERR_LIMITS_EXCEEDED => "LUCET_ERR_LIMITS_EXCEEDED\0",
            LUCET_ERR_RUNTIME_FAULT => "LUCET_ERR_RUNTIME_FAULT\0",
            LUCET_ERR_RUNTIME_TERMINATED => "LUCET_ERR_RUNTIME_TERMINATED\0",
            LUCET_ERR_INSTANTIATION_TRAP => "LUCET_ERR_INSTANTIATION_TRAP\0",
            LUCET_ERR_INSTANCE_NOT_RETURNED => "LUCET_ERR_INSTANCE_NOT_RETURNED\0",
            LUCET_ERR_INSTANCE_NOT_YIELDED => "LUCET_ERR_INSTANCE_NOT_YIELDED\0",
            LUCET_ERR_INSTANCE_NEEDS_RESET => "LUCET_ERR_INSTANCE_NEEDS_RESET\0",
            LUCET_ERR_NOT_RUNNING => "LUCET_ERR_NOT_RUNNING\0",
            LUCET_ERR_OUT_OF_BOUNDS => "LUCET_ERR_OUT_OF_BOUNDS\0",
            LUCET_ERR_BUFFER_TOO_SMALL => "LUCET_ERR_BUFFER_TOO_SMALL\0",
            LUCET_ERR_WASI => "LUCET_ERR_WASI\0",
            LUCET_ERR_IO => "LUCET_ERR_IO\0",
            LUCET_ERR_INTERNAL => "LUCET_ERR_INTERNAL\0",
        }
    }
}

/// A failure on its way to C: the code, and the message `lucet_error_message` returns.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub code: lucet_error_t,
    pub message: String,
}

impl ApiError {
    pub fn new(code: lucet_error_t, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> ApiError {
        ApiError::new(LUCET_ERR_INVALID_ARGUMENT, message)
    }
}

impl From<lucet_runtime::Error> for ApiError {
    fn from(e: lucet_runtime::Error) -> ApiError {
        use lucet_runtime::Error as E;
        let code = match &e {
            E::InvalidModule { .. } => LUCET_ERR_INVALID_MODULE,
            E::VersionMismatch { .. } | E::CpuFeatures { .. } => LUCET_ERR_INCOMPATIBLE_MODULE,
            E::UnresolvedImport(_) => LUCET_ERR_UNRESOLVED_IMPORT,
            E::SymbolNotFound(_) => LUCET_ERR_SYMBOL_NOT_FOUND,
            E::InvalidArgument(_) => LUCET_ERR_INVALID_ARGUMENT,
            E::Region(_) => LUCET_ERR_REGION,
            E::LimitsExceeded(_) => LUCET_ERR_LIMITS_EXCEEDED,
            E::RuntimeFault(_) => LUCET_ERR_RUNTIME_FAULT,
            E::RuntimeTerminated(_) => LUCET_ERR_RUNTIME_TERMINATED,
            E::InstantiationTrap(_) => LUCET_ERR_INSTANTIATION_TRAP,
            E::InstanceNotReturned => LUCET_ERR_INSTANCE_NOT_RETURNED,
            E::InstanceNotYielded => LUCET_ERR_INSTANCE_NOT_YIELDED,
            E::InstanceNeedsReset(_) => LUCET_ERR_INSTANCE_NEEDS_RESET,
            E::Io(_) => LUCET_ERR_IO,
            E::Internal(_) => LUCET_ERR_INTERNAL,
            E::SignatureRejected { .. } | E::InvalidPublicKey { .. } => LUCET_ERR_SIGNATURE,
            // The run ended without a result, as a failing host function ends it; the
            // message names the exception's tag.
            E::UncaughtException { .. } => LUCET_ERR_RUNTIME_TERMINATED,
            // Kinds added to the runtime later get a code of their own when the C API
            // learns of them; until then they are internal errors with their message.
            _ => LUCET_ERR_INTERNAL,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<lucet_runtime::GuestMemoryError> for ApiError {
    fn from(e: lucet_runtime::GuestMemoryError) -> ApiError {
        ApiError::new(LUCET_ERR_OUT_OF_BOUNDS, e.to_string())
    }
}

pub(crate) type ApiResult<T = ()> = Result<T, ApiError>;

thread_local! {
    /// The message of the last failed call on this thread.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // Interior NULs would cut the message short in C; they are shown as spaces.
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|m| *m.borrow_mut() = text);
}

/// Runs the body of an exported function: its error becomes the returned code and
/// the thread's message, and a panic becomes `LUCET_ERR_INTERNAL` instead of
/// unwinding into C.
pub(crate) fn guard(function: &str, body: impl FnOnce() -> ApiResult) -> lucet_error_t {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        let what = lucet_runtime::panic_message(payload.as_ref());
        Err(ApiError::new(
            LUCET_ERR_INTERNAL,
            format!("internal error (a panic: {what}); please report it"),
        ))
    });
    match outcome {
        Ok(()) => LUCET_OK,
        Err(e) => {
            set_last_error(&format!("{function}: {}", e.message));
            e.code
        }
    }
}

/// The message of the most recent call on this thread that returned an error, as a
/// NUL-terminated UTF-8 string naming the function, the problem and what to do about
/// it. Empty if no call has failed on this thread.
///
/// The string stays valid until the next call of this library on the same thread
/// fails; copy it to keep it.
#[no_mangle]
pub extern "C" fn lucet_error_message() -> *const c_char {
    LAST_ERROR.with(|m| m.borrow().as_ptr())
}

/// The name of an error code (`"LUCET_ERR_INVALID_HANDLE"`), or `"LUCET_ERR_UNKNOWN"`
/// for a value that is not one. The string is static.
#[no_mangle]
pub extern "C" fn lucet_error_name(code: i32) -> *const c_char {
    let name = lucet_error_t::ALL
        .iter()
        .find(|c| **c as i32 == code)
        .map(|c| c.name())
        .unwrap_or("LUCET_ERR_UNKNOWN\0");
    name.as_ptr().cast()
}
