//! The descriptor, read from the file before it is loaded.
//!
//! The descriptor's pointers are not in the file: they are `R_X86_64_RELATIVE`
//! relocations, whose addend is the address (relative to the load address) the dynamic
//! linker will write. Both of lucetc's linkers emit one for each pointer field, and one
//! for each entry of the three code-pointer arrays. Reading the addends gives every
//! address the runtime will use, and each is checked against the segments here, before
//! anything is mapped; after `dlopen`, `load` checks that memory holds exactly these.

use super::elf_check::Relocations;
use super::elf_file::ElfFile;
use super::Refusal;
use lucet_module::{Metadata, ModuleData, ModuleDescriptor, FORMAT_VERSION, MAGIC, MODULE_SYMBOL};
use object::elf;
use object::LittleEndian as LE;
use std::mem::{offset_of, size_of};

/// The addresses a checked descriptor leads to, relative to the load address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub descriptor: u64,
    pub metadata: u64,
    pub metadata_len: u64,
    pub arrays: [CodeArray; 3],
}

/// One of the descriptor's arrays of code pointers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeArray {
    pub name: &'static str,
    pub at: u64,
    /// The code address each entry holds once relocated.
    pub entries: Vec<u64>,
}

impl Layout {
    pub fn functions(&self) -> &[u64] {
        &self.arrays[0].entries
    }
    pub fn trampolines(&self) -> &[u64] {
        &self.arrays[1].entries
    }
    pub fn adapters(&self) -> &[u64] {
        &self.arrays[2].entries
    }
}

fn field(desc: &[u8], offset: usize) -> u64 {
    desc.get(offset..offset + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// The descriptor's bytes in the file.
fn descriptor_bytes<'a>(file: &ElfFile<'a>, symbol: usize, len: u64) -> Result<&'a [u8], Refusal> {
    let at = file.symbols[symbol].st_value.get(LE);
    file.bytes_at(at, len).ok_or_else(|| {
        Refusal::Malformed(format!("the `{MODULE_SYMBOL}` symbol at {at:#x} is not backed by the file's bytes"))
    })
}

/// The magic and format version: whether this is a module, and one of this runtime's format.
pub(crate) fn check_identity(file: &ElfFile<'_>, symbol: usize) -> Result<(), Refusal> {
    let end = offset_of!(ModuleDescriptor, format_version) + size_of::<u32>();
    let desc = descriptor_bytes(file, symbol, end as u64)?;
    let magic = offset_of!(ModuleDescriptor, magic);
    if desc[magic..magic + MAGIC.len()] != MAGIC {
        return Err(Refusal::NotLucet);
    }
    let version = u32::from_le_bytes(desc[end - 4..end].try_into().unwrap_or_default());
    if version != FORMAT_VERSION {
        return Err(Refusal::Version(version));
    }
    Ok(())
}

