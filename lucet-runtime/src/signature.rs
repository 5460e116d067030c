//! Signed modules: [`crate::DlModule::load_verified`] loads a `.so` only if the minisign
//! signature beside it (`module.so.minisig`) was made over exactly its bytes by the
//! given [`PublicKey`]. The format is minisign's, so `lucetc --sign-key` and the stock
//! `minisign -S` tool both produce signatures that this accepts, and `minisign -V`
//! accepts lucetc's.
//!
//! # Why the verified bytes are the loaded bytes
//!
//! Checking the file at its path and then handing the path to `dlopen` leaves a window
//! in which anyone who can write the file, or rename into its directory, swaps in other
//! bytes. So the path is read exactly once, into an anonymous memory file
//! (`memfd_create`) that is then sealed (`F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK |
//! F_SEAL_SEAL`). From that moment the kernel refuses every change to its contents, from
//! this process or from any other that gets hold of it through `/proc`. Everything after
//! works on that one sealed file:
//! - the signature is checked against a read-only mapping of it;
//! - the ELF checks run on the same mapping;
//! - `dlopen` opens it through `/proc/<pid>/fd/N`.
//!
//! The file at the original path is never mapped, executable or otherwise, and nothing
//! from it runs unless its signature held. The sealed file then goes through the same
//! checks and the same `dlopen` discipline as any module file (`module/load.rs`), which
//! keeps the name `dlopen` is given bound to that one file for as long as it is loaded.
//!
//! # What it costs
//!
//! Compared with [`crate::DlModule::load`]: one copy of the file into memory (usually done
//! by the kernel with `copy_file_range`), one BLAKE2b pass over it and two Ed25519
//! verifications. The loaded code then lives in memory owned by this process rather
//! than in the shared page cache, so processes that load the same signed module do not
//! share its pages, and its memory counts as shared memory (swap, not file-backed).
//! Measured on a 2 MB module: about 7.3 ms of CPU time against 3.4 ms for `load`, of
//! which 2.6 ms is the signature check itself.
//!
//! A valid signature proves that the key's holder signed these bytes. It says nothing
//! about the file name or the version: someone who can replace files can replace a module
//! and its `.minisig` with another pair the same key signed. The trusted comment (lucetc
//! writes the time, the file name and its own version) is covered by the signature, but
//! the runtime does not interpret it.

use crate::error::Error;
use lucet_module::signature_path;
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Signature files and public keys are a few hundred bytes; anything far larger is not one.
const MAX_TEXT_FILE: u64 = 64 * 1024;

/// A minisign public key that module signatures are checked against.
///
/// Make a key pair with the stock tool, `minisign -G -p lucet.pub -s lucet.key`; sign
/// modules with `lucetc --sign-key lucet.key`, and load them with
/// [`crate::DlModule::load_verified`] and this key.
#[derive(Clone)]
pub struct PublicKey {
    key: minisign_verify::PublicKey,
    /// Where the key came from, for messages.
    origin: String,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey").field("origin", &self.origin).finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Reads a public key file as `minisign -G` writes it: an `untrusted comment:` line,
    /// then the base64 key. A file holding only the base64 key line is accepted too.
    pub fn from_file(path: impl AsRef<Path>) -> Result<PublicKey, Error> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text =
            read_small_text(path).map_err(|reason| Error::InvalidPublicKey { origin: origin.clone(), reason })?;
        PublicKey::parse(&text, origin)
    }

    /// Parses the text of a public key file (see [`PublicKey::from_file`]).
    pub fn decode(text: &str) -> Result<PublicKey, Error> {
        PublicKey::parse(text, "given as text".to_string())
    }

    /// Parses the base64 key alone, as `minisign -P` takes it (`RWQ...`, 56 characters).
    pub fn from_base64(key: &str) -> Result<PublicKey, Error> {
        let origin = format!("`{}`", key.trim());
        let key = minisign_verify::PublicKey::from_base64(key.trim())
            .map_err(|e| Error::InvalidPublicKey { reason: key_error(key.trim(), e), origin: origin.clone() })?;
        Ok(PublicKey { key, origin })
    }

    /// Where the key came from: a file path, or the key itself.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn parse(text: &str, origin: String) -> Result<PublicKey, Error> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let invalid = |reason: String| Error::InvalidPublicKey { origin: origin.clone(), reason };
        let first = lines.next().ok_or_else(|| invalid("it is empty; expected a minisign public key".into()))?;
        let b64 = if first.starts_with("untrusted comment:") {
            lines.next().ok_or_else(|| invalid("the key line after the `untrusted comment:` line is missing".into()))?
        } else {
            first
        };
        let key = minisign_verify::PublicKey::from_base64(b64).map_err(|e| invalid(key_error(b64, e)))?;
        Ok(PublicKey { key, origin })
    }

    /// Checks `signature` over `bytes`, the whole module file.
    fn verify(&self, bytes: &[u8], signature: &minisign_verify::Signature) -> Result<(), String> {
        use minisign_verify::Error as E;
        self.key.verify(bytes, signature, false).map_err(|e| match e {
            E::UnexpectedKeyId => format!(
                "it was signed with a different key than the public key {}; verify it with the public key of the \
                 key that signed it, or sign it again with the key you trust",
                self.origin
            ),
            E::UnexpectedAlgorithm => "the signature uses minisign's legacy mode, which hashes nothing first and \
                                       is not accepted; sign the module again with lucetc or a current minisign \
                                       (without -l)"
                .to_string(),
            E::InvalidSignature => "the signature does not match: the module or its signature was changed after it \
                                    was signed; recompile the module and sign it again"
                .to_string(),
            other => format!("the signature could not be checked ({other})"),
        })
    }
}

