//! Measures lucet against Wasmtime, side by side in the same process.
//!
//! Two kinds of figures come out of this crate. The criterion benches
//! (`benches/runtime.rs`) time the runtime's own costs — instantiate, reset, calls in
//! both directions, traps — next to the same operation on Wasmtime with its pooling
//! allocator; the `bench-report` binary turns criterion's output into the ratio table
//! of `docs/benchmarks.md`. The `lucet-bench` binary runs the sightglass programs
//! (compute kernels nobody here wrote) under both runtimes, alternating between them,
//! and writes per-program tables, group geometric means and an SVG chart into the same
//! document. Building without the default `wasmtime` feature leaves only the lucet side
//! (`lucet-bench --lucet-only`), which is what the workspace's smoke test uses so that
//! Wasmtime never enters the default build.
//!
//! The pieces: [`compile`] turns `.wasm` into cached `.so` files with lucetc and
//! remembers how long that took; [`sightglass`] finds the programs, decides which can
//! run and checks their output; [`lucet_side`] and `wasmtime_side` run one program
//! once; [`hooks`] is the `bench.start`/`bench.end` clock both share;
//! [`seeded_random`] and [`stepping_clock`] are the random bytes and the realtime
//! clock both show a program, so that randomized programs do the same work on both
//! sides; [`report`] writes the Markdown and the SVG.

pub mod combine;
pub mod compile;
pub mod driver;
pub mod hooks;
pub mod lucet_side;
pub mod machine;
pub mod report;
pub mod seeded_random;
pub mod sightglass;
pub mod stepping_clock;
#[cfg(feature = "wasmtime")]
pub mod wasmtime_side;

use std::path::{Path, PathBuf};

/// The Wasmtime release the comparison runs against: 48 as this crate's manifest pins
/// it, 49 when `benchmarks/wasmtime49` builds this same source against that release.
pub const WASMTIME_VERSION: &str = if cfg!(feature = "wasmtime49") { "49.0.3" } else { "48.0.8" };

/// How to run the comparison against [`WASMTIME_VERSION`] (for the report).
pub const BENCH_COMMAND: &str = if cfg!(feature = "wasmtime49") {
    "cargo run --release --ignore-rust-version --manifest-path benchmarks/wasmtime49/Cargo.toml --bin lucet-bench --"
} else {
    "cargo run --release -p lucet-benchmarks --bin lucet-bench --"
};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate lives at benchmarks/lucet-benchmarks in the workspace")
        .to_owned()
}

/// Where criterion keeps its results, found the way criterion itself finds it:
/// `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else `target/criterion` in the
/// workspace. The runtime bench writes its own records (build profile, idle memory)
/// beside criterion's, and `bench-report` reads them from there, so all three agree.
pub fn criterion_dir() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(home) => PathBuf::from(home),
        None => target_dir().join("criterion"),
    }
}

/// Where repeated runs of the runtime bench go, one subdirectory each (run the bench
/// with `CRITERION_HOME` set to `<this>/<n>`); `bench-report` reads them all.
pub fn criterion_runs_dir() -> PathBuf {
    target_dir().join("criterion-runs")
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `target` in the workspace.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => PathBuf::from(target),
        None => workspace_root().join("target"),
    }
}

/// What one run of a sightglass program produced.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// What the region between `bench.start` and `bench.end` cost, if the program called both.
    pub measured: Option<hooks::Measurement>,
}
