//! Wire types, framing and socket-path resolution shared by every SafeShell process.
//!
//! Every SafeShell client (the PATH shim, the `SHELL` wrapper, agent hooks, the
//! `safeshell` CLI and the monitor) talks to the daemon over a Unix socket using
//! the types in [`messages`], framed by [`frame`]: a 4-byte little-endian length
//! followed by that many bytes of [postcard](https://docs.rs/postcard).
//!
//! A connection starts with the client sending a [`Hello`] and the daemon
//! answering with a [`HelloReply`]; after that the client sends [`Request`]s and
//! reads [`Response`]s. [`socket::socket_path`] finds the socket.
//!
//! This crate is linked into the sub-millisecond shim, so it stays tiny: serde and
//! postcard only, no async runtime, and no I/O beyond [`std::io::Read`] and
//! [`std::io::Write`].

#![deny(missing_docs)]
#![deny(clippy::print_stdout)]

pub mod frame;
pub mod messages;
pub mod socket;

pub use frame::{FrameError, decode, encode, read_frame, read_message, write_frame};
pub use messages::{
    Action, ApprovalMode, ApprovalOutcome, ApprovalResolution, ApprovalVerdict, CheckRequest,
    ClientKind, CommandSpec, Containment, ContextHint, ContextHints, Decision, DecisionEvent,
    Event, EventKind, FileAccess, FileAccessKind, HELLO_MAGIC, Hello, HelloReply, PendingApproval,
    Problem, ProblemKind, Request, Response, StatusReport, Subscribe, Surface, VersionMismatch,
    Why, check_versions,
};
pub use socket::{socket_path, socket_path_from};

/// Environment variables that mark a process as run by an AI agent. Clients report the names of
/// the variables they see in [`ContextHints::agent_markers`]; the daemon counts those that are
/// markers: these, and any configured in `agent_env_markers`.
pub const AGENT_ENV_MARKERS: &[&str] = &[
    "CLAUDECODE",
    "CLAUDE_CODE_ENTRYPOINT",
    "CODEX_SANDBOX",
    "CODEX_SANDBOX_NETWORK_DISABLED",
    "CURSOR_AGENT",
    "CURSOR_TRACE_ID",
    "GEMINI_CLI",
    "AIDER_MODEL",
    "AIDER_CHAT_HISTORY_FILE",
    "WARP_AI_AGENT",
    "OPENCODE",
    "CLINE_ACTIVE",
];

/// Program names whose descendants are agents' processes: the default of the daemon's
/// `agent_programs`, and what the shim looks for (with those configured) when it must decide the
/// context itself.
pub const AGENT_PROGRAMS: &[&str] = &[
    "claude",
    "codex",
    "cursor-agent",
    "gemini",
    "copilot",
    "aider",
    "opencode",
    "goose",
    "amp",
    "cline",
    "crush",
];

/// The version of the wire protocol this build speaks.
///
/// Client and daemon exchange it in [`Hello`] / [`HelloReply`] and refuse to go on
/// when they differ (see [`check_versions`]). Bump it on any change to the encoded
/// form of a message after the handshake: a new field, a reordered or removed enum
/// variant, a changed type. The golden-bytes test in `tests/golden.rs` fails on
/// such changes to remind you.
pub const PROTOCOL_VERSION: u32 = 4;

/// The largest frame payload, in bytes, that [`frame`] will write or read (1 MiB).
///
/// A reader checks an incoming length against this limit before allocating, so a
/// corrupt or hostile length prefix cannot make a process allocate gigabytes.
pub const MAX_FRAME_LEN: usize = 1 << 20;
