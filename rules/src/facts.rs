//! What rules may ask about the world around a command, supplied by the caller.
//!
//! The rules engine does no I/O: the daemon and `safeshell check` implement [`Facts`] (reading
//! `.git/HEAD`, the file system and the client's environment, lazily and with caches), and tests
//! and rule examples use [`StaticFacts`].

/// Facts about the environment a command runs in (its working directory, user and variables).
pub trait Facts {
    /// The user's home directory.
    fn home(&self) -> Option<&str>;
    /// An environment variable of the process that runs the command.
    fn env(&self, name: &str) -> Option<&str>;
    /// Whether the working directory is inside a git repository (a `.git` file counts).
    fn in_git_repo(&self) -> bool;
    /// The current branch of that repository, if any (none when detached).
    fn git_branch(&self) -> Option<&str>;
    /// Whether a path relative to the working directory exists.
    fn file_exists(&self, relative: &str) -> bool;
}

/// Facts given as plain data.
#[derive(Debug, Clone, Default)]
pub struct StaticFacts {
    /// The home directory.
    pub home: Option<String>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Whether the working directory is in a git repository.
    pub in_git_repo: bool,
    /// The current git branch.
    pub git_branch: Option<String>,
    /// Paths, relative to the working directory, that exist.
    pub existing_files: Vec<String>,
}

/// The working directory rule examples are evaluated in.
pub const EXAMPLE_CWD: &str = "/home/user/project";

impl StaticFacts {
    /// The facts rule examples are checked with: home `/home/user`, working directory
    /// [`EXAMPLE_CWD`], a git repository on branch `main`, no environment, no files.
    pub fn for_examples() -> StaticFacts {
        StaticFacts {
            home: Some("/home/user".into()),
            env: Vec::new(),
            in_git_repo: true,
            git_branch: Some("main".into()),
            existing_files: Vec::new(),
        }
    }
}

impl Facts for StaticFacts {
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
        self.in_git_repo
    }
    fn git_branch(&self) -> Option<&str> {
        self.git_branch.as_deref()
    }
    fn file_exists(&self, relative: &str) -> bool {
        self.existing_files.iter().any(|f| f == relative)
    }
}
