//! Kernel containment with Landlock: the profile (`profile.rs`) turned into a ruleset, enforced
//! on this process (and so on the program it `execve`s and everything that starts) just before
//! the exec.
//!
//! Raw system calls through libc's `syscall` and `prctl` (std links libc; the shim takes no crate
//! for this): `landlock_create_ruleset` (also the ABI version query), `landlock_add_rule`,
//! `prctl(PR_SET_NO_NEW_PRIVS)` and `landlock_restrict_self`. This is the workspace's second
//! exception to `unsafe_code = "deny"` (see ARCHITECTURE.md); every call takes plain integers
//! or a pointer to a local `repr(C)` struct, and every returned descriptor is owned at once.
//!
//! Every filesystem right the kernel's ABI knows is handled (so anything not granted is refused),
//! and from ABI 6 signals and abstract Unix sockets are scoped: a contained command cannot signal
//! the daemon or the user's other processes, nor connect to their abstract sockets.

#![allow(unsafe_code)]

use std::ffi::{c_long, c_ulong};
use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::profile::{Grant, Profile};

/// Why containment could not be applied.
#[derive(Debug)]
pub enum Error {
    /// The kernel has no Landlock (too old, disabled, not Linux, or simulated unavailable).
    Unavailable(String),
    /// Landlock is there but enforcing failed.
    Failed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unavailable(e) => write!(f, "Landlock is unavailable: {e}"),
            Error::Failed(e) => write!(f, "Landlock containment failed: {e}"),
        }
    }
}

// Access rights (linux/landlock.h).
const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const REMOVE_DIR: u64 = 1 << 4;
const REMOVE_FILE: u64 = 1 << 5;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_DIR: u64 = 1 << 7;
const MAKE_REG: u64 = 1 << 8;
const MAKE_SOCK: u64 = 1 << 9;
const MAKE_FIFO: u64 = 1 << 10;
const MAKE_BLOCK: u64 = 1 << 11;
const MAKE_SYM: u64 = 1 << 12;
/// ABI 2: link or rename a file into another directory.
const REFER: u64 = 1 << 13;
/// ABI 3: truncate (`truncate`, `ftruncate`, `O_TRUNC`).
const TRUNCATE: u64 = 1 << 14;
/// ABI 5: `ioctl` on character and block devices.
const IOCTL_DEV: u64 = 1 << 15;

/// ABI 4: bind a TCP socket to a local port.
const NET_BIND_TCP: u64 = 1 << 0;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

/// Rights a rule on a file (not a directory) may carry.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

const READ: u64 = EXECUTE | READ_FILE | READ_DIR;
/// Writes: everything except making device nodes.
const WRITE: u64 = READ
    | WRITE_FILE
    | REMOVE_DIR
    | REMOVE_FILE
    | MAKE_DIR
    | MAKE_REG
    | MAKE_SOCK
    | MAKE_FIFO
    | MAKE_SYM
    | REFER
    | TRUNCATE
    | IOCTL_DEV;

/// Every filesystem right of an ABI version.
pub fn handled_fs(abi: u32) -> u64 {
    let v1 = EXECUTE
        | WRITE_FILE
        | READ_FILE
        | READ_DIR
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM;
    match abi {
        0 => 0,
        1 => v1,
        2 => v1 | REFER,
        3 | 4 => v1 | REFER | TRUNCATE,
        _ => v1 | REFER | TRUNCATE | IOCTL_DEV,
    }
}

/// The scopes of an ABI version (signals and abstract Unix sockets from ABI 6).
pub fn scoped(abi: u32) -> u64 {
    if abi >= 6 {
        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    } else {
        0
    }
}

/// The rights of a rule.
fn rule_access(grant: Grant, dir: bool, abi: u32) -> u64 {
    let rights = match grant {
        Grant::List => READ_DIR,
        Grant::Read => READ,
        Grant::Device => READ | IOCTL_DEV,
        Grant::Write => WRITE,
    };
    let rights = if dir { rights } else { rights & FILE_RIGHTS };
    rights & handled_fs(abi)
}

#[cfg(target_os = "linux")]
mod sys {
    use std::ffi::{c_int, c_long};

    unsafe extern "C" {
        pub fn syscall(number: c_long, ...) -> c_long;
        pub fn prctl(option: c_int, ...) -> c_int;
    }

    // The same numbers on every architecture (the unified table of new system calls).
    pub const CREATE_RULESET: c_long = 444;
    pub const ADD_RULE: c_long = 445;
    pub const RESTRICT_SELF: c_long = 446;
    pub const CREATE_RULESET_VERSION: c_long = 1;
    pub const RULE_PATH_BENEATH: c_long = 1;
    pub const PR_SET_NO_NEW_PRIVS: c_int = 38;
    pub const O_PATH: c_int = 0o10000000;

    #[repr(C)]
    pub struct RulesetAttr {
        pub handled_access_fs: u64,
        pub handled_access_net: u64,
        pub scoped: u64,
    }

