//! Running parsed commands against a program on a pseudo-terminal.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::Duration;

use crate::group::{Group, SessionId};
use crate::transport::pty::Pty;
use crate::{
    Command, DEFAULT_TIMEOUT, Direction, Error, ExitStatus, Match, Pattern, PtyConfig, PtySession,
    escape,
};

use super::lex::{Part, Word};
use super::logs::{ScriptLogs, ScriptWriter, Sink, Slot};
use super::parse::{Expect, MAIN, Op, PatternSpec, Program, Setting, Stmt, Typing, valid_env_name};
use super::value::{self, ExitExpectation};
use super::{RunOptions, ScriptError};

mod screen;

/// How long `close` lets the program react to each of SIGHUP, SIGINT and SIGTERM before
/// the next, stronger one.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// How much of the output an `abort_on` failure shows.
const ABORT_TAIL: usize = 512;

/// What the script does after a command.
enum Flow {
    /// Go on with the next command.
    Next,
    /// Run the enclosing `expect` again (`continue` in a branch).
    Continue,
    /// Stop the script with this exit code (`exit`).
    Exit(i32),
}

/// Why a command failed: a message or a library error still to be given its location, or
/// the located error of a command in an `expect` branch.
enum Fault {
    Message(String),
    Error(Error),
    Script(ScriptError),
}

impl From<ScriptError> for Fault {
    fn from(error: ScriptError) -> Self {
        Fault::Script(error)
    }
}

impl From<Error> for Fault {
    fn from(error: Error) -> Self {
        Fault::Error(error)
    }
}

impl From<String> for Fault {
    fn from(message: String) -> Self {
        Fault::Message(message)
    }
}

impl From<&str> for Fault {
    fn from(message: &str) -> Self {
        Fault::Message(message.to_owned())
    }
}

/// What applies to the next `spawn` (and, where it can, to the running program).
struct Settings {
    timeout: Option<Duration>,
    /// The terminal's size and echo (`set rows`, `set cols`, `set echo`).
    pty: PtyConfig,
    env: Vec<(OsString, OsString)>,
    dir: Option<OsString>,
    line_ending: Option<Vec<u8>>,
    /// Whether later spawns get a virtual terminal (`set screen on`, feature `screen`).
    screen: bool,
    /// `set send_slow`, `set send_human`.
    slow: crate::SlowTyping,
    human: crate::HumanTyping,
}

/// A program the script spawned, by name.
struct Running {
    /// Its place in the group; `None` once `close` ended it.
    id: Option<SessionId>,
    /// How it ended, once known.
    status: Option<ExitStatus>,
}

/// An `abort_on` pattern with its description for the error message.
type Abort = (Pattern, String);

/// The state of a running script.
pub(crate) struct Runner<'a> {
    file: &'a str,
    options: &'a RunOptions,
    out: ScriptWriter,
    log: ScriptWriter,
    /// The logs attached to each program: `--verbose`, `log_user`, `log_file`...
    logs: ScriptLogs,
    vars: HashMap<String, Vec<u8>>,
    /// The variables the last match set, cleared by the next one.
    captures: Vec<String>,
    settings: Settings,
    /// Every program spawned and not closed, each named as in `spawn -n NAME` ([`MAIN`]
    /// without a name).
    group: Group<Pty>,
    programs: HashMap<String, Running>,
    /// The program commands without `-i NAME` address: the last spawned or `use`d.
    current: String,
    /// Whether a program was spawned with a name: errors then say which program failed.
    named: bool,
    /// `abort_on` patterns for every program.
    abort: Vec<Abort>,
    /// `abort_on -i NAME` patterns, by program name.
    abort_for: HashMap<String, Vec<Abort>>,
    /// Whether programs get a screen: the script uses screen commands, or `--screen`.
    give_screens: bool,
    /// The final screens, once the script has ended ([`Runner::screens`]).
    screens: Vec<(String, String)>,
}

