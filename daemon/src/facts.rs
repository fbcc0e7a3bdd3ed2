//! Facts about a command's surroundings read from the real system, lazily and at most once.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use safeshell_rules::Facts;

/// Facts for one evaluation: the working directory's repository, files and an environment.
pub struct SystemFacts {
    cwd: PathBuf,
    home: Option<String>,
    env: Vec<(String, String)>,
    git_dir: OnceCell<Option<PathBuf>>,
    branch: OnceCell<Option<String>>,
}

impl SystemFacts {
    /// Facts for `cwd`, with the given environment (the caller's or a client's).
    pub fn new(cwd: &Path, env: Vec<(String, String)>) -> SystemFacts {
        let home = env
            .iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| v.clone());
        SystemFacts {
            cwd: cwd.to_owned(),
            home,
            env,
            git_dir: OnceCell::new(),
            branch: OnceCell::new(),
        }
    }

    /// Facts for `cwd` with this process's environment.
    pub fn current(cwd: &Path) -> SystemFacts {
        SystemFacts::new(cwd, std::env::vars().collect())
    }

    fn git_dir(&self) -> Option<&Path> {
        self.git_dir
            .get_or_init(|| find_git_dir(&self.cwd))
            .as_deref()
    }
}

/// The top directory of the checkout `start` is in: the nearest ancestor holding a `.git`
/// directory or a `.git` file (a linked worktree or a submodule, whose git directory lives
/// elsewhere).
pub fn repository_root(start: &Path) -> Option<&Path> {
    start.ancestors().find(|dir| dir.join(".git").exists())
}

/// Finds the git directory for `start`: a `.git` directory, or a `.git` file (`gitdir: …`) as
/// worktrees and submodules use.
pub fn find_git_dir(start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        let dot_git = dir.join(".git");
        if dot_git.is_dir() {
            return Some(dot_git);
        }
        if dot_git.is_file() {
            let text = std::fs::read_to_string(&dot_git).ok()?;
            let target = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
            let target = Path::new(target);
            return Some(if target.is_absolute() {
                target.to_owned()
            } else {
                dir.join(target)
            });
        }
    }
    None
}

/// The branch named by a git directory's `HEAD`, if it is on one.
pub fn read_branch(git_dir: &Path) -> Option<String> {
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    head.trim()
        .strip_prefix("ref: refs/heads/")
        .map(str::to_owned)
}

impl Facts for SystemFacts {
    fn home(&self) -> Option<&str> {
        self.home.as_deref()
    }

    fn env(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn in_git_repo(&self) -> bool {
        self.git_dir().is_some()
    }

    fn git_branch(&self) -> Option<&str> {
        self.branch
            .get_or_init(|| self.git_dir().and_then(read_branch))
            .as_deref()
    }

    fn file_exists(&self, relative: &str) -> bool {
        self.cwd.join(relative).exists()
    }

    fn path_set(&self, name: &str) -> Option<&[String]> {
        crate::own::get().path_set(name)
    }

    fn protected_pids(&self) -> &[u32] {
        &crate::own::get().pids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worktree_is_its_own_repository_and_points_at_its_git_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main");
        let worktree = tmp.path().join("wt");
        let git_dir = main.join(".git/worktrees/wt");
        std::fs::create_dir_all(&git_dir).unwrap();
        std::fs::create_dir_all(worktree.join("src/deep")).unwrap();
        std::fs::create_dir_all(main.join("src")).unwrap();
        std::fs::write(git_dir.join("HEAD"), "ref: refs/heads/topic\n").unwrap();
        std::fs::write(main.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(
            worktree.join(".git"),
            format!("gitdir: {}\n", git_dir.display()),
        )
        .unwrap();

        let deep = worktree.join("src/deep");
        assert_eq!(repository_root(&deep), Some(worktree.as_path()));
        assert_eq!(find_git_dir(&deep), Some(git_dir.clone()));
        assert_eq!(read_branch(&git_dir).as_deref(), Some("topic"));

        let src = main.join("src");
        assert_eq!(repository_root(&src), Some(main.as_path()));
        assert_eq!(find_git_dir(&src), Some(main.join(".git")));

        assert_eq!(repository_root(tmp.path()), None);
    }
}
