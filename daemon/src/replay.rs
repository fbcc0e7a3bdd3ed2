//! `safeshell replay`: what SafeShell would have decided for every shell command and file access
//! in past agent sessions (Claude Code transcripts, Codex session logs, Gemini CLI chats,
//! SafeShell's own audit log, or plain lists of commands), with the rules in effect or given
//! ones, and what a second policy would change. Nothing read is ever run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use safeshell_protocol::FileAccess;
use safeshell_rules::{Action, CommandInput, Context, RuleSet, Source, SourceKind};
use serde_json::{Value, json};

use crate::facts::SystemFacts;
use crate::paths;

/// The hook's own payload parsing (pure), so a transcript's tool call is read exactly as the
/// hook reads the same call live. Shared by path, as the fuzz target does.
#[allow(dead_code, unused_imports)]
#[path = "../../shim/src/payload.rs"]
mod payload;

use payload::{Agent, Subject};

/// The options of `safeshell replay`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Files or directories to read (default: every agent's session store, above).
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<PathBuf>,
    /// Only calls made since this date (2026-11-01, UTC) or time (2026-11-01T12:00:00Z).
    /// Commands without a time (a plain command list) are always included.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Decide with this rule file in place of ~/.safeshell/rules.toml (built-in rules and
    /// repository files still apply).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Also decide with this rule file, and report every decision that differs.
    #[arg(long, value_name = "FILE")]
    pub against_rules: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML report (with a chart of decisions per day) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Examples shown per rule.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub examples: usize,
}

/// How a source file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Claude Code transcript (`~/.claude/projects/**/*.jsonl`).
    Claude,
    /// Codex session log (`~/.codex/sessions/**/rollout-*.jsonl`).
    Codex,
    /// Gemini CLI chat (`~/.gemini/tmp/*/chats/session-*.json`).
    Gemini,
    /// SafeShell's audit log (`audit.jsonl` and its rotated files).
    Audit,
    /// One command per line.
    Lines,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Claude => "Claude Code transcript",
            Format::Codex => "Codex session log",
            Format::Gemini => "Gemini CLI chat",
            Format::Audit => "SafeShell audit log",
            Format::Lines => "command list",
        }
    }
}

/// One command or file access found in a source.
#[derive(Debug, Clone)]
struct Call {
    time_ms: Option<i64>,
    cwd: Option<String>,
    subject: Subject,
    context: Context,
}

/// What one policy decided for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    action: Action,
    rule: Option<String>,
}

/// A policy: the global rule file in place of the user's (`None`: the user's own, if any); the
/// built-in rules and each directory's repository file apply with it.
struct Policy {
    global: Option<Source>,
    /// Where it came from, for the report.
    label: String,
}

/// A policy's rules in effect per working directory, built once per directory (by one thread).
struct Decider<'p> {
    policy: &'p Policy,
    /// The rules and the facts (home, repository, branch: as they are now) per directory.
    by_cwd: HashMap<String, (Arc<RuleSet>, Rc<SystemFacts>)>,
}

impl Policy {
    fn new(file: Option<&Path>) -> Result<Policy> {
        let (global, label) = match file {
            Some(path) => (
                Some(paths::read_source(SourceKind::Global, path)?),
                path.display().to_string(),
            ),
            None => {
                let global = paths::global_rules_path().filter(|p| p.is_file());
                let global = global
                    .map(|p| paths::read_source(SourceKind::Global, &p))
                    .transpose()?;
                (global, "the rules in effect".to_owned())
            }
        };
        // Fail now, with the file's own error, rather than on the first call.
        let mut sources = vec![Source::builtin()];
        sources.extend(global.clone());
        RuleSet::load(&sources)?;
        Ok(Policy { global, label })
    }

    fn decider(&self) -> Decider<'_> {
        Decider {
            policy: self,
            by_cwd: HashMap::new(),
        }
    }
}

impl Decider<'_> {
    fn rules_for(&mut self, cwd: &str) -> (Arc<RuleSet>, Rc<SystemFacts>) {
        if let Some(found) = self.by_cwd.get(cwd) {
            return found.clone();
        }
        let mut sources = vec![Source::builtin()];
        sources.extend(self.policy.global.clone());
        if let Some(repo) = paths::repo_rules_path(Path::new(cwd))
            && let Ok(source) = paths::read_source(SourceKind::Repo, &repo)
        {
            sources.push(source);
        }
        // A repository file that does not load is left out (the report is about the policy).
        let rules = RuleSet::load(&sources)
            .or_else(|_| RuleSet::load(&sources[..sources.len().min(2)]))
            .map(Arc::new)
            .unwrap_or_else(|_| Arc::new(RuleSet::builtin()));
        let facts = Rc::new(SystemFacts::current(Path::new(cwd)));
        self.by_cwd
            .insert(cwd.to_owned(), (rules.clone(), facts.clone()));
        (rules, facts)
    }

    fn decide(&mut self, job: &Job) -> Verdict {
        let (rules, facts) = self.rules_for(&job.cwd);
        let e = rules.evaluate(
            CommandInput::Shell(&job.judged),
            job.context,
            &job.cwd,
            facts.as_ref(),
        );
        let action = match e.action {
            // A file tool runs no command: a redirect refuses it, as the daemon does.
            Action::Redirect if job.is_file => Action::Deny,
            action => action,
        };
        Verdict {
            action,
            rule: e.rule,
        }
    }
}

/// Counts and examples for one group of calls.
#[derive(Debug, Default, Clone)]
struct Group {
    count: u64,
    examples: Vec<String>,
}

impl Group {
    fn add(&mut self, text: &str, keep: usize) {
        self.count += 1;
        if self.examples.len() < keep && !self.examples.iter().any(|e| e == text) {
            self.examples.push(text.to_owned());
        }
    }
}

