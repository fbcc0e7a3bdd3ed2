//! Rendering tests: the monitor drawn into ratatui's `TestBackend`, checked by reading cells and
//! rows back (text and colours of specific places, never a whole-screen snapshot).

mod common;

use std::time::Duration;

use common::{NOW, connected, decision, event, find, pending, press, render, rows, screen, status};
use ratatui::crossterm::event::KeyCode;
use ratatui::style::{Color, Modifier};
use safeshell_monitor::conn::ConnEvent;
use safeshell_protocol::{Action, ApprovalOutcome, ContextHint, EventKind};

fn row_with<'a>(rows: &'a [String], needle: &str) -> (usize, &'a String) {
    rows.iter()
        .enumerate()
        .find(|(_, r)| r.contains(needle))
        .unwrap_or_else(|| panic!("no row contains {needle:?}:\n{}", rows.join("\n")))
}

#[test]
fn log_rows_show_fields_and_are_coloured_by_decision() {
    let mut s = connected(100, vec![]);
    s.apply(event(
        1,
        EventKind::Decision(decision("ls -la", Action::Allow, ContextHint::Ai)),
    ));
    s.apply(event(
        2,
        EventKind::Decision(decision("rm -rf /", Action::Deny, ContextHint::Ai)),
    ));
    s.apply(event(
        3,
        EventKind::Decision(decision("npm i -g x", Action::Redirect, ContextHint::Human)),
    ));
    s.apply(event(
        4,
        EventKind::Decision(decision(
            "make deploy",
            Action::RequireApproval,
            ContextHint::Ai,
        )),
    ));
    s.apply(event(
        5,
        EventKind::Decision(safeshell_protocol::DecisionEvent {
            contained: true,
            ..decision("cargo test", Action::Allow, ContextHint::Ai)
        }),
    ));
    let buf = render(&mut s, 100, 30);
    let text = rows(&buf);

    let (_, deny_row) = row_with(&text, "rm -rf /");
    assert!(deny_row.contains("03:04:04"), "time column: {deny_row}");
    assert!(deny_row.contains(" ai "), "context column: {deny_row}");
    assert!(deny_row.contains("deny"), "decision column: {deny_row}");
    assert!(
        deny_row.contains("rule-for-deny"),
        "rule column: {deny_row}"
    );
    assert!(deny_row.contains("87µs"), "latency column: {deny_row}");

    // The deny row's command is red; the redirect cyan; the approval yellow; the allow plain
    // with a green decision label.
    let (x, y) = find(&buf, "rm -rf /").unwrap();
    assert_eq!(buf[(x, y)].fg, Color::Red, "{}", screen(&buf));
    assert_eq!(buf[(x + 3, y)].fg, Color::Red);
    let (x, y) = find(&buf, "npm i -g x").unwrap();
    assert_eq!(buf[(x, y)].fg, Color::Cyan);
    let (x, y) = find(&buf, "make deploy").unwrap();
    assert_eq!(buf[(x, y)].fg, Color::Yellow);
    let (x, y) = find(&buf, "ls -la").unwrap();
    assert_eq!(buf[(x, y)].fg, Color::Reset);
    let (lx, ly) = find(&buf, "allow").unwrap();
    assert_eq!(ly, y);
    assert_eq!(buf[(lx, ly)].fg, Color::Green);
    // A command that ran under kernel containment says so in the decision column.
    let (_, contained_row) = row_with(&text, "cargo test");
    assert!(contained_row.contains("contained"), "{contained_row}");
    let (_, plain_row) = row_with(&text, "ls -la");
    assert!(!plain_row.contains("contained"), "{plain_row}");
    // At 100 columns the working directory has a column too.
    assert!(deny_row.contains("/home/dev/webapp"), "{deny_row}");
}

