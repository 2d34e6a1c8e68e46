//! Expect's commands other than `expect`: spawn, send and its relatives, close, wait,
//! exp_pid, log_user, match_max, interact, sleep, exit, exp_version; and the commands
//! ptychat does not provide, which fail naming themselves.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::sys::tcl::{Code, InterpRef, Scope};
use crate::transport::pty::PtyMaster;
use crate::{BufferFull, Command, ExitStatus, Session};

use crate::script::value;

use super::expect::{self, EXP_CONTINUE, EXP_CONTINUE_TIMER, error};
use super::spawned::{self, Spawned};
use super::state::{ERROR_SPAWN_ID, Shared, SpawnSession, USER_SPAWN_ID, spawn_id};
use super::text;

/// The version `exp_version` reports and `package require Expect` finds: the Expect whose
/// commands these follow.
pub const EXPECT_VERSION: &str = "5.45.4";

/// What the `stty_init` shell prints once the settings are made.
const STTY_DONE: &str = "\x01ptychat-stty-done\x01";
/// How long spawn waits for it.
const STTY_DEADLINE: Duration = Duration::from_secs(30);

/// How long `close` gives a program to end after the hang-up, per signal.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Expect commands ptychat does not provide (yet): each fails with a message naming it.
const MISSING: &[&str] = &["disconnect", "overlay", "fork", "debug", "strace"];

