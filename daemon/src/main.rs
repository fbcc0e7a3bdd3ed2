//! `safeshell`: the user-facing command (rule checks and rule tools; the daemon comes next).

mod check;
mod facts;
mod paths;
mod rules_cmd;

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
    /// and exits 0 once every line was decided.
    Check(CheckArgs),
    /// Validate, list and explain rules.
    #[command(subcommand)]
    Rules(RulesCommand),
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
    /// The command string, as a shell would receive it (put it after `--`).
    #[arg(value_name = "COMMAND", required_unless_present = "batch", num_args = 1..)]
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
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("safeshell: {e:#}");
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
