//! Pictures of a [`Screen`]: the framed text with the cursor marked that failure messages
//! show, and an SVG picture with colours and the cursor.

use std::fmt::Write as _;

use crate::screen::terminal::{Color, Screen};

impl Screen {
    /// The screen as failure messages show it: a header with the size, cursor and title,
    /// then every row behind its number, the cursor's row marked `>` and a `^` under the
    /// cursor's column.
    ///
    /// ```
    /// let mut screen = ptychat::Screen::new(3, 10)?;
    /// screen.feed(b"ab\r\ncd");
    /// assert_eq!(
    ///     screen.render(),
    ///     "screen 3x10, cursor at row 1, column 2 (marked ^):\n\
    ///      \x20    0|ab\n\
    ///      \x20 >  1|cd\n\
    ///      \x20     |  ^\n\
    ///      \x20    2|\n"
    /// );
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn render(&self) -> String {
        let (rows, cols) = self.size();
        let (crow, ccol) = self.cursor();
        let mut out = format!(
            "screen {rows}x{cols}, cursor at row {crow}, column {ccol} (marked ^{})",
            if self.cursor_visible() {
                ""
            } else {
                ", hidden"
            }
        );
        if !self.title().is_empty() {
            let _ = write!(
                out,
                ", title \"{}\"",
                crate::escape(self.title().as_bytes())
            );
        }
        out.push_str(":\n");
        for (row, text) in (0..rows).zip(self.rows()) {
            let mark = if row == crow { '>' } else { ' ' };
            let _ = writeln!(out, "  {mark}{row:>3}|{text}");
            if row == crow {
                let _ = writeln!(out, "      |{:>1$}", "^", usize::from(ccol) + 1);
            }
        }
        out
    }

    /// The screen as an SVG picture: a monospace grid with each cell's colours, bold,
    /// italic, underline and reverse video, and the cursor as an outlined block. The
    /// picture holds the text as text, so a test can look for it.
    ///
    /// ```
    /// let mut screen = ptychat::Screen::new(2, 12)?;
    /// screen.feed(b"\x1b[44;37mOK\x1b[m <&>");
    /// let svg = screen.svg();
    /// assert!(svg.starts_with("<svg"));
    /// assert!(svg.contains(">OK</text>") && svg.contains("&lt;&amp;&gt;"));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn svg(&self) -> String {
        const W: f32 = 9.0;
        const H: f32 = 18.0;
        let (rows, cols) = self.size();
        let (width, height) = (f32::from(cols) * W, f32::from(rows) * H);
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
             viewBox=\"0 0 {width} {height}\" font-family=\"DejaVu Sans Mono, Menlo, \
             Consolas, monospace\" font-size=\"15\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"{}\"/>\n",
            DEFAULT_BG
        );
        for row in 0..rows {
            let y = f32::from(row) * H;
            // Runs of cells with the same look: one background rect and one text each.
            let mut col = 0;
            while col < cols {
                let Some(first) = self.cell(row, col) else {
                    break;
                };
                let look = Look::of(&first);
                let mut text = String::new();
                let start = col;
                while col < cols {
                    let Some(cell) = self.cell(row, col) else {
                        break;
                    };
                    if Look::of(&cell) != look {
                        break;
                    }
                    text.push_str(if cell.text.is_empty() {
                        " "
                    } else {
                        &cell.text
                    });
                    col += if cell.wide { 2 } else { 1 };
                }
                let x = f32::from(start) * W;
                let span = f32::from(col - start) * W;
                // The text starts at its first non-blank cell.
                let lead = text.chars().take_while(|c| *c == ' ').count();
                let shown = text[lead..].trim_end();
                let text_x = x + lead as f32 * W;
                let text_span = shown.chars().count() as f32 * W;
                if look.bg != DEFAULT_BG {
                    let _ = writeln!(
                        out,
                        "<rect x=\"{x}\" y=\"{y}\" width=\"{span}\" height=\"{H}\" fill=\"{}\"/>",
                        look.bg
                    );
                }
                if !shown.is_empty() {
                    let mut attrs = format!("fill=\"{}\"", look.fg);
                    if look.bold {
                        attrs.push_str(" font-weight=\"bold\"");
                    }
                    if look.italic {
                        attrs.push_str(" font-style=\"italic\"");
                    }
                    if look.underline {
                        attrs.push_str(" text-decoration=\"underline\"");
                    }
                    let _ = writeln!(
                        out,
                        "<text x=\"{text_x}\" y=\"{}\" textLength=\"{text_span}\" \
                         xml:space=\"preserve\" {attrs}>{}</text>",
                        y + H * 0.78,
                        xml_escape(shown)
                    );
                }
            }
        }
        if self.cursor_visible() {
            let (crow, ccol) = self.cursor();
            let _ = writeln!(
                out,
                "<rect class=\"cursor\" x=\"{}\" y=\"{}\" width=\"{W}\" height=\"{H}\" \
                 fill=\"none\" stroke=\"{DEFAULT_FG}\" stroke-width=\"1.5\"/>",
                f32::from(ccol) * W,
                f32::from(crow) * H
            );
        }
        out.push_str("</svg>\n");
        out
    }
}

const DEFAULT_FG: &str = "#d0d0d0";
const DEFAULT_BG: &str = "#1c1c1c";

/// How a cell is drawn.
#[derive(PartialEq)]
struct Look {
    fg: String,
    bg: String,
    bold: bool,
    italic: bool,
    underline: bool,
}

impl Look {
    fn of(cell: &crate::screen::terminal::Cell) -> Self {
        let mut fg = css(cell.fg, DEFAULT_FG);
        let mut bg = css(cell.bg, DEFAULT_BG);
        if cell.inverse {
            std::mem::swap(&mut fg, &mut bg);
        }
        Look {
            fg,
            bg,
            bold: cell.bold,
            italic: cell.italic,
            underline: cell.underline,
        }
    }
}

/// xterm's colours.
fn css(color: Color, default: &str) -> String {
    const BASE: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (205, 0, 0),
        (0, 205, 0),
        (205, 205, 0),
        (0, 0, 238),
        (205, 0, 205),
        (0, 205, 205),
        (229, 229, 229),
        (127, 127, 127),
        (255, 0, 0),
        (0, 255, 0),
        (255, 255, 0),
        (92, 92, 255),
        (255, 0, 255),
        (0, 255, 255),
        (255, 255, 255),
    ];
    let (r, g, b) = match color {
        Color::Default => return default.to_owned(),
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Indexed(i @ 0..=15) => BASE[usize::from(i)],
        Color::Indexed(i @ 16..=231) => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            let i = i - 16;
            (level(i / 36), level(i / 6 % 6), level(i % 6))
        }
        Color::Indexed(i) => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    };
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