/// Everything the report says.
#[derive(Debug, Default)]
struct Tally {
    sources: Vec<(String, &'static str, u64)>,
    calls: u64,
    skipped_lines: u64,
    unreadable_lines: u64,
    duplicates: u64,
    by_action: [u64; 4],
    by_rule: BTreeMap<(String, &'static str), Group>,
    /// Decisions per UTC day (days since the Unix epoch).
    by_day: BTreeMap<i64, [u64; 4]>,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    changes: BTreeMap<(String, String), Group>,
    changed: u64,
}

fn index(action: Action) -> usize {
    match action {
        Action::Allow => 0,
        Action::RequireApproval => 1,
        Action::Deny => 2,
        Action::Redirect => 3,
    }
}

const ACTIONS: [&str; 4] = ["allow", "require_approval", "deny", "redirect"];

fn describe(verdict: &Verdict) -> String {
    match &verdict.rule {
        Some(rule) => format!("{} ({rule})", verdict.action.as_str()),
        None => verdict.action.as_str().to_owned(),
    }
}

/// Entry point.
pub fn run(options: Options) -> Result<u8> {
    let since_ms = options.since.as_deref().map(parse_since).transpose()?;
    let policy = Policy::new(options.rules.as_deref())?;
    let against = options
        .against_rules
        .as_deref()
        .map(|p| Policy::new(Some(p)))
        .transpose()?;
    let sources = if options.sources.is_empty() {
        default_sources()
    } else {
        expand_sources(&options.sources)?
    };
    if sources.is_empty() {
        bail!(
            "no agent sessions found (looked in ~/.claude/projects, ~/.codex/sessions, ~/.gemini/tmp and the SafeShell audit log); name files or directories to replay"
        );
    }
    let keep = options.examples.max(1);
    let mut tally = Tally::default();
    let mut seen_ids: HashSet<String> = HashSet::new();
    let started = Instant::now();
    let home = paths::home_dir().map(|h| h.display().to_string());
    let home_cwd = paths::home_dir()
        .map(|h| h.display().to_string())
        .unwrap_or_else(|| "/".to_owned());
    // 1. Every call, in order; each distinct (directory, context, command) is decided once.
    let mut found_calls: Vec<Found> = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    let mut job_of: HashMap<(String, bool, String), usize> = HashMap::new();
    for (path, format) in sources {
        let mut found = 0u64;
        let mut on_call = |call: Call, id: Option<String>, tally: &mut Tally| {
            if let Some(id) = id
                && !seen_ids.insert(id)
            {
                tally.duplicates += 1;
                return;
            }
            if let (Some(since), Some(t)) = (since_ms, call.time_ms)
                && t < since
            {
                return;
            }
            if since_ms.is_some() && call.time_ms.is_none() && format != Format::Lines {
                return;
            }
            found += 1;
            let cwd = call.cwd.clone().unwrap_or_else(|| home_cwd.clone());
            let (text, judged, is_file) = match &call.subject {
                Subject::Command(c) => (c.clone(), c.clone(), false),
                Subject::File(access) => (
                    access.describe(),
                    crate::file_access::judged_command(access, &cwd, home.as_deref()),
                    true,
                ),
            };
            let key = (cwd, call.context == Context::Ai, judged);
            let job = *job_of.entry(key).or_insert_with_key(|(cwd, _, judged)| {
                jobs.push(Job {
                    cwd: cwd.clone(),
                    context: call.context,
                    judged: judged.clone(),
                    is_file,
                });
                jobs.len() - 1
            });
            found_calls.push(Found {
                time_ms: call.time_ms,
                text,
                job,
            });
        };
        read_source(&path, format, &mut tally, &mut on_call)
            .with_context(|| format!("cannot read {}", path.display()))?;
        tally
            .sources
            .push((path.display().to_string(), format.name(), found));
    }
    drop(job_of);
    // 2. Decided on every core: the rules engine is pure; each thread keeps its own per-directory
    // rules and facts.
    let verdicts = decide_all(&jobs, &policy, against.as_ref())?;
    // 3. Counted in order.
    for call in &found_calls {
        let (verdict, theirs) = &verdicts[call.job];
        record(&mut tally, call.time_ms, &call.text, verdict, keep);
        if let Some(theirs) = theirs
            && theirs != verdict
        {
            tally.changed += 1;
            tally
                .changes
                .entry((describe(verdict), describe(theirs)))
                .or_default()
                .add(&call.text, keep);
        }
    }
    let elapsed = started.elapsed();
    let mut out = std::io::stdout().lock();
    if options.json {
        let report = to_json(&tally, &policy, against.as_ref(), elapsed);
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write_table(&mut out, &tally, &policy, against.as_ref(), elapsed)?;
    }
    if let Some(html) = &options.html {
        std::fs::write(html, to_html(&tally, &policy, against.as_ref()))
            .with_context(|| format!("cannot write {}", html.display()))?;
        if !options.json {
            writeln!(out, "\nHTML report: {}", html.display())?;
        }
    }
    Ok(0)
}

/// A call found in a source, waiting for its decision.
struct Found {
    time_ms: Option<i64>,
    /// As shown in the report (a file access as `Read /p/.env`).
    text: String,
    /// Its decision's index in the jobs.
    job: usize,
}

/// One distinct thing to decide.
struct Job {
    cwd: String,
    context: Context,
    /// The command evaluated (for a file access, the command that makes the same access).
    judged: String,
    is_file: bool,
}

/// Each job's verdict under the policy (and under the second policy, if any), computed on
/// every core with a progress line on a terminal.
fn decide_all(
    jobs: &[Job],
    policy: &Policy,
    against: Option<&Policy>,
) -> Result<Vec<(Verdict, Option<Verdict>)>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 16)
        .min(jobs.len().max(1));
    let chunk = jobs.len().div_ceil(threads).max(1);
    let done = std::sync::atomic::AtomicU64::new(0);
    let mut progress = Progress::new();
    let results: Vec<Vec<(Verdict, Option<Verdict>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                let done = &done;
                scope.spawn(move || {
                    let mut mine = policy.decider();
                    let mut theirs = against.map(Policy::decider);
                    part.iter()
                        .map(|job| {
                            let verdict = mine.decide(job);
                            let other = theirs.as_mut().map(|t| t.decide(job));
                            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            (verdict, other)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(50));
            progress.tick(done.load(std::sync::atomic::Ordering::Relaxed), jobs.len());
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("a replay worker panicked"))
            .collect()
    });
    progress.done();
    Ok(results.into_iter().flatten().collect())
}

fn record(tally: &mut Tally, time_ms: Option<i64>, text: &str, verdict: &Verdict, keep: usize) {
    tally.calls += 1;
    let i = index(verdict.action);
    tally.by_action[i] += 1;
    if verdict.action != Action::Allow {
        let rule = verdict.rule.clone().unwrap_or_else(|| "-".to_owned());
        tally
            .by_rule
            .entry((rule, ACTIONS[i]))
            .or_default()
            .add(text, keep);
    }
    if let Some(t) = time_ms {
        tally.first_ms = Some(tally.first_ms.map_or(t, |f| f.min(t)));
        tally.last_ms = Some(tally.last_ms.map_or(t, |l| l.max(t)));
        tally.by_day.entry(t.div_euclid(DAY_MS)).or_default()[i] += 1;
    }
}

/// `--since`: a date (`2026-11-01`, midnight UTC) or a timestamp (`2026-11-01T12:00:00Z`).
pub(crate) fn parse_since(text: &str) -> Result<i64> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    let date: jiff::civil::Date = text.parse().with_context(|| {
        format!(
            "--since {text:?}: expected a date (2026-11-01) or a timestamp (2026-11-01T12:00:00Z)"
        )
    })?;
    Ok(date
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .context("--since is out of range")?
        .timestamp()
        .as_millisecond())
}

