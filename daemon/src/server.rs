//! The daemon: a tokio server on a user-only Unix socket that decides every command.
//!
//! One task per connection; a panic while handling one request ends only that connection.
//! Approvals wait on a oneshot channel with a timeout; events fan out to monitors through bounded
//! channels with `try_send`, so a slow monitor never delays a decision.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use safeshell_protocol::{
    self as proto, ApprovalMode, ApprovalOutcome, ApprovalResolution, ApprovalVerdict,
    CheckRequest, ClientKind, CommandSpec, ContextHint, ContextHints, Decision, DecisionEvent,
    Event, EventKind, FrameError, Hello, HelloReply, MAX_FRAME_LEN, PROTOCOL_VERSION,
    PendingApproval, Problem, ProblemKind, Request, Response, StatusReport, Surface,
};
use safeshell_rules::{Action, CommandInput, Context, Facts, segment};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::audit::{AuditLog, Reopened};
use crate::config::Config;
use crate::context::{self, Detected, Detector};
use crate::facts::{find_git_dir, read_branch, repository_root};
use crate::logging::{self, dlog};
use crate::messages;
use crate::paths;
use crate::rules_cache::{RulesCache, lock};

/// Events buffered per monitor before further events to it are dropped (and counted).
pub const SUBSCRIBER_BUFFER: usize = 1024;
/// Recent events kept to replay to a monitor that connects.
pub const HISTORY_LEN: usize = 1000;
/// The pid file name in the state directory.
pub const PID_FILE: &str = "daemon.pid";
/// The lock file name in the state directory.
pub const LOCK_FILE: &str = "daemon.lock";
/// The settings file name in the state directory.
pub const CONFIG_FILE: &str = "config.toml";
/// A connection that has not completed its hello within this time is closed, so idle
/// connections cannot pile up until the daemon runs out of file descriptors.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest hello frame read (a hello is a few dozen bytes; it never changes).
pub const MAX_HELLO_LEN: usize = 4096;
/// Connections one process (by its pid from `SO_PEERCRED`) may hold at once; more are closed.
/// A shim, hook or CLI holds one, the monitor two; the benchmarks' 64 client threads fit.
pub const MAX_CONNECTIONS_PER_PROCESS: u32 = 128;
/// File descriptors kept out of the overall connection cap for files and the listener (and, as
/// the limit allows, for the pidfds of cached ancestry walks).
pub const RESERVED_FDS: u64 = 64;
/// How often the daemon checks that its socket path still names its socket, that its audit log
/// is still the file at its path, and whether its log and audit log can be written again.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(500);

// The daemon relies on unwinding: a panicking request must end only its connection.
const _: () = assert!(
    cfg!(panic = "unwind"),
    "the daemon must be built with panic = \"unwind\" (see Cargo.toml's profiles)"
);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Decision counters for `status`.
#[derive(Default)]
struct Stats {
    allow: AtomicU64,
    deny: AtomicU64,
    approval: AtomicU64,
    redirect: AtomicU64,
    connections: AtomicU32,
    dropped: AtomicU64,
    /// Connections closed at once: over a process's or the overall cap.
    refused_busy: AtomicU64,
    /// Connections closed because no hello came within [`HELLO_TIMEOUT`].
    closed_idle: AtomicU64,
    /// Audit records that could not be written.
    audit_lost: AtomicU64,
}

/// `config.toml` as last seen by the watcher.
struct ConfigFile {
    path: PathBuf,
    stamp: Option<(u64, SystemTime)>,
    /// The current error (`file:line:column: message`), if the file does not load.
    error: Option<String>,
    /// Whether a version of the file ever loaded (else the defaults serve).
    loaded: bool,
}

fn file_stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

struct Hub {
    seq: u64,
    subscribers: Vec<mpsc::Sender<Event>>,
    history: VecDeque<Event>,
}

struct PendingEntry {
    info: PendingApproval,
    tx: oneshot::Sender<(ApprovalVerdict, Option<String>)>,
    requester_pid: u32,
    agent_pid: Option<u32>,
}

/// What a "for the session" decision covers: the same command (normalised argv of every
/// segment), in the same repository, for the same agent session.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionKey {
    commands: Vec<String>,
    repo: String,
    agent_session: String,
}

#[derive(Debug, Clone)]
enum SessionVerdict {
    Allow,
    Deny(Option<String>),
}

/// The repository a directory belongs to (its top directory; a linked worktree is a checkout of
/// its own), or the directory itself.
fn repository_of(cwd: &Path) -> String {
    repository_root(cwd).unwrap_or(cwd).display().to_string()
}

/// The agent session a request belongs to: the agent process when known, else the client's
/// terminal session.
fn agent_session(detected: &Detected, pid: u32) -> String {
    match (detected.agent_pid, &detected.agent) {
        (Some(apid), Some(name)) => format!("this {name} session (pid {apid})"),
        (Some(apid), None) => format!("the agent session of pid {apid}"),
        _ => match context::session_id(pid) {
            Some(sid) => format!("the terminal session {sid}"),
            None => format!("process {pid}"),
        },
    }
}

struct TokenEntry {
    root_pid: u32,
    /// Issued to an agent hook: bound to the agent, found by shims without the token.
    from_hook: bool,
    expires: Instant,
    /// Normalised argv (`program\0arg\0…`) of every segment the decision covered.
    segments: Vec<String>,
}

/// The daemon's shared state.
pub struct Daemon {
    /// The settings in force, swapped when `config.toml` changes (see [`Daemon::config`]).
    config: Mutex<Arc<Config>>,
    config_file: Mutex<ConfigFile>,
    started: Instant,
    rules: RulesCache,
    detector: Detector,
    audit: Mutex<AuditLog>,
    audit_path: PathBuf,
    /// The last audit write error while writes fail.
    audit_failure: Mutex<Option<String>>,
    /// Problems announced to monitors (kind → message), to announce changes once.
    announced: Mutex<HashMap<ProblemKind, String>>,
    /// Open connections per client process.
    per_process: Mutex<HashMap<u32, u32>>,
    /// The overall connection cap (from the open-file limit).
    max_connections: u32,
    stats: Stats,
    hub: Mutex<Hub>,
    pending: Mutex<BTreeMap<u64, PendingEntry>>,
    next_approval: AtomicU64,
    tokens: Mutex<HashMap<String, TokenEntry>>,
    sessions: Mutex<Vec<(SessionKey, SessionVerdict, Instant)>>,
    shutdown: watch::Receiver<bool>,
    /// Debug builds only: a command that makes the handler panic, to test isolation.
    panic_trigger: Option<String>,
    /// What clients need to contain agents' commands (the user's home and the state directory),
    /// or `None` where the kernel has no Landlock (said once, in the log, at start).
    containment: Option<(String, String)>,
}

/// The home and state directory sent with containment, if the kernel has Landlock.
fn containment_base(state_dir: &Path) -> Option<(String, String)> {
    match crate::contain::abi() {
        Ok(_) => {
            let home = std::env::var("HOME").ok().filter(|h| h.starts_with('/'))?;
            Some((home, state_dir.display().to_string()))
        }
        Err(e) => {
            dlog!("safeshell daemon: {e}; agents' commands run without kernel containment");
            None
        }
    }
}

/// Runs the daemon in the foreground until SIGTERM or SIGINT.
pub fn run(state_dir: &Path, socket: &Path) -> Result<()> {
    crate::own::init_daemon(state_dir, socket);
    let files = raise_open_file_limit();
    // The overall connection cap stays below the open-file limit, so the daemon always has
    // descriptors left to accept (and close) a connection, open files and serve.
    let reserved = RESERVED_FDS + (context::ANCESTRY_CACHE_LIMIT as u64).min(files / 4);
    let max_connections = files
        .saturating_sub(reserved)
        .clamp(16, u64::from(u32::MAX)) as u32;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(state_dir, socket, max_connections))
}

