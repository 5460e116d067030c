//! Turns the relocatable object into an ELF shared object in-process, without a
//! system linker.
//!
//! The relocatable object that cranelift-object writes for us is small and regular:
//! a code section, read-only and writable data, a local symbol per function, the one
//! exported descriptor `lucet_module`, and at most a few undefined libm/libc functions
//! (Cranelift libcalls such as `fmaf`). Linking a single such object needs no symbol
//! resolution across files, so a general linker is not needed. This module lays the
//! sections out in three page-aligned segments (read-only, code, writable), resolves
//! the references between our own sections, and leaves what depends on the load
//! address or on libc to the dynamic linker as `R_X86_64_RELATIVE`,
//! `R_X86_64_GLOB_DAT` and `R_X86_64_64` relocations.
//!
//! Virtual addresses equal file offsets: every segment then starts at an offset
//! congruent to its address modulo the page size, as the loader requires, for the
//! price of some padding between segments.
//!
//! Everything the dynamic linker needs lives in the first, read-only segment
//! (`.hash`, `.dynsym`, `.dynstr`, `.rela.dyn`), followed by read-only data. The GOT
//! and `.dynamic` start the writable segment and are made read-only after relocation
//! (`PT_GNU_RELRO`). Local symbols (`guest_func_*`, trampolines, adapters) go to
//! `.symtab` only, for debuggers and profilers; `.dynsym` holds the exported symbols
//! and the undefined libcalls.

use crate::error::Error;
// The only symbols a module may leave undefined, and the libraries that define them:
// anything else would only fail when the module is loaded, so it is refused here.
use lucet_module::{LIBCALLS, LIBCALL_LIBRARIES};
use object::elf;
use object::read::elf::{FileHeader as _, SectionHeader as _, Sym as _};
use object::write::elf::{FileHeader, ProgramHeader, Rel, SectionHeader, SectionIndex, Sym, Writer};
use object::write::StringId;
use object::Endianness;
use std::collections::HashMap;

type InputHeader = elf::FileHeader64<Endianness>;

const PAGE: u64 = 0x1000;
const GOT_ENTRY: u64 = 8;
/// `jmp *slot(%rip)` (6 bytes), padded with `int3`.
const STUB_SIZE: u64 = 8;
const STUB_ALIGN: u64 = 8;

fn fail(message: impl Into<String>) -> Error {
    Error::SharedObject(message.into())
}

/// The input is our own code generator's output, so a malformed one is a bug.
fn malformed(e: object::read::Error) -> Error {
    Error::Internal(format!("the relocatable object cannot be read: {e}"))
}

/// Which segment an input section goes to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    ReadOnly,
    Code,
    Data,
    /// Writable and without file contents (`.bss`); laid out last.
    Bss,
}

struct Section<'d> {
    name: &'d [u8],
    class: Class,
    sh_type: u32,
    sh_flags: u64,
    sh_entsize: u64,
    align: u64,
    size: u64,
    /// The contents, relocated in place; empty for `Class::Bss`.
    data: Vec<u8>,
    index: SectionIndex,
    name_id: Option<StringId>,
    addr: u64,
}

impl Section<'_> {
    fn writable(&self) -> bool {
        matches!(self.class, Class::Data | Class::Bss)
    }

    fn shown(&self) -> String {
        String::from_utf8_lossy(self.name).into_owned()
    }
}

/// What an input symbol stands for once sections are placed.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// `value` bytes into output section `section`.
    Defined {
        section: usize,
        value: u64,
    },
    Absolute(u64),
    /// Resolved by the dynamic linker through this `.dynsym` entry.
    Undefined {
        dynsym: u32,
    },
    /// Defined in a section that is not loaded (debug information, say): nothing
    /// loaded may refer to it.
    NotLoaded,
}

struct InputSymbol<'d> {
    name: &'d [u8],
    st_info: u8,
    st_other: u8,
    size: u64,
    target: Target,
}

impl InputSymbol<'_> {
    fn shown(&self) -> String {
        if self.name.is_empty() {
            "a nameless symbol".to_string()
        } else {
            format!("`{}`", String::from_utf8_lossy(self.name))
        }
    }

    fn is_global(&self) -> bool {
        self.st_info >> 4 != elf::STB_LOCAL
    }

    /// Global symbols with default or protected visibility are what `dlsym` may find.
    fn is_exported(&self) -> bool {
        let visible = matches!(self.st_other & 3, elf::STV_DEFAULT | elf::STV_PROTECTED);
        self.is_global() && visible && matches!(self.target, Target::Defined { .. })
    }
}

struct Reloc {
    section: usize,
    offset: u64,
    r_type: u32,
    symbol: u32,
    addend: i64,
}

/// The relocation's name for error messages.
fn reloc_name(r_type: u32) -> String {
    let name = match r_type {
        elf::R_X86_64_64 => "R_X86_64_64",
        elf::R_X86_64_PC32 => "R_X86_64_PC32",
        elf::R_X86_64_GOT32 => "R_X86_64_GOT32",
        elf::R_X86_64_PLT32 => "R_X86_64_PLT32",
        elf::R_X86_64_GOTPCREL => "R_X86_64_GOTPCREL",
        elf::R_X86_64_32 => "R_X86_64_32",
        elf::R_X86_64_32S => "R_X86_64_32S",
        elf::R_X86_64_16 => "R_X86_64_16",
        elf::R_X86_64_PC16 => "R_X86_64_PC16",
        elf::R_X86_64_8 => "R_X86_64_8",
        elf::R_X86_64_PC8 => "R_X86_64_PC8",
        elf::R_X86_64_DTPMOD64 => "R_X86_64_DTPMOD64",
        elf::R_X86_64_DTPOFF64 => "R_X86_64_DTPOFF64",
        elf::R_X86_64_TPOFF64 => "R_X86_64_TPOFF64",
        elf::R_X86_64_TLSGD => "R_X86_64_TLSGD",
        elf::R_X86_64_TLSLD => "R_X86_64_TLSLD",
        elf::R_X86_64_DTPOFF32 => "R_X86_64_DTPOFF32",
        elf::R_X86_64_GOTTPOFF => "R_X86_64_GOTTPOFF",
        elf::R_X86_64_TPOFF32 => "R_X86_64_TPOFF32",
        elf::R_X86_64_PC64 => "R_X86_64_PC64",
        elf::R_X86_64_GOTOFF64 => "R_X86_64_GOTOFF64",
        elf::R_X86_64_GOTPC32 => "R_X86_64_GOTPC32",
        elf::R_X86_64_GOTPCREL64 => "R_X86_64_GOTPCREL64",
        elf::R_X86_64_GOTPC64 => "R_X86_64_GOTPC64",
        elf::R_X86_64_GOTPCRELX => "R_X86_64_GOTPCRELX",
        elf::R_X86_64_REX_GOTPCRELX => "R_X86_64_REX_GOTPCRELX",
        _ => return format!("relocation type {r_type}"),
    };
    name.to_string()
}

