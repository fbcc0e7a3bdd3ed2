//! The messages exchanged between SafeShell clients and the daemon.
//!
//! # Wire compatibility
//!
//! Messages are encoded with postcard, which writes struct fields in declaration
//! order without names and writes enum variants as their index. So:
//!
//! - **Field order and variant order are part of the wire format.** Reordering
//!   fields or variants, inserting a variant anywhere but at the end of an enum,
//!   or changing a field's type is a wire change that requires bumping
//!   [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
//! - New enum variants go at the end. Even then, an older peer cannot decode
//!   them, so adding one still means a protocol version bump.
//! - [`Hello`] and [`HelloReply`] never change layout, in any protocol version, so
//!   that two mismatched builds can always read each other's version and report
//!   the mismatch clearly instead of failing with a decode error.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The four bytes every [`Hello`] starts with, so the daemon can tell a SafeShell
/// client from something else that connected to its socket.
pub const HELLO_MAGIC: [u8; 4] = *b"SFSH";

/// The first frame a client sends after connecting.
///
/// The layout of this struct is frozen across all protocol versions (see the
/// [module docs](self)): a daemon of any version must be able to read the
/// client's `version` and answer with a [`HelloReply`] that says whether it will
/// talk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Always [`HELLO_MAGIC`]; anything else means the peer is not a SafeShell client.
    pub magic: [u8; 4],
    /// The protocol version the client speaks ([`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION)).
    pub version: u32,
    /// Which kind of client is connecting.
    pub client: ClientKind,
    /// The client's release version (its crate version), for diagnostics.
    pub client_version: String,
}

impl Hello {
    /// A hello from a client of this build: the right magic and
    /// [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
    #[must_use]
    pub fn new(client: ClientKind, client_version: impl Into<String>) -> Self {
        Self {
            magic: HELLO_MAGIC,
            version: crate::PROTOCOL_VERSION,
            client,
            client_version: client_version.into(),
        }
    }

    /// Whether the magic bytes say this hello came from a SafeShell client.
    #[must_use]
    pub fn has_valid_magic(&self) -> bool {
        self.magic == HELLO_MAGIC
    }

    /// Reads only the magic and protocol version from the payload of a hello frame.
    ///
    /// Returns `None` if the payload is too short or the magic is wrong. Because the
    /// first two fields of a hello never move, this works even when the rest of the
    /// hello comes from a newer build this one cannot fully decode (for example a
    /// [`ClientKind`] variant it does not know), so the daemon can still answer
    /// with a clear version mismatch.
    #[must_use]
    pub fn peek_version(payload: &[u8]) -> Option<u32> {
        let ((magic, version), _rest) =
            postcard::take_from_bytes::<([u8; 4], u32)>(payload).ok()?;
        (magic == HELLO_MAGIC).then_some(version)
    }
}

/// The daemon's answer to a [`Hello`].
///
/// Like [`Hello`], its layout is frozen across all protocol versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    /// The protocol version the daemon speaks.
    pub version: u32,
    /// The daemon's release version, for diagnostics.
    pub daemon_version: String,
    /// Whether the daemon will serve this connection; `false` on a version
    /// mismatch or bad magic, after which the daemon closes the connection.
    pub accepted: bool,
}

/// Checks that a client and the daemon speak the same protocol version.
///
/// # Errors
///
/// [`VersionMismatch`] when the versions differ; its message tells the user how
/// to get the two back in step.
pub fn check_versions(client: u32, daemon: u32) -> Result<(), VersionMismatch> {
    if client == daemon {
        Ok(())
    } else {
        Err(VersionMismatch { client, daemon })
    }
}

/// A client and the daemon speak different protocol versions, usually because
/// one of them was upgraded and the other is still the old build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionMismatch {
    /// The protocol version the client speaks.
    pub client: u32,
    /// The protocol version the daemon speaks.
    pub daemon: u32,
}

impl fmt::Display for VersionMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "protocol version mismatch: client speaks v{}, daemon speaks v{}; restart the daemon \
             (`safeshell daemon restart`) or reinstall so both come from the same release",
            self.client, self.daemon
        )
    }
}

