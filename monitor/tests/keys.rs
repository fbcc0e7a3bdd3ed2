//! Key and mouse handling on the state: what each key does, and above all what it must not do
//! (a digit typed into a reason is text, never a decision; a session-wide decision is never sent
//! without `y`).

mod common;

use std::time::Duration;

use common::{NOW, code, connected, decision, event, find, pending, press, render, status};
use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use safeshell_monitor::conn::ConnEvent;
use safeshell_monitor::state::{Effect, Focus, Link, Mode};
use safeshell_protocol::{
    Action, ApprovalOutcome, ApprovalResolution, ApprovalVerdict, ContextHint, EventKind,
};

fn resolve(id: u64, verdict: ApprovalVerdict, reason: Option<&str>) -> Option<Effect> {
    Some(Effect::Resolve(ApprovalResolution {
        approval_id: id,
        verdict,
        reason: reason.map(Into::into),
    }))
}

#[test]
fn one_approves_once_at_once_and_only_once() {
    let mut s = connected(1, vec![pending(3, "git push --force", None)]);
    assert_eq!(
        press(&mut s, '1').effect,
        resolve(3, ApprovalVerdict::ApproveOnce, None)
    );
    // Until the daemon answers, pressing again sends nothing more.
    assert_eq!(press(&mut s, '1').effect, None);
    assert_eq!(press(&mut s, '3').effect, None);
    assert!(s.flash.as_ref().unwrap().text.contains("already sent"));
    // A refusal from the daemon makes the approval decidable again and says why.
    s.apply(ConnEvent::Resolved {
        approval_id: 3,
        accepted: false,
        message: "refused: it runs as an agent (CLAUDECODE)".into(),
    });
    assert!(
        s.flash
            .as_ref()
            .unwrap()
            .text
            .contains("refused: it runs as an agent")
    );
    assert_eq!(
        press(&mut s, '3').effect,
        resolve(3, ApprovalVerdict::Deny, None)
    );
}

#[test]
fn typing_a_reason_with_digits_never_decides() {
    let mut s = connected(1, vec![pending(3, "git push --force", None)]);
    assert_eq!(press(&mut s, 'r').effect, None);
    for c in "1 2 3 4 y q r ? / d".chars() {
        let handled = press(&mut s, c);
        assert_eq!(
            handled.effect, None,
            "typing {c:?} in a reason did something"
        );
    }
    assert!(!s.quit);
    assert_eq!(
        s.mode,
        Mode::Reason {
            approval_id: 3,
            text: "1 2 3 4 y q r ? / d".into()
        }
    );
    assert!(
        !s.log.filter().denials,
        "`d` was text, not the denials toggle"
    );
    s.handle_event(&code(KeyCode::Backspace));
    s.handle_event(&code(KeyCode::Backspace));
    let sent = s.handle_event(&code(KeyCode::Enter)).effect;
    assert_eq!(
        sent,
        resolve(3, ApprovalVerdict::Deny, Some("1 2 3 4 y q r ? /"))
    );
    assert_eq!(s.mode, Mode::Normal);
}

#[test]
fn escape_cancels_a_reason_without_sending() {
    let mut s = connected(1, vec![pending(3, "git push --force", None)]);
    press(&mut s, 'r');
    press(&mut s, 'x');
    assert_eq!(s.handle_event(&code(KeyCode::Esc)).effect, None);
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.pending_by_id(3).unwrap().sent.is_none());
}

#[test]
fn session_decisions_ask_for_confirmation_showing_the_scope() {
    let mut s = connected(1, vec![pending(3, "git push --force", None)]);
    assert_eq!(press(&mut s, '2').effect, None, "2 must not send before y");
    let text = s.confirmation().expect("a confirmation is shown");
    assert!(text.contains("Approve #3 for the session"), "{text}");
    assert!(
        text.contains("the same command (`git push --force`)"),
        "{text}"
    );
    assert!(text.contains("in /home/dev/webapp"), "{text}");
    assert!(text.contains("for 5 minutes"), "{text}");
    // Anything but y cancels, including the keys that would otherwise decide.
    assert_eq!(press(&mut s, '1').effect, None);
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.pending_by_id(3).unwrap().sent.is_none());
    assert!(s.flash.as_ref().unwrap().text.contains("nothing was sent"));

    press(&mut s, '2');
    assert_eq!(
        press(&mut s, 'y').effect,
        resolve(3, ApprovalVerdict::ApproveSession, None)
    );

    let mut s = connected(1, vec![pending(4, "git push --force", None)]);
    press(&mut s, '4');
    assert!(
        s.confirmation()
            .unwrap()
            .starts_with("Deny #4 for the session")
    );
    assert_eq!(
        press(&mut s, 'y').effect,
        resolve(4, ApprovalVerdict::DenySession, None)
    );
}

