//! The commands compared: every command of the rules corpus and its known gaps, and variants of
//! each made programmatically (the same string goes to bash and to the engine, so a variant need
//! not mean the same as its original; it only has to exercise the parser differently).

use std::fs;
use std::path::Path;

use safeshell_rules::segment::quote_strict;

/// Commands of `rules/tests/corpus/*.txt` and `rules/tests/known_gaps.txt`
/// (`context | decision | rule | command`; `#` and `@` lines are not commands), in file order.
pub fn corpus() -> Vec<String> {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/tests");
    let mut files: Vec<_> = fs::read_dir(rules.join("corpus"))
        .expect("rules/tests/corpus")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files.push(rules.join("known_gaps.txt"));
    let mut out = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).expect("corpus file");
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                continue;
            }
            let mut fields = line.splitn(4, " | ");
            if let (Some(_), Some(_), Some(_), Some(command)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            {
                out.push(command.to_owned());
            }
        }
    }
    out
}

/// Hand-written commands for constructs the corpus has few of.
const EXTRA: &[&str] = &[
    "echo {a,b}c",
    "echo x{1..3}",
    "rm -rf build/{a,b}",
    "{echo,hi}",
    "echo ~ ~/x '~' \"~\" ~root a~b",
    "echo --prefix=~/x x=~/y",
    "echo *.nothing-matches-this",
    "echo $'a\\tb' $\"c\"",
    "echo \"a b\" 'c d' e\\ f",
    "echo a\\\nb",
    "echo 'it'\\''s'",
    "a=1 b=2 echo $a $b",
    "x='rm -rf y'; $x",
    "set -- a b; echo \"$@\" $#",
    "echo $((1+2)) $[3*4]",
    "echo ${x:-default} ${#x} ${x/a/b}",
    "case x in x) echo one;; *) echo two;; esac",
    "for i in a b; do echo $i; done",
    "while false; do echo never; done",
    "until true; do echo never; done",
    "f() { echo in-f \"$1\"; }; f arg",
    "function g { echo in-g; }; g",
    "echo a | tee b | cat -n",
    "echo a |& cat",
    "cat <<< 'here string'",
    "cat <<EOF\nline $HOME\nEOF",
    "cat <<'EOF'\nline $HOME\nEOF",
    "cat <<-EOF\n\tindented\n\tEOF",
    "bash <<EOF\necho from-heredoc\nEOF",
    "diff <(ls a) <(ls b)",
    "echo >(cat) x",
    "echo $(echo inner) `echo back`",
    "echo \"$(echo 'nested \"quotes\"')\"",
    "echo $(echo $(echo deep))",
    "! echo negated",
    "time echo timed",
    "command echo via-command",
    "builtin echo via-builtin",
    "exec echo via-exec",
    "eval 'echo a; echo b'",
    "eval echo \\$HOME",
    "coproc echo co",
    "echo a; echo b & echo c && echo d || echo e",
    "(echo sub; (echo subsub))",
    "{ echo g1; echo g2; } > /dev/null",
    "echo a > out; cat < out",
    "echo a 2>&1 >/dev/null | cat",
    "echo a #comment",
    "echo a#notcomment",
    "echo ';' '&&' '|'",
    "echo \\; \\| \\&",
    "echo \"\\$HOME\" '\\$HOME' \\$HOME",
    "IFS=:; echo a:b",
    "trap 'echo trapped' EXIT",
    "x=$(echo 1) y=`echo 2`",
    "export A=1 B=$(echo 2)",
    "local x=1",
    "declare -a arr=(a b); echo ${arr[@]}",
    "echo !bang",
    "echo a{b",
    "echo '",
    "echo \"unterminated",
    "echo $(unterminated",
    "if echo c; then echo t; elif echo e; then echo t2; else echo f; fi",
    "[ -f x ] && echo yes || echo no",
    "[[ -f x ]] && echo yes",
    "test -d / && echo dir",
    "sudo -u root echo x",
    "env A=1 echo x",
    "nice -n 5 echo x",
    "timeout 5 echo x",
    "xargs echo < /dev/null",
    "find . -exec echo {} \\;",
    "sh -c 'echo sh-c' arg0 arg1",
    "bash -c \"echo \\\"dq\\\"\"",
    "bash -lc 'echo lc'",
    "bash -c -- 'echo dashdash'",
    // Quoting and escapes.
    r#"echo "a"'b'c "" '' x"#,
    r#"e\cho hi; ec''ho hi; "ec"ho hi"#,
    r#"echo $'\x41\101\u00e9' $'a\'b' $'\''"#,
    r#"echo "a\"b" 'a\"b' "a\\b" "\a" \\\\ "$" $ "a$" \$x "${x}y""#,
    r#"echo "'" '"' "a'b" 'a"b'"#,
    r#"echo a\ "#,
    r#"echo é 日本 $'\xff'"#,
    r#"echo -e 'a\nb' -n"#,
    "echo a\\\n  b",
    "echo \"a\\\nb\" 'a\\\nb'",
    // Comments.
    "echo a # b\necho c",
    "echo a;#x\necho b",
    r##"echo '#' "#" \# x#y"##,
    "#echo no\necho yes",
    // Operators without spaces, redirections in odd places.
    "echo a&&echo b||echo c;echo d&echo e|echo f",
    "echo a>out b; echo a>>out; echo a 2>out; echo a &>out; echo a >&2; echo a 1>&2",
    "echo a >| out; echo a<>out; echo 2>out a; >out echo a; echo a 3>out; echo a {fd}>out",
    "echo a 2>&-; echo b <&-",
    // Heredocs.
    "cat <<E1 <<E2\na\nE1\nb\nE2",
    "cat <<E; echo after\nbody\nE",
    "cat <<\"E\"\n$(echo no)\nE",
    "cat << E\n$(echo yes)\nE",
    "cat <<E | cat\nx\nE\necho next",
    "echo $(cat <<E\nx\nE\n)",
    "bash <<E\necho $(echo expanded-first)\nE",
    "bash <<'E'\necho a\necho b\nE",
    "sh -s <<E\necho via-s\nE",
    // Substitutions.
    "echo $( echo a )b",
    r#"echo "$(echo "a b")" "$(echo "$(echo "x y")")" "a $(echo "b c") d""#,
    "echo $(echo 'a)') $(echo \")\") \"$(echo ')')\" $(echo \\))",
    "echo $(case x in x) echo y;; esac)",
    "echo $(echo a # comment\n)",
    "echo `echo \\`echo x\\``",
    r#"echo "`echo "a b"`""#,
    "echo $(( $(echo 1) + 2 ))",
    "echo ${x:-$(echo d)} ${y:=$(echo e)} ${x:+$(echo f)}",
    r#"echo "${x:-a b}" ${x:-'a b'} ${x-"a b"} "${x:-"a b"}""#,
    "echo $(</dev/null)",
    "echo \"$(echo a; echo b)\"",
    ": $(echo side); true $(echo side2)",
    "echo $(echo $(echo $(echo $(echo deep4))))",
    // Parameters and word splitting.
    "IFS=,; x=a,b; echo $x",
    "x='a b'; echo $x \"$x\"",
    "x='*'; echo $x",
    "echo $0 $1 $$ $? $! $- $_",
    "a=(x y); echo \"${a[@]}\" ${a[0]} ${#a[@]}",
    "x=a; echo ${x^^} ${x,,} ${!x} ${x#a} ${x%a}",
    "$empty echo x",
    "\"\" echo x",
    "x= echo y",
    "a+=x echo $a",
    "a=$(echo 1) echo b",
    "a='x y' echo",
    "export a=$(echo x); declare y=$(echo z)",
    // Compound commands.
    "while echo w; do echo body; break; done",
    "for ((i=0;i<2;i++)); do echo $i; done",
    "select x in a; do echo $x; break; done",
    "case a in (a) echo p;; esac; case a in a|b) echo x;; esac; case a in *) echo d;& b) echo ft;; esac",
    "{ echo a; } && { echo b; }",
    "(( 1 )) && echo yes; [[ a == a ]] && echo eq",
    "! (echo x); ! ! echo y",
    "time -p echo t",
    "coproc c { echo x; }",
    "echo a | while read x; do echo $x; done",
    "for x in $(echo a b); do echo $x; done",
    "if echo a; then echo b; fi; echo c",
    "echo if then fi done { } esac",
    // Functions and aliases.
    "f() (echo sub); f",
    "function h() { echo h; }; h",
    "f() { echo $1; }; f a; f b",
    "echo() { printf x; }; echo y",
    "rm() { echo fake; }; rm -rf /",
    "alias ls='rm -rf'; ls x",
    "shopt -s expand_aliases\nalias e='echo aliased'\ne x",
    "shopt -s expand_aliases\nalias sudo='sudo '\nalias r='rm -rf'\nsudo r /x",
    // Process substitution.
    "cat <(echo a) >(cat)",
    "echo <(echo a)",
    // Builtins that run commands or change the shell.
    "exec >out; echo a",
    "command -v rm; command -p echo x; builtin cd /",
    "env -- echo x; sudo -- echo y; nohup echo z &",
    "exec echo ex; echo never",
    "exit; echo never",
    "set -e; false; echo maybe",
    "set -f; echo /e*",
    "shopt -s nullglob; echo /nonexistent*",
    "GLOBIGNORE='*'; echo /e*",
    "read -r x <<< 'a b'; echo $x",
    "source /dev/null; . /dev/null; echo after",
    "let x=1+2 y=3; echo $((x?2:3))",
    "cd /tmp; pwd; pushd / >/dev/null; popd",
    "hash -p /bin/rm ls; ls -rf x",
    "enable -n echo; echo x",
    "PATH=/usr/bin echo x",
    "trap 'echo on-exit' EXIT; echo body",
    "eval \"eval 'echo e2'\"",
    "bash -c \"bash -c 'echo deep'\"",
    "sh -c 'eval \"echo x\"'",
    "bash -c 'echo $0 $1' zero one",
    "bash -c 'echo a' ; bash -ec 'echo b'; bash -xc 'echo c'",
    // Tilde and brace forms.
    "echo ~+ ~- ~root x=~/a --opt=~/b a:~/c",
    "PATH=~/bin:~/b echo x",
    "echo {a..c} {1..3..2} {a,b{c,d}} a{,} {} {a} \\{a,b\\} '{a,b}'",
    // Syntax errors: bash runs nothing.
    "echo ;;",
    "echo a )",
    "if true; echo x; fi",
    "echo a && && echo b",
    "{echo a}",
    "{ echo a }",
    "(echo a",
    "echo $((",
    "echo a &; echo b",
    // Newlines.
    "echo a\necho b",
    "echo a |\n cat",
    "echo a &&\n echo b",
    "echo a\n\n\necho b",
];

