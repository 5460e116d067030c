//! Where each function's code lies in memory, for the signal handler.
//!
//! A fault's pc is binary-searched in the module's function addresses (the checked
//! `functions` array of the descriptor plus the load address, in increasing order), and
//! then in that function's trap records, read in place from the checked mapping of the
//! file, which the map keeps.

use super::load::Loaded;
use crate::exec::{TrapInfo, TrapLookup};
use lucet_module::{DefinedFuncIndex, Metadata, TrapCode};
use std::sync::Arc;

/// A defined function whose code holds a pc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CodeRange {
    pub start: usize,
    /// In the whole function index space.
    pub func_index: u32,
}

/// Where the code of one module's defined functions lies, and its trap sites.
#[derive(Debug)]
pub(crate) struct CodeIndex<'a> {
    /// The address of each defined function, increasing.
    pub starts: Box<[usize]>,
    /// The metadata's tables, validated.
    pub tables: Metadata<'a>,
    pub num_imported_funcs: u32,
}

impl CodeIndex<'_> {
    fn find_defined(&self, pc: usize) -> Option<(DefinedFuncIndex, usize)> {
        // Binary search only, over memory that is never written: this runs inside the
        // signal handler.
        let i = self.starts.partition_point(|&s| s <= pc).checked_sub(1)?;
        let start = self.starts[i];
        let def = DefinedFuncIndex::from_u32(i as u32);
        let len = self.tables.function(def)?.code_len as usize;
        (pc - start < len).then_some((def, start))
    }

    fn find(&self, pc: usize) -> Option<CodeRange> {
        let (def, start) = self.find_defined(pc)?;
        Some(CodeRange { start, func_index: self.num_imported_funcs + def.as_u32() })
    }

    fn lookup(&self, pc: usize) -> Option<TrapInfo> {
        let (def, start) = self.find_defined(pc)?;
        let off = (pc - start) as u32;
        let sites = self.tables.trap_sites(def);
        let site = sites.binary_search_by_key(&off, |t| t.offset).ok().map(|i| sites[i].site());
        Some(TrapInfo {
            code: site.map(|s| s.code).unwrap_or(TrapCode::Unknown),
            function: Some(self.num_imported_funcs + def.as_u32()),
            wasm_offset: site.and_then(|s| s.wasm_offset),
        })
    }
}

/// The code index of one module, which keeps the module's object loaded and the checked
/// mapping of its file mapped.
pub(crate) struct CodeMap {
    /// The tables lie in `checked`, and are never handed out for longer than `&self`.
    index: CodeIndex<'static>,
    _checked: memmap2::Mmap,
    /// Declared last, so dropped last.
    loaded: Loaded,
}

impl std::fmt::Debug for CodeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeMap").field("functions", &self.index.starts.len()).finish_non_exhaustive()
    }
}

impl CodeMap {
    /// `index` must be checked (`starts` increasing and in the code of `loaded`, the
    /// tables validated against the module's metadata), and its tables must lie in
    /// `checked`.
    pub(crate) fn new(loaded: Loaded, checked: memmap2::Mmap, index: CodeIndex<'static>) -> CodeMap {
        CodeMap { index, _checked: checked, loaded }
    }

    pub(crate) fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    /// The metadata's tables in the loaded object.
    pub(crate) fn tables(&self) -> &Metadata<'_> {
        &self.index.tables
    }

    pub(crate) fn find(&self, pc: usize) -> Option<CodeRange> {
        self.index.find(pc)
    }
}

impl TrapLookup for CodeMap {
    fn lookup(&self, pc: usize) -> Option<TrapInfo> {
        self.index.lookup(pc)
    }
}

/// The code maps of every module an instance can reach (its own and those of the
/// instances it imports from), so a fault in any of them is recognised as a guest trap.
pub(crate) struct MultiCodeMap {
    pub maps: Vec<Arc<CodeMap>>,
}

impl TrapLookup for MultiCodeMap {
    fn lookup(&self, pc: usize) -> Option<TrapInfo> {
        self.maps.iter().find_map(|m| m.lookup(pc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucet_module::{FunctionCode, FunctionEntry, ModuleData, TrapSite};

    #[test]
    fn code_map_lookup() {
        let site = TrapSite { offset: 4, code: TrapCode::Unreachable, wasm_offset: Some(9) };
        let function = |len, traps| FunctionEntry { type_index: 0, name: None, code: Some(FunctionCode { len, traps }) };
        let data = ModuleData {
            types: vec![Default::default()],
            imports: vec![lucet_module::Import {
                module: "m".into(),
                field: "f".into(),
                kind: lucet_module::ImportKind::Func(0),
            }],
            functions: vec![FunctionEntry { type_index: 0, name: None, code: None }, function(10, vec![site]), function(20, vec![])],
            ..Default::default()
        };
        let blob = data.serialize();
        let tables = Metadata::parse(&blob).unwrap();
        tables.validate(&tables.decode().unwrap()).unwrap();
        let m = CodeIndex { starts: vec![100, 200].into(), tables, num_imported_funcs: 1 };
        assert!(m.lookup(99).is_none());
        assert!(m.lookup(110).is_none());
        let t = m.lookup(104).unwrap();
        assert_eq!((t.code, t.function, t.wasm_offset), (TrapCode::Unreachable, Some(1), Some(9)));
        assert_eq!(m.lookup(219).unwrap().code, TrapCode::Unknown);
    }
}
