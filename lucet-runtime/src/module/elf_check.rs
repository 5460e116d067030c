//! What a file may ask of the dynamic linker.
//!
//! A file from lucetc asks for little: map three or four segments, apply relative
//! relocations and, for libcalls, bind a few libm and libc functions. Much of what else the
//! dynamic linker offers runs code, or changes the host, before lucet could look at the
//! module: constructors and destructors, IFUNC resolvers, audit libraries, dependencies
//! with constructors of their own, an executable stack for every thread, relocations
//! that write outside the object or into tables the dynamic linker is still reading.
//! Everything outside what lucetc's two linkers (`--linker builtin` and `--linker
//! system`) write is refused, by name.

use super::elf_file::{ElfFile, RELA_SIZE};
use super::Refusal;
use lucet_module::{LIBCALLS, LIBCALL_LIBRARIES, MODULE_SYMBOL};
use object::elf;
use object::pod;
use object::LittleEndian as LE;

fn forbidden(what: impl Into<String>) -> Refusal {
    Refusal::Forbidden(what.into())
}

fn malformed(what: impl Into<String>) -> Refusal {
    Refusal::Malformed(what.into())
}

const PAGE: u64 = 4096;

/// A dynamic relocation that passed the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reloc {
    pub offset: u64,
    pub r_type: u32,
    pub addend: i64,
}

impl Reloc {
    fn of(r: &elf::Rela64<LE>) -> Reloc {
        Reloc { offset: r.r_offset.get(LE), r_type: r.r_type(LE, false), addend: r.r_addend.get(LE) }
    }
}

/// The checked relocations, in increasing order of the address they write, none
/// overlapping another.
pub(crate) enum Relocations<'a> {
    /// The file's own table, when it is already in that order, as lucetc's linkers
    /// write it for a module without libcalls: read where it lies, with nothing copied.
    /// Every offset is a multiple of 8 and at least 8 above the one before it (both
    /// ways of accepting a table in place check that), which `relative_run` relies on.
    /// `all_relative`: every relocation was found to be `R_X86_64_RELATIVE`.
    InPlace { table: &'a [elf::Rela64<LE>], all_relative: bool },
    /// A sorted copy of any other table.
    Sorted(Vec<Reloc>),
}

