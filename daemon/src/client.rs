//! A small blocking client for the `safeshell` CLI: handshake, one request, its answer.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use safeshell_protocol::{
    self as proto, ClientKind, Hello, HelloReply, Request, Response, check_versions,
};

/// A connection to the daemon after a successful handshake.
pub struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects and performs the version handshake.
    pub fn connect(socket: &Path, kind: ClientKind) -> Result<Client> {
        let mut stream = UnixStream::connect(socket).with_context(|| {
            format!(
                "cannot connect to the SafeShell daemon at {}",
                socket.display()
            )
        })?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut buf = Vec::new();
        proto::write_frame(
            &mut stream,
            &Hello::new(kind, env!("CARGO_PKG_VERSION")),
            &mut buf,
        )?;
        let reply: HelloReply = proto::read_message(&mut stream, &mut buf)?
            .context("the daemon closed the connection during the handshake")?;
        if !reply.accepted {
            check_versions(proto::PROTOCOL_VERSION, reply.version)?;
            bail!("the daemon refused the connection");
        }
        stream.set_read_timeout(None)?;
        Ok(Client { stream, buf })
    }

    /// Sends a request.
    pub fn send(&mut self, request: &Request) -> Result<()> {
        proto::write_frame(&mut self.stream, request, &mut self.buf)?;
        Ok(())
    }

    /// Reads the next response.
    pub fn recv(&mut self) -> Result<Response> {
        proto::read_message(&mut self.stream, &mut self.buf)?
            .context("the daemon closed the connection")
    }

    /// Sends a request and reads one response.
    pub fn call(&mut self, request: &Request) -> Result<Response> {
        self.send(request)?;
        self.recv()
    }
}
