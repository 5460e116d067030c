//! Translates one validated function body into Cranelift IR.
//!
//! WebAssembly is a stack machine with structured control flow; Cranelift IR is SSA
//! over basic blocks. The [`Translator`] bridges the two while reading the body once:
//!
//! - the operand stack holds Cranelift values, so most operators pop their inputs and
//!   push the instruction that computes their result;
//! - every `block`, `loop` and `if` is a [`Frame`] with the Cranelift block where
//!   control continues after its `end`. Values that flow out of a construct (its
//!   results, or a loop's parameters) are that block's parameters, passed by every
//!   branch to it;
//! - locals are `cranelift_frontend` variables, which builds the SSA form;
//! - after an unconditional branch, `return` or `unreachable`, the rest of the
//!   construct cannot run. It is validated but not translated: only the nesting of
//!   dead constructs is counted, to find the `else` or `end` where code is live again.
//!
//! The module was validated as a whole before (a `Lucetc` holds only valid modules), so
//! the translation relies on a well-typed operand stack and proper nesting.
//! The operators themselves live in `ops`, one file per family.

use super::info::{clif_type, ModuleInfo};
use super::ops;
use super::vmctx::{Spectre, VmctxAccess};
use crate::error::Error;
use cranelift_codegen::ir::{self, types, Block, InstBuilder, SourceLoc, Value};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use lucet_module::{FuncIndex, TypeIndex, ValType};
use wasmparser::{BlockType, FunctionBody, Operator};

/// What kind of construct a frame is, with what only that kind needs.
pub enum FrameKind {
    Block,
    /// Branches to a loop go back to its header.
    Loop { header: Block },
    If {
        /// Where the condition sends control when it is false.
        else_block: Block,
        /// For an `if` without parameters or results, the branch on the condition, whose
        /// false edge goes straight to `next` (see `ops::control`); an `else`, if one
        /// comes, redirects it to `else_block`.
        branch: Option<ir::Inst>,
        /// The construct's parameters, which the `else` arm (or the missing `else`
        /// arm, which passes them through to the results) starts from.
        params: Vec<Value>,
        else_seen: bool,
    },
    /// A `try_table`: calls in its body go to its landing pads when they throw.
    TryTable(ops::exceptions::TryTableClauses),
    /// A legacy `try`, see `ops::exceptions`.
    LegacyTry(ops::exceptions::LegacyTry),
}

/// Where an exception of `tag` (or any, for `None`) thrown by a call lands. The block
/// takes the exception object as its only parameter.
#[derive(Clone, Copy, Debug)]
pub struct LandingPad {
    pub tag: Option<u32>,
    pub block: Block,
    /// Whether the handler keeps the exception object (see `lucet_module::Handler`).
    pub keeps: bool,
}

/// A `block`, `loop` or `if` being translated, or the function body itself.
pub struct Frame {
    pub kind: FrameKind,
    /// Where control continues after `end`; its parameters are the results.
    pub next: Block,
    pub num_params: usize,
    pub num_results: usize,
    /// Height of the operand stack below the construct's parameters.
    pub height: usize,
    /// Whether anything jumps to `next` (a branch, or an arm falling through).
    pub next_reached: bool,
}

impl Frame {
    /// Where a branch to this frame goes, and how many values it carries.
    pub fn branch_target(&self) -> (Block, usize) {
        match self.kind {
            FrameKind::Loop { header } => (header, self.num_params),
            _ => (self.next, self.num_results),
        }
    }
}

/// The state of one function's translation, shared by all operator families.
pub struct Translator<'a, 'm> {
    pub b: FunctionBuilder<'a>,
    pub env: VmctxAccess<'m>,
    pub stack: Vec<Value>,
    pub control: Vec<Frame>,
    pub locals: Vec<Variable>,
    /// Whether the code being read can run (see the module documentation).
    pub reachable: bool,
    /// Nesting depth of dead constructs inside unreachable code.
    dead_depth: u32,
    /// Byte offset of the operator being translated.
    pub offset: usize,
    /// The catch clauses and delegate targets of the function's legacy `try` blocks,
    /// in the order they appear (see `ops::exceptions::scan_legacy`).
    pub legacy: Vec<ops::exceptions::LegacyShape>,
    /// How many legacy `try` blocks were read so far, live or dead.
    pub legacy_seen: usize,
    /// Landing pads some call goes to; the others are never translated.
    pub used_pads: std::collections::HashSet<Block>,
    /// The stack slot that holds the vmctx for the runtime, once a call has handlers.
    pub vmctx_slot: Option<ir::StackSlot>,
}

