//! The `ptychat` command: run expect scripts, unbuffer programs, and hold chat(8)-style
//! dialogues with programs on a pseudo-terminal. See `ptychat --help`.

// The subcommands' modules live in src/bin/ptychat/.
#[path = "ptychat/chat.rs"]
mod chat;
#[path = "ptychat/expect.rs"]
mod expect;
#[path = "ptychat/interact.rs"]
mod interact;
#[path = "ptychat/unbuffer.rs"]
mod unbuffer;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use ptychat::Error;
use ptychat::script::{RunOptions, Script, ScriptError};

const HELP: &str = "\
ptychat - drive interactive programs on a pseudo-terminal

Usage:
  ptychat run [-v] [-x] SCRIPT [ARGS...]
      Run an expect script (SCRIPT `-` reads it from standard input). ARGS are the
      script's $arg1, $arg2... and $argc.
  ptychat check SCRIPT...
      Parse scripts and report mistakes without running anything.
  ptychat expect [-c CMD]... [-d] [-i] [-n] [-N] [--strict] [--trace]
                 [--log FILE] [--record FILE]
                 [-f FILE | -b FILE | FILE] [--] [ARGS...]
      Run a Tcl Expect script unchanged: the real Tcl 8.6 interpreter (the tcl8.6
      package) with Expect's commands on ptychat's engine; `argv`, `argc` and `argv0`
      as Expect sets them. As in Expect: `-c` runs CMD first; `-b` reads the script
      line by line (`-` is standard input); `-i` gives an interactive prompt instead
      of a script (implied with no script and no -c on a terminal; otherwise standard
      input is the script); `-d` traces each program to stderr (exp_internal 1, in
      ptychat's words); `-n`/`-N` do nothing (no rc files are read); `-D` (the
      debugger) is refused. `--strict`: an expect that times out or meets the end of
      output without a branch for it fails the script with the patterns, deadline and
      output tail (Expect carries on). `--trace`: each Expect command run, with its
      FILE:LINE, to stderr. --log and --record as for run, one file fed by
      every program the script spawns; ptychat's command `send_secret` sends a string
      masked in them, log_file and exp_internal. See docs/TCL.md.
  ptychat unbuffer [-p] PROGRAM [ARGS...]
      Run PROGRAM on a terminal (so it line-buffers its output) and copy its output
      to standard output. Without -p nothing is typed to it: a program that reads
      its input waits for it. With -p (in the middle of a pipeline) standard input
      is typed to PROGRAM, without echo, and its end reaches PROGRAM as end of file.
  ptychat chat [-t SECONDS] [-v] [--] EXPECT SEND [EXPECT SEND...] -- PROGRAM [ARGS...]
      Hold a chat(8)-style dialogue with PROGRAM: wait for each EXPECT string, then
      type its SEND string followed by Enter (\\r). '' expects nothing. Escapes:
      \\r \\n \\t \\s (space) \\\\ \\^ ^X (Ctrl-X), and \\c at the end of a SEND string
      (no Enter). `ABORT TEXT` fails the dialogue if TEXT appears; `TIMEOUT SECONDS`
      changes the deadline. Afterwards ptychat waits for PROGRAM to exit.
  ptychat interact [--escape KEY|none] [--] PROGRAM [ARGS...]
      Run PROGRAM on a terminal sized like ours and connect our terminal to it (like
      script(1)): what you type goes to PROGRAM, what it writes comes to you. The
      escape key (default ^], that is Ctrl-]; `^X` for Ctrl-X, `none` for no escape)
      hangs PROGRAM up. Our terminal's mode is restored however ptychat ends. When
      standard input ends (a file, a closed pipe), PROGRAM gets its end-of-file
      character; its output is shown until it exits, for up to 10 seconds, then it is
      hung up.
  ptychat --help | --version

Options:
  -v, --verbose        (run, chat) copy the program's output to standard error as it is read
  -x, --trace          (run) print each command to standard error before running it
      --log FILE       (run, expect) log the program's output and what is sent to it to FILE
                       (secrets sent with send_secret show as [secret: N bytes])
      --log-output FILE
                       (run) log only the program's output to FILE
      --record FILE    (run, expect) record the session as an asciicast v2 file, for
                       `asciinema play FILE`
      --screen         (run) print the screen of each program still open when the
                       script ends (framed, cursor marked)
  -t, --timeout SECS   (chat) deadline for each expect, `none` for no deadline (default 30)

Exit status:
  run       0 when the script ends, or the code given to its `exit` command
  unbuffer  the program's exit code (128+N if signal N killed it)
  chat      the program's exit code (128+N if signal N killed it)
  interact  the program's exit code (128+N if signal N killed it)
  1         a script or dialogue failed (a timeout, the end of output, a failed
            assert_exit, an error from the program or system)
  2         the command line was wrong

