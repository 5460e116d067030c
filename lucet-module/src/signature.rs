//! Where a module's signature lives, which `lucetc --sign-key` and
//! `DlModule::load_verified` must agree on.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The signature of the module at `path`: `path` with `.minisig` appended
/// (`module.so.minisig`), the name the stock `minisign` tool uses too.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".minisig");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_to_the_whole_name() {
        assert_eq!(signature_path(Path::new("a/b.so")), Path::new("a/b.so.minisig"));
        assert_eq!(signature_path(Path::new("b")), Path::new("b.minisig"));
    }
}
