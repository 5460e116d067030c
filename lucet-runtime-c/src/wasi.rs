//! WASI contexts: what a WASI guest sees of the host.

#![allow(non_camel_case_types)]

use crate::error::{guard, lucet_error_t, ApiError, ApiResult};
use crate::handles::{Kind, Table};
use crate::ptr::{check_out, str_arg, write_out};
use lucet_wasi::{WasiCtx, WasiCtxBuilder};
use std::ffi::c_char;
use std::fs::File;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The settings of a WASI context, applied to instances with
/// `lucet_instance_set_wasi_ctx`. Opaque: see `handles.rs`.
#[repr(C)]
pub struct lucet_wasi_ctx_t {
    _opaque: [u8; 0],
}

/// Where a standard stream goes.
#[derive(Default)]
enum Stream {
    /// Reads nothing, discards what is written.
    #[default]
    Null,
    /// The host process's own stream.
    Inherit,
    /// A descriptor the host gave; each instance gets its own duplicate.
    Fd(OwnedFd),
}

#[derive(Default)]
pub(crate) struct WasiConfig {
    args: Vec<String>,
    env: Vec<(String, String)>,
    inherit_env: bool,
    preopens: Vec<(PathBuf, String)>,
    stdin: Stream,
    stdout: Stream,
    stderr: Stream,
}

pub(crate) static WASI_CTXS: Table<Mutex<WasiConfig>> = Table::new(Kind::WasiCtx);

pub(crate) fn handle(wasi: *const lucet_wasi_ctx_t) -> u64 {
    wasi as usize as u64
}

fn wasi_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(lucet_error_t::LUCET_ERR_WASI, e.to_string())
}

fn file(fd: &OwnedFd) -> ApiResult<File> {
    fd.try_clone()
        .map(File::from)
        .map_err(|e| ApiError::new(lucet_error_t::LUCET_ERR_IO, format!("dup: {e}")))
}

impl WasiConfig {
    /// A fresh context for one instance.
    pub(crate) fn build(&self) -> ApiResult<WasiCtx> {
        let mut b = WasiCtxBuilder::new().args(&self.args);
        if self.inherit_env {
            b = b.inherit_env();
        }
        b = b.envs(self.env.iter().map(|(k, v)| (k, v)));
        for (host, guest) in &self.preopens {
            b = b.preopened_dir(host, guest);
        }
        b = match &self.stdin {
            Stream::Null => b,
            Stream::Inherit => b.inherit_stdin(),
            Stream::Fd(fd) => b.stdin(file(fd)?),
        };
        b = match &self.stdout {
            Stream::Null => b,
            Stream::Inherit => b.inherit_stdout(),
            Stream::Fd(fd) => b.stdout(file(fd)?),
        };
        b = match &self.stderr {
            Stream::Null => b,
            Stream::Inherit => b.inherit_stderr(),
            Stream::Fd(fd) => b.stderr(file(fd)?),
        };
        b.build().map_err(wasi_error)
    }
}

/// Runs `f` on the settings behind a handle.
fn with_config(
    wasi: *mut lucet_wasi_ctx_t,
    f: impl FnOnce(&mut WasiConfig) -> ApiResult,
) -> ApiResult {
    let config = WASI_CTXS.get(handle(wasi))?;
    let mut config = config.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut config)
}

/// Makes WASI settings that show the guest nothing of the host: no arguments, no
/// environment, no directories, and standard streams that read nothing and discard
/// output. The `lucet_wasi_ctx_*` functions add to them.
///
/// # Safety
/// `out` is NULL or valid for writing a handle.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_ctx_create(out: *mut *mut lucet_wasi_ctx_t) -> lucet_error_t {
    guard("lucet_wasi_ctx_create", || {
        check_out(out, "out")?;
        let h = WASI_CTXS.insert(Arc::new(Mutex::new(WasiConfig::default())))?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(out, h as usize as *mut lucet_wasi_ctx_t, "out") }
    })
}

/// Appends an argument; the first is conventionally the program's name.
///
/// # Safety
/// `arg` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_ctx_arg(
    wasi: *mut lucet_wasi_ctx_t,
    arg: *const c_char,
) -> lucet_error_t {
    guard("lucet_wasi_ctx_arg", || {
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let arg = unsafe { str_arg(arg, "arg") }?;
        with_config(wasi, |c| {
            c.args.push(arg.to_string());
            Ok(())
        })
    })
}

/// Sets an environment variable; setting a key again replaces its value.
///
/// # Safety
/// `key` and `value` are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_ctx_env(
    wasi: *mut lucet_wasi_ctx_t,
    key: *const c_char,
    value: *const c_char,
) -> lucet_error_t {
    guard("lucet_wasi_ctx_env", || {
        // SAFETY: the caller passes NULL or NUL-terminated strings.
        let (key, value) = unsafe { (str_arg(key, "key")?, str_arg(value, "value")?) };
        if key.is_empty() || key.contains('=') {
            return Err(wasi_error(format!(
                "environment variable name {key:?} is empty or contains '='; pass the name and the value separately"
            )));
        }
        with_config(wasi, |c| {
            c.env.retain(|(k, _)| k != key);
            c.env.push((key.to_string(), value.to_string()));
            Ok(())
        })
    })
}

