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
    /// The paths of a named set that rules refer to as `@NAME` (see [`PATH_SETS`]), absolute or
    /// `~/`-relative; `None` means the set's defaults.
    fn path_set(&self, _name: &str) -> Option<&[String]> {
        None
    }
    /// Processes that commands must not signal: SafeShell's daemon.
    fn protected_pids(&self) -> &[u32] {
        &[]
    }
}

/// The named path sets rules may use as `@NAME` in path conditions, with their defaults (used
/// when [`Facts::path_set`] gives none). The daemon supplies the real locations (its state
/// directory, socket and binaries), so a moved `SAFESHELL_HOME` stays protected.
pub const PATH_SETS: &[(&str, &[&str])] = &[
    // Everything of SafeShell's: state directory (rules, config, shims, socket, pid, audit).
    ("safeshell", &["~/.safeshell"]),
    // The files that say what SafeShell enforces.
    (
        "safeshell-policy",
        &[
            "~/.safeshell/rules.toml",
            "~/.safeshell/config.toml",
            "~/.safeshell/trusted.toml",
        ],
    ),
    // Shell start-up files: code in them runs in every future shell of the user.
    (
        "shell-startup",
        &[
            "~/.bashrc",
            "~/.bash_aliases",
            "~/.bash_profile",
            "~/.bash_login",
            "~/.bash_logout",
            "~/.profile",
            "~/.zshrc",
            "~/.zprofile",
            "~/.zshenv",
            "~/.zlogin",
            "~/.zlogout",
            "~/.config/fish/config.fish",
            "~/.xprofile",
            "~/.xinitrc",
            "~/.inputrc",
        ],
    ),
    // Agents' settings files, where SafeShell's hooks are installed.
    (
        "agent-settings",
        &[
            "~/.claude/settings.json",
            "~/.claude/settings.local.json",
            "~/.codex/config.toml",
            "~/.cursor/hooks.json",
            "~/.gemini/settings.json",
            "./.claude/settings.json",
            "./.claude/settings.local.json",
            "./.cursor/hooks.json",
            "./.gemini/settings.json",
            // Hook files and directories, and the tools' own configuration that runs programs
            // (MCP servers): SafeShell's hooks live there, or code that outlives the session.
            "~/.copilot/hooks",
            "./.github/hooks",
            "~/.codex/hooks.json",
            "./.codex/config.toml",
            "./.codex/hooks.json",
            "~/.claude/hooks",
            "~/.claude.json",
            "./.mcp.json",
            "~/.cursor/mcp.json",
            "./.cursor/mcp.json",
        ],
    ),
];

/// The defaults of a named path set, if the name is known.
pub fn default_path_set(name: &str) -> Option<&'static [&'static str]> {
    PATH_SETS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
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
    /// Named path sets (`@NAME` in rules); a set not given has its defaults.
    pub path_sets: Vec<(String, Vec<String>)>,
    /// Processes commands must not signal.
    pub protected_pids: Vec<u32>,
}

/// The working directory rule examples are evaluated in.
pub const EXAMPLE_CWD: &str = "/home/user/project";

/// The daemon's pid in rule examples (`kill -STOP 4242` signals SafeShell).
pub const EXAMPLE_DAEMON_PID: u32 = 4242;

impl StaticFacts {
    /// The facts rule examples are checked with: home `/home/user`, working directory
    /// [`EXAMPLE_CWD`], a git repository on branch `main`, no environment, no files, the
    /// default path sets, and SafeShell's daemon running as pid [`EXAMPLE_DAEMON_PID`].
    pub fn for_examples() -> StaticFacts {
        StaticFacts {
            home: Some("/home/user".into()),
            env: Vec::new(),
            in_git_repo: true,
            git_branch: Some("main".into()),
            existing_files: Vec::new(),
            path_sets: Vec::new(),
            protected_pids: vec![EXAMPLE_DAEMON_PID],
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
    fn path_set(&self, name: &str) -> Option<&[String]> {
        self.path_sets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.as_slice())
    }
    fn protected_pids(&self) -> &[u32] {
        &self.protected_pids
    }
}
