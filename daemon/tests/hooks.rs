//! Agent hooks end to end: fixture payloads of each agent piped through `safeshell-shim hook`
//! against a real daemon, `safeshell hook install/uninstall`, and `safeshell doctor` against a
//! working set-up and each kind of breakage. Everything runs in a temporary HOME.

mod support;

use std::process::{Output, Stdio};

use serde_json::Value;
use support::{Harness, feed, output_with_stdin, shim_exe, text};

const RULES: &str = r#"
[[rules]]
name = "tool-ask"
commands = ["tool"]
action = "require_approval"
context = "ai"
when = { positional = ["ask"] }

[[rules]]
name = "tool-redirect"
commands = ["tool"]
action = "redirect"
redirect_to = "tool touch=redirected"
context = "ai"
when = { positional = ["unsafe"] }
"#;

fn fixture(name: &str, command: &str, cwd: &std::path::Path) -> String {
    let raw = std::fs::read_to_string(format!(
        "{}/tests/fixtures/hooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let command = serde_json::to_string(command).unwrap();
    raw.replace("\"COMMAND\"", &command)
        .replace("CWD", &cwd.display().to_string())
}

fn run_hook(h: &Harness, agent: &str, payload: &str, env: &[(&str, &str)]) -> Output {
    output_with_stdin(
        h.command(shim_exe())
            .args(["hook", agent])
            .envs(env.iter().copied()),
        payload.as_bytes(),
    )
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {:?} / {}",
            text(&o.stdout),
            text(&o.stderr)
        )
    })
}

