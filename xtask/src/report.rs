//! The bench report: one JSON file per `cargo xtask bench` run (`target/xtask/bench-<time>.json`
//! and `bench-latest.json`) with the git revision, rustc version, host and every figure, plus
//! the formatting shared by the printed tables.

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

use crate::workspace::{self, Workspace};

/// The report format version; bump it when a field changes meaning.
pub const SCHEMA: u32 = 1;

/// What a figure measures. Larger is worse for every kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Wall-clock time, in nanoseconds.
    Time,
    /// A ratio of two times measured in the same run (comparable across machines).
    Ratio,
    /// Bytes (memory, allocation volume).
    Bytes,
    /// CPU use, in percent of one core.
    Cpu,
    /// A count (allocations per operation).
    Count,
}

impl Kind {
    /// The unit a figure of this kind is stored in.
    pub fn unit(self) -> &'static str {
        match self {
            Kind::Time => "ns",
            Kind::Ratio => "x",
            Kind::Bytes => "bytes",
            Kind::Cpu => "%",
            Kind::Count => "count",
        }
    }
}

/// The range a figure's samples covered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The low end (fastest sample, minimum, lowest block).
    pub low: f64,
    /// The high end (slowest sample, 99th percentile, highest block).
    pub high: f64,
    /// What `low` and `high` are, e.g. `"min–p99"` or `"fastest–slowest"`.
    pub label: String,
}

/// One measured figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// A stable dotted/slashed name, e.g. `process.shim.ratio_to_floor` or
    /// `divan.rules/builtin/evaluate/no_match:ls_-la`.
    pub name: String,
    /// The value (the median for timings), in `unit`.
    pub value: f64,
    /// `ns`, `x`, `bytes`, `%` or `count`.
    pub unit: String,
    /// The range of the samples.
    pub spread: Spread,
    /// What kind of figure it is.
    pub kind: Kind,
    /// How much the value itself moves between repetitions, in percent of the value; baselines
    /// use it as the noise band.
    pub noise_pct: f64,
    /// How many samples the value came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// Changes smaller than this, in `unit`, are never regressions (CPU percentages near zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs_floor: Option<f64>,
    /// How it was measured, when that is not obvious from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Figure {
    /// A figure with the unit of its kind and no extras.
    pub fn new(name: impl Into<String>, kind: Kind, value: f64, spread: Spread) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit: kind.unit().to_owned(),
            spread,
            kind,
            noise_pct: 0.0,
            samples: None,
            abs_floor: None,
            note: None,
        }
    }

    /// Sets the noise estimate.
    pub fn noise(mut self, pct: f64) -> Figure {
        self.noise_pct = if pct.is_finite() { pct } else { 0.0 };
        self
    }

    /// Sets the sample count.
    pub fn samples(mut self, n: usize) -> Figure {
        self.samples = Some(n as u64);
        self
    }

    /// Sets a note.
    pub fn note(mut self, note: impl Into<String>) -> Figure {
        self.note = Some(note.into());
        self
    }
}

/// A figure that was not measured, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The figure or group that is missing.
    pub name: String,
    /// Why, in words (e.g. "not measured: hooks not built yet").
    pub reason: String,
}

/// The machine a report was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// The CPU model (`/proc/cpuinfo` model name).
    pub cpu_model: String,
    /// Logical CPUs available.
    pub cores: usize,
    /// Physical cores, when known.
    pub physical_cores: Option<usize>,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Operating system and version.
    pub os: String,
    /// Kernel version.
    pub kernel: String,
}

impl Host {
    /// Detects this machine.
    pub fn detect() -> Host {
        let sys = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        );
        let cpu_model = sys
            .cpus()
            .first()
            .map(|c| c.brand().trim().to_owned())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        Host {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(sys.cpus().len(), |n| n.get()),
            physical_cores: System::physical_core_count(),
            memory_bytes: sys.total_memory(),
            os: System::long_os_version().unwrap_or_else(|| "unknown".to_owned()),
            kernel: System::kernel_version().unwrap_or_else(|| "unknown".to_owned()),
        }
    }

    /// Whether absolute figures from `other` can be compared with ours: same CPU model and core
    /// count, memory within 10 %.
    pub fn same_machine_class(&self, other: &Host) -> bool {
        let mem = |h: &Host| h.memory_bytes as f64;
        self.cpu_model == other.cpu_model
            && self.cores == other.cores
            && (mem(self) - mem(other)).abs() <= 0.1 * mem(self).max(mem(other))
    }

    /// `AMD EPYC, 2 cores, 23.4 GiB`.
    pub fn describe(&self) -> String {
        format!(
            "{}, {} cores, {:.1} GiB",
            self.cpu_model,
            self.cores,
            self.memory_bytes as f64 / (1u64 << 30) as f64
        )
    }
}

/// The revision the figures were measured at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Git {
    /// `git rev-parse HEAD`.
    pub revision: String,
    /// Whether the working tree had uncommitted changes.
    pub dirty: bool,
}

