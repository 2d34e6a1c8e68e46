//! Tcl Expect scripts, run as they are: the real Tcl 8.6 interpreter (loaded at run time)
//! with Expect's commands implemented on ptychat's engine. `ptychat expect SCRIPT` runs
//! one; `docs/TCL.md` says what is provided and what differs from Expect.
//!
//! ```no_run
//! use ptychat::tcl::{ExpectOptions, run_expect};
//! std::fs::write("/tmp/bc.exp", r#"
//!     package require Expect
//!     log_user 0
//!     spawn bc -q
//!     send "6 * 7\r"
//!     expect -re {(\d+)\r\n}
//!     puts "bc says $expect_out(1,string)"
//! "#)?;
//! let code = run_expect(Some("/tmp/bc.exp".as_ref()), &[], &ExpectOptions::default())?;
//! assert_eq!(code, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Owns: the Expect commands (`commands.rs`, `expect.rs`) and what they share (`state.rs`);
//! the interpreter itself is `sys::tcl`. Like `script`, it sits at the top of the crate and
//! uses the public API.

mod background;
mod buffered;
mod commands;
mod expect;
mod extras;
mod interact;
mod interact_many;
mod interpreter;
mod mixed;
mod spawned;
mod state;
mod streams;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::logging::Direction;
use crate::script::ScriptError;
use crate::script::logs::Sink;
use crate::sys::tcl::{self, Code, Interp, InterpRef, Scope};

pub use commands::EXPECT_VERSION;

/// How `ptychat expect` runs a script.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExpectOptions {
    /// Commands to run before the script (`-c`), in order.
    pub commands: Vec<String>,
    /// `--strict`: an `expect` that times out or meets the end of the output without a
    /// branch for it fails the script with ptychat's error (patterns, deadline, tail),
    /// where Expect carries on silently.
    pub strict: bool,
    /// `--log FILE`: what every spawned program writes and what is sent to it, to
    /// `FILE` (as `ptychat run --log`; one file fed by all the programs, secrets masked).
    pub log: Option<PathBuf>,
    /// `--record FILE`: every spawned program's output, recorded as an asciicast v2
    /// file (as `ptychat run --record`; one recording fed by all the programs).
    pub record: Option<PathBuf>,
    /// `-d`: `exp_internal 1` from the start (ptychat's trace of the programs to stderr,
    /// worded differently from Expect's diagnostics), after a version line on stderr.
    pub diagnostics: bool,
    /// `-i`: after the `-c` commands, an interactive prompt (`interpreter`) on our standard
    /// input instead of the script, which is not run (as in Expect).
    pub interactive: bool,
    /// `-b`: the script file is read line by line, each command run as soon as it is
    /// complete (Tcl's `info complete`), instead of read whole first.
    pub buffered: bool,
    /// `--trace`: each Expect command the script runs, with its FILE:LINE, to stderr.
    pub trace: bool,
}

impl ExpectOptions {
    /// Options with `-c` commands and `--strict` as given (the other flags off).
    pub fn new(commands: Vec<String>, strict: bool) -> Self {
        ExpectOptions {
            commands,
            strict,
            ..ExpectOptions::default()
        }
    }
}

