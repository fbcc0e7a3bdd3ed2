//! Comparing what bash ran with the engine's segments.
//!
//! A record (one program bash ran, with its argv) is *explained* by a segment with the same
//! program whose arguments match: literal arguments exactly (the engine's `~` read as
//! [`ENGINE_HOME`], as the sandbox's home is in records), an argument the engine flags as
//! dynamic any run of zero or more arguments. A command *matches* when every record is
//! explained; a command with an unexplained record is *unverifiable* when the engine marked a
//! segment of it unverifiable, and a *mismatch* otherwise. Engine segments no record matches
//! are counted but are not failures: bash may not reach them (the other branch of `||`, a
//! function never called), and some are not observable (see [`observable`]).

use std::fmt::Write as _;

use safeshell_rules::segment::Segment;

use crate::sandbox::{DISABLED_BUILTINS, ENGINE_HOME, KEPT_BUILTINS, Record, Sandbox};

/// The verdict on one command.
#[derive(Debug, Clone)]
pub enum Verdict {
    Matched,
    Unverifiable,
    Mismatch { class: String },
}

/// One command's comparison.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub command: String,
    pub verdict: Verdict,
    pub timed_out: bool,
    /// Observable engine segments that no record matched.
    pub engine_only: usize,
    pub segments: Vec<Segment>,
    pub records: Vec<Record>,
    pub unexplained: Vec<Record>,
    pub stderr: String,
    /// Bash refused the command as a syntax error (in the first run).
    pub syntax_error: bool,
}

/// Wrappers and shells whose inner command bash itself runs (builtins, or the shells whose
/// stubs hand over to the real bash): a segment found inside them is observable.
const TRANSPARENT: &[&str] = &[
    "bash", "sh", "eval", "exec", "command", "builtin", "time", "alias",
];

/// Whether bash running the command would record this segment if it ran: not a builtin or
/// keyword left on, not a program named by a path (bash executes the path itself, which the
/// sandbox refuses), not inside a wrapper whose stub records only the wrapper.
pub fn observable(seg: &Segment) -> bool {
    !seg.program.is_empty()
        && (!KEPT_BUILTINS.contains(&seg.program.as_str())
            || DISABLED_BUILTINS.contains(&seg.program.as_str()))
        && !seg.invoked_as.contains('/')
        && seg.via.iter().all(|v| TRANSPARENT.contains(&v.as_str()))
}

/// Whether an engine word can be the word bash passed: equal, or equal once a leading `~`,
/// `$HOME` or `${HOME}` (which the engine keeps as text, and its conditions read as the home
/// directory) is read as [`ENGINE_HOME`]. Both are tried: the engine does not say whether the
/// `~` was quoted.
fn word_matches(engine: &str, bash: &str) -> bool {
    if engine == bash {
        return true;
    }
    ["~", "$HOME", "${HOME}"].iter().any(|home| {
        engine.strip_prefix(home).is_some_and(|rest| {
            (rest.is_empty() || rest.starts_with('/'))
                && bash.strip_prefix(ENGINE_HOME) == Some(rest)
        })
    })
}

/// Whether the segment's arguments can be the record's: literal words equal, dynamic words any
/// run of words.
fn args_match(seg: &Segment, args: &[String]) -> bool {
    let pattern: Vec<(bool, &str)> = seg
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| (seg.dynamic.get(i).copied().unwrap_or(false), a.as_str()))
        .collect();
    // ok[j]: the pattern so far can produce args[..j].
    let mut ok = vec![false; args.len() + 1];
    ok[0] = true;
    for (dynamic, word) in &pattern {
        let mut next = vec![false; args.len() + 1];
        for j in 0..=args.len() {
            if !ok[j] {
                continue;
            }
            if *dynamic {
                for slot in next.iter_mut().skip(j) {
                    *slot = true;
                }
                break;
            }
            if j < args.len() && word_matches(word, &args[j]) {
                next[j + 1] = true;
            }
        }
        ok = next;
    }
    ok[args.len()]
}

/// Programs whose code the engine looks inside (`python3 -c CODE`, `sed '1r FILE'`, `awk`…):
/// the paths the code names are appended to the segment's arguments, on purpose.
const CODE_LOOKED_INTO: &[&str] = &[
    "python", "python2", "python3", "perl", "ruby", "node", "nodejs", "bun", "deno", "php", "lua",
    "awk", "gawk", "mawk", "nawk", "sed", "gsed", "Rscript", "julia",
];

