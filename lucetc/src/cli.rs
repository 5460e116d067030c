//! The command line shared by the `lucetc` and `lucetc-wasi` binaries.

use crate::{parse_size, Linker, Lucetc, OptLevel, Spectre, TargetCpu};
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// A shared object for lucet-runtime.
    So,
    /// The relocatable object before linking.
    Obj,
    /// Cranelift IR text of every function.
    Clif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CliOptLevel {
    #[value(name = "0")]
    Zero,
    #[value(name = "1")]
    One,
    #[value(name = "2")]
    Two,
    None,
    Speed,
    SpeedAndSize,
}

impl From<CliOptLevel> for OptLevel {
    fn from(o: CliOptLevel) -> OptLevel {
        match o {
            CliOptLevel::Zero | CliOptLevel::None => OptLevel::None,
            CliOptLevel::One | CliOptLevel::Speed => OptLevel::Speed,
            CliOptLevel::Two | CliOptLevel::SpeedAndSize => OptLevel::SpeedAndSize,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CliTargetCpu {
    /// x86-64-v2 (SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT): runs on any x86-64 CPU from
    /// about 2009 on; SSE4.1 is what Cranelift needs for WebAssembly SIMD.
    Baseline,
    /// Everything the compiling machine supports; the output may not load elsewhere.
    Native,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CliLinker {
    /// lucetc writes the shared object itself (no external program).
    Builtin,
    /// GNU `ld` from PATH, falling back to `cc`.
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CliSpectre {
    /// Bounds checks also stop speculative out-of-bounds reads.
    On,
    /// Plain bounds checks; for measuring what the mitigation costs.
    Off,
}

/// Compile a WebAssembly module (.wasm or .wat) into a shared object for lucet-runtime.
#[derive(Debug, Parser)]
#[command(name = "lucetc")]
struct Args {
    /// The module to compile, in the binary or the text format.
    input: PathBuf,

    /// Where to write the output [default: INPUT with the extension .so, .o or .clif].
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,

    /// What to produce.
    #[arg(long, value_enum, default_value = "so")]
    emit: Emit,

    /// Optimisation level: 0 = none, 1 = speed, 2 = speed_and_size.
    #[arg(long, value_enum, default_value = "speed")]
    opt_level: CliOptLevel,

    /// Which CPU features the code may use (recorded in the module and checked when loading).
    #[arg(long, value_enum, default_value = "baseline")]
    target_cpu: CliTargetCpu,

    /// Address space assumed behind each linear memory (e.g. 4GiB, 64MiB, 0x100000).
    /// 4 GiB or more removes bounds checks from 32-bit memories.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB")]
    reserved_size: u64,

    /// Inaccessible guard after each memory's reservation (e.g. 2GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "2GiB")]
    guard_size: u64,

    /// Which linker turns the compiled code into the shared object.
    #[arg(long, value_enum, default_value = "builtin")]
    linker: CliLinker,

    /// Spectre mitigation in bounds checks (recorded in the module's metadata).
    #[arg(long, value_enum, default_value = "on")]
    spectre: CliSpectre,
}

fn version() -> &'static str {
    let v = format!(
        "{} (shared object format version {})",
        env!("CARGO_PKG_VERSION"),
        lucet_module::FORMAT_VERSION
    );
    Box::leak(v.into_boxed_str())
}

fn run(args: Args) -> anyhow::Result<()> {
    let extension = match args.emit {
        Emit::So => "so",
        Emit::Obj => "o",
        Emit::Clif => "clif",
    };
    let output = args.output.unwrap_or_else(|| args.input.with_extension(extension));
    let input = args.input.display().to_string();
    // A read error already names the file; everything else gets the file name prefixed.
    let named = |e: crate::Error| match e {
        e @ crate::Error::Read { .. } => anyhow::Error::new(e),
        e => anyhow::Error::new(e).context(input.clone()),
    };
    let compiler = Lucetc::new(&args.input)
        .map_err(named)?
        .with_opt_level(args.opt_level.into())
        .with_target_cpu(match args.target_cpu {
            CliTargetCpu::Baseline => TargetCpu::Baseline,
            CliTargetCpu::Native => TargetCpu::Native,
        })
        .with_reserved_size(args.reserved_size)
        .with_guard_size(args.guard_size)
        .with_linker(match args.linker {
            CliLinker::Builtin => Linker::Builtin,
            CliLinker::System => Linker::System,
        })
        .with_spectre(match args.spectre {
            CliSpectre::On => Spectre::Guarded,
            CliSpectre::Off => Spectre::Off,
        });
    let result = match args.emit {
        Emit::So => compiler.shared_object_file(&output),
        Emit::Obj => compiler.object_file(&output),
        Emit::Clif => compiler.clif_ir(&output),
    };
    result.map_err(named)
}

/// Parses the command line, compiles, and reports any failure as one `error:` line.
///
/// `about` replaces the first line of `--help`, so each binary can say what it is for.
pub fn main(name: &'static str, about: &'static str) -> ExitCode {
    let command = Args::command().name(name).bin_name(name).version(version()).about(about);
    let args = match Args::from_arg_matches(&command.get_matches()) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
