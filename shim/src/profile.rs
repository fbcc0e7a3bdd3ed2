//! The containment profile of an agent's command: which paths it may read, and which it may
//! write, as a list of rules for the kernel (Landlock, applied by `contain.rs`).
//!
//! No system calls beyond reading directories and `stat`: this file is shared with the daemon
//! (`safeshell contain --print` includes it with `#[path]`), so what is printed is what the shim
//! applies.
//!
//! Landlock grants access to whole hierarchies and cannot take part of one back, so "read
//! everything except the secrets" is built by walking: every entry of `/` is granted read, except
//! an entry that holds a protected path, which is walked in turn (the home directory's parent
//! chain, the home directory, `~/.config`). The protected paths themselves get nothing. Writes are
//! granted on the project checkout, temporary directories, a few devices and the caches that
//! ordinary development writes; a writable place that holds a protected path is left read-only
//! (so a home directory under `/tmp` keeps `/tmp` from being writable).

use std::path::{Path, PathBuf};

/// Secrets in the home directory: the kernel refuses every access to them (reads included).
/// `.ssh` is protected whole (public keys and `known_hosts` too): simplest, and a contained
/// command has no business with any of it.
pub const SECRETS: &[&str] = &[
    ".ssh",
    ".aws",
    ".gnupg",
    ".kube",
    ".docker",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".password-store",
    ".config/gh",
    ".config/gcloud",
    ".azure",
    ".vault-token",
    ".pgpass",
];

/// Home-relative places ordinary development writes (build and package caches).
pub const HOME_WRITABLE: &[&str] = &[".cache", ".cargo/registry", ".cargo/git", ".npm"];

/// System places a contained command may write: temporary directories and devices.
pub const SYSTEM_WRITABLE: &[&str] = &[
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/dev/pts",
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
];

/// Directories that are never a project: a command run in one of them gets no project writes.
pub const NOT_PROJECTS: &[&str] = &[
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/boot",
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/lib",
    "/var/spool",
    "/var/log",
];

/// What a rule grants beneath its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// List directories only (a directory that holds a protected path).
    List,
    /// Read files, list directories, execute.
    Read,
    /// Read, and `ioctl` on devices (`/dev`: terminals must work).
    Device,
    /// Read, write, create, remove, rename (within writable places), truncate.
    Write,
}

impl Grant {
    /// A short name for `safeshell contain --print`.
    pub fn name(self) -> &'static str {
        match self {
            Grant::List => "list",
            Grant::Read => "read",
            Grant::Device => "read+ioctl",
            Grant::Write => "write",
        }
    }
}

/// One path and what is granted beneath it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The path (opened, following symbolic links, when the rule is applied).
    pub path: PathBuf,
    /// What is granted.
    pub grant: Grant,
    /// Whether it is a directory (a file may only be given file rights).
    pub dir: bool,
    /// Why, for `--print`.
    pub why: &'static str,
}

/// A whole profile.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// The rules, in the order they are applied.
    pub rules: Vec<Rule>,
    /// The project checkout made writable, if any.
    pub project: Option<PathBuf>,
    /// Paths kept from reading (protected secrets found).
    pub protected: Vec<PathBuf>,
    /// What was left out and why, for `--print`.
    pub notes: Vec<String>,
    /// Refuse binding TCP ports (no listeners; set from `Containment::no_listen`, not by
    /// [`build`]).
    pub no_listen: bool,
}

/// What a profile is built from. `home` and `state_dir` come from the daemon (never from the
/// command's environment, which the agent controls); `cwd` is the command's directory.
pub struct Inputs<'a> {
    /// The user's home directory.
    pub home: &'a Path,
    /// SafeShell's state directory (readable, never writable).
    pub state_dir: &'a Path,
    /// The command's working directory.
    pub cwd: &'a Path,
    /// Extra writable paths (config `containment_writable`; `~/` expands to the home).
    pub writable: &'a [String],
    /// Extra readable paths, even among the secrets (config `containment_readable`).
    pub readable: &'a [String],
}

