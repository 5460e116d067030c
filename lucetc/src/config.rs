//! Compiler settings and the cranelift target they translate into.

use crate::error::Error;
use cranelift_codegen::isa::{self, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use std::str::FromStr;

pub use lucet_module::OptLevel;

/// Cranelift's name for an optimisation level (its `opt_level` setting).
fn cranelift_name(level: OptLevel) -> &'static str {
    match level {
        OptLevel::None => "none",
        OptLevel::Speed => "speed",
        OptLevel::SpeedAndSize => "speed_and_size",
    }
}

/// Which x86-64 instruction set extensions the generated code may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetCpu {
    /// x86-64-v2: SSE3, SSSE3, SSE4.1, SSE4.2 and POPCNT. Cranelift needs SSE4.1 to
    /// lower WebAssembly SIMD, and every x86-64 CPU sold since about 2009 has these.
    #[default]
    Baseline,
    /// Whatever the compiling machine supports. The output may not load elsewhere.
    Native,
}

impl FromStr for TargetCpu {
    type Err = String;
    fn from_str(s: &str) -> Result<TargetCpu, String> {
        match s {
            "baseline" => Ok(TargetCpu::Baseline),
            "native" => Ok(TargetCpu::Native),
            _ => Err(format!("unknown target CPU `{s}`; use baseline or native")),
        }
    }
}

/// 4 GiB: with a reservation this large a 32-bit memory needs no bounds checks.
pub const DEFAULT_RESERVED_SIZE: u64 = 4 << 30;
/// 2 GiB: covers every constant offset a 32-bit access can add to its index.
pub const DEFAULT_GUARD_SIZE: u64 = 2 << 30;
const WASM_PAGE: u64 = 64 << 10;

#[derive(Debug, Clone)]
pub struct Config {
    pub opt_level: OptLevel,
    pub target_cpu: TargetCpu,
    pub reserved_size: u64,
    pub guard_size: u64,
    /// Run Cranelift's IR verifier on every function before code generation. It
    /// catches translator bugs early but costs a noticeable share of compile time,
    /// so it is off unless asked for (`LUCETC_VERIFY=1` or `Lucetc::with_verifier`).
    pub verify: bool,
    pub spectre: crate::translate::vmctx::Spectre,
}

/// Environment variable that turns the IR verifier on when set to `1`.
const VERIFY_ENV: &str = "LUCETC_VERIFY";

/// Whether `LUCETC_VERIFY` asks for the verifier.
fn verify_from_env() -> bool {
    std::env::var_os(VERIFY_ENV).is_some_and(|v| v == "1")
}

impl Default for Config {
    fn default() -> Config {
        Config {
            opt_level: OptLevel::default(),
            target_cpu: TargetCpu::default(),
            reserved_size: DEFAULT_RESERVED_SIZE,
            guard_size: DEFAULT_GUARD_SIZE,
            verify: verify_from_env(),
            spectre: crate::translate::vmctx::Spectre::default(),
        }
    }
}

/// The x86-64-v2 feature set used for [`TargetCpu::Baseline`].
const BASELINE_FLAGS: &[&str] = &["has_sse3", "has_ssse3", "has_sse41", "has_sse42", "has_popcnt"];

