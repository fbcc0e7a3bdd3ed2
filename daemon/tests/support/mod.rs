//! A real SafeShell installation in a temporary HOME: the daemon as a child process, shims made by
//! `safeshell init`, and a harmless stand-in program `tool` that records what it was asked to do.
//! Nothing outside the temporary directory is read or written.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Harness {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub state: PathBuf,
    pub bin: PathBuf,
    pub work: PathBuf,
    daemon: Option<Child>,
    /// Extra environment for every command (e.g. `SAFESHELL_SOCKET`); see [`Harness::set_env`].
    env: Vec<(String, String)>,
}

pub fn safeshell_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_safeshell"))
}

pub fn shim_exe() -> PathBuf {
    let shim = safeshell_exe().with_file_name("safeshell-shim");
    assert!(
        shim.is_file(),
        "{} is missing: `cargo test --workspace` builds it (the shim crate has integration tests); \
         or run `cargo build -p safeshell-shim`",
        shim.display()
    );
    shim
}

/// The stand-in program: prints its arguments, pid and parent pid, echoes stdin when asked,
/// writes to stderr, creates a marker file named by `touch=NAME`, and exits with `exit=N`.
const TOOL: &str = r#"#!/bin/sh
echo "tool args: $*"
echo "tool pid: $$ ppid: $PPID"
for a in "$@"; do
  case "$a" in
    stdin) cat ;;
    tty) if [ -t 0 ]; then echo "stdin is a tty"; else echo "stdin is not a tty"; fi ;;
    stderr) echo "tool to stderr" >&2 ;;
    touch=*) : > "$TOOL_MARKERS/${a#touch=}" ;;
    exit=*) exit "${a#exit=}" ;;
    sleep=*) sleep "${a#sleep=}" ;;
  esac
done
exit 0
"#;

impl Harness {
    /// A fresh installation: config (short approval timeout, fast reload), optional global
    /// rules, `safeshell init`, and a running daemon.
    pub fn new(global_rules: &str) -> Harness {
        let h = Harness::without_daemon(global_rules);
        let mut h = h;
        h.start_daemon();
        h
    }

