//! The live log: a bounded ring buffer of entries, the filter over it, and the scroll cursor.
//!
//! Entries get an ever-increasing id when they are pushed; the buffer keeps the newest
//! `capacity` of them, so the entry with id `i` sits at index `i - base`. When a filter is on,
//! the ids of the matching entries are kept in order beside the buffer and updated as entries
//! arrive and leave, so showing one page of a filtered log never scans the whole buffer; only
//! changing the filter does (and a filter that narrows the previous one only rescans the entries
//! that matched before).
//!
//! # Memory per entry
//!
//! A [`LogEntry`] is 136 bytes inline on 64-bit targets plus its strings on the heap (exact
//! lengths, boxed, already sanitized): about 280 bytes for a typical decision (a 40-byte command,
//! a 26-byte working directory, a 15-byte rule name and a 60-byte reason), so the default
//! 10,000-entry log holds about 2.8 MB. The `memory_per_entry` test checks this
//! ([`LogEntry::heap_bytes`]) and fails if an entry grows past its budget; the benches print it.

use std::collections::VecDeque;

use safeshell_protocol::{Action, ContextHint, Surface, Why};

use crate::text::Needle;

/// How a pending approval ended, as shown in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Approved for this one command.
    ApprovedOnce,
    /// Approved for the rest of the agent session.
    ApprovedSession,
    /// Denied by a person (the reason, if any, is in [`LogEntry::reason`]).
    Denied,
    /// Nobody decided before the deadline, which counts as a denial.
    TimedOut,
    /// The daemon stopped while waiting, which counts as a denial.
    DaemonShutdown,
}

impl Outcome {
    /// A short label for the log's decision column.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::ApprovedOnce => "approved",
            Self::ApprovedSession => "approved+s",
            Self::Denied => "denied",
            Self::TimedOut => "timed out",
            Self::DaemonShutdown => "shutdown",
        }
    }

    /// Words for the detail view.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::ApprovedOnce => "approved once",
            Self::ApprovedSession => "approved for the session",
            Self::Denied => "denied",
            Self::TimedOut => "timed out (denied)",
            Self::DaemonShutdown => "the daemon stopped (denied)",
        }
    }

    /// Whether the command ended up refused.
    #[must_use]
    pub fn is_denial(self) -> bool {
        !matches!(self, Self::ApprovedOnce | Self::ApprovedSession)
    }
}

/// How serious a note from the monitor or the daemon is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteLevel {
    /// For information (rules reloaded, reconnected).
    Info,
    /// Something may be missing (events dropped or missed).
    Warning,
    /// Something is wrong (a rule file error, a refused decision, a lost connection).
    Error,
}

/// What a log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// The daemon decided on a command.
    Decision(Action),
    /// A command started waiting for approval.
    Pending,
    /// A pending approval was settled.
    Resolved(Outcome),
    /// A note: rules reloaded or broken, events dropped, the connection lost or back.
    Note(NoteLevel),
}

/// One row of the live log. Strings are sanitized for display when the entry is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The daemon's event sequence number (0 for the monitor's own notes).
    pub seq: u64,
    /// When it happened, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Which daemon instance (counted by the monitor from 0) the entry came from, so approval
    /// ids, which restart with the daemon, are not confused.
    pub instance: u32,
    /// The client process id.
    pub pid: u32,
    /// How long the daemon took to decide, in microseconds (decisions only).
    pub latency_us: u32,
    /// What the entry records.
    pub kind: EntryKind,
    /// Agent or human, when known.
    pub context: Option<ContextHint>,
    /// The approval this entry belongs to, if any.
    pub approval_id: Option<u64>,
    /// The command (for a note: its text).
    pub command: Box<str>,
    /// The working directory.
    pub cwd: Box<str>,
    /// The rule that decided (for a rules note: the file).
    pub rule: Option<Box<str>>,
    /// Why, in the daemon's words (or a person's denial reason).
    pub reason: Box<str>,
    /// Where the command was intercepted.
    pub surface: Option<Surface>,
    /// Whether the command ran under kernel containment (Landlock).
    pub contained: bool,
    /// Why the rule decided (where it is defined, what matched, a safer alternative).
    pub why: Option<Box<Why>>,
}

