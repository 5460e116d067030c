//! Signing shared objects in minisign's format, so that `DlModule::load_verified`,
//! `lucet-wasi --verify-key` and the stock `minisign -V` accept them.
//!
//! Keys are minisign's own files: make a pair with `minisign -G -p lucet.pub -s
//! lucet.key` (add `-W` for a key without a password). Both unencrypted and
//! password-protected secret keys work; the password is asked for only when the key is
//! encrypted.

use crate::error::Error;
use std::path::{Path, PathBuf};

/// A minisign secret key that signs the shared objects lucetc writes
/// ([`crate::Lucetc::with_signing_key`]).
#[derive(Clone)]
pub struct SigningKey {
    secret: minisign::SecretKey,
    public: minisign::PublicKey,
    path: PathBuf,
}

impl std::fmt::Debug for SigningKey {
    // Never the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads an unencrypted minisign secret key (`minisign -G -W`). An encrypted key is
    /// refused with a message pointing to [`SigningKey::from_file_with_password`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<SigningKey, Error> {
        SigningKey::from_file_with_password(path, || {
            Err("the key is encrypted; give its password (SigningKey::from_file_with_password)".to_string())
        })
    }

    /// Reads a minisign secret key, encrypted or not. `password` is called only if the
    /// key is encrypted; an error it returns becomes the reason loading the key failed.
    pub fn from_file_with_password(
        path: impl AsRef<Path>,
        password: impl FnOnce() -> Result<String, String>,
    ) -> Result<SigningKey, Error> {
        let path = path.as_ref();
        let fail = |reason: String| Error::SigningKey { path: path.to_path_buf(), reason };
        let text = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        let text = String::from_utf8(text).map_err(|_| fail(not_a_secret_key("it is not text")))?;
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let (Some(comment), Some(b64)) = (lines.next(), lines.next()) else {
            return Err(fail(not_a_secret_key("it has fewer than two lines")));
        };
        if !comment.starts_with("untrusted comment:") {
            return Err(fail(not_a_secret_key("its first line is not an `untrusted comment:`")));
        }
        let raw = <ct_codecs::Base64 as ct_codecs::Decoder>::decode_to_vec(b64, None)
            .map_err(|_| fail(not_a_secret_key("its key line is not base64")))?;
        // A public key is 42 bytes; a secret key 158.
        if raw.len() == 42 {
            return Err(fail(
                "this is a public key; signing needs the secret key (`minisign -G` writes it to the file given with \
                 -s, by default ~/.minisign/minisign.key)"
                    .to_string(),
            ));
        }
        let probe = minisign::SecretKey::from_bytes(&raw)
            .map_err(|_| fail(not_a_secret_key(&format!("its key is {} bytes long", raw.len()))))?;
        let key_box = minisign::SecretKeyBox::from_string(&text).map_err(|e| fail(format!("cannot use it: {e}")))?;
        let secret = if probe.is_encrypted() {
            let password = password().map_err(&fail)?;
            key_box.into_secret_key(Some(password)).map_err(|e| {
                fail(match e.kind() {
                    minisign::ErrorKind::Verify => "wrong password for this key".to_string(),
                    _ => format!("cannot decrypt it: {e}"),
                })
            })?
        } else {
            match key_box.into_unencrypted_secret_key() {
                Ok(secret) => secret,
                // `minisign -G -W` (0.11) leaves the checksum of a key without a password
                // at zero; the trial signature below still catches a damaged key.
                Err(_) if raw[raw.len() - 32..].iter().all(|&b| b == 0) => probe,
                Err(e) => return Err(fail(format!("cannot use it: {e}"))),
            }
        };
        let public = minisign::PublicKey::from_secret_key(&secret).map_err(|e| fail(format!("cannot use it: {e}")))?;
        // Signing with a key whose secret half does not match its public half would
        // produce signatures nothing accepts; find out now rather than at load time.
        minisign::sign(Some(&public), &secret, &b""[..], Some("check"), Some("check"))
            .map_err(|_| fail("the key is damaged: its secret and public halves do not match".to_string()))?;
        Ok(SigningKey { secret, public, path: path.to_path_buf() })
    }

    /// The file the key was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The matching public key, base64 as in the second line of a `.pub` file.
    pub fn public_key_base64(&self) -> String {
        self.public.to_base64()
    }

    /// Signs `bytes`, the whole shared object about to be written to `out`, and returns
    /// the text of its `.minisig` file. The default trusted comment names the time, the
    /// file and lucetc's version, as the stock tool names the time and the file.
    pub(crate) fn sign(&self, bytes: &[u8], out: &Path, trusted_comment: Option<&str>) -> Result<String, Error> {
        let default;
        let trusted = match trusted_comment {
            Some(t) => t,
            None => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let file = out.file_name().map(|f| f.to_string_lossy()).unwrap_or_default();
                default = format!("timestamp:{now}\tfile:{file}\tlucetc:{}", env!("CARGO_PKG_VERSION"));
                &default
            }
        };
        check_trusted_comment(trusted).map_err(Error::Sign)?;
        let sig = minisign::sign(
            Some(&self.public),
            &self.secret,
            bytes,
            Some(trusted),
            Some("signature from lucetc secret key"),
        )
        .map_err(|e| Error::Sign(e.to_string()))?;
        Ok(sig.into_string())
    }
}

fn not_a_secret_key(why: &str) -> String {
    format!(
        "not a minisign secret key ({why}); expected the file that `minisign -G` writes with -s (an `untrusted \
         comment:` line and a base64 key line)"
    )
}

/// A trusted comment is one line of a four-line file.
pub fn check_trusted_comment(text: &str) -> Result<(), String> {
    if text.contains(['\n', '\r']) {
        Err("the trusted comment must be a single line".to_string())
    } else {
        Ok(())
    }
}
