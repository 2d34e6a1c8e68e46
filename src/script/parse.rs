//! Turning a script's lines into commands, checking everything that can be checked
//! before the script runs.

use crate::engine::pattern::Pattern;
use crate::error::Error;
use crate::logging::Direction;

use super::ScriptError;
use super::lex::{Lexer, Token, Word, is_identifier};
use super::value;

mod screen;

pub(crate) use screen::{ClickAt, ScreenExpect, ScreenOp, ScreenSpec, key, uses_screen};

/// One command and where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    /// The 1-based line number.
    pub(crate) line: usize,
    /// The command as written, for `--trace`.
    pub(crate) text: String,
    pub(crate) op: Op,
}

/// The name of the program a spawn without `-n NAME` starts: the one program of a script
/// that runs one at a time.
pub(crate) const MAIN: &str = "main";

/// The program a command addresses: `-i NAME`, or (`None`) the current one.
pub(crate) type Program = Option<String>;

/// What a command does. Arguments stay [`Word`]s until the command runs, so they can
/// use variables.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Set(Setting),
    Let(String, Word),
    /// `spawn [-n NAME] PROGRAM ARGS...`; no name is [`MAIN`].
    Spawn(Program, Vec<Word>),
    /// `spawn_shell [-n NAME] LINE`.
    SpawnShell(Program, Word),
    /// `use NAME`: makes NAME the current program.
    Use(String),
    Send(Program, Word),
    SendSecret(Program, Secret),
    SendLine(Program, Option<Word>),
    SendControl(Program, Word),
    SendEof(Program),
    SendIntr(Program),
    /// `send -s|-h TEXT` and `sendline -s|-h [TEXT]` (`line`): typed slowly or like a
    /// person, with the `send_slow` or `send_human` setting.
    SendTyped {
        program: Program,
        typing: Typing,
        text: Option<Word>,
        line: bool,
    },
    /// `wait_reading [-i NAME] [-t SECONDS]`: until the program reads its terminal.
    WaitReading(Program, Option<Word>),
    Expect(Expect),
    /// `abort_on [-i NAME] PATTERN...`: without a name, for every program.
    AbortOn(Program, Vec<PatternSpec>),
    Print(Vec<Word>),
    Wait(Program),
    AssertExit(Program, Word),
    Sleep(Word),
    Close(Program),
    Kill(Program, Option<Word>),
    Fail(Vec<Word>),
    Exit(Option<Word>),
    Continue,
    /// `interact [-i NAME] [--escape KEY|none]`: the escape key, if given.
    Interact(Program, Option<Word>),
    LogUser(Word),
    /// `log_file [-a] [-o|-i] [PATH]`; no path closes the log.
    LogFile {
        append: bool,
        direction: Direction,
        path: Option<Word>,
    },
    /// `record [-i] [PATH]`; no path stops recording.
    Record {
        input: bool,
        path: Option<Word>,
    },
    /// `expect_screen`, `key`, `click`, `snapshot`.
    Screen(Program, ScreenOp),
}

/// The text of a `send_secret`, kept out of `Debug` output (the `--trace` text of its
/// command is hidden when the script is parsed).
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) Word);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How `send -s` and `send -h` type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Typing {
    /// `-s`: `set send_slow`.
    Slow,
    /// `-h`: `set send_human`.
    Human,
}

/// `set NAME VALUE`.
#[derive(Debug, Clone)]
pub(crate) enum Setting {
    Timeout(Word),
    Rows(Word),
    Cols(Word),
    Echo(Word),
    Env(Word, Word),
    Dir(Word),
    LineEnding(Word),
    Screen(Word),
    /// `set send_slow CHARACTERS SECONDS`.
    SendSlow(Vec<Word>),
    /// `set send_human AVERAGE WORD_END VARIABILITY MIN MAX [SEED]`.
    SendHuman(Vec<Word>),
}

/// An `expect`: one branch per pattern (the one-line form has branches without actions).
#[derive(Debug, Clone)]
pub(crate) struct Expect {
    pub(crate) timeout: Option<Word>,
    /// `-i NAME,NAME...`: the programs of the branches that name none; empty: the current
    /// program.
    pub(crate) programs: Vec<String>,
    pub(crate) branches: Vec<Branch>,
}

/// A pattern of an `expect` and the commands to run when it matches.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    /// The 1-based line of the pattern.
    pub(crate) line: usize,
    /// `-i NAME,NAME...` at the start of a block's branch: the programs whose output the
    /// pattern watches; empty: those of the expect.
    pub(crate) programs: Vec<String>,
    pub(crate) pattern: PatternSpec,
    pub(crate) action: Vec<Stmt>,
}

/// What is legal but probably not meant, as `FILE:LINE: warning: ...` lines: for now,
/// exact text starting or ending with `*`, which in Tcl Expect (whose patterns are globs by
/// default) matches anything but here waits for an asterisk.
pub(crate) fn warnings(file: &str, stmts: &[Stmt]) -> Vec<String> {
    let mut found = Vec::new();
    let mut check = |line: usize, spec: &PatternSpec| {
        let PatternSpec::Text(word) = spec else {
            return;
        };
        let Some(text) = word.constant() else {
            return;
        };
        if text.starts_with(b"*") || text.ends_with(b"*") {
            let text = String::from_utf8_lossy(&text);
            found.push(format!(
                "{file}:{line}: warning: the pattern \"{text}\" is exact text and waits for a \
                 literal `*`; for a glob as in Tcl Expect write -gl \"{text}\""
            ));
        }
    };
    fn walk(stmts: &[Stmt], check: &mut dyn FnMut(usize, &PatternSpec)) {
        for stmt in stmts {
            match &stmt.op {
                Op::Expect(expect) => {
                    for branch in &expect.branches {
                        check(branch.line, &branch.pattern);
                        walk(&branch.action, check);
                    }
                }
                Op::AbortOn(_, specs) => specs.iter().for_each(|spec| check(stmt.line, spec)),
                _ => {}
            }
        }
    }
    walk(stmts, &mut check);
    found
}

