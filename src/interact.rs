//! Handing the user's terminal to the program and taking it back: [`Session::interact`].
//!
//! "Log me in, then give me the shell": a script drives the program through a login, then
//! [`interact`](Session::interact) connects the person at the keyboard to it until they
//! press the escape key (the session stays alive for more `expect`s) or the program exits.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask, raise};
use nix::sys::termios::{SpecialCharacterIndices, tcgetattr};

use crate::error::{Context, Error, Result};
use crate::fork::Forked;
use crate::matched::{Match, MatchKind};
use crate::pattern::{Kind, Pattern};
use crate::pipes::Pipes;
use crate::poll::{is_ready, wait};
use crate::process::{Child, ChildTransport, ExitStatus};
use crate::pty::Pty;
use crate::scanner::Scanner;
use crate::session::{Session, control_byte};
use crate::signals::SignalPipe;
use crate::stream::{FdPair, FdStream};
use crate::sys;
use crate::sys::terminal::{RawMode, is_ignored, is_terminal};
use crate::transport::Transport;

/// The default escape byte: Ctrl-] (0x1d), as in telnet and pexpect.
pub const DEFAULT_ESCAPE: u8 = 0x1d;

/// How much the user may type ahead of a program that does not read, before interact stops
/// reading the user's input until the program catches up.
const MAX_PENDING_INPUT: usize = 64 * 1024;

/// How much of each stream hooks keep for matching, at least: a match must fit in it.
const MIN_WINDOW: usize = 8 * 1024;

/// One read of the user's input.
const INPUT_CHUNK: usize = 16 * 1024;

/// The signals that end the process by default and that interact catches while the
/// terminal is in raw mode, to put it back before dying.
const TERMINATING: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

/// What an interact hook tells the loop to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep interacting.
    Continue,
    /// Stop interacting: [`interact`](Session::interact) returns
    /// [`InteractOutcome::Stopped`] with the program still running.
    Stop,
}

/// How [`interact`](Session::interact) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InteractOutcome {
    /// The user typed the escape byte. The program is still running; the session can be
    /// used again.
    Escaped,
    /// A hook returned [`Flow::Stop`]. The program is still running.
    Stopped,
    /// The program's output ended and the program exited like this. All of its output has
    /// been written to the user's output.
    Exited(ExitStatus),
    /// The program's output ended, and there is no process to wait for (a stream session),
    /// or it did not exit within the session's timeout.
    Eof,
    /// A terminating signal (SIGTERM, SIGINT or SIGHUP) arrived while the terminal was in
    /// raw mode. The terminal and the signal's previous disposition were restored and the
    /// signal raised again; this is returned only if that did not end the process (its
    /// previous disposition was a handler that returned, or it is blocked).
    Interrupted(Signal),
}

/// What a hook can do besides choosing the [`Flow`]: send bytes to the program and show
/// bytes to the user.
#[derive(Debug, Default)]
pub struct Reply {
    send: Vec<u8>,
    show: Vec<u8>,
}

impl Reply {
    /// Sends `data` to the program (after the bytes that passed through with the match;
    /// filters do not apply).
    pub fn send(&mut self, data: impl AsRef<[u8]>) {
        self.send.extend_from_slice(data.as_ref());
    }

    /// Writes `data` to the user's output (after the bytes that passed through with the
    /// match).
    pub fn show(&mut self, data: impl AsRef<[u8]>) {
        self.show.extend_from_slice(data.as_ref());
    }
}

type Callback<'a> = Box<dyn FnMut(&Match, &mut Reply) -> Flow + 'a>;
type Filter<'a> = Box<dyn FnMut(&[u8]) -> Vec<u8> + 'a>;

