//! The test's side of the sandbox: the stub directory, a work directory per run, starting
//! `bash-sandbox` and reading back what the stubs recorded.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Builtins switched off (`enable -n`) in every bash of the sandbox, so that the stub of the
/// same name runs and is recorded: the engine treats them as programs, and running the stub
/// instead changes nothing about which commands run (only `true`/`false` exit as the run asks).
pub const DISABLED_BUILTINS: &[&str] = &[
    "echo", "printf", "test", "[", "kill", "pwd", "true", "false", "type", "umask", "ulimit",
    "times",
];

/// Builtins left on (they change the shell's own state, or run other commands the way bash
/// does: `cd`, `eval`, `exec`, `command`, `trap`…) and keywords. A segment naming one of them
/// is never recorded, so it is not expected to be.
pub const KEPT_BUILTINS: &[&str] = &[
    ".",
    ":",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "declare",
    "dirs",
    "disown",
    "enable",
    "eval",
    "exec",
    "exit",
    "export",
    "fc",
    "fg",
    "getopts",
    "hash",
    "help",
    "history",
    "jobs",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "pushd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "trap",
    "typeset",
    "unalias",
    "unset",
    "wait",
    // Keywords.
    "[[",
    "]]",
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "case",
    "esac",
    "for",
    "select",
    "while",
    "until",
    "do",
    "done",
    "in",
    "function",
    "time",
    "{",
    "}",
    "!",
    "coproc",
];

/// The stub bash's `command_not_found_handle` runs; its records say "not found".
const NOT_FOUND_STUB: &str = "__safeshell_not_found";

/// Programs that always get a stub, besides every program the engine names.
pub const COMMON_PROGRAMS: &[&str] = &[
    "awk", "base64", "basename", "bash", "cat", "chmod", "chown", "cp", "curl", "cut", "date",
    "dd", "diff", "dirname", "docker", "env", "find", "git", "grep", "gzip", "head", "id",
    "kubectl", "ln", "ls", "make", "mkdir", "mktemp", "mv", "nc", "nohup", "npm", "perl", "python",
    "python3", "readlink", "rev", "rm", "rmdir", "sed", "seq", "sh", "sleep", "sort", "ssh",
    "stat", "sudo", "tail", "tar", "tee", "timeout", "touch", "tr", "uname", "uniq", "wc", "wget",
    "which", "xargs", "yes", "zsh",
];

/// What one stub invocation recorded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Record {
    /// Bash found no such program; its `command_not_found_handle` recorded the words.
    pub not_found: bool,
    /// The program (the stub's name, or the word bash looked up).
    pub program: String,
    /// The arguments.
    pub args: Vec<String>,
}

impl Record {
    /// The record as a command line.
    pub fn text(&self) -> String {
        let mut s = safeshell_rules::segment::quote(&self.program);
        for a in &self.args {
            s.push(' ');
            s.push_str(&safeshell_rules::segment::quote(a));
        }
        if self.not_found {
            s.push_str("   [command not found]");
        }
        s
    }
}

/// What a run produced.
pub struct Run {
    /// Every record, sorted.
    pub records: Vec<Record>,
    /// The launcher killed bash after the timeout.
    pub timed_out: bool,
    /// Bash's exit status.
    pub status: Option<i32>,
    /// What bash printed on its standard output and error.
    pub stdout: String,
    pub stderr: String,
}

/// The sandbox's directories; everything lives in one temporary directory.
pub struct Sandbox {
    root: tempfile::TempDir,
    stubs: PathBuf,
    bash: PathBuf,
    next: AtomicUsize,
    /// Milliseconds before a run is killed.
    pub timeout_ms: u64,
    /// The uid and gid commands run as: `nobody` unless `SAFESHELL_DIFF_UID` says otherwise.
    uid: u32,
}

/// The home directory the engine assumes (the corpus's default); the sandbox's home is
/// rewritten to it in records.
pub const ENGINE_HOME: &str = "/home/user";

/// The working directory the engine assumes; the sandbox's is rewritten to it in records.
pub const ENGINE_CWD: &str = "/home/user/project";

