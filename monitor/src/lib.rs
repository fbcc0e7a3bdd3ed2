//! The `safeshell monitor` TUI: live decisions and human approvals (built in the monitor issue).
