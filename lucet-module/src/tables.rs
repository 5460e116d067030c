//! The metadata blob: small metadata encoded with postcard, bulk metadata as
//! `#[repr(C)]` arrays that the runtime reads where they lie.
//!
//! ```text
//!  lucet_metadata (aligned to METADATA_ALIGN)
//!  +------------------------------+ 0
//!  | MetadataHeader               |  a Span (offset, byte length) per part below
//!  +------------------------------+
//!  | ModuleData, postcard         |  types, imports, exports, names, segment kinds...
//!  | [FunctionRecord; defined]    |  code length and trap-site range of each function
//!  | [TrapRecord]                 |  every trap site, sorted by offset within a function
//!  | [SegmentRecord; segments]    |  where each data segment's bytes lie in the blob
//!  | segment bytes                |  those not already in the image
//!  +------------------------------+ (page-aligned)
//!  | image of memory 0            |  mapped copy-on-write straight from the file
//!  +------------------------------+
//! ```
//!
//! A module has as many trap sites as memory accesses, divisions and calls: hundreds
//! of thousands in a large program. Decoding them into heap vectors before the first
//! instruction runs made loading slow, so they stay in the file: the signal handler
//! binary-searches the records where they lie. [`Metadata::validate_records`] checks at
//! load where every table and record lies, so that no lookup leaves the blob;
//! [`Metadata::trap_sites_valid`] checks one function's trap records (sortedness,
//! offsets, known trap codes) when a reader first needs them, and
//! [`Metadata::validate`] checks everything at once. Every offset is relative to the blob's first byte, and every record is
//! little-endian, like the only target.

use crate::image::{image_is_dense, plan_memory_image, IMAGE_PAGE};
use crate::{DataIndex, DefinedFuncIndex, Error, FunctionCode, ModuleData, TrapCode, TrapSite};
use std::mem::size_of;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Alignment of the metadata blob in the `.so`: a page, so that the image of memory 0
/// inside it is page-aligned in the file and can be mapped from it.
pub const METADATA_ALIGN: u64 = IMAGE_PAGE;

/// A part of the blob: `len` bytes from `offset`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Span {
    pub offset: u64,
    pub len: u64,
}

/// The first bytes of the blob.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct MetadataHeader {
    /// The postcard-encoded [`ModuleData`], without the parts below.
    pub module_data: Span,
    /// `[FunctionRecord]`, one per defined function.
    pub functions: Span,
    /// `[TrapRecord]`.
    pub trap_sites: Span,
    /// `[SegmentRecord]`, one per data segment.
    pub data_segments: Span,
    /// The initial contents of memory 0 from heap offset `image_heap_offset`, or empty
    /// when the module has none or it would be mostly zeroes (the runtime then builds a
    /// sparse one from the segments).
    pub image: Span,
    pub image_heap_offset: u64,
}

/// The code of one defined function.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FunctionRecord {
    pub code_len: u32,
    /// The function's trap sites are `trap_sites[first_trap..first_trap + trap_count]`.
    pub first_trap: u32,
    pub trap_count: u32,
    pub _reserved: u32,
}

/// One faulting instruction.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct TrapRecord {
    /// From the start of the function's code.
    pub offset: u32,
    /// [`TrapCode::as_u32`].
    pub code: u32,
    /// In the wasm binary; [`TrapRecord::NO_WASM_OFFSET`] when unknown.
    pub wasm_offset: u32,
}

impl TrapRecord {
    pub const NO_WASM_OFFSET: u32 = u32::MAX;

    pub fn site(&self) -> TrapSite {
        TrapSite {
            offset: self.offset,
            code: TrapCode::from_u32(self.code).unwrap_or(TrapCode::Unknown),
            wasm_offset: (self.wasm_offset != Self::NO_WASM_OFFSET).then_some(self.wasm_offset),
        }
    }
}

/// Where a data segment's bytes lie in the blob.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SegmentRecord {
    pub offset: u64,
    pub len: u64,
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::Corrupt(what.into())
}

/// A metadata blob whose tables are read in place.
#[derive(Debug, Clone, Copy)]
pub struct Metadata<'a> {
    pub header: MetadataHeader,
    blob: &'a [u8],
    functions: &'a [FunctionRecord],
    traps: &'a [TrapRecord],
    segments: &'a [SegmentRecord],
}