#[test]
fn once_only_rules_offer_no_session_decisions() {
    let mut p = pending(3, "dd if=/dev/zero of=/dev/sda", None);
    p.session_allowed = false;
    let mut s = connected(1, vec![p]);
    assert_eq!(press(&mut s, '2').effect, None);
    assert_eq!(s.mode, Mode::Normal, "no confirmation for a once-only rule");
    assert!(
        s.flash
            .as_ref()
            .unwrap()
            .text
            .contains("one-time decisions only")
    );
    assert_eq!(press(&mut s, '4').effect, None);
    assert_eq!(press(&mut s, 'y').effect, None);
}

#[test]
fn a_decision_made_elsewhere_closes_the_confirmation() {
    let mut s = connected(1, vec![pending(3, "git push --force", None)]);
    press(&mut s, '2');
    s.apply(event(
        10,
        EventKind::ApprovalResolved {
            approval_id: 3,
            outcome: ApprovalOutcome::Denied { reason: None },
        },
    ));
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.pending.is_empty());
    assert_eq!(press(&mut s, 'y').effect, None, "the late y sends nothing");
}

#[test]
fn decisions_are_not_sent_while_disconnected() {
    let mut s = connected(1, vec![pending(3, "git push --force", None)]);
    s.apply(ConnEvent::Disconnected {
        error: "gone".into(),
        retry_in: Duration::from_secs(1),
    });
    assert_eq!(press(&mut s, '1').effect, None);
    assert!(s.flash.as_ref().unwrap().text.contains("not connected"));
    // A typed reason survives a failed send.
    press(&mut s, 'r');
    press(&mut s, 'n');
    press(&mut s, 'o');
    assert_eq!(s.handle_event(&code(KeyCode::Enter)).effect, None);
    assert!(matches!(&s.mode, Mode::Reason { text, .. } if text == "no"));
}

#[test]
fn selection_moves_between_approvals_and_decisions_follow_it() {
    let mut s = connected(
        1,
        vec![pending(3, "first", None), {
            let mut p = pending(4, "second", None);
            p.created_ms += 1;
            p
        }],
    );
    assert_eq!(
        s.focus,
        Focus::Pending,
        "waiting approvals take the keyboard"
    );
    assert_eq!(s.selected_approval, Some(3), "the oldest is selected");
    press(&mut s, 'j');
    assert_eq!(s.selected_approval, Some(4));
    assert_eq!(
        press(&mut s, '3').effect,
        resolve(4, ApprovalVerdict::Deny, None)
    );
    press(&mut s, 'k');
    assert_eq!(s.selected_approval, Some(3));
    // When the selected approval is settled, the selection moves to a remaining one.
    s.apply(event(
        1,
        EventKind::ApprovalResolved {
            approval_id: 3,
            outcome: ApprovalOutcome::TimedOut,
        },
    ));
    assert_eq!(s.selected_approval, Some(4));
}

#[test]
fn scrolling_up_stops_following_and_end_resumes() {
    let mut s = connected(1, vec![]);
    for i in 0..100 {
        s.apply(event(
            i + 1,
            EventKind::Decision(decision(
                &format!("cmd-{i}"),
                Action::Allow,
                ContextHint::Ai,
            )),
        ));
    }
    assert_eq!(s.focus, Focus::Log);
    assert!(s.cursor.follow);
    s.handle_event(&code(KeyCode::PageUp));
    assert!(!s.cursor.follow);
    let parked = s.cursor.selected_id(&s.log, s.log_page());
    // New entries do not move a parked view.
    s.apply(event(
        101,
        EventKind::Decision(decision("newest", Action::Allow, ContextHint::Ai)),
    ));
    assert_eq!(s.cursor.selected_id(&s.log, s.log_page()), parked);
    s.handle_event(&code(KeyCode::Up));
    s.handle_event(&code(KeyCode::Home));
    assert_eq!(s.cursor.selected_id(&s.log, s.log_page()), Some(0));
    s.handle_event(&code(KeyCode::End));
    assert!(s.cursor.follow);
    assert_eq!(s.cursor.selected_id(&s.log, s.log_page()), Some(100));
}