/// Registers every command on `interp`, sharing `state`; returns the names of the Expect
/// commands it provides (for `--trace`).
pub(crate) fn register(interp: InterpRef<'_>, state: &Shared) -> Vec<String> {
    // Expect's `close` closes Tcl channels too: Tcl's own is kept for those.
    let kept = interp.eval(b"namespace eval ::ptychat {}; rename ::close ::ptychat::close");
    debug_assert!(kept == Code::Ok, "Tcl has a close command");
    type Handler = fn(&Shared, InterpRef<'_>, &[Vec<u8>]) -> Code;
    let commands: &[(&str, Handler)] = &[
        ("spawn", spawn),
        ("send", send),
        ("exp_send", send),
        ("send_secret", send_secret),
        ("send_user", send_user),
        ("send_error", send_error),
        ("expect", expect_cmd),
        ("expect_user", expect_user),
        ("expect_before", expect_before),
        ("expect_after", expect_after),
        ("exp_continue", exp_continue),
        ("close", close),
        ("wait", wait),
        ("exp_pid", exp_pid),
        ("getpid", getpid),
        ("log_user", log_user),
        ("match_max", match_max),
        ("interact", super::interact::interact),
        ("inter_return", super::interact::inter_return),
        ("sleep", sleep),
        ("exit", exit),
        ("exp_version", exp_version),
        ("timestamp", timestamp),
        ("trap", super::extras::trap),
        ("stty", super::extras::stty),
        ("log_file", super::extras::log_file),
        ("exp_internal", super::extras::exp_internal),
        ("system", super::extras::system),
        ("remove_nulls", super::streams::remove_nulls),
        ("parity", super::streams::parity),
        ("send_log", super::streams::send_log),
        ("send_tty", super::streams::send_tty),
        ("exp_open", super::streams::exp_open),
        ("expect_background", super::background::expect_background),
        ("expect_tty", expect_tty),
    ];
    let mut registered = vec!["interpreter".to_owned()];
    for (name, handler) in commands {
        let handler = *handler;
        let mut names = vec![name.to_string()];
        // Expect also answers to `exp_NAME` for each command.
        if !name.starts_with("exp_") {
            names.push(format!("exp_{name}"));
        }
        for name in names {
            registered.push(name.clone());
            let state = state.clone();
            interp.create_command(
                &name,
                Box::new(move |interp, words| {
                    // Trapped signals that arrived run their actions first.
                    match super::extras::run_traps(&state, interp) {
                        Code::Ok => handler(&state, interp, &words[1..]),
                        code => code,
                    }
                }),
            );
        }
    }
    super::interpreter::register(interp);
    for name in MISSING {
        let why = match *name {
            // They fork or detach the whole process, which a multi-threaded one cannot do
            // safely.
            "disconnect" | "overlay" | "fork" => ": it does not fit a multi-threaded process",
            _ => "",
        };
        let message = format!(
            "ptychat expect does not provide the Expect command `{name}`{why} (see docs/TCL.md)"
        );
        interp.create_command(name, Box::new(move |interp, _| error(interp, &message)));
    }
    registered
}

/// Leading flags of a command: `(flag, value)` pairs for the flags in `with_value`, other
/// known flags with no value, up to the first non-flag or `--`.
pub(super) struct Flags {
    given: Vec<(String, Option<Vec<u8>>)>,
}

impl Flags {
    pub(super) fn take<'w>(
        command: &str,
        words: &'w [Vec<u8>],
        known: &[&str],
        with_value: &[&str],
    ) -> Result<(Flags, &'w [Vec<u8>]), String> {
        let mut given = Vec::new();
        let mut rest = words;
        while let Some((word, tail)) = rest.split_first() {
            let flag = text(word);
            if flag == "--" {
                rest = tail;
                break;
            }
            if !flag.starts_with('-') || flag.len() < 2 {
                break;
            }
            if with_value.contains(&flag.as_str()) {
                let Some((value, tail)) = tail.split_first() else {
                    return Err(format!("{command}: {flag} needs a value"));
                };
                given.push((flag, Some(value.clone())));
                rest = tail;
            } else if known.contains(&flag.as_str()) {
                given.push((flag, None));
                rest = tail;
            } else {
                return Err(format!("{command}: unknown flag \"{flag}\""));
            }
        }
        Ok((Flags { given }, rest))
    }

    pub(super) fn has(&self, flag: &str) -> bool {
        self.given.iter().any(|(f, _)| f == flag)
    }

    /// Every value given to `flag`, in order (a flag that repeats).
    pub(super) fn values<'a>(&'a self, flag: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.given
            .iter()
            .filter(move |(f, _)| f == flag)
            .filter_map(|(_, v)| v.as_deref())
    }

    pub(super) fn value(&self, flag: &str) -> Option<&[u8]> {
        self.given
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Runs `f` and turns its `Err(message)` into a Tcl error.
pub(super) fn tcl(interp: InterpRef<'_>, f: impl FnOnce() -> Result<Vec<u8>, String>) -> Code {
    match f() {
        Ok(result) => {
            interp.set_result(&result);
            Code::Ok
        }
        Err(message) => error(interp, &message),
    }
}

/// `spawn [-noecho] [-nottycopy] [-nottyinit] [-ignore SIGNAL]... PROGRAM [ARGS...]`:
/// runs the program on a new pty, sets `spawn_id` and `spawn_out(slave,name)`, returns
/// the pid. `spawn -open CHANNEL` / `-leaveopen CHANNEL` talks to a Tcl channel's fds
/// instead, `spawn -pty` to a pty with no program (both return 0). Unlike Expect, a
/// program that cannot be executed is an error here, not a child that prints the error
/// and exits.
fn spawn(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (flags, argv) = Flags::take(
            "spawn",
            words,
            &["-noecho", "-nottycopy", "-nottyinit", "-console", "-pty"],
            &["-open", "-leaveopen", "-ignore"],
        )?;
        if flags.has("-console") {
            return Err(
                "spawn -console is not supported by ptychat expect (see docs/TCL.md)".into(),
            );
        }
        let channel = match (flags.value("-open"), flags.value("-leaveopen")) {
            (Some(name), None) => Some((name, false)),
            (None, Some(name)) => Some((name, true)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err("spawn: -open and -leaveopen exclude each other".into());
            }
        };
        // The channel of `-open`, closed with the spawn id as in Expect.
        let mut owned_channel = None;
        let (session, echoed, slave) = if let Some((name, leave_open)) = channel {
            let session = channel_session(interp, name)?;
            if !leave_open {
                owned_channel = Some(name.to_vec());
            }
            (session, "[open ...]".to_owned(), None)
        } else if flags.has("-pty") {
            let (session, slave_fd) = terminal_session()?;
            let name = session
                .transport()
                .master()
                .map(crate::sys::term::slave_name)
                .transpose()
                .map_err(|e| format!("spawn: {e}"))?;
            interp
                .set_var(
                    "spawn_out",
                    Some("slave,fd"),
                    slave_fd.to_string().as_bytes(),
                    Scope::Current,
                )
                .map_err(|e| text(&e))?;
            (session, "-pty".to_owned(), name)
        } else {
            let Some(_) = argv.first() else {
                return Err("usage: spawn [spawn-args] program [program-args]".into());
            };
            let ignored = ignored_signals(&flags)?;
            let session = program_session(interp, argv, &ignored)?;
            let name = session
                .transport()
                .master()
                .map(crate::sys::term::slave_name)
                .transpose()
                .map_err(|e| format!("spawn: {e}"))?;
            let line: Vec<String> = argv.iter().map(|w| text(w)).collect();
            (session, line.join(" "), name)
        };
        let pid = session.transport().pid();
        let mut state = state.borrow_mut();
        if !flags.has("-noecho") {
            let line = format!("spawn {echoed}\r\n");
            state
                .extras
                .log
                .write(line.as_bytes(), false, state.log_user());
            if state.log_user() {
                write_to(std::io::stdout().lock(), line.as_bytes());
            }
        }
        // Output read with the stty marker was not shown yet.
        let early = session.buffer().to_vec();
        let id = state.add(session);
        if let Some(name) = owned_channel {
            state.channels.insert(id.clone(), name);
        }
        if state.log_user() && !early.is_empty() {
            write_to(std::io::stdout().lock(), &early);
        }
        drop(state);
        if let Some(name) = slave {
            interp
                .set_var(
                    "spawn_out",
                    Some("slave,name"),
                    name.as_bytes(),
                    Scope::Current,
                )
                .map_err(|e| text(&e))?;
        }
        interp
            .set_var("spawn_id", None, id.as_bytes(), Scope::Current)
            .map_err(|e| text(&e))?;
        Ok(pid.to_string().into_bytes())
    })
}

