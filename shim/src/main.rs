//! `safeshell-shim`: the PATH shim, the `SHELL` wrapper and the builtin checker.
//!
//! Invoked under another name (a link `git` in the shims directory), it asks the daemon about the
//! argv it received and then `execve`s the real program with the same argv[0], arguments,
//! environment, descriptors and terminal. Invoked as `safeshell-shim -c '…'` it is a `SHELL`
//! wrapper: the whole string is decided, then the real shell runs it. It links only std and the
//! protocol crate (no async runtime, no regex) so that it starts in well under a millisecond.
//!
//! Exit statuses of its own: 126 when SafeShell refused the command, 127 when the real program
//! was not found, 64 for a usage error.

mod agent;
mod client;
mod connect;
mod contain;
mod hook;
mod locate;
mod payload;
#[allow(dead_code)] // `describe` and `Grant::name` serve the daemon's `contain --print`
mod profile;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::OnceLock;

use safeshell_protocol::{Action, CheckRequest, CommandSpec, ContextHints, Decision, Surface};

/// Exit status when SafeShell refuses a command (deny, a human's denial, a timed-out approval).
pub const EXIT_REFUSED: u8 = 126;
/// Exit status when the real program cannot be found on PATH.
pub const EXIT_NOT_FOUND: u8 = 127;
/// Exit status for a usage error.
pub const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = args.first().cloned().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.trim_start_matches('-'); // a login shell's argv[0] is `-safeshell-shim`
    if name.starts_with("safeshell-shim") {
        own_command(&args)
    } else {
        path_shim(name, &args)
    }
}

fn own_command(args: &[OsString]) -> ExitCode {
    let rest = &args[1..];
    match rest.first().map(|a| a.as_bytes()) {
        Some(b"check") => {
            // `safeshell-shim check PROGRAM ARGS…`: decide without running (shell builtins).
            let argv: Vec<String> = rest[1..]
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            if argv.is_empty() {
                eprintln!("usage: safeshell-shim check PROGRAM [ARGS…]");
                return ExitCode::from(EXIT_USAGE);
            }
            match decide(CommandSpec::Argv(argv), Surface::PathShim) {
                Verdict::Run(_) => ExitCode::SUCCESS,
                Verdict::Redirect(_) | Verdict::Refuse => ExitCode::from(EXIT_REFUSED),
            }
        }
        Some(b"hook") => hook::run(rest.get(1).map(|a| a.to_string_lossy().into_owned())),
        Some(b"contain") => {
            // `safeshell-shim contain -c 'COMMAND'`: what the Claude Code hook runs an allowed
            // command as. The same check as the SHELL wrapper's (an agent hook's decision covers
            // it), then the real shell, contained as the daemon says; PATH is left alone.
            let inner: Vec<OsString> = std::iter::once(args[0].clone())
                .chain(rest[1..].iter().cloned())
                .collect();
            if command_string(&inner).is_none() {
                eprintln!("usage: safeshell-shim contain -c 'COMMAND' [NAME ARGS…]");
                return ExitCode::from(EXIT_USAGE);
            }
            shell_wrapper(&inner, false)
        }
        Some(b"--help" | b"-h") => {
            println!(
                "safeshell-shim: SafeShell's PATH shim and SHELL wrapper\n\n\
                 As a link named after a command (in ~/.safeshell/shims), it checks that command with the\n\
                 SafeShell daemon, then runs the real one. As `safeshell-shim -c 'COMMAND'` (set\n\
                 SHELL=/path/to/safeshell-shim for an agent) it checks the whole command string, then runs\n\
                 it with the real shell (config `shell`, default /bin/bash). Other invocations go straight\n\
                 to the real shell.\n\n\
                 safeshell-shim check PROGRAM [ARGS…]   decide only; exit 0 if allowed, 126 if not\n\
                 safeshell-shim contain -c 'COMMAND'    check, then run it with the real shell under the\n\
                 \x20                                      kernel containment the daemon asks for (what the\n\
                 \x20                                      Claude Code hook rewrites allowed commands to)\n\n\
                 Exit 126: refused by SafeShell; 127: real program not found. See `safeshell --help`."
            );
            ExitCode::SUCCESS
        }
        _ => shell_wrapper(args, true),
    }
}

/// What to do after asking.
enum Verdict {
    /// Run it; carries the no-double-ask token, if any.
    Run(Option<String>),
    /// Run this command string instead.
    Redirect(String),
    /// Do not run it (the reason was printed).
    Refuse,
}

