//! `lucet-wasi`: runs a WASI program compiled by lucetc (or a `.wasm`/`.wat` file,
//! compiled on the fly and cached).
//!
//! Exit statuses (also in the crate README):
//! - the guest's `proc_exit` code, or 0 when its entry point returns;
//! - 1: a host-side failure while running (I/O error, hostcall failure);
//! - 2: bad usage, or the module cannot be read, compiled, loaded or instantiated;
//! - 124: `--timeout` expired;
//! - 125: the guest trapped.

use anyhow::{anyhow, bail};
use clap::Parser;
use lucet_runtime::{DlModule, Error, Limits, MmapRegion, PublicKey, Region, Val, ValType};
use lucet_wasi::{parse_duration, WasiCtxBuilder};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Exit status for a failure of the host while running the guest.
const EXIT_HOST_ERROR: u8 = 1;
/// Exit status for bad usage or a module that cannot be loaded.
const EXIT_USAGE: u8 = 2;
/// Exit status when `--timeout` stops the guest.
const EXIT_TIMEOUT: u8 = 124;
/// Exit status when the guest traps.
const EXIT_TRAP: u8 = 125;

/// `Limits::default()`'s, written as `--help` shows them (a test keeps them equal).
const DEFAULT_MAX_HEAP_SIZE: &str = "4GiB";
const DEFAULT_STACK_SIZE: &str = "2MiB";

#[derive(Parser, Debug)]
#[command(
    name = "lucet-wasi",
    version,
    about = "Runs a WASI program compiled by lucetc",
    long_about = "Runs a WASI program compiled by lucetc. MODULE is a .so from lucetc, or a .wasm/.wat file that \
                  is compiled first (and cached). Nothing of the host is visible to the guest unless given: no \
                  environment variables without --env/--inherit-env, no files without --dir.",
    after_help = "Exit status: the guest's proc_exit code (0 if its entry point returns); 1 host error; \
                  2 usage or module loading error; 124 timeout; 125 the guest trapped."
)]
struct Cli {
    /// Give the guest a host directory, under the same name, or under the name GUEST with HOST::GUEST.
    /// A single `:` is part of the path. Repeatable. [default: none]
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,

    /// Set an environment variable for the guest: K=V, or K to pass the host's value of K (if the host
    /// has one). Repeatable. [default: none]
    #[arg(long = "env", value_name = "K[=V]")]
    envs: Vec<String>,

    /// Pass the whole host environment to the guest. [default: off]
    #[arg(long)]
    inherit_env: bool,

    /// The export to run.
    #[arg(long, value_name = "NAME", default_value = "_start")]
    entrypoint: String,

    /// Call the export NAME with ARGS (parsed by its signature) and print its results, instead of running the program.
    /// [default: none]
    #[arg(long, value_name = "NAME", conflicts_with = "entrypoint")]
    invoke: Option<String>,

    /// Most linear memory the guest may use, e.g. 64MiB (4GiB is the wasm32 maximum).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = DEFAULT_MAX_HEAP_SIZE)]
    max_heap_size: usize,

    /// Size of the guest's native stack, e.g. 8MiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = DEFAULT_STACK_SIZE)]
    stack_size: usize,

    /// Stop the guest after this long, e.g. 10s, 500ms, 2m (exit status 124). [default: none]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,

    /// Compile a .wasm/.wat module into a private temporary directory instead of the cache. [default: off]
    #[arg(long)]
    no_cache: bool,

    /// Where compiled modules are cached. It must belong to you and not be writable by others.
    /// [default: $LUCET_WASI_CACHE_DIR, else $XDG_CACHE_HOME/lucet, else ~/.cache/lucet; with none of them,
    /// no cache]
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Run MODULE only if MODULE.minisig is a valid minisign signature of it by this
    /// public key: a .pub file from `minisign -G`, or the key itself (RW...). Only for
    /// compiled .so files (`lucetc-wasi --sign-key` signs them). [default: none, no check]
    #[arg(long, value_name = "PUBLIC_KEY")]
    verify_key: Option<String>,

    /// The module (a lucetc-compiled .so, or a .wasm/.wat file), then the arguments for
    /// the guest (or for the --invoke function). Everything after MODULE goes to the
    /// guest, options included, as with `wasmtime run`.
    #[arg(
        value_name = "MODULE [ARGS]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    module_and_args: Vec<String>,

    /// The first of `module_and_args`.
    #[arg(skip)]
    module: PathBuf,

    /// The rest of `module_and_args`.
    #[arg(skip)]
    args: Vec<String>,
}

/// A failure with the exit status it should produce.
struct Failure {
    status: u8,
    error: anyhow::Error,
}

fn usage(error: anyhow::Error) -> Failure {
    Failure {
        status: EXIT_USAGE,
        error,
    }
}

