//! A bash-aware parser that finds every simple command a command string would run.
//!
//! It is not a full shell grammar: it flattens lists, pipelines, subshells, groups, compound
//! commands, command and process substitutions and heredocs into a flat list of
//! [`SimpleCommand`]s, each with its words after quote removal. What bash would only know at run
//! time (a `$VAR`, a `$(…)`) is kept in the word's text and flagged as dynamic, so the layers above
//! can treat it conservatively. The parser never fails: unterminated quotes or substitutions run to
//! the end of the input (bash itself would refuse such a string, so nothing of it would run).
//!
//! Its time and memory are linear in the input's length: a pipeline records its upstream commands
//! as one index range, and every place the parser recurses counts towards [`MAX_NESTING`]. Past
//! that depth the nested construct is skipped unparsed and [`Parsed::unverifiable`] says why, so a
//! hostile string can neither exhaust the stack nor hide what it runs.

use std::ops::Range;

/// How deeply constructs may nest (`$(…)`, `(…)`, `{ …; }`, backticks, `${…}`, process
/// substitutions, `case`, function bodies) before the parser stops following them. Chosen so that
/// parsing at this depth fits comfortably in a 2 MiB thread stack in a debug build (the daemon's
/// tokio worker threads); real commands rarely nest more than a handful of levels.
pub const MAX_NESTING: usize = 64;

/// How many redirection targets compound commands may hand to the commands inside them, in all
/// (`{ a; b; } > out 2> err` hands out four). Each is one more write to check for each command, so
/// without a bound `{ a; a; …; } > x > y …` costs the square of its length. Past it the command
/// is unverifiable.
pub const MAX_GROUP_WRITES: usize = 4096;

/// How many words one brace expansion may make before SafeShell stops expanding (bash has no
/// limit; `{a,b}{c,d}…` grows as a product).
const MAX_BRACE_WORDS: usize = 64;

