//! A shared object as the dynamic linker reads it.
//!
//! `dlopen` never looks at section headers: it maps the `PT_LOAD` segments, then finds
//! everything else (symbols, strings, hash tables, relocations) through the `PT_DYNAMIC`
//! segment's addresses, and trusts all of it. This reads the same structures the same way,
//! from the bytes of the file, so that the checks see what the dynamic linker will act on.
//! Every table is bounds-checked against the segment that holds it, and the hash tables are
//! checked so that the dynamic linker's lookups in them stay inside them and end.
//!
//! The bytes are read through the read-only mapping of the file, except a few small
//! ranges that lie far from everything else the load reads: the dynamic section, the
//! section headers and the descriptor, which are read with `pread` into [`Copies`]
//! instead. Touching the mapping there would fault in a 64 KiB window of pages that
//! nothing after the checks reads, which costs more than the copy. The copies are read
//! from the same open file as the mapping, so they hold the same bytes as long as the
//! file does not change while it is loaded, which a module file must not (`load`).

use super::Refusal;
use lucet_module::MODULE_SYMBOL;
use object::elf;
use object::pod;
use object::LittleEndian as LE;

/// The size of one entry of the dynamic symbol table and of the relocation table.
pub(crate) const SYM_SIZE: u64 = std::mem::size_of::<elf::Sym64<LE>>() as u64;
pub(crate) const RELA_SIZE: u64 = std::mem::size_of::<elf::Rela64<LE>>() as u64;

fn malformed(what: impl Into<String>) -> Refusal {
    Refusal::Malformed(what.into())
}

/// A `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub flags: u32,
    pub align: u64,
}

impl Segment {
    pub fn writable(&self) -> bool {
        self.flags & elf::PF_W != 0
    }
    pub fn executable(&self) -> bool {
        self.flags & elf::PF_X != 0
    }
    /// Whether `[vaddr, vaddr + len)` lies in the memory the segment occupies.
    pub fn holds(&self, vaddr: u64, len: u64) -> bool {
        vaddr >= self.vaddr && vaddr.checked_add(len).is_some_and(|end| end <= self.vaddr.saturating_add(self.memsz))
    }
    /// Whether `[vaddr, vaddr + len)` lies in the part of the segment read from the file.
    pub fn holds_file_bytes(&self, vaddr: u64, len: u64) -> bool {
        vaddr >= self.vaddr && vaddr.checked_add(len).is_some_and(|end| end <= self.vaddr.saturating_add(self.filesz))
    }
}

/// Another program header, kept for the checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OtherSegment {
    pub p_type: u32,
    pub flags: u32,
    pub vaddr: u64,
    pub memsz: u64,
}

/// Room for the ranges read with `pread` rather than through the mapping; a range
/// longer than its room is read through the mapping.
pub(crate) struct Copies {
    dynamic: [u8; 512],
    sections: [u8; 2048],
    descriptor: [u8; 128],
}

impl Copies {
    pub fn new() -> Copies {
        Copies { dynamic: [0; 512], sections: [0; 2048], descriptor: [0; 128] }
    }
}

/// Reads file bytes at an offset into a buffer and returns how many it read (fewer at
/// the end of the file, none on an error).
pub(crate) type ReadAt<'r> = &'r dyn Fn(&mut [u8], u64) -> usize;

/// Copies `len` bytes of the file at `offset` into `room` if they fit, and returns them
/// with their offset.
fn copy<'a>(read: ReadAt<'_>, room: &'a mut [u8], offset: u64, len: u64) -> Option<(u64, &'a [u8])> {
    let room = room.get_mut(..usize::try_from(len).ok()?)?;
    let n = read(room, offset);
    let room: &'a [u8] = room;
    Some((offset, &room[..n.min(room.len())]))
}

