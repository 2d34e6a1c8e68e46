//! The screen of a session: kept as the engine's output model, waited on through the
//! engine's own read step, and the keys and mouse reports sent in its modes.

use std::any::Any;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::deadline::Deadline;
use crate::engine::observer::OutputModel;
use crate::engine::session::{Filled, Session};
use crate::engine::transport::Transport;
use crate::error::{Error, Result};
use crate::screen::keys::{KeyPress, MouseButton, mouse_bytes};
use crate::screen::pattern::{ScreenMatch, ScreenPatterns};
use crate::screen::terminal::Screen;

/// The most a screen expectation reads before it looks at the screen again: under a flood
/// that never pauses, it still looks (and sees its deadline) every MiB.
const BATCH: usize = 1024 * 1024;

/// The screen as the session keeps it.
pub(crate) struct ScreenModel {
    pub(crate) screen: Screen,
    failure_dir: Option<PathBuf>,
    failures: u32,
}

impl OutputModel for ScreenModel {
    fn output(&mut self, bytes: &[u8]) {
        self.screen.feed(bytes);
    }

    fn resized(&mut self, rows: u16, cols: u16) {
        // The pty accepted the size, so it has no zero dimension.
        let _ = self.screen.resize(rows, cols);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn describe(&self) -> Option<String> {
        Some(self.screen.render())
    }
}

/// The lines of a screen expectation's failure.
struct Failure {
    patterns: String,
    screen: String,
}

impl<T: Transport> Session<T> {
    /// Gives this session a virtual terminal of `rows` x `cols` (keeping `scrollback` rows
    /// scrolled off its top) fed with everything the program writes from now on; replaces
    /// any previous one. Enable it before the first `expect`, so it sees the program's
    /// output from the start (output is read only while a call waits). A pty session sized
    /// like its terminal: [`PtySession::enable_screen`](crate::PtySession).
    ///
    /// ```
    /// use ptychat::{Command, ScreenPattern};
    /// let mut s = Command::shell("printf 'a\\033[2;5Hb'; sleep 5").spawn_piped(ptychat::StderrMode::Null)?;
    /// s.enable_screen_sized(4, 10, 0)?;
    /// s.expect_screen(ScreenPattern::text("b").in_row(1))?;
    /// assert_eq!(s.screen().unwrap().text(), "a\n    b\n\n\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn enable_screen_sized(&mut self, rows: u16, cols: u16, scrollback: usize) -> Result<()> {
        let model = ScreenModel {
            screen: Screen::with_scrollback(rows, cols, scrollback)?,
            failure_dir: None,
            failures: 0,
        };
        self.set_model(Some(Box::new(model)));
        Ok(())
    }

    /// Removes the virtual terminal and gives it back.
    pub fn disable_screen(&mut self) -> Option<Screen> {
        let model = self.set_model(None)?;
        let model = model.into_any().downcast::<ScreenModel>().ok()?;
        Some(model.screen)
    }

    fn screen_model(&self) -> Option<&ScreenModel> {
        self.model()?.as_any().downcast_ref()
    }

    fn screen_model_mut(&mut self) -> Option<&mut ScreenModel> {
        self.model_mut()?.as_any_mut().downcast_mut()
    }

    /// The virtual terminal, if [`enable_screen`](crate::PtySession) gave the session one.
    pub fn screen(&self) -> Option<&Screen> {
        self.screen_model().map(|m| &m.screen)
    }

    /// The virtual terminal, mutably (to resize it by hand, or read its scrollback).
    pub fn screen_mut(&mut self) -> Option<&mut Screen> {
        self.screen_model_mut().map(|m| &mut m.screen)
    }

    /// When a screen expectation fails, writes the screen to `dir` as
    /// `screen-failure-N.txt` ([`Screen::text`]) and `screen-failure-N.svg`
    /// ([`Screen::svg`]), N counting from 1; `None` stops. Needs a screen.
    pub fn set_screen_failure_dir(&mut self, dir: Option<PathBuf>) -> Result<()> {
        self.need_screen_model()?.failure_dir = dir;
        Ok(())
    }

    fn need_screen_model(&mut self) -> Result<&mut ScreenModel> {
        self.screen_model_mut().ok_or_else(no_screen)
    }

    /// Waits with the session's deadline until one of `patterns` holds on the screen. See
    /// [`expect_screen_timeout`](Session::expect_screen_timeout).
    pub fn expect_screen(&mut self, patterns: impl Into<ScreenPatterns>) -> Result<ScreenMatch> {
        self.expect_screen_on(patterns.into(), Deadline::after(self.timeout()))
    }