impl Relocations<'_> {
    pub fn len(&self) -> usize {
        match self {
            Relocations::InPlace { table, .. } => table.len(),
            Relocations::Sorted(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> Reloc {
        match self {
            Relocations::InPlace { table, .. } => Reloc::of(&table[i]),
            Relocations::Sorted(v) => v[i],
        }
    }

    /// The relocations that write at `offset` or above, in order.
    pub fn from(&self, offset: u64) -> impl Iterator<Item = Reloc> + '_ {
        let first = match self {
            Relocations::InPlace { table, .. } => table.partition_point(|r| r.r_offset.get(LE) < offset),
            Relocations::Sorted(v) => v.partition_point(|r| r.offset < offset),
        };
        (first..self.len()).map(|i| self.get(i))
    }

    /// The relocation that writes the eight bytes at `offset`, if any.
    pub fn at(&self, offset: u64) -> Option<Reloc> {
        self.from(offset).next().filter(|r| r.offset == offset)
    }

    /// The addends of `n` relative relocations that fill the consecutive eight-byte
    /// words from `at`, if the table is in place, holds exactly those, and every addend
    /// lies in `[low, high)`: what lucetc writes for each of the descriptor's arrays,
    /// checked in one pass without early exits. `None` says nothing about the file; the
    /// caller then looks at each entry.
    pub fn relative_run(&self, at: u64, n: usize, low: u64, high: u64) -> Option<Vec<u64>> {
        let &Relocations::InPlace { table, all_relative } = self else { return None };
        let first = table.partition_point(|r| r.r_offset.get(LE) < at);
        let run = table.get(first..first.checked_add(n)?)?;
        // The offsets of a table in place are aligned and each at least 8 above the one
        // before, so `n` of them fill the words from `at` one after another exactly
        // when the first writes at `at` and the last at `at + 8 (n - 1)`.
        if let (Some(a), Some(b)) = (run.first(), run.last()) {
            let last = at.checked_add(8 * (n as u64 - 1))?;
            if a.r_offset.get(LE) != at || b.r_offset.get(LE) != last {
                return None;
            }
        }
        let relative = u64::from(elf::R_X86_64_RELATIVE);
        if !all_relative && run.iter().fold(0, |other, r| other | (r.r_info.get(LE) ^ relative)) != 0 {
            return None;
        }
        let (mut lowest, mut highest) = (u64::MAX, 0);
        // Collected from an iterator of known length, so without a capacity check per entry.
        let addends: Vec<u64> = run
            .iter()
            .map(|r| {
                let addend = r.r_addend.get(LE) as u64;
                lowest = lowest.min(addend);
                highest = highest.max(addend);
                addend
            })
            .collect();
        (n == 0 || (lowest >= low && highest < high)).then_some(addends)
    }

    /// The addend of the relocation that fills the word at `at`, if the table is in
    /// place and it is a relative one.
    pub fn first_relative_addend(&self, at: u64) -> Option<u64> {
        let Relocations::InPlace { table, .. } = self else { return None };
        let r = table.get(table.partition_point(|r| r.r_offset.get(LE) < at))?;
        (r.r_offset.get(LE) == at && r.r_info.get(LE) == u64::from(elf::R_X86_64_RELATIVE))
            .then(|| r.r_addend.get(LE) as u64)
    }
}

/// Whether every relocation of `entries` is what lucetc writes for a module without
/// libcalls: relative (no symbol), aligned, writing into the writable segment that
/// holds the first one and not into the dynamic section, each above the one before.
/// The loop over the table checks only the type, the alignment and the order, without
/// early exits; the order then puts every relocation between the first and the last,
/// so the segment is checked for those two, and the dynamic section against the one
/// relocation a search of the sorted table finds next to it. `false` says nothing about
/// the file; the caller then checks each relocation and names what is wrong. Only once
/// the segments are checked not to overlap, so that the segment found is the one
/// `segment_holding` finds.
fn plain_relative_table(file: &ElfFile<'_>, entries: &[elf::Rela64<LE>]) -> bool {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else { return true };
    let Some(w) = file.segment_holding(first.r_offset.get(LE), 8).filter(|s| s.writable()) else { return false };
    if !w.holds(last.r_offset.get(LE), 8) {
        return false;
    }
    let relative = u64::from(elf::R_X86_64_RELATIVE);
    // Any bit set: a relocation of another type, or at an unaligned offset.
    let mut stray = 0;
    let mut in_order = true;
    let mut next_free = 0u64;
    for r in entries {
        let offset = r.r_offset.get(LE);
        stray |= (r.r_info.get(LE) ^ relative) | (offset % 8);
        in_order &= offset >= next_free;
        // Saturating, so that the offsets never decrease: all lie between the first and
        // the last, inside `w`.
        next_free = offset.saturating_add(8);
    }
    if stray != 0 || !in_order {
        return false;
    }
    // Sorted: the first relocation that ends above the dynamic section's start must
    // begin at or above its end.
    let (dyn_start, dyn_end) = (file.dynamic_vaddr, file.dynamic_vaddr.saturating_add(file.dynamic_size));
    let i = entries.partition_point(|r| r.r_offset.get(LE).saturating_add(8) <= dyn_start);
    match entries.get(i) {
        Some(r) => r.r_offset.get(LE) >= dyn_end,
        None => true,
    }
}

/// Runs every check on the parsed file, whose `lucet_module` symbol is `descriptor`,
/// and returns its relocations sorted by the address they write.
pub(crate) fn check<'a>(file: &ElfFile<'a>, descriptor: usize) -> Result<Relocations<'a>, Refusal> {
    check_dynamic_tags(file)?;
    check_header(file)?;
    check_segments(file)?;
    for &(name, vaddr, len) in &file.tables {
        read_only(file, name, vaddr, len)?;
    }
    check_symbols(file, descriptor)?;
    check_versions(file, descriptor)?;
    check_relocations(file)
}