impl<'a> Runner<'a> {
    pub(crate) fn new(
        file: &'a str,
        args: &[OsString],
        options: &'a RunOptions,
        out: ScriptWriter,
        log: ScriptWriter,
    ) -> Self {
        let mut vars = HashMap::new();
        vars.insert("script".to_owned(), file.as_bytes().to_vec());
        vars.insert("argc".to_owned(), args.len().to_string().into_bytes());
        for (i, arg) in args.iter().enumerate() {
            vars.insert(format!("arg{}", i + 1), arg.as_bytes().to_vec());
        }
        Runner {
            file,
            options,
            out,
            log,
            logs: ScriptLogs::default(),
            vars,
            captures: Vec::new(),
            settings: Settings {
                timeout: Some(DEFAULT_TIMEOUT),
                pty: PtyConfig::default(),
                env: Vec::new(),
                dir: None,
                line_ending: None,
                screen: false,
                slow: crate::SlowTyping::default(),
                human: crate::HumanTyping::default(),
            },
            group: Group::new(),
            programs: HashMap::new(),
            current: MAIN.to_owned(),
            named: false,
            abort: Vec::new(),
            abort_for: HashMap::new(),
            give_screens: options.screen,
            screens: Vec::new(),
        }
    }

    /// Sets variables before the script runs (the test harness's `Harness::var`).
    pub(crate) fn preset(&mut self, vars: &[(String, Vec<u8>)]) {
        for (name, value) in vars {
            self.vars.insert(name.clone(), value.clone());
        }
    }

    /// The text of each program's virtual terminal (`set screen on`) when the script
    /// ended, by program name in the order they were spawned.
    pub(crate) fn screens(&self) -> &[(String, String)] {
        &self.screens
    }

    /// Keeps the final screen of every program that has one, before they are ended.
    fn keep_screens(&mut self) {
        #[cfg(feature = "screen")]
        for (id, session) in self.group.iter() {
            if let Some(screen) = session.screen() {
                let name = self.group.name(id).unwrap_or(MAIN).to_owned();
                self.screens.push((name, screen.text()));
            }
        }
    }

    /// Runs the script's commands; the result is the script's exit code.
    pub(crate) fn run(&mut self, stmts: &[Stmt]) -> Result<i32, ScriptError> {
        self.open_logs()?;
        self.give_screens |= super::parse::uses_screen(stmts);
        let mut flow = self.block(stmts);
        if self.options.screen {
            // The screens show how the script ended, also when it failed.
            if let Err(Fault::Error(e)) = self.print_screens() {
                if flow.is_ok() {
                    flow = Err(ScriptError::File {
                        file: self.file.to_owned(),
                        error: Box::new(e),
                    });
                }
            }
        }
        self.keep_screens();
        for problem in self.logs.close(&mut self.group) {
            self.warn(&problem);
        }
        match flow? {
            Flow::Exit(code) => Ok(code),
            Flow::Next | Flow::Continue => Ok(0),
        }
    }

    /// Starts the logs the options ask for; one that cannot be opened fails the script as
    /// a whole (at no line).
    fn open_logs(&mut self) -> Result<(), ScriptError> {
        let options = self.options;
        let file = self.file;
        let opened = |sink: std::io::Result<Sink>| {
            sink.map(Some).map_err(|source| ScriptError::File {
                file: file.to_owned(),
                error: Box::new(Error::Io {
                    context: "opening a log",
                    source,
                }),
            })
        };
        if options.verbose {
            self.logs.set(
                Slot::Verbose,
                Some(Sink::Echo(self.log.clone())),
                &mut self.group,
            );
        }
        if let Some(path) = &options.log {
            let sink = opened(Sink::log(path.as_os_str(), Direction::Both, false))?;
            self.logs.set(Slot::LogOption, sink, &mut self.group);
        }
        if let Some(path) = &options.log_output {
            let sink = opened(Sink::log(path.as_os_str(), Direction::Output, false))?;
            self.logs.set(Slot::LogOutputOption, sink, &mut self.group);
        }
        if let Some(path) = &options.record {
            let PtyConfig { rows, cols, .. } = self.settings.pty;
            let sink = opened(Sink::cast(path.as_os_str(), cols, rows, false))?;
            self.logs.set(Slot::RecordOption, sink, &mut self.group);
        }
        Ok(())
    }

    /// Puts `sink` in `slot` (`None`: stops that log), on the running programs too.
    fn set_log(&mut self, slot: Slot, sink: Option<Sink>) {
        if let Some(problem) = self.logs.set(slot, sink, &mut self.group) {
            self.warn(&problem);
        }
    }