fn parse_time(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

const DAY_MS: i64 = 86_400_000;

fn day_of(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// The agents' own session stores and SafeShell's audit log, where they exist.
fn default_sources() -> Vec<(PathBuf, Format)> {
    let mut found = Vec::new();
    if let Some(home) = paths::home_dir() {
        let claude = std::env::var_os("CLAUDE_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".claude"));
        walk(&claude.join("projects"), &mut |p| {
            if p.extension().is_some_and(|e| e == "jsonl") {
                found.push((p.to_owned(), Format::Claude));
            }
        });
        let codex = std::env::var_os("CODEX_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".codex"));
        walk(&codex.join("sessions"), &mut |p| {
            if p.extension().is_some_and(|e| e == "jsonl") {
                found.push((p.to_owned(), Format::Codex));
            }
        });
        walk(&home.join(".gemini/tmp"), &mut |p| {
            // `chats/session-*.json` (earlier) or `.jsonl`, and sub-agents' `chats/<id>/*.jsonl`.
            let in_chats = p.components().any(|c| c.as_os_str() == "chats");
            if in_chats && p.extension().is_some_and(|e| e == "json" || e == "jsonl") {
                found.push((p.to_owned(), Format::Gemini));
            }
        });
    }
    if let Some(state) = paths::safeshell_home() {
        let log = state.join("audit.jsonl");
        for n in (1..100).rev() {
            let rotated = crate::audit::rotated(&log, n);
            if rotated.is_file() {
                found.push((rotated, Format::Audit));
            }
        }
        if log.is_file() {
            found.push((log, Format::Audit));
        }
    }
    found
}

/// The files named on the command line (directories: every file beneath), each with its format.
fn expand_sources(named: &[PathBuf]) -> Result<Vec<(PathBuf, Format)>> {
    let mut found = Vec::new();
    for path in named {
        if path.as_os_str() == "-" {
            found.push((path.clone(), Format::Lines));
        } else if path.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut |p| files.push(p.to_owned()));
            files.sort();
            for file in files {
                if let Some(format) = detect(&file)? {
                    found.push((file, format));
                }
            }
        } else if path.is_file() {
            found.push((path.clone(), detect(path)?.unwrap_or(Format::Lines)));
        } else {
            bail!("{}: no such file or directory", path.display());
        }
    }
    Ok(found)
}

fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        // Not through symbolic links: a session store has none, and a loop must not hang.
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, visit),
            Ok(m) if m.is_file() => visit(&path),
            _ => {}
        }
    }
}

/// A file's format from its first record (`None`: a file inside a directory that is none of
/// them, such as a binary; a file named on its own is read as a command list).
fn detect(path: &Path) -> Result<Option<Format>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut first = Vec::new();
    // The first non-empty line, or the first 64 KiB of a file written on one line.
    loop {
        first.clear();
        let n = (&mut reader).take(1 << 16).read_until(b'\n', &mut first)?;
        if n == 0 {
            return Ok(None);
        }
        if !first.iter().all(u8::is_ascii_whitespace) {
            break;
        }
    }
    let Ok(text) = std::str::from_utf8(&first) else {
        return Ok(None);
    };
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return Ok(Some(Format::Lines));
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with("audit.jsonl") {
        return Ok(Some(Format::Audit));
    }
    let v: Value = match serde_json::from_str(trimmed) {
        Ok(v) => v,
        // A pretty-printed JSON document (Gemini CLI's chats, Codex's first TypeScript logs).
        Err(_) => return Ok(Some(Format::Gemini)),
    };
    let has = |key: &str| v.get(key).is_some();
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    Ok(Some(if has("time_ms") && has("decision") {
        Format::Audit
    } else if has("projectHash") || (has("messages") && !has("parentUuid")) {
        Format::Gemini
    } else if has("payload") || has("record_type") || (has("instructions") && has("id")) {
        Format::Codex
    } else if has("parentUuid")
        || has("leafUuid")
        || has("sessionId")
        || matches!(
            kind,
            "summary" | "file-history-snapshot" | "user" | "assistant" | "system"
        )
    {
        Format::Claude
    } else {
        Format::Lines
    }))
}

type OnCall<'a> = dyn FnMut(Call, Option<String>, &mut Tally) + 'a;

fn read_source(path: &Path, format: Format, tally: &mut Tally, on_call: &mut OnCall) -> Result<()> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        ))
    };
    match format {
        Format::Gemini => read_gemini(path, reader, tally, on_call),
        _ => {
            let mut state = LineState::default();
            for_each_line(reader, tally, |line, tally| {
                read_line(format, line, &mut state, tally, on_call);
            })
        }
    }
}

