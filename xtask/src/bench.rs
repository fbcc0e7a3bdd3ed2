//! `cargo xtask bench`: every crate's divan benches (`cargo bench -p <crate> --bench <name>`,
//! output parsed), then the whole-process figures ([`crate::process_bench`]) against the
//! binaries that ship, into one JSON report: `target/xtask/bench-<time>.json` and
//! `target/xtask/bench-latest.json`.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use regex::Regex;

use crate::dist;
use crate::divan_parse::{self, Bench};
use crate::process_bench;
use crate::report::{self, Figure, Kind, Report, Selection, Skipped, Spread};
use crate::workspace::{self, Workspace};

/// The pseudo-package that selects the whole-process figures with `--package`.
pub const PROCESS_PACKAGE: &str = "process";

/// divan arguments under `--quick`: fewer samples, and no benchmark runs longer than a second.
pub const QUICK_DIVAN_ARGS: &[&str] = &["--sample-count", "10", "--max-time", "1"];

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Packages (name or directory) or `process`; empty for everything.
    pub packages: Vec<String>,
    /// divan's filter regex, also matched against `process.<scenario>`.
    pub filter: Option<String>,
    /// Fewer samples.
    pub quick: bool,
}

/// A bench target to run.
#[derive(Debug, Clone)]
struct Target {
    package: String,
    bench: String,
}

/// Binaries a bench needs besides its own crate's: the shim bench runs the daemon binary found
/// next to the shim, which `cargo bench -p safeshell-shim` does not build.
pub fn prerequisites(package: &str, bench: &str) -> &'static [&'static str] {
    match (package, bench) {
        ("safeshell-shim", "shim") => &["safeshell"],
        _ => &[],
    }
}

/// Runs the selected benches and writes the report; returns its path. Fails (after writing the
/// report) when a step failed.
pub fn run(ws: &Workspace, args: &Args) -> Result<PathBuf> {
    let filter = args
        .filter
        .as_deref()
        .map(Regex::new)
        .transpose()
        .context("--filter is not a valid regular expression")?;
    let (targets, with_process, with_monitor) = select(ws, &args.packages)?;
    let started = report::now_secs();
    let mut report = Report::start(
        ws,
        started,
        Selection {
            packages: args.packages.clone(),
            filter: args.filter.clone(),
            quick: args.quick,
        },
        "divan benches: profile `bench` (release + debuginfo); whole-process figures: the shipped \
         binaries (`cargo xtask dist`: profile `stripped-release`)",
    )?;
    let busy = report.load_average.start[0] > report.host.cores as f64;
    eprintln!(
        "host: {}; load average {:.2}{}; {}; revision {}{}",
        report.host.describe(),
        report.load_average.start[0],
        if busy {
            " (busier than its cores: expect noisy absolute figures)"
        } else {
            ""
        },
        report.rustc,
        report.git.revision,
        if report.git.dirty { " (dirty)" } else { "" }
    );
    let out_dir = ws.xtask_dir()?;

    for t in &targets {
        eprintln!("\n== divan: {} --bench {}", t.package, t.bench);
        match run_divan(ws, t, args, &out_dir) {
            Ok(benches) => {
                if benches.is_empty() {
                    report.skipped.push(Skipped {
                        name: format!("divan.{}", t.bench),
                        reason: "the bench printed no divan table (no benchmark defined, or none matched the filter)".into(),
                    });
                }
                for b in &benches {
                    report.figures.extend(divan_figures(b));
                }
            }
            Err(e) => {
                eprintln!("   FAILED: {e:#}");
                report.failures.push(Skipped {
                    name: format!("divan.{}", t.bench),
                    reason: format!("{e:#}"),
                });
            }
        }
    }

    if with_monitor {
        monitor_frame_time(ws, &mut report);
    }

    if with_process {
        eprintln!("\n== whole-process figures (profile {})", dist::PROFILE);
        match dist::build(ws) {
            Ok(bins) => {
                if let Ok(linkage) = dist::linkage_of(&bins.shim) {
                    report.profiles += &format!(", shim linked {}", linkage.as_str());
                }
                process_bench::run(
                    &bins,
                    &process_bench::Options {
                        quick: args.quick,
                        filter,
                    },
                    &mut report,
                );
            }
            Err(e) => report.failures.push(Skipped {
                name: "process".into(),
                reason: format!("{e:#}"),
            }),
        }
    }

    report.load_average.end = report::load_average_now();
    let stamped = out_dir.join(format!("bench-{}.json", report::file_stamp(started)));
    let latest = out_dir.join("bench-latest.json");
    report.write(&stamped)?;
    report.write(&latest)?;
    print_summary(&report);
    println!("\nwrote {} and {}", stamped.display(), latest.display());
    if !report.failures.is_empty() {
        bail!(
            "{} step(s) failed: {}",
            report.failures.len(),
            report
                .failures
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(latest)
}

/// The bench targets, whether to run the whole-process figures, and whether the monitor was
/// selected.
fn select(ws: &Workspace, packages: &[String]) -> Result<(Vec<Target>, bool, bool)> {
    let all = packages.is_empty();
    let mut targets = Vec::new();
    let mut with_process = all;
    let mut with_monitor = all;
    if all {
        for p in ws.packages.iter().filter(|p| p.name != "xtask") {
            for b in &p.benches {
                targets.push(Target {
                    package: p.name.clone(),
                    bench: b.clone(),
                });
            }
        }
    } else {
        for name in packages {
            if name == PROCESS_PACKAGE {
                with_process = true;
                continue;
            }
            let p = ws.package(name)?;
            let is_monitor = p.dir == "monitor" || p.name == "safeshell-monitor";
            if is_monitor {
                // Without benches it still gets a "not measured" entry for the frame time.
                with_monitor = true;
            } else if p.benches.is_empty() {
                bail!("package {} has no benches", p.name);
            }
            for b in &p.benches {
                targets.push(Target {
                    package: p.name.clone(),
                    bench: b.clone(),
                });
            }
        }
    }
    // Cheap first: the pure crates, then the process-level benches.
    let order = |t: &Target| match t.package.as_str() {
        "safeshell-protocol" => 0,
        "safeshell-rules" => 1,
        "safeshell" => 2,
        "safeshell-shim" => 3,
        _ => 4,
    };
    targets.sort_by_key(|t| (order(t), t.bench.clone()));
    Ok((targets, with_process, with_monitor))
}

fn run_divan(
    ws: &Workspace,
    t: &Target,
    args: &Args,
    out_dir: &std::path::Path,
) -> Result<Vec<Bench>> {
    let cargo = workspace::cargo();
    let pre = prerequisites(&t.package, &t.bench);
    if !pre.is_empty() {
        let sh = ws.shell()?;
        let mut cmd = workspace::cmd(&sh, &cargo).args(["build", "--profile", "bench"]);
        for p in pre {
            cmd = cmd.args(["-p", p]);
        }
        workspace::run(cmd)?;
    }
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&ws.root)
        .args(["bench", "-p", &t.package, "--bench", &t.bench, "--"]);
    if let Some(f) = &args.filter {
        cmd.arg(f);
    }
    if args.quick {
        cmd.args(QUICK_DIVAN_ARGS);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    workspace::echo(&cmd);
    let mut child = cmd.spawn().context("cannot run cargo bench")?;
    let mut text = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("cannot read the bench output")?;
            println!("{line}");
            text.push_str(&line);
            text.push('\n');
        }
    }
    let status = child.wait().context("cannot wait for cargo bench")?;
    let raw = out_dir.join(format!("divan-{}.txt", t.bench));
    std::fs::write(&raw, &text).with_context(|| format!("cannot write {}", raw.display()))?;
    let benches = divan_parse::parse(&text)
        .with_context(|| format!("cannot parse the divan output (saved in {})", raw.display()))?;
    if !status.success() {
        bail!(
            "`cargo bench -p {} --bench {}` failed ({status}) after {} benchmark(s)",
            t.package,
            t.bench,
            benches.len()
        );
    }
    Ok(benches)
}

