//! `cargo xtask flamegraph <bench-or-scenario>`: records with `perf record` and renders an SVG
//! with the `inferno` library under `target/flamegraphs/`.
//!
//! A bench target (`rules`, `protocol`, `daemon`, `shim`, …) is built with the `profiling`
//! profile (release speed with symbols) and run as `<bench binary> --bench [FILTER]` under perf.
//! Scenarios run the real binaries (also `profiling`): `daemon-load` records a daemon with 1000
//! rules answering checks from four connections; `check` records one `safeshell check` with
//! 1000 rules (rule loading, compiling and one evaluation).

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use inferno::collapse::Collapse as _;
use safeshell_protocol::ClientKind;
use serde::Deserialize;

use crate::bench;
use crate::harness::{self, Conn, TempDaemon};
use crate::workspace::{self, Workspace};

/// The cargo profile used for profiling.
pub const PROFILE: &str = "profiling";

/// Scenarios besides bench targets.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "daemon-load",
        "a daemon with 1000 rules answering checks from 4 connections",
    ),
    (
        "check",
        "`safeshell check` with 1000 rules: load, compile, evaluate once",
    ),
];

/// What to record.
#[derive(Debug, Clone)]
pub struct Args {
    /// A bench target name or a scenario.
    pub target: String,
    /// divan filter for bench targets.
    pub filter: Option<String>,
    /// perf's `--call-graph` mode (`dwarf`, `fp`, `lbr`).
    pub call_graph: String,
    /// How long `daemon-load` records, and the least time each benchmark of a bench target runs
    /// (divan's `--min-time`), in seconds.
    pub seconds: u64,
    /// Sampling frequency in Hz.
    pub frequency: u32,
}

/// How to make perf usable, printed when it is not.
pub fn perf_fix_hint() -> String {
    "To fix it:\n  \
     sudo apt-get install linux-perf                      # Debian (Ubuntu: linux-tools-$(uname -r))\n  \
     sudo sysctl kernel.perf_event_paranoid=1             # let non-root users record their own processes\n\
     then run `cargo xtask flamegraph …` again. Inside a container, perf also needs the \
     perf_event_open system call to be allowed (e.g. docker run --cap-add PERFMON or a seccomp \
     profile that permits it)."
        .to_owned()
}

