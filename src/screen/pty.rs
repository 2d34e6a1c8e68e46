//! The screen of a pty session: sized like its terminal (and resized with it, through
//! [`PtySession::set_window_size`](crate::PtySession::set_window_size)).

use crate::engine::session::Session;
use crate::error::Result;
use crate::transport::pty::Pty;

/// The rows scrolled off the top that a pty session's screen keeps by default.
pub const DEFAULT_SCROLLBACK: usize = 1000;

impl Session<Pty> {
    /// Gives this session a virtual terminal the size of its pty, keeping
    /// [`DEFAULT_SCROLLBACK`] rows of scrollback, fed with everything the program writes
    /// from now on and resized with the pty. Call it before the first `expect`. (Feature
    /// `screen`; any session can have one of a given size with
    /// [`enable_screen_sized`](Session::enable_screen_sized).)
    ///
    /// ```
    /// use ptychat::{Command, ScreenPattern};
    /// let mut top = Command::new("less").arg("/etc/passwd").env("TERM", "xterm").spawn()?;
    /// top.enable_screen()?;
    /// top.expect_screen(ScreenPattern::regex("^root:")?.in_row(0))?;
    /// assert!(top.screen().unwrap().alternate_screen());
    /// top.set_window_size(10, 40)?;
    /// assert_eq!(top.screen().unwrap().size(), (10, 40));
    /// top.send("q")?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn enable_screen(&mut self) -> Result<()> {
        let (rows, cols) = self.window_size()?;
        self.enable_screen_sized(rows, cols, DEFAULT_SCROLLBACK)
    }
}