fn is_got_reloc(r_type: u32) -> bool {
    matches!(
        r_type,
        elf::R_X86_64_GOTPCREL | elf::R_X86_64_GOTPCRELX | elf::R_X86_64_REX_GOTPCRELX | elf::R_X86_64_GOTPCREL64
    )
}

/// The parsed input: loaded sections, symbols and the relocations that apply to
/// loaded sections.
struct Input<'d> {
    sections: Vec<Section<'d>>,
    symbols: Vec<InputSymbol<'d>>,
    relocs: Vec<Reloc>,
}

fn parse(object: &[u8]) -> Result<Input<'_>, Error> {
    let header = InputHeader::parse(object).map_err(malformed)?;
    let endian = header.endian().map_err(malformed)?;
    if endian != Endianness::Little
        || header.e_machine(endian) != elf::EM_X86_64
        || header.e_type(endian) != elf::ET_REL
    {
        return Err(fail("the object file is not an x86-64 little-endian relocatable ELF object"));
    }
    let table = header.sections(endian, object).map_err(malformed)?;
    let mut sections = Vec::new();
    // Input section index -> position in `sections`.
    let mut loaded = vec![None; table.len()];
    for (index, sh) in table.enumerate() {
        let name = table.section_name(endian, sh).map_err(malformed)?;
        let flags = sh.sh_flags(endian);
        let sh_type = sh.sh_type(endian);
        if name == b".note.GNU-stack" && flags & u64::from(elf::SHF_EXECINSTR) != 0 {
            return Err(fail("the object asks for an executable stack, which lucet modules never get"));
        }
        if flags & u64::from(elf::SHF_ALLOC) == 0 {
            continue;
        }
        let shown = String::from_utf8_lossy(name);
        if flags & u64::from(elf::SHF_TLS) != 0 {
            return Err(fail(format!("section `{shown}` holds thread-local data, which is not supported")));
        }
        let exec = flags & u64::from(elf::SHF_EXECINSTR) != 0;
        let write = flags & u64::from(elf::SHF_WRITE) != 0;
        let class = match (exec, write, sh_type) {
            (true, true, _) => {
                return Err(fail(format!("section `{shown}` is both writable and executable")));
            }
            (_, _, elf::SHT_PROGBITS | elf::SHT_NOTE | elf::SHT_X86_64_UNWIND) => {
                if exec {
                    Class::Code
                } else if write {
                    Class::Data
                } else {
                    Class::ReadOnly
                }
            }
            (false, true, elf::SHT_NOBITS) => Class::Bss,
            // Read-only zeros take file space like any other read-only data.
            (_, false, elf::SHT_NOBITS) => {
                if exec {
                    Class::Code
                } else {
                    Class::ReadOnly
                }
            }
            (_, _, elf::SHT_INIT_ARRAY | elf::SHT_FINI_ARRAY | elf::SHT_PREINIT_ARRAY) => {
                return Err(fail(format!(
                    "section `{shown}` holds initialisers or finalisers, which lucet modules must not run"
                )));
            }
            _ => {
                return Err(fail(format!("section `{shown}` has the unsupported section type {sh_type:#x}")));
            }
        };
        let size = sh.sh_size(endian);
        let data = match (class, sh_type) {
            (Class::Bss, _) => Vec::new(),
            (_, elf::SHT_NOBITS) => vec![0; size as usize],
            _ => sh.data(endian, object).map_err(malformed)?.to_vec(),
        };
        loaded[index.0] = Some(sections.len());
        sections.push(Section {
            name,
            class,
            sh_type: if sh_type == elf::SHT_NOBITS && class != Class::Bss { elf::SHT_PROGBITS } else { sh_type },
            sh_flags: flags & !u64::from(elf::SHF_INFO_LINK | elf::SHF_GROUP),
            sh_entsize: sh.sh_entsize(endian),
            align: sh.sh_addralign(endian).max(1),
            size,
            data,
            index: SectionIndex(0),
            name_id: None,
            addr: 0,
        });
    }

    let symtab = table.symbols(endian, object, elf::SHT_SYMTAB).map_err(malformed)?;
    let mut symbols = Vec::with_capacity(symtab.len());
    let mut next_dynsym = 1;
    for (index, sym) in symtab.enumerate() {
        let name = sym.name(endian, symtab.strings()).map_err(malformed)?;
        let shndx = sym.st_shndx(endian);
        let target = if index.0 == 0 {
            Target::Absolute(0)
        } else if shndx == elf::SHN_UNDEF {
            let dynsym = next_dynsym;
            next_dynsym += 1;
            Target::Undefined { dynsym }
        } else if shndx == elf::SHN_ABS {
            Target::Absolute(sym.st_value(endian))
        } else if shndx == elf::SHN_COMMON {
            return Err(fail(format!(
                "symbol `{}` is a common symbol, which is not supported",
                String::from_utf8_lossy(name)
            )));
        } else {
            match symtab.symbol_section(endian, sym, index).map_err(malformed)? {
                Some(section) => match loaded.get(section.0).copied().flatten() {
                    Some(section) => Target::Defined { section, value: sym.st_value(endian) },
                    None => Target::NotLoaded,
                },
                None => Target::NotLoaded,
            }
        };
        symbols.push(InputSymbol {
            name,
            st_info: sym.st_info(),
            st_other: sym.st_other(),
            size: sym.st_size(endian),
            target,
        });
    }
    for sym in &symbols {
        if let Target::Undefined { .. } = sym.target {
            let name = String::from_utf8_lossy(sym.name);
            if !LIBCALLS.contains(&name.as_ref()) {
                return Err(fail(format!(
                    "the code refers to `{name}`, which is neither in libm nor in libc; link with the system \
                     linker (`--linker system`), which can search other libraries"
                )));
            }
        }
    }

    let mut relocs = Vec::new();
    for sh in table.iter() {
        if sh.sh_type(endian) == elf::SHT_REL {
            let target = sh.sh_info(endian) as usize;
            if loaded.get(target).copied().flatten().is_some() {
                return Err(fail("the object uses REL relocations; x86-64 objects carry RELA relocations"));
            }
            continue;
        }
        let Some((rela, link)) = sh.rela(endian, object).map_err(malformed)? else {
            continue;
        };
        // Relocations of sections that are not loaded (debug information) do not matter.
        let Some(section) = loaded.get(sh.sh_info(endian) as usize).copied().flatten() else {
            continue;
        };
        if link != symtab.section() {
            return Err(fail("a relocation section refers to a symbol table other than `.symtab`"));
        }
        for r in rela {
            let symbol = r.r_sym(endian, false);
            if symbol as usize >= symbols.len() {
                return Err(Error::Internal(format!("a relocation refers to symbol {symbol}, which does not exist")));
            }
            relocs.push(Reloc {
                section,
                offset: r.r_offset.get(endian),
                r_type: r.r_type(endian, false),
                symbol,
                addend: r.r_addend.get(endian),
            });
        }
    }
    Ok(Input { sections, symbols, relocs })
}

