//! Instances: a module's state in one slot, and running its functions.
//!
//! An [`Instance`] lives behind an `Arc` so that the handles of its exports
//! ([`crate::Extern`]) and the instances that import from it keep it alive; only the
//! [`InstanceHandle`] hands out `&mut Instance`. Compiled code and hostcalls reach the
//! instance through the vmctx header's `instance` pointer.
//!
//! The files, each importing only those listed before it:
//!
//! - `tags.rs`: exception tags and the exception objects an instance keeps;
//! - `host.rs`: host closures (and the exceptions they throw) and host-owned global
//!   storage;
//! - `memory_geometry.rs`: which mappings satisfy the code that accesses a memory;
//! - `core.rs`: `Instance`, its `Arc` cell, and `at_vmctx`;
//! - `handle.rs`: `InstanceHandle`, export owners, walks over linked instances;
//! - `externs.rs`: `Extern` handles;
//! - `exceptions.rs`: throwing (the `Throw` and `ThrowRef` builtins, and exceptions of
//!   host closures raised again at the adapter) and the instance's own tags;
//! - `builtins.rs`: the functions compiled code calls through the vmctx header;
//! - `link.rs`, `init.rs`, `globals.rs`, `memory.rs`, `embed_ctx.rs`, `exports.rs`,
//!   `run.rs`: what an instance does, one concept each (methods of `Instance`);
//! - `builder.rs`: `InstanceBuilder` and the `Region` trait.

mod builder;
mod builtins;
mod core;
mod embed_ctx;
mod exceptions;
mod exports;
mod externs;
mod globals;
mod handle;
mod host;
mod init;
mod link;
mod memory;
mod memory_geometry;
mod run;
mod tags;

pub use self::core::Instance;
pub(crate) use run::CallSig;
pub use builder::{InstanceBuilder, Region};
pub use externs::{Extern, Func, Global, Memory, Table};
pub use handle::InstanceHandle;
pub use host::Trap;
pub use tags::Tag;
