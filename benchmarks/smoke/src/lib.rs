//! A workspace default member whose only purpose is its test: `lucet-bench --quick
//! --lucet-only` (a few sightglass programs, once, under lucet) runs on every plain
//! `cargo test`. The benchmarks crate itself stays out of the default members because
//! its full build includes Wasmtime; this crate depends on it with that feature off.