/// Raises the soft limit on open files to the hard limit (capped at 65,536) and returns the
/// limit in force. Each connection holds a socket and each cached ancestry walk a pidfd; the
/// usual soft limit of 1024 would be reached by a few hundred concurrent shims.
fn raise_open_file_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    let wanted = hard.min(65_536);
    if soft < wanted {
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, wanted, hard) {
            dlog!(
                "safeshell daemon: warning: cannot raise the open-file limit from {soft} to {wanted}: {e}"
            );
            return soft;
        }
        return wanted;
    }
    soft
}

/// How long the accept loop pauses after a failed `accept` (out of file descriptors, typically),
/// so that a persistent error does not spin a CPU.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Creates a directory (and parents) with mode 0700; an existing one is made 0700 too (for the
/// state directory, which is SafeShell's own).
pub fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set permissions of {}", dir.display()))
}

/// The socket's directory: created 0700 when missing. An existing one is left as it is (it may
/// be shared, like `/tmp` or `$XDG_RUNTIME_DIR`), but refused when every user may write to it
/// without the sticky bit (anyone could replace the socket); group-writable without the sticky
/// bit, or owned by another user, gets a warning.
pub fn prepare_socket_dir(dir: &Path) -> Result<()> {
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return create_private_dir(dir),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    if !meta.is_dir() {
        bail!(
            "the socket's directory {} is not a directory",
            dir.display()
        );
    }
    let mode = meta.mode() & 0o7777;
    let sticky = mode & 0o1000 != 0;
    if mode & 0o002 != 0 && !sticky {
        bail!(
            "the socket's directory {} (mode {mode:04o}) is writable by every user and has no \
             sticky bit: anyone could replace the daemon's socket. Use another directory \
             (SAFESHELL_SOCKET) or `chmod +t` this one",
            dir.display()
        );
    }
    let me = nix::unistd::geteuid().as_raw();
    if mode & 0o020 != 0 && !sticky {
        dlog!(
            "safeshell daemon: warning: the socket's directory {} (mode {mode:04o}) is writable by its group without the sticky bit: group members could replace the socket",
            dir.display()
        );
    }
    if meta.uid() != me && meta.uid() != 0 {
        dlog!(
            "safeshell daemon: warning: the socket's directory {} belongs to uid {}, who could replace the socket",
            dir.display(),
            meta.uid()
        );
    }
    Ok(())
}

/// The (device, inode) a path names, not following a symbolic link.
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    std::fs::symlink_metadata(path).map(|m| (m.dev(), m.ino()))
}

/// Listens on `socket` (mode 0600) and returns the listener and the socket file's identity.
fn bind_socket(socket: &Path) -> Result<(UnixListener, (u64, u64))> {
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    let id = identity(socket)?;
    Ok((listener, id))
}

/// True when something listens on `socket`, without ever blocking the daemon: a full backlog
/// or a slow answer counts as live (never remove what may be a busy daemon's socket).
async fn answers(socket: &Path) -> bool {
    match tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::UnixStream::connect(socket),
    )
    .await
    {
        Ok(Ok(_)) | Err(_) => true,
        Ok(Err(e)) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// The socket the daemon listens on, watched so that a deleted or replaced socket file is
/// noticed and a fresh one bound at the same path.
struct Listening {
    path: PathBuf,
    listener: UnixListener,
    id: (u64, u64),
    /// Said once that another live socket took the path.
    warned_foreign: bool,
    /// Failed attempts to bind again, for the log.
    rebind_failures: u64,
}

impl Listening {
    /// Binds a fresh socket if the path no longer names ours (deleted, or replaced by something
    /// that does not answer). A live socket of someone else's is never touched.
    async fn check(&mut self, daemon: &Daemon) {
        let why = match identity(&self.path) {
            Ok(id) if id == self.id => return,
            Ok(_) => "was replaced",
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                "was deleted"
            }
            Err(_) => return, // cannot tell (e.g. a directory above it became unreadable)
        };
        if why == "was replaced" {
            if answers(&self.path).await {
                if !self.warned_foreign {
                    self.warned_foreign = true;
                    let message = format!(
                        "the socket {} now belongs to another live process; this daemon is unreachable there (restart it: `safeshell daemon restart`)",
                        self.path.display()
                    );
                    dlog!("safeshell daemon: {message}");
                    daemon.emit(EventKind::Problem(Problem {
                        kind: ProblemKind::Socket,
                        message,
                    }));
                }
                return;
            }
            let _ = std::fs::remove_file(&self.path);
        }
        if let Some(dir) = self.path.parent()
            && !dir.exists()
            && let Err(e) = create_private_dir(dir)
        {
            self.rebind_failed(&format!("{e:#}"));
            return;
        }
        match bind_socket(&self.path) {
            Ok((listener, id)) => {
                self.listener = listener;
                self.id = id;
                self.warned_foreign = false;
                let message = format!(
                    "the socket {} {why}; listening on a new one",
                    self.path.display()
                );
                dlog!("safeshell daemon: {message}");
                daemon.emit(EventKind::Problem(Problem {
                    kind: ProblemKind::Socket,
                    message,
                }));
            }
            Err(e) => self.rebind_failed(&format!("{e:#}")),
        }
    }

    fn rebind_failed(&mut self, error: &str) {
        self.rebind_failures += 1;
        if self.rebind_failures.is_power_of_two() {
            dlog!(
                "safeshell daemon: the socket {} is gone and a new one cannot be made ({error}); {} attempts so far",
                self.path.display(),
                self.rebind_failures
            );
        }
    }
}

/// A connection's place under the caps; released when the connection ends.
struct Admission {
    daemon: Arc<Daemon>,
    pid: u32,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.daemon
            .stats
            .connections
            .fetch_sub(1, Ordering::Relaxed);
        let mut per = lock(&self.daemon.per_process);
        if let Some(n) = per.get_mut(&self.pid) {
            *n -= 1;
            if *n == 0 {
                per.remove(&self.pid);
            }
        }
    }
}

