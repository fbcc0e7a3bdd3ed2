//! Compiled rule conditions and how they are checked against a segment.

use crate::facts::Facts;
use crate::glob::GlobList;
use crate::segment::Segment;

/// A segment with the derived views conditions need, computed once per evaluation.
pub struct SegmentView<'s> {
    /// The segment.
    pub seg: &'s Segment,
    /// `Segment::text()`, computed once.
    pub text: String,
    /// The working directory the command runs in.
    pub cwd: &'s str,
    /// The directory relative paths resolve against: `cwd` (or the subdirectory earlier `cd`s
    /// went down into), or empty (unknown) when an earlier segment changed directory otherwise
    /// ([`Segment::after_cd`]).
    path_cwd: std::borrow::Cow<'s, str>,
    /// The user's home directory.
    pub home: Option<&'s str>,
    /// Path forms of each argument, then of each write target, computed on first use.
    forms: std::cell::OnceCell<Vec<PathForms>>,
    /// Whether the segment could name a path of some named set (`@safeshell`…), computed once
    /// for every rule that asks.
    could_name_a_set: std::cell::OnceCell<bool>,
    /// The subcommand words, computed once for every rule that asks.
    subcommand: std::cell::OnceCell<Vec<&'s str>>,
}

/// An argument resolved as a path: absolute, and with the home directory written as `~`.
#[derive(Debug, Default)]
struct PathForms {
    resolved: Option<String>,
    tilde: Option<String>,
}

impl PathForms {
    fn of(arg: &str, cwd: &str, home: Option<&str>) -> PathForms {
        let resolved = resolve_arg(arg, cwd, home);
        let tilde = resolved.as_deref().and_then(|r| {
            let rest = r.strip_prefix(home?)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| format!("~{rest}"))
        });
        PathForms { resolved, tilde }
    }
}

impl<'s> SegmentView<'s> {
    /// Prepares a segment for matching.
    pub fn new(seg: &'s Segment, cwd: &'s str, home: Option<&'s str>) -> Self {
        SegmentView {
            seg,
            text: seg.text(),
            cwd,
            path_cwd: match (&seg.cwd_sub, seg.after_cd) {
                (_, true) => match &seg.cwd_path {
                    Some(p) => resolve_arg(p, cwd, home).unwrap_or_default().into(),
                    None => "".into(),
                },
                (Some(sub), false) => normalize(&format!("{cwd}/{sub}")).into(),
                (None, false) => cwd.into(),
            },
            home,
            forms: std::cell::OnceCell::new(),
            could_name_a_set: std::cell::OnceCell::new(),
            subcommand: std::cell::OnceCell::new(),
        }
    }

    fn forms(&self) -> &[PathForms] {
        self.forms.get_or_init(|| {
            self.seg
                .args
                .iter()
                .chain(&self.seg.writes)
                .chain(&self.seg.reads_from)
                .map(|a| PathForms::of(a, &self.path_cwd, self.home))
                .collect()
        })
    }

    /// The resolved path of argument `i`.
    fn resolved(&self, i: usize) -> Option<&str> {
        self.forms().get(i)?.resolved.as_deref()
    }

    /// Matches a glob list against argument `i` as typed, resolved, and in `~` form.
    fn glob_arg(&self, list: &GlobList, i: usize, raw: &str) -> bool {
        // An unquoted wildcard argument (`cat .en?`) is expanded by the shell at run time: it
        // matches when it could expand to one of the list's plain file names.
        if list.could_expand_to_literal(raw) {
            return true;
        }
        if !list.needs_paths() {
            return list.is_match_any(&[raw]);
        }
        // `cat ~/.aws/*`: a wildcard in a protected directory could expand to its files.
        if raw.contains(['*', '?', '['])
            && let Some(PathForms {
                resolved: Some(r),
                tilde,
            }) = self.forms().get(i)
            && list.could_expand_under(&[raw, r, tilde.as_deref().unwrap_or("")])
        {
            return true;
        }
        match self.forms().get(i) {
            Some(PathForms {
                resolved: Some(r),
                tilde: Some(t),
            }) => list.is_match_any(&[raw, r, t]),
            Some(PathForms {
                resolved: Some(r),
                tilde: None,
            }) => list.is_match_any(&[raw, r]),
            _ => list.is_match_any(&[raw]),
        }
    }

    /// Positional arguments: those that are not flags (everything after `--` is positional).
    pub fn positionals(&self) -> impl Iterator<Item = (usize, &'s str)> + 's {
        let mut after_dashdash = false;
        self.seg.args.iter().enumerate().filter_map(move |(i, a)| {
            if after_dashdash {
                return Some((i, a.as_str()));
            }
            if a == "--" {
                after_dashdash = true;
                return None;
            }
            if a.starts_with('-') && a.len() > 1 {
                return None;
            }
            Some((i, a.as_str()))
        })
    }

    /// Flag arguments (before any `--`).
    fn flag_args(&self) -> impl Iterator<Item = &'s str> + 's {
        self.seg
            .args
            .iter()
            .take_while(|a| a.as_str() != "--")
            .filter(|a| a.starts_with('-') && a.len() > 1)
            .map(String::as_str)
    }

    /// Positional words after the program's global options (`git -C x push` gives `push`…),
    /// computed on first use.
    fn subcommand_words(&self) -> &[&'s str] {
        self.subcommand
            .get_or_init(|| self.compute_subcommand_words())
    }

    fn compute_subcommand_words(&self) -> Vec<&'s str> {
        let value_options = global_value_options(&self.seg.program);
        let mut out = Vec::new();
        let mut i = 0;
        let args = &self.seg.args;
        while i < args.len() && out.len() < 4 {
            let a = args[i].as_str();
            if a == "--" {
                break;
            }
            if a.starts_with('-') && a.len() > 1 {
                i += if value_options.contains(&a) { 2 } else { 1 };
                continue;
            }
            out.push(a);
            i += 1;
        }
        out
    }
}