fn expand(home: &Path, p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if p == "~" => home.to_path_buf(),
        None => PathBuf::from(p),
    }
}

/// The project root for `cwd`: the nearest directory up from it holding `.git`, else `cwd`.
/// The walk stops below the home directory (a home kept in git is not a project).
pub fn project_root(cwd: &Path, home: &Path) -> PathBuf {
    let mut dir = cwd;
    loop {
        if home.starts_with(dir) {
            return cwd.to_path_buf();
        }
        if std::fs::symlink_metadata(dir.join(".git")).is_ok() {
            return dir.to_path_buf();
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return cwd.to_path_buf(),
        }
    }
}

/// Why `root` may not be a writable project, if it may not.
fn refuse_project(root: &Path, homes: &[PathBuf], guarded: &[PathBuf]) -> Option<String> {
    if root.as_os_str().is_empty() || !root.is_absolute() {
        return Some("not an absolute path".into());
    }
    for home in homes {
        if home.starts_with(root) {
            return Some("the home directory or a directory above it".into());
        }
        if let Ok(rest) = root.strip_prefix(home)
            && rest
                .components()
                .next()
                .is_some_and(|c| c.as_os_str().as_encoded_bytes().starts_with(b"."))
        {
            return Some("inside a hidden directory of the home (settings, not a project)".into());
        }
    }
    if let Some(g) = guarded.iter().find(|g| root.starts_with(g)) {
        return Some(format!("inside protected {}", g.display()));
    }
    if let Some(s) = NOT_PROJECTS.iter().find(|s| root.starts_with(s)) {
        return Some(format!("inside the system directory {s}"));
    }
    None
}

/// Builds the profile. Missing paths are skipped; nothing here fails.
pub fn build(inputs: &Inputs<'_>) -> Profile {
    let home = inputs.home;
    let mut homes = vec![home.to_path_buf()];
    if let Ok(c) = std::fs::canonicalize(home)
        && c != home
    {
        homes.push(c);
    }
    let readable: Vec<PathBuf> = inputs.readable.iter().map(|p| expand(home, p)).collect();
    // Protected from reading: the secrets (in every spelling of the home), minus those the user
    // made readable.
    let mut excluded: Vec<PathBuf> = homes
        .iter()
        .flat_map(|h| SECRETS.iter().map(move |s| h.join(s)))
        .filter(|p| !readable.iter().any(|r| r == p))
        .collect();
    let mut profile = Profile::default();
    // A secret that is a symbolic link: its target is protected too.
    for s in excluded.clone() {
        if std::fs::symlink_metadata(&s).is_ok_and(|m| m.file_type().is_symlink())
            && let Ok(target) = std::fs::canonicalize(&s)
        {
            excluded.push(target);
        }
    }
    // The home directories were walked once each; the walk of `/` must not grant them whole.
    let mut handled: Vec<PathBuf> = excluded.clone();
    for h in &homes {
        walk(h, &excluded, &mut profile);
        handled.push(h.clone());
    }
    if !homes.iter().any(|h| h == Path::new("/")) {
        walk(Path::new("/"), &handled, &mut profile);
    }
    for r in &readable {
        if let Ok(m) = std::fs::metadata(r) {
            profile.rules.push(Rule {
                path: r.clone(),
                grant: Grant::Read,
                dir: m.is_dir(),
                why: "containment_readable",
            });
        }
    }
    profile.protected = excluded
        .iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .cloned()
        .collect();

    // Writes.
    let state = inputs.state_dir.to_path_buf();
    let mut guarded: Vec<PathBuf> = excluded.clone();
    guarded.push(state.clone());
    guarded.extend(homes.iter().map(|h| h.join(".safeshell")));
    if let Ok(c) = std::fs::canonicalize(&state) {
        guarded.push(c);
    }
    let root = project_root(inputs.cwd, home);
    match refuse_project(&root, &homes, &guarded) {
        None => {
            profile.project = Some(root.clone());
            write(
                &mut profile,
                root.clone(),
                "project checkout",
                &homes,
                &guarded,
            );
            if let Some(gitdir) = linked_git_dir(&root)
                && refuse_project(&gitdir, &homes, &guarded).is_none()
            {
                write(&mut profile, gitdir, "git directory", &homes, &guarded);
            }
        }
        Some(why) => profile
            .notes
            .push(format!("no project writes: {} is {why}", root.display())),
    }
    for s in SYSTEM_WRITABLE {
        write(
            &mut profile,
            PathBuf::from(s),
            "temporary or device",
            &homes,
            &guarded,
        );
    }
    for h in HOME_WRITABLE {
        write(&mut profile, home.join(h), "cache", &homes, &guarded);
    }
    for w in inputs.writable {
        write(
            &mut profile,
            expand(home, w),
            "containment_writable",
            &homes,
            &guarded,
        );
    }
    profile
}