    #[repr(C, packed)]
    pub struct PathBeneathAttr {
        pub allowed_access: u64,
        pub parent_fd: i32,
    }

    unsafe extern "C" {
        pub fn recvmsg(fd: c_int, msg: *mut MsgHdr, flags: c_int) -> isize;
    }

    /// `struct msghdr` as the kernel reads it on 64-bit Linux. (musl declares the two lengths as
    /// 32-bit values beside zeroed padding, which is the same bytes on little-endian machines.)
    #[repr(C)]
    pub struct MsgHdr {
        pub name: *mut u8,
        pub namelen: u32,
        pub iov: *mut IoVec,
        pub iovlen: usize,
        pub control: *mut u8,
        pub controllen: usize,
        pub flags: c_int,
    }

    #[repr(C)]
    pub struct IoVec {
        pub base: *mut u8,
        pub len: usize,
    }

    /// `struct cmsghdr` (the same remark on musl applies to `len`).
    #[repr(C)]
    pub struct CmsgHdr {
        pub len: usize,
        pub level: c_int,
        pub kind: c_int,
    }

    pub const SOL_SOCKET: c_int = 1;
    pub const SCM_RIGHTS: c_int = 1;
    pub const MSG_CMSG_CLOEXEC: c_int = 0x4000_0000;
}

/// A ruleset the daemon handed over with its answer (`SCM_RIGHTS`), kept until the exec.
static RECEIVED: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

/// The ruleset the daemon handed over, if any.
pub fn take_received() -> Option<OwnedFd> {
    RECEIVED.lock().ok()?.take()
}

