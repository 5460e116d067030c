//! Opening a module file, handing that same file to `dlopen`, and checking what the
//! dynamic linker made of it.
//!
//! The file is opened once. Its bytes are checked through a read-only mapping (and a few
//! small ranges through copies read from the same open file with `pread`, which hold the
//! same bytes: `elf_file`), and `dlopen` is given `/proc/<pid>/fd/<fd>`, which names the open file itself rather than
//! whatever the path names by then: swapping the path between the check and the load
//! changes nothing. The kernel still names the mapping by the file's real path, so
//! profilers such as `perf` find the module's symbols as before.
//!
//! After `dlopen`, the object's load address and mapped segments (as the dynamic linker
//! reports them) are compared with the checked file, and so are the descriptor and its
//! arrays, read only once they are known to lie inside those segments. The metadata is
//! read from the checked mapping, which the module keeps (`ModuleFile::into_map`).

use super::descriptor::Layout;
use super::elf_file::Segment;
use super::phases;
use lucet_module::{ModuleDescriptor, MODULE_SYMBOL};
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// An open module file and a read-only view of its bytes.
pub(crate) struct ModuleFile {
    file: File,
    map: Option<memmap2::Mmap>,
    id: FileId,
}

/// The identity the dynamic linker gives a loaded file: device and inode.
type FileId = (u64, u64);

impl ModuleFile {
    pub fn open(path: &Path) -> Result<ModuleFile, String> {
        // Non-blocking, so that a FIFO at the path cannot stall the open.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|e| format!("cannot open the file: {e}"))?;
        ModuleFile::from_file(file)
    }

    /// An already opened file: the sealed copy a verified load made, say.
    pub fn from_file(file: File) -> Result<ModuleFile, String> {
        let meta = file.metadata().map_err(|e| format!("cannot read the file's status: {e}"))?;
        if !meta.is_file() {
            return Err("not a regular file".to_string());
        }
        let map = if meta.len() == 0 {
            None
        } else {
            // SAFETY: a private, read-only mapping that lives as long as `self` (or the
            // module that takes it over, `into_map`) and is only ever read. The bytes can change under it only if another
            // process writes or truncates the file while it is loaded. That breaks
            // `dlopen`'s own mappings of the same file too, so a module file must not be
            // writable by anyone the host does not trust (see docs/architecture.md).
            Some(
                unsafe { memmap2::MmapOptions::new().map_copy_read_only(&file) }
                    .map_err(|e| format!("cannot map the file: {e}"))?,
            )
        };
        Ok(ModuleFile { file, map, id: (meta.dev(), meta.ino()) })
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// The read-only mapping of the file's bytes, kept by the module after loading so
    /// that the metadata it validated is the metadata it reads; `None` for an empty file.
    pub fn into_map(self) -> Option<memmap2::Mmap> {
        self.map
    }

    /// Reads the file's bytes at `offset` into `buf` with `pread`, as far as the file
    /// goes; how many it read (none on an error).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> usize {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset.saturating_add(done as u64)) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        done
    }

    /// Another descriptor of the same open file, for mapping parts of it later.
    pub fn duplicate(&self) -> std::io::Result<File> {
        self.file.try_clone()
    }
}

/// The files this module has loaded, by the identity the dynamic linker gives them.
///
/// The dynamic linker keeps the name an object was opened by and, while the object is
/// loaded, returns it for that name again without opening anything; it also adds the
/// name to an object it finds already loaded from the same file. A `/proc/<pid>/fd/<n>`
/// name must therefore keep naming the same file for as long as an object carries it:
/// each loaded file keeps the descriptor its name refers to open until its last handle
/// is closed, and loading the same file again reuses that name. This holds as long as
/// nothing but this module loads these files; the checks after `dlopen` catch the rest.
/// Keeping the descriptor open also keeps the name valid for debuggers and in-process
/// symbolizers, which open the files the dynamic linker lists.
struct OpenFile {
    /// Handles of this file not closed yet.
    live: usize,
    name: CString,
    _file: File,
}

fn open_files() -> &'static Mutex<HashMap<FileId, OpenFile>> {
    static OPEN: OnceLock<Mutex<HashMap<FileId, OpenFile>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// A `dlopen` handle of a checked file, closed on drop.
