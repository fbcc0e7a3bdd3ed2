//! Shims follow the rules: a program named by any rule source the daemon has loaded (a
//! repository's rule file, seen for the first time) gets its shim without `safeshell refresh`,
//! and a shim removed while a loaded source still needs it comes back. Real daemon and shims in a
//! temporary HOME.

mod support;

use std::time::Duration;

use support::{Harness, shim_exe, text, write_executable};

#[test]
fn a_repository_rule_gets_its_shim_without_a_refresh_and_keeps_it() {
    let h = Harness::new("");
    // A program no built-in or global rule names: a copy of the stand-in `tool`.
    let tool = std::fs::read_to_string(h.bin.join("tool")).unwrap();
    write_executable(&h.bin.join("mytool"), &tool);
    let shim = h.shims().join("mytool");
    assert!(!shim.exists(), "nothing names mytool yet");
    std::fs::create_dir_all(h.work.join(".safeshell")).unwrap();
    std::fs::write(
        h.work.join(".safeshell/rules.toml"),
        "[[rules]]\nname = \"no-mytool-deploy\"\ncommands = [\"mytool\"]\naction = \"deny\"\ncontext = \"ai\"\nwhen = { positional = [\"deploy\"] }\n",
    )
    .unwrap();
    // The first command in the repository makes the daemon load its rules.
    let out = h
        .command(shim_exe())
        .args(["-c", "tool hello"])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    h.eventually("the daemon adds the shim", Duration::from_secs(20), &|| {
        shim.exists()
    });
    assert_eq!(std::fs::read_link(&shim).unwrap(), shim_exe());
    // Now the rule holds through the PATH shim, which is what the shim is for.
    let out = h
        .command("mytool")
        .args(["deploy", "touch=deployed"])
        .env("SAFESHELL_CONTEXT", "ai")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    assert!(!h.marker("deployed"));
    // `safeshell refresh` run outside the repository removes it (it only sees the rules there);
    // the daemon, which still has the repository's rules loaded, puts it back.
    let out = h
        .command(support::safeshell_exe())
        .arg("refresh")
        .current_dir(&h.home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!shim.exists(), "refresh outside the repository removed it");
    h.eventually(
        "the daemon restores the shim",
        Duration::from_secs(30),
        &|| shim.exists(),
    );
}

#[test]
fn doctor_names_a_missing_shim() {
    let mut h = Harness::new("");
    h.kill_daemon(); // nothing puts it back
    std::fs::remove_file(h.shims().join("rm")).unwrap();
    let out = h.safeshell(&["doctor"]);
    let report = text(&out.stdout);
    let line = report
        .lines()
        .find(|l| l.contains("have no shim: "))
        .unwrap_or_else(|| panic!("no missing-shim line:\n{report}"));
    let names = line.split("have no shim: ").nth(1).unwrap();
    assert!(names.split_whitespace().any(|n| n == "rm"), "{line}");
    assert_eq!(out.status.code(), Some(1), "{report}");
}