impl Config {
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.reserved_size == 0 || self.reserved_size % WASM_PAGE != 0 {
            return Err(Error::Config(format!(
                "the reserved size {:#x} must be a non-zero multiple of the 64 KiB WebAssembly page size",
                self.reserved_size
            )));
        }
        if self.guard_size % 4096 != 0 {
            return Err(Error::Config(format!(
                "the guard size {:#x} must be a multiple of the 4 KiB host page size",
                self.guard_size
            )));
        }
        if self.reserved_size.checked_add(self.guard_size).map_or(true, |t| t > 1 << 46) {
            return Err(Error::Config(format!(
                "reserved size {:#x} plus guard size {:#x} exceeds the 64 TiB address space limit",
                self.reserved_size, self.guard_size
            )));
        }
        Ok(())
    }

    /// The cranelift target for these settings.
    pub(crate) fn isa(&self) -> Result<OwnedTargetIsa, Error> {
        self.isa_at(self.opt_level)
    }

    /// The same target with Cranelift's mid-end off (see `compile::LONG_BLOCK`).
    pub(crate) fn plain_isa(&self) -> Result<OwnedTargetIsa, Error> {
        self.isa_at(OptLevel::None)
    }

    fn isa_at(&self, opt_level: OptLevel) -> Result<OwnedTargetIsa, Error> {
        self.check()?;
        let triple: target_lexicon::Triple =
            "x86_64-unknown-linux-gnu".parse().expect("the triple literal is well-formed");
        let isa_builder = match self.target_cpu {
            TargetCpu::Baseline => {
                let mut b = isa::lookup(triple).map_err(|e| Error::Internal(e.to_string()))?;
                for flag in BASELINE_FLAGS {
                    b.enable(flag).map_err(|e| Error::Internal(format!("{flag}: {e}")))?;
                }
                b
            }
            TargetCpu::Native => {
                if !cfg!(target_arch = "x86_64") {
                    return Err(Error::Config(
                        "`--target-cpu native` only works on x86-64 hosts; use `baseline`".into(),
                    ));
                }
                cranelift_native::builder().map_err(|e| Error::Config(format!("cannot detect the host CPU: {e}")))?
            }
        };

        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, name: &str, value: &str| {
            flags.set(name, value).map_err(|e| Error::Internal(format!("cranelift setting {name}={value}: {e}")))
        };
        set(&mut flags, "opt_level", cranelift_name(opt_level))?;
        set(&mut flags, "is_pic", "true")?;
        // Large frames are probed page by page so that the guard page below the guest
        // stack is always hit before anything beneath it; done inline because the
        // shared object has no probestack symbol to call.
        set(&mut flags, "enable_probestack", "true")?;
        set(&mut flags, "probestack_strategy", "inline")?;
        set(&mut flags, "enable_verifier", if self.verify { "true" } else { "false" })?;
        // Frame pointers make guest frames visible to perf and gdb.
        set(&mut flags, "preserve_frame_pointers", "true")?;
        // Not for DWARF: a throw reads where each frame saved callee-saved registers
        // from the unwind records (see `compile::register_saves`).
        set(&mut flags, "unwind_info", "true")?;
        // Multi-value functions return what does not fit in registers through memory
        // the caller provides, as Cranelift did by default before it made this a flag.
        set(&mut flags, "enable_multi_ret_implicit_sret", "true")?;
        // lucetc emits its own bounds checks, guarded or not (see `translate::vmctx`).
        set(&mut flags, "enable_heap_access_spectre_mitigation", "false")?;
        set(&mut flags, "enable_table_access_spectre_mitigation", "false")?;
        // Block offsets and edges of the machine code, from which `placement` finds the
        // loop that decides where each function starts.
        set(&mut flags, "machine_code_cfg_info", "true")?;
        let flags = settings::Flags::new(flags);
        isa_builder.finish(flags).map_err(|e| Error::Internal(format!("cannot build the cranelift target: {e}")))
    }
}

/// The `has_*` flags enabled in `isa`, named as `std::is_x86_feature_detected!` names them.
pub(crate) fn cpu_features(isa: &dyn isa::TargetIsa) -> Vec<String> {
    isa.isa_flags()
        .iter()
        .filter(|v| v.as_bool() == Some(true))
        .filter_map(|v| v.name.strip_prefix("has_"))
        .map(|n| match n {
            "sse41" => "sse4.1".to_string(),
            "sse42" => "sse4.2".to_string(),
            other => other.to_string(),
        })
        .collect()
}

/// Parses a size such as `4GiB`, `64MiB`, `512k`, `65536` or `0x10000`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad = || format!("invalid size `{s}`; write e.g. 4GiB, 64MiB, 65536 or 0x10000");
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(&hex.replace('_', ""), 16).map_err(|_| bad());
    }
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.replace('_', "").parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("size `{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("0x10000"), Ok(65536));
        assert!(parse_size("4 parsecs").is_err());
        assert!(parse_size("").is_err());
    }
}
