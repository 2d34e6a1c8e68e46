//! Splitting one script line into words: quoting, escapes and `$variables`.
//!
//! Words are separated by spaces and tabs. Within a word:
//! - `"double quotes"` allow the escapes `\r \n \t \e \0 \\ \" \$ \xNN` and interpolate
//!   `$name`, `${name}`, `$1`, `${env:NAME}`;
//! - `'single quotes'` are literal;
//! - unquoted text interpolates variables but has no escapes (a backslash is an error).
//!
//! Pieces written next to each other form one word (`a"b c"'d'` is `ab cd`). A `$` not
//! followed by a name is a literal `$`. An unquoted `;` separates commands and an unquoted
//! `#` at the start of a word begins a comment. Where patterns are expected, a word that
//! starts with `/` is a regex running to the next unescaped `/`.

/// A piece of a word: literal bytes or a variable, looked up when the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Bytes as written (escapes already decoded).
    Lit(Vec<u8>),
    /// A script variable: `$name`, `${name}`, `$1`.
    Var(String),
    /// An environment variable: `${env:NAME}`.
    Env(String),
}

/// One shell-like word, kept in pieces so variables are interpolated at run time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Word {
    pub(crate) parts: Vec<Part>,
    /// True if any part of the word was quoted (so it is never a keyword).
    quoted: bool,
}

impl Word {
    /// A word of literal text (for tests and built-in defaults).
    #[cfg(test)]
    pub(crate) fn lit(text: &str) -> Self {
        let mut word = Word::default();
        word.push_bytes(text.as_bytes());
        word
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        if let Some(Part::Lit(last)) = self.parts.last_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.parts.push(Part::Lit(bytes.to_vec()));
        }
    }

    /// The text of an unquoted word without variables. Keywords (`eof`, `{`, `-t`...) and
    /// command names must be written this way, so `"eof"` is ordinary text.
    pub(crate) fn plain(&self) -> Option<&str> {
        if self.quoted {
            return None;
        }
        match self.parts.as_slice() {
            [Part::Lit(bytes)] => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    /// The word's value if it contains no variables.
    pub(crate) fn constant(&self) -> Option<Vec<u8>> {
        let mut value = Vec::new();
        for part in &self.parts {
            match part {
                Part::Lit(bytes) => value.extend_from_slice(bytes),
                Part::Var(_) | Part::Env(_) => return None,
            }
        }
        Some(value)
    }
}

/// What the lexer found next on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Word(Word),
    /// The source of a `/regex/` (with `\/` turned into `/`).
    Regex(String),
    /// An unquoted `;`.
    Semi,
    /// The end of the line or the start of a comment.
    End,
}

