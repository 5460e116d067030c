//! Running one `.wast` script.
//!
//! A script is run in three steps: every module in it is encoded to wasm bytes, all
//! of them are compiled (in parallel, through the [`ModuleCache`]), and then the
//! directives are executed in order against one [`MmapRegion`] that lives as long as
//! the file. Traps are caught in-process by the runtime; nothing forks.

use crate::cache::{CompileError, Features, ModuleCache};
use crate::spectest_host::{spectest_wasm, SPECTEST_NAME};
use crate::traps::acceptable_codes;
use crate::values::{arg_to_val, matches, show, show_expected};
use lucet_module::TrapCode;
use lucet_runtime::{
    DlModule, Error as RtError, InstanceHandle, Limits, Linker, MmapRegion, Region, RunResult, Val,
};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wast::lexer::{Lexer, TokenKind};
use wast::parser::{self, ParseBuffer};
use wast::token::Span;
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, Wat};

/// How long one call may run unless [`TIMEOUT_ENV`] says otherwise. No spec test
/// comes close; the limit is there so that a miscompiled infinite loop fails its
/// directive instead of hanging the suite.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variable overriding [`INVOKE_TIMEOUT`], in (possibly fractional) seconds.
pub const TIMEOUT_ENV: &str = "LUCET_SPECTEST_TIMEOUT";

fn invoke_timeout() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(INVOKE_TIMEOUT)
}

/// Set this environment variable to print each directive to stderr before it runs.
pub const TRACE_ENV: &str = "LUCET_SPECTEST_TRACE";

/// One assertion or directive that did not do what the script says.
#[derive(Debug, Clone)]
pub struct Failure {
    /// 1-based line of the directive.
    pub line: usize,
    /// 1-based column of the directive.
    pub column: usize,
    /// The directive's keyword, e.g. `assert_return`.
    pub directive: &'static str,
    pub reason: String,
}

/// The outcome of one script.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    /// Assertions that held.
    pub passed: usize,
    /// Assertions that did not hold, plus other directives (`module`, `register`,
    /// `invoke`, unsupported ones) that could not be carried out.
    pub failed: usize,
    pub failures: Vec<Failure>,
    pub elapsed: Duration,
}

/// Runs the script at `path`.
pub fn run_wast_file(path: &Path, cache: &ModuleCache) -> FileReport {
    let start = Instant::now();
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => run_wast_source(path, &crate::legacy_text::unfold_legacy_try(&text), cache),
            Err(_) => single_failure(path, start, "script", "the file is not valid UTF-8".into()),
        },
        Err(e) => single_failure(path, start, "script", format!("cannot read the file: {e}")),
    }
}

fn single_failure(
    path: &Path,
    start: Instant,
    directive: &'static str,
    reason: String,
) -> FileReport {
    single_failure_at(path, start, (1, 1), directive, reason)
}

fn single_failure_at(
    path: &Path,
    start: Instant,
    (line, column): (usize, usize),
    directive: &'static str,
    reason: String,
) -> FileReport {
    FileReport {
        path: path.to_path_buf(),
        passed: 0,
        failed: 1,
        failures: vec![Failure {
            line,
            column,
            directive,
            reason,
        }],
        elapsed: start.elapsed(),
    }
}

