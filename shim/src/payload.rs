//! Agent hook payloads and answers, as pure functions: which agent, what command (and working
//! directory) a payload carries, and the JSON each agent expects back. No I/O, so the fuzz target
//! `hook_payload` can include this file as it is.

use safeshell_protocol::{Action, Decision, FileAccess, FileAccessKind};
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
    /// GitHub Copilot CLI `preToolUse` (bash and its file tools).
    Copilot,
}

impl Agent {
    /// The agent for a `hook <agent>` argument.
    pub fn parse(name: &str) -> Option<Agent> {
        Some(match name {
            "claude" | "claude-code" => Agent::Claude,
            "codex" => Agent::Codex,
            "cursor" => Agent::Cursor,
            "gemini" | "gemini-cli" => Agent::Gemini,
            "copilot" | "copilot-cli" => Agent::Copilot,
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
            Agent::Copilot => "copilot",
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

/// What a hook input asks about: a shell command, or a file tool's access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A shell command string.
    Command(String),
    /// An agent's own file tool (read, write, edit, search, list) on some paths.
    File(FileAccess),
}

/// The shell tools of Claude Code and Codex.
const SHELL_TOOLS: &[&str] = &[
    "Bash",
    "shell",
    "exec_command",
    "local_shell",
    "container.exec",
];

/// What was found in a payload and the working directory, or `None` for a tool that neither
/// runs a command nor touches files (not SafeShell's business).
pub fn parse_payload(
    agent: Agent,
    payload: &Value,
) -> Result<Option<(Subject, Option<String>)>, String> {
    let obj = payload
        .as_object()
        .ok_or("the hook input is not a JSON object")?;
    let cwd = obj.get("cwd").and_then(Value::as_str).map(str::to_owned);
    let input = obj.get("tool_input");
    // Copilot CLI registered under `PreToolUse` (PascalCase) sends Claude Code's payload with
    // Claude Code's tool names; under `preToolUse` its own (`toolName`, `toolArgs`).
    if agent == Agent::Copilot && obj.get("toolName").is_none() && obj.get("tool_name").is_some() {
        return parse_payload(Agent::Claude, payload);
    }
    let copilot_args;
    let command = match agent {
        Agent::Copilot => {
            let tool = obj
                .get("toolName")
                .and_then(Value::as_str)
                .ok_or("no `toolName` in the preToolUse input")?;
            // `toolArgs` is an object (Copilot CLI 1.0.82 and later), a JSON text (earlier), or
            // for `apply_patch` the patch itself.
            copilot_args = match obj.get("toolArgs") {
                Some(Value::String(text)) => {
                    serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!({ "input": text }))
                }
                Some(v) => v.clone(),
                None => Value::Null,
            };
            if !matches!(tool, "bash" | "powershell") {
                let found = file_tool(agent, tool, Some(&copilot_args))?;
                return Ok(found.map(|f| (Subject::File(f), cwd)));
            }
            copilot_args
                .get("command")
                .ok_or("no `toolArgs.command` in the preToolUse input")?
        }
        Agent::Cursor => match obj.get("hook_event_name").and_then(Value::as_str) {
            Some("beforeReadFile") => {
                let path = obj.get("file_path").or_else(|| obj.get("filePath"));
                let path = required_str(path, "file_path")?;
                let access = file_access("read_file", FileAccessKind::Read, vec![path], None);
                return Ok(Some((
                    Subject::File(access),
                    cwd.or_else(|| workspace_root(obj)),
                )));
            }
            Some("preToolUse") => {
                let tool = obj
                    .get("tool_name")
                    .and_then(Value::as_str)
                    .ok_or("no `tool_name` in the preToolUse input")?;
                let cwd = cwd.or_else(|| workspace_root(obj));
                return Ok(file_tool(agent, tool, input)?.map(|f| (Subject::File(f), cwd)));
            }
            Some("beforeShellExecution") | None => obj
                .get("command")
                .ok_or("no `command` field in the beforeShellExecution input")?,
            Some(_) => return Ok(None),
        },
        Agent::Claude | Agent::Codex | Agent::Gemini => {
            let tool = obj
                .get("tool_name")
                .and_then(Value::as_str)
                .ok_or("no `tool_name` in the hook input")?;
            let is_shell = match agent {
                Agent::Gemini => tool == "run_shell_command",
                _ => SHELL_TOOLS.contains(&tool),
            };
            if !is_shell {
                return Ok(file_tool(agent, tool, input)?.map(|f| (Subject::File(f), cwd)));
            }
            input
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
    let dir = input
        .and_then(|t| t.get("dir_path"))
        .and_then(Value::as_str);
    let cwd = match (cwd, dir) {
        (Some(c), Some(d)) if !d.starts_with('/') => Some(format!("{c}/{d}")),
        (_, Some(d)) if d.starts_with('/') => Some(d.to_owned()),
        (c, _) => c,
    };
    Ok(Some((Subject::Command(command), cwd)))
}

fn file_access(
    tool: &str,
    access: FileAccessKind,
    paths: Vec<String>,
    pattern: Option<String>,
) -> FileAccess {
    FileAccess {
        tool: tool.to_owned(),
        access,
        paths,
        pattern,
    }
}

fn has(input: Option<&Value>, field: &str) -> bool {
    input
        .and_then(|i| i.get(field))
        .is_some_and(|v| !v.is_null())
}

fn required_str(value: Option<&Value>, field: &str) -> Result<String, String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(format!(
            "no `{field}` (a non-empty string) in the file tool's input"
        )),
    }
}

/// An optional string field: absent or null is `None`, anything but a string an error.
fn optional_str(input: Option<&Value>, field: &str) -> Result<Option<String>, String> {
    match input.and_then(|i| i.get(field)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!(
            "`{field}` in the file tool's input is not a string"
        )),
    }
}

/// Cursor's project directory when a payload carries no `cwd`: the first workspace root.
fn workspace_root(obj: &serde_json::Map<String, Value>) -> Option<String> {
    obj.get("workspace_roots")?
        .as_array()?
        .first()?
        .as_str()
        .map(str::to_owned)
}

/// The files a Codex `apply_patch` changes: the paths of its `*** Add File:`, `*** Update
/// File:`, `*** Move to:` (writes) and `*** Delete File:` (deletions) lines.
pub fn patch_targets(patch: &str) -> (Vec<String>, Vec<String>) {
    let (mut written, mut deleted) = (Vec::new(), Vec::new());
    for line in patch.lines() {
        // Codex's own parser trims the space around its `***` lines: so does this.
        let line = line.trim();
        let write = ["*** Add File: ", "*** Update File: ", "*** Move to: "]
            .iter()
            .find_map(|m| line.strip_prefix(m));
        if let Some(path) = write.map(str::trim).filter(|p| !p.is_empty()) {
            written.push(path.to_owned());
        } else if let Some(path) = line
            .strip_prefix("*** Delete File: ")
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            deleted.push(path.to_owned());
        }
    }
    (written, deleted)
}