/// The parsed dynamic-linker view of a file.
pub(crate) struct ElfFile<'a> {
    /// The whole file, mapped.
    pub bytes: &'a [u8],
    /// Copies of a few ranges of `bytes`, each with its offset in the file.
    copies: [Option<(u64, &'a [u8])>; 3],
    pub header: &'a elf::FileHeader64<LE>,
    /// In program-header order.
    pub segments: Vec<Segment>,
    pub others: Vec<OtherSegment>,
    /// The `PT_DYNAMIC` range, and its entries up to (not including) `DT_NULL`.
    pub dynamic_vaddr: u64,
    pub dynamic_size: u64,
    pub dynamic: Vec<(u64, u64)>,
    pub strtab: &'a [u8],
    pub symbols: &'a [elf::Sym64<LE>],
    /// The addresses and sizes of the tables read through `.dynamic`, for the placement checks.
    pub tables: Vec<(&'static str, u64, u64)>,
}

impl<'a> ElfFile<'a> {
    /// Reads what the dynamic linker needs to find a symbol. A file that is not an x86-64 ELF
    /// shared object at all gets the message the user most likely needs.
    /// `read` reads the file's bytes as `bytes` holds them, into `copies`.
    pub fn parse(bytes: &'a [u8], read: ReadAt<'_>, copies: &'a mut Copies) -> Result<ElfFile<'a>, Refusal> {
        if !bytes.starts_with(b"\x7fELF") {
            return Err(Refusal::NotElf { wasm: bytes.starts_with(b"\0asm") });
        }
        let (header, _) = pod::from_bytes::<elf::FileHeader64<LE>>(bytes)
            .map_err(|_| malformed("the file is shorter than an ELF header"))?;
        let ident = &header.e_ident;
        if ident.class != elf::ELFCLASS64 || ident.data != elf::ELFDATA2LSB {
            return Err(Refusal::WrongKind("not a 64-bit little-endian ELF file".into()));
        }
        let (e_type, machine) = (header.e_type.get(LE), header.e_machine.get(LE));
        if machine != elf::EM_X86_64 || e_type != elf::ET_DYN {
            return Err(Refusal::WrongKind(format!(
                "an ELF file of type {e_type} for machine {machine}, not an x86-64 shared object (type {}, machine {})",
                elf::ET_DYN,
                elf::EM_X86_64
            )));
        }
        if header.e_phentsize.get(LE) as usize != std::mem::size_of::<elf::ProgramHeader64<LE>>() {
            return Err(malformed(format!("program headers of {} bytes", header.e_phentsize.get(LE))));
        }
        let phnum = header.e_phnum.get(LE) as usize;
        if phnum == 0 || phnum == elf::PN_XNUM as usize {
            return Err(malformed(format!("{phnum} program headers")));
        }
        let phdrs = usize::try_from(header.e_phoff.get(LE))
            .ok()
            .and_then(|off| bytes.get(off..))
            .and_then(|b| pod::slice_from_bytes::<elf::ProgramHeader64<LE>>(b, phnum).ok())
            .map(|(p, _)| p)
            .ok_or_else(|| malformed("the program headers lie outside the file or are misaligned"))?;

        // Room for what lucetc writes, so that the lists grow no more while they fill.
        let mut segments = Vec::with_capacity(4);
        let mut others = Vec::with_capacity(4);
        for ph in phdrs {
            let (vaddr, memsz) = (ph.p_vaddr.get(LE), ph.p_memsz.get(LE));
            let flags = ph.p_flags.get(LE);
            match ph.p_type.get(LE) {
                elf::PT_LOAD => {
                    let s = Segment {
                        vaddr,
                        memsz,
                        offset: ph.p_offset.get(LE),
                        filesz: ph.p_filesz.get(LE),
                        flags,
                        align: ph.p_align.get(LE),
                    };
                    let in_file = s.offset.checked_add(s.filesz).is_some_and(|end| end <= bytes.len() as u64);
                    if !in_file || s.filesz > s.memsz || vaddr.checked_add(memsz).is_none() {
                        return Err(malformed(format!(
                            "a PT_LOAD segment of {:#x} file bytes at offset {:#x} ({:#x} bytes in memory at {vaddr:#x}) \
                             does not fit the file of {:#x} bytes",
                            s.filesz,
                            s.offset,
                            s.memsz,
                            bytes.len()
                        )));
                    }
                    segments.push(s);
                }
                p_type => others.push(OtherSegment { p_type, flags, vaddr, memsz }),
            }
        }
        if segments.is_empty() {
            return Err(malformed("no PT_LOAD segment"));
        }
        let mut dynamics = others.iter().filter(|o| o.p_type == elf::PT_DYNAMIC);
        let (dynamic_vaddr, dynamic_size) = match (dynamics.next(), dynamics.next()) {
            (Some(d), None) => (d.vaddr, d.memsz),
            (None, _) => return Err(malformed("no PT_DYNAMIC segment")),
            (Some(_), Some(_)) => return Err(malformed("two PT_DYNAMIC segments")),
        };

        let mut file = ElfFile {
            bytes,
            copies: [None; 3],
            header,
            segments,
            others,
            dynamic_vaddr,
            dynamic_size,
            dynamic: Vec::with_capacity(16),
            strtab: &[],
            symbols: &[],
            tables: Vec::with_capacity(4),
        };
        let Copies { dynamic, sections, descriptor } = copies;
        // Where the dynamic section lies in the file, as `read_dynamic` finds it.
        file.copies[0] = file.file_offset(file.dynamic_vaddr, file.dynamic_size).and_then(|at| copy(read, dynamic, at, file.dynamic_size));
        let shdrs = u64::from(header.e_shnum.get(LE)).saturating_mul(u64::from(header.e_shentsize.get(LE)));
        file.copies[1] = copy(read, sections, header.e_shoff.get(LE), shdrs);
        file.read_dynamic()?;
        file.read_symbols()?;
        // The descriptor, if the file has one where the checks will look for it.
        if let Ok(i) = file.descriptor_symbol() {
            let (at, len) = (file.symbols[i].st_value.get(LE), file.symbols[i].st_size.get(LE));
            file.copies[2] = file.file_offset(at, len).and_then(|at| copy(read, descriptor, at, len));
        }
        Ok(file)
    }

    /// The first segment whose memory holds `[vaddr, vaddr + len)`.
    pub fn segment_holding(&self, vaddr: u64, len: u64) -> Option<&Segment> {
        self.segments.iter().find(|s| s.holds(vaddr, len))
    }

    /// `segment_holding`, trying segment `*near` first and leaving there the index of
    /// the segment found, for runs of addresses that mostly lie in one segment. Only
    /// once the segments are checked not to overlap (`elf_check`), so that the segment
    /// found is the only one, and the one `segment_holding` finds.
    pub fn segment_holding_near(&self, near: &mut usize, vaddr: u64, len: u64) -> Option<&Segment> {
        if let Some(s) = self.segments.get(*near).filter(|s| s.holds(vaddr, len)) {
            return Some(s);
        }
        let i = self.segments.iter().position(|s| s.holds(vaddr, len))?;
        *near = i;
        Some(&self.segments[i])
    }

    /// The file bytes the dynamic linker maps at `[vaddr, vaddr + len)`, if one segment
    /// maps them all from the file.
    pub fn bytes_at(&self, vaddr: u64, len: u64) -> Option<&'a [u8]> {
        self.read(self.file_offset(vaddr, len)?, len)
    }

    /// Where in the file the bytes `bytes_at` returns lie, if it returns any.
    pub fn file_offset(&self, vaddr: u64, len: u64) -> Option<u64> {
        let s = self.segments.iter().find(|s| s.holds_file_bytes(vaddr, len))?;
        // Inside the segment's file bytes, which end inside the file (`parse`).
        Some(vaddr - s.vaddr + s.offset)
    }

    /// The `len` bytes of the file at `offset`: from a copy that holds them all, or
    /// else from the mapping.
    pub fn read(&self, offset: u64, len: u64) -> Option<&'a [u8]> {
        let end = offset.checked_add(len).filter(|&end| end <= self.bytes.len() as u64)?;
        for &(at, copy) in self.copies.iter().flatten() {
            if offset >= at && end <= at + copy.len() as u64 {
                return copy.get((offset - at) as usize..(end - at) as usize);
            }
        }
        self.bytes.get(usize::try_from(offset).ok()?..usize::try_from(end).ok()?)
    }

    /// Like `bytes_at`, for a table the dynamic linker reads; records it for the checks.
    fn table(&mut self, name: &'static str, vaddr: u64, len: u64) -> Result<&'a [u8], Refusal> {
        self.tables.push((name, vaddr, len));
        self.bytes_at(vaddr, len).ok_or_else(|| {
            malformed(format!("{name} ({len:#x} bytes at {vaddr:#x}) lies outside the file's loaded segments"))
        })
    }

    /// The value of dynamic tag `tag`, if the file has it.
    pub fn dynamic_value(&self, tag: i64) -> Option<u64> {
        // d_tag is a signed field; the file's bits are compared as such.
        self.dynamic.iter().find(|d| d.0 as i64 == tag).map(|d| d.1)
    }

    fn read_dynamic(&mut self) -> Result<(), Refusal> {
        let bytes = self
            .bytes_at(self.dynamic_vaddr, self.dynamic_size)
            .ok_or_else(|| malformed("the PT_DYNAMIC segment lies outside the file's loaded segments"))?;
        let entries = pod::slice_from_bytes::<elf::Dyn64<LE>>(bytes, bytes.len() / 16)
            .map_err(|_| malformed("the dynamic section is misaligned"))?
            .0;
        // The dynamic linker reads up to DT_NULL whatever the segment's size says.
        for d in entries {
            let (tag, value) = (d.d_tag.get(LE), d.d_val.get(LE));
            if tag == elf::DT_NULL {
                return Ok(());
            }
            self.dynamic.push((tag as u64, value));
        }
        Err(malformed("the dynamic section has no DT_NULL entry within its segment"))
    }

    fn required(&self, tag: i64, name: &str) -> Result<u64, Refusal> {
        self.dynamic_value(tag).ok_or_else(|| malformed(format!("no {name} in the dynamic section")))
    }

    fn read_symbols(&mut self) -> Result<(), Refusal> {
        let strsz = self.required(elf::DT_STRSZ, "DT_STRSZ")?;
        let strtab = self.required(elf::DT_STRTAB, "DT_STRTAB")?;
        self.strtab = self.table("the string table", strtab, strsz)?;
        if self.required(elf::DT_SYMENT, "DT_SYMENT")? != SYM_SIZE {
            return Err(malformed("DT_SYMENT is not the size of an ELF64 symbol"));
        }
        let symtab = self.required(elf::DT_SYMTAB, "DT_SYMTAB")?;
        let sysv = match self.dynamic_value(elf::DT_HASH) {
            Some(at) => Some(self.sysv_hash(at)?),
            None => None,
        };
        let gnu = match self.dynamic_value(elf::DT_GNU_HASH) {
            Some(at) => Some(self.gnu_hash(at)?),
            None => None,
        };
        let count = match (sysv, gnu) {
            (Some(a), Some(b)) if a != b => {
                return Err(malformed(format!("the two hash tables count {a} and {b} symbols")));
            }
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => return Err(malformed("no DT_HASH or DT_GNU_HASH in the dynamic section")),
        };
        let table = self.table("the symbol table", symtab, count.saturating_mul(SYM_SIZE))?;
        self.symbols =
            pod::slice_from_bytes(table, count as usize).map_err(|_| malformed("the symbol table is misaligned"))?.0;
        for (i, s) in self.symbols.iter().enumerate().skip(1) {
            self.string(u64::from(s.st_name.get(LE)))
                .map_err(|_| malformed(format!("the name of dynamic symbol {i} lies outside the string table")))?;
        }
        Ok(())
    }

    /// The NUL-terminated string at `offset` in the dynamic string table, without its NUL.
    pub fn string(&self, offset: u64) -> Result<&'a [u8], Refusal> {
        let tail = usize::try_from(offset).ok().and_then(|o| self.strtab.get(o..));
        let tail = tail.ok_or_else(|| malformed(format!("string offset {offset:#x} is outside the string table")))?;
        let end = tail
            .iter()
            .position(|&c| c == 0)
            .ok_or_else(|| malformed(format!("the string at {offset:#x} runs past the string table")))?;
        Ok(&tail[..end])
    }

    pub fn symbol_name(&self, index: usize) -> String {
        let name = self.symbols.get(index).and_then(|s| self.string(u64::from(s.st_name.get(LE))).ok());
        String::from_utf8_lossy(name.unwrap_or(b"?")).into_owned()
    }

    /// The buckets and chains of the SysV hash table at `at`.
    #[allow(clippy::type_complexity)]
    fn sysv_parts(&self, at: u64) -> Option<(&'a [object::U32<LE>], &'a [object::U32<LE>])> {
        let (h, _) = pod::from_bytes::<elf::HashHeader<LE>>(self.bytes_at(at, 8)?).ok()?;
        let (nbucket, nchain) = (u64::from(h.bucket_count.get(LE)), u64::from(h.chain_count.get(LE)));
        let words = self.bytes_at(at + 8, 4 * (nbucket + nchain))?;
        let words = pod::slice_from_bytes::<object::U32<LE>>(words, (nbucket + nchain) as usize).ok()?.0;
        Some(words.split_at(nbucket as usize))
    }

    /// Checks a SysV hash table and returns the number of symbols it covers.
    fn sysv_hash(&mut self, at: u64) -> Result<u64, Refusal> {
        let (buckets, chains) =
            self.sysv_parts(at).ok_or_else(|| malformed("the DT_HASH table lies outside its segment"))?;
        if buckets.is_empty() {
            return Err(malformed("the DT_HASH table has no buckets"));
        }
        // Every symbol is on at most one chain, so every walk ends within `nchain` steps.
        let mut seen = vec![false; chains.len()];
        for b in buckets {
            let mut i = b.get(LE) as usize;
            while i != 0 {
                if i >= chains.len() || std::mem::replace(&mut seen[i], true) {
                    return Err(malformed("a DT_HASH chain leaves the table or loops"));
                }
                i = chains[i].get(LE) as usize;
            }
        }
        self.tables.push(("the DT_HASH table", at, 8 + 4 * (buckets.len() + chains.len()) as u64));
        Ok(chains.len() as u64)
    }

    /// The parts of the GNU hash table at `at`.
    fn gnu_parts(&self, at: u64) -> Option<GnuHash<'a>> {
        let s = self.segments.iter().find(|s| s.holds_file_bytes(at, 16))?;
        let rest = self.bytes_at(at, s.vaddr + s.filesz - at)?;
        let (h, rest) = pod::from_bytes::<elf::GnuHashHeader<LE>>(rest).ok()?;
        let (bloom, rest) = pod::slice_from_bytes(rest, h.bloom_count.get(LE) as usize).ok()?;
        let (buckets, rest) = pod::slice_from_bytes(rest, h.bucket_count.get(LE) as usize).ok()?;
        let chains = pod::slice_from_bytes(rest, rest.len() / 4).ok()?.0;
        Some(GnuHash { base: h.symbol_base.get(LE), shift: h.bloom_shift.get(LE), bloom, buckets, chains })
    }

    /// Checks a GNU hash table and returns the number of symbols it covers.
    fn gnu_hash(&mut self, at: u64) -> Result<u64, Refusal> {
        let GnuHash { base, bloom, buckets, chains, .. } =
            self.gnu_parts(at).ok_or_else(|| malformed("the DT_GNU_HASH table lies outside its segment"))?;
        if buckets.is_empty() || !bloom.len().is_power_of_two() {
            return Err(malformed("the DT_GNU_HASH table has no buckets or a bloom filter not a power of two long"));
        }
        // Chains are runs of consecutive symbols, each ending at a value with the low bit
        // set; the run that starts at the highest bucket ends the table.
        let top = buckets.iter().map(|b| b.get(LE)).max().unwrap_or(0);
        let count = if top == 0 {
            u64::from(base)
        } else {
            let first = top.checked_sub(base).filter(|_| base > 0).ok_or_else(|| {
                malformed(format!("a DT_GNU_HASH bucket starts at symbol {top}, below the first hashed one ({base})"))
            })?;
            let end = chains
                .get(first as usize..)
                .and_then(|run| run.iter().position(|v| v.get(LE) & 1 != 0))
                .ok_or_else(|| malformed("the last DT_GNU_HASH chain runs past its segment"))?;
            u64::from(top) + end as u64 + 1
        };
        if buckets.iter().any(|b| b.get(LE) != 0 && b.get(LE) < base) {
            return Err(malformed("a DT_GNU_HASH bucket starts below the first hashed symbol"));
        }
        let header = 16 + 8 * bloom.len() as u64 + 4 * buckets.len() as u64;
        self.tables.push(("the DT_GNU_HASH table", at, header + 4 * (count - u64::from(base))));
        Ok(count)
    }

    /// The symbol `dlsym(handle, name)` finds, by the same hash lookup the dynamic linker
    /// makes: a symbol the tables do not lead to does not count.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let matches = |i: usize| {
            self.symbols.get(i).is_some_and(|s| {
                s.st_shndx.get(LE) != elf::SHN_UNDEF && self.string(u64::from(s.st_name.get(LE))).ok() == Some(name)
            })
        };
        if let Some(GnuHash { base, shift, bloom, buckets, chains }) =
            self.dynamic_value(elf::DT_GNU_HASH).and_then(|at| self.gnu_parts(at))
        {
            let h = elf::gnu_hash(name);
            let word = bloom[((h / 64) as usize) & (bloom.len() - 1)].get(LE);
            if (word >> (h % 64)) & (word >> (h.wrapping_shr(shift) % 64)) & 1 == 0 {
                return None;
            }
            let mut i = buckets[h as usize % buckets.len()].get(LE) as usize;
            if i == 0 {
                return None;
            }
            loop {
                let v = chains.get(i.checked_sub(base as usize)?)?.get(LE);
                if (v ^ h) >> 1 == 0 && matches(i) {
                    return Some(i);
                }
                if v & 1 != 0 {
                    return None;
                }
                i += 1;
            }
        }
        let (buckets, chains) = self.sysv_parts(self.dynamic_value(elf::DT_HASH)?)?;
        let mut i = buckets[elf::hash(name) as usize % buckets.len()].get(LE) as usize;
        while i != 0 {
            if matches(i) {
                return Some(i);
            }
            i = chains.get(i)?.get(LE) as usize;
        }
        None
    }

    /// The index of the descriptor symbol, found as `dlsym` finds it.
    pub fn descriptor_symbol(&self) -> Result<usize, Refusal> {
        let name = MODULE_SYMBOL.as_bytes();
        let defined = self.symbols.iter().skip(1).any(|s| {
            s.st_shndx.get(LE) != elf::SHN_UNDEF && self.string(u64::from(s.st_name.get(LE))).ok() == Some(name)
        });
        if !defined {
            return Err(Refusal::NotLucet);
        }
        self.lookup(name).ok_or_else(|| {
            malformed(format!("the hash table does not lead to the `{MODULE_SYMBOL}` symbol the file defines"))
        })
    }
}

/// A GNU hash table, as the dynamic linker walks it.
struct GnuHash<'a> {
    /// The index of the first symbol the table covers.
    base: u32,
    shift: u32,
    bloom: &'a [object::U64<LE>],
    buckets: &'a [object::U32<LE>],
    /// One value per covered symbol, up to the end of the segment.
    chains: &'a [object::U32<LE>],
}
