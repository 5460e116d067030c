//! Running a sightglass program under lucet-runtime with lucet-wasi.

use crate::hooks;
use crate::seeded_random::SeededBytes;
use crate::stepping_clock::SteppingClock;
use crate::RunOutput;
use lucet_runtime::{DlModule, Limits, MmapRegion, Region};
use lucet_wasi::{OutputCapture, WasiCtxBuilder};
use std::path::Path;
use std::sync::Arc;

/// A loaded program and a one-slot region to run it in; each run gets a fresh instance.
pub struct LucetProgram {
    module: Arc<DlModule>,
    region: Arc<MmapRegion>,
}

impl LucetProgram {
    pub fn load(so: &Path) -> Result<LucetProgram, String> {
        hooks::register_lucet_hooks();
        let module = DlModule::load(so).map_err(|e| format!("lucet cannot load {}: {e}", so.display()))?;
        let region = MmapRegion::create(1, &Limits::default()).map_err(|e| format!("lucet region: {e}"))?;
        Ok(LucetProgram { module, region })
    }

    /// Runs `_start` once with `dir` preopened as `.` and `arg0` as the only argument,
    /// `random_get` reading a fresh [`SeededBytes::for_run`] stream and the realtime
    /// clock a fresh [`SteppingClock::for_run`].
    pub fn run(&self, arg0: &str, dir: &Path) -> Result<RunOutput, String> {
        let mut inst = self.region.new_instance(self.module.clone()).map_err(|e| format!("instantiate: {e}"))?;
        let out = OutputCapture::new();
        let err = OutputCapture::new();
        let mut random = SeededBytes::for_run();
        let mut clock = SteppingClock::for_run();
        let ctx = WasiCtxBuilder::new()
            .arg(arg0)
            .stdout(out.clone())
            .stderr(err.clone())
            .preopened_dir(dir, ".")
            .random_source(move |buf| random.fill(buf))
            .wall_clock(move || clock.read())
            .build()
            .map_err(|e| e.to_string())?;
        inst.insert_embed_ctx(ctx);
        hooks::clear();
        let result = inst.run("_start", &[]);
        let measured = hooks::measured();
        drop(inst);
        let output = RunOutput { stdout: out.contents(), stderr: err.contents(), measured };
        match result {
            Ok(_) => Ok(output),
            Err(e) => match lucet_wasi::exit_code(&e) {
                Some(0) => Ok(output),
                Some(code) => Err(format!("exit code {code}; stderr: {}", tail(&output.stderr))),
                None => Err(format!("{e}; stderr: {}", tail(&output.stderr))),
            },
        }
    }
}

/// The last lines of a program's stderr, for error messages.
pub fn tail(stderr: &[u8]) -> String {
    let s = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = s.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ").chars().take(300).collect()
}