/// Checks the descriptor and the arrays it points to, and returns where everything is.
pub(crate) fn check(file: &ElfFile<'_>, symbol: usize, relocs: &Relocations<'_>) -> Result<Layout, Refusal> {
    let size = size_of::<ModuleDescriptor>() as u64;
    let desc = descriptor_bytes(file, symbol, size)?;
    let base = file.symbols[symbol].st_value.get(LE);
    if !file.segment_holding(base, size).is_some_and(|s| s.writable()) {
        return Err(Refusal::Malformed(format!("`{MODULE_SYMBOL}` does not lie in a writable segment")));
    }
    let reserved = offset_of!(ModuleDescriptor, _reserved);
    if desc[reserved..reserved + 4] != [0; 4] {
        return Err(Refusal::Malformed("the descriptor's reserved field is not zero".into()));
    }

    // Exactly the four pointer fields are relocated, each by a relative relocation.
    let pointers = [
        offset_of!(ModuleDescriptor, metadata_ptr),
        offset_of!(ModuleDescriptor, functions_ptr),
        offset_of!(ModuleDescriptor, trampolines_ptr),
        offset_of!(ModuleDescriptor, adapters_ptr),
    ];
    let pointer = |offset: usize, name: &str| -> Result<u64, Refusal> {
        match relocs.at(base + offset as u64) {
            Some(r) if r.r_type == elf::R_X86_64_RELATIVE => Ok(r.addend as u64),
            _ => Err(Refusal::Forbidden(format!(
                "the descriptor's {name} pointer is not filled by a relative relocation, so it cannot point into the \
                 file"
            ))),
        }
    };
    let inside = relocs.from(base).take_while(|r| r.offset < base + size);
    let (count, others) = inside.fold((0, false), |(n, other), r| {
        (n + 1, other || !pointers.iter().any(|&p| r.offset == base + p as u64))
    });
    if count != pointers.len() || others {
        return Err(Refusal::Forbidden("relocations write to the descriptor's other fields".into()));
    }

    let metadata = pointer(pointers[0], "metadata")?;
    let metadata_len = field(desc, offset_of!(ModuleDescriptor, metadata_len));
    let read_only = file.segment_holding(metadata, metadata_len).is_some_and(|s| !s.writable());
    if metadata_len == 0 || !read_only || file.bytes_at(metadata, metadata_len).is_none() {
        return Err(Refusal::Forbidden(format!(
            "the descriptor's metadata ({metadata_len:#x} bytes at {metadata:#x}) lies outside the file's read-only \
             segments"
        )));
    }

    let array = |name: &'static str, ptr: usize, len: usize| -> Result<CodeArray, Refusal> {
        let at = pointer(ptr, name)?;
        let n = field(desc, len);
        // lucetc gives an empty array one zero entry, so the pointer is always valid.
        let bytes = n.max(1).checked_mul(8);
        if at % 8 != 0 || !bytes.is_some_and(|b| file.segment_holding(at, b).is_some_and(|s| s.writable())) {
            return Err(Refusal::Forbidden(format!(
                "the descriptor's {name} array ({n} entries at {at:#x}) lies outside the file's writable segments"
            )));
        }
        // What lucetc writes: relative relocations fill the array, all pointing into
        // the code segment that holds the first entry. Checked in one tight pass; any
        // other array goes through the loop below, which names what is wrong.
        let code = relocs.first_relative_addend(at).and_then(|c| file.segment_holding(c, 1)).filter(|s| s.executable());
        // The file bytes of that segment: what the entry-by-entry check below asks of
        // the one segment that holds an entry, as segments do not overlap.
        let fast = code.and_then(|x| relocs.relative_run(at, n as usize, x.vaddr, x.vaddr.saturating_add(x.filesz)));
        if let Some(entries) = fast {
            return Ok(CodeArray { name, at, entries });
        }
        // Each entry needs a relocation of its own, so the file's relocation count, not
        // the length the descriptor claims and nothing has checked yet, bounds the room
        // worth reserving.
        let mut entries = Vec::with_capacity(relocs.len().min(usize::try_from(n).unwrap_or(usize::MAX)));
        // The relocations are sorted and never overlap, so the array's entries are
        // filled by consecutive ones: walk them rather than search for each entry.
        let mut filling = relocs.from(at);
        // Every entry normally points into the one code segment.
        let mut near = 0;
        for i in 0..n {
            let code = match filling.next() {
                Some(r) if r.offset == at + 8 * i && r.r_type == elf::R_X86_64_RELATIVE => r.addend as u64,
                _ => {
                    return Err(Refusal::Forbidden(format!(
                        "entry {i} of the descriptor's {name} array is not filled by a relative relocation"
                    )))
                }
            };
            // `holds_file_bytes` is what `bytes_at` asks of the one segment that holds
            // the address (segments do not overlap).
            let segment = file.segment_holding_near(&mut near, code, 1);
            if !segment.is_some_and(|s| s.executable() && s.holds_file_bytes(code, 1)) {
                return Err(Refusal::Forbidden(format!(
                    "entry {i} of the descriptor's {name} array points at {code:#x}, outside the file's executable \
                     segments"
                )));
            }
            entries.push(code);
        }
        Ok(CodeArray { name, at, entries })
    };
    let arrays = [
        array("functions", pointers[1], offset_of!(ModuleDescriptor, functions_len))?,
        array("trampolines", pointers[2], offset_of!(ModuleDescriptor, trampolines_len))?,
        array("adapters", pointers[3], offset_of!(ModuleDescriptor, adapters_len))?,
    ];
    Ok(Layout { descriptor: base, metadata, metadata_len, arrays })
}