impl LogEntry {
    /// A note from the monitor itself.
    #[must_use]
    pub fn note(level: NoteLevel, time_ms: u64, instance: u32, text: &str) -> Self {
        Self {
            seq: 0,
            time_ms,
            instance,
            pid: 0,
            latency_us: 0,
            kind: EntryKind::Note(level),
            context: None,
            approval_id: None,
            command: crate::text::sanitized_box(text),
            cwd: "".into(),
            rule: None,
            reason: "".into(),
            surface: None,
            contained: false,
            why: None,
        }
    }

    /// Bytes this entry owns on the heap (its strings), for the memory budget.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let surface = match &self.surface {
            Some(Surface::AgentHook { agent }) => agent.capacity(),
            _ => 0,
        };
        self.command.len()
            + self.cwd.len()
            + self.rule.as_ref().map_or(0, |r| r.len())
            + self.reason.len()
            + surface
            + self.why.as_ref().map_or(0, |w| {
                size_of::<Why>()
                    + w.origin.capacity()
                    + w.segment.as_ref().map_or(0, String::capacity)
                    + w.matched.iter().map(|m| m.capacity() + 24).sum::<usize>()
                    + w.suggest.as_ref().map_or(0, String::capacity)
            })
    }

    /// Whether this entry is about a refusal: a denied decision or a denied, timed-out or
    /// abandoned approval.
    #[must_use]
    pub fn is_denial(&self) -> bool {
        match self.kind {
            EntryKind::Decision(action) => action == Action::Deny,
            EntryKind::Resolved(outcome) => outcome.is_denial(),
            EntryKind::Pending | EntryKind::Note(_) => false,
        }
    }

    /// Whether this entry is about an approval: a `require_approval` decision, a decision that
    /// followed an approval, or an approval's start or end.
    #[must_use]
    pub fn is_approval(&self) -> bool {
        match self.kind {
            EntryKind::Decision(action) => {
                action == Action::RequireApproval || self.approval_id.is_some()
            }
            EntryKind::Pending | EntryKind::Resolved(_) => true,
            EntryKind::Note(_) => false,
        }
    }
}

/// Which log entries to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    text: String,
    needle: Needle,
    /// Only refusals (`d`).
    pub denials: bool,
    /// Only approvals (`a`).
    pub approvals: bool,
    /// Only entries from agents (`Some(Ai)`, `i`) or from people (`Some(Human)`, `h`).
    pub context: Option<ContextHint>,
}

impl Filter {
    /// The text searched for (case-insensitively) in command, rule and working directory.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Sets the text to search for.
    pub fn set_text(&mut self, text: &str) {
        text.clone_into(&mut self.text);
        self.needle = Needle::new(text);
    }

    /// Whether anything is filtered out at all.
    #[must_use]
    pub fn is_active(&self) -> bool {
        !self.needle.is_empty() || self.denials || self.approvals || self.context.is_some()
    }

    /// Whether every entry this filter lets through, `narrower` lets through too, so
    /// `narrower` can be computed from this filter's matches alone.
    #[must_use]
    pub fn is_narrowed_by(&self, narrower: &Filter) -> bool {
        narrower
            .text
            .to_lowercase()
            .contains(&self.text.to_lowercase())
            && (narrower.denials || !self.denials)
            && (narrower.approvals || !self.approvals)
            && (self.context.is_none() || narrower.context == self.context)
    }

    /// Whether an entry passes the filter. Notes pass only when no toggle is on.
    #[must_use]
    pub fn matches(&self, e: &LogEntry) -> bool {
        if self.denials && !e.is_denial() {
            return false;
        }
        if self.approvals && !e.is_approval() {
            return false;
        }
        if let Some(ctx) = self.context
            && e.context != Some(ctx)
        {
            return false;
        }
        self.needle.is_empty()
            || self.needle.is_in(&e.command)
            || self.needle.is_in(&e.cwd)
            || e.rule.as_deref().is_some_and(|r| self.needle.is_in(r))
    }

    /// A short description for the log's title, e.g. `"git" · denials · agent`.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.text.is_empty() {
            parts.push(format!("\"{}\"", crate::text::sanitize(&self.text)));
        }
        if self.denials {
            parts.push("denials".to_owned());
        }
        if self.approvals {
            parts.push("approvals".to_owned());
        }
        match self.context {
            Some(ContextHint::Ai) => parts.push("agent".to_owned()),
            Some(ContextHint::Human) => parts.push("human".to_owned()),
            None => {}
        }
        parts.join(" · ")
    }
}

