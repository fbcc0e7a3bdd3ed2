//! Connecting to the daemon's Unix socket within a deadline.
//!
//! std's `UnixStream::connect` blocks for as long as the daemon's queue of unaccepted connections
//! is full (a hung daemon: every later client waits forever), and std has no connect timeout for
//! Unix sockets. A non-blocking connect answers at once instead (`EAGAIN` when the queue is full),
//! so the client can retry until its deadline and then apply the fail mode. One more system call
//! than std's connect (clearing `O_NONBLOCK`), none of them on a path that waits. This module is
//! one of the exceptions to `unsafe_code = "deny"` (see ARCHITECTURE.md): `socket`, `connect`,
//! `fcntl` and `close` with integer arguments and a pointer to a local `repr(C)` address; the
//! descriptor is owned by a `UnixStream` at once or closed.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

mod sys {
    use std::ffi::c_int;

    unsafe extern "C" {
        pub fn socket(domain: c_int, kind: c_int, protocol: c_int) -> c_int;
        pub fn connect(fd: c_int, addr: *const SockaddrUn, len: u32) -> c_int;
        pub fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
        pub fn close(fd: c_int) -> c_int;
    }

    pub const AF_UNIX: c_int = 1;
    pub const SOCK_STREAM: c_int = 1;
    pub const SOCK_NONBLOCK: c_int = 0o4000;
    pub const SOCK_CLOEXEC: c_int = 0o2000000;
    pub const F_SETFL: c_int = 4;
    pub const EAGAIN: i32 = 11;
    pub const EINTR: i32 = 4;

    /// `struct sockaddr_un` on Linux.
    #[repr(C)]
    pub struct SockaddrUn {
        pub family: u16,
        pub path: [u8; 108],
    }
}

/// How long to wait between attempts while the daemon's queue is full.
const RETRY: Duration = Duration::from_millis(10);

/// Connects to the socket at `path`, retrying while the listener's queue is full, until
/// `deadline`. Errors keep their kind (`NotFound`, `ConnectionRefused` for a missing or stale
/// socket), and a deadline passed is `TimedOut`.
pub fn connect(path: &Path, deadline: Instant) -> io::Result<UnixStream> {
    let bytes = path.as_os_str().as_bytes();
    let mut addr = sys::SockaddrUn {
        family: sys::AF_UNIX as u16,
        path: [0; 108],
    };
    if bytes.len() >= addr.path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket path too long or invalid: {}", path.display()),
        ));
    }
    addr.path[..bytes.len()].copy_from_slice(bytes);
    let len = (size_of::<u16>() + bytes.len() + 1) as u32;
    // SAFETY: plain system calls on a descriptor this function owns; `addr` outlives the call
    // and `len` covers its family and the NUL-terminated path.
    unsafe {
        let fd = sys::socket(
            sys::AF_UNIX,
            sys::SOCK_STREAM | sys::SOCK_NONBLOCK | sys::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            if sys::connect(fd, &addr, len) == 0 {
                // Blocking again: reads and writes use socket timeouts.
                if sys::fcntl(fd, sys::F_SETFL, 0) < 0 {
                    let e = io::Error::last_os_error();
                    sys::close(fd);
                    return Err(e);
                }
                return Ok(UnixStream::from_raw_fd(fd));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(sys::EINTR) => continue,
                Some(sys::EAGAIN) if Instant::now() < deadline => std::thread::sleep(RETRY),
                Some(sys::EAGAIN) => {
                    sys::close(fd);
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the daemon accepts no connections (its queue is full: hung or overloaded)",
                    ));
                }
                _ => {
                    sys::close(fd);
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_and_reports_missing_sockets_and_full_queues() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let soon = || Instant::now() + Duration::from_millis(200);
        assert_eq!(
            connect(&path, soon()).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let stream = connect(&path, soon()).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        // Blocking again after the connect.
        stream
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let mut buf = [0u8; 1];
        let err = io::Read::read(&mut &stream, &mut buf).unwrap_err();
        assert!(matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
        // A listener that never accepts: once its queue is full, connecting times out instead
        // of blocking.
        let mut held = Vec::new();
        let started = Instant::now();
        let outcome = loop {
            match connect(&path, Instant::now() + Duration::from_millis(50)) {
                Ok(s) => held.push(s),
                Err(e) => break e,
            }
            assert!(held.len() < 100_000, "the queue never filled");
        };
        assert_eq!(outcome.kind(), io::ErrorKind::TimedOut, "{outcome}");
        assert!(started.elapsed() < Duration::from_secs(30));
        let long = dir.path().join("x".repeat(200));
        assert_eq!(
            connect(&long, soon()).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
