//! Exception tags and the exception objects of an instance.
//!
//! - A [`Tag`] has an identity: two tags are the same exactly when they are the same
//!   allocation. Each instantiation makes new tags for the module's definitions, and an
//!   imported tag is the exporter's (or a host's) `Tag`.
//! - An exception object is an array of 16-byte slots laid out as
//!   `lucet_module::ExceptionHeader` says; an `exnref` is its address. Objects live in
//!   the instance whose handler caught them (a throw copies the payload into it), and
//!   are discarded when that instance is reset or dropped, along with the globals and
//!   tables that could hold references to them.

use lucet_module::{ExceptionHeader, FuncType};
use std::sync::Arc;

struct TagDef {
    ty: FuncType,
    /// The process-wide id of the tag's type (`DlModule::type_ids`): equal `FuncType`s
    /// are still different tag types when their typed references or recursion groups
    /// differ.
    type_id: u32,
    /// How messages name the tag.
    name: String,
}

/// An exception tag: what `throw` names and `catch` matches, by identity.
#[derive(Clone)]
pub struct Tag(Arc<TagDef>);

impl Tag {
    /// A new tag whose exceptions carry values of `ty`'s parameter types (`ty` must have
    /// no results).
    pub fn new(ty: FuncType) -> Tag {
        let type_id = crate::module::intern_typed_signature(&ty, None);
        Tag::named(ty, type_id, "a host tag".to_string())
    }

    pub(crate) fn named(ty: FuncType, type_id: u32, name: String) -> Tag {
        Tag(Arc::new(TagDef { ty, type_id, name }))
    }

    /// Whether an import of type `type_id` (the importer's `DlModule::type_ids` entry)
    /// accepts this tag.
    pub(crate) fn has_type_id(&self, type_id: u32) -> bool {
        self.0.type_id == type_id
    }

    /// The tag's type: its parameters are the payload's types.
    pub fn ty(&self) -> &FuncType {
        &self.0.ty
    }

    /// Whether `self` and `other` are the same tag.
    pub fn same(&self, other: &Tag) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }

    /// What exception objects record as their tag.
    pub(super) fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tag({} {})", self.0.name, self.0.ty)
    }
}

/// One exception object: its slots, and its tag, kept alive so that the identity its
/// header records is never reused while the object exists.
struct Object {
    slots: Box<[[u8; 16]]>,
    tag: Tag,
}

/// An instance's tags and the exception objects it caught.
#[derive(Default)]
pub(crate) struct Exceptions {
    /// Every tag of the tag index space, imports first.
    pub tags: Vec<Tag>,
    /// Objects that handlers kept (`catch_ref`, or a legacy catch that may rethrow):
    /// they live until reset.
    objects: Vec<Object>,
    /// The object of the last exception caught by a handler that reads the payload
    /// first and keeps nothing: reused by the next such catch, so that a loop that
    /// throws and catches does not grow the instance.
    scratch: Option<Object>,
}

fn fill(slots: &mut [[u8; 16]], tag: &Tag, payload: &[[u8; 16]]) {
    let header = ExceptionHeader { tag: tag.identity(), len: payload.len() as u32, _pad: 0 };
    // SAFETY: `ExceptionHeader` is 16 bytes of plain data (checked in lucet-module),
    // and slot 0 is 16 bytes.
    slots[0] = unsafe { std::mem::transmute::<ExceptionHeader, [u8; 16]>(header) };
    slots[1..].copy_from_slice(payload);
}

impl Exceptions {
    /// An exception object with `tag` and `payload` for a handler that keeps it (or
    /// not, `keeps`); returns its address.
    pub(super) fn alloc(&mut self, tag: &Tag, payload: &[[u8; 16]], keeps: bool) -> usize {
        if !keeps {
            // The handler that read the last scratch object has run its first
            // instructions: every throw leaves the handler's code first.
            let fits = self.scratch.as_ref().is_some_and(|o| o.slots.len() == payload.len() + 1);
            if !fits {
                self.scratch =
                    Some(Object { slots: vec![[0u8; 16]; payload.len() + 1].into_boxed_slice(), tag: tag.clone() });
            }
            let o = self.scratch.as_mut().expect("just made");
            o.tag = tag.clone();
            fill(&mut o.slots, tag, payload);
            return o.slots.as_ptr() as usize;
        }
        let mut slots = vec![[0u8; 16]; payload.len() + 1].into_boxed_slice();
        fill(&mut slots, tag, payload);
        let addr = slots.as_ptr() as usize;
        self.objects.push(Object { slots, tag: tag.clone() });
        addr
    }

    /// Discards every exception object (on reset).
    pub(crate) fn clear_objects(&mut self) {
        self.objects.clear();
        self.scratch = None;
    }

    /// The tag and payload of the kept object at `addr`, if it is one of ours.
    pub(super) fn object(&self, addr: usize) -> Option<InFlight> {
        let o = self.objects.iter().rev().find(|o| o.slots.as_ptr() as usize == addr)?;
        Some(InFlight { tag: o.tag.clone(), payload: o.slots[1..].to_vec() })
    }
}

/// How an exception that no handler caught ends the run.
#[derive(Debug)]
pub(crate) struct Uncaught {
    pub tag: String,
}

/// A thrown exception on its way to a handler.
pub(crate) struct InFlight {
    pub(super) tag: Tag,
    pub(super) payload: Vec<[u8; 16]>,
}

impl InFlight {
    /// An exception of `tag` whose payload (checked against the tag's type) is `payload`.
    pub(crate) fn new(tag: Tag, payload: Vec<[u8; 16]>) -> InFlight {
        InFlight { tag, payload }
    }
}

