//! The `ptychat` command: run expect scripts, unbuffer programs, and hold chat(8)-style
//! dialogues with programs on a pseudo-terminal. See `ptychat --help`.

// The subcommands' modules live in src/bin/ptychat/.
#[path = "ptychat/chat.rs"]
mod chat;
#[path = "ptychat/unbuffer.rs"]
mod unbuffer;

use std::ffi::{OsStr, OsString};
use std::process::ExitCode;

use ptychat::Error;
use ptychat::script::{RunOptions, Script};

const HELP: &str = "\
ptychat - drive interactive programs on a pseudo-terminal

Usage:
  ptychat run [-v] [-x] SCRIPT [ARGS...]
      Run an expect script (SCRIPT `-` reads it from standard input). ARGS are the
      script's $arg1, $arg2... and $argc.
  ptychat check SCRIPT...
      Parse scripts and report mistakes without running anything.
  ptychat unbuffer PROGRAM [ARGS...]
      Run PROGRAM on a terminal (so it line-buffers its output) and copy its output
      to standard output. Nothing is typed to it.
  ptychat chat [-t SECONDS] [-v] [--] EXPECT SEND [EXPECT SEND...] -- PROGRAM [ARGS...]
      Hold a chat(8)-style dialogue with PROGRAM: wait for each EXPECT string, then
      type its SEND string followed by Enter (\\r). '' expects nothing. Escapes:
      \\r \\n \\t \\s (space) \\\\ \\^ ^X (Ctrl-X), and \\c at the end of a SEND string
      (no Enter). `ABORT TEXT` fails the dialogue if TEXT appears; `TIMEOUT SECONDS`
      changes the deadline. Afterwards ptychat waits for PROGRAM to exit.
  ptychat --help | --version

Options:
  -v, --verbose        (run, chat) copy the program's output to standard error as it is read
  -x, --trace          (run) print each command to standard error before running it
  -t, --timeout SECS   (chat) deadline for each expect, `none` for no deadline (default 30)

Exit status:
  run       0 when the script ends, or the code given to its `exit` command
  unbuffer  the program's exit code (128+N if signal N killed it)
  chat      the program's exit code (128+N if signal N killed it)
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
            "missing command (run, check, unbuffer or chat)".into(),
        ));
    };
    match command.to_str().unwrap_or("") {
        "run" => run(rest),
        "check" => check(rest),
        "unbuffer" => unbuffer::main(rest),
        "chat" => chat::main(rest),
        "-h" | "--help" | "help" => {
            print!("{HELP}");
            Ok(0)
        }
        "-V" | "--version" => {
            println!("ptychat {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        _ => Err(Failure::Usage(format!(
            "unknown command `{}` (expected run, check, unbuffer or chat)",
            command.to_string_lossy()
        ))),
    }
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

/// `ptychat run [-v] [-x] SCRIPT [ARGS...]`
fn run(args: &[OsString]) -> Result<i32, Failure> {
    let mut options = RunOptions::default();
    let mut rest = args;
    while let Some((arg, tail)) = rest.split_first() {
        if !is_option(arg) {
            break;
        }
        rest = tail;
        match arg.to_str().unwrap_or("") {
            "-v" | "--verbose" => options.verbose = true,
            "-x" | "--trace" => options.trace = true,
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
        if let Err(error) = Script::load(path) {
            eprintln!("ptychat: {error}");
            failed = true;
        }
    }
    Ok(i32::from(failed))
}
