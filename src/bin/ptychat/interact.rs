//! `ptychat interact [--escape KEY|none] [--] PROGRAM [ARGS...]`: run a program on a
//! pseudo-terminal sized like ours and connect our terminal to it, like script(1) without
//! the typescript. Exits with the program's exit code (128+N if signal N killed it).
//!
//! The escape key (default `^]`, Ctrl-]) hangs the program up (SIGHUP, then stronger
//! signals) and ends ptychat with the program's resulting status.
//!
//! When our standard input ends (a file, a closed pipe), the program gets its end-of-file
//! character; its output is shown until it ends and the program exits, for up to 10
//! seconds, then the program is hung up as by the escape key.
//!
//! Test aid, not shown in `--help`: `--panic-on MARKER` makes ptychat panic in an
//! interact hook when MARKER appears in the program's output, so tests can check that the
//! terminal is restored after a panic in the real binary.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use ptychat::{
    Command, Error, ExitStatus, Interact, InteractOutcome, Pattern, PtyConfig, PtySession,
};

use crate::{Failure, is_option};

/// How long the program gets to react to each signal when the escape key hangs it up.
const HANG_UP_GRACE: Duration = Duration::from_millis(500);

/// How long the program gets to finish, its output shown, once our standard input has
/// ended (and it got its end-of-file character); then it is hung up.
const AFTER_INPUT_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Options {
    escape: Option<u8>,
    panic_on: Option<Vec<u8>>,
    program: Vec<OsString>,
}

pub(crate) fn main(args: &[OsString]) -> Result<i32, Failure> {
    let Some(options) = parse(args).map_err(|m| Failure::Usage(format!("interact: {m}")))? else {
        print!("{}", crate::HELP);
        return Ok(0);
    };
    run(options)
}

/// Parses the command line; `None` asks for help.
fn parse(args: &[OsString]) -> Result<Option<Options>, String> {
    let mut escape = Some(ptychat::DEFAULT_ESCAPE);
    let mut panic_on = None;
    let mut rest = args;
    while let Some((arg, tail)) = rest.split_first() {
        if !is_option(arg) {
            break;
        }
        rest = tail;
        let text = arg.to_string_lossy();
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (&*text, None),
        };
        let mut value = |what: &str| -> Result<OsString, String> {
            if let Some(value) = &inline {
                return Ok(value.into());
            }
            let (value, tail) = rest
                .split_first()
                .ok_or_else(|| format!("{name} needs {what}"))?;
            rest = tail;
            Ok(value.clone())
        };
        match name {
            "--" => break,
            "-e" | "--escape" => {
                let key = value("KEY (like ^X, or none)")?;
                escape = match Interact::parse_escape(&key.to_string_lossy()) {
                    Ok(escape) => escape,
                    Err(ptychat::Error::InvalidArgument(message)) => return Err(message),
                    Err(e) => return Err(e.to_string()),
                };
            }
            "--panic-on" => panic_on = Some(value("MARKER")?.as_bytes().to_vec()),
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown option `{text}`")),
        }
    }
    if rest.is_empty() {
        return Err("missing PROGRAM".into());
    }
    Ok(Some(Options {
        escape,
        panic_on,
        program: rest.to_vec(),
    }))
}

fn run(options: Options) -> Result<i32, Failure> {
    let default = PtyConfig::default();
    let (rows, cols) = Interact::terminal_size().unwrap_or((default.rows, default.cols));
    let program = &options.program;
    let mut session = Command::new(&program[0])
        .args(&program[1..])
        .window_size(rows, cols)
        .timeout(None)
        .spawn()?;
    let mut interact = Interact::new().escape(options.escape);
    if let Some(marker) = options.panic_on {
        let shown = String::from_utf8_lossy(&marker).into_owned();
        interact = interact.on_output(Pattern::exact(marker), move |_, _| {
            panic!("--panic-on: the program wrote {shown:?}")
        });
    }
    let status = match session.interact_with(interact)? {
        InteractOutcome::Exited(status) => status,
        InteractOutcome::Interrupted(signal) => return Ok(128 + signal as i32),
        InteractOutcome::InputEnded => match show_until_exit(&mut session)? {
            Some(status) => status,
            None => session.terminate(HANG_UP_GRACE)?,
        },
        outcome => {
            if outcome == InteractOutcome::Escaped {
                // The program's cursor may be anywhere on the line: start a new one.
                eprintln!(
                    "\nptychat: escape key: hanging up {}",
                    program[0].to_string_lossy()
                );
            }
            session.terminate(HANG_UP_GRACE)?
        }
    };
    Ok(status.shell_code())
}

/// After the user's input ended (a file, a pipe) and the program got its end of file:
/// copies its output to ours until the output ends and it exits, for up to
/// [`AFTER_INPUT_GRACE`]. `None` if it is still running then.
fn show_until_exit(session: &mut PtySession) -> Result<Option<ExitStatus>, Failure> {
    let deadline = Instant::now() + AFTER_INPUT_GRACE;
    let mut stdout = std::io::stdout().lock();
    loop {
        let m = session.expect_deadline(
            [Pattern::nbytes(1), Pattern::eof(), Pattern::timeout()],
            deadline,
        )?;
        let mut shown = m.matched().to_vec();
        shown.extend(session.take_buffer());
        stdout
            .write_all(&shown)
            .and_then(|()| stdout.flush())
            .map_err(|source| Error::Io {
                context: "writing to standard output",
                source,
            })?;
        if m.is_timeout() {
            return Ok(None);
        }
        if m.is_eof() {
            return Ok(session.wait_deadline(deadline)?);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os_args as args;

    #[test]
    fn parses_escape_and_program() {
        let o = parse(&args(&["--escape", "^x", "--", "bash", "-l"]))
            .unwrap()
            .unwrap();
        assert_eq!(o.escape, Some(0x18));
        assert_eq!(o.program, args(&["bash", "-l"]));
        let o = parse(&args(&["--escape=none", "sh"])).unwrap().unwrap();
        assert_eq!(o.escape, None);
        let o = parse(&args(&["sh", "--escape", "none"])).unwrap().unwrap();
        assert_eq!(o.escape, Some(0x1d));
        assert_eq!(o.program, args(&["sh", "--escape", "none"]));
        let o = parse(&args(&["--panic-on", "BOOM", "sh"]))
            .unwrap()
            .unwrap();
        assert_eq!(o.panic_on.as_deref(), Some(&b"BOOM"[..]));
    }

    #[test]
    fn rejects_bad_command_lines() {
        assert!(parse(&args(&[])).unwrap_err().contains("missing PROGRAM"));
        assert!(
            parse(&args(&["--escape"]))
                .unwrap_err()
                .contains("needs KEY")
        );
        assert!(parse(&args(&["--escape", "x", "sh"])).is_err());
        assert!(
            parse(&args(&["-q", "sh"]))
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(parse(&args(&["--help"])).unwrap().is_none());
    }
}
