//! `safeshell replay` end to end: a Claude Code transcript of 1,320 tool calls in the format
//! Claude Code writes (plus a resumed-session copy, a Codex session log and a command list),
//! read by the real binary in a temporary HOME; the counts it reports are checked against the
//! decision each template call is known to get. Nothing in the transcripts is ever run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// A temporary HOME with a project directory.
struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let project = home.join("project");
        std::fs::create_dir_all(project.join("src")).unwrap();
        // A stand-in key: a search whose pattern selects it reads it (patterns are matched
        // against the files that exist).
        std::fs::write(project.join("deploy.pem"), "not a real key").unwrap();
        Env {
            _tmp: tmp,
            home,
            project,
        }
    }

    fn replay(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_safeshell"))
            .arg("replay")
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(&self.project)
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.replay(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The template tool calls: (tool, input, the decision the built-in rules give, the rule).
fn templates(
    project: &Path,
    home: &Path,
) -> Vec<(&'static str, Value, &'static str, &'static str)> {
    let p = project.display().to_string();
    let h = home.display().to_string();
    vec![
        (
            "Bash",
            json!({"command": "git status", "description": "d"}),
            "allow",
            "",
        ),
        (
            "Bash",
            json!({"command": "cargo test -p core"}),
            "allow",
            "",
        ),
        (
            "Bash",
            json!({"command": "rm -rf ~"}),
            "deny",
            "rm-root-or-home",
        ),
        (
            "Bash",
            json!({"command": "git push --force origin main"}),
            "require_approval",
            "git-force-push",
        ),
        (
            "Read",
            json!({"file_path": format!("{p}/.env")}),
            "deny",
            "read-secrets",
        ),
        (
            "Read",
            json!({"file_path": format!("{p}/src/main.rs"), "limit": 40}),
            "allow",
            "",
        ),
        (
            "Write",
            json!({"file_path": format!("{h}/.bashrc"), "content": "x"}),
            "require_approval",
            "shell-rc-edit",
        ),
        (
            "Edit",
            json!({"file_path": format!("{p}/src/main.rs"), "old_string": "a", "new_string": "b"}),
            "allow",
            "",
        ),
        (
            "Grep",
            json!({"pattern": "KEY", "glob": "*.pem"}),
            "deny",
            "read-secrets",
        ),
        ("Glob", json!({"pattern": "**/*.rs"}), "allow", ""),
        // Not SafeShell's business: skipped.
        (
            "WebFetch",
            json!({"url": "https://example.com", "prompt": "p"}),
            "",
            "",
        ),
        (
            "Task",
            json!({"prompt": "p", "subagent_type": "general"}),
            "",
            "",
        ),
    ]
}

const REPEATS: usize = 110;

/// A transcript as Claude Code writes it: summary line, assistant lines with `tool_use` blocks,
/// user lines with `tool_result` blocks, over ten days.
fn transcript(env: &Env) -> (String, Vec<String>) {
    let mut lines =
        vec![json!({"type": "summary", "summary": "work", "leafUuid": "u0"}).to_string()];
    let mut ids = Vec::new();
    for r in 0..REPEATS {
        let day = 20 + r % 10;
        for (i, (tool, input, _, _)) in templates(&env.project, &env.home).into_iter().enumerate() {
            let id = format!("toolu_{r:04}_{i:02}");
            ids.push(id.clone());
            lines.push(
                json!({
                    "parentUuid": format!("p{r}-{i}"), "isSidechain": false, "userType": "external",
                    "cwd": env.project, "sessionId": "4f35e220", "version": "2.0.29", "gitBranch": "main",
                    "message": {"model": "claude-sonnet-4-5", "id": format!("msg_{r}_{i}"), "type": "message",
                        "role": "assistant", "content": [{"type": "tool_use", "id": id, "name": tool, "input": input}],
                        "stop_reason": null, "usage": {"input_tokens": 3, "output_tokens": 7}},
                    "requestId": "req_1", "type": "assistant", "uuid": format!("a{r}-{i}"),
                    "timestamp": format!("2026-11-{day:02}T10:{:02}:00.000Z", i),
                })
                .to_string(),
            );
            lines.push(
                json!({
                    "parentUuid": format!("a{r}-{i}"), "cwd": env.project, "sessionId": "4f35e220",
                    "type": "user", "uuid": format!("u{r}-{i}"), "timestamp": format!("2026-11-{day:02}T10:{:02}:01.000Z", i),
                    "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "ok", "is_error": false}]},
                })
                .to_string(),
            );
        }
    }
    (lines.join("\n") + "\n", ids)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_claude_transcript_of_1320_tool_calls_is_counted_right() {
    let env = Env::new();
    let (text, _) = transcript(&env);
    let sessions = env.home.join(".claude/projects/-home-project");
    write(&sessions.join("4f35e220.jsonl"), &text);
    // A resumed session written as a copy of the history: every call in it is a repeat.
    let copy: String = text.lines().take(400).map(|l| format!("{l}\n")).collect();
    write(&sessions.join("resumed.jsonl"), &copy);

    // With no SOURCE: the agents' session stores under HOME.
    let report = env.json(&[]);
    let per = |decision: &str| {
        templates(&env.project, &env.home)
            .iter()
            .filter(|t| t.2 == decision)
            .count() as u64
            * REPEATS as u64
    };
    assert_eq!(
        report["calls"],
        per("allow") + per("deny") + per("require_approval")
    );
    assert_eq!(report["calls"], 1100, "{report:#}");
    assert_eq!(
        report["decisions"]["allow"],
        per("allow"),
        "{:#}",
        report["by_rule"]
    );
    assert_eq!(report["decisions"]["allow"], per("allow"));
    assert_eq!(report["decisions"]["deny"], per("deny"));
    assert_eq!(
        report["decisions"]["require_approval"],
        per("require_approval")
    );
    assert_eq!(report["decisions"]["redirect"], 0);
    // The copy's judged tool calls (200 of its 399 lines after the summary are tool calls, in
    // template order; the last two templates are not judged) count once.
    let judged = templates(&env.project, &env.home)
        .iter()
        .map(|t| !t.2.is_empty())
        .collect::<Vec<_>>();
    let repeated = (0..200).filter(|k| judged[k % judged.len()]).count();
    assert_eq!(repeated, 168);
    assert_eq!(report["duplicates"], repeated);
    assert_eq!(report["active_days"], 10);
    assert_eq!(report["first"], "2026-11-20");
    assert_eq!(report["last"], "2026-11-29");
    // Grouped by rule, with counts and examples.
    let group = |rule: &str| {
        report["by_rule"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["rule"] == rule)
            .unwrap_or_else(|| panic!("no group for {rule}: {report}"))
            .clone()
    };
    for (_, _, decision, rule) in templates(&env.project, &env.home) {
        if !rule.is_empty() {
            assert_eq!(group(rule)["decision"], decision, "{rule}");
        }
    }
    assert_eq!(group("read-secrets")["count"], 2 * REPEATS as u64);
    let secrets = group("read-secrets");
    let examples: Vec<&str> = secrets["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        examples.contains(&format!("Read {}/.env", env.project.display()).as_str()),
        "{examples:?}"
    );
    // The noisiest rules: approvals per active day (110 over 10 days = 11 a day).
    let noisy = report["noisiest"].as_array().unwrap();
    assert_eq!(noisy.len(), 2);
    assert_eq!(noisy[0]["per_active_day"], 11.0);

    // --since keeps the last five days.
    let report = env.json(&["--since", "2026-11-25"]);
    assert_eq!(report["calls"], 550);

    // A second policy: what it changes.
    let stricter = env.home.join("stricter.toml");
    write(
        &stricter,
        "[[rules]]\nname = \"cargo-test-ask\"\ncommands = [\"cargo\"]\naction = \"require_approval\"\ncontext = \"ai\"\nwhen = { positional = [\"test\"] }\n",
    );
    let report = env.json(&["--against-rules", stricter.to_str().unwrap()]);
    assert_eq!(report["against"]["changed"], REPEATS as u64);
    let change = &report["against"]["changes"][0];
    assert_eq!(change["from"], "allow");
    assert_eq!(change["to"], "require_approval (cargo-test-ask)");
    assert_eq!(change["count"], REPEATS as u64);
    assert_eq!(change["examples"][0], "cargo test -p core");
    // --rules decides with the file instead of the user's own.
    let report = env.json(&["--rules", stricter.to_str().unwrap()]);
    assert_eq!(
        report["decisions"]["require_approval"],
        per("require_approval") + REPEATS as u64
    );

    // The table and the HTML report.
    let html = env.home.join("report.html");
    let out = env.replay(&["--html", html.to_str().unwrap()]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("SafeShell replay: 1100 tool calls"),
        "{table}"
    );
    assert!(table.contains("git-force-push"), "{table}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.starts_with("<!DOCTYPE html>")
            && page.contains("<svg")
            && page.contains("shell-rc-edit")
    );
    // The report is self-contained: nothing loaded from elsewhere.
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("src="));
}

#[test]
fn other_sources_and_bad_arguments() {
    let env = Env::new();
    let codex = env.home.join("codex.jsonl");
    let p = env.project.display().to_string();
    write(
        &codex,
        &[
            json!({"timestamp": "2026-11-30T10:00:00Z", "type": "session_meta", "payload": {"id": "x", "cwd": p}}),
            json!({"timestamp": "2026-11-30T10:00:01Z", "type": "response_item", "payload": {"type": "function_call", "name": "shell",
                "arguments": json!({"command": ["bash", "-lc", "cat .env"], "workdir": p}).to_string(), "call_id": "c1"}}),
            json!({"timestamp": "2026-11-30T10:00:02Z", "type": "response_item", "payload": {"type": "function_call", "name": "exec_command",
                "arguments": json!({"cmd": "ls -la"}).to_string(), "call_id": "c2"}}),
        ]
        .iter()
        .map(|v| format!("{v}\n"))
        .collect::<String>(),
    );
    let list = env.home.join("commands.txt");
    write(&list, "git status\nrm -rf /\n\n");
    let report = env.json(&[codex.to_str().unwrap(), list.to_str().unwrap()]);
    assert_eq!(report["calls"], 4);
    assert_eq!(report["decisions"]["deny"], 2);
    assert_eq!(report["sources"][0]["format"], "Codex session log");
    assert_eq!(report["sources"][1]["format"], "command list");
    // Clear errors, naming what is wrong.
    let out = env.replay(&["/nonexistent/x.jsonl"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.jsonl"));
    let out = env.replay(&["--since", "yesterday", list.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
    let out = env.replay(&[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no agent sessions found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = env.home.join("bad.toml");
    write(&bad, "[[rules]]\nname = 1\n");
    let out = env.replay(&["--rules", bad.to_str().unwrap(), list.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(78),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
