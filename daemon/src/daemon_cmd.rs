//! `safeshell daemon run | start | stop | restart | status | logs` and `safeshell approvals`.

use std::io::{BufRead, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use safeshell_protocol::{ApprovalResolution, ApprovalVerdict, ClientKind, Request, Response};

use crate::client::Client;
use crate::{paths, server};

/// The daemon's log file name in the state directory.
pub const LOG_FILE: &str = "daemon.log";

/// How long `start` waits for a new daemon to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);

/// The state directory and socket, or an error saying how to fix the environment.
pub fn locations() -> Result<(PathBuf, PathBuf)> {
    let state = paths::safeshell_home().context("neither SAFESHELL_HOME nor HOME is set")?;
    let socket = safeshell_protocol::socket_path()
        .context("cannot work out the socket path: set SAFESHELL_SOCKET or HOME")?;
    Ok((state, socket))
}

/// True when a daemon answers a ping on `socket`.
pub fn is_running(socket: &Path) -> bool {
    Client::connect(socket, ClientKind::Cli)
        .and_then(|mut c| c.call(&Request::Ping))
        .is_ok_and(|r| r == Response::Pong)
}

pub fn run() -> Result<u8> {
    let (state, socket) = locations()?;
    server::run(&state, &socket)?;
    Ok(0)
}

pub fn start(quiet: bool) -> Result<u8> {
    let (state, socket) = locations()?;
    if is_running(&socket) {
        if !quiet {
            println!("SafeShell daemon already running ({})", socket.display());
        }
        return Ok(0);
    }
    server::create_private_dir(&state)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.join(LOG_FILE))?;
    let exe = std::env::current_exe().context("cannot find the safeshell executable")?;
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(exe)
        .args(["daemon", "run"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start the daemon")?;
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if is_running(&socket) {
            if !quiet {
                println!(
                    "SafeShell daemon started (pid {}), socket {}",
                    child.id(),
                    socket.display()
                );
            }
            return Ok(0);
        }
        if let Some(status) = child.try_wait()? {
            if is_running(&socket) {
                return Ok(0); // another start won the race; that daemon serves
            }
            bail!(
                "the daemon exited ({status}) before answering; see {}",
                state.join(LOG_FILE).display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!(
        "the daemon did not answer within {:?}; see {}",
        START_TIMEOUT,
        state.join(LOG_FILE).display()
    )
}

pub fn stop() -> Result<u8> {
    let (state, socket) = locations()?;
    let pid_path = state.join(server::PID_FILE);
    let pid: i32 = match std::fs::read_to_string(&pid_path) {
        Ok(s) => s
            .trim()
            .parse()
            .with_context(|| format!("{} does not hold a pid", pid_path.display()))?,
        Err(_) => {
            println!("SafeShell daemon is not running");
            return Ok(0);
        }
    };
    let pid = nix::unistd::Pid::from_raw(pid);
    if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_err() {
        let _ = std::fs::remove_file(&pid_path);
        println!("SafeShell daemon is not running (removed a stale pid file)");
        return Ok(0);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if nix::sys::signal::kill(pid, None).is_err() || (!pid_path.exists() && !socket.exists()) {
            println!("SafeShell daemon stopped");
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("the daemon (pid {pid}) did not stop within 5s")
}

/// Why the daemon cannot be asked, in words, and the command that fixes it.
pub struct Unreachable {
    /// `not_running`, `socket_gone` or `hung` (for `--json`).
    pub state: &'static str,
    /// What was found.
    pub detail: String,
    /// The command that fixes it.
    pub fix: String,
}

/// The pid in the pid file, if that process is alive and is a `safeshell`.
pub fn daemon_pid(state: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(state.join(server::PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    comm.trim().starts_with("safeshell").then_some(pid)
}

/// Tells a daemon that is not running from one whose socket is gone and one that is hung.
pub fn unreachable(state: &Path, socket: &Path, error: &anyhow::Error) -> Unreachable {
    let pid = daemon_pid(state);
    let socket_exists = std::fs::symlink_metadata(socket).is_ok();
    match pid {
        Some(pid) if crate::client::is_timeout(error) => Unreachable {
            state: "hung",
            detail: format!(
                "the daemon (pid {pid}) does not answer on {} ({error:#})",
                socket.display()
            ),
            fix: format!("kill -9 {pid}; safeshell daemon start"),
        },
        Some(pid) if !socket_exists => Unreachable {
            state: "socket_gone",
            detail: format!(
                "the daemon (pid {pid}) is running but its socket {} is gone (it makes a new one within a second; if it does not, it cannot)",
                socket.display()
            ),
            fix: "safeshell daemon restart".into(),
        },
        _ if crate::client::is_timeout(error) => Unreachable {
            state: "hung",
            detail: format!(
                "something listens on {} but does not answer ({error:#})",
                socket.display()
            ),
            fix: format!(
                "stop the process that listens on {} (e.g. `fuser -k {}`), then safeshell daemon start",
                socket.display(),
                socket.display()
            ),
        },
        _ => Unreachable {
            state: "not_running",
            detail: format!("not running ({error:#})"),
            fix: "safeshell daemon start".into(),
        },
    }
}

pub fn status(json: bool) -> Result<u8> {
    let (state, socket) = locations()?;
    let answer =
        Client::connect(&socket, ClientKind::Cli).and_then(|mut c| c.call(&Request::Status));
    let s = match answer {
        Ok(Response::Status(s)) => s,
        Ok(_) => bail!("unexpected answer to a status request"),
        Err(e) => {
            let u = unreachable(&state, &socket, &e);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"running": u.state != "not_running", "state": u.state,
                        "detail": u.detail, "fix": u.fix, "socket": socket})
                );
            } else if u.state == "not_running" {
                println!(
                    "SafeShell daemon is not running ({e:#})\nStart it with `safeshell daemon start`."
                );
            } else {
                println!("SafeShell daemon: {}\nFix: {}", u.detail, u.fix);
            }
            return Ok(1);
        }
    };
    if json {
        println!(
            "{}",
            serde_json::json!({
                "running": true, "pid": s.pid, "version": s.version, "uptime_ms": s.uptime_ms,
                "rule_count": s.rule_count, "rule_files": s.rule_files, "rule_errors": s.rule_errors,
                "connections": s.connections, "decisions": {"allow": s.decisions_allow, "deny": s.decisions_deny,
                "require_approval": s.decisions_approval, "redirect": s.decisions_redirect},
                "pending_approvals": s.pending_approvals, "events_dropped": s.events_dropped, "socket": socket,
                "problems": s.problems.iter().map(|p| serde_json::json!({"kind": p.kind.as_str(), "message": p.message})).collect::<Vec<_>>(),
            })
        );
        return Ok(0);
    }
    println!(
        "SafeShell daemon {} running, pid {}, up {}s",
        s.version,
        s.pid,
        s.uptime_ms / 1000
    );
    println!("socket:      {}", socket.display());
    println!(
        "rules:       {} from {}",
        s.rule_count,
        s.rule_files.join(", ")
    );
    for e in &s.rule_errors {
        println!("RULE ERROR:  {e}");
    }
    for p in &s.problems {
        println!("PROBLEM:     {}: {}", p.kind.as_str(), p.message);
    }
    println!("connections: {}", s.connections.saturating_sub(1));
    println!(
        "decisions:   {} allow, {} deny, {} approval, {} redirect",
        s.decisions_allow, s.decisions_deny, s.decisions_approval, s.decisions_redirect
    );
    println!("pending:     {} approvals", s.pending_approvals);
    println!("dropped:     {} events (slow monitors)", s.events_dropped);
    Ok(0)
}

pub fn logs(follow: bool, lines: usize) -> Result<u8> {
    let (state, _) = locations()?;
    let path = state.join(LOG_FILE);
    let mut file = std::fs::File::open(&path)
        .with_context(|| format!("no daemon log yet at {}", path.display()))?;
    let text = std::fs::read_to_string(&path)?;
    let all: Vec<&str> = text.lines().collect();
    for line in &all[all.len().saturating_sub(lines)..] {
        println!("{line}");
    }
    if !follow {
        return Ok(0);
    }
    let mut pos = file.seek(SeekFrom::End(0))?;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let len = std::fs::metadata(&path)?.len();
        if len < pos {
            pos = 0; // truncated or replaced
        }
        if len > pos {
            file.seek(SeekFrom::Start(pos))?;
            let mut reader = std::io::BufReader::new(&file);
            let mut line = String::new();
            while reader.read_line(&mut line)? > 0 {
                print!("{line}");
                line.clear();
            }
            pos = len;
        }
    }
}

pub fn list_pending(json: bool) -> Result<u8> {
    let (_, socket) = locations()?;
    let mut client = Client::connect(&socket, ClientKind::Cli)?;
    let Response::Pending(list) = client.call(&Request::ListPending)? else {
        bail!("unexpected answer")
    };
    for p in &list {
        if json {
            println!(
                "{}",
                serde_json::json!({"id": p.approval_id, "command": p.command, "rule": p.rule, "reason": p.reason,
                    "cwd": p.cwd, "pid": p.client_pid, "agent": p.agent, "deadline_ms": p.deadline_ms})
            );
        } else {
            println!(
                "#{}  {}  ({}; pid {}, {})",
                p.approval_id,
                p.command,
                p.rule.as_deref().unwrap_or("-"),
                p.client_pid,
                p.cwd
            );
        }
    }
    if list.is_empty() && !json {
        println!("no pending approvals");
    }
    Ok(0)
}

pub fn resolve(id: u64, verdict: ApprovalVerdict, reason: Option<String>) -> Result<u8> {
    let (_, socket) = locations()?;
    let mut client = Client::connect(&socket, ClientKind::Cli)?;
    match client.call(&Request::Resolve(ApprovalResolution {
        approval_id: id,
        verdict,
        reason,
    }))? {
        Response::Resolved {
            accepted: true,
            message,
            ..
        } => {
            println!("{message}");
            Ok(0)
        }
        Response::Resolved { message, .. } => {
            eprintln!("safeshell: {message}");
            Ok(1)
        }
        other => bail!("unexpected answer: {other:?}"),
    }
}

/// `safeshell audit`'s filters.
#[derive(Debug, Default, clap::Args)]
pub struct AuditFilter {
    /// Only records since this date (2026-11-01, UTC) or time (2026-11-01T12:00:00Z).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only this decision.
    #[arg(long, value_parser = ["allow", "deny", "require_approval", "redirect"])]
    pub decision: Option<String>,
    /// Only decisions by this rule.
    #[arg(long, value_name = "RULE")]
    pub rule: Option<String>,
    /// Only this agent's commands (claude, codex, cursor, gemini, copilot…), or `human`.
    #[arg(long, value_name = "AGENT")]
    pub agent: Option<String>,
}

impl AuditFilter {
    fn is_empty(&self) -> bool {
        self.since.is_none()
            && self.decision.is_none()
            && self.rule.is_none()
            && self.agent.is_none()
    }

    fn keeps(&self, r: &serde_json::Value, since_ms: Option<i64>) -> bool {
        if r.get("decision").is_none() {
            return false; // not a decision record
        }
        if let Some(since) = since_ms
            && r["time_ms"].as_i64().is_none_or(|t| t < since)
        {
            return false;
        }
        if let Some(d) = &self.decision
            && r["decision"].as_str() != Some(d.as_str())
        {
            return false;
        }
        if let Some(rule) = &self.rule
            && r["rule"].as_str() != Some(rule.as_str())
        {
            return false;
        }
        if let Some(agent) = &self.agent {
            let by = r["agent"].as_str().unwrap_or("");
            let surface = r["surface"].as_str().unwrap_or("");
            let human = agent == "human" && r["context"] == "human";
            if !(human || by == agent || surface == format!("hook:{agent}")) {
                return false;
            }
        }
        true
    }
}

pub fn audit(lines: usize, json: bool, filter: &AuditFilter) -> Result<u8> {
    let (state, _) = locations()?;
    let path = state.join(crate::audit::AUDIT_FILE);
    let since_ms = filter
        .since
        .as_deref()
        .map(crate::replay::parse_since)
        .transpose()?;
    // The rotated files too (audit.jsonl.1, .2, …), oldest first, as far back as `lines` reach
    // (with filters: all of them, then the most recent that pass).
    let wanted = if filter.is_empty() { lines } else { usize::MAX };
    let records = crate::audit::read_recent(&path, wanted)
        .with_context(|| format!("no audit log yet at {}", path.display()))?;
    let kept: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| filter.is_empty() || filter.keeps(r, since_ms))
        .collect();
    let kept = &kept[kept.len().saturating_sub(lines)..];
    if json {
        for r in kept {
            println!("{}", redact_record(r));
        }
        return Ok(0);
    }
    if !kept.is_empty() {
        println!(
            "{:<19} {:<16} {:<6} {:<13} {:<24} {:<28} COMMAND — REASON",
            "TIME (UTC)", "DECISION", "WHO", "CAUGHT BY", "RULE", "CWD"
        );
    }
    for r in kept {
        let command = match &r["command"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => {
                let argv: Vec<String> = a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .map(str::to_owned)
                    .collect();
                crate::redact::redact_argv(&argv).join(" ")
            }
            _ => continue, // not a decision record
        };
        let time = r["time_ms"]
            .as_i64()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".to_owned());
        let who = match (r["context"].as_str(), r["agent"].as_str()) {
            (Some("ai"), Some(agent)) => agent.to_owned(),
            (Some(c), _) => c.to_owned(),
            _ => "-".to_owned(),
        };
        let reason = crate::redact::redact(r["reason"].as_str().unwrap_or(""));
        let reason: String = if reason.chars().count() > 100 {
            reason.chars().take(99).collect::<String>() + "…"
        } else {
            reason.into_owned()
        };
        println!(
            "{time:<19} {:<16} {who:<6} {:<13} {:<24} {:<28} {} — {reason}",
            r["decision"].as_str().unwrap_or("-"),
            r["surface"].as_str().unwrap_or("-"),
            r["rule"].as_str().unwrap_or("-"),
            r["cwd"].as_str().unwrap_or("-"),
            crate::redact::redact(&command),
        );
    }
    Ok(0)
}

/// An audit record with secrets in its command redacted (records written before redaction).
fn redact_record(r: &serde_json::Value) -> serde_json::Value {
    let mut r = r.clone();
    match &mut r["command"] {
        serde_json::Value::String(s) => *s = crate::redact::redact(s).into_owned(),
        serde_json::Value::Array(items) => {
            let argv: Vec<String> = items
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect();
            *items = crate::redact::redact_argv(&argv)
                .into_iter()
                .map(serde_json::Value::String)
                .collect();
        }
        _ => {}
    }
    if let serde_json::Value::String(s) = &mut r["reason"] {
        *s = crate::redact::redact(s).into_owned();
    }
    r
}
