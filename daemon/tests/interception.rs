//! End-to-end interception: a real daemon, real shims and the real `SHELL` wrapper, in a
//! temporary HOME. Refusals are proven by a marker file that was never created.

mod support;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use support::{Harness, feed, shim_exe, text};

/// Global rules for the tests: `tool` with `danger` is denied for agents, with `ask` it needs
/// approval, with `swap` it is redirected to `tool redirected`.
const RULES: &str = r#"
[[rules]]
name = "tool-danger"
commands = ["tool"]
action = "deny"
context = "ai"
message = "tool danger is not allowed"
when = { positional = ["danger"] }

[[rules]]
name = "tool-ask"
commands = ["tool"]
action = "require_approval"
context = "ai"
when = { positional = ["ask"] }

[[rules]]
name = "tool-swap"
commands = ["tool"]
action = "redirect"
redirect_to = "tool redirected touch=redirected"
context = "ai"
when = { positional = ["swap"] }
"#;

#[test]
fn allowed_commands_keep_stdout_stderr_exit_code_and_stdin() {
    let h = Harness::new(RULES);
    let mut child = h
        .command("tool")
        .args(["hello", "stdin", "stderr", "exit=7"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    feed(&mut child, b"from stdin\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("tool args: hello stdin stderr exit=7"),
        "{stdout}"
    );
    assert!(stdout.contains("from stdin"), "{stdout}");
    // The shim exec'd the real program: it kept the shim's pid.
    assert!(stdout.contains(&format!("tool pid: {pid} ")), "{stdout}");
    assert_eq!(text(&out.stderr), "tool to stderr\n");
}

#[test]
fn allowed_commands_work_under_a_pseudo_terminal() {
    let h = Harness::new(RULES);
    // `script` gives the command a real pty.
    let out = h
        .command("script")
        .args(["-qec", "tool tty", "/dev/null"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("stdin is a tty"), "{stdout}");
    assert!(out.status.success());
}

#[test]
fn denied_commands_do_not_run_and_say_why() {
    let h = Harness::new(RULES);
    let out = h
        .command("tool")
        .args(["danger", "touch=ran"])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("ran"), "a denied command ran");
    let err = text(&out.stderr);
    assert!(
        err.contains("SafeShell blocked this command") && err.contains("tool-danger"),
        "{err}"
    );
    assert!(err.contains("Do not try to run it another way"), "{err}");
    // The same command is allowed for a human (the rule is for agents).
    let out = h
        .command("tool")
        .args(["danger", "touch=human"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(h.marker("human"));
}

#[test]
fn builtin_rules_guard_real_programs() {
    let h = Harness::new("");
    // The work directory is a git repository with an untracked file; `git clean -fd` from an
    // agent needs approval, nobody approves, it times out, and the file is still there.
    let untracked = h.work.join("untracked.txt");
    std::fs::write(&untracked, "keep me\n").unwrap();
    let out = h
        .command("git")
        .args(["clean", "-fd"])
        .env("CLAUDECODE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(untracked.exists(), "git clean ran without approval");
    let err = text(&out.stderr);
    assert!(
        err.contains("git-clean-force") && err.contains("expired"),
        "{err}"
    );
    // The same command from a person's terminal runs (the rule is for agents).
    let out = h.command("git").args(["clean", "-fd"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!untracked.exists());
}

#[test]
fn approvals_resolved_by_a_person_decide() {
    let h = Harness::patient(RULES);
    // Approve: it runs.
    let child = h.spawn_agent("tool", &["ask", "touch=approved"]);
    let id = h.wait_for_pending();
    h.resolve("approve", &[], id);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("approved"));
    assert!(text(&out.stderr).contains("the user approved"));

    // Deny with a reason: it does not run, and the agent is told not to retry.
    let child = h.spawn_agent("tool", &["ask", "touch=denied"]);
    let id = h.wait_for_pending();
    h.resolve("deny", &["--reason", "not on Fridays"], id);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("denied"));
    let err = text(&out.stderr);
    assert!(
        err.contains("the user denied")
            && err.contains("not on Fridays")
            && err.contains("Do not retry"),
        "{err}"
    );

    // Audit records both outcomes.
    let audit = h.audit();
    let outcomes: Vec<_> = audit
        .iter()
        .filter_map(|r| r["approval"]["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["approved", "denied"]);
}

#[test]
fn the_real_program_is_found_past_every_alias_of_the_shims() {
    // PATH: the shims directory reached through a symlink, the shims directory, a directory
    // holding another link to the shim binary, then the real `tool`. The shim must skip the first
    // three (running itself again would loop) and exec the real one.
    let h = Harness::new(RULES);
    let aliases = h.markers().parent().unwrap().join("aliases");
    std::fs::create_dir_all(&aliases).unwrap();
    let via_link = aliases.join("shims-link");
    std::os::unix::fs::symlink(h.shims(), &via_link).unwrap();
    let other = aliases.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::os::unix::fs::symlink(shim_exe(), other.join("tool")).unwrap();
    let path = format!(
        "{}:{}:{}:{}",
        via_link.display(),
        h.shims().display(),
        other.display(),
        h.path_var()
    );
    let out = h
        .command(via_link.join("tool"))
        .env("PATH", &path)
        .args(["hello", "touch=found"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("tool args: hello touch=found"),
        "{}",
        text(&out.stdout)
    );
    assert!(h.marker("found"));
    // Checked exactly once: the shim never ran itself again.
    let audit = h.audit();
    let checks = audit
        .iter()
        .filter(|e| e["command"] == serde_json::json!(["tool", "hello", "touch=found"]))
        .count();
    assert_eq!(checks, 1, "{audit:?}");
}

#[test]
fn the_shell_wrapper_decides_whole_strings() {
    let h = Harness::new(RULES);
    let wrapper = shim_exe();
    let out = h
        .command(&wrapper)
        .args(["-c", "echo one && tool fine"])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("one\ntool args: fine"));

    // A denied segment anywhere refuses the whole string before anything runs.
    let out = h
        .command(&wrapper)
        .args([
            "-lc",
            "tool first touch=first; bash -c 'tool danger touch=inner'",
        ])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("first") && !h.marker("inner"));

    // Non -c invocations go straight to the real shell (a script file here).
    let script = h.work.join("s.sh");
    std::fs::write(&script, "echo from script $1\n").unwrap();
    let out = h
        .command(&wrapper)
        .args([script.to_str().unwrap(), "x"])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "from script x\n");

    // The real shell gets the shims first on PATH.
    let out = h
        .command(&wrapper)
        .args(["-c", "echo $PATH"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).starts_with(&h.shims().display().to_string()),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn no_double_asking_under_the_wrapper() {
    let h = Harness::patient(RULES);
    let child = h.spawn_agent(shim_exe(), &["-c", "tool ask touch=once"]);
    let id = h.wait_for_pending();
    h.resolve("approve", &[], id);
    let out = child.wait_with_output().unwrap();
    // The inner `tool` went through its PATH shim too, which did not ask again.
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("once"));
    let audit = h.audit();
    let approvals = audit.iter().filter(|r| r["approval"].is_object()).count();
    assert_eq!(approvals, 1, "asked more than once: {audit:#?}");
    assert!(
        audit
            .iter()
            .any(|r| r["surface"] == "path_shim" && r["token"] == true),
        "{audit:#?}"
    );

    // A token is worthless outside the process tree it was issued to.
    // It is asked about like any other command (a person denies it here).
    let token_holder = audit.len();
    let child = h
        .command("tool")
        .args(["ask", "touch=replayed"])
        .env("SAFESHELL_CONTEXT", "ai")
        .env("SAFESHELL_TOKEN", "00000000000000000000000000000000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = h.wait_for_pending();
    h.resolve("deny", &[], id);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(126), "a forged token was accepted");
    assert!(!h.marker("replayed"));
    assert!(h.audit().len() > token_holder);
}

#[test]
fn redirects_run_the_safer_command() {
    let h = Harness::new(RULES);
    let out = h
        .command("tool")
        .args(["swap", "touch=original"])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("redirected"));
    assert!(!h.marker("original"));
    assert!(text(&out.stderr).contains("instead of"));
}

#[test]
fn bypass_works_for_humans_only_and_is_audited() {
    let h = Harness::new(
        "[[rules]]\nname = \"tool-never\"\ncommands = [\"tool\"]\naction = \"deny\"\nwhen = { positional = [\"never\"] }\n",
    );
    let out = h
        .command("tool")
        .args(["never", "touch=bypassed"])
        .env("SAFESHELL_BYPASS", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(h.marker("bypassed"));
    let out = h
        .command("tool")
        .args(["never", "touch=agent"])
        .env("SAFESHELL_BYPASS", "1")
        .env("CLAUDECODE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("agent"));
    let audit = h.audit();
    assert_eq!(
        audit.iter().filter(|r| r["bypass"] == true).count(),
        1,
        "{audit:#?}"
    );
}

#[test]
fn daemon_killed_mid_approval_never_approves() {
    let mut h = Harness::new(RULES);
    let child = h.spawn_agent("tool", &["ask", "touch=crash"]);
    h.wait_for_pending();
    h.kill_daemon();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("crash"));
    assert!(
        text(&out.stderr).contains("It was not run"),
        "{}",
        text(&out.stderr)
    );
    // A new daemon serves again (the old socket is stale and is replaced).
    h.start_daemon();
    let out = h.command("tool").arg("after").output().unwrap();
    assert!(out.status.success());
}

#[test]
fn stopping_the_daemon_denies_pending_approvals() {
    let h = Harness::new(RULES);
    let child = h.spawn_agent("tool", &["ask", "touch=shutdown"]);
    h.wait_for_pending();
    assert!(h.safeshell(&["daemon", "stop"]).status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("shutdown"));
    assert!(
        text(&out.stderr).contains("daemon stopped"),
        "{}",
        text(&out.stderr)
    );
    assert!(!h.socket().exists(), "socket left behind");
    assert!(!h.state.join("daemon.pid").exists(), "pid file left behind");
}

#[test]
fn stale_socket_is_replaced_and_a_live_one_is_kept() {
    let h = Harness::without_daemon(RULES);
    {
        let _listener = std::os::unix::net::UnixListener::bind(h.socket()).unwrap();
    } // dropped: the file stays, nobody answers
    assert!(h.socket().exists());
    let out = h.safeshell(&["daemon", "start"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(h.log().contains("removed stale socket"), "{}", h.log());
    // A second daemon refuses to start and leaves the live one alone.
    let out = h
        .command(support::safeshell_exe())
        .args(["daemon", "run"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already running"),
        "{}",
        text(&out.stderr)
    );
    assert!(h.safeshell(&["daemon", "status"]).status.success());
    assert!(h.safeshell(&["daemon", "stop"]).status.success());
}

#[test]
fn two_daemons_started_at_once_leave_one_serving() {
    let h = Harness::without_daemon(RULES);
    let a = h
        .command(support::safeshell_exe())
        .args(["daemon", "run"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = h
        .command(support::safeshell_exe())
        .args(["daemon", "run"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    h.wait_until_up();
    let (mut a, mut b) = (a, b);
    // Wait (up to a generous deadline) for the loser to give up; the winner keeps serving.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exited = loop {
        let exited: Vec<bool> = [&mut a, &mut b]
            .iter_mut()
            .map(|c| c.try_wait().unwrap().is_some())
            .collect();
        if exited.iter().any(|e| *e) || std::time::Instant::now() > deadline {
            break exited;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        exited.iter().filter(|e| **e).count(),
        1,
        "exactly one daemon must have exited: {exited:?}"
    );
    assert!(
        h.command("tool")
            .arg("x")
            .output()
            .unwrap()
            .status
            .success()
    );
    for c in [&mut a, &mut b] {
        c.kill().ok();
        c.wait().ok();
    }
}

#[test]
fn a_broken_rule_file_keeps_the_last_good_rules() {
    let h = Harness::new(
        "[[rules]]\nname = \"v1\"\ncommands = [\"tool\"]\naction = \"deny\"\nwhen = { positional = [\"one\"] }\n",
    );
    let denied =
        |arg: &str| h.command("tool").arg(arg).output().unwrap().status.code() == Some(126);
    // The watcher polls every 100 ms; wait for what it reports rather than for a fixed time.
    let eventually = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !check() {
            assert!(
                std::time::Instant::now() < deadline,
                "never happened: {what}\n{}",
                h.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(denied("one"));
    std::fs::write(
        h.state.join("rules.toml"),
        "[[rules]]\nname = \"v2\"\ncommands = [\"tool\"\naction = \n",
    )
    .unwrap();
    eventually("the broken file is reported", &|| {
        let status = text(&h.safeshell(&["daemon", "status"]).stdout);
        status.contains("RULE ERROR") && status.contains("rules.toml:")
    });
    assert!(
        denied("one"),
        "a broken file must not drop the last good rules"
    );
    std::fs::write(
        h.state.join("rules.toml"),
        "[[rules]]\nname = \"v3\"\ncommands = [\"tool\"]\naction = \"deny\"\nwhen = { positional = [\"three\"] }\n",
    )
    .unwrap();
    eventually("the fixed file is reloaded", &|| {
        h.log().contains("reloaded")
    });
    assert!(denied("three"));
    assert!(!denied("one"));
}

#[test]
fn two_hundred_concurrent_shims_are_all_answered() {
    let h = Harness::new(RULES);
    let children: Vec<_> = (0..200)
        .map(|i| {
            h.command("tool")
                .arg(format!("n{i}"))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "invocation {i} failed");
        assert!(text(&out.stdout).contains(&format!("tool args: n{i}")));
    }
    let status: serde_json::Value =
        serde_json::from_slice(&h.safeshell(&["daemon", "status", "--json"]).stdout).unwrap();
    assert!(
        status["decisions"]["allow"].as_u64().unwrap() >= 200,
        "{status}"
    );
}

#[test]
fn fail_mode_applies_when_the_daemon_cannot_be_reached() {
    let h = Harness::without_daemon(RULES);
    let out = h
        .command("tool")
        .args(["x", "touch=unchecked"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(h.marker("unchecked"));
    assert!(text(&out.stderr).contains("warning: daemon unavailable"));
    std::fs::write(
        h.state.join("config.toml"),
        "on_unavailable = \"deny\"\nextra_shims = [\"tool\"]\n",
    )
    .unwrap();
    let out = h
        .command("tool")
        .args(["x", "touch=refused"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("refused"));
}

#[test]
fn a_shim_starts_the_daemon_when_needed() {
    let h = Harness::without_daemon(RULES);
    let out = h
        .command("tool")
        .args(["danger", "touch=autostart"])
        .env_remove("SAFESHELL_NO_AUTOSTART")
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    assert!(!h.marker("autostart"));
    assert!(h.safeshell(&["daemon", "status"]).status.success());
}

#[test]
fn a_panicking_request_does_not_take_the_daemon_down() {
    let mut h = Harness::without_daemon(RULES);
    // Debug builds only: the daemon panics on this exact command.
    h.start_daemon_with(&[("SAFESHELL_TEST_PANIC_ON", "tool boom")]);
    let out = h.command("tool").arg("boom").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(126),
        "no decision must never mean allow"
    );
    let out = h.command("tool").arg("fine").output().unwrap();
    assert!(out.status.success(), "the daemon died: {}", h.log());
}

#[test]
fn shell_init_snippet_puts_shims_first() {
    let h = Harness::new(RULES);
    let snippet = text(&h.safeshell(&["init", "--shell", "bash"]).stdout);
    let out = h
        .command("/bin/bash")
        .args(["-c", &format!("{snippet}\necho \"$PATH\"")])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).starts_with(&format!("{}:", h.shims().display())),
        "{}",
        text(&out.stdout)
    );
    assert!(h.safeshell(&["init", "--shell", "fish"]).status.success());
    assert_eq!(
        h.safeshell(&["init", "--shell", "tcsh"]).status.code(),
        Some(70)
    );
    // Refresh removes stale shims and adds missing ones (the running daemon may have put the
    // missing one back first: it keeps the shims in step with its rules too).
    std::os::unix::fs::symlink(shim_exe(), h.shims().join("stale-one")).unwrap();
    std::fs::remove_file(h.shims().join("git")).unwrap();
    let out = text(&h.safeshell(&["refresh"]).stdout);
    assert!(
        out.contains("1 added, 1 removed") || out.contains("0 added, 1 removed"),
        "{out}"
    );
    assert!(!h.shims().join("stale-one").exists() && h.shims().join("git").exists());
    assert!(!h.shims().join("safeshell").exists());
}

#[test]
fn a_client_of_another_uid_is_refused() {
    if !nix_is_root() {
        eprintln!("skipped: needs root to run a client as another uid (setpriv)");
        return;
    }
    let h = Harness::new(RULES);
    // Open the path to the socket for everyone, so only the peer-credential check stands.
    use std::os::unix::fs::PermissionsExt;
    // (Only inside the temporary directory; nothing outside it is changed.)
    let mut dir = h.socket();
    while dir.pop() && dir.starts_with(h.tmp.path()) {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(h.socket(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(h.markers(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let as_nobody = |args: &[&std::ffi::OsStr]| {
        h.command("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(args)
            .output()
            .unwrap()
    };
    let reachable = as_nobody(&["test".as_ref(), "-e".as_ref(), h.socket().as_os_str()])
        .status
        .success()
        && as_nobody(&["test".as_ref(), "-x".as_ref(), shim_exe().as_os_str()])
            .status
            .success();
    if !reachable {
        eprintln!(
            "skipped: uid 65534 cannot reach {} (a parent directory outside the test's temporary directory is closed)",
            h.socket().display()
        );
        return;
    }
    let out = h
        .command("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(h.shims().join("tool"))
        .args(["x", "touch=other-uid"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    assert!(!h.marker("other-uid"));
    assert!(
        h.log().contains("refused a connection from uid 65534"),
        "{}",
        h.log()
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn the_demo_runs_end_to_end_and_cleans_up() {
    let h = Harness::without_daemon("");
    let out = h.safeshell(&["demo"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for expected in [
        "cat .env (PATH shim)",
        "read-secrets",
        "remote-script-to-shell",
        "approved",
        "shim overhead",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    let root = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Cleaned up "))
        .unwrap();
    let root = root.split(". ").next().unwrap();
    assert!(
        !std::path::Path::new(root).exists(),
        "{root} was left behind"
    );
    // The user's (here: the test's) own SafeShell state was not touched by the demo.
    assert!(!h.socket().exists());
    assert!(h.audit().is_empty());
}

#[test]
fn an_agent_cannot_approve_its_own_request_or_claim_to_be_human() {
    let h = Harness::patient(RULES);
    // The agent is a process of its own (`sh`) that hands its marker to the commands it starts.
    let child = h
        .command("sh")
        .args(["-c", "CLAUDECODE=1 tool ask touch=self-approved; exit $?"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = h.wait_for_pending();
    // The agent (same markers) tries to approve from a sibling process: refused and audited.
    let out = h
        .command(support::safeshell_exe())
        .args(["approvals", "approve", &id.to_string()])
        .env("CLAUDECODE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("an agent cannot approve its own commands"),
        "{}",
        text(&out.stderr)
    );
    // Claiming to be human does not help either.
    let out = h
        .command(support::safeshell_exe())
        .args(["approvals", "approve", &id.to_string()])
        .env("CLAUDECODE", "1")
        .env("SAFESHELL_CONTEXT", "human")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        h.audit()
            .iter()
            .any(|r| r["event"] == "self_approval_refused")
    );
    // A person (no agent markers, outside the tree) denies it.
    h.resolve("deny", &[], id);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("self-approved"));

    // An agent prefixing SAFESHELL_CONTEXT=human still gets agent rules.
    let out = h
        .command("tool")
        .args(["danger", "touch=claimed-human"])
        .env("CLAUDECODE", "1")
        .env("SAFESHELL_CONTEXT", "human")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("claimed-human"));
}

#[test]
fn session_approvals_cover_exactly_the_same_command() {
    let h = Harness::patient(&format!(
        "{RULES}\n[[rules]]\nname = \"tool-once\"\ncommands = [\"tool\"]\naction = \"require_approval\"\napproval_scope = \"once\"\nwhen = {{ positional = [\"once\"] }}\n"
    ));
    let ask = |args: &[&str]| h.spawn_agent("tool", args);
    // Approve for the session: the same command later runs without asking.
    let child = ask(&["ask", "touch=s1"]);
    let id = h.wait_for_pending();
    h.resolve("approve", &["--session"], id);
    assert!(child.wait_with_output().unwrap().status.success());
    let out = h
        .command("tool")
        .args(["ask", "touch=s1"])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("approved"),
        "{}",
        text(&out.stderr)
    );
    // A different command (other arguments) still asks.
    let child = ask(&["ask", "touch=s2"]);
    let id = h.wait_for_pending();
    h.resolve("deny", &["--session", "--reason", "no"], id);
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(126));
    // ... and a session denial refuses it again without asking.
    let out = h
        .command("tool")
        .args(["ask", "touch=s2"])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(
        text(&out.stderr).contains("the user denied"),
        "{}",
        text(&out.stderr)
    );
    assert!(!h.marker("s2"));
    // A rule marked approval_scope = "once" is never remembered.
    let child = ask(&["once", "touch=o1"]);
    let id = h.wait_for_pending();
    h.resolve("approve", &["--session"], id);
    assert!(child.wait_with_output().unwrap().status.success());
    let child = ask(&["once", "touch=o1"]);
    let id2 = h.wait_for_pending();
    assert_ne!(id, id2, "a once-only rule was remembered");
    h.resolve("deny", &[], id2);
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(126));
}

#[test]
fn a_stuck_monitor_never_delays_decisions_and_drops_are_counted() {
    use safeshell_protocol::{
        self as proto, CheckRequest, ClientKind, CommandSpec, Hello, HelloReply, Request, Response,
        Subscribe, Surface,
    };
    let h = Harness::new(RULES);
    let handshake = |kind| {
        let mut s = std::os::unix::net::UnixStream::connect(h.socket()).unwrap();
        let mut buf = Vec::new();
        proto::write_frame(&mut s, &Hello::new(kind, "test"), &mut buf).unwrap();
        let reply: HelloReply = proto::read_message(&mut s, &mut buf).unwrap().unwrap();
        assert!(reply.accepted);
        (s, buf)
    };
    // A monitor that subscribes and then never reads.
    let (mut stuck, mut sbuf) = handshake(ClientKind::Monitor);
    proto::write_frame(
        &mut stuck,
        &Request::Subscribe(Subscribe { history: 0 }),
        &mut sbuf,
    )
    .unwrap();
    let (mut client, mut buf) = handshake(ClientKind::Shim);
    let request = Request::Check(CheckRequest {
        command: CommandSpec::Argv(vec!["tool".into(), "x".repeat(200)]),
        cwd: h.work.display().to_string(),
        surface: Surface::PathShim,
        client_pid: std::process::id(),
        hints: Default::default(),
        env: vec![],
        token: None,
        approval: Default::default(),
        approval_timeout_secs: None,
    });
    // A deadlock guard, not a timing measurement: were decisions waiting on the stuck monitor,
    // this read would block forever.
    client
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    for _ in 0..5000 {
        proto::write_frame(&mut client, &request, &mut buf).unwrap();
        let answer: Response = proto::read_message(&mut client, &mut buf).unwrap().unwrap();
        assert!(matches!(answer, Response::Decision(_)));
    }
    let status: serde_json::Value =
        serde_json::from_slice(&h.safeshell(&["daemon", "status", "--json"]).stdout).unwrap();
    assert!(status["events_dropped"].as_u64().unwrap() > 0, "{status}");
    assert!(
        status["decisions"]["allow"].as_u64().unwrap() >= 5000,
        "{status}"
    );
    // The daemon's log is readable through the CLI.
    let logs = text(&h.safeshell(&["daemon", "logs", "-n", "3"]).stdout);
    assert!(logs.contains("listening on"), "{logs}");
    drop(stuck);
}

#[test]
fn a_daemon_of_another_protocol_version_is_named_and_nothing_runs() {
    use safeshell_protocol::{self as proto, Hello, HelloReply, PROTOCOL_VERSION};
    let h = Harness::without_daemon(RULES);
    // A stand-in for a daemon from another release: it answers the hello and closes.
    let listener = std::os::unix::net::UnixListener::bind(h.socket()).unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let hello: Hello = proto::read_message(&mut stream, &mut buf).unwrap().unwrap();
        let reply = HelloReply {
            version: PROTOCOL_VERSION + 1,
            daemon_version: "9.9.9".into(),
            accepted: false,
        };
        proto::write_frame(&mut stream, &reply, &mut buf).unwrap();
        hello.version
    });
    let out = h.command("tool").arg("touch=ran").output().unwrap();
    assert_eq!(server.join().unwrap(), PROTOCOL_VERSION);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "client speaks v{PROTOCOL_VERSION}, daemon speaks v{}",
            PROTOCOL_VERSION + 1
        )),
        "{stderr}"
    );
    assert!(!h.marker("ran"));
}

#[test]
fn a_check_sent_behind_a_refused_hello_is_never_decided() {
    use safeshell_protocol::{
        self as proto, CheckRequest, ClientKind, CommandSpec, ContextHints, Hello, HelloReply,
        PROTOCOL_VERSION, Request, Surface,
    };
    let h = Harness::new(RULES);
    // A client from another release sends its hello and its check in one write, as shims do.
    let mut hello = Hello::new(ClientKind::Shim, "0.0.0");
    hello.version = PROTOCOL_VERSION + 1;
    let check = Request::Check(CheckRequest {
        command: CommandSpec::Argv(vec!["tool".into(), "unseen".into()]),
        cwd: "/".into(),
        surface: Surface::PathShim,
        client_pid: std::process::id(),
        hints: ContextHints::default(),
        env: vec![],
        token: None,
        approval: Default::default(),
        approval_timeout_secs: None,
    });
    let (mut bytes, mut frame) = (Vec::new(), Vec::new());
    proto::encode(&hello, &mut frame).unwrap();
    bytes.extend_from_slice(&frame);
    proto::encode(&check, &mut frame).unwrap();
    bytes.extend_from_slice(&frame);
    let mut stream = std::os::unix::net::UnixStream::connect(h.socket()).unwrap();
    stream.write_all(&bytes).unwrap();
    let reply: HelloReply = proto::read_message(&mut stream, &mut frame)
        .unwrap()
        .unwrap();
    assert!(!reply.accepted);
    assert_eq!(reply.version, PROTOCOL_VERSION);
    // Then the daemon closes the connection without an answer to the check.
    let next: Option<proto::Response> = proto::read_message(&mut stream, &mut frame).unwrap();
    assert_eq!(next, None);
    // A check of this build on a new connection is answered (and audited) as usual, and the
    // refused one never was.
    let ok = h.command("tool").arg("seen").output().unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let audit = h.audit();
    assert!(
        audit
            .iter()
            .any(|e| e["command"] == serde_json::json!(["tool", "seen"]))
    );
    assert!(
        !audit
            .iter()
            .any(|e| e["command"] == serde_json::json!(["tool", "unseen"])),
        "{audit:?}"
    );
}

#[test]
fn the_daemon_raises_its_open_file_limit() {
    let mut h = Harness::without_daemon(RULES);
    h.start_daemon_after("ulimit -S -n 256");
    let pid = h.daemon_pid().unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (soft, hard) = (numbers[0], numbers[1]);
    assert_eq!(soft, hard.min(65_536), "{line}");
    // And it serves.
    let out = h.command("tool").arg("touch=served").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("served"));
}