pub(crate) struct Loaded {
    handle: *mut libc::c_void,
    id: FileId,
    /// The load address: what the file's addresses are relative to.
    pub base: usize,
}

// SAFETY: the handle refers to immutable, loaded code and data that stay mapped until
// `Drop`; `dlclose` may be called from any thread.
unsafe impl Send for Loaded {}
// SAFETY: as above; nothing is mutated through a shared `Loaded`.
unsafe impl Sync for Loaded {}

impl Drop for Loaded {
    fn drop(&mut self) {
        // Holding the lock, so that the name is not given to another file before the
        // object is gone.
        let mut open = open_files().lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the handle came from a successful dlopen. Every instance holds an
        // `Arc` of its module, so when the module (and this) is dropped no code or data
        // from the object is in use any more.
        unsafe { libc::dlclose(self.handle) };
        if let Some(f) = open.get_mut(&self.id) {
            f.live -= 1;
            if f.live == 0 {
                open.remove(&self.id);
            }
        }
    }
}

fn dlerror_text() -> String {
    // SAFETY: dlerror returns either null or a NUL-terminated string valid until the
    // next dl* call on this thread; it is copied immediately.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown error".to_string()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

/// `dlopen`s the checked file through its descriptor. The file's initialisers have been
/// checked not to exist, so no code from it runs here.
fn dlopen_fd(file: &ModuleFile) -> Result<Loaded, String> {
    let mut open = open_files().lock().unwrap_or_else(|e| e.into_inner());
    let (name, keep) = match open.get(&file.id) {
        Some(f) => (f.name.clone(), None),
        None => {
            let keep = file.file.try_clone().map_err(|e| format!("cannot duplicate the file descriptor: {e}"))?;
            // The process id rather than `self`, so that a debugger attached from
            // another process opens this file too.
            let name = format!("/proc/{}/fd/{}", std::process::id(), keep.as_raw_fd());
            (CString::new(name).expect("no NUL in numbers"), Some(keep))
        }
    };
    // SAFETY: the file was checked to have no initialisers, no dependencies beyond libm
    // and libc, and no IFUNCs, so dlopen runs no code from it; RTLD_LOCAL keeps its
    // symbols out of the process's namespace.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        let error = dlerror_text();
        if !Path::new("/proc/self/fd").is_dir() {
            return Err(format!(
                "dlopen failed ({error}): /proc is not mounted, and lucet loads checked files through it"
            ));
        }
        return Err(format!("dlopen failed: {error}"));
    }
    match keep {
        Some(file_kept) => {
            open.insert(file.id, OpenFile { live: 1, name, _file: file_kept });
        }
        None => open.get_mut(&file.id).expect("looked up above").live += 1,
    }
    drop(open);
    let mut loaded = Loaded { handle, id: file.id, base: 0 };

    // The load address: the first field of the dynamic linker's `struct link_map`.
    #[repr(C)]
    struct LinkMapHead {
        l_addr: usize,
    }
    let mut map: *const LinkMapHead = std::ptr::null();
    // SAFETY: `handle` is live; RTLD_DI_LINKMAP stores a pointer to its link map, which
    // lives as long as the handle and whose first field is the load address.
    let ok = unsafe { libc::dlinfo(handle, libc::RTLD_DI_LINKMAP, (&mut map as *mut *const LinkMapHead).cast()) };
    if ok != 0 || map.is_null() {
        return Err(format!("dlinfo failed: {}", dlerror_text()));
    }
    // SAFETY: checked non-null just above; see the previous comment.
    loaded.base = unsafe { (*map).l_addr };
    Ok(loaded)
}

/// Calls `found` with the program headers of each object the dynamic linker reports at
/// load address `base` (several objects may share one), until it returns `true`; says
/// whether it did. The one walk over `dl_iterate_phdr` the loader makes.
fn any_loaded_at(base: usize, found: &mut dyn FnMut(&[libc::Elf64_Phdr]) -> bool) -> bool {
    struct Search<'f> {
        base: usize,
        found: &'f mut dyn FnMut(&[libc::Elf64_Phdr]) -> bool,
        hit: bool,
    }
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut libc::c_void) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes the `Search` given below, which nothing else
        // references during the call, and an `info` valid for the duration of the call.
        let (search, info) = unsafe { (&mut *data.cast::<Search<'_>>(), &*info) };
        if info.dlpi_addr as usize != search.base || info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: the dynamic linker's own program headers of a loaded object: either
        // inside its first segment (checked to hold them) or a copy it allocated.
        let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
        search.hit = (search.found)(phdrs);
        // Stop at the first match.
        libc::c_int::from(search.hit)
    }
    let mut search = Search { base, found, hit: false };
    // SAFETY: `visit` only reads what it is given and writes to `search`, which outlives
    // the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut search as *mut Search<'_>).cast()) };
    search.hit
}

