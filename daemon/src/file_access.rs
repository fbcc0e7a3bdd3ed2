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

use safeshell_protocol::{FileAccess, FileAccessKind};

/// The command whose evaluation decides `access`, with relative paths taken from `cwd`.
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
    let mut word = quote(root);
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

fn quote(word: &str) -> String {
    if word.is_empty() {
        return String::new();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
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
            "cat -- '/h/.env' '/p/a b'"
        );
        assert_eq!(
            as_command(&access(Write, &["./x'y", "/z"], None), cwd),
            r"true > '/p/x'\''y'; true > '/z'"
        );
        assert_eq!(
            as_command(&access(Edit, &["f"], None), cwd),
            "cat -- '/p/f'; true > '/p/f'"
        );
        assert_eq!(
            as_command(&access(Delete, &["/d"], None), cwd),
            "rm -f -- '/d'"
        );
        assert_eq!(
            as_command(&access(Search, &[], Some("*.env")), cwd),
            "grep -r -e x -- '/p'; cat -- '/p'/**/*'.''e''n''v'"
        );
        assert_eq!(
            as_command(&access(Search, &["src"], Some("a/{b,c}.rs")), cwd),
            "grep -r -e x -- '/p/src'; cat -- '/p/src'/'a''/'{'b','c'}'.''r''s'"
        );
        assert_eq!(
            as_command(&access(List, &["/h"], Some("**/.ssh/*")), cwd),
            "ls -d -- '/h'/**'/''.''s''s''h''/'*"
        );
        // Shell syntax in a path or pattern stays a literal name.
        assert_eq!(
            as_command(&access(List, &["$(x)"], Some(";rm -rf ~")), cwd),
            "ls -d -- '/p/$(x)'/';''r''m'' ''-''r''f'' ''~'"
        );
    }
}