/// The bytes of a table the dynamic linker reads while relocating: in a segment no
/// relocation can write to.
fn read_only<'a>(file: &ElfFile<'a>, name: &str, vaddr: u64, len: u64) -> Result<&'a [u8], Refusal> {
    let bytes = file
        .bytes_at(vaddr, len)
        .ok_or_else(|| malformed(format!("{name} ({len:#x} bytes at {vaddr:#x}) lies outside the loaded segments")))?;
    if file.segment_holding(vaddr, len).is_some_and(|s| s.writable()) {
        return Err(forbidden(format!(
            "{name} lies in a writable segment, where relocations could change it while the dynamic linker reads it"
        )));
    }
    Ok(bytes)
}

fn tag_name(tag: u64) -> String {
    let name = match tag as i64 {
        elf::DT_NEEDED => "DT_NEEDED",
        elf::DT_PLTRELSZ => "DT_PLTRELSZ",
        elf::DT_PLTGOT => "DT_PLTGOT",
        elf::DT_HASH => "DT_HASH",
        elf::DT_STRTAB => "DT_STRTAB",
        elf::DT_SYMTAB => "DT_SYMTAB",
        elf::DT_RELA => "DT_RELA",
        elf::DT_RELASZ => "DT_RELASZ",
        elf::DT_RELAENT => "DT_RELAENT",
        elf::DT_STRSZ => "DT_STRSZ",
        elf::DT_SYMENT => "DT_SYMENT",
        elf::DT_INIT => "DT_INIT",
        elf::DT_FINI => "DT_FINI",
        elf::DT_SONAME => "DT_SONAME",
        elf::DT_RPATH => "DT_RPATH",
        elf::DT_SYMBOLIC => "DT_SYMBOLIC",
        elf::DT_REL => "DT_REL",
        elf::DT_RELSZ => "DT_RELSZ",
        elf::DT_RELENT => "DT_RELENT",
        elf::DT_PLTREL => "DT_PLTREL",
        elf::DT_DEBUG => "DT_DEBUG",
        elf::DT_TEXTREL => "DT_TEXTREL",
        elf::DT_JMPREL => "DT_JMPREL",
        elf::DT_BIND_NOW => "DT_BIND_NOW",
        elf::DT_INIT_ARRAY => "DT_INIT_ARRAY",
        elf::DT_FINI_ARRAY => "DT_FINI_ARRAY",
        elf::DT_INIT_ARRAYSZ => "DT_INIT_ARRAYSZ",
        elf::DT_FINI_ARRAYSZ => "DT_FINI_ARRAYSZ",
        elf::DT_RUNPATH => "DT_RUNPATH",
        elf::DT_FLAGS => "DT_FLAGS",
        elf::DT_PREINIT_ARRAY => "DT_PREINIT_ARRAY",
        elf::DT_PREINIT_ARRAYSZ => "DT_PREINIT_ARRAYSZ",
        elf::DT_GNU_HASH => "DT_GNU_HASH",
        elf::DT_AUDIT => "DT_AUDIT",
        elf::DT_DEPAUDIT => "DT_DEPAUDIT",
        elf::DT_VERSYM => "DT_VERSYM",
        elf::DT_RELACOUNT => "DT_RELACOUNT",
        elf::DT_RELCOUNT => "DT_RELCOUNT",
        elf::DT_FLAGS_1 => "DT_FLAGS_1",
        elf::DT_VERDEF => "DT_VERDEF",
        elf::DT_VERDEFNUM => "DT_VERDEFNUM",
        elf::DT_VERNEED => "DT_VERNEED",
        elf::DT_VERNEEDNUM => "DT_VERNEEDNUM",
        elf::DT_AUXILIARY => "DT_AUXILIARY",
        elf::DT_FILTER => "DT_FILTER",
        _ => return format!("the dynamic tag {tag:#x}"),
    };
    name.to_string()
}