async fn serve(state_dir: &Path, socket: &Path, max_connections: u32) -> Result<()> {
    create_private_dir(state_dir)?;
    // One daemon per user: hold an exclusive lock for the daemon's lifetime.
    let lock_file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state_dir.join(LOCK_FILE))?;
    if lock_file.try_lock().is_err() {
        bail!(
            "another SafeShell daemon is already running (lock {} is held)",
            state_dir.join(LOCK_FILE).display()
        );
    }
    let socket_dir = socket.parent().context("socket path has no directory")?;
    prepare_socket_dir(socket_dir)?;
    if std::fs::symlink_metadata(socket).is_ok() {
        // A socket that answers belongs to a live daemon (one that is not holding our lock,
        // e.g. started with another state directory): never touch it. One that does not answer
        // is stale.
        if answers(socket).await {
            bail!("a daemon is already answering on {}", socket.display());
        }
        std::fs::remove_file(socket)
            .with_context(|| format!("cannot remove stale socket {}", socket.display()))?;
        dlog!(
            "safeshell daemon: removed stale socket {}",
            socket.display()
        );
    }
    let (listener, socket_id) = bind_socket(socket)?;
    let mut listening = Listening {
        path: socket.to_path_buf(),
        listener,
        id: socket_id,
        warned_foreign: false,
        rebind_failures: 0,
    };
    // Without a pid file `daemon stop` cannot find this daemon, but it serves: a full disk must
    // not stop decisions.
    if let Err(e) = std::fs::write(
        state_dir.join(PID_FILE),
        format!("{}\n", std::process::id()),
    ) {
        dlog!("safeshell daemon: warning: cannot write the pid file: {e}");
    }

    // A config file with errors never stops the daemon: it serves the defaults (the file has
    // never loaded) and reports the error; the watcher picks up the fixed file.
    let config_path = state_dir.join(CONFIG_FILE);
    let config_stamp = file_stamp(&config_path);
    let (config, config_error) = match Config::load(&config_path) {
        Ok(c) => (c, None),
        Err(e) => {
            let error = format!("{e:#}");
            dlog!(
                "safeshell daemon: {error}\nsafeshell daemon: serving the default settings until config.toml is fixed"
            );
            (Config::default(), Some(error))
        }
    };
    let (rules, errors) = RulesCache::load(paths::global_rules_path());
    for e in &errors {
        dlog!(
            "safeshell daemon: rule file error (serving the built-in rules without it): {}",
            e.message
        );
    }
    let (audit, audit_error) = AuditLog::open(state_dir, config.audit_max_bytes, config.audit_keep);
    let audit_path = state_dir.join(crate::audit::AUDIT_FILE);
    if let Some(e) = &audit_error {
        dlog!(
            "safeshell daemon: cannot open the audit log {}: {e}; decisions go on, unaudited, until it can be written",
            audit_path.display()
        );
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let daemon = Arc::new(Daemon {
        detector: Detector::new(
            config.agent_env_markers.clone(),
            config.agent_programs.clone(),
        ),
        config: Mutex::new(Arc::new(config)),
        config_file: Mutex::new(ConfigFile {
            path: config_path,
            stamp: config_stamp,
            loaded: config_error.is_none(),
            error: config_error,
        }),
        started: Instant::now(),
        rules,
        audit: Mutex::new(audit),
        audit_path,
        audit_failure: Mutex::new(audit_error.map(|e| e.to_string())),
        announced: Mutex::new(HashMap::new()),
        per_process: Mutex::new(HashMap::new()),
        max_connections,
        stats: Stats::default(),
        hub: Mutex::new(Hub {
            seq: 0,
            subscribers: Vec::new(),
            history: VecDeque::new(),
        }),
        pending: Mutex::new(BTreeMap::new()),
        next_approval: AtomicU64::new(1),
        tokens: Mutex::new(HashMap::new()),
        sessions: Mutex::new(Vec::new()),
        shutdown: shutdown_rx,
        panic_trigger: if cfg!(debug_assertions) {
            std::env::var("SAFESHELL_TEST_PANIC_ON").ok()
        } else {
            None
        },
        containment: containment_base(state_dir),
    });
    for e in errors {
        daemon.emit(EventKind::RulesError {
            file: e.file,
            message: e.message,
        });
    }
    let (files, _, count) = daemon.rules.describe();
    dlog!(
        "safeshell daemon {} (pid {}) listening on {} with {count} rules from {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        socket.display(),
        files.join(", ")
    );
    daemon.announce_problems();

    tokio::spawn(watch_files(daemon.clone()));
    tokio::spawn(expire_tokens(daemon.clone()));

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let my_uid = nix::unistd::geteuid().as_raw();
    let mut accept_errors: u64 = 0;
    loop {
        tokio::select! {
            accepted = listening.listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        accept_errors += 1;
                        if accept_errors.is_power_of_two() {
                            dlog!("safeshell daemon: cannot accept a connection ({e}); {accept_errors} such errors so far");
                        }
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        continue;
                    }
                };
                let cred = stream.peer_cred();
                let (uid, pid) = match &cred {
                    Ok(c) => (c.uid(), c.pid().map_or(0, |p| p as u32)),
                    Err(_) => (u32::MAX, 0),
                };
                if uid != my_uid {
                    dlog!("safeshell daemon: refused a connection from uid {uid} (pid {pid}); only uid {my_uid} may connect");
                    daemon.audit(json!({"time_ms": now_ms(), "event": "refused_connection", "uid": uid, "pid": pid}));
                    drop(stream);
                    continue;
                }
                let admission = match daemon.admit(pid) {
                    Ok(a) => a,
                    Err(why) => {
                        let n = daemon.stats.refused_busy.fetch_add(1, Ordering::Relaxed) + 1;
                        if n.is_power_of_two() {
                            dlog!("safeshell daemon: closed a connection from pid {pid}: {why}; {n} such connections closed so far");
                        }
                        drop(stream);
                        continue;
                    }
                };
                let d = daemon.clone();
                let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
                tokio::spawn(async move {
                    // The connection's descriptor, for answers that carry a containment ruleset.
                    let handler = crate::contain_cmd::CONNECTION_FD
                        .scope(fd, handle_connection(d.clone(), stream, pid));
                    let result = tokio::spawn(handler).await;
                    drop(admission);
                    if let Err(e) = result
                        && e.is_panic() {
                            dlog!("safeshell daemon: a request handler panicked; the connection was closed and the daemon goes on");
                        }
                });
            }
            _ = housekeeping.tick() => {
                listening.check(&daemon).await;
                daemon.housekeeping();
            }
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }
    dlog!("safeshell daemon: shutting down");
    let Listening { listener, id, .. } = listening;
    drop(listener);
    let _ = shutdown_tx.send(true);
    // Pending approvals are answered with a clear denial by their handlers; give them a moment.
    for _ in 0..50 {
        if lock(&daemon.pending).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Only our own socket: the path may name another daemon's by now.
    if identity(socket).is_ok_and(|i| i == id) {
        let _ = std::fs::remove_file(socket);
    }
    let _ = std::fs::remove_file(state_dir.join(PID_FILE));
    drop(lock_file);
    Ok(())
}

/// Watches the rule files and `config.toml`, reloading what changed.
/// How often the shims are checked against the rules even when no rule set changed (a shim
/// removed by hand, or by `safeshell refresh` run outside a repository whose rules need it).
const SHIM_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// Keeps the shims directory in step with every rule set in use: a program any loaded source
/// names gets its shim as soon as that source is compiled. Never removes a shim.
fn sync_shims(daemon: &Daemon) {
    let Some(dir) = paths::safeshell_home().map(|h| h.join(crate::init::SHIMS_DIR)) else {
        return;
    };
    let Ok(shim) = crate::init::shim_executable() else {
        return;
    };
    let config = daemon.config();
    let mut wanted = std::collections::BTreeSet::new();
    for set in daemon.rules.all_sets() {
        wanted.extend(crate::init::shim_names(&set, &config));
    }
    match crate::init::add_shims(&dir, &shim, &wanted) {
        Ok(added) if !added.is_empty() => {
            dlog!("safeshell daemon: shims added for {}", added.join(" "));
        }
        Ok(_) => {}
        Err(e) => dlog!("safeshell daemon: cannot update the shims: {e:#}"),
    }
}

async fn watch_files(daemon: Arc<Daemon>) {
    let mut shutdown = daemon.shutdown.clone();
    let mut synced = (0u64, Instant::now() - SHIM_CHECK_INTERVAL);
    loop {
        let interval = Duration::from_millis(daemon.config().watch_interval_ms.max(50));
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        daemon.reload_config();
        let d = daemon.clone();
        let Ok(refresh) = tokio::task::spawn_blocking(move || d.rules.refresh()).await else {
            continue;
        };
        for file in &refresh.reloaded {
            dlog!("safeshell daemon: reloaded {file}");
        }
        if !refresh.reloaded.is_empty() {
            let (files, _, count) = daemon.rules.describe();
            daemon.emit(EventKind::RulesReloaded {
                rule_count: count,
                files,
            });
        }
        for e in refresh.errors {
            dlog!(
                "safeshell daemon: {} has errors; still serving its last good version:\n{}",
                e.file,
                e.message
            );
            daemon.emit(EventKind::RulesError {
                file: e.file,
                message: e.message,
            });
        }
        let generation = daemon.rules.generation();
        if generation != synced.0 || synced.1.elapsed() >= SHIM_CHECK_INTERVAL {
            synced = (generation, Instant::now());
            let d = daemon.clone();
            let _ = tokio::task::spawn_blocking(move || sync_shims(&d)).await;
        }
    }
}

async fn expire_tokens(daemon: Arc<Daemon>) {
    let mut shutdown = daemon.shutdown.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = shutdown.changed() => return,
        }
        let now = Instant::now();
        lock(&daemon.tokens).retain(|_, t| t.expires > now);
    }
}

