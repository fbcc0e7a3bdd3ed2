//! Malformed, truncated and hostile input gives the right error and never panics.

use std::io::Cursor;

use safeshell_protocol::{
    FrameError, MAX_FRAME_LEN, PROTOCOL_VERSION, Request, Response, check_versions, decode, encode,
    read_frame, read_message,
};

fn frame_of(msg: &Request) -> Vec<u8> {
    let mut buf = Vec::new();
    encode(msg, &mut buf).unwrap();
    buf
}

#[test]
fn empty_stream_is_a_clean_end() {
    let mut buf = Vec::new();
    assert!(
        read_frame(&mut Cursor::new(Vec::new()), &mut buf)
            .unwrap()
            .is_none()
    );
    assert!(
        read_message::<_, Request>(&mut &[][..], &mut buf)
            .unwrap()
            .is_none()
    );
}

#[test]
fn truncated_header() {
    for got in 1..4 {
        let bytes = vec![5u8; got];
        let err = read_frame(&mut Cursor::new(bytes), &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { expected: 4, got: g } if g == got),
            "{err:?}"
        );
    }
}

#[test]
fn truncated_payload() {
    let frame = frame_of(&Request::Status);
    let mut bytes = vec![120, 0, 0, 0];
    bytes.extend_from_slice(&[0; 17]);
    let err = read_frame(&mut Cursor::new(bytes), &mut Vec::new()).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::Truncated {
                expected: 120,
                got: 17
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "connection closed in the middle of a frame: expected 120 bytes, got 17"
    );

    // A real frame cut one byte short.
    let cut = &frame[..frame.len() - 1];
    let err = read_frame(&mut &cut[..], &mut Vec::new()).unwrap_err();
    assert!(
        matches!(err, FrameError::Truncated { got: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn oversized_length_is_refused_before_allocating() {
    for len in [MAX_FRAME_LEN as u32 + 1, 2_000_000, u32::MAX] {
        let mut buf = Vec::new();
        let header = len.to_le_bytes();
        let err = read_frame(&mut &header[..], &mut buf).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { len: l, max: MAX_FRAME_LEN } if l == len as usize),
            "{err:?}"
        );
        assert_eq!(buf.capacity(), 0, "no allocation for a refused frame");
    }
    let err = FrameError::TooLarge {
        len: 2_000_000,
        max: MAX_FRAME_LEN,
    };
    assert_eq!(
        err.to_string(),
        "frame of 2000000 bytes exceeds the 1048576-byte limit"
    );
}

#[test]
fn exactly_max_length_is_accepted_as_a_length() {
    // The header alone announces a maximal frame; the stream then ends, so the
    // read fails as truncated, not as too large.
    let header = (MAX_FRAME_LEN as u32).to_le_bytes();
    let err = read_frame(&mut &header[..], &mut Vec::new()).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::Truncated {
                expected: MAX_FRAME_LEN,
                got: 0
            }
        ),
        "{err:?}"
    );
}

#[test]
fn garbage_payload_is_a_decode_error() {
    for payload in [&[0xFF_u8, 0xFF, 0xFF][..], &[200], &[0], &[]] {
        let err = decode::<Request>(payload).unwrap_err();
        assert!(matches!(err, FrameError::Decode(_)), "{payload:?}: {err:?}");
        assert!(err.to_string().starts_with("malformed message: "), "{err}");
    }
}

#[test]
fn trailing_bytes_are_a_decode_error() {
    let frame = frame_of(&Request::Ping);
    let mut payload = frame[4..].to_vec();
    assert_eq!(decode::<Request>(&payload).unwrap(), Request::Ping);
    payload.push(0);
    let err = decode::<Request>(&payload).unwrap_err();
    assert!(matches!(err, FrameError::Decode(_)), "{err:?}");
}

#[test]
fn zero_length_frame_reads_but_does_not_decode() {
    let mut buf = Vec::new();
    let stream = [0u8, 0, 0, 0];
    assert_eq!(
        read_frame(&mut &stream[..], &mut buf).unwrap(),
        Some(&[][..])
    );
    let err = read_message::<_, Request>(&mut &stream[..], &mut buf).unwrap_err();
    assert!(matches!(err, FrameError::Decode(_)), "{err:?}");
}

#[test]
fn frames_back_to_back_then_end() {
    let msgs = [Request::Ping, Request::Status, Request::Ping];
    let mut stream = Vec::new();
    for msg in &msgs {
        stream.extend_from_slice(&frame_of(msg));
    }
    let mut reader = Cursor::new(stream);
    let mut buf = Vec::new();
    for msg in &msgs {
        let payload = read_frame(&mut reader, &mut buf).unwrap().unwrap();
        assert_eq!(&decode::<Request>(payload).unwrap(), msg);
    }
    assert!(read_frame(&mut reader, &mut buf).unwrap().is_none());
}

/// A tiny deterministic xorshift generator, so the "fuzz" loop needs no crate
/// and always tests the same inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x5AFE_5E11_0000_0001);
    let mut buf = Vec::new();
    for i in 0..600 {
        let len = usize::try_from(rng.next() % 64).unwrap();
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        // Every other input gets a plausible header so the payload reaches decode.
        if i % 2 == 0 {
            let mut payload_len = u32::try_from(len).unwrap();
            if rng.next().is_multiple_of(3) {
                payload_len += 1; // announce one byte more than there is
            }
            let mut framed = payload_len.to_le_bytes().to_vec();
            framed.append(&mut bytes);
            bytes = framed;
        }
        let mut reader = &bytes[..];
        // Read frames until the stream ends or errors; decoding must not panic either.
        for _ in 0..8 {
            match read_frame(&mut reader, &mut buf) {
                Ok(Some(payload)) => {
                    let _ = decode::<Request>(payload);
                    let _ = decode::<Response>(payload);
                }
                Ok(None) | Err(_) => break,
            }
        }
        // Mutations of valid frames: flip one byte of a real message.
        let mut frame = frame_of(&Request::Resolve(safeshell_protocol::ApprovalResolution {
            approval_id: rng.next(),
            verdict: safeshell_protocol::ApprovalVerdict::ApproveSession,
            reason: Some("ok".to_owned()),
        }));
        let at = usize::try_from(rng.next()).unwrap_or(0) % frame.len();
        frame[at] = rng.byte();
        if let Ok(Some(payload)) = read_frame(&mut &frame[..], &mut buf) {
            let _ = decode::<Request>(payload);
        }
    }
}

#[test]
fn version_check() {
    assert!(check_versions(PROTOCOL_VERSION, PROTOCOL_VERSION).is_ok());
    let err = check_versions(2, 1).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("client speaks v2"), "{msg}");
    assert!(msg.contains("daemon speaks v1"), "{msg}");
    assert!(msg.contains("safeshell daemon restart"), "{msg}");
    assert!(!msg.ends_with('.'), "{msg}");
}
