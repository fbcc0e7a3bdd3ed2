//! The monitor end to end: a real daemon, `safeshell monitor` in a real terminal (tmux), and a
//! shim in agent context waiting for approval. The test types keys into the monitor as a person
//! would and proves each outcome by a side effect that did (or did not) happen.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use support::{Harness, safeshell_exe, text};

const RULES: &str = r#"
[[rules]]
name = "tool-ask"
commands = ["tool"]
action = "require_approval"
context = "ai"
when = { positional = ["ask"] }
"#;

/// A tmux server of the test's own (`tmux -L`), running the monitor; killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn start(h: &Harness, extra_env: &[(&str, &str)]) -> Tmux {
        static N: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "safeshell-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut env = vec![
            format!("HOME={}", h.home.display()),
            format!("PATH={}", h.path_var()),
            "TERM=xterm-256color".to_owned(),
        ];
        env.extend(extra_env.iter().map(|(k, v)| format!("{k}={v}")));
        let mut cmd = vec!["env".to_owned(), "-i".to_owned()];
        cmd.extend(env);
        cmd.push(safeshell_exe().display().to_string());
        cmd.push("monitor".to_owned());
        // The tmux server keeps the environment it started with; a clean one, so that a test run
        // from inside an agent (with its marker in the environment) does not make the person's
        // monitor look like the agent's.
        let ok = Command::new("tmux")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &h.home)
            .env("TERM", "xterm-256color")
            .env("LANG", "C.UTF-8")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "45",
                "-s",
                "m",
            ])
            .args(&cmd)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux did not start");
        let t = Tmux { socket };
        t.wait_for("connected");
        t
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "m"])
            .output()
            .unwrap();
        text(&out.stdout)
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "`{needle}` never appeared on the monitor:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &str) {
        assert!(
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-t", "m", keys])
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

/// An agent's command that needs approval. The agent is a process of its own (`sh`) that hands
/// its marker to the commands it starts, as agents do, so the test (standing in for the person)
/// is outside the agent's process tree.
fn agent_asks(h: &Harness, marker: &str) -> Child {
    h.command("sh")
        .args([
            "-c",
            &format!("CLAUDECODE=1 tool ask touch={marker}; exit $?"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the monitor shows the pending approval selected (`▶ #ID`), so that keys act on
/// it: the request's row in the log can be drawn before the approval is in the list.
fn wait_selectable(tmux: &Tmux, h: &Harness) {
    let id = h.wait_for_pending();
    tmux.wait_for(&format!("▶ #{id}"));
}

/// Presses `key` until the waiting command ends: on a loaded machine the request's row can be
/// drawn a moment before the approval it belongs to can be selected, and a key pressed in that
/// moment does nothing. A second press once it is decided has nothing to act on.
fn press_until_decided(tmux: &Tmux, key: &str, mut child: Child) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(50);
    loop {
        tmux.keys(key);
        let pressed = Instant::now();
        while pressed.elapsed() < Duration::from_secs(3) {
            if child.try_wait().unwrap().is_some() {
                return child.wait_with_output().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            Instant::now() < deadline,
            "pressing {key} never decided the request"
        );
    }
}

macro_rules! require_tmux {
    () => {
        if !Tmux::available() {
            eprintln!("skipped: tmux is not installed (.ci/run installs it)");
            return;
        }
    };
}

#[test]
fn pressing_1_runs_the_command_and_3_refuses_it() {
    require_tmux!();
    let h = Harness::patient(RULES);
    let tmux = Tmux::start(&h, &[]);

    let child = agent_asks(&h, "approved");
    wait_selectable(&tmux, &h);
    let out = press_until_decided(&tmux, "1", child);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("approved"));
    assert!(text(&out.stderr).contains("the user approved"));

    let child = agent_asks(&h, "denied");
    wait_selectable(&tmux, &h);
    let out = press_until_decided(&tmux, "3", child);
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("denied"), "a denied command ran");
    let err = text(&out.stderr);
    assert!(
        err.contains("the user denied") && err.contains("Do not retry"),
        "{err}"
    );

    // Deny with a typed reason: digits typed into the reason are text, not decisions.
    let child = agent_asks(&h, "reasoned");
    wait_selectable(&tmux, &h);
    tmux.keys("r");
    tmux.keys("not 1 2 today");
    tmux.keys("Enter");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("reasoned"));
    assert!(
        text(&out.stderr).contains("The user said: not 1 2 today"),
        "{}",
        text(&out.stderr)
    );
    // The log shows the decisions.
    tmux.wait_for("denied");
}

#[test]
fn an_unanswered_approval_times_out_as_a_denial() {
    require_tmux!();
    let h = Harness::new(RULES); // approval_timeout_secs = 3
    let tmux = Tmux::start(&h, &[]);
    let child = agent_asks(&h, "late");
    tmux.wait_for("tool ask touch=late");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("late"));
    assert!(
        text(&out.stderr).contains("expired"),
        "{}",
        text(&out.stderr)
    );
    tmux.wait_for("No approvals waiting");
}

#[test]
fn a_monitor_inside_the_agent_cannot_approve() {
    require_tmux!();
    let h = Harness::patient(RULES);
    // A monitor the agent started itself (it carries the agent's environment marker).
    let tmux = Tmux::start(&h, &[("CLAUDECODE", "1")]);
    let child = agent_asks(&h, "self");
    wait_selectable(&tmux, &h);
    tmux.keys("1");
    tmux.wait_for("refused");
    assert_eq!(h.pending().len(), 1, "the approval must still be waiting");
    assert!(
        h.audit()
            .iter()
            .any(|r| r["event"] == "self_approval_refused")
    );
    // A person outside the agent denies it.
    let id = h.wait_for_pending();
    h.resolve("deny", &[], id);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(!h.marker("self"));
}

#[test]
fn an_agents_file_write_to_a_start_up_file_waits_in_the_monitor() {
    require_tmux!();
    let h = Harness::patient(RULES);
    let tmux = Tmux::start(&h, &[]);
    let bashrc = h.home.join(".bashrc");
    // Claude Code's Write tool, through its hook (a monitor is connected: the approval waits
    // there, not in the agent's prompt).
    let payload = serde_json::json!({
        "session_id": "s", "transcript_path": "/tmp/t.jsonl", "cwd": h.work,
        "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Write",
        "tool_input": { "file_path": bashrc, "content": "alias ls=true\n" },
    });
    let answer = |key: &str| {
        let mut child = h
            .command(support::shim_exe())
            .args(["hook", "claude"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        support::feed(&mut child, payload.to_string().as_bytes());
        wait_selectable(&tmux, &h);
        let screen = tmux.wait_for("shell-rc");
        assert!(screen.contains("Write "), "{screen}");
        let out = press_until_decided(&tmux, key, child);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["hookSpecificOutput"]["permissionDecision"].clone()
    };
    assert_eq!(answer("1"), "allow");
    assert_eq!(answer("3"), "deny");
    // The hook only decides: the file is written (or not) by the agent, never by SafeShell.
    assert!(!bashrc.exists());
}
