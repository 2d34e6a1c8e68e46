//! What a screen expectation waits for ([`ScreenPattern`]), where ([`Rect`]), with which
//! look ([`Style`]), and what it found ([`ScreenMatch`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use crate::error::Result;
use crate::screen::terminal::{Cell, Color, Screen};

/// A rectangle of the screen: rows `top..top + height`, columns `left..left + width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    /// First row.
    pub top: u16,
    /// First column.
    pub left: u16,
    /// Number of rows.
    pub height: u16,
    /// Number of columns.
    pub width: u16,
}

impl Rect {
    /// The rectangle at (`top`, `left`) of `height` rows and `width` columns.
    pub fn new(top: u16, left: u16, height: u16, width: u16) -> Self {
        Rect {
            top,
            left,
            height,
            width,
        }
    }
}

/// A look cells must have: each attribute given must hold, the others are free.
///
/// ```
/// use ptychat::{Color, Style};
/// let selected = Style::new().inverse();
/// let error = Style::new().fg(Color::Indexed(1)).bold();
/// # let _ = (selected, error);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    fg: Option<Color>,
    bg: Option<Color>,
    bold: Option<bool>,
    italic: Option<bool>,
    underline: Option<bool>,
    inverse: Option<bool>,
}

impl Style {
    /// Any look.
    pub fn new() -> Self {
        Style::default()
    }

    /// The text colour is `color`.
    pub fn fg(mut self, color: Color) -> Self {
        self.fg = Some(color);
        self
    }

    /// The background colour is `color`.
    pub fn bg(mut self, color: Color) -> Self {
        self.bg = Some(color);
        self
    }

    /// Bold.
    pub fn bold(mut self) -> Self {
        self.bold = Some(true);
        self
    }

    /// Not bold.
    pub fn not_bold(mut self) -> Self {
        self.bold = Some(false);
        self
    }

    /// Italic.
    pub fn italic(mut self) -> Self {
        self.italic = Some(true);
        self
    }

    /// Underlined.
    pub fn underline(mut self) -> Self {
        self.underline = Some(true);
        self
    }

    /// Reverse video, as many programs show the selected item.
    pub fn inverse(mut self) -> Self {
        self.inverse = Some(true);
        self
    }

    /// Not reverse video.
    pub fn not_inverse(mut self) -> Self {
        self.inverse = Some(false);
        self
    }

    /// True when `cell` has this look.
    pub fn matches(&self, cell: &Cell) -> bool {
        self.fg.is_none_or(|c| c == cell.fg)
            && self.bg.is_none_or(|c| c == cell.bg)
            && self.bold.is_none_or(|b| b == cell.bold)
            && self.italic.is_none_or(|b| b == cell.italic)
            && self.underline.is_none_or(|b| b == cell.underline)
            && self.inverse.is_none_or(|b| b == cell.inverse)
    }
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let flag = |name: &str, v: Option<bool>| {
            v.map(|on| format!("{}{name}", if on { "" } else { "not " }))
        };
        parts.extend(flag("bold", self.bold));
        parts.extend(flag("italic", self.italic));
        parts.extend(flag("underlined", self.underline));
        parts.extend(flag("inverse", self.inverse));
        parts.extend(self.fg.map(|c| format!("fg {c:?}")));
        parts.extend(self.bg.map(|c| format!("bg {c:?}")));
        if parts.is_empty() {
            parts.push("any look".into());
        }
        f.write_str(&parts.join(", "))
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Area {
    All,
    Row(u16),
    Rect(Rect),
}

#[derive(Clone)]
pub(crate) enum Kind {
    Text(String),
    Regex(Regex),
    Cursor(u16, u16),
    Predicate(String, Arc<dyn Fn(&Screen) -> bool + Send + Sync>),
    Stable(Duration),
}

/// What a screen expectation waits for: text or a regex (anywhere, on a row, in a
/// rectangle, with a look), the cursor at a cell, a predicate on the screen, or the screen
/// unchanged for a while. A `&str` is text anywhere.
///
/// Text is matched against the screen's rows joined with `\n`, each row's trailing blanks
/// trimmed, so a needle with `\n` or a regex with `(?m)^` can span rows.
///
/// ```
/// use std::time::Duration;
/// use ptychat::{Rect, ScreenPattern, Style};
/// let menu_item = ScreenPattern::text("Apple").styled(Style::new().inverse());
/// let prompt = ScreenPattern::regex(r"Total: (\d+)")?.in_row(23);
/// let dialog = ScreenPattern::text("OK").in_rect(Rect::new(10, 20, 5, 40));
/// let settled = ScreenPattern::stable(Duration::from_millis(200));
/// # let _ = (menu_item, prompt, dialog, settled);
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Clone)]
pub struct ScreenPattern {
    pub(crate) kind: Kind,
    pub(crate) area: Area,
    pub(crate) style: Option<Style>,
    pub(crate) absent: bool,
}