/// Runs a script whose text is `text`; `path` is used only in the report.
pub fn run_wast_source(path: &Path, text: &str, cache: &ModuleCache) -> FileReport {
    let start = Instant::now();
    // First the whole script at once; if that fails, each top-level form on its own,
    // so that one form the parser does not understand costs that form only.
    let whole = match parse_buffer(text) {
        Ok(buf) => Some(buf),
        Err(e) => {
            let (line, col) = e.span().linecol_in(text);
            let reason = format!("cannot parse the script: {}", e.message());
            return single_failure_at(path, start, (line + 1, col + 1), "script", reason);
        }
    };
    let mut items = Vec::new();
    let whole_parse = whole.as_ref().map(parser::parse::<Wast<'_>>);
    let ranges = match &whole_parse {
        Some(Ok(_)) => Vec::new(),
        Some(Err(_)) | None => match top_level_forms(text) {
            Ok(r) => r,
            Err(e) => {
                let (line, col) = e.span().linecol_in(text);
                let reason = format!("cannot parse the script: {}", e.message());
                return single_failure_at(path, start, (line + 1, col + 1), "script", reason);
            }
        },
    };
    let form_buffers: Vec<(usize, &str, Result<ParseBuffer<'_>, wast::Error>)> = ranges
        .iter()
        .map(|&(s, e)| (s, &text[s..e], parse_buffer(&text[s..e])))
        .collect();
    match whole_parse {
        Some(Ok(wast)) => items.extend(wast.directives.into_iter().map(|d| Item::Directive(0, d))),
        _ => {
            for (base, form, buf) in &form_buffers {
                let parsed = match buf {
                    Ok(b) => {
                        parser::parse::<Wast<'_>>(b).map_err(|e| (e.span().offset(), e.message()))
                    }
                    Err(e) => Err((e.span().offset(), e.message())),
                };
                match parsed {
                    Ok(w) => {
                        items.extend(w.directives.into_iter().map(|d| Item::Directive(*base, d)))
                    }
                    Err((at, message)) => {
                        let directive = form_keyword(form);
                        items.push(Item::Unparsable {
                            offset: base + at,
                            directive,
                            reason: format!("cannot parse this directive: {message}"),
                            module_rejected: matches!(
                                directive,
                                "assert_invalid" | "assert_malformed"
                            ) && error_in_first_inner_form(form, at),
                        })
                    }
                }
            }
        }
    }

    let features = Features::for_script(path);
    let prepared = prepare_modules(&mut items, cache, features);
    let mut run = ScriptRun::new(path, text, cache);
    run.execute(items, prepared);
    FileReport {
        path: path.to_path_buf(),
        passed: run.passed,
        failed: run.failures.len(),
        failures: run.failures,
        elapsed: start.elapsed(),
    }
}

fn parse_buffer(text: &str) -> Result<ParseBuffer<'_>, wast::Error> {
    let mut lexer = Lexer::new(text);
    // names.wast deliberately uses bidirectional-override and other look-alike
    // characters in names; the spec allows them.
    lexer.allow_confusing_unicode(true);
    ParseBuffer::new_with_lexer(lexer)
}

/// Byte ranges of the script's top-level parenthesised forms.
fn top_level_forms(text: &str) -> Result<Vec<(usize, usize)>, wast::Error> {
    let mut lexer = Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let mut forms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for token in lexer.iter(0) {
        let token = token?;
        match token.kind {
            TokenKind::LParen => {
                if depth == 0 {
                    start = token.offset;
                }
                depth += 1;
            }
            TokenKind::RParen => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    wast::Error::new(
                        Span::from_offset(token.offset),
                        "unbalanced `)`".to_string(),
                    )
                })?;
                if depth == 0 {
                    forms.push((start, token.offset + 1));
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(wast::Error::new(
            Span::from_offset(start),
            "unclosed `(`".to_string(),
        ));
    }
    Ok(forms)
}

/// Whether byte `at` of `form` (a whole `( ... )` form) lies inside the first
/// parenthesised form nested in it — the module of an `assert_invalid`.
fn error_in_first_inner_form(form: &str, at: usize) -> bool {
    let Some(body) = form.get(1..form.len().saturating_sub(1)) else {
        return false;
    };
    let Ok(inner) = top_level_forms(body) else {
        return false;
    };
    inner
        .first()
        .is_some_and(|&(s, e)| (s + 1..e + 1).contains(&at))
}

/// The directive keyword a form starts with, for reporting a form that does not parse.
fn form_keyword(form: &str) -> &'static str {
    const KEYWORDS: &[&str] = &[
        "assert_return",
        "assert_trap",
        "assert_exhaustion",
        "assert_invalid",
        "assert_malformed",
        "assert_unlinkable",
        "assert_exception",
        "module",
        "register",
        "invoke",
    ];
    let word = form.trim_start_matches('(').trim_start();
    KEYWORDS
        .iter()
        .find(|k| word.starts_with(*k))
        .copied()
        .unwrap_or("directive")
}

/// One top-level form of a script.
enum Item<'a> {
    /// A directive and the byte offset its spans are relative to.
    Directive(usize, WastDirective<'a>),
    /// A form the parser rejected; it counts as one failure, except that an
    /// `assert_invalid` or `assert_malformed` whose module is what fails to parse has
    /// had its module rejected, as it asserts.
    Unparsable {
        offset: usize,
        directive: &'static str,
        reason: String,
        module_rejected: bool,
    },
}