/// Options that take a value before a program's subcommand, so they are not taken for it.
fn global_value_options(program: &str) -> &'static [&'static str] {
    match program {
        "git" => &[
            "-C",
            "-c",
            "--git-dir",
            "--work-tree",
            "--namespace",
            "--config-env",
            "--super-prefix",
        ],
        "docker" | "podman" => &[
            "-H",
            "--host",
            "-c",
            "--context",
            "--config",
            "-l",
            "--log-level",
        ],
        "kubectl" => &[
            "-n",
            "--namespace",
            "--context",
            "--kubeconfig",
            "--cluster",
            "--user",
            "-s",
            "--server",
        ],
        "gh" => &["-R", "--repo", "--hostname"],
        "helm" => &[
            "-n",
            "--namespace",
            "--kube-context",
            "--kubeconfig",
            "--registry-config",
            "--repository-config",
        ],
        "aws" => &[
            "--region",
            "--profile",
            "--output",
            "--endpoint-url",
            "--query",
            "--cli-read-timeout",
            "--cli-connect-timeout",
            "--color",
            "--ca-bundle",
        ],
        "gcloud" => &[
            "--project",
            "--account",
            "--configuration",
            "--format",
            "--verbosity",
            "--impersonate-service-account",
            "--billing-project",
        ],
        "pulumi" => &["-C", "--cwd", "-s", "--stack"],
        "systemctl" => &[
            "-H",
            "--host",
            "-M",
            "--machine",
            "-t",
            "--type",
            "--state",
            "-p",
            "--property",
        ],
        "az" => &[
            "--subscription",
            "-g",
            "--resource-group",
            "-o",
            "--output",
            "--query",
            "-n",
            "--name",
        ],
        "npm" | "pnpm" | "yarn" => &["--prefix", "-C", "--cwd", "--dir", "-w", "--workspace"],
        "pip" | "pip3" => &[
            "--python",
            "--log",
            "--proxy",
            "--cache-dir",
            "-r",
            "--requirement",
            "-c",
            "--constraint",
            "-t",
            "--target",
        ],
        _ => &[],
    }
}

/// A regex compiled on first use: rule files may hold many regexes that never meet a candidate
/// command, and compiling them all would dominate start-up. The pattern is parsed (validated)
/// when the rule loads.
#[derive(Debug)]
pub struct LazyRegex {
    pattern: String,
    compiled: std::sync::OnceLock<Option<regex::Regex>>,
}

impl LazyRegex {
    /// A pattern known to be valid (the built-in rules', checked by the tests), not parsed now.
    pub(crate) fn unchecked(pattern: &str) -> LazyRegex {
        LazyRegex {
            pattern: pattern.to_owned(),
            compiled: std::sync::OnceLock::new(),
        }
    }

    /// Validates a pattern; the error says what is wrong.
    pub fn new(pattern: &str) -> Result<LazyRegex, String> {
        regex_syntax::Parser::new().parse(pattern).map_err(|e| {
            e.to_string()
                .lines()
                .last()
                .unwrap_or("invalid regex")
                .trim()
                .to_owned()
        })?;
        Ok(LazyRegex {
            pattern: pattern.to_owned(),
            compiled: std::sync::OnceLock::new(),
        })
    }

    /// Whether `text` matches. A pattern that parsed but cannot be compiled (over the size
    /// limit) counts as matching: a rule must fail closed, never silently stop applying.
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled
            .get_or_init(|| regex::Regex::new(&self.pattern).ok())
            .as_ref()
            .is_none_or(|re| re.is_match(text))
    }
}

/// Programs whose last positional argument is a destination they write, not a file they read.
const COPY_LIKE: &[&str] = &["cp", "mv", "install", "ln", "rsync", "scp", "rclone"];

/// A flag requirement: any of the alternatives present.
#[derive(Debug, Clone)]
pub struct FlagSpec {
    /// Single-letter short flags, matched inside bundles (`-rf` has `r`).
    pub short: Vec<char>,
    /// Long or single-dash long flags, matched exactly (or with `=value` for `--` flags).
    pub long: Vec<String>,
}

impl FlagSpec {
    /// Parses `"-r|-R|--recursive"`.
    pub fn parse(spec: &str) -> Result<FlagSpec, String> {
        let mut short = Vec::new();
        let mut long = Vec::new();
        for alt in spec.split('|').map(str::trim) {
            if let Some(rest) = alt.strip_prefix("--") {
                if rest.is_empty() {
                    return Err(format!("flag `{alt}` is not a flag"));
                }
                long.push(alt.to_owned());
            } else if let Some(rest) = alt.strip_prefix('-') {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => short.push(c),
                    (Some(_), Some(_)) => long.push(alt.to_owned()),
                    (None, _) => return Err("an empty flag `-`".into()),
                }
            } else {
                return Err(format!(
                    "flag `{alt}` must start with `-` or `--` (alternatives are separated by `|`)"
                ));
            }
        }
        Ok(FlagSpec { short, long })
    }

    fn matches(&self, flag: &str) -> bool {
        if let Some(rest) = flag.strip_prefix("--") {
            // GNU getopt_long and git accept any unambiguous prefix of a long option
            // (`--rec` for `--recursive`, `--forc` for `--force`), so a prefix of two or more
            // characters counts as the option.
            let name = rest.split_once('=').map_or(rest, |(name, _)| name);
            return self.long.iter().any(|l| {
                let l = &l[2..];
                name == l || (name.len() >= 2 && l.starts_with(name))
            });
        }
        if self.long.iter().any(|l| l == flag) {
            return true;
        }
        // A bundle of short flags: `-rf`. Stop at a digit run (`-n5`) to avoid reading values.
        flag.strip_prefix('-').is_some_and(|bundle| {
            bundle
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .any(|c| self.short.contains(&c))
        })
    }
}

/// A path pattern: absolute, `~`-relative, or with a trailing `/*` for "every entry of".
#[derive(Debug, Clone)]
pub struct PathPattern {
    raw: String,
}

