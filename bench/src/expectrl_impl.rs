//! expectrl, driven through its synchronous `Expect` trait.

use std::time::Duration;

use expectrl::{Expect, Regex};

use crate::session::{Cmd, Expected, Pat, Result, Session};

pub struct ExpectrlSession {
    inner: expectrl::session::OsSession,
}

impl ExpectrlSession {
    pub fn spawn(cmd: &Cmd, timeout: Duration) -> Result<Self> {
        let mut inner = expectrl::Session::spawn(cmd.to_std())?;
        inner.set_expect_timeout(Some(timeout));
        Ok(Self { inner })
    }
}

impl Session for ExpectrlSession {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        self.inner.send(data)?;
        Ok(())
    }

    fn expect(&mut self, pat: Pat<'_>) -> Result<Expected> {
        let found = match pat {
            Pat::Exact(text) => self.inner.expect(text),
            Pat::Regex(re) => self.inner.expect(Regex(re)),
        };
        match found {
            Ok(_) => Ok(Expected::Matched),
            Err(expectrl::Error::ExpectTimeout) => Ok(Expected::TimedOut),
            Err(e) => Err(e.into()),
        }
    }

    fn wait(&mut self) -> Result<()> {
        self.inner.get_process().wait()?;
        Ok(())
    }
}