/// A pattern as written in a script.
#[derive(Debug, Clone)]
pub(crate) enum PatternSpec {
    /// Exact text (it may use variables).
    Text(Word),
    /// `-gl GLOB`: a glob with Tcl's rules (it may use variables; a constant one is
    /// checked when the script is parsed).
    Glob(Word),
    /// A `/regex/`, compiled when the script is parsed.
    Regex {
        pattern: Pattern,
        /// The capture group names, indexed by group number.
        names: Vec<Option<String>>,
    },
    /// `eof`: the program closed its output.
    Eof,
    /// `timeout`: the deadline passed.
    Timeout,
}

/// Parses a whole script.
pub(crate) fn parse(file: &str, source: &str) -> Result<Vec<Stmt>, ScriptError> {
    let mut parser = Parser {
        file,
        lines: source
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect(),
        next: 0,
        spawned: Vec::new(),
    };
    let mut stmts = Vec::new();
    while let Some((line, text)) = parser.next_line() {
        let mut lexer = Lexer::new(text);
        stmts.extend(parser.commands(&mut lexer, line, Context::TopLevel)?);
    }
    Ok(stmts)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    TopLevel,
    Branch,
}

struct Parser<'s> {
    file: &'s str,
    lines: Vec<&'s str>,
    next: usize,
    /// The program names spawned so far, in the order of the lines: a name used before
    /// any spawn of it is a mistake.
    spawned: Vec<String>,
}

/// Every command name, for error messages.
const COMMANDS: &str = "set, timeout, let, spawn, spawn_shell, send, sendline, sendcontrol, \
                        sendeof, sendintr, send_secret, expect, abort_on, print, wait, \
                        wait_reading, assert_exit, sleep, close, kill, fail, exit, continue, \
                        log_user, log_file, record, interact, use, expect_screen, key, click, \
                        snapshot";

/// The commands that address a program, and so take `-i NAME`.
const ADDRESSING: &[&str] = &[
    "send",
    "send_secret",
    "sendline",
    "sendcontrol",
    "sendeof",
    "sendintr",
    "abort_on",
    "wait",
    "wait_reading",
    "assert_exit",
    "close",
    "kill",
    "interact",
    "expect_screen",
    "key",
    "click",
    "snapshot",
];

impl<'s> Parser<'s> {
    fn error(&self, line: usize, message: impl Into<String>) -> ScriptError {
        ScriptError::message_at(self.file, line, message)
    }

    /// The next line and its number.
    fn next_line(&mut self) -> Option<(usize, &'s str)> {
        let text = self.lines.get(self.next)?;
        self.next += 1;
        Some((self.next, text))
    }

    /// The `;`-separated commands on the rest of a line (and the block of an `expect {`).
    fn commands(
        &mut self,
        lexer: &mut Lexer<'s>,
        line: usize,
        context: Context,
    ) -> Result<Vec<Stmt>, ScriptError> {
        let mut stmts = Vec::new();
        loop {
            lexer.skip_blanks();
            let start = lexer.pos();
            let name = match lexer.next_token(false).map_err(|m| self.error(line, m))? {
                Token::End => return Ok(stmts),
                Token::Semi => continue,
                Token::Word(word) => word,
                Token::Regex(_) => unreachable!("regexes are only read on request"),
            };
            let Some(name) = name.plain() else {
                return Err(self.error(line, "a command name must be a bare word"));
            };
            let name = name.to_owned();
            let regex = matches!(name.as_str(), "expect" | "abort_on" | "expect_screen");
            let mut args = Vec::new();
            let mut end = lexer.pos();
            let line_ended = loop {
                match lexer.next_token(regex).map_err(|m| self.error(line, m))? {
                    Token::End => break true,
                    Token::Semi => break false,
                    token => {
                        args.push(token);
                        end = lexer.pos();
                    }
                }
            };
            let op = self.op(&name, args, line, context, line_ended)?;
            let text = match op {
                // `--trace` must not show the secret.
                Op::SendSecret(..) => format!("{name} (secret not shown)"),
                _ => lexer.text(start, end).to_owned(),
            };
            stmts.push(Stmt { line, text, op });
        }
    }

    fn op(
        &mut self,
        name: &str,
        mut args: Vec<Token>,
        line: usize,
        context: Context,
        line_ended: bool,
    ) -> Result<Op, ScriptError> {
        if name == "expect" {
            return self.expect(args, line, context, line_ended).map(Op::Expect);
        }
        let program = match ADDRESSING.contains(&name) {
            true => self.program_option(&mut args, name, "-i", line)?,
            false => None,
        };
        if matches!(name, "spawn" | "spawn_shell") {
            let spawned = self.program_option(&mut args, name, "-n", line)?;
            let op = self.op_with(name, args, line, context, None)?;
            // `spawn -n main` is `spawn`.
            let spawned = spawned.filter(|n| n != MAIN);
            let known = spawned.clone().unwrap_or_else(|| MAIN.to_owned());
            if !self.spawned.contains(&known) {
                self.spawned.push(known);
            }
            return Ok(match op {
                Op::Spawn(_, argv) => Op::Spawn(spawned, argv),
                Op::SpawnShell(_, shell) => Op::SpawnShell(spawned, shell),
                other => other,
            });
        }
        self.op_with(name, args, line, context, program)
    }

    /// A leading `FLAG NAME` of a command's arguments (`-i NAME`, `-n NAME`), taken out of
    /// them. The program named by `-i` must have been spawned on an earlier line.
    fn program_option(
        &self,
        args: &mut Vec<Token>,
        command: &str,
        flag: &str,
        line: usize,
    ) -> Result<Program, ScriptError> {
        if !matches!(args.first(), Some(Token::Word(w)) if w.plain() == Some(flag)) {
            return Ok(None);
        }
        args.remove(0);
        let given = match args.first() {
            Some(Token::Word(w)) => w.plain().map(str::to_owned),
            _ => None,
        };
        let name = match given {
            Some(name) if is_identifier(&name) => name,
            Some(name) if flag == "-i" && name.contains(',') => {
                return Err(self.error(
                    line,
                    format!("{command} -i takes one program name, not a list (`{name}`)"),
                ));
            }
            _ => {
                let what = if flag == "-n" {
                    "a name for the program"
                } else {
                    "the name of a program"
                };
                return Err(self.error(
                    line,
                    format!(
                        "{command} {flag} needs {what}: letters, digits and _, not starting \
                         with a digit, written bare"
                    ),
                ));
            }
        };
        args.remove(0);
        if flag == "-i" {
            self.known(&name, line)?;
        }
        Ok(Some(name))
    }

