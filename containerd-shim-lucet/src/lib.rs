//! A containerd shim that runs WASI programs with lucet: `containerd-shim-lucet-v1`,
//! the runtime `io.containerd.lucet.v1`. A container whose command names a `.wasm` or
//! `.wat` module, or a `.so` lucetc compiled, runs that module's entrypoint with WASI:
//! the container's arguments and environment, its root directory preopened as `/`, and
//! its standard streams. containerd and its runtime library (`containerd-shim-wasm`,
//! with youki's libcontainer) make the container: namespaces, cgroup, root filesystem.
//!
//! The modules go from plain decisions to the containerd glue, each using only those
//! before it: [`entry`] (what the entrypoint is), [`settings`] (what the container asks
//! for), [`run`] (one run, testable without containerd), [`shim`] (the traits).

pub mod entry;
pub mod run;
pub mod settings;
pub mod shim;

pub use shim::{LucetCompiler, LucetSandbox, LucetShim};
