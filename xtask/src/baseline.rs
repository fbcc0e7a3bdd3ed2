//! `cargo xtask baseline save [NAME]` and `cargo xtask baseline compare [NAME] [--threshold PCT]`:
//! keep a bench report under `benchmarks/baseline/NAME.json` and compare the latest run with it.
//!
//! A figure regresses when it grew by more than the threshold *and* by more than its noise band:
//! the root-sum-square of the two runs' `noise_pct` (how much each run's value moved between
//! repetitions within the run), so that a noisy figure needs a larger change to count. Figures
//! with an absolute floor (idle CPU) never regress by less than that floor. Ratios (shim / floor)
//! compare across machines; absolute times, bytes and CPU only on the same machine class, and
//! when the hosts differ only ratios are compared.
//!
//! When either run was made on a busy machine (a 1-minute load average above its core count at the
//! start or end of the run), wall-clock figures are not trustworthy: every sample can be
//! preempted, so even the fastest one moves. Time, ratio and CPU figures that look worse are then
//! reported as "unconfirmed (busy)" and do not fail the comparison unless `--strict` is given;
//! allocation counts and bytes are judged as usual.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::report::{self, Figure, Kind, Report};
use crate::workspace::Workspace;

/// The default baseline name.
pub const DEFAULT_NAME: &str = "default";
/// The default regression threshold, in percent.
pub const DEFAULT_THRESHOLD: f64 = 10.0;

/// `benchmarks/baseline/NAME.json`.
pub fn baseline_path(ws: &Workspace, name: &str) -> Result<PathBuf> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.starts_with('.')
    {
        bail!("baseline names are letters, digits, `-`, `_` and `.`; got `{name}`");
    }
    Ok(ws
        .root
        .join("benchmarks")
        .join("baseline")
        .join(format!("{name}.json")))
}

/// `target/xtask/bench-latest.json`.
pub fn latest_path(ws: &Workspace) -> PathBuf {
    ws.target.join("xtask").join("bench-latest.json")
}

/// Copies the latest report to the baseline `name`.
pub fn save(ws: &Workspace, name: &str) -> Result<PathBuf> {
    let src = latest_path(ws);
    let report = Report::read(&src).with_context(|| {
        format!(
            "no report to save: run `cargo xtask bench` first (looked for {})",
            src.display()
        )
    })?;
    let dst = baseline_path(ws, name)?;
    if let Some(dir) = dst.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    report.write(&dst)?;
    println!(
        "saved {} as baseline `{name}`: {} figures, revision {}{}, {} on {}",
        src.display(),
        report.figures.len(),
        report.git.revision,
        if report.git.dirty { " (dirty)" } else { "" },
        report.time,
        report.host.describe()
    );
    println!("  -> {}", dst.display());
    let s = &report.selection;
    if s.quick || s.filter.is_some() || !s.packages.is_empty() {
        println!(
            "warning: this report is partial or quick (packages {:?}, filter {:?}, quick {}); a baseline is best taken from a full `cargo xtask bench`",
            s.packages, s.filter, s.quick
        );
    }
    if !report.failures.is_empty() {
        println!(
            "warning: {} step(s) of that run failed; their figures are missing from the baseline",
            report.failures.len()
        );
    }
    Ok(dst)
}

/// How one figure compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Worse by more than the threshold and the noise band.
    Regression,
    /// Better by more than the threshold and the noise band.
    Improved,
    /// Would be a regression, but a run was made on a busy machine and the figure is a
    /// wall-clock one.
    Unconfirmed,
    /// Changed by more than the threshold but within the noise band.
    Noise,
    /// Within the threshold.
    Unchanged,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Improved => "improved",
            Verdict::Unconfirmed => "unconfirmed (busy)",
            Verdict::Noise => "within noise",
            Verdict::Unchanged => "ok",
        }
    }
}

/// One compared figure.
#[derive(Debug, Clone)]
pub struct Row {
    /// The figure's name.
    pub name: String,
    /// The unit.
    pub unit: String,
    /// The baseline value.
    pub old: f64,
    /// The current value.
    pub new: f64,
    /// The change in percent of the old value.
    pub change_pct: f64,
    /// The noise band in percent.
    pub band_pct: f64,
    /// The verdict.
    pub verdict: Verdict,
}