    /// Fails unless a program called `name` was spawned on an earlier line.
    fn known(&self, name: &str, line: usize) -> Result<(), ScriptError> {
        if self.spawned.iter().any(|n| n == name) {
            return Ok(());
        }
        let how = if name == MAIN {
            "`spawn PROGRAM` without -n starts it".to_owned()
        } else {
            format!("`spawn -n {name} PROGRAM` starts one")
        };
        Err(self.error(
            line,
            format!("no program named `{name}` is spawned before this line ({how})"),
        ))
    }

    /// The names of `-i NAME,NAME...` in an expect: at least one, each once, each spawned
    /// on an earlier line.
    fn program_list(&self, token: Option<Token>, line: usize) -> Result<Vec<String>, ScriptError> {
        const USAGE: &str = "expect -i needs the names of programs, separated by commas \
                             without spaces: -i bc,python";
        let text = match &token {
            Some(Token::Word(w)) => w.plain().ok_or_else(|| self.error(line, USAGE))?,
            _ => return Err(self.error(line, USAGE)),
        };
        let mut names: Vec<String> = Vec::new();
        for name in text.split(',') {
            if !is_identifier(name) {
                return Err(self.error(line, USAGE));
            }
            if names.iter().any(|n| n == name) {
                return Err(self.error(line, format!("expect -i names `{name}` twice")));
            }
            self.known(name, line)?;
            names.push(name.to_owned());
        }
        Ok(names)
    }

