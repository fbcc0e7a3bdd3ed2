//! Drawing the state: header, warnings, the approvals pane, the live log, the footer, and the
//! overlays (help, details, confirmation, reason input).
//!
//! [`render`] reads the state and never changes it. Only the log rows that fit on screen are
//! built, so a frame costs the same with 100 or 10,000 entries stored.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize as _};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget as _};
use safeshell_protocol::{Action, ApprovalOutcome, ContextHint, PendingApproval, Surface, Why};

use crate::layout::{self, Button, LABEL_WIDTH, Screen};
use crate::log::{EntryKind, LogEntry, NoteLevel};
use crate::state::{DetailTarget, Focus, Link, Mode, Pending, State, verdict_words};
use crate::text::{self, sanitize, truncate, width, wrap_ranges};

const HIGHLIGHT: Style = Style::new()
    .fg(Color::Black)
    .bg(Color::Yellow)
    .add_modifier(Modifier::BOLD);
const DIM: Style = Style::new().fg(Color::DarkGray);
const LABEL: Style = Style::new().fg(Color::Gray);

/// Draws the whole screen for `state`.
pub fn render(state: &State, frame: &mut Frame) {
    let area = frame.area();
    let screen = layout::compute(state, area);
    let buf = frame.buffer_mut();
    header(state, buf, screen.header);
    banners(state, buf, screen.banner);
    pending_pane(state, buf, &screen);
    log_pane(state, buf, &screen);
    footer(state, buf, screen.footer);
    match &state.mode {
        Mode::Help => help(buf, area),
        Mode::Detail { target, scroll } => detail(state, buf, area, *target, *scroll),
        Mode::Confirm { .. } => confirm(state, buf, area),
        Mode::Reason { approval_id, text } => reason(state, buf, area, *approval_id, text),
        Mode::Normal | Mode::FilterInput => {}
    }
}

// ------------------------------------------------------------------------------- helpers

/// Cuts a sequence of spans to `max` cells, ending with `…` when something was cut.
fn fit<'a>(spans: Vec<Span<'a>>, max: usize) -> Line<'a> {
    let total: usize = spans.iter().map(|s| width(&s.content)).sum();
    if total <= max {
        return Line::from(spans);
    }
    let mut out = Vec::with_capacity(spans.len());
    let mut used = 0;
    for span in spans {
        let w = width(&span.content);
        if used + w < max {
            used += w;
            out.push(span);
            continue;
        }
        let room = max - used;
        if room > 0 {
            // `truncate` keeps one cell for the ellipsis, so the line is exactly `max` cells.
            let cut = truncate(&span.content, room).into_owned();
            let cut = if cut.ends_with('…') {
                cut
            } else {
                format!(
                    "{}…",
                    truncate(&cut, room.saturating_sub(1)).trim_end_matches('…')
                )
            };
            out.push(Span::styled(cut, span.style));
        }
        break;
    }
    Line::from(out)
}

/// `s` cut or padded to exactly `w` cells.
fn cell(s: &str, w: usize) -> String {
    let cut = truncate(s, w);
    let pad = w.saturating_sub(width(&cut));
    let mut out = String::with_capacity(cut.len() + pad);
    out.push_str(&cut);
    out.extend(std::iter::repeat_n(' ', pad));
    out
}

/// Greedy word wrapping for prose; words longer than a line are split.
fn word_wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut used = 0;
        for word in paragraph.split(' ') {
            let w = width(word);
            if used > 0 && used + 1 + w > max {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            if w > max {
                for (a, b) in wrap_ranges(word, max) {
                    if used > 0 {
                        lines.push(std::mem::take(&mut line));
                    }
                    line.push_str(&word[a..b]);
                    used = width(&word[a..b]);
                }
                continue;
            }
            if used > 0 {
                line.push(' ');
                used += 1;
            }
            line.push_str(word);
            used += w;
        }
        lines.push(line);
    }
    lines
}

fn line_at(buf: &mut Buffer, area: Rect, row: u16, line: &Line<'_>) {
    if row < area.height {
        buf.set_line(area.x, area.y + row, line, area.width);
    }
}

fn border_style(focused: bool) -> Style {
    if focused {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        DIM
    }
}