/// Translates the (valid) body of `index` into `func`.
pub fn translate_function(
    module: &ModuleInfo,
    spectre: Spectre,
    index: FuncIndex,
    body: &FunctionBody<'_>,
    func: &mut ir::Function,
    fctx: &mut FunctionBuilderContext,
    frontend: TargetFrontendConfig,
) -> Result<(), Error> {
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    let vmctx = b.block_params(entry)[0];
    let mut t = Translator {
        b,
        env: VmctxAccess::new(module, spectre, vmctx),
        stack: Vec::new(),
        control: Vec::new(),
        locals: Vec::new(),
        reachable: true,
        dead_depth: 0,
        offset: body.range().start,
        legacy: ops::exceptions::scan_legacy(body),
        legacy_seen: 0,
        used_pads: Default::default(),
        vmctx_slot: None,
    };
    t.b.set_srcloc(SourceLoc::new(body.range().start as u32));
    t.b.switch_to_block(entry);
    t.b.seal_block(entry);
    VmctxAccess::set_stack_limit(&mut t.b);
    t.declare_locals(module.func_type(index).params.as_slice(), entry, body)?;

    let results: Vec<ir::Type> = module.func_type(index).results.iter().map(|t| clif_type(*t)).collect();
    let exit = t.b.create_block();
    for ty in &results {
        t.b.append_block_param(exit, *ty);
    }
    t.control.push(Frame {
        kind: FrameKind::Block,
        next: exit,
        num_params: 0,
        num_results: results.len(),
        height: 0,
        next_reached: false,
    });

    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        t.offset = offset;
        t.b.set_srcloc(SourceLoc::new(offset as u32));
        t.translate(&op)?;
    }
    reader.finish()?;
    t.b.finalize(frontend);
    Ok(())
}

impl<'a, 'm> Translator<'a, 'm> {
    fn declare_locals(
        &mut self,
        params: &[ValType],
        entry: Block,
        body: &FunctionBody<'_>,
    ) -> Result<(), Error> {
        // The first block parameter is the vmctx.
        let values = self.b.block_params(entry)[1..].to_vec();
        for (ty, value) in params.iter().zip(values) {
            let var = self.b.declare_var(clif_type(*ty));
            self.b.def_var(var, value);
            self.locals.push(var);
        }
        let mut reader = body.get_locals_reader()?;
        for _ in 0..reader.get_count() {
            let offset = reader.original_position();
            let (count, ty) = reader.read()?;
            let ty = ops::val_type(ty, offset)?;
            let clif = clif_type(ty);
            for _ in 0..count {
                let var = self.b.declare_var(clif);
                let zero = self.zero(clif);
                self.b.def_var(var, zero);
                self.locals.push(var);
            }
        }
        Ok(())
    }

    /// The zero (or null reference) of a value type.
    pub fn zero(&mut self, ty: ir::Type) -> Value {
        match ty {
            types::F32 => self.b.ins().f32const(0.0),
            types::F64 => self.b.ins().f64const(0.0),
            ty if ty.is_vector() => {
                let c = self.b.func.dfg.constants.insert(vec![0u8; 16].into());
                self.b.ins().vconst(ty, c)
            }
            ty => self.b.ins().iconst(ty, 0),
        }
    }

    fn translate(&mut self, op: &Operator<'_>) -> Result<(), Error> {
        if !self.reachable {
            return self.translate_dead(op);
        }
        let handled = ops::locals::translate(self, op)?
            || ops::numeric::translate(self, op)?
            || ops::memory::translate(self, op)?
            || ops::control::translate(self, op)?
            || ops::call::translate(self, op)?
            || ops::convert::translate(self, op)?
            || ops::table::translate(self, op)?
            || ops::simd::translate(self, op)?
            || ops::exceptions::translate(self, op)?;
        if handled {
            Ok(())
        } else {
            Err(ops::not_supported(self.offset, op))
        }
    }

