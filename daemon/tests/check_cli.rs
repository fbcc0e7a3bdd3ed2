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