/// Whether the dynamic linker reports an object loaded at `base` whose `PT_LOAD`
/// segments are `segments` (as the file gives them, relative to `base`): the same
/// addresses, sizes and flags, in the same order. Several objects may share a load
/// address; one of them must match.
fn mapped_as_checked(base: usize, segments: &[Segment]) -> bool {
    any_loaded_at(base, &mut |phdrs| {
        let mapped = phdrs
            .iter()
            .filter(|p| p.p_type == libc::PT_LOAD)
            .map(|p| (base.wrapping_add(p.p_vaddr as usize), p.p_memsz as usize, p.p_flags));
        let checked = segments.iter().map(|s| (base.wrapping_add(s.vaddr as usize), s.memsz as usize, s.flags));
        mapped.eq(checked)
    })
}

/// Loads the checked file and verifies that the dynamic linker loaded that file: the
/// same segments at the load address, the descriptor where the file puts it, and every
/// pointer of the descriptor and entry of its arrays equal to the checked one.
///
/// Nothing but code is used from the loaded object afterwards: the function addresses
/// are the checked ones plus the load address, and the metadata's tables are read from
/// the checked mapping of the file (`ModuleFile::into_map`), so the bytes the runtime
/// trusts are the bytes that were validated. That is why the loaded metadata is not
/// compared with the checked bytes any more. It could differ only if the dynamic
/// linker had loaded another file, or the same file after it changed:
/// - another file: `dlopen` is given a `/proc/<pid>/fd/<n>` name that this module keeps
///   naming the checked file while an object carries it (`OpenFile`), and an object
///   the dynamic linker held under that name from elsewhere would also have to have the
///   checked segments and descriptor, and relocated arrays equal to the checked
///   addresses, to get past the comparisons below;
/// - the same file, changed: only a process that can write the file can do that, and
///   it could as well change it after any comparison, while the code is mapped and
///   running (the mapped code follows later writes to the file). A comparison here
///   would narrow that window, not close it. Module files must therefore not be
///   writable by anyone the host does not trust (docs/security.md, "Out of scope"); a
///   verified load maps a sealed copy that nobody can write.
pub(crate) fn load(file: &ModuleFile, segments: &[Segment], layout: &Layout) -> Result<Loaded, String> {
    let loaded = dlopen_fd(file)?;
    phases::work("dlopen");
    let base = loaded.base;
    let at = |vaddr: u64| base.wrapping_add(vaddr as usize);

    if !mapped_as_checked(base, segments) {
        return Err("the dynamic linker returned an object other than the checked file".to_string());
    }
    // Each range the runtime reads must be readable memory of the object, whose mapped
    // segments were just found to be the checked ones.
    let inside = |addr: usize, len: usize| {
        segments.iter().any(|s| {
            let (start, size) = (at(s.vaddr), s.memsz as usize);
            s.flags & libc::PF_R != 0 && addr >= start && addr.checked_add(len).is_some_and(|end| end <= start + size)
        })
    };

    let sym = CString::new(MODULE_SYMBOL).expect("constant has no NUL");
    // SAFETY: `loaded.handle` is live and `sym` is NUL-terminated.
    let desc = unsafe { libc::dlsym(loaded.handle, sym.as_ptr()) } as usize;
    let size = std::mem::size_of::<ModuleDescriptor>();
    if desc != at(layout.descriptor) || !inside(desc, size) {
        return Err(format!("`{MODULE_SYMBOL}` is not where the file puts it"));
    }
    // SAFETY: `desc` lies inside a readable segment of the object, which stays mapped
    // while `loaded` lives; the dynamic linker has finished writing it.
    let d = unsafe { std::ptr::read_unaligned(desc as *const ModuleDescriptor) };
    let lens = [d.functions_len, d.trampolines_len, d.adapters_len];
    let same = d.metadata_ptr as usize == at(layout.metadata)
        && d.metadata_len == layout.metadata_len
        && [d.functions_ptr, d.trampolines_ptr, d.adapters_ptr]
            .iter()
            .zip(&layout.arrays)
            .zip(lens)
            .all(|((&p, a), n)| p as usize == at(a.at) && n == a.entries.len() as u64);
    if !same {
        return Err("the loaded descriptor differs from the checked one".to_string());
    }
    for array in &layout.arrays {
        let n = array.entries.len();
        if !inside(at(array.at), n * 8) {
            return Err(format!("the descriptor's {} array lies outside the loaded object", array.name));
        }
        // SAFETY: checked just above to lie inside a readable segment of the object;
        // the dynamic linker has finished relocating it.
        let loaded_entries = unsafe { std::slice::from_raw_parts(at(array.at) as *const usize, n) };
        // Every checked entry lies in an executable segment of the file, and those were
        // just found mapped where the file puts them, so equal entries are inside too.
        // One pass without early exits.
        if !loaded_entries.iter().zip(&array.entries).fold(true, |same, (&p, &e)| same & (p == at(e))) {
            return Err(format!("the loaded {} array differs from the checked one", array.name));
        }
    }
    phases::check("after dlopen");
    Ok(loaded)
}

