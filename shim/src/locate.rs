//! Finding things: the socket, the state directory, the shims, the real program and the real
//! shell, and the few settings the shim reads itself (it has no TOML parser, by design).

use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::agent;

/// The standard state directory, `~/.safeshell`, whatever the environment says otherwise.
pub fn standard_state_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".safeshell"))
}

/// The state directory: `$SAFESHELL_HOME` (not in an agent's process), else `~/.safeshell`.
fn state_dir() -> Option<PathBuf> {
    let standard = || standard_state_dir().map(PathBuf::into_os_string);
    if let Some(d) = agent::honoured("SAFESHELL_HOME", standard).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    standard_state_dir()
}

/// The shims directory: `$SAFESHELL_SHIMS_DIR` (not in an agent's process), else the state
/// directory's `shims`. The shell snippet of `safeshell init` exports the standard one, which
/// costs nothing to honour.
pub fn shims_dir() -> Option<PathBuf> {
    let standard = || standard_state_dir().map(|d| d.join("shims").into_os_string());
    if let Some(d) = agent::honoured("SAFESHELL_SHIMS_DIR", standard).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    state_dir().map(|d| d.join("shims"))
}

/// The socket to ask: [`safeshell_protocol::socket_path`], except that in an agent's process
/// `$SAFESHELL_SOCKET` is ignored (the standard location: `$XDG_RUNTIME_DIR`, else `HOME`).
pub fn socket_path() -> Option<PathBuf> {
    use safeshell_protocol::socket::{SOCKET_ENV, socket_path_from};
    let standard =
        || socket_path_from(|n| (n != SOCKET_ENV).then(|| std::env::var_os(n)).flatten());
    match agent::honoured(SOCKET_ENV, || standard().map(PathBuf::into_os_string)) {
        Some(s) if !s.is_empty() => Some(PathBuf::from(s)),
        _ => standard(),
    }
}

/// `config.toml` of the state directory, read once.
fn config_text() -> Option<&'static str> {
    static TEXT: OnceLock<Option<String>> = OnceLock::new();
    TEXT.get_or_init(|| std::fs::read_to_string(state_dir()?.join("config.toml")).ok())
        .as_deref()
}

/// A top-level `key = "value"` from `config.toml` (enough for the string settings the shim
/// needs; the daemon validates the whole file).
pub fn config_value(key: &str) -> Option<String> {
    config_value_in(config_text()?, key)
}

/// A top-level `key = "value"` (or a bare value) in config text.
pub fn config_value_in(text: &str, key: &str) -> Option<String> {
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

/// The strings of a top-level `key = ["a", "b", …]` in config text (the array may span lines);
/// empty when the key is absent.
pub fn config_list_in(text: &str, key: &str) -> Vec<String> {
    let mut value = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            break; // only top-level keys
        }
        if let Some((k, _)) = trimmed.split_once('=')
            && k.trim() == key
        {
            let eq = line.find('=').unwrap_or(0);
            value = Some(&text[offset + eq + 1..]);
            break;
        }
        offset += line.len();
    }
    let Some(value) = value.map(str::trim_start) else {
        return Vec::new();
    };
    let Some(mut rest) = value.strip_prefix('[') else {
        return Vec::new();
    };
    let mut items = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        let mut chars = rest.chars();
        match chars.next() {
            Some('#') => rest = rest.split_once('\n').map_or("", |(_, r)| r),
            Some(q @ ('"' | '\'')) => {
                let body = &rest[1..];
                let Some(end) = body.find(q) else {
                    return items;
                };
                items.push(body[..end].to_owned());
                rest = &body[end + 1..];
            }
            _ => return items, // `]`, the end, or something this reader does not know
        }
    }
}

/// What happens to a command when the daemon cannot be reached even after starting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailMode {
    /// Run it unchecked, with a warning naming the setting.
    Allow(String),
    /// Refuse it, naming the setting that says so.
    Deny(String),
}

/// The fail mode. For a person: `$SAFESHELL_ON_UNAVAILABLE`, else `on_unavailable` in
/// config.toml, else allow. For an agent: deny unless both `on_unavailable_ai` (default deny)
/// and `on_unavailable` say allow; the variable may only make it deny.
pub fn fail_mode() -> FailMode {
    let env = std::env::var("SAFESHELL_ON_UNAVAILABLE").ok();
    let human = config_value("on_unavailable");
    if !agent::is_agent() {
        let (value, from) = match (env, human) {
            (Some(v), _) => (v, "SAFESHELL_ON_UNAVAILABLE"),
            (None, Some(v)) => (v, "on_unavailable"),
            (None, None) => ("allow".to_owned(), "on_unavailable"),
        };
        return if value.trim() == "deny" {
            FailMode::Deny(format!("{from} = \"deny\""))
        } else {
            FailMode::Allow(format!("{from} = \"allow\""))
        };
    }
    let ai = config_value("on_unavailable_ai");
    if env.as_deref().map(str::trim) == Some("deny") {
        return FailMode::Deny("SAFESHELL_ON_UNAVAILABLE = \"deny\"".into());
    }
    if human.as_deref().map(str::trim) == Some("deny") {
        return FailMode::Deny("on_unavailable = \"deny\"".into());
    }
    match ai.as_deref().map(str::trim) {
        Some("allow") => FailMode::Allow("on_unavailable_ai = \"allow\"".into()),
        Some(_) => FailMode::Deny("on_unavailable_ai = \"deny\"".into()),
        None => FailMode::Deny("on_unavailable_ai = \"deny\", the default for agents".into()),
    }
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

/// This shim's own identity: `stat` of `/proc/self/exe` follows the link to the executable in one
/// system call (`current_exe` reads the link, then the path needs a `stat` of its own).
fn this_executable() -> Option<(u64, u64)> {
    identity(Path::new("/proc/self/exe"))
        .or_else(|| std::env::current_exe().ok().and_then(|e| identity(&e)))
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
        let me = me.get_or_insert_with(this_executable);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_values_of_config_text() {
        let text = "on_unavailable = \"deny\" # people\n\
                    agent_env_markers = [\n  \"MY_AGENT\", # ours\n  'OTHER',\n]\n\
                    agent_programs = [\"bot\"]\n\
                    [section]\nagent_programs = [\"not-top-level\"]\n";
        assert_eq!(
            config_value_in(text, "on_unavailable").as_deref(),
            Some("deny")
        );
        assert_eq!(config_value_in(text, "on_unavailable_ai"), None);
        assert_eq!(
            config_list_in(text, "agent_env_markers"),
            ["MY_AGENT", "OTHER"]
        );
        assert_eq!(config_list_in(text, "agent_programs"), ["bot"]);
        assert!(config_list_in(text, "extra_shims").is_empty());
        assert!(config_list_in("agent_programs = \"x\"\n", "agent_programs").is_empty());
    }
}