impl PathPattern {
    /// Checks and stores a path pattern.
    pub fn new(raw: &str) -> Result<PathPattern, String> {
        if raw.is_empty() {
            return Err("an empty path".into());
        }
        if let Some(name) = raw.strip_prefix('@') {
            if crate::facts::default_path_set(name).is_none() {
                let known: Vec<String> = crate::facts::PATH_SETS
                    .iter()
                    .map(|(n, _)| format!("@{n}"))
                    .collect();
                return Err(format!(
                    "unknown path set `{raw}` (known: {})",
                    known.join(", ")
                ));
            }
            return Ok(PathPattern { raw: raw.into() });
        }
        if !(raw.starts_with('/')
            || raw == "~"
            || raw.starts_with("~/")
            || raw == "."
            || raw.starts_with("./"))
        {
            return Err(format!(
                "path `{raw}` must be absolute, or start with `~/` (home) or `./` (working directory)"
            ));
        }
        let raw = if raw == "." || raw.starts_with("./") {
            raw.trim_end_matches('/').to_owned()
        } else if raw.starts_with('~') {
            let trimmed = raw.trim_end_matches('/');
            if trimmed.is_empty() {
                "~".to_owned()
            } else {
                trimmed.to_owned()
            }
        } else {
            normalize(raw)
        };
        Ok(PathPattern { raw })
    }

    /// The named set (`@NAME`) this pattern stands for, if it is one.
    pub fn set_name(&self) -> Option<&str> {
        self.raw.strip_prefix('@')
    }

    fn resolve(&self, home: Option<&str>, cwd: &str) -> Option<std::borrow::Cow<'_, str>> {
        if self.raw.starts_with('@') {
            return None; // a named set: see `resolve_all`
        }
        if let Some(rest) = self.raw.strip_prefix('~') {
            return Some(normalize(&format!("{}{rest}", home?)).into());
        }
        if let Some(rest) = self.raw.strip_prefix('.') {
            if cwd.is_empty() {
                return None; // the working directory is not known
            }
            return Some(normalize(&format!("{cwd}{rest}")).into());
        }
        Some(std::borrow::Cow::Borrowed(&self.raw))
    }
}

/// Lexically normalises an absolute path (`.` and `..` removed, no trailing slash).
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Resolves an argument as a path against the working directory and home, lexically.
/// Returns `None` when the path is only known at run time.
pub fn resolve_arg(arg: &str, cwd: &str, home: Option<&str>) -> Option<String> {
    let expanded: String;
    let arg = if arg == "~" || arg.starts_with("~/") {
        expanded = format!("{}{}", home?, &arg[1..]);
        &expanded
    } else if let Some(rest) = arg
        .strip_prefix("$HOME")
        .filter(|r| r.is_empty() || r.starts_with('/'))
    {
        expanded = format!("{}{rest}", home?);
        &expanded
    } else if let Some(rest) = arg
        .strip_prefix("~+")
        .filter(|r| (r.is_empty() || r.starts_with('/')) && !cwd.is_empty())
    {
        // `~+` is the working directory.
        expanded = format!("{cwd}{rest}");
        &expanded
    } else if let Some((user, rest)) = arg
        .strip_prefix('~')
        .map(|r| r.split_at(r.find('/').unwrap_or(r.len())))
        .filter(|(u, _)| {
            !u.is_empty()
                && u.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
        })
    {
        // `~user`: another user's home (root's is /root; others assumed under /home).
        expanded = if user == "root" {
            format!("/root{rest}")
        } else {
            format!("/home/{user}{rest}")
        };
        &expanded
    } else if arg.starts_with('~') || arg.contains('$') || arg.contains('…') {
        return None;
    } else {
        arg
    };
    if arg.starts_with('/') {
        resolve_path(arg, cwd)
    } else if cwd.is_empty() {
        None // the working directory is not known
    } else {
        resolve_path(&format!("{cwd}/{arg}"), cwd)
    }
}

/// An absolute path normalised lexically, with a process's root or working directory seen
/// through `/proc` replaced by what it is (`/proc/self/root/etc/hosts` is `/etc/hosts`,
/// `/proc/self/cwd/x` is `x` here), wherever and however often it appears:
/// `/proc/self/root/proc/self/root/…`, `/proc/self/../self/root/…`, `/proc/self/task/TID/root/…`.
/// A `..` after such a component applies to what it links to (`/proc/self/root/..` is `/`).
/// `None` when it names the working directory and that is not known.
fn resolve_path(path: &str, cwd: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => {
                parts.push(p);
                match proc_alias(&parts) {
                    Some("root") => parts.clear(),
                    Some(_) if cwd.is_empty() => return None,
                    Some(_) => {
                        parts.clear();
                        parts.extend(cwd.split('/').filter(|c| !c.is_empty()));
                    }
                    None => {}
                }
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// `root` or `cwd` when the components are a process's root or working directory through `/proc`:
/// `/proc/self/root`, `/proc/thread-self/cwd`, `/proc/PID/root`, `/proc/PID/task/TID/root`.
fn proc_alias(parts: &[&str]) -> Option<&'static str> {
    let process = |who: &str| {
        who == "self" || who == "thread-self" || who.bytes().all(|c| c.is_ascii_digit())
    };
    let (name, ok) = match parts {
        ["proc", who, name] => (*name, process(who)),
        ["proc", who, "task", tid, name] => (
            *name,
            process(who) && tid.bytes().all(|c| c.is_ascii_digit()),
        ),
        _ => return None,
    };
    match name {
        "root" if ok => Some("root"),
        "cwd" if ok => Some("cwd"),
        _ => None,
    }
}

fn is_under(path: &str, base: &str) -> bool {
    base == "/" && path.starts_with('/')
        || path == base
        || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
}

/// The protected paths of a `names_path_under` / `writes_path_under` condition, resolved for one
/// segment, and the test whether a word of the segment names one of them.
struct Bases<'v> {
    /// Absolute, normalised paths.
    paths: Vec<String>,
    /// Each path relative to the home directory (`.safeshell/rules.toml`), for code strings.
    home_relative: Vec<String>,
    cwd: String,
    home: Option<&'v str>,
}

