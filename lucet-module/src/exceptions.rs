//! Exception handling: tags and the handler table of a module.
//!
//! The handler table is kept apart from the function manifest, sorted by function and
//! return address, so that it can move to another storage scheme on its own.
//!
//! A throw walks the guest frames by frame pointer. For each frame it looks up the
//! return address in the table: a call site made inside a `try_table` (or a legacy
//! `try`) has an entry listing its handlers, innermost first. The tags in an entry are
//! the module's own tag indices; the frame's vmctx, saved in the frame at a known
//! offset from the frame pointer, names the instance whose tags they are.

use crate::FuncType;
use serde::{Deserialize, Serialize};

/// Exception-handling facts about a module.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExceptionInfo {
    /// The type index (a function type with no results) of each tag defined by the
    /// module. Imported tags are in `ModuleData::imports`.
    pub defined_tags: Vec<u32>,
    /// Call sites with handlers, sorted by `(func, ret_offset)`.
    pub sites: Vec<HandlerSite>,
    /// Where each function that saves callee-saved registers keeps them, sorted by
    /// `(func, start_offset)`. A throw that passes a frame restores them from there,
    /// as the function's epilogue would have: a handler's function may expect them.
    pub saves: Vec<RegisterSaves>,
}

/// The callee-saved registers one piece of code (a function, or the body behind a
/// function's entry point) saves in its frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterSaves {
    /// Defined-function index of the code range the code is part of.
    pub func: u32,
    /// Offset of the code's start in that range; it extends to the next entry's start
    /// or the range's end.
    pub start_offset: u32,
    /// `(register number in the machine encoding, distance below the frame pointer)`.
    pub saves: Vec<(u8, u32)>,
}

/// A call site in the scope of one or more handlers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerSite {
    /// Defined-function index of the function containing the call.
    pub func: u32,
    /// Offset of the call's return address from the function's code start.
    pub ret_offset: u32,
    /// Distance from the frame pointer down to the stack pointer at the call: the
    /// stack pointer a handler runs with is `fp - frame_offset`.
    pub frame_offset: u32,
    /// Where the frame keeps its vmctx: at `fp - vmctx_fp_offset`.
    pub vmctx_fp_offset: u32,
    /// Handlers in the order they are tried.
    pub handlers: Vec<Handler>,
}

/// One handler of a call site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handler {
    /// The tag (module tag index) it catches, or `None` for a catch-all.
    pub tag: Option<u32>,
    /// Offset of the handler's code from the function's code start.
    pub target_offset: u32,
    /// Whether the handler keeps the exception object (`catch_ref`, `catch_all_ref`, a
    /// legacy catch clause that may `rethrow`). The others read the payload as their
    /// first instructions and drop the object, so the runtime may reuse its memory.
    pub keeps_object: bool,
}

/// The layout of an exception object, which `exnref` values point to.
///
/// An object is an array of 16-byte slots: slot 0 is this header, slot `1 + i` holds
/// payload value `i` in its low bytes. Compiled code reads the payload from a caught
/// exception directly.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ExceptionHeader {
    /// The tag's identity (opaque to compiled code).
    pub tag: usize,
    /// Number of payload values.
    pub len: u32,
    pub _pad: u32,
}

impl ExceptionHeader {
    /// Byte offset of payload value `i` in an exception object.
    pub const fn value_offset(i: u32) -> i32 {
        (16 * (i + 1)) as i32
    }
}

const _: () = assert!(std::mem::size_of::<ExceptionHeader>() == 16);

/// The payload type of a tag: the parameters of its function type.
pub fn tag_payload(ty: &FuncType) -> &[crate::ValType] {
    &ty.params
}
