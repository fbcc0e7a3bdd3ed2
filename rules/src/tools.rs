//! What ordinary tools are told to run or write through their options and mini-languages:
//! `ssh HOST CMD`, `tmux new 'CMD'`, `git -c alias.x='!CMD'`, `tar --to-command=CMD`,
//! `rsync -e CMD`, sed's `e` and `w`, awk's `system()` and `print > FILE`, `vim -c '!CMD'`,
//! `gdb -ex 'shell CMD'`, sqlite's `.shell` and `.output`, `make --eval`.
//!
//! Each finder is a pure function of the tool's words; the command lines it returns are parsed
//! by the caller like any other shell string, the files join the segment's writes or reads, and
//! what cannot be followed makes the segment unverifiable.

use std::sync::LazyLock;

use regex::Regex;

use crate::shell::Word;

/// What a tool's words hand to other programs or files.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ToolLook {
    /// Shell command lines the tool runs, and whether each is computed at run time.
    pub shell: Vec<(String, bool)>,
    /// Files the tool writes.
    pub writes: Vec<String>,
    /// Files the tool reads (as arguments, so rules about protected files see them).
    pub reads: Vec<String>,
    /// Why it cannot be followed, if it cannot.
    pub unverifiable: Option<String>,
}

impl ToolLook {
    fn run(&mut self, command: &str, dynamic: bool) {
        if !command.trim().is_empty() && self.shell.len() < 16 {
            self.shell.push((command.to_owned(), dynamic));
        }
    }

    fn cannot_follow(&mut self, why: String) {
        self.unverifiable.get_or_insert(why);
    }
}

/// Looks at a tool's words, if SafeShell knows the tool.
pub(crate) fn look(program: &str, rest: &[Word]) -> Option<ToolLook> {
    let mut found = ToolLook::default();
    match program {
        "ssh" => {
            ssh_options(rest, &mut found);
            ssh(rest, &mut found);
        }
        "scp" | "sftp" | "rsync-ssh" => ssh_options(rest, &mut found),
        "man" => {
            for i in 0..rest.len() {
                if let Some((pager, dynamic, _)) =
                    option_value(rest, i, &["-P", "--pager", "-H", "--html"])
                {
                    found.run(pager, dynamic);
                }
            }
        }
        "zip" => {
            for i in 0..rest.len() {
                if let Some((cmd, dynamic, _)) = option_value(rest, i, &["-TT", "--unzip-command"])
                {
                    found.run(cmd, dynamic);
                }
            }
        }
        "tmux" => tmux(rest, &mut found),
        "git" => git(rest, &mut found),
        "tar" | "bsdtar" | "gtar" => {
            tar(rest, &mut found);
            tar_places(rest, &mut found);
        }
        "rsync" => {
            rsync(rest, &mut found);
            rsync_delete(rest, &mut found);
        }
        "cp" | "mv" | "install" | "ln" => target_directory(rest, &mut found),
        "unzip" => {
            for i in 0..rest.len() {
                if let Some((dir, _, _)) = option_value(rest, i, &["-d"]) {
                    found
                        .writes
                        .push(format!("{}/file", dir.trim_end_matches('/')));
                }
            }
        }
        "parallel" => parallel(rest, &mut found),
        // Node's recursive deleters (`npx rimraf DIR`): judged as `rm -rf`.
        "rimraf" | "del" | "del-cli" | "trash" | "trash-put" => {
            let paths: Vec<&str> = rest
                .iter()
                .filter(|w| !w.text.starts_with('-'))
                .map(|w| w.text.as_str())
                .collect();
            if !paths.is_empty() {
                found.run(
                    &format!("rm -rf {}", paths.join(" ")),
                    rest.iter().any(|w| w.dynamic),
                );
            }
        }
        "sed" | "gsed" => sed(rest, &mut found),
        "awk" | "gawk" | "mawk" | "nawk" => awk(rest, &mut found),
        "vim" | "vi" | "nvim" | "view" | "ex" | "gvim" | "vimdiff" => vim(rest, &mut found),
        "gdb" => gdb(rest, &mut found),
        "emacs" | "emacsclient" => emacs(rest, &mut found),
        "sqlite3" | "duckdb" => sqlite(rest, &mut found),
        "make" | "gmake" => make(rest, &mut found),
        _ => return None,
    }
    (found != ToolLook::default()).then_some(found)
}