fn host(error: anyhow::Error) -> Failure {
    Failure {
        status: EXIT_HOST_ERROR,
        error,
    }
}

fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size; write e.g. 65536, 64KiB, 16MiB or 1GiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("`{s}` has an unknown unit; use KiB, MiB or GiB")),
    };
    n.checked_mul(mult)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// Splits a `--dir` value as Wasmtime does: `HOST::GUEST`, or `HOST` (seen by the guest
/// under the same name). A single `:` belongs to the path, as in `--dir data:ro`, so
/// Lucet's old `HOST:GUEST` names a directory called `HOST:GUEST`.
fn parse_dir(s: &str) -> (&str, &str) {
    s.split_once("::").unwrap_or((s, s))
}

/// What to add to a failed `--dir HOST` whose name looks like Lucet's `HOST:GUEST`.
fn single_colon_hint(dirs: &[String]) -> Option<String> {
    dirs.iter()
        .filter(|d| !d.contains("::") && d.contains(':'))
        .find(|d| !std::path::Path::new(d.as_str()).is_dir())
        .map(|d| {
            let (h, g) = d.rsplit_once(':').unwrap_or((d, d));
            format!(
                "a single `:` is part of the directory name in --dir {d}; \
                 to show the directory {h} to the guest as {g}, write --dir {h}::{g}"
            )
        })
}

/// `--verify-key`: a public key file, or the base64 key itself.
fn public_key(arg: &str) -> anyhow::Result<PublicKey> {
    if std::path::Path::new(arg).exists() {
        return Ok(PublicKey::from_file(arg)?);
    }
    PublicKey::from_base64(arg).map_err(|_| {
        anyhow!(
            "--verify-key {arg}: no such file, and not a minisign public key either; give the .pub file \
             that `minisign -G` writes, or its key line (56 characters starting with RW)"
        )
    })
}

fn is_shared_object(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// The cache directory: `--cache-dir`, else `$LUCET_WASI_CACHE_DIR`, else the
/// per-user default. `None` when there is none, and nothing shared is used instead.
#[cfg(feature = "compile")]
fn cache_dir(cli: &Cli) -> Option<PathBuf> {
    cli.cache_dir
        .clone()
        .or_else(|| std::env::var_os("LUCET_WASI_CACHE_DIR").map(PathBuf::from))
        .or_else(lucet_wasi::cache::Cache::default_dir)
}

/// Compiles a `.wasm`/`.wat` module and loads it, through the per-user cache unless
/// `--no-cache` (or there is no cache directory), in which case the module is compiled
/// into a private temporary directory that `keep` holds until the run ends.
#[cfg(feature = "compile")]
fn compile(
    cli: &Cli,
    bytes: &[u8],
    keep: &mut Option<lucet_wasi::cache::Private>,
) -> Result<Arc<DlModule>, Failure> {
    use lucet_wasi::cache::{compile_private, Cache, CacheError, CompileOptions};
    let name = cli.module.display();
    let fail = |e: CacheError| match e {
        CacheError::Compile(e) => usage(anyhow!("cannot compile {name}: {e}")),
        e @ CacheError::Load { .. } => usage(anyhow!("{name}: {e}")),
        e @ (CacheError::DirOwner { .. }
        | CacheError::DirWritable { .. }
        | CacheError::NotADirectory { .. }) => usage(anyhow!(
            "{name}: {e}; --cache-dir DIR picks another one, --no-cache compiles without one"
        )),
        e => host(anyhow!("{name}: {e}")),
    };
    let options = CompileOptions::default();
    let dir = if cli.no_cache { None } else { cache_dir(cli) };
    let Some(dir) = dir else {
        let private = compile_private(bytes, &options).map_err(fail)?;
        let module = private.module.clone();
        *keep = Some(private);
        return Ok(module);
    };
    let loaded = Cache::open(dir)
        .and_then(|c| c.load_or_compile(bytes, &options))
        .map_err(fail)?;
    if let Some(why) = &loaded.rejected {
        eprintln!(
            "warning: {why}, so {} was compiled again: {}",
            cli.module.display(),
            loaded.path.display()
        );
    }
    Ok(loaded.module)
}

#[cfg(not(feature = "compile"))]
fn compile(cli: &Cli, _bytes: &[u8], _keep: &mut Option<()>) -> Result<Arc<DlModule>, Failure> {
    Err(usage(anyhow!(
        "{} is not a compiled module, and this lucet-wasi was built without the `compile` feature; \
         compile it with `lucetc-wasi -o module.so {}` first",
        cli.module.display(),
        cli.module.display()
    )))
}

fn parse_val(ty: ValType, s: &str) -> anyhow::Result<Val> {
    fn int<T: TryFrom<i128>>(s: &str) -> Option<T> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, s),
        };
        let v = match body.strip_prefix("0x") {
            Some(h) => i128::from_str_radix(h, 16).ok()?,
            None => body.parse::<i128>().ok()?,
        };
        T::try_from(if neg { -v } else { v }).ok()
    }
    Ok(match ty {
        ValType::I32 => Val::I32(
            int::<i32>(s)
                .or_else(|| int::<u32>(s).map(|v| v as i32))
                .ok_or_else(|| anyhow!("`{s}` is not an i32"))?,
        ),
        ValType::I64 => Val::I64(
            int::<i64>(s)
                .or_else(|| int::<u64>(s).map(|v| v as i64))
                .ok_or_else(|| anyhow!("`{s}` is not an i64"))?,
        ),
        ValType::F32 => Val::F32(s.parse().map_err(|_| anyhow!("`{s}` is not an f32"))?),
        ValType::F64 => Val::F64(s.parse().map_err(|_| anyhow!("`{s}` is not an f64"))?),
        other => bail!("--invoke cannot pass {other} arguments from the command line"),
    })
}

