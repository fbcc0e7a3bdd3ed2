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
//!
//! Rule files may add restrictions (`[containment] protect` and `read_only`). A restricted path
//! inside a writable place (a repository's `secrets/` in its checkout) is carved out the same way:
//! the directories that hold it are walked, each other entry is granted, and those directories
//! themselves get no write rights (a contained command may change the files in them, but not
//! create, delete or rename entries there).

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
    /// The directories whose entries were granted one by one, with their modification time
    /// before they were read: a change to one (an entry created or removed) makes the profile
    /// stale.
    pub walked: Vec<(PathBuf, Option<std::time::SystemTime>)>,
}

impl Profile {
    /// Whether a walked directory changed since the profile was built.
    pub fn is_stale(&self) -> bool {
        self.walked
            .iter()
            .any(|(dir, mtime)| modified(dir) != *mtime)
    }
}

fn modified(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(dir).and_then(|m| m.modified()).ok()
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
    /// Paths kept from reading and writing (`[containment] protect` in rule files).
    pub protect: &'a [String],
    /// Paths kept from writing (`[containment] read_only` in rule files).
    pub read_only: &'a [String],
}

impl<'a> Inputs<'a> {
    /// The inputs the daemon sent with an allowed command (`cwd` is the command's directory).
    pub fn from_wire(c: &'a safeshell_protocol::Containment, cwd: &'a Path) -> Inputs<'a> {
        Inputs {
            home: Path::new(&c.home),
            state_dir: Path::new(&c.state_dir),
            cwd,
            writable: &c.writable,
            readable: &c.readable,
            protect: &c.protect,
            read_only: &c.read_only,
        }
    }
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
    let mut profile = Profile::default();
    // The rule files' restrictions, in each spelling (as named and through links), if present.
    let protect = restricted(home, inputs.protect, &mut profile);
    let read_only = restricted(home, inputs.read_only, &mut profile);
    // Protected from reading: the secrets (in every spelling of the home), minus those the user
    // made readable, and what the rule files protect.
    let mut excluded: Vec<PathBuf> = homes
        .iter()
        .flat_map(|h| SECRETS.iter().map(move |s| h.join(s)))
        .filter(|p| !readable.iter().any(|r| r == p))
        .chain(protect.iter().cloned())
        .collect();
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
        // A restriction wins over the user's extra readable paths.
        if let Some(p) = protect
            .iter()
            .find(|p| p.starts_with(r) || r.starts_with(p))
        {
            profile.notes.push(format!(
                "{} (containment_readable) is not granted: [containment] protects {}",
                r.display(),
                p.display()
            ));
            continue;
        }
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
    // The secrets and SafeShell's state keep a place that holds them read-only as a whole; the
    // rule files' restrictions are carved out of it instead.
    let mut guarded: Vec<PathBuf> = excluded
        .iter()
        .filter(|p| !protect.contains(p))
        .cloned()
        .collect();
    guarded.push(state.clone());
    guarded.extend(homes.iter().map(|h| h.join(".safeshell")));
    if let Ok(c) = std::fs::canonicalize(&state) {
        guarded.push(c);
    }
    let mut restrictions = protect;
    restrictions.extend(read_only);
    let places = Places {
        homes: &homes,
        guarded: &guarded,
        restricted: &restrictions,
    };
    let root = project_root(inputs.cwd, home);
    match refuse_project(&root, &homes, &guarded) {
        None => {
            profile.project = Some(root.clone());
            write(&mut profile, root.clone(), "project checkout", &places);
            if let Some(gitdir) = linked_git_dir(&root)
                && refuse_project(&gitdir, &homes, &guarded).is_none()
            {
                write(&mut profile, gitdir, "git directory", &places);
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
            &places,
        );
    }
    for h in HOME_WRITABLE {
        write(&mut profile, home.join(h), "cache", &places);
    }
    for w in inputs.writable {
        write(
            &mut profile,
            expand(home, w),
            "containment_writable",
            &places,
        );
    }
    profile
}