fn level_style(level: NoteLevel) -> Style {
    match level {
        NoteLevel::Info => Style::new().fg(Color::Green),
        NoteLevel::Warning => Style::new().fg(Color::Yellow),
        NoteLevel::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

/// The colour of a log row: denials red, approvals yellow, redirects cyan, allows plain.
#[must_use]
pub fn entry_style(e: &LogEntry) -> Style {
    match e.kind {
        EntryKind::Decision(Action::Deny) => Style::new().fg(Color::Red),
        EntryKind::Decision(Action::RequireApproval)
        | EntryKind::Pending
        | EntryKind::Resolved(_) => Style::new().fg(Color::Yellow),
        EntryKind::Decision(Action::Redirect) => Style::new().fg(Color::Cyan),
        EntryKind::Decision(Action::Allow) => Style::new(),
        EntryKind::Note(NoteLevel::Error) => Style::new().fg(Color::Red),
        EntryKind::Note(NoteLevel::Warning) => Style::new().fg(Color::Yellow),
        EntryKind::Note(NoteLevel::Info) => DIM,
    }
}

fn kind_label(e: &LogEntry) -> &'static str {
    match e.kind {
        EntryKind::Decision(Action::Allow) if e.contained => "contained",
        EntryKind::Decision(Action::Allow) => "allow",
        EntryKind::Decision(Action::Deny) => "deny",
        EntryKind::Decision(Action::RequireApproval) => "approval",
        EntryKind::Decision(Action::Redirect) => "redirect",
        EntryKind::Pending => "pending",
        EntryKind::Resolved(o) => o.label(),
        EntryKind::Note(NoteLevel::Info) => "info",
        EntryKind::Note(NoteLevel::Warning) => "warning",
        EntryKind::Note(NoteLevel::Error) => "error",
    }
}

fn context_label(c: Option<ContextHint>) -> &'static str {
    match c {
        Some(ContextHint::Ai) => "ai",
        Some(ContextHint::Human) => "human",
        None => "",
    }
}

fn surface_words(s: &Surface) -> String {
    match s {
        Surface::PathShim => "PATH shim".to_owned(),
        Surface::ShellWrapper => "shell wrapper".to_owned(),
        Surface::AgentHook { agent } => format!("{} hook", sanitize(agent)),
        Surface::Cli => "safeshell check".to_owned(),
    }
}

fn who(p: &PendingApproval) -> String {
    match (&p.agent, p.context) {
        (Some(agent), _) => agent.clone(),
        (None, ContextHint::Ai) => "agent".to_owned(),
        (None, ContextHint::Human) => "human".to_owned(),
    }
}

fn time_left(state: &State, p: &PendingApproval) -> (String, Style) {
    let left = p.deadline_ms.saturating_sub(state.now_ms);
    if left == 0 {
        return ("expired".to_owned(), Style::new().fg(Color::Red));
    }
    let style = if left < 30_000 {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Yellow)
    };
    (text::countdown(left), style)
}

// ------------------------------------------------------------------------------- panes

fn sep_span() -> Span<'static> {
    Span::styled(" │ ", DIM)
}

