//! The connection to the daemon: two blocking Unix-socket connections run by background threads,
//! reporting to the UI through a channel so the UI thread never waits on the network.
//!
//! - The **event** connection sends `Subscribe` and then only reads: the daemon replays recent
//!   events and streams new ones. A reader thread forwards each one as [`ConnEvent::Event`].
//! - The **command** connection belongs to the supervisor thread, which asks for `Status` and
//!   `ListPending` on connect, polls `Status` every couple of seconds, and sends the person's
//!   decisions (`Resolve`) as they come in through [`Connection::resolve`].
//!
//! Both connections are made (and `Status` and the pending list fetched) before the event stream
//! starts, so the UI always learns which daemon instance it talks to ([`ConnEvent::Connected`])
//! before any event from it. When either connection fails, both are closed, the UI is told
//! ([`ConnEvent::Disconnected`], with the wait before the next try), and the supervisor tries
//! again with exponential back-off.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use safeshell_protocol::{
    self as proto, ApprovalResolution, ClientKind, Event, Hello, HelloReply, PendingApproval,
    Request, Response, StatusReport, Subscribe,
};

/// What the connection layer tells the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// A connection attempt started.
    Connecting {
        /// How many attempts have failed in a row before this one.
        attempt: u32,
    },
    /// Both connections are up and the event stream is about to start.
    Connected {
        /// The daemon's release version, from its handshake reply.
        daemon_version: String,
        /// The daemon's status, fetched before the event stream starts.
        status: StatusReport,
        /// The approvals already waiting, oldest first.
        pending: Vec<PendingApproval>,
    },
    /// An event from the daemon's stream (replayed history first, then live).
    Event(Event),
    /// A fresh status report (polled).
    Status(StatusReport),
    /// The daemon's answer to a decision the person made (or the reason it could not be sent).
    Resolved {
        /// The approval the decision was for.
        approval_id: u64,
        /// Whether the decision took effect.
        accepted: bool,
        /// What happened, in the daemon's words.
        message: String,
    },
    /// The connection failed or could not be made; the next try is in `retry_in`.
    Disconnected {
        /// Why, in words.
        error: String,
        /// How long until the next attempt.
        retry_in: Duration,
    },
}

/// Settings for the connection layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnOptions {
    /// The daemon's socket.
    pub socket: PathBuf,
    /// How many recent events to ask the daemon to replay on each connect.
    pub history: u32,
    /// How often to ask for the daemon's status.
    pub status_interval: Duration,
    /// The first wait before reconnecting; it doubles after each failure.
    pub backoff_min: Duration,
    /// The longest wait before reconnecting.
    pub backoff_max: Duration,
    /// How long to wait for the handshake and for answers on the command connection.
    pub io_timeout: Duration,
}

impl ConnOptions {
    /// Defaults: status every 2 s, back-off from 250 ms doubling to 5 s, 5 s i/o timeout.
    #[must_use]
    pub fn new(socket: PathBuf, history: u32) -> Self {
        Self {
            socket,
            history,
            status_interval: Duration::from_secs(2),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            io_timeout: Duration::from_secs(5),
        }
    }
}

/// Messages to the supervisor thread.
enum Command {
    Resolve(ApprovalResolution),
    /// The reader thread of connection `generation` stopped.
    StreamEnded {
        generation: u64,
        error: String,
    },
    Shutdown,
}

/// Handles on the sockets in use, so [`Connection`]'s drop can unblock a thread waiting on one.
type Sockets = Arc<Mutex<Vec<UnixStream>>>;

fn lock(sockets: &Sockets) -> std::sync::MutexGuard<'_, Vec<UnixStream>> {
    sockets.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running connection layer. Dropping it stops the threads and closes the sockets at once,
/// even in the middle of a request.
pub struct Connection {
    commands: Sender<Command>,
    sockets: Sockets,
    supervisor: Option<JoinHandle<()>>,
}

impl Connection {
    /// Starts the connection threads; everything they learn is sent on `events`.
    ///
    /// They stop when the [`Connection`] is dropped or when `events`' receiver is gone.
    pub fn spawn<T: From<ConnEvent> + Send + 'static>(
        options: ConnOptions,
        events: Sender<T>,
    ) -> Connection {
        let (commands, inbox) = mpsc::channel();
        let back = commands.clone();
        let sockets = Sockets::default();
        let registry = Arc::clone(&sockets);
        let supervisor = std::thread::Builder::new()
            .name("safeshell-monitor-conn".into())
            .spawn(move || {
                Supervisor {
                    options,
                    events,
                    inbox,
                    back,
                    sockets: registry,
                }
                .run();
            })
            .ok();
        Connection {
            commands,
            sockets,
            supervisor,
        }
    }

    /// Sends a person's decision to the daemon. The answer comes back as
    /// [`ConnEvent::Resolved`] (also when it could not be sent).
    pub fn resolve(&self, resolution: ApprovalResolution) {
        let _ = self.commands.send(Command::Resolve(resolution));
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        for socket in lock(&self.sockets).iter() {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        if let Some(handle) = self.supervisor.take() {
            let _ = handle.join();
        }
    }
}

