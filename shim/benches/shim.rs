//! Whole-process benchmarks of the shim against a real daemon: `true` run directly, through a
//! process that only `execve`s it (`env true`, the floor), through the shim (allowed), a denied
//! command, an approval resolved at once by a client thread, and an agent-hook call.
//! Needs the `safeshell` binary built next to the shim (`cargo bench --workspace` does that).

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use divan::Bencher;
use safeshell_protocol::{
    self as proto, ApprovalResolution, ApprovalVerdict, ClientKind, Hello, HelloReply, Request,
    Response,
};

fn main() {
    divan::main();
}

const RULES: &str = r#"
[[rules]]
name = "true-no"
commands = ["true"]
action = "deny"
when = { positional = ["no"] }

[[rules]]
name = "true-ask"
commands = ["true"]
action = "require_approval"
when = { positional = ["ask"] }
"#;

struct Setup {
    dir: tempfile::TempDir,
    daemon: Child,
    shim_true: PathBuf,
    real_true: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        Setup::with_config("")
    }

    /// A set-up whose `config.toml` holds `config`, with a home directory populated like a
    /// developer's (the containment profile walks it: its cost grows with the entries).
    fn with_config(config: &str) -> Setup {
        let shim = PathBuf::from(env!("CARGO_BIN_EXE_safeshell-shim"));
        let safeshell = shim.with_file_name("safeshell");
        assert!(
            safeshell.is_file(),
            "{} is missing: build it (`cargo build -p safeshell`, or `cargo bench --workspace`)",
            safeshell.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".safeshell");
        let shims = state.join("shims");
        std::fs::create_dir_all(&shims).unwrap();
        std::fs::write(state.join("rules.toml"), RULES).unwrap();
        std::fs::write(state.join("config.toml"), config).unwrap();
        typical_home(dir.path());
        std::os::unix::fs::symlink(&shim, shims.join("true")).unwrap();
        let daemon = Command::new(&safeshell)
            .args(["daemon", "run"])
            .env("HOME", dir.path())
            .env_remove("SAFESHELL_HOME")
            .env_remove("SAFESHELL_SOCKET")
            .env_remove("XDG_RUNTIME_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let real_true = ["/usr/bin/true", "/bin/true"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap();
        let s = Setup {
            shim_true: shims.join("true"),
            dir,
            daemon,
            real_true,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while connect(&s.socket()).is_err() {
            assert!(Instant::now() < deadline, "daemon did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        s
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join(".safeshell/daemon.sock")
    }

    fn run(&self, program: &Path, args: &[&str]) -> std::process::ExitStatus {
        self.run_with(program, args, &[])
    }

    fn run_with(
        &self,
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
    ) -> std::process::ExitStatus {
        Command::new(program)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("HOME", self.dir.path())
            .env(
                "PATH",
                format!(
                    "{}:/usr/bin:/bin",
                    self.dir.path().join(".safeshell/shims").display()
                ),
            )
            .env("SAFESHELL_NO_AUTOSTART", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.daemon.kill().ok();
        self.daemon.wait().ok();
    }
}

/// About 40 entries, as in a developer's home: dotfiles, tool directories, secrets, `.config`.
fn typical_home(home: &Path) {
    for d in [
        ".ssh",
        ".aws",
        ".gnupg",
        ".cache",
        ".cargo/registry",
        ".rustup",
        ".npm",
        ".local/share",
        ".vscode",
        ".docker",
        "code",
        "Documents",
        "Downloads",
    ] {
        std::fs::create_dir_all(home.join(d)).unwrap();
    }
    for i in 0..12 {
        std::fs::create_dir_all(home.join(format!(".config/app{i}"))).unwrap();
    }
    std::fs::create_dir_all(home.join(".config/gh")).unwrap();
    for f in [
        ".bashrc",
        ".profile",
        ".bash_history",
        ".gitconfig",
        ".npmrc",
        ".netrc",
        ".viminfo",
        ".lesshst",
        ".wget-hsts",
        ".python_history",
        ".zshrc",
        ".inputrc",
    ] {
        std::fs::write(home.join(f), "x").unwrap();
    }
}

fn connect(socket: &Path) -> std::io::Result<(UnixStream, Vec<u8>)> {
    let mut stream = UnixStream::connect(socket)?;
    let mut buf = Vec::new();
    proto::write_frame(&mut stream, &Hello::new(ClientKind::Cli, "bench"), &mut buf)
        .map_err(std::io::Error::other)?;
    let _: HelloReply = proto::read_message(&mut stream, &mut buf)
        .map_err(std::io::Error::other)?
        .ok_or(std::io::ErrorKind::UnexpectedEof)?;
    Ok((stream, buf))
}

#[divan::bench(sample_count = 100)]
fn direct(bencher: Bencher) {
    let s = Setup::new();
    bencher.bench_local(|| assert!(s.run(&s.real_true, &[]).success()));
}

/// The floor: a process that only `execve`s the real program.
#[divan::bench(sample_count = 100)]
fn exec_floor(bencher: Bencher) {
    let s = Setup::new();
    let env = ["/usr/bin/env", "/bin/env"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap();
    let real = s.real_true.to_string_lossy().into_owned();
    bencher.bench_local(|| assert!(s.run(&env, &[&real]).success()));
}

#[divan::bench(sample_count = 100)]
fn shim_allowed(bencher: Bencher) {
    let s = Setup::new();
    bencher.bench_local(|| assert!(s.run(&s.shim_true, &[]).success()));
}

/// An environment the size of a developer's shell (the benches above run with four variables):
/// 40 variables of about 60 bytes and one of 1.5 KB, like `LS_COLORS`. The shim sends the names of
/// its variables to the daemon as possible agent markers.
fn typical_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                format!("TYPICAL_VARIABLE_{i:02}"),
                format!("/home/someone/.local/share/something/{i:024}"),
            )
        })
        .collect();
    env.push(("LS_COLORS".into(), "di=01;34:ln=01;36:".repeat(80)));
    env
}

#[divan::bench(sample_count = 100)]
fn shim_allowed_typical_env(bencher: Bencher) {
    let s = Setup::new();
    let env = typical_env();
    bencher.bench_local(|| assert!(s.run_with(&s.shim_true, &[], &env).success()));
}

/// Another build of the shim to compare with in the same run (same daemon, same machine load):
/// `SAFESHELL_BENCH_BASELINE_SHIM=/path/to/safeshell-shim` (it must speak this protocol version).
/// Without it, these measure this build again.
fn baseline_true(s: &Setup) -> PathBuf {
    let Some(other) = std::env::var_os("SAFESHELL_BENCH_BASELINE_SHIM") else {
        return s.shim_true.clone();
    };
    let dir = s.dir.path().join("baseline");
    let link = dir.join("true");
    if !link.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(other, &link).unwrap();
    }
    link
}

