//! A small glob matcher for rule patterns: `*`, `**`, `?`, `[abc]`, `[!a-z]` and `\` escapes.

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    /// Matches a file name anywhere when the pattern has no `/` (like `.gitignore`).
    basename_only: bool,
    source: String,
    /// The text to compare, when the pattern has no wildcard (most program names): compared
    /// directly, without the token matcher's allocation.
    literal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    Any,
    /// `*`: any run of characters; `cross` when it may cross `/` (`**`, or a pattern with no `/`).
    Star {
        cross: bool,
    },
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Why a glob pattern could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError(pub String);

impl std::fmt::Display for GlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Glob {
    /// Compiles a pattern.
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        let basename_only = !pattern.contains('/');
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n) => tokens.push(Token::Literal(n)),
                    None => {
                        return Err(GlobError(format!("glob `{pattern}` ends with a lone `\\`")));
                    }
                },
                '?' => tokens.push(Token::Any),
                '*' => {
                    let mut cross = basename_only;
                    while chars.peek() == Some(&'*') {
                        chars.next();
                        cross = true;
                    }
                    tokens.push(Token::Star { cross });
                }
                '[' => {
                    let mut negated = false;
                    if matches!(chars.peek(), Some('!' | '^')) {
                        chars.next();
                        negated = true;
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(c) = chars.next() else {
                            return Err(GlobError(format!("glob `{pattern}` has an unclosed `[`")));
                        };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        if chars.peek() == Some(&'-') {
                            chars.next();
                            match chars.next() {
                                Some(']') => {
                                    ranges.push((c, c));
                                    ranges.push(('-', '-'));
                                    break;
                                }
                                Some(end) => ranges.push((c, end)),
                                None => {
                                    return Err(GlobError(format!(
                                        "glob `{pattern}` has an unclosed `[`"
                                    )));
                                }
                            }
                        } else {
                            ranges.push((c, c));
                        }
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                c => tokens.push(Token::Literal(c)),
            }
        }
        let literal = tokens
            .iter()
            .map(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect::<Option<String>>();
        Ok(Glob {
            tokens,
            basename_only,
            source: pattern.to_owned(),
            literal,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Matches a whole string (for a pattern without `/`, also any path's last component).
    pub fn is_match(&self, text: &str) -> bool {
        if let Some(literal) = &self.literal {
            if self.basename_only {
                let base = text
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or(text);
                if base == literal {
                    return true;
                }
            }
            return text == literal;
        }
        if self.basename_only {
            let base = text
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(text);
            if matches_tokens(&self.tokens, base) {
                return true;
            }
        }
        matches_tokens(&self.tokens, text)
    }

    /// Matches as an exclusion: a pattern without `/` is a file name and is compared with the
    /// last component only (`!*cert*.pem` leaves `certs/privkey.pem` a key; its `*` may not
    /// reach into the directory names).
    pub fn excludes(&self, text: &str) -> bool {
        if !self.basename_only {
            return self.is_match(text);
        }
        let base = text
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(text);
        match &self.literal {
            Some(literal) => base == literal,
            None => matches_tokens(&self.tokens, base),
        }
    }
}

/// A list of globs where entries starting with `!` exclude: a text matches when it matches some
/// plain entry and no `!` entry (`[".env*", "!.env.example"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobList {
    include: Vec<Glob>,
    exclude: Vec<Glob>,
    /// Include patterns that are plain file names (`.env`, `id_rsa`), for wildcard arguments.
    literals: Vec<String>,
    /// For each include pattern, the longest run of literal text (`*.pem` → `.pem`), which any
    /// text it matches contains: a cheap test before path forms are built ([`Self::could_match`]).
    /// Grouped by first byte, so that at each place in a text only the needles that start with
    /// its byte are compared (most start with `.`; a list has up to a hundred).
    needles: Vec<Vec<String>>,
    /// Set when an include pattern has too little literal text for [`Self::needles`] to tell.
    unfiltered: bool,
    /// For each byte, 1 + the index of the needles starting with it (0: none).
    first_bytes: FirstBytes,
    /// The include patterns, sorted, while every one is a plain name without `/` or wildcard
    /// (program lists such as `not_program`): then a match is one binary search.
    names: Option<Vec<String>>,
}

/// The longest run of literal characters within one path component of a pattern (`~` left out:
/// `~/.ssh` is also matched in its resolved form, `/home/user/.ssh`). Within one component,
/// because resolving `..` joins components that were apart in the typed text.
fn longest_literal(pattern: &str) -> &str {
    pattern
        .split(['*', '?', '[', ']', '{', '}', '\\', '/', '~'])
        .max_by_key(|run| run.len())
        .unwrap_or("")
}

/// A set of bytes (see [`GlobList::could_match`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FirstBytes([u8; 256]);

impl Default for FirstBytes {
    fn default() -> Self {
        FirstBytes([0; 256])
    }
}

impl std::ops::Index<usize> for FirstBytes {
    type Output = u8;
    fn index(&self, i: usize) -> &u8 {
        &self.0[i]
    }
}

impl std::ops::IndexMut<usize> for FirstBytes {
    fn index_mut(&mut self, i: usize) -> &mut u8 {
        &mut self.0[i]
    }
}

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

impl GlobList {
    /// Adds a pattern (`!pattern` excludes).
    pub fn push(&mut self, pattern: &str) -> Result<(), GlobError> {
        match pattern.strip_prefix('!') {
            Some(p) => self.exclude.push(Glob::new(p)?),
            None => {
                let glob = Glob::new(pattern)?;
                if glob.basename_only && !has_meta(pattern) {
                    self.literals.push(pattern.to_owned());
                }
                let name = glob.literal.clone().filter(|_| glob.basename_only);
                self.names = match (self.names.take(), name) {
                    (Some(mut names), Some(name)) => {
                        if let Err(at) = names.binary_search(&name) {
                            names.insert(at, name);
                        }
                        Some(names)
                    }
                    (None, Some(name)) if self.include.is_empty() => Some(vec![name]),
                    _ => None,
                };
                let needle = longest_literal(pattern);
                if needle.len() < 3 {
                    self.unfiltered = true;
                } else {
                    let first = usize::from(needle.as_bytes()[0]);
                    if self.first_bytes[first] == 0 {
                        // At most 255 groups: one per distinct first byte.
                        self.needles.push(Vec::new());
                        self.first_bytes[first] = u8::try_from(self.needles.len()).unwrap_or(0);
                    }
                    match self.first_bytes[first] {
                        0 => self.unfiltered = true,
                        group => {
                            let group = &mut self.needles[usize::from(group) - 1];
                            if !group.iter().any(|n| n == needle) {
                                group.push(needle.to_owned());
                            }
                        }
                    }
                }
                self.include.push(glob);
            }
        }
        Ok(())
    }

    /// True when `arg` is a wildcard pattern (with some literal text in its last component, so
    /// not a bare `*`) that the shell could expand to one of the list's plain file names. A
    /// leading wildcard does not match a leading dot, as in bash.
    pub fn could_expand_to_literal(&self, arg: &str) -> bool {
        if self.literals.is_empty() || !has_meta(arg) {
            return false;
        }
        let base = arg.rsplit('/').next().unwrap_or(arg);
        if base.chars().all(|c| matches!(c, '*' | '?')) {
            return false;
        }
        let Ok(glob) = Glob::new(base) else {
            return false;
        };
        self.literals.iter().any(|lit| {
            (!lit.starts_with('.') || base.starts_with('.'))
                && matches_tokens(&glob.tokens, lit)
                && !self.exclude.iter().any(|g| g.is_match(lit))
        })
    }

    /// False when `text` (as typed) cannot match any include pattern in any of its forms: it
    /// holds no pattern's literal text and no wildcard. Resolving keeps the typed components
    /// whole (`..` removes some) and adds the working directory or home before them, so the
    /// caller must also try the directory the text is resolved against.
    pub fn could_match(&self, text: &str) -> bool {
        if self.unfiltered || has_meta(text) {
            return true;
        }
        let bytes = text.as_bytes();
        (0..bytes.len()).any(|i| match self.first_bytes[usize::from(bytes[i])] {
            0 => false,
            group => self.needles[usize::from(group) - 1]
                .iter()
                .any(|n| bytes[i..].starts_with(n.as_bytes())),
        })
    }

    /// True when a wildcard argument's directory part (`~/.aws` of `~/.aws/*`, in any of the
    /// given forms) is a path some include pattern names or lies beneath: the shell could
    /// expand it to a protected file.
    pub fn could_expand_under(&self, forms: &[&str]) -> bool {
        // A wildcard an exclusion covers (`~/.ssh/*.pub` against `!~/.ssh/*.pub`) is left out.
        if forms
            .iter()
            .any(|f| !f.is_empty() && self.exclude.iter().any(|x| x.is_match(f)))
        {
            return false;
        }
        forms.iter().any(|form| {
            let Some(meta) = form.find(['*', '?', '[']) else {
                return false;
            };
            let Some(slash) = form[..meta].rfind('/') else {
                return false;
            };
            let dir = &form[..slash];
            // The wildcard component, matched against the next component of each pattern.
            let component = form[slash + 1..].split('/').next().unwrap_or("");
            let Ok(wild) = Glob::new(component) else {
                return false;
            };
            !dir.is_empty()
                && self.include.iter().any(|g| {
                    let src = g.as_str();
                    let inside =
                        src == dir || dir.starts_with(src) && dir[src.len()..].starts_with('/');
                    let child = src
                        .strip_prefix(dir)
                        .and_then(|r| r.strip_prefix('/'))
                        .and_then(|r| r.split('/').next())
                        .is_some_and(|next| wild.is_match(next));
                    (inside || child) && !self.exclude.iter().any(|x| x.is_match(src))
                })
        })
    }

    /// True when some pattern has a `/`, so values must also be tried as resolved paths.
    pub fn needs_paths(&self) -> bool {
        self.include
            .iter()
            .chain(&self.exclude)
            .any(|g| !g.basename_only)
    }

    /// True when no pattern was given.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// True when any of `candidates` (forms of one text) matches an include and none an exclude.
    pub fn is_match_any(&self, candidates: &[&str]) -> bool {
        if let Some(names) = &self.names
            && self.exclude.is_empty()
        {
            return candidates.iter().any(|c| {
                let base = c.trim_end_matches('/').rsplit('/').next().unwrap_or(c);
                names.binary_search_by(|n| n.as_str().cmp(c)).is_ok()
                    || names.binary_search_by(|n| n.as_str().cmp(base)).is_ok()
            });
        }
        candidates
            .iter()
            .any(|c| self.include.iter().any(|g| g.is_match(c)))
            && !candidates
                .iter()
                .any(|c| self.exclude.iter().any(|g| g.excludes(c)))
    }
}

fn matches_tokens(tokens: &[Token], text: &str) -> bool {
    // The characters on the stack for ordinary lengths: matching runs for every argument of
    // every segment against every pattern, and must not allocate.
    let mut buf = ['\0'; 256];
    let mut n = 0;
    for c in text.chars() {
        if n == buf.len() {
            return matches_chars(tokens, &text.chars().collect::<Vec<_>>());
        }
        buf[n] = c;
        n += 1;
    }
    matches_chars(tokens, &buf[..n])
}

fn matches_chars(tokens: &[Token], text: &[char]) -> bool {
    // Iterative matcher with backtracking to the last star.
    let (mut t, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize, bool)> = None;
    while s < text.len() {
        if t < tokens.len() {
            match &tokens[t] {
                Token::Literal(c) if *c == text[s] => {
                    t += 1;
                    s += 1;
                    continue;
                }
                Token::Any if text[s] != '/' => {
                    t += 1;
                    s += 1;
                    continue;
                }
                Token::Class { negated, ranges } => {
                    let inside = ranges.iter().any(|&(a, b)| a <= text[s] && text[s] <= b);
                    if inside != *negated && text[s] != '/' {
                        t += 1;
                        s += 1;
                        continue;
                    }
                }
                Token::Star { cross } => {
                    star = Some((t, s, *cross));
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((st, ss, cross)) if cross || text[ss] != '/' => {
                star = Some((st, ss + 1, cross));
                t = st + 1;
                s = ss + 1;
            }
            _ => return false,
        }
    }
    tokens[t..]
        .iter()
        .all(|tok| matches!(tok, Token::Star { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn could_match_keeps_every_text_a_pattern_may_match() {
        let mut l = GlobList::default();
        for p in ["*.pem", "~/.aws/credentials", "id_rsa", "!*cert.pem"] {
            l.push(p).unwrap();
        }
        for text in [
            "server.pem",
            "~/.aws/x/../credentials",
            "/home/user/.aws/credentials",
            "keys/id_rsa",
            "id_rs?",
            "*.pe[m]",
        ] {
            assert!(l.could_match(text), "{text}");
        }
        for text in ["Cargo.toml", "src/main.rs", "-la", "build"] {
            assert!(!l.could_match(text), "{text}");
        }
        // A pattern with too little literal text turns the test off.
        l.push("*.?").unwrap();
        assert!(l.could_match("Cargo.toml"));
    }

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p).unwrap().is_match(t)
    }

    #[test]
    fn basics() {
        assert!(m("*.pyc", "a.pyc"));
        assert!(m("*.pyc", "src/x/a.pyc"));
        assert!(!m("*.pyc", "a.py"));
        assert!(m(".env*", ".env.local"));
        assert!(m(".env*", "/p/.env"));
        assert!(m("/dev/sd?", "/dev/sda"));
        assert!(!m("/dev/sd?", "/dev/sda1/x"));
        assert!(m("/etc/**", "/etc/ssh/sshd_config"));
        assert!(!m("/etc/*", "/etc/ssh/sshd_config"));
        assert!(m("id_[!.]*", "id_rsa"));
        assert!(m(r"\*", "*"));
        assert!(!m(r"\*", "a"));
        assert!(m("+*", "+main"));
        assert!(m("[0-9]", "7"));
    }

    #[test]
    fn lists_with_exclusions() {
        let mut l = GlobList::default();
        l.push(".env*").unwrap();
        l.push("!.env.example").unwrap();
        assert!(l.is_match_any(&[".env"]));
        assert!(l.is_match_any(&["config/.env.local"]));
        assert!(!l.is_match_any(&[".env.example"]));
        assert!(!l.is_match_any(&["README.md"]));
        assert!(
            !l.could_expand_to_literal(".en?"),
            "only plain names are expanded to"
        );
        l.push(".env").unwrap();
        assert!(l.could_expand_to_literal(".en?"));
        assert!(l.could_expand_to_literal("config/.e*"));
        assert!(!l.could_expand_to_literal("*"));
        assert!(!l.could_expand_to_literal("*.md"));
        assert!(!l.could_expand_to_literal(".env"));
    }

    #[test]
    fn errors() {
        assert!(Glob::new("[abc").is_err());
        assert!(Glob::new("a\\").is_err());
    }
}