/// The brace expansion of a word as written (quotes kept), or `None` when it has no unquoted
/// `{…,…}` or `{x..y}` (or would make more than [`MAX_BRACE_WORDS`] words).
fn brace_expand(raw: &str) -> Option<Vec<String>> {
    let chars: Vec<char> = raw.chars().collect();
    // The first unquoted `{` that opens a brace expression, with its matching `}` and the
    // positions of its top-level commas.
    let (mut quote, mut i) = (None::<char>, 0);
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (None, '\\') => i += 1,
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (Some('"'), '\\') => i += 1,
            (None, '{') if i == 0 || chars[i - 1] != '$' => {
                if let Some((end, commas)) = brace_body(&chars, i) {
                    let prefix: String = chars[..i].iter().collect();
                    let suffix: String = chars[end + 1..].iter().collect();
                    let mut parts = Vec::new();
                    if commas.is_empty() {
                        let body: String = chars[i + 1..end].iter().collect();
                        parts = sequence(&body)?;
                    } else {
                        let mut start = i + 1;
                        for &c in commas.iter().chain(std::iter::once(&end)) {
                            parts.push(chars[start..c].iter().collect::<String>());
                            start = c + 1;
                        }
                    }
                    let mut out = Vec::new();
                    for part in parts {
                        let word = format!("{prefix}{part}{suffix}");
                        match brace_expand(&word) {
                            Some(more) => out.extend(more),
                            None => out.push(word),
                        }
                        if out.len() > MAX_BRACE_WORDS {
                            return None;
                        }
                    }
                    return Some(out.into_iter().filter(|w| !w.is_empty()).collect());
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The matching `}` of the `{` at `open` and the top-level commas between, when the braces form
/// an expansion (at least one comma, or a `..` sequence).
fn brace_body(chars: &[char], open: usize) -> Option<(usize, Vec<usize>)> {
    let (mut depth, mut quote, mut commas) = (0usize, None::<char>, Vec::new());
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (None, '\\') => i += 1,
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '{') => depth += 1,
            (None, ',') if depth == 1 => commas.push(i),
            (None, '}') => {
                depth -= 1;
                if depth == 0 {
                    let body: String = chars[open + 1..i].iter().collect();
                    return (!commas.is_empty() || sequence(&body).is_some())
                        .then_some((i, commas));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The words of a sequence expression body (`1..5`, `a..e`, `0..10..2`).
fn sequence(body: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = body.split("..").collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let step: i64 = parts.get(2).map_or(Some(1), |s| s.parse().ok())?.max(1);
    if let (Ok(a), Ok(b)) = (parts[0].parse::<i64>(), parts[1].parse::<i64>()) {
        if (a - b).unsigned_abs() / step.unsigned_abs() > MAX_BRACE_WORDS as u64 {
            return None;
        }
        let range: Vec<i64> = if a <= b {
            (a..=b).step_by(step as usize).collect()
        } else {
            (b..=a).rev().step_by(step as usize).collect()
        };
        return Some(range.iter().map(i64::to_string).collect());
    }
    let (a, b) = (parts[0], parts[1]);
    if a.len() == 1 && b.len() == 1 {
        let (a, b) = (a.chars().next()?, b.chars().next()?);
        if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() {
            let (lo, hi) = (a.min(b) as u8, a.max(b) as u8);
            let mut out: Vec<String> = (lo..=hi).map(|c| (c as char).to_string()).collect();
            if a > b {
                out.reverse();
            }
            return Some(out);
        }
    }
    None
}

/// Quote removal of a word without expansions (single, double quotes and backslashes).
fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut quote = None::<char>;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\\') => out.extend(chars.next()),
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (Some('"'), '\\') => match chars.next() {
                Some(n @ ('"' | '\\' | '$' | '`')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    out
}

/// The length of a `{name}` descriptor-variable prefix of a redirection at the start of `s`.
fn named_fd_prefix(s: &str) -> Option<usize> {
    let inner = s.strip_prefix('{')?;
    let end = inner.find('}')?;
    let name = &inner[..end];
    let valid = name
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    let after = &inner[end + 1..];
    (valid && (after.starts_with('>') || after.starts_with('<'))).then_some(end + 2)
}

/// A redirection operator without its descriptor (`2>` → `>`, `{fd}>>` → `>>`).
fn bare_operator(op: &str) -> &str {
    match named_fd_prefix(op) {
        Some(n) => &op[n..],
        None => op.trim_start_matches(|c: char| c.is_ascii_digit()),
    }
}

/// One word of a simple command, after quote removal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word {
    /// The text after quote removal; expansions are kept as written (`$HOME`, `$(…)`).
    pub text: String,
    /// True when part of the word is only known at run time (a parameter or a substitution).
    pub dynamic: bool,
    /// True when the word contains a process substitution (`<(…)` or `>(…)`).
    pub process_substitution: bool,
}

/// Where a simple command's standard input comes from, as far as the parser can tell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Stdin {
    /// Inherited from the caller (or not redirected).
    #[default]
    Inherited,
    /// The previous commands of a pipeline: the range of their indices in the output list (it
    /// may also hold substitutions found in those commands or in heredoc bodies between them).
    Pipe(Range<usize>),
    /// A heredoc body; `expand` is false when the delimiter was quoted.
    HereDoc {
        /// The body text.
        body: String,
        /// Whether bash expands parameters and substitutions in the body.
        expand: bool,
    },
    /// A here-string (`<<< word`).
    HereString(Word),
    /// A file (`< path`).
    File(Word),
}

/// Where a simple command was found in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// Directly in the command string (possibly inside a group, subshell or compound command).
    #[default]
    TopLevel,
    /// Inside a command substitution (`$(…)` or backticks).
    CommandSubstitution,
    /// Inside a process substitution (`<(…)` or `>(…)`).
    ProcessSubstitution,
}

/// One simple command: assignments, words and redirections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimpleCommand {
    /// `NAME=value` prefixes, as written after quote removal.
    pub assignments: Vec<String>,
    /// The command's words; the first is the program.
    pub words: Vec<Word>,
    /// Targets of output redirections (`>`, `>>`, `&>`, `>|`, `<>`).
    pub writes: Vec<Word>,
    /// Where standard input comes from.
    pub stdin: Stdin,
    /// Byte range of the command in the parsed string, for top-level commands of that string.
    pub span: Option<(usize, usize)>,
    /// Where the command was found.
    pub origin: Origin,
    /// The function whose body this command is part of, if any.
    pub in_function: Option<String>,
    /// True when the command is part of a pipeline of two or more commands.
    pub in_pipeline: bool,
}

/// The result of parsing a command string.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Every simple command found, in source order (substitutions before the command using them).
    pub commands: Vec<SimpleCommand>,
    /// True when the input ended inside a quote, substitution or heredoc.
    pub incomplete: bool,
    /// Set when part of the input was not followed (nesting deeper than [`MAX_NESTING`], more
    /// than [`MAX_GROUP_WRITES`] redirections handed out by compound commands); says why. What
    /// was skipped may run anything, so the command as a whole cannot be verified.
    pub unverifiable: Option<String>,
}

/// Parses a command string the way bash would split it into simple commands.
pub fn parse(src: &str) -> Parsed {
    let mut parser = Parser::new(src);
    parser.parse_list(End::Eof);
    Parsed {
        commands: parser.out,
        incomplete: parser.incomplete,
        unverifiable: parser.unverifiable,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Eof,
    Paren,
    Brace,
    Case,
}

struct PendingHeredoc {
    delimiter: String,
    expand: bool,
    strip_tabs: bool,
    command: Option<usize>,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    out: Vec<SimpleCommand>,
    incomplete: bool,
    heredocs: Vec<PendingHeredoc>,
    origin: Origin,
    function: Option<String>,
    /// Whether spans are meaningful (only for the top-level string).
    spans: bool,
    /// How many constructs deep the parser is (shared with the sub-parsers of nested strings).
    depth: usize,
    /// Why part of the input was not followed, if it was not.
    unverifiable: Option<String>,
    /// Redirection targets handed out by compound commands so far (see [`MAX_GROUP_WRITES`]).
    group_writes: usize,
}

const KEYWORD_PREFIXES: &[&str] = &[
    "if", "then", "else", "elif", "while", "until", "do", "!", "time",
];
const KEYWORD_ENDS: &[&str] = &["fi", "done", "esac"];

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')'
    )
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            src,
            pos: 0,
            out: Vec::new(),
            incomplete: false,
            heredocs: Vec::new(),
            origin: Origin::TopLevel,
            function: None,
            spans: true,
            depth: 0,
            unverifiable: None,
            group_writes: 0,
        }
    }

    /// A parser for text nested in this one (backticks, a heredoc body, `${…}`), one level deeper.
    fn sub_parser<'b>(&self, text: &'b str, origin: Origin) -> Parser<'b> {
        let mut sub = Parser::new(text);
        sub.origin = origin;
        sub.function = self.function.clone();
        sub.spans = false;
        sub.depth = self.depth + 1;
        sub.group_writes = self.group_writes;
        sub
    }

    /// Appends a sub-parser's commands (rebasing pipeline ranges) and what it found out.
    fn absorb(&mut self, sub: Parser<'_>) {
        self.incomplete |= sub.incomplete;
        if self.unverifiable.is_none() {
            self.unverifiable = sub.unverifiable;
        }
        self.group_writes = sub.group_writes;
        let base = self.out.len();
        for mut cmd in sub.out {
            if let Stdin::Pipe(prev) = &mut cmd.stdin {
                *prev = prev.start + base..prev.end + base;
            }
            self.out.push(cmd);
        }
    }

    /// Enters one level of nesting; false (and the reason recorded) when that would exceed
    /// [`MAX_NESTING`]. Every `true` must be paired with a [`Parser::leave`].
    fn enter(&mut self) -> bool {
        if self.depth >= MAX_NESTING {
            self.too_deep();
            return false;
        }
        self.depth += 1;
        true
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn too_deep(&mut self) {
        if self.unverifiable.is_none() {
            self.unverifiable = Some(format!(
                "the command nests deeper than {MAX_NESTING} levels; the deeper part was not parsed"
            ));
        }
    }

    /// Past the nesting limit: skips the rest of a construct ended by `end` without parsing it,
    /// stopping before its closing `)` or `}` (without recursion, honouring quotes roughly: the
    /// command is unverifiable anyway, this only keeps what follows the construct in view).
    fn skip_unparsed(&mut self, end: End) {
        let (open, close) = match end {
            End::Paren => ('(', ')'),
            End::Brace => ('{', '}'),
            End::Eof | End::Case => {
                self.pos = self.src.len();
                return;
            }
        };
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                '\\' => {
                    self.bump();
                }
                '\'' => {
                    self.bump();
                    match self.rest().find('\'') {
                        Some(n) => self.pos += n,
                        None => {
                            self.pos = self.src.len();
                            break;
                        }
                    }
                }
                c if c == open => depth += 1,
                c if c == close => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                }
                _ => {}
            }
            self.bump();
        }
        self.incomplete = true;
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn starts_with(&self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(c) if is_blank(c) => {
                    self.pos += 1;
                }
                Some('\\') if self.peek_at(1) == Some('\n') => self.pos += 2,
                _ => break,
            }
        }
    }

    fn skip_comment(&mut self) {
        if self.peek() == Some('#') {
            while let Some(c) = self.peek() {
                if c == '\n' {
                    break;
                }
                self.bump();
            }
        }
    }

    /// Parses a nested string (the text of backticks) into `self.out`.
    fn parse_nested(&mut self, text: &str, origin: Origin) {
        if self.depth >= MAX_NESTING {
            self.too_deep();
            return;
        }
        let mut sub = self.sub_parser(text, origin);
        sub.parse_list(End::Eof);
        self.absorb(sub);
    }

    /// Reads the word at the current position as a plain keyword candidate, without consuming it.
    fn peek_keyword(&self) -> Option<&'a str> {
        let rest = self.rest();
        let end = rest.find(|c: char| is_meta(c)).unwrap_or(rest.len());
        let word = &rest[..end];
        if word.is_empty() || word.contains(['\'', '"', '\\', '$', '`']) {
            None
        } else if word == "!"
            || word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "{}[]_".contains(c))
        {
            Some(word)
        } else {
            None
        }
    }

    fn read_pending_heredocs(&mut self) {
        let pending = std::mem::take(&mut self.heredocs);
        for doc in pending {
            let mut body = String::new();
            let mut found = false;
            while self.pos < self.src.len() {
                let rest = self.rest();
                let line_end = rest.find('\n').unwrap_or(rest.len());
                let line = &rest[..line_end];
                self.pos += line_end + usize::from(line_end < rest.len());
                let line = if doc.strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                if line == doc.delimiter {
                    found = true;
                    break;
                }
                body.push_str(line);
                body.push('\n');
            }
            if !found {
                self.incomplete = true;
            }
            if doc.expand {
                self.scan_expansions(&body);
            }
            if let Some(idx) = doc.command {
                self.out[idx].stdin = Stdin::HereDoc {
                    body,
                    expand: doc.expand,
                };
            }
        }
    }

    /// Finds command substitutions in text that bash expands like a double-quoted string.
    fn scan_expansions(&mut self, text: &str) {
        if !text.contains("$(") && !text.contains('`') {
            return;
        }
        if self.depth >= MAX_NESTING {
            self.too_deep();
            return;
        }
        let mut sub = self.sub_parser(text, self.origin);
        let mut word = Word::default();
        while sub.pos < sub.src.len() {
            sub.read_double_quoted_char(&mut word, false);
        }
        self.absorb(sub);
    }

    fn parse_list(&mut self, end: End) {
        if !self.enter() {
            self.skip_unparsed(end);
            return;
        }
        self.parse_list_items(end);
        self.leave();
    }

    fn parse_list_items(&mut self, end: End) {
        loop {
            self.skip_blanks();
            self.skip_comment();
            match self.peek() {
                None => {
                    if end != End::Eof {
                        self.incomplete = true;
                    }
                    return;
                }
                Some('\n') => {
                    self.bump();
                    self.read_pending_heredocs();
                    continue;
                }
                Some(';') => {
                    if end == End::Case && (self.starts_with(";;") || self.starts_with(";&")) {
                        return;
                    }
                    self.bump();
                    continue;
                }
                Some('&') | Some('|') => {
                    // A separator with nothing before it (`&&` after a compound end, stray `;&`).
                    self.bump();
                    continue;
                }
                Some(')') => {
                    if end == End::Paren {
                        return;
                    }
                    // A stray `)` (bash would report a syntax error); skip it.
                    self.bump();
                    continue;
                }
                _ => {}
            }
            if let Some(kw) = self.peek_keyword() {
                if end == End::Brace && kw == "}" {
                    return;
                }
                if end == End::Case && kw == "esac" {
                    return;
                }
                if KEYWORD_ENDS.contains(&kw) || kw == "}" {
                    self.pos += kw.len();
                    continue;
                }
            }
            self.parse_pipeline();
        }
    }

    fn parse_pipeline(&mut self) {
        let first = self.out.len();
        let mut piped = false;
        loop {
            // Everything the pipeline produced so far feeds this command.
            let upstream = first..self.out.len();
            self.parse_command(upstream);
            self.skip_blanks();
            if (self.starts_with("|") && !self.starts_with("||")) || self.starts_with("|&") {
                self.pos += if self.starts_with("|&") { 2 } else { 1 };
                piped = true;
                // Commands after a newline still belong to the pipeline.
                loop {
                    self.skip_blanks();
                    if self.peek() == Some('\n') {
                        self.bump();
                        self.read_pending_heredocs();
                    } else {
                        break;
                    }
                }
                continue;
            }
            break;
        }
        // Marked once at the end: marking after every `|` made long pipelines quadratic.
        if piped {
            for c in &mut self.out[first..] {
                c.in_pipeline = true;
            }
        }
    }

    /// Parses one command (simple or compound); pipeline `upstream` feeds its standard input.
    fn parse_command(&mut self, upstream: Range<usize>) {
        // Keyword prefixes (`!`, `time`, `if`, `while`…) are skipped in a loop: a long run of them
        // must not recurse. The keyword after them is kept for the match below.
        let keyword = loop {
            self.skip_blanks();
            match self.peek_keyword() {
                Some(k) if KEYWORD_PREFIXES.contains(&k) => {
                    self.pos += k.len();
                    if k == "time" {
                        // `time -p CMD` (POSIX output format) and `time -- CMD`.
                        self.skip_blanks();
                        for opt in ["-p", "--"] {
                            if self.starts_with(opt) && self.peek_at(opt.len()).is_none_or(is_blank)
                            {
                                self.pos += opt.len();
                                self.skip_blanks();
                            }
                        }
                    }
                }
                other => break other,
            }
        };
        let first_new = self.out.len();
        match self.peek() {
            Some('(') if self.peek_at(1) == Some('(') && self.dparen_is_arithmetic() => {
                self.skip_arithmetic_command();
            }
            Some('(') => {
                self.bump();
                self.parse_list(End::Paren);
                if self.peek() == Some(')') {
                    self.bump();
                }
                self.parse_trailing_redirects(first_new);
            }
            _ => {
                if let Some(kw) = keyword {
                    match kw {
                        "{" => {
                            self.pos += 1;
                            self.parse_list(End::Brace);
                            if self.peek() == Some('}') {
                                self.bump();
                            }
                            self.parse_trailing_redirects(first_new);
                            self.attach_upstream(first_new, upstream);
                            return;
                        }
                        "for" | "select" => {
                            self.skip_for_header();
                            return;
                        }
                        "case" => {
                            self.parse_case();
                            return;
                        }
                        "function" => {
                            self.pos += kw.len();
                            self.skip_blanks();
                            let name = self.read_word().text;
                            self.skip_blanks();
                            if self.starts_with("()") {
                                self.pos += 2;
                            }
                            self.parse_function_body(name, upstream);
                            return;
                        }
                        "[[" => {
                            self.parse_conditional();
                            return;
                        }
                        _ => {}
                    }
                }
                self.parse_simple_command();
            }
        }
        self.attach_upstream(first_new, upstream);
    }

    fn attach_upstream(&mut self, first_new: usize, upstream: Range<usize>) {
        if upstream.is_empty() {
            return;
        }
        for cmd in &mut self.out[first_new..] {
            if cmd.origin == self.origin && matches!(cmd.stdin, Stdin::Inherited) {
                cmd.stdin = Stdin::Pipe(upstream.clone());
            }
        }
    }

    fn parse_function_body(&mut self, name: String, upstream: Range<usize>) {
        // `f() g() h() …` nests function definitions: it counts towards the nesting limit.
        if !self.enter() {
            self.pos = self.src.len();
            return;
        }
        let saved = self.function.replace(name);
        loop {
            self.skip_blanks();
            if self.peek() == Some('\n') {
                self.bump();
                continue;
            }
            break;
        }
        self.parse_command(upstream);
        self.function = saved;
        self.leave();
    }

    /// Whether the `((` at the current position is arithmetic, as bash decides it: only when the
    /// parentheses close with `))`. `((cmd) )` closes the inner level alone, so bash runs it as
    /// a subshell in a subshell (and `$((cmd) )` as a command substitution of a subshell).
    fn dparen_is_arithmetic(&self) -> bool {
        let rest = &self.rest().as_bytes()[2..];
        let mut depth = 1usize;
        let mut i = 0;
        while i < rest.len() {
            match rest[i] {
                b'(' => depth += 1,
                b')' if depth == 1 => return rest.get(i + 1) == Some(&b')'),
                b')' => depth -= 1,
                b'\\' => i += 1,
                _ => {}
            }
            i += 1;
        }
        // Unterminated: bash refuses it; keep the old reading (arithmetic, incomplete).
        true
    }

    fn skip_arithmetic_command(&mut self) {
        self.pos += 2;
        let mut depth = 1usize;
        while let Some(c) = self.peek() {
            if self.starts_with("))") && depth == 1 {
                self.pos += 2;
                return;
            }
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                '$' if self.peek_at(1) == Some('(') && self.peek_at(2) != Some('(') => {
                    let mut w = Word::default();
                    self.bump();
                    self.read_command_substitution(&mut w);
                    continue;
                }
                _ => {}
            }
            self.bump();
        }
        self.incomplete = true;
    }

    fn skip_for_header(&mut self) {
        // `for NAME in WORDS ;` or `for ((…)) ;`: the header runs nothing but its substitutions.
        self.pos += if self.starts_with("select") { 6 } else { 3 };
        self.skip_blanks();
        if self.starts_with("((") {
            self.skip_arithmetic_command();
            return;
        }
        loop {
            self.skip_blanks();
            match self.peek() {
                None | Some('\n') | Some(';') => return,
                Some(c) if is_meta(c) => {
                    self.bump();
                }
                _ => {
                    if self.peek_keyword() == Some("do") {
                        return;
                    }
                    self.read_word();
                }
            }
        }
    }

    fn parse_case(&mut self) {
        self.pos += 4;
        self.skip_blanks();
        self.read_word();
        loop {
            self.skip_blanks();
            match self.peek() {
                Some('\n') => {
                    self.bump();
                    self.read_pending_heredocs();
                }
                None => {
                    self.incomplete = true;
                    return;
                }
                _ => break,
            }
        }
        if self.peek_keyword() == Some("in") {
            self.pos += 2;
        }
        loop {
            // Skip blank lines, then either `esac` or `pattern) list ;;`.
            loop {
                self.skip_blanks();
                self.skip_comment();
                if self.peek() == Some('\n') {
                    self.bump();
                    self.read_pending_heredocs();
                } else {
                    break;
                }
            }
            if self.peek().is_none() {
                self.incomplete = true;
                return;
            }
            if self.peek_keyword() == Some("esac") {
                self.pos += 4;
                return;
            }
            // Pattern list up to the closing `)`.
            if self.peek() == Some('(') {
                self.bump();
            }
            loop {
                self.skip_blanks();
                match self.peek() {
                    None => {
                        self.incomplete = true;
                        return;
                    }
                    Some(')') => {
                        self.bump();
                        break;
                    }
                    Some('|') | Some('\n') => {
                        self.bump();
                    }
                    _ => {
                        let before = self.pos;
                        self.read_word();
                        if self.pos == before {
                            self.bump();
                        }
                    }
                }
            }
            self.parse_list(End::Case);
            for term in [";;&", ";;", ";&"] {
                if self.starts_with(term) {
                    self.pos += term.len();
                    break;
                }
            }
        }
    }

    fn parse_conditional(&mut self) {
        self.pos += 2;
        loop {
            self.skip_blanks();
            match self.peek() {
                None => {
                    self.incomplete = true;
                    return;
                }
                Some(c) if is_meta(c) => {
                    self.bump();
                }
                _ => {
                    if self.peek_keyword() == Some("]]") {
                        self.pos += 2;
                        return;
                    }
                    self.read_word();
                }
            }
        }
    }

    /// Redirections after a compound command: their targets are only words.
    ///
    /// The group's output goes to each target, so every command in it writes there, within the
    /// budget of [`MAX_GROUP_WRITES`].
    fn parse_trailing_redirects(&mut self, first: usize) {
        let mut targets = Vec::new();
        loop {
            self.skip_blanks();
            let Some(op) = self.redirect_operator() else {
                break;
            };
            self.pos += op.len();
            self.skip_blanks();
            let target = self.read_word();
            let op = bare_operator(op);
            let dup = op == ">&" && target.text.chars().all(|c| c.is_ascii_digit() || c == '-');
            if op.contains('>') && !dup {
                targets.push(target);
            }
        }
        if targets.is_empty() {
            return;
        }
        for cmd in &mut self.out[first..] {
            if self.group_writes + targets.len() > MAX_GROUP_WRITES {
                if self.unverifiable.is_none() {
                    self.unverifiable = Some(format!(
                        "its compound commands redirect the output of their commands more than \
                         {MAX_GROUP_WRITES} times in all; the rest were not checked"
                    ));
                }
                return;
            }
            self.group_writes += targets.len();
            cmd.writes.extend(targets.iter().cloned());
        }
    }

    /// Returns the redirection operator at the current position (with any fd number), if any.
    fn redirect_operator(&self) -> Option<&'a str> {
        let rest = self.rest();
        // `{name}>file`: bash opens the file on a new descriptor and stores its number in
        // `name`; the `{name}` is part of the redirection, not a word.
        let digits = match named_fd_prefix(rest) {
            Some(n) => n,
            None => rest.bytes().take_while(u8::is_ascii_digit).count(),
        };
        let after = &rest[digits..];
        const OPS: &[&str] = &[
            "&>>", "<<<", "<<-", "&>", ">>", ">&", "<&", ">|", "<>", "<<", ">", "<",
        ];
        for op in OPS {
            if let Some(tail) = after.strip_prefix(op) {
                // `<(` and `>(` are process substitutions, not redirections.
                if (*op == "<" || *op == ">") && tail.starts_with('(') {
                    return None;
                }
                if digits > 0 && op.starts_with('&') {
                    return None;
                }
                return Some(&rest[..digits + op.len()]);
            }
        }
        None
    }

    fn parse_simple_command(&mut self) {
        let start = self.pos;
        let mut cmd = SimpleCommand {
            origin: self.origin,
            in_function: self.function.clone(),
            ..SimpleCommand::default()
        };
        let mut heredoc_pending = false;
        // Substitutions inside this command's words are pushed to `self.out` while reading; the
        // command itself is pushed after them.
        loop {
            self.skip_blanks();
            let Some(c) = self.peek() else { break };
            if let Some(op) = self.redirect_operator() {
                self.pos += op.len();
                self.skip_blanks();
                let op = bare_operator(op);
                match op {
                    "<<" | "<<-" => {
                        let raw_start = self.pos;
                        let delim = self.read_word();
                        let raw = &self.src[raw_start..self.pos];
                        let quoted = raw.contains(['\'', '"', '\\']);
                        self.heredocs.push(PendingHeredoc {
                            delimiter: delim.text,
                            expand: !quoted,
                            strip_tabs: op == "<<-",
                            command: None,
                        });
                        heredoc_pending = true;
                    }
                    "<<<" => cmd.stdin = Stdin::HereString(self.read_word()),
                    "<" => cmd.stdin = Stdin::File(self.read_word()),
                    "<&" | ">&" => {
                        let target = self.read_word();
                        // `>&file` writes to a file; `>&2` and `>&-` duplicate descriptors.
                        if op == ">&"
                            && !target.text.chars().all(|c| c.is_ascii_digit() || c == '-')
                        {
                            cmd.writes.push(target);
                        }
                    }
                    _ => cmd.writes.push(self.read_word()),
                }
                continue;
            }
            if is_meta(c) && !(matches!(c, '<' | '>') && self.peek_at(1) == Some('(')) {
                if c == '(' && cmd.words.len() == 1 && self.starts_with("()") {
                    // `name() compound`: a function definition.
                    self.pos += 2;
                    let name = cmd.words.pop().map(|w| w.text).unwrap_or_default();
                    self.parse_function_body(name, 0..0);
                    return;
                }
                if c == '(' && cmd.words.is_empty() && !cmd.assignments.is_empty() {
                    // `a=(1 2 3)` is handled in read_word; a bare `(` here is a syntax error.
                    self.bump();
                    continue;
                }
                break;
            }
            if c == '#' {
                self.skip_comment();
                break;
            }
            let word_start = self.pos;
            let word = self.read_word();
            if self.pos == word_start {
                // Nothing consumed (should not happen); avoid looping forever.
                self.bump();
                continue;
            }
            if cmd.words.is_empty() && is_assignment(&self.src[word_start..self.pos]) {
                cmd.assignments.push(word.text);
                continue;
            }
            // Brace expansion (`{rm,-rf,~}`, `.{env,x}`, `/tmp/{..,x}/home`): one word becomes
            // several, as bash expands it before anything else.
            let raw = &self.src[word_start..self.pos];
            match (!word.dynamic
                && raw.contains('{')
                && !raw.contains("$'")
                && !raw.contains("$\""))
            .then(|| brace_expand(raw))
            .flatten()
            {
                Some(words) => cmd.words.extend(words.iter().map(|w| Word {
                    text: unquote(w),
                    ..Word::default()
                })),
                None => cmd.words.push(word),
            }
        }
        if cmd.words.is_empty()
            && cmd.assignments.is_empty()
            && cmd.writes.is_empty()
            && !matches!(cmd.stdin, Stdin::File(_))
        {
            return;
        }
        if self.spans && self.origin == Origin::TopLevel && self.function.is_none() {
            cmd.span = Some((start, self.pos));
        }
        let idx = self.out.len();
        if heredoc_pending {
            // The unassigned heredocs are the last ones: stop at the first assigned one, so that
            // many heredocs on one line stay linear.
            for doc in self.heredocs.iter_mut().rev() {
                if doc.command.is_some() {
                    break;
                }
                doc.command = Some(idx);
            }
        }
        self.out.push(cmd);
    }

    /// Reads one word, performing quote removal and recording substitutions.
    fn read_word(&mut self) -> Word {
        let mut word = Word::default();
        let mut split_words: Vec<Word> = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                c if is_meta(c) => {
                    if matches!(c, '<' | '>') && self.peek_at(1) == Some('(') {
                        self.bump();
                        self.read_process_substitution(&mut word);
                        continue;
                    }
                    if c == '(' && word.text.ends_with('=') && is_assignment(&word.text) {
                        // Array assignment `a=(x y)`.
                        self.read_balanced_parens(&mut word);
                        continue;
                    }
                    break;
                }
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some('\n') | None => {}
                        Some(n) => word.text.push(n),
                    }
                }
                '\'' => {
                    self.bump();
                    match self.rest().find('\'') {
                        Some(end) => {
                            word.text.push_str(&self.rest()[..end]);
                            self.pos += end + 1;
                        }
                        None => {
                            word.text.push_str(self.rest());
                            self.pos = self.src.len();
                            self.incomplete = true;
                        }
                    }
                }
                '"' => {
                    self.bump();
                    self.read_double_quoted(&mut word);
                }
                '`' => {
                    self.bump();
                    self.read_backticks(&mut word);
                }
                '$' => {
                    if self.peek_at(1) == Some('\'') {
                        self.pos += 2;
                        self.read_ansi_c(&mut word);
                    } else if self.peek_at(1) == Some('"') {
                        self.pos += 2;
                        self.read_double_quoted(&mut word);
                    } else if self.read_dollar(&mut word, false) {
                        // Unquoted `$IFS`: bash splits the word here.
                        if !word.text.is_empty() || word.dynamic {
                            split_words.push(std::mem::take(&mut word));
                        }
                    }
                }
                _ => {
                    self.bump();
                    word.text.push(c);
                }
            }
        }
        if split_words.is_empty() {
            return word;
        }
        // Join the pieces back with a single space marker so that callers that split on IFS
        // see them; the command reader re-splits below.
        split_words.push(word);
        let mut joined = Word::default();
        for (i, w) in split_words
            .into_iter()
            .filter(|w| !w.text.is_empty())
            .enumerate()
        {
            if i > 0 {
                joined.text.push(IFS_SPLIT);
            }
            joined.text.push_str(&w.text);
            joined.dynamic |= w.dynamic;
            joined.process_substitution |= w.process_substitution;
        }
        joined
    }

    /// The body of an array assignment (`a=(x "$y" $(cmd))`): its elements are words like any
    /// other, so substitutions inside them are parsed and checked (bash runs them when it
    /// assigns). The word keeps the elements' text, space-separated, inside the parentheses.
    fn read_balanced_parens(&mut self, word: &mut Word) {
        self.bump(); // `(`
        word.text.push('(');
        loop {
            loop {
                self.skip_blanks();
                if self.peek() == Some('\n') {
                    self.bump();
                } else if self.peek() == Some('#') {
                    self.skip_comment();
                } else {
                    break;
                }
            }
            match self.peek() {
                None => {
                    self.incomplete = true;
                    return;
                }
                Some(')') => {
                    self.bump();
                    if word.text.ends_with(' ') {
                        word.text.pop();
                    }
                    word.text.push(')');
                    return;
                }
                Some(_) => {
                    let start = self.pos;
                    let element = self.read_word();
                    if self.pos == start {
                        // An operator inside the parentheses: bash refuses the line. Keep the
                        // character and go on, so nothing after it goes unparsed.
                        if let Some(c) = self.bump() {
                            word.text.push(c);
                        }
                        continue;
                    }
                    word.dynamic |= element.dynamic;
                    word.process_substitution |= element.process_substitution;
                    word.text.push_str(&element.text);
                    word.text.push(' ');
                }
            }
        }
    }

    fn read_double_quoted(&mut self, word: &mut Word) {
        loop {
            match self.peek() {
                None => {
                    self.incomplete = true;
                    return;
                }
                Some('"') => {
                    self.bump();
                    return;
                }
                _ => self.read_double_quoted_char(word, true),
            }
        }
    }

    /// Reads one unit of double-quoted text (also used for heredoc bodies).
    fn read_double_quoted_char(&mut self, word: &mut Word, in_quotes: bool) {
        let Some(c) = self.bump() else { return };
        match c {
            '\\' => match self.peek() {
                Some(n @ ('$' | '`' | '"' | '\\')) if in_quotes || n != '"' => {
                    self.bump();
                    word.text.push(n);
                }
                Some('\n') => {
                    self.bump();
                }
                _ => word.text.push('\\'),
            },
            '`' => self.read_backticks(word),
            '$' => {
                self.pos -= 1;
                self.read_dollar(word, true);
            }
            c => word.text.push(c),
        }
    }

    /// Reads a `$` expansion; returns true for an unquoted `$IFS` (a word split).
    fn read_dollar(&mut self, word: &mut Word, quoted: bool) -> bool {
        debug_assert_eq!(self.peek(), Some('$'));
        self.bump();
        match self.peek() {
            Some('(') if self.peek_at(1) == Some('(') && self.dparen_is_arithmetic() => {
                // Arithmetic expansion: a number, but it may hide a substitution (which
                // skip_arithmetic_command still parses).
                self.skip_arithmetic_command();
                word.text.push_str("$((…))");
                word.dynamic = true;
                false
            }
            Some('(') => {
                self.read_command_substitution(word);
                false
            }
            Some('{') => {
                self.bump();
                let mut depth = 1usize;
                let start = self.pos;
                // Quotes inside `${…}` hide braces (`${x:-"}"}`); single quotes only outside
                // double quotes (inside them bash keeps `'` as a character).
                while let Some(c) = self.peek() {
                    match c {
                        '\\' => {
                            self.bump();
                        }
                        '\'' if !quoted => {
                            self.bump();
                            while self.peek().is_some_and(|d| d != '\'') {
                                self.bump();
                            }
                        }
                        '"' => {
                            self.bump();
                            while let Some(d) = self.peek() {
                                if d == '"' {
                                    break;
                                }
                                if d == '\\' {
                                    self.bump();
                                }
                                self.bump();
                            }
                        }
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.bump();
                }
                let inner = &self.src[start..self.pos];
                if self.peek() == Some('}') {
                    self.bump();
                } else {
                    self.incomplete = true;
                }
                if inner.contains("$(") || inner.contains('`') {
                    let inner = inner.to_owned();
                    self.scan_expansions(&inner);
                }
                let name: String = inner.chars().take_while(|&c| is_name_char(c)).collect();
                word.dynamic = true;
                if !quoted && name == "IFS" {
                    return true;
                }
                if name.is_empty() {
                    word.text.push_str("${");
                    word.text.push_str(inner);
                    word.text.push('}');
                } else {
                    word.text.push('$');
                    word.text.push_str(&name);
                    let default = inner[name.len()..]
                        .strip_prefix(":-")
                        .or_else(|| inner[name.len()..].strip_prefix('-'))
                        .filter(|d| !d.contains(['$', '`', '\'', '"', '\\', '{', '}']));
                    if let Some(default) = default {
                        // `${NAME:-word}` with a plain default, kept as `$NAME{:-word}`: the
                        // layers above use the default when NAME is not set in the command, and
                        // rules recognise `$TMPDIR{:-/tmp}` as the temporary directory.
                        word.text.push_str("{:-");
                        word.text.push_str(default);
                        word.text.push('}');
                    } else if inner.ends_with("@P") {
                        // Prompt expansion: runs the substitutions in the value.
                        word.text.push_str("{…@P}");
                    } else if inner.len() > name.len() {
                        // `${HOME:-x}`, `${x/a/b}`…: keep a marker that it is not the plain value.
                        word.text.push_str("{…}");
                    }
                }
                false
            }
            Some(c) if is_name_start(c) => {
                let start = self.pos;
                while self.peek().is_some_and(is_name_char) {
                    self.bump();
                }
                let name = &self.src[start..self.pos];
                word.dynamic = true;
                if !quoted && name == "IFS" {
                    return true;
                }
                word.text.push('$');
                word.text.push_str(name);
                false
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                self.bump();
                word.text.push('$');
                word.text.push(c);
                word.dynamic = true;
                false
            }
            _ => {
                word.text.push('$');
                false
            }
        }
    }

    fn read_command_substitution(&mut self, word: &mut Word) {
        // At `(` after `$`.
        self.bump();
        let saved_origin = std::mem::replace(&mut self.origin, Origin::CommandSubstitution);
        let saved_spans = std::mem::replace(&mut self.spans, false);
        let saved_heredocs = std::mem::take(&mut self.heredocs);
        let start = self.pos;
        self.parse_list(End::Paren);
        let inner = self.src.get(start..self.pos).unwrap_or("").trim();
        // A few substitutions are kept as written, so the layers above can recognise them: the
        // repository root (`"$(git rev-parse --show-toplevel)/bin/lint"`) and the well-known shell
        // set-up tools ask users to eval (`eval "$(rbenv init -)"`). Everything else is `$(…)`.
        let keep = inner.len() <= 64
            && (inner == "git rev-parse --show-toplevel"
                || crate::segment::is_fresh_temporary(inner)
                || crate::segment::is_well_known_setup_command(inner));
        let text = if keep {
            format!("$({inner})")
        } else {
            "$(…)".to_owned()
        };
        if self.peek() == Some(')') {
            self.bump();
        }
        self.heredocs = saved_heredocs;
        self.origin = saved_origin;
        self.spans = saved_spans;
        word.text.push_str(&text);
        word.dynamic = true;
    }

    fn read_process_substitution(&mut self, word: &mut Word) {
        // At `(` after `<` or `>`.
        self.bump();
        let saved_origin = std::mem::replace(&mut self.origin, Origin::ProcessSubstitution);
        let saved_spans = std::mem::replace(&mut self.spans, false);
        let saved_heredocs = std::mem::take(&mut self.heredocs);
        let start = self.pos;
        self.parse_list(End::Paren);
        let inner = self.src.get(start..self.pos).unwrap_or("").trim();
        // Kept as written when it prints well-known shell set-up (`source <(kubectl completion
        // bash)`), like `$(…)` below.
        let keep = inner.len() <= 64 && crate::segment::is_well_known_setup_command(inner);
        let text = if keep {
            format!("<({inner})")
        } else {
            "<(…)".to_owned()
        };
        if self.peek() == Some(')') {
            self.bump();
        }
        self.heredocs = saved_heredocs;
        self.origin = saved_origin;
        self.spans = saved_spans;
        word.text.push_str(&text);
        word.dynamic = true;
        word.process_substitution = true;
    }

    fn read_backticks(&mut self, word: &mut Word) {
        // After the opening backtick: `\`` `\\` `\$` are unescaped, the rest is literal.
        let mut inner = String::new();
        let mut closed = false;
        while let Some(c) = self.bump() {
            match c {
                '`' => {
                    closed = true;
                    break;
                }
                '\\' => match self.peek() {
                    Some(n @ ('`' | '\\' | '$')) => {
                        self.bump();
                        inner.push(n);
                    }
                    _ => inner.push('\\'),
                },
                c => inner.push(c),
            }
        }
        if !closed {
            self.incomplete = true;
        }
        self.parse_nested(&inner, Origin::CommandSubstitution);
        word.text.push_str("$(…)");
        word.dynamic = true;
    }

    fn read_ansi_c(&mut self, word: &mut Word) {
        // After `$'`: decode escapes like bash does.
        loop {
            let Some(c) = self.bump() else {
                self.incomplete = true;
                return;
            };
            match c {
                '\'' => return,
                '\\' => {
                    let Some(e) = self.bump() else {
                        self.incomplete = true;
                        return;
                    };
                    match e {
                        'n' => word.text.push('\n'),
                        't' => word.text.push('\t'),
                        'r' => word.text.push('\r'),
                        'a' => word.text.push('\x07'),
                        'b' => word.text.push('\x08'),
                        'e' | 'E' => word.text.push('\x1b'),
                        'f' => word.text.push('\x0c'),
                        'v' => word.text.push('\x0b'),
                        'x' => {
                            let v = self.read_radix(16, 2);
                            push_byte(&mut word.text, v);
                        }
                        'u' | 'U' => {
                            let v = self.read_radix(16, if e == 'u' { 4 } else { 8 });
                            if let Some(ch) = v.and_then(char::from_u32) {
                                word.text.push(ch);
                            }
                        }
                        '0'..='7' => {
                            self.pos -= 1;
                            let v = self.read_radix(8, 3);
                            push_byte(&mut word.text, v);
                        }
                        'c' => {
                            if let Some(ch) = self.bump() {
                                word.text.push(char::from((ch as u8) & 0x1f));
                            }
                        }
                        other => word.text.push(other),
                    }
                }
                c => word.text.push(c),
            }
        }
    }

    fn read_radix(&mut self, radix: u32, max: usize) -> Option<u32> {
        let mut value = None;
        for _ in 0..max {
            match self.peek().and_then(|c| c.to_digit(radix)) {
                Some(d) => {
                    self.bump();
                    value = Some(value.unwrap_or(0) * radix + d);
                }
                None => break,
            }
        }
        value
    }
}