/// The signals of `spawn -ignore` (each flag names one, as `trap` does: `INT`,
/// `SIGINT` or a number).
fn ignored_signals(flags: &Flags) -> Result<Vec<i32>, String> {
    flags
        .values("-ignore")
        .map(|name| {
            let name = text(name).trim().to_ascii_uppercase();
            if let Ok(number) = name.parse::<i32>() {
                return nix::sys::signal::Signal::try_from(number)
                    .map(|s| s as i32)
                    .map_err(|_| format!("spawn -ignore {name}: unknown signal"));
            }
            let full = match name.starts_with("SIG") {
                true => name.clone(),
                false => format!("SIG{name}"),
            };
            full.parse::<nix::sys::signal::Signal>()
                .map(|s| s as i32)
                .map_err(|_| format!("spawn -ignore {name}: unknown signal name"))
        })
        .collect()
}

/// A program on a new pty, with `stty_init` applied and the `ignored` signals ignored.
fn program_session(
    interp: InterpRef<'_>,
    argv: &[Vec<u8>],
    ignored: &[i32],
) -> Result<SpawnSession, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("usage: spawn [spawn-args] program [program-args]".into());
    };
    let stty = stty_init(interp)?;
    let mut command = if stty.is_none() && ignored.is_empty() {
        Command::new(OsString::from_vec(program.clone()))
    } else {
        // As Expect does, `stty_init` is applied by running stty on the new terminal,
        // here from a shell that then says so and becomes the program; the shell's
        // `trap ''` ignores the `-ignore` signals, which stay ignored across the exec.
        let mut prelude = String::new();
        if !ignored.is_empty() {
            let numbers: Vec<String> = ignored.iter().map(i32::to_string).collect();
            prelude.push_str(&format!("trap '' {}; ", numbers.join(" ")));
        }
        if let Some(settings) = &stty {
            prelude.push_str(&format!(
                "stty {settings} 2>/dev/null; printf %s '{STTY_DONE}'; "
            ));
        }
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(format!("{prelude}exec \"$0\" \"$@\""))
            .arg(OsString::from_vec(program.clone()));
        command
    };
    command.args(args.iter().map(|a| OsString::from_vec(a.clone())));
    command.timeout(None);
    let session = command.spawn().map_err(|e| e.to_string())?;
    let mut session = session.map_transport(Spawned::Program);
    session.set_match_order(crate::MatchOrder::ListOrder);
    if stty.is_some() {
        // The program starts after the settings are made, as with Expect's spawn:
        // nothing sent before then is echoed or processed under the old ones.
        session
            .expect_timeout(STTY_DONE, Some(STTY_DEADLINE))
            .map_err(|e| format!("spawn: applying stty_init: {e}"))?;
    }
    Ok(session)
}

/// `spawn -pty`: a new pty with no program; the session reads and writes its master, and
/// holds the slave open (its fd number is returned) until `close -slave` or `close`.
fn terminal_session() -> Result<(SpawnSession, i32), String> {
    use std::os::fd::AsRawFd;
    let (master, slave) = crate::PtyConfig::default()
        .open()
        .map_err(|e| format!("spawn -pty: {e}"))?;
    let slave_fd = slave.as_raw_fd();
    let master = PtyMaster::new(master, None).map_err(|e| format!("spawn -pty: {e}"))?;
    let mut session = Session::with_transport(
        Spawned::Terminal {
            master,
            slave: Some(slave),
        },
        b"\r",
    );
    session.set_match_order(crate::MatchOrder::ListOrder);
    session.set_timeout(None);
    Ok((session, slave_fd))
}

/// `spawn -open CHANNEL`: a session on copies of the Tcl channel's fds. A pipe, FIFO or
/// terminal is opened anew (through `/proc/self/fd`) so that the non-blocking mode the
/// engine sets stays off the channel's own file description; a regular file keeps the
/// channel's (its offset is shared, as in Expect).
fn channel_session(interp: InterpRef<'_>, name: &[u8]) -> Result<SpawnSession, String> {
    let fds = interp.channel_fds(name).map_err(|e| text(&e))?;
    let failed = |e: std::io::Error| format!("spawn -open {}: {e}", text(name));
    let (read, write) = match (fds.read, fds.write) {
        (Some(read), Some(write)) => (reopen(read, false), reopen(write, true)),
        (Some(read), None) => {
            let read = reopen(read, false);
            let write = read.try_clone().map_err(failed)?;
            (read, write)
        }
        (None, Some(write)) => {
            let write = reopen(write, true);
            let read = write.try_clone().map_err(failed)?;
            (read, write)
        }
        (None, None) => {
            return Err(format!(
                "spawn -open {}: the channel is neither readable nor writable",
                text(name)
            ));
        }
    };
    let session = Session::from_fds(read, write).map_err(|e| e.to_string())?;
    let mut session = session.map_transport(Spawned::Channel);
    session.set_match_order(crate::MatchOrder::ListOrder);
    session.set_timeout(None);
    Ok(session)
}