#[test]
fn pending_approval_shows_countdown_details_buttons_and_highlighted_segment() {
    let p = pending(
        7,
        "cd build && git push --force origin main",
        Some("git push --force origin main"),
    );
    let mut s = connected(100, vec![p]);
    let buf = render(&mut s, 80, 24);
    let text = rows(&buf);
    let all = screen(&buf);

    assert!(all.contains("Approvals waiting (1)"), "{all}");
    // Countdown: the deadline is 272 s away.
    assert!(all.contains("4:32"), "{all}");
    assert!(all.contains("⏱ 4:32 left"), "{all}");
    // Details: rule, reason, cwd, agent, program and pid.
    let (_, rule_row) = row_with(&text, "git-force-push");
    assert!(rule_row.contains("force-pushing rewrites"), "{rule_row}");
    assert!(all.contains("/home/dev/webapp"));
    let (_, by_row) = row_with(&text, "pid 31337");
    assert!(
        by_row.contains("claude-code") && by_row.contains("git"),
        "{by_row}"
    );
    for label in [
        "[1 Approve]",
        "[2 Session]",
        "[3 Deny]",
        "[4 Deny session]",
        "[r Reason]",
    ] {
        assert!(all.contains(label), "missing {label}:\n{all}");
    }

    // The segment is highlighted inside the command; the rest of the command is not.
    let (_, cmd_row) = row_with(&text, "command");
    let y = u16::try_from(text.iter().position(|r| r == cmd_row).unwrap()).unwrap();
    let seg_x = u16::try_from(cmd_row.find("git push").unwrap()).unwrap();
    let cd_x = u16::try_from(cmd_row.find("cd build").unwrap()).unwrap();
    assert_eq!(buf[(seg_x, y)].bg, Color::Yellow, "{all}");
    assert_eq!(buf[(seg_x + 10, y)].bg, Color::Yellow);
    assert_ne!(buf[(cd_x, y)].bg, Color::Yellow);

    // A second later the countdown ticks.
    s.set_now(NOW + 1000);
    let all = screen(&render(&mut s, 80, 24));
    assert!(all.contains("4:31"), "{all}");
}

#[test]
fn a_segment_not_in_the_command_gets_its_own_line() {
    let p = pending(3, "r''m -r -f /tmp/x", Some("rm -r -f /tmp/x"));
    let mut s = connected(100, vec![p]);
    let buf = render(&mut s, 80, 24);
    let text = rows(&buf);
    let (y, seg_row) = row_with(&text, "segment");
    assert!(seg_row.contains("rm -r -f /tmp/x"), "{seg_row}");
    let x = u16::try_from(seg_row.find("rm -r").unwrap()).unwrap();
    assert_eq!(buf[(x, u16::try_from(y).unwrap())].bg, Color::Yellow);
}

#[test]
fn control_characters_in_a_command_are_shown_not_interpreted() {
    let p = pending(3, "echo ok\nrm -rf ~ \u{1b}[2J", None);
    let mut s = connected(100, vec![p]);
    let all = screen(&render(&mut s, 80, 24));
    assert!(all.contains("echo ok␊rm -rf ~ ␛[2J"), "{all}");
}

#[test]
fn text_filter_shows_only_matching_entries() {
    let mut s = connected(100, vec![]);
    for (i, cmd) in ["git push", "ls -la", "GIT status", "cargo build"]
        .iter()
        .enumerate()
    {
        s.apply(event(
            i as u64 + 1,
            EventKind::Decision(decision(cmd, Action::Allow, ContextHint::Ai)),
        ));
    }
    press(&mut s, '/');
    for c in "git".chars() {
        press(&mut s, c);
    }
    // While typing, `d` and the digits were text: no toggle was switched on.
    let buf = render(&mut s, 80, 24);
    let all = screen(&buf);
    assert!(
        all.contains("git push") && all.contains("GIT status"),
        "{all}"
    );
    assert!(
        !all.contains("ls -la") && !all.contains("cargo build"),
        "{all}"
    );
    assert!(all.contains("filter: \"git\""), "{all}");
    assert!(
        all.contains("/ git"),
        "the input line shows what is typed:\n{all}"
    );
    s.handle_event(&common::code(KeyCode::Enter));
    // `d` now toggles "denials only": nothing here is a denial.
    press(&mut s, 'd');
    let all = screen(&render(&mut s, 80, 24));
    assert!(all.contains("Nothing matches the filter"), "{all}");
    assert!(all.contains("filter: \"git\" · denials"), "{all}");
}

