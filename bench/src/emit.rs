//! The throughput child: this same binary run as `ptychat-bench --emit BYTES`
//! (on a pty), `--emit-pipe BYTES`, `--emit-stderr BYTES` or `--emit-both BYTES`
//! (on pipes).
//!
//! It prints `READY`, waits for one input line, then writes BYTES of 80-byte
//! lines straight from memory (to stderr for `--emit-stderr`, to both stdout and
//! stderr, block by block, for `--emit-both`, else to stdout) followed by the
//! marker line on stdout, so the producer costs next to nothing next to the
//! transport. On a pty it turns echo off first.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::AsFd;

use nix::sys::termios::{self, LocalFlags, SetArg};

use crate::session::Result;

pub const READY: &str = "READY";
pub const MARKER: &str = "END-MARKER-42";
pub const MARKER_REGEX: &str = r"END-MARKER-\d+";

const LINE: usize = 80;

/// Where the child runs and where its payload goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// On a pty: everything on the terminal.
    Pty,
    /// On pipes: everything on stdout.
    Stdout,
    /// On pipes: the payload on stderr, then the marker on stdout.
    Stderr,
    /// On pipes: the payload on stdout and again on stderr, alternating block
    /// by block, then the marker on stdout.
    Both,
}

impl Mode {
    const ALL: [Mode; 4] = [Mode::Pty, Mode::Stdout, Mode::Stderr, Mode::Both];

    pub fn flag(self) -> &'static str {
        match self {
            Mode::Pty => "--emit",
            Mode::Stdout => "--emit-pipe",
            Mode::Stderr => "--emit-stderr",
            Mode::Both => "--emit-both",
        }
    }

    pub fn from_flag(flag: &str) -> Option<Mode> {
        Self::ALL.into_iter().find(|m| m.flag() == flag)
    }
}

/// An unbuffered handle on one of our fds: std's stdout is line-buffered.
fn unbuffered(fd: impl AsFd) -> io::Result<File> {
    Ok(File::from(fd.as_fd().try_clone_to_owned()?))
}

pub fn run(mode: Mode, bytes: usize) -> Result<()> {
    let stdin = io::stdin();
    if mode == Mode::Pty {
        let mut attrs = termios::tcgetattr(&stdin)?;
        attrs.local_flags.remove(LocalFlags::ECHO);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &attrs)?;
    }

    let mut out = unbuffered(io::stdout())?;
    writeln!(out, "{READY}")?;
    stdin.lock().read_line(&mut String::new())?;

    let mut payload = match mode {
        Mode::Stderr => unbuffered(io::stderr())?,
        Mode::Pty | Mode::Stdout | Mode::Both => out.try_clone()?,
    };
    let mut second = match mode {
        Mode::Both => Some(unbuffered(io::stderr())?),
        Mode::Pty | Mode::Stdout | Mode::Stderr => None,
    };
    let block: Vec<u8> = (0..LINE * 819)
        .map(|i| if i % LINE == LINE - 1 { b'\n' } else { b'a' })
        .collect();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len());
        payload.write_all(&block[..n])?;
        if let Some(second) = &mut second {
            second.write_all(&block[..n])?;
        }
        left -= n;
    }
    write!(out, "\n{MARKER}\n")?;
    Ok(())
}