/// The value of an option at `words[i]`: `--name=value`, `-Xvalue` (for a one-letter `-X`), or
/// the next word. Returns the value and how many words it took.
fn option_value<'w>(words: &'w [Word], i: usize, names: &[&str]) -> Option<(&'w str, bool, usize)> {
    let w = &words[i];
    let a = w.text.as_str();
    for name in names {
        if a == *name {
            return words.get(i + 1).map(|v| (v.text.as_str(), v.dynamic, 2));
        }
        if name.starts_with("--") {
            if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                return Some((v, w.dynamic, 1));
            }
        } else if name.len() == 2 && a.len() > 2 && a.starts_with(name) && !a.starts_with("--") {
            return Some((&a[2..], w.dynamic, 1));
        }
    }
    None
}

fn ssh(rest: &[Word], found: &mut ToolLook) {
    const VALUES: &[&str] = &[
        "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o", "-p",
        "-Q", "-R", "-S", "-W", "-w", "-B",
    ];
    let mut i = 0;
    while i < rest.len() {
        let a = rest[i].text.as_str();
        if a == "--" {
            i += 1;
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            i += if VALUES.contains(&a) { 2 } else { 1 };
            continue;
        }
        break;
    }
    // The host, then the remote command (joined with blanks and run by the remote shell).
    if let Some(command) = rest.get(i + 1..).filter(|c| !c.is_empty()) {
        let text = command
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        found.run(&text, command.iter().any(|w| w.dynamic));
    }
}

/// ssh options that run local commands: `-o ProxyCommand=…`, `-o LocalCommand=…`.
fn ssh_options(rest: &[Word], found: &mut ToolLook) {
    for i in 0..rest.len() {
        if let Some((option, dynamic, _)) = option_value(rest, i, &["-o"]) {
            let (key, value) = option
                .split_once(['=', ' '])
                .map_or((option, ""), |(k, v)| (k, v.trim_start_matches(['=', ' '])));
            if matches!(
                key.to_ascii_lowercase().as_str(),
                "proxycommand" | "localcommand" | "knownhostscommand" | "remotecommand"
            ) && value != "none"
            {
                found.run(value, dynamic);
            }
        }
    }
}

fn tmux(rest: &[Word], found: &mut ToolLook) {
    const RUNS: &[&str] = &[
        "new-session",
        "new",
        "new-window",
        "neww",
        "split-window",
        "splitw",
        "respawn-pane",
        "respawnp",
        "respawn-window",
        "respawnw",
        "run-shell",
        "run",
        "display-popup",
        "popup",
        "send-keys",
        "send",
        "pipe-pane",
        "pipep",
    ];
    const VALUES: &[&str] = &[
        "-s", "-n", "-t", "-c", "-e", "-x", "-y", "-F", "-w", "-h", "-l", "-p", "-L", "-S", "-f",
        "-T", "-N", "-X", "-b", "-B", "-d",
    ];
    const NO_VALUE: &[&str] = &["-d", "-b", "-P", "-E", "-k", "-a", "-A", "-D", "-h", "-v"];
    let mut i = 0;
    // Global options; `tmux -c CMD` runs a shell command directly.
    while i < rest.len() && rest[i].text.starts_with('-') {
        if rest[i].text == "-c" {
            if let Some(c) = rest.get(i + 1) {
                found.run(&c.text, c.dynamic);
            }
            return;
        }
        i += if matches!(rest[i].text.as_str(), "-L" | "-S" | "-f" | "-T") {
            2
        } else {
            1
        };
    }
    let Some(sub) = rest.get(i).map(|w| w.text.as_str()) else {
        return;
    };
    if !RUNS.contains(&sub) {
        return;
    }
    i += 1;
    let keys = matches!(sub, "send-keys" | "send");
    while i < rest.len() && rest[i].text.starts_with('-') {
        let a = rest[i].text.as_str();
        i += if VALUES.contains(&a) && !NO_VALUE.contains(&a) {
            2
        } else {
            1
        };
    }
    // A value option at the end skips past it: `get`, not indexing.
    let words: Vec<&Word> = rest
        .get(i..)
        .unwrap_or_default()
        .iter()
        .filter(|w| !keys || !is_key_name(&w.text))
        .take_while(|w| w.text != ";" && w.text != "\\;")
        .collect();
    if !words.is_empty() {
        let text = words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        found.run(&text, words.iter().any(|w| w.dynamic));
    }
}