#[test]
fn filter_input_treats_every_key_as_text_and_escape_clears() {
    let mut s = connected(1, vec![pending(3, "git push --force", None)]);
    press(&mut s, '/');
    assert_eq!(s.mode, Mode::FilterInput);
    for c in "12qa".chars() {
        assert_eq!(press(&mut s, c).effect, None);
    }
    assert!(!s.quit);
    assert_eq!(s.log.filter().text(), "12qa");
    assert!(!s.log.filter().approvals);
    s.handle_event(&code(KeyCode::Esc));
    assert_eq!(s.log.filter().text(), "");
    assert_eq!(s.mode, Mode::Normal);
}

#[test]
fn toggles_switch_on_and_off() {
    let mut s = connected(1, vec![]);
    press(&mut s, 'd');
    assert!(s.log.filter().denials);
    press(&mut s, 'd');
    assert!(!s.log.filter().denials);
    press(&mut s, 'i');
    assert_eq!(s.log.filter().context, Some(ContextHint::Ai));
    press(&mut s, 'h');
    assert_eq!(s.log.filter().context, Some(ContextHint::Human));
    press(&mut s, 'h');
    assert_eq!(s.log.filter().context, None);
}

#[test]
fn quitting() {
    let mut s = connected(1, vec![]);
    assert_eq!(press(&mut s, 'q').effect, Some(Effect::Quit));
    let mut s = connected(1, vec![pending(3, "x", None)]);
    press(&mut s, 'r');
    let ctrl_c = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(
        s.handle_event(&ctrl_c).effect,
        Some(Effect::Quit),
        "Ctrl-C quits even while typing"
    );
}

fn click(x: u16, y: u16) -> Event {
    Event::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: x,
        row: y,
        modifiers: KeyModifiers::NONE,
    })
}

#[test]
fn clicking_a_rendered_button_decides() {
    let mut s = connected(1, vec![pending(3, "git push --force", None)]);
    for (w, h) in [(80, 24), (200, 50)] {
        let buf = render(&mut s, w, h);
        // Click in the middle of the button where it was drawn.
        let (x, y) = find(&buf, "[3 Deny]").expect("the deny button is drawn");
        let mut t = s.clone();
        assert_eq!(
            t.handle_event(&click(x + 3, y)).effect,
            resolve(3, ApprovalVerdict::Deny, None)
        );
        let (x, y) = find(&buf, "[2 Session]").unwrap();
        let mut t = s.clone();
        assert_eq!(t.handle_event(&click(x, y)).effect, None);
        assert!(
            matches!(t.mode, Mode::Confirm { .. }),
            "a click on Session asks for y too"
        );
        let (x, y) = find(&buf, "[r Reason]").unwrap();
        let mut t = s.clone();
        t.handle_event(&click(x + 9, y));
        assert!(matches!(t.mode, Mode::Reason { .. }));
        // Just left of the first button is the border: nothing happens.
        let (x, y) = find(&buf, "[1 Approve]").unwrap();
        let mut t = s.clone();
        assert_eq!(t.handle_event(&click(x - 1, y)).effect, None);
        assert_eq!(
            t.handle_event(&click(x, y)).effect,
            resolve(3, ApprovalVerdict::ApproveOnce, None)
        );
    }
}

#[test]
fn clicking_rows_selects() {
    let mut s = connected(
        1,
        vec![pending(3, "first-cmd", None), {
            let mut p = pending(4, "second-cmd", None);
            p.created_ms += 1;
            p
        }],
    );
    for i in 0..10 {
        s.apply(event(
            i + 1,
            EventKind::Decision(decision(
                &format!("logged-{i}"),
                Action::Allow,
                ContextHint::Ai,
            )),
        ));
    }
    let buf = render(&mut s, 80, 24);
    let (x, y) = find(&buf, "second-cmd").unwrap();
    s.handle_event(&click(x, y));
    assert_eq!(s.selected_approval, Some(4));
    let buf = render(&mut s, 80, 24);
    let (x, y) = find(&buf, "logged-2").unwrap();
    s.handle_event(&click(x, y));
    assert_eq!(s.focus, Focus::Log);
    assert!(!s.cursor.follow);
    let id = s.cursor.selected_id(&s.log, s.log_page()).unwrap();
    assert_eq!(&*s.log.get(id).unwrap().command, "logged-2");
}

