//! The connection layer against a real Unix socket: a scripted peer on a `UnixListener` speaks the
//! daemon's real wire format (handshake, status, pending list, subscription, events, resolve),
//! and the monitor's `App` (state plus connection threads, without a terminal) talks to it.
//!
//! Covered: both handshakes, the subscription and its replay reaching the state, the person's
//! `1` going out as a `Resolve` with the right verdict, losing the daemon (the state shows it,
//! the banner says so) and reconnecting to a new daemon instance on the same path.

mod common;

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{decision, key, pending, render, screen, status};
use safeshell_monitor::MonitorOptions;
use safeshell_monitor::app::{App, AppEvent, now_ms};
use safeshell_monitor::conn::ConnOptions;
use safeshell_monitor::state::{Link, State};
use safeshell_protocol::{
    self as proto, Action, ApprovalOutcome, ApprovalResolution, ApprovalVerdict, ClientKind,
    ContextHint, Event, EventKind, Hello, HelloReply, PROTOCOL_VERSION, PendingApproval, Request,
    Response, Subscribe,
};

/// One end of a connection, speaking frames.
struct Wire {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Wire {
    fn accept(listener: &UnixListener) -> Wire {
        let (stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut wire = Wire {
            stream,
            buf: Vec::new(),
        };
        let hello: Hello = wire.read().expect("a hello");
        assert!(hello.has_valid_magic());
        assert_eq!(hello.version, PROTOCOL_VERSION);
        assert_eq!(hello.client, ClientKind::Monitor);
        wire.write(&HelloReply {
            version: PROTOCOL_VERSION,
            daemon_version: "9.9.9-test".into(),
            accepted: true,
        });
        wire
    }

    fn read<T: serde::de::DeserializeOwned>(&mut self) -> Option<T> {
        proto::read_message(&mut self.stream, &mut self.buf).expect("a frame")
    }

    fn write<T: serde::Serialize>(&mut self, msg: &T) {
        proto::write_frame(&mut self.stream, msg, &mut self.buf).expect("write");
    }

    fn event(&mut self, seq: u64, kind: EventKind) {
        self.write(&Response::Event(Event {
            seq,
            time_ms: now_ms(),
            kind,
        }));
    }
}

fn waiting(id: u64) -> PendingApproval {
    let now = now_ms();
    PendingApproval {
        created_ms: now - 1000,
        deadline_ms: now + 300_000,
        ..pending(
            id,
            "git push --force origin main",
            Some("git push --force origin main"),
        )
    }
}

/// Accepts the command connection and answers its opening requests, then the event connection
/// and its subscription. Returns both ends.
fn open_session(listener: &UnixListener, pid: u32, waiting: Vec<PendingApproval>) -> (Wire, Wire) {
    let mut command = Wire::accept(listener);
    assert_eq!(command.read::<Request>(), Some(Request::Status));
    command.write(&Response::Status(status(pid)));
    assert_eq!(command.read::<Request>(), Some(Request::ListPending));
    command.write(&Response::Pending(waiting));
    let mut events = Wire::accept(listener);
    assert_eq!(
        events.read::<Request>(),
        Some(Request::Subscribe(Subscribe { history: 250 }))
    );
    (command, events)
}

/// The first daemon: replays history, takes one decision, then goes away.
fn first_daemon(listener: UnixListener, path: &Path, resolutions: Sender<ApprovalResolution>) {
    let (mut command, mut events) = open_session(&listener, 1111, vec![waiting(7)]);
    // The replay: the approval that is waiting, and two decisions.
    events.event(1, EventKind::ApprovalPending(waiting(7)));
    events.event(
        2,
        EventKind::Decision(decision("ls -la", Action::Allow, ContextHint::Ai)),
    );
    events.event(
        3,
        EventKind::Decision(decision("rm -rf /", Action::Deny, ContextHint::Ai)),
    );
    // Serve the command connection (status polls) until a decision comes.
    let resolution = loop {
        match command.read::<Request>() {
            Some(Request::Status) => command.write(&Response::Status(status(1111))),
            Some(Request::Resolve(r)) => break r,
            other => panic!("unexpected request {other:?}"),
        }
    };
    command.write(&Response::Resolved {
        approval_id: resolution.approval_id,
        accepted: true,
        message: format!("approval #{} resolved", resolution.approval_id),
    });
    events.event(
        4,
        EventKind::ApprovalResolved {
            approval_id: resolution.approval_id,
            outcome: ApprovalOutcome::Approved { by_session: false },
        },
    );
    resolutions.send(resolution).unwrap();
    // The daemon goes away: nobody listens any more, and both connections close.
    drop(listener);
    std::fs::remove_file(path).unwrap();
    drop(command);
    drop(events);
}

/// The second daemon, a new instance: its events are numbered from 1 again.
fn second_daemon(listener: UnixListener) {
    let (mut command, mut events) = open_session(&listener, 2222, vec![]);
    events.event(
        1,
        EventKind::Decision(decision("cargo test", Action::Allow, ContextHint::Human)),
    );
    events.event(
        2,
        EventKind::Decision(decision("git status", Action::Allow, ContextHint::Ai)),
    );
    // Keep answering until the monitor hangs up.
    while let Some(req) = command.read::<Request>() {
        if req == Request::Status {
            command.write(&Response::Status(status(2222)));
        }
    }
}

fn pump_until(app: &mut App, rx: &Receiver<AppEvent>, what: &str, done: impl Fn(&State) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done(&app.state) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {what}; link {:?}, {} log entries, {} pending",
            app.state.link,
            app.state.log.len(),
            app.state.pending.len()
        );
        if let Ok(event) = rx.recv_timeout(left.min(Duration::from_millis(50))) {
            app.handle_event(event);
        }
    }
}

