//! Where each function's code lies in memory, for the signal handler.

use crate::exec::{TrapInfo, TrapLookup};
use lucet_module::{TrapCode, TrapSite};
use std::sync::Arc;

/// One defined function's code.
#[derive(Debug)]
pub(crate) struct CodeRange {
    pub start: usize,
    pub end: usize,
    pub func_index: u32,
    /// Sorted by offset.
    pub traps: Vec<TrapSite>,
}

/// Sorted code ranges of one module, for the signal handler.
#[derive(Debug)]
pub(crate) struct CodeMap {
    pub ranges: Vec<CodeRange>,
}

impl CodeMap {
    pub(crate) fn find(&self, pc: usize) -> Option<&CodeRange> {
        // Binary search only: this runs inside the signal handler.
        let i = self.ranges.partition_point(|r| r.start <= pc);
        let r = self.ranges.get(i.checked_sub(1)?)?;
        (pc < r.end).then_some(r)
    }
}

impl TrapLookup for CodeMap {
    fn lookup(&self, pc: usize) -> Option<TrapInfo> {
        let r = self.find(pc)?;
        let off = (pc - r.start) as u32;
        let site = r.traps.binary_search_by_key(&off, |t| t.offset).ok().map(|i| r.traps[i]);
        Some(TrapInfo {
            code: site.map(|s| s.code).unwrap_or(TrapCode::Unknown),
            function: Some(r.func_index),
            wasm_offset: site.and_then(|s| s.wasm_offset),
        })
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

    #[test]
    fn code_map_lookup() {
        let site = TrapSite { offset: 4, code: TrapCode::Unreachable, wasm_offset: Some(9) };
        let m = CodeMap {
            ranges: vec![
                CodeRange { start: 100, end: 110, func_index: 1, traps: vec![site] },
                CodeRange { start: 200, end: 220, func_index: 2, traps: vec![] },
            ],
        };
        assert!(m.lookup(99).is_none());
        assert!(m.lookup(110).is_none());
        let t = m.lookup(104).unwrap();
        assert_eq!((t.code, t.function, t.wasm_offset), (TrapCode::Unreachable, Some(1), Some(9)));
        assert_eq!(m.lookup(219).unwrap().code, TrapCode::Unknown);
    }
}