fn header(state: &State, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let mut spans = vec![Span::styled(
        " SafeShell ",
        Style::new().fg(Color::Black).bg(Color::Cyan).bold(),
    )];
    spans.push(Span::raw(" "));
    match &state.link {
        Link::Connected => spans.push(Span::styled("● connected", Style::new().fg(Color::Green))),
        Link::Connecting { .. } => {
            spans.push(Span::styled("◌ connecting", Style::new().fg(Color::Yellow)));
        }
        Link::Disconnected { .. } => spans.push(Span::styled(
            "○ disconnected",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )),
    }
    spans.push(sep_span());
    let n = state.pending.len();
    let pending_style = if n > 0 {
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    spans.push(Span::styled(format!("{n} pending"), pending_style));
    spans.push(sep_span());
    spans.push(Span::raw(format!("{:.1}/s", state.decision_rate())));
    if let Some((s, _)) = &state.status {
        spans.push(sep_span());
        spans.push(Span::raw(format!("{} rules", s.rule_count)));
    }
    if !state.rule_errors().is_empty() {
        spans.push(Span::styled(
            " ⚠ errors",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(v) = state
        .daemon_version
        .as_deref()
        .or(state.status.as_ref().map(|(s, _)| s.version.as_str()))
    {
        spans.push(sep_span());
        spans.push(Span::raw(format!("v{}", sanitize(v))));
    }
    if let Some(up) = state.uptime_ms().filter(|_| state.connected()) {
        spans.push(sep_span());
        spans.push(Span::raw(format!("up {}", text::uptime(up))));
    }

    let help = " ? help ";
    let help_w = u16::try_from(width(help)).unwrap_or(0);
    let left_w = area.width.saturating_sub(help_w);
    buf.set_line(area.x, area.y, &fit(spans, usize::from(left_w)), left_w);
    if area.width > help_w {
        buf.set_string(area.x + left_w, area.y, help, DIM);
    }
}

fn banners(state: &State, buf: &mut Buffer, area: Rect) {
    for (row, (level, text)) in (0..area.height).zip(state.banners()) {
        let style = match level {
            NoteLevel::Error => Style::new().fg(Color::White).bg(Color::Red).bold(),
            NoteLevel::Warning => Style::new().fg(Color::Black).bg(Color::Yellow),
            NoteLevel::Info => Style::new(),
        };
        let line_area = Rect::new(area.x, area.y + row, area.width, 1);
        buf.set_style(line_area, style);
        let text = format!(" {text}");
        buf.set_stringn(
            area.x,
            area.y + row,
            truncate(&text, usize::from(area.width)),
            usize::from(area.width),
            style,
        );
    }
}

fn pending_pane(state: &State, buf: &mut Buffer, screen: &Screen) {
    let area = screen.pending;
    if area.height == 0 {
        return;
    }
    let focused = state.focus == Focus::Pending;
    let n = state.pending.len();
    let title = if n == 0 {
        Line::from(" Approvals ")
    } else {
        Line::from(vec![
            Span::raw(" Approvals waiting "),
            Span::styled(format!("({n})"), Style::new().fg(Color::Yellow).bold()),
            Span::raw(" "),
        ])
    };
    let mut block = Block::bordered()
        .title(title)
        .border_style(border_style(focused));
    if screen.command_cut {
        block = block.title_top(Line::from(" command cut: Enter shows all ").right_aligned());
    }
    block.render(area, buf);

    if n == 0 {
        let msg = if state.connected() {
            "No approvals waiting."
        } else {
            "No approvals known (not connected)."
        };
        line_at(buf, screen.pending_detail, 0, &Line::styled(msg, DIM));
        return;
    }

    // The list: one row per approval.
    let list = screen.pending_list;
    let selected = state.selected_index();
    for (row, (index, p)) in
        (0..list.height).zip(state.pending.iter().enumerate().skip(screen.pending_offset))
    {
        let is_selected = Some(index) == selected;
        let (left, left_style) = time_left(state, &p.info);
        let marker = if is_selected { "▶ " } else { "  " };
        let spans = vec![
            Span::raw(marker),
            Span::styled(
                cell(&format!("#{}", p.info.approval_id), 6),
                Style::new().bold(),
            ),
            Span::styled(cell(&left, 8), left_style),
            Span::styled(cell(&who(&p.info), 13), Style::new().fg(Color::Magenta)),
            Span::raw(" "),
            Span::raw(p.info.command.as_str()),
        ];
        let mut line = fit(spans, usize::from(list.width));
        if is_selected {
            line = line.patch_style(if focused {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new().add_modifier(Modifier::BOLD)
            });
        }
        line_at(buf, list, row, &line);
    }

    if let Some(p) = state.selected_pending() {
        pending_detail(state, buf, screen, p);
    }
}

fn label(text: &str) -> Span<'static> {
    Span::styled(cell(text, usize::from(LABEL_WIDTH)), LABEL)
}

/// The command's lines, wrapped by characters, with the segment highlighted.
fn command_lines<'a>(
    p: &'a Pending,
    width_cells: usize,
    max_rows: usize,
    cut: bool,
) -> Vec<Vec<Span<'a>>> {
    let command = p.info.command.as_str();
    let ranges = wrap_ranges(command, width_cells);
    let shown = ranges.len().min(max_rows.max(1));
    let mut lines = Vec::with_capacity(shown);
    for (i, &(a, b)) in ranges.iter().take(shown).enumerate() {
        let last_cut = cut && i + 1 == shown;
        let mut spans = Vec::new();
        let mut push = |from: usize, to: usize, style: Style| {
            if from < to {
                spans.push(Span::styled(&command[from..to], style));
            }
        };
        match p.highlight {
            Some((hs, he)) if hs < b && he > a => {
                let (s, e) = (hs.max(a), he.min(b));
                push(a, s, Style::new().bold());
                push(s, e, HIGHLIGHT);
                push(e, b, Style::new().bold());
            }
            _ => push(a, b, Style::new().bold()),
        }
        if last_cut {
            let line = fit(spans, width_cells.saturating_sub(1));
            let mut spans = line.spans;
            spans.push(Span::styled("…", Style::new().fg(Color::Yellow).bold()));
            lines.push(spans);
        } else {
            lines.push(spans);
        }
    }
    lines
}

fn pending_detail(state: &State, buf: &mut Buffer, screen: &Screen, p: &Pending) {
    let area = screen.pending_detail;
    let w = usize::from(area.width);
    let text_w = w.saturating_sub(usize::from(LABEL_WIDTH)).max(1);
    let mut row = 0;
    for (i, spans) in command_lines(
        p,
        text_w,
        usize::from(screen.command_rows),
        screen.command_cut,
    )
    .into_iter()
    .enumerate()
    {
        let mut line = vec![if i == 0 { label("command") } else { label("") }];
        line.extend(spans);
        line_at(buf, area, row, &Line::from(line));
        row += 1;
    }
    if screen.segment_row {
        let seg = p.info.segment.as_deref().unwrap_or("");
        line_at(
            buf,
            area,
            row,
            &fit(vec![label("segment"), Span::styled(seg, HIGHLIGHT)], w),
        );
        row += 1;
    }
    let rule = p.info.rule.as_deref().unwrap_or("(no rule)");
    line_at(
        buf,
        area,
        row,
        &fit(
            vec![
                label("rule"),
                Span::styled(rule, Style::new().fg(Color::Yellow).bold()),
                Span::raw(" — "),
                Span::raw(p.info.reason.as_str()),
            ],
            w,
        ),
    );
    row += 1;
    line_at(
        buf,
        area,
        row,
        &fit(vec![label("cwd"), Span::raw(p.info.cwd.as_str())], w),
    );
    row += 1;
    let program = if p.info.program.is_empty() {
        String::new()
    } else {
        format!(" · {}", p.info.program)
    };
    let by = format!(
        "{}{program} (pid {}) · {} · {}",
        who(&p.info),
        p.info.client_pid,
        surface_words(&p.info.surface),
        context_label(Some(p.info.context)),
    );
    line_at(
        buf,
        area,
        row,
        &fit(
            vec![
                label("by"),
                Span::styled(by, Style::new().fg(Color::Magenta)),
            ],
            w,
        ),
    );

    // The last row: buttons (or what was sent) and the countdown.
    if area.height == 0 {
        return;
    }
    let y = area.y + area.height - 1;
    if let Some(verdict) = p.sent {
        buf.set_stringn(
            area.x,
            y,
            format!(
                "decision sent: {} — waiting for the daemon…",
                verdict_words(verdict)
            ),
            w,
            Style::new().fg(Color::Cyan),
        );
    } else {
        for (button, rect) in &screen.buttons {
            let style = if !state.connected() || (button.is_session() && !p.info.session_allowed) {
                DIM.add_modifier(Modifier::CROSSED_OUT)
            } else {
                match button {
                    Button::ApproveOnce | Button::ApproveSession => {
                        Style::new().fg(Color::Green).bold()
                    }
                    Button::Deny | Button::DenySession => Style::new().fg(Color::Red).bold(),
                    Button::Reason => Style::new().fg(Color::Yellow).bold(),
                }
            };
            buf.set_string(rect.x, rect.y, button.label(), style);
        }
    }
    let (left, style) = time_left(state, &p.info);
    let countdown = format!("⏱ {left} left");
    let cw = u16::try_from(width(&countdown)).unwrap_or(0);
    if area.width > cw {
        buf.set_string(area.x + area.width - cw, y, countdown, style);
    }
}

/// Column widths of the log for a given row width.
struct Columns {
    time: usize,
    context: usize,
    kind: usize,
    command: usize,
    rule: usize,
    cwd: usize,
    latency: usize,
}

impl Columns {
    fn for_width(w: usize) -> Self {
        let (rule, cwd, latency) = match w {
            150.. => (24, 32, 8),
            120.. => (20, 24, 8),
            96.. => (16, 16, 8),
            70.. => (16, 0, 8),
            _ => (0, 0, 0),
        };
        let fixed = 8 + 1 + 5 + 1 + 10 + 1;
        let extras = [rule, cwd, latency]
            .iter()
            .filter(|&&c| c > 0)
            .map(|c| c + 1)
            .sum::<usize>();
        Self {
            time: 8,
            context: 5,
            kind: 10,
            command: w.saturating_sub(fixed + extras).max(1),
            rule,
            cwd,
            latency,
        }
    }
}

fn log_row<'a>(state: &State, e: &'a LogEntry, cols: &Columns) -> Line<'a> {
    let style = entry_style(e);
    let kind_style = match e.kind {
        EntryKind::Decision(Action::Allow) => Style::new().fg(Color::Green),
        _ => style.add_modifier(Modifier::BOLD),
    };
    let command = match (e.kind, e.approval_id) {
        (EntryKind::Pending | EntryKind::Resolved(_), Some(id)) => {
            cell(&format!("#{id} {}", e.command), cols.command)
        }
        _ => cell(&e.command, cols.command),
    };
    let mut spans = vec![
        Span::styled(cell(&text::clock(e.time_ms, &state.tz), cols.time), DIM),
        Span::raw(" "),
        Span::styled(cell(context_label(e.context), cols.context), style),
        Span::raw(" "),
        Span::styled(cell(kind_label(e), cols.kind), kind_style),
        Span::raw(" "),
        Span::styled(command, style),
    ];
    if let EntryKind::Note(_) = e.kind {
        // A note has no rule, directory or latency: its text gets the rest of the row.
        let rest = cols.command
            + [cols.rule, cols.cwd, cols.latency]
                .iter()
                .filter(|&&c| c > 0)
                .map(|c| c + 1)
                .sum::<usize>();
        spans.pop();
        spans.push(Span::styled(cell(&e.command, rest), style));
        return Line::from(spans);
    }
    if cols.rule > 0 {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            cell(e.rule.as_deref().unwrap_or("-"), cols.rule),
            style,
        ));
    }
    if cols.cwd > 0 {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(cell(&e.cwd, cols.cwd), style));
    }
    if cols.latency > 0 {
        let lat = if matches!(e.kind, EntryKind::Decision(_)) {
            text::latency(e.latency_us)
        } else {
            String::new()
        };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(format!("{lat:>w$}", w = cols.latency), DIM));
    }
    Line::from(spans)
}

