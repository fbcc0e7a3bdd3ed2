//! Golden bytes: the exact encoded frames of a few messages, pinned so any wire change fails here.
//!
//! If a test here fails, you changed the wire format. That is sometimes right,
//! but then you must bump `PROTOCOL_VERSION` in `src/lib.rs` (so old clients
//! and daemons report a version mismatch instead of misreading each other) and
//! update the bytes below. The `hello` test is special: `Hello` and `HelloReply`
//! must never change at all, in any version.

use safeshell_protocol::{
    Action, CheckRequest, ClientKind, CommandSpec, ContextHints, Decision, Hello, HelloReply,
    Request, Response, Surface, encode,
};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn frame_hex<T: serde::Serialize>(msg: &T) -> String {
    let mut buf = Vec::new();
    encode(msg, &mut buf).unwrap();
    hex(&buf)
}

fn golden_check() -> Request {
    Request::Check(CheckRequest {
        command: CommandSpec::Argv(vec!["git".to_owned(), "push".to_owned()]),
        cwd: "/w".to_owned(),
        surface: Surface::AgentHook {
            agent: "cc".to_owned(),
        },
        client_pid: 300,
        hints: ContextHints {
            safeshell_context: Some("ai".to_owned()),
            agent_markers: vec!["CLAUDECODE".to_owned()],
        },
        env: vec![("A".to_owned(), "b".to_owned())],
        token: None,
        approval: Default::default(),
        approval_timeout_secs: None,
    })
}

fn golden_deny() -> Response {
    Response::Decision(Decision {
        action: Action::Deny,
        rule: Some("no-push".to_owned()),
        reason: "r".to_owned(),
        agent_message: "m".to_owned(),
        approval_id: None,
        redirect: None,
        segment: Some("git push".to_owned()),
        token: None,
        contain: None,
        why: None,
    })
}

/// Asserts the frame of `msg` is exactly `expected` (lowercase hex).
fn assert_frame<T: serde::Serialize>(msg: &T, expected: &str) {
    assert_eq!(
        frame_hex(msg),
        expected,
        "wire format changed: bump PROTOCOL_VERSION and update the golden bytes"
    );
}

#[test]
fn hello() {
    // Frozen forever: len 12, "SFSH", version 1, ClientKind::Hook (2), "0.1.0".
    let hello = Hello {
        magic: *b"SFSH",
        version: 1,
        client: ClientKind::Hook,
        client_version: "0.1.0".to_owned(),
    };
    assert_frame(&hello, "0c00000053465348010205302e312e30");
    assert_eq!(Hello::new(ClientKind::Hook, "0.1.0").magic, *b"SFSH");
}

#[test]
fn hello_reply() {
    // Frozen forever: len 8, version 1, "0.1.0", accepted.
    let reply = HelloReply {
        version: 1,
        daemon_version: "0.1.0".to_owned(),
        accepted: true,
    };
    assert_frame(&reply, "080000000105302e312e3001");
}

#[test]
fn ping() {
    // Len 1, Request variant 4.
    assert_frame(&Request::Ping, "0100000004");
}

#[test]
fn check_argv() {
    // Check(0) Argv(0) ["git","push"], cwd "/w", AgentHook(2) "cc", pid 300 (varint ac02),
    // hints Some("ai") ["CLAUDECODE"], env [("A","b")], token None, approval Monitor (0),
    // approval_timeout_secs None. (Protocol v2 added the last two fields.)
    assert_frame(
        &golden_check(),
        "2d000000000002036769740470757368022f7702026363ac0201026169010a434c41554445434f4445\
         0101410162000000",
    );
}

#[test]
fn decision_deny() {
    // Decision(0) Deny(1), rule Some("no-push"), reason "r", agent_message "m",
    // approval_id None, redirect None, segment Some("git push"), token None, contain None
    // (protocol v3), why None (protocol v4).
    assert_frame(
        &golden_deny(),
        "1e000000000101076e6f2d707573680172016d000001086769742070757368000000",
    );
}
