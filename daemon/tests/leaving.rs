//! Installing and leaving, end to end in a temporary HOME: `safeshell uninstall` removes what
//! `init`, `hook install` and the rc snippet added (and says what it left), `safeshell audit`
//! filters and redacts, and the completions and man page come from the CLI definition.

mod support;

use serde_json::Value;
use support::{Harness, text};

const RULES: &str = r#"
[[rules]]
name = "no-deploy"
commands = ["tool"]
action = "deny"
context = "all"
when = { positional = ["deploy"] }
"#;

#[test]
fn uninstall_removes_what_safeshell_added_and_keeps_the_rest() {
    let h = Harness::new(RULES);
    let claude = h.home.join(".claude/settings.json");
    std::fs::create_dir_all(claude.parent().unwrap()).unwrap();
    std::fs::write(&claude, r#"{"model": "opus"}"#).unwrap();
    for agent in ["claude", "cursor", "copilot"] {
        let out = h.safeshell(&["hook", "install", agent]);
        assert!(out.status.success(), "{agent}: {}", text(&out.stderr));
    }
    assert!(
        h.home
            .join(".claude/settings.json.safeshell-backup")
            .exists()
    );
    let rc = h.home.join(".bashrc");
    std::fs::write(
        &rc,
        "export EDITOR=vim\neval \"$(safeshell init --shell bash)\"\nalias ll='ls -l'\n",
    )
    .unwrap();
    assert!(h.state.join("shims").is_dir());

    // An agent cannot uninstall SafeShell.
    let out = h
        .command(support::safeshell_exe())
        .arg("uninstall")
        .env("CLAUDECODE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("agent"), "{}", text(&out.stderr));
    assert!(
        h.state.join("shims").is_dir(),
        "an agent's uninstall changed something"
    );

    let out = h.safeshell(&["uninstall", "--keep-config"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    // The hooks are gone from every agent's settings, the person's settings kept.
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&claude).unwrap()).unwrap();
    assert_eq!(v["model"], "opus");
    assert!(
        v.get("hooks")
            .is_none_or(|hooks| hooks.get("PreToolUse").is_none()),
        "{v}"
    );
    assert!(
        !h.home
            .join(".claude/settings.json.safeshell-backup")
            .exists()
    );
    let cursor = std::fs::read_to_string(h.home.join(".cursor/hooks.json")).unwrap();
    assert!(!cursor.contains("safeshell-shim"), "{cursor}");
    assert!(!h.home.join(".copilot/hooks/safeshell.json").exists());
    // The rc line, and only it.
    assert_eq!(
        std::fs::read_to_string(&rc).unwrap(),
        "export EDITOR=vim\nalias ll='ls -l'\n"
    );
    // The shims and the daemon's files; the configuration kept, as asked.
    assert!(!h.state.join("shims").exists());
    assert!(!h.state.join("daemon.pid").exists());
    for kept in ["config.toml", "rules.toml"] {
        assert!(h.state.join(kept).exists(), "{kept} was not kept");
    }
    // It says what it did and what it left.
    assert!(said.contains("removed the claude hook"), "{said}");
    assert!(
        said.contains("Left in place:") && said.contains("--keep-config"),
        "{said}"
    );
    assert!(said.contains("the programs themselves: rm "), "{said}");

    // Without --keep-config, SafeShell's home goes too; a second run finds nothing to do.
    let out = h.safeshell(&["uninstall"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!h.state.exists());
    let out = h.safeshell(&["uninstall"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn audit_filters_shows_time_reason_and_cwd_and_redacts_secrets() {
    let h = Harness::new(RULES);
    // Decisions of different kinds, one carrying a stand-in token.
    for args in [
        &["check-me"][..],
        &["deploy", "--token", "fake-token-123"],
        &["login", "--password=hunter2"],
    ] {
        let _ = h
            .command("tool")
            .args(args)
            .env("CLAUDECODE", "1")
            .output()
            .unwrap();
    }
    let all = text(&h.safeshell(&["audit", "--json", "-n", "50"]).stdout);
    assert!(
        !all.contains("hunter2") && !all.contains("fake-token-123"),
        "{all}"
    );
    assert!(all.contains("--password=[REDACTED]"), "{all}");
    // The log itself holds no secret.
    let raw = std::fs::read_to_string(h.state.join("audit.jsonl")).unwrap();
    assert!(
        !raw.contains("hunter2") && !raw.contains("fake-token-123"),
        "{raw}"
    );

    let out = h.safeshell(&["audit", "--decision", "deny"]);
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(table.starts_with("TIME (UTC)"), "{table}");
    assert!(
        table.contains("no-deploy") && table.contains(&h.work.display().to_string()),
        "{table}"
    );
    assert!(
        table.contains("matches rule `no-deploy`"),
        "the reason is shown: {table}"
    );
    assert!(!table.contains("check-me"), "{table}");
    let rows = |args: &[&str]| {
        let mut all = vec!["audit", "--json", "-n", "50"];
        all.extend_from_slice(args);
        text(&h.safeshell(&all).stdout).lines().count()
    };
    assert_eq!(rows(&["--decision", "deny"]), 1);
    assert_eq!(rows(&["--rule", "no-deploy"]), 1);
    assert_eq!(rows(&["--rule", "no-such-rule"]), 0);
    assert_eq!(rows(&["--agent", "claude"]), 3);
    assert_eq!(rows(&["--agent", "human"]), 0);
    assert_eq!(rows(&["--since", "2000-01-01"]), 3);
    assert_eq!(rows(&["--since", "2999-01-01"]), 0);
    let out = h.safeshell(&["audit", "--since", "tomorrow"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--since"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_cli() {
    let h = Harness::without_daemon("");
    for (shell, needle) in [
        ("bash", "_safeshell()"),
        ("zsh", "#compdef safeshell"),
        ("fish", "complete -c safeshell"),
    ] {
        let out = h.safeshell(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains(needle), "{shell}: {script}");
        assert!(
            script.contains("replay") && script.contains("uninstall"),
            "{shell}"
        );
    }
    let man = text(&h.safeshell(&["man"]).stdout);
    assert!(
        man.contains(".TH safeshell") && man.contains("replay"),
        "{man}"
    );
}
