//! `cargo xtask fuzz [TARGET] [--time S]`: seeds the corpora of the cargo-fuzz targets in `fuzz/`
//! and runs each with `cargo +nightly fuzz run` for a fixed time, then reports executions and
//! crashes per target.
//!
//! It installs nothing: without a nightly toolchain or cargo-fuzz it prints the two commands that
//! install them. Seeds come from the repository: the commands of `rules/tests/corpus/*.txt` for
//! `parse_eval`; the built-in rules (whole and one rule at a time) and the TOML examples of
//! `docs/rules.md` for `rules_file`; frames of the protocol's golden bytes and of freshly encoded
//! messages for `frame_decode`. Crashes land in `fuzz/artifacts/TARGET/` (libFuzzer's own
//! layout); one worth keeping becomes a regression test in the crate it broke. Not part of CI.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use safeshell_protocol::{ClientKind, Hello, Request};

use xtask::workspace::{self, Workspace};

/// The fuzz targets in `fuzz/fuzz_targets/`, with the largest input libFuzzer generates for each.
pub const TARGETS: &[(&str, usize)] = &[
    ("parse_eval", 8 * 1024),
    ("frame_decode", 4 * 1024),
    ("rules_file", 64 * 1024),
    ("config_file", 16 * 1024),
    ("hook_payload", 16 * 1024),
];

/// The commands that install what this task needs (it never runs them itself).
pub const INSTALL_HINT: &str =
    "rustup toolchain install nightly --profile minimal\n  cargo install cargo-fuzz";

/// What to fuzz.
#[derive(Debug, Clone)]
pub struct Args {
    /// One target, or every target in turn.
    pub target: Option<String>,
    /// Seconds of fuzzing per target (the build is not counted).
    pub seconds: u64,
    /// libFuzzer's limit per input, in seconds: a slower input is reported as a crash.
    pub timeout: u64,
    /// The sanitizer cargo-fuzz builds with (`none` is fastest; the code has no `unsafe`).
    pub sanitizer: String,
}

/// One target's run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The target.
    pub target: String,
    /// How long it fuzzed, in seconds.
    pub seconds: f64,
    /// Inputs executed, from libFuzzer's final statistics (or its last status line).
    pub executions: Option<u64>,
    /// Crash, timeout, out-of-memory and leak artifacts written during the run.
    pub crashes: Vec<PathBuf>,
}

/// Seeds the corpora and fuzzes; fails when a target crashed (after running all of them).
pub fn run(ws: &Workspace, args: &Args) -> Result<Vec<Outcome>> {
    let targets: Vec<(&str, usize)> = match &args.target {
        Some(name) => vec![*TARGETS.iter().find(|(t, _)| t == name).with_context(|| {
            let known: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
            format!("no fuzz target `{name}`; known: {}", known.join(", "))
        })?],
        None => TARGETS.to_vec(),
    };
    check_tools(ws)?;
    let fuzz_dir = ws.root.join("fuzz");
    let mut outcomes = Vec::new();
    for (target, max_len) in targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        let seeds = seed(ws, target, &corpus)?;
        eprintln!("{target}: {seeds} seeds in {}", corpus.display());
        let mut build = cargo_fuzz(ws);
        build.args(["build", "--sanitizer", &args.sanitizer, target]);
        workspace::echo(&build);
        let status = build
            .status()
            .context("cannot run `cargo +nightly fuzz build`")?;
        if !status.success() {
            bail!("`cargo +nightly fuzz build {target}` failed ({status})");
        }
        outcomes.push(fuzz_one(ws, args, target, max_len, &corpus)?);
    }
    eprintln!();
    eprintln!("{}", summary(&outcomes));
    let crashed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.crashes.is_empty()).collect();
    if !crashed.is_empty() {
        let list: Vec<String> = crashed
            .iter()
            .flat_map(|o| o.crashes.iter().map(|p| p.display().to_string()))
            .collect();
        bail!(
            "crashes found (reproduce with `cargo +nightly fuzz run TARGET FILE`):\n  {}",
            list.join("\n  ")
        );
    }
    Ok(outcomes)
}

