//! Reads a WebAssembly binary into [`ModuleData`] plus the function bodies to compile.
//!
//! The module was validated when the `Lucetc` was made; the sections are read here with
//! wasmparser's validator alongside, which resolves the types the module pass needs.

use crate::config::Config;
use crate::error::Error;
use lucet_module::{
    FuncIndex, ConstExpr, ConstOp, DataSegment, ElemSegment, Export, ExportKind, FuncType, FunctionEntry, GlobalDef,
    GlobalType, Import, ImportKind, MemoryPlan, MemoryType, ModuleData, RefShape, RefType, SegmentKind, TableType,
    ValType,
};
use wasmparser::{
    BinaryReaderError, FunctionBody, KnownCustom, Name, Parser, Payload, TypeRef,
    Validator, WasmFeatures,
};

/// One defined function waiting to be compiled.
pub struct FuncBody<'a> {
    /// Index in the whole function index space.
    pub index: FuncIndex,
    pub body: FunctionBody<'a>,
}

pub struct ParsedModule<'a> {
    pub data: ModuleData,
    pub bodies: Vec<FuncBody<'a>>,
}

/// Exactly the features of WebAssembly 2.0 (for tests that expect later additions,
/// such as several memories, to be rejected).
pub fn wasm2_features() -> WasmFeatures {
    WasmFeatures::FLOATS
        | WasmFeatures::GC_TYPES
        | WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::SIMD
}

/// The WebAssembly features lucetc accepts by default: Wasm 2.0 and the later proposals that
/// lucetc's translator handles.
pub fn wasm_features() -> WasmFeatures {
    wasm2_features()
        | WasmFeatures::RELAXED_SIMD
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::EXTENDED_CONST
        | WasmFeatures::MULTI_MEMORY
        | WasmFeatures::MEMORY64
        | WasmFeatures::FUNCTION_REFERENCES
        | WasmFeatures::EXCEPTIONS
        | WasmFeatures::LEGACY_EXCEPTIONS
}

fn unsupported(offset: usize, what: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("{what} (at byte offset {offset:#x})"))
}

pub(crate) fn val_type(t: wasmparser::ValType, offset: usize) -> Result<ValType, Error> {
    use wasmparser::ValType as W;
    Ok(match t {
        W::I32 => ValType::I32,
        W::I64 => ValType::I64,
        W::F32 => ValType::F32,
        W::F64 => ValType::F64,
        W::V128 => ValType::V128,
        W::Ref(r) => ref_type(r, offset)?.into(),
    })
}

/// References to functions of any type are the same `FuncRef` pointers (null is 0);
/// nullability and the function type are the validator's business.
pub(crate) fn ref_type(r: wasmparser::RefType, offset: usize) -> Result<RefType, Error> {
    use wasmparser::{AbstractHeapType, HeapType};
    match r.heap_type() {
        HeapType::Abstract { shared: false, ty: AbstractHeapType::Func } => Ok(RefType::FuncRef),
        HeapType::Abstract { shared: false, ty: AbstractHeapType::Extern } => Ok(RefType::ExternRef),
        HeapType::Abstract { shared: false, ty: AbstractHeapType::Exn | AbstractHeapType::NoExn } => {
            Ok(RefType::ExnRef)
        }
        // Without the GC proposal every concrete type is a function type.
        HeapType::Concrete(_) => Ok(RefType::FuncRef),
        _ => Err(unsupported(offset, format_args!("not supported yet: garbage collection (reference type {r})"))),
    }
}

/// Nullability and function type of a (valid, non-GC) reference type.
fn ref_shape(r: wasmparser::RefType) -> RefShape {
    let func_type = match r.heap_type() {
        wasmparser::HeapType::Concrete(i) => i.as_module_index(),
        _ => None,
    };
    RefShape { nullable: r.is_nullable(), func_type }
}

fn table_type(t: &wasmparser::TableType, offset: usize) -> Result<TableType, Error> {
    Ok(TableType {
        elem: ref_type(t.element_type, offset)?,
        min: t.initial,
        max: t.maximum,
        table64: t.table64,
        shape: ref_shape(t.element_type),
    })
}

fn memory_type(m: &wasmparser::MemoryType, offset: usize) -> Result<MemoryType, Error> {
    if m.page_size_log2.is_some_and(|p| p != 16) {
        return Err(unsupported(offset, "custom page sizes"));
    }
    if m.shared {
        return Err(unsupported(offset, "shared memories"));
    }
    Ok(MemoryType { min_pages: m.initial, max_pages: m.maximum, memory64: m.memory64, shared: m.shared })
}

fn global_type(g: &wasmparser::GlobalType, offset: usize) -> Result<GlobalType, Error> {
    let shape = match g.content_type {
        wasmparser::ValType::Ref(r) => ref_shape(r),
        _ => RefShape::default(),
    };
    Ok(GlobalType { ty: val_type(g.content_type, offset)?, mutable: g.mutable, shape })
}