/// Runs the Tcl Expect script `file` (`-`: standard input, read command by command;
/// after the `-c` commands of `options`; with no file, only those; with
/// [`interactive`](ExpectOptions::interactive), `interpreter` instead of the file) with
/// `args` as its `argv`; the result is the script's exit code (`exit N`, or 0 at its end). A Tcl error ends the script with a [`ScriptError::Message`] holding
/// Tcl's `errorInfo` and the script's line; the error of a `-c` command is printed to
/// stderr and the run goes on, as in Expect (unless `strict`). Programs still open at the end are hung up
/// and reaped.
///
/// Without Tcl 8.6 installed the error says which package to install.
pub fn run_expect(
    file: Option<&Path>,
    args: &[OsString],
    options: &ExpectOptions,
) -> Result<i32, ScriptError> {
    let name = match file {
        Some(path) => path.display().to_string(),
        None => "-c".to_owned(),
    };
    let whole = |message: String| ScriptError::File {
        file: name.clone(),
        error: Box::new(Error::InvalidArgument(message)),
    };
    // `-` is our standard input, read command by command, as in Expect.
    let stdin = file.is_some_and(|path| path.as_os_str() == "-");
    if let Some(path) = file.filter(|_| !stdin) {
        if let Err(e) = std::fs::metadata(path) {
            return Err(ScriptError::File {
                file: name.clone(),
                error: Box::new(Error::Io {
                    context: "reading the script",
                    source: std::io::Error::new(e.kind(), format!("{name}: {e}")),
                }),
            });
        }
    }
    let library = tcl::load().map_err(|e| {
        whole(format!(
            "ptychat expect needs the Tcl 8.6 library, which could not be loaded ({e}); \
             install it (Debian and Ubuntu: apt-get install tcl8.6)"
        ))
    })?;
    let state = state::State::new(options.strict);
    state.borrow_mut().option_logs = option_logs(options).map_err(|source| ScriptError::File {
        file: name.clone(),
        error: Box::new(Error::Io {
            context: "opening a log",
            source,
        }),
    })?;
    let interp = Interp::new(library)
        .map_err(|e| whole(format!("the Tcl interpreter could not start: {e}")))?;
    let handle = interp.handle();
    let mut names = commands::register(handle, &state);
    names.sort();
    names.dedup();
    handle.provide_package("Expect", EXPECT_VERSION);
    set_globals(handle, file, args).map_err(|e| whole(text(&e)))?;
    if options.trace {
        let script = format!(
            "{TRACE}\nforeach c {{{}}} {{ trace add execution $c enter ::ptychat::trace }}",
            names.join(" ")
        );
        if handle.eval(script.as_bytes()) != Code::Ok {
            return Err(whole(text(&handle.result())));
        }
    }
    // Expect's prompt under -i shows one level less than the `interpreter` command's
    // (the -c commands may redefine it).
    if options.interactive && handle.eval(INTERACTIVE_PROMPT) != Code::Ok {
        return Err(whole(text(&handle.result())));
    }
    if options.diagnostics {
        eprintln!("ptychat expect (Expect {EXPECT_VERSION} commands)");
        if handle.eval(b"exp_internal 1") != Code::Ok {
            return Err(whole(text(&handle.result())));
        }
    }

    let mut scripts: Vec<(String, Vec<u8>)> = options
        .commands
        .iter()
        .map(|c| ("-c".to_owned(), c.clone().into_bytes()))
        .collect();
    if options.interactive {
        scripts.push(("-i".to_owned(), b"interpreter".to_vec()));
    } else if file.is_some() && !options.buffered && !stdin {
        scripts.push((name.clone(), SOURCE.to_vec()));
    }
    let run = || -> Result<i32, ScriptError> {
        for (source, script) in scripts {
            let code = handle.eval(&script);
            if let Some(exit) = state.borrow().exit_code {
                return Ok(exit);
            }
            if code == Code::Error {
                // As in Expect, a failing `-c` command is reported and the run goes on
                // (`--strict` stops there).
                if source == "-c" && !options.strict {
                    eprintln!("ptychat: {}", tcl_error(handle, &source));
                    continue;
                }
                return Err(tcl_error(handle, &source));
            }
        }
        // `-b` or a script on standard input: read and run command by command.
        match file {
            Some(path) if (options.buffered || stdin) && !options.interactive => {
                buffered::run(handle, &state, path, &name)
            }
            _ => Ok(0),
        }
    };
    let result = run();
    // The exit handler runs at every end, as in Expect (once: `exit` may have run it); an
    // `exit` in it sets the code, even after an error.
    commands::run_exit_handler(&state, handle);
    let exit = state.borrow().exit_code;
    let result = exit.map_or(result, Ok);
    // Problems writing the `--log` / `--record` files are warnings, as in `ptychat run`.
    let sinks = std::mem::take(&mut state.borrow_mut().option_logs);
    for problem in sinks.into_iter().filter_map(Sink::close) {
        eprintln!("ptychat: warning: {problem}");
    }
    result
}

/// The logs of `--log` and `--record`, opened as `ptychat run` opens its own.
fn option_logs(options: &ExpectOptions) -> std::io::Result<Vec<Sink>> {
    let mut sinks = Vec::new();
    if let Some(path) = &options.log {
        sinks.push(Sink::log(path.as_os_str(), Direction::Both, false)?);
    }
    if let Some(path) = &options.record {
        let crate::PtyConfig { rows, cols, .. } = crate::PtyConfig::default();
        sinks.push(Sink::cast(path.as_os_str(), cols, rows, false)?);
    }
    Ok(sinks)
}