/// Options for [`Session::interact_with`]: the escape byte, hooks and filters on both
/// directions, and which fds stand for the user.
///
/// ```no_run
/// use ptychat::{Command, Flow, Interact, InteractOutcome};
///
/// let mut shell = Command::new("bash").timeout(None).spawn()?;
/// let outcome = shell.interact_with(
///     Interact::new()
///         .escape(Some(0x18)) // Ctrl-X gives control back
///         .on_output("Password:", |_, reply| {
///             reply.show("\r\n[ptychat: not typing that for you]\r\n");
///             Flow::Continue
///         })
///         .on_input("logout", |_, _| Flow::Stop),
/// )?;
/// if outcome == InteractOutcome::Escaped {
///     shell.send_line("echo back in the script")?;
/// }
/// # Ok::<(), ptychat::Error>(())
/// ```
///
/// # Hooks
///
/// [`on_input`](Interact::on_input) and [`on_output`](Interact::on_output) match a
/// [`Pattern`] (exact text, a regex or [`nbytes`](Pattern::nbytes)) incrementally on the
/// bytes as they pass: what the user typed, or what the program wrote, before any filter.
/// Hooks observe: the bytes are passed on whether or not they match (change them with a
/// filter). When a match is found its callback runs with the [`Match`] (captures included)
/// and a [`Reply`]; several matches in one stream do not overlap, and the one that starts
/// first wins, as in `expect`. Each direction keeps the last 8 KiB (or the longest exact
/// needle or `nbytes` count, if larger) of unmatched bytes for matching, so a match must
/// fit in that; `^` and `\A` refer to the start of that window, use `(?m)^` for line starts.
///
/// Each read is handled as a whole: it is passed on (filtered), then the callbacks of the
/// matches it completed run in order until one returns [`Flow::Stop`]; then what they sent
/// is queued for the program and what they showed is written to the user.
///
/// # Filters
///
/// [`input_filter`](Interact::input_filter) and [`output_filter`](Interact::output_filter)
/// turn each chunk read into the bytes passed on (they see reads as they come: a word may
/// be split across two calls).
pub struct Interact<'a> {
    escape: Option<u8>,
    input_hooks: Vec<(Pattern, Callback<'a>)>,
    output_hooks: Vec<(Pattern, Callback<'a>)>,
    input_filter: Option<Filter<'a>>,
    output_filter: Option<Filter<'a>>,
    stdin: Option<BorrowedFd<'a>>,
    stdout: Option<BorrowedFd<'a>>,
    stderr: Option<BorrowedFd<'a>>,
}

impl fmt::Debug for Interact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn patterns(hooks: &[(Pattern, Callback<'_>)]) -> Vec<String> {
            hooks.iter().map(|(p, _)| p.to_string()).collect()
        }
        f.debug_struct("Interact")
            .field("escape", &self.escape)
            .field("input_hooks", &patterns(&self.input_hooks))
            .field("output_hooks", &patterns(&self.output_hooks))
            .field("input_filter", &self.input_filter.is_some())
            .field("output_filter", &self.output_filter.is_some())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}

impl Default for Interact<'_> {
    fn default() -> Self {
        Interact::new()
    }
}

impl<'a> Interact<'a> {
    /// The defaults: escape byte Ctrl-] ([`DEFAULT_ESCAPE`]), no hooks, no filters, the
    /// process's stdin, stdout and stderr.
    pub fn new() -> Self {
        Interact {
            escape: Some(DEFAULT_ESCAPE),
            input_hooks: Vec::new(),
            output_hooks: Vec::new(),
            input_filter: None,
            output_filter: None,
            stdin: None,
            stdout: None,
            stderr: None,
        }
    }

    /// The byte that, typed by the user, ends interact with [`InteractOutcome::Escaped`];
    /// `None`: no escape. The byte is not sent to the program; whatever came in the same
    /// read after it is dropped. See [`parse_escape`](Interact::parse_escape).
    pub fn escape(mut self, byte: Option<u8>) -> Self {
        self.escape = byte;
        self
    }

    /// Runs `callback` whenever `pattern` matches what the user types (see
    /// [Hooks](Interact#hooks)).
    pub fn on_input(
        mut self,
        pattern: impl Into<Pattern>,
        callback: impl FnMut(&Match, &mut Reply) -> Flow + 'a,
    ) -> Self {
        self.input_hooks.push((pattern.into(), Box::new(callback)));
        self
    }

    /// Runs `callback` whenever `pattern` matches what the program writes (see
    /// [Hooks](Interact#hooks)).
    pub fn on_output(
        mut self,
        pattern: impl Into<Pattern>,
        callback: impl FnMut(&Match, &mut Reply) -> Flow + 'a,
    ) -> Self {
        self.output_hooks.push((pattern.into(), Box::new(callback)));
        self
    }

    /// Transforms what the user types before it is sent to the program.
    pub fn input_filter(mut self, filter: impl FnMut(&[u8]) -> Vec<u8> + 'a) -> Self {
        self.input_filter = Some(Box::new(filter));
        self
    }

    /// Transforms what the program writes before the user sees it.
    pub fn output_filter(mut self, filter: impl FnMut(&[u8]) -> Vec<u8> + 'a) -> Self {
        self.output_filter = Some(Box::new(filter));
        self
    }

    /// Reads the user's input from `fd` instead of the process's stdin (a pipe, a pty
    /// slave...). If it is a terminal, it is put in raw mode for the duration.
    pub fn stdin(mut self, fd: BorrowedFd<'a>) -> Self {
        self.stdin = Some(fd);
        self
    }

    /// Writes the program's output to `fd` instead of the process's stdout.
    pub fn stdout(mut self, fd: BorrowedFd<'a>) -> Self {
        self.stdout = Some(fd);
        self
    }

    /// Writes the program's separate stderr (open3 sessions) to `fd` instead of the
    /// process's stderr.
    pub fn stderr(mut self, fd: BorrowedFd<'a>) -> Self {
        self.stderr = Some(fd);
        self
    }

    /// Parses an escape key as written on a command line: `^X` for Ctrl-X (a letter, or
    /// one of `@ [ \ ] ^ _ ?`), or `none` for no escape.
    ///
    /// ```
    /// use ptychat::Interact;
    /// assert_eq!(Interact::parse_escape("^]")?, Some(0x1d));
    /// assert_eq!(Interact::parse_escape("^x")?, Some(0x18));
    /// assert_eq!(Interact::parse_escape("none")?, None);
    /// assert!(Interact::parse_escape("x").is_err());
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn parse_escape(spec: &str) -> Result<Option<u8>> {
        if spec == "none" {
            return Ok(None);
        }
        let mut chars = spec.chars();
        match (chars.next(), chars.next(), chars.next()) {
            (Some('^'), Some(c), None) => control_byte(c).map(Some),
            _ => None,
        }
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "escape key `{spec}`: expected ^X for Ctrl-X (a letter or one of @ [ \\ ] ^ _ ?) \
                 or `none`"
            ))
        })
    }

    /// The size of the user's terminal as (rows, columns): stdin's, or stdout's if stdin is
    /// not a terminal; `None` if neither is. Handy to spawn a program sized like the
    /// terminal it will be handed (interact also copies the size when it starts).
    ///
    /// ```no_run
    /// let (rows, cols) = ptychat::Interact::terminal_size().unwrap_or((24, 80));
    /// let mut shell = ptychat::Command::new("bash").window_size(rows, cols).spawn()?;
    /// shell.interact()?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn terminal_size() -> Option<(u16, u16)> {
        let stdin = io::stdin();
        let stdout = io::stdout();
        [stdin.as_fd(), stdout.as_fd()]
            .into_iter()
            .filter(|fd| is_terminal(fd))
            .find_map(|fd| sys::window_size(fd).ok())
            .filter(|&(rows, cols)| rows > 0 && cols > 0)
    }
}

