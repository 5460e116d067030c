//! File types as WASI reports them, and the directory entries `fd_readdir` caches.

use crate::types::filetype;
use cap_std::fs::{File, FileTypeExt};

/// One directory entry as `fd_readdir` reports it.
#[derive(Debug, Clone)]
pub(crate) struct ReaddirEntry {
    pub(crate) name: Vec<u8>,
    pub(crate) ino: u64,
    pub(crate) ty: u8,
}

pub(crate) fn filetype_of(ft: cap_std::fs::FileType) -> u8 {
    if ft.is_dir() {
        filetype::DIRECTORY
    } else if ft.is_file() {
        filetype::REGULAR_FILE
    } else if ft.is_symlink() {
        filetype::SYMBOLIC_LINK
    } else if ft.is_char_device() {
        filetype::CHARACTER_DEVICE
    } else if ft.is_block_device() {
        filetype::BLOCK_DEVICE
    } else if ft.is_socket() {
        filetype::SOCKET_STREAM
    } else {
        filetype::UNKNOWN
    }
}

pub(crate) fn file_filetype(f: &File) -> u8 {
    f.metadata()
        .map(|m| filetype_of(m.file_type()))
        .unwrap_or(filetype::UNKNOWN)
}