/// Fails with the fix when perf is missing or not permitted.
pub fn check_perf(scratch: &Path) -> Result<()> {
    let version = Command::new("perf").arg("--version").output();
    match version {
        Ok(o) if o.status.success() => {}
        Ok(o) => bail!(
            "perf is installed but does not run ({}): {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim(),
            perf_fix_hint()
        ),
        Err(e) => bail!("perf is not installed ({e}).\n{}", perf_fix_hint()),
    }
    let data = scratch.join("perf-check.data");
    let mut probe = Command::new("perf");
    probe
        .args(["record", "-q", "-o"])
        .arg(&data)
        .args(["--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    workspace::echo(&probe);
    let out = probe.output().context("cannot run perf")?;
    std::fs::remove_file(&data).ok();
    if !out.status.success() {
        let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        bail!(
            "perf is not permitted to record here (kernel.perf_event_paranoid = {paranoid}): {}\n{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            perf_fix_hint()
        );
    }
    Ok(())
}

/// Records and renders; returns the SVG's path.
pub fn run(ws: &Workspace, args: &Args) -> Result<PathBuf> {
    let out_dir = ws.target.join("flamegraphs");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    check_perf(&out_dir)?;
    let stem = sanitize(&match &args.filter {
        Some(f) => format!("{}-{f}", args.target),
        None => args.target.clone(),
    });
    let data = out_dir.join(format!("{stem}.perf.data"));
    let perf_base = |cmd: &mut Command| {
        cmd.arg("record")
            .arg("-F")
            .arg(args.frequency.to_string())
            .arg("--call-graph")
            .arg(&args.call_graph)
            .arg("-o")
            .arg(&data);
    };

    match args.target.as_str() {
        "daemon-load" => {
            let safeshell = build_profiling_bins(ws, &["safeshell"])?.join("safeshell");
            let d = TempDaemon::start(&safeshell, &harness::synthetic_rules(1000))?;
            let mut perf = Command::new("perf");
            perf_base(&mut perf);
            perf.arg("-p").arg(d.pid().to_string()).args([
                "--",
                "sleep",
                &args.seconds.to_string(),
            ]);
            workspace::echo(&perf);
            let mut child = perf.spawn().context("cannot start perf")?;
            std::thread::sleep(Duration::from_millis(300)); // let perf attach
            drive_load(&d, Duration::from_secs(args.seconds))?;
            let status = child.wait().context("cannot wait for perf")?;
            if !status.success() {
                bail!("perf record failed ({status})");
            }
        }
        "check" => {
            let safeshell = build_profiling_bins(ws, &["safeshell"])?.join("safeshell");
            let home = tempfile::tempdir().context("cannot create a temporary home")?;
            let state = home.path().join(".safeshell");
            std::fs::create_dir_all(&state).context("cannot create the temporary state dir")?;
            std::fs::write(state.join("rules.toml"), harness::synthetic_rules(1000))
                .context("cannot write rules.toml")?;
            let mut perf = Command::new("perf");
            perf_base(&mut perf);
            perf.arg("--")
                .arg(&safeshell)
                .args(["check", "--", "git status --short"])
                .env("HOME", home.path())
                .env_remove("SAFESHELL_HOME")
                .stdout(Stdio::null());
            workspace::echo(&perf);
            let status = perf.status().context("cannot run perf")?;
            // `check` exits with the decision (0 allow); anything above 3 is a failure.
            if status.code().is_none_or(|c| c > 3) {
                bail!("perf record of `safeshell check` failed ({status})");
            }
        }
        target => {
            let (exe, package) = build_bench(ws, target)?;
            let mut perf = Command::new("perf");
            perf_base(&mut perf);
            // divan runs fast benchmarks for milliseconds; make each run long enough to sample.
            perf.arg("--")
                .arg(&exe)
                .arg("--bench")
                .args(["--min-time", &args.seconds.to_string()]);
            if let Some(f) = &args.filter {
                perf.arg(f);
            }
            perf.current_dir(ws.root.join(&package));
            workspace::echo(&perf);
            let status = perf.status().context("cannot run perf")?;
            if !status.success() {
                bail!("perf record of the {target} bench failed ({status})");
            }
        }
    }

    let folded = out_dir.join(format!("{stem}.folded"));
    let svg = out_dir.join(format!("{stem}.svg"));
    let mut script = Command::new("perf");
    script
        .arg("script")
        .arg("-i")
        .arg(&data)
        .stdout(Stdio::piped());
    workspace::echo(&script);
    let mut child = script.spawn().context("cannot run perf script")?;
    let stdout = child.stdout.take().context("perf script has no stdout")?;
    {
        let out = std::fs::File::create(&folded)
            .with_context(|| format!("cannot create {}", folded.display()))?;
        eprintln!("(folding stacks with inferno::collapse::perf)");
        inferno::collapse::perf::Folder::default()
            .collapse(BufReader::new(stdout), BufWriter::new(out))
            .context("cannot fold perf's stacks")?;
    }
    let status = child.wait().context("cannot wait for perf script")?;
    if !status.success() {
        bail!("perf script failed ({status})");
    }
    let stacks = count_stacks(&folded)?;
    if stacks < 5 {
        bail!(
            "perf recorded only {stacks} distinct stack(s) ({}): nothing ran long enough to profile. \
             For a bench, check that --filter matches benchmarks (divan filters match paths such \
             as `builtin::evaluate`, without anchors; list them with `cargo bench -p <crate> \
             --bench <name> -- --list`).",
            folded.display()
        );
    }
    eprintln!("({stacks} distinct stacks)");
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = format!("SafeShell: {}", args.target);
    opts.subtitle = Some(format!(
        "perf record -F {} --call-graph {}; profile `{PROFILE}`",
        args.frequency, args.call_graph
    ));
    let input = std::fs::File::open(&folded)
        .with_context(|| format!("cannot open {}", folded.display()))?;
    let output =
        std::fs::File::create(&svg).with_context(|| format!("cannot create {}", svg.display()))?;
    eprintln!("(rendering with inferno::flamegraph)");
    inferno::flamegraph::from_reader(&mut opts, BufReader::new(input), BufWriter::new(output))
        .context("cannot render the flamegraph (no samples recorded?)")?;
    println!("flamegraph: {}", svg.display());
    println!(
        "folded stacks: {}; perf data: {}",
        folded.display(),
        data.display()
    );
    Ok(svg)
}

/// The number of distinct stacks in a folded-stacks file (`frame;frame;… WEIGHT` per line).
fn count_stacks(folded: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(folded)
        .with_context(|| format!("cannot read {}", folded.display()))?;
    Ok(text
        .lines()
        .filter(|l| l.rsplit_once(' ').is_some())
        .count())
}

/// Checks from four connections until `duration` has passed.
fn drive_load(d: &TempDaemon, duration: Duration) -> Result<()> {
    let socket = d.socket();
    let requests = [
        harness::argv_request(&["git", "status", "--short"]),
        harness::argv_request(&["tool7", "--opt7"]),
        harness::argv_request(&["ls", "-la"]),
        harness::argv_request(&["tool999", "run"]),
    ];
    eprintln!("(driving checks from 4 connections for {duration:?})");
    let deadline = Instant::now() + duration;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let socket = &socket;
                let requests = &requests;
                s.spawn(move || -> Result<u64> {
                    let mut c = Conn::open(socket, ClientKind::Shim)?;
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        c.check(&requests[(t + n as usize) % requests.len()])?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h
                .join()
                .map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
        }
        eprintln!("({total} checks answered)");
        Ok(())
    })
}

fn build_profiling_bins(ws: &Workspace, packages: &[&str]) -> Result<PathBuf> {
    let sh = ws.shell()?;
    let mut cmd = workspace::cmd(&sh, &workspace::cargo()).args(["build", "--profile", PROFILE]);
    for p in packages {
        cmd = cmd.args(["-p", p]);
    }
    workspace::run(cmd)?;
    Ok(ws.target.join(PROFILE))
}

#[derive(Deserialize)]
struct Artifact {
    reason: String,
    #[serde(default)]
    target: Option<ArtifactTarget>,
    #[serde(default)]
    executable: Option<PathBuf>,
}

#[derive(Deserialize)]
struct ArtifactTarget {
    name: String,
    kind: Vec<String>,
}

/// Builds the bench target `name` with the profiling profile; returns its executable and the
/// package directory (benches run from there, as under `cargo bench`).
fn build_bench(ws: &Workspace, name: &str) -> Result<(PathBuf, String)> {
    let package = ws
        .packages
        .iter()
        .find(|p| p.benches.iter().any(|b| b == name))
        .with_context(|| {
            let benches: Vec<String> = ws
                .packages
                .iter()
                .flat_map(|p| p.benches.iter().cloned())
                .collect();
            let scenarios: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
            format!(
                "`{name}` is neither a bench target ({}) nor a scenario ({})",
                benches.join(", "),
                scenarios.join(", ")
            )
        })?;
    let pre = bench::prerequisites(&package.name, name);
    if !pre.is_empty() {
        build_profiling_bins(ws, pre)?;
    }
    let sh = ws.shell()?;
    let json = workspace::read(workspace::cmd(&sh, &workspace::cargo()).args([
        "bench",
        "--profile",
        PROFILE,
        "-p",
        &package.name,
        "--bench",
        name,
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]))?;
    let exe = json
        .lines()
        .filter_map(|l| serde_json::from_str::<Artifact>(l).ok())
        .filter(|a| a.reason == "compiler-artifact")
        .filter(|a| {
            a.target
                .as_ref()
                .is_some_and(|t| t.name == name && t.kind.iter().any(|k| k == "bench"))
        })
        .find_map(|a| a.executable)
        .with_context(|| format!("cargo did not report an executable for the {name} bench"))?;
    Ok((exe, package.dir.clone()))
}

/// A file-name-safe version of `s`.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_names_the_package_and_the_sysctl() {
        let hint = perf_fix_hint();
        assert!(hint.contains("apt-get install linux-perf"));
        assert!(hint.contains("sysctl kernel.perf_event_paranoid=1"));
    }

    #[test]
    fn file_names() {
        assert_eq!(
            sanitize("rules-builtin::evaluate"),
            "rules-builtin__evaluate"
        );
    }
}