/// Transports that [`interact`](Session::interact) can drive. Every transport of this
/// crate implements it; for your own [`Transport`], the defaults (no terminal, no process)
/// are an empty `impl`.
pub trait Interactive: Transport {
    /// The terminal the program runs on (a pty master), if any: its window size follows
    /// the user's, and the end of the user's input is passed on as its end-of-file
    /// character. Without one, the end of input is [`close_input`](Transport::close_input).
    fn terminal(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// The process to wait for once its output ends, if any.
    fn process(&mut self) -> Option<&mut Child> {
        None
    }
}

impl Interactive for Pty {
    fn terminal(&self) -> Option<BorrowedFd<'_>> {
        Some(self.master())
    }

    fn process(&mut self) -> Option<&mut Child> {
        Some(self.child_mut())
    }
}

impl Interactive for Pipes {
    fn process(&mut self) -> Option<&mut Child> {
        Some(self.child_mut())
    }
}

impl Interactive for Forked {
    fn process(&mut self) -> Option<&mut Child> {
        Some(self.child_mut())
    }
}

impl<S: AsFd> Interactive for FdStream<S> {}

impl Interactive for FdPair {}

impl<T: Interactive> Session<T> {
    /// Connects the user to the program: what the user types goes to the program, what the
    /// program writes goes to the user, until the user types the escape byte (Ctrl-]), or the
    /// program's output ends. The same as [`interact_with`](Session::interact_with) with
    /// [`Interact::new()`].
    ///
    /// ```no_run
    /// use ptychat::{Command, InteractOutcome};
    /// // Log in with the script, then hand the shell over.
    /// let (rows, cols) = ptychat::Interact::terminal_size().unwrap_or((24, 80));
    /// let mut ssh = Command::new("ssh").arg("me@host").window_size(rows, cols).spawn()?;
    /// ssh.expect("password: ")?;
    /// ssh.send_secret("hunter2\r")?;
    /// match ssh.interact()? {
    ///     InteractOutcome::Exited(status) => println!("ssh ended: {status}"),
    ///     InteractOutcome::Escaped => println!("back in the program; ssh is still running"),
    ///     other => println!("{other:?}"),
    /// }
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn interact(&mut self) -> Result<InteractOutcome> {
        self.interact_with(Interact::new())
    }

