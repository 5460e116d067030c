//! Constant expressions and globals.

use super::core::Instance;
use crate::error::Error;
use crate::val::Val;
use lucet_module::{ConstExpr, ConstOp, ExportKind, GlobalType, ImportKind};

impl Instance {
    /// Evaluates a constant expression to the bits of its value.
    pub(crate) fn eval_const(&self, e: &ConstExpr) -> Result<u128, String> {
        // Almost every initialiser is a single constant, `ref.func` or `global.get`:
        // evaluate those without a stack (this runs for every element of every segment).
        if let [op] = e.ops.as_slice() {
            match *op {
                ConstOp::I32Const(v) => return Ok(v as u32 as u128),
                ConstOp::I64Const(v) => return Ok(v as u64 as u128),
                ConstOp::RefNull => return Ok(0),
                ConstOp::RefFunc(f) if (f as usize) < self.data().functions.len() => {
                    return Ok(self.funcref_ptr(f) as usize as u128)
                }
                _ => {}
            }
        }
        let mut st: Vec<u128> = Vec::with_capacity(2);
        let pop = |st: &mut Vec<u128>| st.pop().ok_or_else(|| "constant expression pops an empty stack".to_string());
        for op in &e.ops {
            let v = match *op {
                ConstOp::I32Const(v) => v as u32 as u128,
                ConstOp::I64Const(v) => v as u64 as u128,
                ConstOp::F32Const(v) => v as u128,
                ConstOp::F64Const(v) => v as u128,
                ConstOp::V128Const(v) => v,
                ConstOp::RefNull => 0,
                ConstOp::RefFunc(f) => {
                    if f as usize >= self.data().functions.len() {
                        return Err(format!("ref.func {f} names no function"));
                    }
                    self.funcref_ptr(f) as usize as u128
                }
                ConstOp::GlobalGet(g) => {
                    let p = *self.globals.get(g as usize).ok_or_else(|| format!("global.get {g} names no global"))?;
                    // SAFETY: global storage pointers stay valid for the instance's life.
                    u128::from_le_bytes(unsafe { *p })
                }
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let b = pop(&mut st)? as u32;
                    let a = pop(&mut st)? as u32;
                    (match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    }) as u128
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let b = pop(&mut st)? as u64;
                    let a = pop(&mut st)? as u64;
                    (match op {
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    }) as u128
                }
            };
            st.push(v);
        }
        st.pop().ok_or_else(|| "empty constant expression".to_string())
    }

    pub(crate) fn global_type(&self, i: u32) -> GlobalType {
        let data = self.data();
        let imported: Vec<GlobalType> = data
            .imports
            .iter()
            .filter_map(|im| if let ImportKind::Global(g) = im.kind { Some(g) } else { None })
            .collect();
        match imported.get(i as usize) {
            Some(g) => *g,
            None => data.defined_globals[i as usize - imported.len()].ty,
        }
    }

    /// The current value of the exported global `name`.
    pub fn get_global(&self, name: &str) -> Result<Val, Error> {
        match self.data().export(name) {
            Some(ExportKind::Global(i)) => {
                let ty = self.global_type(i);
                // SAFETY: global storage stays valid for the instance's life.
                Ok(Val::from_slot(ty.ty, unsafe { &*self.globals[i as usize] }))
            }
            _ => Err(Error::SymbolNotFound(format!("module {} exports no global `{name}`", self.dl().path()))),
        }
    }

    /// Sets the exported mutable global `name`.
    pub fn set_global(&mut self, name: &str, val: Val) -> Result<(), Error> {
        match self.data().export(name) {
            Some(ExportKind::Global(i)) => {
                let ty = self.global_type(i);
                self.check_funcref(&val)?;
                let val = match val.coerce(ty.ty) {
                    Ok(v) if ty.mutable => v,
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "global `{name}` is {}{}; cannot set it to the {} {val}",
                            if ty.mutable { "" } else { "immutable " },
                            ty.ty,
                            val.type_name()
                        )))
                    }
                };
                // SAFETY: global storage stays valid for the instance's life.
                unsafe { *self.globals[i as usize] = val.to_slot() };
                Ok(())
            }
            _ => Err(Error::SymbolNotFound(format!("module {} exports no global `{name}`", self.dl().path()))),
        }
    }
}
