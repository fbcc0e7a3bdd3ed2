//! Divan benchmarks for encoding and decoding the messages on the shim's hot path.

use std::hint::black_box;

use divan::Bencher;
use divan::counter::BytesCount;
use safeshell_protocol::{
    Action, CheckRequest, CommandSpec, ContextHints, Decision, Request, Response, Surface, decode,
    encode, read_frame,
};

fn main() {
    divan::main();
}

/// A check request as a PATH shim for `git` would send it.
fn check_request() -> Request {
    let env = (0..20)
        .map(|i| {
            (
                format!("SAFESHELL_VAR_{i:02}"),
                format!("/some/typical/value/{i}"),
            )
        })
        .collect();
    Request::Check(CheckRequest {
        command: CommandSpec::Argv(
            ["git", "push", "origin", "main"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        ),
        cwd: "/home/ada/src/safeshell".to_owned(),
        surface: Surface::PathShim,
        client_pid: 48_213,
        hints: ContextHints {
            safeshell_context: Some("ai".to_owned()),
            agent_markers: vec!["CLAUDECODE".to_owned()],
        },
        env,
        token: None,
        approval: Default::default(),
        approval_timeout_secs: None,
    })
}

/// A deny decision as the daemon would send it back.
fn decision() -> Response {
    Response::Decision(Decision {
        action: Action::Deny,
        rule: Some("no-push-to-main".to_owned()),
        reason: "pushing directly to main is not allowed".to_owned(),
        agent_message: "Do not push to main. Push a feature branch and open a pull request."
            .to_owned(),
        approval_id: None,
        redirect: None,
        segment: Some("git push origin main".to_owned()),
        token: None,
        contain: None,
        why: None,
    })
}

/// The payload (frame without header) of `msg`.
fn payload<T: serde::Serialize>(msg: &T) -> Vec<u8> {
    let mut buf = Vec::new();
    encode(msg, &mut buf).expect("bench message encodes");
    buf.split_off(4)
}

#[divan::bench]
fn encode_check_request(bencher: Bencher) {
    let msg = check_request();
    let mut buf = Vec::with_capacity(1024);
    bencher
        .counter(BytesCount::new(payload(&msg).len() + 4))
        .bench_local(|| {
            encode(black_box(&msg), &mut buf).expect("encodes");
            black_box(buf.len())
        });
}

#[divan::bench]
fn decode_check_request(bencher: Bencher) {
    let bytes = payload(&check_request());
    bencher
        .counter(BytesCount::new(bytes.len()))
        .bench_local(|| black_box(decode::<Request>(black_box(&bytes)).expect("decodes")));
}

#[divan::bench]
fn encode_decision(bencher: Bencher) {
    let msg = decision();
    let mut buf = Vec::with_capacity(1024);
    bencher
        .counter(BytesCount::new(payload(&msg).len() + 4))
        .bench_local(|| {
            encode(black_box(&msg), &mut buf).expect("encodes");
            black_box(buf.len())
        });
}

#[divan::bench]
fn decode_decision(bencher: Bencher) {
    let bytes = payload(&decision());
    bencher
        .counter(BytesCount::new(bytes.len()))
        .bench_local(|| black_box(decode::<Response>(black_box(&bytes)).expect("decodes")));
}

/// Reading a whole decision frame from a stream and decoding it, as the shim does.
#[divan::bench]
fn read_and_decode_decision(bencher: Bencher) {
    let mut frame = Vec::new();
    encode(&decision(), &mut frame).expect("encodes");
    let mut buf = Vec::with_capacity(1024);
    bencher
        .counter(BytesCount::new(frame.len()))
        .bench_local(|| {
            let mut stream = black_box(frame.as_slice());
            let payload = read_frame(&mut stream, &mut buf)
                .expect("reads")
                .expect("one frame");
            black_box(decode::<Response>(payload).expect("decodes"))
        });
}
