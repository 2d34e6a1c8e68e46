//! `ptychat unbuffer PROGRAM [ARGS...]`: run a program on a terminal and copy its output
//! to standard output as it arrives, like Expect's `unbuffer`.
//!
//! Programs buffer their output in big blocks when it goes to a pipe or a file and line by
//! line when it goes to a terminal; running them on a pty gets the line-by-line behaviour
//! in a pipeline. As in Expect's `unbuffer`, the terminal's output processing is turned
//! off (`stty -opost`) so lines end in `\n`, not `\r\n`, and nothing is typed to the
//! program.

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use ptychat::{Command, Error, Pattern};

use crate::{Failure, is_option, unknown_option};

/// The exit code of a process killed by SIGPIPE, used when our standard output closes.
const BROKEN_PIPE_EXIT: i32 = 128 + 13;

/// Turns off output processing on the terminal (its stdin), then becomes the program.
/// `$0` is the program, `"$@"` its arguments.
const WRAPPER: &str = "stty -opost 2>/dev/null; exec \"$0\" \"$@\"";

pub(crate) fn main(args: &[OsString]) -> Result<i32, Failure> {
    let args = match args.split_first() {
        Some((first, rest)) if first == "--" => rest,
        Some((first, _)) if first == "-h" || first == "--help" => {
            print!("{}", crate::HELP);
            return Ok(0);
        }
        Some((first, _)) if is_option(first) => return Err(unknown_option("unbuffer", first)),
        _ => args,
    };
    let Some((program, program_args)) = args.split_first() else {
        return Err(Failure::Usage("unbuffer: missing PROGRAM".into()));
    };
    if program.as_bytes().starts_with(b"-") {
        return Err(Failure::Usage(
            "unbuffer: program names starting with `-` are not supported".into(),
        ));
    }
    // The wrapper would report a missing program only as exit code 127; say it clearly.
    find_program(program).map_err(|source| Error::Spawn {
        program: program.to_string_lossy().into_owned(),
        source,
    })?;
    let mut session = Command::new("/bin/sh")
        .arg("-c")
        .arg(WRAPPER)
        .arg(program)
        .args(program_args)
        .timeout(None)
        .spawn()?;
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

/// Checks that `program` names an executable file, looking it up in `PATH` if it has no
/// `/`, as `exec` will.
fn find_program(program: &OsStr) -> io::Result<()> {
    let candidates: Vec<PathBuf> = if program.as_bytes().contains(&b'/') {
        vec![PathBuf::from(program)]
    } else if program.is_empty() {
        Vec::new()
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|dir| match dir.as_os_str().is_empty() {
                true => PathBuf::from(".").join(program),
                false => dir.join(program),
            })
            .collect()
    };
    let mut error = io::Error::from_raw_os_error(nix::libc::ENOENT);
    for candidate in candidates {
        match std::fs::metadata(&candidate) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return Ok(());
            }
            Ok(_) => error = io::Error::from_raw_os_error(nix::libc::EACCES),
            Err(_) => {}
        }
    }
    Err(error)
}
