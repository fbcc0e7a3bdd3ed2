//! Kernel containment (Landlock) of agents' allowed commands, end to end: the real daemon, the
//! real `SHELL` wrapper and PATH shims, in a temporary HOME holding fake secrets (files with a
//! marker string) and a fake start-up file. Containment is proven by what did not happen: the
//! marker never appears in a contained command's output, the fake `~/.bashrc` and
//! `~/.safeshell/rules.toml` never change.
//!
//! The commands are ones the rules engine allows (the files are reached through links in the
//! project made by the test before the agent runs, which the engine does not follow), so what
//! stops them is the kernel alone.

mod support;

use std::path::Path;
use std::process::Output;

use support::{Harness, text};

const MARKER: &str = "FAKE-SECRET-MARKER-5d1e";
const BASHRC: &str = "# the fake start-up file\nexport ORIGINAL=1\n";
const RULES: &str = "# the fake global rules\n";
const PAYLOAD: &str = "export CHANGED=1\n";

/// Programs the PATH-shim tests run directly (shimmed through `extra_shims`).
const SHIMMED: &[&str] = &[
    "cat", "head", "tail", "grep", "sed", "awk", "dd", "python3", "perl", "cp", "tee",
];

fn landlock_available() -> bool {
    let out = std::process::Command::new(support::safeshell_exe())
        .args(["contain", "--print", "/"])
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .output()
        .unwrap();
    text(&out.stdout).contains("Landlock ABI")
}

/// A harness with fake secrets, a fake `.bashrc`, shims for [`SHIMMED`], a payload and a tar
/// archive holding a `.bashrc` in the work directory, and the daemon started with `env`.
fn setup(env: &[(&str, &str)]) -> Harness {
    let mut h = Harness::without_daemon(RULES);
    let shims: Vec<String> = std::iter::once("tool")
        .chain(SHIMMED.iter().copied())
        .map(|s| format!("\"{s}\""))
        .collect();
    std::fs::write(
        h.state.join("config.toml"),
        format!(
            "approval_timeout_secs = 3\nwatch_interval_ms = 100\nextra_shims = [{}]\n",
            shims.join(", ")
        ),
    )
    .unwrap();
    let out = h.safeshell(&["refresh"]);
    assert!(out.status.success(), "refresh: {}", text(&out.stderr));
    for (dir, file) in [(".ssh", "marker_key"), (".aws", "mystery")] {
        std::fs::create_dir_all(h.home.join(dir)).unwrap();
        std::fs::write(h.home.join(dir).join(file), format!("{MARKER}\n")).unwrap();
    }
    std::fs::write(h.home.join(".bashrc"), BASHRC).unwrap();
    std::fs::create_dir_all(h.home.join(".npm")).unwrap();
    std::fs::write(h.work.join("payload"), PAYLOAD).unwrap();
    let src = h.tmp.path().join("tarsrc");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join(".bashrc"), PAYLOAD).unwrap();
    let tar = std::process::Command::new("tar")
        .arg("-cf")
        .arg(h.work.join("payload.tar"))
        .arg("-C")
        .arg(&src)
        .arg(".bashrc")
        .status()
        .unwrap();
    assert!(tar.success());
    // Links in the project to the home and state directories, made before the agent runs (the
    // rules engine does not follow links; the kernel does): `cd homelink && cat .ssh/…` is what
    // the rules allow and only containment stops.
    std::os::unix::fs::symlink(&h.home, h.work.join("homelink")).unwrap();
    std::os::unix::fs::symlink(&h.state, h.work.join("statelink")).unwrap();
    h.start_daemon_with(env);
    h
}