/// The shared git directory of a worktree or submodule (`.git` is a file naming it).
fn linked_git_dir(root: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(root.join(".git")).ok()?;
    let dir = text.strip_prefix("gitdir:")?.trim();
    let dir = root.join(dir);
    // `…/.git/worktrees/NAME` → `…/.git` (objects and refs live there).
    let common = match dir.parent() {
        Some(p) if p.file_name().is_some_and(|n| n == "worktrees") => p.parent()?.to_path_buf(),
        _ => dir,
    };
    std::fs::canonicalize(common).ok()
}

/// Adds a write rule unless the path is missing or holds something protected (granting it would
/// grant the protected path too, the home directory included).
fn write(
    profile: &mut Profile,
    path: PathBuf,
    why: &'static str,
    homes: &[PathBuf],
    guarded: &[PathBuf],
) {
    let Ok(meta) = std::fs::metadata(&path) else {
        return;
    };
    if let Some(g) = guarded.iter().chain(homes).find(|g| g.starts_with(&path)) {
        profile.notes.push(format!(
            "{} ({why}) stays read-only: it holds {}",
            path.display(),
            g.display()
        ));
        return;
    }
    profile.rules.push(Rule {
        path,
        grant: Grant::Write,
        dir: meta.is_dir(),
        why,
    });
}

/// Grants read on every entry of `dir` except the excluded paths; an entry holding an excluded
/// path gets directory listing only and is walked in turn.
fn walk(dir: &Path, excluded: &[PathBuf], profile: &mut Profile) {
    // Listing this directory (and, as Landlock grants by hierarchy, every directory beneath it:
    // names in `~/.ssh` can be listed, never read).
    profile.rules.push(Rule {
        path: dir.to_path_buf(),
        grant: Grant::List,
        dir: true,
        why: "holds a protected path",
    });
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if excluded.contains(&path) {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let mut is_dir = kind.is_dir();
        if kind.is_symlink() {
            // Granting a link grants its target: skip one that leads to (or above) a protected
            // path; the target is reached by its own path if it may be.
            let Ok(target) = std::fs::canonicalize(&path) else {
                continue;
            };
            if excluded
                .iter()
                .any(|e| e.starts_with(&target) || target.starts_with(e))
            {
                continue;
            }
            is_dir = target.is_dir();
        } else if is_dir && excluded.iter().any(|e| e.starts_with(&path)) {
            walk(&path, excluded, profile);
            continue;
        }
        let grant = if path == Path::new("/dev") {
            Grant::Device
        } else {
            Grant::Read
        };
        profile.rules.push(Rule {
            path,
            grant,
            dir: is_dir,
            why: "read",
        });
    }
}