impl std::error::Error for VersionMismatch {}

// Variant order of every enum below is part of the wire format: postcard encodes
// the variant index. New variants go at the end; a reorder is a wire change that
// needs a PROTOCOL_VERSION bump.

/// Which kind of program is talking to the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClientKind {
    /// A PATH shim standing in for a guarded program such as `git` or `rm`.
    Shim,
    /// The `SHELL` wrapper that checks whole command strings before running them.
    ShellWrapper,
    /// An agent hook (for example a Claude Code `PreToolUse` hook).
    Hook,
    /// The user-facing `safeshell` command.
    Cli,
    /// The monitor, which watches events and resolves approvals.
    Monitor,
}

/// Where a command was intercepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Surface {
    /// A PATH shim caught the program being executed.
    PathShim,
    /// The `SHELL` wrapper caught a command string.
    ShellWrapper,
    /// An agent's own tool hook reported the command before running it.
    AgentHook {
        /// The agent whose hook called in, e.g. `claude-code`.
        agent: String,
    },
    /// `safeshell check` was asked about a command directly.
    Cli,
}

/// The command to judge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommandSpec {
    /// An argument vector as a shim received it, already split by the calling
    /// shell; the first element is the program.
    Argv(Vec<String>),
    /// A command string still to be parsed, as a shell wrapper or hook sees it.
    Shell(String),
    /// An agent's file tool (Claude Code `Read`, Gemini CLI `write_file`, Cursor's file read…)
    /// about to touch files without a shell (protocol v4).
    File(FileAccess),
}

/// A file access by an agent's own tool, judged with the same rules as a command that makes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileAccess {
    /// The agent's name for the tool, e.g. `Read` or `write_file` (shown and audited).
    pub tool: String,
    /// What the tool does to the files.
    pub access: FileAccessKind,
    /// The files or directories, absolute or relative to the request's `cwd`.
    pub paths: Vec<String>,
    /// For [`FileAccessKind::Search`] and [`FileAccessKind::List`]: the file-name pattern that
    /// selects the files (`*.rs`, `**/.env*`), if the tool was given one.
    pub pattern: Option<String>,
}

/// What a file tool does to the files it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FileAccessKind {
    /// Shows their contents.
    Read,
    /// Creates or replaces them.
    Write,
    /// Changes them in place, showing parts of them (a read and a write).
    Edit,
    /// Searches the contents of the files under each directory (a recursive read).
    Search,
    /// Lists the names of the files under each directory (metadata only).
    List,
    /// Deletes them.
    Delete,
}

impl FileAccessKind {
    /// The kind's name, as `safeshell check --access` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FileAccessKind::Read => "read",
            FileAccessKind::Write => "write",
            FileAccessKind::Edit => "edit",
            FileAccessKind::Search => "search",
            FileAccessKind::List => "list",
            FileAccessKind::Delete => "delete",
        }
    }

    /// The kind for a name ([`FileAccessKind::as_str`]).
    pub fn parse(name: &str) -> Option<FileAccessKind> {
        Some(match name {
            "read" => FileAccessKind::Read,
            "write" => FileAccessKind::Write,
            "edit" => FileAccessKind::Edit,
            "search" => FileAccessKind::Search,
            "list" => FileAccessKind::List,
            "delete" => FileAccessKind::Delete,
            _ => return None,
        })
    }
}

impl FileAccess {
    /// The access as a person reads it: `Read /p/.env`, `Grep /p (files *.rs)`.
    pub fn describe(&self) -> String {
        let mut text = self.tool.clone();
        for path in &self.paths {
            text.push(' ');
            text.push_str(path);
        }
        if let Some(pattern) = &self.pattern {
            text.push_str(" (files ");
            text.push_str(pattern);
            text.push(')');
        }
        text
    }
}

/// Who the daemon concluded is running a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContextHint {
    /// An AI agent.
    Ai,
    /// A person at a terminal.
    Human,
}

