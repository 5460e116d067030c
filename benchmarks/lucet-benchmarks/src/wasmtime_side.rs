//! Running a sightglass program under Wasmtime with its WASI preview1 implementation.
//!
//! The same source builds against Wasmtime 48 (this crate) and 49
//! (`benchmarks/wasmtime49`); the APIs it uses are the same in both.
//!
//! The engine uses Wasmtime's default configuration (Cranelift, the host's CPU
//! features, on-demand allocation), as a user would get it; modules are precompiled
//! with `Engine::precompile_module` and deserialized before running.

use crate::compile::{self, Artifact};
use crate::hooks;
use crate::seeded_random::SeededBytes;
use crate::stepping_clock::SteppingClock;
use crate::RunOutput;
use std::cell::Cell;
use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;
use wasmtime::{Engine, InstancePre, Linker, Module, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, HostWallClock, I32Exit, WasiCtxBuilder};

/// Most output a program may print before it is cut off (far above any sightglass program).
const OUTPUT_CAPACITY: usize = 64 << 20;

pub struct WasmtimeRunner {
    engine: Engine,
    linker: Linker<WasiP1Ctx>,
}

impl WasmtimeRunner {
    pub fn new() -> Result<WasmtimeRunner, String> {
        let engine = Engine::default();
        let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |t| t).map_err(|e| format!("wasmtime WASI: {e}"))?;
        linker.func_wrap("bench", "start", hooks::start).map_err(|e| e.to_string())?;
        linker.func_wrap("bench", "end", hooks::end).map_err(|e| e.to_string())?;
        Ok(WasmtimeRunner { engine, linker })
    }

    /// Precompiles `wasm` (cached like lucetc's output, with its compile time).
    pub fn precompile(&self, wasm: &[u8], cache_dir: &Path, recompile: bool) -> Result<Artifact, compile::Error> {
        let key = format!("wasmtime-{}:{}", crate::WASMTIME_VERSION, compile::cache_key(&[wasm]));
        compile::cached(cache_dir, &key, "cwasm", recompile, |out| {
            let bytes = self.engine.precompile_module(wasm).map_err(|e| format!("wasmtime: {e}"))?;
            std::fs::write(out, bytes).map_err(|e| format!("cannot write {}: {e}", out.display()))
        })
    }

    pub fn load(&self, cwasm: &Path) -> Result<WasmtimeProgram, String> {
        // SAFETY: the file was written by `precompile` above with this same engine
        // configuration, into a cache directory only this tool writes.
        let module = unsafe { Module::deserialize_file(&self.engine, cwasm) }
            .map_err(|e| format!("wasmtime cannot load {}: {e}", cwasm.display()))?;
        let pre = self.linker.instantiate_pre(&module).map_err(|e| format!("wasmtime link: {e}"))?;
        Ok(WasmtimeProgram { engine: self.engine.clone(), pre })
    }
}

pub struct WasmtimeProgram {
    engine: Engine,
    pre: InstancePre<WasiP1Ctx>,
}

impl WasmtimeProgram {
    /// Runs `_start` once with `dir` preopened as `.` and `arg0` as the only argument,
    /// `random_get` reading a fresh [`SeededBytes::for_run`] stream and the realtime
    /// clock a fresh [`SteppingClock::for_run`].
    pub fn run(&self, arg0: &str, dir: &Path) -> Result<RunOutput, String> {
        let out = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let err = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let mut builder = WasiCtxBuilder::new();
        builder.arg(arg0).stdout(out.clone()).stderr(err.clone());
        // preview1 only reads the secure generator; the insecure one is set too so
        // that nothing in the context depends on the operating system's randomness.
        builder.secure_random(ByteStreamRng(SeededBytes::for_run()));
        builder.insecure_random(ByteStreamRng(SeededBytes::for_run()));
        builder.wall_clock(SteppingWallClock(Cell::new(SteppingClock::for_run())));
        builder.preopened_dir(dir, ".", FsPerms::ReadWrite).map_err(|e| format!("wasmtime preopen: {e}"))?;
        let mut store = Store::new(&self.engine, builder.build_p1());
        hooks::clear();
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|i| i.get_typed_func::<(), ()>(&mut store, "_start"))
            .and_then(|f| f.call(&mut store, ()));
        let measured = hooks::measured();
        drop(store);
        let output = RunOutput { stdout: out.contents().to_vec(), stderr: err.contents().to_vec(), measured };
        match result {
            Ok(()) => Ok(output),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(I32Exit(0)) => Ok(output),
                Some(I32Exit(code)) => {
                    Err(format!("exit code {code}; stderr: {}", crate::lucet_side::tail(&output.stderr)))
                }
                None => Err(format!("{e}; stderr: {}", crate::lucet_side::tail(&output.stderr))),
            },
        }
    }
}

/// [`SeededBytes`] as the generator wasmtime-wasi wants, such that its `random_get`
/// writes the stream's bytes in order, as lucet-wasi's does.
///
/// wasmtime-wasi 48 draws each byte of a `random_get` buffer as `next_u32() as u8`
/// (`rand`'s uniform `u8`), so a word must stand for one byte of the stream: every
/// `next_u32`/`next_u64` takes exactly one byte, zero-extended. `fill_bytes` takes
/// bytes one for one, so the guest sees the same bytes whichever way it is drawn from.
/// As a general generator this is poor (8 bits per word), which does not matter here.
pub struct ByteStreamRng(pub SeededBytes);

impl rand_core::TryRng for ByteStreamRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(u32::from(self.0.next_byte()))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(u64::from(self.0.next_byte()))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill(dst);
        Ok(())
    }
}

/// [`SteppingClock`] as Wasmtime's wall clock. wasmtime-wasi reads it once per
/// realtime `clock_time_get` and once per absolute realtime `poll_oneoff` deadline,
/// as lucet-wasi does, so both sides see the same readings.
pub struct SteppingWallClock(pub Cell<SteppingClock>);

impl HostWallClock for SteppingWallClock {
    fn resolution(&self) -> Duration {
        // The host's, which is what lucet-wasi reports for the realtime clock too.
        wasmtime_wasi::clocks::WallClock.resolution()
    }

    fn now(&self) -> Duration {
        let mut clock = self.0.get();
        let ns = clock.read();
        self.0.set(clock);
        Duration::from_nanos(ns)
    }
}