fn key_error(b64: &str, e: minisign_verify::Error) -> String {
    match e {
        minisign_verify::Error::UnsupportedAlgorithm => {
            "the key is for a signature algorithm other than minisign's Ed25519".to_string()
        }
        // A secret key's base64 line is 212 characters, a public key's 56.
        _ if b64.len() > 100 => "this looks like a secret key; give the public key (the .pub file that \
                                 `minisign -G` writes), which is all verifying needs"
            .to_string(),
        _ => "not a minisign public key: expected the .pub file that `minisign -G` writes (an `untrusted \
              comment:` line and a 56-character base64 key starting with `RW`), or that key line alone"
            .to_string(),
    }
}

/// Reads a signature or key file, refusing anything too large to be one.
fn read_small_text(path: &Path) -> Result<String, String> {
    let file = File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_TEXT_FILE + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_TEXT_FILE {
        return Err(format!("it is larger than {MAX_TEXT_FILE} bytes, far too large to be a key or a signature"));
    }
    String::from_utf8(bytes).map_err(|_| "it is not text (minisign keys and signatures are UTF-8 text)".to_string())
}

/// Reads the module at `path` once into a sealed memory file, checks `path.minisig`
/// against that copy, and returns it. `shown` names the module in errors. The caller
/// loads the returned file itself, never the path.
pub(crate) fn read_verified(path: &Path, shown: &str, key: &PublicKey) -> Result<File, Error> {
    let rejected = |reason: String| Error::SignatureRejected { path: shown.to_string(), reason };
    let invalid = |reason: String| Error::InvalidModule { path: shown.to_string(), reason };

    // The signature first: an unsigned module is the common refusal, and costs no copy.
    let sig_path = signature_path(path);
    let signature = match std::fs::metadata(&sig_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(rejected(format!(
                "it is not signed: {} does not exist; sign it when compiling (`lucetc --sign-key SECRET_KEY`) \
                 or with `minisign -Sm {shown}`",
                sig_path.display()
            )))
        }
        _ => read_small_text(&sig_path).map_err(|e| rejected(format!("the signature {}: {e}", sig_path.display())))?,
    };
    let signature = minisign_verify::Signature::decode(&signature).map_err(|e| {
        rejected(match e {
            minisign_verify::Error::UnsupportedAlgorithm => {
                format!("the signature {} uses an algorithm other than minisign's Ed25519", sig_path.display())
            }
            _ => format!(
                "the signature {} is malformed (expected minisign's four lines: an untrusted comment, the \
                 signature, a trusted comment and the global signature); sign the module again",
                sig_path.display()
            ),
        })
    })?;

    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer. It changes
    // nothing for the regular file that is required below.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| invalid(format!("cannot read the file: {e}")))?;
    let meta = file.metadata().map_err(|e| invalid(format!("cannot read the file: {e}")))?;
    if !meta.is_file() {
        return Err(invalid("not a regular file; give the path of a compiled .so".to_string()));
    }
    let sealed = sealed_copy(&file, meta.len(), path).map_err(|e| {
        invalid(format!("cannot copy the file into sealed memory for verification (memfd_create): {e}"))
    })?;
    drop(file);
    // SAFETY: the file is sealed against writes, growth and shrinking (and against
    // removing those seals), so no one, in this process or another, can change the
    // bytes under this read-only mapping or truncate it while the slice is in use.
    let map = unsafe { memmap2::Mmap::map(&sealed) }
        .map_err(|e| invalid(format!("cannot map the sealed copy of the file: {e}")))?;
    key.verify(&map, &signature).map_err(rejected)?;
    Ok(sealed)
}

