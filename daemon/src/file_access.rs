//! Agents' file tools judged by the command rules: a file access becomes the plain command that
//! would make the same access, so secrets, persistence points, system paths and SafeShell's own
//! files are protected by the same rules whether an agent uses a shell or its `Read` tool.
//!
//! The command is only evaluated, never run. Every path is quoted, so it names exactly the file
//! the tool would open; a search's file-name pattern keeps its wildcards (and only those), so
//! the rules see every name it could select. How each kind is judged (docs/integrations.md):
//! - read: `cat -- P…`; write: `true > P` for each (a write that shows nothing); edit: both
//!   (an edit shows parts of the file);
//!   delete: `rm -f -- P…`;
//! - search (Grep): `grep -r -e x -- R…` (the root is read recursively: the rules judge it as
//!   they judge `grep -r`), and with a file pattern G, `cat -- R/**/G` (what it selects);
//! - list (Glob): `ls -d -- R/G` (names only: the metadata tools the rules exempt).

use std::path::{Path, PathBuf};

use safeshell_protocol::{FileAccess, FileAccessKind};
use safeshell_rules::segment::quote_strict as quote;

/// Entries a search's file pattern is matched against on disk before the walk gives up (and the
/// pattern is judged by what it could name instead).
const WALK_LIMIT: usize = 20_000;

/// The command whose evaluation decides `access` on this machine: [`as_command`] over every
/// spelling of each path the tool could open, plus what a search really reads. Reads the file
/// system (never a file's contents):
/// - a path is also judged as its canonical form (symbolic links, `/proc/self/root`, `..`) and,
///   when it starts with `~`, with the home directory in its place (Codex and others expand it);
/// - a search (and a directory read by Gemini CLI's `read_many_files`) also reads the secret
///   stores beneath its root (`~/.ssh` of a search over the home directory);
/// - a search's file pattern (split as Claude Code splits it: on spaces and on commas outside
///   braces; ripgrep's wildcards match dotfiles) is matched against the files on disk, which are
///   judged one by one (so `*.json` is a read of `credentials.json` only where one exists); a
///   tree too large to walk is judged by the names the pattern could match.
pub fn judged_command(access: &FileAccess, cwd: &str, home: Option<&str>) -> String {
    let mut access = access.clone();
    let roots_given = !access.paths.is_empty();
    access.paths = spellings(&access.paths, cwd, home);
    let mut extra_reads: Vec<String> = Vec::new();
    let mut command;
    match access.access {
        FileAccessKind::Search => {
            let roots: Vec<String> = if roots_given {
                access.paths.clone()
            } else {
                spellings(&[cwd.to_owned()], cwd, home)
            };
            let pattern = access.pattern.take();
            command = as_command(&access, cwd);
            for root in &roots {
                extra_reads.extend(secret_stores_under(root, home));
                if let Some(pattern) = pattern.as_deref().filter(|p| !p.trim().is_empty()) {
                    match files_matching(Path::new(root), pattern) {
                        Some(files) => extra_reads.extend(files),
                        None => {
                            for piece in could_name(pattern) {
                                command.push_str("; cat -- ");
                                command.push_str(&under(root, &piece, true));
                            }
                        }
                    }
                }
            }
        }
        FileAccessKind::Read => {
            // Gemini CLI's `read_many_files` takes directories (read recursively) and globs.
            let (globs, plain): (Vec<String>, Vec<String>) = access
                .paths
                .iter()
                .cloned()
                .partition(|p| p.contains(['*', '?', '[', '{']));
            access.paths = plain;
            command = if access.paths.is_empty() {
                "true".to_owned()
            } else {
                as_command(&access, cwd)
            };
            for dir in access.paths.iter().filter(|p| Path::new(p).is_dir()) {
                command.push_str(&format!("; grep -r -e x -- {}", quote(dir)));
                extra_reads.extend(secret_stores_under(dir, home));
            }
            for glob in globs {
                match files_matching(Path::new(cwd), &glob) {
                    Some(files) => extra_reads.extend(files),
                    None => {
                        for piece in could_name(&glob) {
                            command.push_str("; cat -- ");
                            command.push_str(&under(cwd, &piece, false));
                        }
                    }
                }
            }
        }
        _ => command = as_command(&access, cwd),
    }
    if !extra_reads.is_empty() {
        extra_reads.sort();
        extra_reads.dedup();
        command.push_str("; cat --");
        for f in &extra_reads {
            command.push(' ');
            command.push_str(&quote(f));
        }
    }
    command
}

/// Each path made absolute, and also its canonical form and its `~`-expanded form where they
/// differ (the file a tool would really open).
fn spellings(paths: &[String], cwd: &str, home: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |p: String| {
        if !p.is_empty() && !out.contains(&p) {
            out.push(p);
        }
    };
    for p in paths {
        let abs = absolute(p, cwd);
        let mut forms = vec![abs.clone()];
        if let Some(h) = home
            && (p == "~" || p.starts_with("~/"))
        {
            forms.push(format!("{}{}", h.trim_end_matches('/'), &p[1..]));
        }
        for form in forms {
            if let Some(c) = canonical(&form) {
                push(c);
            }
            push(form);
        }
    }
    out
}