/// One handshaken connection to the daemon.
struct Link {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Link {
    /// Connects and performs the version handshake.
    fn open(socket: &Path, timeout: Duration, sockets: &Sockets) -> Result<(Link, HelloReply)> {
        let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow!(
                "no daemon at {} (start one: `safeshell daemon start`)",
                socket.display()
            ),
            std::io::ErrorKind::ConnectionRefused => anyhow!(
                "the daemon at {} is not answering (start it: `safeshell daemon start`)",
                socket.display()
            ),
            _ => anyhow!("cannot connect to the daemon at {}: {e}", socket.display()),
        })?;
        lock(sockets).push(stream.try_clone()?);
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut buf = Vec::with_capacity(512);
        proto::write_frame(
            &mut stream,
            &Hello::new(ClientKind::Monitor, env!("CARGO_PKG_VERSION")),
            &mut buf,
        )
        .context("cannot send the handshake")?;
        let reply: HelloReply = proto::read_message(&mut stream, &mut buf)
            .context("no handshake reply")?
            .context("the daemon closed the connection during the handshake")?;
        if !reply.accepted {
            proto::check_versions(proto::PROTOCOL_VERSION, reply.version)?;
            bail!("the daemon refused the connection");
        }
        Ok((Link { stream, buf }, reply))
    }

    fn send(&mut self, request: &Request) -> Result<()> {
        proto::write_frame(&mut self.stream, request, &mut self.buf)?;
        Ok(())
    }

    fn call(&mut self, request: &Request) -> Result<Response> {
        self.send(request)?;
        proto::read_message(&mut self.stream, &mut self.buf)?
            .context("the daemon closed the connection")
    }
}

/// Both connections of one session with a daemon.
struct Session {
    command: Link,
    /// A handle on the event connection, to shut it down (which ends the reader thread).
    stream: UnixStream,
    reader: Option<JoinHandle<()>>,
}

