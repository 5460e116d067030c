//! Modules that wasmparser validates only with the GC proposal on, although they use
//! nothing of it.
//!
//! Wasm 3.0 lets a constant expression read any immutable global defined before it,
//! not just imported ones, and lets function types form recursion groups (a type alone
//! is a group of one, so it may refer to itself). wasmparser
//! ties both to its `gc` feature. lucetc does not compile GC, so such a module is
//! validated once more with GC on and then checked here for every GC construct: types
//! other than final function types, reference types to GC heap types, and GC
//! instructions. Only modules that need it pay for this pass.

use crate::error::Error;
use crate::translate::module::{ref_type, val_type};
use crate::translate::ops;
use wasmparser::{BinaryReaderError, BlockType, Operator, Parser, Payload, TypeRef, WasmFeatures};

/// What validation needs beyond `features` for the rule above (nothing for Wasm 2.0,
/// whose constant expressions read only imported globals).
pub fn validation_features(features: WasmFeatures) -> WasmFeatures {
    if features.contains(WasmFeatures::EXTENDED_CONST) {
        features | WasmFeatures::GC
    } else {
        features
    }
}

/// Whether validation may have failed only for a Wasm 3.0 rule that wasmparser ties to
/// GC: a constant expression reading one of the module's own globals, function types in
/// a recursion group, or a function type that refers to itself.
pub fn may_need_gc_validation(e: &BinaryReaderError, features: WasmFeatures) -> bool {
    let m = e.message();
    features.contains(WasmFeatures::EXTENDED_CONST)
        && (m.contains("global.get of locally defined global")
            || m.contains("rec group usage requires `gc` proposal")
            || m.contains("gc proposal must be enabled to use subtypes")
            || m.contains("out of bounds because the GC proposal is disabled"))
}

fn check_op(op: &Operator<'_>, offset: usize) -> Result<(), Error> {
    if ops::is_gc(op) {
        return Err(ops::not_supported(offset, op));
    }
    let block = |bt: &BlockType| match bt {
        BlockType::Type(t) => val_type(*t, offset).map(drop),
        BlockType::Empty | BlockType::FuncType(_) => Ok(()),
    };
    match op {
        Operator::RefNull { hty } => {
            ref_type(wasmparser::RefType::new(true, *hty).expect("a valid heap type"), offset)?;
        }
        Operator::Block { blockty } | Operator::Loop { blockty } | Operator::If { blockty } => block(blockty)?,
        Operator::TypedSelect { ty } => {
            val_type(*ty, offset)?;
        }
        Operator::TypedSelectMulti { tys } => {
            for t in tys {
                val_type(*t, offset)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_const(e: &wasmparser::ConstExpr<'_>) -> Result<(), Error> {
    let mut reader = e.get_operators_reader();
    while !reader.eof() {
        let offset = reader.original_position();
        check_op(&reader.read()?, offset)?;
    }
    Ok(())
}

/// Rejects every GC construct in a module that validated with GC on.
pub fn check(wasm: &[u8], features: WasmFeatures) -> Result<(), Error> {
    let mut parser = Parser::new(0);
    parser.set_features(validation_features(features));
    for payload in parser.parse_all(wasm) {
        match payload? {
            Payload::TypeSection(types) => {
                let offset = types.range().start;
                for t in crate::translate::types::read_section(&types)? {
                    for v in t.ty.params().iter().chain(t.ty.results()) {
                        val_type(*v, offset)?;
                    }
                }
            }
            Payload::ImportSection(imports) => {
                for import in imports.into_imports_with_offsets() {
                    let (offset, import) = import?;
                    match import.ty {
                        TypeRef::Table(t) => drop(ref_type(t.element_type, offset)?),
                        TypeRef::Global(g) => drop(val_type(g.content_type, offset)?),
                        _ => {}
                    }
                }
            }
            Payload::TableSection(tables) => {
                for table in tables.into_iter_with_offsets() {
                    let (offset, table) = table?;
                    ref_type(table.ty.element_type, offset)?;
                    if let wasmparser::TableInit::Expr(e) = &table.init {
                        check_const(e)?;
                    }
                }
            }
            Payload::GlobalSection(globals) => {
                for g in globals.into_iter_with_offsets() {
                    let (offset, g) = g?;
                    val_type(g.ty.content_type, offset)?;
                    check_const(&g.init_expr)?;
                }
            }
            Payload::ElementSection(elems) => {
                for elem in elems.into_iter_with_offsets() {
                    let (offset, elem) = elem?;
                    if let wasmparser::ElementKind::Active { offset_expr, .. } = &elem.kind {
                        check_const(offset_expr)?;
                    }
                    if let wasmparser::ElementItems::Expressions(ty, exprs) = &elem.items {
                        ref_type(*ty, offset)?;
                        for e in exprs.clone() {
                            check_const(&e?)?;
                        }
                    }
                }
            }
            Payload::DataSection(segments) => {
                for seg in segments {
                    if let wasmparser::DataKind::Active { offset_expr, .. } = &seg?.kind {
                        check_const(offset_expr)?;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut locals = body.get_locals_reader()?;
                for _ in 0..locals.get_count() {
                    let offset = locals.original_position();
                    let (_, t) = locals.read()?;
                    val_type(t, offset)?;
                }
                let mut reader = body.get_operators_reader()?;
                while !reader.eof() {
                    let offset = reader.original_position();
                    check_op(&reader.read()?, offset)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}