fn span<'a>(blob: &'a [u8], span: Span, name: &str) -> Result<&'a [u8], Error> {
    let start = usize::try_from(span.offset).ok();
    let end = start.zip(usize::try_from(span.len).ok()).and_then(|(s, l)| s.checked_add(l));
    start.zip(end).and_then(|(s, e)| blob.get(s..e)).ok_or_else(|| {
        corrupt(format!("the {name} ({} bytes at {}) lie outside the {}-byte metadata", span.len, span.offset, blob.len()))
    })
}

fn table<'a, T: FromBytes + Immutable + KnownLayout>(blob: &'a [u8], s: Span, name: &str) -> Result<&'a [T], Error> {
    <[T]>::ref_from_bytes(span(blob, s, name)?).map_err(|_| {
        corrupt(format!("the {name} are misaligned or not a whole number of {}-byte records", size_of::<T>()))
    })
}

impl<'a> Metadata<'a> {
    /// Reads the header and finds the tables; cheap, whatever the module's size. Call
    /// [`Metadata::validate`] (or [`Metadata::validate_records`], and
    /// [`Metadata::trap_sites_valid`] before using a function's trap records) before
    /// trusting the records.
    pub fn parse(blob: &'a [u8]) -> Result<Metadata<'a>, Error> {
        let (header, _) =
            MetadataHeader::read_from_prefix(blob).map_err(|_| corrupt("the metadata is shorter than its header"))?;
        span(blob, header.module_data, "encoded module data")?;
        let image = span(blob, header.image, "image of memory 0")?;
        if !image.is_empty()
            && (header.image.offset % IMAGE_PAGE != 0
                || header.image.len % IMAGE_PAGE != 0
                || header.image_heap_offset % IMAGE_PAGE != 0)
        {
            return Err(corrupt("the image of memory 0 is not page-aligned"));
        }
        Ok(Metadata {
            header,
            blob,
            functions: table(blob, header.functions, "function records")?,
            traps: table(blob, header.trap_sites, "trap records")?,
            segments: table(blob, header.data_segments, "data segment records")?,
        })
    }

    /// The small metadata, decoded. Code lengths, trap sites and segment bytes stay in
    /// the tables (see [`FunctionCode`] and [`crate::DataSegment`]).
    pub fn decode(&self) -> Result<ModuleData, Error> {
        let bytes = span(self.blob, self.header.module_data, "encoded module data")?;
        postcard::from_bytes(bytes).map_err(|e| corrupt(e.to_string()))
    }

    /// Checks every record against `data` (decoded from this blob): those
    /// [`Metadata::validate_records`] checks, and every trap site of every function
    /// ([`Metadata::trap_sites_valid`]). After this, no accessor below can fail.
    pub fn validate(&self, data: &ModuleData) -> Result<(), Error> {
        self.validate_records(data)?;
        for (def, f) in self.functions.iter().enumerate() {
            if self.trap_sites_valid(DefinedFuncIndex::from_u32(def as u32)) {
                continue;
            }
            let mut last = 0;
            for t in self.sites(f).unwrap_or(&[]) {
                if t.offset < last || t.offset >= f.code_len || TrapCode::from_u32(t.code).is_none() {
                    return Err(corrupt(format!(
                        "trap site at offset {:#x} of defined function {def} is unsorted, outside its code or of \
                         unknown code {}",
                        t.offset, t.code
                    )));
                }
                last = t.offset;
            }
        }
        Ok(())
    }

    /// Checks the records that say where things are, against `data` (decoded from this
    /// blob): one function record per defined function, whose trap sites lie in the trap
    /// table, and one segment record per data segment, inside the blob. The trap records
    /// themselves are left to [`Metadata::trap_sites_valid`]: a large module has hundreds
    /// of thousands of them, and a reader that uses only some (the runtime's fault
    /// lookup) can check those when it first needs them. After this, every accessor
    /// below succeeds and stays inside the blob.
    pub fn validate_records(&self, data: &ModuleData) -> Result<(), Error> {
        let defined = data.functions.len().saturating_sub(data.num_imported_funcs());
        if self.functions.len() != defined {
            return Err(corrupt(format!(
                "{} function records for {defined} defined functions",
                self.functions.len()
            )));
        }
        // One pass without early exits; the message is found afterwards.
        let traps = self.traps.len() as u64;
        let inside = self.functions.iter().fold(true, |ok, f| {
            ok & (u64::from(f.first_trap) + u64::from(f.trap_count) <= traps)
        });
        if !inside {
            let def = self.functions.iter().position(|f| self.sites(f).is_none()).unwrap_or_default();
            return Err(corrupt(format!("the trap sites of defined function {def} lie outside the trap table")));
        }
        if self.segments.len() != data.data_segments.len() {
            return Err(corrupt(format!(
                "{} data segment records for {} data segments",
                self.segments.len(),
                data.data_segments.len()
            )));
        }
        // One pass without early exits or messages (a module can have thousands of
        // segments); the message is made only for a file that fails it.
        let blob = self.blob.len() as u64;
        let inside = self.segments.iter().fold(true, |ok, s| ok & s.offset.checked_add(s.len).is_some_and(|e| e <= blob));
        if !inside {
            for (i, s) in self.segments.iter().enumerate() {
                span(self.blob, Span { offset: s.offset, len: s.len }, &format!("bytes of data segment {i}"))?;
            }
        }
        Ok(())
    }

    /// Whether the trap records of defined function `def` are sorted by offset, lie
    /// inside the function's code and have known codes (false for a missing function).
    /// It neither allocates nor locks, so a signal handler may call it.
    pub fn trap_sites_valid(&self, def: DefinedFuncIndex) -> bool {
        let Some(f) = self.function(def) else { return false };
        let Some(sites) = self.sites(f) else { return false };
        let known = TrapCode::ALL.len() as u32;
        // One pass without early exits, which the compiler can vectorise.
        let mut last = 0;
        let mut ok = true;
        for t in sites {
            ok &= (t.offset >= last) & (t.offset < f.code_len) & (t.code < known);
            last = t.offset;
        }
        ok
    }

    fn sites(&self, f: &FunctionRecord) -> Option<&'a [TrapRecord]> {
        let start = f.first_trap as usize;
        self.traps.get(start..start.checked_add(f.trap_count as usize)?)
    }

