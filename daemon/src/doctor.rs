//! `safeshell doctor`: proves, surface by surface, that every guard is really in place.
//!
//! Each check says OK or what is wrong and the exact command that fixes it. Installed hooks are
//! run exactly as the agent would run them, with a must-deny probe (a catastrophic command that
//! is only ever decided, never executed), and their answers are checked.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use safeshell_protocol::{ClientKind, ProblemKind, Request, Response};
use serde_json::{Value, json};

use crate::client::Client;
use crate::config::Config;
use crate::{daemon_cmd, hooks, init, paths, server};

/// One check's result.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `true`: fine; `false`: broken; `None`: not applicable (e.g. a hook that is not installed).
    pub ok: Option<bool>,
    /// What was found.
    pub detail: String,
    /// The command that fixes it.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: Some(true),
            detail: detail.into(),
            fix: None,
        }
    }
    fn bad(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: Some(false),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn skip(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: None,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// The must-deny probe given to hooks. It is decided, never run.
pub const PROBE: &str = "rm -rf --no-preserve-root /";

fn probe_payload(agent: &str, cwd: &str) -> Value {
    match agent {
        "cursor" => {
            json!({ "hook_event_name": "beforeShellExecution", "command": PROBE, "cwd": cwd })
        }
        "gemini" => {
            json!({ "hook_event_name": "BeforeTool", "tool_name": "run_shell_command", "tool_input": { "command": PROBE }, "cwd": cwd })
        }
        "copilot" => {
            json!({ "sessionId": "doctor", "timestamp": 0, "toolName": "bash", "toolArgs": { "command": PROBE }, "cwd": cwd })
        }
        _ => {
            json!({ "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": { "command": PROBE }, "cwd": cwd })
        }
    }
}

/// True when a hook's output (stdout, exit status) refuses the probe in the agent's format.
pub fn hook_denied(agent: &str, stdout: &str, status: Option<i32>) -> bool {
    if status == Some(2) {
        return true;
    }
    let Ok(v) = serde_json::from_str::<Value>(stdout.trim()) else {
        return false;
    };
    match agent {
        "cursor" => v["permission"] == "deny",
        "gemini" => v["decision"] == "deny" || v["decision"] == "block",
        "copilot" => v["permissionDecision"] == "deny",
        _ => v["hookSpecificOutput"]["permissionDecision"] == "deny",
    }
}

/// How long doctor waits for a running daemon to make a new socket or audit log by itself.
const SELF_REPAIR_WAIT: Duration = Duration::from_secs(2);

fn status_of(socket: &Path) -> Result<Response> {
    Client::connect(socket, ClientKind::Cli).and_then(|mut c| c.call(&Request::Status))
}

/// The daemon: reachable, same version, and its own problems (log, audit log), each with a fix.
fn daemon_checks(state: &Path, socket: &Path, out: &mut Vec<Check>) {
    let mut answer = status_of(socket);
    // A daemon whose socket was deleted makes a new one within a second: give it the chance.
    if answer.is_err() && daemon_cmd::daemon_pid(state).is_some() {
        let deadline = Instant::now() + SELF_REPAIR_WAIT;
        while answer.is_err()
            && Instant::now() < deadline
            && std::fs::symlink_metadata(socket).is_err()
        {
            std::thread::sleep(Duration::from_millis(100));
            answer = status_of(socket);
        }
    }
    let s = match answer {
        Ok(Response::Status(s)) => s,
        Ok(_) => {
            out.push(Check::bad(
                "daemon",
                "unexpected answer to a status request",
                "safeshell daemon restart",
            ));
            return;
        }
        Err(e) if format!("{e:#}").contains("version mismatch") => {
            out.push(Check::bad(
                "daemon",
                format!("not reachable: {e:#}"),
                "safeshell daemon restart",
            ));
            return;
        }
        Err(e) => {
            let u = daemon_cmd::unreachable(state, socket, &e);
            out.push(Check::bad("daemon", u.detail, u.fix));
            return;
        }
    };
    if s.version == env!("CARGO_PKG_VERSION") {
        out.push(Check::ok(
            "daemon",
            format!(
                "running (pid {}), same version {} and protocol v{}",
                s.pid,
                s.version,
                safeshell_protocol::PROTOCOL_VERSION
            ),
        ));
    } else {
        out.push(Check::bad(
            "daemon",
            format!(
                "running version {}, this command is {}",
                s.version,
                env!("CARGO_PKG_VERSION")
            ),
            "safeshell daemon restart",
        ));
    }
    let audit = state.join(crate::audit::AUDIT_FILE);
    let log = state.join(daemon_cmd::LOG_FILE);
    let mut audit_reported = false;
    for p in &s.problems {
        let (name, fix) = match p.kind {
            // The config check below reads the file itself.
            ProblemKind::Config => continue,
            ProblemKind::Log => (
                "daemon log",
                format!(
                    "free space on the disk that holds {} (or make it writable); the daemon logs again by itself",
                    log.display()
                ),
            ),
            ProblemKind::Audit => {
                audit_reported = true;
                (
                    "audit log",
                    format!(
                        "free space on the disk that holds {} and make it a writable file; the daemon retries at each decision",
                        audit.display()
                    ),
                )
            }
            ProblemKind::Socket => ("socket", "safeshell daemon restart".to_owned()),
        };
        out.push(Check::bad(name, p.message.clone(), fix));
    }
    if !audit_reported {
        // A running daemon makes a new audit log within a second of the old one's deletion.
        let deadline = Instant::now() + SELF_REPAIR_WAIT;
        while !audit.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if audit.exists() {
            out.push(Check::ok(
                "audit log",
                format!("{} is written", audit.display()),
            ));
        } else {
            out.push(Check::bad(
                "audit log",
                format!(
                    "{} is missing (deleted?) and the daemon did not make a new one",
                    audit.display()
                ),
                "safeshell daemon restart",
            ));
        }
    }
}

/// Runs every check.
pub fn checks(cwd: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    // The daemon, and the protocol version it speaks; then its own problems.
    match daemon_cmd::locations() {
        Err(e) => out.push(Check::bad(
            "daemon",
            format!("{e:#}"),
            "export HOME=… (or SAFESHELL_SOCKET)",
        )),
        Ok((state, socket)) => daemon_checks(&state, &socket, &mut out),
    }
    // The settings file, read as the daemon reads it.
    if let Some(state) = paths::safeshell_home() {
        let path = state.join(server::CONFIG_FILE);
        match Config::load(&path) {
            Ok(_) => out.push(Check::ok("config", format!("{} loads", path.display()))),
            Err(e) => out.push(Check::bad(
                "config",
                format!("{e:#}; the daemon serves its last good (or the default) settings"),
                format!(
                    "fix {} at the line and column above; the daemon reloads it by itself",
                    path.display()
                ),
            )),
        }
    }
    // Rules.
    match paths::sources_for(cwd).map(|s| safeshell_rules::RuleSet::load(&s)) {
        Ok(Ok(set)) => out.push(Check::ok(
            "rules",
            format!(
                "{} rules load from {}",
                set.active_count(),
                set.sources().join(", ")
            ),
        )),
        Ok(Err(e)) => out.push(Check::bad(
            "rules",
            e.to_string(),
            "fix the file and line above, then `safeshell rules validate`",
        )),
        Err(e) => out.push(Check::bad(
            "rules",
            format!("{e:#}"),
            "safeshell rules validate",
        )),
    }
    // Shims.
    let shims_dir = paths::safeshell_home().map(|h| h.join(init::SHIMS_DIR));
    let shim = init::shim_executable();
    match (&shims_dir, &shim) {
        (Some(dir), Ok(shim)) if dir.is_dir() => {
            let mut wrong = Vec::new();
            let mut count = 0;
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                count += 1;
                let target = std::fs::read_link(entry.path()).ok();
                if target.as_deref() != Some(shim.as_path()) {
                    wrong.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
            // Programs the rules here name that have no shim (the daemon adds them within
            // seconds of loading the rules; a missing one means it is not running or cannot).
            let missing: Vec<String> = paths::sources_for(cwd)
                .ok()
                .and_then(|s| safeshell_rules::RuleSet::load(&s).ok())
                .map(|set| {
                    let config = paths::safeshell_home()
                        .and_then(|h| Config::load(&h.join(server::CONFIG_FILE)).ok())
                        .unwrap_or_default();
                    init::shim_names(&set, &config)
                        .into_iter()
                        .filter(|n| std::fs::symlink_metadata(dir.join(n)).is_err())
                        .collect()
                })
                .unwrap_or_default();
            if !missing.is_empty() && count > 0 {
                out.push(Check::bad(
                    "shims",
                    format!(
                        "{} programs the rules name have no shim: {}",
                        missing.len(),
                        missing.join(" ")
                    ),
                    "safeshell refresh (the daemon adds them by itself when it runs)",
                ));
            }
            if wrong.is_empty() && count > 0 {
                out.push(Check::ok(
                    "shims",
                    format!("{count} shims link to {}", shim.display()),
                ));
            } else if count == 0 {
                out.push(Check::bad(
                    "shims",
                    format!("{} is empty", dir.display()),
                    "safeshell refresh",
                ));
            } else {
                out.push(Check::bad(
                    "shims",
                    format!(
                        "{} shims do not link to {}: {}",
                        wrong.len(),
                        shim.display(),
                        wrong.join(" ")
                    ),
                    "safeshell refresh",
                ));
            }
        }
        (Some(dir), Ok(_)) => out.push(Check::bad(
            "shims",
            format!("{} does not exist", dir.display()),
            "safeshell init",
        )),
        (_, Err(e)) => out.push(Check::bad(
            "shims",
            format!("{e:#}"),
            "cargo build --release -p safeshell-shim",
        )),
        (None, _) => out.push(Check::bad("shims", "HOME is not set", "export HOME=…")),
    }
    // PATH in this shell and in a non-interactive `bash -c`.
    if let Some(dir) = &shims_dir {
        let path = std::env::var("PATH").unwrap_or_default();
        let first = std::env::split_paths(&path).next();
        if first.as_deref() == Some(dir.as_path()) {
            out.push(Check::ok(
                "PATH",
                format!("{} is first on PATH", dir.display()),
            ));
        } else {
            out.push(Check::bad(
                "PATH",
                format!("{} is not first on PATH", dir.display()),
                "eval \"$(safeshell init --shell bash)\"   # and add it to ~/.bashrc",
            ));
        }
        match Command::new("bash")
            .args(["-c", "command -v git || command -v rm"])
            .stdin(Stdio::null())
            .output()
        {
            Ok(o) => {
                let found = String::from_utf8_lossy(&o.stdout).trim().to_owned();
                if Path::new(&found).starts_with(dir) {
                    out.push(Check::ok(
                        "PATH (bash -c)",
                        format!("non-interactive bash finds {found}"),
                    ));
                } else {
                    out.push(Check::bad(
                        "PATH (bash -c)",
                        format!("non-interactive bash finds `{found}`, not the shim"),
                        "export PATH=\"$HOME/.safeshell/shims:$PATH\" in the environment agents start from (e.g. ~/.profile), or set BASH_ENV",
                    ));
                }
            }
            Err(e) => out.push(Check::skip(
                "PATH (bash -c)",
                format!("cannot run bash: {e}"),
            )),
        }
    }
    // Hooks: registered, and answering the probe with a refusal.
    let home = paths::home_dir().unwrap_or_default();
    let cwd_str = cwd.display().to_string();
    for agent in hooks::AGENTS {
        for project in [false, true] {
            let Ok(site) = hooks::site(agent, project, &home, cwd) else {
                continue;
            };
            let label = format!("hook {agent}{}", if project { " (project)" } else { "" });
            let registered = match hooks::registered(&site) {
                Ok(r) => r,
                Err(e) => {
                    out.push(Check::bad(
                        label,
                        format!("{e:#}"),
                        format!("fix {} by hand", site.path.display()),
                    ));
                    continue;
                }
            };
            if registered.is_empty() {
                if !project {
                    out.push(Check::skip(
                        label,
                        format!("not installed in {}", site.path.display()),
                    ));
                }
                continue;
            }
            if let Ok(missing) = hooks::not_covered(&site)
                && !missing.is_empty()
            {
                out.push(Check::bad(
                    format!("{label} coverage"),
                    format!(
                        "the hook in {} does not answer for {} (installed by an earlier release: the agent's file tools go unchecked)",
                        site.path.display(),
                        missing.join(", ")
                    ),
                    format!(
                        "safeshell hook install {agent}{}",
                        if project { " --project" } else { "" }
                    ),
                ));
            }
            for command in registered {
                let fix = format!(
                    "safeshell hook install {agent}{}",
                    if project { " --project" } else { "" }
                );
                let run = Command::new("sh")
                    .args(["-c", &command])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .and_then(|mut child| {
                        if let Some(mut stdin) = child.stdin.take() {
                            let _ = stdin
                                .write_all(probe_payload(agent, &cwd_str).to_string().as_bytes());
                        }
                        child.wait_with_output()
                    });
                match run {
                    Ok(o) if hook_denied(agent, &String::from_utf8_lossy(&o.stdout), o.status.code()) => {
                        out.push(Check::ok(label.clone(), format!("`{command}` answers and refuses the probe")));
                    }
                    Ok(o) => out.push(Check::bad(
                        label.clone(),
                        format!(
                            "`{command}` did not refuse the must-deny probe (exit {:?}, output {:?}{})",
                            o.status.code(),
                            String::from_utf8_lossy(&o.stdout).trim(),
                            String::from_utf8_lossy(&o.stderr).lines().next().map(|l| format!(", {l}")).unwrap_or_default()
                        ),
                        fix,
                    )),
                    Err(e) => out.push(Check::bad(label.clone(), format!("cannot run `{command}`: {e}"), fix)),
                }
            }
        }
    }
    // The SHELL wrapper.
    let shell = std::env::var("SHELL").unwrap_or_default();
    if Path::new(&shell)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("safeshell-shim"))
    {
        match Command::new(&shell)
            .args(["-c", "echo safeshell-doctor-ok"])
            .stdin(Stdio::null())
            .output()
        {
            Ok(o) if String::from_utf8_lossy(&o.stdout).trim() == "safeshell-doctor-ok" => {
                out.push(Check::ok(
                    "SHELL wrapper",
                    format!("{shell} runs commands through a real shell"),
                ));
            }
            Ok(o) => out.push(Check::bad(
                "SHELL wrapper",
                format!(
                    "{shell} -c did not run the command: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
                "set `shell = \"/bin/bash\"` in ~/.safeshell/config.toml",
            )),
            Err(e) => out.push(Check::bad(
                "SHELL wrapper",
                format!("cannot run {shell}: {e}"),
                "safeshell init",
            )),
        }
    } else {
        out.push(Check::skip("SHELL wrapper", format!("not configured (SHELL={shell}); set SHELL=$(command -v safeshell-shim) for an agent")));
    }
    out.push(crate::contain_cmd::doctor_check());
    out
}

pub fn run(json_out: bool) -> Result<u8> {
    let cwd = crate::resolve_cwd(None)?;
    let checks = checks(&cwd);
    let failed = checks.iter().filter(|c| c.ok == Some(false)).count();
    if json_out {
        let list: Vec<Value> = checks
            .iter()
            .map(|c| json!({ "check": c.name, "status": match c.ok { Some(true) => "ok", Some(false) => "fail", None => "skip" }, "detail": c.detail, "fix": c.fix }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "ok": failed == 0, "checks": list }))?
        );
    } else {
        for c in &checks {
            let mark = match c.ok {
                Some(true) => "OK  ",
                Some(false) => "FAIL",
                None => "--  ",
            };
            println!("{mark} {:<22} {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("     {:<22} fix: {fix}", "");
            }
        }
        println!(
            "\n{}",
            if failed == 0 {
                "Every guard that is set up works.".to_owned()
            } else {
                format!("{failed} problem(s) found.")
            }
        );
    }
    Ok(u8::from(failed > 0))
}
