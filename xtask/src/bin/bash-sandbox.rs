//! `bash-sandbox`: runs one command string in a real bash that cannot run a real program, write
//! outside its work directory or reach the network, for the differential test of the shell
//! parser (`xtask/tests/differential/`). Development tooling only, never shipped.
//!
//! `#![allow(unsafe_code)]`: the sandbox is made of raw system calls (`unshare`, Landlock,
//! `prctl`, `setrlimit`, `setgroups`/`setresgid`/`setresuid`, `kill`) that std does not wrap.
//! They are declared from the libc std already links, as `shim/src/contain.rs` does, so the
//! workspace takes no crate for them; every call takes integers or a pointer to a local
//! `repr(C)` value.
//!
//! Two modes:
//!
//! - **Launcher** (`bash-sandbox --work DIR --stubs DIR --bash PATH --exit N --timeout-ms MS --
//!   COMMAND`), run as root. In this order: a new network namespace (`unshare(CLONE_NEWNET)`: no
//!   interface but a loopback that is down); resource limits (processes, file size, no core
//!   dumps); a Landlock ruleset that handles every filesystem right of the kernel's ABI (and TCP
//!   connect/bind from ABI 4) and grants: read everything, execute only the stub directory, the
//!   bash binary and its ELF interpreter (the dynamic loader; libraries are mapped, which
//!   Landlock does not check), write only beneath the work directory (and `/dev/null`); then
//!   `PR_SET_NO_NEW_PRIVS`, `landlock_restrict_self`, and a drop to uid/gid 65534 with no
//!   supplementary groups. Then it starts `bash --norc --noprofile -c COMMAND` in its own process
//!   group with a cleared environment (`PATH=<stubs>`, `HOME=<work>/home`, `LANG=C`, `BASH_ENV`
//!   and the recorder's variables), in `<work>/cwd`, kills the group after the timeout (exit
//!   124) and always once bash has exited (background jobs), and exits with bash's status. Any
//!   step that fails refuses to run (exit 125, `bash-sandbox: unavailable: …` on stderr).
//! - **Recorder** (when `SAFESHELL_DIFF_LOG` is set): every stub in the stub directory is a hard
//!   link to a copy of this binary. It writes one record file into `$SAFESHELL_DIFF_LOG`: the
//!   kind (`x` ran as a stub, `n` reached bash's `command_not_found_handle`), the program (the
//!   stub's file name) and the arguments, NUL-terminated each, and exits with
//!   `$SAFESHELL_DIFF_EXIT`. The `bash` and `sh` stubs then execute the real bash with the same
//!   arguments (so nested shell strings run), with `BASH_ENV` set. Past 256 records the
//!   recorder kills its process group (loops).

#![allow(unsafe_code)]

use std::ffi::{OsStr, OsString, c_int, c_long, c_ulong};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod sys {
    use std::ffi::{c_int, c_long};

    unsafe extern "C" {
        pub fn syscall(number: c_long, ...) -> c_long;
        pub fn prctl(option: c_int, ...) -> c_int;
        pub fn unshare(flags: c_int) -> c_int;
        pub fn setgroups(size: usize, list: *const u32) -> c_int;
        pub fn setresgid(r: u32, e: u32, s: u32) -> c_int;
        pub fn setresuid(r: u32, e: u32, s: u32) -> c_int;
        pub fn geteuid() -> u32;
        pub fn getuid() -> u32;
        pub fn getgid() -> u32;
        pub fn kill(pid: c_int, sig: c_int) -> c_int;
        pub fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        pub fn setrlimit(resource: c_int, limit: *const RLimit) -> c_int;
    }

    #[repr(C)]
    pub struct RLimit {
        pub cur: u64,
        pub max: u64,
    }

    pub const CREATE_RULESET: c_long = 444;
    pub const ADD_RULE: c_long = 445;
    pub const RESTRICT_SELF: c_long = 446;
    pub const CREATE_RULESET_VERSION: c_long = 1;
    pub const RULE_PATH_BENEATH: c_long = 1;
    pub const RULE_NET_PORT: c_long = 2;
    pub const PR_SET_NO_NEW_PRIVS: c_int = 38;
    pub const O_PATH: c_int = 0o10000000;
    pub const CLONE_NEWNET: c_int = 0x4000_0000;
    pub const SIGKILL: c_int = 9;
    pub const WNOHANG: c_int = 1;
    pub const PR_SET_CHILD_SUBREAPER: c_int = 36;
    pub const RLIMIT_FSIZE: c_int = 1;
    pub const RLIMIT_CORE: c_int = 4;
    pub const RLIMIT_NPROC: c_int = 6;

    #[repr(C)]
    pub struct RulesetAttr {
        pub handled_access_fs: u64,
        pub handled_access_net: u64,
    }

    #[repr(C, packed)]
    pub struct PathBeneathAttr {
        pub allowed_access: u64,
        pub parent_fd: i32,
    }
}

