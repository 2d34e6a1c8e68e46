//! What a command run in a REPL printed, and how it ended.

/// The output of one [`Repl::run`](crate::Repl::run): the bytes the command printed,
/// without the echo of the command and without any prompt, and for shells its exit
/// status.
///
/// On a terminal, lines end in `\r\n`: [`bytes`](ReplOutput::bytes) has them as they
/// came, [`text`](ReplOutput::text) turns them into `\n`.
///
/// ```
/// let mut sh = ptychat::Repl::sh()?;
/// let out = sh.run("echo one; echo two; false")?;
/// assert_eq!(out.bytes(), b"one\r\ntwo\r\n");
/// assert_eq!(out.text(), "one\ntwo\n");
/// assert_eq!(out.status(), Some(1));
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplOutput {
    pub(crate) bytes: Vec<u8>,
    pub(crate) status: Option<i32>,
    pub(crate) discarded: u64,
}

impl ReplOutput {
    /// The output as it came from the terminal.
    ///
    /// ```
    /// let mut sh = ptychat::Repl::sh()?;
    /// assert_eq!(sh.run("printf 'a\\tb'")?.bytes(), b"a\tb");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The output, without copying it.
    ///
    /// ```
    /// let mut sh = ptychat::Repl::sh()?;
    /// assert_eq!(sh.run("echo hi")?.into_bytes(), b"hi\r\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The output as text: decoded as UTF-8 (invalid sequences replaced by U+FFFD), each
    /// `\r\n` turned into `\n`.
    ///
    /// ```
    /// let mut python = ptychat::Repl::python()?;
    /// assert_eq!(python.run("print('é\\nè')")?.text(), "é\nè\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).replace("\r\n", "\n")
    }

    /// The exit status of the command's last pipeline (`$?`), for a REPL whose kind
    /// [reports it](crate::ReplKind::reports_status) (the shells); `None` otherwise.
    ///
    /// ```
    /// let mut sh = ptychat::Repl::sh()?;
    /// assert_eq!(sh.run("(exit 3)")?.status(), Some(3));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn status(&self) -> Option<i32> {
        self.status
    }

    /// How many of the oldest bytes of the output were dropped because it did not fit in
    /// the session's buffer ([`Session::set_max_buffer`](crate::Session::set_max_buffer),
    /// 16 MiB by default): 0 unless the command printed more than that.
    ///
    /// ```
    /// let mut sh = ptychat::Repl::sh()?;
    /// assert_eq!(sh.run("seq 3")?.discarded(), 0);
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn discarded(&self) -> u64 {
        self.discarded
    }
}