#[divan::bench(sample_count = 100)]
fn baseline_shim_allowed(bencher: Bencher) {
    let s = Setup::new();
    let shim = baseline_true(&s);
    bencher.bench_local(|| assert!(s.run(&shim, &[]).success()));
}

#[divan::bench(sample_count = 100)]
fn baseline_shim_allowed_typical_env(bencher: Bencher) {
    let s = Setup::new();
    let shim = baseline_true(&s);
    let env = typical_env();
    bencher.bench_local(|| assert!(s.run_with(&shim, &[], &env).success()));
}

/// An agent's allowed command, run contained (Landlock: the shim builds the profile and
/// restricts itself before `execve`). Compare with [`shim_agent_uncontained`], same run.
#[divan::bench(sample_count = 100)]
fn shim_agent_contained(bencher: Bencher) {
    let s = Setup::new();
    let env = [("SAFESHELL_CONTEXT".to_owned(), "ai".to_owned())];
    bencher.bench_local(|| assert!(s.run_with(&s.shim_true, &[], &env).success()));
}

/// The same agent's command with `containment = "off"`.
#[divan::bench(sample_count = 100)]
fn shim_agent_uncontained(bencher: Bencher) {
    let s = Setup::with_config("containment = \"off\"\n");
    let env = [("SAFESHELL_CONTEXT".to_owned(), "ai".to_owned())];
    bencher.bench_local(|| assert!(s.run_with(&s.shim_true, &[], &env).success()));
}

#[divan::bench(sample_count = 100)]
fn shim_denied(bencher: Bencher) {
    let s = Setup::new();
    bencher.bench_local(|| assert_eq!(s.run(&s.shim_true, &["no"]).code(), Some(126)));
}

/// A Claude Code hook call: process start, stdin JSON, round trip, JSON answer (allowed command).
#[divan::bench(sample_count = 100)]
fn hook_call_claude(bencher: Bencher) {
    use std::io::Write;
    let s = Setup::new();
    let shim = PathBuf::from(env!("CARGO_BIN_EXE_safeshell-shim"));
    let payload = br#"{"session_id":"b","cwd":"/","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"git status --short"}}"#;
    bencher.bench_local(|| {
        let mut child = Command::new(&shim)
            .args(["hook", "claude"])
            .env_clear()
            .env("HOME", s.dir.path())
            .env("SAFESHELL_NO_AUTOSTART", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(payload).unwrap();
        assert!(child.wait().unwrap().success());
    });
}

/// An approval resolved by a client thread as soon as it is listed.
#[divan::bench(sample_count = 30)]
fn shim_approval_resolved_at_once(bencher: Bencher) {
    let s = Setup::new();
    let stop = Arc::new(AtomicBool::new(false));
    let approver = {
        let stop = stop.clone();
        let socket = s.socket();
        std::thread::spawn(move || {
            let (mut stream, mut buf) = connect(&socket).unwrap();
            while !stop.load(Ordering::Relaxed) {
                proto::write_frame(&mut stream, &Request::ListPending, &mut buf).unwrap();
                let Ok(Some(Response::Pending(list))) = proto::read_message(&mut stream, &mut buf)
                else {
                    break;
                };
                for p in list {
                    let r = Request::Resolve(ApprovalResolution {
                        approval_id: p.approval_id,
                        verdict: ApprovalVerdict::ApproveOnce,
                        reason: None,
                    });
                    proto::write_frame(&mut stream, &r, &mut buf).unwrap();
                    let _: Option<Response> = proto::read_message(&mut stream, &mut buf).unwrap();
                }
                std::thread::sleep(Duration::from_micros(100));
            }
        })
    };
    bencher.bench_local(|| assert!(s.run(&s.shim_true, &["ask"]).success()));
    stop.store(true, Ordering::Relaxed);
    approver.join().unwrap();
}
