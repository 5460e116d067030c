//! Checks of the deserialized metadata: every index in range, and the CPU features the
//! code was compiled for present on this host.

use crate::error::Error;
use lucet_module::{DefinedFuncIndex, ExportKind, ImportKind, Metadata, ModuleData};

/// Checks the exception handler table against the code lengths in `tables` (validated):
/// sites sorted, inside their function's code, and naming existing tags.
pub(crate) fn validate_handlers(d: &ModuleData, tables: &Metadata<'_>) -> Result<(), String> {
    let n_tags = d.num_imported_tags() + d.exceptions.defined_tags.len();
    let mut last = None;
    for site in &d.exceptions.sites {
        let len = tables
            .function(DefinedFuncIndex::from_u32(site.func))
            .map(|f| f.code_len)
            .ok_or_else(|| format!("a handler site names missing function {}", site.func))?;
        let key = (site.func, site.ret_offset);
        let in_code = |off: u32| off <= len;
        if last.is_some_and(|l| l >= key)
            || !in_code(site.ret_offset)
            || site.handlers.iter().any(|h| !in_code(h.target_offset) || h.tag.is_some_and(|t| t as usize >= n_tags))
        {
            return Err(format!("handler site at offset {} of function {} is malformed", site.ret_offset, site.func));
        }
        last = Some(key);
    }
    Ok(())
}

/// Checks every index in the metadata, so instantiation can index without panicking
/// even if the metadata was tampered with.
pub(crate) fn validate_metadata(d: &ModuleData) -> Result<(), String> {
    let n_types = d.types.len();
    let n_funcs = d.functions.len();
    let n_imp_funcs = d.num_imported_funcs();
    let n_tables = d.num_imported_tables() + d.defined_tables.len();
    let n_mems = d.memory_plans.len();
    let n_globals = d.num_imported_globals() + d.defined_globals.len();
    let n_tags = d.num_imported_tags() + d.exceptions.defined_tags.len();
    for imp in &d.imports {
        if let ImportKind::Tag(t) = imp.kind {
            if t as usize >= n_types {
                return Err(format!("tag import `{}`.`{}` has type {t} of {n_types}", imp.module, imp.field));
            }
        }
    }
    if d.exceptions.defined_tags.iter().any(|t| *t as usize >= n_types) {
        return Err("a tag has a missing type".into());
    }
    if d.num_imported_memories() > n_mems {
        return Err("more imported memories than memory plans".into());
    }
    let mut imp_func = 0;
    for imp in &d.imports {
        if let ImportKind::Func(t) = imp.kind {
            if t as usize >= n_types {
                return Err(format!("import `{}`.`{}` has type {t} of {n_types}", imp.module, imp.field));
            }
            if d.functions.get(imp_func).map(|f| f.type_index) != Some(t) {
                return Err(format!("imported function {imp_func} disagrees with its import"));
            }
            imp_func += 1;
        }
    }
    // One pass without early exits; the function is found afterwards.
    let malformed = |(i, f): (usize, &lucet_module::FunctionEntry)| {
        (f.type_index as usize >= n_types) | ((i >= n_imp_funcs) != f.code.is_some())
    };
    if d.functions.iter().enumerate().fold(false, |bad, f| bad | malformed(f)) {
        let i = d.functions.iter().enumerate().position(malformed).unwrap_or_default();
        return Err(format!("function {i} is malformed"));
    }
    for e in &d.exports {
        let ok = match e.kind {
            ExportKind::Func(i) => (i as usize) < n_funcs,
            ExportKind::Table(i) => (i as usize) < n_tables,
            ExportKind::Memory(i) => (i as usize) < n_mems,
            ExportKind::Global(i) => (i as usize) < n_globals,
            ExportKind::Tag(i) => (i as usize) < n_tags,
        };
        if !ok {
            return Err(format!("export `{}` refers to a missing item", e.name));
        }
    }
    if d.type_digests.len() > d.types.len() {
        return Err("more signature digests than types".into());
    }
    if d.table_inits.len() > d.defined_tables.len() {
        return Err("more table initialisers than defined tables".into());
    }
    if let Some(s) = d.start {
        if s as usize >= n_funcs {
            return Err(format!("start function {s} does not exist"));
        }
    }
    Ok(())
}

pub(crate) fn check_cpu_features(path: &str, data: &ModuleData) -> Result<(), Error> {
    let missing: Vec<&str> =
        data.target.cpu_features.iter().map(|s| s.as_str()).filter(|f| !host_has_feature(f)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::CpuFeatures { path: path.to_string(), missing: missing.join(", ") })
    }
}

fn host_has_feature(name: &str) -> bool {
    // The name without its separators, gathered on the stack: this runs on every load.
    let mut buf = [0u8; 24];
    let mut len = 0;
    for b in name.strip_prefix("has_").unwrap_or(name).bytes().filter(|b| !matches!(b, b'.' | b'_' | b'-')) {
        let Some(slot) = buf.get_mut(len) else { return false };
        *slot = b;
        len += 1;
    }
    // Only ASCII bytes were left out, so what remains is still UTF-8.
    let n = std::str::from_utf8(&buf[..len]).unwrap_or_default();
    macro_rules! detect {
        ($($s:literal => $f:tt),* $(,)?) => {
            match n {
                $($s => std::arch::is_x86_feature_detected!($f),)*
                _ => false,
            }
        };
    }
    detect!(
        "sse2" => "sse2", "sse3" => "sse3", "ssse3" => "ssse3", "sse41" => "sse4.1", "sse42" => "sse4.2",
        "popcnt" => "popcnt", "avx" => "avx", "avx2" => "avx2", "bmi1" => "bmi1", "bmi2" => "bmi2",
        "lzcnt" => "lzcnt", "fma" => "fma", "avx512f" => "avx512f", "avx512vl" => "avx512vl",
        "avx512dq" => "avx512dq", "avx512bw" => "avx512bw", "avx512bitalg" => "avx512bitalg",
        "avx512vbmi" => "avx512vbmi", "avx512vnni" => "avx512vnni", "avxvnni" => "avxvnni", "f16c" => "f16c",
        "cmpxchg16b" => "cmpxchg16b",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_feature_names() {
        assert!(host_has_feature("sse2"));
        assert_eq!(host_has_feature("has_sse41"), std::arch::is_x86_feature_detected!("sse4.1"));
        assert_eq!(host_has_feature("sse4.2"), std::arch::is_x86_feature_detected!("sse4.2"));
        assert!(!host_has_feature("quantum"));
        // Every feature lucetc can record (Cranelift's `has_*` x86 flags, named as lucetc
        // names them) is one this check knows, so `--target-cpu native` modules load on
        // the machine that compiled them.
        assert_eq!(host_has_feature("avx_vnni"), std::arch::is_x86_feature_detected!("avxvnni"));
        assert_eq!(host_has_feature("avx512vnni"), std::arch::is_x86_feature_detected!("avx512vnni"));
        let mut d = ModuleData::default();
        d.target.cpu_features = vec!["sse2".into(), "quantum".into()];
        let e = check_cpu_features("m.so", &d).unwrap_err().to_string();
        assert!(e.contains("quantum") && e.contains("--target-cpu baseline"), "{e}");
    }
}