/// `fd` opened anew through `/proc/self/fd` when it is not a regular file or a socket
/// (see [`channel_session`]); `fd` itself when that is not possible.
fn reopen(fd: std::os::fd::OwnedFd, write: bool) -> std::os::fd::OwnedFd {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::File::from(fd);
    let keep = file
        .metadata()
        .map(|m| m.file_type().is_file() || m.file_type().is_socket())
        .unwrap_or(true);
    if keep {
        return file.into();
    }
    // Non-blocking, so that opening a pipe whose other end is gone does not wait.
    match std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(format!("/proc/self/fd/{}", file.as_raw_fd()))
    {
        Ok(reopened) => reopened.into(),
        Err(_) => file.into(),
    }
}

/// The `stty_init` settings for a new pty, as shell words; `None` when unset or empty.
fn stty_init(interp: InterpRef<'_>) -> Result<Option<String>, String> {
    let Some(value) = super::state::expect_var(interp, "stty_init") else {
        return Ok(None);
    };
    let words = interp.split_list(&value).map_err(|e| text(&e))?;
    if words.is_empty() {
        return Ok(None);
    }
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", text(w).replace('\'', "'\\''")))
        .collect();
    Ok(Some(quoted.join(" ")))
}

/// `send [-i ID] [-raw] [--] STRING`: to a program, or to our output for
/// `$user_spawn_id` and `$error_spawn_id`.
fn send(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (flags, rest) = Flags::take(
            "send",
            words,
            &["-raw", "-null", "-break", "-s", "-h"],
            &["-i"],
        )?;
        // `-break`: a break on a pty is nothing (Linux's pty has no break), and Expect
        // sends nothing else then.
        if flags.has("-break") {
            return Ok(Vec::new());
        }
        // `-null [COUNT]`: COUNT NUL bytes (one by default), in place of a string.
        let nulls;
        let string: &[u8] = match (flags.has("-null"), rest) {
            (true, []) => &[0],
            (true, [count]) => {
                let count: usize = text(count)
                    .trim()
                    .parse()
                    .map_err(|_| format!("expected integer but got \"{}\"", text(count)))?;
                nulls = vec![0; count];
                &nulls
            }
            (false, [string]) => string,
            _ => return Err("usage: send [args] string".into()),
        };
        let id = spawn_id(interp, flags.value("-i"))?;
        // `-s` and `-h` type as Expect's send_slow and send_human variables say.
        let typing = |name: &str| -> Result<Vec<Vec<u8>>, String> {
            let value = super::state::expect_var(interp, name)
                .ok_or_else(|| format!("send: can't read \"{name}\": no such variable"))?;
            interp.split_list(&value).map_err(|e| text(&e))
        };
        let slow = match flags.has("-s") {
            true => Some(
                value::slow_typing(&typing("send_slow")?).map_err(|e| format!("send_slow: {e}"))?,
            ),
            false => None,
        };
        let human = match flags.has("-h") {
            true => Some(
                value::human_typing(&typing("send_human")?)
                    .map_err(|e| format!("send_human: {e}"))?,
            ),
            false => None,
        };
        match id.as_str() {
            USER_SPAWN_ID | "exp1" => write_to(std::io::stdout().lock(), string),
            ERROR_SPAWN_ID => write_to(std::io::stderr().lock(), string),
            id => {
                let mut state = state.borrow_mut();
                let session = state.session(id)?;
                let sent = match (slow, human) {
                    (Some(slow), _) => session.send_slow(string, slow),
                    (None, Some(human)) => session.send_human(string, human),
                    (None, None) => session.send(string),
                };
                sent.map_err(|e| e.to_string())?;
            }
        }
        Ok(Vec::new())
    })
}

fn write_to(mut out: impl Write, bytes: &[u8]) {
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

/// `send_secret [-i ID] [--] STRING` (ptychat's own): sends like `send`, but the trace
/// (`exp_internal`), the `--log` / `--record` transcripts and the `log_file` only learn
/// that a secret of that length was sent ([`Session::send_secret`]).
fn send_secret(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (flags, rest) = Flags::take("send_secret", words, &[], &["-i"])?;
        let [string] = rest else {
            return Err("usage: send_secret [-i spawn_id] [--] string".into());
        };
        match spawn_id(interp, flags.value("-i"))?.as_str() {
            USER_SPAWN_ID | "exp1" => write_to(std::io::stdout().lock(), string),
            ERROR_SPAWN_ID => write_to(std::io::stderr().lock(), string),
            id => {
                let mut state = state.borrow_mut();
                let session = state.session(id)?;
                session.send_secret(string).map_err(|e| e.to_string())?;
            }
        }
        Ok(Vec::new())
    })
}

/// `send_user [-raw] [--] STRING`.
fn send_user(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (flags, rest) = Flags::take("send_user", words, &["-raw"], &[])?;
        let [string] = rest else {
            return Err("usage: send_user [args] string".into());
        };
        let state = state.borrow();
        state.extras.log.write(string, true, true);
        let cooked = state.extras.cook(string, flags.has("-raw"));
        write_to(std::io::stdout().lock(), &cooked);
        Ok(Vec::new())
    })
}