/// Lines as text; a line that is not UTF-8 is counted and skipped.
fn for_each_line(
    mut reader: Box<dyn BufRead>,
    tally: &mut Tally,
    mut each: impl FnMut(&str, &mut Tally),
) -> Result<()> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        match std::str::from_utf8(&buf) {
            Ok(line) => each(line.trim_end_matches(['\n', '\r']), tally),
            Err(_) => tally.unreadable_lines += 1,
        }
    }
}

/// What a session log says about the lines after it (Codex writes the directory once).
#[derive(Default)]
struct LineState {
    cwd: Option<String>,
}

fn read_line(
    format: Format,
    line: &str,
    state: &mut LineState,
    tally: &mut Tally,
    on_call: &mut OnCall,
) {
    if line.trim().is_empty() {
        return;
    }
    match format {
        Format::Lines => on_call(
            Call {
                time_ms: None,
                cwd: None,
                subject: Subject::Command(line.to_owned()),
                context: Context::Ai,
            },
            None,
            tally,
        ),
        Format::Claude => {
            // Only assistant lines carry tool calls; tool results (`"tool_use_id"`) do not match.
            if !line.contains("\"tool_use\"") {
                tally.skipped_lines += 1;
                return;
            }
            // Typed and borrowed: the fields not needed (usage, text blocks) are skipped, not
            // built.
            let Ok(v) = serde_json::from_str::<ClaudeLine>(line) else {
                tally.unreadable_lines += 1;
                return;
            };
            let time_ms = v.timestamp.as_deref().and_then(parse_time);
            let calls: Vec<ClaudeItem> = match v.message.map(|m| m.content) {
                Some(ClaudeContent::Items(items)) => {
                    items.into_iter().filter(|i| i.kind == "tool_use").collect()
                }
                _ => Vec::new(),
            };
            if calls.is_empty() {
                tally.skipped_lines += 1;
            }
            for item in calls {
                let payload = json!({
                    "tool_name": item.name,
                    "tool_input": item.input,
                    "cwd": v.cwd,
                });
                emit(Agent::Claude, &payload, time_ms, item.id, tally, on_call);
            }
        }
        Format::Codex => read_codex(line, state, tally, on_call),
        Format::Audit => {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                tally.unreadable_lines += 1;
                return;
            };
            // Decisions only (not lifecycle events), and each command once: a shim's check that
            // an earlier decision already covered (`token`) is the same command again.
            if v.get("decision").is_none() || v.get("token") == Some(&Value::Bool(true)) {
                tally.skipped_lines += 1;
                return;
            }
            let context = match v.get("context").and_then(Value::as_str) {
                Some("human") => Context::Human,
                _ => Context::Ai,
            };
            let subject = match (v.get("file_access"), v.get("command")) {
                (Some(f @ Value::Object(_)), _) => {
                    match serde_json::from_value::<AuditFile>(f.clone()) {
                        Ok(f) => match f.into_access() {
                            Some(access) => Subject::File(access),
                            None => {
                                tally.unreadable_lines += 1;
                                return;
                            }
                        },
                        Err(_) => {
                            tally.unreadable_lines += 1;
                            return;
                        }
                    }
                }
                (_, Some(Value::String(s))) => Subject::Command(s.clone()),
                (_, Some(Value::Array(argv))) => Subject::Command(
                    argv.iter()
                        .filter_map(Value::as_str)
                        .map(safeshell_rules::segment::quote)
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                _ => {
                    tally.unreadable_lines += 1;
                    return;
                }
            };
            on_call(
                Call {
                    time_ms: v.get("time_ms").and_then(Value::as_i64),
                    cwd: v.get("cwd").and_then(Value::as_str).map(str::to_owned),
                    subject,
                    context,
                },
                None,
                tally,
            );
        }
        Format::Gemini => {}
    }
}

/// The parts of a Claude Code transcript line replay reads.
#[derive(serde::Deserialize)]
struct ClaudeLine<'a> {
    #[serde(borrow, default)]
    cwd: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    message: Option<ClaudeMessage>,
}

#[derive(serde::Deserialize)]
struct ClaudeMessage {
    #[serde(default)]
    content: ClaudeContent,
}

/// A message's content: blocks, or (a person's message) plain text, which is skipped.
#[derive(serde::Deserialize, Default)]
#[serde(untagged)]
enum ClaudeContent {
    Items(Vec<ClaudeItem>),
    #[default]
    Other,
    Text(serde::de::IgnoredAny),
}

#[derive(serde::Deserialize)]
struct ClaudeItem {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    input: Value,
}

/// The `file_access` of an audit record.
#[derive(serde::Deserialize)]
struct AuditFile {
    tool: String,
    access: String,
    paths: Vec<String>,
    pattern: Option<String>,
}

impl AuditFile {
    fn into_access(self) -> Option<FileAccess> {
        Some(FileAccess {
            tool: self.tool,
            access: safeshell_protocol::FileAccessKind::parse(&self.access)?,
            paths: self.paths,
            pattern: self.pattern,
        })
    }
}

/// A tool call as the hook would see it: judged if it is a command or a file access.
fn emit(
    agent: Agent,
    payload: &Value,
    time_ms: Option<i64>,
    id: Option<String>,
    tally: &mut Tally,
    on_call: &mut OnCall,
) {
    match payload::parse_payload(agent, payload) {
        Ok(Some((subject, cwd))) => on_call(
            Call {
                time_ms,
                cwd,
                subject,
                context: Context::Ai,
            },
            id,
            tally,
        ),
        // Other tools (web fetches, sub-agents…) are not SafeShell's business.
        Ok(None) => tally.skipped_lines += 1,
        Err(_) => tally.unreadable_lines += 1,
    }
}

