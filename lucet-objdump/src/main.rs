//! `lucet-objdump`: prints what a module compiled by lucetc holds (settings, memories,
//! tables, globals, segments, imports, exports and functions) without loading it or
//! running any of its code. A file that `DlModule::load` would refuse gets the same
//! error here.

mod report;
mod text;

use anyhow::Context;
use clap::Parser;
use lucet_runtime::{ModuleInfo, PublicKey};
use std::path::PathBuf;
use std::process::ExitCode;

/// Print the settings, memories, tables, globals, segments, imports, exports and
/// functions of a module compiled by lucetc, without running any of its code.
#[derive(Parser)]
#[command(name = "lucet-objdump", version)]
struct Args {
    /// The compiled module (`.so`).
    module: PathBuf,
    /// Print the report as JSON. [default: text]
    #[arg(long)]
    json: bool,
    /// Check `MODULE.minisig` against this minisign public key file, and refuse the
    /// module unless it verifies. [default: the signature is only reported]
    #[arg(long, value_name = "PUBLIC_KEY")]
    verify_key: Option<PathBuf>,
}

fn run(args: Args) -> anyhow::Result<()> {
    let info = match &args.verify_key {
        Some(key_path) => {
            let key = PublicKey::from_file(key_path)?;
            ModuleInfo::read_verified(&args.module, &key)?
        }
        None => ModuleInfo::read(&args.module)?,
    };
    let report = report::Report::new(&args.module.display().to_string(), &info);
    if args.json {
        let json = serde_json::to_string_pretty(&report).context("cannot write the report as JSON")?;
        println!("{json}");
    } else {
        print!("{}", text::render(&report));
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
