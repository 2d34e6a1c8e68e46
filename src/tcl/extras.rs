//! Expect's `trap`, `stty`, `log_file` and `exp_internal`, and what they keep between
//! commands ([`Extras`], part of the shared state).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::signal::Signal;
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

use crate::sys::tcl::{Code, InterpRef};
use crate::{SignalPipe, Transcript};

use super::commands::tcl;
use super::state::Shared;
use super::text;

/// What `trap`, `stty`, `log_file` and `exp_internal` keep.
#[derive(Default)]
pub(crate) struct Extras {
    /// `trap` actions by signal.
    actions: BTreeMap<i32, Vec<u8>>,
    /// The pipe the trapped signals arrive on; `None` when no signal is trapped. Lent to a
    /// session while an `expect` waits (see `lend_pipe`).
    pub(crate) pipe: Option<SignalPipe>,
    /// Signals that arrived and whose actions have not run yet.
    pending: Vec<Signal>,
    /// The signal whose action is running (`trap -name` / `-number`).
    current: Option<Signal>,
    /// The `log_file`, shared with every session's transcript.
    pub(crate) log: LogFile,
    /// `exp_internal`: whether sessions trace to stderr, and the `-f` file.
    trace_stderr: bool,
    trace_file: Option<Arc<Mutex<File>>>,
    /// The terminal mode before the first `stty` (or `interact`) that changed it, put back
    /// at the end.
    saved_tty: Option<Termios>,
    /// `interact` holds our terminal in raw mode (its actions run in it, as in Expect):
    /// `send_user` and `send_error` then write a newline as `\r\n`, unless `-raw`.
    pub(crate) user_raw: bool,
}

impl Drop for Extras {
    fn drop(&mut self) {
        if let Some(saved) = self.saved_tty.take() {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &saved);
        }
    }
}

impl Extras {
    /// Keeps `mode` to put back at the end, unless an earlier change kept one.
    pub(crate) fn remember_tty(&mut self, mode: &Termios) {
        if self.saved_tty.is_none() {
            self.saved_tty = Some(mode.clone());
        }
    }

    /// What `send_user` / `send_error` write for `string`: newlines as `\r\n` while
    /// interact holds the terminal raw (Expect's translation), unless `raw`.
    pub(crate) fn cook<'s>(&self, string: &'s [u8], raw: bool) -> std::borrow::Cow<'s, [u8]> {
        if raw || !self.user_raw || !string.contains(&b'\n') {
            return std::borrow::Cow::Borrowed(string);
        }
        let mut cooked = Vec::with_capacity(string.len() + 8);
        for &b in string {
            if b == b'\n' {
                cooked.push(b'\r');
            }
            cooked.push(b);
        }
        std::borrow::Cow::Owned(cooked)
    }

    /// The signals with a `trap` action.
    pub(crate) fn trapped(&self) -> Vec<Signal> {
        self.actions
            .keys()
            .filter_map(|&n| Signal::try_from(n).ok())
            .collect()
    }

    /// Keeps signals that arrived (in a session's wait) for their actions.
    pub(crate) fn arrived(&mut self, signals: impl IntoIterator<Item = Signal>) {
        for signal in signals {
            if !self.pending.contains(&signal) {
                self.pending.push(signal);
            }
        }
    }

    /// A transcript for a new session: its output to the `log_file` (while `log_user`,
    /// whose flag is `user`, is on, or always after `log_file -a`).
    pub(crate) fn log_transcript(&self, user: Arc<AtomicBool>) -> Box<dyn Transcript> {
        Box::new(LogTranscript {
            log: self.log.clone(),
            user,
        })
    }

    /// The trace a new session gets under `exp_internal`; `None` when it is off.
    pub(crate) fn trace_sink(&self) -> Option<Box<dyn Write + Send>> {
        if !self.trace_stderr && self.trace_file.is_none() {
            return None;
        }
        Some(Box::new(TraceSink {
            stderr: self.trace_stderr,
            file: self.trace_file.clone(),
        }))
    }
}

/// The `log_file`: what the programs write and what `send_user` prints, appended to a
/// file while one is open.
#[derive(Clone, Default)]
pub(crate) struct LogFile(Arc<Mutex<Option<OpenLog>>>);