/// The references that need a GOT slot or a call stub, and how many dynamic
/// relocations the output carries.
#[derive(Default)]
struct Plan {
    /// Input symbol of each GOT slot.
    got: Vec<u32>,
    got_slot: HashMap<u32, usize>,
    /// Input symbol of each call stub; the stub jumps through the symbol's GOT slot.
    stubs: Vec<u32>,
    stub_of: HashMap<u32, usize>,
    relative: usize,
    symbolic: usize,
}

impl Plan {
    fn got_slot_for(&mut self, symbol: u32) -> usize {
        *self.got_slot.entry(symbol).or_insert_with(|| {
            self.got.push(symbol);
            self.got.len() - 1
        })
    }

    fn new(input: &Input) -> Result<Plan, Error> {
        let mut plan = Plan::default();
        for r in &input.relocs {
            let sym = &input.symbols[r.symbol as usize];
            let section = &input.sections[r.section];
            let name = reloc_name(r.r_type);
            let unusable = || {
                fail(format!(
                    "{name} in section `{}` refers to {}, which is defined in a section that is not loaded",
                    section.shown(),
                    sym.shown()
                ))
            };
            match r.r_type {
                elf::R_X86_64_NONE => {}
                elf::R_X86_64_64 => {
                    if !matches!(sym.target, Target::Absolute(_)) && !section.writable() {
                        return Err(fail(format!(
                            "{name} in the read-only section `{}` would make the dynamic linker write to it \
                             (a text relocation)",
                            section.shown()
                        )));
                    }
                    match sym.target {
                        Target::Defined { .. } => plan.relative += 1,
                        Target::Undefined { .. } => plan.symbolic += 1,
                        Target::Absolute(_) => {}
                        Target::NotLoaded => return Err(unusable()),
                    }
                }
                elf::R_X86_64_PC32 | elf::R_X86_64_PLT32 | elf::R_X86_64_PC64 => match sym.target {
                    Target::Defined { .. } => {}
                    Target::Undefined { .. } if r.r_type == elf::R_X86_64_PLT32 => {
                        plan.got_slot_for(r.symbol);
                        if !plan.stub_of.contains_key(&r.symbol) {
                            plan.stub_of.insert(r.symbol, plan.stubs.len());
                            plan.stubs.push(r.symbol);
                        }
                    }
                    Target::Undefined { .. } => {
                        return Err(fail(format!(
                            "{name} in section `{}` refers to the undefined symbol {} directly; only calls \
                             (R_X86_64_PLT32) and GOT references can reach another library",
                            section.shown(),
                            sym.shown()
                        )));
                    }
                    Target::Absolute(_) => {
                        return Err(fail(format!(
                            "{name} in section `{}` refers to the absolute symbol {}, whose distance from the \
                             code is unknown until the module is loaded",
                            section.shown(),
                            sym.shown()
                        )));
                    }
                    Target::NotLoaded => return Err(unusable()),
                },
                t if is_got_reloc(t) => {
                    if let Target::NotLoaded = sym.target {
                        return Err(unusable());
                    }
                    plan.got_slot_for(r.symbol);
                }
                elf::R_X86_64_32 | elf::R_X86_64_32S => {
                    return Err(fail(format!(
                        "{name} in section `{}` (a 32-bit absolute address of {}) cannot be used in a shared \
                         object; the code must be compiled as position-independent (is_pic)",
                        section.shown(),
                        sym.shown()
                    )));
                }
                _ => {
                    return Err(fail(format!(
                        "{name} in section `{}` (referring to {}) is not supported by the builtin linker; use \
                         the system linker (`--linker system`)",
                        section.shown(),
                        sym.shown()
                    )));
                }
            }
        }
        for &symbol in &plan.got {
            match input.symbols[symbol as usize].target {
                Target::Defined { .. } => plan.relative += 1,
                Target::Undefined { .. } => plan.symbolic += 1,
                Target::Absolute(_) | Target::NotLoaded => {}
            }
        }
        Ok(plan)
    }
}