/// Copies `len` bytes of `file` into a new memory file and seals it. The memory file is
/// named after `path`, so `/proc/PID/maps` and debuggers show which module it holds.
fn sealed_copy(file: &File, len: u64, path: &Path) -> std::io::Result<File> {
    let base = path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or(b"module");
    // Names are limited to 249 bytes; a path component cannot hold a NUL.
    let mut name = b"lucet-verified:".to_vec();
    name.extend(base.iter().take(200).filter(|&&b| b != 0));
    let name = CString::new(name).expect("NUL bytes were filtered out");
    // SAFETY: a plain system call with a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    let mut copy = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    // If the file changes while it is copied, the copy matches no signature and is refused.
    std::io::copy(&mut file.take(len), &mut copy)?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: fcntl on a descriptor we own; nothing maps it yet, so F_SEAL_WRITE applies.
    if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A public key from `minisign -G -W`, and the signature `minisign -Sm hello -t test`
    // made of the five bytes `hello` with its secret key.
    const PUB: &str = "untrusted comment: minisign public key 115366F0CB725DB4\n\
                       RWS0XXLL8GZTEXWESZNaBkzFY+ArsSvV9KP9v0YhqMI5nlt+l/m0fxUo\n";
    const PUB_B64: &str = "RWS0XXLL8GZTEXWESZNaBkzFY+ArsSvV9KP9v0YhqMI5nlt+l/m0fxUo";
    const SIG: &str = "untrusted comment: signature from minisign secret key\n\
        RUS0XXLL8GZTEVbpoStiBlEASlPyTgGXudpM77ibSWpml+YKSV/GOUmehYu1QNvCyUR0sjYuai7F6WIkmJWijv3uZAcgDU7d9wk=\n\
        trusted comment: test\n\
        2EIFR9ZJ5BNYcpzRGfCyZnruo2OL40WH4TDkWJimy4e2kyn36YlNPf2dTYXG5VhyodkKv0hZcvAvzQTl+meVCQ==\n";

    #[test]
    fn public_key_forms() {
        let k = PublicKey::decode(PUB).unwrap();
        assert_eq!(k.origin(), "given as text");
        PublicKey::from_base64(PUB_B64).unwrap();
        PublicKey::decode(&format!("{PUB_B64}\r\n")).unwrap();
        let e = PublicKey::decode("").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = PublicKey::decode("untrusted comment: x\n").unwrap_err().to_string();
        assert!(e.contains("key line"), "{e}");
        let e = PublicKey::from_base64("hello").unwrap_err().to_string();
        assert!(e.contains("not a minisign public key"), "{e}");
        let e = PublicKey::from_base64(&"RW".repeat(106)).unwrap_err().to_string();
        assert!(e.contains("secret key"), "{e}");
    }

    #[test]
    fn verifies_what_the_stock_tool_signed() {
        let k = PublicKey::decode(PUB).unwrap();
        let sig = minisign_verify::Signature::decode(SIG).unwrap();
        k.verify(b"hello", &sig).unwrap();
        let e = k.verify(b"hellp", &sig).unwrap_err();
        assert!(e.contains("changed after it was signed"), "{e}");
        // The trusted comment is signed too.
        let forged =
            minisign_verify::Signature::decode(&SIG.replace("trusted comment: test", "trusted comment: tesT")).unwrap();
        assert!(k.verify(b"hello", &forged).is_err());
    }
}