fn read_codex(line: &str, state: &mut LineState, tally: &mut Tally, on_call: &mut OnCall) {
    let interesting = [
        "session_meta",
        "turn_context",
        "function_call\"",
        "local_shell_call\"",
        "custom_tool_call\"",
    ];
    if !interesting.iter().any(|k| line.contains(k)) {
        tally.skipped_lines += 1;
        return;
    }
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        tally.unreadable_lines += 1;
        return;
    };
    let time_ms = v
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(parse_time);
    // Newer logs wrap each item in `{timestamp, type, payload}`; older ones write it bare.
    let item = v.get("payload").unwrap_or(&v);
    let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
    let outer = v.get("type").and_then(Value::as_str).unwrap_or("");
    if matches!(outer, "session_meta" | "turn_context")
        || item.get("cwd").is_some() && kind.is_empty()
    {
        if let Some(cwd) = item.get("cwd").and_then(Value::as_str) {
            state.cwd = Some(cwd.to_owned());
        }
        return;
    }
    let id = item
        .get("call_id")
        .or_else(|| item.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (tool, input) = match kind {
        "function_call" => {
            let name = item.get("name").and_then(Value::as_str).unwrap_or("");
            let args = match item.get("arguments") {
                Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
                Some(other) => other.clone(),
                None => Value::Null,
            };
            match name {
                "shell" | "container.exec" | "local_shell" | "shell_command" | "exec_command" => {
                    let command = args
                        .get("command")
                        .or_else(|| args.get("cmd"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let cwd = args.get("workdir").and_then(Value::as_str);
                    ("Bash", json!({ "command": command, "workdir": cwd }))
                }
                "apply_patch" => {
                    let patch = args.get("input").cloned().unwrap_or(args.clone());
                    ("apply_patch", json!({ "command": patch }))
                }
                _ => {
                    tally.skipped_lines += 1;
                    return;
                }
            }
        }
        "local_shell_call" => {
            let exec = item.pointer("/action").cloned().unwrap_or(Value::Null);
            let cwd = exec.get("working_directory").and_then(Value::as_str);
            (
                "Bash",
                json!({ "command": exec.get("command").cloned().unwrap_or(Value::Null), "workdir": cwd }),
            )
        }
        "custom_tool_call" if item.get("name").and_then(Value::as_str) == Some("apply_patch") => (
            "apply_patch",
            json!({ "command": item.get("input").cloned().unwrap_or(Value::Null) }),
        ),
        _ => {
            tally.skipped_lines += 1;
            return;
        }
    };
    // A call's `workdir` is relative to the turn's directory.
    let cwd = match (input.get("workdir").and_then(Value::as_str), &state.cwd) {
        (Some(dir), _) if dir.starts_with('/') => Some(dir.to_owned()),
        (Some(dir), Some(base)) => Some(format!("{}/{dir}", base.trim_end_matches('/'))),
        (Some(dir), None) => Some(dir.to_owned()),
        (None, base) => base.clone(),
    };
    let payload = json!({ "tool_name": tool, "tool_input": input, "cwd": cwd });
    emit(Agent::Codex, &payload, time_ms, id, tally, on_call);
}

/// A Gemini CLI chat: one JSON document with `messages` (earlier releases), or JSON lines: a
/// metadata line, message records (re-written whole when they change: a tool call's `id` is
/// seen again), `{"$set": {…}}` updates. Tool calls are in `toolCalls` of the model's messages.
/// Chats do not record the directory: the project root comes from `.project_root` beside them.
fn read_gemini(
    path: &Path,
    mut reader: Box<dyn BufRead>,
    tally: &mut Tally,
    on_call: &mut OnCall,
) -> Result<()> {
    let mut text = String::new();
    reader.read_to_string(&mut text)?;
    let root = path
        .ancestors()
        .skip(1)
        .take(3)
        .map(|dir| dir.join(".project_root"))
        .find_map(|f| std::fs::read_to_string(f).ok())
        .map(|t| t.trim().to_owned());
    let mut message = |m: &Value, tally: &mut Tally| {
        let time_ms = m
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_time);
        for call in m
            .get("toolCalls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let tool = call.get("name").and_then(Value::as_str).unwrap_or("");
            let payload = json!({
                "tool_name": tool,
                "tool_input": call.get("args").cloned().unwrap_or(Value::Null),
                "cwd": root,
            });
            let id = call.get("id").and_then(Value::as_str).map(str::to_owned);
            let time_ms = call
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(parse_time)
                .or(time_ms);
            emit(Agent::Gemini, &payload, time_ms, id, tally, on_call);
        }
    };
    let messages = |doc: &Value| -> Vec<Value> {
        doc.get("messages")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if let Ok(doc) = serde_json::from_str::<Value>(&text)
        && doc.get("messages").is_some()
    {
        for m in messages(&doc) {
            message(&m, tally);
        }
        return Ok(());
    }
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            tally.unreadable_lines += 1;
            continue;
        };
        if let Some(set) = v.get("$set") {
            for m in messages(set) {
                message(&m, tally);
            }
        } else if v.get("toolCalls").is_some() {
            message(&v, tally);
        } else {
            tally.skipped_lines += 1;
        }
    }
    Ok(())
}

/// A progress line on a terminal, for runs longer than a second.
struct Progress {
    started: Instant,
    last: Instant,
    shown: bool,
    enabled: bool,
}

impl Progress {
    fn new() -> Progress {
        let now = Instant::now();
        Progress {
            started: now,
            last: now,
            shown: false,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    fn tick(&mut self, done: u64, total: usize) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.started) < Duration::from_secs(1)
            || now.duration_since(self.last) < Duration::from_millis(200)
        {
            return;
        }
        self.last = now;
        self.shown = true;
        let _ = write!(
            std::io::stderr(),
            "\rsafeshell replay: {done} of {total} distinct commands decided…"
        );
    }

