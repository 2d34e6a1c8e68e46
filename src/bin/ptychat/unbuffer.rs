//! `ptychat unbuffer [-p] PROGRAM [ARGS...]`: run a program on a terminal and copy its
//! output to standard output as it arrives, like Expect's `unbuffer`.
//!
//! Programs buffer their output in big blocks when it goes to a pipe or a file and line by
//! line when it goes to a terminal; running them on a pty gets the line-by-line behaviour
//! in a pipeline. As in Expect's `unbuffer`, the terminal's output processing is turned
//! off (`stty -opost`) so lines end in `\n`, not `\r\n`.
//!
//! Without `-p` nothing is typed to the program: one that reads its input waits for it
//! (as with Expect's `unbuffer`). With `-p` (for a program in the middle of a pipeline)
//! our standard input is typed to it, with the terminal's echo off, and the end of our
//! input reaches it as end of file.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;

use ptychat::{Command, Error, Interact, InteractOutcome, Pattern, PtySession};

use crate::{Failure, is_option, unknown_option};

/// The exit code of a process killed by SIGPIPE, used when our standard output closes.
const BROKEN_PIPE_EXIT: i32 = 128 + 13;

/// Turns off output processing on the terminal (its stdin), then becomes the program.
/// `$0` is the program, `"$@"` its arguments.
const WRAPPER: &str = "stty -opost 2>/dev/null; exec \"$0\" \"$@\"";

pub(crate) fn main(mut args: &[OsString]) -> Result<i32, Failure> {
    let mut feed_input = false;
    loop {
        match args.split_first() {
            Some((first, rest)) if first == "--" => {
                args = rest;
                break;
            }
            Some((first, _)) if first == "-h" || first == "--help" => {
                print!("{}", crate::HELP);
                return Ok(0);
            }
            Some((first, rest)) if first == "-p" => {
                feed_input = true;
                args = rest;
            }
            Some((first, _)) if is_option(first) => {
                return Err(unknown_option("unbuffer", first));
            }
            _ => break,
        }
    }
    let Some((program, program_args)) = args.split_first() else {
        return Err(Failure::Usage("unbuffer: missing PROGRAM".into()));
    };
    if program.as_bytes().starts_with(b"-") {
        return Err(Failure::Usage(
            "unbuffer: program names starting with `-` are not supported".into(),
        ));
    }
    // The wrapper would report a missing program only as exit code 127; say it clearly.
    Command::new(program).locate()?;
    let mut session = Command::new("/bin/sh")
        .arg("-c")
        .arg(WRAPPER)
        .arg(program)
        .args(program_args)
        // With -p, what we pass on must not come back as the terminal's echo.
        .echo(!feed_input)
        .timeout(None)
        .spawn()?;
    if feed_input {
        match pass_input_on(&mut session) {
            Ok(Some(code)) => return Ok(code),
            Ok(None) => {}
            Err(e) if is_broken_pipe(&e) => return Ok(BROKEN_PIPE_EXIT),
            Err(e) => return Err(e.into()),
        }
    }
    let mut stdout = io::stdout().lock();
    loop {
        let m = session.expect([Pattern::nbytes(1), Pattern::eof()])?;
        let copied = if m.is_eof() {
            stdout.write_all(m.before())
        } else {
            let rest = session.take_buffer();
            stdout
                .write_all(m.matched())
                .and_then(|()| stdout.write_all(&rest))
        };
        match copied.and_then(|()| stdout.flush()) {
            Ok(()) => {}
            // Our reader went away: stop like a program killed by SIGPIPE would (dropping
            // the session hangs up the program).
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(BROKEN_PIPE_EXIT),
            Err(e) => {
                return Err(Error::Io {
                    context: "writing to standard output",
                    source: e,
                }
                .into());
            }
        }
        if m.is_eof() {
            break;
        }
    }
    Ok(session.wait()?.shell_code())
}

/// `-p`: copies our standard input to the program as typed, and our output from it, until
/// our input ends (its end then reaches the program as end of file) or the program's
/// output ends (`Some` exit code).
fn pass_input_on(session: &mut PtySession) -> Result<Option<i32>, Error> {
    let outcome = session.interact_with(Interact::new().escape(None))?;
    Ok(match outcome {
        InteractOutcome::Exited(status) => Some(status.shell_code()),
        InteractOutcome::Eof => Some(session.wait()?.shell_code()),
        // The rest of the output is copied as without -p.
        _ => None,
    })
}

/// True for a failed write to our standard output whose reader has gone.
fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
}
