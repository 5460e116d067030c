//! Handles: what C holds instead of pointers to Rust objects.
//!
//! A handle is not an address. It is a number, typed as an opaque pointer in C,
//! that names an entry in a per-kind table:
//!
//! ```text
//!  63      56 55                     24 23          0
//!  [  kind  ][      generation        ][   index    ]
//! ```
//!
//! Every call looks its handle up before touching anything, so a NULL handle, a handle
//! of another kind, a freed handle (double free, use after free) or a made-up value is
//! reported as `LUCET_ERR_INVALID_HANDLE` and never dereferenced. An entry's generation
//! changes when it is freed, so a stale handle stays invalid even after its index is
//! reused; an index whose generation would wrap is retired instead of reused.
//!
//! Lookups hand out an `Arc` of the object, so freeing a handle while another thread
//! is inside a call with it only removes the name: the object lives until that call
//! returns.

use crate::error::{lucet_error_t, ApiError, ApiResult};
use std::sync::{Arc, Mutex};

const INDEX_BITS: u32 = 24;
const GENERATION_BITS: u32 = 32;
const KIND_SHIFT: u32 = INDEX_BITS + GENERATION_BITS;
const MAX_INDEX: usize = (1 << INDEX_BITS) - 1;

/// The kinds of object C can hold; the value is stored in the top byte of a handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Module = 1,
    Region = 2,
    Instance = 3,
    Linker = 4,
    WasiCtx = 5,
    KillSwitch = 6,
}

impl Kind {
    fn from_tag(tag: u64) -> Option<Kind> {
        Some(match tag {
            1 => Kind::Module,
            2 => Kind::Region,
            3 => Kind::Instance,
            4 => Kind::Linker,
            5 => Kind::WasiCtx,
            6 => Kind::KillSwitch,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Module => "module",
            Kind::Region => "region",
            Kind::Instance => "instance",
            Kind::Linker => "linker",
            Kind::WasiCtx => "WASI context",
            Kind::KillSwitch => "kill switch",
        }
    }

    /// The name with its article, for messages.
    pub(crate) fn a(self) -> &'static str {
        match self {
            Kind::Module => "a module",
            Kind::Region => "a region",
            Kind::Instance => "an instance",
            Kind::Linker => "a linker",
            Kind::WasiCtx => "a WASI context",
            Kind::KillSwitch => "a kill switch",
        }
    }

    /// The function that makes a handle of this kind, for messages.
    fn maker(self) -> &'static str {
        match self {
            Kind::Module => "lucet_module_load",
            Kind::Region => "lucet_region_create",
            Kind::Instance => "lucet_region_new_instance",
            Kind::Linker => "lucet_linker_create",
            Kind::WasiCtx => "lucet_wasi_ctx_create",
            Kind::KillSwitch => "lucet_instance_kill_switch",
        }
    }
}

struct Entry<T> {
    generation: u32,
    value: Option<Arc<T>>,
}

struct Slots<T> {
    entries: Vec<Entry<T>>,
    free: Vec<usize>,
}

/// The live objects of one kind.
pub(crate) struct Table<T> {
    kind: Kind,
    slots: Mutex<Slots<T>>,
}

fn invalid(message: String) -> ApiError {
    ApiError::new(lucet_error_t::LUCET_ERR_INVALID_HANDLE, message)
}

