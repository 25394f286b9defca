//! A conservative reading of a `/bin/sh -c` command line, for the command rules.
//!
//! Written here rather than taken from the `shlex` crate: shlex splits words and removes
//! quotes, but it does not recognize operators (`a&&b` is one word to it), substitutions or
//! subshells, and the rules need exactly those: where one simple command ends and the next
//! begins, and whether anything chains, redirects or substitutes. This is no full shell
//! parser. Where it is unsure it says the line is not simple, so an allow rule does not
//! vouch for it and the user is asked; and it still splits out every command it can see,
//! so a deny rule finds a command inside a chain, a subshell or a substitution.

/// A command line split into the simple commands a shell would run.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CommandLine {
    /// Each simple command's words with quotes removed; redirection targets are left out.
    /// The commands of a substitution come before the command that holds it.
    pub(crate) commands: Vec<Vec<String>>,
    /// Whether the line is one plain command: nothing that chains, pipes, backgrounds,
    /// redirects, substitutes, opens a subshell or a comment, no leading `NAME=value` or
    /// keyword, and no quote left open.
    pub(crate) simple: bool,
}

impl CommandLine {
    /// The words of the line when it is one plain command.
    pub(crate) fn simple_words(&self) -> Option<&[String]> {
        match self.commands.as_slice() {
            [only] if self.simple => Some(only),
            _ => None,
        }
    }
}

/// Words that may lead a simple command without being its program: keywords, and wrappers
/// that run the rest of the words as a command. A deny rule looks past them.
const LEADERS: &[&str] = &[
    "!", "{", "}", "if", "then", "else", "elif", "while", "until", "do", "time", "command",
    "builtin", "exec", "nohup", "env",
];