fn logged(state: &State, command: &str) -> usize {
    state
        .log
        .iter()
        .filter(|(_, e)| e.command.as_ref() == command)
        .count()
}

#[test]
fn handshake_subscribe_resolve_disconnect_and_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daemon.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (resolutions_tx, resolutions) = mpsc::channel();
    let first: JoinHandle<()> = {
        let path = path.clone();
        std::thread::spawn(move || first_daemon(listener, &path, resolutions_tx))
    };

    let options = MonitorOptions {
        history: 250,
        ..MonitorOptions::new(&path)
    };
    let conn = ConnOptions {
        status_interval: Duration::from_millis(100),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        io_timeout: Duration::from_secs(5),
        ..ConnOptions::new(path.clone(), options.history)
    };
    let (tx, rx) = mpsc::channel();
    let mut app = App::with_conn_options(&options, conn, tx);

    // Connected, with the pending list and the replayed events in the state.
    pump_until(&mut app, &rx, "the replay", |s| {
        s.connected() && logged(s, "rm -rf /") == 1
    });
    assert_eq!(app.state.daemon_version.as_deref(), Some("9.9.9-test"));
    assert_eq!(app.state.pending.len(), 1);
    assert_eq!(app.state.selected_approval, Some(7));
    assert_eq!(logged(&app.state, "ls -la"), 1);
    assert_eq!(
        logged(&app.state, "git push --force origin main"),
        1,
        "the pending row"
    );

    // The person presses 1: the daemon receives an approve-once for #7.
    app.handle_event(AppEvent::Term(key('1')));
    let sent = resolutions
        .recv_timeout(Duration::from_secs(10))
        .expect("the peer got a resolve request");
    assert_eq!(
        sent,
        ApprovalResolution {
            approval_id: 7,
            verdict: ApprovalVerdict::ApproveOnce,
            reason: None,
        }
    );
    pump_until(&mut app, &rx, "the approval to be settled", |s| {
        s.pending.is_empty()
    });

    // The daemon is gone: the state says so, and so does the screen.
    pump_until(&mut app, &rx, "the disconnection", |s| {
        matches!(s.link, Link::Disconnected { .. })
    });
    first.join().unwrap();
    let text = screen(&render(&mut app.state, 80, 24));
    assert!(text.contains("disconnected — reconnecting in"), "{text}");
    assert!(text.contains("○ disconnected"), "{text}");

    // A new daemon on the same path: the monitor reconnects on its own and takes its events,
    // although their numbers start again at 1.
    let listener = UnixListener::bind(&path).unwrap();
    let second = std::thread::spawn(move || second_daemon(listener));
    pump_until(&mut app, &rx, "the new daemon's events", |s| {
        s.connected() && logged(s, "git status") == 1
    });
    assert_eq!(logged(&app.state, "cargo test"), 1);
    assert_eq!(logged(&app.state, "rm -rf /"), 1, "old entries stay, once");
    assert!(
        app.state
            .log
            .iter()
            .any(|(_, e)| e.command.contains("connected to a new daemon (pid 2222)")),
        "the restart is noted"
    );
    let text = screen(&render(&mut app.state, 80, 24));
    assert!(text.contains("● connected"), "{text}");

    // Dropping the app closes the connections, which ends the second daemon's loop.
    drop(app);
    second.join().unwrap();
}

#[test]
fn a_version_mismatch_is_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daemon.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let peer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let _: Hello = proto::read_message(&mut stream, &mut buf).unwrap().unwrap();
        proto::write_frame(
            &mut stream,
            &HelloReply {
                version: PROTOCOL_VERSION + 1,
                daemon_version: "99.0.0".into(),
                accepted: false,
            },
            &mut buf,
        )
        .unwrap();
    });
    let options = MonitorOptions::new(&path);
    let (tx, rx) = mpsc::channel();
    let mut app = App::new(&options, tx);
    pump_until(&mut app, &rx, "the refusal", |s| {
        matches!(s.link, Link::Disconnected { .. })
    });
    peer.join().unwrap();
    let Link::Disconnected { error, .. } = &app.state.link else {
        unreachable!()
    };
    assert!(error.contains("protocol version mismatch"), "{error}");
    assert!(error.contains("safeshell daemon restart"), "{error}");
}
