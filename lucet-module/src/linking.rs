//! What a compiled module may ask of the dynamic linker.
//!
//! Cranelift turns a few operations into calls to C library functions ("libcalls"): the
//! rounding functions when the CPU lacks SSE4.1, `fma` without FMA, and the memory
//! functions. Those are the only symbols a module may leave undefined, and libm and libc
//! the only libraries it may need. lucetc refuses to link anything else, and the runtime
//! refuses to load a file that asks for more, because every other library would run its
//! constructors inside the host.

/// The functions a module may import from the C libraries.
pub const LIBCALLS: &[&str] = &[
    "ceil",
    "ceilf",
    "floor",
    "floorf",
    "trunc",
    "truncf",
    "nearbyint",
    "nearbyintf",
    "fma",
    "fmaf",
    "memcpy",
    "memset",
    "memmove",
    "memcmp",
];

/// The libraries that define [`LIBCALLS`], as named in `DT_NEEDED`.
pub const LIBCALL_LIBRARIES: &[&str] = &["libm.so.6", "libc.so.6"];
