//! The C API of lucet-runtime and lucet-wasi: a shared library
//! (`liblucet_runtime_c.so`) and a static one (`liblucet_runtime_c.a`) with the
//! header `include/lucet.h`, for hosts written in C, C++, Go or Python.
//!
//! Every function returns a [`lucet_error_t`]; the message of a failure is read with
//! [`lucet_error_message`]. Objects are handles, each freed by its own function.
//! Handles are numbers checked on every call (see `handles.rs`), so a NULL, freed or
//! mixed-up handle is an error, never a crash. What cannot be checked is raw memory
//! that C passes in: pointers to buffers, strings and out-parameters must be valid
//! for what each function's documentation says.
//!
//! `README.md` next to this file describes the API as a C programmer meets it;
//! `examples/c-host` at the repository root is a complete host.

mod error;
mod handles;
mod hostfunc;
mod instance;
mod module;
mod ptr;
mod region;
mod val;
mod wasi;

pub use error::{lucet_error_message, lucet_error_name, lucet_error_t};
pub use hostfunc::*;
pub use instance::*;
pub use module::*;
pub use region::*;
pub use val::*;
pub use wasi::*;