impl ScreenPattern {
    fn of(kind: Kind) -> Self {
        ScreenPattern {
            kind,
            area: Area::All,
            style: None,
            absent: false,
        }
    }

    /// The text, anywhere on the screen (narrow it with [`in_row`](Self::in_row) or
    /// [`in_rect`](Self::in_rect)).
    pub fn text(text: impl Into<String>) -> Self {
        Self::of(Kind::Text(text.into()))
    }

    /// A regex, anywhere on the screen; [`ScreenMatch::text`] is the whole match.
    pub fn regex(regex: &str) -> Result<Self> {
        Ok(Self::of(Kind::Regex(Regex::new(regex)?)))
    }

    /// The cursor at (`row`, `col`).
    pub fn cursor_at(row: u16, col: u16) -> Self {
        Self::of(Kind::Cursor(row, col))
    }

    /// `check` returns true; `name` says what it checks in failure messages.
    ///
    /// ```
    /// use ptychat::ScreenPattern;
    /// let in_alt = ScreenPattern::predicate("the alternate screen", |s| s.alternate_screen());
    /// # let _ = in_alt;
    /// ```
    pub fn predicate(
        name: impl Into<String>,
        check: impl Fn(&Screen) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::of(Kind::Predicate(name.into(), Arc::new(check)))
    }

    /// Nothing on the screen (text, attributes, cursor) changed for `quiet`: the program
    /// has finished drawing.
    pub fn stable(quiet: Duration) -> Self {
        Self::of(Kind::Stable(quiet))
    }

    /// Only on row `row`.
    pub fn in_row(mut self, row: u16) -> Self {
        self.area = Area::Row(row);
        self
    }

    /// Only inside `rect`.
    pub fn in_rect(mut self, rect: Rect) -> Self {
        self.area = Area::Rect(rect);
        self
    }

    /// Only where every cell of the text has `style` ("is this item highlighted").
    pub fn styled(mut self, style: Style) -> Self {
        self.style = Some(style);
        self
    }

    /// Waits for the opposite: the text gone, the cursor elsewhere, the predicate false.
    pub fn absent(mut self) -> Self {
        self.absent = !self.absent;
        self
    }

    /// The quiet time of a [`stable`](Self::stable) pattern.
    pub(crate) fn quiet(&self) -> Option<Duration> {
        match self.kind {
            Kind::Stable(quiet) => Some(quiet),
            _ => None,
        }
    }

    /// Checks the screen; `quiet_for` is how long it has been unchanged.
    pub(crate) fn check(&self, screen: &Screen, quiet_for: Duration) -> Option<Found> {
        let found = self.find(screen, quiet_for);
        match (found, self.absent) {
            (Some(found), false) => Some(found),
            (None, true) => Some(Found::default()),
            _ => None,
        }
    }

    fn find(&self, screen: &Screen, quiet_for: Duration) -> Option<Found> {
        let at_cursor = || Found {
            position: Some(screen.cursor()),
            ..Found::default()
        };
        match &self.kind {
            Kind::Cursor(row, col) => (screen.cursor() == (*row, *col)).then(at_cursor),
            Kind::Predicate(_, check) => check(screen).then(Found::default),
            Kind::Stable(quiet) => (quiet_for >= *quiet).then(Found::default),
            Kind::Text(_) | Kind::Regex(_) => self.find_text(screen),
        }
    }