fn push_byte(text: &mut String, value: Option<u32>) {
    if let Some(v) = value {
        // Bytes above ASCII are rare in commands; map them to the Latin-1 character.
        text.push(char::from_u32(v & 0xff).unwrap_or('\u{fffd}'));
    }
}

/// The marker `read_word` leaves where an unquoted `$IFS` splits a word; see [`split_ifs`].
pub(crate) const IFS_SPLIT: char = '\u{1f}';

/// Splits the words of a command where an unquoted `$IFS` stood, as bash's word splitting would.
pub(crate) fn split_ifs(words: &[Word]) -> Vec<Word> {
    let mut out = Vec::with_capacity(words.len());
    for w in words {
        if w.text.contains(IFS_SPLIT) {
            for piece in w.text.split(IFS_SPLIT).filter(|p| !p.is_empty()) {
                out.push(Word {
                    text: piece.to_owned(),
                    // The pieces around `$IFS` are literal; a `$` inside stays flagged by its text.
                    dynamic: piece.contains('$'),
                    process_substitution: w.process_substitution,
                });
            }
        } else {
            out.push(w.clone());
        }
    }
    out
}

fn is_assignment(raw: &str) -> bool {
    let mut chars = raw.chars();
    if !chars.next().is_some_and(is_name_start) {
        return false;
    }
    for c in chars {
        match c {
            '=' => return true,
            '+' | '[' => return raw.contains('='),
            c if is_name_char(c) => {}
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(src: &str) -> Vec<String> {
        parse(src)
            .commands
            .iter()
            .map(|c| {
                split_ifs(&c.words)
                    .iter()
                    .map(|w| w.text.clone())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn lists_and_pipelines() {
        assert_eq!(
            programs("a x; b && c || d | e & f\ng"),
            ["a x", "b", "c", "d", "e", "f", "g"]
        );
    }

    #[test]
    fn quotes_are_removed() {
        assert_eq!(programs(r#"r''m -rf "/" \rm 'a b'"#), ["rm -rf / rm a b"]);
        assert_eq!(programs(r"$'\x72\x6d' -rf /"), ["rm -rf /"]);
    }

    #[test]
    fn substitutions_are_found() {
        assert_eq!(
            programs("echo $(rm -rf /tmp/x) `ls`"),
            ["rm -rf /tmp/x", "ls", "echo $(…) $(…)"]
        );
        assert_eq!(
            programs("diff <(sort a) <(sort b)"),
            ["sort a", "sort b", "diff <(…) <(…)"]
        );
        assert_eq!(programs("echo \"$(whoami)\""), ["whoami", "echo $(…)"]);
    }

    #[test]
    fn groups_subshells_and_keywords() {
        assert_eq!(
            programs("(cd /x && make) ; { a; b; } ; if test -f x; then rm y; else z; fi"),
            ["cd /x", "make", "a", "b", "test -f x", "rm y", "z"]
        );
        assert_eq!(programs("for f in *.txt; do rm \"$f\"; done"), ["rm $f"]);
        assert_eq!(
            programs("while true; do sleep 1; done"),
            ["true", "sleep 1"]
        );
        assert_eq!(
            programs("case $x in a|b) rm a;; *) ls;; esac"),
            ["rm a", "ls"]
        );
    }

    #[test]
    fn assignments_and_redirects() {
        let p = parse("FOO=1 BAR='x y' env > out.txt 2>&1 < in");
        let c = &p.commands[0];
        assert_eq!(c.assignments, ["FOO=1", "BAR=x y"]);
        assert_eq!(c.words[0].text, "env");
        assert_eq!(c.writes[0].text, "out.txt");
        assert!(matches!(&c.stdin, Stdin::File(w) if w.text == "in"));
    }

    #[test]
    fn heredocs() {
        let p = parse("bash <<'EOF'\nrm -rf /\nEOF\necho done");
        assert_eq!(p.commands.len(), 2);
        assert!(
            matches!(&p.commands[0].stdin, Stdin::HereDoc { body, expand: false } if body == "rm -rf /\n")
        );
        assert_eq!(programs("cat <<EOF\n$(rm x)\nEOF"), ["cat", "rm x"]);
    }

    #[test]
    fn redirects_after_groups_apply_to_the_group() {
        let p = parse("{ echo a; echo b; } > /etc/app.conf 2>&1; (cat x) >> out");
        assert_eq!(p.commands[0].writes[0].text, "/etc/app.conf");
        assert_eq!(p.commands[1].writes.len(), 1);
        assert_eq!(p.commands[2].writes[0].text, "out");
    }

    #[test]
    fn pipelines_record_upstream() {
        let p = parse("curl -s x | tee f | sh");
        assert_eq!(p.commands[2].stdin, Stdin::Pipe(0..2));
        assert!(p.commands.iter().all(|c| c.in_pipeline));
    }

    #[test]
    fn nested_pipelines_record_ranges() {
        let p = parse("a | (b | c) | d; e");
        assert_eq!(p.commands[1].stdin, Stdin::Pipe(0..1));
        assert_eq!(p.commands[2].stdin, Stdin::Pipe(1..2));
        assert_eq!(p.commands[3].stdin, Stdin::Pipe(0..3));
        assert_eq!(p.commands[4].stdin, Stdin::Inherited);
        assert!(p.commands[..4].iter().all(|c| c.in_pipeline));
        assert!(!p.commands[4].in_pipeline);
        // Ranges from backticks are rebased into the outer list.
        let p = parse("x `a | b`");
        assert_eq!(p.commands[1].stdin, Stdin::Pipe(0..1));
    }

    #[test]
    fn array_assignments_parse_their_elements() {
        // Substitutions in elements run when bash assigns, on any line of the body.
        let texts = programs("a=(one\n  $(rm -rf x) # note\n  \"$(touch y)\" two) ls");
        assert!(texts.iter().any(|t| t == "rm -rf x"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "touch y"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "ls"), "{texts:?}");
        let p = parse("a=(one\n  $(rm -rf x) # note\n  \"$(touch y)\" two) ls");
        assert!(p.unverifiable.is_none() && !p.incomplete);
        // Unclosed: incomplete, and what it holds is still seen.
        assert!(parse("a=( $(rm -rf x)").incomplete);
        assert!(programs("a=( $(rm -rf x)").iter().any(|t| t == "rm -rf x"));
    }

    #[test]
    fn many_heredocs_on_one_line_each_get_their_body() {
        let p = parse("cat <<A; cat <<B <<C\none\nA\ntwo\nB\nthree\nC\n");
        let bodies: Vec<&str> = p
            .commands
            .iter()
            .map(|c| match &c.stdin {
                Stdin::HereDoc { body, .. } => body.as_str(),
                _ => "",
            })
            .collect();
        // The second command's stdin is its last heredoc.
        assert_eq!(bodies, ["one\n", "three\n"]);
    }

    #[test]
    fn nesting_past_the_limit_is_skipped_and_reported() {
        let deep = |n: usize| format!("{}x{}; rm -rf /", "$(".repeat(n), ")".repeat(n));
        let p = parse(&deep(MAX_NESTING - 1));
        assert!(p.unverifiable.is_none());
        assert_eq!(programs(&deep(MAX_NESTING - 1)).last().unwrap(), "rm -rf /");
        let p = parse(&deep(MAX_NESTING));
        assert!(p.unverifiable.unwrap().contains("deeper than 64 levels"));
        // What follows the skipped construct is still parsed.
        assert_eq!(programs(&deep(1000)).last().unwrap(), "rm -rf /");
        // Function definitions nest too.
        let p = parse(&"f() ".repeat(1000));
        assert!(p.unverifiable.is_some());
    }

    #[test]
    fn group_redirections_share_a_budget() {
        let p = parse("{ a; b; } > x 2> y");
        assert!(p.commands.iter().all(|c| c.writes.len() == 2));
        assert!(p.unverifiable.is_none());
        let p = parse(&format!("{{ {} }} > x", "a; ".repeat(MAX_GROUP_WRITES + 1)));
        assert!(p.unverifiable.unwrap().contains("4096"));
        let given: usize = p.commands.iter().map(|c| c.writes.len()).sum();
        assert_eq!(given, MAX_GROUP_WRITES);
    }

    #[test]
    fn ifs_splits_words() {
        assert_eq!(programs("rm${IFS}-rf${IFS}/"), ["rm -rf /"]);
    }

    #[test]
    fn fork_bomb_function() {
        let p = parse(":(){ :|:& };:");
        let inside: Vec<_> = p
            .commands
            .iter()
            .filter(|c| c.in_function.as_deref() == Some(":"))
            .collect();
        assert_eq!(inside.len(), 2);
        assert!(inside.iter().all(|c| c.in_pipeline));
    }

    #[test]
    fn unterminated_input_is_flagged_not_panicking() {
        for s in [
            "echo 'x",
            "echo \"x",
            "echo $(x",
            "cat <<EOF\nx",
            "(a",
            "`x",
            "$'\\x",
            "${x",
            "case",
        ] {
            let p = parse(s);
            assert!(p.incomplete, "{s}");
        }
    }

    #[test]
    fn comments_are_ignored() {
        assert_eq!(programs("ls # rm -rf /\necho x#y"), ["ls", "echo x#y"]);
    }

    #[test]
    fn spans_cover_top_level_commands() {
        let src = "ls -l && rm -rf build";
        let p = parse(src);
        let (s, e) = p.commands[1].span.unwrap();
        assert_eq!(&src[s..e], "rm -rf build");
    }
}
