//! The `safeshell monitor` TUI: the human's approval console and a live log of every decision.
//!
//! It connects to the daemon twice over its Unix socket ([`conn`]): one connection subscribes to
//! the event stream, the other fetches status and pending approvals and sends the person's
//! decisions. Everything the monitor knows lives in [`state::State`]; [`view`] draws it with
//! ratatui; [`app`] runs the terminal and the event loop. Callers need only [`run`] and
//! [`MonitorOptions`]; the modules are public for the crate's integration tests and benches.

#![deny(missing_docs)]
#![deny(clippy::print_stdout)]

use std::path::PathBuf;

pub mod app;
pub mod conn;
pub mod layout;
pub mod log;
pub mod state;
pub mod text;
pub mod view;

/// How many recent events to replay from the daemon on connect, by default.
pub const DEFAULT_HISTORY: u32 = 1000;
/// How many entries the live log keeps, by default.
pub const DEFAULT_LOG_CAPACITY: usize = 10_000;

/// How to run the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorOptions {
    /// The daemon's socket.
    pub socket: PathBuf,
    /// How many recent events to ask the daemon to replay on each connect
    /// ([`DEFAULT_HISTORY`]).
    pub history: u32,
    /// How many entries the live log keeps before dropping the oldest
    /// ([`DEFAULT_LOG_CAPACITY`]).
    pub log_capacity: usize,
}

impl MonitorOptions {
    /// Options for the daemon at `socket`, with the default history and log size.
    #[must_use]
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            history: DEFAULT_HISTORY,
            log_capacity: DEFAULT_LOG_CAPACITY,
        }
    }

    /// Options for the daemon at the usual socket path (see
    /// [`safeshell_protocol::socket_path`]), or `None` when no path can be worked out.
    #[must_use]
    pub fn from_env() -> Option<Self> {
        safeshell_protocol::socket_path().map(Self::new)
    }
}

/// Runs the monitor in the current terminal until the person quits (`q`, Ctrl-C) or the process
/// gets SIGTERM, SIGHUP or SIGINT. The terminal is restored in every case, panics included.
///
/// # Errors
///
/// When standard input or output is not a terminal, the terminal cannot be set up, or reading
/// it fails. Losing the daemon is not an error: the monitor shows it and reconnects.
pub fn run(options: MonitorOptions) -> anyhow::Result<()> {
    app::run(options)
}