/// tmux key names in `send-keys` (`Enter`, `C-m`, `M-x`).
fn is_key_name(word: &str) -> bool {
    matches!(
        word,
        "Enter"
            | "Escape"
            | "Space"
            | "Tab"
            | "BSpace"
            | "Up"
            | "Down"
            | "Left"
            | "Right"
            | "KPEnter"
    ) || (word.len() >= 3
        && matches!(word.get(..2), Some("C-" | "M-" | "S-"))
        && !word[2..].contains(' '))
}

/// git configuration keys whose value is a command line (`!`-prefixed for aliases and helpers).
fn git_key_runs(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let parts: Vec<&str> = key.split('.').collect();
    matches!(
        key.as_str(),
        "core.sshcommand"
            | "core.pager"
            | "core.editor"
            | "core.fsmonitor"
            | "core.askpass"
            | "diff.external"
            | "sequence.editor"
            | "gpg.program"
            | "uploadpack.packobjectshook"
            | "web.browser"
            | "credential.helper"
    ) || key.starts_with("alias.")
        || key.starts_with("pager.")
        || (parts.len() == 3
            && matches!(
                (parts[0], parts[2]),
                ("diff", "textconv")
                    | ("diff", "command")
                    | ("filter", "clean")
                    | ("filter", "smudge")
                    | ("filter", "process")
                    | ("merge", "driver")
                    | ("gpg", "program")
                    | ("credential", "helper")
                    | ("mergetool", "cmd")
                    | ("difftool", "cmd")
                    | ("browser", "cmd")
            ))
}

/// What a git configuration value runs: aliases and helpers run `!`-prefixed values as shell
/// commands (an alias without `!` is a git command line; a helper without it is a helper name).
fn git_value(key: &str, value: &str, dynamic: bool, found: &mut ToolLook) {
    let key_l = key.to_ascii_lowercase();
    let bang = value.trim_start().strip_prefix('!');
    if key_l.starts_with("alias.") {
        match bang {
            Some(code) => found.run(code, dynamic),
            None => found.run(&format!("git {value}"), dynamic),
        }
    } else if key_l.ends_with("helper") {
        if let Some(code) = bang {
            found.run(code, dynamic);
        } else if value.starts_with('/') || value.contains(' ') {
            found.run(value, dynamic);
        }
    } else {
        found.run(bang.unwrap_or(value), dynamic);
    }
}

fn git(rest: &[Word], found: &mut ToolLook) {
    const VALUES: &[&str] = &[
        "-C",
        "--git-dir",
        "--work-tree",
        "--namespace",
        "--exec-path",
    ];
    let mut aliases: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < rest.len() && rest[i].text.starts_with('-') {
        let a = rest[i].text.as_str();
        if a == "-c" {
            if let Some(kv) = rest.get(i + 1)
                && let Some((k, v)) = kv.text.split_once('=')
                && git_key_runs(k)
            {
                {
                    if let Some(name) = k.to_ascii_lowercase().strip_prefix("alias.")
                        && !v.trim_start().starts_with('!')
                    {
                        aliases.push((name.to_owned(), v.to_owned()));
                    } else {
                        git_value(k, v, kv.dynamic, found);
                    }
                }
            }
            i += 2;
            continue;
        }
        if a == "--config-env" || a.starts_with("--config-env=") {
            found.cannot_follow(
                "`git --config-env` takes configuration from the environment".into(),
            );
        }
        i += if VALUES.contains(&a) { 2 } else { 1 };
    }
    let Some(sub) = rest.get(i) else { return };
    // An alias defined on the command line and used at once: judge what it stands for.
    if let Some((_, value)) = aliases.iter().find(|(name, _)| *name == sub.text) {
        let tail = rest[i + 1..]
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        found.run(&format!("git {value} {tail}"), sub.dynamic);
    }
    if sub.text == "config" {
        // `git config [--global|--file F|…] KEY VALUE` / `git config set KEY VALUE`.
        let words: Vec<&Word> = rest[i + 1..]
            .iter()
            .filter(|w| !w.text.starts_with('-') && w.text != "set" && w.text != "--add")
            .collect();
        if let [key, value, ..] = words.as_slice()
            && git_key_runs(&key.text)
        {
            git_value(&key.text, &value.text, value.dynamic, found);
        }
    }
}