/// The restricted paths that exist, each as named (`~/` expanded) and, behind a link, as its
/// target; the missing ones are noted (there is nothing to keep a command from).
fn restricted(home: &Path, named: &[String], profile: &mut Profile) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in named.iter().map(|p| expand(home, p)) {
        if !p.is_absolute() || std::fs::symlink_metadata(&p).is_err() {
            profile.notes.push(format!(
                "[containment] names {}, which does not exist",
                p.display()
            ));
            // Its creation changes the nearest directory that exists: the profile is then stale.
            if let Some(dir) = p.ancestors().skip(1).find(|a| a.is_dir()) {
                profile.walked.push((dir.to_path_buf(), modified(dir)));
            }
            continue;
        }
        if let Ok(c) = std::fs::canonicalize(&p)
            && c != p
            && !out.contains(&c)
        {
            out.push(c);
        }
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// What a writable place may not hold: the home directories, the guarded paths (secrets,
/// SafeShell's state) that keep a whole place read-only, and the rule files' restrictions,
/// which are carved out of it.
struct Places<'a> {
    homes: &'a [PathBuf],
    guarded: &'a [PathBuf],
    restricted: &'a [PathBuf],
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

/// Adds a write rule unless the path is missing or holds something guarded (granting it would
/// grant the guarded path too, the home directory included). A place that holds a restricted
/// path is granted entry by entry around it.
fn write(profile: &mut Profile, path: PathBuf, why: &'static str, places: &Places<'_>) {
    let Ok(meta) = std::fs::metadata(&path) else {
        return;
    };
    if let Some(g) = places
        .guarded
        .iter()
        .chain(places.homes)
        .find(|g| g.starts_with(&path))
    {
        profile.notes.push(format!(
            "{} ({why}) stays read-only: it holds {}",
            path.display(),
            g.display()
        ));
        return;
    }
    if let Some(r) = places.restricted.iter().find(|r| path.starts_with(r)) {
        profile.notes.push(format!(
            "{} ({why}) stays read-only: [containment] restricts {}",
            path.display(),
            r.display()
        ));
        return;
    }
    if meta.is_dir() && places.restricted.iter().any(|r| r.starts_with(&path)) {
        profile.notes.push(format!(
            "{} ({why}) holds a path [containment] restricts: the files in it and in the directories down to that path can be changed, but no entry there created, removed or renamed",
            path.display()
        ));
        write_walk(profile, &path, why, places.restricted);
        return;
    }
    profile.rules.push(Rule {
        path,
        grant: Grant::Write,
        dir: meta.is_dir(),
        why,
    });
}

/// Grants write on every entry of `dir` except the restricted paths; an entry holding one is
/// walked in turn. Links get nothing (a rule on a link grants its target, which may be anywhere).
fn write_walk(profile: &mut Profile, dir: &Path, why: &'static str, restricted: &[PathBuf]) {
    profile.walked.push((dir.to_path_buf(), modified(dir)));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() || restricted.iter().any(|r| path.starts_with(r)) {
            continue;
        }
        if kind.is_dir() && restricted.iter().any(|r| r.starts_with(&path)) {
            write_walk(profile, &path, why, restricted);
            continue;
        }
        profile.rules.push(Rule {
            path,
            grant: Grant::Write,
            dir: kind.is_dir(),
            why,
        });
    }
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
    profile.walked.push((dir.to_path_buf(), modified(dir)));
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
            protect: &[],
            read_only: &[],
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
            protect: &[],
            read_only: &[],
        });
        assert!(grants(&p, &home.join(".config/gh/hosts.yml")).contains(&Grant::Read));
        assert!(!grants(&p, &home.join(".ssh/id")).contains(&Grant::Read));
    }

    #[test]
    fn restrictions_are_carved_out_of_the_project_and_the_rest_stays_usable() {
        let (_dir, home, cwd) = tree();
        for d in ["secrets", "vendor/lib", "src"] {
            std::fs::create_dir_all(cwd.join(d)).unwrap();
        }
        std::fs::write(cwd.join("secrets/key"), "k").unwrap();
        std::fs::write(cwd.join("README"), "r").unwrap();
        std::os::unix::fs::symlink("/etc", cwd.join("etclink")).unwrap();
        let protect = [cwd.join("secrets").display().to_string()];
        let read_only = ["~/code/app/vendor".to_owned()];
        let p = build(&Inputs {
            home: &home,
            state_dir: &home.join(".safeshell"),
            cwd: &cwd.join("src"),
            writable: &[],
            readable: &[cwd.join("secrets/key").display().to_string()],
            protect: &protect,
            read_only: &read_only,
        });
        assert_eq!(p.project.as_deref(), Some(cwd.as_path()));
        // Protected: listing only, even though the user's readable list names it.
        let g = grants(&p, &cwd.join("secrets/key"));
        assert!(g.iter().all(|g| *g == Grant::List), "{g:?}");
        assert!(p.protected.contains(&cwd.join("secrets")));
        // Read-only: readable, not writable.
        let g = grants(&p, &cwd.join("vendor/lib/x.rs"));
        assert!(
            g.contains(&Grant::Read) && !g.contains(&Grant::Write),
            "{g:?}"
        );
        // Everything else in the project is writable, its files one by one.
        assert!(grants(&p, &cwd.join("src/main.rs")).contains(&Grant::Write));
        assert!(grants(&p, &cwd.join("README")).contains(&Grant::Write));
        assert!(grants(&p, &cwd.join(".git/config")).contains(&Grant::Write));
        // The project directory itself gets no write rights (they would reach the restricted
        // paths), nor does a link in it (a rule on a link grants its target).
        assert!(!grants(&p, &cwd.join("new-file")).contains(&Grant::Write));
        assert!(!grants(&p, &cwd.join("etclink")).contains(&Grant::Write));
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("holds a path [containment] restricts"))
        );
        assert!(
            p.notes.iter().any(|n| n.contains("is not granted")),
            "{:?}",
            p.notes
        );
        // An entry made in a walked directory makes the profile stale.
        assert!(!p.is_stale());
        std::fs::write(cwd.join("new-file"), "n").unwrap();
        assert!(p.is_stale());
    }

    #[test]
    fn a_missing_restriction_grants_as_before_until_it_appears() {
        let (_dir, home, cwd) = tree();
        let protect = [cwd.join("secrets").display().to_string()];
        let p = build(&Inputs {
            home: &home,
            state_dir: &home.join(".safeshell"),
            cwd: &cwd,
            writable: &[],
            readable: &[],
            protect: &protect,
            read_only: &[],
        });
        assert!(grants(&p, &cwd.join("new-file")).contains(&Grant::Write));
        assert!(
            p.notes.iter().any(|n| n.contains("does not exist")),
            "{:?}",
            p.notes
        );
        assert!(!p.is_stale());
        std::fs::create_dir(cwd.join("secrets")).unwrap();
        assert!(
            p.is_stale(),
            "creating the restricted path must rebuild the profile"
        );
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
                protect: &[],
                read_only: &[],
            });
            assert_eq!(p.project, None, "{}", cwd.display());
        }
        // A repository above the home (a home kept in git) is not the project either.
        assert_eq!(project_root(&home.join("notes"), &home), home.join("notes"));
    }
}
