//! A conservative reader of POSIX shell text, just deep enough for the command policy: it
//! finds every simple command a script can run — behind `;`, `&&`, `||`, `|`, `&`,
//! newlines, inside `( … )`, `{ …; }`, `$( … )`, backticks, `<( … )` and unquoted
//! here-documents — with its words unquoted. Text it cannot read is an error, and the
//! policy refuses what it cannot read.

/// One word of a simple command after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The text after quote removal; expansions are kept as written (`$HOME`).
    pub text: String,
    /// The value is only known at run time: it holds a parameter expansion, a command
    /// substitution or an unquoted glob.
    pub dynamic: bool,
}

impl Word {
    /// A word known statically (for tests and for wrappers that build words).
    pub fn literal(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            dynamic: false,
        }
    }
}

/// A simple command: its words, redirections removed. Leading assignments (`A=1 cmd`) and
/// reserved words (`{`, `}`, `then`) stay words: the policy checks the one and skips the other.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimpleCommand {
    pub words: Vec<Word>,
}

/// Commands joined by `|`, in order. Substitutions become pipelines of their own.
pub type Pipeline = Vec<SimpleCommand>;

/// Why a script could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unterminated {0}")]
    Unterminated(&'static str),
    #[error("unbalanced `{0}`")]
    Unbalanced(char),
    #[error("nested too deeply")]
    TooDeep,
}

const MAX_DEPTH: usize = 16;

/// Splits `script` into pipelines of simple commands.
pub fn parse(script: &str) -> Result<Vec<Pipeline>, ParseError> {
    parse_depth(script, 0)
}

fn parse_depth(script: &str, depth: usize) -> Result<Vec<Pipeline>, ParseError> {
    if depth > MAX_DEPTH {
        return Err(ParseError::TooDeep);
    }
    let chars: Vec<char> = script.chars().collect();
    let mut parser = Parser {
        chars: &chars,
        pos: 0,
        depth,
        out: Vec::new(),
        heredocs: Vec::new(),
    };
    parser.list(false)?;
    if parser.pos < chars.len() {
        return Err(ParseError::Unbalanced(')'));
    }
    Ok(parser.out)
}

struct Heredoc {
    delimiter: String,
    strip_tabs: bool,
    expands: bool,
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
    depth: usize,
    /// Every pipeline found, substitutions included, in the order they were closed.
    out: Vec<Pipeline>,
    heredocs: Vec<Heredoc>,
}

enum Token {
    Word(Word),
    /// Ends a command; `true` when the pipeline goes on (`|`, `|&`).
    Separator {
        pipe: bool,
    },
    Redirect {
        heredoc: Option<bool>,
    },
    Open,
    Close,
    End,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    /// Reads commands until the end, or until the `)` that closes this level when `nested`.
    fn list(&mut self, nested: bool) -> Result<(), ParseError> {
        let mut pipeline: Pipeline = Vec::new();
        let mut command = SimpleCommand::default();
        let mut redirect_target = false;
        loop {
            let token = self.token()?;
            if redirect_target {
                redirect_target = false;
                if let Token::Word(_) = token {
                    continue;
                }
                if !matches!(token, Token::End) {
                    // `> ;` and the like: bash rejects them, so do we.
                    return Err(ParseError::Unterminated("redirection"));
                }
            }
            match token {
                Token::Word(word) => command.words.push(word),
                Token::Redirect { heredoc } => {
                    if let Some(expands_marker) = heredoc {
                        let delimiter = self.heredoc_delimiter()?;
                        self.heredocs.push(Heredoc {
                            delimiter: delimiter.0,
                            strip_tabs: expands_marker,
                            expands: delimiter.1,
                        });
                    } else {
                        redirect_target = true;
                    }
                }
                Token::Separator { pipe } => {
                    finish_command(&mut pipeline, &mut command);
                    if !pipe {
                        self.finish_pipeline(&mut pipeline);
                    }
                }
                Token::Open => {
                    finish_command(&mut pipeline, &mut command);
                    self.finish_pipeline(&mut pipeline);
                    self.nested_list()?;
                }
                Token::Close => {
                    if !nested {
                        return Err(ParseError::Unbalanced(')'));
                    }
                    finish_command(&mut pipeline, &mut command);
                    self.finish_pipeline(&mut pipeline);
                    return Ok(());
                }
                Token::End => {
                    if nested {
                        return Err(ParseError::Unbalanced('('));
                    }
                    finish_command(&mut pipeline, &mut command);
                    self.finish_pipeline(&mut pipeline);
                    return Ok(());
                }
            }
        }
    }

