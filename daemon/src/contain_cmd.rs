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
    let p = profile::build(&profile::Inputs {
        home: &home,
        state_dir: &state,
        cwd: &cwd,
        writable: &config.containment_writable,
        readable: &config.containment_readable,
    });
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
