//! Translates every function body to CLIF and compiles it, in parallel.

use crate::div_by_constant;
use crate::error::Error;
use crate::placement;
use crate::readonly_loads;
use crate::translate::module::FuncBody;
use crate::translate::vmctx::Spectre;
use crate::translate::{func, traps, ModuleInfo, FUNC_NAMESPACE};
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{self, UserFuncName};
use cranelift_codegen::isa::TargetIsa;
use cranelift_codegen::settings::OptLevel;
use cranelift_codegen::{Context, FinalizedMachReloc};
use cranelift_frontend::FunctionBuilderContext;
use lucet_module::{FuncIndex, Handler, HandlerSite, TrapSite};
use cranelift_codegen::FinalizedMachExceptionHandler;
use rayon::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Machine code of one function, ready to be placed in the object file.
pub struct CompiledFunction {
    /// Keeps only what relocations need to name their targets.
    pub func: ir::Function,
    pub code: Vec<u8>,
    pub alignment: u64,
    pub relocs: Vec<FinalizedMachReloc>,
    pub traps: Vec<TrapSite>,
    /// Call sites with exception handlers, offsets from the code's start; `func` is
    /// filled in when the code is placed.
    pub handlers: Vec<HandlerSite>,
    /// Callee-saved registers the code saves: `(register, distance below fp)`.
    pub saves: Vec<(u8, u32)>,
    /// The loop whose header decides where the function starts within its line.
    pub placed_loop: Option<placement::Loop>,
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// Runs `f`, turning a panic in the code generator into an [`Error::Internal`].
pub fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(Error::Internal(format!("{what}: {}", panic_message(p)))))
}

pub fn function_label(info: &ModuleInfo, index: FuncIndex) -> String {
    match &info.data.functions[index.index()].name {
        Some(name) => format!("{index} ({name})"),
        None => index.to_string(),
    }
}

/// Reused between the functions one thread translates.
#[derive(Default)]
struct Scratch {
    builder: FunctionBuilderContext,
}

/// Translates one (valid) body to CLIF.
fn translate(
    info: &ModuleInfo,
    isa: &dyn TargetIsa,
    spectre: Spectre,
    scratch: &mut Scratch,
    body: FuncBody<'_>,
) -> Result<ir::Function, Error> {
    let defined = info.imports.defined_func(body.index).expect("only defined functions have bodies");
    let name = UserFuncName::user(FUNC_NAMESPACE, info.func_id(defined));
    let mut func = ir::Function::with_name_signature(name, crate::translate::info::wasm_signature(info.func_type(body.index)));
    func::translate_function(
        info,
        spectre,
        body.index,
        &body.body,
        &mut func,
        &mut scratch.builder,
        isa.frontend_config(),
    )?;
    div_by_constant::rewrite(&mut func);
    Ok(func)
}

/// Compiles a CLIF function and records its trap sites.
pub fn compile_clif(isa: &dyn TargetIsa, func: ir::Function, label: &str) -> Result<CompiledFunction, Error> {
    let codegen_error = |e: cranelift_codegen::CodegenError| Error::Codegen {
        function: label.to_string(),
        message: format!("{e:?}"),
    };
    let mut ctx = Context::for_function(func);
    let mut ctrl = ControlPlane::default();
    // The loads of constant addresses are hoisted when the mid-end, which would have
    // done it, is off.
    if isa.flags().opt_level() == OptLevel::None {
        readonly_loads::hoist(&mut ctx.func);
    }
    let name = ctx.func.name.clone();
    let signature = ctx.func.signature.clone();
    let params = ctx.func.params.clone();
    let compiled = ctx.compile(isa, &mut ctrl).map_err(|e| codegen_error(e.inner))?;
    let srclocs = compiled.buffer.get_srclocs_sorted();
    let mut traps: Vec<TrapSite> = compiled
        .buffer
        .traps()
        .iter()
        .map(|t| {
            // Srclocs are sorted and disjoint, so the one covering the trap is the last
            // one starting at or before it.
            let i = srclocs.partition_point(|s| s.start <= t.offset);
            let wasm_offset = i
                .checked_sub(1)
                .map(|i| &srclocs[i])
                .filter(|s| t.offset < s.end)
                .map(|s| s.loc)
                .filter(|l| !l.is_default())
                .map(|l| l.bits());
            TrapSite { offset: t.offset, code: traps::lucet_trap_code(t.code), wasm_offset }
        })
        .collect();
    traps.sort_by_key(|t| t.offset);
    let handlers = handler_sites(&compiled.buffer, label)?;
    let saves = register_saves(&compiled.buffer);
    let code = compiled.code_buffer().to_vec();
    let alignment = compiled.buffer.alignment as u64;
    let relocs = compiled.buffer.relocs().to_vec();
    let mut returns: Vec<u32> = compiled.buffer.call_sites().map(|s| s.ret_addr).collect();
    returns.sort_unstable();
    let placed_loop = placement::innermost_loop(&code, &compiled.bb_starts, &compiled.bb_edges, &returns);
    let mut slim = ir::Function::with_name_signature(name, signature);
    slim.params = params;
    Ok(CompiledFunction { func: slim, code, alignment, relocs, traps, handlers, saves, placed_loop })
}

/// Where the prologue saves callee-saved registers, from its unwind records.
fn register_saves(buffer: &cranelift_codegen::MachBufferFinalized<cranelift_codegen::Final>) -> Vec<(u8, u32)> {
    use cranelift_codegen::isa::unwind::UnwindInst;
    let mut to_clobbers = None;
    let mut saves = Vec::new();
    for (_, inst) in &buffer.unwind_info {
        match *inst {
            UnwindInst::DefineNewFrame { offset_downward_to_clobbers, .. } => to_clobbers = Some(offset_downward_to_clobbers),
            UnwindInst::SaveReg { clobber_offset, reg } => {
                if let Some(down) = to_clobbers.and_then(|d| d.checked_sub(clobber_offset)) {
                    if reg.class() == cranelift_codegen::RegClass::Int {
                        saves.push((reg.hw_enc(), down));
                    }
                }
            }
            _ => {}
        }
    }
    saves
}

