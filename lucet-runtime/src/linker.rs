//! Supplying imports at instantiation: from other instances or from host closures.
//!
//! A module loaded with [`crate::DlModule::load_unresolved`] may import functions,
//! memories, tables and globals that are not hostcalls. A [`Linker`] names them;
//! [`crate::InstanceBuilder::with_linker`] resolves the module's imports against it.
//! Memories, tables and globals are shared by pointer: the importer's vmctx points at
//! the exporter's state, and the importer keeps the exporter alive.

use crate::error::Error;
use crate::instance::{Extern, Func, InstanceBuilder, InstanceHandle, Trap};
use crate::val::Val;
use lucet_module::FuncType;
use std::collections::HashMap;

/// Named definitions that instances can import.
#[derive(Clone, Default)]
pub struct Linker {
    items: HashMap<(String, String), Extern>,
}

impl Linker {
    pub fn new() -> Linker {
        Linker::default()
    }

    /// Defines `module`.`name`; a later definition of the same name replaces it.
    pub fn define(&mut self, module: &str, name: &str, item: impl Into<Extern>) -> &mut Self {
        self.items.insert((module.to_string(), name.to_string()), item.into());
        self
    }

    /// Defines every export of `instance` under the module name `name`.
    pub fn instance(&mut self, name: &str, instance: &InstanceHandle) -> Result<&mut Self, Error> {
        let names: Vec<String> = instance.exports().map(|s| s.to_string()).collect();
        for n in names {
            if let Some(e) = instance.get_export(&n) {
                self.define(name, &n, e);
            }
        }
        Ok(self)
    }

    /// Defines `module`.`name` as a host closure with signature `ty`.
    pub fn func_new<F>(&mut self, module: &str, name: &str, ty: FuncType, f: F) -> &mut Self
    where
        F: Fn(&[Val]) -> Result<Vec<Val>, Trap> + Send + Sync + 'static,
    {
        self.define(module, name, Func::new(ty, f))
    }

    pub fn get(&self, module: &str, name: &str) -> Option<&Extern> {
        self.items.get(&(module.to_string(), name.to_string()))
    }

    pub(crate) fn items(&self) -> impl Iterator<Item = (&(String, String), &Extern)> {
        self.items.iter()
    }
}

impl InstanceBuilder {
    /// Resolves imports from `linker` (before registered hostcalls).
    pub fn with_linker(mut self, linker: &Linker) -> Self {
        for (k, v) in linker.items() {
            self.imports.insert(k.clone(), v.clone());
        }
        self
    }
}
