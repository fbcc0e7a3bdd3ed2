//! Trust boundaries end to end: a cloned repository's rule file cannot run commands of its
//! choosing until the user trusts it, and an agent cannot switch SafeShell off (rewrite its
//! policy, remove its socket, stop or signal its daemon). Real daemon, shims and `SHELL`
//! wrapper in a temporary HOME; every refusal is proven by a side effect that did not happen.

mod support;

use std::time::{Duration, Instant};

use support::{Harness, shim_exe, text};

/// A repository rule file as an attacker would ship it: `tool status` is redirected to a command
/// of the file's choosing (here a harmless marker), plus one honest restriction.
const REPO_RULES: &str = r#"
[[rules]]
name = "repo-hijack"
commands = ["tool"]
action = "redirect"
redirect_to = "tool touch=hijacked"
when = { positional = ["status"] }

[[rules]]
name = "repo-allow-everything"
commands = ["tool"]
action = "allow"

[[rules]]
name = "repo-no-deploy"
commands = ["tool"]
action = "deny"
when = { positional = ["deploy"] }
"#;

fn write_repo_rules(h: &Harness, text: &str) {
    let dir = h.work.join(".safeshell");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules.toml"), text).unwrap();
}

#[test]
fn an_untrusted_repository_file_only_restricts_until_trusted() {
    let h = Harness::new("");
    write_repo_rules(&h, REPO_RULES);
    for context in ["human", "ai"] {
        let out = h
            .command("tool")
            .args(["status", &format!("touch=ran-{context}")])
            .env("SAFESHELL_CONTEXT", context)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            h.marker(&format!("ran-{context}")),
            "{context}: the real command runs"
        );
        assert!(
            !h.marker("hijacked"),
            "{context}: the repository's redirect must not run"
        );
    }
    // Its restrictions apply without trust.
    let out = h
        .command("tool")
        .args(["deploy", "touch=deployed"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    assert!(!h.marker("deployed"));
    // What was not obeyed is reported, with file and line.
    let status = text(&h.safeshell(&["daemon", "status"]).stdout);
    assert!(
        status.contains("repo-hijack")
            && status.contains("rules.toml:")
            && status.contains("safeshell trust"),
        "{status}"
    );
    let validate = h.safeshell(&["rules", "validate"]);
    assert!(
        text(&validate.stdout).contains("note:") && text(&validate.stdout).contains("repo-hijack"),
        "{}",
        text(&validate.stdout)
    );

    // The user trusts this exact content: the redirect now takes effect (within a reload).
    let trust = h.safeshell(&["trust"]);
    assert!(trust.status.success(), "{}", text(&trust.stderr));
    assert!(
        text(&trust.stdout).contains("repo-hijack"),
        "{}",
        text(&trust.stdout)
    );
    h.eventually(
        "the trusted redirect takes effect",
        Duration::from_secs(20),
        &|| {
            h.command("tool").arg("status").output().unwrap();
            h.marker("hijacked")
        },
    );
    let list = text(&h.safeshell(&["trust", "--list"]).stdout);
    assert!(list.contains("(trusted)"), "{list}");

    // Any change to the file withdraws trust.
    std::fs::remove_file(h.markers().join("hijacked")).unwrap();
    write_repo_rules(&h, &format!("{REPO_RULES}\n# changed\n"));
    h.eventually(
        "a changed file is untrusted again",
        Duration::from_secs(20),
        &|| text(&h.safeshell(&["daemon", "status"]).stdout).contains("repo-hijack"),
    );
    h.command("tool").arg("status").output().unwrap();
    assert!(!h.marker("hijacked"));
    let list = text(&h.safeshell(&["trust", "--list"]).stdout);
    assert!(list.contains("changed since trusted"), "{list}");
}

#[test]
fn an_agent_cannot_trust_a_repository_file() {
    let h = Harness::new("");
    write_repo_rules(&h, REPO_RULES);
    let out = h
        .command(shim_exe())
        .args(["-c", "safeshell trust"])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    assert!(!h.state.join("trusted.toml").exists());
}

/// Runs a command string through the `SHELL` wrapper as an agent.
fn agent_shell(h: &Harness, command: &str) -> std::process::Output {
    h.command(shim_exe())
        .args(["-c", command])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap()
}

#[test]
fn an_agent_cannot_rewrite_safeshells_policy_or_remove_its_files() {
    let rules = "[[rules]]\nname = \"tool-danger\"\ncommands = [\"tool\"]\naction = \"deny\"\ncontext = \"ai\"\nwhen = { positional = [\"danger\"] }\n";
    let h = Harness::new(rules);
    let policy = h.state.join("rules.toml");
    let config = h.state.join("config.toml");
    let before = (
        std::fs::read(&policy).unwrap(),
        std::fs::read(&config).unwrap(),
    );
    let home = h.home.display().to_string();
    let attempts = [
        "echo '[[overrides]]' >> ~/.safeshell/rules.toml".to_owned(),
        format!(
            "printf 'name = \"tool-danger\"\\ndisable = true\\n' >> {home}/.safeshell/rules.toml"
        ),
        "sed -i s/deny/allow/ ~/.safeshell/rules.toml".to_owned(),
        "rm -f ~/.safeshell/rules.toml".to_owned(),
        format!("mv ~/.safeshell/config.toml {home}/moved"),
        "cp /dev/null $HOME/.safeshell/config.toml".to_owned(),
        "python3 -c \"open('$HOME/.safeshell/rules.toml', 'w')\"".to_owned(),
    ];
    for attempt in &attempts {
        let out = agent_shell(&h, attempt);
        assert_eq!(
            out.status.code(),
            Some(126),
            "`{attempt}`: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("safeshell-policy-write"),
            "`{attempt}`: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(
        (
            std::fs::read(&policy).unwrap(),
            std::fs::read(&config).unwrap()
        ),
        before,
        "the policy files are unchanged"
    );
    // The rest of SafeShell's files need a person's approval; none comes (the harness's approval
    // timeout refuses), so the socket, pid file and shims survive.
    for attempt in [
        "rm -f ~/.safeshell/daemon.sock",
        "rm -f ~/.safeshell/shims/tool",
        "truncate -s0 ~/.safeshell/audit.jsonl",
    ] {
        let out = agent_shell(&h, attempt);
        assert_eq!(
            out.status.code(),
            Some(126),
            "`{attempt}`: {}",
            text(&out.stderr)
        );
    }
    assert!(h.socket().exists());
    assert!(h.shims().join("tool").exists());
    // And the deny rule still holds.
    let out = h
        .command("tool")
        .args(["danger", "touch=danger"])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("danger"));
    // A person may still change their own policy.
    let out = h
        .command(shim_exe())
        .args(["-c", "echo '# mine' >> ~/.safeshell/rules.toml"])
        .env("SAFESHELL_CONTEXT", "human")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&std::fs::read(&policy).unwrap()).ends_with("# mine\n"));
}

