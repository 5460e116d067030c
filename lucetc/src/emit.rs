//! Lays the compiled code and the module's metadata out in a relocatable object.
//!
//! Code symbols are local: nothing outside the shared object calls them by name, and
//! keeping them out of the dynamic symbol table keeps `dlopen` fast. Their names exist
//! for debuggers and profilers. The one exported symbol is `lucet_module`.

use crate::compile::CompiledFunction;
use crate::translate::info::wasm_signature;
use crate::translate::ModuleInfo;
use lucet_module::FuncIndex;
use crate::error::Error;
use crate::placement;
use cranelift_codegen::ir;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_module::{DataDescription, DataId, FuncId, Linkage, Module, ModuleReloc};
use cranelift_object::{ObjectBuilder, ObjectModule};
use lucet_module::{
    FunctionCode, ModuleData, ModuleDescriptor, FORMAT_VERSION, MAGIC, METADATA_ALIGN, MODULE_SYMBOL,
};
use std::collections::HashSet;
use std::mem::{offset_of, size_of};

fn object_error(e: impl std::fmt::Display) -> Error {
    Error::Object(e.to_string())
}

pub struct Emitter {
    module: ObjectModule,
    /// Defined functions.
    functions: Vec<FuncId>,
    trampolines: Vec<FuncId>,
    adapters: Vec<FuncId>,
}

/// Every function starts a known distance past a 64-byte boundary, the start of a cache
/// line: 0 for a function without a loop, otherwise what `placement::line_offset` chose
/// from its innermost loop. Cranelift asks only for what its constants need (and Wasmtime
/// for 32 bytes), and it does not align loops, so where a hot loop falls within a line
/// is the function's start plus the loop's offset in the function. On the AMD Zen 5
/// machine the benchmarks run on, the same machine code runs up to 1.5 times slower at
/// some offsets than at others (docs/benchmarks.md, "Where a loop lies"). Placing each
/// function by its own code keeps an edit anywhere else in a module from moving a loop.
/// The gap before a function is filled with `int3` at the end of the code before it.
const LINE: u64 = placement::LINE;

/// `int3`: what fills the gaps between functions, so that a jump into one traps.
const FILL: u8 = 0xcc;

