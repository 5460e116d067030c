//! What the container's spec says about how to run the guest, beyond its command.
//!
//! `containerd-shim-wasm` hands the sandbox the container's arguments and environment
//! but not the spec's annotations, so the shim's own settings are environment
//! variables of the container ([`DEADLINE`], [`VERIFY_KEY`], [`CACHE_DIR`]); they are
//! taken out of the environment the guest sees. The memory limit is the one the
//! container's cgroup enforces, read from inside the container where the cgroup
//! filesystem is mounted at `/sys/fs/cgroup` (Kubernetes mounts it; `ctr run` needs
//! `--mount type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro`).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Stops the guest after this long (`10s`, `500ms`, `2m`), through the instance's kill
/// switch; the container exits with [`crate::run::EXIT_DEADLINE`].
pub const DEADLINE: &str = "LUCET_DEADLINE";
/// Runs a precompiled `.so` only if `MODULE.so.minisig` beside it is a valid signature
/// by this minisign public key (the `RW...` key line, or a `.pub` file in the container).
pub const VERIFY_KEY: &str = "LUCET_VERIFY_KEY";
/// Keeps modules compiled from `.wasm`/`.wat` entrypoints in this directory (inside the
/// container, typically a mounted volume), through lucet-wasi's per-user cache.
pub const CACHE_DIR: &str = "LUCET_CACHE_DIR";

const SETTINGS: [&str; 3] = [DEADLINE, VERIFY_KEY, CACHE_DIR];

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{name}={value}: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: String,
    },
}

/// The shim's settings and the guest's environment, split from the container's.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Settings {
    pub deadline: Option<Duration>,
    pub verify_key: Option<String>,
    pub cache_dir: Option<PathBuf>,
    /// `KEY=VALUE` pairs for the guest, in the container's order, without the settings.
    pub guest_env: Vec<(String, String)>,
}

impl Settings {
    /// Splits the container's environment (`KEY=VALUE` strings, as the OCI spec holds
    /// them). An entry without `=` is passed to the guest with an empty value, as a
    /// shell would export it.
    pub fn from_env<S: AsRef<str>>(env: &[S]) -> Result<Settings, SettingsError> {
        let mut s = Settings::default();
        for entry in env {
            let entry = entry.as_ref();
            let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
            match k {
                DEADLINE => {
                    let d = parse_duration(v).map_err(|why| SettingsError::Invalid {
                        name: DEADLINE,
                        value: v.to_owned(),
                        why,
                    })?;
                    s.deadline = Some(d);
                }
                VERIFY_KEY if !v.is_empty() => s.verify_key = Some(v.to_owned()),
                CACHE_DIR if !v.is_empty() => s.cache_dir = Some(PathBuf::from(v)),
                k if SETTINGS.contains(&k) => {}
                _ => s.guest_env.push((k.to_owned(), v.to_owned())),
            }
        }
        Ok(s)
    }

    /// The guest's `PATH`, to find a bare entrypoint name.
    pub fn search_path(&self) -> Option<&str> {
        self.guest_env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str())
    }
}

/// A deadline: lucet-wasi's duration syntax (`10s`, `500ms`, `2m`, ...), longer than zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = lucet_wasi::parse_duration(s)?;
    if d.is_zero() {
        return Err("a deadline must be longer than zero".to_string());
    }
    Ok(d)
}

/// The memory limit of the cgroup described by `proc_self_cgroup` (the text of
/// `/proc/self/cgroup`), reading the limit files below `cgroup_root`
/// (`/sys/fs/cgroup`). `None` when there is no limit or it cannot be read: the kernel
/// still enforces whatever limit there is.
pub fn cgroup_memory_limit(proc_self_cgroup: &str, cgroup_root: &Path) -> Option<u64> {
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        let (dir, file) = if controllers.is_empty() {
            // cgroup v2: the unified hierarchy.
            (cgroup_root.to_owned(), "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            (cgroup_root.join("memory"), "memory.limit_in_bytes")
        } else {
            continue;
        };
        // The whole hierarchy may be mounted, where the cgroup is at its path; or, as
        // runtimes do without a cgroup namespace, only the container's own cgroup,
        // which is then the mount's root.
        for candidate in [dir.join(rel).join(file), dir.join(file)] {
            if let Some(limit) = std::fs::read_to_string(candidate)
                .ok()
                .and_then(|t| parse_memory_limit(&t))
            {
                return Some(limit);
            }
        }
    }
    None
}

/// A cgroup memory limit file's contents: `max` (v2) or a number of bytes; v1 writes
/// "no limit" as a number near `i64::MAX`.
pub fn parse_memory_limit(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" {
        return None;
    }
    let n: u64 = t.parse().ok()?;
    (n < 1 << 62).then_some(n)
}

/// The limit of the cgroup this process is in.
pub fn own_memory_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_memory_limit(&text, Path::new("/sys/fs/cgroup"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_leave_the_guest_environment() {
        let s = Settings::from_env(&[
            "PATH=/bin",
            "LUCET_DEADLINE=1.5s",
            "GREETING=hi=there",
            "LUCET_VERIFY_KEY=RWabc",
            "LUCET_CACHE_DIR=/cache",
            "BARE",
        ])
        .unwrap();
        assert_eq!(s.deadline, Some(Duration::from_millis(1500)));
        assert_eq!(s.verify_key.as_deref(), Some("RWabc"));
        assert_eq!(s.cache_dir.as_deref(), Some(Path::new("/cache")));
        assert_eq!(
            s.guest_env,
            [
                ("PATH".to_string(), "/bin".to_string()),
                ("GREETING".to_string(), "hi=there".to_string()),
                ("BARE".to_string(), String::new()),
            ]
        );
        assert_eq!(s.search_path(), Some("/bin"));
    }

    #[test]
    fn a_bad_deadline_is_named() {
        let e = Settings::from_env(&["LUCET_DEADLINE=soon"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("LUCET_DEADLINE=soon") && e.contains("10s"),
            "{e}"
        );
        assert!(Settings::from_env(&["LUCET_DEADLINE=0s"]).is_err());
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn memory_limits_from_both_cgroup_versions() {
        assert_eq!(parse_memory_limit("max\n"), None);
        assert_eq!(parse_memory_limit("67108864\n"), Some(64 << 20));
        assert_eq!(parse_memory_limit("9223372036854771712"), None);
        let root = tempfile::tempdir().unwrap();
        let v2 = root.path().join("k8s/pod1");
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::write(v2.join("memory.max"), "33554432\n").unwrap();
        assert_eq!(
            cgroup_memory_limit("0::/k8s/pod1\n", root.path()),
            Some(32 << 20)
        );
        let v1 = root.path().join("memory/ctr");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::write(v1.join("memory.limit_in_bytes"), "16777216\n").unwrap();
        assert_eq!(
            cgroup_memory_limit("4:cpu,cpuacct:/ctr\n3:memory:/ctr\n", root.path()),
            Some(16 << 20)
        );
        assert_eq!(cgroup_memory_limit("0::/nowhere\n", root.path()), None);
        // Only the container's own cgroup mounted, at the hierarchy's root.
        let own = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(own.path().join("memory")).unwrap();
        std::fs::write(own.path().join("memory/memory.limit_in_bytes"), "8388608\n").unwrap();
        assert_eq!(
            cgroup_memory_limit("4:memory:/default/c1\n", own.path()),
            Some(8 << 20)
        );
    }
}