/// The ring buffer of log entries with its filter.
#[derive(Debug, Clone)]
pub struct LogStore {
    entries: VecDeque<LogEntry>,
    capacity: usize,
    /// The id of `entries[0]`.
    base: u64,
    filter: Filter,
    /// Ids of matching entries, ascending; `None` when the filter lets everything through.
    matching: Option<VecDeque<u64>>,
}

impl LogStore {
    /// An empty log that keeps at most `capacity` entries (at least one).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            entries: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            base: 0,
            filter: Filter::default(),
            matching: None,
        }
    }

    /// How many entries the log keeps at most.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many entries are stored (filtered or not).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry, dropping the oldest when full, and returns its id.
    pub fn push(&mut self, entry: LogEntry) -> u64 {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
            if let Some(m) = &mut self.matching
                && m.front() == Some(&self.base)
            {
                m.pop_front();
            }
            self.base += 1;
        }
        let id = self.base + self.entries.len() as u64;
        if let Some(m) = &mut self.matching
            && self.filter.matches(&entry)
        {
            m.push_back(id);
        }
        self.entries.push_back(entry);
        id
    }

    /// The entry with this id, if it is still stored.
    #[must_use]
    pub fn get(&self, id: u64) -> Option<&LogEntry> {
        let index = id.checked_sub(self.base)?;
        self.entries.get(usize::try_from(index).ok()?)
    }

    /// A mutable entry by id, if it is still stored.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut LogEntry> {
        let index = id.checked_sub(self.base)?;
        self.entries.get_mut(usize::try_from(index).ok()?)
    }

    /// The filter in effect.
    #[must_use]
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Replaces the filter and recomputes which entries match.
    pub fn set_filter(&mut self, filter: Filter) {
        if filter == self.filter {
            return;
        }
        self.matching = if !filter.is_active() {
            None
        } else if let Some(previous) = self
            .matching
            .take()
            .filter(|_| self.filter.is_narrowed_by(&filter))
        {
            // Narrowing: only what matched before can match now.
            Some(
                previous
                    .into_iter()
                    .filter(|&id| self.get(id).is_some_and(|e| filter.matches(e)))
                    .collect(),
            )
        } else {
            let base = self.base;
            Some(
                self.entries
                    .iter()
                    .zip(base..)
                    .filter(|(e, _)| filter.matches(e))
                    .map(|(_, id)| id)
                    .collect(),
            )
        };
        self.filter = filter;
    }

    /// How many entries pass the filter.
    #[must_use]
    pub fn visible_len(&self) -> usize {
        self.matching
            .as_ref()
            .map_or(self.entries.len(), VecDeque::len)
    }

    /// The id of the `pos`-th visible entry.
    #[must_use]
    pub fn visible_id(&self, pos: usize) -> Option<u64> {
        match &self.matching {
            Some(m) => m.get(pos).copied(),
            None => (pos < self.entries.len()).then(|| self.base + pos as u64),
        }
    }

    /// The position among visible entries of the first visible entry with an id at or after
    /// `id` (the visible length if there is none).
    #[must_use]
    pub fn position_at_or_after(&self, id: u64) -> usize {
        match &self.matching {
            Some(m) => m.partition_point(|&x| x < id),
            None => usize::try_from(id.saturating_sub(self.base))
                .unwrap_or(usize::MAX)
                .min(self.entries.len()),
        }
    }

    /// The visible entries from position `start`, at most `count` of them, with their ids.
    pub fn visible(&self, start: usize, count: usize) -> impl Iterator<Item = (u64, &LogEntry)> {
        let end = start.saturating_add(count).min(self.visible_len());
        (start.min(end)..end).filter_map(move |pos| {
            let id = self.visible_id(pos)?;
            self.get(id).map(|e| (id, e))
        })
    }

    /// Every stored entry with its id, oldest first (ignores the filter).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &LogEntry)> {
        self.entries.iter().zip(self.base..).map(|(e, id)| (id, e))
    }
}

/// Where the log view is: following the newest entry, or parked on one the user chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCursor {
    /// Whether the view follows the newest entry.
    pub follow: bool,
    /// The selected entry's id (meaningful when not following).
    pub selected: u64,
    /// The id of the entry at the top of the view (meaningful when not following).
    pub top: u64,
}