    /// Connects the user to the program, with hooks, filters and fds from `options`.
    ///
    /// - **Order.** Output the session has already buffered (not matched by earlier
    ///   `expect`s) is passed to the user first. From then on output is passed on as it
    ///   arrives; transcripts see it as usual. What the user types is written straight to
    ///   the program and is not reported to transcripts or the trace (it may be a password).
    /// - **The user's terminal.** If the user's input is a terminal, it is put in raw mode
    ///   (every byte, Ctrl-C included, goes to the program, whose own terminal interprets
    ///   it) and its exact previous mode is put back when interact returns, fails or
    ///   panics (a guard restores it while unwinding; with `panic = "abort"` nothing can).
    /// - **Signals.** While the terminal is raw, SIGTERM, SIGINT and SIGHUP (those not
    ///   ignored) are caught through a [`SignalPipe`], so the loop sees them. When one
    ///   arrives, interact puts the terminal's mode back, gives the signals their previous
    ///   dispositions and raises the signal again (blocked in this thread until the old
    ///   disposition is back, so none can slip through in between): with the default
    ///   disposition the process dies of it, as it would have without interact. If the
    ///   process survives (the previous disposition is a handler that returns), interact
    ///   returns [`InteractOutcome::Interrupted`]. A terminating signal that comes while
    ///   interact is returning is passed on the same way, never swallowed. SIGWINCH is
    ///   caught too, while the window size is followed. Ctrl-C, Ctrl-Z and Ctrl-\ typed in
    ///   raw mode are bytes for the program, not signals for us.
    /// - **Window size.** If the user's input (or else output) is a terminal and the
    ///   program runs on one, its size is copied to the program's terminal at the start and
    ///   on every SIGWINCH (the program gets SIGWINCH in turn), best effort.
    /// - **End of input.** When the user's input ends (a pipe or file; a terminal hang-up),
    ///   the end is passed on once everything typed has been written: on a terminal as its
    ///   end-of-file character (twice if the input did not end with a newline: the first
    ///   ends the partial line), otherwise by closing the program's input. Interact then
    ///   keeps passing output on until it ends.
    /// - **End of output.** When the program's output ends, the rest of it is written to
    ///   the user and the program is waited for, up to the session's
    ///   [timeout](Session::timeout): [`InteractOutcome::Exited`], or
    ///   [`InteractOutcome::Eof`] if it has not exited by then or there is no process.
    /// - **Escape and stop.** After the escape byte or a [`Flow::Stop`], what the user typed
    ///   before it is still written to the program (output meanwhile is passed on), for up
    ///   to the session's timeout, then interact returns with the session usable.
    /// - **Waiting** is one `poll(2)` over the user's input, the program's output (and
    ///   input, while bytes wait to be written) and the signal pipe: no threads, no
    ///   sleeping, no busy loop.
    ///
    /// Fails with [`Error::InvalidArgument`] for a hook pattern that is `eof`, `timeout`
    /// or a signal, or that matches empty text.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::fd::AsFd;
    /// use ptychat::{Command, ExitStatus, Flow, Interact, InteractOutcome};
    ///
    /// // The "user" is a pair of pipes here; usually it is the terminal. The keyboard stays
    /// // open (nothing typed yet): the end of the user's input would reach the program.
    /// let (user_in, keyboard) = nix::unistd::pipe()?;
    /// let (screen, user_out) = nix::unistd::pipe()?;
    /// let mut s = Command::shell("printf 'Name? '; read name; echo \"hi $name\"").spawn()?;
    /// let outcome = s.interact_with(
    ///     Interact::new()
    ///         .stdin(user_in.as_fd())
    ///         .stdout(user_out.as_fd())
    ///         .on_output("Name? ", |_, reply| { reply.send("Ann\r"); Flow::Continue })
    ///         .output_filter(|bytes| bytes.to_ascii_uppercase()),
    /// )?;
    /// assert_eq!(outcome, InteractOutcome::Exited(ExitStatus::Exited(0)));
    /// drop((user_out, keyboard));
    /// let mut seen = String::new();
    /// std::fs::File::from(screen).read_to_string(&mut seen)?;
    /// assert_eq!(seen, "NAME? ANN\r\nHI ANN\r\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn interact_with(&mut self, options: Interact<'_>) -> Result<InteractOutcome> {
        let Interact {
            escape,
            input_hooks,
            output_hooks,
            input_filter,
            output_filter,
            stdin,
            stdout,
            stderr,
        } = options;
        let (input_patterns, input_callbacks): (Vec<Pattern>, Vec<Callback<'_>>) =
            input_hooks.into_iter().unzip();
        let (output_patterns, output_callbacks): (Vec<Pattern>, Vec<Callback<'_>>) =
            output_hooks.into_iter().unzip();
        for pattern in input_patterns.iter().chain(&output_patterns) {
            check_hook_pattern(pattern)?;
        }
        let (std_in, std_out, std_err) = (io::stdin(), io::stdout(), io::stderr());
        let user_in = stdin.unwrap_or_else(|| std_in.as_fd());
        let user_out = stdout.unwrap_or_else(|| std_out.as_fd());
        let user_err = stderr.unwrap_or_else(|| std_err.as_fd());

        let raw_input = is_terminal(user_in);
        let size_from = if raw_input {
            Some(user_in)
        } else if is_terminal(user_out) {
            Some(user_out)
        } else {
            None
        };
        let size_from = size_from.filter(|_| self.transport().terminal().is_some());

        let mut watched = Vec::new();
        if raw_input {
            for signal in TERMINATING {
                if !is_ignored(signal).context("reading a signal disposition")? {
                    watched.push(signal);
                }
            }
        }
        if size_from.is_some() {
            watched.push(Signal::SIGWINCH);
        }
        // The pipe before raw mode, and raw mode undone before the pipe is dropped (locals
        // drop in reverse order, also when unwinding): a signal is caught whenever the
        // terminal is raw.
        let mut signals = match watched.is_empty() {
            true => None,
            false => Some(SignalPipe::new(&watched)?),
        };
        let raw = match raw_input {
            true => Some(RawMode::enter(user_in).context("putting the terminal in raw mode")?),
            false => None,
        };

        let mut relay = Relay {
            escape,
            user_in,
            user_out,
            user_err,
            size_from,
            input_watch: Watch::new(&input_patterns),
            output_watch: Watch::new(&output_patterns),
            input_callbacks,
            output_callbacks,
            input_filter,
            output_filter,
            pending: Vec::new(),
            input_open: true,
            eof_to_forward: false,
            last_typed: None,
            can_write: true,
            stopping: None,
        };
        let ended = relay.run(self, signals.as_mut());
        drop(relay);

        let restored = raw.map(RawMode::restore).transpose();
        let mut caught = match &ended {
            Ok(Ended::Signal(signal)) => vec![*signal],
            _ => Vec::new(),
        };
        if let Some(pipe) = signals {
            hand_back_signals(pipe, &mut caught)?;
        }
        match ended? {
            Ended::Signal(signal) => Ok(InteractOutcome::Interrupted(signal)),
            Ended::Outcome(outcome) => {
                restored.context("restoring the terminal mode")?;
                Ok(outcome)
            }
        }
    }
}

/// Gives the signals back to their previous dispositions, and delivers to those the
/// terminating signals that interact caught (`caught`, plus any that arrived since the
/// loop last looked), as if interact had never caught them. Call with the terminal
/// already restored.
///
/// The terminating signals are blocked in this thread meanwhile, so that one arriving
/// between the last look at the pipe and the restoring of its disposition is not lost:
/// it stays pending and is delivered, with its previous disposition, when the mask is
/// put back. A signal whose previous disposition is the default then ends the process.
fn hand_back_signals(mut pipe: SignalPipe, caught: &mut Vec<Signal>) -> Result<()> {
    let mut terminating = SigSet::empty();
    for signal in TERMINATING {
        terminating.add(signal);
    }
    let mut mask = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&terminating), Some(&mut mask))
        .context("blocking signals")?;
    for signal in pipe.drain().unwrap_or_default() {
        if TERMINATING.contains(&signal) && !caught.contains(&signal) {
            caught.push(signal);
        }
    }
    drop(pipe);
    for &signal in caught.iter() {
        // Pending until the mask is put back.
        let _ = raise(signal);
    }
    pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None).context("restoring the signal mask")
}

