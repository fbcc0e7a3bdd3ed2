//! Finding things: the state directory, the shims, the real program and the real shell, and
//! the two settings the shim reads itself (it has no TOML parser, by design).

use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn state_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("SAFESHELL_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".safeshell"))
}

/// The shims directory: `$SAFESHELL_SHIMS_DIR`, else `~/.safeshell/shims`.
pub fn shims_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("SAFESHELL_SHIMS_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    state_dir().map(|d| d.join("shims"))
}

/// A top-level `key = "value"` from `config.toml` (enough for the two string settings the shim
/// needs; the daemon validates the whole file).
pub fn config_value(key: &str) -> Option<String> {
    let text = std::fs::read_to_string(state_dir()?.join("config.toml")).ok()?;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            break; // only top-level keys
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == key {
            let v = v.split('#').next().unwrap_or("").trim();
            return Some(v.trim_matches('"').to_owned());
        }
    }
    None
}

/// The fail mode: `$SAFESHELL_ON_UNAVAILABLE`, else `on_unavailable` in config.toml, else allow.
pub fn on_unavailable() -> String {
    std::env::var("SAFESHELL_ON_UNAVAILABLE")
        .ok()
        .or_else(|| config_value("on_unavailable"))
        .unwrap_or_else(|| "allow".into())
}

/// A file's identity: (device, inode), following symbolic links.
fn identity(p: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    identity(a).is_some_and(|a| Some(a) == identity(b))
}

fn is_executable(m: &std::fs::Metadata) -> bool {
    m.is_file() && m.permissions().mode() & 0o111 != 0
}

/// The real program for `name`: the first executable on PATH that is not in the shims directory
/// and is not this shim.
///
/// Files are compared by (device, inode), and a directory or this binary is looked at only once a
/// candidate exists: one `stat` per PATH entry in the common case, where `canonicalize` of every
/// entry cost a `readlink` per path component (about 90 system calls for a typical PATH).
pub fn real_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let mut shims = None;
    let mut me = None;
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(name);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if !is_executable(&meta) {
            continue;
        }
        let shims = shims.get_or_insert_with(|| shims_dir().and_then(|d| identity(&d)));
        if shims.is_some() && identity(&dir) == *shims {
            continue;
        }
        let me = me.get_or_insert_with(|| std::env::current_exe().ok().and_then(|e| identity(&e)));
        if *me == Some((meta.dev(), meta.ino())) {
            continue;
        }
        return Some(candidate);
    }
    None
}

/// The real shell: `$SAFESHELL_REAL_SHELL`, else `shell` in config.toml, else `/bin/bash`; never
/// this wrapper itself (falls back to `/bin/bash`, then `/bin/sh`).
pub fn real_shell() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    let configured = std::env::var("SAFESHELL_REAL_SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| config_value("shell"));
    for candidate in configured
        .into_iter()
        .chain(["/bin/bash".to_owned(), "/bin/sh".to_owned()])
    {
        let p = PathBuf::from(&candidate);
        let executable = std::fs::metadata(&p).is_ok_and(|m| is_executable(&m));
        if executable && !same_file(&p, &me) {
            return p;
        }
    }
    PathBuf::from("/bin/sh")
}

/// PATH with the shims directory first, when it is not already there.
pub fn path_with_shims_first() -> Option<OsString> {
    let shims = shims_dir()?;
    if !shims.is_dir() {
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path)
        .next()
        .is_some_and(|first| first == shims)
    {
        return None;
    }
    let rest = std::env::split_paths(&path).filter(|p| p != &shims);
    std::env::join_paths(std::iter::once(shims.clone()).chain(rest)).ok()
}
