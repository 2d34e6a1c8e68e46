//! The throughput child: this same binary run as `ptychat-bench --emit BYTES`.
//!
//! It turns echo off, prints `READY`, waits for one input line, then writes
//! BYTES of 80-byte lines straight from memory followed by the marker line, so
//! the producer costs next to nothing next to the pty.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::AsFd;

use nix::sys::termios::{self, LocalFlags, SetArg};

use crate::session::Result;

pub const READY: &str = "READY";
pub const MARKER: &str = "END-MARKER-42";
pub const MARKER_REGEX: &str = r"END-MARKER-\d+";

const LINE: usize = 80;

pub fn run(bytes: usize) -> Result<()> {
    let stdin = io::stdin();
    let mut attrs = termios::tcgetattr(&stdin)?;
    attrs.local_flags.remove(LocalFlags::ECHO);
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &attrs)?;

    // An unbuffered handle on fd 1: std's stdout is line-buffered.
    let mut out = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    writeln!(out, "{READY}")?;
    stdin.lock().read_line(&mut String::new())?;

    let block: Vec<u8> = (0..LINE * 819)
        .map(|i| if i % LINE == LINE - 1 { b'\n' } else { b'a' })
        .collect();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len());
        out.write_all(&block[..n])?;
        left -= n;
    }
    write!(out, "\n{MARKER}\n")?;
    Ok(())
}