    /// A command other than `expect`, its `-i NAME` or `-n NAME` taken out already.
    fn op_with(
        &mut self,
        name: &str,
        args: Vec<Token>,
        line: usize,
        context: Context,
        program: Program,
    ) -> Result<Op, ScriptError> {
        let err = |message: String| self.error(line, message);
        if screen::COMMANDS.contains(&name) {
            return screen::parse(name, args)
                .map(|op| Op::Screen(program, op))
                .map_err(err);
        }
        if name == "abort_on" {
            let patterns = self
                .patterns(args, line)?
                .into_iter()
                .map(|spec| match spec {
                    PatternSpec::Eof | PatternSpec::Timeout => Err(err(
                        "abort_on takes text and /regex/ patterns (for eof and timeout use an \
                         expect block)"
                            .into(),
                    )),
                    spec => Ok(spec),
                })
                .collect::<Result<_, _>>()?;
            return Ok(Op::AbortOn(program, patterns));
        }
        let words = words(args).map_err(err)?;
        if name == "set" || name == "timeout" {
            return self.setting(name, words, line).map(Op::Set);
        }
        let given = words.len();
        let count = |range: std::ops::RangeInclusive<usize>, usage: &str| {
            if range.contains(&given) {
                Ok(())
            } else {
                Err(err(format!("usage: {usage}")))
            }
        };
        let check =
            |word: &Word, convert: &dyn Fn(&[u8]) -> Result<(), String>| match word.constant() {
                Some(value) => convert(&value).map_err(|m| err(format!("{name}: {m}"))),
                None => Ok(()),
            };
        // `send -s TEXT`, `sendline -h TEXT`: the typing flag, unquoted, before the text.
        let typing = match (name, words.first().and_then(Word::plain)) {
            ("send" | "sendline", Some("-s" | "--slow")) => Some(Typing::Slow),
            ("send" | "sendline", Some("-h" | "--human")) => Some(Typing::Human),
            _ => None,
        };
        if let Some(typing) = typing {
            let text = words.into_iter().skip(1).collect::<Vec<_>>();
            let line = name == "sendline";
            return match (line, text.len()) {
                (false, 1) | (true, 0 | 1) => Ok(Op::SendTyped {
                    program,
                    typing,
                    text: text.into_iter().next(),
                    line,
                }),
                _ => Err(err(format!(
                    "usage: {name} [-i NAME] [-s|-h] \"TEXT\" (quote text that contains spaces)"
                ))),
            };
        }
        let mut words = words.into_iter();
        let op = match name {
            "let" => {
                count(2..=2, "let NAME VALUE")?;
                let target = words.next().unwrap_or_default();
                match target.plain() {
                    Some(n) if is_identifier(n) => {
                        Op::Let(n.to_owned(), words.next().unwrap_or_default())
                    }
                    _ => {
                        return Err(err(
                            "let: a variable name is letters, digits and _, not starting with \
                             a digit"
                                .into(),
                        ));
                    }
                }
            }
            "spawn" => {
                if words.len() == 0 {
                    return Err(err("usage: spawn [-n NAME] PROGRAM [ARGS...]".into()));
                }
                Op::Spawn(None, words.collect())
            }
            "spawn_shell" => {
                count(
                    1..=1,
                    "spawn_shell [-n NAME] \"COMMAND LINE\" (quote the whole line)",
                )?;
                Op::SpawnShell(None, words.next().unwrap_or_default())
            }
            "send" => {
                count(
                    1..=1,
                    "send [-i NAME] \"TEXT\" (quote text that contains spaces)",
                )?;
                Op::Send(program, words.next().unwrap_or_default())
            }
            "send_secret" => {
                count(
                    1..=1,
                    "send_secret [-i NAME] \"TEXT\" (quote text that contains spaces)",
                )?;
                Op::SendSecret(program, Secret(words.next().unwrap_or_default()))
            }
            "log_user" => {
                count(1..=1, "log_user on|off")?;
                let on = words.next().unwrap_or_default();
                check(&on, &|v| value::switch(v).map(drop))?;
                Op::LogUser(on)
            }
            "log_file" | "record" => {
                let usage = if name == "record" {
                    "usage: record [-i] [PATH] (no PATH: stop recording)"
                } else {
                    "usage: log_file [-a] [-o|-i] [PATH] (no PATH: close the log)"
                };
                let (mut append, mut direction, mut input) = (false, Direction::Both, false);
                let mut path = None;
                for word in words {
                    match (name, word.plain()) {
                        ("log_file", Some("-a" | "--append")) => append = true,
                        ("log_file", Some("-o" | "--output")) => direction = Direction::Output,
                        ("log_file", Some("-i" | "--input")) => direction = Direction::Input,
                        ("record", Some("-i" | "--input")) => input = true,
                        (_, Some(flag)) if flag.starts_with('-') && flag.len() > 1 => {
                            return Err(err(format!("{name}: unknown option `{flag}`; {usage}")));
                        }
                        _ if path.is_none() => path = Some(word),
                        _ => return Err(err(usage.into())),
                    }
                }
                let flags = append || input || direction != Direction::Both;
                if flags && path.is_none() {
                    return Err(err(format!("{name}: the options need a PATH; {usage}")));
                }
                if name == "record" {
                    Op::Record { input, path }
                } else {
                    Op::LogFile {
                        append,
                        direction,
                        path,
                    }
                }
            }
            "sendline" => {
                count(
                    0..=1,
                    "sendline [-i NAME] [\"TEXT\"] (quote text that contains spaces)",
                )?;
                Op::SendLine(program, words.next())
            }
            "sendcontrol" => {
                count(
                    1..=1,
                    "sendcontrol [-i NAME] KEY (like `sendcontrol c` for Ctrl-C)",
                )?;
                let key = words.next().unwrap_or_default();
                check(&key, &|v| value::control_key(v).map(drop))?;
                Op::SendControl(program, key)
            }
            "sendeof" => {
                count(0..=0, "sendeof [-i NAME]")?;
                Op::SendEof(program)
            }
            "sendintr" => {
                count(0..=0, "sendintr [-i NAME]")?;
                Op::SendIntr(program)
            }
            "print" => Op::Print(words.collect()),
            "wait" => {
                count(0..=0, "wait [-i NAME]")?;
                Op::Wait(program)
            }
            "wait_reading" => {
                const USAGE: &str = "wait_reading [-i NAME] [-t SECONDS]";
                let args: Vec<Word> = words.collect();
                match args.as_slice() {
                    [] => Op::WaitReading(program, None),
                    [flag, seconds] if matches!(flag.plain(), Some("-t" | "--timeout")) => {
                        check(seconds, &|v| value::seconds(v).map(drop))?;
                        Op::WaitReading(program, Some(seconds.clone()))
                    }
                    _ => return Err(err(format!("usage: {USAGE}"))),
                }
            }
            "assert_exit" => {
                count(1..=1, "assert_exit [-i NAME] CODE|SIGNAL")?;
                let expected = words.next().unwrap_or_default();
                check(&expected, &|v| value::ExitExpectation::parse(v).map(drop))?;
                Op::AssertExit(program, expected)
            }
            "sleep" => {
                count(1..=1, "sleep SECONDS")?;
                let seconds = words.next().unwrap_or_default();
                check(&seconds, &|v| value::duration(v).map(drop))?;
                Op::Sleep(seconds)
            }
            "close" => {
                count(0..=0, "close [-i NAME]")?;
                Op::Close(program)
            }
            "kill" => {
                count(0..=1, "kill [-i NAME] [SIGNAL]")?;
                let signal = words.next();
                if let Some(signal) = &signal {
                    check(signal, &|v| value::signal(v).map(drop))?;
                }
                Op::Kill(program, signal)
            }
            "fail" => Op::Fail(words.collect()),
            "exit" => {
                count(0..=1, "exit [CODE]")?;
                let code = words.next();
                if let Some(code) = &code {
                    check(code, &|v| value::exit_code(v).map(drop))?;
                }
                Op::Exit(code)
            }
            "interact" => {
                const USAGE: &str = "usage: interact [-i NAME] [--escape KEY|none] (KEY like ^X for Ctrl-X; default ^])";
                let args: Vec<Word> = words.collect();
                match args.as_slice() {
                    [] => Op::Interact(program, None),
                    [flag, key] if matches!(flag.plain(), Some("-e" | "--escape")) => {
                        check(key, &|v| match crate::Interact::parse_escape(
                            &String::from_utf8_lossy(v),
                        ) {
                            Ok(_) => Ok(()),
                            Err(Error::InvalidArgument(message)) => Err(message),
                            Err(e) => Err(e.to_string()),
                        })?;
                        Op::Interact(program, Some(key.clone()))
                    }
                    _ => return Err(err(USAGE.into())),
                }
            }
            "use" => {
                count(1..=1, "use NAME (the program later commands address)")?;
                let target = words.next().unwrap_or_default();
                match target.plain() {
                    Some(n) if is_identifier(n) => {
                        self.known(n, line)?;
                        Op::Use(n.to_owned())
                    }
                    _ => {
                        return Err(err(
                            "use: a program name is letters, digits and _, not starting with \
                             a digit, written bare"
                                .into(),
                        ));
                    }
                }
            }
            "continue" => {
                count(0..=0, "continue")?;
                if context != Context::Branch {
                    return Err(err(
                        "`continue` only makes sense in a branch of an expect block".into(),
                    ));
                }
                Op::Continue
            }
            "{" | "}" => {
                return Err(err(format!(
                    "unexpected `{name}`: only `expect {{` opens a block, and the commands of \
                     a branch go on its line, separated by `;`"
                )));
            }
            _ => {
                return Err(err(format!(
                    "unknown command `{name}` (the commands are {COMMANDS})"
                )));
            }
        };
        Ok(op)
    }