    /// Reports a problem that does not stop the script (a log that could not be written).
    fn warn(&mut self, problem: &str) {
        let _ = writeln!(self.log, "ptychat: warning: {problem}");
        let _ = self.log.flush();
    }

    fn block(&mut self, stmts: &[Stmt]) -> Result<Flow, ScriptError> {
        for stmt in stmts {
            if self.options.trace {
                let _ = writeln!(self.log, "+ {}:{}: {}", self.file, stmt.line, stmt.text);
                let _ = self.log.flush();
            }
            match self.exec(stmt) {
                Ok(Flow::Next) => {}
                Ok(flow) => return Ok(flow),
                Err(Fault::Script(error)) => return Err(error),
                Err(Fault::Message(message)) => {
                    return Err(ScriptError::message_at(self.file, stmt.line, message));
                }
                Err(Fault::Error(error)) => {
                    return Err(ScriptError::error_at(self.file, stmt.line, error));
                }
            }
        }
        Ok(Flow::Next)
    }

    fn exec(&mut self, stmt: &Stmt) -> Result<Flow, Fault> {
        match &stmt.op {
            Op::Set(setting) => self.set(setting)?,
            Op::Let(name, value) => {
                let value = self.eval(value)?;
                // A variable set by `let` stays until set again, even if a match set it.
                self.captures.retain(|n| n != name);
                self.vars.insert(name.clone(), value);
            }
            Op::Spawn(name, words) => {
                let argv = words
                    .iter()
                    .map(|w| self.eval(w).map(OsString::from_vec))
                    .collect::<Result<Vec<_>, _>>()?;
                let Some((program, args)) = argv.split_first() else {
                    return Err("usage: spawn [-n NAME] PROGRAM [ARGS...]".into());
                };
                let mut command = Command::new(program);
                command.args(args);
                self.spawn(name.as_deref(), command)?;
            }
            Op::SpawnShell(name, line) => {
                let line = OsString::from_vec(self.eval(line)?);
                self.spawn(name.as_deref(), Command::shell(line))?;
            }
            Op::Use(name) => {
                if !self.programs.contains_key(name) {
                    return Err(format!("no program named `{name}` has been spawned").into());
                }
                self.current = name.clone();
            }
            Op::Send(program, text) => {
                let text = self.eval(text)?;
                self.with_session(program, |s| s.send(text))?;
            }
            Op::SendSecret(program, secret) => {
                let text = self.eval(&secret.0)?;
                self.with_session(program, |s| s.send_secret(text))?;
            }
            Op::LogUser(on) => {
                let on = value::switch(&self.eval(on)?)?;
                let sink = on.then(|| Sink::Echo(self.out.clone()));
                self.set_log(Slot::User, sink);
            }
            Op::LogFile {
                append,
                direction,
                path,
            } => {
                let sink = match path {
                    Some(path) => {
                        let path = OsString::from_vec(self.eval(path)?);
                        let sink = Sink::log(&path, *direction, *append)
                            .map_err(|e| format!("log_file: cannot open {e}"))?;
                        Some(sink)
                    }
                    None => None,
                };
                self.set_log(Slot::LogFile, sink);
            }
            Op::Record { input, path } => {
                let sink = match path {
                    Some(path) => {
                        let path = OsString::from_vec(self.eval(path)?);
                        let PtyConfig { rows, cols, .. } = self.settings.pty;
                        let sink = Sink::cast(&path, cols, rows, *input)
                            .map_err(|e| format!("record: cannot open {e}"))?;
                        Some(sink)
                    }
                    None => None,
                };
                self.set_log(Slot::Record, sink);
            }
            Op::SendLine(program, text) => {
                let text = match text {
                    Some(text) => self.eval(text)?,
                    None => Vec::new(),
                };
                self.with_session(program, |s| s.send_line(text))?;
            }
            Op::SendControl(program, key) => {
                let key = value::control_key(&self.eval(key)?)?;
                self.with_session(program, |s| s.send_control(key))?;
            }
            Op::SendTyped {
                program,
                typing,
                text,
                line,
            } => {
                let mut text = match text {
                    Some(text) => self.eval(text)?,
                    None => Vec::new(),
                };
                let (slow, human) = (self.settings.slow, self.settings.human);
                self.with_session(program, |s| {
                    if *line {
                        text.extend_from_slice(s.line_ending());
                    }
                    match typing {
                        Typing::Slow => s.send_slow(text, slow),
                        Typing::Human => s.send_human(text, human),
                    }
                })?;
            }
            Op::WaitReading(program, seconds) => {
                let timeout = match seconds {
                    Some(seconds) => Some(value::seconds(&self.eval(seconds)?)?),
                    None => None,
                };
                self.with_session(program, |s| {
                    s.wait_until_reading(timeout.unwrap_or_else(|| s.timeout()))
                })?;
            }
            Op::SendEof(program) => self.with_session(program, |s| s.send_eof())?,
            Op::SendIntr(program) => self.with_session(program, |s| s.send_intr())?,
            Op::Expect(expect) => return self.expect(expect),
            Op::AbortOn(program, specs) => {
                let mut abort = Vec::new();
                for spec in specs {
                    let pattern = self.pattern(spec)?;
                    abort.push((pattern.clone(), pattern.to_string()));
                }
                match program {
                    Some(name) => {
                        self.abort_for.insert(name.clone(), abort);
                        self.apply_abort(name);
                    }
                    None => {
                        self.abort = abort;
                        let names: Vec<String> = self.programs.keys().cloned().collect();
                        for name in names {
                            self.apply_abort(&name);
                        }
                    }
                }
            }
            Op::Print(words) => {
                let mut line = self.join(words)?;
                line.push(b'\n');
                self.print(&line)?;
            }
            Op::Wait(program) => {
                self.wait(program)?;
            }
            Op::AssertExit(program, expected) => {
                let expected = ExitExpectation::parse(&self.eval(expected)?)?;
                let status = self.wait(program)?;
                if !expected.accepts(status) {
                    let wanted = match expected {
                        ExitExpectation::Code(code) => format!("exit code {code}"),
                        ExitExpectation::Signal(signal) => format!("killed by {signal}"),
                    };
                    let who = self.who(program);
                    let unmatched = self.with_session(program, |session| {
                        session.read_available()?;
                        Ok(session.buffer().to_vec())
                    })?;
                    return Err(format!(
                        "assert_exit: expected {who} to end with {wanted}, but it ended \
                         with {status}; {} unmatched bytes buffered, ending with: \"{}\"",
                        unmatched.len(),
                        crate::escape::escape_tail(&unmatched, crate::engine::session::ERROR_TAIL)
                    )
                    .into());
                }
            }
            Op::Sleep(seconds) => {
                std::thread::sleep(value::duration(&self.eval(seconds)?)?);
            }
            Op::Close(program) => {
                let name = self.name(program).to_owned();
                let id = self.id(&name)?;
                let mut session = self
                    .group
                    .remove(id)
                    .expect("running programs are in the group");
                let running = self.programs.get_mut(&name).expect("a spawned program");
                running.id = None;
                let status = match running.status {
                    Some(status) => status,
                    None => session
                        .terminate(CLOSE_GRACE)
                        .map_err(|e| self.in_program(&name, e))?,
                };
                drop(session);
                self.set_status(&name, status);
            }
            Op::Kill(program, signal) => {
                let signal = match signal {
                    Some(signal) => value::signal(&self.eval(signal)?)?,
                    None => crate::Signal::SIGTERM,
                };
                self.with_session(program, |s| s.kill(signal))?;
            }
            Op::Fail(words) => {
                let message = String::from_utf8_lossy(&self.join(words)?).into_owned();
                return Err(if message.is_empty() {
                    "fail".into()
                } else {
                    message
                }
                .into());
            }
            Op::Exit(code) => {
                let code = match code {
                    Some(code) => value::exit_code(&self.eval(code)?)?,
                    None => 0,
                };
                return Ok(Flow::Exit(code));
            }
            Op::Continue => return Ok(Flow::Continue),
            Op::Interact(program, escape) => return self.interact(program, escape.as_ref()),
            Op::Screen(program, op) => return self.screen(program, op),
        }
        Ok(Flow::Next)
    }