    fn done(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

fn per_day(count: u64, days: usize) -> f64 {
    if days == 0 {
        0.0
    } else {
        count as f64 / days as f64
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// The noisiest rules: approvals an agent would have caused per active day, most first.
fn noisiest(tally: &Tally) -> Vec<(&str, u64, f64)> {
    let days = tally.by_day.len();
    let mut rules: Vec<(&str, u64, f64)> = tally
        .by_rule
        .iter()
        .filter(|((_, action), _)| *action == "require_approval")
        .map(|((rule, _), g)| (rule.as_str(), g.count, per_day(g.count, days)))
        .collect();
    rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    rules
}

fn span(tally: &Tally) -> String {
    match (tally.first_ms, tally.last_ms) {
        (Some(first), Some(last)) => format!(
            "{} to {}, {} active day{}",
            day_of(first),
            day_of(last),
            tally.by_day.len(),
            if tally.by_day.len() == 1 { "" } else { "s" }
        ),
        _ => "no timestamps".to_owned(),
    }
}

fn write_table(
    out: &mut impl Write,
    tally: &Tally,
    policy: &Policy,
    against: Option<&Policy>,
    elapsed: Duration,
) -> Result<()> {
    writeln!(
        out,
        "SafeShell replay: {} tool calls from {} source{} ({}), decided with {}",
        tally.calls,
        tally.sources.len(),
        if tally.sources.len() == 1 { "" } else { "s" },
        span(tally),
        policy.label
    )?;
    for (i, name) in ["allow", "require approval", "deny", "redirect"]
        .iter()
        .enumerate()
    {
        let n = tally.by_action[i];
        writeln!(
            out,
            "  {name:<17}{n:>9}  {:>5.1} %",
            percent(n, tally.calls)
        )?;
    }
    writeln!(
        out,
        "  ({} other lines and tool calls skipped, {} unreadable, {} repeated calls counted once; {:.2} s)",
        tally.skipped_lines,
        tally.unreadable_lines,
        tally.duplicates,
        elapsed.as_secs_f64()
    )?;
    if !tally.by_rule.is_empty() {
        writeln!(out, "\nDenied, held for approval or redirected, by rule:")?;
        let mut groups: Vec<_> = tally.by_rule.iter().collect();
        groups.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        for ((rule, action), group) in groups {
            writeln!(out, "  {:>7}  {action:<17} {rule}", group.count)?;
            for example in &group.examples {
                writeln!(out, "           e.g. {}", one_line(example, 100))?;
            }
        }
    }
    let noisy = noisiest(tally);
    if !noisy.is_empty() {
        writeln!(
            out,
            "\nNoisiest rules (approvals an agent would have caused):"
        )?;
        for (rule, count, daily) in noisy.iter().take(10) {
            writeln!(
                out,
                "  {daily:>7.1} per active day  ({count:>6} in all)  {rule}"
            )?;
        }
    }
    if let Some(other) = against {
        writeln!(
            out,
            "\nWith {} instead: {} of {} decisions change",
            other.label, tally.changed, tally.calls
        )?;
        let mut changes: Vec<_> = tally.changes.iter().collect();
        changes.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        for ((from, to), group) in changes {
            writeln!(out, "  {:>7}  {from} -> {to}", group.count)?;
            for example in &group.examples {
                writeln!(out, "           e.g. {}", one_line(example, 100))?;
            }
        }
    }
    Ok(())
}

/// A command on one line, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { '⏎' } else { c })
        .collect();
    if flat.chars().count() > max {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

fn to_json(tally: &Tally, policy: &Policy, against: Option<&Policy>, elapsed: Duration) -> Value {
    let groups = |map: &BTreeMap<(String, &'static str), Group>| {
        map.iter()
            .map(|((rule, action), g)| {
                json!({ "rule": rule, "decision": action, "count": g.count, "examples": g.examples })
            })
            .collect::<Vec<_>>()
    };
    json!({
        "rules": policy.label,
        "sources": tally.sources.iter().map(|(path, format, calls)| json!({
            "path": path, "format": format, "calls": calls,
        })).collect::<Vec<_>>(),
        "calls": tally.calls,
        "decisions": ACTIONS.iter().zip(tally.by_action).map(|(a, n)| (a.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "skipped": tally.skipped_lines,
        "unreadable": tally.unreadable_lines,
        "duplicates": tally.duplicates,
        "first": tally.first_ms.map(day_of),
        "last": tally.last_ms.map(day_of),
        "active_days": tally.by_day.len(),
        "by_rule": groups(&tally.by_rule),
        "noisiest": noisiest(tally).iter().map(|(rule, count, daily)| json!({
            "rule": rule, "approvals": count, "per_active_day": (daily * 100.0).round() / 100.0,
        })).collect::<Vec<_>>(),
        "by_day": tally.by_day.iter().map(|(day, counts)| json!({
            "day": day_of(day * DAY_MS), "allow": counts[0], "require_approval": counts[1], "deny": counts[2], "redirect": counts[3],
        })).collect::<Vec<_>>(),
        "against": against.map(|other| json!({
            "rules": other.label,
            "changed": tally.changed,
            "changes": tally.changes.iter().map(|((from, to), g)| json!({
                "from": from, "to": to, "count": g.count, "examples": g.examples,
            })).collect::<Vec<_>>(),
        })),
        "seconds": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
    })
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const COLOURS: [&str; 4] = ["#5b9e5f", "#e0a030", "#d9534f", "#4a7fc1"];

/// Decisions per day as stacked bars (inline SVG: the report is one self-contained file).
fn chart(tally: &Tally) -> String {
    let days: Vec<(String, &[u64; 4])> = tally
        .by_day
        .iter()
        .map(|(day, counts)| (day_of(day * DAY_MS), counts))
        .collect();
    if days.is_empty() {
        return "<p>No timestamps in these sources: no chart.</p>".to_owned();
    }
    let (width, height, top) = (760.0_f64, 220.0_f64, 10.0_f64);
    let max = days
        .iter()
        .map(|(_, c)| c.iter().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let step = width / days.len() as f64;
    let bar = (step * 0.8).max(1.0);
    let mut svg = format!(
        "<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"decisions per day\">",
        w = width,
        h = height + 30.0
    );
    for (i, (day, counts)) in days.iter().enumerate() {
        let x = i as f64 * step;
        let mut y = top + height;
        // Allowed at the bottom, then held, denied and redirected on top.
        for (k, count) in counts.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            let h = (*count as f64 / max) * height;
            y -= h;
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {count}</title></rect>",
                COLOURS[k],
                escape(day),
                ACTIONS[k]
            ));
        }
    }
    let first = days.first().map(|d| d.0.as_str()).unwrap_or("");
    let last = days.last().map(|d| d.0.as_str()).unwrap_or("");
    svg.push_str(&format!(
        "<text x=\"0\" y=\"{y}\" font-size=\"12\">{}</text><text x=\"{width}\" y=\"{y}\" font-size=\"12\" text-anchor=\"end\">{}</text></svg>",
        escape(first),
        escape(last),
        y = height + top + 18.0
    ));
    svg
}

fn to_html(tally: &Tally, policy: &Policy, against: Option<&Policy>) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>SafeShell replay</title><style>");
    h.push_str("body{font:14px/1.45 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}");
    h.push_str("table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}");
    h.push_str("td.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:12px;word-break:break-all}.key span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}");
    h.push_str("</style></head><body><h1>SafeShell replay</h1>");
    h.push_str(&format!(
        "<p>{} tool calls from {} source(s) ({}), decided with {}.</p>",
        tally.calls,
        tally.sources.len(),
        escape(&span(tally)),
        escape(&policy.label)
    ));
    h.push_str("<h2>Decisions per day</h2>");
    h.push_str(&chart(tally));
    h.push_str("<p class=\"key\">");
    for (k, name) in ["allow", "require approval", "deny", "redirect"]
        .iter()
        .enumerate()
    {
        h.push_str(&format!(
            "<span style=\"background:{}\"></span>{name}",
            COLOURS[k]
        ));
    }
    h.push_str("</p><h2>Totals</h2><table><tr><th>decision</th><th>calls</th><th>share</th></tr>");
    for (k, name) in ["allow", "require approval", "deny", "redirect"]
        .iter()
        .enumerate()
    {
        let n = tally.by_action[k];
        h.push_str(&format!(
            "<tr><td>{name}</td><td class=\"n\">{n}</td><td class=\"n\">{:.1} %</td></tr>",
            percent(n, tally.calls)
        ));
    }
    h.push_str("</table><h2>Denied, held or redirected, by rule</h2><table><tr><th>rule</th><th>decision</th><th>calls</th><th>examples</th></tr>");
    let mut groups: Vec<_> = tally.by_rule.iter().collect();
    groups.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    for ((rule, action), g) in groups {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{action}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(rule),
            g.count,
            examples_html(&g.examples)
        ));
    }
    h.push_str("</table><h2>Noisiest rules</h2><table><tr><th>rule</th><th>approvals</th><th>per active day</th></tr>");
    for (rule, count, daily) in noisiest(tally) {
        h.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{count}</td><td class=\"n\">{daily:.1}</td></tr>",
            escape(rule)
        ));
    }
    h.push_str("</table>");
    if let Some(other) = against {
        h.push_str(&format!(
            "<h2>With {} instead</h2><p>{} of {} decisions change.</p><table><tr><th>from</th><th>to</th><th>calls</th><th>examples</th></tr>",
            escape(&other.label),
            tally.changed,
            tally.calls
        ));
        for ((from, to), g) in &tally.changes {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                escape(from),
                escape(to),
                g.count,
                examples_html(&g.examples)
            ));
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Sources</h2><table><tr><th>file</th><th>format</th><th>calls</th></tr>");
    for (path, format, calls) in &tally.sources {
        h.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{format}</td><td class=\"n\">{calls}</td></tr>",
            escape(path)
        ));
    }
    h.push_str("</table></body></html>\n");
    h
}