/// Converts a (validated) constant expression into the runtime's stack-machine form.
fn const_expr(e: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, Error> {
    use wasmparser::Operator as O;
    let mut reader = e.get_operators_reader();
    let mut ops = Vec::new();
    loop {
        let offset = reader.original_position();
        let op = match reader.read()? {
            O::End => break,
            O::I32Const { value } => ConstOp::I32Const(value),
            O::I64Const { value } => ConstOp::I64Const(value),
            O::F32Const { value } => ConstOp::F32Const(value.bits()),
            O::F64Const { value } => ConstOp::F64Const(value.bits()),
            O::V128Const { value } => ConstOp::V128Const(u128::from_le_bytes(*value.bytes())),
            O::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
            O::RefNull { .. } => ConstOp::RefNull,
            O::RefFunc { function_index } => ConstOp::RefFunc(function_index),
            O::I32Add => ConstOp::I32Add,
            O::I32Sub => ConstOp::I32Sub,
            O::I32Mul => ConstOp::I32Mul,
            O::I64Add => ConstOp::I64Add,
            O::I64Sub => ConstOp::I64Sub,
            O::I64Mul => ConstOp::I64Mul,
            other => return Err(crate::translate::ops::not_supported(offset, &other)),
        };
        ops.push(op);
    }
    Ok(ConstExpr { ops })
}

/// Validates `wasm` and records everything about it except the code.
pub fn parse<'a>(wasm: &'a [u8], features: WasmFeatures, config: &Config) -> Result<ParsedModule<'a>, Error> {
    let features = crate::gc_free::validation_features(features);
    let mut validator = Validator::new_with_features(features);
    let mut data = ModuleData {
        compiler_version: lucet_module::COMPILER_VERSION.to_string(),
        ..ModuleData::default()
    };
    let mut bodies = Vec::new();
    let mut names: Vec<(u32, String)> = Vec::new();
    let plan = |memory: MemoryType| MemoryPlan {
        memory,
        reserved_size: config.reserved_size,
        guard_size: config.guard_size,
    };

    let mut parser = Parser::new(0);
    parser.set_features(features);
    for payload in parser.parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::Version { num, encoding, range } => {
                validator.version(*num, *encoding, range)?;
            }
            Payload::TypeSection(types) => {
                validator.type_section(types)?;
                let offset = types.range().start;
                for t in super::types::read_section(types)? {
                    data.type_digests.push(t.recorded.then_some(t.digest));
                    let conv = |v: &[wasmparser::ValType]| {
                        v.iter().map(|t| val_type(*t, offset)).collect::<Result<Vec<_>, _>>()
                    };
                    data.types.push(FuncType { params: conv(t.ty.params())?, results: conv(t.ty.results())? });
                }
            }
            Payload::ImportSection(imports) => {
                validator.import_section(imports)?;
                for import in imports.clone().into_imports_with_offsets() {
                    let (offset, import) = import?;
                    let kind = match import.ty {
                        TypeRef::Func(t) => {
                            data.functions.push(FunctionEntry {
                                type_index: t,
                                name: Some(format!("{}.{}", import.module, import.name)),
                                code: None,
                            });
                            ImportKind::Func(t)
                        }
                        TypeRef::Table(t) => ImportKind::Table(table_type(&t, offset)?),
                        TypeRef::Memory(m) => {
                            let m = memory_type(&m, offset)?;
                            data.memory_plans.push(plan(m));
                            ImportKind::Memory(m)
                        }
                        TypeRef::Global(g) => ImportKind::Global(global_type(&g, offset)?),
                        TypeRef::Tag(tag) => ImportKind::Tag(tag.func_type_idx),
                        TypeRef::FuncExact(_) => {
                            return Err(unsupported(offset, "not supported yet: custom descriptors (exact function imports)"))
                        }
                    };
                    data.imports.push(Import {
                        module: import.module.to_string(),
                        field: import.name.to_string(),
                        kind,
                    });
                }
            }
            Payload::FunctionSection(funcs) => {
                validator.function_section(funcs)?;
                for t in funcs.clone() {
                    data.functions.push(FunctionEntry { type_index: t?, name: None, code: None });
                }
            }
            Payload::TableSection(tables) => {
                validator.table_section(tables)?;
                for table in tables.clone().into_iter_with_offsets() {
                    let (offset, table) = table?;
                    data.defined_tables.push(table_type(&table.ty, offset)?);
                    data.table_inits.push(match &table.init {
                        wasmparser::TableInit::RefNull => None,
                        wasmparser::TableInit::Expr(e) => Some(const_expr(e)?),
                    });
                }
            }
            Payload::MemorySection(memories) => {
                validator.memory_section(memories)?;
                for m in memories.clone().into_iter_with_offsets() {
                    let (offset, m) = m?;
                    data.memory_plans.push(plan(memory_type(&m, offset)?));
                }
            }
            Payload::TagSection(tags) => {
                validator.tag_section(tags)?;
                for tag in tags.clone() {
                    data.exceptions.defined_tags.push(tag?.func_type_idx);
                }
            }
            Payload::GlobalSection(globals) => {
                validator.global_section(globals)?;
                for g in globals.clone().into_iter_with_offsets() {
                    let (offset, g) = g?;
                    data.defined_globals.push(GlobalDef {
                        ty: global_type(&g.ty, offset)?,
                        init: const_expr(&g.init_expr)?,
                    });
                }
            }
            Payload::ExportSection(exports) => {
                validator.export_section(exports)?;
                for e in exports.clone().into_iter_with_offsets() {
                    let (offset, e) = e?;
                    let kind = match e.kind {
                        wasmparser::ExternalKind::Func => ExportKind::Func(e.index),
                        wasmparser::ExternalKind::Table => ExportKind::Table(e.index),
                        wasmparser::ExternalKind::Memory => ExportKind::Memory(e.index),
                        wasmparser::ExternalKind::Global => ExportKind::Global(e.index),
                        wasmparser::ExternalKind::Tag => ExportKind::Tag(e.index),
                        wasmparser::ExternalKind::FuncExact => {
                            return Err(unsupported(offset, "not supported yet: custom descriptors (exact function exports)"))
                        }
                    };
                    data.exports.push(Export { name: e.name.to_string(), kind });
                }
            }
            Payload::StartSection { func, range } => {
                validator.start_section(*func, range)?;
                data.start = Some(*func);
            }
            Payload::ElementSection(elems) => {
                validator.element_section(elems)?;
                for elem in elems.clone().into_iter_with_offsets() {
                    let (offset, elem) = elem?;
                    let kind = match &elem.kind {
                        wasmparser::ElementKind::Active { table_index, offset_expr } => SegmentKind::Active {
                            index: table_index.unwrap_or(0),
                            offset: const_expr(offset_expr)?,
                        },
                        wasmparser::ElementKind::Passive => SegmentKind::Passive,
                        wasmparser::ElementKind::Declared => SegmentKind::Declared,
                    };
                    let (elem_type, items) = match &elem.items {
                        wasmparser::ElementItems::Functions(funcs) => {
                            let mut items = Vec::new();
                            for f in funcs.clone() {
                                items.push(ConstExpr { ops: vec![ConstOp::RefFunc(f?)] });
                            }
                            (RefType::FuncRef, items)
                        }
                        wasmparser::ElementItems::Expressions(ty, exprs) => {
                            let mut items = Vec::new();
                            for e in exprs.clone() {
                                items.push(const_expr(&e?)?);
                            }
                            (ref_type(*ty, offset)?, items)
                        }
                    };
                    data.elem_segments.push(ElemSegment { kind, elem_type, items });
                }
            }
            Payload::DataCountSection { count, range } => {
                validator.data_count_section(*count, range)?;
            }
            Payload::DataSection(segments) => {
                validator.data_section(segments)?;
                for seg in segments.clone() {
                    let seg = seg?;
                    let kind = match &seg.kind {
                        wasmparser::DataKind::Active { memory_index, offset_expr } => {
                            SegmentKind::Active { index: *memory_index, offset: const_expr(offset_expr)? }
                        }
                        wasmparser::DataKind::Passive => SegmentKind::Passive,
                    };
                    data.data_segments.push(DataSegment { kind, data: seg.data.to_vec() });
                }
            }
            Payload::CodeSectionStart { range, .. } => {
                validator.code_section_start(range)?;
            }
            Payload::CodeSectionEntry(body) => {
                let index = FuncIndex::from_u32(validator.code_section_entry(body)?.index);
                bodies.push(FuncBody { index, body: body.clone() });
            }
            Payload::CustomSection(section) => {
                // A malformed name section only costs us the names, as the spec requires.
                if let KnownCustom::Name(reader) = section.as_known() {
                    let _ = read_names(reader, &mut data, &mut names);
                }
            }
            Payload::End(offset) => {
                validator.end(*offset)?;
            }
            other => {
                validator.payload(other)?;
                // Anything the validator accepted but we do not know (e.g. a new section
                // kind enabled by a future feature flag) must not be silently skipped.
                let offset = other.as_section().map(|(_, r)| r.start).unwrap_or(0);
                return Err(unsupported(offset, "section kind"));
            }
        }
    }

    // Imports keep their `module.field` names.
    let first_defined = data.num_imported_funcs();
    for (index, name) in names {
        if let Some(f) = data.functions.get_mut(index as usize).filter(|_| index as usize >= first_defined) {
            f.name = Some(name);
        }
    }
    Ok(ParsedModule { data, bodies })
}

fn read_names(
    reader: wasmparser::NameSectionReader<'_>,
    data: &mut ModuleData,
    names: &mut Vec<(u32, String)>,
) -> Result<(), BinaryReaderError> {
    for subsection in reader {
        match subsection? {
            Name::Module { name, .. } => data.name = Some(name.to_string()),
            Name::Function(map) => {
                for naming in map {
                    let naming = naming?;
                    names.push((naming.index, naming.name.to_string()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