fn check_dynamic_tags(file: &ElfFile<'_>) -> Result<(), Refusal> {
    // d_tag is a signed 64-bit field; the constants are written that way too.
    // Code first: that is what the checks exist for, and what a crafted file is after.
    for &(tag, _) in &file.dynamic {
        let what = match tag as i64 {
            elf::DT_INIT
            | elf::DT_INIT_ARRAY
            | elf::DT_INIT_ARRAYSZ
            | elf::DT_PREINIT_ARRAY
            | elf::DT_PREINIT_ARRAYSZ => "code the dynamic linker runs while loading the file",
            elf::DT_FINI | elf::DT_FINI_ARRAY | elf::DT_FINI_ARRAYSZ => {
                "code the dynamic linker runs while unloading the file"
            }
            elf::DT_AUDIT | elf::DT_DEPAUDIT => "a library the dynamic linker loads to audit the process",
            elf::DT_AUXILIARY | elf::DT_FILTER => "a library the dynamic linker loads in the file's place",
            elf::DT_RPATH | elf::DT_RUNPATH => "directories the dynamic linker would search for libraries",
            elf::DT_TEXTREL => "relocations that write into the file's code",
            _ => continue,
        };
        return Err(forbidden(format!("the file has {}: {what}", tag_name(tag))));
    }
    // Each tag the match below lets through at most once, so no more than their number
    // (16) are ever seen: a list on the stack.
    let mut seen = [0u64; 16];
    let mut n_seen = 0;
    for &(tag, value) in &file.dynamic {
        let t = tag as i64;
        match t {
            elf::DT_NEEDED => {
                let name = file.string(value)?;
                if !LIBCALL_LIBRARIES.iter().any(|l| l.as_bytes() == name) {
                    return Err(forbidden(format!(
                        "the file has DT_NEEDED `{}`: a library the dynamic linker would load, running its \
                         constructors; modules only need {} (for libcalls)",
                        String::from_utf8_lossy(name),
                        LIBCALL_LIBRARIES.join(" and ")
                    )));
                }
                continue;
            }
            elf::DT_FLAGS => {
                if value & u64::from(elf::DF_TEXTREL) != 0 {
                    return Err(forbidden("DT_FLAGS has DF_TEXTREL: relocations that write into the file's code"));
                }
                if value & !u64::from(elf::DF_BIND_NOW) != 0 {
                    return Err(forbidden(format!("DT_FLAGS has the flags {value:#x}, beyond DF_BIND_NOW")));
                }
            }
            elf::DT_FLAGS_1 if value & !u64::from(elf::DF_1_NOW) != 0 => {
                return Err(forbidden(format!("DT_FLAGS_1 has the flags {value:#x}, beyond DF_1_NOW")));
            }
            elf::DT_HASH
            | elf::DT_GNU_HASH
            | elf::DT_STRTAB
            | elf::DT_SYMTAB
            | elf::DT_STRSZ
            | elf::DT_SYMENT
            | elf::DT_RELA
            | elf::DT_RELASZ
            | elf::DT_RELAENT
            | elf::DT_RELACOUNT
            | elf::DT_VERSYM
            | elf::DT_VERNEED
            | elf::DT_VERNEEDNUM
            | elf::DT_FLAGS_1
            | elf::DT_BIND_NOW => {}
            _ => {
                return Err(forbidden(format!("the file has {} ({tag:#x}), which lucetc never writes", tag_name(tag))))
            }
        }
        if seen[..n_seen].contains(&tag) || n_seen == seen.len() {
            return Err(malformed(format!("{} appears twice in the dynamic section", tag_name(tag))));
        }
        seen[n_seen] = tag;
        n_seen += 1;
    }
    let rela = [elf::DT_RELA, elf::DT_RELASZ, elf::DT_RELAENT].map(|t| file.dynamic_value(t));
    match rela {
        [None, None, None] => {}
        [Some(_), Some(_), Some(RELA_SIZE)] => {}
        _ => return Err(malformed("DT_RELA, DT_RELASZ and DT_RELAENT (24) do not come together")),
    }
    if file.dynamic_value(elf::DT_VERNEED).is_some() != file.dynamic_value(elf::DT_VERNEEDNUM).is_some() {
        return Err(malformed("DT_VERNEED and DT_VERNEEDNUM do not come together"));
    }
    Ok(())
}