fn tar(rest: &[Word], found: &mut ToolLook) {
    for i in 0..rest.len() {
        if let Some((cmd, dynamic, _)) = option_value(
            rest,
            i,
            &[
                "--to-command",
                "--use-compress-program",
                "-I",
                "--info-script",
                "-F",
                "--new-volume-script",
                "--rsh-command",
            ],
        ) {
            found.run(cmd, dynamic);
        }
        if let Some(cmd) = rest[i]
            .text
            .strip_prefix("--checkpoint-action=")
            .and_then(|a| a.strip_prefix("exec="))
        {
            found.run(cmd, rest[i].dynamic);
        }
    }
}

/// `cp|mv|install|ln -t DIR SOURCES…`: each source lands in DIR.
fn target_directory(rest: &[Word], found: &mut ToolLook) {
    let mut dir = None;
    let mut sources = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        if let Some((d, _, n)) = option_value(rest, i, &["-t", "--target-directory"]) {
            dir = Some(d.trim_end_matches('/'));
            i += n;
            continue;
        }
        let a = rest[i].text.as_str();
        if !a.starts_with('-') {
            sources.push(a);
        }
        i += 1;
    }
    if let Some(dir) = dir {
        for s in sources {
            let base = s.trim_end_matches('/').rsplit('/').next().unwrap_or(s);
            found.writes.push(format!("{dir}/{base}"));
        }
    }
}

/// tar's `-C DIR`: extraction writes there; creation reads the operands there. `--remove-files`
/// deletes what it archived.
fn tar_places(rest: &[Word], found: &mut ToolLook) {
    let mut dir = None;
    let mut extract = false;
    let mut remove = false;
    let mut operands = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let a = rest[i].text.as_str();
        if let Some((d, _, n)) = option_value(rest, i, &["-C", "--directory"]) {
            dir = Some(d.trim_end_matches('/').to_owned());
            i += n;
            continue;
        }
        if let Some((_, _, n)) = option_value(rest, i, &["-f", "--file"]) {
            i += n;
            continue;
        }
        if a == "--remove-files" {
            remove = true;
        } else if a == "-x" || a == "--extract" || a == "--get" {
            extract = true;
        } else if !a.starts_with("--")
            && (a.starts_with('-') || i == 0)
            && a.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
        {
            // A bundle (`-xzf`, `xzf`): `f` takes the next word as the archive.
            extract |= a.contains('x');
            if a.contains('f') {
                i += 2;
                continue;
            }
        } else if !a.starts_with('-') {
            operands.push(a.to_owned());
        }
        i += 1;
    }
    if extract && let Some(dir) = &dir {
        found.writes.push(format!("{dir}/file"));
    }
    if !extract && let Some(dir) = &dir {
        for op in &operands {
            if !op.starts_with('/') {
                found.reads.push(format!("{dir}/{op}"));
            }
        }
    }
    if remove && !operands.is_empty() {
        found.run(&format!("rm -rf {}", operands.join(" ")), false);
    }
}

/// `rsync --delete SRC DEST` empties DEST of what SRC lacks: into the home directory or `/` it
/// is a recursive deletion of it.
fn rsync_delete(rest: &[Word], found: &mut ToolLook) {
    if !rest.iter().any(|w| w.text.starts_with("--delete")) {
        return;
    }
    if let Some(dest) = rest.iter().rev().find(|w| !w.text.starts_with('-'))
        && matches!(
            dest.text.trim_end_matches('/'),
            "" | "~" | "$HOME" | "/home" | "/root" | "/etc" | "/usr"
        )
    {
        found.run(&format!("rm -rf {}", dest.text), dest.dynamic);
    }
}

/// GNU parallel: `parallel CMD ::: ARGS` runs CMD once per argument (`{}` stands for it).
fn parallel(rest: &[Word], found: &mut ToolLook) {
    let Some(sep) = rest
        .iter()
        .position(|w| w.text == ":::" || w.text == "::::")
    else {
        return;
    };
    let command: Vec<&Word> = rest[..sep]
        .iter()
        .skip_while(|w| w.text.starts_with('-'))
        .collect();
    if command.is_empty() {
        return;
    }
    let text = command
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let dynamic = command.iter().any(|w| w.dynamic);
    for arg in rest[sep + 1..]
        .iter()
        .take_while(|w| !w.text.starts_with(":::"))
    {
        let line = if text.contains("{}") {
            text.replace("{}", &arg.text)
        } else {
            format!("{text} {}", arg.text)
        };
        found.run(&line, dynamic || arg.dynamic);
    }
}

