//! Failing safe, end to end (a real daemon, the real shim, a temporary HOME): an agent's
//! environment cannot steer the shim away from the user's daemon or loosen its fail mode,
//! configured agent markers count, a hung daemon does not hang the commands that ask it, and a
//! thousand concurrent commands are each decided right. Refusals are proven by a marker file that
//! was never created.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use support::{Harness, feed, safeshell_exe, shim_exe, text};

/// `tool danger` is denied for agents; `tool ask` needs an agent's approval; `tool deny` is denied
/// for everyone.
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
name = "tool-deny"
commands = ["tool"]
action = "deny"
message = "tool deny is not allowed"
when = { positional = ["deny"] }
"#;

/// The config every harness starts with (approvals time out after 3 s unless `extra` says
/// otherwise), plus `extra`.
fn config(h: &Harness, extra: &str) {
    let approvals = if extra.contains("approval_timeout_secs") {
        ""
    } else {
        "approval_timeout_secs = 3\n"
    };
    std::fs::write(
        h.state.join("config.toml"),
        format!(
            "{approvals}watch_interval_ms = 100\nextra_shims = [\"tool\"]\n{}{extra}",
            h.markers_writable()
        ),
    )
    .unwrap();
}

/// The four variables an agent might use to get its commands run unchecked, each with a value
/// that would do it on a shim that believed them.
fn overrides(elsewhere: &Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "SAFESHELL_SOCKET",
            elsewhere.join("daemon.sock").display().to_string(),
        ),
        ("SAFESHELL_NO_AUTOSTART", "1".into()),
        ("SAFESHELL_ON_UNAVAILABLE", "allow".into()),
        ("SAFESHELL_HOME", elsewhere.display().to_string()),
    ]
}

/// The ways a process shows it is an agent's: the explicit context, a built-in marker.
const AGENT_ENVS: &[(&str, &str)] = &[("SAFESHELL_CONTEXT", "ai"), ("CLAUDECODE", "1")];

/// A copy of the shim with no `safeshell` beside it, so it cannot start a daemon: "no daemon
/// reachable" for real. Linked as `tool` in a directory returned for the front of PATH.
fn lonely_shim(h: &Harness) -> PathBuf {
    let dir = h.tmp.path().join("lonely");
    let links = dir.join("links");
    std::fs::create_dir_all(&links).unwrap();
    let copy = dir.join("safeshell-shim");
    if !copy.exists() {
        std::fs::copy(shim_exe(), &copy).unwrap();
        std::os::unix::fs::symlink(&copy, links.join("tool")).unwrap();
    }
    links
}

fn path_with_first(h: &Harness, dir: &Path) -> String {
    format!("{}:{}", dir.display(), h.path_var())
}

/// A stand-in agent program: a script named `claude` that runs its arguments as a child (not by
/// `exec`, so it stays their ancestor).
fn fake_agent(h: &Harness) -> PathBuf {
    let dir = h.tmp.path().join("agent");
    std::fs::create_dir_all(&dir).unwrap();
    let claude = dir.join("claude");
    support::write_executable(&claude, "#!/bin/sh\n\"$@\"\nstatus=$?\nexit $status\n");
    claude
}

fn refused(out: &Output, h: &Harness, marker: &str, case: &str) {
    assert_eq!(
        out.status.code(),
        Some(126),
        "{case}: not refused: {}",
        text(&out.stderr)
    );
    assert!(!h.marker(marker), "{case}: the command ran");
}

/// Sends `signal` to a process this test started.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// The state letter of a process (`T` when stopped).
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// Polls `check` until it holds or `limit` passes.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops the harness's daemon (SIGSTOP) and lets it go on (SIGCONT) when dropped, so that the
/// harness can kill it normally even after a failed assertion.
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Stopped {
        signal(pid, "STOP");
        let stopped = Stopped(pid);
        assert!(
            eventually(Duration::from_secs(10), || state_of(pid) == Some('T')),
            "the daemon did not stop"
        );
        stopped
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

/// Waits for a child's output for at most `limit`; kills it (it is ours) and fails if it takes
/// longer. Returns the output and how long it took from `started`.
fn output_within(
    child: Child,
    started: Instant,
    limit: Duration,
    what: &str,
) -> (Output, Duration) {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = tx.send((out, started.elapsed()));
    });
    match rx.recv_timeout(limit.saturating_sub(started.elapsed())) {
        Ok((out, took)) => (out.unwrap(), took),
        Err(_) => {
            signal(pid, "KILL");
            panic!("{what} did not return within {limit:?}");
        }
    }
}