    fn find_text(&self, screen: &Screen) -> Option<Found> {
        let (rows, cols) = screen.size();
        let (top, bottom, left, right) = match self.area {
            Area::All => (0, rows, 0, cols),
            Area::Row(row) => (row, row.saturating_add(1), 0, cols),
            Area::Rect(r) => (
                r.top,
                r.top.saturating_add(r.height),
                r.left,
                r.left.saturating_add(r.width),
            ),
        };
        // Most checks find nothing: look at the plain text first, map cells only on a hit.
        let plain = screen.area_plain(top, bottom, left, right);
        let hit = match &self.kind {
            Kind::Text(needle) => plain.contains(needle.as_str()),
            Kind::Regex(re) => re.is_match(&plain),
            _ => false,
        };
        if !hit {
            return None;
        }
        let area = screen.area_text(top, bottom, left, right);
        let hay = area.text.as_str();
        let mut from = 0;
        while from <= hay.len() {
            let (start, end, groups) = match &self.kind {
                Kind::Text(needle) => {
                    let at = from + hay[from..].find(needle.as_str())?;
                    (at, at + needle.len(), Vec::new())
                }
                Kind::Regex(re) => {
                    let caps = re.captures_at(hay, from)?;
                    let whole = caps.get(0)?;
                    let groups = caps
                        .iter()
                        .map(|g| g.map(|g| g.as_str().to_owned()))
                        .collect();
                    (whole.start(), whole.end(), groups)
                }
                _ => return None,
            };
            let styled = self.style.is_none_or(|style| {
                hay[start..end].char_indices().all(|(i, c)| {
                    let (row, col) = area.position(start + i);
                    c == '\n'
                        || screen
                            .cell(row, col)
                            .is_some_and(|cell| style.matches(&cell))
                })
            });
            if styled {
                return Some(Found {
                    position: Some(area.position(start)),
                    text: hay[start..end].to_owned(),
                    groups,
                });
            }
            // The next occurrence: one character further.
            from = start + hay[start..].chars().next().map_or(1, char::len_utf8);
        }
        None
    }
}

/// What a pattern found.
#[derive(Default)]
pub(crate) struct Found {
    pub(crate) position: Option<(u16, u16)>,
    pub(crate) text: String,
    pub(crate) groups: Vec<Option<String>>,
}

impl fmt::Display for ScreenPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.absent {
            f.write_str("no ")?;
        }
        match &self.kind {
            Kind::Text(text) => write!(f, "text \"{}\"", crate::escape(text.as_bytes()))?,
            Kind::Regex(re) => write!(f, "regex /{}/", re.as_str())?,
            Kind::Cursor(row, col) => write!(f, "cursor at row {row}, column {col}")?,
            Kind::Predicate(name, _) => write!(f, "{name}")?,
            Kind::Stable(quiet) => write!(f, "screen unchanged for {quiet:?}")?,
        }
        match self.area {
            Area::All => {}
            Area::Row(row) => write!(f, " on row {row}")?,
            Area::Rect(r) => write!(
                f,
                " in rows {}..{}, columns {}..{}",
                r.top,
                r.top.saturating_add(r.height),
                r.left,
                r.left.saturating_add(r.width)
            )?,
        }
        if let Some(style) = &self.style {
            write!(f, " ({style})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ScreenPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScreenPattern({self})")
    }
}

impl From<&str> for ScreenPattern {
    fn from(text: &str) -> Self {
        ScreenPattern::text(text)
    }
}

impl From<String> for ScreenPattern {
    fn from(text: String) -> Self {
        ScreenPattern::text(text)
    }
}

/// One or several screen patterns, for [`Session::expect_screen`](crate::Session::expect_screen):
/// the first in the list that holds wins.
#[derive(Debug, Clone)]
pub struct ScreenPatterns(pub(crate) Vec<ScreenPattern>);

impl<P: Into<ScreenPattern>> From<P> for ScreenPatterns {
    fn from(p: P) -> Self {
        ScreenPatterns(vec![p.into()])
    }
}

impl<const N: usize> From<[ScreenPattern; N]> for ScreenPatterns {
    fn from(ps: [ScreenPattern; N]) -> Self {
        ScreenPatterns(ps.into())
    }
}

impl From<Vec<ScreenPattern>> for ScreenPatterns {
    fn from(ps: Vec<ScreenPattern>) -> Self {
        ScreenPatterns(ps)
    }
}

impl From<&[ScreenPattern]> for ScreenPatterns {
    fn from(ps: &[ScreenPattern]) -> Self {
        ScreenPatterns(ps.to_vec())
    }
}

/// What a screen expectation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenMatch {
    pub(crate) index: usize,
    pub(crate) position: Option<(u16, u16)>,
    pub(crate) text: String,
    pub(crate) groups: Vec<Option<String>>,
}

impl ScreenMatch {
    /// Which pattern of the list held.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Where: the (row, column) the text starts at, or the cursor for a cursor pattern;
    /// `None` for other patterns.
    pub fn position(&self) -> Option<(u16, u16)> {
        self.position
    }

    /// The text found (the whole match of a regex); empty for other patterns.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// A regex's capture group `i` (0: the whole match).
    pub fn group(&self, i: usize) -> Option<&str> {
        self.groups.get(i)?.as_deref()
    }
}