/// The comparison of two reports.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Whether absolute figures were compared (same machine class).
    pub same_host: bool,
    /// Compared figures, in the current report's order.
    pub rows: Vec<Row>,
    /// Figures only in the current report.
    pub new_only: Vec<String>,
    /// Figures only in the baseline.
    pub missing: Vec<String>,
    /// Figures not compared because the hosts differ.
    pub not_comparable: usize,
    /// Whether either run was made on a busy machine.
    pub busy: bool,
}

/// Whether a run was made on a busy machine: a 1-minute load average above the core count at its
/// start or end (reports without load averages count as not busy).
pub fn busy(r: &Report) -> bool {
    r.load_average.start[0].max(r.load_average.end[0]) > r.host.cores as f64
}

impl Comparison {
    /// How many rows have this verdict.
    pub fn count(&self, v: Verdict) -> usize {
        self.rows.iter().filter(|r| r.verdict == v).count()
    }
}

/// Judges one figure against its baseline.
pub fn judge(old: &Figure, new: &Figure, threshold_pct: f64) -> Row {
    let change_pct = if old.value == 0.0 {
        if new.value == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(new.value)
        }
    } else {
        (new.value - old.value) / old.value.abs() * 100.0
    };
    let band_pct = old.noise_pct.hypot(new.noise_pct);
    let limit = threshold_pct.max(band_pct);
    let floor = old.abs_floor.or(new.abs_floor).unwrap_or(0.0);
    let verdict = if (new.value - old.value).abs() <= floor || change_pct.abs() <= threshold_pct {
        Verdict::Unchanged
    } else if change_pct > limit {
        Verdict::Regression
    } else if change_pct < -limit {
        Verdict::Improved
    } else {
        Verdict::Noise
    };
    Row {
        name: new.name.clone(),
        unit: new.unit.clone(),
        old: old.value,
        new: new.value,
        change_pct,
        band_pct,
        verdict,
    }
}

/// Compares `new` with `old`.
pub fn compare_reports(old: &Report, new: &Report, threshold_pct: f64, strict: bool) -> Comparison {
    let same_host = old.host.same_machine_class(&new.host);
    let busy = busy(old) || busy(new);
    let mut rows = Vec::new();
    let mut new_only = Vec::new();
    let mut not_comparable = 0;
    for f in &new.figures {
        let Some(o) = old.figure(&f.name) else {
            new_only.push(f.name.clone());
            continue;
        };
        if !same_host && f.kind != Kind::Ratio {
            not_comparable += 1;
            continue;
        }
        let mut row = judge(o, f, threshold_pct);
        if busy
            && !strict
            && row.verdict == Verdict::Regression
            && matches!(f.kind, Kind::Time | Kind::Ratio | Kind::Cpu)
        {
            row.verdict = Verdict::Unconfirmed;
        }
        rows.push(row);
    }
    let missing = old
        .figures
        .iter()
        .filter(|f| new.figure(&f.name).is_none())
        .map(|f| f.name.clone())
        .collect();
    Comparison {
        same_host,
        rows,
        new_only,
        missing,
        not_comparable,
        busy,
    }
}

