//! The one interface every implementation is driven through.

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use crate::{expectrl_impl, portable_pty_impl, ptychat_impl, raw, rexpect_impl};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, BoxError>;

/// What to wait for.
#[derive(Clone, Copy, Debug)]
pub enum Pat<'a> {
    Exact(&'a str),
    Regex(&'a str),
}

/// Outcome of one expect call that did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    Matched,
    TimedOut,
}

/// A program and its arguments.
#[derive(Clone, Debug)]
pub struct Cmd {
    pub program: OsString,
    pub args: Vec<OsString>,
}

impl Cmd {
    pub fn new(program: impl Into<OsString>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// `sh -c SCRIPT`
    pub fn sh(script: &str) -> Self {
        Self::new("sh").arg("-c").arg(script)
    }

    pub fn to_std(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        command.args(&self.args);
        command
    }
}

/// A running program on a pty, as seen by a benchmark.
pub trait Session {
    /// Write bytes to the terminal.
    fn send(&mut self, data: &[u8]) -> Result<()>;
    /// Wait for `pat`, up to the timeout given at spawn.
    fn expect(&mut self, pat: Pat<'_>) -> Result<Expected>;
    /// Wait for the program to exit.
    fn wait(&mut self) -> Result<()>;
}

/// The implementations compared, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    Raw,
    Ptychat,
    Expectrl,
    Rexpect,
    PortablePty,
}

impl Impl {
    pub const ALL: [Impl; 5] = [
        Impl::Raw,
        Impl::Ptychat,
        Impl::Expectrl,
        Impl::Rexpect,
        Impl::PortablePty,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Impl::Raw => "raw",
            Impl::Ptychat => "ptychat",
            Impl::Expectrl => "expectrl",
            Impl::Rexpect => "rexpect",
            Impl::PortablePty => "portable-pty",
        }
    }

    /// Whether it can send and expect. portable-pty cannot: it only spawns on a
    /// pty, so it is measured in the spawn benchmark alone (n/a elsewhere).
    pub fn has_expect(self) -> bool {
        self != Impl::PortablePty
    }

    pub fn from_name(name: &str) -> Option<Impl> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Start `cmd` on a new pty; every expect on the session gives up after `timeout`.
    pub fn spawn(self, cmd: &Cmd, timeout: Duration) -> Result<Box<dyn Session>> {
        Ok(match self {
            Impl::Raw => Box::new(raw::RawSession::spawn(cmd, timeout)?),
            Impl::Ptychat => Box::new(ptychat_impl::PtychatSession::spawn(cmd, timeout)?),
            Impl::Expectrl => Box::new(expectrl_impl::ExpectrlSession::spawn(cmd, timeout)?),
            Impl::Rexpect => Box::new(rexpect_impl::RexpectSession::spawn(cmd, timeout)?),
            Impl::PortablePty => Box::new(portable_pty_impl::PortablePtySession::spawn(cmd)?),
        })
    }
}

impl fmt::Display for Impl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
