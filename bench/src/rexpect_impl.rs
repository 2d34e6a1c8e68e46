//! rexpect, through its `PtySession`.

use std::time::Duration;

use crate::session::{Cmd, Expected, Pat, Result, Session};

pub struct RexpectSession {
    inner: rexpect::session::PtySession,
}

impl RexpectSession {
    pub fn spawn(cmd: &Cmd, timeout: Duration) -> Result<Self> {
        let ms = u64::try_from(timeout.as_millis())?;
        let inner = rexpect::session::spawn_command(cmd.to_std(), Some(ms))?;
        Ok(Self { inner })
    }
}

impl Session for RexpectSession {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        self.inner.send(std::str::from_utf8(data)?)?;
        self.inner.flush()?;
        Ok(())
    }

    fn expect(&mut self, pat: Pat<'_>) -> Result<Expected> {
        let found = match pat {
            Pat::Exact(text) => self.inner.exp_string(text).map(drop),
            Pat::Regex(re) => self.inner.exp_regex(re).map(drop),
        };
        match found {
            Ok(()) => Ok(Expected::Matched),
            Err(rexpect::error::Error::Timeout { .. }) => Ok(Expected::TimedOut),
            Err(e) => Err(e.into()),
        }
    }

    fn wait(&mut self) -> Result<()> {
        self.inner.process().wait()?;
        Ok(())
    }
}