/// Where the last function's code ends, if every function's code lies in the file
/// bytes of the executable segment that holds the first, each after the one before:
/// what the function-by-function check in `check_code` accepts, in one tight pass.
fn functions_in_one_code_segment(file: &ElfFile<'_>, starts: &[u64], tables: &Metadata<'_>) -> Option<u64> {
    let records = tables.functions();
    let first = *starts.first()?;
    if records.len() != starts.len() {
        return None;
    }
    let x = file.segment_holding(first, 1).filter(|s| s.executable())?;
    let (low, high) = (x.vaddr, x.vaddr.saturating_add(x.filesz));
    let mut in_order = true;
    let mut end = 0u64;
    for (&start, f) in starts.iter().zip(records) {
        in_order &= start >= end;
        // Saturating, so that `end` never decreases: in order, every function lies
        // between the first one's start and the last one's end.
        end = start.saturating_add(u64::from(f.code_len));
    }
    (in_order && first >= low && end <= high).then_some(end)
}

/// Checks the code addresses against the metadata: one per defined function and two per
/// type, each function's code inside an executable segment, and everything in the order
/// lucetc lays it out (functions by index, then trampolines, then adapters, none
/// overlapping). A descriptor whose arrays were swapped or shifted fails this.
pub(crate) fn check_code(file: &ElfFile<'_>, layout: &Layout, data: &ModuleData, tables: &Metadata<'_>) -> Result<(), Refusal> {
    let n_imported = data.num_imported_funcs();
    let n_defined = data.functions.len().saturating_sub(n_imported);
    let (f, t, a) = (layout.functions().len(), layout.trampolines().len(), layout.adapters().len());
    if f != n_defined || t != data.types.len() || a != data.types.len() {
        return Err(Refusal::Inconsistent(format!(
            "the descriptor lists {f} functions, {t} trampolines and {a} adapters, but the metadata describes \
             {n_defined} defined functions and {} types; the file is corrupt, recompile it",
            data.types.len()
        )));
    }
    let fast = functions_in_one_code_segment(file, layout.functions(), tables);
    let mut end = fast.unwrap_or(0);
    let mut near = 0;
    for (def, &start) in layout.functions().iter().enumerate().skip(if fast.is_some() { f } else { 0 }) {
        let index = n_imported + def;
        let len = tables.functions().get(def).map_or(0, |f| u64::from(f.code_len));
        // As in `check`: the one segment holding the code must map it from the file.
        let segment = file.segment_holding_near(&mut near, start, len);
        if !segment.is_some_and(|s| s.executable() && s.holds_file_bytes(start, len)) {
            return Err(Refusal::Forbidden(format!(
                "the code of function {index} ({len:#x} bytes at {start:#x}) lies outside the file's executable \
                 segments"
            )));
        }
        if start < end {
            return Err(Refusal::Forbidden(format!("the code of function {index} overlaps the function before it")));
        }
        end = start + len;
    }
    for array in &layout.arrays[1..] {
        // One pass without early exits; the entry is found afterwards.
        let mut in_order = true;
        let mut next = end;
        for &at in &array.entries {
            in_order &= at >= next;
            next = at.saturating_add(1);
        }
        if !in_order {
            let mut next = end;
            let i = array.entries.iter().position(|&at| std::mem::replace(&mut next, at.saturating_add(1)) > at);
            let i = i.unwrap_or_default();
            return Err(Refusal::Forbidden(format!(
                "entry {i} of the descriptor's {} array points into code that comes before it",
                array.name
            )));
        }
        end = next;
    }
    Ok(())
}