#[test]
fn replayed_events_are_not_counted_twice() {
    let mut s = connected(1, vec![]);
    for seq in 1..=5 {
        s.apply(event(
            seq,
            EventKind::Decision(decision("x", Action::Allow, ContextHint::Ai)),
        ));
    }
    s.apply(ConnEvent::Disconnected {
        error: "gone".into(),
        retry_in: Duration::from_millis(250),
    });
    // Same daemon (same pid): the replay repeats 1..=5 and continues with 6.
    s.apply(ConnEvent::Connected {
        daemon_version: "0.1.0".into(),
        status: status(1),
        pending: vec![],
    });
    for seq in 1..=6 {
        s.apply(event(
            seq,
            EventKind::Decision(decision("x", Action::Allow, ContextHint::Ai)),
        ));
    }
    let decisions = s
        .log
        .iter()
        .filter(|(_, e)| e.command.as_ref() == "x")
        .count();
    assert_eq!(decisions, 6);
}

#[test]
fn a_new_daemon_instance_resets_sequence_tracking() {
    // By pid: a restarted daemon numbers its events from 1 again.
    let mut s = connected(1, vec![]);
    for seq in 1..=5 {
        s.apply(event(
            seq,
            EventKind::Decision(decision("old", Action::Allow, ContextHint::Ai)),
        ));
    }
    s.apply(ConnEvent::Disconnected {
        error: "gone".into(),
        retry_in: Duration::from_millis(250),
    });
    s.apply(ConnEvent::Connected {
        daemon_version: "0.1.0".into(),
        status: status(2),
        pending: vec![],
    });
    for seq in 1..=2 {
        s.apply(event(
            seq,
            EventKind::Decision(decision("new", Action::Allow, ContextHint::Ai)),
        ));
    }
    assert_eq!(
        s.log
            .iter()
            .filter(|(_, e)| e.command.as_ref() == "new")
            .count(),
        2
    );
    assert!(
        s.log
            .iter()
            .any(|(_, e)| e.command.contains("connected to a new daemon"))
    );

    // By numbers going backwards while time goes forwards (same pid reused).
    let mut s = connected(1, vec![]);
    for seq in 1..=5 {
        s.apply(event(
            seq,
            EventKind::Decision(decision("old", Action::Allow, ContextHint::Ai)),
        ));
    }
    s.apply(ConnEvent::Event(safeshell_protocol::Event {
        seq: 1,
        time_ms: NOW + 60_000,
        kind: EventKind::Decision(decision("new", Action::Allow, ContextHint::Ai)),
    }));
    assert_eq!(
        s.log
            .iter()
            .filter(|(_, e)| e.command.as_ref() == "new")
            .count(),
        1
    );
    assert_eq!(s.instance, 1);
}

#[test]
fn decision_rate_counts_recent_decisions() {
    let mut s = connected(1, vec![]);
    for i in 0..10 {
        s.apply(ConnEvent::Event(safeshell_protocol::Event {
            seq: i + 1,
            time_ms: NOW - 100,
            kind: EventKind::Decision(decision("x", Action::Allow, ContextHint::Ai)),
        }));
    }
    // Ten decisions in the last five seconds: two per second.
    assert!(
        (s.decision_rate() - 2.0).abs() < 1e-9,
        "{}",
        s.decision_rate()
    );
    s.set_now(NOW + 10_000);
    assert_eq!(s.decision_rate(), 0.0);
}

#[test]
fn connection_states_are_tracked() {
    let mut s = safeshell_monitor::state::State::new(10);
    assert!(matches!(s.link, Link::Connecting { .. }));
    s.apply(ConnEvent::Disconnected {
        error: "no socket".into(),
        retry_in: Duration::from_secs(2),
    });
    assert!(matches!(&s.link, Link::Disconnected { error, .. } if error == "no socket"));
    s.apply(ConnEvent::Connecting { attempt: 1 });
    assert!(matches!(&s.link, Link::Connecting { error: Some(e), .. } if e == "no socket"));
}