impl Default for LogCursor {
    fn default() -> Self {
        Self {
            follow: true,
            selected: 0,
            top: 0,
        }
    }
}

/// The rows of the log view for one frame: where it starts and which row is selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The position (among visible entries) of the top row.
    pub top: usize,
    /// The position of the selected row, if anything is visible.
    pub selected: Option<usize>,
}

impl LogCursor {
    /// Where the view is for a page of `rows` rows.
    #[must_use]
    pub fn window(&self, log: &LogStore, rows: usize) -> Window {
        let len = log.visible_len();
        if len == 0 {
            return Window {
                top: 0,
                selected: None,
            };
        }
        let rows = rows.max(1);
        if self.follow {
            return Window {
                top: len.saturating_sub(rows),
                selected: Some(len - 1),
            };
        }
        let selected = log.position_at_or_after(self.selected).min(len - 1);
        let mut top = log.position_at_or_after(self.top).min(selected);
        if selected >= top + rows {
            top = selected + 1 - rows;
        }
        // Never leave blank rows at the bottom while older entries could fill them.
        top = top.min(len.saturating_sub(rows));
        Window {
            top,
            selected: Some(selected),
        }
    }

    fn park(&mut self, log: &LogStore, window: Window, selected: usize, rows: usize) {
        let len = log.visible_len();
        let selected = selected.min(len.saturating_sub(1));
        let mut top = window.top;
        if selected < top {
            top = selected;
        } else if selected >= top + rows {
            top = selected + 1 - rows;
        }
        self.follow = false;
        self.selected = log.visible_id(selected).unwrap_or(0);
        self.top = log.visible_id(top).unwrap_or(0);
    }

    /// Moves the selection by `delta` rows (negative is up, towards older entries). Moving up
    /// stops following the tail; reaching the newest entry by moving down resumes it.
    pub fn move_by(&mut self, log: &LogStore, rows: usize, delta: isize) {
        let rows = rows.max(1);
        let window = self.window(log, rows);
        let Some(current) = window.selected else {
            return;
        };
        let len = log.visible_len();
        let target = current.saturating_add_signed(delta).min(len - 1);
        if delta > 0 && target == len - 1 {
            self.follow = true;
            return;
        }
        if delta == 0 && self.follow {
            return;
        }
        self.park(log, window, target, rows);
    }

    /// Selects a visible position (a click on a row); the newest entry resumes following.
    pub fn select(&mut self, log: &LogStore, rows: usize, pos: usize) {
        let len = log.visible_len();
        if len == 0 {
            return;
        }
        if pos >= len - 1 {
            self.follow = true;
            return;
        }
        let window = self.window(log, rows.max(1));
        self.park(log, window, pos, rows.max(1));
    }

    /// Jumps to the oldest entry (and stops following).
    pub fn home(&mut self, log: &LogStore, rows: usize) {
        if log.visible_len() == 0 {
            return;
        }
        let window = self.window(log, rows.max(1));
        self.park(log, window, 0, rows.max(1));
    }

    /// Jumps to the newest entry and follows the tail again.
    pub fn end(&mut self) {
        self.follow = true;
    }

