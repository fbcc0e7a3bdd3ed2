//! divan benchmarks of the daemon as a real process over its real socket: start-up to the first
//! answered request with 0 / 10 / 100 / 1000 rules, one request round trip, and throughput with
//! 1 / 16 / 64 concurrent clients. Run with `cargo bench -p safeshell --bench daemon`.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use divan::Bencher;
use safeshell_protocol::{
    self as proto, CheckRequest, ClientKind, CommandSpec, ContextHints, Hello, HelloReply, Request,
    Response, Surface,
};

fn main() {
    divan::main();
}

const RULE_COUNTS: &[usize] = &[0, 10, 100, 1000];
const CLIENTS: &[usize] = &[1, 16, 64];

/// A daemon in a temporary home, killed on drop.
struct Daemon {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    child: Child,
}

fn rules(n: usize) -> String {
    (0..n)
        .map(|i| format!("[[rules]]\nname = \"r{i}\"\ncommands = [\"tool{i}\"]\naction = \"deny\"\nwhen = {{ regex = '--opt{i}( |$)' }}\n"))
        .collect()
}

impl Daemon {
    fn start(n: usize) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".safeshell");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("rules.toml"), rules(n)).unwrap();
        let socket = state.join("daemon.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_safeshell"))
            .args(["daemon", "run"])
            .env("HOME", dir.path())
            .env("SAFESHELL_SOCKET", &socket)
            .env_remove("SAFESHELL_HOME")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let d = Daemon {
            _dir: dir,
            socket,
            child,
        };
        d.wait();
        d
    }

    fn wait(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut c) = Conn::open(&self.socket)
                && c.ping()
            {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        panic!("daemon did not start");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(socket: &Path) -> std::io::Result<Conn> {
        let mut stream = UnixStream::connect(socket)?;
        let mut buf = Vec::new();
        proto::write_frame(
            &mut stream,
            &Hello::new(ClientKind::Shim, "bench"),
            &mut buf,
        )
        .map_err(std::io::Error::other)?;
        let _: HelloReply = proto::read_message(&mut stream, &mut buf)
            .map_err(std::io::Error::other)?
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        Ok(Conn { stream, buf })
    }

    fn ping(&mut self) -> bool {
        proto::write_frame(&mut self.stream, &Request::Ping, &mut self.buf).is_ok()
            && matches!(
                proto::read_message::<_, Response>(&mut self.stream, &mut self.buf),
                Ok(Some(Response::Pong))
            )
    }

    fn check(&mut self, req: &Request) -> Response {
        proto::write_frame(&mut self.stream, req, &mut self.buf).unwrap();
        proto::read_message(&mut self.stream, &mut self.buf)
            .unwrap()
            .unwrap()
    }
}

fn check_request() -> Request {
    check_request_with(ContextHints::default())
}

fn check_request_with(hints: ContextHints) -> Request {
    Request::Check(CheckRequest {
        command: CommandSpec::Argv(vec!["git".into(), "status".into(), "--short".into()]),
        cwd: "/".into(),
        surface: Surface::PathShim,
        client_pid: std::process::id(),
        hints,
        env: vec![("HOME".into(), "/nonexistent".into())],
        token: None,
        approval: Default::default(),
        approval_timeout_secs: None,
    })
}

/// Process start to the first answered ping (cold: nothing cached between runs).
#[divan::bench(args = RULE_COUNTS, sample_count = 10, sample_size = 1)]
fn start_to_first_answer(bencher: Bencher, n: usize) {
    bencher.bench_local(|| Daemon::start(n));
}

/// Connect, handshake and one check, as a shim does.
#[divan::bench(sample_count = 200)]
fn connect_and_check(bencher: Bencher) {
    let d = Daemon::start(100);
    let req = check_request();
    bencher.bench_local(|| {
        let mut c = Conn::open(&d.socket).unwrap();
        c.check(&req)
    });
}

/// One check on an open connection: `human` carries no hints, so the daemon reads the client's
/// ancestry from `/proc` (cached per parent); `agent_marker` names an agent marker, so it reads
/// nothing from `/proc`.
#[divan::bench(args = ["human", "agent_marker"], sample_count = 200)]
fn round_trip(bencher: Bencher, kind: &str) {
    let d = Daemon::start(100);
    let mut c = Conn::open(&d.socket).unwrap();
    let hints = match kind {
        "human" => ContextHints::default(),
        _ => ContextHints {
            agent_markers: vec!["CLAUDECODE".into()],
            ..ContextHints::default()
        },
    };
    let req = check_request_with(hints);
    bencher.bench_local(|| c.check(&req));
}

/// `clients` threads each send 50 checks on their own connection.
#[divan::bench(args = CLIENTS, sample_count = 10, sample_size = 1)]
fn concurrent_clients(bencher: Bencher, clients: usize) {
    let d = Daemon::start(100);
    let req = check_request();
    bencher
        .counter(divan::counter::ItemsCount::new(clients * 50))
        .bench_local(|| {
            std::thread::scope(|s| {
                for _ in 0..clients {
                    s.spawn(|| {
                        let mut c = Conn::open(&d.socket).unwrap();
                        for _ in 0..50 {
                            c.check(&req);
                        }
                    });
                }
            });
        });
}
