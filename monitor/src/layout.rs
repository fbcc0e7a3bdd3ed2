//! Where everything goes on the screen, computed from the state and the terminal size.
//!
//! Rendering ([`crate::view`]) and mouse hit-testing ([`crate::state`]) both use [`compute`], so
//! a click always lands on what was drawn there: the button rectangles come from the same
//! function that placed the buttons.

use ratatui::layout::Rect;

use crate::state::State;
use crate::text::{width, wrap_count};

/// Width of the labels in front of the selected approval's details (`command `, `cwd     `…).
pub const LABEL_WIDTH: u16 = 9;
/// Rows the log pane keeps at least (inside its borders) when approvals need room.
const MIN_LOG_ROWS: u16 = 4;
/// Most rows the list of approvals takes before it scrolls.
const MAX_LIST_ROWS: usize = 8;
/// Room kept at the right of the button row for the countdown.
const COUNTDOWN_WIDTH: u16 = 14;

/// A clickable button under the selected approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// `[1 Approve]`
    ApproveOnce,
    /// `[2 Session]`
    ApproveSession,
    /// `[3 Deny]`
    Deny,
    /// `[4 Deny session]`
    DenySession,
    /// `[r Reason]`
    Reason,
}

impl Button {
    /// Every button, in display order.
    pub const ALL: [Button; 5] = [
        Button::ApproveOnce,
        Button::ApproveSession,
        Button::Deny,
        Button::DenySession,
        Button::Reason,
    ];

    /// The button's text, key first.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Button::ApproveOnce => "[1 Approve]",
            Button::ApproveSession => "[2 Session]",
            Button::Deny => "[3 Deny]",
            Button::DenySession => "[4 Deny session]",
            Button::Reason => "[r Reason]",
        }
    }

    /// Whether the button makes a session-wide decision.
    #[must_use]
    pub fn is_session(self) -> bool {
        matches!(self, Button::ApproveSession | Button::DenySession)
    }
}

/// The screen's regions for one frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Screen {
    /// The header line.
    pub header: Rect,
    /// Warning lines under the header (connection trouble, rule errors); may be empty.
    pub banner: Rect,
    /// The approvals pane, with its border.
    pub pending: Rect,
    /// The rows listing approvals, one each (empty when none wait).
    pub pending_list: Rect,
    /// The index of the approval on the first list row.
    pub pending_offset: usize,
    /// The rows describing the selected approval.
    pub pending_detail: Rect,
    /// How many rows the selected approval's command gets.
    pub command_rows: u16,
    /// Whether the command needed more rows than it got (so the last one ends in `…`).
    pub command_cut: bool,
    /// Whether the segment gets a row of its own.
    pub segment_row: bool,
    /// The clickable buttons and where they are.
    pub buttons: Vec<(Button, Rect)>,
    /// The log pane, with its border.
    pub log: Rect,
    /// The log's rows, one entry each.
    pub log_rows: Rect,
    /// The footer line (keys, messages, the filter input).
    pub footer: Rect,
}

fn inner(r: Rect) -> Rect {
    Rect {
        x: r.x.saturating_add(1),
        y: r.y.saturating_add(1),
        width: r.width.saturating_sub(2),
        height: r.height.saturating_sub(2),
    }
}

fn take_top(area: &mut Rect, rows: u16) -> Rect {
    let rows = rows.min(area.height);
    let top = Rect {
        height: rows,
        ..*area
    };
    area.y += rows;
    area.height -= rows;
    top
}

/// Lays out the screen for `state` in `area`.
#[must_use]
pub fn compute(state: &State, area: Rect) -> Screen {
    let mut rest = area;
    let header = take_top(&mut rest, 1);
    let banner_rows = u16::try_from(state.banners().len().min(2)).unwrap_or(2);
    let banner_rows = banner_rows.min(rest.height.saturating_sub(2));
    let banner = take_top(&mut rest, banner_rows);
    let footer_area = Rect {
        y: rest.y + rest.height.saturating_sub(1),
        height: rest.height.min(1),
        ..rest
    };
    rest.height = rest.height.saturating_sub(1);

    let mut screen = Screen {
        header,
        banner,
        footer: footer_area,
        ..Screen::default()
    };

    let selected = state.selected_pending();
    match (state.pending.is_empty(), selected) {
        (false, Some(p)) => {
            let inner_width = area.width.saturating_sub(2);
            let text_width = usize::from(inner_width.saturating_sub(LABEL_WIDTH)).max(1);
            let wrapped =
                u16::try_from(wrap_count(&p.info.command, text_width)).unwrap_or(u16::MAX);
            let segment_row = p.segment_line();
            // rule, cwd, by, buttons (+ segment)
            let fixed = 4 + u16::from(segment_row);
            let budget = rest.height.saturating_sub(2 + MIN_LOG_ROWS + 2);
            let list_cap = usize::from(budget.saturating_sub(fixed) / 2).clamp(1, MAX_LIST_ROWS);
            let list_rows = state.pending.len().min(list_cap);
            let list_rows16 = u16::try_from(list_rows).unwrap_or(1);
            let command_rows = wrapped
                .min(budget.saturating_sub(fixed + list_rows16))
                .max(1);
            let height = (2 + list_rows16 + command_rows + fixed).min(rest.height);
            let pending = take_top(&mut rest, height);
            let body = inner(pending);
            let mut body_rest = body;
            let list = take_top(&mut body_rest, list_rows16);
            let index = state.selected_index().unwrap_or(0);
            screen.pending_offset = index.saturating_sub(list_rows.saturating_sub(1));
            screen.pending = pending;
            screen.pending_list = list;
            screen.pending_detail = body_rest;
            screen.command_rows = command_rows;
            screen.command_cut = command_rows < wrapped;
            screen.segment_row = segment_row;
            if p.sent.is_none() && body_rest.height > 0 {
                let y = body_rest.y + body_rest.height - 1;
                let right = body_rest.x + body_rest.width.saturating_sub(COUNTDOWN_WIDTH);
                let mut x = body_rest.x;
                for button in Button::ALL {
                    let w = u16::try_from(width(button.label())).unwrap_or(u16::MAX);
                    if x.saturating_add(w) > right {
                        break;
                    }
                    screen.buttons.push((button, Rect::new(x, y, w, 1)));
                    x += w + 1;
                }
            }
        }
        _ => {
            let rows = rest.height.min(3);
            let pending = take_top(&mut rest, rows);
            screen.pending = pending;
            screen.pending_detail = inner(pending);
        }
    }
    screen.log = rest;
    screen.log_rows = inner(rest);
    screen
}

/// A rectangle of at most `width` × `height` centred in `area`.
#[must_use]
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}
