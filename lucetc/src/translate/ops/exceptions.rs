//! Exception handling: `throw`, `throw_ref`, `try_table`, and the legacy `try`,
//! `catch`, `catch_all`, `rethrow` and `delegate`.
//!
//! A thrown exception is an object in the runtime (see `lucet_module::ExceptionHeader`);
//! an `exnref` is its address. `throw` hands the payload to the runtime's `Throw`
//! builtin, which walks the guest frames and resumes in the innermost handler with the
//! object in the first exception payload register.
//!
//! Only calls can throw, so only calls carry handlers: inside a `try_table` or the body
//! of a legacy `try`, every call (including the one to the `Throw` builtin) becomes a
//! `try_call` whose exception table lists the landing pads of every enclosing handler,
//! innermost first. Before such a call the function stores its vmctx in a stack slot
//! of its own, whose place in the frame the module records (the runtime reads the
//! tags of the frame's own instance through it). A landing pad reads the payload
//! out of the object and branches to the catch clause's label (`try_table`), or starts
//! the catch clause's code (legacy `try`).
//!
//! A legacy `try` names its catch clauses after its body and a `delegate` target at
//! its end, but the calls in the body need them when they are translated, so
//! [`scan_legacy`] reads the body once beforehand to learn them.

use crate::error::Error;
use crate::translate::func::{Frame, FrameKind, LandingPad, Translator};
use crate::translate::info::clif_type;
use crate::translate::ops::control::{branch_target, translate_end};
use crate::translate::traps;
use cranelift_codegen::ir::{
    self, types::*, BlockArg, ExceptionTableData, ExceptionTableItem, ExceptionTag, InstBuilder, MemFlagsData,
    StackSlotData, StackSlotKey, StackSlotKind, Value,
};
use cranelift_frontend::Variable;
use lucet_module::{Builtin, ExceptionHeader, TagIndex};
use wasmparser::{Catch, FunctionBody, Operator};

/// The catch clauses (tags, `None` for `catch_all`) and the `delegate` label of a
/// legacy `try`.
#[derive(Debug, Default, Clone)]
pub struct LegacyShape {
    pub catches: Vec<Option<u32>>,
    pub delegate: Option<u32>,
    /// Whether a catch clause may `rethrow` the exception.
    pub rethrown: bool,
}

/// A legacy `try` frame.
pub struct LegacyTry {
    /// One landing pad per catch clause, in clause order.
    pub pads: Vec<LandingPad>,
    /// Where exceptions of the body go instead, if it ends with `delegate`.
    pub delegate: Option<u32>,
    /// Whether a catch clause is being translated (the body is over).
    pub in_catch: bool,
    /// The next catch clause to start.
    pub next_clause: usize,
    /// The exception being handled, for `rethrow`.
    pub exn: Variable,
}

/// A `try_table` frame's catch clauses: the landing pad, the label and whether the
/// exception object goes along.
pub struct TryTableClauses {
    pub pads: Vec<LandingPad>,
    pub targets: Vec<(u32, bool)>,
}

/// Reads `body` for the shape of its legacy `try` blocks, in order of appearance.
/// A malformed body answers what was read before the error; the validator has already
/// rejected such bodies.
pub fn scan_legacy(body: &FunctionBody<'_>) -> Vec<LegacyShape> {
    let mut shapes = Vec::new();
    let Ok(mut ops) = body.get_operators_reader() else { return shapes };
    // For each open construct: the index of its shape if it is a legacy `try`.
    let mut open: Vec<Option<usize>> = Vec::new();
    while !ops.eof() {
        let Ok(op) = ops.read() else { break };
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } | Operator::TryTable { .. } => {
                open.push(None)
            }
            Operator::Try { .. } => {
                open.push(Some(shapes.len()));
                shapes.push(LegacyShape::default());
            }
            Operator::Catch { tag_index } => {
                if let Some(Some(i)) = open.last() {
                    shapes[*i].catches.push(Some(tag_index));
                }
            }
            Operator::CatchAll => {
                if let Some(Some(i)) = open.last() {
                    shapes[*i].catches.push(None);
                }
            }
            Operator::Delegate { relative_depth } => {
                if let Some(Some(i)) = open.pop() {
                    shapes[i].delegate = Some(relative_depth);
                }
            }
            Operator::Rethrow { relative_depth } => {
                let target = open.len().checked_sub(1 + relative_depth as usize).and_then(|i| open[i]);
                if let Some(i) = target {
                    shapes[i].rethrown = true;
                }
            }
            Operator::End => {
                open.pop();
            }
            _ => {}
        }
    }
    shapes
}