pub(crate) struct OpenLog {
    file: File,
    /// The file's name; empty for a channel (`-open` / `-leaveopen`).
    name: String,
    /// `-a`: programs' output is logged while `log_user` is off too.
    all: bool,
    /// `-noappend` (always said of a channel, as Expect's `-info` does).
    noappend: bool,
    /// The Tcl channel of `-open`, closed when logging stops (`-leaveopen`'s is not).
    channel: Option<Vec<u8>>,
}

impl LogFile {
    /// Whether a log is open.
    pub(crate) fn is_open(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Appends `bytes` to the file, if one is open (and, unless `always`, when `log_user`
    /// is on or the log was opened with `-a`).
    pub(crate) fn write(&self, bytes: &[u8], always: bool, log_user: bool) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(log) = log.as_mut() {
            if always || log_user || log.all {
                let _ = log.file.write_all(bytes);
            }
        }
    }
}

/// A session's output to the `log_file`.
struct LogTranscript {
    log: LogFile,
    user: Arc<AtomicBool>,
}

impl Transcript for LogTranscript {
    fn output(&mut self, bytes: &[u8]) {
        self.log
            .write(bytes, false, self.user.load(Ordering::Relaxed));
    }

    // What we send reaches the log as the terminal echoes it, as in Expect.
    fn input(&mut self, _bytes: &[u8]) {}
}

/// The `exp_internal` trace of one session: to stderr and/or the `-f` file.
struct TraceSink {
    stderr: bool,
    file: Option<Arc<Mutex<File>>>,
}

impl Write for TraceSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.stderr {
            std::io::stderr().lock().write_all(buf)?;
        }
        if let Some(file) = &self.file {
            file.lock()
                .unwrap_or_else(|e| e.into_inner())
                .write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A signal by name (`SIGINT`, `INT`, any case) or number.
fn signal(word: &str) -> Result<Signal, String> {
    let word = word.trim();
    let parsed = match word.parse::<i32>() {
        Ok(number) => Signal::try_from(number).ok(),
        Err(_) => {
            let upper = word.to_ascii_uppercase();
            let name = match upper.starts_with("SIG") {
                true => upper,
                false => format!("SIG{upper}"),
            };
            Signal::from_str(&name).ok()
        }
    };
    parsed.ok_or_else(|| format!("trap: invalid signal \"{word}\""))
}

/// Runs the actions of the trapped signals that arrived, in order of arrival; the code
/// of the first action that fails (or calls `exit`) is returned. Called before each Expect
/// command and inside the waits of `expect` and `sleep`.
pub(crate) fn run_traps(state: &Shared, interp: InterpRef<'_>) -> Code {
    loop {
        let (action, outer) = {
            let mut state = state.borrow_mut();
            let extras = &mut state.extras;
            if let Some(pipe) = extras.pipe.as_mut() {
                if let Ok(signals) = pipe.drain() {
                    extras.arrived(signals);
                }
            }
            if extras.pending.is_empty() {
                return Code::Ok;
            }
            let signal = extras.pending.remove(0);
            let Some(action) = extras.actions.get(&(signal as i32)).cloned() else {
                continue;
            };
            let outer = extras.current.replace(signal);
            (action, outer)
        };
        let code = interp.eval(&action);
        state.borrow_mut().extras.current = outer;
        if code == Code::Error {
            return code;
        }
    }
}

/// Sets the pipe to the signals that have actions (a new pipe is made before the old one
/// is dropped, so a trapped signal never meets its default action in between).
fn repipe(extras: &mut Extras) -> Result<(), String> {
    let trapped = extras.trapped();
    let new = match trapped.is_empty() {
        true => None,
        false => Some(SignalPipe::new(&trapped).map_err(|e| format!("trap: {e}"))?),
    };
    if let Some(old) = extras.pipe.as_mut() {
        if let Ok(signals) = old.drain() {
            extras.arrived(signals);
        }
    }
    extras.pipe = new;
    Ok(())
}

/// `trap [[ACTION] SIGNALS]`, `trap -name`, `trap -number`, `trap -max`.
pub(crate) fn trap(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let words: Vec<String> = words.iter().map(|w| text(w)).collect();
        let current = state.borrow().extras.current;
        match words.as_slice() {
            [] => return Ok(current.map_or(0, |s| s as i32).to_string().into_bytes()),
            [flag] if flag == "-number" => {
                return Ok(current.map_or(0, |s| s as i32).to_string().into_bytes());
            }
            [flag] if flag == "-name" => {
                return Ok(current
                    // Expect names it without the SIG prefix.
                    .map(|s| s.as_str().trim_start_matches("SIG").to_owned())
                    .unwrap_or_default()
                    .into_bytes());
            }
            [flag] if flag == "-max" => return Ok(b"64".to_vec()),
            _ => {}
        }
        let (action, list) = match words.as_slice() {
            [list] => (None, list),
            [action, list] => (Some(action.as_str()), list),
            _ => {
                return Err(
                    "usage: trap [command] signals (-code and -interp are not supported)".into(),
                );
            }
        };
        let names = interp.split_list(list.as_bytes()).map_err(|e| text(&e))?;
        let signals = names
            .iter()
            .map(|n| signal(&text(n)))
            .collect::<Result<Vec<Signal>, String>>()?;
        let mut state = state.borrow_mut();
        let extras = &mut state.extras;
        let Some(action) = action else {
            // One argument: the action of the (first) signal.
            let first = signals.first().ok_or("trap: no signal given")?;
            return Ok(match extras.actions.get(&(*first as i32)) {
                Some(action) => action.clone(),
                None => match crate::sys::signals::is_ignored(*first as i32) {
                    Ok(true) => b"SIG_IGN".to_vec(),
                    _ => b"SIG_DFL".to_vec(),
                },
            });
        };
        for &signal in &signals {
            if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
                return Err(format!("trap: {} cannot be trapped", signal.as_str()));
            }
        }
        let plain = match action {
            "SIG_IGN" => Some(true),
            "SIG_DFL" => Some(false),
            _ => None,
        };
        for &signal in &signals {
            match plain {
                Some(_) => extras.actions.remove(&(signal as i32)),
                None => extras
                    .actions
                    .insert(signal as i32, action.as_bytes().to_vec()),
            };
        }
        repipe(extras)?;
        if let Some(ignore) = plain {
            for &signal in &signals {
                crate::sys::signals::set_plain_disposition(signal as i32, ignore)
                    .map_err(|e| format!("trap: {}: {e}", signal.as_str()))?;
            }
        }
        Ok(Vec::new())
    })
}