impl Session {
    fn close(mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        let _ = self.command.stream.shutdown(std::net::Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

struct Supervisor<T> {
    options: ConnOptions,
    events: Sender<T>,
    inbox: mpsc::Receiver<Command>,
    back: Sender<Command>,
    sockets: Sockets,
}

/// Why a session ended.
enum End {
    Failed(String),
    Shutdown,
}

impl<T: From<ConnEvent> + Send + 'static> Supervisor<T> {
    /// Sends to the UI; `false` when the UI is gone.
    fn tell(&self, event: ConnEvent) -> bool {
        self.events.send(event.into()).is_ok()
    }

    fn run(self) {
        let mut backoff = self.options.backoff_min;
        let mut failures: u32 = 0;
        let mut generation: u64 = 0;
        loop {
            lock(&self.sockets).clear();
            if !self.tell(ConnEvent::Connecting { attempt: failures }) {
                return;
            }
            generation += 1;
            let error = match self.open(generation) {
                Ok(Some(session)) => {
                    backoff = self.options.backoff_min;
                    failures = 0;
                    match self.serve(session, generation) {
                        End::Shutdown => return,
                        End::Failed(error) => error,
                    }
                }
                Ok(None) => return,
                Err(e) => format!("{e:#}"),
            };
            failures = failures.saturating_add(1);
            if !self.tell(ConnEvent::Disconnected {
                error,
                retry_in: backoff,
            }) {
                return;
            }
            if !self.wait(backoff) {
                return;
            }
            backoff = (backoff * 2).min(self.options.backoff_max);
        }
    }

    /// Connects both links, fetches status and pending approvals, tells the UI, subscribes and
    /// starts the reader. `Ok(None)` when the UI is gone.
    fn open(&self, generation: u64) -> Result<Option<Session>> {
        let timeout = self.options.io_timeout;
        let (mut command, reply) = Link::open(&self.options.socket, timeout, &self.sockets)?;
        let status = match command.call(&Request::Status)? {
            Response::Status(s) => s,
            other => bail!("unexpected answer to a status request: {}", name(&other)),
        };
        let pending = match command.call(&Request::ListPending)? {
            Response::Pending(p) => p,
            other => bail!(
                "unexpected answer to a pending list request: {}",
                name(&other)
            ),
        };
        let (mut events, _) = Link::open(&self.options.socket, timeout, &self.sockets)?;
        events.send(&Request::Subscribe(Subscribe {
            history: self.options.history,
        }))?;
        // The stream is read until the daemon closes it; only the handshake had a deadline.
        events.stream.set_read_timeout(None)?;
        let stream = events.stream.try_clone()?;
        if !self.tell(ConnEvent::Connected {
            daemon_version: reply.daemon_version,
            status,
            pending,
        }) {
            return Ok(None);
        }
        let sink = self.events.clone();
        let back = self.back.clone();
        let reader = std::thread::Builder::new()
            .name("safeshell-monitor-events".into())
            .spawn(move || read_events(events, &sink, &back, generation))?;
        Ok(Some(Session {
            command,
            stream,
            reader: Some(reader),
        }))
    }

    /// Serves one session until it fails or the UI goes away.
    fn serve(&self, mut session: Session, generation: u64) -> End {
        let mut next_status = Instant::now() + self.options.status_interval;
        let end = loop {
            let wait = next_status.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(wait) {
                Ok(Command::Resolve(resolution)) => {
                    let approval_id = resolution.approval_id;
                    match session.command.call(&Request::Resolve(resolution)) {
                        Ok(Response::Resolved {
                            approval_id,
                            accepted,
                            message,
                        }) => {
                            if !self.tell(ConnEvent::Resolved {
                                approval_id,
                                accepted,
                                message,
                            }) {
                                break End::Shutdown;
                            }
                        }
                        Ok(Response::Error { message }) => {
                            if !self.tell(ConnEvent::Resolved {
                                approval_id,
                                accepted: false,
                                message,
                            }) {
                                break End::Shutdown;
                            }
                        }
                        Ok(other) => {
                            break End::Failed(format!(
                                "unexpected answer to a decision: {}",
                                name(&other)
                            ));
                        }
                        Err(e) => {
                            self.tell(ConnEvent::Resolved {
                                approval_id,
                                accepted: false,
                                message: format!(
                                    "the connection failed while sending the decision ({e:#}); \
                                     check whether approval #{approval_id} is still pending"
                                ),
                            });
                            break End::Failed(format!("{e:#}"));
                        }
                    }
                }
                Ok(Command::StreamEnded {
                    generation: g,
                    error,
                }) => {
                    if g == generation {
                        break End::Failed(error);
                    }
                }
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break End::Shutdown,
                Err(RecvTimeoutError::Timeout) => {
                    next_status = Instant::now() + self.options.status_interval;
                    match session.command.call(&Request::Status) {
                        Ok(Response::Status(s)) => {
                            if !self.tell(ConnEvent::Status(s)) {
                                break End::Shutdown;
                            }
                        }
                        Ok(Response::Error { .. }) => {}
                        Ok(other) => {
                            break End::Failed(format!(
                                "unexpected answer to a status request: {}",
                                name(&other)
                            ));
                        }
                        Err(e) => break End::Failed(format!("{e:#}")),
                    }
                }
            }
        };
        session.close();
        end
    }

    /// Waits before reconnecting, answering decisions with "not connected". `false` on shutdown.
    fn wait(&self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            match self.inbox.recv_timeout(left) {
                Ok(Command::Resolve(r)) => {
                    self.tell(ConnEvent::Resolved {
                        approval_id: r.approval_id,
                        accepted: false,
                        message: "not connected to the daemon; the decision was not sent".into(),
                    });
                }
                Ok(Command::StreamEnded { .. }) => {}
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => return false,
                Err(RecvTimeoutError::Timeout) => return true,
            }
        }
    }
}

/// Reads the event stream until it ends, forwarding events to the UI.
fn read_events<T: From<ConnEvent>>(
    mut link: Link,
    sink: &Sender<T>,
    back: &Sender<Command>,
    generation: u64,
) {
    let error = loop {
        match proto::read_message::<_, Response>(&mut link.stream, &mut link.buf) {
            Ok(Some(Response::Event(event))) => {
                if sink.send(ConnEvent::Event(event).into()).is_err() {
                    return;
                }
            }
            Ok(Some(Response::Error { message })) => {
                break format!("the daemon ended the event stream: {message}");
            }
            Ok(Some(other)) => {
                break format!("unexpected message on the event stream: {}", name(&other));
            }
            Ok(None) => break "the daemon closed the connection".to_owned(),
            Err(e) => break e.to_string(),
        }
    };
    let _ = back.send(Command::StreamEnded { generation, error });
}

/// A response's variant name, for error messages (not its contents, which may be large).
fn name(response: &Response) -> String {
    let debug = format!("{response:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("?")
        .to_owned()
}
