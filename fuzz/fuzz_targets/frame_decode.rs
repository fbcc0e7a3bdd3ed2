//! Fuzz target: arbitrary bytes as a client's stream to the daemon, read frame by frame (length
//! prefix, size cap) and decoded as the handshake and request types, as the daemon does.
//!
//! Nothing may panic or allocate past the frame cap; whatever decodes must encode again and
//! decode to the same value.

#![no_main]

use std::fmt::Debug;
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use safeshell_protocol::{Hello, HelloReply, Request, Response, decode, encode, read_frame};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Re-encodes a decoded message and checks that it decodes to the same value.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(msg: &T) {
    let mut frame = Vec::new();
    if encode(msg, &mut frame).is_ok() {
        let back: T = decode(&frame[4..]).expect("an encoded message decodes");
        assert_eq!(&back, msg);
    }
}

fn decode_all(payload: &[u8]) {
    let _ = Hello::peek_version(payload);
    if let Ok(hello) = decode::<Hello>(payload) {
        let _ = hello.has_valid_magic();
        round_trip(&hello);
    }
    if let Ok(request) = decode::<Request>(payload) {
        round_trip(&request);
    }
    if let Ok(reply) = decode::<HelloReply>(payload) {
        round_trip(&reply);
    }
    if let Ok(response) = decode::<Response>(payload) {
        round_trip(&response);
    }
}

fuzz_target!(|data: &[u8]| {
    // As a stream of frames: a hello, then requests, until the end or the first error.
    let mut stream = Cursor::new(data);
    let mut buf = Vec::new();
    for _ in 0..64 {
        match read_frame(&mut stream, &mut buf) {
            Ok(Some(payload)) => decode_all(payload),
            Ok(None) => break,
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
    // And as one bare payload.
    decode_all(data);
});
