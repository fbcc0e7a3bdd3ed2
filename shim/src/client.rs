//! Asking the daemon: connect (starting it if needed), handshake, one check, its decision.

use std::io::{BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use safeshell_protocol::{
    self as proto, CheckRequest, ClientKind, Decision, Hello, HelloReply, Request, Response,
    Surface, check_versions,
};

/// How long a shim waits for a daemon it started to answer.
pub const AUTOSTART_WAIT: Duration = Duration::from_secs(3);

fn connect() -> Result<UnixStream, String> {
    let socket = proto::socket_path().ok_or("no socket path (set HOME or SAFESHELL_SOCKET)")?;
    match UnixStream::connect(&socket) {
        Ok(s) => Ok(s),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            autostart()?;
            let deadline = Instant::now() + AUTOSTART_WAIT;
            loop {
                match UnixStream::connect(&socket) {
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

/// Starts the daemon with the `safeshell` binary installed next to this shim.
fn autostart() -> Result<(), String> {
    if std::env::var_os("SAFESHELL_NO_AUTOSTART").is_some() {
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
    let status = Command::new(&safeshell)
        .args(["daemon", "start", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
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
    stream
        .write_all(&out)
        .map_err(|e| format!("cannot send the check: {e}"))?;
    // Answers are read through a buffer: one `read` usually brings a whole frame, length and all.
    let mut stream = BufReader::with_capacity(4096, &*stream);
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
            }
            Response::Decision(d) => return Ok(d),
            Response::Error { message } => return Err(message),
            other => return Err(format!("unexpected answer from the daemon: {other:?}")),
        }
    }
}
