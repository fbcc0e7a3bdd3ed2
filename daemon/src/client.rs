//! A small blocking client for the `safeshell` CLI: handshake, one request, its answer.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use safeshell_protocol::{
    self as proto, ClientKind, Hello, HelloReply, Request, Response, check_versions,
};

/// How long the CLI waits to connect and for each answer: a hung daemon is reported, never
/// waited on forever (`safeshell daemon status`, `doctor` and `approvals` use this client; no
/// request they make takes the daemon longer than microseconds).
pub const DEADLINE: Duration = Duration::from_secs(3);

/// A connection to the daemon after a successful handshake.
pub struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
}

/// Connects within `deadline`. A Unix `connect` blocks while the daemon's backlog is full (a
/// hung daemon that no longer accepts); it runs on a thread that is abandoned at the deadline.
fn connect_within(socket: &Path, deadline: Duration) -> std::io::Result<UnixStream> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = socket.to_path_buf();
    std::thread::Builder::new()
        .name("connect".into())
        .spawn(move || {
            let _ = tx.send(UnixStream::connect(path));
        })?;
    rx.recv_timeout(deadline).unwrap_or_else(|_| {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no connection within {deadline:?}: the daemon is not accepting connections (hung?)"
            ),
        ))
    })
}

/// True when an error is a deadline that passed (the daemon accepted but did not answer).
pub fn is_timeout(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c.downcast_ref::<std::io::Error>().or_else(|| {
            match c.downcast_ref::<proto::FrameError>() {
                Some(proto::FrameError::Io(io)) => Some(io),
                _ => None,
            }
        });
        io.is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            )
        })
    })
}

fn name_timeout(e: proto::FrameError) -> anyhow::Error {
    let e = anyhow::Error::from(e);
    if is_timeout(&e) {
        e.context(format!(
            "the daemon did not answer within {DEADLINE:?}: it is hung"
        ))
    } else {
        e
    }
}

impl Client {
    /// Connects and performs the version handshake, each within [`DEADLINE`].
    pub fn connect(socket: &Path, kind: ClientKind) -> Result<Client> {
        let mut stream = connect_within(socket, DEADLINE).with_context(|| {
            format!(
                "cannot connect to the SafeShell daemon at {}",
                socket.display()
            )
        })?;
        stream.set_read_timeout(Some(DEADLINE))?;
        stream.set_write_timeout(Some(DEADLINE))?;
        let mut buf = Vec::new();
        proto::write_frame(
            &mut stream,
            &Hello::new(kind, env!("CARGO_PKG_VERSION")),
            &mut buf,
        )
        .context("the daemon did not take the handshake")?;
        let reply: HelloReply = proto::read_message(&mut stream, &mut buf)
            .map_err(name_timeout)?
            .context("the daemon closed the connection during the handshake")?;
        if !reply.accepted {
            check_versions(proto::PROTOCOL_VERSION, reply.version)?;
            bail!("the daemon refused the connection");
        }
        Ok(Client { stream, buf })
    }

    /// Sends a request.
    pub fn send(&mut self, request: &Request) -> Result<()> {
        proto::write_frame(&mut self.stream, request, &mut self.buf)?;
        Ok(())
    }

    /// Reads the next response, waiting at most [`DEADLINE`].
    pub fn recv(&mut self) -> Result<Response> {
        proto::read_message(&mut self.stream, &mut self.buf)
            .map_err(name_timeout)?
            .context("the daemon closed the connection")
    }

    /// Sends a request and reads one response.
    pub fn call(&mut self, request: &Request) -> Result<Response> {
        self.send(request)?;
        self.recv()
    }
}