/// `cargo +nightly fuzz` at the workspace root, without the toolchain choice of the cargo that
/// runs xtask.
fn cargo_fuzz(ws: &Workspace) -> Command {
    let mut c = Command::new("cargo");
    c.args(["+nightly", "fuzz"])
        .current_dir(&ws.root)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC");
    c
}

fn check_tools(ws: &Workspace) -> Result<()> {
    let ok = cargo_fuzz(ws)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!(
            "`cargo +nightly fuzz` is not available. Install a nightly toolchain and cargo-fuzz \
             with:\n  {INSTALL_HINT}"
        );
    }
    Ok(())
}

fn fuzz_one(
    ws: &Workspace,
    args: &Args,
    target: &str,
    max_len: usize,
    corpus: &Path,
) -> Result<Outcome> {
    let artifacts = ws.root.join("fuzz/artifacts").join(target);
    let before = SystemTime::now();
    let mut run = cargo_fuzz(ws);
    run.args(["run", "--sanitizer", &args.sanitizer, target])
        .arg(corpus)
        .arg("--")
        .arg(format!("-max_total_time={}", args.seconds))
        .arg(format!("-timeout={}", args.timeout))
        .arg(format!("-max_len={max_len}"))
        .arg("-print_final_stats=1")
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    workspace::echo(&run);
    let started = Instant::now();
    let mut child = run
        .spawn()
        .context("cannot run `cargo +nightly fuzz run`")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut log = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.context("cannot read the fuzzer's output")?;
        eprintln!("{line}");
        log.push(line);
    }
    let status = child.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    let crashes = new_artifacts(&artifacts, before)?;
    if !status.success() && crashes.is_empty() {
        bail!("`cargo +nightly fuzz run {target}` failed ({status}) without leaving an artifact");
    }
    Ok(Outcome {
        target: target.to_owned(),
        seconds,
        executions: executions(&log),
        crashes,
    })
}

/// Crash-like artifacts (`crash-`, `timeout-`, `oom-`, `leak-`) written since `since`.
fn new_artifacts(dir: &Path, since: SystemTime) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let crash_like = ["crash-", "timeout-", "oom-", "leak-"]
            .iter()
            .any(|p| name.starts_with(p));
        let fresh = entry.metadata()?.modified().is_ok_and(|m| m >= since);
        if crash_like && fresh {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// The executions libFuzzer reports: `stat::number_of_executed_units`, else the count of its last
/// status line (`#12345\tpulse …`, `#12345\tDONE …`).
pub fn executions(log: &[String]) -> Option<u64> {
    let stat = log.iter().rev().find_map(|l| {
        l.strip_prefix("stat::number_of_executed_units:")
            .and_then(|n| n.trim().parse().ok())
    });
    stat.or_else(|| {
        log.iter().rev().find_map(|l| {
            let count = l.strip_prefix('#')?.split_whitespace().next()?;
            count.parse().ok()
        })
    })
}

/// The table printed at the end.
pub fn summary(outcomes: &[Outcome]) -> String {
    let mut s = format!(
        "{:<14} {:>9} {:>14} {:>8}\n",
        "target", "seconds", "executions", "crashes"
    );
    for o in outcomes {
        s.push_str(&format!(
            "{:<14} {:>9.0} {:>14} {:>8}\n",
            o.target,
            o.seconds,
            o.executions.map_or("?".to_owned(), |n| n.to_string()),
            o.crashes.len()
        ));
    }
    s
}

/// Writes the seeds of `target` into `corpus` (created if missing) and returns how many there are.
/// Files are named by a hash of their content, so seeding twice adds nothing.
fn seed(ws: &Workspace, target: &str, corpus: &Path) -> Result<usize> {
    std::fs::create_dir_all(corpus)
        .with_context(|| format!("cannot create {}", corpus.display()))?;
    let seeds = match target {
        "parse_eval" => parse_eval_seeds(&ws.root)?,
        "rules_file" => rules_file_seeds(&ws.root)?,
        "frame_decode" => frame_seeds()?,
        "config_file" => config_seeds(),
        "hook_payload" => hook_seeds(&ws.root)?,
        other => bail!("no seeds for `{other}`"),
    };
    for s in &seeds {
        let path = corpus.join(format!("seed-{:016x}", fnv1a(s)));
        std::fs::write(&path, s).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(seeds.len())
}

/// The commands of `rules/tests/corpus/*.txt`, with the corpus's own inputs.
fn parse_eval_seeds(root: &Path) -> Result<Vec<Vec<u8>>> {
    let dir = root.join("rules/tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut seeds = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        seeds.extend(corpus_commands(&text).into_iter().map(String::into_bytes));
    }
    Ok(seeds)
}

/// The command of each case line (`context | decision | rule | command`) of a corpus file.
pub fn corpus_commands(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('@'))
        .filter_map(|l| l.splitn(4, " | ").nth(3).map(str::to_owned))
        .collect()
}

/// The first byte picks how `rules_file` loads the text (bit 0: after the built-in rules; bit 1:
/// as a repository file; bit 2: trusted).
/// Hook inputs: the fixture payloads of every agent (`daemon/tests/fixtures/hooks/`), with a
/// command filled in, each preceded by every agent-selecting byte.
fn hook_seeds(root: &Path) -> Result<Vec<Vec<u8>>> {
    let dir = root.join("daemon/tests/fixtures/hooks");
    let mut seeds = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .replace("\"COMMAND\"", "\"git status\"")
            .replace("CWD", "/home/user/project");
        for agent in 0u8..4 {
            let mut seed = vec![agent];
            seed.extend_from_slice(text.as_bytes());
            seeds.push(seed);
        }
    }
    Ok(seeds)
}

