//! Deciding whether a request comes from an agent or a human, and process-tree look-ups.
//!
//! Order: the surface (agent hooks are agents); `SAFESHELL_CONTEXT=ai|human` from the client; a
//! known agent environment marker the client saw; otherwise the client's ancestry (via `/proc`),
//! matched against agent program names. Ancestry walks are cached per parent process.

use std::collections::HashMap;
use std::sync::Mutex;

use safeshell_protocol::{ContextHints, Surface};
use safeshell_rules::Context;

/// What was decided, and why (for the audit log and `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// Agent or human.
    pub context: Context,
    /// How it was decided, e.g. `marker CLAUDECODE` or `ancestor claude (pid 123)`.
    pub source: String,
    /// The agent's name, when known.
    pub agent: Option<String>,
    /// The pid of the agent process, when the ancestry walk already found it (the daemon looks
    /// it up with [`Detector::agent_ancestor`] only when an approval needs it).
    pub agent_pid: Option<u32>,
}

/// One process as read from `/proc/<pid>/stat` and `cmdline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Parent pid.
    pub ppid: u32,
    /// Start time in clock ticks since boot (tells a reused pid apart).
    pub start_time: u64,
    /// The kernel's short name (`comm`).
    pub comm: String,
    /// Base names of argv[0] and argv[1] (interpreted agents show up as `node …/claude`).
    pub argv_names: Vec<String>,
}

/// Reads `/proc/<pid>/stat`: (comm, parent pid, start time).
fn read_stat(pid: u32) -> Option<(String, u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split at the last `)`.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let mut fields = stat.get(close + 2..)?.split(' ');
    let ppid = fields.nth(1)?.parse().ok()?;
    let start_time = fields.nth(17)?.parse().ok()?;
    Some((comm, ppid, start_time))
}

/// The session id of a process (`/proc/<pid>/stat` field 6).
pub fn session_id(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    stat.get(close + 2..)?.split(' ').nth(3)?.parse().ok()
}

/// A process's parent pid and start time (one small read).
pub fn parent_and_start(pid: u32) -> Option<(u32, u64)> {
    read_stat(pid).map(|(_, ppid, start)| (ppid, start))
}

/// Reads a process's parent, start time and names from `/proc`.
pub fn proc_info(pid: u32) -> Option<ProcInfo> {
    let (comm, ppid, start_time) = read_stat(pid)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv_names = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .take(2)
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            s.rsplit('/').next().unwrap_or(&s).to_owned()
        })
        .collect();
    Some(ProcInfo {
        ppid,
        start_time,
        comm,
        argv_names,
    })
}

/// True when `pid` is `ancestor` or one of its descendants.
pub fn is_descendant_of(pid: u32, ancestor: u32) -> bool {
    let mut current = pid;
    for _ in 0..256 {
        if current == ancestor {
            return true;
        }
        if current <= 1 {
            return false;
        }
        match parent_and_start(current) {
            Some((ppid, _)) => current = ppid,
            None => return false,
        }
    }
    false
}

/// A process identity that survives pid reuse: (pid, start time).
type ProcKey = (u32, u64);

/// Detects contexts, caching ancestry walks by (parent pid, its start time).
pub struct Detector {
    markers: Vec<String>,
    programs: Vec<String>,
    cache: Mutex<HashMap<ProcKey, Option<(String, u32)>>>,
}

/// Cached ancestry entries kept before the cache is cleared.
pub const ANCESTRY_CACHE_LIMIT: usize = 4096;

