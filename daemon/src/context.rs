//! Deciding whether a request comes from an agent or a human, and process-tree look-ups.
//!
//! Order: the surface (agent hooks are agents); `SAFESHELL_CONTEXT=ai|human` from the client; a
//! known agent environment marker (built in or configured) among the variable names the client
//! sent; otherwise the client's ancestry (via `/proc`), matched against agent program names.
//! Ancestry walks are cached per parent process. An ancestry that cannot be followed (a process
//! in it exited during the look-up) counts as an agent's.

use std::collections::HashMap;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::rules_cache::lock;

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

/// The longest `/proc/<pid>/stat` line: 52 numeric fields of at most 20 digits and a `comm`
/// (15 bytes for processes, up to 63 for kernel threads, each byte possibly escaped) fit in well
/// under this.
const STAT_CAPACITY: usize = 2048;

/// Reads `/proc/<pid>/stat` with one `read` into a stack buffer (the kernel renders the whole
/// line on the first read; `fs::read_to_string` would add a size query and two more reads, and
/// this is on the path of every request without agent hints) and hands the text to `parse`.
fn with_stat<T>(pid: u32, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
    use std::io::Read;
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut buf = [0u8; STAT_CAPACITY];
    let mut len = 0;
    loop {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                // A short read of a single-record seq file is the whole record; only a full
                // buffer could be cut short, and then the line does not fit: give up.
                if len < buf.len() {
                    break;
                }
                return None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    // `comm` is whatever bytes a process chose (`/proc/self/comm` is writable), so it is decoded
    // loosely: a name that is not UTF-8 must not make a process unreadable (and its ancestry
    // unknown). The numeric fields after it are plain ASCII.
    parse(&String::from_utf8_lossy(&buf[..len]))
}

/// Splits a stat line into `comm` and the fields after it. `pid (comm) state ppid …`: comm may
/// hold spaces and parentheses, so split at the last `)`.
fn split_stat(stat: &str) -> Option<(&str, std::str::Split<'_, char>)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    Some((&stat[open + 1..close], stat.get(close + 2..)?.split(' ')))
}

/// (comm, parent pid, start time) of a stat line.
fn parse_stat(stat: &str) -> Option<(&str, u32, u64)> {
    let (comm, mut fields) = split_stat(stat)?;
    let ppid = fields.nth(1)?.parse().ok()?;
    let start_time = fields.nth(17)?.trim_end().parse().ok()?;
    Some((comm, ppid, start_time))
}

/// Reads `/proc/<pid>/stat`: (comm, parent pid, start time).
fn read_stat(pid: u32) -> Option<(String, u32, u64)> {
    with_stat(pid, |stat| {
        parse_stat(stat).map(|(comm, ppid, start)| (comm.to_owned(), ppid, start))
    })
}

/// The session id of a process (`/proc/<pid>/stat` field 6).
pub fn session_id(pid: u32) -> Option<u32> {
    with_stat(pid, |stat| split_stat(stat)?.1.nth(3)?.parse().ok())
}

/// A process's parent pid and start time (one small read).
pub fn parent_and_start(pid: u32) -> Option<(u32, u64)> {
    with_stat(pid, |stat| {
        parse_stat(stat).map(|(_, ppid, start)| (ppid, start))
    })
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

/// Tells whether a cached process is still the one a pid names, so a reused pid never inherits
/// another process's ancestry.
#[derive(Debug)]
enum Identity {
    /// A pidfd (Linux ≥ 5.3): it becomes readable when the process exits, so one `poll` with no
    /// timeout answers the question without reading `/proc`.
    Pidfd(OwnedFd),
    /// Where pidfds are unavailable (older kernels, or out of file descriptors): the start time,
    /// compared with a fresh read of `/proc/<pid>/stat`.
    StartTime(u64),
}

impl Identity {
    fn of(pid: u32) -> Option<Identity> {
        match pidfd_open(pid) {
            Some(fd) => Some(Identity::Pidfd(fd)),
            None => parent_and_start(pid).map(|(_, start)| Identity::StartTime(start)),
        }
    }

    /// True while the process this identity was taken from is alive (and so still owns `pid`).
    fn still_names(&self, pid: u32) -> bool {
        match self {
            Identity::Pidfd(fd) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                // Zero events within no timeout: not exited. An error counts as "gone".
                matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
            }
            Identity::StartTime(start) => {
                parent_and_start(pid).is_some_and(|(_, now)| now == *start)
            }
        }
    }
}

/// `pidfd_open(2)`: a file descriptor that refers to the process itself rather than its number.
#[allow(unsafe_code)]
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes a pid and flags (0) by value and touches no memory of ours; it
    // returns a new file descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the kernel just returned this descriptor to us, open and owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What the walk up a process's ancestry found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ancestry {
    /// An agent program: its name and pid.
    Agent(String, u32),
    /// The walk reached the top (pid 1, or a process the daemon may not read, such as another
    /// user's when `/proc` is mounted with `hidepid`) without meeting an agent program.
    NoAgent,
    /// The ancestry could not be followed: the client, or a process in its ancestry, exited
    /// during the look-up (twice), or the tree is deeper than [`MAX_DEPTH`]. Treated as an agent:
    /// breaking the chain must never make a command look like a person's.
    Unknown(String),
}