fn rsync(rest: &[Word], found: &mut ToolLook) {
    for i in 0..rest.len() {
        if let Some((cmd, dynamic, _)) = option_value(rest, i, &["-e", "--rsh", "--rsync-path"]) {
            found.run(cmd, dynamic);
        }
    }
}

/// The scripts of sed (`-e SCRIPT`, `--expression=…`, else the first operand).
fn sed(rest: &[Word], found: &mut ToolLook) {
    let mut scripts = Vec::new();
    let mut i = 0;
    let mut operand_script = true;
    while i < rest.len() {
        if let Some((s, _, n)) = option_value(rest, i, &["-e", "--expression"]) {
            scripts.push(s.to_owned());
            operand_script = false;
            i += n;
            continue;
        }
        if let Some((_, _, n)) = option_value(rest, i, &["-f", "--file"]) {
            operand_script = false;
            i += n;
            continue;
        }
        let a = rest[i].text.as_str();
        if a.starts_with('-') && a.len() > 1 {
            i += usize::from(matches!(a, "-l" | "--line-length")) + 1;
            continue;
        }
        if operand_script {
            scripts.push(a.to_owned());
        }
        break;
    }
    for s in scripts {
        sed_script(&s, found);
    }
}

/// Finds sed's `e` (run the pattern space, or a command), `s///e`, and the files of `w`/`W`,
/// `s///w` (written) and `r`/`R` (read).
fn sed_script(script: &str, found: &mut ToolLook) {
    let chars: Vec<char> = script.chars().collect();
    let mut i = 0;
    let rest_of_line = |i: usize| -> (String, usize) {
        let mut j = i;
        while j < chars.len() && chars[j] != '\n' {
            j += 1;
        }
        (chars[i..j].iter().collect::<String>().trim().to_owned(), j)
    };
    while i < chars.len() {
        // Skip separators and an address (`1`, `$`, `/re/`, `1,5`, `/a/,/b/`, `!`).
        while i < chars.len() && (chars[i].is_whitespace() || matches!(chars[i], ';' | '}' | '{')) {
            i += 1;
        }
        loop {
            match chars.get(i) {
                Some(c) if c.is_ascii_digit() || matches!(c, '$' | ',' | '!' | '~' | '+') => i += 1,
                Some('/') => {
                    i += 1;
                    while i < chars.len() && chars[i] != '/' {
                        i += if chars[i] == '\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                _ => break,
            }
        }
        let Some(&cmd) = chars.get(i) else { break };
        i += 1;
        match cmd {
            's' | 'y' => {
                let Some(&delim) = chars.get(i) else { break };
                i += 1;
                for _ in 0..2 {
                    while i < chars.len() && chars[i] != delim {
                        i += if chars[i] == '\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                if cmd == 's' {
                    while let Some(&f) = chars.get(i) {
                        match f {
                            'e' => {
                                found.cannot_follow(
                                    "sed's `e` flag runs the result as a shell command".into(),
                                );
                                i += 1;
                            }
                            'w' => {
                                let (file, j) = rest_of_line(i + 1);
                                found.writes.push(file);
                                i = j;
                                break;
                            }
                            c if c.is_ascii_alphanumeric() => i += 1,
                            _ => break,
                        }
                    }
                }
            }
            'e' => {
                let (command, j) = rest_of_line(i);
                if command.is_empty() {
                    found.cannot_follow("sed's `e` command runs the pattern space".into());
                } else {
                    found.run(&command, false);
                }
                i = j;
            }
            'w' | 'W' => {
                let (file, j) = rest_of_line(i);
                found.writes.push(file);
                i = j;
            }
            'r' | 'R' => {
                let (file, j) = rest_of_line(i);
                found.reads.push(file);
                i = j;
            }
            'a' | 'i' | 'c' | ':' | 'b' | 't' | 'T' => {
                i = rest_of_line(i).1;
            }
            _ => {}
        }
    }
}

static AWK_SYSTEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"system\s*\(\s*("([^"\\]*)"\s*\)|[^)]*\))"#).expect("regex"));
static AWK_PIPE_FROM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"("([^"\\]*)"|[A-Za-z_][A-Za-z0-9_]*)\s*\|\s*getline"#).expect("regex")
});
static AWK_PIPE_TO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"print[f]?[^|;}]*\|&?\s*("([^"\\]*)"|[A-Za-z_][A-Za-z0-9_]*)"#).expect("regex")
});
static AWK_REDIRECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"print[f]?[^>;}|]*>>?\s*("([^"\\]*)"|[A-Za-z_(][^;}]*)"#).expect("regex")
});
static AWK_READ: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"getline[^<;}]*<\s*("([^"\\]*)"|[A-Za-z_(][^;}]*)"#).expect("regex")
});

