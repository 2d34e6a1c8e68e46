//! Running parsed commands against a program on a pseudo-terminal.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::Duration;

use crate::{
    Command, DEFAULT_TIMEOUT, Direction, Error, ExitStatus, Match, Pattern, PtyConfig, PtySession,
    escape,
};

use super::lex::{Part, Word};
use super::logs::{ScriptLogs, ScriptWriter, Sink, Slot};
use super::parse::{Expect, Op, PatternSpec, Setting, Stmt, valid_env_name};
use super::value::{self, ExitExpectation};
use super::{RunOptions, ScriptError};

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
}

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
    session: Option<PtySession>,
    /// How the current program ended, once known.
    status: Option<ExitStatus>,
    /// `abort_on` patterns with a description for the error message.
    abort: Vec<(Pattern, String)>,
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
            },
            session: None,
            status: None,
            abort: Vec::new(),
        }
    }

    /// Runs the script's commands; the result is the script's exit code.
    pub(crate) fn run(&mut self, stmts: &[Stmt]) -> Result<i32, ScriptError> {
        self.open_logs()?;
        let flow = self.block(stmts);
        for problem in self.logs.close(self.session.as_mut()) {
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
            self.logs
                .set(Slot::Verbose, Some(Sink::Echo(self.log.clone())), None);
        }
        if let Some(path) = &options.log {
            let sink = opened(Sink::log(path.as_os_str(), Direction::Both, false))?;
            self.logs.set(Slot::LogOption, sink, None);
        }
        if let Some(path) = &options.log_output {
            let sink = opened(Sink::log(path.as_os_str(), Direction::Output, false))?;
            self.logs.set(Slot::LogOutputOption, sink, None);
        }
        if let Some(path) = &options.record {
            let PtyConfig { rows, cols, .. } = self.settings.pty;
            let sink = opened(Sink::cast(path.as_os_str(), cols, rows, false))?;
            self.logs.set(Slot::RecordOption, sink, None);
        }
        Ok(())
    }

    /// Puts `sink` in `slot` (`None`: stops that log), on the running program too.
    fn set_log(&mut self, slot: Slot, sink: Option<Sink>) {
        if let Some(problem) = self.logs.set(slot, sink, self.session.as_mut()) {
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
            Op::Spawn(words) => {
                let argv = words
                    .iter()
                    .map(|w| self.eval(w).map(OsString::from_vec))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut command = Command::new(&argv[0]);
                command.args(&argv[1..]);
                self.spawn(command)?;
            }
            Op::SpawnShell(line) => {
                let line = OsString::from_vec(self.eval(line)?);
                self.spawn(Command::shell(line))?;
            }
            Op::Send(text) => {
                let text = self.eval(text)?;
                self.session()?.send(text)?;
            }
            Op::SendSecret(secret) => {
                let text = self.eval(&secret.0)?;
                self.session()?.send_secret(text)?;
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
            Op::SendLine(text) => {
                let text = match text {
                    Some(text) => self.eval(text)?,
                    None => Vec::new(),
                };
                self.session()?.send_line(text)?;
            }
            Op::SendControl(key) => {
                let key = value::control_key(&self.eval(key)?)?;
                self.session()?.send_control(key)?;
            }
            Op::SendEof => self.session()?.send_eof()?,
            Op::SendIntr => self.session()?.send_intr()?,
            Op::Expect(expect) => return self.expect(expect),
            Op::AbortOn(specs) => {
                let mut abort = Vec::new();
                for spec in specs {
                    let pattern = self.pattern(spec)?;
                    abort.push((pattern.clone(), pattern.to_string()));
                }
                self.abort = abort;
            }
            Op::Print(words) => {
                let mut line = self.join(words)?;
                line.push(b'\n');
                self.out
                    .write_all(&line)
                    .and_then(|()| self.out.flush())
                    .map_err(|e| Error::Io {
                        context: "writing to standard output",
                        source: e,
                    })?;
            }
            Op::Wait => {
                self.wait()?;
            }
            Op::AssertExit(expected) => {
                let expected = ExitExpectation::parse(&self.eval(expected)?)?;
                let status = self.wait()?;
                if !expected.accepts(status) {
                    let wanted = match expected {
                        ExitExpectation::Code(code) => format!("exit code {code}"),
                        ExitExpectation::Signal(signal) => format!("killed by {signal}"),
                    };
                    let session = self.session()?;
                    session.read_available()?;
                    let unmatched = session.buffer();
                    return Err(format!(
                        "assert_exit: expected the program to end with {wanted}, but it ended \
                         with {status}; {} unmatched bytes buffered, ending with: \"{}\"",
                        unmatched.len(),
                        crate::escape::escape_tail(unmatched, crate::engine::session::ERROR_TAIL)
                    )
                    .into());
                }
            }
            Op::Sleep(seconds) => {
                std::thread::sleep(value::duration(&self.eval(seconds)?)?);
            }
            Op::Close => {
                let Some(mut session) = self.session.take() else {
                    return Err(NO_PROGRAM.into());
                };
                let status = match self.status {
                    Some(status) => status,
                    None => session.terminate(CLOSE_GRACE)?,
                };
                drop(session);
                self.set_status(status);
            }
            Op::Kill(signal) => {
                let signal = match signal {
                    Some(signal) => value::signal(&self.eval(signal)?)?,
                    None => crate::Signal::SIGTERM,
                };
                self.session()?.kill(signal)?;
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
            Op::Interact(escape) => return self.interact(escape.as_ref()),
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

    fn session(&mut self) -> Result<&mut PtySession, Fault> {
        self.session.as_mut().ok_or_else(|| NO_PROGRAM.into())
    }

    fn set(&mut self, setting: &Setting) -> Result<(), Fault> {
        match setting {
            Setting::Timeout(seconds) => {
                let timeout = value::seconds(&self.eval(seconds)?)?;
                self.settings.timeout = timeout;
                if let Some(session) = &mut self.session {
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
                if let Some(session) = &mut self.session {
                    session.set_window_size(rows, cols)?;
                }
                self.logs.resize(cols, rows);
            }
            Setting::Echo(on) => {
                let on = value::switch(&self.eval(on)?)?;
                self.settings.pty.echo = on;
                if let Some(session) = &mut self.session {
                    session.set_echo(on)?;
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
            Setting::LineEnding(ending) => {
                let ending = self.eval(ending)?;
                if let Some(session) = &mut self.session {
                    session.set_line_ending(ending.clone());
                }
                self.settings.line_ending = Some(ending);
            }
        }
        Ok(())
    }

    fn spawn(&mut self, mut command: Command) -> Result<(), Fault> {
        if self.status.is_none() {
            if let Some(session) = &mut self.session {
                if session.is_alive()? {
                    return Err("a program is already running; `close` it or `wait` for it \
                                before spawning another"
                        .into());
                }
            }
        }
        // Dropping the old session reaps its (ended) program.
        self.session = None;
        self.status = None;
        let s = &self.settings;
        command.pty_config(s.pty).timeout(s.timeout);
        for (name, value) in &s.env {
            command.env(name, value);
        }
        if let Some(dir) = &s.dir {
            command.current_dir(OsStr::new(dir));
        }
        let mut session = command.spawn()?;
        if let Some(ending) = &s.line_ending {
            session.set_line_ending(ending.clone());
        }
        self.logs.attach(&mut session);
        self.session = Some(session);
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

    fn expect(&mut self, expect: &Expect) -> Result<Flow, Fault> {
        let timeout = match &expect.timeout {
            Some(seconds) => value::seconds(&self.eval(seconds)?)?,
            None => self.settings.timeout,
        };
        let mut patterns = Vec::with_capacity(expect.branches.len() + self.abort.len());
        for branch in &expect.branches {
            patterns.push(self.pattern(&branch.pattern)?);
        }
        patterns.extend(self.abort.iter().map(|(pattern, _)| pattern.clone()));
        loop {
            let m = self.session()?.expect_timeout(&patterns, timeout)?;
            let Some(branch) = expect.branches.get(m.index()) else {
                let (_, what) = &self.abort[m.index() - expect.branches.len()];
                let mut seen = m.before().to_vec();
                seen.extend_from_slice(m.matched());
                let start = seen.len().saturating_sub(ABORT_TAIL);
                return Err(format!(
                    "the output matched abort_on pattern {what}; it ended with: \"{}\"",
                    escape(&seen[start..])
                )
                .into());
            };
            self.capture(&m, &branch.pattern);
            match self.block(&branch.action)? {
                Flow::Continue => continue,
                flow => return Ok(flow),
            }
        }
    }

    /// Sets `$0`, `$1`..., named groups and `$before` from a match.
    fn capture(&mut self, m: &Match, spec: &PatternSpec) {
        for name in self.captures.drain(..) {
            self.vars.remove(&name);
        }
        let mut set = |name: String, value: &[u8]| {
            self.vars.insert(name.clone(), value.to_vec());
            self.captures.push(name);
        };
        set("before".to_owned(), m.before());
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
    fn wait(&mut self) -> Result<ExitStatus, Fault> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let timeout = self.settings.timeout;
        let status = self.session()?.wait_timeout(timeout)?.ok_or_else(|| {
            format!(
                "the program did not exit within {:?} (set timeout to wait longer)",
                timeout.unwrap_or_default()
            )
        })?;
        self.set_status(status);
        Ok(status)
    }

    /// `interact`: hands the user's terminal to the program until the escape key (the
    /// script goes on) or the end of the program (the script ends with its exit code).
    fn interact(&mut self, escape: Option<&Word>) -> Result<Flow, Fault> {
        let escape = match escape {
            Some(key) => crate::Interact::parse_escape(&String::from_utf8_lossy(&self.eval(key)?))?,
            None => Some(crate::DEFAULT_ESCAPE),
        };
        // What the script printed goes before what the program writes.
        let _ = self.out.flush();
        let options = crate::Interact::new().escape(escape);
        // The user's terminal shows the output; `-v` and `log_user` would show it twice.
        let session = self.session.as_mut().ok_or(NO_PROGRAM)?;
        self.logs.set_echoes(false, session);
        let outcome = session.interact_with(options);
        self.logs.set_echoes(true, session);
        match outcome? {
            crate::InteractOutcome::Exited(status) => {
                self.set_status(status);
                Ok(Flow::Exit(status.shell_code()))
            }
            crate::InteractOutcome::Eof => {
                let status = self.wait()?;
                Ok(Flow::Exit(status.shell_code()))
            }
            crate::InteractOutcome::Interrupted(signal) => {
                Err(format!("interact was interrupted by {signal}").into())
            }
            _ => Ok(Flow::Next),
        }
    }

    fn set_status(&mut self, status: ExitStatus) {
        self.status = Some(status);
        let code = status.shell_code().to_string().into_bytes();
        self.vars.insert("status".to_owned(), code);
    }
}

/// Whether `name` is set only by matches (`$0`, `$1`..., `$before`).
fn is_capture(name: &str) -> bool {
    name == "before" || name.bytes().all(|b| b.is_ascii_digit())
}

const NO_PROGRAM: &str = "no program is running (start one with spawn)";