#[test]
fn claude_code_payloads_get_claude_answers() {
    let h = Harness::new(RULES);
    let out = run_hook(
        &h,
        "claude",
        &fixture("claude-bash.json", "rm -rf /", &h.work),
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    let v = json_out(&out);
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PreToolUse");
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    let reason = v["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("rm-root-or-home") && reason.contains("Do not try to run it another way"),
        "{reason}"
    );
    // The refusal says where the rule is defined and what matched.
    assert!(
        reason.contains("Rule: rm-root-or-home — pack `core` (built in)")
            && reason.contains("Matched: "),
        "{reason}"
    );
    let audited = h
        .audit()
        .into_iter()
        .find(|r| r["rule"] == "rm-root-or-home")
        .expect("the refusal is audited");
    assert_eq!(audited["why"]["origin"], "pack `core` (built in)");
    // Harmless commands: no objection, the agent's own permissions apply.
    let out = run_hook(
        &h,
        "claude",
        &fixture("claude-bash.json", "ls -la", &h.work),
        &[],
    );
    assert_eq!(
        (out.status.code(), out.stdout.len()),
        (Some(0), 0),
        "{}",
        text(&out.stdout)
    );
    // A file tool reading an ordinary file: no objection either.
    let out = run_hook(&h, "claude", &fixture("claude-read.json", "", &h.work), &[]);
    assert_eq!((out.status.code(), out.stdout.len()), (Some(0), 0));
    // An approval handed to the agent's own prompt.
    let out = run_hook(
        &h,
        "claude",
        &fixture("claude-bash.json", "tool ask", &h.work),
        &[("SAFESHELL_HOOK_APPROVAL", "agent")],
    );
    assert_eq!(
        json_out(&out)["hookSpecificOutput"]["permissionDecision"],
        "ask"
    );
    assert!(
        h.pending().is_empty(),
        "agent mode must not leave a pending approval"
    );
}

#[test]
fn codex_cursor_and_gemini_payloads_get_their_own_formats() {
    let h = Harness::new(RULES);
    let out = run_hook(
        &h,
        "codex",
        &fixture("codex-bash.json", "git push --force origin main", &h.work),
        &[("SAFESHELL_HOOK_APPROVAL", "agent")],
    );
    // Codex runs a tool whose hook answers "ask": its approvals wait for the monitor whatever
    // the mode, and nobody answered here (3 s), so it is refused.
    let v = json_out(&out);
    assert_eq!(
        v["hookSpecificOutput"]["permissionDecision"],
        "deny",
        "{}",
        text(&out.stdout)
    );
    assert!(
        v["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("nobody approved"),
        "{v}"
    );
    let out = run_hook(
        &h,
        "codex",
        &fixture("codex-bash.json", "cat .env", &h.work),
        &[],
    );
    assert_eq!(
        json_out(&out)["hookSpecificOutput"]["permissionDecision"],
        "deny"
    );

    let out = run_hook(
        &h,
        "cursor",
        &fixture("cursor-shell.json", "cat ~/.ssh/id_rsa", &h.work),
        &[],
    );
    let v = json_out(&out);
    assert_eq!(v["permission"], "deny");
    assert!(
        v["agent_message"]
            .as_str()
            .unwrap()
            .contains("read-secrets")
    );
    let out = run_hook(
        &h,
        "cursor",
        &fixture("cursor-shell.json", "npm test", &h.work),
        &[],
    );
    assert_eq!(json_out(&out)["permission"], "allow");

    let out = run_hook(
        &h,
        "gemini",
        &fixture("gemini-shell.json", "mkfs.ext4 /dev/sdb1", &h.work),
        &[],
    );
    let v = json_out(&out);
    assert_eq!(v["decision"], "deny");
    assert!(v["reason"].as_str().unwrap().contains("mkfs"));
    let out = run_hook(
        &h,
        "gemini",
        &fixture("gemini-shell.json", "cargo build", &h.work),
        &[],
    );
    assert_eq!(json_out(&out), serde_json::json!({}));

    // Every hook decision is audited as an agent's.
    let audit = h.audit();
    assert!(
        audit
            .iter()
            .filter(|r| r["surface"]
                .as_str()
                .is_some_and(|s| s.starts_with("hook:")))
            .all(|r| r["context"] == "ai")
    );
}

/// A redirect through Claude Code's hook replaces the command (`updatedInput`) and the safer one
/// really runs; agents whose hooks cannot replace input are refused with the command to run
/// instead, and the audit log says deny for them.
/// A file-tool fixture with its placeholders (`FILE`, `GLOB`, `TOOL`, `CWD`) filled in.
fn file_fixture(name: &str, cwd: &std::path::Path, fill: &[(&str, &str)]) -> String {
    let mut raw = std::fs::read_to_string(format!(
        "{}/tests/fixtures/hooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("CWD", &cwd.display().to_string());
    for (placeholder, value) in fill {
        let escaped = serde_json::to_string(value).unwrap();
        raw = raw.replace(placeholder, escaped.trim_matches('"'));
    }
    raw
}

/// The permission each agent's answer carries (`None`: no objection, nothing printed).
fn verdict(agent: &str, o: &Output) -> Option<String> {
    if o.stdout.is_empty() {
        return None;
    }
    let v = json_out(o);
    let found = match agent {
        "claude" | "codex" => &v["hookSpecificOutput"]["permissionDecision"],
        "cursor" => &v["permission"],
        _ => &v["decision"],
    };
    found.as_str().map(str::to_owned)
}

/// (agent, fixture, placeholders, the permission expected).
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Option<&'a str>);

#[test]
fn agents_file_tools_are_judged_like_the_commands_that_make_the_same_access() {
    let h = Harness::new(RULES);
    let env_file = h.work.join(".env");
    std::fs::write(&env_file, "API_KEY=fake-secret-marker\n").unwrap();
    let env_path = env_file.display().to_string();
    let readme = h.work.join("README.md").display().to_string();
    let bashrc = h.home.join(".bashrc").display().to_string();
    let policy = h.state.join("rules.toml").display().to_string();
    let hook = |agent: &str, fixture: &str, fill: &[(&str, &str)]| {
        let payload = file_fixture(fixture, &h.work, fill);
        let out = run_hook(&h, agent, &payload, &[("SAFESHELL_HOOK_APPROVAL", "agent")]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        (verdict(agent, &out), out)
    };
    let cases: &[Case] = &[
        // Secrets: reading is refused, whichever tool and agent.
        (
            "claude",
            "claude-file-read.json",
            &[("FILE", &env_path)],
            Some("deny"),
        ),
        (
            "claude",
            "claude-file-edit.json",
            &[("FILE", &env_path)],
            Some("deny"),
        ),
        (
            "claude",
            "claude-file-grep.json",
            &[("FILE", "."), ("GLOB", "*.env")],
            Some("deny"),
        ),
        (
            "gemini",
            "gemini-file-read.json",
            &[("FILE", ".env")],
            Some("deny"),
        ),
        (
            "cursor",
            "cursor-file-read.json",
            &[("FILE", &env_path)],
            Some("deny"),
        ),
        (
            "cursor",
            "cursor-file-tool.json",
            &[("TOOL", "Read"), ("FILE", &env_path)],
            Some("deny"),
        ),
        // Look-alikes stay allowed: ordinary files, searches that do not select secrets.
        (
            "claude",
            "claude-file-read.json",
            &[("FILE", &readme)],
            None,
        ),
        (
            "claude",
            "claude-file-write.json",
            &[("FILE", &readme)],
            None,
        ),
        (
            "claude",
            "claude-file-grep.json",
            &[("FILE", "src"), ("GLOB", "*.rs")],
            None,
        ),
        (
            "gemini",
            "gemini-file-read.json",
            &[("FILE", "README.md")],
            None,
        ),
        (
            "cursor",
            "cursor-file-read.json",
            &[("FILE", &readme)],
            Some("allow"),
        ),
        (
            "codex",
            "codex-apply-patch.json",
            &[("FILE", "src/lib.rs")],
            None,
        ),
        // Writes to start-up files are the person's to approve (here: the agent's own prompt).
        (
            "claude",
            "claude-file-write.json",
            &[("FILE", &bashrc)],
            Some("ask"),
        ),
        // SafeShell's policy is never the agent's to change, by any tool.
        (
            "claude",
            "claude-file-write.json",
            &[("FILE", &policy)],
            Some("deny"),
        ),
        (
            "codex",
            "codex-apply-patch.json",
            &[("FILE", &policy)],
            Some("deny"),
        ),
        (
            "cursor",
            "cursor-file-tool.json",
            &[("TOOL", "Delete"), ("FILE", &policy)],
            Some("deny"),
        ),
    ];
    for (agent, fixture, fill, expected) in cases {
        let (got, out) = hook(agent, fixture, fill);
        assert_eq!(
            got.as_deref(),
            *expected,
            "{agent} {fixture} {fill:?}: {} / {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        if *expected == Some("deny") {
            // The model is told why, and not to work around it.
            let answer = text(&out.stdout);
            assert!(answer.contains("Rule: "), "{answer}");
        }
    }
    // Nothing of the secret reached any answer.
    assert!(
        h.audit()
            .iter()
            .all(|r| !r.to_string().contains("fake-secret-marker"))
    );
    // Audited as file accesses, with the tool and what it touches.
    let audit = h.audit();
    let read = audit
        .iter()
        .find(|r| r["file_access"]["tool"] == "Read" && r["decision"] == "deny")
        .expect("the refused Read is audited");
    assert_eq!(read["command"], format!("Read {env_path}"));
    assert_eq!(read["rule"], "read-secrets");
    assert_eq!(read["file_access"]["access"], "read");
    assert_eq!(read["surface"], "hook:claude");
    let patch = audit
        .iter()
        .find(|r| r["file_access"]["tool"] == "apply_patch" && r["decision"] == "deny")
        .expect("the refused patch is audited");
    assert_eq!(patch["rule"], "safeshell-policy-write");
    // Nothing was written through the refused tools (the hook only decides; the fake policy
    // file is the harness's own).
    assert_eq!(std::fs::read_to_string(&policy).unwrap(), RULES);
}

#[test]
fn redirects_run_through_claude_code_and_name_the_command_elsewhere() {
    let h = Harness::new(RULES);
    let out = run_hook(
        &h,
        "claude",
        &fixture("claude-bash.json", "tool unsafe", &h.work),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json_out(&out);
    let hso = &v["hookSpecificOutput"];
    assert_eq!(hso["hookEventName"], "PreToolUse");
    // Claude Code replaces the whole input: the other fields are kept.
    assert_eq!(hso["updatedInput"]["description"], "Run a command");
    let command = hso["updatedInput"]["command"].as_str().unwrap();
    assert!(command.ends_with("tool touch=redirected'") || command == "tool touch=redirected");
    // Claude Code's own permission flow judges the new command as usual (default mode).
    assert!(hso.get("permissionDecision").is_none(), "{v}");
    for said in [&hso["additionalContext"], &v["systemMessage"]] {
        let said = said.as_str().unwrap();
        assert!(
            said.contains("instead of `tool unsafe`") && said.contains("tool touch=redirected"),
            "{said}"
        );
    }
    // Claude Code runs the new command (its Bash tool: a shell, beneath the agent).
    let ran = h
        .command("bash")
        .args(["-c", command])
        .env("CLAUDECODE", "1")
        .output()
        .unwrap();
    assert!(ran.status.success(), "{}", text(&ran.stderr));
    assert!(h.marker("redirected"));

    for (agent, file) in [
        ("codex", "codex-bash.json"),
        ("cursor", "cursor-shell.json"),
        ("gemini", "gemini-shell.json"),
    ] {
        let out = run_hook(&h, agent, &fixture(file, "tool unsafe", &h.work), &[]);
        let v = json_out(&out);
        let (decision, reason) = match agent {
            "codex" => (
                &v["hookSpecificOutput"]["permissionDecision"],
                &v["hookSpecificOutput"]["permissionDecisionReason"],
            ),
            "cursor" => (&v["permission"], &v["agent_message"]),
            _ => (&v["decision"], &v["reason"]),
        };
        assert_eq!(decision, "deny", "{agent}: {v}");
        // (Codex sends `bash -lc '…'`: a redirect inside a shell string is refused as a whole.)
        let instead = match agent {
            "codex" => "run `tool touch=redirected` instead",
            _ => "Run this instead: `tool touch=redirected`",
        };
        assert!(reason.as_str().unwrap().contains(instead), "{agent}: {v}");
    }
    let audit = h.audit();
    let decided = |surface: &str| {
        audit
            .iter()
            .filter(|r| {
                r["surface"] == surface && r["command"].as_str().unwrap().contains("tool unsafe")
            })
            .map(|r| r["decision"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(decided("hook:claude"), ["redirect"]);
    for agent in ["codex", "cursor", "gemini"] {
        assert_eq!(decided(&format!("hook:{agent}")), ["deny"], "{agent}");
    }
}

#[test]
fn approvals_in_the_monitor_reach_the_agent_and_are_not_asked_again() {
    let h = Harness::patient(RULES);
    let mut child = h
        .command(shim_exe())
        .args(["hook", "claude"])
        .env("SAFESHELL_HOOK_APPROVAL", "monitor")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    feed(
        &mut child,
        fixture("claude-bash.json", "tool ask touch=hooked", &h.work).as_bytes(),
    );
    let id = h.wait_for_pending();
    h.resolve("approve", &[], id);
    let out = child.wait_with_output().unwrap();
    let v = json_out(&out);
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "allow");
    assert!(
        v["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("approved")
    );
    // The agent (here: this test process, the hook's parent) now runs the command; its shim
    // does not ask again.
    let out = h
        .command("tool")
        .args(["ask", "touch=hooked"])
        .env("CLAUDECODE", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("hooked"));
    assert_eq!(
        h.audit()
            .iter()
            .filter(|r| r["approval"]["outcome"] == "approved")
            .count(),
        1
    );
}

#[test]
fn bad_input_and_an_unreachable_daemon_never_allow_by_accident() {
    let h = Harness::new(RULES);
    for bad in ["not json", "[]", "{\"tool_name\": \"Bash\"}", ""] {
        let out = run_hook(&h, "claude", bad, &[]);
        assert_eq!(out.status.code(), Some(2), "input {bad:?}");
        assert_eq!(
            json_out(&out)["hookSpecificOutput"]["permissionDecision"],
            "deny"
        );
        assert!(text(&out.stderr).contains("SafeShell"));
    }
    let out = run_hook(&h, "nonsense", "{}", &[]);
    assert_eq!(out.status.code(), Some(2));

    // No daemon, and none can be started (a copy of the shim with no `safeshell` beside it): a
    // hook is always an agent's, so `on_unavailable_ai` applies (default "deny"), and
    // SAFESHELL_ON_UNAVAILABLE may make it stricter, never looser.
    let h = Harness::without_daemon(RULES);
    let lonely = h.tmp.path().join("safeshell-shim");
    std::fs::copy(shim_exe(), &lonely).unwrap();
    let payload = fixture("claude-bash.json", "rm -rf /", &h.work);
    let run_lonely = |env: &[(&str, &str)]| {
        output_with_stdin(
            h.command(&lonely)
                .args(["hook", "claude"])
                .envs(env.iter().copied()),
            payload.as_bytes(),
        )
    };
    let out = run_lonely(&[("SAFESHELL_ON_UNAVAILABLE", "allow")]);
    assert_eq!(
        json_out(&out)["hookSpecificOutput"]["permissionDecision"],
        "deny"
    );
    assert!(
        text(&out.stderr).contains("on_unavailable_ai"),
        "{}",
        text(&out.stderr)
    );
    let config = h.state.join("config.toml");
    let mut settings = std::fs::read_to_string(&config).unwrap();
    settings.push_str("on_unavailable_ai = \"allow\"\n");
    std::fs::write(&config, settings).unwrap();
    let out = run_lonely(&[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("daemon unavailable"),
        "{}",
        text(&out.stderr)
    );
    let out = run_lonely(&[("SAFESHELL_ON_UNAVAILABLE", "deny")]);
    assert_eq!(
        json_out(&out)["hookSpecificOutput"]["permissionDecision"],
        "deny"
    );
    // The real hook starts the daemon (an agent's SAFESHELL_NO_AUTOSTART, which the harness
    // sets, is ignored), and the daemon decides.
    let out = run_hook(&h, "claude", &payload, &[]);
    assert_eq!(
        json_out(&out)["hookSpecificOutput"]["permissionDecision"],
        "deny",
        "{}",
        text(&out.stderr)
    );
    assert!(h.safeshell(&["daemon", "status"]).status.success());
}

#[test]
fn hook_install_keeps_other_settings_is_idempotent_and_undoes() {
    let h = Harness::new(RULES);
    let settings = h.home.join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, r#"{"model": "opus", "permissions": {"allow": ["Bash(ls:*)"]}, "hooks": {"PostToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "fmt"}]}]}}"#).unwrap();
    let out = h.safeshell(&["hook", "install", "claude"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("installed the claude hook"));
    assert!(
        h.home
            .join(".claude/settings.json.safeshell-backup")
            .exists()
    );
    let once = std::fs::read_to_string(&settings).unwrap();
    let out = h.safeshell(&["hook", "install", "claude"]);
    assert!(text(&out.stdout).contains("already installed"));
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        once,
        "a second install changed the file"
    );
    let v: Value = serde_json::from_str(&once).unwrap();
    assert_eq!(v["model"], "opus");
    assert_eq!(v["permissions"]["allow"][0], "Bash(ls:*)");
    assert_eq!(v["hooks"]["PostToolUse"][0]["hooks"][0]["command"], "fmt");
    let ours = v["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap();
    assert!(ours.ends_with("safeshell-shim hook claude"), "{ours}");
    // The installed command really works when run the way Claude Code runs it.
    let out = output_with_stdin(
        h.command("sh").args(["-c", ours]),
        fixture("claude-bash.json", "rm -rf ~", &h.work).as_bytes(),
    );
    assert_eq!(
        json_out(&out)["hookSpecificOutput"]["permissionDecision"],
        "deny"
    );

    assert!(
        h.safeshell(&["hook", "uninstall", "claude"])
            .status
            .success()
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert!(v["hooks"].get("PreToolUse").is_none(), "{v}");
    assert_eq!(v["hooks"]["PostToolUse"][0]["hooks"][0]["command"], "fmt");

    // Codex (TOML), Cursor and Gemini (JSON), in a project.
    std::fs::create_dir_all(h.work.join(".codex")).unwrap();
    std::fs::write(h.work.join(".codex/config.toml"), "model = \"o3\"\n").unwrap();
    for agent in ["codex", "cursor", "gemini"] {
        let out = h.safeshell(&["hook", "install", agent, "--project"]);
        assert!(out.status.success(), "{agent}: {}", text(&out.stderr));
    }
    let codex = std::fs::read_to_string(h.work.join(".codex/config.toml")).unwrap();
    assert!(
        codex.starts_with("model = \"o3\"")
            && codex.contains("[[hooks.PreToolUse]]")
            && codex.contains("hook codex"),
        "{codex}"
    );
    let cursor: Value =
        serde_json::from_str(&std::fs::read_to_string(h.work.join(".cursor/hooks.json")).unwrap())
            .unwrap();
    assert!(
        cursor["hooks"]["beforeShellExecution"][0]["command"]
            .as_str()
            .unwrap()
            .ends_with("hook cursor")
    );
    let gemini: Value = serde_json::from_str(
        &std::fs::read_to_string(h.work.join(".gemini/settings.json")).unwrap(),
    )
    .unwrap();
    let matcher = gemini["hooks"]["BeforeTool"][0]["matcher"]
        .as_str()
        .unwrap();
    assert!(
        matcher.starts_with("run_shell_command|") && matcher.contains("|read_file|"),
        "{matcher}"
    );
}

#[test]
fn copilot_cli_hooks_are_installed_answered_and_removed() {
    let h = Harness::new(RULES);
    // Its own file in the user's hooks directory, which Copilot CLI reads whole.
    let out = h.safeshell(&["hook", "install", "copilot"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = h.home.join(".copilot/hooks/safeshell.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["version"], 1);
    let entry = &v["hooks"]["preToolUse"][0];
    assert_eq!(entry["type"], "command");
    assert!(entry["matcher"].as_str().unwrap().contains("bash|"));
    let command = entry["bash"].as_str().unwrap().to_owned();
    assert!(
        command.ends_with("safeshell-shim hook copilot"),
        "{command}"
    );
    assert!(
        text(&h.safeshell(&["hook", "install", "copilot"]).stdout).contains("already installed")
    );
    // Run as Copilot CLI runs it: its payloads (toolArgs an object, or a JSON text in earlier
    // releases), its answer format.
    let copilot = |payload: String| {
        let out = output_with_stdin(h.command("sh").args(["-c", &command]), payload.as_bytes());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        out
    };
    let decision = |out: &Output| {
        if out.stdout.is_empty() {
            None
        } else {
            Some(
                json_out(out)["permissionDecision"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        }
    };
    let out = copilot(fixture("copilot-bash.json", "rm -rf ~", &h.work));
    assert_eq!(decision(&out).as_deref(), Some("deny"));
    assert!(
        json_out(&out)["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("rm-root-or-home")
    );
    let raw = std::fs::read_to_string(format!(
        "{}/tests/fixtures/hooks/copilot-bash-string-args.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("CWD", &h.work.display().to_string());
    assert_eq!(
        decision(&copilot(raw.replace("COMMAND_IN_STRING", "rm -rf /"))).as_deref(),
        Some("deny")
    );
    assert_eq!(
        decision(&copilot(raw.replace("COMMAND_IN_STRING", "ls -la"))),
        None
    );
    std::fs::write(h.work.join(".env"), "TOKEN=fake-secret\n").unwrap();
    let env_path = h.work.join(".env").display().to_string();
    let policy = h.state.join("rules.toml").display().to_string();
    for (tool, path, expected) in [
        ("view", env_path.as_str(), Some("deny")),
        ("view", "README.md", None),
        ("create", policy.as_str(), Some("deny")),
        ("edit", "src/main.rs", None),
    ] {
        let payload = file_fixture(
            "copilot-file-tool.json",
            &h.work,
            &[("TOOL", tool), ("FILE", path)],
        );
        assert_eq!(
            decision(&copilot(payload)).as_deref(),
            expected,
            "{tool} {path}"
        );
    }
    // An approval cannot be left to Copilot CLI's own prompt (its allow-all mode approves it):
    // it waits for the monitor, and nobody answered here (3 s).
    let out = copilot(fixture("copilot-bash.json", "tool ask", &h.work));
    assert_eq!(decision(&out).as_deref(), Some("deny"));
    assert!(
        json_out(&out)["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("nobody approved")
    );
    // The doctor runs it with its must-deny probe.
    let (_, report) = doctor(&h);
    assert_eq!(status_of(&report, "hook copilot"), "ok", "{report:#}");
    // Uninstalling removes the file, which held nothing else.
    assert!(
        h.safeshell(&["hook", "uninstall", "copilot"])
            .status
            .success()
    );
    assert!(!file.exists());
}

fn doctor(h: &Harness) -> (i32, Value) {
    let out = h.safeshell(&["doctor", "--json"]);
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

fn status_of(report: &Value, check: &str) -> String {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no check {check} in {report:#}"))
}

#[test]
fn doctor_passes_a_correct_set_up_and_names_each_breakage() {
    let mut h = Harness::new(RULES);
    assert!(h.safeshell(&["hook", "install", "claude"]).status.success());
    let (code, report) = doctor(&h);
    assert_eq!(code, 0, "{report:#}");
    for check in [
        "daemon",
        "rules",
        "shims",
        "PATH",
        "PATH (bash -c)",
        "hook claude",
    ] {
        assert_eq!(status_of(&report, check), "ok", "{check}: {report:#}");
    }

    // A hook whose path has a typo: registered, but it does not answer.
    let settings = h.home.join(".claude/settings.json");
    let text_before = std::fs::read_to_string(&settings).unwrap();
    let broken = text_before.replace(
        &shim_exe().display().to_string(),
        "/nonexistent/safeshell-shim",
    );
    std::fs::write(&settings, broken).unwrap();
    let (code, report) = doctor(&h);
    assert_eq!(code, 1);
    assert_eq!(status_of(&report, "hook claude"), "fail");
    std::fs::write(&settings, text_before).unwrap();

    // A stale shim.
    std::fs::remove_file(h.shims().join("git")).unwrap();
    std::os::unix::fs::symlink("/bin/true", h.shims().join("git")).unwrap();
    let (_, report) = doctor(&h);
    assert_eq!(status_of(&report, "shims"), "fail");
    let fix = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "shims")
        .unwrap()["fix"]
        .clone();
    assert_eq!(fix, "safeshell refresh");
    assert!(h.safeshell(&["refresh"]).status.success());

    // Shims not first on PATH.
    let out = h
        .command(support::safeshell_exe())
        .args(["doctor", "--json"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status_of(&report, "PATH"), "fail");

    // A broken rule file.
    std::fs::write(h.state.join("rules.toml"), "[[rules]]\nname = 1\n").unwrap();
    let (_, report) = doctor(&h);
    assert_eq!(status_of(&report, "rules"), "fail");
    std::fs::write(h.state.join("rules.toml"), RULES).unwrap();

    // The daemon is down.
    h.kill_daemon();
    let (code, report) = doctor(&h);
    assert_eq!(code, 1);
    assert_eq!(status_of(&report, "daemon"), "fail");
}