/// Every command to compare: the corpus, the hand-written ones, and variants of each, without
/// duplicates, in a stable order.
pub fn all() -> Vec<String> {
    let base: Vec<String> = corpus()
        .into_iter()
        .chain(EXTRA.iter().map(|s| (*s).to_owned()))
        .collect();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, cmd) in base.iter().enumerate() {
        let mut push = |c: String| {
            if seen.insert(c.clone()) {
                out.push(c);
            }
        };
        push(cmd.clone());
        // Each command gets a few of the variants, chosen by its position, so that every
        // variant is exercised on a spread of commands without multiplying the run time.
        let n = VARIANTS.len();
        for k in [i % n, (i * 7 + 3) % n] {
            if let Some(v) = VARIANTS[k](cmd) {
                push(v);
            }
        }
    }
    out
}

type Variant = fn(&str) -> Option<String>;

/// The heredoc delimiter of the variants (no corpus command contains it).
const EOF: &str = "SAFESHELL_DIFF_EOF";

const VARIANTS: &[Variant] = &[
    |c| Some(format!("bash -c {}", quote_strict(c))),
    |c| Some(format!("{{ {c}; }}")),
    |c| Some(format!("( {c} )")),
    |c| Some(format!("echo \"$({c})\"")),
    |c| (!c.contains('`')).then(|| format!("echo `{c}`")),
    |c| Some(format!("{c} | cat")),
    |c| Some(format!("{c} >out 2>&1")),
    |c| Some(format!("echo start && {c}")),
    |c| Some(format!("{c}; echo end")),
    |c| Some(format!("bash <<'{EOF}'\n{c}\n{EOF}")),
    |c| Some(format!("cat <<{EOF}\n$({c})\n{EOF}")),
    |c| Some(c.replace(' ', "  ")),
    |c| Some(format!("v=value; {c}")),
    |c| Some(format!("FOO=bar {c}")),
    |c| Some(format!("eval {}", quote_strict(c))),
    |c| Some(format!("if true; then {c}; fi")),
    |c| Some(format!("f() {{ {c}; }}; f")),
    |c| Some(format!("for i in 1; do {c}; done")),
    |c| Some(format!("sh -c {}", quote_strict(c))),
    |c| Some(format!("false || {c}")),
    |c| Some(format!("\t{c}\t")),
    |c| Some(format!("x=$({c}); echo \"$x\"")),
];