/// `stty ARGS`: changes our terminal (standard input): `raw`, `-raw` (`cooked`), `echo`,
/// `-echo`, `rows N`, `columns N`; with no arguments, `rows` or `columns` alone, reports.
pub(crate) fn stty(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let words: Vec<String> = words.iter().map(|w| text(w)).collect();
        if words.is_empty() {
            return stty_program(&words);
        }
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        if !crate::sys::term::is_terminal(fd) {
            return Err("stty: standard input is not a terminal".into());
        }
        let get = || tcgetattr(fd).map_err(|e| format!("stty: {e}"));
        let mut mode = get()?;
        let before = mode.clone();
        let (mut rows, mut cols) =
            crate::sys::term::window_size(fd).map_err(|e| format!("stty: {e}"))?;
        let mut size_changed = false;
        let saved = state.borrow().extras.saved_tty.clone();
        let mut report = None;
        let mut rest = words.iter();
        while let Some(word) = rest.next() {
            use nix::sys::termios::{InputFlags, LocalFlags, OutputFlags};
            match word.as_str() {
                // Expect's raw leaves echo as it was.
                "raw" | "-cooked" => {
                    let echo = mode.local_flags.contains(LocalFlags::ECHO);
                    cfmakeraw(&mut mode);
                    mode.local_flags.set(LocalFlags::ECHO, echo);
                }
                // Back to the mode the terminal had before the first change, as Expect
                // goes back to its saved cooked mode.
                "-raw" | "cooked" => match &saved {
                    Some(saved) => mode = saved.clone(),
                    None => {
                        mode.local_flags |=
                            LocalFlags::ICANON | LocalFlags::ISIG | LocalFlags::IEXTEN;
                        mode.input_flags |= InputFlags::ICRNL | InputFlags::BRKINT;
                        mode.output_flags |= OutputFlags::OPOST | OutputFlags::ONLCR;
                    }
                },
                "echo" => mode.local_flags |= LocalFlags::ECHO,
                "-echo" => mode.local_flags -= LocalFlags::ECHO,
                "rows" | "columns" => {
                    let is_rows = word == "rows";
                    match rest.next() {
                        Some(n) => {
                            let n: u16 = n.trim().parse().map_err(|_| {
                                format!("stty: {word}: expected a number, got \"{n}\"")
                            })?;
                            if is_rows {
                                rows = n;
                            } else {
                                cols = n;
                            }
                            size_changed = true;
                        }
                        None => report = Some(if is_rows { rows } else { cols }),
                    }
                }
                // Anything else goes to the stty program, as in Expect.
                _ => return stty_program(&words),
            }
        }
        if mode != before {
            let mut state = state.borrow_mut();
            if state.extras.saved_tty.is_none() {
                state.extras.saved_tty = Some(before.clone());
            }
            tcsetattr(fd, SetArg::TCSANOW, &mode).map_err(|e| format!("stty: {e}"))?;
        }
        if size_changed {
            crate::sys::term::set_window_size(fd, rows, cols).map_err(|e| format!("stty: {e}"))?;
        }
        if let Some(n) = report {
            return Ok(n.to_string().into_bytes());
        }
        // The mode before, as Expect reports it.
        let echo = before
            .local_flags
            .contains(nix::sys::termios::LocalFlags::ECHO);
        let canon = before
            .local_flags
            .contains(nix::sys::termios::LocalFlags::ICANON);
        Ok(format!(
            "{} {}",
            if canon { "-raw" } else { "raw" },
            if echo { "echo" } else { "-echo" }
        )
        .into_bytes())
    })
}

