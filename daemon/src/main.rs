//! `safeshell`: the user-facing command (rule checks and rule tools; the daemon comes next).

mod agent_tree;
mod audit;
mod check;
mod client;
mod config;
/// Landlock, shared with the shim (the daemon only queries the ABI and runs the doctor's probe).
#[path = "../../shim/src/contain.rs"]
#[allow(dead_code)]
mod contain;
mod contain_cmd;
mod context;
mod daemon_cmd;
mod demo;
mod doctor;
mod facts;
mod file_access;
mod hooks;
mod init;
mod logging;
mod messages;
mod own;
mod paths;
/// The containment profile, shared with the shim so `contain --print` shows what it applies.
#[path = "../../shim/src/profile.rs"]
#[allow(dead_code)]
mod profile;
mod redact;
mod replay;
mod rules_cache;
mod rules_cmd;
mod server;
mod trust;
mod uninstall;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit status for a usage error (sysexits' EX_USAGE; 1–3 are decisions).
pub const EXIT_USAGE: u8 = 64;
/// Exit status when a rule file has an error (sysexits' EX_CONFIG).
pub const EXIT_RULES: u8 = 78;
/// Exit status for any other failure (sysexits' EX_SOFTWARE).
pub const EXIT_FAILURE: u8 = 70;

#[derive(Parser)]
#[command(
    name = "safeshell",
    version,
    about = "A safety layer between AI coding agents and your shell",
    long_about = "SafeShell decides, for every shell command an AI agent (or a person) runs, whether to \
allow it, deny it, require a human's approval, or redirect it to a safer command.\n\n\
Rules come from the built-in set, ~/.safeshell/rules.toml and the nearest .safeshell/rules.toml \
above the working directory. See docs/rules.md.",
    after_help = "Examples:\n  safeshell check -- 'rm -rf /'\n  safeshell check --context human --json -- 'git push --force'\n  \
history | cut -c8- | safeshell check --batch\n  safeshell rules explain -- 'sudo rm -rf build'"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decide a command in-process, without a daemon; never runs it or creates an approval.
    ///
    /// Exit status: 0 allow, 1 deny, 2 require approval, 3 redirect; 64 usage error, 78 rule-file error.
    /// With --batch, reads one command per line from stdin, prints one result per line in order,
    /// and exits 0 once every line was decided, or 70 when a line could not be read (not UTF-8:
    /// reported with its number; the lines after it are still decided). Commands over 64 KiB or
    /// nested deeper than 64 levels are not parsed: they need approval when an agent runs them.
    Check(CheckArgs),
    /// Validate, list and explain rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Run and control the daemon that decides every intercepted command.
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// List and resolve approvals that wait for a human (scripts and tests; people use `safeshell monitor`).
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Set SafeShell up for this user: ~/.safeshell with a documented config.toml, a commented
    /// rules.toml, and shims for every command the rules name.
    ///
    /// With --shell, print instead the snippet for your shell's rc file, which puts the shims
    /// first on PATH:  eval "$(safeshell init --shell bash)"
    Init {
        /// Print the rc-file snippet for this shell (bash, zsh or fish) and change nothing.
        #[arg(long, value_name = "SHELL")]
        shell: Option<String>,
    },
    /// Regenerate the shims from the rules now in effect (adds new ones, removes stale ones).
    Refresh,
    /// Show the whole product in a throw-away home: a daemon, shims, and a scripted agent session
    /// (allowed, denied and approved commands, all harmless stand-ins), with measured overhead.
    /// Touches nothing of your own set-up.
    Demo,
    /// Watch every decision live and approve or deny commands that wait for a person.
    ///
    /// Keys: 1 approve once, 2 approve for the session, 3 deny, 4 deny for the session, r deny
    /// with a reason, / filter, d a i h toggles, Enter details, ? help, q quit.
    Monitor {
        /// Recent events to replay on connect.
        #[arg(long, default_value_t = safeshell_monitor::DEFAULT_HISTORY)]
        history: u32,
        /// Log entries kept in memory.
        #[arg(long, default_value_t = safeshell_monitor::DEFAULT_LOG_CAPACITY)]
        capacity: usize,
    },
    /// Install or remove SafeShell's hook in an agent's settings (claude, codex, cursor, gemini,
    /// copilot).
    #[command(subcommand)]
    Hook(HookCommand),
    /// Check every surface (daemon, rules, shims, PATH, hooks, SHELL wrapper) and say how to fix
    /// what is broken. Installed hooks are run as the agent would, with a must-deny probe.
    ///
    /// Exit status 1 when anything is wrong.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Trust a repository's rule file (.safeshell/rules.toml), so its `allow` and `redirect`
    /// rules take effect.
    ///
    /// Untrusted, a repository file may only add restrictions: a cloned repository must not run
    /// commands of its choosing through a `redirect`. Trust is for this exact content (SHA-256);
    /// any change needs `safeshell trust` again. Agents cannot run this.
    Trust {
        /// The rule file (default: the nearest .safeshell/rules.toml from here).
        file: Option<PathBuf>,
        /// Withdraw trust instead.
        #[arg(long)]
        revoke: bool,
        /// List trusted files and whether they changed since.
        #[arg(long, conflicts_with_all = ["file", "revoke"])]
        list: bool,
    },
    /// What SafeShell would have decided: every shell command and file access in past agent
    /// sessions, decided with the rules in effect (or --rules), never run.
    ///
    /// Reads Claude Code transcripts (~/.claude/projects/**/*.jsonl), Codex session logs
    /// (~/.codex/sessions/**), Gemini CLI chats (~/.gemini/tmp/*/chats/*.json) and SafeShell's
    /// audit log (with its rotated files) when no SOURCE is named; a SOURCE is any of those, a
    /// directory of them, or a file with one command per line (`-`: stdin). Reports totals by
    /// decision, what would have been denied or held grouped by rule (with examples), the rules
    /// that would have asked most often per day, and with --against-rules what a second policy
    /// changes. A tool call repeated in a resumed session counts once.
    Replay(replay::Options),
    /// Show the kernel containment (Landlock) agents' allowed commands run under: what they may
    /// read and write when run in DIR (default: here).
    Contain {
        /// Print the profile (paths and what each is granted).
        #[arg(long, required_unless_present = "probe")]
        print: bool,
        /// Run the doctor's probe (in a directory holding `home/` and `work/`).
        #[arg(long, hide = true)]
        probe: bool,
        /// The directory a command would run in.
        dir: Option<PathBuf>,
    },
    /// Print recent decisions from the audit log (~/.safeshell/audit.jsonl and its rotated
    /// files): time, decision, who, where it was caught, rule, directory, command and reason.
    /// Secrets in commands (tokens, `Authorization:` headers, `password=` values…) are shown
    /// redacted (and are written redacted by current daemons).
    Audit {
        /// How many records (the most recent that pass the filters).
        #[arg(long, short = 'n', default_value_t = 20)]
        lines: usize,
        /// Print the raw JSON lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        filter: daemon_cmd::AuditFilter,
    },
    /// Remove SafeShell: its hooks from every agent's settings (and the backups it made of
    /// them), the shims, the rc-file line, and ~/.safeshell; stop the daemon; say what was left
    /// (the programs themselves, lines it would not edit). Run it in your own terminal: agents
    /// cannot.
    Uninstall {
        /// Keep config.toml, rules.toml, trusted.toml and the audit log in ~/.safeshell.
        #[arg(long)]
        keep_config: bool,
    },
    /// Print shell completions for safeshell.
    ///
    /// bash: safeshell completions bash > ~/.local/share/bash-completion/completions/safeshell
    /// zsh:  safeshell completions zsh > ~/.zfunc/_safeshell  (with ~/.zfunc on $fpath)
    /// fish: safeshell completions fish > ~/.config/fish/completions/safeshell.fish
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the man page (roff; `cargo xtask dist` installs it).
    #[command(hide = true)]
    Man,
}