/// `dlopen`s the file without any check, as a loader that trusted it would, and reads
/// the descriptor and its arrays from the loaded object. Returns the object, the
/// addresses the descriptor gives (relative to the load address) and the file offset of
/// the metadata. Only in a measurement build (`unsafe-skip-load-checks`), to measure
/// what the checks add to a load: a file loaded this way runs its constructors, and
/// every pointer in it is believed.
#[cfg(feature = "unsafe-skip-load-checks")]
pub(crate) fn load_unchecked(file: &ModuleFile) -> Result<(Loaded, Layout, u64), String> {
    use super::descriptor::CodeArray;
    let loaded = dlopen_fd(file)?;
    phases::work("dlopen");
    let base = loaded.base;
    let sym = CString::new(MODULE_SYMBOL).expect("constant has no NUL");
    // SAFETY: `loaded.handle` is live and `sym` is NUL-terminated.
    let desc = unsafe { libc::dlsym(loaded.handle, sym.as_ptr()) } as *const ModuleDescriptor;
    if desc.is_null() {
        return Err(format!("no `{MODULE_SYMBOL}` symbol"));
    }
    // SAFETY: none; this build trusts the file (see above).
    let d = unsafe { std::ptr::read_unaligned(desc) };
    let rel = |p: usize| p.wrapping_sub(base) as u64;
    let array = |name: &'static str, p: *const *const u8, n: u64| {
        // SAFETY: none; this build trusts the file (see above).
        let entries = unsafe { std::slice::from_raw_parts(p, n as usize) };
        CodeArray { name, at: rel(p as usize), entries: entries.iter().map(|&e| rel(e as usize)).collect() }
    };
    let layout = Layout {
        descriptor: rel(desc as usize),
        metadata: rel(d.metadata_ptr as usize),
        metadata_len: d.metadata_len,
        arrays: [
            array("functions", d.functions_ptr, d.functions_len),
            array("trampolines", d.trampolines_ptr, d.trampolines_len),
            array("adapters", d.adapters_ptr, d.adapters_len),
        ],
    };
    // The metadata's place in the file, from the program headers the dynamic linker
    // loaded the object by.
    let at = file_offset_of(base, layout.metadata).ok_or("the metadata lies outside the loaded segments")?;
    Ok((loaded, layout, at))
}

/// The file offset of the byte that the object loaded at `base` has at `vaddr`, by its
/// `PT_LOAD` program headers as the dynamic linker holds them.
#[cfg(feature = "unsafe-skip-load-checks")]
fn file_offset_of(base: usize, vaddr: u64) -> Option<u64> {
    let mut offset = None;
    any_loaded_at(base, &mut |phdrs| {
        offset = phdrs
            .iter()
            .find(|p| p.p_type == libc::PT_LOAD && (p.p_vaddr..p.p_vaddr + p.p_filesz).contains(&vaddr))
            .map(|p| vaddr - p.p_vaddr + p.p_offset);
        true
    });
    offset
}