impl<'v> Bases<'v> {
    fn new(patterns: &[PathPattern], view: &SegmentView<'v>, facts: &dyn Facts) -> Bases<'v> {
        let (cwd, home) = (view.cwd, view.home);
        let mut paths = Vec::new();
        for pat in patterns {
            match pat.set_name() {
                Some(name) => {
                    let resolve = |p: &str| {
                        PathPattern::new(p)
                            .ok()
                            .and_then(|p| p.resolve(home, cwd).map(|r| r.into_owned()))
                    };
                    match facts.path_set(name) {
                        Some(given) => paths.extend(given.iter().filter_map(|p| resolve(p))),
                        None => paths.extend(
                            crate::facts::default_path_set(name)
                                .unwrap_or_default()
                                .iter()
                                .filter_map(|p| resolve(p)),
                        ),
                    }
                }
                None => paths.extend(pat.resolve(home, cwd).map(|r| r.into_owned())),
            }
        }
        let home_relative = paths
            .iter()
            .filter_map(|p| {
                let rest = p.strip_prefix(home?)?.strip_prefix('/')?;
                (!rest.is_empty()).then(|| rest.to_owned())
            })
            .collect();
        // Arguments are resolved where the segment runs (after an earlier `cd`, when known).
        let cwd = if view.path_cwd.is_empty() {
            cwd.to_owned()
        } else {
            view.path_cwd.clone().into_owned()
        };
        Bases {
            paths,
            home_relative,
            cwd,
            home,
        }
    }

    /// Whether `word` names a protected path: as a path, as the value of an option
    /// (`--out=PATH`, `-oPATH`, `of=PATH`), after `@` or `file:`, as a wildcard that could
    /// expand to one, or written inside a code string (`python -c "open('…/.safeshell/…')"`).
    fn named_by(&self, word: &str) -> bool {
        if is_code_like(word) {
            return self.paths.iter().any(|p| word.contains(p.as_str()))
                || self.home_relative.iter().any(|r| word.contains(r.as_str()));
        }
        word_forms(word).any(|form| self.path_is_protected(form))
    }

    fn path_is_protected(&self, form: &str) -> bool {
        if form.is_empty() {
            return false;
        }
        let Some(resolved) = resolve_arg(form, &self.cwd, self.home) else {
            return false;
        };
        if self.paths.iter().any(|b| is_under(&resolved, b)) {
            return true;
        }
        // A wildcard (`~/.safe*/rules.toml`) names a protected path when its leading components
        // could expand to one.
        if resolved.contains(['*', '?', '[']) {
            return self.paths.iter().any(|b| glob_could_name(&resolved, b));
        }
        false
    }
}

/// Whether the segment is a search tool whose first operand is its pattern: `grep`, `rg`, `ag`…
/// without `-e`/`-f` (which give the pattern as an option value, making every operand a file).
fn pattern_is_first_operand(seg: &Segment) -> bool {
    const SEARCHERS: &[&str] = &[
        "grep", "egrep", "fgrep", "zgrep", "rg", "ag", "ack", "ack-grep", "pt", "sift", "ugrep",
    ];
    SEARCHERS.contains(&seg.program.as_str())
        && !seg.args.iter().any(|a| {
            matches!(a.as_str(), "-e" | "-f" | "--regexp" | "--file")
                || a.starts_with("--regexp=")
                || a.starts_with("--file=")
                || (a.starts_with('-')
                    && !a.starts_with("--")
                    && a.len() > 2
                    && a[1..].chars().all(|c| c.is_ascii_alphabetic())
                    && a.ends_with(['e', 'f']))
        })
}

/// Programs that only read every positional argument but the last, which they write.
const COPIERS: &[&str] = &["cp", "scp", "rsync", "install"];

/// Every named set, for the test shared by all rules ([`SegmentView::could_name_a_set`]).
static ALL_SETS: std::sync::LazyLock<Vec<PathPattern>> = std::sync::LazyLock::new(|| {
    crate::facts::PATH_SETS
        .iter()
        .map(|(name, _)| PathPattern {
            raw: format!("@{name}"),
        })
        .collect()
});

/// The last components of every named set's default paths (see [`could_name`]).
static ALL_SET_DEFAULT_NAMES: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| {
        let mut names = Vec::new();
        for (_, paths) in crate::facts::PATH_SETS {
            for p in *paths {
                let p = p.trim_end_matches('/');
                let last = p.rsplit('/').next().unwrap_or(p);
                if !last.is_empty() && !names.contains(&last) {
                    names.push(last);
                }
            }
        }
        names
    });

/// A cheap test, without allocating, that some word could name one of the patterns' paths: a
/// word that names a path (in any spelling [`Bases::named_by`] accepts) contains the path's last
/// component, unless it is relative to a working directory inside the path, or a wildcard.
/// Most segments name nothing protected and stop here.
fn could_name<'a, 'p>(
    patterns: &'p [PathPattern],
    mut words: impl Iterator<Item = &'a String>,
    cwd: &str,
    facts: &'p dyn Facts,
) -> bool {
    // The protected names, gathered once (on the stack) rather than once per word; the named
    // sets' defaults once for the process.
    let mut names: [&str; 64] = [""; 64];
    let mut count = 0;
    let defaults_only = patterns.iter().all(|p| {
        p.set_name()
            .is_some_and(|name| facts.path_set(name).is_none())
    });
    let overflow = if defaults_only && std::ptr::eq(patterns, ALL_SETS.as_slice()) {
        let all = &*ALL_SET_DEFAULT_NAMES;
        count = all.len().min(names.len());
        names[..count].copy_from_slice(&all[..count]);
        all.len() > names.len()
    } else {
        any_last_component(patterns, facts, |n| {
            if count == names.len() {
                return true;
            }
            names[count] = n;
            count += 1;
            false
        })
    };
    let names = &names[..count];
    // One pass over each text: only where a byte starts some name is that name compared (and
    // `contains` would build a searcher for every call).
    let mut first = [false; 256];
    let mut shortest = usize::MAX;
    for n in names {
        first[usize::from(n.as_bytes()[0])] = true;
        shortest = shortest.min(n.len());
    }
    let mentions = |text: &str| {
        if overflow {
            return any_last_component(patterns, facts, |n| {
                text.len() >= n.len() && text.contains(n)
            });
        }
        let bytes = text.as_bytes();
        bytes.len() >= shortest
            && (0..=bytes.len() - shortest).any(|i| {
                first[usize::from(bytes[i])]
                    && names.iter().any(|n| bytes[i..].starts_with(n.as_bytes()))
            })
    };
    if mentions(cwd) {
        return true; // relative words could name a protected path
    }
    // A wildcard without a needle can still expand to a protected path when it has a directory
    // part, or when it is relative to a directory above one (the home directory or `/`).
    let above = facts
        .home()
        .is_some_and(|h| h == cwd || h.starts_with(cwd.trim_end_matches('/')));
    words.any(|w| {
        mentions(w)
            || (w.contains(['*', '?', '['])
                && !is_code_like(w)
                && (above || w.contains('/') || w.starts_with(['~', '$'])))
    })
}

