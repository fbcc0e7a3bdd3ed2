//! `safeshell-shim hook <agent>`: the agent-hook client for Claude Code, Codex, Cursor and
//! Gemini CLI.
//!
//! Reads the agent's hook JSON on stdin, asks the daemon (surface: agent hook, so context: agent),
//! and answers in the agent's own output format so that the reason reaches the model. Formats and
//! their sources are in `docs/integrations.md`.
//!
//! Failure never turns into an accidental "allow": malformed input is blocked (exit 2, which every
//! supported agent treats as "block"), an unreachable daemon applies the configured fail mode,
//! and a panic prints a block answer before the process ends.

use std::io::{Read, Write};
use std::process::ExitCode;

use safeshell_protocol::{Action, ApprovalMode, CommandSpec, Decision, Surface};
use serde_json::{Value, json};

use crate::{client, locate, request};

/// The agents this client speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    /// Claude Code `PreToolUse` (Bash tool).
    Claude,
    /// Codex `PreToolUse` (Bash / shell tools).
    Codex,
    /// Cursor `beforeShellExecution`.
    Cursor,
    /// Gemini CLI `BeforeTool` (run_shell_command).
    Gemini,
}

impl Agent {
    fn parse(name: &str) -> Option<Agent> {
        Some(match name {
            "claude" | "claude-code" => Agent::Claude,
            "codex" => Agent::Codex,
            "cursor" => Agent::Cursor,
            "gemini" | "gemini-cli" => Agent::Gemini,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Cursor => "cursor",
            Agent::Gemini => "gemini",
        }
    }
}

/// What the hook answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// No objection: the agent's own permission rules apply as usual.
    Pass,
    /// A person approved it in `safeshell monitor`: run it without asking again.
    Allow(String),
    /// Let the agent's own permission prompt ask the person.
    Ask(String),
    /// Refuse, with the text for the model.
    Deny(String),
}