fn explains(seg: &Segment, r: &Record) -> bool {
    if seg.program != r.program {
        return false;
    }
    if args_match(seg, &r.args) {
        return true;
    }
    // The record's arguments followed by paths the engine found in the code.
    let appends = seg.inline_code_arg.is_some()
        || CODE_LOOKED_INTO.contains(&seg.program.as_str())
        || seg.program.starts_with("python3.");
    appends
        && (r.args.len()..seg.args.len()).any(|n| {
            let prefix = Segment {
                args: seg.args[..n].to_vec(),
                dynamic: seg.dynamic.iter().copied().take(n).collect(),
                ..Segment::default()
            };
            args_match(&prefix, &r.args)
        })
}

/// Runs the command (stubs exiting 0, then 1, so both sides of `&&`/`||` and `if` run) and
/// compares.
pub fn run_and_compare(
    sandbox: &Sandbox,
    command: &str,
    segments: &[Segment],
) -> Result<Outcome, String> {
    let mut records = Vec::new();
    let mut timed_out = false;
    let mut stderr = String::new();
    // Stubs exit 0; a second run with stubs exiting 1 only where the command could take
    // another path then.
    let branches = ["||", "if", "while", "until", "!", "else", "case"]
        .iter()
        .any(|t| command.contains(t));
    let exits: &[u8] = if branches { &[0, 1] } else { &[0] };
    for &exit in exits {
        let mut run = sandbox.run(command, exit)?;
        // Another command's fork bomb may hold every process `nobody` may have for a moment.
        for _ in 0..5 {
            if !run.stderr.contains("Resource temporarily unavailable") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
            run = sandbox.run(command, exit)?;
        }
        timed_out |= run.timed_out;
        records.extend(run.records);
        if exit == 0 {
            stderr = run.stderr;
        }
    }
    records.sort();
    records.dedup();
    let unexplained: Vec<Record> = records
        .iter()
        .filter(|r| !segments.iter().any(|s| explains(s, r)))
        .cloned()
        .collect();
    let engine_only = segments
        .iter()
        .filter(|s| observable(s) && s.unverifiable.is_none())
        .filter(|s| !records.iter().any(|r| explains(s, r)))
        .count();
    let verdict = if unexplained.is_empty() {
        Verdict::Matched
    } else if segments.iter().any(|s| s.unverifiable.is_some()) {
        Verdict::Unverifiable
    } else {
        Verdict::Mismatch {
            class: classify(command, segments, &unexplained),
        }
    };
    Ok(Outcome {
        command: command.to_owned(),
        verdict,
        timed_out,
        engine_only,
        segments: segments.to_vec(),
        records,
        unexplained,
        syntax_error: stderr.contains("syntax error"),
        stderr,
    })
}

