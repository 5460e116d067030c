//! Both runtimes hand a program the same `random_get` bytes and realtime clock
//! readings: a guest asks for random bytes in unevenly sized pieces, reads the clock
//! twice and prints it all, and lucet, Wasmtime and the generators themselves must
//! agree on every byte, run after run.
#![cfg(feature = "wasmtime")]

use lucet_benchmarks::lucet_side::LucetProgram;
use lucet_benchmarks::seeded_random::SeededBytes;
use lucet_benchmarks::stepping_clock::SteppingClock;
use lucet_benchmarks::wasmtime_side::WasmtimeRunner;

/// Fills 4096.. with random_get requests of 3, 0, 13, 1 and 103 bytes, puts two
/// realtime clock readings after them (8-aligned: Wasmtime refuses unaligned ones),
/// then writes those 136 bytes to stdout.
const GUEST: &str = r#"
(module
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func $get (param $at i32) (param $len i32)
    (if (call $random_get (i32.add (i32.const 4096) (local.get $at)) (local.get $len))
      (then unreachable)))
  (func (export "_start")
    (call $get (i32.const 0) (i32.const 3))
    (call $get (i32.const 3) (i32.const 0))
    (call $get (i32.const 3) (i32.const 13))
    (call $get (i32.const 16) (i32.const 1))
    (call $get (i32.const 17) (i32.const 103))
    (if (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 4216)) (then unreachable))
    (if (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 4224)) (then unreachable))
    (i32.store (i32.const 16) (i32.const 4096))
    (i32.store (i32.const 20) (i32.const 136))
    (if (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8))
      (then unreachable))))
"#;

#[test]
fn lucet_and_wasmtime_get_the_same_random_bytes_and_clock() {
    let wasm = wat::parse_str(GUEST).expect("the guest assembles");
    let cache = tempfile::tempdir().expect("a cache directory");
    let dir = tempfile::tempdir().expect("a working directory");

    let mut expected = vec![0u8; 120];
    SeededBytes::for_run().fill(&mut expected);
    let mut clock = SteppingClock::for_run();
    expected.extend(clock.read().to_le_bytes());
    expected.extend(clock.read().to_le_bytes());

    let so = lucet_benchmarks::compile::lucetc(&wasm, cache.path(), lucetc::TargetCpu::Native, false)
        .expect("lucetc compiles the guest");
    let lucet = LucetProgram::load(&so.path).expect("lucet loads the guest");
    let wasmtime = WasmtimeRunner::new().expect("a Wasmtime engine");
    let cwasm = wasmtime.precompile(&wasm, cache.path(), false).expect("Wasmtime compiles the guest");
    let wasmtime = wasmtime.load(&cwasm.path).expect("Wasmtime loads the guest");

    // Twice each, alternating as the harness does: every run starts the stream afresh.
    for round in 0..2 {
        let l = lucet.run("guest", dir.path()).expect("the guest runs under lucet");
        assert_eq!(l.stdout, expected, "lucet, round {round}");
        let w = wasmtime.run("guest", dir.path()).expect("the guest runs under Wasmtime");
        assert_eq!(w.stdout, expected, "Wasmtime, round {round}");
    }
}