/// `send_error [-raw] [--] STRING`.
fn send_error(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (flags, rest) = Flags::take("send_error", words, &["-raw"], &[])?;
        let [string] = rest else {
            return Err("usage: send_error [args] string".into());
        };
        let cooked = state.borrow().extras.cook(string, flags.has("-raw"));
        write_to(std::io::stderr().lock(), &cooked);
        Ok(Vec::new())
    })
}

fn expect_cmd(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    match expect::parse(interp, words) {
        Ok(call) => expect::run(state, interp, &call),
        Err(message) => error(interp, &message),
    }
}

/// `expect_user`: `expect` on our standard input.
fn expect_user(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    expect_on(state, interp, words, USER_SPAWN_ID, "expect_user")
}

/// `expect_tty`: `expect` on our terminal, `/dev/tty`.
fn expect_tty(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    expect_on(
        state,
        interp,
        words,
        super::state::TTY_SPAWN_ID,
        "expect_tty",
    )
}

/// An `expect` whose every branch is on spawn id `id`.
fn expect_on(
    state: &Shared,
    interp: InterpRef<'_>,
    words: &[Vec<u8>],
    id: &str,
    name: &str,
) -> Code {
    match expect::parse(interp, words) {
        Ok(mut call) => {
            for branch in &mut call.branches {
                branch.ids = vec![id.to_owned()];
            }
            if call.branches.is_empty() {
                return error(interp, &format!("usage: {name} pattern [action]..."));
            }
            expect::run(state, interp, &call)
        }
        Err(message) => error(interp, &message),
    }
}

/// Which list of background patterns a command sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lasting {
    Before,
    After,
    /// `expect_background`.
    Background,
}