/// `config.toml` texts: every setting with a valid value, and the usual mistakes.
fn config_seeds() -> Vec<Vec<u8>> {
    [
        "",
        "on_unavailable = \"allow\"\non_unavailable_ai = \"deny\"\n",
        "shell = \"/bin/bash\"\napproval_timeout_secs = 300\nsession_approval_secs = 3600\n",
        "audit_max_bytes = 10485760\naudit_keep = 3\ntoken_ttl_secs = 30\nwatch_interval_ms = 1000\n",
        "agent_env_markers = [\"MY_AGENT\"]\nagent_programs = [\"claude\", \"codex\"]\n",
        "extra_shims = [\"make\", \"terraform\"]\n",
        "claude_approval = \"monitor\"\ncodex_approval = \"agent\"\nhook_approval_timeout_secs = 50\n",
        "containment = \"agents\"\ncontainment_writable = [\"/srv/build\"]\n",
        "containment = \"off\"\n",
        "on_unavailable = allow\n",
        "approval_timeout_secs = -1\n",
        "unknown_key = 1\n",
        "[section]\nx = 1\n",
        "agent_env_markers = \"MY_AGENT\"\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn rules_file_seeds(root: &Path) -> Result<Vec<Vec<u8>>> {
    let builtin = std::fs::read_to_string(root.join("rules/src/builtin.toml"))
        .context("cannot read rules/src/builtin.toml")?;
    let docs =
        std::fs::read_to_string(root.join("docs/rules.md")).context("cannot read docs/rules.md")?;
    // The built-in rules, whole and one rule at a time: builtin.toml and, where the rules are
    // kept in packs, every rules/src/packs/*.toml.
    let mut files = vec![builtin];
    if let Ok(entries) = std::fs::read_dir(root.join("rules/src/packs")) {
        let mut packs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        packs.sort();
        for p in packs {
            files.push(
                std::fs::read_to_string(&p)
                    .with_context(|| format!("cannot read {}", p.display()))?,
            );
        }
    }
    let mut texts = Vec::new();
    for f in &files {
        texts.push(f.clone());
        texts.extend(split_rules(f));
    }
    texts.extend(toml_blocks(&docs));
    let mut seeds = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        // Alternate the loading modes across the seeds.
        let flags = [0u8, 1, 3, 7][i % 4];
        let mut s = vec![flags];
        s.extend_from_slice(text.as_bytes());
        seeds.push(s);
    }
    Ok(seeds)
}