/// Shells with completions.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Subcommand)]
pub(crate) enum DaemonCommand {
    /// Run the daemon in the foreground (logs to stderr).
    Run,
    /// Start the daemon in the background (logs to ~/.safeshell/daemon.log) and wait until it answers.
    Start {
        /// Print nothing on success.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Stop the daemon (pending approvals are denied).
    Stop,
    /// Stop the daemon, then start it again.
    Restart,
    /// Show pid, version, uptime, rules and their files, connections, decisions and pending approvals.
    ///
    /// Exit status 1 when the daemon is not running.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the daemon's log.
    Logs {
        /// Keep printing new lines as they are written.
        #[arg(long, short)]
        follow: bool,
        /// How many lines to print first.
        #[arg(long, short = 'n', default_value_t = 50)]
        lines: usize,
    },
}

#[derive(Subcommand)]
pub(crate) enum HookCommand {
    /// Register `safeshell-shim hook <agent>` in the agent's settings (idempotent; keeps a backup
    /// and everything else in the file; prints what changed).
    Install {
        /// claude, codex, cursor, gemini or copilot (GitHub Copilot CLI).
        agent: String,
        /// The repository's settings (e.g. .claude/settings.json) instead of the user's.
        #[arg(long)]
        project: bool,
    },
    /// Remove SafeShell's hook from the agent's settings.
    Uninstall {
        /// claude, codex, cursor, gemini or copilot (GitHub Copilot CLI).
        agent: String,
        /// The repository's settings instead of the user's.
        #[arg(long)]
        project: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum ApprovalsCommand {
    /// List pending approvals, oldest first.
    List {
        /// Print one JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending command (once, or with --session for the same command, repository and
    /// agent session for `session_approval_secs`).
    Approve {
        /// The approval id (from `list`).
        id: u64,
        /// Remember the approval for the session (not for rules marked approval_scope = "once").
        #[arg(long)]
        session: bool,
    },
    /// Deny a pending command (once, or with --session to refuse it again without asking).
    Deny {
        /// The approval id (from `list`).
        id: u64,
        /// Why; shown to the agent.
        #[arg(long)]
        reason: Option<String>,
        /// Remember the denial for the session.
        #[arg(long)]
        session: bool,
    },
}

/// Who a command is evaluated for.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ContextArg {
    /// An AI agent (the default: the stricter rules apply).
    Ai,
    /// A person at a terminal.
    Human,
}

impl ContextArg {
    fn to_rules(self) -> safeshell_rules::Context {
        match self {
            ContextArg::Ai => safeshell_rules::Context::Ai,
            ContextArg::Human => safeshell_rules::Context::Human,
        }
    }
}

#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// Evaluate as run by an agent or a person.
    #[arg(long, value_enum, default_value = "ai")]
    context: ContextArg,
    /// The working directory the command would run in (default: the current one).
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Print one JSON object per command.
    #[arg(long)]
    json: bool,
    /// Read commands from stdin, one per line.
    #[arg(long, conflicts_with = "command")]
    batch: bool,
    /// Decide an agent's file tool touching PATH instead of a command (repeat for several
    /// paths), judged as the command that makes the same access (see docs/integrations.md).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["command", "batch"])]
    file: Vec<String>,
    /// What the file tool does with --file: read, write, edit (read and write), delete, search
    /// (the contents under a directory) or list (names only).
    #[arg(long, value_name = "ACCESS", requires = "file", default_value = "read",
          value_parser = ["read", "write", "edit", "delete", "search", "list"])]
    access: String,
    /// With --access search or list: the file-name pattern that selects files (`*.rs`).
    #[arg(long, value_name = "GLOB", requires = "file")]
    pattern: Option<String>,
    /// The command string, as a shell would receive it (put it after `--`).
    #[arg(value_name = "COMMAND", required_unless_present_any = ["batch", "file"], num_args = 1..)]
    command: Vec<String>,
}