/// A module of the script after encoding and compiling.
enum Prepared {
    /// The text did not parse or encode (wast's message).
    Unencodable(String),
    Compiled(Result<PathBuf, CompileError>),
}

/// Encodes every module of the script and compiles them all in parallel. The result
/// is indexed like `items`.
fn prepare_modules(
    items: &mut [Item<'_>],
    cache: &ModuleCache,
    features: Features,
) -> Vec<Option<Prepared>> {
    let encoded: Vec<Option<Result<Vec<u8>, String>>> = items
        .iter_mut()
        .map(|item| {
            let Item::Directive(_, d) = item else {
                return None;
            };
            let encode_quote = |q: &mut QuoteWat<'_>| q.encode().map_err(|e| e.message());
            let encode_wat = |w: &mut Wat<'_>| w.encode().map_err(|e| e.message());
            match d {
                WastDirective::Module(q) | WastDirective::ModuleDefinition(q) => {
                    Some(encode_quote(q))
                }
                WastDirective::AssertMalformed { module, .. }
                | WastDirective::AssertInvalid { module, .. }
                | WastDirective::AssertMalformedCustom { module, .. }
                | WastDirective::AssertInvalidCustom { module, .. } => Some(encode_quote(module)),
                WastDirective::AssertUnlinkable { module, .. } => Some(encode_wat(module)),
                WastDirective::AssertTrap {
                    exec: WastExecute::Wat(w),
                    ..
                }
                | WastDirective::AssertReturn {
                    exec: WastExecute::Wat(w),
                    ..
                } => Some(encode_wat(w)),
                _ => None,
            }
        })
        .collect();
    encoded
        .into_par_iter()
        .map(|e| {
            e.map(|r| match r {
                Ok(bytes) => Prepared::Compiled(cache.compile(&bytes, features)),
                Err(msg) => Prepared::Unencodable(msg),
            })
        })
        .collect()
}

/// How an attempt to instantiate a module ended.
enum InstantiateError {
    /// The module could not be compiled or loaded.
    Build(String),
    /// An import could not be satisfied.
    Link(String),
    /// Instantiation trapped (a segment out of bounds, or the start function trapped).
    Trap(TrapCode, String),
    /// Anything else the runtime reported.
    Other(String),
}

impl InstantiateError {
    fn describe(&self) -> String {
        match self {
            InstantiateError::Build(m) => m.clone(),
            InstantiateError::Link(m) => format!("linking failed: {m}"),
            InstantiateError::Trap(_, m) => format!("instantiation trapped: {m}"),
            InstantiateError::Other(m) => m.clone(),
        }
    }
}

/// What running an export (or reading a global) produced.
enum Outcome {
    Values(Vec<Val>),
    Trap(TrapCode, String),
    /// An exception no handler caught; the message names its tag.
    Exception(String),
    Error(String),
}

struct ScriptRun<'a> {
    path: &'a Path,
    timeout: Duration,
    text: &'a str,
    cache: &'a ModuleCache,
    region: Option<Arc<MmapRegion>>,
    linker: Linker,
    instances: Vec<InstanceHandle>,
    current: Option<usize>,
    named: HashMap<String, usize>,
    /// `module definition` results, by name.
    definitions: HashMap<String, PathBuf>,
    passed: usize,
    failures: Vec<Failure>,
}