    /// `set KEY VALUE...`, or `timeout SECONDS` (short for `set timeout SECONDS`).
    fn setting(&self, name: &str, words: Vec<Word>, line: usize) -> Result<Setting, ScriptError> {
        let err = |message: String| self.error(line, message);
        const USAGE: &str = "usage: set timeout SECONDS|none, set rows N, set cols N, \
                             set echo on|off, set env NAME VALUE, set dir PATH, \
                             set line_ending TEXT, set screen on|off, set send_slow CHARACTERS \
                             SECONDS, set send_human AVERAGE WORD_END VARIABILITY MIN MAX [SEED]";
        let (key, args) = match (name, words.split_first()) {
            ("timeout", _) => ("timeout", &words[..]),
            (_, Some((key, args))) => (key.plain().ok_or_else(|| err(USAGE.into()))?, args),
            (_, None) => return Err(err(USAGE.into())),
        };
        let one = |convert: &dyn Fn(&[u8]) -> Result<(), String>| match args {
            [value] => {
                if let Some(constant) = value.constant() {
                    convert(&constant).map_err(|m| err(format!("set {key}: {m}")))?;
                }
                Ok(value.clone())
            }
            _ => Err(err(format!("usage: set {key} VALUE"))),
        };
        let setting = match key {
            "timeout" => Setting::Timeout(one(&|v| value::seconds(v).map(drop))?),
            "rows" => Setting::Rows(one(&|v| value::dimension(v).map(drop))?),
            "cols" => Setting::Cols(one(&|v| value::dimension(v).map(drop))?),
            "echo" => Setting::Echo(one(&|v| value::switch(v).map(drop))?),
            "dir" => Setting::Dir(one(&|_| Ok(()))?),
            "line_ending" => Setting::LineEnding(one(&|_| Ok(()))?),
            "screen" => Setting::Screen(one(&|v| value::switch(v).map(drop))?),
            "send_slow" | "send_human" => {
                let values: Option<Vec<Vec<u8>>> = args.iter().map(Word::constant).collect();
                if let Some(values) = values {
                    let checked = if key == "send_slow" {
                        value::slow_typing(&values).map(drop)
                    } else {
                        value::human_typing(&values).map(drop)
                    };
                    checked.map_err(|m| err(format!("set {key}: {m}")))?;
                }
                if key == "send_slow" {
                    Setting::SendSlow(args.to_vec())
                } else {
                    Setting::SendHuman(args.to_vec())
                }
            }
            "env" => match args {
                [name, _] if name.constant().is_some_and(|n| !valid_env_name(&n)) => {
                    return Err(err(
                        "set env: a variable name must be non-empty, without `=` or NUL".into(),
                    ));
                }
                [name, value] => Setting::Env(name.clone(), value.clone()),
                _ => return Err(err("usage: set env NAME VALUE".into())),
            },
            _ => return Err(err(USAGE.into())),
        };
        Ok(setting)
    }

    fn expect(
        &mut self,
        args: Vec<Token>,
        line: usize,
        context: Context,
        line_ended: bool,
    ) -> Result<Expect, ScriptError> {
        let mut args = args.into_iter().peekable();
        let mut timeout = None;
        let mut programs = Vec::new();
        // The options, in either order, each once.
        while let Some(Token::Word(w)) = args.peek() {
            match w.plain() {
                Some("-t" | "--timeout") if timeout.is_none() => {
                    args.next();
                    match args.next() {
                        Some(Token::Word(seconds)) => {
                            if let Some(constant) = seconds.constant() {
                                value::seconds(&constant)
                                    .map_err(|m| self.error(line, format!("expect -t: {m}")))?;
                            }
                            timeout = Some(seconds);
                        }
                        _ => return Err(self.error(line, "expect -t needs SECONDS")),
                    }
                }
                Some("-i") if programs.is_empty() => {
                    args.next();
                    programs = self.program_list(args.next(), line)?;
                }
                Some(option @ ("-t" | "--timeout" | "-i")) => {
                    return Err(self.error(line, format!("expect: {option} is given twice")));
                }
                _ => break,
            }
        }
        let mut args: Vec<Token> = args.collect();
        let block = matches!(args.last(), Some(Token::Word(w)) if w.plain() == Some("{"));
        if block {
            args.pop();
            if !args.is_empty() {
                return Err(self.error(line, "the patterns of an expect block go inside it"));
            }
            if context == Context::Branch {
                return Err(self.error(
                    line,
                    "an expect block cannot go inside a branch (use a one-line expect)",
                ));
            }
            if !line_ended {
                return Err(self.error(line, "`{` must end the line"));
            }
            let branches = self.block(line)?;
            return Ok(Expect {
                timeout,
                programs,
                branches,
            });
        }
        if args.is_empty() {
            return Err(self.error(
                line,
                "usage: expect [-t SECONDS] [-i NAME,...] PATTERN... (or `expect {` with one \
                 branch per line)",
            ));
        }
        if args
            .iter()
            .any(|t| matches!(t, Token::Word(w) if matches!(w.plain(), Some("{" | "}"))))
        {
            return Err(self.error(
                line,
                "Tcl-style braces on one line: here `{` and `}` would be text to wait for; an \
                 expect block ends its first line with `{`, has one branch per line, and \
                 closes with `}` alone on a line: `expect {` / `\"a\" print x` / `}` \
                 (write \"{\" for the text)",
            ));
        }
        let branches = self
            .patterns(args, line)?
            .into_iter()
            .map(|pattern| Branch {
                line,
                programs: Vec::new(),
                pattern,
                action: Vec::new(),
            })
            .collect();
        Ok(Expect {
            timeout,
            programs,
            branches,
        })
    }