// Landlock filesystem rights (linux/landlock.h).
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
const REFER: u64 = 1 << 13;
const TRUNCATE: u64 = 1 << 14;
const IOCTL_DEV: u64 = 1 << 15;
// Landlock network rights (ABI 4).
const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;

/// The uid and gid commands run as (`nobody`).
const NOBODY: u32 = 65534;
/// Records past which a recorder kills its process group.
const MAX_RECORDS: usize = 256;
/// Exit status when the sandbox cannot be built.
const UNAVAILABLE: u8 = 125;

fn handled_fs(abi: u32) -> u64 {
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

fn main() -> ExitCode {
    if let Some(log) = std::env::var_os("SAFESHELL_DIFF_LOG") {
        return record(Path::new(&log));
    }
    match launch() {
        Ok(code) => code,
        Err(Failure::Unavailable(why)) => {
            eprintln!("bash-sandbox: unavailable: {why}");
            ExitCode::from(UNAVAILABLE)
        }
        Err(Failure::Usage(why)) => {
            eprintln!("bash-sandbox: {why}");
            ExitCode::from(2)
        }
    }
}

enum Failure {
    Unavailable(String),
    Usage(String),
}

fn unavailable(what: &str) -> Failure {
    Failure::Unavailable(format!("{what}: {}", std::io::Error::last_os_error()))
}

struct Options {
    work: PathBuf,
    stubs: PathBuf,
    bash: PathBuf,
    exit: String,
    timeout: Duration,
    uid: u32,
    command: OsString,
}

fn options() -> Result<Options, Failure> {
    let mut args = std::env::args_os().skip(1);
    let (mut work, mut stubs, mut bash, mut exit, mut timeout) = (None, None, None, None, None);
    let mut uid = NOBODY;
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| Failure::Usage(format!("{} needs a value", a.to_string_lossy())))
        };
        match a.to_str() {
            Some("--work") => work = Some(PathBuf::from(value()?)),
            Some("--stubs") => stubs = Some(PathBuf::from(value()?)),
            Some("--bash") => bash = Some(PathBuf::from(value()?)),
            Some("--exit") => exit = Some(value()?.to_string_lossy().into_owned()),
            Some("--uid") => {
                uid = value()?
                    .to_string_lossy()
                    .parse()
                    .ok()
                    .filter(|&u| u != 0)
                    .ok_or_else(|| Failure::Usage("--uid takes a non-zero number".into()))?;
            }
            Some("--timeout-ms") => {
                let ms: u64 = value()?
                    .to_string_lossy()
                    .parse()
                    .map_err(|_| Failure::Usage("--timeout-ms takes milliseconds".into()))?;
                timeout = Some(Duration::from_millis(ms));
            }
            Some("--") => {
                let command = args
                    .next()
                    .ok_or_else(|| Failure::Usage("no command after --".into()))?;
                let missing = |n: &str| Failure::Usage(format!("{n} is required"));
                return Ok(Options {
                    work: work.ok_or_else(|| missing("--work"))?,
                    stubs: stubs.ok_or_else(|| missing("--stubs"))?,
                    bash: bash.ok_or_else(|| missing("--bash"))?,
                    exit: exit.unwrap_or_else(|| "0".into()),
                    timeout: timeout.unwrap_or(Duration::from_secs(2)),
                    uid,
                    command,
                });
            }
            _ => return Err(Failure::Usage(format!("unknown argument {a:?}"))),
        }
    }
    Err(Failure::Usage(
        "usage: bash-sandbox --work DIR --stubs DIR --bash PATH [--exit N] [--timeout-ms MS] [--uid N] -- COMMAND"
            .into(),
    ))
}