fn log_pane(state: &State, buf: &mut Buffer, screen: &Screen) {
    let area = screen.log;
    if area.height == 0 {
        return;
    }
    let rows = screen.log_rows;
    let focused = state.focus == Focus::Log;
    let filter = state.log.filter();
    let mut title = vec![Span::raw(" Log ")];
    if filter.is_active() {
        title.push(Span::styled(
            format!("{}/{} ", state.log.visible_len(), state.log.len()),
            Style::new(),
        ));
        title.push(Span::styled(
            format!("filter: {} ", filter.describe()),
            Style::new().fg(Color::Cyan).bold(),
        ));
    } else {
        title.push(Span::raw(format!("{} ", state.log.len())));
    }
    let follow = if state.cursor.follow {
        Span::styled(" following ", DIM)
    } else {
        Span::styled(" paused — End follows ", Style::new().fg(Color::Yellow))
    };
    Block::bordered()
        .title(fit(title, usize::from(area.width.saturating_sub(24))))
        .title_top(Line::from(follow).right_aligned())
        .border_style(border_style(focused))
        .render(area, buf);

    if state.log.visible_len() == 0 {
        let msg = if state.log.is_empty() {
            "No decisions yet."
        } else {
            "Nothing matches the filter (Esc clears it)."
        };
        line_at(buf, rows, 0, &Line::styled(msg, DIM));
        return;
    }
    let cols = Columns::for_width(usize::from(rows.width));
    let window = state.cursor.window(&state.log, usize::from(rows.height));
    for (row, (pos, (_, e))) in (0..rows.height)
        .zip((window.top..).zip(state.log.visible(window.top, usize::from(rows.height))))
    {
        let mut line = log_row(state, e, &cols);
        if focused && Some(pos) == window.selected {
            line = line.patch_style(Style::new().add_modifier(Modifier::REVERSED));
        }
        line_at(buf, rows, row, &line);
    }
}