impl Detector {
    /// A detector with the configured marker variables and agent program names.
    pub fn new(markers: Vec<String>, programs: Vec<String>) -> Detector {
        Detector {
            markers,
            programs,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Decides the context of a request.
    pub fn detect(&self, surface: &Surface, hints: &ContextHints, client_pid: u32) -> Detected {
        if let Surface::AgentHook { agent } = surface {
            return Detected {
                context: Context::Ai,
                source: format!("agent hook ({agent})"),
                agent: Some(agent.clone()),
                agent_pid: None, // looked up only when an approval needs it
            };
        }
        match hints.safeshell_context.as_deref().map(str::trim) {
            Some("ai") => {
                return Detected {
                    context: Context::Ai,
                    source: "SAFESHELL_CONTEXT=ai".into(),
                    agent: None,
                    agent_pid: None, // looked up only when an approval needs it
                };
            }
            Some("human") => {
                // A claim to be human is not believed from inside an agent: an agent could prefix
                // any command with SAFESHELL_CONTEXT=human.
                if let Some(marker) = hints
                    .agent_markers
                    .iter()
                    .find(|m| self.markers.iter().any(|k| k == *m))
                {
                    return Detected {
                        context: Context::Ai,
                        source: format!(
                            "marker {marker} (SAFESHELL_CONTEXT=human ignored inside an agent)"
                        ),
                        agent: Some(marker_agent(marker).to_owned()),
                        agent_pid: None, // looked up only when an approval needs it
                    };
                }
                if let Some((name, pid)) = self.agent_ancestor(client_pid) {
                    return Detected {
                        context: Context::Ai,
                        source: format!(
                            "ancestor {name} (pid {pid}) (SAFESHELL_CONTEXT=human ignored inside an agent)"
                        ),
                        agent: Some(name),
                        agent_pid: Some(pid),
                    };
                }
                return Detected {
                    context: Context::Human,
                    source: "SAFESHELL_CONTEXT=human".into(),
                    agent: None,
                    agent_pid: None,
                };
            }
            _ => {}
        }
        if let Some(marker) = hints
            .agent_markers
            .iter()
            .find(|m| self.markers.iter().any(|k| k == *m))
        {
            return Detected {
                context: Context::Ai,
                source: format!("marker {marker}"),
                agent: Some(marker_agent(marker).to_owned()),
                agent_pid: None, // looked up only when an approval needs it
            };
        }
        if let Some((name, pid)) = self.agent_ancestor(client_pid) {
            return Detected {
                context: Context::Ai,
                source: format!("ancestor {name} (pid {pid})"),
                agent: Some(name),
                agent_pid: Some(pid),
            };
        }
        Detected {
            context: Context::Human,
            source: "no agent found".into(),
            agent: None,
            agent_pid: None,
        }
    }

    /// The nearest ancestor of `pid` (excluding itself) whose name is an agent program.
    pub fn agent_ancestor(&self, pid: u32) -> Option<(String, u32)> {
        let (parent, _) = parent_and_start(pid)?;
        let parent_start = parent_and_start(parent).map_or(0, |(_, start)| start);
        let key = (parent, parent_start);
        if let Some(hit) = self.cache.lock().expect("cache lock").get(&key) {
            return hit.clone();
        }
        let found = self.walk(parent);
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= ANCESTRY_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, found.clone());
        found
    }

    fn walk(&self, start: u32) -> Option<(String, u32)> {
        let mut pid = start;
        for _ in 0..64 {
            if pid <= 1 {
                return None;
            }
            let info = proc_info(pid)?;
            let names = std::iter::once(&info.comm).chain(info.argv_names.iter());
            for name in names {
                if let Some(p) = self.programs.iter().find(|p| *p == name) {
                    return Some((p.clone(), pid));
                }
            }
            pid = info.ppid;
        }
        None
    }
}

fn marker_agent(marker: &str) -> &'static str {
    match marker {
        m if m.starts_with("CLAUDE") => "claude",
        m if m.starts_with("CODEX") => "codex",
        m if m.starts_with("CURSOR") => "cursor",
        m if m.starts_with("GEMINI") => "gemini",
        m if m.starts_with("AIDER") => "aider",
        m if m.starts_with("WARP") => "warp",
        _ => "agent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = proc_info(std::process::id()).unwrap();
        assert!(me.ppid > 0);
        assert!(is_descendant_of(std::process::id(), me.ppid));
        assert!(!is_descendant_of(me.ppid, std::process::id()));
    }

    #[test]
    fn precedence() {
        let d = Detector::new(
            vec!["CLAUDECODE".into()],
            vec!["no-such-agent-program".into()],
        );
        let pid = std::process::id();
        let hook = Surface::AgentHook {
            agent: "codex".into(),
        };
        assert_eq!(
            d.detect(&hook, &ContextHints::default(), pid).context,
            Context::Ai
        );
        let human = ContextHints {
            safeshell_context: Some("human".into()),
            agent_markers: vec![],
        };
        assert_eq!(
            d.detect(&Surface::PathShim, &human, pid).context,
            Context::Human
        );
        // An agent cannot declare itself human.
        let fake = ContextHints {
            safeshell_context: Some("human".into()),
            agent_markers: vec!["CLAUDECODE".into()],
        };
        assert_eq!(
            d.detect(&Surface::PathShim, &fake, pid).context,
            Context::Ai
        );
        let marked = ContextHints {
            safeshell_context: None,
            agent_markers: vec!["CLAUDECODE".into()],
        };
        let got = d.detect(&Surface::PathShim, &marked, pid);
        assert_eq!(
            (got.context, got.agent.as_deref()),
            (Context::Ai, Some("claude"))
        );
        let unknown = ContextHints {
            safeshell_context: None,
            agent_markers: vec!["SOMETHING_ELSE".into()],
        };
        assert_eq!(
            d.detect(&Surface::PathShim, &unknown, pid).context,
            Context::Human
        );
    }

    #[test]
    fn ancestry_finds_an_agent_program_by_name() {
        // This test process's own name is an ancestor of nothing; its parent (cargo or the test
        // harness) is named by comm. Configure that name as an "agent" and look from a child.
        let me = proc_info(std::process::id()).unwrap();
        let d = Detector::new(vec![], vec![me.comm.clone()]);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = d.agent_ancestor(child.id());
        child.kill().ok();
        child.wait().ok();
        assert_eq!(found, Some((me.comm.clone(), std::process::id())));
    }
}