fn check_header(file: &ElfFile<'_>) -> Result<(), Refusal> {
    let h = file.header;
    let ident = &h.e_ident;
    if ident.version != elf::EV_CURRENT
        || !matches!(ident.os_abi, elf::ELFOSABI_NONE | elf::ELFOSABI_GNU)
        || ident.abi_version != 0
        || ident.padding.iter().any(|&b| b != 0)
        || h.e_version.get(LE) != u32::from(elf::EV_CURRENT)
        || h.e_ehsize.get(LE) as usize != std::mem::size_of::<elf::FileHeader64<LE>>()
        || h.e_flags.get(LE) != 0
    {
        return Err(malformed("unexpected values in the ELF header's identification, version, size or flags"));
    }
    // The dynamic linker needs no section headers, but lucetc always writes them last:
    // a file whose section headers are missing or run past its end was cut short.
    let count = h.e_shnum.get(LE) as usize;
    let size = std::mem::size_of::<elf::SectionHeader64<LE>>();
    let sections = file
        .read(h.e_shoff.get(LE), (count * size) as u64)
        .filter(|_| count > 0 && h.e_shentsize.get(LE) as usize == size)
        .and_then(|b| pod::slice_from_bytes::<elf::SectionHeader64<LE>>(b, count).ok())
        .ok_or_else(|| malformed("the section headers are missing or lie past the end of the file (is it truncated?)"))?
        .0;
    for s in sections {
        let end = s.sh_offset.get(LE).checked_add(s.sh_size.get(LE));
        if s.sh_type.get(LE) != elf::SHT_NOBITS && !matches!(end, Some(e) if e <= file.bytes.len() as u64) {
            return Err(malformed("a section lies past the end of the file (is it truncated?)"));
        }
    }
    Ok(())
}

fn check_segments(file: &ElfFile<'_>) -> Result<(), Refusal> {
    let mut stack = None;
    let mut relro = 0;
    for o in &file.others {
        let placed = |o: &super::elf_file::OtherSegment| o.memsz == 0 || file.bytes_at(o.vaddr, o.memsz).is_some();
        match o.p_type {
            elf::PT_NULL => {}
            elf::PT_DYNAMIC => {
                if !file.segment_holding(o.vaddr, o.memsz).is_some_and(|s| s.writable()) {
                    // The dynamic linker adds the load address to its entries in place.
                    return Err(malformed("the dynamic section does not lie in a writable segment"));
                }
            }
            elf::PT_GNU_STACK => {
                if stack.replace(o.flags).is_some() {
                    return Err(malformed("two PT_GNU_STACK headers"));
                }
            }
            elf::PT_GNU_RELRO => {
                relro += 1;
                if relro > 1 || !file.segment_holding(o.vaddr, o.memsz).is_some_and(|s| s.writable()) {
                    return Err(malformed("the PT_GNU_RELRO range does not lie in one writable segment"));
                }
            }
            elf::PT_NOTE | elf::PT_GNU_EH_FRAME | elf::PT_GNU_PROPERTY => {
                if !placed(o) {
                    return Err(malformed(format!("program header type {:#x} lies outside the file", o.p_type)));
                }
            }
            elf::PT_TLS => return Err(forbidden("the file has thread-local storage (PT_TLS)")),
            elf::PT_INTERP => return Err(forbidden("the file has PT_INTERP: it is a program, not a shared object")),
            t => {
                return Err(forbidden(format!(
                    "the file has a program header of type {t:#x}, which lucetc never writes"
                )))
            }
        }
    }
    match stack {
        Some(flags) if flags & elf::PF_X != 0 => {
            return Err(forbidden(
                "the file asks for an executable stack (PT_GNU_STACK with PF_X), which the dynamic linker would \
                 give every thread of the host",
            ))
        }
        Some(_) => {}
        None => {
            return Err(forbidden(
                "the file has no PT_GNU_STACK header, so the dynamic linker would give every thread of the host \
                 an executable stack",
            ))
        }
    }
    let mut end_page = 0;
    for (i, s) in file.segments.iter().enumerate() {
        if s.flags & !(elf::PF_R | elf::PF_W | elf::PF_X) != 0 || s.flags & elf::PF_R == 0 {
            return Err(malformed(format!("PT_LOAD segment {i} has the flags {:#x}", s.flags)));
        }
        if s.writable() && s.executable() {
            return Err(forbidden(format!("PT_LOAD segment {i} is both writable and executable")));
        }
        if s.align < PAGE || !s.align.is_power_of_two() || s.vaddr % s.align != s.offset % s.align {
            return Err(malformed(format!("PT_LOAD segment {i} is not aligned as the dynamic linker requires")));
        }
        // The dynamic linker maps whole pages; two segments sharing one would let the
        // second's mapping replace the first's bytes.
        let start_page = s.vaddr - s.vaddr % PAGE;
        if (i > 0 && start_page < end_page) || s.vaddr + s.memsz > 1 << 47 {
            return Err(malformed(format!("PT_LOAD segment {i} overlaps the one before it or is out of order")));
        }
        end_page = (s.vaddr + s.memsz).next_multiple_of(PAGE);
        // Each byte of the file is loaded at most once: lucetc's linkers lay the
        // segments out in file order, and a segment mapping bytes another one maps
        // (its headers, say) as its code would load something other than what was
        // checked as code.
        if i > 0 && s.filesz > 0 {
            let prev = file.segments[..i].iter().rev().find(|p| p.filesz > 0);
            if prev.is_some_and(|p| s.offset < p.offset + p.filesz) {
                return Err(malformed(format!("PT_LOAD segment {i} maps file bytes the segment before it maps")));
            }
        }
    }
    let first = file.segments[0].vaddr;
    if end_page - (first - first % PAGE) > 1 << 32 {
        return Err(malformed("the segments span more than 4 GiB"));
    }
    Ok(())
}