fn footer(state: &State, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let w = usize::from(area.width);
    let line = if state.mode == Mode::FilterInput {
        fit(
            vec![
                Span::styled("/ ", Style::new().fg(Color::Cyan).bold()),
                Span::raw(sanitize(state.log.filter().text()).into_owned()),
                Span::styled("▏", Style::new().fg(Color::Cyan)),
                Span::styled("  Enter keeps · Esc clears", DIM),
            ],
            w,
        )
    } else if let Some(flash) = &state.flash {
        fit(
            vec![Span::styled(
                format!(" {}", flash.text),
                level_style(flash.level),
            )],
            w,
        )
    } else {
        let key = |k: &'static str| Span::styled(k, Style::new().fg(Color::Cyan).bold());
        let mut spans = Vec::new();
        if !state.pending.is_empty() {
            spans.extend([
                key(" 1"),
                Span::raw(" approve "),
                key("2"),
                Span::raw(" session "),
                key("3"),
                Span::raw(" deny "),
                key("4"),
                Span::raw(" deny-session "),
                key("r"),
                Span::raw(" reason "),
                Span::styled("│", DIM),
            ]);
        }
        let full = [
            key(" Tab"),
            Span::raw(" pane "),
            key("Enter"),
            Span::raw(" details "),
            key("/"),
            Span::raw(" filter "),
            key("d a i h"),
            Span::raw(" toggles "),
            key("?"),
            Span::raw(" help "),
            key("q"),
            Span::raw(" quit"),
        ];
        let full_width: usize = spans.iter().chain(&full).map(|s| width(&s.content)).sum();
        if full_width <= w {
            spans.extend(full);
        } else {
            // Narrow: the approval keys, then where to find the rest.
            spans.extend([
                key(" Tab"),
                Span::raw(" pane "),
                key("?"),
                Span::raw(" keys "),
                key("q"),
                Span::raw(" quit"),
            ]);
        }
        fit(spans, w)
    };
    buf.set_line(area.x, area.y, &line, area.width);
}

// ------------------------------------------------------------------------------- overlays

