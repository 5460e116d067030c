//! The small ranges the checks read with `pread` (`elf_file::Copies`) instead of through
//! the mapping: the checks come to the same result either way, a copy never supplies
//! bytes the mapped file does not have, and the copies are what the checks read.

use super::elf_file::{Copies, ElfFile};
use super::{descriptor, elf_check, Refusal};

fn module() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.so");
    let wat = r#"(module (memory 1) (data (i32.const 8) "x") (func (export "f") (result i32) i32.const 7))"#;
    lucetc::Lucetc::try_from_bytes(wat).unwrap().shared_object_file(&out).unwrap();
    std::fs::read(out).unwrap()
}

/// A `pread` of `file`.
fn reader(file: &[u8]) -> impl Fn(&mut [u8], u64) -> usize + '_ {
    move |buf, at| {
        let tail = usize::try_from(at).ok().and_then(|at| file.get(at..)).unwrap_or_default();
        let n = buf.len().min(tail.len());
        buf[..n].copy_from_slice(&tail[..n]);
        n
    }
}

/// Everything the checks before `dlopen` make of `bytes`, read with `read`.
fn check(bytes: &[u8], read: &dyn Fn(&mut [u8], u64) -> usize) -> Result<descriptor::Layout, Refusal> {
    let mut copies = Copies::new();
    let elf = ElfFile::parse(bytes, read, &mut copies)?;
    let symbol = elf.descriptor_symbol()?;
    descriptor::check_identity(&elf, symbol)?;
    let relocs = elf_check::check(&elf, symbol)?;
    descriptor::check(&elf, symbol, &relocs)
}

fn shoff(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[0x28..0x30].try_into().unwrap()) as usize
}

#[test]
fn copies_give_what_the_mapping_gives() {
    let bytes = module();
    let with_copies = check(&bytes, &reader(&bytes)).unwrap();
    // A `pread` that fails leaves every range to the mapping.
    let without = check(&bytes, &|_: &mut [u8], _| 0).unwrap();
    assert_eq!(with_copies, without);
}

#[test]
fn copies_are_what_the_checks_read() {
    let bytes = module();
    // Zeros where the dynamic section is: it ends at its first entry, so the file has no
    // string table.
    let zeros = |buf: &mut [u8], _| {
        buf.fill(0);
        buf.len()
    };
    let e = check(&bytes, &zeros).unwrap_err();
    assert!(matches!(&e, Refusal::Malformed(m) if m.contains("no DT_STRSZ")), "{e:?}");
}

#[test]
fn a_copy_never_reaches_past_the_mapped_file() {
    let bytes = module();
    // The file as mapped ends inside its section headers; the reader still has them all.
    let cut = &bytes[..shoff(&bytes) + 10];
    for read in [&reader(&bytes) as &dyn Fn(&mut [u8], u64) -> usize, &reader(cut)] {
        let e = check(cut, read).unwrap_err();
        assert!(matches!(&e, Refusal::Malformed(m) if m.contains("section headers")), "{e:?}");
    }
}
