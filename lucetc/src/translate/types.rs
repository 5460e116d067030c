//! The type section: function types, alone or in recursion groups, and the digest that
//! gives each one its identity across modules.
//!
//! Wasm 3.0 makes a type's identity structural per recursion group: two modules that
//! declare `(rec (type $a (func)) (type $b (func)))` share `$a`, but `$a` is neither
//! `$b` nor a lone `(type (func))`. lucetc compiles no GC, so every type here is a final
//! function type; what the recursion groups add is identity. [`FuncType`] in the
//! metadata erases both typed references and groups, so each type that needs more than
//! its erased shape to be told apart carries a digest (`ModuleData::type_digests`), and
//! the runtime interns signatures together with it. Types that need no digest keep
//! `None`, which keeps older modules' identities unchanged.
//!
//! A type alone in its group is digested on its own: a typed reference names either the
//! type itself or an earlier type, whose digest it includes. A group of several types is
//! digested as a whole, with references inside the group written as positions, and each
//! member's digest is the group's digest with the member's position.

use crate::error::Error;
use sha2::{Digest, Sha256};
use wasmparser::{AbstractHeapType, CompositeInnerType, HeapType, TypeSectionReader, ValType as W};

/// One type of the section, in index order.
pub struct SectionType {
    pub ty: wasmparser::FuncType,
    /// The structural identity of the type (see the module docs).
    pub digest: [u8; 32],
    /// Whether the digest must be recorded: the type mentions a typed reference, or it
    /// shares a recursion group with other types.
    pub recorded: bool,
}

fn gc_error(offset: usize, what: &str) -> Error {
    Error::Unsupported(format!("not supported yet: garbage collection ({what}) (at byte offset {offset:#x})"))
}

/// Where a concrete type reference points, from the type being digested.
enum Target<'a> {
    /// The type itself (a lone type).
    SelfRef,
    /// A type of the same group, by position in the group.
    InGroup(u32),
    /// An earlier type, by its digest.
    Earlier(&'a [u8; 32]),
    /// Nothing valid: validation rejects this, so it only needs to differ.
    Invalid(u64),
}

/// Feeds the shape of `ty` to `h`, resolving concrete references with `target`; returns
/// whether the type mentions a typed reference.
fn digest_shape<'a>(h: &mut Sha256, ty: &wasmparser::FuncType, target: impl Fn(u32) -> Target<'a>) -> bool {
    let mut typed = false;
    for (tag, list) in [(b'p', ty.params()), (b'r', ty.results())] {
        h.update([tag]);
        h.update((list.len() as u32).to_le_bytes());
        for t in list {
            match t {
                W::I32 => h.update([0]),
                W::I64 => h.update([1]),
                W::F32 => h.update([2]),
                W::F64 => h.update([3]),
                W::V128 => h.update([4]),
                W::Ref(r) => {
                    typed |= !r.is_nullable();
                    h.update([5, u8::from(r.is_nullable())]);
                    match r.heap_type() {
                        HeapType::Abstract { ty: AbstractHeapType::Func, .. } => h.update([0]),
                        HeapType::Abstract { ty: AbstractHeapType::Extern, .. } => h.update([1]),
                        HeapType::Abstract { ty: AbstractHeapType::Exn, .. } => h.update([7]),
                        HeapType::Abstract { ty: AbstractHeapType::NoExn, .. } => h.update([8]),
                        HeapType::Concrete(i) => {
                            typed = true;
                            match i.as_module_index().map_or(Target::Invalid(u64::MAX), &target) {
                                Target::SelfRef => h.update([2]),
                                Target::Earlier(d) => {
                                    h.update([3]);
                                    h.update(d);
                                }
                                Target::InGroup(pos) => {
                                    h.update([6]);
                                    h.update(pos.to_le_bytes());
                                }
                                Target::Invalid(i) => {
                                    h.update([4]);
                                    h.update(i.to_le_bytes());
                                }
                            }
                        }
                        // The other heap types are GC's, refused with the value type.
                        _ => h.update([9]),
                    }
                }
            }
        }
    }
    typed
}