    /// The branch lines of an `expect {` block opened on line `open`, up to its `}`.
    fn block(&mut self, open: usize) -> Result<Vec<Branch>, ScriptError> {
        let mut branches = Vec::new();
        loop {
            let Some((line, text)) = self.next_line() else {
                return Err(self.error(open, "this expect block is not closed with `}`"));
            };
            let mut lexer = Lexer::new(text);
            let token = lexer.next_token(true).map_err(|m| self.error(line, m))?;
            match &token {
                Token::End => continue,
                Token::Word(w) if w.plain() == Some("}") => {
                    if lexer.next_token(false).map_err(|m| self.error(line, m))? != Token::End {
                        return Err(self.error(line, "`}` must be alone on its line"));
                    }
                    break;
                }
                Token::Word(w) if w.plain() == Some("{") => {
                    return Err(self.error(line, "a branch starts with a pattern, not `{`"));
                }
                Token::Semi => {
                    return Err(self.error(line, "a branch starts with a pattern, not `;`"));
                }
                _ => {}
            }
            let (programs, token) = match token {
                Token::Word(w) if w.plain() == Some("-i") => {
                    let names = lexer.next_token(false).map_err(|m| self.error(line, m))?;
                    let programs = self.program_list(Some(names), line)?;
                    let token = lexer.next_token(true).map_err(|m| self.error(line, m))?;
                    if matches!(token, Token::End | Token::Semi) {
                        return Err(self.error(
                            line,
                            "a branch with -i NAME,... needs a pattern after the names",
                        ));
                    }
                    (programs, token)
                }
                token => (Vec::new(), token),
            };
            let pattern = match token {
                Token::Word(w) if w.plain() == Some("-gl") => {
                    let glob = lexer.next_token(false).map_err(|m| self.error(line, m))?;
                    self.glob(glob, line)?
                }
                token => self.pattern(token, line)?,
            };
            let action = self.commands(&mut lexer, line, Context::Branch)?;
            if let Some(i) = action.iter().position(|s| matches!(s.op, Op::Continue)) {
                if i + 1 != action.len() {
                    return Err(self.error(line, "`continue` must be the last command of a branch"));
                }
            }
            branches.push(Branch {
                line,
                programs,
                pattern,
                action,
            });
        }
        if branches.is_empty() {
            return Err(self.error(open, "this expect block has no branches"));
        }
        Ok(branches)
    }

    /// The patterns of a one-line `expect` or an `abort_on`: each a token, or `-gl` and
    /// the glob after it.
    fn patterns(&self, args: Vec<Token>, line: usize) -> Result<Vec<PatternSpec>, ScriptError> {
        let mut specs = Vec::new();
        let mut tokens = args.into_iter();
        while let Some(token) = tokens.next() {
            specs.push(match token {
                Token::Word(w) if w.plain() == Some("-gl") => {
                    self.glob(tokens.next().unwrap_or(Token::End), line)?
                }
                token => self.pattern(token, line)?,
            });
        }
        Ok(specs)
    }

    /// The glob after `-gl`; a constant one is checked now.
    fn glob(&self, token: Token, line: usize) -> Result<PatternSpec, ScriptError> {
        let Token::Word(word) = token else {
            return Err(self.error(line, "-gl needs a glob pattern: -gl \"*assword*\""));
        };
        if let Some(text) = word.constant() {
            if text.is_empty() {
                return Err(self.error(line, "an empty glob matches at once; leave it out"));
            }
            Pattern::glob(&String::from_utf8_lossy(&text))
                .map_err(|e| self.error(line, format!("invalid glob: {e}")))?;
        }
        Ok(PatternSpec::Glob(word))
    }

    fn pattern(&self, token: Token, line: usize) -> Result<PatternSpec, ScriptError> {
        match token {
            Token::Regex(source) => {
                // Built from the source so the session can scan it incrementally.
                let pattern = Pattern::regex(&source).map_err(|e| {
                    let reason = match e {
                        Error::Regex(e) => e.to_string(),
                        other => other.to_string(),
                    };
                    self.error(line, format!("invalid regex /{source}/: {reason}"))
                })?;
                let names = pattern
                    .capture_names()
                    .map(|n| n.map(str::to_owned))
                    .collect();
                Ok(PatternSpec::Regex { pattern, names })
            }
            Token::Word(word) => match word.plain() {
                Some("eof") => Ok(PatternSpec::Eof),
                Some("timeout") => Ok(PatternSpec::Timeout),
                _ if word.constant().is_some_and(|c| c.is_empty()) => Err(self.error(
                    line,
                    "an empty pattern matches at once; leave it out (or use /regex/ or eof)",
                )),
                _ => Ok(PatternSpec::Text(word)),
            },
            Token::Semi | Token::End => unreachable!("patterns come from words"),
        }
    }
}

/// Whether `name` can be an environment variable's name.
pub(crate) fn valid_env_name(name: &[u8]) -> bool {
    !name.is_empty() && !name.contains(&b'=') && !name.contains(&0)
}

