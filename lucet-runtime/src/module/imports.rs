//! Resolving function imports against the hostcall registry, and the words errors use to
//! describe imports.

use super::ResolvedImport;
use crate::hostcall::lookup_hostcall;
use crate::error::Error;
use lucet_module::{FuncType, ImportKind, ModuleData};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

pub(crate) fn resolve_imports(path: &str, data: &ModuleData, strict: bool) -> Result<Vec<ResolvedImport>, Error> {
    let mut out = Vec::with_capacity(data.imports.len());
    for imp in &data.imports {
        let resolved = match &imp.kind {
            ImportKind::Func(ty) => {
                let want = data.types.get(*ty as usize).cloned().unwrap_or_default();
                match lookup_hostcall(&imp.module, &imp.field) {
                    Some(def) if def.func_type() == want => ResolvedImport::Hostcall(def.func),
                    Some(def) => {
                        return Err(Error::UnresolvedImport(format!(
                            "module {path} imports `{}`.`{}` with signature {want}, but the registered hostcall \
                             of that name has signature {}; fix the import or the hostcall definition",
                            imp.module,
                            imp.field,
                            def.func_type()
                        )))
                    }
                    None if strict => {
                        return Err(unresolved(path, &imp.module, &imp.field, &format!("function {want}")))
                    }
                    None => ResolvedImport::Unresolved,
                }
            }
            other if strict => {
                let what = match other {
                    ImportKind::Table(t) => describe_table(t),
                    ImportKind::Memory(m) => describe_memory(m),
                    ImportKind::Global(g) => describe_global(g),
                    ImportKind::Tag(t) => format!("tag of type {t}"),
                    ImportKind::Func(_) => unreachable!(),
                };
                return Err(unresolved(path, &imp.module, &imp.field, &what));
            }
            _ => ResolvedImport::Unresolved,
        };
        out.push(resolved);
    }
    Ok(out)
}

/// `global i32`, `global (mut i64)`.
pub(crate) fn describe_global(g: &lucet_module::GlobalType) -> String {
    if g.mutable {
        format!("global (mut {})", g.ty)
    } else {
        format!("global {}", g.ty)
    }
}

/// `memory 1..2 pages`, `memory64 1.. pages`.
pub(crate) fn describe_memory(m: &lucet_module::MemoryType) -> String {
    let kind = if m.memory64 { "memory64" } else { "memory" };
    let max = m.max_pages.map(|x| x.to_string()).unwrap_or_default();
    format!("{kind} {}..{max} pages", m.min_pages)
}

/// `table 10..20 funcref`.
pub(crate) fn describe_table(t: &lucet_module::TableType) -> String {
    let max = t.max.map(|x| x.to_string()).unwrap_or_default();
    let elem = match t.elem {
        lucet_module::RefType::FuncRef => "funcref",
        lucet_module::RefType::ExternRef => "externref",
        lucet_module::RefType::ExnRef => "exnref",
    };
    let index = if t.table64 { " i64" } else { "" };
    format!("table{index} {}..{max} {elem}", t.min)
}

pub(crate) fn unresolved(path: &str, module: &str, field: &str, what: &str) -> Error {
    let hint = if crate::hostcall::has_hostcall_module(module) {
        format!(
            "; hostcalls are registered for `{module}`, but none named `{field}` (this runtime or its \
             hostcall library does not implement it)"
        )
    } else if module == "wasi_snapshot_preview1" || module == "wasi_unstable" {
        "; this is a WASI import: depend on the lucet-wasi crate and give the instance a \
         lucet_wasi::WasiCtx (WasiCtxBuilder::new().build()) as its embed context"
            .to_string()
    } else {
        "; register a hostcall with lucet_runtime::register_hostcalls, or load the module with \
         DlModule::load_unresolved and supply the import with a Linker"
            .to_string()
    };
    Error::UnresolvedImport(format!("module {path} imports {what} `{module}`.`{field}`, which nothing provides{hint}"))
}

/// The process-wide id of a signature: equal types get equal ids in every module.
#[cfg(test)]
pub(crate) fn intern_signature(ty: &FuncType) -> u32 {
    intern_typed_signature(ty, None)
}

/// The process-wide id of a signature together with its typed-reference digest
/// (`ModuleData::type_digests`): signatures that differ only in the function types of
/// their typed references get different ids.
pub(crate) fn intern_typed_signature(ty: &FuncType, digest: Option<[u8; 32]>) -> u32 {
    static TABLE: OnceLock<Mutex<HashMap<(FuncType, Option<[u8; 32]>), u32>>> = OnceLock::new();
    let mut t = TABLE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let next = t.len() as u32 + 1;
    *t.entry((ty.clone(), digest)).or_insert(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_signature_same_id() {
        let a = FuncType { params: vec![lucet_module::ValType::I32], results: vec![] };
        let b = FuncType { params: vec![lucet_module::ValType::I64], results: vec![] };
        assert_eq!(intern_signature(&a), intern_signature(&a.clone()));
        assert_ne!(intern_signature(&a), intern_signature(&b));
    }
}
