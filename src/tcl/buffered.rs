//! `ptychat expect -b FILE`: the script read line by line, each command run as soon as
//! it is complete (as Expect reads its standard input), so that a script still being
//! written (a fifo) runs as it comes. Also how a script on standard input (`-`) is read.

use std::io::BufRead;
use std::path::Path;

use crate::error::Error;
use crate::script::ScriptError;
use crate::sys::tcl::{Code, InterpRef, Scope};

use super::state::Shared;
use super::text;

/// Runs the script at `path` (`-`: standard input; named `name` in errors) command by
/// command at the global level; the result is the script's exit code, as for a whole
/// file. An error names the line where the failing command begins.
pub(super) fn run(
    interp: InterpRef<'_>,
    state: &Shared,
    path: &Path,
    name: &str,
) -> Result<i32, ScriptError> {
    let io = |source: std::io::Error| ScriptError::File {
        file: name.to_owned(),
        error: Box::new(Error::Io {
            context: "reading the script",
            source: std::io::Error::new(source.kind(), format!("{name}: {source}")),
        }),
    };
    // `-` is our standard input, as in Expect.
    let mut reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(io)?,
        ))
    };
    let mut command = Vec::new();
    let (mut line, mut start) = (0, 1);
    loop {
        let mut next = Vec::new();
        let end = reader.read_until(b'\n', &mut next).map_err(io)? == 0;
        if !end {
            line += 1;
            if command.is_empty() {
                start = line;
            }
            command.extend_from_slice(&next);
            if !command.ends_with(b"\n") {
                command.push(b'\n');
            }
            if !complete(interp, &command) {
                continue;
            }
        }
        if !command.is_empty() {
            let code = interp.eval_global(&command);
            command.clear();
            if let Some(exit) = state.borrow().exit_code {
                return Ok(exit);
            }
            if code == Code::Error {
                let info = interp
                    .get_var("errorInfo", None, Scope::Global)
                    .unwrap_or_else(|| interp.result());
                let line = start + interp.error_line().max(1) as usize - 1;
                return Err(ScriptError::Message {
                    file: name.to_owned(),
                    line,
                    message: format!("{}\n    (file \"{name}\" line {line})", text(&info)),
                });
            }
        }
        if end {
            return Ok(0);
        }
    }
}

/// Whether `command` is a whole Tcl command (Tcl's `info complete`).
fn complete(interp: InterpRef<'_>, command: &[u8]) -> bool {
    if interp
        .set_var("::ptychat::command", None, command, Scope::Global)
        .is_err()
    {
        return true;
    }
    interp.eval(b"info complete $::ptychat::command") == Code::Ok && interp.result() == b"1"
}
