//! The report `lucet-objdump` prints, as one serialisable structure, so that the text
//! and the JSON forms say the same things.

use lucet_module::{
    ConstExpr, ConstOp, ExportKind, ImportKind, MemoryPlan, ModuleData, RefType, SegmentKind, FORMAT_VERSION,
};
use lucet_runtime::{ModuleInfo, SignatureStatus};
use serde::Serialize;

#[derive(Serialize)]
pub struct Report {
    pub file: String,
    pub file_size: u64,
    pub format_version: u32,
    pub compiler_version: String,
    pub name: Option<String>,
    pub codegen: Codegen,
    pub signature: &'static str,
    pub memories: Vec<Memory>,
    pub tables: Vec<Table>,
    pub globals: Vec<Global>,
    pub data_segments: Segments,
    pub element_segments: Segments,
    pub imports: Vec<Import>,
    pub exports: Vec<Export>,
    pub start: Option<u32>,
    pub functions: Vec<Function>,
}

#[derive(Serialize)]
pub struct Codegen {
    pub target: String,
    pub cpu_features: Vec<String>,
    pub opt_level: String,
    pub spectre_guards: bool,
}

#[derive(Serialize)]
pub struct Memory {
    pub index: u32,
    pub imported: bool,
    pub min_pages: u64,
    pub max_pages: Option<u64>,
    pub memory64: bool,
    pub reserved_bytes: u64,
    pub guard_bytes: u64,
    /// `guard pages` when accesses rely on the reservation and guard, `explicit`
    /// when the code compares each index with the memory's length.
    pub bounds_checks: &'static str,
}

#[derive(Serialize)]
pub struct Table {
    pub index: u32,
    pub imported: bool,
    pub element: &'static str,
    pub min: u64,
    pub max: Option<u64>,
}

#[derive(Serialize)]
pub struct Global {
    pub index: u32,
    pub imported: bool,
    pub ty: String,
    pub mutable: bool,
    /// The initialiser of a defined global.
    pub init: Option<String>,
}

#[derive(Serialize)]
pub struct Segments {
    pub count: usize,
    pub active: usize,
    pub passive: usize,
    pub declared: usize,
    /// Bytes of data (data segments) or items (element segments).
    pub size: usize,
}

#[derive(Serialize)]
pub struct Import {
    pub module: String,
    pub field: String,
    pub kind: &'static str,
    pub ty: String,
}

#[derive(Serialize)]
pub struct Export {
    pub name: String,
    pub kind: &'static str,
    pub index: u32,
    /// The signature of an exported function.
    pub ty: Option<String>,
}

#[derive(Serialize)]
pub struct Function {
    pub index: u32,
    pub name: Option<String>,
    pub ty: String,
    pub code_size: u32,
    pub trap_sites: usize,
}

fn ref_name(r: RefType) -> &'static str {
    match r {
        RefType::FuncRef => "funcref",
        RefType::ExternRef => "externref",
        RefType::ExnRef => "exnref",
    }
}

fn const_expr(e: &ConstExpr) -> String {
    let op = |o: &ConstOp| match *o {
        ConstOp::I32Const(v) => format!("i32.const {v}"),
        ConstOp::I64Const(v) => format!("i64.const {v}"),
        ConstOp::F32Const(b) => format!("f32.const {}", f32::from_bits(b)),
        ConstOp::F64Const(b) => format!("f64.const {}", f64::from_bits(b)),
        ConstOp::V128Const(v) => format!("v128.const {v:#034x}"),
        ConstOp::GlobalGet(g) => format!("global.get {g}"),
        ConstOp::RefNull => "ref.null".to_string(),
        ConstOp::RefFunc(f) => format!("ref.func {f}"),
        ConstOp::I32Add => "i32.add".to_string(),
        ConstOp::I32Sub => "i32.sub".to_string(),
        ConstOp::I32Mul => "i32.mul".to_string(),
        ConstOp::I64Add => "i64.add".to_string(),
        ConstOp::I64Sub => "i64.sub".to_string(),
        ConstOp::I64Mul => "i64.mul".to_string(),
    };
    e.ops.iter().map(op).collect::<Vec<_>>().join(" ")
}

fn memory(index: u32, imported: bool, plan: &MemoryPlan) -> Memory {
    Memory {
        index,
        imported,
        min_pages: plan.memory.min_pages,
        max_pages: plan.memory.max_pages,
        memory64: plan.memory.memory64,
        reserved_bytes: plan.reserved_size,
        guard_bytes: plan.guard_size,
        bounds_checks: if plan.static_bounds() { "guard pages" } else { "explicit" },
    }
}

