//! Agent hook payloads and answers, as pure functions: which agent, what command (and working
//! directory) a payload carries, and the JSON each agent expects back. No I/O, so the fuzz target
//! `hook_payload` can include this file as it is.

use safeshell_protocol::{Action, Decision};
use serde_json::{Value, json};

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
    /// The agent for a `hook <agent>` argument.
    pub fn parse(name: &str) -> Option<Agent> {
        Some(match name {
            "claude" | "claude-code" => Agent::Claude,
            "codex" => Agent::Codex,
            "cursor" => Agent::Cursor,
            "gemini" | "gemini-cli" => Agent::Gemini,
            _ => return None,
        })
    }

    /// The agent's name in messages.
    pub fn name(self) -> &'static str {
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
