//! Text helpers: making untrusted strings safe to show, display widths, truncation with `…`,
//! hard wrapping, case-insensitive search, and time formatting.
//!
//! Everything the monitor shows about a command comes from the agent that ran it, so it is
//! untrusted. [`sanitize`] runs once when an event arrives and makes every character that would
//! not show as itself visible: control characters (a newline inside a command, an escape sequence
//! that would reprogram the terminal) become their Unicode "control picture" (`␊`, `␛`, …) and
//! invisible formatting characters (bidirectional overrides that reorder text on screen, zero-width
//! spaces) become `⟨U+202E⟩`. A person approving a command therefore sees every character of it.

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use unicode_width::UnicodeWidthChar;

/// Whether a character is invisible or reorders text, so it must be shown as a code.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

/// Makes an untrusted string safe and honest to display: control characters become Unicode
/// control pictures (`\n` → `␊`, ESC → `␛`, DEL → `␡`), C1 controls and invisible or
/// text-reordering characters become `⟨U+XXXX⟩`. Borrowed when nothing needed changing.
#[must_use]
pub fn sanitize(s: &str) -> Cow<'_, str> {
    let Some(first) = s.find(needs_escape) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        match c {
            '\0'..='\u{1F}' => {
                // U+2400..U+241F are the pictures of U+0000..U+001F.
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('?'));
            }
            '\u{7F}' => out.push('\u{2421}'),
            c if needs_escape(c) => {
                use std::fmt::Write as _;
                let _ = write!(out, "⟨U+{:04X}⟩", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Sanitizes into an owned boxed string, the form log entries keep.
#[must_use]
pub fn sanitized_box(s: &str) -> Box<str> {
    match sanitize(s) {
        Cow::Borrowed(b) => b.into(),
        Cow::Owned(o) => o.into_boxed_str(),
    }
}

/// The display width of one character in terminal cells (0 for combining marks).
#[must_use]
pub fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// The display width of a string in terminal cells.
#[must_use]
pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Cuts `s` to at most `max` cells, ending with `…` when something was cut. Stops reading `s`
/// as soon as it knows, so a huge command costs no more than a short one.
#[must_use]
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if max == 0 {
        return Cow::Borrowed("");
    }
    // Fast path: a string with no more bytes than cells fits (every char is at least one byte).
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut used = 0;
    // Where the text must stop to leave a cell for the ellipsis, once known.
    let mut cut = None;
    for (i, c) in s.char_indices() {
        let w = char_width(c);
        if cut.is_none() && used + w > max - 1 {
            cut = Some(i);
        }
        used += w;
        if used > max {
            let end = cut.unwrap_or(i);
            let mut out = String::with_capacity(end + 3);
            out.push_str(&s[..end]);
            out.push('…');
            return Cow::Owned(out);
        }
    }
    Cow::Borrowed(s)
}

/// Splits `s` into lines of at most `max` cells by characters (not words), so the lines put
/// back together are exactly `s`. Returns byte ranges; an empty string is one empty line.
#[must_use]
pub fn wrap_ranges(s: &str, max: usize) -> Vec<(usize, usize)> {
    let max = max.max(1);
    let mut lines = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let w = char_width(c);
        if used + w > max && i > start {
            lines.push((start, i));
            start = i;
            used = 0;
        }
        used += w;
    }
    lines.push((start, s.len()));
    lines
}

/// How many lines [`wrap_ranges`] gives, without allocating.
#[must_use]
pub fn wrap_count(s: &str, max: usize) -> usize {
    let max = max.max(1);
    let mut lines = 1;
    let mut line_has_text = false;
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w > max && line_has_text {
            lines += 1;
            used = 0;
        }
        used += w;
        line_has_text = true;
    }
    lines
}

/// A lower-cased search string for [`Needle::is_in`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needle {
    lower: String,
    ascii: bool,
}

impl Needle {
    /// Prepares `text` for case-insensitive searching.
    #[must_use]
    pub fn new(text: &str) -> Self {
        Self {
            lower: text.to_lowercase(),
            ascii: text.is_ascii(),
        }
    }

    /// Whether the needle is empty (matches everything).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    /// Whether the needle occurs in `haystack`, ignoring case.
    ///
    /// An ASCII needle is compared byte by byte with ASCII case folding and no allocation, which
    /// is exact because a non-ASCII haystack byte can never equal an ASCII needle byte; other
    /// needles fall back to lower-casing the haystack.
    #[must_use]
    pub fn is_in(&self, haystack: &str) -> bool {
        let needle = self.lower.as_bytes();
        if needle.is_empty() {
            return true;
        }
        if !self.ascii {
            return haystack.to_lowercase().contains(&self.lower);
        }
        let hay = haystack.as_bytes();
        if hay.len() < needle.len() {
            return false;
        }
        let first = needle[0];
        let first_upper = first.to_ascii_uppercase();
        let last_start = hay.len() - needle.len();
        let mut i = 0;
        while i <= last_start {
            let b = hay[i];
            if (b == first || b == first_upper)
                && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
            {
                return true;
            }
            i += 1;
        }
        false
    }
}

