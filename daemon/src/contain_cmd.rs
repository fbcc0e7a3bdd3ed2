//! `safeshell contain`: the containment profile agents' commands run under (`--print`), and the
//! probe `safeshell doctor` runs to prove the kernel enforces it.
//!
//! The profile comes from the shim's own `profile.rs` (included with `#[path]`), so what is
//! printed is what the shim applies.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::config::{Config, Containment};
use crate::doctor::Check;
use crate::{contain, paths, profile, server};

/// The marker the probe's fake secret holds.
const PROBE_MARKER: &str = "SAFESHELL-PROBE-SECRET-7f3a";

fn settings() -> Config {
    paths::safeshell_home()
        .and_then(|s| Config::load(&s.join(server::CONFIG_FILE)).ok())
        .unwrap_or_default()
}

/// `safeshell contain --print [DIR]`.
pub fn print(dir: Option<PathBuf>) -> Result<u8> {
    let cwd = crate::resolve_cwd(dir)?;
    let home = paths::home_dir().context("HOME is not set")?;
    let state = paths::safeshell_home().context("HOME is not set")?;
    let config = settings();
    match contain::abi() {
        Ok(abi) => println!("kernel: Landlock ABI {abi}"),
        Err(e) => println!("kernel: {e} (agents' commands run uncontained)"),
    }
    if config.containment == Containment::Off {
        println!("containment = \"off\" in config.toml: agents' commands run uncontained");
    }
    // The rule files in force in the directory may add restrictions (`[containment]`).
    let restricted = match crate::check::load_rules(&cwd) {
        Ok(rules) => rules.containment().clone(),
        Err(e) => {
            println!("rules: {e:#}\n(their [containment] restrictions are not shown)");
            Default::default()
        }
    };
    let mut p = profile::build(&profile::Inputs {
        home: &home,
        state_dir: &state,
        cwd: &cwd,
        writable: &config.containment_writable,
        readable: &config.containment_readable,
        protect: &restricted.protect,
        read_only: &restricted.read_only,
    });
    p.no_listen = !config.containment_listen || restricted.no_listen;
    println!("profile for a command run in {}:", cwd.display());
    print!("{}", profile::describe(&p));
    Ok(0)
}

/// `safeshell contain --probe` (hidden; run by `doctor`): in the current directory, whose `home`
/// holds a fake secret and a fake start-up file, contain this process as an agent's command would
/// be, then try to read the one and append to the other. Prints one line per attempt; exit 0
/// when both were refused and a project write succeeded, 1 when containment did not hold, 2 when
/// Landlock is unavailable.
pub fn probe() -> Result<u8> {
    let base = std::env::current_dir()?;
    let home = base.join("home");
    let work = base.join("work");
    let state = home.join(".safeshell");
    let abi = match contain::abi() {
        Ok(abi) => abi,
        Err(e) => {
            println!("unavailable: {e}");
            return Ok(2);
        }
    };
    let p = profile::build(&profile::Inputs {
        home: &home,
        state_dir: &state,
        cwd: &work,
        writable: &[],
        readable: &[],
        protect: &[],
        read_only: &[],
    });
    if let Err(e) = contain::apply(&p, abi) {
        println!("failed: {e}");
        return Ok(1);
    }
    let read = std::fs::read_to_string(home.join(".ssh").join("probe_key"));
    let leaked = read.as_ref().is_ok_and(|t| t.contains(PROBE_MARKER));
    println!("read ~/.ssh/probe_key: {}", outcome(&read.map(|_| ())));
    let write = std::fs::OpenOptions::new()
        .append(true)
        .open(home.join(".bashrc"))
        .map(|_| ());
    println!("append ~/.bashrc: {}", outcome(&write));
    let project = std::fs::write(work.join("probe.txt"), "ok");
    println!("write in the project: {}", outcome(&project));
    Ok(if !leaked && write.is_err() && project.is_ok() {
        0
    } else {
        1
    })
}

fn outcome(r: &std::io::Result<()>) -> String {
    match r {
        Ok(()) => "allowed".into(),
        Err(e) => format!("refused ({e})"),
    }
}