/// Reads one frame of at most `max` bytes into `buf`; `Ok(false)` on a clean end of stream.
///
/// The rules of `protocol::frame::read_frame`, asynchronously, with one difference: the payload
/// grows with the bytes that arrive instead of being allocated at the announced length, so a
/// client that announces a large frame and sends nothing costs nothing.
async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<bool> {
    let mut header = [0u8; 4];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(header) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max }.into());
    }
    buf.clear();
    let got = (&mut *r).take(len as u64).read_to_end(buf).await?;
    if got < len {
        return Err(FrameError::Truncated { expected: len, got }.into());
    }
    Ok(true)
}

async fn write_msg<W: AsyncWrite + Unpin, T: serde::Serialize>(w: &mut W, msg: &T) -> Result<()> {
    let mut buf = Vec::with_capacity(256);
    proto::encode(msg, &mut buf)?;
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

/// Serves one client connection (generic so tests can drive it over an in-memory pipe).
pub async fn handle_connection<S: AsyncRead + AsyncWrite + Unpin + Send>(
    daemon: Arc<Daemon>,
    stream: S,
    peer_pid: u32,
) -> Result<()> {
    let (reader, mut writer) = tokio::io::split(stream);
    // Buffered: a shim sends its hello and its check in one write, and each frame is a length
    // and a payload; one `read` then serves several `read_exact`s.
    let mut reader = tokio::io::BufReader::with_capacity(4096, reader);
    let mut buf = Vec::new();
    // The hello: small, and soon, or the connection is closed (idle connections would otherwise
    // pile up until the daemon runs out of descriptors).
    match tokio::time::timeout(
        HELLO_TIMEOUT,
        read_frame(&mut reader, &mut buf, MAX_HELLO_LEN),
    )
    .await
    {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => return Ok(()),
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            let n = daemon.stats.closed_idle.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                dlog!(
                    "safeshell daemon: closed a connection from pid {peer_pid} that sent no hello within {HELLO_TIMEOUT:?}; {n} such connections closed so far"
                );
            }
            return Ok(());
        }
    }
    let client = match proto::decode::<Hello>(&buf) {
        Ok(h) if h.has_valid_magic() => {
            let accepted = h.version == PROTOCOL_VERSION;
            write_msg(
                &mut writer,
                &HelloReply {
                    version: PROTOCOL_VERSION,
                    daemon_version: env!("CARGO_PKG_VERSION").into(),
                    accepted,
                },
            )
            .await?;
            if !accepted {
                return Ok(());
            }
            h.client
        }
        _ => {
            // A newer client may send a Hello we cannot fully decode; answer with our version.
            if Hello::peek_version(&buf).is_some() {
                write_msg(
                    &mut writer,
                    &HelloReply {
                        version: PROTOCOL_VERSION,
                        daemon_version: env!("CARGO_PKG_VERSION").into(),
                        accepted: false,
                    },
                )
                .await?;
            }
            return Ok(());
        }
    };
    loop {
        if !read_frame(&mut reader, &mut buf, MAX_FRAME_LEN).await? {
            return Ok(());
        }
        let request: Request = match proto::decode(&buf) {
            Ok(r) => r,
            Err(e) => {
                write_msg(
                    &mut writer,
                    &Response::Error {
                        message: format!("malformed request: {e}"),
                    },
                )
                .await?;
                return Ok(());
            }
        };
        match request {
            Request::Ping => write_msg(&mut writer, &Response::Pong).await?,
            Request::Status => write_msg(&mut writer, &Response::Status(daemon.status())).await?,
            Request::ListPending => {
                let list = lock(&daemon.pending)
                    .values()
                    .map(|p| p.info.clone())
                    .collect();
                write_msg(&mut writer, &Response::Pending(list)).await?;
            }
            Request::Resolve(res) => {
                let (accepted, message) = daemon.resolve(client, peer_pid, &res);
                write_msg(
                    &mut writer,
                    &Response::Resolved {
                        approval_id: res.approval_id,
                        accepted,
                        message,
                    },
                )
                .await?;
            }
            Request::Subscribe(sub) => {
                let (tx, mut rx) = mpsc::channel(SUBSCRIBER_BUFFER);
                let history: Vec<Event> = {
                    let mut hub = lock(&daemon.hub);
                    hub.subscribers.push(tx);
                    let skip = hub.history.len().saturating_sub(sub.history as usize);
                    hub.history.iter().skip(skip).cloned().collect()
                };
                for e in history {
                    write_msg(&mut writer, &Response::Event(e)).await?;
                }
                let mut shutdown = daemon.shutdown.clone();
                let mut probe = [0u8; 1];
                loop {
                    tokio::select! {
                        ev = rx.recv() => match ev {
                            Some(e) => write_msg(&mut writer, &Response::Event(e)).await?,
                            None => return Ok(()),
                        },
                        n = reader.read(&mut probe) => if n.unwrap_or(0) == 0 { return Ok(()) },
                        _ = shutdown.changed() => return Ok(()),
                    }
                }
            }
            Request::Check(req) => {
                daemon
                    .check(req, peer_pid, &mut reader, &mut writer)
                    .await?;
            }
        }
    }
}