/// How a handler's tag travels through Cranelift's exception table (whose tags the
/// runtime interprets): the module's tag index, or [`CATCH_ALL`], with [`KEEPS`] set
/// when the handler keeps the exception object.
pub const KEEPS: u32 = 1 << 31;
/// Below `u32::MAX`, which Cranelift reserves; tag indices are far smaller.
pub const CATCH_ALL: u32 = 1 << 30;

fn encode_tag(pad: &LandingPad) -> u32 {
    pad.tag.unwrap_or(CATCH_ALL) | if pad.keeps { KEEPS } else { 0 }
}

pub fn translate(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    match op {
        Operator::TryTable { try_table } => {
            let (params, results) = t.block_signature(try_table.ty)?;
            let next = t.block_with_params(&results);
            let mut pads = Vec::with_capacity(try_table.catches.len());
            let mut targets = Vec::with_capacity(try_table.catches.len());
            for catch in &try_table.catches {
                let (tag, label, with_ref) = match *catch {
                    Catch::One { tag, label } => (Some(tag), label, false),
                    Catch::OneRef { tag, label } => (Some(tag), label, true),
                    Catch::All { label } => (None, label, false),
                    Catch::AllRef { label } => (None, label, true),
                };
                pads.push(LandingPad { tag, block: landing_block(t), keeps: with_ref });
                targets.push((label, with_ref));
            }
            let height = t.stack.len() - params.len();
            t.control.push(Frame {
                kind: FrameKind::TryTable(TryTableClauses { pads, targets }),
                next,
                num_params: params.len(),
                num_results: results.len(),
                height,
                next_reached: false,
            });
        }
        Operator::Try { blockty } => {
            let (params, results) = t.block_signature(*blockty)?;
            let next = t.block_with_params(&results);
            let shape = t.legacy.get(t.legacy_seen).cloned().unwrap_or_default();
            t.legacy_seen += 1;
            let pads = shape
                .catches
                .iter()
                .map(|tag| LandingPad { tag: *tag, block: landing_block(t), keeps: shape.rethrown })
                .collect();
            let exn = t.b.declare_var(I64);
            let zero = t.b.ins().iconst(I64, 0);
            t.b.def_var(exn, zero);
            let height = t.stack.len() - params.len();
            t.control.push(Frame {
                kind: FrameKind::LegacyTry(LegacyTry {
                    pads,
                    delegate: shape.delegate,
                    in_catch: false,
                    next_clause: 0,
                    exn,
                }),
                next,
                num_params: params.len(),
                num_results: results.len(),
                height,
                next_reached: false,
            });
        }
        Operator::Catch { tag_index } => translate_catch(t, Some(*tag_index))?,
        Operator::CatchAll => translate_catch(t, None)?,
        Operator::Delegate { .. } => translate_end(t)?,
        Operator::Throw { tag_index } => throw(t, *tag_index),
        Operator::ThrowRef => {
            let exn = t.pop();
            t.b.ins().trapz(exn, traps::NULL_REFERENCE);
            throw_ref(t, exn);
        }
        Operator::Rethrow { relative_depth } => {
            let i = t.control.len() - 1 - *relative_depth as usize;
            let FrameKind::LegacyTry(l) = &t.control[i].kind else {
                unreachable!("the validator matched `rethrow` with a catch clause")
            };
            let exn = t.b.use_var(l.exn);
            throw_ref(t, exn);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn landing_block(t: &mut Translator) -> ir::Block {
    let block = t.b.create_block();
    t.b.append_block_param(block, I64);
    block
}

/// The payload of exception object `exn`, of tag `tag`'s types.
fn load_payload(t: &mut Translator, exn: Value, tag: u32) -> Vec<Value> {
    let types: Vec<ir::Type> =
        t.env.module.tag_payload(TagIndex::from_u32(tag)).iter().map(|v| clif_type(*v)).collect();
    types
        .into_iter()
        .enumerate()
        .map(|(i, ty)| t.b.ins().load(ty, MemFlagsData::trusted(), exn, ExceptionHeader::value_offset(i as u32)))
        .collect()
}

/// Starts a catch clause of the innermost legacy `try` (`tag` is `None` for
/// `catch_all`).
pub fn translate_catch(t: &mut Translator, tag: Option<u32>) -> Result<(), Error> {
    let reachable = t.reachable;
    let frame = t.control.last_mut().expect("the validator matched `catch` with a `try`");
    let (next, n, height) = (frame.next, frame.num_results, frame.height);
    let FrameKind::LegacyTry(l) = &mut frame.kind else {
        unreachable!("the validator matched `catch` with a `try`")
    };
    l.in_catch = true;
    let pad = l.pads.get(l.next_clause).copied();
    l.next_clause += 1;
    let exn_var = l.exn;
    if reachable {
        frame.next_reached = true;
        let results = t.peekn(n).to_vec();
        t.jump(next, &results);
    }
    t.stack.truncate(height);
    let Some(pad) = pad.filter(|p| t.used_pads.contains(&p.block)) else {
        // Nothing in the body can throw to this clause.
        t.reachable = false;
        return Ok(());
    };
    debug_assert_eq!(pad.tag, tag);
    t.b.switch_to_block(pad.block);
    t.b.seal_block(pad.block);
    let exn = t.b.block_params(pad.block)[0];
    t.b.def_var(exn_var, exn);
    if let Some(tag) = tag {
        let values = load_payload(t, exn, tag);
        t.stack.extend_from_slice(&values);
    }
    t.reachable = true;
    Ok(())
}

/// Fills the landing pads of a `try_table` that has just ended: each reads the payload
/// and branches to its label. Labels count from outside the `try_table`, which is the
/// control stack now.
pub fn finish_try_table(t: &mut Translator, clauses: &TryTableClauses) {
    for (pad, (label, with_ref)) in clauses.pads.iter().zip(&clauses.targets) {
        if !t.used_pads.contains(&pad.block) {
            continue;
        }
        t.b.switch_to_block(pad.block);
        t.b.seal_block(pad.block);
        let exn = t.b.block_params(pad.block)[0];
        let mut values = match pad.tag {
            Some(tag) => load_payload(t, exn, tag),
            None => Vec::new(),
        };
        if *with_ref {
            values.push(exn);
        }
        let (block, _) = branch_target(t, *label);
        t.jump(block, &values);
    }
}

/// The landing pads a call made now goes to, innermost first.
pub fn handlers(t: &Translator) -> Vec<LandingPad> {
    let mut out: Vec<LandingPad> = Vec::new();
    let mut i = t.control.len() - 1;
    loop {
        match &t.control[i].kind {
            FrameKind::TryTable(clauses) => out.extend_from_slice(&clauses.pads),
            FrameKind::LegacyTry(l) if !l.in_catch => {
                if let Some(depth) = l.delegate {
                    // The body's exceptions are thrown again at the label; the
                    // function's own label means the caller.
                    match i.checked_sub(1 + depth as usize) {
                        Some(target) if target > 0 => {
                            i = target;
                            continue;
                        }
                        _ => break,
                    }
                }
                out.extend_from_slice(&l.pads);
            }
            _ => {}
        }
        // Nothing gets past a catch-all.
        if let Some(p) = out.iter().position(|p| p.tag.is_none()) {
            out.truncate(p + 1);
            break;
        }
        if i == 0 {
            break;
        }
        i -= 1;
    }
    out
}

/// The key of the stack slot that holds the vmctx in a function with handlers.
pub const VMCTX_SLOT_KEY: u64 = 0x6c75_6365_745f_766d;

/// What a call calls.
#[derive(Clone, Copy)]
pub enum Callee {
    Direct(ir::FuncRef),
    Indirect(ir::SigRef, Value),
}

/// Calls `callee` with `args` and returns its results. Inside a handler's scope the call
/// is a `try_call` whose exceptions go to the landing pads.
pub fn call(t: &mut Translator, callee: Callee, args: &[Value]) -> Vec<Value> {
    let pads = handlers(t);
    if pads.is_empty() {
        let inst = match callee {
            Callee::Direct(f) => t.b.ins().call(f, args),
            Callee::Indirect(sig, ptr) => t.b.ins().call_indirect(sig, ptr, args),
        };
        return t.b.inst_results(inst).to_vec();
    }
    let sig = match callee {
        Callee::Direct(f) => t.b.func.dfg.ext_funcs[f].signature,
        Callee::Indirect(sig, _) => sig,
    };
    let returns: Vec<ir::Type> = t.b.func.dfg.signatures[sig].returns.iter().map(|p| p.value_type).collect();
    let ret_block = t.block_with_params(&returns);
    let ret_args: Vec<BlockArg> = (0..returns.len() as u32).map(BlockArg::TryCallRet).collect();
    let normal = t.b.func.dfg.block_call(ret_block, &ret_args);
    // The runtime reads the frame's vmctx from its slot to learn whose tags the
    // handlers name.
    let slot = match t.vmctx_slot {
        Some(slot) => slot,
        None => {
            let data = StackSlotData::new_with_key(StackSlotKind::ExplicitSlot, 8, 3, StackSlotKey::new(VMCTX_SLOT_KEY));
            let slot = t.b.create_sized_stack_slot(data);
            t.vmctx_slot = Some(slot);
            slot
        }
    };
    let vmctx = t.env.vmctx();
    t.b.ins().stack_store(I64, vmctx, slot, 0);
    let mut items = Vec::with_capacity(pads.len());
    for pad in pads {
        let target = t.b.func.dfg.block_call(pad.block, &[BlockArg::TryCallExn(0)]);
        t.used_pads.insert(pad.block);
        items.push(ExceptionTableItem::Tag(ExceptionTag::from_u32(encode_tag(&pad)), target));
    }
    let table = t.b.func.dfg.exception_tables.push(ExceptionTableData::new(sig, normal, items));
    match callee {
        Callee::Direct(f) => t.b.ins().try_call(f, args, table),
        Callee::Indirect(_, ptr) => t.b.ins().try_call_indirect(ptr, args, table),
    };
    t.b.switch_to_block(ret_block);
    t.b.seal_block(ret_block);
    t.b.block_params(ret_block).to_vec()
}

/// Calls a builtin that never returns (it throws), then marks the code unreachable.
fn call_throwing_builtin(t: &mut Translator, which: Builtin, params: &[ir::Type], args: &[Value]) {
    let (sig, ptr) = t.env.builtin_callee(&mut t.b, which, params, None);
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(t.env.vmctx());
    all.extend_from_slice(args);
    call(t, Callee::Indirect(sig, ptr), &all);
    t.b.ins().trap(traps::UNREACHABLE);
    t.reachable = false;
}

fn throw(t: &mut Translator, tag: u32) {
    let n = t.env.module.tag_payload(TagIndex::from_u32(tag)).len();
    let values = t.popn(n);
    let values = t.canonical_all(&values);
    let ptr = if values.is_empty() {
        t.b.ins().iconst(I64, 0)
    } else {
        let slot = t.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 16 * n as u32, 4));
        for (i, v) in values.iter().enumerate() {
            t.b.ins().stack_store(I64, *v, slot, 16 * i as i32);
        }
        t.b.ins().stack_addr(I64, slot, 0)
    };
    let tag = t.b.ins().iconst(I32, i64::from(tag));
    call_throwing_builtin(t, Builtin::Throw, &[I32, I64], &[tag, ptr]);
}

fn throw_ref(t: &mut Translator, exn: Value) {
    call_throwing_builtin(t, Builtin::ThrowRef, &[I64], &[exn]);
}