#[test]
fn detail_view_shows_everything_about_an_entry_and_its_approval_history() {
    let long = format!("deploy --target production --tag {}", "x".repeat(150));
    let mut p = pending(9, &long, None);
    p.client_pid = 4242;
    let mut s = connected(100, vec![]);
    s.apply(event(1, EventKind::ApprovalPending(p)));
    s.apply(event(
        2,
        EventKind::ApprovalResolved {
            approval_id: 9,
            outcome: ApprovalOutcome::Denied {
                reason: Some("not on a Friday".into()),
            },
        },
    ));
    s.apply(event(
        3,
        EventKind::Decision(decision(&long, Action::Deny, ContextHint::Ai)),
    ));
    // The log is focused (no approval waits); the newest entry is selected.
    s.handle_event(&common::code(KeyCode::Enter));
    let buf = render(&mut s, 100, 40);
    let all = screen(&buf);
    assert!(all.contains("Log entry — Esc closes"), "{all}");
    // The full command, wrapped over several lines: all 150 x's are there.
    let xs: usize = rows(&buf)
        .iter()
        .filter(|r| r.contains("xxxxxxxx"))
        .map(|r| r.matches('x').count())
        .sum();
    assert!(xs >= 150, "the whole command is shown ({xs} x's):\n{all}");
    for needle in [
        "decision",
        "deny",
        "rule-for-deny",
        "because deny",
        "/home/dev/webapp",
        "shell wrapper",
        "4242",
        "87µs",
        "Approval #9",
        "requested by claude-code",
        "denied: not on a Friday",
        // Where the rule is defined and what matched.
        "from",
        "pack `core` (built in)",
        "matched",
        "program `deploy`",
    ] {
        assert!(all.contains(needle), "missing {needle:?}:\n{all}");
    }
    s.handle_event(&common::code(KeyCode::Esc));
    assert!(!screen(&render(&mut s, 100, 40)).contains("Log entry — Esc closes"));
}

#[test]
fn an_approvals_detail_view_says_what_matched_and_the_safer_alternative() {
    let mut s = connected(
        100,
        vec![pending(
            4,
            "cd x && git push --force",
            Some("git push --force"),
        )],
    );
    s.handle_event(&common::code(KeyCode::Enter));
    let all = screen(&render(&mut s, 120, 45));
    for needle in [
        "pack `git` (built in)",
        "subcommand `push`; flag `--force`",
        "instead",
        "git push --force-with-lease",
    ] {
        assert!(all.contains(needle), "missing {needle:?}:\n{all}");
    }
}

#[test]
fn help_overlay_lists_every_key() {
    let mut s = connected(100, vec![]);
    press(&mut s, '?');
    let all = screen(&render(&mut s, 80, 24));
    for needle in [
        "approve once",
        "approve for the session",
        "deny with a typed reason",
        "PgUp PgDn",
        "Home End",
        "only denials",
        "only agents",
        "Tab",
        "q  Ctrl-C",
    ] {
        assert!(all.contains(needle), "help lacks {needle:?}:\n{all}");
    }
    // Any key closes it.
    press(&mut s, 'x');
    assert!(!screen(&render(&mut s, 80, 24)).contains("q  Ctrl-C"));
}

#[test]
fn small_and_large_terminals_lay_out_cleanly() {
    let long = format!(
        "tar czf backup.tgz {}",
        "/very/long/path/segment".repeat(12)
    );
    let mut s = connected(
        100,
        vec![pending(1, "git push --force", Some("git push --force"))],
    );
    for i in 0..200 {
        s.apply(event(
            i + 1,
            EventKind::Decision(decision(&long, Action::Allow, ContextHint::Ai)),
        ));
    }
    // 80×24: everything fits, long commands are cut with an ellipsis, nothing spills over.
    let buf = render(&mut s, 80, 24);
    let text = rows(&buf);
    assert_eq!(text.len(), 24);
    assert!(
        text[0].contains("SafeShell") && text[0].contains("1 pending"),
        "{}",
        text[0]
    );
    assert!(text.iter().any(|r| r.contains("[1 Approve]")));
    let (_, log_row) = row_with(&text, "tar czf");
    assert!(log_row.contains('…'), "{log_row}");
    assert!(
        !log_row.contains("/home/dev/webapp"),
        "no cwd column at 80 columns"
    );
    assert!(
        text.last().unwrap().contains("quit"),
        "footer: {}",
        text.last().unwrap()
    );

    // 200×50: more rows, and the working directory column appears.
    let buf = render(&mut s, 200, 50);
    let text = rows(&buf);
    let shown = text.iter().filter(|r| r.contains("tar czf")).count();
    assert!(shown > 20, "{shown} log rows at 200×50");
    let (_, log_row) = row_with(&text, "tar czf");
    assert!(log_row.contains("/home/dev/webapp"), "{log_row}");
    // The selected approval's full command fits on one line now.
    assert!(
        text.iter()
            .any(|r| r.contains("git push --force") && r.contains("command"))
    );

    // Tiny terminals do not panic.
    for (w, h) in [(20, 5), (1, 1), (80, 3), (10, 40)] {
        let _ = render(&mut s, w, h);
    }
}

