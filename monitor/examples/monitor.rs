//! Runs the monitor against a running daemon, before it is wired into `safeshell monitor`:
//! `cargo run -p safeshell-monitor --example monitor [-- SOCKET]` (default: the usual socket path).

use anyhow::Context as _;
use safeshell_monitor::MonitorOptions;

fn main() -> anyhow::Result<()> {
    let options = match std::env::args_os().nth(1) {
        Some(socket) => MonitorOptions::new(socket),
        None => MonitorOptions::from_env().context("cannot work out the daemon's socket path")?,
    };
    safeshell_monitor::run(options)
}
