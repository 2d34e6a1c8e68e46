//! Negative expectations: output that must not appear within a time
//! ([`Session::expect_absent`]), the assertion `expect` cannot make.

use std::time::{Duration, Instant};

use crate::engine::pattern::{Pattern, Patterns};
use crate::engine::session::{ERROR_TAIL, Session};
use crate::engine::transport::Transport;
use crate::error::{Error, Result};
use crate::escape::{escape, escape_tail};

impl<T: Transport> Session<T> {
    /// Checks that none of `patterns` shows up in the output within `timeout` (`None`:
    /// until the output ends): the negative of [`expect`](Session::expect), for tests.
    /// Output already buffered counts. Succeeds at the deadline, or earlier when the
    /// output ends without a match; then nothing is consumed, so a following `expect`
    /// sees the same output. A match fails with [`Error::Unexpected`], which shows the
    /// pattern, what matched, the tail of the output before it and, with a virtual
    /// terminal (feature `screen`), the rendered screen; the match is consumed.
    ///
    /// It waits the whole `timeout` unless the output ends: give it the time in which the
    /// text would have appeared (Tcl Expect writes this as an `expect` whose pattern
    /// fails the script and whose `timeout` branch goes on).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{Command, Error};
    /// let mut sh = Command::shell("echo ok; echo 'warning: disk full'").spawn()?;
    /// sh.expect("ok")?;
    /// let err = sh.expect_absent("error", Some(Duration::from_secs(10)));
    /// assert!(err.is_ok());                                   // the output ended without one
    /// let err = Command::shell("echo 'warning: disk full'").spawn()?
    ///     .expect_absent(["error", "warning"], Some(Duration::from_secs(10)))
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::Unexpected { .. }));
    /// assert!(err.to_string().starts_with("\"warning\" showed up in the output (it must not \
    ///                                     within 10s): \"warning\"; "), "{err}");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn expect_absent<'a>(
        &mut self,
        patterns: impl Into<Patterns<'a>>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.absent(patterns.into(), timeout)
    }

    /// Like [`expect_absent`](Session::expect_absent), watching until `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut cat = ptychat::Command::new("cat").spawn()?;
    /// cat.send_line("hello")?;
    /// cat.expect_absent_deadline("goodbye", Instant::now() + Duration::from_millis(100))?;
    /// cat.expect("hello")?;                                   // still buffered
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn expect_absent_deadline<'a>(
        &mut self,
        patterns: impl Into<Patterns<'a>>,
        deadline: Instant,
    ) -> Result<()> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.absent(patterns.into(), Some(timeout))
    }

    /// For an error message: empty, or a newline and the output model as text (the
    /// rendered screen, feature `screen`).
    pub(crate) fn described_model(&self) -> String {
        match self.model().and_then(|model| model.describe()) {
            Some(screen) => format!("\n{screen}"),
            None => String::new(),
        }
    }

    fn absent(&mut self, patterns: Patterns<'_>, timeout: Option<Duration>) -> Result<()> {
        let mut list = patterns.0.into_owned();
        if list.is_empty() {
            return Err(Error::InvalidArgument(
                "expect_absent needs at least one pattern".to_owned(),
            ));
        }
        let forbidden = list.len();
        list.push(Pattern::timeout());
        let found = match self.expect_timeout(&list, timeout) {
            Ok(found) => found,
            Err(e) if e.is_eof() => return Ok(()),
            Err(e) => return Err(e),
        };
        if found.index() == forbidden {
            return Ok(());
        }
        let screen = self.described_model();
        Err(Error::Unexpected {
            pattern: list[found.index()].to_string(),
            timeout,
            matched: escape(found.matched()),
            tail: escape_tail(found.before(), ERROR_TAIL),
            screen,
        })
    }
}