/// The segments of a command as normalised argv keys, for tokens.
fn segment_keys(command: &CommandSpec) -> Vec<String> {
    let segs = match command {
        CommandSpec::Argv(argv) => segment::segments_of_argv(argv),
        CommandSpec::Shell(s) => segment::segments_of_string(s),
        // A file tool's access is its own key: a session decision on it never covers a command.
        CommandSpec::File(access) => return vec![format!("\0file\0{}", access.describe())],
    };
    segs.iter()
        .map(|s| {
            std::iter::once(s.program.as_str())
                .chain(s.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join("\0")
        })
        .collect()
}

fn command_text(command: &CommandSpec) -> String {
    match command {
        CommandSpec::Shell(s) => s.clone(),
        CommandSpec::File(access) => access.describe(),
        CommandSpec::Argv(argv) => argv
            .iter()
            .map(|a| segment::quote(a))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn to_wire(a: Action) -> proto::Action {
    match a {
        Action::Allow => proto::Action::Allow,
        Action::Deny => proto::Action::Deny,
        Action::RequireApproval => proto::Action::RequireApproval,
        Action::Redirect => proto::Action::Redirect,
    }
}

fn hint(c: Context) -> ContextHint {
    match c {
        Context::Ai => ContextHint::Ai,
        Context::Human => ContextHint::Human,
    }
}

/// Facts for a client's request: its environment (forwarded, else read from `/proc`) and the
/// repository around its working directory.
struct ClientFacts {
    cwd: PathBuf,
    pid: u32,
    forwarded: Vec<(String, String)>,
    proc_env: std::cell::OnceCell<Vec<(String, String)>>,
    home: Option<String>,
    git_dir: std::cell::OnceCell<Option<PathBuf>>,
    branch: std::cell::OnceCell<Option<String>>,
}

impl ClientFacts {
    fn proc_env(&self) -> &[(String, String)] {
        self.proc_env
            .get_or_init(|| crate::agent_tree::environ(self.pid))
    }
}

impl Facts for ClientFacts {
    fn home(&self) -> Option<&str> {
        self.home.as_deref()
    }
    fn env(&self, name: &str) -> Option<&str> {
        if let Some((_, v)) = self.forwarded.iter().find(|(k, _)| k == name) {
            return Some(v);
        }
        self.proc_env()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn in_git_repo(&self) -> bool {
        self.git_dir
            .get_or_init(|| find_git_dir(&self.cwd))
            .is_some()
    }
    fn git_branch(&self) -> Option<&str> {
        self.branch
            .get_or_init(|| {
                self.git_dir
                    .get_or_init(|| find_git_dir(&self.cwd))
                    .as_deref()
                    .and_then(read_branch)
            })
            .as_deref()
    }
    fn file_exists(&self, relative: &str) -> bool {
        self.cwd.join(relative).exists()
    }
    fn path_set(&self, name: &str) -> Option<&[String]> {
        crate::own::get().path_set(name)
    }
    fn protected_pids(&self) -> &[u32] {
        &crate::own::get().pids
    }
}

impl Daemon {
    fn emit(&self, kind: EventKind) {
        let mut hub = lock(&self.hub);
        hub.seq += 1;
        let event = Event {
            seq: hub.seq,
            time_ms: now_ms(),
            kind,
        };
        if hub.history.len() >= HISTORY_LEN {
            hub.history.pop_front();
        }
        hub.history.push_back(event.clone());
        let mut dropped = 0;
        hub.subscribers
            .retain(|tx| match tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        if dropped > 0 {
            self.stats.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// The settings in force now.
    fn config(&self) -> Arc<Config> {
        lock(&self.config).clone()
    }

    /// Takes a place for a connection from `pid` under the caps, or says why not.
    fn admit(self: &Arc<Self>, pid: u32) -> Result<Admission, String> {
        let mut per = lock(&self.per_process);
        if self.stats.connections.load(Ordering::Relaxed) >= self.max_connections {
            return Err(format!(
                "{} connections are open, the most this daemon serves at once",
                self.max_connections
            ));
        }
        let n = per.entry(pid).or_insert(0);
        if *n >= MAX_CONNECTIONS_PER_PROCESS {
            return Err(format!(
                "that process holds {MAX_CONNECTIONS_PER_PROCESS} connections already, the most one process may"
            ));
        }
        *n += 1;
        self.stats.connections.fetch_add(1, Ordering::Relaxed);
        Ok(Admission {
            daemon: self.clone(),
            pid,
        })
    }

    /// Writes an audit record; a failure is counted and reported (status, doctor, monitor),
    /// never allowed to stop the decision.
    fn audit(&self, record: serde_json::Value) {
        let result = lock(&self.audit).append(&record);
        match result {
            Ok(reopened) => {
                if let Some(why) = reopened {
                    self.audit_reopened(why);
                }
                if lock(&self.audit_failure).take().is_some() {
                    dlog!("safeshell daemon: the audit log can be written again");
                }
            }
            Err(e) => {
                let lost = self.stats.audit_lost.fetch_add(1, Ordering::Relaxed) + 1;
                let first = lock(&self.audit_failure).replace(e.to_string()).is_none();
                if first || lost.is_power_of_two() {
                    dlog!(
                        "safeshell daemon: cannot write the audit log {}: {e}; {lost} records lost so far",
                        self.audit_path.display()
                    );
                }
            }
        }
    }

    fn audit_reopened(&self, why: Reopened) {
        let message = format!(
            "the audit log {} {}; writing to a new one",
            self.audit_path.display(),
            why.as_str()
        );
        dlog!("safeshell daemon: {message}");
        self.emit(EventKind::Problem(Problem {
            kind: ProblemKind::Audit,
            message,
        }));
    }

    /// The daemon's problems now.
    fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        {
            let file = lock(&self.config_file);
            if let Some(e) = &file.error {
                out.push(Problem {
                    kind: ProblemKind::Config,
                    message: format!(
                        "{e} (serving {} settings until it is fixed)",
                        if file.loaded {
                            "the last good"
                        } else {
                            "the default"
                        }
                    ),
                });
            }
        }
        if let Some((lost, error)) = logging::failure() {
            out.push(Problem {
                kind: ProblemKind::Log,
                message: format!(
                    "cannot write the daemon's log (stderr): {error}; {lost} lines lost"
                ),
            });
        }
        if let Some(error) = lock(&self.audit_failure).clone() {
            out.push(Problem {
                kind: ProblemKind::Audit,
                message: format!(
                    "cannot write the audit log {}: {error}; {} records lost",
                    self.audit_path.display(),
                    self.stats.audit_lost.load(Ordering::Relaxed)
                ),
            });
        }
        out
    }

    /// Tells monitors about problems that appeared or went away since the last call.
    fn announce_problems(&self) {
        let now: HashMap<ProblemKind, Problem> =
            self.problems().into_iter().map(|p| (p.kind, p)).collect();
        let mut events = Vec::new();
        {
            let mut announced = lock(&self.announced);
            announced.retain(|kind, _| {
                let keep = now.contains_key(kind);
                if !keep {
                    events.push(EventKind::ProblemSolved {
                        kind: *kind,
                        message: format!("the {} problem is over", kind.as_str()),
                    });
                }
                keep
            });
            for (kind, problem) in now {
                // A config error is announced again when it changes; counts of lost lines
                // or records change all the time and are not.
                let key = if kind == ProblemKind::Config {
                    problem.message.clone()
                } else {
                    String::new()
                };
                if announced.get(&kind) != Some(&key) {
                    announced.insert(kind, key);
                    events.push(EventKind::Problem(problem));
                }
            }
        }
        for e in events {
            self.emit(e);
        }
    }

    /// The periodic checks: the audit log still the file at its path, the log writable again,
    /// and monitors told about problems that came or went.
    fn housekeeping(&self) {
        let reopened = lock(&self.audit).check();
        match reopened {
            Ok(Some(why)) => {
                if why == Reopened::Recovered {
                    // The open failed before; whether writes work shows at the next record.
                    lock(&self.audit_failure).take();
                }
                self.audit_reopened(why);
            }
            Ok(None) => {}
            Err(e) => {
                lock(&self.audit_failure).replace(e.to_string());
            }
        }
        // A failing log is probed with a line that is true if it gets written.
        if logging::failure().is_some() {
            logging::probe(format_args!(
                "safeshell daemon: the log can be written again; {} lines were lost",
                logging::lost()
            ));
        }
        self.announce_problems();
    }

    /// Reloads `config.toml` when it changed: the new settings apply at once; a file with
    /// errors keeps the last good settings serving, and the error is reported.
    fn reload_config(&self) {
        let (path, result) = {
            let mut file = lock(&self.config_file);
            let stamp = file_stamp(&file.path);
            if stamp == file.stamp {
                return;
            }
            file.stamp = stamp;
            (file.path.clone(), Config::load(&file.path))
        };
        let new = match result {
            Ok(c) => c,
            Err(e) => {
                let error = format!("{e:#}");
                let mut file = lock(&self.config_file);
                if file.error.as_deref() != Some(error.as_str()) {
                    dlog!(
                        "safeshell daemon: {error}\nsafeshell daemon: still serving the {} settings",
                        if file.loaded { "last good" } else { "default" }
                    );
                }
                file.error = Some(error);
                drop(file);
                self.announce_problems();
                return;
            }
        };
        let old = self.config();
        let changed = crate::config::changed_settings(&old, &new);
        self.detector
            .reconfigure(new.agent_env_markers.clone(), new.agent_programs.clone());
        lock(&self.audit).set_limits(new.audit_max_bytes, new.audit_keep);
        *lock(&self.config) = Arc::new(new);
        let had_error = {
            let mut file = lock(&self.config_file);
            file.loaded = true;
            file.error.take().is_some()
        };
        dlog!(
            "safeshell daemon: reloaded {}{}",
            path.display(),
            crate::config::describe_changes(&changed)
        );
        if had_error {
            self.announce_problems();
        }
    }

    fn status(&self) -> StatusReport {
        let (files, errors, count) = self.rules.describe();
        StatusReport {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_ms: self.started.elapsed().as_millis() as u64,
            rule_count: count,
            rule_files: files,
            rule_errors: errors,
            connections: self.stats.connections.load(Ordering::Relaxed),
            decisions_allow: self.stats.allow.load(Ordering::Relaxed),
            decisions_deny: self.stats.deny.load(Ordering::Relaxed),
            decisions_approval: self.stats.approval.load(Ordering::Relaxed),
            decisions_redirect: self.stats.redirect.load(Ordering::Relaxed),
            pending_approvals: lock(&self.pending).len() as u32,
            events_dropped: self.stats.dropped.load(Ordering::Relaxed),
            problems: self.problems(),
        }
    }

    /// Issues a no-double-ask token for a decided command. For an agent hook the token is bound
    /// to the agent (the hook's parent), since the command runs beneath the agent, not the hook;
    /// shims find such entries without being handed the token.
    fn issue_token(
        &self,
        surface: &Surface,
        client_pid: u32,
        command: &CommandSpec,
    ) -> Option<String> {
        let from_hook = matches!(surface, Surface::AgentHook { .. });
        let root_pid = if from_hook {
            context::parent_and_start(client_pid).map_or(client_pid, |(ppid, _)| ppid)
        } else {
            client_pid
        };
        let mut bytes = [0u8; 16];
        File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .ok()?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let entry = TokenEntry {
            root_pid,
            from_hook,
            expires: Instant::now() + Duration::from_secs(self.config().token_ttl_secs),
            segments: segment_keys(command),
        };
        lock(&self.tokens).insert(token.clone(), entry);
        Some(token)
    }

    /// True when an agent hook already decided this exact command for an agent this process
    /// descends from (the hook's answer cannot hand a token to the command it allowed).
    fn hook_covers(&self, pid: u32, command: &CommandSpec) -> bool {
        let now = Instant::now();
        // Most checks come with no hook decision alive: then there is nothing to parse for.
        if !lock(&self.tokens)
            .values()
            .any(|t| t.from_hook && t.expires > now)
        {
            return false;
        }
        let keys = segment_keys(command);
        if keys.is_empty() {
            return false;
        }
        let roots: Vec<u32> = lock(&self.tokens)
            .values()
            .filter(|t| {
                t.from_hook && t.expires > now && keys.iter().all(|k| t.segments.contains(k))
            })
            .map(|t| t.root_pid)
            .collect();
        roots
            .into_iter()
            .any(|root| context::is_descendant_of(pid, root))
    }

    /// True when a valid token, held by a descendant of the process it was issued to, already
    /// covers every segment of this command.
    fn token_covers(&self, token: &str, pid: u32, command: &CommandSpec) -> bool {
        let (root, covered) = {
            let tokens = lock(&self.tokens);
            let Some(entry) = tokens.get(token) else {
                return false;
            };
            if entry.expires <= Instant::now() {
                return false;
            }
            let keys = segment_keys(command);
            (
                entry.root_pid,
                !keys.is_empty() && keys.iter().all(|k| entry.segments.contains(k)),
            )
        };
        covered && context::is_descendant_of(pid, root)
    }

    /// Whether an approval should wait for a person in the monitor (else the client asks).
    fn waits_for_monitor(&self, mode: ApprovalMode) -> bool {
        match mode {
            ApprovalMode::Monitor => true,
            ApprovalMode::Agent => false,
            ApprovalMode::Auto => lock(&self.hub).subscribers.iter().any(|s| !s.is_closed()),
        }
    }

    fn session_decision(&self, key: &SessionKey) -> Option<SessionVerdict> {
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        sessions.retain(|(_, _, expires)| *expires > now);
        sessions
            .iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.clone())
    }

    fn remember(&self, key: SessionKey, verdict: SessionVerdict) {
        let expires = Instant::now() + Duration::from_secs(self.config().session_approval_secs);
        lock(&self.sessions).push((key, verdict, expires));
    }

    /// Whether a would-be approver is itself an agent: agent markers or `SAFESHELL_CONTEXT=ai` in
    /// its environment, or an agent program among its ancestors.
    fn resolver_is_agent(&self, pid: u32) -> Option<String> {
        let vars = crate::agent_tree::environ(pid);
        // `SAFESHELL_CONTEXT=ai` counts; a claim to be human does not (markers and ancestry decide).
        let claims_ai = vars
            .iter()
            .any(|(k, v)| k == "SAFESHELL_CONTEXT" && v.trim() == "ai");
        if claims_ai {
            return Some("SAFESHELL_CONTEXT=ai".into());
        }
        // A process that dropped its agent's marker (`env -u CLAUDECODE …`) still has a parent
        // that started with it.
        if let Some((pid, var)) =
            crate::agent_tree::ancestor_with_agent_variable(pid, &|k| self.detector.is_marker(k))
        {
            return Some(format!("its ancestor pid {pid} carries {var}"));
        }
        let hints = ContextHints {
            safeshell_context: None,
            agent_markers: vars.iter().map(|(k, _)| k.clone()).collect(),
        };
        let detected = self.detector.detect(&Surface::Cli, &hints, pid);
        (detected.context == Context::Ai).then_some(detected.source)
    }

    fn resolve(
        &self,
        client: ClientKind,
        peer_pid: u32,
        res: &ApprovalResolution,
    ) -> (bool, String) {
        if !matches!(client, ClientKind::Monitor | ClientKind::Cli) {
            return (
                false,
                "approvals are only accepted from `safeshell monitor`".into(),
            );
        }
        // The agent must never approve its own request: refuse a resolver that runs as an agent
        // (its environment or ancestry says so), or descends from a requesting process or its
        // agent.
        let agent_resolver = self.resolver_is_agent(peer_pid);
        let mut pending = lock(&self.pending);
        let inside = pending
            .values()
            .find(|p| {
                context::is_descendant_of(peer_pid, p.requester_pid)
                    || p.agent_pid
                        .is_some_and(|a| context::is_descendant_of(peer_pid, a))
            })
            .map(|p| p.info.approval_id);
        if agent_resolver.is_some() || inside.is_some() {
            drop(pending);
            let why = match (&agent_resolver, inside) {
                (Some(source), _) => format!("it runs as an agent ({source})"),
                (None, Some(id)) => format!(
                    "it runs inside the process tree of the command waiting for approval #{id}"
                ),
                (None, None) => unreachable!("checked above"),
            };
            self.audit(json!({
                "time_ms": now_ms(), "event": "self_approval_refused", "approval_id": res.approval_id,
                "resolver_pid": peer_pid, "why": why,
            }));
            dlog!("safeshell daemon: refused an approval decision from pid {peer_pid}: {why}");
            return (
                false,
                format!(
                    "refused: {why}; an agent cannot approve its own commands. Approve from a terminal the agent does not control."
                ),
            );
        }
        let Some(entry) = pending.remove(&res.approval_id) else {
            return (
                false,
                format!(
                    "no pending approval #{} (already decided or expired)",
                    res.approval_id
                ),
            );
        };
        let _ = entry.tx.send((res.verdict, res.reason.clone()));
        (true, format!("approval #{} resolved", res.approval_id))
    }

    async fn check<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &self,
        req: CheckRequest,
        peer_pid: u32,
        reader: &mut R,
        writer: &mut W,
    ) -> Result<()> {
        let start = Instant::now();
        let client_pid = if peer_pid != 0 {
            peer_pid
        } else {
            req.client_pid
        };
        let text = command_text(&req.command);
        if self.panic_trigger.as_deref() == Some(text.as_str()) {
            panic!("SAFESHELL_TEST_PANIC_ON matched");
        }
        let detected: Detected = self.detector.detect(&req.surface, &req.hints, client_pid);
        let cwd = PathBuf::from(&req.cwd);
        let bypass = req
            .env
            .iter()
            .any(|(k, v)| k == "SAFESHELL_BYPASS" && v == "1");
        let home = req
            .env
            .iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var("HOME").ok());
        // A file tool's access is judged as the files it would open, which reads directories
        // (a search pattern is matched on disk): off the event loop, which serves every client.
        let file_command = match &req.command {
            CommandSpec::File(access) => {
                let (access, at, home) = (access.clone(), req.cwd.clone(), home.clone());
                Some(
                    tokio::task::spawn_blocking(move || {
                        crate::file_access::judged_command(&access, &at, home.as_deref())
                    })
                    .await?,
                )
            }
            _ => None,
        };
        let facts = ClientFacts {
            cwd: cwd.clone(),
            pid: client_pid,
            forwarded: req.env.clone(),
            proc_env: std::cell::OnceCell::new(),
            home,
            git_dir: std::cell::OnceCell::new(),
            branch: std::cell::OnceCell::new(),
        };

        let covered = match req.token.as_deref() {
            Some(t) => self.token_covers(t, client_pid, &req.command),
            None => {
                matches!(req.surface, Surface::PathShim | Surface::ShellWrapper)
                    && self.hook_covers(client_pid, &req.command)
            }
        };
        let mut once = false;
        let mut why = None;
        let (mut action, rule, mut reason, segment_text, redirect) = if covered {
            (
                Action::Allow,
                None,
                "already allowed by an earlier decision for this command (no double asking)"
                    .to_owned(),
                None,
                None,
            )
        } else if bypass && detected.context == Context::Human {
            (
                Action::Allow,
                None,
                "SAFESHELL_BYPASS=1 in a human's terminal".to_owned(),
                None,
                None,
            )
        } else {
            let rules = self.rules.for_cwd(&cwd);
            let input = match (&req.command, &file_command) {
                (CommandSpec::Argv(argv), _) => CommandInput::Argv(argv),
                (CommandSpec::Shell(s), _) => CommandInput::Shell(s),
                (CommandSpec::File(_), Some(judged)) => CommandInput::Shell(judged),
                (CommandSpec::File(_), None) => unreachable!("judged above"),
            };
            let e = rules.evaluate(input, detected.context, &req.cwd, &facts);
            let seg = e.segment.map(|i| e.segments[i].text.clone());
            once = e.approval_scope == safeshell_rules::ApprovalScope::Once;
            why = e.explanation.map(|x| proto::Why {
                origin: x.origin,
                // The segment is named when the command has more than it.
                segment: seg.clone().filter(|_| e.segments.len() > 1),
                matched: x.matched,
                suggest: x.suggest,
            });
            (e.action, e.rule, e.reason, seg, e.redirect)
        };

        // A person's earlier "for the session" decision on this exact command answers it now.
        // What a session decision covers, and the agent's pid: looked up (parsing, /proc, the
        // repository) only when a person's approval is involved, never on the plain allow path.
        let mut detected = detected;
        let session = (action == Action::RequireApproval).then(|| {
            if detected.agent_pid.is_none() && detected.context == Context::Ai {
                detected.agent_pid = self
                    .detector
                    .agent_ancestor(client_pid)
                    .map(|(_, pid)| pid)
                    // An agent known only by its marker: the process that handed the marker to
                    // its children (so its other children cannot approve for it).
                    .or_else(|| {
                        crate::agent_tree::session_root(client_pid, &|k| self.detector.is_marker(k))
                    });
            }
            SessionKey {
                commands: segment_keys(&req.command),
                repo: repository_of(&cwd),
                agent_session: agent_session(&detected, client_pid),
            }
        });
        let mut remembered = None;
        if let Some(session) = &session {
            remembered = self.session_decision(session);
            match &remembered {
                Some(SessionVerdict::Allow) if !once => {
                    action = Action::Allow;
                    reason = format!("approved earlier for this session by the user ({reason})");
                }
                Some(SessionVerdict::Deny(_)) => {
                    action = Action::Deny;
                    reason = format!("denied earlier for this session by the user ({reason})");
                }
                _ => remembered = None,
            }
        }

        let mut approval: Option<(u64, ApprovalOutcome)> = None;
        let agent_message;
        let mut token = None;
        match action {
            Action::Allow if remembered.is_some() => {
                agent_message = messages::approved(&text);
                token = self.issue_token(&req.surface, client_pid, &req.command);
            }
            Action::Deny if remembered.is_some() => {
                let why = match &remembered {
                    Some(SessionVerdict::Deny(why)) => why.clone(),
                    _ => None,
                };
                agent_message = messages::denied_by_user(&text, why.as_deref());
            }
            Action::Allow => {
                agent_message = String::new();
                if !matches!(req.surface, Surface::PathShim)
                    && !matches!(req.command, CommandSpec::File(_))
                {
                    token = self.issue_token(&req.surface, client_pid, &req.command);
                }
            }
            Action::Deny => {
                agent_message = messages::blocked(&text, rule.as_deref(), &reason, why.as_ref());
            }
            // A file tool runs no command: a redirect (a rule for the command that makes the
            // same access) refuses the access and names the command it suggests.
            // Only Claude Code's hook can replace the command it was asked about; another
            // agent's hook refuses it and names the command to run instead (a deny, audited so).
            Action::Redirect
                if hook_cannot_rewrite(&req.surface)
                    || matches!(req.command, CommandSpec::File(_)) =>
            {
                action = Action::Deny;
                agent_message =
                    messages::run_instead(&text, redirect.as_deref().unwrap_or(""), &reason);
            }
            Action::Redirect => {
                agent_message =
                    messages::redirected(&text, redirect.as_deref().unwrap_or(""), &reason);
            }
            Action::RequireApproval if !self.waits_for_monitor(req.approval) => {
                // The client (an agent hook) hands the question to the agent's own prompt.
                agent_message = format!(
                    "SafeShell: this command needs the user's approval ({}: {reason}).",
                    rule.as_deref().unwrap_or("-")
                );
            }
            Action::RequireApproval => {
                let id = self.next_approval.fetch_add(1, Ordering::Relaxed);
                let config = self.config();
                let timeout = req
                    .approval_timeout_secs
                    .map_or(config.approval_timeout_secs, |t| {
                        config.approval_timeout_secs.min(u64::from(t))
                    });
                let created = now_ms();
                let program = context::proc_info(client_pid)
                    .map(|p| p.comm)
                    .unwrap_or_default();
                let info = PendingApproval {
                    approval_id: id,
                    command: text.clone(),
                    segment: segment_text.clone(),
                    rule: rule.clone(),
                    reason: reason.clone(),
                    cwd: req.cwd.clone(),
                    client_pid,
                    program,
                    agent: detected.agent.clone(),
                    surface: req.surface.clone(),
                    context: hint(detected.context),
                    created_ms: created,
                    deadline_ms: created + timeout * 1000,
                    session_allowed: !once,
                    session_scope: format!(
                        "the same command (`{text}`), in {}, for {}, for {} minutes",
                        session.as_ref().map_or("", |s| s.repo.as_str()),
                        session.as_ref().map_or("", |s| s.agent_session.as_str()),
                        config.session_approval_secs.div_ceil(60)
                    ),
                    why: why.clone(),
                };
                let (tx, rx) = oneshot::channel();
                lock(&self.pending).insert(
                    id,
                    PendingEntry {
                        info: info.clone(),
                        tx,
                        requester_pid: client_pid,
                        agent_pid: detected.agent_pid,
                    },
                );
                self.emit(EventKind::ApprovalPending(info));
                let no_monitor = lock(&self.hub).subscribers.iter().all(|s| s.is_closed());
                dlog!(
                    "safeshell daemon: approval #{id} needed for `{text}` ({}); resolve it in `safeshell monitor`",
                    rule.as_deref().unwrap_or("-")
                );
                if no_monitor {
                    notify_desktop(id, &text);
                }
                let waiting = messages::approval_required(
                    &text,
                    rule.as_deref(),
                    &reason,
                    why.as_ref(),
                    id,
                    timeout,
                );
                write_msg(
                    writer,
                    &Response::Decision(Decision {
                        action: proto::Action::RequireApproval,
                        rule: rule.clone(),
                        reason: reason.clone(),
                        agent_message: waiting,
                        approval_id: Some(id),
                        redirect: None,
                        segment: segment_text.clone(),
                        token: None,
                        contain: None,
                        why: why.clone(),
                    }),
                )
                .await?;
                let mut shutdown = self.shutdown.clone();
                let mut probe = [0u8; 1];
                let outcome = tokio::select! {
                    v = rx => match v {
                        Ok((ApprovalVerdict::ApproveOnce, _)) => ApprovalOutcome::Approved { by_session: false },
                        Ok((ApprovalVerdict::ApproveSession, _)) => {
                            // A rule marked `approval_scope = "once"` is never remembered.
                            if !once
                                && let Some(session) = &session {
                                    self.remember(session.clone(), SessionVerdict::Allow);
                                }
                            ApprovalOutcome::Approved { by_session: !once }
                        }
                        Ok((ApprovalVerdict::Deny, reason)) => ApprovalOutcome::Denied { reason },
                        Ok((ApprovalVerdict::DenySession, reason)) => {
                            if let Some(session) = &session {
                                self.remember(session.clone(), SessionVerdict::Deny(reason.clone()));
                            }
                            ApprovalOutcome::Denied { reason }
                        }
                        Err(_) => ApprovalOutcome::DaemonShutdown,
                    },
                    _ = tokio::time::sleep(Duration::from_secs(timeout)) => ApprovalOutcome::TimedOut,
                    _ = shutdown.changed() => ApprovalOutcome::DaemonShutdown,
                    _ = reader.read(&mut probe) => ApprovalOutcome::Denied { reason: Some("the requesting process went away".into()) },
                };
                lock(&self.pending).remove(&id);
                self.emit(EventKind::ApprovalResolved {
                    approval_id: id,
                    outcome: outcome.clone(),
                });
                match &outcome {
                    ApprovalOutcome::Approved { .. } => {
                        action = Action::Allow;
                        agent_message = messages::approved(&text);
                        token = self.issue_token(&req.surface, client_pid, &req.command);
                    }
                    ApprovalOutcome::Denied { reason } => {
                        action = Action::Deny;
                        agent_message = messages::denied_by_user(&text, reason.as_deref());
                    }
                    ApprovalOutcome::TimedOut => {
                        action = Action::Deny;
                        agent_message = messages::timed_out(&text, timeout);
                    }
                    ApprovalOutcome::DaemonShutdown => {
                        action = Action::Deny;
                        agent_message = messages::daemon_stopped(&text);
                    }
                }
                approval = Some((id, outcome));
            }
        }

        let counter = match (action, &approval) {
            (_, Some(_)) => &self.stats.approval,
            _ if remembered.is_some() => &self.stats.approval,
            (Action::Allow, _) => &self.stats.allow,
            (Action::Deny, _) => &self.stats.deny,
            (Action::Redirect, _) => &self.stats.redirect,
            (Action::RequireApproval, _) => &self.stats.approval,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let latency_us = start.elapsed().as_micros().min(u32::MAX as u128) as u32;
        // Kernel containment for an agent's command that runs (allowed, approved or redirected)
        // from a shim or the wrapper: an approval approves that command, not access to secrets.
        let config = self.config();
        let contain = match &self.containment {
            Some((home, state))
                if matches!(action, Action::Allow | Action::Redirect)
                    && detected.context == Context::Ai
                    && !matches!(req.command, CommandSpec::File(_))
                    && (runs_here(&req.surface) || !hook_cannot_rewrite(&req.surface))
                    && config.containment == crate::config::Containment::Agents =>
            {
                // What the rule files in force here add (`[containment]`: restrictions only).
                let rules = self.rules.for_cwd(&cwd);
                let restricted = rules.containment();
                Some(proto::Containment {
                    home: home.clone(),
                    state_dir: state.clone(),
                    writable: config.containment_writable.clone(),
                    readable: config.containment_readable.clone(),
                    no_listen: !config.containment_listen || restricted.no_listen,
                    protect: restricted.protect.clone(),
                    read_only: restricted.read_only.clone(),
                })
            }
            _ => None,
        };
        // A hook's answer only offers containment (the Claude Code hook may rewrite the
        // command to run under it, which the shim's later check records as contained).
        let contained = contain.is_some() && runs_here(&req.surface);
        let decision = Decision {
            action: to_wire(action),
            rule: rule.clone(),
            reason: reason.clone(),
            agent_message,
            approval_id: approval.as_ref().map(|(id, _)| *id),
            redirect: redirect.clone().map(CommandSpec::Shell),
            segment: segment_text,
            token,
            contain,
            why: why.clone(),
        };
        // Audited before the client hears the answer: a decision is on disk before it acts.
        self.audit(json!({
            "time_ms": now_ms(),
            "surface": surface_name(&req.surface),
            "context": detected.context.as_str(),
            "context_source": detected.source,
            "agent": detected.agent,
            "pid": client_pid,
            "cwd": req.cwd,
            // Secrets a command carries (tokens, passwords) are not kept in the log.
            "command": match &req.command {
                CommandSpec::Argv(a) => json!(crate::redact::redact_argv(a)),
                CommandSpec::Shell(s) => json!(crate::redact::redact(s)),
                CommandSpec::File(f) => json!(f.describe()),
            },
            "file_access": match &req.command {
                CommandSpec::File(f) => json!({
                    "tool": f.tool, "access": f.access.as_str(), "paths": f.paths, "pattern": f.pattern,
                }),
                _ => serde_json::Value::Null,
            },
            "decision": action.as_str(),
            "rule": rule,
            "reason": crate::redact::redact(&reason),
            "approval": approval.as_ref().map(|(id, o)| json!({"id": id, "outcome": outcome_name(o)}))
                .or_else(|| remembered.as_ref().map(|_| json!({"outcome": "remembered_for_session"}))),
            "bypass": bypass && detected.context == Context::Human,
            "token": covered,
            "contained": contained,
            "latency_us": latency_us,
            "why": why.as_ref().map(|w| json!({
                "origin": w.origin,
                "segment": w.segment.as_deref().map(crate::redact::redact),
                "matched": w.matched.iter().map(|m| crate::redact::redact(m)).collect::<Vec<_>>(),
                "suggest": w.suggest,
            })),
        }));
        // A contained command's ruleset, built once per directory, travels with the answer
        // (`SCM_RIGHTS`): the shim then only enforces it.
        let ruleset = decision
            .contain
            .as_ref()
            .and_then(|c| crate::contain_cmd::ruleset_for(c, &req.cwd));
        match (
            ruleset,
            crate::contain_cmd::CONNECTION_FD.try_with(|fd| *fd),
        ) {
            (Some(ruleset), Ok(socket)) => {
                let answer = Response::Decision(decision);
                crate::contain_cmd::send_with_ruleset(writer, socket, &answer, &ruleset).await?;
            }
            _ => write_msg(writer, &Response::Decision(decision)).await?,
        }
        self.emit(EventKind::Decision(DecisionEvent {
            command: text,
            cwd: req.cwd,
            surface: req.surface,
            context: hint(detected.context),
            action: to_wire(action),
            rule,
            reason,
            latency_us,
            client_pid,
            contained,
            why,
        }));
        Ok(())
    }
}

/// Whether the client that asked runs the command itself (and so can contain it).
fn runs_here(s: &Surface) -> bool {
    matches!(s, Surface::PathShim | Surface::ShellWrapper)
}

/// Whether the surface is an agent hook whose answer cannot replace the command (every agent's
/// but Claude Code's, whose hook answers with `updatedInput`).
fn hook_cannot_rewrite(s: &Surface) -> bool {
    matches!(s, Surface::AgentHook { agent } if agent != "claude")
}

fn surface_name(s: &Surface) -> String {
    match s {
        Surface::PathShim => "path_shim".into(),
        Surface::ShellWrapper => "shell_wrapper".into(),
        Surface::AgentHook { agent } => format!("hook:{agent}"),
        Surface::Cli => "cli".into(),
    }
}

fn outcome_name(o: &ApprovalOutcome) -> &'static str {
    match o {
        ApprovalOutcome::Approved { .. } => "approved",
        ApprovalOutcome::Denied { .. } => "denied",
        ApprovalOutcome::TimedOut => "timed_out",
        ApprovalOutcome::DaemonShutdown => "daemon_shutdown",
    }
}

/// Tells a person at the desktop that an approval waits, when `notify-send` exists.
fn notify_desktop(id: u64, command: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("notify-send").is_file()));
    if !found
        || std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none()
    {
        return;
    }
    let _ = std::process::Command::new("notify-send")
        .args([
            "SafeShell: approval needed",
            &format!("#{id}: {command}\nOpen `safeshell monitor` to decide."),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}
