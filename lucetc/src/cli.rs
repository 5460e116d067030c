//! The command line shared by the `lucetc` and `lucetc-wasi` binaries.

use crate::{parse_size, Linker, Lucetc, OptLevel, SigningKey, Spectre, TargetCpu};
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

    /// Sign the shared object with this minisign secret key (`minisign -G` makes a key
    /// pair), writing the signature to OUT.minisig. The password of an encrypted key is
    /// read from $LUCETC_SIGN_KEY_PASSWORD, else asked for on the terminal. [default: none, unsigned]
    #[arg(long, value_name = "SECRET_KEY")]
    sign_key: Option<PathBuf>,

    /// The signature's trusted comment, one line covered by the signature
    /// [default: timestamp, file name and lucetc version].
    #[arg(long, value_name = "TEXT", requires = "sign_key", value_parser = parse_trusted_comment)]
    trusted_comment: Option<String>,

    /// Print nothing but errors: no progress bar (which is only drawn when stderr is a terminal
    /// and the module has at least 500 functions). [default: off]
    #[arg(short, long)]
    quiet: bool,
}

/// Modules with fewer functions compile too quickly for a progress bar to help.
const PROGRESS_MIN_FUNCTIONS: usize = 500;

/// Whether to draw the bar for a module of `functions` functions.
fn wants_progress(quiet: bool, stderr_is_terminal: bool, functions: usize) -> bool {
    !quiet && stderr_is_terminal && functions >= PROGRESS_MIN_FUNCTIONS
}

/// A one-line bar on stderr, `compiling [=====>    ] 120/1000 functions`, redrawn in
/// place at most ten times a second and erased when the compiler is done with it.
struct ProgressBar {
    state: Mutex<BarState>,
}

#[derive(Default)]
struct BarState {
    /// The highest count seen: counts arrive from several threads, out of order.
    done: usize,
    drawn_at: Option<Instant>,
}

impl ProgressBar {
    const WIDTH: usize = 40;
    const REDRAW: Duration = Duration::from_millis(100);

    fn new() -> ProgressBar {
        ProgressBar { state: Mutex::new(BarState::default()) }
    }

    fn update(&self, done: usize, total: usize) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.done = state.done.max(done);
        let now = Instant::now();
        let due = !matches!(state.drawn_at, Some(t) if now.duration_since(t) < Self::REDRAW);
        if !due && state.done < total {
            return;
        }
        state.drawn_at = Some(now);
        let filled = Self::WIDTH * state.done / total.max(1);
        let head = if filled < Self::WIDTH { ">" } else { "" };
        let rest = Self::WIDTH - filled - head.len();
        let (bar, space) = ("=".repeat(filled), " ".repeat(rest));
        let line = format!("\rcompiling [{bar}{head}{space}] {}/{total} functions", state.done);
        // A closed or full stderr must not stop the compile.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    /// Erases the bar, so what follows (an error, the shell prompt) starts on a clean line.
    fn clear(&self) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.drawn_at.is_some() {
            let blank = " ".repeat(Self::WIDTH + 40);
            let _ = write!(std::io::stderr(), "\r{blank}\r");
        }
    }
}

/// Where `--sign-key` finds the password of an encrypted key when not on a terminal.
const PASSWORD_VAR: &str = "LUCETC_SIGN_KEY_PASSWORD";

fn parse_trusted_comment(s: &str) -> Result<String, String> {
    crate::signing::check_trusted_comment(s).map(|()| s.to_string())
}

/// Reads the `--sign-key` file, asking for a password only if the key is encrypted.
fn signing_key(path: &std::path::Path) -> Result<SigningKey, crate::Error> {
    SigningKey::from_file_with_password(path, || {
        if let Some(p) = std::env::var_os(PASSWORD_VAR) {
            return p.into_string().map_err(|_| format!("${PASSWORD_VAR} is not valid UTF-8"));
        }
        rpassword::prompt_password(format!("Password for {}: ", path.display())).map_err(|e| {
            format!("the key is encrypted and its password cannot be asked for ({e}); set ${PASSWORD_VAR}")
        })
    })
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
    // The key is read before compiling, so a bad key or password fails at once.
    let key = match &args.sign_key {
        Some(_) if args.emit != Emit::So => {
            anyhow::bail!("--sign-key signs shared objects; it cannot be combined with --emit obj or --emit clif")
        }
        Some(path) => Some(signing_key(path)?),
        None => None,
    };
    let mut compiler = Lucetc::new(&args.input)
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
    if let Some(key) = key {
        compiler = compiler.with_signing_key(key);
    }
    if let Some(comment) = args.trusted_comment {
        compiler = compiler.with_trusted_comment(comment);
    }
    let bar = std::sync::Arc::new(ProgressBar::new());
    let (quiet, terminal) = (args.quiet, std::io::stderr().is_terminal());
    if !quiet && terminal {
        let bar = bar.clone();
        compiler = compiler.with_progress(move |done, total| {
            if wants_progress(quiet, terminal, total) {
                bar.update(done, total)
            }
        });
    }
    let result = match args.emit {
        Emit::So => compiler.shared_object_file(&output),
        Emit::Obj => compiler.object_file(&output),
        Emit::Clif => compiler.clif_ir(&output),
    };
    bar.clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_only_for_large_modules_on_a_terminal_without_quiet() {
        assert!(wants_progress(false, true, PROGRESS_MIN_FUNCTIONS));
        assert!(!wants_progress(false, true, PROGRESS_MIN_FUNCTIONS - 1));
        assert!(!wants_progress(true, true, 100_000));
        assert!(!wants_progress(false, false, 100_000));
    }
}