impl Sandbox {
    /// Builds the stub directory with a stub for each program. `Err` says why the sandbox
    /// cannot work here (the test is then skipped).
    pub fn new<'a>(programs: impl IntoIterator<Item = &'a str>) -> Result<Sandbox, String> {
        if !cfg!(target_os = "linux") {
            return Err("the sandbox needs Linux (network namespaces, Landlock)".into());
        }
        let bash = fs::canonicalize("/bin/bash").map_err(|e| format!("no /bin/bash: {e}"))?;
        let root = tempfile::Builder::new()
            .prefix("safeshell-differential-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        // `nobody` must traverse it to reach the stubs and its work directory.
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let stubs = root.path().join("stubs");
        fs::create_dir(&stubs).map_err(|e| e.to_string())?;
        let recorder = stubs.join(".recorder");
        fs::copy(env!("CARGO_BIN_EXE_bash-sandbox"), &recorder)
            .map_err(|e| format!("copying the recorder: {e}"))?;
        fs::set_permissions(&recorder, fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let mut names: Vec<&str> = programs
            .into_iter()
            .chain(COMMON_PROGRAMS.iter().copied())
            .chain(DISABLED_BUILTINS.iter().copied())
            .chain([NOT_FOUND_STUB])
            .filter(|n| stub_name_ok(n))
            .collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            fs::hard_link(&recorder, stubs.join(name)).map_err(|e| format!("stub {name}: {e}"))?;
        }
        let disabled: Vec<String> = DISABLED_BUILTINS
            .iter()
            .map(|b| safeshell_rules::segment::quote_strict(b))
            .collect();
        let bashenv = format!(
            // By path: a command that changes `PATH` must not make the handler recurse.
            "enable -n {}\ncommand_not_found_handle() {{ {} \"$@\"; }}\n",
            disabled.join(" "),
            safeshell_rules::segment::quote_strict(&stubs.join(NOT_FOUND_STUB).to_string_lossy())
        );
        fs::write(stubs.join(".bashenv"), bashenv).map_err(|e| e.to_string())?;
        fs::set_permissions(&stubs, fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        Ok(Sandbox {
            root,
            stubs,
            bash,
            next: AtomicUsize::new(0),
            timeout_ms: 3000,
            uid: std::env::var("SAFESHELL_DIFF_UID")
                .ok()
                .and_then(|u| u.parse().ok())
                .unwrap_or(65534),
        })
    }

    /// The stub directory (`$PATH` inside the sandbox).
    pub fn stubs(&self) -> &Path {
        &self.stubs
    }

    /// Runs a command in the sandbox; the stubs exit with `exit`. `Err` when the sandbox could
    /// not be built (the launcher refused) or the launcher failed.
    pub fn run(&self, command: &str, exit: u8) -> Result<Run, String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let work = self.root.path().join(format!("run-{n}"));
        let home = work.join("home");
        let log = work.join("log");
        for dir in [&work, &work.join("cwd"), &home, &log] {
            fs::create_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::os::unix::fs::chown(dir, Some(self.uid), Some(self.uid))
                .map_err(|e| e.to_string())?;
        }
        let out_path = self.root.path().join(format!("run-{n}.out"));
        let err_path = self.root.path().join(format!("run-{n}.err"));
        let out = fs::File::create(&out_path).map_err(|e| e.to_string())?;
        let err = fs::File::create(&err_path).map_err(|e| e.to_string())?;
        let status = Command::new(env!("CARGO_BIN_EXE_bash-sandbox"))
            .arg("--work")
            .arg(&work)
            .arg("--stubs")
            .arg(&self.stubs)
            .arg("--bash")
            .arg(&self.bash)
            .arg("--exit")
            .arg(exit.to_string())
            .arg("--uid")
            .arg(self.uid.to_string())
            .arg("--timeout-ms")
            .arg(self.timeout_ms.to_string())
            .arg("--")
            .arg(command)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| format!("starting bash-sandbox: {e}"))?;
        let read =
            |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
        let stdout = read(&out_path);
        let stderr = read(&err_path);
        if status.code() == Some(125)
            && let Some(why) = stderr
                .lines()
                .find_map(|l| l.strip_prefix("bash-sandbox: unavailable: "))
        {
            return Err(format!("the sandbox cannot be built here: {why}"));
        }
        let mut records = Vec::new();
        let home_text = home.to_string_lossy().into_owned();
        let cwd_text = work.join("cwd").to_string_lossy().into_owned();
        if let Ok(entries) = fs::read_dir(&log) {
            for entry in entries.flatten() {
                let bytes = fs::read(entry.path()).unwrap_or_default();
                if let Some(r) = parse_record(&bytes, &home_text, &cwd_text) {
                    records.push(r);
                }
            }
        }
        records.sort();
        let _ = fs::remove_dir_all(&work);
        let _ = fs::remove_file(&out_path);
        let _ = fs::remove_file(&err_path);
        Ok(Run {
            records,
            timed_out: stderr.contains("bash-sandbox: status=timeout"),
            status: status.code(),
            stdout,
            stderr,
        })
    }
}

fn stub_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && !name.contains(['/', '\0'])
        && !KEPT_BUILTINS.contains(&name)
}

/// A record file: kind, program, arguments, each NUL-terminated. The sandbox's home directory
/// is rewritten to [`ENGINE_HOME`] and its working directory to [`ENGINE_CWD`].
fn parse_record(bytes: &[u8], home: &str, cwd: &str) -> Option<Record> {
    let mut fields: Vec<String> = bytes
        .split(|&b| b == 0)
        .map(|f| {
            String::from_utf8_lossy(f)
                .replace(cwd, ENGINE_CWD)
                .replace(home, ENGINE_HOME)
        })
        .collect();
    // The last field's terminator leaves an empty piece.
    if fields.last().is_some_and(String::is_empty) {
        fields.pop();
    }
    if fields.len() < 2 {
        return None;
    }
    let args = fields.split_off(2);
    Some(Record {
        not_found: fields[0] == "n",
        program: fields[1].clone(),
        args,
    })
}