    pub fn functions(&self) -> &'a [FunctionRecord] {
        self.functions
    }

    pub fn function(&self, def: DefinedFuncIndex) -> Option<&'a FunctionRecord> {
        self.functions.get(def.index())
    }

    /// The trap sites of a defined function, sorted by offset; empty for a bad index.
    pub fn trap_sites(&self, def: DefinedFuncIndex) -> &'a [TrapRecord] {
        self.function(def).and_then(|f| self.sites(f)).unwrap_or(&[])
    }

    /// The bytes of data segment `i`; empty for a bad index.
    pub fn segment(&self, i: DataIndex) -> &'a [u8] {
        let Some(s) = self.segments.get(i.index()) else { return &[] };
        span(self.blob, Span { offset: s.offset, len: s.len }, "").unwrap_or(&[])
    }

    /// The image of memory 0 stored in the blob, if any, with its heap offset.
    pub fn image(&self) -> Option<(u64, &'a [u8])> {
        let bytes = span(self.blob, self.header.image, "").ok()?;
        (!bytes.is_empty()).then_some((self.header.image_heap_offset, bytes))
    }

    /// The whole blob but the image: what the runtime reads, as opposed to maps.
    pub fn len_before_image(&self) -> usize {
        if self.header.image.len == 0 {
            self.blob.len()
        } else {
            self.header.image.offset as usize
        }
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8], align: u64) -> Span {
    out.resize((out.len() as u64).next_multiple_of(align) as usize, 0);
    let offset = out.len() as u64;
    out.extend_from_slice(bytes);
    Span { offset, len: bytes.len() as u64 }
}

