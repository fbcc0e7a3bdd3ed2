//! Length-prefixed framing of postcard messages over any byte stream.
//!
//! A frame is a 4-byte little-endian `u32` payload length followed by that many
//! bytes of postcard. Payloads larger than [`MAX_FRAME_LEN`] are refused on both
//! the writing and the reading side; a reader checks the length before
//! allocating anything.
//!
//! The functions take a caller-owned `Vec<u8>` so a connection can reuse one
//! buffer for every frame instead of allocating per message.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};

use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};

use crate::MAX_FRAME_LEN;

/// The size of the length prefix in front of every frame.
const HEADER_LEN: usize = 4;

/// Why a frame could not be written, read or decoded.
#[derive(Debug)]
pub enum FrameError {
    /// The underlying stream failed.
    Io(io::Error),
    /// A frame's payload is larger than the limit.
    TooLarge {
        /// The payload length, as encoded or as announced by the length prefix.
        len: usize,
        /// The limit, [`MAX_FRAME_LEN`].
        max: usize,
    },
    /// The stream ended partway through a frame's header or payload.
    Truncated {
        /// How many bytes the header or payload needed.
        expected: usize,
        /// How many bytes arrived before the stream ended.
        got: usize,
    },
    /// The payload is not a valid encoding of the expected message, or has bytes
    /// left over after it.
    Decode(String),
    /// The message could not be serialized.
    Encode(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(err) => write!(f, "i/o error on the connection: {err}"),
            Self::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the {max}-byte limit")
            }
            Self::Truncated { expected, got } => write!(
                f,
                "connection closed in the middle of a frame: expected {expected} bytes, got {got}"
            ),
            Self::Decode(msg) => write!(f, "malformed message: {msg}"),
            Self::Encode(msg) => write!(f, "could not encode message: {msg}"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(err: io::Error) -> Self {
        Self::Io(err)
    }
}

/// Encodes `msg` as one complete frame (header and payload) into `buf`,
/// replacing whatever `buf` held.
///
/// # Errors
///
/// [`FrameError::TooLarge`] if the payload exceeds [`MAX_FRAME_LEN`] (then `buf`
/// is left empty), [`FrameError::Encode`] if serialization fails.
pub fn encode<T: Serialize + ?Sized>(msg: &T, buf: &mut Vec<u8>) -> Result<(), FrameError> {
    buf.clear();
    buf.extend_from_slice(&[0; HEADER_LEN]);
    let out = postcard::to_extend(msg, std::mem::take(buf))
        .map_err(|err| FrameError::Encode(err.to_string()))?;
    *buf = out;

    let len = buf.len() - HEADER_LEN;
    let too_large = FrameError::TooLarge {
        len,
        max: MAX_FRAME_LEN,
    };
    if len > MAX_FRAME_LEN {
        buf.clear();
        return Err(too_large);
    }
    let Ok(len32) = u32::try_from(len) else {
        buf.clear();
        return Err(too_large);
    };
    buf[..HEADER_LEN].copy_from_slice(&len32.to_le_bytes());
    Ok(())
}

/// Encodes `msg` into `buf` and writes the whole frame to `w` with one
/// `write_all`, then flushes.
///
/// # Errors
///
/// Whatever [`encode`] returns, or [`FrameError::Io`] if writing fails.
pub fn write_frame<W: Write + ?Sized, T: Serialize + ?Sized>(
    w: &mut W,
    msg: &T,
    buf: &mut Vec<u8>,
) -> Result<(), FrameError> {
    encode(msg, buf)?;
    w.write_all(buf)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame from `r` into `buf` and returns its payload.
///
/// Returns `Ok(None)` when the stream ends cleanly before the first byte of a
/// frame, which is how a peer closing the connection looks. Interrupted reads
/// are retried.
///
/// # Errors
///
/// [`FrameError::Truncated`] if the stream ends inside the header or payload,
/// [`FrameError::TooLarge`] if the announced length exceeds [`MAX_FRAME_LEN`]
/// (checked before `buf` grows), [`FrameError::Io`] if reading fails.
pub fn read_frame<'a, R: Read + ?Sized>(
    r: &mut R,
    buf: &'a mut Vec<u8>,
) -> Result<Option<&'a [u8]>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    match fill(r, &mut header)? {
        0 => return Ok(None),
        HEADER_LEN => {}
        got => {
            return Err(FrameError::Truncated {
                expected: HEADER_LEN,
                got,
            });
        }
    }

    let len = usize::try_from(u32::from_le_bytes(header)).unwrap_or(usize::MAX);
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }

    buf.clear();
    buf.resize(len, 0);
    let got = fill(r, buf)?;
    if got < len {
        return Err(FrameError::Truncated { expected: len, got });
    }
    Ok(Some(buf.as_slice()))
}

