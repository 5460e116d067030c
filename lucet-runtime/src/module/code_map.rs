//! Where each function's code lies in memory, for the signal handler.
//!
//! A fault's pc is binary-searched in the module's function addresses (the checked
//! `functions` array of the descriptor plus the load address, in increasing order), and
//! then in that function's trap records, read in place from the checked mapping of the
//! file, which the map keeps.
//!
//! Loading checks where each function's trap records lie (inside the trap table), but
//! not the records themselves: a large module has hundreds of thousands, and checking
//! them all was the largest part of the load-time checks. A function's records are
//! checked (sorted, inside its code, known codes) the first time a fault in it is
//! looked up, and the verdict is kept. What they decide is only which trap is
//! reported: whether a fault is a trap at all depends on the function addresses and
//! code lengths, checked at load, and on the faulting address (`exec::signals`). A
//! function whose records are malformed, which only a damaged file has, reports its
//! faults as `TrapCode::Unknown` rather than a code read from unchecked records.

use super::load::Loaded;
use crate::exec::{TrapInfo, TrapLookup};
use lucet_module::{DefinedFuncIndex, Metadata, TrapCode, TrapRecord};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// What is known of one function's trap records.
const UNCHECKED: u8 = 0;
const VALID: u8 = 1;
const MALFORMED: u8 = 2;

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
    /// The metadata's tables, their records validated (`Metadata::validate_records`).
    pub tables: Metadata<'a>,
    pub num_imported_funcs: u32,
    /// Per defined function: `UNCHECKED`, `VALID` or `MALFORMED` trap records.
    trap_records: Box<[AtomicU8]>,
}

impl<'a> CodeIndex<'a> {
    pub fn new(starts: Box<[usize]>, tables: Metadata<'a>, num_imported_funcs: u32) -> CodeIndex<'a> {
        let trap_records = std::iter::repeat_with(|| AtomicU8::new(UNCHECKED)).take(starts.len()).collect();
        CodeIndex { starts, tables, num_imported_funcs, trap_records }
    }

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

    /// The trap records of `def`, checked the first time they are asked for; none if
    /// they are malformed. Runs inside the signal handler: the check reads the records
    /// and the verdict is one atomic store, with neither allocation nor lock. Two
    /// threads that fault in the same function at once may both check it; they reach
    /// the same verdict.
    fn trap_sites(&self, def: DefinedFuncIndex) -> &[TrapRecord] {
        let Some(state) = self.trap_records.get(def.index()) else { return &[] };
        let valid = match state.load(Ordering::Relaxed) {
            VALID => true,
            MALFORMED => false,
            _ => {
                let valid = self.tables.trap_sites_valid(def);
                state.store(if valid { VALID } else { MALFORMED }, Ordering::Relaxed);
                valid
            }
        };
        if valid {
            self.tables.trap_sites(def)
        } else {
            &[]
        }
    }

    fn lookup(&self, pc: usize) -> Option<TrapInfo> {
        let (def, start) = self.find_defined(pc)?;
        let off = (pc - start) as u32;
        let sites = self.trap_sites(def);
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
    /// tables' records validated against the module's metadata), and its tables must
    /// lie in `checked`.
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
        let m = CodeIndex::new(vec![100, 200].into(), tables, 1);
        assert!(m.lookup(99).is_none());
        assert!(m.lookup(110).is_none());
        let t = m.lookup(104).unwrap();
        assert_eq!((t.code, t.function, t.wasm_offset), (TrapCode::Unreachable, Some(1), Some(9)));
        assert_eq!(m.lookup(219).unwrap().code, TrapCode::Unknown);
    }

    /// Malformed trap records, which loading no longer reads, are never used: the fault
    /// is still found in its function, with an unknown code.
    #[test]
    fn malformed_trap_records_report_unknown() {
        let sites = [4, 8].map(|offset| TrapSite { offset, code: TrapCode::Unreachable, wasm_offset: None });
        let function = |len, traps: Vec<TrapSite>| FunctionEntry { type_index: 0, name: None, code: Some(FunctionCode { len, traps }) };
        let data = ModuleData {
            types: vec![Default::default()],
            functions: vec![function(10, sites.to_vec()), function(20, vec![sites[0]])],
            ..Default::default()
        };
        // Heap memory, aligned as the tables need (as in `code_map_lookup`).
        let mut blob = data.serialize();
        let at = Metadata::parse(&blob).unwrap().header.trap_sites.offset as usize;
        // The first function's second site now lies past its code.
        blob[at + 12..at + 16].copy_from_slice(&12u32.to_le_bytes());
        let tables = Metadata::parse(&blob).unwrap();
        tables.validate_records(&tables.decode().unwrap()).unwrap();
        let m = CodeIndex::new(vec![100, 200].into(), tables, 0);
        for _ in 0..2 {
            let t = m.lookup(104).unwrap();
            assert_eq!((t.code, t.function), (TrapCode::Unknown, Some(0)));
            assert_eq!(m.lookup(204).unwrap().code, TrapCode::Unreachable);
        }
    }
}