fn popup(buf: &mut Buffer, area: Rect, title: &str, style: Style) -> Rect {
    Clear.render(area, buf);
    let block = Block::bordered()
        .title(Line::from(format!(" {title} ")).bold())
        .border_style(style);
    let inner = block.inner(area);
    block.render(area, buf);
    inner
}

/// Every key, for the help overlay.
pub const HELP: &[(&str, &str)] = &[
    ("", "Approvals (act on the selected one, marked ▶)"),
    (
        "↑ ↓  j k",
        "select an approval (when the approvals pane has focus)",
    ),
    ("1", "approve once"),
    (
        "2",
        "approve for the session (shows the exact scope; y confirms)",
    ),
    ("3", "deny"),
    (
        "4",
        "deny for the session (shows the exact scope; y confirms)",
    ),
    ("r", "deny with a typed reason (Enter sends, Esc cancels)"),
    (
        "mouse",
        "click [1 Approve] [2 Session] [3 Deny] [4 Deny session] [r Reason]",
    ),
    ("", "Log"),
    (
        "↑ ↓  j k",
        "move (moving up stops following the newest entry)",
    ),
    ("PgUp PgDn", "page up / down"),
    ("Home End", "oldest entry / newest entry and follow again"),
    (
        "/",
        "filter by text in command, rule, cwd (Enter keeps, Esc clears)",
    ),
    ("d a", "only denials / only approvals (again: off)"),
    ("i h", "only agents / only humans (again: off)"),
    ("Enter", "details of the selected entry or approval"),
    ("", "Everywhere"),
    ("Tab", "switch between the approvals and the log"),
    ("Esc", "close a view, dismiss a message, clear filters"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
];

fn help(buf: &mut Buffer, area: Rect) {
    let height = u16::try_from(HELP.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let rect = layout::centered(area, 78, height);
    let inner = popup(
        buf,
        rect,
        "Keys — any key closes",
        Style::new().fg(Color::Cyan),
    );
    for (row, (key, what)) in (0..inner.height).zip(HELP) {
        let line = if key.is_empty() {
            Line::styled(*what, Style::new().fg(Color::Yellow).bold())
        } else {
            fit(
                vec![
                    Span::styled(
                        cell(&format!("  {key}"), 13),
                        Style::new().fg(Color::Cyan).bold(),
                    ),
                    Span::raw(*what),
                ],
                usize::from(inner.width),
            )
        };
        line_at(buf, inner, row, &line);
    }
}

fn field<'a>(name: &str, value: impl Into<Span<'a>>, lines: &mut Vec<Line<'a>>) {
    lines.push(Line::from(vec![
        Span::styled(cell(name, 11), LABEL),
        value.into(),
    ]));
}

/// A long value over several lines, indented under its label.
fn long_field(
    name: &str,
    value: &str,
    w: usize,
    chars: bool,
    style: Style,
    lines: &mut Vec<Line<'static>>,
) {
    let parts: Vec<String> = if chars {
        wrap_ranges(value, w)
            .into_iter()
            .map(|(a, b)| value[a..b].to_owned())
            .collect()
    } else {
        word_wrap(value, w)
    };
    for (i, part) in parts.into_iter().enumerate() {
        let name = if i == 0 { name } else { "" };
        lines.push(Line::from(vec![
            Span::styled(cell(name, 11), LABEL),
            Span::styled(part, style),
        ]));
    }
}

fn outcome_words(o: &ApprovalOutcome) -> String {
    match o {
        ApprovalOutcome::Approved { by_session: false } => "approved once".to_owned(),
        ApprovalOutcome::Approved { by_session: true } => "approved for the session".to_owned(),
        ApprovalOutcome::Denied { reason: Some(r) } => format!("denied: {}", sanitize(r)),
        ApprovalOutcome::Denied { reason: None } => "denied".to_owned(),
        ApprovalOutcome::TimedOut => "timed out (denied)".to_owned(),
        ApprovalOutcome::DaemonShutdown => "the daemon stopped (denied)".to_owned(),
    }
}

/// Where the deciding rule is defined, what matched (the segment, the file it names…), and the
/// rule's safer alternative.
fn why_fields(why: &Why, w: usize, lines: &mut Vec<Line<'static>>) {
    if !why.origin.is_empty() {
        long_field("from", &why.origin, w, false, Style::new(), lines);
    }
    if !why.matched.is_empty() {
        long_field(
            "matched",
            &why.matched.join("; "),
            w,
            false,
            HIGHLIGHT,
            lines,
        );
    }
    if let Some(suggest) = &why.suggest {
        long_field(
            "instead",
            suggest,
            w,
            true,
            Style::new().fg(Color::Green),
            lines,
        );
    }
}

fn approval_fields(state: &State, p: &PendingApproval, w: usize, lines: &mut Vec<Line<'static>>) {
    long_field("command", &p.command, w, true, Style::new().bold(), lines);
    if let Some(seg) = &p.segment {
        long_field("segment", seg, w, true, HIGHLIGHT, lines);
    }
    field(
        "rule",
        p.rule.clone().unwrap_or_else(|| "(none)".into()),
        lines,
    );
    long_field("reason", &p.reason, w, false, Style::new(), lines);
    if let Some(why) = &p.why {
        why_fields(why, w, lines);
    }
    long_field("cwd", &p.cwd, w, true, Style::new(), lines);
    field(
        "agent",
        p.agent.clone().unwrap_or_else(|| "(not known)".into()),
        lines,
    );
    field(
        "program",
        format!("{} (pid {})", p.program, p.client_pid),
        lines,
    );
    field("surface", surface_words(&p.surface), lines);
    field("context", context_label(Some(p.context)).to_owned(), lines);
    field("requested", text::date_time(p.created_ms, &state.tz), lines);
    field("deadline", text::date_time(p.deadline_ms, &state.tz), lines);
    if p.session_allowed {
        long_field(
            "session",
            &format!("a session decision covers {}", p.session_scope),
            w,
            false,
            Style::new(),
            lines,
        );
    } else {
        field("session", "this rule allows one-time decisions only", lines);
    }
}

/// The lines of a detail view.
#[must_use]
pub fn detail_lines(state: &State, target: DetailTarget, w: usize) -> Vec<Line<'static>> {
    let w = w.saturating_sub(11).max(10);
    let mut lines = Vec::new();
    match target {
        DetailTarget::Approval(id) => {
            let Some(p) = state.pending_by_id(id) else {
                lines.push(Line::from(format!("Approval #{id} is no longer waiting.")));
                return lines;
            };
            let (left, style) = time_left(state, &p.info);
            field(
                "approval",
                Span::styled(format!("#{id} waiting, {left} left"), style),
                &mut lines,
            );
            approval_fields(state, &p.info, w, &mut lines);
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "1 approve once · 2 approve for the session · 3 deny · 4 deny for the session · r deny with a reason · Esc closes",
                DIM,
            ));
        }
        DetailTarget::Log(id) => {
            let Some(e) = state.log.get(id) else {
                lines.push(Line::from("This entry has left the log."));
                return lines;
            };
            let seq = if e.seq > 0 {
                format!("  (event {})", e.seq)
            } else {
                String::new()
            };
            field(
                "when",
                format!("{}{seq}", text::date_time(e.time_ms, &state.tz)),
                &mut lines,
            );
            let kind = match e.kind {
                EntryKind::Decision(a) => a.as_str().to_owned(),
                EntryKind::Pending => "waiting for approval".to_owned(),
                EntryKind::Resolved(o) => o.describe().to_owned(),
                EntryKind::Note(_) => "note".to_owned(),
            };
            field(
                "decision",
                Span::styled(kind, entry_style(e).bold()),
                &mut lines,
            );
            if e.context.is_some() {
                field("context", context_label(e.context).to_owned(), &mut lines);
            }
            long_field(
                "command",
                &e.command,
                w,
                true,
                Style::new().bold(),
                &mut lines,
            );
            if let Some(rule) = &e.rule {
                long_field("rule", rule, w, true, Style::new(), &mut lines);
            }
            if !e.reason.is_empty() {
                long_field("reason", &e.reason, w, false, Style::new(), &mut lines);
            }
            if let Some(why) = &e.why {
                if let Some(segment) = &why.segment {
                    long_field("segment", segment, w, true, HIGHLIGHT, &mut lines);
                }
                why_fields(why, w, &mut lines);
            }
            if !e.cwd.is_empty() {
                long_field("cwd", &e.cwd, w, true, Style::new(), &mut lines);
            }
            if let Some(s) = &e.surface {
                field("surface", surface_words(s), &mut lines);
            }
            if e.pid > 0 {
                field("pid", e.pid.to_string(), &mut lines);
            }
            if matches!(e.kind, EntryKind::Decision(_)) {
                field("latency", text::latency(e.latency_us), &mut lines);
            }
            if e.contained {
                field(
                    "contained",
                    "yes: ran under kernel containment (Landlock)".to_owned(),
                    &mut lines,
                );
            }
            if let Some(aid) = e.approval_id {
                lines.push(Line::raw(""));
                lines.push(Line::styled(
                    format!("Approval #{aid}"),
                    Style::new().fg(Color::Yellow).bold(),
                ));
                match state.approval_record(e.instance, aid) {
                    Some(record) => {
                        if let Some((t, p)) = &record.requested {
                            let rule = p.rule.as_deref().unwrap_or("(no rule)");
                            long_field(
                                &text::clock(*t, &state.tz),
                                &format!(
                                    "requested by {} (pid {}) under {rule}, deadline {}",
                                    who(p),
                                    p.client_pid,
                                    text::clock(p.deadline_ms, &state.tz)
                                ),
                                w,
                                false,
                                Style::new(),
                                &mut lines,
                            );
                            long_field("", &p.reason, w, false, DIM, &mut lines);
                        }
                        match &record.resolved {
                            Some((t, o)) => long_field(
                                &text::clock(*t, &state.tz),
                                &outcome_words(o),
                                w,
                                false,
                                Style::new().bold(),
                                &mut lines,
                            ),
                            None => field("", "still waiting", &mut lines),
                        }
                    }
                    None => field("", "no history kept for this approval", &mut lines),
                }
            }
        }
    }
    lines
}