/// Reads a (validated) type section, refusing every GC construct other than grouping
/// function types: subtypes, non-final types, shared or descriptor types, structs,
/// arrays and continuations.
pub fn read_section(types: &TypeSectionReader<'_>) -> Result<Vec<SectionType>, Error> {
    let mut out: Vec<SectionType> = Vec::new();
    for group in types.clone().into_iter_with_offsets() {
        let (offset, group) = group?;
        let mut members = Vec::with_capacity(group.types().len());
        for sub in group.types() {
            if !sub.is_final || sub.supertype_idx.is_some() {
                return Err(gc_error(offset, "subtypes"));
            }
            let ct = &sub.composite_type;
            if ct.shared || ct.descriptor_idx.is_some() || ct.describes_idx.is_some() {
                return Err(gc_error(offset, "shared or descriptor types"));
            }
            match &ct.inner {
                CompositeInnerType::Func(f) => members.push(f.clone()),
                _ => return Err(gc_error(offset, "struct, array and continuation types")),
            }
        }
        let start = out.len() as u32;
        let digest_of = |i: u32| out.get(i as usize).map(|t| &t.digest);
        if let [ty] = members.as_slice() {
            let mut h = Sha256::new();
            h.update(b"lucet function type\0");
            let typed = digest_shape(&mut h, ty, |i| {
                if i == start {
                    Target::SelfRef
                } else {
                    match (i < start).then(|| digest_of(i)).flatten() {
                        Some(d) => Target::Earlier(d),
                        None => Target::Invalid(u64::from(i)),
                    }
                }
            });
            let digest = h.finalize().into();
            out.push(SectionType { ty: ty.clone(), digest, recorded: typed });
            continue;
        }
        let n = members.len() as u32;
        let mut h = Sha256::new();
        h.update(b"lucet recursion group\0");
        h.update(n.to_le_bytes());
        for ty in &members {
            digest_shape(&mut h, ty, |i| {
                if (start..start + n).contains(&i) {
                    Target::InGroup(i - start)
                } else {
                    match (i < start).then(|| digest_of(i)).flatten() {
                        Some(d) => Target::Earlier(d),
                        None => Target::Invalid(u64::from(i)),
                    }
                }
            });
        }
        let group_digest: [u8; 32] = h.finalize().into();
        for (pos, ty) in members.into_iter().enumerate() {
            let mut h = Sha256::new();
            h.update(b"lucet recursion group member\0");
            h.update(group_digest);
            h.update((pos as u32).to_le_bytes());
            out.push(SectionType { ty, digest: h.finalize().into(), recorded: true });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmparser::{Parser, Payload, Validator, WasmFeatures};

    fn types(wat: &str) -> Result<Vec<SectionType>, Error> {
        let wasm = wat::parse_str(wat).unwrap();
        Validator::new_with_features(WasmFeatures::all()).validate_all(&wasm).unwrap();
        for payload in Parser::new(0).parse_all(&wasm) {
            if let Payload::TypeSection(r) = payload.unwrap() {
                return read_section(&r);
            }
        }
        Ok(Vec::new())
    }

    #[test]
    fn lone_types_keep_no_digest_unless_typed() {
        let t = types("(module (type (func)) (type (func (param i32))))").unwrap();
        assert!(t.iter().all(|t| !t.recorded));
        assert_ne!(t[0].digest, t[1].digest);
        let t = types("(module (type $f (func)) (type (func (param (ref $f)))))").unwrap();
        assert!(!t[0].recorded && t[1].recorded);
    }

    #[test]
    fn group_members_are_distinct_and_structural() {
        let a = types("(module (rec (type (func)) (type (func))) (type (func)))").unwrap();
        let b = types("(module (type (func (param i64))) (rec (type (func)) (type (func))))").unwrap();
        assert!(a[0].recorded && a[1].recorded && !a[2].recorded);
        assert_ne!(a[0].digest, a[1].digest);
        assert_ne!(a[0].digest, a[2].digest);
        // The same group in another module at another index is the same pair of types.
        assert_eq!(a[0].digest, b[1].digest);
        assert_eq!(a[1].digest, b[2].digest);
        // A one-type group is the type alone.
        let c = types("(module (rec (type (func))))").unwrap();
        assert_eq!(c[0].digest, a[2].digest);
        assert!(!c[0].recorded);
    }

    #[test]
    fn references_inside_a_group_are_positions() {
        let a = types("(module (rec (type $a (func (param (ref $b)))) (type $b (func))))").unwrap();
        let b = types("(module (type (func)) (rec (type $a (func (param (ref $b)))) (type $b (func))))").unwrap();
        assert_eq!(a[0].digest, b[1].digest);
        let c = types("(module (rec (type $a (func (param (ref $a)))) (type $b (func))))").unwrap();
        assert_ne!(a[0].digest, c[0].digest);
    }

    #[test]
    fn gc_types_are_refused() {
        let e = types("(module (type (struct)))").err().unwrap().to_string();
        assert!(e.contains("garbage collection"), "{e}");
        let e = types("(module (type $a (sub (func))) (type (sub $a (func))))").err().unwrap().to_string();
        assert!(e.contains("subtypes"), "{e}");
    }
}