/// The prompt of `-i`, as Expect's.
const INTERACTIVE_PROMPT: &[u8] =
    b"proc ::prompt1 {} { puts -nonewline \"expect[info level].[history nextid]> \" }";

/// `--trace`: prints each traced command with the FILE:LINE it runs at (the script's
/// file, or `(eval)` and the line in the evaluated string for `-c`, `-b` and typed
/// commands).
const TRACE: &str = r#"
namespace eval ::ptychat {}
proc ::ptychat::trace {command op} {
    set frame [info frame -2]
    if {[dict exists $frame file]} {
        set where [dict get $frame file]:[dict get $frame line]
    } elseif {[dict exists $frame line]} {
        set where (eval):[dict get $frame line]
    } else {
        set where (eval)
    }
    puts stderr "ptychat trace: $where: [string map [list \n \\n \r \\r] $command]"
}
"#;

/// How the script file is run: by Tcl's `source`, so `info script` and errors' file
/// lines are right.
const SOURCE: &[u8] = b"source $::argv0";

/// `argv0`, `argv`, `argc`, `timeout` and the spawn ids of our own standard streams.
fn set_globals(
    interp: InterpRef<'_>,
    file: Option<&Path>,
    args: &[OsString],
) -> Result<(), Vec<u8>> {
    let argv0 = match file {
        Some(path) if path.as_os_str() != "-" => path.as_os_str().as_bytes(),
        _ => b"expect",
    };
    interp.set_var("argv0", None, argv0, Scope::Global)?;
    interp.set_var("argv", None, b"", Scope::Global)?;
    for arg in args {
        interp.append_list_element("argv", arg.as_bytes(), Scope::Global)?;
    }
    interp.set_var(
        "argc",
        None,
        args.len().to_string().as_bytes(),
        Scope::Global,
    )?;
    interp.set_var("timeout", None, b"10", Scope::Global)?;
    interp.set_var(
        "user_spawn_id",
        None,
        state::USER_SPAWN_ID.as_bytes(),
        Scope::Global,
    )?;
    interp.set_var(
        "error_spawn_id",
        None,
        state::ERROR_SPAWN_ID.as_bytes(),
        Scope::Global,
    )?;
    interp.set_var(
        "any_spawn_id",
        None,
        state::ANY_SPAWN_ID.as_bytes(),
        Scope::Global,
    )?;
    // `tty_spawn_id` exists, as in Expect, only when we have a terminal.
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
    {
        interp.set_var(
            "tty_spawn_id",
            None,
            state::TTY_SPAWN_ID.as_bytes(),
            Scope::Global,
        )?;
    }
    // Expect's library directories: ptychat has none (empty, so `$exp_library/FILE`
    // names no file).
    for name in ["exp_library", "exp_exec_library"] {
        interp.set_var(name, None, b"", Scope::Global)?;
    }
    Ok(())
}

/// The error of a script that failed: Tcl's `errorInfo` (without our own `source` line),
/// at the script line it names.
fn tcl_error(interp: InterpRef<'_>, source: &str) -> ScriptError {
    let info = interp
        .get_var("errorInfo", None, Scope::Global)
        .unwrap_or_else(|| interp.result());
    let mut info = text(&info);
    let ours = format!(
        "\n    invoked from within\n\"{}\"",
        String::from_utf8_lossy(SOURCE)
    );
    if let Some(at) = info.rfind(&ours) {
        info.truncate(at);
    }
    let line = file_line(&info).unwrap_or_else(|| interp.error_line().max(1) as usize);
    ScriptError::Message {
        file: source.to_owned(),
        line,
        message: info,
    }
}

/// The line of the outermost `(file "..." line N)` in an `errorInfo`.
fn file_line(info: &str) -> Option<usize> {
    let at = info.rfind("(file \"")?;
    let rest = &info[at..];
    let line = rest.find("\" line ")? + "\" line ".len();
    rest[line..].split(')').next()?.trim().parse().ok()
}

/// Bytes from Tcl (or a program) as text, invalid UTF-8 replaced: shared by the commands.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_line_of_an_error_info() {
        let info = "oops\n    while executing\n\"error oops\"\n    (procedure \"f\" line 1)\n    \
                    invoked from within\n\"f\"\n    (file \"a.exp\" line 12)";
        assert_eq!(file_line(info), Some(12));
        assert_eq!(file_line("no file here"), None);
    }
}