fn align_up(value: u64, align: u64) -> u64 {
    value.next_multiple_of(align.max(1))
}

fn put(section: &mut Section, offset: u64, bytes: &[u8], what: &str) -> Result<(), Error> {
    let start = offset as usize;
    let end = start.checked_add(bytes.len()).filter(|&e| e as u64 <= section.size);
    match end {
        Some(end) if section.class != Class::Bss => {
            section.data[start..end].copy_from_slice(bytes);
            Ok(())
        }
        Some(_) => Err(fail(format!("{what} patches section `{}`, which has no file contents", section.shown()))),
        None => Err(Error::Internal(format!(
            "{what} at offset {offset:#x} lies outside section `{}` ({:#x} bytes)",
            section.shown(),
            section.size
        ))),
    }
}

/// Links the relocatable object `object` (x86-64 ELF, as cranelift-object writes it)
/// into the bytes of a shared object that `dlopen` loads.
pub fn link(object: &[u8]) -> Result<Vec<u8>, Error> {
    let mut input = parse(object)?;
    let plan = Plan::new(&input)?;
    // Names that exist only in the output; they must outlive the writer.
    let stub_names: Vec<Vec<u8>> =
        plan.stubs.iter().map(|&s| [input.symbols[s as usize].name, b"@plt"].concat()).collect();
    let mut out = Vec::new();
    write(&mut input, &plan, &stub_names, &mut out)?;
    Ok(out)
}

/// Symbols that stay global in the output: what `dlsym` may find, and the undefined
/// ones. Hidden globals become local, as a linker makes them.
fn stays_global(s: &InputSymbol) -> bool {
    s.is_exported() || (s.is_global() && matches!(s.target, Target::Undefined { .. }))
}

