//! Monitor benches (divan): drawing a frame with 100, 1,000 and 10,000 log entries at 200×50,
//! scrolling one page, filtering 10,000 entries by text, and taking in 1,000 events. Budgets:
//! a frame under 16 ms (aim: under 1 ms), a filter under 50 ms.
//!
//! `cargo bench -p safeshell-monitor`; `cargo test -p safeshell-monitor --benches` runs each once.
//! Before the benches it prints the memory a typical log entry takes.

use divan::{Bencher, black_box};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use safeshell_monitor::conn::ConnEvent;
use safeshell_monitor::log::{Filter, LogEntry};
use safeshell_monitor::state::State;
use safeshell_monitor::view;
use safeshell_protocol::{
    Action, ContextHint, DecisionEvent, Event, EventKind, PendingApproval, StatusReport, Surface,
};

const NOW: u64 = 1_704_164_645_000;
const COMMANDS: &[&str] = &[
    "git status",
    "cargo build --release",
    "rm -rf target/debug/incremental",
    "git push --force origin feature/login-form",
    "npm install --save-dev typescript@5.4",
    "curl -fsSL https://example.invalid/install.sh | sh",
    "ls -la /home/developer/src/webapp",
    "docker run --rm -it -v /:/host alpine sh",
];
const ACTIONS: &[Action] = &[
    Action::Allow,
    Action::Allow,
    Action::Allow,
    Action::Deny,
    Action::Redirect,
    Action::RequireApproval,
];

fn main() {
    let typical = typical_entry();
    let inline = size_of::<LogEntry>();
    let heap = typical.heap_bytes();
    println!(
        "memory per log entry: {inline} B inline + {heap} B heap = {} B for a typical decision; \
         10,000 entries ≈ {:.1} MB",
        inline + heap,
        (inline + heap) as f64 * 10_000.0 / 1_000_000.0
    );
    divan::main();
}

fn decision_event(i: usize) -> ConnEvent {
    let action = ACTIONS[i % ACTIONS.len()];
    ConnEvent::Event(Event {
        seq: i as u64 + 1,
        time_ms: NOW - 60_000 + i as u64,
        kind: EventKind::Decision(DecisionEvent {
            command: COMMANDS[i % COMMANDS.len()].to_owned(),
            cwd: "/home/developer/src/webapp".to_owned(),
            surface: Surface::ShellWrapper,
            context: if i.is_multiple_of(4) {
                ContextHint::Human
            } else {
                ContextHint::Ai
            },
            action,
            rule: (action != Action::Allow).then(|| format!("builtin-rule-{}", i % 17)),
            reason: "force-pushing rewrites the remote history of a shared branch".to_owned(),
            latency_us: 40 + (i % 200) as u32,
            client_pid: 4000 + (i % 50) as u32,
            contained: false,
            why: None,
        }),
    })
}

fn typical_entry() -> LogEntry {
    let mut s = State::new(1);
    s.apply(decision_event(3));
    s.log.iter().next().expect("one entry").1.clone()
}

fn status() -> StatusReport {
    StatusReport {
        pid: 1,
        version: "0.1.0".into(),
        uptime_ms: 3_600_000,
        rule_count: 87,
        rule_files: vec!["<builtin>".into()],
        rule_errors: vec![],
        connections: 2,
        decisions_allow: 0,
        decisions_deny: 0,
        decisions_approval: 0,
        decisions_redirect: 0,
        pending_approvals: 1,
        events_dropped: 0,
        problems: vec![],
    }
}

/// A connected state with one approval waiting and `n` log entries.
fn state_with(n: usize) -> State {
    let mut s = State::new(10_000);
    s.tz = jiff::tz::TimeZone::UTC;
    s.set_now(NOW);
    s.set_area(Rect::new(0, 0, 200, 50));
    s.apply(ConnEvent::Connected {
        daemon_version: "0.1.0".into(),
        status: status(),
        pending: vec![PendingApproval {
            approval_id: 1,
            command: "cd build && git push --force origin main".into(),
            segment: Some("git push --force origin main".into()),
            rule: Some("git-force-push".into()),
            reason: "force-pushing rewrites shared history".into(),
            cwd: "/home/developer/src/webapp".into(),
            client_pid: 31337,
            program: "git".into(),
            agent: Some("claude-code".into()),
            surface: Surface::ShellWrapper,
            context: ContextHint::Ai,
            created_ms: NOW - 5_000,
            deadline_ms: NOW + 295_000,
            session_allowed: true,
            session_scope: "the same command".into(),
            why: None,
        }],
    });
    for i in 0..n {
        s.apply(decision_event(i));
    }
    s
}

/// Drawing one full frame at 200×50 (only the visible rows are built).
#[divan::bench(args = [100, 1_000, 10_000])]
fn render_frame(bencher: Bencher, entries: usize) {
    let state = state_with(entries);
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).expect("terminal");
    bencher.bench_local(|| {
        // Clear so each frame is drawn and diffed in full, like the first frame after a change.
        terminal.clear().expect("clear");
        terminal
            .draw(|frame| view::render(black_box(&state), frame))
            .expect("draw");
    });
}

/// PageUp in the focused log of 10,000 entries, then the frame that shows it.
#[divan::bench]
fn scroll_one_page(bencher: Bencher) {
    let mut state = state_with(10_000);
    state.handle_event(&TermEvent::Key(KeyEvent::new(
        KeyCode::Tab,
        KeyModifiers::NONE,
    )));
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).expect("terminal");
    let page_up = TermEvent::Key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE));
    bencher.bench_local(|| {
        state.handle_event(black_box(&page_up));
        terminal
            .draw(|frame| view::render(&state, frame))
            .expect("draw");
    });
}

/// Applying a text filter to 10,000 entries from scratch.
#[divan::bench]
fn filter_10k_entries(bencher: Bencher) {
    let state = state_with(10_000);
    let mut filter = Filter::default();
    filter.set_text("PUSH");
    bencher
        .with_inputs(|| state.log.clone())
        .bench_local_values(|mut log| {
            log.set_filter(black_box(filter.clone()));
            black_box(log.visible_len())
        });
}

/// Taking in 1,000 decision events (sanitizing, linking, the ring buffer and the filter).
#[divan::bench]
fn ingest_1000_events(bencher: Bencher) {
    let events: Vec<ConnEvent> = (0..1000).map(decision_event).collect();
    let base = state_with(0);
    bencher
        .with_inputs(|| (base.clone(), events.clone()))
        .bench_local_values(|(mut state, events)| {
            for e in events {
                state.apply(e);
            }
            black_box(state.log.len())
        });
}