/// Each `[[rules]]` table of a rule file, alone.
pub fn split_rules(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim() == "[[rules]]" {
            out.push(String::new());
        }
        if let Some(last) = out.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    out
}

/// The contents of the ```toml blocks of a Markdown file.
pub fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start().starts_with("```toml") => current = Some(String::new()),
            Some(block) if line.trim_start().starts_with("```") => {
                out.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    out
}

/// The protocol's golden frames (protocol/tests/golden.rs: a hello, a ping, an argv check) and
/// frames of messages encoded by this build; a stream of a hello followed by requests too.
fn frame_seeds() -> Result<Vec<Vec<u8>>> {
    const GOLDEN: &[&str] = &[
        "0c00000053465348010205302e312e30",
        "0100000004",
        "2d000000000002036769740470757368022f7702026363ac0201026169010a434c41554445434f4445\
         0101410162000000",
    ];
    let mut seeds: Vec<Vec<u8>> = GOLDEN.iter().map(|h| hex(h)).collect::<Result<_>>()?;
    let mut frames = Vec::new();
    let mut buf = Vec::new();
    safeshell_protocol::encode(&Hello::new(ClientKind::Shim, "0.1.0"), &mut buf)?;
    frames.push(buf.clone());
    for request in [Request::Ping, Request::Status, Request::ListPending] {
        safeshell_protocol::encode(&request, &mut buf)?;
        frames.push(buf.clone());
    }
    seeds.push(frames.concat());
    seeds.extend(frames);
    Ok(seeds)
}

fn hex(s: &str) -> Result<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair)?;
            u8::from_str_radix(text, 16).with_context(|| format!("bad hex `{text}`"))
        })
        .collect()
}

/// FNV-1a, for content-addressed seed names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_lines_give_their_commands() {
        let text = "# comment\n@branch main\n\nai | deny | rm-root | rm -rf / | cat\nhuman | allow | - | ls\n";
        assert_eq!(corpus_commands(text), ["rm -rf / | cat", "ls"]);
    }

    #[test]
    fn rules_and_toml_blocks_are_split() {
        let file = "[settings]\nx = 1\n\n[[rules]]\nname = \"a\"\n\n[[rules]]\nname = \"b\"\n";
        let rules = split_rules(file);
        assert_eq!(rules.len(), 2);
        assert!(rules[1].starts_with("[[rules]]\nname = \"b\""));
        let md = "text\n```toml\n[[rules]]\nname = \"x\"\n```\n```sh\nls\n```\n";
        assert_eq!(toml_blocks(md), ["[[rules]]\nname = \"x\"\n"]);
    }

    #[test]
    fn executions_come_from_final_stats_or_the_last_status_line() {
        let log: Vec<String> = [
            "#2\tINITED cov: 10 ft: 10 corp: 1/1b exec/s: 0 rss: 30Mb",
            "#65536\tpulse  cov: 99 ft: 120 corp: 40/2Kb exec/s: 21845 rss: 40Mb",
            "#98304\tDONE   cov: 99 ft: 120 corp: 40/2Kb exec/s: 32768 rss: 40Mb",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(executions(&log), Some(98304));
        let mut with_stats = log.clone();
        with_stats.push("stat::number_of_executed_units: 98311".to_owned());
        with_stats.push("stat::average_exec_per_sec:     32770".to_owned());
        assert_eq!(executions(&with_stats), Some(98311));
        assert_eq!(executions(&[]), None);
    }

    #[test]
    fn golden_frames_decode_as_hex() {
        assert_eq!(hex("0100000004").unwrap(), [1, 0, 0, 0, 4]);
        assert!(frame_seeds().unwrap().len() >= 7);
        assert_eq!(TARGETS.len(), 5);
        assert!(config_seeds().len() >= 10);
        assert!(INSTALL_HINT.contains("cargo install cargo-fuzz"));
    }
}