fn check_symbols(file: &ElfFile<'_>, descriptor: usize) -> Result<(), Refusal> {
    for (i, s) in file.symbols.iter().enumerate().skip(1) {
        // Made only for a message: a file that passes has no use for it.
        let name = || file.symbol_name(i);
        let shndx = s.st_shndx.get(LE);
        match (s.st_type(), s.st_bind()) {
            (elf::STT_GNU_IFUNC, _) => {
                return Err(forbidden(format!(
                    "the dynamic symbol `{}` is an IFUNC, whose resolver the dynamic linker runs while \
                     loading the file",
                    name()
                )))
            }
            (elf::STT_TLS, _) => return Err(forbidden(format!("the dynamic symbol `{}` is thread-local", name()))),
            (_, elf::STB_GNU_UNIQUE) => {
                return Err(forbidden(format!("the dynamic symbol `{}` is unique across the process", name())))
            }
            _ => {}
        }
        if shndx == elf::SHN_UNDEF {
            let kind_ok = matches!(s.st_type(), elf::STT_NOTYPE | elf::STT_FUNC)
                && matches!(s.st_bind(), elf::STB_GLOBAL | elf::STB_WEAK);
            let libcall =
                file.string(u64::from(s.st_name.get(LE))).is_ok_and(|n| LIBCALLS.iter().any(|l| l.as_bytes() == n));
            if !libcall || !kind_ok {
                return Err(forbidden(format!(
                    "the file needs the symbol `{}` from another library; modules only call the libcalls {}",
                    name(),
                    LIBCALLS.join(", ")
                )));
            }
        } else if i != descriptor {
            return Err(forbidden(format!(
                "the file defines the dynamic symbol `{}` besides `{MODULE_SYMBOL}`; a symbol named like one of \
                 the host's (`malloc`, `memcpy`, ...) could take its place",
                name()
            )));
        } else if s.st_type() != elf::STT_OBJECT
            || s.st_bind() != elf::STB_GLOBAL
            || !matches!(s.st_visibility(), elf::STV_DEFAULT | elf::STV_PROTECTED)
            || shndx >= elf::SHN_LORESERVE
            || s.st_size.get(LE) != std::mem::size_of::<lucet_module::ModuleDescriptor>() as u64
        {
            return Err(malformed(format!(
                "`{MODULE_SYMBOL}` is not a global data symbol of the size of a descriptor, relative to the file"
            )));
        }
    }
    Ok(())
}