    /// Reads an operator that cannot run: only the nesting matters.
    fn translate_dead(&mut self, op: &Operator<'_>) -> Result<(), Error> {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } | Operator::TryTable { .. } => {
                self.dead_depth += 1
            }
            Operator::Try { .. } => {
                self.legacy_seen += 1;
                self.dead_depth += 1
            }
            Operator::Else if self.dead_depth == 0 => ops::control::translate_else(self)?,
            Operator::Catch { tag_index } if self.dead_depth == 0 => {
                ops::exceptions::translate_catch(self, Some(*tag_index))?
            }
            Operator::CatchAll if self.dead_depth == 0 => ops::exceptions::translate_catch(self, None)?,
            Operator::End | Operator::Delegate { .. } if self.dead_depth > 0 => self.dead_depth -= 1,
            Operator::End | Operator::Delegate { .. } => ops::control::translate_end(self)?,
            _ => {}
        }
        Ok(())
    }

    pub fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    pub fn pop(&mut self) -> Value {
        self.stack.pop().expect("the validator checked the operand stack")
    }

    pub fn pop2(&mut self) -> (Value, Value) {
        let b = self.pop();
        let a = self.pop();
        (a, b)
    }

    pub fn pop3(&mut self) -> (Value, Value, Value) {
        let c = self.pop();
        let (a, b) = self.pop2();
        (a, b, c)
    }

    /// Removes the top `n` values, bottom first.
    pub fn popn(&mut self, n: usize) -> Vec<Value> {
        let at = self.stack.len() - n;
        self.stack.split_off(at)
    }

    /// The top `n` values, bottom first.
    pub fn peekn(&self, n: usize) -> &[Value] {
        &self.stack[self.stack.len() - n..]
    }

    /// Vectors cross block, call and variable boundaries as `I8X16`.
    pub fn canonical(&mut self, v: Value) -> Value {
        let ty = self.b.func.dfg.value_type(v);
        if ty.is_vector() && ty != types::I8X16 {
            self.bitcast(types::I8X16, v)
        } else {
            v
        }
    }

    pub fn canonical_all(&mut self, values: &[Value]) -> Vec<Value> {
        values.iter().map(|v| self.canonical(*v)).collect()
    }

    /// Reinterprets a vector as another lane layout.
    pub fn bitcast(&mut self, ty: ir::Type, v: Value) -> Value {
        if self.b.func.dfg.value_type(v) == ty {
            return v;
        }
        let flags = ir::MemFlagsData::new().with_endianness(ir::Endianness::Little);
        self.b.ins().bitcast(ty, flags, v)
    }

    /// Pops a vector and views it with lanes of type `ty`.
    pub fn pop_vector(&mut self, ty: ir::Type) -> Value {
        let v = self.pop();
        self.bitcast(ty, v)
    }

    /// Parameter and result types of a block type.
    pub fn block_signature(&self, ty: BlockType) -> Result<(Vec<ir::Type>, Vec<ir::Type>), Error> {
        Ok(match ty {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], vec![clif_type(ops::val_type(t, self.offset)?)]),
            BlockType::FuncType(index) => {
                let ty = self.env.module.type_of(TypeIndex::from_u32(index));
                (ty.params.iter().map(|t| clif_type(*t)).collect(), ty.results.iter().map(|t| clif_type(*t)).collect())
            }
        })
    }

    /// A new block with parameters of the given types.
    pub fn block_with_params(&mut self, params: &[ir::Type]) -> Block {
        let block = self.b.create_block();
        for ty in params {
            self.b.append_block_param(block, *ty);
        }
        block
    }

    /// Jumps to `block` passing `args` (made canonical).
    pub fn jump(&mut self, block: Block, args: &[Value]) {
        let args: Vec<ir::BlockArg> = self.canonical_all(args).into_iter().map(ir::BlockArg::Value).collect();
        self.b.ins().jump(block, &args);
    }
}