#[derive(Subcommand)]
pub(crate) enum RulesCommand {
    /// Check rule files: the built-in, global and repository files in effect here, or one FILE.
    ///
    /// Exit status 0 when every file is valid, 78 when one has errors (each printed as
    /// file:line:column: `field`: message).
    Validate {
        /// A rule file to check on its own (with the built-in rules beneath it).
        file: Option<PathBuf>,
        /// Check FILE as a global file (may override built-ins) or a repository file (may only
        /// add rules). Default: repository when FILE is in a `.safeshell` directory outside the
        /// SafeShell home, global otherwise.
        #[arg(long = "as", value_enum)]
        kind: Option<FileKind>,
        /// Working directory whose rules to validate (default: the current one).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
    },
    /// List every rule in effect here, after overrides, with where it came from.
    List {
        /// Working directory whose rules to list (default: the current one).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the built-in rule packs, whether each is enabled here, and how many rules it has.
    Packs {
        /// Working directory whose rules to consider (default: the current one).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show, for each segment of a command, every rule considered and why it matched or not.
    Explain {
        /// Evaluate as run by an agent or a person.
        #[arg(long, value_enum, default_value = "ai")]
        context: ContextArg,
        /// The working directory the command would run in (default: the current one).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        /// The command string (put it after `--`).
        #[arg(value_name = "COMMAND", required = true, num_args = 1..)]
        command: Vec<String>,
    },
}

/// The kind of rule file to validate a file as.
#[derive(Clone, Copy, ValueEnum)]
pub enum FileKind {
    /// `~/.safeshell/rules.toml`: may set settings and override built-in rules.
    Global,
    /// A repository's `.safeshell/rules.toml`: may only add rules.
    Repo,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Rules(cmd) => rules_cmd::run(cmd),
        Command::Daemon(cmd) => match cmd {
            DaemonCommand::Run => daemon_cmd::run(),
            DaemonCommand::Start { quiet } => daemon_cmd::start(quiet),
            DaemonCommand::Stop => daemon_cmd::stop(),
            DaemonCommand::Restart => daemon_cmd::stop().and_then(|_| daemon_cmd::start(false)),
            DaemonCommand::Status { json } => daemon_cmd::status(json),
            DaemonCommand::Logs { follow, lines } => daemon_cmd::logs(follow, lines),
        },
        Command::Approvals(cmd) => match cmd {
            ApprovalsCommand::List { json } => daemon_cmd::list_pending(json),
            ApprovalsCommand::Approve { id, session } => {
                use safeshell_protocol::ApprovalVerdict::{ApproveOnce, ApproveSession};
                daemon_cmd::resolve(id, if session { ApproveSession } else { ApproveOnce }, None)
            }
            ApprovalsCommand::Deny {
                id,
                reason,
                session,
            } => {
                use safeshell_protocol::ApprovalVerdict::{Deny, DenySession};
                daemon_cmd::resolve(id, if session { DenySession } else { Deny }, reason)
            }
        },
        Command::Init { shell } => init::init(shell.as_deref()),
        Command::Refresh => init::refresh(),
        Command::Demo => demo::run(),
        Command::Hook(cmd) => hook_cmd(cmd),
        Command::Doctor { json } => doctor::run(json),
        Command::Monitor { history, capacity } => (|| {
            let (_, socket) = daemon_cmd::locations()?;
            safeshell_monitor::run(safeshell_monitor::MonitorOptions {
                socket,
                history,
                log_capacity: capacity,
            })?;
            Ok(0)
        })(),
        Command::Audit {
            lines,
            json,
            filter,
        } => daemon_cmd::audit(lines, json, &filter),
        Command::Uninstall { keep_config } => {
            resolve_cwd(None).and_then(|cwd| uninstall::run(keep_config, &cwd))
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let shell = match shell {
                CompletionShell::Bash => clap_complete::Shell::Bash,
                CompletionShell::Zsh => clap_complete::Shell::Zsh,
                CompletionShell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "safeshell",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .map(|()| 0)
                .map_err(Into::into)
        }
        Command::Contain { probe: true, .. } => contain_cmd::probe(),
        Command::Contain { dir, .. } => contain_cmd::print(dir),
        Command::Trust { file, revoke, list } => trust::run(file, revoke, list),
        Command::Replay(options) => replay::run(options),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Not `eprintln!`: it panics when stderr cannot be written (a full disk).
            let _ = writeln!(std::io::stderr(), "safeshell: {e:#}");
            ExitCode::from(
                if e.downcast_ref::<safeshell_rules::LoadError>().is_some() {
                    EXIT_RULES
                } else {
                    EXIT_FAILURE
                },
            )
        }
    }
}

/// Resolves `--cwd` (default: the current directory) to an absolute path.
pub fn resolve_cwd(cwd: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    use anyhow::Context as _;
    let current = std::env::current_dir().context("cannot read the current directory")?;
    Ok(match cwd {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => current.join(dir),
        None => current,
    })
}

fn hook_cmd(cmd: HookCommand) -> anyhow::Result<u8> {
    use anyhow::Context as _;
    let home = paths::home_dir().context("HOME is not set")?;
    let cwd = resolve_cwd(None)?;
    let (agent, project, installing) = match &cmd {
        HookCommand::Install { agent, project } => (agent, *project, true),
        HookCommand::Uninstall { agent, project } => (agent, *project, false),
    };
    let site = hooks::site(agent, project, &home, &cwd)?;
    let change = if installing {
        let command = hooks::hook_command(&init::shim_executable()?, site.agent);
        hooks::install(&site, &command)?
    } else {
        hooks::uninstall(&site)?
    };
    match change {
        hooks::Change::Unchanged if installing => {
            println!("already installed in {}", site.path.display());
        }
        hooks::Change::Unchanged => println!("no SafeShell hook in {}", site.path.display()),
        hooks::Change::Written { backup } => {
            println!(
                "{} the {} hook in {}",
                if installing { "installed" } else { "removed" },
                site.agent,
                site.path.display()
            );
            if let Some(b) = backup {
                println!("backup of the previous file: {}", b.display());
            }
            if installing {
                println!("check it with `safeshell doctor`");
            }
        }
    }
    Ok(0)
}