/// `NAME=value`: an assignment, which sets the environment of the command after it (and
/// `LD_PRELOAD=… cargo test` is not the `cargo test` a rule vouches for).
fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The words of a command from its program on: leading keywords, wrappers and assignments
/// dropped, and the program named without its directory (`/usr/bin/git` is `git`).
pub(crate) fn program_words(words: &[String]) -> Vec<String> {
    let start = words
        .iter()
        .position(|w| !LEADERS.contains(&w.as_str()) && !is_assignment(w))
        .unwrap_or(words.len());
    let mut rest = words[start..].to_vec();
    if let Some(first) = rest.first_mut() {
        if let Some((_, base)) = first.rsplit_once('/') {
            if !base.is_empty() {
                *first = base.to_string();
            }
        }
    }
    rest
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Quote {
    #[default]
    None,
    Single,
    Double,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Closer {
    /// The line itself: nothing closes it.
    #[default]
    End,
    /// `$(` … `)` (or `<(` … `)`).
    Paren,
    /// `` ` `` … `` ` ``.
    Backtick,
}

/// One level of nesting: the line, or a substitution inside it.
#[derive(Debug, Default)]
struct Frame {
    words: Vec<String>,
    word: String,
    /// A word has begun (`''` is a word, though empty).
    in_word: bool,
    quote: Quote,
    closer: Closer,
    /// Bare `(` open in this frame.
    depth: usize,
    /// The next word is a redirection's target, not an argument.
    redirect_target: bool,
}

struct Parser {
    /// Never empty: the line's frame is the first.
    frames: Vec<Frame>,
    commands: Vec<Vec<String>>,
    simple: bool,
}

impl Parser {
    fn top(&mut self) -> &mut Frame {
        if self.frames.is_empty() {
            self.frames.push(Frame::default());
        }
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    fn push(&mut self, c: char) {
        let frame = self.top();
        frame.word.push(c);
        frame.in_word = true;
    }

    fn end_word(&mut self) {
        let frame = self.top();
        if !frame.in_word {
            return;
        }
        let word = std::mem::take(&mut frame.word);
        frame.in_word = false;
        if frame.redirect_target {
            frame.redirect_target = false;
        } else {
            frame.words.push(word);
        }
    }

    fn end_command(&mut self) {
        self.end_word();
        let frame = self.top();
        frame.redirect_target = false;
        let words = std::mem::take(&mut frame.words);
        if !words.is_empty() {
            self.commands.push(words);
        }
    }

    /// A substitution begins. What it prints is unknown here, so it adds nothing to the
    /// word around it; its own commands are split out like any others.
    fn open(&mut self, closer: Closer) {
        self.simple = false;
        self.frames.push(Frame {
            closer,
            ..Frame::default()
        });
    }

    fn close(&mut self) {
        self.end_command();
        if self.frames.len() > 1 {
            self.frames.pop();
        }
    }

    fn backtick(&mut self) {
        if self.top().closer == Closer::Backtick {
            self.close();
        } else {
            self.open(Closer::Backtick);
        }
    }

    fn close_paren(&mut self) {
        self.simple = false;
        let frame = self.top();
        if frame.depth > 0 {
            frame.depth -= 1;
            self.end_command();
        } else if frame.closer == Closer::Paren {
            self.close();
        } else {
            // A stray `)` (or a `case` pattern's): a command boundary either way.
            self.end_command();
        }
    }

    /// `<`, `>` and what follows them (`>>`, `2>&1`, `<<<`, `<(…)`).
    fn redirect(&mut self, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        self.simple = false;
        let frame = self.top();
        // `2>`: the digits name a file descriptor, they are no argument.
        if frame.quote == Quote::None
            && frame.in_word
            && !frame.word.is_empty()
            && frame.word.chars().all(|c| c.is_ascii_digit())
        {
            frame.word.clear();
            frame.in_word = false;
        } else {
            self.end_word();
        }
        while chars
            .next_if(|c| matches!(c, '<' | '>' | '&' | '|'))
            .is_some()
        {}
        if chars.next_if_eq(&'(').is_some() {
            self.open(Closer::Paren);
        } else {
            self.top().redirect_target = true;
        }
    }
}

/// Reads `line` as `/bin/sh -c` would split it into simple commands.
pub(crate) fn parse(line: &str) -> CommandLine {
    let mut p = Parser {
        frames: vec![Frame::default()],
        commands: Vec::new(),
        simple: true,
    };
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match p.top().quote {
            Quote::Single => match c {
                '\'' => p.top().quote = Quote::None,
                _ => p.push(c),
            },
            Quote::Double => match c {
                '"' => p.top().quote = Quote::None,
                '\\' => match chars.next() {
                    Some('\n') | None => {}
                    Some(n @ ('$' | '`' | '"' | '\\')) => p.push(n),
                    Some(n) => {
                        p.push('\\');
                        p.push(n);
                    }
                },
                '$' if chars.next_if_eq(&'(').is_some() => p.open(Closer::Paren),
                '`' => p.backtick(),
                _ => p.push(c),
            },
            Quote::None => match c {
                '\'' | '"' => {
                    let frame = p.top();
                    frame.quote = if c == '\'' {
                        Quote::Single
                    } else {
                        Quote::Double
                    };
                    frame.in_word = true;
                }
                '\\' => match chars.next() {
                    Some('\n') | None => {}
                    Some(n) => p.push(n),
                },
                ' ' | '\t' => p.end_word(),
                '\n' | ';' | '&' | '|' => {
                    p.simple = false;
                    p.end_command();
                }
                '<' | '>' => p.redirect(&mut chars),
                '(' => {
                    p.simple = false;
                    p.end_command();
                    p.top().depth += 1;
                }
                ')' => p.close_paren(),
                '`' => p.backtick(),
                '$' if chars.next_if_eq(&'(').is_some() => p.open(Closer::Paren),
                '#' if !p.top().in_word => {
                    // A comment runs to the end of the line; the next line is commands again.
                    p.simple = false;
                    while chars.next_if(|&n| n != '\n').is_some() {}
                }
                _ => p.push(c),
            },
        }
    }
    // A quote or substitution left open: sh refuses the line; no rule vouches for it.
    if p.frames.len() > 1 || p.top().quote != Quote::None {
        p.simple = false;
    }
    while p.frames.len() > 1 {
        p.close();
    }
    p.end_command();
    let leads = |words: &[String]| {
        words
            .first()
            .is_some_and(|w| LEADERS.contains(&w.as_str()) || is_assignment(w))
    };
    let simple = p.simple && p.commands.len() == 1 && !p.commands.iter().any(|c| leads(c));
    CommandLine {
        commands: p.commands,
        simple,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(line: &str) -> Vec<Vec<String>> {
        parse(line).commands
    }

    #[test]
    fn plain_commands_are_simple_and_lose_their_quotes() {
        for (line, words) in [
            ("cargo test", vec!["cargo", "test"]),
            ("  cargo   test\t-p x ", vec!["cargo", "test", "-p", "x"]),
            (
                "git log --format='%h|%s'",
                vec!["git", "log", "--format=%h|%s"],
            ),
            (r#"echo "a;b" '' c\ d"#, vec!["echo", "a;b", "", "c d"]),
            ("echo $HOME ${X:-y}", vec!["echo", "$HOME", "${X:-y}"]),
            ("a=b", vec!["a=b"]),
        ] {
            let parsed = parse(line);
            assert_eq!(commands(line), [words], "{line}");
            assert_eq!(parsed.simple, line != "a=b", "{line}");
        }
    }

    #[test]
    fn operators_substitutions_and_subshells_split_and_are_not_simple() {
        for (line, expected) in [
            ("a && b", vec![vec!["a"], vec!["b"]]),
            ("a||b", vec![vec!["a"], vec!["b"]]),
            ("a; b", vec![vec!["a"], vec!["b"]]),
            ("a | sh", vec![vec!["a"], vec!["sh"]]),
            ("a & b", vec![vec!["a"], vec!["b"]]),
            ("a\nb", vec![vec!["a"], vec!["b"]]),
            ("a > out", vec![vec!["a"]]),
            ("a 2>&1 >>log x", vec![vec!["a", "x"]]),
            ("a <<<'text'", vec![vec!["a"]]),
            ("a $(b c) d", vec![vec!["b", "c"], vec!["a", "d"]]),
            ("a \"x$(b)\"", vec![vec!["b"], vec!["a", "x"]]),
            ("a `b`", vec![vec!["b"], vec!["a"]]),
            ("(a; b)", vec![vec!["a"], vec!["b"]]),
            ("diff <(a) b", vec![vec!["a"], vec!["diff", "b"]]),
            ("a # && b\nc", vec![vec!["a"], vec!["c"]]),
            ("a 'open", vec![vec!["a", "open"]]),
            ("a $(b", vec![vec!["b"], vec!["a"]]),
            ("FOO=1 a", vec![vec!["FOO=1", "a"]]),
            ("! a", vec![vec!["!", "a"]]),
        ] {
            let parsed = parse(line);
            assert!(!parsed.simple, "{line:?} is not simple");
            assert_eq!(commands(line), expected, "{line:?}");
        }
    }

    #[test]
    fn program_words_skip_keywords_wrappers_assignments_and_directories() {
        let words = |line: &str| program_words(&parse(line).commands[0]);
        assert_eq!(words("FOO=1 env X=2 /usr/bin/git push"), ["git", "push"]);
        assert_eq!(words("then command git push"), ["git", "push"]);
        assert_eq!(words("git push"), ["git", "push"]);
        assert!(words("FOO=1").is_empty());
    }
}
