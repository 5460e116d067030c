//! Benchmarks of lucet against Wasmtime.
