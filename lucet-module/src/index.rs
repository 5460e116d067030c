//! Typed indices into a module's index spaces.
//!
//! WebAssembly numbers functions, tables, memories and globals imports first, then
//! definitions, while the vmctx and the function manifest keep imports and definitions
//! in separate arrays. Mixing up the two numberings is an easy mistake with plain `u32`s,
//! so each has its own type, and [`ImportCounts`] is the one place that converts between
//! them.

use crate::{ImportKind, ModuleData};
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(u32);

        impl $name {
            pub const fn from_u32(index: u32) -> $name {
                $name(index)
            }

            pub const fn as_u32(self) -> u32 {
                self.0
            }

            /// The index as a position in a `Vec`.
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

index_type!(
    /// A function in the whole function index space (imports first).
    FuncIndex
);
index_type!(
    /// A function defined by the module, counted from the first definition.
    DefinedFuncIndex
);
index_type!(
    /// An entry of the type section.
    TypeIndex
);
index_type!(
    /// A memory in the whole memory index space.
    MemoryIndex
);
index_type!(
    /// A memory defined by the module.
    DefinedMemoryIndex
);
index_type!(
    /// A table in the whole table index space.
    TableIndex
);
index_type!(
    /// A table defined by the module.
    DefinedTableIndex
);
index_type!(
    /// A global in the whole global index space.
    GlobalIndex
);
index_type!(
    /// A global defined by the module.
    DefinedGlobalIndex
);
index_type!(
    /// An exception tag in the whole tag index space.
    TagIndex
);
index_type!(
    /// An exception tag defined by the module.
    DefinedTagIndex
);
index_type!(
    /// A data segment.
    DataIndex
);
index_type!(
    /// An element segment.
    ElemIndex
);

/// Where an entity of an index space comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<D> {
    /// The n-th import of this kind; imports come first, so n is also the entity's
    /// index in the whole space.
    Imported(u32),
    Defined(D),
}

/// How many entities of each kind a module imports: what turns whole-space indices
/// into import or definition indices and back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub funcs: u32,
    pub tables: u32,
    pub memories: u32,
    pub globals: u32,
    pub tags: u32,
}

macro_rules! conversions {
    ($field:ident, $whole:ident, $defined:ident, $origin:ident, $to_whole:ident) => {
        /// Whether the entity is imported or defined, and its index there.
        pub fn $origin(&self, index: $whole) -> Origin<$defined> {
            match index.0.checked_sub(self.$field) {
                Some(d) => Origin::Defined($defined(d)),
                None => Origin::Imported(index.0),
            }
        }

        /// The whole-space index of a definition.
        pub fn $to_whole(&self, index: $defined) -> $whole {
            $whole(self.$field + index.0)
        }
    };
}

impl ImportCounts {
    pub fn of(module: &ModuleData) -> ImportCounts {
        let mut counts = ImportCounts::default();
        for import in &module.imports {
            match import.kind {
                ImportKind::Func(_) => counts.funcs += 1,
                ImportKind::Table(_) => counts.tables += 1,
                ImportKind::Memory(_) => counts.memories += 1,
                ImportKind::Global(_) => counts.globals += 1,
                ImportKind::Tag(_) => counts.tags += 1,
            }
        }
        counts
    }

    conversions!(funcs, FuncIndex, DefinedFuncIndex, func, defined_func_index);
    conversions!(tables, TableIndex, DefinedTableIndex, table, defined_table_index);
    conversions!(memories, MemoryIndex, DefinedMemoryIndex, memory, defined_memory_index);
    conversions!(globals, GlobalIndex, DefinedGlobalIndex, global, defined_global_index);
    conversions!(tags, TagIndex, DefinedTagIndex, tag, defined_tag_index);

    /// The definition index of a function, if it is defined by the module.
    pub fn defined_func(&self, index: FuncIndex) -> Option<DefinedFuncIndex> {
        match self.func(index) {
            Origin::Defined(d) => Some(d),
            Origin::Imported(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_come_first() {
        let counts = ImportCounts { funcs: 2, tables: 0, memories: 1, globals: 3, tags: 0 };
        assert_eq!(counts.func(FuncIndex::from_u32(1)), Origin::Imported(1));
        assert_eq!(counts.func(FuncIndex::from_u32(2)), Origin::Defined(DefinedFuncIndex::from_u32(0)));
        assert_eq!(counts.defined_func_index(DefinedFuncIndex::from_u32(4)), FuncIndex::from_u32(6));
        assert_eq!(counts.table(TableIndex::from_u32(0)), Origin::Defined(DefinedTableIndex::from_u32(0)));
        assert_eq!(counts.memory(MemoryIndex::from_u32(0)), Origin::Imported(0));
        assert_eq!(counts.global(GlobalIndex::from_u32(3)), Origin::Defined(DefinedGlobalIndex::from_u32(0)));
    }
}
