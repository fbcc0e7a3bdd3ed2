//! `cargo xtask`: SafeShell's development tasks (benchmarks, baselines, size checks, flamegraphs,
//! CI). Every flag of every task is declared here; each task lives in its own module of the
//! `xtask` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::workspace::Workspace;
use xtask::{baseline, bench, ci, dist, flamegraph, size};

mod fuzz;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "SafeShell's development tasks",
    after_help = "Outputs go under target/: target/xtask/bench-*.json, target/flamegraphs/*.svg.\n\
                  See docs/performance/README.md."
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every crate's divan benches and the whole-process figures (shim overhead, hook
    /// latency, daemon start, memory, idle CPU); write target/xtask/bench-<time>.json and
    /// bench-latest.json.
    Bench {
        /// Only this package (name or directory, e.g. `rules`; `process` for the whole-process
        /// figures); repeatable.
        #[arg(long, short, value_name = "PACKAGE")]
        package: Vec<String>,
        /// Only benchmarks matching this regex (divan's filter), and whole-process scenarios
        /// whose `process.<name>` matches.
        #[arg(long, short, value_name = "REGEX")]
        filter: Option<String>,
        /// Fewer samples everywhere: a quick look, not a baseline.
        #[arg(long)]
        quick: bool,
    },
    /// Save or compare baselines (benchmarks/baseline/NAME.json).
    #[command(subcommand)]
    Baseline(BaselineTask),
    /// Build the shipped binaries (as `dist` does) and check their sizes against
    /// xtask/size-budget.toml; fails on a breach.
    SizeCheck,
    /// Build the binaries as they ship: profile stripped-release, and the shim linked statically
    /// on Linux/glibc (it starts on every intercepted command); generate the shell completions
    /// (bash, zsh, fish) and the man page from the CLI definition; optionally install them.
    Dist {
        /// Copy `safeshell` and `safeshell-shim` into this directory (e.g. ~/.local/bin),
        /// replacing older copies atomically, and the completions and man page into its
        /// prefix's share/ (~/.local/share).
        #[arg(long, value_name = "DIR")]
        install: Option<PathBuf>,
    },
    /// Record a bench target (rules, protocol, daemon, shim, …) or a scenario (daemon-load,
    /// check) with perf and render an SVG under target/flamegraphs/.
    Flamegraph {
        /// A bench target name, or a scenario: daemon-load, check.
        target: String,
        /// For bench targets: only benchmarks matching this regex (divan's filter).
        #[arg(long, short, value_name = "REGEX")]
        filter: Option<String>,
        /// perf's --call-graph mode: dwarf (works without frame pointers), fp or lbr.
        #[arg(long, default_value = "dwarf", value_name = "MODE")]
        call_graph: String,
        /// How long daemon-load records; for bench targets, the least time each benchmark runs
        /// (divan --min-time).
        #[arg(long, default_value_t = 3, value_name = "SECONDS")]
        seconds: u64,
        /// Sampling frequency in Hz.
        #[arg(long, default_value_t = 999, value_name = "HZ")]
        frequency: u32,
    },
    /// Run what .ci/run runs (toolchain, fmt --check, clippy -D warnings, tests, bench smoke
    /// run), then size-check.
    Ci,
    /// Seed and run the cargo-fuzz targets in fuzz/ (parse_eval, frame_decode, rules_file,
    /// config_file, hook_payload) with `cargo +nightly fuzz`, one after the other; report
    /// executions and crashes. Installs
    /// nothing: says how to install nightly and cargo-fuzz when they are missing. Not part of CI.
    Fuzz {
        /// Only this target (default: every target in turn).
        target: Option<String>,
        /// Seconds of fuzzing per target, not counting the build.
        #[arg(long, default_value_t = 60, value_name = "S")]
        time: u64,
        /// libFuzzer's limit per input in seconds; a slower input counts as a crash.
        #[arg(long, default_value_t = 10, value_name = "S")]
        timeout: u64,
        /// The sanitizer to build with (none, address, …); `none` runs fastest.
        #[arg(long, default_value = "none", value_name = "NAME")]
        sanitizer: String,
    },
}

#[derive(Subcommand)]
enum BaselineTask {
    /// Copy target/xtask/bench-latest.json to benchmarks/baseline/NAME.json.
    Save {
        /// The baseline's name.
        #[arg(default_value = baseline::DEFAULT_NAME)]
        name: String,
    },
    /// Compare target/xtask/bench-latest.json with benchmarks/baseline/NAME.json; exits non-zero
    /// on a regression.
    Compare {
        /// The baseline's name.
        #[arg(default_value = baseline::DEFAULT_NAME)]
        name: String,
        /// A rise of more than this many percent (and more than the noise band) is a regression.
        #[arg(long, default_value_t = baseline::DEFAULT_THRESHOLD, value_name = "PCT")]
        threshold: f64,
        /// Compare this report instead of target/xtask/bench-latest.json.
        #[arg(long, value_name = "FILE")]
        current: Option<PathBuf>,
        /// Count worse wall-clock figures as regressions even when a run was made on a busy
        /// machine (load average above the core count).
        #[arg(long)]
        strict: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> anyhow::Result<()> {
    let ws = Workspace::load()?;
    match task {
        Task::Bench {
            package,
            filter,
            quick,
        } => bench::run(
            &ws,
            &bench::Args {
                packages: package,
                filter,
                quick,
            },
        )
        .map(drop),
        Task::Baseline(BaselineTask::Save { name }) => baseline::save(&ws, &name).map(drop),
        Task::Baseline(BaselineTask::Compare {
            name,
            threshold,
            current,
            strict,
        }) => baseline::compare(&ws, &name, threshold, current.as_deref(), strict),
        Task::SizeCheck => size::run(&ws).map(drop),
        Task::Dist { install } => dist::run(&ws, install),
        Task::Flamegraph {
            target,
            filter,
            call_graph,
            seconds,
            frequency,
        } => flamegraph::run(
            &ws,
            &flamegraph::Args {
                target,
                filter,
                call_graph,
                seconds,
                frequency,
            },
        )
        .map(drop),
        Task::Ci => ci::run(&ws),
        Task::Fuzz {
            target,
            time,
            timeout,
            sanitizer,
        } => fuzz::run(
            &ws,
            &fuzz::Args {
                target,
                seconds: time,
                timeout,
                sanitizer,
            },
        )
        .map(drop),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