    /// Waits until one of `patterns` holds on the screen, or `timeout` passes (`None`:
    /// forever); the first in the list that holds wins. The screen is checked first as it
    /// is, then after each read of the program's output. Nothing is taken out of the
    /// output buffer (byte expects after this one still see the bytes).
    ///
    /// Fails with [`Error::ScreenTimeout`] or [`Error::ScreenEof`], whose message shows the
    /// patterns, the deadline, the output's tail and the rendered screen with the cursor
    /// marked ([`Screen::render`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{Command, ScreenPattern};
    /// let mut s = Command::shell("printf '\\033[?1049h\\033[5;3HReady'; sleep 5").spawn()?;
    /// s.enable_screen()?;
    /// let m = s.expect_screen_timeout(
    ///     [ScreenPattern::text("Error"), ScreenPattern::text("Ready")],
    ///     Some(Duration::from_secs(10)),
    /// )?;
    /// assert_eq!((m.index(), m.position()), (1, Some((4, 2))));
    /// let err = s.expect_screen_timeout("never", Some(Duration::from_millis(50))).unwrap_err();
    /// assert!(err.to_string().contains("  >  4|  Ready\n"), "{err}");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn expect_screen_timeout(
        &mut self,
        patterns: impl Into<ScreenPatterns>,
        timeout: Option<Duration>,
    ) -> Result<ScreenMatch> {
        self.expect_screen_on(patterns.into(), Deadline::after(timeout))
    }

    /// Like [`expect_screen_timeout`](Session::expect_screen_timeout), with the deadline as
    /// an instant.
    pub fn expect_screen_deadline(
        &mut self,
        patterns: impl Into<ScreenPatterns>,
        deadline: Instant,
    ) -> Result<ScreenMatch> {
        self.expect_screen_on(patterns.into(), Deadline::at(deadline))
    }

    fn expect_screen_on(
        &mut self,
        patterns: ScreenPatterns,
        deadline: Deadline,
    ) -> Result<ScreenMatch> {
        let ScreenPatterns(patterns) = patterns;
        if patterns.is_empty() {
            return Err(Error::InvalidArgument(
                "expect_screen needs at least one pattern".into(),
            ));
        }
        self.need_screen_model()?;
        let quiet = patterns.iter().filter_map(|p| p.quiet()).min();
        let mut last_change = Instant::now();
        let mut fingerprint = quiet.and_then(|_| Some(self.screen()?.fingerprint()));
        let mut eof = false;
        loop {
            let screen = self.screen().ok_or_else(no_screen)?;
            if let Some(before) = fingerprint {
                let now = screen.fingerprint();
                if now != before {
                    fingerprint = Some(now);
                    last_change = Instant::now();
                }
            }
            let quiet_for = last_change.elapsed();
            for (index, pattern) in patterns.iter().enumerate() {
                if let Some(found) = pattern.check(screen, quiet_for) {
                    return Ok(ScreenMatch {
                        index,
                        position: found.position,
                        text: found.text,
                        groups: found.groups,
                    });
                }
            }
            if eof {
                return Err(self.screen_failure(&patterns, &deadline, true));
            }
            // Wake up when the quietest pattern would hold, if nothing comes before.
            let step = match quiet {
                Some(quiet) => deadline.within(quiet.saturating_sub(quiet_for)),
                None => deadline,
            };
            let deadline_passed = match self.fill_main(&step)? {
                // Take what else is there (up to a batch) before looking again: under a
                // flood the screen is checked once per batch, not once per read, and a
                // flood that never pauses does not hold the deadline off.
                Filled::Data => {
                    self.read_available_up_to(BATCH)?;
                    deadline.has_passed()
                }
                Filled::Signals => false,
                Filled::Eof => {
                    eof = true;
                    false
                }
                Filled::DeadlinePassed => deadline.has_passed(),
            };
            if deadline_passed {
                // Output may have come with the deadline; look once more.
                let screen = self.screen().ok_or_else(no_screen)?;
                let quiet_for = last_change.elapsed();
                if let Some((index, found)) = patterns
                    .iter()
                    .enumerate()
                    .find_map(|(i, p)| Some((i, p.check(screen, quiet_for)?)))
                {
                    return Ok(ScreenMatch {
                        index,
                        position: found.position,
                        text: found.text,
                        groups: found.groups,
                    });
                }
                return Err(self.screen_failure(&patterns, &deadline, false));
            }
        }
    }

    /// The error of a failed screen expectation, after writing the failure pictures if
    /// asked.
    fn screen_failure(
        &mut self,
        patterns: &[crate::screen::pattern::ScreenPattern],
        deadline: &Deadline,
        eof: bool,
    ) -> Error {
        let waited = deadline.elapsed();
        let (tail, buffered) = self.main_tail();
        let Some(model) = self.screen_model_mut() else {
            return no_screen();
        };
        let failure = Failure {
            patterns: patterns
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" or "),
            screen: model.screen.render(),
        };
        let mut written = String::new();
        if let Some(dir) = &model.failure_dir {
            model.failures += 1;
            let base = dir.join(format!("screen-failure-{}", model.failures));
            let txt = base.with_extension("txt");
            let svg = base.with_extension("svg");
            let result = std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&txt, model.screen.text()))
                .and_then(|()| std::fs::write(&svg, model.screen.svg()));
            written = match result {
                Ok(()) => format!("\n(screen written to {} and .svg)", txt.display()),
                Err(e) => format!("\n(could not write the screen to {}: {e})", txt.display()),
            };
        }
        let screen = failure.screen + &written;
        if eof {
            Error::ScreenEof {
                patterns: failure.patterns,
                waited,
                buffered,
                tail,
                screen,
            }
        } else {
            Error::ScreenTimeout {
                patterns: failure.patterns,
                timeout: deadline.timeout().unwrap_or(Duration::MAX),
                waited,
                buffered,
                tail,
                screen,
            }
        }
    }

    /// Sends a key, encoded as the program asked (application cursor keys and keypad, as
    /// its screen says; the default modes without a screen). A `char` or a [`Key`] will do;
    /// a name (`"ctrl+c"`, `"PgDn"`) parses into a [`KeyPress`].
    ///
    /// [`Key`]: crate::Key
    ///
    /// ```
    /// use ptychat::{Command, Key, KeyPress, Pattern};
    /// let mut cat = Command::new("cat").spawn()?;
    /// cat.enable_screen()?;
    /// cat.send_key(Key::Up)?;
    /// // The terminal echoes ESC as ^[.
    /// cat.expect("^[[A")?;
    /// cat.send_keys([Key::Enter.into(), "ctrl+d".parse::<KeyPress>()?])?;
    /// cat.expect(Pattern::eof())?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn send_key(&mut self, key: impl Into<KeyPress>) -> Result<()> {
        let bytes = key.into().bytes(self.screen())?;
        self.send(bytes)
    }

    /// Sends keys one after the other, in one write.
    pub fn send_keys<K: Into<KeyPress>>(
        &mut self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<()> {
        let mut bytes = Vec::new();
        for key in keys {
            bytes.extend(key.into().bytes(self.screen())?);
        }
        self.send(bytes)
    }

    /// Sends `text` as a paste: between `ESC [ 200 ~` and `ESC [ 201 ~` when the program
    /// turned bracketed paste on (its screen says so), as it is otherwise.
    pub fn send_paste(&mut self, text: impl AsRef<[u8]>) -> Result<()> {
        let text = text.as_ref();
        if self.screen().is_some_and(Screen::bracketed_paste) {
            let mut bytes = b"\x1b[200~".to_vec();
            bytes.extend_from_slice(text);
            bytes.extend_from_slice(b"\x1b[201~");
            self.send(bytes)
        } else {
            self.send(text)
        }
    }

    /// Clicks (press and release) or turns the wheel one step at (`row`, `col`), as xterm
    /// reports it in the encoding the program asked for (SGR, else X10). Fails unless the
    /// program turned mouse reporting on, as its screen says.
    pub fn send_mouse(&mut self, button: MouseButton, row: u16, col: u16) -> Result<()> {
        let screen = self.screen().ok_or_else(no_screen)?;
        let bytes = mouse_bytes(screen, button, row, col)?;
        self.send(bytes)
    }

    /// A left click at (`row`, `col`); see [`send_mouse`](Session::send_mouse).
    pub fn click(&mut self, row: u16, col: u16) -> Result<()> {
        self.send_mouse(MouseButton::Left, row, col)
    }

    /// Finds `text` on the screen and clicks its first character.
    pub fn click_text(&mut self, text: &str) -> Result<()> {
        let screen = self.screen().ok_or_else(no_screen)?;
        let (row, col) = screen.find(text).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "\"{}\" is not on the screen to click:\n{}",
                crate::escape(text.as_bytes()),
                screen.render()
            ))
        })?;
        self.click(row, col)
    }
}

fn no_screen() -> Error {
    Error::InvalidArgument(
        "the session has no screen: call enable_screen (feature `screen`) first".into(),
    )
}
