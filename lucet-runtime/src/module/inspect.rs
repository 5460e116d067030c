//! Reading what a module file holds without loading it, for tools such as
//! `lucet-objdump`.
//!
//! The file goes through every check `DlModule::load` makes on the bytes before `dlopen`
//! (so a damaged or foreign file gets the same error), but it is never given to the
//! dynamic linker and none of its code runs. The CPU-feature check is left out: a module
//! compiled for another machine can still be inspected.

use super::descriptor::{self, Layout};
use super::elf_file::{Copies, ElfFile, Segment};
use super::load::ModuleFile;
use super::{elf_check, invalid, metadata, phases, Refusal};
use crate::error::Error;
use crate::signature::{read_verified, PublicKey};
use lucet_module::{signature_path, DataIndex, DefinedFuncIndex, Metadata, ModuleData};
use std::path::Path;

/// A file's metadata after the checks that come before loading.
pub(crate) struct Checked<'a> {
    /// The file's `PT_LOAD` segments.
    pub segments: Vec<Segment>,
    pub layout: Layout,
    /// The metadata's bytes in the file.
    pub meta: &'a [u8],
    /// Its tables, read in place and validated against `data`.
    pub tables: Metadata<'a>,
    pub data: ModuleData,
}

/// Everything `DlModule::load` checks on the file's bytes, except the CPU features.
pub(crate) fn check_file<'a>(file: &'a ModuleFile, shown: &str) -> Result<Checked<'a>, Error> {
    let refused = |r: Refusal| r.into_error(shown);
    let mut copies = Copies::new();
    let read = |buf: &mut [u8], offset: u64| file.read_at(buf, offset);
    let elf = ElfFile::parse(file.bytes(), &read, &mut copies).map_err(refused)?;
    let symbol = elf.descriptor_symbol().map_err(refused)?;
    descriptor::check_identity(&elf, symbol).map_err(refused)?;
    let relocs = elf_check::check(&elf, symbol).map_err(refused)?;
    let layout = descriptor::check(&elf, symbol, &relocs).map_err(refused)?;
    phases::check("ELF and descriptor");
    // From the mapping, never from a copy: the module keeps reading the metadata where
    // it lies in the mapping (`DlModule::finish`).
    let meta = elf
        .file_offset(layout.metadata, layout.metadata_len)
        .and_then(|at| file.bytes().get(usize::try_from(at).ok()?..)?.get(..usize::try_from(layout.metadata_len).ok()?))
        .unwrap_or_default();
    let inconsistent = |e: lucet_module::Error| invalid(shown, e.to_string());
    let tables = Metadata::parse(meta).map_err(inconsistent)?;
    let data = tables.decode().map_err(inconsistent)?;
    phases::work("decode");
    metadata::validate_metadata(&data).map_err(|e| {
        invalid(shown, format!("inconsistent metadata ({e}); recompile the module with this version of lucetc"))
    })?;
    // The trap records are checked when first used (`code_map`).
    tables.validate_records(&data).map_err(inconsistent)?;
    metadata::validate_handlers(&data, &tables).map_err(|e| {
        invalid(shown, format!("inconsistent metadata ({e}); recompile the module with this version of lucetc"))
    })?;
    descriptor::check_code(&elf, &layout, &data, &tables).map_err(refused)?;
    phases::check("metadata and tables");
    Ok(Checked { segments: elf.segments, layout, meta, tables, data })
}

/// One defined function of an inspected module.
#[derive(Debug, Clone)]
pub struct FunctionInfo {
    /// Index in the module's function index space (imported functions first).
    pub index: u32,
    /// The name from the name section, if the module has one.
    pub name: Option<String>,
    /// Index into [`ModuleData::types`].
    pub type_index: u32,
    /// Bytes of machine code.
    pub code_size: u32,
    /// Instructions that may trap, which the signal handler knows by address.
    pub trap_sites: usize,
}

/// Whether a signature file lies beside the module, and what was made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// No `PATH.minisig`.
    Absent,
    /// `PATH.minisig` exists; no key was given to check it with.
    Present,
    /// `PATH.minisig` is a valid signature of the file by the given key.
    Verified,
}

/// What a compiled module file holds, read without loading it.
#[derive(Debug, Clone)]
pub struct ModuleInfo {
    /// The file's size in bytes.
    pub file_size: u64,
    /// The module's metadata, checked as `DlModule::load` checks it.
    pub data: ModuleData,
    /// The size in bytes of each data segment, in data-index order.
    pub data_segment_sizes: Vec<usize>,
    /// The defined functions, in index order.
    pub functions: Vec<FunctionInfo>,
    pub signature: SignatureStatus,
}

impl ModuleInfo {
    /// Reads and checks a module file without loading it. A file that
    /// [`crate::DlModule::load`] would refuse before loading gets the same error.
    pub fn read(path: impl AsRef<Path>) -> Result<ModuleInfo, Error> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let file = ModuleFile::open(path).map_err(|reason| invalid(&shown, reason))?;
        let signature = match signature_path(path).exists() {
            true => SignatureStatus::Present,
            false => SignatureStatus::Absent,
        };
        Self::from_file(&file, &shown, signature)
    }

    /// Like [`ModuleInfo::read`], but only if `PATH.minisig` is a valid signature of the
    /// file by `key` ([`Error::SignatureRejected`] otherwise).
    pub fn read_verified(path: impl AsRef<Path>, key: &PublicKey) -> Result<ModuleInfo, Error> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let sealed = read_verified(path, &shown, key)?;
        let file = ModuleFile::from_file(sealed).map_err(|reason| invalid(&shown, reason))?;
        Self::from_file(&file, &shown, SignatureStatus::Verified)
    }

    fn from_file(file: &ModuleFile, shown: &str, signature: SignatureStatus) -> Result<ModuleInfo, Error> {
        let Checked { tables, data, .. } = check_file(file, shown)?;
        let n_imported = data.num_imported_funcs();
        let functions = data
            .functions
            .iter()
            .enumerate()
            .skip(n_imported)
            .filter_map(|(index, f)| {
                let def = DefinedFuncIndex::from_u32((index - n_imported) as u32);
                let record = tables.function(def)?;
                Some(FunctionInfo {
                    index: index as u32,
                    name: f.name.clone(),
                    type_index: f.type_index,
                    code_size: record.code_len,
                    trap_sites: tables.trap_sites(def).len(),
                })
            })
            .collect();
        let data_segment_sizes =
            (0..data.data_segments.len()).map(|i| tables.segment(DataIndex::from_u32(i as u32)).len()).collect();
        Ok(ModuleInfo { file_size: file.bytes().len() as u64, data, data_segment_sizes, functions, signature })
    }
}