    fn nested_list(&mut self) -> Result<(), ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        self.depth += 1;
        let result = self.list(true);
        self.depth -= 1;
        result
    }

    fn finish_pipeline(&mut self, pipeline: &mut Pipeline) {
        if !pipeline.is_empty() {
            self.out.push(std::mem::take(pipeline));
        }
    }

    fn token(&mut self) -> Result<Token, ParseError> {
        loop {
            match self.peek() {
                None => return Ok(Token::End),
                Some(' ' | '\t' | '\r') => self.pos += 1,
                Some('\\') if self.peek_at(1) == Some('\n') => self.pos += 2,
                Some('#') => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                Some('\n') => {
                    self.pos += 1;
                    self.read_heredoc_bodies()?;
                    return Ok(Token::Separator { pipe: false });
                }
                Some(';') => {
                    self.pos += 1;
                    if self.peek() == Some(';') {
                        self.pos += 1;
                    }
                    return Ok(Token::Separator { pipe: false });
                }
                Some('&') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('&') => self.pos += 1,
                        Some('>') => {
                            self.pos += 1;
                            if self.peek() == Some('>') {
                                self.pos += 1;
                            }
                            return Ok(Token::Redirect { heredoc: None });
                        }
                        _ => {}
                    }
                    return Ok(Token::Separator { pipe: false });
                }
                Some('|') => {
                    self.pos += 1;
                    return Ok(match self.peek() {
                        Some('|') => {
                            self.pos += 1;
                            Token::Separator { pipe: false }
                        }
                        Some('&') => {
                            self.pos += 1;
                            Token::Separator { pipe: true }
                        }
                        _ => Token::Separator { pipe: true },
                    });
                }
                Some('(') => {
                    self.pos += 1;
                    return Ok(Token::Open);
                }
                Some(')') => {
                    self.pos += 1;
                    return Ok(Token::Close);
                }
                Some('<' | '>') if self.peek_at(1) == Some('(') => return self.word(),
                Some('<' | '>') => return Ok(self.redirect()),
                Some(_) => return self.word(),
            }
        }
    }

    /// Reads a redirection operator (the fd number, if any, was read as a word boundary).
    fn redirect(&mut self) -> Token {
        let first = self.peek();
        self.pos += 1;
        if first == Some('<') && self.peek() == Some('<') {
            self.pos += 1;
            match self.peek() {
                Some('<') => {
                    self.pos += 1;
                    return Token::Redirect { heredoc: None };
                }
                Some('-') => {
                    self.pos += 1;
                    return Token::Redirect {
                        heredoc: Some(true),
                    };
                }
                _ => {
                    return Token::Redirect {
                        heredoc: Some(false),
                    };
                }
            }
        }
        if matches!(self.peek(), Some('>' | '&' | '|')) {
            self.pos += 1;
        }
        Token::Redirect { heredoc: None }
    }

    /// The word after `<<`: its unquoted text, and whether the body expands (an unquoted
    /// delimiter).
    fn heredoc_delimiter(&mut self) -> Result<(String, bool), ParseError> {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        let start = self.pos;
        let Token::Word(word) = self.word()? else {
            return Err(ParseError::Unterminated("here-document"));
        };
        let raw: String = self.chars[start..self.pos].iter().collect();
        let quoted = raw.contains(['\'', '"', '\\']);
        Ok((word.text, !quoted))
    }

    /// After a newline, skips the bodies of the here-documents opened on that line,
    /// reading substitutions in those whose delimiter was unquoted.
    fn read_heredoc_bodies(&mut self) -> Result<(), ParseError> {
        for heredoc in std::mem::take(&mut self.heredocs) {
            let mut body = String::new();
            loop {
                if self.pos >= self.chars.len() {
                    break;
                }
                let start = self.pos;
                while let Some(c) = self.peek() {
                    self.pos += 1;
                    if c == '\n' {
                        break;
                    }
                }
                let line: String = self.chars[start..self.pos].iter().collect();
                let bare = line.trim_end_matches('\n');
                let bare = if heredoc.strip_tabs {
                    bare.trim_start_matches('\t')
                } else {
                    bare
                };
                if bare == heredoc.delimiter {
                    break;
                }
                body.push_str(&line);
            }
            if heredoc.expands {
                self.expansions_in(&body)?;
            }
        }
        Ok(())
    }

    /// Reads the substitutions in text that expands like a double-quoted string.
    fn expansions_in(&mut self, text: &str) -> Result<(), ParseError> {
        let chars: Vec<char> = text.chars().collect();
        let mut inner = Parser {
            chars: &chars,
            pos: 0,
            depth: self.depth + 1,
            out: Vec::new(),
            heredocs: Vec::new(),
        };
        if inner.depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        let mut sink = String::new();
        while let Some(c) = inner.peek() {
            match c {
                '\\' => {
                    inner.pos += 2;
                }
                '$' => {
                    inner.dollar(&mut sink)?;
                }
                '`' => {
                    inner.backtick()?;
                }
                _ => inner.pos += 1,
            }
        }
        self.out.append(&mut inner.out);
        Ok(())
    }

    fn word(&mut self) -> Result<Token, ParseError> {
        let mut text = String::new();
        let mut dynamic = false;
        let mut glob = false;
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' => break,
                '<' | '>' => {
                    if self.peek_at(1) == Some('(') {
                        self.pos += 2;
                        self.nested_list()?;
                        text.push(c);
                        text.push_str("(…)");
                        dynamic = true;
                        continue;
                    }
                    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) && !dynamic {
                        // `2>file`: the digits name a file descriptor, not a word.
                        text.clear();
                        return Ok(self.redirect());
                    }
                    break;
                }
                '\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') => self.pos += 1,
                        Some(escaped) => {
                            text.push(escaped);
                            self.pos += 1;
                        }
                        None => text.push('\\'),
                    }
                }
                '\'' => {
                    self.pos += 1;
                    loop {
                        match self.peek() {
                            None => return Err(ParseError::Unterminated("single quote")),
                            Some('\'') => {
                                self.pos += 1;
                                break;
                            }
                            Some(c) => {
                                text.push(c);
                                self.pos += 1;
                            }
                        }
                    }
                }
                '"' => {
                    self.pos += 1;
                    dynamic |= self.double_quoted(&mut text)?;
                }
                '$' => {
                    if self.peek_at(1) == Some('\'') {
                        self.pos += 2;
                        dynamic |= self.ansi_c_quoted(&mut text)?;
                        continue;
                    }
                    dynamic |= self.dollar(&mut text)?;
                }
                '`' => {
                    self.backtick()?;
                    text.push_str("`…`");
                    dynamic = true;
                }
                '*' | '?' | '[' => {
                    glob = true;
                    text.push(c);
                    self.pos += 1;
                }
                _ => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        // `[` and `[[` are the test commands, not patterns.
        dynamic |= glob && text != "[" && text != "[[";
        Ok(Token::Word(Word { text, dynamic }))
    }

    /// Reads `$'…'` up to its closing quote. bash decodes its escapes (`$'\x67it'` is `git`)
    /// and dash does not, so text with an escape is only known at run time and is kept as
    /// written, `$'…'` included.
    fn ansi_c_quoted(&mut self, text: &mut String) -> Result<bool, ParseError> {
        let start = text.len();
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return Err(ParseError::Unterminated("single quote")),
                Some('\'') => {
                    self.pos += 1;
                    if escaped {
                        text.insert_str(start, "$'");
                        text.push('\'');
                    }
                    return Ok(escaped);
                }
                Some('\\') => {
                    escaped = true;
                    text.push('\\');
                    self.pos += 1;
                    if let Some(c) = self.peek() {
                        text.push(c);
                        self.pos += 1;
                    }
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// Reads up to the closing `"`; returns whether the text held an expansion.
    fn double_quoted(&mut self, text: &mut String) -> Result<bool, ParseError> {
        let mut dynamic = false;
        loop {
            match self.peek() {
                None => return Err(ParseError::Unterminated("double quote")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(dynamic);
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('$' | '`' | '"' | '\\')) => {
                            text.push(c);
                            self.pos += 1;
                        }
                        Some('\n') => self.pos += 1,
                        _ => text.push('\\'),
                    }
                }
                Some('$') => dynamic |= self.dollar(text)?,
                Some('`') => {
                    self.backtick()?;
                    text.push_str("`…`");
                    dynamic = true;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// Reads what follows a `$`; returns whether it expands to something.
    fn dollar(&mut self, text: &mut String) -> Result<bool, ParseError> {
        self.pos += 1;
        match self.peek() {
            Some('(') if self.peek_at(1) == Some('(') => {
                // Arithmetic: read it as a nested list so any substitution inside is seen;
                // its "commands" are expressions and are dropped.
                self.pos += 2;
                let before = self.out.len();
                self.nested_list()?;
                if self.peek() != Some(')') {
                    return Err(ParseError::Unbalanced('('));
                }
                self.pos += 1;
                self.out.truncate(before);
                text.push_str("$((…))");
                Ok(true)
            }
            Some('(') => {
                self.pos += 1;
                self.nested_list()?;
                text.push_str("$(…)");
                Ok(true)
            }
            Some('{') => {
                self.pos += 1;
                let mut inner = String::new();
                loop {
                    match self.peek() {
                        None => return Err(ParseError::Unterminated("`${`")),
                        Some('}') => {
                            self.pos += 1;
                            break;
                        }
                        Some('$') => {
                            self.dollar(&mut inner)?;
                        }
                        Some('`') => self.backtick()?,
                        Some('\\') => self.pos += 2,
                        Some('\'') => {
                            self.pos += 1;
                            while let Some(c) = self.peek() {
                                self.pos += 1;
                                if c == '\'' {
                                    break;
                                }
                            }
                        }
                        Some('"') => {
                            self.pos += 1;
                            self.double_quoted(&mut inner)?;
                        }
                        Some(c) => {
                            inner.push(c);
                            self.pos += 1;
                        }
                    }
                }
                text.push_str("${");
                text.push_str(&inner);
                text.push('}');
                Ok(true)
            }
            Some(c) if c.is_ascii_alphanumeric() || "_@*#?$!-".contains(c) => {
                text.push('$');
                if c.is_ascii_alphabetic() || c == '_' {
                    while let Some(c) = self.peek() {
                        if !(c.is_ascii_alphanumeric() || c == '_') {
                            break;
                        }
                        text.push(c);
                        self.pos += 1;
                    }
                } else {
                    text.push(c);
                    self.pos += 1;
                }
                Ok(true)
            }
            _ => {
                text.push('$');
                Ok(false)
            }
        }
    }

    /// Reads a backtick substitution and parses its unescaped content.
    fn backtick(&mut self) -> Result<(), ParseError> {
        self.pos += 1;
        let mut inner = String::new();
        loop {
            match self.peek() {
                None => return Err(ParseError::Unterminated("backtick")),
                Some('`') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('$' | '`' | '\\')) => {
                            inner.push(c);
                            self.pos += 1;
                        }
                        _ => inner.push('\\'),
                    }
                }
                Some(c) => {
                    inner.push(c);
                    self.pos += 1;
                }
            }
        }
        let mut pipelines = parse_depth(&inner, self.depth + 1)?;
        self.out.append(&mut pipelines);
        Ok(())
    }
}

