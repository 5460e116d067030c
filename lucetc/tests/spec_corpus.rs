//! Compiles every module of the WebAssembly spec test suite (no execution) and checks
//! that the invalid and malformed ones are rejected with an error rather than a panic.
//!
//! Slow, so ignored by default: `cargo test -p lucetc --test spec_corpus -- --ignored`.
//! `LUCETC_SPEC_DIR` selects another directory of `.wast` files.

use rayon::prelude::*;
use std::path::{Path, PathBuf};
use wast::{parser, QuoteWat, Wast, WastDirective};

#[derive(Default, Debug)]
struct Tally {
    compiled: usize,
    rejected: usize,
    failures: Vec<String>,
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("LUCETC_SPEC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/spec/wasm-2.0"))
}

fn check_file(path: &Path, out: &Path) -> Tally {
    let mut tally = Tally::default();
    let text = std::fs::read_to_string(path).unwrap();
    let mut lexer = wast::lexer::Lexer::new(&text);
    lexer.allow_confusing_unicode(true);
    let buf = parser::ParseBuffer::new_with_lexer(lexer).unwrap();
    let wast: Wast = match parser::parse(&buf) {
        Ok(w) => w,
        Err(e) => {
            tally.failures.push(format!("{}: cannot parse: {e}", path.display()));
            return tally;
        }
    };
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    for (i, directive) in wast.directives.into_iter().enumerate() {
        let (mut module, should_fail) = match directive {
            WastDirective::Module(m) => (m, false),
            WastDirective::AssertInvalid { module, .. } | WastDirective::AssertMalformed { module, .. } => {
                (module, true)
            }
            _ => continue,
        };
        if matches!(module, QuoteWat::QuoteComponent(..)) {
            continue;
        }
        let (line, _) = module_span(&module).linecol_in(&text);
        let bytes = match module.encode() {
            Ok(b) => b,
            Err(e) => {
                if !should_fail {
                    tally.failures.push(format!("{name}:{}: cannot encode: {e}", line + 1));
                }
                continue;
            }
        };
        let result = std::panic::catch_unwind(|| {
            lucetc::Lucetc::try_from_bytes_with_features(&bytes, features()).and_then(|c| c.object_file(out.join(format!("{name}.{i}.o"))))
        });
        match (result, should_fail) {
            (Err(_), _) => tally.failures.push(format!("{name}:{}: PANIC", line + 1)),
            (Ok(Ok(())), false) => tally.compiled += 1,
            (Ok(Err(_)), true) => tally.rejected += 1,
            (Ok(Ok(())), true) => tally.failures.push(format!("{name}:{}: accepted an invalid module", line + 1)),
            (Ok(Err(e)), false) => tally.failures.push(format!("{name}:{}: {e}", line + 1)),
        }
        let _ = std::fs::remove_file(out.join(format!("{name}.{i}.o")));
    }
    tally
}

/// Strict Wasm 2.0 for the 2.0 suite (which expects e.g. a second memory to be
/// rejected); everything lucetc supports otherwise.
fn features() -> lucetc::WasmFeatures {
    if corpus_dir().ends_with("wasm-2.0") {
        lucetc::wasm2_features()
    } else {
        lucetc::wasm_features()
    }
}

fn module_span(m: &QuoteWat<'_>) -> wast::token::Span {
    match m {
        QuoteWat::Wat(w) => w.span(),
        QuoteWat::QuoteModule(s, _) | QuoteWat::QuoteComponent(s, _) => *s,
    }
}

#[test]
#[ignore]
fn spec_modules_compile() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wast"))
        .collect();
    files.sort();
    let out = tempfile::tempdir().unwrap();
    let tallies: Vec<Tally> = files.par_iter().map(|f| check_file(f, out.path())).collect();
    let mut total = Tally::default();
    for t in tallies {
        total.compiled += t.compiled;
        total.rejected += t.rejected;
        total.failures.extend(t.failures);
    }
    for f in &total.failures {
        eprintln!("{f}");
    }
    eprintln!(
        "{} modules compiled, {} bad modules rejected, {} failures",
        total.compiled,
        total.rejected,
        total.failures.len()
    );
    assert!(total.failures.is_empty());
}