/// The doctor's check: a contained probe fails to read a fake secret and to change a fake
/// start-up file, in a temporary directory.
pub fn doctor_check() -> Check {
    let check = |ok: Option<bool>, detail: String, fix: Option<&str>| Check {
        name: "containment".into(),
        ok,
        detail,
        fix: fix.map(str::to_owned),
    };
    if settings().containment == Containment::Off {
        return check(
            None,
            "containment = \"off\": agents' commands run uncontained".into(),
            None,
        );
    }
    let run = || -> Result<(u8, String)> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("safeshell-probe-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)?; // fails if it exists: never someone else's
        let result = (|| -> Result<(u8, String)> {
            let home = dir.join("home");
            std::fs::create_dir_all(home.join(".ssh"))?;
            std::fs::create_dir_all(dir.join("work"))?;
            std::fs::write(home.join(".ssh").join("probe_key"), PROBE_MARKER)?;
            std::fs::write(home.join(".bashrc"), "# probe\n")?;
            let out = std::process::Command::new(std::env::current_exe()?)
                .args(["contain", "--probe"])
                .current_dir(&dir)
                .output()?;
            let unchanged = std::fs::read_to_string(home.join(".bashrc"))? == "# probe\n";
            let text = String::from_utf8_lossy(&out.stdout)
                .trim()
                .replace('\n', "; ");
            let code = out.status.code().unwrap_or(1) as u8;
            Ok((if code == 0 && !unchanged { 1 } else { code }, text))
        })();
        let _ = std::fs::remove_dir_all(&dir);
        result
    };
    match run() {
        Ok((0, text)) => check(
            Some(true),
            format!("a contained probe was refused the fake secret and start-up file ({text})"),
            None,
        ),
        Ok((2, text)) => check(
            None,
            format!("{text}: agents' commands run without kernel containment"),
            None,
        ),
        Ok((_, text)) => check(
            Some(false),
            format!("the contained probe was not contained: {text}"),
            Some("report this: the kernel did not enforce the profile"),
        ),
        Err(e) => check(
            Some(false),
            format!("cannot run the probe: {e:#}"),
            Some("check that a temporary directory can be created"),
        ),
    }
}

tokio::task_local! {
    /// The descriptor of the connection a request handler serves (set where connections are
    /// accepted), so an answer can carry a ruleset with `SCM_RIGHTS`.
    pub static CONNECTION_FD: std::os::fd::RawFd;
}

/// How long a built ruleset is reused for the same directory and settings at most. The profile
/// lists directories (the home's entries, the root's): a change to one of them rebuilds it
/// sooner, so an entry made since is granted at the next command.
const RULESET_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Built rulesets by (directory, settings): when built, the profile's walked directories (a
/// change to one makes the ruleset stale) and the ruleset.
type Rulesets = std::collections::HashMap<
    String,
    (
        std::time::Instant,
        profile::Profile,
        std::sync::Arc<std::os::fd::OwnedFd>,
    ),
>;

static RULESETS: std::sync::Mutex<Option<Rulesets>> = std::sync::Mutex::new(None);

/// The ruleset for an agent's command in `cwd` under `c`, built once per directory and settings
/// and reused until [`RULESET_TTL`] passes or a directory it was built from changes (the shim
/// then only enforces it); `None` if it cannot be built (the shim builds its own).
pub fn ruleset_for(
    c: &safeshell_protocol::Containment,
    cwd: &str,
) -> Option<std::sync::Arc<std::os::fd::OwnedFd>> {
    // Debug builds: a test switch that makes shims build their own ruleset (the slow path).
    if cfg!(debug_assertions) && std::env::var_os("SAFESHELL_TEST_NO_RULESET_HANDOFF").is_some() {
        return None;
    }
    let key = format!("{cwd}\0{c:?}");
    let now = std::time::Instant::now();
    {
        let mut cache = RULESETS.lock().ok()?;
        let cache = cache.get_or_insert_with(Default::default);
        if let Some((made, built, fd)) = cache.get(&key)
            && now.duration_since(*made) < RULESET_TTL
            && !built.is_stale()
        {
            return Some(fd.clone());
        }
    }
    let abi = contain::abi().ok()?;
    let mut profile = profile::build(&profile::Inputs::from_wire(c, std::path::Path::new(cwd)));
    profile.no_listen = c.no_listen;
    let fd = std::sync::Arc::new(contain::ruleset(&profile, abi).ok()?);
    let mut cache = RULESETS.lock().ok()?;
    let cache = cache.get_or_insert_with(Default::default);
    cache.retain(|_, (made, _, _)| now.duration_since(*made) < RULESET_TTL);
    if cache.len() < 256 {
        // Only what staleness needs is kept.
        profile.rules = Vec::new();
        cache.insert(key, (now, profile, fd.clone()));
    }
    Some(fd)
}

/// Writes `msg` as a frame on the connection `socket` with `ruleset` attached (`SCM_RIGHTS`),
/// through `writer` for whatever the one `sendmsg` did not take. A full socket buffer sends the
/// answer without the ruleset (the shim then builds its own).
pub async fn send_with_ruleset<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    socket: std::os::fd::RawFd,
    msg: &safeshell_protocol::Response,
    ruleset: &std::os::fd::OwnedFd,
) -> Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::os::fd::AsRawFd;
    use tokio::io::AsyncWriteExt;
    let mut bytes = Vec::with_capacity(256);
    safeshell_protocol::encode(msg, &mut bytes)?;
    let fds = [ruleset.as_raw_fd()];
    let sent = sendmsg::<()>(
        socket,
        &[std::io::IoSlice::new(&bytes)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        None,
    );
    let rest = match sent {
        Ok(n) => &bytes[n..],
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => &bytes[..],
        Err(e) => return Err(e.into()),
    };
    if !rest.is_empty() {
        writer.write_all(rest).await?;
    }
    writer.flush().await?;
    Ok(())
}