fn finish_command(pipeline: &mut Pipeline, command: &mut SimpleCommand) {
    if !command.words.is_empty() {
        pipeline.push(std::mem::take(command));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// The words of every simple command `script` runs, in the order the parser finds them.
    fn commands(script: &str) -> Vec<Vec<String>> {
        parse(script)
            .unwrap_or_else(|err| panic!("{script}: {err}"))
            .into_iter()
            .flatten()
            .map(|c| c.words.into_iter().map(|w| w.text).collect())
            .collect()
    }

    /// Whether each word of the only command of `script` is dynamic.
    fn dynamic(script: &str) -> Vec<(String, bool)> {
        let pipelines = parse(script).unwrap_or_else(|err| panic!("{script}: {err}"));
        let [pipeline] = pipelines.as_slice() else {
            panic!("{script}: {pipelines:?}");
        };
        let [command] = pipeline.as_slice() else {
            panic!("{script}: {pipeline:?}");
        };
        command
            .words
            .iter()
            .map(|w| (w.text.clone(), w.dynamic))
            .collect()
    }

    #[test]
    fn groups_subshells_and_process_substitutions_are_looked_into() {
        assert_eq!(
            commands("{ a 1; b; } && (c | d) ; diff <(e f) x"),
            [
                vec!["{", "a", "1"],
                vec!["b"],
                vec!["}"],
                vec!["c"],
                vec!["d"],
                vec!["e", "f"],
                vec!["diff", "<(…)", "x"],
            ]
        );
    }

    #[test]
    fn redirections_are_not_words_and_assignments_stay_for_the_policy() {
        assert_eq!(
            commands("A=1 B='two words' run x >out 2>>err <in"),
            [vec!["A=1", "B=two words", "run", "x"]]
        );
    }

    #[test]
    fn quotes_and_escapes_are_removed_and_a_quoted_glob_is_literal() {
        assert_eq!(
            dynamic(r#"echo 'a b' "c d" e\ f '*' "*""#),
            [
                ("echo".to_string(), false),
                ("a b".to_string(), false),
                ("c d".to_string(), false),
                ("e f".to_string(), false),
                ("*".to_string(), false),
                ("*".to_string(), false),
            ]
        );
    }

    #[test]
    fn expansions_and_unquoted_globs_are_known_only_at_run_time() {
        let words = dynamic("rm $HOME \"${X}y\" *.txt plain");
        let flags: Vec<bool> = words.iter().map(|(_, d)| *d).collect();
        assert_eq!(flags, [false, true, true, true, false], "{words:?}");
    }

    #[test]
    fn an_unquoted_here_document_is_read_for_substitutions_and_a_quoted_one_is_not() {
        assert_eq!(
            commands("cat <<EOF\nhello $(whoami)\nEOF\nnext"),
            [vec!["whoami"], vec!["cat"], vec!["next"]]
        );
        assert_eq!(
            commands("cat <<'EOF'\nhello $(whoami)\nEOF\nnext"),
            [vec!["cat"], vec!["next"]]
        );
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_not_followed() {
        let deep = format!(
            "{}x{}",
            "$(".repeat(MAX_DEPTH + 2),
            ")".repeat(MAX_DEPTH + 2)
        );
        assert_eq!(parse(&deep), Err(ParseError::TooDeep));
        let within = format!("{}x{}", "$(".repeat(3), ")".repeat(3));
        assert_eq!(commands(&within)[0], ["x"]);
    }

    #[test]
    fn text_it_cannot_read_is_an_error() {
        assert_eq!(
            parse("echo `open"),
            Err(ParseError::Unterminated("backtick"))
        );
        assert!(parse("echo $(open").is_err());
        assert_eq!(parse("(a; b"), Err(ParseError::Unbalanced('(')));
        // `{` and `}` are words to the parser (the policy skips them), so an unclosed group
        // is not its error: the shell's.
        assert!(parse("{ a; ").is_ok());
    }
}