/// The longest variable name sent as a possible agent marker.
const MAX_MARKER_NAME: usize = 128;

/// Whether an environment variable's name could be an agent marker: a shell identifier
/// (`[A-Za-z_][A-Za-z0-9_]*`) of at most [`MAX_MARKER_NAME`] bytes.
fn may_be_marker(name: &[u8]) -> bool {
    name.len() <= MAX_MARKER_NAME
        && name
            .first()
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// The names (never the values) of this process's environment variables go to the daemon as
/// possible markers: it counts those that are built-in or configured markers (`agent_env_markers`
/// in config.toml, which the shim does not read on its normal path).
fn hints() -> ContextHints {
    ContextHints {
        safeshell_context: std::env::var("SAFESHELL_CONTEXT").ok(),
        agent_markers: std::env::vars_os()
            .filter(|(k, _)| may_be_marker(k.as_bytes()))
            .filter_map(|(k, _)| k.into_string().ok())
            .collect(),
    }
}

fn forwarded_env() -> Vec<(String, String)> {
    ["HOME", "SAFESHELL_BYPASS"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect()
}

/// A check request for a command run here, with this process's hints and token.
fn request(command: CommandSpec, surface: Surface, cwd: Option<String>) -> CheckRequest {
    let cwd = cwd.unwrap_or_else(|| {
        std::env::current_dir()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".into())
    });
    CheckRequest {
        command,
        cwd,
        surface,
        client_pid: std::process::id(),
        hints: hints(),
        env: forwarded_env(),
        token: std::env::var("SAFESHELL_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        approval: safeshell_protocol::ApprovalMode::Monitor,
        approval_timeout_secs: None,
    }
}

fn decide(command: CommandSpec, surface: Surface) -> Verdict {
    let request = request(command, surface, None);
    let decision = match client::ask(&request) {
        Ok(d) => d,
        Err(client::AskError::Unavailable(e)) => return unavailable(&e),
        Err(client::AskError::Failed(e)) => {
            eprintln!(
                "SafeShell: no decision for this command ({e}). It was not run. \
                 If the SafeShell daemon stopped, it restarts on the next command; then try again."
            );
            return Verdict::Refuse;
        }
    };
    verdict(decision)
}

/// The kernel containment the daemon asked for (an agent's command), applied just before `execve`.
static CONTAIN: OnceLock<safeshell_protocol::Containment> = OnceLock::new();

/// Contains this process (and so the program it is about to become) as the daemon asked. Where
/// the kernel has no Landlock the command runs uncontained, quietly (the daemon's log, `status`
/// and `doctor` say so); a failure to enforce refuses the command.
fn contain_before_exec() -> Result<(), ExitCode> {
    let Some(c) = CONTAIN.get() else {
        return Ok(());
    };
    // The fast path: the daemon built this project's ruleset and handed it over with its answer;
    // only `prctl` and `landlock_restrict_self` are left. Anything wrong with it: build our own.
    if let Some(ruleset) = contain::take_received()
        && contain::restrict(&ruleset).is_ok()
    {
        return Ok(());
    }
    let Ok(abi) = contain::abi() else {
        return Ok(());
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let mut p = profile::build(&profile::Inputs::from_wire(c, &cwd));
    p.no_listen = c.no_listen;
    match contain::apply(&p, abi) {
        Ok(()) | Err(contain::Error::Unavailable(_)) => Ok(()),
        Err(e) => {
            eprintln!("SafeShell: {e}. The command was not run.");
            Err(ExitCode::from(EXIT_REFUSED))
        }
    }
}

fn verdict(mut d: Decision) -> Verdict {
    if let Some(c) = d.contain.take()
        && matches!(d.action, Action::Allow | Action::Redirect)
    {
        let _ = CONTAIN.set(c);
    }
    match d.action {
        Action::Allow => {
            if !d.agent_message.is_empty() {
                eprintln!("{}", d.agent_message);
            }
            Verdict::Run(d.token)
        }
        Action::Redirect => {
            eprintln!("{}", d.agent_message);
            match d.redirect {
                Some(CommandSpec::Shell(s)) => Verdict::Redirect(s),
                Some(CommandSpec::Argv(a)) => Verdict::Redirect(a.join(" ")),
                // A redirect is always to a command; anything else refuses.
                Some(CommandSpec::File(_)) | None => Verdict::Refuse,
            }
        }
        Action::Deny | Action::RequireApproval => {
            eprintln!("{}", d.agent_message);
            Verdict::Refuse
        }
    }
}

/// The daemon could not be reached even after trying to start it: apply the fail mode.
fn unavailable(error: &str) -> Verdict {
    match locate::fail_mode() {
        locate::FailMode::Deny(setting) => {
            eprintln!(
                "SafeShell: the SafeShell daemon is unavailable ({error}) and {setting}: not running this command."
            );
            Verdict::Refuse
        }
        locate::FailMode::Allow(setting) => {
            eprintln!(
                "safeshell: warning: daemon unavailable ({error}); running the command unchecked ({setting})"
            );
            Verdict::Run(None)
        }
    }
}

fn path_shim(name: &str, args: &[OsString]) -> ExitCode {
    let argv: Vec<String> = std::iter::once(name.to_owned())
        .chain(args[1..].iter().map(|a| a.to_string_lossy().into_owned()))
        .collect();
    let token = match decide(CommandSpec::Argv(argv), Surface::PathShim) {
        Verdict::Run(token) => token,
        Verdict::Redirect(command) => return exec_shell_string(&command),
        Verdict::Refuse => return ExitCode::from(EXIT_REFUSED),
    };
    let Some(real) = locate::real_program(name) else {
        eprintln!(
            "safeshell-shim: {name}: command not found (no real `{name}` on PATH after the shims)"
        );
        return ExitCode::from(EXIT_NOT_FOUND);
    };
    let mut cmd = Command::new(&real);
    cmd.arg0(&args[0]).args(&args[1..]);
    if let Some(t) = token {
        cmd.env("SAFESHELL_TOKEN", t);
    }
    if let Err(code) = contain_before_exec() {
        return code;
    }
    let err = cmd.exec();
    eprintln!("safeshell-shim: cannot run {}: {err}", real.display());
    ExitCode::from(EXIT_REFUSED)
}

/// The command string of a `-c` invocation (`-c`, `-lc`, `-ic`, `--login -c`, …), if any.
fn command_string(args: &[OsString]) -> Option<String> {
    let mut wants = false;
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_bytes();
        if a == b"--" {
            i += 1;
            break;
        }
        if a.starts_with(b"--") {
            if a == b"--rcfile" || a == b"--init-file" {
                i += 1;
            }
            i += 1;
            continue;
        }
        if (a.starts_with(b"-") || a.starts_with(b"+")) && a.len() > 1 {
            if a.starts_with(b"-") && a[1..].contains(&b'c') {
                wants = true;
            }
            if a == b"-o" || a == b"+o" || a == b"-O" || a == b"+O" {
                i += 1;
            }
            i += 1;
            continue;
        }
        break;
    }
    if wants {
        args.get(i).map(|a| a.to_string_lossy().into_owned())
    } else {
        None
    }
}

/// Decides a `-c` command string, then runs the real shell (with the shims first on `PATH` when
/// `shims_first`).
fn shell_wrapper(args: &[OsString], shims_first: bool) -> ExitCode {
    let shell = locate::real_shell();
    let mut token = None;
    if let Some(command) = command_string(args) {
        match decide(CommandSpec::Shell(command), Surface::ShellWrapper) {
            Verdict::Run(t) => token = t,
            Verdict::Redirect(instead) => return exec_shell_string(&instead),
            Verdict::Refuse => return ExitCode::from(EXIT_REFUSED),
        }
    }
    let mut cmd = Command::new(&shell);
    // Keep a login shell's leading dash; otherwise name the real shell.
    let arg0 = args[0].as_bytes();
    if arg0.starts_with(b"-") {
        let mut login = OsString::from("-");
        login.push(shell.file_name().unwrap_or_default());
        cmd.arg0(login);
    }
    cmd.args(&args[1..]);
    if shims_first && let Some(path) = locate::path_with_shims_first() {
        cmd.env("PATH", path);
    }
    if let Some(t) = token {
        cmd.env("SAFESHELL_TOKEN", t);
    }
    if let Err(code) = contain_before_exec() {
        return code;
    }
    let err = cmd.exec();
    eprintln!(
        "safeshell-shim: cannot run the real shell {}: {err}",
        shell.display()
    );
    ExitCode::from(EXIT_NOT_FOUND)
}

fn exec_shell_string(command: &str) -> ExitCode {
    if let Err(code) = contain_before_exec() {
        return code;
    }
    let err = Command::new("/bin/sh").arg("-c").arg(command).exec();
    eprintln!("safeshell-shim: cannot run /bin/sh: {err}");
    ExitCode::from(EXIT_NOT_FOUND)
}