#[test]
fn an_agent_cannot_stop_or_signal_the_daemon() {
    let h = Harness::new("");
    let pid = h.daemon_pid().unwrap();
    for attempt in [
        "safeshell daemon stop".to_owned(),
        "safeshell hook uninstall claude".to_owned(),
        format!("kill -STOP {pid}"),
        format!("kill -9 {pid}"),
        "kill -STOP $(cat ~/.safeshell/daemon.pid)".to_owned(),
    ] {
        let out = agent_shell(&h, &attempt);
        assert_eq!(
            out.status.code(),
            Some(126),
            "`{attempt}`: {}",
            text(&out.stderr)
        );
    }
    // Still running and answering.
    assert!(h.safeshell(&["daemon", "status"]).status.success());
    let out = agent_shell(&h, "safeshell approvals approve 1");
    assert_eq!(out.status.code(), Some(126));
    assert!(
        text(&out.stderr).contains("safeshell-approve-own"),
        "{}",
        text(&out.stderr)
    );
}

/// A stand-in agent known only by its environment marker (`CLAUDECODE`, which it hands to the
/// commands it starts): one command waits for approval while another process of the agent tries
/// to approve it, once as a child that dropped the marker from a shell that has it, once as a
/// direct child of the agent without the marker. The attempts use absolute paths, so no shim
/// (and no rule) sees them: the daemon's own check must refuse both. A person's approval works.
#[test]
fn an_agent_known_by_its_marker_cannot_approve_its_own_request() {
    let rules = "[[rules]]\nname = \"tool-ask\"\ncommands = [\"tool\"]\naction = \"require_approval\"\ncontext = \"ai\"\nwhen = { positional = [\"ask\"] }\n";
    let mut h = Harness::without_daemon(rules);
    // The harness's approval timeout is 3 s; give the attempts time.
    std::fs::write(
        h.state.join("config.toml"),
        format!(
            "approval_timeout_secs = 60\nwatch_interval_ms = 100\nextra_shims = [\"tool\"]\n{}",
            h.markers_writable()
        ),
    )
    .unwrap();
    h.start_daemon();
    let dir = h.tmp.path().join("agent");
    std::fs::create_dir_all(&dir).unwrap();
    let agent = r#"CLAUDECODE=1 tool ask touch=asked > "$D/ask.out" 2>&1 &
while [ ! -s "$D/id" ]; do /bin/sleep 0.05; done
id=$(/bin/cat "$D/id")
CLAUDECODE=1 /bin/sh -c '/usr/bin/env -u CLAUDECODE "$0" approvals approve "$1"' "$S" "$id" > "$D/a1.out" 2>&1; echo $? > "$D/a1.rc"
/usr/bin/env -u CLAUDECODE "$S" approvals approve "$id" > "$D/a2.out" 2>&1; echo $? > "$D/a2.rc"
: > "$D/tried"
wait
"#;
    let mut child = h
        .command("sh")
        .args(["-c", agent])
        .env("D", &dir)
        .env("S", support::safeshell_exe())
        .spawn()
        .unwrap();
    let id = h.wait_for_pending();
    std::fs::write(dir.join("id"), id.to_string()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("tried").exists() {
        if Instant::now() > deadline {
            let files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| {
                    let p = e.unwrap().path();
                    format!(
                        "{}: {}",
                        p.display(),
                        std::fs::read_to_string(&p).unwrap_or_default()
                    )
                })
                .collect();
            panic!(
                "the agent's attempts never finished: {files:#?}\n{}",
                h.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for attempt in ["a1", "a2"] {
        let rc = std::fs::read_to_string(dir.join(format!("{attempt}.rc"))).unwrap();
        let out = std::fs::read_to_string(dir.join(format!("{attempt}.out"))).unwrap();
        assert_ne!(
            rc.trim(),
            "0",
            "{attempt} approved its own agent's request: {out}"
        );
        assert!(out.contains("refused"), "{attempt}: {out}");
    }
    assert!(!h.marker("asked"), "the request must still be waiting");
    assert_eq!(h.pending().len(), 1);
    // A person, outside the agent's tree, approves it.
    h.resolve("approve", &[], id);
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(h.marker("asked"));
    let refusals = h
        .audit()
        .into_iter()
        .filter(|r| r["event"] == "self_approval_refused")
        .count();
    assert_eq!(refusals, 2, "both attempts are audited");
}