/// Whether `f` holds for the last component of some path of the patterns (named sets expanded).
fn any_last_component<'a>(
    patterns: &'a [PathPattern],
    facts: &'a dyn Facts,
    mut f: impl FnMut(&'a str) -> bool,
) -> bool {
    let mut test = |p: &'a str| {
        let p = p.trim_end_matches('/');
        let last = p.rsplit('/').next().unwrap_or(p);
        !last.is_empty() && f(last)
    };
    patterns.iter().any(|pat| match pat.set_name() {
        Some(name) => match facts.path_set(name) {
            Some(given) => given.iter().any(|p| test(p)),
            None => crate::facts::default_path_set(name)
                .unwrap_or_default()
                .iter()
                .any(|p| test(p)),
        },
        None => test(&pat.raw),
    })
}

/// Whether a word looks like code rather than a path (an inline script, a shell string).
fn is_code_like(word: &str) -> bool {
    word.contains([' ', '\n', '\t', '(', '\'', '"', ';', '{', '`'])
}

/// The ways a single word can name a file: itself, and the value inside option and `@`/`file:`
/// forms.
fn word_forms(word: &str) -> impl Iterator<Item = &str> {
    let after_eq = word.split_once('=').map(|(_, v)| v);
    // `get`: the second character may be multi-byte (`-é…`), and slicing through it panics.
    let short_value = (word.starts_with('-') && !word.starts_with("--"))
        .then(|| word.get(2..))
        .flatten()
        .filter(|v| v.starts_with(['/', '~', '.', '$']));
    let prefixed = word
        .strip_prefix('@')
        .or_else(|| word.strip_prefix("file:"))
        .or_else(|| word.strip_prefix("FILE:"));
    std::iter::once(word)
        .chain(after_eq)
        .chain(short_value)
        .chain(prefixed)
}

/// Whether a path glob's leading components could expand to `base` (or a path under it).
fn glob_could_name(glob: &str, base: &str) -> bool {
    let base_depth = base.split('/').count();
    let parts: Vec<&str> = glob.split('/').collect();
    if parts.len() < base_depth {
        return false;
    }
    let prefix = parts[..base_depth].join("/");
    crate::glob::Glob::new(&prefix).is_ok_and(|g| g.is_match(base))
}

/// Whether a `kill` segment could signal a protected process (SafeShell's daemon): a listed
/// pid, a process group holding one (`-PGID`), every process (`-1`), or a pid known only at run
/// time (`kill $PID`).
fn signals_protected(seg: &Segment, facts: &dyn Facts) -> bool {
    if seg.program != "kill" {
        return false;
    }
    let pids = facts.protected_pids();
    let mut after_dashdash = false;
    let mut skip_next = false;
    for (i, a) in seg.args.iter().enumerate() {
        if skip_next {
            skip_next = false;
            continue;
        }
        if seg.dynamic.get(i).copied().unwrap_or(false) {
            return true;
        }
        if !after_dashdash {
            if a == "--" {
                after_dashdash = true;
                continue;
            }
            if a == "-s" || a == "-n" {
                skip_next = true;
                continue;
            }
            if a == "-l" || a == "-L" {
                return false; // lists signal names
            }
            // `-9`, `-STOP`, `-SIGKILL`: a signal. `-1234` after a signal could be a group, but
            // bash reads the first `-N` as the signal.
            if a.starts_with('-') && i == 0 {
                continue;
            }
        }
        let target = a.strip_prefix('-').unwrap_or(a);
        if a.starts_with('-') && target == "1" {
            return true; // every process
        }
        if let Ok(pid) = target.parse::<u32>()
            && pids.contains(&pid)
        {
            return true;
        }
    }
    false
}

/// Compiled conditions; all given must hold.
#[derive(Debug, Default)]
pub struct Conditions {
    pub(crate) program: GlobList,
    pub(crate) invoked_as: GlobList,
    pub(crate) stdin_is_code: Option<bool>,
    pub(crate) not_flags: Vec<FlagSpec>,
    pub(crate) reads: GlobList,
    pub(crate) regex: Option<LazyRegex>,
    pub(crate) contains: Vec<String>,
    pub(crate) prefix: Vec<String>,
    pub(crate) subcommand: Vec<Vec<String>>,
    pub(crate) flags: Vec<FlagSpec>,
    pub(crate) args: GlobList,
    pub(crate) positional: GlobList,
    pub(crate) all_positional: GlobList,
    pub(crate) last_positional: GlobList,
    pub(crate) last_path_under: Vec<PathPattern>,
    pub(crate) paths_under: Vec<PathPattern>,
    pub(crate) paths_equal: Vec<PathPattern>,
    pub(crate) all_paths_under: Vec<PathPattern>,
    pub(crate) writes_to: GlobList,
    pub(crate) stdin_from: Vec<String>,
    pub(crate) in_pipeline: Option<bool>,
    pub(crate) calls_own_function: Option<bool>,
    pub(crate) wrapped: Option<bool>,
    pub(crate) git_branch: Vec<String>,
    pub(crate) git_branch_regex: Option<LazyRegex>,
    pub(crate) in_git_repo: Option<bool>,
    pub(crate) cwd_regex: Option<LazyRegex>,
    pub(crate) cwd_under: Vec<PathPattern>,
    pub(crate) file_exists: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) env_unset: Vec<String>,
    pub(crate) not_program: GlobList,
    pub(crate) names_path_under: Vec<PathPattern>,
    pub(crate) writes_path_under: Vec<PathPattern>,
    pub(crate) signals_protected_process: Option<bool>,
    /// Whether these conditions can only hold for a segment that could name a path of a named
    /// set (`names_path_under`/`writes_path_under` given with named sets only, or every `any`
    /// alternative so), so the segment's shared [`SegmentView::could_name_a_set`] test decides
    /// first.
    pub(crate) only_named_sets: bool,
    pub(crate) any: Vec<Conditions>,
}