/// Symbol versions: the dynamic linker indexes its own arrays with the values it reads here.
fn check_versions(file: &ElfFile<'_>, descriptor: usize) -> Result<(), Refusal> {
    // The indices the requirements define, besides 0 and 1 (local and global), which
    // every file has; empty, and not allocated, for a file without requirements.
    let mut indices: Vec<u16> = Vec::new();
    if let Some(mut at) = file.dynamic_value(elf::DT_VERNEED) {
        let count = file.dynamic_value(elf::DT_VERNEEDNUM).unwrap_or(0);
        let needed: Vec<&[u8]> = file
            .dynamic
            .iter()
            .filter(|d| d.0 as i64 == elf::DT_NEEDED)
            .filter_map(|d| file.string(d.1).ok())
            .collect();
        let bad = || malformed("the version requirements (DT_VERNEED) are malformed");
        for k in 0..count {
            let entry = read_only(file, "a version requirement", at, 16)?;
            let vn: &elf::Verneed<LE> = pod::from_bytes(entry).map_err(|_| bad())?.0;
            // The dynamic linker asserts that each file named here is a dependency.
            if vn.vn_version.get(LE) != elf::VER_NEED_CURRENT
                || !needed.contains(&file.string(u64::from(vn.vn_file.get(LE)))?)
                || vn.vn_cnt.get(LE) == 0
                || (vn.vn_next.get(LE) == 0) != (k + 1 == count)
            {
                return Err(bad());
            }
            let mut aux = at.checked_add(u64::from(vn.vn_aux.get(LE))).ok_or_else(bad)?;
            for j in 0..vn.vn_cnt.get(LE) {
                let entry = read_only(file, "a version requirement", aux, 16)?;
                let vna: &elf::Vernaux<LE> = pod::from_bytes(entry).map_err(|_| bad())?.0;
                file.string(u64::from(vna.vna_name.get(LE)))?;
                let last = j + 1 == vn.vn_cnt.get(LE);
                if (vna.vna_next.get(LE) == 0) != last || vna.vna_other.get(LE) & 0x7fff < 2 {
                    return Err(bad());
                }
                indices.push(vna.vna_other.get(LE) & 0x7fff);
                aux = aux.checked_add(u64::from(vna.vna_next.get(LE))).ok_or_else(bad)?;
            }
            at = at.checked_add(u64::from(vn.vn_next.get(LE))).ok_or_else(bad)?;
        }
    }
    if let Some(at) = file.dynamic_value(elf::DT_VERSYM) {
        if file.dynamic_value(elf::DT_VERNEED).is_none() {
            return Err(malformed("DT_VERSYM without DT_VERNEED"));
        }
        let n = file.symbols.len();
        let table = read_only(file, "the symbol version table", at, 2 * n as u64)?;
        let versions: &[object::U16<LE>] =
            pod::slice_from_bytes(table, n).map_err(|_| malformed("the symbol version table is misaligned"))?.0;
        for (i, v) in versions.iter().enumerate().skip(1) {
            let v = v.get(LE) & 0x7fff;
            if v > 1 && (i == descriptor || !indices.contains(&v)) {
                return Err(malformed(format!("dynamic symbol {i} has the unknown version index {v}")));
            }
        }
    }
    Ok(())
}

fn reloc_name(r_type: u32) -> &'static str {
    const NAMES: [&str; 43] = [
        "R_X86_64_NONE",
        "R_X86_64_64",
        "R_X86_64_PC32",
        "R_X86_64_GOT32",
        "R_X86_64_PLT32",
        "R_X86_64_COPY",
        "R_X86_64_GLOB_DAT",
        "R_X86_64_JUMP_SLOT",
        "R_X86_64_RELATIVE",
        "R_X86_64_GOTPCREL",
        "R_X86_64_32",
        "R_X86_64_32S",
        "R_X86_64_16",
        "R_X86_64_PC16",
        "R_X86_64_8",
        "R_X86_64_PC8",
        "R_X86_64_DTPMOD64",
        "R_X86_64_DTPOFF64",
        "R_X86_64_TPOFF64",
        "R_X86_64_TLSGD",
        "R_X86_64_TLSLD",
        "R_X86_64_DTPOFF32",
        "R_X86_64_GOTTPOFF",
        "R_X86_64_TPOFF32",
        "R_X86_64_PC64",
        "R_X86_64_GOTOFF64",
        "R_X86_64_GOTPC32",
        "R_X86_64_GOT64",
        "R_X86_64_GOTPCREL64",
        "R_X86_64_GOTPC64",
        "R_X86_64_GOTPLT64",
        "R_X86_64_PLTOFF64",
        "R_X86_64_SIZE32",
        "R_X86_64_SIZE64",
        "R_X86_64_GOTPC32_TLSDESC",
        "R_X86_64_TLSDESC_CALL",
        "R_X86_64_TLSDESC",
        "R_X86_64_IRELATIVE",
        "R_X86_64_RELATIVE64",
        "an obsolete type",
        "an obsolete type",
        "R_X86_64_GOTPCRELX",
        "R_X86_64_REX_GOTPCRELX",
    ];
    NAMES.get(r_type as usize).copied().unwrap_or("an unknown type")
}

