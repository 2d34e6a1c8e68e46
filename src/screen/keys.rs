//! Keys and mouse buttons as the bytes an xterm sends for them, in the modes the program
//! asked for: application cursor keys, the application keypad, SGR or X10 mouse reports.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::screen::terminal::Screen;

/// A key on the keyboard. Combine it with modifiers through [`Key::ctrl`], [`Key::alt`]
/// and [`Key::shift`], which give a [`KeyPress`].
///
/// ```
/// use ptychat::Key;
/// assert_eq!(Key::Up.bytes(None)?, b"\x1b[A");
/// assert_eq!(Key::Char('x').ctrl().bytes(None)?, b"\x18");
/// assert_eq!(Key::Left.ctrl().shift().bytes(None)?, b"\x1b[1;6D");
/// assert_eq!(Key::F(5).bytes(None)?, b"\x1b[15~");
/// assert_eq!(Key::Tab.shift().bytes(None)?, b"\x1b[Z");
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Key {
    /// A character key (with Shift it is sent upper case; with Ctrl, as a control
    /// character; with Alt, after ESC).
    Char(char),
    /// Enter (Return): `\r`.
    Enter,
    /// Tab; with Shift, Backtab (`ESC [ Z`).
    Tab,
    /// Backspace: DEL (0x7f).
    Backspace,
    /// Escape.
    Esc,
    /// Up arrow.
    Up,
    /// Down arrow.
    Down,
    /// Left arrow.
    Left,
    /// Right arrow.
    Right,
    /// Home.
    Home,
    /// End.
    End,
    /// Page Up.
    PageUp,
    /// Page Down.
    PageDown,
    /// Insert.
    Insert,
    /// Delete (forward).
    Delete,
    /// Function key F1 to F12.
    F(u8),
    /// A key of the numeric keypad: `0`-`9`, `.`, `+`, `-`, `*`, `/`, or `\r` for its
    /// Enter; different from the main keys when the program set the application keypad.
    Keypad(char),
}

/// A key with modifiers, as sent by [`Session::send_key`](crate::Session::send_key).
/// Parsed from names such as `"Up"`, `"ctrl+c"`, `"C-Left"`, `"alt+f"`, `"S-Tab"`,
/// `"PgDn"`, `"F5"` (case does not matter; `+` or `-` joins modifiers).
///
/// ```
/// use ptychat::{Key, KeyPress};
/// let k: KeyPress = "ctrl+shift+Right".parse()?;
/// assert_eq!(k, Key::Right.ctrl().shift());
/// assert_eq!("C-x".parse::<KeyPress>()?, Key::Char('x').ctrl());
/// assert_eq!(k.to_string(), "Ctrl+Shift+Right");
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyPress {
    /// The key.
    pub key: Key,
    /// Ctrl held.
    pub ctrl: bool,
    /// Alt (Meta) held.
    pub alt: bool,
    /// Shift held.
    pub shift: bool,
}

impl From<Key> for KeyPress {
    fn from(key: Key) -> Self {
        KeyPress {
            key,
            ctrl: false,
            alt: false,
            shift: false,
        }
    }
}

impl From<char> for KeyPress {
    fn from(c: char) -> Self {
        Key::Char(c).into()
    }
}

impl Key {
    /// This key with Ctrl.
    pub fn ctrl(self) -> KeyPress {
        KeyPress::from(self).ctrl()
    }

    /// This key with Alt.
    pub fn alt(self) -> KeyPress {
        KeyPress::from(self).alt()
    }

    /// This key with Shift.
    pub fn shift(self) -> KeyPress {
        KeyPress::from(self).shift()
    }

    /// The bytes this key sends to a program whose terminal is `screen` (its modes decide
    /// the encoding; `None`: the default modes).
    pub fn bytes(self, screen: Option<&Screen>) -> Result<Vec<u8>> {
        KeyPress::from(self).bytes(screen)
    }
}

impl KeyPress {
    /// The same with Ctrl.
    pub fn ctrl(mut self) -> Self {
        self.ctrl = true;
        self
    }

    /// The same with Alt.
    pub fn alt(mut self) -> Self {
        self.alt = true;
        self
    }

    /// The same with Shift.
    pub fn shift(mut self) -> Self {
        self.shift = true;
        self
    }

    /// xterm's modifier parameter: 1 + Shift + 2 Alt + 4 Ctrl.
    fn modifier(self) -> u8 {
        1 + u8::from(self.shift) + 2 * u8::from(self.alt) + 4 * u8::from(self.ctrl)
    }