impl<T> Table<T> {
    pub(crate) const fn new(kind: Kind) -> Table<T> {
        Table {
            kind,
            slots: Mutex::new(Slots {
                entries: Vec::new(),
                free: Vec::new(),
            }),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots<T>> {
        // A panic while the lock was held cannot leave an entry half-written: every
        // update is a single assignment.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `value` and returns its handle.
    pub(crate) fn insert(&self, value: Arc<T>) -> ApiResult<u64> {
        let mut slots = self.slots();
        let index = match slots.free.pop() {
            Some(i) => {
                slots.entries[i].value = Some(value);
                i
            }
            None => {
                let i = slots.entries.len();
                if i > MAX_INDEX {
                    return Err(ApiError::new(
                        lucet_error_t::LUCET_ERR_LIMITS_EXCEEDED,
                        format!(
                            "more than {MAX_INDEX} {} handles are live; free some first",
                            self.kind.name()
                        ),
                    ));
                }
                slots.entries.push(Entry {
                    generation: 1,
                    value: Some(value),
                });
                i
            }
        };
        let generation = slots.entries[index].generation;
        Ok(((self.kind as u64) << KIND_SHIFT)
            | (u64::from(generation) << INDEX_BITS)
            | index as u64)
    }

    /// Checks the handle's kind and splits it into index and generation.
    fn decode(&self, handle: u64) -> ApiResult<(usize, u32)> {
        let kind = self.kind;
        if handle == 0 {
            return Err(invalid(format!(
                "the {} handle is NULL; pass the handle {} gave you",
                kind.name(),
                kind.maker()
            )));
        }
        match Kind::from_tag(handle >> KIND_SHIFT) {
            Some(k) if k == kind => {}
            Some(other) => {
                return Err(invalid(format!(
                    "{} handle was passed where {} handle is expected; check the argument order",
                    other.a(),
                    kind.a()
                )))
            }
            None => {
                return Err(invalid(format!(
                    "{handle:#x} is not {} handle this library made (a corrupted or uninitialised pointer?); \
                     pass the handle {} gave you",
                    kind.a(),
                    kind.maker()
                )))
            }
        }
        let index = (handle & MAX_INDEX as u64) as usize;
        let generation = ((handle >> INDEX_BITS) & ((1 << GENERATION_BITS) - 1)) as u32;
        Ok((index, generation))
    }

    fn stale(&self) -> ApiError {
        invalid(format!(
            "the {} handle was already freed (a use after free or a double free); stop using it after its free \
             function returns",
            self.kind.name()
        ))
    }

    /// The object a handle names.
    pub(crate) fn get(&self, handle: u64) -> ApiResult<Arc<T>> {
        let (index, generation) = self.decode(handle)?;
        let slots = self.slots();
        match slots.entries.get(index) {
            Some(Entry {
                generation: g,
                value: Some(v),
            }) if *g == generation => Ok(v.clone()),
            Some(_) => Err(self.stale()),
            None => Err(self.never_made(handle)),
        }
    }

    fn never_made(&self, handle: u64) -> ApiError {
        invalid(format!(
            "{handle:#x} is not a live {} handle: no such handle was ever made; pass the handle {} gave you",
            self.kind.name(),
            self.kind.maker()
        ))
    }

    /// Invalidates a handle and returns its object (dropped by the caller, outside the
    /// table's lock: dropping an instance can take a while).
    pub(crate) fn remove(&self, handle: u64) -> ApiResult<Arc<T>> {
        let (index, generation) = self.decode(handle)?;
        let mut slots = self.slots();
        let entry = match slots.entries.get_mut(index) {
            Some(e) if e.generation == generation && e.value.is_some() => e,
            Some(_) => return Err(self.stale()),
            None => return Err(self.never_made(handle)),
        };
        let value = entry.value.take().expect("checked above");
        entry.generation = entry.generation.wrapping_add(1);
        // Generation 0 is never handed out, so a wrapped entry stays empty for good.
        if entry.generation != 0 {
            slots.free.push(index);
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_report_null_stale_foreign_and_wrong_kind() {
        let table: Table<u32> = Table::new(Kind::Module);
        let other: Table<u32> = Table::new(Kind::Region);
        let h = table.insert(Arc::new(7)).unwrap();
        assert_eq!(*table.get(h).unwrap(), 7);

        let msg = |r: ApiResult<Arc<u32>>| r.expect_err("an error").message;
        assert!(msg(table.get(0)).contains("NULL"));
        assert!(msg(table.get(0x1234)).contains("not a module handle this library made"));
        let r = other.insert(Arc::new(1)).unwrap();
        assert!(msg(table.get(r))
            .contains("a region handle was passed where a module handle is expected"));

        table.remove(h).unwrap();
        assert!(msg(table.get(h)).contains("already freed"));
        assert!(table.remove(h).unwrap_err().message.contains("double free"));

        // The index is reused, but the old handle stays invalid.
        let h2 = table.insert(Arc::new(8)).unwrap();
        assert_ne!(h, h2);
        assert!(msg(table.get(h)).contains("already freed"));
        assert_eq!(*table.get(h2).unwrap(), 8);
    }

    #[test]
    fn an_index_whose_generation_would_wrap_is_retired() {
        let table: Table<u32> = Table::new(Kind::Instance);
        let h = table.insert(Arc::new(1)).unwrap();
        table.slots().entries[0].generation = u32::MAX;
        let h = (h & !(((1u64 << GENERATION_BITS) - 1) << INDEX_BITS))
            | (u64::from(u32::MAX) << INDEX_BITS);
        table.remove(h).unwrap();
        let h2 = table.insert(Arc::new(2)).unwrap();
        assert_eq!(h2 & MAX_INDEX as u64, 1, "index 0 was retired");
    }
}