/// A second daemon of the same user with no rules of its own, in its own temporary home: what an
/// agent could start and point `SAFESHELL_SOCKET` at. Killed when dropped.
struct OtherDaemon {
    child: Child,
    state: PathBuf,
}

impl OtherDaemon {
    fn start(h: &Harness) -> OtherDaemon {
        let home = h.tmp.path().join("other-home");
        let state = home.join(".safeshell");
        std::fs::create_dir_all(&state).unwrap();
        let log = std::fs::File::create(h.tmp.path().join("other-daemon.log")).unwrap();
        let child = h
            .command(safeshell_exe())
            .args(["daemon", "run"])
            .env("HOME", &home)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let other = OtherDaemon { child, state };
        let socket = other.socket();
        assert!(
            eventually(Duration::from_secs(20), || {
                std::os::unix::net::UnixStream::connect(&socket).is_ok()
            }),
            "the second daemon did not come up"
        );
        other
    }

    fn socket(&self) -> PathBuf {
        self.state.join("daemon.sock")
    }

    fn audited(&self) -> String {
        std::fs::read_to_string(self.state.join("audit.jsonl")).unwrap_or_default()
    }
}

impl Drop for OtherDaemon {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

// ---------------------------------------------------------------------------------------------
// Item 3: no environment variable weakens an agent's shim.

#[test]
fn an_agent_with_no_daemon_is_refused_whatever_its_environment_says() {
    let h = Harness::without_daemon(RULES);
    config(&h, "on_unavailable = \"deny\"\n");
    let lonely = lonely_shim(&h);
    let elsewhere = h.tmp.path().join("elsewhere");
    let mut n = 0;
    for (name, value) in overrides(&elsewhere) {
        for (agent, agent_value) in AGENT_ENVS {
            n += 1;
            let marker = format!("ran-{n}");
            let out = h
                .command("tool")
                .args(["ok", &format!("touch={marker}")])
                .env("PATH", path_with_first(&h, &lonely))
                .env(agent, agent_value)
                .env(name, &value)
                .output()
                .unwrap();
            let case = format!("{agent}={agent_value} {name}={value}");
            refused(&out, &h, &marker, &case);
            assert!(
                text(&out.stderr).contains("daemon is unavailable"),
                "{case}: {}",
                text(&out.stderr)
            );
        }
    }
    // All four at once, from an agent known only by its ancestry (a program named `claude`).
    let claude = fake_agent(&h);
    let out = h
        .command(&claude)
        .args(["tool", "ok", "touch=ancestry"])
        .env("PATH", path_with_first(&h, &lonely))
        .envs(overrides(&elsewhere))
        .output()
        .unwrap();
    refused(&out, &h, "ancestry", "agent ancestor, every override");
    // Nothing was started or written where the variables pointed.
    assert!(!elsewhere.exists());
}

#[test]
fn agents_fail_closed_by_default_and_people_fail_open() {
    let h = Harness::without_daemon(RULES);
    let lonely = lonely_shim(&h);
    let run = |marker: &str, env: &[(&str, &str)]| {
        h.command("tool")
            .args(["ok", &format!("touch={marker}")])
            .env("PATH", path_with_first(&h, &lonely))
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    // The defaults: a person's command runs with a warning, an agent's does not run.
    let out = run("person", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("person"));
    assert!(text(&out.stderr).contains("warning: daemon unavailable"));
    for (agent, value) in AGENT_ENVS {
        let marker = format!("agent-{agent}");
        let out = run(
            &marker,
            &[(agent, value), ("SAFESHELL_ON_UNAVAILABLE", "allow")],
        );
        refused(&out, &h, &marker, agent);
        assert!(
            text(&out.stderr).contains("on_unavailable_ai = \"deny\""),
            "{}",
            text(&out.stderr)
        );
    }
    // The variable may make an agent's fail mode stricter, never looser.
    config(&h, "on_unavailable_ai = \"allow\"\n");
    let out = run("agent-allowed", &[("SAFESHELL_CONTEXT", "ai")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("agent-allowed"));
    let out = run(
        "agent-stricter",
        &[
            ("SAFESHELL_CONTEXT", "ai"),
            ("SAFESHELL_ON_UNAVAILABLE", "deny"),
        ],
    );
    refused(&out, &h, "agent-stricter", "SAFESHELL_ON_UNAVAILABLE=deny");
    // The stricter of the two settings applies to agents.
    config(
        &h,
        "on_unavailable = \"deny\"\non_unavailable_ai = \"allow\"\n",
    );
    let out = run("agent-stricter-config", &[("CLAUDECODE", "1")]);
    refused(&out, &h, "agent-stricter-config", "on_unavailable = deny");
    // A marker configured in config.toml counts in the shim too.
    config(&h, "agent_env_markers = [\n  \"MY_AGENT\", # ours\n]\n");
    let out = run(
        "configured-marker",
        &[("MY_AGENT", "1"), ("SAFESHELL_ON_UNAVAILABLE", "allow")],
    );
    refused(&out, &h, "configured-marker", "MY_AGENT=1");
}

#[test]
fn an_agent_is_checked_by_the_users_daemon_whatever_its_environment_says() {
    let h = Harness::new(RULES);
    let other = OtherDaemon::start(&h);
    let elsewhere = h.tmp.path().join("elsewhere");
    let claude = fake_agent(&h);
    let mut n = 0;
    let mut cases: Vec<(&str, String)> = overrides(&elsewhere);
    // The permissive daemon the agent started itself.
    cases.push(("SAFESHELL_SOCKET", other.socket().display().to_string()));
    for (name, value) in &cases {
        for agent in ["SAFESHELL_CONTEXT", "CLAUDECODE", "ancestor"] {
            n += 1;
            let marker = format!("ran-{n}");
            let mut command = match agent {
                "ancestor" => {
                    let mut c = h.command(&claude);
                    c.arg("tool");
                    c
                }
                "SAFESHELL_CONTEXT" => {
                    let mut c = h.command("tool");
                    c.env(agent, "ai");
                    c
                }
                _ => {
                    let mut c = h.command("tool");
                    c.env(agent, "1");
                    c
                }
            };
            let out = command
                .args(["danger", &format!("touch={marker}")])
                .env(name, value)
                .output()
                .unwrap();
            let case = format!("{agent} {name}={value}");
            refused(&out, &h, &marker, &case);
            assert!(
                text(&out.stderr).contains("tool-danger"),
                "{case}: not decided by the user's daemon: {}",
                text(&out.stderr)
            );
        }
    }
    // The SHELL wrapper and a hook too.
    let out = h
        .command(shim_exe())
        .args(["-c", "tool danger touch=wrapper"])
        .env("SAFESHELL_CONTEXT", "ai")
        .env("SAFESHELL_SOCKET", other.socket())
        .output()
        .unwrap();
    refused(&out, &h, "wrapper", "wrapper");
    let out = hook(
        &h,
        "tool danger touch=hook",
        &[("SAFESHELL_SOCKET", other.socket().display().to_string())],
    );
    assert_eq!(hook_decision(&out), "deny", "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("tool-danger"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        other.audited().is_empty(),
        "an agent's command reached the other daemon: {}",
        other.audited()
    );
    // An agent's wrapper puts the user's shims first on PATH, wherever SAFESHELL_SHIMS_DIR says.
    std::fs::create_dir_all(&elsewhere).unwrap();
    let path_of = |agent: bool| {
        let mut c = h.command(shim_exe());
        c.args(["-c", "echo \"$PATH\""])
            .env("SAFESHELL_SHIMS_DIR", &elsewhere)
            .env("PATH", "/usr/bin:/bin");
        if agent {
            c.env("CLAUDECODE", "1");
        }
        text(&c.output().unwrap().stdout)
    };
    let shims_first = format!("{}:", h.shims().display());
    assert!(path_of(true).starts_with(&shims_first), "{}", path_of(true));
    // A person may point the shim elsewhere (that is what these variables are for).
    let elsewhere_first = format!("{}:", elsewhere.display());
    assert!(
        path_of(false).starts_with(&elsewhere_first),
        "{}",
        path_of(false)
    );
    let out = h
        .command("tool")
        .args(["danger", "touch=person"])
        .env("SAFESHELL_SOCKET", other.socket())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("person"));
    assert!(
        other.audited().contains("danger"),
        "a person's SAFESHELL_SOCKET was not used: {}",
        other.audited()
    );
}

#[test]
fn an_agent_starts_the_users_daemon_whatever_its_environment_says() {
    let h = Harness::without_daemon(RULES);
    let elsewhere = h.tmp.path().join("elsewhere");
    // The harness sets SAFESHELL_NO_AUTOSTART=1 on every command; an agent's shim ignores it, and
    // the daemon it starts serves the standard location, not SAFESHELL_HOME / SAFESHELL_SOCKET.
    let out = h
        .command("tool")
        .args(["danger", "touch=autostart"])
        .env("CLAUDECODE", "1")
        .envs(overrides(&elsewhere))
        .output()
        .unwrap();
    refused(&out, &h, "autostart", "autostart");
    assert!(
        text(&out.stderr).contains("tool-danger"),
        "{}",
        text(&out.stderr)
    );
    assert!(h.socket().exists(), "no daemon at the standard location");
    assert!(h.safeshell(&["daemon", "status"]).status.success());
    assert!(!elsewhere.exists(), "something was started elsewhere");
}

#[test]
fn a_person_may_still_use_the_overrides() {
    let h = Harness::without_daemon(RULES);
    config(&h, "on_unavailable = \"deny\"\n");
    // SAFESHELL_ON_UNAVAILABLE loosens a person's fail mode (the harness sets NO_AUTOSTART).
    let out = h
        .command("tool")
        .args(["ok", "touch=env-allow"])
        .env("SAFESHELL_ON_UNAVAILABLE", "allow")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("env-allow"));
    // SAFESHELL_HOME: the config there is read (it says nothing, so: allow).
    let elsewhere = h.tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = h
        .command("tool")
        .args(["ok", "touch=home-elsewhere"])
        .env("SAFESHELL_HOME", &elsewhere)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("home-elsewhere"));
    // SAFESHELL_NO_AUTOSTART: no daemon was started.
    assert!(!h.socket().exists());
    // SAFESHELL_SOCKET: asked there, not at the standard location.
    let out = h
        .command("tool")
        .args(["ok", "touch=socket-elsewhere"])
        .env("SAFESHELL_SOCKET", elsewhere.join("s.sock"))
        .env("SAFESHELL_ON_UNAVAILABLE", "allow")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&elsewhere.join("s.sock").display().to_string()),
        "{}",
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Item 5: markers configured in config.toml count.