fn check_relocations<'a>(file: &ElfFile<'a>) -> Result<Relocations<'a>, Refusal> {
    let (Some(at), Some(size)) = (file.dynamic_value(elf::DT_RELA), file.dynamic_value(elf::DT_RELASZ)) else {
        return Ok(Relocations::Sorted(Vec::new()));
    };
    if size % RELA_SIZE != 0 {
        return Err(malformed("DT_RELASZ is not a whole number of relocations"));
    }
    let table = read_only(file, "the relocation table", at, size)?;
    let entries: &[elf::Rela64<LE>] = pod::slice_from_bytes(table, (size / RELA_SIZE) as usize)
        .map_err(|_| malformed("the relocation table is misaligned"))?
        .0;
    let relative_count = file.dynamic_value(elf::DT_RELACOUNT).unwrap_or(0);
    if relative_count > entries.len() as u64 {
        return Err(malformed("DT_RELACOUNT counts more relocations than the table holds"));
    }
    // What lucetc writes, accepted in one tight pass; this takes nothing the loop below
    // would refuse.
    if plain_relative_table(file, entries) {
        return Ok(Relocations::InPlace { table: entries, all_relative: true });
    }
    let dynamic = file.dynamic_vaddr..file.dynamic_vaddr.saturating_add(file.dynamic_size);
    // Whether each relocation writes above the one before it, not over it.
    let mut in_order = true;
    let mut next_free = 0;
    // The segment the last relocation wrote to, where the next one most likely writes.
    let mut near = 0;
    for (i, r) in entries.iter().enumerate() {
        let (r_type, sym) = (r.r_type(LE, false), r.r_sym(LE, false) as usize);
        let offset = r.r_offset.get(LE);
        match r_type {
            elf::R_X86_64_RELATIVE if sym == 0 => {}
            elf::R_X86_64_GLOB_DAT | elf::R_X86_64_64
                if (1..file.symbols.len()).contains(&sym)
                    && file.symbols[sym].st_shndx.get(LE) == elf::SHN_UNDEF
                    && (i as u64) >= relative_count => {}
            elf::R_X86_64_RELATIVE | elf::R_X86_64_GLOB_DAT | elf::R_X86_64_64 => {
                return Err(malformed(format!(
                    "relocation {i} ({}) names symbol {sym}, which it should not",
                    reloc_name(r_type)
                )));
            }
            elf::R_X86_64_IRELATIVE => {
                return Err(forbidden(format!(
                    "relocation {i} is R_X86_64_IRELATIVE (type {r_type}): an IFUNC resolver the dynamic linker \
                     runs while loading the file"
                )));
            }
            _ => {
                return Err(forbidden(format!(
                    "relocation {i} has type {r_type} ({}), which lucetc never emits",
                    reloc_name(r_type)
                )));
            }
        }
        if offset % 8 != 0 || !file.segment_holding_near(&mut near, offset, 8).is_some_and(|s| s.writable()) {
            return Err(forbidden(format!(
                "relocation {i} writes at {offset:#x}, outside the file's writable segments"
            )));
        }
        if dynamic.contains(&offset) || dynamic.contains(&(offset + 7)) {
            return Err(forbidden(format!("relocation {i} writes into the dynamic section")));
        }
        in_order &= offset >= next_free;
        // Inside a segment, so no overflow.
        next_free = offset + 8;
    }
    if in_order {
        return Ok(Relocations::InPlace { table: entries, all_relative: false });
    }
    let mut out: Vec<Reloc> = entries.iter().map(Reloc::of).collect();
    out.sort_unstable_by_key(|r| r.offset);
    if let Some(w) = out.windows(2).find(|w| w[1].offset < w[0].offset + 8) {
        return Err(malformed(format!("two relocations write the bytes at {:#x}", w[1].offset)));
    }
    Ok(Relocations::Sorted(out))
}