fn segments<'a>(kinds: impl Iterator<Item = (&'a SegmentKind, usize)>) -> Segments {
    let mut s = Segments { count: 0, active: 0, passive: 0, declared: 0, size: 0 };
    for (kind, size) in kinds {
        s.count += 1;
        s.size += size;
        match kind {
            SegmentKind::Active { .. } => s.active += 1,
            SegmentKind::Passive => s.passive += 1,
            SegmentKind::Declared => s.declared += 1,
        }
    }
    s
}

impl Report {
    pub fn new(file: &str, info: &ModuleInfo) -> Report {
        let d: &ModuleData = &info.data;
        let ty = |i: u32| d.types.get(i as usize).map(|t| t.to_string()).unwrap_or_else(|| format!("type {i}"));

        let mut tables = Vec::new();
        let mut globals = Vec::new();
        let mut imports = Vec::new();
        let mut n_memories = 0;
        // The type index of every tag, imported ones first.
        let mut tag_types = Vec::new();
        for import in &d.imports {
            let (kind, shown) = match &import.kind {
                ImportKind::Func(t) => ("func", ty(*t)),
                ImportKind::Table(t) => {
                    tables.push(Table {
                        index: tables.len() as u32,
                        imported: true,
                        element: ref_name(t.elem),
                        min: t.min,
                        max: t.max,
                    });
                    ("table", format!("{} {}..{:?}", ref_name(t.elem), t.min, t.max))
                }
                ImportKind::Memory(m) => {
                    n_memories += 1;
                    ("memory", format!("{} pages min, max {:?}", m.min_pages, m.max_pages))
                }
                ImportKind::Global(g) => {
                    globals.push(Global {
                        index: globals.len() as u32,
                        imported: true,
                        ty: g.ty.to_string(),
                        mutable: g.mutable,
                        init: None,
                    });
                    ("global", format!("{}{}", if g.mutable { "mut " } else { "" }, g.ty))
                }
                ImportKind::Tag(t) => {
                    tag_types.push(*t);
                    ("tag", ty(*t))
                }
            };
            imports.push(Import { module: import.module.clone(), field: import.field.clone(), kind, ty: shown });
        }
        let memories = d
            .memory_plans
            .iter()
            .enumerate()
            .map(|(i, plan)| memory(i as u32, i < n_memories, plan))
            .collect();
        tag_types.extend(d.exceptions.defined_tags.iter().copied());
        for t in &d.defined_tables {
            tables.push(Table { index: tables.len() as u32, imported: false, element: ref_name(t.elem), min: t.min, max: t.max });
        }
        for g in &d.defined_globals {
            globals.push(Global {
                index: globals.len() as u32,
                imported: false,
                ty: g.ty.ty.to_string(),
                mutable: g.ty.mutable,
                init: Some(const_expr(&g.init)),
            });
        }
        let exports = d
            .exports
            .iter()
            .map(|e| {
                let (kind, index, sig) = match e.kind {
                    ExportKind::Func(f) => {
                        ("func", f, d.functions.get(f as usize).map(|entry| ty(entry.type_index)))
                    }
                    ExportKind::Table(t) => ("table", t, None),
                    ExportKind::Memory(m) => ("memory", m, None),
                    ExportKind::Global(g) => ("global", g, None),
                    ExportKind::Tag(t) => ("tag", t, tag_types.get(t as usize).map(|&i| ty(i))),
                };
                Export { name: e.name.clone(), kind, index, ty: sig }
            })
            .collect();
        let functions = info
            .functions
            .iter()
            .map(|f| Function {
                index: f.index,
                name: f.name.clone(),
                ty: ty(f.type_index),
                code_size: f.code_size,
                trap_sites: f.trap_sites,
            })
            .collect();
        Report {
            file: file.to_string(),
            file_size: info.file_size,
            format_version: FORMAT_VERSION,
            compiler_version: d.compiler_version.clone(),
            name: d.name.clone(),
            codegen: Codegen {
                target: d.target.triple.clone(),
                cpu_features: d.target.cpu_features.clone(),
                opt_level: d.codegen.opt_level.to_string(),
                spectre_guards: d.codegen.spectre_guards,
            },
            signature: match info.signature {
                SignatureStatus::Absent => "none",
                SignatureStatus::Present => "present, not verified (give --verify-key to check it)",
                SignatureStatus::Verified => "verified",
            },
            memories,
            tables,
            globals,
            data_segments: segments(d.data_segments.iter().zip(&info.data_segment_sizes).map(|(s, &n)| (&s.kind, n))),
            element_segments: segments(d.elem_segments.iter().map(|s| (&s.kind, s.items.len()))),
            imports,
            exports,
            start: d.start,
            functions,
        }
    }
}