impl Conditions {
    /// Checks every condition; on failure returns the name of the first that did not hold.
    pub fn check(&self, view: &SegmentView<'_>, facts: &dyn Facts) -> Result<(), &'static str> {
        let seg = view.seg;
        let home = view.home;
        // First, because most segments name nothing protected and these conditions are checked
        // for every segment: one shared test for all of them.
        if self.only_named_sets
            && !*view.could_name_a_set.get_or_init(|| {
                could_name(
                    &ALL_SETS,
                    seg.args.iter().chain(&seg.writes),
                    view.cwd,
                    facts,
                )
            })
        {
            return Err("names_path_under");
        }
        if !self.program.is_empty() && !self.program.is_match_any(&[&seg.program]) {
            return Err("program");
        }
        if !self.invoked_as.is_empty() && !self.invoked_as.is_match_any(&[&seg.invoked_as]) {
            return Err("invoked_as");
        }
        if let Some(want) = self.signals_protected_process
            && signals_protected(seg, facts) != want
        {
            return Err("signals_protected_process");
        }
        if !self.writes_path_under.is_empty() && self.written_protected(view, facts).is_none() {
            return Err("writes_path_under");
        }
        if !self.names_path_under.is_empty() && self.named_protected(view, facts).is_none() {
            return Err("names_path_under");
        }
        if !self.not_program.is_empty() && self.not_program.is_match_any(&[&seg.program]) {
            return Err("not_program");
        }
        if self
            .stdin_is_code
            .is_some_and(|want| want != seg.stdin_code)
        {
            return Err("stdin_is_code");
        }
        if !self.contains.is_empty()
            && !self.contains.iter().any(|c| view.text.contains(c.as_str()))
        {
            return Err("contains");
        }
        if !self.prefix.is_empty()
            && !self
                .prefix
                .iter()
                .any(|p| view.text.starts_with(p.as_str()))
        {
            return Err("prefix");
        }
        if !self.subcommand.is_empty() {
            let words = view.subcommand_words();
            let ok = self.subcommand.iter().any(|want| {
                want.len() <= words.len() && want.iter().zip(words).all(|(a, b)| a == b)
            });
            if !ok {
                return Err("subcommand");
            }
        }
        // Regexes last among the text tests: the cheaper word tests rule most candidates out
        // first, and a regex is compiled on its first use.
        if let Some(re) = &self.regex
            && !re.is_match(&view.text)
        {
            return Err("regex");
        }
        for spec in &self.flags {
            if !view.flag_args().any(|f| spec.matches(f)) {
                return Err("flags");
            }
        }
        for spec in &self.not_flags {
            if view.flag_args().any(|f| spec.matches(f)) {
                return Err("not_flags");
            }
        }
        if !self.reads.is_empty() && self.read_word(view).is_none() {
            return Err("reads");
        }
        if !self.args.is_empty()
            && !seg
                .args
                .iter()
                .any(|a| self.args.could_match(a) && self.args.is_match_any(&[a]))
        {
            return Err("args");
        }
        if !self.positional.is_empty()
            && !view
                .positionals()
                .any(|(i, a)| view.glob_arg(&self.positional, i, a))
        {
            return Err("positional");
        }
        if !self.all_positional.is_empty() {
            let mut any = false;
            let all = view.positionals().all(|(_, a)| {
                any = true;
                self.all_positional.is_match_any(&[a])
            });
            if !(any && all) {
                return Err("all_positional");
            }
        }
        if !self.last_positional.is_empty() || !self.last_path_under.is_empty() {
            let last = view.positionals().last();
            if !self.last_positional.is_empty()
                && !last.is_some_and(|(i, a)| view.glob_arg(&self.last_positional, i, a))
            {
                return Err("last_positional");
            }
            if !self.last_path_under.is_empty()
                && !last.and_then(|(i, _)| view.resolved(i)).is_some_and(|p| {
                    self.last_path_under
                        .iter()
                        .any(|pat| pat.resolve(home, view.cwd).is_some_and(|b| is_under(p, &b)))
                })
            {
                return Err("last_path_under");
            }
        }
        if !self.paths_under.is_empty() {
            let ok = view.positionals().any(|(i, _)| {
                view.resolved(i).is_some_and(|p| {
                    self.paths_under
                        .iter()
                        .any(|pat| pat.resolve(home, view.cwd).is_some_and(|b| is_under(p, &b)))
                })
            });
            if !ok {
                return Err("paths_under");
            }
        }
        if !self.paths_equal.is_empty() {
            let ok = view.positionals().any(|(i, _)| {
                view.resolved(i).is_some_and(|p| {
                    self.paths_equal
                        .iter()
                        .any(|pat| pat.resolve(home, view.cwd).is_some_and(|b| p == b))
                })
            });
            if !ok {
                return Err("paths_equal");
            }
        }
        if !self.all_paths_under.is_empty() {
            let mut any = false;
            let all = view.positionals().all(|(i, _)| {
                any = true;
                view.resolved(i).is_some_and(|p| {
                    self.all_paths_under
                        .iter()
                        .any(|pat| pat.resolve(home, view.cwd).is_some_and(|b| is_under(p, &b)))
                })
            });
            if !(any && all) {
                return Err("all_paths_under");
            }
        }
        if !self.writes_to.is_empty() {
            let n = seg.args.len();
            let ok = seg
                .writes
                .iter()
                .enumerate()
                .any(|(j, w)| view.glob_arg(&self.writes_to, n + j, w));
            if !ok {
                return Err("writes_to");
            }
        }
        if !self.stdin_from.is_empty()
            && !seg.stdin_from.iter().any(|p| self.stdin_from.contains(p))
        {
            return Err("stdin_from");
        }
        if self.in_pipeline.is_some_and(|want| want != seg.in_pipeline) {
            return Err("in_pipeline");
        }
        if let Some(want) = self.calls_own_function {
            let calls = seg.in_function.as_deref().is_some_and(|f| f == seg.program);
            if calls != want {
                return Err("calls_own_function");
            }
        }
        if self.wrapped.is_some_and(|want| want == seg.via.is_empty()) {
            return Err("wrapped");
        }
        if let Some(want) = self.in_git_repo
            && facts.in_git_repo() != want
        {
            return Err("in_git_repo");
        }
        if !self.git_branch.is_empty() || self.git_branch_regex.is_some() {
            let Some(branch) = facts.git_branch() else {
                return Err("git_branch");
            };
            if !self.git_branch.is_empty() && !self.git_branch.iter().any(|b| b == branch) {
                return Err("git_branch");
            }
            if self
                .git_branch_regex
                .as_ref()
                .is_some_and(|re| !re.is_match(branch))
            {
                return Err("git_branch_regex");
            }
        }
        if self
            .cwd_regex
            .as_ref()
            .is_some_and(|re| !re.is_match(view.cwd))
        {
            return Err("cwd_regex");
        }
        if !self.cwd_under.is_empty() {
            let cwd = normalize(view.cwd);
            if !self.cwd_under.iter().any(|p| {
                p.resolve(home, view.cwd)
                    .is_some_and(|b| is_under(&cwd, &b))
            }) {
                return Err("cwd_under");
            }
        }
        if !self.file_exists.is_empty() && !self.file_exists.iter().any(|f| facts.file_exists(f)) {
            return Err("file_exists");
        }
        for (name, value) in &self.env {
            if facts.env(name) != Some(value.as_str()) {
                return Err("env");
            }
        }
        for name in &self.env_unset {
            if facts.env(name).is_some_and(|v| !v.is_empty())
                || view.seg.env_set_before.iter().any(|s| s == name)
            {
                return Err("env_unset");
            }
        }
        if !self.any.is_empty() && !self.any.iter().any(|c| c.check(view, facts).is_ok()) {
            return Err("any");
        }
        Ok(())
    }

    /// The word a `reads` condition holds for: an operand the program reads (or an input
    /// redirection) that names a file of the list.
    fn read_word<'v>(&self, view: &SegmentView<'v>) -> Option<&'v str> {
        let seg = view.seg;
        // Inline code that was looked inside (`python3 -c CODE`): its paths were added as
        // arguments of their own; the code text is not a file name. A copy writes its last
        // operand; a search tool's first operand is its pattern (`grep -n '^\.env'
        // .gitignore`). Counted, not collected: this runs for every segment.
        let operands = || {
            view.positionals()
                .filter(|&(i, _)| Some(i) != seg.inline_code_arg)
        };
        let count = operands().count();
        let skip_last = COPY_LIKE.contains(&seg.program.as_str()) && count > 1;
        let skip_first = !skip_last && pattern_is_first_operand(seg);
        let mut read = operands()
            .enumerate()
            .filter(|&(k, _)| !(skip_last && k + 1 == count || skip_first && k == 0))
            .map(|(_, p)| p);
        // Input redirections (`cat < .env`) are read too; their path forms follow the
        // arguments' and the output targets'.
        let stdin_base = seg.args.len() + seg.writes.len();
        // A cheap test first: most arguments hold none of the patterns' literal text (and
        // the working directory, which relative paths are resolved against, none either).
        let any_text = self.reads.could_match(&view.path_cwd);
        let may = |a: &str| any_text || self.reads.could_match(a);
        let from_stdin = seg
            .reads_from
            .iter()
            .enumerate()
            .find(|&(j, a)| may(a) && view.glob_arg(&self.reads, stdin_base + j, a))
            .map(|(_, a)| a.as_str());
        from_stdin.or_else(|| {
            read.find(|&(i, a)| may(a) && view.glob_arg(&self.reads, i, a))
                .map(|(_, a)| a)
        })
    }

    /// The output target a `writes_path_under` condition holds for.
    fn written_protected<'v>(&self, view: &SegmentView<'v>, facts: &dyn Facts) -> Option<&'v str> {
        let seg = view.seg;
        if !could_name(&self.writes_path_under, seg.writes.iter(), view.cwd, facts) {
            return None;
        }
        let bases = Bases::new(&self.writes_path_under, view, facts);
        seg.writes
            .iter()
            .find(|w| bases.named_by(w))
            .map(String::as_str)
    }

    /// The word a `names_path_under` condition holds for.
    fn named_protected<'v>(&self, view: &SegmentView<'v>, facts: &dyn Facts) -> Option<&'v str> {
        let seg = view.seg;
        let words = seg.args.iter().chain(&seg.writes);
        if !could_name(&self.names_path_under, words, view.cwd, facts) {
            return None;
        }
        let bases = Bases::new(&self.names_path_under, view, facts);
        // A copy reads its sources and writes its destination (the last positional): for
        // copiers, naming a protected file as a source is a read, which these conditions
        // are not about. `mv` and `ln` change their sources too and are not exempt.
        let last = view.positionals().last().map(|(i, _)| i);
        let copier = COPIERS.contains(&seg.program.as_str());
        let source_of_copy =
            |i: usize, a: &str| copier && Some(i) != last && !(a.starts_with('-') && a.len() > 1);
        seg.args
            .iter()
            .enumerate()
            .filter(|&(i, a)| !source_of_copy(i, a) && Some(i) != seg.parsed_code_arg)
            .map(|(_, a)| a)
            .chain(&seg.writes)
            .find(|w| bases.named_by(w))
            .map(String::as_str)
    }

    /// What made these conditions hold for a segment they hold for, in words (`reads `.env``,
    /// `subcommand push`), for refusals and `safeshell rules explain`: the word that named a
    /// protected file where a condition is about files, otherwise the condition's name.
    pub fn witness(&self, view: &SegmentView<'_>, facts: &dyn Facts) -> Vec<String> {
        let seg = view.seg;
        let mut out = Vec::new();
        let word = |what: &str, w: Option<&str>, out: &mut Vec<String>| {
            out.push(match w {
                Some(w) => format!("{what} `{w}`"),
                None => what.to_owned(),
            });
        };
        if !self.program.is_empty() {
            word("program", Some(&seg.program), &mut out);
        }
        if !self.reads.is_empty() {
            word("reads", self.read_word(view), &mut out);
        }
        if !self.writes_path_under.is_empty() {
            word("writes", self.written_protected(view, facts), &mut out);
        }
        if !self.names_path_under.is_empty() {
            word("names", self.named_protected(view, facts), &mut out);
        }
        if !self.args.is_empty() {
            let found = seg
                .args
                .iter()
                .find(|a| self.args.is_match_any(&[a.as_str()]));
            word("argument", found.map(String::as_str), &mut out);
        }
        if !self.positional.is_empty() {
            let found = view
                .positionals()
                .find(|&(i, a)| view.glob_arg(&self.positional, i, a));
            word("operand", found.map(|(_, a)| a), &mut out);
        }
        if !self.writes_to.is_empty() {
            let n = seg.args.len();
            let found = seg
                .writes
                .iter()
                .enumerate()
                .find(|&(j, w)| view.glob_arg(&self.writes_to, n + j, w));
            word("writes to", found.map(|(_, w)| w.as_str()), &mut out);
        }
        if !self.subcommand.is_empty() {
            let words = view.subcommand_words();
            let matched = self.subcommand.iter().find(|want| {
                want.len() <= words.len() && want.iter().zip(words).all(|(a, b)| a == b)
            });
            word(
                "subcommand",
                matched.map(|w| w.join(" ")).as_deref(),
                &mut out,
            );
        }
        for spec in &self.flags {
            let found = view.flag_args().find(|f| spec.matches(f));
            word("flag", found, &mut out);
        }
        let named = [
            ("invoked_as", !self.invoked_as.is_empty()),
            ("stdin is code", self.stdin_is_code.is_some()),
            ("regex", self.regex.is_some()),
            ("contains", !self.contains.is_empty()),
            ("prefix", !self.prefix.is_empty()),
            ("all_positional", !self.all_positional.is_empty()),
            ("last_positional", !self.last_positional.is_empty()),
            ("last_path_under", !self.last_path_under.is_empty()),
            ("paths_under", !self.paths_under.is_empty()),
            ("paths_equal", !self.paths_equal.is_empty()),
            ("all_paths_under", !self.all_paths_under.is_empty()),
            ("stdin_from", !self.stdin_from.is_empty()),
            ("in_pipeline", self.in_pipeline.is_some()),
            ("calls_own_function", self.calls_own_function.is_some()),
            ("wrapped", self.wrapped.is_some()),
            (
                "signals a protected process",
                self.signals_protected_process == Some(true),
            ),
            (
                "git_branch",
                !self.git_branch.is_empty() || self.git_branch_regex.is_some(),
            ),
            ("in_git_repo", self.in_git_repo.is_some()),
            (
                "cwd",
                self.cwd_regex.is_some() || !self.cwd_under.is_empty(),
            ),
            ("file_exists", !self.file_exists.is_empty()),
            ("env", !self.env.is_empty() || !self.env_unset.is_empty()),
        ];
        out.extend(
            named
                .iter()
                .filter(|(_, set)| *set)
                .map(|(n, _)| (*n).to_owned()),
        );
        if let Some(alternative) = self.any.iter().find(|c| c.check(view, facts).is_ok()) {
            out.extend(alternative.witness(view, facts));
        }
        out
    }

    /// True when no condition is given.
    pub fn is_empty(&self) -> bool {
        self.regex.is_none()
            && self.program.is_empty()
            && self.invoked_as.is_empty()
            && self.stdin_is_code.is_none()
            && self.not_flags.is_empty()
            && self.reads.is_empty()
            && self.last_positional.is_empty()
            && self.last_path_under.is_empty()
            && self.contains.is_empty()
            && self.prefix.is_empty()
            && self.subcommand.is_empty()
            && self.flags.is_empty()
            && self.args.is_empty()
            && self.positional.is_empty()
            && self.all_positional.is_empty()
            && self.paths_under.is_empty()
            && self.paths_equal.is_empty()
            && self.all_paths_under.is_empty()
            && self.writes_to.is_empty()
            && self.stdin_from.is_empty()
            && self.in_pipeline.is_none()
            && self.calls_own_function.is_none()
            && self.wrapped.is_none()
            && self.git_branch.is_empty()
            && self.git_branch_regex.is_none()
            && self.in_git_repo.is_none()
            && self.cwd_regex.is_none()
            && self.cwd_under.is_empty()
            && self.file_exists.is_empty()
            && self.env.is_empty()
            && self.env_unset.is_empty()
            && self.not_program.is_empty()
            && self.names_path_under.is_empty()
            && self.writes_path_under.is_empty()
            && self.signals_protected_process.is_none()
            && self.any.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_specs() {
        let s = FlagSpec::parse("-r|-R|--recursive").unwrap();
        assert!(s.matches("-rf"));
        assert!(s.matches("-fR"));
        assert!(s.matches("--recursive"));
        assert!(!s.matches("--force"));
        assert!(!s.matches("-f"));
        let d = FlagSpec::parse("-delete").unwrap();
        assert!(d.matches("-delete"));
        assert!(!d.matches("-d"));
        let f = FlagSpec::parse("--force").unwrap();
        assert!(f.matches("--force"));
        assert!(!f.matches("--force-with-lease"));
        assert!(FlagSpec::parse("force").is_err());
    }

    #[test]
    fn path_resolution() {
        assert_eq!(
            resolve_arg("~/.ssh/id_rsa", "/w", Some("/home/u")).unwrap(),
            "/home/u/.ssh/id_rsa"
        );
        assert_eq!(
            resolve_arg("$HOME", "/w", Some("/home/u")).unwrap(),
            "/home/u"
        );
        assert_eq!(resolve_arg("../..", "/a/b/c", None).unwrap(), "/a");
        assert_eq!(resolve_arg("/", "/w", None).unwrap(), "/");
        assert_eq!(resolve_arg("/etc/../", "/w", None).unwrap(), "/");
        assert_eq!(resolve_arg("./target", "/w", None).unwrap(), "/w/target");
        assert!(resolve_arg("$DIR", "/w", None).is_none());
        assert!(is_under("/etc/x", "/etc"));
        assert!(!is_under("/etcx", "/etc"));
        assert!(is_under("/x", "/"));
    }
}