/// Runs `command` through the `SHELL` wrapper as an agent (in the work directory).
fn agent_sh(h: &Harness, command: &str, env: &[(&str, &str)]) -> Output {
    h.command(support::shim_exe())
        .args(["-c", command])
        .env("SAFESHELL_CONTEXT", "ai")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// `"$OLDPWD/…"` spelled as the work directory's absolute path, so that the decision of the
/// whole string covers the shims beneath it (no double asking compares argv as written).
fn absolute(h: &Harness, command: &str) -> String {
    command.replace("$OLDPWD", h.work.to_str().unwrap())
}

fn assert_untouched(h: &Harness, what: &str) {
    let bashrc = h.home.join(".bashrc");
    let meta = std::fs::symlink_metadata(&bashrc).unwrap();
    assert!(meta.is_file(), "{what}: ~/.bashrc was replaced");
    assert_eq!(
        std::fs::read_to_string(&bashrc).unwrap(),
        BASHRC,
        "{what} changed ~/.bashrc"
    );
    assert_eq!(
        std::fs::read_to_string(h.state.join("rules.toml")).unwrap(),
        RULES,
        "{what} changed ~/.safeshell/rules.toml"
    );
}

/// Commands that print a file's content, `FILE` standing for the file (after `cd homelink`).
const READERS: &[&str] = &[
    "cat FILE",
    "head -n 5 FILE",
    "tail -n 5 FILE",
    "less FILE",
    "more FILE",
    "grep -h . FILE",
    "awk 1 FILE",
    "sed -n p FILE",
    "cut -c1- FILE",
    "sort FILE",
    "uniq FILE",
    "xxd -p FILE | xxd -r -p",
    "base64 FILE | base64 -d",
    "strings FILE",
    "tac FILE",
    "nl FILE",
    "cp FILE \"$OLDPWD/copy\"; cat \"$OLDPWD/copy\"",
    "tar -cf - FILE | tar -xOf -",
    "gzip -c FILE | gzip -dc",
    "bzip2 -c FILE | bzip2 -dc",
    "xz -c FILE | xz -dc",
    "python3 -c 'print(open(\"FILE\").read())'",
    "perl -ne print FILE",
    "node -e 'process.stdout.write(require(\"fs\").readFileSync(\"FILE\", \"utf8\"))'",
    "git diff --no-index /dev/null FILE",
    "dd if=FILE status=none",
    "diff /dev/null FILE",
    "paste FILE",
    "rev FILE | rev",
    "fold FILE",
    "fmt FILE",
    "pr -T FILE",
    "comm -23 FILE /dev/null",
    "iconv -f utf-8 -t utf-8 FILE",
    "expand FILE",
    "tr x x < FILE",
    "jq -R . FILE",
    "while read -r l; do echo \"$l\"; done < FILE",
];

/// The programs a reader needs (it is skipped when one is not installed).
fn installed(command: &str) -> bool {
    let first = command.split_whitespace().next().unwrap_or("");
    if first == "while" || first == "cp" {
        return true;
    }
    ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .any(|d| Path::new(d).join(first).exists())
}

#[test]
fn agents_readers_cannot_show_protected_secrets() {
    readers_cannot_show_protected_secrets(&[]);
}

/// The same with the shims building their own ruleset (the daemon hands none over).
#[test]
fn agents_readers_cannot_show_protected_secrets_with_shim_built_rulesets() {
    readers_cannot_show_protected_secrets(&[("SAFESHELL_TEST_NO_RULESET_HANDOFF", "1")]);
}

fn readers_cannot_show_protected_secrets(daemon_env: &[(&str, &str)]) {
    if !landlock_available() {
        eprintln!("skipped: the kernel has no Landlock");
        return;
    }
    let h = setup(daemon_env);
    let mut ran = 0;
    for reader in READERS.iter().filter(|r| installed(r)) {
        for file in [".ssh/marker_key", ".aws/mystery"] {
            let command = format!(
                "cd homelink && {}",
                absolute(&h, &reader.replace("FILE", file))
            );
            let out = agent_sh(&h, &command, &[]);
            let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
            assert_ne!(
                out.status.code(),
                Some(126),
                "`{command}` was refused by the rules, so it proves nothing about the kernel: {all}"
            );
            assert!(
                !all.contains(MARKER),
                "`{command}` showed the secret when contained:\n{all}"
            );
        }
        ran += 1;
    }
    assert!(ran >= 30, "only {ran} reader programs are installed");
    // The same reads through PATH shims (the shim contains the program it runs), through a
    // link in the project to ~/.ssh made earlier (the rules engine does not follow links).
    std::os::unix::fs::symlink(h.home.join(".ssh"), h.work.join("keys")).unwrap();
    for program in ["cat", "head", "grep", "sed", "awk", "python3", "perl", "dd"] {
        let args: Vec<String> = match program {
            "grep" => vec!["-h".into(), ".".into(), "keys/marker_key".into()],
            "sed" => vec!["-n".into(), "p".into(), "keys/marker_key".into()],
            "awk" => vec!["1".into(), "keys/marker_key".into()],
            "python3" => vec!["-c".into(), "print(open('keys/marker_key').read())".into()],
            "perl" => vec!["-ne".into(), "print".into(), "keys/marker_key".into()],
            "dd" => vec!["if=keys/marker_key".into()],
            _ => vec!["keys/marker_key".into()],
        };
        let out = h
            .command(program)
            .args(&args)
            .env("SAFESHELL_CONTEXT", "ai")
            .output()
            .unwrap();
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_ne!(out.status.code(), Some(126), "{program} was refused: {all}");
        assert!(
            !all.contains(MARKER),
            "shimmed {program} showed the secret:\n{all}"
        );
    }
    // The daemon told every one of them to contain, and says so in the audit log.
    let audit = h.audit();
    let agents: Vec<_> = audit
        .iter()
        .filter(|r| r["context"] == "ai" && r["decision"] == "allow")
        .collect();
    assert!(!agents.is_empty());
    assert!(agents.iter().all(|r| r["contained"] == true), "{agents:?}");
}

/// Commands that try to change the fake `~/.bashrc` (after `cd homelink`).
const WRITERS: &[&str] = &[
    "sed -i s/ORIGINAL/CHANGED/ .bashrc",
    "sed -n 'w .bashrc' \"$OLDPWD/payload\"",
    // The file names are computed at run time: the rules engine reads path literals in code.
    "python3 -c 'open(\".\" + \"bashrc\", \"a\").write(\"x\")'",
    "perl -i -pe s/ORIGINAL/CHANGED/ .bashrc",
    "echo x | tee -a .bashrc",
    "cp \"$OLDPWD/payload\" .bashrc",
    "install -m 644 \"$OLDPWD/payload\" .bashrc",
    "tar -xf \"$OLDPWD/payload.tar\"",
    "echo x >> .bashrc",
    "mv \"$OLDPWD/payload\" .bashrc",
    "ln -sf \"$OLDPWD/payload\" .bashrc",
    "truncate -s 0 .bashrc",
    "dd of=.bashrc if=\"$OLDPWD/payload\" status=none",
    "node -e 'require(\"fs\").appendFileSync(\".\" + \"bashrc\", \"x\")'",
    "rm -f .bashrc",
];

#[test]
fn agents_writers_cannot_change_start_up_files_or_safeshell_rules() {
    if !landlock_available() {
        eprintln!("skipped: the kernel has no Landlock");
        return;
    }
    let h = setup(&[]);
    let mut ran = 0;
    for writer in WRITERS.iter().filter(|w| installed(w)) {
        let command = format!("cd homelink && {}", absolute(&h, writer));
        let out = agent_sh(&h, &command, &[]);
        assert_ne!(
            out.status.code(),
            Some(126),
            "`{command}` was refused by the rules: {}",
            text(&out.stderr)
        );
        assert_untouched(&h, &command);
        ran += 1;
    }
    assert!(ran >= 10, "only {ran} writers are installed");
    for writer in [
        "echo x >> rules.toml",
        "sed -i s/fake/changed/ rules.toml",
        "cp \"$OLDPWD/payload\" rules.toml",
        "python3 -c 'open(\"rules\" + \".toml\", \"w\").write(\"x\")'",
        "rm -f rules.toml",
    ] {
        let command = format!("cd statelink && {}", absolute(&h, writer));
        let out = agent_sh(&h, &command, &[]);
        assert_ne!(
            out.status.code(),
            Some(126),
            "`{command}` was refused by the rules"
        );
        assert_untouched(&h, &command);
    }
    // Through PATH shims, through links in the project made earlier (the rules engine does not
    // follow links).
    std::os::unix::fs::symlink(h.home.join(".bashrc"), h.work.join("rc")).unwrap();
    std::os::unix::fs::symlink(&h.state, h.work.join("state")).unwrap();
    for (program, args) in [
        (
            "sed",
            vec!["--follow-symlinks", "-i", "s/ORIGINAL/CHANGED/", "rc"],
        ),
        ("cp", vec!["payload", "rc"]),
        ("cp", vec!["payload", "state/rules.toml"]),
        ("python3", vec!["-c", "open('rc', 'a').write('x')"]),
        (
            "perl",
            vec![
                "-e",
                "open(my $f, '>>', 'state/rules.toml') or exit 3; print $f 'x'",
            ],
        ),
        ("tee", vec!["-a", "rc"]),
        ("dd", vec!["if=payload", "of=rc", "conv=notrunc"]),
    ] {
        let out = h
            .command(program)
            .args(&args)
            .env("SAFESHELL_CONTEXT", "ai")
            .output()
            .unwrap();
        assert_ne!(
            out.status.code(),
            Some(126),
            "{program} was refused: {}",
            text(&out.stderr)
        );
        assert_untouched(&h, program);
    }
}

#[test]
fn ordinary_work_succeeds_contained() {
    if !landlock_available() {
        eprintln!("skipped: the kernel has no Landlock");
        return;
    }
    let h = setup(&[]);
    // A tiny cargo project, built and tested offline with the toolchain running these tests.
    let project = h.work.join("hello");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        project.join("src/main.rs"),
        "fn main() { println!(\"hello {}\", 2 + 2); }\n#[test]\nfn adds() { assert_eq!(2 + 2, 4); }\n",
    )
    .unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let toolchain = Path::new(&cargo).parent().unwrap();
    let path = format!("{}:{}", h.path_var(), toolchain.display());
    let cargo_home = h.home.join(".cargo");
    std::fs::create_dir_all(cargo_home.join("registry")).unwrap();
    let cargo_home = cargo_home.to_str().unwrap();
    let env = [("PATH", path.as_str()), ("CARGO_HOME", cargo_home)];
    let out = agent_sh(
        &h,
        "cd hello && cargo build --offline -q && cargo test --offline -q && ./target/debug/hello",
        &env,
    );
    assert!(
        out.status.success(),
        "cargo failed contained: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("hello 4"));

    // git in the checkout.
    std::fs::write(h.work.join("notes.txt"), "notes\n").unwrap();
    let out = agent_sh(
        &h,
        "git status --short && git add notes.txt && \
         git -c user.name=Agent -c user.email=agent@example.invalid commit -qm notes && git log --oneline",
        &[],
    );
    assert!(
        out.status.success(),
        "git failed contained: {}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("notes"));

    // Writing to /tmp and in the project.
    let name = format!("/tmp/safeshell-contained-{}", std::process::id());
    let out = agent_sh(
        &h,
        &format!("echo tmp-ok > {name} && cat {name} && rm {name} && echo here > written.txt"),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("tmp-ok"));
    assert!(h.work.join("written.txt").is_file());

    // Interpreters and package managers start.
    for command in [
        "pip --version",
        "npm --version",
        "python3 -c 'print(6 * 7)'",
    ] {
        if !installed(command) {
            continue;
        }
        let out = agent_sh(&h, command, &[]);
        assert!(
            out.status.success(),
            "`{command}` failed contained: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    // The stand-in program through its shim; its marker directory is outside the project and
    // not among this test's writable places, so touching a marker there is refused.
    let out = h
        .command("tool")
        .args(["hello", "touch=contained"])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains("tool args: hello"));
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out.stderr)
    );
    assert!(!h.marker("contained"));
}

#[test]
fn people_are_never_contained() {
    if !landlock_available() {
        eprintln!("skipped: the kernel has no Landlock");
        return;
    }
    let h = setup(&[]);
    let out = h
        .command(support::shim_exe())
        .args(["-c", "cd ~ && cat .ssh/marker_key"])
        .env("SAFESHELL_CONTEXT", "human")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(MARKER));
    let out = h
        .command("cat")
        .arg(".ssh/marker_key")
        .current_dir(&h.home)
        .env("SAFESHELL_CONTEXT", "human")
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains(MARKER));
    let audit = h.audit();
    assert!(
        audit
            .iter()
            .filter(|r| r["context"] == "human")
            .all(|r| r["contained"] == false)
    );
}