    /// The bytes this key press sends to a program whose terminal is `screen`: arrows,
    /// Home and End follow its application cursor mode, keypad keys its application
    /// keypad mode; modified keys use xterm's `CSI 1 ; m X` and `CSI n ; m ~` forms.
    pub fn bytes(self, screen: Option<&Screen>) -> Result<Vec<u8>> {
        let app_cursor = screen.is_some_and(Screen::application_cursor);
        let app_keypad = screen.is_some_and(Screen::application_keypad);
        let m = self.modifier();
        // A letter key: ESC O x in application mode, else CSI x; CSI 1;m x when modified.
        let cursor = |x: char| -> Vec<u8> {
            if m > 1 {
                format!("\x1b[1;{m}{x}").into_bytes()
            } else if app_cursor {
                format!("\x1bO{x}").into_bytes()
            } else {
                format!("\x1b[{x}").into_bytes()
            }
        };
        let tilde = |n: u8| -> Vec<u8> {
            if m > 1 {
                format!("\x1b[{n};{m}~").into_bytes()
            } else {
                format!("\x1b[{n}~").into_bytes()
            }
        };
        let with_alt = |mut bytes: Vec<u8>| -> Vec<u8> {
            if self.alt {
                bytes.insert(0, 0x1b);
            }
            bytes
        };
        Ok(match self.key {
            Key::Up => cursor('A'),
            Key::Down => cursor('B'),
            Key::Right => cursor('C'),
            Key::Left => cursor('D'),
            Key::Home => cursor('H'),
            Key::End => cursor('F'),
            Key::Insert => tilde(2),
            Key::Delete => tilde(3),
            Key::PageUp => tilde(5),
            Key::PageDown => tilde(6),
            Key::F(n @ 1..=4) => {
                let x = char::from(b'P' + n - 1);
                if m > 1 {
                    format!("\x1b[1;{m}{x}").into_bytes()
                } else {
                    format!("\x1bO{x}").into_bytes()
                }
            }
            Key::F(n @ 5..=12) => tilde([15, 17, 18, 19, 20, 21, 23, 24][usize::from(n - 5)]),
            Key::F(n) => {
                return Err(Error::InvalidArgument(format!(
                    "no function key F{n} (F1 to F12)"
                )));
            }
            Key::Tab if self.shift => b"\x1b[Z".to_vec(),
            Key::Tab => with_alt(b"\t".to_vec()),
            Key::Enter => with_alt(b"\r".to_vec()),
            Key::Esc => with_alt(b"\x1b".to_vec()),
            Key::Backspace if self.ctrl => with_alt(b"\x08".to_vec()),
            Key::Backspace => with_alt(b"\x7f".to_vec()),
            Key::Keypad(c) => {
                let app = match c {
                    '0'..='9' => Some(b'p' + (c as u8 - b'0')),
                    '\r' | '\n' => Some(b'M'),
                    '+' => Some(b'k'),
                    '-' => Some(b'm'),
                    '*' => Some(b'j'),
                    '/' => Some(b'o'),
                    '.' => Some(b'n'),
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "no keypad key {c:?} (0-9 . + - * / and \\r)"
                        )));
                    }
                };
                match (app_keypad, app) {
                    (true, Some(x)) => vec![0x1b, b'O', x],
                    _ if c == '\n' => b"\r".to_vec(),
                    _ => with_alt(c.to_string().into_bytes()),
                }
            }
            Key::Char(c) => {
                let c = if self.shift {
                    c.to_ascii_uppercase()
                } else {
                    c
                };
                let bytes = if self.ctrl {
                    let byte = crate::engine::session::control_byte(c).ok_or_else(|| {
                        Error::InvalidArgument(format!("no control character for {c:?}"))
                    })?;
                    vec![byte]
                } else {
                    c.to_string().into_bytes()
                };
                with_alt(bytes)
            }
        })
    }
}

impl fmt::Display for KeyPress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, name) in [
            (self.ctrl, "Ctrl+"),
            (self.alt, "Alt+"),
            (self.shift, "Shift+"),
        ] {
            if on {
                f.write_str(name)?;
            }
        }
        match self.key {
            Key::Char(c) => write!(f, "{c}"),
            Key::F(n) => write!(f, "F{n}"),
            Key::Keypad(c) => write!(f, "Keypad{}", c.escape_default()),
            key => write!(f, "{key:?}"),
        }
    }
}