#[test]
fn disconnected_state_shows_a_banner_with_the_retry_countdown() {
    let mut s = connected(100, vec![]);
    s.apply(ConnEvent::Disconnected {
        error: "the daemon closed the connection".into(),
        retry_in: Duration::from_millis(4000),
    });
    let buf = render(&mut s, 80, 24);
    let text = rows(&buf);
    assert!(text[0].contains("○ disconnected"), "{}", text[0]);
    assert!(
        text[1].contains("disconnected — reconnecting in 4s"),
        "{}",
        text[1]
    );
    assert!(
        text[1].contains("the daemon closed the connection"),
        "{}",
        text[1]
    );
    assert_eq!(buf[(2, 1)].bg, Color::Red);
    // The log says so too.
    assert!(
        text.iter()
            .any(|r| r.contains("disconnected from the daemon"))
    );
    // The countdown moves with the clock.
    s.set_now(NOW + 2500);
    assert!(rows(&render(&mut s, 80, 24))[1].contains("reconnecting in 2s"));
}

#[test]
fn rule_errors_show_a_red_warning() {
    // From the status report…
    let mut s = connected(100, vec![]);
    let mut st = status(100);
    st.rule_errors = vec!["~/.safeshell/rules.toml:3:7: unknown field `acton`".into()];
    s.apply(ConnEvent::Status(st));
    let buf = render(&mut s, 80, 24);
    let text = rows(&buf);
    assert!(text[1].contains("⚠ rule file error"), "{}", screen(&buf));
    assert!(text[1].contains("unknown field"), "{}", text[1]);
    assert_eq!(buf[(3, 1)].bg, Color::Red);
    assert!(text[0].contains("⚠ errors"), "{}", text[0]);

    // …and from an event that arrives after the last status report.
    let mut s = connected(100, vec![]);
    s.set_now(NOW + 10);
    s.apply(ConnEvent::Event(safeshell_protocol::Event {
        seq: 5,
        time_ms: NOW + 5,
        kind: EventKind::RulesError {
            file: "/repo/.safeshell/rules.toml".into(),
            message: "line 2: expected `=`".into(),
        },
    }));
    let buf = render(&mut s, 80, 24);
    let text = rows(&buf);
    assert!(
        text[1].contains("/repo/.safeshell/rules.toml: line 2"),
        "{}",
        screen(&buf)
    );
    let (x, y) = find(&buf, "rule file error in").unwrap();
    assert_eq!(buf[(x, y)].fg, Color::Red, "the log row is red too");
}

#[test]
fn confirmation_and_reason_overlays() {
    let mut s = connected(100, vec![pending(4, "git push --force", None)]);
    press(&mut s, '2');
    let all = screen(&render(&mut s, 80, 24));
    assert!(all.contains("Confirm a session-wide decision"), "{all}");
    assert!(all.contains("Approve #4 for the session"), "{all}");
    assert!(all.contains("for 5 minutes"), "{all}");
    assert!(all.contains("Press y to confirm"), "{all}");
    press(&mut s, 'n');
    press(&mut s, 'r');
    for c in "wrong repo 42".chars() {
        press(&mut s, c);
    }
    let buf = render(&mut s, 80, 24);
    let all = screen(&buf);
    assert!(all.contains("Deny #4 with a reason"), "{all}");
    assert!(all.contains("> wrong repo 42"), "{all}");
}

#[test]
fn focused_log_marks_the_selected_row() {
    let mut s = connected(100, vec![]);
    for i in 0..5 {
        s.apply(event(
            i + 1,
            EventKind::Decision(decision(
                &format!("cmd-{i}"),
                Action::Allow,
                ContextHint::Ai,
            )),
        ));
    }
    s.handle_event(&common::code(KeyCode::Up));
    let buf = render(&mut s, 80, 24);
    let (x, y) = find(&buf, "cmd-3").unwrap();
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
    let (x, y) = find(&buf, "cmd-4").unwrap();
    assert!(!buf[(x, y)].modifier.contains(Modifier::REVERSED));
    assert!(screen(&buf).contains("paused — End follows"));
}