fn write<'a>(input: &mut Input<'a>, plan: &Plan, stub_names: &'a [Vec<u8>], out: &'a mut Vec<u8>) -> Result<(), Error> {
    let by_class =
        |c: Class| -> Vec<usize> { (0..input.sections.len()).filter(|&i| input.sections[i].class == c).collect() };
    let (ro, code, data, bss) =
        (by_class(Class::ReadOnly), by_class(Class::Code), by_class(Class::Data), by_class(Class::Bss));
    let has_code = !code.is_empty() || !plan.stubs.is_empty();
    let has_undefined = input.symbols.iter().any(|s| matches!(s.target, Target::Undefined { .. }));
    let n_dynrel = plan.relative + plan.symbolic;
    // LOAD (read-only), LOAD (code) if any, LOAD (writable), DYNAMIC, GNU_RELRO, GNU_STACK.
    let n_phdr = 5 + u32::from(has_code);

    let mut w = Writer::new(Endianness::Little, true, out);
    w.reserve_file_header();
    w.reserve_program_headers(n_phdr);

    // Section indices, in address order.
    w.reserve_hash_section_index();
    let dynsym_index = w.reserve_dynsym_section_index();
    w.reserve_dynstr_section_index();
    let rela_name = if n_dynrel > 0 {
        let name = w.add_section_name(b".rela.dyn");
        w.reserve_section_index();
        Some(name)
    } else {
        None
    };
    let mut reserve_index = |w: &mut Writer<'a>, list: &[usize]| {
        for &i in list {
            let s = &mut input.sections[i];
            s.name_id = Some(w.add_section_name(s.name));
            s.index = w.reserve_section_index();
        }
    };
    reserve_index(&mut w, &ro);
    reserve_index(&mut w, &code);
    let plt = if plan.stubs.is_empty() { None } else { Some((w.add_section_name(b".plt"), w.reserve_section_index())) };
    let got = if plan.got.is_empty() { None } else { Some((w.add_section_name(b".got"), w.reserve_section_index())) };
    w.reserve_dynamic_section_index();
    reserve_index(&mut w, &data);
    reserve_index(&mut w, &bss);
    w.reserve_symtab_section_index();
    w.reserve_strtab_section_index();
    w.reserve_shstrtab_section_index();

    // `.dynsym`: the undefined symbols first, in the order their indices were handed
    // out while parsing, then the exported ones.
    let needed: Vec<StringId> =
        if has_undefined { LIBCALL_LIBRARIES.iter().map(|n| w.add_dynamic_string(n.as_bytes())).collect() } else { Vec::new() };
    let mut dynsyms: Vec<usize> =
        (0..input.symbols.len()).filter(|&i| matches!(input.symbols[i].target, Target::Undefined { .. })).collect();
    dynsyms.extend((0..input.symbols.len()).filter(|&i| input.symbols[i].is_exported()));
    let mut dynsym_names = Vec::with_capacity(dynsyms.len());
    for &i in &dynsyms {
        dynsym_names.push(w.add_dynamic_string(input.symbols[i].name));
        w.reserve_dynamic_symbol_index();
    }
    w.require_dynstr();

    // `.symtab`: locals, then the call stubs (also local), then globals. Section
    // symbols are left out, as linkers do.
    let keep = |s: &InputSymbol| {
        s.st_info & 0xf != elf::STT_SECTION && !matches!(s.target, Target::NotLoaded) && !s.name.is_empty()
    };
    let locals: Vec<usize> =
        (1..input.symbols.len()).filter(|&i| keep(&input.symbols[i]) && !stays_global(&input.symbols[i])).collect();
    let globals: Vec<usize> =
        (1..input.symbols.len()).filter(|&i| keep(&input.symbols[i]) && stays_global(&input.symbols[i])).collect();
    let mut symtab_names = HashMap::new();
    for &i in &locals {
        symtab_names.insert(i, w.add_string(input.symbols[i].name));
    }
    let stub_name_ids: Vec<StringId> = stub_names.iter().map(|n| w.add_string(n)).collect();
    for &i in &globals {
        symtab_names.insert(i, w.add_string(input.symbols[i].name));
    }
    let section_of = |s: &InputSymbol| match s.target {
        Target::Defined { section, .. } => Some(input.sections[section].index),
        _ => None,
    };
    for &i in &locals {
        w.reserve_symbol_index(section_of(&input.symbols[i]));
    }
    for _ in stub_names {
        w.reserve_symbol_index(plt.map(|(_, index)| index));
    }
    for &i in &globals {
        w.reserve_symbol_index(section_of(&input.symbols[i]));
    }
    let n_local = 1 + (locals.len() + stub_names.len()) as u32;

    // File ranges; addresses equal file offsets.
    let n_dynsym = w.dynamic_symbol_count();
    let n_bucket = n_dynsym.max(1);
    let hash_addr = w.reserve_hash(n_bucket, n_dynsym) as u64;
    let dynsym_addr = w.reserve_dynsym() as u64;
    let dynstr_addr = w.reserve_dynstr() as u64;
    let dynstr_len = w.dynstr_len() as u64;
    let rela_addr = if n_dynrel > 0 { w.reserve_relocations(n_dynrel, true) as u64 } else { 0 };
    let mut place = |w: &mut Writer<'a>, list: &[usize]| {
        for &i in list {
            let s = &mut input.sections[i];
            s.addr = w.reserve(s.size as usize, s.align as usize) as u64;
        }
    };
    place(&mut w, &ro);
    let ro_end = w.reserved_len() as u64;

    let text_start = align_up(ro_end, PAGE);
    w.reserve_until(text_start as usize);
    place(&mut w, &code);
    let plt_addr = if plan.stubs.is_empty() {
        0
    } else {
        w.reserve(plan.stubs.len() * STUB_SIZE as usize, STUB_ALIGN as usize) as u64
    };
    let text_end = w.reserved_len() as u64;

    let rw_start = align_up(text_end, PAGE);
    w.reserve_until(rw_start as usize);
    let got_addr = if plan.got.is_empty() { 0 } else { w.reserve(plan.got.len() * GOT_ENTRY as usize, 8) as u64 };
    let n_dynamic = needed.len() + 5 + if n_dynrel > 0 { 3 + usize::from(plan.relative > 0) } else { 0 } + 1;
    let dynamic_addr = w.reserve_dynamic(n_dynamic) as u64;
    // Whole pages, so that protecting them after relocation leaves the data alone.
    let relro_end = align_up(w.reserved_len() as u64, PAGE);
    w.reserve_until(relro_end as usize);
    place(&mut w, &data);
    let rw_file_end = w.reserved_len() as u64;
    let mut rw_mem_end = rw_file_end;
    for &i in &bss {
        let s = &mut input.sections[i];
        s.addr = align_up(rw_mem_end, s.align);
        rw_mem_end = s.addr + s.size;
    }
    w.reserve_symtab();
    w.reserve_strtab();
    w.reserve_shstrtab();
    w.reserve_section_headers();

    // Relocate: references between our own sections are resolved now; the load
    // address and libc symbols are left to the dynamic linker.
    let addrs: Vec<u64> = input.sections.iter().map(|s| s.addr).collect();
    let addr_of = |t: Target| match t {
        Target::Defined { section, value } => addrs[section].wrapping_add(value),
        Target::Absolute(v) => v,
        Target::Undefined { .. } | Target::NotLoaded => 0,
    };
    let got_entry = |symbol: u32| got_addr + GOT_ENTRY * plan.got_slot[&symbol] as u64;
    let stub_entry = |symbol: u32| plt_addr + STUB_SIZE * plan.stub_of[&symbol] as u64;
    let mut relative = Vec::with_capacity(plan.relative);
    let mut symbolic = Vec::with_capacity(plan.symbolic);
    let relocs = std::mem::take(&mut input.relocs);
    for r in &relocs {
        let target = input.symbols[r.symbol as usize].target;
        let p = addrs[r.section] + r.offset;
        let what = reloc_name(r.r_type);
        let pc_relative = |to: u64| (to as i64).wrapping_add(r.addend).wrapping_sub(p as i64);
        let section = &mut input.sections[r.section];
        let put32 = |section: &mut Section, value: i64| {
            let value = i32::try_from(value).map_err(|_| {
                fail(format!(
                    "{what} at offset {:#x} of section `{}` cannot reach its target ({value:#x} bytes away)",
                    r.offset,
                    section.shown()
                ))
            })?;
            put(section, r.offset, &value.to_le_bytes(), &what)
        };
        match r.r_type {
            elf::R_X86_64_NONE => {}
            elf::R_X86_64_64 => match target {
                Target::Undefined { dynsym } => {
                    symbolic.push(Rel { r_offset: p, r_sym: dynsym, r_type: elf::R_X86_64_64, r_addend: r.addend });
                }
                Target::Defined { .. } => {
                    let value = addr_of(target).wrapping_add(r.addend as u64);
                    // The dynamic linker writes the final value; the file holds the
                    // unrelocated one for tools that read it directly.
                    if section.class != Class::Bss {
                        put(section, r.offset, &value.to_le_bytes(), &what)?;
                    }
                    relative.push(Rel {
                        r_offset: p,
                        r_sym: 0,
                        r_type: elf::R_X86_64_RELATIVE,
                        r_addend: value as i64,
                    });
                }
                Target::Absolute(_) => {
                    put(section, r.offset, &addr_of(target).wrapping_add(r.addend as u64).to_le_bytes(), &what)?;
                }
                Target::NotLoaded => return Err(Error::Internal(format!("{what} to a symbol that is not loaded"))),
            },
            elf::R_X86_64_PC32 | elf::R_X86_64_PLT32 => {
                let to = match target {
                    Target::Undefined { .. } => stub_entry(r.symbol),
                    _ => addr_of(target),
                };
                put32(section, pc_relative(to))?;
            }
            elf::R_X86_64_PC64 => put(section, r.offset, &pc_relative(addr_of(target)).to_le_bytes(), &what)?,
            elf::R_X86_64_GOTPCREL64 => put(section, r.offset, &pc_relative(got_entry(r.symbol)).to_le_bytes(), &what)?,
            t if is_got_reloc(t) => put32(section, pc_relative(got_entry(r.symbol)))?,
            _ => return Err(Error::Internal(format!("{what} passed the relocation check but cannot be applied"))),
        }
    }
    let mut got_bytes = vec![0u8; plan.got.len() * GOT_ENTRY as usize];
    for (k, &symbol) in plan.got.iter().enumerate() {
        let slot = got_addr + GOT_ENTRY * k as u64;
        let target = input.symbols[symbol as usize].target;
        let bytes = &mut got_bytes[k * GOT_ENTRY as usize..][..GOT_ENTRY as usize];
        match target {
            Target::Defined { .. } => {
                let value = addr_of(target);
                bytes.copy_from_slice(&value.to_le_bytes());
                relative.push(Rel { r_offset: slot, r_sym: 0, r_type: elf::R_X86_64_RELATIVE, r_addend: value as i64 });
            }
            Target::Undefined { dynsym } => {
                symbolic.push(Rel { r_offset: slot, r_sym: dynsym, r_type: elf::R_X86_64_GLOB_DAT, r_addend: 0 });
            }
            Target::Absolute(v) => bytes.copy_from_slice(&v.to_le_bytes()),
            Target::NotLoaded => return Err(Error::Internal("a GOT slot for a symbol that is not loaded".into())),
        }
    }
    let mut stub_bytes = Vec::with_capacity(plan.stubs.len() * STUB_SIZE as usize);
    for (k, &symbol) in plan.stubs.iter().enumerate() {
        let next = plt_addr + STUB_SIZE * k as u64 + 6;
        let disp = i32::try_from(got_entry(symbol) as i64 - next as i64)
            .map_err(|_| fail("the GOT is more than 2 GiB away from the code"))?;
        stub_bytes.extend_from_slice(&[0xff, 0x25]);
        stub_bytes.extend_from_slice(&disp.to_le_bytes());
        stub_bytes.extend_from_slice(&[0xcc; STUB_SIZE as usize - 6]);
    }
    if relative.len() != plan.relative || symbolic.len() != plan.symbolic {
        return Err(Error::Internal("the dynamic relocations differ from the ones planned".into()));
    }
    // Relative relocations first, as DT_RELACOUNT promises.
    relative.sort_by_key(|r| r.r_offset);
    symbolic.sort_by_key(|r| r.r_offset);

    // Write everything out, in the order it was reserved.
    w.write_file_header(&FileHeader {
        os_abi: elf::ELFOSABI_NONE,
        abi_version: 0,
        e_type: elf::ET_DYN,
        e_machine: elf::EM_X86_64,
        e_entry: 0,
        e_flags: 0,
    })
    .map_err(|e| fail(e.to_string()))?;
    w.write_align_program_headers();
    let load = |offset: u64, filesz: u64, memsz: u64, flags: u32| ProgramHeader {
        p_type: elf::PT_LOAD,
        p_flags: flags,
        p_offset: offset,
        p_vaddr: offset,
        p_paddr: offset,
        p_filesz: filesz,
        p_memsz: memsz,
        p_align: PAGE,
    };
    w.write_program_header(&load(0, ro_end, ro_end, elf::PF_R));
    if has_code {
        w.write_program_header(&load(text_start, text_end - text_start, text_end - text_start, elf::PF_R | elf::PF_X));
    }
    w.write_program_header(&load(rw_start, rw_file_end - rw_start, rw_mem_end - rw_start, elf::PF_R | elf::PF_W));
    let dynamic_size = (n_dynamic * 16) as u64;
    w.write_program_header(&ProgramHeader {
        p_type: elf::PT_DYNAMIC,
        p_flags: elf::PF_R | elf::PF_W,
        p_offset: dynamic_addr,
        p_vaddr: dynamic_addr,
        p_paddr: dynamic_addr,
        p_filesz: dynamic_size,
        p_memsz: dynamic_size,
        p_align: 8,
    });
    w.write_program_header(&ProgramHeader {
        p_type: elf::PT_GNU_RELRO,
        p_flags: elf::PF_R,
        p_offset: rw_start,
        p_vaddr: rw_start,
        p_paddr: rw_start,
        p_filesz: relro_end - rw_start,
        p_memsz: relro_end - rw_start,
        p_align: 1,
    });
    w.write_program_header(&ProgramHeader {
        p_type: elf::PT_GNU_STACK,
        p_flags: elf::PF_R | elf::PF_W,
        p_offset: 0,
        p_vaddr: 0,
        p_paddr: 0,
        p_filesz: 0,
        p_memsz: 0,
        p_align: 16,
    });

    let symbols = &input.symbols;
    w.write_hash(n_bucket, n_dynsym, |i| (i > 0).then(|| elf::hash(symbols[dynsyms[i as usize - 1]].name)));
    let out_sym = |s: &InputSymbol, name: StringId, st_info: u8| {
        let (section, st_shndx) = match s.target {
            Target::Defined { section, .. } => (Some(input.sections[section].index), 0),
            Target::Absolute(_) => (None, elf::SHN_ABS),
            Target::Undefined { .. } | Target::NotLoaded => (None, elf::SHN_UNDEF),
        };
        Sym {
            name: Some(name),
            section,
            st_info,
            st_other: s.st_other,
            st_shndx,
            st_value: addr_of(s.target),
            st_size: s.size,
        }
    };
    w.write_null_dynamic_symbol();
    for (&i, &name) in dynsyms.iter().zip(&dynsym_names) {
        let s = &symbols[i];
        w.write_dynamic_symbol(&out_sym(s, name, s.st_info));
    }
    w.write_dynstr();
    if n_dynrel > 0 {
        w.write_align_relocation();
        for rel in relative.iter().chain(&symbolic) {
            w.write_relocation(true, rel);
        }
    }
    for &i in ro.iter().chain(&code) {
        w.pad_until(input.sections[i].addr as usize);
        w.write(&input.sections[i].data);
    }
    if !stub_bytes.is_empty() {
        w.pad_until(plt_addr as usize);
        w.write(&stub_bytes);
    }
    w.pad_until(rw_start as usize);
    w.write(&got_bytes);
    w.pad_until(dynamic_addr as usize);
    for &name in &needed {
        w.write_dynamic_string(elf::DT_NEEDED, name).map_err(|e| fail(format!("writing .dynamic: {e}")))?;
    }
    w.write_dynamic(elf::DT_HASH, hash_addr).map_err(|e| fail(format!("writing .dynamic: {e}")))?;
    w.write_dynamic(elf::DT_STRTAB, dynstr_addr).map_err(|e| fail(format!("writing .dynamic: {e}")))?;
    w.write_dynamic(elf::DT_SYMTAB, dynsym_addr).map_err(|e| fail(format!("writing .dynamic: {e}")))?;
    w.write_dynamic(elf::DT_STRSZ, dynstr_len).map_err(|e| fail(format!("writing .dynamic: {e}")))?;
    w.write_dynamic(elf::DT_SYMENT, 24).map_err(|e| fail(format!("writing .dynamic: {e}")))?;
    if n_dynrel > 0 {
        w.write_dynamic(elf::DT_RELA, rela_addr).map_err(|e| fail(format!("writing .dynamic: {e}")))?;
        w.write_dynamic(elf::DT_RELASZ, (n_dynrel * 24) as u64).map_err(|e| fail(format!("writing .dynamic: {e}")))?;
        w.write_dynamic(elf::DT_RELAENT, 24).map_err(|e| fail(format!("writing .dynamic: {e}")))?;
        if !relative.is_empty() {
            w.write_dynamic(elf::DT_RELACOUNT, relative.len() as u64).map_err(|e| fail(format!("writing .dynamic: {e}")))?;
        }
    }
    w.write_dynamic(elf::DT_NULL, 0).map_err(|e| fail(format!("writing .dynamic: {e}")))?;
    w.pad_until(relro_end as usize);
    for &i in &data {
        w.pad_until(input.sections[i].addr as usize);
        w.write(&input.sections[i].data);
    }

    w.write_null_symbol();
    for &i in &locals {
        let s = &symbols[i];
        // Hidden globals are local here.
        let st_info = (elf::STB_LOCAL << 4) | (s.st_info & 0xf);
        w.write_symbol(&out_sym(s, symtab_names[&i], st_info));
    }
    for (k, &name) in stub_name_ids.iter().enumerate() {
        w.write_symbol(&Sym {
            name: Some(name),
            section: plt.map(|(_, index)| index),
            st_info: (elf::STB_LOCAL << 4) | elf::STT_FUNC,
            st_other: elf::STV_DEFAULT,
            st_shndx: 0,
            st_value: plt_addr + STUB_SIZE * k as u64,
            st_size: 6,
        });
    }
    for &i in &globals {
        let s = &symbols[i];
        w.write_symbol(&out_sym(s, symtab_names[&i], s.st_info));
    }
    w.write_strtab();
    w.write_shstrtab();

    w.write_null_section_header();
    w.write_hash_section_header(hash_addr);
    w.write_dynsym_section_header(dynsym_addr, 1);
    w.write_dynstr_section_header(dynstr_addr);
    if let Some(name) = rela_name {
        w.write_section_header(&SectionHeader {
            name: Some(name),
            sh_type: elf::SHT_RELA,
            sh_flags: elf::SHF_ALLOC.into(),
            sh_addr: rela_addr,
            sh_offset: rela_addr,
            sh_size: (n_dynrel * 24) as u64,
            sh_link: dynsym_index.0,
            sh_info: 0,
            sh_addralign: 8,
            sh_entsize: 24,
        });
    }
    let header = |s: &Section| SectionHeader {
        name: s.name_id,
        sh_type: s.sh_type,
        sh_flags: s.sh_flags,
        sh_addr: s.addr,
        sh_offset: if s.class == Class::Bss { rw_file_end } else { s.addr },
        sh_size: s.size,
        sh_link: 0,
        sh_info: 0,
        sh_addralign: s.align,
        sh_entsize: s.sh_entsize,
    };
    for &i in ro.iter().chain(&code) {
        w.write_section_header(&header(&input.sections[i]));
    }
    let synthetic = |name: StringId, flags: u32, addr: u64, size: u64| SectionHeader {
        name: Some(name),
        sh_type: elf::SHT_PROGBITS,
        sh_flags: flags.into(),
        sh_addr: addr,
        sh_offset: addr,
        sh_size: size,
        sh_link: 0,
        sh_info: 0,
        sh_addralign: 8,
        sh_entsize: 8,
    };
    if let Some((name, _)) = plt {
        w.write_section_header(&synthetic(
            name,
            elf::SHF_ALLOC | elf::SHF_EXECINSTR,
            plt_addr,
            stub_bytes.len() as u64,
        ));
    }
    if let Some((name, _)) = got {
        w.write_section_header(&synthetic(name, elf::SHF_ALLOC | elf::SHF_WRITE, got_addr, got_bytes.len() as u64));
    }
    w.write_dynamic_section_header(dynamic_addr);
    for &i in data.iter().chain(&bss) {
        w.write_section_header(&header(&input.sections[i]));
    }
    w.write_symtab_section_header(n_local);
    w.write_strtab_section_header();
    w.write_shstrtab_section_header();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::read::elf::ElfFile64;
    use object::write::{Object, Relocation, StandardSection, Symbol, SymbolSection};
    use object::{Object as _, ObjectSection as _, RelocationFlags, SectionKind, SymbolFlags, SymbolKind, SymbolScope};

    /// A relocatable object with a 16-byte function `f` in `.text`, an exported
    /// 8-byte `lucet_module` in a 16-byte `.data`, and one relocation of type `r_type` at offset
    /// 2 of `.text` (or of `.data` if `in_data`) that refers to `f`, or to the
    /// undefined symbol `undefined`.
    fn object_with(r_type: u32, undefined: Option<&str>, in_data: bool) -> Vec<u8> {
        let mut obj = Object::new(object::BinaryFormat::Elf, object::Architecture::X86_64, Endianness::Little);
        let text = obj.section_id(StandardSection::Text);
        obj.append_section_data(text, &[0x90; 16], 16);
        let data = obj.section_id(StandardSection::Data);
        obj.append_section_data(data, &[0; 16], 8);
        let symbol = |name: &str, section, scope, kind, size| Symbol {
            name: name.as_bytes().to_vec(),
            value: 0,
            size,
            kind,
            scope,
            weak: false,
            section,
            flags: SymbolFlags::None,
        };
        let f =
            obj.add_symbol(symbol("f", SymbolSection::Section(text), SymbolScope::Compilation, SymbolKind::Text, 16));
        obj.add_symbol(symbol("lucet_module", SymbolSection::Section(data), SymbolScope::Dynamic, SymbolKind::Data, 8));
        let target = match undefined {
            Some(name) => {
                obj.add_symbol(symbol(name, SymbolSection::Undefined, SymbolScope::Dynamic, SymbolKind::Unknown, 0))
            }
            None => f,
        };
        let section = if in_data { data } else { text };
        obj.add_relocation(
            section,
            Relocation { offset: 2, symbol: target, addend: -4, flags: RelocationFlags::Elf { r_type } },
        )
        .unwrap();
        obj.write().unwrap()
    }

    fn message(result: Result<Vec<u8>, Error>) -> String {
        match result {
            Err(Error::SharedObject(m)) => m,
            Err(e) => panic!("unexpected error kind: {e}"),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn absolute_32_bit_addresses_are_refused() {
        let m = message(link(&object_with(elf::R_X86_64_32, None, false)));
        assert!(m.contains("R_X86_64_32") && m.contains("position-independent"), "{m}");
    }

    #[test]
    fn text_relocations_are_refused() {
        let m = message(link(&object_with(elf::R_X86_64_64, None, false)));
        assert!(m.contains("text relocation") && m.contains(".text"), "{m}");
    }

    #[test]
    fn unsupported_relocations_name_their_type() {
        let m = message(link(&object_with(elf::R_X86_64_TPOFF32, None, false)));
        assert!(m.contains("R_X86_64_TPOFF32") && m.contains("--linker system"), "{m}");
    }

    #[test]
    fn symbols_outside_libm_and_libc_are_refused() {
        let m = message(link(&object_with(elf::R_X86_64_PLT32, Some("frobnicate"), false)));
        assert!(m.contains("`frobnicate`") && m.contains("--linker system"), "{m}");
    }

    #[test]
    fn direct_pc_relative_references_to_libc_are_refused() {
        let m = message(link(&object_with(elf::R_X86_64_PC32, Some("memcpy"), false)));
        assert!(m.contains("R_X86_64_PC32") && m.contains("memcpy"), "{m}");
    }

    #[test]
    fn calls_within_the_object_are_resolved() {
        let so = link(&object_with(elf::R_X86_64_PLT32, None, false)).unwrap();
        let file = ElfFile64::<Endianness>::parse(&*so).unwrap();
        let text = file.section_by_name(".text").unwrap();
        let disp = i32::from_le_bytes(text.data().unwrap()[2..6].try_into().unwrap());
        // f is at the start of .text: S + A - P = text - 4 - (text + 2).
        assert_eq!(disp, -6);
        assert!(file.section_by_name(".plt").is_none() && file.section_by_name(".got").is_none());
    }

    #[test]
    fn calls_to_libc_go_through_a_stub_and_the_got() {
        let so = link(&object_with(elf::R_X86_64_PLT32, Some("memcpy"), false)).unwrap();
        let file = ElfFile64::<Endianness>::parse(&*so).unwrap();
        let endian = file.endian();
        let text = file.section_by_name(".text").unwrap();
        let plt = file.section_by_name(".plt").unwrap();
        let got = file.section_by_name(".got").unwrap();
        let call = i32::from_le_bytes(text.data().unwrap()[2..6].try_into().unwrap()) as i64;
        assert_eq!(text.address() as i64 + 2 + 4 + call, plt.address() as i64);
        let stub = plt.data().unwrap();
        assert_eq!(stub[..2], [0xff, 0x25]);
        let slot = plt.address() as i64 + 6 + i32::from_le_bytes(stub[2..6].try_into().unwrap()) as i64;
        assert_eq!(slot as u64, got.address());
        let rela_dyn = file.section_by_name(".rela.dyn").unwrap();
        let relocs: &[elf::Rela64<Endianness>] = object::pod::slice_from_all_bytes(rela_dyn.data().unwrap()).unwrap();
        let glob_dat: Vec<_> = relocs
            .iter()
            .filter(|r| r.r_type(endian, false) == elf::R_X86_64_GLOB_DAT)
            .map(|r| r.r_offset.get(endian))
            .collect();
        assert_eq!(glob_dat, [got.address()]);
        assert!(file.symbols().any(|s| object::ObjectSymbol::name(&s) == Ok("memcpy@plt")));
    }

    #[test]
    fn data_pointers_become_relative_relocations() {
        let so = link(&object_with(elf::R_X86_64_64, None, true)).unwrap();
        let file = ElfFile64::<Endianness>::parse(&*so).unwrap();
        let endian = file.endian();
        let text = file.section_by_name(".text").unwrap();
        let data = file.section_by_name(".data").unwrap();
        let rela_dyn = file.section_by_name(".rela.dyn").unwrap();
        let relocs: &[elf::Rela64<Endianness>] = object::pod::slice_from_all_bytes(rela_dyn.data().unwrap()).unwrap();
        assert_eq!(relocs.len(), 1);
        assert_eq!(relocs[0].r_type(endian, false), elf::R_X86_64_RELATIVE);
        assert_eq!(relocs[0].r_offset.get(endian), data.address() + 2);
        assert_eq!(relocs[0].r_addend.get(endian), text.address() as i64 - 4);
        assert_eq!(file.section_by_name(".data").unwrap().kind(), SectionKind::Data);
    }
}