/// awk's program (the first operand unless `-f`): `system()`, pipes to and from commands,
/// output redirections and `getline < FILE`.
fn awk(rest: &[Word], found: &mut ToolLook) {
    let mut i = 0;
    let mut program = None;
    while i < rest.len() {
        let a = rest[i].text.as_str();
        if matches!(a, "-f" | "--file")
            || (a.starts_with("-f") && a.len() > 2 && !a.starts_with("--"))
        {
            return;
        }
        if matches!(
            a,
            "-v" | "-F" | "--assign" | "--field-separator" | "-i" | "--include" | "-l" | "--load"
        ) {
            if matches!(a, "-l" | "--load") {
                found.cannot_follow("`awk -l` loads a shared object".into());
            }
            i += 2;
            continue;
        }
        if a == "--" {
            program = rest.get(i + 1);
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            i += 1;
            continue;
        }
        program = Some(&rest[i]);
        break;
    }
    let Some(program) = program else { return };
    let code = program.text.as_str();
    for c in AWK_SYSTEM.captures_iter(code) {
        match c.get(2) {
            Some(cmd) => found.run(cmd.as_str(), false),
            None => {
                found.cannot_follow("awk's `system()` runs a command computed at run time".into());
            }
        }
    }
    for re in [&*AWK_PIPE_FROM, &*AWK_PIPE_TO] {
        for c in re.captures_iter(code) {
            match c.get(2) {
                Some(cmd) => found.run(cmd.as_str(), false),
                None => found
                    .cannot_follow("awk pipes to or from a command computed at run time".into()),
            }
        }
    }
    for c in AWK_REDIRECT.captures_iter(code) {
        match (c.get(2), awk_literal_directory(&c[1])) {
            (Some(file), _) => found.writes.push(file.as_str().to_owned()),
            // `print > ("out/" $1 ".txt")`: a file in a written-out relative directory.
            (None, Some(dir)) => found.writes.push(format!("{dir}/file")),
            (None, None) => found.cannot_follow("awk writes to a file computed at run time".into()),
        }
    }
    for c in AWK_READ.captures_iter(code) {
        if let Some(file) = c.get(2) {
            found.reads.push(file.as_str().to_owned());
        }
    }
}

/// The directory of an awk output expression that starts with a written-out relative directory
/// (`("out/" $1 ".txt")` → `out`): no `..`, not absolute, not `~`.
fn awk_literal_directory(target: &str) -> Option<&str> {
    let lit = target.trim_start_matches(['(', ' ']).strip_prefix('"')?;
    let lit = &lit[..lit.find('"')?];
    let dir = lit.rsplit_once('/')?.0;
    let ok = !dir.is_empty()
        && !dir.starts_with(['/', '~', '$'])
        && !dir.split('/').any(|c| c == ".." || c.is_empty());
    ok.then_some(dir)
}

/// An editor command (`:!cmd`, `:r !cmd`, `:lua …`, `:py3 …`, `call system(…)`).
fn editor_command(cmd: &str, found: &mut ToolLook) {
    let cmd = cmd.trim_start_matches([':', ' ']);
    if let Some(shell) = cmd.strip_prefix('!') {
        found.run(shell, false);
        return;
    }
    for prefix in [
        "r !", "r!", "read !", "w !", "w!", "write !", "silent !", "silent!", "exe '!",
    ] {
        if let Some(shell) = cmd.strip_prefix(prefix) {
            found.run(shell.trim_end_matches('\''), false);
            return;
        }
    }
    for prefix in ["term ", "terminal "] {
        if let Some(shell) = cmd.strip_prefix(prefix) {
            found.run(shell, false);
            return;
        }
    }
    let language = if cmd.starts_with("lua") {
        "lua"
    } else if cmd.starts_with("py") {
        "python3"
    } else if cmd.starts_with("perl") {
        "perl"
    } else if cmd.starts_with("ruby") {
        "ruby"
    } else {
        "vim"
    };
    let inner = crate::code::look(language, cmd);
    for c in inner.commands {
        found.run(&c, false);
    }
    if let Some(why) = inner.unverifiable {
        found.cannot_follow(why);
    }
}

