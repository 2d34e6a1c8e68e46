//! The terminal model: [`Screen`], a virtual terminal (the `vt100` crate) fed with the
//! program's output, and what can be read off it: text, cells and their attributes, the
//! cursor, the title, and the modes that decide how keys and the mouse are encoded.

use std::fmt;
use std::num::NonZeroU16;

use crate::error::{Error, Result};

/// A virtual terminal: what a person would see in the program's window.
///
/// A session keeps one when [`Session::enable_screen`](crate::Session::enable_screen) (or
/// [`PtySession::enable_screen`](crate::PtySession)) asked for it, and feeds it every byte
/// the program writes; it can also be used on its own, fed by hand.
///
/// Rows and columns are counted from 0, from the top left corner.
///
/// ```
/// let mut screen = ptychat::Screen::new(5, 20)?;
/// // Cursor to row 3, column 5 (1-based in the sequence), bold red text.
/// screen.feed(b"hello\x1b[3;5H\x1b[1;31mworld\x1b[m");
/// assert_eq!(screen.row_text(0), "hello");
/// assert_eq!(screen.row_text(2), "    world");
/// assert_eq!(screen.cursor(), (2, 9));
/// let w = screen.cell(2, 4).unwrap();
/// assert_eq!((w.text.as_str(), w.bold, w.fg), ("w", true, ptychat::Color::Indexed(1)));
/// assert_eq!(screen.text(), "hello\n\n    world\n\n\n");
/// # Ok::<(), ptychat::Error>(())
/// ```
pub struct Screen {
    parser: vt100::Parser<Events>,
}

/// What the terminal reports besides the grid.
#[derive(Default)]
struct Events {
    title: String,
    bells: u64,
}

impl vt100::Callbacks for Events {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.title = String::from_utf8_lossy(title).into_owned();
    }

    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.bells += 1;
    }
}

/// A colour of a cell's text or background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Color {
    /// The terminal's default colour.
    #[default]
    Default,
    /// One of the 256 indexed colours: 0-7 the normal ones (black, red, green, yellow,
    /// blue, magenta, cyan, white), 8-15 the bright ones.
    Indexed(u8),
    /// A 24-bit colour.
    Rgb(u8, u8, u8),
}

impl From<vt100::Color> for Color {
    fn from(c: vt100::Color) -> Self {
        match c {
            vt100::Color::Default => Color::Default,
            vt100::Color::Idx(i) => Color::Indexed(i),
            vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
        }
    }
}

/// One cell of the screen: its text and attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Cell {
    /// The character (with any combining marks); empty for a blank cell.
    pub text: String,
    /// Text colour.
    pub fg: Color,
    /// Background colour.
    pub bg: Color,
    /// Bold.
    pub bold: bool,
    /// Dim (faint).
    pub dim: bool,
    /// Italic.
    pub italic: bool,
    /// Underlined.
    pub underline: bool,
    /// Reverse video (how many programs show the selected item).
    pub inverse: bool,
    /// The first half of a double-width character.
    pub wide: bool,
}

/// The text of an area of the screen, rows joined with `\n`, trailing blanks of each row
/// trimmed, with the cell each character came from.
pub(crate) struct AreaText {
    pub(crate) text: String,
    /// (byte offset in `text`, row, column) of each character, in order.
    cells: Vec<(usize, u16, u16)>,
}

impl AreaText {
    /// The cell of the character at byte `offset` (or of the one just before a `\n`).
    pub(crate) fn position(&self, offset: usize) -> (u16, u16) {
        let i = self.cells.partition_point(|&(at, _, _)| at <= offset);
        self.cells
            .get(i.saturating_sub(1))
            .map_or((0, 0), |&(_, row, col)| (row, col))
    }
}

impl Screen {
    /// A blank screen of `rows` x `cols`, without scrollback.
    pub fn new(rows: u16, cols: u16) -> Result<Self> {
        Self::with_scrollback(rows, cols, 0)
    }

