//! Structured control flow, `drop` and `select`.

use crate::error::Error;
use crate::translate::func::{Frame, FrameKind, Translator};
use crate::translate::traps;
use cranelift_codegen::ir::{self, Block, BlockArg, InstBuilder, JumpTableData};
use std::collections::HashMap;
use wasmparser::Operator;

pub fn translate(t: &mut Translator, op: &Operator<'_>) -> Result<bool, Error> {
    match op {
        Operator::Nop => {}
        Operator::Unreachable => {
            t.b.ins().trap(traps::UNREACHABLE);
            t.reachable = false;
        }
        Operator::Drop => {
            t.pop();
        }
        Operator::Select | Operator::TypedSelect { .. } | Operator::TypedSelectMulti { .. } => {
            let (a, b, cond) = t.pop3();
            // Vectors of different lane layouts are compared as the canonical type.
            let (a, b) = if t.b.func.dfg.value_type(a) != t.b.func.dfg.value_type(b) {
                (t.canonical(a), t.canonical(b))
            } else {
                (a, b)
            };
            let v = t.b.ins().select(cond, a, b);
            t.push(v);
        }
        Operator::Block { blockty } => {
            let (params, results) = t.block_signature(*blockty)?;
            let next = t.block_with_params(&results);
            push_frame(t, FrameKind::Block, next, params.len(), results.len());
        }
        Operator::Loop { blockty } => {
            let (params, results) = t.block_signature(*blockty)?;
            let header = t.block_with_params(&params);
            let next = t.block_with_params(&results);
            let args = t.peekn(params.len()).to_vec();
            t.jump(header, &args);
            t.b.switch_to_block(header);
            t.popn(params.len());
            t.stack.extend_from_slice(&t.b.block_params(header).to_vec());
            push_frame(t, FrameKind::Loop { header }, next, params.len(), results.len());
        }
        Operator::If { blockty } => {
            let cond = t.pop();
            let (params, results) = t.block_signature(*blockty)?;
            let then_block = t.b.create_block();
            let else_block = t.b.create_block();
            let next = t.block_with_params(&results);
            // Without parameters or results, a false condition goes straight to the exit
            // (most such `if`s have no `else`). A block holding nothing but a jump there
            // would cost nothing itself, but Cranelift keeps it through register
            // allocation, which then places moves in it, and in code made of many small
            // `if`s (Asyncify's state checks after every call) that adds up to many
            // spills and jumps.
            let branch = if params.is_empty() && results.is_empty() {
                let inst = t.b.ins().brif(cond, then_block, &[], next, &[]);
                Some(inst)
            } else {
                t.b.ins().brif(cond, then_block, &[], else_block, &[]);
                None
            };
            t.b.switch_to_block(then_block);
            t.b.seal_block(then_block);
            let params_values = t.peekn(params.len()).to_vec();
            push_frame(
                t,
                FrameKind::If { else_block, branch, params: params_values, else_seen: false },
                next,
                params.len(),
                results.len(),
            );
        }
        Operator::Else => translate_else(t)?,
        Operator::End => translate_end(t)?,
        Operator::Br { relative_depth } => {
            let (block, n) = branch_target(t, *relative_depth);
            let args = t.peekn(n).to_vec();
            t.jump(block, &args);
            t.reachable = false;
        }
        Operator::BrIf { relative_depth } => {
            let cond = t.pop();
            let (block, n) = branch_target(t, *relative_depth);
            let args = t.peekn(n).to_vec();
            branch_if(t, cond, block, &args);
        }
        Operator::BrTable { targets } => {
            let index = t.pop();
            let mut depths = Vec::with_capacity(targets.len() as usize);
            for depth in targets.targets() {
                depths.push(depth?);
            }
            let default = targets.default();
            br_table(t, index, &depths, default);
            t.reachable = false;
        }
        Operator::BrOnNull { relative_depth } => {
            let r = t.pop();
            let (block, n) = branch_target(t, *relative_depth);
            let args = t.peekn(n).to_vec();
            let is_null = t.b.ins().icmp_imm_s(ir::condcodes::IntCC::Equal, r, 0);
            branch_if(t, is_null, block, &args);
            t.push(r);
        }
        Operator::BrOnNonNull { relative_depth } => {
            // The reference goes to the target as its last value; nothing stays on null.
            let r = t.pop();
            let (block, n) = branch_target(t, *relative_depth);
            let mut args = t.peekn(n - 1).to_vec();
            args.push(r);
            branch_if(t, r, block, &args);
        }
        Operator::Return => {
            let n = t.control[0].num_results;
            let values = t.peekn(n).to_vec();
            let values = t.canonical_all(&values);
            t.b.ins().return_(&values);
            t.reachable = false;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn push_frame(t: &mut Translator, kind: FrameKind, next: Block, num_params: usize, num_results: usize) {
    let height = t.stack.len() - num_params;
    t.control.push(Frame { kind, next, num_params, num_results, height, next_reached: false });
}

/// The block a branch of the given depth goes to and the number of values it passes,
/// noting that the construct's exit is used.
pub fn branch_target(t: &mut Translator, depth: u32) -> (Block, usize) {
    let i = t.control.len() - 1 - depth as usize;
    let frame = &mut t.control[i];
    if !matches!(frame.kind, FrameKind::Loop { .. }) {
        frame.next_reached = true;
    }
    frame.branch_target()
}

/// Branches to `block` with `args` when `cond` is non-zero; continues otherwise.
pub fn branch_if(t: &mut Translator, cond: ir::Value, block: Block, args: &[ir::Value]) {
    let next = t.b.create_block();
    let args: Vec<BlockArg> = t.canonical_all(args).into_iter().map(BlockArg::Value).collect();
    t.b.ins().brif(cond, block, &args, next, &[]);
    t.b.switch_to_block(next);
    t.b.seal_block(next);
}

fn br_table(t: &mut Translator, index: ir::Value, depths: &[u32], default: u32) {
    let (_, n) = branch_target(t, default);
    if n == 0 {
        let mut table = Vec::with_capacity(depths.len());
        for depth in depths {
            let (block, _) = branch_target(t, *depth);
            table.push(t.b.func.dfg.block_call(block, &[]));
        }
        let (block, _) = branch_target(t, default);
        let default = t.b.func.dfg.block_call(block, &[]);
        let jt = t.b.create_jump_table(JumpTableData::new(default, &table));
        t.b.ins().br_table(index, jt);
        return;
    }
    // Jump tables carry no arguments: each distinct target gets a block of its own
    // that passes them on.
    let args = t.peekn(n).to_vec();
    let args = t.canonical_all(&args);
    let mut edges: HashMap<u32, Block> = HashMap::new();
    let mut order = Vec::new();
    let mut edge = |t: &mut Translator, depth: u32| -> Block {
        *edges.entry(depth).or_insert_with(|| {
            let block = t.b.create_block();
            order.push((depth, block));
            block
        })
    };
    let mut table = Vec::with_capacity(depths.len());
    for depth in depths {
        let block = edge(t, *depth);
        table.push(t.b.func.dfg.block_call(block, &[]));
    }
    let default_block = edge(t, default);
    let default_call = t.b.func.dfg.block_call(default_block, &[]);
    let jt = t.b.create_jump_table(JumpTableData::new(default_call, &table));
    t.b.ins().br_table(index, jt);
    for (depth, block) in order {
        t.b.switch_to_block(block);
        t.b.seal_block(block);
        let (target, _) = branch_target(t, depth);
        t.jump(target, &args);
    }
}

pub fn translate_else(t: &mut Translator) -> Result<(), Error> {
    let reachable = t.reachable;
    let frame = t.control.last_mut().expect("the validator matched `else` with an `if`");
    let FrameKind::If { else_block, branch, params, else_seen } = &mut frame.kind else {
        unreachable!("the validator matched `else` with an `if`");
    };
    *else_seen = true;
    let else_block = *else_block;
    let branch = branch.take();
    let params = params.clone();
    let (next, n, height) = (frame.next, frame.num_results, frame.height);
    if reachable {
        frame.next_reached = true;
        let results = t.peekn(n).to_vec();
        t.jump(next, &results);
    }
    if let Some(branch) = branch {
        t.b.change_jump_destination(branch, next, else_block);
    }
    t.stack.truncate(height);
    t.stack.extend_from_slice(&params);
    t.b.switch_to_block(else_block);
    t.b.seal_block(else_block);
    t.reachable = true;
    Ok(())
}

pub fn translate_end(t: &mut Translator) -> Result<(), Error> {
    let mut frame = t.control.pop().expect("the validator matched `end` with a construct");
    if t.reachable {
        frame.next_reached = true;
        let results = t.peekn(frame.num_results).to_vec();
        t.jump(frame.next, &results);
    }
    match &frame.kind {
        FrameKind::If { branch: Some(_), else_seen: false, .. } => {
            // The condition's false edge already goes here; `else_block` stays unused.
            frame.next_reached = true;
        }
        FrameKind::If { else_block, params, else_seen: false, .. } => {
            // Without an `else`, a false condition passes the parameters on as results.
            let params = params.clone();
            t.b.switch_to_block(*else_block);
            t.b.seal_block(*else_block);
            t.jump(frame.next, &params);
            frame.next_reached = true;
        }
        FrameKind::Loop { header } => t.b.seal_block(*header),
        FrameKind::TryTable(clauses) => super::exceptions::finish_try_table(t, clauses),
        _ => {}
    }
    t.stack.truncate(frame.height);
    if frame.next_reached {
        t.b.switch_to_block(frame.next);
        t.b.seal_block(frame.next);
        t.stack.extend_from_slice(&t.b.block_params(frame.next).to_vec());
        t.reachable = true;
    } else {
        t.reachable = false;
    }
    if t.control.is_empty() && t.reachable {
        // The end of the function body: its results are the function's.
        let values = t.stack.clone();
        t.b.ins().return_(&values);
        t.reachable = false;
    }
    Ok(())
}