/// Decodes one message from a frame payload.
///
/// # Errors
///
/// [`FrameError::Decode`] if the bytes are not a valid encoding of `T` or if
/// bytes remain after the message.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, FrameError> {
    let (msg, rest) =
        postcard::take_from_bytes(bytes).map_err(|err| FrameError::Decode(err.to_string()))?;
    if !rest.is_empty() {
        return Err(FrameError::Decode(format!(
            "{} unexpected bytes after the end of the message",
            rest.len()
        )));
    }
    Ok(msg)
}

/// Reads one frame from `r` and decodes it; `Ok(None)` on a clean end of stream.
///
/// # Errors
///
/// Whatever [`read_frame`] or [`decode`] returns.
pub fn read_message<R: Read + ?Sized, T: DeserializeOwned>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Option<T>, FrameError> {
    match read_frame(r, buf)? {
        Some(payload) => decode(payload).map(Some),
        None => Ok(None),
    }
}

/// Reads into `dst` until it is full or the stream ends, retrying interrupted
/// reads, and returns how many bytes were read.
///
/// Unlike `read_exact` this reports how far it got, for [`FrameError::Truncated`],
/// and it does not panic if a faulty reader claims to have read more than it was
/// given room for.
fn fill<R: Read + ?Sized>(r: &mut R, dst: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = dst.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n.min(rest.len()),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per call and interrupts every other call.
    struct Stutter<'a> {
        data: &'a [u8],
        interrupt: bool,
    }

    impl Read for Stutter<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::Error::from(ErrorKind::Interrupted));
            }
            match (self.data.split_first(), out.first_mut()) {
                (Some((&b, rest)), Some(slot)) => {
                    *slot = b;
                    self.data = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// A faulty reader that claims to have read more than the buffer holds.
    struct Liar;

    impl Read for Liar {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            Ok(out.len() + 10)
        }
    }

    #[test]
    fn header_is_little_endian_payload_length() {
        let mut buf = Vec::new();
        encode(&"abc", &mut buf).unwrap();
        assert_eq!(buf, [4, 0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn interrupted_reads_are_retried() {
        let mut frame = Vec::new();
        encode(&(7u32, "seven".to_owned()), &mut frame).unwrap();
        let mut r = Stutter {
            data: &frame,
            interrupt: false,
        };
        let mut buf = Vec::new();
        let msg: Option<(u32, String)> = read_message(&mut r, &mut buf).unwrap();
        assert_eq!(msg, Some((7, "seven".to_owned())));
        assert!(read_frame(&mut r, &mut buf).unwrap().is_none());
    }

    #[test]
    fn faulty_reader_does_not_panic() {
        let mut buf = Vec::new();
        let _ = read_frame(&mut Liar, &mut buf);
    }

    #[test]
    fn other_io_errors_surface() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::from(ErrorKind::ConnectionReset))
            }
        }
        let mut buf = Vec::new();
        let err = read_frame(&mut Broken, &mut buf).unwrap_err();
        assert!(matches!(&err, FrameError::Io(e) if e.kind() == ErrorKind::ConnectionReset));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn oversized_message_is_refused_on_encode() {
        let big = vec![0u8; MAX_FRAME_LEN + 1];
        let mut buf = Vec::new();
        let err = encode(&big, &mut buf).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { len, max } if len > MAX_FRAME_LEN && max == MAX_FRAME_LEN)
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn largest_allowed_payload_round_trips() {
        // A byte vector of n elements encodes as a varint length (3 bytes for
        // lengths up to 2^21) followed by the bytes.
        let payload = vec![0xAB_u8; MAX_FRAME_LEN - 3];
        let mut buf = Vec::new();
        encode(&payload, &mut buf).unwrap();
        assert_eq!(buf.len(), HEADER_LEN + MAX_FRAME_LEN);
        let mut r = io::Cursor::new(buf.clone());
        let back: Vec<u8> = read_message(&mut r, &mut Vec::new()).unwrap().unwrap();
        assert_eq!(back, payload);
    }

    #[test]
    fn error_messages() {
        let too_large = FrameError::TooLarge {
            len: 2_000_000,
            max: MAX_FRAME_LEN,
        };
        assert_eq!(
            too_large.to_string(),
            "frame of 2000000 bytes exceeds the 1048576-byte limit"
        );
        let truncated = FrameError::Truncated {
            expected: 120,
            got: 17,
        };
        assert_eq!(
            truncated.to_string(),
            "connection closed in the middle of a frame: expected 120 bytes, got 17"
        );
        assert!(
            FrameError::Decode("x".into())
                .to_string()
                .starts_with("malformed message: ")
        );
    }
}