/// A mismatch's class, from the first unexplained record, the segments naming its program and
/// the command's constructs: a heuristic, for grouping the report and the known list.
fn classify(command: &str, segments: &[Segment], unexplained: &[Record]) -> String {
    let r = &unexplained[0];
    let same: Vec<&Segment> = segments.iter().filter(|s| s.program == r.program).collect();
    let has_brace = |w: &str| {
        w.find('{')
            .is_some_and(|i| w[i..].contains(',') || w[i..].contains(".."))
            && w.contains('}')
    };
    let words = || same.iter().flat_map(|s| s.args.iter());
    if command.contains("expand_aliases") {
        return "aliases (shopt -s expand_aliases) are not expanded with the words after them"
            .into();
    }
    if r.not_found {
        return "bash looked up a program name no segment has".into();
    }
    if same.is_empty() {
        if segments
            .iter()
            .any(|s| s.program.contains(' ') || s.program.contains('\u{1f}'))
        {
            return "an unquoted variable holding a command is not split into words (x='rm -rf \
                    y'; $x runs rm)"
                .into();
        }
        if segments
            .iter()
            .any(|s| matches!(s.program.as_str(), "." | "source"))
        {
            return "a script sourced from standard input (. /dev/fd/0 <<< …) is not parsed".into();
        }
        let programs = segments.iter().map(|s| s.invoked_as.as_str());
        if programs.clone().any(has_brace) || command.contains("{,}") {
            return "brace expansion in the program word is not expanded ({rm,-rf,~}, rm{,})"
                .into();
        }
        if programs.clone().any(|p| p.contains(['*', '?', '['])) {
            return "glob in the program word is not expanded".into();
        }
        if command.contains("[$(") || command.contains("[`") {
            return "a command substitution in an array subscript evaluated arithmetically \
                    ([[ -eq ]], $(( )), let) is not seen"
                .into();
        }
        if ["trap ", "-C ", "PROMPT_COMMAND", "complete "]
            .iter()
            .any(|t| command.contains(t))
        {
            return "code run later from a builtin's string argument (trap, compgen -C, mapfile \
                    -C) is not seen"
                .into();
        }
        return "bash ran a program no segment names".into();
    }
    if words().any(|w| w.contains("{…}")) {
        return "a ${…} expansion becomes the literal word `{…}`, not marked dynamic".into();
    }
    if same.iter().any(|s| {
        s.args.len() > r.args.len() && s.args.iter().zip(&r.args).all(|(a, b)| word_matches(a, b))
    }) {
        return "the engine appends derived paths to the argv bash passes (tar -C DIR ., SQL \
                readfile(), …)"
            .into();
    }
    if command.contains("mktemp") {
        return "the engine models a substitution's output (mktemp) as a fixed value, not dynamic"
            .into();
    }
    if words().any(|w| has_brace(w)) {
        return "brace expansion in arguments is not expanded (engine keeps `a{b,c}` as one word)"
            .into();
    }
    if words().any(|w| w.contains(['*', '?', '['])) {
        return "glob in arguments matched files; the engine keeps the pattern as a literal, \
                not dynamic"
            .into();
    }
    if same.iter().any(|s| s.args.iter().any(|a| a.contains(' '))) && command.contains('=') {
        return "an unquoted variable's value is not split into words (x='a b'; echo $x)".into();
    }
    if command.contains("IFS=") {
        return "word splitting with a custom IFS is not applied to a variable's value".into();
    }
    if command.contains("HOME=") {
        return "`~` after HOME is reassigned on the line (HOME=/etc bash -c 'rm -rf ~/ssh')"
            .into();
    }
    if words().any(|w| w.contains('~')) {
        return "tilde expansion the engine leaves literal (`~` after `:` or `=`, `~user`)".into();
    }
    if same
        .iter()
        .any(|s| s.args.len() < r.args.len() && s.args.iter().zip(&r.args).all(|(a, b)| *a == *b))
    {
        return "bash runs the command string with arguments appended (compgen -C, …)".into();
    }
    "a segment names the program with different arguments".into()
}

/// A command for a message: as is when it is one line, else as a Rust string literal.
pub fn show_command(command: &str) -> String {
    if command.contains(['\n', '\r', '\t']) {
        format!("{command:?}")
    } else {
        command.to_owned()
    }
}

fn seg_text(s: &Segment) -> String {
    let mut t = s.text();
    let dynamic: Vec<String> = s
        .args
        .iter()
        .zip(&s.dynamic)
        .filter(|(_, d)| **d)
        .map(|(a, _)| a.clone())
        .collect();
    if !dynamic.is_empty() {
        let _ = write!(t, "   [dynamic: {}]", dynamic.join(", "));
    }
    if !s.via.is_empty() {
        let _ = write!(t, "   [via {}]", s.via.join(" "));
    }
    if !observable(s) {
        t.push_str("   [not observable]");
    }
    t
}

impl Outcome {
    /// The engine's segments beside bash's records (unexplained ones marked `!!`).
    pub fn details(&self) -> String {
        let mut out = String::new();
        let left: Vec<String> = self.segments.iter().map(seg_text).collect();
        let right: Vec<String> = self
            .records
            .iter()
            .map(|r| {
                let mark = if self.unexplained.contains(r) {
                    "!! "
                } else {
                    "   "
                };
                format!("{mark}{}", r.text())
            })
            .collect();
        let width = left
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(10, 70);
        let _ = writeln!(out, "    {:width$} | bash ran", "engine segments");
        for i in 0..left.len().max(right.len()) {
            let l = left.get(i).map_or("", String::as_str);
            let r = right.get(i).map_or("", String::as_str);
            let _ = writeln!(out, "    {l:width$} | {r}");
        }
        if self.timed_out {
            let _ = writeln!(out, "    (a run timed out)");
        }
        out
    }
}
