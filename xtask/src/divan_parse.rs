//! A parser for the text divan 0.1.21 prints: a box-drawing tree with the columns
//! `fastest │ slowest │ median │ mean │ samples │ iters`, times in ps/ns/µs/ms/s, nested groups
//! and arguments, and under a benchmark optional detail rows: throughput counters (`MB/s`,
//! `Kitem/s`) and, with `AllocProfiler`, allocation sections (`max alloc:`, `alloc:`,
//! `dealloc:`, `grow:`, `shrink:`) each followed by a count row and a bytes row.
//!
//! Columns are found from the header line's character positions (the table is aligned), so tree
//! glyphs in the name column never confuse the split. Lines outside a table are ignored, and a
//! table cut short (a bench that panicked) yields the rows before the cut.

use anyhow::{Context as _, Result, bail};

/// The four statistic columns, in divan's order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// The fastest sample.
    pub fastest: f64,
    /// The slowest sample.
    pub slowest: f64,
    /// The median sample.
    pub median: f64,
    /// The mean of the samples.
    pub mean: f64,
}

/// One allocation section under a benchmark (per iteration).
#[derive(Debug, Clone, PartialEq)]
pub struct AllocSection {
    /// `max alloc`, `alloc`, `dealloc`, `grow` or `shrink`.
    pub op: String,
    /// Number of operations, if printed.
    pub count: Option<Stats>,
    /// Bytes, if printed.
    pub bytes: Option<Stats>,
}

/// One benchmark row (a leaf of the tree).
#[derive(Debug, Clone, PartialEq)]
pub struct Bench {
    /// The path from the bench target down, e.g. `["rules", "builtin", "evaluate", "long_compound"]`.
    pub path: Vec<String>,
    /// Times in nanoseconds.
    pub time: Stats,
    /// Samples taken.
    pub samples: u64,
    /// Iterations in total.
    pub iters: u64,
    /// Throughput rows as printed (`["897.2 MB/s", …]`), one per counter.
    pub throughput: Vec<[String; 4]>,
    /// Allocation sections, when divan's `AllocProfiler` is the global allocator.
    pub allocs: Vec<AllocSection>,
}

impl Bench {
    /// `rules/builtin/evaluate/long_compound`.
    pub fn name(&self) -> String {
        self.path.join("/")
    }

    /// The allocation section `op` (`alloc`, `max alloc`, …).
    pub fn alloc(&self, op: &str) -> Option<&AllocSection> {
        self.allocs.iter().find(|a| a.op == op)
    }
}

/// Where the columns are, in characters.
struct Columns {
    /// Start of the `fastest` column (end of the name column).
    fastest: usize,
    /// The five `│` separators.
    seps: [usize; 5],
}

const TREE_GLYPHS: &[char] = &['│', '├', '╰', '─', ' '];