/// Raw evidence from the client's environment about who is running the command;
/// the daemon turns it into a [`ContextHint`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContextHints {
    /// The raw value of `SAFESHELL_CONTEXT` in the client's environment, if set.
    pub safeshell_context: Option<String>,
    /// Names (never values) of the variables in the client's environment, or at least of
    /// those that may be agent markers, such as `CLAUDECODE`. The daemon counts only the names
    /// that are markers (built in, or configured in `agent_env_markers`); any other name is
    /// ignored.
    pub agent_markers: Vec<String>,
}

/// A request to judge one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRequest {
    /// The command to judge.
    pub command: CommandSpec,
    /// The client's working directory, which relative paths in the command refer to.
    pub cwd: String,
    /// Where the command was intercepted.
    pub surface: Surface,
    /// The process id of the client, for the audit trail and approval prompts.
    pub client_pid: u32,
    /// Evidence about whether an agent or a person is running the command.
    pub hints: ContextHints,
    /// Client environment variables that rules may consult, as name/value pairs.
    pub env: Vec<(String, String)>,
    /// A no-double-ask token from an earlier [`Decision`], so a command that was
    /// already approved at one layer is not asked about again at another.
    pub token: Option<String>,
    /// What to do when a human must approve (agent hooks may hand it to the agent's own prompt).
    pub approval: ApprovalMode,
    /// The longest the client can wait for a human (an agent's hook timeout), if shorter than
    /// the daemon's own approval timeout.
    pub approval_timeout_secs: Option<u32>,
}

/// How a client wants approvals handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum ApprovalMode {
    /// Wait for a decision in `safeshell monitor`.
    #[default]
    Monitor,
    /// Do not wait: answer `RequireApproval` at once (the agent's own prompt asks the person).
    Agent,
    /// `Monitor` when a monitor is connected, else `Agent`.
    Auto,
}

/// What the daemon decided to do with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Run the command.
    Allow,
    /// Refuse to run the command.
    Deny,
    /// Hold the command until a person approves or denies it.
    RequireApproval,
    /// Run a different command instead (see [`Decision::redirect`]).
    Redirect,
}

impl Action {
    /// The action's name as used in rules files, logs and JSON output:
    /// `allow`, `deny`, `require_approval` or `redirect`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::RequireApproval => "require_approval",
            Self::Redirect => "redirect",
        }
    }

    /// How restrictive the action is, for combining the decisions of several
    /// simple commands: the most severe wins. Allow is 0, redirect 1,
    /// require-approval 2 and deny 3.
    #[must_use]
    pub fn severity(self) -> u8 {
        match self {
            Self::Allow => 0,
            Self::Redirect => 1,
            Self::RequireApproval => 2,
            Self::Deny => 3,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The daemon's verdict on a [`CheckRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do with the command.
    pub action: Action,
    /// The name of the rule that decided, or `None` when no rule matched and the
    /// default applied.
    pub rule: Option<String>,
    /// Why, in words for the person reading logs or the monitor.
    pub reason: String,
    /// What to tell the agent, phrased so it can change course.
    pub agent_message: String,
    /// The approval to wait for when the action is
    /// [`RequireApproval`](Action::RequireApproval).
    pub approval_id: Option<u64>,
    /// The command to run instead when the action is [`Redirect`](Action::Redirect).
    pub redirect: Option<CommandSpec>,
    /// The simple command within a compound command line that decided, if any.
    pub segment: Option<String>,
    /// A no-double-ask token the client passes along to later checks of the same
    /// command (see [`CheckRequest::token`]).
    pub token: Option<String>,
    /// Run the allowed command under kernel containment (Landlock), with this profile: set for
    /// an agent's allowed (or person-approved, or redirected) command from a shim or the
    /// wrapper when `containment = "agents"` (protocol v3).
    pub contain: Option<Containment>,
    /// Why the rule decided: where it is defined, what matched, a safer alternative (protocol
    /// v4; `None` for an allow).
    #[serde(default)]
    pub why: Option<Why>,
}

/// What a client needs to build the containment profile (see `shim/src/profile.rs`). The paths
/// come from the daemon, never from the command's environment, which the agent controls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Containment {
    /// The user's home directory (its secrets are protected; it is not writable).
    pub home: String,
    /// SafeShell's state directory (readable, never writable).
    pub state_dir: String,
    /// Extra writable paths (`containment_writable`; `~/` is the home).
    pub writable: Vec<String>,
    /// Extra readable paths, even among the protected secrets (`containment_readable`).
    pub readable: Vec<String>,
    /// No TCP listening: binding a TCP port is refused (`containment_listen = false`; Landlock
    /// ABI 4 and later).
    #[serde(default)]
    pub no_listen: bool,
    /// Paths kept from reading and writing (`[containment] protect` in the rule files that apply
    /// in the command's directory; absolute or `~/`).
    #[serde(default)]
    pub protect: Vec<String>,
    /// Paths kept from writing (`[containment] read_only`).
    #[serde(default)]
    pub read_only: Vec<String>,
}