/// Runs the `stty` program on our standard input with `words`; its output is the result.
fn stty_program(words: &[String]) -> Result<Vec<u8>, String> {
    let output = std::process::Command::new("stty")
        .args(words)
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| format!("stty: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr)
            .trim_end()
            .to_owned());
    }
    let mut out = output.stdout;
    while out.last() == Some(&b'\n') {
        out.pop();
    }
    Ok(out)
}

/// `log_file [-a] [-noappend] [FILE]`, `log_file [-a] -open|-leaveopen CHANNEL`: appends
/// what the programs write (and `send_user` prints) to FILE or to an open Tcl channel;
/// without either, stops logging (closing `-open`'s channel, as Expect does). `-info`
/// tells how the log was opened.
pub(crate) fn log_file(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    const USAGE: &str = "usage: log_file [-info] [-noappend] [[-a] file] [-[leave]open [open ...]]";
    tcl(interp, || {
        let mut noappend = false;
        let mut all = false;
        let mut file = None;
        // The channel, and whether it is closed when logging stops (`-open`).
        let mut channel: Option<(Vec<u8>, bool)> = None;
        let mut rest = words.iter();
        while let Some(word) = rest.next() {
            match text(word).as_str() {
                "-a" => all = true,
                "-noappend" => noappend = true,
                "-info" => return Ok(info(state)),
                flag @ ("-open" | "-leaveopen") => {
                    let name = rest.next().ok_or(USAGE)?;
                    channel = Some((name.clone(), flag == "-open"));
                }
                flag if flag.starts_with('-') && file.is_none() && flag.len() > 1 => {
                    return Err(format!("log_file: unknown flag \"{flag}\""));
                }
                _ if file.is_some() || channel.is_some() => return Err(USAGE.into()),
                name => file = Some(name.to_owned()),
            }
        }
        if file.is_some() && channel.is_some() {
            return Err(USAGE.into());
        }
        if file.is_none() && channel.is_none() {
            let closed = {
                let state = state.borrow();
                let mut log = state.extras.log.0.lock().unwrap_or_else(|e| e.into_inner());
                log.take().and_then(|log| log.channel)
            };
            if let Some(name) = closed {
                close_channel(interp, &name)?;
            }
            return Ok(Vec::new());
        }
        if state.borrow().extras.log.is_open() {
            return Err("cannot start logging without first stopping logging".into());
        }
        let opened = match (file, channel) {
            (Some(name), _) => OpenLog {
                file: std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(!noappend)
                    .truncate(noappend)
                    .open(&name)
                    .map_err(|e| format!("log_file: {name}: {e}"))?,
                name,
                all,
                noappend,
                channel: None,
            },
            (None, Some((name, close))) => {
                let fds = interp.channel_fds(&name).map_err(|e| text(&e))?;
                let fd = fds.write.ok_or("channel is not writable")?;
                // What the script wrote to the channel before goes first.
                let mut flush = b"flush ".to_vec();
                flush.extend_from_slice(&super::commands::tcl_word(&name));
                if interp.eval(&flush) != Code::Ok {
                    return Err(text(&interp.result()));
                }
                OpenLog {
                    file: File::from(fd),
                    name: String::new(),
                    all,
                    noappend: true,
                    channel: close.then_some(name),
                }
            }
            (None, None) => unreachable!("handled above"),
        };
        let state = state.borrow();
        *state.extras.log.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(opened);
        Ok(Vec::new())
    })
}