/// Passes the host's whole environment (variables set with `lucet_wasi_ctx_env` win).
/// A stale, NULL or foreign handle is reported as `LUCET_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn lucet_wasi_ctx_inherit_env(wasi: *mut lucet_wasi_ctx_t) -> lucet_error_t {
    guard("lucet_wasi_ctx_inherit_env", || {
        with_config(wasi, |c| {
            c.inherit_env = true;
            Ok(())
        })
    })
}

/// Gives the guest the host directory `host_path` under the name `guest_path`. The
/// guest can reach only what lies beneath it.
///
/// # Safety
/// `host_path` and `guest_path` are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_ctx_preopen_dir(
    wasi: *mut lucet_wasi_ctx_t,
    host_path: *const c_char,
    guest_path: *const c_char,
) -> lucet_error_t {
    guard("lucet_wasi_ctx_preopen_dir", || {
        // SAFETY: the caller passes NULL or NUL-terminated strings.
        let (host, guest) = unsafe {
            (
                str_arg(host_path, "host_path")?,
                str_arg(guest_path, "guest_path")?,
            )
        };
        if !std::path::Path::new(host).is_dir() {
            return Err(wasi_error(format!(
                "{host} is not a directory; preopen an existing directory"
            )));
        }
        if guest.is_empty() {
            return Err(wasi_error(format!(
                "the guest path for {host} is empty; name it, e.g. \".\" or \"/data\""
            )));
        }
        with_config(wasi, |c| {
            c.preopens.push((host.into(), guest.to_string()));
            Ok(())
        })
    })
}

/// Connects the guest's stdin, stdout and stderr to the host process's.
/// A stale, NULL or foreign handle is reported as `LUCET_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn lucet_wasi_ctx_inherit_stdio(wasi: *mut lucet_wasi_ctx_t) -> lucet_error_t {
    guard("lucet_wasi_ctx_inherit_stdio", || {
        with_config(wasi, |c| {
            c.stdin = Stream::Inherit;
            c.stdout = Stream::Inherit;
            c.stderr = Stream::Inherit;
            Ok(())
        })
    })
}

/// A duplicate of the caller's descriptor, so the caller may close its own.
fn dup(fd: i32) -> ApiResult<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC only reads the descriptor table; an fd that is not open
    // fails with EBADF and changes nothing.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        let e = std::io::Error::last_os_error();
        return Err(ApiError::invalid_argument(format!(
            "file descriptor {fd} cannot be used ({e}); pass an open one"
        )));
    }
    // SAFETY: `new` was just returned by fcntl and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

fn set_stream(
    function: &str,
    wasi: *mut lucet_wasi_ctx_t,
    fd: i32,
    pick: fn(&mut WasiConfig) -> &mut Stream,
) -> lucet_error_t {
    guard(function, || {
        let fd = dup(fd)?;
        with_config(wasi, |c| {
            *pick(c) = Stream::Fd(fd);
            Ok(())
        })
    })
}

/// The guest's stdin reads from the descriptor `fd`, which is duplicated (close yours
/// when you like). A bad descriptor is `LUCET_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn lucet_wasi_ctx_set_stdin(wasi: *mut lucet_wasi_ctx_t, fd: i32) -> lucet_error_t {
    set_stream("lucet_wasi_ctx_set_stdin", wasi, fd, |c| &mut c.stdin)
}

/// The guest's stdout writes to the descriptor `fd`, duplicated as for stdin.
#[no_mangle]
pub extern "C" fn lucet_wasi_ctx_set_stdout(wasi: *mut lucet_wasi_ctx_t, fd: i32) -> lucet_error_t {
    set_stream("lucet_wasi_ctx_set_stdout", wasi, fd, |c| &mut c.stdout)
}

/// The guest's stderr writes to the descriptor `fd`, duplicated as for stdin.
#[no_mangle]
pub extern "C" fn lucet_wasi_ctx_set_stderr(wasi: *mut lucet_wasi_ctx_t, fd: i32) -> lucet_error_t {
    set_stream("lucet_wasi_ctx_set_stderr", wasi, fd, |c| &mut c.stderr)
}

/// Frees WASI settings. Instances they were given to keep their contexts.
/// A stale, NULL or foreign handle is reported as `LUCET_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn lucet_wasi_ctx_free(wasi: *mut lucet_wasi_ctx_t) -> lucet_error_t {
    guard("lucet_wasi_ctx_free", || {
        WASI_CTXS.remove(handle(wasi)).map(drop)
    })
}
