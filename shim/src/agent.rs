//! Whether this process runs for an AI agent, as far as the shim itself needs to know, and the
//! environment overrides that only a person may use.
//!
//! The daemon decides the context of every request (it reads the client's ancestry from `/proc`
//! itself). The shim needs an answer of its own only where its environment could steer it away
//! from the user's daemon or weaken its fail mode (`SAFESHELL_SOCKET`, `SAFESHELL_HOME`,
//! `SAFESHELL_SHIMS_DIR`, `SAFESHELL_NO_AUTOSTART`, `SAFESHELL_ON_UNAVAILABLE`), and when the
//! daemon cannot be reached at all (agents fail closed by default). In an agent's process these
//! variables are ignored, except that `SAFESHELL_ON_UNAVAILABLE=deny` is kept (stricter).
//!
//! All of this is off the normal path: the variables are looked up first (no system call), an
//! override that names the standard location is no override, and only then is the context
//! decided, cheapest evidence first: `SAFESHELL_CONTEXT=ai`, a built-in marker variable, a marker
//! configured in `config.toml` (`agent_env_markers`), and last a walk up the process tree through
//! `/proc` looking for an agent program (built-in or `agent_programs`). A tree that cannot be
//! followed counts as an agent's, as it does in the daemon.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::locate;

/// Variables that steer the shim; in an agent's process they are ignored (see the module docs).
pub const OVERRIDES: &[&str] = &[
    "SAFESHELL_SOCKET",
    "SAFESHELL_HOME",
    "SAFESHELL_SHIMS_DIR",
    "SAFESHELL_NO_AUTOSTART",
    "SAFESHELL_ON_UNAVAILABLE",
];

/// How many ancestors the walk follows before it gives up (and counts the tree as an agent's),
/// as in the daemon.
const MAX_DEPTH: usize = 1024;

static FORCED: AtomicBool = AtomicBool::new(false);
static AGENT: OnceLock<bool> = OnceLock::new();

/// Declares this process an agent's without looking (agent hooks: the agent runs them).
pub fn force() {
    FORCED.store(true, Ordering::Relaxed);
}

/// Whether this process runs for an agent. Decided once, on first use; see the module docs.
pub fn is_agent() -> bool {
    FORCED.load(Ordering::Relaxed) || *AGENT.get_or_init(detect)
}

/// The value of the override `name` when it may be used: it is set, and either it names what
/// `standard` would give anyway (so it is no override) or this is not an agent's process.
pub fn honoured(name: &str, standard: impl FnOnce() -> Option<OsString>) -> Option<OsString> {
    let value = std::env::var_os(name)?;
    if standard().is_some_and(|s| s == value) || !is_agent() {
        Some(value)
    } else {
        None
    }
}

/// Whether any override is set (an agent's autostarted daemon must not inherit them).
pub fn any_override_set() -> bool {
    OVERRIDES.iter().any(|v| std::env::var_os(v).is_some())
}

fn detect() -> bool {
    let env = |name: &str| std::env::var_os(name).is_some();
    if std::env::var("SAFESHELL_CONTEXT").is_ok_and(|v| v.trim() == "ai") {
        return true;
    }
    if safeshell_protocol::AGENT_ENV_MARKERS.iter().any(|m| env(m)) {
        return true;
    }
    // Settings from the standard config and, stricter still, from the one `SAFESHELL_HOME`
    // names (it may only add markers and programs here).
    let mut configs: Vec<String> = Vec::new();
    let standard = locate::standard_state_dir();
    let mut dirs: Vec<PathBuf> = standard.iter().cloned().collect();
    if let Some(home) = std::env::var_os("SAFESHELL_HOME").filter(|h| !h.is_empty()) {
        let home = PathBuf::from(home);
        if standard.as_ref() != Some(&home) {
            dirs.push(home);
        }
    }
    for dir in &dirs {
        if let Ok(text) = std::fs::read_to_string(dir.join("config.toml")) {
            configs.push(text);
        }
    }
    let configured = |key: &str| -> Vec<String> {
        configs
            .iter()
            .flat_map(|t| locate::config_list_in(t, key))
            .collect()
    };
    if configured("agent_env_markers").iter().any(|m| env(m)) {
        return true;
    }
    let mut programs: Vec<String> = safeshell_protocol::AGENT_PROGRAMS
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    programs.extend(configured("agent_programs"));
    agent_above(&programs)
}

/// (comm, parent pid) of a process.
fn stat(pid: u32) -> Option<(String, u32)> {
    let bytes = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let ppid = text.get(close + 2..)?.split(' ').nth(1)?.parse().ok()?;
    Some((text[open + 1..close].to_owned(), ppid))
}

/// Base names of a process's argv[0] and argv[1] (an interpreted agent runs as `node …/claude`).
fn argv_names(pid: u32) -> Vec<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .take(2)
        .map(|a| {
            let name = Path::new(OsStr::new(&*String::from_utf8_lossy(a)))
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            name.unwrap_or_default()
        })
        .collect()
}

/// Whether a process above this one is an agent program. A process that cannot be read while it
/// is still its child's parent is another user's (`hidepid`): nothing above it is this user's
/// agent. One that exited while we looked, or a tree deeper than [`MAX_DEPTH`], counts as an
/// agent's: a broken chain must never make a command look like a person's.
fn agent_above(programs: &[String]) -> bool {
    let mut child = std::process::id();
    let mut pid = std::os::unix::process::parent_id();
    for _ in 0..MAX_DEPTH {
        if pid <= 1 {
            return false;
        }
        let Some((comm, ppid)) = stat(pid) else {
            return stat(child).is_none_or(|(_, parent)| parent != pid);
        };
        let names = std::iter::once(comm).chain(argv_names(pid));
        for name in names {
            if programs.contains(&name) {
                return true;
            }
        }
        (child, pid) = (pid, ppid);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_reads_this_process() {
        let (comm, ppid) = stat(std::process::id()).unwrap();
        assert_eq!(ppid, std::os::unix::process::parent_id());
        assert!(!comm.is_empty());
        assert!(!argv_names(std::process::id()).is_empty());
    }

    #[test]
    fn the_walk_finds_an_ancestor_by_name_and_nothing_else() {
        // This test process is the parent of nothing here; its own parent (cargo, or whatever
        // ran the tests) is an ancestor of it, so naming the parent finds it.
        let (parent, _) = stat(std::os::unix::process::parent_id()).unwrap();
        assert!(agent_above(&[parent]));
        assert!(!agent_above(&["no-such-agent-program".to_owned()]));
    }
}