/// Compares the latest report (or `current`) with the baseline `name`, prints the table and a
/// summary line, and fails when a figure regressed.
pub fn compare(
    ws: &Workspace,
    name: &str,
    threshold_pct: f64,
    current: Option<&Path>,
    strict: bool,
) -> Result<()> {
    let old_path = baseline_path(ws, name)?;
    let new_path = current.map_or_else(|| latest_path(ws), Path::to_path_buf);
    let old = Report::read(&old_path).with_context(|| {
        format!("no baseline `{name}`: save one with `cargo xtask baseline save {name}`")
    })?;
    let new = Report::read(&new_path)
        .with_context(|| "no current report: run `cargo xtask bench` first".to_owned())?;
    let cmp = compare_reports(&old, &new, threshold_pct, strict);

    println!(
        "baseline {}: {} {}, {} on {}",
        old_path.display(),
        short(&old.git.revision),
        old.time,
        old.rustc,
        old.host.describe()
    );
    println!(
        "current  {}: {} {}, {} on {}",
        new_path.display(),
        short(&new.git.revision),
        new.time,
        new.rustc,
        new.host.describe()
    );
    println!(
        "load average (1 min) at start/end: baseline {:.2}/{:.2}, current {:.2}/{:.2} on a {}-core machine",
        old.load_average.start[0],
        old.load_average.end[0],
        new.load_average.start[0],
        new.load_average.end[0],
        new.host.cores
    );
    println!(
        "Ratios (shim / floor) compare across machines; absolute times, bytes and CPU only on the same machine."
    );
    if !cmp.same_host {
        println!(
            "The hosts differ: comparing ratios only ({} absolute figures not compared).",
            cmp.not_comparable
        );
    }
    if cmp.busy {
        println!(
            "WARNING: {} made on a busy machine (load average above its {} cores): wall-clock figures \
             move with the load, not the code. Worse time, ratio and CPU figures are marked \
             \"unconfirmed (busy)\" and do not fail the comparison{}; allocation counts and bytes are \
             judged as usual. Re-run on a quiet machine to confirm.",
            match (busy(&old), busy(&new)) {
                (true, true) => "both runs were",
                (true, false) => "the baseline was",
                _ => "the current run was",
            },
            new.host.cores,
            if strict {
                " (except with --strict, given)"
            } else {
                " (use --strict to count them)"
            }
        );
    }
    println!(
        "A regression is a rise of more than {threshold_pct} % and more than the noise band (root-sum-square of both runs' noise)."
    );
    println!();
    let width = cmp
        .rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 80);
    println!(
        "{:<width$}  {:>12}  {:>12}  {:>9}  {:>7}  verdict",
        "figure", "old", "new", "change", "band"
    );
    for r in &cmp.rows {
        println!(
            "{:<width$}  {:>12}  {:>12}  {:>+8.1}%  {:>6.1}%  {}",
            r.name,
            report::format_value(r.old, &r.unit),
            report::format_value(r.new, &r.unit),
            r.change_pct,
            r.band_pct,
            r.verdict.label()
        );
    }
    for n in &cmp.new_only {
        println!("{n:<width$}  (new: not in the baseline)");
    }
    for m in &cmp.missing {
        println!("{m:<width$}  (missing: not in the current report)");
    }
    let regressions = cmp.count(Verdict::Regression);
    println!(
        "\nsummary: {} compared: {regressions} regression(s), {} unconfirmed on a busy machine, {} improved, {} within noise, {} unchanged; {} new, {} missing{}",
        cmp.rows.len(),
        cmp.count(Verdict::Unconfirmed),
        cmp.count(Verdict::Improved),
        cmp.count(Verdict::Noise),
        cmp.count(Verdict::Unchanged),
        cmp.new_only.len(),
        cmp.missing.len(),
        if cmp.same_host {
            String::new()
        } else {
            format!(", {} not comparable (other host)", cmp.not_comparable)
        }
    );
    if regressions > 0 {
        bail!("{regressions} figure(s) regressed beyond {threshold_pct} % and their noise band");
    }
    Ok(())
}

fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Git, Host, Selection, Spread};

    fn fig(name: &str, kind: Kind, value: f64, noise: f64) -> Figure {
        Figure::new(
            name,
            kind,
            value,
            Spread {
                low: value,
                high: value,
                label: "x".into(),
            },
        )
        .noise(noise)
    }

    fn report(cpu: &str, figures: Vec<Figure>) -> Report {
        Report {
            schema: report::SCHEMA,
            time: "t".into(),
            git: Git {
                revision: "r".into(),
                dirty: false,
            },
            rustc: "rustc".into(),
            host: Host {
                cpu_model: cpu.into(),
                cores: 2,
                physical_cores: None,
                memory_bytes: 24 << 30,
                os: "linux".into(),
                kernel: "6".into(),
            },
            profiles: String::new(),
            load_average: Default::default(),
            selection: Selection::default(),
            figures,
            skipped: Vec::new(),
            failures: Vec::new(),
        }
    }

    #[test]
    fn verdicts_respect_threshold_and_noise_band() {
        let t = |old, new, n_old, n_new| {
            judge(
                &fig("a", Kind::Time, old, n_old),
                &fig("a", Kind::Time, new, n_new),
                10.0,
            )
            .verdict
        };
        assert_eq!(t(100.0, 105.0, 0.0, 0.0), Verdict::Unchanged);
        assert_eq!(t(100.0, 120.0, 0.0, 0.0), Verdict::Regression);
        assert_eq!(t(100.0, 80.0, 0.0, 0.0), Verdict::Improved);
        // 20 % up, but each run moved 15 % within itself: band 21.2 %.
        assert_eq!(t(100.0, 120.0, 15.0, 15.0), Verdict::Noise);
        assert_eq!(t(100.0, 130.0, 15.0, 15.0), Verdict::Regression);
    }

    #[test]
    fn an_absolute_floor_hides_tiny_changes() {
        let mut old = fig("cpu", Kind::Cpu, 0.01, 0.0);
        old.abs_floor = Some(0.5);
        let new = fig("cpu", Kind::Cpu, 0.2, 0.0);
        assert_eq!(judge(&old, &new, 10.0).verdict, Verdict::Unchanged);
        let worse = fig("cpu", Kind::Cpu, 2.0, 0.0);
        assert_eq!(judge(&old, &worse, 10.0).verdict, Verdict::Regression);
    }

    #[test]
    fn other_hosts_compare_ratios_only() {
        let old = report(
            "AMD EPYC",
            vec![
                fig("t", Kind::Time, 100.0, 0.0),
                fig("r", Kind::Ratio, 1.3, 0.0),
            ],
        );
        let new = report(
            "Intel Xeon",
            vec![
                fig("t", Kind::Time, 500.0, 0.0),
                fig("r", Kind::Ratio, 1.6, 0.0),
                fig("n", Kind::Time, 1.0, 0.0),
            ],
        );
        let cmp = compare_reports(&old, &new, 10.0, false);
        assert!(!cmp.same_host);
        assert_eq!(cmp.rows.len(), 1);
        assert_eq!(cmp.rows[0].name, "r");
        assert_eq!(cmp.rows[0].verdict, Verdict::Regression);
        assert_eq!(cmp.not_comparable, 1);
        assert_eq!(cmp.new_only, vec!["n".to_owned()]);

        let same = compare_reports(
            &old,
            &report("AMD EPYC", vec![fig("r", Kind::Ratio, 1.3, 0.0)]),
            10.0,
            false,
        );
        assert!(same.same_host);
        assert_eq!(same.missing, vec!["t".to_owned()]);
    }

    #[test]
    fn a_busy_machine_leaves_time_regressions_unconfirmed_but_not_counts() {
        let old = report(
            "AMD EPYC",
            vec![
                fig("t", Kind::Time, 100.0, 0.0),
                fig("c", Kind::Count, 50.0, 0.0),
            ],
        );
        let mut new = report(
            "AMD EPYC",
            vec![
                fig("t", Kind::Time, 200.0, 0.0),
                fig("c", Kind::Count, 60.0, 0.0),
            ],
        );
        new.load_average.start = [5.0, 4.0, 3.0];
        assert!(busy(&new) && !busy(&old));
        let cmp = compare_reports(&old, &new, 10.0, false);
        assert!(cmp.busy);
        assert_eq!(cmp.rows[0].verdict, Verdict::Unconfirmed);
        assert_eq!(cmp.rows[1].verdict, Verdict::Regression);
        let strict = compare_reports(&old, &new, 10.0, true);
        assert_eq!(strict.rows[0].verdict, Verdict::Regression);
        // A quiet pair judges time as usual.
        new.load_average.start = [0.5, 0.5, 0.5];
        assert_eq!(
            compare_reports(&old, &new, 10.0, false).rows[0].verdict,
            Verdict::Regression
        );
    }

    #[test]
    fn baseline_names_are_plain() {
        let ws = Workspace {
            root: PathBuf::from("/w"),
            target: PathBuf::from("/w/target"),
            packages: Vec::new(),
        };
        assert_eq!(
            baseline_path(&ws, "default").unwrap(),
            PathBuf::from("/w/benchmarks/baseline/default.json")
        );
        assert!(baseline_path(&ws, "../x").is_err());
        assert!(baseline_path(&ws, "").is_err());
    }
}
