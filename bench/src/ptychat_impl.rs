//! ptychat, the crate under test.

use std::time::Duration;

use ptychat::{Command, Error, Pattern, PtySession};

use crate::session::{Cmd, Expected, Pat, Result, Session};

pub struct PtychatSession {
    inner: PtySession,
}

impl PtychatSession {
    pub fn spawn(cmd: &Cmd, timeout: Duration) -> Result<Self> {
        let mut command = Command::new(&cmd.program);
        for arg in &cmd.args {
            command.arg(arg);
        }
        command.timeout(Some(timeout));
        Ok(Self {
            inner: command.spawn()?,
        })
    }
}

impl Session for PtychatSession {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        self.inner.send(data)?;
        Ok(())
    }

    fn expect(&mut self, pat: Pat<'_>) -> Result<Expected> {
        let found = match pat {
            Pat::Exact(text) => self.inner.expect(text),
            Pat::Regex(re) => self.inner.expect(Pattern::regex(re)?),
        };
        match found {
            Ok(_) => Ok(Expected::Matched),
            Err(Error::Timeout { .. }) => Ok(Expected::TimedOut),
            Err(e) => Err(e.into()),
        }
    }

    fn wait(&mut self) -> Result<()> {
        self.inner.wait()?;
        Ok(())
    }
}