fn detail(state: &State, buf: &mut Buffer, area: Rect, target: DetailTarget, scroll: u16) {
    let rect = layout::centered(
        area,
        area.width.saturating_sub(4).min(120),
        area.height.saturating_sub(2),
    );
    let title = match target {
        DetailTarget::Approval(id) => format!("Approval #{id} — Esc closes, ↑↓ scroll"),
        DetailTarget::Log(_) => "Log entry — Esc closes, ↑↓ scroll".to_owned(),
    };
    let inner = popup(buf, rect, &title, Style::new().fg(Color::Cyan));
    let lines = detail_lines(state, target, usize::from(inner.width));
    Paragraph::new(lines).scroll((scroll, 0)).render(inner, buf);
}

fn confirm(state: &State, buf: &mut Buffer, area: Rect) {
    let Some(text) = state.confirmation() else {
        return;
    };
    let w = area.width.saturating_sub(4).min(76);
    let lines = word_wrap(&text, usize::from(w.saturating_sub(2)));
    let height = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let rect = layout::centered(area, w, height);
    let inner = popup(
        buf,
        rect,
        "Confirm a session-wide decision",
        Style::new().fg(Color::Yellow).bold(),
    );
    for (row, l) in (0..inner.height).zip(lines) {
        line_at(buf, inner, row, &Line::styled(l, Style::new().bold()));
    }
}