fn run(cli: Cli) -> Result<u8, Failure> {
    let verify_key = cli
        .verify_key
        .as_deref()
        .map(public_key)
        .transpose()
        .map_err(usage)?;
    let cannot_read = |e: std::io::Error| usage(anyhow!("cannot read module {}: {e}", cli.module.display()));
    // Only the first bytes tell a compiled module from a source: `DlModule::load` maps
    // the file itself, and reading all of a large module here cost more than loading it.
    let mut head = Vec::with_capacity(4);
    std::fs::File::open(&cli.module)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 4), &mut head))
        .map_err(cannot_read)?;
    let shared_object = is_shared_object(&head);
    if verify_key.is_some() && !shared_object {
        // A module compiled here carries no signature, so there would be nothing to verify.
        return Err(usage(anyhow!(
            "--verify-key checks compiled modules, and {} is not one; compile and sign it with \
             `lucetc-wasi --sign-key SECRET_KEY -o module.so {}`, then run module.so",
            cli.module.display(),
            cli.module.display()
        )));
    }
    let mut keep = None;
    let module = if shared_object {
        match &verify_key {
            Some(key) => DlModule::load_verified(&cli.module, key),
            None => DlModule::load(&cli.module),
        }
        .map_err(|e| usage(anyhow!(e)))?
    } else {
        let bytes = std::fs::read(&cli.module).map_err(cannot_read)?;
        compile(&cli, &bytes, &mut keep)?
    };

    let limits = Limits {
        heap_memory_size: cli.max_heap_size,
        stack_size: cli.stack_size,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &limits).map_err(|e| {
        usage(anyhow!(
            "cannot reserve memory for the guest: {e}; a smaller --stack-size or --max-heap-size may fit"
        ))
    })?;

    let mut wasi = WasiCtxBuilder::new().inherit_stdio();
    wasi = wasi.arg(cli.module.to_string_lossy());
    wasi = wasi.args(&cli.args);
    if cli.inherit_env {
        wasi = wasi.inherit_env();
    }
    for e in &cli.envs {
        match e.split_once('=') {
            Some((k, v)) => wasi = wasi.env(k, v),
            // `--env K` inherits K. As in Wasmtime, a K the host does not have is
            // simply not passed.
            None => match std::env::var_os(e).map(|v| v.into_string()) {
                Some(Ok(v)) => wasi = wasi.env(e, v),
                Some(Err(_)) => {
                    return Err(usage(anyhow!(
                        "--env {e}: the host's value of {e} is not UTF-8, which WASI cannot pass; \
                         write --env {e}=VALUE"
                    )))
                }
                None => {}
            },
        }
    }
    for d in &cli.dirs {
        let (h, g) = parse_dir(d);
        wasi = wasi.preopened_dir(h, g);
    }
    let ctx = wasi.build().map_err(|e| {
        usage(match single_colon_hint(&cli.dirs) {
            Some(hint) => anyhow!("{e}; {hint}"),
            None => anyhow!(e),
        })
    })?;

    let mut inst = match region.new_instance(module) {
        Ok(i) => i,
        Err(e @ Error::InstantiationTrap(_)) => {
            return Err(Failure {
                status: EXIT_TRAP,
                error: anyhow!(e),
            })
        }
        Err(e) => return Err(usage(anyhow!(e))),
    };
    inst.insert_embed_ctx(ctx);

    let (name, args) = match &cli.invoke {
        Some(f) => {
            let ty = inst.export_func_type(f).cloned().ok_or_else(|| {
                let names: Vec<&str> = inst.exports().collect();
                usage(anyhow!(
                    "the module exports no function `{f}`; its exports are: {}",
                    names.join(", ")
                ))
            })?;
            if ty.params.len() != cli.args.len() {
                return Err(usage(anyhow!(
                    "`{f}` has signature {ty}, so it takes {} argument(s), but {} were given",
                    ty.params.len(),
                    cli.args.len()
                )));
            }
            let vals = ty
                .params
                .iter()
                .zip(&cli.args)
                .map(|(t, s)| parse_val(*t, s))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(|e| usage(e.context(format!("bad argument for `{f}` ({ty})"))))?;
            (f.clone(), vals)
        }
        None => (cli.entrypoint.clone(), Vec::new()),
    };

    if let Some(t) = cli.timeout {
        // The timeout stops the guest as soon as it runs its own code, but a hostcall
        // blocked in the host (say, reading a terminal) is never interrupted: after a
        // grace period, end the whole process instead. This command runs one guest, so
        // nothing else is lost.
        std::thread::spawn(move || {
            std::thread::sleep(t.saturating_add(Duration::from_secs(1)));
            eprintln!("error: the guest did not finish within {t:?} (--timeout); it was blocked in a hostcall");
            std::process::exit(EXIT_TIMEOUT.into());
        });
    }
    // As in Wasmtime, a reactor (a module with `_initialize`, such as a C library built
    // with -mexec-model=reactor) is initialised before the function --invoke names.
    let has_initialize = inst.export_func_type("_initialize").is_some();
    let mut call = |name: &str, args: &[Val]| match cli.timeout {
        Some(t) => inst.run_with_timeout(name, args, t),
        None => inst.run(name, args),
    };
    let result = if cli.invoke.is_some() && has_initialize && name != "_initialize" {
        call("_initialize", &[]).and_then(|_| call(&name, &args))
    } else {
        call(&name, &args)
    };
    match result {
        Ok(res) => {
            if cli.invoke.is_some() {
                let ret = res.returned().map_err(|e| host(anyhow!(e)))?;
                for v in ret.values() {
                    println!("{v}");
                }
            }
            Ok(0)
        }
        Err(e) => {
            if let Some(code) = lucet_wasi::exit_code(&e) {
                return Ok((code & 0xff) as u8);
            }
            match e {
                Error::RuntimeTerminated(lucet_runtime::TerminationDetails::Timeout) => {
                    Err(Failure {
                        status: EXIT_TIMEOUT,
                        error: anyhow!(
                            "the guest did not finish within {:?} (--timeout)",
                            cli.timeout.unwrap_or_default()
                        ),
                    })
                }
                Error::RuntimeFault(_) | Error::InstantiationTrap(_) => Err(Failure {
                    status: EXIT_TRAP,
                    error: anyhow!(e),
                }),
                Error::SymbolNotFound(_) | Error::InvalidArgument(_) => Err(usage(anyhow!(e))),
                other => Err(host(anyhow!(other))),
            }
        }
    }
}