impl ModuleData {
    /// The metadata blob of this module, to be placed at a [`METADATA_ALIGN`]-aligned
    /// address: the small metadata encoded, code lengths and trap sites (from
    /// [`FunctionCode`]) and segment bytes in tables, and the image of memory 0 when it
    /// is dense enough to be worth its pages.
    pub fn serialize(&self) -> Vec<u8> {
        let module_data = postcard::to_allocvec(self).expect("serializing plain data into a Vec cannot fail");
        let mut functions = Vec::new();
        let mut traps: Vec<TrapRecord> = Vec::new();
        for code in self.functions.iter().filter_map(|f| f.code.as_ref()) {
            let first_trap = traps.len() as u32;
            let mut sites: Vec<TrapSite> = code.traps.clone();
            sites.sort_by_key(|t| t.offset);
            traps.extend(sites.iter().map(|t| TrapRecord {
                offset: t.offset,
                code: t.code.as_u32(),
                wasm_offset: t.wasm_offset.unwrap_or(TrapRecord::NO_WASM_OFFSET),
            }));
            functions.push(FunctionRecord {
                code_len: code.len,
                first_trap,
                trap_count: traps.len() as u32 - first_trap,
                _reserved: 0,
            });
        }

        let layout = plan_memory_image(self, |i| self.data_segments[i].data.len() as u64);
        let image = layout.filter(|l| {
            let bytes: u64 = l.placements.iter().map(|p| self.data_segments[p.segment].data.len() as u64).sum();
            image_is_dense(l, bytes)
        });
        let image_bytes = image.as_ref().map(|l| {
            let mut bytes = vec![0u8; l.len() as usize];
            for p in &l.placements {
                let at = (p.start - l.start) as usize;
                let data = &self.data_segments[p.segment].data;
                bytes[at..at + data.len()].copy_from_slice(data);
            }
            bytes
        });

        // A segment the image holds unchanged (no later segment overwrote it) is read
        // from the image rather than stored twice.
        let in_image: Vec<Option<u64>> = self
            .data_segments
            .iter()
            .enumerate()
            .map(|(i, seg)| {
                let (l, bytes) = image.as_ref().zip(image_bytes.as_ref())?;
                let p = l.placements.iter().find(|p| p.segment == i)?;
                let at = (p.start - l.start) as usize;
                (bytes[at..at + seg.data.len()] == seg.data[..]).then_some(at as u64)
            })
            .collect();

        let mut out = vec![0u8; size_of::<MetadataHeader>()];
        let mut header = MetadataHeader { module_data: put(&mut out, &module_data, 1), ..Default::default() };
        header.functions = put(&mut out, functions.as_bytes(), 8);
        header.trap_sites = put(&mut out, traps.as_bytes(), 8);
        let mut records = vec![SegmentRecord::default(); self.data_segments.len()];
        header.data_segments = put(&mut out, records.as_bytes(), 8);
        for ((r, seg), at) in records.iter_mut().zip(&self.data_segments).zip(&in_image) {
            if at.is_none() {
                *r = SegmentRecord { offset: out.len() as u64, len: seg.data.len() as u64 };
                out.extend_from_slice(&seg.data);
            }
        }
        if let (Some(l), Some(bytes)) = (&image, &image_bytes) {
            header.image = put(&mut out, bytes, IMAGE_PAGE);
            header.image_heap_offset = l.start;
            for ((r, seg), at) in records.iter_mut().zip(&self.data_segments).zip(&in_image) {
                if let Some(at) = at {
                    *r = SegmentRecord { offset: header.image.offset + at, len: seg.data.len() as u64 };
                }
            }
        }
        out[header.data_segments.offset as usize..][..records.as_bytes().len()].copy_from_slice(records.as_bytes());
        out[..size_of::<MetadataHeader>()].copy_from_slice(header.as_bytes());
        out
    }