/// The figures of one divan benchmark: its median time, and with `AllocProfiler` the number and
/// bytes of allocations per iteration (`…@alloc_count`, `…@alloc_bytes`).
pub fn divan_figures(b: &Bench) -> Vec<Figure> {
    let name = format!("divan.{}", b.name());
    let t = b.time;
    let mut out = vec![
        Figure::new(
            &name,
            Kind::Time,
            t.median,
            Spread {
                low: t.fastest,
                high: t.slowest,
                label: "fastest–slowest".into(),
            },
        )
        .noise(if t.median > 0.0 {
            (t.median - t.fastest) / t.median * 100.0
        } else {
            0.0
        })
        .samples(b.samples as usize)
        .note(format!(
            "mean {}, {} iterations",
            report::format_value(t.mean, "ns"),
            b.iters
        )),
    ];
    if let Some(alloc) = b.alloc("alloc") {
        let stat = |kind: Kind, suffix: &str, s: divan_parse::Stats| {
            Figure::new(
                format!("{name}@{suffix}"),
                kind,
                s.median,
                Spread {
                    low: s.fastest,
                    high: s.slowest,
                    label: "fastest–slowest".into(),
                },
            )
            .samples(b.samples as usize)
        };
        if let Some(c) = alloc.count {
            out.push(stat(Kind::Count, "alloc_count", c));
        }
        if let Some(bytes) = alloc.bytes {
            out.push(stat(Kind::Bytes, "alloc_bytes", bytes));
        }
    }
    out
}