/// `expect_before` / `expect_after`: patterns checked before / after those of every
/// later `expect` on the same spawn ids (and `expect_background`'s, checked as output
/// arrives). Without patterns, removes those of the spawn ids named (or `$spawn_id`);
/// `-info` lists them.
pub(super) fn background(
    state: &Shared,
    interp: InterpRef<'_>,
    words: &[Vec<u8>],
    which: Lasting,
) -> Code {
    tcl(interp, || {
        if words.first().is_some_and(|w| w == b"-info") {
            return info(state, interp, &words[1..], which);
        }
        let mut call = expect::parse(interp, words)?;
        let current = spawn_id(interp, None).ok();
        for branch in &mut call.branches {
            if branch.ids.is_empty() {
                let id = current
                    .clone()
                    .ok_or("can't read \"spawn_id\": no such variable")?;
                branch.ids.push(id);
            }
        }
        let mut state = state.borrow_mut();
        let list = match which {
            Lasting::Before => &mut state.before,
            Lasting::After => &mut state.after,
            Lasting::Background => &mut state.background,
        };
        if call.branches.is_empty() {
            let ids: Vec<String> = match words.first().map(|w| text(w)) {
                Some(flag) if flag == "-i" => words
                    .get(1)
                    .map(|w| text(w).split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default(),
                _ => current.into_iter().collect(),
            };
            list.retain(|b| !b.ids.iter().any(|i| ids.contains(i)));
        } else {
            // New patterns for a spawn id replace its old ones, as in Expect.
            let ids: Vec<String> = call.branches.iter().flat_map(|b| b.ids.clone()).collect();
            list.retain(|b| !b.ids.iter().any(|i| ids.contains(i)));
            list.extend(call.branches);
        }
        Ok(Vec::new())
    })
}

/// `expect_before -info [-i ID] [-all]` (and `expect_after`'s, `expect_background`'s):
/// the patterns of the spawn id (default `$spawn_id`), as Expect lists them: flags, the
/// pattern's kind (`-gl`, `-re`, `-ex`; none for a keyword), the pattern, the action.
fn info(
    state: &Shared,
    interp: InterpRef<'_>,
    words: &[Vec<u8>],
    which: Lasting,
) -> Result<Vec<u8>, String> {
    let (flags, rest) = Flags::take("-info", words, &["-all", "-noindirect"], &["-i"])?;
    if !rest.is_empty() {
        return Err(format!("bad flag \"{}\"", text(&rest[0])));
    }
    let all = flags.has("-all");
    let id = spawn_id(interp, flags.value("-i"))?;
    let state = state.borrow();
    let list = match which {
        Lasting::Before => &state.before,
        Lasting::After => &state.after,
        Lasting::Background => &state.background,
    };
    let mut words: Vec<Vec<u8>> = Vec::new();
    let mut previous: Option<&Vec<String>> = None;
    for case in list.iter().filter(|c| all || c.ids.contains(&id)) {
        if all && previous != Some(&case.ids) {
            words.push(b"-i".to_vec());
            words.push(case.ids.join(" ").into_bytes());
            previous = Some(&case.ids);
        }
        if case.notransfer {
            words.push(b"-notransfer".to_vec());
        }
        if case.indices {
            words.push(b"-indices".to_vec());
        }
        match case.kind {
            expect::Kind::Glob => words.push(b"-gl".to_vec()),
            expect::Kind::Regex => words.push(b"-re".to_vec()),
            expect::Kind::Exact => words.push(b"-ex".to_vec()),
            _ => {}
        }
        words.push(case.text.clone());
        words.push(case.action.clone().unwrap_or_default());
    }
    list_of(interp, &words)
}

/// A Tcl list of `words`, quoted as Tcl quotes list elements.
fn list_of(interp: InterpRef<'_>, words: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    const SCRATCH: &str = "::ptychat::list";
    interp
        .set_var(SCRATCH, None, b"", Scope::Global)
        .map_err(|e| text(&e))?;
    for word in words {
        interp
            .append_list_element(SCRATCH, word, Scope::Global)
            .map_err(|e| text(&e))?;
    }
    Ok(interp
        .get_var(SCRATCH, None, Scope::Global)
        .unwrap_or_default())
}

fn expect_before(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    background(state, interp, words, Lasting::Before)
}

fn expect_after(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    background(state, interp, words, Lasting::After)
}

/// `exp_continue [-continue_timer]`: in an expect action, wait again.
fn exp_continue(_: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    match words {
        [] => Code::Other(EXP_CONTINUE),
        [flag] if flag == b"-continue_timer" => Code::Other(EXP_CONTINUE_TIMER),
        _ => error(interp, "usage: exp_continue [-continue_timer]"),
    }
}

/// `close [-slave] [-i ID]`: hangs the program up (as a terminal closing does) and keeps
/// how it ended for `wait`; closes the Tcl channel of a `spawn -open` id. `-slave` closes
/// only the slave a `spawn -pty` holds open.
fn close(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    // `close SPAWN_ID`: Expect's spawn ids are Tcl channels, so Tcl's close takes them.
    if let [id] = words {
        if state.borrow().ids.contains_key(text(id).trim()) {
            return close(state, interp, &[b"-i".to_vec(), id.clone()]);
        }
    }
    // `close CHANNEL [r|w]` is Tcl's close of a channel, as in Expect.
    if words.first().is_some_and(|w| !w.starts_with(b"-")) {
        let mut script = b"::ptychat::close".to_vec();
        for word in words {
            script.push(b' ');
            script.extend_from_slice(&tcl_word(word));
        }
        return interp.eval(&script);
    }
    tcl(interp, || {
        let (flags, rest) = Flags::take("close", words, &["-slave", "-onexec"], &["-i"])?;
        if !rest.is_empty() || flags.has("-onexec") {
            return Err("usage: close [-slave] [-i spawn_id] (-onexec is not supported)".into());
        }
        let id = spawn_id(interp, flags.value("-i"))?;
        if flags.has("-slave") {
            // Only `spawn -pty` keeps a slave open here.
            return match state
                .borrow_mut()
                .session(&id)?
                .transport_mut()
                .close_slave()
            {
                true => Ok(Vec::new()),
                false => Err("no such slave".into()),
            };
        }
        let (pid, status) = end(state, interp, &id, |session| {
            spawned::terminate(session, CLOSE_GRACE)
        })?;
        state.borrow_mut().closed.insert(id, (pid, status));
        Ok(Vec::new())
    })
}

/// Takes spawn id `id` out, ends it with `how` (its process's status; a spawn id with
/// none counts as a clean exit, as in Expect) and closes the Tcl channel of `spawn -open`.
fn end(
    state: &Shared,
    interp: InterpRef<'_>,
    id: &str,
    how: impl FnOnce(&mut SpawnSession) -> crate::Result<Option<ExitStatus>>,
) -> Result<(u32, ExitStatus), String> {
    let mut st = state.borrow_mut();
    st.session(id)?;
    let mut session = st.remove(id).expect("checked above");
    let channel = st.channels.remove(id);
    drop(st);
    let pid = session.transport().pid();
    let status = how(&mut session).map_err(|e| e.to_string())?;
    drop(session);
    if let Some(channel) = channel {
        // As Expect does, errors of the channel's close (a pipeline that failed) are
        // ignored.
        let mut script = b"catch {::ptychat::close ".to_vec();
        script.extend_from_slice(&tcl_word(&channel));
        script.push(b'}');
        interp.eval(&script);
        interp.set_result(b"");
    }
    Ok((pid, status.unwrap_or(ExitStatus::Exited(0))))
}

/// `wait [-i ID] [-nowait]`: waits for the program to end and returns
/// `PID SPAWN_ID 0 STATUS`, with `CHILDKILLED SIGNAME DESCRIPTION` after it for a
/// program killed by a signal.
fn wait(state_rc: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (flags, rest) = Flags::take("wait", words, &["-nowait"], &["-i"])?;
        if !rest.is_empty() {
            return Err("usage: wait [-i spawn_id] [-nowait]".into());
        }
        let id = spawn_id(interp, flags.value("-i"))?;
        let mut state = state_rc.borrow_mut();
        if flags.has("-nowait") {
            // As in Expect: returns at once as if the program ended well, and the
            // program is reaped when it ends (here: when the script ends).
            let pid = match state.closed.remove(&id) {
                Some((pid, _)) => pid,
                None => {
                    let pid = state.session(&id)?.transport().pid();
                    if let Some(session) = state.remove(&id) {
                        state.unwaited.push(session);
                    }
                    pid
                }
            };
            return Ok(format!("{pid} {id} 0 0").into_bytes());
        }
        let (pid, status) = match state.closed.remove(&id) {
            Some(ended) => ended,
            None => {
                drop(state);
                end(state_rc, interp, &id, spawned::wait)?
            }
        };
        Ok(match status {
            ExitStatus::Signaled(signal) => {
                format!(
                    "{pid} {id} 0 0 CHILDKILLED {} {{killed by {signal}}}",
                    signal.as_str()
                )
            }
            status => format!("{pid} {id} 0 {}", status.code().unwrap_or(0)),
        }
        .into_bytes())
    })
}