/// `log_file -info`: `-a` and `-noappend` as given, then the file's name (none for a
/// channel), as Expect tells them.
fn info(state: &Shared) -> Vec<u8> {
    let state = state.borrow();
    let log = state.extras.log.0.lock().unwrap_or_else(|e| e.into_inner());
    let Some(log) = log.as_ref() else {
        return Vec::new();
    };
    let mut out = String::new();
    if log.all {
        out.push_str("-a ");
    }
    if log.noappend {
        out.push_str("-noappend ");
    }
    out.push_str(&log.name);
    out.into_bytes()
}

/// Closes the Tcl channel `name` with Tcl's own `close`.
fn close_channel(interp: InterpRef<'_>, name: &[u8]) -> Result<(), String> {
    let mut script = b"::ptychat::close ".to_vec();
    script.extend_from_slice(&super::commands::tcl_word(name));
    match interp.eval(&script) {
        Code::Ok => Ok(()),
        _ => Err(text(&interp.result())),
    }
}

/// `exp_internal [-f FILE] 0|1`: the engine's trace of every program (what it reads,
/// what the patterns are matched against, what is sent) to stderr (1) and to FILE.
pub(crate) fn exp_internal(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let words: Vec<String> = words.iter().map(|w| text(w)).collect();
        let (file, value) = match words.as_slice() {
            [value] if value == "-info" => {
                return Ok(if state.borrow().extras.trace_stderr {
                    b"1"
                } else {
                    b"0"
                }
                .to_vec());
            }
            [value] => (None, value),
            [flag, file, value] if flag == "-f" => (Some(file), value),
            _ => return Err("usage: exp_internal [-f file] 0|1".into()),
        };
        let on = match value.trim() {
            "0" => false,
            "1" => true,
            other => return Err(format!("exp_internal: expected 0 or 1, got \"{other}\"")),
        };
        let file = match file {
            Some(name) => Some(Arc::new(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(name)
                    .map_err(|e| format!("exp_internal: {name}: {e}"))?,
            ))),
            None => None,
        };
        let mut state = state.borrow_mut();
        state.extras.trace_stderr = on;
        state.extras.trace_file = file;
        let ids: Vec<_> = state.group.ids();
        for id in ids {
            let sink = state.extras.trace_sink();
            if let Some(session) = state.group.get_mut(id) {
                session.set_trace(sink);
            }
        }
        Ok(Vec::new())
    })
}

/// `system ARGS`: runs the words, joined by spaces, with `/bin/sh -c` on our own standard
/// input, output and error (a program that must talk to the terminal can), and waits for
/// it. A failure is an error, as `exec`'s: "child process exited abnormally".
pub(crate) fn system(_: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let line: Vec<String> = words.iter().map(|w| text(w)).collect();
        let status = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(line.join(" "))
            .status()
            .map_err(|e| format!("system: couldn't run /bin/sh: {e}"))?;
        match status.success() {
            true => Ok(Vec::new()),
            false => Err("child process exited abnormally".into()),
        }
    })
}