/// Hooks match data: an end, a deadline or a signal never comes through the stream, and a
/// pattern that matches empty text would match forever.
fn check_hook_pattern(pattern: &Pattern) -> Result<()> {
    let matches_empty = match &pattern.kind {
        Kind::Exact(finder) => finder.needle().is_empty(),
        Kind::Regex(re) => re.regex.is_match(b""),
        Kind::NBytes(n) => *n == 0,
        _ => {
            return Err(Error::InvalidArgument(format!(
                "{pattern} cannot be an interact hook: hooks match text, regexes or nbytes"
            )));
        }
    };
    if matches_empty {
        return Err(Error::InvalidArgument(format!(
            "the interact hook pattern {pattern} matches empty text"
        )));
    }
    Ok(())
}

/// Why the relay loop ended.
enum Ended {
    Outcome(InteractOutcome),
    /// A terminating signal: restore everything, then raise it.
    Signal(Signal),
}

/// A chunk of the program's output.
enum Chunk {
    Data(Vec<u8>),
    /// The output ended; the last bytes.
    End(Vec<u8>),
    Nothing,
}

/// Incremental matching of hook patterns on one direction of the stream.
struct Watch<'p> {
    patterns: &'p [Pattern],
    scanners: Vec<Scanner<'p>>,
    /// The unmatched bytes kept for matching.
    window: Vec<u8>,
    /// The absolute stream position of `window[0]`.
    base: u64,
    keep: usize,
}

impl<'p> Watch<'p> {
    fn new(patterns: &'p [Pattern]) -> Self {
        let keep = patterns
            .iter()
            .map(|p| match &p.kind {
                Kind::Exact(finder) => finder.needle().len(),
                Kind::NBytes(n) => *n,
                _ => 0,
            })
            .fold(MIN_WINDOW, usize::max);
        Watch {
            patterns,
            scanners: patterns.iter().map(|p| Scanner::new(p, 0)).collect(),
            window: Vec::new(),
            base: 0,
            keep,
        }
    }

    /// Adds `data` to the stream; returns the matches it completed, in stream order.
    fn feed(&mut self, data: &[u8]) -> Vec<Match> {
        if self.patterns.is_empty() {
            return Vec::new();
        }
        self.window.extend_from_slice(data);
        let mut found = Vec::new();
        loop {
            let mut best: Option<(usize, crate::scanner::Found)> = None;
            for (index, scanner) in self.scanners.iter_mut().enumerate() {
                if let Some(f) = scanner.find(&self.window, self.base) {
                    if best
                        .as_ref()
                        .is_none_or(|(_, b)| f.range.start < b.range.start)
                    {
                        best = Some((index, f));
                    }
                }
            }
            let Some((index, f)) = best else { break };
            let start = f.range.start;
            let end = f.range.end;
            let (groups, names) = match f.groups {
                Some(groups) => (
                    groups
                        .ranges
                        .into_iter()
                        .map(|g| g.map(|r| r.start - start..r.end - start))
                        .collect(),
                    groups.names,
                ),
                None => (Vec::new(), std::sync::Arc::from([])),
            };
            found.push(Match {
                index,
                kind: MatchKind::Data,
                before: self.window[..start].to_vec(),
                matched: self.window[start..end].to_vec(),
                groups,
                names,
            });
            // Matches do not overlap: the next one starts after this one.
            self.window.drain(..end);
            self.base += end as u64;
            self.scanners = self
                .patterns
                .iter()
                .map(|p| Scanner::new(p, self.base))
                .collect();
        }
        // Bound the window; the scanners cope with bytes dropped under them.
        if self.window.len() > 2 * self.keep {
            let cut = self.window.len() - self.keep;
            self.window.drain(..cut);
            self.base += cut as u64;
        }
        found
    }
}