/// `exp_pid [-i ID]`.
fn exp_pid(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (flags, _) = Flags::take("exp_pid", words, &[], &["-i"])?;
        let id = spawn_id(interp, flags.value("-i"))?;
        let mut state = state.borrow_mut();
        Ok(state
            .session(&id)?
            .transport()
            .pid()
            .to_string()
            .into_bytes())
    })
}

/// `log_user [-info] [0|1]`: whether what programs write is copied to our output.
fn log_user(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let state = state.borrow();
        let old = state.log_user();
        match words {
            [] => {}
            [flag] if flag == b"-info" => {}
            [value] => {
                let on = match text(value).trim() {
                    "0" => false,
                    "1" => true,
                    other => return Err(format!("log_user: expected 0 or 1, got \"{other}\"")),
                };
                state.log_user.store(on, Ordering::Relaxed);
            }
            _ => return Err("usage: log_user [-info|0|1]".into()),
        }
        Ok(if old { b"1".to_vec() } else { b"0".to_vec() })
    })
}

/// `match_max [-d] [-i ID] [SIZE]`: the most output an expect keeps (the oldest is
/// dropped beyond it); without SIZE, the current value.
fn match_max(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (flags, rest) = Flags::take("match_max", words, &["-d"], &["-i"])?;
        let size = match rest {
            [] => None,
            [size] => Some(
                text(size)
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("match_max: expected a size, got \"{}\"", text(size)))?,
            ),
            _ => return Err("usage: match_max [-d] [-i spawn_id] [size]".into()),
        };
        let mut state = state.borrow_mut();
        if flags.has("-d") {
            if let Some(size) = size {
                state.match_max = Some(size);
            }
            let current = state.match_max.unwrap_or(crate::DEFAULT_MAX_BUFFER);
            return Ok(current.to_string().into_bytes());
        }
        let id = spawn_id(interp, flags.value("-i"))?;
        // Before any spawn, `match_max` is our standard input's, as in Expect.
        let max = if id == USER_SPAWN_ID {
            let session = state.user()?;
            if let Some(size) = size {
                session.set_max_buffer(size, BufferFull::DiscardOldest);
            }
            session.max_buffer()
        } else {
            let session = state.session(&id)?;
            if let Some(size) = size {
                session.set_max_buffer(size, BufferFull::DiscardOldest);
            }
            session.max_buffer()
        };
        Ok(max.to_string().into_bytes())
    })
}

/// `sleep SECONDS` (fractions allowed).
fn sleep(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    let pause = match sleep_time(words) {
        Ok(pause) => pause,
        Err(message) => return error(interp, &message),
    };
    // Trapped signals that arrive during the sleep run their actions at once.
    let end = std::time::Instant::now()
        .checked_add(pause)
        .expect("checked by sleep_time");
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        let mut state_ref = state.borrow_mut();
        let Some(pipe) = state_ref.extras.pipe.as_mut() else {
            drop(state_ref);
            std::thread::sleep(left);
            break;
        };
        let arrived = match pipe.wait(Some(left)) {
            Ok(arrived) => arrived,
            Err(e) => return error(interp, &format!("sleep: {e}")),
        };
        let Some(signal) = arrived else { break };
        state_ref.extras.arrived([signal]);
        drop(state_ref);
        match super::extras::run_traps(state, interp) {
            Code::Ok => {}
            code => return code,
        }
        if left.is_zero() {
            break;
        }
    }
    interp.set_result(b"");
    Code::Ok
}

/// The pause `sleep` was given.
fn sleep_time(words: &[Vec<u8>]) -> Result<Duration, String> {
    let [seconds] = words else {
        return Err("usage: sleep seconds".into());
    };
    let value = text(seconds);
    let seconds: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| format!("sleep: expected seconds, got \"{value}\""))?;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|&pause| std::time::Instant::now().checked_add(pause).is_some())
        .ok_or_else(|| format!("sleep: {value} seconds is too long"))
}