/// How many ancestors a walk follows before giving up (as [`Ancestry::Unknown`]).
pub const MAX_DEPTH: usize = 1024;

/// One parent process's ancestry walk ([`Ancestry::Agent`] or [`Ancestry::NoAgent`]; unknown
/// results are never cached).
#[derive(Debug)]
struct Walked {
    identity: Identity,
    found: Ancestry,
}

/// Detects contexts, caching ancestry walks per parent process.
pub struct Detector {
    /// Replaced by [`Detector::reconfigure`] when `config.toml` changes.
    markers: RwLock<Vec<String>>,
    programs: RwLock<Vec<String>>,
    cache: Mutex<HashMap<u32, Walked>>,
    /// Walks made (tests check that a cached walk is reused).
    #[cfg(test)]
    walks: std::sync::atomic::AtomicUsize,
}

/// Parent processes whose walks are kept (each holds a pidfd). When full, entries of processes
/// that have exited are dropped first, then all.
pub const ANCESTRY_CACHE_LIMIT: usize = 512;

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

impl Detector {
    /// A detector with the configured marker variables and agent program names.
    pub fn new(markers: Vec<String>, programs: Vec<String>) -> Detector {
        Detector {
            markers: RwLock::new(markers),
            programs: RwLock::new(programs),
            cache: Mutex::new(HashMap::new()),
            #[cfg(test)]
            walks: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Takes new marker variables and agent program names (a reloaded config); forgets cached
    /// walks, which were made with the old names. Returns whether anything changed.
    pub fn reconfigure(&self, markers: Vec<String>, programs: Vec<String>) -> bool {
        let same = *read(&self.markers) == markers && *read(&self.programs) == programs;
        if !same {
            *self.markers.write().unwrap_or_else(PoisonError::into_inner) = markers;
            *self
                .programs
                .write()
                .unwrap_or_else(PoisonError::into_inner) = programs;
            lock(&self.cache).clear();
        }
        !same
    }

    /// Whether an environment variable's name is an agent marker: a built-in one, or one
    /// configured in `agent_env_markers`. Clients send the names of all their variables, so any
    /// other name counts for nothing.
    pub fn is_marker(&self, name: &str) -> bool {
        safeshell_protocol::AGENT_ENV_MARKERS.contains(&name)
            || read(&self.markers).iter().any(|k| k == name)
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
                if let Some(marker) = hints.agent_markers.iter().find(|m| self.is_marker(m)) {
                    return Detected {
                        context: Context::Ai,
                        source: format!(
                            "marker {marker} (SAFESHELL_CONTEXT=human ignored inside an agent)"
                        ),
                        agent: Some(marker_agent(marker).to_owned()),
                        agent_pid: None, // looked up only when an approval needs it
                    };
                }
                match self.ancestry(client_pid) {
                    Ancestry::Agent(name, pid) => {
                        return Detected {
                            context: Context::Ai,
                            source: format!(
                                "ancestor {name} (pid {pid}) (SAFESHELL_CONTEXT=human ignored inside an agent)"
                            ),
                            agent: Some(name),
                            agent_pid: Some(pid),
                        };
                    }
                    Ancestry::Unknown(why) => return unknown_ancestry(&why),
                    Ancestry::NoAgent => {}
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
        if let Some(marker) = hints.agent_markers.iter().find(|m| self.is_marker(m)) {
            return Detected {
                context: Context::Ai,
                source: format!("marker {marker}"),
                agent: Some(marker_agent(marker).to_owned()),
                agent_pid: None, // looked up only when an approval needs it
            };
        }
        match self.ancestry(client_pid) {
            Ancestry::Agent(name, pid) => Detected {
                context: Context::Ai,
                source: format!("ancestor {name} (pid {pid})"),
                agent: Some(name),
                agent_pid: Some(pid),
            },
            Ancestry::Unknown(why) => unknown_ancestry(&why),
            Ancestry::NoAgent => Detected {
                context: Context::Human,
                source: "no agent found".into(),
                agent: None,
                agent_pid: None,
            },
        }
    }

    /// The nearest ancestor of `pid` (excluding itself) whose name is an agent program, if the
    /// ancestry could be followed.
    pub fn agent_ancestor(&self, pid: u32) -> Option<(String, u32)> {
        match self.ancestry(pid) {
            Ancestry::Agent(name, pid) => Some((name, pid)),
            Ancestry::NoAgent | Ancestry::Unknown(_) => None,
        }
    }

    /// What the ancestry of `pid` (excluding itself) holds. A walk broken by a process exiting
    /// is tried once more (its orphans have been re-parented by then) before it counts as
    /// unknown.
    ///
    /// Costs one read of `/proc/<pid>/stat` and one `poll` when the parent was seen before.
    pub fn ancestry(&self, pid: u32) -> Ancestry {
        match self.ancestry_once(pid) {
            Ancestry::Unknown(_) => self.ancestry_once(pid),
            known => known,
        }
    }

    fn ancestry_once(&self, pid: u32) -> Ancestry {
        let Some((parent, _)) = parent_and_start(pid) else {
            return Ancestry::Unknown(format!("process {pid} exited before it was identified"));
        };
        {
            let mut cache = lock(&self.cache);
            if let Some(walked) = cache.get(&parent) {
                // Alive now, so it was alive when `pid`'s stat named it as the parent.
                if walked.identity.still_names(parent) {
                    return walked.found.clone();
                }
                cache.remove(&parent);
            }
        }
        let Some(identity) = Identity::of(parent) else {
            return Ancestry::Unknown(format!("process {parent} exited during the look-up"));
        };
        // The parent may have exited (and its pid been reused) between the read above and taking
        // its identity; `pid` then has another parent by now.
        if parent_and_start(pid).map(|(p, _)| p) != Some(parent) {
            return Ancestry::Unknown(format!("process {parent} exited during the look-up"));
        }
        let found = self.walk(parent, pid);
        // Cache only what is known, and only while the parent is still the process walked from
        // (it could have exited during the walk).
        if matches!(found, Ancestry::Unknown(_)) || !identity.still_names(parent) {
            return found;
        }
        let mut cache = lock(&self.cache);
        if cache.len() >= ANCESTRY_CACHE_LIMIT {
            cache.retain(|pid, walked| walked.identity.still_names(*pid));
            if cache.len() >= ANCESTRY_CACHE_LIMIT {
                cache.clear();
            }
        }
        cache.insert(
            parent,
            Walked {
                identity,
                found: found.clone(),
            },
        );
        found
    }

    /// Walks up from `start`, the parent of `below`.
    fn walk(&self, start: u32, below: u32) -> Ancestry {
        #[cfg(test)]
        self.walks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (mut pid, mut child) = (start, below);
        for _ in 0..MAX_DEPTH {
            if pid <= 1 {
                return Ancestry::NoAgent;
            }
            let Some(info) = proc_info(pid) else {
                // Still `child`'s parent, yet unreadable: a process the daemon may not look into
                // (another user's, under `hidepid`); nothing above it runs as this user's agent.
                // Otherwise it exited while we looked.
                return if parent_and_start(child).is_some_and(|(p, _)| p == pid) {
                    Ancestry::NoAgent
                } else {
                    Ancestry::Unknown(format!("process {pid} exited during the look-up"))
                };
            };
            let names = std::iter::once(&info.comm).chain(info.argv_names.iter());
            for name in names {
                if let Some(p) = read(&self.programs).iter().find(|p| *p == name) {
                    return Ancestry::Agent(p.clone(), pid);
                }
            }
            (child, pid) = (pid, info.ppid);
        }
        Ancestry::Unknown(format!(
            "the process tree above {below} is deeper than {MAX_DEPTH}"
        ))
    }
}

/// A client whose ancestry could not be followed is treated as an agent.
fn unknown_ancestry(why: &str) -> Detected {
    Detected {
        context: Context::Ai,
        source: format!("ancestry unknown ({why}): treated as an agent"),
        agent: None,
        agent_pid: None,
    }
}

fn marker_agent(marker: &str) -> &'static str {
    match marker {
        m if m.starts_with("CLAUDE") => "claude",
        m if m.starts_with("CODEX") => "codex",
        m if m.starts_with("CURSOR") => "cursor",
        m if m.starts_with("GEMINI") => "gemini",
        m if m.starts_with("COPILOT") => "copilot",
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
    fn stat_fields_survive_a_name_with_spaces_and_parentheses() {
        let dir = std::env::temp_dir().join(format!("safeshell-stat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let odd = dir.join("a) b (c");
        std::fs::copy("/bin/sleep", &odd).unwrap();
        let mut child = std::process::Command::new(&odd).arg("5").spawn().unwrap();
        let pid = child.id();
        let info = proc_info(pid);
        let (ppid, start) = parent_and_start(pid).unwrap();
        let session = session_id(pid);
        // The same fields read the plain way, counted from the last `)`.
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after: Vec<&str> = text[text.rfind(')').unwrap() + 2..].split(' ').collect();
        child.kill().unwrap();
        child.wait().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let info = info.unwrap();
        assert_eq!(info.comm, "a) b (c");
        assert_eq!(info.ppid, std::process::id());
        assert_eq!((ppid, start), (info.ppid, info.start_time));
        assert_eq!(after[1].parse::<u32>().unwrap(), ppid);
        assert_eq!(after[19].parse::<u64>().unwrap(), start);
        assert_eq!(session, Some(after[3].parse().unwrap()));
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
        // Clients send the names of all their variables: only markers count.
        let unknown = ContextHints {
            safeshell_context: None,
            agent_markers: vec!["SOMETHING_ELSE".into(), "PATH".into(), "HOME".into()],
        };
        assert_eq!(
            d.detect(&Surface::PathShim, &unknown, pid).context,
            Context::Human
        );
        // A configured marker counts, and the built-in ones keep counting beside it.
        let d = Detector::new(
            vec!["MY_AGENT".into()],
            vec!["no-such-agent-program".into()],
        );
        for marker in ["MY_AGENT", "CODEX_SANDBOX"] {
            let hints = ContextHints {
                safeshell_context: None,
                agent_markers: vec!["PATH".into(), marker.into()],
            };
            let got = d.detect(&Surface::PathShim, &hints, pid);
            assert_eq!(got.context, Context::Ai, "{marker}");
            assert_eq!(got.source, format!("marker {marker}"));
        }
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

    /// A `sh` that starts `sleep` children on demand: one parent with several children, like a
    /// shell running shimmed commands.
    struct Parent {
        shell: std::process::Child,
        dir: std::path::PathBuf,
    }

    impl Parent {
        fn start(name: &str) -> Parent {
            let dir = std::env::temp_dir().join(format!("safeshell-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            // Each line on stdin starts one background sleep and writes its pid to a file.
            let shell = std::process::Command::new("sh")
                .arg("-c")
                .arg("while read n; do sleep 30 & echo $! > \"$0/$n.tmp\"; mv \"$0/$n.tmp\" \"$0/$n\"; done")
                .arg(&dir)
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            Parent { shell, dir }
        }

        fn child(&mut self, n: u32) -> u32 {
            use std::io::Write;
            writeln!(self.shell.stdin.as_mut().unwrap(), "{n}").unwrap();
            let file = self.dir.join(n.to_string());
            for _ in 0..500 {
                if let Ok(text) = std::fs::read_to_string(&file) {
                    return text.trim().parse().unwrap();
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            panic!("no child started");
        }
    }

    impl Drop for Parent {
        fn drop(&mut self) {
            for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
                if let Some(pid) = std::fs::read_to_string(entry.path())
                    .ok()
                    .and_then(|t| t.trim().parse::<i32>().ok())
                {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            let _ = self.shell.kill();
            let _ = self.shell.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn one_walk_serves_every_child_of_a_parent() {
        let me = proc_info(std::process::id()).unwrap();
        let d = Detector::new(vec![], vec![me.comm.clone()]);
        let mut parent = Parent::start("walks");
        let first = parent.child(1);
        let second = parent.child(2);
        let expected = Some((me.comm.clone(), std::process::id()));
        assert_eq!(d.agent_ancestor(first), expected);
        assert_eq!(d.walks.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(d.agent_ancestor(second), expected);
        assert_eq!(
            d.walks.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "the second child's parent was walked again"
        );
    }

    #[test]
    fn an_identity_stops_naming_a_process_that_exited() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        // Both kinds, whichever this kernel gives `Identity::of` (pidfds need Linux 5.3 and may
        // be filtered by seccomp; then only the start time is checked).
        let pidfd = pidfd_open(pid).map(Identity::Pidfd);
        if pidfd.is_none() {
            eprintln!("no pidfd_open here: checking the start-time identity only");
        }
        let start = Identity::StartTime(parent_and_start(pid).unwrap().1);
        assert!(pidfd.as_ref().is_none_or(|i| i.still_names(pid)));
        assert!(start.still_names(pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(pidfd.as_ref().is_none_or(|i| !i.still_names(pid)));
        assert!(!start.still_names(pid));
    }

    #[test]
    fn a_cached_walk_of_a_process_that_exited_is_never_reused() {
        // Stand in for a reused pid: the cache holds an "agent" answer for this test process's
        // pid, taken from a process that has exited (start time 0 never matches).
        let d = Detector::new(vec![], vec!["no-such-agent".into()]);
        lock(&d.cache).insert(
            std::process::id(),
            Walked {
                identity: Identity::StartTime(0),
                found: Ancestry::Agent("stale".into(), 1),
            },
        );
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let found = d.ancestry(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found, Ancestry::NoAgent);
        assert_eq!(d.walks.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(
            lock(&d.cache)[&std::process::id()]
                .identity
                .still_names(std::process::id())
        );
    }

    #[test]
    fn a_client_that_cannot_be_followed_is_an_agent() {
        let d = Detector::new(vec![], vec!["no-such-agent".into()]);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        assert!(matches!(d.ancestry(gone), Ancestry::Unknown(_)));
        let detected = d.detect(&Surface::PathShim, &ContextHints::default(), gone);
        assert_eq!(detected.context, Context::Ai);
        assert!(
            detected.source.contains("treated as an agent"),
            "{}",
            detected.source
        );
        // Claiming to be human does not change that.
        let claim = ContextHints {
            safeshell_context: Some("human".into()),
            agent_markers: vec![],
        };
        assert_eq!(
            d.detect(&Surface::PathShim, &claim, gone).context,
            Context::Ai
        );
        assert_eq!(d.walks.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[test]
    fn a_name_that_is_not_utf8_does_not_hide_the_agent_above_it() {
        // A shell renames itself to bytes that are not UTF-8, then starts a child: the walk from
        // the child must read through it and still find this test process (the "agent").
        let me = proc_info(std::process::id()).unwrap();
        let d = Detector::new(vec![], vec![me.comm.clone()]);
        let mut shell = std::process::Command::new("sh")
            .arg("-c")
            .arg("printf '\\377\\376x' > /proc/$$/comm; sleep 30 & echo $!; wait")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(shell.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        let grandchild: u32 = line.trim().parse().unwrap();
        let renamed = std::fs::read(format!("/proc/{}/comm", shell.id())).unwrap();
        let found = d.ancestry(grandchild);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(grandchild as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        shell.kill().unwrap();
        shell.wait().unwrap();
        assert_eq!(renamed, b"\xff\xfex\n", "the shell renamed itself");
        assert_eq!(found, Ancestry::Agent(me.comm.clone(), std::process::id()));
    }

    #[test]
    fn a_full_cache_sheds_the_walks_of_exited_parents_first() {
        let d = Detector::new(vec![], vec!["no-such-agent".into()]);
        let mut parent = Parent::start("full");
        let shell = parent.shell.id();
        assert_eq!(d.agent_ancestor(parent.child(1)), None);
        {
            let mut cache = lock(&d.cache);
            // Pids this high never exist, so these stand for parents that have exited.
            for i in 0..ANCESTRY_CACHE_LIMIT - 1 {
                let walked = Walked {
                    identity: Identity::StartTime(0),
                    found: Ancestry::NoAgent,
                };
                cache.insert(u32::MAX - i as u32, walked);
            }
            assert_eq!(cache.len(), ANCESTRY_CACHE_LIMIT);
        }
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        assert_eq!(d.agent_ancestor(child.id()), None);
        child.kill().unwrap();
        child.wait().unwrap();
        let cache = lock(&d.cache);
        let mut kept: Vec<u32> = cache.keys().copied().collect();
        kept.sort_unstable();
        let mut expected = vec![shell, std::process::id()];
        expected.sort_unstable();
        assert_eq!(kept, expected);
    }
}
