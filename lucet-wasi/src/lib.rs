//! WASI (`wasi_snapshot_preview1`, and the older `wasi_unstable`) for modules run by
//! `lucet-runtime`.
//!
//! A WASI program imports functions such as `fd_write` and `path_open`; this crate
//! provides all of them as native hostcalls and registers them with the runtime when
//! the program starts, so depending on the crate is enough (no linker flags, no
//! setup call). What a guest may see is described by a [`WasiCtx`], made with
//! [`WasiCtxBuilder`] and inserted into the instance with `insert_embed_ctx`:
//! arguments, environment variables, standard streams and preopened directories.
//! Nothing of the host is visible unless the builder says so. Files are reached
//! through capability handles (cap-std), so a guest cannot leave its preopened
//! directories by `..`, absolute paths or symlinks.
//!
//! ```no_run
//! use lucet_runtime::{DlModule, Limits, MmapRegion, Region};
//! use lucet_wasi::WasiCtxBuilder;
//!
//! let module = DlModule::load("hello.so")?;
//! let region = MmapRegion::create(1, &Limits::default())?;
//! let mut inst = region.new_instance(module)?;
//! inst.insert_embed_ctx(WasiCtxBuilder::new().arg("hello").inherit_stdio().build()?);
//! match inst.run("_start", &[]) {
//!     Ok(_) => {}
//!     Err(e) => match lucet_wasi::exit_code(&e) {
//!         Some(code) => std::process::exit(code as i32),
//!         None => return Err(e.into()),
//!     },
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `compile` feature (on by default), [`cache`] compiles `.wasm`/`.wat` files
//! with lucetc and keeps the results in a per-user cache that checks who wrote each
//! entry and what it was compiled from.
//!
//! A guest calling `proc_exit(code)` ends the run with
//! `Error::RuntimeTerminated(TerminationDetails::Provided(..))` holding an
//! [`ExitCode`]; [`exit_code`] extracts it.

#[cfg(feature = "compile")]
pub mod cache;
mod builder;
mod ctx;
mod duration;
mod filetype;
mod hostcalls;
mod mem;
mod preview1;
pub mod types;

pub use builder::WasiCtxBuilder;
pub use ctx::{Error, OutputCapture, WasiCtx};
pub use duration::parse_duration;
pub use hostcalls::{wasi_hostcalls, ExitCode};

/// The exit code of a run that ended with the guest calling `proc_exit`.
pub fn exit_code(err: &lucet_runtime::Error) -> Option<u32> {
    match err {
        lucet_runtime::Error::RuntimeTerminated(details) => details
            .provided_details()
            .and_then(|d| d.downcast_ref::<ExitCode>())
            .map(|c| c.0),
        _ => None,
    }
}

/// Kept for programs written for the original Lucet, which had to call it so the
/// linker would keep the WASI symbols. The hostcalls are registered when the
/// program starts; calling this registers them again, harmlessly.
pub fn export_wasi_funcs() {
    hostcalls::ensure_registered();
}