fn main() -> ExitCode {
    // Never a backtrace: a panic here is a bug, reported in one line.
    std::panic::set_hook(Box::new(|info| {
        let msg = lucet_runtime::panic_message(info.payload());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error: {msg}{at}");
    }));
    let cli = match Cli::try_parse() {
        Ok(mut cli) => {
            // `required = true` makes clap refuse an empty list.
            let mut rest = std::mem::take(&mut cli.module_and_args).into_iter();
            cli.module = rest.next().map(PathBuf::from).unwrap_or_default();
            // `MODULE -- ARGS` still works: the `--` only marks where the guest's
            // arguments begin.
            let mut rest = rest.peekable();
            rest.next_if(|a| a == "--");
            cli.args = rest.collect();
            cli
        }
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's own report spans several lines (tips, usage); keep the
            // statement of the problem, on one line like every other error.
            let text = e.to_string();
            let problem: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.is_empty())
                .collect();
            eprintln!("{}; see `lucet-wasi --help`", problem.join(" "));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            // Errors whose message already quotes their cause would say it twice.
            let mut msg = String::new();
            for cause in f.error.chain().map(|c| c.to_string()) {
                if msg.is_empty() {
                    msg = cause;
                } else if !msg.contains(&cause) {
                    msg = format!("{msg}: {cause}");
                }
            }
            let msg = msg.replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::from(f.status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_defaults_are_the_runtime_defaults() {
        let limits = Limits::default();
        assert_eq!(
            parse_size(DEFAULT_MAX_HEAP_SIZE),
            Ok(limits.heap_memory_size)
        );
        assert_eq!(parse_size(DEFAULT_STACK_SIZE), Ok(limits.stack_size));
    }

    #[test]
    fn dir_splits_at_the_first_double_colon_only() {
        assert_eq!(parse_dir("a::b"), ("a", "b"));
        assert_eq!(parse_dir("we:ird"), ("we:ird", "we:ird"));
        assert_eq!(parse_dir("a:::b"), ("a", ":b"));
        assert_eq!(parse_dir("/srv/data"), ("/srv/data", "/srv/data"));
    }
}