/// Parses every table in `text` (the stdout of one or more divan bench binaries).
pub fn parse(text: &str) -> Result<Vec<Bench>> {
    let mut out: Vec<Bench> = Vec::new();
    let mut columns: Option<Columns> = None;
    let mut stack: Vec<String> = Vec::new();
    // Index in `out` of the benchmark that detail rows belong to.
    let mut current: Option<usize> = None;

    for (lineno, line) in text.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        if let Some(cols) = header(&chars) {
            let root: String = chars[..cols.fastest].iter().collect();
            stack = vec![root.trim().to_owned()];
            columns = Some(cols);
            current = None;
            continue;
        }
        let Some(cols) = &columns else { continue };
        if !line.contains('│') && !line.contains('├') && !line.contains('╰') {
            // The end of a table (blank line) or unrelated output.
            continue;
        }
        let cell = |from: usize, to: usize| -> String {
            let (from, to) = (from.min(chars.len()), to.min(chars.len()));
            chars[from..to]
                .iter()
                .collect::<String>()
                .trim()
                .trim_matches('│')
                .trim()
                .to_owned()
        };
        let name_col = &chars[..cols.fastest.min(chars.len())];
        let name_start = name_col.iter().position(|c| !TREE_GLYPHS.contains(c));
        let values = [
            cell(cols.fastest, cols.seps[0]),
            cell(cols.seps[0] + 1, cols.seps[1]),
            cell(cols.seps[1] + 1, cols.seps[2]),
            cell(cols.seps[2] + 1, cols.seps[3]),
        ];

        if let Some(start) = name_start {
            // A group or a benchmark.
            let name: String = name_col[start..]
                .iter()
                .collect::<String>()
                .trim()
                .to_owned();
            let depth = (start / 3).max(1);
            stack.truncate(depth);
            stack.push(name);
            if values[0].is_empty() {
                current = None;
                continue;
            }
            let stat = |i: usize| {
                parse_time(&values[i]).with_context(|| {
                    format!(
                        "line {}: `{}` is not a divan time (in `{}`)",
                        lineno + 1,
                        values[i],
                        line.trim()
                    )
                })
            };
            let time = Stats {
                fastest: stat(0)?,
                slowest: stat(1)?,
                median: stat(2)?,
                mean: stat(3)?,
            };
            let int = |from: usize, to: usize| -> Result<u64> {
                let s = cell(from, to);
                s.parse()
                    .with_context(|| format!("line {}: `{s}` is not a count", lineno + 1))
            };
            out.push(Bench {
                path: stack.clone(),
                time,
                samples: int(cols.seps[3] + 1, cols.seps[4])?,
                iters: int(cols.seps[4] + 1, chars.len())?,
                throughput: Vec::new(),
                allocs: Vec::new(),
            });
            current = Some(out.len() - 1);
            continue;
        }

        // A detail row under the current benchmark.
        let Some(i) = current else { continue };
        let bench = &mut out[i];
        let first = &values[0];
        if first.is_empty() {
            continue;
        }
        if let Some(op) = first.strip_suffix(':') {
            bench.allocs.push(AllocSection {
                op: op.trim().to_owned(),
                count: None,
                bytes: None,
            });
        } else if is_rate(first) {
            bench.throughput.push(values.clone());
        } else if let Some(section) = bench.allocs.last_mut() {
            if let Some(bytes) = four(&values, parse_bytes) {
                section.bytes = Some(bytes);
            } else if let Some(count) = four(&values, |s| s.parse::<f64>().ok()) {
                section.count = Some(count);
            }
            // Anything else (a future divan row kind) is skipped.
        }
    }
    Ok(out)
}

/// The column layout if `chars` is a header line (`<target>  fastest │ slowest │ median │ …`).
fn header(chars: &[char]) -> Option<Columns> {
    let line: String = chars.iter().collect();
    if !(line.contains("fastest") && line.contains("slowest") && line.contains("median")) {
        return None;
    }
    let fastest = find_chars(chars, "fastest")?;
    let seps: Vec<usize> = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == '│')
        .map(|(i, _)| i)
        .collect();
    let seps: [usize; 5] = seps.get(..5)?.try_into().ok()?;
    Some(Columns { fastest, seps })
}

fn find_chars(chars: &[char], needle: &str) -> Option<usize> {
    let needle: Vec<char> = needle.chars().collect();
    chars
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
}

fn four(values: &[String; 4], f: impl Fn(&str) -> Option<f64>) -> Option<Stats> {
    Some(Stats {
        fastest: f(&values[0])?,
        slowest: f(&values[1])?,
        median: f(&values[2])?,
        mean: f(&values[3])?,
    })
}

fn is_rate(s: &str) -> bool {
    s.ends_with("/s") || s.ends_with("Hz")
}

fn split_unit(s: &str) -> Option<(f64, &str)> {
    let mut parts = s.split_whitespace();
    let number: f64 = parts.next()?.parse().ok()?;
    let unit = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    Some((number, unit))
}