/// A person's answer to a pending approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ApprovalVerdict {
    /// Allow this one command.
    ApproveOnce,
    /// Allow this command and identical ones for the rest of the agent session.
    ApproveSession,
    /// Refuse this one command.
    Deny,
    /// Refuse this command and identical ones for the rest of the agent session.
    DenySession,
}

/// A request, usually from the monitor, to settle a pending approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalResolution {
    /// The approval to settle, from [`PendingApproval::approval_id`].
    pub approval_id: u64,
    /// The person's answer.
    pub verdict: ApprovalVerdict,
    /// An optional explanation, passed on to the agent on a denial.
    pub reason: Option<String>,
}

/// How a pending approval ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalOutcome {
    /// A person approved the command.
    Approved {
        /// Whether the approval covers the rest of the session rather than once.
        by_session: bool,
    },
    /// A person denied the command.
    Denied {
        /// The explanation they gave, if any.
        reason: Option<String>,
    },
    /// Nobody answered before the deadline.
    TimedOut,
    /// The daemon shut down while the approval was pending.
    DaemonShutdown,
}

/// A request to receive the daemon's event stream on this connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    /// How many recent events to replay before live ones.
    pub history: u32,
}

/// One entry in the daemon's event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// A sequence number that increases by one per event, so gaps show loss.
    pub seq: u64,
    /// When the event happened, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What happened.
    pub kind: EventKind,
}

/// What an [`Event`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// The daemon decided on a command.
    Decision(DecisionEvent),
    /// A command is waiting for a person's approval.
    ApprovalPending(PendingApproval),
    /// A pending approval was settled.
    ApprovalResolved {
        /// The approval that was settled.
        approval_id: u64,
        /// How it ended.
        outcome: ApprovalOutcome,
    },
    /// The rules were loaded again after a change on disk.
    RulesReloaded {
        /// How many rules are now active.
        rule_count: u32,
        /// The rules files that were read.
        files: Vec<String>,
    },
    /// A rules file could not be loaded; the previous rules stay active.
    RulesError {
        /// The file that failed.
        file: String,
        /// What was wrong with it.
        message: String,
    },
    /// The subscriber fell behind and this many events were dropped for it.
    Dropped {
        /// The number of events skipped.
        count: u64,
    },
    /// Something the daemon could not do, or had to repair; it goes on deciding (protocol v3).
    Problem(Problem),
    /// A problem reported earlier is over (protocol v3).
    ProblemSolved {
        /// Which kind of problem.
        kind: ProblemKind,
        /// What changed, in words.
        message: String,
    },
}

/// What a [`Problem`] concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProblemKind {
    /// `config.toml` has an error; the daemon serves its last good (or the default) settings.
    Config,
    /// The daemon cannot write its log (stderr): a full disk, typically.
    Log,
    /// The daemon cannot write, or had to reopen, its audit log.
    Audit,
    /// The daemon's socket was deleted or replaced.
    Socket,
}