fn vim(rest: &[Word], found: &mut ToolLook) {
    let mut i = 0;
    while i < rest.len() {
        let w = &rest[i];
        if let Some((cmd, dynamic, n)) = option_value(rest, i, &["-c", "--cmd"]) {
            if dynamic {
                found.cannot_follow("the editor runs a command computed at run time".into());
            } else {
                editor_command(cmd, found);
            }
            i += n;
            continue;
        }
        if let Some(cmd) = w
            .text
            .strip_prefix('+')
            .filter(|c| !c.is_empty() && !c.starts_with(|c: char| c.is_ascii_digit() || c == '/'))
        {
            editor_command(cmd, found);
        }
        i += 1;
    }
}

fn gdb(rest: &[Word], found: &mut ToolLook) {
    for i in 0..rest.len() {
        if let Some((cmd, dynamic, _)) = option_value(
            rest,
            i,
            &["-ex", "--ex", "-iex", "--eval-command", "-eval-command"],
        ) {
            let cmd = cmd.trim_start();
            if dynamic {
                found.cannot_follow("gdb runs a command computed at run time".into());
            } else if let Some(shell) = cmd.strip_prefix('!').or_else(|| cmd.strip_prefix("shell "))
            {
                found.run(shell, false);
            } else if cmd.starts_with("python") || cmd.starts_with("pi ") {
                let inner = crate::code::look("python3", cmd);
                for c in inner.commands {
                    found.run(&c, false);
                }
                if let Some(why) = inner.unverifiable {
                    found.cannot_follow(why);
                }
            }
        }
    }
}

fn emacs(rest: &[Word], found: &mut ToolLook) {
    for i in 0..rest.len() {
        if let Some((expr, _, _)) = option_value(rest, i, &["--eval", "-eval", "--execute"])
            && let Some(why) = crate::code::look("emacs", expr).unverifiable
        {
            found.cannot_follow(why);
        }
    }
}

static SQL_FILE_CALL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(readfile|writefile|read_text|read_blob|read_csv|read_json|read_parquet)\s*\(\s*'([^']*)'"#)
        .expect("regex")
});

fn sqlite(rest: &[Word], found: &mut ToolLook) {
    for (i, w) in rest.iter().enumerate() {
        let text = w.text.trim();
        let is_cmd_option = i > 0 && matches!(rest[i - 1].text.as_str(), "-cmd" | "-c" | "-s");
        if !is_cmd_option && i == 0 {
            // The database file.
            if !text.starts_with('.') && !text.contains(' ') {
                continue;
            }
        }
        for line in text.lines() {
            let line = line.trim();
            if let Some(dot) = line.strip_prefix('.') {
                let (name, arg) = dot.split_once(char::is_whitespace).unwrap_or((dot, ""));
                let arg = arg.trim();
                match name {
                    "shell" | "system" => found.run(arg, w.dynamic),
                    "output" | "once" | "excel" => match arg.strip_prefix('|') {
                        Some(cmd) => found.run(cmd, w.dynamic),
                        None if !arg.is_empty() && arg != "stdout" => {
                            found.writes.push(arg.trim_matches(['\'', '"']).to_owned());
                        }
                        None => {}
                    },
                    "load" => found.cannot_follow("sqlite's `.load` loads a shared object".into()),
                    _ => {}
                }
            }
        }
        if text.to_ascii_lowercase().contains("load_extension") {
            found.cannot_follow("SQL `load_extension` loads a shared object".into());
        }
        for c in SQL_FILE_CALL.captures_iter(text) {
            let file = c[2].to_owned();
            if c[1].eq_ignore_ascii_case("writefile") {
                found.writes.push(file);
            } else {
                found.reads.push(file);
            }
        }
    }
}

