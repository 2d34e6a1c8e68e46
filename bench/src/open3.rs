//! open3 throughput: the child's stdin, stdout and stderr are three pipes.
//!
//! ptychat's `spawn_piped(StderrMode::Separate)` is measured against a raw
//! poll(2) loop over stdout and stderr: the least any open3 code must do to
//! never deadlock on a child that fills the stderr pipe before it writes
//! what is awaited on stdout. expectrl and rexpect have no equivalent.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use memchr::memmem;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use ptychat::{Command, Error, StderrMode};

use crate::emit;
use crate::session::{Impl, Result};

/// The implementations that have an open3 mode.
pub const IMPLS: [Impl; 2] = [Impl::Raw, Impl::Ptychat];

/// Which pipe carries the payload.
#[derive(Clone, Copy, Debug)]
pub enum Variant {
    /// Payload and marker on stdout.
    Stdout,
    /// Payload on stderr, then the marker on stdout.
    StderrFirst,
    /// Payload on stdout and on stderr (each the full size), then the marker
    /// on stdout.
    Both,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Stdout, Variant::StderrFirst, Variant::Both];

    pub fn label(self) -> &'static str {
        match self {
            Variant::Stdout => "open3, stdout",
            Variant::StderrFirst => "open3, stderr then stdout",
            Variant::Both => "open3, stdout and stderr",
        }
    }

    fn mode(self) -> emit::Mode {
        match self {
            Variant::Stdout => emit::Mode::Stdout,
            Variant::StderrFirst => emit::Mode::Stderr,
            Variant::Both => emit::Mode::Both,
        }
    }
}

/// Seconds from sending "go" to seeing the marker on stdout after `bytes`
/// of payload, or `None` if `timeout` passed first.
pub fn run(imp: Impl, variant: Variant, bytes: usize, timeout: Duration) -> Result<Option<f64>> {
    let exe = std::env::current_exe()?;
    let args = [variant.mode().flag().to_string(), bytes.to_string()];
    match imp {
        Impl::Raw => raw_run(&exe, &args, timeout),
        Impl::Ptychat => ptychat_run(&exe, &args, timeout),
        other => Err(format!("{other} has no open3 mode").into()),
    }
}

fn ptychat_run(exe: &Path, args: &[String], timeout: Duration) -> Result<Option<f64>> {
    let mut session = Command::new(exe)
        .args(args)
        .timeout(Some(timeout))
        .spawn_piped(StderrMode::Separate)?;
    session.expect(emit::READY)?;
    let start = Instant::now();
    session.send(b"go\n")?;
    match session.expect(emit::MARKER) {
        Ok(_) => {}
        // Dropping the session stops the child.
        Err(Error::Timeout { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let elapsed = start.elapsed().as_secs_f64();
    session.wait()?;
    Ok(Some(elapsed))
}

fn raw_run(exe: &Path, args: &[String], timeout: Duration) -> Result<Option<f64>> {
    let mut pipes = RawPipes::spawn(exe, args)?;
    if !pipes.expect(emit::READY, Instant::now() + timeout)? {
        return Err(format!("no {} from the child", emit::READY).into());
    }
    let start = Instant::now();
    pipes.stdin.write_all(b"go\n")?;
    if !pipes.expect(emit::MARKER, start + timeout)? {
        return Ok(None);
    }
    let elapsed = start.elapsed().as_secs_f64();
    pipes.child.wait()?;
    Ok(Some(elapsed))
}

/// A child on three pipes, read with nothing but std, nix and memchr.
struct RawPipes {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    /// `None` once stderr has ended.
    stderr: Option<ChildStderr>,
    /// Unsearched stdout plus the tail that a match could still start in.
    pending: Vec<u8>,
    chunk: Vec<u8>,
}

impl RawPipes {
    fn spawn(exe: &Path, args: &[String]) -> Result<Self> {
        let mut child = std::process::Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (Some(stdin), Some(stdout), stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            unreachable!("all three are piped");
        };
        Ok(Self {
            child,
            stdin,
            stdout,
            stderr,
            pending: Vec::new(),
            chunk: vec![0; 64 * 1024],
        })
    }

    /// Waits for `needle` on stdout until `deadline`, reading and discarding
    /// stderr meanwhile. False on timeout.
    fn expect(&mut self, needle: &str, deadline: Instant) -> Result<bool> {
        let finder = memmem::Finder::new(needle);
        loop {
            if let Some(at) = finder.find(&self.pending) {
                self.pending.drain(..at + needle.len());
                return Ok(true);
            }
            let dead = self.pending.len().saturating_sub(needle.len() - 1);
            self.pending.drain(..dead);

            let left = deadline.saturating_duration_since(Instant::now());
            let ms = PollTimeout::try_from(left.max(Duration::from_millis(1)))?;
            let mut fds = vec![PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN)];
            if let Some(stderr) = &self.stderr {
                fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, ms) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);

            if ready[0] {
                match read_some(&mut self.stdout, &mut self.chunk)? {
                    Some(0) => return Err("stdout ended before the pattern".into()),
                    Some(n) => self.pending.extend_from_slice(&self.chunk[..n]),
                    None => {}
                }
            }
            if let (Some(true), Some(stderr)) = (ready.get(1), &mut self.stderr)
                && read_some(stderr, &mut self.chunk)? == Some(0)
            {
                self.stderr = None;
            }
        }
    }
}

/// One read; `None` if a signal interrupted it.
fn read_some(from: &mut impl Read, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match from.read(buf) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(e),
    }
}

impl Drop for RawPipes {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