/// The state of one interact call.
struct Relay<'a, 'p> {
    escape: Option<u8>,
    user_in: BorrowedFd<'a>,
    user_out: BorrowedFd<'a>,
    user_err: BorrowedFd<'a>,
    /// The user's terminal whose size the program's terminal follows.
    size_from: Option<BorrowedFd<'a>>,
    input_watch: Watch<'p>,
    output_watch: Watch<'p>,
    input_callbacks: Vec<Callback<'a>>,
    output_callbacks: Vec<Callback<'a>>,
    input_filter: Option<Filter<'a>>,
    output_filter: Option<Filter<'a>>,
    /// Bytes waiting to be written to the program.
    pending: Vec<u8>,
    /// Still reading the user's input.
    input_open: bool,
    /// The user's input ended; pass that on once `pending` is written.
    eof_to_forward: bool,
    /// The last byte queued for the program (a line is open unless it ends one).
    last_typed: Option<u8>,
    /// The program's input still takes bytes.
    can_write: bool,
    /// Interact is ending with this outcome once `pending` is written, or at the deadline.
    stopping: Option<(InteractOutcome, Option<Instant>)>,
}

/// Which of the polled fds were ready.
#[derive(Default)]
struct Ready {
    signals: bool,
    input: bool,
    output: bool,
    stderr: bool,
    writable: bool,
}

impl Relay<'_, '_> {
    fn run<T: Interactive>(
        &mut self,
        session: &mut Session<T>,
        mut signals: Option<&mut SignalPipe>,
    ) -> Result<Ended> {
        self.copy_window_size(session);
        let buffered = session.take_buffer();
        if !buffered.is_empty() && self.output(&buffered)? == Flow::Stop {
            self.stop(session, InteractOutcome::Stopped);
        }
        let buffered = session.stderr().take_buffer();
        write_all(self.user_err, &buffered, "writing to the user's stderr")?;
        if session.is_eof() {
            // The output ended before interact started.
            self.relay_stderr(session)?;
            return finish(session).map(Ended::Outcome);
        }
        loop {
            if self.eof_to_forward && self.pending.is_empty() {
                self.forward_eof(session)?;
            }
            let mut deadline = None;
            if let Some((outcome, stop_at)) = self.stopping {
                let flushed = self.pending.is_empty() || !self.can_write;
                if flushed || stop_at.is_some_and(|at| Instant::now() >= at) {
                    return Ok(Ended::Outcome(outcome));
                }
                deadline = stop_at;
            }
            let stderr_open =
                session.transport().stderr_fd().is_some() && !session.stderr().is_eof();
            let Some(ready) = self.poll(session, signals.as_deref(), stderr_open, deadline)? else {
                continue;
            };
            if ready.signals {
                if let Some(pipe) = signals.as_deref_mut() {
                    for signal in pipe.drain()? {
                        if signal == Signal::SIGWINCH {
                            self.copy_window_size(session);
                        } else {
                            return Ok(Ended::Signal(signal));
                        }
                    }
                }
            }
            if ready.output {
                match read_output(session)? {
                    Chunk::Data(data) => {
                        if self.output(&data)? == Flow::Stop {
                            self.stop(session, InteractOutcome::Stopped);
                        }
                    }
                    Chunk::End(rest) => {
                        self.output(&rest)?;
                        self.relay_stderr(session)?;
                        return finish(session).map(Ended::Outcome);
                    }
                    Chunk::Nothing => {}
                }
            }
            if ready.stderr {
                self.relay_stderr(session)?;
            }
            if ready.input {
                self.read_input(session)?;
            }
            if ready.writable || !self.pending.is_empty() {
                self.write_pending(session);
            }
        }
    }

