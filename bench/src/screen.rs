//! The screen benchmark: full-screen output (cursor moves, colours) through a pty, read by
//! the raw loop, by ptychat with a byte pattern (screen off), by ptychat with the screen on
//! and a byte pattern, and by ptychat waiting on the screen.
//!
//! The child is this binary run as `ptychat-bench --emit-tui BYTES`: on the alternate
//! screen it redraws 24 x 80 frames, each row placed with a cursor move and painted in
//! eight colour runs, until BYTES are written, then draws the marker in bold green at row
//! 12, column 30.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::sys::termios::{self, LocalFlags, SetArg};
use ptychat::{Command, Error, ScreenPattern};

use crate::emit::{MARKER, READY};
use crate::session::{Cmd, Expected, Impl, Pat, Result};

pub const FLAG: &str = "--emit-tui";

/// One frame: every row positioned and painted in colour runs.
fn frame(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 * 160);
    for row in 1..=24 {
        write!(out, "\x1b[{row};1H").unwrap();
        for run in 0..8 {
            let colour = 31 + (n + row + run) % 7;
            write!(out, "\x1b[{colour};{}m", 40 + (n + run) % 8).unwrap();
            let letter = b'a' + ((n + row + run) % 26) as u8;
            out.extend(std::iter::repeat_n(letter, 9));
            out.push(b' ');
        }
        out.extend_from_slice(b"\x1b[m");
    }
    out
}

pub fn emit(bytes: usize) -> Result<()> {
    let stdin = io::stdin();
    let mut attrs = termios::tcgetattr(&stdin)?;
    attrs.local_flags.remove(LocalFlags::ECHO);
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &attrs)?;
    let mut out = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    writeln!(out, "{READY}")?;
    stdin.lock().read_line(&mut String::new())?;
    // A block of frames, written until the budget is spent.
    let mut block = b"\x1b[?1049h".to_vec();
    let mut n = 0;
    while block.len() < 64 * 1024 {
        block.extend(frame(n));
        n += 1;
    }
    let mut left = bytes;
    while left > 0 {
        let take = left.min(block.len());
        out.write_all(&block[..take])?;
        left -= take;
    }
    write!(out, "\x1b[m\x1b[2J\x1b[12;30H\x1b[1;32m{MARKER}\x1b[m")?;
    Ok(())
}

/// How ptychat reads the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// A byte pattern, no screen.
    Bytes,
    /// A byte pattern with the screen on (it is fed all the same).
    ScreenOnBytes,
    /// `expect_screen` for the marker's text.
    Screen,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Bytes, Variant::ScreenOnBytes, Variant::Screen];

    pub fn label(self) -> &'static str {
        match self {
            Variant::Bytes => "full-screen output, byte pattern, screen off",
            Variant::ScreenOnBytes => "full-screen output, byte pattern, screen on",
            Variant::Screen => "full-screen output, expect on the screen",
        }
    }
}

fn cmd(bytes: usize) -> Result<Cmd> {
    Ok(Cmd::new(std::env::current_exe()?)
        .arg(FLAG)
        .arg(bytes.to_string()))
}

/// Seconds from "go" to the marker, `None` after `timeout`. The raw loop (the baseline of
/// every variant) looks for the marker's bytes.
pub fn run(imp: Impl, variant: Variant, bytes: usize, timeout: Duration) -> Result<Option<f64>> {
    let cmd = cmd(bytes)?;
    if imp != Impl::Ptychat {
        let mut session = imp.spawn(&cmd, timeout)?;
        if session.expect(Pat::Exact(READY))? != Expected::Matched {
            return Err("no READY from the child".into());
        }
        let start = Instant::now();
        session.send(b"go\n")?;
        let outcome = session.expect(Pat::Exact(MARKER))?;
        let elapsed = start.elapsed().as_secs_f64();
        return match outcome {
            Expected::Matched => {
                session.wait()?;
                Ok(Some(elapsed))
            }
            Expected::TimedOut => Ok(None),
        };
    }
    let mut command = Command::new(&cmd.program);
    command.args(&cmd.args).timeout(Some(timeout));
    let mut session = command.spawn()?;
    if variant != Variant::Bytes {
        session.enable_screen()?;
    }
    session.expect(READY)?;
    let start = Instant::now();
    session.send("go\n")?;
    let outcome = match variant {
        Variant::Bytes | Variant::ScreenOnBytes => session.expect(MARKER).map(drop),
        Variant::Screen => session
            .expect_screen(ScreenPattern::text(MARKER).in_row(11))
            .map(drop),
    };
    let elapsed = start.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            session.wait()?;
            Ok(Some(elapsed))
        }
        Err(Error::Timeout { .. } | Error::ScreenTimeout { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