fn launch() -> Result<ExitCode, Failure> {
    let opts = options()?;
    // SAFETY: no arguments.
    if unsafe { sys::geteuid() } != 0 {
        return Err(Failure::Unavailable(
            "not root (a network namespace and the drop to nobody need it)".into(),
        ));
    }
    // SAFETY: an integer flag.
    if unsafe { sys::unshare(sys::CLONE_NEWNET) } != 0 {
        return Err(unavailable("unshare(CLONE_NEWNET)"));
    }
    let limits = [
        (sys::RLIMIT_NPROC, 128),
        (sys::RLIMIT_FSIZE, 16 << 20),
        (sys::RLIMIT_CORE, 0),
    ];
    for (resource, value) in limits {
        let limit = sys::RLimit {
            cur: value,
            max: value,
        };
        // SAFETY: a pointer to a live struct.
        if unsafe { sys::setrlimit(resource, &raw const limit) } != 0 {
            return Err(unavailable("setrlimit"));
        }
    }
    landlock(&opts)?;
    // SAFETY: an empty list, then integers.
    unsafe {
        if sys::setgroups(0, std::ptr::null()) != 0 {
            return Err(unavailable("setgroups"));
        }
        let id = opts.uid;
        if sys::setresgid(id, id, id) != 0 {
            return Err(unavailable("setresgid"));
        }
        if sys::setresuid(id, id, id) != 0 {
            return Err(unavailable("setresuid"));
        }
        if sys::getuid() != id || sys::geteuid() != id || sys::getgid() != id {
            return Err(Failure::Unavailable("the uid did not change".into()));
        }
    }

    // Orphans of the command (background jobs whose parent exited) become this process's
    // children, so that `kill_group` can reap them and see the group empty.
    // SAFETY: integer arguments only.
    if unsafe { sys::prctl(sys::PR_SET_CHILD_SUBREAPER, 1 as c_ulong) } != 0 {
        return Err(unavailable("prctl(PR_SET_CHILD_SUBREAPER)"));
    }
    // The timer exists before bash does: once a fork bomb holds every process the uid may
    // have, no thread could be started.
    let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (send_pgid, recv_pgid) = std::sync::mpsc::channel::<c_int>();
    {
        let timed_out = timed_out.clone();
        let timeout = opts.timeout;
        // The process exits as soon as bash has; this thread only acts if it has not.
        std::thread::Builder::new()
            .spawn(move || {
                let Ok(pgid) = recv_pgid.recv() else { return };
                std::thread::sleep(timeout);
                timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                // SAFETY: integers.
                unsafe { sys::kill(-pgid, sys::SIGKILL) };
            })
            .map_err(|e| Failure::Usage(format!("starting the timer: {e}")))?;
    }
    let mut child = Command::new(&opts.bash)
        .arg0("bash")
        .args(["--norc", "--noprofile", "-c"])
        .arg(&opts.command)
        .env_clear()
        .env("PATH", &opts.stubs)
        .env("HOME", opts.work.join("home"))
        .env("LANG", "C")
        .env("BASH_ENV", opts.stubs.join(".bashenv"))
        .env("SAFESHELL_DIFF_LOG", opts.work.join("log"))
        .env("SAFESHELL_DIFF_EXIT", &opts.exit)
        .env("SAFESHELL_DIFF_BASH", &opts.bash)
        .current_dir(opts.work.join("cwd"))
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| Failure::Usage(format!("starting bash: {e}")))?;
    let pgid = child.id() as c_int;
    let _ = send_pgid.send(pgid);
    let status = child
        .wait()
        .map_err(|e| Failure::Usage(format!("waiting for bash: {e}")))?;
    kill_group(pgid);
    if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!("bash-sandbox: status=timeout");
        return Ok(ExitCode::from(124));
    }
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Kills the whole group (background jobs that outlive bash, a fork bomb still forking) until
/// none of it is left, reaping the orphans this process inherits as their subreaper.
fn kill_group(pgid: c_int) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        // SAFETY: integers.
        let alive = unsafe { sys::kill(-pgid, sys::SIGKILL) } == 0;
        loop {
            let mut status: c_int = 0;
            // SAFETY: a pointer to a local integer.
            if unsafe { sys::waitpid(-1, &raw mut status, sys::WNOHANG) } <= 0 {
                break;
            }
        }
        if !alive || std::time::Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn landlock(opts: &Options) -> Result<(), Failure> {
    // SAFETY: the version query takes no attribute (null, size 0) and returns an integer.
    let abi = unsafe {
        sys::syscall(
            sys::CREATE_RULESET,
            std::ptr::null::<sys::RulesetAttr>(),
            0 as c_long,
            sys::CREATE_RULESET_VERSION,
        )
    };
    if abi < 1 {
        return Err(unavailable("Landlock"));
    }
    let abi = abi as u32;
    let fs = handled_fs(abi);
    let attr = sys::RulesetAttr {
        handled_access_fs: fs,
        // Handled and never granted: no TCP connect or bind at all (the namespace already has
        // no network; this is a second wall).
        handled_access_net: if abi >= 4 {
            NET_BIND_TCP | NET_CONNECT_TCP
        } else {
            0
        },
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
        return Err(unavailable("landlock_create_ruleset"));
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let ruleset = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let _ = sys::RULE_NET_PORT; // no port is ever granted

    let write = READ_FILE
        | READ_DIR
        | WRITE_FILE
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_SYM
        | REFER
        | TRUNCATE;
    let interpreter = elf_interpreter(&opts.bash).ok_or_else(|| {
        Failure::Unavailable(format!(
            "{} is not a 64-bit ELF executable with an interpreter",
            opts.bash.display()
        ))
    })?;
    let rules: [(&Path, u64); 6] = [
        (Path::new("/"), READ_FILE | READ_DIR),
        (&opts.stubs, READ_FILE | READ_DIR | EXECUTE),
        (&opts.bash, READ_FILE | EXECUTE),
        (&interpreter, READ_FILE | EXECUTE),
        (&opts.work, write),
        (Path::new("/dev/null"), READ_FILE | WRITE_FILE | TRUNCATE),
    ];
    let mut open = std::fs::OpenOptions::new();
    open.read(true).custom_flags(sys::O_PATH);
    for (path, access) in rules {
        let file = open
            .open(path)
            .map_err(|e| Failure::Unavailable(format!("opening {}: {e}", path.display())))?;
        let beneath = sys::PathBeneathAttr {
            allowed_access: access & fs,
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
        if r != 0 {
            return Err(unavailable(&format!(
                "landlock_add_rule({})",
                path.display()
            )));
        }
    }
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
        return Err(unavailable("prctl(PR_SET_NO_NEW_PRIVS)"));
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
        return Err(unavailable("landlock_restrict_self"));
    }
    Ok(())
}

/// The ELF interpreter (`PT_INTERP`) of a 64-bit little-endian executable, resolved.
fn elf_interpreter(path: &Path) -> Option<PathBuf> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(bytes.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(bytes.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(bytes.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(ph)? == 3 {
            let offset = usize::try_from(u64_at(ph + 8)?).ok()?;
            let size = usize::try_from(u64_at(ph + 32)?).ok()?;
            let raw = bytes.get(offset..offset + size)?;
            let raw = raw.split(|&b| b == 0).next()?;
            return std::fs::canonicalize(OsStr::from_bytes(raw)).ok();
        }
    }
    None
}

/// Recorder mode: see the module documentation.
fn record(log: &Path) -> ExitCode {
    let exe = std::env::current_exe().unwrap_or_default();
    let name = exe
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut data = Vec::new();
    let (kind, program, rest): (&[u8], Vec<u8>, &[OsString]) = if name == b"__safeshell_not_found" {
        match args.split_first() {
            Some((first, rest)) => (b"n", first.as_bytes().to_vec(), rest),
            None => (b"n", Vec::new(), &[]),
        }
    } else {
        (b"x", name.clone(), &args[..])
    };
    for field in [kind, &program[..]]
        .into_iter()
        .chain(rest.iter().map(|a| a.as_bytes()))
    {
        data.extend_from_slice(field);
        data.push(0);
    }
    let count = std::fs::read_dir(log).map(|d| d.count()).unwrap_or(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let file = log.join(format!("{nanos}-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &data));
    if let Err(e) = written {
        eprintln!("bash-sandbox recorder: {e}");
    }
    if count >= MAX_RECORDS {
        eprintln!("bash-sandbox recorder: more than {MAX_RECORDS} records; killing the group");
        // SAFETY: integers; 0 is this process's group.
        unsafe { sys::kill(0, sys::SIGKILL) };
    }
    if name == b"bash" || name == b"sh" {
        let bash = std::env::var_os("SAFESHELL_DIFF_BASH").unwrap_or_default();
        let env = exe.with_file_name(".bashenv");
        let e = Command::new(bash)
            .arg0("bash")
            // No startup files (a login shell would run /etc/profile, which depends on the
            // machine); `BASH_ENV` switches the builtins off as in the outer bash.
            .args(["--noprofile", "--norc"])
            .args(&args)
            .env("BASH_ENV", env)
            .exec();
        eprintln!("bash-sandbox recorder: exec bash: {e}");
        return ExitCode::from(126);
    }
    let code: u8 = std::env::var("SAFESHELL_DIFF_EXIT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    ExitCode::from(code)
}
