//! Redaction of secrets that appear in logged commands: tokens given on the command line,
//! `Authorization:` headers, `password=`-style values, credentials in URLs and well-known token
//! formats. The audit log keeps what was decided, not the secret a command carried.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// What a secret is replaced by.
pub const REDACTED: &str = "[REDACTED]";

/// The patterns (all at once, and each for replacing): a pattern's secret is its second capture
/// group after a kept prefix, or its one group.
static PATTERNS: LazyLock<(RegexSet, Vec<Regex>)> = LazyLock::new(|| {
    let sources = [
        // `Authorization: Bearer …`, `Proxy-Authorization: Basic …`, `-H 'X-Api-Key: …'`.
        r"(?i)((?:proxy-)?authorization\s*:\s*(?:bearer|basic|token|digest)?\s*)([^\s'\x22]+)",
        r"(?i)((?:x-)?(?:api|auth)[-_]?(?:key|token)\s*:\s*)([^\s'\x22]+)",
        // `password=…`, `DB_PASSWORD=…`, `--token=…`, `api_key: …` (values up to a space or quote).
        r"(?i)((?:^|[\s'\x22&?;,{(-])[\w.-]*(?:password|passwd|passphrase|pwd|secret|token|api[-_]?key|apikey|access[-_]?key|private[-_]?key|credentials?)[\w.-]*\s*[=:]\s*['\x22]?)([^\s'\x22&;,)}]+)",
        // `--password VALUE`, `--token VALUE`, `-p VALUE` is too common to redact.
        r"(?i)((?:^|\s)--?[\w-]*(?:password|passwd|passphrase|secret|token|api-?key|access-key)\s+['\x22]?)([^\s'\x22-][^\s'\x22]*)",
        // Credentials in URLs: `https://user:pass@host`.
        r"(?i)([a-z][a-z0-9+.-]*://[^\s:/@'\x22]+:)([^\s@/'\x22]+)(@)",
        // Well-known token formats.
        r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b",
        r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b",
        r"\b(xox[abposr]-[A-Za-z0-9-]{10,})\b",
        r"\b(sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,})\b",
        r"\b(AIza[0-9A-Za-z_-]{30,})\b",
        r"\b(glpat-[A-Za-z0-9_-]{20,})\b",
        r"\b(npm_[A-Za-z0-9]{30,})\b",
        r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})\b",
        r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
    ];
    let set = RegexSet::new(sources).expect("redaction patterns compile (checked by the tests)");
    let each = sources
        .iter()
        .map(|p| Regex::new(p).expect("redaction patterns compile (checked by the tests)"))
        .collect();
    (set, each)
});

/// `text` with every secret found replaced by [`REDACTED`] (borrowed when there is none).
pub fn redact(text: &str) -> Cow<'_, str> {
    let (set, each) = &*PATTERNS;
    // One pass over the text decides; most commands hold no secret.
    let found = set.matches(text);
    if !found.matched_any() {
        return Cow::Borrowed(text);
    }
    let mut out = Cow::Borrowed(text);
    for re in found.iter().map(|i| &each[i]) {
        let replaced = re
            .replace_all(&out, |c: &regex::Captures<'_>| {
                let whole = c.get(0).expect("a match");
                // The secret is the second group of a (prefix, secret[, suffix]) pattern, or
                // the one group of a token pattern; a private key keeps its first line.
                let (keep_before, keep_after) = match c.len() {
                    4 => (c[1].to_owned(), c[3].to_owned()),
                    3 if c[1].starts_with("-----BEGIN") => {
                        (format!("{}\n", &c[1]), c[2].to_owned())
                    }
                    3 => (c[1].to_owned(), String::new()),
                    _ => (String::new(), String::new()),
                };
                if whole.as_str().contains(REDACTED) && keep_before.is_empty() {
                    return whole.as_str().to_owned();
                }
                format!("{keep_before}{REDACTED}{keep_after}")
            })
            .into_owned();
        out = Cow::Owned(replaced);
    }
    out
}

/// An argument vector with its secrets redacted: each word, and the value after an option that
/// names a secret (`--password VALUE`).
pub fn redact_argv(argv: &[String]) -> Vec<String> {
    static SECRET_OPTION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^--?[\w-]*(password|passwd|passphrase|secret|token|api-?key|access-key)$")
            .expect("the option pattern compiles")
    });
    let mut out: Vec<String> = Vec::with_capacity(argv.len());
    for (i, word) in argv.iter().enumerate() {
        let after_secret_option = i > 0 && SECRET_OPTION.is_match(&argv[i - 1]);
        if after_secret_option && !word.starts_with('-') {
            out.push(REDACTED.to_owned());
        } else {
            out.push(redact(word).into_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Stand-ins shaped like real secrets; none is a live credential.
    #[test]
    fn secrets_in_commands_are_redacted() {
        let cases = [
            (
                "curl -H 'Authorization: Bearer abc.def-123' https://api.example.com",
                "curl -H 'Authorization: Bearer [REDACTED]' https://api.example.com",
            ),
            (
                "curl -H \"X-Api-Key: 0123456789abcdef\" https://x",
                "curl -H \"X-Api-Key: [REDACTED]\" https://x",
            ),
            (
                "mysql --password=hunter2 -u root",
                "mysql --password=[REDACTED] -u root",
            ),
            (
                "DB_PASSWORD=s3cr3t npm run migrate",
                "DB_PASSWORD=[REDACTED] npm run migrate",
            ),
            (
                "deploy --token abcdef123456 --env prod",
                "deploy --token [REDACTED] --env prod",
            ),
            (
                "git clone https://alice:p4ss@git.example.com/r.git",
                "git clone https://alice:[REDACTED]@git.example.com/r.git",
            ),
            (
                "echo ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "echo [REDACTED]",
            ),
            (
                "aws configure set aws_access_key_id AKIAABCDEFGHIJKLMNOP",
                "aws configure set aws_access_key_id [REDACTED]",
            ),
            (
                "export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuv",
                "export OPENAI_API_KEY=[REDACTED]",
            ),
            (
                "curl 'https://x/api?user=a&token=zzz999&page=2'",
                "curl 'https://x/api?user=a&token=[REDACTED]&page=2'",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn argument_vectors_too() {
        let argv: Vec<String> = [
            "mysql",
            "--password",
            "hunter2",
            "-u",
            "root",
            "--token=abc123",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            redact_argv(&argv),
            [
                "mysql",
                "--password",
                "[REDACTED]",
                "-u",
                "root",
                "--token=[REDACTED]"
            ]
        );
    }

    #[test]
    fn ordinary_commands_are_left_alone() {
        for input in [
            "git push --force-with-lease origin main",
            "cargo test -p core -- --nocapture",
            "cat .env",
            "grep -r password src/",
            "ls ~/.ssh",
            "npm run token-lint",
            "kubectl get secrets",
            "echo $GITHUB_TOKEN",
        ] {
            assert!(
                matches!(redact(input), Cow::Borrowed(_)),
                "{input} -> {}",
                redact(input)
            );
        }
    }
}
