//! Proof that the sandbox holds: commands that try to run real programs, write outside the work
//! directory or reach the network, each of which must fail and leave the canaries alone.

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;

use crate::sandbox::Sandbox;

/// Runs every escape attempt; `Err` lists the ones that got out.
pub fn check(sandbox: &Sandbox) -> Result<(), String> {
    // A separate temporary directory, writable by everybody: only the sandbox can stop a write.
    let outside = tempfile::Builder::new()
        .prefix("safeshell-canary-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    fs::set_permissions(outside.path(), fs::Permissions::from_mode(0o777))
        .map_err(|e| e.to_string())?;
    let canary = outside.path().join("canary");
    fs::write(&canary, "canary\n").map_err(|e| e.to_string())?;
    fs::set_permissions(&canary, fs::Permissions::from_mode(0o666)).map_err(|e| e.to_string())?;
    let dir = outside.path().display().to_string();
    let c = canary.display().to_string();

    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();

    let stub_rm = sandbox.stubs().join("rm");
    let stub_len = fs::metadata(&stub_rm).map_err(|e| e.to_string())?.len();
    let stubs = sandbox.stubs().display().to_string();

    let mut attempts = vec![
        format!("/bin/rm -f {c}"),
        format!("/usr/bin/rm -f {c}"),
        format!("/usr/bin/touch {dir}/touched"),
        format!("exec /usr/bin/touch {dir}/touched"),
        format!("echo pwned > {c}"),
        format!("enable echo; echo pwned >> {c}"),
        format!(": > {c}"),
        format!(": > {dir}/new"),
        format!("cd {dir} && : > new2"),
        "exec /usr/bin/id".to_owned(),
        "/usr/bin/id; /bin/id -u".to_owned(),
        format!("/bin/bash -c 'echo pwned > {c}'"),
        format!("bash -c '/bin/rm -f {c}; : > {dir}/nested'"),
        format!("sh -c 'exec /usr/bin/touch {dir}/touched'"),
        format!("/usr/bin/python3 -c 'open(\"{dir}/py\", \"w\")'"),
        // The dynamic loader may execute (bash needs it); what it then loads is still confined.
        format!("/lib64/ld-linux-x86-64.so.2 /usr/bin/rm -f {c}"),
        format!("/lib64/ld-linux-x86-64.so.2 /usr/bin/touch {dir}/touched"),
        // Bash's loadable builtins run inside bash: the write is what Landlock refuses.
        format!("enable -f /usr/lib/bash/rm rm && rm -f {c}"),
        format!("enable -f /usr/lib/bash/mkdir mkdir && mkdir {dir}/made"),
        // The stubs cannot be replaced.
        format!(": > {stubs}/rm"),
        format!("enable printf; printf x > {stubs}/new-stub"),
        // No network.
        format!("echo hi > /dev/tcp/127.0.0.1/{port}"),
        format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected >&3"),
        format!("bash -c 'echo hi > /dev/tcp/localhost/{port}'"),
    ];
    attempts.push(format!("cp /etc/passwd {dir}/passwd; ln -s / {dir}/root"));
    let mut escaped = Vec::new();
    for attempt in &attempts {
        let run = sandbox.run(attempt, 0)?;
        if std::env::var_os("SAFESHELL_DIFF_VERBOSE").is_some() {
            println!(
                "escape attempt: {attempt}\n  status {:?} stdout {:?}\n  stderr {:?}",
                run.status, run.stdout, run.stderr
            );
        }
        if run.stdout.contains("uid=") || run.stdout.contains("connected") {
            escaped.push(format!("{attempt}: printed {:?}", run.stdout));
        }
    }
    match fs::read_to_string(&canary) {
        Ok(text) if text == "canary\n" => {}
        Ok(text) => escaped.push(format!("the canary was changed to {text:?}")),
        Err(e) => escaped.push(format!("the canary is gone: {e}")),
    }
    let mut left: Vec<String> = fs::read_dir(outside.path())
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "canary")
        .collect();
    left.sort();
    if !left.is_empty() {
        escaped.push(format!("files appeared outside the sandbox: {left:?}"));
    }
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => escaped.push(format!("a connection reached the listener from {peer}")),
        Err(e) => escaped.push(format!("accept: {e}")),
    }
    if fs::metadata(&stub_rm).map(|m| m.len()).ok() != Some(stub_len) {
        escaped.push("the rm stub was changed".into());
    }
    if fs::read_dir(sandbox.stubs())
        .map_err(|e| e.to_string())?
        .flatten()
        .any(|e| e.file_name() == "new-stub")
    {
        escaped.push("a file appeared in the stub directory".into());
    }
    // The positive control: the sandbox does run commands and records them.
    let run = sandbox.run("rm -rf /; echo \"$HOME\" ~ | cat", 0)?;
    let texts: Vec<String> = run.records.iter().map(|r| r.text()).collect();
    for want in ["rm -rf /", "echo /home/user /home/user", "cat"] {
        if !texts.iter().any(|t| t == want) {
            escaped.push(format!(
                "the control command did not record `{want}` (records {texts:?}, stderr {:?})",
                run.stderr
            ));
        }
    }
    if escaped.is_empty() {
        Ok(())
    } else {
        Err(escaped.join("\n"))
    }
}
