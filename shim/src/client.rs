//! Asking the daemon: connect (starting it if needed), handshake, one check, its decision, each
//! within a deadline so that a hung daemon cannot hang the commands that ask it.

use std::io::{BufReader, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use safeshell_protocol::{
    self as proto, CheckRequest, ClientKind, Decision, Hello, HelloReply, Request, Response,
    Surface, check_versions,
};

use crate::{agent, locate};

/// How long a shim waits for a daemon it started to answer.
pub const AUTOSTART_WAIT: Duration = Duration::from_secs(3);

/// How long a client waits for the daemon's answer once connected (its handshake and decision
/// together). Past it the exchange failed, and a failed exchange never runs the command. A
/// decision waiting for a person is given longer: see [`APPROVAL_MARGIN`].
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Once the daemon has announced that a person must approve, the client waits for the final
/// answer up to the approval timeout (the request's, else `approval_timeout_secs` in config.toml,
/// else [`DEFAULT_APPROVAL_TIMEOUT_SECS`]) plus this margin; the daemon answers a timed-out
/// approval itself, so the margin only matters when the daemon hangs.
pub const APPROVAL_MARGIN: Duration = Duration::from_secs(15);

/// The daemon's default `approval_timeout_secs`.
pub const DEFAULT_APPROVAL_TIMEOUT_SECS: u64 = 300;

/// Writes larger than this get a send deadline too (a smaller one fits in the socket's buffer,
/// so it never waits for the daemon).
const SMALL_WRITE: usize = 64 * 1024;

fn connect() -> Result<UnixStream, String> {
    let socket = locate::socket_path().ok_or("no socket path (set HOME or SAFESHELL_SOCKET)")?;
    // A daemon that stopped accepting (hung, with its queue full) must not hang the command: the
    // connect has the same deadline as an answer, and past it the fail mode applies.
    match crate::connect::connect(&socket, Instant::now() + ANSWER_TIMEOUT) {
        Ok(s) => Ok(s),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            autostart().map_err(|e| format!("{e}; socket {}", socket.display()))?;
            let deadline = Instant::now() + AUTOSTART_WAIT;
            loop {
                match crate::connect::connect(&socket, deadline) {
                    Ok(s) => return Ok(s),
                    Err(e) if Instant::now() >= deadline => {
                        return Err(format!("cannot connect to {}: {e}", socket.display()));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        Err(e) => Err(format!("cannot connect to {}: {e}", socket.display())),
    }
}

/// Starts the daemon with the `safeshell` binary installed next to this shim. A person may turn
/// this off with `SAFESHELL_NO_AUTOSTART`; an agent may not, and the daemon it starts serves the
/// standard location whatever the agent's environment says.
fn autostart() -> Result<(), String> {
    if agent::honoured("SAFESHELL_NO_AUTOSTART", || None).is_some() {
        return Err(
            "the daemon is not running (autostart disabled by SAFESHELL_NO_AUTOSTART)".into(),
        );
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let safeshell = exe.with_file_name("safeshell");
    if !safeshell.is_file() {
        return Err(format!(
            "the daemon is not running and {} does not exist to start it",
            safeshell.display()
        ));
    }
    let mut command = Command::new(&safeshell);
    command
        .args(["daemon", "start", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if agent::any_override_set() && agent::is_agent() {
        for name in agent::OVERRIDES {
            command.env_remove(name);
        }
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot start the daemon: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`safeshell daemon start` failed ({status})"))
    }
}

/// Why no decision came back.
pub enum AskError {
    /// The daemon could not be reached (even after trying to start it): the fail mode applies.
    Unavailable(String),
    /// The daemon was reached but the exchange failed (it crashed, refused us, or answered
    /// nonsense). Never treated as "allow": a crash during an approval must not approve.
    Failed(String),
}

/// Sends a check and returns the final decision. While an approval is pending it prints the
/// daemon's waiting message on stderr and keeps waiting.
pub fn ask(request: &CheckRequest) -> Result<Decision, AskError> {
    let mut stream = connect().map_err(AskError::Unavailable)?;
    exchange(&mut stream, request).map_err(AskError::Failed)
}

/// The answer's deadline, enforced on every read: `SO_RCVTIMEO` is set once for the whole
/// answer (one system call) and set again only when less than half of it is left, so a daemon
/// that trickles bytes cannot stretch the wait either. The clock is read without a system call.
struct Deadline<'a> {
    stream: &'a UnixStream,
    at: Instant,
    /// The receive timeout currently set on the socket.
    set: Duration,
    /// What to say when it passes.
    what: String,
}

impl<'a> Deadline<'a> {
    fn new(stream: &'a UnixStream, wait: Duration, what: String) -> std::io::Result<Self> {
        stream.set_read_timeout(Some(wait))?;
        Ok(Deadline {
            stream,
            at: Instant::now() + wait,
            set: wait,
            what,
        })
    }

    /// Moves the deadline (an approval was announced: wait for the person).
    fn extend(&mut self, wait: Duration, what: String) -> std::io::Result<()> {
        self.stream.set_read_timeout(Some(wait))?;
        self.at = Instant::now() + wait;
        self.set = wait;
        self.what = what;
        Ok(())
    }

    fn passed(&self) -> std::io::Error {
        std::io::Error::new(ErrorKind::TimedOut, self.what.clone())
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.passed());
        }
        if left < self.set / 2 {
            self.stream.set_read_timeout(Some(left))?;
            self.set = left;
        }
        loop {
            // Through `recvmsg`: the daemon may attach a containment ruleset to its answer.
            match crate::contain::recv(self.stream, buf) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(self.passed());
                }
                other => return other,
            }
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// How long to wait for a person once the daemon announced an approval.
fn approval_wait(request: &CheckRequest) -> Duration {
    let configured = locate::config_value("approval_timeout_secs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_APPROVAL_TIMEOUT_SECS);
    let secs = request
        .approval_timeout_secs
        .map_or(configured, |t| configured.min(u64::from(t)));
    Duration::from_secs(secs) + APPROVAL_MARGIN
}

fn exchange(stream: &mut UnixStream, request: &CheckRequest) -> Result<Decision, String> {
    let kind = match request.surface {
        Surface::ShellWrapper => ClientKind::ShellWrapper,
        Surface::AgentHook { .. } => ClientKind::Hook,
        _ => ClientKind::Shim,
    };
    let io = |e: proto::FrameError| e.to_string();
    // The hello and the check go out in one write, without waiting for the hello's answer: the
    // daemon reads them in order, and a daemon that refuses the hello closes the connection
    // without reading the check. This saves one round trip through the scheduler (on a busy
    // machine, a time slice for the daemon and one for the shim).
    let mut out = Vec::with_capacity(512);
    proto::encode(&Hello::new(kind, env!("CARGO_PKG_VERSION")), &mut out).map_err(io)?;
    let mut check = Vec::with_capacity(512);
    proto::encode(&Request::Check(request.clone()), &mut check).map_err(io)?;
    out.extend_from_slice(&check);
    if out.len() > SMALL_WRITE {
        // Only a large request can fill the socket's buffer and wait for a hung daemon.
        stream
            .set_write_timeout(Some(ANSWER_TIMEOUT))
            .map_err(|e| format!("cannot send the check: {e}"))?;
    }
    stream.write_all(&out).map_err(|e| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => format!(
            "the daemon did not take the check within {}",
            seconds(ANSWER_TIMEOUT)
        ),
        _ => format!("cannot send the check: {e}"),
    })?;
    let deadline = Deadline::new(
        stream,
        ANSWER_TIMEOUT,
        format!(
            "the daemon did not answer within {}",
            seconds(ANSWER_TIMEOUT)
        ),
    )
    .map_err(|e| format!("cannot wait for the answer: {e}"))?;
    // Answers are read through a buffer: one `read` usually brings a whole frame, length and all.
    let mut stream = BufReader::with_capacity(4096, deadline);
    let mut buf = check;
    let reply: HelloReply = proto::read_message(&mut stream, &mut buf)
        .map_err(io)?
        .ok_or("the daemon closed the connection")?;
    if !reply.accepted {
        check_versions(proto::PROTOCOL_VERSION, reply.version).map_err(|e| e.to_string())?;
        return Err("the daemon refused the connection".into());
    }
    loop {
        let response: Response = proto::read_message(&mut stream, &mut buf)
            .map_err(io)?
            .ok_or("the daemon closed the connection before deciding")?;
        match response {
            Response::Decision(d)
                if d.action == proto::Action::RequireApproval && d.approval_id.is_some() =>
            {
                eprintln!("{}", d.agent_message);
                let wait = approval_wait(request);
                stream
                    .get_mut()
                    .extend(
                        wait,
                        format!(
                            "no final answer from the daemon within {} of announcing the approval",
                            seconds(wait)
                        ),
                    )
                    .map_err(|e| format!("cannot wait for the approval: {e}"))?;
            }
            Response::Decision(d) => return Ok(d),
            Response::Error { message } => return Err(message),
            other => return Err(format!("unexpected answer from the daemon: {other:?}")),
        }
    }
}