/// Load averages at the start and end of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadAverage {
    /// At the start (1, 5, 15 minutes).
    pub start: [f64; 3],
    /// At the end (1, 5, 15 minutes).
    pub end: [f64; 3],
}

/// The 1, 5 and 15 minute load averages now.
pub fn load_average_now() -> [f64; 3] {
    let l = System::load_average();
    [l.one, l.five, l.fifteen]
}

/// What a run was restricted to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// `--package` values (empty: all).
    pub packages: Vec<String>,
    /// `--filter`, if any.
    pub filter: Option<String>,
    /// `--quick`.
    pub quick: bool,
}

/// One bench run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// When the run started (UTC, RFC 3339).
    pub time: String,
    /// The git revision.
    pub git: Git,
    /// `rustc --version`.
    pub rustc: String,
    /// The machine.
    pub host: Host,
    /// Which build profiles the figures came from.
    pub profiles: String,
    /// The 1, 5 and 15 minute load averages when the run started and when it ended: how busy
    /// the (shared) machine was.
    #[serde(default)]
    pub load_average: LoadAverage,
    /// What the run was restricted to.
    pub selection: Selection,
    /// Every figure measured.
    pub figures: Vec<Figure>,
    /// Figures that were not measured, and why.
    pub skipped: Vec<Skipped>,
    /// Steps that failed (the run exits non-zero when there are any).
    pub failures: Vec<Skipped>,
}

impl Report {
    /// An empty report for this machine, revision and toolchain, started at `started` (seconds
    /// since the Unix epoch).
    pub fn start(
        ws: &Workspace,
        started: u64,
        selection: Selection,
        profiles: &str,
    ) -> Result<Report> {
        let sh = ws.shell()?;
        let revision = workspace::read(workspace::cmd(&sh, "git").args(["rev-parse", "HEAD"]))
            .unwrap_or_else(|_| "unknown".to_owned());
        let dirty = workspace::read(workspace::cmd(&sh, "git").args(["status", "--porcelain"]))
            .map(|s| !s.trim().is_empty())
            .unwrap_or(true);
        let rustc = workspace::read(workspace::cmd(&sh, "rustc").arg("--version"))
            .context("cannot run `rustc --version`")?;
        Ok(Report {
            schema: SCHEMA,
            time: rfc3339_utc(started),
            git: Git { revision, dirty },
            rustc,
            host: Host::detect(),
            profiles: profiles.to_owned(),
            load_average: LoadAverage {
                start: load_average_now(),
                end: [0.0; 3],
            },
            selection,
            figures: Vec::new(),
            skipped: Vec::new(),
            failures: Vec::new(),
        })
    }

    /// Reads a report file.
    pub fn read(path: &Path) -> Result<Report> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a bench report", path.display()))
    }

    /// Writes the report as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("cannot serialise the report")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The figure called `name`.
    pub fn figure(&self, name: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.name == name)
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// (year, month, day, hour, minute, second) in UTC (Howard Hinnant's civil-from-days).
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// `2025-11-27T03:15:00Z`.
pub fn rfc3339_utc(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `20251127T031500Z`, for file names.
pub fn file_stamp(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// A value in its unit, human-readable: `6.48 µs`, `3.46 MB`, `1.31×`, `0.12 %`, `108`.
pub fn format_value(value: f64, unit: &str) -> String {
    if !value.is_finite() {
        return format!("{value}");
    }
    match unit {
        "ns" => format_ns(value),
        "bytes" => format_bytes(value),
        "x" => format!("{value:.3}×"),
        "%" => format!("{value:.3} %"),
        "count" => {
            if value.fract() == 0.0 {
                format!("{value:.0}")
            } else {
                format!("{value:.2}")
            }
        }
        other => format!("{value} {other}"),
    }
}

fn format_ns(ns: f64) -> String {
    let abs = ns.abs();
    if abs < 1e3 {
        format!("{ns:.1} ns")
    } else if abs < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if abs < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

fn format_bytes(b: f64) -> String {
    let abs = b.abs();
    if abs < 1e3 {
        format!("{b:.0} B")
    } else if abs < 1e6 {
        format!("{:.2} KB", b / 1e3)
    } else if abs < 1e9 {
        format!("{:.2} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_764_213_300), "2025-11-27T03:15:00Z");
        assert_eq!(file_stamp(951_782_400), "20000229T000000Z");
    }

    #[test]
    fn values() {
        assert_eq!(format_value(6476.0, "ns"), "6.48 µs");
        assert_eq!(format_value(3_460_448.0, "bytes"), "3.46 MB");
        assert_eq!(format_value(1.3141, "x"), "1.314×");
        assert_eq!(format_value(108.0, "count"), "108");
    }

    #[test]
    fn figures_round_trip_through_json() {
        let f = Figure::new(
            "process.shim.ratio_to_floor",
            Kind::Ratio,
            1.3,
            Spread {
                low: 1.2,
                high: 1.4,
                label: "block min–max".into(),
            },
        )
        .noise(2.0)
        .samples(400);
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("\"kind\":\"ratio\""), "{json}");
        let back: Figure = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
    }
}
