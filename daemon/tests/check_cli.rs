//! End-to-end tests of `safeshell check` and `safeshell rules`, run as real processes in a
//! temporary HOME (nothing outside the temporary directory is read or written).

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let project = home.join("project");
        std::fs::create_dir_all(&project).unwrap();
        Env {
            _tmp: tmp,
            home,
            project,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_safeshell"));
        c.args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(&self.project);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.home.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn exit_status_names_the_decision() {
    let env = Env::new();
    assert_eq!(env.run(&["check", "--", "ls -la"]).status.code(), Some(0));
    assert_eq!(env.run(&["check", "--", "rm -rf /"]).status.code(), Some(1));
    assert_eq!(
        env.run(&["check", "--", "git reset --hard"]).status.code(),
        Some(2)
    );
    assert_eq!(
        env.run(&["check", "--context", "human", "--", "git reset --hard"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn redirect_rules_exit_3_and_name_the_replacement() {
    let env = Env::new();
    env.write(
        ".safeshell/rules.toml",
        r#"
[[rules]]
name = "prefer-trash"
commands = ["rm"]
action = "redirect"
redirect_to = "trash-put {args}"
context = "ai"
examples = { match = ["rm notes.txt"] }
"#,
    );
    let out = env.run(&["check", "--json", "--", "ls && rm 'my notes.txt'"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["decision"], "redirect");
    assert_eq!(v["rule"], "prefer-trash");
    assert_eq!(v["redirect"], "ls && trash-put 'my notes.txt'");
}

#[test]
fn json_output_has_the_documented_fields() {
    let env = Env::new();
    let out = env.run(&["check", "--json", "--", "sudo rm -rf / ; echo ok"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["rule"], "rm-root-or-home");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("blocked for everyone")
    );
    let segments = v["segments"].as_array().unwrap();
    let texts: Vec<_> = segments
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["sudo rm -rf /", "rm -rf /", "echo ok"]);
    assert_eq!(segments[1]["via"][0], "sudo");
}

#[test]
fn batch_mode_answers_every_line_in_order() {
    let env = Env::new();
    let mut child = env
        .cmd(&["check", "--batch", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    support::feed(&mut child, b"ls\nrm -rf ~\n\ngit push -f\ncat .env\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let decisions: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["decision"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(decisions, ["allow", "deny", "require_approval", "deny"]);
}

#[test]
fn usage_errors_do_not_look_like_decisions() {
    let env = Env::new();
    let out = env.run(&["check"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("COMMAND"));
    let out = env.run(&["check", "--context", "robot", "--", "ls"]);
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn a_broken_global_file_is_reported_with_file_line_and_field() {
    let env = Env::new();
    let path = env.write(
        ".safeshell/rules.toml",
        "[[rules]]\nname = \"x\"\ncommands = [\"ls\"]\naction = \"deny\"\n\n[[rules]]\nname = \"y\"\ncommands = [\"ls\"]\naction = \"deny\"\nwhen = { regex = \"(unclosed\" }\n",
    );
    let out = env.run(&["check", "--", "ls"]);
    assert_eq!(out.status.code(), Some(78));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:10:", path.display())), "{err}");
    assert!(err.contains("`regex`"), "{err}");
    let out = env.run(&["rules", "validate"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("invalid regex"), "{}", stderr(&out));
}

#[test]
fn unknown_keys_and_duplicates_are_errors() {
    let env = Env::new();
    let path = env.write(
        "rules-a.toml",
        "[[rules]]\nname = \"x\"\ncommands = [\"ls\"]\naction = \"deny\"\nwhen = { flagz = [\"-l\"] }\n",
    );
    let out = env.run(&["rules", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    let err = stderr(&out);
    assert!(err.contains("rules-a.toml:5:"), "{err}");
    assert!(err.contains("flagz"), "{err}");

    let path = env.write(
        "rules-b.toml",
        "[[rules]]\nname = \"rm-recursive\"\ncommands = [\"rm\"]\naction = \"deny\"\n",
    );
    let out = env.run(&["rules", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("duplicate rule name `rm-recursive`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn failing_examples_are_load_errors() {
    let env = Env::new();
    let path = env.write(
        "rules.toml",
        "[[rules]]\nname = \"no-curl\"\ncommands = [\"curl\"]\naction = \"deny\"\nexamples = { match = [\"curl x\"], not_match = [\"curl y\"] }\n",
    );
    let out = env.run(&["rules", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("example `curl y` should not match but does"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn global_overrides_change_builtins_and_repo_files_cannot() {
    let env = Env::new();
    env.write(
        ".safeshell/rules.toml",
        "[[overrides]]\nname = \"git-reset-hard\"\ndisable = true\n\n[[overrides]]\nname = \"sudo\"\naction = \"deny\"\n",
    );
    assert_eq!(
        env.run(&["check", "--", "git reset --hard"]).status.code(),
        Some(0)
    );
    assert_eq!(env.run(&["check", "--", "sudo ls"]).status.code(), Some(1));
    let list = stdout(&env.run(&["rules", "list"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("git-reset-hard") && l.contains("disabled")),
        "{list}"
    );

    // A repository file may add rules, never override.
    std::fs::write(
        env.project.join(".safeshell/rules.toml"),
        "[[overrides]]\nname = \"rm-root-or-home\"\ndisable = true\n",
    )
    .or_else(|_| {
        std::fs::create_dir_all(env.project.join(".safeshell"))?;
        std::fs::write(
            env.project.join(".safeshell/rules.toml"),
            "[[overrides]]\nname = \"rm-root-or-home\"\ndisable = true\n",
        )
    })
    .unwrap();
    let out = env.run(&["check", "--", "rm -rf /"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("only the global rules file may override"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn repo_rules_add_to_the_builtins() {
    let env = Env::new();
    std::fs::create_dir_all(env.project.join(".safeshell")).unwrap();
    std::fs::create_dir_all(env.project.join("sub/dir")).unwrap();
    std::fs::write(
        env.project.join(".safeshell/rules.toml"),
        "[[rules]]\nname = \"no-deploy\"\ncommands = [\"make\"]\naction = \"deny\"\nwhen = { positional = [\"deploy\"] }\nmessage = \"deploys go through CI\"\n",
    )
    .unwrap();
    let sub = env.project.join("sub/dir");
    let out = env.run(&["check", "--cwd", sub.to_str().unwrap(), "--", "make deploy"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("deploys go through CI"));
    assert_eq!(env.run(&["check", "--", "rm -rf /"]).status.code(), Some(1));
    let list = stdout(&env.run(&["rules", "list"]));
    assert!(list.contains("no-deploy"), "{list}");
}

#[test]
fn git_branch_comes_from_the_real_repository() {
    let env = Env::new();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(&env.project)
            .env("HOME", &env.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    assert_eq!(
        env.run(&["check", "--", "git commit -m wip"]).status.code(),
        Some(2)
    );
    git(&["checkout", "-q", "-b", "feature"]);
    assert_eq!(
        env.run(&["check", "--", "git commit -m wip"]).status.code(),
        Some(0)
    );
}

#[test]
fn explain_lists_considered_rules() {
    let env = Env::new();
    let out = env.run(&["rules", "explain", "--", "git push --force origin main"]);
    let text = stdout(&out);
    assert!(text.contains("MATCH  git-force-push"), "{text}");
    assert!(
        text.contains("git-reset-hard") && text.contains("condition `subcommand` does not hold"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_explains_exit_statuses() {
    let env = Env::new();
    let out = env.run(&["check", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("0 allow, 1 deny, 2 require approval, 3 redirect"));
}

/// Runs `command` with `input` on stdin, written from another thread while this one reads the
/// output: with large inputs and outputs, writing everything first would fill both pipes and
/// block both processes. A child that exits early is tolerated, as in `support::feed`.
fn output_with_large_stdin(command: &mut Command, input: Vec<u8>) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        match stdin.write_all(&input) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => panic!("writing to the child's stdin: {e}"),
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn batch_mode_reports_a_non_utf8_line_and_goes_on() {
    let env = Env::new();
    let input: &[u8] = b"ls\necho \xff\xfe x\nrm -rf ~\n\xc3\ngit push -f\n";
    let out = support::output_with_stdin(&mut env.cmd(&["check", "--batch", "--json"]), input);
    // Every readable line is decided; the status says that not all of them could be.
    assert_eq!(out.status.code(), Some(70), "{}", stderr(&out));
    let entries = json_lines(&out);
    assert_eq!(entries.len(), 5, "{}", stdout(&out));
    assert_eq!(entries[0]["decision"], "allow");
    assert_eq!(entries[1]["line"], 2);
    assert!(entries[1]["decision"].is_null());
    let error = entries[1]["error"].as_str().unwrap();
    assert!(
        error.contains("line 2") && error.contains("UTF-8"),
        "{error}"
    );
    assert_eq!(entries[1]["command"], "echo \u{fffd}\u{fffd} x");
    assert_eq!(entries[2]["decision"], "deny");
    assert_eq!(entries[3]["line"], 4);
    assert_eq!(entries[4]["decision"], "require_approval");

    let out = support::output_with_stdin(&mut env.cmd(&["check", "--batch"]), input);
    assert_eq!(out.status.code(), Some(70));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(
        lines[1].starts_with("error\t-\tline 2 is not valid UTF-8"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("deny\t"), "{}", lines[2]);
    assert!(lines[3].starts_with("error\t-\tline 4 "), "{}", lines[3]);
    assert!(lines[4].starts_with("require_approval\t"), "{}", lines[4]);
}

/// Deeply nested shapes, about 10,000 levels each, built here (never through a shell).
fn deep_commands() -> Vec<(&'static str, String)> {
    let n = 10_000;
    vec![
        ("$(", "$(".repeat(n)),
        ("(", format!("{}rm -rf /{}", "( ".repeat(n), " )".repeat(n))),
        (
            "{",
            format!("{}rm -rf /;{}", "{ ".repeat(n), " };".repeat(n)),
        ),
        ("backticks", "$(`".repeat(n)),
        (
            "${",
            format!("{}$(rm -rf /){}", "${".repeat(n), "}".repeat(n)),
        ),
        ("<(", "cat <(".repeat(n / 2)),
        ("f()", "f() ".repeat(n) + "rm -rf /"),
    ]
}

#[test]
fn deep_nesting_requires_approval_instead_of_crashing() {
    let env = Env::new();
    for (name, command) in deep_commands() {
        let out = env.run(&["check", "--json", "--", &command]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        let e = &json_lines(&out)[0];
        let reasons: Vec<&str> = e["segments"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["unverifiable"].as_str())
            .collect();
        assert!(
            reasons.iter().any(|r| r.contains("nests deeper than")),
            "{name}: {reasons:?}"
        );
    }
    // `bash -c` inside `bash -c`: quoting triples the quotes at each level, so nine levels reach
    // the depth limit of shell strings and ten the size cap (one argv element stays < 128 KiB).
    for (levels, why) in [(9, "nested deeper than"), (10, "bytes long")] {
        let mut command = "rm -rf /".to_owned();
        for _ in 0..levels {
            command = format!("bash -c {}", safeshell_rules::segment::quote(&command));
        }
        let out = env.run(&["check", "--json", "--", &command]);
        assert_eq!(out.status.code(), Some(2), "{levels}: {}", stderr(&out));
        assert!(stdout(&out).contains(why), "{levels}: {why}");
    }
}

#[test]
fn deep_nesting_in_batch_mode_does_not_stop_the_batch() {
    let env = Env::new();
    let mut input = Vec::new();
    for (_, command) in deep_commands() {
        input.extend_from_slice(command.replace('\n', " ").as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(b"rm -rf /\n");
    let out = output_with_large_stdin(&mut env.cmd(&["check", "--batch", "--json"]), input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let decisions: Vec<String> = json_lines(&out)
        .iter()
        .map(|e| e["decision"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(decisions.len(), deep_commands().len() + 1);
    assert_eq!(decisions.last().map(String::as_str), Some("deny"));
}

#[test]
fn long_and_oversized_commands_are_decided_quickly() {
    let env = Env::new();
    // Just under the cap: parsed in full, in linear time (a 100 KB pipeline took minutes).
    let pipeline = "true | ".repeat(9000) + "true";
    assert!(pipeline.len() < safeshell_rules::segment::MAX_COMMAND_BYTES);
    let started = std::time::Instant::now();
    let out = env.run(&["check", "--", &pipeline]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // Over it: require approval, naming the size, without parsing.
    let oversized = "true | ".repeat(11_000) + "true";
    assert!(oversized.len() > safeshell_rules::segment::MAX_COMMAND_BYTES);
    let out = env.run(&["check", "--json", "--", &oversized]);
    assert_eq!(out.status.code(), Some(2));
    let reason = json_lines(&out)[0]["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains(&format!("{} bytes", oversized.len())),
        "{reason}"
    );
    // A 1 MB line in batch mode, between two ordinary ones.
    let mut input = b"ls\n".to_vec();
    input.extend_from_slice("true | ".repeat(150_000).as_bytes());
    input.extend_from_slice(b"true\nrm -rf /\n");
    let started = std::time::Instant::now();
    let out = output_with_large_stdin(&mut env.cmd(&["check", "--batch", "--json"]), input);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let decisions: Vec<String> = json_lines(&out)
        .iter()
        .map(|e| e["decision"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(decisions, ["allow", "require_approval", "deny"]);
}

#[test]
fn file_accesses_are_decided_like_the_commands_that_make_them() {
    let env = Env::new();
    let decide = |args: &[&str]| {
        let mut all = vec!["check", "--json"];
        all.extend_from_slice(args);
        let out = env.run(&all);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stderr(&out)));
        (
            out.status.code(),
            v["decision"].as_str().unwrap().to_owned(),
        )
    };
    let bashrc = env.home.join(".bashrc").display().to_string();
    let key = env.home.join(".ssh/id_ed25519").display().to_string();
    let deny = (Some(1), "deny".to_owned());
    let allow = (Some(0), "allow".to_owned());
    let ask = (Some(2), "require_approval".to_owned());
    assert_eq!(decide(&["--file", ".env"]), deny);
    assert_eq!(decide(&["--file", &key]), deny);
    assert_eq!(decide(&["--file", &format!("{key}.pub")]), allow);
    assert_eq!(
        decide(&["--file", "src/main.rs", "--access", "edit"]),
        allow
    );
    assert_eq!(decide(&["--file", &bashrc, "--access", "write"]), ask);
    assert_eq!(decide(&["--file", &bashrc]), allow);
    // A search pattern selects the files on disk: no `.env*` here, so nothing secret is read …
    assert_eq!(
        decide(&["--file", ".", "--access", "search", "--pattern", ".env*"]),
        allow
    );
    // … until there is one.
    env.write("project/.env.local", "TOKEN=fake");
    assert_eq!(
        decide(&["--file", ".", "--access", "search", "--pattern", ".env*"]),
        deny
    );
    assert_eq!(
        decide(&["--file", ".", "--access", "search", "--pattern", "*.rs"]),
        allow
    );
    // Names only: listing a key directory shows no key.
    let ssh = env.home.join(".ssh").display().to_string();
    assert_eq!(
        decide(&["--file", &ssh, "--access", "list", "--pattern", "*"]),
        allow
    );
    // The human form says what the access was judged as.
    let out = env.run(&["check", "--file", ".env"]);
    assert!(
        stdout(&out).contains("judged as: cat --"),
        "{}",
        stdout(&out)
    );
    // A kind that does not exist is a usage error, not a decision.
    let out = env.run(&["check", "--file", ".env", "--access", "steal"]);
    assert_eq!(out.status.code(), Some(64));
    let out = env.run(&["check", "--file", ".env", "--", "ls"]);
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn refusals_say_where_the_rule_is_defined_what_matched_and_what_to_do_instead() {
    let env = Env::new();
    let rules = env.write(
        ".safeshell/rules.toml",
        "# team rules\n\n[[rules]]\nname = \"no-deploy\"\ncommands = [\"deploy\"]\naction = \"deny\"\ncontext = \"all\"\nsuggest = \"deploy --dry-run\"\nwhen = { flags = [\"--prod\"] }\n",
    );
    let out = env.run(&["check", "--json", "--", "deploy --prod"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(
        v["explanation"]["origin"],
        format!("{}:4", rules.display()),
        "{v}"
    );
    assert_eq!(v["explanation"]["matched"][0], "program `deploy`");
    assert_eq!(v["explanation"]["matched"][1], "flag `--prod`");
    assert_eq!(v["explanation"]["suggest"], "deploy --dry-run");
    let human = stdout(&env.run(&["check", "--", "deploy --prod"]));
    assert!(
        human.contains("safer alternative: deploy --dry-run"),
        "{human}"
    );
    // Built-in rules name their pack; an allow explains nothing.
    let v: serde_json::Value = serde_json::from_slice(
        &env.run(&["check", "--json", "--", "git push --force"])
            .stdout,
    )
    .unwrap();
    assert_eq!(v["explanation"]["origin"], "pack `git` (built in)");
    assert!(
        v["explanation"]["suggest"]
            .as_str()
            .unwrap()
            .contains("--force-with-lease")
    );
    let v: serde_json::Value =
        serde_json::from_slice(&env.run(&["check", "--json", "--", "ls"]).stdout).unwrap();
    assert!(v["explanation"].is_null());
}

#[test]
fn file_accesses_are_judged_as_the_files_they_would_really_open() {
    let env = Env::new();
    let home = env.home.display().to_string();
    env.write(".kube/config", "fake");
    env.write(".ssh/id_ed25519", "fake");
    env.write("project/src/main.rs", "fn main() {}");
    env.write("project/package.json", "{}");
    // A link in the project to a secret, made earlier (by `ln -s`, which reads nothing).
    std::os::unix::fs::symlink(env.home.join(".kube/config"), env.project.join("notes.txt"))
        .unwrap();
    let decide = |args: &[&str]| {
        let mut all = vec!["check", "--json"];
        all.extend_from_slice(args);
        let out = env.run(&all);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stderr(&out)));
        v["decision"].as_str().unwrap().to_owned()
    };
    let proc_alias = format!("/proc/self/root/proc/self/root{home}/.kube/config");
    for (args, want) in [
        // A tool that expands `~` opens the secret: judged so.
        (vec!["--file", "~/.kube/config"], "deny"),
        (
            vec!["--file", "~/.bashrc", "--access", "write"],
            "require_approval",
        ),
        // Other spellings of the same file: links, /proc aliases.
        (vec!["--file", "notes.txt"], "deny"),
        (vec!["--file", proc_alias.as_str()], "deny"),
        // A search over the home directory reads its secret stores.
        (vec!["--file", home.as_str(), "--access", "search"], "deny"),
        (vec!["--file", ".", "--access", "search"], "allow"),
        // A pattern is matched against the files that exist: no secret among the JSON files
        // here, so `*.json` is an ordinary search …
        (
            vec!["--file", ".", "--access", "search", "--pattern", "*.json"],
            "allow",
        ),
        (
            vec![
                "--file",
                ".",
                "--access",
                "search",
                "--pattern",
                "*.{json,rs}",
            ],
            "allow",
        ),
    ] {
        assert_eq!(decide(&args), want, "{args:?}");
    }
    // … until one is there; and ripgrep's wildcards match dotfiles (`?env` selects `.env`).
    env.write("project/config/credentials.json", "{}");
    env.write("project/.env", "TOKEN=fake");
    for pattern in ["*.json", "?env", "[.]env", "*.rs,.env", "*.rs .env"] {
        assert_eq!(
            decide(&["--file", ".", "--access", "search", "--pattern", pattern]),
            "deny",
            "{pattern}"
        );
    }
}
