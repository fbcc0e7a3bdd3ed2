//! Builders for daemon messages and helpers to render the monitor into a `TestBackend` and read
//! the screen back, shared by the monitor's integration tests.

#![allow(dead_code, reason = "each test file uses a different subset")]

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use safeshell_monitor::conn::ConnEvent;
use safeshell_monitor::state::{Handled, State};
use safeshell_protocol::{
    Action, ContextHint, DecisionEvent, Event as DaemonEvent, EventKind, PendingApproval,
    StatusReport, Surface, Why,
};

/// A fixed "now": 2024-01-02 03:04:05 UTC.
pub const NOW: u64 = 1_704_164_645_000;

pub fn status(pid: u32) -> StatusReport {
    StatusReport {
        pid,
        version: "0.1.0".into(),
        uptime_ms: 3 * 3_600_000 + 7 * 60_000,
        rule_count: 87,
        rule_files: vec!["<builtin>".into()],
        rule_errors: vec![],
        connections: 2,
        decisions_allow: 0,
        decisions_deny: 0,
        decisions_approval: 0,
        decisions_redirect: 0,
        pending_approvals: 0,
        events_dropped: 0,
        problems: vec![],
    }
}

pub fn decision(command: &str, action: Action, context: ContextHint) -> DecisionEvent {
    DecisionEvent {
        command: command.into(),
        cwd: "/home/dev/webapp".into(),
        surface: Surface::ShellWrapper,
        context,
        action,
        rule: match action {
            Action::Allow => None,
            _ => Some(format!("rule-for-{}", action.as_str())),
        },
        reason: format!("because {}", action.as_str()),
        latency_us: 87,
        client_pid: 4242,
        contained: false,
        why: (action != Action::Allow).then(|| Why {
            origin: "pack `core` (built in)".into(),
            segment: None,
            matched: vec![format!(
                "program `{}`",
                command.split(' ').next().unwrap_or("")
            )],
            suggest: None,
        }),
    }
}

pub fn pending(id: u64, command: &str, segment: Option<&str>) -> PendingApproval {
    PendingApproval {
        approval_id: id,
        command: command.into(),
        segment: segment.map(Into::into),
        rule: Some("git-force-push".into()),
        reason: "force-pushing rewrites shared history".into(),
        cwd: "/home/dev/webapp".into(),
        client_pid: 31337,
        program: "git".into(),
        agent: Some("claude-code".into()),
        surface: Surface::ShellWrapper,
        context: ContextHint::Ai,
        created_ms: NOW - 28_000,
        deadline_ms: NOW + 272_000,
        session_allowed: true,
        session_scope: "the same command (`git push --force`), in /home/dev/webapp, for this \
                        claude-code session (pid 1000), for 5 minutes"
            .into(),
        why: Some(Why {
            origin: "pack `git` (built in)".into(),
            segment: segment.map(Into::into),
            matched: vec!["subcommand `push`".into(), "flag `--force`".into()],
            suggest: Some("git push --force-with-lease".into()),
        }),
    }
}

pub fn event(seq: u64, kind: EventKind) -> ConnEvent {
    ConnEvent::Event(DaemonEvent {
        seq,
        time_ms: NOW - 1000 + seq,
        kind,
    })
}

/// A state at [`NOW`] in UTC, connected to daemon `pid` with the given approvals waiting.
pub fn connected(pid: u32, waiting: Vec<PendingApproval>) -> State {
    let mut s = State::new(10_000);
    s.tz = jiff::tz::TimeZone::UTC;
    s.set_now(NOW);
    s.apply(ConnEvent::Connected {
        daemon_version: "0.1.0".into(),
        status: status(pid),
        pending: waiting,
    });
    s
}

pub fn key(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub fn code(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn press(state: &mut State, c: char) -> Handled {
    state.handle_event(&key(c))
}

/// Renders the state at `w`×`h` and returns the buffer.
pub fn render(state: &mut State, w: u16, h: u16) -> Buffer {
    state.set_area(Rect::new(0, 0, w, h));
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal
        .draw(|frame| safeshell_monitor::view::render(state, frame))
        .expect("draw");
    terminal.backend().buffer().clone()
}

/// The text of every row, one string per row (the cell hidden under a wide character skipped).
pub fn rows(buf: &Buffer) -> Vec<String> {
    let area = buf.area;
    (0..area.height)
        .map(|y| {
            let mut row = String::new();
            let mut x = 0;
            while x < area.width {
                let symbol = buf[(x, y)].symbol();
                row.push_str(symbol);
                // A wide character covers the next cell too.
                x += u16::try_from(safeshell_monitor::text::width(symbol).max(1)).unwrap();
            }
            row
        })
        .collect()
}

/// The whole screen as text, rows joined by newlines (for failure messages).
pub fn screen(buf: &Buffer) -> String {
    rows(buf).join("\n")
}

/// Where `needle` first appears: (x, y) of its first cell. Only for ASCII needles on rows
/// where every cell before it is one character wide.
pub fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let area = buf.area;
    for y in 0..area.height {
        let row: Vec<&str> = (0..area.width).map(|x| buf[(x, y)].symbol()).collect();
        let chars: Vec<char> = needle.chars().collect();
        'x: for x in 0..row.len() {
            for (i, c) in chars.iter().enumerate() {
                let Some(cell) = row.get(x + i) else {
                    continue 'x;
                };
                if *cell != c.encode_utf8(&mut [0; 4]) {
                    continue 'x;
                }
            }
            return Some((u16::try_from(x).unwrap(), y));
        }
    }
    None
}