    /// Like [`Harness::new`], for tests where a person resolves approvals: the approval timeout
    /// is 60 s instead of 3 s, so a loaded machine cannot expire an approval before the test's
    /// resolution arrives (tests that need an approval to expire keep the short one).
    pub fn patient(global_rules: &str) -> Harness {
        let mut h = Harness::without_daemon(global_rules);
        let config = h.state.join("config.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replace(
                "approval_timeout_secs = 3\n",
                "approval_timeout_secs = 60\n",
            ),
        )
        .unwrap();
        h.start_daemon();
        h
    }

    /// Polls `check` every 50 ms until it holds; fails the test with `what` and the daemon's
    /// log after `limit`.
    pub fn eventually(&self, what: &str, limit: Duration, check: &dyn Fn() -> bool) {
        let deadline = Instant::now() + limit;
        while !check() {
            assert!(
                Instant::now() < deadline,
                "never happened: {what}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn without_daemon(global_rules: &str) -> Harness {
        // Under the target directory, beside the build, rather than the system temp directory.
        let tmp = tempfile::Builder::new()
            .prefix("ss")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let home = tmp.path().join("home");
        let state = home.join(".safeshell");
        let bin = tmp.path().join("bin");
        let work = tmp.path().join("work");
        for d in [&home, &bin, &work, &tmp.path().join("markers")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(
            state.join("config.toml"),
            format!(
                "approval_timeout_secs = 3\nwatch_interval_ms = 100\nextra_shims = [\"tool\"]\n{}",
                markers_writable(tmp.path())
            ),
        )
        .unwrap();
        std::fs::write(state.join("rules.toml"), global_rules).unwrap();
        write_executable(&bin.join("tool"), TOOL);
        // The work directory is a repository of its own, so nothing looks past the temporary
        // directory for a project root (the checkout these tests run in is a repository too).
        let git = Command::new("git")
            .args(["init", "-q", "-b", "feature"])
            .current_dir(&work)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(git.success(), "git init failed");
        let h = Harness {
            tmp,
            home,
            state,
            bin,
            work,
            daemon: None,
            env: Vec::new(),
        };
        let out = h.safeshell(&["init"]);
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        h
    }

    /// The config line that lets agents' contained commands write the markers directory (see
    /// [`markers_writable`]), for tests that write their own `config.toml`.
    pub fn markers_writable(&self) -> String {
        markers_writable(self.tmp.path())
    }

    pub fn markers(&self) -> PathBuf {
        self.tmp.path().join("markers")
    }

    pub fn marker(&self, name: &str) -> bool {
        self.markers().join(name).exists()
    }

    pub fn shims(&self) -> PathBuf {
        self.state.join("shims")
    }

    pub fn socket(&self) -> PathBuf {
        self.state.join("daemon.sock")
    }

    pub fn path_var(&self) -> String {
        format!(
            "{}:{}:/usr/local/bin:/usr/bin:/bin",
            self.shims().display(),
            self.bin.display()
        )
    }

    /// A command with a clean environment pointing at this installation.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("HOME", &self.home)
            .env("PATH", self.path_var())
            .env("TOOL_MARKERS", self.markers())
            .env("SAFESHELL_NO_AUTOSTART", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.work)
            .stdin(Stdio::null());
        c
    }

    /// Sets an environment variable for every command from now on, the daemon's included.
    pub fn set_env(&mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) {
        let value = value.as_ref().to_string_lossy().into_owned();
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value));
    }

    pub fn safeshell(&self, args: &[&str]) -> Output {
        self.command(safeshell_exe()).args(args).output().unwrap()
    }

    /// Starts `program args…` as an agent's command (`SAFESHELL_CONTEXT=ai`) with stdout and
    /// stderr captured, without waiting for it (it may be held for approval).
    pub fn spawn_agent(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Child {
        self.command(program)
            .args(args)
            .env("SAFESHELL_CONTEXT", "ai")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Resolves a pending approval as a person would, with `safeshell approvals VERB [FLAGS…]
    /// ID`; fails the test (with the command's stderr) if that fails.
    pub fn resolve(&self, verb: &str, flags: &[&str], id: u64) {
        let id = id.to_string();
        let args: Vec<&str> = ["approvals", verb]
            .into_iter()
            .chain(flags.iter().copied())
            .chain([id.as_str()])
            .collect();
        let out = self.safeshell(&args);
        assert!(
            out.status.success(),
            "`safeshell {}` failed: {}",
            args.join(" "),
            text(&out.stderr)
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.join("daemon.log")).unwrap_or_default()
    }

    pub fn start_daemon(&mut self) {
        self.start_daemon_with(&[]);
    }

    pub fn start_daemon_with(&mut self, env: &[(&str, &str)]) {
        let mut command = self.command(safeshell_exe());
        command.args(["daemon", "run"]).envs(env.iter().copied());
        self.start_daemon_as(command);
    }

    /// Starts the daemon after running `setup` in the `sh` that then becomes it (e.g. `ulimit`).
    /// `/bin/sh` by its path: a shim named `sh` would ask the daemon that is not running yet.
    pub fn start_daemon_after(&mut self, setup: &str) {
        let mut command = self.command("/bin/sh");
        command
            .arg("-c")
            .arg(format!("{setup}; exec \"$0\" daemon run"))
            .arg(safeshell_exe());
        self.start_daemon_as(command);
    }

    fn start_daemon_as(&mut self, mut command: Command) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state.join("daemon.log"))
            .unwrap();
        let child = command
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        self.wait_until_up();
    }

    pub fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.safeshell(&["daemon", "status"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon did not come up:\n{}", self.log());
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// Kills the daemon with SIGKILL (a crash) and reaps it.
    pub fn kill_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// Pending approvals as (id, command).
    pub fn pending(&self) -> Vec<(u64, String)> {
        let out = self.safeshell(&["approvals", "list", "--json"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["id"].as_u64().unwrap(),
                    v["command"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// Waits for exactly one pending approval and returns its id.
    pub fn wait_for_pending(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some((id, _)) = self.pending().first() {
                return *id;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no approval became pending:\n{}", self.log());
    }

    pub fn audit(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.state.join("audit.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            c.kill().ok();
            c.wait().ok();
        }
        // A daemon autostarted by a shim is not our child: stop it through its pid file.
        if let Ok(pid) = std::fs::read_to_string(self.state.join("daemon.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            let _ = Command::new("kill")
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Agents' commands run contained (Landlock): the stand-in program's marker directory is outside
/// the project, so the harness's config makes it writable with this line.
pub fn markers_writable(tmp: &Path) -> String {
    format!("containment_writable = [{:?}]\n", tmp.join("markers"))
}

pub fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Writes `input` to a child's stdin and closes it. A child that exits (or closes stdin) before
/// reading all of it is not an error here: its exit status and output are what tests assert, and
/// whether the write or the exit happens first is up to the scheduler.
pub fn feed(child: &mut Child, input: &[u8]) {
    use std::io::Write;
    let mut stdin = child.stdin.take().expect("stdin must be piped");
    match stdin.write_all(input) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("writing to the child's stdin: {e}"),
    }
}

/// Runs `command` with `input` on its stdin and stdout/stderr captured; see [`feed`].
pub fn output_with_stdin(command: &mut Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    feed(&mut child, input);
    child.wait_with_output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