impl ProblemKind {
    /// A short lowercase name: `config`, `log`, `audit`, `socket`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Log => "log",
            Self::Audit => "audit",
            Self::Socket => "socket",
        }
    }
}

/// A problem of the daemon's own that does not stop decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// What it concerns.
    pub kind: ProblemKind,
    /// What is wrong, in words (for a config error: `file:line:column: message`).
    pub message: String,
}

/// Why a rule decided, for the agent, the monitor and the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Why {
    /// Where the rule is defined: `pack `secrets` (built in)`, `FILE:LINE`.
    pub origin: String,
    /// The simple command (segment) that matched, if the command has several.
    pub segment: Option<String>,
    /// What matched, in words: `reads `/p/.env``, `subcommand `push``.
    pub matched: Vec<String>,
    /// The rule's safer alternative, if it gives one.
    pub suggest: Option<String>,
}

/// A summary of one decision, for the event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionEvent {
    /// The command as the user would read it.
    pub command: String,
    /// The working directory it was run in.
    pub cwd: String,
    /// Where it was intercepted.
    pub surface: Surface,
    /// Who the daemon concluded was running it.
    pub context: ContextHint,
    /// What was decided.
    pub action: Action,
    /// The rule that decided, if any.
    pub rule: Option<String>,
    /// Why.
    pub reason: String,
    /// How long the daemon took to decide, in microseconds.
    pub latency_us: u32,
    /// The process id of the client that asked.
    pub client_pid: u32,
    /// Whether the command runs under kernel containment (Landlock).
    #[serde(default)]
    pub contained: bool,
    /// Why the rule decided (protocol v4; `None` for an allow).
    #[serde(default)]
    pub why: Option<Why>,
}

/// A command waiting for a person's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// The id to answer with in an [`ApprovalResolution`].
    pub approval_id: u64,
    /// The whole command as the user would read it.
    pub command: String,
    /// The simple command within it that needs approval, if the command is compound.
    pub segment: Option<String>,
    /// The rule that asked for approval, if any.
    pub rule: Option<String>,
    /// Why approval is needed.
    pub reason: String,
    /// The working directory of the command.
    pub cwd: String,
    /// The process id of the waiting client.
    pub client_pid: u32,
    /// The program being run, e.g. `git`.
    pub program: String,
    /// The agent running the command, if known.
    pub agent: Option<String>,
    /// Where the command was intercepted.
    pub surface: Surface,
    /// Who the daemon concluded is running it.
    pub context: ContextHint,
    /// When the approval was requested, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When it times out, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// Whether "approve / deny for the session" may be offered (false for rules marked
    /// `approval_scope = "once"`).
    pub session_allowed: bool,
    /// Exactly what a session decision would cover, in words, shown before it is chosen.
    pub session_scope: String,
    /// Why the rule asks (protocol v4).
    #[serde(default)]
    pub why: Option<Why>,
}

/// The daemon's health and counters, for `safeshell status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The daemon's process id.
    pub pid: u32,
    /// The daemon's release version.
    pub version: String,
    /// How long the daemon has been running, in milliseconds.
    pub uptime_ms: u64,
    /// How many rules are active.
    pub rule_count: u32,
    /// The rules files that were loaded.
    pub rule_files: Vec<String>,
    /// Problems found while loading rules, one message each.
    pub rule_errors: Vec<String>,
    /// How many clients are connected now.
    pub connections: u32,
    /// How many commands were allowed since start.
    pub decisions_allow: u64,
    /// How many commands were denied since start.
    pub decisions_deny: u64,
    /// How many commands required approval since start.
    pub decisions_approval: u64,
    /// How many commands were redirected since start.
    pub decisions_redirect: u64,
    /// How many approvals are waiting for an answer now.
    pub pending_approvals: u32,
    /// How many events were dropped for slow subscribers since start.
    pub events_dropped: u64,
    /// The daemon's own problems now (a config error, a log it cannot write, …); it goes on
    /// deciding through them (protocol v3).
    pub problems: Vec<Problem>,
}