/// `HH:MM:SS` of a Unix time in milliseconds, in the given time zone.
#[must_use]
pub fn clock(time_ms: u64, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(i64::try_from(time_ms).unwrap_or(i64::MAX)) {
        Ok(ts) => {
            let dt = tz.to_datetime(ts);
            format!("{:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second())
        }
        Err(_) => "--:--:--".to_owned(),
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` of a Unix time in milliseconds, in the given time zone.
#[must_use]
pub fn date_time(time_ms: u64, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(i64::try_from(time_ms).unwrap_or(i64::MAX)) {
        Ok(ts) => {
            let dt = tz.to_datetime(ts);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                dt.millisecond()
            )
        }
        Err(_) => format!("{time_ms} ms"),
    }
}

/// A coarse duration for the header: `45s`, `12m`, `3h07m`, `2d04h`.
#[must_use]
pub fn uptime(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// A countdown as `m:ss` (or `h:mm:ss`), rounding up so `0:00` only shows once time is up.
#[must_use]
pub fn countdown(ms_left: u64) -> String {
    let secs = ms_left.div_ceil(1000);
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

/// A latency in microseconds as `87µs`, `1.2ms` or `3.4s`.
#[must_use]
pub fn latency(us: u32) -> String {
    match us {
        0..1000 => format!("{us}µs"),
        1000..1_000_000 => format!("{:.1}ms", f64::from(us) / 1000.0),
        _ => format!("{:.1}s", f64::from(us) / 1_000_000.0),
    }
}

/// The first line of a possibly multi-line message.
#[must_use]
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_leaves_plain_text_borrowed() {
        assert!(matches!(sanitize("git push --force"), Cow::Borrowed(_)));
        assert!(matches!(sanitize("héllo wörld ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn sanitize_shows_controls_and_invisible_characters() {
        assert_eq!(sanitize("echo hi\nrm -rf ~"), "echo hi␊rm -rf ~");
        assert_eq!(sanitize("a\tb\r"), "a␉b␍");
        assert_eq!(sanitize("\x1b[2Jclear"), "␛[2Jclear");
        assert_eq!(sanitize("x\x7f"), "x␡");
        assert_eq!(sanitize("rm \u{202E}fdp.exe"), "rm ⟨U+202E⟩fdp.exe");
        assert_eq!(sanitize("r\u{200B}m"), "r⟨U+200B⟩m");
        assert_eq!(sanitize("\u{85}"), "⟨U+0085⟩");
        // Nothing that needs escaping survives.
        assert!(
            !sanitize("\u{0}\u{1b}\u{9b}\u{2066}")
                .chars()
                .any(needs_escape)
        );
    }

    #[test]
    fn truncate_respects_width_and_marks_cuts() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello world", 6), "hello…");
        assert_eq!(width(&truncate("hello world", 6)), 6);
        // Wide characters: never split, never exceed.
        let t = truncate("日本語のコマンド", 7);
        assert!(width(&t) <= 7, "{t}");
        assert!(t.ends_with('…'));
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(truncate("abc", 1), "…");
    }

    #[test]
    fn wrap_is_lossless_and_bounded() {
        let s = "rm -rf build && git push --force origin main";
        let lines = wrap_ranges(s, 10);
        assert_eq!(lines.len(), wrap_count(s, 10));
        let joined: String = lines.iter().map(|&(a, b)| &s[a..b]).collect();
        assert_eq!(joined, s);
        assert!(lines.iter().all(|&(a, b)| width(&s[a..b]) <= 10));
        assert_eq!(wrap_ranges("", 10), vec![(0, 0)]);
        assert_eq!(wrap_count("", 10), 1);
        assert_eq!(wrap_count("0123456789", 10), 1);
        assert_eq!(wrap_count("0123456789a", 10), 2);
        assert_eq!(wrap_count("日本語", 4), wrap_ranges("日本語", 4).len());
    }

    #[test]
    fn needle_ignores_case() {
        let n = Needle::new("GIT");
        assert!(n.is_in("sudo git push"));
        assert!(n.is_in("Git"));
        assert!(!n.is_in("gi"));
        assert!(!n.is_in("rm -rf"));
        assert!(Needle::new("").is_in("anything"));
        let u = Needle::new("ÄRGER");
        assert!(u.is_in("viel ärger hier"));
        assert!(!u.is_in("arger"));
        // An ASCII needle never matches inside a multi-byte character.
        assert!(Needle::new("a").is_in("äa"));
        assert!(!Needle::new("a").is_in("ä"));
    }

    #[test]
    fn times_and_durations() {
        let tz = TimeZone::UTC;
        // 2024-01-02 03:04:05.678 UTC
        let ms = 1_704_164_645_678;
        assert_eq!(clock(ms, &tz), "03:04:05");
        assert_eq!(date_time(ms, &tz), "2024-01-02 03:04:05.678");
        assert_eq!(uptime(42_000), "42s");
        assert_eq!(uptime(5 * 60_000 + 1), "5m");
        assert_eq!(uptime(3 * 3_600_000 + 7 * 60_000), "3h07m");
        assert_eq!(uptime(2 * 86_400_000 + 4 * 3_600_000), "2d04h");
        assert_eq!(countdown(272_000), "4:32");
        assert_eq!(countdown(271_001), "4:32");
        assert_eq!(countdown(0), "0:00");
        assert_eq!(countdown(3_600_000), "1:00:00");
        assert_eq!(latency(87), "87µs");
        assert_eq!(latency(1234), "1.2ms");
        assert_eq!(latency(3_400_000), "3.4s");
    }
}