/// `path` with its longest existing ancestor resolved (symbolic links, `/proc/self/root`, `..`),
/// if that changes it.
fn canonical(path: &str) -> Option<String> {
    let p = Path::new(path);
    for ancestor in p.ancestors() {
        if let Ok(real) = std::fs::canonicalize(ancestor) {
            let rest = p.strip_prefix(ancestor).ok()?;
            let full = if rest.as_os_str().is_empty() {
                real
            } else {
                real.join(rest)
            };
            let full = full.to_string_lossy().into_owned();
            return (full != path).then_some(full);
        }
    }
    None
}

/// The secret stores of the home directory (those containment protects) at or beneath `root`:
/// a recursive read of `root` reads them.
fn secret_stores_under(root: &str, home: Option<&str>) -> Vec<String> {
    let Some(home) = home else {
        return Vec::new();
    };
    let root = Path::new(root);
    crate::profile::SECRETS
        .iter()
        .map(|s| Path::new(home).join(s))
        .filter(|secret| secret.starts_with(root) && secret != root)
        .map(|secret| secret.to_string_lossy().into_owned())
        .collect()
}

/// A search pattern's pieces as Claude Code's `Grep` splits `glob` (on white space, and on
/// commas outside braces), each with its braces expanded; `!` pieces exclude.
fn pattern_pieces(pattern: &str) -> (Vec<String>, Vec<String>) {
    let mut pieces = Vec::new();
    for word in pattern.split_whitespace() {
        let mut depth = 0usize;
        let mut current = String::new();
        for c in word.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    pieces.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        pieces.push(current);
    }
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    for piece in pieces.into_iter().filter(|p| !p.is_empty()) {
        let (list, piece) = match piece.strip_prefix('!') {
            Some(rest) => (&mut exclude, rest.to_owned()),
            None => (&mut include, piece),
        };
        list.extend(expand_braces(&piece));
    }
    // Only exclusions: everything else is searched.
    if include.is_empty() && !exclude.is_empty() {
        include.push("*".to_owned());
    }
    (include, exclude)
}

/// `a{b,c}d` as `abd`, `acd` (nested braces too), at most 64 words.
fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_owned()];
    };
    let mut depth = 0usize;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, c) in pattern[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(open + i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return vec![pattern.to_owned()];
    };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        let alternative = &pattern[pair[0] + 1..pair[1]];
        for rest in expand_braces(&format!("{head}{alternative}{tail}")) {
            if out.len() < 64 {
                out.push(rest);
            }
        }
    }
    out
}

/// What a pattern could name when the tree cannot be walked: each piece, and where it starts
/// with a wildcard, the same with a leading dot (ripgrep's `*` and `?` match dotfiles, a
/// shell's do not).
fn could_name(pattern: &str) -> Vec<String> {
    let (include, _) = pattern_pieces(pattern);
    let mut out = Vec::new();
    for piece in include {
        if let Some(rest) = piece.strip_prefix('?') {
            out.push(format!(".{rest}"));
        } else if piece.starts_with('*') || piece.starts_with('[') {
            out.push(format!(".{piece}"));
        }
        out.push(piece);
    }
    out
}

/// The files under `root` a search with `pattern` reads, as ripgrep matches globs (a piece
/// without `/` matches file names at any depth; wildcards match dotfiles), or `None` when the
/// tree has more than [`WALK_LIMIT`] entries. `.git` is not searched; links are not followed
/// (a link that matches is judged with its target).
fn files_matching(root: &Path, pattern: &str) -> Option<Vec<String>> {
    let (include, exclude) = pattern_pieces(pattern);
    let compile = |pieces: &[String]| -> Vec<(safeshell_rules::glob::Glob, bool)> {
        pieces
            .iter()
            .filter_map(|p| {
                let p = p.trim_start_matches("./");
                safeshell_rules::glob::Glob::new(p)
                    .ok()
                    .map(|g| (g, p.contains('/')))
            })
            .collect()
    };
    let (include, exclude) = (compile(&include), compile(&exclude));
    let matches = |globs: &[(safeshell_rules::glob::Glob, bool)], rel: &str, name: &str| {
        globs
            .iter()
            .any(|(g, by_path)| g.is_match(if *by_path { rel } else { name }))
    };
    let mut found = Vec::new();
    let mut seen = 0usize;
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    if !root.is_dir() {
        return Some(Vec::new());
    }
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).ok()?;
        for entry in entries.flatten() {
            seen += 1;
            if seen > WALK_LIMIT {
                return None;
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() {
                if name != ".git" {
                    stack.push(path);
                }
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            if matches(&include, &rel, &name) && !matches(&exclude, &rel, &name) {
                let shown = path.to_string_lossy().into_owned();
                if kind.is_symlink()
                    && let Some(target) = canonical(&shown)
                {
                    found.push(target);
                }
                found.push(shown);
            }
        }
    }
    Some(found)
}