    /// Waits for something to do. `None` at the deadline.
    fn poll<T: Interactive>(
        &self,
        session: &Session<T>,
        signals: Option<&SignalPipe>,
        stderr_open: bool,
        deadline: Option<Instant>,
    ) -> Result<Option<Ready>> {
        let transport = session.transport();
        let reading_input =
            self.input_open && self.stopping.is_none() && self.pending.len() < MAX_PENDING_INPUT;
        let stderr = transport.stderr_fd().filter(|_| stderr_open);
        let write = transport
            .write_fd()
            .filter(|_| self.can_write && !self.pending.is_empty());
        let candidates: [(Option<BorrowedFd<'_>>, PollFlags); 5] = [
            (signals.map(AsFd::as_fd), PollFlags::POLLIN),
            (reading_input.then_some(self.user_in), PollFlags::POLLIN),
            (
                (!session.is_eof()).then(|| transport.read_fd()),
                PollFlags::POLLIN,
            ),
            (stderr, PollFlags::POLLIN),
            (write, PollFlags::POLLOUT),
        ];
        let mut fds = Vec::with_capacity(candidates.len());
        let mut slots = [None; 5];
        for (slot, (fd, flags)) in candidates.iter().enumerate() {
            if let Some(fd) = fd {
                slots[slot] = Some(fds.len());
                fds.push(PollFd::new(*fd, *flags));
            }
        }
        if wait(&mut fds, deadline)
            .context("waiting for the user or the program")?
            .is_none()
        {
            return Ok(None);
        }
        let ready = |slot: usize| slots[slot].is_some_and(|i| is_ready(&fds[i]));
        Ok(Some(Ready {
            signals: ready(0),
            input: ready(1),
            output: ready(2),
            stderr: ready(3),
            writable: ready(4),
        }))
    }

    /// Starts ending with `outcome` (the first reason wins).
    fn stop<T: Interactive>(&mut self, session: &Session<T>, outcome: InteractOutcome) {
        if self.stopping.is_none() {
            let deadline = session
                .timeout()
                .and_then(|t| Instant::now().checked_add(t));
            self.stopping = Some((outcome, deadline));
        }
    }

    /// Passes a chunk of the program's output to the user and runs the output hooks.
    fn output(&mut self, data: &[u8]) -> Result<Flow> {
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let matches = self.output_watch.feed(data);
        let shown = match &mut self.output_filter {
            Some(filter) => Cow::Owned(filter(data)),
            None => Cow::Borrowed(data),
        };
        write_all(self.user_out, &shown, "writing to the user's output")?;
        let mut reply = Reply::default();
        let flow = run_hooks(&mut self.output_callbacks, &matches, &mut reply);
        self.apply(reply)?;
        Ok(flow)
    }

    /// Reads what the user typed and handles it.
    fn read_input<T: Interactive>(&mut self, session: &mut Session<T>) -> Result<()> {
        let mut buf = [0u8; INPUT_CHUNK];
        let n = match nix::unistd::read(self.user_in, &mut buf) {
            Ok(n) => n,
            Err(Errno::EINTR | Errno::EAGAIN) => return Ok(()),
            // A terminal that hung up.
            Err(Errno::EIO) => 0,
            Err(e) => return Err(Error::io("reading the user's input", e)),
        };
        if n == 0 {
            self.input_open = false;
            self.eof_to_forward = true;
            return Ok(());
        }
        let chunk = &buf[..n];
        let (typed, escaped) = match self.escape.and_then(|e| memchr::memchr(e, chunk)) {
            Some(at) => (&chunk[..at], true),
            None => (chunk, false),
        };
        let mut flow = Flow::Continue;
        if !typed.is_empty() {
            let matches = self.input_watch.feed(typed);
            let forwarded = match &mut self.input_filter {
                Some(filter) => Cow::Owned(filter(typed)),
                None => Cow::Borrowed(typed),
            };
            self.queue(&forwarded);
            let mut reply = Reply::default();
            flow = run_hooks(&mut self.input_callbacks, &matches, &mut reply);
            self.apply(reply)?;
        }
        if escaped {
            self.stop(session, InteractOutcome::Escaped);
        } else if flow == Flow::Stop {
            self.stop(session, InteractOutcome::Stopped);
        }
        Ok(())
    }

    /// Carries out what hooks asked for.
    fn apply(&mut self, reply: Reply) -> Result<()> {
        self.queue(&reply.send);
        write_all(self.user_out, &reply.show, "writing to the user's output")
    }

    /// Queues bytes for the program.
    fn queue(&mut self, data: &[u8]) {
        if let Some(&last) = data.last() {
            if self.can_write {
                self.pending.extend_from_slice(data);
            }
            self.last_typed = Some(last);
        }
    }

    /// Writes as much of the pending input as the program takes now.
    fn write_pending<T: Interactive>(&mut self, session: &mut Session<T>) {
        while !self.pending.is_empty() && self.can_write {
            match session.transport_mut().write(&self.pending) {
                Ok(0) => return,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // The program closed its input (or is gone; its output will end too).
                Err(_) => {
                    self.can_write = false;
                    self.pending.clear();
                }
            }
        }
    }

    /// Passes the end of the user's input on (see `interact_with`).
    fn forward_eof<T: Interactive>(&mut self, session: &mut Session<T>) -> Result<()> {
        self.eof_to_forward = false;
        if !self.can_write {
            return Ok(());
        }
        let veof = match session.transport().terminal() {
            Some(master) => Some(
                tcgetattr(master)
                    .context("reading the program's terminal mode")?
                    .control_chars[SpecialCharacterIndices::VEOF as usize],
            ),
            None => None,
        };
        match veof {
            Some(veof) => {
                let times = match self.last_typed {
                    None | Some(b'\n' | b'\r') => 1,
                    Some(_) => 2,
                };
                let eofs = vec![veof; times];
                self.pending.extend_from_slice(&eofs);
                self.write_pending(session);
            }
            None => match session.transport_mut().close_input() {
                Ok(()) => self.can_write = false,
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {}
                Err(e) => return Err(Error::io("closing the program's input", e)),
            },
        }
        Ok(())
    }

    /// Copies the user's terminal size to the program's terminal, best effort.
    fn copy_window_size<T: Interactive>(&self, session: &Session<T>) {
        let (Some(from), Some(to)) = (self.size_from, session.transport().terminal()) else {
            return;
        };
        if let Ok((rows, cols)) = sys::window_size(from) {
            if rows > 0 && cols > 0 {
                let _ = sys::set_window_size(to, rows, cols);
            }
        }
    }

    /// Passes what the program wrote to its separate stderr to the user's stderr.
    fn relay_stderr<T: Interactive>(&mut self, session: &mut Session<T>) -> Result<()> {
        let mut stderr = session.stderr();
        if stderr.is_eof() {
            return Ok(());
        }
        stderr.read_available()?;
        let data = stderr.take_buffer();
        write_all(self.user_err, &data, "writing to the user's stderr")
    }
}

/// Runs the callbacks of `matches` in order until one says stop.
fn run_hooks(callbacks: &mut [Callback<'_>], matches: &[Match], reply: &mut Reply) -> Flow {
    for m in matches {
        if (callbacks[m.index])(m, reply) == Flow::Stop {
            return Flow::Stop;
        }
    }
    Flow::Continue
}

/// One read of the program's output, without waiting, plus whatever was still buffered
/// (through the session, so transcripts see it). One read at a time, so a program that
/// never stops writing cannot keep us from the user's input.
fn read_output<T: Transport>(session: &mut Session<T>) -> Result<Chunk> {
    session.read_chunk()?;
    let data = session.take_buffer();
    Ok(if session.is_eof() {
        Chunk::End(data)
    } else if data.is_empty() {
        Chunk::Nothing
    } else {
        Chunk::Data(data)
    })
}

/// The output has ended: wait for the process, if there is one.
fn finish<T: Interactive>(session: &mut Session<T>) -> Result<InteractOutcome> {
    let timeout = session.timeout();
    let Some(child) = session.transport_mut().process() else {
        return Ok(InteractOutcome::Eof);
    };
    let status = match timeout {
        None => Some(child.wait()?),
        Some(timeout) => child.wait_timeout(timeout)?,
    };
    Ok(status.map_or(InteractOutcome::Eof, InteractOutcome::Exited))
}

/// Writes all of `data` to one of the user's fds, waiting if it is non-blocking and full.
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8], context: &'static str) -> Result<()> {
    while !data.is_empty() {
        match sys::write_without_sigpipe(fd, data) {
            Ok(0) => {
                return Err(Error::io(
                    context,
                    io::Error::from(io::ErrorKind::WriteZero),
                ));
            }
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                wait(&mut fds, None).context(context)?;
            }
            Err(e) => return Err(Error::io(context, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(matches: &[Match]) -> Vec<(usize, String)> {
        matches
            .iter()
            .map(|m| (m.index(), String::from_utf8_lossy(m.matched()).into_owned()))
            .collect()
    }

    #[test]
    fn watch_matches_across_chunks_without_overlap() {
        let patterns = [Pattern::exact("abc"), Pattern::regex(r"x(\d+)y").unwrap()];
        let mut watch = Watch::new(&patterns);
        assert!(watch.feed(b"..a").is_empty());
        assert_eq!(texts(&watch.feed(b"bc..x1")), [(0, "abc".into())]);
        let found = watch.feed(b"2y abcabc");
        assert_eq!(
            texts(&found),
            [(1, "x12y".into()), (0, "abc".into()), (0, "abc".into())]
        );
        assert_eq!(found[0].group(1), Some(&b"12"[..]));
        assert_eq!(found[0].before(), b"..");
    }

    #[test]
    fn watch_keeps_a_bounded_window() {
        let patterns = [Pattern::exact("needle")];
        let mut watch = Watch::new(&patterns);
        for _ in 0..100 {
            assert!(watch.feed(&[b'.'; 1000]).is_empty());
            assert!(watch.window.len() <= 2 * MIN_WINDOW);
        }
        assert_eq!(texts(&watch.feed(b"nee")), []);
        assert_eq!(texts(&watch.feed(b"dle")), [(0, "needle".into())]);
    }

    #[test]
    fn hook_patterns_must_match_data() {
        for bad in [
            Pattern::eof(),
            Pattern::timeout(),
            Pattern::exact(""),
            Pattern::nbytes(0),
            Pattern::regex("a*").unwrap(),
        ] {
            assert!(
                matches!(check_hook_pattern(&bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
        assert!(check_hook_pattern(&Pattern::regex("a+").unwrap()).is_ok());
    }

    #[test]
    fn parses_escape_keys() {
        assert_eq!(Interact::parse_escape("^]").unwrap(), Some(0x1d));
        assert_eq!(Interact::parse_escape("^C").unwrap(), Some(3));
        assert_eq!(Interact::parse_escape("^?").unwrap(), Some(0x7f));
        assert_eq!(Interact::parse_escape("none").unwrap(), None);
        for bad in ["", "^", "^1", "]", "^]]", "None"] {
            assert!(Interact::parse_escape(bad).is_err(), "{bad:?}");
        }
    }
}