The script language is described in docs/SCRIPTS.md.
";

/// Why `ptychat` stops early.
enum Failure {
    /// The command line was wrong (exit code 2).
    Usage(String),
    /// Something failed while running (exit code 1).
    Failed(String),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Failed(error.to_string())
    }
}

impl From<ScriptError> for Failure {
    fn from(error: ScriptError) -> Self {
        Failure::Failed(error.to_string())
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(Failure::Usage(message)) => {
            eprintln!("ptychat: {message}\nTry `ptychat --help` for more information.");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("ptychat: {message}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(args: &[OsString]) -> Result<i32, Failure> {
    let Some((command, rest)) = args.split_first() else {
        return Err(Failure::Usage(
            "missing command (run, check, expect, unbuffer, chat or interact)".into(),
        ));
    };
    match command.to_str().unwrap_or("") {
        "run" => run(rest),
        "expect" => expect::main(rest),
        "check" => check(rest),
        "unbuffer" => unbuffer::main(rest),
        "chat" => chat::main(rest),
        "interact" => interact::main(rest),
        "-h" | "--help" | "help" => {
            print!("{HELP}");
            Ok(0)
        }
        "-V" | "--version" => {
            println!("ptychat {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        _ => Err(Failure::Usage(format!(
            "unknown command `{}` (expected run, check, expect, unbuffer, chat or interact)",
            command.to_string_lossy()
        ))),
    }
}

/// Command-line arguments for the parsers' unit tests.
#[cfg(test)]
fn os_args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

/// Whether `arg` looks like an option (`-x`, `--x`), as opposed to `-` (stdin) or a word.
fn is_option(arg: &OsStr) -> bool {
    arg.len() > 1 && arg.to_string_lossy().starts_with('-')
}

fn unknown_option(command: &str, arg: &OsStr) -> Failure {
    Failure::Usage(format!(
        "{command}: unknown option `{}`",
        arg.to_string_lossy()
    ))
}

/// Splits `--name=value` into its name and value.
fn split_value(arg: &OsStr) -> (&OsStr, Option<&OsStr>) {
    let bytes = arg.as_bytes();
    match bytes.iter().position(|&b| b == b'=') {
        Some(at) if bytes.starts_with(b"--") => (
            OsStr::from_bytes(&bytes[..at]),
            Some(OsStr::from_bytes(&bytes[at + 1..])),
        ),
        _ => (arg, None),
    }
}

/// `ptychat run [-v] [-x] [--screen] [--log FILE] [--log-output FILE] [--record FILE] SCRIPT
/// [ARGS...]`
fn run(args: &[OsString]) -> Result<i32, Failure> {
    let mut options = RunOptions::default();
    let mut rest = args;
    while let Some((arg, tail)) = rest.split_first() {
        if !is_option(arg) {
            break;
        }
        rest = tail;
        let (name, value) = split_value(arg);
        let file = match name.to_str().unwrap_or("") {
            "--log" => Some(&mut options.log),
            "--log-output" => Some(&mut options.log_output),
            "--record" => Some(&mut options.record),
            _ => None,
        };
        if let Some(file) = file {
            let value = match value {
                Some(value) => value,
                None => {
                    let Some((value, tail)) = rest.split_first() else {
                        return Err(Failure::Usage(format!(
                            "run: {} needs a FILE",
                            name.to_string_lossy()
                        )));
                    };
                    rest = tail;
                    value
                }
            };
            *file = Some(PathBuf::from(value));
            continue;
        }
        match arg.to_str().unwrap_or("") {
            "-v" | "--verbose" => options.verbose = true,
            "-x" | "--trace" => options.trace = true,
            "--screen" => options.screen = true,
            "-vx" | "-xv" => (options.verbose, options.trace) = (true, true),
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(0);
            }
            "--" => break,
            _ => return Err(unknown_option("run", arg)),
        }
    }
    let Some((path, script_args)) = rest.split_first() else {
        return Err(Failure::Usage("run: missing SCRIPT".into()));
    };
    let script = Script::load(path)?;
    for warning in script.warnings() {
        eprintln!("ptychat: {warning}");
    }
    Ok(script.run(script_args, &options)?)
}

/// `ptychat check SCRIPT...`
fn check(paths: &[OsString]) -> Result<i32, Failure> {
    if paths.is_empty() {
        return Err(Failure::Usage("check: missing SCRIPT".into()));
    }
    if let Some(option) = paths.iter().find(|p| is_option(p)) {
        return Err(unknown_option("check", option));
    }
    let mut failed = false;
    for path in paths {
        match Script::load(path) {
            Ok(script) => script
                .warnings()
                .iter()
                .for_each(|w| eprintln!("ptychat: {w}")),
            Err(error) => {
                eprintln!("ptychat: {error}");
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}
