//! Expect's commands on what passes through a spawn id besides `send` and `expect`:
//! `remove_nulls` and `parity` (what is done to output before it is matched),
//! `send_log` (to the log file) and `send_tty` (to our terminal).

use std::io::Write;
use std::os::fd::AsRawFd;

use crate::sys::tcl::{Code, InterpRef};

use super::commands::{Flags, tcl};
use super::state::{Shared, TTY_SPAWN_ID, USER_SPAWN_ID, spawn_id};
use super::text;

/// A Tcl boolean (`remove_nulls`' value): a number (not 0 is true), or `yes`, `true`,
/// `on`, `no`, `false`, `off`.
fn boolean(value: &[u8]) -> Result<bool, String> {
    let word = text(value).trim().to_ascii_lowercase();
    if let Ok(number) = word.parse::<f64>() {
        return Ok(number != 0.0);
    }
    match word.as_str() {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => Err(format!(
            "expected boolean value but got \"{}\"",
            text(value)
        )),
    }
}

/// An integer (`parity`'s value).
fn integer(value: &[u8]) -> Result<i64, String> {
    text(value)
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("expected integer but got \"{}\"", text(value)))
}

/// `remove_nulls [-d] [-i ID] [0|1]`: whether NUL bytes are removed from a program's
/// output before it is matched (Expect's default: removed); with `-d` for programs
/// spawned from now on. Returns the value when none is given.
pub(crate) fn remove_nulls(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (flags, rest) = Flags::take("remove_nulls", words, &["-d"], &["-i"])?;
        let value = match rest {
            [] => None,
            [value] => Some(boolean(value)?),
            _ => return Err("usage: remove_nulls [-d] [-i spawn_id] [0|1]".into()),
        };
        let mut state = state.borrow_mut();
        let on = if flags.has("-d") {
            if let Some(on) = value {
                state.remove_nulls = on;
            }
            state.remove_nulls
        } else {
            let id = spawn_id(interp, flags.value("-i"))?;
            let apply = |on: Option<bool>, current: bool| on.unwrap_or(current);
            if id == USER_SPAWN_ID {
                let session = state.user()?;
                let on = apply(value, session.remove_nulls());
                session.set_remove_nulls(on);
                on
            } else {
                let session = state.session(&id)?;
                let on = apply(value, session.remove_nulls());
                session.set_remove_nulls(on);
                on
            }
        };
        // As in Expect, setting returns nothing.
        Ok(match value {
            Some(_) => Vec::new(),
            None if on => b"1".to_vec(),
            None => b"0".to_vec(),
        })
    })
}

/// `parity [-d] [-i ID] [VALUE]`: with 0, the 8th bit of a program's output is stripped
/// as it is read (before it is matched, logged or shown, as in Expect); any other value
/// keeps it (Expect's default, 1). With `-d`, for programs spawned from now on. Returns
/// the value when none is given.
pub(crate) fn parity(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (flags, rest) = Flags::take("parity", words, &["-d"], &["-i"])?;
        let value = match rest {
            [] => None,
            [value] => Some(integer(value)?),
            _ => return Err("usage: parity [-d] [-i spawn_id] [value]".into()),
        };
        let mut state = state.borrow_mut();
        let now = if flags.has("-d") {
            if let Some(value) = value {
                state.parity = value;
            }
            state.parity
        } else {
            let id = spawn_id(interp, flags.value("-i"))?;
            let current = state.parities.get(&id).copied().unwrap_or(1);
            let now = value.unwrap_or(current);
            match id.as_str() {
                USER_SPAWN_ID => state.user()?.set_strip_parity(now == 0),
                TTY_SPAWN_ID => state.tty()?.set_strip_parity(now == 0),
                _ => state.session(&id)?.set_strip_parity(now == 0),
            }
            state.parities.insert(id, now);
            now
        };
        // As in Expect, setting returns nothing.
        Ok(match value {
            Some(_) => Vec::new(),
            None => now.to_string().into_bytes(),
        })
    })
}

/// `send_log [--] STRING`: to the log file, if one is open.
pub(crate) fn send_log(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (_, rest) = Flags::take("send_log", words, &[], &[])?;
        let [string] = rest else {
            return Err("usage: send_log [--] string".into());
        };
        state.borrow().extras.log.write(string, true, true);
        Ok(Vec::new())
    })
}

/// `send_tty [-raw] [--] STRING`: to our terminal (`/dev/tty`), whatever our standard
/// output is; logged as `send_user` is.
pub(crate) fn send_tty(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (_, rest) = Flags::take("send_tty", words, &["-raw"], &[])?;
        let [string] = rest else {
            return Err("usage: send_tty [args] string".into());
        };
        let mut tty = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/tty")
            .map_err(|e| format!("send_tty: opening /dev/tty: {e}"))?;
        state.borrow().extras.log.write(string, true, true);
        tty.write_all(string)
            .and_then(|()| tty.flush())
            .map_err(|e| format!("send_tty: {e}"))?;
        Ok(Vec::new())
    })
}

/// `exp_open [-leaveopen] [-i ID]`: a Tcl channel (as from `open`) on a spawn id's
/// terminal, returned by name. Without `-leaveopen` the spawn id is given up to the
/// channel, as in Expect (its program is hung up when the script ends); with it the spawn
/// id stays usable and the channel is non-blocking (the engine reads the same fd).
pub(crate) fn exp_open(state: &Shared, interp: InterpRef<'_>, words: &[Vec<u8>]) -> Code {
    tcl(interp, || {
        let (flags, rest) = Flags::take("exp_open", words, &["-leaveopen"], &["-i"])
            .map_err(|_| "usage: -i spawn_id".to_owned())?;
        if !rest.is_empty() {
            return Err("usage: -i spawn_id".into());
        }
        let id = spawn_id(interp, flags.value("-i"))?;
        if id == USER_SPAWN_ID || id == TTY_SPAWN_ID || id == super::state::ERROR_SPAWN_ID {
            return Err(format!(
                "exp_open: spawn id {id} is ours (standard input, output or the terminal): \
                 use Tcl's stdin, stdout or open /dev/tty"
            ));
        }
        let leave_open = flags.has("-leaveopen");
        let mut st = state.borrow_mut();
        let fd = {
            use crate::Transport;
            let transport = st.session(&id)?.transport();
            let read = transport.read_fd();
            match transport.write_fd() {
                Some(write) if write.as_raw_fd() == read.as_raw_fd() => {
                    crate::sys::fd::copy(read).map_err(|e| format!("exp_open: {e}"))?
                }
                _ => {
                    return Err(format!(
                        "exp_open: spawn id {id} reads and writes different fds (a \
                         `spawn -open` channel): use that channel"
                    ));
                }
            }
        };
        if !leave_open {
            // Given up: Expect commands no longer know the spawn id; the channel is an
            // ordinary blocking one.
            crate::sys::fd::set_blocking(&fd).map_err(|e| format!("exp_open: {e}"))?;
            if let Some(session) = st.remove(&id) {
                st.unwaited.push(session);
            }
        }
        drop(st);
        let name = interp.file_channel(fd)?;
        if leave_open {
            let mut script = b"fconfigure ".to_vec();
            script.extend_from_slice(&super::commands::tcl_word(&name));
            script.extend_from_slice(b" -blocking 0");
            if interp.eval(&script) != Code::Ok {
                return Err(text(&interp.result()));
            }
        }
        Ok(name)
    })
}
