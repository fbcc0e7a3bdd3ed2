//! A real SafeShell daemon in a temporary home, and a protocol client for it: what the
//! whole-process figures and the regression tests measure against. Nothing of the user's own
//! set-up is read or touched: `HOME` is a fresh temporary directory and the socket lives in it.

use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use safeshell_protocol::{
    self as proto, CheckRequest, ClientKind, CommandSpec, ContextHints, Hello, HelloReply, Request,
    Response, StatusReport, Surface,
};

use crate::workspace;

/// How long a daemon may take to answer its first ping.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// `n` synthetic rules, each naming its own program (`tool<i>`) with a regex condition, as the
/// daemon bench writes them: realistic compile cost, and only `tool<i>` commands are candidates.
pub fn synthetic_rules(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[[rules]]\nname = \"r{i}\"\ncommands = [\"tool{i}\"]\naction = \"deny\"\n\
                 when = {{ regex = '--opt{i}( |$)' }}\n"
            )
        })
        .collect()
}

/// A daemon started from `safeshell daemon run` in a temporary `HOME`; killed on drop.
pub struct TempDaemon {
    dir: tempfile::TempDir,
    child: Child,
    /// When the process was spawned.
    pub spawned: Instant,
}

impl TempDaemon {
    /// Writes `rules_toml` as the global rules file and spawns the daemon (does not wait).
    pub fn spawn(safeshell: &Path, rules_toml: &str, echo: bool) -> Result<TempDaemon> {
        let dir = tempfile::Builder::new()
            .prefix("safeshell-xtask-")
            .tempdir()
            .context("cannot create a temporary home")?;
        let state = dir.path().join(".safeshell");
        std::fs::create_dir_all(&state)
            .with_context(|| format!("cannot create {}", state.display()))?;
        std::fs::write(state.join("rules.toml"), rules_toml).context("cannot write rules.toml")?;
        let log = File::create(dir.path().join("daemon.stderr"))
            .context("cannot create the daemon log")?;
        let mut cmd = Command::new(safeshell);
        cmd.args(["daemon", "run"])
            .env("HOME", dir.path())
            .env_remove("SAFESHELL_HOME")
            .env_remove("SAFESHELL_SOCKET")
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if echo {
            workspace::echo(&cmd);
        }
        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", safeshell.display()))?;
        Ok(TempDaemon {
            dir,
            child,
            spawned,
        })
    }

    /// Spawns the daemon and waits for its first answer.
    pub fn start(safeshell: &Path, rules_toml: &str) -> Result<TempDaemon> {
        let mut d = TempDaemon::spawn(safeshell, rules_toml, true)?;
        d.wait_ready(Duration::from_millis(1))?;
        Ok(d)
    }

    /// Polls the socket (connect, handshake, ping) every `poll` until the daemon answers;
    /// returns the time from spawn to the first answer.
    pub fn wait_ready(&mut self, poll: Duration) -> Result<Duration> {
        let deadline = self.spawned + START_TIMEOUT;
        loop {
            if let Ok(mut c) = Conn::open(&self.socket(), ClientKind::Cli)
                && c.ping().unwrap_or(false)
            {
                return Ok(self.spawned.elapsed());
            }
            if let Some(status) = self.child.try_wait().context("cannot poll the daemon")? {
                bail!(
                    "the daemon exited ({status}) before answering; its log:\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "the daemon did not answer within {START_TIMEOUT:?}; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(poll);
        }
    }

    /// The temporary home.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// The daemon's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join(".safeshell").join("daemon.sock")
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.stderr")).unwrap_or_default()
    }

    /// The daemon's status report.
    pub fn status(&self) -> Result<StatusReport> {
        let mut c = Conn::open(&self.socket(), ClientKind::Cli)?;
        match c.call(&Request::Status)? {
            Response::Status(s) => Ok(s),
            other => bail!("unexpected answer to a status request: {other:?}"),
        }
    }
}

impl Drop for TempDaemon {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// One client connection after the handshake.
pub struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects and performs the `Hello` handshake.
    pub fn open(socket: &Path, kind: ClientKind) -> Result<Conn> {
        let mut stream = UnixStream::connect(socket)
            .with_context(|| format!("cannot connect to {}", socket.display()))?;
        let mut buf = Vec::with_capacity(512);
        proto::write_frame(&mut stream, &Hello::new(kind, "xtask"), &mut buf)
            .context("cannot send the handshake")?;
        let reply: HelloReply = proto::read_message(&mut stream, &mut buf)
            .context("cannot read the handshake reply")?
            .context("the daemon closed the connection during the handshake")?;
        if !reply.accepted {
            bail!(
                "the daemon refused the handshake (daemon protocol {}, ours {}); rebuild both from the same tree",
                reply.version,
                proto::PROTOCOL_VERSION
            );
        }
        Ok(Conn { stream, buf })
    }

    /// Sends one request and reads one response.
    pub fn call(&mut self, req: &Request) -> Result<Response> {
        proto::write_frame(&mut self.stream, req, &mut self.buf)
            .context("cannot send a request")?;
        proto::read_message(&mut self.stream, &mut self.buf)
            .context("cannot read a response")?
            .context("the daemon closed the connection")
    }

    /// Whether the daemon answers a ping.
    pub fn ping(&mut self) -> Result<bool> {
        Ok(matches!(self.call(&Request::Ping)?, Response::Pong))
    }

    /// Sends a check and returns the decision.
    pub fn check(&mut self, req: &Request) -> Result<proto::Decision> {
        match self.call(req)? {
            Response::Decision(d) => Ok(d),
            other => bail!("unexpected answer to a check: {other:?}"),
        }
    }
}

/// A check request as a PATH shim sends it (this process as the client, `cwd` `/`).
pub fn check_request(command: CommandSpec) -> Request {
    Request::Check(CheckRequest {
        command,
        cwd: "/".into(),
        surface: Surface::PathShim,
        client_pid: std::process::id(),
        hints: ContextHints::default(),
        env: vec![("HOME".into(), "/nonexistent".into())],
        token: None,
        approval: Default::default(),
        approval_timeout_secs: None,
    })
}

/// An argv check request.
pub fn argv_request(argv: &[&str]) -> Request {
    check_request(CommandSpec::Argv(
        argv.iter().map(|s| (*s).to_owned()).collect(),
    ))
}

/// The first of `candidates` that is a file.
pub fn first_file(candidates: &[&str]) -> Result<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .with_context(|| format!("none of {candidates:?} exists"))
}
