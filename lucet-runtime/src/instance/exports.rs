//! Exports: lookup by name, and extern handles for them.

use super::core::Instance;
use super::externs::{Extern, Func, FuncKind, Global, GlobalKind, Memory, Table};
use super::handle::OwnerRef;
use crate::error::Error;
use crate::module::Module;
use lucet_module::{ExportKind, FuncType, GlobalType};
use std::sync::Arc;

impl Instance {
    /// The index of the exported function `name`, or an error listing what the module
    /// does export (and pointing a WASI `main` to `_start`).
    pub(crate) fn export_func_index(&self, name: &str) -> Result<u32, Error> {
        let data = self.data();
        match data.export(name) {
            Some(ExportKind::Func(i)) => Ok(i),
            Some(other) => Err(Error::SymbolNotFound(format!(
                "export `{name}` of module {} is a {}, not a function",
                self.dl().path(),
                match other {
                    ExportKind::Memory(_) => "memory",
                    ExportKind::Table(_) => "table",
                    ExportKind::Global(_) => "global",
                    ExportKind::Func(_) => "function",
                    ExportKind::Tag(_) => "tag",
                }
            ))),
            None => {
                let funcs: Vec<&str> = data
                    .exports
                    .iter()
                    .filter(|e| matches!(e.kind, ExportKind::Func(_)))
                    .map(|e| e.name.as_str())
                    .collect();
                let mut msg = format!("module {} has no exported function `{name}`; ", self.dl().path());
                if funcs.is_empty() {
                    msg.push_str("it exports no functions");
                } else {
                    msg.push_str(&format!("its function exports are: {}", funcs.join(", ")));
                }
                if name == "main" && funcs.contains(&"_start") {
                    msg.push_str(". This is a WASI command: run `_start` instead of `main` (it calls main and exits)");
                }
                Err(Error::SymbolNotFound(msg))
            }
        }
    }

    // ---- exports ----

    pub fn module(&self) -> &Arc<dyn Module> {
        &self.module
    }

    /// Names of every export.
    pub fn exports(&self) -> impl Iterator<Item = &str> + '_ {
        self.data().exports.iter().map(|e| e.name.as_str())
    }

    /// A handle to the export `name`; it keeps this instance alive.
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        let kind = self.data().export(name)?;
        Some(self.extern_for(kind))
    }

    pub(crate) fn extern_for(&self, kind: ExportKind) -> Extern {
        let owner = self.owner_ref();
        let data = self.data();
        match kind {
            ExportKind::Func(i) => Extern::Func(Func {
                kind: FuncKind::Instance {
                    owner,
                    funcref: self.funcref_ptr(i),
                    ty: data.func_type(i).cloned().unwrap_or_default(),
                },
            }),
            ExportKind::Global(i) => {
                // Live global types carry process-wide signature ids (see `RefShape`).
                let ty = self.global_type(i);
                let type_ids = self.module.as_dl_module().type_ids();
                let ty = GlobalType { shape: ty.shape.map_func_type(|t| type_ids.get(t as usize).copied()), ..ty };
                Extern::Global(Global { kind: GlobalKind::Instance { owner, ptr: self.globals[i as usize], ty } })
            }
            ExportKind::Table(i) => Extern::Table(Table { owner, index: i, _not_send: std::marker::PhantomData }),
            ExportKind::Memory(i) => Extern::Memory(Memory { owner, index: i, _not_send: std::marker::PhantomData }),
            ExportKind::Tag(i) => Extern::Tag(self.exceptions.tags[i as usize].clone()),
        }
    }

    /// The signature of exported function `name`.
    pub fn export_func_type(&self, name: &str) -> Option<&FuncType> {
        match self.data().export(name)? {
            ExportKind::Func(i) => self.data().func_type(i),
            _ => None,
        }
    }

    pub(crate) fn owner_ref(&self) -> OwnerRef {
        // An export handle shares this instance's state with the thread it is made on.
        self.home.bind_here();
        OwnerRef(self.arc())
    }
}