    /// The value of a word, with its variables filled in.
    fn eval(&self, word: &Word) -> Result<Vec<u8>, Fault> {
        let mut value = Vec::new();
        for part in &word.parts {
            match part {
                Part::Lit(bytes) => value.extend_from_slice(bytes),
                Part::Var(name) => match self.vars.get(name) {
                    Some(bytes) => value.extend_from_slice(bytes),
                    None if !self.vars.contains_key("before") && is_capture(name) => {
                        return Err(format!("${name} is not set: no expect has matched yet").into());
                    }
                    None if name.bytes().all(|b| b.is_ascii_digit()) => {
                        return Err(format!(
                            "${name} is not set: the last expect matched no group {name}"
                        )
                        .into());
                    }
                    None => return Err(format!("${name} is not set").into()),
                },
                Part::Env(name) => match std::env::var_os(name) {
                    Some(os) => value.extend_from_slice(os.as_bytes()),
                    None => {
                        return Err(format!("environment variable {name} is not set").into());
                    }
                },
            }
        }
        Ok(value)
    }

    /// The values of `words` joined with spaces.
    fn join(&self, words: &[Word]) -> Result<Vec<u8>, Fault> {
        let mut joined = Vec::new();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                joined.push(b' ');
            }
            joined.extend(self.eval(word)?);
        }
        Ok(joined)
    }

    /// The name of the program `program` addresses: its own, or the current one's.
    fn name<'p>(&'p self, program: &'p Program) -> &'p str {
        program.as_deref().unwrap_or(&self.current)
    }

    /// How messages call the program: `the program` in a script of one unnamed program,
    /// `program `NAME`` otherwise.
    fn who(&self, program: &Program) -> String {
        if self.named {
            format!("program `{}`", self.name(program))
        } else {
            "the program".to_owned()
        }
    }

    /// The group id of the running program called `name`.
    fn id(&self, name: &str) -> Result<SessionId, Fault> {
        match self.programs.get(name) {
            Some(Running { id: Some(id), .. }) => Ok(*id),
            _ if name == MAIN => Err(NO_PROGRAM.into()),
            Some(_) => Err(format!(
                "program `{name}` is not running: `close` ended it (`spawn -n {name}` starts \
                 it again)"
            )
            .into()),
            None => Err(format!("no program named `{name}` has been spawned").into()),
        }
    }

    /// Runs `f` on the session of the program `program` addresses; its error names the
    /// program when the script has named programs.
    fn with_session<R>(
        &mut self,
        program: &Program,
        f: impl FnOnce(&mut PtySession) -> crate::Result<R>,
    ) -> Result<R, Fault> {
        let name = self.name(program).to_owned();
        let id = self.id(&name)?;
        let session = self
            .group
            .get_mut(id)
            .expect("running programs are in the group");
        f(session).map_err(|e| self.in_program(&name, e))
    }

    /// The library's `error` about the program `name`, which it names when the script has
    /// named programs (as a group's errors do).
    fn in_program(&self, name: &str, error: Error) -> Fault {
        match error {
            error @ Error::InSession { .. } => Fault::Error(error),
            error if self.named => Fault::Error(Error::InSession {
                session: name.to_owned(),
                source: Box::new(error),
            }),
            error => Fault::Error(error),
        }
    }

    /// The session of the current program, if it runs.
    fn current_session(&mut self) -> Option<&mut PtySession> {
        let id = self.programs.get(&self.current)?.id?;
        self.group.get_mut(id)
    }

    /// The `abort_on` patterns of the program `name`: its own, then those for every
    /// program.
    fn aborts(&self, name: &str) -> Vec<&Abort> {
        let own = self.abort_for.get(name).into_iter().flatten();
        own.chain(&self.abort).collect()
    }

    /// Makes the `abort_on` patterns of the program `name` its background patterns
    /// (checked after the own patterns of every expect), if it runs.
    fn apply_abort(&mut self, name: &str) {
        let patterns: Vec<Pattern> = self
            .aborts(name)
            .into_iter()
            .map(|(p, _)| p.clone())
            .collect();
        if let Some(Running { id: Some(id), .. }) = self.programs.get(name) {
            if let Some(session) = self.group.get_mut(*id) {
                session.expect_after(patterns);
            }
        }
    }

    /// The failure for an expect that ended with `error`, of the program `name` (`None`: a
    /// group's wait, whose errors name their program already): the abort_on message for a
    /// background match, else the error, naming the program when the script has named
    /// programs.
    fn expect_failed(&self, name: Option<&str>, error: Error) -> Fault {
        let (name, error) = match (name, error) {
            (_, Error::InSession { session, source }) => match *source {
                source @ Error::Background { .. } => (session, source),
                source => {
                    return Fault::Error(Error::InSession {
                        session,
                        source: Box::new(source),
                    });
                }
            },
            (Some(name), error) => (name.to_owned(), error),
            (None, error) => return Fault::Error(error),
        };
        let Error::Background {
            index,
            found,
            pattern,
            ..
        } = error
        else {
            return self.in_program(&name, error);
        };
        let what = match self.aborts(&name).get(index) {
            Some((_, what)) => what.clone(),
            None => pattern,
        };
        let mut seen = found.before().to_vec();
        seen.extend_from_slice(found.matched());
        let start = seen.len().saturating_sub(ABORT_TAIL);
        let prefix = if self.named {
            format!("session `{name}`: ")
        } else {
            String::new()
        };
        format!(
            "{prefix}the output matched abort_on pattern {what}; it ended with: \"{}\"",
            escape(&seen[start..])
        )
        .into()
    }

    fn set(&mut self, setting: &Setting) -> Result<(), Fault> {
        match setting {
            Setting::Timeout(seconds) => {
                let timeout = value::seconds(&self.eval(seconds)?)?;
                self.settings.timeout = timeout;
                self.group.set_timeout(timeout);
                for (_, session) in self.group.iter_mut() {
                    session.set_timeout(timeout);
                }
            }
            Setting::Rows(n) | Setting::Cols(n) => {
                let n = value::dimension(&self.eval(n)?)?;
                if matches!(setting, Setting::Rows(_)) {
                    self.settings.pty.rows = n;
                } else {
                    self.settings.pty.cols = n;
                }
                let PtyConfig { rows, cols, .. } = self.settings.pty;
                let name = self.current.clone();
                if let Some(session) = self.current_session() {
                    let resized = session.set_window_size(rows, cols);
                    resized.map_err(|e| self.in_program(&name, e))?;
                }
                self.logs.resize(cols, rows);
            }
            Setting::Echo(on) => {
                let on = value::switch(&self.eval(on)?)?;
                self.settings.pty.echo = on;
                let name = self.current.clone();
                if let Some(session) = self.current_session() {
                    let set = session.set_echo(on);
                    set.map_err(|e| self.in_program(&name, e))?;
                }
            }
            Setting::Env(name, value) => {
                let name = self.eval(name)?;
                if !valid_env_name(&name) {
                    return Err(
                        "set env: a variable name must be non-empty, without `=` or NUL".into(),
                    );
                }
                let name = OsString::from_vec(name);
                let value = OsString::from_vec(self.eval(value)?);
                self.settings.env.push((name, value));
            }
            Setting::Dir(dir) => {
                self.settings.dir = Some(OsString::from_vec(self.eval(dir)?));
            }
            Setting::SendSlow(words) | Setting::SendHuman(words) => {
                let values = words
                    .iter()
                    .map(|w| self.eval(w))
                    .collect::<Result<Vec<_>, _>>()?;
                if matches!(setting, Setting::SendSlow(_)) {
                    self.settings.slow =
                        value::slow_typing(&values).map_err(|m| format!("set send_slow: {m}"))?;
                } else {
                    self.settings.human =
                        value::human_typing(&values).map_err(|m| format!("set send_human: {m}"))?;
                }
            }
            Setting::LineEnding(ending) => {
                let ending = self.eval(ending)?;
                if let Some(session) = self.current_session() {
                    session.set_line_ending(ending.clone());
                }
                self.settings.line_ending = Some(ending);
            }
            Setting::Screen(on) => {
                let on = value::switch(&self.eval(on)?)?;
                if on && cfg!(not(feature = "screen")) {
                    return Err(
                        "set screen: ptychat was built without its `screen` feature \
                                (a virtual terminal needs it)"
                            .into(),
                    );
                }
                self.settings.screen = on;
            }
        }
        Ok(())
    }

    /// Starts the program `name` (`None`: [`MAIN`]), which becomes the current one. A
    /// program of that name must have ended (or been closed) first.
    fn spawn(&mut self, name: Option<&str>, mut command: Command) -> Result<(), Fault> {
        let name = name.unwrap_or(MAIN);
        if name != MAIN {
            self.named = true;
        }
        if let Some(Running {
            id: Some(id),
            status,
        }) = self.programs.get(name)
        {
            let id = *id;
            if status.is_none() {
                let session = self
                    .group
                    .get_mut(id)
                    .expect("running programs are in the group");
                let alive = session.is_alive();
                if alive.map_err(|e| self.in_program(name, e))? {
                    return Err(if name == MAIN {
                        "a program is already running; `close` it or `wait` for it before \
                         spawning another"
                            .to_owned()
                    } else {
                        format!(
                            "program `{name}` is already running; `close -i {name}` it or \
                             `wait -i {name}` for it before spawning another with that name"
                        )
                    }
                    .into());
                }
            }
            // Dropping the old session reaps its (ended) program.
            drop(self.group.remove(id));
        }
        self.programs.remove(name);
        let s = &self.settings;
        command.pty_config(s.pty).timeout(s.timeout);
        for (name, value) in &s.env {
            command.env(name, value);
        }
        if let Some(dir) = &s.dir {
            command.current_dir(OsStr::new(dir));
        }
        let mut session = command.spawn()?;
        if self.give_screens || s.screen {
            session.enable_screen()?;
        }
        if let Some(ending) = &s.line_ending {
            session.set_line_ending(ending.clone());
        }
        let id = self.group.add_named(name, session);
        self.logs.attach(&mut self.group, id);
        self.programs.insert(
            name.to_owned(),
            Running {
                id: Some(id),
                status: None,
            },
        );
        self.apply_abort(name);
        self.current = name.to_owned();
        Ok(())
    }

    fn pattern(&self, spec: &PatternSpec) -> Result<Pattern, Fault> {
        Ok(match spec {
            PatternSpec::Text(word) => {
                let text = self.eval(word)?;
                if text.is_empty() {
                    return Err("the pattern is empty (an empty pattern matches at once)".into());
                }
                Pattern::exact(text)
            }
            PatternSpec::Glob(word) => Pattern::glob(&String::from_utf8_lossy(&self.eval(word)?))?,
            PatternSpec::Regex { pattern, .. } => pattern.clone(),
            PatternSpec::Eof => Pattern::eof(),
            PatternSpec::Timeout => Pattern::timeout(),
        })
    }

    /// An `expect`: on one program with its session's own expect, on several with one
    /// wait of the group.
    fn expect(&mut self, expect: &Expect) -> Result<Flow, Fault> {
        let timeout = match &expect.timeout {
            Some(seconds) => value::seconds(&self.eval(seconds)?)?,
            None => self.settings.timeout,
        };
        let default = match expect.programs.as_slice() {
            [] => std::slice::from_ref(&self.current),
            names => names,
        };
        // Each program named, in the order of first mention, with its patterns and the
        // branch of each.
        let mut waits: Vec<(String, Vec<Pattern>, Vec<usize>)> = Vec::new();
        for (b, branch) in expect.branches.iter().enumerate() {
            let pattern = self.pattern(&branch.pattern)?;
            let names = match branch.programs.as_slice() {
                [] => default,
                names => names,
            };
            for name in names {
                let k = match waits.iter().position(|(n, _, _)| n == name) {
                    Some(k) => k,
                    None => {
                        waits.push((name.clone(), Vec::new(), Vec::new()));
                        waits.len() - 1
                    }
                };
                waits[k].1.push(pattern.clone());
                waits[k].2.push(b);
            }
        }
        let ids = waits
            .iter()
            .map(|(name, _, _)| self.id(name))
            .collect::<Result<Vec<_>, _>>()?;
        loop {
            let (k, m) = if let [id] = ids[..] {
                let session = self
                    .group
                    .get_mut(id)
                    .expect("running programs are in the group");
                let found = session.expect_timeout(&waits[0].1, timeout);
                (
                    0,
                    found.map_err(|e| self.expect_failed(Some(&waits[0].0), e))?,
                )
            } else {
                let lists = ids.iter().zip(&waits).map(|(id, w)| (*id, w.1.as_slice()));
                let found = self.group.expect_timeout(lists, timeout);
                let found = found.map_err(|e| self.expect_failed(None, e))?;
                let k = ids.iter().position(|id| *id == found.id());
                (k.expect("a session of the wait"), found.into_match())
            };
            let (name, _, branches) = &waits[k];
            let branch = &expect.branches[branches[m.index()]];
            self.capture(&m, &branch.pattern, name);
            match self.block(&branch.action)? {
                Flow::Continue => continue,
                flow => return Ok(flow),
            }
        }
    }

    /// Sets `$0`, `$1`..., named groups, `$before` and `$program` from a match.
    fn capture(&mut self, m: &Match, spec: &PatternSpec, program: &str) {
        for name in self.captures.drain(..) {
            self.vars.remove(&name);
        }
        let mut set = |name: String, value: &[u8]| {
            self.vars.insert(name.clone(), value.to_vec());
            self.captures.push(name);
        };
        set("before".to_owned(), m.before());
        set("program".to_owned(), program.as_bytes());
        match spec {
            PatternSpec::Regex { names, .. } => {
                for (i, name) in names.iter().enumerate() {
                    let group = m.group(i).unwrap_or_default();
                    set(i.to_string(), group);
                    if let Some(name) = name {
                        set(name.clone(), group);
                    }
                }
            }
            _ => set("0".to_owned(), m.matched()),
        }
    }

    /// Waits for the program to exit (bounded by the timeout), reading its output
    /// meanwhile, and sets `$status`. As Expect's `wait`, it does not wait for the end of
    /// the output: a background job may hold the terminal open.
    fn wait(&mut self, program: &Program) -> Result<ExitStatus, Fault> {
        let name = self.name(program).to_owned();
        if let Some(Running {
            status: Some(status),
            ..
        }) = self.programs.get(&name)
        {
            let status = *status;
            self.set_status(&name, status);
            return Ok(status);
        }
        let timeout = self.settings.timeout;
        let who = self.who(program);
        let status = self
            .with_session(program, |s| s.wait_timeout(timeout))?
            .ok_or_else(|| {
                format!(
                    "{who} did not exit within {:?} (set timeout to wait longer)",
                    timeout.unwrap_or_default()
                )
            })?;
        self.set_status(&name, status);
        Ok(status)
    }

    /// `interact`: hands the user's terminal to the program until the escape key (the
    /// script goes on) or the end of the program (the script ends with its exit code).
    fn interact(&mut self, program: &Program, escape: Option<&Word>) -> Result<Flow, Fault> {
        let escape = match escape {
            Some(key) => crate::Interact::parse_escape(&String::from_utf8_lossy(&self.eval(key)?))?,
            None => Some(crate::DEFAULT_ESCAPE),
        };
        // What the script printed goes before what the program writes.
        let _ = self.out.flush();
        let options = crate::Interact::new().escape(escape);
        let name = self.name(program).to_owned();
        let id = self.id(&name)?;
        // The user's terminal shows the output; `-v` and `log_user` would show it twice.
        self.logs.set_echoes(false, &mut self.group, id);
        let session = self
            .group
            .get_mut(id)
            .expect("running programs are in the group");
        let outcome = session.interact_with(options);
        self.logs.set_echoes(true, &mut self.group, id);
        match outcome.map_err(|e| self.in_program(&name, e))? {
            crate::InteractOutcome::Exited(status) => {
                self.set_status(&name, status);
                Ok(Flow::Exit(status.shell_code()))
            }
            crate::InteractOutcome::Eof => {
                let status = self.wait(program)?;
                Ok(Flow::Exit(status.shell_code()))
            }
            crate::InteractOutcome::Interrupted(signal) => {
                Err(format!("interact was interrupted by {signal}").into())
            }
            _ => Ok(Flow::Next),
        }
    }

    /// Records how the program `name` ended, and sets `$status`.
    fn set_status(&mut self, name: &str, status: ExitStatus) {
        if let Some(running) = self.programs.get_mut(name) {
            running.status = Some(status);
        }
        let code = status.shell_code().to_string().into_bytes();
        self.vars.insert("status".to_owned(), code);
    }
}

/// Whether `name` is set only by matches (`$0`, `$1`..., `$before`).
fn is_capture(name: &str) -> bool {
    name == "before" || name.bytes().all(|b| b.is_ascii_digit())
}

const NO_PROGRAM: &str = "no program is running (start one with spawn)";