/// The first of `fields` that is present (some tools' parameters were renamed between releases).
fn path_field(input: Option<&Value>, fields: &[&str]) -> Result<String, String> {
    let found = fields
        .iter()
        .find_map(|f| input.and_then(|i| i.get(*f)).filter(|v| !v.is_null()));
    required_str(found, fields[0])
}

/// The file access a (non-shell) tool makes, `None` for a tool that touches no files. A file
/// tool whose input cannot be read is an error, so the hook blocks it.
fn file_tool(
    agent: Agent,
    tool: &str,
    input: Option<&Value>,
) -> Result<Option<FileAccess>, String> {
    use FileAccessKind::*;
    let one = |kind, fields: &[&str]| -> Result<Option<FileAccess>, String> {
        Ok(Some(file_access(
            tool,
            kind,
            vec![path_field(input, fields)?],
            None,
        )))
    };
    // A search or listing: the directory (the working directory when absent) and the pattern.
    let under = |kind, path: &str, pattern: Option<String>| -> Result<Option<FileAccess>, String> {
        let root = optional_str(input, path)?;
        Ok(Some(file_access(
            tool,
            kind,
            root.into_iter().collect(),
            pattern,
        )))
    };
    match (agent, tool) {
        (Agent::Claude, "Read" | "NotebookRead") => one(Read, &["file_path", "notebook_path"]),
        (Agent::Claude, "Write") => one(Write, &["file_path"]),
        (Agent::Claude, "Edit" | "MultiEdit") => one(Edit, &["file_path"]),
        (Agent::Claude, "NotebookEdit") => one(Edit, &["notebook_path"]),
        (Agent::Claude, "Grep") => under(Search, "path", optional_str(input, "glob")?),
        (Agent::Claude, "Glob") => under(List, "path", optional_str(input, "pattern")?),
        (Agent::Claude, "LS") => under(List, "path", None),
        // Gemini CLI: current parameter names first, earlier releases' after them.
        (Agent::Gemini, "read_file") => one(Read, &["file_path", "absolute_path", "path"]),
        (Agent::Gemini, "write_file") => one(Write, &["file_path", "absolute_path", "path"]),
        (Agent::Gemini, "replace" | "edit") => one(Edit, &["file_path", "absolute_path", "path"]),
        (Agent::Gemini, "read_many_files") => {
            let field = ["include", "paths"]
                .into_iter()
                .find(|f| input.and_then(|i| i.get(*f)).is_some())
                .ok_or("no `include` (an array of strings) in read_many_files")?;
            let paths = match input.and_then(|i| i.get(field)) {
                Some(Value::Array(items)) if !items.is_empty() => items
                    .iter()
                    .map(|p| required_str(Some(p), field))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => {
                    return Err(format!(
                        "`{field}` in read_many_files is not a list of paths"
                    ));
                }
            };
            // Each entry is a file, a directory or a glob: the files it names are read.
            Ok(Some(file_access(tool, Read, paths, None)))
        }
        (Agent::Gemini, "grep_search" | "search_file_content" | "grep") => {
            let dir = if has(input, "dir_path") {
                "dir_path"
            } else {
                "path"
            };
            let pattern = match optional_str(input, "include_pattern")? {
                Some(p) => Some(p),
                None => optional_str(input, "include")?,
            };
            under(Search, dir, pattern)
        }
        (Agent::Gemini, "glob") => {
            let dir = if has(input, "dir_path") {
                "dir_path"
            } else {
                "path"
            };
            under(List, dir, optional_str(input, "pattern")?)
        }
        (Agent::Gemini, "list_directory" | "ls") => under(
            List,
            if has(input, "dir_path") {
                "dir_path"
            } else {
                "path"
            },
            None,
        ),
        // Cursor's preToolUse (its shell commands come through beforeShellExecution).
        (Agent::Cursor, "Read") => one(Read, &["file_path", "filePath", "path"]),
        (Agent::Cursor, "Write" | "Edit") => one(Write, &["file_path", "filePath", "path"]),
        (Agent::Cursor, "Delete") => one(Delete, &["file_path", "filePath", "path"]),
        (Agent::Cursor, "Grep") => under(Search, "path", optional_str(input, "glob")?),
        // Copilot CLI (its own tool names; `str_replace_editor` says what it does in `command`).
        (Agent::Copilot, "view") => one(Read, &["path", "file_path"]),
        (Agent::Copilot, "create") => one(Write, &["path", "file_path"]),
        (Agent::Copilot, "edit" | "str_replace" | "insert") => one(Edit, &["path", "file_path"]),
        (Agent::Copilot, "str_replace_editor") => {
            match input.and_then(|i| i.get("command")).and_then(Value::as_str) {
                Some("view") => one(Read, &["path"]),
                Some("create") => one(Write, &["path"]),
                _ => one(Edit, &["path"]),
            }
        }
        (Agent::Copilot, "grep" | "rg") => under(Search, "path", optional_str(input, "glob")?),
        (Agent::Copilot, "glob") => under(List, "path", optional_str(input, "pattern")?),
        // Codex (and Copilot CLI) send the patch text only: its file lines name what it changes.
        (Agent::Codex | Agent::Copilot, "apply_patch") => {
            let patch = match input.and_then(|i| {
                i.get("command")
                    .or_else(|| i.get("input"))
                    .or_else(|| i.get("patch"))
            }) {
                Some(Value::String(p)) => p.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => return Err("no patch text in the apply_patch input".into()),
            };
            let (written, deleted) = patch_targets(&patch);
            Ok(match (written.is_empty(), deleted.is_empty()) {
                (true, true) => return Err("the apply_patch input names no file".into()),
                // One request: deletions are judged with the writes (`rm` of the same files
                // matters only for SafeShell's own and system files, which writes cover too).
                (false, _) => Some(file_access(tool, Write, [written, deleted].concat(), None)),
                (true, false) => Some(file_access(tool, Delete, deleted, None)),
            })
        }
        _ => Ok(None),
    }
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
    // Codex treats "ask" as a failed hook and runs the tool, and Copilot CLI approves it by
    // itself in its allow-all mode: both are refused instead.
    let decision = match (agent, decision) {
        (Agent::Codex | Agent::Copilot, "ask") => "deny",
        (_, d) => d,
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
        Agent::Copilot => (decision != "pass")
            .then(|| json!({ "permissionDecision": decision, "permissionDecisionReason": reason })),
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
            "SafeShell: this needs the user's approval ({}: {}).",
            d.rule.as_deref().unwrap_or("-"),
            d.reason
        )),
        // Without a rewrite (Claude Code's, see hook.rs) a hook cannot swap the command: the
        // daemon words the message as "run this instead".
        Action::Redirect => Answer::Deny(d.agent_message.clone()),
    }
}