#[test]
fn without_landlock_commands_run_uncontained_and_it_is_reported() {
    let no = [("SAFESHELL_TEST_NO_LANDLOCK", "1")];
    let h = setup(&no);
    let out = agent_sh(&h, "cd homelink && cat .ssh/marker_key && echo ran", &no);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Nothing breaks: the command ran (uncontained, as the kernel cannot help).
    assert!(text(&out.stdout).contains("ran"));
    assert!(
        text(&out.stderr).is_empty(),
        "the shim stays quiet: {}",
        text(&out.stderr)
    );
    let audit = h.audit();
    let last = audit.last().unwrap();
    assert_eq!(last["contained"], false, "{last}");
    assert!(h.log().contains("Landlock is unavailable"), "{}", h.log());
    let out = h
        .command(support::safeshell_exe())
        .args(["contain", "--print"])
        .envs(no)
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("unavailable"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn containment_off_in_config_is_obeyed_and_print_shows_the_profile() {
    if !landlock_available() {
        eprintln!("skipped: the kernel has no Landlock");
        return;
    }
    let h = setup(&[]);
    let out = h.safeshell(&["contain", "--print"]);
    let shown = text(&out.stdout);
    assert!(out.status.success());
    assert!(shown.contains("Landlock ABI"), "{shown}");
    assert!(
        shown.contains(&format!(
            "protected (no access): {}",
            h.home.join(".ssh").display()
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("project: {}", h.work.display())),
        "{shown}"
    );
    // The doctor proves it with a contained probe.
    let out = h.safeshell(&["doctor"]);
    let report = text(&out.stdout);
    let line = report
        .lines()
        .find(|l| l.contains("containment"))
        .unwrap_or_default();
    assert!(line.starts_with("OK"), "{report}");

    let config = std::fs::read_to_string(h.state.join("config.toml")).unwrap();
    std::fs::write(
        h.state.join("config.toml"),
        format!("{config}containment = \"off\"\n"),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = agent_sh(&h, "cd homelink && cat .ssh/marker_key", &[]);
        if text(&out.stdout).contains(MARKER) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "containment = \"off\" was not applied: {}",
            h.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Runs `safeshell-shim hook claude` on a Bash payload (in the work directory).
fn claude_hook(h: &Harness, command: &str, mode: &str) -> serde_json::Value {
    let payload = serde_json::json!({
        "session_id": "s1",
        "cwd": h.work,
        "permission_mode": mode,
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "Look", "timeout": 60000},
    });
    let out = support::output_with_stdin(
        h.command(support::shim_exe()).args(["hook", "claude"]),
        payload.to_string().as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    if out.stdout.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The Claude Code hook rewrites an allowed command to run under `safeshell-shim contain` where
/// that changes nothing Claude Code would ask (bypassPermissions mode, or `always`), and never
/// while Claude Code's own settings hold Bash deny/ask rules the new text would slip past.
#[test]
fn claude_code_hook_rewrites_allowed_commands_to_run_contained() {
    if !landlock_available() {
        eprintln!("skipped: the kernel has no Landlock");
        return;
    }
    let h = setup(&[]);
    let read = "cd homelink && cat .ssh/marker_key";
    let write = "cd homelink && echo x >> .bashrc";
    for command in [read, write] {
        let v = claude_hook(&h, command, "bypassPermissions");
        let hso = &v["hookSpecificOutput"];
        // Claude Code replaces the whole input: the other fields are kept.
        assert_eq!(hso["updatedInput"]["description"], "Look", "{v}");
        assert_eq!(hso["updatedInput"]["timeout"], 60000);
        // In bypassPermissions mode Claude Code asks nothing anyway: no decision is forced.
        assert!(hso.get("permissionDecision").is_none(), "{v}");
        let rewritten = hso["updatedInput"]["command"].as_str().unwrap();
        assert!(
            rewritten.contains(" contain -c ") && rewritten.contains(command),
            "{rewritten}"
        );
        // What Claude Code's Bash tool does with it: a shell beneath the agent runs it.
        let out = h
            .command("bash")
            .args(["-c", rewritten])
            .env("SAFESHELL_CONTEXT", "ai")
            .output()
            .unwrap();
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_ne!(out.status.code(), Some(126), "refused by the rules: {all}");
        assert!(
            !all.contains(MARKER),
            "`{command}` showed the secret:\n{all}"
        );
        assert_untouched(&h, command);
    }
    // The shim's check of the rewritten command was covered by the hook's decision (nobody is
    // asked twice) and ran contained.
    let audit = h.audit();
    let shim_checks: Vec<_> = audit
        .iter()
        .filter(|r| r["surface"] == "shell_wrapper")
        .collect();
    assert_eq!(shim_checks.len(), 2, "{audit:?}");
    assert!(
        shim_checks
            .iter()
            .all(|r| r["contained"] == true && r["decision"] == "allow" && r["token"] == true),
        "{shim_checks:?}"
    );

    // Default mode: rewriting would change what Claude Code prompts for, so the hook does not.
    assert_eq!(claude_hook(&h, read, "default"), serde_json::Value::Null);
    // `claude_hook_contain = "always"`: rewritten in default mode too, answering "allow".
    let config = h.state.join("config.toml");
    let mut text_of_config = std::fs::read_to_string(&config).unwrap();
    text_of_config.push_str("claude_hook_contain = \"always\"\n");
    std::fs::write(&config, &text_of_config).unwrap();
    let v = claude_hook(&h, read, "default");
    assert_eq!(
        v["hookSpecificOutput"]["permissionDecision"], "allow",
        "{v}"
    );
    assert!(
        v["hookSpecificOutput"]["updatedInput"]["command"]
            .as_str()
            .unwrap()
            .contains(" contain -c ")
    );
    assert_eq!(claude_hook(&h, read, "plan"), serde_json::Value::Null);
    // Claude Code's own Bash deny rules would be matched against the new text: no rewrite.
    std::fs::create_dir_all(h.work.join(".claude")).unwrap();
    std::fs::write(
        h.work.join(".claude/settings.json"),
        r#"{"permissions": {"deny": ["Bash(curl:*)"]}}"#,
    )
    .unwrap();
    assert_eq!(
        claude_hook(&h, read, "bypassPermissions"),
        serde_json::Value::Null
    );
    // `off`: never.
    std::fs::remove_file(h.work.join(".claude/settings.json")).unwrap();
    std::fs::write(&config, text_of_config.replace("\"always\"", "\"off\"")).unwrap();
    assert_eq!(
        claude_hook(&h, read, "bypassPermissions"),
        serde_json::Value::Null
    );
}

/// `containment_listen = false`: a contained command cannot bind a TCP port (no dev servers, no
/// bind shells); by default it can.
#[test]
fn listening_is_refused_when_the_config_says_so() {
    if !landlock_available() {
        eprintln!("skipped: the kernel has no Landlock");
        return;
    }
    let h = setup(&[]);
    // A script on disk (inline code that opens sockets is unverifiable for the rules engine).
    std::fs::write(
        h.work.join("listen.py"),
        "import socket\ns = socket.socket()\ns.bind((\"127.0.0.1\", 0))\ns.listen()\nprint(\"LISTENING\")\n",
    )
    .unwrap();
    let listen = "python3 listen.py";
    let out = agent_sh(&h, listen, &[]);
    assert!(
        text(&out.stdout).contains("LISTENING"),
        "by default a contained command may listen: {}",
        text(&out.stderr)
    );
    let shown = text(&h.safeshell(&["contain", "--print"]).stdout);
    let abi: u32 = shown
        .split("Landlock ABI ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    if abi < 4 {
        eprintln!("skipped the rest: Landlock ABI {abi} has no network rights");
        return;
    }
    let config = std::fs::read_to_string(h.state.join("config.toml")).unwrap();
    std::fs::write(
        h.state.join("config.toml"),
        format!("{config}containment_listen = false\n"),
    )
    .unwrap();
    h.eventually(
        "the daemon applies containment_listen",
        std::time::Duration::from_secs(10),
        &|| {
            let out = agent_sh(&h, listen, &[]);
            !text(&out.stdout).contains("LISTENING")
                && text(&out.stderr).contains("PermissionError")
        },
    );
    assert!(
        text(&h.safeshell(&["contain", "--print"]).stdout).contains("binding TCP ports is refused")
    );
    // Outgoing connections are not binds: still possible (a listener outside the containment).
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::fs::write(
        h.work.join("connect.py"),
        format!(
            "import socket\nsocket.create_connection((\"127.0.0.1\", {port}))\nprint(\"CONNECTED\")\n"
        ),
    )
    .unwrap();
    let connect = "python3 connect.py".to_owned();
    let out = agent_sh(&h, &connect, &[]);
    assert!(
        text(&out.stdout).contains("CONNECTED"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_repositorys_restrictions_hold_and_the_rest_of_its_checkout_stays_usable() {
    repository_restrictions(&[]);
}

#[test]
fn a_repositorys_restrictions_hold_with_shim_built_rulesets() {
    repository_restrictions(&[("SAFESHELL_TEST_NO_RULESET_HANDOFF", "1")]);
}

/// A repository's `[containment]` (untrusted: restrictions need no trust) keeps `private/` from
/// being read and `vendor/` from being changed by agents' commands, which the rules engine allows
/// (it knows nothing of these paths); the rest of the checkout stays readable and its files
/// writable.
fn repository_restrictions(daemon_env: &[(&str, &str)]) {
    if !landlock_available() {
        eprintln!("skipped: the kernel has no Landlock");
        return;
    }
    let h = setup(daemon_env);
    for d in ["private", "vendor", "src"] {
        std::fs::create_dir_all(h.work.join(d)).unwrap();
    }
    let vendored = "vendored, do not change\n";
    std::fs::write(h.work.join("private/data.txt"), format!("{MARKER}\n")).unwrap();
    std::fs::write(h.work.join("vendor/lib.txt"), vendored).unwrap();
    std::fs::write(h.work.join("src/main.txt"), "main\n").unwrap();
    std::fs::write(h.work.join("notes.txt"), "notes\n").unwrap();
    let read = "cat private/data.txt";
    // Before the repository says anything, the engine allows the read and it shows the marker.
    let out = agent_sh(&h, read, &[]);
    assert!(text(&out.stdout).contains(MARKER), "{}", text(&out.stderr));

    std::fs::create_dir_all(h.work.join(".safeshell")).unwrap();
    std::fs::write(
        h.work.join(".safeshell/rules.toml"),
        "[containment]\nprotect = [\"private\"]\nread_only = [\"vendor/\"]\n",
    )
    .unwrap();
    h.eventually(
        "the daemon applies the repository's [containment]",
        std::time::Duration::from_secs(10),
        &|| {
            let out = agent_sh(&h, read, &[]);
            !out.status.success() && !text(&out.stdout).contains(MARKER)
        },
    );
    for reader in [
        "cat private/data.txt",
        "grep -r . private",
        "tar -cf - private | tar -xOf -",
        "python3 -c 'print(open(\"private/data.txt\").read())'",
        "cp -r private src/copy; cat src/copy/data.txt",
        "mv private/data.txt src/moved.txt; cat src/moved.txt",
    ] {
        let out = agent_sh(&h, reader, &[]);
        // Allowed by the rules (126 is a refusal): the kernel is what stops it.
        assert_ne!(
            out.status.code(),
            Some(126),
            "{reader}: {}",
            text(&out.stderr)
        );
        assert!(
            !text(&out.stdout).contains(MARKER),
            "{reader} showed the protected file"
        );
    }
    assert!(
        h.work.join("private/data.txt").exists(),
        "the protected file was moved"
    );
    for writer in [
        "echo changed > vendor/lib.txt",
        "echo changed >> vendor/lib.txt",
        "sed -i s/vendored/changed/ vendor/lib.txt",
        "rm -f vendor/lib.txt",
        "cp notes.txt vendor/lib.txt",
        "python3 -c 'open(\"vendor/lib.txt\", \"w\").write(\"changed\")'",
        "touch vendor/new.txt",
        "echo secret > private/data.txt",
    ] {
        let out = agent_sh(&h, writer, &[]);
        assert_ne!(
            out.status.code(),
            Some(126),
            "{writer}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(h.work.join("vendor/lib.txt")).unwrap(),
            vendored,
            "{writer} changed the read-only file"
        );
        assert!(!h.work.join("vendor/new.txt").exists(), "{writer}");
        assert!(
            std::fs::read_to_string(h.work.join("private/data.txt"))
                .unwrap()
                .contains(MARKER),
            "{writer} changed the protected file"
        );
    }
    // The rest: read-only paths read, other files changed, other directories written.
    let out = agent_sh(&h, "cat vendor/lib.txt", &[]);
    assert_eq!(text(&out.stdout), vendored, "{}", text(&out.stderr));
    let out = agent_sh(
        &h,
        "echo more >> src/main.txt && echo more >> notes.txt && echo new > src/new.txt && git status --short",
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("src/"), "{}", text(&out.stdout));
    assert_eq!(
        std::fs::read_to_string(h.work.join("notes.txt")).unwrap(),
        "notes\nmore\n"
    );
    assert!(h.work.join("src/new.txt").exists());
    // The documented limit: no entry is created in a directory that holds a restricted path.
    let out = agent_sh(&h, "touch top-level.txt", &[]);
    assert!(!out.status.success());
    assert!(!h.work.join("top-level.txt").exists());
    // A person's commands are not contained.
    let out = h
        .command(support::shim_exe())
        .args(["-c", read])
        .env("SAFESHELL_CONTEXT", "human")
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains(MARKER), "{}", text(&out.stderr));
    // `contain --print` shows the restrictions and the limit.
    let shown = text(&h.safeshell(&["contain", "--print"]).stdout);
    assert!(
        shown.contains(&format!(
            "protected (no access): {}",
            h.work.join("private").display()
        )),
        "{shown}"
    );
    assert!(
        shown.contains("holds a path [containment] restricts"),
        "{shown}"
    );
    // A file created by someone else in the checkout is readable at the next command (the
    // directory changed, so the daemon's ruleset is rebuilt).
    std::fs::write(h.work.join("later.txt"), "LATER\n").unwrap();
    let out = agent_sh(&h, "cat later.txt", &[]);
    assert!(text(&out.stdout).contains("LATER"), "{}", text(&out.stderr));
}