/// The profile as text, one rule a line (for `safeshell contain --print`).
pub fn describe(profile: &Profile) -> String {
    let mut out = String::new();
    match &profile.project {
        Some(p) => out.push_str(&format!("project: {}\n", p.display())),
        None => out.push_str("project: none (no project writes)\n"),
    }
    for p in &profile.protected {
        out.push_str(&format!("protected (no access): {}\n", p.display()));
    }
    for r in &profile.rules {
        out.push_str(&format!(
            "{:<10} {}  ({})\n",
            r.grant.name(),
            r.path.display(),
            r.why
        ));
    }
    if profile.no_listen {
        out.push_str(
            "network: binding TCP ports is refused (containment_listen = false; Landlock ABI 4+)\n",
        );
    }
    for n in &profile.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        for d in [
            ".ssh",
            ".config/gh",
            ".config/ok",
            ".safeshell",
            "code/app/.git",
            ".cache",
        ] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        std::fs::write(home.join(".ssh/id"), "k").unwrap();
        std::fs::write(home.join(".bashrc"), "rc").unwrap();
        let cwd = home.join("code/app");
        std::fs::create_dir_all(cwd.join("src")).unwrap();
        (dir, home, cwd)
    }

    fn grants(p: &Profile, path: &Path) -> Vec<Grant> {
        p.rules
            .iter()
            .filter(|r| path.starts_with(&r.path))
            .map(|r| r.grant)
            .collect()
    }

    #[test]
    fn secrets_get_nothing_but_listing_and_the_project_is_writable() {
        let (_dir, home, cwd) = tree();
        let p = build(&Inputs {
            home: &home,
            state_dir: &home.join(".safeshell"),
            cwd: &cwd.join("src"),
            writable: &["~".to_owned(), "~/.config/ok".to_owned()],
            readable: &[],
        });
        assert_eq!(p.project.as_deref(), Some(cwd.as_path()));
        for secret in [".ssh/id", ".config/gh/hosts.yml"] {
            let g = grants(&p, &home.join(secret));
            assert!(g.iter().all(|g| *g == Grant::List), "{secret}: {g:?}");
        }
        assert!(grants(&p, &home.join(".bashrc")).contains(&Grant::Read));
        assert!(!grants(&p, &home.join(".bashrc")).contains(&Grant::Write));
        assert!(!grants(&p, &home.join(".safeshell/rules.toml")).contains(&Grant::Write));
        assert!(grants(&p, &cwd.join("src/main.rs")).contains(&Grant::Write));
        assert!(grants(&p, &home.join(".cache/x")).contains(&Grant::Write));
        assert!(grants(&p, &home.join(".config/ok/x")).contains(&Grant::Write));
        // `~` as an extra writable place holds the secrets: refused, with a note.
        assert!(
            p.notes.iter().any(|n| n.contains("stays read-only")),
            "{:?}",
            p.notes
        );
        assert!(p.protected.contains(&home.join(".ssh")));
    }

    #[test]
    fn readable_extras_reopen_a_secret() {
        let (_dir, home, cwd) = tree();
        let p = build(&Inputs {
            home: &home,
            state_dir: &home.join(".safeshell"),
            cwd: &cwd,
            writable: &[],
            readable: &["~/.config/gh".to_owned()],
        });
        assert!(grants(&p, &home.join(".config/gh/hosts.yml")).contains(&Grant::Read));
        assert!(!grants(&p, &home.join(".ssh/id")).contains(&Grant::Read));
    }

    #[test]
    fn the_home_its_settings_and_the_system_are_never_projects() {
        let (_dir, home, _) = tree();
        let state = home.join(".safeshell");
        for cwd in [
            home.clone(),
            home.join(".ssh"),
            home.join(".config/ok"),
            state.clone(),
            PathBuf::from("/"),
            PathBuf::from("/etc"),
        ] {
            let p = build(&Inputs {
                home: &home,
                state_dir: &state,
                cwd: &cwd,
                writable: &[],
                readable: &[],
            });
            assert_eq!(p.project, None, "{}", cwd.display());
        }
        // A repository above the home (a home kept in git) is not the project either.
        assert_eq!(project_root(&home.join("notes"), &home), home.join("notes"));
    }
}