    /// A blank screen that keeps up to `scrollback` rows scrolled off its top (on the
    /// primary screen; the alternate screen has none).
    pub fn with_scrollback(rows: u16, cols: u16, scrollback: usize) -> Result<Self> {
        let (rows, cols) = nonzero(rows, cols)?;
        Ok(Screen {
            parser: vt100::Parser::new_with_callbacks(rows, cols, scrollback, Events::default()),
        })
    }

    /// Interprets bytes the program wrote. Escape sequences split across calls are fine.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
    }

    /// Changes the size, as a terminal window being resized does.
    pub fn resize(&mut self, rows: u16, cols: u16) -> Result<()> {
        let (rows, cols) = nonzero(rows, cols)?;
        self.parser.set_size(rows, cols);
        Ok(())
    }

    fn vt(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    /// (rows, columns).
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.vt().size();
        (rows.get(), cols.get())
    }

    /// The cursor's (row, column).
    pub fn cursor(&self) -> (u16, u16) {
        self.vt().cursor_position()
    }

    /// False when the program hid the cursor.
    pub fn cursor_visible(&self) -> bool {
        !self.vt().hide_cursor()
    }

    /// The window title the program set (OSC 0 or 2), empty if none.
    pub fn title(&self) -> &str {
        &self.parser.callbacks().title
    }

    /// How many times the program rang the bell.
    pub fn bells(&self) -> u64 {
        self.parser.callbacks().bells
    }

    /// True while the program uses the alternate screen (as full-screen programs do).
    pub fn alternate_screen(&self) -> bool {
        self.vt().alternate_screen()
    }

    /// True when the program asked for application cursor keys (arrows send `ESC O A`).
    pub fn application_cursor(&self) -> bool {
        self.vt().application_cursor()
    }

    /// True when the program asked for the application keypad.
    pub fn application_keypad(&self) -> bool {
        self.vt().application_keypad()
    }

    /// True when the program turned bracketed paste on.
    pub fn bracketed_paste(&self) -> bool {
        self.vt().bracketed_paste()
    }

    /// True when the program turned mouse reporting on (any mode).
    pub fn mouse_reporting(&self) -> bool {
        self.vt().mouse_protocol_mode() != vt100::MouseProtocolMode::None
    }

    /// True when the program asked for SGR mouse encoding (`CSI ? 1006 h`).
    pub fn mouse_sgr(&self) -> bool {
        self.vt().mouse_protocol_encoding() == vt100::MouseProtocolEncoding::Sgr
    }

    /// True when mouse reporting includes button releases (not X10's press-only mode).
    pub(crate) fn mouse_reports_release(&self) -> bool {
        !matches!(
            self.vt().mouse_protocol_mode(),
            vt100::MouseProtocolMode::None | vt100::MouseProtocolMode::Press
        )
    }

    /// The cell at (`row`, `col`), `None` outside the screen.
    pub fn cell(&self, row: u16, col: u16) -> Option<Cell> {
        let c = self.vt().cell(row, col)?;
        Some(Cell {
            text: c.contents().to_owned(),
            fg: c.fgcolor().into(),
            bg: c.bgcolor().into(),
            bold: c.bold(),
            dim: c.dim(),
            italic: c.italic(),
            underline: c.underline(),
            inverse: c.inverse(),
            wide: c.is_wide(),
        })
    }

    /// The text of row `row`, trailing blanks trimmed (empty outside the screen).
    pub fn row_text(&self, row: u16) -> String {
        let cols = self.size().1;
        self.area_text(row, row.saturating_add(1), 0, cols).text
    }

    /// Every row's text, trailing blanks trimmed.
    pub fn rows(&self) -> Vec<String> {
        (0..self.size().0).map(|r| self.row_text(r)).collect()
    }

    /// The screen as plain text: every row, trailing blanks trimmed, each ended by `\n`.
    /// A stable form for snapshot tests (with `insta`, `assert_snapshot!(screen.text())`).
    pub fn text(&self) -> String {
        let mut text = String::new();
        for row in self.rows() {
            text.push_str(&row);
            text.push('\n');
        }
        text
    }

    /// Where `needle` first appears, reading rows top to bottom (a needle with `\n` spans
    /// rows): its (row, column).
    pub fn find(&self, needle: &str) -> Option<(u16, u16)> {
        let (rows, cols) = self.size();
        let area = self.area_text(0, rows, 0, cols);
        area.text.find(needle).map(|at| area.position(at))
    }

    /// The rows scrolled off the top of the primary screen that are kept (see
    /// [`with_scrollback`](Screen::with_scrollback)), oldest first, trailing blanks trimmed.
    pub fn scrollback(&mut self) -> Vec<String> {
        let (rows, cols) = self.size();
        let screen = self.parser.screen_mut();
        screen.set_scrollback(usize::MAX);
        let total = screen.scrollback();
        let mut lines = Vec::with_capacity(total);
        let mut offset = total;
        while offset > 0 {
            screen.set_scrollback(offset);
            let take = offset.min(usize::from(rows));
            lines.extend(
                screen
                    .rows(0, cols)
                    .take(take)
                    .map(|row| row.trim_end().to_owned()),
            );
            offset -= take;
        }
        screen.set_scrollback(0);
        lines
    }

    /// The text of rows `top..bottom`, columns `left..right` (clipped to the screen).
    pub(crate) fn area_text(&self, top: u16, bottom: u16, left: u16, right: u16) -> AreaText {
        let (rows, cols) = self.size();
        let (bottom, right) = (bottom.min(rows), right.min(cols));
        let vt = self.vt();
        let mut text = String::new();
        let mut cells = Vec::new();
        for row in top..bottom {
            if row > top {
                text.push('\n');
            }
            let row_start = cells.len();
            let mut keep = (text.len(), cells.len());
            for col in left..right {
                let Some(cell) = vt.cell(row, col) else { break };
                if cell.is_wide_continuation() {
                    continue;
                }
                cells.push((text.len(), row, col));
                let contents = cell.contents();
                if contents.is_empty() || contents == " " {
                    text.push(' ');
                } else {
                    text.push_str(contents);
                    keep = (text.len(), cells.len());
                }
            }
            // Trim the row's trailing blanks.
            text.truncate(keep.0);
            cells.truncate(keep.1.max(row_start));
        }
        AreaText { text, cells }
    }

    /// The text of rows `top..bottom`, columns `left..right` as
    /// [`area_text`](Screen::area_text) gives it, without the cell map: the quick look
    /// before a search.
    pub(crate) fn area_plain(&self, top: u16, bottom: u16, left: u16, right: u16) -> String {
        let (rows, cols) = self.size();
        let (bottom, right) = (bottom.min(rows), right.min(cols));
        let vt = self.vt();
        let mut text = String::with_capacity(usize::from(bottom.saturating_sub(top)) * 81);
        for row in top..bottom {
            if row > top {
                text.push('\n');
            }
            let mut keep = text.len();
            for col in left..right {
                let Some(cell) = vt.cell(row, col) else { break };
                if cell.is_wide_continuation() {
                    continue;
                }
                let contents = cell.contents();
                if contents.is_empty() || contents == " " {
                    text.push(' ');
                } else {
                    text.push_str(contents);
                    keep = text.len();
                }
            }
            text.truncate(keep);
        }
        text
    }

    /// A hash of what is shown (text, attributes, cursor), to tell when it changes.
    pub(crate) fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.vt().contents_formatted().hash(&mut hasher);
        self.cursor().hash(&mut hasher);
        hasher.finish()
    }
}

impl fmt::Debug for Screen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rows, cols) = self.size();
        f.debug_struct("Screen")
            .field("rows", &rows)
            .field("cols", &cols)
            .field("cursor", &self.cursor())
            .field("title", &self.title())
            .finish_non_exhaustive()
    }
}

fn nonzero(rows: u16, cols: u16) -> Result<(NonZeroU16, NonZeroU16)> {
    match (NonZeroU16::new(rows), NonZeroU16::new(cols)) {
        (Some(rows), Some(cols)) => Ok((rows, cols)),
        _ => Err(Error::InvalidArgument(format!(
            "screen size {rows}x{cols} has a zero dimension"
        ))),
    }
}