    /// Decodes a whole metadata blob, with code lengths, trap sites and segment bytes
    /// copied out of the tables: for tools and tests. The runtime reads the tables in
    /// place instead ([`Metadata`]).
    pub fn deserialize(bytes: &[u8]) -> Result<ModuleData, Error> {
        // The tables are read in place, which needs their alignment; a copy has it.
        let mut words = Vec::new();
        let bytes = if bytes.as_ptr() as usize % 8 == 0 {
            bytes
        } else {
            words.resize(bytes.len().div_ceil(8), 0u64);
            words.as_mut_slice().as_mut_bytes()[..bytes.len()].copy_from_slice(bytes);
            &words.as_slice().as_bytes()[..bytes.len()]
        };
        let meta = Metadata::parse(bytes)?;
        let mut data = meta.decode()?;
        meta.validate(&data)?;
        let mut records = meta.functions().iter();
        for f in data.functions.iter_mut() {
            if let Some(code) = f.code.as_mut() {
                let Some(r) = records.next() else { break };
                *code = FunctionCode {
                    len: r.code_len,
                    traps: meta.sites(r).unwrap_or(&[]).iter().map(TrapRecord::site).collect(),
                };
            }
        }
        for (i, seg) in data.data_segments.iter_mut().enumerate() {
            seg.data = meta.segment(DataIndex::from_u32(i as u32)).to_vec();
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConstExpr, ConstOp, DataSegment, FunctionEntry, MemoryPlan, MemoryType, SegmentKind};

    fn active(offset: i32, data: &[u8]) -> DataSegment {
        let kind = SegmentKind::Active { index: 0, offset: ConstExpr { ops: vec![ConstOp::I32Const(offset)] } };
        DataSegment { kind, data: data.to_vec() }
    }

    fn module(segments: Vec<DataSegment>) -> ModuleData {
        let site = |offset| TrapSite { offset, code: TrapCode::HeapOutOfBounds, wasm_offset: Some(offset + 1) };
        let code = |len, traps| Some(FunctionCode { len, traps });
        let memory = MemoryType { min_pages: 1, max_pages: None, memory64: false, shared: false };
        ModuleData {
            types: vec![Default::default()],
            functions: vec![
                FunctionEntry { type_index: 0, name: None, code: code(16, vec![site(9), site(2)]) },
                FunctionEntry { type_index: 0, name: Some("f".into()), code: code(8, vec![]) },
            ],
            memory_plans: vec![MemoryPlan { memory, reserved_size: 4 << 30, guard_size: 2 << 30 }],
            data_segments: segments,
            ..Default::default()
        }
    }

    /// A copy with the alignment the tables need, as the `.so` gives them.
    fn aligned(blob: &[u8]) -> Vec<u64> {
        let mut words = vec![0u64; blob.len().div_ceil(8)];
        words.as_mut_slice().as_mut_bytes()[..blob.len()].copy_from_slice(blob);
        words
    }

    #[test]
    fn tables_round_trip_and_are_read_in_place() {
        let passive = DataSegment { kind: SegmentKind::Passive, data: b"passive".to_vec() };
        let data = module(vec![active(100, b"hello"), active(102, b"LL"), passive, active(4000, b"")]);
        let blob = data.serialize();
        let words = aligned(&blob);
        let meta = Metadata::parse(&words.as_bytes()[..blob.len()]).unwrap();
        let small = meta.decode().unwrap();
        meta.validate(&small).unwrap();
        // The small part carries no trap sites and no segment bytes.
        assert!(small.functions[0].code.as_ref().unwrap().traps.is_empty());
        assert!(small.data_segments.iter().all(|s| s.data.is_empty()));
        let offsets: Vec<u32> = meta.trap_sites(DefinedFuncIndex::from_u32(0)).iter().map(|t| t.offset).collect();
        assert_eq!(offsets, [2, 9], "sorted by offset");
        assert_eq!(meta.functions()[1].code_len, 8);
        // Dense data: the image is stored, page-aligned, and holds the segments applied
        // in order; the first segment was overwritten, so its bytes are stored apart.
        let (heap_offset, image) = meta.image().expect("an image");
        assert_eq!((heap_offset, image.len()), (0, 4096));
        assert_eq!(meta.header.image.offset % IMAGE_PAGE, 0);
        assert_eq!(&image[100..105], b"heLLo");
        assert_eq!(meta.segment(DataIndex::from_u32(0)), b"hello");
        assert_eq!(meta.segment(DataIndex::from_u32(1)), b"LL");
        assert_eq!(meta.segment(DataIndex::from_u32(2)), b"passive");
        assert_eq!(meta.segment(DataIndex::from_u32(9)), b"");

        let back = ModuleData::deserialize(&blob).unwrap();
        assert_eq!(back.functions[0].code.as_ref().unwrap().traps, {
            let mut t = data.functions[0].code.as_ref().unwrap().traps.clone();
            t.sort_by_key(|t| t.offset);
            t
        });
        for (a, b) in back.data_segments.iter().zip(&data.data_segments) {
            assert_eq!(a.data, b.data);
        }
    }

    #[test]
    fn sparse_data_is_not_stored_as_an_image() {
        let mut data = module(vec![active(0, b"a"), active(60000, b"b")]);
        data.memory_plans[0].memory.min_pages = 1;
        assert!(Metadata::parse(&aligned(&data.serialize()).as_bytes()[..]).unwrap().image().is_some());
        data.memory_plans[0].memory.min_pages = 100;
        let data = ModuleData { data_segments: vec![active(0, b"a"), active(6_000_000, b"b")], ..data };
        let blob = data.serialize();
        let words = aligned(&blob);
        let meta = Metadata::parse(&words.as_bytes()[..blob.len()]).unwrap();
        assert!(meta.image().is_none());
        assert_eq!(meta.segment(DataIndex::from_u32(1)), b"b");
    }

    #[test]
    fn damaged_blobs_are_errors() {
        let blob = module(vec![active(100, b"hello")]).serialize();
        let words = aligned(&blob);
        let bytes = &words.as_bytes()[..blob.len()];
        for len in 0..bytes.len() {
            let _ = ModuleData::deserialize(&bytes[..len]);
        }
        let check = |edit: &dyn Fn(&mut MetadataHeader, &mut Vec<u8>)| {
            let mut copy = bytes.to_vec();
            let mut header = MetadataHeader::read_from_prefix(&copy).unwrap().0;
            edit(&mut header, &mut copy);
            copy[..size_of::<MetadataHeader>()].copy_from_slice(header.as_bytes());
            ModuleData::deserialize(&copy).unwrap_err().to_string()
        };
        assert!(check(&|h, _| h.trap_sites.len += 4).contains("trap records"));
        assert!(check(&|h, _| h.functions.offset = u64::MAX).contains("function records"));
        assert!(check(&|h, _| h.image.offset -= 8).contains("page-aligned"));
        let sites = |h: &MetadataHeader| h.trap_sites.offset as usize;
        // Unsorted sites, a site past its function's code, an unknown code.
        assert!(check(&|h, b| b.swap(sites(h), sites(h) + 12)).contains("unsorted"));
        assert!(check(&|h, b| b[sites(h) + 12] = 200).contains("outside its code"));
        assert!(check(&|h, b| b[sites(h) + 4] = 77).contains("unknown code 77"));
        let first = |h: &MetadataHeader| h.functions.offset as usize + 4;
        assert!(check(&|h, b| b[first(h)] = 9).contains("outside the trap table"));
        // A data segment's bytes past the end of the blob, and a length that wraps.
        let segment = |h: &MetadataHeader| h.data_segments.offset as usize;
        let past = check(&|h, b| b[segment(h) + 8..segment(h) + 16].copy_from_slice(&(1u64 << 40).to_le_bytes()));
        assert!(past.contains("bytes of data segment 0"), "{past}");
        let wraps = check(&|h, b| b[segment(h) + 8..segment(h) + 16].copy_from_slice(&u64::MAX.to_le_bytes()));
        assert!(wraps.contains("bytes of data segment 0"), "{wraps}");
        // The records a reader checks lazily: `validate_records` leaves them alone,
        // `trap_sites_valid` refuses them.
        let mut words = aligned(&blob);
        let unsorted = &mut words.as_mut_slice().as_mut_bytes()[..blob.len()];
        let at = MetadataHeader::read_from_prefix(unsorted).unwrap().0.trap_sites.offset as usize;
        unsorted.copy_within(at..at + 12, at + 12);
        unsorted[at..at + 4].copy_from_slice(&9u32.to_le_bytes());
        let meta = Metadata::parse(unsorted).unwrap();
        let data = meta.decode().unwrap();
        meta.validate_records(&data).unwrap();
        assert!(!meta.trap_sites_valid(DefinedFuncIndex::from_u32(0)));
        assert!(meta.trap_sites_valid(DefinedFuncIndex::from_u32(1)));
        assert!(!meta.trap_sites_valid(DefinedFuncIndex::from_u32(2)));
        assert!(meta.validate(&data).unwrap_err().to_string().contains("unsorted"));
    }
}