#[test]
fn a_configured_marker_makes_a_command_an_agents() {
    let mut h = Harness::without_daemon(RULES);
    config(&h, "agent_env_markers = [\"MY_AGENT\"]\n");
    h.start_daemon();
    let out = h
        .command("tool")
        .args(["danger", "touch=marked"])
        .env("MY_AGENT", "1")
        .output()
        .unwrap();
    refused(&out, &h, "marked", "MY_AGENT=1");
    assert!(
        text(&out.stderr).contains("tool-danger"),
        "{}",
        text(&out.stderr)
    );
    // Built-in markers still count beside the configured one.
    let out = h
        .command("tool")
        .args(["danger", "touch=builtin"])
        .env("CODEX_SANDBOX", "seatbelt")
        .output()
        .unwrap();
    refused(&out, &h, "builtin", "CODEX_SANDBOX");
    // Without it: a person's command, which the rule does not cover; other variables count for
    // nothing.
    let out = h
        .command("tool")
        .args(["danger", "touch=unmarked"])
        .env("NOT_MY_AGENT", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("unmarked"));
    let sources: Vec<String> = h
        .audit()
        .iter()
        .filter_map(|r| r["context_source"].as_str().map(str::to_owned))
        .collect();
    assert!(
        sources.iter().any(|s| s == "marker MY_AGENT"),
        "{sources:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 8: a hung daemon does not hang its clients.

fn hook(h: &Harness, command: &str, env: &[(&str, String)]) -> Output {
    spawn_hook(h, command, env).wait_with_output().unwrap()
}

fn spawn_hook(h: &Harness, command: &str, env: &[(&str, String)]) -> Child {
    let payload = serde_json::json!({
        "session_id": "failsafe",
        "cwd": h.work,
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": { "command": command },
    })
    .to_string();
    let mut child = h
        .command(shim_exe())
        .args(["hook", "claude"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    feed(&mut child, payload.as_bytes());
    child
}

fn hook_decision(out: &Output) -> String {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {:?} / {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    v["hookSpecificOutput"]["permissionDecision"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn a_hung_daemon_does_not_hang_shims_wrappers_or_hooks() {
    let h = Harness::new(RULES);
    // Every client is connected while the daemon is stopped, and gives up within its deadline.
    let limit = Duration::from_secs(15);
    let stopped = Stopped::new(h.daemon_pid().unwrap());
    let started = Instant::now();
    let shim = h
        .command("tool")
        .args(["ok", "touch=shim"])
        .env("CLAUDECODE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let person = h
        .command("tool")
        .args(["ok", "touch=person"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let wrapper = h
        .command(shim_exe())
        .args(["-c", "tool ok touch=wrapper"])
        .env("CLAUDECODE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let hook = spawn_hook(&h, "tool ok touch=hook", &[]);
    let (shim, shim_took) = output_within(shim, started, limit, "the shim");
    let (person, _) = output_within(person, started, limit, "a person's shim");
    let (wrapper, _) = output_within(wrapper, started, limit, "the wrapper");
    let (hook, _) = output_within(hook, started, limit, "the hook");
    drop(stopped);
    refused(&shim, &h, "shim", "shim");
    // Connected, then no answer: refused even for a person (only "cannot connect" is the fail
    // mode's business).
    refused(&person, &h, "person", "person");
    refused(&wrapper, &h, "wrapper", "wrapper");
    assert_eq!(hook_decision(&hook), "deny", "{}", text(&hook.stderr));
    assert!(
        text(&shim.stderr).contains("did not answer within"),
        "{}",
        text(&shim.stderr)
    );
    eprintln!("a stopped daemon: the shim gave up after {shim_took:?}");
    // The daemon goes on serving once it runs again.
    let out = h
        .command("tool")
        .args(["ok", "touch=after"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("after"));
}

/// A hung daemon whose queue of unaccepted connections is full: a blocking `connect` would wait
/// forever. Clients give up at their deadline and the fail mode applies (an agent is refused; a
/// person's command runs with a warning, as `on_unavailable = "allow"` says).
#[test]
fn a_hung_daemon_with_a_full_queue_does_not_hang_clients() {
    let h = Harness::new(RULES);
    let stopped = Stopped::new(h.daemon_pid().unwrap());
    // Fill the queue from a thread: its blocking connects stop returning once the queue is full.
    let opened = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let filler = {
        let (socket, opened, stop) = (h.socket(), opened.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) && held.len() < 10_000 {
                match std::os::unix::net::UnixStream::connect(&socket) {
                    Ok(s) => held.push(s),
                    Err(_) => break,
                }
                opened.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (0, Instant::now());
    loop {
        let n = opened.load(Ordering::Relaxed);
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > Duration::from_millis(1500) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue never filled ({n} connections)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !filler.is_finished(),
        "the filler should be blocked in connect"
    );
    let limit = Duration::from_secs(15);
    let started = Instant::now();
    let agent = h
        .command("tool")
        .args(["ok", "touch=agent"])
        .env("CLAUDECODE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let person = h
        .command("tool")
        .args(["ok", "touch=person"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (agent, took) = output_within(agent, started, limit, "an agent's shim");
    let (person, _) = output_within(person, started, limit, "a person's shim");
    stop.store(true, Ordering::Relaxed);
    drop(stopped); // the daemon runs again, accepts the queue, and the filler ends
    filler.join().unwrap();
    refused(&agent, &h, "agent", "agent with a full queue");
    assert!(
        text(&agent.stderr).contains("queue is full"),
        "{}",
        text(&agent.stderr)
    );
    assert!(person.status.success(), "{}", text(&person.stderr));
    assert!(h.marker("person"));
    assert!(
        text(&person.stderr).contains("unchecked"),
        "{}",
        text(&person.stderr)
    );
    eprintln!(
        "a hung daemon with {} queued connections: the agent's shim gave up after {took:?}",
        opened.load(Ordering::Relaxed)
    );
}

#[test]
fn a_pending_approval_waits_past_the_answer_deadline_but_not_forever() {
    let mut h = Harness::without_daemon(RULES);
    config(&h, "approval_timeout_secs = 30\n");
    h.start_daemon();
    // A person approves after the answer deadline (5 s) has passed: the shim is still waiting.
    let child = h.spawn_agent("tool", &["ask", "touch=approved-late"]);
    let id = h.wait_for_pending();
    let pending_since = Instant::now();
    // Not synchronisation: the wait must outlast the answer deadline for the test to mean
    // anything.
    std::thread::sleep(Duration::from_secs(6));
    assert!(pending_since.elapsed() > Duration::from_secs(5));
    h.resolve("approve", &[], id);
    let (out, _) = output_within(child, Instant::now(), Duration::from_secs(30), "approved");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.marker("approved-late"));

    // The daemon hangs while an approval is pending: the shim gives up after the approval
    // timeout (here 3 s) plus the margin, and does not run the command.
    config(&h, "");
    h.kill_daemon();
    h.start_daemon();
    let child = h.spawn_agent("tool", &["ask", "touch=hung-approval"]);
    h.wait_for_pending();
    let stopped = Stopped::new(h.daemon_pid().unwrap());
    let (out, took) = output_within(child, Instant::now(), Duration::from_secs(60), "pending");
    drop(stopped);
    refused(&out, &h, "hung-approval", "approval, then a hung daemon");
    assert!(
        text(&out.stderr).contains("announcing the approval"),
        "{}",
        text(&out.stderr)
    );
    eprintln!("a daemon stopped during an approval: the shim gave up after {took:?}");
}

// ---------------------------------------------------------------------------------------------
// Load: a thousand concurrent commands through the real shim.

const LOAD_COMMANDS: usize = 1000;
const IN_FLIGHT: usize = 64;

/// Runs `LOAD_COMMANDS` commands, `IN_FLIGHT` at a time; even ones `ok`, odd ones `deny`. Returns
/// (index, exit code, latency) for each.
fn run_load(h: &Harness, program: &Path, tag: &str) -> Vec<(usize, Option<i32>, Duration)> {
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::with_capacity(LOAD_COMMANDS)));
    std::thread::scope(|scope| {
        for _ in 0..IN_FLIGHT {
            let (next, results) = (next.clone(), results.clone());
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= LOAD_COMMANDS {
                        return;
                    }
                    let verb = if i % 2 == 0 { "ok" } else { "deny" };
                    let start = Instant::now();
                    let status = h
                        .command(program)
                        .args([verb, &format!("touch={tag}-{i}")])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .unwrap();
                    let took = start.elapsed();
                    results.lock().unwrap().push((i, status.code(), took));
                }
            });
        }
    });
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|r| r.0);
    results
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i]
}

#[test]
fn a_thousand_concurrent_commands_are_each_decided_right() {
    let h = Harness::new(RULES);
    let started = Instant::now();
    let shimmed = run_load(&h, Path::new("tool"), "shim");
    let shim_wall = started.elapsed();
    assert_eq!(shimmed.len(), LOAD_COMMANDS, "commands were lost");
    let mut wrong = Vec::new();
    for (i, code, _) in &shimmed {
        let ran = h.marker(&format!("shim-{i}"));
        let right = if i % 2 == 0 {
            *code == Some(0) && ran
        } else {
            *code == Some(126) && !ran
        };
        if !right {
            wrong.push((*i, *code, ran));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {LOAD_COMMANDS} decided wrongly (index, exit code, ran): {:?}\n{}",
        wrong.len(),
        &wrong[..wrong.len().min(20)],
        h.log()
    );
    // The same commands run directly (the real `tool`, no shim), for comparison. The direct
    // `deny` ones run too: they are harmless markers in the temporary directory.
    let started = Instant::now();
    let direct = run_load(&h, &h.bin.join("tool"), "direct");
    let direct_wall = started.elapsed();
    assert_eq!(direct.len(), LOAD_COMMANDS);
    let sorted = |r: &[(usize, Option<i32>, Duration)]| {
        let mut v: Vec<Duration> = r.iter().map(|x| x.2).collect();
        v.sort();
        v
    };
    let (s, d) = (sorted(&shimmed), sorted(&direct));
    eprintln!(
        "load: {LOAD_COMMANDS} commands, {IN_FLIGHT} in flight, on {} CPUs: \
         through the shim p50 {:.1} ms, p99 {:.1} ms ({:.1} s in all); \
         direct p50 {:.1} ms, p99 {:.1} ms ({:.1} s in all)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        percentile(&s, 50.0).as_secs_f64() * 1e3,
        percentile(&s, 99.0).as_secs_f64() * 1e3,
        shim_wall.as_secs_f64(),
        percentile(&d, 50.0).as_secs_f64() * 1e3,
        percentile(&d, 99.0).as_secs_f64() * 1e3,
        direct_wall.as_secs_f64(),
    );
    // The daemon's own share: its decision time for each, from the audit log.
    let mut decided: Vec<Duration> = h
        .audit()
        .iter()
        .filter_map(|r| r["latency_us"].as_u64())
        .map(Duration::from_micros)
        .collect();
    decided.sort();
    if !decided.is_empty() {
        eprintln!(
            "load: the daemon's decision time (audit, {} decisions): p50 {:.2} ms, p99 {:.2} ms",
            decided.len(),
            percentile(&decided, 50.0).as_secs_f64() * 1e3,
            percentile(&decided, 99.0).as_secs_f64() * 1e3,
        );
    }
}
