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
    /// Claude Code: run this tool input instead of the one the model sent (its command contained
    /// by `safeshell-shim contain`, or a redirect rule's safer command).
    Rewrite(Rewrite),
}

/// A replacement of Claude Code's Bash tool input (`updatedInput`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The whole new tool input (Claude Code replaces the input object, it does not merge).
    pub input: Value,
    /// `"allow"` to skip Claude Code's own prompt, `"ask"` to have it show the new input, or
    /// `None`: its permission flow runs as usual on the new input.
    pub decision: Option<&'static str>,
    /// What the user is told (`systemMessage`); empty: nothing.
    pub user_message: String,
    /// What the model is told beside the tool's result (`additionalContext`); empty: nothing.
    pub context: String,
}

/// How the Claude Code hook contains the commands it lets through (`claude_hook_contain` in
/// config.toml). Rewriting changes the command Claude Code's own permission rules see, so by
/// default it happens only where Claude Code asks nothing anyway (see docs/integrations.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookContain {
    /// Only in `bypassPermissions` mode, and for commands a person approved in the monitor.
    Auto,
    /// In every mode but `plan`, answering "allow": SafeShell's decision replaces Claude Code's
    /// prompt for the commands it allows.
    Always,
    /// Never: commands the hook lets through run uncontained (unless the `SHELL` wrapper runs them).
    Off,
}

impl HookContain {
    /// The setting's value (`auto` for anything unknown: the safe, quiet default).
    pub fn parse(value: Option<&str>) -> HookContain {
        match value {
            Some("always") => HookContain::Always,
            Some("off") => HookContain::Off,
            _ => HookContain::Auto,
        }
    }
}

/// Whether (and with what permission decision) an allowed command should be rewritten to run
/// contained: `None` leaves it alone; `Some(decision)` rewrites it. `approved` is a command a
/// person approved in the monitor (answered "allow" in any case); `rules_in_the_way` says the
/// user's Claude Code settings hold `deny` or `ask` rules for Bash, which a rewritten command
/// would no longer match.
pub fn contain_decision(
    setting: HookContain,
    permission_mode: Option<&str>,
    approved: bool,
    rules_in_the_way: bool,
) -> Option<Option<&'static str>> {
    if setting == HookContain::Off || rules_in_the_way || permission_mode == Some("plan") {
        return None;
    }
    let bypass = permission_mode == Some("bypassPermissions");
    match (approved, bypass, setting) {
        (true, _, _) => Some(Some("allow")),
        (false, true, _) => Some(None),
        (false, false, HookContain::Always) => Some(Some("allow")),
        (false, false, _) => None,
    }
}

/// Claude Code's permission mode, from the hook input.
pub fn permission_mode(payload: &Value) -> Option<&str> {
    payload.get("permission_mode").and_then(Value::as_str)
}

/// The hook input's `tool_input` with its command replaced (every other field kept).
pub fn updated_input(payload: &Value, command: &str) -> Option<Value> {
    let mut input = payload.get("tool_input")?.as_object()?.clone();
    input.insert("command".into(), Value::String(command.to_owned()));
    Some(Value::Object(input))
}

/// The shell command that runs `command` under `safeshell-shim contain`: the shim asks the
/// daemon again (the hook's decision covers it, so nobody is asked twice) and runs it contained.
pub fn contained_command(shim: &str, command: &str) -> String {
    format!("{} contain -c {}", quote(shim), quote_always(command))
}

/// Whether Claude Code settings (one settings.json) hold `deny` or `ask` permission rules for
/// Bash (`"Bash"` or `"Bash(…)"`).
pub fn has_bash_deny_or_ask(settings: &Value) -> bool {
    let Some(permissions) = settings.get("permissions") else {
        return false;
    };
    ["deny", "ask"].iter().any(|list| {
        permissions
            .get(list)
            .and_then(Value::as_array)
            .is_some_and(|rules| {
                rules.iter().filter_map(Value::as_str).any(|r| {
                    let r = r.trim();
                    r == "Bash" || r.starts_with("Bash(")
                })
            })
    })
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
        quote_always(word)
    }
}

fn quote_always(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The agent's JSON for an answer (`None`: print nothing).
pub fn render(agent: Agent, answer: &Answer) -> Option<Value> {
    let (decision, reason) = match answer {
        Answer::Rewrite(r) if agent == Agent::Claude => return Some(render_rewrite(r)),
        // Only Claude Code's answer can replace the command: anything else refuses.
        Answer::Rewrite(r) => ("deny", r.context.as_str()),
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

fn render_rewrite(r: &Rewrite) -> Value {
    let mut out = json!({ "hookEventName": "PreToolUse", "updatedInput": r.input });
    if let Some(decision) = r.decision {
        out["permissionDecision"] = json!(decision);
        out["permissionDecisionReason"] = json!(r.user_message);
    }
    if !r.context.is_empty() {
        out["additionalContext"] = json!(r.context);
    }
    let mut answer = json!({ "hookSpecificOutput": out });
    if !r.user_message.is_empty() {
        answer["systemMessage"] = json!(r.user_message);
    }
    answer
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
        // Without a rewrite (Claude Code's, see hook.rs) a hook cannot swap the command: the
        // daemon words the message as "run this instead".
        Action::Redirect => Answer::Deny(d.agent_message.clone()),
    }
}