fn make(rest: &[Word], found: &mut ToolLook) {
    for i in 0..rest.len() {
        let a = rest[i].text.as_str();
        if a == "-E" || a == "--eval" || a.starts_with("--eval=") {
            found.cannot_follow("`make --eval` runs a makefile given on the command line".into());
        }
        if let Some((file, _, _)) = option_value(rest, i, &["-f", "--file", "--makefile"])
            && matches!(file, "-" | "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0")
        {
            found.cannot_follow("make reads its makefile from standard input".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(parts: &[&str]) -> Vec<Word> {
        parts
            .iter()
            .map(|p| Word {
                text: (*p).to_owned(),
                ..Word::default()
            })
            .collect()
    }

    fn runs(program: &str, parts: &[&str]) -> Vec<String> {
        look(program, &words(parts))
            .map(|l| l.shell.into_iter().map(|(s, _)| s).collect())
            .unwrap_or_default()
    }

    #[test]
    fn command_lines_handed_to_other_programs() {
        assert_eq!(runs("ssh", &["-p", "22", "host", "rm -rf ~"]), ["rm -rf ~"]);
        assert!(runs("ssh", &["-N", "-L", "5432:localhost:5432", "host"]).is_empty());
        assert_eq!(
            runs("tmux", &["new-session", "-d", "-s", "x", "rm -rf ~"]),
            ["rm -rf ~"]
        );
        assert_eq!(
            runs("tmux", &["send-keys", "-t", "dev", "rm -rf ~", "Enter"]),
            ["rm -rf ~"]
        );
        assert!(runs("tmux", &["attach", "-t", "dev"]).is_empty());
        // Key names are compared without slicing through a multi-byte character.
        assert_eq!(runs("tmux", &["send-keys", "€x", "Enter"]), ["€x"]);
        assert_eq!(runs("git", &["-c", "alias.x=!rm -rf ~", "x"]), ["rm -rf ~"]);
        assert_eq!(
            runs("git", &["-c", "alias.p=push --force", "p"]),
            ["git push --force "]
        );
        assert_eq!(runs("git", &["-c", "core.pager=cat", "log"]), ["cat"]);
        assert_eq!(
            runs("git", &["config", "alias.st", "!rm -rf ~"]),
            ["rm -rf ~"]
        );
        assert!(runs("git", &["config", "user.name", "x"]).is_empty());
        assert_eq!(
            runs("tar", &["-xf", "x.tar", "--to-command=sh -c x"]),
            ["sh -c x"]
        );
        assert_eq!(
            runs(
                "tar",
                &["-cf", "/dev/null", "x", "--checkpoint-action=exec=rm -rf ~"]
            ),
            ["rm -rf ~"]
        );
        assert_eq!(
            runs("rsync", &["-e", "ssh -p 2222", "a", "b:"]),
            ["ssh -p 2222"]
        );
        assert_eq!(
            runs("vim", &["-es", "-c", "!rm -rf ~", "-c", "q"]),
            ["rm -rf ~"]
        );
        assert_eq!(
            runs("gdb", &["-batch", "-ex", "shell rm -rf ~"]),
            ["rm -rf ~"]
        );
        assert_eq!(
            runs("sqlite3", &[":memory:", ".shell rm -rf ~"]),
            ["rm -rf ~"]
        );
    }

    #[test]
    fn sed_and_awk_programs() {
        let l = look("sed", &words(&["s/.*/rm -rf ~/e"])).unwrap();
        assert!(l.unverifiable.is_some());
        let l = look("sed", &words(&["-n", "w /home/user/.bashrc", "payload"])).unwrap();
        assert_eq!(l.writes, ["/home/user/.bashrc"]);
        assert_eq!(look("sed", &words(&["-i", "s/a/b/g", "file"])), None);
        assert_eq!(
            look("sed", &words(&["-n", "/^version/p", "Cargo.toml"])),
            None
        );
        assert_eq!(runs("awk", &["BEGIN{system(\"rm -rf ~\")}"]), ["rm -rf ~"]);
        let l = look("awk", &words(&["-v", "c=x", "BEGIN{system(c)}"])).unwrap();
        assert!(l.unverifiable.is_some());
        let l = look("awk", &words(&["{print > \"/home/user/.bashrc\"}", "f"])).unwrap();
        assert_eq!(l.writes, ["/home/user/.bashrc"]);
        let l = look(
            "awk",
            &words(&["BEGIN{while((getline l < \"/home/user/.ssh/id_rsa\")>0) print l}"]),
        )
        .unwrap();
        assert_eq!(l.reads, ["/home/user/.ssh/id_rsa"]);
        assert_eq!(look("awk", &words(&["{print $1}", "file"])), None);
        let l = look("awk", &words(&["-F:", "{ print $1 > \"out.txt\" }"])).unwrap();
        assert_eq!(l.writes, ["out.txt"]);
    }
}