/// The command and working directory found in a payload, or `None` for a tool that is not a
/// shell command (not SafeShell's business).
pub fn parse_payload(
    agent: Agent,
    payload: &Value,
) -> Result<Option<(String, Option<String>)>, String> {
    let obj = payload
        .as_object()
        .ok_or("the hook input is not a JSON object")?;
    let cwd = obj.get("cwd").and_then(Value::as_str).map(str::to_owned);
    let command = match agent {
        Agent::Cursor => obj
            .get("command")
            .ok_or("no `command` field in the beforeShellExecution input")?,
        Agent::Claude | Agent::Codex | Agent::Gemini => {
            let tool = obj
                .get("tool_name")
                .and_then(Value::as_str)
                .ok_or("no `tool_name` in the hook input")?;
            let shell_tools: &[&str] = match agent {
                Agent::Gemini => &["run_shell_command"],
                _ => &[
                    "Bash",
                    "shell",
                    "exec_command",
                    "local_shell",
                    "container.exec",
                ],
            };
            if !shell_tools.contains(&tool) {
                return Ok(None);
            }
            obj.get("tool_input")
                .and_then(|t| t.get("command"))
                .ok_or("no `tool_input.command` in the hook input")?
        }
    };
    let command = match command {
        Value::String(s) => s.clone(),
        // Codex may send an argv array.
        Value::Array(parts) => parts
            .iter()
            .map(|p| {
                p.as_str()
                    .map(quote)
                    .ok_or("a non-string element in `command`")
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(" "),
        _ => return Err("`command` is neither a string nor an array of strings".into()),
    };
    let dir = payload
        .get("tool_input")
        .and_then(|t| t.get("dir_path"))
        .and_then(Value::as_str);
    let cwd = match (cwd, dir) {
        (Some(c), Some(d)) if !d.starts_with('/') => Some(format!("{c}/{d}")),
        (_, Some(d)) if d.starts_with('/') => Some(d.to_owned()),
        (c, _) => c,
    };
    Ok(Some((command, cwd)))
}

fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The agent's JSON for an answer (`None`: print nothing).
pub fn render(agent: Agent, answer: &Answer) -> Option<Value> {
    let (decision, reason) = match answer {
        Answer::Pass => ("pass", ""),
        Answer::Allow(r) => ("allow", r.as_str()),
        Answer::Ask(r) => ("ask", r.as_str()),
        Answer::Deny(r) => ("deny", r.as_str()),
    };
    match agent {
        Agent::Claude | Agent::Codex => (decision != "pass").then(|| {
            json!({ "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": decision,
                "permissionDecisionReason": reason,
            }})
        }),
        // Cursor expects a permission in every answer.
        Agent::Cursor => Some(json!({
            "permission": if decision == "pass" { "allow" } else { decision },
            "user_message": reason,
            "agent_message": reason,
            "userMessage": reason,
            "agentMessage": reason,
        })),
        Agent::Gemini => Some(match decision {
            "pass" => json!({}),
            // Gemini CLI has no "ask": approvals go through the monitor (see approval_mode).
            "deny" | "ask" => json!({ "decision": "deny", "reason": reason }),
            _ => json!({ "decision": "allow", "reason": reason }),
        }),
    }
}

/// Maps the daemon's decision to the hook's answer.
pub fn answer_for(d: &Decision) -> Answer {
    match d.action {
        Action::Allow if !d.agent_message.is_empty() => Answer::Allow(d.agent_message.clone()),
        Action::Allow => Answer::Pass,
        Action::Deny => Answer::Deny(d.agent_message.clone()),
        Action::RequireApproval => Answer::Ask(format!(
            "SafeShell: this command needs the user's approval ({}: {}).",
            d.rule.as_deref().unwrap_or("-"),
            d.reason
        )),
        // A hook cannot swap the command; tell the model what to run instead.
        Action::Redirect => Answer::Deny(d.agent_message.clone()),
    }
}

/// How approvals are handled for this agent: `$SAFESHELL_HOOK_APPROVAL`, else `<agent>_approval`
/// in config.toml, else `auto`. Gemini CLI cannot ask, so it always waits for the monitor.
fn approval_mode(agent: Agent) -> ApprovalMode {
    if agent == Agent::Gemini {
        return ApprovalMode::Monitor;
    }
    let configured = std::env::var("SAFESHELL_HOOK_APPROVAL")
        .ok()
        .or_else(|| locate::config_value(&format!("{}_approval", agent.name())));
    match configured.as_deref() {
        Some("monitor") => ApprovalMode::Monitor,
        Some("agent") => ApprovalMode::Agent,
        _ => ApprovalMode::Auto,
    }
}

/// Seconds to wait for a human before the agent's own hook timeout kills us.
fn hook_timeout() -> u32 {
    locate::config_value("hook_approval_timeout_secs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(55)
}

fn emit(agent: Agent, answer: &Answer) -> ExitCode {
    if let Some(v) = render(agent, answer) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    }
    if let Answer::Deny(reason) = answer {
        eprintln!("{reason}");
    }
    ExitCode::SUCCESS
}

/// Blocks with exit 2 (every supported agent treats it as "block", with stderr as the reason).
fn block(agent: Agent, message: &str) -> ExitCode {
    if let Some(v) = render(agent, &Answer::Deny(message.to_owned())) {
        println!("{v}");
    }
    eprintln!("{message}");
    ExitCode::from(2)
}

/// Entry point of `safeshell-shim hook <agent>`.
pub fn run(agent_name: Option<String>) -> ExitCode {
    let Some(agent) = agent_name.as_deref().and_then(Agent::parse) else {
        eprintln!(
            "usage: safeshell-shim hook <claude|codex|cursor|gemini>  (got {:?}); install with `safeshell hook install <agent>`",
            agent_name.unwrap_or_default()
        );
        return ExitCode::from(2);
    };
    // The agent runs its hooks: no environment variable may steer this one away from the
    // user's daemon or weaken its fail mode.
    crate::agent::force();
    // A panic must not look like success (or like a non-blocking error) to the agent.
    std::panic::set_hook(Box::new(move |info| {
        let msg = format!(
            "SafeShell hook failed unexpectedly ({info}); blocking this command to be safe."
        );
        if let Some(v) = render(agent, &Answer::Deny(msg.clone())) {
            println!("{v}");
        }
        eprintln!("{msg}");
        std::process::exit(2);
    }));
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        return block(
            agent,
            &format!("SafeShell could not read the hook input ({e}); blocking this command."),
        );
    }
    let payload: Value = match serde_json::from_str(&input) {
        Ok(v) => v,
        Err(e) => {
            return block(
                agent,
                &format!("SafeShell received malformed hook input ({e}); blocking this command."),
            );
        }
    };
    let (command, cwd) = match parse_payload(agent, &payload) {
        Ok(Some(found)) => found,
        Ok(None) => return emit(agent, &Answer::Pass),
        Err(e) => {
            return block(
                agent,
                &format!(
                    "SafeShell could not understand the hook input: {e}; blocking this command."
                ),
            );
        }
    };
    let mut req = request(
        CommandSpec::Shell(command),
        Surface::AgentHook {
            agent: agent.name().into(),
        },
        cwd,
    );
    req.approval = approval_mode(agent);
    req.approval_timeout_secs = Some(hook_timeout());
    match client::ask(&req) {
        Ok(d) => emit(agent, &answer_for(&d)),
        Err(client::AskError::Unavailable(e)) => match locate::fail_mode() {
            locate::FailMode::Deny(setting) => emit(
                agent,
                &Answer::Deny(format!(
                    "SafeShell is unavailable ({e}) and {setting}: not running this command."
                )),
            ),
            locate::FailMode::Allow(setting) => {
                eprintln!(
                    "safeshell: warning: daemon unavailable ({e}); not checking this command ({setting})"
                );
                emit(agent, &Answer::Pass)
            }
        },
        Err(client::AskError::Failed(e)) => emit(
            agent,
            &Answer::Deny(format!(
                "SafeShell could not decide this command ({e}); it was not run."
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_of_each_agent() {
        let claude =
            json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}, "cwd": "/w"});
        assert_eq!(
            parse_payload(Agent::Claude, &claude).unwrap(),
            Some(("rm -rf /".into(), Some("/w".into())))
        );
        let other = json!({"tool_name": "Read", "tool_input": {"file_path": "x"}});
        assert_eq!(parse_payload(Agent::Claude, &other).unwrap(), None);
        let codex =
            json!({"tool_name": "Bash", "tool_input": {"command": ["git", "commit", "-m", "a b"]}});
        assert_eq!(
            parse_payload(Agent::Codex, &codex).unwrap().unwrap().0,
            "git commit -m 'a b'"
        );
        let cursor =
            json!({"command": "ls", "cwd": "/p", "hook_event_name": "beforeShellExecution"});
        assert_eq!(
            parse_payload(Agent::Cursor, &cursor).unwrap().unwrap().0,
            "ls"
        );
        let gemini = json!({"tool_name": "run_shell_command", "tool_input": {"command": "ls", "dir_path": "sub"}, "cwd": "/p"});
        assert_eq!(
            parse_payload(Agent::Gemini, &gemini).unwrap(),
            Some(("ls".into(), Some("/p/sub".into())))
        );
        assert!(parse_payload(Agent::Claude, &json!([1])).is_err());
        assert!(parse_payload(Agent::Claude, &json!({"tool_name": "Bash"})).is_err());
    }

    #[test]
    fn answers_in_each_format() {
        let deny = Answer::Deny("no".into());
        assert_eq!(
            render(Agent::Claude, &deny).unwrap()["hookSpecificOutput"]["permissionDecision"],
            "deny"
        );
        assert_eq!(render(Agent::Claude, &Answer::Pass), None);
        assert_eq!(render(Agent::Cursor, &deny).unwrap()["permission"], "deny");
        assert_eq!(
            render(Agent::Cursor, &Answer::Pass).unwrap()["permission"],
            "allow"
        );
        assert_eq!(render(Agent::Gemini, &deny).unwrap()["decision"], "deny");
        assert_eq!(
            render(Agent::Codex, &Answer::Ask("a".into())).unwrap()["hookSpecificOutput"]["permissionDecision"],
            "ask"
        );
    }
}
