//! The baseline: a bare pty read loop with nothing but nix, memchr and regex.
//!
//! It keeps only the bytes that could still be part of a match (the needle's
//! length minus one for exact text, the current line for a regex), so each
//! byte is searched about once. That is as close to the kernel's limit as a
//! user-space reader gets.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use memchr::memmem;
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::stat::Mode;

use crate::session::{Cmd, Expected, Pat, Result, Session};

pub struct RawSession {
    master: File,
    child: Child,
    timeout: Duration,
    /// Unsearched bytes plus the tail that a match could still start in.
    pending: Vec<u8>,
    chunk: Vec<u8>,
    eof: bool,
}

impl RawSession {
    pub fn spawn(cmd: &Cmd, timeout: Duration) -> Result<Self> {
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let slave_path = ptsname_r(&master)?;
        let slave: OwnedFd = open(
            slave_path.as_str(),
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;

        let mut command = cmd.to_std();
        command
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: the closure runs in the forked child before exec and only makes
        // two system calls (setsid, ioctl), both async-signal-safe; it touches no
        // memory shared with the parent and does not allocate.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid()?;
                if nix::libc::ioctl(0, nix::libc::TIOCSCTTY as _, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn()?;
        // `command` holds the parent's copies of the slave: drop them so EOF shows.
        drop(command);

        Ok(Self {
            master: File::from(OwnedFd::from(master)),
            child,
            timeout,
            pending: Vec::new(),
            chunk: vec![0; 64 * 1024],
            eof: false,
        })
    }

    /// Read what the pty has, waiting until `deadline`. Ok(false) on timeout.
    fn fill(&mut self, deadline: Instant) -> Result<bool> {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.max(Duration::from_millis(1)))?;
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(Errno::EINTR) => return Ok(true),
            Err(e) => return Err(e.into()),
        }
        match self.master.read(&mut self.chunk) {
            Ok(0) => self.eof = true,
            Ok(n) => self.pending.extend_from_slice(&self.chunk[..n]),
            // Linux reports the slave side being closed as EIO.
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => self.eof = true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
        Ok(true)
    }
}

impl RawSession {
    /// Reads and drops everything until the end of output; returns how many
    /// bytes that was (the flood benchmark's baseline: nothing is kept).
    pub fn read_to_eof(&mut self) -> Result<u64> {
        let mut total = 0u64;
        let deadline = Instant::now() + self.timeout;
        while !self.eof {
            if !self.fill(deadline)? {
                return Err("raw: timed out before the end of output".into());
            }
            total += self.pending.len() as u64;
            self.pending.clear();
        }
        Ok(total)
    }
}

enum Matcher<'a> {
    Exact(Box<memmem::Finder<'a>>),
    Regex(regex::bytes::Regex),
}

/// Where a match ends in `buf`, if there is one.
fn find(pat: &Matcher, buf: &[u8]) -> Option<usize> {
    match pat {
        Matcher::Exact(finder) => finder.find(buf).map(|at| at + finder.needle().len()),
        Matcher::Regex(re) => re.find(buf).map(|m| m.end()),
    }
}

/// How many leading bytes of `buf` can no longer be part of a match.
fn dead_prefix(pat: &Matcher, buf: &[u8]) -> usize {
    match pat {
        Matcher::Exact(finder) => buf.len().saturating_sub(finder.needle().len() - 1),
        // The benchmark's regex never spans a newline: keep the current line.
        Matcher::Regex(_) => memchr::memrchr(b'\n', buf).map_or(0, |at| at + 1),
    }
}

impl Session for RawSession {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        self.master.write_all(data)?;
        Ok(())
    }

    fn expect(&mut self, pat: Pat<'_>) -> Result<Expected> {
        let deadline = Instant::now() + self.timeout;
        let matcher = match pat {
            Pat::Exact(text) => Matcher::Exact(Box::new(memmem::Finder::new(text))),
            Pat::Regex(re) => Matcher::Regex(regex::bytes::Regex::new(re)?),
        };
        loop {
            if let Some(end) = find(&matcher, &self.pending) {
                self.pending.drain(..end);
                return Ok(Expected::Matched);
            }
            let dead = dead_prefix(&matcher, &self.pending);
            self.pending.drain(..dead);
            if self.eof {
                return Err("EOF before the pattern".into());
            }
            if !self.fill(deadline)? {
                return Ok(Expected::TimedOut);
            }
        }
    }

    fn wait(&mut self) -> Result<()> {
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for RawSession {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