fn reason(state: &State, buf: &mut Buffer, area: Rect, approval_id: u64, typed: &str) {
    let w = area.width.saturating_sub(4).min(76);
    let rect = layout::centered(area, w, 7);
    let inner = popup(
        buf,
        rect,
        &format!("Deny #{approval_id} with a reason"),
        Style::new().fg(Color::Red).bold(),
    );
    let iw = usize::from(inner.width);
    let command = state
        .pending_by_id(approval_id)
        .map_or("(no longer waiting)", |p| p.info.command.as_str());
    line_at(
        buf,
        inner,
        0,
        &fit(
            vec![
                Span::styled("command ", LABEL),
                Span::styled(command, Style::new().bold()),
            ],
            iw,
        ),
    );
    // Show the end of what was typed when it is longer than the line.
    let typed = sanitize(typed);
    let room = iw.saturating_sub(4);
    let mut start = 0;
    while width(&typed[start..]) > room {
        start += typed[start..].chars().next().map_or(1, char::len_utf8);
    }
    line_at(
        buf,
        inner,
        2,
        &Line::from(vec![
            Span::styled("> ", Style::new().fg(Color::Red).bold()),
            Span::raw(typed[start..].to_owned()),
            Span::styled("▏", Style::new().fg(Color::Red)),
        ]),
    );
    line_at(
        buf,
        inner,
        4,
        &fit(
            vec![Span::styled(
                "Enter sends the denial · Esc cancels · every key types text here",
                DIM,
            )],
            iw,
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_with_ellipsis() {
        let line = fit(vec![Span::raw("hello "), Span::raw("world")], 8);
        let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "hello w…");
        assert_eq!(width(&text), 8);
        let line = fit(vec![Span::raw("short")], 8);
        assert_eq!(line.spans.len(), 1);
    }

    #[test]
    fn word_wrap_keeps_words() {
        assert_eq!(
            word_wrap("the quick brown fox", 10),
            ["the quick", "brown fox"]
        );
        assert_eq!(word_wrap("abcdefghijkl", 5), ["abcde", "fghij", "kl"]);
        assert!(word_wrap("a b c d e f", 3).iter().all(|l| width(l) <= 3));
    }

    #[test]
    fn columns_fit_the_width() {
        for w in [40, 78, 100, 198, 300] {
            let c = Columns::for_width(w);
            let used = c.time
                + 1
                + c.context
                + 1
                + c.kind
                + 1
                + c.command
                + [c.rule, c.cwd, c.latency]
                    .iter()
                    .filter(|&&x| x > 0)
                    .map(|x| x + 1)
                    .sum::<usize>();
            assert!(used <= w.max(27), "width {w}: {used}");
        }
    }
}