/// A symbol-safe rendering of a wasm name.
fn sanitize(name: &str) -> String {
    name.chars().take(80).map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

impl Emitter {
    /// Declares every function so that calls between them can be named before any is
    /// compiled; records the ids in `info.func_ids`.
    pub fn new(isa: OwnedTargetIsa, info: &mut ModuleInfo) -> Result<Emitter, Error> {
        let builder = ObjectBuilder::new(isa, "lucet_module", cranelift_module::default_libcall_names())
            .map_err(object_error)?;
        let mut module = ObjectModule::new(builder);
        let mut used = HashSet::new();
        let mut functions = Vec::new();
        for defined in info.defined_funcs() {
            let index: FuncIndex = info.imports.defined_func_index(defined);
            let entry = &info.data.functions[index.index()];
            let mut name = match &entry.name {
                Some(n) => format!("guest_func_{}", sanitize(n)),
                None => format!("guest_func_{index}"),
            };
            // Declaring a name twice would silently alias two functions.
            if used.contains(&name) {
                name = format!("{name}_{index}");
                while used.contains(&name) {
                    name.push('_');
                }
            }
            used.insert(name.clone());
            let sig = wasm_signature(info.func_type(index));
            let id = module.declare_function(&name, Linkage::Local, &sig).map_err(object_error)?;
            functions.push(id);
        }
        info.func_ids = functions.iter().map(|f| f.as_u32()).collect();
        let mut trampolines = Vec::new();
        let mut adapters = Vec::new();
        for (t, ty) in info.data.types.iter().enumerate() {
            let host_sig = {
                let mut s = ir::Signature::new(cranelift_codegen::isa::CallConv::SystemV);
                s.params.extend([ir::AbiParam::new(ir::types::I64); 3]);
                s
            };
            let id = module
                .declare_function(&format!("lucet_trampoline_{t}"), Linkage::Local, &host_sig)
                .map_err(object_error)?;
            trampolines.push(id);
            let id = module
                .declare_function(&format!("lucet_adapter_{t}"), Linkage::Local, &wasm_signature(ty))
                .map_err(object_error)?;
            adapters.push(id);
        }
        Ok(Emitter { module, functions, trampolines, adapters })
    }

    /// Defines `f` followed by `fill` bytes of [`FILL`].
    fn define(&mut self, id: FuncId, f: &CompiledFunction, alignment: u64, fill: u64) -> Result<(), Error> {
        let relocs: Vec<ModuleReloc> = f.relocs.iter().map(|r| ModuleReloc::from_mach_reloc(r, &f.func, id)).collect();
        let mut code = f.code.clone();
        code.resize(code.len() + fill as usize, FILL);
        self.module.define_function_bytes(id, alignment, &code, &relocs).map_err(object_error)
    }

    /// Places the code of defined functions (in index order), trampolines and adapters
    /// (by type), and returns each defined function's code description for the metadata.
    pub fn define_code(
        &mut self,
        functions: &[CompiledFunction],
        trampolines: &[CompiledFunction],
        adapters: &[CompiledFunction],
        sites: &mut Vec<lucet_module::HandlerSite>,
        saves: &mut Vec<lucet_module::RegisterSaves>,
    ) -> Result<Vec<FunctionCode>, Error> {
        let mut record = |func: usize, start_offset: u32, f: &CompiledFunction| {
            if !f.saves.is_empty() {
                saves.push(lucet_module::RegisterSaves { func: func as u32, start_offset, saves: f.saves.clone() });
            }
        };
        let mut codes = Vec::with_capacity(functions.len());
        for (d, f) in functions.iter().enumerate() {
            codes.push(FunctionCode { len: f.code.len() as u32, traps: f.traps.clone() });
            sites.extend(f.handlers.iter().map(|h| lucet_module::HandlerSite { func: d as u32, ..h.clone() }));
            record(d, 0, f);
        }
        // In the order the runtime checks: functions, trampolines, adapters.
        let items: Vec<(FuncId, &CompiledFunction)> = (self.functions.iter().zip(functions))
            .chain(self.trampolines.iter().zip(trampolines))
            .chain(self.adapters.iter().zip(adapters))
            .map(|(id, f)| (*id, f))
            .collect();
        let starts = layout(
            items.iter().map(|(_, f)| (f.code.len() as u64, placement::line_offset(f.placed_loop, f.alignment))),
        );
        for (i, (id, f)) in items.iter().enumerate() {
            let end = starts[i] + f.code.len() as u64;
            let fill = starts.get(i + 1).map_or(0, |next| next - end);
            // The first asks for a whole line so that the section is aligned to one; the
            // others are placed by the fill before them, and their own alignment, which
            // `line_offset` respects, adds nothing.
            let alignment = if i == 0 { LINE } else { f.alignment.max(1) };
            self.define(*id, f, alignment, fill)?;
        }
        Ok(codes)
    }

    /// An array of code addresses, filled in by the dynamic linker.
    fn pointer_array(&mut self, name: &str, funcs: &[FuncId]) -> Result<DataId, Error> {
        let id = self.module.declare_data(name, Linkage::Local, true, false).map_err(object_error)?;
        let mut desc = DataDescription::new();
        // Explicit zeros rather than zero-init: zero-init data lands in .bss, where the
        // linker drops relocations. Never empty, so every descriptor pointer is valid.
        desc.define(vec![0u8; (funcs.len() * size_of::<usize>()).max(size_of::<usize>())].into_boxed_slice());
        desc.set_align(size_of::<usize>() as u64);
        for (i, f) in funcs.iter().enumerate() {
            let r = self.module.declare_func_in_data(*f, &mut desc);
            desc.write_function_addr((i * size_of::<usize>()) as u32, r);
        }
        self.module.define_data(id, &desc).map_err(object_error)?;
        Ok(id)
    }

    /// Writes the metadata and the descriptor and returns the object file's bytes.
    pub fn finish(mut self, data: &ModuleData) -> Result<Vec<u8>, Error> {
        let metadata = data.serialize();
        let meta_id = self.module.declare_data("lucet_metadata", Linkage::Local, false, false).map_err(object_error)?;
        let mut desc = DataDescription::new();
        desc.define(metadata.clone().into_boxed_slice());
        // Page-aligned, so that the image of memory 0 inside it can be mapped from the file.
        desc.set_align(METADATA_ALIGN);
        self.module.define_data(meta_id, &desc).map_err(object_error)?;

        let functions = self.functions.clone();
        let trampolines = self.trampolines.clone();
        let adapters = self.adapters.clone();
        let functions_id = self.pointer_array("lucet_functions", &functions)?;
        let trampolines_id = self.pointer_array("lucet_trampolines", &trampolines)?;
        let adapters_id = self.pointer_array("lucet_adapters", &adapters)?;

        let mut bytes = vec![0u8; size_of::<ModuleDescriptor>()];
        let mut put = |offset: usize, value: &[u8]| bytes[offset..offset + value.len()].copy_from_slice(value);
        put(offset_of!(ModuleDescriptor, magic), &MAGIC);
        put(offset_of!(ModuleDescriptor, format_version), &FORMAT_VERSION.to_le_bytes());
        put(offset_of!(ModuleDescriptor, metadata_len), &(metadata.len() as u64).to_le_bytes());
        put(offset_of!(ModuleDescriptor, functions_len), &(functions.len() as u64).to_le_bytes());
        put(offset_of!(ModuleDescriptor, trampolines_len), &(trampolines.len() as u64).to_le_bytes());
        put(offset_of!(ModuleDescriptor, adapters_len), &(adapters.len() as u64).to_le_bytes());
        let descriptor_id =
            self.module.declare_data(MODULE_SYMBOL, Linkage::Export, true, false).map_err(object_error)?;
        let mut desc = DataDescription::new();
        desc.define(bytes.into_boxed_slice());
        desc.set_align(align_of_descriptor());
        for (offset, target) in [
            (offset_of!(ModuleDescriptor, metadata_ptr), meta_id),
            (offset_of!(ModuleDescriptor, functions_ptr), functions_id),
            (offset_of!(ModuleDescriptor, trampolines_ptr), trampolines_id),
            (offset_of!(ModuleDescriptor, adapters_ptr), adapters_id),
        ] {
            let gv = self.module.declare_data_in_data(target, &mut desc);
            desc.write_data_addr(offset as u32, gv, 0);
        }
        self.module.define_data(descriptor_id, &desc).map_err(object_error)?;

        self.module.finish().emit().map_err(object_error)
    }
}

/// The start of each function in the code section, given each one's length and its
/// offset within a line: the first at 0 (nothing comes before it to hold a fill, so the
/// first defined function of a module is never moved), each later one at the first
/// address at or after the end of the one before with that offset.
fn layout(items: impl Iterator<Item = (u64, u64)>) -> Vec<u64> {
    let mut end = 0;
    items
        .enumerate()
        .map(|(i, (len, offset))| {
            let offset = if i == 0 { 0 } else { offset % LINE };
            let line = end - end % LINE;
            let start = if line + offset >= end { line + offset } else { line + LINE + offset };
            end = start + len;
            start
        })
        .collect()
}

fn align_of_descriptor() -> u64 {
    std::mem::align_of::<ModuleDescriptor>() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_start_at_their_offset_within_a_line() {
        // Lengths and offsets: a function ending mid-line is followed in the same line
        // when the next one's offset is still ahead, in the next line otherwise.
        let starts = layout([(10, 0), (20, 0), (5, 40), (100, 4), (1, 0), (1, 0x3c)].into_iter());
        assert_eq!(starts, vec![0, 64, 104, 132, 256, 316]);
    }
}