/// A cursor over one line of a script.
pub(crate) struct Lexer<'s> {
    line: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    pub(crate) fn new(line: &'s str) -> Self {
        Lexer { line, pos: 0 }
    }

    /// The byte offset of the cursor.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The line between two cursor positions.
    pub(crate) fn text(&self, start: usize, end: usize) -> &'s str {
        &self.line[start..end]
    }

    fn peek(&self) -> Option<u8> {
        self.line.as_bytes().get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    /// Skips spaces and tabs.
    pub(crate) fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// The next token. With `regex` set, a word starting with `/` is read as a regex.
    pub(crate) fn next_token(&mut self, regex: bool) -> Result<Token, String> {
        self.skip_blanks();
        match self.peek() {
            None | Some(b'#') => {
                self.pos = self.line.len();
                Ok(Token::End)
            }
            Some(b';') => {
                self.pos += 1;
                Ok(Token::Semi)
            }
            Some(b'/') if regex => self.regex().map(Token::Regex),
            Some(_) => self.word().map(Token::Word),
        }
    }

    fn at_word_end(&self) -> bool {
        matches!(self.peek(), None | Some(b' ' | b'\t' | b';'))
    }

    fn word(&mut self) -> Result<Word, String> {
        let mut word = Word::default();
        while !self.at_word_end() {
            let start = self.pos;
            match self.bump() {
                Some(b'"') => {
                    word.quoted = true;
                    self.double_quoted(&mut word)?;
                }
                Some(b'\'') => {
                    word.quoted = true;
                    self.single_quoted(&mut word)?;
                }
                Some(b'$') => self.variable(&mut word)?,
                Some(b'\\') => {
                    return Err("a backslash outside quotes; put the text in double quotes \
                                for escapes or in single quotes to keep it literal"
                        .into());
                }
                _ => {
                    // Copy a run of ordinary bytes (UTF-8 sequences never contain ASCII).
                    while !self.at_word_end()
                        && !matches!(self.peek(), Some(b'"' | b'\'' | b'$' | b'\\'))
                    {
                        self.pos += 1;
                    }
                    word.push_bytes(&self.line.as_bytes()[start..self.pos]);
                }
            }
        }
        Ok(word)
    }

    fn single_quoted(&mut self, word: &mut Word) -> Result<(), String> {
        let start = self.pos;
        let Some(len) = self.line[start..].find('\'') else {
            return Err("unterminated single-quoted string (a closing ' is missing)".into());
        };
        self.pos = start + len + 1;
        // An empty '' still makes the word exist (and quoted).
        word.push_bytes(&self.line.as_bytes()[start..start + len]);
        Ok(())
    }

    fn double_quoted(&mut self, word: &mut Word) -> Result<(), String> {
        word.push_bytes(b"");
        loop {
            let start = self.pos;
            match self.bump() {
                None => {
                    return Err(
                        "unterminated double-quoted string (a closing \" is missing)".into(),
                    );
                }
                Some(b'"') => return Ok(()),
                Some(b'$') => self.variable(word)?,
                Some(b'\\') => {
                    let byte = self.escape()?;
                    word.push_bytes(&[byte]);
                }
                Some(_) => {
                    while !matches!(self.peek(), None | Some(b'"' | b'$' | b'\\')) {
                        self.pos += 1;
                    }
                    word.push_bytes(&self.line.as_bytes()[start..self.pos]);
                }
            }
        }
    }

    /// Decodes the escape after a backslash in a double-quoted string.
    fn escape(&mut self) -> Result<u8, String> {
        let byte = match self.bump() {
            Some(b'r') => b'\r',
            Some(b'n') => b'\n',
            Some(b't') => b'\t',
            Some(b'e') => 0x1b,
            Some(b'0') => 0,
            Some(b'\\') => b'\\',
            Some(b'"') => b'"',
            Some(b'$') => b'$',
            Some(b'x') => {
                let digits = self.line.get(self.pos..self.pos + 2).unwrap_or("");
                let value = u8::from_str_radix(digits, 16)
                    .ok()
                    .filter(|_| digits.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or("\\x must be followed by two hex digits, like \\x1b")?;
                self.pos += 2;
                value
            }
            None => return Err("unterminated double-quoted string (it ends with \\)".into()),
            Some(_) => {
                let c = self.line[self.pos - 1..].chars().next().unwrap_or('?');
                return Err(format!(
                    "unknown escape \\{c} in a double-quoted string (the escapes are \\r \\n \
                     \\t \\e \\0 \\\\ \\\" \\$ \\xNN; for a regex write /.../)"
                ));
            }
        };
        Ok(byte)
    }

    /// Reads a variable reference after `$`; a `$` followed by no name is literal.
    fn variable(&mut self, word: &mut Word) -> Result<(), String> {
        let rest = &self.line[self.pos..];
        if let Some(braced) = rest.strip_prefix('{') {
            let Some(len) = braced.find('}') else {
                return Err("unterminated ${...} (a closing } is missing)".into());
            };
            let name = &braced[..len];
            self.pos += len + 2;
            let part = match name.strip_prefix("env:") {
                Some(env) if is_identifier(env) => Part::Env(env.to_owned()),
                None if is_identifier(name) || is_number(name) => Part::Var(name.to_owned()),
                _ => return Err(format!("bad variable name ${{{name}}}")),
            };
            word.parts.push(part);
            return Ok(());
        }
        let len = if rest.starts_with(|c: char| c.is_ascii_digit()) {
            rest.bytes().take_while(u8::is_ascii_digit).count()
        } else if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            rest.bytes()
                .take_while(|&b| b.is_ascii_alphanumeric() || b == b'_')
                .count()
        } else {
            word.push_bytes(b"$");
            return Ok(());
        };
        word.parts.push(Part::Var(rest[..len].to_owned()));
        self.pos += len;
        Ok(())
    }

    fn regex(&mut self) -> Result<String, String> {
        self.pos += 1; // the opening slash
        let mut source = String::new();
        loop {
            let rest = &self.line[self.pos..];
            let Some(i) = rest.find(['/', '\\']) else {
                return Err("unterminated regex (a closing / is missing)".into());
            };
            source.push_str(&rest[..i]);
            self.pos += i + 1;
            if rest.as_bytes()[i] == b'/' {
                break;
            }
            // A backslash: `\/` is a slash, anything else is kept for the regex.
            match self.peek() {
                Some(b'/') => {
                    source.push('/');
                    self.pos += 1;
                }
                Some(_) => {
                    let c = self.line[self.pos..].chars().next().unwrap_or('\\');
                    source.push('\\');
                    source.push(c);
                    self.pos += c.len_utf8();
                }
                None => return Err("unterminated regex (a closing / is missing)".into()),
            }
        }
        if source.is_empty() {
            return Err("empty regex //".into());
        }
        if !self.at_word_end() {
            return Err(
                "unexpected text after a /regex/ (put flags inside it, like /(?i)yes/)".into(),
            );
        }
        Ok(source)
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_number(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(line: &str, regex: bool) -> Result<Vec<Token>, String> {
        let mut lexer = Lexer::new(line);
        let mut out = Vec::new();
        loop {
            match lexer.next_token(regex)? {
                Token::End => return Ok(out),
                token => out.push(token),
            }
        }
    }

    fn words(line: &str) -> Vec<Word> {
        tokens(line, false)
            .unwrap()
            .into_iter()
            .map(|t| match t {
                Token::Word(w) => w,
                other => panic!("not a word: {other:?}"),
            })
            .collect()
    }

    fn values(line: &str) -> Vec<Vec<u8>> {
        words(line).iter().map(|w| w.constant().unwrap()).collect()
    }

    #[test]
    fn splits_on_blanks_and_joins_adjacent_pieces() {
        assert_eq!(
            values("send  a\t'b c'  x\"y z\"'w' ''"),
            vec![
                b"send".to_vec(),
                b"a".to_vec(),
                b"b c".to_vec(),
                b"xy zw".to_vec(),
                b"".to_vec(),
            ]
        );
    }

    #[test]
    fn decodes_escapes_in_double_quotes_only() {
        assert_eq!(
            values(r#""\r\n\t\e\0\\\"\$\x41\xff" '\r\n$x'"#),
            vec![b"\r\n\t\x1b\0\\\"$A\xff".to_vec(), br"\r\n$x".to_vec()]
        );
        assert_eq!(
            values("héllo 'wörld'"),
            vec!["héllo".as_bytes(), "wörld".as_bytes()]
        );
    }

    #[test]
    fn rejects_bad_escapes_and_unterminated_strings() {
        let err = tokens(r#"send "\d""#, false).unwrap_err();
        assert!(err.contains(r"unknown escape \d"), "{err}");
        assert!(
            tokens(r#"send "\x4""#, false)
                .unwrap_err()
                .contains("two hex digits")
        );
        assert!(
            tokens(r#"send "\x+1""#, false)
                .unwrap_err()
                .contains("two hex digits")
        );
        assert!(
            tokens(r#"send "abc"#, false)
                .unwrap_err()
                .contains("unterminated double")
        );
        assert!(
            tokens("send 'abc", false)
                .unwrap_err()
                .contains("unterminated single")
        );
        assert!(
            tokens(r"send a\b", false)
                .unwrap_err()
                .contains("backslash outside")
        );
        assert!(
            tokens(r#"send "abc\"#, false)
                .unwrap_err()
                .contains("unterminated")
        );
    }

    #[test]
    fn finds_variables() {
        let w = &words(r#""x=$x, ${y}z $1${2} ${env:HOME} $ $. cost\$5""#)[0];
        assert_eq!(
            w.parts,
            vec![
                Part::Lit(b"x=".to_vec()),
                Part::Var("x".into()),
                Part::Lit(b", ".to_vec()),
                Part::Var("y".into()),
                Part::Lit(b"z ".to_vec()),
                Part::Var("1".into()),
                Part::Var("2".into()),
                Part::Lit(b" ".to_vec()),
                Part::Env("HOME".into()),
                Part::Lit(b" $ $. cost$5".to_vec()),
            ]
        );
        assert_eq!(w.constant(), None);
        assert_eq!(
            words("$12ab")[0].parts,
            vec![Part::Var("12".into()), Part::Lit(b"ab".to_vec())]
        );
        assert_eq!(words("'$x'")[0].constant(), Some(b"$x".to_vec()));
        assert!(
            tokens("print ${a b}", false)
                .unwrap_err()
                .contains("bad variable name")
        );
        assert!(
            tokens("print ${abc", false)
                .unwrap_err()
                .contains("unterminated ${")
        );
    }

    #[test]
    fn keywords_must_be_plain() {
        let w = words(r#"eof "eof" e'of' $x"#);
        assert_eq!(w[0].plain(), Some("eof"));
        assert_eq!(w[1].plain(), None);
        assert_eq!(w[2].plain(), None);
        assert_eq!(w[3].plain(), None);
    }

    #[test]
    fn comments_and_separators() {
        let t = tokens("send a; send 'b;#' # c ; d", false).unwrap();
        assert_eq!(
            t,
            vec![
                Token::Word(Word::lit("send")),
                Token::Word(Word::lit("a")),
                Token::Semi,
                Token::Word(Word::lit("send")),
                Token::Word({
                    let mut w = Word::lit("b;#");
                    w.quoted = true;
                    w
                }),
            ]
        );
        assert_eq!(values("a#b"), vec![b"a#b".to_vec()]);
    }

    #[test]
    fn reads_regexes_only_when_asked() {
        assert_eq!(
            tokens(r"expect /a\/b\d+ $/ /x/;", true).unwrap(),
            vec![
                Token::Word(Word::lit("expect")),
                Token::Regex(r"a/b\d+ $".into()),
                Token::Regex("x".into()),
                Token::Semi,
            ]
        );
        assert_eq!(
            values("spawn /bin/sh"),
            vec![b"spawn".to_vec(), b"/bin/sh".to_vec()]
        );
        assert!(
            tokens("expect /abc", true)
                .unwrap_err()
                .contains("unterminated regex")
        );
        assert!(
            tokens(r"expect /abc\", true)
                .unwrap_err()
                .contains("unterminated regex")
        );
        assert!(
            tokens("expect /a/i", true)
                .unwrap_err()
                .contains("after a /regex/")
        );
        assert!(
            tokens("expect //", true)
                .unwrap_err()
                .contains("empty regex")
        );
    }
}