/// `6.376 µs` → 6376.0 (nanoseconds).
pub fn parse_time(s: &str) -> Result<f64> {
    let Some((n, unit)) = split_unit(s) else {
        bail!("expected `<number> <unit>`, got `{s}`")
    };
    let scale = match unit {
        "ps" => 1e-3,
        "ns" => 1.0,
        "µs" | "μs" | "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" => 86_400e9,
        other => bail!("unknown time unit `{other}`"),
    };
    // To the picosecond, divan's own resolution (2.01 × 1e3 is 2009.9999… in binary).
    Ok(round3(n * scale))
}

/// `2.126 KB` → 2126.0; decimal (`KB`) and binary (`KiB`) prefixes.
pub fn parse_bytes(s: &str) -> Option<f64> {
    let (n, unit) = split_unit(s)?;
    let scale = match unit {
        "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "PB" => 1e15,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024f64.powi(4),
        "PiB" => 1024f64.powi(5),
        _ => return None,
    };
    Some(round3(n * scale))
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real output of `cargo bench -p safeshell-rules --bench rules` (AllocProfiler on).
    const RULES: &str = include_str!("../tests/data/divan-rules.txt");
    /// Real output of `cargo bench -p safeshell-protocol --bench protocol` (byte counters).
    const PROTOCOL: &str = include_str!("../tests/data/divan-protocol.txt");
    /// Real output of `cargo bench -p safeshell --bench daemon` (groups, item counters).
    const DAEMON: &str = include_str!("../tests/data/divan-daemon.txt");
    // Also real: divan-shim.txt (`cargo bench -p safeshell-shim --bench shim`) and
    // divan-monitor.txt (`cargo bench -p safeshell-monitor --bench monitor`), used below.

    fn find<'a>(benches: &'a [Bench], name: &str) -> &'a Bench {
        benches
            .iter()
            .find(|b| b.name() == name)
            .unwrap_or_else(|| {
                let names: Vec<String> = benches.iter().map(Bench::name).collect();
                panic!("no bench {name}; have {names:#?}")
            })
    }

    #[test]
    fn rules_capture_nested_names_times_and_allocations() {
        let benches = parse(RULES).unwrap();
        // 5 evaluate cases + evaluate_argv + load + 2×2 parse + 3×4 synthetic.
        assert_eq!(benches.len(), 5 + 1 + 1 + 4 + 12, "{benches:#?}");
        let b = find(&benches, "rules/builtin/evaluate/first_rule:rm_-rf_/");
        assert_eq!(b.time.fastest, 6376.0);
        assert_eq!(b.time.slowest, 169_700.0);
        assert_eq!(b.time.median, 6476.0);
        assert_eq!(b.time.mean, 8685.0);
        assert_eq!((b.samples, b.iters), (100, 100));
        let alloc = b.alloc("alloc").unwrap();
        assert_eq!(alloc.count.unwrap().median, 108.0);
        assert_eq!(alloc.bytes.unwrap().median, 5041.0);
        assert_eq!(b.alloc("max alloc").unwrap().count.unwrap().mean, 20.0);
        assert_eq!(b.alloc("grow").unwrap().bytes.unwrap().fastest, 247.0);
        assert!(b.throughput.is_empty());

        let argv = find(&benches, "rules/builtin/evaluate_argv");
        assert_eq!(argv.time.median, 2010.0);
        let load = find(&benches, "rules/builtin/load");
        assert_eq!(load.time.median, 2.693e6);
        assert_eq!((load.samples, load.iters), (20, 20));
        assert_eq!(load.alloc("alloc").unwrap().bytes.unwrap().median, 2.823e6);
        assert_eq!(load.alloc("shrink").unwrap().count.unwrap().median, 113.0);

        // Fractional allocation counts (averaged over iterations) and the last leaf of a group.
        let typical = find(&benches, "rules/parse/shell_parse/typical");
        assert_eq!(typical.time.median, 230.0);
        assert_eq!(typical.iters, 800);
        assert_eq!(
            typical.alloc("max alloc").unwrap().count.unwrap().median,
            5.125
        );
        // Numeric arguments under a group, and the very last row of the table.
        let last = benches.last().unwrap();
        assert_eq!(last.path[..3], ["rules", "synthetic", "simple"]);
        assert!(find(&benches, "rules/synthetic/load/1000").time.median > 1e6);
        // Every benchmark of this target has allocation sections.
        assert!(benches.iter().all(|b| b.alloc("alloc").is_some()));
    }

    #[test]
    fn protocol_capture_has_throughput_rows() {
        let benches = parse(PROTOCOL).unwrap();
        assert_eq!(benches.len(), 5);
        let b = find(&benches, "protocol/encode_decision");
        assert_eq!(b.time.fastest, 62.63);
        assert_eq!((b.samples, b.iters), (100, 3200));
        assert_eq!(b.throughput.len(), 1);
        assert_eq!(b.throughput[0][2], "2.43 GB/s");
        assert!(b.allocs.is_empty());
        let last = find(&benches, "protocol/read_and_decode_decision");
        assert_eq!(last.time.median, 198.7);
    }

    #[test]
    fn daemon_capture_has_groups_and_millisecond_times() {
        let benches = parse(DAEMON).unwrap();
        assert_eq!(benches.len(), 3 + 2 + 4);
        assert_eq!(
            find(&benches, "daemon/concurrent_clients/64").time.median,
            183.8e6
        );
        assert_eq!(
            find(&benches, "daemon/concurrent_clients/1").throughput[0][0],
            "17.38 Kitem/s"
        );
        assert_eq!(find(&benches, "daemon/round_trip").time.median, 52_050.0);
        assert_eq!(
            find(&benches, "daemon/start_to_first_answer/1000").samples,
            10
        );
    }

    #[test]
    fn shim_and_monitor_captures() {
        let shim = parse(include_str!("../tests/data/divan-shim.txt")).unwrap();
        assert_eq!(shim.len(), 5);
        let a = find(&shim, "shim/shim_approval_resolved_at_once");
        assert_eq!((a.time.median, a.samples), (2.793e6, 30));
        // The monitor bench prints a line of its own before the table.
        let monitor = parse(include_str!("../tests/data/divan-monitor.txt")).unwrap();
        assert_eq!(monitor.len(), 6);
        assert_eq!(
            find(&monitor, "monitor/render_frame/10000").time.median,
            508_800.0
        );
        assert_eq!(
            find(&monitor, "monitor/scroll_one_page").time.fastest,
            463_500.0
        );
    }

    #[test]
    fn several_tables_and_noise_lines() {
        let text = format!("Timer precision: 20 ns\n{PROTOCOL}\nsome other line\n{DAEMON}");
        let benches = parse(&text).unwrap();
        assert_eq!(benches.len(), 5 + 9);
        assert!(benches.iter().any(|b| b.name() == "daemon/round_trip"));
        assert!(
            benches
                .iter()
                .any(|b| b.name() == "protocol/decode_decision")
        );
    }

    #[test]
    fn a_truncated_table_keeps_the_rows_before_the_cut() {
        let cut: String = RULES.lines().take(20).collect::<Vec<_>>().join("\n");
        let benches = parse(&cut).unwrap();
        assert_eq!(benches.len(), 2);
        assert_eq!(benches[1].name(), "rules/builtin/evaluate/long_compound");
    }

    #[test]
    fn units() {
        assert_eq!(parse_time("1 ps").unwrap(), 1e-3);
        assert_eq!(parse_time("3.5 s").unwrap(), 3.5e9);
        assert_eq!(parse_time("2 us").unwrap(), 2000.0);
        assert!(parse_time("2 furlongs").is_err());
        assert!(parse_time("fast").is_err());
        assert_eq!(parse_bytes("1 KiB"), Some(1024.0));
        assert_eq!(parse_bytes("6 B"), Some(6.0));
        assert_eq!(parse_bytes("20"), None);
        assert!(is_rate("17.38 Kitem/s") && is_rate("1 GHz") && !is_rate("1 GB"));
    }

    #[test]
    fn an_empty_or_unrelated_text_has_no_benches() {
        assert!(parse("").unwrap().is_empty());
        assert!(
            parse("running 0 tests\n\ntest result: ok")
                .unwrap()
                .is_empty()
        );
    }
}