fn examples_html(examples: &[String]) -> String {
    examples
        .iter()
        .map(|e| format!("<code>{}</code>", escape(&one_line(e, 160))))
        .collect::<Vec<_>>()
        .join("<br>")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (time, directory, the command or file access) of each call found.
    type CallsFound = Vec<(Option<i64>, Option<String>, String)>;

    fn calls_in(format: Format, text: &str) -> (CallsFound, Tally) {
        let mut tally = Tally::default();
        let mut found = Vec::new();
        let mut state = LineState::default();
        let mut on_call = |call: Call, _id: Option<String>, _t: &mut Tally| {
            let what = match call.subject {
                Subject::Command(c) => c,
                Subject::File(f) => f.describe(),
            };
            found.push((call.time_ms, call.cwd, what));
        };
        for line in text.lines() {
            read_line(format, line, &mut state, &mut tally, &mut on_call);
        }
        (found, tally)
    }

    #[test]
    fn claude_transcript_lines() {
        let text = concat!(
            r#"{"type":"summary","summary":"x","leafUuid":"u"}"#,
            "\n",
            r#"{"parentUuid":null,"isSidechain":false,"cwd":"/p","sessionId":"s","type":"assistant","timestamp":"2026-11-30T10:00:00.000Z","message":{"role":"assistant","content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"rm -rf ~","description":"d"}},{"type":"tool_use","id":"toolu_2","name":"Read","input":{"file_path":"/p/.env"}}]}}"#,
            "\n",
            r#"{"parentUuid":"a","cwd":"/p","sessionId":"s","type":"user","timestamp":"2026-11-30T10:00:01.000Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"tool_use"}]}}"#,
            "\n",
        );
        let (found, tally) = calls_in(Format::Claude, text);
        let t = parse_time("2026-11-30T10:00:00Z");
        assert_eq!(
            found,
            [
                (t, Some("/p".to_owned()), "rm -rf ~".to_owned()),
                (t, Some("/p".to_owned()), "Read /p/.env".to_owned())
            ]
        );
        assert_eq!(tally.skipped_lines, 2);
    }

    #[test]
    fn codex_session_lines() {
        let text = concat!(
            r#"{"timestamp":"2026-11-30T10:00:00Z","type":"session_meta","payload":{"id":"x","cwd":"/repo"}}"#,
            "\n",
            r#"{"timestamp":"2026-11-30T10:00:01Z","type":"response_item","payload":{"type":"function_call","name":"shell","arguments":"{\"command\":[\"bash\",\"-lc\",\"cat .env\"],\"workdir\":\"/repo/sub\"}","call_id":"c1"}}"#,
            "\n",
            r#"{"timestamp":"2026-11-30T10:00:02Z","type":"response_item","payload":{"type":"custom_tool_call","name":"apply_patch","call_id":"c2","input":"*** Begin Patch\n*** Add File: a.txt\n+x\n*** End Patch"}}"#,
            "\n",
            r#"{"timestamp":"2026-11-30T10:00:03Z","type":"response_item","payload":{"type":"message","role":"assistant","content":[]}}"#,
            "\n",
        );
        let (found, tally) = calls_in(Format::Codex, text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].1.as_deref(), Some("/repo/sub"));
        assert_eq!(found[0].2, "bash -lc 'cat .env'");
        assert_eq!(found[1].1.as_deref(), Some("/repo"));
        assert_eq!(found[1].2, "apply_patch a.txt");
        assert_eq!(tally.skipped_lines, 1);
    }

    #[test]
    fn audit_records_and_plain_lines() {
        let text = concat!(
            r#"{"time_ms":1764496800000,"context":"ai","cwd":"/p","command":["git","push"],"decision":"allow","token":false}"#,
            "\n",
            r#"{"time_ms":1764496800001,"context":"ai","cwd":"/p","command":"git push","decision":"allow","token":true}"#,
            "\n",
            r#"{"time_ms":1764496800002,"event":"daemon_started"}"#,
            "\n",
            r#"{"time_ms":1764496800003,"context":"ai","cwd":"/p","command":"Read /p/.env","file_access":{"tool":"Read","access":"read","paths":["/p/.env"],"pattern":null},"decision":"deny"}"#,
            "\n",
        );
        let (found, tally) = calls_in(Format::Audit, text);
        let texts: Vec<&str> = found.iter().map(|f| f.2.as_str()).collect();
        assert_eq!(texts, ["git push", "Read /p/.env"]);
        assert_eq!(tally.skipped_lines, 2);
        let (found, _) = calls_in(Format::Lines, "ls\n\n  \nrm -rf /\n");
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn gemini_chats_old_and_new_and_formats_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("tmp/webapp");
        std::fs::create_dir_all(project.join("chats")).unwrap();
        std::fs::write(project.join(".project_root"), "/home/a/webapp\n").unwrap();
        let jsonl = project.join("chats/session-1.jsonl");
        let call = r#"{"id":"c1","name":"read_file","args":{"file_path":".env"},"status":"executing","timestamp":"2026-11-30T10:00:00Z"}"#;
        std::fs::write(
            &jsonl,
            [
                r#"{"sessionId":"s","projectHash":"h","startTime":"2026-11-30T09:00:00Z","kind":"main"}"#.to_owned(),
                format!(r#"{{"id":"m1","type":"gemini","content":"","toolCalls":[{call}]}}"#),
                r#"{"$set":{"lastUpdated":"2026-11-30T10:01:00Z"}}"#.to_owned(),
            ]
            .join("\n"),
        )
        .unwrap();
        let legacy = project.join("chats/session-0.json");
        std::fs::write(
            &legacy,
            r#"{
  "sessionId": "s0",
  "projectHash": "h",
  "messages": [
    {"id": "m", "type": "gemini", "timestamp": "2026-11-29T10:00:00Z",
     "toolCalls": [{"id": "c0", "name": "run_shell_command", "args": {"command": "ls", "dir_path": "src"}}]}
  ]
}"#,
        )
        .unwrap();
        assert_eq!(detect(&jsonl).unwrap(), Some(Format::Gemini));
        assert_eq!(detect(&legacy).unwrap(), Some(Format::Gemini));
        let mut found = Vec::new();
        let mut tally = Tally::default();
        for path in [&legacy, &jsonl] {
            let reader: Box<dyn BufRead> =
                Box::new(BufReader::new(std::fs::File::open(path).unwrap()));
            read_gemini(
                path,
                reader,
                &mut tally,
                &mut |call: Call, _, _: &mut Tally| {
                    let what = match call.subject {
                        Subject::Command(c) => c,
                        Subject::File(f) => f.describe(),
                    };
                    found.push((call.cwd, what));
                },
            )
            .unwrap();
        }
        let root = Some("/home/a/webapp".to_owned());
        assert_eq!(
            found,
            [
                (Some("/home/a/webapp/src".to_owned()), "ls".to_owned()),
                (root, "read_file .env".to_owned())
            ]
        );
        // Other formats by their first record; anything else is a list of commands.
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            detect(&path).unwrap()
        };
        assert_eq!(
            file(
                "a.jsonl",
                r#"{"type":"summary","summary":"x","leafUuid":"u"}"#
            ),
            Some(Format::Claude)
        );
        assert_eq!(
            file(
                "b.jsonl",
                r#"{"timestamp":"t","type":"session_meta","payload":{}}"#
            ),
            Some(Format::Codex)
        );
        assert_eq!(
            file(
                "c.jsonl",
                r#"{"id":"x","timestamp":"t","instructions":null,"git":{}}"#
            ),
            Some(Format::Codex)
        );
        assert_eq!(
            file("audit.jsonl.2", r#"{"time_ms":1}"#),
            Some(Format::Audit)
        );
        assert_eq!(file("cmds.txt", "\n\ngit status\n"), Some(Format::Lines));
        assert_eq!(file("empty.txt", ""), None);
    }

    #[test]
    fn since_takes_dates_and_timestamps() {
        assert_eq!(
            parse_since("2026-11-30").unwrap(),
            parse_time("2026-11-30T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_since("2026-11-30T10:00:00Z").unwrap(),
            parse_time("2026-11-30T10:00:00Z").unwrap()
        );
        assert!(parse_since("last tuesday").is_err());
        assert_eq!(
            day_of(parse_time("2026-11-30T23:59:59Z").unwrap()),
            "2026-11-30"
        );
    }

    #[test]
    fn html_escapes_what_it_shows() {
        assert_eq!(escape("<script>&'\""), "&lt;script&gt;&amp;&#39;&quot;");
        assert_eq!(one_line("a\nb", 10), "a⏎b");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