/// A message from a client to the daemon, after the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Judge a command; answered with [`Response::Decision`].
    Check(CheckRequest),
    /// Settle a pending approval; answered with [`Response::Resolved`].
    Resolve(ApprovalResolution),
    /// Turn this connection into an event stream of [`Response::Event`]s.
    Subscribe(Subscribe),
    /// Ask for the daemon's health; answered with [`Response::Status`].
    Status,
    /// Check that the daemon is alive; answered with [`Response::Pong`].
    Ping,
    /// List the approvals waiting for a human; answered with [`Response::Pending`].
    ListPending,
}

/// A message from the daemon to a client, after the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The verdict on a [`Request::Check`]. When a human must approve, the daemon first sends a
    /// `Decision` with `action: RequireApproval` and an `approval_id` (so the client can say it
    /// is waiting), then, on the same connection, the final `Decision` once the approval is
    /// resolved, times out or the daemon shuts down.
    Decision(Decision),
    /// The result of a [`Request::Resolve`].
    Resolved {
        /// The approval the request named.
        approval_id: u64,
        /// Whether the resolution took effect; `false` if the approval was
        /// unknown or already settled.
        accepted: bool,
        /// What happened, in words.
        message: String,
    },
    /// One event on a subscribed connection.
    Event(Event),
    /// The answer to a [`Request::Status`].
    Status(StatusReport),
    /// The answer to a [`Request::Ping`].
    Pong,
    /// The daemon could not serve the request.
    Error {
        /// What went wrong.
        message: String,
    },
    /// The approvals waiting for a human, oldest first.
    Pending(Vec<PendingApproval>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names() {
        assert_eq!(Action::Allow.as_str(), "allow");
        assert_eq!(Action::Deny.as_str(), "deny");
        assert_eq!(Action::RequireApproval.as_str(), "require_approval");
        assert_eq!(Action::Redirect.as_str(), "redirect");
        assert_eq!(Action::RequireApproval.to_string(), "require_approval");
    }

    #[test]
    fn action_severity_orders_allow_redirect_approval_deny() {
        let order = [
            Action::Allow,
            Action::Redirect,
            Action::RequireApproval,
            Action::Deny,
        ];
        for pair in order.windows(2) {
            assert!(pair[0].severity() < pair[1].severity(), "{pair:?}");
        }
        assert_eq!(Action::Allow.severity(), 0);
        assert_eq!(Action::Deny.severity(), 3);
    }

    #[test]
    fn matching_versions_are_fine() {
        assert_eq!(check_versions(1, 1), Ok(()));
    }

    #[test]
    fn mismatch_names_both_versions() {
        let err = check_versions(2, 1).unwrap_err();
        assert_eq!(
            err,
            VersionMismatch {
                client: 2,
                daemon: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "protocol version mismatch: client speaks v2, daemon speaks v1; restart the daemon \
             (`safeshell daemon restart`) or reinstall so both come from the same release"
        );
    }

    #[test]
    fn hello_new_uses_magic_and_current_version() {
        let hello = Hello::new(ClientKind::Cli, "0.1.0");
        assert!(hello.has_valid_magic());
        assert_eq!(hello.version, crate::PROTOCOL_VERSION);
    }

    #[test]
    fn peek_version_reads_prefix_only() {
        let hello = Hello {
            version: 7,
            ..Hello::new(ClientKind::Shim, "9.9.9")
        };
        let mut payload = postcard::to_stdvec(&hello).unwrap();
        assert_eq!(Hello::peek_version(&payload), Some(7));
        // A future client kind this build does not know: full decode fails, peek works.
        payload[5] = 200;
        assert!(postcard::from_bytes::<Hello>(&payload).is_err());
        assert_eq!(Hello::peek_version(&payload), Some(7));
        // Wrong magic or too short.
        assert_eq!(Hello::peek_version(b"XXXX\x01"), None);
        assert_eq!(Hello::peek_version(b"SFS"), None);
        assert_eq!(Hello::peek_version(b""), None);
    }
}