/// `read` on the daemon's socket through `recvmsg`, so that a ruleset descriptor the daemon
/// attaches to its answer is kept ([`take_received`]) rather than dropped. Descriptors arrive
/// close-on-exec; only the last one is kept (the daemon sends one per answer).
#[cfg(target_os = "linux")]
pub fn recv(stream: &std::os::unix::net::UnixStream, buf: &mut [u8]) -> std::io::Result<usize> {
    // Room for one header and a few descriptors (CMSG_SPACE(4 * 4) = 32 on 64-bit).
    let mut control = [0u64; 8];
    let mut iov = sys::IoVec {
        base: buf.as_mut_ptr(),
        len: buf.len(),
    };
    let mut msg = sys::MsgHdr {
        name: std::ptr::null_mut(),
        namelen: 0,
        iov: &raw mut iov,
        iovlen: 1,
        control: control.as_mut_ptr().cast(),
        controllen: size_of_val(&control),
        flags: 0,
    };
    // SAFETY: every pointer in `msg` points to live buffers of the lengths given.
    let n = unsafe { sys::recvmsg(stream.as_raw_fd(), &raw mut msg, sys::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let header = size_of::<sys::CmsgHdr>();
    let mut offset = 0;
    let bytes: &[u8] = {
        let len = msg.controllen.min(size_of_val(&control));
        // SAFETY: `control` is a plain array of that many initialised bytes.
        unsafe { std::slice::from_raw_parts(control.as_ptr().cast::<u8>(), len) }
    };
    while offset + header <= bytes.len() {
        let at = &bytes[offset..];
        let len = usize::from_ne_bytes(at[..8].try_into().unwrap_or_default());
        let level = i32::from_ne_bytes(at[8..12].try_into().unwrap_or_default());
        let kind = i32::from_ne_bytes(at[12..16].try_into().unwrap_or_default());
        if len < header || offset + len > bytes.len() {
            break;
        }
        if level == sys::SOL_SOCKET && kind == sys::SCM_RIGHTS {
            for fd in at[header..len].chunks_exact(4) {
                let fd = i32::from_ne_bytes(fd.try_into().unwrap_or_default());
                if fd >= 0 {
                    // SAFETY: the kernel just installed this descriptor in our table for us.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    if let Ok(mut slot) = RECEIVED.lock() {
                        *slot = Some(owned);
                    }
                }
            }
        }
        offset += (len + 7) & !7;
    }
    Ok(n as usize)
}

/// Without Linux, a plain read.
#[cfg(not(target_os = "linux"))]
pub fn recv(stream: &std::os::unix::net::UnixStream, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut s = stream;
    s.read(buf)
}

/// Whether the test switch `SAFESHELL_TEST_NO_LANDLOCK=1` simulates a kernel without Landlock
/// (debug builds only: a shipped shim never reads it).
fn simulated_unavailable() -> bool {
    cfg!(debug_assertions)
        && std::env::var_os("SAFESHELL_TEST_NO_LANDLOCK").is_some_and(|v| v == "1")
}

/// The kernel's Landlock ABI version.
pub fn abi() -> Result<u32, Error> {
    if simulated_unavailable() {
        return Err(Error::Unavailable(
            "simulated by SAFESHELL_TEST_NO_LANDLOCK=1".into(),
        ));
    }
    abi_of_kernel()
}

#[cfg(target_os = "linux")]
fn abi_of_kernel() -> Result<u32, Error> {
    // SAFETY: the version query takes no attribute (null, size 0) and returns an integer.
    let v = unsafe {
        sys::syscall(
            sys::CREATE_RULESET,
            std::ptr::null::<sys::RulesetAttr>(),
            0 as c_long,
            sys::CREATE_RULESET_VERSION,
        )
    };
    if v < 1 {
        let e = std::io::Error::last_os_error();
        return Err(Error::Unavailable(format!("the kernel says {e}")));
    }
    Ok(v as u32)
}

#[cfg(not(target_os = "linux"))]
fn abi_of_kernel() -> Result<u32, Error> {
    Err(Error::Unavailable("not Linux".into()))
}

/// Enforces the profile on this process and its future children. Paths that cannot be opened
/// are skipped (fewer grants, never more). On success the process can never regain access.
#[cfg(target_os = "linux")]
pub fn apply(profile: &Profile, abi: u32) -> Result<(), Error> {
    restrict(&ruleset(profile, abi)?)
}

/// The ruleset of a profile, not enforced (the daemon builds one per project and hands it to
/// shims with its answer; see [`recv`]).
#[cfg(target_os = "linux")]
pub fn ruleset(profile: &Profile, abi: u32) -> Result<OwnedFd, Error> {
    let attr = sys::RulesetAttr {
        handled_access_fs: handled_fs(abi),
        // Handled and never granted: every TCP bind is refused.
        handled_access_net: if profile.no_listen && abi >= 4 {
            NET_BIND_TCP
        } else {
            0
        },
        scoped: scoped(abi),
    };
    // SAFETY: a pointer to a live, initialised struct and its size.
    let fd = unsafe {
        sys::syscall(
            sys::CREATE_RULESET,
            &raw const attr,
            size_of::<sys::RulesetAttr>() as c_long,
            0 as c_long,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::Failed(format!("landlock_create_ruleset: {e}")));
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let ruleset = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut open = std::fs::OpenOptions::new();
    open.read(true).custom_flags(sys::O_PATH);
    for rule in &profile.rules {
        let access = rule_access(rule.grant, rule.dir, abi);
        if access == 0 {
            continue;
        }
        let Ok(file) = open.open(&rule.path) else {
            continue;
        };
        let beneath = sys::PathBeneathAttr {
            allowed_access: access,
            parent_fd: file.as_raw_fd(),
        };
        // SAFETY: a live descriptor and a pointer to a live struct.
        let r = unsafe {
            sys::syscall(
                sys::ADD_RULE,
                ruleset.as_raw_fd() as c_long,
                sys::RULE_PATH_BENEATH,
                &raw const beneath,
                0 as c_long,
            )
        };
        // A rule the kernel will not take (a path whose type changed under us) is left out.
        let _ = r;
    }
    Ok(ruleset)
}

/// `prctl(PR_SET_NO_NEW_PRIVS)` and `landlock_restrict_self` on a ruleset.
#[cfg(target_os = "linux")]
pub fn restrict(ruleset: &OwnedFd) -> Result<(), Error> {
    // SAFETY: integer arguments only.
    let r = unsafe {
        sys::prctl(
            sys::PR_SET_NO_NEW_PRIVS,
            1 as c_ulong,
            0 as c_ulong,
            0 as c_ulong,
            0 as c_ulong,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::Failed(format!("prctl(PR_SET_NO_NEW_PRIVS): {e}")));
    }
    // SAFETY: a live descriptor and no flags.
    let r = unsafe {
        sys::syscall(
            sys::RESTRICT_SELF,
            ruleset.as_raw_fd() as c_long,
            0 as c_long,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        // E2BIG: 16 domains are stacked already; this process is contained by its ancestors.
        if e.raw_os_error() == Some(7) {
            return Ok(());
        }
        return Err(Error::Failed(format!("landlock_restrict_self: {e}")));
    }
    Ok(())
}

/// Without Linux there is nothing to apply (`abi` already said so).
#[cfg(not(target_os = "linux"))]
pub fn apply(_profile: &Profile, _abi: u32) -> Result<(), Error> {
    Err(Error::Unavailable("not Linux".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_follow_the_abi_and_files_get_file_rights_only() {
        assert_eq!(handled_fs(1), (1 << 13) - 1);
        assert_eq!(handled_fs(2) & REFER, REFER);
        assert_eq!(handled_fs(4) & IOCTL_DEV, 0);
        assert_eq!(handled_fs(7), (1 << 16) - 1);
        assert_eq!(scoped(5), 0);
        assert_eq!(scoped(6), 3);
        let file = rule_access(Grant::Write, false, 7);
        assert_eq!(file & !FILE_RIGHTS, 0);
        assert_eq!(file & WRITE_FILE, WRITE_FILE);
        assert_eq!(rule_access(Grant::List, true, 7), READ_DIR);
        assert_eq!(rule_access(Grant::Write, true, 1) & (REFER | TRUNCATE), 0);
        assert_eq!(
            rule_access(Grant::Write, true, 7) & (MAKE_CHAR | MAKE_BLOCK),
            0
        );
    }
}