/// `monitor.frame_time[/<case>]` from the monitor's divan bench: one figure per benchmark whose
/// path has a component named like `frame` (e.g. `render_frame/1000` becomes
/// `monitor.frame_time/1000`), or a skip entry saying why there is none.
fn monitor_frame_time(ws: &Workspace, report: &mut Report) {
    let monitor = ws
        .packages
        .iter()
        .find(|p| p.name == "safeshell-monitor" || p.dir == "monitor");
    let reason = match monitor {
        None => "not measured: there is no monitor package".to_owned(),
        Some(p) if p.benches.is_empty() => {
            "not measured: the monitor has no benches yet (monitor/benches/ is absent)".to_owned()
        }
        Some(p) => {
            let frames = frame_figures(&report.figures, &p.benches);
            if !frames.is_empty() {
                report.figures.extend(frames);
                return;
            }
            format!(
                "not measured: the monitor bench ({}) has no benchmark named like `frame` (or it did not run)",
                p.benches.join(", ")
            )
        }
    };
    eprintln!("\n== monitor.frame_time: {reason}");
    report.skipped.push(Skipped {
        name: "monitor.frame_time".into(),
        reason,
    });
}

/// The frame-time figures derived from the divan figures of the given bench targets.
pub fn frame_figures(figures: &[Figure], benches: &[String]) -> Vec<Figure> {
    let mut out = Vec::new();
    for f in figures.iter().filter(|f| f.kind == Kind::Time) {
        let Some(path) = benches
            .iter()
            .find_map(|b| f.name.strip_prefix(&format!("divan.{b}/")))
        else {
            continue;
        };
        let parts: Vec<&str> = path.split('/').collect();
        let Some(i) = parts
            .iter()
            .position(|c| c.to_lowercase().contains("frame"))
        else {
            continue;
        };
        let rest = parts[i + 1..].join("/");
        let mut fig = f.clone();
        fig.name = if rest.is_empty() {
            "monitor.frame_time".to_owned()
        } else {
            format!("monitor.frame_time/{rest}")
        };
        fig.note = Some(format!("from {}", f.name));
        out.push(fig);
    }
    out
}

fn print_summary(report: &Report) {
    println!(
        "\n== figures ({} on {}, load average {:.2} → {:.2}, {})",
        report
            .git
            .revision
            .get(..12)
            .unwrap_or(&report.git.revision),
        report.host.describe(),
        report.load_average.start[0],
        report.load_average.end[0],
        report.rustc
    );
    let width = report
        .figures
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(10)
        .min(80);
    println!(
        "{:<width$}  {:>12}  {:>24}  {:>7}",
        "figure", "value", "spread", "noise"
    );
    for f in &report.figures {
        let spread = format!(
            "{} – {}",
            report::format_value(f.spread.low, &f.unit),
            report::format_value(f.spread.high, &f.unit)
        );
        println!(
            "{:<width$}  {:>12}  {:>24}  {:>6.1}%",
            f.name,
            report::format_value(f.value, &f.unit),
            spread,
            f.noise_pct
        );
    }
    for s in &report.skipped {
        println!("{:<width$}  {}", s.name, s.reason);
    }
    for s in &report.failures {
        println!("{:<width$}  FAILED: {}", s.name, s.reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divan_benches_become_time_and_allocation_figures() {
        let text = include_str!("../tests/data/divan-rules.txt");
        let benches = divan_parse::parse(text).unwrap();
        let figures: Vec<Figure> = benches.iter().flat_map(divan_figures).collect();
        let t = figures
            .iter()
            .find(|f| f.name == "divan.rules/builtin/evaluate/no_match:ls_-la")
            .unwrap();
        assert_eq!(
            (t.kind, t.unit.as_str(), t.value),
            (Kind::Time, "ns", 1381.0)
        );
        assert_eq!((t.spread.low, t.spread.high), (1346.0, 3660.0));
        let c = figures
            .iter()
            .find(|f| f.name == "divan.rules/builtin/evaluate/no_match:ls_-la@alloc_count")
            .unwrap();
        assert_eq!((c.kind, c.value), (Kind::Count, 27.0));
        let b = figures
            .iter()
            .find(|f| f.name == "divan.rules/builtin/evaluate/no_match:ls_-la@alloc_bytes")
            .unwrap();
        assert_eq!((b.kind, b.value), (Kind::Bytes, 2295.0));
        assert_eq!(figures.len(), benches.len() * 3);
    }

    #[test]
    fn monitor_frame_times_come_from_its_render_frame_benches() {
        let text = include_str!("../tests/data/divan-monitor.txt");
        let figures: Vec<Figure> = divan_parse::parse(text)
            .unwrap()
            .iter()
            .flat_map(divan_figures)
            .collect();
        let frames = frame_figures(&figures, &["monitor".to_owned()]);
        let names: Vec<&str> = frames.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "monitor.frame_time/100",
                "monitor.frame_time/1000",
                "monitor.frame_time/10000"
            ]
        );
        assert_eq!(frames[2].value, 508_800.0);
        assert!(frame_figures(&figures, &["other".to_owned()]).is_empty());
    }

    #[test]
    fn the_shim_bench_needs_the_daemon_binary() {
        assert_eq!(prerequisites("safeshell-shim", "shim"), &["safeshell"]);
        assert!(prerequisites("safeshell-rules", "rules").is_empty());
    }
}