/// The call sites of a compiled function that have exception handlers, sorted by
/// return address.
fn handler_sites(buffer: &cranelift_codegen::MachBufferFinalized<cranelift_codegen::Final>, label: &str) -> Result<Vec<HandlerSite>, Error> {
    let internal = |what: &str| Error::Internal(format!("function {label}: exception handlers: {what}"));
    let mut sites = Vec::new();
    let key = ir::StackSlotKey::new(crate::translate::ops::exceptions::VMCTX_SLOT_KEY);
    let vmctx_fp_offset = buffer.frame_layout().and_then(|layout| {
        let slot = layout.stackslots.values().find(|s| s.key == Some(key))?;
        layout.frame_to_fp_offset.checked_sub(slot.offset)
    });
    for site in buffer.call_sites() {
        if site.exception_handlers.is_empty() {
            continue;
        }
        let frame_offset = site.frame_offset.ok_or_else(|| internal("no frame offset"))?;
        let mut handlers = Vec::new();
        for h in site.exception_handlers {
            match *h {
                FinalizedMachExceptionHandler::Context(_) => return Err(internal("unexpected context")),
                FinalizedMachExceptionHandler::Tag(tag, target) => {
                    use crate::translate::ops::exceptions::{CATCH_ALL, KEEPS};
                    let bits = tag.as_u32();
                    let index = bits & !KEEPS;
                    handlers.push(Handler {
                        tag: (index != CATCH_ALL).then_some(index),
                        target_offset: target,
                        keeps_object: bits & KEEPS != 0,
                    })
                }
                FinalizedMachExceptionHandler::Default(_) => return Err(internal("unexpected default handler")),
            }
        }
        sites.push(HandlerSite {
            func: 0,
            ret_offset: site.ret_addr,
            frame_offset,
            vmctx_fp_offset: vmctx_fp_offset.ok_or_else(|| internal("no vmctx slot"))?,
            handlers,
        });
    }
    sites.sort_by_key(|s| s.ret_offset);
    Ok(sites)
}

/// Blocks at least this long are compiled without Cranelift's mid-end.
///
/// Such blocks are hash and cipher rounds that the producer of the module unrolled
/// and scheduled (BLAKE2/3, SHA-2, Keccak, Salsa20/ChaCha20). Cranelift's e-graph pass
/// rewrites them (reassociating sums, for one) and re-places every pure instruction just
/// before its first user, which keeps more values live at once than the order the
/// producer chose, and the register allocator spills more. Cranelift 0.112 made that
/// ruinous (up to 2.5 times the run time); 0.135 with regalloc2 0.15 much less so, but
/// the mid-end still costs: Keccak's round function has 4,153 stack accesses in 10,353
/// instructions with it and 3,352 in 9,413 without, BLAKE2b's 1,595 in 4,714 against
/// 1,195 in 4,326 (BLAKE3's is the same either way). The mid-end has little to add to
/// code an optimising compiler already produced, so for these functions it is skipped.
const LONG_BLOCK: usize = 200;

/// Whether `func` has a basic block of at least [`LONG_BLOCK`] instructions.
fn has_long_block(func: &ir::Function) -> bool {
    func.layout.blocks().any(|b| func.layout.block_insts(b).nth(LONG_BLOCK - 1).is_some())
}

/// Translates every defined function body, in parallel, and hands each function to
/// `finish` with its label; results come back in function index order. `doing` names the
/// step in errors ("compiling", "translating").
fn translate_each<T: Send>(
    info: &ModuleInfo,
    isa: &dyn TargetIsa,
    spectre: Spectre,
    bodies: Vec<FuncBody<'_>>,
    doing: &str,
    finish: impl Fn(ir::Function, &str) -> Result<T, Error> + Sync,
) -> Result<Vec<T>, Error> {
    bodies
        .into_par_iter()
        .map_init(Scratch::default, |scratch, body| {
            let label = function_label(info, body.index);
            guarded(&format!("{doing} function {label}"), || {
                finish(translate(info, isa, spectre, scratch, body)?, &label)
            })
        })
        .collect()
}

/// Translates and compiles every defined function, in function index order. `plain` is
/// the same target as `isa` with the mid-end off, for functions with long blocks.
/// `compiled` is called after each function, from whichever thread compiled it.
pub fn compile_functions(
    info: &ModuleInfo,
    isa: &dyn TargetIsa,
    plain: &dyn TargetIsa,
    spectre: Spectre,
    bodies: Vec<FuncBody<'_>>,
    compiled: &(dyn Fn() + Sync),
) -> Result<Vec<CompiledFunction>, Error> {
    translate_each(info, isa, spectre, bodies, "compiling", |func, label| {
        let isa = if has_long_block(&func) { plain } else { isa };
        let code = compile_clif(isa, func, label)?;
        compiled();
        Ok(code)
    })
}

/// Translates every defined function to CLIF text.
pub fn clif_functions(
    info: &ModuleInfo,
    isa: &dyn TargetIsa,
    spectre: Spectre,
    bodies: Vec<FuncBody<'_>>,
) -> Result<Vec<String>, Error> {
    translate_each(info, isa, spectre, bodies, "translating", |func, label| {
        Ok(format!("; wasm function {label}\n{}", func.display()))
    })
}