    /// The id of the selected entry, if any entry is visible.
    #[must_use]
    pub fn selected_id(&self, log: &LogStore, rows: usize) -> Option<u64> {
        self.window(log, rows)
            .selected
            .and_then(|pos| log.visible_id(pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(command: &str, action: Action, context: ContextHint) -> LogEntry {
        LogEntry {
            seq: 1,
            time_ms: 0,
            instance: 0,
            pid: 1,
            latency_us: 10,
            kind: EntryKind::Decision(action),
            context: Some(context),
            approval_id: None,
            command: command.into(),
            cwd: "/home/u/repo".into(),
            rule: Some("some-rule".into()),
            reason: "because".into(),
            surface: Some(Surface::ShellWrapper),
            contained: false,
            why: None,
        }
    }

    #[test]
    fn ring_buffer_keeps_the_newest() {
        let mut log = LogStore::new(3);
        for i in 0..5 {
            log.push(decision(
                &format!("cmd {i}"),
                Action::Allow,
                ContextHint::Ai,
            ));
        }
        assert_eq!(log.len(), 3);
        assert!(log.get(1).is_none());
        assert_eq!(&*log.get(2).unwrap().command, "cmd 2");
        assert_eq!(&*log.get(4).unwrap().command, "cmd 4");
        assert_eq!(log.visible_id(0), Some(2));
        assert_eq!(log.visible_len(), 3);
    }

    #[test]
    fn filter_tracks_pushes_and_evictions() {
        let mut log = LogStore::new(4);
        let mut f = Filter::default();
        f.set_text("GIT");
        log.set_filter(f);
        for (i, cmd) in ["git status", "ls", "git push", "make", "git log", "cat"]
            .iter()
            .enumerate()
        {
            let action = if i % 2 == 0 {
                Action::Deny
            } else {
                Action::Allow
            };
            log.push(decision(cmd, action, ContextHint::Ai));
        }
        // Stored: ids 2..=5 = git push, make, git log, cat.
        let shown: Vec<&str> = log.visible(0, 10).map(|(_, e)| &*e.command).collect();
        assert_eq!(shown, ["git push", "git log"]);
        // Narrowing keeps working from the previous matches.
        let mut narrower = log.filter().clone();
        narrower.set_text("git p");
        log.set_filter(narrower);
        let shown: Vec<&str> = log.visible(0, 10).map(|(_, e)| &*e.command).collect();
        assert_eq!(shown, ["git push"]);
        // Widening recomputes from everything stored.
        log.set_filter(Filter::default());
        assert_eq!(log.visible_len(), 4);
    }

    #[test]
    fn toggles_combine() {
        let mut log = LogStore::new(10);
        log.push(decision("a", Action::Deny, ContextHint::Ai));
        log.push(decision("b", Action::Deny, ContextHint::Human));
        log.push(decision("c", Action::Allow, ContextHint::Ai));
        log.push(decision("d", Action::RequireApproval, ContextHint::Ai));
        log.push(LogEntry::note(NoteLevel::Info, 0, 0, "rules reloaded"));
        let f = Filter {
            denials: true,
            context: Some(ContextHint::Ai),
            ..Filter::default()
        };
        log.set_filter(f);
        let shown: Vec<&str> = log.visible(0, 10).map(|(_, e)| &*e.command).collect();
        assert_eq!(shown, ["a"]);
        log.set_filter(Filter {
            approvals: true,
            ..Filter::default()
        });
        let shown: Vec<&str> = log.visible(0, 10).map(|(_, e)| &*e.command).collect();
        assert_eq!(shown, ["d"]);
    }

    #[test]
    fn cursor_follows_until_moved_up() {
        let mut log = LogStore::new(100);
        for i in 0..50 {
            log.push(decision(&format!("c{i}"), Action::Allow, ContextHint::Ai));
        }
        let mut cur = LogCursor::default();
        assert_eq!(
            cur.window(&log, 10),
            Window {
                top: 40,
                selected: Some(49)
            }
        );
        cur.move_by(&log, 10, -1);
        assert!(!cur.follow);
        assert_eq!(cur.window(&log, 10).selected, Some(48));
        // New entries do not move a parked view.
        log.push(decision("new", Action::Allow, ContextHint::Ai));
        assert_eq!(cur.window(&log, 10).selected, Some(48));
        assert_eq!(cur.window(&log, 10).top, 40);
        cur.move_by(&log, 10, -20);
        let w = cur.window(&log, 10);
        assert_eq!(w.selected, Some(28));
        assert_eq!(w.top, 28);
        cur.home(&log, 10);
        assert_eq!(cur.window(&log, 10).selected, Some(0));
        cur.end();
        assert!(cur.follow);
        assert_eq!(cur.window(&log, 10).selected, Some(50));
        // Moving down onto the newest entry follows again.
        cur.move_by(&log, 10, -2);
        cur.move_by(&log, 10, 5);
        assert!(cur.follow);
    }

    #[test]
    fn memory_per_entry() {
        let e = LogEntry {
            command: "git push --force origin feature/login-form".into(),
            cwd: "/home/developer/src/webapp".into(),
            rule: Some("git-force-push".into()),
            reason: "force-pushing rewrites the remote history of a shared branch".into(),
            ..decision("", Action::Deny, ContextHint::Ai)
        };
        let inline = size_of::<LogEntry>();
        let total = inline + e.heap_bytes();
        // Documented in the module docs: 136 bytes inline, about 280 bytes for a typical entry.
        assert!(inline <= 144, "LogEntry grew to {inline} bytes inline");
        assert!(total <= 400, "a typical entry takes {total} bytes");
    }
}
