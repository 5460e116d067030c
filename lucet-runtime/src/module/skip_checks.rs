//! The gate of the `unsafe-skip-load-checks` feature, which makes `DlModule::load` trust
//! a file without checking it, for measuring what the checks add to a load
//! (docs/benchmarks.md, "What the load-time checks cost").
//!
//! A feature alone could be switched on by any crate in a build's dependency graph, and
//! would then silently turn off the checks for the whole program. So the feature is
//! refused at compile time unless the build is a release build and the environment of
//! the build itself says this is a measurement: only whoever runs `cargo` can set that,
//! never a dependency. Cargo rebuilds lucet-runtime when the variable changes, as it is
//! read with `option_env!`.

/// What `LUCET_UNSAFE_SKIP_LOAD_CHECKS` must hold.
const MEASUREMENT: &[u8] = b"measurement-only";

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const ASKED: bool = match option_env!("LUCET_UNSAFE_SKIP_LOAD_CHECKS") {
    Some(v) => same(v.as_bytes(), MEASUREMENT),
    None => false,
};

const _: () = assert!(
    ASKED && !cfg!(debug_assertions),
    "lucet-runtime's `unsafe-skip-load-checks` feature makes `DlModule::load` load module files without \
     checking them: their constructors run and their pointers are believed. It exists only to measure what \
     the checks cost (docs/benchmarks.md), in a release build with LUCET_UNSAFE_SKIP_LOAD_CHECKS=measurement-only \
     set in the build's environment. Remove the feature from the build"
);