fn directive_name(d: &WastDirective<'_>) -> &'static str {
    match d {
        WastDirective::Module(_) => "module",
        WastDirective::ModuleDefinition(_) => "module definition",
        WastDirective::ModuleInstance { .. } => "module instance",
        WastDirective::AssertMalformed { .. } => "assert_malformed",
        WastDirective::AssertInvalid { .. } => "assert_invalid",
        WastDirective::Register { .. } => "register",
        WastDirective::Invoke(_) => "invoke",
        WastDirective::AssertTrap {
            exec: WastExecute::Wat(_),
            ..
        } => "assert_uninstantiable",
        WastDirective::AssertTrap { .. } => "assert_trap",
        WastDirective::AssertReturn { .. } => "assert_return",
        WastDirective::AssertExhaustion { .. } => "assert_exhaustion",
        WastDirective::AssertUnlinkable { .. } => "assert_unlinkable",
        WastDirective::AssertException { .. } => "assert_exception",
        WastDirective::Thread(_) => "thread",
        WastDirective::Wait { .. } => "wait",
        WastDirective::AssertInvalidCustom { .. } => "assert_invalid_custom",
        WastDirective::AssertMalformedCustom { .. } => "assert_malformed_custom",
        WastDirective::AssertSuspension { .. } => "assert_suspension",
    }
}

fn is_assertion(d: &WastDirective<'_>) -> bool {
    matches!(
        d,
        WastDirective::AssertMalformed { .. }
            | WastDirective::AssertInvalid { .. }
            | WastDirective::AssertTrap { .. }
            | WastDirective::AssertReturn { .. }
            | WastDirective::AssertExhaustion { .. }
            | WastDirective::AssertUnlinkable { .. }
            | WastDirective::AssertException { .. }
            | WastDirective::AssertInvalidCustom { .. }
            | WastDirective::AssertMalformedCustom { .. }
            | WastDirective::AssertSuspension { .. }
    )
}

/// How many instances a script may create: one per module directive (and per
/// attempted instantiation), plus the `spectest` instance.
fn slots_needed(items: &[Item<'_>]) -> usize {
    1 + items
        .iter()
        .filter(|item| {
            matches!(
                item,
                Item::Directive(_, d) if matches!(d,
                WastDirective::Module(_)
                    | WastDirective::ModuleInstance { .. }
                    | WastDirective::AssertUnlinkable { .. }
                    | WastDirective::AssertTrap { exec: WastExecute::Wat(_), .. }
                    | WastDirective::AssertReturn { exec: WastExecute::Wat(_), .. })
            )
        })
        .count()
}

impl<'a> ScriptRun<'a> {
    fn new(path: &'a Path, text: &'a str, cache: &'a ModuleCache) -> ScriptRun<'a> {
        ScriptRun {
            path,
            timeout: invoke_timeout(),
            text,
            cache,
            region: None,
            linker: Linker::new(),
            instances: Vec::new(),
            current: None,
            named: HashMap::new(),
            definitions: HashMap::new(),
            passed: 0,
            failures: Vec::new(),
        }
    }

    /// Records a failure of the directive at byte `offset` of the script.
    fn fail(&mut self, offset: usize, directive: &'static str, reason: String) {
        let (line, col) = Span::from_offset(offset).linecol_in(self.text);
        self.failures.push(Failure {
            line: line + 1,
            column: col + 1,
            directive,
            reason,
        });
    }

    /// Sets up the region and the `spectest` instance; on failure every assertion of
    /// the script is reported as failed with the reason.
    fn setup(&mut self, slots: usize) -> Result<(), String> {
        let region = MmapRegion::create(slots, &Limits::default())
            .map_err(|e| format!("cannot create a region of {slots} slots: {e}"))?;
        self.region = Some(region);
        let so = self
            .cache
            // Its `table64` needs memory64; a 2.0 script never imports it.
            .compile(&spectest_wasm(), Features::Latest)
            .map_err(|e| format!("cannot compile the spectest module: {e}"))?;
        let idx = self
            .instantiate(&so)
            .map_err(|e| format!("cannot instantiate the spectest module: {}", e.describe()))?;
        self.register(SPECTEST_NAME, idx)
            .map_err(|e| format!("cannot register the spectest module: {e}"))?;
        Ok(())
    }

    fn execute(&mut self, items: Vec<Item<'_>>, mut prepared: Vec<Option<Prepared>>) {
        if let Err(reason) = self.setup(slots_needed(&items)) {
            for item in &items {
                match item {
                    Item::Directive(base, d) if is_assertion(d) => {
                        self.fail(base + d.span().offset(), directive_name(d), reason.clone())
                    }
                    Item::Directive(..) => {}
                    Item::Unparsable {
                        offset,
                        directive,
                        reason,
                        ..
                    } => self.fail(*offset, directive, reason.clone()),
                }
            }
            if self.failures.is_empty() {
                self.fail(0, "script", reason);
            }
            return;
        }
        // A crash of the whole process (a runtime bug) gives no report, so this
        // names the directive that was running.
        let trace = std::env::var_os(TRACE_ENV).is_some();
        for (i, item) in items.into_iter().enumerate() {
            let (base, directive) = match item {
                Item::Directive(base, d) => (base, d),
                Item::Unparsable {
                    module_rejected: true,
                    ..
                } => {
                    self.passed += 1;
                    continue;
                }
                Item::Unparsable {
                    offset,
                    directive,
                    reason,
                    module_rejected: false,
                } => {
                    self.fail(offset, directive, reason);
                    continue;
                }
            };
            let name = directive_name(&directive);
            let offset = base + directive.span().offset();
            if trace {
                let (line, _) = Span::from_offset(offset).linecol_in(self.text);
                eprintln!("{}:{}: {name}", self.path.display(), line + 1);
            }
            let assertion = is_assertion(&directive);
            match self.directive(directive, prepared[i].take()) {
                Ok(()) if assertion => self.passed += 1,
                Ok(()) => {}
                Err(reason) => self.fail(offset, name, reason),
            }
        }
    }

    fn directive(
        &mut self,
        d: WastDirective<'_>,
        prepared: Option<Prepared>,
    ) -> Result<(), String> {
        match d {
            WastDirective::Module(q) => {
                let name = q.name().map(|id| id.name().to_string());
                // A failed module leaves no current module (and its name names
                // nothing), so the directives that use it fail too rather than
                // silently running against an older one.
                self.current = None;
                if let Some(name) = &name {
                    self.named.remove(name);
                }
                let so =
                    compiled(prepared).map_err(|e| format!("the module did not compile: {e}"))?;
                let idx = self.instantiate(&so).map_err(|e| e.describe())?;
                self.current = Some(idx);
                if let Some(name) = name {
                    self.named.insert(name, idx);
                }
                Ok(())
            }
            WastDirective::ModuleDefinition(q) => {
                let so =
                    compiled(prepared).map_err(|e| format!("the module did not compile: {e}"))?;
                if let Some(id) = q.name() {
                    self.definitions.insert(id.name().to_string(), so);
                }
                Ok(())
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                self.current = None;
                if let Some(name) = instance {
                    self.named.remove(name.name());
                }
                let module =
                    module.ok_or("`module instance` without a module name is not supported")?;
                let so = self
                    .definitions
                    .get(module.name())
                    .cloned()
                    .ok_or_else(|| format!("no module definition named ${}", module.name()))?;
                let idx = self.instantiate(&so).map_err(|e| e.describe())?;
                self.current = Some(idx);
                if let Some(name) = instance {
                    self.named.insert(name.name().to_string(), idx);
                }
                Ok(())
            }
            WastDirective::Register { name, module, .. } => {
                let idx = self.instance_index(module.map(|m| m.name()))?;
                self.register(name, idx)
            }
            WastDirective::Invoke(invoke) => match self.invoke(&invoke) {
                Outcome::Values(_) => Ok(()),
                Outcome::Trap(code, msg) => Err(format!("unexpected trap {code:?}: {msg}")),
                Outcome::Exception(msg) => Err(format!("unexpected exception: {msg}")),
                Outcome::Error(msg) => Err(msg),
            },
            WastDirective::AssertReturn { exec, results, .. } => {
                let values = match self.exec(exec, prepared) {
                    Outcome::Values(v) => v,
                    Outcome::Trap(code, msg) => {
                        return Err(format!("unexpected trap {code:?}: {msg}"))
                    }
                    Outcome::Exception(msg) => return Err(format!("unexpected exception: {msg}")),
                    Outcome::Error(msg) => return Err(msg),
                };
                if values.len() != results.len() {
                    return Err(format!(
                        "expected {} results, got {}: {}",
                        results.len(),
                        values.len(),
                        values.iter().map(show).collect::<Vec<_>>().join(" ")
                    ));
                }
                for (i, (expected, actual)) in results.iter().zip(&values).enumerate() {
                    if !matches(expected, actual)? {
                        return Err(format!(
                            "result {i}: expected {}, got {}",
                            show_expected(expected),
                            show(actual)
                        ));
                    }
                }
                Ok(())
            }
            WastDirective::AssertTrap { exec, message, .. } => {
                let codes = acceptable_codes(message).ok_or_else(|| {
                    format!("unknown trap message {message:?}: no trap code is known to match it")
                })?;
                match self.exec(exec, prepared) {
                    Outcome::Trap(code, _) if codes.contains(&code) => Ok(()),
                    Outcome::Trap(code, msg) => Err(format!(
                        "expected a trap {message:?} ({codes:?}), got {code:?}: {msg}"
                    )),
                    Outcome::Values(v) => Err(format!(
                        "expected a trap {message:?}, but it returned {}",
                        if v.is_empty() {
                            "nothing".to_string()
                        } else {
                            v.iter().map(show).collect::<Vec<_>>().join(" ")
                        }
                    )),
                    Outcome::Exception(msg) => {
                        Err(format!("expected a trap {message:?}, got an exception: {msg}"))
                    }
                    Outcome::Error(msg) => {
                        Err(format!("expected a trap {message:?}, got an error: {msg}"))
                    }
                }
            }
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                Outcome::Trap(TrapCode::StackOverflow, _) => Ok(()),
                Outcome::Trap(code, msg) => Err(format!(
                    "expected exhaustion {message:?}, got trap {code:?}: {msg}"
                )),
                Outcome::Values(_) => {
                    Err(format!("expected exhaustion {message:?}, but it returned"))
                }
                Outcome::Exception(msg) => Err(format!(
                    "expected exhaustion {message:?}, got an exception: {msg}"
                )),
                Outcome::Error(msg) => Err(format!(
                    "expected exhaustion {message:?}, got an error: {msg}"
                )),
            },
            WastDirective::AssertMalformed { message, .. }
            | WastDirective::AssertInvalid { message, .. } => match prepared {
                Some(Prepared::Unencodable(_))
                | Some(Prepared::Compiled(Err(CompileError::Rejected(_)))) => Ok(()),
                Some(Prepared::Compiled(Err(
                    e @ (CompileError::Cache { .. } | CompileError::Panicked(_)),
                ))) => Err(e.to_string()),
                Some(Prepared::Compiled(Ok(_))) => Err(format!(
                    "expected the module to be rejected ({message:?}), but lucetc compiled it"
                )),
                None => Err("internal: the module was not prepared".into()),
            },
            WastDirective::AssertUnlinkable { message, .. } => {
                let so =
                    compiled(prepared).map_err(|e| format!("the module did not compile: {e}"))?;
                match self.instantiate(&so) {
                    Err(InstantiateError::Link(_)) => Ok(()),
                    Err(other) => Err(format!(
                        "expected a link error ({message:?}), got: {}",
                        other.describe()
                    )),
                    Ok(_) => Err(format!(
                        "expected a link error ({message:?}), but the module instantiated"
                    )),
                }
            }
            WastDirective::AssertException { exec, .. } => match self.exec(exec, prepared) {
                Outcome::Exception(_) => Ok(()),
                Outcome::Values(v) => Err(format!(
                    "expected an exception, but it returned {}",
                    if v.is_empty() {
                        "nothing".to_string()
                    } else {
                        v.iter().map(show).collect::<Vec<_>>().join(" ")
                    }
                )),
                Outcome::Trap(code, msg) => {
                    Err(format!("expected an exception, got trap {code:?}: {msg}"))
                }
                Outcome::Error(msg) => Err(format!("expected an exception, got an error: {msg}")),
            },
            WastDirective::Thread(_) | WastDirective::Wait { .. } => {
                Err("threads are not supported by this runner".into())
            }
            // These assert something of a module's custom sections (annotations), which
            // do not change what the module means. lucetc reads only the `name` section,
            // whose errors cost just the names, as the specification allows engines to;
            // so the module must compile like any valid one, unless its text is what is
            // malformed.
            WastDirective::AssertInvalidCustom { message, .. }
            | WastDirective::AssertMalformedCustom { message, .. } => match prepared {
                Some(Prepared::Unencodable(_)) | Some(Prepared::Compiled(Ok(_))) => Ok(()),
                Some(Prepared::Compiled(Err(e))) => Err(format!(
                    "only the custom sections are {message:?}, which lucetc ignores, but it rejected the module: {e}"
                )),
                None => Err("internal: the module was not prepared".into()),
            },
            WastDirective::AssertSuspension { .. } => {
                Err("assert_suspension needs the stack-switching proposal, which is not supported".into())
            }
        }
    }

    fn exec(&mut self, exec: WastExecute<'_>, prepared: Option<Prepared>) -> Outcome {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke),
            WastExecute::Get { module, global, .. } => {
                let idx = match self.instance_index(module.map(|m| m.name())) {
                    Ok(i) => i,
                    Err(e) => return Outcome::Error(e),
                };
                match self.instances[idx].get_global(global) {
                    Ok(v) => Outcome::Values(vec![v]),
                    Err(e) => Outcome::Error(format!("cannot read global {global:?}: {e}")),
                }
            }
            WastExecute::Wat(_) => {
                let so = match compiled(prepared) {
                    Ok(so) => so,
                    Err(e) => return Outcome::Error(format!("the module did not compile: {e}")),
                };
                match self.instantiate(&so) {
                    Ok(_) => Outcome::Values(Vec::new()),
                    Err(InstantiateError::Trap(code, msg)) => Outcome::Trap(code, msg),
                    Err(e) => Outcome::Error(e.describe()),
                }
            }
        }
    }

    fn instance_index(&self, name: Option<&str>) -> Result<usize, String> {
        match name {
            Some(n) => self
                .named
                .get(n)
                .copied()
                .ok_or_else(|| format!("no module named ${n}")),
            None => self
                .current
                .ok_or_else(|| "no current module (the last module directive failed)".to_string()),
        }
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Outcome {
        let idx = match self.instance_index(invoke.module.map(|m| m.name())) {
            Ok(i) => i,
            Err(e) => return Outcome::Error(e),
        };
        let mut args = Vec::with_capacity(invoke.args.len());
        for a in &invoke.args {
            match arg_to_val(a) {
                Ok(v) => args.push(v),
                Err(e) => return Outcome::Error(e),
            }
        }
        match self.instances[idx].run_with_timeout(invoke.name, &args, self.timeout) {
            Ok(RunResult::Returned(v)) => Outcome::Values(v.values().to_vec()),
            Ok(RunResult::Yielded(_)) => {
                Outcome::Error("the guest yielded, which no spec test does".into())
            }
            // No reset: WebAssembly keeps every change made before a trap, and the
            // runtime lets a faulted instance run again.
            Err(RtError::RuntimeFault(details)) => {
                Outcome::Trap(details.trap_code, details.to_string())
            }
            Err(RtError::UncaughtException { tag }) => Outcome::Exception(tag),
            Err(e) => Outcome::Error(format!("cannot invoke {:?}: {e}", invoke.name)),
        }
    }

    fn instantiate(&mut self, so: &Path) -> Result<usize, InstantiateError> {
        let region = self
            .region
            .as_ref()
            .ok_or_else(|| InstantiateError::Other("no region".into()))?;
        let module = DlModule::load_unresolved(so)
            .map_err(|e| InstantiateError::Build(format!("cannot load {}: {e}", so.display())))?;
        let instance = region
            .new_instance_builder(module)
            .with_linker(&self.linker)
            .build()
            .map_err(|e| match e {
                RtError::InstantiationTrap(d) | RtError::RuntimeFault(d) => {
                    InstantiateError::Trap(d.trap_code, d.to_string())
                }
                RtError::UnresolvedImport(m) => InstantiateError::Link(m),
                other => InstantiateError::Other(other.to_string()),
            })?;
        self.instances.push(instance);
        Ok(self.instances.len() - 1)
    }

    fn register(&mut self, name: &str, idx: usize) -> Result<(), String> {
        self.linker
            .instance(name, &self.instances[idx])
            .map(|_| ())
            .map_err(|e| format!("cannot register the instance as {name:?}: {e}"))
    }
}

fn compiled(prepared: Option<Prepared>) -> Result<PathBuf, String> {
    match prepared {
        Some(Prepared::Compiled(Ok(so))) => Ok(so),
        Some(Prepared::Compiled(Err(e))) => Err(e.to_string()),
        Some(Prepared::Unencodable(msg)) => Err(format!("the text does not encode: {msg}")),
        None => Err("internal: the module was not prepared".into()),
    }
}
