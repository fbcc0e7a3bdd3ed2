//! divan benchmarks of the rules engine: parsing, evaluation against the built-in rules, and
//! scaling with synthetic rule sets. Run with `cargo bench -p safeshell-rules`.

use divan::{Bencher, black_box};
use safeshell_rules::{
    CommandInput, Context, RuleSet, Source, SourceKind, StaticFacts, segment, shell,
};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

const TYPICAL: &str = "git status --short";
const LONG: &str = "set -e; cd \"$(git rev-parse --show-toplevel)\" && for f in $(git diff --name-only HEAD~1); do \
    case \"$f\" in *.rs) rustfmt --check \"$f\" || echo \"needs fmt: $f\";; *.py) black -q \"$f\";; esac; done | tee /tmp/fmt.log \
    && cargo test --workspace 2>&1 | grep -E '^(test|error)' > results.txt; bash -c 'npm ci && npm run build' ; \
    find . -name '*.orig' -exec rm -f {} \\; ; echo done";

const CWD: &str = "/home/user/project";

/// A benchmark input: a short label (shown by divan) and the command.
#[derive(Clone, Copy)]
struct Cmd(&'static str, &'static str);

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

const PARSE_CASES: &[Cmd] = &[Cmd("typical", TYPICAL), Cmd("long_compound", LONG)];

fn facts() -> StaticFacts {
    StaticFacts {
        git_branch: Some("feature/x".into()),
        ..StaticFacts::for_examples()
    }
}

mod parse {
    use super::*;

    #[divan::bench(args = PARSE_CASES)]
    fn shell_parse(cmd: Cmd) -> shell::Parsed {
        shell::parse(black_box(cmd.1))
    }

    #[divan::bench(args = PARSE_CASES)]
    fn segments(cmd: Cmd) -> Vec<segment::Segment> {
        segment::segments_of_string(black_box(cmd.1))
    }
}

mod builtin {
    use super::*;

    /// The first built-in rule matches, a rule in the middle, nothing matches (two commands),
    /// a long compound command.
    const CASES: &[Cmd] = &[
        Cmd("first_rule:rm_-rf_/", "rm -rf /"),
        Cmd(
            "middle_rule:git_push_--force",
            "git push --force origin main",
        ),
        Cmd("no_match:cargo_build", "cargo build --release"),
        Cmd("no_match:ls_-la", "ls -la"),
        Cmd("long_compound", LONG),
    ];

    #[divan::bench(args = CASES)]
    fn evaluate(bencher: Bencher, cmd: Cmd) {
        let rules = RuleSet::builtin();
        let facts = facts();
        bencher.bench_local(|| {
            rules.evaluate(
                CommandInput::Shell(black_box(cmd.1)),
                Context::Ai,
                CWD,
                &facts,
            )
        });
    }

    #[divan::bench]
    fn evaluate_argv(bencher: Bencher) {
        let rules = RuleSet::builtin();
        let facts = facts();
        let argv: Vec<String> = ["git", "push", "origin", "main"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        bencher.bench_local(|| {
            rules.evaluate(
                CommandInput::Argv(black_box(&argv)),
                Context::Ai,
                CWD,
                &facts,
            )
        });
    }

    #[divan::bench(sample_count = 20)]
    fn load() -> RuleSet {
        RuleSet::builtin()
    }
}

mod synthetic {
    use super::*;

    const RULE_COUNTS: &[usize] = &[10, 100, 1000];

    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Simple,
        Regex,
        Context,
    }

    fn rule_file(n: usize, kind: Kind) -> String {
        let mut s = String::new();
        for i in 0..n {
            // Half the rules name a program the benchmark command runs, so they are candidates.
            let program = if i % 2 == 0 {
                "tool".to_owned()
            } else {
                format!("tool{i}")
            };
            s.push_str(&format!(
                "[[rules]]\nname = \"r{i}\"\ncommands = [\"{program}\"]\naction = \"deny\"\n"
            ));
            match kind {
                Kind::Simple => s.push_str(&format!("when = {{ positional = [\"arg{i}\"] }}\n")),
                Kind::Regex => {
                    s.push_str(&format!("when = {{ regex = '^tool .*--opt{i}( |$)' }}\n"));
                }
                Kind::Context => s.push_str(&format!(
                    "context = \"human\"\nwhen = {{ flags = [\"--f{i}\"] }}\n"
                )),
            }
        }
        s
    }

    fn set(n: usize, kind: Kind) -> RuleSet {
        let source = Source {
            kind: SourceKind::Global,
            name: "bench.toml".into(),
            text: rule_file(n, kind),
            trusted: true,
        };
        RuleSet::load(&[Source::builtin(), source]).expect("synthetic rules load")
    }

    /// One agent command against `n` rules of one kind (half of them name its program).
    fn evaluate(bencher: Bencher, n: usize, kind: Kind) {
        let rules = set(n, kind);
        let facts = facts();
        bencher.bench_local(|| {
            rules.evaluate(
                CommandInput::Shell(black_box("tool run --fast x")),
                Context::Ai,
                CWD,
                &facts,
            )
        });
    }

    #[divan::bench(args = RULE_COUNTS)]
    fn simple(bencher: Bencher, n: usize) {
        evaluate(bencher, n, Kind::Simple);
    }

    #[divan::bench(args = RULE_COUNTS)]
    fn regex(bencher: Bencher, n: usize) {
        evaluate(bencher, n, Kind::Regex);
    }

    #[divan::bench(args = RULE_COUNTS)]
    fn context(bencher: Bencher, n: usize) {
        evaluate(bencher, n, Kind::Context);
    }

    #[divan::bench(args = RULE_COUNTS, sample_count = 10)]
    fn load(bencher: Bencher, n: usize) {
        let text = rule_file(n, Kind::Regex);
        bencher.bench_local(|| {
            RuleSet::load(&[
                Source::builtin(),
                Source {
                    kind: SourceKind::Global,
                    name: "b".into(),
                    text: text.clone(),
                    trusted: true,
                },
            ])
        });
    }
}