/// `exit [-onexit [HANDLER]] [-noexit] [CODE]`: ends the script at once (no `catch` stops
/// it); the programs still open are hung up. `-onexit HANDLER` sets the script run once at
/// the end (alone, it returns the handler); `-noexit` runs the handler without ending
/// the script (the programs are hung up when it ends, as always).
fn exit(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    let mut words = words;
    let mut noexit = false;
    while let Some((flag, rest)) = words.split_first() {
        match text(flag).as_str() {
            "-onexit" => {
                return match rest {
                    [] => {
                        let handler = state.borrow().exit_handler.clone();
                        interp.set_result(&handler);
                        Code::Ok
                    }
                    [handler] => {
                        state.borrow_mut().exit_handler = handler.clone();
                        Code::Ok
                    }
                    _ => error(interp, "usage: exit [-onexit [handler]] [-noexit] [status]"),
                };
            }
            "-noexit" => noexit = true,
            _ => break,
        }
        words = rest;
    }
    let code = match words {
        [] => 0,
        [code] => match text(code).trim().parse::<i32>() {
            Ok(code) => code,
            Err(_) => {
                return error(
                    interp,
                    &format!("expected integer but got \"{}\"", text(code)),
                );
            }
        },
        _ => return error(interp, "usage: exit [-onexit [handler]] [-noexit] [status]"),
    };
    run_exit_handler(state, interp);
    if state.borrow().exit_code.is_some() {
        // The handler itself called `exit`: its code stands, as in Expect.
        return Code::Error;
    }
    if noexit {
        return Code::Ok;
    }
    state.borrow_mut().exit_code = Some(code);
    interp.cancel_unwinding(b"exit");
    Code::Error
}

/// Runs the `exit -onexit` handler, once, at the global level; its errors are reported
/// on stderr, as Tcl reports a background error.
pub(crate) fn run_exit_handler(state: &Shared, interp: InterpRef<'_>) {
    let handler = {
        let mut state = state.borrow_mut();
        if state.exit_handler_ran || state.exit_handler.is_empty() {
            return;
        }
        state.exit_handler_ran = true;
        state.exit_handler.clone()
    };
    if interp.eval_global(&handler) == Code::Error && state.borrow().exit_code.is_none() {
        eprintln!("ptychat: exit handler: {}", text(&interp.result()));
    }
}

/// `exp_version [-exit] [VERSION]`: the Expect version these commands follow.
fn exp_version(_: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || match words {
        [] => Ok(EXPECT_VERSION.as_bytes().to_vec()),
        [version] | [_, version] => {
            let wanted = text(version);
            let major = wanted.split('.').next().unwrap_or("");
            if major == "5" {
                Ok(Vec::new())
            } else {
                Err(format!(
                    "{wanted} requires Expect version {wanted} (but using {EXPECT_VERSION})"
                ))
            }
        }
        _ => Err("usage: exp_version [-exit] [version]".into()),
    })
}

/// `timestamp [-seconds N] [-format FORMAT] [-gmt]`: the time in seconds since the epoch
/// (now, or N), or, with `-format`, formatted by Tcl's `clock format` (the `%` codes of
/// strftime, which Expect's own formatter follows).
fn timestamp(_: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    let parsed = (|| {
        let (flags, rest) = Flags::take("timestamp", words, &["-gmt"], &["-seconds", "-format"])?;
        if !rest.is_empty() {
            return Err("usage: timestamp [-seconds N] [-format FORMAT] [-gmt]".to_owned());
        }
        let seconds = match flags.value("-seconds") {
            Some(value) => text(value).trim().parse::<i64>().map_err(|_| {
                format!(
                    "timestamp: -seconds needs an integer, got \"{}\"",
                    text(value)
                )
            })?,
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        };
        Ok((
            seconds,
            flags.value("-format").map(<[u8]>::to_vec),
            flags.has("-gmt"),
        ))
    })();
    let (seconds, format, gmt) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => return error(interp, &message),
    };
    let Some(format) = format else {
        interp.set_result(seconds.to_string().as_bytes());
        return Code::Ok;
    };
    let mut script = format!("::clock format {seconds} -format ").into_bytes();
    script.extend_from_slice(&tcl_word(&format));
    script.extend_from_slice(if gmt { b" -gmt 1" } else { b" -gmt 0" });
    interp.eval(&script)
}

/// `getpid`: our process id (Tcl's `pid` gives the same); arguments are ignored, as in
/// Expect.
fn getpid(_: &Shared, interp: InterpRef<'_>, _: &[Vec<u8>]) -> Code {
    tcl(interp, || Ok(std::process::id().to_string().into_bytes()))
}

/// `bytes` as one Tcl word: every ASCII character that is not a letter or digit
/// backslash-quoted, control characters as `\xHH`.
pub(super) fn tcl_word(bytes: &[u8]) -> Vec<u8> {
    let mut word = Vec::with_capacity(bytes.len() * 2 + 2);
    if bytes.is_empty() {
        return b"{}".to_vec();
    }
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | 0x80.. => word.push(b),
            0x20..=0x7e => word.extend_from_slice(&[b'\\', b]),
            _ => word.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    word
}
