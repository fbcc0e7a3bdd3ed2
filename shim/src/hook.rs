//! `safeshell-shim hook <agent>`: the agent-hook client for Claude Code, Codex, Cursor, Gemini
//! CLI and GitHub Copilot CLI.
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
use serde_json::Value;

pub use crate::payload::{Agent, Answer, Subject, answer_for, parse_payload, render};
use crate::payload::{HookContain, Rewrite, contain_decision, contained_command, updated_input};
use crate::{client, locate, request};

/// How approvals are handled for this agent: `$SAFESHELL_HOOK_APPROVAL`, else `<agent>_approval`
/// in config.toml, else `auto`. Gemini CLI cannot ask everywhere, Codex runs the tool when a hook
/// answers "ask" (it counts as a failed hook) and Copilot CLI approves an "ask" by itself in its
/// allow-all mode, so these always wait for the monitor.
fn approval_mode(agent: Agent) -> ApprovalMode {
    if matches!(agent, Agent::Gemini | Agent::Codex | Agent::Copilot) {
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

/// Claude Code's answer, which can replace the command: a redirect runs its safer command, and
/// an allowed command runs contained (`safeshell-shim contain -c …`) where `claude_hook_contain`
/// and the permission mode allow it (see [`contain_decision`]).
fn claude_answer(d: &Decision, payload: &Value, command: &str) -> Answer {
    let plain = answer_for(d);
    let contain = |approved: bool| {
        if d.contain.is_none() || command.contains('\0') {
            return None;
        }
        let setting = HookContain::parse(locate::config_value("claude_hook_contain").as_deref());
        let decision = contain_decision(
            setting,
            crate::payload::permission_mode(payload),
            approved,
            claude_has_bash_rules(payload),
        )?;
        let shim = std::env::current_exe().ok()?;
        Some((decision, shim.to_string_lossy().into_owned()))
    };
    match d.action {
        Action::Redirect => {
            let target = match &d.redirect {
                Some(CommandSpec::Shell(s)) => s.clone(),
                Some(CommandSpec::Argv(a)) => a.join(" "),
                Some(CommandSpec::File(_)) | None => return plain,
            };
            let run = match contain(false) {
                Some((_, shim)) => contained_command(&shim, &target),
                None => target,
            };
            // Claude Code's own permission flow judges the safer command as usual.
            match updated_input(payload, &run) {
                Some(input) => Answer::Rewrite(Rewrite {
                    input,
                    decision: None,
                    user_message: d.agent_message.clone(),
                    context: d.agent_message.clone(),
                }),
                None => plain,
            }
        }
        Action::Allow => {
            let approved = matches!(plain, Answer::Allow(_));
            let Some((decision, shim)) = contain(approved) else {
                return plain;
            };
            match updated_input(payload, &contained_command(&shim, command)) {
                Some(input) => Answer::Rewrite(Rewrite {
                    input,
                    decision,
                    user_message: match &plain {
                        Answer::Allow(m) => m.clone(),
                        _ => String::new(),
                    },
                    context: String::new(),
                }),
                None => plain,
            }
        }
        Action::Deny | Action::RequireApproval => plain,
    }
}

/// Whether the user's Claude Code settings (user, project, local, managed) hold `deny` or `ask`
/// rules for Bash: Claude Code matches them against the command the hook returns, so a
/// rewritten command would slip past them. Then the hook does not rewrite.
fn claude_has_bash_rules(payload: &Value) -> bool {
    let mut files = vec![std::path::PathBuf::from(
        "/etc/claude-code/managed-settings.json",
    )];
    let config_dir = std::env::var_os("CLAUDE_CONFIG_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".claude")));
    if let Some(dir) = config_dir {
        files.push(dir.join("settings.json"));
        files.push(dir.join("settings.local.json"));
    }
    let project = std::env::var_os("CLAUDE_PROJECT_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| payload.get("cwd").and_then(Value::as_str).map(Into::into));
    if let Some(dir) = project {
        files.push(dir.join(".claude/settings.json"));
        files.push(dir.join(".claude/settings.local.json"));
    }
    files.iter().any(|f| {
        std::fs::read(f).is_ok_and(|bytes| match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => crate::payload::has_bash_deny_or_ask(&v),
            // A settings file we cannot read as JSON may hold such rules: do not rewrite.
            Err(_) => true,
        })
    })
}

/// Entry point of `safeshell-shim hook <agent>`.
pub fn run(agent_name: Option<String>) -> ExitCode {
    let Some(agent) = agent_name.as_deref().and_then(Agent::parse) else {
        eprintln!(
            "usage: safeshell-shim hook <claude|codex|cursor|gemini|copilot>  (got {:?}); install with `safeshell hook install <agent>`",
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
    // Cursor on Windows has been seen to start its JSON with a byte-order mark.
    let payload: Value =
        match serde_json::from_str(input.strip_prefix('\u{feff}').unwrap_or(&input)) {
            Ok(v) => v,
            Err(e) => {
                return block(
                    agent,
                    &format!(
                        "SafeShell received malformed hook input ({e}); blocking this command."
                    ),
                );
            }
        };
    let (subject, cwd) = match parse_payload(agent, &payload) {
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
    let spec = match &subject {
        Subject::Command(command) => CommandSpec::Shell(command.clone()),
        Subject::File(access) => CommandSpec::File(access.clone()),
    };
    let mut req = request(
        spec,
        Surface::AgentHook {
            agent: agent.name().into(),
        },
        cwd,
    );
    req.approval = approval_mode(agent);
    // Cursor's file hooks cannot ask the person: an approval waits in the monitor.
    if agent == Agent::Cursor && matches!(subject, Subject::File(_)) {
        req.approval = ApprovalMode::Monitor;
    }
    req.approval_timeout_secs = Some(hook_timeout());
    match (client::ask(&req), &subject) {
        (Ok(d), Subject::Command(command)) if agent == Agent::Claude => {
            emit(agent, &claude_answer(&d, &payload, command))
        }
        (Ok(d), _) => emit(agent, &answer_for(&d)),
        (Err(client::AskError::Unavailable(e)), _) => match locate::fail_mode() {
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
        (Err(client::AskError::Failed(e)), _) => emit(
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
    use serde_json::json;

    fn command(s: &str) -> Subject {
        Subject::Command(s.into())
    }

    #[test]
    fn payloads_of_each_agent() {
        let claude =
            json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}, "cwd": "/w"});
        assert_eq!(
            parse_payload(Agent::Claude, &claude).unwrap(),
            Some((command("rm -rf /"), Some("/w".into())))
        );
        let other = json!({"tool_name": "WebFetch", "tool_input": {"url": "x"}});
        assert_eq!(parse_payload(Agent::Claude, &other).unwrap(), None);
        let codex =
            json!({"tool_name": "Bash", "tool_input": {"command": ["git", "commit", "-m", "a b"]}});
        assert_eq!(
            parse_payload(Agent::Codex, &codex).unwrap().unwrap().0,
            command("git commit -m 'a b'")
        );
        let cursor =
            json!({"command": "ls", "cwd": "/p", "hook_event_name": "beforeShellExecution"});
        assert_eq!(
            parse_payload(Agent::Cursor, &cursor).unwrap().unwrap().0,
            command("ls")
        );
        let gemini = json!({"tool_name": "run_shell_command", "tool_input": {"command": "ls", "dir_path": "sub"}, "cwd": "/p"});
        assert_eq!(
            parse_payload(Agent::Gemini, &gemini).unwrap(),
            Some((command("ls"), Some("/p/sub".into())))
        );
        assert!(parse_payload(Agent::Claude, &json!([1])).is_err());
        assert!(parse_payload(Agent::Claude, &json!({"tool_name": "Bash"})).is_err());
    }

    /// The file access found in a payload, as (tool, kind, paths, pattern).
    fn file(agent: Agent, payload: Value) -> (String, &'static str, Vec<String>, Option<String>) {
        match parse_payload(agent, &payload) {
            Ok(Some((Subject::File(f), _))) => (f.tool, f.access.as_str(), f.paths, f.pattern),
            other => panic!("{payload}: {other:?}"),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn file_tools_of_each_agent() {
        let claude = |tool: &str, input: Value| {
            file(
                Agent::Claude,
                json!({"tool_name": tool, "tool_input": input, "cwd": "/p"}),
            )
        };
        assert_eq!(
            claude("Read", json!({"file_path": "/p/.env", "limit": 5})),
            ("Read".into(), "read", strings(&["/p/.env"]), None)
        );
        assert_eq!(
            claude("Write", json!({"file_path": "/h/.bashrc", "content": "x"})).1,
            "write"
        );
        assert_eq!(
            claude("MultiEdit", json!({"file_path": "/a", "edits": []})).1,
            "edit"
        );
        assert_eq!(
            claude(
                "NotebookEdit",
                json!({"notebook_path": "/n.ipynb", "new_source": ""})
            )
            .2,
            strings(&["/n.ipynb"])
        );
        assert_eq!(
            claude(
                "Grep",
                json!({"pattern": "KEY", "glob": "*.env", "-i": true})
            ),
            ("Grep".into(), "search", vec![], Some("*.env".into()))
        );
        assert_eq!(
            claude("Glob", json!({"pattern": "**/*.rs", "path": "/p/src"})),
            (
                "Glob".into(),
                "list",
                strings(&["/p/src"]),
                Some("**/*.rs".into())
            )
        );
        let gemini = |tool: &str, input: Value| {
            file(
                Agent::Gemini,
                json!({"tool_name": tool, "tool_input": input, "cwd": "/p"}),
            )
        };
        assert_eq!(
            gemini("read_file", json!({"file_path": ".env"})).2,
            strings(&[".env"])
        );
        assert_eq!(
            gemini("read_file", json!({"absolute_path": "/p/.env"})).2,
            strings(&["/p/.env"])
        );
        assert_eq!(
            gemini("read_many_files", json!({"include": ["src/**", ".env"]})).2,
            strings(&["src/**", ".env"])
        );
        assert_eq!(
            gemini(
                "grep_search",
                json!({"pattern": "k", "dir_path": "/h", "include_pattern": "*.pem"})
            ),
            (
                "grep_search".into(),
                "search",
                strings(&["/h"]),
                Some("*.pem".into())
            )
        );
        assert_eq!(
            gemini("replace", json!({"file_path": "/h/.zshrc"})).1,
            "edit"
        );
        let cursor_read = json!({"hook_event_name": "beforeReadFile", "file_path": "/p/.env",
            "content": "A=1", "workspace_roots": ["/p"]});
        assert_eq!(file(Agent::Cursor, cursor_read).2, strings(&["/p/.env"]));
        let cursor_delete = json!({"hook_event_name": "preToolUse", "tool_name": "Delete",
            "tool_input": {"file_path": "/h/.ssh/config"}});
        assert_eq!(file(Agent::Cursor, cursor_delete).1, "delete");
        let patch = "*** Begin Patch\n*** Update File: src/a.rs\n@@\n-x\n+y\n*** Add File: b.txt\n+z\n*** Delete File: old.txt\n*** End Patch\n";
        assert_eq!(
            file(
                Agent::Codex,
                json!({"tool_name": "apply_patch", "tool_input": {"command": patch}})
            ),
            (
                "apply_patch".into(),
                "write",
                strings(&["src/a.rs", "b.txt", "old.txt"]),
                None
            )
        );
        // Copilot CLI: its own names (toolArgs an object, a JSON text, or a bare patch), and
        // Claude Code's payload when registered under `PreToolUse`.
        let copilot = |tool: &str, args: Value| {
            file(
                Agent::Copilot,
                json!({"toolName": tool, "toolArgs": args, "cwd": "/p"}),
            )
        };
        assert_eq!(copilot("view", json!({"path": "/p/.env"})).1, "read");
        assert_eq!(
            copilot("create", json!({"path": "/h/.zshrc", "file_text": "x"})).1,
            "write"
        );
        assert_eq!(
            copilot(
                "str_replace_editor",
                json!({"command": "view", "path": "/a"})
            )
            .1,
            "read"
        );
        assert_eq!(
            copilot(
                "str_replace_editor",
                json!({"command": "str_replace", "path": "/a"})
            )
            .1,
            "edit"
        );
        assert_eq!(
            copilot("view", json!(r#"{"path": "/p/id_rsa"}"#)).2,
            strings(&["/p/id_rsa"])
        );
        assert_eq!(
            copilot(
                "apply_patch",
                json!("*** Begin Patch\n*** Delete File: x.txt\n*** End Patch")
            ),
            ("apply_patch".into(), "delete", strings(&["x.txt"]), None)
        );
        assert_eq!(
            parse_payload(
                Agent::Copilot,
                &json!({"toolName": "bash", "toolArgs": "{\"command\": \"ls\"}"})
            )
            .unwrap()
            .unwrap()
            .0,
            command("ls")
        );
        assert_eq!(
            file(Agent::Copilot, json!({"hook_event_name": "PreToolUse", "tool_name": "Read", "tool_input": {"file_path": "/p/.env"}})).2,
            strings(&["/p/.env"])
        );
        assert_eq!(
            parse_payload(
                Agent::Copilot,
                &json!({"toolName": "web_fetch", "toolArgs": {"url": "u"}})
            )
            .unwrap(),
            None
        );
        // Codex trims the space around its `***` lines: an indented header names a file too.
        let sneaky = "*** Begin Patch\n*** Add File: notes.txt\n+x\n\t*** Add File: /h/.bashrc\n+y\n *** Delete File: /h/.safeshell/rules.toml \n*** End Patch";
        assert_eq!(
            file(
                Agent::Codex,
                json!({"tool_name": "apply_patch", "tool_input": {"command": sneaky}})
            )
            .2,
            strings(&["notes.txt", "/h/.bashrc", "/h/.safeshell/rules.toml"])
        );
        // A file tool without the path it must have is blocked, never waved through.
        for (agent, payload) in [
            (
                Agent::Claude,
                json!({"tool_name": "Read", "tool_input": {}}),
            ),
            (
                Agent::Claude,
                json!({"tool_name": "Write", "tool_input": {"file_path": 7}}),
            ),
            (
                Agent::Gemini,
                json!({"tool_name": "read_many_files", "tool_input": {"include": []}}),
            ),
            (Agent::Cursor, json!({"hook_event_name": "beforeReadFile"})),
            (
                Agent::Codex,
                json!({"tool_name": "apply_patch", "tool_input": {"command": "x"}}),
            ),
        ] {
            assert!(parse_payload(agent, &payload).is_err(), "{payload}");
        }
        // Tools that touch no files, and Cursor events SafeShell does not answer, are not its
        // business.
        assert_eq!(
            parse_payload(Agent::Cursor, &json!({"hook_event_name": "stop"})).unwrap(),
            None
        );
        assert_eq!(
            parse_payload(
                Agent::Gemini,
                &json!({"tool_name": "web_fetch", "tool_input": {}})
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn codex_and_copilot_are_never_told_to_ask() {
        let ask = render(Agent::Codex, &Answer::Ask("why".into())).unwrap();
        assert_eq!(ask["hookSpecificOutput"]["permissionDecision"], "deny");
        assert_eq!(approval_mode(Agent::Codex), ApprovalMode::Monitor);
        let ask = render(Agent::Copilot, &Answer::Ask("why".into())).unwrap();
        assert_eq!(
            ask,
            json!({"permissionDecision": "deny", "permissionDecisionReason": "why"})
        );
        assert_eq!(approval_mode(Agent::Copilot), ApprovalMode::Monitor);
        assert_eq!(render(Agent::Copilot, &Answer::Pass), None);
    }

    #[test]
    fn containment_rewrites_only_where_claude_code_asks_nothing_more() {
        use crate::payload::{HookContain::*, contain_decision, has_bash_deny_or_ask};
        let bypass = Some("bypassPermissions");
        assert_eq!(contain_decision(Auto, bypass, false, false), Some(None));
        assert_eq!(contain_decision(Auto, Some("default"), false, false), None);
        assert_eq!(contain_decision(Auto, None, false, false), None);
        assert_eq!(
            contain_decision(Auto, Some("default"), true, false),
            Some(Some("allow"))
        );
        assert_eq!(
            contain_decision(Always, Some("acceptEdits"), false, false),
            Some(Some("allow"))
        );
        assert_eq!(contain_decision(Always, Some("plan"), false, false), None);
        assert_eq!(contain_decision(Off, bypass, true, false), None);
        assert_eq!(contain_decision(Always, bypass, true, true), None);
        assert!(has_bash_deny_or_ask(
            &json!({"permissions": {"ask": ["Read(./x)", " Bash(git push:*)"]}})
        ));
        assert!(has_bash_deny_or_ask(
            &json!({"permissions": {"deny": ["Bash"]}})
        ));
        assert!(!has_bash_deny_or_ask(
            &json!({"permissions": {"allow": ["Bash(ls:*)"], "deny": ["Read(.env)"]}})
        ));
        assert!(!has_bash_deny_or_ask(&json!({"hooks": {}})));
    }

    #[test]
    fn rewrites_quote_and_keep_the_other_fields() {
        let payload =
            json!({"tool_input": {"command": "x", "timeout": 5, "run_in_background": true}});
        let command = contained_command("/opt/s s/safeshell-shim", "echo 'a b'");
        assert_eq!(
            command,
            r#"'/opt/s s/safeshell-shim' contain -c 'echo '\''a b'\'''"#
        );
        let input = updated_input(&payload, &command).unwrap();
        assert_eq!(input["timeout"], 5);
        assert_eq!(input["run_in_background"], true);
        assert_eq!(input["command"], command.as_str());
        let answer = Answer::Rewrite(Rewrite {
            input,
            decision: None,
            user_message: String::new(),
            context: "note".into(),
        });
        let v = render(Agent::Claude, &answer).unwrap();
        assert!(v["hookSpecificOutput"].get("permissionDecision").is_none());
        assert_eq!(v["hookSpecificOutput"]["additionalContext"], "note");
        assert!(v.get("systemMessage").is_none());
        // No other agent's answer can carry a rewrite: it refuses.
        assert_eq!(
            render(Agent::Cursor, &answer).unwrap()["permission"],
            "deny"
        );
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
            render(Agent::Claude, &Answer::Ask("a".into())).unwrap()["hookSpecificOutput"]["permissionDecision"],
            "ask"
        );
    }
}