/// The command whose evaluation decides `access` as given (no file system access), with
/// relative paths taken from `cwd`.
pub fn as_command(access: &FileAccess, cwd: &str) -> String {
    let roots: Vec<String> = if access.paths.is_empty() {
        vec![cwd.to_owned()]
    } else {
        access.paths.iter().map(|p| absolute(p, cwd)).collect()
    };
    let quoted = || roots.iter().map(|p| quote(p)).collect::<Vec<_>>().join(" ");
    // A write replaces the file without showing it: the redirection a shell would make.
    let writes = || {
        roots
            .iter()
            .map(|p| format!("true > {}", quote(p)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match access.access {
        FileAccessKind::Read => format!("cat -- {}", quoted()),
        FileAccessKind::Write => writes(),
        FileAccessKind::Edit => format!("cat -- {}; {}", quoted(), writes()),
        FileAccessKind::Delete => format!("rm -f -- {}", quoted()),
        FileAccessKind::Search => {
            let mut command = format!("grep -r -e x -- {}", quoted());
            if let Some(pattern) = access.pattern.as_deref().filter(|p| !p.is_empty()) {
                let selected: Vec<String> = roots.iter().map(|r| under(r, pattern, true)).collect();
                command.push_str("; cat -- ");
                command.push_str(&selected.join(" "));
            }
            command
        }
        FileAccessKind::List => {
            let pattern = access.pattern.as_deref().filter(|p| !p.is_empty());
            let listed: Vec<String> = roots
                .iter()
                .map(|r| pattern.map_or_else(|| quote(r), |p| under(r, p, false)))
                .collect();
            format!("ls -d -- {}", listed.join(" "))
        }
    }
}

/// `path` made absolute against `cwd` (`~` and variables are not expanded: a tool opens the
/// path as written).
fn absolute(path: &str, cwd: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else if path.is_empty() || path == "." {
        cwd.to_owned()
    } else {
        format!(
            "{}/{}",
            cwd.trim_end_matches('/'),
            path.trim_start_matches("./")
        )
    }
}

/// The word naming what `pattern` selects under `root`: the root quoted, the pattern with its
/// wildcards (`* ? [ ] { } ,`) left active and everything else quoted. `anywhere`: a pattern
/// without a `/` matches at any depth (as ripgrep's `--glob` does).
fn under(root: &str, pattern: &str, anywhere: bool) -> String {
    let pattern = pattern.trim_start_matches("./");
    let (root, pattern) = match pattern.strip_prefix('/') {
        // An absolute pattern is its own root.
        Some(_) => ("", pattern),
        None => (root.trim_end_matches('/'), pattern),
    };
    // An absolute pattern has no root to put before it.
    let mut word = if root.is_empty() {
        String::new()
    } else {
        quote(root)
    };
    if !pattern.starts_with('/') {
        word.push('/');
    }
    if anywhere && !pattern.contains('/') {
        word.push_str("**/");
    }
    for c in pattern.chars() {
        if "*?[]{},".contains(c) {
            word.push(c);
        } else if c == '\'' {
            word.push_str(r"\'");
        } else {
            word.push('\'');
            word.push(c);
            word.push('\'');
        }
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(kind: FileAccessKind, paths: &[&str], pattern: Option<&str>) -> FileAccess {
        FileAccess {
            tool: "T".into(),
            access: kind,
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            pattern: pattern.map(str::to_owned),
        }
    }

    #[test]
    fn each_kind_becomes_the_command_that_makes_the_same_access() {
        use FileAccessKind::*;
        let cwd = "/p";
        assert_eq!(
            as_command(&access(Read, &["/h/.env", "a b"], None), cwd),
            "cat -- /h/.env '/p/a b'"
        );
        assert_eq!(
            as_command(&access(Write, &["./x'y", "/z"], None), cwd),
            r"true > '/p/x'\''y'; true > /z"
        );
        assert_eq!(
            as_command(&access(Edit, &["f"], None), cwd),
            "cat -- /p/f; true > /p/f"
        );
        assert_eq!(
            as_command(&access(Delete, &["/d"], None), cwd),
            "rm -f -- /d"
        );
        assert_eq!(
            as_command(&access(Search, &[], Some("*.env")), cwd),
            "grep -r -e x -- /p; cat -- /p/**/*'.''e''n''v'"
        );
        assert_eq!(
            as_command(&access(Search, &["src"], Some("a/{b,c}.rs")), cwd),
            "grep -r -e x -- /p/src; cat -- /p/src/'a''/'{'b','c'}'.''r''s'"
        );
        assert_eq!(
            as_command(&access(List, &["/h"], Some("**/.ssh/*")), cwd),
            "ls -d -- /h/**'/''.''s''s''h''/'*"
        );
        // Shell syntax in a path or pattern stays a literal name.
        assert_eq!(
            as_command(&access(List, &["$(x)"], Some(";rm -rf ~")), cwd),
            "ls -d -- '/p/$(x)'/';''r''m'' ''-''r''f'' ''~'"
        );
    }
}