/// The arguments of a command that takes no patterns.
fn words(tokens: Vec<Token>) -> Result<Vec<Word>, String> {
    tokens
        .into_iter()
        .map(|token| match token {
            Token::Word(word) => Ok(word),
            _ => Err("unexpected token".to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::lex::Part;

    fn ok(source: &str) -> Vec<Stmt> {
        parse("t.pcs", source).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The error's line and message.
    fn bad(source: &str) -> (usize, String) {
        match parse("t.pcs", source) {
            Err(ScriptError::Message {
                file,
                line,
                message,
            }) => {
                assert_eq!(file, "t.pcs");
                (line, message)
            }
            other => panic!("expected a script error, got {other:?}"),
        }
    }

    #[test]
    fn numbers_lines_and_skips_blanks_and_comments() {
        let stmts = ok("# comment\n\n  spawn cat  # trailing\r\n\tsend \"x\"\n");
        assert_eq!(stmts.iter().map(|s| s.line).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(stmts[0].text, "spawn cat");
        assert_eq!(stmts[1].text, "send \"x\"");
    }

    #[test]
    fn splits_commands_on_semicolons() {
        let stmts = ok("send a; send 'b;c' ;; sendeof");
        assert_eq!(stmts.len(), 3);
        assert!(stmts.iter().all(|s| s.line == 1));
        assert_eq!(stmts[1].text, "send 'b;c'");
        match &stmts[1].op {
            Op::Send(_, w) => assert_eq!(w.constant(), Some(b"b;c".to_vec())),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reports_the_line_of_a_mistake() {
        assert_eq!(bad("spawn cat\n\nsend \"abc\n").0, 3);
        let (line, message) = bad("spawn cat\nfrobnicate 3\n");
        assert_eq!(line, 2);
        assert!(
            message.starts_with("unknown command `frobnicate`"),
            "{message}"
        );
        assert!(bad("send \"\\q\"").1.contains("unknown escape \\q"));
        assert_eq!(bad("spawn x\nexpect /(/\n").0, 2);
        assert!(bad("expect /(/").1.starts_with("invalid regex /(/"));
        assert_eq!(bad("\"spawn\" cat").1, "a command name must be a bare word");
    }

    #[test]
    fn checks_argument_counts_and_constant_values() {
        assert!(bad("send a b").1.contains("quote text"));
        assert!(bad("spawn").1.starts_with("usage: spawn"));
        assert!(bad("sendcontrol cc").1.contains("one letter"));
        assert!(bad("set timeout soon").1.contains("expected seconds"));
        assert!(bad("timeout -1").1.contains("expected seconds"));
        assert!(bad("set rows 0").1.contains("1 to 65535"));
        assert!(bad("set echo maybe").1.contains("`on` or `off`"));
        assert!(bad("set colour red").1.starts_with("usage: set timeout"));
        assert!(bad("set env A=B c").1.contains("without `=`"));
        assert!(bad("set env '' c").1.contains("non-empty"));
        assert!(bad("kill SIGNOPE").1.contains("unknown signal"));
        assert!(bad("exit 300").1.contains("0 to 255"));
        assert!(bad("assert_exit x").1.contains("unknown signal"));
        assert!(bad("let 1x y").1.contains("variable name"));
        assert!(bad("expect -t").1.contains("needs SECONDS"));
        assert!(bad("expect").1.starts_with("usage: expect"));
        assert!(bad("expect ''").1.contains("empty pattern"));
        assert!(bad("continue").1.contains("only makes sense in a branch"));
        assert!(bad("abort_on eof").1.contains("abort_on takes text"));
        assert!(bad("expect -gl").1.contains("-gl needs a glob pattern"));
        assert!(
            bad("expect { \"a\" print x }")
                .1
                .starts_with("Tcl-style braces on one line")
        );
        assert!(
            bad("expect a { b }")
                .1
                .contains("`expect {` / `\"a\" print x` / `}`")
        );
        ok("expect \"{\" \"}\"");
        assert!(bad("expect -gl \"[ab\"").1.contains("invalid glob"));
        assert!(
            bad("expect {\n-gl\n}")
                .1
                .contains("-gl needs a glob pattern")
        );
        // Values with variables are checked when they run.
        ok("set timeout $t; sleep ${arg1}; exit $code; let x \"$y\"");
    }

    #[test]
    fn parses_expect_forms() {
        let stmts = ok(r#"expect -t 2.5 "a$x" /b(\d)/ eof timeout "eof" -gl "*a?[bc]""#);
        let Op::Expect(expect) = &stmts[0].op else {
            panic!()
        };
        assert_eq!(
            expect.timeout.as_ref().and_then(Word::constant),
            Some(b"2.5".to_vec())
        );
        let kinds: Vec<&str> = expect
            .branches
            .iter()
            .map(|b| match &b.pattern {
                PatternSpec::Text(w) if w.constant().is_none() => "text with variable",
                PatternSpec::Text(_) => "text",
                PatternSpec::Regex { .. } => "regex",
                PatternSpec::Eof => "eof",
                PatternSpec::Timeout => "timeout",
                PatternSpec::Glob(_) => "glob",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "text with variable",
                "regex",
                "eof",
                "timeout",
                "text",
                "glob"
            ]
        );
        assert!(expect.branches.iter().all(|b| b.action.is_empty()));
        let PatternSpec::Text(w) = &expect.branches[0].pattern else {
            panic!()
        };
        assert_eq!(
            w.parts,
            vec![Part::Lit(b"a".to_vec()), Part::Var("x".into())]
        );
        let PatternSpec::Regex { names, .. } = &expect.branches[1].pattern else {
            panic!()
        };
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn parses_expect_blocks() {
        let stmts = ok(concat!(
            "spawn sh\n",
            "expect {\n",
            "  # a comment\n",
            "  \"Password:\"  sendline secret; continue\n",
            "  /(?<n>\\d+) left/ print \"$n\"\n",
            "\n",
            "  eof        fail \"it ended\"\n",
            "  timeout\n",
            "}\n",
            "print after\n",
        ));
        assert_eq!(stmts.len(), 3);
        assert_eq!(stmts[2].line, 10);
        let Op::Expect(expect) = &stmts[1].op else {
            panic!()
        };
        assert_eq!(stmts[1].line, 2);
        assert_eq!(expect.branches.len(), 4);
        let lines: Vec<Vec<usize>> = expect
            .branches
            .iter()
            .map(|b| b.action.iter().map(|s| s.line).collect())
            .collect();
        assert_eq!(lines, vec![vec![4, 4], vec![5], vec![7], vec![]]);
        assert!(matches!(expect.branches[0].action[1].op, Op::Continue));
        let PatternSpec::Regex { names, .. } = &expect.branches[1].pattern else {
            panic!()
        };
        assert_eq!(names, &vec![None, Some("n".to_owned())]);
    }

    #[test]
    fn rejects_malformed_blocks() {
        assert_eq!(
            bad("print a\nexpect {\n  \"x\"\n"),
            (2, "this expect block is not closed with `}`".into())
        );
        assert_eq!(bad("expect {\n}\n").1, "this expect block has no branches");
        assert_eq!(bad("expect { ; print x").1, "`{` must end the line");
        assert_eq!(
            bad("expect \"a\" {").1,
            "the patterns of an expect block go inside it"
        );
        assert_eq!(bad("expect {\n \"a\" {\n}").0, 2);
        assert!(bad("expect {\n \"a\" {\n}").1.starts_with("unexpected `{`"));
        assert!(bad("print x\n}").1.starts_with("unexpected `}`"));
        assert_eq!(
            bad("expect {\n \"a\"\n } x\n").1,
            "`}` must be alone on its line"
        );
        assert_eq!(
            bad("expect {\n { \n}").1,
            "a branch starts with a pattern, not `{`"
        );
        let (line, message) = bad("expect {\n \"a\" continue; print x\n}");
        assert_eq!(
            (line, message.as_str()),
            (2, "`continue` must be the last command of a branch")
        );
        assert!(
            bad("expect {\n \"a\" expect {\n}\n}")
                .1
                .contains("cannot go inside a branch")
        );
        assert_eq!(bad("expect {\n \"a\" send \"x\n}").0, 2);
    }

    #[test]
    fn parses_program_names() {
        let stmts = ok(concat!(
            "spawn -n bc bc -q; spawn_shell -n sh 'exec sh'; spawn -n main cat; spawn cat\n",
            "sendline -i bc x; send x; abort_on -i sh ERR; kill -i main TERM; use sh\n",
            "expect -t 5 -i bc,sh /(\\d+)/\n",
            "expect -i sh -t 5 {\n",
            "  -i bc,main -gl \"*x\"  print a\n",
            "  eof\n",
            "}\n",
            "interact -i bc --escape ^X\n",
        ));
        let names: Vec<Option<&str>> = stmts[..4]
            .iter()
            .map(|s| match &s.op {
                Op::Spawn(name, _) | Op::SpawnShell(name, _) => name.as_deref(),
                other => panic!("{other:?}"),
            })
            .collect();
        // `-n main` is the unnamed program.
        assert_eq!(names, [Some("bc"), Some("sh"), None, None]);
        assert!(matches!(&stmts[4].op, Op::SendLine(Some(n), Some(_)) if n == "bc"));
        assert!(matches!(&stmts[5].op, Op::Send(None, _)));
        assert!(matches!(&stmts[6].op, Op::AbortOn(Some(n), p) if n == "sh" && p.len() == 1));
        assert!(matches!(&stmts[7].op, Op::Kill(Some(n), Some(_)) if n == "main"));
        assert!(matches!(&stmts[8].op, Op::Use(n) if n == "sh"));
        let Op::Expect(one) = &stmts[9].op else {
            panic!()
        };
        assert_eq!(one.programs, ["bc", "sh"]);
        assert!(one.timeout.is_some() && one.branches[0].programs.is_empty());
        let Op::Expect(block) = &stmts[10].op else {
            panic!()
        };
        assert_eq!(block.programs, ["sh"]);
        assert_eq!(block.branches[0].programs, ["bc", "main"]);
        assert!(matches!(block.branches[0].pattern, PatternSpec::Glob(_)));
        assert!(block.branches[1].programs.is_empty());
        assert!(matches!(&stmts[11].op, Op::Interact(Some(n), Some(_)) if n == "bc"));
        // Quoted, `-i` is text.
        assert!(matches!(
            &ok("spawn cat\nsend \"-i\"")[1].op,
            Op::Send(None, _)
        ));
    }

    #[test]
    fn rejects_bad_program_names() {
        assert_eq!(
            bad("spawn -n a cat\nsend -i b x"),
            (
                2,
                "no program named `b` is spawned before this line (`spawn -n b PROGRAM` \
                 starts one)"
                    .into()
            )
        );
        assert_eq!(bad("send -i b x\nspawn -n b cat").0, 1);
        assert!(
            bad("spawn -n \"a b\" cat")
                .1
                .starts_with("spawn -n needs a name")
        );
        assert!(
            bad("spawn -n $x cat")
                .1
                .starts_with("spawn -n needs a name")
        );
        assert!(bad("spawn -n a").1.starts_with("usage: spawn [-n NAME]"));
        assert!(
            bad("spawn -n a cat\nexpect -i a -i a x")
                .1
                .contains("-i is given twice")
        );
        assert!(
            bad("spawn -n a cat\nexpect -i a,")
                .1
                .starts_with("expect -i needs")
        );
        assert!(
            bad("spawn -n a cat\nexpect -i")
                .1
                .starts_with("expect -i needs")
        );
        assert!(
            bad("spawn -n a cat\nexpect -i a")
                .1
                .starts_with("usage: expect")
        );
        assert!(bad("spawn -n a cat\nuse").1.starts_with("usage: use NAME"));
        assert!(
            bad("spawn -n a cat\nuse 'a'")
                .1
                .starts_with("use: a program name")
        );
        assert!(
            bad("use main")
                .1
                .contains("`spawn PROGRAM` without -n starts it")
        );
        ok("spawn cat\nuse main; send -i main x");
    }

    /// Scripts made of pieces of commands, cut and joined at random (a fixed seed), never
    /// make the parser panic: each parses or is a located error.
    #[test]
    fn mangled_scripts_never_panic() {
        const PIECES: &[&str] = &[
            "spawn",
            " -n",
            " a",
            " -i",
            " b,a",
            " cat",
            "expect",
            " {",
            "}",
            "\n",
            ";",
            " /x(/",
            " /(\\d)/",
            " \"",
            "'",
            " eof",
            " timeout",
            " -gl",
            " -t",
            " 1",
            "use a",
            "abort_on",
            "sendline",
            " $",
            "${",
            "#",
            " continue",
            "send -i main",
            "interact -i a -e",
            "spawn_shell -n",
            ",",
            " main",
            " -",
            "\\",
            "\t",
        ];
        let mut seed: u64 = 0x5eed;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        for _ in 0..20_000 {
            let len = 1 + next(24);
            let source: String = (0..len).map(|_| PIECES[next(PIECES.len())]).collect();
            match parse("f", &source) {
                Ok(_) => {}
                Err(ScriptError::Message { line, .. }) => {
                    assert!(
                        line >= 1 && line <= source.split('\n').count(),
                        "{source:?}"
                    );
                }
                Err(other) => panic!("{source:?}: {other:?}"),
            }
        }
    }
}