impl FromStr for KeyPress {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidArgument(format!(
                "unknown key {name:?} (a character, Enter, Tab, Backtab, Backspace, Esc, Up, \
                 Down, Left, Right, Home, End, PgUp, PgDn, Insert, Delete, F1-F12, KP0-KP9, \
                 with ctrl+, alt+, shift+ or C-, M-, S-)"
            ))
        };
        let mut press = KeyPress::from(Key::Esc);
        let mut rest = name;
        // Modifiers: "ctrl+", "C-", ... A lone "+" or "-" is the key itself.
        while let Some(split) = rest[1.min(rest.len())..].find(['+', '-']).map(|i| i + 1) {
            let (modifier, after) = (&rest[..split], &rest[split + 1..]);
            if after.is_empty() {
                break;
            }
            match modifier.to_ascii_lowercase().as_str() {
                "ctrl" | "control" | "c" => press.ctrl = true,
                "alt" | "meta" | "m" | "a" => press.alt = true,
                "shift" | "s" => press.shift = true,
                _ => return Err(bad()),
            }
            rest = after;
        }
        let lower = rest.to_ascii_lowercase();
        press.key = match lower.as_str() {
            "enter" | "return" | "ret" | "cr" => Key::Enter,
            "tab" => Key::Tab,
            "backtab" => {
                press.shift = true;
                Key::Tab
            }
            "backspace" | "bs" => Key::Backspace,
            "esc" | "escape" => Key::Esc,
            "up" => Key::Up,
            "down" => Key::Down,
            "left" => Key::Left,
            "right" => Key::Right,
            "home" => Key::Home,
            "end" => Key::End,
            "pgup" | "pageup" => Key::PageUp,
            "pgdn" | "pgdown" | "pagedown" => Key::PageDown,
            "insert" | "ins" => Key::Insert,
            "delete" | "del" => Key::Delete,
            "space" => Key::Char(' '),
            "kpenter" => Key::Keypad('\r'),
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Key::Char(c),
                    _ => {
                        if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse().ok()) {
                            if !(1..=12).contains(&n) {
                                return Err(bad());
                            }
                            Key::F(n)
                        } else if let Some(k) = lower.strip_prefix("kp") {
                            let mut kc = k.chars();
                            match (kc.next(), kc.next()) {
                                (Some(c), None) => Key::Keypad(c),
                                _ => return Err(bad()),
                            }
                        } else {
                            return Err(bad());
                        }
                    }
                }
            }
        };
        Ok(press)
    }
}

/// A mouse button or wheel direction, for [`Session::send_mouse`](crate::Session::send_mouse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MouseButton {
    /// The left button.
    Left,
    /// The middle button.
    Middle,
    /// The right button.
    Right,
    /// The wheel turned up (away from the user).
    WheelUp,
    /// The wheel turned down.
    WheelDown,
}

/// The reports of a click (press, then release if the program asked for releases) or a
/// wheel step at (`row`, `col`), in the encoding `screen` asked for: SGR
/// (`CSI < b ; x ; y M`) or X10 (`CSI M` and three bytes). Errors if mouse reporting is off
/// or the cell is beyond what X10 can say.
pub(crate) fn mouse_bytes(
    screen: &Screen,
    button: MouseButton,
    row: u16,
    col: u16,
) -> Result<Vec<u8>> {
    if !screen.mouse_reporting() {
        return Err(Error::InvalidArgument(
            "the program has not turned mouse reporting on (CSI ? 1000 h or similar)".into(),
        ));
    }
    let (rows, cols) = screen.size();
    if row >= rows || col >= cols {
        return Err(Error::InvalidArgument(format!(
            "cell (row {row}, column {col}) is outside the {rows}x{cols} screen"
        )));
    }
    let code: u16 = match button {
        MouseButton::Left => 0,
        MouseButton::Middle => 1,
        MouseButton::Right => 2,
        MouseButton::WheelUp => 64,
        MouseButton::WheelDown => 65,
    };
    let wheel = code >= 64;
    let (x, y) = (col + 1, row + 1);
    let mut out = Vec::new();
    if screen.mouse_sgr() {
        out.extend(format!("\x1b[<{code};{x};{y}M").into_bytes());
        if !wheel && screen.mouse_reports_release() {
            out.extend(format!("\x1b[<{code};{x};{y}m").into_bytes());
        }
    } else {
        if x > 223 || y > 223 {
            return Err(Error::InvalidArgument(format!(
                "cell (row {row}, column {col}) is beyond what X10 mouse reports can say; \
                 the program would need SGR reports (CSI ? 1006 h)"
            )));
        }
        let report = |b: u16| {
            [
                0x1b,
                b'[',
                b'M',
                (32 + b) as u8,
                (32 + x) as u8,
                (32 + y) as u8,
            ]
        };
        out.extend(report(code));
        if !wheel && screen.mouse_reports_release() {
            out.extend(report(3));
        }
    }
    Ok(out)
}
